"""End-to-end moderation: commands, automatic protection, the audit log and its undo."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.moderation.service import Actor, AuditAction, Target, render_details
from tests.fake_telegram import FakeTelegram

GROUP = -1001234500001
LOG_CHAT = -1009999900001
SPAM = "Нужны люди на удалённую работу, доход от 5000 в день, без опыта, пишите в лс"


@pytest.fixture
def bot_env(bot_env):
    bot_env["LOG_CHAT_ID"] = str(LOG_CHAT)
    return bot_env


class Group:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chat = fake.add_chat(GROUP, title="Fans", username="fans_chat")
        fake.add_chat(LOG_CHAT, title="Mod log")
        self.admin = fake.user(100, "Alice", username="alice")
        self.member = fake.user(200, "Bob", username="bobby")
        self.other = fake.user(300, "Carol", username="carol")
        fake.add_member(GROUP, self.admin, "administrator")
        fake.add_member(GROUP, self.member)
        fake.add_member(GROUP, self.other)

    async def say(self, user, text, **kw):
        return await self.fake.send_message(self.chat, user, text, **kw)


@pytest.fixture
def group(fake: FakeTelegram) -> Group:
    return Group(fake)


def near(value: int, expected: float, tolerance: float = 5) -> bool:
    return abs(value - expected) <= tolerance


async def test_mute_2h_by_admin_restricts_until_two_hours_ahead(steward, fake, group):
    target = await group.say(group.member, "hello all")
    await group.say(group.admin, "/mute 2h too loud", reply_to=target)
    call = await fake.wait_for("restrictChatMember")
    assert call["chat_id"] == GROUP and call["user_id"] == 200
    assert near(call["until_date"], time.time() + 7200)
    assert call["permissions"]["can_send_messages"] is False
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "Bob" in reply["text"] and "2h" in reply["text"] and "too loud" in reply["text"]
    assert fake.member_status(GROUP, 200) == "restricted"
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert "Mute" in log["text"]


async def test_mute_by_member_changes_nothing_and_is_refused(steward, fake, group):
    target = await group.say(group.other, "hi")
    await group.say(group.member, "/mute 2h", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply["text"] == "Only admins of this chat can use this command."
    assert not fake.calls_of("restrictChatMember")
    assert fake.member_status(GROUP, 300) == "member"


async def test_anonymous_admins_ban_works(steward, fake, group):
    target = await group.say(group.member, "some message")
    anonymous = fake.user(1087968824, "Group", is_bot=True, language_code=None)
    await group.say(anonymous, "/ban", reply_to=target, sender_chat=group.chat)
    call = await fake.wait_for("banChatMember")
    assert call["chat_id"] == GROUP and call["user_id"] == 200
    assert call.get("until_date", 0) == 0
    assert fake.member_status(GROUP, 200) == "kicked"


async def test_placeholder_user_without_sender_chat_cannot_ban(steward, fake, group):
    target = await group.say(group.member, "some message")
    anonymous = fake.user(1087968824, "Group", is_bot=True, language_code=None)
    await group.say(anonymous, "/ban", reply_to=target)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert not fake.calls_of("banChatMember")


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_three_warns_apply_the_warn_limit_action(steward, fake, group):
    target = await group.say(group.member, "meh")
    for n in range(1, 4):
        await group.say(group.admin, f"/warn rude {n}", reply_to=target)
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    call = await fake.wait_for("restrictChatMember", since=0)
    assert call["user_id"] == 200
    assert near(call["until_date"], time.time() + 86400)
    texts = [c["text"] for c in fake.calls_of("sendMessage") if c["chat_id"] == GROUP]
    assert "(1/3)" in texts[0] and "(2/3)" in texts[1]
    assert "reached 3 warns" in texts[2]
    # warns were reset by the action
    await group.say(group.admin, "/warns", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Bob has no warns."


async def test_new_members_spam_is_deleted_and_member_banned(steward, fake, group):
    spam = await group.say(group.member, SPAM)
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["message_id"] == spam["message_id"]
    ban = await fake.wait_for("banChatMember")
    assert ban["user_id"] == 200
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert "spam" in log["text"]
    buttons = [b["text"] for row in log["reply_markup"]["inline_keyboard"] for b in row]
    assert any("Undo" in b for b in buttons) and any("Details" in b for b in buttons)


async def test_same_spam_from_approved_member_is_left_alone(steward, fake, group):
    await group.say(group.admin, f"/approve @{group.member['username']}")
    # the bot learns @bobby's id from the messages it sees
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    fake.messages.clear()
    await group.say(group.member, "hi")  # now the bot knows @bobby
    await group.say(group.admin, "/approve @bobby")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "approved" in reply["text"]
    await group.say(group.member, SPAM)
    await fake.assert_no_call("deleteMessage", within=0.8)
    assert not fake.calls_of("banChatMember")


async def test_flood_is_muted(steward, fake, group):
    # the flood rule alone: a new member's burst may also read as spam, and a banned
    # member is not muted (the mute would lift the ban)
    await steward.app.moderation.update_settings(GROUP, spam_mode="off")
    for n in range(6):
        await group.say(group.other, f"message number {n}")
    call = await fake.wait_for("restrictChatMember", since=0)
    assert call["user_id"] == 300
    assert near(call["until_date"], time.time() + 600)
    notice = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=0)
    assert "flooding" in notice["text"]


async def test_the_message_that_floods_gets_no_faq_answer(steward, fake, group):
    """The message that made its sender a flooder stays, but the FAQ does not answer it right
    after "muted for flooding" (before, the member was muted and answered at once)."""
    await steward.app.moderation.update_settings(GROUP, spam_mode="off")  # the flood alone
    await group.say(group.admin, "/faq_add Where can I park? | Behind the hall.")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✅ FAQ entry #"))
    await steward.idle()
    mark = fake.mark()
    for n in range(5):
        await group.say(group.other, f"message number {n}")
    await steward.idle()  # the bot takes a burst's updates at once, in no set order
    await group.say(group.other, "Where can I park?")  # the sixth in 10 s
    await fake.wait_for("restrictChatMember", since=mark)
    await fake.wait_for("sendMessage", lambda c: "flooding" in c.plain, since=mark)
    await steward.idle()
    await fake.assert_no_call(
        "sendMessage", since=mark, predicate=lambda c: "Behind the hall" in c.plain
    )
    # the same question from someone else is answered as ever
    await group.say(group.member, "Where can I park?")
    await fake.wait_for("sendMessage", lambda c: "Behind the hall" in c.plain, since=mark)


async def test_filtered_word_is_deleted(steward, fake, group):
    await group.say(group.admin, "/filter casino")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "casino" in reply["text"]
    for _ in range(3):  # no longer a new member: the blocklist alone must catch it
        await group.say(group.other, "ordinary chat line")
    await fake.assert_no_call("deleteMessage", within=0.3)
    bad = await group.say(group.other, "Who wants to visit the CASINO tonight?")
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["message_id"] == bad["message_id"]
    # whole words only
    await group.say(group.other, "casinos are not the same word")
    await fake.assert_no_call("deleteMessage", within=0.5)


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_undo_in_log_chat_reverses_a_ban(steward, fake, group):
    target = await group.say(group.member, "bye")
    await group.say(group.admin, "/ban 1d", reply_to=target)
    await fake.wait_for("banChatMember")
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    undo = next(
        b for row in log["reply_markup"]["inline_keyboard"] for b in row if "Undo" in b["text"]
    )
    log_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    # a member of the moderated chat who is no admin cannot undo
    await fake.press_button(log_message, group.other, undo["callback_data"])
    refused = await fake.wait_for("answerCallbackQuery")
    assert "Only admins" in refused["text"]
    assert not fake.calls_of("unbanChatMember")
    await fake.press_button(log_message, group.admin, undo["callback_data"])
    unban = await fake.wait_for("unbanChatMember")
    assert unban["chat_id"] == GROUP and unban["user_id"] == 200
    assert fake.member_status(GROUP, 200) == "left"
    edited = await fake.wait_for("editMessageText")
    assert "Undone by Alice" in edited["text"]


async def test_undo_tapped_twice_reverses_and_records_once(steward, fake, group):
    """Both taps of a double tap on Undo were handled at once: the member was unmuted twice,
    the log got two "Unmute" entries and both taps were answered "Undone."."""
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/mute 1h", reply_to=target)
    confirmation = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    undo = confirmation["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    shown = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    mark = fake.mark()
    await fake.press_button(shown, group.admin, undo)
    await fake.press_button(shown, group.admin, undo)
    await fake.wait_for("answerCallbackQuery", since=mark, count=2)
    await steward.idle()
    answers = sorted(c["text"] for c in fake.calls_of("answerCallbackQuery", mark))
    assert answers == ["This was already undone.", "Undone."]
    assert len(fake.calls_of("restrictChatMember", mark)) == 1
    assert fake.member_status(GROUP, 200) == "member"
    actions = [a.action for a in await steward.app.mod_repo.recent_actions(GROUP, 10)]
    assert actions == ["unmute", "mute"]


async def test_bot_never_acts_on_admins_or_itself(steward, fake, group):
    admin_message = await group.say(group.admin, "I am the admin")
    second_admin = fake.user(101, "Dora")
    fake.add_member(GROUP, second_admin, "administrator")
    await group.say(second_admin, "/ban", reply_to=admin_message)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply["text"] == "I don't act on admins of this chat."
    await group.say(group.admin, f"/mute {fake.bot_id} 1h")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply["text"] == "I won't act on myself."
    assert not fake.calls_of("banChatMember") and not fake.calls_of("restrictChatMember")


async def test_wrong_use_gets_one_clear_line(steward, fake, group):
    await group.say(group.admin, "/mute")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply["text"].startswith("Reply to a message of the member, or name them")
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/mute 10min", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "10min" in reply["text"] and "1h30m" in reply["text"]
    await group.say(group.admin, "/ban @nobody_known")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "I don't know @nobody_known yet" in reply["text"]
    assert not fake.calls_of("restrictChatMember") and not fake.calls_of("banChatMember")


async def test_zero_duration_gets_one_clear_line_and_changes_nothing(steward, fake, group):
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/mute 0m", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("I don't understand the duration “0m”")
    await group.say(group.admin, "/setwarnlimit 3 ban 0d")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("I don't understand the duration “0d”")
    assert not fake.calls_of("restrictChatMember") and not fake.calls_of("banChatMember")
    assert (await steward.app.mod_repo.settings(GROUP)).warn_limit == 3


async def test_ban_longer_than_telegram_keeps_is_confirmed_as_permanent(steward, fake, group):
    """Telegram bans for good when until_date is over 366 days away: the confirmation must not
    promise an end ("banned for 57w1d") that never comes."""
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/ban 400d spam", reply_to=target)
    ban = await fake.wait_for("banChatMember")
    assert ban.get("until_date", 0) == 0
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "🔨 Bob is banned.\nReason: spam"
    await steward.idle()
    [action] = await steward.app.mod_repo.recent_actions(GROUP, 1)
    assert action.expires_at is None and not (action.details or {}).get("duration")


async def test_a_username_in_a_reply_names_whom_the_command_is_about(steward, fake, group):
    await group.say(group.other, "hi")  # the bot learns @carol
    bob = await group.say(group.member, "x")
    await group.say(group.admin, "/mute @carol 2h rude", reply_to=bob)
    call = await fake.wait_for("restrictChatMember")
    assert call["user_id"] == 300 and near(call["until_date"], time.time() + 7200)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "🔇 @carol is muted for 2h.\nReason: rude"
    assert fake.member_status(GROUP, 200) == "member"


async def test_missing_rights_are_explained(steward, fake, group):
    fake.chats[GROUP].members[fake.bot_id]["can_restrict_members"] = False
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/mute 1h", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply["text"].startswith("I can't do that: make me an admin")


async def test_an_admin_without_the_right_cannot_get_the_bot_to_do_it(steward, fake, group):
    """An admin the owner gave no right to ban users or delete messages banned and deleted
    through the bot all the same (with the bot's own rights), by command, by Undo and by the
    buttons under a report."""
    weak = fake.user(150, "Wendy")
    fake.add_member(
        GROUP, weak, "administrator", can_restrict_members=False, can_delete_messages=False
    )
    target = await group.say(group.member, "x")
    for command, refusal in (
        ("/ban", "Only admins with the right to ban users can do this."),
        ("/mute 1h", "Only admins with the right to ban users can do this."),
        ("/warn", "Only admins with the right to ban users can do this."),
        ("/del", "Only admins with the right to delete messages can do this."),
        ("/purge", "Only admins with the right to delete messages can do this."),
    ):
        await group.say(weak, command, reply_to=target)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        assert reply.plain == refusal, command
    await group.say(weak, "/modlog")  # what needs no right still works for them
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "No moderation actions in this chat yet."
    assert not fake.calls_of("banChatMember") and not fake.calls_of("deleteMessage")

    await group.say(group.admin, "/ban 1d", reply_to=target)
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    undo = log["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    log_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    await fake.press_button(log_message, weak, undo)
    refused = await fake.wait_for("answerCallbackQuery")
    assert refused["text"] == "Only admins with the right to ban users can do this."
    assert not fake.calls_of("unbanChatMember")

    bad = await group.say(group.other, "you are all idiots")
    await group.say(group.member, "/report", reply_to=bad)
    report = await fake.wait_for("sendMessage", lambda c: "Report" in c.plain)
    buttons = {
        b["text"]: b["callback_data"] for r in report["reply_markup"]["inline_keyboard"] for b in r
    }
    report_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    for text in ("🔨 Ban", "🗑 Delete"):
        await fake.press_button(report_message, weak, buttons[text])
        refused = await fake.wait_for("answerCallbackQuery")
        assert refused["text"].startswith("Only admins with the right to"), text
    assert len(fake.calls_of("banChatMember")) == 1 and not fake.calls_of("deleteMessage")

    # the owner gives the right: the change of rights counts at once
    fake.add_member(GROUP, weak, "administrator", can_restrict_members=True)
    await fake.push_update(
        {
            "chat_member": {
                "chat": group.chat,
                "from": group.admin,
                "date": fake.now(),
                "old_chat_member": fake._complete_member(
                    {**fake.chats[GROUP].members[150], "can_restrict_members": False}
                ),
                "new_chat_member": fake._complete_member(fake.chats[GROUP].members[150]),
            }
        }
    )
    await group.say(weak, "/mute 1h", reply_to=bad)
    muted = await fake.wait_for("restrictChatMember")
    assert muted["user_id"] == 300


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_warns_stay_when_the_warn_limit_action_is_refused(steward, fake, group):
    """Without the right to restrict, the third warn cannot mute: the moderator is told why and
    the warns stay, so the next /warn (with the right given) applies the limit."""
    fake.chats[GROUP].members[fake.bot_id]["can_restrict_members"] = False
    target = await group.say(group.member, "meh")
    for n in range(1, 4):
        await group.say(group.admin, f"/warn rude {n}", reply_to=target)
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    refused = [c.plain for c in fake.calls_of("sendMessage") if c["chat_id"] == GROUP][-1]
    assert refused.startswith("I can't do that: make me an admin")
    await group.say(group.admin, "/warns", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("Bob has 3 of 3 warns:")
    fake.chats[GROUP].members[fake.bot_id]["can_restrict_members"] = True
    await group.say(group.admin, "/warn rude 4", reply_to=target)
    call = await fake.wait_for("restrictChatMember")
    assert call["user_id"] == 200 and near(call["until_date"], time.time() + 86400)
    assert fake.member_status(GROUP, 200) == "restricted"


async def test_del_and_purge_that_telegram_refuses_say_why(steward, fake, group):
    """Telegram's refusal is the moderator's to read: no "Deleted 0 messages" for a /purge
    that deleted nothing, no "make me an admin" for a message someone else deleted already."""
    start = await group.say(group.other, "a")
    fake.fail("deleteMessages", 400, description="Bad Request: not enough rights to delete")
    await group.say(group.admin, "/purge", reply_to=start)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("I can't do that: make me an admin")
    gone = await group.say(group.member, "oops")
    del fake.messages[(GROUP, gone["message_id"])]  # deleted by an admin meanwhile
    await group.say(group.admin, "/del", reply_to=gone)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Telegram says this member or message is not in the chat."
    await steward.idle()
    assert not [a for a in await steward.app.mod_repo.recent_actions(GROUP, 5)]


async def test_purge_deletes_around_a_message_too_old_to_delete(steward, fake, group):
    """Telegram refuses a whole deleteMessages call for one message older than 48 hours:
    /purge still deletes the rest and says what stayed."""
    start = await group.say(group.other, "spam 1")
    old = await group.say(group.other, "an old message")
    fake.messages[(GROUP, old["message_id"])]["date"] -= 49 * 3600
    after = [await group.say(group.other, f"spam {n}") for n in (2, 3)]
    await group.say(group.admin, "/purge", reply_to=start)
    reply = await fake.wait_for("sendMessage", lambda c: "Deleted" in c.plain)
    assert reply.plain.startswith("🧹 Deleted up to 3 messages (Telegram does not say which")
    assert ". 1 message could not be deleted" in reply.plain
    left = {mid for chat, mid in fake.messages if chat == GROUP}
    assert old["message_id"] in left
    assert not left & {start["message_id"], *(m["message_id"] for m in after)}


async def test_purge_in_a_group_does_not_claim_ids_telegram_skipped(steward, fake, group):
    """In an ordinary group /purge asks for every id in the range; Telegram skips those
    already gone and still answers true, so "Deleted 3 messages" counted a message another
    admin had deleted. The count is said as what it is: at most that many."""
    start = await group.say(group.other, "spam 1")
    gone = await group.say(group.other, "spam 2")
    await group.say(group.other, "spam 3")
    del fake.messages[(GROUP, gone["message_id"])]  # deleted by someone else meanwhile
    await group.say(group.admin, "/purge", reply_to=start)
    reply = await fake.wait_for("sendMessage", lambda c: "Deleted" in c.plain)
    assert reply.plain == (
        "🧹 Deleted up to 3 messages (Telegram does not say which of them were already gone)."
    )
    await steward.idle()
    [action] = await steward.app.mod_repo.recent_actions(GROUP, 1)
    details = render_details(steward.app.i18n, action, "en")
    assert "Deleted: up to 3" in details  # as the moderator read it: the command aside


async def test_restart_keeps_warns_approvals_filters_and_timed_actions(steward, fake, group):
    target = await group.say(group.member, "hello")
    await group.say(group.admin, "/warn first", reply_to=target)
    await group.say(group.other, "hi there")
    await group.say(group.admin, "/approve @carol")
    await group.say(group.admin, "/filter forbidden")
    muted = await group.say(group.member, "hey")
    asked = time.time()
    await group.say(group.admin, "/mute 2h", reply_to=muted)
    await fake.wait_for("restrictChatMember", since=0)
    await fake.wait_for("sendMessage", lambda c: "is muted for 2h" in c["text"], since=0)
    confirmed = time.time()

    await steward.restart()

    timed = await steward.app.mod_repo.active_timed_actions(GROUP, int(time.time()))
    assert [(a.action, a.target_id) for a in timed] == [("mute", 200)]
    # two hours from when the mute was given (a restart on a loaded machine may take longer
    # than any fixed tolerance around the time of the check)
    assert int(asked) + 7200 <= timed[0].expires_at <= confirmed + 7200 + 1
    await group.say(group.admin, "/warns", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "1 of 3 warns" in reply["text"] and "first" in reply["text"]
    await group.say(group.other, SPAM)  # approved: left alone
    await fake.assert_no_call("deleteMessage", within=0.5)
    dave = fake.user(201, "Dave")  # Bob is muted: Telegram would not let him write
    fake.add_member(GROUP, dave)
    bad = await group.say(dave, "this is forbidden here")
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["message_id"] == bad["message_id"]


async def test_settings_buttons_change_modes(steward, fake, group):
    await group.say(group.admin, "/settings")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "Spam from new members: enforce" in reply["text"]
    assert "Join captcha: off" in reply["text"]
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    spam_button = reply["reply_markup"]["inline_keyboard"][0][0]
    await fake.press_button(message, group.member, spam_button["callback_data"])
    refused = await fake.wait_for("answerCallbackQuery")
    assert refused["show_alert"] is True
    await fake.press_button(message, group.admin, spam_button["callback_data"])
    edited = await fake.wait_for("editMessageText")
    assert "Spam from new members: off" in edited["text"]
    assert (await steward.app.mod_repo.settings(GROUP)).spam_mode == "off"
    await group.say(group.member, SPAM)
    await fake.assert_no_call("deleteMessage", within=0.5)


async def test_report_reaches_log_chat_with_action_buttons(steward, fake, group):
    bad = await group.say(group.other, "you are all idiots")
    await group.say(group.member, "/report insults <everyone> & me", reply_to=bad)
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert "Bob" in report["text"] and "Carol" in report["text"]
    assert "you are all idiots" in report["text"]
    # what the reporter wrote with it reaches the admins too (it was dropped)
    assert "💬 Their words: insults <everyone> & me" in report.plain
    thanks = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "admins have been notified" in thanks["text"]
    ban_button = next(
        b for row in report["reply_markup"]["inline_keyboard"] for b in row if "Ban" in b["text"]
    )
    report_message = fake.messages[
        (
            LOG_CHAT,
            max(
                m
                for c, m in fake.messages
                if c == LOG_CHAT and "Report" in fake.messages[(c, m)].get("text", "")
            ),
        )
    ]
    await fake.press_button(report_message, group.admin, ban_button["callback_data"])
    ban = await fake.wait_for("banChatMember")
    assert ban["user_id"] == 300


async def test_a_report_button_does_not_act_on_a_member_who_became_an_admin(steward, fake, group):
    """Between the report and the press the reported member was promoted: the bot never acts
    on a chat admin, so Warn is refused and stores nothing."""
    bad = await group.say(group.other, "you are all idiots")
    await group.say(group.member, "/report", reply_to=bad)
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    warn_button = next(
        b for row in report["reply_markup"]["inline_keyboard"] for b in row if "Warn" in b["text"]
    )
    carol = fake.chats[GROUP].members[300]["user"]
    fake.add_member(GROUP, carol, "administrator")
    await fake.push_update(
        {
            "chat_member": {
                "chat": fake.chats[GROUP].chat,
                "from": group.admin,
                "date": fake.now(),
                "old_chat_member": {"status": "member", "user": carol},
                "new_chat_member": fake.chats[GROUP].members[300],
            }
        }
    )
    await steward.idle()
    report_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    await fake.press_button(report_message, group.admin, warn_button["callback_data"])
    answer = await fake.wait_for("answerCallbackQuery")
    assert answer["show_alert"] and "admin" in answer["text"]
    await steward.idle()
    assert await steward.app.mod_repo.active_warns(GROUP, 300, 0) == []


async def test_a_report_speaks_the_language_of_those_who_read_it(fake, tmp_path):
    """A report is read by the admins, not by the reporter: a Russian member's report reached
    the (English) log chat, and a Dutch admin in private, in Russian, buttons included."""
    from tests.harness import RunningBot, make_env, settings_for

    env = make_env(fake, tmp_path)  # no LOG_CHAT_ID: reports go to the admins in private
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    await running.start()
    try:
        group = Group(fake)
        anna = fake.user(103, "Anna", language_code="nl")
        fake.add_member(GROUP, anna, "administrator")
        fake.start_bot(anna)
        await fake.send_message(fake.private_chat(anna), anna, "/start")
        ivan = fake.user(201, "Ivan", language_code="ru")
        fake.add_member(GROUP, ivan)
        bad = await group.say(group.other, "buy my stuff")
        await group.say(ivan, "/report", reply_to=bad)
        report = await fake.wait_for(
            "sendMessage", lambda c: c["chat_id"] == 103 and "buy my stuff" in c.plain
        )
        assert report.plain.startswith("📣 Melding in Fans: Ivan meldde Carol")
        buttons = [b["text"] for row in report["reply_markup"]["inline_keyboard"] for b in row]
        assert "🔨 Verbannen" in buttons
        thanks = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        assert thanks.plain.startswith("Спасибо")  # the reporter is answered in his own
        await running.app.mod_repo.update_settings(GROUP, log_chat_id=LOG_CHAT)
        fake.add_chat(LOG_CHAT, title="Mod log")
        second = await group.say(group.other, "buy more stuff")
        await group.say(ivan, "/report", reply_to=second)
        logged = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
        assert logged.plain.startswith("📣 Report in Fans: Ivan reported Carol")
        buttons = [b["text"] for row in logged["reply_markup"]["inline_keyboard"] for b in row]
        assert "🔨 Ban" in buttons
    finally:
        await running.stop()


async def test_report_of_a_channel_identity_names_and_bans_the_channel(steward, fake, group):
    channel = {"id": -1005550000007, "type": "channel", "title": "Ads Channel"}
    await steward.app.mod_repo.update_settings(GROUP, spam_mode="off")
    posted = await group.say(
        fake.user(136817688, "Channel", is_bot=True), "visit our channel", sender_chat=channel
    )
    await group.say(group.member, "/report", reply_to=posted)
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert "Bob reported Ads Channel" in report.plain
    buttons = {b["text"]: b for row in report["reply_markup"]["inline_keyboard"] for b in row}
    assert not any("Mute" in t or "Warn" in t for t in buttons)  # a channel cannot be muted
    ban = next(b for t, b in buttons.items() if "Ban" in t)
    await steward.idle()
    report_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    await fake.press_button(report_message, group.admin, ban["callback_data"])
    banned = await fake.wait_for("banChatSenderChat")
    assert banned["sender_chat_id"] == channel["id"]
    assert not fake.calls_of("banChatMember")


async def test_report_of_an_anonymous_admin_is_refused(steward, fake, group):
    anonymous = fake.user(1087968824, "Group", is_bot=True, language_code=None)
    posted = await group.say(anonymous, "announcement", sender_chat=group.chat)
    await group.say(group.member, "/report", reply_to=posted)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "That message is from an admin; reports are for members."
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage") if c["chat_id"] == LOG_CHAT]


async def test_report_abuse_is_rate_limited(steward, fake, group):
    for n in range(4):
        target = await group.say(group.other, f"line {n}")
        await group.say(group.member, "/report", reply_to=target)
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    last = [c for c in fake.calls_of("sendMessage") if c["chat_id"] == GROUP][-1]
    assert "several reports recently" in last["text"]

    # reports reach the log chat through the paced outbox, after the members' confirmations
    def is_report(c):
        return c["chat_id"] == LOG_CHAT and "Report" in c["text"]

    await fake.wait_for("sendMessage", is_report, since=0, count=3)
    await steward.idle()
    reports = [c for c in fake.calls_of("sendMessage") if is_report(c)]
    assert len(reports) == 3


async def test_join_captcha_restricts_and_button_releases(steward, fake, group):
    await steward.app.mod_repo.update_settings(GROUP, captcha_mode="enforce", captcha_seconds=60)
    newbie = fake.user(400, "Nina")
    await group.say(None, None, new_chat_members=[newbie], **{"from": newbie})
    restrict = await fake.wait_for("restrictChatMember")
    assert restrict["user_id"] == 400 and restrict["permissions"]["can_send_messages"] is False
    prompt = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    button = prompt["reply_markup"]["inline_keyboard"][0][0]
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(message, group.member, button["callback_data"])
    not_yours = await fake.wait_for("answerCallbackQuery")
    assert not_yours["show_alert"] is True
    await fake.press_button(message, newbie, button["callback_data"])
    release = await fake.wait_for("restrictChatMember")
    assert release["permissions"]["can_send_messages"] is True
    assert fake.member_status(GROUP, 400) == "member"


async def test_a_moderators_mute_ends_the_newcomers_captcha(steward, fake, group):
    """An admin muted a newcomer whose captcha was still open: the newcomer's press of the
    captcha button lifted the mute. The mute decides: the prompt goes, the button and the
    timer do nothing more."""
    await steward.app.mod_repo.update_settings(GROUP, captcha_mode="enforce", captcha_seconds=30)
    newbie = fake.user(402, "Pyotr")
    join = await group.say(None, None, new_chat_members=[newbie], **{"from": newbie})
    await fake.wait_for("restrictChatMember")
    prompt = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    button = prompt["reply_markup"]["inline_keyboard"][0][0]
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await group.say(group.admin, "/mute 2h flooding the join", reply_to=join)
    await fake.wait_for("sendMessage", lambda c: "Muted" in c.plain or "muted" in c.plain)
    await fake.wait_for("deleteMessage", lambda c: c["message_id"] == message["message_id"])
    mark = fake.mark()
    await fake.press_button(message, newbie, button["callback_data"])
    await fake.wait_for("answerCallbackQuery", since=mark)
    await steward.idle()
    assert not [c for c in fake.calls[mark:] if c.method in {"restrictChatMember", "banChatMember"}]
    assert fake.member_status(GROUP, 402) == "restricted"
    assert not await steward.app.mod_repo.pending_captchas()  # its timer finds nothing to do


async def test_the_captcha_follows_membership_not_the_restricted_status(steward, fake, group):
    """Telegram keeps a supergroup's restrictions on whoever leaves: a muted member who leaves
    and comes back reads restricted → restricted (is_member false → true) and got no captcha,
    while an admin restricting a non-member in advance (left → restricted, not a member) gave
    that non-member one."""
    await steward.app.mod_repo.update_settings(GROUP, captcha_mode="enforce", captcha_seconds=60)
    outsider = fake.user(403, "Quentin")
    await fake.push_update(
        {
            "chat_member": {
                "chat": group.chat,
                "from": group.admin,
                "date": fake.now(),
                "old_chat_member": {"status": "left", "user": outsider},
                "new_chat_member": fake._complete_member(
                    {"status": "restricted", "user": outsider, "is_member": False}
                ),
            }
        }
    )
    await steward.idle()
    assert not await steward.app.mod_repo.pending_captchas()
    returning = fake.user(404, "Rita")  # muted once, then left: still restricted
    fake.chats[GROUP].members[404] = fake._complete_member(
        {"status": "restricted", "user": returning, "is_member": False}
    )
    await fake.join_chat(GROUP, returning)
    prompt = await fake.wait_for("sendMessage", lambda c: "Rita" in c.plain)
    assert prompt["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ I am a person"


async def test_join_captcha_timeout_removes_member(steward, fake, group):
    await steward.app.mod_repo.update_settings(GROUP, captcha_mode="enforce", captcha_seconds=1)
    newbie = fake.user(401, "Oleg")
    join = await group.say(None, None, new_chat_members=[newbie], **{"from": newbie})
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    ban = await fake.wait_for("banChatMember", timeout=10)
    assert ban["user_id"] == 401
    unban = await fake.wait_for("unbanChatMember")
    assert unban["user_id"] == 401
    deleted = {c["message_id"] for c in fake.calls_of("deleteMessage")}
    await fake.wait_for("deleteMessage", lambda c: c["message_id"] == join["message_id"], since=0)
    assert (
        join["message_id"] in {c["message_id"] for c in fake.calls_of("deleteMessage")}
        or join["message_id"] in deleted
    )


async def test_language_rule_deletes_clearly_foreign_text(steward, fake, group):
    await steward.app.mod_repo.update_settings(GROUP, language_mode="enforce", languages="en,nl")
    for _ in range(3):
        await group.say(group.other, "just chatting here")
    ok = await group.say(group.other, "Hello everyone, how are you all doing today my friends?")
    await fake.assert_no_call("deleteMessage", within=0.4)
    bad = await group.say(group.other, "Привет всем, как у вас сегодня дела, друзья мои?")
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["message_id"] == bad["message_id"] != ok["message_id"]
    notice = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "en, nl" in notice["text"]


async def test_channel_identity_is_moderated_like_a_user(steward, fake, group):
    channel = {"id": -1005550000001, "type": "channel", "title": "Spam Channel"}
    posted = await group.say(
        fake.user(136817688, "Channel", is_bot=True), SPAM, sender_chat=channel
    )
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["message_id"] == posted["message_id"]
    ban = await fake.wait_for("banChatSenderChat")
    assert ban["sender_chat_id"] == channel["id"]


async def test_channel_identity_cannot_be_kicked_and_its_ban_has_no_end(steward, fake, group):
    channel = {"id": -1005550000009, "type": "channel", "title": "Loud Channel"}
    posted = await group.say(
        fake.user(136817688, "Channel", is_bot=True), "hello from a channel", sender_chat=channel
    )
    await group.say(group.admin, "/kick", reply_to=posted)
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refused.plain.startswith("A channel cannot be removed and let back in")
    await group.say(group.admin, "/ban 1d", reply_to=posted)
    banned = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert banned.plain.startswith("🔨 Loud Channel is banned.")
    assert len(fake.calls_of("banChatSenderChat")) == 1
    await steward.idle()
    actions = await steward.app.mod_repo.recent_actions(GROUP, 10)
    [action] = [a for a in actions if a.action == "ban"]
    assert action.expires_at is None


async def test_channel_identity_is_named_by_id_and_never_muted_or_warned(steward, fake, group):
    """Telegram mutes and bans users only (restrictChatMember/banChatMember refuse a chat's
    id): the bot told "🔇 Loud Channel is muted." of a mute Telegram refused, warned a channel
    towards a mute it cannot get, and `/ban -100…` called banChatMember for the channel."""
    channel = {"id": -1005550000011, "type": "channel", "title": "Loud Channel"}
    posted = await group.say(
        fake.user(136817688, "Channel", is_bot=True), "hello from a channel", sender_chat=channel
    )
    for command in ("/mute 1h", "/warn", "/unmute"):
        await group.say(group.admin, command, reply_to=posted)
        refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        assert refused.plain == (
            "A channel cannot be muted or warned: /ban stops it posting here, /unban lets it back."
        )
    await group.say(group.admin, f"/ban {channel['id']} ads")
    banned = await fake.wait_for("banChatSenderChat")
    assert banned["sender_chat_id"] == channel["id"]
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "banned" in c.plain)
    await group.say(group.admin, f"/unban {channel['id']}")
    unbanned = await fake.wait_for("unbanChatSenderChat")
    assert unbanned["sender_chat_id"] == channel["id"]
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "unbanned" in c.plain)
    await group.say(group.admin, f"/ban {GROUP}")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refused.plain == "I don't act on admins of this chat."
    await steward.idle()
    assert not fake.calls_of("restrictChatMember") and not fake.calls_of("banChatMember")
    assert not await steward.app.mod_repo.active_warns(GROUP, channel["id"], int(time.time()))


async def test_no_one_is_acted_on_for_a_post_of_the_linked_channel(steward, fake, group):
    """A post the linked channel forwards into its discussion group comes from Telegram's
    service account 777000 (`from`) as the channel (`sender_chat`): a /ban in reply to it
    banned user 777000 and a /report reported "Telegram". The channel is the admins' own."""
    channel = {"id": -1005550000012, "type": "channel", "title": "Our Channel"}
    fake.chats[GROUP].linked_chat_id = channel["id"]
    post = await group.say(
        fake.user(777000, "Telegram"), "new post", sender_chat=channel, is_automatic_forward=True
    )
    await group.say(group.admin, "/ban", reply_to=post)
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refused.plain == "I don't act on admins of this chat."
    await group.say(group.member, "/report", reply_to=post)
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refused.plain == "That message is from an admin; reports are for members."
    # the channel's admins posting as the channel (no automatic forward) are the admins too
    own = await group.say(fake.user(136817688, "Channel", is_bot=True), "hi", sender_chat=channel)
    await group.say(group.admin, "/ban", reply_to=own)
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refused.plain == "I don't act on admins of this chat."
    await steward.idle()
    assert not fake.calls_of("banChatMember") and not fake.calls_of("banChatSenderChat")
    assert not [c for c in fake.calls_of("sendMessage") if c["chat_id"] == LOG_CHAT]


async def test_ids_no_account_has_are_no_target(steward, fake, group):
    """`/ban 99999999999999999999` got "Sorry, something went wrong" and `/warn 0` warned
    "0": neither names anyone, so the usage line answers."""
    for command in ("/ban 99999999999999999999", "/warn 0"):
        await group.say(group.admin, command)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        assert reply.plain.startswith("Reply to a message of the member, or name them")
    await steward.idle()
    assert not fake.calls_of("banChatMember")
    assert not await steward.app.mod_repo.recent_actions(GROUP, 5)


async def test_linked_channel_forward_is_exempt(steward, fake, group):
    channel = {"id": -1005550000002, "type": "channel", "title": "Our Channel"}
    await group.say(
        fake.user(777000, "Telegram", is_bot=False),
        SPAM,
        sender_chat=channel,
        is_automatic_forward=True,
    )
    await fake.assert_no_call("deleteMessage", within=0.6)


async def test_album_is_judged_as_one_unit(steward, fake, group):
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}]
    first = await group.say(group.member, None, photo=photo, caption=SPAM, media_group_id="album1")
    await fake.wait_for("deleteMessage")
    second = await group.say(group.member, None, photo=photo, media_group_id="album1")
    deleted = await fake.wait_for(
        "deleteMessage", lambda c: c["message_id"] == second["message_id"]
    )
    assert deleted["message_id"] != first["message_id"]


async def test_an_album_counts_as_one_message(steward, fake, group):
    """An album of six photos reaches the bot as six messages: its sender was muted "for
    flooding" (5 in 10 s), and a newcomer's 3-photo album made them a trusted member at once."""
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}]
    for n in range(6):
        caption = {"caption": "our trip"} if n == 0 else {}
        await group.say(group.other, None, photo=photo, media_group_id="trip", **caption)
    await fake.assert_no_call("restrictChatMember", within=1.0)
    for _ in range(3):
        await group.say(group.member, None, photo=photo, media_group_id="cats")
    await steward.idle()
    await group.say(group.member, SPAM)  # still a newcomer's second message: checked
    ban = await fake.wait_for("banChatMember")
    assert ban["user_id"] == 200
    assert not fake.calls_of("restrictChatMember")


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_spam_command_learns_and_notspam_undoes(steward, fake, group):
    for _ in range(3):
        await group.say(group.other, "regular talk")
    sneaky = await group.say(group.other, "Buy cheap followers at our shop, best prices")
    await group.say(group.admin, "/spam", reply_to=sneaky)
    await fake.wait_for("banChatMember")
    confirmation = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "Removed spam from Carol" in confirmation.plain
    deleted = await fake.wait_for("deleteMessage", since=0)
    assert deleted["message_id"] == sneaky["message_id"]
    lessons = await steward.app.mod_repo.lessons()
    assert lessons == [("Buy cheap followers at our shop, best prices", True)]
    action = (await steward.app.mod_repo.recent_actions(GROUP, 1))[0]
    await group.say(group.admin, f"/notspam {action.id}")
    unban = await fake.wait_for("unbanChatMember")
    assert unban["user_id"] == 300
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "Undone" in c.plain)
    assert (await steward.app.mod_repo.lessons())[-1] == (sneaky["text"], False)


async def test_usage_lines_with_angle_brackets_reach_the_chat(steward, fake, group):
    await group.say(group.admin, "/filter")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Usage: /filter <word or phrase> or /filter /regex/"
    await group.say(group.admin, "/setwarnlimit lots")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("Usage: /setwarnlimit <number 1-20>")


async def test_setwarnlimit_ban_changes_the_limit_action(steward, fake, group):
    await group.say(group.admin, "/setwarnlimit 2 ban 3d")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Warn limit set: 2 warns → ban 3d."
    target = await group.say(group.member, "x")
    for _ in range(2):
        await group.say(group.admin, "/warn", reply_to=target)
    ban = await fake.wait_for("banChatMember")
    assert near(ban["until_date"], time.time() + 3 * 86400)


async def test_modlog_lists_recent_actions_in_the_users_language(steward, fake, group):
    admin_ru = fake.user(102, "Ivan", language_code="ru")
    fake.add_member(GROUP, admin_ru, "administrator")
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/warn spam links", reply_to=target)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    await group.say(admin_ru, "/modlog 5")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("Последние действия (1):")
    assert "Bob" in reply.plain and "spam links" in reply.plain and "Alice" in reply.plain


async def test_every_action_has_a_name_in_the_log(steward, fake, group):
    """/unwarn and /resetwarns showed as the raw "unwarn" and "resetwarns" in the log chat and
    in /modlog, in every language."""
    admin_ru = fake.user(102, "Ivan", language_code="ru")
    fake.add_member(GROUP, admin_ru, "administrator")
    target = await group.say(group.member, "x")
    for command in ("/warn", "/unwarn", "/warn", "/resetwarns"):
        await group.say(group.admin, command, reply_to=target)
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=0, count=4)
    log = [c.plain for c in fake.calls_of("sendMessage") if c["chat_id"] == LOG_CHAT]
    assert log[1].startswith("➖ Warn removed") and log[3].startswith("🧽 Warns cleared")
    await group.say(admin_ru, "/modlog")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "unwarn" not in reply.plain and "resetwarns" not in reply.plain
    assert "Предупреждения сброшены" in reply.plain


async def test_promotion_update_grants_admin_commands_at_once(steward, fake, group):
    target = await group.say(group.other, "x")
    await group.say(group.member, "/warn", reply_to=target)
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refused.plain == "Only admins of this chat can use this command."
    fake.add_member(GROUP, group.member, "administrator")
    promoted = fake.chats[GROUP].members[200]
    await fake.push_update(
        {
            "chat_member": {
                "chat": group.chat,
                "from": group.admin,
                "date": fake.now(),
                "old_chat_member": {"status": "member", "user": group.member},
                "new_chat_member": fake._complete_member(promoted),
            }
        }
    )
    await group.say(group.member, "/warn", reply_to=target)
    warned = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "has been warned (1/3)" in warned.plain


async def test_join_via_chat_member_update_makes_member_new_again(steward, fake, group):
    await steward.app.mod_repo.update_settings(GROUP, captcha_mode="enforce")
    returning = fake.user(402, "Pavel")
    await fake.push_update(
        {
            "chat_member": {
                "chat": group.chat,
                "from": returning,
                "date": fake.now(),
                "old_chat_member": {"status": "left", "user": returning},
                "new_chat_member": {"status": "member", "user": returning},
            }
        }
    )
    restrict = await fake.wait_for("restrictChatMember")
    assert restrict["user_id"] == 402
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "Pavel" in c.plain)
    await asyncio.sleep(0.1)  # the pending captcha is stored right after the prompt
    assert await steward.app.mod_repo.clean_messages(GROUP, 402) == 0
    pending = await steward.app.mod_repo.pending_captchas()
    assert [(p["chat_id"], p["user_id"]) for p in pending] == [(GROUP, 402)]


async def test_del_purge_kick_unmute_unban_rules(steward, fake, group):
    first = await group.say(group.member, "one")
    await group.say(group.member, "two")
    await group.say(group.admin, "/del", reply_to=first)
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["message_id"] == first["message_id"]

    start = await group.say(group.other, "a")
    await group.say(group.other, "b")
    command = await group.say(group.admin, "/purge", reply_to=start)
    purge = await fake.wait_for("deleteMessages")
    assert purge["message_ids"] == list(range(start["message_id"], command["message_id"] + 1))
    await fake.wait_for("sendMessage", lambda c: "Deleted up to 2 messages" in c.plain)

    await group.say(group.admin, "/kick @bobby rude")
    await fake.wait_for("banChatMember")
    unban = await fake.wait_for("unbanChatMember")
    assert unban["user_id"] == 200 and unban["only_if_banned"] is True
    assert fake.member_status(GROUP, 200) == "left"

    await group.say(group.admin, "/mute @carol 1h")
    await fake.wait_for("restrictChatMember")
    await group.say(group.admin, "/unmute @carol")
    lifted = await fake.wait_for("restrictChatMember")
    assert lifted["permissions"]["can_send_messages"] is True
    assert fake.member_status(GROUP, 300) == "member"

    await group.say(group.admin, "/ban 300")
    await fake.wait_for("banChatMember")
    await group.say(group.admin, "/unban 300")
    await fake.wait_for("unbanChatMember")
    assert fake.member_status(GROUP, 300) == "left"
    # the group is paced too: let every confirmation arrive before the next question
    await fake.wait_for("sendMessage", lambda c: "is unbanned" in c.plain, timeout=20)

    await group.say(group.other, "/rules")
    none_yet = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert none_yet.plain.startswith("No rules are set yet")
    await group.say(group.admin, "/setrules Be kind. No ads.")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Rules saved"))
    await group.say(group.other, "/rules")
    rules = await fake.wait_for("sendMessage", lambda c: "Be kind" in c.plain)
    assert rules.plain.endswith("Be kind. No ads.")


async def test_rules_with_angle_brackets_and_formatting_reach_the_members(steward, fake, group):
    """Rules are text a moderator typed: "<" and "&" are letters, not HTML, and their bold stays
    bold. Sent raw with HTML parse mode, Telegram refused every /rules afterwards."""
    text = "/setrules Be kind. Under 18 <ask first> & no ads."
    bold = {"type": "bold", "offset": text.index("Be kind"), "length": len("Be kind.")}
    command = {"type": "bot_command", "offset": 0, "length": len("/setrules")}
    await group.say(group.admin, text, entities=[command, bold])
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Rules saved"))
    await group.say(group.other, "/rules")
    rules = await fake.wait_for("sendMessage", lambda c: "Be kind" in c.plain)
    await steward.idle()
    assert rules.plain.endswith("\n\nBe kind. Under 18 <ask first> & no ads.")
    assert "<b>Be kind.</b>" in rules["text"]
    assert not [c for c in fake.calls_of("sendMessage") if "went wrong" in c.plain]


async def test_emoji_rules_at_the_limit_still_reach_the_members(steward, fake, group):
    """/setrules kept rules up to 3,500 code points; Telegram counts UTF-16 units (an emoji is
    two), so 3,000 emoji made every /rules twice too long and refused: they are cut to fit."""
    await group.say(group.admin, "/setrules " + "🙂" * 3000)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Rules saved"))
    await group.say(group.other, "/rules")
    rules = await fake.wait_for("sendMessage", lambda c: "🙂" in c.plain)
    assert 1000 < rules.plain.count("🙂") <= 1750
    assert len(rules.plain.encode("utf-16-le")) // 2 <= 4096


async def test_setcaptcha_sets_the_timeout(steward, fake, group):
    await group.say(group.admin, "/setcaptcha 90")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "90 seconds" in reply.plain and "/settings" in reply.plain
    assert (await steward.app.mod_repo.settings(GROUP)).captcha_seconds == 90
    await group.say(group.admin, "/setcaptcha 5")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("Usage: /setcaptcha <seconds from 30 to 3600>")


async def test_report_without_log_chat_goes_to_every_admin_telegram_lets_it_reach(fake, tmp_path):
    """Alice pressed Start in a past deployment (this database never saw it), Dave never did:
    both are tried once, Alice gets the report, the member is thanked."""
    from tests.harness import RunningBot, make_env, settings_for

    env = make_env(fake, tmp_path)  # no LOG_CHAT_ID
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    await running.start()
    try:
        group = Group(fake)
        dave = fake.user(101, "Dave")
        fake.add_member(GROUP, dave, "administrator")
        fake.start_bot(group.admin)
        bad = await group.say(group.other, "buy my stuff")
        await group.say(group.member, "@admin look at this", reply_to=bad)
        report = await fake.wait_for(
            "sendMessage", lambda c: c["chat_id"] == 100 and "Report" in c.plain
        )
        assert "buy my stuff" in report.plain and "💬 Their words: look at this" in report.plain
        assert f"https://t.me/fans_chat/{bad['message_id']}" in report.plain
        thanks = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        assert thanks.plain == "Thanks, the admins have been notified."
        await running.idle()
        private = sorted(c["chat_id"] for c in fake.calls_of("sendMessage") if c["chat_id"] > 0)
        assert private == [100, 101]  # one try each, no retry
        assert await running.app.users.private_status(101) == "not_started"
    finally:
        await running.stop()


async def test_report_link_of_a_private_supergroup_uses_t_me_c(fake, tmp_path):
    from tests.harness import RunningBot, make_env, settings_for

    env = make_env(fake, tmp_path)  # no LOG_CHAT_ID
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    await running.start()
    try:
        group = Group(fake)
        group.chat.pop("username")  # a private supergroup: links carry the id without -100
        fake.start_bot(group.admin)
        bad = await group.say(group.other, "buy my stuff")
        await group.say(group.member, "/report", reply_to=bad)
        report = await fake.wait_for(
            "sendMessage", lambda c: c["chat_id"] == 100 and "Report" in c.plain
        )
        assert fake.message_link(group.chat, bad["message_id"]) in report.plain
        assert f"https://t.me/c/{str(GROUP)[4:]}/{bad['message_id']}" in report.plain
    finally:
        await running.stop()


async def test_kick_of_someone_not_in_the_chat_says_so_and_lifts_no_ban(steward, fake, group):
    """Telegram answers True to banning and unbanning a non-member (a ban in advance, an unban
    of no one), so the bot said "👢 Bob was removed" of someone who had left, and a /kick of a
    banned member lifted their ban."""
    target = await group.say(group.member, "bye all")
    await fake.leave_chat(GROUP, group.member)
    await group.say(group.admin, "/kick", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Telegram says this member or message is not in the chat."
    await group.say(group.admin, "/ban 300")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "banned" in c.plain)
    await group.say(group.admin, "/kick 300")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Telegram says this member or message is not in the chat."
    assert fake.member_status(GROUP, 300) == "kicked"
    assert not fake.calls_of("unbanChatMember")
    assert [c["user_id"] for c in fake.calls_of("banChatMember")] == [300]
    assert not [c for c in fake.calls_of("sendMessage") if "was removed" in c.plain]


async def test_unban_of_someone_not_banned_says_so(steward, fake, group):
    """Telegram answers True to unbanning a member who is not banned: the bot said "🕊 @bobby
    is unbanned and may rejoin." and logged an Unban that lifted nothing."""
    await group.say(group.member, "hi")  # the bot learns @bobby
    await group.say(group.admin, "/unban @bobby")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "@bobby is not banned in this chat."
    await group.say(group.admin, "/ban @bobby 1h")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "banned" in c.plain)
    fake.chats[GROUP].members[200] = {"status": "left", "user": group.member}  # the ban ended
    [ban] = await steward.app.mod_repo.recent_actions(GROUP, 1)
    await steward.app.moderation.undo(ban, Actor(100, "Alice"))  # Undo after it ended
    assert (await steward.app.mod_repo.action(ban.id)).undone_at is not None
    await steward.idle()
    assert not fake.calls_of("unbanChatMember")
    assert [a.action for a in await steward.app.mod_repo.recent_actions(GROUP, 5)] == ["ban"]


async def test_a_member_reporting_their_own_message_is_refused_politely(steward, fake, group):
    """A member who replied /report to their own message got "the admins have been notified"
    and the admins a report of the member by the member."""
    ivan = fake.user(201, "Ivan", language_code="ru")
    own = await group.say(ivan, "my own words")
    await group.say(ivan, "/report", reply_to=own)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == (
        "Это ваше собственное сообщение: пожаловаться можно только на сообщения других участников."
    )
    await steward.idle()
    await fake.assert_no_call("sendMessage", within=0.5, predicate=lambda c: c["chat_id"] != GROUP)
    # the refusal is no report: the member still has all three for others' messages
    for n in range(3):
        bad = await group.say(group.other, f"bad {n}")
        await group.say(ivan, "@admin", reply_to=bad)
        thanks = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
        assert thanks.plain.startswith("Спасибо")


async def test_log_entries_speak_the_language_of_the_chat_they_are_about(steward, fake, group):
    """Every log entry was in DEFAULT_LANGUAGE, even for a chat whose admins set Russian with
    /setlanguages; the log chat's own languages, when set, come first."""
    await group.say(group.admin, "/setlanguages ru,en")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    target = await group.say(group.member, "hello")
    await group.say(group.admin, "/mute 1h loud", reply_to=target)
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert log.plain.startswith("🔇 Мут"), log.plain
    assert "Участник: Bob" in log.plain and "Причина: loud" in log.plain
    buttons = [b["text"] for row in log["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["↩️ Отменить", "🔎 Подробности"]
    # undone from the log chat: the edited entry keeps the chat's language
    log_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    undo = log["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake.press_button(log_message, group.admin, undo)
    edited = await fake.wait_for("editMessageText")
    assert edited.plain.startswith("🔇 Мут") and "Отменил(а): Alice" in edited.plain
    # the log chat's own languages win: its readers chose them
    await steward.app.mod_repo.update_settings(LOG_CHAT, languages="nl")
    await group.say(group.admin, "/warn", reply_to=target)
    # entries #1 mute, #2 its undo (an unmute), #3 this warn
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT and "#3" in c.plain)
    assert log.plain.startswith("⚠️ Waarschuwing"), log.plain


async def test_details_of_a_spam_verdict_name_each_signal_in_the_chats_language(
    steward, fake, group
):
    """Details showed the scorer's identifiers ("ban · spam", "score 1.42", "stop_phrases:
    +0.90", "bayes: +0.50", "warn_id: 3"): readable labels now, in the chat's language."""
    spam = await group.say(group.member, SPAM)
    await fake.wait_for("banChatMember")
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    details = next(
        b for row in log["reply_markup"]["inline_keyboard"] for b in row if "Details" in b["text"]
    )
    log_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    await fake.press_button(log_message, group.admin, details["callback_data"])
    answer = await fake.wait_for("answerCallbackQuery")
    text = answer["text"]
    assert text.startswith("#") and "🔨 Ban · spam" in text and "Score: " in text, text
    for raw in ("stop_phrases", "bayes", "invite_links", "neighbours", "score ", "bias"):
        assert raw not in text, text
    assert "Stop phrases" in text or "Word statistics" in text or "Meaning" in text, text
    assert len(text) <= 200
    assert spam["message_id"]
    # for a chat that speaks Russian, Details speaks it too, like the entry it is under
    await group.say(group.admin, "/setlanguages ru,en")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    target = await group.say(group.other, "hi")
    await group.say(group.admin, "/warn", reply_to=target)
    log = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == LOG_CHAT and "Carol" in c.plain
    )
    buttons = {
        b["text"]: b["callback_data"] for row in log["reply_markup"]["inline_keyboard"] for b in row
    }
    log_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    mark = fake.mark()
    await fake.press_button(log_message, group.admin, buttons["🔎 Подробности"])
    answer = await fake.wait_for("answerCallbackQuery", since=mark)
    assert answer["text"].startswith("#") and "⚠️ Предупреждение" in answer["text"], answer["text"]
    assert "warn_id" not in answer["text"]


async def test_notspam_of_an_action_already_undone_or_not_undoable_says_so(steward, fake, group):
    """/notspam <id> answered "↩️ Undone, and I learned that this message is not spam." to an
    action undone already (nothing happened) and to a /purge (nothing can be undone)."""
    sneaky = await group.say(group.other, "Buy cheap followers at our shop, best prices")
    await group.say(group.admin, "/spam", reply_to=sneaky)
    await fake.wait_for("banChatMember")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    action = (await steward.app.mod_repo.recent_actions(GROUP, 1))[0]
    await group.say(group.admin, f"/notspam {action.id}")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "Undone" in c.plain)
    mark = fake.mark()
    await group.say(group.admin, f"/notspam {action.id}")
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert again.plain == "This was already undone."
    assert not fake.calls_of("unbanChatMember", mark)
    start = await group.say(group.member, "one")
    await group.say(group.admin, "/purge", reply_to=start)
    await fake.wait_for("sendMessage", lambda c: "Deleted" in c.plain)
    await steward.idle()
    purge = (await steward.app.mod_repo.recent_actions(GROUP, 1))[0]
    assert purge.action == "purge"
    mark = fake.mark()
    await group.say(group.admin, f"/notspam {purge.id}")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert reply.plain == "This action cannot be undone."
    lessons = await steward.app.mod_repo.lessons()
    assert [is_spam for _text, is_spam in lessons] == [True, False]


async def test_resetwarns_of_a_member_without_warns_says_so_and_logs_nothing(steward, fake, group):
    """/resetwarns of a member with no warns answered "All warns of Bob are cleared." and put a
    "Warns cleared" entry in the log for nothing; /unwarn already said there was none."""
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/resetwarns", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Bob has no warns."
    await steward.idle()
    assert await steward.app.mod_repo.recent_actions(GROUP, 5) == []
    await fake.assert_no_call("sendMessage", predicate=lambda c: c["chat_id"] == LOG_CHAT)


async def test_unmute_of_someone_not_muted_says_so(steward, fake, group):
    """Telegram answers True to lifting a restriction nobody had: the bot said "🔊 Bob can
    write again." and logged an Unmute that lifted nothing; Undo of a mute that ended meanwhile
    still counts as undone."""
    target = await group.say(group.member, "hi")
    await group.say(group.admin, "/unmute", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Bob is not muted in this chat."
    await steward.idle()
    assert not fake.calls_of("restrictChatMember")
    assert await steward.app.mod_repo.recent_actions(GROUP, 5) == []
    await group.say(group.admin, "/mute 1h", reply_to=target)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "muted" in c.plain)
    fake.chats[GROUP].members[200] = {"status": "member", "user": group.member}  # it ended
    [mute] = await steward.app.mod_repo.recent_actions(GROUP, 1)
    mark = fake.mark()
    await steward.app.moderation.undo(mute, Actor(100, "Alice"))
    assert (await steward.app.mod_repo.action(mute.id)).undone_at is not None
    assert not fake.calls_of("restrictChatMember", mark)


async def test_setwarnlimit_names_the_penalty_in_the_admins_language(steward, fake, group):
    """The confirmation showed the stored identifier ("→ kick.", "→ ban 3d.") in every
    language."""
    admin_ru = fake.user(102, "Ivan", language_code="ru")
    fake.add_member(GROUP, admin_ru, "administrator")
    await group.say(admin_ru, "/setwarnlimit 2 kick")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "Лимит предупреждений: 2 → кик."
    mark = fake.mark()
    await group.say(admin_ru, "/setwarnlimit 3 ban 3d")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert reply.plain == "Лимит предупреждений: 3 → бан 3d."


@pytest.fixture
def far_zone(bot_env):
    """A TIMEZONE whose date differs from UTC's right now: 14 hours ahead from 10:00 UTC on,
    12 hours behind before."""
    from datetime import UTC, datetime

    ahead = datetime.now(UTC).hour >= 10
    bot_env["TIMEZONE"] = "Pacific/Kiritimati" if ahead else "Etc/GMT+12"
    return bot_env


@pytest.mark.usefixtures("far_zone")
async def test_warns_are_dated_in_the_configured_timezone(steward, fake, group):
    """/warns dated each warn by its UTC day while /modlog used TIMEZONE: near midnight the two
    disagreed by a day."""
    from datetime import datetime

    target = await group.say(group.member, "x")
    await group.say(group.admin, "/warn rude", reply_to=target)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    mark = fake.mark()
    await group.say(group.admin, "/warns", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    today = datetime.now(steward.settings.timezone).strftime("%Y-%m-%d")
    assert f"1. {today} — rude" in reply.plain, reply.plain


async def test_reasons_steward_writes_itself_are_translated(steward, fake, group):
    """A report's Warn button and the warn limit stored the reasons "report" and "1/1 warns",
    which a Russian chat's log and /warns showed in English."""
    await group.say(group.admin, "/setlanguages ru,en")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    await group.say(group.admin, "/setwarnlimit 2 mute 1h")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "2" in c.plain)
    bad = await group.say(group.other, "you are all idiots")
    await group.say(group.member, "/report", reply_to=bad)
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    warn = next(
        b for row in report["reply_markup"]["inline_keyboard"] for b in row if "⚠️" in b["text"]
    )
    report_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    await fake.press_button(report_message, group.admin, warn["callback_data"])
    logged = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == LOG_CHAT and c.plain.startswith("⚠️")
    )
    assert "Причина: жалоба" in logged.plain, logged.plain
    mark = fake.mark()
    await group.say(group.admin, "/warns", reply_to=bad)
    listed = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert listed.plain.endswith(" — жалоба"), listed.plain
    await group.say(group.admin, "/warn", reply_to=bad)
    muted = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == LOG_CHAT and c.plain.startswith("🔇")
    )
    assert "Причина: предупреждений: 2/2" in muted.plain, muted.plain


async def test_a_report_buttons_action_names_the_member_in_the_log(steward, fake, group):
    """A report's button knows the member by id only: the log entry said "Member: 300 (300)"
    and /modlog "300"; the bot has seen their name, so it says it."""
    bad = await group.say(group.other, "you are all idiots")
    await group.say(group.member, "/report", reply_to=bad)
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    mute = next(
        b for row in report["reply_markup"]["inline_keyboard"] for b in row if "Mute" in b["text"]
    )
    report_message = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    await fake.press_button(report_message, group.admin, mute["callback_data"])
    logged = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == LOG_CHAT and c.plain.startswith("🔇")
    )
    assert "Member: Carol (300)" in logged.plain, logged.plain
    await group.say(group.admin, "/modlog")
    listed = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "#1" in c.plain)
    assert "🔇 Mute Carol · Alice" in listed.plain, listed.plain


async def test_a_deletion_offers_no_undo_that_would_do_nothing(steward, fake, group):
    """Under a /del's log entry Undo answered "Undone as far as Telegram allows" and marked the
    entry undone, though nothing can bring a deleted message back; now only Details is there."""
    target = await group.say(group.member, "rude words")
    await group.say(group.admin, "/del", reply_to=target)
    await fake.wait_for("deleteMessage")
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert log.plain.startswith("🗑 Delete")
    buttons = [b["text"] for row in log["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["🔎 Details"]


async def test_a_mistyped_length_mutes_no_one_and_forever_is_no_reason(steward, fake, group):
    """`/mute 2h30 flood` muted Bob for good, "2h30 flood" as the reason; `/ban forever` showed
    "Reason: forever"."""
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/mute 2h30 flood", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("I don't understand the duration “2h30”")
    assert not fake.calls_of("restrictChatMember")
    await group.say(group.admin, "/ban forever", reply_to=target)
    ban = await fake.wait_for("banChatMember")
    assert ban.get("until_date", 0) == 0
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "🔨 Bob is banned."


async def test_a_very_long_reason_still_gets_its_confirmation_and_log_entry(steward, fake, group):
    """A reason of 4,000 characters made the confirmation too long for Telegram: the moderator
    got an apology instead, and the log chat refused the entry."""
    target = await group.say(group.member, "x")
    await group.say(group.admin, "/mute 2h " + "spam " * 815, reply_to=target)
    await fake.wait_for("restrictChatMember")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("🔇 Bob is muted for 2h.\nReason: spam spam")
    assert reply.plain.endswith("…")
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert "Mute" in log.plain
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage") if "Sorry" in c.plain]


async def test_long_modlog_filters_and_warns_come_in_several_messages(steward, fake, group):
    """/modlog 50 with reasons, a blocklist of 25 long phrases and 19 warns with long reasons
    were each one reply longer than a Telegram message: the admin got an apology instead."""
    moderation = steward.app.moderation
    alice = Actor(100, "Alice Wonderland of the Realm")
    await moderation.update_settings(GROUP, warn_limit=20)
    for n in range(19):
        await moderation.warn(GROUP, Target(200, "Bob"), alice, f"{n:02d} " + "rude " * 59)
    for n in range(30):
        await moderation.record(
            GROUP, alice, Target(1000 + n, f"Somebody With A Long Name {n}"), AuditAction.KICK
        )
    for n in range(25):
        await moderation.add_filter(GROUP, f"w{n:02d} " + "phrase " * 27, False, alice)
    for command in ("/modlog 50", "/filters", "/warns @bobby"):
        mark = fake.mark()
        await group.say(group.member if command == "/warns @bobby" else group.admin, "hi")
        await group.say(group.admin, command)
        await steward.idle()
        replies = [c.plain for c in fake.calls_of("sendMessage", since=mark)]
        assert len(replies) > 1 and all(len(r) <= 4096 for r in replies), command
        shown = "\n".join(replies)
        assert "Sorry" not in shown
        if command == "/filters":
            assert all(f"w{n:02d} phrase" in shown for n in range(25))
        elif command == "/warns @bobby":
            assert all(f"— {n:02d} rude" in shown for n in range(19))
        else:
            assert "#1 " in shown and "#49 " in shown


async def test_without_the_right_to_delete_the_moderator_is_told_so(steward, fake, group):
    """Telegram answers "message can't be deleted" both to a bot without the right to delete
    and for a message too old: the admin read "Telegram refused this action: Bad Request:
    message can't be deleted", and /spam said "Removed spam" over a message that stayed."""
    fake.chats[GROUP].members[fake.bot_id]["can_delete_messages"] = False
    first = await group.say(group.member, "one")
    await group.say(group.admin, "/del", reply_to=first)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("I can't do that: make me an admin")
    await group.say(group.admin, "/purge", reply_to=first)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("I can't do that: make me an admin")
    spam = await group.say(group.other, "good morning everyone")
    await group.say(group.admin, "/spam", reply_to=spam)
    await fake.wait_for("banChatMember")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert "Removed" not in reply.plain and "Carol" in reply.plain
    assert "I can't do that: make me an admin" in reply.plain
    assert (GROUP, spam["message_id"]) in fake.messages
    await steward.idle()
    actions = await steward.app.mod_repo.recent_actions(GROUP, 10)
    assert [a.action for a in actions] == ["ban"]


async def test_a_message_too_old_to_delete_is_explained(steward, fake, group):
    old = await group.say(group.member, "an old message")
    fake.messages[(GROUP, old["message_id"])]["date"] -= 49 * 3600
    await group.say(group.admin, "/del", reply_to=old)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("Telegram does not let bots delete this message")


async def test_spam_without_the_right_to_ban_leaves_the_message_for_another_try(
    steward, fake, group
):
    """/spam deleted the message before the ban Telegram then refused: the moderator read "I
    can't do that", and the spam was gone with nothing logged or learned to show for it."""
    fake.chats[GROUP].members[fake.bot_id]["can_restrict_members"] = False
    spam = await group.say(group.other, "good morning everyone")
    await group.say(group.admin, "/spam", reply_to=spam)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("I can't do that: make me an admin")
    await steward.idle()
    assert (GROUP, spam["message_id"]) in fake.messages
    assert not fake.calls_of("deleteMessage")


async def test_spam_whose_deletion_meets_a_server_error_still_confirms_the_ban(
    steward, fake, group
):
    """The ban went through, then Telegram answered the deletion with 5xx errors until the
    retries ran out: the error escaped the handler, and the moderator read an apology with no
    Undo though the member was banned. Now they read that the message stays, and why."""
    spam = await group.say(group.other, "good morning everyone")
    fake.fail("deleteMessage", 500, times=10)
    await group.say(group.admin, "/spam", reply_to=spam)
    reply = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == GROUP and "banned" in c.plain, timeout=20
    )
    assert "Their message stays" in reply.plain, reply.plain
    assert reply["reply_markup"]["inline_keyboard"][0][0]["text"] == "↩️ Undo"
    assert fake.member_status(GROUP, group.other["id"]) == "kicked"


async def test_in_a_basic_group_mute_and_kick_say_what_telegram_allows(steward, fake):
    """Telegram restricts and unbans only in supergroups: /mute in a basic group answered "I
    don't act on admins of this chat" about a plain member, and /kick removed the member but
    answered "Telegram refused this action" and logged nothing."""
    basic = -4055501
    chat = fake.add_chat(basic, "group", title="Club")
    admin, ann = fake.user(10, "Ada"), fake.user(11, "Ann")
    fake.add_member(basic, admin, "administrator")
    fake.add_member(basic, ann)
    target = await fake.send_message(chat, ann, "hi")
    await fake.send_message(chat, admin, "/mute 2h", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == basic)
    assert reply.plain.startswith("Telegram lets bots do this only in supergroups")
    assert fake.member_status(basic, 11) == "member"
    await fake.send_message(chat, admin, "/kick", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == basic)
    assert reply.plain == "👢 Ann was removed; they may rejoin."
    assert fake.member_status(basic, 11) == "left"
    await steward.idle()
    [kick] = await steward.app.mod_repo.recent_actions(basic, 5)
    assert kick.action == "kick"
    fake.add_member(basic, ann)
    await fake.send_message(chat, admin, "/ban", reply_to=target)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == basic)
    assert reply.plain.startswith("🔨 Ann is banned.\nThis is a basic group")


async def test_a_reply_to_a_join_or_leave_notice_is_about_who_joined_or_left(steward, fake, group):
    """ "Alice added Eve" comes from Alice: /ban in reply to it answered "I don't act on admins
    of this chat" instead of banning Eve, whom the notice is about."""
    eve = fake.user(400, "Eve")
    added = await group.say(group.admin, None, new_chat_members=[eve])
    await group.say(group.admin, "/ban spam bot", reply_to=added)
    ban = await fake.wait_for("banChatMember")
    assert ban["user_id"] == 400
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain == "🔨 Eve is banned.\nReason: spam bot"
    removed = await group.say(group.admin, None, left_chat_member=group.member)
    await group.say(group.admin, "/ban", reply_to=removed)
    ban = await fake.wait_for("banChatMember", lambda c: c["user_id"] == 200)
    assert fake.member_status(GROUP, 200) == "kicked"


async def test_automatic_rules_without_the_rights_tell_the_log_chat_so(steward, fake, group):
    """Without the rights to delete and ban, a spammer's message stayed, the member stayed,
    and the log chat read "🗑 Delete"; a flood went unnoticed. The log now says what happened
    and what is missing, once per flood."""
    me = fake.chats[GROUP].members[fake.bot_id]
    me["can_delete_messages"] = me["can_restrict_members"] = False
    spam = await group.say(group.member, SPAM)
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert log.plain.startswith("👀 Detected") and "rule spam" in log.plain
    assert "I lack the admin rights" in log.plain
    assert (GROUP, spam["message_id"]) in fake.messages
    # only the flood rule from here: a new member's burst may also read as spam
    await steward.app.moderation.update_settings(GROUP, spam_mode="off")
    mark = fake.mark()
    for n in range(8):
        await group.say(group.other, f"message number {n}")
    flood = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == LOG_CHAT, since=mark, timeout=20
    )
    assert "rule flood" in flood.plain and "I lack the admin rights" in flood.plain
    await steward.idle()
    await asyncio.sleep(2)  # the log chat's pace: a second entry would be out by now
    logged = [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == LOG_CHAT]
    assert len(logged) == 1, [c.plain for c in logged]
    assert not [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == GROUP]


async def test_a_captcha_the_bot_cannot_enforce_tells_the_log_chat_why(steward, fake, group):
    """With the captcha on and no right to restrict, a newcomer joined unchecked and only the
    process log knew."""
    fake.chats[GROUP].members[fake.bot_id]["can_restrict_members"] = False
    await steward.app.mod_repo.update_settings(GROUP, captcha_mode="enforce", captcha_seconds=60)
    newbie = fake.user(400, "Nina")
    await group.say(None, None, new_chat_members=[newbie], **{"from": newbie})
    log = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    assert log.plain.startswith("👀 Detected") and "rule captcha" in log.plain
    assert "Nina" in log.plain and "I lack the admin rights" in log.plain
    assert not [c for c in fake.calls_of("sendMessage") if c["chat_id"] == GROUP]


@pytest.mark.usefixtures("db_engine")
async def test_two_warns_reaching_the_limit_at_once_apply_its_action_once(steward, fake, group):
    """Two moderators warn the same member at the same moment (a /warn in the group and the
    Warn button of a report in a private chat: two chats, so two workers or two concurrent
    handlers): the limit is reached once, one mute goes out, one "reached" answer, and the
    warns are cleared."""
    moderation = steward.app.moderation
    bob = Target(200, "Bob")
    await moderation.warn(GROUP, bob, Actor(100, "Alice"), "one")
    mark = fake.mark()
    results = await asyncio.gather(
        moderation.warn(GROUP, bob, Actor(100, "Alice"), "two"),
        moderation.warn(GROUP, bob, Actor(101, "Dan"), "three"),
    )
    await steward.idle()
    assert [r.penalty is not None for r in results].count(True) == 1
    assert len(fake.calls_of("restrictChatMember", since=mark)) == 1
    assert (await moderation.warns(GROUP, 200)).warns == []


async def test_a_double_tap_on_a_reports_warn_warns_once(steward, fake, group):
    """Two taps on a report's Warn before the buttons are gone (a double tap, or two admins on
    two workers): the member gets one warn for one report; the second tap is told it was done."""
    bad = await group.say(group.other, "you are all idiots")
    await group.say(group.member, "/report", reply_to=bad)
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == LOG_CHAT)
    warn = next(
        b for row in report["reply_markup"]["inline_keyboard"] for b in row if "Warn" in b["text"]
    )
    shown = fake.messages[(LOG_CHAT, max(m for c, m in fake.messages if c == LOG_CHAT))]
    await fake.press_button(shown, group.admin, warn["callback_data"])
    await fake.press_button(shown, group.admin, warn["callback_data"])
    await steward.idle()
    assert len((await steward.app.moderation.warns(GROUP, 300)).warns) == 1


@pytest.mark.usefixtures("db_engine")
async def test_a_captcha_timeout_whose_worker_died_mid_way_is_finished_elsewhere(
    steward, fake, group
):
    """The worker removing a newcomer who did not press the button dies before Telegram
    answered: the captcha stays pending under that worker's lease, so another worker (which
    re-arms captcha timers from the database) removes the newcomer once the lease ran out,
    instead of the newcomer staying muted for good."""
    app = steward.app
    app.captcha.lease_seconds = 1
    await app.mod_repo.update_settings(GROUP, captcha_mode="enforce", captcha_seconds=1)
    remove = app.moderation.remove
    dead = asyncio.Event()

    async def dies_first(chat_id, user_id):
        if not dead.is_set():
            dead.set()
            await asyncio.Event().wait()  # never answered: the worker is gone
        return await remove(chat_id, user_id)

    app.moderation.remove = dies_first
    newbie = fake.user(402, "Olga")
    await group.say(None, None, new_chat_members=[newbie], **{"from": newbie})
    await asyncio.wait_for(dead.wait(), 10)
    assert await app.mod_repo.has_captcha(GROUP, 402)  # still pending, under the lease
    pending = await app.mod_repo.pending_captchas()  # what the other workers re-arm from
    assert [(p["user_id"], p["deadline"] > time.time()) for p in pending] == [(402, True)]
    await app.captcha.expire(GROUP, 402)  # another worker's timer, too early: not yet
    assert not fake.calls_of("banChatMember")
    await asyncio.sleep(max(0.0, pending[0]["deadline"] - time.time()) + 0.1)
    await app.captcha.expire(GROUP, 402)  # another worker's timer, at the lease's end
    ban = await fake.wait_for("banChatMember", timeout=10)
    assert ban["user_id"] == 402
    await steward.idle()
    assert not await app.mod_repo.has_captcha(GROUP, 402)
