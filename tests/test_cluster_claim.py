"""An update's claim, its chat's lock and its dialogue state in one Redis round trip, and its
finish and the lock's release in another (bot.cluster.shared.RedisCluster.claim / finish).

The separate operations (tests/test_cluster_redis.py) stay the reference: whatever the combined
ones do must be what claim + lock + get_state and finish + release would have done.
"""

from __future__ import annotations

import asyncio

from aiogram.fsm.storage.base import StorageKey

from bot.cluster import Claim, Cluster, FloodSubject
from bot.cluster.shared import FLOOD_WINDOW, FLOOD_WINDOW_SECONDS, flood_key

KEY = StorageKey(bot_id=1, chat_id=-100500, user_id=42)


async def test_the_claim_takes_a_free_chat_lock_and_reads_the_state_under_it(redis_workers) -> None:
    a, b = redis_workers
    await a.storage.set_state(KEY, "Compose:text")
    claim, held = await a.claim(1, KEY.chat_id, a.state_key(KEY))
    assert claim is Claim.NEW and held is not None
    assert held.state == b"Compose:text"
    assert await a.redis.get(held.lock.name) == held.lock.local.token
    # the other worker neither claims the update nor gets the chat's lock meanwhile
    assert (await b.claim(1, KEY.chat_id, b.state_key(KEY)))[0] is Claim.BUSY
    claim, other = await b.claim(2, KEY.chat_id, b.state_key(KEY))
    assert claim is Claim.NEW and other is None  # claimed; the lock is taken the usual way
    waiting = asyncio.create_task(hold_briefly(b, KEY.chat_id))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    async with a.chat_locks.lock(KEY.chat_id, held) as lock:
        with held.state_for_this_update():
            # aiogram's FSM middleware reads it: served from the claim, once
            assert await a.storage.get_state(KEY) == "Compose:text"
            await b.storage.set_state(KEY, "Compose:buttons")  # as a handler might
            assert await a.storage.get_state(KEY) == "Compose:buttons"  # fresh from Redis
        await a.finish(1, lock)
        assert lock.local.token is None  # released with the finish
    assert await b.ledger.claim(1) is Claim.DONE
    await asyncio.wait_for(waiting, 2)  # the chat is free for the other worker now


async def hold_briefly(cluster: Cluster, chat_id: int) -> None:
    async with cluster.chat_locks.lock(chat_id):
        await asyncio.sleep(0.01)


async def test_a_state_read_for_another_key_is_never_served(redis_workers) -> None:
    a, _ = redis_workers
    other = StorageKey(bot_id=1, chat_id=KEY.chat_id, user_id=43)
    await a.storage.set_state(KEY, "mine")
    await a.storage.set_state(other, "theirs")
    _, held = await a.claim(3, KEY.chat_id, a.state_key(KEY))
    assert held is not None
    async with a.chat_locks.lock(KEY.chat_id, held) as lock:
        with held.state_for_this_update():
            assert await a.storage.get_state(other) == "theirs"
            assert await a.storage.get_state(KEY) == "mine"
        await a.finish(3, lock)


async def test_no_state_is_none_and_updates_of_no_chat_take_no_lock(redis_workers) -> None:
    a, _ = redis_workers
    claim, held = await a.claim(4, KEY.chat_id, a.state_key(KEY))
    assert claim is Claim.NEW and held is not None and held.state is None
    async with a.chat_locks.lock(KEY.chat_id, held) as lock:
        with held.state_for_this_update():
            assert await a.storage.get_state(KEY) is None
        await a.finish(4, lock)
    assert await a.claim(5) == (Claim.NEW, None)
    await a.finish(5)
    assert await a.ledger.claim(5) is Claim.DONE


async def test_a_lock_that_ran_out_and_went_elsewhere_is_not_released_by_the_finish(
    redis_workers,
) -> None:
    """A worker stalled past its lock's time (no renewal): another worker holds the chat now;
    the first one's finish marks its update done but leaves the other's lock alone."""
    a, b = redis_workers
    a.chat_locks.seconds = 0.2
    _, held = await a.claim(6, KEY.chat_id)
    assert held is not None
    await asyncio.sleep(0.4)  # ran out
    async with b.chat_locks.lock(KEY.chat_id) as theirs:
        await a.finish(6, held.lock)
        assert held.lock.local.token is not None  # not released: it was not a's any more
        assert await b.redis.get(theirs.name) == theirs.local.token
    assert await b.ledger.claim(6) is Claim.DONE


async def test_one_process_claims_as_before_without_a_lock() -> None:
    one = Cluster()
    assert await one.claim(1, -100, "key") == (Claim.NEW, None)
    await one.finish(1)
    assert await one.ledger.claim(1) is Claim.DONE


async def test_the_webhook_reads_the_state_where_aiogram_will_ask_for_it(redis_workers) -> None:
    """The key the webhook prefetches is the key aiogram's FSM middleware asks the storage
    for, in a topic of a forum too; a mismatch would only cost the round trip saved."""
    from aiogram import Bot, Dispatcher
    from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
    from aiogram.types import Update

    from bot.cluster.webhook import OnceRequestHandler

    a, _ = redis_workers
    bot = Bot("1:TEST-token")
    dp = Dispatcher(storage=a.fsm_storage())
    asked: list[str] = []

    @dp.message()
    async def record(message, state) -> None:
        asked.append(a.state_key(state.key))

    handler = OnceRequestHandler(dp, bot, a, "secret")
    for extra in ({}, {"message_thread_id": 7, "is_topic_message": True}):
        update = Update.model_validate(
            {
                "update_id": 10,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": -100500, "type": "supergroup", "is_forum": bool(extra)},
                    "from": {"id": 42, "is_bot": False, "first_name": "A"},
                    "text": "hi",
                    **extra,
                },
            }
        )
        context = UserContextMiddleware.resolve_event_context(update)
        await dp.feed_update(bot, update)
        assert handler._state_key(bot, context) == asked[-1]
    await bot.session.close()


async def flood_through_claims(
    cluster, first_update: int, subject: FloodSubject, messages: int
) -> list[bool]:
    """`messages` updates of one sender, each claimed with its flood window and checked as
    the protection does, under the lock taken with the claim."""
    tracker = cluster.flood_tracker(subject.tracker)
    hits = []
    for n in range(messages):
        claim, held = await cluster.claim(first_update + n, subject.chat_id, None, subject)
        assert claim is Claim.NEW and held is not None
        async with cluster.chat_locks.lock(subject.chat_id, held) as lock:
            with held.state_for_this_update():
                hits.append(await tracker.check(subject.chat_id, subject.sender_id, 0.0, 5, 10))
            await cluster.finish(first_update + n, lock)
    return hits


async def test_the_claim_records_the_message_in_its_senders_flood_window(redis_workers) -> None:
    """The flood rule decides on the window read with the claim, without a trip of its own,
    and says what the flood script alone says: the sixth message in 10 s, one mute a burst."""
    a, b = redis_workers
    subject = FloodSubject("messages", KEY.chat_id, 42)
    tracker = a.flood_tracker("messages")

    async def no_trip(*args, **kwargs):
        raise AssertionError("the flood window went to Redis on its own")

    tracker._script = no_trip  # type: ignore[attr-defined]
    a.flood_tracker = lambda name: tracker  # type: ignore[method-assign]
    assert await flood_through_claims(a, 100, subject, 7) == [False] * 5 + [True, False]
    # a worker checking with the script sees the same window, its own message added
    other = b.flood_tracker("messages")
    assert [await other.check(KEY.chat_id, 42, 0.0, 5, 10) for _ in range(4)] == [False] * 4
    tracker._script = other._script  # type: ignore[attr-defined]
    assert await flood_through_claims(a, 200, subject, 1) == [True]


async def test_a_flood_window_read_for_another_sender_or_kind_is_never_used(redis_workers) -> None:
    a, _ = redis_workers
    edits = a.flood_tracker("edits")
    messages = a.flood_tracker("messages")
    subject = FloodSubject("messages", KEY.chat_id, 42)
    for n in range(6):
        _, held = await a.claim(300 + n, KEY.chat_id, None, subject)
        assert held is not None
        async with a.chat_locks.lock(KEY.chat_id, held) as lock:
            with held.state_for_this_update():
                # an edit, and another member: their own windows, through the script
                assert not await edits.check(KEY.chat_id, 42, 0.0, 10, 60)
                assert not await messages.check(KEY.chat_id, 43, 0.0, 10, 60)
            await a.finish(300 + n, lock)
    assert await a.redis.llen(flood_key("messages", KEY.chat_id, 42)) == 6
    assert await a.redis.llen(flood_key("edits", KEY.chat_id, 42)) == 6
    assert await a.redis.llen(flood_key("messages", KEY.chat_id, 43)) == 6


async def test_a_flood_rule_longer_than_the_window_read_asks_redis(redis_workers) -> None:
    a, _ = redis_workers
    subject = FloodSubject("messages", KEY.chat_id, 44)
    tracker = a.flood_tracker("messages")
    count = FLOOD_WINDOW  # needs FLOOD_WINDOW + 1 times: more than the claim reads
    hits = []
    for n in range(count + 1):
        _, held = await a.claim(400 + n, KEY.chat_id, None, subject)
        assert held is not None and held.flood_window is not None
        assert len(held.flood_window.split(b",")) == min(n + 1, FLOOD_WINDOW)
        async with a.chat_locks.lock(KEY.chat_id, held) as lock:
            with held.state_for_this_update():
                hits.append(await tracker.check(KEY.chat_id, 44, 0.0, count, 10))
            await a.finish(400 + n, lock)
    # the times recorded with the claims make the window Redis decides on: no message counted
    # twice, and the (count + 1)th within 10 s is the flood
    assert hits == [False] * count + [True]
    assert await a.redis.llen(flood_key("messages", KEY.chat_id, 44)) == 0  # one mute a burst


def test_the_webhook_counts_what_the_protection_checks() -> None:
    from aiogram.types import Update

    from bot.cluster.webhook import flood_subject

    def update(kind: str = "message", **fields) -> Update:
        message = {
            "message_id": 1,
            "date": 0,
            "chat": {"id": -100500, "type": "supergroup"},
            "from": {"id": 42, "is_bot": False, "first_name": "A"},
            "text": "hi",
            **fields,
        }
        if kind == "edited_message":
            message["edit_date"] = 1
        return Update.model_validate({"update_id": 1, kind: message})

    assert flood_subject(update()) == FloodSubject("messages", -100500, 42)
    assert flood_subject(update("edited_message")) == FloodSubject("edits", -100500, 42)
    channel = {"id": -100777, "type": "channel", "title": "News"}
    assert flood_subject(update(sender_chat=channel)) == FloodSubject("messages", -100500, -100777)
    assert flood_subject(update(sender_chat=channel, is_automatic_forward=True)) is None
    joined = [{"id": 43, "is_bot": False, "first_name": "B"}]
    assert flood_subject(update(new_chat_members=joined, text=None)) is None
    assert flood_subject(update(chat={"id": 42, "type": "private"})) is None


async def test_claims_made_together_share_one_trip_and_each_gets_its_own_answer(
    redis_workers,
) -> None:
    a, b = redis_workers
    trips: list[int] = []
    send = a._begin._script

    async def counted(keys, args):
        trips.append(int(args[0]))
        return await send(keys=keys, args=args)

    a._begin._script = counted
    await b.ledger.finish(900)  # done before: answered as such inside the batch
    chats = [-100900 - n for n in range(5)]
    results = await asyncio.gather(
        a.claim(900, chats[0]),
        *(a.claim(901 + n, chat, None, FloodSubject("messages", chat, 7)) for n, chat in
          enumerate(chats[1:])),
    )  # fmt: skip
    assert trips == [5]  # one trip for the five
    assert results[0] == (Claim.DONE, None)
    for n, (claim, held) in enumerate(results[1:]):
        assert claim is Claim.NEW and held is not None
        assert await a.redis.get(held.lock.name) == held.lock.local.token
        assert held.flood_window is not None and held.flood_window.count(b",") == 0
        await a.finish(901 + n, held.lock)
        assert held.lock.local.token is None
    assert trips == [5]
    claim, held = await a.claim(950, chats[0])  # alone: sent at once, as a batch of one
    assert claim is Claim.NEW and trips == [5, 1]


async def test_a_failed_batch_fails_every_call_in_it(redis_workers) -> None:
    from redis.exceptions import ResponseError

    a, _ = redis_workers

    async def broken(keys, args):
        raise ResponseError("ERR something")

    a._finish._script = broken
    locks = [a.chat_locks.new_lock(-1000 - n) for n in range(3)]
    for lock in locks:
        lock.local.token = b"taken with its claim"
    calls = [a.finish(n, lock) for n, lock in enumerate(locks)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(result, ResponseError) for result in results)
    assert all(lock.local.token is not None for lock in locks)  # nothing taken as released


async def test_a_window_recorded_by_the_flood_script_is_kept_as_the_claim_keeps_it(
    redis_workers,
) -> None:
    """One definition of a window (record_flood): a message recorded by the flood script is
    kept as long, and beside as many others, as one recorded with its claim, so the next claim
    reads the member's whole recent history whichever way the last messages came in."""
    a, b = redis_workers
    key = flood_key("messages", KEY.chat_id, 45)
    other = b.flood_tracker("messages")
    # ten messages far enough apart for a 3-in-a-millisecond rule never to fire
    for _ in range(10):
        assert not await other.check(KEY.chat_id, 45, 0.0, 3, 0.0001)
    assert await a.redis.llen(key) == 10  # not cut to the rule's count + 1
    assert 3500 < await a.redis.ttl(key) <= FLOOD_WINDOW_SECONDS
    _, held = await a.claim(500, KEY.chat_id, None, FloodSubject("messages", KEY.chat_id, 45))
    assert held is not None and held.flood_window is not None
    assert len(held.flood_window.split(b",")) == 11
    async with a.chat_locks.lock(KEY.chat_id, held) as lock:
        await a.finish(500, lock)
    assert 3500 < await a.redis.ttl(key) <= FLOOD_WINDOW_SECONDS
