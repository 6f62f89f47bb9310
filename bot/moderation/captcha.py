"""The join captcha: a newcomer is muted until they press a button; on timeout they are
removed (they may rejoin). Pending captchas are stored, so a restart re-arms their timers, and
an upgraded group's timers follow it to the new id. Every restriction goes through
`ModerationService`, like any other moderation action."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, User
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from bot.i18n import pick_language, plural_for
from bot.moderation.problems import CAPTCHA_SUPERGROUP_REASON, Problem
from bot.moderation.service import (
    MUTED,
    NO_RIGHTS_REASON,
    STEWARD,
    UNMUTED,
    AuditAction,
    ModerationError,
    ModerationService,
    Target,
)
from bot.scheduling import cancel, run_once_at
from storage.moderation import ChatModSettings

logger = logging.getLogger(__name__)


class CaptchaCallback(CallbackData, prefix="captcha"):
    user_id: int


def chat_locale(chat_settings: ChatModSettings, settings: Settings) -> str:
    return pick_language(chat_settings.language_list, settings.languages, settings.default_language)


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
        # how long a worker removing a newcomer holds the captcha before another may
        self.lease_seconds = settings.worker_lease_seconds

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
                AuditAction.DETECT,
                rule="captcha",
                reason="joined",
            )
            return
        if await self.repo.has_captcha(chat_id, user.id):
            return  # the join message and the chat_member update both announce a newcomer
        try:
            await self.moderation.restrict(chat_id, user.id, MUTED)
        except (ModerationError, TelegramAPIError) as exc:
            logger.warning("captcha: cannot restrict %s in %s: %s", user.id, chat_id, exc)
            reasons = {
                Problem.NO_RIGHTS: NO_RIGHTS_REASON,
                Problem.SUPERGROUP_ONLY: CAPTCHA_SUPERGROUP_REASON,  # a basic group
            }
            if isinstance(exc, ModerationError) and exc.kind in reasons:
                # the newcomer writes unchecked: the admins learn why from the log chat
                await self.moderation.record(
                    chat_id,
                    STEWARD,
                    Target(user.id, user.full_name),
                    AuditAction.DETECT,
                    reasons[exc.kind],
                    rule="captcha",
                )
            return
        locale = chat_locale(chat_settings, self.settings)
        ngettext = plural_for(self.i18n, locale)
        text = ngettext(
            "👋 Welcome, {name}! Please press the button below within {seconds} second to "
            "show you are a person, then you can write.",
            "👋 Welcome, {name}! Please press the button below within {seconds} seconds to "
            "show you are a person, then you can write.",
            chat_settings.captcha_seconds,
        ).format(
            name=Target(user.id, user.full_name).mention, seconds=chat_settings.captcha_seconds
        )
        button = InlineKeyboardBuilder()
        button.button(
            text=self.i18n.gettext("✅ I am a person", locale=locale),
            callback_data=CaptchaCallback(user_id=user.id),
        )
        sent = await self.bot.send_message(chat_id, text, reply_markup=button.as_markup())
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
        """Time is up: remove the newcomer. The captcha is taken under a lease first and
        deleted only once done, so one worker does it (every worker re-arms the timers) and
        a worker dying half-way leaves it to another, not the newcomer muted for good."""
        now = self.moderation.now()
        pending = await self.repo.claim_captcha(chat_id, user_id, now, now + self.lease_seconds)
        if pending is None:
            return  # solved meanwhile, not due (re-armed), or another worker is on it
        self.arm(chat_id, user_id, now + self.lease_seconds)  # should this one stall
        target = Target(user_id, str(user_id))
        try:
            await self.moderation.remove(chat_id, user_id)
        except (ModerationError, TelegramAPIError) as exc:
            logger.warning("captcha: cannot remove %s from %s: %s", user_id, chat_id, exc)
        for message_id in (pending["captcha_message_id"], pending["join_message_id"]):
            if message_id:
                await self.moderation.delete(chat_id, message_id)
        await self.repo.pop_captcha(chat_id, user_id)
        cancel(self.scheduler, self._job_id(chat_id, user_id))
        await self.moderation.record(
            chat_id, STEWARD, target, AuditAction.CAPTCHA_KICK, rule="captcha"
        )

    async def solved(self, query: CallbackQuery, callback_data: CaptchaCallback) -> None:
        if query.message is None:  # a button under an inline-mode message: never a captcha
            return
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
            await self.moderation.restrict(chat_id, query.from_user.id, UNMUTED)
        except (ModerationError, TelegramAPIError) as exc:
            logger.warning("captcha: cannot unrestrict %s: %s", query.from_user.id, exc)
        if pending["captcha_message_id"]:
            await self.moderation.delete(chat_id, pending["captcha_message_id"])
        await query.answer(self.i18n.gettext("Thanks, welcome to the chat!", locale=locale))
