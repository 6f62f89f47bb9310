"""Campaigns service: creates and revokes the links, records joins and leaves, builds reports.

Joins are rare next to messages (a busy group sees dozens a day), so each one is written at
once, not buffered like message counters: a restart must not lose which link brought someone.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.utils.i18n import I18n

from bot.campaigns import charts
from bot.campaigns.logic import (
    Campaign,
    CampaignIndex,
    CampaignPost,
    CampaignReport,
    CampaignRequest,
    LinkRef,
    ReportRow,
    attribute,
    build_rows,
    chart_series,
    churn_flags,
    day_labels,
    links_in_buttons,
    money,
    post_joins,
)
from bot.clock import SYSTEM_CLOCK, Clock
from bot.i18n import plural_for
from bot.membership import MembershipChange, membership_change
from bot.stats.report import CsvRow
from bot.texts import utf16_length
from storage.campaigns import CampaignRepository
from storage.chats import ChatRepository

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096  # UTF-16 units in one Telegram message (an emoji is two)
REQUEST_MEMORY_DAYS = 30  # a join request nobody handled for this long is forgotten


class EndOutcome(StrEnum):
    ENDED = "ended"
    ALREADY = "already"
    NOT_FOUND = "not_found"
    FAILED = "failed"  # Telegram could not be reached; nothing changed


@dataclass(frozen=True, slots=True)
class EndResult:
    outcome: EndOutcome
    campaign: Campaign | None = None
    telegram_said: str | None = None  # Telegram refused the revoke; ended here anyway


@dataclass(frozen=True, slots=True)
class Listed:
    campaign: Campaign
    joins: int
    still: int


def period_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[int, int]:
    """[local midnight of `first`, local midnight after `last`) in UTC seconds."""
    start = datetime.combine(first, dtime(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), dtime(0), tz).astimezone(UTC)
    return int(start.timestamp()), int(end.timestamp())


class CampaignService:
    def __init__(
        self,
        bot: Bot,
        repo: CampaignRepository,
        chats: ChatRepository,
        tz: ZoneInfo,
        i18n: I18n,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.bot = bot
        self.repo = repo
        self.chats = chats
        self.tz = tz
        self.i18n = i18n
        self.clock = clock
        self.index = CampaignIndex()
        self._loaded = False
        self.on_change: Callable[[], None] = lambda: None  # other workers reload (bot.cluster)

    async def load(self) -> None:
        self.index = CampaignIndex(await self.repo.link_refs())
        self._loaded = True
        logger.info("campaigns: %d links known", len(self.index))
        await self.prune()

    async def prune(self) -> None:
        """Forget join requests nobody approved for a month (Telegram does not tell bots about
        a decline), so a much later join cannot be credited to them."""
        removed = await self.repo.prune_requests(int(self.clock()) - REQUEST_MEMORY_DAYS * 86400)
        if removed:
            logger.info("campaigns: %d stale join requests dropped", removed)

    async def _ensure_loaded(self) -> None:
        if not self._loaded:
            await self.load()

    def forget(self) -> None:
        """Another worker created a link: read the links again before the next join."""
        self._loaded = False

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), self.tz).date()

    async def chat_title(self, chat_id: int) -> str:
        chat = await self.chats.get(chat_id)
        if chat is None:
            return str(chat_id)
        return chat.title or (f"@{chat.username}" if chat.username else str(chat_id))

    # --- creating and ending -----------------------------------------------------------

    async def create(self, chat_id: int, request: CampaignRequest, user_id: int | None) -> Campaign:
        """Create the named link on Telegram, then remember it. Telegram's refusal (no right
        to invite, not in the chat) propagates as TelegramAPIError for the handler to explain."""
        await self._ensure_loaded()
        now = int(self.clock())
        expire_date = now + request.expires_in if request.expires_in else None
        link = await self.bot.create_chat_invite_link(
            chat_id,
            name=request.name,
            expire_date=expire_date,
            member_limit=request.member_limit,
            creates_join_request=request.join_requests or None,
        )
        campaign_id = await self.repo.add(
            chat_id=chat_id,
            name=request.name,
            invite_link=link.invite_link,
            cost=request.cost,
            currency=request.currency,
            expire_date=expire_date,
            member_limit=request.member_limit,
            creates_join_request=request.join_requests,
            created_by=user_id,
            created_at=now,
        )
        self.index.add(LinkRef(campaign_id, chat_id, link.invite_link, request.name))
        self.on_change()
        logger.info("campaign %s created in %s by %s", campaign_id, chat_id, user_id)
        campaign = await self.repo.get(campaign_id)
        assert campaign is not None
        return campaign

    async def get(self, campaign_id: int) -> Campaign | None:
        return await self.repo.get(campaign_id)

    async def end(self, campaign_id: int, user_id: int | None) -> EndResult:
        """Revoke the link. A link Telegram no longer knows (expired, chat gone, rights lost)
        is ended here anyway, with Telegram's words; a network failure changes nothing."""
        campaign = await self.repo.get(campaign_id)
        if campaign is None:
            return EndResult(EndOutcome.NOT_FOUND)
        if not campaign.active:
            return EndResult(EndOutcome.ALREADY, campaign)
        said = None
        try:
            await self.bot.revoke_chat_invite_link(campaign.chat_id, campaign.invite_link)
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            said = exc.message
            logger.warning("campaign %s: revoke refused: %s", campaign_id, exc.message)
        except TelegramAPIError as exc:
            logger.warning("campaign %s: revoke failed: %s", campaign_id, exc)
            return EndResult(EndOutcome.FAILED, campaign, str(exc))
        if not await self.repo.end(campaign_id, user_id, int(self.clock())):
            return EndResult(EndOutcome.ALREADY, campaign)
        return EndResult(EndOutcome.ENDED, await self.repo.get(campaign_id), said)

    async def listing(self, chat_id: int | None) -> list[Listed]:
        totals = await self.repo.totals()
        return [Listed(c, *totals.get(c.id, (0, 0))) for c in await self.repo.of_chat(chat_id)]

    async def chats_with_campaigns(self) -> list[int]:
        return await self.repo.chats_with_campaigns()

    # --- events ------------------------------------------------------------------------

    async def member_changed(
        self,
        chat_id: int,
        user_id: int,
        was_member: bool,
        now_member: bool,
        invite_link: str | None,
        link_name: str | None,
        at: int,
    ) -> MembershipChange | None:
        change = membership_change(was_member, now_member)
        if change is None:
            return None
        stay = await self.repo.open_join(chat_id, user_id)
        if stay is not None:
            # a leave, or a join while a stay is open because its leave was missed (the bot
            # was down or not yet an admin): that stay ends now
            within_1d, within_7d = churn_flags(stay.joined_at, at)
            await self.repo.close_join(stay, at, within_1d, within_7d)
        if change is MembershipChange.JOIN:
            await self._ensure_loaded()
            pending = await self.repo.pending_request(chat_id, user_id)
            found = attribute(self.index, chat_id, invite_link, link_name, pending)
            day = datetime.fromtimestamp(at, self.tz).date().isoformat()
            await self.repo.add_join(chat_id, user_id, found.campaign_id, found.source, at, day)
        return change

    async def join_requested(
        self, chat_id: int, user_id: int, invite_link: str | None, link_name: str | None, at: int
    ) -> int | None:
        """Remember which campaign a join request came through; the join itself follows as a
        chat_member update once someone approves it."""
        await self._ensure_loaded()
        found = attribute(self.index, chat_id, invite_link, link_name)
        if found.campaign_id is not None:
            await self.repo.add_request(chat_id, user_id, found.campaign_id, at)
        return found.campaign_id

    # --- reports -----------------------------------------------------------------------

    async def report(self, chat_id: int, days: int, locale: str) -> CampaignReport:
        gettext = self.i18n.gettext
        last = self.today()
        first = last - timedelta(days=days - 1)
        since, until = period_bounds(first, last, self.tz)
        campaigns = await self.repo.of_chat(chat_id)
        buckets = await self.repo.buckets(chat_id, first.isoformat(), last.isoformat())
        costed = [c.id for c in campaigns if c.cost is not None]
        rows = build_rows(campaigns, buckets, await self.repo.lifetime(costed), since, until)
        labels = day_labels(first, days)
        series = chart_series(
            rows,
            buckets,
            labels,
            gettext("organic / other", locale=locale),
            gettext("other campaigns", locale=locale),
        )
        return CampaignReport(
            chat_id, await self.chat_title(chat_id), days, first, last, rows, labels, series
        )

    async def chart(self, report: CampaignReport, locale: str) -> bytes:
        """The joins chart, its titles in the reader's language."""
        return await asyncio.to_thread(
            charts.joins_chart,
            report,
            lambda message: self.i18n.gettext(message, locale=locale),
            plural_for(self.i18n, locale),
        )

    def row_name(self, row: ReportRow, locale: str) -> str:
        if row.campaign_id is None:
            return self.i18n.gettext("Organic / other", locale=locale)
        return f"#{row.campaign_id} {html.escape(row.name)}"

    def report_text(self, report: CampaignReport, locale: str) -> str:
        gettext = self.i18n.gettext
        ngettext = plural_for(self.i18n, locale)
        lines = [
            ngettext(
                "📣 Campaigns in {title}, last {days} day ({first} – {last})",
                "📣 Campaigns in {title}, last {days} days ({first} – {last})",
                report.days,
            ).format(
                title=html.escape(report.title),
                days=report.days,
                first=report.first_day.isoformat(),
                last=report.last_day.isoformat(),
            )
        ]
        rendered = [self._row_text(row, locale) for row in report.rows]
        footer = [
            gettext(
                "Joins are counted from Telegram's member updates in chats where I am an admin; "
                "a join without a known link is organic / other.",
                locale=locale,
            )
        ]
        if len(report.rows) == 1:
            footer.insert(
                0, gettext("No campaigns here yet: create one with /campaign_new.", locale=locale)
            )
        # one Telegram message: campaigns with the most joins first, organic always shown
        # counted in UTF-16 units as Telegram counts (an emoji is two), with the HTML tags,
        # which Telegram does not count: errs on the safe side
        fixed = (*lines, rendered[-1], *footer)
        budget = TEXT_LIMIT - sum(utf16_length(x) + 1 for x in fixed) - 120
        shown = 0
        for text in rendered[:-1]:
            if utf16_length(text) + 1 > budget:
                break
            lines.append(text)
            budget -= utf16_length(text) + 1
            shown += 1
        if shown < len(rendered) - 1:
            more = len(rendered) - 1 - shown
            lines.append(
                ngettext(
                    "…and {n} more campaign; /export_stats has every row.",
                    "…and {n} more campaigns; /export_stats has every row.",
                    more,
                ).format(n=more)
            )
        lines.append(rendered[-1])
        lines.extend(footer)
        if not report.total_joins:
            lines.append(
                gettext(
                    "No joins recorded in this period yet, so there is no chart.", locale=locale
                )
            )
        return "\n".join(lines)

    def _row_text(self, row: ReportRow, locale: str) -> str:
        gettext = self.i18n.gettext
        line = gettext(
            "<b>{name}</b>: joins {joins}; left within 1 day {left_1d}, within 7 days "
            "{left_7d}; still members {still}",
            locale=locale,
        ).format(
            name=self.row_name(row, locale),
            joins=row.joins,
            left_1d=row.left_1d,
            left_7d=row.left_7d,
            still=row.still,
        )
        if row.cost is not None:
            line += "\n    " + gettext(
                "cost {cost}: {per_join} per join, {per_member} per member still here "
                "(since the start: joins {joins}, still members {still})",
                locale=locale,
            ).format(
                cost=money(row.cost, row.currency),
                per_join=money(row.cost_per_join, row.currency),
                per_member=money(row.cost_per_retained, row.currency),
                joins=row.lifetime_joins,
                still=row.lifetime_still,
            )
        return line

    async def csv_rows(self, chat_id: int, days: int, locale: str = "en") -> list[CsvRow]:
        """The report's rows for /export_stats, after the statistics rows."""
        report = await self.report(chat_id, days, locale)
        if len(report.rows) == 1 and not report.rows[0].joins:
            return []
        rows: list[CsvRow] = [
            [
                "chat_id",
                "campaign_id",
                "campaign",
                "joins",
                "left_within_1d",
                "left_within_7d",
                "still_members",
                "cost",
                "currency",
                "lifetime_joins",
                "lifetime_still_members",
                "cost_per_join",
                "cost_per_retained_member",
            ]
        ]
        for r in report.rows:
            rows.append(
                [
                    chat_id,
                    "organic" if r.campaign_id is None else r.campaign_id,
                    "organic / other" if r.campaign_id is None else r.name,
                    r.joins,
                    r.left_1d,
                    r.left_7d,
                    r.still,
                    "" if r.cost is None else f"{r.cost:.2f}",
                    r.currency or "",
                    r.lifetime_joins if r.cost is not None else "",
                    r.lifetime_still if r.cost is not None else "",
                    "" if r.cost_per_join is None else f"{r.cost_per_join:.2f}",
                    "" if r.cost_per_retained is None else f"{r.cost_per_retained:.2f}",
                ]
            )
        return rows

    async def post_lines(self, chat_id: int, days: int, locale: str) -> list[str]:
        """For /stats: posts Steward published here in the period whose URL buttons carry a
        campaign link, with the joins through that link since each was published."""
        await self._ensure_loaded()
        last = self.today()
        since, until = period_bounds(last - timedelta(days=days - 1), last, self.tz)
        posts: list[CampaignPost] = []
        for published in await self.repo.published_posts(chat_id, since, until):
            for url in links_in_buttons(published["buttons"]):
                campaign_id = self.index.campaign_of_url(url)
                if campaign_id is not None:
                    posts.append(
                        CampaignPost(
                            published["id"],
                            published["chat_id"],
                            published["message_id"],
                            published["published_at"],
                            campaign_id,
                        )
                    )
                    break
        if not posts:
            return []
        campaign_ids = sorted({p.campaign_id for p in posts})
        counts = post_joins(posts, await self.repo.join_times(campaign_ids))
        names = {c: (await self.repo.get(c)) for c in campaign_ids}
        gettext = self.i18n.gettext
        lines = [
            gettext(
                "Posts with a campaign link (joins through the link since the post):", locale=locale
            )
        ]
        for post in posts:
            campaign = names[post.campaign_id]
            when = datetime.fromtimestamp(post.published_at, self.tz).strftime("%d.%m %H:%M")
            lines.append(
                gettext(
                    "post #{post} ({when}), campaign #{id} {name}: joins {joins}", locale=locale
                ).format(
                    post=post.post_id,
                    when=when,
                    id=post.campaign_id,
                    name=html.escape(campaign.name if campaign else "?"),
                    joins=counts[post.post_id],
                )
            )
        return lines
