#!/usr/bin/env python3
"""Time and memory to build a 90-day report for a chat with 1,000,000 messages behind it.

    python bench/stats_report.py [--messages 1000000] [--members 3000]

The messages go through Steward's real collector (the same code the pipeline runs) with
timestamps spread over 180 days, so the database holds exactly the aggregates a real chat of
that size would: no row per message. Then a 90-day report (with the previous 90 days for
comparison), its chart and the best-time heat map are built and timed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.stats import charts
from bot.stats.collector import StatsCollector
from bot.stats.report import best_time, build_report
from storage.database import Database
from storage.stats import StatsRepository

CHAT = -1001000000777


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=3000)
    args = parser.parse_args(argv)
    today = date(2026, 11, 26)
    end = datetime(2026, 11, 26, 23, 0, tzinfo=UTC).timestamp()
    start = end - 180 * 86400
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "stats.sqlite3")
        await db.open()
        repo = StatsRepository(db)
        collector = StatsCollector(repo, UTC)
        t0 = time.perf_counter()
        times = sorted(rng.uniform(start, end) for _ in range(args.messages))
        for n, ts in enumerate(times):
            collector.message(CHAT, rng.randrange(args.members), "member", ts)
            if n % 200_000 == 199_999:
                await collector.flush()
        await collector.flush()
        fill = time.perf_counter() - t0
        counts = {}
        for table in ("daily_chat_stats", "daily_member_stats", "hourly_activity"):
            counts[table] = (await db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0]
        size = (Path(folder) / "stats.sqlite3").stat().st_size
        t_warm = time.perf_counter()
        charts.warm_up()  # the bot does this once at start, in a worker thread
        warm = time.perf_counter() - t_warm
        t1 = time.perf_counter()
        report = await build_report(repo, CHAT, "Bench", "group", 90, today, UTC)
        t2 = time.perf_counter()
        png = charts.activity_chart(report)
        t3 = time.perf_counter()
        best = await best_time(repo, CHAT, "group", 90, today, UTC)
        heat = charts.heatmap_chart(best, "Bench")
        t4 = time.perf_counter()
        tracemalloc.start()  # a second, traced pass for memory (tracing slows it down)
        traced = await build_report(repo, CHAT, "Bench", "group", 90, today, UTC)
        charts.activity_chart(traced)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await db.close()
    print(
        f"messages collected: {args.messages:,} from {args.members:,} members over 180 days "
        f"in {fill:.1f}s ({args.messages / fill:,.0f}/s through the collector)"
    )
    print(
        "rows stored: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + f"; database {size / 1e6:.1f} MB (no row per message)"
    )
    print(f"matplotlib warm-up (once per process, at start): {warm * 1000:.0f} ms")
    print(
        f"90-day report (with previous period): {(t2 - t1) * 1000:.0f} ms; "
        f"messages in period {report.totals['messages']:,}"
    )
    print(f"activity chart: {(t3 - t2) * 1000:.0f} ms ({len(png):,} bytes PNG)")
    print(f"best-time heat map (query + chart): {(t4 - t3) * 1000:.0f} ms ({len(heat):,} bytes)")
    print(
        f"total /stats report (numbers + chart): {(t3 - t1) * 1000:.0f} ms against the 1000 ms "
        f"target; with the heat map too: {(t4 - t1) * 1000:.0f} ms"
    )
    print(f"peak Python memory while building a report and its chart: {peak / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
