"""The chat side of the calendar Mini App: its buttons, and "Edit in chat".

Edit in chat does what /queue's Edit does, started from the app: the bot sends the post back to
the manager's private chat, asks for the new content and waits for it in the same state, so the
compose router's existing handler takes the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.i18n import LocaleFor
from bot.miniapp.auth import Caller
from bot.posting.dialogs import EditPost
from storage.posts import Post

logger = logging.getLogger(__name__)


def edit_in_chat_sender(
    bot: Bot,
    storage: BaseStorage,
    i18n: I18n,
    locale_for: LocaleFor,
    languages: tuple[str, ...],
) -> Callable[[Post, Caller], Awaitable[bool]]:
    async def send(post: Post, caller: Caller) -> bool:
        chat_id = caller.user_id
        if caller.language in languages:
            locale = caller.language
        else:
            locale = await locale_for(chat_id)
        try:
            if len(post.source_message_ids) == 1:
                await bot.copy_message(chat_id, post.source_chat_id, post.source_message_ids[0])
            else:
                await bot.copy_messages(chat_id, post.source_chat_id, post.source_message_ids)
        except TelegramBadRequest as exc:
            # the manager deleted the original ("message to copy not found"): nothing to show,
            # but new content is just what such a post needs, so the prompt still goes out
            logger.info("post %s not copied back to %s for editing: %s", post.id, chat_id, exc)
        except TelegramAPIError as exc:
            logger.warning("post %s not sent back to %s for editing: %s", post.id, chat_id, exc)
            return False
        try:
            with i18n.context(), i18n.use_locale(locale):
                prompt = _(
                    "Send the new content for post #{id}: text, media or an album. "
                    "Time, channel and options stay. /cancel to stop."
                ).format(id=post.id)
            await bot.send_message(chat_id, prompt)
        except TelegramAPIError as exc:
            logger.warning("post %s not sent back to %s for editing: %s", post.id, chat_id, exc)
            return False
        state = FSMContext(
            storage=storage, key=StorageKey(bot_id=bot.id, chat_id=chat_id, user_id=chat_id)
        )
        await state.set_state(EditPost.content)
        await state.update_data(post_id=post.id)
        return True

    return send
