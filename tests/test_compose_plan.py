"""Confirm's rules without Telegram or a database: `plan_schedule`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.posting.compose import Refusal, plan_schedule
from storage.posts import Channel, Draft

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NEWS = Channel(-1001, "News", "news", True, True, True, True)
BLOG = Channel(-1002, "Blog", None, True, True, True, False)  # may not pin
DRAFT = Draft(
    id=1,
    manager_id=7,
    source_chat_id=7,
    source_message_ids=[10],
    summary={},
    panel_message_id=None,
    channels=[NEWS.chat_id, BLOG.chat_id],
    due_at=int((NOW + timedelta(hours=1)).timestamp()),
    time_choice="hour",
    silent=False,
    pin=False,
    delete_after_hours=None,
    buttons=None,
    created_at=0,
)


def test_a_valid_draft_gets_one_time_per_chosen_channel():
    plan = plan_schedule(DRAFT, [NEWS, BLOG], {}, NOW)
    assert plan.refusal is None and plan.channels == (NEWS, BLOG)
    assert plan.dues == {NEWS.chat_id: DRAFT.due_at, BLOG.chat_id: DRAFT.due_at}


def test_refusals_in_the_order_a_manager_fixes_them():
    assert plan_schedule(DRAFT, [], {}, NOW).refusal is Refusal.NO_CHANNEL  # none postable
    assert plan_schedule(replace(DRAFT, due_at=None), [NEWS], {}, NOW).refusal is Refusal.NO_TIME
    past = replace(DRAFT, due_at=int(NOW.timestamp()))
    assert plan_schedule(past, [NEWS], {}, NOW).refusal is Refusal.PAST
    pinned = plan_schedule(replace(DRAFT, pin=True), [NEWS, BLOG], {}, NOW)
    assert (pinned.refusal, pinned.channels) == (Refusal.CANNOT_PIN, (BLOG,))


def test_slots_are_per_channel_and_every_channel_needs_one():
    by_slot = replace(DRAFT, time_choice="slot", due_at=int(NOW.timestamp()) - 60)
    first, second = NOW + timedelta(hours=2), NOW + timedelta(hours=5)
    plan = plan_schedule(by_slot, [NEWS, BLOG], {NEWS.chat_id: first, BLOG.chat_id: second}, NOW)
    assert plan.dues == {
        NEWS.chat_id: int(first.timestamp()),
        BLOG.chat_id: int(second.timestamp()),
    }
    missing = plan_schedule(by_slot, [NEWS, BLOG], {NEWS.chat_id: first}, NOW)
    assert missing.refusal is Refusal.NO_SLOT


def test_a_chosen_channel_the_bot_can_no_longer_post_in_is_named_not_left_out():
    lost = replace(BLOG, can_post=False)
    plan = plan_schedule(DRAFT, [NEWS, lost], {}, NOW)
    assert (plan.refusal, plan.channels) == (Refusal.LOST_CHANNEL, (lost,))
    only_news = replace(DRAFT, channels=[NEWS.chat_id])
    assert plan_schedule(only_news, [NEWS, lost], {}, NOW).refusal is None
