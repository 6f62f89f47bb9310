"""What a queued post is, in one line a manager recognises on a phone, and its queue entry.

A post is stored as references to the manager's own messages (it is copied at publishing time),
and the Bot API cannot read a message back by id; so a summary of the content (kind, text or
caption, album size) is kept with the post when it is queued or edited, and rendered here.
Plain functions over plain values: the translation functions are passed in, so the output can be
tested without Telegram or an i18n context.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.posting.failures import failure_reason
from storage.posts import Post, PostStatus

PREVIEW_WIDTH = 60
STATUS_MARK = {PostStatus.SCHEDULED: "🕒", PostStatus.FAILED: "⚠️", PostStatus.NEEDS_DECISION: "❓"}

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def _same(message: str) -> str:
    return message


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def first_line(text: str, width: int = PREVIEW_WIDTH) -> str:
    """The first non-empty line, spaces collapsed, cut at a word where possible, with "…"."""
    line = next((" ".join(ln.split()) for ln in text.splitlines() if ln.strip()), "")
    if len(line) <= width:
        return line
    cut = line[: width - 1]
    if " " in cut[width // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def content_preview(
    summary: Mapping[str, Any] | None,
    gettext: Gettext = _same,
    ngettext: Ngettext = _plural,
    width: int = PREVIEW_WIDTH,
) -> str:
    """One HTML-escaped line: the first line of the text or caption, after an icon and the
    kind for media (📷 photo, 🎞 album of 3, 📊 poll and its question...)."""
    summary = summary or {}
    kind = str(summary.get("kind") or "other")
    count = int(summary.get("count") or 1)
    line = first_line(str(summary.get("text") or summary.get("preview") or ""), width)
    labels = {
        "photo": gettext("📷 photo"),
        "video": gettext("🎬 video"),
        "animation": gettext("🎞 GIF"),
        "document": gettext("📄 document"),
        "audio": gettext("🎵 audio"),
        "voice": gettext("🎤 voice message"),
        "video_note": gettext("⏺ video message"),
        "sticker": gettext("🏷 sticker"),
        "poll": gettext("📊 poll"),
        "venue": gettext("📍 place"),
        "location": gettext("📍 location"),
        "contact": gettext("👤 contact"),
        "dice": gettext("🎲 dice"),
        "album": ngettext("🎞 album of {count}", "🎞 album of {count}", count).format(count=count),
    }
    if kind == "text":
        return html.escape(line) if line else html.escape(gettext("✉️ message"))
    label = labels.get(kind, gettext("✉️ message"))
    if not line:
        return html.escape(label)
    return f"{html.escape(label)}: {html.escape(line)}"


def options_line(post: Post, gettext: Gettext = _same, ngettext: Ngettext = _plural) -> str:
    """The post's options in words, or "" when it has none."""
    options = []
    if post.silent:
        options.append(gettext("🔕 silent"))
    if post.pin:
        options.append(gettext("📌 pin"))
    if post.delete_after_hours:
        options.append(gettext("🗑 delete after {hours} h").format(hours=post.delete_after_hours))
    if post.buttons:
        count = sum(len(row) for row in post.buttons)
        options.append(
            ngettext("🔗 {count} button", "🔗 {count} buttons", count).format(count=count)
        )
    if post.recurrence:
        options.append(gettext("🔁 {rule}").format(rule=post.recurrence))
    return html.escape(" · ".join(options))


def queue_entry(
    post: Post,
    channel: str,
    tz: ZoneInfo,
    gettext: Gettext = _same,
    ngettext: Ngettext = _plural,
    *,
    now: float,
    postable: bool = True,
) -> str:
    """The text of one post's message in /queue: status, number, channel and local time, then
    what it is, its options and, for a failed post, why. The date has its year when that is
    not this year (`now`), so a post for next January is not taken for last January. A queued
    post for a channel the bot can no longer post in (`postable` False) says it will be held."""
    due = datetime.fromtimestamp(post.due_at, tz)
    this_year = datetime.fromtimestamp(now, tz).year
    when = due.strftime("%d.%m %H:%M" if due.year == this_year else "%d.%m.%Y %H:%M")
    mark = STATUS_MARK.get(post.status, "•")
    lines = [f"{mark} #{post.id} · {html.escape(channel)} · {when}"]
    lines.append(content_preview(post.summary, gettext, ngettext))
    options = options_line(post, gettext, ngettext)
    if options:
        lines.append(options)
    if post.error:
        lines.append(f"<i>{html.escape(failure_reason(post.error, gettext))}</i>")
    if not postable and post.status is PostStatus.SCHEDULED:  # `postable`: its channel's
        lines.append(
            html.escape(
                gettext(
                    "⚠️ I can no longer post in this channel: give me the right back before "
                    "its time, or it will wait for you."
                )
            )
        )
    return "\n".join(lines)


def delayed_text(post_id: int, due_at: int, tz: ZoneInfo, gettext: Gettext = _same) -> str:
    """Publish now met a long flood wait: when the post goes out instead."""
    when = datetime.fromtimestamp(due_at, tz)
    return gettext("⏳ Telegram asks me to wait: post #{id} goes out at {time}.").format(
        id=post_id, time=f"{when:%H:%M}"
    )


def page_count(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def page_slice(total: int, page: int, per_page: int) -> tuple[int, int, int]:
    """(page clamped to the existing ones, first index, end index) of a 1-based page."""
    pages = page_count(total, per_page)
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page
    return page, start, min(start + per_page, total)
