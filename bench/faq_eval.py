#!/usr/bin/env python3
"""How well the FAQ matcher answers, and what a match costs as the FAQ grows.

    python bench/faq_eval.py                       # Steward's evaluation set in bench/data/faq
    python bench/faq_eval.py --faq F.json --questions Q.json --chat C.txt
    python bench/faq_eval.py --data bench/data/faq_shop --split heldout   # the independent set

The FAQ file holds entries with phrasings per language; the questions file holds unseen
paraphrases labelled with the entry they should get; the chat file holds ordinary chat lines that
must get no answer; an optional off-topic file holds questions no entry covers, which must get no
answer either. Only chat and off-topic lines that look like questions reach the matcher, as in a
group. Prints top-1 accuracy, the share answered, the precision of answers and false answers on
chat and on off-topic questions, then median and p99 time per question for FAQs of 100, 1,000 and
10,000 entries.

`--data DIR` reads DIR/faq.json and DIR/questions.json; chat lines from DIR/chat_dev.txt and
DIR/chat_heldout.txt (or a single DIR/chat.txt); off-topic questions, when present, from
DIR/offtopic_dev.txt and DIR/offtopic_heldout.txt (or a single DIR/offtopic.txt).
`--split dev|heldout` keeps the labelled questions whose "split" field has that value and the
chat and off-topic files of that split; `all` (the default) keeps everything. The held-out split
exists to be measured, never to tune against.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.faq.matcher import FaqIndex
from bot.faq.questions import looks_like_question
from bot.faq.service import index_documents
from bot.faq.transfer import parse_import
from storage.faq import Entry

LANGUAGES = ("en", "ru", "nl", "de", "fr", "es", "it", "pt", "uk", "pl", "tr")

HERE = Path(__file__).resolve().parent / "data" / "faq"
SPLITS = ("dev", "heldout")


def load_index(path: Path, **params: float) -> FaqIndex:
    """The file is read by the bot's own importer (an /faq_export file works too) and indexed
    exactly as the bot indexes its FAQ."""
    plan = parse_import(path.name, path.read_bytes(), LANGUAGES)
    entries = [
        Entry(item.id or n, None, item.language, 0, 0, item.phrasings, item.answers)
        for n, item in enumerate(plan.entries, start=1)
    ]
    return FaqIndex.build(index_documents(entries), **params)


def entry_languages(path: Path) -> dict[int, set[str]]:
    """The languages each entry has phrasings in, to pick out the cross-lingual questions."""
    plan = parse_import(path.name, path.read_bytes(), LANGUAGES)
    return {
        item.id or n: {lang for lang, _text in item.phrasings}
        for n, item in enumerate(plan.entries, start=1)
    }


def read_lines(path: Path) -> list[str]:
    """One text per line; blank lines and lines starting with # are skipped."""
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def select_split(questions: list[dict], split: str) -> list[dict]:
    if split == "all":
        return questions
    if any("split" not in q for q in questions):
        raise SystemExit(f'--split {split}: some questions have no "split" field')
    return [q for q in questions if q["split"] == split]


def split_files(folder: Path, stem: str, split: str) -> list[Path]:
    """`stem`_dev.txt or `stem`_heldout.txt, both for `all`; `stem`.txt when the set has no
    split files (then a --split dev|heldout is refused rather than silently measured on all)."""
    single = folder / f"{stem}.txt"
    if split != "all":
        path = folder / f"{stem}_{split}.txt"
        if not path.exists() and single.exists():
            raise SystemExit(f"--split {split}: {single} is not split")
        return [path] if path.exists() else []
    files = [folder / f"{stem}_{name}.txt" for name in SPLITS]
    files = [path for path in files if path.exists()]
    return files or ([single] if single.exists() else [])


def false_answers(index: FaqIndex, lines: list[str]) -> tuple[int, int]:
    """How many lines pass the question gate, and how many of those get an answer."""
    asked = [line for line in lines if looks_like_question(line)]
    return len(asked), sum(1 for line in asked if index.decide(line)[0] == "answer")


def evaluate(index: FaqIndex, questions: list[dict], chat: list[str]) -> dict[str, float]:
    answered = correct = top1 = suggested = 0
    for q in questions:
        decision, match = index.decide(q["question"])
        if match is not None and match.entry_id == q["expected"]:
            top1 += 1
        if decision == "answer":
            answered += 1
            correct += match.entry_id == q["expected"]
        elif decision == "suggest":
            offered = [e for e, score in index.ranked(q["question"]) if score >= index.suggest_from]
            suggested += q["expected"] in offered
    _asked, chat_answers = false_answers(index, chat)
    return {
        "questions": len(questions),
        "top1": top1 / len(questions) if questions else 0.0,
        "answered": answered / len(questions) if questions else 0.0,
        "precision": correct / answered if answered else 0.0,
        "suggested": suggested / len(questions) if questions else 0.0,
        "chat_lines": len(chat),
        "false_on_chat": chat_answers / len(chat) if chat else 0.0,
    }


def timing(index_size: int, questions: list[str], seed: int = 5) -> tuple[float, float, float]:
    """Synthetic FAQ of `index_size` entries built from a shuffled vocabulary, queried with the
    real questions: the cost depends on how many phrasings share features with a question."""
    rng = random.Random(seed)
    words = sorted({w for q in questions for w in q.lower().split()})
    phrasings = []
    for entry in range(index_size):
        for _ in range(3):
            phrasings.append((entry, " ".join(rng.sample(words, 7))))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a folder holding faq.json, questions.json, …")
    parser.add_argument("--split", choices=("all", *SPLITS), default="all")
    parser.add_argument("--faq", type=Path)
    parser.add_argument("--questions", type=Path)
    parser.add_argument("--chat", type=Path)
    parser.add_argument("--offtopic", type=Path, action="append", help="may be repeated")
    parser.add_argument("--errors", action="store_true")
    parser.add_argument("--no-timing", action="store_true", help="skip the cost measurement")
    args = parser.parse_args(argv)
    folder = args.data or HERE
    faq_path = args.faq or folder / "faq.json"
    index = load_index(faq_path)
    languages = entry_languages(faq_path)
    questions = json.loads((args.questions or folder / "questions.json").read_text("utf-8"))
    questions = select_split(questions, args.split)
    if args.chat or not args.data:
        chat = read_lines(args.chat or folder / "chat.txt")
    else:
        chat = [
            line for path in split_files(folder, "chat", args.split) for line in read_lines(path)
        ]
    offtopic_paths = args.offtopic or (
        split_files(folder, "offtopic", args.split) if args.data else []
    )
    offtopic = [line for path in offtopic_paths for line in read_lines(path)]
    result = evaluate(index, questions, chat)
    ungated = sum(not looks_like_question(q["question"]) for q in questions)
    print(
        f"FAQ: {len(index)} phrasings; {result['questions']} labelled questions "
        f"(split: {args.split}; {ungated} of them would not pass a group's question gate, "
        f"the matcher is asked all); {result['chat_lines']} chat lines; "
        f"{len(offtopic)} off-topic questions"
    )
    for lang in ("en", "ru", "nl"):
        part = [q for q in questions if q["language"] == lang]
        r = evaluate(index, part, chat)
        print(
            f"  {lang}: top-1 {r['top1']:.3f}, answered {r['answered']:.3f}, "
            f"precision {r['precision']:.3f}"
        )
    crossing = [q for q in questions if q["language"] not in languages.get(q["expected"], ())]
    if crossing:
        r = evaluate(index, crossing, chat)
        print(
            f"  cross-lingual ({len(crossing)} questions whose entry has no phrasing in their "
            f"language): top-1 {r['top1']:.3f}, answered {r['answered']:.3f}, "
            f"precision {r['precision']:.3f}"
        )
    print(
        f"top-1 accuracy {result['top1']:.3f}; answered {result['answered']:.3f}; "
        f"precision of answers {result['precision']:.3f}; false answers on chat "
        f"{result['false_on_chat']:.3f}"
    )
    print(
        f"not answered but the right entry among the 'Did you mean' buttons: "
        f"{result['suggested']:.3f}; so answered or rightly suggested: "
        f"{result['answered'] * result['precision'] + result['suggested']:.3f}"
    )
    chat_asked, chat_false = false_answers(index, chat)
    print(
        f"chat lines: {len(chat)}, {chat_asked} pass the question gate, {chat_false} answered: "
        f"false answers {chat_false / len(chat) if chat else 0.0:.3f} (target ≤ 0.02)"
    )
    if offtopic:
        off_asked, off_false = false_answers(index, offtopic)
        print(
            f"off-topic questions: {len(offtopic)}, {off_asked} pass the question gate, "
            f"{off_false} answered: false answers {off_false / len(offtopic):.3f} (target ≤ 0.10)"
        )
    if args.split == "heldout":
        print(
            f"held-out paraphrases: answered {result['answered']:.3f} (target ≥ 0.8), "
            f"precision {result['precision']:.3f} (target ≥ 0.9)"
        )
    if args.errors:
        for q in questions:
            decision, match = index.decide(q["question"])
            if decision != "answer" or match.entry_id != q["expected"]:
                print(
                    f"  {decision} {match and match.entry_id} "
                    f"({match and round(match.score, 2)}/{match and round(match.runner_up, 2)})"
                    f" want {q['expected']}: {q['question']}"
                )
        for line in chat:
            if looks_like_question(line) and index.decide(line)[0] == "answer":
                print(f"  false answer on chat: {line}")
        for line in offtopic:
            if looks_like_question(line) and index.decide(line)[0] == "answer":
                print(f"  false answer on off-topic: {line}")
    if args.no_timing:
        return 0
    texts = [q["question"] for q in questions]
    for size in (100, 1000, 10000):
        median, p99, build = timing(size, texts)
        print(
            f"{size:>6} entries: median {median * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms per "
            f"question (index built in {build:.2f}s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
