"""Reputation watch without Telegram: the prefilter, watched terms, mood spikes, the decision
rule, the storage and the shipped vectors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.moderation.semantic_spam import SemanticEvidence
from bot.reputation import prefilter
from bot.reputation.classifier import decide, read_examples
from bot.reputation.mood import DayMood, median_share, spike
from bot.reputation.prefilter import worth_checking
from bot.reputation.watch import Watch, WatchArgsError, WatchMatcher, parse_watch_args
from storage.database import Database
from storage.reputation import ReputationRepository

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "text",
    [
        "my order still has not arrived",
        "почему опять не работает оплата",
        "de app werkt weer niet, waarom?",
        "Ordered flowers for my mom's birthday. They arrived the next day, wilted.",
    ],
)
def test_the_prefilter_lets_complaints_through(text):
    assert worth_checking(text)


@pytest.mark.parametrize(
    "text", ["thanks!", "good morning all", "/stats 7d please now", "Спасибо, теперь всё понятно"]
)
def test_the_prefilter_skips_short_chat_and_commands(text):
    assert not worth_checking(text)


def test_the_prefilters_stem_lookup_decides_as_every_cue_would():
    """The prefilter looks up only the stems sharing a word's first two letters; over every
    shipped example it decides as checking each word against every cue does."""

    def plainly(text: str) -> bool:
        text = text.strip()
        words = len(text.split())
        if not text or text.startswith("/") or words < prefilter.MIN_WORDS:
            return False
        if words >= prefilter.LONG_WORDS:
            return True
        folded = text.casefold().replace("’", "'")
        return any(phrase in folded for phrase in prefilter._PHRASES) or any(
            word.startswith(prefilter._PREFIXES) for word in re.findall(r"\w+", folded)
        )

    assert all(len(cue) >= 2 for cue in prefilter._PREFIXES)  # the lookup key
    texts = [
        t for kind in ("complaint", "other") for ts in read_examples(kind).values() for t in ts
    ]
    assert len(texts) > 500
    assert sum(worth_checking(t) for t in texts) > 100
    for text in texts:
        short = " ".join(text.split()[: prefilter.LONG_WORDS - 1])  # the cue check decides
        assert worth_checking(text) == plainly(text), text
        assert worth_checking(short) == plainly(short), short


def test_every_shipped_complaint_passes_the_prefilter():
    """A complaint the prefilter skips can never be caught; the shipped ones all pass."""
    for language, texts in read_examples("complaint").items():
        missed = [t for t in texts if not worth_checking(t)]
        assert len(missed) <= len(texts) * 0.02, (language, missed[:5])


def test_watch_arguments():
    assert parse_watch_args("Acme Phone").term == "Acme Phone"
    request = parse_watch_args("acme @fans")
    assert (request.term, request.chat) == ("acme", "@fans")
    assert parse_watch_args("acme -1001234").chat == "-1001234"
    assert parse_watch_args("") is WatchArgsError.EMPTY
    assert parse_watch_args("a") is WatchArgsError.TOO_SHORT
    assert parse_watch_args("x" * 65) is WatchArgsError.TOO_LONG
    assert parse_watch_args("@fans").term == "@fans"  # one token: it is the term


def test_watched_terms_match_whole_words_in_their_chats():
    everywhere = Watch(1, "Acme Phone", None, 1, 0)
    only_here = Watch(2, "кофе", -100, 1, 0)
    matcher = WatchMatcher([everywhere, only_here])
    assert matcher.find("my acme  phone broke", -5) == [everywhere]
    assert matcher.find("acme phones", -5) == []
    assert matcher.find("Кофе остыл", -100) == [only_here]
    assert matcher.find("Кофе остыл", -5) == []
    assert not WatchMatcher([]) and WatchMatcher([]).find("anything", 1) == []


def test_a_spike_needs_ten_complaints_and_three_times_the_median():
    history = [DayMood(f"d{i}", 100, 2) for i in range(28)] + [DayMood("empty", 0, 0)]
    assert median_share(history) == 0.02
    assert spike(DayMood("t", 20, 9), history) is None  # 45 %, but only nine
    assert spike(DayMood("t", 500, 10), history) is None  # 2 %: a busy, ordinary day
    found = spike(DayMood("t", 100, 10), history)
    assert found is not None and found.median == 0.02
    assert spike(DayMood("t", 10, 10), []) is not None  # no history: the median is 0


def test_a_lesson_decides_and_the_neighbours_move_the_probability():
    assert decide(SemanticEvidence(0.99, 0.1, lesson=False)).is_complaint is False
    assert decide(SemanticEvidence(0.01, -0.1, lesson=True)).is_complaint is True
    assert decide(SemanticEvidence(0.9, 0.0), threshold=0.6).is_complaint
    assert not decide(SemanticEvidence(0.7, -0.1), threshold=0.6, neighbour_weight=25).is_complaint
    assert decide(SemanticEvidence(0.5, 0.05), threshold=0.6, neighbour_weight=25).is_complaint


async def test_storage_counts_mood_dislikes_and_alerts_once(db_target):
    db = Database(db_target)
    await db.open()
    try:
        repo = ReputationRepository(db)
        await repo.add_mood({(-1, "2026-01-01"): (5, 0)})
        await repo.add_mood({(-1, "2026-01-01"): (2, 1), (-1, "2026-01-02"): (1, 1)})
        assert await repo.mood(-1, "2026-01-01", "2026-01-31") == [
            DayMood("2026-01-01", 7, 1),
            DayMood("2026-01-02", 1, 1),
        ]
        assert await repo.set_dislike(-1, 10, 1, True) == 1
        assert await repo.set_dislike(-1, 10, 1, True) == 1  # the same person twice
        assert await repo.set_dislike(-1, 10, 2, True) == 2
        assert await repo.set_dislike(-1, 10, 1, False) == 1
        assert await repo.claim_alert(-1, "spike", "2026-01-01", 0, 1)
        assert not await repo.claim_alert(-1, "spike", "2026-01-01", 0, 2)
        assert await repo.claim_alert(-1, "spike", "2026-01-02", 0, 2)
        watch_id = await repo.add_watch("acme", None, 9, 1)
        (watch,) = await repo.watches()
        await repo.add_mention(
            watch=watch,
            chat_id=-1,
            message_id=5,
            user_id=3,
            user_name="Bob",
            text="acme!",
            complaint=False,
            at=10,
        )
        assert await repo.remove_watch(watch_id)
        pending = await repo.unreported_mentions()
        assert [m.term for m in pending] == ["acme"]  # kept when the watch goes
        await repo.mark_reported([m.id for m in pending], 11)
        assert await repo.unreported_mentions() == []
    finally:
        await db.close()


def test_every_shipped_example_has_a_precomputed_vector():
    """Start-up embeds none of the shipped examples; rerun scripts/embed_complaint_samples.py."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "embed_complaint_samples.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shipped_vectors_are_normalised():
    with np.load(ROOT / "bot" / "reputation" / "data" / "complaint_vectors.npz") as data:
        norms = np.linalg.norm(data["vectors"].astype(np.float32), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-2)


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "America/Havana", "Asia/Kolkata", "UTC"])
def test_the_mood_day_follows_the_local_calendar_through_midnights_and_clock_changes(zone):
    """The day is cached between its local midnights; it changes exactly when the local date
    does, also on the days the clocks change (Havana's change at midnight included) and when
    the clock goes back."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.reputation.service import ReputationService

    tz = ZoneInfo(zone)
    now = [0.0]
    service = ReputationService(None, None, None, tz, clock=lambda: now[0])  # type: ignore[arg-type]
    start = datetime(2025, 3, 7, tzinfo=tz).timestamp()
    instants = [start + minutes * 60 for minutes in range(0, 60 * 24 * 250, 13)]
    instants += [start + 86_400 * 100, start, start + 86_400 * 240 - 1]  # jumps, and back
    for instant in instants:
        now[0] = instant
        assert service.today() == datetime.fromtimestamp(instant, tz).date().isoformat()


async def test_a_message_drawing_thumbs_down_alerts_once_not_once_a_day(db_target):
    """The 👎 alert was claimed per day: a sixth 👎 (or one taken back and given again) on a
    later day alerted the managers about the same message again, though it alerts once."""
    from zoneinfo import ZoneInfo

    from bot.reputation.mood import DISLIKES_ALERT
    from bot.reputation.service import ReputationService

    db = Database(db_target)
    await db.open()
    try:
        now = [1_767_225_600.0]  # 2026-01-01 00:00 UTC
        service = ReputationService(
            ReputationRepository(db),
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            ZoneInfo("UTC"),
            clock=lambda: now[0],
        )
        alerts = []
        for user in range(1, DISLIKES_ALERT + 1):
            alerts.append(await service.dislike(-1, 10, user, True))
        assert [a is not None for a in alerts] == [False] * (DISLIKES_ALERT - 1) + [True]
        now[0] += 86_400  # the next day: one more 👎, and one taken back and given again
        assert await service.dislike(-1, 10, 99, True) is None
        assert await service.dislike(-1, 10, 1, False) is None
        assert await service.dislike(-1, 10, 1, True) is None
        assert await service.dislike(-1, 11, 1, True) is None  # another message: its own count
    finally:
        await db.close()
