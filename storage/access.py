"""Least-privilege server users, rendered from `storage/sql/server/users.sql`.

chDB has no users; on a server an administrator runs the rendered DDL once (`gpufleet db
users | clickhouse-client --multiquery`). Passwords come from the environment and only their
SHA-256 reaches the DDL, so the output can be reviewed and logged.
"""

from __future__ import annotations

import hashlib
import os
import re
from importlib import resources

from gpufleet.contract.errors import ConfigError

PASSWORD_ENV = {"ingest_password_sha256": "GPUFLEET_INGEST_PASSWORD", "grafana_password_sha256": "GPUFLEET_GRAFANA_PASSWORD"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def render_users(database: str, cluster: str | None = None, env: dict[str, str] | None = None) -> list[str]:
    """The user, profile and grant statements for `database` (ON CLUSTER when `cluster`)."""
    source = os.environ if env is None else env
    for what, value in (("database", database), ("cluster", cluster or "x")):
        if not _IDENTIFIER.match(value):
            raise ConfigError(f"{what} {value!r} is not a plain identifier (letters, digits, _)")
    params = {"database": database, "on_cluster": f"ON CLUSTER '{cluster}'" if cluster else ""}
    for key, var in PASSWORD_ENV.items():
        password = source.get(var)
        if not password:
            raise ConfigError(f"set {var} to the password for {key.split('_')[0]!r} (only its SHA-256 is printed)")
        params[key] = hashlib.sha256(password.encode()).hexdigest()
    text = resources.files("storage.sql.server").joinpath("users.sql").read_text("utf-8")
    for key, value in params.items():
        text = text.replace("{" + key + "}", value)
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = [" ".join(s.split()) for s in body.split(";") if s.strip()]
    if cluster:  # the shard-local tables behind each Distributed one
        local = [_LOCAL_GRANT.sub(r"\1_local\2", s) for s in statements if _LOCAL_GRANT.search(s)]
        statements = [*statements, *local]
    return statements


# INSERT and SELECT grants on data tables (not the migrations record, replicated to every server)
_LOCAL_GRANT = re.compile(r"^(GRANT .* (?:INSERT|SELECT) ON \w+\.(?!gpufleet_migrations\b)\w+)( TO gpufleet_ingest)$")
