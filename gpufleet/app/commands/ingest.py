"""`gpufleet ingest`: Kafka consumer group → ClickHouse, exactly-once in effect.

SIGTERM or SIGINT: stop polling, write and commit what was gathered, exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from typing import Any

from gpufleet.app.commands.common import add_kafka_flag, add_service_flags, add_store_flag, positive_float, positive_int
from gpufleet.contract.errors import ConfigError
from gpufleet.contract.settings import Settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="Kafka consumer group → ClickHouse (commit after the store acknowledged)")
    add_kafka_flag(p)
    add_store_flag(p)
    p.add_argument("--group", default="gpufleet-ingest", help="consumer group (default: %(default)s)")
    p.add_argument(
        "--max-batch-messages",
        type=positive_int,
        default=20_000,
        help="most messages in one partition batch (default: %(default)s)",
    )
    p.add_argument(
        "--max-wait", type=positive_float, default=1.0, metavar="SEC", help="longest a batch waits to fill (default: %(default)s)"
    )
    add_service_flags(p)
    p.add_argument("--exit-when-idle", type=positive_float, metavar="SEC", help="exit 0 after SEC without data (default: run)")
    p.add_argument("--no-create-topics", action="store_true", help="do not create missing topics")
    p.add_argument(
        "--migrate",
        action="store_true",
        help="apply pending schema migrations at start (needs DDL rights; default: only for an embedded chdb:// store)",
    )
    p.add_argument(
        "--write-thread",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write each delivery on a second thread while the next is fetched and decoded (default: on)",
    )
    p.add_argument(
        "--instance-id", help="static group membership (e.g. the host name): a restart rejoins without a rebalance (default: off)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.kafka.service import IngestService, ServiceOptions
    from pipeline.kafka.subscription import KafkaSubscription, SubscriptionConfig
    from storage.registry import open_store

    store = open_store(settings.store)
    migrate_if_asked(store, settings, args.migrate)
    config = SubscriptionConfig(
        group=args.group,
        max_batch_messages=args.max_batch_messages,
        max_wait_s=args.max_wait,
        create_topics=not args.no_create_topics,
        instance_id=args.instance_id,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=max(300, settings.kafka.session_timeout_ms // 4),
        time_window=settings.time_window(),
    )
    subscription = KafkaSubscription(settings.kafka, args.kafka, config)
    _arm_failpoint(subscription, store)
    options = ServiceOptions(args.metrics_port, args.stats_interval, args.exit_when_idle, overlap=args.write_thread)
    service = IngestService(subscription, store, options)

    def _stop(_signum: int, _frame: Any) -> None:
        service.stop()

    from gpufleet.app.cli import also_on_sigusr1

    also_on_sigusr1(lambda: log.warning("consumer state", extra={"state": subscription.state()}))
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        service.run()
    finally:
        subscription.close()
        store.close()
    return 0


def migrate_if_asked(store: Any, settings: Settings, asked: bool) -> None:
    """Least privilege: a server store is migrated by `gpufleet db migrate` (an administrator),
    so the ingest user needs INSERT only; `--migrate` asks for it here. An embedded chdb://
    store has no users and belongs to the one process that opens it: it is brought up to date."""
    from storage.migrations import migrate

    if asked or settings.store.startswith("chdb:"):
        migrate(
            store,
            raw_ttl_days=settings.raw_ttl_days,
            minute_ttl_days=settings.minute_ttl_days,
            hour_ttl_days=settings.hour_ttl_days,
        )


def _arm_failpoint(subscription: Any, store: Any) -> None:
    """Failure injection for the crash-safety tests (GPUFLEET_FAILPOINT):

    - `kill_before_commit:N`: SIGKILL itself after the N-th delivery with samples was written
      and before its offsets are committed: the crash window that the dedup token exists for
      (deliveries of inventory, jobs or processes alone are not counted, so the crash always
      follows stored samples);
    - `store_down_while:PATH`: sample inserts fail (TransientError) while PATH exists, so a
      test can take several processes' stores down and up together.
    """
    spec = os.environ.get("GPUFLEET_FAILPOINT")
    if not spec:
        return
    name, _, arg = spec.partition(":")
    if name == "store_down_while" and arg:
        _store_down_while(store, arg)
        return
    if name != "kill_before_commit" or not arg.isdigit():
        raise ConfigError(f"unknown GPUFLEET_FAILPOINT {spec!r}: use kill_before_commit:N or store_down_while:PATH")
    remaining = [int(arg)]
    commit = subscription.commit

    def commit_or_die(delivery: Any) -> None:
        remaining[0] -= 1 if len(delivery.samples) else 0
        if remaining[0] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
        commit(delivery)

    subscription.commit = commit_or_die


def _store_down_while(store: Any, path: str) -> None:
    from gpufleet.contract.errors import TransientError

    insert = store.insert_samples

    def insert_unless_down(frame: Any, dedup_token: str) -> int:
        if os.path.exists(path):
            raise TransientError(f"store down (GPUFLEET_FAILPOINT: {path} exists)")
        return int(insert(frame, dedup_token))

    store.insert_samples = insert_unless_down
