"""The one wall clock: unix seconds, read through an object that `bot.app` builds once and hands
to every service, so no decision (a mute's end, a giveaway's close, a post's slot, a cooldown)
reads the system clock behind the test's back. A test holds time still or moves it with
`FrozenClock`; any zero-argument callable returning seconds (`lambda: 100`) is a `Clock` too.

Intervals that must not jump when the wall clock is set (outbound pacing, the role cache's
expiry, flood windows, the update ledger) measure with `time.monotonic` instead; those are the
only other time sources, listed with their reason in `tests/test_layers.py`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def __call__(self) -> float:
        """Unix time in seconds."""
        ...


class SystemClock:
    """The real time, for the running bot."""

    def __call__(self) -> float:
        return time.time()


class FrozenClock:
    """Time that moves only when a test says so."""

    def __init__(self, at: float | datetime) -> None:
        self.at = 0.0
        self.set(at)

    def __call__(self) -> float:
        return self.at

    def set(self, at: float | datetime) -> None:
        """Unix seconds, or an aware datetime."""
        self.at = at.timestamp() if isinstance(at, datetime) else float(at)

    def advance(self, seconds: float) -> None:
        self.at += seconds


SYSTEM_CLOCK: Clock = SystemClock()


def utc_now(clock: Clock) -> datetime:
    """The clock's time as an aware UTC datetime, for the parsers that take `now`."""
    return datetime.fromtimestamp(clock(), UTC)


class LocalHour:
    """The local date (ISO) and hour of unix times in `tz`, worked out once per local hour:
    statistics and the mood count ask for every group message, and a time-zone conversion per
    message cost more than the counting itself.

    The hour is measured from the local clock's own minutes, so a zone with a half-hour offset
    (India) turns its hour and its day on time; a clock change happens at the end of a local
    hour (Havana's at midnight too), so it ends the remembered hour as well. A time outside the
    remembered hour (the next one, or a clock set back) is converted again."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._from = self._until = 0.0
        self._day_hour: tuple[str, int] = ("", 0)

    def day_hour(self, ts: float) -> tuple[str, int]:
        if not self._from <= ts < self._until:
            local = datetime.fromtimestamp(ts, self.tz)
            self._from = ts - (local.minute * 60 + local.second + local.microsecond / 1e6)
            self._until = self._from + 3600
            self._day_hour = (local.date().isoformat(), local.hour)
        return self._day_hour

    def day(self, ts: float) -> str:
        return self.day_hour(ts)[0]
