#!/usr/bin/env python3
"""Structural variants of the spam model, each against main's structure in the same run.

    python bench/spam_structure.py compute --out /tmp/sig.npz [--data DIR] [--block 25]
                                           [--dev NAME=DIR ...]
    python bench/spam_structure.py report /tmp/sig.npz

`compute` fits every candidate first-level signal once per fold: outer folds as
`bench/spam_eval.py --cv --blocks` (runs of `--block` lines per file), the fusion's rows out of
fold inside each as `train_fusion` does, and the model of all the samples (as a new installation
trains it) against every development set. `report` then refits only the second-level fusion for
each variant (a set of fusion inputs) and prints caught spam and false alarms per language, with
the difference from main. Candidates beside main's inputs: a vote of the k nearest labelled
samples of both classes (`voteK`, similarity-weighted `wvote10`), the neighbour margin over five
(`margin5`), hashed character 3-5-grams of the folded text (a logistic model, `char_lr`, and
naive Bayes log-count ratios, `char_nb`), and per-language intercepts (`lang_*`).

Result (issue 11, tenth sample batch): no variant raised recall in every language across the
block folds and the dev sets without a false alarm more somewhere; see the commit message.
Never run it on a held-out set.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spam_eval import BLOCK, shipped_rows
from bot.moderation.semantic_spam import (
    SPAM_NEIGHBOURS,
    LogisticModel,
    SemanticSpamModel,
    language_group,
)
from bot.moderation.spam import (
    FUSION_INPUTS,
    NaiveBayes,
    SpamScorer,
    features_from_text,
    fold,
    read_samples,
    unobfuscate,
)
from bot.moderation.understanding import FOLDS, shipped_vectors
from bot.semantic import EmbeddingService, Kind, create_embedding_service, text_hash

ROOT = Path(__file__).resolve().parents[1]
DEV = {
    "fresh": ROOT / "bench/data/spam_fresh",
    "apart": ROOT / "bench/data/spam_apart",
    "apart2": ROOT / "bench/data/spam_apart2",
    "apart3": ROOT / "bench/data/spam_apart3",
    "apart4": ROOT / "bench/data/spam_apart4",
}
# tg-spam's Russian spam and English chat (development data, never shipped), beside the checkout
SHARED = (
    next(
        (p for p in (ROOT.parent / "shared", ROOT.parents[1] / "shared") if p.is_dir()),
        ROOT.parent / "shared",
    )
    / "datasets"
    / "spam-dev"
)


# --- hashed character n-grams -------------------------------------------------------------

DIM = 1 << 18


def char_features(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc index, bucket, value) of hashed char 3-5-grams of the folded text, per doc
    l2-normalised sqrt counts."""
    docs, feats = [], []
    for n, text in enumerate(texts):
        t = " " + " ".join(fold(unobfuscate(text)).split()) + " "
        grams = [t[i : i + k] for k in (3, 4, 5) for i in range(len(t) - k + 1)]
        h = [zlib.crc32(g.encode()) & (DIM - 1) for g in grams]
        feats.append(np.array(h, dtype=np.int64))
        docs.append(np.full(len(h), n, dtype=np.int64))
    doc = np.concatenate(docs)
    feat = np.concatenate(feats)
    key = doc * DIM + feat
    uniq, counts = np.unique(key, return_counts=True)
    d, f = uniq // DIM, uniq % DIM
    v = np.sqrt(counts.astype(np.float64))
    norms = np.sqrt(np.bincount(d, weights=v * v, minlength=len(texts)))
    v = v / np.maximum(norms[d], 1e-9)
    return d, f, v


class Sparse:
    def __init__(self, d: np.ndarray, f: np.ndarray, v: np.ndarray, n: int) -> None:
        self.d, self.f, self.v, self.n = d, f, v, n

    def rows(self, index: np.ndarray) -> Sparse:
        remap = np.full(self.n, -1)
        remap[index] = np.arange(len(index))
        keep = remap[self.d] >= 0
        return Sparse(remap[self.d[keep]], self.f[keep], self.v[keep], len(index))

    def dot(self, w: np.ndarray) -> np.ndarray:
        return np.bincount(self.d, weights=w[self.f] * self.v, minlength=self.n)

    def tdot(self, r: np.ndarray) -> np.ndarray:
        return np.bincount(self.f, weights=r[self.d] * self.v, minlength=DIM)


def char_logistic(x: Sparse, y: np.ndarray, l2: float = 1e-5, steps: int = 50) -> np.ndarray:
    """Class-balanced L2 logistic regression, full-batch Adam."""
    w = np.zeros(DIM + 1)
    pos = y.sum()
    sw = np.where(y == 1, 0.5 * len(y) / pos, 0.5 * len(y) / (len(y) - pos)) / len(y)
    m = np.zeros_like(w)
    s = np.zeros_like(w)
    lr, b1, b2 = 0.05, 0.9, 0.999
    for t in range(1, steps + 1):
        z = x.dot(w[:-1]) + w[-1]
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        r = sw * (p - y)
        g = np.append(x.tdot(r), r.sum())
        g[:-1] += l2 * w[:-1]
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        w -= lr * (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + 1e-8)
    return w


def char_nb(x: Sparse, y: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """Log-count ratio of the classes (NB over hashed n-grams), as weights + bias."""
    spam = np.bincount(x.f, weights=x.v * (y[x.d] == 1), minlength=DIM) + alpha
    ham = np.bincount(x.f, weights=x.v * (y[x.d] == 0), minlength=DIM) + alpha
    r = np.log(spam / spam.sum()) - np.log(ham / ham.sum())
    return np.append(r, 0.0)


# --- first-level signals on one train/test split ------------------------------------------


class Data:
    def __init__(self, texts, labels, vectors, groups, sparse) -> None:
        self.texts = texts
        self.labels = np.asarray(labels)
        self.vectors = vectors
        self.groups = np.asarray(groups)
        self.sparse = sparse


EXTRA = (
    "vote5",
    "vote10",
    "vote20",
    "wvote10",
    "margin5",
    "char_lr",
    "char_nb",
    "lang_ru",
    "lang_nl",
    "lang_en",
)


def signals(
    train: Data,
    test: Data,
    centres: dict | None,
    start: np.ndarray | None,
    bayes: NaiveBayes,
) -> tuple[np.ndarray, SemanticSpamModel]:
    """Fusion inputs (FUSION_INPUTS + EXTRA) of the test rows from a model fitted on train."""
    model = SemanticSpamModel(centred=True, fixed_centres=centres, neighbours=SPAM_NEIGHBOURS)
    model.add_rows(train.vectors, train.labels, train.groups.tolist())
    if start is not None:
        model.regression.coef, model.regression.intercept = start[:-1], float(start[-1])
    model.fit()
    scorer = SpamScorer(bayes)
    evidences = model.evidences(test.vectors, test.groups.tolist())
    base = np.array(
        [
            [row[k] for k in FUSION_INPUTS]
            for row in (
                scorer.fusion_inputs(features_from_text(t), e)
                for t, e in zip(test.texts, evidences, strict=True)
            )
        ]
    )
    # neighbours of both classes together, in the centred space
    ctr = model.centres
    a = model.centre(train.vectors, train.groups.tolist(), ctr)
    b = model.centre(test.vectors, test.groups.tolist(), ctr)
    sims = b @ a.T
    order = np.argsort(-sims, axis=1)[:, :20]
    lab = train.labels[order]
    near = np.take_along_axis(sims, order, axis=1)
    extra = {}
    for k in (5, 10, 20):
        extra[f"vote{k}"] = lab[:, :k].mean(axis=1) - 0.5
    w = np.exp(near[:, :10] * 20)
    extra["wvote10"] = (w * lab[:, :10]).sum(1) / w.sum(1) - 0.5
    m5 = SemanticSpamModel(centred=True, fixed_centres=ctr, neighbours=5)
    m5.add_rows(train.vectors, train.labels, train.groups.tolist())
    m5.regression = model.regression
    m5.fit(model.regression)
    extra["margin5"] = m5.neighbour_margins(test.vectors, groups=test.groups.tolist()) * 10
    wl = char_logistic(train.sparse, train.labels)
    z = test.sparse.dot(wl[:-1]) + wl[-1]
    extra["char_lr"] = np.clip(z, -15, 15) / 5
    wn = char_nb(train.sparse, train.labels)
    extra["char_nb"] = np.clip(test.sparse.dot(wn[:-1]), -30, 30) / 10
    for g in ("ru", "nl", "en"):
        extra[f"lang_{g}"] = (test.groups == g).astype(float)
    cols = np.column_stack([base] + [extra[k] for k in EXTRA])
    return cols, model


def subset(data: Data, index: np.ndarray) -> Data:
    return Data(
        [data.texts[i] for i in index],
        data.labels[index],
        data.vectors[index],
        data.groups[index],
        data.sparse.rows(index),
    )


def bayes_of(data: Data) -> NaiveBayes:
    bayes = NaiveBayes()
    for text, label in zip(data.texts, data.labels, strict=True):
        bayes.learn(text, bool(label))
    return bayes


def level(train: Data, tests: list[Data]) -> tuple[np.ndarray, list[np.ndarray]]:
    """As the bot trains: the full model on `train`, the fusion's rows out of fold (inner
    folds as `train_fusion`), and each test set's rows from the full model."""
    full = SemanticSpamModel(centred=True, neighbours=SPAM_NEIGHBOURS)
    full.add_rows(train.vectors, train.labels, train.groups.tolist())
    full.fit()
    centres, start = full.centres or None, full.regression.parameters
    everything = bayes_of(train)
    order = np.random.default_rng(0).permutation(len(train.texts))
    inner = np.zeros((len(train.texts), len(FUSION_INPUTS) + len(EXTRA)))
    for f in range(FOLDS):
        te = order[f::FOLDS]
        tr = np.setdiff1d(order, te)
        rows, _ = signals(
            subset(train, tr),
            subset(train, te),
            centres,
            start,
            everything.without(bayes_of(subset(train, te))),
        )
        inner[te] = rows
    outs = []
    for test in tests:
        # the full model: own centres, no start
        rows, _ = signals(train, test, None, None, everything)
        outs.append(rows)
    return inner, outs


# --- data ------------------------------------------------------------------------------------


def _cached(cache: Path) -> dict[str, np.ndarray]:
    if not cache.exists():
        return {}
    with np.load(cache) as z:
        return dict(zip(z["hashes"].tolist(), z["vectors"], strict=True))


async def vectors_for(texts: list[str], data_dir: Path, cache: Path) -> np.ndarray:
    """The texts' vectors: the shipped ones (and `data_dir`'s, when it ships its own), the rest
    embedded once and kept in `cache` for the next run."""
    service = create_embedding_service("builtin")
    if service is None:
        raise SystemExit("the bundled model does not load here")
    known = shipped_vectors(service.model_id)
    own = data_dir / "sample_vectors.npz"
    if own.exists():
        with np.load(own, allow_pickle=False) as z:
            if str(z["model_id"]) == service.model_id:
                vectors = z["vectors"].astype(np.float32)
                known.update(zip(z["hashes"].tolist(), vectors, strict=True))
    stored = _cached(cache)
    keys = [text_hash(EmbeddingService.prepare(t)) for t in texts]
    missing = [t for t, k in zip(texts, keys, strict=True) if k not in known and k not in stored]
    if missing:
        for text, vector in zip(missing, await service.embed(missing, Kind.QUERY), strict=True):
            stored[text_hash(EmbeddingService.prepare(text))] = vector
        np.savez(cache, hashes=np.array(list(stored)), vectors=np.vstack(list(stored.values())))
    rows = [known[k] if k in known else stored[k] for k in keys]
    return np.vstack(rows).astype(np.float32)


def make(texts: list[str], labels: list[int], vectors: np.ndarray) -> Data:
    readable = [unobfuscate(t) for t in texts]
    return Data(
        texts,
        labels,
        vectors,
        [language_group(r) for r in readable],
        Sparse(*char_features(texts), len(texts)),
    )


def dev_sets(folders: dict[str, Path]) -> dict[str, tuple[list[str], list[int], list[str]]]:
    """name -> (texts, labels, language of each line, from its file's name)."""
    sets = {}
    for name, folder in folders.items():
        texts, labels, langs = [], [], []
        for path in sorted(folder.glob("*.txt")):
            for text in read_samples(path):
                texts.append(text)
                labels.append(int(path.stem.startswith("spam")))
                langs.append(path.stem.split("_")[-1])
        sets[name] = (texts, labels, langs)
    if SHARED.is_dir():
        spam = read_samples(SHARED / "spam.txt")
        ham = read_samples(SHARED / "ham-en.txt")
        sets["tgspam"] = (
            [*spam, *ham],
            [1] * len(spam) + [0] * len(ham),
            ["ru"] * len(spam) + ["en"] * len(ham),
        )
    return sets


async def compute(args: argparse.Namespace) -> None:
    """Every signal of every fold and dev set, saved to `args.out` for `report`."""
    started = time.monotonic()
    rows = shipped_rows(args.data)
    texts = [r[0] for r in rows]
    labels = [int(r[1]) for r in rows]
    data = make(
        texts, labels, await vectors_for([unobfuscate(t) for t in texts], args.data, args.cache)
    )
    folders = dict(DEV)
    for item in args.dev or []:
        name, _, folder = item.partition("=")
        folders[name] = Path(folder)
    devs = dev_sets(folders)
    dev_data = {
        name: make(t, lab, await vectors_for([unobfuscate(x) for x in t], args.data, args.cache))
        for name, (t, lab, _langs) in devs.items()
    }
    print(f"data ready in {time.monotonic() - started:.0f} s", flush=True)
    out: dict[str, np.ndarray] = {}
    # outer block folds, as bench/spam_eval.py --cv --blocks
    fold_of = np.array([(n // args.block + sum(map(ord, name))) % 5 for _t, _s, name, n in rows])
    cv = np.zeros((len(rows), len(NAMES)))
    for f in range(5):
        te = np.flatnonzero(fold_of == f)
        tr = np.flatnonzero(fold_of != f)
        inner, (outer,) = level(subset(data, tr), [subset(data, te)])
        out[f"inner{f}"] = inner
        out[f"innerlab{f}"] = data.labels[tr]
        cv[te] = outer
        print(f"fold {f} done at {time.monotonic() - started:.0f} s", flush=True)
    out["cv"] = cv
    out["fold_of"] = fold_of
    out["cvlab"] = data.labels
    out["cvfile"] = np.array([r[2] for r in rows])
    # the model of all the samples (positives first, as default_samples orders them), as a new
    # installation trains it, against the dev sets
    order = np.array(sorted(range(len(rows)), key=lambda i: (-labels[i], rows[i][2])))
    full = subset(data, order)
    names = list(dev_data)
    inner, outs = level(full, [dev_data[n] for n in names])
    out["fullinner"] = inner
    out["fulllab"] = full.labels
    for n, o in zip(names, outs, strict=True):
        out[f"dev_{n}"] = o
        out[f"devlab_{n}"] = dev_data[n].labels
        out[f"devlang_{n}"] = np.array(devs[n][2])
    np.savez(args.out, **out)
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)


# --- the variants ----------------------------------------------------------------------------

NAMES = (*FUSION_INPUTS, *EXTRA)
LANG = ("lang_ru", "lang_nl", "lang_en")
VARIANTS: dict[str, tuple[str, ...]] = {
    "main": FUSION_INPUTS,
    **{f"+{name}": (*FUSION_INPUTS, name) for name in EXTRA if name not in LANG},
    "+lang": (*FUSION_INPUTS, *LANG),
    "+char_lr+vote10": (*FUSION_INPUTS, "char_lr", "vote10"),
    "+char_nb+vote10": (*FUSION_INPUTS, "char_nb", "vote10"),
    "+vote10+lang": (*FUSION_INPUTS, "vote10", *LANG),
    "+char_lr+lang": (*FUSION_INPUTS, "char_lr", *LANG),
}


def caught(p: np.ndarray, y: np.ndarray, threshold: float = 0.9) -> tuple[int, int]:
    """(spam caught, false alarms) at the shipped fusion threshold."""
    hit = p >= threshold
    return int(hit[y == 1].sum()), int(hit[y == 0].sum())


def report(path: Path) -> None:
    z = np.load(path)
    fold_of, y = z["fold_of"], z["cvlab"]
    lang = np.array([f.split("_")[-1] for f in z["cvfile"]])
    devs = sorted(k[4:] for k in z.files if k.startswith("dev_"))
    sizes = {
        g: (int((y[lang == g] == 1).sum()), int((y[lang == g] == 0).sum()))
        for g in ("en", "ru", "nl")
    }
    print(
        f"block folds: spam/ham per language {sizes}; "
        "cells: caught (vs main) / false alarms (vs main)"
    )
    base: dict[str, tuple[int, int]] = {}
    for name, inputs in VARIANTS.items():
        cols = [NAMES.index(n) for n in inputs]
        p = np.zeros(len(y))
        for f in range(5):
            fusion = LogisticModel(l2=0.1)
            fusion.fit(z[f"inner{f}"][:, cols], z[f"innerlab{f}"])
            te = fold_of == f
            p[te] = fusion.probability(z["cv"][te][:, cols].astype(np.float32))
        fusion = LogisticModel(l2=0.1)
        fusion.fit(z["fullinner"][:, cols], z["fulllab"])
        cells: dict[str, tuple[int, int]] = {}
        for g in ("en", "ru", "nl"):
            cells[f"cv {g}"] = caught(p[lang == g], y[lang == g])
        for d in devs:
            pd = fusion.probability(z[f"dev_{d}"][:, cols].astype(np.float32))
            yd, ld = z[f"devlab_{d}"], z[f"devlang_{d}"]
            for g in ("en", "ru", "nl"):
                c, fa = caught(pd[ld == g], yd[ld == g])
                total = cells.get(f"dev {g}", (0, 0))
                cells[f"dev {g}"] = (total[0] + c, total[1] + fa)
        base = base or cells
        print(
            f"{name:<16} "
            + " | ".join(
                f"{k} {c}({c - base[k][0]:+d})/{fa}({fa - base[k][1]:+d})"
                for k, (c, fa) in cells.items()
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("compute")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--data", type=Path, default=ROOT / "bot/moderation/data")
    run.add_argument("--block", type=int, default=BLOCK)
    run.add_argument("--dev", action="append", help="NAME=DIR: one more dev set (tg-spam files)")
    run.add_argument("--cache", type=Path, default=Path("/tmp/spam_structure_vectors.npz"))
    show = commands.add_parser("report")
    show.add_argument("signals", type=Path)
    args = parser.parse_args()
    if args.command == "compute":
        asyncio.run(compute(args))
    else:
        report(args.signals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
