"""End-to-end: the bot tells a group's admins what it needs when it is added without the
rights it works with, made admin without some of them, or demoted.

Telegram (Bot API FAQ "What messages will my bot get?"): a bot that is not an admin and has
privacy mode on gets only commands, replies to it and mentions, so a bot added as a plain member
cannot check the chat, and without the rights to delete messages and ban users it cannot act.
Silence leaves the admins thinking it works.
"""

from __future__ import annotations

from typing import Any

from tests.fake_telegram import FakeTelegram
from tests.harness import RunningBot

GROUP_ID = -1001000000077


async def _bot_status_changed(
    fake: FakeTelegram, chat: dict[str, Any], by: dict[str, Any], old: dict, new: dict
) -> None:
    await fake.push_update(
        {
            "my_chat_member": {
                "chat": chat,
                "from": by,
                "date": fake.now(),
                "old_chat_member": old,
                "new_chat_member": new,
            }
        }
    )


def _texts_to(fake: FakeTelegram, chat_id: int, since: int) -> list[str]:
    return [c["text"] for c in fake.calls_of("sendMessage", since) if c["chat_id"] == chat_id]


async def test_added_as_a_plain_member_the_bot_asks_to_be_made_admin(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID, title="Fans", bot_status="member")
    owner = fake.user(11, "Olga", language_code="ru")
    await _bot_status_changed(
        fake,
        chat,
        owner,
        {"status": "left", "user": fake.bot_user},
        {"status": "member", "user": fake.bot_user},
    )
    call = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP_ID)
    text = call["text"]
    # in the language of the person who added it, naming both rights
    assert "администратор" in text, text
    assert "удалять сообщения" in text and "блокировать" in text, text


async def test_made_admin_without_ban_right_names_the_missing_right_then_thanks(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID, title="Fans", bot_status="member")
    owner = fake.user(11, "Olga")
    plain = {"status": "member", "user": fake.bot_user}
    no_ban = fake._admin_member(fake.bot_user, is_bot_self=True, can_restrict_members=False)
    mark = fake.mark()
    await _bot_status_changed(fake, chat, owner, plain, no_ban)
    call = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP_ID, since=mark)
    assert "ban users" in call["text"], call["text"]
    assert "delete messages" not in call["text"], call["text"]

    # full rights now: one short confirmation, no further request
    full = fake._admin_member(fake.bot_user, is_bot_self=True)
    mark = fake.mark()
    await _bot_status_changed(fake, chat, owner, no_ban, full)
    call = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP_ID, since=mark)
    assert "ban users" not in call["text"], call["text"]

    # an unrelated change of rights (pinning) says nothing
    fewer = fake._admin_member(fake.bot_user, is_bot_self=True, can_pin_messages=False)
    mark = fake.mark()
    await _bot_status_changed(fake, chat, owner, full, fewer)
    await steward.idle()
    assert _texts_to(fake, GROUP_ID, mark) == []


async def test_added_as_admin_with_every_right_says_nothing_extra(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID, title="Fans")
    owner = fake.user(11, "Olga")
    mark = fake.mark()
    await fake.bot_added(chat, owner)
    await fake.wait_for("setMyCommands", lambda c: c["scope"].get("chat_id") == GROUP_ID)
    await steward.idle()
    assert _texts_to(fake, GROUP_ID, mark) == []


async def test_demoted_to_member_the_bot_says_what_it_can_no_longer_do(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID, title="Fans", bot_status="member")
    owner = fake.user(11, "Olga", language_code="nl")
    full = fake._admin_member(fake.bot_user, is_bot_self=True)
    await _bot_status_changed(fake, chat, owner, full, {"status": "member", "user": fake.bot_user})
    call = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP_ID)
    assert "beheerder" in call["text"], call["text"]


async def test_removed_from_a_group_the_bot_sends_nothing_there(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID, title="Fans", bot_status="left")
    owner = fake.user(11, "Olga")
    full = fake._admin_member(fake.bot_user, is_bot_self=True)
    mark = fake.mark()
    await _bot_status_changed(fake, chat, owner, full, {"status": "left", "user": fake.bot_user})
    await steward.idle()
    assert _texts_to(fake, GROUP_ID, mark) == []
