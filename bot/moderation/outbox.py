"""The moderation log's durable outbox and the one worker that posts it.

A moderator's confirmation must never wait for the log chat: the log chat is paced like any
group (about one message a second, 20 a minute), so with several groups sharing it a backlog of
log entries builds up. Actions therefore only *queue* their log entry (a row in `log_outbox`,
written in the same breath as the audit row) and return; this worker posts the entries later,
through the same outbound pacing as everything else.

Order: the entries of one log chat go out in the order they were queued (reports, which admins
should see first, ahead of plain log entries). Different log chats do not wait for each other:
the worker takes the next entry of whichever chat the pacer would let through soonest.

Delivery is at-least-once. An entry is marked `sending` just before its request and `sent` with
the message id right after; if the process dies in between, nobody knows whether Telegram got it.
Losing an audit entry silently is worse than showing it twice, so such an entry is posted again
after the next start, with a note that an earlier copy may exist (both copies carry the same
action number, so a reader can tell). A clean stop waits for the request in flight, so duplicates
need a crash or a stop that outlasts the grace period.

Failures: a 429 pauses that log chat for `retry_after` and the entry is tried again; network
errors and 5xx back off per chat; a log chat upgraded to a supergroup takes its waiting entries
to its new id; any other refusal (the log chat is gone, the bot was removed, a 400) is
permanent: recorded on the row with Telegram's answer, and the next entry goes ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup

from bot.clock import SYSTEM_CLOCK, Clock
from storage.outbox import OutboxEntry, OutboxKind, OutboxRepository

logger = logging.getLogger(__name__)

REPORT_PRIORITY = 1  # a member's report is waited for by people; a log entry is a record
IDLE_RECHECK_SECONDS = 60.0  # a missed wake-up costs at most this long
DUTY_RECHECK_SECONDS = 10.0  # a worker not posting the log looks whether its poster is gone
STOP_GRACE_SECONDS = 5.0
SENT_KEEP_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    markup: InlineKeyboardMarkup | None = None
    undone: bool = False  # the action was already undone when this was rendered


class LogRenderer(Protocol):
    """Turns an entry into its message when it is posted (the audit row is the source of
    truth, so an action undone while its entry waited is posted as undone)."""

    async def render_entry(self, entry: OutboxEntry) -> Rendered | None: ...

    async def entry_posted(
        self, entry: OutboxEntry, rendered: Rendered, message_id: int
    ) -> None: ...


class Failure(StrEnum):
    MIGRATED = "migrated"  # the log chat became a supergroup: the entries follow it
    RETRY_AFTER = "retry_after"  # 429: wait as told, then the same entry again
    TRANSIENT = "transient"  # network, 5xx: back off, then the same entry again
    PERMANENT = "permanent"  # any other refusal: record it and go on


def classify(exc: Exception) -> Failure:
    if isinstance(exc, TelegramMigrateToChat):
        return Failure.MIGRATED
    if isinstance(exc, TelegramRetryAfter):
        return Failure.RETRY_AFTER
    if isinstance(exc, TelegramNetworkError | TelegramServerError):
        return Failure.TRANSIENT
    return Failure.PERMANENT


def transient_backoff(failures: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Seconds to leave a log chat alone after `failures` transient failures in a row (the
    outbound layer has already retried each request a few times)."""
    return min(cap, base * 2.0 ** max(0, failures - 1))


def pick_next(
    heads: list[OutboxEntry], wait_for: Callable[[int], float]
) -> tuple[OutboxEntry, float]:
    """The head entry whose log chat can take a message soonest, and how long until then.
    `heads` holds one entry per chat in queue order, which breaks ties."""
    best, best_wait = heads[0], wait_for(heads[0].chat_id)
    for entry in heads[1:]:
        wait = wait_for(entry.chat_id)
        if wait < best_wait:
            best, best_wait = entry, wait
    return best, best_wait


class LogOutbox:
    def __init__(
        self,
        bot: Bot,
        repo: OutboxRepository,
        *,
        wait_hint: Callable[[int], float] = lambda chat_id: 0.0,
        pause: Callable[[int, float], None] = lambda chat_id, seconds: None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.bot = bot
        self.repo = repo
        self.renderer: LogRenderer | None = None
        self._wait_hint = wait_hint
        self._pause = pause
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._failures: dict[int, int] = {}
        # With several workers (bot.cluster) one posts the log at a time: `duty()` takes or
        # renews that worker's lease, `announce()` wakes whoever holds it when this one queues.
        self.duty: Callable[[], Awaitable[bool]] | None = None
        self.drop_duty: Callable[[], Awaitable[None]] | None = None
        self.announce: Callable[[], None] = lambda: None

    # --- queueing ----------------------------------------------------------------------------

    async def add_action(self, chat_id: int, action_id: int) -> int:
        entry_id = await self.repo.add(
            chat_id, OutboxKind.ACTION, int(self._clock()), action_id=action_id
        )
        self._wake.set()
        return entry_id

    async def add_report(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        locale: str | None = None,
    ) -> int:
        """`locale`: the report's language, for the note added if it is posted again."""
        payload: dict[str, Any] = {"text": text}
        if locale is not None:
            payload["locale"] = locale
        if markup is not None:
            payload["markup"] = markup.model_dump(mode="json", exclude_none=True)
        entry_id = await self.repo.add(
            chat_id,
            OutboxKind.REPORT,
            int(self._clock()),
            payload=payload,
            priority=REPORT_PRIORITY,
        )
        self.wake()
        return entry_id

    def wake(self, announce: bool = True) -> None:
        """Something was queued: look now (here, and on the worker posting the log)."""
        self._wake.set()
        if announce:
            self.announce()

    async def states(self, action_ids: list[int]) -> dict[int, OutboxEntry]:
        """Where each action's log entry stands (actions without a log chat have none)."""
        return await self.repo.for_actions(action_ids)

    # --- life cycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        pruned = await self.repo.prune(int(self._clock()) - SENT_KEEP_SECONDS)
        if pruned:
            logger.debug("forgot %d log entries posted long ago", pruned)
        self._stopping = False
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="log-outbox")

    async def stop(self, grace: float | None = None) -> None:
        """Let the request in flight finish (up to `grace`), then stop. What is still queued
        stays in the table for the next start."""
        grace = STOP_GRACE_SECONDS if grace is None else grace
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            logger.warning("log outbox: a post was still in flight at stop; it will be redone")
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None
        if self.drop_duty is not None:
            await self.drop_duty()  # another worker takes over at once

    # --- the worker --------------------------------------------------------------------------

    async def _nap(self, seconds: float) -> None:
        """Sleep until `seconds` pass, an entry is queued or the worker is stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before looking, so an entry queued meanwhile wakes us
            try:
                if self.duty is not None and not await self.duty():
                    await self._nap(DUTY_RECHECK_SECONDS)  # another worker posts the log
                    continue
                heads = await self.repo.heads()
                if not heads:
                    await self._nap(IDLE_RECHECK_SECONDS)
                    continue
                entry, wait = pick_next(heads, self._wait_hint)
                if wait > 0:
                    await self._nap(wait)
                    continue
                await self._deliver(entry)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("log outbox: unexpected error; retrying shortly")
                await self._nap(5.0)

    async def _deliver(self, entry: OutboxEntry) -> None:
        assert self.renderer is not None, "LogOutbox needs a renderer"
        rendered = await self.renderer.render_entry(entry)
        if rendered is None:
            await self.repo.mark_failed(entry.id, "nothing to post", int(self._clock()))
            return
        await self.repo.mark_sending(entry.id)
        try:
            sent = await self.bot.send_message(
                entry.chat_id,
                rendered.text,
                reply_markup=rendered.markup,
                disable_notification=True,
            )
        except TelegramAPIError as exc:
            await self._failed(entry, exc)
            return
        self._failures.pop(entry.chat_id, None)
        await self.repo.mark_sent(entry.id, sent.message_id, int(self._clock()))
        await self.renderer.entry_posted(entry, rendered, sent.message_id)

    async def _failed(self, entry: OutboxEntry, exc: TelegramAPIError) -> None:
        kind = classify(exc)
        chat_id = entry.chat_id
        if kind is Failure.PERMANENT:
            logger.warning("log entry %s not postable in %s: %s", entry.id, chat_id, exc)
            await self.repo.mark_failed(entry.id, str(exc), int(self._clock()))
            return
        if kind is Failure.MIGRATED:
            assert isinstance(exc, TelegramMigrateToChat)
            moved = await self.repo.move_chat(chat_id, exc.migrate_to_chat_id)
            logger.info(
                "log chat %s is now %s; %d entries follow it",
                chat_id,
                exc.migrate_to_chat_id,
                moved,
            )
            await self.repo.release(entry.id, str(exc), entry.interrupted)
            return
        if kind is Failure.RETRY_AFTER:
            assert isinstance(exc, TelegramRetryAfter)
            delay = float(exc.retry_after)
        else:
            self._failures[chat_id] = self._failures.get(chat_id, 0) + 1
            delay = transient_backoff(self._failures[chat_id])
        logger.info("log entry %s: %s; trying again in %.0fs", entry.id, exc, delay)
        self._pause(chat_id, delay)
        await self.repo.release(entry.id, str(exc), entry.interrupted)
