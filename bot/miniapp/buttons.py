"""The buttons that open the calendar Mini App: each manager's menu button, and 📅 under /queue.

Telegram opens Mini Apps only from https addresses, so with an http development URL there are no
buttons (open the URL `python -m bot miniapp-url` prints in a browser instead).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonWebApp,
    Message,
    WebAppInfo,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings

logger = logging.getLogger(__name__)


def calendar_keyboard(settings: Settings) -> InlineKeyboardMarkup | None:
    """A 📅 button opening the calendar, where Telegram can open it (an https MINIAPP_URL)."""
    if not settings.miniapp_public:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("📅 Open the calendar"),
                    web_app=WebAppInfo(url=settings.miniapp_url),
                )
            ]
        ]
    )


async def offer_calendar(message: Message, settings: Settings) -> None:
    """Under /queue: one short message with the calendar button (nothing without the app)."""
    keyboard = calendar_keyboard(settings)
    if keyboard is not None:
        await message.answer(_("Plan the week on the calendar:"), reply_markup=keyboard)


async def set_menu_buttons(
    bot: Bot, settings: Settings, i18n: I18n, locale_for: Callable[[int], Awaitable[str]]
) -> int:
    """Each manager's menu button opens the calendar; returns how many were set. A manager
    who never started the bot cannot have one yet (Telegram refuses), which is only logged."""
    if not settings.miniapp_public:
        return 0
    done = 0
    for manager_id in sorted(settings.manager_ids):
        locale = await locale_for(manager_id)
        with i18n.context(), i18n.use_locale(locale):
            button = MenuButtonWebApp(
                text=_("📅 Calendar"), web_app=WebAppInfo(url=settings.miniapp_url)
            )
        try:
            await bot.set_chat_menu_button(chat_id=manager_id, menu_button=button)
            done += 1
        except TelegramAPIError as exc:
            logger.warning("calendar menu button not set for manager %s: %s", manager_id, exc)
    return done
