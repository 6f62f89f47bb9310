"""End-to-end: the FAQ as members meet it every day (their language, "Did you mean…" in a
topic and after a deletion, what the question gate lets through)."""

from __future__ import annotations

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID
from tests.test_e2e_faq import GROUP, HOURS, SUPPORT, Community, add_hours
from tests.test_e2e_posting import labelled


@pytest.fixture
def bot_env(bot_env):
    bot_env["SUPPORT_CHAT_ID"] = str(SUPPORT)
    return bot_env


@pytest.fixture
def venue(fake: FakeTelegram) -> Community:
    return Community(fake)


def last_in(fake: FakeTelegram, chat_id: int) -> dict:
    return fake.messages[(chat_id, max(m for c, m in fake.messages if c == chat_id))]


async def parking_and_entrance(fake, steward, venue, chat=None, topic=None) -> None:
    for text in (
        "/faq_add Where can I park?; Is there parking? | Behind the hall.",
        "/faq_add Where is the entrance? | The entrance is on the left side of the hall.",
    ):
        await fake.send_message(chat or venue.chat, venue.admin, text, topic=topic)
        await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry"))
        await steward.idle()


async def test_a_dutch_member_gets_the_dutch_translation(steward, fake, venue):
    await add_hours(fake, steward, venue)
    for edit in (
        "/faq_edit 1 nl: Wanneer zijn jullie open? | Wij zijn elke dag open van 9 tot 18 uur.",
        "/faq_edit 1 ru: Когда вы работаете? | Мы открыты с 9 до 18.",
    ):
        await venue.say(venue.admin, edit)
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        await steward.idle()
    dutch = fake.user(600, "Daan", language_code="nl")
    fake.add_member(GROUP, dutch)
    await venue.say(dutch, "Hoe laat gaan jullie open op zaterdag?")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert answer.plain == "Wij zijn elke dag open van 9 tot 18 uur."


async def test_did_you_mean_in_a_topic_whose_question_was_deleted(steward, fake, venue):
    """The suggestions come in the asker's topic, the Russian asker reads them and the answer
    in Russian, and the answer stays in that topic though the question is gone."""
    forum = fake.add_chat(-1001555000078, title="Venue forum", is_forum=True)
    fake.add_member(forum["id"], venue.admin, "administrator")
    fake.add_member(forum["id"], venue.russian)
    lounge = await fake.create_topic(forum, "Lounge", venue.other)
    await steward.idle()
    await parking_and_entrance(fake, steward, venue, chat=forum, topic=lounge)
    await fake.send_message(forum, venue.admin, "/faq_edit 2 ru: Где вход? | Вход слева от зала.")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✏️"))
    await steward.idle()
    question = await fake.send_message(  # near the entrance, not sure enough to answer
        forum, venue.russian, "where do guests come in?", topic=lounge
    )
    offer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == forum["id"])
    assert offer.plain == "🤔 Возможно, вы имели в виду…"
    assert offer["message_thread_id"] == lounge
    await steward.idle()
    offer_message = last_in(fake, forum["id"])
    del fake.messages[(forum["id"], question["message_id"])]
    mark = fake.mark()
    await fake.press_button(offer_message, venue.russian, labelled(offer_message, "Где вход"))
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == forum["id"], since=mark)
    assert answer.plain == "Вход слева от зала."
    assert answer["message_thread_id"] == lounge


async def test_a_suggestion_deleted_meanwhile_is_said_to_be_gone(steward, fake, venue):
    await parking_and_entrance(fake, steward, venue)
    await venue.say(venue.member, "how do I get into the hall?")
    await fake.wait_for("sendMessage", lambda c: c.plain == "🤔 Did you mean…")
    await steward.idle()
    offer = last_in(fake, GROUP)
    await venue.say(venue.admin, "/faq_del 2")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    await steward.idle()
    mark = fake.mark()
    await fake.press_button(offer, venue.member, labelled(offer, "entrance"))
    gone = await fake.wait_for("answerCallbackQuery", since=mark)
    assert (gone["text"], gone["show_alert"]) == ("This FAQ entry is gone.", True)
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, within=0.1)


CHAT = (
    "Can't wait for the concert tonight! 🎉",
    "What a concert that was!!",
    "what a crowd at the concert yesterday",
    "Kan niet wachten op het concert vanavond",
    "Wat een concert was dat gisteren",
    "Will be at the concert at nine",
)


async def test_exclamations_and_chat_about_a_topic_are_no_questions(steward, fake, venue):
    """Ordinary chat that opens like a question ("can't…", "what a…", "will be…") got "Did you
    mean…" buttons under it or went to the staff as a member's question; now nothing."""
    await venue.say(
        venue.admin,
        "/faq_add When does the concert start?; What time is the concert? | "
        "The concert starts at 21:00.",
    )
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry"))
    await steward.idle()
    mark = fake.mark()
    members = (venue.member, venue.other, venue.russian)
    for n, line in enumerate(CHAT):
        await venue.say(members[n % 3], line)  # not one member flooding the group
        await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, within=0.1)
    # the same words asked are questions still
    await venue.say(venue.member, "Hey! what time does the concert start")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert answer.plain == "The concert starts at 21:00."


async def test_a_long_question_added_to_the_faq_survives_export_and_import(steward, fake, venue):
    """ "➕ Add to FAQ" under a long question stored all of it as a wording; /faq_export then
    wrote an entry that /faq_import rejects (wordings are at most 300 characters), so the round
    trip lost it. Now the wording is the question's end (where people ask), 300 characters at
    most, cut between words."""
    story = "We are coming with a group of twelve people from the school, " * 6
    question = story + "is there a cloakroom big enough for all our coats and bags?"
    await venue.say(venue.member, question)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    await steward.idle()
    await fake.send_message(
        venue.support, venue.staff, "Yes, next to the entrance.", reply_to=last_in(fake, SUPPORT)
    )
    await fake.wait_for("sendMessage", lambda c: c.plain == "✅ Delivered to Bob.")
    await steward.idle()
    confirmation = last_in(fake, SUPPORT)
    await fake.press_button(confirmation, venue.staff, labelled(confirmation, "Add to FAQ"))
    await fake.wait_for("editMessageText", lambda c: c["chat_id"] == SUPPORT)
    await steward.idle()
    [entry] = await steward.app.faq.repo.visible_in(GROUP)
    [wording] = entry.phrasings_in("en")
    assert question.endswith(wording) and 250 < len(wording) <= 300
    assert question[-len(wording) - 1] == " "  # cut between words
    await venue.say(venue.admin, "/faq_export")
    await fake.wait_for("sendDocument")
    await steward.idle()
    await venue.say(venue.admin, "/faq_import", reply_to=last_in(fake, GROUP))
    report = await fake.wait_for("sendMessage", lambda c: "FAQ import" in c.plain)
    assert report.plain == "📥 FAQ import: 0 added, 0 changed, 1 unchanged, 0 rejected."


async def test_a_screenshot_asks_and_a_forward_does_not(steward, fake, venue):
    """A photo captioned with a question was neither answered nor passed to the staff, while a
    forwarded channel post with a question mark reached the staff as the forwarder's question.
    Now the caption is the question, and a forward is someone else's words."""
    await add_hours(fake, steward, venue)
    photo = [{"file_id": "scr", "file_unique_id": "uscr", "width": 9, "height": 9}]
    screenshot = await venue.say(
        venue.member, None, photo=photo, caption="what are your opening hours on sunday?"
    )
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert answer.plain == "We are open every day from 9:00 to 18:00."
    assert answer["reply_parameters"]["message_id"] == screenshot["message_id"]
    await steward.idle()
    unknown = await venue.say(
        venue.other, None, photo=photo, caption="is there a cloakroom for coats and bags?"
    )
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    assert "is there a cloakroom for coats and bags?" in relay.plain
    copied = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == SUPPORT)
    assert copied["message_id"] == unknown["message_id"]
    await steward.idle()
    mark = fake.mark()
    news = {"id": -1002020202020, "type": "channel", "title": "City news"}
    await venue.say(
        venue.russian,
        "Is the new stadium worth the money? Read our review",
        forward_origin={"type": "channel", "chat": news, "message_id": 5, "date": 1},
    )
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, within=0.1)


async def test_the_same_question_added_twice_stays_answered(steward, fake, venue):
    """Two members asked the same before the staff answered; "➕ Add to FAQ" under both answers
    made two entries with one wording, which tied, so the next member asking it got "Did you
    mean…" instead of the answer. The second press now says it is in the FAQ already."""
    relays = []
    for who in (venue.member, venue.other):
        await venue.say(who, "Is there a cloakroom for coats and bags?")
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
        await steward.idle()
        relays.append(last_in(fake, SUPPORT))
    alerts = []
    answers = ("Yes, by the door.", "Yes, next to the entrance.")
    for relay, text in zip(relays, answers, strict=True):
        await fake.send_message(venue.support, venue.staff, text, reply_to=relay)
        await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ Delivered"))
        await steward.idle()
        confirmation = last_in(fake, SUPPORT)
        mark = fake.mark()
        await fake.press_button(confirmation, venue.staff, labelled(confirmation, "Add to FAQ"))
        alerts.append((await fake.wait_for("answerCallbackQuery", since=mark))["text"])
        await steward.idle()
    assert alerts == ["Added to the FAQ.", "Already in the FAQ as #1."]
    assert len(await steward.app.faq.repo.visible_in(GROUP)) == 1
    mark = fake.mark()
    await venue.say(venue.russian, "is there a cloakroom for coats and bags?")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert answer.plain == "Yes, by the door."


async def test_an_answer_an_admin_deleted_is_given_again_not_linked(steward, fake, venue):
    """Within the cool-down the bot linked its earlier answer even when an admin had deleted
    it, so the next member got a link to nothing. Now a deleted answer is answered anew, and
    the answer still there is linked as before."""
    await add_hours(fake, steward, venue)
    await venue.say(venue.member, "what are the opening hours?")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("We are open"))
    await steward.idle()
    first = last_in(fake, GROUP)
    del fake.messages[(GROUP, first["message_id"])]  # an admin deleted it
    mark = fake.mark()
    await venue.say(venue.other, "when are you open?")
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert again.plain == "We are open every day from 9:00 to 18:00."
    await steward.idle()
    second = last_in(fake, GROUP)
    await venue.say(venue.russian, "what are your opening hours?")
    link = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("☝️"), since=mark)
    assert link.plain.endswith(f"https://t.me/venue_chat/{second['message_id']}")
    assert second["reply_markup"] == first["reply_markup"]  # the check changed nothing


async def test_a_pick_whose_answer_message_is_gone_goes_to_the_staff(steward, fake, venue):
    """The picked entry's answer is a photo an admin deleted since: the suggestions went, the
    member got an alert and nothing else, and the staff never saw the question. Now the
    question goes to the staff, as a question whose answer is gone does."""
    photo = [{"file_id": "plan", "file_unique_id": "uplan", "width": 9, "height": 9}]
    source = await venue.say(venue.admin, None, photo=photo, caption="The entrance")
    await steward.idle()
    await venue.say(venue.admin, "/faq_add Where is the entrance?", reply_to=source)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await venue.say(venue.admin, "/faq_add Where can I park?; Is there parking? | Behind the hall.")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #2"))
    await steward.idle()
    question = await venue.say(venue.member, "where do I go in at the hall?")
    await fake.wait_for("sendMessage", lambda c: c.plain == "🤔 Did you mean…")
    await steward.idle()
    offer = last_in(fake, GROUP)
    del fake.messages[(GROUP, source["message_id"])]
    mark = fake.mark()
    await fake.press_button(offer, venue.member, labelled(offer, "entrance"))
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT, since=mark)
    assert "where do I go in at the hall?" in relay.plain
    assert f"https://t.me/venue_chat/{question['message_id']}" in relay.plain


async def test_a_screenshot_sent_to_the_bot_in_private_is_answered_from_the_faq(
    steward, fake, venue
):
    """In private the FAQ read only a text: a photo captioned "what are your opening hours?"
    went to the staff ("Sent to the team") though a shared entry answers it, as it does in a
    group. The caption is the question in private too."""
    manager = fake.user(MANAGER_ID, "Mia")
    await fake.send_message(fake.private_chat(manager), manager, HOURS)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await steward.idle()
    mark = fake.mark()
    photo = [{"file_id": "scr", "file_unique_id": "uscr", "width": 9, "height": 9}]
    screenshot = await fake.send_message(
        fake.private_chat(venue.member),
        venue.member,
        None,
        photo=photo,
        caption="what are your opening hours on sunday?",
    )
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == venue.member["id"])
    assert answer.plain == "We are open every day from 9:00 to 18:00."
    assert answer["reply_parameters"]["message_id"] == screenshot["message_id"]
    await steward.idle()
    await fake.assert_no_call(
        "sendMessage", since=mark, predicate=lambda c: c["chat_id"] == SUPPORT
    )


async def test_comments_under_another_channel_post_get_the_answer_not_a_link(steward, fake, venue):
    """Comments under each channel post are their own thread, read from the channel: a link
    to the answer under another post (in a private discussion group, a t.me/c link a
    commenter who never joined cannot open) is no answer. Under the same post the cool-down
    still links."""
    await add_hours(fake, steward, venue)
    channel = fake.add_chat(-1003333300077, "channel", title="Venue news")
    telegram = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
    posts = [
        await venue.say(telegram, text, sender_chat=channel, is_automatic_forward=True)
        for text in ("Saturday: open air concert!", "Sunday: flea market!")
    ]
    await steward.idle()
    for asker, post in ((venue.member, posts[0]), (venue.other, posts[1])):
        mark = fake.mark()
        question = await venue.say(
            asker,
            "what are your opening hours?",
            reply_to=post,
            message_thread_id=post["message_id"],
        )
        answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
        assert answer.plain == "We are open every day from 9:00 to 18:00."
        assert answer["reply_parameters"]["message_id"] == question["message_id"]
        await steward.idle()
    mark = fake.mark()
    await venue.say(
        venue.russian,
        "what are your opening hours?",
        reply_to=posts[0],
        message_thread_id=posts[0]["message_id"],
    )
    link = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert link.plain.startswith("☝️")


async def test_a_pick_of_another_chats_entry_shows_nothing(steward, fake, venue):
    """Callback data comes from the member's app and can be anything: a "Did you mean…" press
    naming an entry of another chat gave that chat's answer (a private group's FAQ, a media
    answer copied out of it). A pick answers only with an entry of the chat it is pressed in,
    or a shared one."""
    other = fake.add_chat(-1001888800077, title="Private club")
    fake.add_member(other["id"], venue.admin, "administrator")
    await fake.send_message(
        other, venue.admin, "/faq_add What is the door code? | The door code is 4711."
    )
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await parking_and_entrance(fake, steward, venue)
    await venue.say(venue.member, "how do I get into the hall?")
    offer = await fake.wait_for("sendMessage", lambda c: c.plain == "🤔 Did you mean…")
    await steward.idle()
    message = last_in(fake, GROUP)
    mark = fake.mark()
    forged = labelled(message, "entrance").replace(":3:", ":1:")
    assert forged.startswith("f:pick:1:") and offer["chat_id"] == GROUP
    await fake.press_button(message, venue.member, forged)
    refused = await fake.wait_for("answerCallbackQuery", since=mark)
    assert refused["text"] == "This FAQ entry is gone."
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage", mark) if "4711" in c.plain]


async def test_a_vote_counts_only_for_an_entry_of_its_chat(steward, fake, venue):
    """A 👍 under an answer naming (in callback data a member's app may forge) an entry of
    another chat moved that chat's counters, which its admins read in /faq_list."""
    other = fake.add_chat(-1001888800077, title="Private club")
    fake.add_member(other["id"], venue.admin, "administrator")
    await fake.send_message(
        other, venue.admin, "/faq_add What is the door code? | The door code is 4711."
    )
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await steward.idle()
    await venue.say(venue.admin, HOURS)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #2"))
    await steward.idle()
    await venue.say(venue.member, "what are your opening hours?")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("We are open"))
    await steward.idle()
    answer = last_in(fake, GROUP)
    for data in ("f:up:1:0", "f:up:2:0"):
        await fake.press_button(answer, venue.member, data)
        await steward.idle()
    assert (await steward.app.faq.repo.get(1)).up == 0
    assert (await steward.app.faq.repo.get(2)).up == 1


async def test_comments_in_a_private_discussion_group_get_no_link_they_cannot_open(
    steward, fake, venue
):
    """Under a channel post of a private discussion group, the cool-down's t.me/c link opens
    only for members of the group, and commenters from the channel need not be: the notice
    says the answer is above in these comments instead."""
    group = fake.add_chat(-1001999900077, title="Venue comments")
    fake.add_member(group["id"], venue.admin, "administrator")
    await fake.send_message(group, venue.admin, HOURS)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #1"))
    await steward.idle()
    channel = fake.add_chat(-1003333300077, "channel", title="Venue news")
    telegram = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
    post = await fake.send_message(
        group, telegram, "Sunday: flea market!", sender_chat=channel, is_automatic_forward=True
    )
    await steward.idle()
    for asker in (venue.member, venue.other):
        mark = fake.mark()
        await fake.send_message(
            group,
            asker,
            "what are your opening hours?",
            reply_to=post,
            message_thread_id=post["message_id"],
        )
        said = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == group["id"], since=mark)
        await steward.idle()
    assert said.plain == "☝️ I answered this a few minutes ago, just above."
