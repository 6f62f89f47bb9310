"""The log outbox: entries waiting to be posted to a moderation log chat, and what became of them.

A row is `pending` until the worker takes it, `sending` while the request is out, then `sent`
(with the log message id) or `failed` (with Telegram's answer). A row still `sending` when the
next process starts was interrupted mid-request: it may or may not have reached Telegram.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.database import Database


class OutboxKind(StrEnum):
    ACTION = "action"  # a moderation action, rendered from mod_actions when posted
    REPORT = "report"  # a member's report: text and buttons stored as they are


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    chat_id: int
    kind: OutboxKind
    action_id: int | None
    payload: dict[str, Any] | None
    priority: int
    state: OutboxState
    attempts: int
    maybe_sent: bool
    created_at: int
    sent_at: int | None
    message_id: int | None
    error: str | None

    @property
    def interrupted(self) -> bool:
        """Taken by a worker that stopped before it learned the outcome (a copy may exist)."""
        return self.state is OutboxState.SENDING or self.maybe_sent


def _entry(row: Any) -> OutboxEntry:
    data = dict(row)
    data["kind"] = OutboxKind(data["kind"])
    data["state"] = OutboxState(data["state"])
    data["payload"] = json.loads(data["payload"]) if data["payload"] else None
    data["maybe_sent"] = bool(data["maybe_sent"])
    return OutboxEntry(**data)


_OPEN = (OutboxState.PENDING.value, OutboxState.SENDING.value)


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        chat_id: int,
        kind: OutboxKind,
        now: int,
        *,
        action_id: int | None = None,
        payload: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> int:
        return await self.db.insert(
            "INSERT INTO log_outbox(chat_id, kind, action_id, payload, priority, created_at) "
            "VALUES (?,?,?,?,?,?)",
            (
                chat_id,
                kind.value,
                action_id,
                json.dumps(payload, ensure_ascii=False) if payload is not None else None,
                priority,
                now,
            ),
        )

    async def heads(self) -> list[OutboxEntry]:
        """The next entry of every log chat that has one: within a chat, higher priority first,
        then the order they were queued in."""
        rows = await self.db.fetchall(
            "SELECT * FROM log_outbox o WHERE state IN (?, ?) AND id = ("
            " SELECT id FROM log_outbox i WHERE i.chat_id = o.chat_id AND i.state IN (?, ?)"
            " ORDER BY i.priority DESC, i.id LIMIT 1"
            ") ORDER BY priority DESC, id",
            (*_OPEN, *_OPEN),
        )
        return [_entry(r) for r in rows]

    async def get(self, entry_id: int) -> OutboxEntry | None:
        row = await self.db.fetchone("SELECT * FROM log_outbox WHERE id=?", (entry_id,))
        return _entry(row) if row else None

    async def for_action(self, action_id: int) -> OutboxEntry | None:
        row = await self.db.fetchone(
            "SELECT * FROM log_outbox WHERE action_id=? ORDER BY id DESC LIMIT 1", (action_id,)
        )
        return _entry(row) if row else None

    async def for_actions(self, action_ids: list[int]) -> dict[int, OutboxEntry]:
        """The latest entry of each of these actions that has one."""
        if not action_ids:
            return {}
        marks = ", ".join("?" for _ in action_ids)
        rows = await self.db.fetchall(
            f"SELECT * FROM log_outbox WHERE action_id IN ({marks}) ORDER BY id", action_ids
        )
        return {int(r["action_id"]): _entry(r) for r in rows}

    async def mark_sending(self, entry_id: int) -> None:
        await self.db.execute(
            "UPDATE log_outbox SET state=?, attempts=attempts+1 WHERE id=?",
            (OutboxState.SENDING.value, entry_id),
        )

    async def mark_sent(self, entry_id: int, message_id: int, now: int) -> None:
        await self.db.execute(
            "UPDATE log_outbox SET state=?, message_id=?, sent_at=?, error=NULL WHERE id=?",
            (OutboxState.SENT.value, message_id, now, entry_id),
        )

    async def mark_failed(self, entry_id: int, error: str, now: int) -> None:
        await self.db.execute(
            "UPDATE log_outbox SET state=?, error=?, sent_at=? WHERE id=?",
            (OutboxState.FAILED.value, error[:500], now, entry_id),
        )

    async def release(self, entry_id: int, error: str, maybe_sent: bool = False) -> None:
        """Back to pending after a failure that is worth another try; an entry an earlier run
        may have posted keeps saying so."""
        await self.db.execute(
            "UPDATE log_outbox SET state=?, error=?, "
            f"maybe_sent={self.db.sql.greatest.format('maybe_sent', '?')} WHERE id=?",
            (OutboxState.PENDING.value, error[:500], int(maybe_sent), entry_id),
        )

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> int:
        """A log chat upgraded to a supergroup: its waiting entries follow it to the new id."""
        cursor = await self.db.execute(
            "UPDATE log_outbox SET chat_id=? WHERE chat_id=? AND state IN (?, ?)",
            (new_chat_id, old_chat_id, *_OPEN),
        )
        return cursor.rowcount

    async def counts(self) -> dict[OutboxState, int]:
        rows = await self.db.fetchall("SELECT state, COUNT(*) AS n FROM log_outbox GROUP BY state")
        return {OutboxState(r["state"]): int(r["n"]) for r in rows}

    async def prune(self, before: int) -> int:
        """Forget entries that reached the log chat long ago (the audit row keeps the id)."""
        cursor = await self.db.execute(
            "DELETE FROM log_outbox WHERE state=? AND sent_at<?", (OutboxState.SENT.value, before)
        )
        return cursor.rowcount
