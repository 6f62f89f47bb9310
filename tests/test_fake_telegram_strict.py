"""More of what the fake refuses as Telegram does (../shared/telegram-behaviour.md and the Bot
API in ../shared/botapi/api.json): HTML that does not parse, edits of another's markup, lists of
message ids, polls, bot commands, inline buttons, chat_member updates outside admin chats and
updates older than a day.

Like tests/test_fake_telegram.py, each test talks to the fake with a plain aiogram `Bot`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge, TelegramForbiddenError
from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from tests.fake_telegram import ApiError, FakeTelegram, parse_html

SUPERGROUP = -1009876543210


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    client = Bot(fake.token, session=session)
    yield client
    await session.close()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("a <= b", 'Unsupported start tag "=" at byte offset 2'),
        ("Tom <3", "Unclosed start tag at byte offset 4"),
        ("é <b", "Unclosed start tag at byte offset 3"),  # offsets count UTF-8 bytes
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<a href="https://x.example>l</a>', "Unclosed start tag at byte offset 0"),
        (
            "<b bold>x</b>",
            'Expected equal sign in declaration of an attribute of the tag "b" at byte offset 0',
        ),
        ("<a href=https://x.example/>y</a>", "Unexpected end of name token at byte offset 8"),
        (
            '<span style="color:red">hot</span>',
            'Tag "span" must have class "tg-spoiler" at byte offset 0',
        ),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier specified"),
        # a name interpolated unescaped: a valid tag that never closes
        ("Welcome, <i>Ann!", 'Can\'t find end tag corresponding to start tag "i"'),
    ],
)
def test_html_that_telegram_cannot_parse_is_refused(text, reason):
    """tdlib/td parse_html: "can't parse entities: <reason>"."""
    with pytest.raises(ApiError) as refused:
        parse_html(text)
    assert refused.value.description == f"Bad Request: can't parse entities: {reason}"


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("<b>a</b> &amp; <i>b</i>", "a & b"),
        ('<a href="https://x.example/?a=1&amp;b=2">link</a>', "link"),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st"),
        ("<blockquote expandable>q</blockquote>", "q"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
        ("<a href=x.example>x</a>", "x"),
        ("&nbsp;&#65;&#x42;&lt;&gt;&quot;", '&nbsp;AB<>"'),  # only four names are decoded
        ("1 > 0 & 2", "1 > 0 & 2"),
    ],
)
def test_html_that_telegram_parses_gives_its_text(text, plain):
    assert parse_html(text) == plain


async def test_a_send_with_unbalanced_html_is_refused(fake, bot):
    fake.add_chat(SUPERGROUP)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(SUPERGROUP, "<b>Ann <i>joined</b>", parse_mode="HTML")
    sent = await bot.send_message(SUPERGROUP, "<b>Ann</b> &lt;3", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.edit_message_text(
            "<u>x", chat_id=SUPERGROUP, message_id=sent.message_id, parse_mode="HTML"
        )
    assert sent.text == "Ann <3"


async def test_another_s_message_markup_cannot_be_edited(fake, bot):
    """Telegram: only the bot's own messages are edited, their buttons included."""
    chat = fake.add_chat(SUPERGROUP)
    theirs = await fake.send_message(chat, fake.user(7, "Ann"), "mine")
    buttons = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="ok", callback_data="x")]]
    )
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_reply_markup(
            chat_id=SUPERGROUP, message_id=theirs["message_id"], reply_markup=buttons
        )


async def test_an_edit_to_empty_text_is_refused(fake, bot):
    fake.add_chat(SUPERGROUP)
    sent = await bot.send_message(SUPERGROUP, "text")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.edit_message_text(
            "<b> </b>", chat_id=SUPERGROUP, message_id=sent.message_id, parse_mode="HTML"
        )


async def test_lists_of_message_ids_follow_the_bot_api(fake, bot):
    """copyMessages: 1-100 ids "in a strictly increasing order"; deleteMessages: 1-100 ids."""
    fake.add_chat(SUPERGROUP)
    first = (await bot.send_message(SUPERGROUP, "one")).message_id
    second = (await bot.send_message(SUPERGROUP, "two")).message_id
    with pytest.raises(TelegramBadRequest, match="strictly increasing order"):
        await bot.copy_messages(SUPERGROUP, SUPERGROUP, [second, first])
    with pytest.raises(TelegramBadRequest, match="strictly increasing order"):
        await bot.copy_messages(SUPERGROUP, SUPERGROUP, [first, first])
    with pytest.raises(TelegramBadRequest, match="too many message identifiers"):
        await bot.delete_messages(SUPERGROUP, list(range(1, 102)))
    assert len(await bot.copy_messages(SUPERGROUP, SUPERGROUP, [first, second])) == 2
    assert await bot.delete_messages(SUPERGROUP, [second, first])  # any order here


async def test_protected_content_is_not_copied(fake, bot):
    """Bot API forwardMessages: "messages with protected content can't be forwarded"; a copy
    is refused the same way."""
    chat = fake.add_chat(SUPERGROUP)
    protected = await fake.send_message(
        chat, fake.user(7, "Ann"), "secret", has_protected_content=True
    )
    with pytest.raises(TelegramBadRequest, match="message can't be copied"):
        await bot.copy_message(SUPERGROUP, SUPERGROUP, protected["message_id"])


async def test_a_poll_is_stopped_once_and_only_the_bots_own(fake, bot):
    chat = fake.add_chat(SUPERGROUP)
    poll = await bot.send_poll(SUPERGROUP, "Q?", ["a", "b"])
    await bot.stop_poll(SUPERGROUP, poll.message_id)
    with pytest.raises(TelegramBadRequest, match="poll can't be stopped"):
        await bot.stop_poll(SUPERGROUP, poll.message_id)
    options = [{"persistent_id": "0", "text": "a", "voter_count": 0}]
    theirs = fake.new_message(
        chat,
        fake.user(7, "Ann"),
        poll={
            "id": "theirs",
            "question": "Q?",
            "options": options,
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        },
    )
    with pytest.raises(TelegramBadRequest, match="poll can't be stopped"):
        await bot.stop_poll(SUPERGROUP, theirs["message_id"])


async def test_an_expired_poll_cannot_be_stopped(fake, bot):
    fake.add_chat(SUPERGROUP)
    poll = await bot.send_poll(SUPERGROUP, "Q?", ["a", "b"], open_period=60)
    now = fake.now()
    fake.clock = lambda: now + 61
    with pytest.raises(TelegramBadRequest, match="poll can't be stopped"):
        await bot.stop_poll(SUPERGROUP, poll.message_id)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"options": ["a"] * 13}, "1-12 options"),
        ({"options": ["a", " "]}, "options must be non-empty"),
        ({"question": " "}, "question must be non-empty"),
        ({"type": "quiz"}, "correct option of the quiz must be specified"),
        ({"type": "quiz", "correct_option_id": 2}, "wrong correct option id"),
        ({"open_period": 4}, "wrong poll open_period"),
        ({"open_period": 60, "close_date": 10**10}, "both open_period and close_date"),
        ({"close_date": 1}, "wrong poll close_date"),
    ],
)
async def test_polls_follow_the_bot_api(fake, bot, kwargs, reason):
    fake.add_chat(SUPERGROUP)
    args = {"chat_id": SUPERGROUP, "question": "Q?", "options": ["a", "b"]} | kwargs
    with pytest.raises(TelegramBadRequest, match=reason):
        await bot.send_poll(**args)


@pytest.mark.parametrize(
    ("command", "description", "reason"),
    [
        ("Start", "go", "BOT_COMMAND_INVALID"),  # lowercase only
        ("/start", "go", "BOT_COMMAND_INVALID"),
        ("x" * 33, "go", "BOT_COMMAND_INVALID"),
        ("start", " ", "command description must be non-empty"),
        ("start", "x" * 257, "command description is too long"),
    ],
)
async def test_bot_commands_follow_the_bot_api(fake, bot, command, description, reason):
    with pytest.raises(TelegramBadRequest, match=reason):
        await bot.set_my_commands([BotCommand(command=command, description=description)])


async def test_at_most_100_bot_commands(fake, bot):
    commands = [BotCommand(command=f"c{n}", description="d") for n in range(101)]
    with pytest.raises(TelegramBadRequest, match="too many commands"):
        await bot.set_my_commands(commands)
    assert await bot.set_my_commands(commands[:100])


@pytest.mark.parametrize(
    ("button", "reason"),
    [
        ({"text": "just text"}, "text buttons are unallowed in the inline keyboard"),
        ({"text": " ", "callback_data": "x"}, "BUTTON_TEXT_INVALID"),
        ({"text": "site", "url": "not a link"}, "BUTTON_URL_INVALID"),
        ({"text": "site", "url": "http://localhost:8080/"}, "BUTTON_URL_INVALID"),
        ({"text": "site", "url": "ftp://files.example/"}, "BUTTON_URL_INVALID"),
    ],
)
async def test_inline_buttons_follow_the_bot_api(fake, bot, button, reason):
    fake.add_chat(SUPERGROUP)
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(**button)]])
    with pytest.raises(TelegramBadRequest, match=reason):
        await bot.send_message(SUPERGROUP, "x", reply_markup=keyboard)


async def test_good_url_buttons_pass(fake, bot):
    fake.add_chat(SUPERGROUP)
    for url in ("https://example.com/a?b=c", "example.org", "tg://user?id=7"):
        button = InlineKeyboardButton(text="go", url=url)
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[button]])
        await bot.send_message(SUPERGROUP, "x", reply_markup=keyboard)


async def test_chat_member_updates_come_only_where_the_bot_is_an_admin(fake, bot):
    """telegram-behaviour.md: `chat_member` only where the bot is an admin."""
    fake.add_chat(SUPERGROUP, bot_status="member")
    fake.add_chat(-1001111111111)
    await bot.get_updates(allowed_updates=["chat_member"], timeout=0)
    await fake.join_chat(SUPERGROUP, fake.user(8, "Bo"))
    assert fake.pending_updates() == 0
    await fake.join_chat(-1001111111111, fake.user(8, "Bo"))
    updates = await bot.get_updates(allowed_updates=["chat_member"], timeout=0)
    assert [u.chat_member.chat.id for u in updates if u.chat_member] == [-1001111111111]


async def test_updates_older_than_a_day_are_dropped(fake, bot):
    """telegram-behaviour.md: "Updates older than 24 hours are dropped by Telegram"."""
    chat = fake.add_chat(SUPERGROUP)
    start = fake.now()
    await fake.send_message(chat, fake.user(7, "Ann"), "old")
    fake.clock = lambda: start + 3600
    await fake.send_message(chat, fake.user(7, "Ann"), "newer")
    fake.clock = lambda: start + 86400 + 1
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates] == ["newer"]


async def test_a_running_bot_gets_its_updates_however_far_the_clock_moves(fake, bot):
    """A bot that is polling fetches an update at once: a test replaying a week in a second
    loses none of it."""
    chat = fake.add_chat(SUPERGROUP)
    start = fake.now()
    await bot.get_updates(timeout=0)  # the bot runs
    fake.clock = lambda: start - 6 * 86400
    await fake.send_message(chat, fake.user(7, "Ann"), "a week ago")
    fake.clock = lambda: start
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates] == ["a week ago"]


async def test_a_removed_bot_edits_and_deletes_nothing(fake, bot):
    """A bot that was removed from a channel or group gets the 403 of its sends for its edits
    and deletions there too."""
    channel = -1001234567890
    fake.add_chat(channel, "channel", "News")
    post = await bot.send_message(channel, "post")
    fake.chats[channel].members[fake.bot_id] = {"status": "kicked", "user": fake.bot_user}
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the channel chat"):
        await bot.edit_message_text("new", chat_id=channel, message_id=post.message_id)
    with pytest.raises(TelegramForbiddenError, match="bot was kicked"):
        await bot.delete_message(channel, post.message_id)
    fake.add_chat(SUPERGROUP)
    sent = await bot.send_message(SUPERGROUP, "hi")
    fake.chats[SUPERGROUP].members[fake.bot_id] = {"status": "left", "user": fake.bot_user}
    with pytest.raises(TelegramForbiddenError, match="bot is not a member of the supergroup"):
        await bot.delete_messages(SUPERGROUP, [sent.message_id])


async def test_banning_a_sender_chat_needs_a_supergroup_and_the_right(fake, bot):
    """banChatSenderChat: "The bot must be an administrator in the supergroup or channel for
    this to work and must have the appropriate administrator rights"."""
    spam_channel = -1005555555555
    fake.add_chat(-4012345, "group")
    with pytest.raises(TelegramBadRequest, match="supergroup and channel chats only"):
        await bot.ban_chat_sender_chat(-4012345, spam_channel)
    fake.add_chat(SUPERGROUP)
    fake.chats[SUPERGROUP].members[fake.bot_id] = fake._admin_member(
        fake.bot_user, is_bot_self=True, can_restrict_members=False
    )
    with pytest.raises(TelegramBadRequest, match="not enough rights"):
        await bot.ban_chat_sender_chat(SUPERGROUP, spam_channel)
    with pytest.raises(TelegramBadRequest, match="not enough rights"):
        await bot.unban_chat_sender_chat(SUPERGROUP, spam_channel)
    fake.chats[SUPERGROUP].members[fake.bot_id] = fake._admin_member(
        fake.bot_user, is_bot_self=True
    )
    assert await bot.ban_chat_sender_chat(SUPERGROUP, spam_channel)
    assert fake.chats[SUPERGROUP].banned_senders == {spam_channel}
    assert await bot.unban_chat_sender_chat(SUPERGROUP, spam_channel)
    assert not fake.chats[SUPERGROUP].banned_senders


async def test_uploads_must_be_non_empty_and_within_telegrams_sizes(fake, bot):
    from aiogram.types import BufferedInputFile

    fake.add_chat(SUPERGROUP)
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(SUPERGROUP, BufferedInputFile(b"", filename="faq.csv"))
    with pytest.raises(TelegramEntityTooLarge):
        await bot.send_photo(SUPERGROUP, BufferedInputFile(b"x" * (10 * 2**20 + 1), "a.png"))
    assert await bot.send_document(SUPERGROUP, BufferedInputFile(b"a,b\n", filename="faq.csv"))


async def test_a_reply_is_looked_for_in_the_chat_its_parameters_name(fake, bot):
    """ReplyParameters.chat_id: the replied message is in that chat, not the target's."""
    from aiogram.types import ReplyParameters

    fake.add_chat(SUPERGROUP)
    other = -1003333333333
    fake.add_chat(other)
    there = await bot.send_message(other, "there")
    await bot.send_message(SUPERGROUP, "filler")
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(
            SUPERGROUP,
            "reply",
            reply_parameters=ReplyParameters(message_id=there.message_id + 5, chat_id=other),
        )
    sent = await bot.send_message(
        SUPERGROUP, "reply", reply_parameters=ReplyParameters(message_id=1, chat_id=other)
    )
    assert sent.reply_to_message is not None and sent.reply_to_message.text == "there"


async def test_a_command_scope_names_a_chat_telegram_knows(fake, bot):
    from aiogram.types import BotCommandScopeChat

    commands = [BotCommand(command="start", description="go")]
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=SUPERGROUP))
    fake.private_chat(fake.user(9, "Ann"))  # seen, never started the bot
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=9))
    fake.start_bot(fake.user(9, "Ann"))
    assert await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=9))


async def test_reaction_counts_come_only_where_the_bot_is_an_admin(fake, bot):
    """telegram-behaviour.md: in channels only `message_reaction_count`, and like per-user
    reactions only to an admin."""
    fake.add_chat(-1001234567890, "channel", "News", bot_status="member")
    fake.add_chat(-1002222222222, "channel", "Other")
    await bot.get_updates(allowed_updates=["message_reaction_count"], timeout=0)
    for chat_id in (-1001234567890, -1002222222222):
        await fake.push_update(
            {
                "message_reaction_count": {
                    "chat": fake.chats[chat_id].chat,
                    "message_id": 1,
                    "date": fake.now(),
                    "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 2}],
                }
            }
        )
    updates = await bot.get_updates(allowed_updates=["message_reaction_count"], timeout=0)
    assert [u.message_reaction_count.chat.id for u in updates] == [-1002222222222]


async def test_a_channel_post_is_edited_only_while_the_bot_may_post_or_edit(fake, bot):
    channel = -1001234567890
    fake.add_chat(channel, "channel", "News")
    post = await bot.send_message(channel, "post")
    fake.chats[channel].members[fake.bot_id] = fake._admin_member(
        fake.bot_user, is_bot_self=True, can_post_messages=False, can_edit_messages=False
    )
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("new", chat_id=channel, message_id=post.message_id)
    fake.chats[channel].members[fake.bot_id] = fake._admin_member(
        fake.bot_user, is_bot_self=True, can_post_messages=False, can_edit_messages=True
    )
    await bot.edit_message_text("new", chat_id=channel, message_id=post.message_id)


async def test_a_channel_tells_only_its_admins_who_subscribes(fake, bot):
    """Bot API getChatMember: "only guaranteed to work for other users if the bot is an
    administrator in the chat"; a channel refuses a bot that is not one."""
    channel = -1001234567890
    fake.add_chat(channel, "channel", "News", bot_status="left")
    fake.add_member(channel, fake.user(7, "Ann"))
    with pytest.raises(TelegramBadRequest, match="member list is inaccessible"):
        await bot.get_chat_member(channel, 7)
    assert (await bot.get_chat_member(channel, fake.bot_id)).status == "left"
    fake.chats[channel].members[fake.bot_id] = fake._admin_member(fake.bot_user, is_bot_self=True)
    assert (await bot.get_chat_member(channel, 7)).status == "member"
