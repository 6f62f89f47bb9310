"""Who joins and leaves: the bot itself (groups and channels it is in) and new members.

(Whose admin rights changed is handled by `RoleCacheMiddleware`, which sees every membership
update without consuming it, so feature routers still get joins and leaves.)
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ChatMemberUpdated
from aiogram.utils.i18n import I18n

from bot.commands import register_group_admin_menu
from bot.config import Settings
from bot.roles import RoleService
from handlers import protection
from storage.chats import ChatRepository

logger = logging.getLogger(__name__)


async def bot_membership_changed(
    event: ChatMemberUpdated,
    bot: Bot,
    chats: ChatRepository,
    role_service: RoleService,
    settings: Settings,
    i18n: I18n,
) -> None:
    chat = event.chat
    status = event.new_chat_member.status
    await chats.upsert_chat(chat.id, chat.type, chat.title, chat.username)
    await chats.set_bot_status(chat.id, status)
    role_service.invalidate(chat.id)
    logger.info("bot is now %s in %s (%s)", status, chat.id, chat.type)
    joined = status in {"member", "administrator"} and event.old_chat_member.status in {
        "left",
        "kicked",
    }
    if joined and chat.type in {"group", "supergroup"}:
        await register_group_admin_menu(bot, i18n, settings.languages, chat.id)


def create_router() -> Router:
    """Joins and leaves: the bot's own membership, newcomers and their join captcha."""
    router = Router(name="membership")
    router.my_chat_member.register(bot_membership_changed)
    router.message.register(protection.new_members_message, protection.has_new_members)
    router.chat_member.register(protection.member_joined_update, protection.is_join)
    router.callback_query.register(protection.captcha_pressed, protection.CaptchaCallback.filter())
    return router
