"""Links to messages, as Telegram forms them: `t.me/<username>/<id>` for public chats,
`t.me/c/<internal id>/<id>` for private supergroups; basic groups have none."""

from __future__ import annotations


def message_link(chat_id: int, username: str | None, message_id: int) -> str | None:
    if username:
        return f"https://t.me/{username}/{message_id}"
    if str(chat_id).startswith("-100"):
        return f"https://t.me/c/{str(chat_id)[4:]}/{message_id}"
    return None  # basic groups have no message links
