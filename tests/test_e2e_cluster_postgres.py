"""Two `python -m bot` workers on one PostgreSQL and one Redis, behind a webhook balancer.

The deployment the README's "Several workers" describes, end to end: the workers are real
processes started by the real entry point, with the same DATABASE_URL (a fresh database on the
session's PostgreSQL), REDIS_URL, WEBHOOK_URL and WEBHOOK_SECRET and their own HTTP_LISTEN. The
test is Telegram and the load balancer (tests/cluster_harness.Balancer): each chat's updates one
at a time (the next once the last was answered), some delivered a second time to another worker
while the first is still being handled, a failed delivery retried on the next worker.

One burst: 1,000 updates over 50 chats (45 groups of ordinary chat with some /help among it,
5 private chats asking /help) while 200 scheduled posts fall due together, and one worker is
killed with -9 in the middle of it. Most updates need no answer, as in a real community: their
handling shows in the statistics. Then every update was handled once (each group message
counted once in the statistics, each /help answered once) and each chat's replies came in
order, every post went out once or (claimed by the dead worker when its request may have
reached Telegram) waits for the manager, who was told; nothing twice; and the fake Telegram's
request log never shows more than 30 messages in any second from all workers, by the stamps it
put on the requests as they came.

WORKER_LEASE_SECONDS is short here (the dead worker's update claims, chat turns and post leases
run out within seconds instead of minutes; the posts' sweep runs every 2 s); nothing in the test
sleeps for them. The posts are queued once the workers are up, behind their backs, as another
worker would queue them: each worker's sweep sets their timers (bot.posting.publisher), however
long the workers took to start on a busy machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
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

WORKERS = 2
GROUPS = 45
PRIVATE = 5  # chats
PRIVATE_UPDATES = 6  # each, all /help (a private chat gets about one answer a second)
UPDATES = 1000
HELP_EVERY = 6  # in a group, every sixth message is /help; the others are ordinary chat
POSTS = 200
CHANNELS = 40
LEASE_SECONDS = 4
# Seconds from the posts being queued (the workers up) to their due time: two of the sweeps
# that set their timers (every LEASE_SECONDS / 2).
POSTS_DUE_AFTER = LEASE_SECONDS
TRAFFIC_AFTER_DUE = 4  # the updates keep coming this long after the posts fell due
MESSAGE_METHODS = {"sendMessage", "copyMessage", "copyMessages", "sendPhoto", "sendDocument"}
CHATTER = [
    "Good morning everyone",
    "Thanks for the help yesterday, it worked",
    "I think the new design looks great",
    "See you all at the meetup on Saturday",
    "Доброе утро, спасибо за вчерашнюю встречу",
    "Hoi allemaal, fijne dag verder",
]


def messages_of(call: Call) -> int:
    """How many messages a call creates (what Telegram's 30 a second counts)."""
    if call.method == "copyMessages":
        return len(call["message_ids"])
    return 1


def busiest_second(calls: list[Call]) -> tuple[int, float]:
    """The most messages in any window of one second, by the fake's stamps (each stamped when
    the fake read the request: after its slot was taken, before its answer left)."""
    stamps = sorted((c.at, messages_of(c)) for c in calls)
    best, at, start, inside = 0, 0.0, 0, 0
    for t, n in stamps:
        inside += n
        while t - stamps[start][0] >= 1.0:
            inside -= stamps[start][1]
            start += 1
        if inside > best:
            best, at = inside, t
    return best, at


async def queue_posts(
    fake: FakeTelegram, url: str, due_after: int
) -> tuple[int, dict[int, tuple[int, int]]]:
    """POSTS posts over CHANNELS channels, all due `due_after` seconds after they were written
    (as the manager's /post would leave them); the due time and {post id: (channel, source
    message id)}."""
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
                due_at=now + 3600,
                created_by=MANAGER_ID,
                now=now,
            )
            posts[post_id] = (channel, source["message_id"])
        due = int(time.time()) + due_after
        await db.execute("UPDATE posts SET due_at = ?", (due,))
        return due, posts
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
    """Real Telegram is not on the bot's CPU: on a machine whose cores are busy (the workers,
    PostgreSQL, other test runs) this process, the fake Telegram and the balancer, gets the CPU
    first while the test runs (when allowed to: root or CAP_SYS_NICE), so that the workers, not
    a starved Telegram, set the pace. The send budget check does not depend on it: a request is
    stamped between its slot and its answer, however late the fake reads it."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    try:
        yield before  # the workers' nice value
    finally:
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


def group_updates(fake: FakeTelegram) -> list[tuple[dict[str, Any], list[tuple[dict, bool]]]]:
    """The groups and their traffic, (chat, [(member, is /help)]): every message by another
    member (nobody floods), every HELP_EVERY-th a /help. UPDATES in all with the private ones."""
    per_group, extra = divmod(UPDATES - PRIVATE * PRIVATE_UPDATES, GROUPS)
    groups = []
    for g in range(GROUPS):
        chat = fake.add_chat(-1001000200000 - g, "supergroup", f"Group {g}")
        members = []
        for n in range(per_group + (1 if g < extra else 0)):
            member = fake.user(30_000 + g * 100 + n, f"Member{g}x{n}")
            fake.add_member(chat["id"], member)
            members.append((member, n % HELP_EVERY == HELP_EVERY - 1))
        groups.append((chat, members))
    return groups


async def member_counts(url: str) -> Counter[tuple[int, int]]:
    """Messages per (group, member) in the statistics, over all days (midnight may pass)."""
    db = Database(url)
    await db.connect()  # type: ignore[attr-defined]
    try:
        rows = await db.fetchall("SELECT chat_id, user_id, messages FROM daily_member_stats")
        counts: Counter[tuple[int, int]] = Counter()
        for r in rows:
            counts[(r["chat_id"], r["user_id"])] += r["messages"]
        return counts
    finally:
        await db.close()


async def test_two_workers_on_one_postgresql_lose_and_double_nothing(
    fake: FakeTelegram, cluster: list[ProcessWorker], pg_url: str
) -> None:
    started = time.monotonic()
    rng = random.Random(13)
    since = fake.mark()
    await asyncio.gather(*(w.spawn() for w in cluster))
    await asyncio.gather(*(w.ready() for w in cluster))
    ready = time.monotonic()
    # the posts fall due a few seconds into the burst
    due, posts = await queue_posts(fake, pg_url, POSTS_DUE_AFTER)
    due_in = due - time.time()

    groups = group_updates(fake)
    privates = []
    for i in range(PRIVATE):
        user = fake.user(20_000 + i, f"Private{i}")
        privates.append((fake.private_chat(user), [(user, True)] * PRIVATE_UPDATES))
    traffic = groups + privates
    assert sum(len(members) for _, members in traffic) == UPDATES
    assert len(traffic) == GROUPS + PRIVATE == 50
    helps = sum(is_help for _, members in traffic for _, is_help in members)
    asked: dict[int, list[int]] = defaultdict(list)  # chat -> /help message ids, in order
    said: dict[int, tuple[int, int]] = {}  # update -> (group, member) of a group message
    doubled: set[int] = set()
    victims: list[int] = []
    killed_at: list[float] = []

    # a busy community's traffic, from now until a little after the posts fell due
    gap = (max(due_in, 0.0) + TRAFFIC_AFTER_DUE) / max(len(members) for _, members in traffic)

    async with Balancer(cluster, retry_delay=0.1, tries=40, timeout=60.0) as balancer:

        async def chat_traffic(chat: dict[str, Any], members: list[tuple[dict, bool]]) -> None:
            for n, (member, is_help) in enumerate(members):
                if n:
                    await asyncio.sleep(gap * rng.uniform(0.5, 1.5))
                text = "/help" if is_help else rng.choice(CHATTER)
                message = fake.new_message(chat, member, text)
                update = fake.webhook_update({"message": message})
                if is_help:
                    asked[chat["id"]].append(message["message_id"])
                if chat["id"] < 0:
                    said[update["update_id"]] = (chat["id"], member["id"])
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
                if replies >= helps // 10 and copies >= POSTS // 5:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the burst never reached the point to kill a worker in")
            # the worker holding the most claimed posts not yet published: timers race for
            # the claims and one worker may win most of them, not the one that sent the most
            logs = [w.log() for w in cluster]
            holding = [
                len(re.findall(r"post \d+ claimed$", log, re.M)) - log.count(" published in ")
                for log in logs
            ]
            victim = holding.index(max(holding))
            cluster[victim].kill()
            victims.append(victim)
            killed_at.append(time.monotonic())
            balancer.down.add(victim)  # its health check fails: the balancer stops sending

        await asyncio.gather(killer(), *(chat_traffic(c, m) for c, m in traffic))
        burst = time.monotonic()

    # every /help answered once, and each chat's replies came in Telegram's order
    in_flight_at_kill = {u for u, w, status in balancer.answers if w in victims and status == 0}
    replies: dict[int, list[int | None]] = defaultdict(list)
    for call in fake.calls_of("sendMessage", since):
        if call["chat_id"] in {chat["id"] for chat, _ in traffic}:
            replies[call["chat_id"]].append(call.get("reply_parameters", {}).get("message_id"))
    redone = 0
    for chat, _ in traffic:
        got, wanted = replies[chat["id"]], asked[chat["id"]]
        # an update whose worker was killed after its reply went out but before it answered
        # the webhook is handled again by the retry: at-least-once, as the issue specifies;
        # anything else twice is a bug
        collapsed = [m for k, m in enumerate(got) if k == 0 or got[k - 1] != m]
        redone += len(got) - len(collapsed)
        assert collapsed == wanted, f"chat {chat['id']}: replies to {got}, asked {wanted}"
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

    # every group message counted once in the statistics, whichever worker took it: the
    # survivors write what they counted when they stop; the dead worker's counts since its last
    # write are lost with it (README: a crash loses one flush interval), and an update it
    # counted and wrote but never answered is counted again by the worker the retry reached
    await asyncio.gather(*(w.stop() for k, w in enumerate(cluster) if k not in victims))
    counts = await member_counts(pg_url)
    touched = {u for u, w, _ in balancer.answers if w in victims}
    exact = 0
    for update_id, key in said.items():
        if update_id not in touched:
            assert counts[key] == 1, f"update {update_id} counted {counts[key]} times"
            exact += 1
        else:
            assert counts[key] <= (2 if update_id in in_flight_at_kill else 1), update_id
    assert sum(counts.values()) <= len(said) + len(in_flight_at_kill)
    assert exact >= len(said) // 2  # most never went near the dead worker

    # all workers together: never more than 30 messages in any second, as Telegram counts
    sends = [c for c in fake.calls[since:] if c.method in MESSAGE_METHODS]
    busiest, at = busiest_second(sends)
    window = [c for c in sends if at - 1.0 < c.at <= at]
    assert busiest <= 30, (
        f"{busiest} messages in the second before +{at - ready:.2f}s: "
        f"{Counter((c.method, c['chat_id'] < 0) for c in window)}; "
        f"per 100 ms: {Counter(int((c.at - at + 1.0) * 10) for c in window)}"
    )
    print(
        f"\nworkers={WORKERS} updates={UPDATES} (doubled {len(doubled)}, /help {helps}) "
        f"posts={POSTS}: start {ready - started:.1f}s, due at +{due_in:.1f}s, "
        f"burst {burst - ready:.1f}s, "
        f"kill at +{killed_at[0] - ready:.1f}s, settled {settled - ready:.1f}s; "
        f"sends {len(sends)}, max sends/s {busiest}; "
        f"replies redone after the kill {redone} (in flight {len(in_flight_at_kill)}); "
        f"group messages counted exactly {exact} of {len(said)}; "
        f"posts requeued {requeued}, held {len(held)}, "
        f"duplicate copies {sum(n - 1 for n in copies.values())}, "
        f"lost {sum(1 for p, k in posts.items() if p not in held and copies[k] != 1)}"
    )
