"""What every moderator command needs: who acts, whom the command is about, and the one-line
answer for each way it can go wrong."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Collection

from aiogram.filters import CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.commands import Where
from bot.moderation.args import ActionArgs, ArgumentError, parse_action_args
from bot.moderation.problems import Problem
from bot.moderation.service import Actor, ModerationService, Target
from bot.moderation.targets import TargetResolver, replied
from bot.texts import ALERT_LIMIT, pack_lines, shorten

GROUP = {"chat": Where.GROUP}  # `@admin` in a reply, which is no command


def actor_of(message: Message) -> Actor:
    if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
        return Actor(message.chat.id, _("Anonymous admin"))
    user = message.from_user
    return Actor(user.id, user.full_name) if user else Actor(None, "?")


def error_text(kind: Problem, command: str = "", token: str = "") -> str:
    messages = {
        Problem.NO_TARGET: _(
            "Reply to a message of the member, or name them: /{command} @username or "
            "/{command} 123456789."
        ),
        Problem.BAD_DURATION: _(
            "I don't understand the duration “{token}”. Use 30s, 10m, 2h, 3d, 1w or "
            "combinations like 1h30m."
        ),
        Problem.UNKNOWN_USER: _(
            "I don't know {token} yet. Reply to one of their messages, or use their numeric id."
        ),
        Problem.TARGET_ADMIN: _("I don't act on admins of this chat."),
        Problem.CHANNEL_KICK: _(
            "A channel cannot be removed and let back in: /ban stops it posting here, "
            "/unban lets it back."
        ),
        Problem.CHANNEL_RESTRICT: _(
            "A channel cannot be muted or warned: /ban stops it posting here, /unban lets it back."
        ),
        Problem.SELF: _("I won't act on myself."),
        Problem.NO_RIGHTS: _(
            "I can't do that: make me an admin of this chat with the rights to delete messages "
            "and ban users."
        ),
        Problem.SUPERGROUP_ONLY: _(
            "Telegram lets bots do this only in supergroups, and this is a basic group: "
            "making it public, or showing its history to new members, turns it into one."
        ),
        Problem.NOT_FOUND: _("Telegram says this member or message is not in the chat."),
        Problem.UNDELETABLE: _(
            "Telegram does not let bots delete this message: it is older than 48 hours, or a "
            "service message that cannot be deleted."
        ),
        Problem.NOT_BANNED: _("{token} is not banned in this chat."),
        Problem.NOT_MUTED: _("{token} is not muted in this chat."),
        Problem.BANNED: _(
            "{token} is banned in this chat: a mute would lift the ban. /unban them first if "
            "that is what you mean."
        ),
        Problem.TELEGRAM: _("Telegram refused this action: {token}"),
        Problem.BAD_LIMIT: _(
            "Usage: /setwarnlimit <number 1-20> [mute <duration>|ban [duration]|kick], "
            "e.g. /setwarnlimit 3 mute 1d"
        ),
    }
    template = messages[kind]
    # plain-text templates (they show <placeholders>) sent with HTML parse mode
    return html.escape(template, quote=False).format(command=command, token=html.escape(token))


def error_alert(kind: Problem, command: str = "", token: str = "") -> str:
    """`error_text` for a button's alert: Telegram shows an alert's text as it is, with no
    parse mode (a member "Tom & Jerry" read "Tom &amp; Jerry"), and at most 200 units long."""
    return shorten(html.unescape(error_text(kind, command, token)), ALERT_LIMIT)


async def reply_lines(message: Message, lines: list[str]) -> None:
    """A list (/modlog, /filters, /warns) as a reply, in as many messages as it takes: one
    longer than Telegram's 4,096 characters is refused, and the admin got an apology."""
    first, *rest = pack_lines(lines)
    await message.reply(first)
    for part in rest:
        await message.answer(part)


def reason_line(reason: str | None) -> str:
    return ("\n" + _("Reason: {reason}").format(reason=html.escape(reason))) if reason else ""


async def named_target(
    message: Message, command: CommandObject, targets: TargetResolver, with_duration: bool
) -> tuple[Target, ActionArgs] | None:
    """The member the command names (its arguments, or the replied message), with the
    arguments; on a problem reply with one clear line, return None."""
    try:
        args = parse_action_args(command.args or "", replied(message) is not None, with_duration)
        return await targets.resolve(message, args.target), args
    except ArgumentError as exc:
        await message.reply(error_text(exc.kind, command.command, exc.token))
        return None


async def target_from_command(
    message: Message, command: CommandObject, targets: TargetResolver, with_duration: bool
) -> tuple[Target, ActionArgs] | None:
    """Parse and check the target; on a problem reply with one clear line, return None."""
    named = await named_target(message, command, targets, with_duration)
    if named is None:
        return None
    target, args = named
    refusal = await targets.refusal(message.chat.id, target)
    if refusal:
        await message.reply(error_text(refusal))
        return None
    return target, args


TargetedAction = Callable[[Message, str, Target, ActionArgs, ModerationService], Awaitable[None]]
Handler = Callable[[Message, CommandObject, TargetResolver, ModerationService], Awaitable[None]]


def on_target(*, durations: Collection[str] = ()) -> Callable[[TargetedAction], Handler]:
    """A command about one member (/warn, /mute, /approve, …) as a handler: the target is
    parsed and checked first, and the action runs only for a target it may act on. Commands
    named in `durations` take a duration after the target."""

    def wrap(act: TargetedAction) -> Handler:
        async def handler(
            message: Message,
            command: CommandObject,
            targets: TargetResolver,
            moderation: ModerationService,
        ) -> None:
            name = command.command.lower()
            found = await target_from_command(message, command, targets, name in durations)
            if found is not None:
                await act(message, name, *found, moderation)

        handler.__name__ = handler.__qualname__ = act.__name__
        handler.__doc__ = act.__doc__
        return handler

    return wrap
