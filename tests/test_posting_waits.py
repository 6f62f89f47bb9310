"""How long a question about a post waits for its answer (bot.middlewares.StaleWaits), on
the single process's database storage and on the shared Redis, with the app's clock."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey

from bot.clock import FrozenClock
from bot.cluster.dialogs import DatabaseStorage
from bot.middlewares import StaleWaits
from bot.waits import ASKED_AT, WAIT_SECONDS, EditPost, Reschedule, wait_for
from storage.database import Database
from storage.dialogs import DialogRepository

T0 = 1_800_000_000
KEY = StorageKey(bot_id=1, chat_id=9001, user_id=9001)


async def seen_by_handlers(storage: BaseStorage, clock: FrozenClock) -> str | None:
    """The state a message's handlers are chosen by, after the middleware (as aiogram passes
    them: `state` and `raw_state` read before any handler)."""
    state = FSMContext(storage, KEY)
    data: dict[str, Any] = {"state": state, "raw_state": await state.get_state()}
    seen: list[str | None] = []

    async def handler(event: object, data: dict[str, Any]) -> None:
        seen.append(data["raw_state"])

    await StaleWaits(clock)(handler, object(), data)  # type: ignore[arg-type]
    return seen[0]


async def check_expiry(storage: BaseStorage) -> None:
    clock = FrozenClock(T0)
    state = FSMContext(storage, KEY)
    await wait_for(state, Reschedule.waiting_for_time, clock(), post_id=5)
    clock.advance(WAIT_SECONDS - 60)  # a fresh wait still takes the answer
    assert await seen_by_handlers(storage, clock) == Reschedule.waiting_for_time.state
    assert await state.get_data() == {"post_id": 5, ASKED_AT: T0}
    clock.advance(120)  # a day and a minute: the question is over, the message is a new one
    assert await seen_by_handlers(storage, clock) is None
    assert await state.get_state() is None and await state.get_data() == {}
    # asked again: it waits afresh (the old question's data is not carried over)
    await wait_for(state, EditPost.content, clock(), post_id=6)
    assert await seen_by_handlers(storage, clock) == EditPost.content.state
    assert await state.get_data() == {"post_id": 6, ASKED_AT: int(clock())}


async def check_asked_before_the_upgrade(storage: BaseStorage) -> None:
    """A question stored by a version without ages counts from the first message after it."""
    clock = FrozenClock(T0)
    state = FSMContext(storage, KEY)
    await state.clear()
    await state.set_state(EditPost.content)
    await state.update_data(post_id=7)
    assert await seen_by_handlers(storage, clock) == EditPost.content.state
    assert (await state.get_data())[ASKED_AT] == T0
    clock.advance(WAIT_SECONDS + 1)
    assert await seen_by_handlers(storage, clock) is None


@pytest.fixture
async def database_storage(tmp_path):
    db = Database(tmp_path / "d.sqlite3")
    await db.open()
    yield DatabaseStorage(DialogRepository(db), FrozenClock(T0))
    await db.close()


async def test_a_wait_expires_after_a_day_in_the_database(database_storage, tmp_path) -> None:
    await check_expiry(database_storage)
    await check_asked_before_the_upgrade(database_storage)
    # and the row is gone, so a restart brings nothing back
    assert await database_storage.repo.all() == {}


async def test_a_wait_expires_after_a_day_in_redis(redis_workers) -> None:
    a, b = redis_workers
    await check_expiry(a.fsm_storage())
    await check_asked_before_the_upgrade(b.fsm_storage())
