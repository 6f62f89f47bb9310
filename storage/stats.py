"""Statistics tables: daily aggregates, channel posts and member counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storage.chat_migration import upgraded_ids
from storage.database import Database

CHAT_FIELDS = (
    "messages",
    "joins",
    "leaves",
    "questions",
    "faq_answered",
    "faq_escalated",
    "faq_up",
    "faq_down",
    "reactions",
)


class StatsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def write_batch(
        self,
        chat_counts: Iterable[tuple[int, str, str, int]],
        member_counts: Iterable[tuple[int, str, int, str, int]],
        hourly_counts: Iterable[tuple[int, str, int, int]],
    ) -> None:
        """Add buffered counters in one transaction (one fsync for thousands of messages).

        Rows are written in key order: several workers flushing at once over PostgreSQL would
        otherwise lock the same rows in different orders and deadlock (seen with four workers
        on 40 busy chats); in one order, one waits for the other instead."""
        chat_counts, member_counts, hourly_counts = (
            list(chat_counts),
            list(member_counts),
            list(hourly_counts),
        )
        async with self.db.transaction() as conn:
            moved = await upgraded_ids(
                conn,
                {row[0] for rows in (chat_counts, member_counts, hourly_counts) for row in rows},
            )
            if moved:  # counted before this worker heard of an upgrade: the new chat's
                chat_counts = [(moved.get(r[0], r[0]), *r[1:]) for r in chat_counts]
                member_counts = [(moved.get(r[0], r[0]), *r[1:]) for r in member_counts]
                hourly_counts = [(moved.get(r[0], r[0]), *r[1:]) for r in hourly_counts]
            for chat_id, day, field, n in sorted(chat_counts):
                if field not in CHAT_FIELDS:
                    raise ValueError(field)
                await conn.execute(
                    f"INSERT INTO daily_chat_stats(chat_id, day, {field}) VALUES (?,?,?) "
                    "ON CONFLICT(chat_id, day) DO UPDATE SET "
                    f"{field}=daily_chat_stats.{field}+excluded.{field}",
                    (chat_id, day, n),
                )
            await conn.executemany(
                "INSERT INTO daily_member_stats(chat_id, day, user_id, name, messages) "
                "VALUES (?,?,?,?,?) ON CONFLICT(chat_id, day, user_id) DO UPDATE SET "
                "messages=daily_member_stats.messages+excluded.messages, name=excluded.name",
                sorted(member_counts),
            )
            await conn.executemany(
                "INSERT INTO hourly_activity(chat_id, day, hour, messages) VALUES (?,?,?,?) "
                "ON CONFLICT(chat_id, day, hour) DO UPDATE SET "
                "messages=hourly_activity.messages+excluded.messages",
                sorted(hourly_counts),
            )

    # --- reports -------------------------------------------------------------------------

    async def daily(self, chat_id: int, first_day: str, last_day: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"SELECT day, {', '.join(CHAT_FIELDS)} FROM daily_chat_stats "
            "WHERE chat_id=? AND day BETWEEN ? AND ? ORDER BY day",
            (chat_id, first_day, last_day),
        )
        return [dict(r) for r in rows]

    async def active_members(self, chat_id: int, first_day: str, last_day: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(DISTINCT user_id) AS n FROM daily_member_stats "
            "WHERE chat_id=? AND day BETWEEN ? AND ?",
            (chat_id, first_day, last_day),
        )
        return int(row["n"])

    async def top_members(
        self, chat_id: int, first_day: str, last_day: str, limit: int = 5
    ) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT user_id, MAX(name) AS name, SUM(messages) AS messages "
            "FROM daily_member_stats WHERE chat_id=? AND day BETWEEN ? AND ? "
            "GROUP BY user_id ORDER BY messages DESC, user_id LIMIT ?",
            (chat_id, first_day, last_day, limit),
        )
        return [dict(r) for r in rows]

    async def hourly(self, chat_id: int, first_day: str, last_day: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT day, hour, messages FROM hourly_activity "
            "WHERE chat_id=? AND day BETWEEN ? AND ?",
            (chat_id, first_day, last_day),
        )
        return [dict(r) for r in rows]

    async def moderation_counts(self, chat_id: int, since: int, until: int) -> dict[str, int]:
        rows = await self.db.fetchall(
            "SELECT action, COUNT(*) AS n FROM mod_actions WHERE chat_id=? AND created_at>=? "
            "AND created_at<? AND action NOT IN ('detect') GROUP BY action",
            (chat_id, since, until),
        )
        return {r["action"]: int(r["n"]) for r in rows}

    async def quiz_participation(self, chat_id: int, since: int, until: int) -> tuple[int, int]:
        row = await self.db.fetchone(
            "SELECT COUNT(DISTINCT r.id) AS quizzes, COUNT(DISTINCT a.user_id) AS players "
            "FROM quiz_runs r LEFT JOIN quiz_answers a ON a.run_id=r.id "
            "WHERE r.chat_id=? AND r.started_at>=? AND r.started_at<?",
            (chat_id, since, until),
        )
        return int(row["quizzes"] or 0), int(row["players"] or 0)

    async def giveaway_participation(self, chat_id: int, since: int, until: int) -> tuple[int, int]:
        row = await self.db.fetchone(
            "SELECT COUNT(DISTINCT g.id) AS giveaways, COUNT(e.user_id) AS entries "
            "FROM giveaways g LEFT JOIN giveaway_entries e ON e.giveaway_id=g.id "
            "WHERE g.chat_id=? AND g.created_at>=? AND g.created_at<?",
            (chat_id, since, until),
        )
        return int(row["giveaways"] or 0), int(row["entries"] or 0)

    # --- channels ------------------------------------------------------------------------

    async def set_members(self, chat_id: int, day: str, members: int) -> None:
        await self.db.execute(
            "INSERT INTO channel_members VALUES (?,?,?) ON CONFLICT(chat_id, day) "
            "DO UPDATE SET members=excluded.members",
            (chat_id, day, members),
        )

    async def members_series(
        self, chat_id: int, first_day: str, last_day: str
    ) -> list[tuple[str, int]]:
        rows = await self.db.fetchall(
            "SELECT day, members FROM channel_members WHERE chat_id=? AND day BETWEEN ? AND ? "
            "ORDER BY day",
            (chat_id, first_day, last_day),
        )
        return [(r["day"], int(r["members"])) for r in rows]

    async def latest_members(self, chat_id: int) -> int | None:
        row = await self.db.fetchone(
            "SELECT members FROM channel_members WHERE chat_id=? ORDER BY day DESC LIMIT 1",
            (chat_id,),
        )
        return int(row["members"]) if row else None

    async def add_post(
        self,
        chat_id: int,
        message_id: int,
        posted_at: int,
        members: int | None,
        by_steward: bool = False,
    ) -> bool:
        """A post that arrived as `channel_post` (made by a person). Ignored when the message
        is already known, e.g. as a part of a post Steward recorded itself; returns whether it
        was new."""
        async with self.db.transaction() as conn:
            if (
                await conn.fetchone(
                    "SELECT 1 FROM channel_post_parts WHERE chat_id=? AND message_id=?",
                    (chat_id, message_id),
                )
                is not None
            ):
                return False
            await conn.execute(
                "INSERT INTO channel_posts(chat_id, message_id, posted_at, members_at_post, "
                "by_steward) VALUES (?,?,?,?,?)",
                (chat_id, message_id, posted_at, members, int(by_steward)),
            )
            await conn.execute(
                "INSERT INTO channel_post_parts(chat_id, message_id, post_id) VALUES (?,?,?)",
                (chat_id, message_id, message_id),
            )
        return True

    async def add_own_post(
        self, chat_id: int, message_ids: list[int], posted_at: int, members: int | None
    ) -> None:
        """A post Steward published, from its own send call: all its messages (album parts, the
        buttons' follow-up) make one post named by the first. Should Telegram ever deliver one
        of them as `channel_post` too, that record is folded in, so nothing counts twice."""
        first = message_ids[0]
        async with self.db.transaction() as conn:
            for mid in message_ids:
                await conn.execute(
                    "DELETE FROM channel_posts WHERE chat_id=? AND message_id=? AND message_id<>?",
                    (chat_id, mid, first),
                )
            await conn.execute(
                "INSERT INTO channel_posts(chat_id, message_id, posted_at, members_at_post, "
                "by_steward) VALUES (?,?,?,?,1) ON CONFLICT(chat_id, message_id) DO UPDATE SET "
                "by_steward=1, members_at_post=COALESCE(excluded.members_at_post, "
                "channel_posts.members_at_post)",
                (chat_id, first, posted_at, members),
            )
            for mid in message_ids:
                await conn.execute(
                    "INSERT INTO channel_post_parts(chat_id, message_id, post_id) VALUES (?,?,?) "
                    "ON CONFLICT(chat_id, message_id) DO UPDATE SET post_id=excluded.post_id",
                    (chat_id, mid, first),
                )
            await conn.execute(
                "UPDATE channel_posts SET reactions=(SELECT COALESCE(SUM(reactions), 0) "
                "FROM channel_post_parts WHERE chat_id=? AND post_id=?) "
                "WHERE chat_id=? AND message_id=?",
                (chat_id, first, chat_id, first),
            )

    async def set_post_reactions(self, chat_id: int, message_id: int, total: int) -> int:
        """Store a message's new total (Telegram reports totals, per message of an album);
        returns the change, for the day's reaction count."""
        async with self.db.transaction() as conn:
            row = await conn.fetchone(
                "SELECT post_id, reactions FROM channel_post_parts "
                "WHERE chat_id=? AND message_id=?",
                (chat_id, message_id),
            )
            if row is None:
                return 0
            delta = total - int(row["reactions"])
            await conn.execute(
                "UPDATE channel_post_parts SET reactions=? WHERE chat_id=? AND message_id=?",
                (total, chat_id, message_id),
            )
            await conn.execute(
                "UPDATE channel_posts SET reactions=reactions+? WHERE chat_id=? AND message_id=?",
                (delta, chat_id, row["post_id"]),
            )
        return delta

    async def add_comment(self, chat_id: int, message_id: int) -> bool:
        """A comment in the discussion group under any message of a post counts for the post."""
        cursor = await self.db.execute(
            "UPDATE channel_posts SET comments=comments+1 WHERE chat_id=? AND message_id=("
            "SELECT post_id FROM channel_post_parts WHERE chat_id=? AND message_id=?)",
            (chat_id, chat_id, message_id),
        )
        return cursor.rowcount > 0

    async def posts(self, chat_id: int, since: int, until: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT * FROM channel_posts WHERE chat_id=? AND posted_at>=? AND posted_at<? "
            "ORDER BY posted_at",
            (chat_id, since, until),
        )
        return [dict(r) for r in rows]

    async def prune(self, before_day: str) -> int:
        removed = 0
        for table in ("daily_member_stats", "hourly_activity"):
            cursor = await self.db.execute(f"DELETE FROM {table} WHERE day<?", (before_day,))
            removed += cursor.rowcount
        return removed
