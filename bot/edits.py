"""Edits that may change nothing.

Telegram refuses an edit whose text and buttons are what the message already shows (`400 Bad
Request: message is not modified`), which is what a double tap on a button produces. The message
already looks as intended, so that answer is success; any other refusal still reaches the caller.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from aiogram.exceptions import TelegramBadRequest

T = TypeVar("T")


def is_not_modified(exc: TelegramBadRequest) -> bool:
    return "message is not modified" in exc.message


async def edit_or_same(edit: Awaitable[T]) -> T | None:
    """Await an edit call; None when Telegram says nothing changed."""
    try:
        return await edit
    except TelegramBadRequest as exc:
        if is_not_modified(exc):
            return None
        raise
