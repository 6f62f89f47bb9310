"""Is a message clearly written in a language the chat does not speak?

Unicode scripts decide the easy cases without a model (Cyrillic text in an English/Dutch chat);
langdetect, seeded for determinism and limited to plausible languages, decides among Latin-script
languages. Short texts are never judged: fewer than 20 letters is not enough evidence.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any, Protocol

MIN_LETTERS = 20
CONFIDENCE = 0.90

# Languages a chat might plausibly receive, grouped by script.
CYRILLIC = {"ru", "uk", "bg", "sr", "mk", "be", "kk"}
LATIN = {"en", "nl", "de", "fr", "es", "it", "pt", "pl", "tr", "id", "sv", "da", "no", "cs", "ro"}
PLAUSIBLE = CYRILLIC | LATIN


# The part of langdetect (which ships no types) that this module uses.
class _Language(Protocol):
    @property
    def lang(self) -> str: ...
    @property
    def prob(self) -> float: ...


class _Detector(Protocol):
    def append(self, text: str) -> None: ...
    def get_probabilities(self) -> Sequence[_Language]: ...


class _Factory(Protocol):
    def create(self) -> _Detector: ...


_factory_lock = threading.Lock()
_factory: _Factory | None = None  # the compact langdetect factory, loaded once on first use


def _compact_factory() -> _Factory:
    """langdetect's factory with its 55 profiles held sparsely.

    langdetect keeps, per n-gram, a list of 55 probabilities of which about two are not zero:
    some 90,000 lists, 60 MB of a running bot. Here each n-gram keeps only its (language index,
    probability) pairs, and the detector multiplies the other languages by the smoothing weight
    alone, exactly what `weight + 0.0` gives: the same probabilities to the last bit for a
    quarter of the memory.
    """
    import operator

    from langdetect.detector import Detector
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    # langdetect is untyped (Any): subclassing it is the point here.
    class CompactDetector(Detector):  # type: ignore[misc]
        def _update_lang_prob(self, prob: list[float], word: str | None, alpha: float) -> bool:
            sparse = self.word_lang_prob_map.get(word) if word is not None else None
            if sparse is None:
                return False
            weight = alpha / self.BASE_FREQ
            factors = [weight] * len(prob)
            for i in range(0, len(sparse), 2):
                factors[sparse[i]] = weight + sparse[i + 1]
            prob[:] = map(operator.mul, prob, factors)
            return True

    class CompactFactory(DetectorFactory):  # type: ignore[misc]
        def add_profile(self, profile: Any, index: int, langsize: int) -> None:
            self.langlist.append(profile.name)
            table = self.word_lang_prob_map
            for word, freq in profile.freq.items():
                pairs = table.setdefault(word, [])
                if 1 <= len(word) <= 3:
                    pairs += (index, 1.0 * freq / profile.n_words[len(word) - 1])

        def _create_detector(self) -> CompactDetector:
            return CompactDetector(self)

    factory = CompactFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.word_lang_prob_map = {w: tuple(p) for w, p in factory.word_lang_prob_map.items()}
    factory.set_seed(0)  # same text, same answer
    return factory


def _ensure_detector() -> _Factory:
    global _factory
    if _factory is None:
        with _factory_lock:
            if _factory is None:
                _factory = _compact_factory()
    return _factory


def warm_up() -> None:
    """Load langdetect's profiles (about half a second) before the first message needs them."""
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
    return [(lang, prob) for lang, prob in probabilities(text[:500]) if lang in candidates]


@functools.lru_cache(maxsize=2048)
def probabilities(text: str) -> tuple[tuple[str, float], ...]:
    """Every language's probability for `text`, most likely first (empty when langdetect cannot
    tell). Cached, and whatever the candidates: one detection costs from a millisecond to tens
    of them (langdetect samples until it converges), so callers that can wait compute it in a
    worker thread first (`prepare`) and the event loop then finds it here."""
    factory = _ensure_detector()
    from langdetect.lang_detect_exception import LangDetectException

    try:
        detector = factory.create()
        detector.append(text)
        ranked = detector.get_probabilities()
    except LangDetectException:
        return ()
    return tuple((r.lang, r.prob) for r in ranked)


def prepare(text: str) -> None:
    """Detect `text`'s language ahead, as `ranked_languages` would (call it in a worker thread:
    it is pure Python, and the event loop keeps running between the interpreter's switches)."""
    script, letters = script_of(text)
    if script == "latin" and letters >= 12:
        probabilities(text[:500])
