"""End-to-end quizzes and giveaways."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.engagement.giveaways import GiveawayService, Refusal, RefusalReason
from storage.database import Database
from storage.engagement import DrawOutcome, EntryWrite, GiveawayRepository
from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID

GROUP = -1001777000001
CHANNEL = -1001777000099

QUIZ = """/quiz_add Space basics
Q: Which planet is the largest?
- Mars
+ Jupiter
- Venus
E: Jupiter is more than twice as massive as all other planets together.
Q: How many moons does Mars have?
- None
- One
+ Two
"""


class Chat:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chat = fake.add_chat(GROUP, title="Quiz club")
        fake.add_chat(CHANNEL, "channel", "News", username="newschan")
        self.admin = fake.user(10, "Ada")
        self.ann = fake.user(11, "Ann")
        self.ben = fake.user(12, "Ben")
        self.cid = fake.user(13, "Cid")
        fake.add_member(GROUP, self.admin, "administrator")
        for user in (self.ann, self.ben, self.cid):
            fake.add_member(GROUP, user)

    async def say(self, user, text, **kw):
        return await self.fake.send_message(self.chat, user, text, **kw)


@pytest.fixture
def club(fake: FakeTelegram) -> Chat:
    return Chat(fake)


def in_group(call) -> bool:
    return call["chat_id"] == GROUP


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_quiz_text_becomes_quiz_polls_and_answers_make_the_tables(steward, fake, club):
    await club.say(club.admin, QUIZ)
    saved = await fake.wait_for("sendMessage", in_group)
    assert saved.plain.startswith("Quiz #1 “Space basics” saved with 2 questions")
    await club.say(club.admin, "/quiz_start 1 5")
    first = await fake.wait_for("sendPoll")
    assert first["type"] == "quiz" and first["is_anonymous"] is False
    assert first["open_period"] == 5
    options = [o["text"] if isinstance(o, dict) else o for o in first["options"]]
    assert sorted(options) == ["Jupiter", "Mars", "Venus"]
    assert first["correct_option_ids"] == [options.index("Jupiter")]
    assert "correct_option_id" not in first.params  # the deprecated field is not used
    assert first["question"] == "Question 1/2: Which planet is the largest?"
    assert first["explanation"].startswith("Jupiter is more")
    poll1 = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]["poll"]["id"]
    right1, wrong1 = options.index("Jupiter"), options.index("Mars")
    await fake.answer_poll(poll1, club.ann, right1)
    await asyncio.sleep(0.2)
    await fake.answer_poll(poll1, club.ben, right1)
    await fake.answer_poll(poll1, club.cid, wrong1)

    second = await fake.wait_for("sendPoll", since=0, count=2, timeout=15)
    options2 = [o["text"] if isinstance(o, dict) else o for o in second["options"]]
    assert second["correct_option_ids"] == [options2.index("Two")]
    poll2 = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]["poll"]["id"]
    await fake.answer_poll(poll2, club.ben, options2.index("Two"))
    await fake.answer_poll(poll2, club.ann, options2.index("One"))

    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, timeout=15)
    lines = results.plain.splitlines()
    assert lines[0] == "🏁 Results of “Space basics”"
    assert lines[1].startswith("🥇 Ben — 2 correct")
    assert lines[2].startswith("🥈 Ann — 1 correct")
    assert lines[3].startswith("🥉 Cid — 0 correct")
    assert await steward.app.quiz_repo.running_in(GROUP) is None

    await club.say(club.ann, "/quiz_top")
    season = await fake.wait_for("sendMessage", lambda c: "Season" in c.plain)
    assert "🥇 Ben — 2 correct in 1 quiz" in season.plain.splitlines()
    assert "🥈 Ann — 1 correct in 1 quiz" in season.plain.splitlines()


async def test_quiz_questions_are_asked_as_written_with_html_special_characters(
    steward, fake, club
):
    """A question or explanation with "<" or "&" went out in HTML parse mode (the bot's
    default), which Telegram refuses ("can't parse entities"): the quiz stopped at once. They
    are plain text now, shown exactly as written."""
    long_question = "Which of these is true? " + "Read it to the end. " * 13 + "The end?"
    assert len(long_question) == 292  # fits Telegram's 300, not beside "Question 2/2: "
    await club.say(
        club.admin,
        "/quiz_add Maths & more\nQ: Which is true: 2 < 3 or 3 < 2?\n+ 2 < 3\n- 3 < 2\n"
        f"E: Tom & Jerry <3 small numbers\nQ: {long_question}\n+ yes\n- no",
    )
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await club.say(club.admin, "/quiz_start 1 5")
    await fake.wait_for("sendPoll")
    await steward.idle()
    [sent] = [m["poll"] for (c, _), m in fake.messages.items() if c == GROUP and "poll" in m]
    assert sent["question"] == "Question 1/2: Which is true: 2 < 3 or 3 < 2?"
    assert sent["explanation"] == "Tom & Jerry <3 small numbers"
    assert [o["text"] for o in sent["options"]] in (["2 < 3", "3 < 2"], ["3 < 2", "2 < 3"])
    assert await steward.app.quiz_repo.running_in(GROUP) is not None
    # a question too long for the number before it is asked whole (its end was cut off)
    second = await fake.wait_for("sendPoll", count=2, timeout=15)
    assert second["question"] == long_question


async def test_quiz_stop_ends_early_with_results(steward, fake, club):
    await club.say(club.admin, QUIZ)
    await fake.wait_for("sendMessage", in_group)
    await club.say(club.admin, "/quiz_start 1 60")
    await fake.wait_for("sendPoll")
    # deleting the quiz would end the run after this question, its last ones never asked
    mark = fake.mark()
    await club.say(club.admin, "/quiz_del 1")
    refused = await fake.wait_for("sendMessage", in_group, since=mark)
    assert refused.plain == "Quiz #1 is running; end it with /quiz_stop before deleting it."
    await club.say(club.admin, "/quiz_stop")
    await fake.wait_for("stopPoll")
    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain)
    assert "Nobody answered." in results.plain
    await fake.assert_no_call("sendPoll", within=0.5)
    mark = fake.mark()
    await club.say(club.admin, "/quiz_del 1")
    deleted = await fake.wait_for("sendMessage", in_group, since=mark)
    assert deleted.plain == "Quiz #1 deleted."


async def test_a_giveaway_at_no_such_time_gets_the_usage(steward, fake, club):
    """`/giveaway 25:00 …` raised an uncaught ValueError: the admin got the apology."""
    await club.say(club.admin, "/giveaway 25:00 1 Mug")
    reply = await fake.wait_for("sendMessage", in_group)
    assert reply.plain.startswith("Start with the duration or end time: 2h, 3d, 18:00")
    assert await steward.app.giveaway_repo.get(1) is None


async def test_member_cannot_run_admin_commands(steward, fake, club):
    await club.say(club.ann, "/quiz_start 1")
    refused = await fake.wait_for("sendMessage", in_group)
    assert refused.plain == "Only admins of this chat or Steward's managers can use this command."
    await club.say(club.ann, "/giveaway 1d 1 A prize")
    refused = await fake.wait_for("sendMessage", in_group)
    assert refused.plain.startswith("Only admins of this chat")
    assert not fake.calls_of("sendPoll")


async def test_quiz_errors_name_the_line(steward, fake, club):
    await club.say(club.admin, "/quiz_add Broken\nQ: First?\n- a\n- b\nQ: Second?\n+ c\n- d")
    reply = await fake.wait_for("sendMessage", in_group)
    assert reply.plain == "The question on line 2 needs one correct option marked with “+”."
    # the title on the line below the command: lines are still the message's own (they were
    # counted from the title, one short), and a missing title is named as such (the first
    # question was taken for the title, and its first option called "not a question")
    mark = fake.mark()
    await club.say(club.admin, "/quiz_add\nBroken\nQ: First?\n- a\n- b")
    reply = await fake.wait_for("sendMessage", in_group, since=mark)
    assert reply.plain == "The question on line 3 needs one correct option marked with “+”."
    mark = fake.mark()
    await club.say(club.admin, "/quiz_add\nQ: First?\n+ a\n- b")
    reply = await fake.wait_for("sendMessage", in_group, since=mark)
    assert reply.plain == "The first line after /quiz_add must be the quiz title."
    mark = fake.mark()
    await club.say(club.admin, "/quiz_add\nFixed\nQ: First?\n+ a\n- b")
    reply = await fake.wait_for("sendMessage", in_group, since=mark)
    assert reply.plain.startswith("Quiz #1 “Fixed” saved with 1 question.")


async def test_quiz_export_import_round_trip(steward, fake, club):
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, QUIZ)
    await fake.wait_for("sendMessage")
    await fake.send_message(private, manager, "/quiz_export 1")
    document = await fake.wait_for("sendDocument")
    data = json.loads(next(iter(document.files.values())))
    assert data["questions"][0]["options"][data["questions"][0]["correct"]] == "Jupiter"
    sent = fake.messages[(MANAGER_ID, max(m for c, m in fake.messages if c == MANAGER_ID))]
    await fake.send_message(private, manager, "/quiz_add", reply_to=sent)
    saved = await fake.wait_for("sendMessage")
    assert saved.plain.startswith("Quiz #2 “Space basics” saved with 2 questions")
    a = await steward.app.quiz_repo.questions(1)
    b = await steward.app.quiz_repo.questions(2)
    assert [(q.text, q.options, q.correct, q.explanation) for q in a] == [
        (q.text, q.options, q.correct, q.explanation) for q in b
    ]

    # a question Telegram would refuse in the middle of the quiz (an explanation of four
    # lines) is named by its number in the file; it was saved, or named as "line 2" with the
    # text format's "+"/"-" wording
    data["questions"][1]["explanation"] = "One\ntwo\nthree\nfour"
    content = json.dumps(data).encode()
    document = fake.add_file("bad-quiz", content, "documents/bad-quiz/quiz.json")
    document["file_name"] = "quiz.json"
    upload = await fake.send_message(private, manager, None, document=document)
    await steward.idle()  # a manager's file is offered for posting first
    mark = fake.mark()
    await fake.send_message(private, manager, "/quiz_add", reply_to=upload)
    refused = await fake.wait_for("sendMessage", since=mark)
    assert refused.plain.startswith("Question 2 in the file is not one Telegram takes:")
    assert await steward.app.quiz_repo.quiz(3) is None

    # a group's own quiz: a manager may start it anywhere, and /quiz_list in private lists it
    # with its group (it listed only the shared ones); the group lists its own and the shared
    await club.say(club.admin, "/quiz_add Club quiz\nQ: Best planet?\n+ Earth\n- Mars")
    await fake.wait_for("sendMessage", lambda c: in_group(c) and "saved" in c.plain)
    mark = fake.mark()
    await fake.send_message(private, manager, "/quiz_list")
    listed = await fake.wait_for("sendMessage", since=mark)
    assert listed.plain.splitlines() == [
        "Quizzes:",
        "#1 Space basics (2)",
        "#2 Space basics (2)",
        f"#3 Club quiz (1) · {GROUP}",
    ]
    mark = fake.mark()
    await club.say(club.admin, "/quiz_list")
    listed = await fake.wait_for("sendMessage", in_group, since=mark)
    assert listed.plain.splitlines()[1:] == [
        "#1 Space basics (2)",
        "#2 Space basics (2)",
        "#3 Club quiz (1)",
    ]


async def test_a_quiz_file_sent_with_quiz_add_as_its_caption_is_imported(steward, fake, club):
    """The file and the command in one message (the file's caption) was ignored: only a reply
    to the file with /quiz_add imported it."""
    data = {
        "title": "Planets",
        "questions": [{"question": "Largest?", "options": ["Jupiter", "Mars"], "correct": 0}],
    }
    document = fake.add_file("quiz-file", json.dumps(data).encode(), "documents/q/quiz.json")
    document["file_name"] = "quiz.json"
    caption = {"caption": "/quiz_add", "caption_entities": [command_entity("/quiz_add")]}
    await club.say(club.admin, None, document=document, **caption)
    saved = await fake.wait_for("sendMessage", in_group)
    assert saved.plain.startswith("Quiz #1 “Planets” saved with 1 question.")
    assert [q.options for q in await steward.app.quiz_repo.questions(1)] == [["Jupiter", "Mars"]]

    # a manager in private: imported, not taken for a post to schedule
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, None, document=document, **caption)
    saved = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert saved.plain.startswith("Quiz #2 “Planets” saved with 1 question.")


def command_entity(command: str) -> dict:
    return {"type": "bot_command", "offset": 0, "length": len(command)}


async def test_a_quiz_question_with_the_same_option_twice_is_refused(steward, fake, club):
    """Two options alike (or alike but for case and spaces) were saved: the poll showed the
    same answer twice, and nobody could tell which one counted."""
    await club.say(club.admin, "/quiz_add Space\nQ: Largest?\n+ Jupiter\n- Mars\n- Mars")
    reply = await fake.wait_for("sendMessage", in_group)
    assert reply.plain == (
        "Line 5: “Mars” is already an option of this question; each option must be different."
    )
    mark = fake.mark()
    await club.say(club.admin, "/quiz_add Space\nQ: Largest?\n+ Jupiter\n-  jupiter ")
    reply = await fake.wait_for("sendMessage", in_group, since=mark)
    assert reply.plain.startswith("Line 4: “jupiter” is already an option")
    # in a file, named by the question's number there
    data = {
        "title": "Space",
        "questions": [
            {"question": "Largest?", "options": ["Jupiter", "Mars"], "correct": 0},
            {"question": "Red?", "options": ["Mars", "Venus", "MARS"], "correct": 0},
        ],
    }
    upload = await club.say(
        club.admin,
        None,
        document=fake.add_file("dup", json.dumps(data).encode(), "documents/dup/quiz.json"),
    )
    mark = fake.mark()
    await club.say(club.admin, "/quiz_add", reply_to=upload)
    reply = await fake.wait_for("sendMessage", in_group, since=mark)
    assert reply.plain == (
        "Question 2 in the file has the option “MARS” twice; each option must be different."
    )
    # and a file of more questions than a typed quiz may have
    data = {
        "title": "Long",
        "questions": [
            {"question": f"Q{n}?", "options": ["a", "b"], "correct": 0} for n in range(101)
        ],
    }
    upload = await club.say(
        club.admin,
        None,
        document=fake.add_file("long", json.dumps(data).encode(), "documents/long/quiz.json"),
    )
    mark = fake.mark()
    await club.say(club.admin, "/quiz_add", reply_to=upload)
    reply = await fake.wait_for("sendMessage", in_group, since=mark)
    assert reply.plain == "A quiz can have at most 100 questions."
    # a file's empty title is named as the file's (not "the first line after /quiz_add")
    data = {"title": " ", "questions": data["questions"][:1]}
    upload = await club.say(
        club.admin,
        None,
        document=fake.add_file("untitled", json.dumps(data).encode(), "documents/u/quiz.json"),
    )
    mark = fake.mark()
    await club.say(club.admin, "/quiz_add", reply_to=upload)
    reply = await fake.wait_for("sendMessage", in_group, since=mark)
    assert reply.plain == "The quiz's “title” in the file must be 1 to 120 characters long."
    assert await steward.app.quiz_repo.quiz(1) is None


def ticket(seed: str, uid: int) -> str:
    return hmac.new(seed.encode(), str(uid).encode(), hashlib.sha256).hexdigest()


def winner_ids(text: str) -> list[int]:
    """The winners a result or a reroll lists, by the ids it shows beside their names."""
    return [int(uid) for uid in re.findall(r"^\d+\. .* \(id (\d+)\)$", text, re.MULTILINE)]


def readme_check(text: str, commitment: str, winners: int) -> list[int]:
    """The README's few lines of Python, fed with what the result message shows."""
    seed, published, entrants = parse_result(text)
    skipped = [int(uid) for uid in re.findall(r"^Skipped .* \(id (\d+)\):", text, re.MULTILINE)]
    assert hashlib.sha256(seed.encode()).hexdigest() == commitment == published
    order = [uid for uid in sorted(entrants, key=lambda u: ticket(seed, u)) if uid not in skipped]
    return order[:winners]


def parse_result(text: str) -> tuple[str, str, list[int]]:
    seed = re.search(r"seed ([0-9a-f]{64})", text).group(1)
    commitment = re.search(r"sha256\(seed\) = ([0-9a-f]{64})", text).group(1)
    entrants = [int(x) for x in text.strip().splitlines()[-1].split()]
    return seed, commitment, entrants


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_giveaway_entry_conditions_and_a_verifiable_draw(steward, fake, club):
    fake.add_member(CHANNEL, club.ann)
    fake.add_member(CHANNEL, club.ben)
    fake.add_member(CHANNEL, club.cid)
    await club.say(club.admin, "/giveaway 3s 2 Two T-shirts require=@newschan")
    announcement = await fake.wait_for("sendMessage", in_group)
    commitment = re.search(r"commitment ([0-9a-f]{64})", announcement.plain).group(1)
    assert "Two T-shirts" in announcement.plain and "@newschan" in announcement.plain
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    button = announcement["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == "🎉 Participate (0)"

    outsider = fake.user(14, "Dan")
    await fake.press_button(message, outsider, button["callback_data"])
    refused = await fake.wait_for("answerCallbackQuery")
    assert refused["text"] == "You can't take part yet: subscribe to @newschan first."
    for user in (club.ann, club.ben, club.cid):
        await fake.press_button(message, user, button["callback_data"])
        entered = await fake.wait_for("answerCallbackQuery")
        assert entered["text"].startswith("You are in!")
    await fake.press_button(message, club.ann, button["callback_data"])
    again = await fake.wait_for("answerCallbackQuery")
    assert again["text"] == "You are already taking part."

    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, timeout=15)
    seed, published_commitment, entrants = parse_result(result.plain)
    assert hashlib.sha256(seed.encode()).hexdigest() == commitment == published_commitment
    assert entrants == [11, 12, 13]
    expected = sorted(entrants, key=lambda uid: ticket(seed, uid))[:2]
    names = {11: "Ann", 12: "Ben", 13: "Cid"}
    winners_block = result.plain.split("Winners:")[1].split("Check the draw")[0]
    assert [line.split(". ", 1)[1] for line in winners_block.strip().splitlines()] == [
        f"{names[u]} (id {u})" for u in expected
    ]
    assert winner_ids(result.plain) == expected == readme_check(result.plain, commitment, 2)
    await fake.assert_no_call(
        "sendMessage", within=0.5, predicate=lambda c: "is over" in c.plain, since=result.index + 1
    )

    await club.say(club.ann, "/giveaway_verify 1")
    verified = await fake.wait_for("sendMessage", in_group)
    assert verified.plain.count("✅") == 2


async def test_subscription_lost_before_draw_skips_with_reason(steward, fake, club):
    """The result shows the ids of its winners and of the entrants it skipped: the README's
    check runs on them (the winners and the skipped were shown by name only, their ids behind
    the names' links, though the check needs "ids the result lists as skipped")."""
    fake.add_member(CHANNEL, club.ann)
    fake.add_member(CHANNEL, club.ben)
    await club.say(club.admin, "/giveaway 2s 2 Mug require=@newschan")
    announcement = await fake.wait_for("sendMessage", in_group)
    commitment = re.search(r"commitment ([0-9a-f]{64})", announcement.plain).group(1)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    for user in (club.ann, club.ben):
        data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await fake.press_button(message, user, data)
        await fake.wait_for("answerCallbackQuery")
    fake.chats[CHANNEL].members.pop(club.ann["id"])  # Ann leaves the channel
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, timeout=10)
    assert "Skipped Ann (id 11): subscribe to @newschan first." in result.plain.splitlines()
    assert winner_ids(result.plain) == [12] == readme_check(result.plain, commitment, 2)


async def test_entrants_who_left_or_were_banned_are_passed_over_at_the_draw(steward, fake, club):
    """Ann, Ben and Cid entered a two-winner giveaway; before the draw the first in the draw
    order left the group and the second was banned. Both won all the same; now they are
    skipped with the reason, the third wins, the result says only one of two could be drawn,
    the organiser hears it privately, and the README's check still gives the winner."""
    fake.start_bot(club.admin)
    await club.say(club.admin, "/giveaway 1h 2 Two mugs")
    announcement = await fake.wait_for("sendMessage", in_group)
    commitment = re.search(r"commitment ([0-9a-f]{64})", announcement.plain).group(1)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    outsider = fake.user(14, "Dan")  # never in the group: told so at once, not at the draw
    await fake.press_button(message, outsider, data)
    refused = await fake.wait_for("answerCallbackQuery")
    assert refused["text"] == "You can't take part yet: join the chat first."
    for user in (club.ann, club.ben, club.cid):
        await fake.press_button(message, user, data)
        entered = await fake.wait_for("answerCallbackQuery")
        assert entered["text"].startswith("You are in!")
    seed = (await steward.app.giveaway_repo.get(1)).seed_hex
    first, second, third = sorted((11, 12, 13), key=lambda uid: ticket(seed, uid))
    users = {11: club.ann, 12: club.ben, 13: club.cid}
    await fake.leave_chat(GROUP, users[first])
    fake.chats[GROUP].members[second] = {"status": "kicked", "user": users[second]}
    await steward.idle()
    await club.say(club.admin, "/giveaway_end 1")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    names = {11: "Ann", 12: "Ben", 13: "Cid"}
    lines = result.plain.splitlines()
    assert f"Skipped {names[first]} (id {first}): no longer a member of the chat." in lines
    assert f"Skipped {names[second]} (id {second}): no longer a member of the chat." in lines
    assert "Only 1 of 2 winners could be drawn: no other entrant is eligible." in lines
    assert winner_ids(result.plain) == [third] == readme_check(result.plain, commitment, 2)
    told = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 10 and "only" in c.plain)
    assert told.plain.startswith("🎁 Giveaway #1 “Two mugs”: only 1 of 2 winners could be drawn")
    mark = fake.mark()
    await club.say(club.admin, "/giveaway_verify 1")
    verified = await fake.wait_for("sendMessage", in_group, since=mark)
    assert verified.plain.count("✅") == 2
    mark = fake.mark()
    await club.say(club.admin, "/reroll 1")
    none_left = await fake.wait_for("sendMessage", in_group, since=mark)
    assert none_left.plain == "No more eligible entrants to draw from."


async def test_a_reroll_passes_over_a_runner_up_who_left_and_says_so(steward, fake, club):
    order = await book_drawn_among_three(club, fake)
    users = {11: club.ann, 12: club.ben, 13: club.cid}
    await fake.leave_chat(GROUP, users[order[1]])
    await steward.idle()
    mark = fake.mark()
    await club.say(club.admin, "/reroll 1 2")
    rerolled = await fake.wait_for("sendMessage", in_group, since=mark)
    names = {11: "Ann", 12: "Ben", 13: "Cid"}
    assert winner_ids(rerolled.plain) == [order[2]]
    lines = rerolled.plain.splitlines()
    assert "Only 1 of 2 winners could be drawn: no other entrant is eligible." in lines
    assert f"Skipped {names[order[1]]} (id {order[1]}): no longer a member of the chat." in lines


async def test_restart_before_end_still_draws_once(steward, fake, club):
    await club.say(club.admin, "/giveaway 4s 1 Sticker pack")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(
        message, club.ann, announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    )
    await fake.wait_for("answerCallbackQuery")
    await steward.restart()
    await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, timeout=15, since=0)
    await asyncio.sleep(1.0)
    assert len([c for c in fake.calls_of("sendMessage") if "is over" in c.plain]) == 1


async def test_giveaway_ended_while_down_is_drawn_at_start(steward, fake, club):
    await club.say(club.admin, "/giveaway 2s 1 Poster")
    await fake.wait_for("sendMessage", in_group)
    await steward.stop()
    await asyncio.sleep(2.5)
    await steward.start()
    await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, timeout=10, since=0)
    # a manual end afterwards cannot draw again
    await club.say(club.admin, "/giveaway_end 1")
    reply = await fake.wait_for("sendMessage", in_group)
    assert reply.plain == "Giveaway #1 was already drawn."


async def book_drawn_among_three(club, fake) -> list[int]:
    """A one-winner giveaway Ann, Ben and Cid entered, ended: its entrants in draw order."""
    await club.say(club.admin, "/giveaway 1h 1 Book")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    for user in (club.ann, club.ben, club.cid):
        await fake.press_button(message, user, data)
        await fake.wait_for("answerCallbackQuery")
    await club.say(club.admin, "/giveaway_end 1")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    seed, _, entrants = parse_result(result.plain)
    return sorted(entrants, key=lambda uid: ticket(seed, uid))


async def test_reroll_excludes_earlier_winners(steward, fake, club):
    order = await book_drawn_among_three(club, fake)
    names = {11: "Ann", 12: "Ben", 13: "Cid"}
    for bad in ("0", "two", "101"):  # each drew one winner as if no number had been given
        mark = fake.mark()
        await club.say(club.admin, f"/reroll 1 {bad}")
        usage = await fake.wait_for("sendMessage", in_group, since=mark)
        assert usage.plain == "How many new winners? A number from 1 to 100, e.g. /reroll 1 2."
    await club.say(club.admin, "/reroll 1")
    first = await fake.wait_for("sendMessage", lambda c: "New winners" in c.plain)
    assert first.plain.splitlines()[1] == f"1. {names[order[1]]} (id {order[1]})"
    await club.say(club.admin, "/reroll 1")
    second = await fake.wait_for("sendMessage", lambda c: "New winners" in c.plain)
    assert second.plain.splitlines()[1] == f"1. {names[order[2]]} (id {order[2]})"
    await club.say(club.admin, "/reroll 1")
    none_left = await fake.wait_for("sendMessage", in_group)
    assert none_left.plain == "No more eligible entrants to draw from."


async def test_two_rerolls_at_once_draw_two_different_winners(steward, fake, club):
    """Two /reroll handled together both read the results before either wrote its pick, and
    announced the same runner-up twice."""
    order = await book_drawn_among_three(club, fake)
    await steward.idle()
    mark = fake.mark()
    await asyncio.gather(club.say(club.admin, "/reroll 1"), club.say(club.admin, "/reroll 1"))
    await fake.wait_for("sendMessage", lambda c: "New winners" in c.plain, since=mark, count=2)
    rerolls = [c for c in fake.calls_of("sendMessage", since=mark) if "New winners" in c.plain]
    assert sorted(winner_ids(c.plain)[0] for c in rerolls) == sorted(order[1:])


async def test_two_workers_rerolling_at_once_draw_two_different_winners(
    steward, fake, club, db_engine
):
    """The reroll lock was per process: /reroll from the group on one worker and from private
    on another read the same results and both drew the same runner-up. The giveaway's row
    is now taken in the database (a conditional update): one rerolls, the other after it."""
    order = await book_drawn_among_three(club, fake)
    await steward.idle()
    app = steward.app
    # workers share a PostgreSQL database; SQLite serves one process (its worker's own lock
    # is then all the other lacks)
    other_db = Database(app.settings.database) if db_engine == "postgresql" else app.db
    if other_db is not app.db:
        await other_db.open()
    try:
        other_worker = GiveawayService(
            app.bot,
            GiveawayRepository(other_db),
            app.users,
            app.role_service,
            app.scheduler,
            app.i18n,
            app.locale_for,
            notes=app.notes,
        )
        other_worker.shared = app.giveaways.shared = True  # workers that share a database
        picks = await asyncio.gather(app.giveaways.reroll(1, 1), other_worker.reroll(1, 1))
    finally:
        if other_db is not app.db:
            await other_db.close()
    assert all(p is not None for p in picks)
    assert sorted(p.winners[0] for p in picks if p) == sorted(order[1:])
    results = await app.giveaway_repo.results(1)
    assert sorted(r.round for r in results if r.outcome.value == "won") == [0, 1, 2]
    giveaway = await app.giveaway_repo.get(1)
    assert giveaway is not None and giveaway.lease_until is None  # given back


async def test_an_anonymous_admin_ends_and_rerolls_the_giveaway_they_started(steward, fake, club):
    """An admin posting as the group could start a giveaway but not end or reroll it: "Only
    admins of that chat or Steward's managers can do this." (Telegram names GroupAnonymousBot
    as the sender, which is no admin). Nor is that placeholder bot the organiser to write to."""
    anonymous = fake.user(1087968824, "Group", is_bot=True, language_code=None)
    await club.say(anonymous, "/giveaway 1h 1 Book", sender_chat=club.chat)
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    for user in (club.ann, club.ben):
        await fake.press_button(message, user, data)
        await fake.wait_for("answerCallbackQuery")
    await club.say(anonymous, "/giveaway_end 1", sender_chat=club.chat)
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    seed, _, entrants = parse_result(result.plain)
    runner_up = sorted(entrants, key=lambda uid: ticket(seed, uid))[1]
    await club.say(anonymous, "/reroll 1", sender_chat=club.chat)
    rerolled = await fake.wait_for("sendMessage", lambda c: "New winners" in c.plain)
    assert winner_ids(rerolled.plain) == [runner_up]
    await steward.idle()
    said = [c for c in fake.calls_of("sendMessage") if in_group(c)]
    assert not [c for c in said if c.plain.startswith("Only admins")]
    assert not [c for c in fake.calls_of("sendMessage") if c["chat_id"] == anonymous["id"]]


async def test_manager_runs_a_channel_giveaway_from_private(steward, fake, club):
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, "/giveaway @newschan 1d 3 Tickets private")
    posted = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == CHANNEL)
    assert "Tickets" in posted.plain
    confirm = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert confirm.plain == "Giveaway #1 is posted."
    # Telegram sends no channel_post for it: the channel's statistics learn of it from the
    # send, and its reactions count like any post's
    [announcement] = [m for (c, _), m in fake.messages.items() if c == CHANNEL]
    await steward.idle()
    await fake.push_update(
        {
            "message_reaction_count": {
                "chat": fake.chats[CHANNEL].chat,
                "message_id": announcement["message_id"],
                "date": fake.now(),
                "reactions": [{"type": {"type": "emoji", "emoji": "🎉"}, "total_count": 5}],
            }
        }
    )
    await steward.idle()
    posts = await steward.app.stats.repo.posts(CHANNEL, 0, 2**40)
    assert [(p["message_id"], p["reactions"]) for p in posts] == [(announcement["message_id"], 5)]


@pytest.mark.parametrize(
    ("language", "join_first", "left"),
    [
        ("en", "subscribe to the channel first", "no longer subscribed to the channel"),
        ("ru", "сначала подпишитесь на канал", "больше не подписан на канал"),
        ("nl", "abonneer je eerst op het kanaal", "niet meer geabonneerd op het kanaal"),
    ],
)
async def test_a_channel_giveaway_speaks_of_subscribing_not_joining_the_chat(
    steward, fake, club, language, join_first, left
):
    """Refusals of a giveaway in a channel said "join the chat first" and "no longer a member
    of the chat": a channel is subscribed to."""
    manager = fake.user(MANAGER_ID, "Manny")
    await fake.send_message(fake.private_chat(manager), manager, "/giveaway @newschan 1d 1 Mug")
    posted = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == CHANNEL)
    message = fake.messages[(CHANNEL, max(m for c, m in fake.messages if c == CHANNEL))]
    data = posted["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    zoe = fake.user(30, "Zoe", language_code=language)
    await fake.press_button(message, zoe, data)
    refused = await fake.wait_for("answerCallbackQuery")
    assert join_first in refused["text"]
    for user in (zoe, club.ann):
        fake.add_member(CHANNEL, user)
        mark = fake.mark()
        await fake.press_button(message, user, data)
        await fake.wait_for("answerCallbackQuery", since=mark)
    await fake.leave_chat(CHANNEL, zoe)  # both unsubscribe before the draw
    await fake.leave_chat(CHANNEL, club.ann)
    await steward.idle()
    await fake.send_message(fake.private_chat(manager), manager, "/giveaway_end 1")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    assert "Skipped Zoe (id 30): no longer subscribed to the channel." in result.plain
    assert "Skipped Ann (id 11): no longer subscribed to the channel." in result.plain
    refusal = Refusal(RefusalReason.NOT_IN_CHAT)
    said = steward.app.giveaways.reason_text(refusal, language, at_draw=True, channel=True)
    assert said == left


async def test_winner_who_started_the_bot_is_told_in_private(steward, fake, club):
    await fake.send_message(fake.private_chat(club.ann), club.ann, "/start")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 11)
    await club.say(club.admin, "/giveaway 2s 1 Hoodie")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    await fake.press_button(
        message, club.ann, announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    )
    await fake.wait_for("answerCallbackQuery")
    told = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 11, timeout=10)
    assert told.plain.startswith("🎉 You won the giveaway “Hoodie”!")


async def test_exclusions_and_private_entrants(steward, fake, club):
    # "private" in the prize is a word of it (it made the list hashes and the prize "A pin")
    await club.say(club.admin, "/giveaway 2s 1 A private pin exclude_admins private")
    announcement = await fake.wait_for("sendMessage", in_group)
    assert announcement.plain.startswith("🎁 Giveaway #1: A private pin\n")
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake.press_button(message, club.admin, data)
    refused = await fake.wait_for("answerCallbackQuery")
    assert refused["text"] == "You can't take part yet: admins of the chat do not take part."
    await fake.press_button(message, club.ben, data)
    await fake.wait_for("answerCallbackQuery")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, timeout=10)
    published = result.plain.strip().splitlines()[-1].split()
    assert published == [hashlib.sha256(b"12").hexdigest()]  # no raw ids
    assert "1. Ben" in result.plain.splitlines()  # by name: no raw id either


async def test_winners_are_told_whenever_telegram_lets_the_bot_reach_them(
    steward, fake, club, caplog
):
    """Ann pressed Start long ago (the bot's database never saw it), Ben never did, Cid blocked
    the bot: Ann gets the note, Ben and Cid cost one refused call each, nobody is retried and
    the result still names all three; the organiser learns whom to contact."""
    fake.start_bot(club.admin)
    fake.start_bot(club.ann)
    fake.start_bot(club.cid)
    fake.block_bot(club.cid["id"])
    assert not await steward.app.users.has_started(club.ann["id"])
    await club.say(club.admin, "/giveaway 1h 3 Hoodies")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    for user in (club.ann, club.ben, club.cid):
        await fake.press_button(message, user, data)
        await fake.wait_for("answerCallbackQuery")
    await club.say(club.admin, "/giveaway_end 1")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    winners_block = result.plain.split("Winners:")[1].split("Check the draw")[0]
    assert sorted(line.split(". ", 1)[1] for line in winners_block.strip().splitlines()) == [
        "Ann (id 11)",
        "Ben (id 12)",
        "Cid (id 13)",
    ]
    told = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 11, since=result.index)
    assert told.plain.startswith("🎉 You won the giveaway “Hoodies”!")
    await steward.idle()
    await asyncio.sleep(0.3)  # room for a retry, which must not come
    organiser = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 10)
    assert organiser.plain.startswith("🎁 Giveaway #1: I could not write to ")
    assert "Ann" not in organiser.plain and "Ben" in organiser.plain and "Cid" in organiser.plain
    private = [c["chat_id"] for c in fake.calls_of("sendMessage") if c["chat_id"] > 0]
    assert sorted(private) == [10, 11, 12, 13]
    users = steward.app.users
    assert [await users.private_status(uid) for uid in (11, 12, 13)] == [
        "reachable",
        "not_started",
        "blocked",
    ]
    assert await users.has_started(11) and not await users.has_started(13)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def _draw_with_entrants(steward, fake, club, command: str, user_ids: range):
    """Entries are stored straight through the repository: hundreds of button presses would
    only make the test slow, and entering by button is covered above."""
    await club.say(club.admin, command)
    await fake.wait_for("sendMessage", in_group)
    for uid in user_ids:
        written = await steward.app.giveaway_repo.add_entry(1, uid, f"Participant {uid}", 1)
        assert written is EntryWrite.ADDED
        fake.add_member(GROUP, fake.user(uid, f"Participant {uid}"))  # still in the group
    await club.say(club.admin, "/giveaway_end 1")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    listing = await fake.wait_for("sendDocument", in_group, since=result.index)
    await steward.idle()
    sent = [c for c in fake.calls_of("sendMessage") if in_group(c) and c.index >= result.index]
    assert not [c for c in sent if "went wrong" in c.plain]
    return sent, next(iter(listing.files.values())).decode()


async def test_a_large_draw_is_published_in_full_within_telegrams_limits(steward, fake, club):
    """400 entrants and 100 winners do not fit one message (4,096 characters): the result is
    still posted, every winner named, and the whole entrant list published as a file, so the
    draw can be checked (it was cut at 3,000 characters, or the post refused as too long)."""
    entrants = range(1_000_000_000, 1_000_000_400)
    sent, listing = await _draw_with_entrants(
        steward, fake, club, "/giveaway 1h 100 Stickers", entrants
    )
    text = "\n".join(c.plain for c in sent)
    seed = re.search(r"seed ([0-9a-f]{64})", text).group(1)
    commitment = re.search(r"sha256\(seed\) = ([0-9a-f]{64})", text).group(1)
    assert hashlib.sha256(seed.encode()).hexdigest() == commitment
    assert "Entrants (400): the full list is in the file below." in text
    assert [int(x) for x in listing.split()] == list(entrants)
    expected = sorted(entrants, key=lambda uid: ticket(seed, uid))[:100]
    named = re.findall(r"^(\d+)\. Participant (\d+) \(id \2\)$", text, re.MULTILINE)
    assert [int(uid) for _n, uid in named] == expected
    assert [int(n) for n, _uid in named] == list(range(1, 101))


async def test_private_entrants_beyond_one_message_are_all_published(steward, fake, club):
    """Sha-256 hashes take 65 characters each: the list of 60 no longer fits beside the rest
    (only 46 and a half were published before)."""
    entrants = range(100, 160)
    sent, listing = await _draw_with_entrants(
        steward, fake, club, "/giveaway 1h 1 Pin private", entrants
    )
    assert "Entrants (sha256 of ids, 60): the full list is in the file below." in sent[-1].plain
    assert listing.split() == [hashlib.sha256(str(u).encode()).hexdigest() for u in entrants]


async def test_a_condition_the_bot_cannot_check_is_refused_when_the_giveaway_is_made(
    steward, fake, club
):
    """The bot must be able to ask Telegram about membership in a required channel. Before,
    the giveaway was posted anyway and every member who pressed the button was refused ("I
    cannot check the subscription"), which the organiser learnt only from complaints."""
    await club.say(club.admin, "/giveaway 1h 1 Cap require=@newschan,@nosuchchan")
    refused = await fake.wait_for("sendMessage", in_group)
    assert refused.plain == (
        "I can't check who is subscribed to @nosuchchan. Add me to it as an admin, "
        "then start the giveaway again."
    )
    assert await steward.app.giveaway_repo.get(1) is None
    await fake.assert_no_call("sendMessage", within=0.5, since=refused.index + 1)


async def test_a_prize_too_long_to_announce_is_refused_with_the_limit(steward, fake, club):
    """A prize of a few thousand characters left the announcement over Telegram's 4,096: the
    admin read "I could not post the giveaway there: Bad Request: message is too long"."""
    await club.say(club.admin, "/giveaway 1h 1 " + "A very fine mug. " * 238)
    refused = await fake.wait_for("sendMessage", in_group)
    assert refused.plain.splitlines()[0] == (
        "The prize description is too long: at most 1000 characters."
    )
    assert await steward.app.giveaway_repo.get(1) is None
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage") if "could not post" in c.plain]
    await club.say(club.admin, "/giveaway 1h 1 " + "A very fine mug. " * 58)
    posted = await fake.wait_for("sendMessage", in_group, since=refused.index + 1)
    assert posted.plain.startswith("🎁 Giveaway #1: A very fine mug.")


@pytest.fixture
def amsterdam(bot_env):
    bot_env["TIMEZONE"] = "Europe/Amsterdam"


async def test_a_giveaway_end_time_is_shown_as_it_was_typed(amsterdam, steward, fake, club):
    """TIMEZONE is where managers type and read times: "/giveaway 18:00 …" in Amsterdam was
    announced as ending at 17:00 UTC (16:00 in summer)."""
    zone = ZoneInfo("Europe/Amsterdam")
    now = datetime.fromtimestamp(fake.now(), zone)
    end = now.replace(hour=18, minute=0, second=0, microsecond=0)
    if end <= now:
        end += timedelta(days=1)
    await club.say(club.admin, "/giveaway 18:00 1 Mug")
    announcement = await fake.wait_for("sendMessage", in_group)
    assert f"Ends: {end:%Y-%m-%d} 18:00 {end:%Z}." in announcement.plain.splitlines()[1]
    assert (await steward.app.giveaway_repo.get(1)).ends_at == int(end.timestamp())


async def test_manager_starting_a_quiz_for_a_chat_the_bot_is_not_in_is_told(steward, fake, club):
    """Before, "Quiz “…” starts" came back for any number, and then nothing happened anywhere:
    the poll was refused by Telegram and the manager never heard of it."""
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, QUIZ)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    await fake.send_message(private, manager, "/quiz_start 1 -1009999999999")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert refused.plain == "I can't find -1009999999999; add me to it as an admin first."
    await fake.assert_no_call("sendPoll", within=1.0)
    assert await steward.app.quiz_repo.running_in(-1009999999999) is None

    # a channel: Telegram refuses a poll that says who answered there. Before, "Quiz starts"
    # came, was taken back, and the manager was told to check the bot's rights
    mark = fake.mark()
    await fake.send_message(private, manager, "/quiz_start 1 @newschan")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert refused.plain == (
        "Quizzes run in groups: in a channel Telegram does not say who answered a poll, so "
        "nobody could be scored."
    )
    await fake.assert_no_call("sendPoll", within=0.5)

    mark = fake.mark()
    await fake.send_message(private, manager, f"/quiz_start 1 {GROUP} 5")
    started = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert started.plain.startswith("Quiz “Space basics” starts: 2 questions")
    assert (await fake.wait_for("sendPoll"))["chat_id"] == GROUP


async def test_a_giveaway_telegram_would_not_post_is_not_kept(steward, fake, club):
    """Before, the refused announcement left an open giveaway behind: re-armed at every start,
    drawn at its end time and its empty result posted in the channel out of nowhere (or
    refused again), and `/giveaway_verify 1` said it was not drawn yet."""
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    fake.fail("sendMessage", 403, description="Forbidden: bot is not a member of the channel chat")
    await fake.send_message(private, manager, "/giveaway @newschan 1d 3 Tickets")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert refused.plain.startswith("I could not post the giveaway there:")
    assert await steward.app.giveaway_repo.open_giveaways() == []
    await fake.send_message(private, manager, "/giveaway_verify 1")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert answer.plain == "There is no giveaway #1."


async def test_a_quiz_telegram_refuses_is_reported_where_it_was_started(steward, fake, club):
    """Before, a refused quiz poll stopped the run in silence (or with "Nobody answered"), and
    the admin who started it was never told."""
    await club.say(club.admin, QUIZ)
    await fake.wait_for("sendMessage", in_group)
    fake.fail("sendPoll", 400, description="Bad Request: not enough rights to send polls")
    mark = fake.mark()
    await club.say(club.admin, "/quiz_start 1 5")
    refusal = (
        "I could not post the quiz “Space basics” there: Telegram said “Bad Request: not "
        "enough rights to send polls”. Check my rights in that chat and start it again."
    )
    await fake.wait_for("sendMessage", lambda c: in_group(c) and c.plain == refusal, since=mark)
    await steward.idle()
    assert await steward.app.quiz_repo.running_in(GROUP) is None
    # members read "starts" before the first poll; when Telegram refuses the poll, that
    # announcement is taken back and only the refusal stays
    said = fake.calls_of("sendMessage", since=mark)
    assert not any("Results" in c.plain for c in said)
    left = [m for (chat, _), m in fake.messages.items() if chat == GROUP]
    assert not any("starts" in (m.get("text") or "") for m in left), left


async def test_a_quiz_refused_for_a_manager_in_private_is_told_in_their_language(
    steward, fake, club
):
    manager = fake.user(MANAGER_ID, "Manny", language_code="ru")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, QUIZ)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    fake.fail("sendPoll", 403, description="Forbidden: not enough rights to send polls")
    mark = fake.mark()
    await fake.send_message(private, manager, f"/quiz_start 1 {GROUP} 5")
    told = await fake.wait_for(
        "sendMessage",
        lambda c: c["chat_id"] == MANAGER_ID and "Не удалось" in c.plain,
        since=mark,
    )
    assert told.plain.startswith("Не удалось опубликовать викторину «Space basics»"), told.plain
    assert "Forbidden: not enough rights to send polls" in told.plain
    assert await steward.app.quiz_repo.running_in(GROUP) is None
    assert not [c for c in fake.calls_of("sendMessage", since=mark) if in_group(c)]


async def test_a_quiz_question_refused_mid_run_is_told_to_its_starter(steward, fake, club):
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, QUIZ)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    await fake.send_message(private, manager, f"/quiz_start 1 {GROUP} 5")
    await fake.wait_for("sendPoll")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Quiz “Space basics” starts"))
    fake.fail("sendPoll", 400, description="Bad Request: not enough rights to send polls")
    mark = fake.mark()
    told = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark, timeout=15
    )
    assert told.plain == (
        "The quiz “Space basics” stopped: Telegram refused its next question (“Bad Request: "
        "not enough rights to send polls”). Check my rights in that chat."
    )
    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, since=mark)
    assert in_group(results)
    assert await steward.app.quiz_repo.running_in(GROUP) is None


async def test_a_quiz_stopped_mid_run_tries_its_starter_once_and_records_the_refusal(
    steward, fake, club
):
    """The starter's note is a private note like any other: an admin who started the quiz in
    the group and never pressed Start costs one refused call, and the bot's record of them
    says so (before, the refusal was swallowed and nothing was recorded)."""
    await club.say(club.admin, QUIZ)
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await club.say(club.admin, "/quiz_start 1 5")
    await fake.wait_for("sendPoll")
    fake.fail("sendPoll", 400, description="Bad Request: not enough rights to send polls")
    mark = fake.mark()
    await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, since=mark, timeout=15)
    await steward.idle()
    tried = [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == 10]
    assert len(tried) == 1
    assert await steward.app.users.private_status(club.admin["id"]) == "not_started"


async def test_a_quiz_an_anonymous_admin_started_is_stopped_without_writing_to_a_bot(
    steward, fake, club
):
    """Posted as the group, /quiz_start named GroupAnonymousBot as the starter: when Telegram
    refused a later question the bot wrote to that bot, which no bot can."""
    anonymous = fake.user(1087968824, "Group", is_bot=True, language_code=None)
    await club.say(anonymous, QUIZ, sender_chat=club.chat)
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await club.say(anonymous, "/quiz_start 1 5", sender_chat=club.chat)
    await fake.wait_for("sendPoll")
    fake.fail("sendPoll", 400, description="Bad Request: not enough rights to send polls")
    mark = fake.mark()
    await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, since=mark, timeout=15)
    await steward.idle()
    assert [c["chat_id"] for c in fake.calls_of("sendMessage", since=mark)] == [GROUP]


async def test_a_manager_stops_from_private_the_quiz_they_started_from_private(steward, fake, club):
    """Before, /quiz_stop worked in groups only: a manager who started a quiz from private
    (/quiz_start <id> <chat id>) got "This command works in groups only." and could not stop
    it. The group form is unchanged (test_quiz_stop_ends_early_with_results)."""
    manager = fake.user(MANAGER_ID, "Manny")
    private = fake.private_chat(manager)
    await fake.send_message(private, manager, QUIZ)
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    await fake.send_message(private, manager, f"/quiz_start 1 {GROUP} 60")
    await fake.wait_for("sendPoll")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Quiz “Space basics” starts"))

    mark = fake.mark()
    await fake.send_message(private, manager, "/quiz_stop")
    usage = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert usage.plain == "In private, name the chat: /quiz_stop <chat id>"
    assert await steward.app.quiz_repo.running_in(GROUP) is not None

    mark = fake.mark()
    await fake.send_message(private, manager, "/quiz_stop -1009999999999")
    none = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert none.plain == "No quiz is running in -1009999999999."

    mark = fake.mark()
    await fake.send_message(private, manager, f"/quiz_stop {GROUP}")
    await fake.wait_for("stopPoll", since=mark)
    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, since=mark)
    assert in_group(results)
    done = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert done.plain == f"The quiz in {GROUP} is stopped; its results are posted there."
    assert await steward.app.quiz_repo.running_in(GROUP) is None
    await fake.assert_no_call("sendPoll", within=0.5, since=mark)


async def test_quiz_stop_from_private_is_for_managers_only(steward, fake, club):
    private = fake.private_chat(club.ann)
    await fake.send_message(private, club.ann, f"/quiz_stop {GROUP}")
    refused = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == club.ann["id"])
    assert refused.plain == (
        "Here only Steward's managers can use this command; chat admins use it in their group."
    )


async def test_a_result_telegram_will_not_post_reaches_the_organiser(steward, fake, club):
    """The bot removed from the group before the draw: the result used to be lost (the
    giveaway marked drawn, the winners told nothing). Now the draw stands, the winners are
    tried privately and the organiser gets the result to post."""
    private = fake.private_chat(club.admin)
    await fake.send_message(private, club.admin, "/start")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 10)
    await club.say(club.admin, "/giveaway 1h 1 Book")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake.press_button(message, club.ann, data)
    await fake.wait_for("answerCallbackQuery")
    fake.fail("sendMessage", 403, description="Forbidden: bot was kicked from the supergroup chat")
    mark = fake.mark()
    await club.say(club.admin, "/giveaway_end 1")

    def to_admin(call) -> bool:
        return call["chat_id"] == 10

    head = await fake.wait_for(
        "sendMessage", lambda c: to_admin(c) and "would not let me post" in c.plain, since=mark
    )
    assert "bot was kicked" in head.plain and head.plain.startswith("🎁 Giveaway #1 is drawn")
    result = await fake.wait_for(
        "sendMessage", lambda c: to_admin(c) and "is over" in c.plain, since=mark
    )
    assert "Ann" in result.plain
    await steward.idle()
    assert (await steward.app.giveaways.get(1)).status.value == "drawn"


@pytest.mark.usefixtures("db_engine")  # the conditional insert, on PostgreSQL too
async def test_a_press_whose_check_outlasts_the_draw_is_not_entered_after_it(steward, fake, club):
    """Ann pressed Participate just before the end; Telegram took a while to answer whether she
    is in the group, and the draw (here /giveaway_end) ran meanwhile without her. Her entry was
    still written after the draw and she read "You are in!": the published entrant list lacked
    her, and /giveaway_verify, recomputing from the stored entries, called the fair draw ❌."""
    await club.say(club.admin, "/giveaway 1h 1 Early bird ticket")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.fail("getChatMember", 200, delay=1.5)  # answered, but late
    await fake.press_button(message, club.ann, data)
    await fake.wait_for("getChatMember")
    await club.say(club.admin, "/giveaway_end 1")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, timeout=10)
    assert "Nobody could win" in result.plain
    answer = await fake.wait_for("answerCallbackQuery", timeout=10)
    assert answer["text"] == "This giveaway is over."
    mark = fake.mark()
    await club.say(club.ann, "/giveaway_verify 1")
    verified = await fake.wait_for("sendMessage", in_group, since=mark)
    assert verified.plain.count("✅") == 2 and "the 0 entrants" in verified.plain


async def test_answers_given_while_the_bot_was_down_count_after_a_restart(steward, fake, club):
    """Ann and Ben answered the last question while the bot was down; Telegram kept their
    poll_answer updates. At start the overdue timer finished the run before polling read
    them, so the results said "Nobody answered." and the season table stayed empty."""
    await club.say(club.admin, "/quiz_add Quick\nQ: 2+2?\n+ 4\n- 5")
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await club.say(club.admin, "/quiz_start 1 5")
    poll = await fake.wait_for("sendPoll")
    options = [o["text"] if isinstance(o, dict) else o for o in poll["options"]]
    poll_id = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]["poll"]["id"]
    await steward.idle()
    await steward.stop()
    await fake.answer_poll(poll_id, club.ann, options.index("4"))
    await fake.answer_poll(poll_id, club.ben, options.index("5"))
    await asyncio.sleep(7.5)  # the poll closed and the next step fell due meanwhile
    await steward.start()
    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, timeout=15)
    lines = results.plain.splitlines()
    assert lines[1].startswith("🥇 Ann — 1 correct"), results.plain
    assert lines[2].startswith("🥈 Ben — 0 correct")
    seconds = float(lines[1].rsplit(", ", 1)[1].rstrip("s"))
    assert seconds <= 5  # the poll was open 5 s: not charged the time the bot was down


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_a_quiz_question_whose_process_died_before_posting_it_is_asked_after_restart(
    steward, fake, club
):
    """The process died after the second question fell due and before its poll was sent (it
    waited for its send slot): the run had already moved to the third, so after the restart
    the third was asked and the second never was. Now the question is asked after the
    restart, and none twice."""
    await club.say(
        club.admin, "/quiz_add Trio\nQ: One?\n+ a\n- b\nQ: Two?\n+ c\n- d\nQ: Three?\n+ e\n- f"
    )
    await fake.wait_for("sendMessage", lambda c: "saved" in c.plain)
    await club.say(club.admin, "/quiz_start 1 5")
    await fake.wait_for("sendPoll")
    app = steward.app
    pacer = app.outbound.pacer
    take = pacer.take
    waiting = asyncio.Event()

    async def never_for_the_group(chat_id, cost=1):
        if chat_id == GROUP:
            waiting.set()
            await asyncio.Event().wait()  # the slot never comes: the process dies waiting
        return await take(chat_id, cost)

    pacer.take = never_for_the_group
    await asyncio.wait_for(waiting.wait(), 20)
    app.scheduler.shutdown(wait=False)  # killed: no timer, no handler goes on
    steward.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await steward.task
    steward.app = steward.task = None
    await steward.start()
    await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, timeout=40)
    questions = [c["question"] for c in fake.calls_of("sendPoll")]
    assert questions == ["Question 1/3: One?", "Question 2/3: Two?", "Question 3/3: Three?"]


async def test_a_reroll_from_private_is_announced_in_the_chats_language(steward, fake, club):
    """A Russian-speaking manager rerolled an English group's giveaway from private: the
    group read "Новые победители розыгрыша #1 …" (the draw's result was in English, as the
    chat speaks). The public post is in the chat's language, the manager's copy in theirs."""
    order = await book_drawn_among_three(club, fake)
    manager = fake.user(MANAGER_ID, "Манни", language_code="ru")
    private = fake.start_bot(manager)
    mark = fake.mark()
    await fake.send_message(private, manager, "/reroll 1")
    public = await fake.wait_for("sendMessage", in_group, since=mark)
    names = {11: "Ann", 12: "Ben", 13: "Cid"}
    assert public.plain.splitlines() == [
        "New winners of giveaway #1 (next in the same draw order):",
        f"1. {names[order[1]]} (id {order[1]})",
    ]
    copy = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert copy.plain.startswith("Новые победители розыгрыша #1"), copy.plain


async def test_a_required_channel_the_bot_can_no_longer_check_passes_no_one_over(
    steward, fake, club
):
    """Ann and Ben entered, subscribed to @newschan as checked then; before the draw the bot
    lost its admin rights there, so Telegram would not say who is subscribed. Every entrant
    was skipped ("I cannot check the subscription"), nobody won, and a draw cannot be redone.
    As with the giveaway's own chat, nobody is passed over for what the bot cannot check."""
    fake.add_member(CHANNEL, club.ann)
    fake.add_member(CHANNEL, club.ben)
    await club.say(club.admin, "/giveaway 1h 1 Mug require=@newschan")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    for user in (club.ann, club.ben):
        await fake.press_button(message, user, data)
        await fake.wait_for("answerCallbackQuery", lambda c: "You are in" in c["text"])
    fake.fail(
        "getChatMember", 400, description="Bad Request: member list is inaccessible", times=20
    )
    await club.say(club.admin, "/giveaway_end 1")
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain)
    assert "Skipped" not in result.plain and "Nobody could win" not in result.plain
    assert len(winner_ids(result.plain)) == 1


async def test_a_question_still_on_its_way_when_the_quiz_is_stopped_is_taken_back(
    steward, fake, club
):
    """/quiz_stop while the next question was on its way (Telegram slow to answer, or the
    chat's send rate paused): the results came, then the question appeared under them and
    stayed open for its full time, in a quiz that was over."""
    await club.say(club.admin, QUIZ)
    await fake.wait_for("sendMessage", in_group)
    await club.say(club.admin, "/quiz_start 1 5")
    await fake.wait_for("sendPoll")
    fake.fail("sendPoll", 200, delay=2.0)  # the second question: posted, but answered late
    await fake.wait_for("sendPoll", since=0, count=2, timeout=15)
    await club.say(club.admin, "/quiz_stop")
    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain)
    await steward.idle()
    await asyncio.sleep(2.5)
    polls = [m for (c, _), m in fake.messages.items() if c == GROUP and "poll" in m]
    assert len(polls) == 1, "the late question is gone"
    assert results.plain.splitlines()[1] == "Nobody answered."


async def test_a_reroll_left_unfinished_by_a_dead_process_does_not_block_the_next(
    steward, fake, club
):
    """A single worker that died mid-reroll left the giveaway's row taken: after the restart
    a /reroll waited for that lease to run out (three minutes, holding the chat's updates).
    With no other worker, a lease left behind is a dead one's, and the reroll takes it."""
    order = await book_drawn_among_three(club, fake)
    await steward.idle()
    await steward.app.giveaway_repo.claim_reroll(1, 0, int(time.time()) + 180)
    await steward.restart()
    mark = fake.mark()
    await club.say(club.admin, "/reroll 1")
    rerolled = await fake.wait_for("sendMessage", lambda c: "New winners" in c.plain, since=mark)
    assert winner_ids(rerolled.plain) == [order[1]]


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_a_draw_killed_before_its_result_was_posted_is_announced_at_start_once(
    steward, fake, club
):
    """The worker died after the winners were stored ("drawn") and before the result went
    out: nothing ever posted it. At start the stored draw is announced, once, whatever the
    number of restarts, and never drawn again."""
    await club.say(club.admin, "/giveaway 1h 1 Mug")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    for user in (club.ann, club.ben):
        await fake.press_button(message, user, data)
        await fake.wait_for("answerCallbackQuery")
    await steward.idle()
    settings = steward.settings
    await steward.stop()
    # the state a kill leaves right after the draw was stored
    db = Database(settings.database)
    await db.open()
    try:
        repo = GiveawayRepository(db)
        assert await repo.claim_draw(1, int(time.time()) + 30)
        await repo.add_result(1, 12, DrawOutcome.WON, None, 0, 0)
        await repo.finish_draw(1, int(time.time()))
    finally:
        await db.close()
    mark = fake.mark()
    await steward.start()
    result = await fake.wait_for("sendMessage", lambda c: "is over" in c.plain, since=mark)
    assert winner_ids(result.plain) == [12]  # the stored winner, not a new draw
    winner_note = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 12, since=mark)
    assert "won" in winner_note.plain
    await steward.idle()
    await steward.restart()
    await steward.idle()
    await asyncio.sleep(0.5)
    assert len([c for c in fake.calls_of("sendMessage") if "is over" in c.plain]) == 1
    mark = fake.mark()
    await club.say(club.admin, "/giveaway_end 1")
    reply = await fake.wait_for("sendMessage", in_group, since=mark)
    assert reply.plain == "Giveaway #1 was already drawn."


async def test_two_workers_at_start_announce_a_pending_result_once(steward, fake, club):
    """Two workers starting together both find the drawn, unannounced giveaway: its lease
    lets one post the result."""
    await club.say(club.admin, "/giveaway 1h 1 Mug")
    announcement = await fake.wait_for("sendMessage", in_group)
    message = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    data = announcement["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake.press_button(message, club.ann, data)
    await fake.wait_for("answerCallbackQuery")
    await steward.idle()
    app = steward.app
    repo = app.giveaway_repo
    assert await repo.claim_draw(1, int(time.time()) - 1)  # its worker died: the lease ran out
    await repo.add_result(1, 11, DrawOutcome.WON, None, 0, 0)
    await repo.finish_draw(1, int(time.time()))
    other_worker = GiveawayService(
        app.bot,
        GiveawayRepository(app.db),
        app.users,
        app.role_service,
        app.scheduler,
        app.i18n,
        app.locale_for,
        notes=app.notes,
    )
    other_worker.shared = app.giveaways.shared = True
    mark = fake.mark()
    await asyncio.gather(app.giveaways.rearm_all(), other_worker.rearm_all())
    await asyncio.sleep(0.3)
    posted = [c for c in fake.calls_of("sendMessage", since=mark) if "is over" in c.plain]
    assert len(posted) == 1 and winner_ids(posted[0].plain) == [11]
    giveaway = await repo.get(1)
    assert giveaway is not None and giveaway.lease_until is None  # given back for a /reroll


async def test_an_answer_arriving_before_its_poll_is_stored_still_counts(steward, fake, club):
    """Telegram gives the poll's id only in sendPoll's answer: a quick member's vote can reach
    the bot before the poll's row is written. It was dropped as an answer to an unknown poll;
    it now waits briefly for the row and counts."""
    await club.say(club.admin, QUIZ)
    await fake.wait_for("sendMessage", in_group)
    repo = steward.app.runner.repo
    stored = asyncio.Event()
    add_poll = repo.add_poll

    async def slow_add_poll(*args, **kwargs):  # the row lands after the vote
        await asyncio.sleep(1.0)
        await add_poll(*args, **kwargs)
        stored.set()

    repo.add_poll = slow_add_poll
    await club.say(club.admin, "/quiz_start 1 5")
    first = await fake.wait_for("sendPoll")
    poll1 = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]["poll"]["id"]
    options = [o["text"] if isinstance(o, dict) else o for o in first["options"]]
    assert not stored.is_set()
    await fake.answer_poll(poll1, club.ann, options.index("Jupiter"))
    await asyncio.wait_for(stored.wait(), 5)
    await steward.idle()  # the vote's handler done: /quiz_stop must not overtake it
    await club.say(club.admin, "/quiz_stop")
    results = await fake.wait_for("sendMessage", lambda c: "Results" in c.plain, timeout=15)
    assert results.plain.splitlines()[1].startswith("🥇 Ann — 1 correct")


async def test_a_required_channel_pasted_as_a_link_is_checked_as_the_channel(steward, fake, club):
    """`require=https://t.me/newschan` was asked of Telegram as written: "I can't check who is
    subscribed to https://t.me/newschan", though the bot is the channel's admin."""
    await club.say(club.admin, "/giveaway 1h 1 Mug require=https://t.me/newschan")
    announcement = await fake.wait_for("sendMessage", in_group)
    assert "Condition: be subscribed to @newschan." in announcement.plain.splitlines()
