"""Semantic FAQ matching: what a question means, not which words it shares.

Vectors come from the embedding service (multilingual e5: a Russian question lands near the
English phrasing of the same topic). Per entry, three similarities are fused:

- the best phrasing (question against each wording, query–query): catches close paraphrases;
- the centroid of all its phrasings in every language: a topic written several ways is a
  region, not a point, and the centroid is what the wordings have in common;
- the answer (query–passage): the answer names things members ask about ("money back") that no
  phrasing has.

**Language centring.** An e5 vector carries its language as much as its topic: on the shop
evaluation set's FAQ, two wordings of the same entry score 0.90 in one language and 0.86 across
languages, and wordings of *different* entries 0.84 in one language. So a Russian question scored
higher on an unrelated Russian wording than on the right English-only entry. Every vector is
therefore compared after subtracting the mean vector of its language (estimated from the FAQ's
own wordings; the question's language is the nearest of those means, no language detector
needed). That removes the shared language and "a question to a shop" component and leaves the
topic: on the dev data top-1 rose from 0.744 to 0.822 (shop dev) and from 0.928 to 0.933
(Steward's own set); questions in a language their entry lacks gained most. In a small FAQ
the means are shrunk towards zero, so a handful of entries is not centred on itself.

Two numbers per entry come out: the centred fusion (`score`), which ranks the entries and must
beat the runner-up by a margin, and the plain cosine fusion (`raw`), which says how close the
question is to the FAQ at all (centred scores of unrelated chat are spread like those of
questions). The bot answers when both clear their thresholds; the lexical matcher sure of the
same entry replaces the margin (two independent signals agreeing). Thresholds were calibrated on
dev data only (`bench/faq_eval.py --calibrate` prints the grid; a wrong answer counts as nine
right ones, the precision target of 0.9), never on the held-out split.

Thresholds alone answered under half of the shop's paraphrases: no pair of them told a right
first place from a wrong one. `AnswerModel` (a logistic regression over the best entry's
`components`, the lexical matcher's opinion and the distance to ordinary chat, `ChatBank`) answers
besides them; `judge` lets either one that is sure answer (trained by bench/faq_train.py).

Pure numpy, no aiogram, no model: vectors are given, so this is unit-tested with made-up ones.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from bot.faq.matcher import Match

WEIGHT_PHRASING = 1.0
WEIGHT_ANSWER = 0.5
WEIGHT_CENTROID = 1.5
# Pseudo-counts of the language means: the FAQ-wide mean is pulled towards zero (no centring)
# by PRIOR_TEXTS, each language's mean towards the FAQ-wide one by LANGUAGE_PRIOR_TEXTS.
PRIOR_TEXTS = 20.0
LANGUAGE_PRIOR_TEXTS = 5.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    answer_at: float = 0.39  # centred score from which the bot answers ...
    margin: float = 0.06  # ... when the best entry beats the runner-up by this much
    raw_at: float = 0.87  # and, in any case, the plain cosine fusion is at least this
    suggest_from: float = 0.20  # "Did you mean…" from here (centred) ...
    suggest_raw_at: float = 0.865  # ... and this close to the FAQ at all
    suggest_within: float = 0.10  # only entries this close to the best are offered


CALIBRATED = Thresholds()
RANKED = 3  # the best entries `decide` weighs: the answer, the runner-up, a third suggestion


# Per entry: (score, raw). The language-centred fusion ranks the entries; the plain cosine
# fusion says how close the question is to the FAQ at all. A plain tuple: one per entry per
# question, built in C by zip.
Similarity = tuple[float, float]


@dataclass(frozen=True, slots=True)
class EntryVectors:
    entry_id: int
    phrasings: Sequence[np.ndarray]  # query vectors, one per phrasing (any language)
    answers: Sequence[np.ndarray]  # passage vectors, one per answer with text
    phrasing_languages: Sequence[str] = ()  # one per phrasing; empty: language unknown
    answer_languages: Sequence[str] = ()  # one per answer; empty: language unknown


class SemanticIndex:
    """Every phrasing, answer and phrasing centroid, plain and language-centred.

    A lookup costs one mat-vec over the phrasings (the largest matrix, kept once: a centred
    phrasing's similarity to the centred question follows from the plain one and a few
    precomputed products with the language means) and two over the centroids and answers."""

    def __init__(self, entries: Iterable[EntryVectors], dim: int) -> None:
        entries = [e for e in entries if len(e.phrasings)]
        self.entry_ids = [e.entry_id for e in entries]
        self.position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        self.dim = dim
        count = len(entries)
        phrasings = _stack([v for e in entries for v in e.phrasings], dim)
        sizes = np.array([len(e.phrasings) for e in entries], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        answers = _stack([v for e in entries for v in e.answers], dim)
        owners = np.array([i for i, e in enumerate(entries) for _v in e.answers], dtype=np.int64)
        self._has_answer = np.zeros(count, dtype=bool)
        self._has_answer[owners] = True
        # answers are grouped by entry, so each entry's best answer is a reduceat
        self._answer_starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])[
            : int(self._has_answer.sum())
        ]
        languages, codes = _codes(
            [lang for e in entries for lang in _languages(e.phrasing_languages, e.phrasings)]
        )
        _answer_languages, answer_codes = _codes(
            [lang for e in entries for lang in _languages(e.answer_languages, e.answers)]
        )
        means = _language_means(phrasings, codes, len(languages), dim)
        answer_means = _language_means(answers, answer_codes, len(_answer_languages), dim)
        self._language_names = languages
        self._means = means
        self._directions = _normalise(means)
        self._phrasings = phrasings
        self._codes = codes
        centred = phrasings.copy()  # one temporary copy: a big FAQ's phrasings are megabytes
        for k in range(len(languages)):
            np.subtract(centred, means[k], out=centred, where=(codes == k)[:, None])
        norms = np.maximum(np.linalg.norm(centred, axis=1), 1e-12)
        self._inverse_norms = (1.0 / norms).astype(np.float32)
        # per question language l, the part of (p - m_p)·(q - m_l) that does not depend on q:
        # m_p·m_l - p·m_l, one row per language
        self._offsets = np.ascontiguousarray(
            ((means @ means.T)[codes] - phrasings @ means.T).T, dtype=np.float32
        )
        centred /= norms[:, None]
        plain_centroids = _centroids(phrasings, self._starts, count, dim)
        centred_centroids = _centroids(centred, self._starts, count, dim)
        centred_answers = _normalise(answers - answer_means[answer_codes])
        self._plain_rest = np.vstack([plain_centroids, answers]).astype(np.float32)
        self._centred_rest = np.vstack([centred_centroids, centred_answers]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.entry_ids)

    def language_of(self, query: np.ndarray) -> str | None:
        """The FAQ language whose mean wording is nearest to the question."""
        if not len(self._language_names):
            return None
        return self._language_names[int(np.argmax(self._directions @ query))]

    def scores(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(centred, plain) fused similarity per entry, in `entry_ids` order."""
        if not self.entry_ids:
            empty = np.zeros(0, dtype=np.float32)
            return empty, empty
        query = np.asarray(query, dtype=np.float32)
        language = int(np.argmax(self._directions @ query))
        mean = self._means[language]
        shifted = query - mean
        shifted_norm = max(float(np.linalg.norm(shifted)), 1e-12)
        plain = self._phrasings @ query
        # (p - m_p)·(q - m) = p·q - m_p·q + (m_p·m - p·m), over |p - m_p| |q - m|
        centred = (plain - (self._means @ query)[self._codes] + self._offsets[language]) * (
            self._inverse_norms / shifted_norm
        )
        count = len(self.entry_ids)
        return (
            self._fuse(centred, self._centred_rest @ (shifted / shifted_norm), count),
            self._fuse(plain, self._plain_rest @ query, count),
        )

    def _fuse(self, phrasing_scores: np.ndarray, rest: np.ndarray, count: int) -> np.ndarray:
        best = np.maximum.reduceat(phrasing_scores, self._starts)
        centroid = rest[:count]
        answer = best.copy()  # an entry without a text answer (a copied message) leans on wordings
        if len(self._answer_starts):
            answer[self._has_answer] = np.maximum.reduceat(rest[count:], self._answer_starts)
        total = WEIGHT_PHRASING + WEIGHT_ANSWER + WEIGHT_CENTROID
        return (
            WEIGHT_PHRASING * best + WEIGHT_ANSWER * answer + WEIGHT_CENTROID * centroid
        ) / total

    def best(
        self, query: np.ndarray, visible: np.ndarray | None = None, count: int = RANKED
    ) -> dict[int, Similarity]:
        """The `count` entries with the highest centred score, among `visible` (a mask in
        `entry_ids` order), best first, ties in index order: all that `decide` reads, without
        a thousand-entry dictionary per question."""
        centred, plain = self.scores(query)
        return self.top(centred, plain, visible, count)

    def top(
        self,
        centred: np.ndarray,
        plain: np.ndarray,
        visible: np.ndarray | None = None,
        count: int = RANKED,
    ) -> dict[int, Similarity]:
        """`best` from scores already computed (`scores`)."""
        allowed = np.arange(len(centred)) if visible is None else np.flatnonzero(visible)
        top = allowed[np.argsort(-centred[allowed], kind="stable")[:count]]
        return {self.entry_ids[i]: (float(centred[i]), float(plain[i])) for i in top.tolist()}

    def components(self, query: np.ndarray, entry_id: int) -> dict[str, float]:
        """What the fused score of one entry is made of, for the learned answer model: its best
        and mean phrasing, centroid and answer, centred and plain, whether it has a wording in
        the question's language, and how many wordings it has."""
        query = np.asarray(query, dtype=np.float32)
        position = self.position[entry_id]
        start = int(self._starts[position])
        end = (
            int(self._starts[position + 1])
            if position + 1 < len(self._starts)
            else len(self._phrasings)
        )
        language = int(np.argmax(self._directions @ query))
        shifted = query - self._means[language]
        shifted_norm = max(float(np.linalg.norm(shifted)), 1e-12)
        plain = self._phrasings[start:end] @ query
        centred = (
            plain
            - (self._means @ query)[self._codes[start:end]]
            + self._offsets[language, start:end]
        ) * (self._inverse_norms[start:end] / shifted_norm)
        count = len(self.entry_ids)
        centroid = float(self._centred_rest[position] @ shifted) / shifted_norm
        plain_centroid = float(self._plain_rest[position] @ query)
        answer, plain_answer = float(centred.max()), float(plain.max())
        if self._has_answer[position]:
            rank = int(np.searchsorted(np.flatnonzero(self._has_answer), position))
            first = int(self._answer_starts[rank])
            last = (
                int(self._answer_starts[rank + 1])
                if rank + 1 < len(self._answer_starts)
                else len(self._plain_rest) - count
            )
            rows = slice(count + first, count + last)
            answer = float((self._centred_rest[rows] @ shifted).max()) / shifted_norm
            plain_answer = float((self._plain_rest[rows] @ query).max())
        return {
            "best": float(centred.max()),
            "mean": float(centred.mean()),
            "centroid": centroid,
            "answer": answer,
            "plain_best": float(plain.max()),
            "plain_centroid": plain_centroid,
            "plain_answer": plain_answer,
            "language_match": float(bool((self._codes[start:end] == language).any())),
            "phrasings": math.log(end - start),
        }

    def score_map(self, query: np.ndarray) -> dict[int, Similarity]:
        centred, plain = self.scores(query)
        pairs = zip(centred.tolist(), plain.tolist(), strict=True)
        return dict(zip(self.entry_ids, pairs, strict=True))


def _languages(languages: Sequence[str], vectors: Sequence[np.ndarray]) -> list[str]:
    return list(languages) if len(languages) == len(vectors) else [""] * len(vectors)


def _codes(languages: list[str]) -> tuple[list[str], np.ndarray]:
    names = sorted(set(languages))
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([index[lang] for lang in languages], dtype=np.int64)


def _language_means(vectors: np.ndarray, codes: np.ndarray, count: int, dim: int) -> np.ndarray:
    """Each language's mean vector, shrunk towards the FAQ-wide mean, itself shrunk towards
    zero: a small FAQ is hardly centred, a language with few wordings leans on the others."""
    if not count:
        return np.zeros((0, dim), dtype=np.float32)
    overall = vectors.sum(axis=0, dtype=np.float64) / (len(vectors) + PRIOR_TEXTS)
    sums = np.stack([vectors[codes == k].sum(axis=0, dtype=np.float64) for k in range(count)])
    counts = np.bincount(codes, minlength=count).astype(np.float64)[:, None]
    means: np.ndarray = (sums + LANGUAGE_PRIOR_TEXTS * overall) / (counts + LANGUAGE_PRIOR_TEXTS)
    return means.astype(np.float32)


def _centroids(phrasings: np.ndarray, starts: np.ndarray, count: int, dim: int) -> np.ndarray:
    if not count:
        return np.zeros((0, dim), dtype=np.float32)
    return _normalise(np.add.reduceat(phrasings, starts, axis=0))


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    normalised: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return normalised.astype(np.float32, copy=False)


def _stack(vectors: list[np.ndarray], dim: int) -> np.ndarray:
    if not vectors:
        return np.zeros((0, dim), dtype=np.float32)
    return np.vstack(vectors).astype(np.float32, copy=False)


def _by_score(item: tuple[int, Similarity]) -> float:
    return item[1][0]


@dataclass(frozen=True, slots=True)
class HybridDecision:
    kind: str  # answer | suggest | none
    match: Match | None
    suggestions: list[int]


def decide(
    semantic: Mapping[int, Similarity],
    lexical_kind: str,
    lexical_best: int | None,
    limits: Thresholds = CALIBRATED,
) -> HybridDecision:
    """Answer, suggest or stay silent from the entries' similarities (already limited to what
    the chat may see) and what the lexical matcher alone would do."""
    ranked = heapq.nlargest(RANKED, semantic.items(), key=_by_score)
    if not ranked:
        return HybridDecision("none", None, [])
    best, (score, raw) = ranked[0]
    runner_id, (runner, _raw) = ranked[1] if len(ranked) > 1 else (None, (0.0, 0.0))
    match = Match(best, score, runner, runner_id)
    clear = score >= limits.answer_at and score - runner >= limits.margin
    agreed = lexical_kind == "answer" and lexical_best == best
    if raw >= limits.raw_at and (clear or agreed):
        kind = "answer"
    elif score >= limits.suggest_from and raw >= limits.suggest_raw_at:
        kind = "suggest"
    else:
        kind = "none"
    suggestions = [
        entry_id
        for entry_id, (value, value_raw) in ranked
        if value >= limits.suggest_from
        and value_raw >= limits.suggest_raw_at
        and value >= score - limits.suggest_within
    ]
    return HybridDecision(kind, match, suggestions)


class ChatBank:
    """Vectors of ordinary member chat (the spam filter's shipped ham samples, ~2,900 lines in
    en/ru/nl, embedded once by scripts/embed_spam_samples.py). The plain cosine to the FAQ's
    phrasings says how close a line is to the FAQ, but chat about the same things ("who else
    is waiting for the sale?") is close too; how much closer the line is to the FAQ than to
    the nearest known chat is what separates the two. On the dev sets this one feature let
    the answer model answer a fifth more questions at the same false-answer rate."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.vectors)

    def nearest(self, query: np.ndarray, count: int = 3) -> np.ndarray:
        """The `count` highest cosines, best first (zeros for an empty bank)."""
        if not len(self.vectors):
            return np.zeros(count, dtype=np.float32)
        similarities = self.vectors @ np.asarray(query, dtype=np.float32)
        top = (
            np.partition(similarities, -count)[-count:]
            if len(similarities) > count
            else similarities
        )
        return np.sort(top)[::-1]


ANSWER_MODEL_FILE = "answer_model.json"
# Temperature of the softmax over the entries' fused scores (one of the model's features).
SOFTMAX_TEMPERATURE = 0.02


@dataclass(frozen=True, slots=True)
class AnswerModel:
    """Answer or not: a logistic regression over what one question's best entry looks like.

    Why learned: on the dev sets no pair of thresholds on the fused score and the margin
    separated a right first place from a wrong one (answering more always meant answering
    wrongly), while a dozen weak signals together do: the fused and plain scores and their
    margins, the best against the mean wording, the answer's score, the lexical matcher's
    opinion, the language match, the question's length, and the distance to ordinary chat
    (`ChatBank`). Trained by `bench/faq_train.py` on the dev splits of several communities
    (never a held-out one) and shipped as `data/answer_model.json`; deterministic, a dot
    product per question. It is tied to the embedding model it was trained with: another model
    (an `EMBEDDINGS_URL` server) falls back to the calibrated thresholds."""

    model_id: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    answer_at: float  # probability from which the bot answers
    # Weights of their own for a best entry with a single wording: a young FAQ's entries (one
    # `/faq_add` each) have no centroid apart from the wording, no translation, and similarities
    # a wording lower than an entry of six; weights learned where entries have several read
    # all of that as doubt and answered a third of such questions they now answer.
    one_wording: AnswerModel | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnswerModel:
        one = data.get("one_wording")
        return cls(
            model_id=str(data["model_id"]),
            features=tuple(data["features"]),
            mean=np.array(data["mean"], dtype=np.float64),
            scale=np.array(data["scale"], dtype=np.float64),
            weights=np.array(data["weights"], dtype=np.float64),
            bias=float(data["bias"]),
            answer_at=float(data["answer_at"]),
            one_wording=(
                cls.from_json({"model_id": data["model_id"], "features": data["features"], **one})
                if one is not None
                else None
            ),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model_id": self.model_id,
            "features": list(self.features),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "weights": [round(float(v), 6) for v in self.weights],
            "bias": round(self.bias, 6),
            "answer_at": round(self.answer_at, 4),
        }
        if self.one_wording is not None:
            one = self.one_wording.to_json()
            del one["model_id"], one["features"]
            data["one_wording"] = one
        return data

    def for_entry(self, values: Mapping[str, float]) -> AnswerModel:
        """The weights that judge this best entry: its own for a single wording, if shipped."""
        if self.one_wording is not None and values["phrasings"] < 1e-9:
            return self.one_wording
        return self

    @classmethod
    def shipped(cls) -> AnswerModel | None:
        """The model in bot/faq/data, or None when it is missing or unreadable."""
        try:
            text = (resources.files("bot.faq") / "data" / ANSWER_MODEL_FILE).read_text("utf-8")
            return cls.from_json(json.loads(text))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def probability(self, values: Mapping[str, float]) -> float:
        x = np.array([values[name] for name in self.features], dtype=np.float64)
        z = float(((x - self.mean) / self.scale) @ self.weights) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True, slots=True)
class LexicalOpinion:
    """What the lexical matcher thinks of the semantic best entry, as the answer model reads it:
    its score for that entry, that score's margin over every other entry the chat may see, and
    whether that entry is the lexical matcher's own first place (0 where nothing is shared)."""

    own: float
    margin: float
    agrees: bool

    @classmethod
    def of_mapping(cls, best: int, lexical: Mapping[int, float]) -> LexicalOpinion:
        """From the lexical score per visible entry sharing a feature (best first)."""
        own = lexical.get(best, 0.0)
        others = max((s for e, s in lexical.items() if e != best), default=0.0)
        top = max(lexical.items(), key=lambda item: item[1], default=(None, 0.0))
        return cls(own, own - others, top[0] == best and own > 0)

    @classmethod
    def of_scores(
        cls, best: int, entry_ids: Sequence[int], scores: np.ndarray, visible: np.ndarray
    ) -> LexicalOpinion:
        """From the lexical index's scores of all its entries (`FaqIndex.entry_scores`) and the
        chat's `visible` mask, in its `entry_ids` order: the same numbers as `of_mapping`
        without a dictionary of every entry sharing a letter triple with the question."""
        shared = np.where(visible & (scores > 0), scores, 0.0)
        found = np.flatnonzero(np.asarray(entry_ids) == best)
        position = int(found[0]) if len(found) else -1
        own = float(shared[position]) if position >= 0 else 0.0
        # the lexical first place: the highest score, the first in index order among equals
        agrees = own > 0 and int(np.argmax(shared)) == position
        if position >= 0:
            shared[position] = 0.0  # a copy (np.where): the others
        others = float(shared.max()) if len(shared) else 0.0
        return cls(own, own - others, agrees)


def answer_features(
    index: SemanticIndex,
    query: np.ndarray,
    semantic: Mapping[int, Similarity],
    lexical: Mapping[int, float],
    chat: np.ndarray,
    question: str,
) -> tuple[int, dict[str, float]] | None:
    """The best entry (by fused score, among `semantic`, the entries the chat may see) and what
    the answer model reads about it. `lexical`: the lexical matcher's score per visible entry;
    `chat`: the highest cosines to ordinary chat, best first (`ChatBank.nearest`)."""
    ranked = heapq.nlargest(2, semantic.items(), key=_by_score)
    if not ranked:
        return None
    best = ranked[0][0]
    scores = np.fromiter((s for s, _r in semantic.values()), dtype=np.float64)
    opinion = LexicalOpinion.of_mapping(best, lexical)
    return best, features(index, query, ranked, scores, opinion, chat, question)


def features(
    index: SemanticIndex,
    query: np.ndarray,
    ranked: Sequence[tuple[int, Similarity]],
    scores: np.ndarray,
    lexical: LexicalOpinion,
    chat: np.ndarray,
    question: str,
) -> dict[str, float]:
    """What the answer model reads about the first of `ranked` (the visible entries best first,
    at least the first two when there are two), given the centred fused score of every visible
    entry (`scores`, for the softmax), the lexical matcher's opinion and the chat cosines."""
    best, (score, raw) = ranked[0]
    runner, runner_raw = ranked[1][1] if len(ranked) > 1 else (0.0, 0.0)
    softmax = 1.0 / float(np.exp((scores - score) / SOFTMAX_TEMPERATURE).sum())
    parts = index.components(query, best)
    return {
        "score": score,
        "margin": score - runner,
        "raw": raw,
        "raw_margin": raw - runner_raw,
        "best": parts["best"],
        "mean": parts["mean"],
        "centroid": parts["centroid"],
        "answer": parts["answer"],
        "plain_best": parts["plain_best"],
        "plain_centroid": parts["plain_centroid"],
        "lexical": lexical.own,
        "lexical_margin": lexical.margin,
        "lexical_agrees": float(lexical.agrees),
        "language_match": parts["language_match"],
        "phrasings": parts["phrasings"],
        "words": math.log(max(1, len(question.split()))),
        "softmax": softmax,
        "chat": float(chat[0]),
        "chat_gap": parts["plain_best"] - float(chat[0]),
        "chat_top3": float(np.mean(chat)),
    }


def judge(
    semantic: Mapping[int, Similarity],
    lexical_kind: str,
    lexical_best: int | None,
    probability: float,
    answer_at: float,
    limits: Thresholds = CALIBRATED,
) -> HybridDecision:
    """The calibrated thresholds (`decide`) or the learned model: either one sure of the first
    place answers. Why both: on the dev sets each is sure of questions the other is not (the
    thresholds of near-copies of a wording, the model of paraphrases whose many weak signals
    agree), and each alone answers no more at the same precision. "Did you mean…" keeps the
    calibrated band."""
    base = decide(semantic, lexical_kind, lexical_best, limits)
    if base.match is not None and base.kind != "answer" and probability >= answer_at:
        return HybridDecision("answer", base.match, base.suggestions)
    return base
