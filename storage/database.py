"""The SQLite database: one aiosqlite connection, WAL, foreign keys, numbered migrations.

One process owns a database file at a time. Two bots polling with the same token and writing the
same file would answer every message twice and race on the post queue, so a second process fails
fast on an OS file lock instead of waiting on SQLite's busy timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

import aiosqlite

logger = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class DatabaseLockedError(RuntimeError):
    """Another process already has this database open."""


class MigrationError(RuntimeError):
    """A migration file failed; the database is left at the previous version."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """Migrations shipped in storage/migrations, ordered by their number."""
    folder = resources.files("storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number: {versions}")
    return found


class _ProcessLock:
    """An advisory lock file beside the database, released by the OS if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the process lifetime
        try:
            if os.name == "nt":  # pragma: no cover - exercised on Windows only
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise DatabaseLockedError(
                f"the database {self.path.with_suffix('')} is already in use by another Steward "
                "process; stop that one first (only one bot may run per database)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Database:
    """Owns the connection. Repositories receive it and keep all SQL in `storage/`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = _ProcessLock(Path(f"{self.path}.lock"))
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def open(self, migrations: Iterable[Migration] | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            # isolation_level=None: autocommit; multi-statement work uses `transaction()`.
            self._conn = await aiosqlite.connect(self.path, isolation_level=None)
            self._conn.row_factory = aiosqlite.Row
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._conn.execute("PRAGMA synchronous=NORMAL")
            await self._conn.execute("PRAGMA busy_timeout=5000")
            await self.migrate(bundled_migrations() if migrations is None else migrations)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self._lock.release()

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
        return int(row["v"]) if row else 0

    async def migrate(self, migrations: Iterable[Migration]) -> list[int]:
        """Apply every migration not applied yet, in number order, each in one transaction.

        Features reserve their numbers ahead and land in any order, so a number below the
        newest applied one can still be new; it is applied, not skipped."""
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
        )
        done = {row[0] for row in await self.fetchall("SELECT version FROM schema_version")}
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            script = (
                "BEGIN IMMEDIATE;\n"
                f"{migration.sql}\n;\n"
                f"INSERT INTO schema_version(version, name) VALUES ({migration.version}, "
                f"'{migration.name}');\nCOMMIT;"
            )
            try:
                await self.conn.executescript(script)
            except Exception as exc:
                if self.conn.in_transaction:
                    await self.conn.execute("ROLLBACK")
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
            logger.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration.version)
        return applied

    # --- small helpers used by the repositories --------------------------------------------

    async def execute(self, sql: str, params: Iterable[Any] | dict = ()) -> aiosqlite.Cursor:
        """One autocommitted write. Waits for an open transaction so it never joins one by
        accident; inside `transaction()` use the yielded connection instead."""
        async with self._write_lock:
            return await self.conn.execute(sql, params)

    async def fetchone(self, sql: str, params: Iterable[Any] | dict = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] | dict = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Serialise multi-statement writes on the shared connection."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")
