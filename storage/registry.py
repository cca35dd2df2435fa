"""The store, chosen by DSN scheme: the one place that maps a DSN to an implementation.

`open_store(dsn)` is what the app calls; `STORES` lists what it accepts. Both schemes open
the same `ClickHouseStore` today (chDB in this process, or a ClickHouse server over HTTP);
another engine would be one more entry here. A scheme not listed is a `ConfigError` that
names the valid ones (and not the DSN, which may carry a password).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from gpufleet.contract.registry import lookup, make_registry
from storage.clickhouse import ClickHouseStore


@dataclass(frozen=True, slots=True)
class StoreFactory:
    scheme: str
    summary: str
    open: Callable[[str], ClickHouseStore]  # the whole DSN -> an open store
    server: bool  # a server other processes share: `db migrate --cluster` can run its ON CLUSTER DDL there


STORES = make_registry(
    "store scheme",
    (
        StoreFactory("chdb", "ClickHouse engine in this process (chdb://PATH, chdb://memory)", ClickHouseStore.open, False),
        StoreFactory("http", "ClickHouse server (http://user:password@host:8123/database)", ClickHouseStore.open, True),
        StoreFactory(
            "https", "ClickHouse server over TLS (https://user:password@host:8443/database)", ClickHouseStore.open, True
        ),
    ),
    lambda f: f.scheme,
)


def store_factory(dsn: str, stores: dict[str, StoreFactory] = STORES) -> StoreFactory:
    """The factory for `dsn`'s scheme; `ConfigError` for a scheme none serves."""
    return lookup(stores, "store scheme", urlparse(dsn).scheme, lambda scheme: f"{scheme}://")


def open_store(dsn: str, stores: dict[str, StoreFactory] = STORES) -> ClickHouseStore:
    """The store `dsn` names, open."""
    return store_factory(dsn, stores).open(dsn)
