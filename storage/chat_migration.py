"""Moving a basic group's rows to its new supergroup id, in one transaction.

When a basic group is upgraded Telegram gives it a new id; everything Steward keeps about the
chat must follow or the group silently loses its settings, filters, warns and running events.
Every column that can hold a chat id is listed below with what happens to it, and a test fails
when a migration adds such a column without a decision here.

The old chat's message ids mean nothing in the new chat (its message ids start again), so rows
that point at a message of the old chat either forget that message or stay behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from bot.chat_ids import is_basic_group
from storage.database import Connection, Database


class Move(StrEnum):
    MOVE = "move"  # the chat's own rows: follow it; on a clash the new chat's row wins
    MERGE = "merge"  # daily counters: added to what the new chat already counted
    REFERENCE = "reference"  # another row naming the chat as a destination: point it at the new id
    FORGET = "forget"  # only meaningful with the old chat's message ids: dropped
    KEEP = "keep"  # not the group's (channels, private chats) or history of the old chat


# (table, column) -> what a migration does with it. Columns named like a chat id that are not
# listed make tests/test_chat_migration.py fail.
COLUMNS: dict[tuple[str, str], Move] = {
    ("chats", "chat_id"): Move.MOVE,
    ("chat_settings", "chat_id"): Move.MOVE,
    ("chat_settings", "log_chat_id"): Move.REFERENCE,
    ("warns", "chat_id"): Move.MOVE,
    ("approvals", "chat_id"): Move.MOVE,
    ("filters", "chat_id"): Move.MOVE,
    ("mod_actions", "chat_id"): Move.MOVE,
    ("mod_actions", "log_chat_id"): Move.KEEP,  # the posted entry (and its buttons) stays there
    ("member_activity", "chat_id"): Move.MOVE,
    ("captcha_pending", "chat_id"): Move.MOVE,  # its message ids are forgotten
    ("quizzes", "owner_chat"): Move.MOVE,
    ("quiz_runs", "chat_id"): Move.MOVE,  # a running quiz goes on in the new chat
    ("quiz_polls", "chat_id"): Move.KEEP,  # where each poll message is
    ("giveaways", "chat_id"): Move.MOVE,  # its announcement is forgotten (posted again)
    ("giveaways", "require_chats"): Move.REFERENCE,  # JSON list of ids or @names
    ("daily_chat_stats", "chat_id"): Move.MERGE,
    ("daily_member_stats", "chat_id"): Move.MERGE,
    ("hourly_activity", "chat_id"): Move.MERGE,
    ("channel_members", "chat_id"): Move.KEEP,  # channels are never basic groups
    ("channel_posts", "chat_id"): Move.KEEP,
    ("channels", "chat_id"): Move.KEEP,
    ("posts", "channel_id"): Move.KEEP,
    ("posts", "source_chat_id"): Move.KEEP,  # a manager's private chat
    ("drafts", "source_chat_id"): Move.KEEP,
    ("drafts", "channels"): Move.KEEP,
    ("slots", "channel_id"): Move.KEEP,
    ("faq_entries", "chat_id"): Move.MOVE,
    ("faq_answers", "source_chat_id"): Move.KEEP,  # a message of the old chat: stays there
    ("faq_last_answers", "chat_id"): Move.FORGET,  # links to old messages: cool-down restarts
    ("support_routes", "chat_id"): Move.MOVE,
    ("support_routes", "support_chat_id"): Move.REFERENCE,
    ("support_tickets", "chat_id"): Move.MOVE,  # the answer goes to the new chat, not a reply
    # nobody can reply to a message sent before the upgrade: open tickets are relayed again in
    # the new chat (MoveResult.open_tickets), answered ones stay with their old relays
    ("support_tickets", "support_chat_id"): Move.KEEP,
    ("support_tickets", "answer_chat_id"): Move.KEEP,
    # message ids of where they were sent: an album relayed from private (never a group), a
    # staff reply and its copy in the member's chat (an old chat's copy cannot be edited)
    ("support_relay_parts", "chat_id"): Move.KEEP,
    ("support_answers", "staff_chat_id"): Move.KEEP,
    ("support_answers", "member_chat_id"): Move.KEEP,
    ("support_confirmations", "support_chat_id"): Move.KEEP,  # where the bot's message is
    # the FAQ's answers to questions of the old chat: message ids there, never edited again
    ("faq_question_answers", "chat_id"): Move.FORGET,
    ("chat_migrations", "old_chat_id"): Move.KEEP,
    ("chat_migrations", "new_chat_id"): Move.KEEP,
    # Tables of features developed alongside; a table not (yet) in the schema is skipped.
    ("channel_post_parts", "chat_id"): Move.KEEP,  # channels
    ("log_outbox", "chat_id"): Move.KEEP,  # a log chat: sends follow the upgrade on their own
    ("topic_messages", "chat_id"): Move.FORGET,  # message ids of the old chat (never a forum)
    ("campaigns", "chat_id"): Move.MOVE,
    ("campaign_joins", "chat_id"): Move.MOVE,
    ("campaign_daily", "chat_id"): Move.MERGE,
    ("campaign_join_requests", "chat_id"): Move.MOVE,
    ("complaints", "chat_id"): Move.KEEP,  # history of the old chat, with its message ids
    ("watches", "chat_id"): Move.REFERENCE,  # a watch limited to the chat follows it
    ("mentions", "chat_id"): Move.KEEP,
    ("mood_daily", "chat_id"): Move.MERGE,
    ("message_dislikes", "chat_id"): Move.FORGET,
    # alerts about one message of the old chat stay; a chat-day alert (message 0) moves with
    # its mood counts, or the day's spike would alert again under the new id (_move_day_alerts)
    ("reputation_alerts", "chat_id"): Move.KEEP,
}


def looks_like_chat_column(name: str) -> bool:
    """Column names that may hold a chat id and so need a decision in COLUMNS."""
    return (
        name in {"chat_id", "owner_chat", "channel_id", "channels"}
        or name.endswith("_chat_id")
        or name.endswith("_chats")
    )


async def upgraded_ids(conn: Connection, chat_ids: Iterable[int]) -> dict[int, int]:
    """Where those of `chat_ids` that were upgraded went, read in the writer's transaction.

    Counters are kept in memory and flushed later, by whichever worker counted them: one that
    had not heard of an upgrade yet writes under the old id after another worker moved the
    group's rows, and that day of the old chat is never read again. Writers ask here first.
    Supergroup ids (nearly every chat) cost no query."""
    basic = sorted({c for c in chat_ids if is_basic_group(c)})
    if not basic:
        return {}
    marks = ",".join("?" * len(basic))
    rows = await conn.fetchall(
        f"SELECT old_chat_id, new_chat_id FROM chat_migrations WHERE old_chat_id IN ({marks})",
        basic,
    )
    return {int(r[0]): int(r[1]) for r in rows}


@dataclass
class MoveResult:
    old_chat_id: int
    new_chat_id: int
    first: bool  # the migration was not known before
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows changed
    open_giveaways: list[int] = field(default_factory=list)  # to announce again
    captchas: list[tuple[int, int]] = field(default_factory=list)  # (user id, deadline)
    open_tickets: list[int] = field(default_factory=list)  # relayed in the old chat, unanswered

    @property
    def changed(self) -> int:
        return sum(self.rows.values())


class ChatMigrationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def known(self) -> dict[int, int]:
        rows = await self.db.fetchall("SELECT old_chat_id, new_chat_id FROM chat_migrations")
        return {int(r[0]): int(r[1]) for r in rows}

    async def move(self, old: int, new: int, now: int) -> MoveResult:
        """Move every row of chat `old` to `new`. Idempotent: a second call (the other service
        message, a late update) finds nothing left and changes nothing."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO chat_migrations VALUES (?,?,?) ON CONFLICT DO NOTHING", (old, new, now)
            )
            result = MoveResult(old, new, first=cursor.rowcount == 1)
            tables = set(await conn.tables())
            await self._collect(conn, old, result)
            await self._fix_messages(conn, old, result)
            if "reputation_alerts" in tables:
                await self._move_day_alerts(conn, old, new, result)
            # the new chat's row may exist already (its first message was seen): it keeps what
            # only the old row knew
            await conn.execute(
                "UPDATE chats SET "
                "language=COALESCE(language, (SELECT language FROM chats WHERE chat_id=:old)), "
                "bot_status=COALESCE(bot_status, (SELECT bot_status FROM chats WHERE chat_id=:old))"
                " WHERE chat_id=:new",
                {"old": old, "new": new},
            )
            for (table, column), how in COLUMNS.items():
                if table not in tables:
                    continue
                changed = await self._apply(conn, table, column, how, old, new)
                if changed:
                    result.rows[table] = result.rows.get(table, 0) + changed
            await conn.execute(
                "UPDATE chats SET type='supergroup' WHERE chat_id=? AND type='group'", (new,)
            )
        return result

    async def _collect(self, conn: Connection, old: int, result: MoveResult) -> None:
        rows = await conn.fetchall(
            "SELECT id FROM giveaways WHERE chat_id=? AND status='open'", (old,)
        )
        result.open_giveaways = [int(r[0]) for r in rows]
        rows = await conn.fetchall(
            "SELECT user_id, deadline FROM captcha_pending WHERE chat_id=?", (old,)
        )
        result.captchas = [(int(r[0]), int(r[1])) for r in rows]
        rows = await conn.fetchall(
            "SELECT id FROM support_tickets WHERE support_chat_id=? AND answered_at IS NULL "
            "AND relay_message_id IS NOT NULL ORDER BY id",
            (old,),
        )
        result.open_tickets = [int(r[0]) for r in rows]

    async def _fix_messages(self, conn: Connection, old: int, result: MoveResult) -> None:
        """Message ids of the old chat would name unrelated messages of the new one."""
        await conn.execute(
            "UPDATE captcha_pending SET captcha_message_id=NULL, join_message_id=NULL "
            "WHERE chat_id=?",
            (old,),
        )
        await conn.execute(
            "UPDATE giveaways SET message_id=NULL, thread_id=NULL WHERE chat_id=?", (old,)
        )
        await conn.execute(
            "UPDATE quiz_runs SET thread_id=NULL WHERE chat_id=? AND status='running'", (old,)
        )
        await conn.execute(
            "UPDATE support_tickets SET question_message_id=0, thread_id=NULL WHERE chat_id=?",
            (old,),
        )

    async def _move_day_alerts(
        self, conn: Connection, old: int, new: int, result: MoveResult
    ) -> None:
        """Mood alerts go out once per chat and day, whatever the chat's id."""
        await conn.execute(
            "DELETE FROM reputation_alerts WHERE chat_id=? AND message_id=0 AND EXISTS "
            "(SELECT 1 FROM reputation_alerts AS n WHERE n.chat_id=? AND n.message_id=0 "
            "AND n.kind=reputation_alerts.kind AND n.day=reputation_alerts.day)",
            (old, new),
        )
        cursor = await conn.execute(
            "UPDATE reputation_alerts SET chat_id=? WHERE chat_id=? AND message_id=0", (new, old)
        )
        if cursor.rowcount:
            result.rows["reputation_alerts"] = cursor.rowcount

    async def _apply(
        self,
        conn: Connection,
        table: str,
        column: str,
        how: Move,
        old: int,
        new: int,
    ) -> int:
        if how is Move.KEEP:
            return 0
        if how is Move.FORGET:
            cursor = await conn.execute(f"DELETE FROM {table} WHERE {column}=?", (old,))
            return cursor.rowcount
        if how is Move.MERGE:
            return await self._merge_counts(conn, table, column, old, new)
        if table == "giveaways" and column == "require_chats":
            return await self._move_in_json_lists(conn, old, new)
        if how is Move.REFERENCE:
            cursor = await conn.execute(
                f"UPDATE {table} SET {column}=? WHERE {column}=?", (new, old)
            )
            return cursor.rowcount
        # MOVE: rows that would clash with the new chat's own (same key) are dropped first, so
        # the new chat's row wins (SQLite's UPDATE OR IGNORE, which PostgreSQL lacks).
        for key in await conn.unique_keys(table):
            if column not in key:
                continue
            same = "".join(f" AND n.{k}={table}.{k}" for k in key if k != column)
            await conn.execute(
                f"DELETE FROM {table} WHERE {column}=? AND EXISTS "
                f"(SELECT 1 FROM {table} AS n WHERE n.{column}=?{same})",
                (old, new),
            )
        cursor = await conn.execute(f"UPDATE {table} SET {column}=? WHERE {column}=?", (new, old))
        return cursor.rowcount

    async def _merge_counts(
        self, conn: Connection, table: str, column: str, old: int, new: int
    ) -> int:
        info = [(c.name, c.type, c.pk) for c in await conn.columns(table)]
        names = [name for name, _type, _pk in info]
        keys = [name for name, _type, pk in info if pk]
        updates = ", ".join(
            f"{name}={table}.{name}+excluded.{name}"
            if type_ == "INTEGER"
            else f"{name}=COALESCE(NULLIF({table}.{name}, ''), excluded.{name})"
            for name, type_, pk in info
            if not pk
        )
        select = ", ".join("?" if name == column else name for name in names)
        cursor = await conn.execute(
            f"INSERT INTO {table}({', '.join(names)}) SELECT {select} FROM {table} "
            f"WHERE {column}=? ON CONFLICT({', '.join(keys)}) DO UPDATE SET {updates}",
            (new, old),
        )
        moved = cursor.rowcount
        await conn.execute(f"DELETE FROM {table} WHERE {column}=?", (old,))
        return moved

    async def _move_in_json_lists(self, conn: Connection, old: int, new: int) -> int:
        """Giveaway conditions name chats as strings ("@name" or an id)."""
        rows = await conn.fetchall(
            "SELECT id, require_chats FROM giveaways WHERE require_chats LIKE ?", (f"%{old}%",)
        )
        changed = 0
        for row in rows:
            chats = json.loads(row["require_chats"])
            updated = [str(new) if str(c) == str(old) else c for c in chats]
            if updated != chats:
                await conn.execute(
                    "UPDATE giveaways SET require_chats=? WHERE id=?",
                    (json.dumps(updated), row["id"]),
                )
                changed += 1
        return changed
