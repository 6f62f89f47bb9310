"""Composing posts without Telegram: presets, slots, URL buttons, delete-after, albums, pacing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from bot.outbound import TelegramPacer
from bot.posting.albums import AlbumCollector
from bot.posting.compose import (
    MAX_SLOTS_PER_DAY,
    ButtonError,
    TooManySlots,
    next_delete_after,
    next_free_slot,
    parse_slots,
    parse_url_buttons,
    preset_time,
)
from bot.posting.times import TimeError
from bot.texts import TEXT_LIMIT, pack_lines

AMS = ZoneInfo("Europe/Amsterdam")


def test_url_buttons_rows_and_errors_name_the_line():
    rows = parse_url_buttons("Site - https://a.example\nA - https://b.example | B — tg://resolve?x")
    assert rows == [
        [{"text": "Site", "url": "https://a.example"}],
        [{"text": "A", "url": "https://b.example"}, {"text": "B", "url": "tg://resolve?x"}],
    ]
    for text, line, reason in [
        ("ok - https://a.example\njust text", 2, "format"),
        ("Bad - www.example.com", 1, "url"),
        ("Shop - http://localhost:8080", 1, "url"),  # Telegram: BUTTON_URL_INVALID
        ("ok - https://a.example\nWiki - https://intranet/wiki", 2, "url"),
        ("x" * 65 + " - https://a.example", 1, "too_long"),
        (" | ".join(["a - https://a.example"] * 5), 1, "too_many"),
        ("", 1, "format"),
    ]:
        with pytest.raises(ButtonError) as error:
            parse_url_buttons(text)
        assert (error.value.line, error.value.reason) == (line, reason)


def test_presets_in_local_time():
    morning = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00 in Amsterdam
    assert preset_time("hour", morning, AMS) == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert preset_time("tonight", morning, AMS) == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    assert preset_time("tomorrow", morning, AMS) == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    late = datetime(2026, 11, 26, 19, 30, tzinfo=UTC)
    with pytest.raises(TimeError) as error:
        preset_time("tonight", late, AMS)
    assert error.value.code == "past"


def test_slots_are_capped_per_day_and_repeats_count_once():
    half_hours = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]
    assert parse_slots(",".join(half_hours * 3)) == half_hours  # 48, given thrice
    with pytest.raises(TooManySlots) as caught:
        parse_slots(",".join([*half_hours, "00:01", "00:02"]))
    assert caught.value.count == MAX_SLOTS_PER_DAY + 2


def test_pack_lines_splits_between_lines_within_the_limit():
    lines = [f"{n:03d} " + "x" * 196 for n in range(60)]  # 12,000 characters
    texts = pack_lines(lines)
    assert len(texts) == 3 and all(len(t) <= TEXT_LIMIT for t in texts)
    assert "\n".join(texts).split("\n") == lines  # nothing lost, no line split
    assert pack_lines([]) == [] and pack_lines(["y" * 5000]) == ["y" * TEXT_LIMIT]


def test_slots_parse_and_next_free_slot_skips_taken_and_dst_gaps():
    assert parse_slots("9:00, 13.00 19:00,9:00") == ["09:00", "13:00", "19:00"]
    with pytest.raises(ValueError):
        parse_slots("25:00")
    now = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)  # 13:30 local
    first = next_free_slot(["09:00", "13:00", "19:00"], set(), now, AMS)
    assert first == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    taken = {int(first.timestamp())}
    assert next_free_slot(["09:00", "13:00", "19:00"], taken, now, AMS) == datetime(
        2026, 11, 27, 8, 0, tzinfo=UTC
    )
    assert next_free_slot([], set(), now, AMS) is None
    # 02:30 does not exist on 28 March 2027 in Amsterdam: that day is skipped, not guessed
    before_gap = datetime(2027, 3, 27, 3, 0, tzinfo=UTC)
    assert next_free_slot(["02:30"], set(), before_gap, AMS) == datetime(
        2027, 3, 29, 0, 30, tzinfo=UTC
    )


def test_delete_after_cycles_and_never_passes_47_hours():
    seen, value = [], None
    for _ in range(6):
        value = next_delete_after(value)
        seen.append(value)
    assert seen == [1, 6, 12, 24, 47, None]
    assert max(v for v in seen if v) == 47


async def test_album_collector_hands_over_the_whole_album_once():
    collector = AlbumCollector(wait=0.05)

    def part(message_id, group="g"):
        return SimpleNamespace(
            message_id=message_id, media_group_id=group, chat=SimpleNamespace(id=1)
        )

    results = await asyncio.gather(*(collector.collect(part(n)) for n in (3, 1, 2)))
    albums = [r for r in results if r is not None]
    assert len(albums) == 1 and [m.message_id for m in albums[0]] == [1, 2, 3]
    lone = part(9, None)
    assert await collector.collect(lone) == [lone]


async def test_channels_keep_the_per_chat_pace_but_not_the_group_minute_cap():
    clock = [0.0]

    async def sleep(seconds):
        clock[0] += seconds

    pacer = TelegramPacer(clock=lambda: clock[0], sleep=sleep)
    pacer.mark_channel(-100200)
    for _ in range(30):
        await pacer.acquire(-100200)
    channel_time = clock[0]
    clock[0] = 1000.0
    for _ in range(30):
        await pacer.acquire(-100300)  # a group
    group_time = clock[0] - 1000.0
    assert 25 <= channel_time <= 30  # ~1/s with a burst of 3
    assert group_time >= 60  # 20 a minute
