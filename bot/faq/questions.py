"""Does a chat message look like a question worth answering from the FAQ?"""

from __future__ import annotations

import re
from enum import StrEnum

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

INTERROGATIVES = frozenset(
    """
what how where when why who whom whose which can could do does did is are was were will would
should shall may might has have any anyone что как где когда почему зачем кто какой какая
какое какую какого каком каких какими каким какие куда откуда сколько чей чья чьё чем чего кому
кого можно ли подскажите скажите есть будет нужно надо wat hoe waar wanneer waarom wie welke
welk kan kun kunnen mag moet is zijn heeft hebben wordt weet iemand
whats wheres hows whos whens whys
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


# Verbs that open a yes/no question by going before their subject ("can I…", "kan ik…"). Chat
# drops the subject instead: "can't wait…", "will be there…", "kan niet wachten…", "is leuk…".
AUXILIARIES = frozenset(
    """
can could do does did is are was were will would should shall may might has have kan kun
kunnen mag moet zijn heeft hebben wordt weet
""".split()
)
# Words that, right after such a verb, show the subject was dropped: a statement, not a question.
NO_SUBJECT = frozenset(
    """
t not never be been being have had get got go love like just so really probably always also
still great fun nice good sure niet nooit nog wel ook even echt leuk gezellig zo
""".split()
)
# An exclamation about something, not a question about it: "what a goal", "wat een sneeuw".
EXCLAMATIVES = frozenset({("what", "a"), ("what", "an"), ("wat", "een")})
# First words that open an exclamation as readily as a question ("How cool is that!", "Какая
# игра!"): with a final "!" and no "?", exclamations. "Where is my order!!" and "Can someone
# help me!" still ask, however impatient.
EXCLAIMING = frozenset("what how wat hoe как какой какая какое какие".split())
# "How cool is it that the parcel came before lunch", "hoe leuk is het dat…", "как круто, что…":
# "how" before a word that judges rather than measures exclaims; without a question mark it is
# chat ("how long is the delivery" measures, and asks).
JUDGING = frozenset(
    """
cool nice great awesome lovely amazing crazy funny weird strange sad annoying beautiful cute
wonderful terrible awful fun sweet stupid insane lucky unlucky
круто здорово классно прикольно странно жаль обидно красиво приятно ужасно смешно клёво клево
leuk mooi gaaf tof vet raar jammer zonde fijn heerlijk stom gek grappig
""".split()
)
_FINAL_MARK = re.compile(r"([.!?…])[^\w.!?…]*$")  # ends the text, before any emoji


def looks_like_question(text: str | None, *, is_command: bool = False) -> bool:
    """A question mark or an interrogative first word (after a lead-in such as "at" or "а"), at
    least three words, not a command. Without a question mark, an exclamation ("can't wait for
    Saturday!", "what a goal") or a statement whose subject chat left out ("will be there at
    nine") is no question: the bot would answer, or hand to the staff, ordinary chat."""
    if not text or is_command or text.lstrip().startswith("/"):
        return False
    words = _WORD.findall(text.lower())
    if len(words) < 3:
        return False
    if "?" in text:
        return True
    if words[0] in LEAD_INS:
        words = words[1:]
    final = _FINAL_MARK.search(text)
    if final is not None and final.group(1) == "!" and words[0] in EXCLAIMING:
        return False
    if (words[0], words[1]) in EXCLAMATIVES:
        return False
    if words[0] in EXCLAIMING and words[1] in JUDGING:
        return False
    if words[0] in AUXILIARIES and words[1] in NO_SUBJECT:
        return False
    return words[0] in INTERROGATIVES or words[1] in {"ли", "er"}


class MessageForm(StrEnum):
    """What a member's message is to the FAQ, which decides how sure an answer must be."""

    QUESTION = "question"  # asks in question form: answered, suggested or handed to the staff
    # Says what is wrong or wanted without asking ("forgot my password", "деньги списали
    # дважды", "tracking??"): answered only when the answer model is sure, never suggested or
    # handed on, since most such messages are ordinary chat.
    STATEMENT = "statement"
    NONE = "none"  # a command, or no words: never the FAQ's


def message_form(text: str | None, *, is_command: bool = False) -> MessageForm:
    """A question (`looks_like_question`), else a statement of at least two words or one with
    a question mark ("retourneren?"), else nothing for the FAQ."""
    if not text or is_command or text.lstrip().startswith("/"):
        return MessageForm.NONE
    if looks_like_question(text):
        return MessageForm.QUESTION
    words = _WORD.findall(text)
    if len(words) >= 2 or (words and "?" in text):
        return MessageForm.STATEMENT
    return MessageForm.NONE
