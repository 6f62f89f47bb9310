"""The embedding spam model and its fusion with the other signals, without Telegram."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.moderation.semantic_spam import LogisticModel, SemanticEvidence, SemanticSpamModel
from bot.moderation.spam import SpamScorer, build_default_bayes, features_from_text

ROOT = Path(__file__).parents[1]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clusters(seed: int = 0, n: int = 60, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    spam_centre, ham_centre = rng.normal(size=dim), rng.normal(size=dim)
    spam = unit(spam_centre + 0.6 * rng.normal(size=(n, dim)))
    ham = unit(ham_centre + 0.6 * rng.normal(size=(n, dim)))
    return spam, ham


def test_the_regression_separates_two_topics_and_generalises_to_new_points():
    spam, ham = clusters()
    model = LogisticModel(l2=0.01)
    model.fit(np.vstack([spam, ham]), np.array([1] * len(spam) + [0] * len(ham)))
    new_spam, new_ham = clusters(seed=0, n=200)
    assert (model.probability(new_spam) > 0.5).mean() > 0.95
    assert (model.probability(new_ham) < 0.5).mean() > 0.95


def test_a_lesson_overrides_the_model_for_the_same_text_only():
    spam, ham = clusters()
    model = SemanticSpamModel()
    model.add(spam, True)
    model.add(ham, False)
    model.fit()
    judged = spam[0]
    assert model.evidence(judged).lesson is None and model.evidence(judged).probability > 0.5
    model.add_lesson(judged, False)
    model.fit()
    assert model.evidence(judged).lesson is False
    assert model.evidence(spam[1]).lesson is None  # a different message is judged as before
    assert model.evidence(spam[1]).neighbours > 0


def test_batched_evidence_equals_one_message_at_a_time():
    spam, ham = clusters()
    model = SemanticSpamModel()
    model.add(spam, True)
    model.add(ham, False)
    model.fit()
    more_spam, more_ham = clusters(n=90)  # same topics, new points
    queries = np.vstack([more_spam[60:], more_ham[60:]])
    batched = model.evidences(queries)
    for query, evidence in zip(queries, batched, strict=True):
        one = model.evidence(query)
        assert evidence.probability == pytest.approx(one.probability, abs=1e-6)
        assert evidence.neighbours == pytest.approx(one.neighbours, abs=1e-6)
    # chunking does not change the answer
    assert np.allclose(model.neighbour_margins(queries, chunk=7), [e.neighbours for e in batched])
    assert np.mean([e.neighbours > 0 for e in batched[:30]]) > 0.9
    assert np.mean([e.neighbours < 0 for e in batched[30:]]) > 0.9


def test_evidence_adds_signals_and_a_not_spam_lesson_keeps_a_message_below_the_threshold():
    scorer = SpamScorer(build_default_bayes())
    text = "Join now: free signals, 300% profit, write me t.me/+AbCdEf @profit_king"
    features = features_from_text(text)
    without = scorer.score(features)
    assert without.signals["semantic"] == 0 and without.signals["neighbours"] == 0
    confident = scorer.score(features, SemanticEvidence(probability=0.99, neighbours=0.08))
    assert confident.is_spam and confident.signals["semantic"] > 1.0
    forgiven = scorer.score(features, SemanticEvidence(0.99, 0.08, lesson=False))
    assert not forgiven.is_spam and forgiven.score < 0
    marked = scorer.score(features_from_text("hello"), SemanticEvidence(0.1, -0.05, lesson=True))
    assert marked.is_spam


def test_every_shipped_sample_has_a_precomputed_vector():
    """Start-up embeds none of the shipped samples; rerun scripts/embed_spam_samples.py if not."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "embed_spam_samples.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
