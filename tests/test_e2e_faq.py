"""End-to-end FAQ: managing entries, answering in groups, translations, the support relay."""

from __future__ import annotations

import json

import pytest

from storage.faq import Answer
from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, RunningBot, make_env, settings_for
from tests.test_e2e_compose import send_album
from tests.test_e2e_posting import labelled

GROUP = -1001234500077
SUPPORT = -1009999900077


@pytest.fixture
def bot_env(bot_env):
    bot_env["SUPPORT_CHAT_ID"] = str(SUPPORT)
    return bot_env


class Community:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chat = fake.add_chat(GROUP, title="Venue chat", username="venue_chat")
        self.support = fake.add_chat(SUPPORT, title="Staff")
        self.admin = fake.user(100, "Alice")
        self.member = fake.user(200, "Bob")
        self.russian = fake.user(300, "Ivan", language_code="ru")
        self.staff = fake.user(400, "Sam")
        self.other = fake.user(500, "Carol")
        fake.add_member(GROUP, self.admin, "administrator")
        for user in (self.member, self.russian, self.other):
            fake.add_member(GROUP, user)
        fake.add_member(SUPPORT, self.staff, "administrator")

    async def say(self, user, text, **kw):
        return await self.fake.send_message(self.chat, user, text, **kw)


@pytest.fixture
def venue(fake: FakeTelegram) -> Community:
    return Community(fake)


HOURS = (
    "/faq_add What are your opening hours?; When are you open? | "
    "We are open every day from 9:00 to 18:00."
)


async def add_hours(fake, steward, venue) -> None:
    await venue.say(venue.admin, HOURS)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("✅ FAQ entry #1 added (en, this chat)")
    await steward.idle()


async def test_admin_adds_and_member_is_refused(steward, fake, venue):
    await venue.say(venue.member, HOURS)
    refusal = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refusal.plain == "Only admins of this chat or Steward's managers can use this command."
    await add_hours(fake, steward, venue)
    await venue.say(venue.admin, "/faq_add no answer here")
    usage = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert usage.plain.startswith("Usage: /faq_add <question>")
    entries = await steward.app.faq.repo.visible_in(GROUP)
    assert [e.phrasings_in("en") for e in entries] == [
        ["What are your opening hours?", "When are you open?"]
    ]


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_paraphrase_gets_the_answer_as_a_reply_with_feedback(steward, fake, venue):
    await add_hours(fake, steward, venue)
    question = await venue.say(venue.member, "what time are you open on saturday?")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert answer.plain == "We are open every day from 9:00 to 18:00."
    assert answer["reply_parameters"]["message_id"] == question["message_id"]
    buttons = [b["text"] for b in answer["reply_markup"]["inline_keyboard"][0]]
    assert buttons == ["👍", "👎"]
    await steward.idle()
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(message, venue.member, labelled(message, "👍"))
    thanks = await fake.wait_for("answerCallbackQuery")
    assert thanks["text"] == "Thanks for the feedback!"
    await fake.press_button(message, venue.member, labelled(message, "👍"))  # counted once
    await steward.idle()
    [entry] = await steward.app.faq.repo.visible_in(GROUP)
    assert (entry.up, entry.down) == (1, 0)


async def test_russian_question_gets_the_russian_translation(steward, fake, venue):
    await add_hours(fake, steward, venue)
    await venue.say(
        venue.admin,
        "/faq_edit 1 ru: Когда вы работаете?; Какие часы работы? | Мы открыты с 9 до 18.",
    )
    updated = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert updated.plain == "✏️ FAQ entry #1 updated (ru)."
    await steward.idle()
    await venue.say(venue.russian, "Во сколько вы работаете в субботу?")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert answer.plain == "Мы открыты с 9 до 18."
    # an English speaker asking the same entry still gets English
    await venue.say(venue.member, "when are you open tomorrow?")
    english = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert english.plain == "We are open every day from 9:00 to 18:00."
    # what the FAQ cannot answer reaches the staff in the staff chat's language, not the asker's
    await venue.say(venue.russian, "Где можно оставить пальто и сумки?")
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert relay.plain.startswith("❓ #1 from Ivan (id 300) in Venue chat:\nГде можно")
    assert relay.plain.endswith(
        "Reply to this message to answer; /block to stop this member's messages."
    )


async def test_chit_chat_gets_nothing(steward, fake, venue):
    await add_hours(fake, steward, venue)
    mark = fake.mark()
    for line in ("good morning everyone", "anyone watching the match tonight?", "lol same"):
        await venue.say(venue.member, line)
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, predicate=lambda c: c["chat_id"] == GROUP)


async def test_repeat_within_cooldown_links_the_previous_answer(steward, fake, venue):
    await add_hours(fake, steward, venue)
    await venue.say(venue.member, "what are the opening hours?")
    first = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert first.plain.startswith("We are open")
    await steward.idle()
    answer_id = max(m for c, m in fake.messages if c == GROUP)
    await venue.say(venue.other, "when are you open?")
    second = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert second.plain == (
        f"☝️ I answered this a few minutes ago: https://t.me/venue_chat/{answer_id}"
    )
    await steward.idle()
    answers = [c for c in fake.calls_of("sendMessage") if c.plain.startswith("We are open")]
    assert len(answers) == 1


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_unanswered_question_goes_to_staff_and_back_then_into_the_faq(steward, fake, venue):
    await add_hours(fake, steward, venue)
    question = await venue.say(venue.member, "is there a cloakroom for coats and bags?")
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert relay.plain.startswith("❓ #1 from Bob (id 200) in Venue chat:")
    assert "is there a cloakroom for coats and bags?" in relay.plain
    assert f"https://t.me/venue_chat/{question['message_id']}" in relay.plain
    await steward.idle()
    relay_message = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    staff_answer = await fake.send_message(
        venue.support,
        venue.staff,
        "Yes, the cloakroom is next to the entrance.",
        reply_to=relay_message,
    )
    delivered = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == GROUP)
    assert delivered["from_chat_id"] == SUPPORT
    assert delivered["message_id"] == staff_answer["message_id"]
    assert delivered["reply_parameters"]["message_id"] == question["message_id"]
    confirm = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert confirm.plain == "✅ Delivered to Bob."
    await steward.idle()
    confirmation = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    await fake.press_button(confirmation, venue.staff, labelled(confirmation, "Add to FAQ"))
    added = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == SUPPORT)
    assert added.plain == "✅ Delivered and added to the FAQ as #2."
    await steward.idle()
    # the same question is answered by the bot next time, not relayed again
    mark = fake.mark()
    await venue.say(venue.russian, "is there a cloakroom for coats and bags?")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert answer.plain == "Yes, the cloakroom is next to the entrance."
    await steward.idle()
    await fake.assert_no_call(
        "sendMessage", since=mark, within=0.1, predicate=lambda c: c["chat_id"] == SUPPORT
    )
    # a staff member posting anonymously (as the support group) answers like anyone else
    await venue.say(venue.member, "can I bring my dog to the venue?")
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    await steward.idle()
    relay_message = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    anonymous = fake.user(1087968824, "Group", is_bot=True, language_code=None)
    await fake.send_message(
        venue.support,
        anonymous,
        "Dogs are welcome.",
        reply_to=relay_message,
        sender_chat=venue.support,
    )
    delivered = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == GROUP)
    assert delivered["from_chat_id"] == SUPPORT
    confirm = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert confirm.plain == "✅ Delivered to Bob."


async def test_private_messages_are_relayed_and_staff_can_block(steward, fake, venue):
    private = fake.private_chat(venue.member)
    await fake.send_message(private, venue.member, "Hi, I lost my scarf yesterday")
    ack = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 200)
    assert ack.plain == "✉️ Sent to the team. Their answer will come here."
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    assert "in private" in relay.plain and "lost my scarf" in relay.plain
    await steward.idle()
    relay_message = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    # a message as long as Telegram allows reaches the staff whole, under the relay's header
    long = await fake.send_message(private, venue.member, "My order story: " + "é" * 4080)
    ack = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 200)
    assert ack.plain == "✉️ Sent to the team. Their answer will come here."
    copied = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == SUPPORT)
    assert (copied["from_chat_id"], copied["message_id"]) == (200, long["message_id"])
    await steward.idle()
    # staff may answer by replying to that copy as well as to the header
    copy = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    assert copy["text"] == long["text"]
    await fake.send_message(venue.support, venue.staff, "Sorry about that!", reply_to=copy)
    answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert answer["reply_parameters"]["message_id"] == long["message_id"]
    await steward.idle()
    await fake.send_message(
        venue.support, venue.staff, "We have it, come by!", reply_to=relay_message
    )
    delivered = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert delivered["from_chat_id"] == SUPPORT
    await steward.idle()
    await fake.send_message(venue.support, venue.staff, "/block", reply_to=relay_message)
    blocked = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert blocked.plain.startswith("🚫 200 can no longer write to the team")
    await steward.idle()
    mark = fake.mark()
    await fake.send_message(private, venue.member, "hello???")
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, within=0.1)
    await fake.send_message(venue.support, venue.staff, "/unblock 200")
    unblocked = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert unblocked.plain == "✅ 200 can write to the team again."
    await fake.send_message(venue.support, venue.staff, "/unblock 200")
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert again.plain == "200 was not blocked."


async def test_relay_rate_limit(steward, fake, venue):
    private = fake.private_chat(venue.member)
    for n in range(9):
        await fake.send_message(private, venue.member, f"message number {n}")
        await steward.idle()
    replies = [c.plain for c in fake.calls_of("sendMessage") if c["chat_id"] == 200]
    assert replies[:5] == ["✉️ Sent to the team. Their answer will come here."] * 5
    assert replies[5].startswith("You have sent several messages in a short time.")
    assert len(replies) == 6  # told once: a flood is not answered message by message
    assert len([c for c in fake.calls_of("sendMessage") if c["chat_id"] == SUPPORT]) == 5


async def test_export_import_round_trip_loses_nothing(steward, fake, venue):
    await add_hours(fake, steward, venue)
    await venue.say(venue.admin, "/faq_edit 1 ru: Когда вы работаете? | Мы открыты с 9 до 18.")
    await steward.idle()
    await venue.say(venue.admin, "/faq_add Where can I park?; Is there parking? | Behind the hall.")
    await steward.idle()
    await venue.say(venue.member, "/faq where can I park")  # a member's 👍 is kept too
    await fake.wait_for("sendMessage", lambda c: c.plain == "Behind the hall.")
    await steward.idle()
    answer = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(answer, venue.member, labelled(answer, "👍"))
    await fake.wait_for("answerCallbackQuery")
    await steward.idle()
    before = await steward.app.faq.repo.visible_in(GROUP)
    assert [(e.up, e.down) for e in before] == [(0, 0), (1, 0)]
    await venue.say(venue.admin, "/faq_export")
    exported = await fake.wait_for("sendDocument")
    assert exported["caption"].startswith("2 FAQ entries.")
    await steward.idle()
    document_message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    file_id = document_message["document"]["file_id"]
    data = json.loads(fake.files[file_id][1])
    assert [e["id"] for e in data["entries"]] == [1, 2]
    assert data["entries"][0]["answers"]["ru"] == "Мы открыты с 9 до 18."
    # wipe the FAQ, then load the file back
    for entry in before:
        await venue.say(venue.admin, f"/faq_del {entry.id}")
        await steward.idle()
    assert await steward.app.faq.repo.visible_in(GROUP) == []
    await venue.say(venue.admin, "/faq_import", reply_to=document_message)
    report = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == GROUP and "FAQ import" in c.plain
    )
    assert report.plain == "📥 FAQ import: 2 added, 0 changed, 0 unchanged, 0 rejected."
    after = await steward.app.faq.repo.visible_in(GROUP)
    strip = [(e.language, sorted(e.phrasings), e.answers, e.up, e.down) for e in after]
    assert strip == [(e.language, sorted(e.phrasings), e.answers, e.up, e.down) for e in before]
    # importing the same file again changes nothing
    await venue.say(venue.admin, "/faq_import", reply_to=document_message)
    again = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == GROUP and "FAQ import" in c.plain
    )
    assert again.plain == "📥 FAQ import: 0 added, 0 changed, 2 unchanged, 0 rejected."


async def test_csv_import_reports_what_it_rejected(steward, fake, venue):
    private = fake.private_chat(fake.user(MANAGER_ID, "Manny"))
    manager = fake.user(MANAGER_ID, "Manny")
    csv_text = (
        "question,answer,language\n"
        "How much is a ticket?,Tickets cost 10 euro.,en\n"
        "What does a ticket cost?,Tickets cost 10 euro.,en\n"
        "Сколько стоит билет?,Билет стоит 10 евро.,ru\n"
        ",no question,en\n"
        "Wie viel kostet das?,Zehn Euro.,de\n"
    ).encode()
    document = fake.add_file("csv1", csv_text, "documents/faq.csv")
    document["file_name"] = "faq.csv"
    upload = await fake.send_message(private, manager, None, document=document)
    await steward.idle()
    await fake.send_message(private, manager, "/faq_import", reply_to=upload)
    report = await fake.wait_for("sendMessage", lambda c: "FAQ import" in c.plain)
    assert report.plain.splitlines() == [
        "📥 FAQ import: 2 added, 0 changed, 0 unchanged, 2 rejected.",
        "• line 5: no question or no answer",
        "• line 6: a language this bot does not speak",
    ]
    entries = await steward.app.faq.repo.visible_in(None)
    assert sorted(len(e.phrasings) for e in entries) == [1, 2]
    assert all(e.chat_id is None for e in entries)  # a manager's import in private is global


async def test_faq_command_lists_topics_and_answers(steward, fake, venue):
    await add_hours(fake, steward, venue)
    await venue.say(venue.member, "/faq")
    topics = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert topics.plain.splitlines()[1:] == ["#1 What are your opening hours?"]
    await venue.say(venue.member, "/faq opening hours")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert answer.plain.startswith("We are open")
    await venue.say(venue.member, "/faq quantum physics")
    nothing = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert nothing.plain == "I found nothing in the FAQ that fits. Try other words."


async def test_delete_has_an_undo(steward, fake, venue):
    await add_hours(fake, steward, venue)
    await venue.say(venue.admin, "/faq_del 1")
    deleted = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert deleted.plain.startswith("🗑 FAQ entry #1 deleted")
    await steward.idle()
    assert await steward.app.faq.repo.visible_in(GROUP) == []
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(message, venue.member, labelled(message, "Undo"))
    refused = await fake.wait_for("answerCallbackQuery")
    assert refused.get("show_alert") is True
    await fake.press_button(message, venue.admin, labelled(message, "Undo"))
    await fake.wait_for("editMessageText", lambda c: "restored" in c.plain)
    assert len(await steward.app.faq.repo.visible_in(GROUP)) == 1


async def test_answer_can_be_a_media_message(steward, fake, venue):
    photo = [{"file_id": "map", "file_unique_id": "umap", "width": 9, "height": 9}]
    source = await venue.say(venue.admin, None, photo=photo, caption="Here is the map")
    await steward.idle()
    await venue.say(
        venue.admin, "/faq_add Where is the venue?; How do I find you?", reply_to=source
    )
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await steward.idle()
    await venue.say(venue.member, "how do I find the venue?")
    copied = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == GROUP)
    assert copied["from_chat_id"] == GROUP and copied["message_id"] == source["message_id"]
    assert copied["reply_markup"]["inline_keyboard"][0][0]["text"] == "👍"


async def test_did_you_mean_offers_close_entries_to_the_asker(steward, fake, venue):
    await venue.say(venue.admin, "/faq_add Where can I park?; Is there parking? | Behind the hall.")
    await venue.say(
        venue.admin,
        "/faq_add Where is the entrance? | The entrance is on the left side of the hall.",
    )
    await steward.idle()
    question = await venue.say(venue.member, "how do I get into the hall?")
    offer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert offer.plain == "🤔 Did you mean…"
    titles = [row[0]["text"] for row in offer["reply_markup"]["inline_keyboard"]]
    assert "Where is the entrance?" in titles  # the lexical matcher offers parking too
    await steward.idle()
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(message, venue.other, labelled(message, "entrance"))
    refused = await fake.wait_for("answerCallbackQuery")
    assert refused["text"] == "These suggestions are for the member who asked."
    await fake.press_button(message, venue.member, labelled(message, "entrance"))
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert answer.plain == "The entrance is on the left side of the hall."
    assert answer["reply_parameters"]["message_id"] == question["message_id"]
    removed = await fake.wait_for("deleteMessage")
    assert removed["message_id"] == message["message_id"]
    # the pick taught the FAQ this wording: the next member asking it gets the answer
    await steward.idle()
    entrance = await steward.app.faq.repo.get(2)
    assert entrance.phrasings_in("en") == ["Where is the entrance?", "how do I get into the hall?"]
    await venue.say(venue.other, "how do I get into the hall?")
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert again.plain.startswith("☝️ I answered this a few minutes ago")


async def test_support_chat_can_be_a_private_chat(fake, tmp_path):
    env = make_env(fake, tmp_path, SUPPORT_CHAT_ID=str(MANAGER_ID))
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    venue = Community(fake)
    manager = fake.user(MANAGER_ID, "Manny")
    desk = fake.start_bot(manager)  # a private support chat is one whose owner started the bot
    await running.start()
    try:
        await venue.say(venue.member, "is there a cloakroom for coats and bags?")
        relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
        assert relay.plain.startswith("❓ #1 from Bob")
        await running.idle()
        relay_message = fake.messages[
            (MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))
        ]
        await fake.send_message(desk, manager, "Next to the entrance.", reply_to=relay_message)
        delivered = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == GROUP)
        assert delivered["from_chat_id"] == MANAGER_ID
        await running.idle()
        assert await running.app.db.fetchall("SELECT id FROM drafts") == []  # not a post
        # the desk's owner can stop a flooding member from there too
        await fake.send_message(desk, manager, "/block", reply_to=relay_message)
        blocked = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
        assert blocked.plain.startswith("🚫 200 can no longer write to the team")
        await fake.send_message(desk, manager, "/unblock 200")
        unblocked = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
        assert unblocked.plain == "✅ 200 can write to the team again."
    finally:
        await running.stop()


async def test_media_answer_whose_message_was_deleted_goes_to_staff(steward, fake, venue):
    photo = [{"file_id": "map", "file_unique_id": "umap", "width": 9, "height": 9}]
    source = await venue.say(venue.admin, None, photo=photo, caption="Here is the map")
    await steward.idle()
    await venue.say(
        venue.admin, "/faq_add Where is the venue?; How do I find you?", reply_to=source
    )
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await steward.idle()
    del fake.messages[(GROUP, source["message_id"])]  # an admin deleted the map message
    await venue.say(venue.member, "how do I find the venue?")
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert "how do I find the venue?" in relay.plain
    await venue.say(venue.member, "/faq where is the venue")
    notice = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert notice.plain.startswith("The answer of FAQ entry #1 is no longer available")


async def test_answer_to_a_member_who_blocked_the_bot_is_reported_to_staff(steward, fake, venue):
    private = fake.private_chat(venue.member)
    await fake.send_message(private, venue.member, "Where is my order?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=0)
    await steward.idle()
    fake.block_bot(venue.member["id"])
    relay_message = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    await fake.send_message(venue.support, venue.staff, "It ships today.", reply_to=relay_message)
    told = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert told.plain == "Could not deliver the answer: Bob has blocked me."
    await steward.idle()
    assert len(fake.calls_of("copyMessage")) == 1  # tried once, not retried
    assert await steward.app.users.private_status(venue.member["id"]) == "blocked"


async def test_ids_of_no_entry_here_are_refused_by_name(steward, fake, venue):
    """Another chat's entry, a shared one, one that never existed, one too big for any
    database integer: each gets its own answer, never an apology."""
    other = fake.add_chat(-1001234500088, title="Other chat")
    dave = fake.user(600, "Dave")
    fake.add_member(-1001234500088, dave, "administrator")
    await fake.send_message(other, dave, "/faq_add Where is the bar? | Upstairs.")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    manager = fake.user(MANAGER_ID, "Manny")
    await fake.send_message(fake.private_chat(manager), manager, "/faq_add What is this? | A bot.")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #2"))
    await steward.idle()
    HUGE = "9" * 23
    for command, expected in [
        ("/faq_edit 1 | hijacked", "There is no FAQ entry #1 here."),
        ("/faq_del 1", "There is no FAQ entry #1 here."),
        ("/faq_del 2", "Only Steward's managers can change entries shared by all chats."),
        ("/faq_del 77", "There is no FAQ entry #77 here."),
        (f"/faq_del {HUGE}", f"There is no FAQ entry #{HUGE} here."),
        (f"/faq_edit #{HUGE} | x", f"There is no FAQ entry #{HUGE} here."),
        ("/faq_del first", "Usage: /faq_del <id>"),
    ]:
        await venue.say(venue.admin, command)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        assert reply.plain == expected, command
        await steward.idle()
    assert [e.answers["en"].text for e in await steward.app.faq.repo.all_live()] == [
        "Upstairs.",
        "A bot.",
    ]


async def upload(fake, chat, user, file_id: str, name: str, content: bytes):
    """A document message with `content` as the file `name`, for /faq_import to reply to."""
    document = fake.add_file(file_id, content, f"documents/{file_id}/{name}")
    document["file_name"] = name
    return await fake.send_message(chat, user, None, document=document)


async def import_report(fake, steward, venue, document_message) -> str:
    await venue.say(venue.admin, "/faq_import", reply_to=document_message)
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    await steward.idle()
    return report.plain


async def test_import_rejects_broken_entries_of_a_json_file(steward, fake, venue):
    entries = [
        {"phrasings": {"en": ["Where is the map?"]}, "answers": {"en": ""}, "answer_messages": m}
        for m in ({"en": {"chat": 1}}, {"en": "5"}, {"en": {"chat_id": "x", "message_id": 1}})
    ]
    entries.append({"phrasings": {"en": ["Is there wifi?"]}, "answers": {"en": "Yes."}})
    document = await upload(
        fake, venue.chat, venue.admin, "j1", "faq.json", json.dumps({"entries": entries}).encode()
    )
    assert (await import_report(fake, steward, venue, document)).splitlines() == [
        "📥 FAQ import: 1 added, 0 changed, 0 unchanged, 3 rejected.",
        "• #1: not an FAQ entry",
        "• #2: not an FAQ entry",
        "• #3: not an FAQ entry",
    ]


async def test_imported_answers_with_html_special_characters_are_sent(steward, fake, venue):
    """A CSV is written by hand: "<" and "&" there are letters unless they make Telegram
    HTML; either way the answer must reach the member as written."""
    csv_text = (
        b"question,answer,language\n"
        b"Is the ticket under 5 euro?,Yes: < 5 euro & kids go free,en\n"
        b"Is there a dress code?,<b>No</b> dress code & no rules,en\n"
    )
    document = await upload(fake, venue.chat, venue.admin, "c1", "faq.csv", csv_text)
    report = await import_report(fake, steward, venue, document)
    assert report == "📥 FAQ import: 2 added, 0 changed, 0 unchanged, 0 rejected."
    await venue.say(venue.member, "/faq ticket under 5 euro")
    price = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert price["text"] == "Yes: &lt; 5 euro &amp; kids go free"  # plain text
    await venue.say(venue.member, "/faq dress code")
    dress = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert dress["text"] == "<b>No</b> dress code &amp; no rules"  # the formatting kept
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage") if c.plain.startswith("Sorry")]


@pytest.mark.parametrize("command", ["/faq_export", "/faq_export csv"])
async def test_manager_round_trip_keeps_every_entry_in_its_chat(steward, fake, venue, command):
    """A manager's export in private holds every chat's entries and the shared ones; loading
    it back puts each where it was, and two chats' entries with the same wording stay two;
    the CSV as the JSON."""
    other = fake.add_chat(-1001234500088, title="Other chat")
    manager = fake.user(MANAGER_ID, "Manny")
    desk = fake.private_chat(manager)
    await add_hours(fake, steward, venue)
    await fake.send_message(other, manager, "/faq_add What are your opening hours? | From 20:00.")
    await steward.idle()
    await fake.send_message(desk, manager, "/faq_add What is Steward? | A <b>bot</b>.")
    await steward.idle()
    before = await steward.app.faq.repo.all_live()
    assert [e.chat_id for e in before] == [GROUP, -1001234500088, None]
    await fake.send_message(desk, manager, command)
    await fake.wait_for("sendDocument")
    await steward.idle()
    exported = fake.messages[(MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))]
    for entry in before:
        await fake.send_message(desk, manager, f"/faq_del {entry.id}")
        await steward.idle()
    for expected in (
        "📥 FAQ import: 3 added, 0 changed, 0 unchanged, 0 rejected.",
        "📥 FAQ import: 0 added, 0 changed, 3 unchanged, 0 rejected.",
    ):
        await fake.send_message(desk, manager, "/faq_import", reply_to=exported)
        report = await fake.wait_for("sendMessage", lambda c: "FAQ import" in c.plain)
        assert report.plain == expected
        await steward.idle()
    after = await steward.app.faq.repo.all_live()
    assert [(e.chat_id, e.phrasings, e.answers) for e in after] == [
        (e.chat_id, e.phrasings, e.answers) for e in before
    ]


async def test_an_admin_cannot_import_answers_from_chats_they_do_not_run(steward, fake, venue):
    """A media answer is copied from its message on every answer: an admin's file must not
    name a message of the staff chat (or any chat they do not run) for the bot to repost."""
    secret = await fake.send_message(venue.support, venue.staff, "Door code is 4711")
    photo = [{"file_id": "map", "file_unique_id": "umap", "width": 9, "height": 9}]
    own = await venue.say(venue.admin, None, photo=photo, caption="Here is the map")
    await steward.idle()

    def entry(question: str, chat_id: int, message_id: int) -> dict:
        where = {"en": {"chat_id": chat_id, "message_id": message_id}}
        return {"phrasings": {"en": [question]}, "answers": {"en": ""}, "answer_messages": where}

    data = {
        "entries": [
            entry("What is the door code?", SUPPORT, secret["message_id"]),
            entry("Where is the map?", GROUP, own["message_id"]),
        ]
    }
    document = await upload(
        fake, venue.chat, venue.admin, "j2", "faq.json", json.dumps(data).encode()
    )
    assert (await import_report(fake, steward, venue, document)).splitlines() == [
        "📥 FAQ import: 1 added, 0 changed, 0 unchanged, 1 rejected.",
        "• #1: its answer is a message in a chat you do not run",
    ]
    [added] = await steward.app.faq.repo.visible_in(GROUP)
    assert added.phrasings == [("en", "Where is the map?")]
    mark = fake.mark()
    await venue.say(venue.member, "/faq door code")
    await steward.idle()
    assert not [c for c in fake.calls_of("copyMessage", since=mark) if c["from_chat_id"] == SUPPORT]


async def test_what_faq_add_accepts_survives_export_and_import(steward, fake, venue):
    """The import takes back everything /faq_add stores: a wording too long for the import is
    refused at once, and an answer's length counts what members read, not its HTML tags."""
    await venue.say(venue.admin, f"/faq_add {'why ' * 80}? | Because.")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refused.plain == "A question may have at most 300 characters."
    await steward.idle()
    command = "/faq_add What is on the menu? | "
    answer = "dish " * 800  # 4,000 characters, each word bold: 11,200 of HTML
    entities = [{"type": "bot_command", "offset": 0, "length": 8}] + [
        {"type": "bold", "offset": len(command) + 5 * n, "length": 4} for n in range(800)
    ]
    await venue.say(venue.admin, command + answer, entities=entities)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await steward.idle()
    [before] = await steward.app.faq.repo.visible_in(GROUP)
    assert before.answers["en"].text.startswith("<b>dish</b> <b>dish</b>")
    await venue.say(venue.admin, "/faq_export")
    await fake.wait_for("sendDocument")
    await steward.idle()
    exported = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await venue.say(venue.admin, "/faq_del 1")
    await steward.idle()
    report = await import_report(fake, steward, venue, exported)
    assert report == "📥 FAQ import: 1 added, 0 changed, 0 unchanged, 0 rejected."
    [after] = await steward.app.faq.repo.visible_in(GROUP)
    assert after.answers == before.answers


async def test_long_lists_come_in_several_messages(steward, fake, venue):
    """Fifteen entries with long wordings are more than one message holds (4,096 characters):
    /faq_list and /faq send them in several, not an apology."""
    for n in range(15):
        await venue.say(venue.admin, f"/faq_add {n:02d} {'long wording ' * 22}| Answer {n}.")
        await steward.idle()
    for user, command, head in (
        (venue.admin, "/faq_list", "FAQ entries:"),
        (venue.member, "/faq", "Topics I can answer"),
    ):
        mark = fake.mark()
        await venue.say(user, command)
        await fake.wait_for("sendMessage", lambda c, head=head: c.plain.startswith(head))
        await steward.idle()
        sent = [c.plain for c in fake.calls_of("sendMessage", since=mark)]
        assert all(len(text) <= 4096 for text in sent) and len(sent) > 1, command
        listed = "\n".join(sent)
        assert all(f"{n:02d} long wording" in listed for n in range(15)), command
        assert "Sorry" not in listed


async def test_import_of_a_spreadsheets_csv(steward, fake, venue):
    """Excel in Dutch or Russian saves a CSV with ";" between the columns."""
    csv_text = b"question;answer;language\nWaar kan ik parkeren?;Achter de zaal.;nl\n"
    document = await upload(fake, venue.chat, venue.admin, "c2", "faq.csv", csv_text)
    report = await import_report(fake, steward, venue, document)
    assert report == "📥 FAQ import: 1 added, 0 changed, 0 unchanged, 0 rejected."
    [entry] = await steward.app.faq.repo.visible_in(GROUP)
    assert entry.phrasings == [("nl", "Waar kan ik parkeren?")]
    # saved in the Windows Cyrillic code page instead of UTF-8: the reply says so
    csv_text = "question,answer,language\nСколько стоит?,Десять евро.,ru\n".encode("cp1251")
    document = await upload(fake, venue.chat, venue.admin, "c3", "faq.csv", csv_text)
    assert await import_report(fake, steward, venue, document) == (
        "I can't read this file: it is not UTF-8 text. Save it as UTF-8 (in Excel: "
        "CSV UTF-8) and try again."
    )


async def test_undo_of_a_shared_entry_is_for_managers(steward, fake, venue):
    """A manager deletes a shared entry in a group: the chat's admin may not press its Undo
    (they could not have deleted it either)."""
    manager = fake.user(MANAGER_ID, "Manny")
    fake.add_member(GROUP, manager)
    await fake.send_message(fake.private_chat(manager), manager, "/faq_add What is this? | A bot.")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await steward.idle()
    await venue.say(manager, "/faq_del 1")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🗑 FAQ entry #1 deleted"))
    await steward.idle()
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(message, venue.admin, labelled(message, "Undo"))
    refused = await fake.wait_for("answerCallbackQuery")
    assert refused["text"] == "Only Steward's managers can change entries shared by all chats."
    await steward.idle()
    assert await steward.app.faq.repo.all_live() == []
    await fake.press_button(message, manager, labelled(message, "Undo"))
    await fake.wait_for("editMessageText", lambda c: "restored" in c.plain)
    assert len(await steward.app.faq.repo.all_live()) == 1


async def test_import_report_counts_the_rejects_it_does_not_list(steward, fake, venue):
    rows = "".join(f"Question {n}?,,en\n" for n in range(12))
    document = await upload(
        fake, venue.chat, venue.admin, "c4", "faq.csv", f"question,answer,language\n{rows}".encode()
    )
    lines = (await import_report(fake, steward, venue, document)).splitlines()
    assert lines[0] == "📥 FAQ import: 0 added, 0 changed, 0 unchanged, 12 rejected."
    assert lines[1:] == [f"• line {n}: no question or no answer" for n in range(2, 12)] + [
        "…and 2 more."
    ]


async def test_a_language_the_bot_does_not_speak_changes_nothing(steward, fake, venue):
    """ "de:" looks like a translation: taken as words it would replace the English entry."""
    await add_hours(fake, steward, venue)
    for command in (
        "/faq_edit 1 de: Wann habt ihr geöffnet? | Täglich von 9 bis 18 Uhr.",
        "/faq_add fr: Où est la salle? | Derrière la gare.",
    ):
        await venue.say(venue.admin, command)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        assert reply.plain == "I speak en, ru, nl: there are no FAQ answers in de here." or (
            reply.plain == "I speak en, ru, nl: there are no FAQ answers in fr here."
        ), command
        await steward.idle()
    [entry] = await steward.app.faq.repo.all_live()
    assert entry.phrasings_in("en") == ["What are your opening hours?", "When are you open?"]
    assert entry.answers["en"].text == "We are open every day from 9:00 to 18:00."


async def test_a_translation_can_be_a_media_message(steward, fake, venue):
    """Reply to a photo with /faq_edit 1 ru: and the photo is the Russian answer; the English
    answer stays."""
    await add_hours(fake, steward, venue)
    photo = [{"file_id": "plan", "file_unique_id": "uplan", "width": 9, "height": 9}]
    source = await venue.say(venue.admin, None, photo=photo, caption="Часы работы")
    await steward.idle()
    await venue.say(venue.admin, "/faq_edit 1 ru:", reply_to=source)
    updated = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert updated.plain == "✏️ FAQ entry #1 updated (ru)."
    await steward.idle()
    entry = await steward.app.faq.repo.get(1)
    assert entry.answers["en"].text == "We are open every day from 9:00 to 18:00."
    assert entry.answers["ru"].source_message_id == source["message_id"]


async def test_did_you_mean_survives_a_restart_and_a_double_tap_answers_once(steward, fake, venue):
    await venue.say(venue.admin, "/faq_add Where can I park?; Is there parking? | Behind the hall.")
    await venue.say(
        venue.admin,
        "/faq_add Where is the entrance? | The entrance is on the left side of the hall.",
    )
    await steward.idle()
    await venue.say(venue.member, "how do I get into the hall?")
    await fake.wait_for("sendMessage", lambda c: c.plain == "🤔 Did you mean…")
    await steward.idle()
    offer = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await steward.restart()
    mark = fake.mark()
    entrance = labelled(offer, "entrance")
    taps = [await fake.press_button(offer, venue.member, entrance) for _ in range(2)]
    await steward.idle()
    answers = [c for c in fake.calls_of("sendMessage", mark) if c["chat_id"] == GROUP]
    assert [c.plain for c in answers] == ["The entrance is on the left side of the hall."]
    answered = {c["callback_query_id"] for c in fake.calls_of("answerCallbackQuery", mark)}
    assert answered == set(taps)  # the second tap is answered too, without an error


async def test_setsupport_routes_a_chat_to_a_staff_chat_its_admin_is_in(steward, fake, venue):
    desk = fake.add_chat(-1008888800077, title="Desk <2> & co")
    elsewhere = fake.add_chat(-1007777700077, title="Someone else's group")
    fake.add_member(desk["id"], venue.admin, "administrator")

    async def told(user, text) -> str:
        await venue.say(user, text)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        await steward.idle()
        return reply.plain

    refused = "Only admins of this chat can use this command."
    assert await told(venue.member, f"/setsupport {desk['id']}") == refused
    assert await told(venue.admin, "/setsupport") == (
        f"Unanswered questions from this chat go to {SUPPORT}."
    )
    unreachable = "I can't reach that chat. Add me to it first, then use its id (e.g. -100123…)."
    assert await told(venue.admin, "/setsupport -100777") == unreachable
    # questions asked here cannot be "answered" by the same chat: the FAQ would fall silent
    assert await told(venue.admin, f"/setsupport {GROUP}") == (
        "Questions asked here need another chat: the id of the chat where your staff answer."
    )
    # nor sent to a chat this admin is not in: that chat would become a staff chat
    assert await told(venue.admin, f"/setsupport {elsewhere['id']}") == (
        "You are not in that chat. Use the id of a chat where you answer questions."
    )
    # posting as the group hides who is asking, so membership of that chat cannot be checked
    anonymous = fake.user(1087968824, "Group", is_bot=True, language_code=None)
    await venue.say(anonymous, f"/setsupport {desk['id']}", sender_chat=venue.chat)
    hidden = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert hidden.plain == (
        "Send this without posting as the group: I need to see that you are in that chat."
    )
    await steward.idle()
    assert await steward.app.support.support_chat_for(GROUP) == SUPPORT
    assert await told(venue.admin, f"/setsupport {desk['id']}") == (
        "Unanswered questions from this chat now go to Desk <2> & co."
    )
    await venue.say(venue.member, "is there a cloakroom for coats and bags?")
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == desk["id"])
    assert relay.plain.startswith("❓ #1 from Bob (id 200) in Venue chat:")
    await steward.idle()
    assert await told(venue.admin, "/setsupport off") == (
        "This chat now uses the default support chat, if any."
    )
    await venue.say(venue.member, "is there a sauna for the guests?")
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert relay.plain.startswith("❓ #2 from Bob")


async def test_question_gate_in_a_discussion_group(steward, fake, venue):
    """Only questions reach the FAQ and the staff: not a reply to another member, not two
    words, not a command; a comment under the linked channel's post is a member's question."""
    channel = fake.add_chat(-1003333300077, "channel", title="Venue news")
    post = await venue.say(
        {"id": 777000, "is_bot": False, "first_name": "Telegram"},
        "Saturday: open air concert!",
        sender_chat=channel,
        is_automatic_forward=True,
    )
    chat_line = await venue.say(venue.other, "I think the concert starts at nine")
    own_channel = fake.add_chat(-1004444400077, "channel", title="Carol's blog")
    as_channel = await venue.say(venue.other, "Bring a coat tonight", sender_chat=own_channel)
    mark = fake.mark()
    await venue.say(venue.member, "is there a cloakroom for coats then?", reply_to=chat_line)
    await venue.say(venue.member, "is there a cloakroom for them there?", reply_to=as_channel)
    await venue.say(venue.member, "cloakroom open?")
    await venue.say(venue.member, "/rules is there a cloakroom for coats?")
    await steward.idle()
    await fake.assert_no_call(
        "sendMessage", since=mark, within=0.1, predicate=lambda c: c["chat_id"] == SUPPORT
    )
    # Bob's sixth message in 10 s would make him a flooder, whose message nobody answers
    for asker, question in (
        (venue.member, "is there a cloakroom at the concert?"),
        (venue.other, "Hoe laat begint het concert"),
    ):
        await venue.say(asker, question, reply_to=post)
        relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
        assert question in relay.plain
        await steward.idle()


async def test_forum_questions_are_answered_in_their_topic_and_staff_replies_find_it(
    steward, fake, venue
):
    forum = fake.add_chat(-1001555000077, title="Venue forum", is_forum=True)
    fake.add_member(forum["id"], venue.admin, "administrator")
    help_desk = await fake.create_topic(forum, "Help", venue.other)
    lounge = await fake.create_topic(forum, "Lounge", venue.other)
    await steward.idle()
    await fake.send_message(forum, venue.admin, HOURS, topic=help_desk)
    await steward.idle()
    await fake.send_message(forum, venue.member, "what are the opening hours?", topic=lounge)
    answer = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("We are open"))
    assert answer["message_thread_id"] == lounge
    await steward.idle()
    # the cool-down is per topic: an answer in another topic is not where this asker reads
    mark = fake.mark()
    await fake.send_message(forum, venue.other, "when are you open?", topic=help_desk)
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == forum["id"], since=mark)
    assert again.plain.startswith("We are open") and again["message_thread_id"] == help_desk
    await steward.idle()
    await fake.send_message(forum, venue.admin, "when are you open?", topic=help_desk)
    link = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("☝️"))
    assert link["message_thread_id"] == help_desk  # the notice in the asker's topic
    [answered_here] = [
        m
        for (c, _), m in fake.messages.items()
        if c == forum["id"]
        and m.get("message_thread_id") == help_desk
        and m.get("text", "").startswith("We are open")
    ]
    assert link.plain.endswith(f"/{answered_here['message_id']}")  # the one in this topic
    await steward.idle()
    # a question from a topic deleted before the staff answered: the answer goes to General
    await fake.send_message(
        forum, venue.member, "is there a cloakroom for coats and bags?", topic=lounge
    )
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert "is there a cloakroom" in relay.plain
    await steward.idle()
    relay_message = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    fake.delete_topic(forum, lounge)
    await fake.send_message(venue.support, venue.staff, "Yes, by the door.", reply_to=relay_message)
    confirm = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert confirm.plain == "✅ Delivered to Bob."
    delivered = [
        m
        for (c, _), m in fake.messages.items()
        if c == forum["id"] and m.get("text") == "Yes, by the door."
    ]
    assert len(delivered) == 1 and "message_thread_id" not in delivered[0]


async def test_an_album_in_private_reaches_the_staff_as_one_question(steward, fake, venue):
    private = fake.private_chat(venue.member)
    parts = await send_album(fake, private, venue.member, "album-7")
    ack = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 200)
    assert ack.plain == "✉️ Sent to the team. Their answer will come here."
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert relay.plain.startswith("❓ #1 from Bob (id 200) in private:\nOur trip")
    copied = await fake.wait_for("copyMessages", lambda c: c["chat_id"] == SUPPORT)
    assert copied["message_ids"] == [p["message_id"] for p in parts]
    await steward.idle()
    assert len([c for c in fake.calls_of("sendMessage") if c["chat_id"] == 200]) == 1
    assert len([c for c in fake.calls_of("sendMessage") if c["chat_id"] == SUPPORT]) == 1
    # staff may answer by replying to the album's first photo too
    header = max(m for (c, m), sent in fake.messages.items() if c == SUPPORT and "text" in sent)
    first_photo = fake.messages[(SUPPORT, header + 1)]
    assert first_photo["caption"] == "Our trip"
    await fake.send_message(venue.support, venue.staff, "Nice trip!", reply_to=first_photo)
    delivered = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == 200)
    assert delivered["reply_parameters"]["message_id"] == parts[0]["message_id"]
    await steward.idle()
    # an album as the staff's answer reaches the member as one album, confirmed once
    mark = fake.mark()
    answer = []
    for n in range(3):
        photo = [{"file_id": f"re{n}", "file_unique_id": f"ure{n}", "width": 9, "height": 9}]
        answer.append(
            fake.new_message(
                venue.support, venue.staff, reply_to=first_photo, media_group_id="re", photo=photo
            )
        )
        await fake.push_update({"message": answer[-1]})
    album = await fake.wait_for("copyMessages", lambda c: c["chat_id"] == 200)
    assert album["message_ids"] == [m["message_id"] for m in answer]
    await steward.idle()
    confirmations = [c for c in fake.calls_of("sendMessage", mark) if c["chat_id"] == SUPPORT]
    assert [c.plain for c in confirmations] == ["✅ Delivered to Bob."]
    assert "reply_markup" not in confirmations[0].params  # an FAQ answer is one message


async def test_faq_list_in_private_names_the_chat_of_each_entry(steward, fake, venue):
    """A manager's /faq_list in private lists every chat's entries: it did not say which chat
    an entry belonged to. Each now names its chat (its title, or its id when the bot knows no
    title); global entries keep their 🌐."""
    await add_hours(fake, steward, venue)
    unknown = -1009876543210
    await steward.app.faq.repo.add(
        unknown, "en", [("en", "Is there a cloakroom?")], Answer("en", "Yes.", None), 1, 0
    )
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, "/faq_add Do you sell tickets? | Online only.")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    mark = fake.mark()
    await fake.send_message(private, manager, "/faq_list")
    listing = await fake.wait_for("sendMessage", lambda c: "FAQ entries" in c.plain, since=mark)
    lines = listing.plain.splitlines()
    hours = next(line for line in lines if line.startswith("#1 "))
    cloakroom = next(line for line in lines if "cloakroom" in line)
    tickets = next(line for line in lines if "tickets" in line)
    assert hours.endswith("· 💬 Venue chat")
    assert cloakroom.endswith(f"· 💬 {unknown}")
    assert "🌐" in tickets and "💬" not in tickets
    # in the group itself its entries need no name
    mark = fake.mark()
    await venue.say(venue.admin, "/faq_list")
    listing = await fake.wait_for("sendMessage", lambda c: "FAQ entries" in c.plain, since=mark)
    assert "💬" not in listing.plain
