"""End-to-end FAQ files and lookups at their edges: exports too big for one import, answers and
lists counted as Telegram counts them (UTF-16: an emoji is two), /faq with numbers."""

from __future__ import annotations

import json

import pytest

from bot.faq.transfer import export_json_parts, parse_import
from bot.texts import pack_lines, visible_length
from storage.faq import Answer, Entry
from tests.fake_telegram import FakeTelegram
from tests.test_e2e_faq import GROUP, SUPPORT, Community, import_report, upload


@pytest.fixture
def bot_env(bot_env):
    bot_env["SUPPORT_CHAT_ID"] = str(SUPPORT)
    return bot_env


@pytest.fixture
def venue(fake: FakeTelegram) -> Community:
    return Community(fake)


EMOJI = "🎉"  # outside the basic plane: two UTF-16 units


def test_visible_length_counts_what_telegram_counts():
    assert visible_length(EMOJI * 2048) == 4096
    assert visible_length(f"<b>{EMOJI * 2049}</b>") == 4098
    assert visible_length("&lt;ä") == 2


def test_packed_emoji_lines_fit_telegram():
    lines = [EMOJI * 300 for _ in range(20)]  # 600 units a line, 12,000 in all
    texts = pack_lines(lines)
    assert all(len(t.encode("utf-16-le")) // 2 <= 4096 for t in texts)
    assert "\n".join(texts).count(EMOJI) == 6000
    [cut] = pack_lines([EMOJI * 3000])  # one line longer than a message: cut, never half
    assert cut == EMOJI * 2048


async def test_an_emoji_answer_over_telegrams_limit_is_refused_at_import(steward, fake, venue):
    """3,000 emoji are 6,000 units to Telegram: such an answer could never be sent, so the
    import refuses it; 2,048 of them (4,096 units) are kept and reach the member."""
    csv_text = (
        "question,answer,language\n"
        f"What does the party look like?,{EMOJI * 3000},en\n"
        f"How loud is the party?,{EMOJI * 2048},en\n"
    ).encode()
    document = await upload(fake, venue.chat, venue.admin, "e1", "faq.csv", csv_text)
    report = await import_report(fake, steward, venue, document)
    assert report.splitlines() == [
        "📥 FAQ import: 1 added, 0 changed, 0 unchanged, 1 rejected.",
        "• line 2: too long",
    ]
    await venue.say(venue.member, "/faq how loud is the party")
    answer = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP)
    assert answer.plain == EMOJI * 2048


async def test_emoji_topics_come_in_messages_telegram_accepts(steward, fake, venue):
    rows = "".join(f"Party {n:02d} {EMOJI * 280}?,Answer {n}.,en\n" for n in range(20))
    document = await upload(
        fake, venue.chat, venue.admin, "e2", "faq.csv", f"question,answer,language\n{rows}".encode()
    )
    assert (await import_report(fake, steward, venue, document)).startswith(
        "📥 FAQ import: 20 added"
    )
    mark = fake.mark()
    await venue.say(venue.member, "/faq")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Topics I can answer"))
    await steward.idle()
    listed = "\n".join(c.plain for c in fake.calls_of("sendMessage", since=mark))
    assert all(f"Party {n:02d}" in listed for n in range(20))
    assert "Sorry" not in listed


async def test_an_export_of_a_thousand_entries_loads_back(steward, fake, venue):
    """1,200 entries with Russian answers make a file of well over 1 MB; the import took at
    most 1 MB and refused the bot's own export."""
    faq = steward.app.faq
    answer = "Ответ на вопрос номер {n}:" + " подробное объяснение с деталями." * 20
    for n in range(1200):
        await faq.add_entry(
            GROUP,
            "ru",
            [("ru", f"Вопрос номер {n} про зал?")],
            Answer("ru", answer.format(n=n)),
            None,
            refresh=False,
        )
    await faq.refresh()
    await venue.say(venue.admin, "/faq_export")
    await fake.wait_for("sendDocument")
    await steward.idle()
    documents = [
        m for (c, _m), m in sorted(fake.messages.items()) if c == GROUP and m.get("document")
    ]
    sizes = [len(fake.files[d["document"]["file_id"]][1]) for d in documents]
    assert sum(sizes) > 1_000_000
    total = 0
    for document in documents:
        total += len(json.loads(fake.files[document["document"]["file_id"]][1])["entries"])
        report = await import_report(fake, steward, venue, document)
        assert report.startswith("📥 FAQ import: 0 added, 0 changed, "), report
        assert report.endswith(" unchanged, 0 rejected."), report
    assert total == 1200


def test_a_large_export_comes_in_files_that_each_load():
    entries = [
        Entry(n, GROUP, "en", 0, 0, [("en", f"Question {n}?")], {"en": Answer("en", "x" * 500)})
        for n in range(1, 41)
    ]
    files = export_json_parts(entries, max_bytes=5_000)
    assert len(files) > 1 and all(len(f) <= 5_000 for f in files)
    loaded = [parse_import("faq.json", f, ("en",)).entries for f in files]
    assert [e.id for part in loaded for e in part] == list(range(1, 41))
    assert len(export_json_parts([])) == 1


async def test_faq_finds_entries_by_number_and_by_numbers_in_wordings(steward, fake, venue):
    """/faq lists topics with their numbers and /faq 2 (or #2) answers that entry; words
    with digits ("24/7", "5G") find the wording that holds them, which matching (it leaves
    numbers out) cannot; a number of no entry here is said so."""
    other = fake.add_chat(-1001234500099, title="Other chat")
    fake.add_member(-1001234500099, venue.admin, "administrator")
    for text in (
        "/faq_add Is the helpdesk open 24/7? | Yes, day and night.",
        "/faq_add Do you have 5G coverage in the hall? | 5G works everywhere.",
    ):
        await venue.say(venue.admin, text)
        await steward.idle()
    await fake.send_message(other, venue.admin, "/faq_add Secret of the other chat? | Hidden.")
    await steward.idle()
    await venue.say(venue.member, "/faq")
    topics = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Topics"))
    assert topics.plain.splitlines()[1:] == [
        "#1 Is the helpdesk open 24/7?",
        "#2 Do you have 5G coverage in the hall?",
    ]
    for asked, expected in (
        ("/faq 2", "5G works everywhere."),
        ("/faq #1", "Yes, day and night."),
        ("/faq 24/7", "Yes, day and night."),
        ("/faq 5G", "5G works everywhere."),
        ("/faq 3", "There is no FAQ entry #3 here."),  # another chat's entry
        ("/faq 99", "There is no FAQ entry #99 here."),
        ("/faq 12/12", "I found nothing in the FAQ that fits. Try other words."),
        ("/faq 4/7", "I found nothing in the FAQ that fits. Try other words."),  # not in "24/7"
        ("/faq 0", "I found nothing in the FAQ that fits. Try other words."),
    ):
        mark = fake.mark()
        await venue.say(venue.admin, asked)  # an admin: many asks are no flood
        await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP, since=mark)
        await steward.idle()
        replies = [c.plain for c in fake.calls_of("sendMessage", since=mark)]
        assert len(replies) == 1, (asked, replies)
        reply = replies[0]
        assert reply == expected, asked


async def test_csv_export_keeps_translations_and_loads_back(steward, fake, venue):
    """A CSV had one language per entry: a translation became an entry of its own, and there
    was no CSV export. `/faq_export csv` writes one row per wording with the entry's id, and
    rows with the same id load back as one entry in all its languages."""
    photo = [{"file_id": "map", "file_unique_id": "umap", "width": 9, "height": 9}]
    source = await venue.say(venue.admin, None, photo=photo, caption="Here is the map")
    await steward.idle()
    for text, reply_to in (
        ("/faq_add What are your opening hours?; When are you open? | From 9 to 18, daily.", None),
        ("/faq_edit 1 ru: Когда вы работаете? | С 9 до 18, каждый день.", None),
        ("/faq_add Where can I park? | - Behind the hall, free; =no fee", None),
        ("/faq_add Where is the venue? | ", source),
        ("/faq_edit 3 nl: Waar is de zaal? | <b>Achter</b> het station, spoor 1", None),
    ):
        await venue.say(venue.admin, text, reply_to=reply_to)
        await steward.idle()
    before = await steward.app.faq.repo.visible_in(GROUP)
    assert [sorted(e.answers) for e in before] == [["en", "ru"], ["en"], ["en", "nl"]]
    await venue.say(venue.admin, "/faq_export csv")
    exported = await fake.wait_for("sendDocument")
    assert exported["caption"].startswith("3 FAQ entries.")
    await steward.idle()
    document = fake.messages[(GROUP, max(m for c, m in fake.messages if c == GROUP))]
    content = fake.files[document["document"]["file_id"]][1]
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0] == "id,scope,language,question,answer,answer_chat_id,answer_message_id"
    assert f'1,{GROUP},ru,Когда вы работаете?,"С 9 до 18, каждый день.",,' in lines
    assert f'2,{GROUP},en,Where can I park?,"\'- Behind the hall, free; =no fee",,' in lines
    assert f"3,{GROUP},en,Where is the venue?,,{GROUP},{source['message_id']}" in lines
    for entry in before:
        await venue.say(venue.admin, f"/faq_del {entry.id}")
        await steward.idle()
    report = await import_report(fake, steward, venue, document)
    assert report == "📥 FAQ import: 3 added, 0 changed, 0 unchanged, 0 rejected."
    after = await steward.app.faq.repo.visible_in(GROUP)
    strip = [(e.language, sorted(e.phrasings), e.answers) for e in after]
    assert strip == [(e.language, sorted(e.phrasings), e.answers) for e in before]
    report = await import_report(fake, steward, venue, document)
    assert report == "📥 FAQ import: 0 added, 0 changed, 3 unchanged, 0 rejected."


async def test_a_written_csv_with_ids_makes_one_entry_per_id(steward, fake, venue):
    csv_text = (
        "id;language;question;answer\n"
        "hours;en;When are you open?;From 9 to 18.\n"
        "hours;en;What are your hours?;\n"
        "hours;ru;Когда вы открыты?;С 9 до 18.\n"
        "wifi;nl;Is er wifi?;Ja, gratis.\n"
        "cake;de;Gibt es Kuchen?;Ja.\n"
        "empty;en;;\n"
        ";en;Can I bring a dog?;Dogs are welcome.\n"
        ";en;Are pets allowed?;Dogs are welcome.\n"
    ).encode()
    document = await upload(fake, venue.chat, venue.admin, "c9", "faq.csv", csv_text)
    assert (await import_report(fake, steward, venue, document)).splitlines() == [
        "📥 FAQ import: 3 added, 0 changed, 0 unchanged, 2 rejected.",
        "• line 6: a language this bot does not speak",
        "• line 7: no question or no answer",
    ]
    hours, wifi, dogs = await steward.app.faq.repo.visible_in(GROUP)
    assert len(dogs.phrasings) == 2  # no id: the same answer makes one entry
    assert sorted(hours.phrasings) == [
        ("en", "What are your hours?"),
        ("en", "When are you open?"),
        ("ru", "Когда вы открыты?"),
    ]
    assert {lang: a.text for lang, a in hours.answers.items()} == {
        "en": "From 9 to 18.",
        "ru": "С 9 до 18.",
    }
    assert wifi.language == "nl" and wifi.chat_id == GROUP


async def test_faq_says_when_it_lists_only_the_first_topics(steward, fake, venue):
    """/faq listed 60 topics and left the rest out without a word."""
    faq = steward.app.faq
    for n in range(62):
        wording = [("en", f"Question number {n} about the hall?")]
        await faq.add_entry(GROUP, "en", wording, Answer("en", f"Answer {n}."), None, refresh=False)
    await faq.refresh()
    mark = fake.mark()
    await venue.say(venue.member, "/faq")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Topics"))
    await steward.idle()
    listed = "\n".join(c.plain for c in fake.calls_of("sendMessage", since=mark)).splitlines()
    assert listed[-2:] == [
        "#60 Question number 59 about the hall?",
        "…and 2 more: ask in your own words.",
    ]


async def test_numbers_no_chat_or_entry_can_have_are_refused_not_crashed_on(steward, fake, venue):
    """A hand-edited JSON file with numbers past the database's integers (or true for a
    number) crashed the import halfway ("Sorry…", the entries before it loaded, the rest not);
    now each such entry is refused as not an FAQ entry, or the odd number is ignored."""
    huge = 10**30
    entries = [
        {"phrasings": {"en": ["Where is the map?"]}, "answers": {"en": "x"}, "answer_messages": m}
        for m in (
            {"en": {"chat_id": huge, "message_id": 1}},
            {"en": {"chat_id": 1, "message_id": True}},
        )
    ]
    entries += [
        {"id": huge, "phrasings": {"en": ["Is there wifi?"]}, "answers": {"en": "Yes."}},
        {
            "phrasings": {"en": ["Is there cake?"]},
            "answers": {"en": "Yes."},
            "feedback": {"up": huge, "down": 0},
        },
        {"id": True, "phrasings": {"en": ["Is there tea?"]}, "answers": {"en": "Yes."}},
    ]
    await venue.say(venue.admin, "/faq_add Is there coffee? | Yes.")
    await steward.idle()
    document = await upload(
        fake, venue.chat, venue.admin, "j9", "faq.json", json.dumps({"entries": entries}).encode()
    )
    assert (await import_report(fake, steward, venue, document)).splitlines() == [
        "📥 FAQ import: 3 added, 0 changed, 0 unchanged, 2 rejected.",
        "• #1: not an FAQ entry",
        "• #2: not an FAQ entry",
    ]
    stored = await steward.app.faq.repo.visible_in(GROUP)
    assert [(e.title("en"), e.up) for e in stored] == [
        ("Is there coffee?", 0),
        ("Is there wifi?", 0),
        ("Is there cake?", 0),
        ("Is there tea?", 0),
    ]


@pytest.mark.usefixtures("db_engine")  # PostgreSQL refuses NUL in text
async def test_control_characters_in_a_file_do_not_stop_the_import(steward, fake, venue):
    """A NUL in a hand-edited file's wording or answer stopped the import on PostgreSQL with
    "Sorry…" (it stores no NUL in text). Such characters are no letters anyone reads: they
    are left out, and the rest loads."""
    entries = [
        {"phrasings": {"en": ["Is there\u0000 wifi?"]}, "answers": {"en": "Yes,\u0000 free."}},
        {"phrasings": {"en": ["Is there cake?"]}, "answers": {"en": "Yes."}},
    ]
    document = await upload(
        fake, venue.chat, venue.admin, "j8", "faq.json", json.dumps({"entries": entries}).encode()
    )
    report = await import_report(fake, steward, venue, document)
    assert report == "📥 FAQ import: 2 added, 0 changed, 0 unchanged, 0 rejected."
    wifi, _cake = await steward.app.faq.repo.visible_in(GROUP)
    assert wifi.phrasings == [("en", "Is there wifi?")] and wifi.answers["en"].text == "Yes, free."
    csv_text = "question,answer,language\nIs there\u0000 tea?,Ye\u0000s.,en\n".encode()
    document = await upload(fake, venue.chat, venue.admin, "c8", "faq.csv", csv_text)
    report = await import_report(fake, steward, venue, document)
    assert report == "📥 FAQ import: 1 added, 0 changed, 0 unchanged, 0 rejected."


async def test_a_json_file_nested_past_any_sense_is_unreadable(steward, fake, venue):
    """JSON nested 100,000 deep made the parser overflow its stack: "Sorry…" instead of
    saying what the file should be."""
    content = b'{"entries": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    document = await upload(fake, venue.chat, venue.admin, "j7", "faq.json", content)
    assert await import_report(fake, steward, venue, document) == (
        "I can't read this file: use a JSON file from /faq_export, or a CSV with the "
        "columns question,answer,language."
    )


async def test_imported_html_telegram_would_refuse_is_sent_as_letters(steward, fake, venue):
    """An exported answer's tags can be balanced and still not parse on Telegram: a `<span>`
    without class "tg-spoiler" (a web page's colour), an attribute without a value or an
    unquoted one that is no name token, a `<tg-emoji>` without its id. Kept as HTML, every member
    asking got nothing ("can't parse entities"); now such an answer is sent as its letters."""
    entries = [
        ("Is it hot?", '<span style="color:red">Very</span> hot'),
        ("Is it bold?", "<b bold>Quite</b> bold"),
        ("Where is it?", "<a href=https://t.me/x>Here</a>"),
        ("Is it fun?", "<tg-emoji>🎉</tg-emoji> yes"),
        ("Is it secret?", '<span class="tg-spoiler">Yes</span>, <b>very</b>'),
    ]
    payload = {"entries": [{"phrasings": {"en": [q]}, "answers": {"en": a}} for q, a in entries]}
    document = await upload(
        fake, venue.chat, venue.admin, "h1", "faq.json", json.dumps(payload).encode()
    )
    report = await import_report(fake, steward, venue, document)
    assert report == "📥 FAQ import: 5 added, 0 changed, 0 unchanged, 0 rejected."
    for (question, written), seen in zip(
        entries,
        [
            '<span style="color:red">Very</span> hot',
            "<b bold>Quite</b> bold",
            "<a href=https://t.me/x>Here</a>",
            "<tg-emoji>🎉</tg-emoji> yes",
            "Yes, very",  # Telegram's own tags stay formatting
        ],
        strict=True,
    ):
        mark = fake.mark()
        await venue.say(venue.member, f"/faq {question.rstrip('?').lower()}")
        answer = await fake.wait_for(
            "sendMessage", lambda c: c["chat_id"] == GROUP and "?" not in c.plain, since=mark
        )
        sent = fake.messages[(GROUP, max(m for c, m in fake.bot_messages if c == GROUP))]
        assert sent["text"] == seen, (written, answer.params)
