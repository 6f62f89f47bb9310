"""Campaign arithmetic, free of Telegram and SQL so every rule is unit-tested on its own.

A campaign is one named invite link. Telegram tells the bot which link a newcomer used
(`chat_member.invite_link`), but only sometimes: a link made by another admin shows as
`https://t.me/+AbC...` with its tail hidden, a rejoin or a join through a public username carries
no link at all, and a join request approved later is followed by a `chat_member` update that may
not repeat the link. So a join is matched by the exact link first, then by the link's name, then
by a join request the member sent through a campaign link, and whatever is left is counted as
"organic / other" rather than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from bot.moderation.durations import looks_like_duration, parse_duration
from bot.texts import typed_id, utf16_length

NAME_MAX = 32  # Telegram's limit for an invite link's name (UTF-16 units: an emoji is two)
MEMBER_LIMIT_MAX = 99_999
EXPIRES_MAX_SECONDS = 366 * 86400
DAY = 86400
CHURN_WINDOWS = (DAY, 7 * DAY)  # "left within 1 day", "left within 7 days"
CHART_TOP = 8  # campaigns drawn by name; the rest are summed as "other campaigns"

_CHAT_ID = re.compile(r"^-\d{5,20}$")
# amount with its currency glued after (`50€`, `50EUR`) or its sign before (`€50`, `$49.90`)
_AMOUNT = re.compile(r"^([^\w\s.,=+-]{1,3})?(\d{1,12}(?:[.,]\d{1,2})?)([^\d.,]{0,5})$")
_CURRENCY = re.compile(r"^(?:[A-Za-z]{3}|[^\w\s=@/]{1,3})$")


# --- /campaign_new arguments --------------------------------------------------------------


class ArgsError(StrEnum):
    NO_NAME = "no_name"
    NAME_TOO_LONG = "name_too_long"
    TWO_CHATS = "two_chats"
    BAD_COST = "bad_cost"
    NO_CURRENCY = "no_currency"
    BAD_EXPIRES = "bad_expires"
    BAD_LIMIT = "bad_limit"
    LIMIT_WITH_REQUESTS = "limit_with_requests"
    UNKNOWN_OPTION = "unknown_option"
    REPEATED = "repeated"  # an option given twice: which one was meant is not guessed


class CampaignArgsError(ValueError):
    def __init__(self, code: ArgsError, detail: str = "", values: tuple[str, str] = ("", "")):
        super().__init__(code.value)
        self.code = code
        self.detail = detail
        # REPEATED: the first value given, then the second, as the refusal names them
        self.values = {"first": values[0], "second": values[1]}


@dataclass(frozen=True, slots=True)
class CampaignRequest:
    name: str
    chat: str | None = None  # "@channel" or "-100…" as typed; None = the chat it was typed in
    cost: Decimal | None = None
    currency: str | None = None
    expires_in: int | None = None  # seconds from now
    member_limit: int | None = None
    join_requests: bool = False


def is_currency(text: str) -> bool:
    """A currency as people type one: a three-letter code or currency signs (Unicode's Sc:
    € $ £ ₽ ₴ …). An emoji is none: `cost=50 🚀` made 🚀 the currency and dropped it from
    the name."""
    return bool(_CURRENCY.match(text)) and (
        text.isascii() or all(unicodedata.category(ch) == "Sc" for ch in text)
    )


def parse_amount(text: str) -> tuple[Decimal, str]:
    """`49.90`, `49,90`, `50EUR`, `€50` -> (Decimal, glued currency or "")."""
    match = _AMOUNT.match(text)
    if not match or (match[1] and match[3]):  # `€5$`: which currency?
        raise InvalidOperation(text)
    glued = match[1] or match[3]
    if glued and not is_currency(glued):  # `50🚀`
        raise InvalidOperation(text)
    amount = Decimal(match[2].replace(",", "."))
    if amount <= 0:
        raise InvalidOperation(text)
    return amount, glued


def parse_campaign_args(text: str) -> CampaignRequest:
    """`<name…> [@channel|chat id] [cost=<amount> <currency>] [expires=7d] [limit=100]
    [requests]`, options in any order; every other word is part of the name."""
    tokens = (text or "").split()
    name_words: list[str] = []
    chat = cost = currency = expires = limit = None
    requests = False
    given: dict[str, str] = {}  # option -> its value as first given

    def once(option: str, value: str) -> None:
        """A second cost= (expires=, limit=) used to replace the first silently: a manager
        who typed two budgets is asked which one, before any link exists."""
        if option in given:
            raise CampaignArgsError(ArgsError.REPEATED, option, (given[option], value))
        given[option] = value

    i = 0
    while i < len(tokens):
        token = tokens[i]
        lower = token.lower()
        if (token.startswith("@") and len(token) > 1) or _CHAT_ID.match(token):
            if chat is not None:
                raise CampaignArgsError(ArgsError.TWO_CHATS)
            chat = token
        elif lower.startswith("cost="):
            try:
                cost, glued = parse_amount(token[5:])
            except InvalidOperation:
                raise CampaignArgsError(ArgsError.BAD_COST, token) from None
            if glued:
                currency = glued
            elif i + 1 < len(tokens) and is_currency(tokens[i + 1]):
                currency = tokens[i + 1]
                i += 1
            else:
                raise CampaignArgsError(ArgsError.NO_CURRENCY)
            currency = currency.upper()
            once("cost=", f"{cost} {currency}")
        elif lower.startswith("expires="):
            value = token[8:]
            if not looks_like_duration(value):
                raise CampaignArgsError(ArgsError.BAD_EXPIRES, value)
            try:
                expires = int(parse_duration(value).total_seconds())
            except ValueError:
                raise CampaignArgsError(ArgsError.BAD_EXPIRES, value) from None
            if not 60 <= expires <= EXPIRES_MAX_SECONDS:
                raise CampaignArgsError(ArgsError.BAD_EXPIRES, value)
            once("expires=", value)
        elif lower.startswith("limit="):
            value = token[6:]
            if not value.isdecimal() or not 1 <= int(value) <= MEMBER_LIMIT_MAX:
                raise CampaignArgsError(ArgsError.BAD_LIMIT, value)
            limit = int(value)
            once("limit=", value)
        elif lower in {"requests", "requests=on", "requests=yes"}:
            requests = True
        elif "=" in token and token.split("=", 1)[0].isalpha():
            raise CampaignArgsError(ArgsError.UNKNOWN_OPTION, token)
        else:
            name_words.append(token)
        i += 1
    if limit is not None and requests:
        raise CampaignArgsError(ArgsError.LIMIT_WITH_REQUESTS)
    name = " ".join(name_words)
    if not name:
        raise CampaignArgsError(ArgsError.NO_NAME)
    if utf16_length(name) > NAME_MAX:
        raise CampaignArgsError(ArgsError.NAME_TOO_LONG, name)
    return CampaignRequest(name, chat, cost, currency, expires, limit, requests)


def parse_campaign_id(text: str | None) -> int | None:
    return typed_id(text or "")


# --- attribution --------------------------------------------------------------------------


class Source(StrEnum):
    LINK = "link"  # the exact link Steward created
    NAME = "name"  # a link with a campaign's name (its tail hidden, or edited elsewhere)
    REQUEST = "request"  # an approved join request that came through a campaign link
    ORGANIC = "organic"  # no known link: username, shared message, folder, another admin's link


@dataclass(frozen=True, slots=True)
class LinkRef:
    campaign_id: int
    chat_id: int
    invite_link: str
    name: str


@dataclass(frozen=True, slots=True)
class Attribution:
    campaign_id: int | None
    source: Source


class CampaignIndex:
    """Every campaign link by chat, for matching joins without a database round trip."""

    def __init__(self, refs: Iterable[LinkRef] = ()) -> None:
        self._links: dict[tuple[int, str], int] = {}
        self._anywhere: dict[str, int] = {}
        self._names: dict[tuple[int, str], int] = {}
        for ref in sorted(refs, key=lambda r: r.campaign_id):
            self.add(ref)

    def add(self, ref: LinkRef) -> None:
        self._links[(ref.chat_id, ref.invite_link)] = ref.campaign_id
        self._anywhere[ref.invite_link] = ref.campaign_id
        # the newest campaign of a name wins: names repeat across seasons
        key = (ref.chat_id, ref.name.casefold())
        self._names[key] = max(ref.campaign_id, self._names.get(key, 0))

    def by_link(self, chat_id: int, invite_link: str | None) -> int | None:
        return self._links.get((chat_id, invite_link)) if invite_link else None

    def campaign_of_url(self, url: str) -> int | None:
        """A campaign link found anywhere, e.g. in a post's URL button in another chat."""
        return self._anywhere.get(url.strip())

    def by_name(self, chat_id: int, name: str | None) -> int | None:
        return self._names.get((chat_id, name.casefold())) if name else None

    def __len__(self) -> int:
        return len(self._links)


def attribute(
    index: CampaignIndex,
    chat_id: int,
    invite_link: str | None,
    link_name: str | None,
    requested_via: int | None = None,
) -> Attribution:
    """Which campaign brought this join: the link, then its name, then the join request."""
    campaign = index.by_link(chat_id, invite_link)
    if campaign is not None:
        return Attribution(campaign, Source.LINK)
    campaign = index.by_name(chat_id, link_name)
    if campaign is not None:
        return Attribution(campaign, Source.NAME)
    if requested_via is not None and not invite_link:
        # only a join without a link can be the approval of that request: a join through
        # some other link is that link's, whatever the member asked for before
        return Attribution(requested_via, Source.REQUEST)
    return Attribution(None, Source.ORGANIC)


def churn_flags(joined_at: int, left_at: int) -> tuple[bool, ...]:
    """Whether a stay from `joined_at` to `left_at` ended within each churn window."""
    stay = left_at - joined_at
    return tuple(stay <= window for window in CHURN_WINDOWS)


# --- reports ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    chat_id: int
    name: str
    invite_link: str
    cost: Decimal | None
    currency: str | None
    expire_date: int | None
    member_limit: int | None
    creates_join_request: bool
    created_by: int | None
    created_at: int
    ended_at: int | None = None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    def expired(self, now: float) -> bool:
        return self.expire_date is not None and self.expire_date <= now


@dataclass(frozen=True, slots=True)
class Bucket:
    """Joins of one campaign (None = organic) on one local day, and what became of them."""

    campaign_id: int | None
    day: str
    joins: int
    left_1d: int
    left_7d: int
    still: int


@dataclass(frozen=True, slots=True)
class ReportRow:
    campaign_id: int | None  # None = organic / other
    name: str
    joins: int
    left_1d: int
    left_7d: int
    still: int
    cost: Decimal | None = None
    currency: str | None = None
    lifetime_joins: int = 0
    lifetime_still: int = 0
    cost_per_join: Decimal | None = None
    cost_per_retained: Decimal | None = None


@dataclass
class CampaignReport:
    chat_id: int
    title: str
    days: int
    first_day: date
    last_day: date
    rows: list[ReportRow] = field(default_factory=list)
    day_labels: list[str] = field(default_factory=list)
    series: dict[str, list[int]] = field(default_factory=dict)  # label -> joins per day

    @property
    def total_joins(self) -> int:
        return sum(r.joins for r in self.rows)


def cost_per(cost: Decimal | None, count: int) -> Decimal | None:
    """Cost divided by a count, to the cent; None when there is nothing to divide by."""
    if cost is None or count <= 0:
        return None
    return (cost / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return "—"
    return f"{amount:.2f} {currency or ''}".strip()


def relevant(campaign: Campaign, since: int, until: int) -> bool:
    """Live at some moment of [since, until)."""
    return campaign.created_at < until and (campaign.ended_at is None or campaign.ended_at >= since)


def build_rows(
    campaigns: Sequence[Campaign],
    buckets: Iterable[Bucket],
    lifetime: dict[int, tuple[int, int]],
    since: int,
    until: int,
) -> list[ReportRow]:
    """One row per campaign live in the period or with joins in it (most joins first), then
    "organic / other". Counts are the period's; the cost is the campaign's whole budget, so
    cost per join and per retained member are over its whole life (`lifetime`: campaign id ->
    (joins, still members))."""
    sums: dict[int | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for b in buckets:
        total = sums[b.campaign_id]
        total[0] += b.joins
        total[1] += b.left_1d
        total[2] += b.left_7d
        total[3] += b.still
    rows = []
    for c in campaigns:
        if c.id not in sums and not relevant(c, since, until):
            continue
        joins, left_1d, left_7d, still = sums.get(c.id, [0, 0, 0, 0])
        life_joins, life_still = lifetime.get(c.id, (0, 0))
        rows.append(
            ReportRow(
                c.id,
                c.name,
                joins,
                left_1d,
                left_7d,
                still,
                c.cost,
                c.currency,
                life_joins,
                life_still,
                cost_per(c.cost, life_joins),
                cost_per(c.cost, life_still),
            )
        )
    rows.sort(key=lambda r: (-r.joins, r.campaign_id or 0))
    joins, left_1d, left_7d, still = sums.get(None, [0, 0, 0, 0])
    rows.append(ReportRow(None, "", joins, left_1d, left_7d, still))
    return rows


def day_labels(first: date, days: int) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range(days)]


def chart_series(
    rows: Sequence[ReportRow],
    buckets: Iterable[Bucket],
    labels: Sequence[str],
    organic_label: str,
    others_label: str,
    top: int = CHART_TOP,
) -> dict[str, list[int]]:
    """Joins per day for the `top` campaigns with most joins, the rest summed, then organic."""
    position = {day: n for n, day in enumerate(labels)}
    named = [r for r in rows if r.campaign_id is not None and r.joins]
    shown = {r.campaign_id: f"#{r.campaign_id} {r.name}" for r in named[:top]}
    series: dict[str, list[int]] = {label: [0] * len(labels) for label in shown.values()}
    if len(named) > top:
        series[others_label] = [0] * len(labels)
    series[organic_label] = [0] * len(labels)
    for b in buckets:
        n = position.get(b.day)
        if n is None:
            continue
        key = organic_label if b.campaign_id is None else shown.get(b.campaign_id, others_label)
        if key in series:
            series[key][n] += b.joins
    return series


# --- posts that carry a campaign link -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignPost:
    post_id: int
    chat_id: int  # where the post went
    message_id: int | None
    published_at: int
    campaign_id: int


def links_in_buttons(buttons: Sequence[Sequence[dict[str, str]]] | None) -> list[str]:
    return [b.get("url", "") for row in buttons or () for b in row]


def post_joins(posts: Sequence[CampaignPost], joins: Mapping[int, Sequence[int]]) -> dict[int, int]:
    """Joins through each post's campaign link from its publication until the next post with
    the same link (`joins`: campaign id -> join times). The link may also be shared elsewhere
    meanwhile; those joins land on the post too, which the report says."""
    result: dict[int, int] = {}
    by_campaign: dict[int, list[CampaignPost]] = defaultdict(list)
    for post in posts:
        by_campaign[post.campaign_id].append(post)
    for campaign_id, group in by_campaign.items():
        group.sort(key=lambda p: (p.published_at, p.post_id))
        times = sorted(joins.get(campaign_id, ()))
        for n, post in enumerate(group):
            end = group[n + 1].published_at if n + 1 < len(group) else None
            result[post.post_id] = sum(
                1 for t in times if t >= post.published_at and (end is None or t < end)
            )
    return result
