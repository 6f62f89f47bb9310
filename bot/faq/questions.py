"""Does a chat message look like a question worth answering from the FAQ?"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

INTERROGATIVES = frozenset(
    """
what how where when why who whom whose which can could do does did is are was were will would
should shall may might has have any anyone что как где когда почему зачем кто какой какая
какие каким куда откуда сколько чей можно ли подскажите скажите есть будет нужно надо wat hoe
waar wanneer waarom wie welke welk kan kun kunnen mag moet is zijn heeft hebben wordt weet
iemand
""".split()
)


def looks_like_question(text: str | None, *, is_command: bool = False) -> bool:
    """A question mark or an interrogative first word, at least three words, not a command."""
    if not text or is_command or text.lstrip().startswith("/"):
        return False
    words = _WORD.findall(text.lower())
    if len(words) < 3:
        return False
    if "?" in text:
        return True
    return words[0] in INTERROGATIVES or (len(words) > 1 and words[1] in {"ли", "er"})
