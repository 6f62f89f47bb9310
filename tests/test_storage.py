"""Database: migrations on both engines, transactions, the one-process lock, copy-db."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import textwrap

import pytest

from storage.database import (
    Database,
    DatabaseLockedError,
    DatabaseUnavailableError,
    Migration,
    MigrationError,
    bundled_migrations,
    to_postgres,
)
from tests.postgres_server import end_polling_session, polling_lock_holder


async def test_a_database_path_that_cannot_be_a_database_says_so(tmp_path):
    """A folder, a path through a file, or a file that is no database at DATABASE_PATH: one
    error naming the key (`python -m bot` prints it as one line), not a traceback."""
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "plain.db").write_text("not a database, just text " * 100)
    for path, reason in [
        (tmp_path, "a folder"),
        # mkdir says only "File exists": name the file that stands where a folder should
        (tmp_path / "notes.txt" / "s.sqlite3", "notes.txt is a file, not a folder"),
        (tmp_path / "plain.db", "file is not a database"),
    ]:
        with pytest.raises(DatabaseUnavailableError, match=reason) as raised:
            await Database(path).open()
        assert "DATABASE_PATH" in str(raised.value)


async def test_bundled_migrations_apply_once(tmp_path):
    db = Database(tmp_path / "sub" / "s.sqlite3")
    await db.open()
    version = await db.schema_version()
    assert version == bundled_migrations()[-1].version
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
    await db.close()
    db = Database(tmp_path / "sub" / "s.sqlite3")
    await db.open()
    assert await db.schema_version() == version
    await db.close()


async def test_bundled_migrations_apply_once_on_each_engine(db_target):
    db = Database(db_target)
    await db.open()
    version = await db.schema_version()
    assert version == bundled_migrations(db.dialect.name)[-1].version
    await db.close()
    db = Database(db_target)
    await db.open()
    assert await db.migrate(bundled_migrations(db.dialect.name)) == []
    assert await db.schema_version() == version
    await db.close()


def test_every_migration_has_a_postgresql_twin():
    """A migration in storage/migrations/ needs one with the same number and name in
    storage/migrations/postgresql/ (and the other way round): see README, Development."""
    sqlite = {(m.version, m.name) for m in bundled_migrations("sqlite")}
    postgresql = {(m.version, m.name) for m in bundled_migrations("postgresql")}
    assert sorted(sqlite - postgresql) == [], "write the PostgreSQL twin of these"
    assert sorted(postgresql - sqlite) == [], "a PostgreSQL migration without its SQLite one"


async def test_both_engines_end_with_the_same_tables_and_columns(tmp_path, pg_url):
    """The twins describe one schema: same tables, same column names and kinds, same keys."""
    sqlite, postgresql = Database(tmp_path / "s.sqlite3"), Database(pg_url)
    await sqlite.open()
    await postgresql.open()
    try:
        assert sorted(await sqlite.tables()) == sorted(await postgresql.tables())
        for table in await sqlite.tables():
            expected = [(c.name, c.type or "TEXT", c.pk) for c in await sqlite.columns(table)]
            assert [(c.name, c.type, c.pk) for c in await postgresql.columns(table)] == expected
            assert sorted(await sqlite.unique_keys(table)) == sorted(
                await postgresql.unique_keys(table)
            ), table
    finally:
        await sqlite.close()
        await postgresql.close()


def test_placeholders_become_numbered_outside_strings():
    assert to_postgres("SELECT ? , '?', \"a?\" FROM t WHERE x=? AND y='it''s ?'") == (
        "SELECT $1 , '?', \"a?\" FROM t WHERE x=$2 AND y='it''s ?'",
        None,
    )
    assert to_postgres("UPDATE t SET a=:new WHERE a=:old OR b=:new AND c::text='x:y'") == (
        "UPDATE t SET a=$1 WHERE a=$2 OR b=$1 AND c::text='x:y'",
        ("new", "old"),
    )


async def test_rows_read_by_name_and_index_and_writes_report_counts(db_target):
    db = Database(db_target)
    await db.open()
    try:
        first = await db.insert(
            "INSERT INTO warns(chat_id, user_id, created_at, expires_at) VALUES (?,?,?,?)",
            (-1001234567890, 5, 1, 2),
        )
        second = await db.insert(
            "INSERT INTO warns(chat_id, user_id, created_at, expires_at) VALUES (?,?,?,?)",
            (-1001234567890, 5, 1, 2),
        )
        assert second == first + 1
        row = await db.fetchone("SELECT chat_id, user_id FROM warns WHERE id=?", (first,))
        assert row["chat_id"] == row[0] == -1001234567890 and dict(row)["user_id"] == 5
        result = await db.execute("UPDATE warns SET removed_at=3 WHERE user_id=?", (5,))
        assert result.rowcount == 2
        again = await db.execute("INSERT INTO approvals VALUES (1,2,NULL,0) ON CONFLICT DO NOTHING")
        assert again.rowcount == 1
        again = await db.execute("INSERT INTO approvals VALUES (1,2,NULL,0) ON CONFLICT DO NOTHING")
        assert again.rowcount == 0
        sums = await db.fetchone("SELECT SUM(user_id) AS s, AVG(user_id) AS a FROM warns")
        assert sums["s"] == 10 and isinstance(sums["s"], int) and sums["a"] == 5.0
    finally:
        await db.close()


def test_migrations_are_numbered_uniquely_from_one():
    """Numbers are reserved per feature ahead of time, so a gap is fine until its branch lands;
    a repeated number is not (bundled_migrations refuses it)."""
    versions = [m.version for m in bundled_migrations()]
    assert versions[0] == 1 and versions == sorted(set(versions))


async def test_a_migration_landing_later_with_a_lower_number_is_applied(db_target):
    db = Database(db_target)
    await db.open(migrations=[])
    first = Migration(1, "first", "CREATE TABLE a(x INTEGER);")
    late = Migration(2, "late", "CREATE TABLE b(x INTEGER);")
    newer = Migration(3, "newer", "CREATE TABLE c(x INTEGER);")
    assert await db.migrate([first, newer]) == [1, 3]
    assert await db.migrate([first, late, newer]) == [2]
    assert await db.migrate([first, late, newer]) == []
    assert await db.fetchone("SELECT COUNT(*) FROM b") is not None
    await db.close()


async def test_failing_migration_rolls_back_whole_file(db_target):
    db = Database(db_target)
    await db.open(migrations=[])
    good = Migration(1, "good", "CREATE TABLE a(x INTEGER);")
    bad = Migration(2, "bad", "CREATE TABLE b(x INTEGER);\nINSERT INTO nope VALUES (1);")
    with pytest.raises(MigrationError, match="0002_bad"):
        await db.migrate([good, bad])
    assert await db.schema_version() == 1
    tables = set(await db.tables())
    assert "a" in tables and "b" not in tables
    await db.close()


async def test_transaction_rolls_back_on_error(db_target):
    db = Database(db_target)
    await db.open()
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO chats(chat_id, type) VALUES (1, 'group')")
            raise RuntimeError("boom")
    assert await db.fetchone("SELECT * FROM chats") is None
    await db.close()


async def test_second_process_fails_fast(tmp_path):
    path = tmp_path / "s.sqlite3"
    db = Database(path)
    await db.open()
    with pytest.raises(DatabaseLockedError, match="already in use"):
        await Database(path).open()
    script = textwrap.dedent(f"""
        import asyncio
        from storage.database import Database, DatabaseLockedError
        try:
            asyncio.run(Database({str(path)!r}).open())
        except DatabaseLockedError as exc:
            print("LOCKED", exc)
    """)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert out.decode().startswith("LOCKED")
    await db.close()
    reopened = Database(path)
    await reopened.open()  # released on close
    await reopened.close()


async def test_a_second_polling_process_on_one_postgresql_database_is_refused(pg_url):
    first, second = Database(pg_url), Database(pg_url)
    await first.open()
    await second.open()
    try:
        await first.claim_polling()
        with pytest.raises(DatabaseLockedError, match="one polling worker"):
            await second.claim_polling()
        await first.close()  # stopping the first lets the next one poll
        await second.claim_polling()
    finally:
        await first.close()
        await second.close()


async def test_a_polling_lock_whose_connection_was_killed_is_taken_again(pg_url):
    """pg_terminate_backend (or a restart) ends the session that held the polling lock, which
    releases it: the poller takes it again at once, so a second poller is still refused."""
    first, second, admin = Database(pg_url), Database(pg_url), Database(pg_url)
    for db in (first, second, admin):
        await db.open()
    try:
        await first.claim_polling()
        watching = asyncio.create_task(first.polling_lost())
        killed = await end_polling_session(admin)
        for _ in range(100):
            holder = await polling_lock_holder(admin)
            if holder is not None and holder != killed:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the polling lock was not taken again")
        with pytest.raises(DatabaseLockedError, match="one polling worker"):
            await second.claim_polling()
        assert not watching.done()
        watching.cancel()
    finally:
        for db in (first, second, admin):
            await db.close()


async def test_a_poller_whose_lock_another_process_took_is_told_to_stop(pg_url):
    """The lock's session ended and another process took the lock before this one could take
    it back: this one is told (polling_lost returns), so that it stops polling."""
    first, second = Database(pg_url), Database(pg_url)
    await first.open()
    await second.open()
    try:
        await first.claim_polling()
        watching = asyncio.create_task(first.polling_lost())
        await end_polling_session(second, take=True)
        lost = await asyncio.wait_for(watching, 10)
        assert isinstance(lost, DatabaseLockedError)
    finally:
        await first.close()
        await second.close()


def test_without_postgresql_ci_fails_where_a_laptop_skips(monkeypatch):
    from tests.postgres_server import missing

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL tests not run: no server"):
        missing("no server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the PostgreSQL tests"):
        missing("no server")


async def test_a_lost_postgresql_connection_is_replaced_not_kept_broken(pg_url: str) -> None:
    """PostgreSQL restarted, a failover, an idle connection cut by a proxy: the worker's
    statements fail for that moment at most (the caller's update is retried), then go through
    on a new connection; before, the one connection kept for statements outside a transaction
    stayed dead and every statement failed until the worker was restarted."""
    import asyncpg

    db = Database(pg_url)
    await db.open()
    try:
        assert await db.fetchone("SELECT 1 AS one") is not None
        killer = await asyncpg.connect(pg_url)
        try:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await killer.close()
        with contextlib.suppress(Exception):
            await db.fetchone("SELECT 1 AS one")  # may fail: it was in no position to know
        row = await db.fetchone("SELECT 2 AS two")
        assert row is not None and row["two"] == 2
        await db.execute("CREATE TABLE IF NOT EXISTS reconnect_probe (x INTEGER)")
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO reconnect_probe VALUES (?)", (1,))
    finally:
        await db.close()
