"""A stop (a killed process) between two writes about one post must leave no half: Confirm
turns a draft into its posts in one transaction, and a failed or missed recurring post hands
its series on in the same transaction that sets it aside. A stop mid-transaction is a rollback,
so a write failing inside it stands in for the kill."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import FrozenClock
from bot.posting.drafts import DraftService
from bot.posting.publisher import Publisher
from bot.posting.service import PostingService
from storage.database import Database
from storage.posts import (
    Channel,
    ChannelRepository,
    DraftRepository,
    Post,
    PostRepository,
    PostStatus,
    SlotRepository,
    TimeChoice,
)

T0 = int(datetime(2026, 3, 2, 8, 0, tzinfo=UTC).timestamp())  # a Monday
CHANNELS = (-1001, -1002)


class Killed(Exception):
    """The process died here."""


@pytest.fixture
async def db(db_target) -> AsyncIterator[Database]:
    database = Database(db_target)
    await database.open()
    yield database
    await database.close()


def publisher_on(repo: PostRepository, notices: list) -> Publisher:
    async def notify(post: Post, reason: str) -> None:
        notices.append((post.id, reason))

    return Publisher(
        None,  # type: ignore[arg-type]  # nothing here is sent
        repo,
        AsyncIOScheduler(timezone="UTC"),
        3600,
        notify,
        clock=FrozenClock(T0),
    )


def kill_at_insert(monkeypatch, repo: PostRepository, number: int) -> None:
    """The process dies at the `number`th new post row (counting from 1)."""
    add, calls = repo.add, []

    async def dying(**fields):
        calls.append(1)
        if len(calls) == number:
            raise Killed
        return await add(**fields)

    monkeypatch.setattr(repo, "add", dying)


async def test_a_kill_between_confirm_and_queueing_keeps_the_draft(db, monkeypatch) -> None:
    """Confirm deleted the draft, then queued one post per channel in statements of their own:
    a kill in between lost the draft (and queued only some channels' posts), and the manager's
    second Confirm said the draft was gone. Now the draft is there until its posts are."""
    posts, channels = PostRepository(db), ChannelRepository(db)
    for chat_id in CHANNELS:
        await channels.upsert(Channel(chat_id, f"C{chat_id}", None, *[True] * 4), T0)
    publisher = publisher_on(posts, [])
    posting = PostingService(posts, channels, SlotRepository(db), publisher, FrozenClock(T0))
    drafts = DraftRepository(db)
    compose = DraftService(drafts, posting, ZoneInfo("UTC"))
    draft = await compose.new(9001, 9001, [5], {"kind": "text", "count": 1})
    draft = await compose.update(
        draft.id, channels=list(CHANNELS), due_at=T0 + 3600, time_choice=TimeChoice.CUSTOM
    )
    assert draft is not None
    kill_at_insert(monkeypatch, posts, 2)
    with pytest.raises(Killed):
        await compose.confirm(draft)
    assert await drafts.get(draft.id) is not None  # the draft survives the kill
    assert await posts.with_status(*PostStatus) == []  # and no half of its posts went in
    monkeypatch.undo()
    done = await compose.confirm(draft)  # the manager presses Confirm again
    assert done is not None and len(done.post_ids) == 2
    assert await drafts.get(draft.id) is None
    assert {p.channel_id for p in await posts.with_status(PostStatus.SCHEDULED)} == set(CHANNELS)
    assert await compose.confirm(draft) is None  # a second tap queues nothing more


async def test_a_kill_while_a_recurring_post_is_set_aside_keeps_one_series(db, monkeypatch) -> None:
    """A failed recurring occurrence was marked failed, then its next occurrence queued, then
    its own recurrence cleared, three statements: a kill after the first ended the series (no
    next occurrence, and Retry would start a second one later), a kill after the second left
    two posts carrying the series. Now the three are one transaction."""
    posts = PostRepository(db)
    post_id = await posts.add(
        channel_id=CHANNELS[0], source_chat_id=9001, source_message_ids=[5], due_at=T0,
        created_by=9001, now=T0 - 60, recurrence="daily 09:00",
    )  # fmt: skip
    assert await posts.claim(post_id)
    post = await posts.get(post_id)
    assert post is not None
    notices: list = []
    publisher = publisher_on(posts, notices)
    kill_at_insert(monkeypatch, posts, 1)
    with pytest.raises(Killed):
        await publisher._set_aside(post, PostStatus.FAILED, "Bad Request", PostStatus.PUBLISHING)
    [still] = await posts.with_status(*PostStatus)
    assert (still.status, still.recurrence) == (PostStatus.PUBLISHING, "daily 09:00")
    monkeypatch.undo()
    # the restart finds it publishing with its request sent, and sets it aside: once
    await posts.mark_sending(post_id, T0)
    assert await publisher._recover_interrupted(T0 + 10) == 1
    aside, following = await posts.with_status(*PostStatus)
    assert (aside.id, aside.status, aside.recurrence) == (post_id, "needs_decision", None)
    assert (following.status, following.recurrence) == (PostStatus.SCHEDULED, "daily 09:00")
    assert following.due_at == int(datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp())
    assert notices == [(post_id, "interrupted")]
    # a second setting aside (another worker's, late) changes nothing and queues nothing
    assert not await publisher._set_aside(
        post, PostStatus.FAILED, "Bad Request", PostStatus.PUBLISHING
    )
    assert len(await posts.with_status(*PostStatus)) == 2
