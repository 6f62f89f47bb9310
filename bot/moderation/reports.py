"""Members' reports: how many a member may file, and who hears of one.

A report goes to the chat's log chat when there is one (through the log outbox); otherwise to
every admin in private, since only Telegram knows which of them started the bot.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.roles import AdminRight

REPORTS_PER_WINDOW = 3
REPORT_WINDOW_SECONDS = 600
# how long a report's button remembers it acted: a report goes to several admins in private,
# and one of them may open it days later
REPORT_ACTION_MEMORY_SECONDS = 7 * 86400


class ReportAction(StrEnum):
    """The buttons under a report."""

    DELETE = "del"
    WARN = "warn"
    MUTE = "mute"  # for a day
    BAN = "ban"
    DISMISS = "dismiss"

    @property
    def right(self) -> AdminRight | None:
        """What the admin pressing it must hold: the buttons do what /del, /warn, /mute and
        /ban do, and ask for the same right."""
        if self is ReportAction.DELETE:
            return AdminRight.DELETE
        return None if self is ReportAction.DISMISS else AdminRight.RESTRICT


class ReportLimiter:
    """A member may file a few reports per window; more is treated as abuse. The window is
    measured on the monotonic clock: setting the wall clock must not open or shut it. With
    several workers the windows are shared (bot.cluster.shared.RedisReportLimiter)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._recent: dict[tuple[int, int], deque[float]] = defaultdict(deque)
        self._actions: dict[str, float] = {}
        self.clock = clock

    def allow(self, chat_id: int, user_id: int, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        recent = self._recent[(chat_id, user_id)]
        while recent and now - recent[0] > REPORT_WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= REPORTS_PER_WINDOW:
            return False
        recent.append(now)
        return True

    async def check(self, chat_id: int, user_id: int, now: float | None = None) -> bool:
        """`allow` for callers that may be given a shared limiter."""
        return self.allow(chat_id, user_id, now)

    async def first_action(self, key: str) -> bool:
        """True the first time a report's action (`report_action_key`) is taken: a double tap,
        or the same report pressed by two admins (on two workers), acts once."""
        now = self.clock()
        taken = self._actions
        if len(taken) > 10_000:
            for old in [k for k, t in taken.items() if now - t > REPORT_ACTION_MEMORY_SECONDS]:
                del taken[old]
        at = taken.get(key)
        if at is not None and now - at <= REPORT_ACTION_MEMORY_SECONDS:
            return False
        taken[key] = now
        return True

    async def forget_action(self, key: str) -> None:
        """The action was refused (or failed): the button may act again."""
        self._actions.pop(key, None)


def report_action_key(chat_id: int, message_id: int, user_id: int, action: ReportAction) -> str:
    """One report's one action: the reported message, its sender and the button."""
    return f"{chat_id}:{message_id}:{user_id}:{action.value}"


@dataclass(frozen=True, slots=True)
class ReportRecipients:
    """Either the log chat, or the admins to try one by one in private."""

    log_chat: int | None
    admins: tuple[int, ...] = ()


def report_recipients(
    log_chat: int | None, admin_ids: Iterable[int], bot_id: int
) -> ReportRecipients:
    if log_chat:
        return ReportRecipients(log_chat)
    return ReportRecipients(None, tuple(uid for uid in admin_ids if uid != bot_id))
