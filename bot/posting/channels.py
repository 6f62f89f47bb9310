"""Channels the bot may publish to, and the rights it holds there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from aiogram.types import Chat, ChatMember, ChatMemberAdministrator, ChatMemberOwner
from aiogram.utils.i18n import gettext as _

from bot.commands import N_
from storage.posts import Channel, SlotRepository


def channel_rights(chat: Chat, member: ChatMember | None) -> Channel:
    """What the bot may do in a channel, from its own ChatMember there (None: Telegram would
    not say, as for a channel the bot is no admin of)."""
    return rights_of(
        Channel(chat.id, chat.title, chat.username, False, False, False, False), member
    )


def rights_of(channel: Channel, member: ChatMember | None) -> Channel:
    """`channel` with the rights its ChatMember `member` gives the bot.

    Pinning in a channel needs the right to edit messages (Telegram's rule for channels)."""
    if isinstance(member, ChatMemberOwner):
        return replace(channel, can_post=True, can_edit=True, can_delete=True, can_pin=True)
    if isinstance(member, ChatMemberAdministrator):
        can_edit = bool(member.can_edit_messages)
        return replace(
            channel,
            can_post=bool(member.can_post_messages),
            can_edit=can_edit,
            can_delete=bool(member.can_delete_messages),
            can_pin=can_edit,
        )
    return replace(channel, can_post=False, can_edit=False, can_delete=False, can_pin=False)


def rights_line(channel: Channel, gettext: Callable[[str], str]) -> str:
    """✅post ✅edit ❌delete ✅pin, the words in the reader's language (`gettext`)."""
    marks = [
        (N_("post"), channel.can_post),
        (N_("edit"), channel.can_edit),
        (N_("delete"), channel.can_delete),
        (N_("pin"), channel.can_pin),
    ]
    return " ".join(f"{'✅' if ok else '❌'}{gettext(name)}" for name, ok in marks)


def slots_owner(chat_id: int, names: dict[int, str]) -> str:
    """Whose posting slots these are in /slots: every channel's, or the channel's name."""
    if chat_id == SlotRepository.DEFAULT:
        return _("every channel")
    return names.get(chat_id, str(chat_id))
