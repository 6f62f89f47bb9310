"""Inline buttons of the moderator commands: /settings, members' reports, undo of an action."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.moderation.chat_settings import SettingKey
from bot.moderation.reports import ReportAction
from bot.moderation.service import LogAction, ModCallback


class SettingsCallback(CallbackData, prefix="modset"):
    """A /settings button of a panel sent before buttons carried what they showed: still a
    tap that moves the rule on from whatever it is now."""

    key: SettingKey


class SettingsTap(CallbackData, prefix="modst"):
    """A /settings button and the value its panel showed (`shown_value`): a second tap of a
    double tap, or a tap on a panel out of date, changes nothing."""

    key: SettingKey
    seen: str


class ReportCallback(CallbackData, prefix="rep"):
    op: ReportAction
    chat_id: int
    message_id: int
    user_id: int


def undo_keyboard(action_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("↩️ Undo"), callback_data=ModCallback(op=LogAction.UNDO, action_id=action_id)
    )
    return builder.as_markup()


def report_keyboard(
    chat_id: int, message_id: int, user_id: int, is_chat: bool = False
) -> InlineKeyboardMarkup:
    """The admins' buttons under a report. A channel identity (`is_chat`, its id in `user_id`)
    can be banned (banChatSenderChat) but not warned or muted."""
    builder = InlineKeyboardBuilder()
    for text, op in (
        (_("🗑 Delete"), ReportAction.DELETE),
        (_("⚠️ Warn"), ReportAction.WARN),
        (_("🔇 Mute 1d"), ReportAction.MUTE),
        (_("🔨 Ban"), ReportAction.BAN),
        (_("✖️ Dismiss"), ReportAction.DISMISS),
    ):
        if is_chat and op in {ReportAction.WARN, ReportAction.MUTE}:
            continue
        builder.button(
            text=text,
            callback_data=ReportCallback(
                op=op, chat_id=chat_id, message_id=message_id, user_id=user_id
            ),
        )
    builder.adjust(3, 2)
    return builder.as_markup()
