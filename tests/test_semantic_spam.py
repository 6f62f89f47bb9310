"""The embedding spam model and its fusion with the other signals, without Telegram."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.moderation.semantic_spam import (
    NEIGHBOURS,
    SPAM_NEIGHBOURS,
    LogisticModel,
    SemanticEvidence,
    SemanticSpamModel,
    language_group,
)
from bot.moderation.spam import (
    SpamScorer,
    build_default_bayes,
    features_from_text,
    tokens,
    unobfuscate,
)
from bot.moderation.understanding import SemanticSpamClassifier
from bot.reputation.classifier import ComplaintClassifier
from bot.semantic import EmbeddingService, Kind

ROOT = Path(__file__).parents[1]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clusters(seed: int = 0, n: int = 60, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    spam_centre, ham_centre = rng.normal(size=dim), rng.normal(size=dim)
    spam = unit(spam_centre + 0.6 * rng.normal(size=(n, dim)))
    ham = unit(ham_centre + 0.6 * rng.normal(size=(n, dim)))
    return spam, ham


def test_the_regression_separates_two_topics_and_generalises_to_new_points():
    spam, ham = clusters()
    model = LogisticModel(l2=0.01)
    model.fit(np.vstack([spam, ham]), np.array([1] * len(spam) + [0] * len(ham)))
    new_spam, new_ham = clusters(seed=0, n=200)
    assert (model.probability(new_spam) > 0.5).mean() > 0.95
    assert (model.probability(new_ham) < 0.5).mean() > 0.95


def test_a_lesson_overrides_the_model_for_the_same_text_only():
    spam, ham = clusters()
    model = SemanticSpamModel()
    model.add(spam, True)
    model.add(ham, False)
    model.fit()
    judged = spam[0]
    assert model.evidence(judged).lesson is None and model.evidence(judged).probability > 0.5
    model.add_lesson(judged, False)
    model.fit()
    assert model.evidence(judged).lesson is False
    assert model.evidence(spam[1]).lesson is None  # a different message is judged as before
    assert model.evidence(spam[1]).neighbours > 0


def test_batched_evidence_equals_one_message_at_a_time():
    spam, ham = clusters()
    model = SemanticSpamModel()
    model.add(spam, True)
    model.add(ham, False)
    model.fit()
    more_spam, more_ham = clusters(n=90)  # same topics, new points
    queries = np.vstack([more_spam[60:], more_ham[60:]])
    batched = model.evidences(queries)
    for query, evidence in zip(queries, batched, strict=True):
        one = model.evidence(query)
        assert evidence.probability == pytest.approx(one.probability, abs=1e-6)
        assert evidence.neighbours == pytest.approx(one.neighbours, abs=1e-6)
    # chunking does not change the answer
    assert np.allclose(model.neighbour_margins(queries, chunk=7), [e.neighbours for e in batched])
    assert np.mean([e.neighbours > 0 for e in batched[:30]]) > 0.9
    assert np.mean([e.neighbours < 0 for e in batched[30:]]) > 0.9


def _direction(cosine: float, axis: int, dim: int = 8) -> np.ndarray:
    """A unit vector at `cosine` to the first axis, the rest of it along `axis`."""
    row = np.zeros(dim, dtype=np.float32)
    row[0], row[axis] = cosine, np.sqrt(1 - cosine**2)
    return row


def test_a_scheme_two_samples_cover_is_found_by_the_spam_models_neighbours():
    """Two spam lines close to the message, five unrelated ones, and six ham lines that are
    only fairly close: the spam model's two neighbours see the scheme, five would average it
    away among the unrelated lines (complaints keep five)."""
    spam = np.vstack([_direction(0.95, 1), _direction(0.9, 2)] + [_direction(0.0, 3)] * 5)
    ham = np.vstack([_direction(0.7, axis) for axis in (4, 5, 6, 7, 4, 5)])
    query = _direction(1.0, 1)

    def margin(neighbours: int) -> float:
        model = SemanticSpamModel(neighbours=neighbours)
        model.add(spam, True)
        model.add(ham, False)
        model.fit()
        return model.neighbour_margin(query)

    assert margin(SPAM_NEIGHBOURS) == pytest.approx((0.95 + 0.9) / 2 - 0.7, abs=1e-5)
    assert margin(NEIGHBOURS) < 0
    assert SemanticSpamClassifier(None).model.neighbours == SPAM_NEIGHBOURS == 2
    assert ComplaintClassifier(None).model.neighbours == NEIGHBOURS == 5


def test_evidence_adds_signals_and_a_not_spam_lesson_keeps_a_message_below_the_threshold():
    scorer = SpamScorer(build_default_bayes())
    text = "Join now: free signals, 300% profit, write me t.me/+AbCdEf @profit_king"
    features = features_from_text(text)
    without = scorer.score(features)
    assert without.signals["semantic"] == 0 and without.signals["neighbours"] == 0
    confident = scorer.score(features, SemanticEvidence(probability=0.99, neighbours=0.08))
    assert confident.is_spam and confident.signals["semantic"] > 1.0
    forgiven = scorer.score(features, SemanticEvidence(0.99, 0.08, lesson=False))
    assert not forgiven.is_spam and forgiven.score < 0
    marked = scorer.score(features_from_text("hello"), SemanticEvidence(0.1, -0.05, lesson=True))
    assert marked.is_spam


def test_every_shipped_sample_has_a_precomputed_vector():
    """Start-up embeds none of the shipped samples; rerun scripts/embed_spam_samples.py if not."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "embed_spam_samples.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        (
            "з а р а б о т о к  о т  3 0 0 0  в  д е н ь,  п и ш и  в  л с",
            "заработок от 3000 в день, пиши в лс",
        ),
        ("Р.а.б.о.т.а н.а д.о.м.у, п.и.ш.и в л.с", "Работа на дому, пиши в лс"),
        ("T.h.u.i.s.w.e.r.k — €200 p.e.r d.a.g", "Thuiswerk — €200 per dag"),
        ("Кто хочет за💰ра💰бо💰тать сегодня?", "Кто хочет заработать сегодня?"),
        ("Р@б0т@ для вс3х, 0плат@ в д3нь", "Работа для всех, оплата в день"),
        ("m4ke m0ney w1th b1tc0in", "make money with bitcoin"),
        ("Зaрaбoтoк в интeрнeтe", "Заработок в интернете"),  # Latin a, o, e among Cyrillic
        ("𝗧𝗛𝗨𝗜𝗦𝗪𝗘𝗥𝗞 𝗘𝗡 𝗗𝗔𝗚𝗘𝗟𝗜𝗝𝗞𝗦 𝗕𝗘𝗧𝗔𝗔𝗟𝗗", "THUISWERK EN DAGELIJKS BETAALD"),
        ("за\u200bра\u200bбо\u200bток", "заработок"),
    ],
)
def test_unobfuscate_reads_what_the_spammer_meant(written, meant):
    assert unobfuscate(written) == meant


@pytest.mark.parametrize(
    "text",
    [
        "iPhone13 за 350, mp3, A4, x100, 5к в день, 24/7, Win10, B2B, 10:30, 1.5.2024",
        "Hello world, t.me/abc bit.ly/x e.g. т.е. U.S.A.",
        "Ik verkoop mijn fiets, €150, bieden mag 🚲 stuur een pb",
        "Кто идёт на субботник? Ставьте +",
    ],
)
def test_unobfuscate_leaves_ordinary_text_as_it_is(text):
    """Unchanged text keeps its stored vector, so nothing is embedded again at start."""
    assert unobfuscate(text) == text


def test_bayes_stems_see_through_spaced_letters():
    assert tokens("з а р а б о т о к") == tokens("заработок")


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("Кто хочет заработать? Пиши", "ru"),
        ("Wie wil er geld verdienen? Stuur een bericht", "nl"),
        ("Who wants to make money? Message me", "en"),
        ("Thuiswerk €300", "latin"),
        ("🔥🔥 100% 🔥🔥", "other"),
    ],
)
def test_language_group(text, group):
    assert language_group(text) == group


def test_centring_lets_a_scheme_seen_in_one_language_be_recognised_in_another():
    """The model's vectors carry their language strongly: uncentred, a Dutch message of a scheme
    only the Russian samples show sits nearer Dutch ham than Russian spam."""
    rng = np.random.default_rng(1)
    dim = 32
    axes = np.eye(dim)
    ru, nl, scheme, other_scheme, chat = 3 * axes[0], 3 * axes[1], axes[2], axes[3], axes[4]

    def rows(centre: np.ndarray, n: int) -> np.ndarray:
        return unit(centre + 0.15 * rng.normal(size=(n, dim)))

    def model(centred: bool) -> SemanticSpamModel:
        m = SemanticSpamModel(centred=centred)
        m.add(rows(ru + scheme, 40), True, groups=["ru"] * 40)
        m.add(rows(ru + chat, 40), False, groups=["ru"] * 40)
        m.add(rows(nl + other_scheme, 30), True, groups=["nl"] * 30)
        m.add(rows(nl + chat, 40), False, groups=["nl"] * 40)
        m.fit()
        return m

    query = rows(nl + scheme, 20)
    plain, centred = model(False), model(True)
    before = plain.neighbour_margins(query, groups=["nl"] * 20)
    after = centred.neighbour_margins(query, groups=["nl"] * 20)
    assert np.all(after > 0) and after.mean() > before.mean() + 0.1
    assert np.mean([e.probability > 0.5 for e in centred.evidences(query, ["nl"] * 20)]) > 0.9
    # a message of the chat topic stays ham in both languages
    for group, offset in (("ru", ru), ("nl", nl)):
        assert centred.evidence(rows(offset + chat, 1)[0], group).probability < 0.5


class _LetterBackend:
    """Vectors from letter counts: the same letters give the same vector, whatever the spacing."""

    model_id = "letters"
    dim = 64

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        self.seen += texts
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in zip(rows, texts, strict=True):
            for ch in text.lower():
                if ch.isalpha():
                    row[ord(ch) % self.dim] += 1
            row[-1] += 1
        return unit(rows)


async def test_the_spam_classifier_embeds_the_text_as_meant_and_a_lesson_covers_its_disguises():
    backend = _LetterBackend()
    classifier = SemanticSpamClassifier(EmbeddingService(backend))
    await classifier.train(
        ["Заработок на дому пиши", "Крипта растёт бери"] * 10,
        ["Где купить хлеб рядом", "Когда собрание жильцов"] * 10,
    )
    await classifier.learn("Закладки по городу быстро", True)
    disguised = "З а к л а д к и  п о  г о р о д у  б ы с т р о"
    evidence = await classifier.evidence(disguised)
    assert evidence is not None and evidence.lesson is True
    assert "Закладки по городу быстро" in backend.seen and disguised not in backend.seen


def test_a_centred_model_keeps_one_copy_of_its_rows_and_its_neighbours_see_them_centred():
    """Memory (the bot's resident size): after a fit, the rows a refit needs are views of the
    split the neighbours read, with no centred copy beside them; yet the neighbour margins are
    those against the centred rows, and a refit after a lesson decides as a fresh model."""
    rng = np.random.default_rng(7)
    dim = 48
    spam_topic, chat_topic = unit(rng.normal(size=(2, dim)))

    def rows(centre: np.ndarray, n: int) -> np.ndarray:
        return unit(centre + 0.4 * rng.normal(size=(n, dim)))

    model = SemanticSpamModel(centred=True, neighbours=2)
    groups = ["en", "ru"] * 30
    spam, chat = rows(spam_topic, 60), rows(chat_topic, 60)
    model.add(spam, True, groups=groups)
    model.add(chat, False, groups=groups)
    model.fit()
    assert model._split is not None and model.centres
    kept = model._split
    assert sum(part.nbytes for part in kept) == 120 * dim * 4
    assert all(any(np.shares_memory(row, part) for part in kept) for row in model.vectors)

    query = np.vstack([rows(spam_topic, 5), rows(chat_topic, 5)])
    query_groups = ["en", "ru", "nl", "other", "latin"] * 2
    centred = model.centre(query, query_groups)

    def nearest(found: np.ndarray) -> np.ndarray:
        return np.sort(found, axis=1)[:, -2:].mean(axis=1)

    expected = nearest(centred @ model.centre(spam, groups).T) - nearest(
        centred @ model.centre(chat, groups).T
    )
    margins = model.neighbour_margins(query, groups=query_groups)
    assert np.allclose(margins, expected, atol=1e-5)

    full = SemanticSpamModel(centred=True, neighbours=2)
    full.add(spam, True, groups=groups)
    full.add(chat, False, groups=groups)
    lesson = rows(chat_topic, 1)[0]
    for m in (model, full):
        m.add_lesson(lesson, True, "en")
        m.fit()
    refit = model.evidences(query, query_groups)
    fresh = full.evidences(query, query_groups)
    assert np.allclose([e.probability for e in refit], [e.probability for e in fresh], atol=1e-4)
    assert np.allclose([e.neighbours for e in refit], [e.neighbours for e in fresh], atol=1e-5)


async def test_no_evidence_while_the_fusion_trains(monkeypatch):
    """Between the regression's fit and the fusion's, evidence once came back and the scorer
    weighed it by uncalibrated hand weights (a new member's command was banned there): until
    the fusion is trained the scorer has its other signals alone."""
    from bot.moderation import understanding

    started, release = asyncio.Event(), asyncio.Event()
    real = understanding.train_fusion
    loop = asyncio.get_running_loop()

    def slow_fusion(*args, **kwargs):
        loop.call_soon_threadsafe(started.set)  # the regression is fitted; the fusion is next
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
        return real(*args, **kwargs)

    monkeypatch.setattr(understanding, "train_fusion", slow_fusion)
    classifier = SemanticSpamClassifier(EmbeddingService(_LetterBackend()))
    training = asyncio.create_task(
        classifier.train(
            ["Заработок на дому пиши", "Крипта растёт бери"] * 10,
            ["Где купить хлеб рядом", "Когда собрание жильцов"] * 10,
        )
    )
    await asyncio.wait_for(started.wait(), 10)
    assert classifier.ready and await classifier.evidence("Заработок пиши") is None
    release.set()
    await training
    assert classifier.fusion is not None
    assert await classifier.evidence("Заработок пиши") is not None
