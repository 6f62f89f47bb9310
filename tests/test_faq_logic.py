"""FAQ without Telegram: languages, command arguments, scopes, import and export, votes."""

from __future__ import annotations

import json

import pytest

from bot.faq.service import FaqService, choose_language, parse_add_args
from bot.faq.transfer import export_json, parse_import
from bot.texts import telegram_html
from storage.database import Database
from storage.faq import Answer, FaqRepository
from tests.fake_telegram import parse_html

LANGS = ("en", "ru", "nl")


def test_language_trust_order():
    both = ["en", "ru"]
    # short text: Telegram's language_code first
    assert choose_language(both, "ru", "wifi?", "en") == "ru"
    # no usable language_code: the text itself
    assert choose_language(both, None, "какой пароль от сети?", "en") == "ru"
    # nothing known: the chat's default
    assert choose_language(both, None, "wifi?", "ru") == "ru"
    assert choose_language(["nl"], "ru", "anything", "en") == "nl"  # only what exists


def test_long_text_language_beats_phone_setting():
    long_russian = "подскажите пожалуйста какой сейчас пароль от гостевой сети в зале"
    assert choose_language(["en", "ru"], "en", long_russian, "en") == "ru"


def test_add_arguments_keep_answer_formatting_and_language_prefix():
    args = parse_add_args(
        "ru: Когда открыто?; Часы работы | С 9 до 18",
        "ru: Когда открыто?; Часы работы | <b>С 9</b> до 18",
        LANGS,
    )
    assert args.language == "ru"
    assert args.phrasings == ["Когда открыто?", "Часы работы"]
    assert args.answer_html == "<b>С 9</b> до 18"
    assert parse_add_args("", "", LANGS) is None
    no_answer = parse_add_args("just a question", "just a question", LANGS)
    assert no_answer.answer_html == "" and no_answer.phrasings == ["just a question"]
    assert parse_add_args("de: Frage | Antwort", "de: Frage | Antwort", LANGS).language is None


def test_import_formats_and_rejections():
    csv_plan = parse_import(
        "x.csv",
        b"question,answer,language\nA?,One,en\nB?,One,en\n,x,en\nC?,Two,fr\n",
        LANGS,
    )
    assert [len(e.phrasings) for e in csv_plan.entries] == [2]
    assert csv_plan.rejected == [("line 4", "empty"), ("line 5", "language")]
    with pytest.raises(ValueError):
        parse_import("x.csv", b"foo,bar\n1,2\n", LANGS)
    with pytest.raises(ValueError):
        parse_import("x.json", b"{not json", LANGS)
    json_plan = parse_import(
        "x.json",
        json.dumps(
            {"entries": [{"id": 4, "phrasings": {"en": ["Q"]}, "answers": {"en": "A"}}, {}]}
        ).encode(),
        LANGS,
    )
    assert [e.id for e in json_plan.entries] == [4]
    assert json_plan.rejected == [("#2", "empty")]


@pytest.fixture
async def repo(db_target):
    db = Database(db_target)
    await db.open()
    yield FaqRepository(db)
    await db.close()


async def test_scopes_keep_other_chats_entries_out(repo):
    await repo.add(-1, "en", [("en", "Where can I park my car?")], Answer("en", "A1"), None, 1)
    await repo.add(-2, "en", [("en", "Where can I park my bike?")], Answer("en", "A2"), None, 1)
    await repo.add(None, "en", [("en", "What is the wifi password?")], Answer("en", "W"), None, 1)
    faq = FaqService(repo)
    decision = await faq.decide("where do I park my bike?", -1)
    assert decision.match.entry_id == 1  # chat -2's better match is not visible in chat -1
    assert (await faq.decide("wifi password please?", -2)).match.entry_id == 3  # global
    assert (await faq.decide("where do I park my bike?", -2)).kind == "answer"


async def test_votes_count_once_per_member_and_can_change(repo):
    entry_id = await repo.add(None, "en", [("en", "Q?")], Answer("en", "A"), None, 1)
    assert await repo.vote(entry_id, 7, 1) == 0  # none before
    assert await repo.vote(entry_id, 7, 1) is None  # unchanged
    assert await repo.vote(entry_id, 7, -1) == 1
    assert await repo.vote(entry_id, 8, -1) == 0
    entry = await repo.get(entry_id)
    assert (entry.up, entry.down) == (0, 2)


async def test_export_then_import_into_an_empty_faq_is_identical(repo, new_database):
    first = await repo.add(
        None,
        "en",
        [("en", "Where is the map?"), ("ru", "Где карта?")],
        Answer("en", "", -5, 42),
        None,
        1,
    )
    await repo.set_language(first, "ru", None, Answer("ru", "<i>Карта</i> у входа"), 2)
    before = await repo.all_live()
    data = export_json(before)
    db = Database(new_database())
    await db.open()
    other = FaqRepository(db)
    result = await FaqService(other).apply_import(
        parse_import("f.json", data, LANGS), None, 1, True
    )
    assert (result.added, result.changed, result.rejected) == (1, 0, [])
    [after] = await other.all_live()
    assert sorted(after.phrasings) == sorted(before[0].phrasings)
    assert after.answers == before[0].answers
    await db.close()


def test_an_asker_without_a_translation_gets_the_entrys_own_language():
    # a Russian asker, an entry written in English and translated to Dutch, a Dutch chat
    assert choose_language(["nl", "en"], "ru", "можно вернуть деньги?", "nl", "en") == "en"
    assert choose_language(["nl", "en"], None, "можно вернуть деньги?", "nl", "en") == "en"
    # nothing known about the asker: the chat's language
    assert choose_language(["nl", "en"], None, "refund?", "nl", "en") == "nl"


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("Tickets < 5 euro", "Tickets &lt; 5 euro"),  # a letter, not a tag
        ("<b>No</b> dress code & no rules", "<b>No</b> dress code &amp; no rules"),
        ("<b>unclosed", "&lt;b&gt;unclosed"),
        ("<i>crossed</b>", "&lt;i&gt;crossed&lt;/b&gt;"),
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
        ("3 > 2 &amp; 1 &lt; 2", "3 &gt; 2 &amp; 1 &lt; 2"),  # an export's escapes stay
        ('<a href="https://t.me/x">link</a>', '<a href="https://t.me/x">link</a>'),
        # balanced, yet Telegram refuses them ("can't parse entities")
        ('<span style="color:red">hot</span>', '&lt;span style="color:red"&gt;hot&lt;/span&gt;'),
        ("<b bold>x</b>", "&lt;b bold&gt;x&lt;/b&gt;"),
        ("<a href=https://t.me/x>l</a>", "&lt;a href=https://t.me/x&gt;l&lt;/a&gt;"),
        ("<tg-emoji>e</tg-emoji>", "&lt;tg-emoji&gt;e&lt;/tg-emoji&gt;"),
        ('<span class="tg-spoiler">s</span>', '<span class="tg-spoiler">s</span>'),
        ("<blockquote expandable>q</blockquote>", "<blockquote expandable>q</blockquote>"),
        ('<tg-emoji emoji-id="5368324170671202286">e</tg-emoji>', None),
    ],
)
def test_imported_answers_become_html_telegram_accepts(written, sent):
    assert telegram_html(written) == (written if sent is None else sent)
    parse_html(telegram_html(written))  # Telegram's parser takes it


async def test_a_long_question_picked_under_did_you_mean_is_learned_by_its_question(repo):
    """A pick teaches the FAQ the asker's wording; of a long message (a story, then the
    question) that is its last sentences within a wording's 300 characters, as "Add to FAQ"
    keeps them, not its first 300 characters cut inside a word of the story."""
    await repo.add(-1, "en", [("en", "Where is the entrance?")], Answer("en", "Left."), None, 1)
    faq = FaqService(repo)
    story = "We drove two hours through the rain and the parking lot was full. " * 5
    question = story + "How do I get into the hall?"
    assert await faq.learn_from_pick(1, question, "en", LANGS)
    [entry] = await repo.all_live()
    learned = entry.phrasings_in("en")[1]
    assert learned.endswith("How do I get into the hall?") and len(learned) <= 300
    assert learned.startswith("We drove")  # whole sentences


def test_what_a_group_message_is_to_the_faq():
    """Questions go through the question gate; words that state a problem ("forgot pw",
    "tracking??") are statements, answered only when the model is sure; commands and single
    words are nothing for the FAQ. Contractions without the apostrophe still ask."""
    from bot.faq.questions import MessageForm, message_form

    assert message_form("how do I reset my password?") is MessageForm.QUESTION
    assert message_form("whats your phone number") is MessageForm.QUESTION
    assert message_form("wheres my refund, returned it 2 weeks ago") is MessageForm.QUESTION
    assert message_form("forgot pw") is MessageForm.STATEMENT
    assert message_form("tracking??") is MessageForm.STATEMENT
    assert message_form("деньги списали дважды") is MessageForm.STATEMENT
    assert message_form("can't wait for Saturday!") is MessageForm.STATEMENT
    assert message_form("lol") is MessageForm.NONE
    assert message_form("/faq refund") is MessageForm.NONE
    assert message_form("") is MessageForm.NONE
    assert message_form(None) is MessageForm.NONE


async def test_a_learned_wording_keeps_no_mentions_or_links(repo):
    """A pick teaches the FAQ the asker's question, not who they called or what they linked:
    @mentions, t.me links and URLs go before it is stored (before: "@venue_admin where is the
    entrance? https://maps.example/x" became a wording, and matched every later message with
    that mention or link); a message that is nothing but a link teaches nothing."""
    await repo.add(-1, "en", [("en", "Where is the entrance?")], Answer("en", "Left."), None, 1)
    faq = FaqService(repo)
    question = (
        "@venue_admin @Bob_2024 how do I get into the hall? see https://maps.example.com/x?y=1 "
        "or t.me/venue_chat/55 and www.example.org/path, tg://user?id=5"
    )
    assert await faq.learn_from_pick(1, question, "en", LANGS)
    [entry] = await repo.all_live()
    assert entry.phrasings_in("en")[1] == "how do I get into the hall? see or and"
    assert not await faq.learn_from_pick(1, "https://t.me/+AbCdEf @someone", "en", LANGS)
    assert len((await repo.all_live())[0].phrasings_in("en")) == 2


def test_a_members_question_as_a_wording_loses_mentions_and_links():
    from bot.faq.transfer import faq_wording

    assert faq_wording("@admin is there a cloakroom? t.me/x") == "is there a cloakroom?"
    assert faq_wording("Where is it (https://example.com) ?") == "Where is it?"
    assert faq_wording("mail me at bob@example.com: any lockers?") == (
        "mail me at bob@example.com: any lockers?"  # an address is no mention
    )


async def test_a_double_tapped_vote_counts_once(repo):
    """Taps of 👍 handled at once (a double tap, or two workers): one vote changed, the others
    the same, and the counters move once (a guard: the read and the write share a transaction
    on both databases)."""
    import asyncio

    entry_id = await repo.add(None, "en", [("en", "Q?")], Answer("en", "A"), None, 1)
    for _ in range(5):
        results = await asyncio.gather(*(repo.vote(entry_id, 7, 1) for _ in range(4)))
        await asyncio.gather(*(repo.vote(entry_id, 7, -1) for _ in range(4)))
    entry = await repo.get(entry_id)
    assert (entry.up, entry.down) == (0, 1)
    assert results.count(-1) == 1 and results.count(None) == 3  # changed once, then the same
