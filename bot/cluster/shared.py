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
import itertools
import json
import logging
import math
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Message
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.lock import Lock
from redis.connection import HiredisRespSerializer
from redis.exceptions import LockError, RedisError
from redis.utils import HIREDIS_AVAILABLE

from bot.cluster import (
    DEFAULT_LEASE_SECONDS,
    AnotherPollerError,
    Claim,
    Cluster,
    FloodSubject,
    Renewal,
    renewing,
)
from bot.moderation.album_verdicts import ALBUM_MEMORY_SECONDS, AlbumPart, AlbumVerdicts
from bot.moderation.flood import FloodTracker, is_burst
from bot.moderation.reports import (
    REPORT_ACTION_MEMORY_SECONDS,
    REPORT_WINDOW_SECONDS,
    REPORTS_PER_WINDOW,
    ReportLimiter,
)
from bot.outbound import (
    GLOBAL_KEY,
    IN_FLIGHT_POLL_SECONDS,
    IN_FLIGHT_SECONDS,
    Limit,
    PacingPolicy,
    Slot,
    TelegramPacer,
)
from bot.posting.albums import ALBUM_WAIT_SECONDS, AlbumCollector
from bot.support.cooldown import RELAY_WINDOW, CoolDownNotices

logger = logging.getLogger(__name__)

PREFIX = "steward"
CLAIM_SECONDS = DEFAULT_LEASE_SECONDS  # a dead worker's update is free after this; renewed
DONE_SECONDS = 86400  # Telegram gives up on an update after 24 hours
CHAT_LOCK_SECONDS = 15  # how long a dead worker can hold up its chat; renewed while alive
MIN_CHAT_LOCK_SECONDS = 2.0  # renewed every third: shorter would lapse in an ordinary stall
LOCK_NAMES_CACHED = 100_000  # chats whose lock name a worker keeps (then it starts afresh)


def chat_lock_seconds(lease_seconds: int) -> float:
    """A quarter of the update claim (15 s of the default 60), never under 2 s."""
    return max(MIN_CHAT_LOCK_SECONDS, lease_seconds / 4)


POLLING_LOCK_SECONDS = 30
INVALIDATION_CHANNEL = f"{PREFIX}:invalidate"
ANNOUNCE_PATIENCE = 60  # seconds an invalidation is retried while Redis does not take it
REDIS_CONNECTIONS = 64  # per worker; commands beyond wait for a free one
REDIS_CONNECTION_WAIT = 30  # seconds, then RedisError

# A member's flood window, one definition for the two scripts that record a message in it (the
# claim's, and _FLOOD_SCRIPT's when the claim did not): the server's time pushed to a list of
# the latest `keep` times, the list kept `seconds` after the member's last message. Returns now.
_RECORD_FLOOD = """
local function record_flood(key, keep, seconds)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  redis.call('RPUSH', key, tostring(now))
  redis.call('LTRIM', key, -tonumber(keep), -1)
  redis.call('EXPIRE', key, seconds)
  return now
end
"""

# A worker's cost per update is mostly its round trips to Redis (bench/cluster.py: each costs
# the worker some 80 µs of CPU). What every update of a chat needs first, and last, therefore
# goes in one trip each, and the trips of updates that start or finish together share one
# (TickBatch).
#
# KEYS: the update's claim, then (optional) the chat's lock, the sender's dialogue state (when
# ARGV[5] is 1) and the sender's flood window (when ARGV[6] is not 0). ARGV: the claim's value and
# seconds, the lock's token and milliseconds, whether a state key is given, how many of the
# window's latest times to return (0: no window given), for how many seconds the window is kept
# and how many times at most. Returns {0, value}: claimed before
# (busy:<worker> or done); {1, 0}: claimed, but the chat's lock is someone else's (wait for it
# as usual); {1, 1, state, window}: claimed and locked, with the dialogue state as it is under
# that lock (aiogram reads it only once the lock is held, for the same reason) and the sender's
# recent message times, this message's included (as _FLOOD_SCRIPT records them), in one string:
# a reply of 32 strings cost the worker 70 µs more to parse than one (redis-py 8.1).
_BEGIN_SCRIPT = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return {0, redis.call('GET', KEYS[1])}
end
if #KEYS < 2 or not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  return {1, 0}
end
local state = false
local window = false
local next_key = 3
if ARGV[5] == '1' then
  state = redis.call('GET', KEYS[3])
  next_key = 4
end
if ARGV[6] ~= '0' then
  local flood = KEYS[next_key]
  record_flood(flood, ARGV[8], ARGV[7])
  window = table.concat(redis.call('LRANGE', flood, -tonumber(ARGV[6]), -1), ',')
end
return {1, 1, state, window}
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
# Runs a script (its body a function of its own KEYS and ARGV) once per call of a batch. KEYS:
# every call's keys in turn. ARGV: the number of calls, each call's number of keys and of
# arguments, then every call's arguments in turn. Returns the calls' replies in order.
_BATCH_SCRIPT = """
local function call(KEYS, ARGV)
%s
end
local calls = tonumber(ARGV[1])
local replies = {}
local key_at, arg_at = 1, 2 + 2 * calls
for c = 1, calls do
  local keys, args = {}, {}
  for i = 1, tonumber(ARGV[2 * c]) do
    keys[i] = KEYS[key_at]
    key_at = key_at + 1
  end
  for i = 1, tonumber(ARGV[2 * c + 1]) do
    args[i] = ARGV[arg_at]
    arg_at = arg_at + 1
  end
  replies[c] = call(keys, args)
end
return replies
"""


_Call = tuple[list[Any], list[Any], "asyncio.Future[Any]"]


class TickBatch:
    """Calls of one script made in the same turn of the event loop, sent to Redis together.

    Under load a worker's requests arrive together (the event loop reads several sockets in one
    turn), and each would pay a round trip of its own, some 80 µs of the worker's CPU each in
    redis-py 8.1 (syscalls, the pool, the parser); together they pay about one. Alone, a call
    waits for nothing: the batch is sent at the end of the turn it was made in. What each call
    does is the script's own (atomic per call; a batch is not a transaction)."""

    def __init__(self, redis: Redis, body: str) -> None:
        self._script = redis.register_script(_BATCH_SCRIPT % body)
        self._pending: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, keys: list[Any], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._send_pending)
        self._pending.append((keys, args, future))
        return await future

    def _send_pending(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch), name="redis-batch")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call]) -> None:
        keys: list[Any] = []
        counts: list[Any] = [len(batch)]
        args: list[Any] = []
        for call_keys, call_args, _ in batch:
            keys += call_keys
            args += call_args
            counts += [len(call_keys), len(call_args)]
        try:
            replies = await self._script(keys=keys, args=counts + args)
        except asyncio.CancelledError:
            for *_, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            self._fail(batch, exc)
            return
        if not isinstance(replies, list) or len(replies) != len(batch):
            self._fail(batch, RedisError(f"{len(batch)} calls, replies: {replies!r}"))
            return
        for (*_, future), reply in zip(batch, replies, strict=True):
            if not future.done():
                future.set_result(reply)

    @staticmethod
    def _fail(batch: list[_Call], exc: Exception) -> None:
        for *_, future in batch:
            if not future.done():
                future.set_exception(exc)


# The dialogue state and the flood window read with the claim, for the FSM storage to hand to
# aiogram once and for the flood tracker to decide on without another trip.
_PREFETCHED_STATE: ContextVar[tuple[str, bytes | None] | None] = ContextVar(
    "prefetched_state", default=None
)
_PREFETCHED_FLOOD: ContextVar[tuple[str, bytes] | None] = ContextVar(
    "prefetched_flood", default=None
)
# A claim reads a flood window's latest FLOOD_WINDOW times: enough for a rule of up to
# FLOOD_WINDOW - 1 messages; a longer rule is checked in Redis, up to FLOOD_KEEP - 1 messages.
FLOOD_WINDOW = 32
FLOOD_KEEP = 101
FLOOD_WINDOW_SECONDS = 3600  # an idle member's window is dropped after this (rules are shorter)


def flood_key(tracker: str, chat_id: int, sender_id: int) -> str:
    return f"{PREFIX}:flood:{tracker}:{chat_id}:{sender_id}"


@dataclass
class Held:
    """A chat's lock taken together with its update's claim, and what was read under it."""

    lock: Lock
    state_key: str | None
    state: bytes | None
    flood_key: str | None = None
    flood_window: bytes | None = None  # the sender's latest message times, comma-separated

    @contextlib.contextmanager
    def state_for_this_update(self) -> Any:
        state = _PREFETCHED_STATE.set((self.state_key, self.state) if self.state_key else None)
        flood = _PREFETCHED_FLOOD.set(
            (self.flood_key, self.flood_window)
            if self.flood_key and self.flood_window is not None
            else None
        )
        try:
            yield
        finally:
            _PREFETCHED_FLOOD.reset(flood)
            _PREFETCHED_STATE.reset(state)


class RedisUpdateLedger:
    """`steward:update:<id>` is `busy:<worker>` while handled (expiring, renewed) and `done`
    after, for a day."""

    def __init__(self, redis: Redis, worker_id: str, claim_seconds: int = CLAIM_SECONDS) -> None:
        self.redis = redis
        self.busy = f"busy:{worker_id}"
        self.claim_seconds = claim_seconds

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

    def __init__(self, redis: Redis, bot_id: int, seconds: float = CHAT_LOCK_SECONDS) -> None:
        self.redis = redis
        self.key_builder = DefaultKeyBuilder(prefix=f"{PREFIX}:chat")
        self.bot_id = bot_id
        self.seconds = seconds
        # a chat's lock name, built once: aiogram's key builder took 4 µs per update
        self._names: dict[int, str] = {}

    def name(self, chat_id: int) -> str:
        name = self._names.get(chat_id)
        if name is None:
            if len(self._names) >= LOCK_NAMES_CACHED:
                self._names.clear()
            key = StorageKey(bot_id=self.bot_id, chat_id=chat_id, user_id=chat_id)
            name = self._names[chat_id] = self.key_builder.build(key, "lock")
        return name

    def new_lock(self, chat_id: int) -> Lock:
        # thread_local=False: the holder is a task, not a thread (all tasks share one thread),
        # and a thread-local token costs every update an attribute lookup through it
        return self.redis.lock(
            self.name(chat_id), timeout=self.seconds, sleep=0.02, thread_local=False
        )

    def lock(self, chat_id: int, held: Held | None = None) -> HeldChatLock:
        """`async with locks.lock(chat_id, held) as lock:` the chat's lock (the one taken with
        the update's claim, or waited for now), renewed until the block ends, then released
        unless its update's finish released it already."""
        return HeldChatLock(self, chat_id, held)

    @staticmethod
    async def _renew(lock: Lock) -> bool:
        try:
            await lock.reacquire()
        except (LockError, RedisError) as exc:
            logger.warning("chat lock %s not renewed: %s", lock.name, exc)
            return False
        return True


class HeldChatLock:
    """RedisChatLocks.lock's block, as a class rather than a generator under
    `contextlib.asynccontextmanager`: every update of a chat enters one, and the generator's
    machinery cost several µs of CPU each (see bot.cluster.Renewal)."""

    __slots__ = ("_chat_id", "_held", "_lock", "_locks", "_renewal")

    def __init__(self, locks: RedisChatLocks, chat_id: int, held: Held | None) -> None:
        self._locks = locks
        self._chat_id = chat_id
        self._held = held
        self._lock: Lock | None = None
        self._renewal: Renewal | None = None

    async def __aenter__(self) -> Lock:
        locks = self._locks
        if self._held is not None:
            lock = self._held.lock
        else:
            lock = locks.new_lock(self._chat_id)
            await lock.acquire()
        self._lock = lock
        self._renewal = renewing(lambda: locks._renew(lock), locks.seconds / 3, name="chat-lock")
        await self._renewal.__aenter__()
        return lock

    async def __aexit__(self, *exc_info: object) -> None:
        lock = self._lock
        try:
            if self._renewal is not None:
                await self._renewal.stop()
        finally:
            if lock is not None and lock.local.token is not None:  # not released with its finish
                try:
                    await lock.release()
                except LockError:
                    pass  # it ran out: the next holder may have it
                except RedisError as exc:  # unreachable: it runs out within seconds
                    logger.warning("chat lock %s not released: %s", lock.name, exc)


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
        """Sent again until Redis takes it (for a minute at most): a worker whose subscription
        stayed up meanwhile has no other reason to drop the stale entry."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANNOUNCE_PATIENCE
        delay = 0.2
        while True:
            try:
                await self.redis.publish(INVALIDATION_CHANNEL, message)
                return
            except RedisError as exc:
                if self._closing or loop.time() + delay > deadline:
                    logger.warning("cache invalidation not announced: %s", exc)
                    return
                logger.info("cache invalidation not announced yet (%s); trying again", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

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


# KEYS: chat pause, chat window, overall window, sequence. ARGV: cost, in-flight ms, poll ms,
# then count and window ms per limit (the overall one first, then the chat's). Returns {wait ms,
# 0}, or {0, the last message's id} when taken: the messages are then in flight, scored at when
# the flight is presumed over (now + in-flight ms) until `_DONE_SCRIPT` scores their answer.
_PACE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local flight = tonumber(ARGV[2])
local poll = tonumber(ARGV[3])
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
    local score = tonumber(oldest[2])
    local free_in = poll  -- still in flight: its answer will say
    if score <= now then free_in = score + window - now end
    if free_in > wait then wait = free_in end
  end
end
local horizon = tonumber(ARGV[5])
check(KEYS[3], tonumber(ARGV[4]), horizon)
local chat_horizon = 0
for i = 6, #ARGV, 2 do
  local window = tonumber(ARGV[i + 1])
  check(KEYS[2], tonumber(ARGV[i]), window)
  if window > chat_horizon then chat_horizon = window end
end
if wait > 0 then return {math.ceil(wait), 0} end
local seq = redis.call('INCRBY', KEYS[4], cost)
for i = 0, cost - 1 do
  redis.call('ZADD', KEYS[3], now + flight, seq - i)
  redis.call('ZADD', KEYS[2], now + flight, seq - i)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - horizon)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - chat_horizon)
local function keep(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
keep(KEYS[3], flight + horizon + 1000)
keep(KEYS[2], flight + chat_horizon + 1000)
return {0, seq}
"""
# KEYS: chat window, overall window. ARGV: the last message's id, cost, 1 if the request left
# (its messages now count from their answer) or 0 if it never did (their place is free). The
# keys live on at least as long as the window after now (ARGV[4] ms).
_DONE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = tonumber(ARGV[1])
for i = 0, tonumber(ARGV[2]) - 1 do
  for _, key in ipairs(KEYS) do
    if ARGV[3] == '1' then
      redis.call('ZADD', key, now, seq - i)
    else
      redis.call('ZREM', key, seq - i)
    end
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < tonumber(ARGV[4]) then redis.call('PEXPIRE', key, ARGV[4]) end
end
return 0
"""
# Redis's TIME is read in whole milliseconds: a window a little longer than Telegram's keeps a
# rounding from putting 31 in a second.
WINDOW_MARGIN_MS = 2


class RedisPacer(TelegramPacer):
    """The same limits as TelegramPacer, counted in Redis for all workers together: a sliding
    window log per chat and one overall (sorted sets of messages), checked and taken in one
    script so two workers can never both take the last slot.

    As in TelegramPacer, a message counts from its slot until its request was answered (scored
    `IN_FLIGHT_SECONDS` ahead meanwhile) and for the window after the answer: Telegram counts a
    message when it arrives, somewhere in between. Counting from the slot alone let a worker
    that stalled between taking slots and sending (a busy CPU) land them in the same second as
    the next second's: the fake Telegram of tests/test_e2e_cluster_postgres.py saw 32, and 60
    before the budget was spread. A worker killed mid-request holds its slots until the
    in-flight time is over.

    The in-process bookkeeping still records this worker's own sends, for `wait_hint` (a hint,
    never a promise: the script decides)."""

    def __init__(self, redis: Redis, policy: PacingPolicy | None = None) -> None:
        super().__init__(policy)
        self.redis = redis
        self._script = redis.register_script(_PACE_SCRIPT)
        self._done_script = redis.register_script(_DONE_SCRIPT)
        self._pending: set[asyncio.Task[Any]] = set()

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [
            f"{PREFIX}:pace:pause:{key}",
            f"{PREFIX}:pace:chat:{key}",
            f"{PREFIX}:pace:{GLOBAL_KEY}",
            f"{PREFIX}:pace:seq",
        ]

    @staticmethod
    def _ms(limit: Limit) -> list[int]:
        return [limit.count, int(limit.window * 1000) + WINDOW_MARGIN_MS]

    async def _take(self, slot: Slot, limits: list[Limit]) -> float:
        args: list[int] = [
            slot.cost,
            int(IN_FLIGHT_SECONDS * 1000),
            int(IN_FLIGHT_POLL_SECONDS * 1000),
        ]
        args += self._ms(self.policy.overall)
        for limit in limits:
            args += self._ms(limit)
        wait_ms, seq = await self._script(keys=self._keys(slot.key), args=args)
        if int(wait_ms) > 0:
            return int(wait_ms) / 1000
        slot.seq = int(seq)
        self.limiter.start(slot.key, slot.cost)  # this worker's own record, for hints
        self.limiter.start(GLOBAL_KEY, slot.cost)
        return 0.0

    async def done(self, slot: Slot, sent: bool = True) -> None:
        await super().done(slot, sent)
        if not slot.seq:
            return
        keys = self._keys(slot.key)[1:3]
        policy = self.policy
        longest = max(policy.overall.window, policy.per_chat.window, policy.per_group.window)
        args = [slot.seq, slot.cost, 1 if sent else 0, int(longest * 1000) + 1000]
        try:
            await self._done_script(keys=keys, args=args)
        except RedisError as exc:  # the in-flight time still frees the slot
            logger.warning("the send budget did not hear of an answer: %s", exc)

    def pause_chat(self, chat_id: int | str, seconds: float) -> None:
        super().pause_chat(chat_id, seconds)
        task = asyncio.get_running_loop().create_task(self._pause(str(chat_id), seconds))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _pause(self, key: str, seconds: float) -> None:
        name = self._keys(key)[0]
        ms = max(1, math.ceil(seconds * 1000))
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(name, 1, px=ms, nx=True)
                pipe.pexpire(name, ms, gt=True)
                await pipe.execute()
        except RedisError as exc:  # this worker still pauses; the others meet their own 429
            logger.warning("chat %s: the %s s pause is not shared: %s", key, seconds, exc)


# KEYS: the member's window. ARGV: count, seconds, 1 to record this message (0: its claim
# recorded it already), and the window's length and lifetime as record_flood keeps them. 1 when
# more than `count` of the latest times fall within `seconds` (the window is then emptied: one
# mute per burst), else 0.
_FLOOD_SCRIPT = (
    _RECORD_FLOOD
    + """
local count = tonumber(ARGV[1])
local seconds = tonumber(ARGV[2])
local now
if ARGV[3] == '1' then
  now = record_flood(KEYS[1], ARGV[4], ARGV[5])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
if redis.call('LLEN', KEYS[1]) > count then
  local first = tonumber(redis.call('LINDEX', KEYS[1], -(count + 1)))
  if now - first <= seconds then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
return 0
"""
)


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
        key = flood_key(self.name, chat_id, user_id)
        prefetched = _PREFETCHED_FLOOD.get()
        kept = [FLOOD_KEEP, FLOOD_WINDOW_SECONDS]
        if prefetched is None or prefetched[0] != key:
            return bool(await self._script(keys=[key], args=[count, seconds, 1, *kept]))
        _PREFETCHED_FLOOD.set(None)  # this message's time was recorded once, with its claim
        if count >= FLOOD_WINDOW:  # a longer rule than the claim reads: Redis decides
            return bool(await self._script(keys=[key], args=[count, seconds, 0, *kept]))
        times = [float(time) for time in prefetched[1].split(b",")[-count - 1 :]]
        if is_burst(times, count, seconds):
            await self.redis.delete(key)  # one mute per burst, as _FLOOD_SCRIPT does
            return True
        return False


# KEYS: the member's reports. ARGV: count, window ms, a unique member. 1 (allowed) or 0.
_REPORT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""


class RedisReportLimiter(ReportLimiter):
    """The /report windows in Redis: a member's reports count whichever worker took them."""

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self.redis = redis
        self._script = redis.register_script(_REPORT_SCRIPT)

    async def check(self, chat_id: int, user_id: int, now: float | None = None) -> bool:
        key = f"{PREFIX}:reports:{chat_id}:{user_id}"
        args: list[int | str] = [
            REPORTS_PER_WINDOW,
            REPORT_WINDOW_SECONDS * 1000,
            uuid.uuid4().hex,
        ]
        return bool(await self._script(keys=[key], args=args))

    async def first_action(self, key: str) -> bool:
        name = f"{PREFIX}:report-action:{key}"
        return bool(await self.redis.set(name, 1, nx=True, ex=REPORT_ACTION_MEMORY_SECONDS))

    async def forget_action(self, key: str) -> None:
        await self.redis.delete(f"{PREFIX}:report-action:{key}")


# KEYS: the member's wait. ARGV: now (the app's clock), the window, how long Redis keeps the
# key. 1 when the member was not asked within the window (the end of the new one is stored),
# else 0. The stored end decides, not the key's lifetime: Redis's own clock is not the app's.
_WAIT_SCRIPT = """
local asked_until = tonumber(redis.call('GET', KEYS[1]))
local now = tonumber(ARGV[1])
if asked_until and now < asked_until then return 0 end
redis.call('SET', KEYS[1], now + tonumber(ARGV[2]), 'EX', ARGV[3])
return 1
"""
# only to tidy up: well past the window, so the stored end, never the key's expiry, decides
WAIT_KEY_SECONDS = 24 * 3600


class RedisCoolDownNotices(CoolDownNotices):
    """Members asked to wait, in Redis: one key per member holding when their window ends by
    the app's clock, checked and set in one step, so the worker that asks first is the only
    one that asks."""

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self.redis = redis
        self._script = redis.register_script(_WAIT_SCRIPT)

    async def first(self, member_id: int, now: int) -> bool:
        key = f"{PREFIX}:support-wait:{member_id}"
        return bool(await self._script(keys=[key], args=[now, RELAY_WINDOW, WAIT_KEY_SECONDS]))


class RedisAlbumVerdicts(AlbumVerdicts):
    """Protection's memory of an album in Redis (its parts' ids, a spam mark), so a part that
    reaches another worker after the album was judged spam is deleted there too."""

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self.redis = redis

    @staticmethod
    def _keys(chat_id: int, group: str) -> tuple[str, str]:
        base = f"{PREFIX}:album-verdict:{chat_id}:{group}"
        return f"{base}:parts", f"{base}:spam"

    async def seen(self, chat_id: int, group: str, message_id: int) -> AlbumPart:
        parts, spam = self._keys(chat_id, group)
        seconds = int(ALBUM_MEMORY_SECONDS)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.exists(parts)
            pipe.sadd(parts, message_id)
            pipe.expire(parts, seconds)
            pipe.get(spam)
            pipe.expire(spam, seconds)
            known, _, _, marked, _ = await pipe.execute()
        return AlbumPart(first=not known, spam=marked is not None)

    async def remember(self, chat_id: int, group: str, message_id: int, spam: bool) -> None:
        parts, mark = self._keys(chat_id, group)
        seconds = int(ALBUM_MEMORY_SECONDS)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(parts, message_id)
            pipe.expire(parts, seconds)
            if spam:
                pipe.set(mark, 1, ex=seconds)
            else:
                pipe.expire(mark, seconds)
            await pipe.execute()

    async def parts(self, chat_id: int, group: str) -> list[int]:
        parts, _ = self._keys(chat_id, group)
        return sorted(int(m) for m in await self.redis.smembers(parts))


# KEYS: an album's parts, its claim. Takes the parts (once: the claim is then marked taken, as
# long as it lives) and returns them; nil when they were taken already.
_TAKE_ALBUM_SCRIPT = """
if redis.call('GET', KEYS[2]) == 'taken' then return false end
redis.call('SET', KEYS[2], 'taken', 'KEEPTTL')
local parts = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return parts
"""
# A later part takes the album over when the part that claimed it has not taken it this long
# after its own wait was over: its worker died meanwhile.
ALBUM_TAKEOVER_MARGIN = 0.5


class RedisAlbumCollector(AlbumCollector):
    """An album's parts may reach different workers: each part is pushed to a list, the first
    to claim the album waits for the others and takes the whole list. Parts are answered to
    Telegram at once (bot.cluster.webhook), so should the claimant's worker die while it
    waits, a later part (on another worker) takes the album once that wait is well past."""

    def __init__(self, redis: Redis, wait: float = ALBUM_WAIT_SECONDS) -> None:
        super().__init__(wait)
        self.redis = redis
        self._take = redis.register_script(_TAKE_ALBUM_SCRIPT)

    async def collect(self, message: Message) -> list[Message] | None:
        if message.media_group_id is None:
            return [message]
        key = f"{PREFIX}:album:{message.chat.id}:{message.media_group_id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, message.model_dump_json(exclude_unset=True))
            pipe.expire(key, 60)
            pipe.set(f"{key}:first", 1, nx=True, ex=60)
            _, _, first = await pipe.execute()
        # the claimant takes the album after its wait; another part only if it never did
        await asyncio.sleep(self.wait if first else 2 * self.wait + ALBUM_TAKEOVER_MARGIN)
        raw = await self._take(keys=[key, f"{key}:first"])
        if not raw:
            return None
        if not first:
            logger.warning("album %s: taken over from a worker that did not take it", key)
        parts = [Message.model_validate_json(item).as_(message.bot) for item in raw]
        return sorted(parts, key=lambda m: m.message_id)


class RedisPollingGuard:
    """Long polling stays single-worker: the poller holds `steward:polling` (renewed).

    The key may go while its poller lives: Redis restarted without persistence, or stayed out
    of reach longer than the key's life. The poller then takes it again at its next renewal;
    should another worker have taken it meanwhile, `lost` returns and the poller stops."""

    KEY = f"{PREFIX}:polling"
    # 1: still ours (renewed); 2: gone, and taken again; 0: another worker's
    _RENEW = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end "
        "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 2 end "
        "return 0"
    )
    _RELEASE = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('DEL', KEYS[1]) else return 0 end"
    )

    def __init__(self, redis: Redis, worker_id: str, seconds: float = POLLING_LOCK_SECONDS) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.seconds = seconds
        self._holding: contextlib.AsyncExitStack | None = None
        self._lost = asyncio.Event()
        self._holder = "?"

    def _refused(self, holder: Any) -> AnotherPollerError:
        raw = holder or b"?"
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        return AnotherPollerError(
            "another worker is already long-polling this bot "
            f"({name}); long polling runs on one worker only: stop it, "
            "or set WEBHOOK_URL on every worker to run several."
        )

    async def hold(self) -> None:
        if not await self.redis.set(self.KEY, self.worker_id, nx=True, ex=math.ceil(self.seconds)):
            raise self._refused(await self.redis.get(self.KEY))
        self._lost.clear()
        self._holding = contextlib.AsyncExitStack()
        await self._holding.enter_async_context(
            renewing(self._renew, self.seconds / 3, name="polling-lock")
        )

    async def _renew(self) -> bool:
        try:
            held = await self.redis.eval(
                self._RENEW, 1, self.KEY, self.worker_id, math.ceil(self.seconds)
            )
        except RedisError as exc:
            logger.warning("polling lock not renewed: %s", exc)
            return True
        if held == 2:
            logger.warning("polling lock was gone (Redis restarted?); taken again")
        if held:
            return True
        try:
            holder = await self.redis.get(self.KEY) or b"?"
        except RedisError:
            holder = b"?"
        self._holder = holder.decode() if isinstance(holder, bytes) else str(holder)
        logger.error("polling lock lost to another worker (%s)", self._holder)
        self._lost.set()
        return False  # no more renewals: it is not ours

    async def lost(self) -> AnotherPollerError:
        await self._lost.wait()
        return self._refused(self._holder)

    async def release(self) -> None:
        if self._holding is not None:
            holding, self._holding = self._holding, None
            await holding.aclose()
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


def packing_with_hiredis(
    connection_class: type[AbstractConnection],
) -> type[AbstractConnection]:
    """`connection_class` packing its commands with hiredis, as redis-py's blocking connections do.

    redis-py 8.1's asyncio connections pack every command in Python, one `bytes.join` per
    argument, even with hiredis installed. A worker's batched claim carries about a dozen
    arguments per update, and packing them cost about an eighth as much CPU as the dispatcher's
    whole `feed_update` (py-spy, bench/cluster.py uncapped). hiredis writes the same bytes (the
    serializer is redis-py's own, DataError on a value Redis cannot take included).
    """
    if not HIREDIS_AVAILABLE:
        return connection_class
    serializer = HiredisRespSerializer()

    class HiredisPacking(connection_class):  # type: ignore[valid-type,misc]
        def pack_command(self, *args: Any) -> list[bytes]:
            packed: list[bytes] = serializer.pack(*args)
            return packed

    HiredisPacking.__name__ = HiredisPacking.__qualname__ = (
        f"HiredisPacking{connection_class.__name__}"
    )
    return HiredisPacking


class RedisCluster(Cluster):
    shared = True

    def __init__(
        self, url: str, bot_id: int = 0, lease_seconds: int = DEFAULT_LEASE_SECONDS
    ) -> None:
        super().__init__()
        self.url = url
        # Waits for a free connection instead of failing: redis-py's default pool raises
        # "Too many connections" past 100, which 200 posts due at once (each waiting for its
        # send slot) and 50 busy chats' locks reached together.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_CONNECTION_WAIT
        )
        pool.connection_class = packing_with_hiredis(pool.connection_class)
        self.redis = Redis(connection_pool=pool)
        self.ledger = RedisUpdateLedger(self.redis, self.worker_id, lease_seconds)
        self.chat_locks = RedisChatLocks(self.redis, bot_id, chat_lock_seconds(lease_seconds))
        self.bus: RedisBus = RedisBus(self.redis, self.worker_id)
        self.polling = RedisPollingGuard(self.redis, self.worker_id)
        self._begin = TickBatch(self.redis, _RECORD_FLOOD + _BEGIN_SCRIPT)
        self._finish = TickBatch(self.redis, _FINISH_SCRIPT)
        # chat-lock tokens: unique among workers (the worker id) and updates (the count), with
        # no random bytes to fetch per update as a uuid4 would
        self._tokens = itertools.count(1)
        self.storage = SharedRedisStorage(
            self.redis, key_builder=DefaultKeyBuilder(prefix=f"{PREFIX}:fsm", with_destiny=True)
        )

    def fsm_storage(self, durable: BaseStorage | None = None) -> BaseStorage:
        """The shared Redis keeps every worker's dialogue state (and survives restarts)."""
        return self.storage

    def state_key(self, key: StorageKey) -> str:
        """Where the FSM storage keeps the dialogue state of `key`."""
        return self.storage.key_builder.build(key, "state")

    async def claim(
        self,
        update_id: int,
        chat_id: int | None = None,
        state_key: str | None = None,
        flood: FloodSubject | None = None,
    ) -> tuple[Claim, Held | None]:
        ledger, locks = self.ledger, self.chat_locks
        if not isinstance(ledger, RedisUpdateLedger) or not isinstance(locks, RedisChatLocks):
            return await super().claim(update_id, chat_id, state_key, flood)
        keys: list[str | bytes | memoryview] = [ledger.key(update_id)]
        lock = None
        state_read = 0  # 1: KEYS[3] is the dialogue state's (the script's ARGV[5])
        window_key = None
        if chat_id is not None:
            lock = locks.new_lock(chat_id)
            keys.append(lock.name)
            if state_key is not None:
                keys.append(state_key)
                state_read = 1
            if flood is not None:
                window_key = flood_key(flood.tracker, flood.chat_id, flood.sender_id)
                keys.append(window_key)
        token = f"{self.worker_id}:{next(self._tokens)}".encode()
        reply = await self._begin(
            keys=keys,
            args=[
                ledger.busy,
                ledger.claim_seconds,
                token,
                int(locks.seconds * 1000),
                state_read,
                FLOOD_WINDOW if window_key is not None else 0,
                FLOOD_WINDOW_SECONDS,
                FLOOD_KEEP,
            ],
        )
        if not reply[0]:
            return (Claim.DONE if reply[1] == b"done" else Claim.BUSY), None
        if lock is None or not reply[1]:
            return Claim.NEW, None
        lock.local.token = token  # as Lock.acquire() leaves it: renewed and released by it
        state = reply[2] if len(reply) > 2 else None
        window = reply[3] if len(reply) > 3 and isinstance(reply[3], bytes) else None
        return Claim.NEW, Held(lock, state_key, state, window_key, window)

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

    def report_limiter(self) -> ReportLimiter:
        return RedisReportLimiter(self.redis)

    def album_verdicts(self) -> AlbumVerdicts:
        return RedisAlbumVerdicts(self.redis)

    def cool_down_notices(self) -> CoolDownNotices:
        return RedisCoolDownNotices(self.redis)

    async def start(self) -> None:
        await self.redis.ping()  # a wrong REDIS_URL stops the start here, with Redis's words
        await self.bus.start()

    async def close(self) -> None:
        await self.polling.release()
        await self.bus.close()
        await self.redis.aclose()
