"""End-to-end scheduled posts (groundwork of issue 5): /schedule, exactly-once publishing,
failures and restarts."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import pytest

from storage.database import Database
from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID

CHANNEL = -1001555000001


def open_desk(fake: FakeTelegram) -> tuple[dict, dict]:
    """The News channel (@news) and a manager's private chat with the bot: the manager's chat
    and the manager. The bot is not told of the channel yet (`registered_desk`)."""
    fake.add_chat(CHANNEL, "channel", "News", username="news")
    manager = fake.user(MANAGER_ID, "Manny")
    return fake.private_chat(manager), manager


async def registered_desk(fake: FakeTelegram, steward) -> tuple[dict, dict]:
    """`open_desk`, with the bot made an admin of the channel as Telegram announces it, as the
    compose and queue tests start from."""
    desk = open_desk(fake)
    await register_channel(fake, steward)
    return desk


@pytest.fixture
def desk(fake: FakeTelegram):
    return open_desk(fake)


async def compose(fake, desk, when: str):
    chat, manager = desk
    post = await fake.send_message(
        chat, manager, "<b>Big</b> news", entities=[{"type": "bold", "offset": 0, "length": 3}]
    )
    # a manager's message gets a compose panel; /schedule is the one-line alternative to it
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    mark = fake.mark()
    await fake.send_message(chat, manager, f"/schedule @news {when}", reply_to=post)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    return post, reply


async def change_while_stopped(steward, sql: str, args: tuple) -> None:
    """Stop the bot and change its database behind its back, as a crash would leave it."""
    await steward.stop()
    db = Database(steward.settings.database)
    await db.open()
    try:
        await db.execute(sql, args)
    finally:
        await db.close()


def message_starting(fake, chat_id: int, prefix: str) -> dict:
    """The latest message in a chat whose text starts with `prefix` (to press its buttons)."""
    return fake.messages[
        (
            chat_id,
            max(
                m
                for (c, m), msg in fake.messages.items()
                if c == chat_id and msg.get("text", "").startswith(prefix)
            ),
        )
    ]


async def reschedule_asked(fake, desk):
    """Post #1 queued, listed by /queue, and its Reschedule pressed: the listing call, its
    message (to press its other buttons) and the bot's question for the new time."""
    chat, manager = desk
    await compose(fake, desk, "+1h")
    await fake.send_message(chat, manager, "/queue")
    listed = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"))
    entry = message_starting(fake, MANAGER_ID, "🕒 #1")
    await fake.press_button(entry, manager, labelled(listed, "Reschedule"))
    asked = await fake.wait_for("sendMessage", lambda c: "new time for post #1" in c.plain)
    return listed, entry, asked


def labelled(message, label: str) -> str:
    """The callback data of the button whose text contains `label`."""
    for row in message["reply_markup"]["inline_keyboard"]:
        for b in row:
            if label in b["text"]:
                return b["callback_data"]
    raise AssertionError(f"no {label!r} button")


def channel_posts(fake):
    return [m for (c, _), m in fake.messages.items() if c == CHANNEL]


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_schedule_one_liner_publishes_once_at_its_time(steward, fake, desk):
    post, reply = await compose(fake, desk, "+2s")
    assert reply.plain.startswith("Scheduled for")
    copy = await fake.wait_for("copyMessage", timeout=10, since=0)
    assert copy["chat_id"] == CHANNEL and copy["from_chat_id"] == MANAGER_ID
    assert copy["message_id"] == post["message_id"]
    await asyncio.sleep(0.5)
    assert len(fake.calls_of("copyMessage")) == 1
    published = channel_posts(fake)
    assert len(published) == 1 and published[0]["entities"][0]["type"] == "bold"
    stored = await steward.app.post_repo.with_status("published")
    assert [p.published_ids for p in stored] == [[published[0]["message_id"]]]


async def test_non_manager_is_refused(steward, fake, desk):
    user = fake.user(55, "Nobody")
    chat = fake.private_chat(user)
    post = await fake.send_message(chat, user, "spam")
    # the plain message gets its own answer first (no support chat: "no one can answer here")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 55)
    mark = fake.mark()
    await fake.send_message(chat, user, "/schedule @news +1m", reply_to=post)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 55, since=mark)
    assert reply.plain == "Only Steward's managers can use this command."
    assert await steward.app.post_repo.with_status("scheduled") == []


@pytest.mark.parametrize("bot_status", ["", "member", "administrator"])
async def test_schedule_to_a_channel_the_bot_cannot_post_in_is_refused(
    steward, fake, desk, bot_status
):
    """A public channel Telegram describes to anyone, where the bot is not an admin (or is
    one without the right to post): refused at once, rather than queued to fail at its time."""
    other = -1001555000002
    fake.add_chat(other, "channel", "Elsewhere", username="elsewhere", bot_status=bot_status)
    if bot_status == "administrator":
        fake.chats[other].members[fake.bot_id]["can_post_messages"] = False
    chat, manager = desk
    post = await fake.send_message(chat, manager, "Hello")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    mark = fake.mark()
    await fake.send_message(chat, manager, "/schedule @elsewhere +1m", reply_to=post)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain == (
        "I can't post in Elsewhere: make me an admin there with the right to post messages."
    )
    assert await steward.app.post_repo.with_status("scheduled") == []


async def test_schedule_by_id_registers_the_channel_with_its_rights(steward, fake, desk):
    _, reply = await compose(fake, desk, "+1h")
    assert reply.plain.startswith("Scheduled for")
    [channel] = await steward.app.channel_repo.all()
    assert channel.chat_id == CHANNEL and channel.can_post


async def test_bad_times_are_explained(steward, fake, desk):
    post, reply = await compose(fake, desk, "2020-01-01 10:00")
    assert reply.plain == "That time has already passed."
    # "all" before any channel is known: not "that channel", which the manager never named
    chat, manager = desk
    mark = fake.mark()
    await fake.send_message(chat, manager, "/schedule all +1h", reply_to=post)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("No channels yet: make me an admin of a channel"), reply.plain


async def test_a_recurrence_that_never_comes_round_is_explained(steward, fake, desk):
    # 30 February: a valid cron expression with no next time
    _, reply = await compose(fake, desk, "0 9 30 2 *")
    assert reply.plain == "That date or time does not exist."
    assert await steward.app.post_repo.with_status("scheduled") == []


async def test_429_on_first_attempt_still_one_post(steward, fake, desk):
    fake.fail("copyMessage", 429, retry_after=1)
    await compose(fake, desk, "+1s")
    await fake.wait_for("copyMessage", since=0, count=2, timeout=10)
    await asyncio.sleep(0.5)
    assert len(fake.calls_of("copyMessage")) == 2 and len(channel_posts(fake)) == 1
    assert len(await steward.app.post_repo.with_status("published")) == 1


@pytest.mark.parametrize(
    ("failure", "out"),
    [
        # Telegram's own 500/502: here nothing was made, but the answer cannot say so
        ({"status": 502}, 0),
        # the Bot API server restarting fails the sends it had handed on, made or not
        ({"status": 500, "description": "Internal Server Error: restart", "carried_out": True}, 1),
        # a gateway's 504 page while the server behind it made the post
        ({"status": 504, "carried_out": True, "gateway": True}, 1),
        # a gateway's 502 page for a post that was not made
        ({"status": 502, "gateway": True}, 0),
    ],
)
async def test_a_5xx_to_a_post_is_not_sent_again(steward, fake, desk, failure, out):
    """A 5xx to a post's own copy may hide a post that went out (see the README's "Publishing,
    exactly once"): it is not repeated, the post waits for the manager, who is told to check the
    channel, as after a lost answer. Before, a 502 was retried: a double post in the last two
    cases."""
    fake.fail("copyMessage", **failure)
    await compose(fake, desk, "+1s")
    notice = await fake.wait_for(
        "sendMessage", lambda c: "check the channel" in c.plain, since=0, timeout=15
    )
    assert notice.plain.startswith("⏸ Post #1 for News may already be out"), notice.plain
    await steward.idle()
    assert len(fake.calls_of("copyMessage")) == 1 and len(channel_posts(fake)) == out
    [post] = await steward.app.post_repo.with_status("needs_decision")
    assert post.id == 1
    _, manager = desk
    shown = message_starting(fake, MANAGER_ID, "⏸ Post #1")
    if not out:  # the manager looked: nothing there, so Publish now under the notice
        await fake.press_button(shown, manager, labelled(notice, "Publish now"))
        await fake.wait_for("copyMessage", since=0, count=2, timeout=10)
    else:  # it is there: "It is out" records it, nothing is sent again
        await fake.press_button(shown, manager, labelled(notice, "It is out"))
        await fake.wait_for("editMessageText", lambda c: "recorded as published" in c.plain)
    await steward.idle()
    assert len(channel_posts(fake)) == 1
    [done] = await steward.app.post_repo.with_status("published")
    assert done.id == 1 and done.error is None


async def test_a_flood_wait_longer_than_the_outbound_wait_postpones_the_post(steward, fake, desk):
    """Telegram asks to wait longer than a request waits (here 121 s): the post was not sent,
    so it waits its turn in the queue, neither failed nor reported as a failure."""
    fake.fail("copyMessage", 429, retry_after=121)
    await compose(fake, desk, "+1s")
    await fake.wait_for("copyMessage", since=0, timeout=10)
    await steward.idle()
    [post] = await steward.app.post_repo.with_status("scheduled")
    assert 115 <= post.due_at - time.time() <= 121
    assert steward.app.scheduler.get_job(f"post:{post.id}") is not None
    assert not [c for c in fake.calls_of("sendMessage") if "failed" in c.plain]
    await steward.app.publisher.publish(post.id)  # its new time has come
    assert len(channel_posts(fake)) == 1
    assert len(await steward.app.post_repo.with_status("published")) == 1


async def test_403_marks_failed_and_tells_the_manager(steward, fake, desk):
    fake.fail("copyMessage", 403, description="Forbidden: bot is not a member of the channel")
    await compose(fake, desk, "+1s")
    notice = await fake.wait_for(
        "sendMessage",
        lambda c: c["chat_id"] == MANAGER_ID and "failed" in c.plain,
        timeout=10,
        since=0,
    )
    assert "bot is not a member" in notice.plain
    failed = await steward.app.post_repo.with_status("failed")
    assert len(failed) == 1 and failed[0].attempts == 1


async def test_a_refusal_saying_the_bot_left_the_channel_flags_it(steward, fake, desk):
    """The bot was removed from the channel and no my_chat_member said so (it was down for a
    day, say): the first post's refusal flags the channel, so /channels shows it and the
    channel's next post is held for a decision rather than refused again."""
    await compose(fake, desk, "+1h")
    await compose(fake, desk, "+2h")
    del fake.chats[CHANNEL].members[fake.bot_id]
    fake.fail("copyMessage", 403, description="Forbidden: bot was kicked from the channel chat")
    await steward.app.publisher.publish(1)
    notice = await fake.wait_for("sendMessage", lambda c: "failed" in c.plain, since=0)
    assert "I am no longer in the channel" in notice.plain
    chat, manager = desk
    mark = fake.mark()
    await fake.send_message(chat, manager, "/channels")
    listing = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Channels:"))
    assert "⚠️" in listing.plain and "❌post" in listing.plain
    await steward.app.publisher.publish(2)
    held = await fake.wait_for("sendMessage", lambda c: "is held" in c.plain, since=mark)
    assert held.plain.startswith("⏸ Post #2 is held")
    assert len(fake.calls_of("copyMessage")) == 1
    assert [p.id for p in await steward.app.post_repo.with_status("needs_decision")] == [2]


async def test_due_while_down_is_published_once_at_start(steward, fake, desk):
    await compose(fake, desk, "+2s")
    await steward.stop()
    await asyncio.sleep(2.5)
    await steward.start()
    await fake.wait_for("copyMessage", since=0, timeout=10)
    await asyncio.sleep(1.0)
    assert len(fake.calls_of("copyMessage")) == 1


async def test_a_stop_while_a_post_is_being_sent_lets_it_finish(steward, fake, desk):
    """Stopped (SIGTERM, a deploy) while a post's request is on its way: the stop waits for
    the answer, so the post is recorded as published and the next start asks nobody."""
    fake.fail("copyMessage", 200, delay=2.0)  # a slow answer, then the real one
    await compose(fake, desk, "+1s")
    await fake.wait_for("copyMessage", since=0, timeout=10)
    await steward.stop()
    mark = fake.mark()
    await steward.start()
    await fake.assert_no_call(
        "sendMessage", since=mark, predicate=lambda c: "being published" in c.plain
    )
    assert len(channel_posts(fake)) == 1 and len(fake.calls_of("copyMessage")) == 1
    assert len(await steward.app.post_repo.with_status("published")) == 1


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_left_in_publishing_comes_back_as_needs_decision(steward, fake, desk):
    await compose(fake, desk, "+1h")
    repo = steward.app.post_repo
    [post] = await repo.with_status("scheduled")
    # a crash mid-send: the row says publishing, its request had left
    await change_while_stopped(
        steward,
        "UPDATE posts SET status='publishing', sending_at=? WHERE id=?",
        (int(time.time()), post.id),
    )
    await steward.start()
    notice = await fake.wait_for(
        "sendMessage",
        lambda c: c["chat_id"] == MANAGER_ID and "being published when I stopped" in c.plain,
        since=0,
    )
    assert notice
    assert [p.id for p in await steward.app.post_repo.with_status("needs_decision")] == [post.id]
    assert not fake.calls_of("copyMessage")


async def test_left_publishing_before_its_request_left_is_queued_again(steward, fake, desk):
    """A crash while the post waited for the send budget: it never reached Telegram, so it
    simply stays queued (nobody is asked) and goes out at its time."""
    await compose(fake, desk, "+1h")
    repo = steward.app.post_repo
    [post] = await repo.with_status("scheduled")
    await change_while_stopped(
        steward, "UPDATE posts SET status='publishing' WHERE id=?", (post.id,)
    )
    since = fake.mark()
    await steward.start()
    assert [p.id for p in await steward.app.post_repo.with_status("scheduled")] == [post.id]
    await fake.assert_no_call(
        "sendMessage", since=since, predicate=lambda c: "being published" in c.plain
    )
    assert not fake.calls_of("copyMessage")


async def test_missed_beyond_grace_waits_for_a_decision(steward, fake, desk):
    await compose(fake, desk, "+1h")
    await change_while_stopped(steward, "UPDATE posts SET due_at=?", (int(time.time()) - 7200,))
    await steward.start()
    notice = await fake.wait_for(
        "sendMessage",
        lambda c: c["chat_id"] == MANAGER_ID and "was due while I was down" in c.plain,
        since=0,
    )
    assert notice
    assert not fake.calls_of("copyMessage")


async def register_channel(fake, steward, *, can_post=True):
    channel = fake.chats[CHANNEL].chat
    owner = fake.user(3, "Owner")
    member = fake._admin_member(fake.bot_user, is_bot_self=True, can_post_messages=can_post)
    await fake.push_update(
        {
            "my_chat_member": {
                "chat": channel,
                "from": owner,
                "date": fake.now(),
                "old_chat_member": {"status": "left", "user": fake.bot_user},
                "new_chat_member": member,
            }
        }
    )
    await steward.idle()


async def test_channel_registration_tells_managers_and_lost_rights_hold_posts(steward, fake, desk):
    await register_channel(fake, steward)
    ready = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=0)
    assert ready.plain.startswith("📣 Channel News is ready for posts: ✅post")
    await compose(fake, desk, "+2s")
    # the bot loses its posting right before the post is due
    demoted = fake._admin_member(fake.bot_user, is_bot_self=True, can_post_messages=False)
    await fake.push_update(
        {
            "my_chat_member": {
                "chat": fake.chats[CHANNEL].chat,
                "from": fake.user(3, "Owner"),
                "date": fake.now(),
                "old_chat_member": fake._admin_member(fake.bot_user, is_bot_self=True),
                "new_chat_member": demoted,
            }
        }
    )
    held = await fake.wait_for(
        "sendMessage",
        lambda c: c["chat_id"] == MANAGER_ID and "is held" in c.plain,
        since=0,
        timeout=10,
    )
    assert held
    assert not fake.calls_of("copyMessage")
    assert len(await steward.app.post_repo.with_status("needs_decision")) == 1
    chat, manager = desk
    await fake.send_message(chat, manager, "/channels")
    listing = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Channels:"))
    assert "⚠️" in listing.plain and "❌post" in listing.plain


async def test_queue_cancel_and_reschedule(steward, fake, desk):
    chat, manager = desk
    await compose(fake, desk, "+1h")
    await compose(fake, desk, "+2h")
    await fake.send_message(chat, manager, "/queue")
    first = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"))
    second = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #2"))
    first_message = message_starting(fake, MANAGER_ID, "🕒 #1")
    cancel = labelled(first, "Cancel")
    await fake.press_button(first_message, manager, cancel)
    confirm = await fake.wait_for("editMessageReplyMarkup")
    sure = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake.press_button(first_message, manager, sure)
    await fake.wait_for("editMessageText", lambda c: "cancelled" in c.plain)
    assert [p.id for p in await steward.app.post_repo.with_status("cancelled")] == [1]
    assert steward.app.scheduler.get_job("post:1") is None

    second_message = message_starting(fake, MANAGER_ID, "🕒 #2")
    later = labelled(second, "Reschedule")
    await fake.press_button(second_message, manager, later)
    await fake.wait_for("sendMessage", lambda c: "new time for post #2" in c.plain)
    await fake.send_message(chat, manager, "+2s")
    moved = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Post #2 moved"))
    assert moved
    copy = await fake.wait_for("copyMessage", since=0, timeout=10)
    assert copy["chat_id"] == CHANNEL
    await asyncio.sleep(0.5)
    assert len(fake.calls_of("copyMessage")) == 1


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_recurring_post_queues_its_next_occurrence(steward, fake, desk):
    chat, manager = desk
    post = await fake.send_message(chat, manager, "Weekly digest")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    mark = fake.mark()
    await fake.send_message(chat, manager, "/schedule @news weekly mon 10:00", reply_to=post)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("Scheduled for")
    [first] = await steward.app.post_repo.with_status("scheduled")
    assert first.recurrence == "weekly mon 10:00"
    # publish it now (as the timer would on Monday) and the next Monday is queued
    await steward.app.publisher.publish(first.id)
    queued = await steward.app.post_repo.with_status("scheduled")
    assert len(queued) == 1 and queued[0].due_at - first.due_at == 7 * 86400
    assert steward.app.scheduler.get_job(f"post:{queued[0].id}") is not None


async def test_a_recurring_post_goes_on_when_one_occurrence_fails_or_is_missed(steward, fake, desk):
    """A weekly post whose occurrence Telegram refused, or that fell due while the bot was down
    too long, waits for the manager as that one occurrence; the series goes on meanwhile, and
    publishing the occurrence later queues no second next one."""
    chat, manager = desk
    post = await fake.send_message(chat, manager, "Weekly digest")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await fake.send_message(chat, manager, "/schedule @news weekly mon 10:00", reply_to=post)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Scheduled for"))
    repo = steward.app.post_repo
    [first] = await repo.with_status("scheduled")
    fake.fail("copyMessage", 400, description="Bad Request: message to copy not found")
    await steward.app.publisher.publish(first.id)
    [failed] = await repo.with_status("failed")
    [second] = await repo.with_status("scheduled")
    assert second.due_at - first.due_at == 7 * 86400 and second.recurrence == "weekly mon 10:00"
    assert failed.recurrence is None  # the series is the next occurrence's now
    await steward.app.services()["posting"].publish_now(failed)  # Retry
    assert [p.id for p in await repo.with_status("scheduled")] == [second.id]
    # the bot down from before the second occurrence until long after it
    await change_while_stopped(
        steward, "UPDATE posts SET due_at=? WHERE id=?", (int(time.time()) - 7200, second.id)
    )
    await steward.start()
    repo = steward.app.post_repo
    [missed] = await repo.with_status("needs_decision")
    [third] = await repo.with_status("scheduled")
    assert missed.id == second.id and missed.recurrence is None
    assert third.recurrence == "weekly mon 10:00" and third.due_at > time.time()
    assert steward.app.scheduler.get_job(f"post:{third.id}") is not None
    # held for lost rights: the series pauses there (its next ones would only be held too)
    [channel] = await steward.app.channel_repo.all()
    await steward.app.channel_repo.upsert(replace(channel, can_post=False), int(time.time()))
    await steward.app.publisher.publish(third.id)
    held = await repo.get(third.id)
    assert held.status == "needs_decision" and held.recurrence == "weekly mon 10:00"
    assert await repo.with_status("scheduled") == []


async def test_channels_lists_many_long_names_in_several_messages(steward, fake, desk):
    """Forty channels with Telegram's longest titles make more than 4,096 characters: the list
    comes in several messages, split between lines, instead of an apology."""
    from storage.posts import Channel

    for n in range(40):
        title = f"Channel {n:02d} " + "x" * 117  # 128 characters, Telegram's longest title
        channel = Channel(-1001555100000 - n, title, None, True, True, True, True)
        await steward.app.channel_repo.upsert(channel, int(time.time()))
    chat, manager = desk
    mark = fake.mark()
    await fake.send_message(chat, manager, "/channels")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Channels:"), since=mark)
    await steward.idle()
    replies = [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == MANAGER_ID]
    assert len(replies) >= 2 and all(len(c.plain) <= 4096 for c in replies)
    listed = "\n".join(c.plain for c in replies)
    assert all(f"Channel {n:02d} " in listed for n in range(40))
    assert not any("went wrong" in c.plain for c in replies)


async def test_slots_refuses_too_many_and_lists_long_ones_in_parts(steward, fake, desk):
    """Six hundred slots a day (as many as one message holds) are refused with the cap, and
    nothing is saved; slots at the cap for many channels still list, in several messages."""
    await register_channel(fake, steward)
    chat, manager = desk
    many = ",".join(f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 1200, 2))
    assert len(many) < 4096
    mark = fake.mark()
    await fake.send_message(chat, manager, f"/slots {many}")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("At most 48 posting slots a day"), reply.plain
    assert "600" in reply.plain
    assert await steward.app.services()["posting"].all_slots() == {}
    # at the cap it is taken
    half_hours = ",".join(f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30))
    mark = fake.mark()
    await fake.send_message(chat, manager, f"/slots {half_hours} @news")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("Posting slots for News: 00:00, 00:30"), reply.plain
    # many channels with a full day of slots: the listing is split between lines
    from storage.posts import Channel

    posting = steward.app.services()["posting"]
    for n in range(15):
        title = f"Channel {n:02d} " + "x" * 117
        channel = Channel(-1001555100000 - n, title, None, True, True, True, True)
        await steward.app.channel_repo.upsert(channel, int(time.time()))
        await posting.set_slots(channel.chat_id, half_hours.split(","))
    mark = fake.mark()
    await fake.send_message(chat, manager, "/slots")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Posting slots:"), since=mark)
    await steward.idle()
    replies = [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == MANAGER_ID]
    assert len(replies) >= 2 and all(len(c.plain) <= 4096 for c in replies)
    listed = "\n".join(c.plain for c in replies)
    assert all(f"Channel {n:02d} " in listed for n in range(15)) and "• News:" in listed


async def test_a_command_is_no_answer_to_a_question_about_a_post(steward, fake, desk):
    """After Reschedule or Edit, /cancel stops the question (as README promises) and any other
    command is that command: neither is read as the new time, nor becomes the post's content."""
    chat, manager = desk
    listed, entry, asked = await reschedule_asked(fake, desk)
    assert asked.plain.endswith("in UTC, e.g. tomorrow 10:00 or +2h. /cancel to stop.")
    mark = fake.mark()
    await fake.send_message(chat, manager, "/cancel")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain == "Cancelled."
    # the next message is a post to compose again, not a time
    mark = fake.mark()
    await fake.send_message(chat, manager, "Another post")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("📝 New post")

    await fake.press_button(entry, manager, labelled(listed, "Edit"))
    await fake.wait_for("sendMessage", lambda c: "new content for post #1" in c.plain)
    mark = fake.mark()
    await fake.send_message(chat, manager, "/typo")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert "now has this content" not in reply.plain
    [post] = await steward.app.post_repo.with_status("scheduled")
    assert post.summary["text"] == "<b>Big</b> news"
    # still waiting for the content: the next message is it
    mark = fake.mark()
    await fake.send_message(chat, manager, "Fixed text")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain == "✏️ Post #1 now has this content."


async def test_why_a_post_failed_or_waits_is_told_in_the_managers_language(steward, fake, desk):
    """A Russian manager reads why a post failed (Telegram's refusal explained, its own words
    kept) and why one waits for a decision in Russian, in the notice and in /queue."""
    chat, _ = desk
    manager = fake.user(MANAGER_ID, "Manny", language_code="ru")
    first = await fake.send_message(chat, manager, "Первый пост")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 Новый пост"))
    await fake.send_message(chat, manager, "/schedule @news +1h", reply_to=first)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Запланировано"))
    await fake.send_message(chat, manager, "/schedule @news +2h", reply_to=first)
    await fake.wait_for("sendMessage", lambda c: "#2" in c.plain)
    fake.fail("copyMessage", 400, description="Bad Request: message to copy not found")
    await steward.app.publisher.publish(1)
    notice = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("⚠️"), since=0)
    assert notice.plain == (
        "⚠️ Пост #1 для News не опубликован: сообщение для публикации удалено из чата со мной "
        "(Bad Request: message to copy not found)"
    ), notice.plain
    await change_while_stopped(
        steward, "UPDATE posts SET due_at=? WHERE id=2", (int(time.time()) - 7200,)
    )
    await steward.start()
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("⏰"), since=0)
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("❓ #2"), since=mark)
    await steward.idle()
    listed = "\n".join(c.plain for c in fake.calls_of("sendMessage", since=mark))
    assert "время прошло, пока бот не работал" in listed
    assert "missed" not in listed and "сообщение для публикации удалено" in listed
    # the bot's rights in a channel, in Russian too
    mark = fake.mark()
    await fake.send_message(chat, manager, "/channels")
    listing = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Каналы"), since=mark)
    assert listing.plain.endswith("News — ✅публиковать ✅редактировать ✅удалять ✅закрепить"), (
        listing.plain
    )


async def test_a_cancelled_post_stays_cancelled_when_given_a_time(steward, fake, desk):
    """Reschedule pressed, then the post cancelled before the time was typed: the time revives
    nothing, and the manager hears that the post was cancelled; so does a press on an older
    listing's Reschedule or Edit, and content sent after an Edit that came before the Cancel."""
    chat, manager = desk
    listed, entry, _asked = await reschedule_asked(fake, desk)
    await fake.press_button(entry, manager, labelled(listed, "Cancel"))
    confirm = await fake.wait_for("editMessageReplyMarkup")
    sure = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake.press_button(entry, manager, sure)
    await fake.wait_for("editMessageText", lambda c: "cancelled" in c.plain)
    mark = fake.mark()
    await fake.send_message(chat, manager, "+2h")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain == (
        "Post #1 was cancelled, so it stays cancelled. To post it after all, send it to me again."
    )
    [post] = await steward.app.post_repo.with_status("cancelled")
    assert post.id == 1 and steward.app.scheduler.get_job("post:1") is None
    # an older listing's buttons say so too
    for label in ("Reschedule", "Edit", "Publish now"):
        mark = fake.mark()
        await fake.press_button(entry, manager, labelled(listed, label))
        alert = await fake.wait_for("answerCallbackQuery", since=mark)
        assert alert["text"].startswith("Post #1 was cancelled"), label
    assert [p.id for p in await steward.app.post_repo.with_status("cancelled")] == [1]


async def test_zero_and_far_future_times_are_refused_in_the_managers_language(steward, fake, desk):
    """`+0s` and a year such as 2099 are refused politely, with how to write a time, in the
    manager's language; nothing is queued."""
    chat, _ = desk
    manager = fake.user(MANAGER_ID, "Manny", language_code="ru")
    post = await fake.send_message(chat, manager, "Пост")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 Новый пост"))
    answers = {}
    for when in ("+0s", "+0m", "2099-01-01 10:00", "+400d"):
        mark = fake.mark()
        await fake.send_message(chat, manager, f"/schedule @news {when}", reply_to=post)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
        answers[when] = reply.plain
    assert answers["+0s"] == answers["+0m"] and "+30m" in answers["+0s"]
    assert answers["+0s"].startswith("Сдвиг равен нулю"), answers["+0s"]
    assert answers["2099-01-01 10:00"] == answers["+400d"]
    assert "365" in answers["+400d"] and "слишком далеко" in answers["+400d"], answers["+400d"]
    assert await steward.app.post_repo.with_status("scheduled") == []


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_a_question_about_a_post_survives_a_restart(steward, fake, desk):
    """Reschedule (or Edit) pressed, the bot restarted (a deploy) before the manager answered:
    the answer is still the answer, not a new post to compose; once answered the bot waits
    for nothing, after another restart too."""
    chat, manager = desk
    listed, entry, _asked = await reschedule_asked(fake, desk)
    await steward.restart()
    mark = fake.mark()
    await fake.send_message(chat, manager, "+2h")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("Post #1 moved to"), reply.plain
    [post] = await steward.app.post_repo.with_status("scheduled")
    assert 7100 <= post.due_at - time.time() <= 7200

    await fake.press_button(entry, manager, labelled(listed, "Edit"))
    await fake.wait_for("sendMessage", lambda c: "new content for post #1" in c.plain)
    await steward.restart()
    mark = fake.mark()
    await fake.send_message(chat, manager, "Fixed text")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain == "✏️ Post #1 now has this content."
    await steward.restart()
    mark = fake.mark()
    await fake.send_message(chat, manager, "A new post")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("📝 New post")


async def test_a_photo_sent_while_a_time_is_awaited_is_told_the_way_out(steward, fake, desk):
    """After Reschedule the bot waits for a time; a photo sent meanwhile (a new post, say) is
    no time: the answer says so and how to stop waiting, and the post keeps its time."""
    chat, manager = desk
    await reschedule_asked(fake, desk)
    [before] = await steward.app.post_repo.with_status("scheduled")
    mark = fake.mark()
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 9, "height": 9}]
    await fake.push_update({"message": fake.new_message(chat, manager, photo=photo)})
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("I don't understand the time"), reply.plain
    assert reply.plain.endswith("Still waiting for the time: /cancel to stop."), reply.plain
    [after] = await steward.app.post_repo.with_status("scheduled")
    assert after.due_at == before.due_at


async def test_a_lost_answer_to_a_post_is_not_sent_again(steward, fake, desk):
    """Telegram made the post but the connection broke before its answer (a timeout, a drop):
    sending it again would publish it twice, so the post waits for the manager, who is told
    to check the channel; a connection that was never made is still retried."""
    fake.fail("copyMessage", lost_answer=True)
    await compose(fake, desk, "+1s")
    notice = await fake.wait_for(
        "sendMessage", lambda c: "check the channel" in c.plain, since=0, timeout=15
    )
    assert notice.plain.startswith("⏸ Post #1 for News may already be out"), notice.plain
    await steward.idle()
    assert len(fake.calls_of("copyMessage")) == 1 and len(channel_posts(fake)) == 1
    [post] = await steward.app.post_repo.with_status("needs_decision")
    assert post.id == 1


async def test_a_stop_right_after_a_recurring_post_went_out_keeps_its_series(steward, fake, desk):
    """The bot stops (killed) just after a weekly post was recorded as published, before the
    rest of its publishing ran: the next occurrence was queued in the same write as the
    'published', so the series goes on after the restart instead of ending silently."""
    chat, manager = desk
    post = await fake.send_message(chat, manager, "Weekly digest")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await fake.send_message(chat, manager, "/schedule @news weekly mon 10:00", reply_to=post)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Scheduled for"))
    [first] = await steward.app.post_repo.with_status("scheduled")

    async def killed(*_args) -> None:  # the process dies here: nothing after this runs
        raise asyncio.CancelledError

    steward.app.publisher.on_published = killed
    with pytest.raises(asyncio.CancelledError):
        await steward.app.publisher.publish(first.id)
    await steward.restart()
    repo = steward.app.post_repo
    assert [p.id for p in await repo.with_status("published")] == [first.id]
    [second] = await repo.with_status("scheduled")
    assert second.due_at - first.due_at == 7 * 86400 and second.recurrence == "weekly mon 10:00"
    assert steward.app.scheduler.get_job(f"post:{second.id}") is not None
    assert len(channel_posts(fake)) == 1


async def test_publish_now_asks_telegram_when_the_channel_was_flagged_meanwhile(
    steward, fake, desk
):
    """The channel was flagged (the bot lost its rights), and the rights came back while no
    update said so (the bot was down for over a day): Publish now asks Telegram for the bot's
    rights before holding the post again, and publishes it; /channels is right again too."""
    chat, manager = desk
    listed, entry, _asked = await reschedule_asked(fake, desk)
    await fake.send_message(chat, manager, "/cancel")
    [channel] = await steward.app.channel_repo.all()
    await steward.app.channel_repo.upsert(replace(channel, can_post=False), int(time.time()))
    mark = fake.mark()
    await fake.press_button(entry, manager, labelled(listed, "Publish now"))
    done = await fake.wait_for("editMessageText", lambda c: "published" in c.plain, since=mark)
    assert done.plain == "✅ Post #1 published."
    assert len(channel_posts(fake)) == 1
    [channel] = await steward.app.channel_repo.all()
    assert channel.can_post


async def test_a_question_unanswered_for_a_day_no_longer_takes_messages(steward, fake, desk):
    """Edit pressed, then nothing for more than a day (the stored question made that old while
    the bot was stopped): the next message is a new post to compose, with a word on why, and
    post #1 keeps its content. Before, the wait never ended: a photo sent days later as a new
    post silently replaced post #1's content. A Dutch manager reads it in Dutch."""
    await compose(fake, desk, "+1h")
    chat, _ = desk
    manager = fake.user(MANAGER_ID, "Manny", language_code="nl")
    [before] = await steward.app.post_repo.with_status("scheduled")
    await fake.send_message(chat, manager, "/queue")
    listed = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"))
    entry = message_starting(fake, MANAGER_ID, "🕒 #1")
    await fake.press_button(entry, manager, labelled(listed, "Bewerken"))
    await fake.wait_for("sendMessage", lambda c: "bericht #1" in c.plain and "/cancel" in c.plain)
    asked = {"post_id": 1, "asked_at": int(time.time()) - 24 * 3600 - 60}
    await change_while_stopped(steward, "UPDATE dialog_states SET data=?", (json.dumps(asked),))
    await steward.start()
    mark = fake.mark()
    await fake.send_message(chat, manager, "Iets heel anders")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 Nieuw bericht"), since=mark)
    note = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Ik wacht"), since=mark)
    assert note.plain == (
        "Ik wacht niet meer op het antwoord waar ik om vroeg: dat is meer dan 24 uur geleden. "
        "Dit bericht behandel ik als een nieuw bericht."
    ), note.plain
    [after] = await steward.app.post_repo.with_status("scheduled")
    assert after.source_message_ids == before.source_message_ids
