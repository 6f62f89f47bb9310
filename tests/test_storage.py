"""Database: migrations, transactions, the one-process lock."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest

from storage.database import (
    Database,
    DatabaseLockedError,
    Migration,
    MigrationError,
    bundled_migrations,
)


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


def test_migrations_are_numbered_uniquely_from_one():
    """Numbers are reserved per feature ahead of time, so a gap is fine until its branch lands;
    a repeated number is not (bundled_migrations refuses it)."""
    versions = [m.version for m in bundled_migrations()]
    assert versions[0] == 1 and versions == sorted(set(versions))


async def test_a_migration_landing_later_with_a_lower_number_is_applied(tmp_path):
    db = Database(tmp_path / "s.sqlite3")
    await db.open(migrations=[])
    first = Migration(1, "first", "CREATE TABLE a(x INTEGER);")
    late = Migration(2, "late", "CREATE TABLE b(x INTEGER);")
    newer = Migration(3, "newer", "CREATE TABLE c(x INTEGER);")
    assert await db.migrate([first, newer]) == [1, 3]
    assert await db.migrate([first, late, newer]) == [2]
    assert await db.migrate([first, late, newer]) == []
    assert await db.fetchone("SELECT COUNT(*) FROM b") is not None
    await db.close()


async def test_failing_migration_rolls_back_whole_file(tmp_path):
    db = Database(tmp_path / "s.sqlite3")
    await db.open(migrations=[])
    good = Migration(1, "good", "CREATE TABLE a(x INTEGER);")
    bad = Migration(2, "bad", "CREATE TABLE b(x INTEGER);\nINSERT INTO nope VALUES (1);")
    with pytest.raises(MigrationError, match="0002_bad"):
        await db.migrate([good, bad])
    assert await db.schema_version() == 1
    tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" in tables and "b" not in tables
    await db.close()


async def test_transaction_rolls_back_on_error(tmp_path):
    db = Database(tmp_path / "s.sqlite3")
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
