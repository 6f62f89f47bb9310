"""The fake's forums and upgraded groups behave like Telegram's (see
../shared/telegram-behaviour.md), checked through a real aiogram client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramMigrateToChat
from aiogram.types import ReplyParameters

from tests.fake_telegram import FakeTelegram

FORUM = -1001234567890
BASIC = -4012345


@pytest.fixture
async def client(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    yield bot
    await bot.session.close()


async def test_topic_messages_carry_thread_and_point_at_the_topic_root(fake: FakeTelegram):
    forum = fake.add_chat(FORUM, is_forum=True)
    thread = await fake.create_topic(forum, "Quizzes")
    member = fake.user(5, "Ann")
    message = await fake.send_message(forum, member, "hello", topic=thread)
    assert message["message_thread_id"] == thread
    assert message["is_topic_message"] is True
    # Telegram makes every topic message "reply" to the topic's creation message
    assert message["reply_to_message"]["forum_topic_created"]["name"] == "Quizzes"
    general = await fake.send_message(forum, member, "in general")
    assert "message_thread_id" not in general and "is_topic_message" not in general


async def test_send_into_a_topic_lands_there(fake: FakeTelegram, client: Bot):
    forum = fake.add_chat(FORUM, is_forum=True)
    thread = await fake.create_topic(forum, "News")
    sent = await client.send_message(FORUM, "notice", message_thread_id=thread)
    assert sent.message_thread_id == thread and sent.is_topic_message
    general = await client.send_message(FORUM, "to general")
    assert general.message_thread_id is None and not general.is_topic_message


@pytest.mark.parametrize("thread", [1, 999])
async def test_general_and_unknown_threads_are_refused(
    fake: FakeTelegram, client: Bot, thread: int
):
    fake.add_chat(FORUM, is_forum=True)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await client.send_message(FORUM, "x", message_thread_id=thread)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await client.send_poll(FORUM, "q?", ["a", "b"], message_thread_id=thread)


async def test_reply_lands_in_the_replied_messages_topic(fake: FakeTelegram, client: Bot):
    forum = fake.add_chat(FORUM, is_forum=True)
    thread = await fake.create_topic(forum, "Help")
    question = await fake.send_message(forum, fake.user(5, "Ann"), "how?", topic=thread)
    sent = await client.send_message(
        FORUM, "like this", reply_parameters=ReplyParameters(message_id=question["message_id"])
    )
    assert sent.message_thread_id == thread and sent.is_topic_message
    assert sent.reply_to_message.message_id == question["message_id"]
    # a person's reply too
    answer = await fake.send_message(forum, fake.user(6, "Bob"), "thanks", reply_to=question)
    assert answer["message_thread_id"] == thread


async def test_bot_can_open_a_topic(fake: FakeTelegram, client: Bot):
    fake.add_chat(FORUM, is_forum=True)
    topic = await client.create_forum_topic(FORUM, "Giveaways")
    sent = await client.send_message(FORUM, "hi", message_thread_id=topic.message_thread_id)
    assert sent.is_topic_message


async def test_upgraded_group_emits_both_service_messages(fake: FakeTelegram):
    group = fake.add_chat(BASIC, "group")
    admin = fake.user(5, "Ann")
    new = await fake.migrate_group(BASIC, admin)
    assert str(new["id"]).startswith("-100") and new["type"] == "supergroup"
    messages = [u["message"] for u in fake._updates]
    assert messages[0]["chat"]["id"] == group["id"]
    assert messages[0]["migrate_to_chat_id"] == new["id"]
    assert messages[1]["chat"]["id"] == new["id"]
    assert messages[1]["migrate_from_chat_id"] == BASIC


async def test_upgraded_group_refuses_the_old_id_and_names_the_new(fake: FakeTelegram, client: Bot):
    fake.add_chat(BASIC, "group")
    new = await fake.migrate_group(BASIC, fake.user(5, "Ann"))
    with pytest.raises(TelegramMigrateToChat) as caught:
        await client.send_message(BASIC, "hello?")
    assert caught.value.migrate_to_chat_id == new["id"]
    assert "upgraded to a supergroup" in caught.value.message
    with pytest.raises(TelegramMigrateToChat):
        await client.get_chat_administrators(BASIC)
    sent = await client.send_message(new["id"], "hello")
    assert sent.chat.id == new["id"]
    assert fake.member_status(new["id"], fake.bot_id) == "administrator"


async def test_a_closed_topic_takes_the_bots_messages_only_with_the_right(
    fake: FakeTelegram, client: Bot
):
    forum = fake.add_chat(FORUM, is_forum=True)
    admin = fake.user(6, "Ada")
    fake.add_member(FORUM, admin, "administrator", can_manage_topics=True)
    thread = await fake.create_topic(forum, "Archive")
    question = await fake.send_message(forum, fake.user(5, "Ann"), "hi", topic=thread)
    await fake.close_topic(forum, thread, admin)
    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):
        await client.send_message(FORUM, "x", message_thread_id=thread)
    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):  # a reply lands there too
        await client.send_message(
            FORUM, "x", reply_parameters=ReplyParameters(message_id=question["message_id"])
        )
    assert (await client.send_message(FORUM, "to general")).message_thread_id is None
    fake.chats[FORUM].members[fake.bot_id]["can_manage_topics"] = True
    sent = await client.send_message(FORUM, "x", message_thread_id=thread)
    assert sent.message_thread_id == thread


@pytest.mark.parametrize("group_id", [BASIC, -5, -123456789, -4987654321])
async def test_an_upgraded_groups_id_is_like_telegrams(fake: FakeTelegram, group_id):
    """Supergroup ids are "-100" and a 10-digit number without leading zeros; the fake made
    -1000004012345 of -4012345, an id no real chat has."""
    fake.add_chat(group_id, "group")
    new = await fake.migrate_group(group_id, fake.user(5, "Ann"))
    digits = str(new["id"])[4:]
    assert str(new["id"]).startswith("-100") and len(digits) == 10 and digits[0] != "0"
    assert new["id"] not in (group_id,) and fake.chats[new["id"]].chat["type"] == "supergroup"


async def test_a_press_carries_no_reply_to_a_deleted_message(fake: FakeTelegram):
    """Telegram omits a callback query message's `reply_to_message` once the replied message
    is deleted; the fake still carried it."""
    chat = fake.add_chat(-1001234500001, title="Club")
    ann = fake.user(5, "Ann")
    question = fake.new_message(chat, ann, "a question?")
    answer = fake.new_message(chat, fake.bot_user, "an answer", reply_to=question)
    await fake.press_button(answer, ann, "x")
    pressed = fake._updates[-1]["callback_query"]["message"]
    assert pressed["reply_to_message"]["message_id"] == question["message_id"]
    del fake.messages[(chat["id"], question["message_id"])]
    await fake.press_button(answer, ann, "x")
    assert "reply_to_message" not in fake._updates[-1]["callback_query"]["message"]


async def test_a_reply_in_general_carries_its_chains_root_but_is_no_topic_message(
    fake: FakeTelegram, client: Bot
):
    """telegram-behaviour.md: "A message in General may still carry a message_thread_id (the
    root of a reply chain) without is_topic_message; that id is not a topic either"."""
    chat = fake.add_chat(-1001234567890, is_forum=True)
    ann, bob = fake.user(7, "Ann"), fake.user(8, "Bob")
    first = fake.new_message(chat, ann, "in General")
    reply = fake.new_message(chat, bob, "answer", reply_to=first)
    again = fake.new_message(chat, ann, "and again", reply_to=reply)
    assert reply["message_thread_id"] == again["message_thread_id"] == first["message_id"]
    assert "is_topic_message" not in reply and "is_topic_message" not in again
    assert "message_thread_id" not in first
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await client.send_message(chat["id"], "x", message_thread_id=reply["message_thread_id"])
