"""Fits start-up stored for the next start (bot/moderation/fits.py says what and why)."""

from __future__ import annotations

from storage.database import Database

KEEP = 3  # rows kept per kind: the current one and a couple a rollback might still ask for


class FitCacheRepository:
    """Bytes by (kind, digest of what was fitted); the newest `keep` of each kind survive."""

    def __init__(self, db: Database, keep: int = KEEP) -> None:
        self.db = db
        self.keep = keep

    async def load(self, kind: str, digest: str) -> bytes | None:
        row = await self.db.fetchone(
            "SELECT data FROM fit_cache WHERE kind=? AND digest=?", (kind, digest)
        )
        return bytes(row[0]) if row is not None else None

    async def store(self, kind: str, digest: str, data: bytes) -> None:
        """Stored as the newest of its kind; older ones beyond `keep` are deleted. Two workers
        storing the same fit at once keep one row (the same bytes either way)."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM fit_cache WHERE kind=? AND digest=?", (kind, digest))
            await tx.execute(
                "INSERT INTO fit_cache(kind, digest, data) VALUES (?,?,?) "
                "ON CONFLICT(kind, digest) DO NOTHING",
                (kind, digest, data),
            )
            await tx.execute(
                "DELETE FROM fit_cache WHERE kind=? AND id NOT IN "
                "(SELECT id FROM fit_cache WHERE kind=? ORDER BY id DESC LIMIT ?)",
                (kind, kind, self.keep),
            )

    async def kinds(self) -> dict[str, int]:
        """Rows per kind (tests and the curious operator)."""
        rows = await self.db.fetchall("SELECT kind, count(*) FROM fit_cache GROUP BY kind")
        return {r[0]: int(r[1]) for r in rows}
