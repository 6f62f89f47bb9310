"""Why a post did not go out, in the words of the manager who reads it.

A post's `error` column holds either one of the publisher's own reasons (below; stored in
English, as rows written by earlier versions are) or Telegram's description of its refusal
(`Bad Request: message to copy not found`). Both are rendered here in the reader's language:
the publisher's reasons are catalog entries, and the refusals a manager can do something about
are explained, with Telegram's own words kept in brackets for whoever looks further.
Plain functions: the translation function is passed in, as in `bot.posting.preview`.
`NoticeReason` names why the manager who queued a post hears about it; `MAYBE_OUT` maps the
reasons that leave the post perhaps in the channel to the reason stored on it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from bot.commands import N_

Gettext = Callable[[str], str]

MISSED = N_("missed while the bot was down")
INTERRUPTED = N_("the bot stopped while publishing")
NO_RIGHTS = N_("I can no longer post in this channel")
UNCONFIRMED = N_("the connection to Telegram broke while it was sent; it may be out already")
SERVER_ERROR = N_("Telegram answered its sending with a server error; it may be out already")
FOLLOWUP_UNCONFIRMED = N_("Telegram did not confirm it; it may be in the channel after all")
OWN_REASONS = (MISSED, INTERRUPTED, NO_RIGHTS, UNCONFIRMED, SERVER_ERROR, FOLLOWUP_UNCONFIRMED)


class NoticeReason(StrEnum):
    """Why a post did not simply go out; the manager who queued it hears it (`PostNotices`)."""

    FAILED = "failed"
    MISSED = "missed"  # due while the bot was down, past the grace period
    HELD = "held"  # the bot lost its rights in the channel
    INTERRUPTED = "interrupted"  # a worker stopped mid-publishing
    UNCONFIRMED = "unconfirmed"  # sent, but the answer was lost: it may be out
    SERVER_ERROR = "server_error"  # sent, and answered with a 5xx: it may be out too
    NOT_PINNED = "not_pinned"  # out, but Telegram refused to pin it
    NOT_DELETED = "not_deleted"  # delete-after came, but Telegram refused the deletion
    NO_FOLLOWUP = "no_followup"  # an album out, but not the message with its buttons


# A post may be in the channel already after these: it waits for the manager's decision with
# the reason stored (its buttons then offer "It is out"), and its notice says so.
MAYBE_OUT: dict[NoticeReason, str] = {
    NoticeReason.INTERRUPTED: INTERRUPTED,
    NoticeReason.UNCONFIRMED: UNCONFIRMED,
    NoticeReason.SERVER_ERROR: SERVER_ERROR,
}

# Telegram's descriptions (lower case, a part of them) -> what they mean for the post
GONE_FROM_CHANNEL = ("bot is not a member", "bot was kicked", "chat not found", "channel_private")
NO_RIGHT_TO_POST = (
    "need administrator rights",
    "not enough rights",
    "have no rights",
    "chat_write_forbidden",
    "chat_admin_required",
)
EXPLAINED = (
    (
        ("to copy not found", "message_id_invalid"),
        N_("the message to publish was deleted from the chat with me"),
    ),
    (("can't be copied",), N_("Telegram does not let me copy this kind of message")),
    (("pinned messages",), N_("I have no right to pin messages there")),
    (GONE_FROM_CHANNEL, N_("I am no longer in the channel, or it was deleted")),
    (NO_RIGHT_TO_POST, N_("I have no right to post in the channel")),
    (("too many requests", "flood"), N_("Telegram asked me to wait too long")),
    (
        ("http client says", "internal server error", "bad gateway", "gateway", "unavailable"),
        N_("Telegram did not answer, even after several tries; try again later"),
    ),
)


def channel_lost(error: str) -> bool:
    """Whether Telegram's refusal says the bot can no longer post in the channel at all, so
    the channel is to be flagged (its other posts are then held, not each refused)."""
    lowered = error.lower()
    return any(needle in lowered for needle in (*GONE_FROM_CHANNEL, *NO_RIGHT_TO_POST))


def failure_reason(error: str | None, gettext: Gettext) -> str:
    """The reason for a post's failure or hold as the reader should see it (plain text)."""
    if not error:
        return ""
    if error in OWN_REASONS:
        return gettext(error)
    lowered = error.lower()
    for needles, meaning in EXPLAINED:
        if any(needle in lowered for needle in needles):
            return f"{gettext(meaning)} ({error})"
    return error
