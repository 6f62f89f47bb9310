"""Membership bookkeeping: where the bot is, and whose admin rights changed.

These updates change who may use admin commands, so the role cache is corrected here rather
than waiting for its time-to-live.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ChatMemberUpdated
from aiogram.utils.i18n import I18n

from bot.commands import register_group_admin_menu
from bot.config import Settings
from bot.roles import RoleService
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


async def member_changed(event: ChatMemberUpdated, role_service: RoleService) -> None:
    old, new = event.old_chat_member.status, event.new_chat_member.status
    if (old in {"creator", "administrator"}) != (new in {"creator", "administrator"}):
        role_service.remember_status(event.chat.id, event.new_chat_member.user.id, new)


def create_router() -> Router:
    router = Router(name="membership")
    router.my_chat_member.register(bot_membership_changed)
    router.chat_member.register(member_changed)
    return router
