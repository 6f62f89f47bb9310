"""Counting events as they arrive, cheaply.

Messages are counted in memory and written to SQLite in one transaction every few seconds, so
the cost per message is a few dictionary increments, not a database round trip. A crash loses
at most one flush interval of counts, never a moderation record or a post.

What an update counts is held back until the update was handled (`begin_update`/`end_update`,
around the whole update): an update whose handling was cut off (its worker stopped or died
while, say, a reply waited for its send slot) is delivered again by Telegram, and counted by
the handling that finishes, once. Counted at once, a flush in between had already written it,
and the second delivery counted it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.clock import SYSTEM_CLOCK, Clock, LocalHour
from storage.stats import CHAT_FIELDS, StatsRepository

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _MemberDay:
    """A member's messages in one chat on one day, counted in memory until the next flush."""

    name: str
    messages: int


@dataclass(slots=True)
class UpdateTally:
    """What one update counted, held until it was handled (`StatsCollector.end_update`)."""

    counts: list[Callable[[], None]] = field(default_factory=list)
    later: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    open: bool = True


_TALLY: ContextVar[UpdateTally | None] = ContextVar("stats_tally", default=None)


class StatsCollector:
    def __init__(self, repo: StatsRepository, tz: ZoneInfo, clock: Clock = SYSTEM_CLOCK) -> None:
        self.repo = repo
        self.tz = tz
        self.clock = clock
        self._chat: Counter[tuple[int, str, str]] = Counter()
        self._members: dict[tuple[int, str, int], _MemberDay] = {}
        self._hourly: Counter[tuple[int, str, int]] = Counter()
        self._hours = LocalHour(tz)  # the local day and hour, once per hour, not per message
        self._flushing = asyncio.Lock()

    def begin_update(self) -> UpdateTally:
        """From here on (in this task and those it starts) counts wait for `end_update`."""
        tally = UpdateTally()
        _TALLY.set(tally)  # closed by end_update (a closed one holds nothing back)
        return tally

    async def end_update(self, tally: UpdateTally, *, handled: bool) -> None:
        """The update was handled: its counts count (and its database counts are written);
        or it was not (cut off: Telegram delivers it again): they are dropped."""
        tally.open = False
        if not handled:
            return
        for count in tally.counts:
            count()
        for write in tally.later:
            try:
                await write()
            except Exception:
                logger.exception("statistics: a count was not written")

    def settle_this_update(self) -> None:
        """Count what the current update counted so far now: a report it asks for (/stats in
        a group) includes the message that asked, as it always did."""
        tally = self._held()
        if tally is not None:
            counts, tally.counts = tally.counts, []
            for count in counts:
                count()

    @staticmethod
    def _held() -> UpdateTally | None:
        tally = _TALLY.get()
        return tally if tally is not None and tally.open else None

    async def once_handled(self, write: Callable[[], Awaitable[object]]) -> None:
        """A count written to the database (a comment under a channel post): at once outside
        an update, else once the update was handled."""
        tally = self._held()
        if tally is None:
            await write()
        else:
            tally.later.append(write)

    def message(self, chat_id: int, user_id: int, name: str, ts: float) -> None:
        tally = self._held()
        if tally is not None:
            tally.counts.append(lambda: self._message(chat_id, user_id, name, ts))
            return
        self._message(chat_id, user_id, name, ts)

    def _message(self, chat_id: int, user_id: int, name: str, ts: float) -> None:
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
        tally = self._held()
        if tally is not None:
            tally.counts.append(lambda: self._chat.update({(chat_id, day, field): n}))
            return
        self._chat[(chat_id, day, field)] += n

    @property
    def pending(self) -> int:
        return len(self._chat) + len(self._members) + len(self._hourly)

    async def flush(self) -> None:
        """Write the counts so far. Flushes take turns: a report's flush returns only once an
        earlier one (the periodic flush, still writing) is written too, so the report reads
        every count made before it asked."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
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
