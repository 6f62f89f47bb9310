"""An update's claim, its chat's lock and its dialogue state in one Redis round trip, and its
finish and the lock's release in another (bot.cluster.shared.RedisCluster.claim / finish).

The separate operations (tests/test_cluster_redis.py) stay the reference: whatever the combined
ones do must be what claim + lock + get_state and finish + release would have done.
"""

from __future__ import annotations

import asyncio

from aiogram.fsm.storage.base import StorageKey

from bot.cluster import Claim, Cluster

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
