"""The chat side of the calendar Mini App: its buttons, and "Edit in chat".

Edit in chat does what /queue's Edit does, started from the app: the bot sends the post back to
the manager's private chat, asks for the new content and waits for it in the same state, so the
compose router's existing handler takes the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.clock import Clock
from bot.i18n import LocaleFor
from bot.miniapp.auth import Caller
from bot.private import PrivateNotes, Reach
from bot.waits import EditPost, wait_for
from storage.posts import Post

logger = logging.getLogger(__name__)


def edit_in_chat_sender(
    bot: Bot,
    notes: PrivateNotes,
    storage: BaseStorage,
    i18n: I18n,
    locale_for: LocaleFor,
    languages: tuple[str, ...],
    clock: Clock,
) -> Callable[[Post, Caller], Awaitable[bool]]:
    async def send(post: Post, caller: Caller) -> bool:
        chat_id = caller.user_id
        if caller.language in languages:
            locale = caller.language
        else:
            locale = await locale_for(chat_id)
        # a private note like any other: a manager who blocked the bot is an ordinary outcome,
        # recorded on them (PrivateNotes), not a warning per press
        if len(post.source_message_ids) == 1:
            copied = await notes.copy_message(
                chat_id, post.source_chat_id, post.source_message_ids[0]
            )
        else:
            copied = await notes.deliver(
                chat_id,
                lambda: bot.copy_messages(chat_id, post.source_chat_id, post.source_message_ids),
            )
        if copied.reach not in (Reach.DELIVERED, Reach.FAILED):
            return False
        if not copied.delivered:
            # the manager deleted the original ("message to copy not found"): nothing to show,
            # but new content is just what such a post needs, so the prompt still goes out
            logger.info("post %s not copied back to %s: %s", post.id, chat_id, copied.error)
        with i18n.context(), i18n.use_locale(locale):
            prompt = _(
                "Send the new content for post #{id}: text, media or an album. "
                "Time, channel and options stay. /cancel to stop."
            ).format(id=post.id)
        if not (await notes.send_message(chat_id, prompt)).delivered:
            return False
        state = FSMContext(
            storage=storage, key=StorageKey(bot_id=bot.id, chat_id=chat_id, user_id=chat_id)
        )
        await wait_for(state, EditPost.content, clock(), post_id=post.id)
        return True

    return send
