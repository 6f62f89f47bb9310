"""The words the posting and compose handlers answer a manager with: a post no longer queued,
a time that cannot be used, content that can never be copied."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.posting.compose import Uncopyable, uncopyable
from bot.posting.service import Change
from bot.posting.times import MAX_AHEAD_DAYS, MIN_REPEAT, TimeProblem
from storage.posts import Post


def not_queued_text(post_id: int, why: Change) -> str:
    """Why a post's button or a typed answer about it changed nothing (`why_unchanged`): a
    cancelled post is named as such (it stays cancelled), one being sent as such, anything
    else is simply no longer in the queue."""
    if why is Change.CANCELLED:
        return _(
            "Post #{id} was cancelled, so it stays cancelled. To post it after all, send "
            "it to me again."
        ).format(id=post_id)
    if why is Change.SENDING:
        return _("Post #{id} is being sent right now.").format(id=post_id)
    return _("This post is no longer in the queue.")


def out_refused_text(post: Post) -> str:
    """ "It is out" pressed for a post no longer waiting for that decision: queued again
    meanwhile (rescheduled, say, from the same notice), or out of the queue."""
    if post.open:
        return _(
            "Post #{id} is in the queue again, so I did not record it as published. If it is "
            "in the channel, cancel it in /queue."
        ).format(id=post.id)
    return not_queued_text(post.id, Change.GONE)


def marked_out_text(post: Post) -> str:
    """ "It is out" recorded. The bot never learns the message of a post recorded so (a bot
    is not sent its own channel posts): its delete-after and its pin are the manager's to do,
    and the manager is told so."""
    lines = [_("✅ Post #{id} recorded as published.").format(id=post.id)]
    if post.delete_after_hours:
        lines.append(
            _(
                "I can't delete it after {hours} h: I don't know which message it is in the "
                "channel. Delete it there yourself."
            ).format(hours=post.delete_after_hours)
        )
    if post.pin:
        lines.append(_("I did not pin it: pin it in the channel yourself."))
    return "\n".join(lines)


def time_error_text(code: TimeProblem, waiting: bool = False) -> str:
    """Why a time cannot be used. `waiting`: the bot asked for it and still waits, so a message
    that is no time at all (a photo, a new post sent meanwhile) is told the way out too."""
    if waiting and code is TimeProblem.UNKNOWN:
        return "\n".join((time_error_text(code), _("Still waiting for the time: /cancel to stop.")))
    usage = _(
        "I don't understand the time. Use 18:30, tomorrow 10:00, 25.12 18:00, "
        "2026-12-25 18:00 or +30m."
    )
    if code is TimeProblem.NOT_AHEAD:
        return _("That offset is zero: give a time ahead, e.g. +30m, +2h, 18:30 or tomorrow 10:00.")
    if code is TimeProblem.TOO_OFTEN:
        minutes = int(MIN_REPEAT.total_seconds()) // 60
        return ngettext(
            "That repeats too often: a post can repeat at most every {minutes} minute. "
            "For 09:00 every day write 0 9 * * * or daily 09:00.",
            "That repeats too often: a post can repeat at most every {minutes} minutes. "
            "For 09:00 every day write 0 9 * * * or daily 09:00.",
            minutes,
        ).format(minutes=minutes)
    if code is TimeProblem.TOO_FAR:
        return ngettext(
            "That is too far ahead: a post can be scheduled at most {days} day ahead.",
            "That is too far ahead: a post can be scheduled at most {days} days ahead.",
            MAX_AHEAD_DAYS,
        ).format(days=MAX_AHEAD_DAYS)
    return {
        TimeProblem.PAST: _("That time has already passed."),
        TimeProblem.NONEXISTENT: _(
            "That local time does not exist: the clocks skip it that night."
        ),
        TimeProblem.AMBIGUOUS: _(
            "That local time happens twice that night (clocks go back); pick another minute."
        ),
        TimeProblem.INVALID: _("That date or time does not exist."),
    }.get(code, usage)


def copy_refusal(messages: Iterable[Any]) -> str | None:
    """Why what the manager sent can never be published in a channel, or None when it can."""
    why = uncopyable(messages)
    if why is Uncopyable.QUIZ:
        return _(
            "I can't publish a forwarded quiz: Telegram lets me copy a quiz only when I know "
            "its right answer. Create the quiz here in our chat, or forward a closed one."
        )
    if why is Uncopyable.PUBLIC_POLL:
        return _(
            "A poll that shows who voted can't go to a channel: channel polls are anonymous. "
            "Send me an anonymous poll instead."
        )
    if why is Uncopyable.KIND:
        return _(
            "Telegram does not let bots copy giveaways, invoices or paid media, so I can't "
            "publish this in a channel."
        )
    return None
