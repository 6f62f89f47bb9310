"""Semantic FAQ matching: what a question means, not which words it shares.

Vectors come from the embedding service (multilingual e5: a Russian question lands near the
English phrasing of the same topic). Per entry, three similarities are fused:

- the best phrasing (question against each wording, query–query): catches close paraphrases;
- the centroid of all its phrasings in every language: a topic written several ways is a
  region, not a point, and the centroid is what the wordings have in common; on the shop
  evaluation set's dev split it lifted top-1 from 0.66 to 0.76, more than anything else tried;
- the answer (query–passage): the answer names things members ask about ("money back") that no
  phrasing has.

e5 similarities sit in a narrow band (unrelated short texts still score about 0.8), so the
thresholds are fine-grained; they were calibrated on the dev data only (`bench/faq_eval.py
--calibrate` prints the grid): bench/data/faq and the dev split of bench/data/faq_shop, never the
held-out split. The lexical matcher is fused at the decision: when it is sure of the same entry,
a smaller margin is enough (two independent signals agreeing).

Pure numpy, no aiogram, no model: vectors are given, so this is unit-tested with made-up ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.faq.matcher import Match

WEIGHT_PHRASING = 1.0
WEIGHT_ANSWER = 0.5
WEIGHT_CENTROID = 1.5


@dataclass(frozen=True, slots=True)
class Thresholds:
    answer_at: float = 0.8725  # fused score from which the bot answers ...
    margin: float = 0.0125  # ... when the best entry beats the runner-up by this much
    agreed_at: float = 0.87  # or from here, when the lexical matcher answers the same entry
    suggest_from: float = 0.86  # "Did you mean…" from here
    suggest_within: float = 0.03  # only entries this close to the best are offered


CALIBRATED = Thresholds()


@dataclass(frozen=True, slots=True)
class EntryVectors:
    entry_id: int
    phrasings: Sequence[np.ndarray]  # query vectors, one per phrasing (any language)
    answers: Sequence[np.ndarray]  # passage vectors, one per answer with text


class SemanticIndex:
    """Matrices of every phrasing, answer and phrasing centroid; a lookup is three mat-vecs."""

    def __init__(self, entries: Iterable[EntryVectors], dim: int) -> None:
        entries = [e for e in entries if len(e.phrasings)]
        self.entry_ids = [e.entry_id for e in entries]
        self.position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        self.dim = dim
        count = len(entries)
        self._phrasings = _stack([v for e in entries for v in e.phrasings], dim)
        sizes = np.array([len(e.phrasings) for e in entries], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        centroids = np.add.reduceat(self._phrasings, self._starts, axis=0) if count else None
        if centroids is None:
            centroids = np.zeros((0, dim), dtype=np.float32)
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self._centroids = (centroids / np.maximum(norms, 1e-12)).astype(np.float32)
        self._answers = _stack([v for e in entries for v in e.answers], dim)
        self._answer_owner = np.array(
            [i for i, e in enumerate(entries) for _v in e.answers], dtype=np.int64
        )
        self._has_answer = np.zeros(count, dtype=bool)
        self._has_answer[self._answer_owner] = True

    def __len__(self) -> int:
        return len(self.entry_ids)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Fused similarity per entry, in `entry_ids` order."""
        if not self.entry_ids:
            return np.zeros(0, dtype=np.float32)
        best = np.maximum.reduceat(self._phrasings @ query, self._starts)
        centroid = self._centroids @ query
        answer = best.copy()  # an entry without a text answer (a copied message) leans on wordings
        if len(self._answers):
            answer[self._has_answer] = -1.0
            np.maximum.at(answer, self._answer_owner, self._answers @ query)
        total = WEIGHT_PHRASING + WEIGHT_ANSWER + WEIGHT_CENTROID
        return (
            WEIGHT_PHRASING * best + WEIGHT_ANSWER * answer + WEIGHT_CENTROID * centroid
        ) / total

    def score_map(self, query: np.ndarray) -> dict[int, float]:
        return dict(zip(self.entry_ids, self.scores(query).tolist(), strict=True))


def _stack(vectors: list[np.ndarray], dim: int) -> np.ndarray:
    if not vectors:
        return np.zeros((0, dim), dtype=np.float32)
    return np.vstack(vectors).astype(np.float32, copy=False)


@dataclass(frozen=True, slots=True)
class HybridDecision:
    kind: str  # answer | suggest | none
    match: Match | None
    suggestions: list[int]


def decide(
    semantic: Mapping[int, float],
    lexical_kind: str,
    lexical_best: int | None,
    limits: Thresholds = CALIBRATED,
) -> HybridDecision:
    """Answer, suggest or stay silent from the entries' fused scores (already limited to what the
    chat may see) and what the lexical matcher alone would do."""
    ranked = sorted(semantic.items(), key=lambda kv: -kv[1])
    if not ranked:
        return HybridDecision("none", None, [])
    (best, score), runner = ranked[0], (ranked[1] if len(ranked) > 1 else (None, 0.0))
    match = Match(best, score, runner[1], runner[0])
    agreed = lexical_kind == "answer" and lexical_best == best and score >= limits.agreed_at
    if (score >= limits.answer_at and score - runner[1] >= limits.margin) or agreed:
        kind = "answer"
    elif score >= limits.suggest_from:
        kind = "suggest"
    else:
        kind = "none"
    suggestions = [
        entry_id
        for entry_id, value in ranked[:3]
        if value >= limits.suggest_from and value >= score - limits.suggest_within
    ]
    return HybridDecision(kind, match, suggestions)
