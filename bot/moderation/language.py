"""Is a message clearly written in a language the chat does not speak?

Unicode scripts decide the easy cases without a model (Cyrillic text in an English/Dutch chat);
langdetect, seeded for determinism and limited to plausible languages, decides among Latin-script
languages. Short texts are never judged: fewer than 20 letters is not enough evidence.
"""

from __future__ import annotations

import threading

MIN_LETTERS = 20
CONFIDENCE = 0.90

# Languages a chat might plausibly receive, grouped by script.
CYRILLIC = {"ru", "uk", "bg", "sr", "mk", "be", "kk"}
LATIN = {"en", "nl", "de", "fr", "es", "it", "pt", "pl", "tr", "id", "sv", "da", "no", "cs", "ro"}
PLAUSIBLE = CYRILLIC | LATIN

_factory_lock = threading.Lock()
_detector_ready = False


def _ensure_detector() -> None:
    global _detector_ready
    if _detector_ready:
        return
    with _factory_lock:
        if not _detector_ready:
            from langdetect import DetectorFactory
            from langdetect.detector_factory import init_factory

            DetectorFactory.seed = 0  # same text, same answer
            init_factory()
            _detector_ready = True


def warm_up() -> None:
    """Load langdetect's profiles (about a second) before the first message needs them."""
    _ensure_detector()


def script_of(text: str) -> tuple[str | None, int]:
    """Dominant script ('cyrillic', 'latin', 'other') of the letters, and how many there are."""
    cyr = lat = other = 0
    for ch in text:
        if not ch.isalpha():
            continue
        if "\u0400" <= ch <= "\u04ff":
            cyr += 1
        elif ch.isascii() or "\u00c0" <= ch <= "\u024f":
            lat += 1
        else:
            other += 1
    total = cyr + lat + other
    if not total:
        return None, 0
    best = max((cyr, "cyrillic"), (lat, "latin"), (other, "other"))
    return (best[1] if best[0] / total >= 0.8 else None), total


def foreign_language(text: str, allowed: tuple[str, ...]) -> str | None:
    """The language code when the text is clearly in a language not in `allowed`, else None."""
    if not allowed:
        return None
    script, letters = script_of(text)
    if letters < MIN_LETTERS or script is None:
        return None
    allowed_set = set(allowed)
    if script == "cyrillic" and not allowed_set & CYRILLIC:
        return "ru" if "ru" not in allowed_set else None
    if script == "latin" and not allowed_set & LATIN:
        return "en"
    if script == "other":
        return "other" if not allowed_set - PLAUSIBLE else None
    candidates = CYRILLIC if script == "cyrillic" else LATIN
    ranked = ranked_languages(text, candidates)
    if not ranked:
        return None
    top_lang, top_prob = ranked[0]
    if top_lang not in allowed_set and top_prob >= CONFIDENCE:
        return top_lang
    return None


def ranked_languages(text: str, candidates: set[str] | frozenset[str]) -> list[tuple[str, float]]:
    """langdetect's (language, probability) guesses among `candidates`, most likely first;
    empty when it cannot tell. Seeded, so the same text always gets the same answer."""
    _ensure_detector()
    from langdetect import detector_factory
    from langdetect.lang_detect_exception import LangDetectException

    try:
        detector = detector_factory._factory.create()
        detector.append(text[:500])
        ranked = detector.get_probabilities()
    except LangDetectException:
        return []
    return [(r.lang, r.prob) for r in ranked if r.lang in candidates]
