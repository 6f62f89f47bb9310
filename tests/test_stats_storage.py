"""Statistics written by several workers at once (PostgreSQL, one database)."""

from __future__ import annotations

import asyncio

from storage.database import Database
from storage.reputation import ReputationRepository
from storage.stats import StatsRepository


async def test_workers_flushing_the_same_rows_in_different_orders_do_not_deadlock(
    pg_url: str,
) -> None:
    """Each worker's buffer lists its rows in the order members happened to write to it; two
    flushes locking the same rows in opposite orders deadlock unless the writes are ordered."""
    first, second = Database(pg_url), Database(pg_url)
    await first.open()
    await second.open()
    try:
        members = [(-100, "2026-12-01", 1000 + n, f"m{n}", 1) for n in range(300)]
        hourly = [(-100 - n, "2026-12-01", 9, 1) for n in range(50)]
        chats = [(-100 - n, "2026-12-01", "messages", 1) for n in range(50)]
        mood = {(-100 - n, "2026-12-01"): (1, 0) for n in range(50)}
        backwards = dict(reversed(mood.items()))
        rounds = 5
        for _ in range(rounds):
            await asyncio.gather(
                StatsRepository(first).write_batch(chats, members, hourly),
                StatsRepository(second).write_batch(chats[::-1], members[::-1], hourly[::-1]),
                ReputationRepository(first).add_mood(mood),
                ReputationRepository(second).add_mood(backwards),
            )
        counted = await first.fetchone(
            "SELECT COUNT(*) AS rows, SUM(messages) AS messages FROM daily_member_stats"
        )
        assert (counted["rows"], counted["messages"]) == (300, 300 * 2 * rounds)
        hours = await first.fetchone("SELECT SUM(messages) AS n FROM hourly_activity")
        assert hours["n"] == 50 * 2 * rounds
        days = await first.fetchone("SELECT SUM(messages) AS n FROM daily_chat_stats")
        assert days["n"] == 50 * 2 * rounds
        moods = await first.fetchone("SELECT SUM(messages) AS n FROM mood_daily")
        assert moods["n"] == 50 * 2 * rounds
    finally:
        await first.close()
        await second.close()
