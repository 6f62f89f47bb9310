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

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import numpy as np

from bot.moderation.fits import FitStore
from bot.moderation.semantic_spam import SemanticEvidence, SemanticSpamModel, logit
from bot.moderation.understanding import EmbeddingClassifier
from bot.semantic import EmbeddingService

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
    return logit(p, clip=1e-9)


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
    log_odds = _logit(evidence.probability) + neighbour_weight * evidence.neighbours
    probability = 1.0 / (1.0 + float(np.exp(-log_odds)))
    return ComplaintVerdict(probability >= threshold, probability)


def evidence_for(model: SemanticSpamModel, vector: np.ndarray) -> SemanticEvidence:
    """The model's evidence, with the neighbours only where they matter (see NEIGHBOUR_REACH)."""
    probability = float(model.regression.probability(vector[None, :])[0])
    neighbours = model.neighbour_margin(vector) if needs_neighbours(probability) else 0.0
    return SemanticEvidence(probability, neighbours, model.lesson_for(vector))


class ComplaintClassifier(EmbeddingClassifier):
    """Trained at start (shipped examples + staff lessons), taught at once by staff."""

    label = "complaint model"
    kind = "complaint"
    vectors_package = "bot.reputation"
    vectors_file = VECTORS_FILE

    def __init__(self, embeddings: EmbeddingService | None, fits: FitStore | None = None) -> None:
        super().__init__(embeddings, l2=L2, fits=fits)

    async def classify(self, text: str) -> ComplaintVerdict | None:
        """None when there is no model (or it is not trained yet)."""
        vector = await self.vector(text)
        return None if vector is None else decide(evidence_for(self.model, vector))
