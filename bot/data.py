"""What aiogram injects into handlers and middlewares, by name and type: its own data
(`MiddlewareData`) plus Steward's services (`Steward.services()`), plus what Steward's
middlewares add per update. A handler's parameter is one of these keys; `tests/test_layers.py`
checks that the app provides exactly these services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram.dispatcher.middlewares.data import MiddlewareData

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.campaigns.service import CampaignService
    from bot.chat_migration import ChatMigrations
    from bot.chat_registry import ChatRegistry
    from bot.config import Settings
    from bot.engagement.giveaways import GiveawayService
    from bot.engagement.quizzes import QuizRunner
    from bot.faq.service import FaqService
    from bot.moderation.captcha import Captcha
    from bot.moderation.reports import ReportLimiter
    from bot.moderation.service import ModerationService
    from bot.moderation.targets import TargetResolver
    from bot.posting.albums import AlbumCollector
    from bot.posting.calendar import CalendarService
    from bot.posting.drafts import DraftService
    from bot.posting.publisher import Publisher
    from bot.posting.queue import PostQueue
    from bot.posting.service import PostingService
    from bot.private import PrivateNotes
    from bot.reputation.notes import ReputationNotes
    from bot.reputation.service import ReputationService
    from bot.roles import Roles, RoleService
    from bot.semantic import EmbeddingService
    from bot.stats.service import StatsService
    from bot.support.service import SupportService
    from storage.chats import ChatRepository, UserRepository
    from storage.database import Database
    from storage.engagement import GiveawayRepository, QuizRepository
    from storage.faq import FaqRepository
    from storage.moderation import ModerationRepository
    from storage.posts import ChannelRepository, DraftRepository, PostRepository, SlotRepository


class StewardData(MiddlewareData, total=False):
    # services (Steward.services())
    settings: Settings
    db: Database
    scheduler: AsyncIOScheduler
    role_service: RoleService
    users: UserRepository
    notes: PrivateNotes
    chats: ChatRepository
    chat_registry: ChatRegistry
    mod_repo: ModerationRepository
    moderation: ModerationService
    targets: TargetResolver
    captcha: Captcha
    report_limiter: ReportLimiter
    quiz_repo: QuizRepository
    giveaway_repo: GiveawayRepository
    runner: QuizRunner
    giveaways: GiveawayService
    stats: StatsService
    campaigns: CampaignService
    post_repo: PostRepository
    publisher: Publisher
    channel_repo: ChannelRepository
    drafts: DraftRepository
    slot_repo: SlotRepository
    post_queue: PostQueue
    posting: PostingService
    compose: DraftService
    albums: AlbumCollector
    faq: FaqService
    faq_repo: FaqRepository
    support: SupportService
    reputation: ReputationService
    reputation_notes: ReputationNotes
    migrations: ChatMigrations
    locale_for: Callable[[int], Awaitable[str]]
    calendar: CalendarService
    embeddings: EmbeddingService | None
    # per update, from Steward's middlewares
    roles: Roles  # RoleMiddleware
    complaint_ticket: bool  # ReputationMiddleware: the message became a complaint ticket


SERVICE_KEYS = (
    frozenset(StewardData.__annotations__)
    - set(MiddlewareData.__annotations__)
    - {
        "roles",
        "complaint_ticket",
    }
)


def typed(data: dict[str, Any]) -> StewardData:
    """A middleware's `data` as what it is."""
    return data  # type: ignore[return-value]
