"""Campaign rules without Telegram: arguments, attribution, churn, cost, report rows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.campaigns.logic import (
    DAY,
    ArgsError,
    Attribution,
    Bucket,
    Campaign,
    CampaignArgsError,
    CampaignIndex,
    CampaignPost,
    LinkRef,
    Source,
    attribute,
    build_rows,
    chart_series,
    churn_flags,
    cost_per,
    parse_campaign_args,
    parse_campaign_id,
    post_joins,
)
from bot.membership import MembershipChange, is_member, membership_change

CHAT, OTHER = -1001, -1002


def campaign(id_: int, cost: str | None = None, created_at: int = 0, ended_at=None) -> Campaign:
    return Campaign(
        id_,
        CHAT,
        f"c{id_}",
        f"https://t.me/+c{id_}",
        Decimal(cost) if cost else None,
        "EUR" if cost else None,
        None,
        None,
        False,
        1,
        created_at,
        ended_at,
    )


# --- arguments --------------------------------------------------------------------------------


def test_all_options_in_any_order_and_the_rest_is_the_name():
    r = parse_campaign_args("Spring sale cost=49,90 eur @makers expires=7d limit=100")
    assert r.name == "Spring sale"
    assert r.chat == "@makers"
    assert r.cost == Decimal("49.90") and r.currency == "EUR"
    assert r.expires_in == 7 * DAY and r.member_limit == 100 and not r.join_requests
    r = parse_campaign_args("-1001234567890 requests Blog cost=50€")
    assert (r.name, r.chat, r.cost, r.currency, r.join_requests) == (
        "Blog",
        "-1001234567890",
        Decimal(50),
        "€",
        True,
    )
    # a positive number is part of the name, not a chat
    assert parse_campaign_args("Promo 2026").name == "Promo 2026"
    # the currency sign before the amount, as people write it: €50, $49.90, £5,5
    for typed, amount, currency in [
        ("€50", "50", "€"),
        ("$49.90", "49.90", "$"),
        ("£5,5", "5.5", "£"),
    ]:
        r = parse_campaign_args(f"Ads cost={typed}")
        assert (r.cost, r.currency) == (Decimal(amount), currency)
    # emoji are words of the name, before or after the cost
    r = parse_campaign_args("🚀 Launch cost=50 EUR 🎉")
    assert (r.name, r.cost, r.currency) == ("🚀 Launch 🎉", Decimal(50), "EUR")
    assert parse_campaign_args("Ads cost=5 ₽").currency == "₽"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", ArgsError.NO_NAME),
        ("@chan cost=5 EUR", ArgsError.NO_NAME),
        ("x" * 33, ArgsError.NAME_TOO_LONG),
        ("a @one @two", ArgsError.TWO_CHATS),
        ("a cost=-5 EUR", ArgsError.BAD_COST),
        ("a cost=0 EUR", ArgsError.BAD_COST),
        ("a cost=abc EUR", ArgsError.BAD_COST),
        ("a cost=€-5", ArgsError.BAD_COST),
        ("a cost=€5$", ArgsError.BAD_COST),
        ("a cost=5", ArgsError.NO_CURRENCY),
        ("a cost=50 🚀", ArgsError.NO_CURRENCY),  # an emoji is no currency
        ("a cost=50🚀", ArgsError.BAD_COST),
        ("a cost=🚀50", ArgsError.BAD_COST),
        ("a expires=soon", ArgsError.BAD_EXPIRES),
        ("a expires=10s", ArgsError.BAD_EXPIRES),
        ("a expires=400d", ArgsError.BAD_EXPIRES),
        ("a limit=0", ArgsError.BAD_LIMIT),
        ("a limit=100000", ArgsError.BAD_LIMIT),
        ("a limit=5 requests", ArgsError.LIMIT_WITH_REQUESTS),
        ("a colour=red", ArgsError.UNKNOWN_OPTION),
        ("a cost=5 EUR cost=6 EUR", ArgsError.REPEATED),  # which budget? not guessed
        ("a cost=5€ b cost=5€", ArgsError.REPEATED),
        ("a expires=1d expires=2d", ArgsError.REPEATED),
        ("a limit=1 limit=2", ArgsError.REPEATED),
    ],
)
def test_bad_arguments_are_named(text, code):
    with pytest.raises(CampaignArgsError) as caught:
        parse_campaign_args(text)
    assert caught.value.code is code


def test_campaign_id():
    assert parse_campaign_id(" #12 ") == 12
    assert parse_campaign_id("abc") is None
    assert parse_campaign_id("0") is None
    assert parse_campaign_id(None) is None


# --- attribution ------------------------------------------------------------------------------


def index() -> CampaignIndex:
    return CampaignIndex(
        [
            LinkRef(1, CHAT, "https://t.me/+aaa", "Spring"),
            LinkRef(2, CHAT, "https://t.me/+bbb", "Blog"),
            LinkRef(3, OTHER, "https://t.me/+ccc", "Spring"),
            LinkRef(4, CHAT, "https://t.me/+ddd", "spring"),  # the name again, later
        ]
    )


def test_exact_link_first_then_name_then_request_then_organic():
    idx = index()
    assert attribute(idx, CHAT, "https://t.me/+aaa", "Spring") == Attribution(1, Source.LINK)
    # another admin's link shows with its tail hidden: matched by name, newest campaign wins
    assert attribute(idx, CHAT, "https://t.me/+a...", "SPRING") == Attribution(4, Source.NAME)
    assert attribute(idx, CHAT, None, None, requested_via=2) == Attribution(2, Source.REQUEST)
    assert attribute(idx, CHAT, "https://t.me/+bbb", None, requested_via=1) == Attribution(
        2, Source.LINK
    )
    assert attribute(idx, CHAT, None, None) == Attribution(None, Source.ORGANIC)
    # a join through another admin's link is not the approval of an earlier request
    assert attribute(idx, CHAT, "https://t.me/+x...", None, requested_via=2) == Attribution(
        None, Source.ORGANIC
    )
    assert attribute(idx, CHAT, "https://t.me/+zzz", "Unknown") == Attribution(None, Source.ORGANIC)


def test_a_link_counts_only_in_its_own_chat():
    idx = index()
    assert attribute(idx, OTHER, "https://t.me/+aaa", None).campaign_id is None
    assert attribute(idx, OTHER, "https://t.me/+ccc", None).campaign_id == 3
    assert idx.campaign_of_url(" https://t.me/+ccc ") == 3


def test_membership_changes():
    assert is_member("member") and is_member("administrator") and is_member("creator")
    assert not is_member("left") and not is_member("kicked")
    assert is_member("restricted", True) and not is_member("restricted", False)
    assert membership_change(False, True) is MembershipChange.JOIN
    assert membership_change(True, False) is MembershipChange.LEAVE
    assert membership_change(True, True) is None


def test_churn_windows_include_their_edge():
    assert churn_flags(0, 3600) == (True, True)
    assert churn_flags(0, DAY) == (True, True)
    assert churn_flags(0, DAY + 1) == (False, True)
    assert churn_flags(0, 7 * DAY) == (False, True)
    assert churn_flags(0, 7 * DAY + 1) == (False, False)


# --- reports ----------------------------------------------------------------------------------


def test_cost_per_rounds_to_the_cent_and_needs_a_count():
    assert cost_per(Decimal(100), 3) == Decimal("33.33")
    assert cost_per(Decimal(50), 8) == Decimal("6.25")
    assert cost_per(Decimal("0.05"), 2) == Decimal("0.03")  # half up
    assert cost_per(Decimal(50), 0) is None
    assert cost_per(None, 5) is None


def test_rows_sum_days_sort_by_joins_and_end_with_organic():
    campaigns = [campaign(1, "30"), campaign(2), campaign(3, created_at=10**9, ended_at=None)]
    buckets = [
        Bucket(1, "2026-11-01", 2, 1, 1, 1),
        Bucket(1, "2026-11-02", 1, 0, 0, 1),
        Bucket(2, "2026-11-02", 5, 0, 2, 3),
        Bucket(None, "2026-11-02", 4, 1, 1, 3),
    ]
    rows = build_rows(campaigns, buckets, {1: (6, 4)}, since=0, until=100)
    assert [r.campaign_id for r in rows] == [2, 1, None]  # #3 starts after the period
    two, one, organic = rows
    assert (two.joins, two.left_1d, two.left_7d, two.still) == (5, 0, 2, 3)
    assert (one.joins, one.left_1d, one.still) == (3, 1, 2)
    # the cost covers the whole campaign: 30 / 6 joins, 30 / 4 still members
    assert one.cost_per_join == Decimal("5.00") and one.cost_per_retained == Decimal("7.50")
    assert two.cost_per_join is None
    assert (organic.joins, organic.still, organic.name) == (4, 3, "")


def test_a_campaign_without_joins_is_listed_while_it_ran_in_the_period():
    ended_before = campaign(1, created_at=0, ended_at=50)
    running = campaign(2, created_at=0)
    rows = build_rows([ended_before, running], [], {}, since=100, until=200)
    assert [r.campaign_id for r in rows] == [2, None]
    assert rows[0].joins == 0


def test_chart_draws_the_top_campaigns_and_sums_the_rest():
    campaigns = [campaign(n) for n in range(1, 5)]
    labels = ["2026-11-01", "2026-11-02"]
    buckets = [Bucket(n, labels[n % 2], n, 0, 0, n) for n in range(1, 5)]
    buckets.append(Bucket(None, labels[0], 7, 0, 0, 7))
    rows = build_rows(campaigns, buckets, {}, 0, 100)
    outside = Bucket(1, "2026-10-01", 9, 0, 0, 9)  # not one of the chart's days: ignored
    series = chart_series(rows, [*buckets, outside], labels, "organic", "others", top=2)
    assert list(series) == ["#4 c4", "#3 c3", "others", "organic"]
    assert series["#4 c4"] == [4, 0] and series["#3 c3"] == [0, 3]
    assert series["others"] == [2, 1]
    assert series["organic"] == [7, 0]
    assert sum(map(sum, series.values())) == 1 + 2 + 3 + 4 + 7


def test_post_joins_run_until_the_next_post_with_the_same_link():
    posts = [
        CampaignPost(10, -50, 1, 100, campaign_id=1),
        CampaignPost(11, -50, 2, 200, campaign_id=1),
        CampaignPost(12, -50, 3, 150, campaign_id=2),
    ]
    joins = {1: [50, 100, 150, 199, 200, 500], 2: [149, 151]}
    assert post_joins(posts, joins) == {10: 3, 11: 2, 12: 1}
