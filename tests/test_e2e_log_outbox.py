"""End-to-end: the moderation log goes through a durable outbox, so confirmations never wait.

The pacing policy is the real one scaled down in time (the same shape: a per-chat burst of 3 and a
per-group window of 20) so that a backlog of twenty log entries builds up and drains within
seconds instead of a minute.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from bot import outbound
from bot.moderation import outbox as outbox_module
from storage.database import Database
from storage.outbox import OutboxRepository, OutboxState
from tests.fake_telegram import FakeTelegram, FloodLimit

LOG_CHAT = -1009999900001
GROUPS = [-1001234600001 - i for i in range(5)]
MEASURED = -1001234600099
MEMBERS = [201, 202, 203, 204]
ADMIN = 100


@pytest.fixture
def bot_env(bot_env, monkeypatch):
    fast = outbound.PacingPolicy(per_chat=outbound.Limit(3, 0.5), per_group=outbound.Limit(20, 6.0))
    monkeypatch.setattr(outbound, "PacingPolicy", lambda: fast)
    bot_env["LOG_CHAT_ID"] = str(LOG_CHAT)
    return bot_env


@pytest.fixture
def chats(fake: FakeTelegram) -> dict[int, dict]:
    fake.group_limit = FloodLimit(20, 6.0)  # Telegram's 20 a minute, scaled as the pacing is
    fake.add_chat(LOG_CHAT, title="Mod log")
    admin = fake.user(ADMIN, "Alice", username="alice")
    made = {}
    for number, chat_id in enumerate([*GROUPS, MEASURED]):
        made[chat_id] = fake.add_chat(chat_id, title=f"Group {number}")
        fake.add_member(chat_id, admin, "administrator")
        for user_id in MEMBERS:
            fake.add_member(chat_id, fake.user(user_id, f"Member {user_id}"))
    made[0] = admin
    return made


def log_posts(fake: FakeTelegram) -> list:
    return [c for c in fake.calls_of("sendMessage") if c["chat_id"] == LOG_CHAT]


def entry_number(call) -> int:
    return int(re.search(r"#(\d+)", call["text"].splitlines()[0])[1])


async def wait_for_actions(steward, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await steward.app.db.fetchone("SELECT COUNT(*) AS n FROM mod_actions")
        if row["n"] >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} actions recorded")


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_warn_confirmation_overtakes_a_log_backlog_which_survives_a_restart(
    steward, fake, chats
):
    admin = chats[0]
    for chat_id in GROUPS:
        for user_id in MEMBERS:
            await fake.send_message(chats[chat_id], admin, f"/warn {user_id} noise")
    await wait_for_actions(steward, 20)

    started = time.monotonic()
    await fake.send_message(chats[MEASURED], admin, "/warn 201 off topic")
    confirmation = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == MEASURED and "has been warned" in c.plain
    )
    print("CONFIRMATION_DELAY", round(confirmation.at - started, 3))
    assert confirmation.at - started < 1.0
    posted_before = [c for c in log_posts(fake) if c.index < confirmation.index]
    print("LOG_POSTS_BEFORE", len(posted_before))
    assert len(posted_before) < 15, "the backlog was there when the confirmation went out"

    # stop with entries still queued; they wait in the table, not in memory
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=0, count=3)
    await steward.stop()
    before_restart = len(log_posts(fake))
    assert before_restart < 21
    counts = await _outbox_counts(steward, fake)
    assert counts.get(OutboxState.PENDING, 0) == 21 - before_restart
    await steward.start()

    await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=0, count=21, timeout=20
    )
    await asyncio.sleep(0.3)  # nothing more may follow
    posts = log_posts(fake)
    numbers = [entry_number(c) for c in posts]
    assert numbers == list(range(1, 22)), "every entry once, in the order of the actions"
    assert all("Posted again" not in c["text"] for c in posts)  # a clean stop duplicates none
    assert all(c.get("disable_notification") for c in posts)
    first = posts[0]
    assert "Warn" in first["text"]
    buttons = [b["text"] for row in first["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["↩️ Undo", "🔎 Details"]
    # the log message id is stored on the audit row once posted
    action = await steward.app.mod_repo.action(21)
    assert action.log_chat_id == LOG_CHAT and action.log_message_id is not None


async def _outbox_counts(steward, fake) -> dict:
    """Counts by state, read from the database file while the bot is stopped."""
    db = Database(steward.settings.database)
    await db.open()
    try:
        return await OutboxRepository(db).counts()
    finally:
        await db.close()


async def test_undo_and_details_work_while_the_entry_waits(steward, fake, chats):
    admin, group = chats[0], chats[GROUPS[0]]
    await steward.app.log_outbox.stop()  # the log chat is "behind": nothing gets posted
    await fake.send_message(group, admin, "/mute 201 1h flooding")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUPS[0])
    undo = reply["reply_markup"]["inline_keyboard"][0][0]
    message = fake.messages[(GROUPS[0], max(m for c, m in fake.messages if c == GROUPS[0]))]
    await fake.press_button(message, admin, undo["callback_data"])
    lifted = await fake.wait_for("restrictChatMember", lambda c: c["user_id"] == 201)
    assert lifted["permissions"]["can_send_messages"] is True
    answer = await fake.wait_for("answerCallbackQuery")
    assert answer["text"] == "Undone."
    assert not log_posts(fake)
    await fake.send_message(group, admin, "/modlog")
    modlog = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Last "))
    assert "⏳" in modlog.plain.splitlines()[-2] and "waiting for its turn" in modlog.plain

    await steward.app.log_outbox.start()
    entry = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=0)
    assert "Mute" in entry["text"] and "Undone by Alice" in entry["text"]
    buttons = [b for row in entry["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["🔎 Details"]  # nothing left to undo
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=0, count=2)
    posted = fake.messages[(LOG_CHAT, min(m for c, m in fake.messages if c == LOG_CHAT))]
    await fake.press_button(posted, admin, buttons[0]["callback_data"])
    details = await fake.wait_for("answerCallbackQuery")
    assert details["text"].startswith("#1 🔇 Mute")


async def test_a_refused_entry_is_recorded_and_the_next_one_goes_out(steward, fake, chats):
    admin, group = chats[0], chats[GROUPS[0]]
    await steward.app.log_outbox.stop()
    await fake.send_message(group, admin, "/warn 201")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUPS[0])
    await fake.send_message(group, admin, "/warn 202")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUPS[0])
    await wait_for_actions(steward, 2)
    fake.fail("sendMessage", 403, description="Forbidden: bot was kicked from the supergroup chat")
    mark = fake.mark()
    await steward.app.log_outbox.start()
    posted = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=mark, count=2
    )
    assert entry_number(posted) == 2
    first = await steward.app.log_outbox.repo.for_action(1)
    assert first.state is OutboxState.FAILED and "kicked" in first.error
    assert (await steward.app.mod_repo.action(1)).log_message_id is None
    # /modlog tells the admins which entries never reached the log chat, and why
    await fake.send_message(group, admin, "/modlog")
    modlog = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Last 2 actions"))
    lines = modlog.plain.splitlines()
    assert lines[1].startswith("#2") and not lines[1].endswith("📭")
    assert lines[2].startswith("#1") and lines[2].endswith("📭")
    assert "could not be posted to the log chat" in lines[3] and "kicked" in lines[3]


async def test_an_entry_cut_off_by_a_stop_is_posted_again_with_a_note(
    steward, fake, chats, monkeypatch
):
    admin, group = chats[0], chats[GROUPS[0]]
    monkeypatch.setattr(outbox_module, "STOP_GRACE_SECONDS", 0.3)
    await steward.app.log_outbox.stop()
    await fake.send_message(group, admin, "/warn 201")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUPS[0])
    fake.fail("sendMessage", 500, delay=5.0)  # the log post hangs, then the bot stops
    await steward.app.log_outbox.start()
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=0)
    await steward.stop()
    counts = await _outbox_counts(steward, fake)
    assert counts == {OutboxState.SENDING: 1}
    await steward.start()
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=0, count=2)
    assert entry_number(again) == 1 and "Posted again after a restart" in again["text"]
