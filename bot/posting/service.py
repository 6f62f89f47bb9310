"""The posting desk behind /schedule, /channels, /slots and /queue's buttons: channels the bot
may post to, posting slots, and posts queued, moved, cancelled or published now. Every change
to a post's time re-arms the publisher's timer, so a handler never has to remember to."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import SYSTEM_CLOCK, Clock, utc_now
from bot.posting.failures import MAYBE_OUT
from bot.posting.publisher import Publisher
from bot.posting.times import (
    DAILY_WORDS,
    WEEKLY_WORDS,
    Recurrence,
    TimeError,
    TimeProblem,
    parse_recurrence,
    parse_time,
    within_reach,
)
from storage.posts import (
    Channel,
    ChannelRepository,
    DraftRepository,
    Post,
    PostRepository,
    PostStatus,
    SlotRepository,
)

logger = logging.getLogger(__name__)

DEFAULT_SLOTS = SlotRepository.DEFAULT  # the slots of every channel without its own
RECURRING_WORDS = {*DAILY_WORDS, *WEEKLY_WORDS}


class Change(StrEnum):
    """What became of a change to a queued post (a new time, new content)."""

    DONE = "done"
    CANCELLED = "cancelled"  # cancelled meanwhile: it stays so, and the manager is told
    SENDING = "sending"  # on its way out right now (a second Publish now, say)
    GONE = "gone"  # out, or deleted


@dataclass(frozen=True, slots=True)
class ScheduleTime:
    """When /schedule's post first goes out, and how it comes back (None: once)."""

    due: datetime
    recurrence: Recurrence | None = None


class PostingService:
    def __init__(
        self,
        posts: PostRepository,
        channels: ChannelRepository,
        slots: SlotRepository,
        publisher: Publisher,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.posts = posts
        self.channels = channels
        self.slots = slots
        self.publisher = publisher
        self.clock = clock

    def now(self) -> int:
        return int(self.clock())

    def due_time(self, text: str, tz: ZoneInfo) -> datetime:
        """A manager's time (`tomorrow 10:00`, `25.12 18:00`, …) as UTC, read against the
        clock; raises `TimeError`."""
        return parse_time(text, utc_now(self.clock), tz)

    def schedule_time(self, when: str, tz: ZoneInfo) -> ScheduleTime:
        """/schedule's time: a one-off time, or a recurrence (`daily 09:00`, five cron fields)
        with its next occurrence; raises `TimeError`."""
        words = when.split()  # none at all for a photo sent instead of a time
        if words and (words[0].lower() in RECURRING_WORDS or len(words) == 5):
            recurrence = parse_recurrence(when, tz)
            now = utc_now(self.clock)
            due = recurrence.next_after(now)
            if due is None:  # a cron day that never comes, such as 30 February
                raise TimeError(TimeProblem.INVALID)
            if recurrence.too_often(now):
                raise TimeError(TimeProblem.TOO_OFTEN)
            return ScheduleTime(within_reach(due, now), recurrence)
        return ScheduleTime(self.due_time(when, tz))

    # --- channels and slots ------------------------------------------------------------------

    async def all_channels(self) -> list[Channel]:
        return await self.channels.all()

    async def postable_channels(self) -> list[Channel]:
        return [c for c in await self.channels.all() if c.can_post]

    async def save_channel(self, channel: Channel) -> None:
        await self.channels.upsert(channel, self.now())

    async def all_slots(self) -> dict[int, list[str]]:
        """Posting slots per channel; `SlotRepository.DEFAULT` holds every channel's."""
        return await self.slots.all()

    async def channel_slots(self, channel_id: int) -> list[str]:
        return await self.slots.for_channel(channel_id)

    async def set_slots(self, channel_id: int, times: list[str]) -> None:
        await self.slots.set(channel_id, times)

    async def taken_times(self, channel_ids: list[int], since: int) -> set[tuple[int, int]]:
        return await self.posts.taken_times(channel_ids, since)

    # --- posts --------------------------------------------------------------------------------

    async def queue(self, channel_ids: list[int], **post: Any) -> list[int]:
        """One post per channel (`post`: PostRepository.add's fields but the channel and the
        time of queueing), all written at once (a stop cannot queue some channels' only), each
        armed to go out at its time."""
        now = self.now()
        ids = await self.posts.add_all([{**post, "channel_id": c, "now": now} for c in channel_ids])
        await self.arm(ids)
        return ids

    async def queue_draft(
        self, draft_id: int, drafts: DraftRepository, rows: list[dict[str, Any]]
    ) -> list[int] | None:
        """Confirm: the draft becomes its posts (`queue`'s fields, each with its `channel_id`)
        in one write, then they are armed; None when another tap already did it."""
        now = self.now()
        ids = await drafts.to_posts(draft_id, self.posts, [{**row, "now": now} for row in rows])
        await self.arm(ids or [])
        return ids

    async def arm(self, post_ids: list[int]) -> None:
        """Queued posts' timers (a stop before this is made good by the next start's rebuild)."""
        for post_id in post_ids:
            if (queued := await self.posts.get(post_id)) is not None:  # just written
                self.publisher.arm(queued)

    async def post(self, post_id: int) -> Post | None:
        return await self.posts.get(post_id)

    async def cancel(self, post_id: int) -> bool:
        """False when the post is no longer waiting: out, cancelled already, or on its way out
        (its publisher's claim came first, and it is recorded as what it becomes)."""
        if not await self.posts.cancel(post_id):
            return False
        self.publisher.disarm(post_id)
        return True

    async def mark_out(self, post_id: int) -> bool:
        """ "It is out": a post whose send was not confirmed is in the channel after all."""
        return await self.posts.mark_out(post_id, self.now(), list(MAYBE_OUT.values()))

    async def reschedule(self, post_id: int, due: datetime) -> Change:
        """A new time for a post still waiting to go out. A cancelled one stays cancelled: the
        question "when?" may have been asked before the Cancel (an old Reschedule button, or
        a time typed after cancelling), and the Cancel is the manager's later word."""
        if not await self.posts.reschedule(post_id, int(due.timestamp())):
            return await self.why_unchanged(post_id)
        if (moved := await self.posts.get(post_id)) is not None:  # None: deleted meanwhile
            self.publisher.arm(moved)
        return Change.DONE

    async def publish_now(self, post: Post, asked_by: int | None = None) -> bool:
        """Back in the queue at this second if it failed or waited for a decision, then the
        publisher's own claim decides (a second tap finds nothing to claim). The manager who
        asked (`asked_by`) hears of a refusal too, not only the one who queued it."""
        if post.status is not PostStatus.SCHEDULED:
            await self.posts.reschedule(post.id, self.now())
        self.publisher.disarm(post.id)
        return await self.publisher.publish(post.id, asked_by=asked_by)

    async def waits_until(self, post_id: int) -> int | None:
        """When a post Publish now could not send goes out instead: Telegram asked to wait
        longer than a send waits, and the publisher queued it for then. None otherwise."""
        post = await self.posts.get(post_id)
        if post is None or post.status is not PostStatus.SCHEDULED or post.due_at <= self.now():
            return None
        return post.due_at

    async def replace_content(
        self,
        post_id: int,
        message_ids: list[int],
        summary: dict[str, Any] | None,
        chat_id: int | None = None,
    ) -> Change:
        """New content from `chat_id`: the editing manager's chat, which need not be the one
        the post was queued from (another manager's Edit, from /queue or the calendar)."""
        if await self.posts.replace_content(post_id, message_ids, summary, chat_id):
            return Change.DONE
        return await self.why_unchanged(post_id)

    async def why_unchanged(self, post_id: int) -> Change:
        """Why a post's button or a typed answer about it changed nothing, as the manager is
        told: a cancelled post was cancelled and one being sent is being sent, rather than
        either "is no longer in the queue"."""
        post = await self.posts.get(post_id)
        status = post.status if post is not None else None
        if status is PostStatus.CANCELLED:
            return Change.CANCELLED
        return Change.SENDING if status is PostStatus.PUBLISHING else Change.GONE
