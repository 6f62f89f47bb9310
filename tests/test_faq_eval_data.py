"""The independent FAQ evaluation set (bench/data/faq_shop) stays usable and honest: every entry
imports through the bot's own importer, every label points at an entry, the dev and held-out
splits never share a text, and bench/faq_eval.py measures it split by split."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.faq.transfer import parse_import

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "bench" / "data" / "faq_shop"
LANGUAGES = ("en", "ru", "nl")


def _lines(name: str) -> list[str]:
    text = (SHOP / name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _bench():
    spec = importlib.util.spec_from_file_location("faq_eval", ROOT / "bench" / "faq_eval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plan():
    path = SHOP / "faq.json"
    return parse_import(path.name, path.read_bytes(), LANGUAGES)


@pytest.fixture(scope="module")
def questions():
    return json.loads((SHOP / "questions.json").read_text(encoding="utf-8"))


def test_every_entry_imports_and_a_third_are_english_only(plan):
    assert plan.rejected == []
    assert len(plan.entries) == 40
    assert len({entry.id for entry in plan.entries}) == 40
    languages = [frozenset(lang for lang, _ in entry.phrasings) for entry in plan.entries]
    assert Counter(languages) == {frozenset(LANGUAGES): 25, frozenset({"en"}): 15}
    for entry in plan.entries:
        assert set(entry.answers) == {lang for lang, _ in entry.phrasings}
        assert all(2 <= n <= 3 for n in Counter(lang for lang, _ in entry.phrasings).values())


def test_questions_are_labelled_split_and_not_copies_of_phrasings(plan, questions):
    ids = {entry.id for entry in plan.entries}
    phrasings = {text.casefold() for entry in plan.entries for _, text in entry.phrasings}
    texts = [q["question"].casefold() for q in questions]
    assert len(texts) == len(set(texts)) >= 240
    assert not phrasings & set(texts)
    assert {q["expected"] for q in questions} == ids
    assert {q["split"] for q in questions} == {"dev", "heldout"}
    counts = Counter(q["language"] for q in questions)
    assert set(counts) == set(LANGUAGES) and max(counts.values()) - min(counts.values()) <= 5
    for lang in LANGUAGES:
        part = [q for q in questions if q["language"] == lang]
        dev = sum(q["split"] == "dev" for q in part) / len(part)
        assert 0.28 <= dev <= 0.38, lang
    english_only = {e.id for e in plan.entries if {lang for lang, _ in e.phrasings} == {"en"}}
    crossing = [q for q in questions if q["expected"] in english_only and q["language"] != "en"]
    assert len(crossing) >= 40


def test_chat_and_offtopic_splits_are_disjoint_and_unlabelled(questions):
    asked = {q["question"].casefold() for q in questions}
    for stem, least in (("chat", 140), ("offtopic", 80)):
        dev, heldout = _lines(f"{stem}_dev.txt"), _lines(f"{stem}_heldout.txt")
        assert len(dev) + len(heldout) >= least
        assert len(heldout) > len(dev) > 0
        assert not {t.casefold() for t in dev} & {t.casefold() for t in heldout}
        assert not {t.casefold() for t in dev + heldout} & asked


def test_the_evaluation_reads_one_split_at_a_time(capsys):
    bench = _bench()
    # lexical only, to stay fast: the model's figures come from running the bench itself
    args = ["--data", str(SHOP), "--split", "heldout", "--no-timing", "--no-model"]
    assert bench.main(args) == 0
    out = capsys.readouterr().out
    heldout = json.loads((SHOP / "questions.json").read_text(encoding="utf-8"))
    n = sum(q["split"] == "heldout" for q in heldout)
    assert f"{n} labelled questions (split: heldout;" in out
    assert f"chat lines: {len(_lines('chat_heldout.txt'))}," in out
    assert f"off-topic questions: {len(_lines('offtopic_heldout.txt'))}," in out
    assert "cross-lingual" in out and "held-out paraphrases: answered" in out
    # every set: a held-out run leaves out the sets that have none (development data only)
    assert bench.main(["--split", "heldout", "--no-timing", "--no-model"]) == 0
    out = capsys.readouterr().out
    assert "faq: no heldout split, skipped" in out
    assert "faq_shop / heldout:" in out and "/ dev:" not in out and "/ all:" not in out
