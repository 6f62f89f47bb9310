"""Scheduled posts (groundwork for issue 5): the one-line /schedule for managers."""

from __future__ import annotations

import html
from contextlib import suppress

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.commands import Where, on_command
from bot.config import Settings
from bot.edits import edit_or_same
from bot.filters import typed_answer
from bot.guards import accessible_message, button_message, sender
from bot.miniapp.buttons import offer_calendar
from bot.posting.albums import album_lead
from bot.posting.buttons import (
    QueueCallback,
    QueueOp,
    QueuePage,
    cancel_keyboard,
    page_keyboard,
    post_keyboard,
)
from bot.posting.channels import channel_rights, rights_line, slots_owner
from bot.posting.compose import MAX_SLOTS_PER_DAY, TooManySlots, parse_slots, summarize
from bot.posting.drafts import DraftService
from bot.posting.preview import delayed_text
from bot.posting.queue import PostQueue
from bot.posting.replies import (
    copy_refusal,
    marked_out_text,
    not_queued_text,
    out_refused_text,
    time_error_text,
)
from bot.posting.service import DEFAULT_SLOTS, Change, PostingService
from bot.posting.times import TimeError
from bot.roles import Requirement
from bot.texts import pack_lines
from bot.waits import EditPost, Reschedule, wait_for

MANAGER_PRIVATE = {"role": Requirement.MANAGER, "chat": Where.PRIVATE}


async def schedule_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    settings: Settings,
    posting: PostingService,
    compose: DraftService,
) -> None:
    """Reply to a message with /schedule <@channel|id|all> <time>."""
    args = (command.args or "").split(maxsplit=1)
    source = message.reply_to_message
    if source is None or len(args) < 2:
        await message.reply(
            html.escape(
                _(
                    "Reply to the message to publish with: /schedule <@channel|id|all> <time>, "
                    "e.g. /schedule @news tomorrow 10:00"
                )
            )
        )
        return
    if (refusal := copy_refusal([source])) is not None:
        await message.reply(refusal)
        return
    target, when = args
    try:
        timing = posting.schedule_time(when, settings.timezone)
    except TimeError as exc:
        await message.reply(time_error_text(exc.code))
        return
    if target.lower() == "all":
        channels = [c.chat_id for c in await posting.postable_channels()]
    else:
        try:
            chat = await bot.get_chat(target if target.startswith("@") else int(target))
        except (TelegramAPIError, ValueError):
            chat = None
        channels = [chat.id] if chat is not None and chat.type == "channel" else []
        if chat is not None and channels:
            # any public channel is described; whether the bot may post there is refused now
            # (as /channel_add asks it) rather than failing at its time
            try:
                member = await bot.get_chat_member(chat.id, settings.bot_id)
            except TelegramAPIError:  # "member list is inaccessible": not an admin there
                member = None
            channel = channel_rights(chat, member)
            if not channel.can_post:
                await message.reply(
                    _(
                        "I can't post in {title}: make me an admin there with the right to "
                        "post messages."
                    ).format(title=html.escape(chat.title or str(chat.id)))
                )
                return
            await posting.save_channel(channel)
    if not channels:
        await message.reply(
            _("No channels yet: make me an admin of a channel, or use /channel_add @channel.")
            if target.lower() == "all"
            else _("I don't know that channel. Add me to it as an admin first.")
        )
        return
    source_ids, summary = [source.message_id], summarize([source])
    # a reply to one part of an album: the whole album, as the compose panel collected it
    if source.media_group_id and (album := await compose.album_of(message.chat.id, source_ids[0])):
        source_ids, summary = album.source_message_ids, album.summary
    ids = await posting.queue(
        channels,
        source_chat_id=message.chat.id,
        source_message_ids=source_ids,
        due_at=int(timing.due.timestamp()),
        recurrence=timing.recurrence.spec if timing.recurrence else None,
        created_by=sender(message).id,
        summary=summary,
    )
    local = timing.due.astimezone(settings.timezone).strftime("%d.%m.%Y %H:%M")
    await message.reply(
        _("Scheduled for {time} ({tz}): post {ids}.").format(
            time=local, tz=settings.timezone.key, ids=", ".join(f"#{i}" for i in ids)
        )
    )


# --- channels ---------------------------------------------------------------------------------


async def channel_add_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    posting: PostingService,
    settings: Settings,
) -> None:
    target = (command.args or "").strip()
    if not target:
        await message.reply(html.escape(_("Usage: /channel_add @channel or /channel_add <id>")))
        return
    try:
        chat = await bot.get_chat(target if target.startswith("@") else int(target))
        member = await bot.get_chat_member(chat.id, settings.bot_id)
    except (TelegramAPIError, ValueError):
        await message.reply(_("I don't know that channel. Add me to it as an admin first."))
        return
    if chat.type != "channel":
        await message.reply(_("That is not a channel."))
        return
    channel = channel_rights(chat, member)
    await posting.save_channel(channel)
    await message.reply(
        _("Channel {title}: {rights}").format(
            title=html.escape(chat.title or str(chat.id)), rights=rights_line(channel, _)
        )
    )


async def channels_command(message: Message, posting: PostingService) -> None:
    channels = await posting.all_channels()
    if not channels:
        await message.reply(
            _("No channels yet: make me an admin of a channel, or use /channel_add @channel.")
        )
        return
    lines = [_("Channels:")]
    for c in channels:
        flag = "" if c.can_post else " ⚠️"
        lines.append(f"• {html.escape(c.title or str(c.chat_id))}{flag} — {rights_line(c, _)}")
    for text in pack_lines(lines):  # many long titles are more than one message holds
        await message.reply(text)


# --- posting slots ----------------------------------------------------------------------------


async def slots_command(
    message: Message,
    command: CommandObject,
    posting: PostingService,
) -> None:
    """/slots 09:00,13:00 [@channel] sets, /slots off [@channel] clears, /slots shows them."""
    args = (command.args or "").split()
    channels = await posting.all_channels()
    channel_id = DEFAULT_SLOTS
    if args and (args[-1].startswith("@") or args[-1].startswith("-100")):
        target = args.pop().lower()
        matches = [
            c.chat_id for c in channels if target in {f"@{c.username}".lower(), str(c.chat_id)}
        ]
        if not matches:
            await message.reply(_("I don't know that channel. Add me to it as an admin first."))
            return
        channel_id = matches[0]
    names = {c.chat_id: c.title or str(c.chat_id) for c in channels}
    if not args:
        current = await posting.all_slots()
        if not current:
            await message.reply(
                html.escape(
                    _("No posting slots yet. Set them with: /slots 09:00,13:00,19:00 [@channel]")
                )
            )
            return
        lines = [_("Posting slots:")]
        for chat_id, times in current.items():
            lines.append(f"• {html.escape(slots_owner(chat_id, names))}: {', '.join(times)}")
        for text in pack_lines(lines):
            await message.reply(text)
        return
    if args[0].lower() in {"off", "none", "-"}:
        await posting.set_slots(channel_id, [])
        await message.reply(_("Posting slots removed."))
        return
    try:
        times = parse_slots(" ".join(args))
    except TooManySlots as exc:
        await message.reply(
            ngettext(
                "At most {limit} posting slots a day: you gave {count} time.",
                "At most {limit} posting slots a day: you gave {count} times.",
                exc.count,
            ).format(limit=MAX_SLOTS_PER_DAY, count=exc.count)
        )
        return
    except ValueError as exc:
        await message.reply(
            html.escape(
                _("Not a time of day: {value}. Use: /slots 09:00,13:00,19:00 [@channel]")
            ).format(value=html.escape(str(exc)))
        )
        return
    await posting.set_slots(channel_id, times)
    where = slots_owner(channel_id, names)
    await message.reply(
        _('Posting slots for {where}: {times}. "Next free slot" uses them.').format(
            where=html.escape(where), times=", ".join(times)
        )
    )


# --- the queue ----------------------------------------------------------------------------------


async def send_queue_page(
    message: Message, number: int, post_queue: PostQueue, settings: Settings
) -> None:
    """One message per post of the page, each with its own buttons, then ◀ ▶ if paged."""
    view = await post_queue.page(number)
    if not view.total:
        await message.answer(
            _("The queue is empty. Send me a post to schedule it, or reply to one with /schedule.")
        )
        return
    for entry in view.entries:
        text = entry.text(settings.timezone, _, ngettext, view.now)
        await message.answer(text, reply_markup=post_keyboard(entry.post))
    if view.pages > 1:
        await message.answer(
            ngettext(
                "Queue: page {page}/{pages}, {count} post in all. Times in {tz}.",
                "Queue: page {page}/{pages}, {count} posts in all. Times in {tz}.",
                view.total,
            ).format(page=view.page, pages=view.pages, count=view.total, tz=settings.timezone.key),
            reply_markup=page_keyboard(view.page, view.pages),
        )


async def queue_page_pressed(
    query: CallbackQuery, callback_data: QueuePage, post_queue: PostQueue, settings: Settings
) -> None:
    """The page goes out below; the pressed navigation message keeps its text as a marker."""
    await query.answer()
    pressed = accessible_message(query)
    with suppress(TelegramAPIError):  # a second tap finds them gone: the first sends the page
        if await edit_or_same(pressed.edit_reply_markup(reply_markup=None)) is None:
            return
    await send_queue_page(pressed, callback_data.page, post_queue, settings)


async def queue_with_calendar(message: Message, post_queue: PostQueue, settings: Settings) -> None:
    """/queue, then the 📅 button that opens the same queue on the calendar Mini App."""
    await send_queue_page(message, 1, post_queue, settings)
    await offer_calendar(message, settings)


async def queue_pressed(
    query: CallbackQuery,
    callback_data: QueueCallback,
    state: FSMContext,
    posting: PostingService,
    settings: Settings,
) -> None:
    post, op = await posting.post(callback_data.post_id), callback_data.op
    # a confirmed cancel loses to a publisher that claimed the post meanwhile
    if post is None or not post.open or (op is QueueOp.SURE and not await posting.cancel(post.id)):
        why = await posting.why_unchanged(callback_data.post_id)
        await query.answer(not_queued_text(callback_data.post_id, why), show_alert=True)
        return
    if op is QueueOp.CANCEL:
        # a second tap edits nothing: Telegram answers "message is not modified"
        await edit_or_same(
            accessible_message(query).edit_reply_markup(reply_markup=cancel_keyboard(post.id))
        )
        await query.answer(_("Cancel post #{id}? Press again to confirm.").format(id=post.id))
    elif op is QueueOp.KEEP:
        with suppress(TelegramAPIError):
            await accessible_message(query).edit_reply_markup(reply_markup=post_keyboard(post))
        await query.answer(_("Post #{id} stays in the queue.").format(id=post.id))
    elif op is QueueOp.OUT:  # seen in the channel: published, not to be sent again
        if marked := await posting.mark_out(post.id):  # else the message stays as it is
            await edit_or_same(accessible_message(query).edit_text(marked_out_text(post)))
        if not marked:  # the post as it is now: cancelled, or being sent, meanwhile
            post = await posting.post(post.id) or post
        await query.answer(None if marked else out_refused_text(post), show_alert=not marked)
    elif op is QueueOp.SURE:  # cancelled above
        await edit_or_same(
            accessible_message(query).edit_text(_("✖️ Post #{id} cancelled.").format(id=post.id))
        )
        await query.answer()
    elif op is QueueOp.EDIT:
        await wait_for(state, EditPost.content, posting.now(), post_id=post.id)
        await button_message(query).answer(
            _(
                "Send the new content for post #{id}: text, media or an album. "
                "Time, channel and options stay. /cancel to stop."
            ).format(id=post.id)
        )
        await query.answer()
    elif op is QueueOp.LATER:
        await wait_for(state, Reschedule.waiting_for_time, posting.now(), post_id=post.id)
        await button_message(query).answer(
            _(
                "Send the new time for post #{id} in {tz}, e.g. tomorrow 10:00 or +2h. "
                "/cancel to stop."
            ).format(id=post.id, tz=settings.timezone.key)
        )
        await query.answer()
    else:  # publish now
        await query.answer(_("Publishing post #{id}.").format(id=post.id))
        if await posting.publish_now(post, asked_by=query.from_user.id):
            done = _("✅ Post #{id} published.").format(id=post.id)
            await accessible_message(query).edit_text(done)
        elif (later := await posting.waits_until(post.id)) is not None:  # a long flood wait
            await button_message(query).answer(delayed_text(post.id, later, settings.timezone, _))


async def new_time_given(
    message: Message,
    state: FSMContext,
    posting: PostingService,
    settings: Settings,
) -> None:
    data = await state.get_data()
    try:
        due = posting.due_time(message.text or "", settings.timezone)
    except TimeError as exc:
        await message.reply(time_error_text(exc.code, waiting=True))
        return  # still waiting for a time
    await state.clear()
    post_id = data.get("post_id", 0)  # no post 0: "no longer in the queue"
    if (moved := await posting.reschedule(post_id, due)) is not Change.DONE:
        await message.reply(not_queued_text(post_id, moved))
        return
    local = due.astimezone(settings.timezone).strftime("%d.%m.%Y %H:%M")
    await message.reply(_("Post #{id} moved to {time}.").format(id=post_id, time=local))


def create_router() -> Router:
    router = Router(name="posting")
    on_command(router.message, schedule_command, "schedule")
    on_command(router.message, channel_add_command, "channel_add")
    on_command(router.message, channels_command, "channels")
    on_command(router.message, queue_with_calendar, "queue")
    on_command(router.message, slots_command, "slots")
    router.callback_query.register(
        queue_pressed, QueueCallback.filter(), flags={"role": Requirement.MANAGER}
    )
    router.callback_query.register(
        queue_page_pressed, QueuePage.filter(), flags={"role": Requirement.MANAGER}
    )
    return router


def create_input_router() -> Router:
    """Answers typed after Reschedule (`StateFilter`: a bare `State` runs in a thread)."""
    router = Router(name="posting-input")
    router.message.filter(typed_answer)
    router.message.register(
        new_time_given, StateFilter(Reschedule.waiting_for_time), album_lead, flags=MANAGER_PRIVATE
    )
    return router
