"""A chat's mood: the daily share of messages that are complaints or negative, and when a day
is bad enough to tell the managers.

A day alerts when at least `MIN_NEGATIVE` of its messages were complaints and its share is over
`SPIKE_FACTOR` times the median share of the `HISTORY_DAYS` days before it (days without
messages are left out; with no history the median is 0, so ten complaints on a first day
alert). One 👎-heavy message alerts when `DISLIKES_ALERT` people put 👎 on it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

SPIKE_FACTOR = 3.0
MIN_NEGATIVE = 10
HISTORY_DAYS = 28
DISLIKES_ALERT = 5
DISLIKE = "👎"


@dataclass(frozen=True, slots=True)
class DayMood:
    day: str
    messages: int
    negative: int

    @property
    def share(self) -> float:
        return self.negative / self.messages if self.messages else 0.0


@dataclass(frozen=True, slots=True)
class Spike:
    today: DayMood
    median: float


def median_share(history: list[DayMood]) -> float:
    shares = [day.share for day in history if day.messages]
    return statistics.median(shares) if shares else 0.0


def spike(today: DayMood, history: list[DayMood]) -> Spike | None:
    """A Spike when today is far worse than usual, else None."""
    if today.negative < MIN_NEGATIVE:
        return None
    median = median_share(history)
    if today.share > SPIKE_FACTOR * median:
        return Spike(today, median)
    return None
