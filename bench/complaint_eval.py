#!/usr/bin/env python3
"""How well Steward recognises complaints, per language.

    python bench/complaint_eval.py            # held-out set (bench/data/complaints_heldout/)
    python bench/complaint_eval.py --cv       # 5-fold cross-validation on the shipped examples
    python bench/complaint_eval.py --cv --grid  # the same, over the settings tried in tuning

The default run trains exactly as the bot does at start (the shipped examples in
bot/reputation/data, no lessons) and scores the held-out messages, which were written apart from
the training examples and never used to choose a setting. `--cv` is the development view the
settings (L2, threshold, neighbour weight) were chosen on. "model" is the classifier alone;
"bot" also applies the prefilter (a message the prefilter skips is never a complaint), which is
what members' messages meet in a group.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.moderation.semantic_spam import SemanticSpamModel
from bot.reputation import classifier
from bot.reputation.classifier import (
    L2,
    LANGUAGES,
    NEIGHBOUR_WEIGHT,
    THRESHOLD,
    ComplaintClassifier,
    decide,
    needs_neighbours,
    read_examples,
)
from bot.reputation.prefilter import worth_checking
from bot.semantic import Kind, create_embedding_service

HERE = Path(__file__).resolve().parent
HELDOUT = HERE / "data" / "complaints_heldout"
FOLDS = 5


def read_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def dataset(kind_files) -> list[tuple[str, str, bool]]:
    """(language, text, is_complaint) rows."""
    rows = []
    for language in LANGUAGES:
        for text in kind_files("complaint", language):
            rows.append((language, text, True))
        for text in kind_files("other", language):
            rows.append((language, text, False))
    return rows


def shipped(kind: str, language: str) -> list[str]:
    return read_examples(kind, [language])[language]


def heldout(kind: str, language: str) -> list[str]:
    return read_lines(HELDOUT / f"{kind}_{language}.txt")


def metrics(predicted: list[bool], labels: list[bool]) -> tuple[float, float, int, int]:
    tp = sum(p and y for p, y in zip(predicted, labels, strict=True))
    fp = sum(p and not y for p, y in zip(predicted, labels, strict=True))
    positives = sum(labels)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / positives if positives else float("nan")
    return precision, recall, positives, len(labels) - positives


def print_table(title: str, rows, model_pred, bot_pred) -> None:
    print(title)
    print(f"{'set':<6}{'compl.':>7}{'other':>7}   {'model P':>8}{'R':>7}   {'bot P':>8}{'R':>7}")
    for language in (*LANGUAGES, "all"):
        index = [i for i, r in enumerate(rows) if language in ("all", r[0])]
        if not index:
            continue
        labels = [rows[i][2] for i in index]
        mp, mr, pos, neg = metrics([model_pred[i] for i in index], labels)
        bp, br, _, _ = metrics([bot_pred[i] for i in index], labels)
        print(f"{language:<6}{pos:>7}{neg:>7}   {mp:>8.3f}{mr:>7.3f}   {bp:>8.3f}{br:>7.3f}")
    complaints = [r for r in rows if r[2]]
    passed = sum(worth_checking(r[1]) for r in complaints)
    others = [r for r in rows if not r[2]]
    print(
        f"prefilter: lets through {passed}/{len(complaints)} complaints and "
        f"{sum(worth_checking(r[1]) for r in others)}/{len(others)} other messages"
    )


def cv_probabilities(vectors, labels, languages, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold regression probabilities and neighbour margins, folds stratified by language."""
    order = np.random.default_rng(0).permutation(len(labels))
    fold_of = np.zeros(len(labels), dtype=int)
    for language in set(languages):
        members = [i for i in order if languages[i] == language]
        for n, i in enumerate(members):
            fold_of[i] = n % FOLDS
    probability = np.zeros(len(labels))
    margin = np.zeros(len(labels))
    for fold in range(FOLDS):
        train = np.flatnonzero(fold_of != fold)
        test = np.flatnonzero(fold_of == fold)
        model = SemanticSpamModel(l2=l2)
        model.add_rows(vectors[train], labels[train])
        model.fit()
        for i in test:
            evidence = model.evidence(vectors[i])
            probability[i], margin[i] = evidence.probability, evidence.neighbours
    return probability, margin


def predictions(probability, margin, threshold, weight) -> list[bool]:
    from bot.moderation.semantic_spam import SemanticEvidence

    return [
        decide(
            SemanticEvidence(float(p), float(m) if needs_neighbours(p, threshold, weight) else 0.0),
            threshold,
            weight,
        ).is_complaint
        for p, m in zip(probability, margin, strict=True)
    ]


async def run(args: argparse.Namespace) -> int:
    service = create_embedding_service("builtin")
    if service is None:
        print("the bundled model does not load here", file=sys.stderr)
        return 2
    train_rows = dataset(shipped)
    if args.cv:
        # the shipped vectors, as the bot reads them at start
        detector = ComplaintClassifier(service)
        await detector.train(
            [r[1] for r in train_rows if r[2]], [r[1] for r in train_rows if not r[2]]
        )
        vectors = await service.embed([r[1] for r in train_rows], Kind.QUERY)
        labels = np.array([int(r[2]) for r in train_rows])
        languages = [r[0] for r in train_rows]
        prefiltered = [worth_checking(r[1]) for r in train_rows]
        if args.grid:
            print(f"{'l2':>6}{'thr':>6}{'nbr':>6}   {'P':>6}{'R':>7}{'F1':>7}   (bot: P, R)")
            for l2 in (0.001, 0.01, 0.1, 1.0):
                probability, margin = cv_probabilities(vectors, labels, languages, l2)
                for threshold, weight in itertools.product(
                    (0.3, 0.4, 0.5, 0.6, 0.7, 0.8), (0.0, 10.0, 25.0)
                ):
                    pred = predictions(probability, margin, threshold, weight)
                    p, r, _, _ = metrics(pred, list(map(bool, labels)))
                    bp, br, _, _ = metrics(
                        [a and b for a, b in zip(pred, prefiltered, strict=True)],
                        list(map(bool, labels)),
                    )
                    f1 = 2 * p * r / (p + r) if p + r else 0.0
                    print(
                        f"{l2:>6}{threshold:>6}{weight:>6}   {p:>6.3f}{r:>7.3f}{f1:>7.3f}"
                        f"   ({bp:.3f}, {br:.3f})"
                    )
        probability, margin = cv_probabilities(vectors, labels, languages, L2)
        model_pred = predictions(probability, margin, THRESHOLD, NEIGHBOUR_WEIGHT)
        bot_pred = [a and b for a, b in zip(model_pred, prefiltered, strict=True)]
        print_table(
            f"{FOLDS}-fold cross-validation on the shipped examples "
            f"(l2={L2}, threshold={THRESHOLD}, neighbours={NEIGHBOUR_WEIGHT})",
            train_rows,
            model_pred,
            bot_pred,
        )
        return 0
    test_rows = dataset(heldout)
    if not test_rows:
        print(f"no held-out files in {HELDOUT}", file=sys.stderr)
        return 1
    detector = ComplaintClassifier(service)
    await detector.train([r[1] for r in train_rows if r[2]], [r[1] for r in train_rows if not r[2]])
    verdicts = [await detector.classify(r[1]) for r in test_rows]
    model_pred = [bool(v and v.is_complaint) for v in verdicts]
    bot_pred = [p and worth_checking(r[1]) for p, r in zip(model_pred, test_rows, strict=True)]
    print_table(
        f"held-out set {HELDOUT.relative_to(HERE.parent)} (trained on the shipped examples; "
        f"l2={classifier.L2}, threshold={THRESHOLD})",
        test_rows,
        model_pred,
        bot_pred,
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true", help="cross-validation on the shipped set")
    parser.add_argument("--grid", action="store_true", help="with --cv: every setting tried")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
