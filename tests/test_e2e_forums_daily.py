"""End-to-end: what members and moderators meet daily in a forum, beyond tests/test_e2e_forums.py
(suggestions, reports, spam, statistics, a staff answer): everything the bot sends because of
something in a topic lands in that topic, and nothing names General by its number."""

from __future__ import annotations

import pytest

from tests.fake_telegram import FakeTelegram
from tests.test_e2e_forums import FORUM, Forum, never_general_by_number

SUPPORT = -1001555000099


@pytest.fixture
def bot_env(bot_env):
    bot_env["SUPPORT_CHAT_ID"] = str(SUPPORT)
    return bot_env


@pytest.fixture
def space(fake: FakeTelegram) -> Forum:
    return Forum(fake)


def last_message(fake, chat_id):
    return fake.messages[(chat_id, max(m for c, m in fake.messages if c == chat_id))]


def labelled(message, word):
    return next(
        b["callback_data"]
        for row in message["reply_markup"]["inline_keyboard"]
        for b in row
        if word in b["text"]
    )


def all_sent_into(fake, since: int, thread: int) -> None:
    sent = [c for c in fake.calls[since:] if c.get("chat_id") == FORUM and "send" in c.method]
    assert sent
    assert [c for c in sent if c.get("message_thread_id") != thread] == []


async def test_did_you_mean_and_the_picked_answer_stay_in_the_topic(steward, fake, space):
    help_ = await space.topic("Help")
    await space.say(space.admin, "/faq_add Where can I park?; Is there parking? | Behind the hall.")
    await space.say(
        space.admin,
        "/faq_add Where is the entrance? | The entrance is on the left side of the hall.",
    )
    await steward.idle()
    mark = fake.mark()
    await space.say(space.ann, "how do I get into the hall?", topic=help_)
    await fake.wait_for("sendMessage", lambda c: "Did you mean" in c.plain)
    await steward.idle()
    offer = last_message(fake, FORUM)
    await fake.press_button(offer, space.ann, labelled(offer, "entrance"))
    await fake.wait_for("sendMessage", lambda c: "left side" in c.plain)
    all_sent_into(fake, mark, help_)
    never_general_by_number(fake)


async def test_stats_and_besttime_asked_in_a_topic_land_there(steward, fake, space):
    ops = await space.topic("Ops")
    await space.say(space.ann, "hello", topic=ops)
    mark = fake.mark()
    await space.say(space.admin, "/stats 7d", topic=ops)
    await space.say(space.admin, "/besttime", topic=ops)
    await steward.idle()
    assert fake.calls_of("sendPhoto", since=mark)
    all_sent_into(fake, mark, ops)
    never_general_by_number(fake)


async def test_report_and_spam_in_a_topic_answer_there(steward, fake, space):
    fake.start_bot(space.admin)
    lounge = await space.topic("Lounge")
    bad = await space.say(space.ben, "you are all idiots", topic=lounge)
    mark = fake.mark()
    await space.say(space.ann, "/report", reply_to=bad, topic=lounge)
    await fake.wait_for("sendMessage", lambda c: "notified" in c.plain)
    await space.say(
        space.ben,
        "💰💰 EARN $5000 A DAY from home!!! Crypto investment guaranteed profit, write me "
        "@richguy_bot now, only today, click https://bit.ly/xyz",
        topic=lounge,
    )
    await steward.idle()
    all_sent_into(fake, mark, lounge)
    never_general_by_number(fake)


async def test_staff_answer_to_a_deleted_topic_question_lands_in_the_topic(steward, fake, space):
    staff_chat = fake.add_chat(SUPPORT, title="Staff")
    sam = fake.user(40, "Sam")
    fake.add_member(SUPPORT, sam, "administrator")
    desk = await space.topic("Desk")
    question = await space.say(space.ann, "is there a cloakroom for coats and bags?", topic=desk)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == SUPPORT)
    await steward.idle()
    relay = last_message(fake, SUPPORT)
    fake.messages.pop((FORUM, question["message_id"]))  # the member deleted the question
    await fake.send_message(staff_chat, sam, "Yes, next to the door.", reply_to=relay)
    delivered = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == FORUM)
    assert delivered["message_thread_id"] == desk
    never_general_by_number(fake)
