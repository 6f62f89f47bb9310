"""The content calendar behind the Mini App: the queue as dated entries, and the moves a manager
makes on it.

Every change goes through the same repository guards and the same `Publisher` as the chat flows
(`/queue`): a move re-arms the post's timer, Publish now takes the same `scheduled -> publishing`
claim, and a cancel disarms the timer, so the exactly-once rules hold whichever screen acts. Moves
carry the version the manager saw; a post changed elsewhere meanwhile is refused as stale rather
than overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import SYSTEM_CLOCK, Clock
from bot.posting.compose import next_free_slot
from bot.posting.publisher import Publisher
from bot.posting.times import MAX_AHEAD, TimeError, TimeProblem, local_to_utc
from bot.stats.report import best_time, engagement_rate
from storage.posts import (
    OPEN_STATUSES,
    Channel,
    ChannelRepository,
    Post,
    PostRepository,
    PostStatus,
    SlotRepository,
)
from storage.stats import StatsRepository

# What the calendar calls each stored state; "held" covers every post waiting for a decision.
STATUS_NAMES = {
    PostStatus.SCHEDULED: "queued",
    PostStatus.NEEDS_DECISION: "held",
    PostStatus.FAILED: "failed",
    PostStatus.PUBLISHED: "published",
    PostStatus.PUBLISHING: "publishing",
    PostStatus.CANCELLED: "cancelled",
}
OUT = (PostStatus.PUBLISHED, PostStatus.PUBLISHING)  # out, or on its way: no longer movable
MAX_RANGE_DAYS = 92  # a quarter: the month view plus its neighbours, never the whole history
BEST_TIME_DAYS = 90
FREE_SLOTS_SHOWN = 6


class Outcome(Enum):
    OK = "ok"
    NOT_FOUND = "not_found"
    GONE = "gone"  # published or being published: nothing left to change
    CANCELLED = "cancelled"  # cancelled: Publish now has nothing to publish (a move revives it)
    STALE = "stale"  # changed elsewhere since the manager loaded it
    PAST = "past"
    TOO_FAR = "too_far"  # more than MAX_AHEAD ahead, as the chat refuses it
    FAILED = "failed"  # Publish now reached Telegram and was refused; the post says why
    DELAYED = "delayed"  # Publish now: Telegram asked to wait; the post is queued for then


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    post: Post | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """A post as the calendar shows it."""

    post: Post
    channel_title: str
    reactions: int | None = None
    comments: int | None = None
    er: float | None = None

    @property
    def status(self) -> str:
        return STATUS_NAMES[self.post.status]


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    channel: Channel
    slots: list[str]
    own_slots: bool
    free_slots: list[datetime] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BestSlot:
    weekday: int  # 0 = Monday, in the managers' time zone
    hour: int
    er: float
    samples: int
    next_at: datetime | None  # the next such hour with nothing queued in the channel


class CalendarService:
    def __init__(
        self,
        posts: PostRepository,
        channels: ChannelRepository,
        slots: SlotRepository,
        stats: StatsRepository,
        publisher: Publisher,
        tz: ZoneInfo,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.posts = posts
        self.channels = channels
        self.slots = slots
        self.stats = stats
        self.publisher = publisher
        self.tz = tz
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # --- reading ------------------------------------------------------------------------------

    async def entries(
        self, start: datetime, end: datetime, channel_id: int | None = None
    ) -> list[Entry]:
        names = {c.chat_id: c.title or str(c.chat_id) for c in await self.channels.all()}
        found = await self.posts.calendar(int(start.timestamp()), int(end.timestamp()), channel_id)
        result = []
        for post, stats in found:
            title = names.get(post.channel_id, str(post.channel_id))
            if stats is None:
                result.append(Entry(post, title))
                continue
            result.append(
                Entry(
                    post,
                    title,
                    reactions=stats["reactions"],
                    comments=stats["comments"],
                    er=engagement_rate(stats),
                )
            )
        return result

    async def channel_list(self, with_free_slots: bool = True) -> list[ChannelInfo]:
        all_slots = await self.slots.all()
        default = all_slots.get(SlotRepository.DEFAULT, [])
        channels = await self.channels.all()
        taken: set[tuple[int, int]] = set()
        if with_free_slots:
            taken = await self.posts.taken_times([c.chat_id for c in channels], int(self.clock()))
        result = []
        for channel in channels:
            own = channel.chat_id in all_slots
            times = all_slots.get(channel.chat_id, default)
            free = []
            if with_free_slots:
                mine = {t for c, t in taken if c == channel.chat_id}
                free = self._free_slots(times, mine, FREE_SLOTS_SHOWN)
            result.append(ChannelInfo(channel, times, own, free))
        return result

    def _free_slots(self, times: list[str], taken: set[int], count: int) -> list[datetime]:
        found: list[datetime] = []
        now = self.now()
        while len(found) < count:
            due = next_free_slot(times, taken | {int(d.timestamp()) for d in found}, now, self.tz)
            if due is None:
                break
            found.append(due)
        return found

    async def empty_slots(
        self, start: datetime, end: datetime, channel_id: int | None = None
    ) -> list[tuple[int, datetime]]:
        """(channel, time) of every posting slot in the range, from now on, with nothing queued
        at that time: the gaps a manager plans to fill."""
        infos = [
            i
            for i in await self.channel_list(with_free_slots=False)
            if channel_id is None or i.channel.chat_id == channel_id
        ]
        if not infos:
            return []
        begin = max(start, self.now())
        taken = await self.posts.taken_times(
            [i.channel.chat_id for i in infos], int(begin.timestamp())
        )
        gaps = []
        first_day = begin.astimezone(self.tz).date()
        last_day = end.astimezone(self.tz).date()
        moments: dict[tuple[date, str], datetime | None] = {}  # channels mostly share slots
        for info in infos:
            for offset in range((last_day - first_day).days + 1):
                day = first_day + timedelta(days=offset)
                for slot in info.slots:
                    if (day, slot) not in moments:
                        moments[day, slot] = self._slot_at(day, slot)
                    at = moments[day, slot]
                    if at is None or not begin <= at < end:
                        continue
                    if (info.channel.chat_id, int(at.timestamp())) not in taken:
                        gaps.append((info.channel.chat_id, at))
        gaps.sort(key=lambda g: (g[1], g[0]))
        return gaps

    def _slot_at(self, day: date, slot: str) -> datetime | None:
        hour, minute = (int(p) for p in slot.split(":"))
        try:
            return local_to_utc(day, hour, minute, self.tz)
        except TimeError:  # skipped or repeated that night (DST): not a slot that day
            return None

    async def best_times(self, channel_id: int, count: int = 3) -> list[BestSlot] | None:
        """The channel's best weekday-hours by ER (each seen at least twice), with the next
        free occurrence of each; None for a channel the bot does not know."""
        if await self.channels.get(channel_id) is None:
            return None
        today = self.now().astimezone(self.tz).date()
        grid = await best_time(self.stats, channel_id, "channel", BEST_TIME_DAYS, today, self.tz)
        cells = sorted(
            (
                (grid.grid[d][h], d, h)
                for d in range(7)
                for h in range(24)
                if grid.samples[d][h] >= 2
            ),
            reverse=True,
        )[:count]
        taken = {t for c, t in await self.posts.taken_times([channel_id], int(self.clock())) if c}
        result = []
        for er, weekday, hour in cells:
            result.append(
                BestSlot(
                    weekday, hour, er, grid.samples[weekday][hour], self._next(weekday, hour, taken)
                )
            )
        return result

    def _next(self, weekday: int, hour: int, taken: set[int]) -> datetime | None:
        now = self.now()
        day = now.astimezone(self.tz).date()
        for offset in range(7 * 8):
            candidate = day + timedelta(days=offset)
            if candidate.weekday() != weekday:
                continue
            at = self._slot_at(candidate, f"{hour:02d}:00")
            if (
                at is not None
                and at > now + timedelta(minutes=1)
                and int(at.timestamp()) not in taken
            ):
                return at
        return None

    # --- changing -----------------------------------------------------------------------------

    async def move(self, post_id: int, due: datetime, version: int) -> Result:
        post = await self.posts.get(post_id)
        if post is None:
            return Result(Outcome.NOT_FOUND)
        if post.status in OUT:
            return Result(Outcome.GONE, post)
        if post.version != version:
            return Result(Outcome.STALE, post)
        if due <= self.now():
            return Result(Outcome.PAST, post)
        if due - self.now() > MAX_AHEAD:
            return Result(Outcome.TOO_FAR, post)
        if not await self.posts.move(post_id, int(due.timestamp()), version):
            fresh = await self.posts.get(post_id)
            gone = fresh is None or fresh.status in OUT
            return Result(Outcome.GONE if gone else Outcome.STALE, fresh)
        fresh = await self.posts.get(post_id)
        assert fresh is not None
        self.publisher.arm(fresh)
        return Result(Outcome.OK, fresh)

    async def publish_now(self, post_id: int, version: int | None = None) -> Result:
        """As /queue's Publish now (Retry for a failed post): back in the queue at this second,
        then the publisher's own claim decides; a second tap finds nothing to claim. With the
        `version` the manager saw, a post changed since (another manager moved or edited it)
        is refused as stale rather than published unseen: the version is compared in the one
        statement that puts the post back in the queue (a queued post keeps its time), as
        cancel's is, so a change landing after the read is refused too."""
        post = await self.posts.get(post_id)
        if post is None:
            return Result(Outcome.NOT_FOUND)
        if post.status is PostStatus.CANCELLED:
            return Result(Outcome.CANCELLED, post)
        if post.status not in OPEN_STATUSES:
            return Result(Outcome.GONE, post)
        if version is not None or post.status is not PostStatus.SCHEDULED:
            queued = post.status is PostStatus.SCHEDULED
            due = post.due_at if queued else int(self.clock())
            if not await self.posts.reschedule(post_id, due, version):
                return await self._refused(post_id, post)
        self.publisher.disarm(post_id)
        ok = await self.publisher.publish(post_id)
        fresh = await self.posts.get(post_id)
        if ok:
            return Result(Outcome.OK, fresh)
        if fresh is not None and fresh.status in (PostStatus.FAILED, PostStatus.NEEDS_DECISION):
            return Result(Outcome.FAILED, fresh)
        if (
            fresh is not None
            and fresh.status is PostStatus.SCHEDULED
            and fresh.due_at > self.clock()
        ):  # a flood wait longer than a send waits put it back in the queue for then
            return Result(Outcome.DELAYED, fresh)
        return Result(Outcome.GONE, fresh)

    async def _refused(self, post_id: int, read: Post) -> Result:
        """Why a change guarded by the post's status and version changed nothing: cancelled,
        still open (only its version differs: stale), or gone."""
        fresh = await self.posts.get(post_id)
        if fresh is not None and fresh.status is PostStatus.CANCELLED:
            return Result(Outcome.CANCELLED, fresh)
        if fresh is not None and fresh.status in OPEN_STATUSES:
            return Result(Outcome.STALE, fresh)
        return Result(Outcome.GONE, fresh or read)

    async def cancel(self, post_id: int, version: int | None = None) -> Result:
        """With the `version` the manager saw, a post changed since is refused as stale; one
        cancelled already stays cancelled whatever version is named (deleting is idempotent)."""
        post = await self.posts.get(post_id)
        if post is None:
            return Result(Outcome.NOT_FOUND)
        if not await self.posts.cancel(post_id, version):
            refused = await self._refused(post_id, post)
            if refused.outcome is Outcome.CANCELLED:  # cancelled already: deleting is idempotent
                return Result(Outcome.OK, refused.post)
            return refused
        self.publisher.disarm(post_id)
        return Result(Outcome.OK, await self.posts.get(post_id))

    async def post(self, post_id: int) -> Post | None:
        return await self.posts.get(post_id)


def entry_json(entry: Entry, tz: ZoneInfo) -> dict[str, Any]:
    post = entry.post
    summary = post.summary or {}  # kept when the post was queued or edited
    kind = summary.get("kind") or ("album" if len(post.source_message_ids) > 1 else "text")
    return {
        "id": post.id,
        "channel": post.channel_id,
        "channel_title": entry.channel_title,
        "status": entry.status,
        "due_at": iso(post.due_at),
        "published_at": iso(post.published_at) if post.published_at else None,
        "version": post.version,
        "preview": {
            "kind": kind,
            "text": summary.get("text") or summary.get("preview") or "",
            "count": summary.get("count", len(post.source_message_ids)),
            "thumb": bool(summary.get("thumb")),
        },
        "options": {
            "silent": post.silent,
            "pin": post.pin,
            "delete_after_hours": post.delete_after_hours,
            "buttons": sum(len(row) for row in post.buttons or []),
            "recurrence": post.recurrence,
        },
        "error": post.error,
        "reactions": entry.reactions,
        "comments": entry.comments,
        "er": round(entry.er, 2) if entry.er is not None else None,
    }


def iso(ts: int | float | datetime) -> str:
    moment = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# What a calendar time may be: from the epoch (the posts table counts from it) to well before
# the end of Python's calendar, so a range, its padding and its offsets are all still dates.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_moment(text: str, tz: ZoneInfo, *, bound: bool = False) -> datetime:
    """ISO 8601 with an offset, or a wall-clock time without one read in the managers' zone
    (what the app's date and time pickers send). Raises TimeError: invalid (also a time
    outside EARLIEST..LATEST) | nonexistent | ambiguous.

    A range's `bound` is never nonexistent or ambiguous: where the clocks change at midnight
    (Chile, Cuba, Lebanon, Egypt) a day's 00:00 is skipped or repeated, and the page asks for
    its views from a day's 00:00. Such a bound is the first moment it can mean (fold 0): the
    instant the clocks jump, or the first of the two."""
    try:
        # RFC 3339 allows a lower-case "t" and "z"
        value = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise TimeError(TimeProblem.INVALID) from None
    try:
        if value.tzinfo is not None:
            moment = value.astimezone(UTC)
        elif bound:
            moment = value.replace(tzinfo=tz, fold=0).astimezone(UTC)
        else:
            utc = local_to_utc(value.date(), value.hour, value.minute, tz)
            moment = utc + timedelta(seconds=value.second)
    except OverflowError:  # past either end of the calendar once in UTC
        raise TimeError(TimeProblem.INVALID) from None
    if not EARLIEST <= moment < LATEST:
        raise TimeError(TimeProblem.INVALID)
    return moment


def utc_offsets(tz: ZoneInfo, start: datetime, end: datetime) -> dict[str, Any]:
    """The zone's UTC offsets over [start, end) for the page: `changes` lists
    `[utc_ms, offset_minutes]` from each change on, `until` ends the covered span (in ms).

    The page turns UTC times into the zone's wall clock with these instead of asking the
    browser's `Intl` for each one: building the first `Intl.DateTimeFormat` loads ICU's data,
    which costs a throttled phone over 100 ms before the agenda can show. Offsets are sampled
    daily (no zone changes its offset twice in a day) and each change is bisected to the second.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)

    def offset(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset() or timedelta(0)
        return int(delta.total_seconds() // 60)

    current = offset(start)
    changes = [[int(start.timestamp()) * 1000, current]]
    before, step = start, timedelta(days=1)
    while before < end:
        after = min(before + step, end)
        if offset(after) != current:
            low, high = int(before.timestamp()), int(after.timestamp())
            while high - low > 1:  # the first second with the new offset
                middle = (low + high) // 2
                if offset(datetime.fromtimestamp(middle, UTC)) == current:
                    low = middle
                else:
                    high = middle
            current = offset(datetime.fromtimestamp(high, UTC))
            changes.append([high * 1000, current])
        before = after
    return {"until": int(end.timestamp()) * 1000, "changes": changes}
