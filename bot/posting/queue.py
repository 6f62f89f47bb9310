"""The queue as a manager pages through it: which posts are on a page, with their channel names.

Kept apart from the handler so that paging (a queue that shrank since a button was sent, an empty
queue) is decided in one place and returned as a plain value.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.clock import SYSTEM_CLOCK, Clock
from bot.posting.preview import Gettext, Ngettext, page_count, page_slice, queue_entry
from storage.posts import OPEN_STATUSES, ChannelRepository, Post, PostRepository

QUEUE_STATUSES = OPEN_STATUSES
QUEUE_PAGE_SIZE = 5


@dataclass(frozen=True, slots=True)
class QueueEntry:
    post: Post
    channel: str  # the channel's title, or its id when the bot does not know it
    postable: bool = True  # False: the bot can no longer post there (the post will be held)

    def text(self, tz: ZoneInfo, gettext: Gettext, ngettext: Ngettext, now: float) -> str:
        """The entry's own message in /queue (`preview.queue_entry`)."""
        post, postable = self.post, self.postable
        return queue_entry(post, self.channel, tz, gettext, ngettext, now=now, postable=postable)


@dataclass(frozen=True, slots=True)
class QueuePageView:
    entries: list[QueueEntry]
    page: int  # 1-based, clamped to the pages that exist
    pages: int
    total: int
    now: float  # when the page was read: a date of another year shows its year


class PostQueue:
    def __init__(
        self,
        posts: PostRepository,
        channels: ChannelRepository,
        per_page: int = QUEUE_PAGE_SIZE,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.posts = posts
        self.channels = channels
        self.per_page = per_page

    async def page(self, number: int) -> QueuePageView:
        total = await self.posts.count_with_status(*QUEUE_STATUSES)
        page, start, _end = page_slice(total, number, self.per_page)
        posts = (
            await self.posts.with_status(*QUEUE_STATUSES, limit=self.per_page, offset=start)
            if total
            else []
        )
        known = {c.chat_id: c for c in await self.channels.all()}
        entries = [
            QueueEntry(
                p,
                (c.title if (c := known.get(p.channel_id)) else None) or str(p.channel_id),
                c is None or c.can_post,
            )
            for p in posts
        ]
        pages = page_count(total, self.per_page)
        return QueuePageView(entries, page, pages, total, self.clock())
