"""Settings: flags, then environment (`GPUFLEET_*`), then a TOML file, then defaults.

The TOML file is `gpufleet.toml` in the working directory, or the path in
`GPUFLEET_CONFIG`. Unknown keys are an error, so a typo does not silently fall back to a
default. Nested sections use `__` in environment names (`GPUFLEET_KAFKA__BOOTSTRAP`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from gpufleet.errors import ConfigError

DEFAULT_STORE = "chdb://./gpufleet-data"


class Settings(BaseSettings):
    """Process-wide settings shared by every subcommand."""

    model_config = SettingsConfigDict(env_prefix="GPUFLEET_", env_nested_delimiter="__", extra="forbid")

    store: str = Field(DEFAULT_STORE, description="store DSN: chdb://PATH or http(s)://user:pass@host:8123/db")
    cluster: str = Field("colossus", description="cluster label for synthetic fleets")
    raw_ttl_days: int = Field(14, ge=1, description="days raw GPU samples are kept")
    log_level: str = Field("WARNING", description="logging level (logs are JSON lines on stderr)")

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
