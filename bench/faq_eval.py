#!/usr/bin/env python3
"""How well the FAQ matcher answers, and what a match costs as the FAQ grows.

    python bench/faq_eval.py                       # Steward's evaluation set in bench/data/faq
    python bench/faq_eval.py --faq F.json --questions Q.json --chat C.txt

The FAQ file holds entries with phrasings per language; the questions file holds unseen
paraphrases labelled with the entry they should get; the chat file holds ordinary chat lines that
must get no answer. Only lines that look like questions reach the matcher, as in a group.
Prints top-1 accuracy, the share answered, the precision of answers and false answers on chat,
then median and p99 time per question for FAQs of 100, 1,000 and 10,000 entries.
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


def load_index(path: Path, **params: float) -> FaqIndex:
    """The file is read by the bot's own importer (an /faq_export file works too) and indexed
    exactly as the bot indexes its FAQ."""
    plan = parse_import(path.name, path.read_bytes(), LANGUAGES)
    entries = [
        Entry(item.id or n, None, item.language, 0, 0, item.phrasings, item.answers)
        for n, item in enumerate(plan.entries, start=1)
    ]
    return FaqIndex.build(index_documents(entries), **params)


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
    chat_answers = sum(
        1 for line in chat if looks_like_question(line) and index.decide(line)[0] == "answer"
    )
    return {
        "questions": len(questions),
        "top1": top1 / len(questions),
        "answered": answered / len(questions),
        "precision": correct / answered if answered else 0.0,
        "suggested": suggested / len(questions),
        "chat_lines": len(chat),
        "false_on_chat": chat_answers / len(chat),
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
    parser.add_argument("--faq", type=Path, default=HERE / "faq.json")
    parser.add_argument("--questions", type=Path, default=HERE / "questions.json")
    parser.add_argument("--chat", type=Path, default=HERE / "chat.txt")
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args(argv)
    index = load_index(args.faq)
    questions = json.loads(args.questions.read_text(encoding="utf-8"))
    chat = [
        line.strip()
        for line in args.chat.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    result = evaluate(index, questions, chat)
    print(
        f"FAQ: {len(index)} phrasings; {result['questions']} labelled questions; "
        f"{result['chat_lines']} chat lines"
    )
    for lang in ("en", "ru", "nl"):
        part = [q for q in questions if q["language"] == lang]
        r = evaluate(index, part, chat)
        print(
            f"  {lang}: top-1 {r['top1']:.3f}, answered {r['answered']:.3f}, "
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
                print(f"  false answer: {line}")
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
