"""End-to-end moderation at its edges: commands in captions, the admin right each command
needs, floods in basic groups and muting a banned member."""

from __future__ import annotations

import asyncio

import pytest

from tests.fake_telegram import FakeTelegram
from tests.test_e2e_moderation import GROUP, LOG_CHAT, Group

VIDEO = {"file_id": "v-1", "file_unique_id": "uv-1", "width": 90, "height": 90, "duration": 3}
PHOTO = [{"file_id": "photo-1", "file_unique_id": "uphoto-1", "width": 90, "height": 90}]


@pytest.fixture
def bot_env(bot_env):
    bot_env["LOG_CHAT_ID"] = str(LOG_CHAT)
    return bot_env


@pytest.fixture
def group(fake: FakeTelegram) -> Group:
    return Group(fake)


async def test_moderator_commands_in_a_photos_caption_work_as_typed(steward, fake, group):
    """A moderator answering with a screenshot captioned "/warn spam" or "/ban" got nothing:
    only a file's caption reached the commands. Telegram marks the command in a caption as in
    a text (a `bot_command` caption entity)."""
    target = await group.say(group.member, "see you at the meeting tomorrow")
    await group.say(group.admin, None, reply_to=target, photo=PHOTO, caption="/warn spam")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "⚠️ Bob has been warned (1/3).\nReason: spam"
    mark = fake.mark()
    await group.say(group.admin, None, reply_to=target, video=VIDEO, caption="/BAN 1d")
    ban = await fake.wait_for("banChatMember", since=mark)
    assert ban["user_id"] == 200
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert reply.plain.startswith("🔨 Bob is banned for 1d.")
    # a member's captioned "/ban" is refused as their typed one is
    mark = fake.mark()
    other = await group.say(group.other, "hello")
    await group.say(group.other, None, reply_to=other, photo=PHOTO, caption="/ban")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert reply.plain == "Only admins of this chat can use this command."
    # /setrules takes a caption's words, formatting and all
    mark = fake.mark()
    await group.say(
        group.admin,
        None,
        photo=PHOTO,
        caption="/setrules Be kind",
        caption_entities=[
            {"type": "bot_command", "offset": 0, "length": 9},
            {"type": "bold", "offset": 10, "length": 2},
        ],
    )
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Rules saved"), since=mark)
    assert (await steward.app.moderation.chat_settings(GROUP)).rules == "<b>Be</b> kind"
