"""The database: one interface, two engines (SQLite by default, PostgreSQL for several workers).

Repositories write SQL once, in the subset both engines understand (`?` placeholders, `ON
CONFLICT ... DO ...`, `INSERT ... RETURNING id` through `insert()`, columns qualified by their
table in an upsert's `SET`); where the engines really differ a repository asks `db.sql` (the
dialect's query map, `storage/dialect.py`) for the fragment. Rows read by name and by index on
both engines, and `execute` returns a result with `rowcount`.

SQLite: one aiosqlite connection, WAL, foreign keys. One process owns a database file at a time:
two bots polling with the same token and writing the same file would answer every message twice
and race on the post queue, so a second process fails fast on an OS file lock instead of waiting
on SQLite's busy timeout.

PostgreSQL: an asyncpg connection pool; `?` becomes `$n` mechanically (string literals are left
alone), and sums and averages come back as int/float as on SQLite rather than as Decimal.

Migrations are numbered files: `storage/migrations/NNNN_name.sql` for SQLite and a twin with the
same name in `storage/migrations/postgresql/` (tests/test_storage.py fails while one lacks the
other).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

import aiosqlite

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    # An asyncpg connection of its own (the polling lock) or one lent by the pool.
    _PgConn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

from storage.dialect import POSTGRESQL, SQLITE, Dialect

logger = logging.getLogger(__name__)

# Statement parameters: positional for `?`, by name for `:name` (PostgreSQL only).
Params: TypeAlias = Sequence[Any] | dict[str, Any]

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any number: every worker that starts at the same time migrates under this advisory lock.
_MIGRATION_LOCK_KEY = 0x5354455741524430  # "STEWARD0"
_POLLING_LOCK_KEY = 0x5354455741524431  # "STEWARD1": held by the one long-polling worker
# How often the polling lock's connection is checked, besides being told at once when the server
# closes it (pg_terminate_backend, a restart), and how soon a lost one is taken again.
POLLING_CHECK_SECONDS = 5.0
POLLING_RETAKE_SECONDS = 1.0


class DatabaseLockedError(RuntimeError):
    """Another process already has this database open."""


class DatabaseUnavailableError(RuntimeError):
    """The database file cannot be created or opened: a folder or another file in its place,
    no permission, a path through a file. Said in one line at start instead of a traceback."""


class MigrationError(RuntimeError):
    """A migration file failed; the database is left at the previous version."""


class DatabaseUrlError(ValueError):
    """DATABASE_URL names no engine Steward speaks."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def sqlite_path(target: str | os.PathLike[str]) -> Path:
    """`sqlite:///abs/path`, `sqlite:///rel/path` (the tail after `sqlite:///`) or a plain path."""
    text = os.fspath(target)
    if text.startswith("sqlite://"):
        rest = text[len("sqlite://") :]
        if not rest.startswith("/") or rest == "/":
            raise DatabaseUrlError(f"{text!r}: write sqlite:///path/to/file.sqlite3")
        # sqlite:////abs/path is absolute, sqlite:///rel/path relative (SQLAlchemy's rule)
        return Path(rest[1:]).expanduser()
    return Path(text).expanduser()


def describe_target(target: str | os.PathLike[str]) -> str:
    """The database named without its password, for messages and logs."""
    if is_postgres_url(target):
        parts = urlsplit(str(target))
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        return f"{parts.scheme}://{netloc}{parts.path}"
    return str(sqlite_path(target))


def bundled_migrations(dialect: str = "sqlite") -> list[Migration]:
    """Migrations shipped for one dialect, ordered by their number."""
    folder = resources.files("storage") / "migrations"
    if dialect == POSTGRESQL.name:
        folder = folder / "postgresql"
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


class Result:
    """What a write reports on both engines."""

    __slots__ = ("_lastrowid", "rowcount")

    def __init__(self, rowcount: int, lastrowid: int | None = None) -> None:
        self.rowcount = rowcount
        self._lastrowid = lastrowid

    @property
    def lastrowid(self) -> int:
        if self._lastrowid is None:
            raise RuntimeError("lastrowid exists on SQLite only; use db.insert() (RETURNING id)")
        return self._lastrowid


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # upper-case declared type: INTEGER, TEXT, REAL, BLOB (PostgreSQL's mapped back)
    pk: bool


class Connection:
    """Statements on one connection: a transaction's, or the shared one outside of one."""

    async def execute(self, sql: str, params: Params = ()) -> Result:
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        raise NotImplementedError

    async def insert(self, sql: str, params: Params = ()) -> int:
        """An INSERT's new `id` (the statement gets `RETURNING id`)."""
        row = await self.fetchone(f"{sql} RETURNING id", params)
        return int(row[0])

    async def tables(self) -> list[str]:
        raise NotImplementedError

    async def columns(self, table: str) -> list[Column]:
        raise NotImplementedError

    async def unique_keys(self, table: str) -> list[tuple[str, ...]]:
        """Column sets of the table's primary key and unique constraints (plain columns only)."""
        raise NotImplementedError


class Database(Connection):
    """Owns the connection(s). Repositories receive it and keep all SQL in `storage/`.

    `Database(path)` or `Database("sqlite:///path")` is SQLite, `Database("postgresql://...")`
    PostgreSQL."""

    dialect: Dialect = SQLITE

    def __new__(cls, target: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Database:
        if cls is Database:
            cls = PostgresDatabase if is_postgres_url(target) else SqliteDatabase
        return super().__new__(cls)

    @property
    def is_open(self) -> bool:
        raise NotImplementedError

    @property
    def sql(self) -> Dialect:
        """Fragments that differ between the engines."""
        return self.dialect

    async def open(self, migrations: Iterable[Migration] | None = None) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        raise NotImplementedError

    async def claim_polling(self) -> None:
        """Long polling allows one consumer of getUpdates: raise DatabaseLockedError when
        another Steward process polls for this database. (SQLite's file lock already keeps
        every second process out.)"""

    async def polling_lost(self) -> DatabaseLockedError:
        """Returns once the polling lock `claim_polling` took was lost for good (another
        process polls now): the caller must stop polling. SQLite's file lock is the process's
        own until it exits, so this never returns there."""
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
        return int(row["v"]) if row else 0

    async def migrate(self, migrations: Iterable[Migration]) -> list[int]:
        raise NotImplementedError

    def iterate(self, sql: str, batch: int = 5000) -> AsyncIterator[list[Any]]:
        """A big SELECT's rows in batches, without holding the whole result (copy-db)."""
        raise NotImplementedError

    async def references(self) -> dict[str, set[str]]:
        """table -> the tables its foreign keys point at."""
        found: dict[str, set[str]] = {}
        for table in await self.tables():
            found[table] = await self._references_of(table)
        return found

    async def _references_of(self, table: str) -> set[str]:
        raise NotImplementedError


# --- SQLite ---------------------------------------------------------------------------------


class _ProcessLock:
    """An advisory lock file beside the database, released by the OS if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the process lifetime
        try:
            if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
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


class _SqliteConnection(Connection):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> Result:
        cursor = await self._conn.execute(sql, params)
        return Result(cursor.rowcount, cursor.lastrowid)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def tables(self) -> list[str]:
        rows = await self.fetchall(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid"
        )
        return [r[0] for r in rows]

    async def columns(self, table: str) -> list[Column]:
        rows = await self.fetchall(f"PRAGMA table_info({table})")
        return [Column(r["name"], (r["type"] or "").upper(), bool(r["pk"])) for r in rows]

    async def unique_keys(self, table: str) -> list[tuple[str, ...]]:
        keys = []
        info = await self.fetchall(f"PRAGMA table_info({table})")
        pk = [r["name"] for r in sorted(info, key=lambda r: r["pk"]) if r["pk"]]
        if pk:
            keys.append(tuple(pk))
        for index in await self.fetchall(f"PRAGMA index_list({table})"):
            if not index["unique"] or index["partial"] or index["origin"] == "pk":
                continue
            names = [r["name"] for r in await self.fetchall(f"PRAGMA index_info({index['name']})")]
            if names and None not in names and tuple(names) not in keys:
                keys.append(tuple(names))
        return keys


class SqliteDatabase(Database):
    dialect = SQLITE

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.path = sqlite_path(target)
        self._conn: aiosqlite.Connection | None = None
        self._shared: _SqliteConnection | None = None
        self._lock = _ProcessLock(Path(f"{self.path}.lock"))
        self._write_lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    @property
    def _c(self) -> _SqliteConnection:
        if self._shared is None:
            raise RuntimeError("database is not open")
        return self._shared

    def _unavailable(self, exc: Exception | str) -> DatabaseUnavailableError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if isinstance(exc, FileExistsError | NotADirectoryError):
            # a file stands where a folder of the path should be; mkdir only says "File exists"
            blocker = next((p for p in self.path.parents if p.exists()), None)
            if blocker is not None and not blocker.is_dir():
                reason = f"{blocker} is a file, not a folder"
        return DatabaseUnavailableError(
            f"cannot open the database file {self.path} ({reason}); point DATABASE_PATH at a "
            "file in a folder the bot may write"
        )

    async def open(self, migrations: Iterable[Migration] | None = None) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except OSError as exc:
            raise self._unavailable(exc) from None
        if self.path.is_dir():
            # checked before connecting: a failed connect leaves aiosqlite's thread to finish
            # after the loop closed, which prints a traceback of its own
            self._lock.release()
            raise self._unavailable("a folder, not a file")
        try:
            try:
                # isolation_level=None: autocommit; multi-statement work uses `transaction()`.
                self._conn = await aiosqlite.connect(self.path, isolation_level=None)
                self._conn.row_factory = aiosqlite.Row
                self._shared = _SqliteConnection(self._conn)
                await self._conn.execute("PRAGMA journal_mode=WAL")
            except (OSError, sqlite3.Error) as exc:  # a folder, or no database, in its place
                raise self._unavailable(exc) from None
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._conn.execute("PRAGMA synchronous=NORMAL")
            await self._conn.execute("PRAGMA busy_timeout=5000")
            await self.migrate(bundled_migrations("sqlite") if migrations is None else migrations)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
            self._shared = None
        self._lock.release()

    async def migrate(self, migrations: Iterable[Migration]) -> list[int]:
        """Apply every migration not applied yet, in number order, each in one transaction.

        Features reserve their numbers ahead and land in any order, so a number below the
        newest applied one can still be new; it is applied, not skipped."""
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            f" applied_at TEXT NOT NULL DEFAULT ({self.sql.now_text}))"
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

    async def execute(self, sql: str, params: Params = ()) -> Result:
        """One autocommitted write. Waits for an open transaction so it never joins one by
        accident; inside `transaction()` use the yielded connection instead."""
        async with self._write_lock:
            return await self._c.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def insert(self, sql: str, params: Params = ()) -> int:
        async with self._write_lock:
            return await self._c.insert(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        return await self._c.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        return await self._c.fetchall(sql, params)

    async def tables(self) -> list[str]:
        return await self._c.tables()

    async def columns(self, table: str) -> list[Column]:
        return await self._c.columns(table)

    async def unique_keys(self, table: str) -> list[tuple[str, ...]]:
        return await self._c.unique_keys(table)

    async def iterate(self, sql: str, batch: int = 5000) -> AsyncIterator[list[Any]]:
        async with self.conn.execute(sql) as cursor:
            while rows := await cursor.fetchmany(batch):
                yield list(rows)

    async def _references_of(self, table: str) -> set[str]:
        rows = await self.fetchall(f"PRAGMA foreign_key_list({table})")
        return {r["table"] for r in rows}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Serialise multi-statement writes on the shared connection."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._c
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")


# --- PostgreSQL -----------------------------------------------------------------------------


_NAMED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@lru_cache(maxsize=2048)
def to_postgres(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """`?` → `$1, $2, …` and `:name` → `$n` outside string literals and quoted names.

    Returns the statement and, for named parameters, the names in `$n` order."""
    out: list[str] = []
    names: list[str] = []
    positional = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif ch == "?":
            positional += 1
            out.append(f"${positional}")
            i += 1
        elif ch == ":" and i + 1 < n and sql[i + 1] == ":":
            out.append("::")
            i += 2
        elif ch == ":" and (match := _NAMED.match(sql, i + 1)) and (i == 0 or sql[i - 1] != ":"):
            name = match.group(0)
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            i = match.end()
        else:
            out.append(ch)
            i += 1
    if positional and names:
        raise ValueError("a statement mixes ? and :name parameters")
    return "".join(out), tuple(names) if names else None


def _pg_args(sql: str, params: Params) -> tuple[str, list[Any]]:
    statement, names = to_postgres(sql)
    if names is not None:
        if not isinstance(params, dict):
            raise TypeError("named parameters need a dict")
        return statement, [params[name] for name in names]
    if isinstance(params, dict):
        raise TypeError("a dict of parameters needs :name placeholders")
    return statement, list(params)


def _rowcount(status: str) -> int:
    """asyncpg's command tag ("UPDATE 3", "INSERT 0 1") → rows affected."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _numeric(text: str) -> int | float:
    """SUM of integers and AVG are `numeric` on PostgreSQL; SQLite gives int and float."""
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() and "." not in text else float(value)


_PG_TYPES = {
    "bigint": "INTEGER",
    "integer": "INTEGER",
    "smallint": "INTEGER",
    "text": "TEXT",
    "double precision": "REAL",
    "real": "REAL",
    "bytea": "BLOB",
}


class _PostgresConnection(Connection):
    def __init__(self, conn: _PgConn) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> Result:
        statement, args = _pg_args(sql, params)
        return Result(_rowcount(await self._conn.execute(statement, *args)))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        statement, _names = to_postgres(sql)
        rows = [tuple(r) for r in rows]
        if rows:
            await self._conn.executemany(statement, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        statement, args = _pg_args(sql, params)
        return await self._conn.fetchrow(statement, *args)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        statement, args = _pg_args(sql, params)
        return list(await self._conn.fetch(statement, *args))

    async def copy_rows(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        """COPY rows in (copy-db): far faster than INSERTs for a whole database."""
        await self._conn.copy_records_to_table(table, records=rows, columns=columns)

    async def reset_identity(self, table: str, column: str = "id") -> None:
        """The next generated id follows the largest one present (after rows were copied in
        with their ids)."""
        sequence = await self._conn.fetchval("SELECT pg_get_serial_sequence($1, $2)", table, column)
        if sequence:
            await self._conn.execute(
                f"SELECT setval($1, COALESCE(MAX({column}), 0) + 1, false) FROM {table}", sequence
            )

    async def tables(self) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.oid"
        )
        return [r[0] for r in rows]

    async def columns(self, table: str) -> list[Column]:
        rows = await self._conn.fetch(
            "SELECT a.attname, format_type(a.atttypid, NULL) AS type, "
            "COALESCE(a.attnum = ANY(i.indkey), false) AS pk "
            "FROM pg_attribute a LEFT JOIN pg_index i "
            "ON i.indrelid = a.attrelid AND i.indisprimary "
            "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            table,
        )
        return [Column(r[0], _PG_TYPES.get(r[1], r[1].upper()), bool(r[2])) for r in rows]

    async def unique_keys(self, table: str) -> list[tuple[str, ...]]:
        rows = await self._conn.fetch(
            "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL "
            "AND i.indexprs IS NULL GROUP BY i.indexrelid, i.indisprimary "
            "ORDER BY i.indisprimary DESC, i.indexrelid",
            table,
        )
        return [tuple(r[0]) for r in rows]


class PostgresDatabase(Database):
    """A small pool: one connection for the statements outside a transaction (autocommitted,
    in the order they were issued), others for transactions, migrations and copy-db."""

    dialect = POSTGRESQL

    def __init__(self, target: str | os.PathLike[str], *, max_size: int = 10) -> None:
        self.url = str(target)
        self._max_size = max_size
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._shared: _PostgresConnection | None = None
        self._shared_raw: PoolConnectionProxy[asyncpg.Record] | None = None
        self._shared_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._polling: asyncpg.Connection[asyncpg.Record] | None = (
            None  # the connection that holds the polling lock
        )
        self._polling_closed = asyncio.Event()  # set when the server closed that connection

    async def claim_polling(self) -> None:
        if self._polling is not None:
            return
        if not await self._take_polling_lock():
            raise self._polling_refused()

    def _polling_refused(self) -> DatabaseLockedError:
        return DatabaseLockedError(
            f"another Steward process is long-polling with the database "
            f"{describe_target(self.url)}; Telegram allows one polling worker (several "
            "workers need WEBHOOK_URL)"
        )

    async def _take_polling_lock(self) -> bool:
        """The polling lock on a connection of its own (the lock lives as long as that
        session; a crash releases it); False when another session holds it."""
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            taken = await conn.fetchval("SELECT pg_try_advisory_lock($1)", _POLLING_LOCK_KEY)
        except BaseException:
            await conn.close()
            raise
        if not taken:
            await conn.close()
            return False
        closed = self._polling_closed = asyncio.Event()
        conn.add_termination_listener(lambda _conn: closed.set())
        self._polling = conn
        return True

    async def polling_lost(self) -> DatabaseLockedError:
        """Watch the polling lock's connection. The server closing it (pg_terminate_backend, a
        restart, a failover) releases the lock, and another process may take it and poll: a
        lost connection is noticed at once (or at the next check, every POLLING_CHECK_SECONDS)
        and the lock taken again on a new one, retried every POLLING_RETAKE_SECONDS while the
        server is out of reach. Returns (for the caller to stop polling) once another process
        holds it."""
        while True:
            conn, closed = self._polling, self._polling_closed
            if conn is None:  # not claimed yet, or closed (this process stops anyway)
                await asyncio.sleep(POLLING_RETAKE_SECONDS)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), POLLING_CHECK_SECONDS)
            if self._polling is not conn:
                continue
            if not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), POLLING_CHECK_SECONDS)
                    continue
                except Exception as exc:  # lost on the way: the lock went with it
                    logger.warning("polling lock's connection failed: %s", exc)
            logger.warning("polling lock's connection was lost; taking the lock again")
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)
            if self._polling is conn:
                self._polling = None
            failures = 0
            while True:
                try:
                    if await self._take_polling_lock():
                        logger.info("polling lock taken again")
                        break
                except Exception as exc:
                    # one line per outage, not one a second
                    failures += 1
                    log = logger.warning if failures == 1 else logger.debug
                    log(
                        "polling lock not taken again yet (retrying every %ss): %s",
                        POLLING_RETAKE_SECONDS,
                        exc,
                    )
                    await asyncio.sleep(POLLING_RETAKE_SECONDS)
                    continue
                logger.error("polling lock lost: another Steward process polls now")
                return self._polling_refused()

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @property
    def pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    @staticmethod
    async def _setup(conn: asyncpg.Connection[asyncpg.Record]) -> None:
        await conn.set_type_codec(
            "numeric", encoder=str, decoder=_numeric, schema="pg_catalog", format="text"
        )

    async def connect(self) -> None:
        """The pool alone, without migrating (copy-db checks the target is empty first)."""
        import asyncpg

        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=2, max_size=self._max_size, init=self._setup
            )
            self._shared_raw = await self._pool.acquire()
            self._shared = _PostgresConnection(self._shared_raw)

    async def open(self, migrations: Iterable[Migration] | None = None) -> None:
        await self.connect()
        try:
            await self.migrate(
                bundled_migrations("postgresql") if migrations is None else migrations
            )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._polling is not None:
            polling, self._polling = self._polling, None
            await polling.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if self._shared_raw is not None:
                with contextlib.suppress(Exception):  # lost: the pool took it back already
                    await pool.release(self._shared_raw)
                self._shared_raw = self._shared = None
            await pool.close()

    async def migrate(self, migrations: Iterable[Migration]) -> list[int]:
        """As on SQLite; workers starting together take turns on an advisory lock."""
        applied = []
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version BIGINT PRIMARY KEY, name TEXT NOT NULL,"
                    f" applied_at TEXT NOT NULL DEFAULT ({self.sql.now_text}))"
                )
                done = {r[0] for r in await conn.fetch("SELECT version FROM schema_version")}
                for migration in migrations:
                    if migration.version in done:
                        continue
                    try:
                        async with conn.transaction():
                            await conn.execute(migration.sql)  # several statements: no params
                            await conn.execute(
                                "INSERT INTO schema_version(version, name) VALUES ($1, $2)",
                                migration.version,
                                migration.name,
                            )
                    except Exception as exc:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                        ) from exc
                    logger.info("applied migration %04d_%s", migration.version, migration.name)
                    applied.append(migration.version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
        return applied

    # Statements of one process run in the order they were issued, as on SQLite: a write
    # waits for a running transaction, and every statement outside a transaction goes through
    # one connection in turn. A pool would let a later handler's statement overtake an earlier
    # one (a 👎 taken back before it was counted); several workers give the parallelism.

    @asynccontextmanager
    async def _in_turn(self, write: bool) -> AsyncIterator[_PostgresConnection]:
        if self._shared is None:
            raise RuntimeError("database is not open")
        if write:
            async with self._write_lock, self._shared_lock:
                yield await self._usable_shared()
        else:
            async with self._shared_lock:
                yield await self._usable_shared()

    async def _usable_shared(self) -> _PostgresConnection:
        """The connection kept for statements outside a transaction, replaced by a new one of
        the pool when it was lost (PostgreSQL restarted, a failover, a proxy cutting it):
        the statement that met the loss failed, the next ones go through."""
        import asyncpg

        raw = self._shared_raw
        try:
            lost = raw is None or raw.is_closed()
        except asyncpg.InterfaceError:  # the pool took it back when it broke
            lost = True
        if not lost and self._shared is not None:
            return self._shared
        logger.warning("PostgreSQL connection lost; reconnecting")
        if raw is not None:
            with contextlib.suppress(Exception):
                await self.pool.release(raw)
        self._shared_raw = self._shared = None
        self._shared_raw = await self.pool.acquire()
        self._shared = _PostgresConnection(self._shared_raw)
        logger.info("PostgreSQL connection back")
        return self._shared

    async def execute(self, sql: str, params: Params = ()) -> Result:
        async with self._in_turn(write=True) as conn:
            return await conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def insert(self, sql: str, params: Params = ()) -> int:
        async with self._in_turn(write=True) as conn:
            return await conn.insert(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        async with self._in_turn(write=False) as conn:
            return await conn.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        async with self._in_turn(write=False) as conn:
            return await conn.fetchall(sql, params)

    async def tables(self) -> list[str]:
        async with self._in_turn(write=False) as conn:
            return await conn.tables()

    async def columns(self, table: str) -> list[Column]:
        async with self._in_turn(write=False) as conn:
            return await conn.columns(table)

    async def unique_keys(self, table: str) -> list[tuple[str, ...]]:
        async with self._in_turn(write=False) as conn:
            return await conn.unique_keys(table)

    async def iterate(self, sql: str, batch: int = 5000) -> AsyncIterator[list[Any]]:
        async with self.pool.acquire() as conn, conn.transaction():
            cursor = await conn.cursor(to_postgres(sql)[0])
            while rows := await cursor.fetch(batch):
                yield list(rows)

    async def _references_of(self, table: str) -> set[str]:
        rows = await self.fetchall(
            "SELECT confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = to_regclass(?)",
            (table,),
        )
        return {r[0] for r in rows}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PostgresConnection]:
        async with self._write_lock, self.pool.acquire() as conn, conn.transaction():
            yield _PostgresConnection(conn)
