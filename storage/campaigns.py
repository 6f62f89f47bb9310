"""Campaigns, the joins they brought, and join requests waiting for approval."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypedDict

from bot.campaigns.logic import Bucket, Campaign, LinkRef
from storage.database import Database


@dataclass(frozen=True, slots=True)
class OpenStay:
    id: int
    chat_id: int
    campaign_id: int | None
    joined_at: int
    day: str


class PublishedPost(TypedDict):
    """A published post with URL buttons, as `published_posts` lists it."""

    id: int
    chat_id: int
    message_id: int | None  # the first published message; None when none was recorded
    published_at: int
    buttons: list[list[dict[str, str]]]


def _campaign(row: Any) -> Campaign:
    data = dict(row)
    data.pop("ended_by", None)
    data["cost"] = Decimal(data["cost"]) if data["cost"] is not None else None
    data["creates_join_request"] = bool(data["creates_join_request"])
    return Campaign(**data)


class CampaignRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- campaigns -----------------------------------------------------------------------

    async def add(
        self,
        *,
        chat_id: int,
        name: str,
        invite_link: str,
        cost: Decimal | None,
        currency: str | None,
        expire_date: int | None,
        member_limit: int | None,
        creates_join_request: bool,
        created_by: int | None,
        created_at: int,
    ) -> int:
        return await self.db.insert(
            "INSERT INTO campaigns(chat_id, name, invite_link, cost, currency, expire_date, "
            "member_limit, creates_join_request, created_by, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                chat_id,
                name,
                invite_link,
                str(cost) if cost is not None else None,
                currency,
                expire_date,
                member_limit,
                int(creates_join_request),
                created_by,
                created_at,
            ),
        )

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self.db.fetchone("SELECT * FROM campaigns WHERE id=?", (campaign_id,))
        return _campaign(row) if row else None

    async def of_chat(self, chat_id: int | None = None) -> list[Campaign]:
        """A chat's campaigns (every chat's with None), newest first."""
        if chat_id is None:
            rows = await self.db.fetchall("SELECT * FROM campaigns ORDER BY id DESC")
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM campaigns WHERE chat_id=? ORDER BY id DESC", (chat_id,)
            )
        return [_campaign(r) for r in rows]

    async def link_refs(self) -> list[LinkRef]:
        rows = await self.db.fetchall("SELECT id, chat_id, invite_link, name FROM campaigns")
        return [LinkRef(r["id"], r["chat_id"], r["invite_link"], r["name"]) for r in rows]

    async def chats_with_campaigns(self) -> list[int]:
        rows = await self.db.fetchall("SELECT DISTINCT chat_id FROM campaigns ORDER BY chat_id")
        return [int(r["chat_id"]) for r in rows]

    async def end(self, campaign_id: int, ended_by: int | None, at: int) -> bool:
        """Mark ended once; False if it already was."""
        cursor = await self.db.execute(
            "UPDATE campaigns SET ended_at=?, ended_by=? WHERE id=? AND ended_at IS NULL",
            (at, ended_by, campaign_id),
        )
        return cursor.rowcount > 0

    # --- joins and leaves ----------------------------------------------------------------

    async def add_join(
        self,
        chat_id: int,
        user_id: int,
        campaign_id: int | None,
        source: str,
        joined_at: int,
        joined_day: str,
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO campaign_joins(chat_id, user_id, campaign_id, source, joined_at, "
                "joined_day) VALUES (?,?,?,?,?,?)",
                (chat_id, user_id, campaign_id, source, joined_at, joined_day),
            )
            await conn.execute(
                "INSERT INTO campaign_daily(chat_id, campaign_id, day, joins) VALUES (?,?,?,1) "
                "ON CONFLICT(chat_id, day, campaign_id) DO UPDATE SET joins=campaign_daily.joins+1",
                (chat_id, campaign_id or 0, joined_day),
            )
            await conn.execute(
                "DELETE FROM campaign_join_requests WHERE chat_id=? AND user_id=?",
                (chat_id, user_id),
            )

    async def open_join(self, chat_id: int, user_id: int) -> OpenStay | None:
        """The member's stay that has not ended yet."""
        row = await self.db.fetchone(
            "SELECT id, campaign_id, joined_at, joined_day FROM campaign_joins "
            "WHERE chat_id=? AND user_id=? AND left_at IS NULL "
            "ORDER BY joined_at DESC, id DESC LIMIT 1",
            (chat_id, user_id),
        )
        if row is None:
            return None
        return OpenStay(row["id"], chat_id, row["campaign_id"], row["joined_at"], row["joined_day"])

    async def close_join(self, stay: OpenStay, left_at: int, left_1d: bool, left_7d: bool) -> None:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE campaign_joins SET left_at=?, left_1d=?, left_7d=? "
                "WHERE id=? AND left_at IS NULL",
                (left_at, int(left_1d), int(left_7d), stay.id),
            )
            if cursor.rowcount:
                await conn.execute(
                    "UPDATE campaign_daily SET left_1d=left_1d+?, left_7d=left_7d+?, "
                    "left_total=left_total+1 WHERE chat_id=? AND day=? AND campaign_id=?",
                    (int(left_1d), int(left_7d), stay.chat_id, stay.day, stay.campaign_id or 0),
                )

    async def rebuild_daily(self, chat_id: int) -> None:
        """Recompute a chat's daily sums from the joins (after a bulk import, or to check
        that the running sums agree with the joins they summarise)."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM campaign_daily WHERE chat_id=?", (chat_id,))
            await conn.execute(
                "INSERT INTO campaign_daily(chat_id, campaign_id, day, joins, left_1d, left_7d, "
                "left_total) SELECT chat_id, COALESCE(campaign_id, 0), joined_day, COUNT(*), "
                "SUM(left_1d), SUM(left_7d), SUM(CASE WHEN left_at IS NOT NULL THEN 1 ELSE 0 END) "
                "FROM campaign_joins "
                "WHERE chat_id=? GROUP BY chat_id, COALESCE(campaign_id, 0), joined_day",
                (chat_id,),
            )

    async def add_request(
        self, chat_id: int, user_id: int, campaign_id: int, requested_at: int
    ) -> None:
        await self.db.execute(
            "INSERT INTO campaign_join_requests VALUES (?,?,?,?) ON CONFLICT(chat_id, user_id) "
            "DO UPDATE SET campaign_id=excluded.campaign_id, requested_at=excluded.requested_at",
            (chat_id, user_id, campaign_id, requested_at),
        )

    async def pending_request(self, chat_id: int, user_id: int) -> int | None:
        row = await self.db.fetchone(
            "SELECT campaign_id FROM campaign_join_requests WHERE chat_id=? AND user_id=?",
            (chat_id, user_id),
        )
        return int(row["campaign_id"]) if row else None

    async def prune_requests(self, before: int) -> int:
        cursor = await self.db.execute(
            "DELETE FROM campaign_join_requests WHERE requested_at<?", (before,)
        )
        return cursor.rowcount

    # --- reports -------------------------------------------------------------------------

    async def buckets(self, chat_id: int, first_day: str, last_day: str) -> list[Bucket]:
        """Joins per campaign and local day from `first_day` to `last_day`, with what became
        of them."""
        rows = await self.db.fetchall(
            "SELECT campaign_id, day, joins, left_1d, left_7d, joins - left_total AS still "
            "FROM campaign_daily WHERE chat_id=? AND day BETWEEN ? AND ?",
            (chat_id, first_day, last_day),
        )
        return [
            Bucket(
                r["campaign_id"] or None,
                r["day"],
                r["joins"],
                r["left_1d"],
                r["left_7d"],
                r["still"],
            )
            for r in rows
        ]

    async def lifetime(self, campaign_ids: list[int]) -> dict[int, tuple[int, int]]:
        """Campaign id -> (all joins, still members) since the campaign began."""
        if not campaign_ids:
            return {}
        marks = ",".join("?" * len(campaign_ids))
        rows = await self.db.fetchall(
            "SELECT campaign_id, SUM(joins) AS joins, SUM(joins - left_total) AS still "
            f"FROM campaign_daily WHERE campaign_id IN ({marks}) GROUP BY campaign_id",
            campaign_ids,
        )
        return {int(r["campaign_id"]): (int(r["joins"]), int(r["still"])) for r in rows}

    async def totals(self) -> dict[int, tuple[int, int]]:
        """Every campaign's (joins, still members), for the list."""
        rows = await self.db.fetchall(
            "SELECT campaign_id, SUM(joins) AS joins, SUM(joins - left_total) AS still "
            "FROM campaign_daily WHERE campaign_id<>0 GROUP BY campaign_id"
        )
        return {int(r["campaign_id"]): (int(r["joins"]), int(r["still"])) for r in rows}

    async def join_times(self, campaign_ids: list[int]) -> dict[int, list[int]]:
        if not campaign_ids:
            return {}
        marks = ",".join("?" * len(campaign_ids))
        rows = await self.db.fetchall(
            f"SELECT campaign_id, joined_at FROM campaign_joins WHERE campaign_id IN ({marks})",
            campaign_ids,
        )
        result: dict[int, list[int]] = {}
        for r in rows:
            result.setdefault(int(r["campaign_id"]), []).append(int(r["joined_at"]))
        return result

    async def published_posts(self, chat_id: int, since: int, until: int) -> list[PublishedPost]:
        """Posts Steward published in a chat in [since, until) that carry URL buttons."""
        rows = await self.db.fetchall(
            "SELECT id, channel_id, published_at, published_ids, followup_ids, buttons "
            "FROM posts WHERE channel_id=? AND status='published' AND buttons IS NOT NULL "
            "AND published_at>=? AND published_at<? ORDER BY published_at",
            (chat_id, since, until),
        )
        result: list[PublishedPost] = []
        for r in rows:
            ids = json.loads(r["published_ids"]) if r["published_ids"] else []
            result.append(
                {
                    "id": int(r["id"]),
                    "chat_id": int(r["channel_id"]),
                    "message_id": ids[0] if ids else None,
                    "published_at": int(r["published_at"]),
                    "buttons": json.loads(r["buttons"]),
                }
            )
        return result
