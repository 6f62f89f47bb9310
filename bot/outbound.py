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
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
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

logger = logging.getLogger(__name__)

GLOBAL_KEY = "*"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` messages in any window of `window` seconds."""

    count: int
    window: float


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    overall: Limit = Limit(30, 1.0)
    per_chat: Limit = Limit(3, 3.0)  # ~1/s with a short burst, as Telegram tolerates
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
# Below this, a negative id is a basic group (supergroups and channels are -100…).
_SUPERGROUP_IDS_BELOW = -1_000_000_000_000


def follows_upgrades(method: TelegramMethod[Any]) -> bool:
    """Whether a call still makes sense at an upgraded group's new id."""
    name = method.__api_method__
    return name.startswith("send") or name in _MESSAGE_METHODS_EXTRA or name in _WHOLE_CHAT_METHODS


def readdressed(method: TelegramMethod[TelegramType], chat_id: int) -> TelegramMethod[TelegramType]:
    """The same call for another chat, without what pointed into the old one (the replied
    message; basic groups have no topics)."""
    update: dict[str, Any] = {"chat_id": chat_id}
    for key in ("reply_parameters", "reply_to_message_id", "message_thread_id"):
        if getattr(method, key, None) is not None:
            update[key] = None
    return method.model_copy(update=update)


def upgraded_chat(method: TelegramMethod[Any]) -> tuple[int, bool] | None:
    """Which chat of a refused call was the upgraded group, and whether it was the
    destination (`chat_id`) rather than a source (`from_chat_id`)."""
    for key, is_destination in (("chat_id", True), ("from_chat_id", False)):
        value = getattr(method, key, None)
        if isinstance(value, int) and _SUPERGROUP_IDS_BELOW < value < 0:
            return value, is_destination
    return None


class ChatDirectory(Protocol):
    """Where upgraded groups went (bot.chat_migration.ChatMigrations)."""

    def new_id_of(self, chat_id: int) -> int | None: ...

    async def migrate(self, old: int, new: int) -> Any: ...


@dataclass
class SlidingWindowLimiter:
    """Remembers when messages went out per key and says how long the next one must wait.

    Pure bookkeeping with an injectable clock so it can be tested without sleeping.
    """

    clock: Callable[[], float] = time.monotonic
    _sent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _paused_until: dict[str, float] = field(default_factory=dict)

    def wait_time(self, key: str, limits: Sequence[Limit], cost: int = 1) -> float:
        now = self.clock()
        wait = self._paused_until.get(key, 0.0) - now
        sent = self._sent[key]
        horizon = max((lim.window for lim in limits), default=0.0)
        while sent and sent[0] <= now - horizon:
            sent.popleft()
        for limit in limits:
            cost_here = min(cost, limit.count)
            start = bisect.bisect_right(sent, now - limit.window)
            in_window = len(sent) - start
            excess = in_window + cost_here - limit.count
            if excess > 0:
                # the window must slide past the `excess` oldest sends inside it
                wait = max(wait, sent[start + excess - 1] + limit.window - now)
        return max(wait, 0.0)

    def record(self, key: str, cost: int = 1) -> None:
        now = self.clock()
        self._sent[key].extend([now] * cost)

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

    async def acquire(self, chat_id: int | str, cost: int = 1) -> float:
        """Returns how long the caller waited, for logs and benchmarks."""
        key = str(chat_id)
        waited = 0.0
        async with self._chat_locks[key]:
            limits = self._chat_limits(chat_id)
            while True:
                delay = await self._take(key, limits, cost)
                if delay <= 0:
                    break
                waited += delay
                await self._sleep(delay)
        return waited

    async def _take(self, key: str, limits: list[Limit], cost: int) -> float:
        """Take `cost` slots of the chat's and the overall budget if they fit now (0.0), else
        say how long to wait. Several workers share one budget through another bookkeeper
        (bot.cluster.shared.RedisPacer)."""
        delay = max(
            self.limiter.wait_time(key, limits, cost),
            self.limiter.wait_time(GLOBAL_KEY, [self.policy.overall], cost),
        )
        if delay <= 0:
            self.limiter.record(key, cost)
            self.limiter.record(GLOBAL_KEY, cost)
        return delay

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
            if cost is not None:
                await self.pacer.acquire(*cost)
            try:
                return await make_request(bot, method)
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
