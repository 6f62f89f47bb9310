"""A per-key cache for values loaded from the database, safe against stale writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    """Caches `await load()` per key; an `invalidate` that happens while a load is in flight
    wins, so a slow reader can never put an older value back after a writer changed it."""

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._generations: dict[K, int] = {}
        # told of every invalidation, so other workers drop the key too (bot.cluster)
        self.on_invalidate: Callable[[K], None] = lambda key: None

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        if key in self._values:
            return self._values[key]
        generation = self._generations.get(key, 0)
        value = await load()
        if self._generations.get(key, 0) == generation:
            self._values[key] = value
        return value

    def peek(self, key: K) -> V | None:
        return self._values.get(key)

    def invalidate(self, key: K) -> None:
        self.forget(key)
        self.on_invalidate(key)

    def forget(self, key: K | None) -> None:
        """Drop `key` here only (None: everything), as told by another worker."""
        for k in list(self._values) if key is None else [key]:
            self._generations[k] = self._generations.get(k, 0) + 1
            self._values.pop(k, None)
