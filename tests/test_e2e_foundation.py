"""End-to-end: the real bot against the fake Telegram server."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, RunningBot

GROUP_ID = -1001000000001


@pytest.mark.parametrize(
    ("language_code", "greeting", "heading"),
    [
        ("en", "Hello, Ann! I am Steward", "Commands you can use here:"),
        ("ru", "Здравствуйте, Ann! Я Steward", "Команды, доступные вам здесь:"),
        ("nl", "Hallo, Ann! Ik ben Steward", "Commando's die je hier kunt gebruiken:"),
        (
            "de",
            "Hello, Ann! I am Steward",
            "Commands you can use here:",
        ),  # fallback: first of LANGUAGES
        ("ru-RU", "Здравствуйте, Ann!", "Команды, доступные вам здесь:"),
    ],
)
async def test_start_and_help_speak_the_users_language(
    steward: RunningBot, fake: FakeTelegram, language_code, greeting, heading
):
    user = fake.user(501, "Ann", language_code=language_code)
    chat = fake.private_chat(user)
    await fake.send_message(chat, user, "/start")
    call = await fake.wait_for("sendMessage")
    assert call["chat_id"] == 501
    assert call["text"].startswith(greeting)
    assert heading in call["text"]
    assert "/help" in call["text"]

    await fake.send_message(chat, user, "/help")
    call = await fake.wait_for("sendMessage")
    assert call["text"].startswith(heading)
    assert "/start" in call["text"]
    # a member does not see manager commands
    assert "For managers" not in call["text"] and "Для менеджеров" not in call["text"]


async def test_registers_scoped_command_menus(steward: RunningBot, fake: FakeTelegram):
    scopes = {(json.loads(scope)["type"], lang) for scope, lang in fake.commands}
    for scope in ("all_private_chats", "all_group_chats", "all_chat_administrators", "chat"):
        for lang in (None, "en", "ru", "nl"):
            assert (scope, lang) in scopes, (scope, lang)
    manager_scope = json.dumps({"type": "chat", "chat_id": MANAGER_ID}, sort_keys=True)
    ru_private = fake.commands[(json.dumps({"type": "all_private_chats"}), "ru")]
    assert {"command": "help", "description": "список доступных вам команд"} in ru_private
    assert (manager_scope, "nl") in fake.commands


async def test_bot_added_to_group_registers_admin_menu_for_it(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID, title="Fans")
    owner = fake.user(11, "Olga")
    mark = fake.mark()
    await fake.push_update(
        {
            "my_chat_member": {
                "chat": chat,
                "from": owner,
                "date": fake.now(),
                "old_chat_member": {"status": "left", "user": fake.bot_user},
                "new_chat_member": {"status": "member", "user": fake.bot_user},
            }
        }
    )
    call = await fake.wait_for(
        "setMyCommands", lambda c: c["scope"]["type"] == "chat_administrators", since=mark
    )
    assert call["scope"]["chat_id"] == GROUP_ID


async def test_help_in_group_shows_admin_commands_only_to_admins(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID)
    admin, member = fake.user(21, "Admin"), fake.user(22, "Member")
    fake.add_member(GROUP_ID, admin, "administrator")
    fake.add_member(GROUP_ID, member)
    await fake.send_message(chat, member, "/help")
    member_help = await fake.wait_for("sendMessage")
    assert "For chat admins" not in member_help["text"]
    assert member_help["reply_parameters"]["message_id"]  # answered as a reply


async def test_handler_error_is_logged_user_gets_apology_and_polling_continues(
    steward: RunningBot, fake: FakeTelegram, caplog
):
    user = fake.user(601, "Bob", language_code="nl")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", 400, description="Bad Request: can't parse entities")
    await fake.send_message(chat, user, "/help")
    apology = await fake.wait_for("sendMessage", count=2)
    assert apology["text"].startswith("Sorry, er ging aan mijn kant iets mis")
    assert any("failed" in r.getMessage() and "update" in r.getMessage() for r in caplog.records)

    await fake.send_message(chat, user, "/help")
    again = await fake.wait_for("sendMessage")
    assert again["text"].startswith("Commando's die je hier kunt gebruiken")


async def test_429_is_retried_once_after_retry_after(steward: RunningBot, fake: FakeTelegram):
    user = fake.user(701, "Cat")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", 429, retry_after=1)
    await fake.send_message(chat, user, "/help")
    second = await fake.wait_for("sendMessage", count=2)
    calls = [c for c in fake.calls if c.method == "sendMessage"]
    assert len(calls) == 2
    first = calls[0]
    assert second.at - first.at >= 1.0
    await fake.assert_no_call("sendMessage", within=0.5, since=second.index + 1)


async def test_500_is_retried_with_backoff(steward: RunningBot, fake: FakeTelegram):
    user = fake.user(702, "Dan")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", 500, times=2)
    await fake.send_message(chat, user, "/help")
    third = await fake.wait_for("sendMessage", count=3)
    calls = [c for c in fake.calls if c.method == "sendMessage"]
    assert len(calls) == 3
    gap1, gap2 = calls[1].at - calls[0].at, calls[2].at - calls[1].at
    assert gap1 >= 0.5 * 0.75 and gap2 >= 1.0 * 0.75  # exponential: base 0.5s, then 1s
    assert gap2 > gap1
    assert third["text"].startswith("Commands you can use here:")


async def test_dropped_connection_is_retried(steward: RunningBot, fake: FakeTelegram):
    user = fake.user(703, "Eve")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", drop=True)
    await fake.send_message(chat, user, "/help")
    await fake.wait_for("sendMessage", count=2)
    assert len(fake.calls_of("sendMessage")) == 2


async def test_stop_finishes_in_flight_handler_and_closes_cleanly(
    steward: RunningBot, fake: FakeTelegram, caplog
):
    user = fake.user(801, "Fay")
    chat = fake.private_chat(user)
    fake.fail("sendMessage", 200, delay=1.0)  # a slow Telegram answer, then success
    update_id = await fake.push_update({"message": fake.new_message(chat, user, "/help")})
    await fake.wait_for("sendMessage")
    app = steward.app
    assert app.in_flight.running == 1  # the reply is still on its way
    caplog.set_level("INFO", logger="aiogram.event")
    await steward.stop()
    # the handler ran to its end instead of being cancelled with the polling loop
    assert any(f"Update id={update_id} is handled" in r.getMessage() for r in caplog.records)
    assert app.in_flight.running == 0
    assert not app.db.is_open
    assert not app.scheduler.running


async def test_state_survives_restart(steward: RunningBot, fake: FakeTelegram):
    user = fake.user(901, "Gus")
    chat = fake.private_chat(user)
    await fake.send_message(chat, user, "/start")
    await fake.wait_for("sendMessage")
    await steward.restart()
    from storage.chats import UserRepository

    assert await UserRepository(steward.app.db).has_started(901)
    await fake.send_message(chat, user, "/help")
    await fake.wait_for("sendMessage")


async def test_polls_with_allowed_updates_every_feature_needs(steward: RunningBot, fake):
    for kind in (
        "message",
        "edited_message",
        "callback_query",
        "chat_member",
        "my_chat_member",
        "poll_answer",
        "message_reaction_count",
    ):
        assert kind in fake.allowed_updates


async def test_token_is_never_logged(steward: RunningBot, fake: FakeTelegram, caplog):
    user = fake.user(902, "Hal")
    await fake.send_message(fake.private_chat(user), user, "/help")
    await fake.wait_for("sendMessage")
    await asyncio.sleep(0.1)
    secret = fake.token.split(":")[1]
    assert all(secret not in r.getMessage() for r in caplog.records)


APOLOGY = "went wrong on my side"


async def test_ids_too_big_or_malformed_get_an_answer_not_an_apology(
    steward: RunningBot, fake: FakeTelegram, caplog
):
    """A number past the database's integer range (SQLite will not even compare with it) or a
    malformed one ("--5", "²") used to fail the update with an apology; now it is just not an id."""
    big = "9" * 23
    manager = fake.user(MANAGER_ID, "Boss")
    private = fake.private_chat(manager)
    typed = [
        f"/giveaway_verify {big}",
        f"/giveaway_end #{big}",
        f"/quiz_del {big}",
        "/quiz_stop --5",
        "/reroll ²",
        f"/faq_del {big}",
    ]
    chat = fake.add_chat(GROUP_ID)
    admin = fake.user(31, "Ada")
    fake.add_member(GROUP_ID, admin, "administrator")
    in_group = [f"/notspam {big}", "/setlog --5", f"/quiz_start {big}"]
    mark = fake.mark()
    for text in typed:
        await fake.send_message(private, manager, text)
    for text in in_group:
        await fake.send_message(chat, admin, text)
    await steward.idle()
    replies = await fake.wait_for(
        "sendMessage", since=mark, count=len(typed) + len(in_group), timeout=20
    )
    answers = [c.plain for c in fake.calls_of("sendMessage", mark)]
    assert replies and not [a for a in answers if APOLOGY in a], answers
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
