"""End-to-end: composing posts with buttons on a phone, the queue's Edit and Retry, slots,
delete-after."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.posting.panel import CHANNELS_PER_PAGE
from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, RunningBot, make_env, settings_for
from tests.test_e2e_posting import (
    CHANNEL,
    change_while_stopped,
    channel_posts,
    message_starting,
    open_desk,
    register_channel,
    registered_desk,
)
from tests.test_e2e_posting import labelled as button


@pytest.fixture
async def desk(fake: FakeTelegram, steward):
    return await registered_desk(fake, steward)


def panel(fake) -> dict:
    return message_starting(fake, MANAGER_ID, "📝 New post")


async def press(fake, steward, manager, label: str) -> dict | None:
    """Press a panel button and wait until the bot has handled it; returns the fresh panel
    (None once the panel became the confirmation)."""
    await fake.press_button(panel(fake), manager, button(panel(fake), label))
    await steward.idle()
    try:
        return panel(fake)
    except ValueError:
        return None


async def type_answer(fake, steward, chat, manager, text: str) -> None:
    await fake.send_message(chat, manager, text)
    await steward.idle()


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_text_post_composed_by_buttons(steward, fake, desk):
    chat, manager = desk
    post = await fake.send_message(
        chat, manager, "Big news today", entities=[{"type": "bold", "offset": 0, "length": 3}]
    )
    shown = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    assert shown["reply_parameters"]["message_id"] == post["message_id"]
    assert "Big news today" in shown.plain and "Channels: choose below" in shown.plain
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Silent")
    await press(fake, steward, manager, "Pin")
    await press(fake, steward, manager, "URL buttons")
    await fake.wait_for("sendMessage", lambda c: "one row per line" in c.plain)
    await type_answer(fake, steward, chat, manager, "Site - ftp://nope")
    wrong = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Line 1: the link"))
    # still waiting, and says how to stop (a photo sent meanwhile as a new post lands here too)
    assert wrong.plain.endswith("Still waiting for the buttons: send - for none, /cancel to stop.")
    await type_answer(
        fake, steward, chat, manager, "Site - https://example.com | Shop - https://shop.example"
    )
    await press(fake, steward, manager, "Custom")
    await type_answer(fake, steward, chat, manager, "+4s")
    current = panel(fake)
    text = current["text"]
    assert "Channels: News" in text and "Options: silent, pin" in text and "Buttons: 2" in text
    await press(fake, steward, manager, "Confirm")
    done = await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    assert "News" in done.plain
    assert not fake.calls_of("copyMessage")  # not before its time

    copy = await fake.wait_for("copyMessage", since=0, timeout=10)
    assert copy["chat_id"] == CHANNEL and copy["message_id"] == post["message_id"]
    assert copy["disable_notification"] is True
    assert copy["reply_markup"]["inline_keyboard"] == [
        [
            {"text": "Site", "url": "https://example.com"},
            {"text": "Shop", "url": "https://shop.example"},
        ]
    ]
    pin = await fake.wait_for("pinChatMessage", since=0)
    [published] = channel_posts(fake)
    assert pin["message_id"] == published["message_id"]
    assert published["entities"][0]["type"] == "bold"
    await asyncio.sleep(0.3)
    assert len(fake.calls_of("copyMessage")) == 1


async def send_album(fake, chat, manager, group_id: str) -> list[dict]:
    """Three photos of one album, the first captioned "Our trip", as Telegram delivers them."""
    parts = []
    for n in range(3):
        message = fake.new_message(
            chat,
            manager,
            media_group_id=group_id,
            photo=[{"file_id": f"ph{n}", "file_unique_id": f"u{n}", "width": 9, "height": 9}],
            **({"caption": "Our trip"} if n == 0 else {}),
        )
        parts.append(message)
        await fake.push_update({"message": message})
    return parts


async def test_album_composed_by_buttons_gets_a_follow_up_for_its_buttons(steward, fake, desk):
    chat, manager = desk
    parts = await send_album(fake, chat, manager, "album-1")
    shown = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    assert "album of 3" in shown.plain and "Our trip" in shown.plain
    await steward.idle()
    assert len(fake.calls_of("sendMessage", since=0)) == 2  # the channel notice + one panel
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "URL buttons")
    await type_answer(fake, steward, chat, manager, "Tickets - https://tickets.example")
    assert "follow-up message" in panel(fake)["text"]
    await press(fake, steward, manager, "Custom")
    await type_answer(fake, steward, chat, manager, "+3s")
    await press(fake, steward, manager, "Confirm")
    copies = await fake.wait_for("copyMessages", since=0, timeout=10)
    assert copies["chat_id"] == CHANNEL
    assert copies["message_ids"] == [m["message_id"] for m in parts]
    follow = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == CHANNEL, since=0)
    assert follow["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://tickets.example"
    await steward.idle()
    [post] = await steward.app.post_repo.with_status("published")
    assert len(post.published_ids) == 3 and len(post.followup_ids) == 1

    # statistics: one post of four messages; Telegram reports reactions per message
    channel = fake.chats[CHANNEL].chat
    for _ in range(100):  # recorded right after the send calls
        if await steward.app.stats.repo.posts(CHANNEL, 0, 2**40):
            break
        await asyncio.sleep(0.05)
    for message_id, total in ((post.published_ids[1], 3), (post.followup_ids[0], 2)):
        await fake.push_update(
            {
                "message_reaction_count": {
                    "chat": channel,
                    "message_id": message_id,
                    "date": fake.now(),
                    "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": total}],
                }
            }
        )
    await steward.idle()
    [recorded] = await steward.app.stats.repo.posts(CHANNEL, 0, 2**40)
    assert recorded["message_id"] == post.published_ids[0]
    assert (recorded["by_steward"], recorded["reactions"]) == (1, 5)
    assert recorded["members_at_post"] == fake.chats[CHANNEL].member_count


async def test_confirm_needs_channel_and_time_and_discard_keeps_nothing(steward, fake, desk):
    chat, manager = desk
    source = await fake.send_message(chat, manager, "Draft text")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "Confirm")
    refused = await fake.wait_for("answerCallbackQuery", lambda c: c.get("show_alert"))
    assert refused["text"] == "Choose at least one channel."
    await press(fake, steward, manager, "News")
    mark = fake.mark()
    await press(fake, steward, manager, "Confirm")
    refused = await fake.wait_for("answerCallbackQuery", lambda c: c.get("show_alert"), since=mark)
    assert refused["text"] == "Choose a time."
    # the manager deleted the message: Preview says so instead of apologising
    del fake.messages[(MANAGER_ID, source["message_id"])]
    mark = fake.mark()
    await press(fake, steward, manager, "Preview")
    refused = await fake.wait_for("answerCallbackQuery", lambda c: c.get("show_alert"), since=mark)
    assert refused["text"].startswith(
        "I can't show it: the message to publish was deleted from the chat with me"
    ), refused["text"]
    await press(fake, steward, manager, "Discard")
    await fake.wait_for("editMessageText", lambda c: "Draft discarded" in c.plain)
    assert await steward.app.post_repo.with_status("scheduled") == []


async def test_time_presets_and_next_free_slot(steward, fake, desk):
    chat, manager = desk
    await fake.send_message(chat, manager, "/slots 09:00, 13:00,19:00 @news")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert reply.plain == 'Posting slots for News: 09:00, 13:00, 19:00. "Next free slot" uses them.'
    await fake.send_message(chat, manager, "/slots 25:00")
    bad = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert bad.plain.startswith("Not a time of day: 25:00")

    await fake.send_message(chat, manager, "Slot post")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "Next free slot")
    alert = await fake.wait_for("answerCallbackQuery", lambda c: c.get("show_alert"))
    assert alert["text"] == "Choose a channel first: slots belong to channels."
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Tomorrow 10:00")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%d.%m.%Y 10:00")
    assert f"Time: {tomorrow} (UTC)" in panel(fake)["text"]
    await press(fake, steward, manager, "Next free slot")
    await press(fake, steward, manager, "Confirm")
    await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    [first] = await steward.app.post_repo.with_status("scheduled")
    local = datetime.fromtimestamp(first.due_at, UTC)
    assert local.strftime("%H:%M") in {"09:00", "13:00", "19:00"} and first.due_at > time.time()

    # the next post takes the next slot, not the same one
    await fake.send_message(chat, manager, "Second slot post")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Next free slot")
    await press(fake, steward, manager, "Confirm")
    await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    due = sorted(p.due_at for p in await steward.app.post_repo.with_status("scheduled"))
    assert len(due) == 2 and due[1] > due[0]


async def test_draft_survives_a_restart(steward, fake, desk):
    chat, manager = desk
    await fake.send_message(chat, manager, "Kept across restarts")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "In 1 hour")
    await steward.restart()
    await press(fake, steward, manager, "Confirm")
    await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"), since=0)
    [post] = await steward.app.post_repo.with_status("scheduled")
    assert 3500 < post.due_at - time.time() <= 3600


async def test_queue_edit_replaces_content(steward, fake, desk):
    chat, manager = desk
    await fake.send_message(chat, manager, "Old text")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "In 1 hour")
    await press(fake, steward, manager, "Confirm")
    await fake.send_message(chat, manager, "/queue")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"))
    entry = message_starting(fake, MANAGER_ID, "🕒 #1")
    await fake.press_button(entry, manager, button(entry, "Edit"))
    await fake.wait_for("sendMessage", lambda c: "new content for post #1" in c.plain)
    new = await fake.send_message(chat, manager, "New text")
    await fake.wait_for("sendMessage", lambda c: "Post #1 now has this content" in c.plain)
    await steward.idle()
    assert len(await steward.app.db.fetchall("SELECT id FROM drafts")) == 0  # not a new draft
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    shown = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"), since=mark)
    assert shown.plain.splitlines()[1] == "New text"  # the preview follows the edit
    await steward.app.publisher.publish(1)
    [published] = channel_posts(fake)
    assert published["text"] == "New text"
    assert fake.calls_of("copyMessage")[-1]["message_id"] == new["message_id"]


async def test_failed_post_has_a_retry_button(steward, fake, desk):
    chat, manager = desk
    fake.fail("copyMessage", 403, description="Forbidden: bot is not a member of the channel")
    await fake.send_message(chat, manager, "Try me")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Custom")
    await type_answer(fake, steward, chat, manager, "+4s")
    await press(fake, steward, manager, "Confirm")
    notice = await fake.wait_for(
        "sendMessage", lambda c: "failed" in c.plain and "#1" in c.plain, since=0, timeout=10
    )
    await steward.idle()
    message = message_starting(fake, MANAGER_ID, "⚠️ Post #1")
    assert notice["reply_markup"] == message["reply_markup"]
    # the channel's admins add the bot back (Telegram says so), then the manager retries
    del fake.chats[CHANNEL].members[fake.bot_id]
    await register_channel(fake, steward)
    await fake.press_button(message, manager, button(message, "Retry"))
    await fake.wait_for("editMessageText", lambda c: "published" in c.plain, timeout=10)
    assert len(channel_posts(fake)) == 1
    [post] = await steward.app.post_repo.with_status("published")
    assert post.attempts == 2


async def test_a_pin_telegram_refuses_is_told_to_the_manager(steward, fake, desk):
    """The post is out but Telegram would not pin it (the bot lost the right meanwhile): the
    manager hears it, without queue buttons, since the post itself went out."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Pin me")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Pin")
    await press(fake, steward, manager, "In 1 hour")
    await press(fake, steward, manager, "Confirm")
    refusal = "Bad Request: not enough rights to manage pinned messages in the chat"
    fake.chats[CHANNEL].members[fake.bot_id]["can_edit_messages"] = False  # pins in a channel
    mark = fake.mark()
    assert await steward.app.publisher.publish(1)
    notice = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert notice.plain == (
        f"📌 Post #1 is out in News, but I could not pin it: I have no right to pin messages "
        f"there ({refusal})"
    ), notice.plain
    assert notice.get("reply_markup") is None
    assert [p.id for p in await steward.app.post_repo.with_status("published")] == [1]


async def test_delete_after_removes_the_post_once(steward, fake, desk):
    chat, manager = desk
    await fake.send_message(chat, manager, "Flash sale")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    current = await press(fake, steward, manager, "Keep")  # off -> 1 h
    assert "Options: delete after 1 h" in current["text"]
    await press(fake, steward, manager, "In 1 hour")
    await press(fake, steward, manager, "Confirm")
    app = steward.app
    await app.publisher.publish(1)
    [post] = await app.post_repo.with_status("published")
    job = app.scheduler.get_job("post-delete:1")
    assert job is not None
    assert int(job.next_run_time.timestamp()) == post.published_at + 3600
    # the job's time has come (calling it is what APScheduler does at that moment)
    await job.func(*job.args)
    removed = await fake.wait_for("deleteMessages", since=0)
    assert removed["chat_id"] == CHANNEL and removed["message_ids"] == post.published_ids
    assert channel_posts(fake) == []
    await job.func(*job.args)
    assert len(fake.calls_of("deleteMessages")) == 1
    # a restart does not arm a deletion that already happened
    await steward.restart()
    assert steward.app.scheduler.get_job("post-delete:1") is None


async def test_member_messages_in_private_do_not_become_drafts(steward, fake, desk):
    user = fake.user(77, "Member")
    chat = fake.private_chat(user)
    await fake.send_message(chat, user, "Hello bot")
    await steward.idle()
    assert not fake.calls_of("sendMessage", since=0) or all(
        not c.plain.startswith("📝") for c in fake.calls_of("sendMessage", since=0)
    )
    assert await steward.app.db.fetchall("SELECT id FROM drafts") == []


async def test_daily_agenda_lists_the_next_24_hours(fake, tmp_path):
    env = make_env(fake, tmp_path, DAILY_AGENDA="08:30")
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    open_desk(fake)
    await running.start()
    try:
        app = running.app
        job = app.scheduler.get_job("posts:agenda")
        assert job is not None and str(job.trigger).startswith("cron[hour='8', minute='30'")
        await app.send_agenda()
        empty = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=0)
        assert empty.plain.startswith("🗓 No posts in the next 24 hours")
        await register_channel(fake, running)
        now = int(time.time())
        await app.post_repo.add(
            channel_id=CHANNEL,
            source_chat_id=MANAGER_ID,
            source_message_ids=[1],
            due_at=now + 7200,
            created_by=MANAGER_ID,
            now=now,
        )
        await app.post_repo.add(
            channel_id=CHANNEL,
            source_chat_id=MANAGER_ID,
            source_message_ids=[1],
            due_at=now + 3 * 86400,
            created_by=MANAGER_ID,
            now=now,
        )
        mark = fake.mark()
        await app.send_agenda()
        agenda = await fake.wait_for("sendMessage", lambda c: "🗓" in c.plain, since=mark)
        due = datetime.fromtimestamp(now + 7200, UTC).strftime("%H:%M")
        assert agenda.plain.splitlines()[1] == f"{due} · #1 · News"
        assert "#2" not in agenda.plain
    finally:
        await running.stop()


async def test_a_long_agenda_arrives_in_several_messages(fake, tmp_path):
    """A busy day (here 150 posts to a channel with a long name) is more than one Telegram
    message holds: the agenda still arrives, split at line ends, every post listed once."""
    env = make_env(fake, tmp_path, DAILY_AGENDA="08:30")
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    title = "Community News & Announcements — the official channel of our community"
    fake.add_chat(CHANNEL, "channel", title, username="news")
    manager = fake.user(MANAGER_ID, "Manny")
    fake.start_bot(manager)
    await running.start()
    try:
        app = running.app
        await register_channel(fake, running)
        now = int(time.time())
        for n in range(150):
            await app.post_repo.add(
                channel_id=CHANNEL,
                source_chat_id=MANAGER_ID,
                source_message_ids=[1],
                due_at=now + 600 + n * 500,
                created_by=MANAGER_ID,
                now=now,
            )
        mark = fake.mark()
        await app.send_agenda()
        await running.idle()
        sent = [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == MANAGER_ID]
        delivered = [
            m
            for (c, _), m in fake.messages.items()
            if c == MANAGER_ID and m.get("text", "").startswith(("🗓", "0", "1", "2", "Change"))
        ]
        assert len(sent) >= 2 and len(delivered) == len(sent)  # none refused as too long
        assert all(len(c.plain) <= 4096 for c in sent)
        text = "\n".join(c.plain for c in sent)
        assert text.startswith("🗓 Posts in the next 24 hours:")
        assert text.rstrip().endswith("Change them in /queue.")
        listed = [line.split(" · ")[1] for line in text.splitlines() if " · #" in line]
        assert listed == [f"#{n}" for n in range(1, 151)]
    finally:
        await running.stop()


@pytest.mark.parametrize("gateway", [False, True], ids=["502", "gateway page"])
async def test_an_album_whose_buttons_message_failed_tells_the_manager(
    steward, fake, desk, gateway
):
    """The album is out but the follow-up carrying its buttons failed (here a 502, which is
    not repeated inside a post's send, or a gateway's HTML page, which is no Bot API answer at
    all and made the album that went out a post "maybe out"): the post stays published, and
    the manager is told the buttons are missing instead of the failure going only to the
    log."""
    chat, manager = desk
    await send_album(fake, chat, manager, "album-3")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "URL buttons")
    await type_answer(fake, steward, chat, manager, "Tickets - https://tickets.example")
    await press(fake, steward, manager, "Tomorrow")
    await press(fake, steward, manager, "Confirm")
    [post] = await steward.app.post_repo.with_status("scheduled")
    mark = fake.mark()
    fake.fail("sendMessage", 502, gateway=gateway)
    assert await steward.app.publisher.publish(post.id)
    notice = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert notice.plain.startswith(
        "🔗 Post #1 is out in News, but the message with its buttons under it is not:"
    ), notice.plain
    assert len(fake.calls_of("sendMessage", since=mark)) == 2  # the follow-up once, the notice
    [out] = await steward.app.post_repo.with_status("published")
    assert len(out.published_ids) == 3 and out.followup_ids is None


async def queue_and_reschedule(fake, steward, chat, manager) -> None:
    """The draft on the panel goes to the News channel tomorrow as post #1, and /queue's
    Reschedule on it asks for a new time."""
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Tomorrow")
    await press(fake, steward, manager, "Confirm")
    await fake.send_message(chat, manager, "/queue")
    listed = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"))
    entry = message_starting(fake, MANAGER_ID, "🕒 #1")
    await fake.press_button(entry, manager, button(listed, "Reschedule"))
    await fake.wait_for("sendMessage", lambda c: "new time for post #1" in c.plain)


async def test_an_album_meeting_a_day_old_question_is_told_once(steward, fake, desk):
    """Reschedule left unanswered for over a day, then an album: its parts arrive together
    and are handled concurrently, yet the manager reads "no longer waiting" once, and the
    album becomes one new post (not post #1's time, not three notes)."""
    chat, manager = desk
    await fake.send_message(chat, manager, "First post")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await queue_and_reschedule(fake, steward, chat, manager)
    asked = {"post_id": 1, "asked_at": int(time.time()) - 2 * 24 * 3600}
    await change_while_stopped(steward, "UPDATE dialog_states SET data=?", (json.dumps(asked),))
    await steward.start()
    mark = fake.mark()
    await send_album(fake, chat, manager, "album-late")
    await fake.wait_for("sendMessage", lambda c: "album of 3" in c.plain, since=mark)
    await steward.idle()
    said = [c.plain for c in fake.calls_of("sendMessage", since=mark)]
    assert len([t for t in said if t.startswith("I no longer wait")]) == 1, said
    assert len([t for t in said if t.startswith("📝 New post")]) == 1, said


async def test_schedule_in_reply_to_one_photo_of_an_album_publishes_the_album(steward, fake, desk):
    """On a phone a manager replies to the photo they see, often not the first: the one-line
    /schedule still publishes the album the bot collected, caption and all."""
    chat, manager = desk
    parts = await send_album(fake, chat, manager, "album-2")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    mark = fake.mark()
    await fake.send_message(chat, manager, "/schedule @news +2s", reply_to=parts[1])
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("Scheduled for")
    [queued] = await steward.app.post_repo.with_status("scheduled")
    assert queued.summary["kind"] == "album" and queued.summary["text"] == "Our trip"
    copies = await fake.wait_for("copyMessages", since=mark, timeout=10)
    assert copies["chat_id"] == CHANNEL
    assert copies["message_ids"] == [m["message_id"] for m in parts]
    await steward.idle()
    assert fake.calls_of("copyMessage", since=mark) == []


async def test_a_custom_time_asked_before_a_restart_is_taken_after_it(steward, fake, desk):
    """Custom… pressed, the bot restarted before the time was typed: the time goes into the
    draft (a fresh panel shows it), rather than becoming a draft of its own."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Custom")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Send the time in"))
    await steward.restart()
    mark = fake.mark()
    await type_answer(fake, steward, chat, manager, "tomorrow 10:00")
    shown = await fake.wait_for(
        "sendMessage", lambda c: c.plain.startswith("📝 New post"), since=mark
    )
    assert "Big news today" in shown.plain and "Time: " in shown.plain, shown.plain
    assert "Time: choose below" not in shown.plain


def channel_buttons(shown: dict) -> dict[int, dict]:
    """The panel's channel buttons by channel id (callback data c:ch:<draft>:<id>:<page>)."""
    return {
        int(b["callback_data"].split(":")[3]): b
        for row in shown["reply_markup"]["inline_keyboard"]
        for b in row
        if b["callback_data"].startswith("c:ch:")
    }


def chosen_on_page(shown: dict) -> list[int]:
    return [chat_id for chat_id, b in channel_buttons(shown).items() if b["text"][0] == "✅"]


async def choose_channel(fake, steward, manager, chat_id: int, forward: str = "▶") -> None:
    """Tap the channel's button, paging with ◀ or ▶ until it is on the panel."""
    for _ in range(20):
        if chat_id in (shown := channel_buttons(panel(fake))):
            await fake.press_button(panel(fake), manager, shown[chat_id]["callback_data"])
            await steward.idle()
            return
        await press(fake, steward, manager, forward)
    raise AssertionError(f"channel {chat_id} on no page")


async def test_forty_channels_with_long_titles_fit_the_panel_and_the_confirmation(
    steward, fake, desk
):
    """Forty channels with Telegram's longest titles (128 characters), all chosen: the panel
    still redraws after every tap (its text under 4,096 characters) and Confirm's answer
    fits too, instead of the taps seeming to do nothing and Confirm ending in an error."""
    from storage.posts import Channel

    ids = []
    for n in range(40):
        title = f"Channel {n:02d} " + "x" * 117
        channel = Channel(-1001555100000 - n, title, None, True, True, True, True)
        await steward.app.channel_repo.upsert(channel, int(time.time()))
        ids.append(channel.chat_id)
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    for chat_id in ids:
        await choose_channel(fake, steward, manager, chat_id)
    shown = panel(fake)
    assert len(chosen_on_page(shown)) == CHANNELS_PER_PAGE  # every tap redrew the panel
    assert "Channel 00" in shown["text"] and "30 more" in shown["text"], shown["text"]
    await press(fake, steward, manager, "Tomorrow")
    await press(fake, steward, manager, "Confirm")
    done = await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    assert "30 more" in done.plain and done.plain.endswith("/queue."), done.plain
    assert len(await steward.app.post_repo.with_status("scheduled")) == 40
    assert not [c for c in fake.calls_of("sendMessage") if "went wrong" in c.plain]


async def test_150_channels_are_paged_and_the_choice_stays_across_pages(steward, fake, desk):
    """Past 88 channels the panel had more than the 100 buttons Telegram takes under a message:
    it was refused ("reply markup is too long") and the manager got no panel at all. Now the
    channels come 20 a page with ◀ n/m ▶, ◀ on the first page goes to the last, and what is
    chosen on one page stays chosen on the others (the redraws keep their page)."""
    from storage.posts import Channel

    for n in range(150):
        channel = Channel(-1001555200000 - n, f"Ch {n:03d}", None, True, True, True, True)
        await steward.app.channel_repo.upsert(channel, int(time.time()))
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    shown = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    keys = [b["text"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
    assert len(keys) <= 100 and keys[CHANNELS_PER_PAGE : CHANNELS_PER_PAGE + 3] == [
        "◀",
        "1/8",
        "▶",
    ], keys
    first, second, last = -1001555200000, -1001555200000 - 25, -1001555200000 - 149
    await choose_channel(fake, steward, manager, first)
    await choose_channel(fake, steward, manager, second)  # ▶ to page 2
    assert "2/8" in str(panel(fake)["reply_markup"]) and chosen_on_page(panel(fake)) == [second]
    await press(fake, steward, manager, "Silent")  # a redraw stays on its page
    assert chosen_on_page(panel(fake)) == [second]
    await choose_channel(fake, steward, manager, last, forward="◀")  # page 2 → 1 → 8
    assert "8/8" in str(panel(fake)["reply_markup"]) and chosen_on_page(panel(fake)) == [last]
    await press(fake, steward, manager, "▶")  # 8 wraps to 1: the first choice is still there
    assert chosen_on_page(panel(fake)) == [first]
    assert "Ch 000, Ch 025, Ch 149" in panel(fake)["text"], panel(fake)["text"]
    await press(fake, steward, manager, "Tomorrow")
    await press(fake, steward, manager, "Confirm")
    await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    posts = await steward.app.post_repo.with_status("scheduled")
    assert sorted(p.channel_id for p in posts) == sorted([first, second, last])
    assert not [c for c in fake.calls_of("sendMessage") if "went wrong" in c.plain]


async def test_a_panel_sent_before_paging_still_answers_its_buttons(steward, fake, desk):
    """A panel sent by the previous version carries callback data without a page
    (c:ch:<draft>:<channel>): its taps still work, on the first page."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await fake.press_button(panel(fake), manager, f"c:ch:1:{CHANNEL}")
    await steward.idle()
    assert chosen_on_page(panel(fake)) == [CHANNEL]
    await fake.press_button(panel(fake), manager, "c:silent:1:0")
    await steward.idle()
    assert "Options: silent" in panel(fake)["text"]


@pytest.mark.parametrize("then", ["Tomorrow", "Discard"])
async def test_a_question_ends_when_its_draft_no_longer_needs_the_answer(steward, fake, desk, then):
    """Custom… pressed, then a preset time instead (and Confirm), or Discard: the bot no
    longer waits for a typed time, so the manager's next message is a new post to compose.
    Before, it was read as the time ("I don't understand the time…"), and a text such as
    "18:30 meetup" was taken as the time of a draft that was gone."""
    chat, manager = desk
    await fake.send_message(chat, manager, "First post")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Custom")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Send the time in"))
    await press(fake, steward, manager, then)
    if then == "Tomorrow":
        await press(fake, steward, manager, "Confirm")
        await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    mark = fake.mark()
    await fake.send_message(chat, manager, "Second post")
    shown = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert shown.plain.startswith("📝 New post") and "Second post" in shown.plain, shown.plain


async def test_a_custom_time_may_be_a_recurrence_as_in_schedule(steward, fake, desk):
    """Custom… takes what /schedule takes, a recurrence included: the panel says it repeats,
    and Confirm queues a post that queues its next occurrence when it goes out."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Weekly digest")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Custom")
    asked = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Send the time in"))
    assert "weekly mon 10:00" in asked.plain
    await type_answer(fake, steward, chat, manager, "weekly mon 10:00")
    assert "Repeats: weekly mon 10:00" in panel(fake)["text"], panel(fake)["text"]
    await press(fake, steward, manager, "Confirm")
    await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    [post] = await steward.app.post_repo.with_status("scheduled")
    due = datetime.fromtimestamp(post.due_at, UTC)  # TIMEZONE=UTC in the tests
    assert post.recurrence == "weekly mon 10:00" and (due.weekday(), due.hour) == (0, 10)
    # a preset time chosen afterwards is a one-off again
    await fake.send_message(chat, manager, "Another")
    await fake.wait_for("sendMessage", lambda c: "Another" in c.plain)
    await steward.idle()
    await press(fake, steward, manager, "Custom")
    await type_answer(fake, steward, chat, manager, "daily 09:00")
    await press(fake, steward, manager, "Tomorrow")
    assert "Repeats" not in panel(fake)["text"]


async def test_a_photo_sent_while_a_custom_time_is_awaited_is_told_the_way_out(steward, fake, desk):
    """Custom… pressed, then a photo (a new post, say) instead of a time: the manager is told
    it is no time and how to stop waiting, as after Reschedule, not apologised to; the draft
    keeps waiting for its time."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "Custom")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Send the time in"))
    mark = fake.mark()
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 9, "height": 9}]
    await fake.push_update({"message": fake.new_message(chat, manager, photo=photo)})
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("I don't understand the time"), reply.plain
    assert reply.plain.endswith("Still waiting for the time: /cancel to stop."), reply.plain
    await type_answer(fake, steward, chat, manager, "tomorrow 10:00")
    assert "Time: choose below" not in panel(fake)["text"]


async def test_what_telegram_will_not_copy_to_a_channel_is_refused_when_sent(steward, fake, desk):
    """A forwarded quiz (whose right answer the bot was not told) and a poll that shows its
    voters can never be copied to a channel: the manager hears why at once, when sending it,
    by /schedule or as a post's new content, instead of a post that fails at its time."""
    chat, manager = desk
    options = [{"persistent_id": str(n), "text": t, "voter_count": 0} for n, t in enumerate("ab")]
    poll = {"id": "p", "question": "Which?", "options": options, "total_voter_count": 0}
    poll |= {"is_closed": False, "allows_multiple_answers": False}
    poll |= {"allows_revoting": False, "members_only": False}
    origin = {"type": "channel", "chat": fake.chats[CHANNEL].chat, "message_id": 7, "date": 1}
    quiz = fake.new_message(
        chat, manager, poll={**poll, "type": "quiz", "is_anonymous": True}, forward_origin=origin
    )
    public = fake.new_message(
        chat, manager, poll={**poll, "type": "regular", "is_anonymous": False}
    )
    for message, why in ((quiz, "quiz"), (public, "who voted")):
        mark = fake.mark()
        await fake.push_update({"message": message})
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
        assert why in reply.plain and "can't" in reply.plain, reply.plain
        await steward.idle()
        assert not [c for c in fake.calls_of("sendMessage", since=mark) if "New post" in c.plain]
        mark = fake.mark()
        await fake.send_message(chat, manager, "/schedule @news +1h", reply_to=message)
        reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
        assert why in reply.plain, reply.plain
    assert await steward.app.post_repo.with_status("scheduled") == []
    # as the new content of a queued post: refused, and the post keeps waiting for content
    post = await fake.send_message(chat, manager, "Plain text")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await fake.send_message(chat, manager, "/schedule @news +1h", reply_to=post)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Scheduled for"))
    await fake.send_message(chat, manager, "/queue")
    listed = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"))
    entry = message_starting(fake, MANAGER_ID, "🕒 #1")
    await fake.press_button(entry, manager, button(listed, "Edit"))
    await fake.wait_for("sendMessage", lambda c: "new content for post #1" in c.plain)
    mark = fake.mark()
    quiz = fake.new_message(
        chat, manager, poll={**poll, "type": "quiz", "is_anonymous": True}, forward_origin=origin
    )
    await fake.push_update({"message": quiz})
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert "quiz" in reply.plain, reply.plain
    await type_answer(fake, steward, chat, manager, "Better text")
    [queued] = await steward.app.post_repo.with_status("scheduled")
    assert queued.summary["text"] == "Better text"


async def test_a_question_the_panel_made_moot_is_no_longer_waited_for(steward, fake, desk):
    """Custom… pressed, then a preset time chosen instead and the post confirmed; URL buttons
    pressed, then the draft discarded: the bot no longer waits for a time or buttons, so the
    next post sent is a new post, not "I don't understand the time" or "Line 1: …"."""
    chat, manager = desk
    await fake.send_message(chat, manager, "First post")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Custom")
    await press(fake, steward, manager, "Tomorrow")
    await press(fake, steward, manager, "Confirm")
    await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    mark = fake.mark()
    await type_answer(fake, steward, chat, manager, "Second post")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("📝 New post"), reply.plain
    await press(fake, steward, manager, "URL buttons")
    await press(fake, steward, manager, "Discard")
    mark = fake.mark()
    await type_answer(fake, steward, chat, manager, "Third post")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("📝 New post"), reply.plain


async def test_confirm_says_so_when_a_chosen_channel_lost_the_bots_rights(steward, fake, desk):
    """Two channels chosen, then the bot lost the right to post in one before Confirm: Confirm
    says so and queues nothing, rather than quietly posting to the other alone; the channel
    is taken off the draft (its button is gone too), so the next Confirm queues the rest."""
    chat, manager = desk
    blog = -1001555000009
    fake.add_chat(blog, "channel", "Blog", username="blog")
    member = fake._admin_member(fake.bot_user, is_bot_self=True)
    change = {"chat": fake.chats[blog].chat, "from": fake.user(3, "Owner"), "date": fake.now()}
    await fake.push_update(
        {"my_chat_member": {**change, "old_chat_member": {"status": "left", "user": fake.bot_user},
                            "new_chat_member": member}}
    )  # fmt: skip
    await steward.idle()
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Blog")
    await press(fake, steward, manager, "Tomorrow")
    demoted = fake._admin_member(fake.bot_user, is_bot_self=True, can_post_messages=False)
    await fake.push_update(
        {"my_chat_member": {**change, "old_chat_member": member, "new_chat_member": demoted}}
    )
    await steward.idle()
    mark = fake.mark()
    await press(fake, steward, manager, "Confirm")
    alert = await fake.wait_for("answerCallbackQuery", lambda c: c.get("text"), since=mark)
    assert alert["text"].startswith("I can no longer post in Blog"), alert["text"]
    assert await steward.app.post_repo.with_status("scheduled") == []
    assert "Channels: News" in panel(fake)["text"], panel(fake)["text"]
    await press(fake, steward, manager, "Confirm")
    await fake.wait_for("editMessageText", lambda c: c.plain.startswith("✅ Scheduled"))
    assert [p.channel_id for p in await steward.app.post_repo.with_status("scheduled")] == [CHANNEL]


async def test_a_photo_sent_while_buttons_are_awaited_is_told_the_way_out(steward, fake, desk):
    """URL buttons pressed, then a photo (a new post, say) instead of the buttons: the answer
    says the bot still waits for them and how to stop, not only "Line 1: write it as …"."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "URL buttons")
    await fake.wait_for("sendMessage", lambda c: "one row per line" in c.plain)
    mark = fake.mark()
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 9, "height": 9}]
    await fake.push_update({"message": fake.new_message(chat, manager, photo=photo)})
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.endswith(
        "Still waiting for the buttons: send - for none, /cancel to stop."
    ), reply.plain
    await type_answer(fake, steward, chat, manager, "Site - https://example.com")
    assert "Buttons: 1" in panel(fake)["text"]


async def test_a_deletion_telegram_refuses_is_told_to_the_manager(steward, fake, desk):
    """Delete-after came, but Telegram refused the deletion (here the bot lost its rights in
    the channel meanwhile): the manager who queued the post hears that it is still there and
    why, instead of nothing while the post stays up."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Flash sale")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "News")
    await press(fake, steward, manager, "Keep")  # off -> 1 h
    await press(fake, steward, manager, "In 1 hour")
    await press(fake, steward, manager, "Confirm")
    app = steward.app
    await app.publisher.publish(1)
    fake.chats[CHANNEL].members[fake.bot_id] = fake._admin_member(
        fake.bot_user, is_bot_self=True, can_post_messages=False, can_delete_messages=False
    )
    mark = fake.mark()
    job = app.scheduler.get_job("post-delete:1")
    await job.func(*job.args)
    told = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert told.plain.startswith("🗑 Post #1 is still in News: I could not delete it"), told.plain
    assert "message can't be deleted" in told.plain
    assert len(channel_posts(fake)) == 1


@pytest.mark.parametrize("question", ["Custom", "URL buttons", "Reschedule"])
async def test_an_album_sent_while_a_question_waits_is_answered_once(steward, fake, desk, question):
    """An album sent by mistake while the bot waits for a typed time or buttons: its parts are
    separate messages, and each got its own "I don't understand…". The album is one answer
    (its media_group_id), told once, and the question still waits."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    if question == "Reschedule":
        await queue_and_reschedule(fake, steward, chat, manager)
    else:
        await press(fake, steward, manager, question)
        await fake.wait_for("sendMessage", lambda c: "/cancel to stop" in c.plain)
    await steward.idle()
    mark = fake.mark()
    await send_album(fake, chat, manager, "album-by-mistake")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    await steward.idle()
    said = [c.plain for c in fake.calls_of("sendMessage", since=mark)]
    assert len(said) == 1 and "Still waiting for the" in said[0], said
    answer = "Site - https://example.com" if question == "URL buttons" else "tomorrow 10:00"
    await type_answer(fake, steward, chat, manager, answer)
    said = [c.plain for c in fake.calls_of("sendMessage", since=mark)]
    assert len(said) == 2 and "Still waiting" not in said[1], said


async def test_a_typed_answer_brings_the_panel_back_at_the_page_it_was_on(steward, fake, desk):
    """Forty channels, the manager on page 2 chose one there and pressed Custom…: after the
    time was typed the fresh panel opened on page 1, and the chosen channel was out of sight
    (one more tap on ▶ for every typed answer). It now opens on the page it was on, a restart
    in between included."""
    from storage.posts import Channel

    for n in range(40):
        channel = Channel(-1001555300000 - n, f"Ch {n:03d}", None, True, True, True, True)
        await steward.app.channel_repo.upsert(channel, int(time.time()))
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    second = -1001555300000 - 25
    await choose_channel(fake, steward, manager, second)
    assert "2/3" in str(panel(fake)["reply_markup"])
    await press(fake, steward, manager, "Custom")
    await type_answer(fake, steward, chat, manager, "tomorrow 10:00")
    assert "2/3" in str(panel(fake)["reply_markup"]) and chosen_on_page(panel(fake)) == [second]
    await press(fake, steward, manager, "URL buttons")
    await steward.restart()
    await type_answer(fake, steward, chat, manager, "Site - https://example.com")
    shown = panel(fake)
    assert "Buttons: 1" in shown["text"] and chosen_on_page(shown) == [second], shown
