"""Posting into the forum topic something started in (a scheduled event, a member's question
answered later by the staff), or General when that topic is gone."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InputFile, Message

logger = logging.getLogger(__name__)

Sent = TypeVar("Sent")


async def send_in_topic(
    bot: Bot, chat_id: int, text: str, thread_id: int | None, **kwargs: Any
) -> Message:
    """Into the event's topic; if that topic was deleted or closed meanwhile, into General
    rather than nowhere (a result nobody sees is worse than one in the wrong topic)."""
    send = functools.partial(bot.send_message, chat_id, text, **kwargs)
    return await in_topic(send, chat_id, thread_id)


async def send_file_in_topic(
    bot: Bot, chat_id: int, document: InputFile, thread_id: int | None, **kwargs: Any
) -> Message:
    """A document into the event's topic, or General when that topic is gone."""
    send = functools.partial(bot.send_document, chat_id, document, **kwargs)
    return await in_topic(send, chat_id, thread_id)


# Telegram's answers when a topic takes no more messages from the bot: deleted, or closed
# (a closed topic takes only the messages of admins who may manage topics)
_TOPIC_GONE = ("thread not found", "topic_closed")


async def in_topic(
    send: Callable[..., Awaitable[Sent]], chat_id: int, thread_id: int | None
) -> Sent:
    """`send(message_thread_id=...)` into the topic, or once more into General when Telegram
    says the topic is gone or closed."""
    try:
        return await send(message_thread_id=thread_id)
    except TelegramBadRequest as exc:
        if thread_id is None or not any(gone in exc.message.lower() for gone in _TOPIC_GONE):
            raise
        logger.info("topic %s of %s is gone or closed; posting in General", thread_id, chat_id)
        return await send()
