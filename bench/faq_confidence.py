#!/usr/bin/env python3
"""Would another answer-or-not model, or more features, let the FAQ answer more? (issue 11)

    python bench/faq_confidence.py                # every comparison (~4 min to embed, once)
    python bench/faq_confidence.py --only models  # one section: features, bank, models,
                                                  # ranking, rerank or adapter
    python bench/faq_confidence.py --refresh      # re-embed instead of reading the cache

Why it exists: on the held-out paraphrases the best entry is the right one ~0.82 of the time,
but the bot answers ~0.63; the question was whether a richer confidence model closes that gap.
This script measures candidates the way bench/faq_train.py chooses the shipped model, on dev
splits only (a held-out split is never loaded): each community is scored by a model trained
without it (leave one community out), and the bot's own rule decides (`semantic.judge`: the
calibrated thresholds or the model, either one sure answers).

Two figures per candidate:
- at the threshold faq_train.py's rule picks (pooled precision >= 0.92, false answers on chat
  <= 0.015 and on off-topic questions <= 0.05), answered / precision / chat / off-topic per
  left-out community;
- the right answers (of all dev questions, pooled) at a fixed number of false answers (wrong
  entries + chat + off-topic lines answered), which compares candidates at the same cost where
  the threshold rule jumps between grid points. A difference of a few questions is noise.

Everything the features read (question vectors, lexical scores, nearest chat lines) is asked of
the bot's own FaqService once and cached in bench/results/ (not committed), so a comparison is
seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import pickle
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faq_eval import DATA, Bot
from faq_train import FEATURES, dev_sets, fit, model_and_chat, predict

from bot.faq import semantic
from bot.faq.matcher import FaqIndex
from bot.faq.questions import looks_like_question
from bot.faq.service import FaqService
from bot.semantic import Kind
from storage.database import Database

CACHE = Path(__file__).resolve().parent / "results" / "faq_confidence.pkl"
BUDGETS = (15, 20, 25, 30, 40)  # false answers, pooled over the left-out communities
BANK_WEIGHT = 0.1  # faq_train.py's


async def collect() -> dict[str, Any]:
    """Per community (data sets sharing a faq.json are one): its semantic index, the lexical
    index's entry order, and per dev line and shipped chat line what the features read."""
    embeddings, bank, selfless, chat_lines = model_and_chat()
    communities: dict[str, Any] = {}
    folders = sorted(p for p in DATA.glob("faq*") if (p / "faq.json").is_file())
    with tempfile.TemporaryDirectory() as tmp:
        for number, name, data, splits in dev_sets(folders):
            db = Database(Path(tmp) / f"c{number}.sqlite3")
            await db.open()
            bot = Bot(db, embeddings)
            service = bot.hybrid
            assert service is not None
            try:
                await bot.load(data.faq.name, data.faq.read_bytes())
                lexical = await service._ensure()
                community = communities.setdefault(
                    name,
                    {"index": service._semantic, "lexical_ids": list(lexical.entry_ids)},
                )
                rows = community.setdefault("rows", [])

                for split in splits:
                    for q in split.questions:
                        row = await read(service, lexical, q["question"], bank)
                        rows.append(row | {"want": bot.ids[q["expected"]], "kind": "q"})
                    for kind, texts in (("chat", split.chat), ("off", split.offtopic)):
                        for text in texts:
                            row = await read(service, lexical, text, bank)
                            rows.append(row | {"want": None, "kind": kind})
                if "bank" not in community:
                    community["bank"] = [
                        await read(service, lexical, t, selfless) for t in chat_lines
                    ]
                print(f"{data.name}: {len(rows)} lines in community {name}", flush=True)
            finally:
                service.close()
                await db.close()
    embeddings.close()
    return communities


async def read(
    service: FaqService, lexical: FaqIndex, text: str, chat: semantic.ChatBank
) -> dict[str, Any]:
    """What the features read about one line, but for the entries' own vectors."""
    assert service.embeddings is not None
    vector = await service.embeddings.embed_one(text, Kind.QUERY)
    scores = lexical.entry_scores(text)
    decision = service._decision(lexical, lexical.rank(scores, 3, None))
    return {
        "text": text,
        "vector": np.asarray(vector, dtype=np.float32),
        "lexical": scores,
        "lexical_kind": decision.kind,
        "lexical_best": decision.match.entry_id if decision.match else None,
        "chat": chat.nearest(vector, 10),
    }


YOU = re.compile(r"\b(you|your|jullie|je|jouw|uw|вы|вас|ваш\w*|вам)\b", re.IGNORECASE)
ME = re.compile(r"\b(i|my|me|ik|mijn|mij|я|мне|меня|мо[йяеи]\w*)\b", re.IGNORECASE)


def extra_features(
    index: semantic.SemanticIndex,
    row: dict[str, Any],
    centred: np.ndarray,
    plain: np.ndarray,
    ranked: list[tuple[int, semantic.Similarity]],
    values: dict[str, float],
) -> dict[str, float]:
    """Candidate features beyond the shipped ones (FEATURES): agreement between rankings,
    gaps further down, phrasing-level neighbours, entry density and confusability, question
    form, more chat neighbours."""
    vector = row["vector"]
    position = index.position[ranked[0][0]]
    count = len(index.entry_ids)
    owner = np.repeat(np.arange(count), np.diff(np.r_[index._starts, len(index._phrasings)]))
    phrasing = index._phrasings @ vector
    nearest = np.argsort(-phrasing)[:5]
    own = owner == position
    sorted_centred = np.sort(centred)[::-1]
    tops = np.exp((sorted_centred[:10] - sorted_centred[0]) / semantic.SOFTMAX_TEMPERATURE)
    tops /= tops.sum()
    mine = index._phrasings[own]
    density = (
        float(((mine @ mine.T).sum() - len(mine)) / (len(mine) * (len(mine) - 1)))
        if len(mine) > 1
        else 1.0
    )
    centroids = index._centred_rest[:count]
    confusion = centroids @ centroids[position]
    confusion[position] = -1.0
    language = int(np.argmax(index._directions @ vector))
    shifted = vector - index._means[language]
    centroid_scores = centroids @ shifted
    lexical = row["lexical"]
    own_lexical = lexical[row["lexical_ids"].index(ranked[0][0])]
    text = row["text"]
    return {
        "plain_agrees": float(int(np.argmax(plain)) == position),
        "centroid_agrees": float(int(np.argmax(centroid_scores)) == position),
        "lexical_first": float(own_lexical > 0 and own_lexical >= lexical.max()),
        "knn5": float((owner[nearest] == position).mean()),
        "nearest_phrasing_own": float(owner[nearest[0]] == position),
        "phrasing_margin": float(phrasing[own].max() - phrasing[~own].max(initial=0.0)),
        "gap23": float(sorted_centred[1] - sorted_centred[2]) if count > 2 else 0.0,
        "entropy": float(-(tops * np.log(tops)).sum()),
        "density": density,
        "confusability": float(confusion.max()),
        "chars": math.log(1 + len(text)),
        "question_mark": float("?" in text),
        "second_person": float(bool(YOU.search(text))),
        "first_person": float(bool(ME.search(text))),
        "chat10": float(np.mean(row["chat"])),
    }


EXTRA = (
    "plain_agrees",
    "centroid_agrees",
    "lexical_first",
    "knn5",
    "nearest_phrasing_own",
    "phrasing_margin",
    "gap23",
    "entropy",
    "density",
    "confusability",
    "chars",
    "question_mark",
    "second_person",
    "first_person",
    "chat10",
)


def table(community: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Feature rows (shipped + candidates) of lines asked of one community's FAQ, with whether
    the first place is right and whether the calibrated thresholds alone answer."""
    index: semantic.SemanticIndex = community["index"]
    ids = community["lexical_ids"]
    values, right, decided = [], [], []
    for row in lines:
        centred, plain = index.scores(row["vector"])
        meaning = index.top(centred, plain, None)
        ranked = list(meaning.items())
        best = ranked[0][0]
        opinion = semantic.LexicalOpinion.of_scores(
            best, ids, row["lexical"], np.ones(len(ids), dtype=bool)
        )
        found = semantic.features(
            index,
            row["vector"],
            ranked,
            centred.astype(np.float64),
            opinion,
            row["chat"][:3],
            row["text"],
        )
        found |= extra_features(index, row | {"lexical_ids": ids}, centred, plain, ranked, found)
        values.append(found)
        right.append(best == row.get("want"))
        decided.append(semantic.decide(meaning, row["lexical_kind"], row["lexical_best"]).kind)
    names = (*FEATURES, *EXTRA)
    return {
        "x": np.array([[v[n] for n in names] for v in values]),
        "y": np.array(right, dtype=float),
        "decided": np.array(decided) == "answer",
        "kind": np.array([row.get("kind", "bank") for row in lines]),
        "gate": np.array(
            [row.get("kind") in ("q", None) or looks_like_question(row["text"]) for row in lines]
        ),
    }


Model = Callable[[np.ndarray], np.ndarray]
Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray], Model]


def logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Model:
    """faq_train.py's model."""
    model = fit(x, y, weight)
    return lambda rows: predict(model, rows)


def stumps(rounds: int, depth: int = 1) -> Fitter:
    """Gradient-boosted trees of `depth` splits on quantile cuts, logistic loss, shrinkage 0.1."""

    def fitter(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Model:
        cuts = [
            np.unique(np.quantile(x[:, j], np.linspace(0, 1, 17)[1:-1])) for j in range(x.shape[1])
        ]
        base = math.log((weight * y).sum() / (weight * (1 - y)).sum())
        margin = np.full(len(y), base)
        trees: list[Any] = []

        def grow(rows: np.ndarray, g: np.ndarray, h: np.ndarray, level: int) -> Any:
            total_g, total_h = g[rows].sum(), h[rows].sum()
            best, split = 0.0, None
            for j in range(x.shape[1]) if level < depth else ():
                for cut in cuts[j]:
                    left = x[rows, j] <= cut
                    lg, lh = g[rows][left].sum(), h[rows][left].sum()
                    gain = lg**2 / (lh + 1) + (total_g - lg) ** 2 / (total_h - lh + 1)
                    gain -= total_g**2 / (total_h + 1)
                    if gain > best:
                        best, split = gain, (j, cut)
            if split is None:
                return -0.1 * total_g / (total_h + 1)
            left = x[rows, split[0]] <= split[1]
            return (*split, grow(rows[left], g, h, level + 1), grow(rows[~left], g, h, level + 1))

        for _ in range(rounds):
            p = 1 / (1 + np.exp(-margin))
            tree = grow(np.arange(len(y)), weight * (p - y), weight * p * (1 - p), 0)
            trees.append(tree)
            margin += apply(tree, x)
        return lambda rows: 1 / (1 + np.exp(-(base + sum(apply(t, rows) for t in trees))))

    return fitter


def apply(tree: Any, rows: np.ndarray) -> np.ndarray:
    if not isinstance(tree, tuple):
        return np.full(len(rows), tree)
    j, cut, left, right = tree
    low = rows[:, j] <= cut
    out = np.empty(len(rows))
    out[low], out[~low] = apply(left, rows[low]), apply(right, rows[~low])
    return out


def mlp(hidden: int, l2: float) -> Fitter:
    """One tanh hidden layer, Adam, 3,000 full-batch steps, fixed seed."""

    def fitter(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Model:
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        z = (x - mean) / scale
        rng = np.random.default_rng(0)
        params = [
            rng.normal(0, 0.3, (z.shape[1], hidden)),
            np.zeros(hidden),
            rng.normal(0, 0.3, hidden),
            np.zeros(1),
        ]
        moments = [np.zeros_like(p) for p in params]
        squares = [np.zeros_like(p) for p in params]
        share = weight / weight.sum()
        for step in range(1, 3001):
            h = np.tanh(z @ params[0] + params[1])
            d = share * (1 / (1 + np.exp(-(h @ params[2] + params[3][0]))) - y)
            dh = np.outer(d, params[2]) * (1 - h * h)
            grads = [
                z.T @ dh + l2 * params[0],
                dh.sum(0),
                h.T @ d + l2 * params[2],
                d.sum(keepdims=True),
            ]
            for k, g in enumerate(grads):
                moments[k] = 0.9 * moments[k] + 0.1 * g
                squares[k] = 0.999 * squares[k] + 0.001 * g * g
                params[k] -= (
                    0.05
                    * (moments[k] / (1 - 0.9**step))
                    / (np.sqrt(squares[k] / (1 - 0.999**step)) + 1e-8)
                )

        def model(rows: np.ndarray) -> np.ndarray:
            h = np.tanh(((rows - mean) / scale) @ params[0] + params[1])
            return 1 / (1 + np.exp(-(h @ params[2] + params[3][0])))

        return model

    return fitter


def leave_one_out(
    tables: dict[str, dict[str, dict[str, np.ndarray]]],
    columns: list[int],
    fitter: Fitter = logistic,
    bank_weight: float = BANK_WEIGHT,
    bank_filter: bool = False,
) -> dict[str, dict[str, np.ndarray]]:
    """Each community's dev lines scored by a model trained on the others (their gated lines
    weigh 1, their shipped chat lines `bank_weight`; `bank_filter`: without the chat lines the
    calibrated thresholds would answer, which read like real questions to that FAQ)."""
    scored = {}
    for name, own in tables.items():
        parts = [t for n, t in tables.items() if n != name]
        banks = [t["bank"] for t in parts]
        if bank_filter:
            banks = [{k: v[~b["decided"]] for k, v in b.items()} for b in banks]
        x = np.vstack(
            [t["dev"]["x"][t["dev"]["gate"]][:, columns] for t in parts]
            + [b["x"][:, columns] for b in banks]
        )
        y = np.concatenate(
            [t["dev"]["y"][t["dev"]["gate"]] for t in parts]
            + [np.zeros(len(b["x"])) for b in banks]
        )
        weight = np.concatenate(
            [np.ones(int(t["dev"]["gate"].sum())) for t in parts]
            + [np.full(len(b["x"]), bank_weight) for b in banks]
        )
        model = fitter(x, y, weight)
        scored[name] = own["dev"] | {"p": model(own["dev"]["x"][:, columns])}
    return scored


def figures(rows: dict[str, np.ndarray], at: float) -> tuple[float, float, float, float]:
    """answered, precision, false on chat, false on off-topic, as the bot decides (`judge`)."""
    answered = ((rows["p"] >= at) | rows["decided"]) & rows["gate"]
    kind = rows["kind"]
    q = kind == "q"
    asked = answered[q].sum()
    return (
        asked / max(1, q.sum()),
        (answered & (rows["y"] == 1))[q].sum() / asked if asked else 1.0,
        answered[kind == "chat"].sum() / max(1, (kind == "chat").sum()),
        answered[kind == "off"].sum() / max(1, (kind == "off").sum()),
    )


def report(label: str, scored: dict[str, dict[str, np.ndarray]]) -> None:
    pooled = {
        k: np.concatenate([s[k] for s in scored.values()])
        for k in ("p", "y", "decided", "kind", "gate")
    }
    at = 0.99
    for grid in np.round(np.arange(0.05, 0.991, 0.01), 2):
        _answered, precision, chat, off = figures(pooled, grid)
        if precision >= 0.92 and chat <= 0.015 and off <= 0.05:
            at = float(grid)
            break
    cells = [
        "{} {:.3f}/{:.3f}/{:.3f}/{:.3f}".format(name, *figures(rows, at))
        for name, rows in [*scored.items(), ("pooled", pooled)]
    ]
    right_at = []
    for budget in BUDGETS:
        best = None
        for grid in np.arange(0.30, 1.0, 0.005):
            answered = ((pooled["p"] >= grid) | pooled["decided"]) & pooled["gate"]
            wrong = answered & ((pooled["kind"] != "q") | (pooled["y"] == 0))
            if wrong.sum() <= budget:
                best = int((answered & (pooled["kind"] == "q") & (pooled["y"] == 1)).sum())
                break
        right_at.append("-" if best is None else str(best))
    print(f"{label:34} at {at:.2f}  {'  '.join(cells)}  right@false{BUDGETS}: {' '.join(right_at)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", action="store_true", help="re-embed, rewrite the cache")
    parser.add_argument(
        "--only", choices=("features", "bank", "models", "ranking", "rerank", "adapter")
    )
    args = parser.parse_args(argv)
    if args.refresh or not CACHE.is_file():
        communities = asyncio.run(collect())
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(pickle.dumps(communities))
    communities = pickle.loads(CACHE.read_bytes())
    tables = {
        name: {"dev": table(c, c["rows"]), "bank": table(c, c["bank"])}
        for name, c in communities.items()
    }
    names = [*FEATURES, *EXTRA]
    shipped = list(range(len(FEATURES)))
    questions = sum(int((t["dev"]["kind"] == "q").sum()) for t in tables.values())
    print(
        f"{questions} dev questions; per left-out community answered/precision/chat/off-topic "
        "at the threshold faq_train.py's rule picks, and right answers (pooled) at a number "
        "of false answers"
    )
    report("shipped (20 features, logistic)", leave_one_out(tables, shipped))
    if args.only in (None, "features"):
        for name in EXTRA:
            report(f"+ {name}", leave_one_out(tables, [*shipped, names.index(name)]))
        report("+ all 15", leave_one_out(tables, list(range(len(names)))))
    if args.only in (None, "bank"):
        for weight in (0.0, 0.02, 0.05, 0.2):
            report(f"chat bank weight {weight}", leave_one_out(tables, shipped, bank_weight=weight))
        for weight in (0.1, 0.2):
            scored = leave_one_out(tables, shipped, bank_weight=weight, bank_filter=True)
            report(f"bank minus threshold-answered {weight}", scored)
    if args.only in (None, "models"):
        for rounds, depth in ((100, 1), (300, 1), (100, 2)):
            report(
                f"boosted trees {rounds}x depth {depth}",
                leave_one_out(tables, shipped, stumps(rounds, depth)),
            )
        for hidden, l2 in ((4, 1e-2), (8, 1e-2), (8, 1e-3)):
            report(f"MLP {hidden} hidden, l2 {l2}", leave_one_out(tables, shipped, mlp(hidden, l2)))
    if args.only in (None, "ranking"):
        ranking(communities)
    if args.only in (None, "rerank"):
        rerank(communities)
    if args.only in (None, "adapter"):
        adapter(communities)
    return 0


def ranking(communities: dict[str, Any]) -> None:
    """Top-1 of the fused score under other fusion weights (semantic.WEIGHT_*): could the
    ranking, rather than the confidence, give more?"""
    print("\ntop-1 on dev questions per fusion weight (phrasing, answer, centroid):")
    shipped = (semantic.WEIGHT_PHRASING, semantic.WEIGHT_ANSWER, semantic.WEIGHT_CENTROID)
    try:
        for weights in (
            (1, 0.5, 1.5),
            (1, 0, 1.5),
            (1, 1, 1.5),
            (1, 0.5, 1),
            (1, 0.5, 2),
            (1, 0.5, 3),
            (2, 0.5, 1.5),
            (1, 0.75, 1.5),
        ):
            semantic.WEIGHT_PHRASING, semantic.WEIGHT_ANSWER, semantic.WEIGHT_CENTROID = weights
            cells = []
            for name, community in communities.items():
                index = community["index"]
                hits = [
                    index.entry_ids[int(np.argmax(index.scores(r["vector"])[0]))] == r["want"]
                    for r in community["rows"]
                    if r["kind"] == "q"
                ]
                cells.append(f"{name} {np.mean(hits):.3f}")
            print(f"  {weights}: {'  '.join(cells)}")
    finally:
        semantic.WEIGHT_PHRASING, semantic.WEIGHT_ANSWER, semantic.WEIGHT_CENTROID = shipped


COMPONENTS = (
    "best",
    "mean",
    "centroid",
    "answer",
    "plain_best",
    "plain_centroid",
    "plain_answer",
    "language_match",
    "phrasings",
)


def rerank(communities: dict[str, Any], depth: int = 5) -> None:
    """A learned reranker of the `depth` best entries (a conditional logit, Newton's method,
    L2): each candidate's fused scores and their gaps to the first, its `components` and its
    lexical score; trained on the other communities' dev questions. Does a learned fusion rank
    better than the fixed weights?"""
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, community in communities.items():
        index, ids = community["index"], community["lexical_ids"]
        for row in community["rows"]:
            if row["kind"] != "q":
                continue
            centred, plain = index.scores(row["vector"])
            order = np.argsort(-centred, kind="stable")[:depth]
            lexical = row["lexical"]
            x = []
            for i in order:
                entry = index.entry_ids[i]
                parts = index.components(row["vector"], entry)
                own = lexical[ids.index(entry)]
                x.append(
                    [centred[i], plain[i], centred[i] - centred[order[0]], plain[i] - plain.max()]
                    + [parts[c] for c in COMPONENTS]
                    + [own, float(own > 0 and own >= lexical.max())]
                )
            y = np.array([index.entry_ids[i] == row["want"] for i in order], dtype=float)
            groups.setdefault(name, []).append((np.array(x), y))
    print("\ntop-1, fixed fusion -> learned reranker of the best 5 (leave one out):")
    for l2 in (0.3, 1.0, 10.0):
        cells = []
        for name, own in groups.items():
            train = [g for n, gs in groups.items() if n != name for g in gs]
            stacked = np.vstack([x for x, _y in train])
            mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
            scale[scale < 1e-9] = 1.0
            w = np.zeros(stacked.shape[1])
            for _ in range(100):
                gradient, hessian = l2 * w, l2 * np.eye(len(w))
                for x, y in train:
                    if not y.any():
                        continue
                    z = (x - mean) / scale
                    p = np.exp(z @ w - (z @ w).max())
                    p /= p.sum()
                    gradient = gradient + z.T @ (p - y)
                    hessian = hessian + (z * p[:, None]).T @ z - np.outer(p @ z, p @ z)
                step = np.linalg.solve(hessian, gradient)
                w -= step
                if np.abs(step).max() < 1e-8:
                    break
            before = np.mean([y[0] for _x, y in own])
            after = np.mean([y[int(np.argmax(((x - mean) / scale) @ w))] for x, y in own])
            cells.append(f"{name} {before:.3f} -> {after:.3f}")
        print(f"  L2 {l2}: {'  '.join(cells)}")


def _unit(x: np.ndarray) -> np.ndarray:
    normalised: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return normalised


def adapter(communities: dict[str, Any]) -> None:
    """A learned linear map of the e5 space (issue 11's idea 2): a symmetric bilinear form
    q'(I + D)c between a language-centred question and an entry's centred centroid, D trained
    with a softmax over each community's entries (temperature 0.05, Adam, L2 towards the
    identity) on the other communities' dev questions, measured as the centroid-only top-1 of
    the left-out one's (the bot ranks by a fusion of three scores; this is one of them)."""
    print("\ncentroid-only top-1, without -> with a learned 384x384 adapter (leave one out):")
    sets = {}
    for name, community in communities.items():
        index = community["index"]
        count = len(index.entry_ids)
        owner = np.repeat(np.arange(count), np.diff(np.r_[index._starts, len(index._phrasings)]))
        means = index._means.astype(np.float64)
        phrasings = _unit(index._phrasings.astype(np.float64) - means[index._codes])
        centroids = _unit(np.array([phrasings[owner == e].sum(axis=0) for e in range(count)]))
        rows = [r for r in community["rows"] if r["kind"] == "q"]
        queries = np.array([r["vector"] for r in rows], dtype=np.float64)
        language = np.argmax(queries @ index._directions.T, axis=1)
        want = np.array([index.position[r["want"]] for r in rows])
        sets[name] = (_unit(queries - means[language]), centroids, want)
    for l2 in (1.0, 0.1, 0.01):
        cells = []
        for name, (queries, centroids, want) in sets.items():
            delta = np.zeros((queries.shape[1], queries.shape[1]))
            moment, square = np.zeros_like(delta), np.zeros_like(delta)
            others = [s for n, s in sets.items() if n != name]
            total = sum(len(s[2]) for s in others)
            for step in range(1, 201):
                gradient = l2 * delta
                for q, c, t in others:
                    logits = q @ (c + c @ delta.T).T / 0.05
                    p = np.exp(logits - logits.max(axis=1, keepdims=True))
                    p /= p.sum(axis=1, keepdims=True)
                    p[np.arange(len(t)), t] -= 1
                    gradient += q.T @ p @ c / 0.05 / total
                gradient = (gradient + gradient.T) / 2
                moment = 0.9 * moment + 0.1 * gradient
                square = 0.999 * square + 0.001 * gradient * gradient
                delta -= (
                    0.01 * (moment / (1 - 0.9**step)) / (np.sqrt(square / (1 - 0.999**step)) + 1e-8)
                )
            before = np.mean(np.argmax(queries @ centroids.T, axis=1) == want)
            after = np.mean(
                np.argmax(queries @ (centroids @ (np.eye(len(delta)) + delta).T).T, axis=1) == want
            )
            cells.append(f"{name} {before:.3f} -> {after:.3f}")
        print(f"  L2 {l2}: {'  '.join(cells)}")


if __name__ == "__main__":
    sys.exit(main())
