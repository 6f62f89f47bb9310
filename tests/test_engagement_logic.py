"""Quiz format, draw rule and giveaway arguments, without Telegram."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.engagement import draw
from bot.engagement.giveaways import (
    GiveawayArgsError,
    GiveawayService,
    Refusal,
    RefusalReason,
    parse_giveaway,
)
from bot.engagement.quiz_format import QuizFormatError, parse_quiz_json, parse_quiz_text
from bot.engagement.quizzes import shuffled

TEXT = """Capitals
Q: Capital of the Netherlands?
+ Amsterdam
- The Hague
E: The Hague is the seat of government.
q: Capital of Russia?
- Saint Petersburg
+ Moscow
"""


def test_text_format_parses_and_round_trips_through_json():
    draft = parse_quiz_text(TEXT)
    assert draft.title == "Capitals"
    assert [(q.text, q.correct) for q in draft.questions] == [
        ("Capital of the Netherlands?", 0),
        ("Capital of Russia?", 1),
    ]
    assert draft.questions[0].explanation == "The Hague is the seat of government."
    again = parse_quiz_json(draft.to_json())
    assert again == draft


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("", "no_title", 1),
        ("Title", "no_questions", 1),
        ("T\nQ: a?\n+ x", "too_few_options", 2),
        ("T\nQ: a?\n- x\n- y", "no_correct", 2),
        ("T\nQ: a?\n+ x\n+ y", "two_correct", 4),
        ("T\nQ: a?\n+ x\n- y\nhello", "unknown_line", 5),
        ("T\n+ x", "unknown_line", 2),
        ("T\nQ: " + "x" * 301, "bad_question", 2),
        # the title on the line below the command: lines still count from the command's
        ("\nT\nQ: a?\n- x\n- y", "no_correct", 3),
        ("\n\nT\nQ: a?\n+ x\nhello", "unknown_line", 6),
        # no title at all: the first question is not taken for one
        ("\nQ: a?\n+ x\n- y", "no_title", 2),
        ("Q: a?\n+ x\n- y", "no_title", 1),
    ],
)
def test_text_format_errors_name_the_line(text, code, line):
    with pytest.raises(QuizFormatError) as info:
        parse_quiz_text(text)
    assert (info.value.code, info.value.line) == (code, line)


def test_json_format_rejects_bad_files():
    for bad in (
        b"not json",
        b"[" * 100_000,  # nested too deep for the parser: a RecursionError, the apology
        b"[]",
        b'{"title": "x", "questions": []}',
        b'{"title": "x", "questions": [{"question": "q", "options": ["a"], "correct": 0}]}',
        b'{"title": "x", "questions": [{"question": "q", "options": ["a", "b"], "correct": 5}]}',
    ):
        with pytest.raises(QuizFormatError):
            parse_quiz_json(bad)
    fine = {"question": "q", "options": ["a", "b"], "correct": 0, "explanation": "1\n2\n3"}
    assert parse_quiz_json(json.dumps({"title": "x", "questions": [fine]})).questions
    refused = {**fine, "explanation": "1\n2\n3\n4"}  # Telegram takes at most 2 line feeds
    with pytest.raises(QuizFormatError) as info:
        parse_quiz_json(json.dumps({"title": "x", "questions": [fine, refused]}))
    assert (info.value.code, info.value.line) == ("bad_file_question", 2)


def test_shuffle_keeps_track_of_the_correct_option():
    rng = random.Random(3)
    for _ in range(50):
        options, correct = shuffled(["right", "w1", "w2", "w3"], 0, rng)
        assert options[correct] == "right" and sorted(options) == ["right", "w1", "w2", "w3"]


def test_draw_is_the_published_rule():
    seed = draw.new_seed()
    assert len(seed) == 64 and len(bytes.fromhex(seed)) == 32
    assert draw.commitment(seed) == hashlib.sha256(seed.encode()).hexdigest()
    ids = [5, 17, 99, 1234, 42]
    expected = sorted(
        ids, key=lambda u: hmac.new(seed.encode(), str(u).encode(), hashlib.sha256).hexdigest()
    )
    assert draw.ranked(seed, ids) == expected
    assert draw.ranked(seed, list(reversed(ids))) == expected  # order of entry is irrelevant
    assert draw.hashed_id(42) == hashlib.sha256(b"42").hexdigest()


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
AMS = ZoneInfo("Europe/Amsterdam")


def test_giveaway_arguments():
    g = parse_giveaway(
        "2h 3 Three T-shirts require=@news,@blog exclude_admins private", NOW, AMS, in_private=False
    )
    assert g.ends_at == NOW + timedelta(hours=2)
    assert (g.winners, g.prize, g.require) == (3, "Three T-shirts", ["@news", "@blog"])
    assert g.exclude_admins and g.private and not g.exclude_winners
    # "private" inside the prize is a word of it; the option is the one that ends the command
    g = parse_giveaway("2h 1 A private tour of the studio", NOW, AMS, in_private=False)
    assert (g.prize, g.private) == ("A private tour of the studio", False)
    g = parse_giveaway("2h 1 Private chat with the band private", NOW, AMS, in_private=False)
    assert (g.prize, g.private) == ("Private chat with the band", True)
    g = parse_giveaway("2h 1 exclude_admins A private tour", NOW, AMS, in_private=False)
    assert (g.prize, g.private, g.exclude_admins) == ("A private tour", False, True)
    g = parse_giveaway("18:00 1 Mug", NOW, AMS, in_private=False)  # 13:00 local now
    assert g.ends_at == datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    g = parse_giveaway("10:00 1 Mug", NOW, AMS, in_private=False)  # passed today: tomorrow
    assert g.ends_at == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    g = parse_giveaway("25.12 18:00 1 Mug", NOW, AMS, in_private=False)
    assert g.ends_at == datetime(2026, 12, 25, 17, 0, tzinfo=UTC)
    g = parse_giveaway("@chan 1d 2 Cap", NOW, AMS, in_private=True)
    assert g.channel == "@chan"


@pytest.mark.parametrize(
    ("text", "private", "code"),
    [
        ("soon 1 Mug", False, "bad_end"),
        ("2h many Mug", False, "bad_winners"),
        ("2h 0 Mug", False, "bad_winners"),
        ("2h 2", False, "no_prize"),
        ("1d 1 Mug", True, "no_channel"),
        ("01.01.2020 10:00 1 Mug", False, "past"),
        ("31.02 10:00 1 Mug", False, "bad_end"),
        ("0h 1 Mug", False, "bad_end"),  # shaped like a length: once an uncaught ValueError
        ("2h 1 " + "Mug " * 251, False, "long_prize"),
        ("25:00 1 Mug", False, "bad_end"),  # no such time: the apology
        ("18:75 1 Mug", False, "bad_end"),
        ("01.01.0001 00:00 1 Mug", False, "bad_end"),  # an OverflowError: the apology
    ],
)
def test_giveaway_argument_errors(text, private, code):
    with pytest.raises(GiveawayArgsError) as info:
        parse_giveaway(text, NOW, AMS, in_private=private)
    assert info.value.code == code


def test_the_service_reads_giveaway_times_against_its_clock():
    clock = FrozenClock(NOW)
    service = GiveawayService(None, None, None, None, None, None, None, clock=clock)  # type: ignore[arg-type]
    assert service.parse_request("2h 1 Mug", AMS, False).ends_at == NOW + timedelta(hours=2)
    clock.advance(3600)
    assert service.parse_request("2h 1 Mug", AMS, False).ends_at == NOW + timedelta(hours=3)
    clock.set(datetime(2020, 1, 1, tzinfo=UTC))
    assert service.parse_request("01.01.2020 10:00 1 Mug", AMS, False).ends_at == datetime(
        2020, 1, 1, 9, 0, tzinfo=UTC
    )


def test_a_refusal_is_stored_as_before():
    """Draw results keep the `reason:chat` text they always had."""
    assert str(Refusal(RefusalReason.NOT_SUBSCRIBED, "@news")) == "not_subscribed:@news"
    assert str(Refusal(RefusalReason.ADMIN)) == "admin"


def test_a_quiz_interval_of_nothing_is_refused_not_a_crash():
    from handlers.quizzes import DEFAULT_INTERVAL, parse_interval

    assert parse_interval(None) == DEFAULT_INTERVAL
    assert parse_interval("30s") == 30
    assert parse_interval("0s") is None
    assert parse_interval("0m") is None
    assert parse_interval("2x") is None


def test_a_stored_refusal_reads_back_as_it_was():
    """A draw announced at start from its stored rows names the skipped entrants' reasons
    (and required channels) as the draw itself would have."""
    for refusal in (
        Refusal(RefusalReason.NOT_SUBSCRIBED, "@newschan"),
        Refusal(RefusalReason.NOT_SUBSCRIBED, "-1001777000099"),
        Refusal(RefusalReason.NOT_IN_CHAT),
        Refusal(RefusalReason.ADMIN),
    ):
        assert Refusal.parse(str(refusal)) == refusal


def test_required_channels_as_people_paste_them():
    """`require=https://t.me/news` (the link a phone's share sheet gives) or a bare `news` was
    asked of Telegram as written, which knows no such chat: the organiser was told to add the
    bot to "https://t.me/news". Links and bare usernames now mean @news; a second require=
    adds its channels rather than silently replacing the first's."""
    g = parse_giveaway(
        "2h 1 Mug require=https://t.me/news,t.me/Blog_x/,telegram.me/shop1 require=club_chat,"
        "-1001234567890,@news",
        NOW,
        AMS,
        in_private=False,
    )
    assert g.require == ["@news", "@Blog_x", "@shop1", "@club_chat", "-1001234567890"]
    assert g.prize == "Mug"


class _Timers:
    """APScheduler's add_job/get_job as bot.scheduling uses them: the timers armed, by id."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple] = {}

    def add_job(self, func, trigger, *, run_date, args, id, **_) -> None:
        self.jobs[id] = (func, run_date.timestamp(), args)

    def get_job(self, job_id: str):
        return self.jobs.get(job_id)


async def test_a_giveaway_draw_the_database_failed_is_tried_again() -> None:
    """The end timer's draw met a lost database connection (PostgreSQL restarting): the
    error went to the scheduler's log and the giveaway had no timer left, so in one process it
    stayed open until the next start. The draw is tried again shortly."""
    from bot.engagement.giveaways import DRAW_RETRY_SECONDS

    clock = FrozenClock(NOW)
    timers = _Timers()
    service = GiveawayService(None, None, None, None, timers, None, None, clock=clock)  # type: ignore[arg-type]
    calls: list[tuple[int, bool]] = []

    async def end(giveaway_id: int, resume: bool = False) -> bool:
        calls.append((giveaway_id, resume))
        if len(calls) == 1:
            raise ConnectionResetError("connection to the database was lost")
        return False  # claimed before the failure: not open any more

    service.end = end  # type: ignore[method-assign]
    await service.timer(7)
    func, at, args = timers.jobs["giveaway:7"]
    assert at == clock() + DRAW_RETRY_SECONDS
    await func(*args)
    assert calls == [(7, False), (7, False), (7, True)]  # then resumed


async def test_a_giveaway_drawn_but_not_announced_when_the_database_failed_is_announced() -> None:
    """The database failed after the draw was stored, while its result was being posted: the
    retry found the giveaway neither open nor being drawn, and returned, so in one process the
    result waited for the next start. It now announces the stored winners."""
    clock = FrozenClock(NOW)
    timers = _Timers()
    service = GiveawayService(None, None, None, None, timers, None, None, clock=clock)  # type: ignore[arg-type]
    announced: list[int] = []

    async def end(giveaway_id: int, resume: bool = False) -> bool:
        if not resume and not announced and "giveaway:7" not in timers.jobs:
            raise ConnectionResetError("connection to the database was lost")
        return False  # drawn: neither open nor being drawn

    async def announce_stored(giveaway_id: int) -> bool:
        announced.append(giveaway_id)
        return True

    service.end = end  # type: ignore[method-assign]
    service._announce_stored = announce_stored  # type: ignore[method-assign]
    await service.timer(7)
    func, _at, args = timers.jobs["giveaway:7"]
    await func(*args)
    assert announced == [7]
