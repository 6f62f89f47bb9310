"""Scheduled posts (groundwork for issue 5): the one-line /schedule for managers."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.posting.publisher import Publisher
from bot.posting.times import TimeError, parse_time
from storage.chats import ChatRepository
from storage.posts import PostRepository

MANAGER_PRIVATE = {"role": "manager", "chat": "private"}


def time_error_text(code: str) -> str:
    return {
        "past": _("That time has already passed."),
        "nonexistent": _("That local time does not exist: the clocks skip it that night."),
        "ambiguous": _(
            "That local time happens twice that night (clocks go back); pick another minute."
        ),
        "invalid": _("That date or time does not exist."),
    }.get(
        code,
        _(
            "I don't understand the time. Use 18:30, tomorrow 10:00, 25.12 18:00, "
            "2026-12-25 18:00 or +30m."
        ),
    )


async def schedule_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    settings: Settings,
    chats: ChatRepository,
    post_repo: PostRepository,
    publisher: Publisher,
) -> None:
    """Reply to a message with /schedule <@channel|id|all> <time>."""
    args = (command.args or "").split(maxsplit=1)
    source = message.reply_to_message
    if source is None or len(args) < 2:
        await message.reply(
            html.escape(
                _(
                    "Reply to the message to publish with: /schedule "
                    "<@channel|id|all> <time>, e.g. /schedule @news "
                    "tomorrow 10:00"
                )
            )
        )
        return
    target, when = args
    try:
        due = parse_time(when, datetime.now(UTC), settings.timezone)
    except TimeError as exc:
        await message.reply(time_error_text(exc.code))
        return
    if target.lower() == "all":
        channels = [c.chat_id for c in await chats.with_bot() if c.type == "channel"]
    else:
        try:
            chat = await bot.get_chat(target if target.startswith("@") else int(target))
        except (TelegramAPIError, ValueError):
            chat = None
        channels = [chat.id] if chat is not None and chat.type == "channel" else []
    if not channels:
        await message.reply(_("I don't know that channel. Add me to it as an admin first."))
        return
    ids = []
    for channel_id in channels:
        post_id = await post_repo.add(
            channel_id=channel_id,
            source_chat_id=message.chat.id,
            source_message_ids=[source.message_id],
            due_at=int(due.timestamp()),
            created_by=message.from_user.id,
            now=int(datetime.now(UTC).timestamp()),
        )
        post = await post_repo.get(post_id)
        publisher.arm(post)
        ids.append(post_id)
    local = due.astimezone(settings.timezone).strftime("%d.%m.%Y %H:%M")
    await message.reply(
        _("Scheduled for {time} ({tz}): post {ids}.").format(
            time=local, tz=settings.timezone.key, ids=", ".join(f"#{i}" for i in ids)
        )
    )


def create_router() -> Router:
    router = Router(name="posting")
    router.message.register(schedule_command, Command("schedule"), flags=MANAGER_PRIVATE)
    return router
