"""The young-FAQ held-out sets (bench/data/faq_young and faq_young2, each written apart from
the matcher and from each other) stay well formed: each community's FAQ imports through the
bot's own importer as a young FAQ really is (a few entries, one wording each, in its own
language), every question is labelled with one of that community's entries and reaches it from
the other two languages too, and chat and off-topic lines are never also labelled questions.
The second set also keeps most of an entry's questions in its community's language, as members
of a Russian or Dutch community mostly write. Format only: the sets are evaluated once per
finished change, never here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.faq.transfer import parse_import

DATA = Path(__file__).resolve().parents[1] / "bench" / "data"
SETS = ("faq_young", "faq_young2")
LANGUAGES = ("en", "ru", "nl")
COMMUNITIES = [
    (set_name, p.name)
    for set_name in SETS
    for p in sorted((DATA / set_name).iterdir())
    if p.is_dir()
]


def _lines(folder: Path, name: str) -> list[str]:
    return (folder / name).read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("set_name", SETS)
def test_there_are_eight_communities_of_every_size_and_language(set_name):
    names = [name for s, name in COMMUNITIES if s == set_name]
    assert len(names) == 8
    sizes, languages = [], Counter()
    for name in names:
        folder = DATA / set_name / name
        entries = json.loads((folder / "faq.json").read_text(encoding="utf-8"))["entries"]
        sizes.append(len(entries))
        languages.update({entries[0]["language"]})
    assert sum(3 <= n <= 4 for n in sizes) >= 2 and sum(8 <= n <= 9 for n in sizes) >= 2
    assert set(languages) == set(LANGUAGES)


def test_the_second_set_shares_no_community_with_the_first():
    first = {name for s, name in COMMUNITIES if s == SETS[0]}
    assert not first & {name for s, name in COMMUNITIES if s == SETS[1]}


@pytest.mark.parametrize(
    ("set_name", "name"), COMMUNITIES, ids=[f"{s}/{n}" for s, n in COMMUNITIES]
)
def test_a_community_is_a_young_faq_with_labelled_questions(set_name, name):
    folder = DATA / set_name / name
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
        if set_name == "faq_young2":
            assert 2 * asked.count(entry.language) >= len(asked), entry.id

    chat, offtopic = _lines(folder, "chat_heldout.txt"), _lines(folder, "offtopic_heldout.txt")
    assert 25 <= len(chat) <= 35 and 12 <= len(offtopic) <= 18
    for line in chat + offtopic:
        assert line == line.strip() and line and not line.startswith("#")
    unlabelled = [line.casefold() for line in chat + offtopic]
    assert len(unlabelled) == len(set(unlabelled))
    assert not set(unlabelled) & set(texts)
