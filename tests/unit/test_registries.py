"""The swap points: the store by DSN scheme, the transport by kind, each from one registry."""

from __future__ import annotations

import io
import json

import pytest

from gpufleet.app.cli import main
from gpufleet.contract.errors import ConfigError
from gpufleet.contract.registry import make_registry
from gpufleet.contract.schema import GpuEvent
from pipeline.memory import MemoryBroker
from pipeline.registry import TRANSPORTS, TransportConfig, TransportFactory, create_transport
from storage.registry import STORES, StoreFactory, open_store, store_factory


def test_an_unknown_store_scheme_names_the_valid_ones_and_not_the_password() -> None:
    with pytest.raises(ConfigError) as err:
        open_store("postgres://ingest:s3cret@db:5432/gpufleet")
    message = str(err.value)
    assert "postgres://" in message and "chdb://, http://, https://" in message
    assert "s3cret" not in message
    with pytest.raises(ConfigError, match="unknown store scheme ://"):
        store_factory("./gpufleet-data")  # a bare path, no scheme


def test_only_server_schemes_take_cluster_ddl() -> None:
    assert [s for s, f in STORES.items() if f.server] == ["http", "https"]
    assert not store_factory("chdb://memory").server


def test_a_scheme_is_served_by_its_own_factory() -> None:
    opened: list[str] = []

    def open_(dsn: str) -> object:
        opened.append(dsn)
        return "store"

    stores = make_registry("store scheme", [StoreFactory("mem", "test", open_, False)], lambda f: f.scheme)  # type: ignore[arg-type]
    assert open_store("mem://x", stores) == "store"  # type: ignore[comparison-overlap]
    assert opened == ["mem://x"]
    with pytest.raises(ConfigError, match="use one of mem://"):
        open_store("chdb://memory", stores)


def test_a_duplicate_scheme_or_kind_is_refused() -> None:
    store = STORES["chdb"]
    with pytest.raises(ValueError, match="duplicate store scheme 'chdb'"):
        make_registry("store scheme", [store, store], lambda f: f.scheme)
    kafka = TRANSPORTS["kafka"]
    with pytest.raises(ValueError, match="duplicate transport kind 'kafka'"):
        make_registry("transport kind", [kafka, kafka], lambda f: f.kind)


def test_an_unknown_transport_names_the_valid_kinds() -> None:
    with pytest.raises(ConfigError, match="unknown transport 'mqtt': use one of memory, kafka, jsonl"):
        create_transport(TransportConfig(kind="mqtt"))
    lone = make_registry("transport kind", [TransportFactory("memory", "test", TRANSPORTS["memory"].create)], lambda f: f.kind)
    with pytest.raises(ConfigError, match=r"use one of memory$"):
        create_transport(TransportConfig(kind="jsonl"), lone)


def test_memory_and_jsonl_transports_come_from_the_registry() -> None:
    assert isinstance(create_transport(TransportConfig(kind="memory")), MemoryBroker)
    event = GpuEvent(ts_ms=1, cluster="c", hall="h", row="r", rack="k", node="n", gpu_index=0, uuid="GPU-0", kind="xid", xid=79)
    written = {}
    for kinds in ({"samples"}, {"events"}):
        out = io.StringIO()
        create_transport(TransportConfig(kind="jsonl", stream=out, messages=frozenset(kinds))).publish_events([event])
        written[min(kinds)] = out.getvalue().splitlines()
    assert written["samples"] == []  # events switched off
    assert len(written["events"]) == 1 and json.loads(written["events"][0])["xid"] == 79


def test_the_cli_reports_an_unknown_store_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "--store", "mysql://db/x", "select 1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gpufleet: error: unknown store scheme mysql://") and len(err.splitlines()) == 1
