"""Settings: flags, then environment (`GPUFLEET_*`), then a TOML file, then defaults.

The TOML file is `gpufleet.toml` in the working directory, or the path in
`GPUFLEET_CONFIG`. Unknown keys are an error, so a typo does not silently fall back to a
default. Nested sections use `__` in environment names (`GPUFLEET_KAFKA__BOOTSTRAP`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from gpufleet.contract.errors import ConfigError
from gpufleet.contract.times import TimeWindow

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
    max_clock_ahead_s: float = Field(
        300.0, gt=0, description="a sample, event or reading more than this far in the future is dead-lettered"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "WARNING", description="logging level (logs are JSON lines on stderr)"
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    node: NodeSettings = Field(default_factory=NodeSettings)

    def time_window(self) -> TimeWindow:
        """Timestamps ingest accepts: from `raw_ttl_days` ago to `max_clock_ahead_s` ahead."""
        return TimeWindow.of(self.raw_ttl_days, self.max_clock_ahead_s)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

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
    """Settings with flag `overrides` (None values ignored); `ConfigError` when invalid.

    The error is one line that names the setting as it was given (the environment
    variable, the TOML key, or the flag) and its expected form.
    """
    config = os.environ.get("GPUFLEET_CONFIG")
    if config and not Path(config).is_file():
        raise ConfigError(f"GPUFLEET_CONFIG points to {config!r}, which is not a file")
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except SettingsError as exc:  # a value pydantic-settings could not even parse (JSON for a section)
        raise ConfigError(_unparsable(str(exc))) from None
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ConfigError(_invalid(tuple(str(p) for p in err["loc"]), err["type"], err["msg"], err.get("input"), given)) from None


def _env_name(loc: tuple[str, ...]) -> str:
    return "GPUFLEET_" + "__".join(loc).upper()


def _toml_key(loc: tuple[str, ...]) -> str:
    return f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else loc[0]


def _field(loc: tuple[str, ...]) -> Any:
    model: Any = Settings
    info = None
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        info = fields[part]
        model = info.annotation
    return info


def _expected(loc: tuple[str, ...]) -> str:
    """The expected form of a setting: its example, its choices, or its description."""
    if loc == ("kafka",) or (loc[:1] == ("kafka",) and len(loc) == 1):
        return "GPUFLEET_KAFKA__BOOTSTRAP=host:port (a section: set its fields)"
    info = _field(loc)
    if info is None:
        return ""
    choices = getattr(info.annotation, "__args__", ())
    if choices and all(isinstance(c, str) for c in choices):
        return f"{_env_name(loc)}=<one of {', '.join(choices)}>"
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
        first = next(iter(info.annotation.model_fields))
        return f"{_env_name((*loc, first))}=... (a section: set its fields)"
    hint = f" ({info.description})" if info.description else ""
    return f"{_env_name(loc)}=<{getattr(info.annotation, '__name__', 'value')}>{hint}"


def _invalid(loc: tuple[str, ...], kind: str, msg: str, value: Any, flags: dict[str, Any]) -> str:
    if kind == "extra_forbidden":
        parent = Settings if len(loc) == 1 else getattr(_field(loc[:-1]), "annotation", Settings)
        known = ", ".join(getattr(parent, "model_fields", {}))
        return f"unknown setting {_toml_key(loc)!r} in {_config_path()}: expected one of {known}"
    if len(loc) == 1 and loc[0] in flags:
        where = f"--{loc[0].replace('_', '-')} {value!r}"
    elif _env_name(loc) in os.environ:
        where = f"{_env_name(loc)}={os.environ[_env_name(loc)]!r}"
    else:
        where = f"{_toml_key(loc)} = {value!r} in {_config_path()}"
    expected = _expected(loc)
    return f"invalid setting {where}: {msg}" + (f"; expected {expected}" if expected else "")


def _unparsable(message: str) -> str:
    field = message.split('"')[1] if '"' in message else "?"
    name = _env_name((field,))
    value = os.environ.get(name)
    got = f"{name}={value!r}" if value is not None else f"setting {field!r}"
    return f"invalid setting {got}: cannot be parsed; expected {_expected((field,)) or 'a valid value'}"


def _config_path() -> str:
    return os.environ.get("GPUFLEET_CONFIG", "gpufleet.toml")
