"""Counting events as they arrive, cheaply.

Messages are counted in memory and written to SQLite in one transaction every few seconds, so
the cost per message is a few dictionary increments, not a database round trip. A crash loses
at most one flush interval of counts, never a moderation record or a post.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.clock import SYSTEM_CLOCK, Clock, LocalHour
from storage.stats import CHAT_FIELDS, StatsRepository

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _MemberDay:
    """A member's messages in one chat on one day, counted in memory until the next flush."""

    name: str
    messages: int


class StatsCollector:
    def __init__(self, repo: StatsRepository, tz: ZoneInfo, clock: Clock = SYSTEM_CLOCK) -> None:
        self.repo = repo
        self.tz = tz
        self.clock = clock
        self._chat: Counter[tuple[int, str, str]] = Counter()
        self._members: dict[tuple[int, str, int], _MemberDay] = {}
        self._hourly: Counter[tuple[int, str, int]] = Counter()
        self._hours = LocalHour(tz)  # the local day and hour, once per hour, not per message

    def message(self, chat_id: int, user_id: int, name: str, ts: float) -> None:
        day, hour = self._hours.day_hour(ts)
        self._chat[(chat_id, day, "messages")] += 1
        self._hourly[(chat_id, day, hour)] += 1
        entry = self._members.get((chat_id, day, user_id))
        if entry is None:
            self._members[(chat_id, day, user_id)] = _MemberDay(name, 1)
        else:
            entry.messages += 1

    def bump(self, chat_id: int, field: str, n: int = 1, ts: float | None = None) -> None:
        if field not in CHAT_FIELDS:
            raise ValueError(field)
        day, _hour = self._hours.day_hour(self.clock() if ts is None else ts)
        self._chat[(chat_id, day, field)] += n

    @property
    def pending(self) -> int:
        return len(self._chat) + len(self._members) + len(self._hourly)

    async def flush(self) -> None:
        if not self.pending:
            return
        chat, members, hourly = self._chat, self._members, self._hourly
        self._chat, self._members, self._hourly = Counter(), {}, Counter()
        try:
            await self.repo.write_batch(
                [(c, d, f, n) for (c, d, f), n in chat.items()],
                [(c, d, u, e.name, e.messages) for (c, d, u), e in members.items()],
                [(c, d, h, n) for (c, d, h), n in hourly.items()],
            )
        except Exception:
            # keep the counts for the next flush rather than lose them
            self._chat.update(chat)
            self._hourly.update(hourly)
            for key, counted in members.items():
                entry = self._members.setdefault(key, _MemberDay(counted.name, 0))
                entry.messages += counted.messages
            logger.exception("statistics flush failed; will retry")
