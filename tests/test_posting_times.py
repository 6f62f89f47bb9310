"""Reading managers' times: formats, past/nonexistent/ambiguous times, recurrences over DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.posting.times import TimeError, parse_recurrence, parse_time

AMS = __import__("zoneinfo").ZoneInfo("Europe/Amsterdam")
# Thursday 26 November 2026, 14:00 in Amsterdam (UTC+1)
NOW = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected_local"),
    [
        ("18:30", datetime(2026, 11, 26, 18, 30)),
        ("09:15", datetime(2026, 11, 27, 9, 15)),  # passed today: tomorrow
        ("tomorrow 10:00", datetime(2026, 11, 27, 10, 0)),
        ("Завтра 10:00", datetime(2026, 11, 27, 10, 0)),
        ("25.12 18:00", datetime(2026, 12, 25, 18, 0)),
        ("25.12.2026 18:00", datetime(2026, 12, 25, 18, 0)),
        ("2026-12-25 18:00", datetime(2026, 12, 25, 18, 0)),
        ("01.01 09:00", datetime(2027, 1, 1, 9, 0)),
        ("10.11 09:00", datetime(2027, 11, 10, 9, 0)),  # a date already gone this year
    ],
)
def test_local_formats(text, expected_local):
    assert parse_time(text, NOW, AMS) == expected_local.replace(tzinfo=AMS).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "seconds"), [("+90s", 90), ("+30m", 1800), ("+2h", 7200), ("+1d", 86400)]
)
def test_offsets(text, seconds):
    assert (parse_time(text, NOW, AMS) - NOW).total_seconds() == seconds


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("soon", "unknown"),
        ("25:00", "invalid"),
        ("31.02 10:00", "invalid"),
        ("2025-01-01 10:00", "past"),
        ("26.11.2026 10:00", "past"),
        ("2027-03-28 02:30", "nonexistent"),  # clocks jump 02:00 -> 03:00
        ("2027-10-31 02:30", "ambiguous"),  # 02:00-03:00 happens twice
    ],
)
def test_refused_times(text, code):
    with pytest.raises(TimeError) as info:
        parse_time(text, NOW, AMS)
    assert info.value.code == code


def test_times_past_the_end_of_the_calendar_are_invalid_not_a_crash():
    new_york = __import__("zoneinfo").ZoneInfo("America/New_York")
    for text, zone in [("31.12.9999 23:59", new_york), ("9999-12-31 23:59", new_york)]:
        with pytest.raises(TimeError) as info:
            parse_time(text, NOW, zone)
        assert info.value.code == "invalid"


def test_weekly_recurrence_keeps_local_time_across_dst():
    weekly = parse_recurrence("weekly sun 10:00", AMS)
    fires = []
    moment = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
    for _ in range(3):
        moment = weekly.next_after(moment)
        fires.append(moment)
        moment = moment.replace(second=1)
    local = [f.astimezone(AMS) for f in fires]
    assert [(d.month, d.day, d.hour, d.minute) for d in local] == [
        (3, 21, 10, 0),
        (3, 28, 10, 0),
        (4, 4, 10, 0),
    ]
    # the UTC moment moves by an hour when summer time starts on 28 March
    assert [f.hour for f in fires] == [9, 8, 8]


def test_recurrence_fires_once_in_the_hour_the_clocks_repeat():
    """On 31 October 2027 Amsterdam lives 02:00-03:00 twice: a post due daily at 02:30 (or
    hourly) goes out once at that wall-clock time, not once in each of the two hours."""
    for spec, expected in [
        ("daily 02:30", [(30, 2, 30), (31, 2, 30), (1, 2, 30)]),
        ("30 * * * *", [(31, 1, 30), (31, 2, 30), (31, 3, 30)]),
    ]:
        recurrence = parse_recurrence(spec, AMS)
        moment = datetime(2027, 10, 30, 0, 0, tzinfo=UTC) if "daily" in spec else None
        moment = moment or datetime(2027, 10, 30, 23, 0, tzinfo=UTC)  # 01:00 local
        fires = []
        for _ in range(3):
            moment = recurrence.next_after(moment)
            fires.append(moment.astimezone(AMS))
            moment = moment.replace(second=1)  # as the publisher asks: strictly after
        assert [(f.day, f.hour, f.minute) for f in fires] == expected, spec
        assert len({f.astimezone(UTC) for f in fires}) == 3


def test_daily_and_cron_recurrences():
    daily = parse_recurrence("daily 07:30", AMS)
    first = daily.next_after(NOW)
    assert first.astimezone(AMS).replace(tzinfo=None) == datetime(2026, 11, 27, 7, 30)
    cron = parse_recurrence("0 9 * * 1-5", AMS)
    assert cron.next_after(NOW).astimezone(AMS).replace(tzinfo=None) == datetime(2026, 11, 27, 9, 0)
    for bad in ("weekly funday 10:00", "daily 25:00", "every day", "* * * * * *"):
        with pytest.raises(TimeError):
            parse_recurrence(bad, AMS)


@pytest.mark.parametrize("text", ["+0s", "+0m", "+0h", "+0d", "+000000s"])
def test_an_offset_of_nothing_is_no_time_ahead(text):
    """`+0s` is now: refused (with the usage hint) rather than queued to go out at once."""
    with pytest.raises(TimeError) as info:
        parse_time(text, NOW, AMS)
    assert info.value.code == "not_ahead"


@pytest.mark.parametrize(
    "text", ["2099-01-01 10:00", "01.01.2099 10:00", "+366d", "+999999d", "27.11.2027 14:01"]
)
def test_a_time_more_than_a_year_ahead_is_too_far(text):
    """Telegram's own scheduled messages go a year ahead; beyond that it is a typo (2099)."""
    with pytest.raises(TimeError) as info:
        parse_time(text, NOW, AMS)
    assert info.value.code == "too_far"


@pytest.mark.parametrize("text", ["+365d", "26.11.2027 14:00", "+1s"])
def test_up_to_a_year_ahead_is_taken(text):
    assert parse_time(text, NOW, AMS) > NOW


@pytest.mark.parametrize(
    ("text", "expected_local"),
    [
        ("today 18:30", datetime(2026, 11, 26, 18, 30)),
        ("сегодня 18:30", datetime(2026, 11, 26, 18, 30)),
        ("Vandaag 18:30", datetime(2026, 11, 26, 18, 30)),
        ("morgen 9:05", datetime(2026, 11, 27, 9, 5)),
    ],
)
def test_today_and_tomorrow_in_the_managers_words(text, expected_local):
    """A Russian or Dutch manager types the day as they say it, as `завтра` already was."""
    assert parse_time(text, NOW, AMS) == expected_local.replace(tzinfo=AMS).astimezone(UTC)


@pytest.mark.parametrize("text", ["today 09:15", "сегодня 09:15", "vandaag 09:15"])
def test_today_that_has_passed_is_refused_not_moved_to_tomorrow(text):
    """`18:30` alone may mean tomorrow; a time said to be today that has passed is refused."""
    with pytest.raises(TimeError) as info:
        parse_time(text, NOW, AMS)
    assert info.value.code == "past"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("+90с", 90), ("+30м", 1800), ("+2ч", 7200), ("+1д", 86400), ("+2u", 7200), ("+2 h", 7200)],
)
def test_offsets_with_russian_and_dutch_units(text, seconds):
    """Units as a Russian (с, м, ч, д) or Dutch (u for uur) phone keyboard types them."""
    assert (parse_time(text, NOW, AMS) - NOW).total_seconds() == seconds


@pytest.mark.parametrize(
    ("text", "weekday"),
    [
        ("ежедневно 07:30", None),
        ("Dagelijks 07:30", None),
        ("еженедельно пн 07:30", 0),
        ("wekelijks ma 07:30", 0),
        ("еженедельно понедельник 07:30", 0),
    ],
)
def test_recurrences_in_russian_and_dutch(text, weekday):
    """`daily` and `weekly` in the managers' words, as the weekday names already were."""
    first = parse_recurrence(text, AMS).next_after(NOW).astimezone(AMS)
    assert (first.hour, first.minute) == (7, 30)
    if weekday is None:
        assert first.date() == datetime(2026, 11, 27).date()
    else:
        assert first.weekday() == weekday and first.date() == datetime(2026, 11, 30).date()


@pytest.mark.parametrize("spec", ["* 9 * * *", "* * * * *", "*/10 * * * *", "0,5 9 * * 1"])
def test_a_recurrence_more_often_than_every_half_hour_is_refused(spec):
    """A cron typo such as `* 9 * * *` (every minute of 9 o'clock, not 09:00) was taken: sixty
    copies of the post went to the channel that hour, every day. /schedule and Custom… now
    refuse a repeat closer than MIN_REPEAT (half an hour, as posting slots are) with a reason."""
    from bot.clock import FrozenClock
    from bot.posting.service import PostingService

    posting = PostingService(None, None, None, None, FrozenClock(NOW))  # type: ignore[arg-type]
    with pytest.raises(TimeError) as info:
        posting.schedule_time(spec, AMS)
    assert info.value.code == "too_often"


@pytest.mark.parametrize("spec", ["*/30 * * * *", "0 9 * * *", "daily 09:00", "0 9,18 * * 1-5"])
def test_a_recurrence_every_half_hour_or_less_often_is_taken(spec):
    from bot.clock import FrozenClock
    from bot.posting.service import PostingService

    posting = PostingService(None, None, None, None, FrozenClock(NOW))  # type: ignore[arg-type]
    assert posting.schedule_time(spec, AMS).recurrence is not None
