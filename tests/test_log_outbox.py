"""The log outbox without Telegram: its queue order, failure handling and restarts."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.moderation.outbox import (
    Failure,
    LogOutbox,
    Rendered,
    classify,
    pick_next,
    transient_backoff,
)
from storage.database import Database
from storage.outbox import OutboxEntry, OutboxKind, OutboxRepository, OutboxState

METHOD = SendMessage(chat_id=1, text="x")


@pytest.fixture
async def repo(db_target):
    db = Database(db_target)
    await db.open()
    yield OutboxRepository(db)
    await db.close()


class Renderer:
    def __init__(self) -> None:
        self.posted: list[tuple[int, int]] = []
        self.interrupted: list[int] = []

    async def render_entry(self, entry: OutboxEntry) -> Rendered | None:
        if entry.interrupted:
            self.interrupted.append(entry.id)
        if entry.kind is OutboxKind.REPORT:
            markup = entry.payload.get("markup")
            return Rendered(
                entry.payload["text"],
                InlineKeyboardMarkup.model_validate(markup) if markup else None,
            )
        return Rendered(f"action {entry.action_id}")

    async def entry_posted(self, entry: OutboxEntry, rendered: Rendered, message_id: int) -> None:
        self.posted.append((entry.id, message_id))


class Bot:
    """Answers each send_message with the next scripted outcome (an exception or None)."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[tuple[int, str]] = []
        self.sent_event = asyncio.Event()

    async def send_message(self, chat_id: int, text: str, **kw) -> SimpleNamespace:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append((chat_id, text))
        self.sent_event.set()
        return SimpleNamespace(message_id=len(self.sent))


def make_outbox(bot: Bot, repo: OutboxRepository, pauses: list | None = None) -> LogOutbox:
    outbox = LogOutbox(
        bot,  # type: ignore[arg-type]
        repo,
        pause=lambda chat, seconds: (pauses if pauses is not None else []).append((chat, seconds)),
    )
    outbox.renderer = Renderer()
    return outbox


async def drain(repo: OutboxRepository, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if not await repo.heads():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the outbox did not drain")


def entry(entry_id: int, chat_id: int) -> OutboxEntry:
    return OutboxEntry(
        entry_id, chat_id, OutboxKind.ACTION, entry_id, None, 0, OutboxState.PENDING, 0, False, 0,
        None, None, None,
    )  # fmt: skip


def test_failures_are_classified_by_what_telegram_meant():
    assert classify(TelegramRetryAfter(METHOD, "flood", 7)) is Failure.RETRY_AFTER
    assert classify(TelegramServerError(METHOD, "Bad Gateway")) is Failure.TRANSIENT
    assert classify(TelegramNetworkError(METHOD, "reset")) is Failure.TRANSIENT
    assert classify(TelegramBadRequest(METHOD, "chat not found")) is Failure.PERMANENT
    assert classify(TelegramForbiddenError(METHOD, "bot was kicked")) is Failure.PERMANENT
    migrated = TelegramMigrateToChat(METHOD, "group chat was upgraded", -1009)
    assert classify(migrated) is Failure.MIGRATED


def test_transient_backoff_doubles_and_is_capped():
    assert [transient_backoff(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert transient_backoff(30) == 300.0


def test_the_chat_that_can_take_a_message_soonest_goes_first_ties_by_queue_order():
    heads = [entry(1, -1), entry(2, -2), entry(3, -3)]
    waits = {-1: 2.5, -2: 0.0, -3: 0.0}
    assert pick_next(heads, waits.__getitem__) == (heads[1], 0.0)
    waits = {-1: 2.5, -2: 1.0, -3: 3.0}
    assert pick_next(heads, waits.__getitem__) == (heads[1], 1.0)


async def test_heads_are_one_per_chat_reports_before_log_entries(repo):
    a1 = await repo.add(-1, OutboxKind.ACTION, 0, action_id=1)
    await repo.add(-1, OutboxKind.ACTION, 0, action_id=2)
    b1 = await repo.add(-2, OutboxKind.ACTION, 0, action_id=3)
    report = await repo.add(-2, OutboxKind.REPORT, 0, payload={"text": "r"}, priority=1)
    heads = await repo.heads()
    assert [h.id for h in heads] == [report, a1]
    await repo.mark_sent(report, 10, 0)
    await repo.mark_sending(a1)  # taken: still the head until its outcome is known
    heads = await repo.heads()
    assert [h.id for h in heads] == [a1, b1] and heads[0].interrupted


async def test_worker_posts_in_order_and_skips_a_refused_entry(repo):
    bot = Bot(None, TelegramForbiddenError(METHOD, "Forbidden: bot was kicked"))
    ids = [await repo.add(-1, OutboxKind.ACTION, 0, action_id=n) for n in (1, 2, 3)]
    outbox = make_outbox(bot, repo)
    await outbox.start()
    await drain(repo)
    await outbox.stop()
    assert bot.sent == [(-1, "action 1"), (-1, "action 3")]
    refused = await repo.get(ids[1])
    assert refused.state is OutboxState.FAILED and "kicked" in refused.error
    assert [s.state for s in [await repo.get(i) for i in (ids[0], ids[2])]] == [
        OutboxState.SENT,
        OutboxState.SENT,
    ]
    assert outbox.renderer.posted == [(ids[0], 1), (ids[2], 2)]


async def test_a_flood_wait_pauses_the_chat_for_retry_after_and_the_entry_is_retried(repo):
    pauses: list = []
    bot = Bot(TelegramRetryAfter(METHOD, "Too Many Requests", 300))
    entry_id = await repo.add(-1, OutboxKind.ACTION, 0, action_id=1)
    outbox = make_outbox(bot, repo, pauses)
    await outbox.start()
    await drain(repo)
    await outbox.stop()
    assert pauses == [(-1, 300.0)]
    assert bot.sent == [(-1, "action 1")]
    posted = await repo.get(entry_id)
    assert posted.state is OutboxState.SENT and posted.attempts == 2


async def test_server_errors_back_off_per_chat_then_succeed(repo):
    pauses: list = []
    bot = Bot(TelegramServerError(METHOD, "Bad Gateway"), TelegramServerError(METHOD, "x"))
    await repo.add(-1, OutboxKind.ACTION, 0, action_id=1)
    outbox = make_outbox(bot, repo, pauses)
    await outbox.start()
    await drain(repo)
    await outbox.stop()
    assert pauses == [(-1, 2.0), (-1, 4.0)] and len(bot.sent) == 1


async def test_reports_keep_their_buttons_and_go_ahead_of_log_entries(repo):
    bot = Bot()
    outbox = make_outbox(bot, repo)
    await outbox.add_action(-1, 1)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ban", callback_data="rep:ban")]]
    )
    await outbox.add_report(-1, "📣 Report", markup)
    await outbox.start()
    await drain(repo)
    await outbox.stop()
    assert [text for _, text in bot.sent] == ["📣 Report", "action 1"]


async def test_an_entry_queued_while_idle_wakes_the_worker(repo):
    bot = Bot()
    outbox = make_outbox(bot, repo)
    await outbox.start()
    await asyncio.sleep(0.05)  # the worker found nothing and sleeps
    await outbox.add_action(-1, 5)
    await asyncio.wait_for(bot.sent_event.wait(), 2)
    await outbox.stop()
    assert bot.sent == [(-1, "action 5")]


async def test_an_interrupted_entry_is_posted_again_and_said_so(repo):
    first = await repo.add(-1, OutboxKind.ACTION, 0, action_id=1)
    await repo.add(-1, OutboxKind.ACTION, 0, action_id=2)
    await repo.mark_sending(first)  # the process died while this request was out
    bot = Bot()
    outbox = make_outbox(bot, repo)
    await outbox.start()
    await drain(repo)
    await outbox.stop()
    assert bot.sent == [(-1, "action 1"), (-1, "action 2")]
    assert outbox.renderer.interrupted == [first]


async def test_stop_leaves_queued_entries_for_the_next_start(repo):
    bot = Bot()
    outbox = make_outbox(bot, repo)
    outbox._wait_hint = lambda chat_id: 60.0  # the log chat is paced far ahead
    await outbox.add_action(-1, 1)
    await outbox.start()
    await asyncio.sleep(0.05)
    await outbox.stop()
    assert not bot.sent
    assert (await repo.counts()) == {OutboxState.PENDING: 1}


async def test_entries_follow_a_log_chat_upgraded_to_a_supergroup(repo):
    bot = Bot(TelegramMigrateToChat(METHOD, "Bad Request: group chat was upgraded", -1009))
    for n in (1, 2):
        await repo.add(-5, OutboxKind.ACTION, 0, action_id=n)
    outbox = make_outbox(bot, repo)
    await outbox.start()
    await drain(repo)
    await outbox.stop()
    assert bot.sent == [(-1009, "action 1"), (-1009, "action 2")]


async def test_an_interrupted_entry_keeps_its_note_through_a_retry(repo):
    first = await repo.add(-1, OutboxKind.ACTION, 0, action_id=1)
    await repo.mark_sending(first)
    bot = Bot(TelegramServerError(METHOD, "Bad Gateway"))
    outbox = make_outbox(bot, repo)
    await outbox.start()
    await drain(repo)
    await outbox.stop()
    assert bot.sent == [(-1, "action 1")]
    assert outbox.renderer.interrupted == [first, first]  # both attempts carried the note
