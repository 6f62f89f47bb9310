"""The fake Bot API server is no kinder than Telegram (../shared/telegram-behaviour.md).

Each test talks to the fake with a plain aiogram `Bot`, so it shows what the fake answers, not
what Steward does with the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import ChatPermissions, InlineKeyboardButton, InlineKeyboardMarkup

from tests.fake_telegram import FakeTelegram, FloodLimit

CHANNEL = -1001234567890
SUPERGROUP = -1009876543210
BASIC_GROUP = -4012345
FREE = ChatPermissions(
    **{
        name: True
        for name in ChatPermissions.model_fields
        if name.startswith("can_send") or name == "can_add_web_page_previews"
    }
)


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    client = Bot(fake.token, session=session)
    yield client
    await session.close()


def markup(text: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data="x")]]
    )


def sends(bot: Bot, user_id: int, source: tuple[int, int]) -> list:
    """Every kind of private send, each as a zero-argument call."""
    return [
        lambda: bot.send_message(user_id, "hi"),
        lambda: bot.send_photo(user_id, "photo-id"),
        lambda: bot.send_poll(user_id, "Q?", ["a", "b"]),
        lambda: bot.copy_message(user_id, *source),
        lambda: bot.forward_message(user_id, *source),
    ]


async def test_private_send_needs_the_user_to_have_started_the_bot(fake, bot):
    fake.add_chat(SUPERGROUP)
    source = (await bot.send_message(SUPERGROUP, "source")).message_id
    user = fake.user(501, "Ann")
    fake.add_member(SUPERGROUP, user)  # shares a group with the bot: still not reachable
    for send in sends(bot, 501, (SUPERGROUP, source)):
        with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation"):
            await send()
    await fake.send_message(fake.private_chat(user), user, "/start")
    for send in sends(bot, 501, (SUPERGROUP, source)):
        await send()


async def test_start_bot_marks_a_user_reachable_without_any_update(fake, bot):
    fake.start_bot(fake.user(502, "Bob"))
    assert fake.pending_updates() == 0
    assert (await bot.send_message(502, "hello")).chat.id == 502


async def test_blocked_and_deactivated_users_refuse_private_sends(fake, bot):
    blocker, gone = fake.user(503, "Cy"), fake.user(504, "Di")
    fake.start_bot(blocker)
    fake.start_bot(gone)
    fake.block_bot(503)
    fake.deactivate(504)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(503, "hi")
    with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
        await bot.copy_message(504, 504, 1)
    await fake.send_message(fake.private_chat(blocker), blocker, "/start")  # unblocked
    await bot.send_message(503, "welcome back")


async def test_blocking_in_the_client_is_seen_as_my_chat_member(fake, bot):
    user = fake.user(505, "Ed")
    chat = fake.start_bot(user)
    await fake.push_update(
        {
            "my_chat_member": {
                "chat": chat,
                "from": user,
                "date": fake.now(),
                "old_chat_member": {"status": "member", "user": fake.bot_user},
                "new_chat_member": {"status": "kicked", "user": fake.bot_user, "until_date": 0},
            }
        }
    )
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(505, "hi")


async def test_the_bots_own_messages_are_never_delivered_back(fake, bot):
    channel = fake.add_chat(CHANNEL, "channel", "News")
    group = fake.add_chat(SUPERGROUP)
    post = await bot.send_message(CHANNEL, "our post")
    with pytest.raises(AssertionError, match="never sends a bot its own messages"):
        await fake.push_update({"channel_post": fake.messages[(CHANNEL, post.message_id)]})
    with pytest.raises(AssertionError, match="never sends a bot its own messages"):
        await fake.send_message(group, fake.bot_user, "as if from the bot")
    # a person's post in the same channel arrives as usual
    human = fake.new_message(channel, None, "their post", sender_chat=channel)
    await fake.push_update({"channel_post": human})
    assert fake.pending_updates() == 1


@pytest.mark.parametrize(
    ("chat_id", "type_"),
    [
        (-100777, "supergroup"),  # no "-100" + internal id
        (-1001234567890, "group"),  # a basic group id is small
        (-4012345, "channel"),
        (-5, "private"),
        (42, "supergroup"),
    ],
)
def test_chat_ids_must_have_telegrams_shapes(fake, chat_id, type_):
    with pytest.raises(ValueError, match="not a Telegram id"):
        fake.add_chat(chat_id, type_)


def test_message_links_look_like_telegrams(fake):
    private_channel = fake.add_chat(CHANNEL, "channel", "News")
    public = fake.add_chat(SUPERGROUP, username="makers")
    basic = fake.add_chat(BASIC_GROUP, "group")
    assert fake.message_link(private_channel, 7) == "https://t.me/c/1234567890/7"
    assert fake.message_link(public, 8) == "https://t.me/makers/8"
    assert fake.message_link(basic, 9) is None


async def test_edits_that_change_nothing_are_refused(fake, bot):
    fake.add_chat(SUPERGROUP)
    text = await bot.send_message(SUPERGROUP, "text", reply_markup=markup("a"))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "text", chat_id=SUPERGROUP, message_id=text.message_id, reply_markup=markup("a")
        )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=SUPERGROUP, message_id=text.message_id, reply_markup=markup("a")
        )
    await bot.edit_message_reply_markup(
        chat_id=SUPERGROUP, message_id=text.message_id, reply_markup=markup("b")
    )
    await bot.edit_message_reply_markup(chat_id=SUPERGROUP, message_id=text.message_id)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=SUPERGROUP, message_id=text.message_id)

    photo = await bot.send_photo(SUPERGROUP, "photo-id", caption="cap")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_caption(
            chat_id=SUPERGROUP, message_id=photo.message_id, caption="cap"
        )
    await bot.edit_message_caption(chat_id=SUPERGROUP, message_id=photo.message_id, caption="new")


async def test_only_the_bots_own_text_or_caption_can_be_edited(fake, bot):
    """As Telegram: another's message "can't be edited", a photo has no text to edit and a
    text no caption."""
    chat = fake.add_chat(SUPERGROUP)
    member = fake.user(7, "Ann")
    theirs = await fake.send_message(chat, member, "mine")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=SUPERGROUP, message_id=theirs["message_id"])
    photo = await bot.send_photo(SUPERGROUP, "photo-id", caption="cap")
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text("x", chat_id=SUPERGROUP, message_id=photo.message_id)
    text = await bot.send_message(SUPERGROUP, "text")
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=SUPERGROUP, message_id=text.message_id, caption="x")


def bot_rights(fake: FakeTelegram, chat_id: int, **rights: bool) -> None:
    """The bot is an admin of the chat with these rights changed."""
    fake.chats[chat_id].members[fake.bot_id] = fake._admin_member(
        fake.bot_user, is_bot_self=True, **rights
    )


async def test_delete_needs_the_message_the_right_and_48_hours(fake, bot):
    """tdlib/td MessagesManager::can_delete_channel_message; Bot API docs of deleteMessage."""
    chat = fake.add_chat(SUPERGROUP, is_forum=True)
    user = fake.user(501, "Ann")
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(SUPERGROUP, 999)
    bot_rights(fake, SUPERGROUP, can_delete_messages=False)
    theirs = fake.new_message(chat, user, "hi")
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(SUPERGROUP, theirs["message_id"])
    own = await bot.send_message(SUPERGROUP, "mine")
    assert await bot.delete_message(SUPERGROUP, own.message_id)  # its own: no right needed
    bot_rights(fake, SUPERGROUP, can_delete_messages=True)
    assert await bot.delete_message(SUPERGROUP, theirs["message_id"])
    old = fake.new_message(chat, user, "old", date=fake.now() - 48 * 3600)
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(SUPERGROUP, old["message_id"])  # not even with the right
    topic = fake._new_topic(chat, "Topic", user)
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(SUPERGROUP, topic["message_id"])
    assert (SUPERGROUP, old["message_id"]) in fake.messages


async def test_delete_in_a_channel_basic_group_and_private_chat(fake, bot):
    fake.add_chat(CHANNEL, "channel", "News")
    bot_rights(fake, CHANNEL, can_delete_messages=False, can_post_messages=True)
    post = await bot.send_message(CHANNEL, "post")
    bot_rights(fake, CHANNEL, can_delete_messages=False, can_post_messages=False)
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(CHANNEL, post.message_id)  # its own post needs posting rights
    bot_rights(fake, CHANNEL, can_delete_messages=False, can_post_messages=True)
    assert await bot.delete_message(CHANNEL, post.message_id)

    basic = fake.add_chat(BASIC_GROUP, "group", bot_status="member")
    user = fake.user(501, "Ann")
    theirs = fake.new_message(basic, user, "hi")
    with pytest.raises(TelegramBadRequest, match="message can't be deleted for everyone"):
        await bot.delete_message(BASIC_GROUP, theirs["message_id"])
    own = await bot.send_message(BASIC_GROUP, "mine")
    assert await bot.delete_message(BASIC_GROUP, own.message_id)

    private = fake.start_bot(user)
    incoming = fake.new_message(private, user, "hello")
    assert await bot.delete_message(user["id"], incoming["message_id"])
    old = fake.new_message(private, user, "old", date=fake.now() - 49 * 3600)
    with pytest.raises(TelegramBadRequest, match="can't be deleted for everyone"):
        await bot.delete_message(user["id"], old["message_id"])


async def test_delete_messages_skips_missing_ones_but_refuses_all_for_one_it_may_not(fake, bot):
    """Bot API docs ("If some of the specified messages can't be found, they are skipped");
    tdlib/td MessagesManager::delete_messages checks every message before deleting any."""
    chat = fake.add_chat(SUPERGROUP)
    user = fake.user(501, "Ann")
    first = fake.new_message(chat, user, "a")
    second = fake.new_message(chat, user, "b")
    assert await bot.delete_messages(SUPERGROUP, [first["message_id"], 990, 991])
    assert (SUPERGROUP, first["message_id"]) not in fake.messages
    assert await bot.delete_messages(SUPERGROUP, [990, 991])
    old = fake.new_message(chat, user, "old", date=fake.now() - 3 * 86400)
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_messages(SUPERGROUP, [second["message_id"], old["message_id"]])
    assert (SUPERGROUP, second["message_id"]) in fake.messages


async def test_member_changes_refused_as_telegram_refuses_them(fake, bot):
    """tdlib/telegram-bot-api Client.cpp and tdlib/td DialogParticipantManager.cpp."""
    fake.add_chat(SUPERGROUP)
    owner, admin, member = fake.user(500, "Owner"), fake.user(501, "Adm"), fake.user(502, "Mem")
    fake.add_member(SUPERGROUP, owner, "creator")
    fake.add_member(SUPERGROUP, admin, "administrator")
    fake.add_member(SUPERGROUP, member)
    muted = ChatPermissions(can_send_messages=False)
    with pytest.raises(TelegramBadRequest, match="can't remove chat owner"):
        await bot.ban_chat_member(SUPERGROUP, 500)
    with pytest.raises(TelegramBadRequest, match="can't remove chat owner"):
        await bot.restrict_chat_member(SUPERGROUP, 500, muted)
    with pytest.raises(TelegramBadRequest, match="user is an administrator of the chat"):
        await bot.ban_chat_member(SUPERGROUP, 501)
    with pytest.raises(TelegramBadRequest, match="user is an administrator of the chat"):
        await bot.restrict_chat_member(SUPERGROUP, 501, muted)
    bot_rights(fake, SUPERGROUP, can_restrict_members=False)
    for call in (
        lambda: bot.restrict_chat_member(SUPERGROUP, 502, muted),
        lambda: bot.ban_chat_member(SUPERGROUP, 502),
    ):
        with pytest.raises(TelegramBadRequest, match="not enough rights to restrict/unrestrict"):
            await call()
    # what changes nothing needs no right
    assert await bot.unban_chat_member(SUPERGROUP, 502, only_if_banned=True)
    assert await bot.restrict_chat_member(SUPERGROUP, 502, FREE)
    assert fake.member_status(SUPERGROUP, 502) == "member"
    with pytest.raises(TelegramBadRequest, match="not enough rights"):
        await bot.promote_chat_member(SUPERGROUP, 502, can_delete_messages=True)

    basic = fake.add_chat(BASIC_GROUP, "group")
    fake.add_member(BASIC_GROUP, member)
    with pytest.raises(TelegramBadRequest, match="method is available only for supergroups"):
        await bot.restrict_chat_member(BASIC_GROUP, 502, muted)
    with pytest.raises(TelegramBadRequest, match="for supergroup and channel chats only"):
        await bot.unban_chat_member(BASIC_GROUP, 502)
    assert basic["type"] == "group"


async def test_non_members_can_be_restricted_and_banned_ahead(fake, bot):
    """A non-member: restricted or banned in advance, an unban changes nothing (Client.cpp
    process_restrict/unban_chat_member_query; tdlib/td DialogParticipantStatus::Restricted)."""
    fake.add_chat(SUPERGROUP)
    assert await bot.restrict_chat_member(SUPERGROUP, 502, ChatPermissions(can_send_messages=False))
    member = await bot.get_chat_member(SUPERGROUP, 502)
    assert member.status == "restricted" and member.is_member is False
    assert await bot.restrict_chat_member(SUPERGROUP, 502, FREE)
    assert fake.member_status(SUPERGROUP, 502) == "left"  # lifting made no member of them
    assert await bot.unban_chat_member(SUPERGROUP, 503, only_if_banned=True)
    assert fake.member_status(SUPERGROUP, 503) == "left"
    assert await bot.ban_chat_member(SUPERGROUP, 503)
    assert fake.member_status(SUPERGROUP, 503) == "kicked"
    assert await bot.unban_chat_member(SUPERGROUP, 503, only_if_banned=True)
    assert fake.member_status(SUPERGROUP, 503) == "left"


async def test_a_group_message_makes_its_sender_a_member(fake, bot):
    chat = fake.add_chat(SUPERGROUP)
    user, newbie = fake.user(501, "Ann"), fake.user(502, "New")
    await fake.send_message(chat, user, "hi")
    assert fake.member_status(SUPERGROUP, 501) == "member"
    fake.new_message(chat, None, new_chat_members=[newbie], **{"from": newbie})
    assert fake.member_status(SUPERGROUP, 502) == "member"


async def test_telegrams_size_limits_are_kept(fake, bot):
    """Counted after entity parsing: caption 1,024, callback_data 64 bytes, edited text 4,096,
    a poll's question 300, option 100, explanation 200; an alert 200."""
    fake.add_chat(SUPERGROUP)
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(SUPERGROUP, "photo-id", caption="x" * 1025)
    await bot.send_photo(
        SUPERGROUP, "photo-id", caption="<b>" + "x" * 1024 + "</b>", parse_mode="HTML"
    )
    long_data = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="é" * 33)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(SUPERGROUP, "hi", reply_markup=long_data)
    text = await bot.send_message(SUPERGROUP, "text")
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.edit_message_text("y" * 4097, chat_id=SUPERGROUP, message_id=text.message_id)
    with pytest.raises(TelegramBadRequest, match="question length"):
        await bot.send_poll(SUPERGROUP, "q" * 301, ["a", "b"])
    with pytest.raises(TelegramBadRequest, match="options length"):
        await bot.send_poll(SUPERGROUP, "q?", ["a", "b" * 101])
    with pytest.raises(TelegramBadRequest, match="explanation"):
        await bot.send_poll(
            SUPERGROUP, "q?", ["a", "b"], type="quiz", correct_option_id=0, explanation="e" * 201
        )


async def test_lengths_are_counted_in_utf16_units(fake, bot):
    """Telegram counts UTF-16 code units: an emoji outside the basic plane is two, so 2,049
    of them (4,098 units) are too long for a message and 513 for a caption."""
    fake.add_chat(SUPERGROUP)
    await bot.send_message(SUPERGROUP, "🎉" * 2048)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(SUPERGROUP, "🎉" * 2049)
    text = await bot.send_message(SUPERGROUP, "text")
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.edit_message_text("🎉" * 2049, chat_id=SUPERGROUP, message_id=text.message_id)
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(SUPERGROUP, "photo-id", caption="🎉" * 513)


async def test_a_callback_query_is_answered_once(fake, bot):
    chat = fake.add_chat(SUPERGROUP)
    sent = await bot.send_message(SUPERGROUP, "pick", reply_markup=markup("a"))
    message = fake.messages[(chat["id"], sent.message_id)]
    query = await fake.press_button(message, fake.user(501, "Ann"), "x")
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query, "n" * 201, show_alert=True)
    await bot.answer_callback_query(query, "ok")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query, "again")


async def test_votes_reach_the_bot_only_for_its_open_non_anonymous_polls(fake, bot):
    chat = fake.add_chat(SUPERGROUP)
    ann = fake.user(501, "Ann")
    anonymous = await bot.send_poll(SUPERGROUP, "q?", ["a", "b"])
    with pytest.raises(AssertionError, match="anonymous"):
        await fake.answer_poll(anonymous.poll.id, ann, 0)
    quiz = await bot.send_poll(
        SUPERGROUP, "q?", ["a", "b"], type="quiz", correct_option_id=0, is_anonymous=False
    )
    await fake.answer_poll(quiz.poll.id, ann, 1)
    with pytest.raises(AssertionError, match="no second vote"):
        await fake.answer_poll(quiz.poll.id, ann, 0)
    await bot.stop_poll(SUPERGROUP, quiz.message_id)
    with pytest.raises(AssertionError, match="closed"):
        await fake.answer_poll(quiz.poll.id, fake.user(502, "Ben"), 0)
    person = fake.new_message(chat, ann, poll={"id": "p9", "question": "?", "options": []})
    with pytest.raises(AssertionError, match="not sent by the bot"):
        await fake.answer_poll(person["poll"]["id"], ann, 0)


async def test_flood_limits_answer_429_with_retry_after(fake, bot):
    """20 messages a minute into a group, about 30 a second in all; channels and private chats
    count only for the overall limit; a refused call is not counted."""
    fake.add_chat(SUPERGROUP)
    fake.add_chat(CHANNEL, type_="channel")
    for n in range(20):
        await bot.send_message(SUPERGROUP, f"m{n}")
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(SUPERGROUP, "one too many")
    assert 1 <= refused.value.retry_after <= 60
    assert fake.flood_refusals == 1
    assert len(fake.calls_of("sendMessage")) == 20  # the refused one made no message
    await bot.send_message(CHANNEL, "channels have no per-minute limit")
    fake.overall_limit = FloodLimit(2, 60.0)
    fake._sent_at.clear()
    await bot.send_message(CHANNEL, "one")
    await bot.send_message(CHANNEL, "two")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(CHANNEL, "three")


async def test_get_updates_conflicts_with_a_webhook(fake, bot):
    await bot.set_webhook("https://example.org/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []


async def test_a_newer_get_updates_ends_a_waiting_one_with_409(fake, bot):
    """One consumer per token: Telegram answers the poll that was waiting 'terminated by other
    getUpdates request'."""
    waiting = asyncio.ensure_future(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await waiting


async def test_other_bots_group_messages_are_never_delivered(fake):
    """Bots do not see each other in groups; the anonymous-admin and channel placeholders are
    bots too, and their messages do arrive."""
    chat = fake.add_chat(SUPERGROUP)
    with pytest.raises(AssertionError, match="other bots' messages"):
        await fake.send_message(chat, fake.user(777, "Helper", is_bot=True), "hi")
    await fake.send_message(chat, fake.user(1087968824, "Group", is_bot=True), "from an admin")


async def test_posting_needs_membership_and_in_a_channel_the_right_to_post(fake, bot):
    """Bot API answers for a bot that may not post: a channel needs an admin with
    can_post_messages, a chat the bot left or was removed from answers 403, a restricted bot
    sends only what its permissions allow."""
    fake.add_chat(CHANNEL, "channel", "News", bot_status="member")
    with pytest.raises(TelegramBadRequest, match="need administrator rights in the channel chat"):
        await bot.send_message(CHANNEL, "post")
    bot_rights(fake, CHANNEL, can_post_messages=False)
    with pytest.raises(TelegramBadRequest, match="need administrator rights"):
        await bot.send_photo(CHANNEL, "photo-id")
    bot_rights(fake, CHANNEL, can_post_messages=True)
    post = await bot.send_message(CHANNEL, "post")

    group = fake.add_chat(SUPERGROUP, bot_status="")
    with pytest.raises(TelegramForbiddenError, match="bot is not a member of the supergroup chat"):
        await bot.copy_message(SUPERGROUP, CHANNEL, post.message_id)
    fake.chats[SUPERGROUP].members[fake.bot_id] = {"status": "kicked", "user": fake.bot_user}
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
        await bot.send_message(SUPERGROUP, "hi")
    fake.chats[SUPERGROUP].members[fake.bot_id] = {
        "status": "restricted",
        "user": fake.bot_user,
        "can_send_messages": True,
    }
    assert await bot.send_message(SUPERGROUP, "text is allowed")
    with pytest.raises(TelegramBadRequest, match="not enough rights to send polls to the chat"):
        await bot.send_poll(SUPERGROUP, "Q?", ["a", "b"])

    # the bot's own membership update is what Telegram acts on from then on
    owner = fake.user(3, "Owner")
    await fake.bot_added(group, owner)
    assert await bot.send_poll(SUPERGROUP, "Q?", ["a", "b"])
    await fake.push_update(
        {
            "my_chat_member": {
                "chat": group,
                "from": owner,
                "date": fake.now(),
                "old_chat_member": fake._admin_member(fake.bot_user, is_bot_self=True),
                "new_chat_member": {"status": "left", "user": fake.bot_user},
            }
        }
    )
    with pytest.raises(TelegramForbiddenError, match="not a member"):
        await bot.send_message(SUPERGROUP, "still here?")


async def test_pinning_needs_the_message_and_the_right(fake, bot):
    """pinChatMessage: can_pin_messages in a group, can_edit_messages in a channel; nothing in a
    private chat."""
    fake.add_chat(SUPERGROUP)
    own = await bot.send_message(SUPERGROUP, "rules")
    with pytest.raises(TelegramBadRequest, match="message to pin not found"):
        await bot.pin_chat_message(SUPERGROUP, 999)
    bot_rights(fake, SUPERGROUP, can_pin_messages=False)
    with pytest.raises(TelegramBadRequest, match="not enough rights to manage pinned messages"):
        await bot.pin_chat_message(SUPERGROUP, own.message_id)
    with pytest.raises(TelegramBadRequest, match="not enough rights to manage pinned messages"):
        await bot.unpin_chat_message(SUPERGROUP, message_id=own.message_id)
    bot_rights(fake, SUPERGROUP, can_pin_messages=True)
    assert await bot.pin_chat_message(SUPERGROUP, own.message_id)
    assert fake.chats[SUPERGROUP].pinned == own.message_id

    fake.add_chat(CHANNEL, "channel", "News")
    post = await bot.send_message(CHANNEL, "post")
    bot_rights(fake, CHANNEL, can_edit_messages=False)
    with pytest.raises(TelegramBadRequest, match="not enough rights to manage pinned messages"):
        await bot.pin_chat_message(CHANNEL, post.message_id)

    user = fake.user(501, "Ann")
    private = fake.start_bot(user)
    note = fake.new_message(private, user, "pin me")
    assert await bot.pin_chat_message(user["id"], note["message_id"])


async def test_what_telegram_will_not_copy_is_refused(fake, bot):
    """copyMessage refuses what the Bot API says cannot be copied (giveaways, invoices, paid
    media; a quiz whose right answer the bot was not told, as after a forward), and a poll that
    shows its voters cannot go to a channel, copied or sent (tdlib: can_send_message_content)."""
    fake.add_chat(CHANNEL, "channel", "News")
    bot_rights(fake, CHANNEL, can_post_messages=True)
    user = fake.user(501, "Ann")
    private = fake.start_bot(user)
    options = [{"persistent_id": str(n), "text": t, "voter_count": 0} for n, t in enumerate("ab")]
    poll = {"id": "p", "question": "Q?", "options": options, "total_voter_count": 0}
    poll |= {"is_closed": False, "allows_multiple_answers": False}
    poll |= {"allows_revoting": False, "members_only": False}
    quiz = fake.new_message(private, user, poll={**poll, "type": "quiz", "is_anonymous": True})
    public = fake.new_message(
        private, user, poll={**poll, "type": "regular", "is_anonymous": False}
    )
    giveaway = fake.new_message(
        private, user, giveaway={"chats": [], "winners_selection_date": 1, "winner_count": 1}
    )
    for refused in (quiz, giveaway):
        with pytest.raises(TelegramBadRequest, match="message can't be copied"):
            await bot.copy_message(CHANNEL, user["id"], refused["message_id"])
    with pytest.raises(TelegramBadRequest, match="non-anonymous polls can't be sent to channel"):
        await bot.copy_message(CHANNEL, user["id"], public["message_id"])
    assert await bot.copy_message(user["id"], user["id"], public["message_id"])  # not a channel
    known = fake.new_message(
        private,
        user,
        poll={**poll, "type": "quiz", "is_anonymous": True, "correct_option_ids": [1]},
    )
    assert await bot.copy_message(CHANNEL, user["id"], known["message_id"])


async def test_web_app_buttons_only_in_private_chats_and_only_https(fake, bot):
    """Bot API: an inline button's `web_app` is "available only in private chats between a
    user and the bot", and WebAppInfo's url is "an HTTPS URL" (for a menu button too)."""
    from aiogram.types import MenuButtonWebApp, WebAppInfo

    def opener(url: str) -> InlineKeyboardMarkup:
        button = InlineKeyboardButton(text="📅", web_app=WebAppInfo(url=url))
        return InlineKeyboardMarkup(inline_keyboard=[[button]])

    fake.add_chat(SUPERGROUP)
    user = fake.user(502, "Ben")
    fake.start_bot(user)
    with pytest.raises(TelegramBadRequest, match="BUTTON_TYPE_INVALID"):
        await bot.send_message(SUPERGROUP, "plan", reply_markup=opener("https://a.example/app/"))
    with pytest.raises(TelegramBadRequest, match="Only HTTPS links are allowed"):
        await bot.send_message(502, "plan", reply_markup=opener("http://a.example/app/"))
    with pytest.raises(TelegramBadRequest, match="Only HTTPS links are allowed"):
        await bot.set_chat_menu_button(
            chat_id=502,
            menu_button=MenuButtonWebApp(text="📅", web_app=WebAppInfo(url="http://a.example/")),
        )
    await bot.send_message(502, "plan", reply_markup=opener("https://a.example/app/"))
    await bot.set_chat_menu_button(
        chat_id=502,
        menu_button=MenuButtonWebApp(text="📅", web_app=WebAppInfo(url="https://a.example/")),
    )
