"""The relay's limit on one member, and the memory of who was asked to wait.

A member who sends more than RELAY_LIMIT messages to the team in RELAY_WINDOW seconds is asked
to wait once; further messages in that window get no reply, or the bot would flood them back.
Who was asked is remembered here, with the end of their window by the app's clock (never a
store's own expiry): in memory for one process, in Redis across workers
(bot.cluster.shared.RedisCoolDownNotices), so a member is asked once whichever worker takes
their messages.
"""

from __future__ import annotations

RELAY_LIMIT = 5  # tickets per member ...
RELAY_WINDOW = 600  # ... in this many seconds


class CoolDownNotices:
    """Members asked to wait, and until when (epoch seconds, the app's clock); one process."""

    def __init__(self) -> None:
        self._asked_until: dict[int, int] = {}

    async def first(self, member_id: int, now: int) -> bool:
        """True when this member was not asked to wait in the last RELAY_WINDOW seconds by
        `now`, the injected clock's time (they are now counted as asked); False when they
        were."""
        asked_until = self._asked_until
        for member in [m for m, until in asked_until.items() if now >= until]:
            del asked_until[member]
        if member_id in asked_until:
            return False
        asked_until[member_id] = now + RELAY_WINDOW
        return True
