"""The buttons that open the calendar Mini App: each manager's menu button (kept current by
`bot.miniapp.menu`), and 📅 under /queue.

Telegram opens Mini Apps only from https addresses, so with an http development URL there are no
buttons (open the URL `python -m bot miniapp-url` prints in a browser instead).
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
)
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonDefault,
    MenuButtonWebApp,
    Message,
    WebAppInfo,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.miniapp.menu import ApplyButton, Delivery
from storage.menu_buttons import MenuButtonState

logger = logging.getLogger(__name__)


def calendar_keyboard(settings: Settings) -> InlineKeyboardMarkup | None:
    """A 📅 button opening the calendar, where Telegram can open it (an https MINIAPP_URL)."""
    if not settings.miniapp_public or settings.miniapp_url is None:
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


def menu_button_applier(bot: Bot, i18n: I18n) -> ApplyButton:
    """Telegram's side of `MenuButtons`: the calendar button in the manager's language, or the
    default button back."""

    async def apply(user_id: int, state: MenuButtonState | None) -> Delivery:
        if state is None:
            button: MenuButtonWebApp | MenuButtonDefault = MenuButtonDefault()
        else:
            with i18n.context(), i18n.use_locale(state.locale):
                button = MenuButtonWebApp(text=_("📅 Calendar"), web_app=WebAppInfo(url=state.url))
        try:
            await bot.set_chat_menu_button(chat_id=user_id, menu_button=button)
        except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound) as exc:
            # e.g. a manager who never started the bot: their first message brings the button
            logger.info("menu button for %s not changed: %s", user_id, exc)
            return Delivery.REFUSED
        except TelegramAPIError as exc:
            logger.warning("menu button for %s not changed, retried later: %s", user_id, exc)
            return Delivery.FAILED
        return Delivery.OK

    return apply
