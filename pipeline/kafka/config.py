"""kafka-python client settings built from `KafkaSettings`, in one place; the subscription's tuning and counters.

Security settings (TLS files, SASL mechanism and credentials) pass straight through from
settings/environment, so producers, consumers and the admin client connect the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpufleet.contract.errors import ConfigError
from gpufleet.contract.settings import KafkaSettings
from gpufleet.contract.times import TimeWindow
from pipeline.kafka.decoder import DEFAULT_MAX_MESSAGE_BYTES


def client_config(settings: KafkaSettings, bootstrap: str | None = None) -> dict[str, Any]:
    """Connection keyword arguments common to KafkaProducer, KafkaConsumer and KafkaAdminClient.

    Raises:
        ConfigError: no bootstrap address, or SASL without a mechanism/credentials.
    """
    servers = bootstrap or settings.bootstrap
    if not servers:
        raise ConfigError("no Kafka bootstrap address: pass --kafka HOST:PORT or set GPUFLEET_KAFKA__BOOTSTRAP")
    config: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in servers.split(",") if s.strip()],
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        # Fail over quickly to the next bootstrap server, back off to 5 s while all are down.
        "reconnect_backoff_ms": 100,
        "reconnect_backoff_max_ms": 5000,
    }
    if settings.security_protocol.startswith("SASL"):
        if settings.sasl_mechanism is None:
            raise ConfigError(
                f"security_protocol {settings.security_protocol!r} needs GPUFLEET_KAFKA__SASL_MECHANISM "
                "(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
            )
        config["sasl_mechanism"] = settings.sasl_mechanism
        if settings.sasl_mechanism != "OAUTHBEARER":
            if settings.sasl_username is None or settings.sasl_password is None:
                raise ConfigError("SASL needs GPUFLEET_KAFKA__SASL_USERNAME and GPUFLEET_KAFKA__SASL_PASSWORD")
            config["sasl_plain_username"] = settings.sasl_username
            config["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if settings.security_protocol.endswith("SSL"):
        for key, path in (("ssl_cafile", settings.ssl_cafile), ("ssl_certfile", settings.ssl_certfile)):
            if path is not None:
                config[key] = str(path)
        if settings.ssl_keyfile is not None:
            config["ssl_keyfile"] = str(settings.ssl_keyfile)
        config["ssl_check_hostname"] = True
    return config


@dataclass(frozen=True, slots=True)
class SubscriptionConfig:
    """Tuning. Short sessions: a member that died is replaced within seconds."""

    group: str = "gpufleet-ingest"
    # A delivery's size is what its insert costs per row (docs/kafka.md, "Batch size"): a backlog is
    # drained in deliveries of up to 160,000 GPU rows of 8-GPU nodes; at 1 Hz a partition's delivery
    # holds what arrived within max_wait_s (quiet_s once a tick's burst is over).
    max_batch_messages: int = 20_000
    max_gathered_bytes: int = 512 * 1024 * 1024  # all partitions' gathered batches together: then no fetch, the oldest goes
    max_wait_s: float = 1.0  # a partition's records wait at most this long for a fuller batch (behind the log: 5x)
    quiet_s: float = 0.1  # caught up with the log and nothing new for this long: deliver (0: off; batches.py)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    session_timeout_ms: int = 6_000
    heartbeat_interval_ms: int = 1_500
    max_poll_interval_ms: int = 300_000
    create_topics: bool = True
    instance_id: str | None = None  # static membership: a restarted process takes its old place at once
    time_window: TimeWindow = field(default_factory=TimeWindow)  # timestamps outside are dead-lettered


@dataclass(slots=True)
class SubscriptionStats:
    deliveries: int = 0
    commits: int = 0
    commit_failures: int = 0
    revoked_deliveries: int = 0  # deliveries whose partition moved to another member before their commit
    commits_before_revoke: int = 0  # writes in flight when a rebalance began, finished and committed first
    ranges_recorded: int = 0
    ranges_repeated: int = 0  # first batches re-formed to a range recorded before a crash/rebalance
    topic_resets: int = 0  # a topic came back with a new id (deleted and created, or broker data lost)
    topics_created: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)  # by reason kind
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
