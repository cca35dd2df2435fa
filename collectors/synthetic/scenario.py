"""Declarative fault scenarios for the synthetic fleet.

A scenario is a TOML file (or a built-in name: `default`, `none`) listing faults and a
random-XID rate. Times are fleet seconds from the start of the run (`at = 120`) or a share
of the run (`at = "25%"`). Targets are `"random"` (drawn from the seed among busy nodes)
or an explicit global index. See docs/scenarios.md for the format.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, get_args

from gpufleet.contract.errors import ConfigError

FaultKind = Literal[
    "cooling_failure",  # a rack's coolant supply warms: temperatures climb, then thermal throttle
    "ecc_dbe",  # double-bit ECC error: XID 48, uncorrectable count up, row remap pending
    "gpu_lost",  # XID 79, then the GPU stops reporting
    "straggler",  # lower SM clock, utilization out of phase with its job
    "node_down",  # the node's collector goes silent
    "power_brake",  # HW power brake: clocks and power pinned low, reason bit 0x80
    "xid",  # one XID of a given code on a GPU
    "stall",  # a hung kernel or collective: utilization 100 %, SM activity ~1 %
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
TARGET_OF: dict[str, str] = {
    "cooling_failure": "rack",
    "ecc_dbe": "gpu",
    "gpu_lost": "gpu",
    "straggler": "gpu",
    "node_down": "node",
    "power_brake": "node",
    "xid": "gpu",
    "stall": "gpu",
}
BUILTIN_SCENARIOS = ("default", "none")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    kind: str
    at: float | str  # seconds, or "N%" of the run
    target: int | Literal["random"] = "random"
    duration: float | str | None = None  # None: until the end of the run
    xid: int | None = None

    def at_s(self, run_s: float) -> float:
        return _to_seconds(self.at, run_s)

    def duration_s(self, run_s: float) -> float:
        return float("inf") if self.duration is None else _to_seconds(self.duration, run_s)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    faults: tuple[FaultSpec, ...] = ()
    xid_rate_per_gpu_hour: float = 0.0
    idle_node_share: float = 0.1
    extra: dict[str, object] = field(default_factory=dict)


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a TOML file by path; `ConfigError` when malformed."""
    if name_or_path in BUILTIN_SCENARIOS:
        text = resources.files("collectors.synthetic.scenarios").joinpath(f"{name_or_path}.toml").read_text("utf-8")
        return parse_scenario(text, name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"unknown scenario {name_or_path!r}: use one of {', '.join(BUILTIN_SCENARIOS)} or the path of a TOML file"
        )
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read scenario file {str(path)!r}: {exc.strerror}") from exc
    return parse_scenario(text, str(path))


def parse_scenario(text: str, origin: str) -> Scenario:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario {origin!r} is not valid TOML: {exc}") from exc
    unknown = set(doc) - {"name", "fault", "random_xids", "idle_node_share"}
    if unknown:
        raise ConfigError(f"scenario {origin!r}: unknown key(s) {sorted(unknown)!r}")
    faults = tuple(_parse_fault(f, origin, i) for i, f in enumerate(_list_of_tables(doc.get("fault", []), origin)))
    rate = _number(doc.get("random_xids", {}).get("rate_per_gpu_hour", 0.0), f"{origin}: random_xids.rate_per_gpu_hour")
    idle = _number(doc.get("idle_node_share", 0.1), f"{origin}: idle_node_share")
    if rate < 0 or not 0 <= idle < 1:
        raise ConfigError(f"scenario {origin!r}: rate_per_gpu_hour must be >= 0 and idle_node_share in [0, 1)")
    return Scenario(name=str(doc.get("name", origin)), faults=faults, xid_rate_per_gpu_hour=rate, idle_node_share=idle)


def _list_of_tables(value: object, origin: str) -> list[dict[str, object]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"scenario {origin!r}: 'fault' must be an array of tables ([[fault]])")
    return value


def _parse_fault(raw: dict[str, object], origin: str, i: int) -> FaultSpec:
    where = f"scenario {origin!r} fault #{i + 1}"
    kind = raw.get("kind")
    if kind not in FAULT_KINDS:
        raise ConfigError(f"{where}: kind {kind!r} is not one of {', '.join(FAULT_KINDS)}")
    target_key = TARGET_OF[str(kind)]
    allowed = {"kind", "at", "duration", target_key} | ({"xid"} if kind == "xid" else set())
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)!r} for kind {kind!r} (allowed: {sorted(allowed)})")
    if "at" not in raw:
        raise ConfigError(f"{where}: missing 'at' (seconds, or a share of the run such as \"25%\")")
    at = _time(raw["at"], f"{where}: at")
    duration = None if raw.get("duration") is None else _time(raw["duration"], f"{where}: duration")
    target = raw.get(target_key, "random")
    if target != "random" and (not isinstance(target, int) or isinstance(target, bool) or target < 0):
        raise ConfigError(f'{where}: {target_key} must be "random" or a non-negative integer, got {target!r}')
    xid = raw.get("xid")
    if kind == "xid" and (not isinstance(xid, int) or not 0 < xid < 2**16):
        raise ConfigError(f"{where}: kind 'xid' needs an integer 'xid' code, got {xid!r}")
    return FaultSpec(str(kind), at, target, duration, xid if isinstance(xid, int) else None)  # type: ignore[arg-type]


def _time(value: object, where: str) -> float | str:
    if isinstance(value, str):
        if not value.endswith("%"):
            raise ConfigError(f'{where}: {value!r} is neither seconds nor a percentage like "25%"')
        share = _number(value[:-1], where)
        if not 0 <= share <= 100:
            raise ConfigError(f"{where}: {value!r} is outside 0%..100%")
        return value
    seconds = _number(value, where)
    if seconds < 0:
        raise ConfigError(f"{where}: {value!r} is negative")
    return seconds


def _number(value: object, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {value!r}") from None


def _to_seconds(value: float | str, run_s: float) -> float:
    if isinstance(value, str):
        return float(value[:-1]) / 100.0 * run_s
    return float(value)
