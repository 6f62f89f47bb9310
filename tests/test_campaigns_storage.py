"""Campaign joins in SQLite: stays open and close right, and the daily sums agree with them."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

from bot.campaigns.logic import DAY, CampaignIndex, CampaignReport, LinkRef, ReportRow
from bot.campaigns.service import CampaignService
from bot.clock import FrozenClock
from bot.i18n import create_i18n
from bot.texts import visible_length
from storage.campaigns import CampaignRepository
from storage.chats import ChatRepository
from storage.database import Database

CHAT = -1001555
T0 = 1_780_000_000


async def service_for(db_target) -> tuple[Database, CampaignService]:
    db = Database(db_target)
    await db.open()
    repo = CampaignRepository(db)
    service = CampaignService(
        None, repo, ChatRepository(db), UTC, create_i18n("en"), clock=FrozenClock(T0 + 20 * DAY)
    )
    await service.load()
    for n in (1, 2):
        await repo.add(
            chat_id=CHAT,
            name=f"c{n}",
            invite_link=f"https://t.me/+c{n}",
            cost=None,
            currency=None,
            expire_date=None,
            member_limit=None,
            creates_join_request=False,
            created_by=1,
            created_at=T0,
        )
    service.index = CampaignIndex(
        [LinkRef(n, CHAT, f"https://t.me/+c{n}", f"c{n}") for n in (1, 2)]
    )
    return db, service


async def daily(db: Database) -> list[tuple]:
    rows = await db.fetchall("SELECT * FROM campaign_daily ORDER BY day, campaign_id")
    return [tuple(r) for r in rows]


async def test_joins_leaves_and_rejoins_keep_the_daily_sums_exact(db_target):
    db, service = await service_for(db_target)
    join, leave = (False, True), (True, False)
    events = [
        (10, join, "https://t.me/+c1", T0),
        (10, leave, None, T0 + 3600),  # left within a day
        (10, join, None, T0 + 2 * DAY),  # came back without a link: organic
        (11, join, "https://t.me/+c2", T0),
        (11, leave, None, T0 + 3 * DAY),  # left within 7 days
        (12, join, "https://t.me/+c2", T0 + DAY),
        (12, join, None, T0 + 9 * DAY),  # a missed leave: the first stay ends at the rejoin
        (13, leave, None, T0),  # a member from before Steward counted: nothing to close
    ]
    for user, (was, now), link, at in events:
        await service.member_changed(CHAT, user, was, now, link, None, at)
    incremental = await daily(db)
    await service.repo.rebuild_daily(CHAT)
    assert await daily(db) == incremental
    report = await service.report(CHAT, 30, "en")
    rows = {r.campaign_id: (r.joins, r.left_1d, r.left_7d, r.still) for r in report.rows}
    assert rows == {1: (1, 1, 1, 0), 2: (2, 0, 1, 0), None: (2, 0, 0, 2)}
    await db.close()


async def test_a_join_request_is_attributed_once_then_forgotten(db_target):
    db, service = await service_for(db_target)
    assert await service.join_requested(CHAT, 20, "https://t.me/+c2", "c2", T0) == 2
    assert await service.join_requested(CHAT, 21, "https://t.me/+other", "x", T0) is None
    await service.member_changed(CHAT, 20, False, True, None, None, T0 + 60)
    await service.member_changed(CHAT, 20, True, False, None, None, T0 + 120)
    await service.member_changed(CHAT, 20, False, True, None, None, T0 + DAY)  # rejoin: organic
    report = await service.report(CHAT, 30, "en")
    rows = {r.campaign_id: r.joins for r in report.rows}
    assert rows == {2: 1, 1: 0, None: 1}
    await db.close()


async def test_a_report_of_many_campaigns_fits_one_message_and_keeps_organic(db_target):
    db, service = await service_for(db_target)
    rows = [
        ReportRow(n, "x" * 32, 100 - n, 1, 2, 50, Decimal(100), "EUR", 100, 50)
        for n in range(1, 101)
    ]
    rows.append(ReportRow(None, "", 7, 0, 0, 7))
    report = CampaignReport(CHAT, "Makers", 90, date(2026, 9, 1), date(2026, 11, 29), rows)
    text = service.report_text(report, "en")
    assert len(text) <= 4096
    assert "#1 " + "x" * 32 in text  # the most joins first
    assert "#100 " not in text
    assert "more campaigns; /export_stats has every row." in text
    assert "Organic / other</b>: joins 7" in text
    await db.close()


async def test_a_report_of_emoji_named_campaigns_fits_telegrams_count(db_target):
    """Telegram counts a message's 4,096 in UTF-16 units (an emoji is two): a budget counted
    in code points let a report of emoji names run past it."""
    db, service = await service_for(db_target)
    rows = [
        ReportRow(n, "🎉" * 16, 100 - n, 1, 2, 50, Decimal(100), "EUR", 100, 50)
        for n in range(1, 101)
    ]
    rows.append(ReportRow(None, "", 7, 0, 0, 7))
    report = CampaignReport(CHAT, "🚀" * 128, 90, date(2026, 9, 1), date(2026, 11, 29), rows)
    text = service.report_text(report, "en")
    assert visible_length(text) <= 4096
    assert "#1 " + "🎉" * 16 in text
    assert "more campaigns; /export_stats has every row." in text
    assert "Organic / other</b>: joins 7" in text
    await db.close()
