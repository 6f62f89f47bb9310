"""Basic groups upgraded to supergroups: where each went, and moving its rows once.

Telegram says so in three ways, any of which may come first or not at all: the old chat's last
message (`migrate_to_chat_id`), the new chat's first (`migrate_from_chat_id`), and a 400 answer
to a call naming the old id (`parameters.migrate_to_chat_id`). Each of them calls `migrate`;
moving is idempotent, so the others find nothing left to do. The map of known upgrades lets the
outbound layer address the new chat directly instead of failing first every time (a configured
LOG_CHAT_ID or SUPPORT_CHAT_ID may still name the old one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.clock import SYSTEM_CLOCK, Clock
from storage.chat_migration import ChatMigrationRepository, MoveResult

logger = logging.getLogger(__name__)

MAX_HOPS = 5  # an upgraded group cannot be upgraded again; a chain means a bad record

Listener = Callable[[MoveResult], Awaitable[None]]
Preparation = Callable[[int, int], Awaitable[None]]


class ChatMigrations:
    def __init__(self, repo: ChatMigrationRepository, clock: Clock = SYSTEM_CLOCK):
        self.repo = repo
        self.clock = clock
        self._to: dict[int, int] = {}
        self._prepare: list[Preparation] = []
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()

    async def load(self) -> int:
        self._to = await self.repo.known()
        return len(self._to)

    def before_move(self, prepare: Preparation) -> None:
        """Runs before rows move, e.g. to write counters still held in memory."""
        self._prepare.append(prepare)

    def after_move(self, listener: Listener) -> None:
        """Runs after rows moved (caches, timers, announcements); a failing listener is logged
        and does not stop the others."""
        self._listeners.append(listener)

    def new_id_of(self, chat_id: int) -> int | None:
        """The supergroup an upgraded group became, or None."""
        new = self._to.get(chat_id)
        hops = 0
        while new is not None and new in self._to and hops < MAX_HOPS:
            new = self._to[new]
            hops += 1
        return new

    def current(self, chat_id: int) -> int:
        """The id the chat has now: a button or record made before an upgrade names the old."""
        return self.new_id_of(chat_id) or chat_id

    def is_old(self, chat_id: int) -> bool:
        return chat_id in self._to

    async def migrate(self, old: int, new: int) -> MoveResult | None:
        if old == new or old >= 0 or new >= 0:
            logger.warning("ignoring a chat migration from %s to %s", old, new)
            return None
        async with self._lock:
            for prepare in self._prepare:
                await prepare(old, new)
            result = await self.repo.move(old, new, int(self.clock()))
            self._to[old] = new
        if not (result.first or result.changed):
            return result
        logger.info(
            "group %s was upgraded to supergroup %s: moved %s",
            old,
            new,
            ", ".join(f"{table} {n}" for table, n in sorted(result.rows.items())) or "nothing",
        )
        for listener in self._listeners:
            try:
                await listener(result)
            except Exception:
                logger.exception("after moving chat %s to %s", old, new)
        return result
