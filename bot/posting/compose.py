"""Composing a post from a phone: time presets, posting slots, URL buttons, delete-after.

Plain functions over plain values, so the buttons the manager presses can be tested with a fixed
clock and without Telegram.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.posting.times import TimeError, TimeProblem, local_to_utc
from storage.posts import Channel, Draft, TimeChoice

# Telegram lets bots delete their messages for 48 hours; an hour of margin for late timers.
MAX_DELETE_AFTER_HOURS = 47
# What the "Delete after" button cycles through, so a phone never needs typing for it.
DELETE_AFTER_STEPS: tuple[int | None, ...] = (None, 1, 6, 12, 24, 47)
TIME_PRESETS = tuple(TimeChoice)  # the time buttons, in the panel's order
TONIGHT = time(19, 0)
TOMORROW_MORNING = time(10, 0)
MAX_BUTTON_ROWS = 8
MAX_BUTTONS_PER_ROW = 4
MAX_BUTTON_TEXT = 64
SLOT_SEARCH_DAYS = 60
MAX_SLOTS_PER_DAY = 48  # one every half hour: more is a typo, and no reply could list it
SUMMARY_TEXT = 500  # characters of a post's text kept to describe it

_BUTTON_LINE = re.compile(r"^(?P<text>.+?)\s+[-–—]\s+(?P<url>\S+)$")
_URL = re.compile(r"^(https?://[^\s/$.?#][^\s]*|tg://\S+)$", re.IGNORECASE)
_SLOT = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")


class ButtonError(ValueError):
    """A URL button line that cannot be used; `line` is 1-based, `reason` a short code."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason  # format | url | too_long | too_many


def _real_host(url: str) -> bool:
    """Telegram refuses a button address without a real host name ("BUTTON_URL_INVALID"):
    http://localhost or http://intranet open nothing on a member's phone."""
    if url.lower().startswith("tg://"):
        return True
    host = urlsplit(url).hostname or ""
    return "." in host.strip(".") and not host.endswith(".")


def parse_url_buttons(text: str) -> list[list[dict[str, str]]]:
    """`Text - https://…` per line; `|` puts several buttons on one row.

    Errors name the line, because a manager typing on a phone needs to know which one to fix."""
    rows: list[list[dict[str, str]]] = []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        if not line.strip():
            continue
        row = []
        for part in line.split("|"):
            match = _BUTTON_LINE.match(part.strip())
            if match is None:
                raise ButtonError(number, "format")
            label, url = match["text"].strip(), match["url"]
            if not _URL.match(url) or not _real_host(url):
                raise ButtonError(number, "url")
            if len(label) > MAX_BUTTON_TEXT:
                raise ButtonError(number, "too_long")
            row.append({"text": label, "url": url})
        if len(row) > MAX_BUTTONS_PER_ROW:
            raise ButtonError(number, "too_many")
        rows.append(row)
    if not rows:
        raise ButtonError(1, "format")
    if len(rows) > MAX_BUTTON_ROWS:
        raise ButtonError(MAX_BUTTON_ROWS + 1, "too_many")
    return rows


def preset_time(choice: TimeChoice, now: datetime, tz: ZoneInfo) -> datetime:
    """The moment a time button stands for, in UTC. "Tonight" that has passed is an error,
    not a silent move to tomorrow: the manager pressed "tonight"."""
    if choice == TimeChoice.HOUR:
        return (now + timedelta(hours=1)).astimezone(UTC).replace(microsecond=0)
    local_today = now.astimezone(tz).date()
    if choice == TimeChoice.TONIGHT:
        due = local_to_utc(local_today, TONIGHT.hour, TONIGHT.minute, tz)
    elif choice == TimeChoice.TOMORROW:
        morning = TOMORROW_MORNING
        due = local_to_utc(local_today + timedelta(days=1), morning.hour, morning.minute, tz)
    else:
        raise ValueError(f"not a fixed preset: {choice}")
    if due <= now:
        raise TimeError(TimeProblem.PAST)
    return due


class TooManySlots(ValueError):
    """More distinct slots than MAX_SLOTS_PER_DAY; `count` is how many were given."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


def parse_slots(text: str) -> list[str]:
    """ "9:00, 13:00,19.00" -> ["09:00", "13:00", "19:00"]: sorted, unique, zero-padded.
    Raises ValueError on a part that is no time of day, TooManySlots past MAX_SLOTS_PER_DAY."""
    found = set()
    for part in re.split(r"[,\s;]+", text.strip()):
        if not part:
            continue
        match = _SLOT.match(part)
        if match is None:
            raise ValueError(part)
        found.add(f"{int(match[1]):02d}:{match[2]}")
    if not found:
        raise ValueError(text)
    if len(found) > MAX_SLOTS_PER_DAY:
        raise TooManySlots(len(found))
    return sorted(found)


def next_free_slot(
    slots: Iterable[str],
    taken: set[int],
    now: datetime,
    tz: ZoneInfo,
    min_lead: timedelta = timedelta(minutes=1),
) -> datetime | None:
    """The first slot after `now` (+ a minute, to leave time to confirm) with no post queued
    at that exact time. Slots that do not exist, or exist twice, that night (DST) are
    skipped rather than guessed."""
    times = sorted({time.fromisoformat(s) for s in slots})
    if not times:
        return None
    earliest = now + min_lead
    day = now.astimezone(tz).date()
    for offset in range(SLOT_SEARCH_DAYS):
        for slot in times:
            try:
                due = local_to_utc(day + timedelta(days=offset), slot.hour, slot.minute, tz)
            except TimeError:
                continue
            if due >= earliest and int(due.timestamp()) not in taken:
                return due
    return None


def next_delete_after(current: int | None) -> int | None:
    """The "Delete after" button's next value: off -> 1 h -> 6 h -> 12 h -> 24 h -> 47 h -> off."""
    steps = DELETE_AFTER_STEPS
    index = steps.index(current) if current in steps else 0
    return steps[(index + 1) % len(steps)]


MEDIA_KINDS = (
    "photo",
    "video",
    "animation",
    "document",
    "audio",
    "voice",
    "video_note",
    "poll",
    "sticker",
    "venue",  # before location: a venue message carries its location too
    "location",
    "contact",
    "dice",
)


def _words_of(message: Any) -> str:
    """What stands for a text in a message without one: a poll's question, a venue's name, a
    contact's name, a dice's emoji (so the queue can tell two such posts apart)."""
    if poll := getattr(message, "poll", None):
        return str(poll.question)
    if venue := getattr(message, "venue", None):
        return str(venue.title)
    if contact := getattr(message, "contact", None):
        return " ".join(filter(None, (contact.first_name, contact.last_name)))
    if dice := getattr(message, "dice", None):
        return str(dice.emoji)
    return ""


def message_kind(message: Any) -> str:
    for kind in MEDIA_KINDS:
        if getattr(message, kind, None):
            return kind
    return "text" if getattr(message, "text", None) else "other"


def thumbnail_id(messages: list[Any]) -> str | None:
    """A small image of the first media, for the calendar: a photo's smallest size (about 90 px),
    or the thumbnail Telegram made for a video, GIF, document, sticker or audio cover."""
    for message in messages:
        photo = getattr(message, "photo", None)
        photo_id: str | None = getattr(photo[0], "file_id", None) if photo else None
        if photo_id:
            return photo_id
        for kind in ("video", "animation", "document", "video_note", "sticker", "audio"):
            media = getattr(message, kind, None)
            thumb = getattr(media, "thumbnail", None) if media else None
            thumb_id: str | None = getattr(thumb, "file_id", None)
            if thumb_id:
                return thumb_id
    return None


def summarize(messages: list[Any], width: int = 120) -> dict[str, Any]:
    """Kind, first words and size of what a manager sent, for the compose panel; `text` keeps
    the lines (cut to a length) so the queue can show the first one, `thumb` names a small image
    of the media for the calendar."""
    kind = "album" if len(messages) > 1 else message_kind(messages[0])
    text = next((m.text or m.caption for m in messages if m.text or m.caption), "")
    if not text:
        text = _words_of(messages[0])
    words = " ".join(text.split())
    if len(words) > width:
        words = words[: width - 1].rstrip() + "…"
    summary: dict[str, Any] = {
        "kind": kind,
        "preview": words,
        "count": len(messages),
        "text": text[:SUMMARY_TEXT],
    }
    thumb = thumbnail_id(messages)
    if thumb:
        summary["thumb"] = thumb
    return summary


# what copyMessage refuses to copy (Bot API), so a post of it could never go out
NOT_COPIED = ("giveaway", "giveaway_winners", "paid_media", "invoice")


class Uncopyable(StrEnum):
    """Why a message can never be published in a channel by copying it."""

    KIND = "kind"  # a giveaway, an invoice, paid media
    QUIZ = "quiz"  # a quiz whose right answer the bot was not told (a forward of an open one)
    PUBLIC_POLL = "public_poll"  # a poll that shows its voters: channel polls are anonymous


def uncopyable(messages: Iterable[Any]) -> Uncopyable | None:
    """Whether Telegram would refuse to copy any of `messages` to a channel, told as the
    manager sends it rather than when the post fails at its time."""
    for message in messages:
        if any(getattr(message, kind, None) for kind in NOT_COPIED):
            return Uncopyable.KIND
        poll = getattr(message, "poll", None)
        if poll is None:
            continue
        known = poll.correct_option_ids or poll.correct_option_id is not None or poll.is_closed
        if poll.type == "quiz" and not known:
            return Uncopyable.QUIZ
        if not poll.is_anonymous:
            return Uncopyable.PUBLIC_POLL
    return None


class Refusal(StrEnum):
    """Why a draft cannot be scheduled yet."""

    NO_CHANNEL = "no_channel"
    NO_TIME = "no_time"
    PAST = "past"
    LOST_CHANNEL = "lost_channel"  # the bot can no longer post in `channels`, chosen before
    CANNOT_PIN = "cannot_pin"  # `channels` names where
    NO_SLOT = "no_slot"  # a channel has no free posting slot


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """Either a refusal, or the time of each chosen channel's post, in the draft's order."""

    refusal: Refusal | None = None
    channels: tuple[Channel, ...] = ()
    dues: dict[int, int] = field(default_factory=dict)


def plan_schedule(
    draft: Draft,
    channels: Iterable[Channel],
    slots: Mapping[int, datetime | None],
    now: datetime,
) -> SchedulePlan:
    """Confirm's rules: every chosen channel still one the bot may post in (`channels` are the
    known ones; one that lost the right is named, never silently left out), at least one
    channel, a time that has not passed (a slot is per channel, so each gets its own next free
    one from `slots`), and the right to pin when the post is to be pinned."""
    known = {c.chat_id: c for c in channels}
    if lost := tuple(known[c] for c in draft.channels if c in known and not known[c].can_post):
        return SchedulePlan(Refusal.LOST_CHANNEL, lost)
    chosen = tuple(known[c] for c in draft.channels if c in known)
    if not chosen:
        return SchedulePlan(Refusal.NO_CHANNEL)
    if draft.due_at is None:
        return SchedulePlan(Refusal.NO_TIME)
    by_slot = draft.time_choice == TimeChoice.SLOT
    if not by_slot and draft.due_at <= now.timestamp():
        return SchedulePlan(Refusal.PAST)
    if draft.pin and (cannot := tuple(c for c in chosen if not c.can_pin)):
        return SchedulePlan(Refusal.CANNOT_PIN, cannot)
    dues: dict[int, int] = {}
    for channel in chosen:
        if not by_slot:
            dues[channel.chat_id] = draft.due_at
        elif (due := slots.get(channel.chat_id)) is not None:
            dues[channel.chat_id] = int(due.timestamp())
        else:
            return SchedulePlan(Refusal.NO_SLOT)
    return SchedulePlan(None, chosen, dues)
