"""copy-db: a SQLite database moves to PostgreSQL with every row, and the bot carries on there."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest

from bot.main import copy_db_async
from storage.copy import CopyRefused, copy_database
from storage.database import Database
from storage.faq import FaqVectorRepository
from storage.moderation import ModerationRepository
from storage.posts import PostRepository
from tests.cluster_harness import Balancer, Worker, worker_env
from tests.fake_telegram import Call, FakeTelegram
from tests.harness import MANAGER_ID, RunningBot, make_env, settings_for

GROUP = -1001234500001
CHANNEL = -1001555000001


async def seed(db: Database) -> None:
    mod = ModerationRepository(db)
    for n in range(3):
        await mod.add_warn(GROUP, 200 + n, 100, f"rude {n}", 1_800_000_000, 1_900_000_000)
    await mod.remove_warn(2, 1_800_000_100)
    await mod.record_action(
        chat_id=GROUP,
        actor_id=100,
        target_id=200,
        action="warn",
        score=0.875,
        details={"bayes": 0.5, "links": 1},
        created_at=1_800_000_000,
    )
    await mod.update_settings(GROUP, warn_limit=5, languages="en,nl")
    await mod.approve(GROUP, 300, 100, 1_800_000_000)
    await PostRepository(db).add(
        channel_id=CHANNEL,
        source_chat_id=MANAGER_ID,
        source_message_ids=[7, 8],
        due_at=1_900_000_000,
        created_by=MANAGER_ID,
        now=1_800_000_000,
    )
    await FaqVectorRepository(db).store("m", 3, [("query", "abc", b"\x00\x01\xfe\xff")])
    await db.execute(
        "INSERT INTO quiz_runs(quiz_id, title, chat_id, started_at, interval_seconds) "
        "VALUES (1, 'Q', ?, 0, 30)",
        (GROUP,),
    )
    await db.execute("INSERT INTO quiz_polls VALUES ('p1', 1, 0, ?, 5, 1, 1800000000.25)", (GROUP,))


async def test_every_row_is_copied_and_new_ids_continue_after_the_copied_ones(tmp_path, pg_url):
    source, target = Database(tmp_path / "s.sqlite3"), Database(pg_url)
    await source.open()
    try:
        await seed(source)
        counts = await copy_database(source, target)
        assert all(c.matches for c in counts), [c for c in counts if not c.matches]
        by_table = {c.table: c.target for c in counts}
        assert by_table["warns"] == 3 and by_table["posts"] == 1 and by_table["faq_vectors"] == 1
        assert len(counts) == len(await source.tables())
        # values keep their types: big ids, floats, JSON text, bytes, NULLs
        action = await ModerationRepository(target).action(1)
        assert action.chat_id == GROUP and action.score == 0.875
        assert action.details == {"bayes": 0.5, "links": 1}
        vectors = await FaqVectorRepository(target).load("m")
        assert [(k, h, bytes(v)) for k, h, v in vectors] == [("query", "abc", b"\x00\x01\xfe\xff")]
        poll = await target.fetchone("SELECT sent_at FROM quiz_polls")
        assert poll[0] == 1800000000.25
        settings = await ModerationRepository(target).settings(GROUP)
        assert settings.warn_limit == 5 and settings.languages == "en,nl"
        # the identity sequences continue after the copied ids
        new = await ModerationRepository(target).add_warn(GROUP, 9, 1, None, 1, 2)
        assert new == 4
        post = await PostRepository(target).add(
            channel_id=CHANNEL,
            source_chat_id=MANAGER_ID,
            source_message_ids=[9],
            due_at=1_900_000_000,
            created_by=MANAGER_ID,
            now=1_800_000_000,
        )
        assert post == 2
        await target.close()
        # a second copy into the now filled database is refused, and changes nothing
        again = Database(pg_url)
        with pytest.raises(CopyRefused, match="not empty"):
            await copy_database(source, again)
        assert (await again.fetchone("SELECT COUNT(*) FROM warns"))[0] == 4
        await again.close()
    finally:
        await source.close()
        await target.close()


async def test_a_database_of_another_application_is_refused(tmp_path, pg_url):
    other = Database(pg_url)
    await other.open(migrations=[])  # schema_version only
    await other.execute("CREATE TABLE invoices(id BIGINT)")
    await other.execute("DROP TABLE schema_version")
    await other.close()
    source, target = Database(tmp_path / "s.sqlite3"), Database(pg_url)
    await source.open()
    try:
        with pytest.raises(CopyRefused, match=r"not empty \(it has 1 tables: invoices\)"):
            await copy_database(source, target)
    finally:
        await source.close()
        await target.close()


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        os.devnull,
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_moving_a_running_bot_to_postgresql_loses_nothing(
    fake: FakeTelegram, tmp_path, pg_url, redis_url, capsys
):
    """The README's path: stop the bot, `copy-db --to`, start two webhook workers with
    DATABASE_URL and REDIS_URL. A warn, a setting, a queued post and the chat's statistics made
    on SQLite are all there on PostgreSQL, whichever worker is asked, and the post is published
    once."""
    group = fake.add_chat(GROUP, title="Fans")
    admin, member = fake.user(100, "Alice"), fake.user(200, "Bob")
    fake.add_member(GROUP, admin, "administrator")
    fake.add_member(GROUP, member)
    fake.add_chat(CHANNEL, "channel", "News", username="news")
    manager = fake.user(MANAGER_ID, "Manny")
    desk = fake.private_chat(manager)
    env = make_env(fake, tmp_path)
    bot = RunningBot(fake=fake, settings=settings_for(env), env=env)
    await bot.start()
    target = await fake.send_message(group, member, "meh")
    await fake.send_message(group, admin, "/warn rude", reply_to=target)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "(1/3)" in c.plain)
    mark = fake.mark()
    await fake.send_message(group, admin, "/setrules Be kind")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    for text in ("hello all", "anyone here?"):
        await fake.send_message(group, member, text)
    group_messages = 5  # meh, /warn, /setrules and two more: what the statistics counted
    post = await fake.send_message(desk, manager, "Big news")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    mark = fake.mark()
    await fake.send_message(desk, manager, "/schedule @news +6s", reply_to=post)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("Scheduled for")
    await bot.idle()
    await bot.stop()

    code, out, err = await run_cli(
        "copy-db", "--to", pg_url, env={"DATABASE_PATH": env["DATABASE_PATH"]}
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-1].startswith("every count matches:")
    warns = next(line.split() for line in lines if line.startswith("warns "))
    assert warns[1:] == ["1", "1"]
    # a second copy (in-process: the same code without a second interpreter start)
    code = await copy_db_async(settings_for(env).database, pg_url)
    err = capsys.readouterr().err
    assert code == 3 and "is not empty" in err and err.count("\n") == 1

    shared = {"DATABASE_URL": pg_url}
    workers = [
        Worker(fake, worker_env(fake, tmp_path / f"worker{i}", i, redis_url, database=shared))
        for i in range(2)
    ]
    try:
        for worker in workers:
            await worker.start()
        async with Balancer(workers) as balancer:

            async def ask(user: dict, text: str, worker: int, **extra: Any) -> Call:
                mark = fake.mark()
                message = fake.new_message(group, user, text, **extra)
                await balancer.deliver(fake.webhook_update({"message": message}), worker)
                return await fake.wait_for(
                    "sendMessage", lambda c: c["chat_id"] == GROUP, since=mark
                )

            reply = await ask(admin, "/stats 7d", 0)  # counted too: one more message
            assert f"Messages: {group_messages + 1} " in reply.plain
            assert "Bob (3)" in reply.plain and "Moderation: ⚠️ Warn 1" in reply.plain
            reply = await ask(admin, "/warns", 1, reply_to=target)
            assert "rude" in reply.plain
            reply = await ask(member, "/rules", 0)
            assert "Be kind" in reply.plain
        copy = await fake.wait_for("copyMessage", timeout=15, since=0)
        assert copy["chat_id"] == CHANNEL and copy["message_id"] == post["message_id"]
        await asyncio.sleep(0.5)
        assert len(fake.calls_of("copyMessage")) == 1
    finally:
        for worker in workers:
            await worker.stop()


async def test_copy_db_refuses_a_target_that_is_not_postgresql(tmp_path, capsys):
    code = await copy_db_async(str(tmp_path / "s.sqlite3"), f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert code == 2 and "copies into PostgreSQL" in capsys.readouterr().err


async def test_copy_db_refuses_a_malformed_target_in_one_line(tmp_path, capsys):
    source = tmp_path / "s.sqlite3"
    source.touch()
    code = await copy_db_async(f"sqlite:///{source}", "postgresql://x:y@[::1:5/db")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "copy-db --to" in err


async def test_copy_db_refuses_a_source_that_does_not_exist_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "typo.sqlite3"
    code = await copy_db_async(f"sqlite:///{missing}", "postgresql://u@127.0.0.1:1/db")
    assert code == 3 and "no database at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
