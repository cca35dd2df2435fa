"""Which extra provides which import, so a missing one is one line naming the extra.

`pip install gpufleet` is the core only; each role installs its extra (pyproject.toml,
docs/dependencies.md). A command that reaches for a package its extra would have brought
gets `ModuleNotFoundError`; `main` turns that into `gpufleet: error: ... install
'gpufleet[X]'` and exit 2 instead of a traceback.
"""

from __future__ import annotations

from typing import Final

# top-level import name -> the extra(s) that bring it
MODULE_EXTRAS: Final[dict[str, str]] = {
    "pynvml": "collector",
    "kafka": "collector",
    "crc32c": "collector",
    "lz4": "collector",
    "msgspec": "collector",
    "prometheus_client": "collector",
    "clickhouse_connect": "ingest' (a ClickHouse server) or 'embedded",
    "chdb": "embedded",
    "aiomqtt": "mqtt",
    "grafana_client": "grafana",
    "yaml": "grafana",
    "matplotlib": "report",
    "grpc": "kubernetes",
}


def missing_extra_message(error: ModuleNotFoundError) -> str | None:
    """The one-line hint for a missing optional package, or None when it is not one of ours."""
    top = (error.name or "").split(".", 1)[0]
    extra = MODULE_EXTRAS.get(top)
    if extra is None:
        return None
    first = extra.split("'", 1)[0]
    return f"this command needs the Python package {top!r}, which the '{extra}' extra brings: pip install 'gpufleet[{first}]'"


def require(*modules: str) -> None:
    """Fail now, in the command's thread, when an optional package is missing.

    Some imports happen lazily on a background thread (the Kafka sender), where a missing
    package would only be logged while the process keeps running; asking up front turns it
    into the one-line error of `missing_extra_message`.
    """
    import importlib.util

    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except ValueError:  # present in sys.modules without a spec: treat as missing
            found = False
        if not found:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
