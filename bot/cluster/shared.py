"""The Redis implementation of what workers share (REDIS_URL); see bot.cluster for the map.

Only Redis primitives and aiogram's own Redis classes: `SET NX` with a TTL for update claims and
the polling lock, aiogram's `RedisEventIsolation` lock for a chat, `RedisStorage` for dialogue
state, pub/sub for cache invalidation, and small Lua scripts (atomic on the server, timed by the
server's clock, so workers' clocks never disagree) for the sliding windows of the send budget and
of flood detection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Message
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from bot.cluster import AnotherPollerError, Claim, Cluster
from bot.moderation.flood import FloodTracker
from bot.outbound import GLOBAL_KEY, Limit, PacingPolicy, TelegramPacer
from bot.posting.albums import ALBUM_WAIT_SECONDS, AlbumCollector

logger = logging.getLogger(__name__)

PREFIX = "steward"
CLAIM_SECONDS = 60  # a worker that dies mid-update frees it after this; renewed while it runs
DONE_SECONDS = 86400  # Telegram gives up on an update after 24 hours
CHAT_LOCK_SECONDS = 15  # how long a dead worker can hold up its chat; renewed while alive
POLLING_LOCK_SECONDS = 30
INVALIDATION_CHANNEL = f"{PREFIX}:invalidate"

# A worker's cost per update is mostly its round trips to Redis (bench/cluster.py: each costs
# the worker some 80 µs of CPU). What every update of a chat needs first, and last, therefore
# goes in one trip each.
#
# KEYS: the update's claim, then (optional) the chat's lock and the sender's dialogue state.
# ARGV: the claim's value and seconds, the lock's token and milliseconds. Returns {0, value}:
# claimed before (busy:<worker> or done); {1, 0}: claimed, but the chat's lock is someone
# else's (wait for it as usual); {1, 1[, state]}: claimed and locked, with the dialogue state as
# it is under that lock (aiogram reads it only once the lock is held, for the same reason).
_BEGIN_SCRIPT = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return {0, redis.call('GET', KEYS[1])}
end
if #KEYS < 2 or not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  return {1, 0}
end
if #KEYS < 3 then return {1, 1} end
return {1, 1, redis.call('GET', KEYS[3])}
"""
# KEYS: the update's claim, the chat's lock. ARGV: seconds to remember the update, the lock's
# token. Done first, then the lock released if it is still this worker's: a duplicate waiting
# for the chat finds the update done.
_FINISH_SCRIPT = """
redis.call('SET', KEYS[1], 'done', 'EX', ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('DEL', KEYS[2])
end
return 0
"""
# The dialogue state read with the claim, for the FSM storage to hand to aiogram once.
_PREFETCHED_STATE: ContextVar[tuple[str, bytes | None] | None] = ContextVar(
    "prefetched_state", default=None
)


@dataclass
class Held:
    """A chat's lock taken together with its update's claim, and the state read under it."""

    lock: Lock
    state_key: str | None
    state: bytes | None

    @contextlib.contextmanager
    def state_for_this_update(self) -> Any:
        token = _PREFETCHED_STATE.set((self.state_key, self.state) if self.state_key else None)
        try:
            yield
        finally:
            _PREFETCHED_STATE.reset(token)


class RedisUpdateLedger:
    """`steward:update:<id>` is `busy:<worker>` while handled (expiring, renewed) and `done`
    after, for a day."""

    def __init__(self, redis: Redis, worker_id: str) -> None:
        self.redis = redis
        self.busy = f"busy:{worker_id}"
        self.claim_seconds = CLAIM_SECONDS

    @staticmethod
    def key(update_id: int) -> str:
        return f"{PREFIX}:update:{update_id}"

    async def claim(self, update_id: int) -> Claim:
        key = self.key(update_id)
        if await self.redis.set(key, self.busy, nx=True, ex=self.claim_seconds):
            return Claim.NEW
        value = await self.redis.get(key)
        if value is None:  # lapsed between the two calls: try once more
            taken = await self.redis.set(key, self.busy, nx=True, ex=self.claim_seconds)
            return Claim.NEW if taken else Claim.BUSY
        return Claim.DONE if value == b"done" else Claim.BUSY

    async def keep(self, update_id: int) -> None:
        await self.redis.expire(self.key(update_id), self.claim_seconds)

    async def finish(self, update_id: int) -> None:
        await self.redis.set(self.key(update_id), "done", ex=DONE_SECONDS)

    async def release(self, update_id: int) -> None:
        await self.redis.delete(self.key(update_id))


class RedisChatLocks:
    """aiogram's RedisEventIsolation lock, keyed by the chat alone, renewed while held.

    aiogram (3.31) takes its isolation lock inside FSMContextMiddleware with the FSM key, which
    under the default strategy (USER_IN_CHAT) is one user in one chat: two members of a group
    would not wait for each other, and the FSM state is read before the lock is taken. Here the
    same lock (redis-py's Lock under aiogram's key builder) is taken before the update enters the
    dispatcher, under a key whose user is the chat itself, so the whole chat is one queue and the
    state read inside is fresh. aiogram's fixed 60 s timeout would either cut a long handler
    short or hold a chat for a minute after its worker died: this one lasts `seconds` and is
    renewed while its holder lives.
    """

    def __init__(self, redis: Redis, bot_id: int) -> None:
        self.redis = redis
        self.key_builder = DefaultKeyBuilder(prefix=f"{PREFIX}:chat")
        self.bot_id = bot_id
        self.seconds = CHAT_LOCK_SECONDS

    def name(self, chat_id: int) -> str:
        key = StorageKey(bot_id=self.bot_id, chat_id=chat_id, user_id=chat_id)
        return self.key_builder.build(key, "lock")

    def new_lock(self, chat_id: int) -> Lock:
        return self.redis.lock(self.name(chat_id), timeout=self.seconds, sleep=0.02)

    @contextlib.asynccontextmanager
    async def lock(self, chat_id: int, held: Held | None = None) -> AsyncIterator[Lock]:
        if held is not None:
            lock = held.lock
        else:
            lock = self.new_lock(chat_id)
            await lock.acquire()
        renewing = asyncio.create_task(self._renew(lock))
        try:
            yield lock
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            if lock.local.token is not None:  # not released already with its update's finish
                with contextlib.suppress(LockError):  # it ran out: the next holder may have it
                    await lock.release()

    async def _renew(self, lock: Lock) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await lock.reacquire()
            except (LockError, RedisError) as exc:
                logger.warning("chat lock %s not renewed: %s", lock.name, exc)
                return


class RedisBus:
    """Invalidations over pub/sub: `[worker, topic, key]` in JSON; a worker ignores its own.

    A worker that loses the connection may miss messages, so on every (re)subscription it
    drops all its caches: stale for a moment at most, never for good."""

    def __init__(self, redis: Redis, worker_id: str) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self._subscribers: dict[str, list[Callable[[Any], None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self.ready = asyncio.Event()
        self._closing = False

    def subscribe(self, topic: str, forget: Callable[[Any], None]) -> None:
        self._subscribers.setdefault(topic, []).append(forget)

    def announce(self, topic: str, key: Any) -> None:
        message = json.dumps([self.worker_id, topic, key])
        task = asyncio.get_running_loop().create_task(self._publish(message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, message: str) -> None:
        try:
            await self.redis.publish(INVALIDATION_CHANNEL, message)
        except RedisError as exc:
            logger.warning("cache invalidation not announced: %s", exc)

    def _forget_all(self) -> None:
        for forgets in self._subscribers.values():
            for forget in forgets:
                forget(None)

    def _receive(self, data: bytes) -> None:
        try:
            worker, topic, key = json.loads(data)
        except (ValueError, TypeError):
            return
        if worker == self.worker_id:
            return
        for forget in self._subscribers.get(topic, []):
            forget(key)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="cluster-bus")
        await asyncio.wait_for(self.ready.wait(), 10)

    async def _listen(self) -> None:
        while not self._closing:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(INVALIDATION_CHANNEL)
                self._forget_all()
                self.ready.set()
                while not self._closing:
                    message = await pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self._receive(message["data"])
            except RedisError as exc:
                if self._closing:
                    return
                logger.warning("cache invalidations: %s; subscribing again", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=2)
        self._closing = True
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=3)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


# KEYS: chat pause, chat window, overall window, sequence. ARGV: cost, overall count, overall
# window ms, then count and window ms per chat limit. Returns 0 (taken) or the wait in ms.
_PACE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local wait = 0
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then wait = paused end
local function check(key, count, window)
  local from = now - window
  local in_window = redis.call('ZCOUNT', key, '(' .. from, '+inf')
  local excess = in_window + math.min(cost, count) - count
  if excess > 0 then
    local oldest = redis.call('ZRANGEBYSCORE', key, '(' .. from, '+inf', 'WITHSCORES',
                              'LIMIT', excess - 1, 1)
    local free_at = tonumber(oldest[2]) + window
    if free_at - now > wait then wait = free_at - now end
  end
end
local horizon = tonumber(ARGV[3])
check(KEYS[3], tonumber(ARGV[2]), tonumber(ARGV[3]))
local chat_horizon = 0
for i = 4, #ARGV, 2 do
  local window = tonumber(ARGV[i + 1])
  check(KEYS[2], tonumber(ARGV[i]), window)
  if window > chat_horizon then chat_horizon = window end
end
if wait > 0 then return math.ceil(wait) end
local seq = redis.call('INCRBY', KEYS[4], cost)
for i = 0, cost - 1 do
  redis.call('ZADD', KEYS[3], now, seq - i)
  redis.call('ZADD', KEYS[2], now, seq - i)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - horizon)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - chat_horizon)
redis.call('PEXPIRE', KEYS[3], horizon + 1000)
redis.call('PEXPIRE', KEYS[2], chat_horizon + 1000)
return 0
"""


class RedisPacer(TelegramPacer):
    """The same limits as TelegramPacer, counted in Redis for all workers together: a sliding
    window log per chat and one overall (sorted sets of send times), checked and recorded in one
    script so two workers can never both take the last slot.

    The in-process bookkeeping still records this worker's own sends, for `wait_hint` (a hint,
    never a promise: the script decides)."""

    def __init__(self, redis: Redis, policy: PacingPolicy | None = None) -> None:
        super().__init__(policy)
        self.redis = redis
        self._script = redis.register_script(_PACE_SCRIPT)
        self._pending: set[asyncio.Task[Any]] = set()

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [
            f"{PREFIX}:pace:pause:{key}",
            f"{PREFIX}:pace:chat:{key}",
            f"{PREFIX}:pace:{GLOBAL_KEY}",
            f"{PREFIX}:pace:seq",
        ]

    async def _take(self, key: str, limits: list[Limit], cost: int) -> float:
        overall = self.policy.overall
        args: list[int] = [cost, overall.count, int(overall.window * 1000)]
        for limit in limits:
            args += [limit.count, int(limit.window * 1000)]
        wait_ms = int(await self._script(keys=self._keys(key), args=args))
        if wait_ms > 0:
            return wait_ms / 1000
        await super()._take(key, limits, cost)  # this worker's own record, for hints
        return 0.0

    def pause_chat(self, chat_id: int | str, seconds: float) -> None:
        super().pause_chat(chat_id, seconds)
        task = asyncio.get_running_loop().create_task(self._pause(str(chat_id), seconds))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _pause(self, key: str, seconds: float) -> None:
        name = self._keys(key)[0]
        ms = max(1, math.ceil(seconds * 1000))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(name, 1, px=ms, nx=True)
            pipe.pexpire(name, ms, gt=True)
            await pipe.execute()


# KEYS: the member's window. ARGV: count, seconds. A list of server times, trimmed to count + 1.
_FLOOD_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local count = tonumber(ARGV[1])
local seconds = tonumber(ARGV[2])
redis.call('RPUSH', KEYS[1], tostring(now))
redis.call('LTRIM', KEYS[1], -(count + 1), -1)
redis.call('EXPIRE', KEYS[1], math.ceil(seconds) + 60)
if redis.call('LLEN', KEYS[1]) > count then
  local first = tonumber(redis.call('LINDEX', KEYS[1], 0))
  if now - first <= seconds then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
return 0
"""


class RedisFloodTracker(FloodTracker):
    """FloodTracker's windows in Redis, so a member's burst spread over workers still counts."""

    def __init__(self, redis: Redis, name: str) -> None:
        super().__init__()
        self.redis = redis
        self.name = name
        self._script = redis.register_script(_FLOOD_SCRIPT)

    async def check(
        self, chat_id: int, user_id: int, now: float, count: int, seconds: float
    ) -> bool:
        key = f"{PREFIX}:flood:{self.name}:{chat_id}:{user_id}"
        return bool(await self._script(keys=[key], args=[count, seconds]))


class RedisAlbumCollector(AlbumCollector):
    """An album's parts may reach different workers: each part is pushed to a list, the first
    to claim the album waits for the others and takes the whole list."""

    def __init__(self, redis: Redis, wait: float = ALBUM_WAIT_SECONDS) -> None:
        super().__init__(wait)
        self.redis = redis

    async def collect(self, message: Message) -> list[Message] | None:
        if message.media_group_id is None:
            return [message]
        key = f"{PREFIX}:album:{message.chat.id}:{message.media_group_id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, message.model_dump_json(exclude_unset=True))
            pipe.expire(key, 60)
            pipe.set(f"{key}:first", 1, nx=True, ex=60)
            _, _, first = await pipe.execute()
        if not first:
            return None
        await asyncio.sleep(self.wait)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            raw, _ = await pipe.execute()
        parts = [Message.model_validate_json(item).as_(message.bot) for item in raw]
        return sorted(parts, key=lambda m: m.message_id)


class RedisPollingGuard:
    """Long polling stays single-worker: the poller holds `steward:polling` (renewed)."""

    KEY = f"{PREFIX}:polling"
    _RENEW = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('EXPIRE', KEYS[1], ARGV[2]) else return 0 end"
    )
    _RELEASE = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('DEL', KEYS[1]) else return 0 end"
    )

    def __init__(self, redis: Redis, worker_id: str) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self._task: asyncio.Task[None] | None = None

    async def hold(self) -> None:
        if not await self.redis.set(self.KEY, self.worker_id, nx=True, ex=POLLING_LOCK_SECONDS):
            holder = await self.redis.get(self.KEY)
            raw = holder or b"?"
            name = raw.decode() if isinstance(raw, bytes) else raw
            raise AnotherPollerError(
                "another worker is already long-polling this bot "
                f"({name}); long polling runs on one worker only: stop it, "
                "or set WEBHOOK_URL on every worker to run several."
            )
        self._task = asyncio.create_task(self._renew(), name="polling-lock")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(POLLING_LOCK_SECONDS / 3)
            try:
                held = await self.redis.eval(
                    self._RENEW, 1, self.KEY, self.worker_id, POLLING_LOCK_SECONDS
                )
            except RedisError as exc:
                logger.warning("polling lock not renewed: %s", exc)
                continue
            if not held:
                logger.error("polling lock lost to another worker")

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(RedisError):
                await self.redis.eval(self._RELEASE, 1, self.KEY, self.worker_id)


class SharedRedisStorage(RedisStorage):
    """aiogram's RedisStorage on the cluster's connection pool. aiogram closes the storage
    first thing at shutdown, before the handlers still running have finished; the pool is
    closed with the cluster instead, last."""

    async def close(self) -> None:
        return None

    async def get_state(self, key: StorageKey) -> str | None:
        prefetched = _PREFETCHED_STATE.get()
        if prefetched is not None and prefetched[0] == self.key_builder.build(key, "state"):
            _PREFETCHED_STATE.set(None)  # once: a handler's own later read goes to Redis
            value = prefetched[1]
            return value.decode("utf-8") if isinstance(value, bytes) else value
        return await super().get_state(key)


class RedisCluster(Cluster):
    shared = True

    def __init__(self, url: str, bot_id: int = 0) -> None:
        super().__init__()
        self.url = url
        self.redis = Redis.from_url(url)
        self.ledger = RedisUpdateLedger(self.redis, self.worker_id)
        self.chat_locks = RedisChatLocks(self.redis, bot_id)
        self.bus: RedisBus = RedisBus(self.redis, self.worker_id)
        self.polling = RedisPollingGuard(self.redis, self.worker_id)
        self._begin = self.redis.register_script(_BEGIN_SCRIPT)
        self._finish = self.redis.register_script(_FINISH_SCRIPT)
        self.storage = SharedRedisStorage(
            self.redis, key_builder=DefaultKeyBuilder(prefix=f"{PREFIX}:fsm", with_destiny=True)
        )

    def fsm_storage(self) -> BaseStorage:
        return self.storage

    def state_key(self, key: StorageKey) -> str:
        """Where the FSM storage keeps the dialogue state of `key`."""
        return self.storage.key_builder.build(key, "state")

    async def claim(
        self, update_id: int, chat_id: int | None = None, state_key: str | None = None
    ) -> tuple[Claim, Held | None]:
        ledger, locks = self.ledger, self.chat_locks
        if not isinstance(ledger, RedisUpdateLedger) or not isinstance(locks, RedisChatLocks):
            return await super().claim(update_id, chat_id, state_key)
        keys: list[str | bytes | memoryview] = [ledger.key(update_id)]
        lock = None
        if chat_id is not None:
            lock = locks.new_lock(chat_id)
            keys.append(lock.name)
            if state_key is not None:
                keys.append(state_key)
        token = uuid.uuid4().hex.encode()
        reply = await self._begin(
            keys=keys,
            args=[ledger.busy, ledger.claim_seconds, token, int(locks.seconds * 1000)],
        )
        if not reply[0]:
            return (Claim.DONE if reply[1] == b"done" else Claim.BUSY), None
        if lock is None or not reply[1]:
            return Claim.NEW, None
        lock.local.token = token  # as Lock.acquire() leaves it: renewed and released by it
        return Claim.NEW, Held(lock, state_key, reply[2] if len(reply) > 2 else None)

    async def finish(self, update_id: int, lock: Any = None) -> None:
        ledger = self.ledger
        token = lock.local.token if isinstance(lock, Lock) else None
        if token is None or not isinstance(ledger, RedisUpdateLedger):
            await ledger.finish(update_id)
            return
        keys: list[str | bytes | memoryview] = [ledger.key(update_id), lock.name]
        if await self._finish(keys=keys, args=[DONE_SECONDS, token]):
            lock.local.token = None  # released: the lock's context has nothing left to do

    def pacer(self, policy: PacingPolicy | None = None) -> TelegramPacer:
        return RedisPacer(self.redis, policy)

    def flood_tracker(self, name: str) -> FloodTracker:
        return RedisFloodTracker(self.redis, name)

    def album_collector(self) -> AlbumCollector:
        return RedisAlbumCollector(self.redis)

    async def start(self) -> None:
        await self.redis.ping()  # a wrong REDIS_URL stops the start here, with Redis's words
        await self.bus.start()

    async def close(self) -> None:
        await self.polling.release()
        await self.bus.close()
        await self.redis.aclose()
