"""Texts cut or budgeted to Telegram's limits, which count UTF-16 units (an emoji outside the
basic plane is two), tried with emoji at the limit: a count in code points let such a text run
up to twice past the limit, and Telegram refused it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.campaigns.logic import ArgsError, CampaignArgsError, parse_campaign_args
from bot.engagement.giveaways import GiveawayService, Refusal, RefusalReason
from bot.engagement.quiz_format import QuizFormatError, parse_quiz_text
from bot.i18n import create_i18n
from bot.moderation.service import render_details
from bot.posting.compose import Refusal as PlanRefusal
from bot.posting.compose import SchedulePlan
from bot.posting.panel import TITLE_SHOWN, refusal_text, short_title
from bot.texts import cut_to, fit_html, shorten, utf16_length, visible_length
from storage.engagement import Giveaway, GiveawayStatus
from storage.moderation import ModAction
from storage.posts import Channel

EMOJI = "🎉"


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_the_helpers_count_as_telegram_does():
    assert utf16_length(EMOJI * 3) == 6
    assert cut_to(EMOJI * 3, 5) == EMOJI * 2  # never half an emoji
    assert shorten("abc", 3) == "abc"
    assert shorten(EMOJI * 3, 5) == EMOJI * 2 + "…"
    assert fit_html("<b>ok</b>") == "<b>ok</b>"
    fitted = fit_html("<b>" + EMOJI * 3000 + "</b> &amp;")
    assert visible_length(fitted) <= 4096 and "<" not in fitted and fitted.startswith(EMOJI)


def channel(n: int, title: str) -> Channel:
    return Channel(-1001000000000 - n, title, None, True, True, True, False)


def test_a_channel_title_of_emoji_is_shortened_in_utf16_units():
    title = EMOJI * TITLE_SHOWN
    assert units(short_title(channel(1, title))) <= TITLE_SHOWN
    assert short_title(channel(1, title)).endswith("…")
    assert short_title(channel(1, "News")) == "News"


@pytest.mark.parametrize("locale", ["en", "ru", "nl"])
def test_the_cannot_pin_alert_of_emoji_titled_channels_fits_an_alert(locale):
    i18n = create_i18n("en")
    plan = SchedulePlan(
        PlanRefusal.CANNOT_PIN, tuple(channel(n, EMOJI * 40 + str(n)) for n in range(5))
    )
    with i18n.context(), i18n.use_locale(locale):
        text = refusal_text(plan, None)  # type: ignore[arg-type]
    assert units(text) <= 200
    assert EMOJI in text


def giveaway(prize: str) -> Giveaway:
    return Giveaway(
        id=7,
        chat_id=-1001000000001,
        message_id=5,
        created_by=1,
        prize=prize,
        winners_count=20,
        ends_at=0,
        require_chats=[],
        exclude_admins=False,
        exclude_winners=False,
        private_entrants=False,
        seed_hex="ab" * 16,
        commitment="cd" * 32,
        status=GiveawayStatus.DRAWN,
        created_at=0,
        drawn_at=0,
    )


def test_a_giveaway_result_with_emoji_names_fits_each_message():
    """The result was one message when its HTML was 4,096 code points or fewer: with an emoji
    prize and emoji names that is up to twice what Telegram takes."""
    service = GiveawayService(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        create_i18n("en"),
        None,  # type: ignore[arg-type]
    )
    entries = {100 + n: EMOJI * 64 for n in range(21)}
    winners = list(entries)[:20]
    skipped = [(uid, Refusal(RefusalReason.NOT_IN_CHAT)) for uid in list(entries)[20:]]
    result = service.render_result(giveaway(EMOJI * 1000), entries, winners, skipped, "en")
    assert all(visible_length(text) <= 4096 for text in result.messages)
    joined = "\n".join(result.messages)
    assert all(f"id <code>{uid}</code>" in joined for uid in winners)


def test_an_actions_details_with_an_emoji_filter_fit_an_alert():
    action = ModAction(
        id=3,
        chat_id=-1001000000001,
        actor_id=None,
        actor_name=None,
        target_id=5,
        target_name="Bob",
        target_is_chat=False,
        action="delete",
        reason=None,
        rule="filter",
        score=None,
        details={"filter": EMOJI * 150},
        message_id=None,
        message_text=None,
        created_at=int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
        expires_at=None,
        undone_at=None,
        undone_by=None,
        log_chat_id=None,
        log_message_id=None,
    )
    text = render_details(create_i18n("en"), action, "en")
    assert units(text) <= 200 and text.startswith("#3 ")


def test_a_quiz_question_of_emoji_past_telegrams_limit_is_refused_when_added():
    """A poll's question holds 300, an option 100, counted as Telegram counts: 200 emoji
    (400 units) passed the check and Telegram refused the poll when the quiz ran."""
    with pytest.raises(QuizFormatError):
        parse_quiz_text("Emoji\nQ: " + EMOJI * 200 + "\n+ yes\n- no")
    with pytest.raises(QuizFormatError):
        parse_quiz_text("Emoji\nQ: Which?\n+ " + EMOJI * 60 + "\n- no")
    parse_quiz_text("Emoji\nQ: " + EMOJI * 150 + "\n+ " + EMOJI * 50 + "\n- no")


def test_a_campaign_name_is_counted_as_telegram_counts_an_invite_links_name():
    assert parse_campaign_args(EMOJI * 16).name == EMOJI * 16
    with pytest.raises(CampaignArgsError) as info:
        parse_campaign_args(EMOJI * 17)
    assert info.value.code is ArgsError.NAME_TOO_LONG
