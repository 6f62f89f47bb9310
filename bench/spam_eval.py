#!/usr/bin/env python3
"""Replay labelled messages through Steward's spam scorer and print how well each signal works.

    python bench/spam_eval.py                                  # Steward's own held-out sets
    python bench/spam_eval.py --spam ../shared/datasets/spam-dev/spam.txt \
                              --ham ../shared/datasets/spam-dev/ham-en.txt bench/data/ham_eval.txt

Files use tg-spam's format (one message per line). The scorer starts from Steward's shipped
defaults only, exactly as a new installation does; nothing in these files is learned.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.moderation.spam import (
    SIGNALS,
    SpamScorer,
    build_default_bayes,
    features_from_text,
    read_samples,
)

HERE = Path(__file__).resolve().parent


def rates(tp: int, fp: int, fn: int, tn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return precision, recall, fpr


def evaluate(spam: list[str], ham: list[str], scorer: SpamScorer, show_errors: bool = False):
    rows = []
    verdicts = [(True, scorer.score(features_from_text(t)), t) for t in spam] + [
        (False, scorer.score(features_from_text(t)), t) for t in ham
    ]
    for name in (*SIGNALS, "overall"):
        tp = fp = fn = tn = 0
        for is_spam, verdict, _ in verdicts:
            fired = verdict.is_spam if name == "overall" else verdict.signals[name] > 0
            if fired and is_spam:
                tp += 1
            elif fired:
                fp += 1
            elif is_spam:
                fn += 1
            else:
                tn += 1
        rows.append((name, tp + fp, *rates(tp, fp, fn, tn)))
    errors = [(v.score, s, t, v.explain()) for s, v, t in verdicts if v.is_spam != s]
    return rows, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spam", nargs="+", type=Path, default=[HERE / "data" / "spam_eval.txt"])
    parser.add_argument("--ham", nargs="+", type=Path, default=[HERE / "data" / "ham_eval.txt"])
    parser.add_argument("--errors", action="store_true", help="list misclassified messages")
    args = parser.parse_args(argv)
    spam = [line for path in args.spam for line in read_samples(path)]
    ham = [line for path in args.ham for line in read_samples(path)]
    scorer = SpamScorer(build_default_bayes())
    rows, errors = evaluate(spam, ham, scorer)
    print(f"spam: {len(spam)} messages from {', '.join(p.name for p in args.spam)}")
    print(f"ham:  {len(ham)} messages from {', '.join(p.name for p in args.ham)}")
    print(f"{'signal':<16}{'fired':>7}{'precision':>11}{'recall':>9}{'FPR':>8}")
    for name, fired, precision, recall, fpr in rows:
        print(f"{name:<16}{fired:>7}{precision:>11.3f}{recall:>9.3f}{fpr:>8.3f}")
    if args.errors:
        for score, is_spam, text, why in sorted(errors):
            label = "missed spam" if is_spam else "false alarm"
            print(f"{label} ({score:.2f}: {why}): {text[:120]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
