"""Per-chat blocklist: words and /regex/ patterns that get a message removed."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.moderation.spam import fold

MAX_PATTERN_LENGTH = 200
# Nested quantifiers like (a+)+ can take exponential time on a crafted message.
_NESTED_QUANTIFIER = re.compile(r"\([^)]*[+*][^)]*\)[+*{]")


class BadPattern(ValueError):
    pass


def parse_filter(raw: str) -> tuple[str, bool]:
    """`/regex/` -> (regex, True); anything else -> (folded word or phrase, False)."""
    raw = raw.strip()
    if not raw:
        raise BadPattern("empty")
    if len(raw) > MAX_PATTERN_LENGTH:
        raise BadPattern("too long")
    if len(raw) >= 3 and raw.startswith("/") and raw.endswith("/"):
        pattern = raw[1:-1]
        if _NESTED_QUANTIFIER.search(pattern):
            raise BadPattern("nested quantifier")
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise BadPattern(str(exc)) from None
        return pattern, True
    return fold(raw), False


@dataclass(frozen=True, slots=True)
class CompiledBlocklist:
    words: tuple[str, ...]
    regexes: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def build(cls, entries: list[tuple[str, bool]]) -> CompiledBlocklist:
        words = tuple(p for p, is_regex in entries if not is_regex)
        regexes = tuple((p, re.compile(p, re.IGNORECASE)) for p, is_regex in entries if is_regex)
        return cls(words, regexes)

    def match(self, text: str) -> str | None:
        """The first filter the text trips, as the moderator wrote it; None if clean.

        Words match whole words (or phrases) after case and look-alike folding, so a filter on
        `ass` does not delete `class`."""
        if not text or not (self.words or self.regexes):
            return None
        folded = fold(unicodedata.normalize("NFKC", text))
        for word in self.words:
            if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded):
                return word
        for raw, regex in self.regexes:
            if regex.search(text):
                return f"/{raw}/"
        return None
