"""Which group messages are worth a look by the complaint classifier.

Why a prefilter: embedding a message costs 10-50 ms of CPU, and most group chat ("good
morning", "thanks!", a sticker caption) cannot be a complaint. A message is embedded only when
it has at least `MIN_WORDS` words, is not a command, and is either long (`LONG_WORDS` words or
more: a complaint tells a story) or carries a cue short complaints nearly always have: a
negation or a negative word, in English, Russian or Dutch (`CUES`).
Messages that mention a watched term are embedded whatever they say: they are what the
managers asked to hear about. `bench/complaint_eval.py` prints how many complaints of the
training files the prefilter lets through.
"""

from __future__ import annotations

import re

MIN_WORDS = 4
LONG_WORDS = 10  # a message this long is checked even without a cue

# Word starts, matched at a word boundary, case-insensitive. Stems, so "refund" covers
# "refunded" and "верн" covers "верните"/"вернули".
# fmt: off
CUES: dict[str, tuple[str, ...]] = {
    "en": (
        "not", "no", "never", "nobody", "nothing", "nowhere", "none", "cannot",
        "can't", "cant", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "won't",
        "wont", "isn't", "isnt", "wasn't", "aren't", "haven't", "hasn't", "still", "again",
        "broke", "bug", "crash", "error", "fail", "freez", "refund", "money back", "worst",
        "terribl", "awful", "horribl", "useless", "scam", "rip", "disappoint", "angry",
        "annoy", "waste", "slow", "late", "delay", "ignor", "complain", "problem", "issue",
        "wrong", "charg", "cancel", "unacceptabl", "ridiculous", "hate", "bad", "poor",
        "stuck", "lost", "missing", "why", "joke", "shame", "disgust", "unhappy", "sucks",
        "garbage", "trash", "rubbish", "fraud", "lie", "lying", "overpriced", "expensive",
        "unusabl", "laggy", "lag", "wait",
        "fix", "support", "seriously", "how long", "stop", "leaving",
        "unsubscrib", "disappointed", "damaged", "defect", "faulty", "gone", "instead",
        "hung", "been", "where",
    ),
    "ru": (
        "не", "нет", "ни", "никто", "никак", "ничего", "нельзя", "невозможно", "ужас",
        "отврат", "кошмар", "худш", "плох", "верн", "возврат", "деньг", "сломал", "слома",
        "ошибк", "баг", "глюч", "глюк", "вылет", "завис", "обман", "развод", "мошен",
        "жалоб", "беси", "надоел", "разочар", "опять", "снова", "до сих пор", "поддержк",
        "игнор", "задерж", "медлен", "тормоз", "почему", "зачем", "сколько", "проблем",
        "отмен", "списа", "позор", "отстой", "хрен", "фигн", "жду", "ждать", "ждём", "ждем",
        "никогда", "пропал", "потерял", "брак", "дорого",
        "отпис", "уйду", "ухожу", "хватит", "сколько можно", "обещал", "вообще",
        "что за", "бред", "испорч", "повреж", "вместо", "помогите", "безобраз", "хамств",
        "где", "молч", "краш", "отказыва", "навяз", "пада", "повыша",
    ),
    "nl": (
        "niet", "geen", "nooit", "niemand", "niets", "nergens", "slecht", "waardeloos",
        "belachelijk", "schandalig", "teleurgesteld", "teleurstell", "boos", "kapot", "werkt",
        "fout", "storing", "crash", "vastlop", "oplicht", "geld terug", "terugbetal",
        "klacht", "klagen", "probleem", "problemen", "weer", "nog steeds", "alweer",
        "klantenservice", "vertraging", "traag", "laat", "waarom", "annuleer", "afgeschreven",
        "irritant", "ergerlijk", "bagger", "rommel", "waardeloze", "wachten", "wacht",
        "duur", "verloren", "kwijt",
        "beschadigd", "defect", "stuk", "opzeggen", "zeg op", "vertrek", "hoezo",
        "hoelang", "hoe lang", "beloofd", "schande", "ramp", "onbruikbaar", "in plaats van",
        "reageert", "alsjeblieft", "misleid", "verkeerd", "vervall", "weg", "waarschuw",
    ),
}
# fmt: on

# One-word cues are checked as prefixes of the message's words, the few with a space or an
# apostrophe as substrings (one regular expression). A big regex alternation over all cues cost
# about 60 µs per message; `str.startswith` with all 222 stems about 8; with only the stems
# sharing the word's first two letters (every cue has at least two) about 3.
_ALL = {cue.casefold() for cues in CUES.values() for cue in cues}
_PREFIXES = tuple(sorted(cue for cue in _ALL if cue.isalpha()))
_PHRASES = tuple(sorted(cue for cue in _ALL if not cue.isalpha()))
_PREFIXES_BY_START: dict[str, tuple[str, ...]] = {}
for _cue in _PREFIXES:
    _PREFIXES_BY_START[_cue[:2]] = (*_PREFIXES_BY_START.get(_cue[:2], ()), _cue)
_PHRASE = re.compile("|".join(re.escape(phrase) for phrase in _PHRASES))
_WORDS = re.compile(r"\w+")


def word_count(text: str) -> int:
    return len(text.split())


def worth_checking(text: str) -> bool:
    """True when a message might be a complaint and is worth embedding."""
    text = text.strip()
    if not text or text.startswith("/"):
        return False
    words = word_count(text)
    if words < MIN_WORDS:
        return False
    if words >= LONG_WORDS:
        return True
    folded = text.casefold().replace("’", "'")
    if _PHRASE.search(folded):
        return True
    stems = _PREFIXES_BY_START.get
    for word in _WORDS.findall(folded):
        candidates = stems(word[:2])
        if candidates is not None and word.startswith(candidates):
            return True
    return False
