"""End-to-end reputation watch: complaints to the support chat, staff lessons, /watch mentions,
mood spikes and 👎 reactions. The messages were written for these tests; none is a shipped
example."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID

GROUP = -1001234500088
OTHER = -1001234500099
SUPPORT = -1009999900088

COMPLAINT = (
    "I ordered headphones two weeks ago, the tracking still says processing and nobody from "
    "your support answers my emails. Really fed up."
)
QUESTION = "Hi, does the shop also deliver to Belgium, and how long does it usually take?"
BORDERLINE = "The coffee machine I got leaks water from the bottom after one week"
COMPLAINTS = [
    "The new AcmePhone update drained my battery in three hours, this is unacceptable",
    "Second time this month my payment went through but the order was cancelled anyway",
    "Your app keeps crashing every time I open the basket, I can't finish my order",
    "The courier left my parcel at the wrong address and refuses to pick it up",
    "I have been charged twice for the same subscription and support ignores me",
    "Waited on the hotline for an hour and then the call just dropped",
    "The discount code from your newsletter does not work at checkout, what a joke",
    "My refund was promised ten days ago and there is still nothing on my card",
    "The jacket came with a broken zipper and the return form on the site gives an error",
    "Ordered a large pizza, got a small one, cold, and an hour late",
    COMPLAINT,
]


@pytest.fixture
def bot_env(bot_env):
    bot_env["SUPPORT_CHAT_ID"] = str(SUPPORT)
    return bot_env


class Shop:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chat = fake.add_chat(GROUP, title="Shop chat")  # private supergroup: t.me/c links
        self.other = fake.add_chat(OTHER, title="Fans club", username="fansclub")
        self.support = fake.add_chat(SUPPORT, title="Staff")
        self.staff = fake.user(400, "Sam")
        self.member = fake.user(200, "Bob")
        self.members = [fake.user(210 + i, f"Member {i}") for i in range(12)]
        self.manager = fake.user(MANAGER_ID, "Manny")
        fake.add_member(SUPPORT, self.staff, "administrator")
        for chat_id in (GROUP, OTHER):
            fake.add_member(chat_id, self.member)
            for user in self.members:
                fake.add_member(chat_id, user)

    async def say(self, user, text, chat=None):
        return await self.fake.send_message(chat or self.chat, user, text)

    async def manager_says(self, text):
        return await self.fake.send_message(
            self.fake.private_chat(self.manager), self.manager, text
        )


@pytest.fixture
def shop(fake: FakeTelegram) -> Shop:
    return Shop(fake)


@pytest.fixture
async def trained(steward):
    if steward.app.reputation_training is not None:
        await steward.app.reputation_training
    assert steward.app.reputation.classifier.ready
    return steward


def to_support(call) -> bool:
    return call["chat_id"] == SUPPORT


async def test_a_complaint_reaches_the_support_chat_but_a_neutral_question_does_not(
    trained, steward, fake, shop
):
    question = await shop.say(shop.member, QUESTION)
    await steward.idle()
    # no FAQ here: the question is relayed as an ordinary question, not as a complaint
    relay = await fake.wait_for("sendMessage", to_support)
    assert relay.plain.startswith("❓")
    assert "complaint" not in relay.plain
    mark = fake.mark()
    complaint = await shop.say(shop.members[0], COMPLAINT)
    ticket = await fake.wait_for("sendMessage", to_support, since=mark)
    assert ticket.plain.startswith("⚠️ complaint #2 from Member 0 (id 210) in Shop chat:")
    assert COMPLAINT in ticket.plain
    assert f"https://t.me/c/1234500088/{complaint['message_id']}" in ticket.plain
    assert "Not a complaint" in str(ticket["reply_markup"])
    await steward.idle()
    # one ticket for the complaint: the FAQ stage did not relay it a second time
    assert len(fake.calls_of("sendMessage", since=mark)) == 1
    assert question["message_id"] != complaint["message_id"]
    # staff answer it like any relayed question: the answer goes back to the group
    relayed = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    await fake.send_message(shop.support, shop.staff, "Sorry! We are on it.", reply_to=relayed)
    answer = await fake.wait_for("copyMessage", lambda c: c["chat_id"] == GROUP)
    assert answer["reply_parameters"]["message_id"] == complaint["message_id"]


async def test_a_complaint_reaches_the_staff_in_their_language_not_the_askers(
    trained, steward, fake, shop
):
    """The staff read the ticket: like any relayed question, its header and button speak the
    support chat's language, whatever language the complaining member's app uses."""
    russian = fake.user(260, "Ivan", language_code="ru")
    fake.add_member(GROUP, russian)
    await shop.say(
        russian,
        "Заказал наушники две недели назад, трекинг до сих пор пишет «в обработке», "
        "а поддержка не отвечает на письма. Очень надоело.",
    )
    ticket = await fake.wait_for("sendMessage", to_support)
    assert ticket.plain.startswith("⚠️ complaint #1 from Ivan (id 260) in Shop chat:")
    assert ticket.plain.endswith(
        "Reply to this message to answer; /block to stop this member's messages."
    )
    assert "Not a complaint" in str(ticket["reply_markup"])


async def test_not_a_complaint_teaches_the_classifier(trained, steward, fake, shop):
    await shop.say(shop.member, BORDERLINE)
    ticket = await fake.wait_for("sendMessage", to_support)
    assert ticket.plain.startswith("⚠️ complaint")
    relayed = fake.messages[(SUPPORT, max(m for c, m in fake.messages if c == SUPPORT))]
    button = relayed["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake.press_button(relayed, shop.staff, button)
    edited = await fake.wait_for("editMessageText", lambda c: c["chat_id"] == SUPPORT)
    assert "Marked as not a complaint by Sam" in edited.plain
    await steward.idle()
    assert await steward.app.reputation.repo.lessons() == [(BORDERLINE, False)]
    # the same text again, from someone else: not flagged, it goes the ordinary way
    mark = fake.mark()
    await shop.say(shop.members[1], BORDERLINE)
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage", since=mark) if "complaint" in c.plain]
    # the lesson survives a restart
    await steward.restart()
    if steward.app.reputation_training is not None:
        await steward.app.reputation_training
    verdict = await steward.app.reputation.classifier.classify(BORDERLINE)
    assert verdict is not None and not verdict.is_complaint and verdict.lesson is False
    # a second press changes nothing
    mark = fake.mark()
    await fake.press_button(relayed, shop.staff, button)
    answer = await fake.wait_for("answerCallbackQuery", since=mark)
    assert "Already" in answer["text"]


async def test_watch_reports_a_mention_in_another_chat(trained, steward, fake, shop):
    await shop.manager_says("/watch AcmePhone")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert "Watching «AcmePhone» (#1) in every chat I am in" in reply.plain
    await shop.say(shop.member, "Just bought the AcmePhone case in blue, love it", chat=shop.other)
    await shop.say(shop.member, "nothing about phones here", chat=shop.chat)
    await steward.idle()
    mark = fake.mark()
    assert await steward.app.reputation_notes.mentions_digest() == 1
    digest = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert digest.plain.startswith("🔎 1 new mention of your watched terms:")
    assert "«AcmePhone» · Fans club · Bob: Just bought the AcmePhone case" in digest.plain
    assert "https://t.me/c/1234500099/" in digest.plain
    # a mention that is also a complaint comes at once, and as a ticket
    mark = fake.mark()
    await shop.say(shop.members[2], COMPLAINTS[0], chat=shop.other)
    note = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert note.plain.startswith("⚠️ A complaint mentions AcmePhone in Fans club, from Member 2:")
    assert "https://t.me/fansclub/" in note.plain
    # reported mentions are not repeated; the complaint one waits for the next digest
    await steward.idle()
    mark = fake.mark()
    assert await steward.app.reputation_notes.mentions_digest() == 1
    digest = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert "⚠️ «AcmePhone»" in digest.plain and "case in blue" not in digest.plain
    # /watches lists it, /unwatch removes it, with an undo
    mark = fake.mark()
    await shop.manager_says("/watches")
    listing = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert "#1 «AcmePhone» · everywhere" in listing.plain
    mark = fake.mark()
    await shop.manager_says("/unwatch acmephone")
    done = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert done.plain.startswith("Stopped watching «AcmePhone».")
    assert steward.app.reputation.watches == []


async def test_a_digest_of_emoji_heavy_mentions_fits_one_message(trained, steward, fake, shop):
    """Telegram counts a message's 4,096 in UTF-16 units, where an emoji is two: a digest
    budgeted in code points was twice too long for it and refused."""
    await shop.manager_says("/watch AcmePhone")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    for member in shop.members[:8]:
        text = f"{member['first_name']} loves the AcmePhone " + "🎉" * 320
        await shop.say(member, text, chat=shop.other)
        await steward.idle(30)
    mark = fake.mark()
    assert await steward.app.reputation_notes.mentions_digest() == 8
    digest = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert len(digest.plain.encode("utf-16-le")) // 2 <= 4096
    assert digest.plain.startswith("🔎 8 new mentions of your watched terms:")
    assert digest.plain.count("«AcmePhone» · Fans club") == 8


async def test_watch_limited_to_one_chat(trained, steward, fake, shop):
    await shop.manager_says("/watch acme @fansclub")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    assert "in Fans club" in reply.plain
    await shop.say(shop.member, "acme is fine", chat=shop.chat)
    await shop.say(shop.member, "acme is fine", chat=shop.other)
    await steward.idle()
    pending = await steward.app.reputation.pending_mentions()
    assert [m.chat_id for m in pending] == [OTHER]


async def test_watches_lists_every_term_even_when_they_fill_more_than_a_message(
    steward, fake, shop
):
    """A hundred long terms (the most allowed) are longer than one message: /watches was cut
    at 4,000 characters, so the later terms (and their ids for /unwatch) never showed."""
    for n in range(100):
        await steward.app.reputation.add_watch(f"R&D term {n:03d} " + "z" * 48, None, MANAGER_ID)
    mark = fake.mark()
    await shop.manager_says("/watches")
    await fake.wait_for("sendMessage", since=mark, count=2)
    await steward.idle()
    sent = [c.plain for c in fake.calls_of("sendMessage", mark) if c["chat_id"] == MANAGER_ID]
    assert all(len(text) <= 4096 for text in sent)
    listed = "\n".join(sent)
    assert all(f"«R&D term {n:03d} " in listed for n in range(100))


async def test_unwatch_by_a_term_watched_in_two_places_asks_which(steward, fake, shop):
    """/unwatch acme stopped the first of «acme» in Fans club and «acme» everywhere and said
    'Stopped watching «acme»' while the other still watched it."""
    await shop.manager_says("/watch acme @fansclub")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    await shop.manager_says("/watch ACME")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID)
    mark = fake.mark()
    await shop.manager_says("/unwatch acme")
    asked = await fake.wait_for("sendMessage", since=mark)
    assert asked.plain.splitlines()[1:] == [
        "#1 «acme» · Fans club",
        "#2 «ACME» · everywhere",
        "Example: /unwatch 1",
    ]
    assert len(steward.app.reputation.watches) == 2
    await shop.manager_says("/unwatch 2")
    stopped = await fake.wait_for("sendMessage", lambda c: "Stopped" in c.plain)
    assert stopped.plain == "Stopped watching «ACME»."
    assert [w.id for w in steward.app.reputation.watches] == [1]


async def test_a_member_cannot_use_watch(steward, fake, shop):
    await fake.send_message(fake.private_chat(shop.member), shop.member, "/watch acme")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == shop.member["id"])
    assert "manager" in reply.plain.lower()
    await steward.idle()
    assert steward.app.reputation.watches == []


async def test_a_mood_spike_alerts_the_managers_once(trained, steward, fake, shop):
    await shop.manager_says("/start")
    await steward.idle()
    repo = steward.app.reputation.repo
    today = date.fromisoformat(steward.app.reputation.today())
    # four usual weeks: 100 messages a day, one complaint
    await repo.add_mood(
        {(GROUP, (today - timedelta(days=d)).isoformat()): (100, 1) for d in range(1, 29)}
    )
    mark = fake.mark()
    for user, text in zip(shop.members[:9], COMPLAINTS[:9], strict=True):
        await shop.say(user, text)
    await steward.idle()
    assert not fake.calls_of("sendMessage", since=mark) or not [
        c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == MANAGER_ID
    ]
    await shop.say(shop.members[9], COMPLAINTS[9])  # the tenth
    alert = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert alert.plain.startswith("📉 Mood alert in Shop chat: 10 of 10 messages today")
    assert "the usual 1.0%" in alert.plain
    mark = fake.mark()
    await shop.say(shop.members[10], COMPLAINTS[10])
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == MANAGER_ID]
    # the /stats report shows the mood, its chart the complaint share
    mark = fake.mark()
    await steward.app.stats.send_report(MANAGER_ID, GROUP, 7, "en")
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    # six usual days (100 messages, one complaint each) and today's 11 of 11
    assert "😟 Mood: 17 complaints in 611 messages (2.8%)." in report.plain
    assert f"Worst day: {today.isoformat()}, 100.0% complaints." in report.plain
    assert await fake.wait_for("sendPhoto", since=mark)


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_many_thumbs_down_alert_once(steward, fake, shop):
    await shop.manager_says("/start")
    await steward.idle()
    post = await shop.say(shop.member, "We changed the opening hours, see the pinned message")
    mark = fake.mark()
    for user in shop.members[:4]:
        await fake.react(GROUP, post["message_id"], user, ["👎"])
    await fake.react(GROUP, post["message_id"], shop.members[0], ["👍"], old=["👎"])  # changed
    await fake.react(GROUP, post["message_id"], shop.members[4], ["👎"])
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == MANAGER_ID]
    await fake.react(GROUP, post["message_id"], shop.members[5], ["👎"])  # the fifth
    alert = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert alert.plain.startswith("👎 A message in Shop chat drew 5 👎 reactions:")
    assert f"https://t.me/c/1234500088/{post['message_id']}" in alert.plain
    mark = fake.mark()
    await fake.react(GROUP, post["message_id"], shop.members[6], ["👎"])
    await steward.idle()
    assert not [c for c in fake.calls_of("sendMessage", since=mark) if c["chat_id"] == MANAGER_ID]


async def test_the_mood_line_of_stats_agrees_with_its_numbers_in_every_language(
    steward, fake, shop
):
    """The mood line said "0 of 1 message were complaints": it took its plural from the
    messages alone. Each number now has its own plural form, in en, ru and nl."""
    await shop.manager_says("/start")
    await steward.idle()
    repo = steward.app.reputation.repo
    today = date.fromisoformat(steward.app.reputation.today())
    await repo.add_mood({(GROUP, today.isoformat()): (1, 0)})
    expected = {
        "en": "😟 Mood: 0 complaints in 1 message (0.0%).",
        "ru": "😟 Настроение: 0 жалоб на 1 сообщение (0.0%).",
        "nl": "😟 Stemming: 0 klachten in 1 bericht (0.0%).",
    }
    for locale, line in expected.items():
        mark = fake.mark()
        await steward.app.stats.send_report(MANAGER_ID, GROUP, 7, locale)
        report = await fake.wait_for(
            "sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark
        )
        assert line in report.plain.splitlines()
    await repo.add_mood({(GROUP, (today - timedelta(days=1)).isoformat()): (20, 1)})
    mark = fake.mark()
    await steward.app.stats.send_report(MANAGER_ID, GROUP, 7, "ru")
    report = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert "😟 Настроение: 1 жалоба на 21 сообщение (4.8%)." in report.plain.splitlines()
