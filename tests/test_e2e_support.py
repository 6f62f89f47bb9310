"""End-to-end: the support desk as its staff and members meet it (cool-down, edits, /block)."""

from __future__ import annotations

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import RunningBot, make_env, settings_for


def last_in(fake: FakeTelegram, chat_id: int) -> dict:
    return fake.messages[(chat_id, max(m for c, m in fake.messages if c == chat_id))]


async def test_block_works_for_the_admins_of_a_configured_desk_after_its_upgrade(fake, tmp_path):
    """SUPPORT_CHAT_ID names a basic group that became a supergroup: its admins' /block there
    stops the member (before: "This command works in the support chat.", as the configured id
    was the old one), a member of the desk who is no admin is refused, and the staff's own
    questions there are not relayed to themselves."""
    staff_chat = fake.add_chat(-4055599, "group", title="Staff")
    env = make_env(fake, tmp_path, SUPPORT_CHAT_ID=str(staff_chat["id"]))
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    member, staff, helper = fake.user(41, "Bob"), fake.user(42, "Sam"), fake.user(43, "Hal")
    fake.add_member(staff_chat["id"], staff, "administrator")
    fake.add_member(staff_chat["id"], helper)
    await running.start()
    try:
        new = await fake.migrate_group(staff_chat["id"], staff)
        await running.idle()
        private = fake.private_chat(member)
        await fake.send_message(private, member, "Where can I leave my bike?")
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == new["id"])
        await running.idle()
        relay = last_in(fake, new["id"])
        await fake.send_message(new, helper, "/block", reply_to=relay)
        refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == new["id"])
        assert (
            refused.plain == "Only admins of this chat or Steward's managers can use this command."
        )
        await fake.send_message(new, staff, "/block", reply_to=relay)
        blocked = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == new["id"])
        assert blocked.plain.startswith("🚫 41 can no longer write to the team")
        await running.idle()
        mark = fake.mark()
        await fake.send_message(private, member, "hello???")
        await fake.send_message(new, helper, "does anyone know where the spare keys are?")
        await running.idle()
        await fake.assert_no_call("sendMessage", since=mark, within=0.2)
    finally:
        await running.stop()


GROUP = -1001234500088
SUPPORT = -1009999900088


@pytest.fixture
def bot_env(bot_env):
    bot_env["SUPPORT_CHAT_ID"] = str(SUPPORT)
    return bot_env


class Desk:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chat = fake.add_chat(GROUP, title="Venue chat", username="venue_chat")
        self.support = fake.add_chat(SUPPORT, title="Staff")
        self.member = fake.user(200, "Bob")
        self.staff = fake.user(400, "Sam")
        fake.add_member(GROUP, self.member)
        fake.add_member(SUPPORT, self.staff, "administrator")
        self.private = fake.private_chat(self.member)


@pytest.fixture
def desk(fake: FakeTelegram) -> Desk:
    return Desk(fake)


async def test_an_edited_question_is_followed_in_its_relay(steward, fake, desk):
    """A member who fixes their message after it went to the staff: the relay shows the new
    words (marked as edited) and "Add to FAQ" takes them; a photo's new caption comes as a new
    copy under the relay, which staff may answer (before: the staff saw the old words only)."""
    question = await fake.send_message(desk.chat, desk.member, "where is the cloak room please?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    relay = last_in(fake, SUPPORT)
    await fake.edit_message(question, "Where is the cloakroom for coats and bags?")
    edited = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == SUPPORT)
    assert edited["message_id"] == relay["message_id"]
    assert edited.plain.startswith("❓ #1 from Bob (id 200) in Venue chat:")
    assert f"https://t.me/venue_chat/{question['message_id']}" in edited.plain
    assert "Where is the cloakroom for coats and bags?" in edited.plain
    assert "cloak room" not in edited.plain
    assert "✏️ Edited by the member." in edited.plain
    await steward.idle()
    assert (await steward.app.support.ticket(1)).question == (
        "Where is the cloakroom for coats and bags?"
    )
    # a photo sent in private whose caption changed comes again under its relay
    photo = [{"file_id": "map", "file_unique_id": "umap", "width": 9, "height": 9}]
    shown = await fake.send_message(
        desk.private, desk.member, None, photo=photo, caption="how do I find the venue?"
    )
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == SUPPORT)
    await steward.idle()
    first_copy = last_in(fake, SUPPORT)
    mark = fake.mark()
    await fake.edit_message(shown, caption="how do I find the venue from the station?")
    again = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == SUPPORT, since=mark)
    assert again["message_id"] == shown["message_id"]
    await steward.idle()
    new_copy = last_in(fake, SUPPORT)
    assert new_copy["caption"] == "how do I find the venue from the station?"
    assert (SUPPORT, first_copy["message_id"]) not in fake.messages  # no stale copy to answer
    await fake.send_message(desk.support, desk.staff, "Take bus 5.", reply_to=new_copy)
    answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert answer["reply_parameters"]["message_id"] == shown["message_id"]


async def test_the_cool_down_is_per_member_and_says_so_where_it_bites(steward, fake, desk):
    """Five questions from one member reach the staff, wherever they were asked; the sixth,
    asked in the group, gets the member asked to wait there (before: nothing, and the member's
    next private message was dropped silently as "told already"); another member is not held
    up by them."""
    questions = [
        "where do I park my bike tonight?",
        "is there a cloakroom for my coat?",
        "can I bring my dog to the venue?",
    ]
    for text in questions:
        await fake.send_message(desk.chat, desk.member, text)
        await steward.idle()
    for text in ("Hi, I lost my scarf", "And my gloves too"):
        await fake.send_message(desk.private, desk.member, text)
        await steward.idle()
    relays = [c for c in fake.calls_of("sendMessage") if c["chat_id"] == SUPPORT]
    assert len(relays) == 5
    sixth = await fake.send_message(desk.chat, desk.member, "what time does the bar close?")
    told = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert told.plain.startswith("You have sent several messages in a short time.")
    assert told["reply_parameters"]["message_id"] == sixth["message_id"]
    await steward.idle()
    mark = fake.mark()
    await fake.send_message(desk.chat, desk.member, "what time does the kitchen close?")
    await fake.send_message(desk.private, desk.member, "hello???")
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, within=0.1)  # told once
    other = fake.user(201, "Carol")
    fake.add_member(GROUP, other)
    await fake.send_message(desk.chat, other, "where is the lost and found desk?")
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert relay.plain.startswith("❓ #6 from Carol")


async def test_an_edit_whose_relay_is_gone_comes_as_a_note(steward, fake, desk):
    """The relay can no longer be edited (a staff member deleted it): the new words still reach
    the desk, as a note, and a reply to the note answers the member."""
    question = await fake.send_message(desk.private, desk.member, "Where is my order 1234?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    del fake.messages[(SUPPORT, last_in(fake, SUPPORT)["message_id"])]
    await fake.edit_message(question, "Where is my order 1243?")
    note = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert note.plain == "✏️ Bob edited the message of #1:\nWhere is my order 1243?"
    await steward.idle()
    await fake.send_message(
        desk.support, desk.staff, "It ships today.", reply_to=last_in(fake, SUPPORT)
    )
    answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert answer["reply_parameters"]["message_id"] == question["message_id"]


async def test_the_owner_of_a_private_desk_who_is_no_manager_can_block(fake, tmp_path):
    """SUPPORT_CHAT_ID is the private chat of a helper who is no manager: they are the desk's
    staff, so /block and /unblock work there (before: "Here only Steward's managers can use
    this command"); a member in their own private chat, which is no desk, is refused as before."""
    env = make_env(fake, tmp_path, SUPPORT_CHAT_ID="77")
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    helper, member = fake.user(77, "Hal"), fake.user(41, "Bob")
    desk = fake.start_bot(helper)
    await running.start()
    try:
        private = fake.private_chat(member)
        await fake.send_message(private, member, "Where can I leave my bike?")
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 77)
        await running.idle()
        relay = last_in(fake, 77)
        await fake.send_message(desk, helper, "/block", reply_to=relay)
        blocked = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 77)
        assert blocked.plain.startswith("🚫 41 can no longer write to the team")
        await running.idle()
        mark = fake.mark()
        await fake.send_message(private, member, "hello???")
        await running.idle()
        await fake.assert_no_call("sendMessage", since=mark, within=0.2)
        await fake.send_message(desk, helper, "/unblock 41")
        unblocked = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 77)
        assert unblocked.plain == "✅ 41 can write to the team again."
        await fake.send_message(private, member, "/block 77")
        refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 41)
        assert refused.plain == (
            "Here only Steward's managers can use this command; chat admins use it in their group."
        )
    finally:
        await running.stop()
