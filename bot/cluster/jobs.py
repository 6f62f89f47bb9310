"""Every timed job once, whichever worker's timer fires: claims in the database.

APScheduler 3 stays an in-process timer on every worker (its job store is never shared, as its
documentation requires); what a timer does is decided by the database:

- a recurring job (a digest, a prune) claims its *occurrence*, the fire time its trigger had
  scheduled, in `job_runs`; the first worker's claim wins and the others skip it;
- a singleton duty (the log outbox's sender) is done by whoever holds its lease in `leases`,
  renewed while alive and taken over once it runs out;
- a row being worked on (a post being published, a giveaway being drawn) carries the claimer's
  `lease_until`, renewed while it works (`heartbeat`): a restarting worker treats only rows whose
  lease ran out as interrupted, never a live worker's.

With one process (no REDIS_URL) every claim still goes through the same tables, and always wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from bot.clock import SYSTEM_CLOCK, Clock
from storage.leases import LeaseRepository

logger = logging.getLogger(__name__)

ROW_LEASE_SECONDS = 180  # a post or draw in progress; renewed every third of it
DUTY_LEASE_SECONDS = 30
RUNS_KEEP_SECONDS = 30 * 86400
LOOKBACK = timedelta(days=8)  # longer than the longest period of a recurring job (a week)


def occurrence_of(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The fire time a trigger had scheduled last, at or just before `now`: the same on every
    worker however late its timer woke up, so it names the occurrence."""
    fire = trigger.get_next_fire_time(None, now - LOOKBACK)
    last = None
    while fire is not None and fire <= now + timedelta(seconds=1):
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return last


class JobClaims:
    def __init__(
        self, leases: LeaseRepository, worker_id: str, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.leases = leases
        self.worker_id = worker_id
        self.clock = clock

    def once(
        self, name: str, trigger: BaseTrigger, job: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[Any]]:
        """`job` wrapped so that one worker runs each occurrence of `trigger`."""

        async def run_once() -> Any:
            now = datetime.fromtimestamp(self.clock(), UTC)
            fire = occurrence_of(trigger, now) or now.replace(second=0, microsecond=0)
            occurrence = fire.astimezone(UTC).isoformat(timespec="seconds")
            if not await self.leases.claim_run(name, occurrence, self.worker_id, int(self.clock())):
                logger.debug("%s at %s: another worker runs it", name, occurrence)
                return None
            return await job()

        run_once.__name__ = run_once.__qualname__ = f"once:{name}"
        return run_once

    async def prune(self) -> int:
        return await self.leases.prune_runs(int(self.clock()) - RUNS_KEEP_SECONDS)

    async def hold_duty(self, name: str, ttl: int = DUTY_LEASE_SECONDS) -> bool:
        """Take or renew the lease of a singleton duty; False while another worker has it."""
        return await self.leases.acquire(name, self.worker_id, int(self.clock()), ttl)

    async def drop_duty(self, name: str) -> None:
        await self.leases.release(name, self.worker_id)


@contextlib.asynccontextmanager
async def heartbeat(
    renew: Callable[[], Awaitable[Any]], every: float = ROW_LEASE_SECONDS / 3
) -> AsyncIterator[None]:
    """Call `renew` every `every` seconds while the body runs: a row's lease stays ahead of
    the clock for as long as the worker holding it is alive and busy with it."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await renew()
            except Exception:
                logger.exception("lease not renewed")

    task = asyncio.create_task(loop())
    try:
        yield None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
