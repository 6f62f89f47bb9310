"""Durations as moderators type them: 30s, 10m, 2h, 3d, 1w, and combinations like 1h30m."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d{1,6})([smhdw])")
_WHOLE = re.compile(r"^(?:\d{1,6}[smhdw])+$")

# Telegram treats a restriction shorter than 30 s or longer than 366 days as permanent; we keep
# clear of both edges so "30s" never silently becomes "forever".
TELEGRAM_MIN_SECONDS = 35
TELEGRAM_MAX_SECONDS = 366 * 86400


def looks_like_duration(token: str) -> bool:
    return bool(_WHOLE.match(token.lower()))


def parse_duration(token: str) -> timedelta:
    """`1h30m` -> 5400 s. Raises ValueError for anything else, including zero."""
    text = token.strip().lower()
    if not _WHOLE.match(text):
        raise ValueError(f"not a duration: {token!r}")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return timedelta(seconds=seconds)


def telegram_until(now_ts: int, duration: timedelta | None) -> int:
    """`until_date` for restrict/ban: 0 means permanent; short ones are stretched to stay timed."""
    if duration is None:
        return 0
    seconds = int(duration.total_seconds())
    if seconds > TELEGRAM_MAX_SECONDS:
        return 0
    return now_ts + max(seconds, TELEGRAM_MIN_SECONDS)


def format_duration(duration: timedelta | None) -> str:
    """Compact form for logs and messages: 90 min -> `1h30m`; None -> empty string."""
    if duration is None:
        return ""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
