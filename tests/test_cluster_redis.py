"""What workers share through Redis (bot.cluster.shared), two "workers" per test.

Each worker is its own RedisCluster with its own connections and worker id, as two processes
would have; the Redis is Debian's redis-server started by the test session (conftest).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram.types import Chat, Message

from bot.cluster import AnotherPollerError, Claim, Cluster, MemoryUpdateLedger, wait_for_outcome
from bot.outbound import Limit, PacingPolicy, TelegramPacer


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
