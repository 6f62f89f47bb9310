"""Watched terms (/watch): parsing the command and finding mentions in a message.

A term matches as a whole word or phrase, case-insensitively, anywhere in a message ("acme"
matches "Acme's app" but not "acmeology"): brand names are short, and substring matches would
report every word that happens to contain one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MIN_TERM = 2
MAX_TERM = 64
MAX_WATCHES = 100


@dataclass(frozen=True, slots=True)
class Watch:
    id: int
    term: str
    chat_id: int | None  # None: every chat Steward is in
    created_by: int
    created_at: int


class WatchArgsError(StrEnum):
    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class WatchRequest:
    term: str
    chat: str | None  # "@username" or a numeric id as typed


def parse_watch_args(args: str) -> WatchRequest | WatchArgsError:
    """`acme shop`, `acme shop @mychat` or `acme -1001234`: the last token names a chat when it
    is an @username or a negative chat id."""
    tokens = args.split()
    chat = None
    if len(tokens) > 1 and (tokens[-1].startswith("@") or re.fullmatch(r"-\d+", tokens[-1])):
        chat = tokens.pop()
    term = " ".join(tokens).strip().strip("\"'«»“”")
    if not term:
        return WatchArgsError.EMPTY
    if len(term) < MIN_TERM:
        return WatchArgsError.TOO_SHORT
    if len(term) > MAX_TERM:
        return WatchArgsError.TOO_LONG
    return WatchRequest(term, chat)


def term_pattern(term: str) -> re.Pattern[str]:
    words = [re.escape(word) for word in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


class WatchMatcher:
    """All watches compiled once; rebuilt when a watch is added or removed."""

    def __init__(self, watches: list[Watch]) -> None:
        self.watches = watches
        self._patterns = [(watch, term_pattern(watch.term)) for watch in watches]
        self._any = (
            re.compile("|".join(f"(?:{p.pattern})" for _, p in self._patterns), re.IGNORECASE)
            if self._patterns
            else None
        )

    def __bool__(self) -> bool:
        return bool(self.watches)

    def find(self, text: str, chat_id: int) -> list[Watch]:
        """The watches a message in `chat_id` mentions; one quick scan when none does."""
        if self._any is None or not text or self._any.search(text) is None:
            return []
        return [
            watch
            for watch, pattern in self._patterns
            if (watch.chat_id is None or watch.chat_id == chat_id) and pattern.search(text)
        ]
