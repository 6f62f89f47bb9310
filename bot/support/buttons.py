"""The support desk's inline buttons."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class SupportAction(StrEnum):
    ADD_TO_FAQ = "faq"  # a delivered answer and its question become an FAQ entry


class SupportCallback(CallbackData, prefix="s"):
    op: SupportAction
    ticket: int
