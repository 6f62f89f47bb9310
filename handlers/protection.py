"""Automatic protection: every group message and edit is checked before any handler sees it.

`ProtectionMiddleware` is an outer middleware on the message and edited_message observers, so
it runs first for every update of those kinds, whatever router would handle it. A message it
removes never reaches the FAQ, quiz or statistics handlers. Admins, approved members, anonymous
admins and the linked channel's automatic forwards are exempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
    User,
)
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from bot.i18n import pick_language
from bot.moderation.durations import format_duration
from bot.moderation.flood import FloodTracker
from bot.moderation.language import foreign_language
from bot.moderation.service import (
    MUTED,
    STEWARD,
    UNMUTED,
    ModerationError,
    ModerationService,
    Target,
)
from bot.moderation.spam import MessageFeatures, SpamVerdict
from bot.roles import RoleService
from bot.scheduling import cancel, run_once_at
from storage.moderation import ChatModSettings

logger = logging.getLogger(__name__)

ALBUM_MEMORY_SECONDS = 120.0


class CaptchaCallback(CallbackData, prefix="captcha"):
    user_id: int


def features_of(message: Message, bot_username: str | None = None) -> MessageFeatures:
    """The scorer's view of a Telegram message: text or caption plus structural signals."""
    text = message.text or message.caption or ""
    entities = (message.entities or []) + (message.caption_entities or [])
    links = sum(1 for e in entities if e.type in {"url", "text_link"})
    mentions = sum(
        1
        for e in entities
        if e.type == "text_mention"
        or (
            e.type == "mention"
            and text[e.offset : e.offset + e.length].lstrip("@").lower() != (bot_username or "")
        )
    )
    origin = message.forward_origin
    return MessageFeatures(
        text=text,
        links=links,
        mentions=mentions,
        forwarded_from_channel=origin is not None and origin.type == "channel",
        has_buttons=message.reply_markup is not None,
    )


def chat_locale(chat_settings: ChatModSettings, settings: Settings) -> str:
    return pick_language(chat_settings.language_list, settings.languages, settings.default_language)


class ProtectionMiddleware(BaseMiddleware):
    def __init__(
        self,
        moderation: ModerationService,
        roles: RoleService,
        settings: Settings,
        i18n: I18n,
        *,
        edited: bool = False,
        flood: FloodTracker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.moderation = moderation
        self.repo = moderation.repo
        self.roles = roles
        self.settings = settings
        self.i18n = i18n
        self.edited = edited
        self.flood = flood or FloodTracker()
        self.clock = clock
        self._albums: dict[tuple[int, str], tuple[float, bool, list[int]]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Message) and event.chat.type in {"group", "supergroup"}:
            try:
                removed = await self.check(event)
            except Exception:  # a broken check must not silence the chat
                logger.exception(
                    "protection check failed for %s/%s", event.chat.id, event.message_id
                )
                removed = False
            if removed:
                return None
        return await handler(event, data)

    # --- the checks ------------------------------------------------------------------------

    async def check(self, message: Message) -> bool:
        """True when the message was removed (enforced), so nothing else should answer it."""
        chat_id = message.chat.id
        if message.is_automatic_forward or message.new_chat_members or message.left_chat_member:
            return False
        sender = message.sender_chat
        if sender is not None:
            if sender.id == chat_id:
                return False  # anonymous admin
            target = Target(sender.id, sender.title or sender.username or str(sender.id), True)
        elif message.from_user is not None:
            if message.from_user.id == self.settings.bot_id:
                return False
            target = Target(message.from_user.id, message.from_user.full_name)
            if await self.roles.is_chat_admin(chat_id, target.id):
                return False
        else:
            return False
        if await self.moderation.is_approved(chat_id, target.id):
            return False
        chat_settings = await self.repo.settings(chat_id)
        text = message.text or message.caption or ""

        album = self._album_verdict(message)
        if album is True:
            await self.moderation.delete(chat_id, message.message_id)
            return True

        if chat_settings.blocklist_mode != "off" and text:
            hit = (await self.moderation.blocklist(chat_id)).match(text)
            if hit and await self._blocklisted(message, target, chat_settings, hit):
                return True

        if (
            chat_settings.flood_mode != "off"
            and not self.edited
            and await self.flood.check(
                chat_id,
                target.id,
                self.clock(),
                chat_settings.flood_count,
                chat_settings.flood_seconds,
            )
            and await self._flooded(message, target, chat_settings)
        ):
            return True

        new_member = chat_settings.spam_mode != "off" and await self.moderation.is_new_member(
            chat_id, target.id, chat_settings.new_member_messages
        )
        if new_member:
            verdict = await self.moderation.score(features_of(message))
            if verdict.is_spam and await self._spam(message, target, chat_settings, verdict):
                return True

        if chat_settings.language_mode != "off" and chat_settings.language_list and text:
            foreign = await asyncio.to_thread(foreign_language, text, chat_settings.language_list)
            if foreign and await self._foreign(message, target, chat_settings, foreign):
                return True

        if new_member and not self.edited:
            await self.moderation.count_clean(chat_id, target.id, chat_settings.new_member_messages)
        self._remember_album(message, spam=False)
        return False

    def _album_verdict(self, message: Message) -> bool | None:
        if not message.media_group_id:
            return None
        key = (message.chat.id, message.media_group_id)
        now = time.monotonic()
        for stale in [k for k, v in self._albums.items() if now - v[0] > ALBUM_MEMORY_SECONDS]:
            del self._albums[stale]
        entry = self._albums.get(key)
        if entry is None:
            return None
        entry[2].append(message.message_id)
        return entry[1] or None

    def _remember_album(self, message: Message, spam: bool) -> None:
        if not message.media_group_id:
            return
        key = (message.chat.id, message.media_group_id)
        entry = self._albums.get(key)
        ids = entry[2] if entry else []
        if message.message_id not in ids:
            ids.append(message.message_id)
        self._albums[key] = (time.monotonic(), spam or bool(entry and entry[1]), ids)

    async def _enforce_delete(self, message: Message) -> list[int]:
        """Delete the message and, for an album judged as one unit, its siblings."""
        ids = [message.message_id]
        if message.media_group_id:
            entry = self._albums.get((message.chat.id, message.media_group_id))
            ids = sorted(set(ids) | set(entry[2] if entry else []))
        for message_id in ids:
            await self.moderation.delete(message.chat.id, message_id)
        return ids

    async def _detect(self, message: Message, target: Target, rule: str, **audit: Any) -> None:
        await self.moderation.record(
            message.chat.id,
            STEWARD,
            target,
            "detect",
            rule=rule,
            message_id=message.message_id,
            message_text=message.text or message.caption,
            **audit,
        )

    async def _remove_by_rule(
        self, message: Message, target: Target, mode: str, rule: str, details: dict
    ) -> bool:
        """The delete-type rules: in log-only mode record a detection and let the message
        through; when enforced delete it (album siblings included) and record that."""
        if mode == "log":
            await self._detect(message, target, rule, details=details)
            return False
        await self._enforce_delete(message)
        await self.moderation.record(
            message.chat.id,
            STEWARD,
            target,
            "delete",
            rule=rule,
            details=details,
            message_id=message.message_id,
            message_text=message.text or message.caption,
        )
        return True

    async def _blocklisted(
        self, message: Message, target: Target, chat_settings: ChatModSettings, hit: str
    ) -> bool:
        if not await self._remove_by_rule(
            message, target, chat_settings.blocklist_mode, "blocklist", {"filter": hit}
        ):
            return False
        if chat_settings.blocklist_warn and not target.is_chat:
            try:
                await self.moderation.warn(
                    message.chat.id, target, STEWARD, f"blocklist: {hit}", rule="blocklist"
                )
            except ModerationError as exc:
                logger.warning("blocklist warn failed: %s", exc)
        return True

    async def _flooded(
        self, message: Message, target: Target, chat_settings: ChatModSettings
    ) -> bool:
        if chat_settings.flood_mode == "log":
            await self._detect(message, target, "flood")
            return False
        duration = timedelta(seconds=chat_settings.flood_mute_seconds)
        try:
            if target.is_chat:
                await self.moderation.ban(
                    message.chat.id, target, STEWARD, None, "flood", rule="flood"
                )
            else:
                await self.moderation.mute(
                    message.chat.id, target, STEWARD, duration, "flood", rule="flood"
                )
        except ModerationError as exc:
            logger.warning("flood mute failed in %s: %s", message.chat.id, exc)
            return False
        locale = chat_locale(chat_settings, self.settings)
        notice = self.i18n.gettext(
            "🔇 {name} is muted for {duration} for flooding.", locale=locale
        ).format(name=target.mention, duration=format_duration(duration))
        try:
            await message.answer(notice)
        except TelegramAPIError as exc:
            logger.info("flood notice failed: %s", exc)
        return False  # the message itself stays; the member is muted

    async def _spam(
        self, message: Message, target: Target, chat_settings: ChatModSettings, verdict: SpamVerdict
    ) -> bool:
        audit = {
            "rule": "spam",
            "score": verdict.score,
            "details": {"signals": verdict.signals},
            "message_id": message.message_id,
            "message_text": message.text or message.caption,
        }
        if chat_settings.spam_mode == "log":
            await self.moderation.record(message.chat.id, STEWARD, target, "detect", **audit)
            return False
        self._remember_album(message, spam=True)
        await self._enforce_delete(message)
        try:
            if chat_settings.spam_action == "mute" and not target.is_chat:
                await self.moderation.mute(message.chat.id, target, STEWARD, None, "spam", **audit)
            else:
                await self.moderation.ban(message.chat.id, target, STEWARD, None, "spam", **audit)
        except ModerationError as exc:
            logger.warning("spam ban failed in %s: %s", message.chat.id, exc)
            await self.moderation.record(message.chat.id, STEWARD, target, "delete", **audit)
        return True

    async def _foreign(
        self, message: Message, target: Target, chat_settings: ChatModSettings, language: str
    ) -> bool:
        if not await self._remove_by_rule(
            message, target, chat_settings.language_mode, "language", {"language": language}
        ):
            return False
        locale = chat_locale(chat_settings, self.settings)
        notice = self.i18n.gettext(
            "{name}, please write in this chat's language ({languages}).", locale=locale
        ).format(name=target.mention, languages=", ".join(chat_settings.language_list))
        try:
            await message.answer(notice)
        except TelegramAPIError as exc:
            logger.info("language notice failed: %s", exc)
        return True


# --- joins and captcha ----------------------------------------------------------------------


class Captcha:
    """Join captcha: restrict the newcomer, ask for a button press, remove them on timeout."""

    def __init__(
        self,
        bot: Bot,
        moderation: ModerationService,
        settings: Settings,
        i18n: I18n,
        scheduler: AsyncIOScheduler,
    ) -> None:
        self.bot = bot
        self.moderation = moderation
        self.repo = moderation.repo
        self.settings = settings
        self.i18n = i18n
        self.scheduler = scheduler

    def _job_id(self, chat_id: int, user_id: int) -> str:
        return f"captcha:{chat_id}:{user_id}"

    async def challenge(self, chat_id: int, user: User, join_message_id: int | None) -> None:
        chat_settings = await self.repo.settings(chat_id)
        if chat_settings.captcha_mode == "off" or user.is_bot:
            return
        if chat_settings.captcha_mode == "log":
            await self.moderation.record(
                chat_id,
                STEWARD,
                Target(user.id, user.full_name),
                "detect",
                rule="captcha",
                reason="joined",
            )
            return
        if await self.repo.has_captcha(chat_id, user.id):
            return  # the join message and the chat_member update both announce a newcomer
        try:
            await self.bot.restrict_chat_member(chat_id, user.id, MUTED)
        except TelegramAPIError as exc:
            logger.warning("captcha: cannot restrict %s in %s: %s", user.id, chat_id, exc)
            return
        locale = chat_locale(chat_settings, self.settings)
        text = self.i18n.gettext(
            "👋 Welcome, {name}! Please press the button below within {seconds} seconds to "
            "show you are a person, then you can write.",
            locale=locale,
        ).format(
            name=Target(user.id, user.full_name).mention, seconds=chat_settings.captcha_seconds
        )
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=self.i18n.gettext("✅ I am a person", locale=locale),
                        callback_data=CaptchaCallback(user_id=user.id).pack(),
                    )
                ]
            ]
        )
        sent = await self.bot.send_message(chat_id, text, reply_markup=markup)
        deadline = self.moderation.now() + chat_settings.captcha_seconds
        await self.repo.add_captcha(chat_id, user.id, sent.message_id, join_message_id, deadline)
        self.arm(chat_id, user.id, deadline)

    def arm(self, chat_id: int, user_id: int, deadline: int) -> None:
        run_once_at(
            self.scheduler, self._job_id(chat_id, user_id), deadline, self.expire, chat_id, user_id
        )

    def moved(self, old: int, new: int, pending: list[tuple[int, int]]) -> None:
        """Pending captchas of an upgraded group: their timers follow it to the new id."""
        for user_id, deadline in pending:
            cancel(self.scheduler, self._job_id(old, user_id))
            self.arm(new, user_id, max(deadline, self.moderation.now()))

    async def rearm_all(self) -> int:
        pending = await self.repo.pending_captchas()
        for p in pending:
            self.arm(p["chat_id"], p["user_id"], max(p["deadline"], self.moderation.now()))
        return len(pending)

    async def expire(self, chat_id: int, user_id: int) -> None:
        pending = await self.repo.pop_captcha(chat_id, user_id)
        if pending is None:
            return  # solved meanwhile
        target = Target(user_id, str(user_id))
        try:
            await self.bot.ban_chat_member(chat_id, user_id)
            await self.bot.unban_chat_member(chat_id, user_id, only_if_banned=True)
        except TelegramAPIError as exc:
            logger.warning("captcha: cannot remove %s from %s: %s", user_id, chat_id, exc)
        for message_id in (pending["captcha_message_id"], pending["join_message_id"]):
            if message_id:
                await self.moderation.delete(chat_id, message_id)
        await self.moderation.record(chat_id, STEWARD, target, "captcha_kick", rule="captcha")

    async def solved(self, query: CallbackQuery, callback_data: CaptchaCallback) -> None:
        chat_id = query.message.chat.id
        locale = pick_language(
            [query.from_user.language_code], self.settings.languages, self.settings.default_language
        )
        if query.from_user.id != callback_data.user_id:
            await query.answer(
                self.i18n.gettext("This button is for the new member.", locale=locale),
                show_alert=True,
            )
            return
        pending = await self.repo.pop_captcha(chat_id, query.from_user.id)
        if pending is None:
            await query.answer()
            return
        cancel(self.scheduler, self._job_id(chat_id, query.from_user.id))
        try:
            await self.bot.restrict_chat_member(chat_id, query.from_user.id, UNMUTED)
        except TelegramAPIError as exc:
            logger.warning("captcha: cannot unrestrict %s: %s", query.from_user.id, exc)
        if pending["captcha_message_id"]:
            await self.moderation.delete(chat_id, pending["captcha_message_id"])
        await query.answer(self.i18n.gettext("Thanks, welcome to the chat!", locale=locale))


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
    return event.old_chat_member.status in {"left", "kicked"} and event.new_chat_member.status in {
        "member",
        "restricted",
    }
