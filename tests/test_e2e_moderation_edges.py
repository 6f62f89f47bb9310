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


async def test_each_settings_command_needs_the_admin_right_telegram_would(steward, fake, group):
    """/approve, /filter, /settings and /setlog (and the other settings) worked for an admin
    the owner gave no right at all. Approving spares a member the restrictions (the right to
    ban users), the blocklist deletes messages (to delete messages), the settings are the
    chat's own (to change the group info); the owner holds every right."""
    weak = fake.user(150, "Wendy")
    fake.add_member(
        GROUP,
        weak,
        "administrator",
        can_restrict_members=False,
        can_delete_messages=False,
        can_change_info=False,
    )
    owner = fake.user(160, "Olga")
    fake.add_member(GROUP, owner, "creator")
    await group.say(group.member, "hi")
    ban_right = "Only admins with the right to ban users can do this."
    delete_right = "Only admins with the right to delete messages can do this."
    info_right = "Only admins with the right to change the group info can do this."
    for command, refusal in (
        ("/approve @bobby", ban_right),
        ("/unapprove @bobby", ban_right),
        ("/filter casino", delete_right),
        ("/unfilter casino", delete_right),
        ("/settings", info_right),
        ("/setlog off", info_right),
        ("/setrules Be kind", info_right),
        ("/setwarnlimit 2 ban", info_right),
        ("/setlanguages en", info_right),
        ("/setcaptcha 60", info_right),
    ):
        mark = fake.mark()
        await group.say(weak, command)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
        assert reply.plain == refusal, command
    await steward.idle()
    assert not await steward.app.moderation.is_approved(GROUP, 200)
    assert not await steward.app.moderation.filters(GROUP)
    assert (await steward.app.moderation.chat_settings(GROUP)).rules is None
    mark = fake.mark()
    await group.say(weak, "/filters")  # looking needs no right
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert reply.plain.startswith("The blocklist is empty.")

    # the panel another admin opened: a press by the admin without the right changes nothing
    mark = fake.mark()
    await group.say(group.admin, "/settings")
    panel = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    shown = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    first = panel["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    before = await steward.app.moderation.chat_settings(GROUP)
    mark = fake.mark()
    await fake.press_button(shown, weak, first)
    refused = await fake.wait_for("answerCallbackQuery", since=mark)
    assert refused["text"] == info_right and refused.get("show_alert")
    assert await steward.app.moderation.chat_settings(GROUP) == before

    # the owner holds every right
    for command, answer in (
        ("/approve @bobby", "✅ "),
        ("/filter casino", "🚫 Added to the blocklist"),
        ("/setlog off", "This chat's moderation log"),
    ):
        mark = fake.mark()
        await group.say(owner, command)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
        assert reply.plain.startswith(answer), (command, reply.plain)


async def test_a_flood_in_a_basic_group_is_deleted_logged_and_explained_once(steward, fake):
    """Telegram mutes only in supergroups: a flood in a basic group failed quietly at every
    message (a warning in the bot's log, nothing in the chat or the log chat). Now the flood's
    messages are deleted, the log chat reads "👀 Detected" once a flood, and the chat is told
    once that muting needs a supergroup."""
    basic = -4055502
    chat = fake.add_chat(basic, "group", title="Club")
    ann, ben = fake.user(11, "Ann"), fake.user(12, "Ben")
    fake.add_member(basic, ann)
    fake.add_member(basic, ben)
    fake.add_chat(LOG_CHAT, title="Mod log")
    await steward.app.moderation.update_settings(basic, spam_mode="off")
    start = fake.mark()
    sent = []
    for n in range(8):  # one at a time: the bot takes a burst's updates in no set order
        sent.append(await fake.send_message(chat, ann, f"message number {n}"))
        await steward.idle()
    notice = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == basic, since=start)
    assert "supergroup" in notice.plain and "Ann" in notice.plain, notice.plain
    log = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=start, timeout=20
    )
    assert log.plain.startswith("👀 Detected") and "rule flood" in log.plain
    assert "supergroup" in log.plain, log.plain
    await steward.idle()
    deleted = {c["message_id"] for c in fake.calls_of("deleteMessage") if c["chat_id"] == basic}
    assert deleted == {m["message_id"] for m in sent[5:]}
    assert all((basic, m["message_id"]) in fake.messages for m in sent[:5])
    assert fake.member_status(basic, 11) == "member"
    # another flood: deleted and logged, but the chat heard it already
    mark = fake.mark()
    for n in range(7):
        await fake.send_message(chat, ben, f"another message {n}")
        await steward.idle()
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=mark, timeout=20)
    await steward.idle()
    await asyncio.sleep(1.5)
    assert not [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == basic]
    logged = [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == LOG_CHAT]
    assert len(logged) == 1, [c.plain for c in logged]


async def test_mute_of_a_banned_member_says_so_and_keeps_the_ban(steward, fake, group):
    """restrictChatMember replaces a ban by the restriction (tdlib restrict_channel_participant:
    the banned member becomes a restricted non-member, free to rejoin): "/mute 1h" of a banned
    spammer answered "is muted" and let them back in. It now says they are banned and does
    nothing; a warn limit's mute too."""
    target = await group.say(group.member, "hello")
    await group.say(group.admin, "/ban", reply_to=target)
    await fake.wait_for("banChatMember")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    mark = fake.mark()
    await group.say(group.admin, "/mute 1h", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert reply.plain == (
        "Bob is banned in this chat: a mute would lift the ban. /unban them first if that is "
        "what you mean."
    )
    await group.say(group.admin, "/setwarnlimit 1 mute 1d")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Warn limit set"), since=mark)
    await group.say(group.admin, "/warn", reply_to=target)
    reply = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == GROUP and "banned" in c.plain, since=mark
    )
    await steward.idle()
    assert not fake.calls_of("restrictChatMember", since=mark)
    assert fake.member_status(GROUP, 200) == "kicked"
    actions = [a.action for a in await steward.app.mod_repo.recent_actions(GROUP, 10)]
    assert "mute" not in actions


async def test_setlog_sends_the_log_only_where_the_admin_is_an_admin_too(steward, fake, group):
    """Any admin of one group could send its log (members' names, copies of their messages)
    into any other chat the bot is in, a stranger's group included, with a notice posted
    there first. Now the log goes only to a chat whose admins include the one who asks (or to
    their own private chat)."""
    foreign = fake.add_chat(-1001005550001, title="Someone else's group")
    fake.add_member(foreign["id"], group.admin)  # a plain member there
    mark = fake.mark()
    await group.say(group.admin, f"/setlog {foreign['id']}")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert reply.plain == (
        "Only an admin of that chat can make it this chat's log chat: ask one of its admins "
        "to send /setlog here, or pick a chat you run."
    )
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage", mark) if c["chat_id"] == foreign["id"]]
    assert (await steward.app.moderation.chat_settings(GROUP)).log_chat_id is None

    own = fake.add_chat(-1001005550002, title="Alice's log")
    fake.add_member(own["id"], group.admin, "administrator")
    mark = fake.mark()
    await group.say(group.admin, f"/setlog {own['id']}")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert reply.plain == f"The moderation log now goes to {own['id']}."
    assert (await steward.app.moderation.chat_settings(GROUP)).log_chat_id == own["id"]


async def test_a_double_tap_on_a_settings_button_changes_the_rule_once(steward, fake, group):
    """Each tap moved a rule one mode on from whatever it was: a double tap on "Spam: enforce"
    (or two admins tapping their copies of the panel) left it at "log only", which no one
    chose. A tap now changes what its panel showed; a tap on a panel out of date changes
    nothing and redraws it. A panel sent before this change still works."""
    await group.say(group.admin, "/settings")
    panel = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    shown = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    spam = panel["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    for _ in range(2):
        await fake.press_button(shown, group.admin, spam)
    await steward.idle()
    assert (await steward.app.mod_repo.settings(GROUP)).spam_mode == "off"
    answers = [c["text"] for c in fake.calls_of("answerCallbackQuery")]
    assert sorted(answers) == ["Changed already; this is how it stands now.", "Saved."]
    assert "Spam from new members: off" in fake.messages[(GROUP, shown["message_id"])]["text"]
    # a panel of the version before: its tap still moves the rule on
    mark = fake.mark()
    await fake.press_button(shown, group.admin, "modset:spam")
    await fake.wait_for("answerCallbackQuery", since=mark)
    await steward.idle()
    assert (await steward.app.mod_repo.settings(GROUP)).spam_mode == "log"


async def test_a_captcha_in_a_basic_group_tells_the_log_chat_why_it_cannot_work(steward, fake):
    """Telegram restricts only in supergroups: with the captcha on in a basic group every
    newcomer joined unchecked and only the process log knew (as for a missing right)."""
    basic = -4055503
    chat = fake.add_chat(basic, "group", title="Club")
    fake.add_chat(LOG_CHAT, title="Mod log")
    await steward.app.mod_repo.update_settings(basic, captcha_mode="enforce", captcha_seconds=60)
    newbie = fake.user(400, "Nina")
    mark = fake.mark()
    await fake.send_message(chat, None, None, new_chat_members=[newbie], **{"from": newbie})
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=mark)
    assert log.plain.startswith("👀 Detected") and "rule captcha" in log.plain
    assert "Nina" in log.plain and "supergroup" in log.plain, log.plain
    assert not [c for c in fake.calls_of("sendMessage", mark) if c["chat_id"] == basic]


async def test_a_screenshot_calling_the_admins_reports_like_a_text(steward, fake, group):
    """A member replying with a screenshot captioned "@admin scam" reported nothing."""
    bad = await group.say(group.other, "see you at the meeting tomorrow")
    await group.say(group.member, None, reply_to=bad, photo=PHOTO, caption="@admin scam, look")
    report = await fake.wait_for("sendMessage", lambda c: "Report" in c.plain, timeout=20)
    assert report["chat_id"] == LOG_CHAT and "scam, look" in report.plain, report.plain
