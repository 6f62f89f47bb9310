"""Last line of defence: log a failed update with its id and apologise to the user."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent, Message, ReplyParameters
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.i18n import pick_language
from bot.topics import thread_of

logger = logging.getLogger(__name__)


def _user_asked(message: Message) -> bool:
    """Apologise where a person addressed the bot; a failure on a passive group check (spam,
    statistics) must not make the bot talk in the group."""
    return message.chat.type == "private" or (message.text or "").startswith("/")


async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n, settings: Settings) -> bool:
    update = event.update
    logger.error(
        "update %s failed: %s", update.update_id, event.exception, exc_info=event.exception
    )
    message = update.message or update.edited_message
    callback = update.callback_query
    user = message.from_user if message else callback.from_user if callback else None
    locale = pick_language(
        [user.language_code if user else None], settings.languages, settings.default_language
    )
    apology = i18n.gettext(
        "Sorry, something went wrong on my side. The team has been notified; please try again "
        "in a moment.",
        locale=locale,
    )
    try:
        if callback is not None:
            await callback.answer(apology, show_alert=True)
        elif message is not None and _user_asked(message):
            await bot.send_message(
                message.chat.id,
                apology,
                reply_parameters=ReplyParameters(
                    message_id=message.message_id, allow_sending_without_reply=True
                ),
                message_thread_id=thread_of(message),
            )
    except TelegramAPIError as exc:
        logger.warning("could not apologise for update %s: %s", update.update_id, exc)
    return True
