"""Albums arrive as several messages sharing a `media_group_id`; a post needs them as one.

The first part of an album waits a short moment for the others (Telegram delivers them within
a fraction of a second, often in the same getUpdates batch) and then hands the whole album to
its handler; the later parts only join it. aiogram handles updates concurrently, so the wait
does not hold anything else up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiogram.types import Message

ALBUM_WAIT_SECONDS = 1.0


@dataclass
class _Pending:
    messages: list[Message] = field(default_factory=list)


class AlbumCollector:
    def __init__(self, wait: float = ALBUM_WAIT_SECONDS) -> None:
        self.wait = wait
        self._pending: dict[tuple[int, str], _Pending] = {}

    async def collect(self, message: Message) -> list[Message] | None:
        """The whole album for its first part, None for the others; a lone message as is."""
        if message.media_group_id is None:
            return [message]
        key = (message.chat.id, message.media_group_id)
        pending = self._pending.get(key)
        if pending is not None:
            pending.messages.append(message)
            return None
        pending = self._pending[key] = _Pending([message])
        try:
            await asyncio.sleep(self.wait)
        finally:
            del self._pending[key]
        return sorted(pending.messages, key=lambda m: m.message_id)


async def album_lead(message: Message, albums: AlbumCollector) -> bool:
    """A filter for a typed answer: a lone message, or one album's first part once the album
    is whole; its later parts are no answer of their own (an album sent by mistake while the
    bot waits for a time was told "I don't understand" once per photo)."""
    return await albums.collect(message) is not None
