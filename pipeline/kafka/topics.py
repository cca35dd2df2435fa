"""The project's Kafka topics: names, partitions, retention and compaction, created explicitly.

Topic names carry the wire schema's major version (`.v1`): a breaking schema change gets a
new topic, so old and new consumers never read each other's messages. Topics are created
by `gpufleet kafka topics --create` or at ingest start, never implicitly by a producer
(auto-creation would pick the broker's defaults: wrong partition count, no compaction).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gpufleet.contract.errors import ConfigError, TransientError
from gpufleet.contract.settings import KafkaSettings

log = logging.getLogger(__name__)

SAMPLES: Final = "gpufleet.samples.v1"
EVENTS: Final = "gpufleet.events.v1"
INVENTORY: Final = "gpufleet.inventory.v1"
FACILITY: Final = "gpufleet.facility.v1"
PROCESSES: Final = "gpufleet.processes.v1"
INSTANCE_ACTIVITY: Final = "gpufleet.instance_activity.v1"
DEADLETTER: Final = "gpufleet.deadletter.v1"
JOBS: Final = "gpufleet.jobs.v1"
INGESTED: Final = (SAMPLES, EVENTS, INVENTORY, FACILITY, JOBS, PROCESSES, INSTANCE_ACTIVITY)  # what `gpufleet ingest` reads
_HOUR_MS: Final = 3_600_000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as gpufleet creates it.

    Attributes:
        key: what the message key is (documentation; producers follow it).
        configs: topic-level configs sent with CreateTopics.
    """

    name: str
    partitions: int
    replication_factor: int
    key: str
    purpose: str
    configs: Mapping[str, str] = field(default_factory=dict)


def topic_specs(settings: KafkaSettings) -> list[TopicSpec]:
    """All gpufleet topics with their partitions, replication, retention and compaction.

    Raises:
        ConfigError: `min_insync_replicas` above `replication_factor` (no write could ever succeed).
    """
    rf, isr = settings.replication_factor, settings.min_insync_replicas
    if isr > rf:
        raise ConfigError(
            f"GPUFLEET_KAFKA__MIN_INSYNC_REPLICAS={isr} is above GPUFLEET_KAFKA__REPLICATION_FACTOR={rf}: "
            "acks=all writes would always fail"
        )
    # With acks=all, a write is acknowledged once `isr` replicas have it: RF 3 + 2 survives a broker loss.
    replicated = {"min.insync.replicas": str(isr)}
    retention = {**replicated, "cleanup.policy": "delete", "retention.ms": str(settings.retention_hours * _HOUR_MS)}
    # Dead letters wait for a person: keep them four times longer than the data.
    dead_retention = {**replicated, "cleanup.policy": "delete", "retention.ms": str(4 * settings.retention_hours * _HOUR_MS)}
    # Inventory is state, not history: the latest record per GPU is all that matters.
    compacted = {
        **replicated,
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": str(_HOUR_MS),
        "segment.ms": str(24 * _HOUR_MS),
    }
    return [
        TopicSpec(SAMPLES, settings.samples_partitions, rf, "node", "one NodeSample per node per tick", retention),
        TopicSpec(EVENTS, settings.events_partitions, rf, "node", "XIDs, GPU lost, collector start/stop", retention),
        TopicSpec(INVENTORY, settings.inventory_partitions, rf, "GPU uuid", "GPU identity and limits (latest wins)", compacted),
        TopicSpec(FACILITY, settings.facility_partitions, rf, "sensor id", "facility readings (power, cooling)", retention),
        # keyed by node like events, and as few: one message per node every few seconds
        TopicSpec(PROCESSES, settings.events_partitions, rf, "node", "compute processes per GPU", retention),
        # keyed by node like samples; only MIG nodes publish (one message per tick), so as few as events
        TopicSpec(INSTANCE_ACTIVITY, settings.events_partitions, rf, "node", "GPM activity per MIG GPU instance", retention),
        TopicSpec(
            JOBS, settings.jobs_partitions, rf, "cluster/node", "job starts and ends per node (job_assignment/1)", retention
        ),
        TopicSpec(
            DEADLETTER, settings.deadletter_partitions, rf, "source key", "messages ingest could not store", dead_retention
        ),
    ]


def ensure_topics(admin: Any, specs: list[TopicSpec]) -> list[str]:
    """Create the topics in `specs` that do not exist yet; existing ones are left alone.

    Args:
        admin: a `kafka.KafkaAdminClient`.

    Returns:
        The names of the topics created.

    Raises:
        TransientError: the broker did not answer.
        ConfigError: the broker refused a topic (e.g. replication factor above its broker count).
    """
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        existing = set(admin.list_topics())
    except KafkaError as exc:
        raise TransientError(f"cannot list Kafka topics: {exc}") from exc
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    _check_broker_count(admin, max(s.replication_factor for s in missing))
    request = {
        s.name: {"num_partitions": s.partitions, "replication_factor": s.replication_factor, "configs": dict(s.configs)}
        for s in missing
    }
    try:
        response = admin.create_topics(request, raise_errors=False, wait_for_metadata=True, timeout_ms=15_000)
    except KafkaError as exc:
        raise TransientError(f"cannot create Kafka topics {sorted(request)!r}: {exc}") from exc
    created = []
    for topic in response["topics"]:
        error = topic.get("error_code", 0)
        if error == 0:
            created.append(topic["name"])
        elif error != TopicAlreadyExistsError.errno:  # another process won the race: fine
            raise ConfigError(
                f"Kafka refused to create topic {topic['name']!r}: {topic.get('error_message') or error!r}; "
                "check GPUFLEET_KAFKA__REPLICATION_FACTOR against the broker count"
            )
    log.info("created kafka topics", extra={"topics": created})
    return created


def _check_broker_count(admin: Any, replicas: int) -> None:
    """A replication factor above the broker count can never be met: say so in one line, before Kafka does."""
    from kafka.errors import KafkaError

    try:
        brokers = len(admin.describe_cluster()["brokers"])
    except KafkaError as exc:
        raise TransientError(f"cannot describe the Kafka cluster: {exc}") from exc
    if replicas > brokers:
        raise ConfigError(
            f"GPUFLEET_KAFKA__REPLICATION_FACTOR={replicas} is above the {brokers} broker(s) of the Kafka cluster; "
            f"set it to at most {brokers} (1 on a single broker, together with GPUFLEET_KAFKA__MIN_INSYNC_REPLICAS=1)"
        )


def create_topics(settings: KafkaSettings, bootstrap: str | None = None) -> list[str]:
    """Connect an admin client, `ensure_topics` for every gpufleet topic, disconnect."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from pipeline.kafka.config import client_config

    try:
        admin = KafkaAdminClient(**client_config(settings, bootstrap), request_timeout_ms=15_000)
    except KafkaError as exc:
        raise TransientError(f"cannot reach Kafka at {bootstrap or settings.bootstrap!r}: {exc}") from exc
    try:
        return ensure_topics(admin, topic_specs(settings))
    finally:
        admin.close()
