"""End-to-end /queue: a preview per post, buttons that act on their own post, paging."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from bot.posting.buttons import QueueCallback
from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, RunningBot, make_env, settings_for
from tests.test_e2e_posting import (
    CHANNEL,
    labelled,
    open_desk,
    register_channel,
    registered_desk,
)

DOCUMENT = {"file_id": "doc1", "file_unique_id": "udoc1", "file_name": "rules.pdf"}
PHOTO = [{"file_id": "ph1", "file_unique_id": "uph1", "width": 9, "height": 9}]


@pytest.fixture
async def desk(fake: FakeTelegram, steward):
    return await registered_desk(fake, steward)


async def schedule(fake, desk, when: str, text: str | None = None, **content) -> None:
    chat, manager = desk
    post = await fake.send_message(chat, manager, text, **content)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await fake.send_message(chat, manager, f"/schedule @news {when}", reply_to=post)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Scheduled for"))


def bot_message(fake, call) -> dict:
    """The message the bot sent with `call` (to press its buttons)."""
    return next(
        m
        for (c, _), m in sorted(fake.messages.items())
        if c == MANAGER_ID and m.get("text") == call.plain and m.get("from", {}).get("is_bot")
    )


def post_ids_of(call) -> set[int]:
    return {
        QueueCallback.unpack(b["callback_data"]).post_id
        for row in call["reply_markup"]["inline_keyboard"]
        for b in row
    }


async def test_queue_shows_what_each_post_is_and_its_buttons_act_on_it(steward, fake, desk):
    chat, manager = desk
    await schedule(fake, desk, "+1h", "Quarterly results\nDetails inside")
    await schedule(fake, desk, "+2h", None, photo=PHOTO, caption="Sunset <over> the bay")
    await schedule(fake, desk, "+3h", None, document=DOCUMENT)
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    entries = [
        await fake.wait_for(
            "sendMessage", lambda c, n=n: c.plain.startswith(f"🕒 #{n} · News"), since=mark
        )
        for n in (1, 2, 3)
    ]
    assert entries[0]["text"].splitlines()[1] == "Quarterly results"
    assert entries[1]["text"].splitlines()[1] == "📷 photo: Sunset &lt;over&gt; the bay"
    assert entries[2]["text"].splitlines()[1] == "📄 document"
    assert [post_ids_of(e) for e in entries] == [{1}, {2}, {3}]
    await steward.idle()
    assert not any("page" in c.plain for c in fake.calls_of("sendMessage", since=mark))

    second = bot_message(fake, entries[1])
    await fake.press_button(second, manager, labelled(entries[1], "Cancel"))
    ask = await fake.wait_for("editMessageReplyMarkup")
    assert ask["message_id"] == second["message_id"]
    yes = labelled(ask, "Yes, cancel")
    await fake.press_button(second, manager, yes)
    done = await fake.wait_for("editMessageText", lambda c: "cancelled" in c.plain)
    assert done.plain == "✖️ Post #2 cancelled." and done["message_id"] == second["message_id"]
    assert [p.id for p in await steward.app.post_repo.with_status("cancelled")] == [2]
    assert [p.id for p in await steward.app.post_repo.with_status("scheduled")] == [1, 3]

    # "No, keep it" brings the post's own buttons back
    third = bot_message(fake, entries[2])
    await fake.press_button(third, manager, labelled(entries[2], "Cancel"))
    await fake.wait_for("editMessageReplyMarkup")
    await fake.press_button(
        third, manager, labelled(fake.messages[(MANAGER_ID, third["message_id"])], "keep")
    )
    back = await fake.wait_for("editMessageReplyMarkup")
    assert post_ids_of(back) == {3} and "Reschedule" in str(back["reply_markup"])
    assert [p.id for p in await steward.app.post_repo.with_status("scheduled")] == [1, 3]


async def test_a_long_queue_is_paged(steward, fake, desk):
    chat, manager = desk
    now = int(time.time())
    for n in range(1, 8):
        await steward.app.post_repo.add(
            channel_id=CHANNEL,
            source_chat_id=MANAGER_ID,
            source_message_ids=[1000 + n],
            due_at=now + n * 3600,
            created_by=MANAGER_ID,
            now=now,
            silent=n == 7,
            summary={"kind": "text", "text": f"Post number {n}", "count": 1},
        )
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    nav = await fake.wait_for("sendMessage", lambda c: "page 1/2" in c.plain, timeout=15)
    assert "7 posts" in nav.plain
    shown = [c for c in fake.calls_of("sendMessage", since=mark) if c.plain.startswith("🕒")]
    assert [c.plain.splitlines()[1] for c in shown] == [f"Post number {n}" for n in range(1, 6)]
    [[forward]] = nav["reply_markup"]["inline_keyboard"]
    assert forward["text"] == "Page 2 ▶"

    mark = fake.mark()
    await fake.press_button(bot_message(fake, nav), manager, forward["callback_data"])
    nav2 = await fake.wait_for("sendMessage", lambda c: "page 2/2" in c.plain, timeout=15)
    cleared = await fake.wait_for("editMessageReplyMarkup", since=mark)
    assert cleared.get("reply_markup") is None  # the old page's ◀ ▶ are gone
    shown = [c for c in fake.calls_of("sendMessage", since=mark) if c.plain.startswith("🕒")]
    assert [c.plain.splitlines()[1] for c in shown] == ["Post number 6", "Post number 7"]
    assert shown[1].plain.splitlines()[2] == "🔕 silent"
    [[back]] = nav2["reply_markup"]["inline_keyboard"]
    assert back["text"] == "◀ Page 1"

    # a button on page 2 acts on its own post
    await fake.press_button(bot_message(fake, shown[1]), manager, labelled(shown[1], "Reschedule"))
    await fake.wait_for("sendMessage", lambda c: "new time for post #7" in c.plain)


async def test_a_post_for_next_year_shows_its_year(steward, fake, desk):
    """/queue's dates had no year: a post next January read as one of this January."""
    chat, manager = desk
    await schedule(fake, desk, "+1h", "Anniversary")
    # moved in storage to Jan 2 of next year: the test cannot move the clock, and a time typed
    # today may be at most 365 days ahead
    today = datetime.now(steward.settings.timezone)
    next_year = today.replace(year=today.year + 1, month=1, day=2, hour=10, minute=0)
    assert await steward.app.post_repo.reschedule(1, int(next_year.timestamp()))
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    entry = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"), since=mark)
    [post] = await steward.app.post_repo.with_status("scheduled")
    due = datetime.fromtimestamp(post.due_at, steward.settings.timezone)
    assert entry.plain.splitlines()[0] == f"🕒 #1 · News · {due:%d.%m.%Y %H:%M}"


async def test_publish_now_that_telegram_makes_wait_says_when(steward, fake, desk):
    """Telegram asked to wait longer than a send waits: the post went back into the queue for
    then, and the chat said "Publishing post #1." and nothing more."""
    chat, manager = desk
    await schedule(fake, desk, "+1h", "Quarterly results")
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    entry = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"), since=mark)
    fake.fail("copyMessage", 429, retry_after=121)
    await fake.press_button(bot_message(fake, entry), manager, labelled(entry, "Publish now"))
    told = await fake.wait_for("sendMessage", lambda c: "wait" in c.plain)
    [post] = await steward.app.post_repo.with_status("scheduled")
    due = datetime.fromtimestamp(post.due_at, steward.settings.timezone)
    assert told.plain == f"⏳ Telegram asks me to wait: post #1 goes out at {due:%H:%M}."


async def test_queue_and_panel_name_locations_places_contacts_and_dice(steward, fake, desk):
    """A location, a place, a contact or a dice queued for a channel was shown as
    "✉️ message" in /queue and "📝 New post: message" on the panel: four such posts could not
    be told apart. Each now says what it is, with the place's or contact's name."""
    chat, manager = desk
    spot = {"latitude": 52.37, "longitude": 4.89}
    contents = [
        {"location": spot},
        {"venue": {"location": spot, "title": "Hall A", "address": "Dam 1"}, "location": spot},
        {"contact": {"phone_number": "+31201234567", "first_name": "Ann", "last_name": "Smith"}},
        {"dice": {"emoji": "🎯", "value": 3}},
    ]
    panels = []
    for n, content in enumerate(contents, start=1):
        mark = fake.mark()
        await schedule(fake, desk, f"+{n}h", None, **content)
        panel = await fake.wait_for("sendMessage", lambda c: "📝 New post" in c.plain, since=mark)
        panels.append(panel.plain.splitlines()[0])
    assert panels == [
        "📝 New post: location",
        "📝 New post: place",
        "📝 New post: contact",
        "📝 New post: dice",
    ]
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    entries = [
        await fake.wait_for(
            "sendMessage", lambda c, n=n: c.plain.startswith(f"🕒 #{n} · News"), since=mark
        )
        for n in (1, 2, 3, 4)
    ]
    assert [e.plain.splitlines()[1] for e in entries] == [
        "📍 location",
        "📍 place: Hall A",
        "👤 contact: Ann Smith",
        "🎲 dice: 🎯",
    ]


async def test_publish_now_refused_by_telegram_is_told_to_the_manager_who_pressed_it(
    fake, tmp_path
):
    """Two managers: one queued the post, the other pressed Publish now in their own /queue and
    Telegram refused it. The one who pressed hears why (in their language), as the one who
    queued it does, instead of "Publishing post #1." and nothing more."""
    other_id = MANAGER_ID + 1
    env = make_env(fake, tmp_path, MANAGER_IDS=f"{MANAGER_ID},{other_id}")
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    desk = open_desk(fake)
    other = fake.user(other_id, "Olga", language_code="ru")
    other_chat = fake.private_chat(other)
    await running.start()
    try:
        await register_channel(fake, running)
        await schedule(fake, desk, "+1h", "Quarterly results")
        mark = fake.mark()
        await fake.send_message(other_chat, other, "/queue")
        entry = await fake.wait_for(
            "sendMessage", lambda c: c["chat_id"] == other_id and "#1" in c.plain, since=mark
        )
        fake.fail("copyMessage", 400, description="Bad Request: message to copy not found")
        message = next(
            m
            for (c, _), m in sorted(fake.messages.items())
            if c == other_id and m.get("text") == entry.plain
        )
        await fake.press_button(message, other, labelled(entry, "Опубликовать"))
        told = await fake.wait_for(
            "sendMessage", lambda c: c["chat_id"] == other_id and "⚠️" in c.plain, since=mark
        )
        assert told.plain.startswith("⚠️ Пост #1 для News не опубликован"), told.plain
        assert labelled(told, "Повторить")
        creator = await fake.wait_for(
            "sendMessage", lambda c: c["chat_id"] == MANAGER_ID and "⚠️" in c.plain, since=mark
        )
        assert creator.plain.startswith("⚠️ Post #1 for News failed"), creator.plain
        await running.idle()
        assert len([c for c in fake.calls_of("sendMessage", since=mark) if "⚠️" in c.plain]) == 2
    finally:
        await running.stop()


async def test_a_double_tap_on_a_page_button_sends_the_page_once(steward, fake, desk):
    """▶ tapped twice before its message lost its buttons: the second tap finds the buttons
    already gone (its edit is refused as not modified) and sends nothing, instead of a second
    copy of the whole page."""
    chat, manager = desk
    now = int(time.time())
    for n in range(1, 8):
        await steward.app.post_repo.add(
            channel_id=CHANNEL, source_chat_id=MANAGER_ID, source_message_ids=[1000 + n],
            due_at=now + n * 3600, created_by=MANAGER_ID, now=now,
            summary={"kind": "text", "text": f"Post number {n}", "count": 1},
        )  # fmt: skip
    await fake.send_message(chat, manager, "/queue")
    nav = await fake.wait_for("sendMessage", lambda c: "page 1/2" in c.plain, timeout=15)
    await steward.idle()
    [[forward]] = nav["reply_markup"]["inline_keyboard"]
    mark = fake.mark()
    message = bot_message(fake, nav)
    first = await fake.press_button(message, manager, forward["callback_data"])
    second = await fake.press_button(message, manager, forward["callback_data"])
    await fake.wait_for("sendMessage", lambda c: "page 2/2" in c.plain, timeout=15)
    await steward.idle()
    pages = [c for c in fake.calls_of("sendMessage", since=mark) if "page 2/2" in c.plain]
    shown = [c for c in fake.calls_of("sendMessage", since=mark) if c.plain.startswith("🕒")]
    assert len(pages) == 1 and len(shown) == 2, [c.plain for c in shown]
    answered = {c["callback_query_id"] for c in fake.calls_of("answerCallbackQuery", since=mark)}
    assert answered == {first, second}
    assert not [c for c in fake.calls_of("sendMessage", since=mark) if "went wrong" in c.plain]


async def test_queue_says_which_posts_wait_for_a_channel_the_bot_cannot_post_in(
    steward, fake, desk
):
    """The bot lost the right to post in the channel: /channels flags it, and /queue now says
    so at each of its queued posts too (they will be held at their time), where it used to
    list them as if all were well."""
    chat, manager = desk
    await schedule(fake, desk, "+1h", "Quarterly results")
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
    await steward.idle()
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    entry = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"), since=mark)
    assert entry.plain.splitlines()[-1] == (
        "⚠️ I can no longer post in this channel: give me the right back before its time, "
        "or it will wait for you."
    ), entry.plain


async def test_a_second_publish_now_while_the_first_sends_says_it_is_being_sent(
    steward, fake, desk
):
    """Publish now pressed twice (a slow network: the first copy still on its way): the second
    was told "This post is no longer in the queue", as if it had been cancelled or deleted.
    It is told the post is being sent right now, and nothing is sent twice."""
    chat, manager = desk
    await schedule(fake, desk, "+1h", "Quarterly results")
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    entry = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"), since=mark)
    fake.fail("copyMessage", 200, delay=2.0)  # a slow answer, then the copy
    shown = bot_message(fake, entry)
    await fake.press_button(shown, manager, labelled(entry, "Publish now"))
    await fake.wait_for("copyMessage", since=mark)
    mark = fake.mark()
    await fake.press_button(shown, manager, labelled(entry, "Publish now"))
    told = await fake.wait_for("answerCallbackQuery", since=mark)
    assert told["text"] == "Post #1 is being sent right now.", told.params
    await fake.wait_for("editMessageText", lambda c: c.plain == "✅ Post #1 published.")
    await steward.idle()
    assert len(fake.calls_of("copyMessage")) == 1


async def test_it_is_out_on_a_post_with_delete_after_says_it_cannot_be_deleted(steward, fake, desk):
    """ "It is out" records a post whose send was not confirmed, but the bot never learned its
    message in the channel (a bot is not sent its own channel posts), so its delete-after and
    its pin cannot happen: the manager was told only "recorded as published" and waited for a
    deletion that never came. Now told to delete (and pin) it by hand."""
    chat, manager = desk
    await schedule(fake, desk, "+1h", "Flash sale")
    await steward.app.post_repo.db.execute(
        "UPDATE posts SET delete_after_hours=6, pin=1 WHERE id=1"
    )
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    entry = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"), since=mark)
    fake.fail("copyMessage", 502, carried_out=True, gateway=True)
    await fake.press_button(bot_message(fake, entry), manager, labelled(entry, "Publish now"))
    notice = await fake.wait_for("sendMessage", lambda c: "check the channel" in c.plain)
    await steward.idle()
    mark = fake.mark()
    await fake.press_button(bot_message(fake, notice), manager, labelled(notice, "It is out"))
    done = await fake.wait_for("editMessageText", lambda c: "recorded as published" in c.plain)
    assert "delete it after 6 h" in done.plain and "pin" in done.plain, done.plain
    await steward.idle()
    assert not fake.calls_of("deleteMessages") and not fake.calls_of("pinChatMessage")


async def test_it_is_out_on_a_post_queued_again_meanwhile_keeps_the_notice(steward, fake, desk):
    """A post that may be out: the manager rescheduled it from the notice, then pressed the
    notice's "It is out". The notice was replaced by "This post is no longer in the queue",
    while the post waited in the queue. Now an alert says it is queued again and how to drop
    it, and the notice stays."""
    chat, manager = desk
    await schedule(fake, desk, "+1h", "Flash sale")
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    entry = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"), since=mark)
    fake.fail("copyMessage", 502, carried_out=True, gateway=True)
    await fake.press_button(bot_message(fake, entry), manager, labelled(entry, "Publish now"))
    notice = await fake.wait_for("sendMessage", lambda c: "check the channel" in c.plain)
    await steward.idle()
    shown = bot_message(fake, notice)
    await fake.press_button(shown, manager, labelled(notice, "Reschedule"))
    await fake.wait_for("sendMessage", lambda c: "new time for post #1" in c.plain)
    await fake.send_message(chat, manager, "+2h")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Post #1 moved to"))
    mark = fake.mark()
    await fake.press_button(shown, manager, labelled(notice, "It is out"))
    told = await fake.wait_for("answerCallbackQuery", since=mark)
    assert told["show_alert"] and "/queue" in told["text"], told.params
    assert "queue again" in told["text"] or "back in the queue" in told["text"], told.params
    await steward.idle()
    assert not fake.calls_of("editMessageText", since=mark)
    [post] = await steward.app.post_repo.with_status("scheduled")
    assert post.id == 1
