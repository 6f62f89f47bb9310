"""Channels the bot may publish to, and the rights it holds there."""

from __future__ import annotations

from aiogram.types import Chat, ChatMember, ChatMemberAdministrator, ChatMemberOwner

from storage.posts import Channel


def channel_rights(chat: Chat, member: ChatMember | None) -> Channel:
    """What the bot may do in a channel, from its own ChatMember there (None: Telegram would
    not say, as for a channel the bot is no admin of).

    Pinning in a channel needs the right to edit messages (Telegram's rule for channels)."""
    if isinstance(member, ChatMemberOwner):
        return Channel(chat.id, chat.title, chat.username, True, True, True, True)
    if isinstance(member, ChatMemberAdministrator):
        can_edit = bool(member.can_edit_messages)
        return Channel(
            chat.id,
            chat.title,
            chat.username,
            bool(member.can_post_messages),
            can_edit,
            bool(member.can_delete_messages),
            can_edit,
        )
    return Channel(chat.id, chat.title, chat.username, False, False, False, False)


def rights_line(channel: Channel) -> str:
    marks = [
        ("post", channel.can_post),
        ("edit", channel.can_edit),
        ("delete", channel.can_delete),
        ("pin", channel.can_pin),
    ]
    return " ".join(f"{'✅' if ok else '❌'}{name}" for name, ok in marks)
