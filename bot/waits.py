"""The questions a manager answers by typing (aiogram's dialogue states): /queue's Reschedule
asks for a time, Edit for the new content. `wait_for` asks one and stamps when; the
`bot.middlewares.StaleWaits` middleware ends one that waited longer than WAIT_SECONDS."""

from __future__ import annotations

from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup

# A question about a post (a Custom… time, URL buttons, Reschedule's time, Edit's content) waits
# this long for its answer. Stored with the dialogue (the database, or Redis), it outlived any
# interest in it: days later an unrelated message was read as its answer, a photo sent as a new
# post replaced a queued post's content.
WAIT_SECONDS = 24 * 3600
ASKED_AT = "asked_at"  # in the dialogue's data: when the question was asked (unix seconds)


class Reschedule(StatesGroup):
    waiting_for_time = State()


class EditPost(StatesGroup):
    content = State()


async def wait_for(state: FSMContext, question: State, now: float, **data: Any) -> None:
    """The next message the manager types answers `question`, for WAIT_SECONDS from `now`."""
    await state.set_state(question)
    await state.set_data({**data, ASKED_AT: int(now)})
