"""Semantic FAQ matching without Telegram and without the model: made-up vectors decide."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from bot.faq import semantic
from bot.faq.semantic import EntryVectors, SemanticIndex, Thresholds
from bot.faq.service import FaqService
from bot.semantic import EmbeddingService, Kind
from storage.database import Database
from storage.faq import Answer, FaqRepository, FaqVectorRepository


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_scores_fuse_best_phrasing_centroid_and_answer():
    a, b, c = unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)
    index = SemanticIndex(
        [
            EntryVectors(1, [a, b], [a]),
            EntryVectors(2, [c], []),  # no text answer: the phrasing stands in for it
            EntryVectors(3, [], [a]),  # no phrasing: not matchable
        ],
        dim=3,
    )
    assert index.entry_ids == [1, 2]
    scores = index.score_map(a)
    centroid = float(unit(1, 1, 0) @ a)
    expected = (1.0 * 1 + 0.5 * 1 + 1.5 * centroid) / 3
    assert scores[1][1] == pytest.approx(expected, abs=1e-6)
    assert scores[2][1] == pytest.approx(0.0, abs=1e-6)
    assert index.score_map(c)[2][1] == pytest.approx(1.0, abs=1e-6)
    # the centred scores rank the same way here
    assert scores[1][0] > scores[2][0]
    assert index.score_map(c)[2][0] > index.score_map(c)[1][0]


def bilingual_faq() -> tuple[SemanticIndex, np.ndarray]:
    """Ten topics, nine worded in English and Russian, the last in English only; every vector
    is mostly its language and what all questions share, as e5's are."""
    dim = 13  # topics 0-9, English 10, Russian 11, shared 12

    def text(topic: int, language: int, strength: float = 1.0) -> np.ndarray:
        v = np.zeros(dim, dtype=np.float32)
        v[topic], v[language], v[12] = strength, 1.2, 2.0
        return v / np.linalg.norm(v)

    entries = [EntryVectors(t, [text(t, 10), text(t, 11)], [], ["en", "ru"]) for t in range(9)] + [
        EntryVectors(9, [text(9, 10), text(9, 10, 0.9)], [], ["en", "en"])
    ]
    return SemanticIndex(entries, dim), text(9, 11, 0.8)  # a Russian question on topic 9


def test_language_centring_finds_the_entry_worded_in_another_language():
    index, russian_question = bilingual_faq()
    assert index.language_of(russian_question) == "ru"
    scores = index.score_map(russian_question)
    # plain cosines prefer any Russian wording to the right English-only entry ...
    assert max(scores, key=lambda e: scores[e][1]) != 9
    # ... the language-centred ones find it
    assert max(scores, key=lambda e: scores[e][0]) == 9


def test_centred_scores_equal_comparing_centred_vectors_directly():
    """The index derives centred phrasing similarities from the plain ones (one mat-vec, not
    two); the shortcut must give what centring every vector would."""
    rng = np.random.default_rng(3)
    dim = 16
    vectors = rng.standard_normal((9, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    languages = ["en", "ru", "nl", "en", "ru", "en", "nl", "en", "ru"]
    entries = [
        EntryVectors(1, list(vectors[0:3]), [], languages[0:3]),
        EntryVectors(2, list(vectors[3:5]), [], languages[3:5]),
        EntryVectors(3, list(vectors[5:9]), [], languages[5:9]),
    ]
    index = SemanticIndex(entries, dim)
    query = unit(*rng.standard_normal(dim))
    names = sorted(set(languages))
    codes = np.array([names.index(lang) for lang in languages])
    overall = vectors.sum(axis=0) / (len(vectors) + semantic.PRIOR_TEXTS)
    means = np.stack(
        [
            (vectors[codes == k].sum(axis=0) + semantic.LANGUAGE_PRIOR_TEXTS * overall)
            / ((codes == k).sum() + semantic.LANGUAGE_PRIOR_TEXTS)
            for k in range(len(names))
        ]
    )
    nearest = int(np.argmax((means / np.linalg.norm(means, axis=1, keepdims=True)) @ query))
    assert index.language_of(query) == names[nearest]
    q = (query - means[nearest]) / np.linalg.norm(query - means[nearest])
    rows = vectors - means[codes]
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    best = [max(rows[i] @ q for i in part) for part in (range(0, 3), range(3, 5), range(5, 9))]
    centroids = [rows[a:b].sum(axis=0) for a, b in ((0, 3), (3, 5), (5, 9))]
    centroid = [float(c @ q / np.linalg.norm(c)) for c in centroids]
    expected = [(1.0 * b + 0.5 * b + 1.5 * c) / 3 for b, c in zip(best, centroid, strict=True)]
    centred, _plain = index.scores(query)
    assert centred == pytest.approx(expected, abs=1e-5)


def test_decision_needs_the_thresholds_and_the_margin_or_lexical_agreement():
    limits = Thresholds(
        answer_at=0.4, margin=0.05, raw_at=0.87, suggest_from=0.3, suggest_raw_at=0.86
    )
    clear = semantic.decide({1: (0.5, 0.9), 2: (0.3, 0.86)}, "none", None, limits)
    assert clear.kind == "answer" and clear.match.entry_id == 1 and clear.suggestions == [1]
    close = semantic.decide({1: (0.5, 0.9), 2: (0.48, 0.9)}, "none", None, limits)
    assert close.kind == "suggest" and close.suggestions == [1, 2]
    # the lexical matcher answering the same entry is a second opinion: no margin needed
    assert semantic.decide({1: (0.5, 0.9), 2: (0.48, 0.9)}, "answer", 1, limits).kind == ("answer")
    assert semantic.decide({1: (0.5, 0.9), 2: (0.48, 0.9)}, "answer", 2, limits).kind == ("suggest")
    # far from the whole FAQ (a plain cosine under raw_at): no answer, however distinct
    far = semantic.decide({1: (0.6, 0.85), 2: (0.1, 0.8)}, "answer", 1, limits)
    assert far.kind == "none" and far.suggestions == []
    assert semantic.decide({1: (0.2, 0.88), 2: (0.1, 0.8)}, "none", None, limits).kind == "none"
    assert semantic.decide({}, "none", None, limits).kind == "none"


TOPICS = {0: ("refund", "money", "деньги"), 1: ("ship", "abroad", "границ"), 2: ("open",)}


class TopicBackend:
    """Vectors from keywords: texts about the same topic point the same way, in any language."""

    model_id = "test:topics"
    dim = 4

    def __init__(self, model_id: str = "test:topics") -> None:
        self.model_id = model_id
        self.calls = 0
        self.gate: threading.Event | None = None

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(5)
        self.calls += 1
        out = np.full((len(texts), self.dim), 0.05, dtype=np.float32)
        for row, text in enumerate(texts):
            for axis, words in TOPICS.items():
                out[row, axis] += sum(w in text.lower() for w in words)
            out[row, 3] += 0.5  # what every text shares
        return out / np.linalg.norm(out, axis=1, keepdims=True)


async def faq_with(db: Database, backend: TopicBackend) -> tuple[FaqService, EmbeddingService]:
    service = EmbeddingService(backend)
    return FaqService(FaqRepository(db), service, FaqVectorRepository(db)), service


async def seed(repo: FaqRepository) -> None:
    await repo.add(
        None, "en", [("en", "What is your refund policy?")], Answer("en", "Full refund."), None, 1
    )
    await repo.add(
        None, "en", [("en", "Do you ship abroad?")], Answer("en", "Yes, EU-wide."), None, 1
    )


async def test_vectors_are_stored_reused_and_recomputed_once_for_a_new_model(db_target):
    db = Database(db_target)
    await db.open()
    try:
        await seed(FaqRepository(db))
        faq, service = await faq_with(db, TopicBackend())
        await faq.warm_up()
        assert await faq.wait_semantic(5)
        assert service.computed == 4
        decision = await faq.decide("can I get my money back?", None)
        assert decision.kind == "answer" and decision.match.entry_id == 1
        # another process start: everything comes from the database
        again, service2 = await faq_with(db, TopicBackend())
        await again.warm_up()
        assert await again.wait_semantic(5) and service2.computed == 0
        assert (await again.decide("вернут ли деньги?", None)).match.entry_id == 1
        # a new model computes once, and the old model's vectors are forgotten
        other, service3 = await faq_with(db, TopicBackend("test:other"))
        await other.warm_up()
        assert await other.wait_semantic(5) and service3.computed == 4
        models = await db.fetchall("SELECT DISTINCT model FROM faq_vectors")
        assert [r[0] for r in models] == ["test:other"]
        for s in (service, service2, service3):
            s.close()
    finally:
        await db.close()


async def test_questions_are_matched_lexically_while_a_big_index_is_computed(
    db_target, monkeypatch
):
    monkeypatch.setattr("bot.faq.service.QUICK_REBUILD_TEXTS", 1)
    db = Database(db_target)
    await db.open()
    backend = TopicBackend()
    backend.gate = threading.Event()  # the model is busy until released
    faq, service = await faq_with(db, backend)
    try:
        await seed(FaqRepository(db))
        await faq.warm_up()
        for _ in range(50):
            if not faq._build_is_quick:
                break
            await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        decision = await faq.decide("what is the refund policy?", None)  # lexical: shares words
        assert asyncio.get_running_loop().time() - started < 1.0
        assert decision.kind == "answer" and decision.match.entry_id == 1
        assert not faq.semantic_ready
        backend.gate.set()
        assert await faq.wait_semantic(5)
    finally:
        backend.gate.set()
        faq.close()
        service.close()
        await db.close()


async def test_a_failing_model_falls_back_to_lexical_decisions(db_target):
    class Failing(TopicBackend):
        def encode(self, texts, kind):
            raise RuntimeError("engine crashed")

    db = Database(db_target)
    await db.open()
    faq, service = await faq_with(db, Failing())
    try:
        await seed(FaqRepository(db))
        await faq.warm_up()
        assert not await faq.wait_semantic(5)
        lexical = FaqService(FaqRepository(db))
        for question in ("what is the refund policy?", "can I get my money back?"):
            assert await faq.decide(question, None) == await lexical.decide(question, None)
    finally:
        service.close()
        await db.close()


async def test_a_did_you_mean_pick_teaches_the_wording_once(db_target):
    db = Database(db_target)
    await db.open()
    faq, service = await faq_with(db, TopicBackend())
    try:
        await seed(FaqRepository(db))
        await faq.warm_up()
        assert await faq.learn_phrasing(1, "  money back   please? ", "en")
        assert not await faq.learn_phrasing(1, "Money back please", "en")  # already known
        assert not await faq.learn_phrasing(99, "anything", "en")
        entry = await faq.entry(1)
        assert entry.phrasings == [
            ("en", "What is your refund policy?"),
            ("en", "money back please?"),
        ]
        assert faq.semantic_ready  # and its vector is in the index already
        stored = await db.fetchall("SELECT count(*) FROM faq_vectors WHERE kind='query'")
        assert stored[0][0] == 3
    finally:
        faq.close()
        service.close()
        await db.close()


async def test_a_restart_loads_the_stored_lexical_index_and_a_change_rebuilds_it(
    tmp_path, monkeypatch
):
    from bot.faq import matcher
    from storage.faq import FaqIndexCache

    builds = []
    original = matcher.FaqIndex.build.__func__

    def counting(cls, *args, **kwargs):
        builds.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(matcher.FaqIndex, "build", classmethod(counting))
    db = Database(tmp_path / "f.sqlite3")
    await db.open()
    try:
        repo = FaqRepository(db)
        await seed(repo)
        first = FaqService(repo, index_cache=FaqIndexCache(db))
        await first.warm_up()
        assert len(builds) == 1
        # another process start on the same FAQ: loaded, not built
        again = FaqService(repo, index_cache=FaqIndexCache(db))
        await again.warm_up()
        assert len(builds) == 1
        decision = await again.decide("do you ship abroad?", None)
        assert decision == await first.decide("do you ship abroad?", None)
        assert decision.kind == "answer" and decision.match is not None
        # a change makes the stored index stale: built once more, then reused again
        await repo.add(None, "en", [("en", "When do you open?")], Answer("en", "9:00"), None, 2)
        await again.refresh()
        assert len(builds) == 2
        third = FaqService(repo, index_cache=FaqIndexCache(db))
        await third.warm_up()
        assert len(builds) == 2
        assert (await third.decide("when do you open?", None)).kind == "answer"
    finally:
        await db.close()


def test_best_entries_are_the_top_of_the_full_map_among_the_visible_ones():
    """`best` (what the bot scores per question) gives exactly what `decide` would take from
    the full map of visible entries, ties included."""
    rng = np.random.default_rng(5)
    entries = [
        EntryVectors(
            n,
            [unit(*rng.standard_normal(8)) for _ in range(1 + n % 3)],
            [unit(*rng.standard_normal(8))] if n % 4 else [],
            ["en", "ru", "nl"][: 1 + n % 3],
        )
        for n in range(1, 41)
    ]
    entries.append(EntryVectors(41, list(entries[0].phrasings), list(entries[0].answers)))
    index = SemanticIndex(entries, dim=8)
    for trial in range(20):
        query = unit(*rng.standard_normal(8)) if trial else entries[0].phrasings[0]
        visible = rng.random(len(index.entry_ids)) < 0.6
        visible[[0, -1]] = True  # two entries with the same vectors: a tie
        full = {e: s for e, s in index.score_map(query).items() if visible[index.position[e]]}
        best = index.best(query, visible)
        assert list(best) == [e for e, _ in sorted(full.items(), key=lambda i: -i[1][0])][:3]
        assert best == {e: full[e] for e in best}
        assert semantic.decide(best, "none", None) == semantic.decide(full, "none", None)
    assert list(index.best(query, np.zeros(len(index.entry_ids), dtype=bool))) == []
