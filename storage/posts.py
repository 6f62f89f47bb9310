"""Scheduled posts and the channels they go to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.database import Database


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    channel_id: int
    source_chat_id: int
    source_message_ids: list[int]
    due_at: int
    status: str
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


def _post(row: Any) -> Post:
    data = dict(row)
    for key in ("source_message_ids", "buttons", "published_ids"):
        data[key] = json.loads(data[key]) if data[key] else None
    data["silent"], data["pin"] = bool(data["silent"]), bool(data["pin"])
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
        buttons: list | None = None,
        recurrence: str | None = None,
    ) -> int:
        cursor = await self.db.execute(
            "INSERT INTO posts(channel_id, source_chat_id, source_message_ids, due_at, "
            "created_by, created_at, silent, pin, delete_after_hours, buttons, recurrence) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
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
            ),
        )
        return int(cursor.lastrowid)

    async def get(self, post_id: int) -> Post | None:
        row = await self.db.fetchone("SELECT * FROM posts WHERE id=?", (post_id,))
        return _post(row) if row else None

    async def with_status(self, *statuses: str) -> list[Post]:
        marks = ", ".join("?" for _ in statuses)
        rows = await self.db.fetchall(
            f"SELECT * FROM posts WHERE status IN ({marks}) ORDER BY due_at, id", statuses
        )
        return [_post(r) for r in rows]

    async def due(self, until: int) -> list[Post]:
        rows = await self.db.fetchall(
            "SELECT * FROM posts WHERE status='scheduled' AND due_at<=? ORDER BY due_at, id",
            (until,),
        )
        return [_post(r) for r in rows]

    async def claim(self, post_id: int) -> bool:
        """scheduled -> publishing, for exactly one caller: the guard against double posting."""
        cursor = await self.db.execute(
            "UPDATE posts SET status='publishing', attempts=attempts+1 "
            "WHERE id=? AND status='scheduled'",
            (post_id,),
        )
        return cursor.rowcount == 1

    async def mark_published(self, post_id: int, message_ids: list[int], now: int) -> None:
        await self.db.execute(
            "UPDATE posts SET status='published', published_at=?, published_ids=?, error=NULL "
            "WHERE id=? AND status='publishing'",
            (now, json.dumps(message_ids), post_id),
        )

    async def set_status(
        self, post_id: int, status: str, error: str | None = None, from_status: str | None = None
    ) -> bool:
        sql = "UPDATE posts SET status=?, error=? WHERE id=?"
        params: tuple = (status, error, post_id)
        if from_status is not None:
            sql += " AND status=?"
            params += (from_status,)
        cursor = await self.db.execute(sql, params)
        return cursor.rowcount == 1

    async def reschedule(self, post_id: int, due_at: int) -> bool:
        """Back to the queue at a new time, from any state but published and publishing."""
        cursor = await self.db.execute(
            "UPDATE posts SET status='scheduled', due_at=?, error=NULL WHERE id=? "
            "AND status IN ('scheduled','failed','needs_decision','cancelled')",
            (due_at, post_id),
        )
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
            "FROM channels ORDER BY title"
        )
        return [Channel(r[0], r[1], r[2], *map(bool, r[3:])) for r in rows]
