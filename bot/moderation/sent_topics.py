"""The forum topics of the bot's own messages, for /purge in a topic.

Telegram sends no update for a message the bot itself sent, so the topic of a notice, an answer
or a confirmation is known only from the result of the call that sent it. A session middleware
reads every result once, so no feature has to remember to report its sends."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Message

from bot.topics import thread_of

logger = logging.getLogger(__name__)

NoteTopic = Callable[[int, int, int | None], Awaitable[None]]


class SentInForums(BaseRequestMiddleware):
    """Notes (chat, message, topic) for each message a call returns from a forum."""

    def __init__(self, note: NoteTopic) -> None:
        self.note = note

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        response = await make_request(bot, method)
        if method.__api_method__ == GetUpdates.__api_method__:
            return response
        # what the chain hands back is the method's result itself, whatever its annotation says
        result: Any = response
        for message in result if isinstance(result, list) else (result,):
            if isinstance(message, Message) and message.chat.is_forum:
                try:
                    await self.note(message.chat.id, message.message_id, thread_of(message))
                except Exception:  # the message was sent: a purge only leaves it alone
                    logger.exception(
                        "could not note the topic of %s/%s", message.chat.id, message.message_id
                    )
        return response
