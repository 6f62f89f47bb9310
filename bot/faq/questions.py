"""Does a chat message look like a question worth answering from the FAQ?"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

INTERROGATIVES = frozenset(
    """
what how where when why who whom whose which can could do does did is are was were will would
should shall may might has have any anyone что как где когда почему зачем кто какой какая
какое какую какого каком каких какими каким какие куда откуда сколько чей чья чьё чем чего кому
кого можно ли подскажите скажите есть будет нужно надо wat hoe waar wanneer waarom wie welke
welk kan kun kunnen mag moet is zijn heeft hebben wordt weet iemand
""".split()
)
# Words a question often opens with before its interrogative: "at what time…", "and where…",
# "so how…", "во сколько…", "а где…", "в какой день…", "om hoe laat…", "en waar…".
LEAD_INS = frozenset(
    """
at in on for from to and so but or also hey hi hello а и но ну так во в на с со по за до из к
у о об при en dus maar of om op in voor met van naar tot bij hoi hallo
""".split()
)


def looks_like_question(text: str | None, *, is_command: bool = False) -> bool:
    """A question mark or an interrogative first word (after a lead-in such as "at" or "а"), at
    least three words, not a command."""
    if not text or is_command or text.lstrip().startswith("/"):
        return False
    words = _WORD.findall(text.lower())
    if len(words) < 3:
        return False
    if "?" in text:
        return True
    if words[0] in LEAD_INS:
        words = words[1:]
    return words[0] in INTERROGATIVES or words[1] in {"ли", "er"}
