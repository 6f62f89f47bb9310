"""Is a message clearly written in a language the chat does not speak?

Unicode scripts decide the easy cases without a model (Cyrillic text in an English/Dutch chat);
langdetect, seeded for determinism and limited to plausible languages, decides among Latin-script
languages. Short texts are never judged: fewer than 20 letters is not enough evidence.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Protocol

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


def _ngram_code(word: str) -> int:
    """One integer per n-gram of up to three characters: each code point plus one (so that a
    shorter n-gram never equals a longer one) in 21 bits."""
    code = 0
    for char in word:
        code = code << 21 | (ord(char) + 1)
    return code


class _PackedProfiles:
    """langdetect's 55 profiles in four arrays: every n-gram's code, sorted, and where its
    (language index, probability) pairs start.

    langdetect keeps, per n-gram, a list of 55 probabilities of which about two are not zero:
    some 90,000 lists, 60 MB of a running bot. Even a dict of sparse tuples took 21 MB in some
    300,000 small objects, and 10 MB more of heap the profiles' parsing left fragmented around
    them; these arrays take 3 MB.
    """

    def __init__(self, directory: str) -> None:
        import json
        import os

        import numpy as np

        self.languages: list[str] = []
        codes, indexes, probabilities = [], [], []
        # os.listdir's order, as langdetect's own loader: a language's index is its place in it
        for filename in os.listdir(directory):
            path = os.path.join(directory, filename)
            if filename.startswith(".") or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as file:
                profile = json.load(file)
            frequencies: dict[str, int] = profile["freq"]
            words = [word for word in frequencies if 1 <= len(word) <= 3]
            totals = np.array([0.0, *profile["n_words"]])
            counts = np.fromiter((frequencies[w] for w in words), np.float64, len(words))
            lengths = np.fromiter(map(len, words), np.int64, len(words))
            codes.append(np.fromiter(map(_ngram_code, words), np.int64, len(words)))
            # freq / n_words in float64, as langdetect's 1.0 * freq / n_words: the same bits
            probabilities.append(counts / totals[lengths])
            indexes.append(np.full(len(words), len(self.languages), np.uint8))
            self.languages.append(profile["name"])
        all_codes = np.concatenate(codes)
        all_indexes = np.concatenate(indexes)
        order = np.lexsort((all_indexes, all_codes))
        sorted_codes = all_codes[order]
        self.codes, starts = np.unique(sorted_codes, return_index=True)
        self.starts = np.append(starts, len(sorted_codes)).astype(np.int64)
        self.indexes = all_indexes[order]
        self.probabilities = np.concatenate(probabilities)[order]

    def lookup(self, words: Sequence[str]) -> dict[str, tuple[tuple[int, ...], tuple[float, ...]]]:
        """The pairs of each of `words` that a profile knows; one array search for them all."""
        import itertools

        import numpy as np

        distinct = list(dict.fromkeys(words))
        if not distinct:
            return {}
        wanted = np.fromiter(map(_ngram_code, distinct), np.int64, len(distinct))
        at = np.minimum(np.searchsorted(self.codes, wanted), len(self.codes) - 1)
        known = self.codes[at] == wanted
        rows = at[known]
        starts, ends = self.starts[rows], self.starts[rows + 1]
        sizes = ends - starts
        # every pair of every known word in one gather, then cut into words in Python
        positions = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
        indexes = self.indexes[positions].tolist()
        chances = self.probabilities[positions].tolist()
        found = {}
        cut = 0
        for word, size in zip(
            itertools.compress(distinct, known.tolist()), sizes.tolist(), strict=True
        ):
            found[word] = (tuple(indexes[cut : cut + size]), tuple(chances[cut : cut + size]))
            cut += size
        return found


def _compact_factory() -> _Factory:
    """A langdetect factory over the packed profiles: the same probabilities to the last bit.

    The detector looks every n-gram of a text up once, in one array search, and multiplies
    the languages a profile does not list by the smoothing weight alone, exactly what
    langdetect's `weight + 0.0` gives.
    """
    import operator

    from langdetect.detector import Detector
    from langdetect.detector_factory import PROFILES_DIRECTORY
    from langdetect.utils.ngram import NGram

    profiles = _PackedProfiles(PROFILES_DIRECTORY)

    # langdetect is untyped (Any): subclassing it is the point here.
    class CompactDetector(Detector):  # type: ignore[misc]
        def _extract_ngrams(self) -> list[str]:
            # langdetect's own loop, with the profile lookups gathered into one
            candidates = []
            ngram = NGram()
            for char in self.text:
                ngram.add_char(char)
                if ngram.capitalword:
                    continue
                for n in (1, 2, 3):
                    if len(ngram.grams) < n:
                        break
                    word = ngram.grams[-n:]
                    if word and word != " ":
                        candidates.append(word)
            self.pairs = profiles.lookup(candidates)
            return [word for word in candidates if word in self.pairs]

        def _update_lang_prob(self, prob: list[float], word: str | None, alpha: float) -> bool:
            pairs = self.pairs.get(word) if word is not None else None
            if pairs is None:
                return False
            weight = alpha / self.BASE_FREQ
            factors = [weight] * len(prob)
            for index, probability in zip(*pairs, strict=True):
                factors[index] = weight + probability
            prob[:] = map(operator.mul, prob, factors)
            return True

    class CompactFactory:
        seed = 0  # same text, same answer
        word_lang_prob_map = profiles  # what langdetect's Detector reads at creation
        langlist = profiles.languages

        def create(self) -> CompactDetector:
            return CompactDetector(self)

    return CompactFactory()


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
