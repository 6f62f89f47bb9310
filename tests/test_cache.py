"""LoadingCache: a write during a slow read must win."""

from __future__ import annotations

import asyncio

from storage.cache import LoadingCache


async def test_invalidate_during_load_keeps_the_stale_value_out():
    cache: LoadingCache[int, str] = LoadingCache()
    release = asyncio.Event()

    async def slow_old() -> str:
        await release.wait()
        return "old"

    reader = asyncio.create_task(cache.get(1, slow_old))
    await asyncio.sleep(0)
    cache.invalidate(1)  # a writer changed the row meanwhile
    release.set()
    assert await reader == "old"  # the reader gets what it read...

    async def fresh() -> str:
        return "new"

    assert await cache.get(1, fresh) == "new"  # ...but it was not cached
    assert cache.peek(1) == "new"
