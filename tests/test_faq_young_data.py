"""The young-FAQ held-out set (bench/data/faq_young) stays well formed: each community's FAQ
imports through the bot's own importer as a young FAQ really is (a few entries, one wording
each, in its own language), every question is labelled with one of that community's entries
and reaches it from the other two languages too, and chat and off-topic lines are never also
labelled questions. Format only: the set is evaluated once per finished change, never here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.faq.transfer import parse_import

YOUNG = Path(__file__).resolve().parents[1] / "bench" / "data" / "faq_young"
LANGUAGES = ("en", "ru", "nl")
COMMUNITIES = sorted(p.name for p in YOUNG.iterdir() if p.is_dir())


def _lines(folder: Path, name: str) -> list[str]:
    return (folder / name).read_text(encoding="utf-8").splitlines()


def test_there_are_eight_communities_of_every_size_and_language():
    assert len(COMMUNITIES) == 8
    sizes, languages = [], Counter()
    for name in COMMUNITIES:
        entries = json.loads((YOUNG / name / "faq.json").read_text(encoding="utf-8"))["entries"]
        sizes.append(len(entries))
        languages.update({entries[0]["language"]})
    assert sum(3 <= n <= 4 for n in sizes) >= 2 and sum(8 <= n <= 9 for n in sizes) >= 2
    assert set(languages) == set(LANGUAGES)


@pytest.mark.parametrize("name", COMMUNITIES)
def test_a_community_is_a_young_faq_with_labelled_questions(name):
    folder = YOUNG / name
    plan = parse_import("faq.json", (folder / "faq.json").read_bytes(), LANGUAGES)
    assert plan.rejected == []
    assert 3 <= len(plan.entries) <= 9
    assert len({entry.id for entry in plan.entries}) == len(plan.entries)
    for entry in plan.entries:
        assert [lang for lang, _ in entry.phrasings] == [entry.language]
        assert set(entry.answers) == {entry.language}

    questions = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
    texts = [q["question"].casefold() for q in questions]
    assert len(texts) == len(set(texts))
    assert not {text.casefold() for e in plan.entries for _, text in e.phrasings} & set(texts)
    assert {q["split"] for q in questions} == {"heldout"}
    assert {q["language"] for q in questions} == set(LANGUAGES)
    assert {q["expected"] for q in questions} == {entry.id for entry in plan.entries}
    for entry in plan.entries:
        asked = [q["language"] for q in questions if q["expected"] == entry.id]
        assert 5 <= len(asked) <= 7, entry.id
        assert set(asked) == set(LANGUAGES), entry.id

    chat, offtopic = _lines(folder, "chat_heldout.txt"), _lines(folder, "offtopic_heldout.txt")
    assert 25 <= len(chat) <= 35 and 12 <= len(offtopic) <= 18
    for line in chat + offtopic:
        assert line == line.strip() and line and not line.startswith("#")
    unlabelled = [line.casefold() for line in chat + offtopic]
    assert len(unlabelled) == len(set(unlabelled))
    assert not set(unlabelled) & set(texts)
