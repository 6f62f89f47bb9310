"""The FAQ's learned answer-or-not model, without Telegram: made-up vectors and weights decide."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from bot.faq import semantic
from bot.faq.semantic import AnswerModel, ChatBank, EntryVectors, SemanticIndex
from bot.faq.service import FaqService
from bot.semantic import EmbeddingService, Kind
from bot.semantic.embeddings import BUILTIN_MODEL_ID
from storage.database import Database
from storage.faq import Answer, FaqRepository, FaqVectorRepository
from tests.test_faq_semantic import TopicBackend, seed


def random_index(seed_value: int = 7) -> tuple[SemanticIndex, np.random.Generator]:
    rng = np.random.default_rng(seed_value)
    dim = 12

    def unit() -> np.ndarray:
        v = rng.standard_normal(dim).astype(np.float32)
        return v / np.linalg.norm(v)

    languages = ["en", "ru", "nl"]
    entries = []
    for entry_id in range(1, 6):
        count = 1 + entry_id % 3
        answers = [unit() for _ in range(entry_id % 2 + 1)] if entry_id != 3 else []
        entries.append(
            EntryVectors(
                entry_id,
                [unit() for _ in range(count)],
                answers,
                [languages[k % 3] for k in range(count)],
                [languages[k % 3] for k in range(len(answers))],
            )
        )
    return SemanticIndex(entries, dim), rng


def test_components_add_up_to_the_fused_scores():
    index, rng = random_index()
    query = rng.standard_normal(index.dim).astype(np.float32)
    query /= np.linalg.norm(query)
    fused = index.score_map(query)
    total = semantic.WEIGHT_PHRASING + semantic.WEIGHT_ANSWER + semantic.WEIGHT_CENTROID
    for entry_id, (score, raw) in fused.items():
        parts = index.components(query, entry_id)
        centred = (
            semantic.WEIGHT_PHRASING * parts["best"]
            + semantic.WEIGHT_ANSWER * parts["answer"]
            + semantic.WEIGHT_CENTROID * parts["centroid"]
        ) / total
        plain = (
            semantic.WEIGHT_PHRASING * parts["plain_best"]
            + semantic.WEIGHT_ANSWER * parts["plain_answer"]
            + semantic.WEIGHT_CENTROID * parts["plain_centroid"]
        ) / total
        assert centred == pytest.approx(score, abs=1e-5)
        assert plain == pytest.approx(raw, abs=1e-5)
        assert parts["mean"] <= parts["best"] + 1e-6
        assert parts["phrasings"] == pytest.approx(math.log(1 + entry_id % 3))
    # entry 3 has no answer: its best wording stands in, as in the fused score
    parts = index.components(query, 3)
    assert parts["answer"] == pytest.approx(parts["best"])


def test_chat_bank_gives_the_highest_cosines_best_first():
    vectors = np.eye(4, dtype=np.float32)
    bank = ChatBank(vectors)
    query = np.array([0.6, 0.8, 0.0, 0.0], dtype=np.float32)
    assert bank.nearest(query).tolist() == pytest.approx([0.8, 0.6, 0.0])
    assert ChatBank(np.zeros((0, 4), dtype=np.float32)).nearest(query).tolist() == [0, 0, 0]
    assert ChatBank(vectors[:2]).nearest(query).tolist() == pytest.approx([0.8, 0.6])


def two_feature_model(bias: float = -1.0, model_id: str = "test:topics") -> AnswerModel:
    return AnswerModel(
        model_id=model_id,
        features=("margin", "chat_gap"),
        mean=np.array([0.1, 0.0]),
        scale=np.array([0.05, 0.1]),
        weights=np.array([2.0, 3.0]),
        bias=bias,
        answer_at=0.5,
    )


def test_answer_model_is_a_logistic_regression_that_survives_json():
    model = two_feature_model()
    values = {"margin": 0.2, "chat_gap": 0.05, "unused": 9.0}
    z = 2.0 * (0.2 - 0.1) / 0.05 + 3.0 * 0.05 / 0.1 - 1.0
    assert model.probability(values) == pytest.approx(1 / (1 + math.exp(-z)))
    again = AnswerModel.from_json(model.to_json())
    assert again.features == model.features
    assert again.probability(values) == pytest.approx(model.probability(values))
    # no overflow however far out a value lies
    assert model.probability({"margin": 1e9, "chat_gap": 0.0}) == pytest.approx(1.0)


def test_an_entry_with_one_wording_is_judged_by_its_own_weights_and_threshold():
    young = dataclasses.replace(two_feature_model(bias=2.0), answer_at=0.9)
    model = dataclasses.replace(two_feature_model(), one_wording=young)
    one = {"margin": 0.1, "chat_gap": 0.0, "phrasings": 0.0}  # log(1): a single wording
    several = {**one, "phrasings": math.log(3)}
    assert model.for_entry(one) is young and model.for_entry(several) is model
    assert model.for_entry(one).probability(one) > model.probability(one)
    again = AnswerModel.from_json(model.to_json())
    assert again.one_wording is not None and again.one_wording.answer_at == 0.9
    assert again.for_entry(one).probability(one) == pytest.approx(young.probability(one))
    assert again.for_entry(several).answer_at == 0.5
    # a model shipped before the split judges every entry with its one set of weights
    assert two_feature_model().for_entry(one).answer_at == 0.5


def test_shipped_model_reads_exactly_what_answer_features_gives():
    model = AnswerModel.shipped()
    assert model is not None
    assert model.model_id == BUILTIN_MODEL_ID
    assert 0 < model.answer_at < 1
    assert len(model.mean) == len(model.scale) == len(model.weights) == len(model.features)
    assert model.one_wording is not None and 0 < model.one_wording.answer_at < 1
    assert len(model.one_wording.weights) == len(model.features)
    index, rng = random_index()
    query = rng.standard_normal(index.dim).astype(np.float32)
    query /= np.linalg.norm(query)
    meaning = index.score_map(query)
    chat = ChatBank(rng.standard_normal((20, index.dim)).astype(np.float32)).nearest(query)
    best, values = semantic.answer_features(index, query, meaning, {2: 0.4}, chat, "a b c")
    assert best == max(meaning, key=lambda e: meaning[e][0])
    assert set(model.features) <= set(values)
    assert 0.0 <= model.probability(values) <= 1.0
    assert values["chat_gap"] == pytest.approx(values["plain_best"] - chat[0])
    assert values["words"] == pytest.approx(math.log(3))
    assert values["lexical_agrees"] == float(best == 2)


def test_either_the_thresholds_or_the_model_answers():
    limits = semantic.Thresholds()
    clear = {1: (0.50, 0.90), 2: (0.30, 0.88)}  # the thresholds answer entry 1
    unsure = {1: (0.36, 0.88), 2: (0.33, 0.88)}  # the thresholds offer both
    assert semantic.judge(clear, "none", None, 0.0, 0.8, limits).kind == "answer"
    assert semantic.judge(unsure, "none", None, 0.1, 0.8, limits).kind == "suggest"
    decision = semantic.judge(unsure, "none", None, 0.9, 0.8, limits)
    assert decision.kind == "answer" and decision.match.entry_id == 1
    assert semantic.judge({}, "none", None, 1.0, 0.8, limits).kind == "none"


async def test_service_uses_a_model_made_for_its_embeddings_and_ignores_another(db_target):
    db = Database(db_target)
    await db.open()
    services = []
    try:
        await seed(FaqRepository(db))
        question = "money abroad open?"  # touches every topic: the thresholds are not sure

        async def faq_with(model: AnswerModel | None) -> FaqService:
            embeddings = EmbeddingService(TopicBackend())
            services.append(embeddings)
            faq = FaqService(FaqRepository(db), embeddings, FaqVectorRepository(db))
            faq.answer_model = model
            faq.chat_bank = ChatBank(np.array([[0, 0, 1, 0]], dtype=np.float32))
            await faq.warm_up()
            assert await faq.wait_semantic(5)
            return faq

        thresholds = await faq_with(two_feature_model(model_id="test:another-model"))
        assert thresholds.answer_model is None  # trained for other vectors: not used
        assert (await thresholds.decide(question, None)).kind != "answer"
        assert await thresholds.evidence(question, None) is not None

        sure = await faq_with(two_feature_model(bias=50.0))
        assert sure.answer_model is not None
        decision = await sure.decide(question, None)
        assert decision.kind == "answer"
        never = await faq_with(two_feature_model(bias=-50.0))
        assert (await never.decide(question, None)).kind != "answer"
        # what the thresholds answer alone, the model does not take away
        assert (await never.decide("can I get my money back?", None)).kind == "answer"
    finally:
        for service in services:
            service.close()
        await db.close()


def test_chat_bank_is_the_spam_filters_shipped_chat_for_the_bundled_model_only():
    from bot.faq.service import load_chat_bank
    from bot.moderation.spam import default_samples

    bank = load_chat_bank(BUILTIN_MODEL_ID)
    assert bank is not None
    assert len(bank) == len(set(default_samples("ham"))) or len(bank) == len(default_samples("ham"))
    assert bank.vectors.dtype == np.float32
    assert load_chat_bank("test:another-model") is None


def test_lexical_opinion_from_all_scores_is_the_one_from_the_visible_matches():
    rng = np.random.default_rng(3)
    entry_ids = list(range(10, 40))
    for _ in range(200):
        # few distinct values: ties for the first place; zeros: entries sharing nothing
        scores = rng.choice([0.0, 0.0, 0.2, 0.35, 0.5], size=len(entry_ids))
        visible = rng.random(len(entry_ids)) < 0.7
        best = int(rng.choice([*entry_ids, 99]))  # 99: not in the lexical index
        # what the service built before: the visible matches, best first, ties in index order
        order = sorted(
            (i for i in range(len(entry_ids)) if visible[i] and scores[i] > 0),
            key=lambda i: -scores[i],
        )
        mapping = {entry_ids[i]: float(scores[i]) for i in order}
        expected = semantic.LexicalOpinion.of_mapping(best, mapping)
        assert semantic.LexicalOpinion.of_scores(best, entry_ids, scores, visible) == expected


async def test_service_reads_the_features_of_every_entry_the_chat_may_see(tmp_path):
    """The service scores in a worker thread and keeps only the best entries; what the answer
    model reads must still be what the mapping of every visible entry gives."""
    db = Database(tmp_path / "faq.sqlite3")
    await db.open()
    embeddings = EmbeddingService(TopicBackend())
    try:
        repo = FaqRepository(db)
        await seed(repo)
        await repo.add(-100, "en", [("en", "Money back here?")], Answer("en", "Ask us."), None, 1)
        await repo.add(-200, "en", [("en", "Open abroad?")], Answer("en", "No."), None, 1)
        await repo.add(None, "en", [("en", "When open?")], Answer("en", "At 9."), None, 1)
        faq = FaqService(repo, embeddings, FaqVectorRepository(db))
        faq.answer_model = two_feature_model()
        bank = faq.chat_bank = ChatBank(np.array([[0, 0, 1, 0], [1, 0, 0, 0]], dtype=np.float32))
        await faq.warm_up()
        assert await faq.wait_semantic(5)
        index, lexical_index = faq._semantic, faq._index
        assert index is not None and lexical_index is not None
        for question in ("money abroad open?", "refund money?", "open abroad?", "hello there?"):
            vector = await embeddings.embed_one(question, Kind.QUERY)
            for chat in (None, -100, -200):
                entries = faq._entries
                visible = {e for e, entry in entries.items() if entry.chat_id in (None, chat)}
                meaning = {e: s for e, s in index.score_map(vector).items() if e in visible}
                lexical = {e: s for e, s in lexical_index.ranked(question, None) if e in visible}
                expected = semantic.answer_features(
                    index, vector, meaning, lexical, bank.nearest(vector), question
                )
                assert await faq.evidence(question, chat) == expected
    finally:
        embeddings.close()
        await db.close()
