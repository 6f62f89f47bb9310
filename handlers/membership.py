"""Who joins and leaves: the bot itself (groups and channels it is in) and new members.

(Whose admin rights changed is handled by `RoleCacheMiddleware`, which sees every membership
update without consuming it, so feature routers still get joins and leaves.)
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, Router
from aiogram.types import ChatMemberUpdated
from aiogram.utils.i18n import I18n

from bot.commands import register_group_admin_menu
from bot.config import Settings
from bot.posting.channels import channel_rights, rights_line
from bot.private import PrivateNotes
from bot.roles import RoleService
from handlers import protection
from storage.chats import ChatRepository
from storage.posts import ChannelRepository

logger = logging.getLogger(__name__)


async def bot_membership_changed(
    event: ChatMemberUpdated,
    bot: Bot,
    chats: ChatRepository,
    role_service: RoleService,
    settings: Settings,
    i18n: I18n,
    channel_repo: ChannelRepository,
    locale_for: Callable[[int], Awaitable[str]],
    notes: PrivateNotes,
) -> None:
    chat = event.chat
    status = event.new_chat_member.status
    await chats.upsert_chat(chat.id, chat.type, chat.title, chat.username)
    await chats.set_bot_status(chat.id, status)
    role_service.invalidate(chat.id)
    logger.info("bot is now %s in %s (%s)", status, chat.id, chat.type)
    if chat.type == "private":
        await notes.chat_changed(chat.id, blocked=status == "kicked")
        return
    joined = status in {"member", "administrator"} and event.old_chat_member.status in {
        "left",
        "kicked",
    }
    if joined and chat.type in {"group", "supergroup"}:
        await register_group_admin_menu(bot, i18n, settings.languages, chat.id)
    if chat.type == "channel":
        await note_channel_rights(chat, event, channel_repo, notes, settings, i18n, locale_for)


async def note_channel_rights(
    chat,
    event: ChatMemberUpdated,
    channel_repo: ChannelRepository,
    notes: PrivateNotes,
    settings: Settings,
    i18n: I18n,
    locale_for: Callable[[int], Awaitable[str]],
) -> None:
    """Register a channel the bot was made admin of, or flag one where it lost its rights,
    and tell the managers either way (queued posts for a flagged channel are held)."""
    before = await channel_repo.get(chat.id)
    channel = channel_rights(chat, event.new_chat_member)
    await channel_repo.upsert(channel, int(event.date.timestamp()))
    if before is None and not channel.can_post:
        return
    for manager in sorted(settings.manager_ids):
        locale = await locale_for(manager)
        if channel.can_post:
            text = i18n.gettext("📣 Channel {title} is ready for posts: {rights}", locale=locale)
        else:
            text = i18n.gettext(
                "⚠️ I can no longer post in {title}; its queued posts are held.", locale=locale
            )
        await notes.send_message(
            manager,
            text.format(title=html.escape(chat.title or str(chat.id)), rights=rights_line(channel)),
        )


def create_router() -> Router:
    """Joins and leaves: the bot's own membership, newcomers and their join captcha."""
    router = Router(name="membership")
    router.my_chat_member.register(bot_membership_changed)
    router.message.register(protection.new_members_message, protection.has_new_members)
    router.chat_member.register(protection.member_joined_update, protection.is_join)
    router.callback_query.register(protection.captcha_pressed, protection.CaptchaCallback.filter())
    return router
