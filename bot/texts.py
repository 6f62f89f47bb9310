"""Texts to and from Telegram: long replies in Telegram-sized pieces (a message holds at most
4,096 characters), a command's arguments with the sender's formatting, and the ids people type."""

from __future__ import annotations

import re

from aiogram.types import Message
from aiogram.utils.text_decorations import html_decoration

TEXT_LIMIT = 4096  # characters in one Telegram message
# The largest integer the database stores (SQLite's INTEGER, PostgreSQL's BIGINT): SQLite will
# not even compare a bigger one, so a typed number beyond it names nothing and must stop here.
BIGGEST_ID = 2**63 - 1
_TYPED_ID = re.compile(r"#?([0-9]{1,19})")
_TYPED_CHAT_ID = re.compile(r"-?[0-9]{1,19}")


def typed_id(token: str) -> int | None:
    """The number of a stored thing as people type it ("12" or "#12"); None for anything else,
    including numbers too big to name a row and digits int() refuses ("²")."""
    match = _TYPED_ID.fullmatch(token.strip())
    if match is None:
        return None
    value = int(match[1])
    return value if 0 < value <= BIGGEST_ID else None


def typed_chat_id(token: str) -> int | None:
    """A Telegram chat or user id as people paste it (negative for groups and channels,
    "-1001234567890"); None for anything else ("--5", a name, a number too big to be one)."""
    token = token.strip()
    if not _TYPED_CHAT_ID.fullmatch(token):
        return None
    value = int(token)
    return value if value != 0 and abs(value) <= BIGGEST_ID else None


def pack_lines(lines: list[str], limit: int = TEXT_LIMIT) -> list[str]:
    """`lines` joined into as few messages as fit `limit` each, split only between lines (a
    line longer than a whole message is cut). Counted with any HTML tags, which Telegram does
    not count, so it errs on the safe side."""
    texts: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            texts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        texts.append(current)
    return texts


def command_args_html(message: Message) -> str:
    """A command's arguments as HTML: the sender's formatting kept, "<" and "&" escaped (they
    are letters the sender typed). Entities are cut to the arguments, so one spanning the
    command too cannot leave half a tag behind."""
    text = message.text or ""
    parts = text.split(maxsplit=1)
    if len(parts) < 2:
        return ""
    start = text.index(parts[1], len(parts[0]))
    shift = len(text[:start].encode("utf-16-le")) // 2  # entity offsets count UTF-16 units
    entities = []
    for entity in message.entities or []:
        begin, end = max(entity.offset, shift), entity.offset + entity.length
        if end > begin and entity.type != "bot_command":
            entities.append(
                entity.model_copy(update={"offset": begin - shift, "length": end - begin})
            )
    return html_decoration.unparse(parts[1], entities)
