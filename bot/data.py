"""What aiogram injects into handlers and middlewares, by name and type: its own data
(`MiddlewareData`) plus Steward's services (`Steward.services()`), plus what Steward's
middlewares add per update. A handler's parameter is one of these keys; `tests/test_layers.py`
checks that the app provides exactly these services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.dispatcher.middlewares.data import MiddlewareData

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n

    from bot.campaigns.service import CampaignService
    from bot.chat_migration import ChatMigrations
    from bot.chat_registry import ChatRegistry
    from bot.config import Settings
    from bot.engagement.giveaways import GiveawayService
    from bot.engagement.quizzes import QuizRunner
    from bot.faq.service import AnsweredQuestion, FaqService
    from bot.i18n import LocaleFor
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
    from storage.faq import Ticket


class StewardData(MiddlewareData, total=False):
    # services (Steward.services())
    settings: Settings
    role_service: RoleService
    notes: PrivateNotes
    chat_registry: ChatRegistry
    moderation: ModerationService
    targets: TargetResolver
    captcha: Captcha
    report_limiter: ReportLimiter
    runner: QuizRunner
    giveaways: GiveawayService
    stats: StatsService
    campaigns: CampaignService
    publisher: Publisher
    post_queue: PostQueue
    posting: PostingService
    compose: DraftService
    albums: AlbumCollector
    faq: FaqService
    support: SupportService
    reputation: ReputationService
    reputation_notes: ReputationNotes
    migrations: ChatMigrations
    locale_for: LocaleFor
    calendar: CalendarService
    embeddings: EmbeddingService | None
    # per update, from Steward's middlewares
    roles: Roles  # RoleMiddleware
    complaint_ticket: bool  # ReputationMiddleware: the message became a complaint ticket
    i18n: I18n  # LanguageMiddleware (aiogram's I18nMiddleware)
    # per handler, from Steward's filters
    ticket: Ticket  # handlers.support.staff_reply: the relayed question a staff reply answers
    answered: AnsweredQuestion  # handlers.faq.answered_question_edited: the FAQ's answer to it


SERVICE_KEYS = (
    frozenset(StewardData.__annotations__)
    - set(MiddlewareData.__annotations__)
    - {
        "roles",
        "complaint_ticket",
        "i18n",
        "ticket",
        "answered",
    }
)


def typed(data: dict[str, Any]) -> StewardData:
    """A middleware's `data` as what it is."""
    return data  # type: ignore[return-value]
