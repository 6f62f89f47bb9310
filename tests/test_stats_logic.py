"""Statistics logic: collection buffering, report arithmetic, best time."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.clock import LocalHour
from bot.stats.collector import StatsCollector
from bot.stats.report import (
    best_time,
    build_report,
    change,
    engagement_rate,
    parse_period,
    spreadsheet_safe,
)
from storage.database import Database
from storage.stats import StatsRepository

AMS = ZoneInfo("Europe/Amsterdam")


def test_change_and_er_and_periods():
    assert change(0, 0) == "±0%" and change(5, 0) == "new"
    assert change(110, 100) == "+10%" and change(50, 100) == "-50%"
    assert engagement_rate({"reactions": 7, "comments": 3, "members_at_post": 200}) == 5.0
    assert engagement_rate({"reactions": 7, "comments": 3, "members_at_post": None}) is None
    assert parse_period(None) == 7 and parse_period("90D") == 90 and parse_period("2w") is None


@pytest.fixture
async def repo(db_target):
    db = Database(db_target)
    await db.open()
    yield StatsRepository(db)
    await db.close()


async def test_collector_buffers_by_local_day_and_flushes_once(repo):
    collector = StatsCollector(repo, AMS)
    # 23:30 UTC on Nov 25 is 00:30 on Nov 26 in Amsterdam
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC).timestamp()
    for _ in range(3):
        collector.message(-1, 7, "Ann", late)
    collector.message(-1, 8, "Ben", late + 60)
    collector.bump(-1, "joins", ts=late)
    assert collector.pending
    await collector.flush()
    assert collector.pending == 0
    rows = await repo.daily(-1, "2026-11-25", "2026-11-26")
    assert [(r["day"], r["messages"], r["joins"]) for r in rows] == [("2026-11-26", 4, 1)]
    assert await repo.active_members(-1, "2026-11-26", "2026-11-26") == 2
    hourly = await repo.hourly(-1, "2026-11-26", "2026-11-26")
    assert [(h["hour"], h["messages"]) for h in hourly] == [(0, 4)]


async def test_a_flush_returns_only_once_an_earlier_one_still_writing_is_written(repo):
    """The periodic flush took the counts and was still writing them when /stats flushed and
    read the report: that flush found nothing to write, returned at once, and the report
    missed the counts on their way to the database (seen as a week reported as 1 message)."""
    collector = StatsCollector(repo, UTC)
    collector.message(-1, 7, "Ann", 1_800_000_000)
    write, writing, go_on = repo.write_batch, asyncio.Event(), asyncio.Event()

    async def slow(*args):
        writing.set()
        await go_on.wait()
        await write(*args)

    repo.write_batch = slow
    periodic = asyncio.create_task(collector.flush())
    await writing.wait()
    report = asyncio.create_task(collector.flush())
    await asyncio.sleep(0.1)
    assert not report.done()  # waits for the periodic flush
    go_on.set()
    await report
    day = datetime.fromtimestamp(1_800_000_000, UTC).date().isoformat()
    assert [r["messages"] for r in await repo.daily(-1, day, day)] == [1]
    await periodic


async def test_an_update_counts_once_handled_and_not_when_cut_off(repo):
    """What an update counts waits for its end: counted when it was handled, dropped when
    its handling was cut off (Telegram delivers it again, and that delivery counts)."""
    collector = StatsCollector(repo, UTC)
    day = datetime.fromtimestamp(1_800_000_000, UTC).date().isoformat()

    async def update(handled: bool) -> None:
        tally = collector.begin_update()
        collector.message(-1, 7, "Ann", 1_800_000_000)
        collector.bump(-1, "questions", ts=1_800_000_000)
        await collector.flush()  # a flush meanwhile writes nothing of it
        await collector.end_update(tally, handled=handled)

    await asyncio.create_task(update(False))
    await collector.flush()
    assert await repo.daily(-1, day, day) == []
    await asyncio.create_task(update(True))
    await collector.flush()
    rows = await repo.daily(-1, day, day)
    assert [(r["messages"], r["questions"]) for r in rows] == [(1, 1)]


async def test_failed_flush_keeps_the_counts(repo):
    collector = StatsCollector(repo, AMS)
    collector.message(-1, 7, "Ann", 1_800_000_000)
    await repo.db.close()
    await collector.flush()  # the database is gone: nothing may be lost
    assert collector.pending
    await repo.db.open()
    await collector.flush()
    assert collector.pending == 0


async def test_report_compares_with_the_previous_period(repo):
    collector = StatsCollector(repo, UTC)
    day = 86400
    base = datetime(2026, 11, 1, 12, tzinfo=UTC).timestamp()
    for n in range(14):
        for _ in range(n + 1):
            collector.message(-5, 1, "A", base + n * day)
    await collector.flush()
    report = await build_report(repo, -5, "G", "group", 7, date(2026, 11, 14), UTC)
    assert report.totals["messages"] == sum(range(8, 15))
    assert report.previous["messages"] == sum(range(1, 8))
    assert report.series[0][0] == "2026-11-08" and len(report.series) == 7


async def test_best_time_needs_enough_samples(repo):
    collector = StatsCollector(repo, UTC)
    monday_9 = datetime(2026, 11, 2, 9, 15, tzinfo=UTC).timestamp()
    collector.message(-9, 1, "A", monday_9)  # one busy-looking Monday is not a pattern
    for _ in range(40):
        collector.message(-9, 1, "A", monday_9)
    for week in range(3):
        for _ in range(5):
            collector.message(-9, 1, "A", monday_9 + week * 7 * 86400 + 2 * 86400 + 8 * 3600)
    await collector.flush()
    best = await best_time(repo, -9, "group", 30, date(2026, 11, 26), UTC, min_samples=2)
    assert best.best == (2, 17)  # Wednesday 17:00, seen three weeks running
    assert best.grid[0][9] == 41  # the one-off Monday is shown but not suggested


async def test_own_album_post_is_one_post_whose_parts_add_up(repo):
    """An album with a buttons follow-up: one post, reactions per message summed, a comment under
    any part counts for the post."""
    await repo.add_own_post(-1001, [10, 11, 12, 13], 1_800_000_000, 200)
    assert await repo.set_post_reactions(-1001, 11, 5) == 5
    assert await repo.set_post_reactions(-1001, 10, 2) == 2
    assert await repo.set_post_reactions(-1001, 11, 4) == -1  # Telegram sends new totals
    assert await repo.add_comment(-1001, 12)
    [post] = await repo.posts(-1001, 0, 2**40)
    assert (post["message_id"], post["reactions"], post["comments"]) == (10, 6, 1)
    assert (post["by_steward"], post["members_at_post"]) == (1, 200)
    assert await repo.set_post_reactions(-1001, 99, 3) == 0  # unknown message: not counted


async def test_a_post_recorded_both_ways_counts_once(repo):
    # the channel_post arrives after the bot recorded its own post: ignored
    await repo.add_own_post(-1001, [20, 21], 1_800_000_000, 100)
    assert not await repo.add_post(-1001, 21, 1_800_000_001, 100)
    assert not await repo.add_post(-1001, 20, 1_800_000_001, 100)
    # or before: the bot's record takes it over instead of adding a second post
    assert await repo.add_post(-1001, 31, 1_800_000_100, 90)
    await repo.set_post_reactions(-1001, 31, 4)
    await repo.add_own_post(-1001, [30, 31], 1_800_000_100, 100)
    posts = await repo.posts(-1001, 0, 2**40)
    assert [(p["message_id"], p["by_steward"]) for p in posts] == [(20, 1), (30, 1)]
    assert posts[1]["reactions"] == 4
    # a person's post is counted as before
    assert await repo.add_post(-1001, 40, 1_800_000_200, 100)
    assert await repo.set_post_reactions(-1001, 40, 2) == 2
    assert len(await repo.posts(-1001, 0, 2**40)) == 3


@pytest.mark.parametrize(
    "zone", ["Europe/Amsterdam", "America/Havana", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
)
def test_the_local_hour_is_remembered_only_while_it_lasts(zone):
    """Statistics and the mood count read the local day and hour once per hour: it must turn
    exactly when the local clock does, in half-hour zones, on clock-change days (Havana's at
    midnight, Lord Howe's half hour) and when the clock goes back."""
    tz = ZoneInfo(zone)
    hours = LocalHour(tz)
    start = datetime(2025, 3, 7, tzinfo=tz).timestamp()
    instants = [start + minutes * 60 for minutes in range(0, 60 * 24 * 250, 13)]
    instants += [start + 86_400 * 100, start, start + 86_400 * 240 - 1, start + 1799.5]
    for instant in instants:
        local = datetime.fromtimestamp(instant, tz)
        assert hours.day_hour(instant) == (local.date().isoformat(), local.hour), instant


async def test_a_half_hour_zone_counts_its_hours_from_its_own_clock(repo):
    """India is UTC+5:30: 09:10 and 09:40 UTC are 14:40 and 15:10 there, two hours apart."""
    collector = StatsCollector(repo, ZoneInfo("Asia/Kolkata"))
    at = datetime(2026, 5, 4, 9, 10, tzinfo=UTC).timestamp()
    collector.message(-1, 7, "Ann", at)
    collector.message(-1, 7, "Ann", at + 30 * 60)
    await collector.flush()
    rows = await repo.hourly(-1, "2026-05-04", "2026-05-04")
    assert sorted((r["hour"], r["messages"]) for r in rows) == [(14, 1), (15, 1)]


def test_csv_text_cells_never_run_as_spreadsheet_formulas():
    row = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "Spring", -1001, 3, "", None]
    assert spreadsheet_safe(row) == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "Spring",
        -1001,
        3,
        "",
        None,
    ]
