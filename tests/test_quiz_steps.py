"""A quiz run's steps with two workers on one database (bot.engagement.quizzes): each question
asked once, none skipped, none early, whatever dies or fires late. No Telegram: a bot that
records its polls, timers recorded instead of scheduled, a clock the test moves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from bot.engagement.quiz_format import parse_quiz_text
from bot.engagement.quizzes import GRACE_SECONDS, STEP_RETRY_SECONDS, QuizRunner
from bot.i18n import create_i18n
from storage.database import Database
from storage.engagement import QuizRepository

GROUP = -1001
T0 = 1_780_000_000
INTERVAL = 30
QUIZ = "Trio\nQ: One?\n+ a\n- b\nQ: Two?\n+ c\n- d\nQ: Three?\n+ e\n- f"


class Bot:
    def __init__(self) -> None:
        self.polls: list[str] = []
        self.hang: asyncio.Event | None = None  # set: sendPoll waits for it (its request left)

    async def send_poll(self, chat_id: int, question: str, options: list[str], **_: Any) -> Any:
        if self.hang is not None:
            await self.hang.wait()
        self.polls.append(question)
        n = len(self.polls)
        return SimpleNamespace(
            poll=SimpleNamespace(id=f"p{n}"), chat=SimpleNamespace(id=chat_id), message_id=100 + n
        )


class Pacer:
    """The send budget; `hang` set: the slot does not come (nothing left yet)."""

    def __init__(self) -> None:
        self.hang: asyncio.Event | None = None

    @contextlib.asynccontextmanager
    async def paced(self, chat_id: int, cost: int = 1) -> AsyncIterator[None]:
        if self.hang is not None:
            await self.hang.wait()
        yield None


class Worker:
    def __init__(self, db: Database, bot: Bot, now: list[float], **kw: Any) -> None:
        self.armed: list[float] = []

        async def locale_for(_chat: int) -> str:
            return "en"

        self.runner = QuizRunner(
            bot,  # type: ignore[arg-type]
            QuizRepository(db),
            None,  # type: ignore[arg-type]
            create_i18n("en"),
            locale_for,
            clock=lambda: now[0],
            **kw,
        )
        self.runner.rng.shuffle = lambda order: None  # type: ignore[method-assign]
        self.runner.arm = lambda run_id, at: self.armed.append(at)  # type: ignore[method-assign]


@pytest.fixture
async def db(db_target: str) -> AsyncIterator[Database]:
    database = Database(db_target)
    await database.open()
    yield database
    await database.close()


async def started(db: Database, a: Worker, bot: Bot) -> int:
    quiz = await a.runner.save(GROUP, parse_quiz_text(QUIZ), 7)
    start = await a.runner.start(quiz, GROUP, 7, INTERVAL)
    assert start.run_id is not None and bot.polls == ["Question 1/3: One?"]
    return start.run_id


async def test_a_late_timer_on_another_worker_does_not_ask_the_next_question_early(db) -> None:
    """Both workers' timers were set for the second question; the first asks it, and the
    other's timer, firing a moment later, found the run at the third question and asked it at
    once, two questions back to back. It waits for the third's time instead."""
    bot, now = Bot(), [float(T0)]
    a, b = Worker(db, bot, now), Worker(db, bot, now)
    run_id = await started(db, a, bot)
    due = T0 + INTERVAL + GRACE_SECONDS
    now[0] = due
    await a.runner.step(run_id)
    now[0] = due + 0.5
    await b.runner.step(run_id)
    assert bot.polls == ["Question 1/3: One?", "Question 2/3: Two?"]
    assert b.armed == [due + INTERVAL + GRACE_SECONDS]  # set again for the third's time


async def test_a_question_whose_worker_died_waiting_for_its_slot_is_asked_by_another(db) -> None:
    """The worker due to ask the second question died while its send slot had not come: the
    request never left, so once its hold ran out the other worker asks it (not the third)."""
    bot, now = Bot(), [float(T0)]
    pacer = Pacer()
    a = Worker(db, bot, now, pacer=pacer, lease_seconds=10, shared=True)
    b = Worker(db, bot, now, pacer=Pacer(), lease_seconds=10, shared=True)
    run_id = await started(db, a, bot)
    now[0] = T0 + INTERVAL + GRACE_SECONDS
    pacer.hang = asyncio.Event()
    dying = asyncio.create_task(a.runner.step(run_id))
    await asyncio.sleep(0.2)
    dying.cancel()  # the worker is gone
    with contextlib.suppress(asyncio.CancelledError):
        await dying
    await b.runner.step(run_id)  # its hold (30 s) still runs: not yet
    assert bot.polls == ["Question 1/3: One?"]
    assert b.armed and b.armed[-1] > now[0]
    now[0] = b.armed[-1]
    await b.runner.step(run_id)
    assert bot.polls == ["Question 1/3: One?", "Question 2/3: Two?"]
    now[0] = b.armed[-1]
    await b.runner.step(run_id)
    assert bot.polls[-1] == "Question 3/3: Three?"


async def test_a_question_whose_worker_died_with_its_request_out_is_not_asked_twice(db) -> None:
    """The worker died after the second question's request left: it may be in the chat, so it
    is passed over (never asked twice) and the run goes on with the third at its time."""
    bot, now = Bot(), [float(T0)]
    a = Worker(db, bot, now, pacer=Pacer(), lease_seconds=10, shared=True)
    b = Worker(db, bot, now, pacer=Pacer(), lease_seconds=10, shared=True)
    run_id = await started(db, a, bot)
    now[0] = T0 + INTERVAL + GRACE_SECONDS
    bot.hang = asyncio.Event()
    dying = asyncio.create_task(a.runner.step(run_id))
    await asyncio.sleep(0.2)
    dying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await dying
    bot.hang = None
    now[0] += 31  # its hold ran out
    await b.runner.step(run_id)
    assert bot.polls == ["Question 1/3: One?"]
    now[0] = b.armed[-1]
    await b.runner.step(run_id)
    assert bot.polls == ["Question 1/3: One?", "Question 3/3: Three?"]


@pytest.mark.parametrize(
    "failing",
    [
        # before the claim: the error went to the scheduler's log and the run had no timer
        # left, so in one process the quiz stood still until the next start
        "run",
        # after the claim (reading the quiz): the claim held for three leases (minutes), so a
        # retry 5 s later found it busy; the failing worker now lets go of it
        "quiz",
    ],
)
async def test_a_step_the_database_failed_is_tried_again(db, failing: str) -> None:
    """The database failed the second question's step (PostgreSQL restarting), before or
    after the step claimed its question: the step is tried again shortly, and the question
    asked then."""
    bot, now = Bot(), [float(T0)]
    a = Worker(db, bot, now)
    run_id = await started(db, a, bot)
    now[0] = T0 + INTERVAL + GRACE_SECONDS
    repo: Any = a.runner.repo
    working = getattr(repo, failing)

    async def unreachable(_id: int) -> Any:
        raise ConnectionResetError("connection to the database was lost")

    setattr(repo, failing, unreachable)
    a.armed.clear()
    await a.runner.step(run_id)
    assert bot.polls == ["Question 1/3: One?"]
    assert a.armed == [now[0] + STEP_RETRY_SECONDS]
    setattr(repo, failing, working)
    now[0] = a.armed[-1]
    await a.runner.step(run_id)
    assert bot.polls == ["Question 1/3: One?", "Question 2/3: Two?"]
