"""End-to-end: forum supergroups (everything stays in its topic) and basic groups upgraded to
supergroups (everything follows the new id)."""

from __future__ import annotations

import re

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, RunningBot, make_env, settings_for
from tests.test_e2e_reputation import COMPLAINT

FORUM = -1001555000001
BASIC = -4055501

ONE_QUESTION_QUIZ = """/quiz_add Tiny quiz
Q: Which planet is the largest?
- Mars
+ Jupiter
"""
TWO_QUESTION_QUIZ = ONE_QUESTION_QUIZ.replace("Tiny", "Two") + "Q: Red planet?\n+ Mars\n- Venus\n"


def never_general_by_number(fake: FakeTelegram) -> None:
    """General is addressed by leaving the id out; naming it (1) fails on Telegram."""
    wrong = [(c.method, c.params) for c in fake.calls if c.get("message_thread_id") == 1]
    assert not wrong, wrong


class Forum:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chat = fake.add_chat(FORUM, title="Space forum", is_forum=True)
        self.admin = fake.user(10, "Ada")
        self.ann = fake.user(11, "Ann")
        self.ben = fake.user(12, "Ben")
        fake.add_member(FORUM, self.admin, "administrator")
        for user in (self.ann, self.ben):
            fake.add_member(FORUM, user)

    async def topic(self, name: str) -> int:
        return await self.fake.create_topic(self.chat, name, self.ben)

    async def say(self, user, text, **kw):
        return await self.fake.send_message(self.chat, user, text, **kw)


@pytest.fixture
def forum(fake: FakeTelegram) -> Forum:
    return Forum(fake)


def in_forum(call) -> bool:
    return call["chat_id"] == FORUM


async def test_quiz_started_in_a_topic_posts_every_question_and_the_result_there(
    steward, fake, forum
):
    quizzes = await forum.topic("Quiz night")
    await forum.say(forum.admin, TWO_QUESTION_QUIZ)  # saved from General
    saved = await fake.wait_for("sendMessage", in_forum)
    assert "message_thread_id" not in saved.params
    await forum.say(forum.admin, "/quiz_start 1 5", topic=quizzes)
    started = await fake.wait_for("sendMessage", lambda c: "starts" in c.plain)
    assert started["message_thread_id"] == quizzes
    first = await fake.wait_for("sendPoll")
    assert first["message_thread_id"] == quizzes
    second = await fake.wait_for("sendPoll", since=0, count=2, timeout=15)
    assert second["message_thread_id"] == quizzes
    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, timeout=15)
    assert results["message_thread_id"] == quizzes
    posted = [m for (c, _id), m in fake.messages.items() if c == FORUM and "poll" in m]
    assert len(posted) == 2 and all(m["message_thread_id"] == quizzes for m in posted)
    never_general_by_number(fake)


async def test_quiz_whose_topic_closes_mid_run_goes_on_in_general(steward, fake, forum):
    """Closed after the first question: the rest and the results go to General instead of the
    quiz stopping (the bot may not post in a closed topic without the right to manage topics)."""
    quizzes = await forum.topic("Quiz night")
    await forum.say(forum.admin, TWO_QUESTION_QUIZ)
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await forum.say(forum.admin, "/quiz_start 1 5", topic=quizzes)
    first = await fake.wait_for("sendPoll")
    assert first["message_thread_id"] == quizzes
    await fake.close_topic(forum.chat, quizzes, forum.admin)
    polls = [
        m for (c, _id), m in fake.messages.items() if c == FORUM and "poll" in m
    ]  # the first question, in its topic
    assert len(polls) == 1
    await fake.wait_for(
        "sendMessage",
        lambda c: "Results" in c.plain and "message_thread_id" not in c.params,
        timeout=20,
    )
    polls = [m for (c, _id), m in fake.messages.items() if c == FORUM and "poll" in m]
    assert len(polls) == 2 and "message_thread_id" not in polls[1]
    never_general_by_number(fake)


async def test_quiz_stopped_from_another_topic_answers_there_too(steward, fake, forum):
    """The results go to the quiz's topic; the admin who stopped it from another topic is told
    there (before, nothing came back to the topic they asked in)."""
    quizzes = await forum.topic("Quiz night")
    admins = await forum.topic("Admins")
    await forum.say(forum.admin, TWO_QUESTION_QUIZ)
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await forum.say(forum.admin, "/quiz_start 1 30", topic=quizzes)
    await fake.wait_for("sendPoll")
    await forum.say(forum.admin, "/quiz_stop", topic=admins)
    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain)
    assert results["message_thread_id"] == quizzes
    told = await fake.wait_for("sendMessage", lambda c: "is stopped" in c.plain)
    assert told["message_thread_id"] == admins
    assert told.plain == "The quiz in Space forum is stopped; its results are posted there."
    never_general_by_number(fake)


async def test_campaign_report_asked_for_in_a_topic_lands_there(steward, fake, forum):
    """/campaigns 7d is answered with a text and a chart sent as new messages, not replies:
    without the topic they landed in General while the admin waited in their topic."""
    growth = await forum.topic("Growth")
    await forum.say(forum.admin, "/campaign_new Spring", topic=growth)
    created = await fake.wait_for("sendMessage", lambda c: "Campaign #1" in c.plain)
    assert created["message_thread_id"] == growth
    link = re.search(r"https://t\.me/\+[\w-]+", created.plain)[0]
    await fake.join_chat(FORUM, fake.user(30, "Newcomer"), link)  # a join: a chart to send
    await steward.idle()
    await forum.say(forum.admin, "/campaigns 7d", topic=growth)
    report = await fake.wait_for("sendMessage", lambda c: "Campaigns in" in c.plain)
    chart = await fake.wait_for("sendPhoto", in_forum)
    assert report["message_thread_id"] == growth
    assert chart["message_thread_id"] == growth
    never_general_by_number(fake)


async def test_flood_notice_lands_in_the_flooded_topic(steward, fake, forum):
    chatter = await forum.topic("Chatter")
    # the flood rule alone: a new member's burst may also read as spam, and a banned member is
    # not muted (a mute would lift the ban)
    await steward.app.moderation.update_settings(FORUM, spam_mode="off")
    for n in range(6):
        await forum.say(forum.ann, f"message number {n}", topic=chatter)
    muted = await fake.wait_for("restrictChatMember", since=0)
    assert muted["user_id"] == forum.ann["id"]
    notice = await fake.wait_for("sendMessage", lambda c: "flooding" in c.plain, since=0)
    assert notice["message_thread_id"] == chatter
    never_general_by_number(fake)


async def test_language_notice_lands_in_the_topic(steward, fake, forum):
    travel = await forum.topic("Travel")
    await steward.app.mod_repo.update_settings(FORUM, languages="en", language_mode="enforce")
    await forum.say(
        forum.ann, "Привет всем, кто знает где лучше остановиться в городе?", topic=travel
    )
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["chat_id"] == FORUM
    notice = await fake.wait_for("sendMessage", lambda c: "please write" in c.plain)
    assert notice["message_thread_id"] == travel
    never_general_by_number(fake)


async def test_giveaway_announced_in_a_topic_draws_there(steward, fake, forum):
    prizes = await forum.topic("Prizes")
    await forum.say(forum.admin, "/giveaway 2s 1 Mug", topic=prizes)
    announcement = await fake.wait_for("sendMessage", lambda c: "Giveaway #1" in c.plain)
    assert announcement["message_thread_id"] == prizes
    message = fake.messages[(FORUM, max(m for c, m in fake.messages if c == FORUM))]
    await fake.press_button(message, forum.ann, "gw:1")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, timeout=10)
    assert result["message_thread_id"] == prizes
    assert "Ann" in result.plain
    never_general_by_number(fake)


async def test_end_and_reroll_from_another_topic_answer_there_and_in_the_giveaways_topic(
    steward, fake, forum
):
    """The result and new winners go to the giveaway's topic; an admin who asked from another
    topic hears of them there too (before, nothing came back to the topic they asked in)."""
    prizes = await forum.topic("Prizes")
    admins = await forum.topic("Admins")
    await forum.say(forum.admin, "/giveaway 1h 1 Mug", topic=prizes)
    await fake.wait_for("sendMessage", lambda c: "Giveaway #1" in c.plain)
    message = fake.messages[(FORUM, max(m for c, m in fake.messages if c == FORUM))]
    for user in (forum.ann, forum.ben):
        await fake.press_button(message, user, "gw:1")
        await fake.wait_for("answerCallbackQuery", lambda c: "You are in" in c["text"])
    await forum.say(forum.admin, "/giveaway_end 1", topic=admins)
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    assert result["message_thread_id"] == prizes
    assert "Entrants (2)" in result.plain
    # the admin hears where it went, in the topic they asked in (before: nothing)
    told = await fake.wait_for("sendMessage", lambda c: "is drawn" in c.plain)
    assert told["message_thread_id"] == admins
    assert told.plain == "Giveaway #1 is drawn; its result is posted where it was announced."
    mark = fake.mark()
    await forum.say(forum.admin, "/reroll 1", topic=admins)
    await steward.idle()
    told = [c for c in fake.calls_of("sendMessage", since=mark) if "New winners" in c.plain]
    assert sorted(c.get("message_thread_id") for c in told) == sorted([prizes, admins])
    never_general_by_number(fake)


async def test_result_of_a_giveaway_whose_topic_was_deleted_goes_to_general(steward, fake, forum):
    prizes = await forum.topic("Prizes")
    await forum.say(forum.admin, "/giveaway 2s 1 Mug", topic=prizes)
    await fake.wait_for("sendMessage", lambda c: "Giveaway #1" in c.plain)
    fake.delete_topic(forum.chat, prizes)
    result = await fake.wait_for(
        "sendMessage", lambda c: "is over" in c.plain and "message_thread_id" not in c.params
    )
    assert result["chat_id"] == FORUM
    refused = [c for c in fake.calls_of("sendMessage") if c.get("message_thread_id") == prizes]
    assert len(refused) == 2  # the announcement, then the result once before falling back
    never_general_by_number(fake)


async def test_result_of_a_giveaway_whose_topic_was_closed_goes_to_general(steward, fake, forum):
    """A closed topic takes no messages from a bot that may not manage topics ("TOPIC_CLOSED"):
    the result goes to General, as for a deleted topic, instead of to nobody."""
    prizes = await forum.topic("Prizes")
    await forum.say(forum.admin, "/giveaway 2s 1 Mug", topic=prizes)
    await fake.wait_for("sendMessage", lambda c: "Giveaway #1" in c.plain)
    await fake.close_topic(forum.chat, prizes, forum.admin)
    result = await fake.wait_for(
        "sendMessage", lambda c: "is over" in c.plain and "message_thread_id" not in c.params
    )
    assert result["chat_id"] == FORUM
    never_general_by_number(fake)


async def test_a_command_given_in_a_closed_topic_is_answered_in_general(steward, fake, forum):
    """An admin may still post in a topic they closed; the bot may not (it cannot manage
    topics here), so its reply goes to General instead of being lost."""
    archive = await forum.topic("Archive")
    await fake.close_topic(forum.chat, archive, forum.admin)
    await forum.say(
        forum.admin, "/faq_add Where is the archive? | In the pinned message.", topic=archive
    )
    added = await fake.wait_for(
        "sendMessage",
        lambda c: "FAQ entry #1 added" in c.plain and "message_thread_id" not in c.params,
    )
    assert added["chat_id"] == FORUM and "reply_parameters" not in added.params
    tried = [c for c in fake.calls_of("sendMessage") if "FAQ entry #1 added" in c.plain]
    assert len(tried) == 2  # the reply in the closed topic, refused, then General
    assert await steward.app.faq.entry(1) is not None
    never_general_by_number(fake)


async def test_topic_questions_reach_the_faq_and_commands_do_not_target_the_topic_starter(
    steward, fake, forum
):
    helpdesk = await forum.topic("Help desk")  # opened by Ben
    await forum.say(
        forum.admin,
        "/faq_add What are your opening hours? | We are open every day from 9:00 to 18:00.",
        topic=helpdesk,
    )
    added = await fake.wait_for("sendMessage", lambda c: "FAQ entry #1 added" in c.plain)
    assert added["message_thread_id"] == helpdesk
    entry = await steward.app.faq.entry(1)
    assert entry.answers["en"].text.startswith("We are open")  # not the topic's service message
    await steward.idle()
    await forum.say(forum.ann, "what are the opening hours?", topic=helpdesk)
    answer = await fake.wait_for("sendMessage", lambda c: "We are open" in c.plain)
    assert answer["message_thread_id"] == helpdesk
    # "/warn" without a reply names nobody, although Telegram shows the topic's first message
    # as replied to
    await forum.say(forum.admin, "/warn", topic=helpdesk)
    usage = await fake.wait_for("sendMessage", lambda c: "Reply to a message" in c.plain)
    assert usage["message_thread_id"] == helpdesk
    assert await steward.app.mod_repo.active_warns(FORUM, forum.ben["id"], 0) == []
    never_general_by_number(fake)


# --- basic groups upgraded to supergroups --------------------------------------------------------


class Club:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chat = fake.add_chat(BASIC, "group", title="Old club")
        self.admin = fake.user(20, "Ada")
        self.ann = fake.user(21, "Ann")
        self.bob = fake.user(22, "Bob")
        fake.add_member(BASIC, self.admin, "administrator")
        for user in (self.ann, self.bob):
            fake.add_member(BASIC, user)

    async def say(self, user, text, chat=None, **kw):
        return await self.fake.send_message(chat or self.chat, user, text, **kw)


@pytest.fixture
def club(fake: FakeTelegram) -> Club:
    return Club(fake)


async def configure(fake, steward, club: Club) -> None:
    """Rules, a filter, a warn limit and one warn, made while the group is basic."""
    for command in ("/setrules Be kind", "/filter casino", "/setwarnlimit 5 mute 1h"):
        await club.say(club.admin, command)
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == BASIC)
    target = await club.say(club.bob, "hello there")
    await club.say(club.admin, "/warn rude", reply_to=target)
    warned = await fake.wait_for("sendMessage", lambda c: "warned" in c.plain)
    assert "(1/5)" in warned.plain
    await steward.idle()


async def keeps_settings_and_warns(fake, steward, club: Club, new: dict) -> None:
    await club.say(club.bob, "/warns", chat=new)
    warns = await fake.wait_for("sendMessage", lambda c: "warns" in c.plain)
    assert warns["chat_id"] == new["id"]
    assert warns.plain.startswith("Bob has 1 of 5 warns")
    await club.say(club.ann, "/rules", chat=new)
    rules = await fake.wait_for("sendMessage", lambda c: "Rules" in c.plain)
    assert rules["chat_id"] == new["id"] and "Be kind" in rules.plain
    await club.say(club.ann, "join my casino tonight", chat=new)
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["chat_id"] == new["id"]


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_upgraded_group_keeps_its_settings_and_its_running_quiz_and_giveaway(
    steward, fake, club
):
    await configure(fake, steward, club)
    await club.say(club.admin, "/giveaway 1h 1 Poster")
    await fake.wait_for("sendMessage", lambda c: "Giveaway #1" in c.plain)
    old_announcement = fake.messages[(BASIC, max(m for c, m in fake.messages if c == BASIC))]
    await fake.press_button(old_announcement, club.ann, "gw:1")
    await fake.wait_for("answerCallbackQuery")
    await club.say(club.admin, TWO_QUESTION_QUIZ)
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await club.say(club.admin, "/quiz_start 1 5")
    first = await fake.wait_for("sendPoll")
    assert first["chat_id"] == BASIC

    mark = fake.mark()
    new = await fake.migrate_group(BASIC, club.admin)
    # the giveaway's button stayed behind in the old chat: announced again, entries kept
    again = await fake.wait_for("sendMessage", lambda c: "Giveaway #1" in c.plain, since=mark)
    assert again["chat_id"] == new["id"]
    assert again["reply_markup"]["inline_keyboard"][0][0]["text"] == "🎉 Participate (1)"

    # the quiz goes on in the new chat
    def in_new(call) -> bool:
        return call["chat_id"] == new["id"]

    second = await fake.wait_for("sendPoll", in_new, since=mark, timeout=15)
    assert second["question"].startswith("Question 2/2")
    results = await fake.wait_for(
        "sendMessage", lambda c: "Results" in c.plain and in_new(c), timeout=15
    )
    assert results.plain.startswith("🏁 Results of “Two quiz”")

    await keeps_settings_and_warns(fake, steward, club, new)
    await club.say(club.admin, "/giveaway_end 1", chat=new)
    drawn = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    assert drawn["chat_id"] == new["id"] and "Ann" in drawn.plain

    # both service messages arrived; the rows moved once
    await steward.idle()
    db = steward.app.db
    assert (await db.fetchone("SELECT COUNT(*) FROM chat_migrations"))[0] == 1
    for table in ("warns", "filters", "chat_settings", "giveaways", "quiz_runs"):
        left = await db.fetchone(f"SELECT COUNT(*) FROM {table} WHERE chat_id=?", (BASIC,))
        assert left[0] == 0, table
    sent_to_old = [c for c in fake.calls[mark:] if c.get("chat_id") == BASIC]
    assert len(sent_to_old) <= 1  # at most a quiz timer that fired before the news arrived


async def test_upgrade_missed_while_down_is_learned_from_the_refused_send(steward, fake, club):
    """Telegram drops updates older than a day: the bot learns of the upgrade from the 400 of
    its next call there (the draw's check that Ann is still in the chat), records it, and
    sends to the new id from then on."""
    await configure(fake, steward, club)
    await club.say(club.admin, "/giveaway 2s 1 Mug")
    await fake.wait_for("sendMessage", lambda c: "Giveaway #1" in c.plain)
    announcement = fake.messages[(BASIC, max(m for c, m in fake.messages if c == BASIC))]
    await fake.press_button(announcement, club.ann, "gw:1")
    await fake.wait_for("answerCallbackQuery")
    mark = fake.mark()
    new = await fake.migrate_group(BASIC, club.admin, deliver=False)
    drawn = await fake.wait_for(
        "sendMessage", lambda c: "is over" in c.plain and c["chat_id"] == new["id"], since=mark
    )
    assert "Ann" in drawn.plain
    refused = [
        c
        for c in fake.calls[mark:]
        if c.get("chat_id") == BASIC and c.method in {"getChatMember", "sendMessage"}
    ]
    assert len(refused) == 1  # tried once at the old id, not retried there
    await keeps_settings_and_warns(fake, steward, club, new)
    later = [c for c in fake.calls[refused[0].index + 1 :] if c.get("chat_id") == BASIC]
    assert [c.method for c in later if c.method.startswith("send")] == []


async def test_upgraded_group_keeps_its_watches_campaign_links_and_mood(steward, fake, club):
    """What the bot holds in memory about the group follows the upgrade too: a watch limited
    to the group still finds mentions, a join through a campaign link (Telegram keeps the
    group's invite links) still counts for its campaign, and the messages counted for the
    group's mood before the upgrade are not left behind under the old id."""
    manager = fake.user(MANAGER_ID, "Manny")
    await fake.send_message(fake.private_chat(manager), manager, f"/watch acme {BASIC}")
    await fake.wait_for("sendMessage", lambda c: "Watching «acme»" in c.plain)
    await club.say(club.admin, "/campaign_new Spring")
    created = await fake.wait_for("sendMessage", lambda c: "Campaign #1" in c.plain)
    link = re.search(r"https://t\.me/\+[\w-]+", created.plain)[0]
    for n in range(3):
        await club.say(club.ann, f"good morning number {n}")
    await steward.idle()

    new = await fake.migrate_group(BASIC, club.admin)
    await steward.idle()
    await club.say(club.bob, "acme support was quick today", chat=new)
    newcomer = fake.user(23, "Cid")
    await fake.join_chat(new["id"], newcomer, link)
    await steward.idle()
    pending = await steward.app.reputation.pending_mentions()
    assert [m.chat_id for m in pending] == [new["id"]]
    await club.say(club.admin, "/campaigns 7d", chat=new)
    report = await fake.wait_for("sendMessage", lambda c: "📣 Campaigns in" in c.plain)
    line = next(x for x in report.plain.splitlines() if x.startswith("#1 Spring"))
    assert "joins 1;" in line, report.plain

    await steward.app.reputation.flush()
    db = steward.app.db
    assert (await db.fetchone("SELECT COUNT(*) FROM mood_daily WHERE chat_id=?", (BASIC,)))[0] == 0
    moved = await db.fetchone("SELECT SUM(messages) FROM mood_daily WHERE chat_id=?", (new["id"],))
    assert moved[0] >= 4  # three before the upgrade, one after


async def test_open_tickets_of_an_upgraded_support_chat_are_relayed_again(steward, fake):
    """Nobody can reply to a message sent before a group was upgraded, so the relays of
    unanswered tickets are posted again in the new support chat, where a reply answers them
    (before, they stayed behind in the old chat and could never be answered)."""
    group = fake.add_chat(-1001555000077, title="Venue chat")
    staff_chat = fake.add_chat(-4055577, "group", title="Staff")
    admin, member, staff = fake.user(30, "Ada"), fake.user(31, "Bob"), fake.user(32, "Sam")
    fake.add_member(group["id"], admin, "administrator")
    fake.add_member(group["id"], member)
    fake.add_member(staff_chat["id"], staff, "administrator")
    fake.add_member(staff_chat["id"], admin)  # /setsupport names only a chat the admin is in
    await fake.send_message(group, admin, f"/setsupport {staff_chat['id']}")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == group["id"])
    question = await fake.send_message(group, member, "Has anyone found a blue scarf <3 & hat?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == staff_chat["id"])
    await steward.idle()

    new = await fake.migrate_group(staff_chat["id"], staff)
    again = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == new["id"])
    assert again.plain.startswith("❓ #1 from Bob (id 31) in Venue chat:")
    assert "blue scarf <3 & hat?" in again.plain
    await steward.idle()
    relay = fake.messages[(new["id"], max(m for c, m in fake.messages if c == new["id"]))]
    await fake.send_message(new, staff, "Yes, at the bar!", reply_to=relay)
    answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == group["id"])
    assert answer["from_chat_id"] == new["id"]
    assert answer["reply_parameters"]["message_id"] == question["message_id"]


async def test_a_configured_support_chat_that_was_upgraded_still_gets_answers(fake, tmp_path):
    """SUPPORT_CHAT_ID still names the basic group after its upgrade: relays go to the new
    chat, and a staff reply there reaches the member (before, the ticket kept the old id and
    the reply was not recognised as an answer), and a complaint's "Not a complaint" works there
    (before: "This complaint is gone.")."""
    staff_chat = fake.add_chat(-4055588, "group", title="Staff")
    env = make_env(fake, tmp_path, SUPPORT_CHAT_ID=str(staff_chat["id"]))
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    member, staff = fake.user(41, "Bob"), fake.user(42, "Sam")
    fake.add_member(staff_chat["id"], staff, "administrator")
    await running.start()
    try:
        new = await fake.migrate_group(staff_chat["id"], staff)
        await running.idle()
        private = fake.private_chat(member)
        await fake.send_message(private, member, "Where can I leave my bike?")
        relay = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == new["id"])
        assert relay.plain.startswith("❓ #1 from Bob")
        await running.idle()
        relay_message = fake.messages[
            (new["id"], max(m for c, m in fake.messages if c == new["id"]))
        ]
        await fake.send_message(new, staff, "Behind the building.", reply_to=relay_message)
        answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == member["id"])
        assert answer["from_chat_id"] == new["id"]
        # a complaint's "Not a complaint" button works in the new chat too
        if running.app.reputation_training is not None:
            await running.app.reputation_training
        group = fake.add_chat(-1001555000088, title="Shop chat")
        fake.add_member(group["id"], member)
        await fake.send_message(group, member, COMPLAINT)
        ticket = await fake.wait_for("sendMessage", lambda c: "⚠️ complaint" in c.plain)
        assert ticket["chat_id"] == new["id"]
        await running.idle()
        relayed = fake.messages[(new["id"], max(m for c, m in fake.messages if c == new["id"]))]
        button = relayed["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await fake.press_button(relayed, staff, button)
        edited = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == new["id"])
        assert "Marked as not a complaint by Sam" in edited.plain
    finally:
        await running.stop()


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_purge_in_a_topic_deletes_only_that_topics_messages(steward, fake, forum):
    """Message ids run across all topics of a forum: /purge in one topic deleted every message
    in the id range, other topics' and General's included. Now only the messages the bot saw
    (or sent) in that topic go, and the count says how many."""
    games = await forum.topic("Games")
    news = await forum.topic("News")
    first = await forum.say(forum.ann, "spam 1", topic=games)
    elsewhere = [
        await forum.say(forum.ben, "launch at noon", topic=news),
        await forum.say(forum.ben, "hello General"),
    ]
    await forum.say(forum.ann, "/rules", topic=games)
    answer = await fake.wait_for("sendMessage", in_forum)  # the bot's own message, in Games
    assert answer["message_thread_id"] == games
    elsewhere.append(await forum.say(forum.ben, "more news", topic=news))
    second = await forum.say(forum.ann, "spam 2", topic=games)
    mark = fake.mark()
    command = await forum.say(forum.admin, "/purge", reply_to=first)
    reply = await fake.wait_for("sendMessage", in_forum, since=mark)
    assert reply["message_thread_id"] == games
    assert reply.plain.startswith("🧹 Deleted 4 messages. Only this topic's messages"), reply.plain
    left = {mid for chat, mid in fake.messages if chat == FORUM}
    assert {m["message_id"] for m in elsewhere} <= left
    gone = {first["message_id"], second["message_id"], command["message_id"]}
    assert not gone & left
    assert not [
        mid
        for mid in left
        if games < mid < command["message_id"]
        and fake.messages[(FORUM, mid)].get("message_thread_id") == games
    ]
    never_general_by_number(fake)


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_topics_noted_before_a_restart_are_purged_after_it(steward, fake, forum):
    """Topics of forum messages are held in memory and written in batches: a stop writes what
    is held, so a /purge after the restart still finds the messages of its topic."""
    games = await forum.topic("Games")
    first = await forum.say(forum.ann, "spam 1", topic=games)
    other = await forum.say(forum.ben, "a line in General")
    second = await forum.say(forum.ann, "spam 2", topic=games)
    await steward.idle()
    await steward.restart()
    command = await forum.say(forum.admin, "/purge", reply_to=first)
    reply = await fake.wait_for("sendMessage", lambda c: "Deleted" in c.plain)
    assert reply.plain.startswith("🧹 Deleted 2 messages."), reply.plain  # the command aside
    left = {mid for chat, mid in fake.messages if chat == FORUM}
    assert other["message_id"] in left
    assert not left & {first["message_id"], second["message_id"], command["message_id"]}


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_purge_in_general_leaves_the_topics_alone(steward, fake, forum):
    """General is a topic too: a /purge there deletes General's messages only."""
    games = await forum.topic("Games")
    first = await forum.say(forum.ann, "spam in General")
    in_topic = await forum.say(forum.ben, "a move in Games", topic=games)
    second = await forum.say(forum.ann, "more spam in General")
    command = await forum.say(forum.admin, "/purge", reply_to=first)
    reply = await fake.wait_for("sendMessage", lambda c: "Deleted" in c.plain)
    assert "message_thread_id" not in reply.params
    assert reply.plain.startswith("🧹 Deleted 2 messages."), reply.plain
    left = {mid for chat, mid in fake.messages if chat == FORUM}
    assert in_topic["message_id"] in left
    assert not left & {first["message_id"], second["message_id"], command["message_id"]}
