"""Statistics: counting on the way through the pipeline, and the reports managers read."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.filters import CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    Message,
    MessageOriginChannel,
    MessageReactionCountUpdated,
    TelegramObject,
)
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.chat_migration import ChatMigrations
from bot.commands import on_command
from bot.guards import button_message
from bot.membership import MembershipChange, is_member, membership_change
from bot.middlewares import Handler, is_command_text
from bot.roles import Requirement
from bot.stats.report import parse_period
from bot.stats.service import StatsService
from bot.topics import thread_of


class StatsMiddleware(BaseMiddleware):
    """Outer middleware after moderation: counts what survived the checks, joins and leaves.

    Per message it is a few dictionary increments (see `StatsCollector`); the only database
    call is for a comment on a channel post in its discussion group."""

    def __init__(self, stats: StatsService) -> None:
        self.stats = stats
        self.collector = stats.collector

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message) and event.chat.type in {"group", "supergroup"}:
            user = event.from_user
            # a person's own message: not a bot's, not one sent as a chat (the linked channel's
            # automatic forwards come from Telegram's 777000, who is no bot, as the channel)
            if (
                user is not None
                and not user.is_bot
                and event.sender_chat is None
                and not event.new_chat_members
            ):
                self.collector.message(
                    event.chat.id, user.id, user.full_name, event.date.timestamp()
                )
            reply = event.reply_to_message
            origin = reply.forward_origin if reply is not None else None
            if (
                reply is not None
                and reply.is_automatic_forward
                and origin is not None
                and isinstance(origin, MessageOriginChannel)
            ):
                channel, post = origin.chat.id, origin.message_id
                await self.collector.once_handled(lambda: self.stats.comment(channel, post))
        elif isinstance(event, ChatMemberUpdated):
            # a restricted user is in the chat only while is_member says so: one who leaves
            # stays restricted (restricted → restricted), as /campaigns counts it too
            old, new = event.old_chat_member, event.new_chat_member
            change = membership_change(
                is_member(old.status, getattr(old, "is_member", None)),
                is_member(new.status, getattr(new, "is_member", None)),
                is_bot=new.user.is_bot,
            )
            if change is MembershipChange.JOIN:
                self.collector.bump(event.chat.id, "joins", ts=event.date.timestamp())
            elif change is MembershipChange.LEAVE:
                self.collector.bump(event.chat.id, "leaves", ts=event.date.timestamp())
        return await handler(event, data)


class CountWhenHandled(BaseMiddleware):
    """Outer middleware on the whole update, outside every counting one: what the update
    counts in the statistics counts once it was handled (a failure the error handler took
    included), and not when its handling was cut off (cancelled: the worker stopped, and
    Telegram delivers the update again), so a redelivered update is counted once."""

    def __init__(self, stats: StatsService) -> None:
        self.collector = stats.collector

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tally = self.collector.begin_update()
        try:
            result = await handler(event, data)
        except asyncio.CancelledError:
            await self.collector.end_update(tally, handled=False)
            raise
        except BaseException:
            await self.collector.end_update(tally, handled=True)
            raise
        if tally.counts or tally.later:
            await self.collector.end_update(tally, handled=True)
        else:  # most updates count nothing: no coroutine for them
            tally.open = False
        return result


class Report(StrEnum):
    STATS = "stats"  # the activity report with its chart
    BEST = "best"  # the best time to post, as a heat map
    CSV = "csv"


class StatsChatCallback(CallbackData, prefix="stats"):
    chat_id: int
    days: int
    what: Report = Report.STATS


async def _choose_chat(message: Message, stats: StatsService, days: int, what: Report) -> None:
    known = await stats.known_chats()
    if not known:
        await message.reply(_("I am not in any group or channel yet."))
        return
    builder = InlineKeyboardBuilder()
    for c in known[:50]:
        builder.button(
            text=("📣 " if c.type == "channel" else "👥 ")
            + (c.title or c.username or str(c.chat_id)),
            callback_data=StatsChatCallback(chat_id=c.chat_id, days=days, what=what),
        )
    if what is Report.CSV and len(known) > 1:
        builder.button(
            text=_("All chats"), callback_data=StatsChatCallback(chat_id=0, days=days, what=what)
        )
    await message.reply(_("Which chat?"), reply_markup=builder.adjust(1).as_markup())


async def _period(message: Message, command: CommandObject, default: int = 7) -> int | None:
    days = parse_period(command.args, default)
    if days is None:
        await message.reply(
            _("Use a period of 7d, 30d or 90d, e.g. /{command} 30d.").format(
                command=command.command
            )
        )
    return days


# /stats, /besttime and /export_stats: what each sends, and its default period
KINDS = {
    "stats": (Report.STATS, 7),
    "besttime": (Report.BEST, 30),
    "export_stats": (Report.CSV, 30),
}


async def deliver(
    stats: StatsService,
    what: Report,
    to_chat: int,
    chat_id: int,
    days: int,
    locale: str,
    thread_id: int | None = None,
) -> None:
    """Send one chat's report, heat map or CSV; chat id 0 means every chat (CSV only).
    `thread_id`: the forum topic the request came from."""
    if what is Report.BEST:
        await stats.send_best_time(to_chat, chat_id, days, locale, thread_id)
    elif what is Report.CSV:
        chat_ids = [chat_id] if chat_id else [c.chat_id for c in await stats.known_chats()]
        for one in chat_ids:  # one CSV per chat
            await stats.bot.send_document(
                to_chat, await stats.csv_file(one, days), message_thread_id=thread_id
            )
    else:
        await stats.send_report(to_chat, chat_id, days, locale, thread_id)


async def report_command(message: Message, command: CommandObject, stats: StatsService) -> None:
    """In a group: about that group. In private (managers): choose the chat with buttons."""
    what, default_days = KINDS[command.command]
    days = await _period(message, command, default_days)
    if days is None:
        return
    if message.chat.type == "private":
        await _choose_chat(message, stats, days, what)
        return
    await deliver(
        stats,
        what,
        message.chat.id,
        message.chat.id,
        days,
        get_i18n().current_locale,
        thread_of(message),
    )


async def chat_chosen(
    query: CallbackQuery,
    callback_data: StatsChatCallback,
    stats: StatsService,
    migrations: ChatMigrations,
) -> None:
    await query.answer()
    await deliver(
        stats,
        callback_data.what,
        button_message(query).chat.id,
        # a button shown before its group was upgraded names the old id; the rows moved
        migrations.current(callback_data.chat_id),
        callback_data.days,
        get_i18n().current_locale,
    )


async def digest_command(message: Message, stats: StatsService) -> None:
    await stats.send_digest(only_to=message.chat.id)


async def channel_post(message: Message, stats: StatsService) -> None:
    await stats.channel_post(message.chat.id, message.message_id, int(message.date.timestamp()))


async def reaction_count(event: MessageReactionCountUpdated, stats: StatsService) -> None:
    total = sum(r.total_count for r in event.reactions)
    await stats.reaction_count(event.chat.id, event.message_id, total)


def create_router() -> Router:
    router = Router(name="stats")
    router.message.filter(is_command_text)
    on_command(router.message, report_command, *KINDS)
    on_command(router.message, digest_command, "digest")
    router.callback_query.register(
        chat_chosen, StatsChatCallback.filter(), flags={"role": Requirement.MANAGER}
    )
    router.channel_post.register(channel_post)
    router.message_reaction_count.register(reaction_count)
    return router
