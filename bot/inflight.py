"""Work in progress that a shutdown waits for instead of cutting it off: updates being handled
(`bot.middlewares.InFlightMiddleware`) and posts on their way out (`Publisher`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

logger = logging.getLogger(__name__)


class InFlight:
    """Counts running pieces of one kind of work; `drain` waits until none runs."""

    def __init__(self, what: str) -> None:
        self.what = what  # for the log: "update(s)", "post(s)"
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def running(self) -> int:
        return self._running

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self._running += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until nothing runs; False if the timeout passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            logger.warning(
                "shutdown: %d %s still running after %.0fs", self._running, self.what, timeout
            )
            return False
        return True
