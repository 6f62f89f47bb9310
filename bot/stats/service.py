"""Statistics service: scheduled jobs, reports as text and charts, the weekly digest, CSV."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.clock import SYSTEM_CLOCK, Clock
from bot.commands import N_
from bot.config import Settings
from bot.i18n import plural_for
from bot.moderation.service import action_label
from bot.private import PrivateNotes
from bot.stats import charts
from bot.stats.collector import StatsCollector
from bot.stats.report import (
    ChatReport,
    CsvRow,
    best_time,
    build_report,
    change,
    csv_rows,
    spreadsheet_safe,
)
from bot.texts import TEXT_LIMIT, pack_lines, utf16_length
from storage.chats import ChatRepository, KnownChat, UserRepository
from storage.stats import StatsRepository

logger = logging.getLogger(__name__)

# kept free under a /stats summary's sections: the "…and n more." of a cut section and the
# closing "nothing recorded" sentence, in any of the languages
SECTION_RESERVE = 200

FLUSH_SECONDS = 10
WEEKDAY_NAMES = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)


class StatsService:
    def __init__(
        self,
        bot: Bot,
        repo: StatsRepository,
        chats: ChatRepository,
        settings: Settings,
        i18n: I18n,
        scheduler: AsyncIOScheduler,
        locale_for: Callable[[int], Awaitable[str]],
        clock: Clock = SYSTEM_CLOCK,
        notes: PrivateNotes | None = None,
    ) -> None:
        self.bot = bot
        self.notes = notes or PrivateNotes(bot, UserRepository(repo.db), clock)
        self.locale_for = locale_for
        self.repo = repo
        self.chats = chats
        self.settings = settings
        self.i18n = i18n
        self.scheduler = scheduler
        self.clock = clock
        # wraps a recurring job so that one worker runs each occurrence (bot.cluster.jobs)
        self.once: Callable[[str, Any, Callable[[], Awaitable[Any]]], Any] = (
            lambda name, trigger, job: job
        )
        self.collector = StatsCollector(repo, settings.timezone, clock)
        # Other features add to the reports: lines under the /stats summary
        # (chat id, days, locale) and rows under the /export_stats CSV (chat id, days).
        self.summary_sections: list[Callable[[int, int, str], Awaitable[list[str]]]] = []
        self.csv_sections: list[Callable[[int, int], Awaitable[list[CsvRow]]]] = []
        # A group's complaint share per day, in percent (bot.reputation), drawn on the chart.
        self.chart_series: Callable[[int, int], Awaitable[dict[str, float]]] | None = None

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), self.settings.timezone).date()

    def schedule_jobs(self) -> None:
        tz = self.settings.timezone
        self.scheduler.add_job(
            self.collector.flush,
            "interval",
            seconds=FLUSH_SECONDS,
            id="stats:flush",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        daily = CronTrigger(hour=0, minute=5, timezone=tz)
        self.scheduler.add_job(
            self.once("stats:daily", daily, self.daily_tasks),
            daily,
            id="stats:daily",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=3600,
        )
        if self.settings.weekly_digest:
            weekly = CronTrigger(day_of_week="mon", hour=9, minute=0, timezone=tz)
            self.scheduler.add_job(
                self.once("stats:digest", weekly, self.send_digest),
                weekly,
                id="stats:digest",
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=3600,
            )

    async def daily_tasks(self) -> None:
        await self.refresh_member_counts()
        cutoff = date.fromordinal(self.today().toordinal() - self.settings.stats_retention_days)
        removed = await self.repo.prune(cutoff.isoformat())
        logger.info("statistics: pruned %d old per-member/per-hour rows", removed)

    async def known_chats(self) -> list[KnownChat]:
        return [c for c in await self.chats.with_bot() if c.type != "private"]

    async def refresh_member_counts(self) -> None:
        """Subscribers of every channel once a day (Telegram pushes no such number)."""
        day = self.today().isoformat()
        for chat in await self.known_chats():
            if chat.type != "channel":
                continue
            try:
                count = await self.bot.get_chat_member_count(chat.chat_id)
            except TelegramAPIError as exc:
                logger.warning("member count of %s: %s", chat.chat_id, exc)
                continue
            await self.repo.set_members(chat.chat_id, day, count)

    # --- events ---------------------------------------------------------------------------

    async def channel_post(self, chat_id: int, message_id: int, posted_at: int) -> None:
        """A post a person made in the channel (Telegram delivers those as `channel_post`)."""
        await self.repo.add_post(
            chat_id, message_id, posted_at, await self.repo.latest_members(chat_id)
        )

    async def own_post(self, chat_id: int, message_ids: list[int], posted_at: int) -> None:
        """A post Steward published: Telegram never sends the bot its own posts, so they are
        recorded from the send call, with the subscribers at that moment (ER's denominator)."""
        if not message_ids:
            return
        members: int | None
        try:
            counted = await self.bot.get_chat_member_count(chat_id)
        except TelegramAPIError as exc:
            logger.info("member count of %s at publish: %s", chat_id, exc)
            members = await self.repo.latest_members(chat_id)
        else:
            day = datetime.fromtimestamp(posted_at, self.settings.timezone).date().isoformat()
            await self.repo.set_members(chat_id, day, counted)
            members = counted
        await self.repo.add_own_post(chat_id, message_ids, posted_at, members)

    async def comment(self, channel_id: int, post_id: int) -> None:
        """A member commented a channel post in its discussion group."""
        await self.repo.add_comment(channel_id, post_id)

    async def reaction_count(self, chat_id: int, message_id: int, total: int) -> None:
        delta = await self.repo.set_post_reactions(chat_id, message_id, total)
        if delta:
            self.collector.bump(chat_id, "reactions", delta)

    # --- reports --------------------------------------------------------------------------

    async def report(self, chat_id: int, days: int) -> ChatReport:
        self.collector.settle_this_update()
        await self.collector.flush()
        chat = await self.chats.get(chat_id)
        title = (chat.title or chat.username or str(chat_id)) if chat else str(chat_id)
        kind = "channel" if chat and chat.type == "channel" else "group"
        return await build_report(
            self.repo, chat_id, title, kind, days, self.today(), self.settings.timezone
        )

    def summary(self, r: ChatReport, locale: str) -> str:
        t, p = r.totals, r.previous
        gettext = self.i18n.gettext
        ngettext = plural_for(self.i18n, locale)

        # "new": nothing in the period before, in the reader's language
        new = gettext("new", locale=locale)

        def line(label: str, key: str) -> str:
            return f"{label}: {t[key]} ({change(t[key], p[key], new)})"

        lines = [
            ngettext(
                "📊 {title}, last {days} day ({first} – {last})",
                "📊 {title}, last {days} days ({first} – {last})",
                r.days,
            ).format(
                title=html.escape(r.title),
                days=r.days,
                first=r.first_day.isoformat(),
                last=r.last_day.isoformat(),
            )
        ]
        if r.kind == "channel":
            if r.members:
                first, last = r.members[0][1], r.members[-1][1]
                lines.append(
                    gettext("Subscribers: {count} ({change})", locale=locale).format(
                        count=last, change=f"{last - first:+d}"
                    )
                )
            lines.append(gettext("Posts: {count}", locale=locale).format(count=len(r.posts)))
            lines.append(line(gettext("Reactions", locale=locale), "reactions"))
            average = r.average_er
            if average is not None:
                lines.append(
                    gettext("Average ER by subscribers: {er}%", locale=locale).format(
                        er=f"{average:.2f}"
                    )
                )
            lines.append(
                gettext(
                    "View counts are not available to bots, so ER here is "
                    "(reactions + comments) / subscribers.",
                    locale=locale,
                )
            )
            return "\n".join(lines)
        lines.append(line(gettext("Messages", locale=locale), "messages"))
        lines.append(line(gettext("Active members", locale=locale), "active_members"))
        lines.append(line(gettext("Joined", locale=locale), "joins"))
        lines.append(line(gettext("Left", locale=locale), "leaves"))
        if t["questions"] or p["questions"]:
            lines.append(
                gettext(
                    "Questions: {asked}, answered by FAQ: {answered}, to people: "
                    "{escalated}, 👍 {up} / 👎 {down}",
                    locale=locale,
                ).format(
                    asked=t["questions"],
                    answered=t["faq_answered"],
                    escalated=t["faq_escalated"],
                    up=t["faq_up"],
                    down=t["faq_down"],
                )
            )
        if r.moderation:
            # the audit log's identifiers ("warn"), named as the moderation log names them
            parts = ", ".join(
                f"{action_label(self.i18n, k, locale)} {v}" for k, v in sorted(r.moderation.items())
            )
            lines.append(gettext("Moderation: {actions}", locale=locale).format(actions=parts))
        if r.quizzes[0]:
            lines.append(
                gettext("Quizzes: {count}, players: {players}", locale=locale).format(
                    count=r.quizzes[0], players=r.quizzes[1]
                )
            )
        if r.giveaways[0]:
            lines.append(
                gettext("Giveaways: {count}, entries: {entries}", locale=locale).format(
                    count=r.giveaways[0], entries=r.giveaways[1]
                )
            )
        if r.top:
            top = ", ".join(f"{html.escape(name)} ({n})" for name, n in r.top)
            lines.append(gettext("Most active: {members}", locale=locale).format(members=top))
        return "\n".join(lines)

    def _with_section(self, text: str, lines: list[str], locale: str) -> str:
        """A section under the summary, as much of it as the message still holds, counted in
        UTF-16 units as Telegram counts (an emoji is two; HTML escapes count in full, erring on
        the safe side), with room kept for the closing line; what is cut is counted, not lost
        without a word, and a section of which not even its first line fits is left out."""
        room = TEXT_LIMIT - SECTION_RESERVE - utf16_length(text) - 2
        kept: list[str] = []
        for n, line in enumerate(lines):
            need = utf16_length(line) + (1 if kept else 0)
            if need > room:
                if not kept:
                    return text
                kept.append(
                    self.i18n.gettext("…and {n} more.", locale=locale).format(n=len(lines) - n)
                )
                break
            kept.append(line)
            room -= need
        return text + "\n\n" + "\n".join(kept)

    async def send_report(
        self, to_chat: int, chat_id: int, days: int, locale: str, thread_id: int | None = None
    ) -> None:
        report = await self.report(chat_id, days)
        text = self.summary(report, locale)
        for section in self.summary_sections:
            lines = await section(chat_id, days, locale)
            if lines:
                text = self._with_section(text, lines, locale)
        if report.empty:  # a chart of zeros says less than a sentence
            text += "\n\n" + self.i18n.gettext(
                "Nothing recorded in this period yet, so there is no chart.", locale=locale
            )
        await self.bot.send_message(to_chat, text, message_thread_id=thread_id)
        if report.empty:
            return
        if self.chart_series is not None and report.kind == "group":
            report.complaint_share = await self.chart_series(chat_id, days)
        png = await asyncio.to_thread(charts.activity_chart, report, *self._chart_words(locale))
        await self.bot.send_photo(
            to_chat, BufferedInputFile(png, filename="stats.png"), message_thread_id=thread_id
        )

    def _chart_words(self, locale: str) -> tuple[charts.Gettext, charts.Ngettext]:
        """gettext and ngettext in the reader's language, for a chart's titles and labels."""
        return (
            lambda message: self.i18n.gettext(message, locale=locale),
            plural_for(self.i18n, locale),
        )

    async def send_best_time(
        self, to_chat: int, chat_id: int, days: int, locale: str, thread_id: int | None = None
    ) -> None:
        self.collector.settle_this_update()
        await self.collector.flush()
        chat = await self.chats.get(chat_id)
        kind = "channel" if chat and chat.type == "channel" else "group"
        best = await best_time(self.repo, chat_id, kind, days, self.today(), self.settings.timezone)
        gettext = self.i18n.gettext
        if not any(map(any, best.samples)):  # an empty heat map says less than a sentence
            text = gettext(
                "Nothing recorded in this period yet, so there is no heat map.", locale=locale
            )
            await self.bot.send_message(to_chat, text, message_thread_id=thread_id)
            return
        if best.best is None:
            text = gettext(
                "Not enough activity yet to suggest a time: I need at least two "
                "observations in a weekday-hour slot.",
                locale=locale,
            )
        else:
            weekday = gettext(WEEKDAY_NAMES[best.best[0]], locale=locale)
            text = gettext("Best time to post: {weekday} {hour}:00 ({tz}).", locale=locale).format(
                weekday=weekday, hour=f"{best.best[1]:02d}", tz=self.settings.timezone.key
            )
        await self.bot.send_message(to_chat, text, message_thread_id=thread_id)
        gettext_in, ngettext_in = self._chart_words(locale)
        name = charts.chart_name((chat.title if chat else None) or "", chat_id, gettext_in)
        title = charts.period_title(name, days, ngettext_in)
        png = await asyncio.to_thread(charts.heatmap_chart, best, title, gettext_in)
        await self.bot.send_photo(
            to_chat, BufferedInputFile(png, filename="besttime.png"), message_thread_id=thread_id
        )

    async def digest_texts(self, locale: str) -> list[str]:
        """The digest as messages of at most 4,096 characters, split between chats: a manager
        with many chats gets every chat's summary rather than a cut-off message."""
        gettext = self.i18n.gettext
        parts = [gettext("🗓 Weekly digest", locale=locale)]
        chats = await self.known_chats()
        if not chats:
            parts.append(gettext("I am not in any group or channel yet.", locale=locale))
        for chat in chats:
            report = await self.report(chat.chat_id, 7)
            parts.append("\n" + self.summary(report, locale))
        return [text.lstrip("\n") for text in pack_lines(parts)]

    async def send_digest(self, only_to: int | None = None) -> None:
        recipients = [only_to] if only_to is not None else sorted(self.settings.manager_ids)
        texts: dict[str, list[str]] = {}  # built once per language, not per manager
        for manager in recipients:
            language = await self.locale_for(manager)
            if language not in texts:
                texts[language] = await self.digest_texts(language)
            for text in texts[language]:
                if not (await self.notes.send_message(manager, text)).delivered:
                    break  # blocked or gone: the rest would not arrive either

    async def csv_file(self, chat_id: int, days: int) -> BufferedInputFile:
        report = await self.report(chat_id, days)
        rows = csv_rows(report)
        for section in self.csv_sections:
            extra = await section(chat_id, days)
            if extra:
                rows += [[], *extra]
        out = io.StringIO()
        csv.writer(out).writerows(map(spreadsheet_safe, rows))
        return BufferedInputFile(
            out.getvalue().encode("utf-8"),
            filename=f"stats-{chat_id}-{report.last_day}-{days}d.csv",
        )
