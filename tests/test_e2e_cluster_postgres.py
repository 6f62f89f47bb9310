"""Three `python -m bot` workers on one PostgreSQL and one Redis, behind a webhook balancer.

The deployment the README's "Several workers" describes, end to end: the workers are real
processes started by the real entry point, with the same DATABASE_URL (a fresh database on the
session's PostgreSQL), REDIS_URL, WEBHOOK_URL and WEBHOOK_SECRET and their own HTTP_LISTEN. The
test is Telegram and the load balancer (tests/cluster_harness.Balancer): each chat's updates one
at a time (the next once the last was answered), some delivered a second time to another worker
while the first is still being handled, a failed delivery retried on the next worker.

One burst: 1,000 updates over 50 chats while 200 scheduled posts fall due together, and one
worker is killed with -9 in the middle of it. Then every update was handled once and each chat's
replies came in order, every post went out once or (claimed by the dead worker when its request
may have reached Telegram) waits for the manager, who was told; nothing twice; and the fake
Telegram's request log never shows more than 30 messages in any second from all workers.

WORKER_LEASE_SECONDS is short here (the dead worker's update claims, chat turns and post leases
run out within seconds instead of minutes); nothing in the test sleeps for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.database import Database
from storage.posts import Channel, ChannelRepository, PostRepository
from tests.cluster_harness import Balancer, ProcessWorker, worker_env
from tests.fake_telegram import Call, FakeTelegram
from tests.harness import MANAGER_ID

WORKERS = 3
CHATS = 50
UPDATES = 1000
POSTS = 200
CHANNELS = 40
LEASE_SECONDS = 4
POSTS_DUE_AFTER = 30  # seconds after they were queued; the workers start meanwhile
MESSAGE_METHODS = {"sendMessage", "copyMessage", "copyMessages", "sendPhoto", "sendDocument"}


def messages_of(call: Call) -> int:
    """How many messages a call creates (what Telegram's 30 a second counts)."""
    if call.method == "copyMessages":
        return len(call["message_ids"])
    return 1


def arrivals(calls: list[Call], stalls: list[tuple[float, float]]) -> list[tuple[float, int]]:
    """(arrival time, messages) of each call. The fake stamps a request when its event loop
    reads it: requests that came while its loop stood still (from `start` to `end`) are read,
    and stamped, together right after `end`. Those stamps say nothing about when each came, so
    they are spread evenly over the stall; every other stamp stands as it is."""
    stamps = sorted((c.at, messages_of(c)) for c in calls)
    for start, end in stalls:
        late = [k for k, (t, _) in enumerate(stamps) if end <= t <= end + 0.03]
        for n, k in enumerate(late):
            stamps[k] = (start + (end - start) * (n + 1) / (len(late) + 1), stamps[k][1])
    return sorted(stamps)


def busiest_second(stamps: list[tuple[float, int]]) -> tuple[int, float]:
    """The most messages in any window of one second."""
    best, at, start, inside = 0, 0.0, 0, 0
    for t, n in stamps:
        inside += n
        while t - stamps[start][0] >= 1.0:
            inside -= stamps[start][1]
            start += 1
        if inside > best:
            best, at = inside, t
    return best, at


async def queue_posts(fake: FakeTelegram, url: str, due_at: int) -> dict[int, tuple[int, int]]:
    """POSTS posts over CHANNELS channels, all due at `due_at`, written as the manager's /post
    would leave them; {post id: (channel, source message id)}."""
    manager = fake.user(MANAGER_ID, "Manny")
    fake.start_bot(manager)
    chat = fake.private_chat(manager)
    channels = [
        fake.add_chat(-1001000000100 - i, "channel", f"Channel {i}") for i in range(CHANNELS)
    ]
    db = Database(url)
    await db.open()
    try:
        now = int(time.time())
        repo, channel_repo = PostRepository(db), ChannelRepository(db)
        for ch in channels:
            await channel_repo.upsert(
                Channel(ch["id"], ch["title"], None, True, True, True, True), now
            )
        posts = {}
        for n in range(POSTS):
            source = fake.new_message(chat, manager, f"post number {n}")
            channel = channels[n % CHANNELS]["id"]
            post_id = await repo.add(
                channel_id=channel,
                source_chat_id=MANAGER_ID,
                source_message_ids=[source["message_id"]],
                due_at=due_at,
                created_by=MANAGER_ID,
                now=now,
            )
            posts[post_id] = (channel, source["message_id"])
        return posts
    finally:
        await db.close()


async def post_statuses(url: str) -> dict[int, str]:
    db = Database(url)
    await db.connect()  # type: ignore[attr-defined]
    try:
        rows = await db.fetchall("SELECT id, status FROM posts")
        return {r["id"]: r["status"] for r in rows}
    finally:
        await db.close()


@pytest.fixture
def telegram_first() -> Iterator[int]:
    """The fake Telegram stamps each request when its event loop gets to it: on a machine
    whose cores are busy (the workers, PostgreSQL, other test runs) a stall of this process
    would stamp a queue of requests as one burst. Real Telegram is not on the bot's CPU, so
    this process gets the CPU first while the test runs (when allowed to: root or
    CAP_SYS_NICE), and its garbage collector, which stalled it a quarter of a second in the
    middle of the burst, waits until the end. Its remaining stalls are shown if the send
    budget check fails."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    gc.collect()
    gc.disable()
    try:
        yield before  # the workers' nice value
    finally:
        gc.enable()
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, before)


@pytest.fixture
async def cluster(
    telegram_first: int, fake: FakeTelegram, tmp_path: Path, redis_url: str, pg_url: str
) -> Any:
    workers = [
        ProcessWorker(
            worker_env(
                fake,
                tmp_path,
                i,
                redis_url,
                database={"DATABASE_URL": pg_url},
                WORKER_LEASE_SECONDS=str(LEASE_SECONDS),
            ),
            tmp_path / f"worker{i}.log",
            priority=telegram_first,
        )
        for i in range(WORKERS)
    ]
    try:
        yield workers
    finally:
        codes = await asyncio.gather(*(w.stop() for w in workers))
        for worker, code in zip(workers, codes, strict=True):
            running = worker.log().split("shutting down")[0]
            assert " ERROR " not in running and "Traceback" not in running, running[-4000:]
            assert code in (0, -9), f"exit {code}:\n{worker.log()[-4000:]}"


async def test_three_workers_on_one_postgresql_lose_and_double_nothing(
    fake: FakeTelegram, cluster: list[ProcessWorker], pg_url: str
) -> None:
    started = time.monotonic()
    rng = random.Random(13)
    # the posts fall due in the middle of the burst (a slow start publishes them late: once too)
    posts = await queue_posts(fake, pg_url, int(time.time()) + POSTS_DUE_AFTER)
    since = fake.mark()
    await asyncio.gather(*(w.spawn() for w in cluster))
    await asyncio.gather(*(w.ready() for w in cluster))
    ready = time.monotonic()

    users = [fake.user(20_000 + i, f"Member{i}") for i in range(CHATS)]
    chats = [fake.private_chat(u) for u in users]
    asked: dict[int, list[int]] = defaultdict(list)  # chat -> message ids, in Telegram's order
    doubled: set[int] = set()
    victims: list[int] = []
    killed_at: list[float] = []

    async with Balancer(cluster, retry_delay=0.1, tries=40, timeout=60.0) as balancer:

        async def chat_traffic(i: int) -> None:
            for _ in range(UPDATES // CHATS):
                message = fake.new_message(chats[i], users[i], "/help")
                asked[chats[i]["id"]].append(message["message_id"])
                update = fake.webhook_update({"message": message})
                first = balancer.next_worker()
                if rng.random() < 0.1:  # Telegram retries it elsewhere while it is handled
                    doubled.add(update["update_id"])
                    second = (first + 1 + rng.randrange(WORKERS - 1)) % WORKERS
                    await asyncio.gather(
                        balancer.deliver(update, first), balancer.deliver(update, second)
                    )
                else:
                    await balancer.deliver(update, first)

        async def killer() -> None:
            # mid-burst: replies going out and the posts being published
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                replies = len(fake.calls_of("sendMessage", since))
                copies = len(fake.calls_of("copyMessage", since))
                if replies >= UPDATES // 10 and copies >= POSTS // 5:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the burst never reached the point to kill a worker in")
            # the busiest publisher: it has won the most claims, so it likely holds some
            published = [w.log().count(" published in ") for w in cluster]
            victim = published.index(max(published))
            cluster[victim].kill()
            victims.append(victim)
            killed_at.append(time.monotonic())
            balancer.down.add(victim)  # its health check fails: the balancer stops sending

        lags: list[tuple[float, float]] = []

        async def lag_monitor() -> None:  # when the fake's event loop stood still
            while True:
                t = time.monotonic()
                await asyncio.sleep(0.01)
                lags.append((t, time.monotonic() - t - 0.01))

        monitor = asyncio.create_task(lag_monitor())
        await asyncio.gather(killer(), *(chat_traffic(i) for i in range(CHATS)))
        monitor.cancel()
        burst = time.monotonic()

    # every update was handled once, and each chat's replies came in Telegram's order
    in_flight_at_kill = {u for u, w, status in balancer.answers if w in victims and status == 0}
    replies: dict[int, list[int]] = defaultdict(list)
    for call in fake.calls_of("sendMessage", since):
        if call["chat_id"] in asked:
            replies[call["chat_id"]].append(call["reply_parameters"]["message_id"])
    redone = 0
    for chat_id, message_ids in asked.items():
        got = replies[chat_id]
        # an update whose worker was killed after its reply went out but before it answered
        # the webhook is handled again by the retry: at-least-once, as the issue specifies;
        # anything else twice is a bug
        collapsed = [m for k, m in enumerate(got) if k == 0 or got[k - 1] != m]
        redone += len(got) - len(collapsed)
        assert collapsed == message_ids, f"chat {chat_id}: replies to {got}, asked {message_ids}"
    assert redone <= len(in_flight_at_kill)

    # every post out once, or held for the manager because the dead worker may have sent it
    deadline = time.monotonic() + 6 * LEASE_SECONDS
    while True:
        statuses = await post_statuses(pg_url)
        if all(s in ("published", "needs_decision") for s in statuses.values()):
            break
        pending = Counter(statuses.values())
        assert time.monotonic() < deadline, f"posts not settled: {pending}"
        await asyncio.sleep(0.2)
    copies = Counter((c["chat_id"], c["message_id"]) for c in fake.calls_of("copyMessage", since))
    assert max(copies.values()) == 1  # nothing twice
    held = {p for p, s in statuses.items() if s == "needs_decision"}
    for post_id, key in posts.items():
        if post_id not in held:
            assert copies[key] == 1, f"post {post_id} published but never sent"
    notices = [
        c
        for c in fake.calls_of("sendMessage", since)
        if c["chat_id"] == MANAGER_ID and "was being published when I stopped" in c.plain
    ]
    while len(notices) < len(held):  # one a second: the manager's chat has Telegram's pace too
        assert time.monotonic() < deadline + 2 * len(held), f"{len(notices)} of {len(held)} told"
        await asyncio.sleep(0.2)
        notices = [
            c
            for c in fake.calls_of("sendMessage", since)
            if c["chat_id"] == MANAGER_ID and "was being published when I stopped" in c.plain
        ]
    for post_id in held:
        assert sum(f"Post #{post_id} " in c.plain for c in notices) == 1
    settled = time.monotonic()
    # the dead worker's claims ran out and were taken care of by the others: posts it had not
    # started sending went out from another worker, the others wait for the manager
    requeued = sum(w.log().count("stopped before sending; queued again") for w in cluster)
    assert requeued + len(held) >= 1, "the killed worker held no post: kill it earlier"

    # all workers together: never more than 30 messages in any second
    sends = [c for c in fake.calls[since:] if c.method in MESSAGE_METHODS]
    stalls = [(t, t + 0.01 + lag) for t, lag in lags if lag > 0.05]
    raw, _ = busiest_second(arrivals(sends, []))
    busiest, at = busiest_second(arrivals(sends, stalls))
    window = [c for c in sends if at - 1.0 < c.at <= at]
    assert busiest <= 30, (
        f"{busiest} messages in the second before +{at - ready:.2f}s: "
        f"{Counter((c.method, c['chat_id'] < 0) for c in window)}; "
        f"per 100 ms: {Counter(int((c.at - at + 1.0) * 10) for c in window)}; "
        f"the fake's stalls: {[(round(a - at, 2), round(b - at, 2)) for a, b in stalls]}"
    )
    print(
        f"\nworkers={WORKERS} updates={UPDATES} (doubled {len(doubled)}) posts={POSTS}: "
        f"start {ready - started:.1f}s, burst {burst - ready:.1f}s, "
        f"kill at +{killed_at[0] - ready:.1f}s, settled {settled - ready:.1f}s; "
        f"max sends/s {busiest} ({raw} by the raw stamps, {len(stalls)} stalls of the fake "
        f"up to {max((b - a for a, b in stalls), default=0):.2f}s); "
        f"replies redone after the kill {redone} "
        f"(in flight {len(in_flight_at_kill)}); posts requeued {requeued}, held {len(held)}, "
        f"duplicate copies {sum(n - 1 for n in copies.values())}, "
        f"lost {sum(1 for p, k in posts.items() if p not in held and copies[k] != 1)}"
    )
