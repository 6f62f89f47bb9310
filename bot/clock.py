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
