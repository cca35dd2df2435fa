"""Settings: flags, then environment (`GPUFLEET_*`), then a TOML file, then defaults.

The TOML file is `gpufleet.toml` in the working directory, or the path in
`GPUFLEET_CONFIG`. Unknown keys are an error, so a typo does not silently fall back to a
default. Nested sections use `__` in environment names (`GPUFLEET_KAFKA__BOOTSTRAP`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from gpufleet.contract.errors import ConfigError

DEFAULT_STORE = "chdb://./gpufleet-data"


class KafkaSettings(BaseModel):
    """How to reach Kafka (`GPUFLEET_KAFKA__*`). Credentials come from the environment or a
    TOML file outside the repository, never from flags (they would show in `ps`)."""

    model_config = ConfigDict(extra="forbid")

    bootstrap: str | None = Field(None, description="host:port[,host:port]; `--kafka` overrides it")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) that signed the brokers' certificates")
    ssl_certfile: Path | None = Field(None, description="client certificate (PEM), for mutual TLS")
    ssl_keyfile: Path | None = Field(None, description="client private key (PEM), for mutual TLS")
    client_id: str = "gpufleet"
    samples_partitions: int = Field(12, ge=1, description="partitions of gpufleet.samples.v1 when gpufleet creates it")
    events_partitions: int = Field(6, ge=1)
    inventory_partitions: int = Field(6, ge=1)
    facility_partitions: int = Field(6, ge=1)
    jobs_partitions: int = Field(3, ge=1)
    deadletter_partitions: int = Field(3, ge=1)
    replication_factor: int = Field(3, ge=1, description="replicas per partition (1 on a single broker)")
    min_insync_replicas: int = Field(
        2, ge=1, description="replicas that must have a write before acks=all succeeds (1 on a single broker)"
    )
    retention_hours: int = Field(72, ge=1, description="how long samples/events/facility/dead letters stay in Kafka")
    session_timeout_ms: int = Field(10_000, ge=1000, description="ingest group session; a dead member is noticed after this")


class MqttSettings(BaseModel):
    """The site's MQTT broker for facility readings (`GPUFLEET_MQTT__*`); `--mqtt URL` overrides `url`."""

    url: str | None = Field(None, description="mqtt://host:1883 or mqtts://host:8883 (TLS)")
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(None, description="CA bundle (PEM) for mqtts://")
    cert_file: Path | None = Field(None, description="client certificate (PEM), for mutual TLS")
    key_file: Path | None = Field(None, description="client private key (PEM), for mutual TLS")
    client_id: str = Field("gpufleet-bridge", description="fixed, so the broker keeps the QoS 1 session across reconnects")
    topic_filter: str = "facility/+/+/+/+"


class NodeSettings(BaseModel):
    """Where this node sits (`GPUFLEET_NODE__*` or `[node]` in the TOML file); the collector's
    `--hall/--row/--rack/--node` flags override these, and `node` defaults to the hostname."""

    model_config = ConfigDict(extra="forbid")

    hall: str | None = Field(None, min_length=1, max_length=128)
    row: str | None = Field(None, min_length=1, max_length=128)
    rack: str | None = Field(None, min_length=1, max_length=128)
    node: str | None = Field(None, min_length=1, max_length=128, description="default: the hostname")


class Settings(BaseSettings):
    """Process-wide settings shared by every subcommand."""

    model_config = SettingsConfigDict(env_prefix="GPUFLEET_", env_nested_delimiter="__", extra="forbid")

    store: str = Field(DEFAULT_STORE, description="store DSN: chdb://PATH or http(s)://user:pass@host:8123/db")
    cluster: str = Field("colossus", description="cluster label (of this node for the collector, of synthetic fleets)")
    raw_ttl_days: int = Field(14, ge=1, description="days raw GPU samples are kept")
    minute_ttl_days: int = Field(90, ge=1, description="days per-minute rollups (and per-second power) are kept")
    hour_ttl_days: int = Field(730, ge=1, description="days per-hour rollups are kept")
    log_level: str = Field("WARNING", description="logging level (logs are JSON lines on stderr)")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    node: NodeSettings = Field(default_factory=NodeSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("GPUFLEET_CONFIG", "gpufleet.toml"))
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path)


def load_settings(**overrides: Any) -> Settings:
    """Settings with flag `overrides` (None values ignored); `ConfigError` when invalid."""
    config = os.environ.get("GPUFLEET_CONFIG")
    if config and not Path(config).is_file():
        raise ConfigError(f"GPUFLEET_CONFIG points to {config!r}, which is not a file")
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"invalid setting {where!r}: {err['msg']} (got {err.get('input')!r})") from None
