"""Two webhook workers sharing Redis, behind a Telegram-like delivery (tests/cluster_harness).

What crosses workers here is what Redis carries: each update handled once, one chat at a time,
a dialogue started on one worker continued on the other, a settings change seen by both, one
send budget. On PostgreSQL the workers share one database, as deployed; SQLite admits one
process per file, so there each has its own (cluster_harness's `worker_database`). The tests
that touch the database run on both engines (`db_engine`), the others on PostgreSQL with
STEWARD_TEST_DB=postgresql. The database claims are tested in test_cluster_jobs.py, the
deployment itself (processes, a kill -9) in test_e2e_cluster_postgres.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import Steward
from bot.cluster import AnotherPollerError
from storage.database import Database, DatabaseLockedError
from storage.posts import Channel
from tests.cluster_harness import Balancer, Worker, worker_database, worker_env
from tests.conftest import engine_env
from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, RunningBot, make_env, settings_for
from tests.postgres_server import end_polling_session, polling_lock_holder


@pytest.fixture
async def workers(
    request: pytest.FixtureRequest, fake: FakeTelegram, tmp_path, redis_url: str
) -> AsyncIterator[list[Worker]]:
    shared = engine_env(request) or None  # PostgreSQL: one database for both, as deployed
    started = [
        Worker(fake, worker_env(fake, tmp_path, i, redis_url, database=shared)) for i in range(2)
    ]
    try:
        for worker in started:
            await worker.start()
        yield started
    finally:
        for worker in started:
            await worker.stop()


def record_spans(workers: list[Worker], hold: float) -> list[tuple[int, int, float, float]]:
    """(worker, update_id, start, end) of every update each worker's dispatcher handles; each
    takes at least `hold` seconds, so overlaps show."""
    spans: list[tuple[int, int, float, float]] = []
    for index, worker in enumerate(workers):

        async def recorder(handler, event, data: dict[str, Any], index=index) -> Any:
            start = time.monotonic()
            await asyncio.sleep(hold)
            try:
                return await handler(event, data)
            finally:
                spans.append((index, event.update_id, start, time.monotonic()))

        assert worker.app is not None
        worker.app.dispatcher.update.outer_middleware(recorder)
    return spans


async def test_the_same_update_delivered_to_both_workers_is_handled_once(
    fake: FakeTelegram, workers: list[Worker]
) -> None:
    spans = record_spans(workers, hold=0.3)
    user = fake.user(42, "Ivy")
    chat = fake.private_chat(user)
    update = fake.webhook_update({"message": fake.new_message(chat, user, "/start")})
    async with Balancer(workers) as balancer:
        # Telegram's retry reaches the other worker while the first is still handling it
        await asyncio.gather(balancer.deliver(update, 0), balancer.deliver(update, 1))
        # and once more, long after: answered at once, not handled
        await balancer.deliver(update, 1)
    assert len(spans) == 1
    assert len(fake.calls_of("sendMessage")) == 1
    assert fake.calls_of("sendMessage")[0]["chat_id"] == 42


async def test_one_chats_updates_one_at_a_time_in_order_other_chats_in_parallel(
    fake: FakeTelegram, workers: list[Worker]
) -> None:
    # long enough that three chats' first updates overlap even when a loaded machine starts
    # one of them late (0.2 s once missed by 28 ms with the suite on every core)
    spans = record_spans(workers, hold=0.6)
    users = [fake.user(50 + i, f"U{i}") for i in range(3)]
    chats = [fake.private_chat(u) for u in users]

    def update(i: int, text: str) -> dict[str, Any]:
        return fake.webhook_update({"message": fake.new_message(chats[i], users[i], text)})

    first, second, others = update(0, "/start"), update(0, "/help"), [update(1, "/start")]
    others.append(update(2, "/start"))

    async def later(coro, delay: float) -> int:
        await asyncio.sleep(delay)
        return await coro

    async with Balancer(workers) as balancer:
        # a retry of the chat's first update and its next one reach the two workers at once
        await asyncio.gather(
            balancer.deliver(first, 0),
            later(balancer.deliver(second, 1), 0.05),
            balancer.deliver(others[0], 1),
            balancer.deliver(others[1], 0),
        )
        # then as Telegram sends one chat's updates: the next once the last was answered
        third, fourth = update(0, "/start"), update(0, "/help")
        await balancer.deliver(third, 1)
        await balancer.deliver(fourth, 0)
    by_update = {s[1]: s for s in spans}
    a, b = by_update[first["update_id"]], by_update[second["update_id"]]
    assert a[0] != b[0]  # two workers ...
    assert b[2] >= a[3] or a[2] >= b[3]  # ... and one chat's updates never at the same time
    # other chats did not queue behind it: the three chats' first updates overlap in time
    firsts = [by_update[u["update_id"]] for u in [first, *others]]
    assert max(s[2] for s in firsts) < min(s[3] for s in firsts)
    # in Telegram's order: the replies to the third and fourth come in that order
    replies = [c["text"] for c in fake.calls_of("sendMessage") if c["chat_id"] == 50]
    assert len(replies) == 4
    assert replies[2].startswith("Hello, U0!")
    assert not replies[3].startswith("Hello")  # /help's answer


async def test_an_update_whose_worker_died_mid_way_is_handled_by_another(
    fake: FakeTelegram, workers: list[Worker]
) -> None:
    """A worker that dies holding an update never answers: Telegram delivers it again, the
    other worker waits until the dead one's claim runs out, then handles it. Death is
    simulated: the handler hangs, and the claim is neither renewed nor released, as after a
    kill -9."""
    dead = workers[0].app
    assert dead is not None
    ledger: Any = dead.cluster.ledger

    async def nothing(update_id: int) -> None:
        return None

    ledger.keep = ledger.release = nothing
    ledger.claim_seconds = 1
    locks: Any = dead.cluster.chat_locks
    locks.seconds = 1
    locks._renew = nothing  # the chat lock, too, runs out instead of being renewed
    hang = asyncio.Event()

    async def hung(handler, event, data: dict[str, Any]) -> Any:
        await hang.wait()  # never handles it

    dead.dispatcher.update.outer_middleware(hung)
    user = fake.user(61, "Ann")
    chat = fake.private_chat(user)
    update = fake.webhook_update({"message": fake.new_message(chat, user, "/start")})
    try:
        async with Balancer(workers, timeout=1.0, tries=1) as balancer:
            with pytest.raises(AssertionError, match="never delivered"):
                await balancer.deliver(update, 0)  # no answer: the worker is gone
        async with Balancer(workers, down={0}) as balancer:
            assert await balancer.deliver(update, 1) == 1
        assert len([c for c in fake.calls_of("sendMessage") if c["chat_id"] == 61]) == 1
    finally:
        hang.set()


@pytest.mark.usefixtures("db_engine")
async def test_a_message_whose_worker_died_after_a_statistics_flush_is_counted_once(
    fake: FakeTelegram, workers: list[Worker]
) -> None:
    """A group message is counted, the worker's periodic flush writes the count, and the
    worker dies before the update was handled (its reply still waiting): Telegram delivers
    the update again, the other worker handles it, and the message counts once, not twice.
    Death is simulated as in the test above: the handling hangs after the flush, and the
    claim and the chat's lock run out instead of being renewed or released."""
    dead, alive = workers[0].app, workers[1].app
    assert dead is not None and alive is not None
    ledger: Any = dead.cluster.ledger

    async def nothing(update_id: int) -> None:
        return None

    ledger.keep = ledger.release = nothing
    ledger.claim_seconds = 1
    locks: Any = dead.cluster.chat_locks
    locks.seconds = 1
    locks._renew = nothing
    hang = asyncio.Event()

    async def flushed_then_hung(handler, event, data: dict[str, Any]) -> Any:
        await dead.stats.collector.flush()  # the periodic flush lands while it is handled
        await hang.wait()  # and the worker dies before it finished

    dead.dispatcher.message.outer_middleware(flushed_then_hung)  # inside the counting
    group = fake.add_chat(-1001777000111, title="Counted")
    user = fake.user(62, "Cal")
    update = fake.webhook_update({"message": fake.new_message(group, user, "hello all")})
    try:
        async with Balancer(workers, timeout=1.0, tries=1) as balancer:
            with pytest.raises(AssertionError, match="never delivered"):
                await balancer.deliver(update, 0)
        async with Balancer(workers, down={0}) as balancer:
            assert await balancer.deliver(update, 1) == 1
        await alive.stats.collector.flush()
        await dead.stats.collector.flush()
        days = await alive.stats.repo.daily(group["id"], "2000-01-01", "2999-12-31")
        assert sum(day["messages"] for day in days) == 1
        top = await alive.stats.repo.top_members(group["id"], "2000-01-01", "2999-12-31")
        assert [(m["user_id"], m["messages"]) for m in top] == [(62, 1)]
    finally:
        hang.set()


@pytest.mark.usefixtures("db_engine")
async def test_a_settings_change_on_one_worker_is_seen_by_the_other_within_a_second(
    workers: list[Worker],
) -> None:
    a, b = (w.app for w in workers)
    assert a is not None and b is not None
    chat_id = -1001234
    assert (await b.mod_repo.settings(chat_id)).flood_mode == (
        await a.mod_repo.settings(chat_id)
    ).flood_mode  # both cached now
    before = (await b.mod_repo.settings(chat_id)).flood_count
    # the row as the database shows it (on SQLite each worker has its own file: b's is
    # written), behind b's cache; then the change through a, which tells b to reload
    await b.mod_repo.db.execute(
        "INSERT INTO chat_settings(chat_id, flood_count) VALUES (?, ?) "
        "ON CONFLICT (chat_id) DO UPDATE SET flood_count=excluded.flood_count",
        (chat_id, before + 3),
    )
    assert (await b.mod_repo.settings(chat_id)).flood_count == before  # still cached
    await a.mod_repo.update_settings(chat_id, flood_count=before + 3)
    deadline = time.monotonic() + 1.0
    while (await b.mod_repo.settings(chat_id)).flood_count != before + 3:
        assert time.monotonic() < deadline, "the other worker still answers from its cache"
        await asyncio.sleep(0.02)


async def test_a_second_polling_worker_refuses_to_start(
    fake: FakeTelegram, tmp_path, redis_url: str
) -> None:
    """Telegram allows one getUpdates consumer: with REDIS_URL a second poller stops at once
    with one line saying so (python -m bot prints it and exits with 3)."""
    envs = [make_env(fake, tmp_path, **worker_database(tmp_path, i)) for i in range(2)]
    for env in envs:
        env.update(REDIS_URL=redis_url, SEMANTIC_MODEL="off")
    first = RunningBot(fake=fake, settings=settings_for(envs[0]), env=envs[0])
    await first.start()
    try:
        second = Steward(settings_for(envs[1]), handle_signals=False)
        with pytest.raises(AnotherPollerError, match="long polling runs on one worker only"):
            await asyncio.wait_for(second.run(), 30)
        user = fake.user(70, "Pol")
        await fake.send_message(fake.private_chat(user), user, "/start")
        await fake.wait_for("sendMessage", timeout=15)  # the first one still serves
    finally:
        await first.stop()
    # once it stopped, another may poll
    again = RunningBot(fake=fake, settings=settings_for(envs[1]), env=envs[1])
    await again.start()
    await again.stop()


async def test_a_poller_that_lost_its_postgresql_lock_to_another_stops_polling(
    fake: FakeTelegram, tmp_path, pg_url: str
) -> None:
    """The polling lock's session is ended (pg_terminate_backend) and another process takes
    the lock before this one can take it back: this one stops polling and exits as a second
    poller would at its start (DatabaseLockedError: exit code 3), instead of both polling.
    With nobody in the way it takes the lock back and goes on answering."""
    env = make_env(fake, tmp_path, DATABASE_URL=pg_url, SEMANTIC_MODEL="off")
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    await running.start()
    admin = Database(pg_url)
    await admin.open()
    try:
        first = await end_polling_session(admin)
        for _ in range(100):  # taken back at once
            holder = await polling_lock_holder(admin)
            if holder is not None and holder != first:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the polling lock was not taken back")
        user = fake.user(71, "Pol")
        await fake.send_message(fake.private_chat(user), user, "/start")
        await fake.wait_for("sendMessage", timeout=15)  # still polling, still answering
        await end_polling_session(admin, take=True)  # now another process takes it first
        assert running.task is not None
        with pytest.raises(DatabaseLockedError, match="one polling worker"):
            await asyncio.wait_for(running.task, 30)
        polls = fake.polls
        await asyncio.sleep(1)
        assert fake.polls == polls  # no getUpdates since
    finally:
        await admin.close()
        await running.stop()


async def test_two_workers_together_send_at_most_30_messages_a_second(
    fake: FakeTelegram, workers: list[Worker]
) -> None:
    """Telegram counts the bot's messages, not a process's: both workers' sends, as the fake
    Telegram receives them, stay within 30 in any second. Its stamp falls between a message's
    slot and its answer, which is what the budget counts (bot.outbound), so the check is the
    exact second, however long a request's way."""
    users = [fake.user(3000 + i, f"R{i}") for i in range(90)]
    for user in users:
        fake.start_bot(user)
    since = fake.mark()
    bots = [w.app.bot for w in workers if w.app is not None]
    await asyncio.gather(
        *(bots[i % 2].send_message(u["id"], f"note {i}") for i, u in enumerate(users))
    )
    times = sorted(c.at for c in fake.calls_of("sendMessage", since))
    assert len(times) == 90
    busiest, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    assert busiest <= 30
    # 90 at 30/s: the last third two seconds after the first, less the same few ms of travel
    # (unpaced, all 90 arrive within a tenth of a second)
    assert times[-1] - times[0] >= 1.9


@pytest.mark.usefixtures("db_engine")
async def test_an_albums_parts_sent_one_by_one_to_two_workers_make_one_album(
    fake: FakeTelegram, workers: list[Worker]
) -> None:
    """Telegram sends a chat's next update only once the last was answered: album parts are
    answered at once, and the first one collects the others whichever worker they reach."""
    manager = fake.user(MANAGER_ID, "Manny")
    chat = fake.private_chat(manager)
    async with Balancer(workers) as balancer:
        for n in range(3):
            part = fake.new_message(
                chat,
                manager,
                media_group_id="album-1",
                photo=[{"file_id": f"ph{n}", "file_unique_id": f"u{n}", "width": 9, "height": 9}],
                **({"caption": "Our trip"} if n == 0 else {}),
            )
            started = time.monotonic()
            await balancer.deliver(fake.webhook_update({"message": part}), n % 2)
            assert time.monotonic() - started < 0.5  # not after the album's wait
    panel = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await asyncio.sleep(1.5)  # long enough for a second album to show up, if any
    panels = [c for c in fake.calls_of("sendMessage") if c.plain.startswith("📝 New post")]
    assert panels == [panel]
    assert panel.plain.startswith("📝 New post: album of 3") and "Our trip" in panel.plain


@pytest.mark.parametrize("db_engine", ["postgresql"])  # workers share the database there only
async def test_a_delete_after_whose_worker_died_is_done_by_the_other(
    request: pytest.FixtureRequest, fake: FakeTelegram, tmp_path, redis_url: str, db_engine: str
) -> None:
    """Worker a publishes a post with delete-after and then dies: its deletion timer died with
    it, and worker b (started before the post went out, so its start armed nothing) deletes
    the post when it falls due, found by its post sweep."""
    shared = engine_env(request)
    workers = [
        Worker(fake, worker_env(fake, tmp_path, i, redis_url, database=shared,
                                WORKER_LEASE_SECONDS="2"))
        for i in range(2)
    ]  # fmt: skip
    channel = -1001555000001
    fake.add_chat(channel, "channel", "News", username="news")
    fake.chats[channel].members[fake.bot_id] = fake._admin_member(fake.bot_user, is_bot_self=True)
    manager = fake.user(MANAGER_ID, "Manny")
    source = fake.new_message(fake.private_chat(manager), manager, "Flash sale")
    try:
        for worker in workers:
            await worker.start()
        a, b = (w.app for w in workers)
        assert a is not None and b is not None
        now = int(time.time())
        await a.channel_repo.upsert(Channel(channel, "News", "news", True, True, True, True), now)
        post_id = await a.post_repo.add(
            channel_id=channel, source_chat_id=MANAGER_ID,
            source_message_ids=[source["message_id"]], due_at=now, created_by=MANAGER_ID,
            now=now, delete_after_hours=1,
        )  # fmt: skip
        assert await a.publisher.publish(post_id)
        await workers[0].stop()  # a dies, and its deletion timer with it
        # an hour later, less three seconds: due while only b is left
        await b.post_repo.db.execute(
            "UPDATE posts SET published_at=? WHERE id=?", (int(time.time()) - 3600 + 3, post_id)
        )
        deleted = await fake.wait_for("deleteMessages", since=0, timeout=15)
        assert deleted["chat_id"] == channel
        await asyncio.sleep(1.5)
        assert len(fake.calls_of("deleteMessages")) == 1
        assert (await b.post_repo.get(post_id)).deleted_at is not None  # type: ignore[union-attr]
    finally:
        for worker in workers:
            await worker.stop()


async def test_an_update_handled_while_redis_blinked_at_its_end_is_never_handled_twice(
    fake: FakeTelegram, workers: list[Worker], caplog: pytest.LogCaptureFixture
) -> None:
    """Redis unreachable for a moment just as a handled update is marked done: the reply went
    out, so the worker still answers Telegram 2xx (no retry), logs one clear line, and marks the
    update done once Redis is back; a duplicate delivered after the claim would have lapsed is
    answered without handling it again."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    app = workers[0].app
    assert app is not None
    cluster: Any = app.cluster
    cluster.ledger.claim_seconds = 1  # a claim left busy would lapse in a second
    finish = cluster._finish
    failures = [RedisConnectionError("Connection refused")]

    async def blinking(keys: list[Any], args: list[Any]) -> Any:
        if failures:
            raise failures.pop()
        return await finish(keys=keys, args=args)

    cluster._finish = blinking
    user = fake.user(71, "Bo")
    chat = fake.private_chat(user)
    update = fake.webhook_update({"message": fake.new_message(chat, user, "/start")})
    async with Balancer(workers) as balancer:
        assert await balancer.deliver(update, 0) == 0  # answered by the worker that handled it
        await asyncio.sleep(1.5)  # the claim would have lapsed by now
        await balancer.deliver(update, 1)  # a balancer's duplicate, much later
    assert len([c for c in fake.calls_of("sendMessage") if c["chat_id"] == 71]) == 1
    assert any("not marked done" in r.getMessage() for r in caplog.records)


async def test_a_worker_rides_out_a_redis_restart_and_says_so_in_one_line(
    fake: FakeTelegram, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stops (a restart, a network blip): the worker keeps running, answers Telegram's
    deliveries with a non-2xx so they come again, logs one clear line per refused update (no
    traceback), and handles them once Redis is back."""
    from tests.cluster_harness import RedisServer, redis_server_binary

    exe = redis_server_binary()
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    folder = tmp_path / "own-redis"
    folder.mkdir()
    server = RedisServer.start(exe, folder)
    worker = Worker(fake, worker_env(fake, tmp_path, 0, server.url))
    try:
        await worker.start()
        user = fake.user(81, "Cy")
        chat = fake.private_chat(user)
        first = fake.webhook_update({"message": fake.new_message(chat, user, "/start")})
        async with Balancer([worker]) as balancer:
            await balancer.deliver(first, 0)
        server.stop()
        caplog.clear()
        second = fake.webhook_update({"message": fake.new_message(chat, user, "/help")})
        async with Balancer([worker], tries=2, retry_delay=0.1) as balancer:
            with pytest.raises(AssertionError, match="never delivered"):
                await balancer.deliver(second, 0)
            assert {status for _, _, status in balancer.answers} == {503}
        assert worker.task is not None and not worker.task.done()
        refusals = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert refusals and all(r.exc_info is None for r in refusals)
        assert not [r for r in caplog.records if r.name == "aiohttp.server"]
        server = RedisServer.start(exe, folder)  # back, empty, on the same address
        async with Balancer([worker], retry_delay=0.5) as balancer:
            await balancer.deliver(second, 0)
            await balancer.deliver(second, 0)  # Telegram's duplicate: answered, not handled
        replies = [c for c in fake.calls_of("sendMessage") if c["chat_id"] == 81]
        assert len(replies) == 2
    finally:
        await worker.stop()
        server.stop()


async def test_a_delivery_without_telegrams_secret_is_refused_and_leaves_the_update_alone(
    fake: FakeTelegram, workers: list[Worker], caplog: pytest.LogCaptureFixture
) -> None:
    """A POST with a wrong, missing or non-ASCII secret header is refused with 401 (no 500, no
    traceback) before anything is claimed: Telegram's own delivery of that update is handled."""
    import aiohttp

    user = fake.user(91, "Di")
    chat = fake.private_chat(user)
    update = fake.webhook_update({"message": fake.new_message(chat, user, "/start")})
    async with aiohttp.ClientSession() as session:
        for headers in (
            {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            {},
            {"X-Telegram-Bot-Api-Secret-Token": "sécret".encode().decode("latin-1")},
        ):
            async with session.post(workers[0].url, json=update, headers=headers) as response:
                assert response.status == 401, headers
    assert not [r for r in caplog.records if r.name == "aiohttp.server"]
    async with Balancer(workers) as balancer:
        await balancer.deliver(update, 1)
    assert len([c for c in fake.calls_of("sendMessage") if c["chat_id"] == 91]) == 1
