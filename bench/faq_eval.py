#!/usr/bin/env python3
"""How well the FAQ answers, with and without the semantic model, side by side in one run.

    python bench/faq_eval.py                  # every data set in bench/data/faq*
    python bench/faq_eval.py --split dev      # development data only (for tuning)
    python bench/faq_eval.py --split heldout  # held-out splits only (to report, never to tune)
    python bench/faq_eval.py --errors         # also list the hybrid matcher's mistakes (dev only)
    python bench/faq_eval.py --calibrate      # the threshold grid, computed on dev splits only
    python bench/faq_eval.py --timing         # also the lexical cost for 100 .. 10,000 entries
    python bench/faq_eval.py --thin           # each entry one wording, one answer (a young FAQ)

A data set is a folder with faq.json (the bot's own export format, loaded by its importer),
questions.json (paraphrases labelled with the entry they should get; "split": "dev" or
"heldout"; a set without splits is one "all" split, used like dev), chat_<split>.txt or
chat.txt (ordinary chat lines, expected: no answer) and optionally offtopic_<split>.txt
(questions no entry covers, expected: no answer).

Everything goes through the bot's own FaqService on a throwaway SQLite database: the same
import, the same index, the same decision (the question gate too for chat and off-topic lines,
as in a group). "lexical" is the bot with SEMANTIC_MODEL=off; "hybrid" with the bundled model.
Thresholds were calibrated on dev splits only; held-out figures are reported, never tuned on.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.faq import semantic
from bot.faq.matcher import FaqIndex
from bot.faq.questions import MessageForm, looks_like_question, message_form
from bot.faq.service import Decision, FaqService
from bot.faq.transfer import parse_import
from bot.semantic import create_embedding_service
from storage.database import Database
from storage.faq import FaqRepository, FaqVectorRepository

LANGUAGES = ("en", "ru", "nl", "de", "fr", "es", "it", "pt", "uk", "pl", "tr")
DATA = Path(__file__).resolve().parent / "data"


def lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def thin_faq(content: bytes, language: str | None = None) -> bytes:
    """The FAQ as a new community writes it with `/faq_add <question> | <answer>`: each entry
    keeps its first wording and its answer in its own language, no other wordings and no
    translations. The data sets' FAQs carry several wordings in three languages; the thin one is
    where a young FAQ starts, and where the answer model's features (wordings per entry, the
    centroid, a wording in the asker's language) look least like its training.

    `language`: the FAQ of a community that writes in that language (a Russian or a Dutch one):
    each entry keeps its first wording and answer in `language` where it has them, as its own
    language; an entry written only in another language keeps that one."""
    data = json.loads(content)
    for entry in data["entries"]:
        phrasings = entry["phrasings"]
        own = entry.get("language") or next(iter(phrasings))
        kept = language if language and phrasings.get(language) else own
        entry["phrasings"] = {kept: phrasings[kept][:1]}
        answers = entry.get("answers") or {}
        if answers:
            said = kept if kept in answers else next(iter(answers))
            entry["answers"] = {said: answers[said]}
        if "language" in entry:
            entry["language"] = kept if kept in answers else entry["language"]
    return json.dumps(data, ensure_ascii=False).encode()


def subset_faq(content: bytes, keep: set[int]) -> bytes:
    """Only the entries (file ids) in `keep`: a FAQ of a few entries, whose community's other
    questions are then questions it has no answer for."""
    data = json.loads(content)
    data["entries"] = [entry for entry in data["entries"] if entry["id"] in keep]
    return json.dumps(data, ensure_ascii=False).encode()


@dataclass
class Split:
    name: str
    questions: list[dict]
    offtopic: list[str]
    chat: list[str]


@dataclass
class DataSet:
    name: str
    faq: Path
    splits: list[Split]

    @classmethod
    def load(cls, folder: Path) -> DataSet:
        questions = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
        # a set without splits (Steward's own) is one "all" split, calibrated on like a dev one
        names = sorted({q.get("split", "all") for q in questions}, key=lambda n: n == "heldout")
        splits = [
            Split(
                name,
                [q for q in questions if q.get("split", "all") == name],
                lines(folder / f"offtopic_{name}.txt"),
                lines(folder / f"chat_{name}.txt") or lines(folder / "chat.txt"),
            )
            for name in names
        ]
        return cls(folder.name, folder / "faq.json", splits)


@dataclass
class Tally:
    questions: int = 0
    top1: int = 0
    answered: int = 0
    correct: int = 0
    suggested_right: int = 0
    chat: int = 0
    chat_answered: int = 0
    chat_suggested: int = 0
    offtopic: int = 0
    offtopic_answered: int = 0
    gated_out: int = 0  # labelled questions a group would not even ask the matcher
    group_answered: int = 0  # answered as in a group: statements only when the model is sure
    group_correct: int = 0
    questions_answered: int = 0  # in a group, were statements never answered (before 12/2026)
    questions_correct: int = 0
    cross: int = 0  # questions in a language their entry has no wording in
    cross_answered: int = 0
    cross_correct: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        """Pool another set's counts into these (figures over several small FAQs)."""
        for name, value in vars(other).items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)

    def row(self) -> dict[str, float | None]:
        n = self.questions or 1
        return {
            "top-1": self.top1 / n,
            "answered": self.answered / n,
            "precision": self.correct / self.answered if self.answered else 0.0,
            "answered in a group": self.group_answered / n,
            "precision in a group": (
                self.group_correct / self.group_answered if self.group_answered else 0.0
            ),
            "in a group, questions only": self.questions_answered / n,
            "  precision of those": (
                self.questions_correct / self.questions_answered if self.questions_answered else 0.0
            ),
            "did-you-mean right": self.suggested_right / n,
            "false on chat": self.chat_answered / self.chat if self.chat else None,
            "did-you-mean on chat": self.chat_suggested / self.chat if self.chat else None,
            "cross-lingual answered": self.cross_answered / self.cross if self.cross else None,
            "cross-lingual precision": (
                self.cross_correct / self.cross_answered if self.cross_answered else None
            ),
            "false on off-topic": (
                self.offtopic_answered / self.offtopic if self.offtopic else None
            ),
        }


class Bot:
    """The FAQ part of the bot over one data set, lexical and hybrid, on one database."""

    def __init__(self, db: Database, embeddings) -> None:
        repo = FaqRepository(db)
        self.lexical = FaqService(repo)
        self.hybrid = FaqService(repo, embeddings, FaqVectorRepository(db)) if embeddings else None
        self.ids: dict[int, int] = {}
        self.languages: dict[int, set[str]] = {}  # file id -> languages of its wordings

    async def load(self, name: str, content: bytes) -> None:
        plan = parse_import(name, content, LANGUAGES)
        before = {e.id for e in await self.lexical.repo.all_live()}
        await self.lexical.apply_import(plan, None, None, True)
        new = sorted(e.id for e in await self.lexical.repo.all_live() if e.id not in before)
        self.ids = {item.id: db_id for item, db_id in zip(plan.entries, new, strict=True)}
        self.languages = {item.id: {lang for lang, _t in item.phrasings} for item in plan.entries}
        if self.hybrid is not None:
            await self.hybrid.refresh(wait=0)
            if not await self.hybrid.wait_semantic(3600):
                raise SystemExit("the semantic index could not be built")


async def in_a_group(service: FaqService, text: str) -> Decision:
    """The decision's kind as a member's group message gets it: a question is matched, a
    statement answered only when the model is sure (`decide_statement`), the rest ignored."""
    form = message_form(text)
    if form is MessageForm.QUESTION:
        return await service.decide(text, None)
    if form is MessageForm.STATEMENT:
        return await service.decide_statement(text, None)
    return Decision("none", None, [])


async def evaluate(bot: Bot, service: FaqService, split: Split) -> Tally:
    """Labelled questions are scored twice: as asked of the matcher (every one, whatever its
    form: "answered", "precision") and as a group gets them ("in a group": the question gate,
    statements by the sure model alone). Chat and off-topic lines only as in a group."""
    tally = Tally(questions=len(split.questions))
    tally.gated_out = sum(not looks_like_question(q["question"]) for q in split.questions)
    for q in split.questions:
        decision = await service.decide(q["question"], None)
        want = bot.ids[q["expected"]]
        got = decision.match.entry_id if decision.match else None
        tally.top1 += got == want
        if decision.kind == "answer":
            tally.answered += 1
            tally.correct += got == want
        if message_form(q["question"]) is MessageForm.QUESTION:
            grouped = decision  # the group asks the matcher the same: not asked twice
            tally.questions_answered += decision.kind == "answer"
            tally.questions_correct += decision.kind == "answer" and got == want
        else:
            grouped = await in_a_group(service, q["question"])
        if grouped.kind == "answer":
            tally.group_answered += 1
            tally.group_correct += grouped.match is not None and grouped.match.entry_id == want
        if q["language"] not in bot.languages[q["expected"]]:
            tally.cross += 1
            tally.cross_answered += decision.kind == "answer"
            tally.cross_correct += decision.kind == "answer" and got == want
        elif decision.kind == "suggest":
            tally.suggested_right += want in decision.suggestions
        if decision.kind != "answer" or got != want:
            tally.errors.append(f"{decision.kind:7} got #{got} want #{want}: {q['question']}")
    for line in split.chat:
        tally.chat += 1
        decision = await in_a_group(service, line)
        tally.chat_answered += decision.kind == "answer"
        tally.chat_suggested += decision.kind == "suggest" and bool(decision.suggestions)
        if decision.kind == "answer":
            tally.errors.append(f"answer  on chat: {line}")
    for line in split.offtopic:
        tally.offtopic += 1
        decision = await in_a_group(service, line)
        tally.offtopic_answered += decision.kind == "answer"
        if decision.kind == "answer":
            tally.errors.append(f"answer  on off-topic: {line}")
    return tally


def fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def print_table(name: str, split: Split, lexical: Tally, hybrid: Tally | None) -> None:
    n = lexical.questions
    print(
        f"\n{name} / {split.name}: {n} labelled questions (split: {split.name}; "
        f"{lexical.gated_out} would not pass the question gate in a group), chat lines: "
        f"{lexical.chat}, off-topic questions: {lexical.offtopic},"
    )
    print(f"  {'':22} {'lexical':>8} {'hybrid':>8}")
    hybrid_row = hybrid.row() if hybrid else {}
    for key, value in lexical.row().items():
        print(f"  {key:22} {fmt(value):>8} {fmt(hybrid_row.get(key)):>8}")
    if split.name == "heldout":
        best = hybrid or lexical
        row = best.row()
        print(
            f"  held-out paraphrases: answered {row['answered']:.3f} with precision "
            f"{row['precision']:.3f} ({'with' if hybrid else 'without'} the model)"
        )


async def collect_scores(
    service: FaqService, bot: Bot, split: Split
) -> list[tuple[dict[int, float], str, int | None, int | None]]:
    """(semantic scores, lexical kind, lexical best, wanted entry or None) per dev line."""
    rows = []
    items = [(q["question"], bot.ids[q["expected"]]) for q in split.questions]
    items += [(line, None) for line in split.chat + split.offtopic if looks_like_question(line)]
    for text, want in items:
        lexical, meaning = await service.candidates(text, None)
        best = lexical.match.entry_id if lexical.match else None
        rows.append((meaning or {}, lexical.kind, best, want))
    return rows


def calibrate(per_set: dict[str, list]) -> None:
    """The grid behind semantic.CALIBRATED: dev data only. A wrong answer (or any answer to a
    negative line) costs nine right ones: precision 0.9, the target, breaks even."""
    print("\nCalibration on dev splits (answered / precision / false on negatives per set):")
    grid = []
    for answer_at, margin, raw_at in itertools.product(
        [0.30 + 0.01 * i for i in range(18)],
        [0.01 * i for i in range(11)],
        [0.86, 0.865, 0.87, 0.875, 0.88],
    ):
        limits = dataclasses.replace(
            semantic.CALIBRATED, answer_at=answer_at, margin=margin, raw_at=raw_at
        )
        utility, figures = 0.0, []
        for rows in per_set.values():
            right = wrong = false = positives = negatives = 0
            for scores, lex_kind, lex_best, want in rows:
                d = semantic.decide(scores, lex_kind, lex_best, limits)
                answered = d.kind == "answer"
                if want is None:
                    negatives += 1
                    false += answered
                else:
                    positives += 1
                    right += answered and d.match.entry_id == want
                    wrong += answered and d.match.entry_id != want
            utility += (right - 9 * wrong) / max(1, positives) - 9 * false / max(1, negatives)
            figures.append(
                f"{(right + wrong) / max(1, positives):.2f}/"
                f"{right / max(1, right + wrong):.2f}/{false / max(1, negatives):.2f}"
            )
        grid.append((utility, limits, figures))
    grid.sort(key=lambda g: -g[0])
    print(f"  sets: {', '.join(per_set)}; shipped: {semantic.CALIBRATED}")
    for utility, limits, figures in grid[:10]:
        print(
            f"  {utility:6.3f}  answer_at {limits.answer_at:.2f} margin {limits.margin:.2f} "
            f"raw_at {limits.raw_at:.3f}  {'  '.join(figures)}"
        )


def timing(index_size: int, questions: list[str], seed: int = 5) -> tuple[float, float, float]:
    """Lexical cost on a synthetic FAQ of `index_size` entries (bench/faq_cost.py measures the
    whole bot with the model)."""
    rng = random.Random(seed)
    words = sorted({w for q in questions for w in q.lower().split()})
    phrasings = [
        (entry, " ".join(rng.sample(words, 7))) for entry in range(index_size) for _ in range(3)
    ]
    started = time.perf_counter()
    index = FaqIndex.build(phrasings)
    build = time.perf_counter() - started
    costs = []
    for q in questions:
        t = time.perf_counter()
        index.decide(q)
        costs.append(time.perf_counter() - t)
    costs.sort()
    return statistics.median(costs), costs[int(0.99 * (len(costs) - 1))], build


async def run(args: argparse.Namespace) -> int:
    folders = args.data or sorted(p for p in DATA.glob("faq*") if (p / "faq.json").is_file())
    embeddings = None if args.no_model else create_embedding_service("builtin")
    if embeddings is None and not args.no_model:
        print("the semantic model is unavailable: lexical figures only")
    if embeddings is not None:
        print(f"model: {embeddings.model_id}")
    dev_scores: dict[str, list] = {}
    all_questions: list[str] = []
    pooled: dict[str, tuple[Tally, Tally | None]] = {}  # per split, over every data set
    with tempfile.TemporaryDirectory() as tmp:
        for number, folder in enumerate(folders):
            data = DataSet.load(folder)
            if args.split != "all":
                # a set without splits is development data: "dev" includes it
                wanted = {args.split, "all"} if args.split == "dev" else {args.split}
                data.splits = [split for split in data.splits if split.name in wanted]
                if not data.splits:
                    print(f"\n{data.name}: no {args.split} split, skipped")
                    continue
            db = Database(Path(args.vectors or tmp) / f"eval-{number}-{data.name}.sqlite3")
            await db.open()
            await db.execute("DELETE FROM faq_entries")  # a kept database keeps its vectors only
            bot = Bot(db, embeddings)
            try:
                content = data.faq.read_bytes()
                if args.thin:
                    content = thin_faq(content, args.thin_language)
                    data.name += f" (thin{', ' + args.thin_language if args.thin_language else ''})"
                await bot.load(data.faq.name, content)
                for split in data.splits:
                    all_questions += [q["question"] for q in split.questions]
                    lexical = await evaluate(bot, bot.lexical, split)
                    hybrid = await evaluate(bot, bot.hybrid, split) if bot.hybrid else None
                    print_table(data.name, split, lexical, hybrid)
                    pool = pooled.setdefault(split.name, (Tally(), Tally() if hybrid else None))
                    pool[0].add(lexical)
                    if hybrid is not None and pool[1] is not None:
                        pool[1].add(hybrid)
                    if args.errors and split.name != "heldout" and hybrid is not None:
                        print("  hybrid mistakes:")
                        for line in hybrid.errors:
                            print(f"    {line}")
                    if args.calibrate and split.name != "heldout" and bot.hybrid is not None:
                        dev_scores[data.name] = await collect_scores(bot.hybrid, bot, split)
            finally:
                if bot.hybrid is not None:
                    bot.hybrid.close()
                await db.close()
    if len(folders) > 1:  # e.g. the small FAQs of bench/data/faq_young, one folder each
        for name, (lexical, hybrid) in pooled.items():
            print_table(
                f"pooled over {len(folders)} data sets", Split(name, [], [], []), lexical, hybrid
            )
    if args.calibrate and dev_scores:
        calibrate(dev_scores)
    if args.timing:
        print()
        for size in (100, 1000, 10000):
            median, p99, build = timing(size, all_questions)
            print(
                f"lexical, {size:>6} entries: median {median * 1000:.3f} ms, p99 "
                f"{p99 * 1000:.3f} ms per question (index built in {build:.2f}s)"
            )
    if embeddings is not None:
        embeddings.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", help="a data set folder")
    parser.add_argument("--errors", action="store_true")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--no-timing", action="store_false", dest="timing")
    parser.add_argument("--split", default="all", help="dev, heldout or all (the default)")
    parser.add_argument("--no-model", action="store_true", help="lexical figures only")
    parser.add_argument(
        "--thin",
        action="store_true",
        help="each entry reduced to one wording and one answer in its language (thin_faq)",
    )
    parser.add_argument(
        "--thin-language",
        choices=("en", "ru", "nl"),
        help="with --thin: the FAQ a community writing in this language would have",
    )
    parser.add_argument("--vectors", type=Path, help="keep the databases (and vectors) here")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
