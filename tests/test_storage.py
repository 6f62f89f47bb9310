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


# Numbers handed to branches developed in parallel; a branch may land before the one holding a
# lower number (the runner applies any number not applied yet). Empty again once all have landed.
RESERVED = {12}


def test_migrations_are_numbered_without_gaps():
    versions = [m.version for m in bundled_migrations()]
    expected = [v for v in range(1, max(versions) + 1) if v not in RESERVED or v in versions]
    assert versions == expected


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
