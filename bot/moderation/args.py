"""Parsing moderator command arguments: `[target] [duration] [reason]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.moderation.durations import TELEGRAM_MAX_SECONDS, looks_like_duration, parse_duration
from bot.moderation.problems import Problem
from bot.texts import shorten

# An id Telegram can give: a user's is positive, a channel's or group's negative (-100…), and
# none is longer than 16 digits (Bot API: at most 52 significant bits).
_TARGET = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?[1-9]\d{0,15})$")
# What a moderator meant as a length but is not one: a bare number ("30"), or a number with a
# letter in it or after separators ("10min", "2x", "2h30", "1.5h", "2ч"). "18+" is a reason.
_DURATION_LIKE = re.compile(r"^(?:\d+|\d[\d.,:]*[^\W\d_].*)$")
# An explicit "for good", in the bot's languages: the same as giving no length
PERMANENT = frozenset({"forever", "permanent", "perm", "навсегда", "насовсем", "voorgoed"})
REASON_LIMIT = 300  # characters of a reason kept: a confirmation and a log entry stay one message


class ArgumentError(ValueError):
    def __init__(self, kind: Problem, token: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.token = token


@dataclass(frozen=True, slots=True)
class ActionArgs:
    target: str | None  # "@name" or a numeric id; None: the replied message's sender
    duration: timedelta | None
    reason: str | None


def _length(token: str) -> timedelta | None:
    """A mute's or ban's length as typed; what only looks like one ("0m") is a BAD_DURATION.
    Telegram keeps a restriction of more than 366 days for good, so such a length is None
    (permanent) here too: the confirmation and the log then say what the member gets; so is
    "forever"."""
    if token.lower() in PERMANENT:
        return None
    try:
        duration = parse_duration(token)
    except ValueError:
        raise ArgumentError(Problem.BAD_DURATION, token) from None
    return None if duration.total_seconds() > TELEGRAM_MAX_SECONDS else duration


def parse_action_args(text: str, has_reply: bool, with_duration: bool) -> ActionArgs:
    """Split a command's arguments. Without a reply the first token must name the target; in
    a reply an @username first still does (as in Rose/Marie: the moderator named someone), while
    a number there stays a duration or the reason.

    A token that looks like a duration but is not one (`2x`, `10min`) is an error rather than
    the start of the reason, so `/mute 10min spam` is not silently permanent."""
    tokens = text.split()
    target = None
    if has_reply:
        if tokens and tokens[0].startswith("@") and _TARGET.match(tokens[0]):
            target = tokens.pop(0)
    elif not tokens or not _TARGET.match(tokens[0]):
        raise ArgumentError(Problem.NO_TARGET)
    else:
        target = tokens.pop(0)
    duration = None
    if with_duration and tokens:
        if looks_like_duration(tokens[0]) or tokens[0].lower() in PERMANENT:
            duration = _length(tokens.pop(0))
        elif _DURATION_LIKE.match(tokens[0]):
            raise ArgumentError(Problem.BAD_DURATION, tokens[0])
    reason = " ".join(tokens).strip() or None
    if reason is not None:  # counted as Telegram counts (an emoji is two)
        reason = shorten(reason, REASON_LIMIT)
    return ActionArgs(target, duration, reason)


def parse_warn_limit(text: str) -> tuple[int, str, timedelta | None]:
    """`/setwarnlimit <n> [mute <duration>|ban|kick]` -> (n, action, duration)."""
    tokens = text.split()
    if not tokens or not tokens[0].isdecimal() or not 1 <= int(tokens[0]) <= 20:
        raise ArgumentError(Problem.BAD_LIMIT)
    limit = int(tokens[0])
    action = tokens[1].lower() if len(tokens) > 1 else "mute"
    if action not in {"mute", "ban", "kick"}:
        raise ArgumentError(Problem.BAD_LIMIT)
    duration = None
    if action in {"mute", "ban"}:
        if len(tokens) > 2:
            duration = _length(tokens[2])
        elif action == "mute":
            duration = timedelta(days=1)
    return limit, action, duration
