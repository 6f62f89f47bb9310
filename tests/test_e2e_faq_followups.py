"""End-to-end: an FAQ answer after it was given: votes pressed again, questions edited."""

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


def last_in(fake, chat_id: int) -> dict:
    return fake.messages[(chat_id, max(m for c, m in fake.messages if c == chat_id))]


async def test_a_vote_is_thanked_once_and_a_changed_vote_says_so(steward, fake, venue):
    """The first 👍 is thanked; pressing it again says the vote is there already (before: thanked
    once more, as if it counted again); 👎 afterwards changes the vote and says so, quietly, in
    the member's language."""
    await add_hours(fake, steward, venue)
    await venue.say(venue.member, "what time are you open on saturday?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "9:00" in c.plain)
    await steward.idle()
    answer = last_in(fake, GROUP)
    toasts = []
    for who, button in (
        (venue.member, "👍"),
        (venue.member, "👍"),
        (venue.member, "👎"),
        (venue.russian, "👎"),
        (venue.russian, "👍"),
    ):
        mark = fake.mark()
        await fake.press_button(answer, who, labelled(answer, button))
        toast = await fake.wait_for("answerCallbackQuery", since=mark)
        assert not toast.get("show_alert")
        toasts.append(toast["text"])
        await steward.idle()
    assert toasts == [
        "Thanks for the feedback!",
        "You voted 👍 already.",
        "Your vote is now 👎.",
        "Спасибо за отзыв!",
        "Теперь ваш голос: 👍.",
    ]
    [entry] = await steward.app.faq.repo.visible_in(GROUP)
    assert (entry.up, entry.down) == (1, 1)


PARKING = "/faq_add Where can I park my car?; Is there car parking? | Parking is behind the hall."


async def test_a_question_edited_after_its_answer_is_answered_again(steward, fake, venue):
    """A member fixes a question the FAQ answered: an edit that asks something else gets that
    answer in place of the old one (the bot's message is edited, no second answer); an edit
    that still asks the same, or that turns the message into chat, changes nothing; when the
    old answer is gone (an admin deleted it) the new one comes as a reply (before: an edit was
    never checked again, the member kept an answer to what they no longer asked)."""
    await add_hours(fake, steward, venue)
    await venue.say(venue.admin, PARKING)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #2"))
    await steward.idle()
    question = await venue.say(venue.member, "what time are you open on saturday?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "9:00" in c.plain)
    await steward.idle()
    answer = last_in(fake, GROUP)
    mark = fake.mark()
    await fake.edit_message(question, "where can I park my car on saturday?")
    edited = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == GROUP, since=mark)
    assert edited["message_id"] == answer["message_id"]
    assert edited.plain == "Parking is behind the hall."
    assert labelled(edited, "👍") == "f:up:2:0"
    await steward.idle()
    assert fake.messages[(GROUP, answer["message_id"])]["text"] == "Parking is behind the hall."
    for same_or_chat in ("where can I park my car this saturday?", "ok thanks, found it"):
        await fake.edit_message(question, same_or_chat)
        await steward.idle()
    assert [c.method for c in fake.calls[mark:] if c.params.get("chat_id") == GROUP] == [
        "editMessageText"
    ]
    # the answer was deleted meanwhile: the edited question gets a new one, as a reply
    del fake.messages[(GROUP, answer["message_id"])]
    mark = fake.mark()
    await fake.edit_message(question, "what are your opening hours on sunday?")
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert again.plain == "We are open every day from 9:00 to 18:00."
    assert again["reply_parameters"]["message_id"] == question["message_id"]
    await steward.idle()
    sent = [c for c in fake.calls_of("sendMessage", mark) if c["chat_id"] == GROUP]
    assert len(sent) == 1
    # and a further edit edits that new answer
    newest = last_in(fake, GROUP)
    mark = fake.mark()
    await fake.edit_message(question, "is there car parking near the hall?")
    moved = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == GROUP, since=mark)
    assert moved["message_id"] == newest["message_id"]


async def test_an_unanswered_message_edited_into_a_question_gets_no_answer(steward, fake, venue):
    """Only what the FAQ answered is checked again: chat edited long after into a question is
    left alone, as is an admin's edit of their own chat message."""
    await add_hours(fake, steward, venue)
    chat = await venue.say(venue.member, "lovely weather today")
    await steward.idle()
    mark = fake.mark()
    await fake.edit_message(chat, "what time are you open on saturday?")
    await steward.idle()
    await fake.assert_no_call(
        "sendMessage", since=mark, within=0.2, predicate=lambda c: c["chat_id"] == GROUP
    )


async def test_a_question_answered_in_private_and_edited_is_answered_again(steward, fake, venue):
    """In private too: the FAQ's answer to a member's message follows its edit into another
    question, and an edit into chat neither answers nor goes to the staff."""
    manager = fake.user(MANAGER_ID, "Mia")
    for text in (HOURS, PARKING):
        await fake.send_message(fake.private_chat(manager), manager, text)
        await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry"))
        await steward.idle()
    private = fake.private_chat(venue.member)
    question = await fake.send_message(private, venue.member, "what are your opening hours?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == venue.member["id"])
    await steward.idle()
    answer = last_in(fake, venue.member["id"])
    mark = fake.mark()
    await fake.edit_message(question, "where can I park my car?")
    edited = await fake.wait_for("editMessageText", since=mark)
    assert (edited["chat_id"], edited["message_id"]) == (venue.member["id"], answer["message_id"])
    assert edited.plain == "Parking is behind the hall."
    await steward.idle()
    mark = fake.mark()
    await fake.edit_message(question, "never mind, thanks")
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, within=0.2)
    await fake.assert_no_call("editMessageText", since=mark, within=0.1)
