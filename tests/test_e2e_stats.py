"""End-to-end statistics: a scripted week in, exact numbers and valid charts out."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID

GROUP = -1001888000001
CHANNEL = -1001888000050
DISCUSSION = -1001888000051
DAY = 86400


def png_ok(data: bytes) -> bool:
    import matplotlib.image

    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    return image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture
def bot_env(bot_env):
    bot_env["TIMEZONE"] = "Europe/Amsterdam"
    return bot_env


async def script_week(fake: FakeTelegram, steward) -> dict:
    """Seven days of a group's life, ending now: messages, joins, leaves. Replaying a week in a
    second would trip the flood rule, so it is off for the replay."""
    await steward.app.mod_repo.update_settings(GROUP, flood_mode="off")
    chat = fake.add_chat(GROUP, title="Makers")
    admin = fake.user(1, "Ada")
    fake.add_member(GROUP, admin, "administrator")
    members = [fake.user(100 + n, f"Member{n}") for n in range(5)]
    for m in members:
        fake.add_member(GROUP, m)
    now = time.time()
    expected = {"messages": 0, "joins": 0, "leaves": 0, "active": set(), "per_member": {}}
    for day in range(6, -1, -1):  # 6 days ago ... today
        ts = int(now - day * DAY) - 60
        for n, member in enumerate(members[: 1 + day % 5]):
            for _ in range(n + 1):
                fake.clock = lambda ts=ts: ts
                await fake.send_message(chat, member, f"message on day -{day}")
                expected["messages"] += 1
                expected["active"].add(member["id"])
                name = member["first_name"]
                expected["per_member"][name] = expected["per_member"].get(name, 0) + 1
        newcomer = fake.user(500 + day, f"New{day}")
        await fake.push_update(
            {
                "chat_member": {
                    "chat": chat,
                    "from": newcomer,
                    "date": ts,
                    "old_chat_member": {"status": "left", "user": newcomer},
                    "new_chat_member": {"status": "member", "user": newcomer},
                }
            }
        )
        expected["joins"] += 1
        if day % 2 == 0:
            await fake.push_update(
                {
                    "chat_member": {
                        "chat": chat,
                        "from": newcomer,
                        "date": ts + 1,
                        "old_chat_member": {"status": "member", "user": newcomer},
                        "new_chat_member": {"status": "left", "user": newcomer},
                    }
                }
            )
            expected["leaves"] += 1
    fake.clock = time.time
    expected["admin"] = admin
    expected["chat"] = chat
    expected["member"] = members[0]
    return expected


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_stats_7d_reports_the_scripted_week_exactly(steward, fake):
    week = await script_week(fake, steward)
    await steward.idle()
    await fake.send_message(week["chat"], week["admin"], "/stats 7d")
    summary = await fake.wait_for("sendMessage", lambda c: "📊" in c.plain, timeout=15)
    text = summary.plain
    # the admin's /stats command is a message of the week too
    assert f"Messages: {week['messages'] + 1} (new)" in text
    assert f"Active members: {len(week['active']) + 1} (new)" in text
    assert f"Joined: {week['joins']} (new)" in text
    assert f"Left: {week['leaves']} (new)" in text
    top_name, top_count = max(week["per_member"].items(), key=lambda kv: kv[1])
    assert f"Most active: {top_name} ({top_count})" in text
    photo = await fake.wait_for("sendPhoto")
    assert png_ok(next(iter(photo.files.values())))

    await fake.send_message(week["chat"], week["admin"], "/export_stats 7d")
    document = await fake.wait_for("sendDocument")
    rows = list(csv.reader(io.StringIO(next(iter(document.files.values())).decode())))
    assert rows[0] == ["chat_id", "day", "messages", "joins", "leaves"]
    body = rows[1:8]
    assert sum(int(r[2]) for r in body) == week["messages"] + 2  # with both commands
    assert sum(int(r[3]) for r in body) == week["joins"]
    assert sum(int(r[4]) for r in body) == week["leaves"]


async def test_member_is_refused_statistics(steward, fake):
    week = await script_week(fake, steward)
    await fake.send_message(week["chat"], week["member"], "/stats")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert refused.plain == "Only admins of this chat or Steward's managers can use this command."
    assert not fake.calls_of("sendPhoto")


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_manager_channel_report_computes_er_per_post(steward, fake):
    channel = fake.add_chat(
        CHANNEL, "channel", "Maker News", username="makernews", member_count=200
    )
    fake.chats[CHANNEL].linked_chat_id = DISCUSSION
    discussion = fake.add_chat(DISCUSSION, title="Maker News chat")
    owner = fake.user(2, "Olga")
    await fake.bot_added(channel, owner)
    await steward.idle()
    await steward.restart()  # start-up reads every channel's subscriber count
    await fake.wait_for("getChatMemberCount", since=0)

    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    # post 0: Steward publishes it. Telegram sends no channel_post for it: the bot records it
    # from its own copyMessage call, with the subscribers it asks for at that moment.
    draft = await fake.send_message(private, manager, "Post 0")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await fake.send_message(private, manager, "/schedule @makernews +1s", reply_to=draft)
    copy = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == CHANNEL, timeout=10)
    await fake.wait_for("getChatMemberCount", lambda c: c["chat_id"] == CHANNEL, since=copy.index)
    [steward_post] = [m for (c, _), m in fake.messages.items() if c == CHANNEL]
    for _ in range(100):  # the publisher stores the post right after its send call
        if await steward.app.stats.repo.posts(CHANNEL, 0, 2**40):
            break
        await asyncio.sleep(0.05)
    # post 1: a person posts in the channel, which Telegram does deliver
    human_post = fake.new_message(channel, None, "Post 1", sender_chat=channel)
    await fake.push_update({"channel_post": human_post})
    posts = [steward_post, human_post]
    await steward.idle()  # reactions arrive after the posts exist, as on Telegram
    await fake.push_update(
        {
            "message_reaction_count": {
                "chat": channel,
                "message_id": posts[0]["message_id"],
                "date": fake.now(),
                "reactions": [
                    {"type": {"type": "emoji", "emoji": "👍"}, "total_count": 7},
                    {"type": {"type": "emoji", "emoji": "🔥"}, "total_count": 3},
                ],
            }
        }
    )
    await fake.push_update(
        {
            "message_reaction_count": {
                "chat": channel,
                "message_id": posts[1]["message_id"],
                "date": fake.now(),
                "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 4}],
            }
        }
    )
    forward = fake.new_message(
        discussion,
        fake.user(777000, "Telegram"),
        "Post 0",
        sender_chat=channel,
        is_automatic_forward=True,
        forward_origin={
            "type": "channel",
            "chat": channel,
            "message_id": posts[0]["message_id"],
            "date": fake.now(),
        },
    )
    await fake.send_message(discussion, fake.user(300, "Reader"), "Great post!", reply_to=forward)
    await steward.idle()

    await fake.send_message(private, manager, "/stats 7d")
    chooser = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    button = next(
        b
        for row in chooser["reply_markup"]["inline_keyboard"]
        for b in row
        if "Maker News" in b["text"] and b["text"].startswith("📣")
    )
    chooser_message = fake.messages[
        (MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))
    ]
    await fake.press_button(chooser_message, manager, button["callback_data"])
    summary = await fake.wait_for("sendMessage", lambda c: "📊" in c.plain)
    # post 0: (10 reactions + 1 comment) / 200 = 5.5 %; post 1: 4 / 200 = 2 %
    assert "Subscribers: 200" in summary.plain
    assert "Posts: 2" in summary.plain
    assert "Reactions: 14 (new)" in summary.plain
    assert "Average ER by subscribers: 3.75%" in summary.plain
    photo = await fake.wait_for("sendPhoto")
    assert png_ok(next(iter(photo.files.values())))

    await fake.send_message(private, manager, "/export_stats 7d")
    chooser = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    button = next(
        b
        for row in chooser["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"].startswith("📣")
    )
    chooser_message = fake.messages[
        (MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))
    ]
    await fake.press_button(chooser_message, manager, button["callback_data"])
    document = await fake.wait_for("sendDocument")
    rows = list(csv.reader(io.StringIO(next(iter(document.files.values())).decode())))
    per_post = [r for r in rows if len(r) == 7 and r[0] == str(CHANNEL)]
    assert [(r[3], r[4], r[5], r[6]) for r in per_post] == [
        ("200", "10", "1", "5.50"),
        ("200", "4", "0", "2.00"),
    ]

    # /besttime needs two posts in a weekday-hour slot: Steward's post is one of them
    await fake.send_message(private, manager, "/besttime")
    chooser = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    button = next(
        b
        for row in chooser["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"].startswith("📣")
    )
    chooser_message = fake.messages[
        (MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))
    ]
    await fake.press_button(chooser_message, manager, button["callback_data"])
    best = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    tz = steward.settings.timezone
    slots = {
        datetime.fromtimestamp(p["posted_at"], tz).strftime("%A %H:00")
        for p in await steward.app.stats.repo.posts(CHANNEL, 0, 2**40)
    }
    if len(slots) == 1:  # the two posts did not straddle an hour boundary
        assert best.plain == f"Best time to post: {slots.pop()} ({tz.key})."


async def test_weekly_digest_is_scheduled_for_monday_9_local(steward, fake):
    job = steward.app.scheduler.get_job("stats:digest")
    fire = job.next_run_time.astimezone(steward.settings.timezone)
    assert (fire.weekday(), fire.hour, fire.minute) == (0, 9, 0)
    assert fire > datetime.now(UTC)
    assert fire - datetime.now(UTC) <= timedelta(days=7)
    # and it delivers: run the job now, as the scheduler would on Monday
    manager = fake.user(MANAGER_ID, "Manny", language_code="nl")
    await fake.send_message(fake.private_chat(manager), manager, "/start")
    await fake.wait_for("sendMessage")
    mark = fake.mark()
    await job.func()
    digest = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert digest.plain.startswith("🗓 Weekoverzicht")  # in the manager's language


async def test_digest_command_for_managers_only(steward, fake):
    week = await script_week(fake, steward)
    await steward.idle()
    manager = fake.user(MANAGER_ID, "Manny")
    await fake.send_message(fake.private_chat(manager), manager, "/digest")
    digest = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, timeout=15)
    assert digest.plain.startswith("🗓 Weekly digest")
    stranger = fake.user(4242, "Stranger")
    await fake.send_message(fake.private_chat(stranger), stranger, "/digest")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 4242)
    assert refused.plain == "Only Steward's managers can use this command."
    assert week  # the group exists, so the digest had something to report


async def test_digest_of_many_chats_comes_whole_in_several_messages(steward, fake):
    """Thirty chats' summaries are longer than one message: the digest was cut at 4,096
    characters, losing the later chats (and could cut an `&amp;` in half)."""
    admin = fake.user(1, "Ada")
    for n in range(30):
        chat = fake.add_chat(GROUP - 100 - n, title=f"Chat {n:02d} R&D " + "x" * 100)
        await fake.bot_added(chat, admin)
    await steward.idle()
    manager = fake.user(MANAGER_ID, "Manny")
    mark = fake.mark()
    await fake.send_message(fake.private_chat(manager), manager, "/digest")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark, count=2)
    await steward.idle()
    sent = [c.plain for c in fake.calls_of("sendMessage", mark) if c["chat_id"] == MANAGER_ID]
    assert sent[0].startswith("🗓 Weekly digest")
    assert all(len(text) <= 4096 for text in sent)
    whole = "\n".join(sent)
    assert all(f"📊 Chat {n:02d} R&D {'x' * 100}, last 7 days" in whole for n in range(30))


async def test_a_chat_with_nothing_recorded_says_so_instead_of_an_empty_chart(steward, fake):
    """A brand-new chat got its summary of zeros and a blank chart (and a blank heat map)."""
    admin = fake.user(1, "Ada")
    group = fake.add_chat(GROUP, title="Fresh")
    channel = fake.add_chat(CHANNEL, "channel", "Fresh News", member_count=0)
    for chat in (group, channel):
        await fake.bot_added(chat, admin)
    await steward.idle()
    manager = fake.user(MANAGER_ID, "Manny", language_code="nl")
    private = fake.start_bot(manager)
    for command, chat_id in [
        ("/stats 30d", GROUP),
        ("/stats 30d", CHANNEL),
        ("/besttime", GROUP),
        ("/besttime", CHANNEL),
    ]:
        mark = fake.mark()
        await fake.send_message(private, manager, command)
        chooser = await fake.wait_for("sendMessage", since=mark)
        button = next(
            row[0]["callback_data"]
            for row in chooser["reply_markup"]["inline_keyboard"]
            if f":{chat_id}:" in row[0]["callback_data"]
        )
        message = fake.messages[(MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))]
        await fake.press_button(message, manager, button)
        answer = await fake.wait_for("sendMessage", since=mark, count=2)
        assert answer.plain.endswith(
            "Nog niets vastgelegd in deze periode, dus geen "
            + ("grafiek." if command.startswith("/stats") else "heatmap.")
        ), answer.plain
        await steward.idle()
        assert not fake.calls_of("sendPhoto", mark)


async def test_besttime_sends_a_heat_map(steward, fake):
    week = await script_week(fake, steward)
    await steward.idle()
    await fake.send_message(week["chat"], week["admin"], "/besttime 30d")
    text = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    # a single week gives one observation per weekday-hour: not enough for a suggestion
    assert text.plain.startswith("Not enough activity yet to suggest a time")
    photo = await fake.wait_for("sendPhoto")
    assert png_ok(next(iter(photo.files.values())))


async def test_manager_exports_one_csv_per_chat(steward, fake):
    week = await script_week(fake, steward)
    channel = fake.add_chat(CHANNEL, "channel", "Maker News", member_count=50)
    for chat in (week["chat"], channel):
        await fake.bot_added(chat, week["admin"])
    await steward.idle()
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, "/export_stats 30d")
    chooser = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    every = chooser["reply_markup"]["inline_keyboard"][-1][0]
    assert every["text"] == "All chats"
    message = fake.messages[(MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))]
    await fake.press_button(message, manager, every["callback_data"])
    await fake.wait_for("sendDocument", count=2)
    names = sorted(next(iter(c.files)) for c in fake.calls_of("sendDocument"))
    assert len(names) == 2


async def test_moderation_in_the_summary_is_named_in_the_readers_language(steward, fake):
    """A Russian admin's /stats read "Модерация: warn 1" and "Сообщения: 2 (new)": the audit
    log's identifiers and the word for "nothing before" were English inside a Russian report."""
    chat = fake.add_chat(GROUP, title="Makers")
    admin = fake.user(1, "Ада", language_code="ru")
    member = fake.user(100, "Боб", language_code="ru")
    fake.add_member(GROUP, admin, "administrator")
    fake.add_member(GROUP, member)
    target = await fake.send_message(chat, member, "meh")
    await fake.send_message(chat, admin, "/warn", reply_to=target)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    mark = fake.mark()
    await fake.send_message(chat, admin, "/stats")
    summary = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    lines = summary.plain.splitlines()
    assert "Модерация: ⚠️ Предупреждение 1" in lines, summary.plain
    # not "(new)": nothing in the week before (the count depends on whether this /stats was
    # flushed yet, which is not the point here)
    assert next(line for line in lines if line.startswith("Сообщения: ")).endswith("(раньше 0)")


async def test_a_muted_member_who_leaves_is_counted_as_left(steward, fake):
    """A restricted member who leaves stays restricted, no longer a member (Telegram sends
    restricted → restricted with is_member false). /stats counted joins and leaves by status
    alone, so this leave was missed, while /campaigns (reading is_member) counted it."""
    chat = fake.add_chat(GROUP, title="Makers")
    admin = fake.user(1, "Ada")
    member = fake.user(100, "Bob")
    fake.add_member(GROUP, admin, "administrator")
    fake.add_member(GROUP, member)
    target = await fake.send_message(chat, member, "meh")
    await fake.send_message(chat, admin, "/mute 1h", reply_to=target)
    await fake.wait_for("restrictChatMember")
    await fake.leave_chat(GROUP, member)
    await steward.idle()
    mark = fake.mark()
    await fake.send_message(chat, admin, "/stats")
    summary = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    assert "Left: 1 (new)" in summary.plain.splitlines(), summary.plain


async def test_the_linked_channels_posts_are_not_a_member_of_the_discussion_group(steward, fake):
    """Every post of a linked channel arrives in its discussion group as an automatic forward
    from Telegram's service account 777000 (not a bot): /stats counted them as members'
    messages and named "Telegram" the most active member."""
    chat = fake.add_chat(GROUP, title="Makers talk")
    channel = {"id": CHANNEL, "type": "channel", "title": "Maker News"}
    fake.chats[GROUP].linked_chat_id = CHANNEL
    admin = fake.user(1, "Ada")
    fake.add_member(GROUP, admin, "administrator")
    for n in range(3):
        await fake.send_message(
            chat,
            fake.user(777000, "Telegram"),
            f"Post {n}",
            sender_chat=channel,
            is_automatic_forward=True,
        )
    await fake.send_message(chat, fake.user(300, "Reader"), "Nice one")
    await steward.idle()
    mark = fake.mark()
    await fake.send_message(chat, admin, "/stats")
    summary = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    lines = summary.plain.splitlines()
    assert "Most active: Reader (1), Ada (1)" in lines or "Most active: Ada (1), Reader (1)" in (
        lines
    ), summary.plain
    assert "Active members: 2 (new)" in lines
    # Reader's (and Ada's /stats, once flushed), never the channel's three posts
    assert {"Messages: 1 (new)", "Messages: 2 (new)"} & set(lines), summary.plain


async def test_bots_added_or_removed_are_not_joins_or_leaves(steward, fake):
    """An admin adding a helper bot (or removing it) made /stats say "Joined: 1": bots are
    not members joining the community, and /campaigns already left them out."""
    chat = fake.add_chat(GROUP, title="Makers")
    admin = fake.user(1, "Ada")
    fake.add_member(GROUP, admin, "administrator")
    helper = fake.user(500, "HelperBot", is_bot=True, username="helper_bot")
    await fake.join_chat(GROUP, helper)
    await fake.join_chat(GROUP, fake.user(101, "Bea"))
    await fake.leave_chat(GROUP, helper)
    await steward.idle()
    mark = fake.mark()
    await fake.send_message(chat, admin, "/stats")
    summary = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
    lines = summary.plain.splitlines()
    assert "Joined: 1 (new)" in lines, summary.plain
    assert "Left: 0 (±0%)" in lines, summary.plain


async def test_a_long_section_under_stats_is_cut_to_fit_not_dropped_or_refused(steward, fake):
    """The sections under /stats (posts with a campaign link, the mood) were measured in code
    points against 4,000: emoji-named campaigns (two UTF-16 units each, as Telegram counts)
    could push the message past 4,096 and Telegram refused the whole report; a long section
    was left out whole, so 90 days of campaign posts said nothing. It is now cut where the
    message is full, saying how many lines are left out."""
    fake.add_chat(GROUP, title="Makers")
    manager = fake.user(MANAGER_ID, "Manny")
    await fake.send_message(fake.private_chat(manager), manager, "/start")
    await steward.idle()

    async def many_posts(chat_id: int, days: int, locale: str) -> list[str]:
        head = "Posts with a campaign link (joins through the link since the post):"
        return [head] + [
            f"post #{n} (01.12 10:00), campaign #{n} 🚀🎉🚀🎉🚀🎉🚀🎉🚀🎉🚀🎉: joins {n}"
            for n in range(1, 121)
        ]

    steward.app.stats.summary_sections.insert(0, many_posts)
    mark = fake.mark()
    await steward.app.stats.send_report(MANAGER_ID, GROUP, 90, "en")
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    lines = report.plain.splitlines()
    assert "post #1 (01.12 10:00), campaign #1 🚀🎉🚀🎉🚀🎉🚀🎉🚀🎉🚀🎉: joins 1" in lines
    shown = sum(1 for line in lines if line.startswith("post #"))
    assert 20 < shown < 120
    assert lines[-1] == f"…and {120 - shown} more." or f"…and {120 - shown} more." in lines
