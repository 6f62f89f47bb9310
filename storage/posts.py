"""Scheduled posts and the channels they go to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.database import Connection, Database


class PostStatus(StrEnum):
    """A post's `status` column, as stored."""

    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"  # claimed by a worker, on its way out
    PUBLISHED = "published"
    FAILED = "failed"  # Telegram refused it; Retry puts it back
    NEEDS_DECISION = "needs_decision"  # missed, interrupted or held: a manager decides
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    channel_id: int
    source_chat_id: int
    source_message_ids: list[int]
    due_at: int
    status: PostStatus
    attempts: int
    silent: bool
    pin: bool
    delete_after_hours: int | None
    buttons: list[list[dict[str, str]]] | None
    recurrence: str | None
    created_by: int | None
    created_at: int
    published_at: int | None
    published_ids: list[int] | None
    error: str | None
    followup_ids: list[int] | None = None
    deleted_at: int | None = None
    summary: dict[str, Any] | None = None  # what the content is: {"kind", "text", "count"}
    version: int = 1
    lease_until: int | None = None  # while publishing: the claiming worker is alive until then
    sending_at: int | None = None  # while publishing: the request may have reached Telegram

    @property
    def open(self) -> bool:
        """Still in the queue: not out, not on its way out, not cancelled."""
        return self.status in OPEN_STATUSES


# Posts the calendar may still move, publish or cancel: not out, not on their way out.
OPEN_STATUSES = (PostStatus.SCHEDULED, PostStatus.FAILED, PostStatus.NEEDS_DECISION)


def _post(row: Any) -> Post:
    data = dict(row)
    for key in ("source_message_ids", "buttons", "published_ids", "followup_ids", "summary"):
        data[key] = json.loads(data[key]) if data[key] else None
    data["silent"], data["pin"] = bool(data["silent"]), bool(data["pin"])
    data["status"] = PostStatus(data["status"])
    return Post(**data)


class PostRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        channel_id: int,
        source_chat_id: int,
        source_message_ids: list[int],
        due_at: int,
        created_by: int | None,
        now: int,
        silent: bool = False,
        pin: bool = False,
        delete_after_hours: int | None = None,
        buttons: list[list[dict[str, str]]] | None = None,
        recurrence: str | None = None,
        summary: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> int:
        """A queued post; `conn`: within that transaction."""
        return await (conn or self.db).insert(
            "INSERT INTO posts(channel_id, source_chat_id, source_message_ids, due_at, "
            "created_by, created_at, silent, pin, delete_after_hours, buttons, recurrence, "
            "summary) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                channel_id,
                source_chat_id,
                json.dumps(source_message_ids),
                due_at,
                created_by,
                now,
                int(silent),
                int(pin),
                delete_after_hours,
                json.dumps(buttons) if buttons else None,
                recurrence,
                json.dumps(summary, ensure_ascii=False) if summary else None,
            ),
        )

    async def add_all(self, rows: list[dict[str, Any]]) -> list[int]:
        """Several posts (`add`'s fields each) in one transaction: all queued, or none."""
        async with self.db.transaction() as conn:
            return [await self.add(**row, conn=conn) for row in rows]

    async def get(self, post_id: int) -> Post | None:
        row = await self.db.fetchone("SELECT * FROM posts WHERE id=?", (post_id,))
        return _post(row) if row else None

    async def count_with_status(self, *statuses: PostStatus) -> int:
        marks = ", ".join("?" for _ in statuses)
        row = await self.db.fetchone(
            f"SELECT COUNT(*) FROM posts WHERE status IN ({marks})", statuses
        )
        return int(row[0]) if row else 0

    async def with_status(
        self, *statuses: PostStatus, limit: int | None = None, offset: int = 0
    ) -> list[Post]:
        marks = ", ".join("?" for _ in statuses)
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        rows = await self.db.fetchall(
            f"SELECT * FROM posts WHERE status IN ({marks}) ORDER BY due_at, id{page}", statuses
        )
        return [_post(r) for r in rows]

    async def due(self, until: int) -> list[Post]:
        rows = await self.db.fetchall(
            "SELECT * FROM posts WHERE status='scheduled' AND due_at<=? ORDER BY due_at, id",
            (until,),
        )
        return [_post(r) for r in rows]

    async def claim(
        self, post_id: int, due_by: int | None = None, lease_until: int | None = None
    ) -> bool:
        """scheduled -> publishing, for exactly one caller: the guard against double posting.

        With `due_by` (timers and the sweep) the post must also be due by then, so a timer or a
        sweep that read the post just before it was moved later cannot publish it early.
        `lease_until` says how long the claimer vouches for it (see `renew_lease`)."""
        sql = "UPDATE posts SET status='publishing', attempts=attempts+1, lease_until=?, "
        sql += "sending_at=NULL "
        sql += "WHERE id=? AND status='scheduled'"
        params: tuple[Any, ...] = (lease_until, post_id)
        if due_by is not None:
            sql += " AND due_at<=?"
            params += (due_by,)
        cursor = await self.db.execute(sql, params)
        return cursor.rowcount == 1

    async def mark_sending(self, post_id: int, now: int) -> None:
        """The request is about to leave: from here on nobody knows for sure whether it went
        out until the answer is recorded (see `requeue`)."""
        await self.db.execute(
            "UPDATE posts SET sending_at=? WHERE id=? AND status='publishing'", (now, post_id)
        )

    async def requeue(self, post_id: int) -> bool:
        """publishing -> scheduled for a post whose claimer stopped before sending anything
        (`sending_at` still NULL): it never reached Telegram, so it may simply go out now."""
        cursor = await self.db.execute(
            "UPDATE posts SET status='scheduled', lease_until=NULL "
            "WHERE id=? AND status='publishing' AND sending_at IS NULL",
            (post_id,),
        )
        return cursor.rowcount == 1

    async def postpone(self, post_id: int, due_at: int) -> bool:
        """publishing -> scheduled at a later time, for a post Telegram refused to take yet
        (a flood wait): it did not go out, so it simply waits its new turn."""
        cursor = await self.db.execute(
            "UPDATE posts SET status='scheduled', due_at=?, lease_until=NULL, sending_at=NULL "
            "WHERE id=? AND status='publishing'",
            (due_at, post_id),
        )
        return cursor.rowcount == 1

    async def renew_lease(self, post_id: int, lease_until: int) -> None:
        await self.db.execute(
            "UPDATE posts SET lease_until=? WHERE id=? AND status='publishing'",
            (lease_until, post_id),
        )

    async def mark_published(
        self,
        post_id: int,
        message_ids: list[int],
        now: int,
        followup_ids: list[int] | None = None,
        then: dict[str, Any] | None = None,
    ) -> int | None:
        """publishing -> published; with `then` (`add`'s fields), a recurring post's next
        occurrence is queued in the same transaction, so no stop between the two ends the
        series. Returns the next occurrence's id."""
        sql = (
            "UPDATE posts SET status='published', published_at=?, published_ids=?, "
            "followup_ids=?, error=NULL WHERE id=? AND status='publishing'"
        )
        ids, followups = json.dumps(message_ids), json.dumps(followup_ids) if followup_ids else None
        if then is None:  # a one-off: one statement, no transaction to wait for
            await self.db.execute(sql, (now, ids, followups, post_id))
            return None
        async with self.db.transaction() as conn:
            cursor = await conn.execute(sql, (now, ids, followups, post_id))
            return await self.add(**then, conn=conn) if cursor.rowcount == 1 else None

    async def mark_out(self, post_id: int, now: int, reasons: Sequence[str]) -> bool:
        """The manager saw a post waiting for a decision in the channel after all (its send was
        not confirmed): published, with no message ids known. False unless it was waiting for
        one of `reasons` (a post missed, or held for lost rights, never went out: an old
        button must not record it as published)."""
        marks = ",".join("?" * len(reasons))
        cursor = await self.db.execute(
            "UPDATE posts SET status='published', published_at=?, error=NULL "
            f"WHERE id=? AND status='needs_decision' AND error IN ({marks})",
            (now, post_id, *reasons),
        )
        return cursor.rowcount == 1

    async def awaiting_deletion(self, until: int | None = None) -> list[Post]:
        """Published posts with a delete-after that has not happened yet; with `until`, only
        those whose deletion is due by then. A post recorded out by hand (`mark_out`) has no
        message known in the channel, so nothing to delete: it is not among them."""
        due = "" if until is None else " AND published_at + delete_after_hours * 3600 <= ?"
        rows = await self.db.fetchall(
            "SELECT * FROM posts WHERE status='published' AND delete_after_hours IS NOT NULL "
            f"AND published_ids IS NOT NULL AND deleted_at IS NULL{due} ORDER BY published_at",
            () if until is None else (until,),
        )
        return [_post(r) for r in rows]

    async def mark_deleted(self, post_id: int, now: int) -> bool:
        cursor = await self.db.execute(
            "UPDATE posts SET deleted_at=? WHERE id=? AND deleted_at IS NULL", (now, post_id)
        )
        return cursor.rowcount == 1

    async def replace_content(
        self,
        post_id: int,
        source_message_ids: list[int],
        summary: dict[str, Any] | None = None,
        source_chat_id: int | None = None,
    ) -> bool:
        """Edit: new content for a post that has not gone out yet. The new messages may be in
        another chat than the old ones (another manager edited it): `source_chat_id` says
        where they are."""
        cursor = await self.db.execute(
            "UPDATE posts SET source_message_ids=?, summary=?, "
            "source_chat_id=COALESCE(?, source_chat_id) WHERE id=? "
            "AND status IN ('scheduled','failed','needs_decision')",
            (
                json.dumps(source_message_ids),
                json.dumps(summary, ensure_ascii=False) if summary else None,
                source_chat_id,
                post_id,
            ),
        )
        return cursor.rowcount == 1

    async def taken_times(self, channel_ids: list[int], since: int) -> set[tuple[int, int]]:
        """(channel, due time) pairs already queued, so "next free slot" can skip them."""
        if not channel_ids:
            return set()
        marks = ", ".join("?" for _ in channel_ids)
        rows = await self.db.fetchall(
            f"SELECT channel_id, due_at FROM posts WHERE status='scheduled' AND due_at>=? "
            f"AND channel_id IN ({marks})",
            (since, *channel_ids),
        )
        return {(r[0], r[1]) for r in rows}

    async def scheduled_between(self, start: int, end: int) -> list[Post]:
        rows = await self.db.fetchall(
            "SELECT * FROM posts WHERE status='scheduled' AND due_at>=? AND due_at<? "
            "ORDER BY due_at, id",
            (start, end),
        )
        return [_post(r) for r in rows]

    async def set_status(
        self,
        post_id: int,
        status: PostStatus,
        error: str | None = None,
        from_status: PostStatus | None = None,
    ) -> bool:
        sql = "UPDATE posts SET status=?, error=? WHERE id=?"
        params: tuple[Any, ...] = (status, error, post_id)
        if from_status is not None:
            sql += " AND status=?"
            params += (from_status,)
        cursor = await self.db.execute(sql, params)
        return cursor.rowcount == 1

    async def set_aside(
        self,
        post_id: int,
        status: PostStatus,
        error: str,
        from_status: PostStatus,
        *,
        end_series: bool = False,
        then: dict[str, Any] | None = None,
    ) -> tuple[bool, int | None]:
        """`from_status` -> `status` (failed, waiting for a decision). With `end_series` the
        post is one occurrence from now on, and `then` (`add`'s fields) its series' next
        occurrence: all in one transaction, so a stop between them neither ends the series nor
        leaves two posts carrying it. Whether it was set aside (by this caller), and the next
        occurrence's id."""
        sql = "UPDATE posts SET status=?, error=?"
        sql += ", recurrence=NULL" if end_series else ""
        sql += " WHERE id=? AND status=?"
        params = (status, error, post_id, from_status)
        if not end_series:
            cursor = await self.db.execute(sql, params)
            return cursor.rowcount == 1, None
        async with self.db.transaction() as conn:
            cursor = await conn.execute(sql, params)
            if cursor.rowcount != 1:
                return False, None
            return True, await self.add(**then, conn=conn) if then is not None else None

    async def move(self, post_id: int, due_at: int, version: int) -> bool:
        """The calendar's move: only from the version the manager saw, and only while the post
        is not out (a cancelled post may come back: that is the calendar's undo)."""
        cursor = await self.db.execute(
            "UPDATE posts SET status='scheduled', due_at=?, error=NULL WHERE id=? AND version=? "
            "AND status IN ('scheduled','failed','needs_decision','cancelled')",
            (due_at, post_id, version),
        )
        return cursor.rowcount == 1

    async def cancel(self, post_id: int, version: int | None = None) -> bool:
        """Cancel a post that has not started going out; never one being published. With
        `version` (the calendar's), only while the post is still as the manager saw it."""
        sql = (
            "UPDATE posts SET status='cancelled' WHERE id=? "
            "AND status IN ('scheduled','failed','needs_decision')"
        )
        params: tuple[Any, ...] = (post_id,)
        if version is not None:
            sql += " AND version=?"
            params += (version,)
        cursor = await self.db.execute(sql, params)
        return cursor.rowcount == 1

    async def calendar(
        self, start: int, end: int, channel_id: int | None = None
    ) -> list[tuple[Post, dict[str, Any] | None]]:
        """Posts placed in [start, end): open ones by their due time, published ones by when
        they went out, each with its channel statistics row (reactions, comments, subscribers at
        publish) when the statistics know the first published message."""
        # Two indexed ranges (open posts by due time, published ones by publish time).
        columns = (
            "SELECT p.*, cp.reactions AS cp_reactions, cp.comments AS cp_comments, "
            "cp.members_at_post AS cp_members FROM posts p LEFT JOIN channel_posts cp "
            "ON cp.chat_id=p.channel_id AND p.published_ids IS NOT NULL "
            f"AND cp.message_id={self.db.sql.json_first_int.format('p.published_ids')} "
        )
        only = " AND p.channel_id=?" if channel_id is not None else ""
        extra = (channel_id,) if channel_id is not None else ()
        rows = await self.db.fetchall(
            f"{columns} WHERE p.status IN ('scheduled','failed','needs_decision','publishing') "
            f"AND p.due_at>=? AND p.due_at<?{only} UNION ALL "
            f"{columns} WHERE p.status='published' AND p.published_at>=? AND p.published_at<?"
            f"{only}",
            (start, end, *extra, start, end, *extra),
        )
        result = []
        for row in rows:
            data = dict(row)
            stats = None
            if data.pop("cp_reactions") is not None or data["cp_members"] is not None:
                stats = {
                    "reactions": row["cp_reactions"],
                    "comments": row["cp_comments"],
                    "members_at_post": row["cp_members"],
                }
            data.pop("cp_comments"), data.pop("cp_members")
            result.append((_post(data), stats))
        result.sort(key=lambda item: (item[0].published_at or item[0].due_at, item[0].id))
        return result

    async def reschedule(self, post_id: int, due_at: int, version: int | None = None) -> bool:
        """Back to the queue at a new time, from a state still waiting for it (queued, failed,
        or waiting for a decision); never a cancelled post (only the calendar's Undo, `move`
        with the version its cancel returned, brings one back) nor one that is out. With
        `version` (the calendar's Publish now), only while the post is as the manager saw it."""
        sql = (
            "UPDATE posts SET status='scheduled', due_at=?, error=NULL WHERE id=? "
            "AND status IN ('scheduled','failed','needs_decision')"
        )
        params: tuple[Any, ...] = (due_at, post_id)
        if version is not None:
            sql += " AND version=?"
            params += (version,)
        cursor = await self.db.execute(sql, params)
        return cursor.rowcount == 1


@dataclass(frozen=True, slots=True)
class Channel:
    chat_id: int
    title: str | None
    username: str | None
    can_post: bool
    can_edit: bool
    can_delete: bool
    can_pin: bool


class ChannelRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert(self, channel: Channel, now: int) -> None:
        await self.db.execute(
            "INSERT INTO channels VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(chat_id) DO UPDATE SET "
            "title=excluded.title, username=excluded.username, can_post=excluded.can_post, "
            "can_edit=excluded.can_edit, can_delete=excluded.can_delete, "
            "can_pin=excluded.can_pin, updated_at=excluded.updated_at",
            (
                channel.chat_id,
                channel.title,
                channel.username,
                int(channel.can_post),
                int(channel.can_edit),
                int(channel.can_delete),
                int(channel.can_pin),
                now,
            ),
        )

    async def get(self, chat_id: int) -> Channel | None:
        row = await self.db.fetchone(
            "SELECT chat_id, title, username, can_post, can_edit, can_delete, can_pin "
            "FROM channels WHERE chat_id=?",
            (chat_id,),
        )
        return Channel(row[0], row[1], row[2], *map(bool, row[3:])) if row else None

    async def all(self) -> list[Channel]:
        rows = await self.db.fetchall(
            "SELECT chat_id, title, username, can_post, can_edit, can_delete, can_pin "
            # untitled first on both engines (PostgreSQL puts NULLs last by default); the id
            # settles equal titles, so the compose panel's pages hold the same channels each time
            "FROM channels ORDER BY CASE WHEN title IS NULL THEN 0 ELSE 1 END, title, chat_id"
        )
        return [Channel(r[0], r[1], r[2], *map(bool, r[3:])) for r in rows]


class TimeChoice(StrEnum):
    """Which of the compose panel's time buttons set a draft's time (`time_choice`, as stored)."""

    HOUR = "hour"
    TONIGHT = "tonight"
    TOMORROW = "tomorrow"
    SLOT = "slot"  # each channel's own next free slot, looked up again at Confirm
    CUSTOM = "custom"  # a time the manager typed


@dataclass(frozen=True, slots=True)
class Draft:
    id: int
    manager_id: int
    source_chat_id: int
    source_message_ids: list[int]
    summary: dict[str, Any]
    panel_message_id: int | None
    channels: list[int]
    due_at: int | None
    time_choice: TimeChoice | None
    silent: bool
    pin: bool
    delete_after_hours: int | None
    buttons: list[list[dict[str, str]]] | None
    created_at: int
    recurrence: str | None = None  # typed at Custom… (`daily 09:00`): its posts repeat


def _draft(row: Any) -> Draft:
    data = dict(row)
    for key in ("source_message_ids", "channels", "buttons", "summary"):
        data[key] = json.loads(data[key]) if data[key] else None
    data["channels"] = data["channels"] or []
    data["summary"] = data["summary"] or {}
    data["silent"], data["pin"] = bool(data["silent"]), bool(data["pin"])
    data["time_choice"] = TimeChoice(data["time_choice"]) if data["time_choice"] else None
    return Draft(**data)


DRAFT_FIELDS = {
    "panel_message_id",
    "channels",
    "due_at",
    "time_choice",
    "silent",
    "pin",
    "delete_after_hours",
    "buttons",
    "recurrence",
}


class DraftRepository:
    """Posts being composed; one row per manager message (or album) sent to the bot."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        manager_id: int,
        source_chat_id: int,
        source_message_ids: list[int],
        summary: dict[str, Any],
        now: int,
    ) -> int:
        return await self.db.insert(
            "INSERT INTO drafts(manager_id, source_chat_id, source_message_ids, summary, "
            "created_at) VALUES (?,?,?,?,?)",
            (manager_id, source_chat_id, json.dumps(source_message_ids), json.dumps(summary), now),
        )

    async def get(self, draft_id: int) -> Draft | None:
        row = await self.db.fetchone("SELECT * FROM drafts WHERE id=?", (draft_id,))
        return _draft(row) if row else None

    async def update(self, draft_id: int, **fields: Any) -> None:
        unknown = set(fields) - DRAFT_FIELDS
        if unknown:
            raise ValueError(f"not draft fields: {sorted(unknown)}")
        values = []
        for key, value in fields.items():
            if key == "channels":
                value = json.dumps(value or [])
            elif key == "buttons":
                value = json.dumps(value) if value else None
            elif isinstance(value, bool):
                value = int(value)
            values.append(value)
        assignments = ", ".join(f"{key}=?" for key in fields)
        await self.db.execute(f"UPDATE drafts SET {assignments} WHERE id=?", (*values, draft_id))

    async def containing(self, source_chat_id: int, message_id: int) -> Draft | None:
        """The newest draft of that chat made of (among others) that message."""
        rows = await self.db.fetchall(
            "SELECT * FROM drafts WHERE source_chat_id=? ORDER BY id DESC", (source_chat_id,)
        )
        return next(
            (d for d in map(_draft, rows) if message_id in d.source_message_ids),
            None,
        )

    async def to_posts(
        self, draft_id: int, posts: PostRepository, rows: list[dict[str, Any]]
    ) -> list[int] | None:
        """Confirm: the draft becomes its posts (`rows`: `PostRepository.add`'s fields) in one
        transaction, so a stop in between leaves the draft or its posts, never neither nor a
        part. None for a second caller (the draft was gone already)."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM drafts WHERE id=?", (draft_id,))
            if cursor.rowcount != 1:
                return None
            return [await posts.add(**row, conn=conn) for row in rows]

    async def delete(self, draft_id: int) -> bool:
        """Gone once it became posts or was discarded; True for the one caller that removed it."""
        cursor = await self.db.execute("DELETE FROM drafts WHERE id=?", (draft_id,))
        return cursor.rowcount == 1

    async def prune(self, older_than: int) -> int:
        cursor = await self.db.execute("DELETE FROM drafts WHERE created_at<?", (older_than,))
        return cursor.rowcount


class SlotRepository:
    """Posting slots per channel; channel 0 holds the slots every channel falls back to."""

    DEFAULT = 0

    def __init__(self, db: Database) -> None:
        self.db = db

    async def set(self, channel_id: int, times: list[str]) -> None:
        if times:
            await self.db.execute(
                "INSERT INTO slots VALUES (?,?) ON CONFLICT(channel_id) DO UPDATE SET "
                "times=excluded.times",
                (channel_id, ",".join(times)),
            )
        else:
            await self.db.execute("DELETE FROM slots WHERE channel_id=?", (channel_id,))

    async def for_channel(self, channel_id: int) -> list[str]:
        """The channel's own slots, else the default ones."""
        row = await self.db.fetchone(
            "SELECT times FROM slots WHERE channel_id IN (?, 0) ORDER BY channel_id=0 LIMIT 1",
            (channel_id,),
        )
        return row[0].split(",") if row else []

    async def all(self) -> dict[int, list[str]]:
        rows = await self.db.fetchall("SELECT channel_id, times FROM slots ORDER BY channel_id")
        return {r[0]: r[1].split(",") for r in rows}
