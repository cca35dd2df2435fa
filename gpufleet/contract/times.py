"""Times as people type them on the command line, as epoch milliseconds (UTC).

Accepted everywhere a time is asked for (`report --from/--to`, `alerts check --at`,
`sql --param *_ms=…`): `now`, `now-90s|15m|6h|7d`, epoch milliseconds, or ISO 8601
(a time without a zone is UTC).
"""

from __future__ import annotations

import datetime as dt
import re
import time

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
