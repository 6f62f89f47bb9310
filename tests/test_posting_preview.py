"""What /queue says about each post: the preview line, options and paging, without Telegram."""

from __future__ import annotations

from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from bot.posting.compose import summarize
from bot.posting.preview import (
    PREVIEW_WIDTH,
    content_preview,
    first_line,
    options_line,
    page_count,
    page_slice,
    queue_entry,
)
from storage.posts import Post


def make_post(**changes) -> Post:
    values = dict(
        id=3,
        channel_id=-100,
        source_chat_id=1,
        source_message_ids=[5],
        due_at=1_764_512_880,  # 2025-11-30 14:28 UTC
        status="scheduled",
        attempts=0,
        silent=False,
        pin=False,
        delete_after_hours=None,
        buttons=None,
        recurrence=None,
        created_by=1,
        created_at=0,
        published_at=None,
        published_ids=None,
        error=None,
        summary={"kind": "text", "text": "Big news today\nmore below", "count": 1},
    )
    values.update(changes)
    return Post(**values)


def test_text_shows_its_first_line():
    assert content_preview({"kind": "text", "text": "\n  Big   news today\nsecond"}) == (
        "Big news today"
    )


def test_a_caption_follows_the_media_kind():
    assert content_preview({"kind": "photo", "text": "Sunset\nat the bay"}) == "📷 photo: Sunset"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("photo", "📷 photo"),
        ("video", "🎬 video"),
        ("animation", "🎞 GIF"),
        ("document", "📄 document"),
        ("audio", "🎵 audio"),
        ("voice", "🎤 voice message"),
        ("video_note", "⏺ video message"),
        ("sticker", "🏷 sticker"),
        ("poll", "📊 poll"),
        ("other", "✉️ message"),
    ],
)
def test_each_media_kind_without_caption_says_what_it_is(kind, expected):
    assert content_preview({"kind": kind, "text": "", "count": 1}) == expected


def test_a_poll_shows_its_question():
    assert content_preview({"kind": "poll", "text": "Which day suits you?"}) == (
        "📊 poll: Which day suits you?"
    )


def test_an_album_says_how_many_items_it_has():
    assert content_preview({"kind": "album", "count": 3}) == "🎞 album of 3"
    assert content_preview({"kind": "album", "count": 4, "text": "Trip"}) == ("🎞 album of 4: Trip")


def test_album_count_goes_through_ngettext():
    seen = []

    def ngettext(singular, plural, n):
        seen.append(n)
        return "альбом из {count}"

    assert content_preview({"kind": "album", "count": 5}, ngettext=ngettext) == "альбом из 5"
    assert seen == [5]


def test_a_long_line_is_trimmed_at_a_word_with_an_ellipsis():
    text = "Announcing the winter meetup: " + "details " * 20
    line = content_preview({"kind": "text", "text": text})
    assert line.endswith("…") and len(line) <= PREVIEW_WIDTH
    assert line.startswith("Announcing the winter meetup:")
    assert not line[:-1].endswith(" ")
    assert first_line("x" * 100).endswith("…") and len(first_line("x" * 100)) == PREVIEW_WIDTH


def test_the_preview_is_html_escaped():
    assert content_preview({"kind": "text", "text": "<b>Tom & Jerry</b>"}) == (
        "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"
    )
    assert content_preview({"kind": "document", "text": "a<b"}) == "📄 document: a&lt;b"


def test_a_post_queued_before_summaries_were_kept_still_gets_a_line():
    assert content_preview(None) == "✉️ message"
    assert content_preview({"kind": "text", "preview": "old style summary"}) == (
        "old style summary"
    )


def test_summarize_keeps_the_lines_of_the_text_for_the_preview():
    photo = SimpleNamespace(
        text=None, caption="Line one\nLine two", poll=None, photo=[1], video=None
    )
    summary = summarize([photo])
    assert summary["kind"] == "photo" and summary["text"] == "Line one\nLine two"
    assert content_preview(summary) == "📷 photo: Line one"


def test_options_in_words():
    post = make_post(
        silent=True,
        pin=True,
        delete_after_hours=6,
        buttons=[[{"text": "a", "url": "https://a"}, {"text": "b", "url": "https://b"}]],
        recurrence="weekly mon 10:00",
    )
    assert options_line(post) == (
        "🔕 silent · 📌 pin · 🗑 delete after 6 h · 🔗 2 buttons · 🔁 weekly mon 10:00"
    )
    assert options_line(make_post()) == ""


def test_queue_entry_has_channel_local_time_preview_and_error():
    post = make_post(status="failed", error="Forbidden: <bot> was kicked")
    text = queue_entry(post, "News & Co", ZoneInfo("Europe/Amsterdam"), now=post.due_at - 3600)
    assert text.splitlines() == [
        "⚠️ #3 · News &amp; Co · 30.11 15:28",
        "Big news today",
        "<i>Forbidden: &lt;bot&gt; was kicked</i>",
    ]


def test_queue_dates_of_another_year_show_the_year():
    """A post for next January read in November is not taken for last January."""
    tz = ZoneInfo("Europe/Amsterdam")
    november = 1_764_512_880  # 2025-11-30 15:28 in Amsterdam
    january = make_post(due_at=november + 40 * 86_400)  # 2026-01-09
    assert queue_entry(january, "News", tz, now=november).splitlines()[0] == (
        "🕒 #3 · News · 09.01.2026 15:28"
    )
    assert queue_entry(january, "News", tz, now=january.due_at - 60).splitlines()[0] == (
        "🕒 #3 · News · 09.01 15:28"
    )
    # the year turns at midnight where the manager is, not in UTC
    new_year = 1_767_222_000  # 2026-01-01 00:00 in Amsterdam, still 2025 in UTC
    assert "· 01.01 00:00" in queue_entry(make_post(due_at=new_year), "News", tz, now=new_year)


def test_pages_are_clamped_to_the_ones_that_exist():
    assert page_count(0, 5) == 1 and page_count(11, 5) == 3
    assert page_slice(11, 2, 5) == (2, 5, 10)
    assert page_slice(11, 3, 5) == (3, 10, 11)
    assert page_slice(11, 9, 5) == (3, 10, 11)  # the queue shrank since the button was sent
    assert page_slice(11, 0, 5) == (1, 0, 5)


async def test_post_queue_pages_with_channel_names_and_clamps(db_target):
    from bot.posting.queue import PostQueue
    from storage.database import Database
    from storage.posts import Channel, ChannelRepository, PostRepository

    db = Database(db_target)
    await db.open()
    try:
        posts, channels = PostRepository(db), ChannelRepository(db)
        await channels.upsert(Channel(-100, "News", "news", True, True, True, True), 0)
        for n in range(7):
            await posts.add(
                channel_id=-100 if n else -200,
                source_chat_id=1,
                source_message_ids=[n],
                due_at=1000 + n,
                created_by=1,
                now=0,
            )
        queue = PostQueue(posts, channels, per_page=5)
        first = await queue.page(1)
        assert (first.page, first.pages, first.total) == (1, 2, 7)
        assert [e.post.id for e in first.entries] == [1, 2, 3, 4, 5]
        assert [e.channel for e in first.entries[:2]] == ["-200", "News"]
        await posts.set_status(7, "cancelled")
        await posts.set_status(6, "published")
        shrunk = await queue.page(2)  # a "page 2" button pressed after the queue shrank
        assert (shrunk.page, shrunk.pages, len(shrunk.entries)) == (1, 1, 5)
        for n in range(1, 6):
            await posts.set_status(n, "cancelled")
        empty = await queue.page(1)
        assert (empty.total, empty.entries, empty.pages) == (0, [], 1)
    finally:
        await db.close()


def test_a_failure_reason_is_explained_and_the_bots_own_are_translated():
    from bot.posting.failures import MISSED, failure_reason

    shout = str.upper  # stands for a translation
    assert failure_reason(MISSED, shout) == "MISSED WHILE THE BOT WAS DOWN"
    kicked = "Forbidden: bot was kicked from the channel chat"
    assert failure_reason(kicked, shout) == (
        f"I AM NO LONGER IN THE CHANNEL, OR IT WAS DELETED ({kicked})"
    )
    rights = "Bad Request: need administrator rights in the channel chat"
    assert failure_reason(rights, shout).startswith("I HAVE NO RIGHT TO POST")
    for down in (
        "Telegram server says - Internal Server Error",
        "Telegram server says - Bad Gateway",
        "HTTP Client says - Request timeout error",
    ):
        assert failure_reason(down, shout).startswith("TELEGRAM DID NOT ANSWER"), down
    assert failure_reason("Bad Request: something new", shout) == "Bad Request: something new"
    assert failure_reason(None, shout) == ""


async def test_cancel_leaves_a_post_on_its_way_out_alone(db_target):
    """Yes, cancel pressed as the post's time came: the publisher's claim won, so the post goes
    out and is recorded as published, not cancelled behind the publisher's back."""
    from bot.posting.service import PostingService
    from storage.database import Database
    from storage.posts import ChannelRepository, PostRepository, SlotRepository

    db = Database(db_target)
    await db.open()
    try:
        posts = PostRepository(db)
        disarmed: list[int] = []
        publisher = SimpleNamespace(disarm=disarmed.append)
        posting = PostingService(posts, ChannelRepository(db), SlotRepository(db), publisher)
        for n in (1, 2):
            await posts.add(
                channel_id=-100,
                source_chat_id=1,
                source_message_ids=[n],
                due_at=1000,
                created_by=1,
                now=0,
            )
        assert await posts.claim(1)
        assert not await posting.cancel(1)
        assert (await posts.get(1)).status == "publishing" and disarmed == []
        assert await posting.cancel(2)
        assert (await posts.get(2)).status == "cancelled" and disarmed == [2]
        assert not await posting.cancel(2)  # a second tap
    finally:
        await db.close()
