"""The FAQ's inline buttons: 👍/👎 under an answer, "Did you mean…" picks, undo of a deletion."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

SUGGESTION_CHARS = 60  # of an entry's title on a "Did you mean…" button


class FaqAction(StrEnum):
    UP = "up"
    DOWN = "down"
    PICK = "pick"  # a "Did you mean…" suggestion
    UNDO = "undo"  # restore a deleted entry


class FaqCallback(CallbackData, prefix="f"):
    op: FaqAction
    entry: int
    asker: int = 0  # PICK: only the member who asked may pick


def feedback_keyboard(entry_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="👍", callback_data=FaqCallback(op=FaqAction.UP, entry=entry_id))
    builder.button(text="👎", callback_data=FaqCallback(op=FaqAction.DOWN, entry=entry_id))
    return builder.as_markup()


def suggestions_keyboard(
    suggestions: tuple[tuple[int, str], ...], asker: int
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for entry_id, title in suggestions:
        builder.button(
            text=title[:SUGGESTION_CHARS],
            callback_data=FaqCallback(op=FaqAction.PICK, entry=entry_id, asker=asker),
        )
    builder.adjust(1)
    return builder.as_markup()


def undo_keyboard(entry_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("↩️ Undo"), callback_data=FaqCallback(op=FaqAction.UNDO, entry=entry_id))
    return builder.as_markup()
