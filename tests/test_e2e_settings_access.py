"""End-to-end: who may open /settings, press its buttons and set a chat's languages."""

from __future__ import annotations

from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, RunningBot

GROUP_ID = -1001000000088


async def test_settings_buttons_answer_admins_and_refuse_members(
    steward: RunningBot, fake: FakeTelegram
):
    chat = fake.add_chat(GROUP_ID)
    admin = fake.user(21, "Admin", language_code="nl")
    member = fake.user(22, "Member", language_code="ru")
    fake.add_member(GROUP_ID, admin, "administrator")
    fake.add_member(GROUP_ID, member)

    await fake.send_message(chat, member, "/settings")
    refused = await fake.wait_for("sendMessage")
    assert "reply_markup" not in refused.params or not refused["reply_markup"]

    await fake.send_message(chat, admin, "/settings")
    panel = await fake.wait_for("sendMessage")
    buttons = [b for row in panel["reply_markup"]["inline_keyboard"] for b in row]
    assert len(buttons) >= 5
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    shown = fake.messages[(GROUP_ID, max(m for c, m in fake.messages if c == GROUP_ID))]

    # a member pressing the admin's panel: refused in their language, nothing changes
    mark = fake.mark()
    await fake.press_button(shown, member, buttons[0]["callback_data"])
    answer = await fake.wait_for("answerCallbackQuery", since=mark)
    assert answer["text"] and "администратор" in answer["text"], answer["text"]
    assert not fake.calls_of("editMessageText", mark)

    # the admin's press changes the rule and redraws the panel
    mark = fake.mark()
    await fake.press_button(shown, admin, buttons[0]["callback_data"])
    await fake.wait_for("editMessageText", since=mark)
    await fake.wait_for("answerCallbackQuery", since=mark)


async def test_setlanguages_checks_role_and_input(steward: RunningBot, fake: FakeTelegram):
    chat = fake.add_chat(GROUP_ID)
    admin, member = fake.user(21, "Admin"), fake.user(22, "Member")
    fake.add_member(GROUP_ID, admin, "administrator")
    fake.add_member(GROUP_ID, member)

    await fake.send_message(chat, member, "/setlanguages en")
    assert "Only admins" in (await fake.wait_for("sendMessage")).plain

    for bad in ("/setlanguages", "/setlanguages xx", "/setlanguages english"):
        await fake.send_message(chat, admin, bad)
        assert "Usage: /setlanguages" in (await fake.wait_for("sendMessage")).plain, bad

    await fake.send_message(chat, admin, "/setlanguages NL, en nl")
    assert "nl, en" in (await fake.wait_for("sendMessage")).plain

    # in private there is no chat to set: a manager and a member are both answered
    manager = fake.user(MANAGER_ID, "Manager")
    for user in (manager, member):
        fake.start_bot(user)
        await fake.send_message(fake.private_chat(user), user, "/setlanguages en")
        reply = await fake.wait_for("sendMessage")
        assert "nl, en" not in reply.plain and reply.plain, reply.plain
