"""Publishing scheduled posts on time, exactly once (groundwork for issue 5).

SQLite is the single source of truth: a post moves `scheduled -> publishing -> published |
failed`, and only the caller whose conditional update wins the `scheduled -> publishing` claim
sends it, so a timer, the periodic sweep and a manual "publish now" can never post it twice.
Timers are rebuilt from the table at start. A post found in `publishing` at start (the bot died
mid-send) is never resent silently: it becomes `needs_decision`. Posts that fell due while the
bot was down are published if they are late by less than the grace period, otherwise they wait
for a decision too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import SYSTEM_CLOCK, Clock
from bot.cluster.jobs import ROW_LEASE_SECONDS, heartbeat
from bot.inflight import InFlight
from bot.outbound import TelegramPacer, at_most_once, maybe_delivered
from bot.posting.channels import rights_of
from bot.posting.failures import (
    FOLLOWUP_UNCONFIRMED,
    MAYBE_OUT,
    MISSED,
    NO_RIGHTS,
    NoticeReason,
    channel_lost,
)
from bot.posting.times import TimeError, parse_recurrence
from bot.scheduling import armed_at, cancel, run_once_at
from storage.posts import Channel, ChannelRepository, Draft, Post, PostRepository, PostStatus

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 30
# The sweep publishes what is this late and still scheduled: a timer that is due now is left
# to fire rather than raced.
SWEEP_LAG_SECONDS = 5
# Claims of due posts in flight at once. Posts due together fire their timers together: a
# thousand claims at once queued every later query (a claimed post's read, its `sending`
# mark) behind them in the database pool, and the first post went out 1.2-1.9 s after its
# time (bench/cluster.py --only burst). A claim holds a post for this worker only; the send
# budget, not this, decides how fast claimed posts go out.
CLAIMS_AT_ONCE = 4
FOLLOWUP_TEXT = "⬆️"  # under an album, carrying its buttons; language-neutral on purpose


class Sent(NamedTuple):
    """A post's copy: its message ids, its follow-up's (an album's buttons), and why the
    follow-up failed, if it did (the album is out all the same)."""

    ids: list[int]
    followup: list[int] | None = None
    followup_error: str | None = None


Notify = Callable[[Post, NoticeReason], Awaitable[None]]
# (channel id, every message id of the post incl. an album's parts and the follow-up, unix time)
Published = Callable[[int, list[int], int], Awaitable[None]]


def url_keyboard(buttons: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    builder = InlineKeyboardBuilder()
    for row in buttons:  # rows as the author laid them out (compose allows 4 buttons a row)
        builder.row(
            *(InlineKeyboardButton(text=b["text"], url=b["url"]) for b in row), width=len(row)
        )
    return builder.as_markup()


async def send_preview(bot: Bot, draft: Draft) -> None:
    """The compose panel's Preview: the draft copied to the manager's own chat exactly as
    `Publisher._copy` will copy it to the channel."""
    chat_id, ids = draft.source_chat_id, draft.source_message_ids
    if len(ids) == 1:
        await bot.copy_message(chat_id, chat_id, ids[0], reply_markup=url_keyboard(draft.buttons))
        return
    await bot.copy_messages(chat_id, chat_id, ids)
    if draft.buttons:
        await bot.send_message(chat_id, FOLLOWUP_TEXT, reply_markup=url_keyboard(draft.buttons))


class Publisher:
    def __init__(
        self,
        bot: Bot,
        repo: PostRepository,
        scheduler: AsyncIOScheduler,
        grace_seconds: int,
        notify: Notify,
        clock: Clock = SYSTEM_CLOCK,
        channels: ChannelRepository | None = None,
        tz: ZoneInfo | None = None,
        mark_channel: Callable[[int], None] | None = None,
        pacer: TelegramPacer | None = None,
        on_published: Published | None = None,
        shared: bool = False,
        lease_seconds: int = ROW_LEASE_SECONDS // 3,
    ) -> None:
        # shared: other workers publish from the same queue (REDIS_URL); a post they are
        # publishing right now is theirs, not one this worker's start finds interrupted
        self.shared = shared
        # WORKER_LEASE_SECONDS: a post being published is vouched for three times that (renewed
        # every one), and the sweep that finds a dead worker's posts runs every half of it
        self.row_lease_seconds = 3 * lease_seconds
        self.sweep_seconds = max(1.0, lease_seconds / 2) if shared else SWEEP_SECONDS
        self.bot = bot
        self.repo = repo
        self.channels = channels
        self.tz = tz or ZoneInfo("UTC")
        self.scheduler = scheduler
        self.grace_seconds = grace_seconds
        self.notify = notify
        self.clock = clock
        self.mark_channel = mark_channel or (lambda chat_id: None)
        # the send budget, waited for before a post is marked as being sent (see _send)
        self.pacer = pacer
        self.on_published = on_published
        self._claiming = asyncio.Semaphore(CLAIMS_AT_ONCE)
        # claimed posts on their way out: a stop waits for them (`Steward._on_shutdown`), else
        # a deploy would leave a sent post for the manager to check as interrupted
        self.sending = InFlight("post(s)")

    @staticmethod
    def job_id(post_id: int) -> str:
        return f"post:{post_id}"

    def arm(self, post: Post) -> None:
        run_once_at(self.scheduler, self.job_id(post.id), post.due_at, self.publish_due, post.id)

    async def publish_due(self, post_id: int) -> bool:
        """What timers run: publish only if the post is (still) due, so a timer that fires
        just as the post is moved later does not send it at the old time."""
        return await self.publish(post_id, due_by=int(self.clock()) + 1)

    def disarm(self, post_id: int) -> None:
        cancel(self.scheduler, self.job_id(post_id))

    async def rebuild(self) -> dict[str, int]:
        """At start: timers for the queue, recovery for what the last run left behind."""
        counts = {"armed": 0, "late_published": 0, "needs_decision": 0, "deletions": 0}
        now = self.clock()
        counts["needs_decision"] += await self._recover_interrupted(now)
        late = []
        for post in await self.repo.with_status(PostStatus.SCHEDULED):
            if post.due_at > now:
                self.arm(post)
                counts["armed"] += 1
            elif now - post.due_at <= self.grace_seconds:
                late.append(post)
            elif await self._set_aside(
                post, PostStatus.NEEDS_DECISION, MISSED, PostStatus.SCHEDULED
            ):  # False: another worker starting at the same time did it, and tells
                counts["needs_decision"] += 1
                await self.notify(post, NoticeReason.MISSED)
        for post in late:  # in due order
            await self.publish(post.id)
            counts["late_published"] += 1
        for post in await self.repo.awaiting_deletion():
            self.arm_deletion(post)
            counts["deletions"] += 1
        run_once_at(self.scheduler, "posts:sweep", now + self.sweep_seconds, self.sweep)
        return counts

    async def _recover_interrupted(self, now: float) -> int:
        """Posts left `publishing` by a process that stopped: one that had not started sending
        goes back to the queue (it never reached Telegram); for one whose request had left,
        nobody knows whether it went out, so the manager decides; never resent silently. With
        other workers, only posts whose claimer stopped renewing its lease."""
        count = 0
        for post in await self.repo.with_status(PostStatus.PUBLISHING):
            if self.shared and post.lease_until is not None and post.lease_until > now:
                continue  # another worker is publishing it right now
            if post.sending_at is None and await self.repo.requeue(post.id):
                logger.info("post %s: its publisher stopped before sending; queued again", post.id)
                continue
            if await self._set_aside(
                post,
                PostStatus.NEEDS_DECISION,
                MAYBE_OUT[NoticeReason.INTERRUPTED],
                PostStatus.PUBLISHING,
            ):
                count += 1
                await self.notify(post, NoticeReason.INTERRUPTED)
        return count

    async def sweep(self) -> None:
        """Catch anything a timer missed (and, with other workers, posts a stopped worker left
        half-published); re-arms itself.

        With other workers, a post queued or moved on one of them has a timer there only: if
        that worker dies, the post would wait for a sweep elsewhere, up to a sweep period and
        the lag late. So each worker also sets a timer at the database's due time for every post
        that falls due before its next sweep (the claim picks one publisher), as the quiz,
        giveaway and captcha timers are re-armed from the database."""
        try:
            if self.shared:
                await self._recover_interrupted(self.clock())
                now = int(self.clock())
                horizon = now + math.ceil(self.sweep_seconds)
                for post in await self.repo.due(horizon):
                    if post.due_at > now - SWEEP_LAG_SECONDS and (
                        armed_at(self.scheduler, self.job_id(post.id)) != post.due_at
                    ):
                        self.arm(post)
                # a delete-after is armed where the post went out (and at every start): one
                # whose worker died is deleted by another (deleting twice changes nothing)
                for post in await self.repo.awaiting_deletion(horizon):
                    if armed_at(self.scheduler, self.deletion_id(post.id)) is None:
                        self.arm_deletion(post)
            for post in await self.repo.due(int(self.clock()) - SWEEP_LAG_SECONDS):
                await self.publish_due(post.id)
        finally:
            run_once_at(
                self.scheduler, "posts:sweep", self.clock() + self.sweep_seconds, self.sweep
            )

    async def publish(
        self, post_id: int, *, due_by: int | None = None, asked_by: int | None = None
    ) -> bool:
        """`asked_by`: the manager who pressed Publish now; told what became of it as well as
        the one who queued it (they may differ in a team)."""
        async with self._claiming:
            claimed = await self.repo.claim(post_id, due_by, self._lease_end())
        if not claimed:
            return False
        # with several workers, which one holds a post is otherwise nowhere to be seen
        logger.info("post %s claimed", post_id)
        renew = lambda: self.repo.renew_lease(post_id, self._lease_end())  # noqa: E731
        async with self.sending.track(), heartbeat(renew, every=self.row_lease_seconds / 3):
            return await self._publish_claimed(post_id, asked_by)

    def _lease_end(self) -> int:
        return int(self.clock()) + self.row_lease_seconds

    async def _tell(self, post: Post, reason: NoticeReason, asked_by: int | None) -> None:
        await self.notify(post, reason)
        if asked_by is not None and asked_by != post.created_by:
            await self.notify(replace(post, created_by=asked_by), reason)

    async def _publish_claimed(self, post_id: int, asked_by: int | None = None) -> bool:
        post = await self.repo.get(post_id)
        assert post is not None
        channel = await self.channels.get(post.channel_id) if self.channels else None
        if channel is not None and not channel.can_post and asked_by is not None:
            channel = await self._rights_now(channel)
        if channel is not None and not channel.can_post:
            # rights lost: hold the post for a decision instead of failing it against Telegram.
            # A recurring series pauses here (publishing it later resumes it): its next
            # occurrences would only be held in turn, a notice each
            await self.repo.set_status(
                post.id, PostStatus.NEEDS_DECISION, NO_RIGHTS, PostStatus.PUBLISHING
            )
            await self._tell(post, NoticeReason.HELD, asked_by)
            return False
        self.mark_channel(post.channel_id)
        try:
            ids, followup, followup_error = await self._send(post)
        except TelegramRetryAfter as exc:  # longer than the outbound layer waits: not sent
            due_at = int(self.clock()) + exc.retry_after
            if await self.repo.postpone(post.id, due_at) and (
                later := await self.repo.get(post.id)
            ):
                logger.warning(
                    "post %s: flood wait of %ss; due again then", post.id, exc.retry_after
                )
                self.arm(later)
            return False
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            await self._set_aside(post, PostStatus.FAILED, exc.message, PostStatus.PUBLISHING)
            if channel is not None and self.channels is not None and channel_lost(exc.message):
                # removed or demoted while no my_chat_member told us: flagged as if it had, so
                # /channels shows it and the channel's other posts are held, not each refused
                await self.channels.upsert(replace(channel, can_post=False), int(self.clock()))
            await self._tell(post, NoticeReason.FAILED, asked_by)
            return False
        except (TelegramAPIError, ClientDecodeError) as exc:  # not retried, or retries exhausted
            if maybe_delivered(exc):  # the answer was lost or failed, maybe not the post
                notice = (
                    NoticeReason.UNCONFIRMED
                    if isinstance(exc, TelegramNetworkError)
                    else NoticeReason.SERVER_ERROR
                )
                status, reason = PostStatus.NEEDS_DECISION, MAYBE_OUT[notice]
            else:
                status, reason, notice = PostStatus.FAILED, str(exc), NoticeReason.FAILED
            await self._set_aside(post, status, reason, PostStatus.PUBLISHING)
            await self._tell(post, notice, asked_by)
            return False
        published_at = int(self.clock())
        then = self._next_occurrence(post) if post.recurrence else None
        next_id = await self.repo.mark_published(post.id, ids, published_at, followup, then)
        logger.info("post %s published in %s", post.id, post.channel_id)
        if next_id is not None and (next_post := await self.repo.get(next_id)) is not None:
            self.arm(next_post)
        await self._report_published(post, [*ids, *(followup or [])], published_at)
        if followup_error is not None:  # told, not only logged: the post lacks its buttons
            await self.repo.set_status(post.id, PostStatus.PUBLISHED, followup_error)
            await self.notify(post, NoticeReason.NO_FOLLOWUP)
        if post.delete_after_hours:
            self.arm_deletion(await self.repo.get(post.id))
        if post.pin and ids:
            try:
                await self.bot.pin_chat_message(
                    post.channel_id, ids[0], disable_notification=post.silent
                )
            except TelegramAPIError as exc:
                logger.warning("post %s published but not pinned: %s", post.id, exc)
                reason = exc.message if isinstance(exc, TelegramBadRequest) else str(exc)
                await self.repo.set_status(post.id, PostStatus.PUBLISHED, reason)
                await self._tell(post, NoticeReason.NOT_PINNED, asked_by)
        return True

    async def _rights_now(self, channel: Channel) -> Channel:
        """A manager publishes by hand in a flagged channel, presumably after giving the rights
        back: Telegram is asked, since the update saying so may never have come (the bot was
        down for more than a day, when Telegram drops updates)."""
        try:
            member = await self.bot.get_chat_member(channel.chat_id, self.bot.id)
        except TelegramAPIError:  # not an admin there (or gone): the flag stands
            return channel
        fresh = rights_of(channel, member)
        if fresh != channel and self.channels is not None:
            await self.channels.upsert(fresh, int(self.clock()))
        return fresh

    async def _set_aside(
        self, post: Post, status: PostStatus, reason: str, from_status: PostStatus
    ) -> bool:
        """The post waits for the manager (failed, missed, interrupted). A recurring
        post's series goes on without it: the next occurrence is queued now and takes the
        recurrence over, so publishing this one later queues no second next one."""
        then = self._next_occurrence(post) if post.recurrence else None
        done, next_id = await self.repo.set_aside(
            post.id, status, reason, from_status, end_series=bool(post.recurrence), then=then
        )
        if next_id is not None and (next_post := await self.repo.get(next_id)) is not None:
            self.arm(next_post)
        return done

    async def _report_published(self, post: Post, ids: list[int], published_at: int) -> None:
        """Statistics learn of the post here: Telegram will never send its `channel_post`."""
        if self.on_published is None or not ids:
            return
        try:
            await self.on_published(post.channel_id, ids, published_at)
        except Exception:  # the post is out; its statistics must not undo that
            logger.exception("post %s published but not recorded for statistics", post.id)

    def _next_occurrence(self, post: Post) -> dict[str, Any] | None:
        """`PostRepository.add`'s fields for a recurring post's next occurrence, or None."""
        try:
            recurrence = parse_recurrence(post.recurrence or "", self.tz)
        except TimeError:
            logger.warning("post %s: recurrence %r no longer parses", post.id, post.recurrence)
            return None
        # strictly after this occurrence (the trigger's next fire time is inclusive)
        after = datetime.fromtimestamp(max(post.due_at, self.clock()) + 1, UTC)
        next_due = recurrence.next_after(after)
        if next_due is None:
            return None
        return {
            "channel_id": post.channel_id,
            "source_chat_id": post.source_chat_id,
            "source_message_ids": post.source_message_ids,
            "due_at": int(next_due.timestamp()),
            "created_by": post.created_by,
            "now": int(self.clock()),
            "silent": post.silent,
            "pin": post.pin,
            "delete_after_hours": post.delete_after_hours,
            "buttons": post.buttons,
            "recurrence": post.recurrence,
            "summary": post.summary,
        }

    @staticmethod
    def deletion_id(post_id: int) -> str:
        return f"post-delete:{post_id}"

    def arm_deletion(self, post: Post | None) -> None:
        if post is None or not post.delete_after_hours or post.published_at is None:
            return
        at = post.published_at + post.delete_after_hours * 3600
        run_once_at(self.scheduler, self.deletion_id(post.id), at, self.delete_published, post.id)

    async def delete_published(self, post_id: int) -> None:
        """Delete-after: remove the post (and its follow-up) from the channel, once."""
        post = await self.repo.get(post_id)
        if post is None or post.deleted_at is not None or not post.published_ids:
            return
        ids = [*post.published_ids, *(post.followup_ids or [])]
        refused = None
        try:
            await self.bot.delete_messages(post.channel_id, ids)
        except TelegramAPIError as exc:  # older than 48 h or rights lost; gone ones are skipped
            logger.warning(
                "post %s: could not delete after %sh: %s", post.id, post.delete_after_hours, exc
            )
            refused = exc.message if isinstance(exc, TelegramBadRequest) else str(exc)
        # the manager is told (once, whichever worker's timer came first) that it is still up
        if await self.repo.mark_deleted(post.id, int(self.clock())) and refused is not None:
            await self.repo.set_status(post.id, PostStatus.PUBLISHED, refused)
            await self.notify(post, NoticeReason.NOT_DELETED)

    async def _send(self, post: Post) -> Sent:
        """Copies the manager's message(s), so entities and media stay as they were.

        The send budget is waited for first, then the post is marked as being sent, then the
        request leaves: a publisher that dies while waiting leaves a post that is safely queued
        again (`_recover_interrupted`); only one that dies after the mark leaves a post that may
        be out, for the manager to decide."""
        cost = len(post.source_message_ids)
        pacing = (
            self.pacer.paced(post.channel_id, cost)
            if self.pacer is not None
            else contextlib.nullcontext()
        )
        async with pacing:
            await self.repo.mark_sending(post.id, int(self.clock()))
            with at_most_once():
                return await self._copy(post)

    async def _copy(self, post: Post) -> Sent:
        if len(post.source_message_ids) == 1:
            sent = await self.bot.copy_message(
                post.channel_id,
                post.source_chat_id,
                post.source_message_ids[0],
                disable_notification=post.silent,
                reply_markup=url_keyboard(post.buttons),
            )
            return Sent([sent.message_id])
        sent_many = await self.bot.copy_messages(
            post.channel_id,
            post.source_chat_id,
            post.source_message_ids,
            disable_notification=post.silent,
        )
        ids = [m.message_id for m in sent_many]
        if not post.buttons:
            return Sent(ids)
        # albums cannot carry buttons: they ride on a short follow-up message
        try:
            followup = await self.bot.send_message(
                post.channel_id,
                FOLLOWUP_TEXT,
                disable_notification=True,
                reply_markup=url_keyboard(post.buttons),
            )
        # the album is out; do not fail (and resend) it. A gateway's HTML page is no
        # TelegramAPIError: escaping here it made the album that went out a post "maybe out"
        except (TelegramAPIError, ClientDecodeError) as exc:
            logger.warning("post %s: album published, follow-up failed: %s", post.id, exc)
            if maybe_delivered(exc):
                return Sent(ids, None, FOLLOWUP_UNCONFIRMED)
            return Sent(ids, None, exc.message if isinstance(exc, TelegramBadRequest) else str(exc))
        return Sent(ids, [followup.message_id])
