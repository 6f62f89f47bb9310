"""End-to-end: what members and moderators meet after a basic group became a supergroup, beyond
tests/test_e2e_forums.py: buttons shown before the upgrade still act on the group."""

from __future__ import annotations

from tests.harness import MANAGER_ID
from tests.test_e2e_forums import BASIC, Club, club  # noqa: F401  (fixture)


def buttons_of(call) -> dict[str, str]:
    rows = call["reply_markup"]["inline_keyboard"]
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def test_report_buttons_pressed_after_the_upgrade_act_on_the_new_group(
    steward,
    fake,
    club,  # noqa: F811
):
    """A report reached the admin in private while the group was basic; the group was upgraded
    before the admin pressed Warn, then Ban: the warn counts in the group (it was stored under
    the old id, so /warns in the group showed none) and the member is banned there."""
    fake.start_bot(club.admin)
    await fake.send_message(fake.private_chat(club.admin), club.admin, "/start")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == club.admin["id"])
    bad = await club.say(club.bob, "you are all idiots")
    await club.say(club.ann, "/report", reply_to=bad)
    report = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == club.admin["id"] and "idiots" in c.plain
    )
    buttons = buttons_of(report)
    note = fake.messages[
        (club.admin["id"], max(m for c, m in fake.messages if c == club.admin["id"]))
    ]
    await steward.idle()
    new = await fake.migrate_group(BASIC, club.admin)
    await steward.idle()

    await fake.press_button(note, club.admin, buttons["⚠️ Warn"])
    await fake.wait_for("answerCallbackQuery", lambda c: "Warned" in c.get("text", ""))
    await steward.idle()
    await club.say(club.bob, "/warns", chat=new)
    warns = await fake.wait_for(
        "sendMessage", lambda c: "warn" in c.plain and c["chat_id"] == new["id"]
    )
    assert warns.plain.startswith("Bob has 1 of"), warns.plain

    # Ban: the reported message stayed behind in the old chat (Telegram refuses calls there);
    # the member is banned in the group all the same, nothing else of the new chat is deleted
    mark = fake.mark()
    await fake.press_button(note, club.admin, buttons["🔨 Ban"])
    answered = await fake.wait_for("answerCallbackQuery", since=mark)
    assert answered.get("text") == "🔨 Banned", answered.params
    banned = await fake.wait_for("banChatMember", since=mark)
    assert banned["chat_id"] == new["id"] and banned["user_id"] == club.bob["id"]
    deleted = [c for c in fake.calls_of("deleteMessage", since=mark) if c["chat_id"] == new["id"]]
    assert deleted == []
    await steward.idle()
    db = steward.app.db
    for table in ("warns", "mod_actions"):
        left = await db.fetchone(f"SELECT COUNT(*) FROM {table} WHERE chat_id=?", (BASIC,))
        assert left[0] == 0, table


async def test_faq_support_route_approvals_and_stats_follow_an_upgrade_made_while_down(
    steward,
    fake,
    club,  # noqa: F811
):
    """The group was upgraded while the bot was stopped (the two service messages wait in the
    queue): after the start its FAQ entry answers there, its support route still relays, an
    approved member stays approved and /stats counts what was said before the upgrade."""
    staff = fake.add_chat(-1001555000088, title="Staff")
    sam = fake.user(40, "Sam")
    fake.add_member(staff["id"], sam, "administrator")
    fake.add_member(staff["id"], club.admin)
    await club.say(club.admin, f"/setsupport {staff['id']}")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == BASIC)
    await club.say(
        club.admin, "/faq_add What are your opening hours? | We are open from 9:00 to 18:00."
    )
    await fake.wait_for("sendMessage", lambda c: "FAQ entry #1 added" in c.plain)
    await club.say(club.admin, "/faq_add Where can I park?; Is there parking? | Behind the hall.")
    await fake.wait_for("sendMessage", lambda c: "FAQ entry #2 added" in c.plain)
    for n in range(4):
        await club.say(club.ann, f"good morning number {n}")
    await steward.idle()
    await steward.stop()
    new = await fake.migrate_group(BASIC, club.admin)
    await steward.start()
    await steward.idle()

    mark = fake.mark()
    await club.say(club.bob, "what are the opening hours?", chat=new)
    answer = await fake.wait_for("sendMessage", lambda c: "We are open" in c.plain, since=mark)
    assert answer["chat_id"] == new["id"]
    await club.say(club.bob, "Has anyone found a blue scarf and a hat?", chat=new)
    relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == staff["id"], since=mark)
    assert "blue scarf" in relay.plain
    await club.say(club.admin, "/stats 7d", chat=new)
    summary = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == new["id"] and "essages" in c.plain, since=mark
    )
    assert "Nothing recorded" not in summary.plain, summary.plain
    sent_to_old = [c for c in fake.calls[mark:] if c.get("chat_id") == BASIC]
    assert sent_to_old == []


async def pick_after_the_upgrade(steward, fake, group: Club, command: str, label: str) -> int:
    """A manager asks `command` in private, gets the "Which chat?" buttons, the group is
    upgraded, then the manager presses the group's button `label`: the mark before the press."""
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, command)
    chooser = await fake.wait_for("sendMessage", lambda c: "Which chat" in c.plain)
    button = buttons_of(chooser)[label]
    await steward.idle()
    chooser_message = fake.messages[
        (MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))
    ]
    await fake.migrate_group(BASIC, group.admin)
    await steward.idle()
    mark = fake.mark()
    await fake.press_button(chooser_message, manager, button)
    return mark


async def test_a_stats_chat_button_shown_before_the_upgrade_reports_the_new_chat(
    steward,
    fake,
    club,  # noqa: F811
):
    """A manager asked /stats in private and got a button per chat; the group was upgraded
    before the button was pressed: the report is the group's (before: the old id's, i.e.
    'Nothing recorded in this period yet')."""
    await fake.bot_added(club.chat, club.admin)
    for n in range(3):
        await club.say(club.ann, f"good morning number {n}")
    await steward.idle()
    mark = await pick_after_the_upgrade(steward, fake, club, "/stats 7d", "👥 Old club")
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert "Nothing recorded" not in report.plain, report.plain
    await fake.wait_for("sendPhoto", since=mark)


async def test_a_campaigns_chat_button_shown_before_the_upgrade_reports_the_new_chat(
    steward,
    fake,
    club,  # noqa: F811
):
    """The same for /campaigns 7d in private: the button of a group upgraded meanwhile
    reported the old id, where no campaign is left."""
    other = fake.add_chat(-1001555000066, title="Other club")
    fake.add_member(other["id"], club.admin, "administrator")
    await club.say(club.admin, "/campaign_new Spring")
    await fake.wait_for("sendMessage", lambda c: "Campaign #1" in c.plain)
    await fake.send_message(other, club.admin, "/campaign_new Autumn")
    await fake.wait_for("sendMessage", lambda c: "Campaign #2" in c.plain)
    await steward.idle()
    mark = await pick_after_the_upgrade(steward, fake, club, "/campaigns 7d", "Old club")
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert "#1 Spring" in report.plain, report.plain


async def test_a_quiz_and_a_giveaway_running_while_down_during_the_upgrade_go_on_there(
    steward,
    fake,
    club,  # noqa: F811
):
    """The bot was stopped mid-quiz, with a giveaway open, while the group was upgraded: after
    the start the next question, the results and the draw all go to the new chat, and the
    first question's answer still counts."""
    from tests.test_e2e_forums import TWO_QUESTION_QUIZ

    await club.say(club.admin, "/giveaway 1h 1 Poster")
    await fake.wait_for("sendMessage", lambda c: "Giveaway #1" in c.plain)
    await steward.idle()
    announcement = fake.messages[(BASIC, max(m for c, m in fake.messages if c == BASIC))]
    await fake.press_button(announcement, club.ann, "gw:1")
    await fake.wait_for("answerCallbackQuery")
    await club.say(club.admin, TWO_QUESTION_QUIZ)
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await club.say(club.admin, "/quiz_start 1 6")
    first = await fake.wait_for("sendPoll")
    poll = fake.messages[(BASIC, max(m for c, m in fake.messages if c == BASIC))]["poll"]
    await fake.answer_poll(poll["id"], club.bob, 1)
    await steward.idle()
    await steward.stop()
    new = await fake.migrate_group(BASIC, club.admin)
    mark = fake.mark()
    await steward.start()

    def in_new(call) -> bool:
        return call["chat_id"] == new["id"]

    second = await fake.wait_for("sendPoll", in_new, since=mark, timeout=15)
    assert second["question"].startswith("Question 2/2")
    results = await fake.wait_for(
        "sendMessage", lambda c: "Results" in c.plain and in_new(c), since=mark, timeout=15
    )
    assert "Bob" in results.plain, results.plain
    await club.say(club.admin, "/giveaway_end 1", chat=new)
    drawn = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, since=mark)
    assert drawn["chat_id"] == new["id"] and "Ann" in drawn.plain
    sends_to_old = [
        c for c in fake.calls[mark:] if c.get("chat_id") == BASIC and c.method.startswith("send")
    ]
    assert len(sends_to_old) <= 1  # at most a timer that fired before the news was read
    assert first["chat_id"] == BASIC


async def test_a_mood_alert_given_before_the_upgrade_is_not_given_again_that_day(fake, tmp_path):
    """Mood alerts go out once per chat and day: a group upgraded after its alert (its mood
    counts move to the new id) alerted the managers a second time at its next complaint."""
    from datetime import date, timedelta

    from tests.harness import RunningBot, make_env, settings_for
    from tests.test_e2e_reputation import COMPLAINTS, SUPPORT

    fake.add_chat(SUPPORT, title="Staff")
    chat = fake.add_chat(-4055600, "group", title="Shop chat")
    admin = fake.user(20, "Ada")
    fake.add_member(chat["id"], admin, "administrator")
    members = [fake.user(210 + i, f"Member {i}") for i in range(12)]
    for user in members:
        fake.add_member(chat["id"], user)
    env = make_env(fake, tmp_path, SUPPORT_CHAT_ID=str(SUPPORT))
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    steward = await running.start()
    try:
        if steward.reputation_training is not None:
            await steward.reputation_training
        manager = fake.user(MANAGER_ID, "Manny")
        await fake.send_message(fake.private_chat(manager), manager, "/start")
        await running.idle()
        today = date.fromisoformat(steward.reputation.today())
        await steward.reputation.repo.add_mood(
            {(chat["id"], (today - timedelta(days=d)).isoformat()): (100, 1) for d in range(1, 29)}
        )
        mark = fake.mark()
        for user, text in zip(members[:10], COMPLAINTS[:10], strict=True):
            await fake.send_message(chat, user, text)
        alert = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
        assert alert.plain.startswith("📉 Mood alert in Shop chat")
        await running.idle()
        new = await fake.migrate_group(chat["id"], admin)
        await running.idle()
        mark = fake.mark()
        await fake.send_message(new, members[10], COMPLAINTS[10])
        await running.idle()
        await steward.reputation.flush()
        await running.idle()
        again = [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == MANAGER_ID]
        assert again == [], again[0].plain
    finally:
        await running.stop()
