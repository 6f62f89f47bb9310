"""Upgraded groups and forum topics without Telegram: moving rows, the outbound redirect, and
the topic rule."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramMigrateToChat
from aiogram.methods import DeleteMessage, EditMessageText, SendMessage, SendPoll
from aiogram.types import ReplyParameters

from bot.chat_migration import ChatMigrations
from bot.clock import FrozenClock
from bot.outbound import (
    OutboundMiddleware,
    RetryPolicy,
    TelegramPacer,
    follows_upgrades,
    readdressed,
    upgraded_chat,
)
from bot.topics import replies_to_topic_root, thread_of
from storage.chat_migration import (
    COLUMNS,
    ChatMigrationRepository,
    looks_like_chat_column,
)
from storage.database import Database

OLD = -4012345
NEW = -1001004012345
OTHER = -1001777000001


@pytest.fixture
async def db(db_target):
    database = Database(db_target)
    await database.open()
    yield database
    await database.close()


# --- the topic rule -----------------------------------------------------------------------------


def msg(thread=None, topic=False, reply=None):
    return SimpleNamespace(message_thread_id=thread, is_topic_message=topic, reply_to_message=reply)


def test_thread_of_names_only_real_topics():
    assert thread_of(msg(7, True)) == 7
    assert thread_of(msg(None, False)) is None
    # in General (or an ordinary group's reply chain) the id is no topic: sending it fails
    assert thread_of(msg(3, False)) is None
    assert thread_of(msg(1, None)) is None
    assert thread_of(None) is None
    assert thread_of(SimpleNamespace(message_id=4, date=0)) is None  # an inaccessible message


def test_topic_root_is_not_a_reply():
    root = SimpleNamespace(message_id=7, forum_topic_created={"name": "x"})
    assert replies_to_topic_root(msg(7, True, root))
    real = SimpleNamespace(message_id=9, forum_topic_created=None)
    assert not replies_to_topic_root(msg(7, True, real))
    # outside topics a reply is a reply
    assert not replies_to_topic_root(msg(None, False, real))
    assert not replies_to_topic_root(msg(7, True, None))


# --- what moves ---------------------------------------------------------------------------------


async def test_every_chat_column_has_a_decision(db):
    tables = await db.tables()
    undecided = []
    for table in tables:
        for column in await db.columns(table):
            if looks_like_chat_column(column.name) and (table, column.name) not in COLUMNS:
                undecided.append(f"{table}.{column.name}")
    assert not undecided, f"decide in storage/chat_migration.COLUMNS: {undecided}"
    for table, column in COLUMNS:
        if table in tables:
            names = [c.name for c in await db.columns(table)]
            assert column in names, f"{table}.{column} is gone"


async def seed(db: Database) -> None:
    c = db
    await c.execute(
        "INSERT INTO chats(chat_id, type, title, bot_status) VALUES (?,?,?,?)",
        (OLD, "group", "Club", "administrator"),
    )
    await c.execute(
        "INSERT INTO chat_settings(chat_id, rules, warn_limit) VALUES (?,?,?)", (OLD, "Be kind", 5)
    )
    await c.execute("INSERT INTO chat_settings(chat_id, log_chat_id) VALUES (?,?)", (OTHER, OLD))
    await c.execute(
        "INSERT INTO warns(chat_id, user_id, created_at, expires_at) VALUES (?,1,0,9999999999)",
        (OLD,),
    )
    await c.execute("INSERT INTO approvals VALUES (?,2,NULL,0)", (OLD,))
    await c.execute(
        "INSERT INTO filters(chat_id, pattern, created_at) VALUES (?,?,0)", (OLD, "casino")
    )
    await c.execute("INSERT INTO captcha_pending VALUES (?,3,55,54,2000000000)", (OLD,))
    await c.execute(
        "INSERT INTO daily_chat_stats(chat_id, day, messages, joins) VALUES (?,'2026-11-30',10,1)",
        (OLD,),
    )
    await c.execute("INSERT INTO daily_member_stats VALUES (?,'2026-11-30',1,'Ann',4)", (OLD,))
    await c.execute(
        "INSERT INTO faq_entries(chat_id, language, created_at, updated_at) VALUES (?,'en',0,0)",
        (OLD,),
    )
    await c.execute(
        "INSERT INTO faq_last_answers(chat_id, entry_id, language, message_id, answered_at) "
        "VALUES (?,1,'en',77,0)",
        (OLD,),
    )
    await c.execute("INSERT INTO support_routes VALUES (?,?)", (OLD, OTHER))
    await c.execute("INSERT INTO support_routes VALUES (?,?)", (OTHER, OLD))
    await c.execute(
        "INSERT INTO support_tickets(member_id, chat_id, question_message_id, support_chat_id,"
        " created_at) VALUES (1,?,42,?,0)",
        (OLD, OTHER),
    )
    await c.execute(
        "INSERT INTO quiz_runs(quiz_id, title, chat_id, started_at, interval_seconds) "
        "VALUES (1,'Q',?,0,30)",
        (OLD,),
    )
    await c.execute(
        "INSERT INTO giveaways(chat_id, message_id, prize, winners_count, ends_at, "
        "require_chats, seed_hex, commitment, created_at) VALUES (?,12,'Mug',1,9,?,'s','c',0)",
        (OLD, json.dumps(["@news", str(OLD)])),
    )


async def count(db: Database, sql: str, *params) -> int:
    return (await db.fetchone(sql, params))[0]


async def test_move_takes_every_row_of_the_chat_once(db):
    await seed(db)
    # the new chat's first message was seen before the move: its row exists already
    await db.execute(
        "INSERT INTO chats(chat_id, type, title) VALUES (?,?,?)", (NEW, "supergroup", "Club")
    )
    await db.execute(
        "INSERT INTO daily_chat_stats(chat_id, day, messages) VALUES (?,'2026-11-30',2)", (NEW,)
    )
    repo = ChatMigrationRepository(db)
    result = await repo.move(OLD, NEW, 100)
    assert result.first and result.open_giveaways == [1] and result.captchas == [(3, 2000000000)]
    for table in (
        "chat_settings",
        "warns",
        "approvals",
        "filters",
        "captcha_pending",
        "faq_entries",
        "support_routes",
        "quiz_runs",
        "giveaways",
        "chats",
        "daily_chat_stats",
        "daily_member_stats",
    ):
        column = "chat_id"
        assert await count(db, f"SELECT COUNT(*) FROM {table} WHERE {column}=?", OLD) == 0, table
    settings = await db.fetchone(
        "SELECT rules, warn_limit FROM chat_settings WHERE chat_id=?", (NEW,)
    )
    assert tuple(settings) == ("Be kind", 5)
    # other chats pointing at it follow
    assert await count(db, "SELECT log_chat_id FROM chat_settings WHERE chat_id=?", OTHER) == NEW
    assert (
        await count(db, "SELECT support_chat_id FROM support_routes WHERE chat_id=?", OTHER) == NEW
    )
    # counters add up; the new row keeps what only the old row knew
    assert await count(db, "SELECT messages FROM daily_chat_stats WHERE chat_id=?", NEW) == 12
    assert await count(db, "SELECT joins FROM daily_chat_stats WHERE chat_id=?", NEW) == 1
    chat = await db.fetchone("SELECT type, bot_status FROM chats WHERE chat_id=?", (NEW,))
    assert tuple(chat) == ("supergroup", "administrator")
    # old message ids are forgotten, never pointed at unrelated messages of the new chat
    captcha = await db.fetchone(
        "SELECT captcha_message_id, join_message_id FROM captcha_pending WHERE chat_id=?", (NEW,)
    )
    assert tuple(captcha) == (None, None)
    assert await count(db, "SELECT COUNT(*) FROM faq_last_answers") == 0
    assert await count(db, "SELECT question_message_id FROM support_tickets") == 0
    giveaway = await db.fetchone("SELECT message_id, require_chats FROM giveaways")
    assert giveaway["message_id"] is None
    assert json.loads(giveaway["require_chats"]) == ["@news", str(NEW)]

    again = await repo.move(OLD, NEW, 200)
    assert not again.first and again.changed == 0
    assert await count(db, "SELECT COUNT(*) FROM chat_migrations") == 1
    assert await count(db, "SELECT COUNT(*) FROM warns WHERE chat_id=?", NEW) == 1


async def test_on_a_clash_the_new_chats_row_wins(db):
    await seed(db)
    await db.execute("INSERT INTO chat_settings(chat_id, rules) VALUES (?, 'New rules')", (NEW,))
    await db.execute("INSERT INTO approvals VALUES (?,2,NULL,5)", (NEW,))
    await ChatMigrationRepository(db).move(OLD, NEW, 100)
    assert await count(db, "SELECT COUNT(*) FROM chat_settings WHERE chat_id=?", NEW) == 1
    row = await db.fetchone("SELECT rules FROM chat_settings WHERE chat_id=?", (NEW,))
    assert row["rules"] == "New rules"
    assert await count(db, "SELECT COUNT(*) FROM approvals WHERE chat_id=?", NEW) == 1


async def test_migrations_tell_listeners_once_and_remember_the_way(db):
    await seed(db)
    migrations = ChatMigrations(ChatMigrationRepository(db), clock=FrozenClock(100))
    told = []
    prepared = []

    async def listener(result):
        told.append((result.old_chat_id, result.new_chat_id, result.first))

    async def prepare(old, new):
        prepared.append((old, new))

    migrations.after_move(listener)
    migrations.before_move(prepare)
    await migrations.migrate(OLD, NEW)
    await migrations.migrate(OLD, NEW)  # the other service message
    assert told == [(OLD, NEW, True)]
    assert prepared == [(OLD, NEW), (OLD, NEW)]
    assert migrations.new_id_of(OLD) == NEW and migrations.new_id_of(NEW) is None
    fresh = ChatMigrations(ChatMigrationRepository(db))
    assert await fresh.load() == 1 and fresh.new_id_of(OLD) == NEW
    assert await migrations.migrate(NEW, 5) is None  # nonsense is ignored


# --- the outbound layer --------------------------------------------------------------------------


def test_only_whole_chat_calls_follow_an_upgrade():
    send = SendMessage(
        chat_id=OLD,
        text="hi",
        reply_parameters=ReplyParameters(message_id=5),
        message_thread_id=3,
    )
    assert follows_upgrades(send)
    moved = readdressed(send, NEW)
    assert moved.chat_id == NEW and moved.reply_parameters is None
    assert moved.message_thread_id is None and moved.text == "hi"
    assert send.chat_id == OLD  # the caller's object is left alone
    assert not follows_upgrades(EditMessageText(chat_id=OLD, message_id=5, text="x"))
    assert not follows_upgrades(DeleteMessage(chat_id=OLD, message_id=5))
    assert upgraded_chat(send) == (OLD, True)
    assert upgraded_chat(SendMessage(chat_id=NEW, text="x")) is None


class Directory:
    def __init__(self) -> None:
        self.to: dict[int, int] = {}
        self.migrated: list[tuple[int, int]] = []

    def new_id_of(self, chat_id):
        return self.to.get(chat_id)

    async def migrate(self, old, new):
        self.migrated.append((old, new))
        self.to[old] = new


class Telegram:
    """make_request: the old id answers like an upgraded group, others succeed."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def __call__(self, bot, method):
        self.sent.append(method.chat_id)
        if method.chat_id == OLD:
            raise TelegramMigrateToChat(method=method, message="upgraded", migrate_to_chat_id=NEW)
        return "ok"


async def no_sleep(_seconds):
    return None


def outbound(directory: Directory) -> OutboundMiddleware:
    mw = OutboundMiddleware(TelegramPacer(sleep=no_sleep), RetryPolicy(), sleep=no_sleep)
    mw.chats = directory
    return mw


async def test_a_send_to_an_upgraded_group_is_recorded_and_sent_once_to_the_new_id():
    directory, telegram = Directory(), Telegram()
    mw = outbound(directory)
    bot = Bot("123:abc")
    assert await mw(telegram, bot, SendPoll(chat_id=OLD, question="q", options=["a", "b"])) == "ok"
    assert telegram.sent == [OLD, NEW]
    assert directory.migrated == [(OLD, NEW)]
    # known now: the next send goes to the new id at once
    assert await mw(telegram, bot, SendMessage(chat_id=OLD, text="x")) == "ok"
    assert telegram.sent == [OLD, NEW, NEW]


async def test_a_call_about_an_old_message_is_recorded_but_not_redirected():
    directory, telegram = Directory(), Telegram()
    mw = outbound(directory)
    with pytest.raises(TelegramMigrateToChat):
        await mw(telegram, Bot("123:abc"), EditMessageText(chat_id=OLD, message_id=4, text="x"))
    assert telegram.sent == [OLD]
    assert directory.migrated == [(OLD, NEW)]


async def test_the_new_id_is_tried_once_only():
    directory = Directory()

    async def always_upgraded(bot, method):
        raise TelegramMigrateToChat(method=method, message="upgraded", migrate_to_chat_id=-4999)

    mw = outbound(directory)
    with pytest.raises(TelegramMigrateToChat):
        await mw(always_upgraded, Bot("123:abc"), SendMessage(chat_id=OLD, text="x"))
    assert len(directory.migrated) == 2  # OLD -> -4999, then -4999 -> -4999 refused again


async def test_counts_flushed_by_another_worker_after_the_move_land_in_the_new_chat(db):
    """With several workers, one moves an upgraded group's rows while another still holds
    messages counted under the old id (mood and statistics are flushed every few seconds):
    its later flush adds them to the new chat instead of starting a second, orphaned day of the
    old chat that /stats and the mood alerts of the new one never read."""
    from storage.reputation import ReputationRepository
    from storage.stats import StatsRepository

    mood, stats = ReputationRepository(db), StatsRepository(db)
    day = "2026-12-02"
    await mood.add_mood({(OLD, day): (3, 1)})
    await stats.write_batch([(OLD, day, "messages", 3)], [(OLD, day, 7, "Ann", 3)], [])
    await ChatMigrationRepository(db).move(OLD, NEW, 1)
    # the other worker's counts, taken before it heard of the upgrade
    await mood.add_mood({(OLD, day): (2, 1), (NEW, day): (1, 0)})
    await stats.write_batch(
        [(OLD, day, "messages", 2)], [(OLD, day, 7, "Ann", 2)], [(OLD, day, 10, 2)]
    )
    assert await mood.mood(OLD, day, day) == []
    (today,) = await mood.mood(NEW, day, day)
    assert (today.messages, today.negative) == (6, 2)
    assert await stats.daily(OLD, day, day) == []
    (row,) = await stats.daily(NEW, day, day)
    assert row["messages"] == 5
    rows = await db.fetchall("SELECT chat_id, messages FROM daily_member_stats")
    assert [tuple(r) for r in rows] == [(NEW, 5)]
    rows = await db.fetchall("SELECT chat_id, messages FROM hourly_activity")
    assert [tuple(r) for r in rows] == [(NEW, 2)]
