"""End-to-end: the support desk as its staff and members meet it (cool-down, edits, /block)."""

from __future__ import annotations

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import RunningBot, make_env, settings_for
from tests.test_e2e_compose import send_album
from tests.test_e2e_posting import labelled


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


async def test_an_edited_part_of_a_relayed_album_is_copied_again(steward, fake, desk):
    """A member fixes the caption of one part of an album the staff have: the album is copied
    again under the relay with the new caption, the old copies go, the header shows the new
    words, and a reply to the new album answers (before: a part other than the first was not
    followed at all, and the first's edit changed the header only, leaving the old caption in
    the copy the staff read)."""
    parts = await send_album(fake, desk.private, desk.member, "trip")
    await fake.wait_for("copyMessages", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    header = max(m for (c, m), sent in fake.messages.items() if c == SUPPORT and "text" in sent)
    old_copies = [m for (c, m) in fake.messages if c == SUPPORT and m > header]
    assert len(old_copies) == 3
    mark = fake.mark()
    await fake.edit_message(parts[2], caption="Which of these is the main entrance?")
    again = await fake.wait_for("copyMessages", lambda c: c["chat_id"] == SUPPORT, since=mark)
    assert again["message_ids"] == [p["message_id"] for p in parts]
    await steward.idle()
    edited = [c for c in fake.calls_of("editMessageText", mark) if c["chat_id"] == SUPPORT]
    assert len(edited) == 1 and edited[0]["message_id"] == header
    assert "Which of these is the main entrance?" in edited[0].plain
    assert "✏️ Edited by the member." in edited[0].plain
    assert not any((SUPPORT, m) in fake.messages for m in old_copies)  # no stale album
    new_copies = sorted(m for (c, m) in fake.messages if c == SUPPORT and m > header)
    assert [fake.messages[(SUPPORT, m)].get("caption") for m in new_copies] == [
        "Our trip",
        None,
        "Which of these is the main entrance?",
    ]
    assert (await steward.app.support.ticket(1)).question == "Which of these is the main entrance?"
    # the first part's caption edited too: copied again once more, still one album
    mark = fake.mark()
    await fake.edit_message(parts[0], caption="Our trip to the venue")
    await fake.wait_for("copyMessages", lambda c: c["chat_id"] == SUPPORT, since=mark)
    await steward.idle()
    latest = sorted(m for (c, m) in fake.messages if c == SUPPORT and m > header)
    assert len(latest) == 3 and latest[0] > new_copies[-1]
    # a part without a caption changed (its photo replaced): the header keeps the question
    mark = fake.mark()
    await fake.edit_message(parts[1], caption="")
    await fake.wait_for("copyMessages", lambda c: c["chat_id"] == SUPPORT, since=mark)
    await steward.idle()
    assert "Our trip to the venue" in fake.messages[(SUPPORT, header)]["text"]
    latest = sorted(m for (c, m) in fake.messages if c == SUPPORT and m > header)
    await fake.send_message(
        desk.support, desk.staff, "Left one.", reply_to=fake.messages[(SUPPORT, latest[0])]
    )
    answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert answer["reply_parameters"]["message_id"] == parts[0]["message_id"]


async def test_a_staff_edit_of_a_delivered_answer_reaches_the_member(steward, fake, desk):
    """A staff member fixes their answer after it was delivered: the member's copy is edited
    to the new words (a caption too) and "Add to FAQ" takes them; a copy that can no longer be
    edited (the member deleted it) is not passed over in silence: the staff member is told
    (before: the member kept the old words and nobody knew)."""
    await fake.send_message(desk.private, desk.member, "Where is my order 1234?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    relay = last_in(fake, SUPPORT)
    answer = await fake.send_message(desk.support, desk.staff, "It ships today.", reply_to=relay)
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    await steward.idle()
    copy = last_in(fake, 200)
    assert copy["text"] == "It ships today."
    confirmation = last_in(fake, SUPPORT)
    mark = fake.mark()
    await fake.edit_message(answer, "It ships tomorrow, sorry.")
    edited = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == 200)
    assert edited["message_id"] == copy["message_id"]
    assert fake.messages[(200, copy["message_id"])]["text"] == "It ships tomorrow, sorry."
    await steward.idle()
    await fake.assert_no_call(  # nothing to tell when it went well
        "sendMessage", since=mark, within=0.1, predicate=lambda c: c["chat_id"] == SUPPORT
    )
    await fake.press_button(confirmation, desk.staff, labelled(confirmation, "Add to FAQ"))
    await fake.wait_for("editMessageText", lambda c: c["chat_id"] == SUPPORT)
    await steward.idle()
    entry = await steward.app.faq.repo.get(1)
    assert [a.text for a in entry.answers.values()] == ["It ships tomorrow, sorry."]
    # a photo answer whose caption is fixed
    await fake.send_message(desk.private, desk.member, "And where is the pickup point?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT and "pickup" in c.plain)
    await steward.idle()
    relay = last_in(fake, SUPPORT)
    photo = [{"file_id": "map", "file_unique_id": "umap", "width": 9, "height": 9}]
    shown = await fake.send_message(
        desk.support, desk.staff, None, photo=photo, caption="Here, gate 2", reply_to=relay
    )
    await fake.wait_for(
        "copyMessage", lambda c: c["chat_id"] == 200 and c["message_id"] == shown["message_id"]
    )
    await steward.idle()
    photo_copy = last_in(fake, 200)
    await fake.edit_message(shown, caption="Here, gate 3")
    recaptioned = await fake.wait_for("editMessageCaption", lambda c: c["chat_id"] == 200)
    assert recaptioned["message_id"] == photo_copy["message_id"]
    assert fake.messages[(200, photo_copy["message_id"])]["caption"] == "Here, gate 3"
    await steward.idle()
    # the member deleted the first answer: the staff member hears that the fix did not arrive
    del fake.messages[(200, copy["message_id"])]
    await fake.edit_message(answer, "It ships on Monday.")
    told = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert told["reply_parameters"]["message_id"] == answer["message_id"]
    assert told.plain.startswith("Could not change the answer Bob got")


async def test_a_reply_to_any_photo_of_a_relayed_album_answers(steward, fake, desk):
    """Staff reply to the third photo of a member's album copied to the desk: the answer
    reaches the member, and /block there names them (before: only a reply to the first photo
    counted; one to another was taken for staff chat and silently went nowhere)."""
    parts = await send_album(fake, desk.private, desk.member, "trip")
    await fake.wait_for("copyMessages", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    third = last_in(fake, SUPPORT)
    assert "caption" not in third
    await fake.send_message(desk.support, desk.staff, "Lovely view!", reply_to=third)
    delivered = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert delivered["reply_parameters"]["message_id"] == parts[0]["message_id"]
    await steward.idle()
    await fake.send_message(desk.support, desk.staff, "/block", reply_to=third)
    blocked = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert blocked.plain.startswith("🚫 200 can no longer write to the team")


async def test_a_blocked_member_cannot_reach_the_desk_by_editing(steward, fake, desk):
    """/block stops a member's messages, edits of those already relayed included (before: each
    edit of a blocked member's photo was copied to the desk again, a way round the block)."""
    photo = [{"file_id": "map", "file_unique_id": "umap", "width": 9, "height": 9}]
    shown = await fake.send_message(desk.private, desk.member, None, photo=photo, caption="hi")
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    header = max(m for (c, m), sent in fake.messages.items() if c == SUPPORT and "text" in sent)
    await fake.send_message(
        desk.support, desk.staff, "/block", reply_to=fake.messages[(SUPPORT, header)]
    )
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🚫 200"))
    await steward.idle()
    mark = fake.mark()
    await fake.edit_message(shown, caption="buy cheap followers at spam.example")
    await steward.idle()
    assert [c.method for c in fake.calls[mark:] if c.params.get("chat_id") == SUPPORT] == []


async def test_the_owner_of_a_private_desk_is_not_relayed_to_themselves(fake, tmp_path):
    """A helper (no manager) whose private chat is the desk writes there without replying to
    a relayed question: they are told how to answer, and their words are no ticket (before:
    "✉️ Sent to the team" and their own message relayed back to them as a member's question)."""
    env = make_env(fake, tmp_path, SUPPORT_CHAT_ID="77")
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    helper = fake.user(77, "Hal")
    desk = fake.start_bot(helper)
    await running.start()
    try:
        await fake.send_message(desk, helper, "Where do the spare keys go?")
        told = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 77)
        assert told.plain == (
            "This chat is the support desk: reply to a relayed question to answer its member."
        )
        await running.idle()
        assert await running.app.db.fetchall("SELECT id FROM support_tickets") == []
    finally:
        await running.stop()


async def test_a_note_under_a_gone_relay_still_answers_after_an_album_is_copied_again(
    steward, fake, desk
):
    """The relay of an album can no longer be edited (a staff member deleted it): an edited
    part comes as a note and the album is copied again; a reply to the note answers the member,
    as one to the new copies does (before: the re-copied album took the note's place, and a
    reply to the note reached nobody)."""
    parts = await send_album(fake, desk.private, desk.member, "trip")
    await fake.wait_for("copyMessages", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    header = max(m for (c, m), sent in fake.messages.items() if c == SUPPORT and "text" in sent)
    del fake.messages[(SUPPORT, header)]
    mark = fake.mark()
    await fake.edit_message(parts[1], caption="Which door is the main entrance?")
    note = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=mark)
    assert note.plain.startswith("✏️ Bob edited the message of #1:")
    await fake.wait_for("copyMessages", lambda c: c["chat_id"] == SUPPORT, since=mark)
    await steward.idle()
    note_message = next(
        sent
        for (c, m), sent in fake.messages.items()
        if c == SUPPORT and sent.get("text", "").startswith("✏️ Bob edited")
    )
    await fake.send_message(desk.support, desk.staff, "The left one.", reply_to=note_message)
    answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert answer["reply_parameters"]["message_id"] == parts[0]["message_id"]
    await steward.idle()
    # a reply to a part of the new album answers too
    copies = sorted(
        m for (c, m) in fake.messages if c == SUPPORT and m > note_message["message_id"]
    )
    mark = fake.mark()
    await fake.send_message(
        desk.support, desk.staff, "Or the right one.", reply_to=fake.messages[(SUPPORT, copies[1])]
    )
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200, since=mark)


async def test_a_reply_to_the_delivered_confirmation_reaches_the_same_member(steward, fake, desk):
    """Staff answer a follow-up by replying to the bot's "✅ Delivered to Bob." (what they see
    last): it reaches Bob under his question, and is confirmed in turn; /block there names him
    too (before: the reply was taken for staff chat and went nowhere)."""
    question = await fake.send_message(desk.private, desk.member, "Where is my order 1234?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    await fake.send_message(
        desk.support, desk.staff, "It ships today.", reply_to=last_in(fake, SUPPORT)
    )
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    await steward.idle()
    confirmation = last_in(fake, SUPPORT)
    assert confirmation["text"] == "✅ Delivered to Bob."
    mark = fake.mark()
    await fake.send_message(desk.support, desk.staff, "Tracking: AB123.", reply_to=confirmation)
    follow_up = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200, since=mark)
    assert follow_up["reply_parameters"]["message_id"] == question["message_id"]
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=mark)
    assert again.plain == "✅ Delivered to Bob."
    await steward.idle()
    assert last_in(fake, 200)["text"] == "Tracking: AB123."
    await fake.send_message(desk.support, desk.staff, "/block", reply_to=confirmation)
    blocked = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🚫"), since=mark)
    assert blocked.plain.startswith("🚫 200 can no longer write to the team")


async def test_staff_edits_reach_a_member_whose_group_was_upgraded(steward, fake, desk):
    """A member asked in a basic group that became a supergroup. An answer delivered after the
    upgrade (the bot learnt of it from the refused send) lands in the new chat, and a staff edit
    of it edits that copy; an answer delivered before the upgrade stays behind in the old chat,
    which takes no calls, so the staff edit comes to the member in the new chat as a new
    message (before: neither was passed on; the staff were told it could not be done)."""
    basic = fake.add_chat(-4055500088, "group", title="Club")
    fake.add_member(basic["id"], desk.member)
    await fake.send_message(basic, desk.member, "where do I leave my bike tonight?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    relay = last_in(fake, SUPPORT)
    await fake.send_message(basic, desk.member, "and is there a cloakroom for coats?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT and "cloakroom" in c.plain)
    await steward.idle()
    second_relay = last_in(fake, SUPPORT)
    early = await fake.send_message(desk.support, desk.staff, "By the gate.", reply_to=second_relay)
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == basic["id"])
    await steward.idle()
    new = await fake.migrate_group(basic["id"], desk.member, deliver=False)  # bot not told
    answer = await fake.send_message(desk.support, desk.staff, "At the back.", reply_to=relay)
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == new["id"])
    await steward.idle()
    copy = last_in(fake, new["id"])
    assert copy["text"] == "At the back."
    mark = fake.mark()
    await fake.edit_message(answer, "At the back, by the bins.")
    edited = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == new["id"], since=mark)
    assert edited["message_id"] == copy["message_id"]
    await steward.idle()
    assert fake.messages[(new["id"], copy["message_id"])]["text"] == "At the back, by the bins."
    await fake.assert_no_call(
        "sendMessage", since=mark, within=0.1, predicate=lambda c: c["chat_id"] == SUPPORT
    )
    # the answer given before the upgrade: its fix comes as a new message in the new chat
    mark = fake.mark()
    await fake.edit_message(early, "By the gate, left side.")
    again = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == new["id"], since=mark)
    assert again["message_id"] == early["message_id"]
    await steward.idle()
    fixed = last_in(fake, new["id"])
    assert fixed["text"] == "By the gate, left side."
    await fake.assert_no_call(
        "sendMessage", since=mark, within=0.1, predicate=lambda c: c["chat_id"] == SUPPORT
    )
    # and a further fix edits that new message
    mark = fake.mark()
    await fake.edit_message(early, "By the gate, right side.")
    edited = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == new["id"], since=mark)
    assert edited["message_id"] == fixed["message_id"]


async def test_a_note_under_a_gone_relay_answers_beside_a_new_copy_of_a_photo(steward, fake, desk):
    """A photo's relay was deleted by a staff member, then its member fixed the caption: the
    note and the photo copied again both answer (before: the new copy took the note's place,
    and a reply to the note reached nobody); the photo comes under the note, not under the
    deleted header."""
    photo = [{"file_id": "map", "file_unique_id": "umap", "width": 9, "height": 9}]
    shown = await fake.send_message(
        desk.private, desk.member, None, photo=photo, caption="how do I find the venue?"
    )
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    header = max(m for (c, m), sent in fake.messages.items() if c == SUPPORT and "text" in sent)
    del fake.messages[(SUPPORT, header)]
    mark = fake.mark()
    await fake.edit_message(shown, caption="how do I find the venue from the station?")
    note = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=mark)
    copied = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == SUPPORT, since=mark)
    await steward.idle()
    note_message = next(
        sent
        for (c, m), sent in fake.messages.items()
        if c == SUPPORT and sent.get("text", "").startswith("✏️ Bob edited")
    )
    assert note.plain.startswith("✏️ Bob edited the message of #1:")
    assert copied["reply_parameters"]["message_id"] == note_message["message_id"]
    await fake.send_message(desk.support, desk.staff, "Take bus 5.", reply_to=note_message)
    answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert answer["reply_parameters"]["message_id"] == shown["message_id"]
    await steward.idle()
    mark = fake.mark()
    new_copy = max(m for (c, m), sent in fake.messages.items() if c == SUPPORT and "photo" in sent)
    await fake.send_message(
        desk.support, desk.staff, "Or a taxi.", reply_to=fake.messages[(SUPPORT, new_copy)]
    )
    await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200, since=mark)
