"""A time budget per event-loop iteration, so a burst of updates cannot stall the loop.

Why: asyncio runs, in one iteration, every callback that became ready during the previous one.
When 200 updates arrive together (a busy minute in 20 groups, or polling catching up after a
restart), all 200 take their first step in the same iteration, and when the model's worker
thread finishes a batch of 64 embeddings, the 64 waiting updates all resume in the same
iteration: 40 to 55 ms of one iteration in `bench/faq_cost.py`, during which no timer fires, no
reply goes out and no other update moves. Each step is short; there are just too many at once.

`checkpoint()` is awaited where such a crowd forms (an update's start, the return from an
embedding wait). The first caller of an iteration opens a slice of `SLICE_SECONDS`; callers
within it go on at once, later ones yield to the next iteration and try again there. So an
iteration runs at most a slice of admitted work plus one step, and the crowd is served in its
order over a few milliseconds. Without a crowd it costs a clock read: a lone update always goes
on at once.
"""

from __future__ import annotations

import asyncio
import time

SLICE_SECONDS = 0.004


class _Slice:
    """The current iteration's slice: when it opened (0: none open) and on which loop."""

    __slots__ = ("loop", "opened")

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.opened = 0.0


_slice = _Slice()


def _close_slice() -> None:
    _slice.opened = 0.0


async def checkpoint() -> None:
    """Go on now if this loop iteration's slice has room, else continue in a later iteration."""
    loop = asyncio.get_running_loop()
    while True:
        now = time.perf_counter()
        if not _slice.opened or _slice.loop is not loop:
            # the first caller of this iteration: open a slice, closed by a callback that runs
            # at the start of the next iteration (ahead of those who yield below)
            _slice.loop = loop
            _slice.opened = now
            loop.call_soon(_close_slice)
            return
        if now - _slice.opened < SLICE_SECONDS:
            return
        await asyncio.sleep(0)
