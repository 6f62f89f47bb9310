"""Long replies in Telegram-sized pieces: a message holds at most 4,096 characters."""

from __future__ import annotations

TEXT_LIMIT = 4096  # characters in one Telegram message


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
