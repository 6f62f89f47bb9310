"""Reputation watch: complaints, staff lessons, watches, mentions, daily mood and sent alerts."""

from __future__ import annotations

from dataclasses import dataclass

from bot.reputation.mood import DayMood
from bot.reputation.watch import Watch
from storage.chat_migration import upgraded_ids
from storage.database import Database


@dataclass(frozen=True, slots=True)
class Complaint:
    id: int
    chat_id: int
    message_id: int
    user_id: int
    text: str
    probability: float
    ticket_id: int | None
    created_at: int
    day: str
    dismissed_by: int | None
    dismissed_at: int | None


@dataclass(frozen=True, slots=True)
class Mention:
    id: int
    watch_id: int
    term: str
    chat_id: int
    message_id: int
    user_id: int | None
    user_name: str | None
    text: str
    complaint: bool
    at: int


class ReputationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- complaints and lessons ----------------------------------------------------------

    async def add_complaint(
        self,
        *,
        chat_id: int,
        message_id: int,
        user_id: int,
        text: str,
        probability: float,
        created_at: int,
        day: str,
    ) -> int:
        return await self.db.insert(
            "INSERT INTO complaints(chat_id, message_id, user_id, text, probability, "
            "created_at, day) VALUES (?,?,?,?,?,?,?)",
            (chat_id, message_id, user_id, text, probability, created_at, day),
        )

    async def set_ticket(self, complaint_id: int, ticket_id: int) -> None:
        await self.db.execute(
            "UPDATE complaints SET ticket_id=? WHERE id=?", (ticket_id, complaint_id)
        )

    async def complaint(self, complaint_id: int) -> Complaint | None:
        row = await self.db.fetchone("SELECT * FROM complaints WHERE id=?", (complaint_id,))
        return Complaint(**dict(row)) if row else None

    async def dismiss(self, complaint_id: int, by: int, at: int) -> bool:
        """Marks a complaint "not a complaint"; False when it already was (a double tap)."""
        cursor = await self.db.execute(
            "UPDATE complaints SET dismissed_by=?, dismissed_at=? "
            "WHERE id=? AND dismissed_at IS NULL",
            (by, at, complaint_id),
        )
        return cursor.rowcount == 1

    async def add_lesson(self, text: str, is_complaint: bool, by: int | None, at: int) -> None:
        await self.db.execute(
            "INSERT INTO complaint_lessons(text, is_complaint, taught_by, taught_at) "
            "VALUES (?,?,?,?)",
            (text, int(is_complaint), by, at),
        )

    async def lessons(self) -> list[tuple[str, bool]]:
        rows = await self.db.fetchall(
            "SELECT text, is_complaint FROM complaint_lessons ORDER BY id"
        )
        return [(r["text"], bool(r["is_complaint"])) for r in rows]

    # --- watches and mentions ------------------------------------------------------------

    async def add_watch(self, term: str, chat_id: int | None, by: int, at: int) -> int:
        return await self.db.insert(
            "INSERT INTO watches(term, chat_id, created_by, created_at) VALUES (?,?,?,?)",
            (term, chat_id, by, at),
        )

    async def watches(self) -> list[Watch]:
        rows = await self.db.fetchall("SELECT * FROM watches ORDER BY id")
        return [Watch(**dict(r)) for r in rows]

    async def remove_watch(self, watch_id: int) -> bool:
        cursor = await self.db.execute("DELETE FROM watches WHERE id=?", (watch_id,))
        return cursor.rowcount == 1

    async def restore_watch(self, watch: Watch) -> None:
        await self.db.execute(
            "INSERT INTO watches(id, term, chat_id, created_by, created_at) "
            "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
            (watch.id, watch.term, watch.chat_id, watch.created_by, watch.created_at),
        )

    async def add_mention(
        self,
        *,
        watch: Watch,
        chat_id: int,
        message_id: int,
        user_id: int | None,
        user_name: str | None,
        text: str,
        complaint: bool,
        at: int,
    ) -> int:
        return await self.db.insert(
            "INSERT INTO mentions(watch_id, term, chat_id, message_id, user_id, user_name, "
            "text, complaint, at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                watch.id,
                watch.term,
                chat_id,
                message_id,
                user_id,
                user_name,
                text,
                int(complaint),
                at,
            ),
        )

    async def unreported_mentions(self, limit: int = 500) -> list[Mention]:
        rows = await self.db.fetchall(
            "SELECT id, watch_id, term, chat_id, message_id, user_id, user_name, text, "
            "complaint, at FROM mentions WHERE reported_at IS NULL ORDER BY at, id LIMIT ?",
            (limit,),
        )
        return [Mention(**{**dict(r), "complaint": bool(r["complaint"])}) for r in rows]

    async def mark_reported(self, mention_ids: list[int], at: int) -> None:
        if not mention_ids:
            return
        marks = ",".join("?" * len(mention_ids))
        await self.db.execute(
            f"UPDATE mentions SET reported_at=? WHERE id IN ({marks})", (at, *mention_ids)
        )

    # --- mood ----------------------------------------------------------------------------

    async def add_mood(self, counts: dict[tuple[int, str], tuple[int, int]]) -> None:
        """Adds (messages, negative) per (chat, day)."""
        if not counts:
            return
        async with self.db.transaction() as conn:
            moved = await upgraded_ids(conn, (chat for chat, _ in counts))
            if moved:  # counted before this worker heard of an upgrade: the new chat's
                merged: dict[tuple[int, str], tuple[int, int]] = {}
                for (chat, day), (m, n) in counts.items():
                    key = (moved.get(chat, chat), day)
                    had = merged.get(key, (0, 0))
                    merged[key] = (had[0] + m, had[1] + n)
                counts = merged
            await conn.executemany(
                "INSERT INTO mood_daily(chat_id, day, messages, negative) VALUES (?,?,?,?) "
                "ON CONFLICT(chat_id, day) DO UPDATE SET "
                "messages=mood_daily.messages+excluded.messages, "
                "negative=mood_daily.negative+excluded.negative",
                # in key order, as StatsRepository.write_batch: no deadlock between workers
                [(chat, day, m, n) for (chat, day), (m, n) in sorted(counts.items())],
            )

    async def mood(self, chat_id: int, first_day: str, last_day: str) -> list[DayMood]:
        rows = await self.db.fetchall(
            "SELECT day, messages, negative FROM mood_daily "
            "WHERE chat_id=? AND day BETWEEN ? AND ? ORDER BY day",
            (chat_id, first_day, last_day),
        )
        return [DayMood(r["day"], r["messages"], r["negative"]) for r in rows]

    # --- 👎 reactions and alerts ----------------------------------------------------------

    async def set_dislike(self, chat_id: int, message_id: int, user_id: int, on: bool) -> int:
        """Records one person's 👎 (or its removal); returns the message's 👎 count."""
        if on:
            await self.db.execute(
                "INSERT INTO message_dislikes VALUES (?,?,?) ON CONFLICT DO NOTHING",
                (chat_id, message_id, user_id),
            )
        else:
            await self.db.execute(
                "DELETE FROM message_dislikes WHERE chat_id=? AND message_id=? AND user_id=?",
                (chat_id, message_id, user_id),
            )
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM message_dislikes WHERE chat_id=? AND message_id=?",
            (chat_id, message_id),
        )
        return int(row[0])

    async def claim_alert(
        self, chat_id: int, kind: str, day: str, message_id: int, at: int
    ) -> bool:
        """True for the first caller only: an alert goes out once per day, or, about one
        message (`message_id` not 0), once whatever the day (kept as long as alerts are)."""
        cursor = await self.db.execute(
            "INSERT INTO reputation_alerts(chat_id, day, kind, message_id, sent_at) "
            "SELECT ?,?,?,?,? WHERE ?=0 OR NOT EXISTS (SELECT 1 FROM reputation_alerts "
            "WHERE chat_id=? AND kind=? AND message_id=?) ON CONFLICT DO NOTHING",
            (chat_id, day, kind, message_id, at, message_id, chat_id, kind, message_id),
        )
        return cursor.rowcount == 1

    async def prune(self, before_day: str, before_ts: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM reputation_alerts WHERE day < ?", (before_day,))
            await conn.execute("DELETE FROM mentions WHERE at < ?", (before_ts,))
