"""/warn, /unwarn, /warns and /resetwarns."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram.filters import CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.config import Settings
from bot.moderation.args import ActionArgs
from bot.moderation.buttons import undo_keyboard
from bot.moderation.durations import format_duration
from bot.moderation.problems import Problem
from bot.moderation.service import (
    ModerationError,
    ModerationService,
    Target,
    WarnPenalty,
    reason_label,
)
from bot.moderation.targets import TargetResolver, replied, sender_of
from bot.roles import RoleService
from handlers.moderation.common import (
    actor_of,
    error_text,
    named_target,
    on_target,
    reason_line,
    reply_lines,
)


@on_target()
async def warn_command(
    message: Message, _name: str, target: Target, args: ActionArgs, moderation: ModerationService
) -> None:
    try:
        warned = await moderation.warn(message.chat.id, target, actor_of(message), args.reason)
    except ModerationError as exc:
        await message.reply(error_text(exc.kind, token=exc.detail))
        return
    if warned.penalty is None or warned.action_id is None:
        text = _("⚠️ {name} has been warned ({count}/{limit}).").format(
            name=target.mention, count=warned.count, limit=warned.limit
        )
        await message.reply(text + reason_line(args.reason))
        return
    n = warned.limit
    text = {
        WarnPenalty.BAN: ngettext(
            "🔨 {name} reached {limit} warn and is banned.",
            "🔨 {name} reached {limit} warns and is banned.",
            n,
        ),
        WarnPenalty.KICK: ngettext(
            "👢 {name} reached {limit} warn and was removed.",
            "👢 {name} reached {limit} warns and was removed.",
            n,
        ),
        WarnPenalty.MUTE: ngettext(
            "🔇 {name} reached {limit} warn and is muted.",
            "🔇 {name} reached {limit} warns and is muted.",
            n,
        ),
    }[warned.penalty].format(name=target.mention, limit=n)
    if warned.duration:
        text += " " + _("Duration: {duration}.").format(duration=format_duration(warned.duration))
    await message.reply(text, reply_markup=undo_keyboard(warned.action_id))


@on_target()
async def unwarn_command(
    message: Message, _name: str, target: Target, _args: ActionArgs, moderation: ModerationService
) -> None:
    left = await moderation.unwarn(message.chat.id, target, actor_of(message))
    if left is None:
        await message.reply(_("{name} has no warns to remove.").format(name=target.mention))
        return
    await message.reply(
        _("Removed the latest warn of {name} ({count}/{limit} left).").format(
            name=target.mention, count=left.count, limit=left.limit
        )
    )


async def warns_command(
    message: Message,
    command: CommandObject,
    role_service: RoleService,
    targets: TargetResolver,
    moderation: ModerationService,
    settings: Settings,
) -> None:
    """Admins may look anyone up; members only themselves."""
    is_admin = await role_service.is_message_from_admin(message)
    if (command.args or replied(message)) and is_admin:
        named = await named_target(message, command, targets, with_duration=False)
        if named is None:
            return
        target = named[0]
    elif message.sender_chat is None and (own := sender_of(message)) is not None:
        target = own  # a member's own warns; a channel identity has none to look up
    else:
        await message.reply(error_text(Problem.NO_TARGET, command.command))
        return
    active = await moderation.warns(message.chat.id, target.id)
    if not active.warns:
        await message.reply(_("{name} has no warns.").format(name=target.mention))
        return
    lines = [
        ngettext(
            "{name} has {count} of {limit} warn:",
            "{name} has {count} of {limit} warns:",
            active.limit,
        ).format(name=target.mention, count=len(active.warns), limit=active.limit)
    ]
    for n, warn in enumerate(active.warns, 1):
        # the day in TIMEZONE, as /modlog shows it
        when = datetime.fromtimestamp(warn.created_at, settings.timezone).strftime("%Y-%m-%d")
        locale = moderation.i18n.current_locale
        reason = reason_label(moderation.i18n, warn.reason, locale) if warn.reason else "—"
        lines.append(f"{n}. {when} — {html.escape(reason)}")
    await reply_lines(message, lines)


@on_target()
async def resetwarns_command(
    message: Message, _name: str, target: Target, _args: ActionArgs, moderation: ModerationService
) -> None:
    if not await moderation.reset_warns(message.chat.id, target, actor_of(message)):
        await message.reply(_("{name} has no warns.").format(name=target.mention))
        return
    await message.reply(_("All warns of {name} are cleared.").format(name=target.mention))
