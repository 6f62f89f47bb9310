"""Complaint detection: the spam classifier's embedding model, trained on complaint examples.

Why the same model: a complaint, like spam, is recognised by what a message is about rather
than by its words ("three weeks and still no parcel" has no negative word at all). The pieces
are shared with `bot.moderation`: `SemanticSpamModel` is a plain binary model over vectors
(logistic regression by Newton's method, nearest neighbours, a memory of staff lessons) and
`shipped_vectors` reads precomputed vectors. The shipped examples live in `data/complaint_*.txt`
(complaints) and `data/other_*.txt` (questions, praise, chat on the same topics), one per line;
their vectors come precomputed in `data/complaint_vectors.npz` (scripts/embed_complaint_samples.py).

A message is a complaint when the regression's probability, moved by the neighbour margin, is
at least `THRESHOLD`; a staff lesson about nearly the same text decides outright.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from bot.moderation.semantic_spam import SemanticEvidence, SemanticSpamModel
from bot.moderation.understanding import shipped_vectors
from bot.semantic import EmbeddingService, Kind, ModelUnavailable, text_hash

logger = logging.getLogger(__name__)

VECTORS_FILE = "complaint_vectors.npz"
LANGUAGES = ("en", "ru", "nl")
# Chosen by 5-fold cross-validation on the shipped examples (bench/complaint_eval.py --cv).
L2 = 0.1
THRESHOLD = 0.6
NEIGHBOUR_WEIGHT = 25.0  # log-odds added per unit of neighbour margin
# The neighbour margin (a scan of every training vector, ~1 ms) is computed only when it can
# change the decision: it moves the log-odds by at most about NEIGHBOUR_WEIGHT * 0.15.
NEIGHBOUR_REACH = 0.15


def read_examples(kind: str, languages: Iterable[str] = LANGUAGES) -> dict[str, list[str]]:
    """Shipped examples by language: kind "complaint" or "other"; lines starting with # skipped."""
    examples: dict[str, list[str]] = {}
    folder = resources.files("bot.reputation") / "data"
    for language in languages:
        source = folder / f"{kind}_{language}.txt"
        if not source.is_file():
            examples[language] = []
            continue
        lines = source.read_text(encoding="utf-8").splitlines()
        examples[language] = [
            line.strip() for line in lines if line.strip() and not line.startswith("#")
        ]
    return examples


def shipped_examples() -> tuple[list[str], list[str]]:
    complaints = [t for texts in read_examples("complaint").values() for t in texts]
    other = [t for texts in read_examples("other").values() for t in texts]
    return complaints, other


def _logit(p: float) -> float:
    p = min(1 - 1e-9, max(1e-9, p))
    return float(np.log(p / (1 - p)))


def needs_neighbours(
    probability: float, threshold: float = THRESHOLD, neighbour_weight: float = NEIGHBOUR_WEIGHT
) -> bool:
    """Whether the neighbours could move this probability across the threshold."""
    reach = neighbour_weight * NEIGHBOUR_REACH
    return reach > 0 and abs(_logit(probability) - _logit(threshold)) < reach


@dataclass(frozen=True, slots=True)
class ComplaintVerdict:
    is_complaint: bool
    probability: float
    lesson: bool | None = None


def decide(
    evidence: SemanticEvidence,
    threshold: float = THRESHOLD,
    neighbour_weight: float = NEIGHBOUR_WEIGHT,
) -> ComplaintVerdict:
    if evidence.lesson is not None:
        return ComplaintVerdict(evidence.lesson, evidence.probability, evidence.lesson)
    logit = _logit(evidence.probability) + neighbour_weight * evidence.neighbours
    probability = 1.0 / (1.0 + float(np.exp(-logit)))
    return ComplaintVerdict(probability >= threshold, probability)


def evidence_for(model: SemanticSpamModel, vector: np.ndarray) -> SemanticEvidence:
    """The model's evidence, with the neighbours only where they matter (see NEIGHBOUR_REACH)."""
    probability = float(model.regression.probability(vector[None, :])[0])
    neighbours = model.neighbour_margin(vector) if needs_neighbours(probability) else 0.0
    return SemanticEvidence(probability, neighbours, model.lesson_for(vector))


class ComplaintClassifier:
    """Trained at start (shipped examples + staff lessons), taught at once by staff."""

    def __init__(self, embeddings: EmbeddingService | None) -> None:
        self.embeddings = embeddings
        self.model = SemanticSpamModel(l2=L2)
        self.ready = False
        self._fit_lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.embeddings is not None

    async def train(
        self,
        complaints: Sequence[str],
        other: Sequence[str],
        lessons: Iterable[tuple[str, bool]] = (),
    ) -> None:
        if self.embeddings is None:
            return
        started = time.monotonic()
        known = shipped_vectors(self.embeddings.model_id, "bot.reputation", VECTORS_FILE)
        for text in (*complaints, *other):
            vector = known.get(text_hash(EmbeddingService.prepare(text)))
            if vector is not None:
                self.embeddings.remember(text, Kind.QUERY, vector)
        computed_before = self.embeddings.computed
        lesson_list = list(lessons)
        try:
            positive = await self.embeddings.embed(list(complaints), Kind.QUERY)
            negative = await self.embeddings.embed(list(other), Kind.QUERY)
            taught = await self.embeddings.embed([t for t, _ in lesson_list], Kind.QUERY)
        except ModelUnavailable as exc:
            logger.warning("complaint detection off: %s", exc)
            return
        model = SemanticSpamModel(l2=L2)
        model.add(positive, True)
        model.add(negative, False)
        for (_text, label), vector in zip(lesson_list, taught, strict=True):
            model.add_lesson(vector, label)
        await asyncio.to_thread(model.fit)
        self.model = model
        self.ready = model.trainable
        logger.info(
            "complaint model: %d complaints, %d other, %d lessons (%d embedded) in %.1f s",
            len(complaints),
            len(other),
            len(lesson_list),
            self.embeddings.computed - computed_before,
            time.monotonic() - started,
        )

    async def classify(self, text: str) -> ComplaintVerdict | None:
        """None when there is no model (or it is not trained yet)."""
        if self.embeddings is None or not self.ready or not text.strip():
            return None
        try:
            vector = await self.embeddings.embed_one(text, Kind.QUERY)
        except ModelUnavailable:
            return None
        return decide(evidence_for(self.model, vector))

    async def learn(self, text: str, is_complaint: bool) -> None:
        """Staff's judgement: remembered at once (near-duplicates take it), then refitted."""
        if self.embeddings is None or not text.strip():
            return
        try:
            vector = await self.embeddings.embed_one(text, Kind.QUERY)
        except ModelUnavailable:
            return
        self.model.add_lesson(vector, is_complaint)
        async with self._fit_lock:
            await asyncio.to_thread(self.model.fit)
        self.ready = self.model.trainable
