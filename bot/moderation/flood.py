"""Flood detection: more than N messages from one member within T seconds."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.chat_ids import is_basic_group
from bot.commands import N_
from bot.moderation.problems import NO_RIGHTS_REASON, SUPERGROUP_REASON, Problem


def tracker_name(edited: bool) -> str:
    """New messages and edits are counted apart: an edit is not another message."""
    return "edits" if edited else "messages"


def is_burst(times: Sequence[float], count: int, seconds: float) -> bool:
    """More than `count` messages within `seconds`, the latest last: the rule every tracker
    applies, whether it keeps the times itself or reads them from Redis."""
    return len(times) > count and times[-1] - times[-count - 1] <= seconds


@dataclass
class FloodTracker:
    """In-memory sliding windows per (chat, user). Memory stays bounded: a window keeps at most
    `count + 1` timestamps, and idle windows are dropped by `sweep`."""

    _windows: dict[tuple[int, int], deque[float]] = field(default_factory=dict)

    def hit(self, chat_id: int, user_id: int, now: float, count: int, seconds: float) -> bool:
        """Record a message; True when this one makes more than `count` within `seconds`."""
        window = self._windows.get((chat_id, user_id))
        if window is None:
            window = self._windows[(chat_id, user_id)] = deque(maxlen=count + 1)
        elif window.maxlen != count + 1:
            window = self._windows[(chat_id, user_id)] = deque(window, maxlen=count + 1)
        window.append(now)
        if is_burst(window, count, seconds):
            window.clear()  # one mute per burst, not one per extra message
            return True
        return False

    async def check(
        self, chat_id: int, user_id: int, now: float, count: int, seconds: float
    ) -> bool:
        """`hit` for callers that may be given a shared tracker (bot.cluster.shared)."""
        return self.hit(chat_id, user_id, now, count, seconds)

    def sweep(self, now: float, idle: float = 600.0) -> None:
        stale = [
            key for key, window in self._windows.items() if not window or now - window[-1] > idle
        ]
        for key in stale:
            del self._windows[key]


# the chat's one notice about a flood in a basic group, by whether its messages could go
BASIC_GROUP_FLOOD = N_(
    "🔇 {name} is flooding: I delete their messages for {duration}, as Telegram lets bots "
    "mute only in supergroups. Making this group public, or showing its history to new "
    "members, turns it into one."
)
BASIC_GROUP_FLOOD_KEPT = N_(
    "{name} is flooding, and I can neither mute them (Telegram lets bots mute only in "
    "supergroups) nor delete their messages: make me an admin who may delete messages."
)


@dataclass
class BasicGroupFloods:
    """Telegram mutes only in supergroups ("method is available only for supergroups"): in a
    basic group a flooder's messages are deleted instead, for as long as the mute would
    have lasted, and each group is told once (per process) why there is no mute."""

    clock: Callable[[], float]
    _until: dict[tuple[int, int], float] = field(default_factory=dict)
    _told: set[int] = field(default_factory=set)

    def deleting(self, chat_id: int, user_id: int) -> bool:
        """Whether this member's messages are to be deleted now."""
        if not self._until:
            return False
        until = self._until.get((chat_id, user_id))
        if until is None:
            return False
        if until > self.clock():
            return True
        del self._until[(chat_id, user_id)]
        return False

    def begin(self, chat_id: int, user_id: int, seconds: float) -> bool:
        """A flood starts: its sender's messages go for `seconds`; True when the group is
        still to be told why (noted at once: the rest of the burst is checked meanwhile)."""
        now = self.clock()
        self._until = {k: t for k, t in self._until.items() if t > now}
        self._until[(chat_id, user_id)] = now + seconds
        tell = chat_id not in self._told
        self._told.add(chat_id)
        return tell

    @staticmethod
    def applies(chat_id: int) -> bool:
        return is_basic_group(chat_id)

    def outcome(self, chat_id: int, user_id: int, kept: Problem | None) -> tuple[str, str]:
        """The log entry's reason and the chat's notice, once the flood's first message was
        deleted (`kept` None) or kept; without the right to delete, no use trying each."""
        if kept is Problem.NO_RIGHTS:
            self._until.pop((chat_id, user_id), None)
            return NO_RIGHTS_REASON, BASIC_GROUP_FLOOD_KEPT
        return SUPERGROUP_REASON, BASIC_GROUP_FLOOD if kept is None else BASIC_GROUP_FLOOD_KEPT
