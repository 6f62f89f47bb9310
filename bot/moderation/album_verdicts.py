"""What protection remembers of an album: its parts so far, and whether one was judged spam.

An album reaches the bot as separate messages. It counts as one message (towards flood, and
as one of a newcomer's clean messages): only its first part to arrive does. When one part is
judged spam, the whole album goes: the parts already seen are deleted with it, and the parts
still to come are deleted on arrival. With several workers the parts may reach different
workers, so the memory is shared (bot.cluster.shared.RedisAlbumVerdicts); alone, it is this
dictionary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

ALBUM_MEMORY_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class AlbumPart:
    """What is known of an album as one of its parts arrives."""

    first: bool  # no part of it came before: this one stands for the album as a message
    spam: bool  # a part was judged spam already: this one goes too


NO_ALBUM = AlbumPart(first=True, spam=False)  # a message on its own is its own first part


@dataclass
class AlbumVerdicts:
    clock: Callable[[], float] = time.monotonic
    _albums: dict[tuple[int, str], tuple[float, bool, list[int]]] = field(default_factory=dict)

    async def seen(self, chat_id: int, group: str, message_id: int) -> AlbumPart:
        """A part arrives and joins its album at once: parts handled side by side must not
        each take themselves for the first."""
        now = self.clock()
        for stale in [k for k, v in self._albums.items() if now - v[0] > ALBUM_MEMORY_SECONDS]:
            del self._albums[stale]
        entry = self._albums.get((chat_id, group))
        if entry is None:
            self._albums[(chat_id, group)] = (now, False, [message_id])
            return AlbumPart(first=True, spam=False)
        if message_id not in entry[2]:
            entry[2].append(message_id)
        return AlbumPart(first=False, spam=entry[1])

    async def remember(self, chat_id: int, group: str, message_id: int, spam: bool) -> None:
        """A part was judged: it joins its album, and a spam verdict sticks to the album."""
        key = (chat_id, group)
        entry = self._albums.get(key)
        ids = entry[2] if entry else []
        if message_id not in ids:
            ids.append(message_id)
        self._albums[key] = (self.clock(), spam or bool(entry and entry[1]), ids)

    async def parts(self, chat_id: int, group: str) -> list[int]:
        """The message ids of the album's parts seen so far."""
        entry = self._albums.get((chat_id, group))
        return list(entry[2]) if entry else []
