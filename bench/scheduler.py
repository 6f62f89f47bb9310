#!/usr/bin/env python3
"""Scheduled posts: timer rebuild at start, and publish lateness when many posts fall due at once.

    python bench/scheduler.py [--queued 10000] [--burst 1000] [--channels 20]

1. `--queued` posts spread over the next 30 days across `--channels` channels in a temporary
   database; prints how long `Publisher.rebuild()` takes to arm their timers (target < 2 s).
2. `--burst` posts all due in the same minute, published through Steward's real outbound layer
   (pacing, 429 handling) against an in-process Telegram that answers 429 beyond 30 messages/s.
   Prints lateness p50/p99 next to the physical minimum, and counts duplicates and losses
   (targets: p99 within 10 % of the minimum; zero and zero). The minimum is the larger of
   count / 30 s (Telegram's overall limit) and the busiest channel's posts at about 1/s
   (Telegram's per-chat limit, kept as 1 in any second): 1,000 posts over 20 channels is 50 per
   channel, so 49 s; from 34 channels on the overall limit binds and it is count / 30.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import TOKEN, LocalSession, percentile
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import CopyMessage
from aiogram.types import MessageId
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.outbound import OutboundMiddleware, PacingPolicy
from bot.posting.publisher import Publisher
from storage.database import Database
from storage.posts import PostRepository

LIMIT_PER_SECOND = 30


class RateLimitedTelegram(LocalSession):
    """Answers copyMessage, refusing with 429 beyond 30 messages in any second."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []
        self.per_post: collections.Counter[tuple[int, int]] = collections.Counter()
        self.rejected = 0

    async def make_request(self, bot, method, timeout=None):
        if isinstance(method, CopyMessage):
            now = time.monotonic()
            while self.sent and now - self.sent[0] > 1.0:
                self.sent.pop(0)
            if len(self.sent) >= LIMIT_PER_SECOND:
                self.rejected += 1
                raise TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=1)
            self.sent.append(now)
            self.per_post[(int(method.chat_id), int(method.message_id))] += 1
            return MessageId(message_id=next(self._ids))
        return await super().make_request(bot, method, timeout)


async def notify(post, reason) -> None:
    return None


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=20)
    args = parser.parse_args(argv)
    channels = [-1002000000000 - n for n in range(args.channels)]
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "posts.sqlite3")
        await db.open()
        repo = PostRepository(db)
        now = int(time.time())
        for n in range(args.queued):
            await repo.add(
                channel_id=channels[n % len(channels)],
                source_chat_id=1,
                source_message_ids=[n + 1],
                due_at=now + 3600 + n * 259,
                created_by=None,
                now=now,
            )
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.start()
        session = RateLimitedTelegram()
        outbound = OutboundMiddleware()
        session.middleware(outbound)
        bot = Bot(TOKEN, session=session)
        publisher = Publisher(
            bot, repo, scheduler, 3600, notify, mark_channel=outbound.pacer.mark_channel
        )
        started = time.perf_counter()
        counts = await publisher.rebuild()
        rebuild = time.perf_counter() - started
        print(f"rebuild: {counts['armed']:,} timers armed in {rebuild:.2f}s (target < 2 s)")
        for job in scheduler.get_jobs():  # clear the queue before the burst
            job.remove()

        due = int(time.time()) + 5
        burst_ids = []
        for n in range(args.burst):
            post_id = await repo.add(
                channel_id=channels[n % len(channels)],
                source_chat_id=1,
                source_message_ids=[1_000_000 + n],
                due_at=due,
                created_by=None,
                now=due - 5,
            )
            burst_ids.append(post_id)
        for post_id in burst_ids:
            publisher.arm(await repo.get(post_id))
        deadline = time.time() + 30 + args.burst  # generous; the loop ends when all are out
        while time.time() < deadline:
            published = await db.fetchone(
                "SELECT COUNT(*) FROM posts WHERE status IN ('published','failed') AND id>=?",
                (burst_ids[0],),
            )
            if published[0] >= len(burst_ids):
                break
            await asyncio.sleep(0.5)
        rows = await db.fetchall(
            "SELECT status, published_at FROM posts WHERE id>=?", (burst_ids[0],)
        )
        scheduler.shutdown(wait=False)
        await db.close()
    lateness = sorted(r["published_at"] - due for r in rows if r["status"] == "published")
    duplicates = sum(n - 1 for n in session.per_post.values() if n > 1)
    losses = args.burst - len(lateness)
    overall_floor = args.burst / LIMIT_PER_SECOND
    busiest = -(-args.burst // args.channels)  # posts in the busiest channel
    per_chat = PacingPolicy().per_chat  # 1 in any 1 s: the n-th post of a chat at n-1 s
    per_chat_floor = (busiest - 1) // per_chat.count * per_chat.window
    minimum = max(overall_floor, per_chat_floor)
    p99 = percentile(lateness, 99)
    print(
        f"burst: {args.burst} posts due at once across {args.channels} channels; "
        f"429 answers: {session.rejected}"
    )
    print(
        f"lateness p50 {percentile(lateness, 50):.0f}s, p99 {p99:.0f}s; physical minimum "
        f"{minimum:.1f}s = max({args.burst} / {LIMIT_PER_SECOND} per s = {overall_floor:.1f}s, "
        f"{busiest} posts in one channel at {per_chat.count} per {per_chat.window:.0f}s = "
        f"{per_chat_floor:.0f}s); p99/minimum "
        f"{p99 / minimum:.2f}; p99 / (count/30) {p99 / overall_floor:.2f}"
    )
    print(f"duplicates: {duplicates}, losses: {losses}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
