"""Leases and job claims: how several workers on one database split timed work (bot/cluster).

Every statement is one atomic UPDATE or upsert whose row count says who won, so the same SQL
decides on SQLite and on PostgreSQL; times are unix seconds computed by the caller's clock.
"""

from __future__ import annotations

from storage.database import Database


class LeaseRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def acquire(self, name: str, holder: str, now: int, ttl: int) -> bool:
        """Take or renew the lease `name` for `ttl` seconds: True when `holder` has it now,
        False while another holder's lease is still running."""
        cursor = await self.db.execute(
            "INSERT INTO leases(name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder=excluded.holder, "
            "expires_at=excluded.expires_at "
            "WHERE leases.holder=excluded.holder OR leases.expires_at<=?",
            (name, holder, now + ttl, now),
        )
        return cursor.rowcount == 1

    async def release(self, name: str, holder: str) -> None:
        await self.db.execute("DELETE FROM leases WHERE name=? AND holder=?", (name, holder))

    async def holder(self, name: str, now: int) -> str | None:
        row = await self.db.fetchone(
            "SELECT holder FROM leases WHERE name=? AND expires_at>?", (name, now)
        )
        return row["holder"] if row else None

    async def claim_run(self, name: str, occurrence: str, worker: str, now: int) -> bool:
        """The one worker that runs job `name` at `occurrence`; the others get False."""
        cursor = await self.db.execute(
            "INSERT INTO job_runs(name, occurrence, worker, claimed_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name, occurrence) DO NOTHING",
            (name, occurrence, worker, now),
        )
        return cursor.rowcount == 1

    async def prune_runs(self, before: int) -> int:
        cursor = await self.db.execute("DELETE FROM job_runs WHERE claimed_at<?", (before,))
        return cursor.rowcount
