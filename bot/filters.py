"""Message filters more than one feature uses. Coroutines, since aiogram runs synchronous
filters in a worker thread (see `bot.middlewares.is_command_text`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.types import Message

if TYPE_CHECKING:
    from bot.roles import RoleService


async def group_member_message(message: Message) -> bool:
    """A group message from a person (not a bot, not a channel identity)."""
    user = message.from_user
    return (
        message.chat.type in {"group", "supergroup"}
        and user is not None
        and not user.is_bot
        and message.sender_chat is None
    )


async def typed_answer(message: Message) -> bool:
    """A private message that may answer what the bot asked for (a time, buttons, a post's new
    content): anything but a command. A command goes to its own handler, /cancel above all,
    and the question stays asked."""
    return message.chat.type == "private" and not (message.text or "").startswith("/")


async def manager_content(message: Message, role_service: RoleService) -> bool:
    """Anything but a command that a manager sends the bot in private is a post to compose."""
    return (
        message.chat.type == "private"
        and message.from_user is not None
        and role_service.is_manager(message.from_user.id)
        and not (message.text or "").startswith("/")
    )
