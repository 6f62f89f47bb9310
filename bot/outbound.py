"""The one outbound layer for every Bot API call: pacing, 429 handling and retries.

It is an aiogram session middleware, so no feature can bypass it by accident. Pacing keeps the bot
under Telegram's published limits (about 30 messages/s overall, about 1/s per chat with short
bursts, 20/min per group) so 429s are the exception; when one still arrives its
`retry_after` is honoured for the whole chat, not just the one call. Transient failures (network,
5xx) are retried with capped exponential backoff and jitter; 4xx answers other than 429 are
permanent and go straight back to the caller, who knows what they mean.

One 400 is handled here: a basic group upgraded to a supergroup answers every call with its new
id (`migrate_to_chat_id`). The upgrade is recorded (the group's rows move, see
bot/chat_migration.py) and a call that addresses the chat as a whole (a new message, a member)
is sent once more, to the new id; later calls naming the old id go to the new one directly. A
call about one message of the old chat is not redirected: its message ids mean nothing in the
new chat.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    CopyMessages,
    ForwardMessages,
    GetUpdates,
    SendMediaGroup,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType
from aiohttp import ClientConnectorError

from bot.chat_ids import is_basic_group

logger = logging.getLogger(__name__)

GLOBAL_KEY = "*"
# While a request is unanswered, its arrival at Telegram is unknown: it may still arrive. The
# longest a slot counts as "in flight" without an answer (a worker killed mid-request never
# answers for it); an answer after that counts from when it came, as always.
IN_FLIGHT_SECONDS = 10.0
# How soon to look again when the budget is held by requests still in flight (their answers,
# usually milliseconds away, say when their second ends).
IN_FLIGHT_POLL_SECONDS = 0.05


@dataclass(eq=False, slots=True)
class Slot:
    """`cost` messages' place in the budget of `key` (and the overall one), from the moment it
    was taken until the request's answer came (`TelegramPacer.done`)."""

    key: str
    cost: int
    seq: int = 0  # the shared budget's id of the last message (bot.cluster.shared.RedisPacer)
    used: bool = False  # a request went out on it


# A slot taken ahead by `TelegramPacer.paced`, used by the next call in the block that sends the
# same messages (instead of waiting again).
_prepaid: ContextVar[Slot | None] = ContextVar("prepaid", default=None)
# Set by `at_most_once`: the calls in its block are not repeated after an answer that was lost.
_at_most_once: ContextVar[bool] = ContextVar("at_most_once", default=False)


@contextlib.contextmanager
def at_most_once() -> Iterator[None]:
    """The calls in this block are not sent again after a timeout, a connection that broke
    once the request had left, or a 5xx: Telegram may have carried it out (a post copied to a
    channel twice is worse than one a manager is asked about). A connection never made is
    retried."""
    token = _at_most_once.set(True)
    try:
        yield
    finally:
        _at_most_once.reset(token)


def maybe_delivered(exc: Exception) -> bool:
    """A failure after which Telegram may have done what was asked: a network failure other
    than a connection that was never made, any 5xx, or an answer that is no Bot API answer at
    all (a gateway's HTML page). The Bot API server fails the sends it had already handed on
    with "500 Internal Server Error: restart" when it restarts, answers 500 for a message made
    and at once deleted, and a gateway's 502/504 says nothing about the server behind it; none
    of them tells a send that was made from one that was not."""
    if isinstance(exc, TelegramServerError | ClientDecodeError):
        return True
    return isinstance(exc, TelegramNetworkError) and not isinstance(
        exc.__cause__, ClientConnectorError
    )


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` messages in any window of `window` seconds."""

    count: int
    window: float


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    overall: Limit = Limit(30, 1.0)
    # one a second per chat, no burst: the short bursts Telegram tolerates at first turn into
    # 429s once they add up, and a 429 pauses the whole chat
    per_chat: Limit = Limit(1, 1.0)
    per_group: Limit = Limit(20, 60.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5  # transient failures: tries in total, the first included
    base_delay: float = 0.5
    max_delay: float = 16.0
    max_retry_after: float = 120.0  # a longer 429 is returned to the caller
    max_flood_waits: int = 3

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Delay before retry number `attempt` (1-based): exponential, capped, with jitter
        so that many callers failing together do not retry together."""
        delay = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return delay * (0.75 + 0.5 * rng())


def is_group_chat_id(chat_id: int | str) -> bool:
    """Groups, supergroups and channels have negative ids; `@name` addresses public ones."""
    if isinstance(chat_id, str):
        return chat_id.startswith("@") or (
            chat_id.lstrip("-").isdigit() and chat_id.startswith("-")
        )
    return chat_id < 0


_MESSAGE_METHODS_EXTRA = {"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"}
_NOT_MESSAGES = {"sendChatAction", "sendInvoice"}


def message_cost(method: TelegramMethod[Any]) -> tuple[int | str, int] | None:
    """The chat a call sends into and how many messages it creates, or None if it sends none."""
    name = method.__api_method__
    if name in _NOT_MESSAGES or not (name.startswith("send") or name in _MESSAGE_METHODS_EXTRA):
        return None
    chat_id = getattr(method, "chat_id", None)
    if chat_id is None:
        return None
    if isinstance(method, SendMediaGroup):
        return chat_id, len(method.media)
    if isinstance(method, CopyMessages | ForwardMessages):
        return chat_id, len(method.message_ids)
    return chat_id, 1


# Calls about a chat as a whole, besides sending: they follow an upgraded group to its new id.
_WHOLE_CHAT_METHODS = {
    "banChatMember",
    "unbanChatMember",
    "restrictChatMember",
    "banChatSenderChat",
    "unbanChatSenderChat",
    "getChat",
    "getChatAdministrators",
    "getChatMember",
    "getChatMemberCount",
    "setChatPermissions",
    "leaveChat",
    "approveChatJoinRequest",
    "declineChatJoinRequest",
}


def follows_upgrades(method: TelegramMethod[Any]) -> bool:
    """Whether a call still makes sense at an upgraded group's new id."""
    name = method.__api_method__
    return name.startswith("send") or name in _MESSAGE_METHODS_EXTRA or name in _WHOLE_CHAT_METHODS


def _unplaced(method: TelegramMethod[Any]) -> dict[str, Any]:
    """What places a message inside its chat (the replied message, the topic), cleared."""
    keys = ("reply_parameters", "reply_to_message_id", "message_thread_id")
    return {key: None for key in keys if getattr(method, key, None) is not None}


def readdressed(method: TelegramMethod[TelegramType], chat_id: int) -> TelegramMethod[TelegramType]:
    """The same call for another chat, without what pointed into the old one (the replied
    message; basic groups have no topics)."""
    return method.model_copy(update={"chat_id": chat_id, **_unplaced(method)})


def into_general(method: TelegramMethod[TelegramType]) -> TelegramMethod[TelegramType] | None:
    """The same message for a forum's General topic, without the topic and the replied message
    that put it in a closed one; None if the call named neither (nothing to move)."""
    update = _unplaced(method)
    return method.model_copy(update=update) if update else None


def upgraded_chat(method: TelegramMethod[Any]) -> tuple[int, bool] | None:
    """Which chat of a refused call was the upgraded group, and whether it was the
    destination (`chat_id`) rather than a source (`from_chat_id`)."""
    for key, is_destination in (("chat_id", True), ("from_chat_id", False)):
        value = getattr(method, key, None)
        if isinstance(value, int) and is_basic_group(value):
            return value, is_destination
    return None


class ChatDirectory(Protocol):
    """Where upgraded groups went (bot.chat_migration.ChatMigrations)."""

    def new_id_of(self, chat_id: int) -> int | None: ...

    async def migrate(self, old: int, new: int) -> Any: ...


@dataclass
class SlidingWindowLimiter:
    """Remembers when messages went out per key and says how long the next one must wait.

    Telegram counts a message when the request arrives, which is some time after its slot was
    taken and before its answer comes back; how long after, nobody here knows (a busy CPU, a
    slow network). So a message counts from its slot until its answer (`start` to `finish`,
    "in flight") and then for the window after the answer: whatever its arrival, every message
    that can arrive in the same second as the next one is counted, and no window of `window`
    seconds at Telegram ever sees more than `count`.

    Pure bookkeeping with an injectable clock so it can be tested without sleeping.
    """

    clock: Callable[[], float] = time.monotonic
    _sent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _flying: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _paused_until: dict[str, float] = field(default_factory=dict)

    def wait_time(self, key: str, limits: Sequence[Limit], cost: int = 1) -> float:
        now = self.clock()
        wait = self._paused_until.get(key, 0.0) - now
        sent = self._sent[key]
        flying = self._flying.get(key, 0)
        horizon = max((lim.window for lim in limits), default=0.0)
        while sent and sent[0] <= now - horizon:
            sent.popleft()
        for limit in limits:
            cost_here = min(cost, limit.count)
            start = bisect.bisect_right(sent, now - limit.window)
            answered = len(sent) - start
            excess = answered + flying + cost_here - limit.count
            if excess > answered:
                # the window is full of requests still in flight: look again soon
                wait = max(wait, IN_FLIGHT_POLL_SECONDS)
            elif excess > 0:
                # the window must slide past the `excess` oldest answers inside it
                wait = max(wait, sent[start + excess - 1] + limit.window - now)
        return max(wait, 0.0)

    def record(self, key: str, cost: int = 1) -> None:
        """`cost` messages answered now."""
        now = self.clock()
        self._sent[key].extend([now] * cost)

    def start(self, key: str, cost: int = 1) -> None:
        """`cost` messages' requests about to leave: they count until `finish`."""
        self._flying[key] += cost

    def finish(self, key: str, cost: int = 1, sent: bool = True) -> None:
        """Their answer came (they count for one more window from now), or they never left."""
        self._flying[key] = max(0, self._flying[key] - cost)
        if sent:
            self.record(key, cost)

    def pause(self, key: str, seconds: float) -> None:
        until = self.clock() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)


class TelegramPacer:
    """Waits until a message to a chat fits every limit, then records it.

    A per-chat lock keeps one chat's messages in the order they were asked for, while messages
    to other chats go ahead (no head-of-line blocking across chats).
    """

    def __init__(
        self,
        policy: PacingPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.policy = policy or PacingPolicy()
        self.limiter = SlidingWindowLimiter(clock=clock)
        self._sleep = sleep
        self._chat_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._channels: set[str] = set()

    def mark_channel(self, chat_id: int | str) -> None:
        """Telegram documents 20 messages a minute for groups, not for channels, which keep the
        per-chat pace only: a channel's queue of due posts then goes out at about 1/s instead of
        20 a minute. Channel ids look like supergroup ids, so the channel registry says which."""
        self._channels.add(str(chat_id))

    def _chat_limits(self, chat_id: int | str) -> list[Limit]:
        limits = [self.policy.per_chat]
        if is_group_chat_id(chat_id) and str(chat_id) not in self._channels:
            limits.append(self.policy.per_group)
        return limits

    async def take(self, chat_id: int | str, cost: int = 1) -> Slot:
        """Wait until `cost` messages to the chat fit every limit and take their place; they
        count as in flight until `done`, which the caller must call once the request was
        answered (or failed), or with `sent=False` if it never left."""
        slot = Slot(str(chat_id), cost)
        async with self._chat_locks[slot.key]:
            limits = self._chat_limits(chat_id)
            while True:
                delay = await self._take(slot, limits)
                if delay <= 0:
                    break
                await self._sleep(delay)
        return slot

    async def done(self, slot: Slot, sent: bool = True) -> None:
        """The slot's request was answered (or failed): its messages count for one more window
        from now. `sent=False`: it never left, the place is free again."""
        self.limiter.finish(slot.key, slot.cost, sent)
        self.limiter.finish(GLOBAL_KEY, slot.cost, sent)

    async def acquire(self, chat_id: int | str, cost: int = 1) -> float:
        """Take and use a slot at once, for messages that leave and arrive now (tests, tools);
        how long the caller waited."""
        started = self.limiter.clock()
        await self.done(await self.take(chat_id, cost))
        return max(0.0, self.limiter.clock() - started)

    async def _take(self, slot: Slot, limits: list[Limit]) -> float:
        """Take the slot's place in the chat's and the overall budget if it fits now (0.0),
        else say how long to wait. Several workers share one budget through another bookkeeper
        (bot.cluster.shared.RedisPacer)."""
        delay = max(
            self.limiter.wait_time(slot.key, limits, slot.cost),
            self.limiter.wait_time(GLOBAL_KEY, [self.policy.overall], slot.cost),
        )
        if delay <= 0:
            self.limiter.start(slot.key, slot.cost)
            self.limiter.start(GLOBAL_KEY, slot.cost)
        return delay

    @contextlib.asynccontextmanager
    async def paced(self, chat_id: int | str, cost: int = 1) -> AsyncIterator[None]:
        """Wait for the message's slot first, then let the caller do something before the
        request leaves (the publisher records that a post is being sent, bot.posting.publisher);
        the next call in the block that sends `cost` messages to `chat_id` uses the slot
        instead of waiting again. A slot no call used is given back at the end."""
        slot = await self.take(chat_id, cost)
        token = _prepaid.set(slot)
        try:
            yield None
        finally:
            _prepaid.reset(token)
            if not slot.used:
                await self.done(slot, sent=False)

    def wait_hint(self, chat_id: int | str, cost: int = 1) -> float:
        """How long a message to this chat would wait now, without taking a slot: a sender
        with messages for several chats can pick one that goes at once."""
        return max(
            self.limiter.wait_time(str(chat_id), self._chat_limits(chat_id), cost),
            self.limiter.wait_time(GLOBAL_KEY, [self.policy.overall], cost),
        )

    def pause_chat(self, chat_id: int | str, seconds: float) -> None:
        self.limiter.pause(str(chat_id), seconds)


class OutboundMiddleware(BaseRequestMiddleware):
    """Session middleware wrapping every call except getUpdates (which aiogram's polling loop
    already retries with its own backoff)."""

    def __init__(
        self,
        pacer: TelegramPacer | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.pacer = pacer or TelegramPacer()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.chats: ChatDirectory | None = None  # set once the database is there

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == GetUpdates.__api_method__:
            return await make_request(bot, method)
        name = method.__api_method__
        target = getattr(method, "chat_id", None)
        if self.chats is not None and isinstance(target, int) and follows_upgrades(method):
            new = self.chats.new_id_of(target)
            if new is not None:
                method = readdressed(method, new)
        cost = message_cost(method)
        attempt = 0
        flood_waits = 0
        followed_upgrade = False
        while True:
            attempt += 1
            slot: Slot | None = None
            if cost is not None:
                prepaid = _prepaid.get()
                _prepaid.set(None)  # one call uses it
                if prepaid is not None and (prepaid.key, prepaid.cost) == (str(cost[0]), cost[1]):
                    slot, prepaid.used = prepaid, True
                else:
                    slot = await self.pacer.take(*cost)
            try:
                try:
                    return await make_request(bot, method)
                finally:
                    if slot is not None:  # answered or failed: it counts from now on
                        slot.used = True
                        await self.pacer.done(slot)
            except TelegramMigrateToChat as exc:
                upgraded = upgraded_chat(method)
                if upgraded is None:
                    raise
                old, is_destination = upgraded
                if self.chats is not None:
                    await self.chats.migrate(old, exc.migrate_to_chat_id)
                if followed_upgrade or not is_destination or not follows_upgrades(method):
                    raise
                logger.info("%s: %s became %s; sending there", name, old, exc.migrate_to_chat_id)
                followed_upgrade = True
                method = readdressed(method, exc.migrate_to_chat_id)
                cost = message_cost(method)
                attempt -= 1  # not a failed attempt either
            except TelegramBadRequest as exc:
                # A closed topic takes messages only from admins who may manage topics: a reply
                # to a command given there (by an admin) would be lost, so it goes to General,
                # once, as a result posted in a topic closed meanwhile does (bot/engagement/topics)
                general = into_general(method) if cost is not None else None
                if general is None or "topic_closed" not in exc.message.lower():
                    raise
                logger.info("%s: topic closed in %s; sending to General", name, cost and cost[0])
                method = general
                attempt -= 1  # not a failed attempt
            except TelegramRetryAfter as exc:
                flood_waits += 1
                if exc.retry_after > self.retry.max_retry_after or (
                    flood_waits > self.retry.max_flood_waits
                ):
                    logger.warning(
                        "%s: flood control asks to wait %ss; giving up (wait %d)",
                        name,
                        exc.retry_after,
                        flood_waits,
                    )
                    raise
                if cost is not None:
                    self.pacer.pause_chat(cost[0], exc.retry_after)
                logger.warning("%s: 429, retrying after %ss", name, exc.retry_after)
                await self._sleep(exc.retry_after)
                attempt -= 1  # a flood wait is not a failed attempt
            except (TelegramNetworkError, TelegramServerError) as exc:
                if _at_most_once.get() and maybe_delivered(exc):
                    logger.error("%s: %s; not repeated (it may have gone through)", name, exc)
                    raise
                if attempt >= self.retry.max_attempts:
                    logger.error("%s failed after %d attempts: %s", name, attempt, exc)
                    raise
                delay = self.retry.backoff(attempt)
                logger.warning(
                    "%s: %s (attempt %d/%d), retrying in %.2fs",
                    name,
                    type(exc).__name__,
                    attempt,
                    self.retry.max_attempts,
                    delay,
                )
                await self._sleep(delay)
