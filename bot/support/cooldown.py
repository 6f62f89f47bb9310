"""The relay's limit on one member, and the memory of who was asked to wait.

A member who sends more than RELAY_LIMIT messages to the team in RELAY_WINDOW seconds is asked
to wait once; further messages in that window get no reply, or the bot would flood them back.
Who was asked is remembered here: in memory for one process, in Redis across workers
(bot.cluster.shared.RedisCoolDownNotices), so a member is asked once whichever worker takes
their messages.
"""

from __future__ import annotations

RELAY_LIMIT = 5  # tickets per member ...
RELAY_WINDOW = 600  # ... in this many seconds


class CoolDownNotices:
    """Members asked to wait, and when (epoch seconds); one process."""

    def __init__(self) -> None:
        self._told: dict[int, int] = {}

    async def first(self, member_id: int, now: int) -> bool:
        """True when this member was not asked to wait in the last RELAY_WINDOW seconds (they
        are now counted as asked); False when they were."""
        told = self._told
        for member in [m for m, at in told.items() if now - at >= RELAY_WINDOW]:
            del told[member]
        if member_id in told:
            return False
        told[member_id] = now
        return True
