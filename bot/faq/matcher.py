"""Offline FAQ matching that finds paraphrases, not only shared keywords.

Every phrasing and every question becomes a sparse TF-IDF vector of two kinds of features:
word stems (the first five letters, a crude stemmer that works for en/ru/nl alike) and
character 4-grams inside words, which survive inflection, typos and compound words. The score of
an entry is the best cosine similarity among its phrasings. The bot answers only when that score
clears `threshold` and beats the best *other* entry by `margin`; just below, it may offer
"Did you mean…"; otherwise it stays silent. An inverted index keeps a lookup proportional to the
phrasings that share a feature with the question, not to the size of the FAQ.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import numpy as np

from bot.moderation.spam import fold

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOPWORDS = frozenset(
    """
a an the is are was were be been am do does did to of in on at for with and or but if it its
this that these those i you he she we they me my your our their what how where when why who
which can could would should will shall may might must there here about from by as not no so
please hi hello hey anyone someone does и в во не на я с со как а то все она так его но да ты
к у же вы за бы по только ее мне было вот от меня еще нет о из ему теперь когда даже ну ли
если уже или ни быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может
они тут где есть надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под
будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы
нее сейчас были куда зачем всех никогда можно при наконец два об другой хоть после над больше
тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед
иногда лучше чуть том нельзя такой им более всегда конечно всю между подскажите скажите
кто-нибудь привет здравствуйте пожалуйста de het een en van ik te dat die in is niet er zijn
op aan met als voor had maar om hem dan zou of wat mijn men dit zo door over ze zich bij ook
tot je mij uit der daar haar naar heb hoe heeft hebben deze u want nog zal me zij nu ge geen
omdat iets worden toch al waren veel meer doen toen moet ben zonder kan hun dus alles onder ja
eens hier wie werd altijd doch wordt wezen kunnen ons zelf tegen na reeds wil kon niets uw
iemand geweest andere hallo hoi alsjeblieft waar wanneer waarom welke
""".split()
)


def normalize(text: str) -> str:
    return fold(unicodedata.normalize("NFKC", text)).replace("ё", "е")


def features(text: str) -> Counter[str]:
    words = [w for w in _WORD.findall(normalize(text)) if not w.isdigit()]
    found: Counter[str] = Counter()
    for word in words:
        if word in STOPWORDS or len(word) < 2:
            continue
        found["w:" + word[:5]] += 1
        padded = f"<{word}>"
        for i in range(len(padded) - 3):
            found["g:" + padded[i : i + 4]] += 1
    return found


FORMAT = 1  # of `FaqIndex.to_bytes`; a change of features or weighting bumps it


@dataclass(frozen=True, slots=True)
class Match:
    entry_id: int
    score: float
    runner_up: float  # best score of any other entry
    runner_up_id: int | None = None


class IndexParams(TypedDict, total=False):
    """The tunable thresholds of a FaqIndex (its fields of the same names)."""

    threshold: float
    margin: float
    suggest_from: float


@dataclass
class FaqIndex:
    """TF-IDF postings in flat numpy arrays (CSR by feature): a lookup adds up the postings of
    the question's features with one `bincount`, and the index of a large FAQ is a few arrays
    instead of a million small Python objects (memory, garbage-collector pauses), which can be
    stored as bytes and loaded back without re-reading every phrasing (`to_bytes`)."""

    threshold: float = 0.42
    margin: float = 0.06
    suggest_from: float = 0.30
    _entry_ids: list[int] = field(default_factory=list)  # distinct entries, first-seen order
    _entry_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _documents: int = 0
    _vocabulary: dict[str, int] = field(default_factory=dict)  # feature -> column
    _idf: list[float] = field(default_factory=list)  # per column
    _indptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    _positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _weights: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    @classmethod
    def build(cls, phrasings: Iterable[tuple[int, str]], **params: Unpack[IndexParams]) -> FaqIndex:
        index = cls(**params)
        raw = [(entry_id, features(text)) for entry_id, text in phrasings]
        # an entry's documents side by side, so that its best score is one reduceat
        order: dict[int, list[int]] = {}
        for position, (entry_id, _feats) in enumerate(raw):
            order.setdefault(entry_id, []).append(position)
        raw = [raw[p] for positions in order.values() for p in positions]
        index._entry_ids = list(order)
        sizes = np.array([len(p) for p in order.values()], dtype=np.int64)
        index._entry_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        documents = len(raw) or 1
        index._documents = len(raw)
        df: Counter[str] = Counter()
        for _, feats in raw:
            df.update(feats.keys())
        vocabulary = {f: column for column, f in enumerate(df)}
        idf = [math.log((1 + documents) / (1 + n)) + 1 for n in df.values()]
        index._vocabulary, index._idf = vocabulary, idf
        # flat (document, column, count) triples in each document's feature order
        docs: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        for position, (_entry_id, feats) in enumerate(raw):
            docs.extend([position] * len(feats))
            columns.extend(vocabulary[f] for f in feats)
            counts.extend(feats.values())
        doc = np.array(docs, dtype=np.int64)
        column = np.array(columns, dtype=np.int64)
        count = np.array(counts, dtype=np.int64)
        # math.log, not np.log: the same floats as a lookup's _weigh, to the last bit
        tf = np.array([0.0] + [1 + math.log(n) for n in range(1, int(count.max(initial=0)) + 1)])
        weight = tf[count] * np.array(idf, dtype=np.float64)[column]
        keep = weight > 0
        doc, column, weight = doc[keep], column[keep], weight[keep]
        norms = np.sqrt(np.bincount(doc, weights=weight * weight, minlength=len(raw)))
        norms[norms == 0] = 1.0
        weight = weight / norms[doc]
        by_column = np.argsort(column, kind="stable")  # postings keep document order
        index._positions = doc[by_column].astype(np.int32)
        index._weights = weight[by_column]
        index._indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(column, minlength=len(vocabulary)))]
        ).astype(np.int64)
        return index

    def _weigh(self, feats: Counter[str]) -> dict[int, float]:
        idf, vocabulary = self._idf, self._vocabulary
        vector = {}
        for f, n in feats.items():
            column = vocabulary.get(f)
            if column is not None and (w := (1 + math.log(n)) * idf[column]) > 0:
                vector[column] = w
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        return {column: w / norm for column, w in vector.items()}

    def __len__(self) -> int:
        return self._documents

    def entry_scores(self, question: str) -> np.ndarray:
        """Best cosine similarity per entry (in `entry_ids` order); 0 where nothing is shared."""
        query = self._weigh(features(question))
        if not query or not self._documents:
            return np.zeros(len(self._entry_ids), dtype=np.float64)
        indptr = self._indptr
        slices = [slice(indptr[c], indptr[c + 1]) for c in query]
        positions = np.concatenate([self._positions[s] for s in slices])
        products = np.concatenate(
            [w * self._weights[s] for s, w in zip(slices, query.values(), strict=True)]
        )
        per_document = np.bincount(positions, weights=products, minlength=self._documents)
        return np.maximum.reduceat(per_document, self._entry_starts)

    def scores(self, question: str) -> dict[int, float]:
        """Best cosine similarity per entry, for entries sharing any feature."""
        best = self.entry_scores(question)
        return {self._entry_ids[i]: float(best[i]) for i in np.flatnonzero(best > 0)}

    @property
    def entry_ids(self) -> list[int]:
        """The indexed entries, in the order of a `visible` mask."""
        return self._entry_ids

    def ranked(
        self, question: str, limit: int | None = 3, visible: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Entries sharing a feature with the question, best first (ties in index order); with
        `visible` (a mask in `entry_ids` order) only those."""
        return self.rank(self.entry_scores(question), limit, visible)

    def rank(
        self, scores: np.ndarray, limit: int | None = 3, visible: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """`ranked` from scores already computed (`entry_scores`)."""
        found = np.flatnonzero(scores > 0 if visible is None else (scores > 0) & visible)
        found = found[np.argsort(-scores[found], kind="stable")]
        if limit is not None:
            found = found[:limit]
        return [(self._entry_ids[i], float(scores[i])) for i in found]

    def to_bytes(self) -> bytes:
        """The built index, to be stored and loaded back by `from_bytes` at the next start."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format=np.array([FORMAT]),
            params=np.array([self.threshold, self.margin, self.suggest_from]),
            entry_ids=np.array(self._entry_ids, dtype=np.int64),
            entry_starts=self._entry_starts,
            documents=np.array([self._documents]),
            vocabulary=np.array(["\x00".join(self._vocabulary)]),
            idf=np.array(self._idf, dtype=np.float64),
            indptr=self._indptr,
            positions=self._positions,
            weights=self._weights,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FaqIndex | None:
        """An index stored by `to_bytes`, or None when it is unreadable or of another format."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                if int(stored["format"][0]) != FORMAT:
                    return None
                threshold, margin, suggest_from = stored["params"].tolist()
                index = cls(threshold=threshold, margin=margin, suggest_from=suggest_from)
                index._entry_ids = stored["entry_ids"].tolist()
                index._entry_starts = stored["entry_starts"]
                index._documents = int(stored["documents"][0])
                words = str(stored["vocabulary"][0])
                index._vocabulary = {
                    f: column for column, f in enumerate(words.split("\x00") if words else [])
                }
                index._idf = stored["idf"].tolist()
                index._indptr = stored["indptr"]
                index._positions = stored["positions"]
                index._weights = stored["weights"]
        except (OSError, ValueError, KeyError, IndexError):
            return None
        return index

    def best(self, question: str) -> Match | None:
        top = self.ranked(question, 2)
        if not top:
            return None
        runner_up = top[1] if len(top) > 1 else (None, 0.0)
        return Match(top[0][0], top[0][1], runner_up[1], runner_up[0])

    def decide(self, question: str) -> tuple[str, Match | None]:
        """('answer' | 'suggest' | 'none', best match)."""
        match = self.best(question)
        if match is None:
            return "none", None
        return self.classify(match), match

    def classify(self, match: Match) -> str:
        if match.score >= self.threshold and match.score - match.runner_up >= self.margin:
            return "answer"
        if match.score >= self.suggest_from:
            return "suggest"
        return "none"
