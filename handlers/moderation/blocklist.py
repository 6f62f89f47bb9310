"""/filter, /unfilter and /filters: the chat's blocklist of words and patterns."""

from __future__ import annotations

import html

from aiogram.filters import CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.moderation.blocklist import BadPattern, parse_filter
from bot.moderation.service import ModerationService
from handlers.moderation.common import actor_of, reply_lines


def shown(pattern: str, is_regex: bool) -> str:
    return f"<code>{html.escape(f'/{pattern}/' if is_regex else pattern)}</code>"


async def filter_command(
    message: Message, command: CommandObject, moderation: ModerationService
) -> None:
    if not command.args:
        await message.reply(html.escape(_("Usage: /filter <word or phrase> or /filter /regex/")))
        return
    try:
        pattern, is_regex = parse_filter(command.args)
    except BadPattern:
        await message.reply(
            _(
                "This pattern is not usable (too long, invalid or too slow to "
                "check). Try a simpler word or expression."
            )
        )
        return
    if await moderation.add_filter(message.chat.id, pattern, is_regex, actor_of(message)):
        text = _("🚫 Added to the blocklist: {pattern}")
    else:
        text = _("Already in the blocklist: {pattern}")
    await message.reply(text.format(pattern=shown(pattern, is_regex)))


async def unfilter_command(
    message: Message, command: CommandObject, moderation: ModerationService
) -> None:
    if not command.args:
        await message.reply(
            html.escape(_("Usage: /unfilter <word> or /unfilter /regex/ (see /filters)"))
        )
        return
    try:
        pattern, is_regex = parse_filter(command.args)
    except BadPattern:
        pattern, is_regex = command.args.strip(), False
    if await moderation.remove_filter(message.chat.id, pattern, is_regex):
        text = _("Removed from the blocklist: {pattern}")
    else:
        text = _("Not in the blocklist: {pattern}")
    await message.reply(text.format(pattern=shown(pattern, is_regex)))


async def filters_command(message: Message, moderation: ModerationService) -> None:
    entries = await moderation.filters(message.chat.id)
    if not entries:
        await message.reply(
            _(
                "The blocklist is empty. Add a word with /filter word or a "
                "pattern with /filter /regex/."
            )
        )
        return
    lines = [_("Blocklist of this chat:")]
    lines += [f"• {shown(f.pattern, f.is_regex)}" for f in entries]
    await reply_lines(message, lines)
