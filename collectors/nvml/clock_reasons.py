"""Clocks-event reasons: NVML's bitmask, kept raw on the wire and decoded where people read it.

`clocks_event_reasons` travels and is stored as the raw `nvmlClocksEventReason*` bitmask
(one UInt64, lossless, and a new driver bit needs no schema change). Dashboards, queries
and `gpufleet` output decode it with this table, so every place names a bit the same way.
Names are dcgm-exporter's `clock_event` label values (gpu_idle, clocks_setting, power_cap,
hw_slowdown, sync_boost, sw_thermal, hw_thermal, hw_power_brake, display_clocks) for the
nine bits it names, so a Grafana user who knows those sees the same words; the two bits
only the deprecated throttle-reason set has (board_limit, reliability) have no dcgm name.
"""

from __future__ import annotations

from typing import Final

# Bit values from nvidia-ml-py 13.x (`nvmlClocksEventReason*`; the last two exist only in
# the deprecated `nvmlClocksThrottleReason*` set, which older drivers still report).
CLOCK_EVENT_REASONS: Final[tuple[tuple[int, str], ...]] = (
    (0x001, "gpu_idle"),
    (0x002, "clocks_setting"),
    (0x004, "power_cap"),
    (0x008, "hw_slowdown"),
    (0x010, "sync_boost"),
    (0x020, "sw_thermal"),
    (0x040, "hw_thermal"),
    (0x080, "hw_power_brake"),
    (0x100, "display_clocks"),
    (0x200, "board_limit"),
    (0x400, "reliability"),
)
REASON_BITS: Final[dict[str, int]] = {name: bit for bit, name in CLOCK_EVENT_REASONS}
KNOWN_MASK: Final[int] = sum(bit for bit, _ in CLOCK_EVENT_REASONS)

# Reasons that mean the GPU is slower than it should be (not idle, not a user setting):
# what a "throttled GPUs" panel or alert counts.
THROTTLE_MASK: Final[int] = (
    REASON_BITS["power_cap"]
    | REASON_BITS["hw_slowdown"]
    | REASON_BITS["sw_thermal"]
    | REASON_BITS["hw_thermal"]
    | REASON_BITS["hw_power_brake"]
)


def decode(mask: int | None) -> list[str]:
    """Names of the bits set in `mask`, lowest bit first.

    Unknown bits come out as `bit_0x...` rather than being dropped, so a new driver's
    reason is visible before this table learns its name. `None` (unsupported) gives [].
    """
    if not mask:
        return []
    names = [name for bit, name in CLOCK_EVENT_REASONS if mask & bit]
    unknown = mask & ~KNOWN_MASK
    bit = 1
    while unknown:
        if unknown & bit:
            names.append(f"bit_{bit:#x}")
            unknown &= ~bit
        bit <<= 1
    return names


def encode(names: list[str] | tuple[str, ...]) -> int:
    """The bitmask of reason names (the inverse of `decode` for known names).

    Raises:
        ValueError: a name that is not in the table.
    """
    mask = 0
    for name in names:
        if name not in REASON_BITS:
            raise ValueError(f"unknown clocks-event reason {name!r}: use one of {', '.join(REASON_BITS)}")
        mask |= REASON_BITS[name]
    return mask


def sql_decode(column: str = "clocks_event_reasons") -> str:
    """A ClickHouse expression giving `Array(String)` of reason names for `column`.

    For queries and dashboards: `SELECT {sql_decode()} AS reasons FROM ...`. The column
    name is an identifier chosen by code, never user input.
    """
    if not column.replace("_", "").isalnum():
        raise ValueError(f"column must be a plain identifier, got {column!r}")
    items = ", ".join(f"if(bitAnd({column}, {bit}) != 0, '{name}', '')" for bit, name in CLOCK_EVENT_REASONS)
    return f"arrayFilter(x -> x != '', [{items}])"
