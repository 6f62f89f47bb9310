"""What several workers share, behind small interfaces: one process (the default) or Redis.

Steward runs as one process on one SQLite file unless `REDIS_URL` is set; then several identical
webhook workers (`python -m bot` processes with the same database, webhook and Redis) may run
behind a load balancer. Everything a worker would otherwise keep to itself and that must hold
for the bot as a whole lives behind one of these interfaces:

- `UpdateLedger`: each webhook update is handled once (Telegram retries a slow or failed
  delivery, and a balancer may send the retry to another worker);
- `ChatLocks`: one chat's updates are handled one at a time, different chats in parallel;
- the outbound pacer's budget (bot.outbound.TelegramPacer, its Redis twin in bot.cluster.shared);
- `InvalidationBus`: a cache dropped on one worker (a chat's settings) is dropped on all;
- the FSM storage (dialogue state), flood windows, album collection, the /report limiter,
  protection's memory of albums judged spam and the support desk's "asked to wait" notices;
- `PollingGuard`: long polling stays single-worker.

`InProcessCluster` is exactly the single-process behaviour the bot had before any of this:
nothing is locked or published, state lives in memory. `RedisCluster` (bot.cluster.shared)
implements the same interfaces on Redis primitives and aiogram's own Redis classes. Timed jobs
are split through the database instead (storage.leases, bot.cluster.jobs), because their truth
(a post's status, a giveaway's draw) is there already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

from bot.moderation.album_verdicts import AlbumVerdicts
from bot.moderation.flood import FloodTracker
from bot.moderation.reports import ReportLimiter
from bot.outbound import PacingPolicy, TelegramPacer
from bot.posting.albums import AlbumCollector
from bot.support.cooldown import CoolDownNotices

logger = logging.getLogger(__name__)

# A duplicate of an update still being handled elsewhere waits this long for the outcome before
# asking Telegram to deliver it again later (a non-2xx answer makes Telegram retry).
DUPLICATE_WAIT_SECONDS = 20.0
DONE_MEMORY_SECONDS = 86400  # Telegram keeps an undelivered update for 24 hours
# WORKER_LEASE_SECONDS: how long an update claim outlives a worker that died holding it; a
# chat's turn and a post being published are derived from it (bot.cluster.shared, jobs).
DEFAULT_LEASE_SECONDS = 60


def new_worker_id() -> str:
    """Readable in logs and in the leases table: host, pid, and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Claim(Enum):
    NEW = "new"  # this worker handles it
    BUSY = "busy"  # another delivery of it is being handled right now
    DONE = "done"  # handled already: answer Telegram and forget it


class UpdateLedger(Protocol):
    claim_seconds: int  # how long a claim outlives a worker that died holding it

    async def claim(self, update_id: int) -> Claim: ...

    async def keep(self, update_id: int) -> None:
        """Renew the claim while a long handler runs, so it does not expire under it."""

    async def finish(self, update_id: int) -> None: ...

    async def release(self, update_id: int) -> None:
        """The handling failed: a retry must be handled again."""


class ChatLocks(Protocol):
    def lock(self, chat_id: int, held: Any = None) -> contextlib.AbstractAsyncContextManager[Any]:
        """Hold the chat's lock for the body; `held`: a lock `Cluster.claim` took already."""


class InvalidationBus(Protocol):
    def announce(self, topic: str, key: Any) -> None:
        """Tell the other workers that `key` of `topic` changed (fire and forget)."""

    def subscribe(self, topic: str, forget: Callable[[Any], None]) -> None: ...


class PollingGuard(Protocol):
    async def hold(self) -> None:
        """Raise AnotherPollerError when another worker already long-polls this bot."""

    async def release(self) -> None: ...

    async def lost(self) -> AnotherPollerError:
        """Returns once the lock `hold` took is another worker's: the caller stops polling."""
        ...


class AnotherPollerError(RuntimeError):
    """A second long-polling worker: Telegram allows one getUpdates consumer per bot."""


@dataclass
class MemoryUpdateLedger:
    """One process: Telegram's retries of an update reach this same process, so a small memory
    of recent update ids is enough."""

    clock: Callable[[], float] = time.monotonic
    claim_seconds: int = 60
    _states: dict[int, tuple[Claim, float]] = field(default_factory=dict)

    async def claim(self, update_id: int) -> Claim:
        now = self.clock()
        if len(self._states) > 10_000:
            # Ids are inserted in claim order, so the stale ones lead the dict: drop from the front
            # and stop at the first fresh one, instead of scanning every id on every update (a
            # busy bot keeps more than 10,000 ids of the last hour, and paid that scan each time).
            while self._states:
                oldest, (_, at) = next(iter(self._states.items()))
                if now - at <= 3600:
                    break
                del self._states[oldest]
        state = self._states.get(update_id)
        if state is not None:
            return state[0]
        self._states[update_id] = (Claim.BUSY, now)
        return Claim.NEW

    async def keep(self, update_id: int) -> None:
        return None

    async def finish(self, update_id: int) -> None:
        self._states[update_id] = (Claim.DONE, self.clock())

    async def release(self, update_id: int) -> None:
        self._states.pop(update_id, None)


class NoChatLocks:
    """One process handles a chat's updates as aiogram does: concurrently, in arrival order."""

    @contextlib.asynccontextmanager
    async def lock(self, chat_id: int, held: Any = None) -> AsyncIterator[None]:
        yield None


class LocalBus:
    """One process: nothing to tell anybody."""

    def announce(self, topic: str, key: Any) -> None:
        return None

    def subscribe(self, topic: str, forget: Callable[[Any], None]) -> None:
        return None


class NoPollingGuard:
    """One process: the database's own lock (storage.database) keeps a second bot out."""

    async def hold(self) -> None:
        return None

    async def release(self) -> None:
        return None

    async def lost(self) -> AnotherPollerError:
        await asyncio.Event().wait()  # nothing to lose
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class FloodSubject:
    """The flood window a group message counts in: its tracker ("messages" or "edits", as
    bot.app names them), chat and sender (a member, or the chat a member writes as)."""

    tracker: str
    chat_id: int
    sender_id: int


class Cluster:
    """The single-process implementation of everything workers share (the default)."""

    shared = False  # True when several workers may run (REDIS_URL)

    def __init__(self) -> None:
        self.worker_id = new_worker_id()
        self.ledger: UpdateLedger = MemoryUpdateLedger()
        self.chat_locks: ChatLocks = NoChatLocks()
        self.bus: InvalidationBus = LocalBus()
        self.polling: PollingGuard = NoPollingGuard()

    async def claim(
        self,
        update_id: int,
        chat_id: int | None = None,
        state_key: str | None = None,
        flood: FloodSubject | None = None,
    ) -> tuple[Claim, Any]:
        """Claim an update and, for one of a chat's updates, try to take that chat's lock at
        once, reading the sender's dialogue state (`state_key`) and recording the message in
        its sender's flood window (`flood`) under it. Returns the claim and, when the lock was
        taken with it, a `Held` lock for `chat_locks.lock(chat_id, held)` (else None: take it
        the usual way). One process has no lock to take."""
        return await self.ledger.claim(update_id), None

    async def finish(self, update_id: int, lock: Any = None) -> None:
        """The update was handled: mark it done and (Redis) release the chat's lock with it."""
        await self.ledger.finish(update_id)

    def fsm_storage(self, durable: BaseStorage | None = None) -> BaseStorage:
        """Where dialogue state lives: `durable` (the database, bot.cluster.dialogs), so one
        process's restart keeps it; in memory without one (unit tests)."""
        return durable or MemoryStorage()

    def state_key(self, key: StorageKey) -> str | None:
        """Where the shared FSM storage keeps the dialogue state of `key`, for `claim` to read
        it in the same trip; None: one process reads its own memory."""
        return None

    def pacer(self, policy: PacingPolicy | None = None) -> TelegramPacer:
        return TelegramPacer(policy)

    def flood_tracker(self, name: str) -> FloodTracker:
        return FloodTracker()

    def album_collector(self) -> AlbumCollector:
        return AlbumCollector()

    def report_limiter(self) -> ReportLimiter:
        return ReportLimiter()

    def album_verdicts(self) -> AlbumVerdicts:
        return AlbumVerdicts()

    def cool_down_notices(self) -> CoolDownNotices:
        return CoolDownNotices()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def create_cluster(
    redis_url: str | None, bot_id: int = 0, lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> Cluster:
    if not redis_url:
        return Cluster()
    from bot.cluster.shared import RedisCluster

    return RedisCluster(redis_url, bot_id, lease_seconds)


class Renewal:
    """Calls `renew` every `every` seconds while its `async with` block runs (a claim or a lock
    stays ahead of its expiry for as long as its holder lives); `renew` returning False stops it
    early, and `stop()` ends it before the block does.

    A timer, not a task, waits for the next renewal: nearly every update is handled long before
    its first renewal is due, and a waiting task (an Event.wait under wait_for) cost each of
    them two more tasks and a timeout, some 30 µs of CPU per update for two renewals that never
    ran (bench/cluster.py, profiled with py-spy). A task exists only while a renewal runs. For
    the same reason this is a class with `__aenter__`/`__aexit__`, not a generator under
    `contextlib.asynccontextmanager`: every update enters two, and the generator's machinery
    cost 15 µs of CPU per block against under 5 here (timeit, the timer included).

    Stopping cancels the timer of the next renewal and lets a renewal in flight finish, never
    cancelling it in the middle: redis-py (8.1) swallows a cancellation that arrives while
    a command is on the wire, and such a task went on renewing for ever. An update's claim then
    never lapsed and its chat's lock was never released: the chat stood still."""

    __slots__ = ("_every", "_loop", "_name", "_renew", "_running", "_stopped", "_timer")

    def __init__(self, renew: Callable[[], Any], every: float, name: str) -> None:
        self._renew = renew
        self._every = every
        self._name = name
        self._stopped = False
        self._running: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> Renewal:
        self._timer = self._loop.call_later(self._every, self._due)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _due(self) -> None:
        self._timer = None
        if not self._stopped:
            self._running = self._loop.create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        try:
            renewed = await self._renew()
        except Exception:
            logger.exception("%s failed", self._name)
            renewed = None
        self._running = None
        if renewed is not False and not self._stopped:
            self._timer = self._loop.call_later(self._every, self._due)

    async def stop(self) -> None:
        """No renewal after this returns (the one in flight, if any, has finished)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None:
            await asyncio.wait({self._running})


def renewing(renew: Callable[[], Any], every: float, *, name: str = "renewal") -> Renewal:
    """`async with renewing(renew, every):` renews while the block runs (see Renewal)."""
    return Renewal(renew, every, name)


async def wait_for_outcome(
    ledger: UpdateLedger, update_id: int, timeout: float = DUPLICATE_WAIT_SECONDS
) -> Claim:
    """A duplicate arrived while the first delivery is being handled: wait for it to finish
    (DONE), or for its claim to lapse (the worker died; NEW: this one handles it now)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.05
    while True:
        claim = await ledger.claim(update_id)
        if claim is not Claim.BUSY or loop.time() >= deadline:
            return claim
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
