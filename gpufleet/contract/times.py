"""Times as people type them on the command line, as epoch milliseconds (UTC).

Accepted everywhere a time is asked for (`report --from/--to`, `alerts check --at`,
`sql --param *_ms=…`): `now`, `now-90s|15m|6h|7d`, epoch milliseconds, or ISO 8601
(a time without a zone is UTC). And the window of sample times ingest accepts (`TimeWindow`).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpufleet.contract.errors import ConfigError

_RELATIVE = re.compile(r"^now(?:-(\d+)([smhd]))?$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def relative_ms(text: str, now_ms: int | None = None) -> int | None:
    """`now` or `now-6h` as epoch ms; None when `text` is not of that form."""
    match = _RELATIVE.match(text.strip())
    if match is None:
        return None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return now - (int(match[1]) * _UNIT_S[match[2]] * 1000 if match[1] else 0)


def parse_time_ms(flag: str, text: str, now_ms: int | None = None) -> int:
    """Epoch ms from any accepted form; `ConfigError` naming `flag` otherwise."""
    text = text.strip()
    relative = relative_ms(text, now_ms)
    if relative is not None:
        return relative
    if text.isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a time: use ISO 8601 (2026-11-28T13:45:00Z), epoch ms or now-6h") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The timestamps ingest accepts: not older than the raw TTL (a row the TTL would drop at
    once is lost data counted as stored), not further ahead than clocks plausibly drift (a
    year-9999 row would sit in its own partition forever; a node with a broken clock would
    touch a new partition per message). Outside: dead-lettered with the reason, at decode.

    Attributes:
        max_age_ms: oldest accepted, relative to now (settings `raw_ttl_days`).
        max_ahead_ms: newest accepted, relative to now (settings `max_clock_ahead_s`).
    """

    max_age_ms: int = 14 * 86_400_000
    max_ahead_ms: int = 300_000

    @staticmethod
    def of(raw_ttl_days: int, max_clock_ahead_s: float) -> TimeWindow:
        return TimeWindow(int(raw_ttl_days) * 86_400_000, int(max_clock_ahead_s * 1000))

    def reason(self, ts_ms: int, now_ms: int | None = None, check_age: bool = True) -> str:
        """Why `ts_ms` is outside the window, or "" when inside."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if ts_ms > now + self.max_ahead_ms:
            return f"ts_ms {ts_ms!r} is {_span(ts_ms - now)} in the future (limit {_span(self.max_ahead_ms)})"
        if check_age and ts_ms < now - self.max_age_ms:
            return f"ts_ms {ts_ms!r} is {_span(now - ts_ms)} old, beyond the raw TTL ({_span(self.max_age_ms)})"
        return ""

    def outside(self, ts_ms: npt.NDArray[np.int64], now_ms: int | None = None) -> npt.NDArray[np.bool_]:
        """Per timestamp, whether it is outside the window (vectorised `reason`)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        result: npt.NDArray[np.bool_] = (ts_ms > now + self.max_ahead_ms) | (ts_ms < now - self.max_age_ms)
        return result


def _span(ms: int) -> str:
    s = ms / 1000
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172_800:
        return f"{s / 3600:.0f} h"
    return f"{s / 86_400:.0f} days"
