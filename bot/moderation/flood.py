"""Flood detection: more than N messages from one member within T seconds."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field


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
