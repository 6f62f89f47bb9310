"""App wiring: builds the bot, dispatcher, database and scheduler, and runs them together.

`Steward.run()` is the whole life of the bot, the same for `python -m bot` and for the end-to-end
tests: open the database (migrations included), start polling or the webhook server, start the
scheduler inside the running loop, register command menus; on stop, let running handlers finish,
shut the scheduler, close the database.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import ClientError, web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.campaigns.service import CampaignService
from bot.chat_migration import ChatMigrations
from bot.chat_registry import ChatRegistry
from bot.clock import SYSTEM_CLOCK, Clock
from bot.cluster import create_cluster
from bot.cluster.dialogs import DatabaseStorage
from bot.cluster.jobs import JobClaims
from bot.cluster.webhook import OnceRequestHandler
from bot.commands import ManagerMenus, register_command_menus, register_group_admin_menu
from bot.config import Settings
from bot.data import StewardData
from bot.engagement.giveaways import GiveawayService
from bot.engagement.quizzes import QuizRunner
from bot.faq.service import FaqService
from bot.i18n import LanguageMiddleware, create_i18n, pick_language
from bot.lean_types import build_common_types, settle
from bot.middlewares import (
    AdmittingDispatcher,
    CampaignMiddleware,
    IncomingMessageMiddleware,
    InFlightMiddleware,
    MenuButtonMiddleware,
    RoleCacheMiddleware,
    RoleMiddleware,
    SeenMiddleware,
    StaleWaits,
)
from bot.miniapp.buttons import menu_button_applier
from bot.miniapp.menu import RETRY_SECONDS, MenuButtons
from bot.miniapp.web import ACCESS_LOG_FORMAT, JsonErrorRunner, MiniApp
from bot.moderation import language
from bot.moderation.captcha import Captcha
from bot.moderation.fits import LayeredFits, ShippedFits
from bot.moderation.flood import tracker_name
from bot.moderation.outbox import LogOutbox
from bot.moderation.sent_topics import SentInForums
from bot.moderation.service import TOPIC_NOTES_FLUSH_SECONDS, ModerationService
from bot.moderation.spam import (
    SpamScorer,
    build_default_bayes,
    default_samples,
    load_sample_dir,
    read_samples,
    sample_files,
)
from bot.moderation.targets import TargetResolver
from bot.moderation.understanding import SemanticSpamClassifier
from bot.outbound import OutboundMiddleware
from bot.posting.calendar import CalendarService
from bot.posting.drafts import DraftService
from bot.posting.notices import PostNotices
from bot.posting.publisher import Publisher
from bot.posting.queue import PostQueue
from bot.posting.service import PostingService
from bot.private import PrivateNotes
from bot.reputation.classifier import ComplaintClassifier
from bot.reputation.notes import ReputationNotes
from bot.reputation.service import ReputationService
from bot.roles import RoleService
from bot.semantic import create_embedding_service
from bot.stats.service import StatsService
from bot.support.relay import relay_again
from bot.support.service import SupportService
from handlers import include_routers, register_error_handler
from handlers.faq import GroupMessagesMiddleware
from handlers.miniapp import edit_in_chat_sender
from handlers.protection import ProtectionMiddleware
from handlers.reputation import ReputationMiddleware
from handlers.stats import CountWhenHandled, StatsMiddleware
from storage.campaigns import CampaignRepository
from storage.chat_migration import ChatMigrationRepository, MoveResult
from storage.chats import ChatRepository, UserRepository
from storage.database import Database
from storage.dialogs import DialogRepository
from storage.engagement import GiveawayRepository, QuizRepository
from storage.faq import (
    FaqIndexCache,
    FaqRepository,
    FaqVectorRepository,
    SupportRepository,
)
from storage.fits import FitCacheRepository
from storage.leases import LeaseRepository
from storage.menu_buttons import MenuButtonRepository
from storage.moderation import ModerationRepository
from storage.outbox import OutboxRepository
from storage.posts import (
    ChannelRepository,
    DraftRepository,
    PostRepository,
    SlotRepository,
)
from storage.reputation import ReputationRepository
from storage.stats import StatsRepository

logger = logging.getLogger(__name__)

# Every update type a feature needs. chat_member and the reaction updates are only delivered
# when asked for explicitly.
ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "chat_member",
    "my_chat_member",
    "chat_join_request",
    "poll",
    "poll_answer",
    "message_reaction",
    "message_reaction_count",
]

SHUTDOWN_DRAIN_SECONDS = 15.0
DRAFT_DAYS = 30  # drafts never confirmed nor discarded are forgotten after this
SEMANTIC_TRAINING_WAIT_SECONDS = 5.0  # start-up waits this long for the spam model, no longer
LOG_DUTY_SECONDS = 90  # the log's poster renews within its 60 s idle nap; a dead one is replaced
REARM_SECONDS = 60  # with other workers: timers re-armed from the database this often


class StartRefused(RuntimeError):
    """A setting the world refuses at start: WEBHOOK_URL that Telegram will not take (a host it
    cannot resolve, a bad certificate, …), HTTP_LISTEN that cannot be listened on (in use, not
    this machine's). Said in one line naming the key instead of a traceback."""


class Steward:
    def __init__(
        self, settings: Settings, *, handle_signals: bool = True, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.handle_signals = handle_signals
        # The one wall clock every service reads (a test may hand in a FrozenClock).
        self.clock: Clock = clock or SYSTEM_CLOCK
        clock = self.clock
        build_common_types()
        # What several workers share (REDIS_URL); in-process and unchanged without it.
        self.cluster = create_cluster(
            settings.redis_url, settings.bot_id, settings.worker_lease_seconds
        )
        self.outbound = OutboundMiddleware(self.cluster.pacer())
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        session.middleware(self.outbound)
        self.bot = Bot(
            settings.bot_token,
            session=session,
            # a reply whose message is gone (deleted by a command-cleaning bot, say) still goes
            default=DefaultBotProperties(
                parse_mode=ParseMode.HTML, allow_sending_without_reply=True
            ),
        )
        self.db = Database(settings.database)
        self.jobs = JobClaims(LeaseRepository(self.db), self.cluster.worker_id, clock)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.i18n = create_i18n(settings.default_language)
        self.role_service = RoleService(settings, self.bot)
        # None when SEMANTIC_MODEL=off or the model cannot load: features then stay lexical.
        self.embeddings = create_embedding_service(settings.semantic_model, settings.embeddings_url)
        self.mod_repo = ModerationRepository(self.db)
        # what start-up fits (seconds of CPU) is stored for the next start with the same data
        fits = LayeredFits(FitCacheRepository(self.db), ShippedFits.packaged())
        self.log_outbox = LogOutbox(
            self.bot,
            OutboxRepository(self.db),
            wait_hint=self.outbound.pacer.wait_hint,
            pause=self.outbound.pacer.pause_chat,
            clock=clock,
        )
        self.moderation = ModerationService(
            self.bot,
            self.mod_repo,
            settings,
            self.i18n,
            SpamScorer(build_default_bayes()),
            self.log_outbox,
            clock=clock,
            semantic=SemanticSpamClassifier(self.embeddings, fits=fits),
        )
        # the bot's own messages in forums: their topics come only with the send's result
        session.middleware(SentInForums(self.moderation.note_topic_message))
        self.captcha = Captcha(self.bot, self.moderation, settings, self.i18n, self.scheduler)
        self.users = UserRepository(self.db)
        self.notes = PrivateNotes(self.bot, self.users, clock)
        self.quiz_repo = QuizRepository(self.db)
        self.giveaway_repo = GiveawayRepository(self.db)
        self.runner = QuizRunner(
            self.bot,
            self.quiz_repo,
            self.scheduler,
            self.i18n,
            self.locale_for,
            clock=clock,
            notes=self.notes,
            pacer=self.outbound.pacer,
            lease_seconds=settings.worker_lease_seconds,
            shared=self.cluster.shared,
        )
        self.stats = StatsService(
            self.bot,
            StatsRepository(self.db),
            ChatRepository(self.db),
            settings,
            self.i18n,
            self.scheduler,
            self.locale_for,
            clock=clock,
            notes=self.notes,
        )
        self.campaigns = CampaignService(
            self.bot,
            CampaignRepository(self.db),
            ChatRepository(self.db),
            settings.timezone,
            self.i18n,
            clock=clock,
        )
        self.stats.summary_sections.append(self.campaigns.post_lines)
        self.stats.csv_sections.append(self.campaigns.csv_rows)
        self.post_repo = PostRepository(self.db)
        self.channel_repo = ChannelRepository(self.db)
        self.drafts = DraftRepository(self.db)
        self.faq = FaqService(
            FaqRepository(self.db),
            self.embeddings,
            FaqVectorRepository(self.db),
            FaqIndexCache(self.db),
            clock=clock,
        )
        self.post_notices = PostNotices(
            self.post_repo, self.channel_repo, self.notes, self.i18n, self.locale_for
        )
        self.publisher = Publisher(
            self.bot,
            self.post_repo,
            self.scheduler,
            settings.late_post_grace_seconds,
            self.post_notices,
            channels=self.channel_repo,
            tz=settings.timezone,
            mark_channel=self.outbound.pacer.mark_channel,
            pacer=self.outbound.pacer,
            on_published=self.stats.own_post,
            shared=self.cluster.shared,
            lease_seconds=settings.worker_lease_seconds,
            clock=clock,
        )
        self.giveaways = GiveawayService(
            self.bot,
            self.giveaway_repo,
            self.users,
            self.role_service,
            self.scheduler,
            self.i18n,
            self.locale_for,
            clock=clock,
            notes=self.notes,
            tz=settings.timezone,
        )
        self.calendar = CalendarService(
            self.post_repo,
            self.channel_repo,
            SlotRepository(self.db),
            StatsRepository(self.db),
            self.publisher,
            settings.timezone,
            clock=clock,
        )
        self.support_repo = SupportRepository(self.db)
        self.support = SupportService(
            self.support_repo,
            settings.support_chat_id,
            clock=clock,
            notices=self.cluster.cool_down_notices(),
        )
        self.reputation = ReputationService(
            ReputationRepository(self.db),
            ComplaintClassifier(self.embeddings, fits=fits),
            self.support_repo,
            settings.timezone,
            settings.support_chat_id,
            clock=clock,
        )
        self.reputation_notes = ReputationNotes(
            self.reputation, self.notes, self.i18n, settings, self.locale_for, self._chat_title
        )
        self.stats.summary_sections.append(self.reputation_notes.stats_lines)
        self.stats.chart_series = self.reputation_notes.chart_series
        self.reputation_training: asyncio.Task[None] | None = None
        self.migrations = ChatMigrations(ChatMigrationRepository(self.db), clock)
        self.menu_buttons = MenuButtons(
            settings,
            MenuButtonRepository(self.db),
            menu_button_applier(self.bot, self.i18n),
            self.locale_for,
            clock=clock,
        )
        self.manager_menus = ManagerMenus(self.bot, self.i18n, settings.languages)
        self.migrations.before_move(self._before_chat_moves)
        self.migrations.after_move(self._chat_moved)
        self.outbound.chats = self.migrations
        self.support.new_id_of = self.migrations.new_id_of
        self.in_flight = InFlightMiddleware()
        self._background: set[asyncio.Task[Any]] = set()
        self.semantic_training: asyncio.Task[None] | None = None
        self.started = asyncio.Event()
        self.dispatcher = self._build_dispatcher()
        self._share_state()
        self.web_port: int | None = None  # the port the web server listens on, once started

    def services(self) -> StewardData:
        """What handlers may ask for by parameter name (aiogram injects workflow data): services
        only; repositories stay behind them (`tests/test_layers.py`)."""
        posting = PostingService(
            self.post_repo,
            self.channel_repo,
            SlotRepository(self.db),
            self.publisher,
            clock=self.clock,
        )
        return {
            "settings": self.settings,
            "role_service": self.role_service,
            "notes": self.notes,
            "chat_registry": ChatRegistry(ChatRepository(self.db), self.channel_repo),
            "moderation": self.moderation,
            "targets": TargetResolver(self.users, self.role_service, self.settings.bot_id),
            "captcha": self.captcha,
            "report_limiter": self.cluster.report_limiter(),
            "runner": self.runner,
            "giveaways": self.giveaways,
            "stats": self.stats,
            "campaigns": self.campaigns,
            "publisher": self.publisher,
            "post_queue": PostQueue(self.post_repo, self.channel_repo, clock=self.clock),
            "posting": posting,
            "compose": DraftService(self.drafts, posting, self.settings.timezone),
            "albums": self.cluster.album_collector(),
            "faq": self.faq,
            "support": self.support,
            "reputation": self.reputation,
            "reputation_notes": self.reputation_notes,
            "migrations": self.migrations,
            "locale_for": self.locale_for,
            "calendar": self.calendar,
            "embeddings": self.embeddings,
        }

    def _build_dispatcher(self) -> Dispatcher:
        dialogs = DatabaseStorage(DialogRepository(self.db), self.clock)
        dp = AdmittingDispatcher(
            name="steward", storage=self.cluster.fsm_storage(dialogs), in_flight=self.in_flight
        )
        dp.workflow_data.update(self.services())
        dp.update.outer_middleware(self.in_flight)
        # an update's statistics count once it was handled: a redelivered one counts once
        dp.update.outer_middleware(CountWhenHandled(self.stats))
        # Campaigns record joins and leaves in update order, before anything awaits (see there).
        dp.update.outer_middleware(CampaignMiddleware(self.campaigns))
        LanguageMiddleware(self.i18n, self.settings.languages, self._chat_languages).setup(dp)
        incoming = IncomingMessageMiddleware(self.migrations)
        dp.message.outer_middleware(incoming)
        dp.edited_message.outer_middleware(incoming)
        seen = SeenMiddleware(self.users, ChatRepository(self.db))
        for observer in (dp.message, dp.edited_message, dp.callback_query, dp.my_chat_member):
            observer.outer_middleware(seen)
        menus = MenuButtonMiddleware(
            self.menu_buttons,
            self.settings.languages,
            self.settings.default_language,
            self.manager_menus,
        )
        dp.message.outer_middleware(menus)
        dp.my_chat_member.outer_middleware(menus)
        # a manager's question about a post left unanswered for a day no longer takes messages
        dp.message.outer_middleware(StaleWaits(self.clock))
        role_cache = RoleCacheMiddleware(self.role_service)
        dp.chat_member.outer_middleware(role_cache)
        dp.my_chat_member.outer_middleware(role_cache)
        # Moderation first: every group message and edit is checked before any handler.
        albums = self.cluster.album_verdicts()
        for observer, edited in ((dp.message, False), (dp.edited_message, True)):
            observer.outer_middleware(
                ProtectionMiddleware(
                    self.moderation,
                    self.role_service,
                    self.settings,
                    self.i18n,
                    edited=edited,
                    flood=self.cluster.flood_tracker(tracker_name(edited)),
                    albums=albums,
                )
            )
        # Statistics count what survived moderation, and joins and leaves on the way.
        stats_middleware = StatsMiddleware(self.stats)
        dp.message.outer_middleware(stats_middleware)
        # Then the routers; group messages none of them took reach the FAQ and the staff.
        dp.message.outer_middleware(GroupMessagesMiddleware())
        # inside the FAQ stage: a complaint becomes a priority ticket instead of a question
        dp.message.outer_middleware(ReputationMiddleware(self.reputation, self.reputation_notes))
        dp.chat_member.outer_middleware(stats_middleware)
        role_middleware = RoleMiddleware(self.role_service)
        dp.callback_query.middleware(role_middleware)
        include_routers(dp, command_middlewares=[role_middleware])
        register_error_handler(dp)
        dp.startup.register(self._on_startup)
        dp.shutdown.register(self._on_shutdown)
        return dp

    def _share_state(self) -> None:
        """Caches and duties that other workers must hear about (a no-op in one process)."""
        bus = self.cluster.bus
        for topic, cache in self.moderation.caches().items():

            def announce(key: int, topic: str = topic) -> None:
                bus.announce(topic, key)

            cache.on_invalidate = announce
            bus.subscribe(topic, cache.forget)
        self.role_service.on_change = lambda chat_id: bus.announce("roles", chat_id)
        bus.subscribe("roles", self.role_service.forget)
        self.faq.on_change = lambda: bus.announce("faq", None)
        bus.subscribe("faq", lambda _: self.faq.invalidate())
        self.campaigns.on_change = lambda: bus.announce("campaign-links", None)
        bus.subscribe("campaign-links", lambda _: self.campaigns.forget())
        bus.subscribe("chat-moved", self._chat_moved_elsewhere)
        self.stats.once = self.jobs.once
        self.giveaways.on_posted = self.stats.own_post
        self.giveaways.chat_type = self._chat_type
        self.giveaways.shared = self.cluster.shared
        if self.cluster.shared:
            outbox = self.log_outbox
            outbox.duty = lambda: self.jobs.hold_duty("log-outbox", LOG_DUTY_SECONDS)
            outbox.drop_duty = lambda: self.jobs.drop_duty("log-outbox")
            outbox.announce = lambda: bus.announce("log-outbox", None)
            bus.subscribe("log-outbox", lambda _: outbox.wake(announce=False))

    def _add_once_job(self, job_id: str, job: Any, trigger: Any) -> None:
        """A recurring job that one worker runs per occurrence (bot.cluster.jobs)."""
        self.scheduler.add_job(
            self.jobs.once(job_id, trigger, job),
            trigger,
            id=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )

    async def _before_chat_moves(self, old: int, new: int) -> None:
        # counts held in memory under the old id
        await self.stats.collector.flush()
        await self.reputation.flush()

    async def _chat_moved(self, moved: MoveResult) -> None:
        """After an upgraded group's rows moved: nothing cached may still answer for either id,
        timers follow the chat, and what members act on (a giveaway's button) is there again."""
        old, new = moved.old_chat_id, moved.new_chat_id
        self._forget_moved(old, new)
        await self.reputation.load()  # a watch limited to the group names the new id now
        self.cluster.bus.announce("chat-moved", [old, new])
        self.captcha.moved(old, new, moved.captchas)
        if moved.first:
            await register_group_admin_menu(self.bot, self.i18n, self.settings.languages, new)
        for giveaway_id in moved.open_giveaways:
            try:
                await self.giveaways.announce_again(giveaway_id)
            except TelegramAPIError as exc:
                logger.warning("giveaway %s not announced in %s: %s", giveaway_id, new, exc)
        await self._relay_open_tickets_again(moved)

    async def _relay_open_tickets_again(self, moved: MoveResult) -> None:
        """An upgraded support chat: its open tickets' relays, which nobody can reply to any
        more, are posted again in the new chat."""
        if not moved.open_tickets:
            return
        chats = ChatRepository(self.db)
        locale = await self.locale_for(moved.new_chat_id)
        with self.i18n.context(), self.i18n.use_locale(locale):
            for ticket_id in moved.open_tickets:
                ticket = await self.support.ticket(ticket_id)
                if ticket is None:
                    continue
                try:
                    await relay_again(
                        self.bot,
                        self.support,
                        ticket,
                        moved.new_chat_id,
                        await chats.get(ticket.chat_id),
                    )
                except TelegramAPIError as exc:
                    logger.warning(
                        "ticket %s not relayed again in %s: %s", ticket_id, moved.new_chat_id, exc
                    )

    def _forget_moved(self, old: int, new: int) -> None:
        for chat_id in (old, new):
            self.moderation.forget_chat(chat_id)
            self.role_service.invalidate(chat_id)
        self.faq.invalidate()
        self.support_repo.forget_routes()
        self.campaigns.forget()  # its links are matched by chat id

    def _chat_moved_elsewhere(self, moved: list[int] | None) -> None:
        """Another worker moved an upgraded group's rows: forget both ids here too and learn
        where the group went (None: anything may have changed while disconnected)."""
        if moved is not None:
            self._forget_moved(*moved)
        task = asyncio.get_running_loop().create_task(self._reload_after_move())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reload_after_move(self) -> None:
        await self.migrations.load()
        await self.reputation.load()

    async def _chat_type(self, chat_id: int) -> str | None:
        chat = await ChatRepository(self.db).get(chat_id)
        return chat.type if chat else None

    async def _chat_title(self, chat_id: int) -> str:
        chat = await ChatRepository(self.db).get(chat_id)
        return (chat.title or chat.username or str(chat_id)) if chat else str(chat_id)

    async def _chat_languages(self, chat_id: int) -> tuple[str, ...]:
        return (await self.mod_repo.settings(chat_id)).language_list

    async def locale_for(self, chat_id: int) -> str:
        """The language to address a chat in when no user triggered the message: a group's
        own languages first, a private chat's user language, else the default."""
        settings = self.settings
        candidates: list[str | None]
        if chat_id < 0:
            candidates = list(await self._chat_languages(chat_id))
        else:
            candidates = [await self.users.language_of(chat_id)]
        return pick_language(candidates, settings.languages, settings.default_language)

    def _schedule_agenda(self) -> None:
        if not self.settings.daily_agenda:
            return
        hour, minute = map(int, self.settings.daily_agenda.split(":"))
        self._add_once_job(
            "posts:agenda",
            self.send_agenda,
            CronTrigger(hour=hour, minute=minute, timezone=self.settings.timezone),
        )

    async def send_agenda(self) -> None:
        """DAILY_AGENDA: each manager gets the posts due in the next 24 hours, in local time."""
        await self.post_notices.agenda(
            sorted(self.settings.manager_ids), int(self.clock()), self.settings.timezone
        )

    async def _prepare_moderation(self) -> None:
        bayes = self.moderation.scorer.bayes
        if self.settings.spam_samples_dir:
            spam, ham = load_sample_dir(bayes, self.settings.spam_samples_dir)
            logger.info(
                "learned %d spam and %d ham samples from %s",
                spam,
                ham,
                self.settings.spam_samples_dir,
            )
        lessons = await self.moderation.load_lessons(bayes)
        logger.info("spam classifier: %d lessons from moderators", len(lessons))
        await self._train_semantic_spam(lessons)
        await asyncio.to_thread(language.warm_up)
        await self.captcha.rearm_all()

    async def _train_semantic_spam(self, lessons: list[tuple[str, bool]]) -> None:
        """Train the embedding classifier; start-up waits a few seconds for it, no longer.

        The shipped samples come with precomputed vectors, so this is quick; a large
        SPAM_SAMPLES_DIR is embedded in the background while the other signals work alone.
        """
        if not self.moderation.semantic.enabled:
            return
        spam, ham = default_samples("spam"), default_samples("ham")
        if self.settings.spam_samples_dir:
            extra_spam, extra_ham = sample_files(self.settings.spam_samples_dir)
            spam += [line for path in extra_spam for line in read_samples(path)]
            ham += [line for path in extra_ham for line in read_samples(path)]
        training = asyncio.create_task(self.moderation.semantic.train(spam, ham, lessons))
        self.semantic_training = training
        done, _ = await asyncio.wait({training}, timeout=SEMANTIC_TRAINING_WAIT_SECONDS)
        if not done:
            logger.info("semantic spam model still training; it joins in when ready")

    async def _prepare_reputation(self) -> None:
        """Watches now; the complaint model trains with the shipped vectors (a second or two),
        start-up waits a few seconds for it, no longer."""
        await self.reputation.load()
        training = asyncio.create_task(self.reputation.train())
        self.reputation_training = training
        done, _ = await asyncio.wait({training}, timeout=SEMANTIC_TRAINING_WAIT_SECONDS)
        if not done:
            logger.info("complaint model still training; it joins in when ready")
        tz = self.settings.timezone
        # each worker flushes what it counted itself; the daily ones run once for all
        self.scheduler.add_job(
            self.reputation.flush,
            IntervalTrigger(seconds=60),
            id="reputation:flush",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        self._add_once_job(
            "reputation:mentions",
            self.reputation_notes.mentions_digest,
            CronTrigger(hour=9, minute=0, timezone=tz),
        )
        self._add_once_job(
            "reputation:prune", self.reputation.prune, CronTrigger(hour=0, minute=20, timezone=tz)
        )

    async def _on_startup(self) -> None:
        me = await self.bot.get_me()
        logger.info("connected as @%s (id %s)", me.username, me.id)
        await self._check_configured_chats()
        await self.migrations.load()
        self.scheduler.start()
        await self._prepare_moderation()
        await self.log_outbox.start()  # entries queued before a stop go out now
        await self.runner.rearm_all(starting=True)
        await self.giveaways.rearm_all()
        self.stats.schedule_jobs()
        await self.campaigns.load()
        await self._prepare_reputation()
        self._add_once_job(
            "campaigns:prune",
            self.campaigns.prune,
            CronTrigger(hour=0, minute=15, timezone=self.settings.timezone),
        )
        self._add_once_job(
            "cluster:prune", self.jobs.prune, CronTrigger(hour=0, minute=25, timezone="UTC")
        )
        self.scheduler.add_job(  # each worker writes the forum topics it noted itself
            self.moderation.flush_topic_notes,
            IntervalTrigger(seconds=TOPIC_NOTES_FLUSH_SECONDS),
            id="moderation:topics-flush",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        self._add_once_job(
            "moderation:topics-prune",
            self.moderation.prune_topic_messages,
            CronTrigger(minute=35, timezone="UTC"),
        )
        if self.cluster.shared:
            # a timer lives on the worker that armed it: the others re-arm from the database
            # now and then, so a worker's death delays a quiz or a giveaway but loses neither
            self.scheduler.add_job(
                self._rearm_shared,
                IntervalTrigger(seconds=REARM_SECONDS),
                id="cluster:rearm",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )
        counts = await self.publisher.rebuild()
        logger.info("scheduled posts: %s", counts)
        self._schedule_agenda()
        await self.drafts.prune(int(self.clock()) - DRAFT_DAYS * 86400)
        # The FAQ's indexes: lexical at once, semantic in the background (stored vectors reused,
        # new ones computed off the event loop); questions are matched lexically meanwhile.
        await self.faq.warm_up()
        await self.stats.refresh_member_counts()
        groups = await ChatRepository(self.db).groups_with_bot()
        await register_command_menus(
            self.bot,
            self.i18n,
            self.settings.languages,
            sorted(self.settings.manager_ids),
            [g.chat_id for g in groups],
            self.manager_menus.missed,
        )
        # Managers' calendar menu buttons: whoever Telegram can reach now; the others on their
        # next private message, or by this hourly retry.
        logger.info("calendar menu buttons: %s", await self.menu_buttons.sync() or "all current")
        self._add_once_job(
            "menu-buttons:retry", self.menu_buttons.sync, IntervalTrigger(seconds=RETRY_SECONDS)
        )
        settle()
        self.started.set()

    async def _check_configured_chats(self) -> None:
        """LOG_CHAT_ID and SUPPORT_CHAT_ID are used only when something happens there: a chat
        the bot cannot reach would show days later as a lost log line or a question nobody saw.
        Said at start instead; the bot still starts (it may be added to the chat later)."""
        for key, chat_id in (
            ("LOG_CHAT_ID", self.settings.log_chat_id),
            ("SUPPORT_CHAT_ID", self.settings.support_chat_id),
        ):
            if chat_id is None:
                continue
            try:
                await self.bot.get_chat(chat_id)
            except TelegramAPIError as exc:
                logger.warning(
                    "%s %s: I cannot reach that chat (%s); add me to it, or fix the id",
                    key,
                    chat_id,
                    exc.message,
                )

    async def _rearm_shared(self) -> None:
        await self.runner.rearm_all()
        await self.giveaways.rearm_all()
        await self.captcha.rearm_all()

    async def _on_shutdown(self) -> None:
        logger.info("shutting down: waiting for running handlers")
        await self.in_flight.drain(SHUTDOWN_DRAIN_SECONDS)
        self.faq.close()
        await self.log_outbox.stop()  # what is still queued is posted after the next start
        await self.stats.collector.flush()
        await self.moderation.flush_topic_notes()
        await self.reputation.flush()
        if self.scheduler.running:
            # no timer starts another post, and a post on its way out gets its answer: the
            # scheduler's shutdown cancels the jobs still running
            self.scheduler.pause()
            await self.publisher.sending.drain(SHUTDOWN_DRAIN_SECONDS)
            self.scheduler.shutdown(wait=False)

    async def run(self) -> None:
        await self.db.open()
        runner: web.AppRunner | None = None
        try:
            await self.cluster.start()
            if not self.settings.webhook_url:
                await self.db.claim_polling()  # PostgreSQL: one polling process per database
            if self.settings.webhook_url or self.settings.miniapp_url:
                runner = await self._start_web_server()
            if self.settings.webhook_url:
                await self._run_webhook(self.settings.webhook_url)
            else:
                await self.cluster.polling.hold()  # one long-polling worker per bot
                await self.bot.delete_webhook(drop_pending_updates=False)
                await self._poll_while_locked()
        finally:
            if runner is not None:
                await runner.cleanup()
            await self.bot.session.close()
            await self.cluster.close()
            await self.db.close()
            if self.embeddings is not None:
                self.embeddings.close()
            logger.info("stopped")

    async def _poll_while_locked(self) -> None:
        """Long polling for as long as this process holds the polling locks (the database's on
        PostgreSQL, Redis's with REDIS_URL). A lock whose connection was lost is taken again;
        once another process holds it, this one stops polling and `run` raises what the start
        would have (exit code 3), so two processes never go on polling together."""
        polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                allowed_updates=ALLOWED_UPDATES,
                handle_signals=self.handle_signals,
                close_bot_session=True,
            ),
            name="polling",
        )
        watchers: set[asyncio.Task[Exception]] = {
            asyncio.create_task(self.db.polling_lost(), name="polling-lock:database"),
            asyncio.create_task(self.cluster.polling.lost(), name="polling-lock:redis"),
        }
        try:
            done, _ = await asyncio.wait({polling, *watchers}, return_when=asyncio.FIRST_COMPLETED)
            if polling in done:
                polling.result()
                return
            lost = next(task for task in watchers if task in done).result()
            logger.error("stopping long polling: %s", lost)
            with suppress(RuntimeError):  # not polling yet: stopped below
                await self.dispatcher.stop_polling()
            await asyncio.wait({polling}, timeout=2 * SHUTDOWN_DRAIN_SECONDS + 5)
            raise lost
        finally:
            for task in (*watchers, polling):
                if not task.done():
                    task.cancel()
            await asyncio.gather(*watchers, polling, return_exceptions=True)

    def build_web_app(self) -> web.Application:
        """The one web server: the webhook (in webhook mode) and the calendar Mini App."""
        settings = self.settings
        app = web.Application()
        if settings.webhook_url:
            path = urlsplit(settings.webhook_url).path or "/webhook"
            # answers Telegram once the update was handled, each update once, a chat at a time
            OnceRequestHandler(
                self.dispatcher, self.bot, self.cluster, settings.webhook_secret
            ).register(app, path=path)
            setup_application(app, self.dispatcher, bot=self.bot)
        if settings.miniapp_url:
            edit_in_chat = edit_in_chat_sender(
                self.bot,
                self.notes,
                self.dispatcher.storage,
                self.i18n,
                self.locale_for,
                settings.languages,
                self.clock,
            )
            MiniApp(
                settings, self.calendar, edit_in_chat, self.clock, fetch_file=self._fetch_file
            ).install(app)
        return app

    async def _fetch_file(self, file_id: str) -> bytes | None:
        """A small file from Telegram (the calendar's thumbnails); None when it is gone."""
        try:
            found = await self.bot.get_file(file_id)
            if not found.file_path:
                return None
            data = await self.bot.download_file(found.file_path)
        except (TelegramAPIError, ClientError, OSError, TimeoutError) as exc:
            logger.info("thumbnail %s not available: %s", file_id, exc)
            return None
        return data.read() if data is not None else None  # a BytesIO, at its start

    async def _start_web_server(self) -> web.AppRunner:
        settings = self.settings
        runner = JsonErrorRunner(self.build_web_app(), access_log_format=ACCESS_LOG_FORMAT)
        await runner.setup()
        site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartRefused(
                f"HTTP_LISTEN {settings.webhook_host}:{settings.webhook_port}: cannot listen "
                f"there ({exc.strerror or exc}); pick a free port of this machine"
            ) from None
        except BaseException:
            await runner.cleanup()
            raise
        self.web_port = settings.webhook_port
        logger.info("web server listening on %s:%s", settings.webhook_host, settings.webhook_port)
        if settings.miniapp_url:
            logger.info("calendar Mini App at %s", settings.miniapp_url)
        return runner

    async def _run_webhook(self, url: str) -> None:
        settings = self.settings
        path = urlsplit(url).path or "/webhook"
        try:
            await self.bot.set_webhook(
                url,
                secret_token=settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
                max_connections=settings.webhook_max_connections,
            )
        except TelegramBadRequest as exc:
            raise StartRefused(
                f"WEBHOOK_URL {url} was refused by Telegram ({exc.message}); give the public "
                "https address, on port 443, 80, 88 or 8443, that reaches HTTP_LISTEN"
            ) from None
        logger.info(
            "webhook listening on %s:%s%s", settings.webhook_host, settings.webhook_port, path
        )
        self._webhook_stop = asyncio.Event()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with suppress(NotImplementedError):
                    loop.add_signal_handler(sig, self._webhook_stop.set)
        await self._webhook_stop.wait()

    async def stop(self) -> None:
        """Stop from inside the process (tests, embedding); signals do the same."""
        if self.settings.webhook_url:
            self._webhook_stop.set()
        else:
            with suppress(RuntimeError):
                await self.dispatcher.stop_polling()
