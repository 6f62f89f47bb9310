"""Composing posts from a phone: a manager sends anything to the bot, picks channels, a time and
options with buttons, and confirms.

The draft lives in the database (not in memory), so a restart between sending the post and
pressing Confirm loses nothing; the panel is rendered from the draft row on every press.
"""

from __future__ import annotations

import html
import logging
from contextlib import suppress
from datetime import UTC, datetime

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.posting.albums import AlbumCollector
from bot.posting.compose import (
    TIME_PRESETS,
    ButtonError,
    next_delete_after,
    next_free_slot,
    parse_url_buttons,
    preset_time,
    summarize,
)
from bot.posting.publisher import FOLLOWUP_TEXT, Publisher, url_keyboard
from bot.posting.times import TimeError, parse_time
from bot.roles import RoleService
from handlers.posting import EditPost, time_error_text
from storage.posts import (
    Channel,
    ChannelRepository,
    Draft,
    DraftRepository,
    PostRepository,
    SlotRepository,
)

logger = logging.getLogger(__name__)

MANAGER = {"role": "manager"}
MANAGER_PRIVATE = {"role": "manager", "chat": "private"}


class ComposeCallback(CallbackData, prefix="c"):
    op: str  # ch | time | silent | pin | del | btn | view | ok | drop
    draft: int
    arg: int = 0  # channel id, or index into TIME_PRESETS


class ComposeInput(StatesGroup):
    custom_time = State()
    url_buttons = State()


def now_utc() -> datetime:
    return datetime.now(UTC)


def kind_label(kind: str, count: int) -> str:
    labels = {
        "text": _("text"),
        "photo": _("photo"),
        "video": _("video"),
        "animation": _("GIF"),
        "document": _("document"),
        "audio": _("audio"),
        "voice": _("voice message"),
        "video_note": _("video message"),
        "poll": _("poll"),
        "sticker": _("sticker"),
        "album": _("album of {count}").format(count=count),
    }
    return labels.get(kind, _("message"))


def time_label(choice: str) -> str:
    return {
        "hour": _("In 1 hour"),
        "tonight": _("Tonight 19:00"),
        "tomorrow": _("Tomorrow 10:00"),
        "slot": _("Next free slot"),
        "custom": _("Custom…"),
    }[choice]


def local(ts: int, settings: Settings) -> str:
    return datetime.fromtimestamp(ts, settings.timezone).strftime("%d.%m.%Y %H:%M")


def panel_text(draft: Draft, channels: list[Channel], settings: Settings) -> str:
    summary = draft.summary
    head = _("📝 New post: {kind}").format(
        kind=kind_label(summary.get("kind", "other"), summary.get("count", 1))
    )
    lines = [f"<b>{head}</b>"]
    if summary.get("preview"):
        lines.append(f"<i>{html.escape(summary['preview'])}</i>")
    names = [
        html.escape(c.title or str(c.chat_id)) for c in channels if c.chat_id in draft.channels
    ]
    lines.append(
        _("Channels: {names}").format(names=", ".join(names) if names else _("choose below"))
    )
    if draft.due_at is None:
        lines.append(_("Time: choose below"))
    elif draft.time_choice == "slot":
        lines.append(
            _("Time: next free slot of each channel, from {time}").format(
                time=local(draft.due_at, settings)
            )
        )
    else:
        lines.append(
            _("Time: {time} ({tz})").format(
                time=local(draft.due_at, settings), tz=settings.timezone.key
            )
        )
    options = []
    if draft.silent:
        options.append(_("silent"))
    if draft.pin:
        options.append(_("pin"))
    if draft.delete_after_hours:
        options.append(_("delete after {hours} h").format(hours=draft.delete_after_hours))
    if options:
        lines.append(_("Options: {options}").format(options=", ".join(options)))
    if draft.buttons:
        count = sum(len(row) for row in draft.buttons)
        if summary.get("kind") == "album":
            lines.append(
                _("Buttons: {count}, in a follow-up message (albums cannot carry buttons)").format(
                    count=count
                )
            )
        else:
            lines.append(_("Buttons: {count}").format(count=count))
    return "\n".join(lines)


def panel_keyboard(draft: Draft, channels: list[Channel]) -> InlineKeyboardMarkup:
    def button(text: str, op: str, arg: int = 0) -> InlineKeyboardButton:
        data = ComposeCallback(op=op, draft=draft.id, arg=arg).pack()
        return InlineKeyboardButton(text=text, callback_data=data)

    rows: list[list[InlineKeyboardButton]] = []
    channel_buttons = [
        button(
            ("✅ " if c.chat_id in draft.channels else "▫️ ") + (c.title or str(c.chat_id)),
            "ch",
            c.chat_id,
        )
        for c in channels
    ]
    rows += [channel_buttons[i : i + 2] for i in range(0, len(channel_buttons), 2)]
    time_buttons = [
        button(("• " if draft.time_choice == choice else "") + time_label(choice), "time", n)
        for n, choice in enumerate(TIME_PRESETS)
    ]
    rows += [time_buttons[0:2], time_buttons[2:4], time_buttons[4:]]
    delete = (
        _("🗑 Delete after {hours} h").format(hours=draft.delete_after_hours)
        if draft.delete_after_hours
        else _("🗑 Keep")
    )
    rows.append(
        [
            button(("✅ " if draft.silent else "") + _("🔕 Silent"), "silent"),
            button(("✅ " if draft.pin else "") + _("📌 Pin"), "pin"),
            button(delete, "del"),
        ]
    )
    rows.append([button(_("🔗 URL buttons"), "btn"), button(_("👁 Preview"), "view")])
    rows.append([button(_("✅ Confirm"), "ok"), button(_("✖️ Discard"), "drop")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def postable_channels(channel_repo: ChannelRepository) -> list[Channel]:
    return [c for c in await channel_repo.all() if c.can_post]


async def show_panel(
    bot: Bot, draft: Draft, channel_repo: ChannelRepository, settings: Settings
) -> int:
    """A fresh panel under the conversation (the old one is removed), so after typing a time or
    buttons the manager does not have to scroll up on a phone."""
    channels = await postable_channels(channel_repo)
    sent = await bot.send_message(
        draft.source_chat_id,
        panel_text(draft, channels, settings),
        reply_markup=panel_keyboard(draft, channels),
        reply_parameters={
            "message_id": draft.source_message_ids[0],
            "allow_sending_without_reply": True,
        },
    )
    if draft.panel_message_id:
        with suppress(TelegramAPIError):  # already gone; the new panel is what counts
            await bot.delete_message(draft.source_chat_id, draft.panel_message_id)
    return sent.message_id


async def manager_content(message: Message, role_service: RoleService) -> bool:
    """Anything but a command that a manager sends the bot in private is a post to compose."""
    return (
        message.chat.type == "private"
        and message.from_user is not None
        and role_service.is_manager(message.from_user.id)
        and not (message.text or "").startswith("/")
    )


async def new_draft(
    message: Message,
    bot: Bot,
    albums: AlbumCollector,
    drafts: DraftRepository,
    channel_repo: ChannelRepository,
    settings: Settings,
) -> None:
    messages = await albums.collect(message)
    if messages is None:  # a later part of an album: its first part answers
        return
    draft_id = await drafts.add(
        message.from_user.id,
        message.chat.id,
        [m.message_id for m in messages],
        summarize(messages),
        int(now_utc().timestamp()),
    )
    draft = await drafts.get(draft_id)
    if not await postable_channels(channel_repo):
        await message.reply(
            _("No channels yet: make me an admin of a channel, or use /channel_add @channel.")
        )
    panel_id = await show_panel(bot, draft, channel_repo, settings)
    await drafts.update(draft_id, panel_message_id=panel_id)


async def refresh(query: CallbackQuery, draft_id: int, drafts, channel_repo, settings) -> None:
    draft = await drafts.get(draft_id)
    channels = await postable_channels(channel_repo)
    try:
        await query.message.edit_text(
            panel_text(draft, channels, settings), reply_markup=panel_keyboard(draft, channels)
        )
    except TelegramAPIError as exc:  # "not modified" on a double tap
        logger.debug("panel not edited: %s", exc)


async def compose_pressed(
    query: CallbackQuery,
    callback_data: ComposeCallback,
    bot: Bot,
    state: FSMContext,
    drafts: DraftRepository,
    channel_repo: ChannelRepository,
    post_repo: PostRepository,
    slot_repo: SlotRepository,
    publisher: Publisher,
    settings: Settings,
) -> None:
    draft = await drafts.get(callback_data.draft)
    if draft is None or draft.manager_id != query.from_user.id:
        await query.answer(_("This draft is gone. Send the post again."), show_alert=True)
        return
    op, arg = callback_data.op, callback_data.arg
    if op == "ch":
        chosen = set(draft.channels) ^ {arg}
        await drafts.update(draft.id, channels=sorted(chosen))
        if draft.time_choice == "slot":  # slots are per channel: look again
            await drafts.update(draft.id, due_at=None, time_choice=None)
    elif op == "time":
        choice = TIME_PRESETS[arg] if 0 <= arg < len(TIME_PRESETS) else "custom"
        if choice == "custom":
            await state.set_state(ComposeInput.custom_time)
            await state.update_data(draft_id=draft.id)
            await query.message.answer(
                _(
                    "Send the time in {tz}: 18:30, tomorrow 10:00, 25.12 18:00, "
                    "2026-12-25 18:00, +30m or +2h. /cancel to stop."
                ).format(tz=settings.timezone.key)
            )
            await query.answer()
            return
        if choice == "slot":
            due = await first_free_slot(draft.channels, post_repo, slot_repo, settings)
            if due is None:
                await query.answer(slot_problem(draft.channels), show_alert=True)
                return
        else:
            try:
                due = preset_time(choice, now_utc(), settings.timezone)
            except TimeError as exc:
                await query.answer(time_error_text(exc.code), show_alert=True)
                return
        await drafts.update(draft.id, due_at=int(due.timestamp()), time_choice=choice)
    elif op == "silent":
        await drafts.update(draft.id, silent=not draft.silent)
    elif op == "pin":
        await drafts.update(draft.id, pin=not draft.pin)
    elif op == "del":
        await drafts.update(
            draft.id, delete_after_hours=next_delete_after(draft.delete_after_hours)
        )
    elif op == "btn":
        await state.set_state(ComposeInput.url_buttons)
        await state.update_data(draft_id=draft.id)
        await query.message.answer(
            _(
                "Send the buttons, one row per line: Text - https://example.com\n"
                "Several on one row: A - https://a.example | B - https://b.example\n"
                "Send - to remove the buttons, /cancel to stop."
            )
        )
        await query.answer()
        return
    elif op == "view":
        await send_preview(bot, draft)
        await query.answer()
        return
    elif op == "drop":
        if await drafts.delete(draft.id):
            await query.message.edit_text(_("✖️ Draft discarded. The message above stays here."))
        await query.answer()
        return
    elif op == "ok":
        await confirm(query, draft, drafts, channel_repo, post_repo, slot_repo, publisher, settings)
        return
    await refresh(query, draft.id, drafts, channel_repo, settings)
    await query.answer()


def slot_problem(channel_ids: list[int]) -> str:
    if not channel_ids:
        return _("Choose a channel first: slots belong to channels.")
    return _("No free slot: set posting times with /slots 09:00,13:00,19:00")


async def first_free_slot(
    channel_ids: list[int],
    post_repo: PostRepository,
    slot_repo: SlotRepository,
    settings: Settings,
    now: datetime | None = None,
) -> datetime | None:
    """The earliest of the channels' own next free slots (each channel gets its own at Confirm)."""
    found = [
        due
        for due in [
            await channel_slot(channel_id, post_repo, slot_repo, settings, now)
            for channel_id in channel_ids
        ]
        if due is not None
    ]
    if not channel_ids or len(found) < len(channel_ids):
        return None
    return min(found)


async def channel_slot(
    channel_id: int,
    post_repo: PostRepository,
    slot_repo: SlotRepository,
    settings: Settings,
    now: datetime | None = None,
) -> datetime | None:
    now = now or now_utc()
    slots = await slot_repo.for_channel(channel_id)
    taken = {t for _c, t in await post_repo.taken_times([channel_id], int(now.timestamp()))}
    return next_free_slot(slots, taken, now, settings.timezone)


async def send_preview(bot: Bot, draft: Draft) -> None:
    """Exactly what the channel will get, sent to the manager."""
    if len(draft.source_message_ids) == 1:
        await bot.copy_message(
            draft.source_chat_id,
            draft.source_chat_id,
            draft.source_message_ids[0],
            reply_markup=url_keyboard(draft.buttons),
        )
        return
    await bot.copy_messages(draft.source_chat_id, draft.source_chat_id, draft.source_message_ids)
    if draft.buttons:
        await bot.send_message(
            draft.source_chat_id, FOLLOWUP_TEXT, reply_markup=url_keyboard(draft.buttons)
        )


async def confirm(
    query: CallbackQuery,
    draft: Draft,
    drafts: DraftRepository,
    channel_repo: ChannelRepository,
    post_repo: PostRepository,
    slot_repo: SlotRepository,
    publisher: Publisher,
    settings: Settings,
) -> None:
    """Validate, then turn the draft into one queued post per channel, exactly once."""
    channels = {c.chat_id: c for c in await postable_channels(channel_repo)}
    chosen = [channels[c] for c in draft.channels if c in channels]
    now = now_utc()
    if not chosen:
        await query.answer(_("Choose at least one channel."), show_alert=True)
        return
    if draft.due_at is None:
        await query.answer(_("Choose a time."), show_alert=True)
        return
    if draft.time_choice != "slot" and draft.due_at <= now.timestamp():
        await query.answer(_("That time has already passed. Choose another."), show_alert=True)
        return
    if draft.pin and (cannot := [c for c in chosen if not c.can_pin]):
        names = ", ".join(c.title or str(c.chat_id) for c in cannot)
        await query.answer(
            _("I cannot pin in {channels}. Give me the right or turn Pin off.").format(
                channels=names
            ),
            show_alert=True,
        )
        return
    dues: dict[int, int] = {}
    for channel in chosen:
        if draft.time_choice == "slot":
            due = await channel_slot(channel.chat_id, post_repo, slot_repo, settings, now)
            if due is None:
                await query.answer(slot_problem(draft.channels), show_alert=True)
                return
            dues[channel.chat_id] = int(due.timestamp())
        else:
            dues[channel.chat_id] = draft.due_at
    if not await drafts.delete(draft.id):  # a second tap on Confirm
        await query.answer()
        return
    lines = [_("✅ Scheduled:")]
    for channel in chosen:
        post_id = await post_repo.add(
            channel_id=channel.chat_id,
            source_chat_id=draft.source_chat_id,
            source_message_ids=draft.source_message_ids,
            due_at=dues[channel.chat_id],
            created_by=draft.manager_id,
            now=int(now.timestamp()),
            silent=draft.silent,
            pin=draft.pin,
            delete_after_hours=draft.delete_after_hours,
            buttons=draft.buttons,
            summary=draft.summary,
        )
        publisher.arm(await post_repo.get(post_id))
        lines.append(
            f"#{post_id} · {html.escape(channel.title or str(channel.chat_id))} · "
            f"{local(dues[channel.chat_id], settings)}"
        )
    lines.append(_("See and change it in /queue."))
    await query.message.edit_text("\n".join(lines))
    await query.answer(_("Scheduled."))


# --- typed answers ------------------------------------------------------------------------------


async def custom_time_given(
    message: Message,
    bot: Bot,
    state: FSMContext,
    drafts: DraftRepository,
    channel_repo: ChannelRepository,
    settings: Settings,
) -> None:
    data = await state.get_data()
    try:
        due = parse_time(message.text or "", now_utc(), settings.timezone)
    except TimeError as exc:
        await message.reply(time_error_text(exc.code))
        return  # still waiting
    await state.clear()
    await update_draft(
        message,
        bot,
        data.get("draft_id", 0),
        drafts,
        channel_repo,
        settings,
        due_at=int(due.timestamp()),
        time_choice="custom",
    )


async def update_draft(
    message: Message,
    bot: Bot,
    draft_id: int,
    drafts: DraftRepository,
    channel_repo: ChannelRepository,
    settings: Settings,
    **fields: object,
) -> None:
    """What a manager typed for a draft goes into it, and a fresh panel shows the result."""
    draft = await drafts.get(draft_id)
    if draft is None:
        await message.reply(_("This draft is gone. Send the post again."))
        return
    await drafts.update(draft.id, **fields)
    panel_id = await show_panel(bot, await drafts.get(draft.id), channel_repo, settings)
    await drafts.update(draft.id, panel_message_id=panel_id)


def button_error_text(error: ButtonError) -> str:
    texts = {
        "format": _("Line {line}: write it as Text - https://example.com"),
        "url": _("Line {line}: the link must start with https:// or http://"),
        "too_long": _("Line {line}: the button text is too long (64 characters at most)"),
        "too_many": _("Line {line}: too many buttons (4 per row, 8 rows at most)"),
    }
    return texts[error.reason].format(line=error.line)


async def url_buttons_given(
    message: Message,
    bot: Bot,
    state: FSMContext,
    drafts: DraftRepository,
    channel_repo: ChannelRepository,
    settings: Settings,
) -> None:
    data = await state.get_data()
    text = (message.text or "").strip()
    if text == "-":
        buttons = None
    else:
        try:
            buttons = parse_url_buttons(text)
        except ButtonError as exc:
            await message.reply(button_error_text(exc))
            return  # still waiting
    await state.clear()
    await update_draft(
        message, bot, data.get("draft_id", 0), drafts, channel_repo, settings, buttons=buttons
    )


async def new_content_given(
    message: Message,
    state: FSMContext,
    albums: AlbumCollector,
    post_repo: PostRepository,
) -> None:
    """Edit from /queue: the next message (or album) replaces the post's content."""
    messages = await albums.collect(message)
    if messages is None:
        return
    data = await state.get_data()
    await state.clear()
    post_id = data.get("post_id", 0)
    ids = [m.message_id for m in messages]
    if not await post_repo.replace_content(post_id, ids, summarize(messages)):
        await message.reply(_("This post is no longer in the queue."))
        return
    await message.reply(_("✏️ Post #{id} now has this content.").format(id=post_id))


async def cancel_input(message: Message, state: FSMContext) -> None:
    if await state.get_state() is None:
        await message.reply(_("Nothing to cancel."))
        return
    await state.clear()
    await message.reply(_("Cancelled."))


async def in_private(message: Message) -> bool:
    return message.chat.type == "private"


def create_router() -> Router:
    """Buttons of the compose panel, and the catch-all that turns a manager's message into a
    draft. Registered after every other private-chat feature, so it never shadows them."""
    router = Router(name="compose")
    router.callback_query.register(compose_pressed, ComposeCallback.filter(), flags=MANAGER)
    router.message.register(cancel_input, Command("cancel"), flags=MANAGER_PRIVATE)
    router.message.register(
        custom_time_given, StateFilter(ComposeInput.custom_time), in_private, flags=MANAGER
    )
    router.message.register(
        url_buttons_given, StateFilter(ComposeInput.url_buttons), in_private, flags=MANAGER
    )
    router.message.register(
        new_content_given, StateFilter(EditPost.content), in_private, flags=MANAGER
    )
    router.message.register(new_draft, manager_content, StateFilter(None), flags=MANAGER)
    return router
