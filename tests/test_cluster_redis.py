"""What workers share through Redis (bot.cluster.shared), two "workers" per test.

Each worker is its own RedisCluster with its own connections and worker id, as two processes
would have; the Redis is Debian's redis-server started by the test session (conftest).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram.types import Chat, Message
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError

from bot.clock import FrozenClock
from bot.cluster import AnotherPollerError, Claim, Cluster, MemoryUpdateLedger, wait_for_outcome
from bot.cluster.shared import PREFIX, RedisCluster, RedisPollingGuard
from bot.moderation.reports import REPORT_WINDOW_SECONDS, REPORTS_PER_WINDOW
from bot.outbound import GLOBAL_KEY, Limit, PacingPolicy, TelegramPacer
from bot.support.cooldown import RELAY_WINDOW


async def test_an_update_is_claimed_by_one_worker_and_done_for_all(redis_workers) -> None:
    a, b = redis_workers
    assert await a.ledger.claim(7) is Claim.NEW
    assert await b.ledger.claim(7) is Claim.BUSY  # the first delivery is still being handled
    await a.ledger.finish(7)
    assert await b.ledger.claim(7) is Claim.DONE
    assert await a.ledger.claim(8) is Claim.NEW
    await a.ledger.release(8)  # the handling failed: Telegram's retry is handled again
    assert await b.ledger.claim(8) is Claim.NEW


async def test_a_duplicate_waits_for_the_first_delivery(redis_workers) -> None:
    a, b = redis_workers
    assert await a.ledger.claim(9) is Claim.NEW
    waiting = asyncio.create_task(wait_for_outcome(b.ledger, 9, timeout=5))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await a.ledger.finish(9)
    assert await asyncio.wait_for(waiting, 2) is Claim.DONE
    # still busy after the wait: the caller asks Telegram to come back later
    assert await a.ledger.claim(10) is Claim.NEW
    assert await wait_for_outcome(b.ledger, 10, timeout=0.2) is Claim.BUSY


async def test_one_chat_at_a_time_across_workers_other_chats_in_parallel(redis_workers) -> None:
    a, b = redis_workers
    spans: dict[str, tuple[float, float]] = {}

    async def hold(cluster: Cluster, chat_id: int, name: str) -> None:
        async with cluster.chat_locks.lock(chat_id):
            start = time.monotonic()
            await asyncio.sleep(0.2)
            spans[name] = (start, time.monotonic())

    await asyncio.gather(hold(a, -100, "a1"), hold(b, -100, "b1"), hold(b, -200, "b2"))
    first, second = sorted([spans["a1"], spans["b1"]])
    assert second[0] >= first[1]  # the same chat: one after the other
    other = spans["b2"]
    assert other[0] < first[1] and first[0] < other[1]  # another chat: meanwhile


def _busiest_second(times: list[float], jitter: float = 0.2) -> int:
    """The most sends in any second, as this process saw them: a send is recorded a few ms
    after Redis granted it (on Redis's clock), more on a loaded machine: windows of one second
    less that much (two unshared budgets still show 60)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0 - jitter:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_two_workers_share_one_budget_of_30_messages_a_second(redis_workers) -> None:
    a, b = redis_workers
    sent: list[float] = []

    async def send(pacer: TelegramPacer, chat_id: int) -> None:
        await pacer.acquire(chat_id)
        sent.append(time.monotonic())

    pacers = [a.pacer(), b.pacer()]
    # 80 messages to 80 private chats (no per-chat wait), half from each worker
    await asyncio.gather(*(send(pacers[i % 2], 1000 + i) for i in range(80)))
    assert len(sent) == 80
    assert _busiest_second(sent) <= 30
    assert sent and max(sent) - min(sent) >= 2.0  # 80 at 30/s: the third batch after 2 s

    # the control: two unshared pacers would have sent 60 in the first second
    local: list[float] = []

    async def send_local(pacer: TelegramPacer, chat_id: int) -> None:
        await pacer.acquire(chat_id)
        local.append(time.monotonic())

    alone = [TelegramPacer(), TelegramPacer()]
    await asyncio.gather(*(send_local(alone[i % 2], 2000 + i) for i in range(60)))
    assert _busiest_second(local) == 60


def _exact_busiest_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_requests_that_stall_after_their_slot_still_arrive_30_a_second(
    redis_workers,
) -> None:
    """Telegram counts a message when it arrives. Half the first 30 stall 0.9 s between their
    slot and the network (a busy CPU): they arrive together with what the next second's
    slots send. Counted until their answer, they hold their places while stalled."""
    a, b = redis_workers
    pacers = [a.pacer(), b.pacer()]
    arrived: list[float] = []

    async def send(n: int) -> None:
        pacer = pacers[n % 2]
        slot = await pacer.take(3000 + n)
        if n < 30 and n % 2:
            await asyncio.sleep(0.9)
        arrived.append(time.monotonic())  # Telegram's stamp: after the slot, before the answer
        await asyncio.sleep(0.005)
        await pacer.done(slot)

    await asyncio.gather(*(send(n) for n in range(75)))
    assert _exact_busiest_second(arrived) <= 30

    # the control: counted from the slot alone, the stalled 15 arrive with the next 30
    counted_at_slot: list[float] = []

    async def send_at_slot(n: int) -> None:
        await pacers[n % 2].acquire(4000 + n)
        if n < 30 and n % 2:
            await asyncio.sleep(0.9)
        counted_at_slot.append(time.monotonic())

    await asyncio.sleep(1.1)
    await asyncio.gather(*(send_at_slot(n) for n in range(75)))
    assert _exact_busiest_second(counted_at_slot) > 30


@pytest.mark.parametrize(
    ("policy", "chats"),
    [
        (PacingPolicy(overall=Limit(1, 1.0)), (1, 2)),  # the overall budget
        (PacingPolicy(per_chat=Limit(1, 1.0)), (7, 7)),  # one chat's
    ],
    ids=["overall", "per-chat"],
)
async def test_a_message_holds_its_place_across_workers_until_a_second_after_its_answer(
    redis_workers, policy: PacingPolicy, chats: tuple[int, int]
) -> None:
    """A request answered 1.5 s after its slot may have arrived at Telegram just before its
    answer: the other worker's message must wait a full second after that answer, not after
    the slot (then it would go while the first is still out)."""
    a, b = redis_workers
    first, second = a.pacer(policy), b.pacer(policy)
    slot = await first.take(chats[0])
    waiting = asyncio.create_task(second.take(chats[1]))
    await asyncio.sleep(1.5)
    assert not waiting.done()
    answered = time.monotonic()  # before the answer reaches Redis: a lower bound
    await first.done(slot)
    granted = await asyncio.wait_for(waiting, 5)  # not the 10 s in-flight time either
    assert time.monotonic() - answered >= 1.0
    await second.done(granted)


async def test_a_paced_slot_no_request_used_is_given_back_to_every_worker(redis_workers) -> None:
    """The publisher takes a post's slot before it marks the post as being sent: if no request
    leaves on it, the other workers get the place at once, not a window (10 s here) later."""
    a, b = redis_workers
    policy = PacingPolicy(overall=Limit(1, 10.0))
    first, second = a.pacer(policy), b.pacer(policy)
    async with first.paced(1):
        waiting = asyncio.create_task(second.take(2))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held while the block runs
        given_back = time.monotonic()
    granted = await asyncio.wait_for(waiting, 15)
    assert time.monotonic() - given_back < 5.0
    await second.done(granted)


async def test_a_slot_whose_worker_died_in_flight_frees_after_the_flight_time(
    redis_workers, monkeypatch
) -> None:
    monkeypatch.setattr("bot.cluster.shared.IN_FLIGHT_SECONDS", 0.3)
    a, b = redis_workers
    policy = PacingPolicy(overall=Limit(2, 1.0))
    dead, alive = a.pacer(policy), b.pacer(policy)
    start = time.monotonic()  # before the first slot: the bound below holds however loaded
    await dead.take(1)
    await dead.take(2)  # never answered: the worker was killed with its requests out
    await asyncio.wait_for(alive.acquire(3), 5)  # freed, not held for ever
    assert time.monotonic() - start >= 1.3  # 0.3 s in flight, then a second (not 1 s alone)


async def test_a_slot_in_flight_is_held_for_ten_seconds_at_most(redis_workers) -> None:
    """What a killed worker costs the others: its unanswered messages count as in flight on
    Redis's clock for IN_FLIGHT_SECONDS (10 s, the README's figure), then for a window."""
    a, _ = redis_workers
    key = f"{PREFIX}:pace:{GLOBAL_KEY}"

    async def redis_ms() -> int:
        seconds, micros = await a.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    pacer = a.pacer()
    before = await redis_ms()
    slot = await pacer.take(1)
    after = await redis_ms()
    score = await a.redis.zscore(key, slot.seq)
    assert score is not None
    assert before + 10_000 <= score <= after + 10_000  # the slot's time, 10 s ahead
    await pacer.done(slot)
    answered = await a.redis.zscore(key, slot.seq)
    assert answered is not None and after <= answered <= await redis_ms()  # at the answer


async def test_an_answer_the_budget_did_not_hear_of_neither_fails_the_send_nor_holds_it(
    redis_workers, monkeypatch, caplog
) -> None:
    """Redis unreachable when the answer comes: the message is out (a send reported failed
    would be sent again), and the in-flight time frees its place."""
    monkeypatch.setattr("bot.cluster.shared.IN_FLIGHT_SECONDS", 0.3)
    a, b = redis_workers
    policy = PacingPolicy(overall=Limit(1, 1.0))
    first, second = a.pacer(policy), b.pacer(policy)

    async def unreachable(*args: object, **kwargs: object) -> None:
        raise RedisConnectionError("connection refused")

    start = time.monotonic()
    slot = await first.take(1)
    monkeypatch.setattr(first, "_done_script", unreachable)
    await first.done(slot)
    assert "did not hear of an answer" in caplog.text
    await asyncio.wait_for(second.acquire(2), 5)
    assert time.monotonic() - start >= 1.3


async def test_per_chat_and_per_group_limits_and_pauses_are_shared(redis_workers) -> None:
    a, b = redis_workers
    policy = PacingPolicy(overall=Limit(30, 1.0), per_chat=Limit(2, 0.5), per_group=Limit(3, 1.0))
    pa, pb = a.pacer(policy), b.pacer(policy)
    start = time.monotonic()
    for pacer in (pa, pb, pa):
        await pacer.acquire(-1001)  # a group: 2 per 0.5 s and 3 per second
    assert await pb.acquire(-1001) >= 0.4  # the fourth waits for the group's window
    assert time.monotonic() - start >= 0.9
    # a 429's retry_after on one worker pauses the chat for the other
    pa.pause_chat(555, 0.5)
    await asyncio.sleep(0.05)  # the pause is written in the background
    assert await pb.acquire(555) >= 0.3


async def test_a_member_flooding_through_two_workers_is_caught(redis_workers) -> None:
    a, b = redis_workers
    fa, fb = a.flood_tracker("messages"), b.flood_tracker("messages")
    hits = [await (fa if i % 2 else fb).check(-1, 42, 0.0, 5, 10) for i in range(6)]
    assert hits == [False] * 5 + [True]  # the sixth within 10 s, whichever worker saw it
    assert not await fa.check(-1, 42, 0.0, 5, 10)  # one mute per burst


async def test_a_settings_change_reaches_the_other_worker(redis_workers) -> None:
    a, b = redis_workers
    heard: list[object] = []
    b.bus.subscribe("chat-settings", heard.append)
    a.bus.subscribe("chat-settings", lambda key: pytest.fail("a worker hears itself"))
    a.bus.announce("chat-settings", -100)
    for _ in range(50):
        if heard:
            break
        await asyncio.sleep(0.02)
    assert heard == [-100]  # well within a second


async def test_a_second_polling_worker_is_refused(redis_workers) -> None:
    a, b = redis_workers
    await a.polling.hold()
    with pytest.raises(AnotherPollerError, match="another worker is already long-polling"):
        await b.polling.hold()
    await a.polling.release()
    await b.polling.hold()  # once the first stopped, another may poll


async def test_a_poller_whose_lock_vanished_takes_it_again(redis_workers) -> None:
    """Redis restarted without persistence (the key is gone) while the poller lives: its next
    renewal takes the lock again, so a second poller starting later is still refused."""
    a, b = redis_workers
    first = RedisPollingGuard(a.redis, a.worker_id, seconds=0.6)
    await first.hold()
    try:
        await a.redis.delete(RedisPollingGuard.KEY)
        await asyncio.sleep(0.5)  # a renewal (every 0.2 s) later
        second = RedisPollingGuard(b.redis, b.worker_id, seconds=0.6)
        with pytest.raises(AnotherPollerError, match="another worker is already long-polling"):
            await second.hold()
    finally:
        await first.release()


async def test_a_poller_whose_lock_another_worker_took_is_told_to_stop(redis_workers) -> None:
    """The key went and another worker took it before the first renewed it: the first learns
    at its next renewal that it must stop polling, and never takes the lock back."""
    a, b = redis_workers
    first = RedisPollingGuard(a.redis, a.worker_id, seconds=0.6)
    second = RedisPollingGuard(b.redis, b.worker_id, seconds=0.6)
    await first.hold()
    try:
        await a.redis.delete(RedisPollingGuard.KEY)
        await second.hold()
        lost = await asyncio.wait_for(first.lost(), 2)
        assert b.worker_id in str(lost)
        await asyncio.sleep(0.5)
        assert await a.redis.get(RedisPollingGuard.KEY) == b.worker_id.encode()
    finally:
        await first.release()
        await second.release()


async def test_an_albums_parts_on_two_workers_become_one_album(redis_workers) -> None:
    a, b = redis_workers
    ca, cb = a.album_collector(), b.album_collector()
    ca.wait = cb.wait = 0.2
    chat = Chat(id=9001, type="private")

    def part(message_id: int) -> Message:
        return Message(
            message_id=message_id, date=0, chat=chat, media_group_id="g1", caption=str(message_id)
        )

    results = await asyncio.gather(ca.collect(part(3)), cb.collect(part(1)), ca.collect(part(2)))
    albums = [r for r in results if r is not None]
    assert len(albums) == 1
    assert [m.message_id for m in albums[0]] == [1, 2, 3]
    assert [m.caption for m in albums[0]] == ["1", "2", "3"]


async def test_an_album_whose_first_parts_worker_died_is_taken_by_another(redis_workers) -> None:
    """The worker holding an album's first part dies while it waits for the others (its parts
    were answered at once, so Telegram sends none again): a part on another worker takes the
    album once that wait is well past. One that was taken in time is taken once, and a part
    arriving after it was taken does not become an album of its own."""
    a, b = redis_workers
    ca, cb = a.album_collector(), b.album_collector()
    ca.wait = cb.wait = 0.2
    chat = Chat(id=9002, type="private")

    def part(message_id: int, group: str) -> Message:
        return Message(message_id=message_id, date=0, chat=chat, media_group_id=group)

    dying = asyncio.create_task(ca.collect(part(1, "g2")))
    await asyncio.sleep(0.05)
    later = asyncio.create_task(cb.collect(part(2, "g2")))
    await asyncio.sleep(0.05)
    dying.cancel()  # killed mid-wait
    album = await asyncio.wait_for(later, 5)
    assert album is not None and [m.message_id for m in album] == [1, 2]

    results = await asyncio.gather(ca.collect(part(5, "g3")), cb.collect(part(6, "g3")))
    taken = [r for r in results if r is not None]
    assert len(taken) == 1 and [m.message_id for m in taken[0]] == [5, 6]
    await asyncio.sleep(0.1)
    assert await cb.collect(part(7, "g3")) is None  # a straggler after the album was taken


async def test_one_process_remembers_updates_in_memory() -> None:
    """Without REDIS_URL: Telegram's retries reach the same process, which remembers them."""
    cluster = Cluster()
    ledger = cluster.ledger
    assert await ledger.claim(1) is Claim.NEW
    assert await ledger.claim(1) is Claim.BUSY
    await ledger.finish(1)
    assert await ledger.claim(1) is Claim.DONE
    assert await ledger.claim(2) is Claim.NEW
    await ledger.release(2)
    assert await ledger.claim(2) is Claim.NEW
    assert not cluster.shared


async def test_the_memory_ledger_forgets_ids_older_than_an_hour_once_it_holds_many():
    """Past 10,000 ids, those claimed over an hour ago are forgotten; recent ones still count."""
    now = [0.0]
    ledger = MemoryUpdateLedger(clock=lambda: now[0])
    for update_id in range(10_001):
        assert await ledger.claim(update_id) is Claim.NEW
    await ledger.finish(10_000)
    now[0] = 3_000.0
    assert await ledger.claim(20_000) is Claim.NEW
    assert await ledger.claim(5) is Claim.BUSY  # within the hour: still remembered
    now[0] = 3_700.0
    assert await ledger.claim(20_001) is Claim.NEW
    assert await ledger.claim(5) is Claim.NEW  # claimed 3,700 s ago: forgotten
    assert await ledger.claim(20_000) is Claim.BUSY


async def test_a_members_reports_count_whichever_worker_took_them(redis_workers) -> None:
    """REPORTS_PER_WINDOW reports per member and chat in the window, across workers."""
    a, b = redis_workers
    la, lb = a.report_limiter(), b.report_limiter()
    allowed = [await (la if i % 2 else lb).check(-100, 42, 0.0) for i in range(4)]
    assert allowed == [True] * REPORTS_PER_WINDOW + [False]
    assert await la.check(-100, 43, 0.0)  # another member
    assert await lb.check(-200, 42, 0.0)  # another chat


async def test_an_albums_spam_verdict_reaches_the_worker_with_its_next_part(redis_workers) -> None:
    a, b = redis_workers
    va, vb = a.album_verdicts(), b.album_verdicts()
    first = await va.seen(-100, "g1", 10)  # the first part: nothing known yet
    assert first.first and not first.spam
    await va.remember(-100, "g1", 10, spam=False)
    second = await vb.seen(-100, "g1", 11)  # the second part, elsewhere: a clean album
    assert not second.first and not second.spam
    await vb.remember(-100, "g1", 11, spam=True)  # judged spam there
    assert (await va.seen(-100, "g1", 12)).spam  # the third part, back on a: delete it too
    assert await vb.parts(-100, "g1") == [10, 11, 12]  # what goes with the album
    assert (await va.seen(-100, "g2", 20)).first  # another album


async def test_one_process_keeps_reports_and_album_verdicts_in_memory() -> None:
    cluster = Cluster()
    limiter, verdicts = cluster.report_limiter(), cluster.album_verdicts()
    assert [await limiter.check(-1, 5, 0.0) for _ in range(4)] == [True, True, True, False]
    assert await limiter.check(-1, 5, REPORT_WINDOW_SECONDS + 1)  # the window moved on
    await verdicts.remember(-1, "g", 1, spam=True)
    assert (await verdicts.seen(-1, "g", 2)).spam
    assert await verdicts.parts(-1, "g") == [1, 2]


async def test_commands_go_out_packed_by_hiredis_byte_for_byte_as_redis_py_packs_them(
    redis_workers,
) -> None:
    """The worker's connections pack with hiredis (redis-py's asyncio ones would in Python);
    what reaches Redis must not change, nor the error for a value Redis cannot take."""
    a, _ = redis_workers
    pool = a.redis.connection_pool
    assert pool.connection_class.__name__.startswith("HiredisPacking")
    ours, theirs = pool.connection_class(), Connection()
    args = ("EVALSHA", "f00d", 2, "steward:k", b"\x00bin", 1.5, 0.1, -3, 10**20, "ёж", b"")
    assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args))
    assert b"".join(ours.pack_command("CONFIG GET", "maxmemory")) == b"".join(
        theirs.pack_command("CONFIG GET", "maxmemory")
    )
    for packer in (ours, theirs):
        with pytest.raises(DataError):
            packer.pack_command("SET", "k", True)
    # and the shared state works through them
    await a.redis.set(f"{PREFIX}:test:packing", "ёж")
    assert await a.redis.get(f"{PREFIX}:test:packing") == "ёж".encode()


async def test_a_member_is_asked_to_wait_once_whichever_worker_limits_them(redis_workers) -> None:
    """A member over the relay's limit is told to wait by one worker only: their next messages
    on the other worker get no second notice until the window is over (before: each worker
    kept its own memory and asked again)."""
    a, b = redis_workers
    ta, tb = a.cool_down_notices(), b.cool_down_notices()
    assert await ta.first(42, 1_000)
    assert not await tb.first(42, 1_001)
    assert not await ta.first(42, 1_002)
    assert await tb.first(43, 1_002)  # another member


async def test_one_process_asks_to_wait_once_per_window() -> None:
    notices = Cluster().cool_down_notices()
    assert await notices.first(42, 1_000)
    assert not await notices.first(42, 1_000 + RELAY_WINDOW - 1)
    assert await notices.first(42, 1_000 + RELAY_WINDOW)  # a new window: told again


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_asked_to_wait_follows_the_apps_clock(backend: str, request) -> None:
    """Whether a member was asked to wait within RELAY_WINDOW is the injected clock's call on
    either backend, across workers (before: Redis let its key expire after RELAY_WINDOW real
    seconds, so an app clock moved past the window still found the member asked)."""
    workers = [Cluster()]
    if backend == "redis":  # two workers' shares of one Redis (a sync fixture: the URL)
        url = request.getfixturevalue("redis_url")
        workers = [RedisCluster(url, bot_id=1), RedisCluster(url, bot_id=1)]
        for worker in workers:
            await worker.start()
    one = workers[0].cool_down_notices()
    other = workers[1].cool_down_notices() if len(workers) > 1 else one  # one process: one memory
    try:
        clock = FrozenClock(1_800_000_000)
        assert await one.first(42, int(clock()))
        clock.advance(RELAY_WINDOW - 1)
        assert not await other.first(42, int(clock()))
        clock.advance(1)  # the window is over by the app's clock: asked once more, by one
        assert await other.first(42, int(clock()))
        assert not await one.first(42, int(clock()))
    finally:
        for worker in workers:
            await worker.close()


async def test_a_pause_redis_cannot_take_is_kept_here_and_said_in_one_line(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429's pause announced while Redis is unreachable: this worker still pauses the chat,
    and the failure is one warning line, not an unretrieved task exception."""
    from redis.asyncio import Redis

    from bot.cluster.shared import RedisPacer

    redis = Redis(unix_socket_path=str(tmp_path / "nobody-here.sock"))
    pacer = RedisPacer(redis)
    try:
        pacer.pause_chat(-100, 5)
        announced = set(pacer._pending)
        await asyncio.wait(announced, timeout=5)
        assert announced and all(t.exception() is None for t in announced)
    finally:
        await redis.aclose()
    assert pacer.wait_hint(-100) > 0
    assert any("pause" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


async def test_a_reports_action_is_taken_once_whichever_worker_gets_the_tap(redis_workers) -> None:
    a, b = redis_workers
    la, lb = a.report_limiter(), b.report_limiter()
    key = "-100:7:300:warn"
    assert [await la.first_action(key), await lb.first_action(key)] == [True, False]
    assert await lb.first_action("-100:7:300:ban")  # another button of the same report
    await la.forget_action(key)  # refused by Telegram: may be pressed again
    assert await lb.first_action(key)


async def test_a_settings_change_announced_during_a_blip_still_reaches_the_other_worker(
    redis_workers,
) -> None:
    """The announcing worker's Redis connection fails for a moment while the other worker's
    subscription stays up (so it has no reason to drop its caches): the announcement is sent
    again once Redis answers, instead of leaving the other worker's cache stale for good."""
    a, b = redis_workers
    heard: list[object] = []
    b.bus.subscribe("chat-settings", heard.append)
    publish = a.redis.publish
    failures = [RedisConnectionError("Connection reset by peer")]

    async def blinking(*args, **kwargs):
        if failures:
            raise failures.pop()
        return await publish(*args, **kwargs)

    a.redis.publish = blinking
    a.bus.announce("chat-settings", -100)
    for _ in range(150):
        if heard:
            break
        await asyncio.sleep(0.02)
    assert heard == [-100]
