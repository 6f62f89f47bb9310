"""Inline buttons shared by the queue, the compose panel and the publisher's notices."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _


class QueueCallback(CallbackData, prefix="q"):
    op: str  # now | later | edit | cancel | sure
    post_id: int


def queue_keyboard(post_id: int, *, retry: bool = False, edit: bool = True) -> InlineKeyboardMarkup:
    """Publish now / Reschedule / Edit / Cancel for one post; a failed post's first button
    says Retry, which is the same action."""
    first = _("🔁 Retry") if retry else _("▶️ Publish now")

    def button(text: str, op: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=QueueCallback(op=op, post_id=post_id).pack()
        )

    rows = [[button(first, "now"), button(_("🕒 Reschedule"), "later")]]
    second = [button(_("✖️ Cancel"), "cancel")]
    if edit:
        second.insert(0, button(_("✏️ Edit"), "edit"))
    rows.append(second)
    return InlineKeyboardMarkup(inline_keyboard=rows)
