#!/usr/bin/env python3
"""How well Steward recognises spam, per language, with and without the semantic model.

    python bench/spam_eval.py                 # held-out test set (bench/data/spam_heldout/)
    python bench/spam_eval.py --cv            # 5-fold cross-validation on the shipped samples
    python bench/spam_eval.py --cv --blocks   # the same, folds cut in runs of 25 lines per file
    python bench/spam_eval.py --spam ../shared/datasets/spam-dev/spam.txt \
                              --ham ../shared/datasets/spam-dev/ham-en.txt   # any tg-spam files
    python bench/spam_eval.py --spam ... --ham ... --sweep   # and at other fusion thresholds

The default run trains exactly as a new installation does (the shipped samples in
bot/moderation/data, nothing from the evaluated files) and scores the held-out messages, which
were written apart from the training samples and never used to set a weight or a threshold.
`--cv` is the development view that the weights were chosen on; `--blocks` makes it stricter:
the sample files were written in runs on one theme, so random folds leave a test line's
siblings in training, while folds of 25 consecutive lines per file test on runs the model has
not seen (closer to messages written elsewhere). Each side is printed in the same
run: "lexical" is the scorer without the model (SEMANTIC_MODEL=off), "semantic" is the default.
`--sweep` adds, per set, the model's recall and false alarms had the fusion's P(spam) threshold
been each of SWEEP instead of the shipped per-language one (how the thresholds were chosen).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.moderation.semantic_spam import SPAM_NEIGHBOURS, SemanticSpamModel, language_group, logit
from bot.moderation.spam import (
    SpamScorer,
    build_default_bayes,
    default_samples,
    features_from_text,
    read_samples,
)
from bot.moderation.understanding import SemanticSpamClassifier, train_fusion
from bot.semantic import Kind, create_embedding_service

HERE = Path(__file__).resolve().parent
HELDOUT = HERE / "data" / "spam_heldout"
LANGUAGES = ("en", "ru", "nl")
BLOCK = 25
SWEEP = (0.8, 0.85, 0.9, 0.93, 0.95)


def rates(scores: list[float], labels: list[bool], threshold: float = 1.0) -> tuple[float, float]:
    spam = [s for s, is_spam in zip(scores, labels, strict=True) if is_spam]
    ham = [s for s, is_spam in zip(scores, labels, strict=True) if not is_spam]
    recall = sum(s >= threshold for s in spam) / len(spam) if spam else float("nan")
    fpr = sum(s >= threshold for s in ham) / len(ham) if ham else float("nan")
    return recall, fpr


def print_table(title: str, groups: dict[str, tuple[list[bool], list[float], list[float]]]) -> None:
    print(title)
    print(
        f"{'set':<8}{'spam':>6}{'ham':>6}   {'lexical recall':>14}{'FPR':>7}   "
        f"{'semantic recall':>15}{'FPR':>7}"
    )
    for name, (labels, lexical, semantic) in groups.items():
        lex_recall, lex_fpr = rates(lexical, labels)
        sem_recall, sem_fpr = rates(semantic, labels)
        print(
            f"{name:<8}{sum(labels):>6}{len(labels) - sum(labels):>6}   {lex_recall:>14.3f}"
            f"{lex_fpr:>7.3f}   {sem_recall:>15.3f}{sem_fpr:>7.3f}"
        )


def print_sweep(sweep: dict[str, tuple[list[bool], list[float]]]) -> None:
    """Recall and false alarms (count/ham) per set at each fusion threshold in SWEEP."""
    print("with the model at other fusion thresholds (P(spam)): recall / false alarms")
    print(f"{'set':<8}" + "".join(f"{t:>16}" for t in SWEEP))
    for name, (labels, logits) in sweep.items():
        cells = []
        for t in SWEEP:
            line = logit(t)
            caught = [v >= line for v in logits]
            spam = [c for c, is_spam in zip(caught, labels, strict=True) if is_spam]
            alarms = sum(c for c, is_spam in zip(caught, labels, strict=True) if not is_spam)
            recall = sum(spam) / len(spam) if spam else float("nan")
            cells.append(f"{recall:.3f} {alarms:>3}/{len(labels) - len(spam):<4}")
        print(f"{name:<8}" + "".join(f"{c:>16}" for c in cells))


async def heldout(
    spam_files: list[Path], ham_files: list[Path], show_errors: bool, sweep: bool = False
) -> None:
    embeddings = create_embedding_service("builtin")
    if embeddings is None:
        raise SystemExit("the bundled model does not load here")
    started, cpu = time.monotonic(), time.process_time()
    classifier = SemanticSpamClassifier(embeddings)
    await classifier.train(default_samples("spam"), default_samples("ham"))
    print(
        f"trained on the shipped samples in {time.monotonic() - started:.1f} s wall, "
        f"{time.process_time() - cpu:.1f} s CPU (all threads)"
    )
    scorer = SpamScorer(build_default_bayes())
    groups: dict[str, tuple[list[bool], list[float], list[float]]] = {}
    fused: dict[str, tuple[list[bool], list[float]]] = {}
    errors = []
    for path in [*spam_files, *ham_files]:
        is_spam = path in spam_files
        name = path.stem.split("_")[-1] if "_" in path.stem else path.stem
        labels, lexical, semantic = groups.setdefault(name, ([], [], []))
        texts = read_samples(path)
        vectors = await embeddings.embed([classifier.readable(t) for t in texts], Kind.QUERY)
        for text, vector in zip(texts, vectors, strict=True):
            features = features_from_text(text)
            labels.append(is_spam)
            lexical.append(scorer.score(features).score)
            evidence = classifier.model.evidence(vector, language_group(classifier.readable(text)))
            verdict = scorer.score(features, evidence, classifier.fusion)
            semantic.append(verdict.score)
            if classifier.fusion is not None:  # the score is the fusion's log-odds in units
                fused.setdefault(name, ([], []))[0].append(is_spam)
                fused[name][1].append(verdict.score * classifier.fusion.unit(evidence.group))
            if verdict.is_spam != is_spam:
                errors.append((is_spam, verdict.score, verdict.explain(), text))
    total = ([], [], [])
    for labels, lexical, semantic in groups.values():
        for part, values in zip(total, (labels, lexical, semantic), strict=True):
            part.extend(values)
    groups["all"] = total
    print_table("held-out messages (never trained or tuned on), threshold 1.0:", groups)
    if sweep:
        print_sweep(fused)
    if show_errors:
        for is_spam, score, why, text in sorted(errors, key=lambda e: (e[0], e[1])):
            label = "missed spam" if is_spam else "false alarm"
            print(f"{label} ({score:.2f}: {why}): {text[:140]}")


async def cross_validation(folds: int = 5, blocks: bool = False, show_errors: bool = False) -> None:
    """Train on 4/5 of the shipped samples, score the rest; the view the weights were set on.
    `blocks`: each fold takes whole runs of BLOCK consecutive lines of every file."""
    embeddings = create_embedding_service("builtin")
    if embeddings is None:
        raise SystemExit("the bundled model does not load here")
    classifier = SemanticSpamClassifier(embeddings)
    await classifier.train(default_samples("spam"), default_samples("ham"))  # seeds the cache
    rows = shipped_rows()
    readable = [classifier.readable(row[0]) for row in rows]
    vectors = await embeddings.embed(readable, Kind.QUERY)
    groups = [language_group(text) for text in readable]
    if blocks:
        fold_of = [(line // BLOCK + sum(map(ord, name))) % folds for _t, _s, name, line in rows]
    else:
        fold_of = (np.random.default_rng(0).permutation(len(rows)) % folds).tolist()
    lexical = [0.0] * len(rows)
    semantic = [0.0] * len(rows)
    for fold in range(folds):
        test = {i for i, f in enumerate(fold_of) if f == fold}
        model = SemanticSpamModel(centred=True, neighbours=SPAM_NEIGHBOURS)
        scorer = SpamScorer(
            build_default_bayes_from([rows[i] for i in range(len(rows)) if i not in test])
        )
        train = [i for i in range(len(rows)) if i not in test]
        labels = np.array([int(rows[i][1]) for i in train])
        model.add_rows(vectors[train], labels, [groups[i] for i in train])
        model.fit()
        # the fusion is learned inside the training folds only, as the bot learns it at start
        fusion = train_fusion(
            [rows[i][0] for i in train],
            labels,
            vectors[train],
            model.regression.parameters,
            model.centres or None,
        )
        for i in test:
            features = features_from_text(rows[i][0])
            lexical[i] = scorer.score(features).score
            evidence = model.evidence(vectors[i], groups[i])
            semantic[i] = scorer.score(features, evidence, fusion).score
    groups: dict[str, tuple[list[bool], list[float], list[float]]] = {}
    for i, (_text, is_spam, name, _line) in enumerate(rows):
        language = name.split("_")[-1] if not name.startswith("default") else "default"
        for name in (language, "all"):
            labels, lex, sem = groups.setdefault(name, ([], [], []))
            labels.append(is_spam)
            lex.append(lexical[i])
            sem.append(semantic[i])
    kind = f"blocks of {BLOCK} lines" if blocks else "random"
    print_table(f"{folds}-fold cross-validation ({kind}) on the shipped samples:", groups)
    if show_errors:  # the development folds' mistakes: what the samples cover thinly
        for i in sorted(range(len(rows)), key=lambda i: (rows[i][2], semantic[i])):
            text, is_spam, name, _line = rows[i]
            if (semantic[i] >= 1.0) != is_spam:
                label = "missed spam" if is_spam else "false alarm"
                print(f"{name} {label} ({semantic[i]:.2f}): {text[:140]}")


def shipped_rows(data_dir: Path | None = None) -> list[tuple[str, bool, str, int]]:
    """(text, is spam, file stem, line number among the file's samples) of every shipped file
    (or of every sample file in `data_dir`)."""
    data_dir = data_dir or Path(__file__).resolve().parents[1] / "bot" / "moderation" / "data"
    rows: list[tuple[str, bool, str, int]] = []
    for path in sorted(data_dir.glob("*.txt")):
        is_spam = "spam" in path.stem
        rows += [(text, is_spam, path.stem, n) for n, text in enumerate(read_samples(path))]
    return rows


def build_default_bayes_from(rows: list[tuple[str, bool, str, int]]):
    from bot.moderation.spam import NaiveBayes

    bayes = NaiveBayes()
    for text, is_spam, _name, _line in rows:
        bayes.learn(text, is_spam)
    return bayes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spam", nargs="+", type=Path)
    parser.add_argument("--ham", nargs="+", type=Path)
    parser.add_argument("--cv", action="store_true", help="cross-validate on the shipped samples")
    parser.add_argument("--blocks", action="store_true", help="--cv folds in runs of lines")
    parser.add_argument("--errors", action="store_true", help="list misclassified messages")
    parser.add_argument("--sweep", action="store_true", help="also at other fusion thresholds")
    args = parser.parse_args(argv)
    if args.cv:
        asyncio.run(cross_validation(blocks=args.blocks, show_errors=args.errors))
        return 0
    if bool(args.spam) != bool(args.ham):
        # half of a development set completed with held-out lines would score (and, with
        # --errors, print) the held-out set unasked
        parser.error("give --spam and --ham together, or neither for the held-out set")
    spam = args.spam or [HELDOUT / f"spam_{lang}.txt" for lang in LANGUAGES]
    ham = args.ham or [HELDOUT / f"ham_{lang}.txt" for lang in LANGUAGES]
    asyncio.run(heldout(spam, ham, args.errors, args.sweep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
