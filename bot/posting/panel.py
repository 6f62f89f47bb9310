"""The compose panel as the manager sees it: its text and buttons, drawn from a draft. Clicks
are handled in `handlers.compose`, decisions made in `bot.posting.drafts`."""

from __future__ import annotations

import html
from datetime import datetime
from enum import StrEnum
from typing import Self

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.config import Settings
from bot.posting.compose import TIME_PRESETS, ButtonError, Refusal, SchedulePlan
from bot.texts import ALERT_LIMIT, cut_to, shorten
from storage.posts import Channel, Draft, TimeChoice

# A channel title may be 128 characters: forty of them chosen would not fit one message (4,096
# characters), so the panel and the confirmation name a channel by its first TITLE_SHOWN and
# list NAMES_SHOWN of them, counting the rest; /queue and /channels show them in full. Counted
# in UTF-16 units as Telegram counts (an emoji is two).
TITLE_SHOWN = 40
NAMES_SHOWN = 10
# Channels on one page of the panel. Telegram takes at most 100 buttons under a message (and
# refuses a long keyboard with "reply markup is too long"); the panel's own buttons are 12, so
# past 88 channels it could not be sent at all. Ten rows of two fit a phone's screen; ◀ ▶ go
# to the others, and what is chosen stays chosen (it is the draft's, not the page's).
CHANNELS_PER_PAGE = 20


class ComposeAction(StrEnum):
    CHANNEL = "ch"  # arg: the channel's id
    TIME = "time"  # arg: index into TIME_PRESETS
    SILENT = "silent"
    PIN = "pin"
    DELETE_AFTER = "del"
    BUTTONS = "btn"
    PREVIEW = "view"
    CONFIRM = "ok"
    DISCARD = "drop"
    PAGE = "pg"  # arg: the page of channels to show


class ComposeCallback(CallbackData, prefix="c"):
    op: ComposeAction
    draft: int
    arg: int = 0
    page: int = 0  # the page of channels the panel shows, kept by every button's redraw

    @classmethod
    def unpack(cls, value: str) -> Self:
        """Panels sent before channels were paged carry no page: they show the first."""
        if value.count(cls.__separator__) == len(cls.model_fields) - 1:
            value += f"{cls.__separator__}0"
        return super().unpack(value)


def channel_pages(channels: list[Channel]) -> int:
    return max(1, -(-len(channels) // CHANNELS_PER_PAGE))


def page_of(channels: list[Channel], page: int) -> tuple[int, list[Channel]]:
    """The page (wrapped into range: channels come and go) and its channels."""
    page %= channel_pages(channels)
    start = page * CHANNELS_PER_PAGE
    return page, channels[start : start + CHANNELS_PER_PAGE]


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
        "venue": _("place"),
        "location": _("location"),
        "contact": _("contact"),
        "dice": _("dice"),
        "album": _("album of {count}").format(count=count),
    }
    return labels.get(kind, _("message"))


def time_label(choice: TimeChoice) -> str:
    return {
        TimeChoice.HOUR: _("In 1 hour"),
        TimeChoice.TONIGHT: _("Tonight 19:00"),
        TimeChoice.TOMORROW: _("Tomorrow 10:00"),
        TimeChoice.SLOT: _("Next free slot"),
        TimeChoice.CUSTOM: _("Custom…"),
    }[choice]


def short_title(channel: Channel) -> str:
    title = channel.title or str(channel.chat_id)
    return shorten(title, TITLE_SHOWN)


def and_more(items: list[str], shown: int = NAMES_SHOWN) -> list[str]:
    """The first `shown` of `items`, then how many more there are."""
    if len(items) <= shown:
        return items
    rest = len(items) - shown
    return [
        *items[:shown],
        ngettext("…and {count} more", "…and {count} more", rest).format(count=rest),
    ]


def scheduled_text(post_ids: list[int], plan: SchedulePlan, settings: Settings) -> str:
    """Confirm's answer: each queued post with its channel and time (the first NAMES_SHOWN)."""
    lines = [
        f"#{post_id} · {html.escape(short_title(channel))} · "
        f"{local(plan.dues[channel.chat_id], settings)}"
        for post_id, channel in zip(post_ids, plan.channels, strict=True)
    ]
    return "\n".join([_("✅ Scheduled:"), *and_more(lines), _("See and change it in /queue.")])


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
    names = and_more([html.escape(short_title(c)) for c in channels if c.chat_id in draft.channels])
    lines.append(
        _("Channels: {names}").format(names=", ".join(names) if names else _("choose below"))
    )
    if draft.due_at is None:
        lines.append(_("Time: choose below"))
    elif draft.time_choice == TimeChoice.SLOT:
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
    if draft.recurrence:
        lines.append(_("Repeats: {spec}").format(spec=html.escape(draft.recurrence)))
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


def panel_keyboard(draft: Draft, channels: list[Channel], page: int = 0) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    pages = channel_pages(channels)
    page, shown = page_of(channels, page)

    def button(text: str, op: ComposeAction, arg: int = 0) -> None:
        data = ComposeCallback(op=op, draft=draft.id, arg=arg, page=page)
        builder.button(text=text, callback_data=data)

    for c in shown:
        mark = "✅ " if c.chat_id in draft.channels else "▫️ "
        button(mark + short_title(c), ComposeAction.CHANNEL, c.chat_id)
    paging = []
    if pages > 1:
        button("◀", ComposeAction.PAGE, (page - 1) % pages)
        button(f"{page + 1}/{pages}", ComposeAction.PAGE, page)
        button("▶", ComposeAction.PAGE, (page + 1) % pages)
        paging = [3]
    for n, choice in enumerate(TIME_PRESETS):
        mark = "• " if draft.time_choice == choice else ""
        button(mark + time_label(choice), ComposeAction.TIME, n)
    delete = (
        _("🗑 Delete after {hours} h").format(hours=draft.delete_after_hours)
        if draft.delete_after_hours
        else _("🗑 Keep")
    )
    button(("✅ " if draft.silent else "") + _("🔕 Silent"), ComposeAction.SILENT)
    button(("✅ " if draft.pin else "") + _("📌 Pin"), ComposeAction.PIN)
    button(delete, ComposeAction.DELETE_AFTER)
    button(_("🔗 URL buttons"), ComposeAction.BUTTONS)
    button(_("👁 Preview"), ComposeAction.PREVIEW)
    button(_("✅ Confirm"), ComposeAction.CONFIRM)
    button(_("✖️ Discard"), ComposeAction.DISCARD)
    channel_rows = [2] * (len(shown) // 2) + [1] * (len(shown) % 2)
    builder.adjust(*channel_rows, *paging, 2, 2, 1, 3, 2, 2)
    return builder.as_markup()


def slot_problem(channel_ids: list[int]) -> str:
    if not channel_ids:
        return _("Choose a channel first: slots belong to channels.")
    return _("No free slot: set posting times with /slots 09:00,13:00,19:00")


def refusal_text(plan: SchedulePlan, draft: Draft) -> str:
    if plan.refusal in {Refusal.LOST_CHANNEL, Refusal.CANNOT_PIN}:
        names = ", ".join(and_more([short_title(c) for c in plan.channels], 2))
        if plan.refusal is Refusal.LOST_CHANNEL:
            text = _(
                "I can no longer post in {channels}, so I took it off this post. Press Confirm "
                "again to schedule it for the other channels."
            )
        else:
            text = _("I cannot pin in {channels}. Give me the right or turn Pin off.")
        return cut_to(text.format(channels=names), ALERT_LIMIT)  # an alert, as Telegram counts
    texts: dict[Refusal | None, str] = {
        Refusal.NO_CHANNEL: _("Choose at least one channel."),
        Refusal.NO_TIME: _("Choose a time."),
        Refusal.PAST: _("That time has already passed. Choose another."),
    }
    return texts.get(plan.refusal, slot_problem(draft.channels))


def button_error_text(error: ButtonError) -> str:
    """What is wrong with the buttons typed, and that the bot still waits for them and the way
    out (what came may be no text at all: a photo, a new post)."""
    texts = {
        "format": _("Line {line}: write it as Text - https://example.com"),
        "url": _("Line {line}: the link must start with https:// or http://"),
        "too_long": _("Line {line}: the button text is too long (64 characters at most)"),
        "too_many": _("Line {line}: too many buttons (4 per row, 8 rows at most)"),
    }
    # the bot still waits for the buttons: a photo sent meanwhile as a new post lands here too
    waiting = _("Still waiting for the buttons: send - for none, /cancel to stop.")
    return "\n".join((texts[error.reason].format(line=error.line), waiting))
