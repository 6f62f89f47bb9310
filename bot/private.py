"""Private notes: one place that writes to a person in private and says what Telegram answered.

Whether the bot may write to someone is known to Telegram alone: people pressed Start before the
database existed, in another deployment or through a deep link, and others blocked the bot or
deleted their account without the bot being told. So every private note is simply tried, once,
and a refusal (403 "can't initiate conversation", "blocked by the user", "user is deactivated")
is an ordinary outcome: recorded on the user, logged at info level, never retried (the outbound
layer retries only 429 and transient failures), and the caller carries on with the next person.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError

from bot.clock import SYSTEM_CLOCK, Clock
from storage.chats import UserRepository

logger = logging.getLogger(__name__)


class Reach(StrEnum):
    DELIVERED = "delivered"
    NOT_STARTED = "not_started"  # never pressed Start (or Telegram does not know the id)
    BLOCKED = "blocked"
    DEACTIVATED = "deactivated"
    FAILED = "failed"  # anything else: a bad request, retries exhausted; not about the person


@dataclass(frozen=True, slots=True)
class NoteResult:
    user_id: int
    reach: Reach
    message_id: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.reach is Reach.DELIVERED


def classify(exc: TelegramAPIError) -> Reach:
    """What a failed private send says about the person."""
    text = exc.message.lower()
    if isinstance(exc, TelegramForbiddenError):
        if "blocked" in text:
            return Reach.BLOCKED
        if "deactivated" in text:
            return Reach.DEACTIVATED
        return Reach.NOT_STARTED
    if isinstance(exc, TelegramBadRequest) and "chat not found" in text:
        return Reach.NOT_STARTED  # an id the bot has never been allowed to meet
    return Reach.FAILED


class PrivateNotes:
    def __init__(self, bot: Bot, users: UserRepository, clock: Clock = SYSTEM_CLOCK) -> None:
        self.bot = bot
        self.users = users
        self.clock = clock

    async def send_message(self, user_id: int, text: str, **kwargs: Any) -> NoteResult:
        return await self.deliver(user_id, lambda: self.bot.send_message(user_id, text, **kwargs))

    async def copy_message(
        self, user_id: int, from_chat_id: int, message_id: int, **kwargs: Any
    ) -> NoteResult:
        return await self.deliver(
            user_id, lambda: self.bot.copy_message(user_id, from_chat_id, message_id, **kwargs)
        )

    async def deliver(self, user_id: int, send: Callable[[], Awaitable[Any]]) -> NoteResult:
        """Run one send call to `user_id` and turn Telegram's answer into a `NoteResult`."""
        try:
            sent = await send()
        except TelegramAPIError as exc:
            reach = classify(exc)
            if reach is Reach.FAILED:
                logger.warning("private note to %s failed: %s", user_id, exc.message)
            else:
                logger.info("private note to %s not delivered: %s", user_id, reach.value)
            await self._record(user_id, reach)
            return NoteResult(user_id, reach, error=exc.message)
        await self._record(user_id, Reach.DELIVERED)
        return NoteResult(user_id, Reach.DELIVERED, message_id=getattr(sent, "message_id", None))

    async def started(self, user_id: int) -> None:
        """/start: the user can be written to in private from now on."""
        await self.users.mark_started(user_id)

    async def chat_changed(self, user_id: int, blocked: bool) -> None:
        """The user blocked the bot or started it again (`my_chat_member` in their private
        chat): the one time Telegram tells the bot itself."""
        await self._record(user_id, Reach.BLOCKED if blocked else Reach.DELIVERED)

    async def _record(self, user_id: int, reach: Reach) -> None:
        if reach is Reach.FAILED:
            return  # says nothing about the person
        status = "reachable" if reach is Reach.DELIVERED else reach.value
        try:
            await self.users.set_private_status(user_id, status, int(self.clock()))
        except Exception:  # a note is out (or refused) either way; the hint can wait
            logger.exception("could not record private status of %s", user_id)
