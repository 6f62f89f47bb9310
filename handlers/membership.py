"""Who joins and leaves: the bot itself (groups and channels it is in) and new members.

(Whose admin rights changed is handled by `RoleCacheMiddleware`, which sees every membership
update without consuming it, so feature routers still get joins and leaves.)
"""

from __future__ import annotations

import html
import logging
from functools import partial

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatMemberAdministrator,
    ChatMemberOwner,
    ChatMemberUpdated,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.bot_rights import BotNeed, RightsNotice, bot_needs, rights_notice
from bot.chat_registry import ChatRegistry
from bot.commands import register_group_admin_menu
from bot.config import Settings
from bot.i18n import LocaleFor
from bot.membership import is_member
from bot.moderation.captcha import Captcha, CaptchaCallback
from bot.moderation.service import ModerationService
from bot.posting.channels import channel_rights, rights_line
from bot.private import PrivateNotes
from bot.roles import RoleService

logger = logging.getLogger(__name__)


async def bot_membership_changed(
    event: ChatMemberUpdated,
    bot: Bot,
    chat_registry: ChatRegistry,
    role_service: RoleService,
    settings: Settings,
    i18n: I18n,
    locale_for: LocaleFor,
    notes: PrivateNotes,
) -> None:
    chat = event.chat
    status = event.new_chat_member.status
    await chat_registry.bot_status(chat.id, chat.type, chat.title, chat.username, status)
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
    if chat.type in {"group", "supergroup"}:
        await tell_what_the_bot_needs(event, bot)
    if chat.type == "channel":
        await note_channel_rights(chat, event, chat_registry, notes, settings, i18n, locale_for)


def _needs(member: object) -> frozenset[BotNeed] | None:
    status = str(getattr(member, "status", "left"))
    if isinstance(member, ChatMemberOwner):
        return bot_needs(status, True, True)
    if isinstance(member, ChatMemberAdministrator):
        return bot_needs(status, member.can_delete_messages, member.can_restrict_members)
    return bot_needs(status, False, False)


def _ask_text(needs: frozenset[BotNeed]) -> str:
    if BotNeed.ADMIN in needs:
        return _(
            "I am a plain member here, so Telegram shows me only commands, replies to me and "
            "mentions. To check every message, make me an admin with the rights to delete "
            "messages and ban users."
        )
    if needs == {BotNeed.DELETE}:
        return _(
            "I am an admin here but may not delete messages: give me that right, or I cannot "
            "remove spam and flood."
        )
    if needs == {BotNeed.BAN}:
        return _(
            "I am an admin here but may not ban users: give me that right, or I cannot mute, "
            "ban or kick."
        )
    return _(
        "I am an admin here but may not delete messages or ban users: give me these rights, "
        "or I cannot moderate this chat."
    )


async def tell_what_the_bot_needs(event: ChatMemberUpdated, bot: Bot) -> None:
    """Say in the group what the bot lacks when that changes (added as a plain member, made an
    admin without a right it works with, demoted), and thank once it has it all. Telegram
    answers `my_chat_member` of a group in the language of whoever changed the bot (or the
    chat's own languages): that person is the admin who can fix it."""
    notice = rights_notice(_needs(event.old_chat_member), _needs(event.new_chat_member))
    if notice is None:
        return
    if notice is RightsNotice.ASK:
        needs = _needs(event.new_chat_member) or frozenset()
        text = _ask_text(needs)
    else:
        text = _("Thank you: I now have the rights I need to moderate this chat.")
    try:
        await bot.send_message(event.chat.id, text)
    except TelegramAPIError as error:  # e.g. a group where members may not write
        logger.info("could not tell %s what the bot needs: %s", event.chat.id, error)


async def note_channel_rights(
    chat: Chat,
    event: ChatMemberUpdated,
    chat_registry: ChatRegistry,
    notes: PrivateNotes,
    settings: Settings,
    i18n: I18n,
    locale_for: LocaleFor,
) -> None:
    """Register a channel the bot was made admin of, or flag one where it lost its rights,
    and tell the managers either way (queued posts for a flagged channel are held)."""
    channel = channel_rights(chat, event.new_chat_member)
    if not await chat_registry.channel_rights(channel, int(event.date.timestamp())):
        return
    for manager in sorted(settings.manager_ids):
        locale = await locale_for(manager)
        rights = rights_line(channel, partial(i18n.gettext, locale=locale))
        if channel.can_post:
            text = i18n.gettext("📣 Channel {title} is ready for posts: {rights}", locale=locale)
        else:
            text = i18n.gettext(
                "⚠️ I can no longer post in {title}; its queued posts are held.", locale=locale
            )
        await notes.send_message(
            manager,
            text.format(title=html.escape(chat.title or str(chat.id)), rights=rights),
        )


# --- newcomers -----------------------------------------------------------------------------


async def new_members_message(
    message: Message, moderation: ModerationService, captcha: Captcha
) -> None:
    for user in message.new_chat_members or []:
        if user.is_bot:
            continue
        await moderation.member_joined(message.chat.id, user.id)
        await captcha.challenge(message.chat.id, user, message.message_id)


async def member_joined_update(
    event: ChatMemberUpdated, moderation: ModerationService, captcha: Captcha
) -> None:
    user = event.new_chat_member.user
    if user.is_bot:
        return
    await moderation.member_joined(event.chat.id, user.id)
    await captcha.challenge(event.chat.id, user, None)


async def captcha_pressed(
    query: CallbackQuery, callback_data: CaptchaCallback, captcha: Captcha
) -> None:
    await captcha.solved(query, callback_data)


async def has_new_members(message: Message) -> bool:
    return bool(message.new_chat_members)


async def is_join(event: ChatMemberUpdated) -> bool:
    """A newcomer: not in the chat before, an ordinary (or restricted) member now. Restrictions
    outlive a leave, so membership is read off `is_member`, not the status: a muted member
    coming back is restricted → restricted, a non-member restricted in advance left →
    restricted with no membership."""
    old, new = event.old_chat_member, event.new_chat_member
    return (
        new.status in {"member", "restricted"}
        and not is_member(old.status, getattr(old, "is_member", None))
        and is_member(new.status, getattr(new, "is_member", None))
    )


def create_router() -> Router:
    """Joins and leaves: the bot's own membership, newcomers and their join captcha."""
    router = Router(name="membership")
    router.my_chat_member.register(bot_membership_changed)
    router.message.register(new_members_message, has_new_members)
    router.chat_member.register(member_joined_update, is_join)
    router.callback_query.register(captcha_pressed, CaptchaCallback.filter())
    return router
