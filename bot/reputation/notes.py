"""What the reputation watch tells people: notes to the managers (MANAGER_IDS) in private, in
their language, and the lines of the digest; the buttons under a complaint. A manager who
blocked the bot is skipped (PrivateNotes reports it); the others still get theirs."""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    LinkPreviewOptions,
)
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.i18n import LocaleFor, plural_for
from bot.links import message_link
from bot.private import PrivateNotes
from bot.reputation.mood import DayMood, Spike
from bot.reputation.service import (
    DislikeAlert,
    GroupMessage,
    ReputationService,
)
from bot.reputation.watch import Watch
from bot.texts import fit_html, shorten, utf16_length
from storage.reputation import Mention

logger = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
QUOTE_CHARS = 300  # of a member's message, in notes and digest lines (UTF-16 units)
TEXT_LIMIT = 4000  # a digest's budget, in UTF-16 units as Telegram counts (an emoji is two)


class ReputationAction(StrEnum):
    NOT_COMPLAINT = "not"
    RESTORE_WATCH = "restore"


class ReputationCallback(CallbackData, prefix="rep"):
    action: ReputationAction
    item: int


def quote(text: str) -> str:
    text = " ".join(text.split())
    return html.escape(shorten(text, QUOTE_CHARS))


def link_or_place(chat_id: int, username: str | None, message_id: int, title: str) -> str:
    link = message_link(chat_id, username, message_id)
    return link if link else html.escape(title)


# --- notes to managers ------------------------------------------------------------------------


class ReputationNotes:
    """Messages to the managers (MANAGER_IDS) in private; a manager who blocked the bot is
    skipped (PrivateNotes reports it), the others still get theirs."""

    def __init__(
        self,
        service: ReputationService,
        notes: PrivateNotes,
        i18n: I18n,
        settings: Settings,
        locale_for: LocaleFor,
        titles: Callable[[int], Awaitable[str]],
    ) -> None:
        self.service = service
        self.notes = notes
        self.i18n = i18n
        self.settings = settings
        self.locale_for = locale_for
        self.titles = titles

    async def _to_managers(self, build: Callable[[str], str]) -> None:
        texts: dict[str, str] = {}
        for manager in sorted(self.settings.manager_ids):
            locale = await self.locale_for(manager)
            if locale not in texts:
                with self.i18n.context(), self.i18n.use_locale(locale):
                    texts[locale] = build(locale)
            await self.notes.send_message(
                manager, fit_html(texts[locale]), link_preview_options=NO_PREVIEW
            )

    async def spike(self, chat_id: int, title: str, found: Spike) -> None:
        def build(_locale: str) -> str:
            return ngettext(
                "📉 Mood alert in {chat}: {negative} of {messages} message today are "
                "complaints ({share}%), over three times the usual {median}%.",
                "📉 Mood alert in {chat}: {negative} of {messages} messages today are "
                "complaints ({share}%), over three times the usual {median}%.",
                found.today.messages,
            ).format(
                chat=html.escape(title),
                negative=found.today.negative,
                messages=found.today.messages,
                share=f"{found.today.share * 100:.1f}",
                median=f"{found.median * 100:.1f}",
            )

        await self._to_managers(build)

    async def mention_complaint(
        self, message: GroupMessage, username: str | None, watches: list[Watch]
    ) -> None:
        place = link_or_place(message.chat_id, username, message.message_id, message.chat_title)
        terms = ", ".join(html.escape(w.term) for w in watches)

        def build(_locale: str) -> str:
            return (
                _("⚠️ A complaint mentions {terms} in {chat}, from {who}:").format(
                    terms=terms,
                    chat=html.escape(message.chat_title),
                    who=html.escape(message.user_name),
                )
                + f"\n{quote(message.text)}\n{place}"
            )

        await self._to_managers(build)

    async def dislikes(self, alert: DislikeAlert, username: str | None) -> None:
        title = await self.titles(alert.chat_id)
        place = link_or_place(alert.chat_id, username, alert.message_id, title)

        def build(_locale: str) -> str:
            return (
                ngettext(
                    "👎 A message in {chat} drew {count} 👎 reaction:",
                    "👎 A message in {chat} drew {count} 👎 reactions:",
                    alert.count,
                ).format(chat=html.escape(title), count=alert.count)
                + f"\n{place}"
            )

        await self._to_managers(build)

    async def mentions_digest(self) -> int:
        """The mentions not yet reported, to every manager; returns how many were sent."""
        mentions = await self.service.pending_mentions()
        if not mentions:
            return 0
        titles = {m.chat_id: await self.titles(m.chat_id) for m in mentions}

        def build(_locale: str) -> str:
            n = len(mentions)
            head = ngettext(
                "🔎 {n} new mention of your watched terms:",
                "🔎 {n} new mentions of your watched terms:",
                n,
            ).format(n=n)
            lines = [head]
            # counted with the HTML escapes, which Telegram does not count: errs on the safe side
            budget = TEXT_LIMIT - utf16_length(head) - 100
            for i, mention in enumerate(mentions):
                line = digest_line(mention, titles[mention.chat_id])
                if utf16_length(line) + 1 > budget:
                    lines.append(_("…and {n} more.").format(n=n - i))
                    break
                lines.append(line)
                budget -= utf16_length(line) + 1
            return "\n".join(lines)

        await self._to_managers(build)
        await self.service.mark_reported(mentions)
        return len(mentions)

    async def stats_lines(self, chat_id: int, days: int, locale: str) -> list[str]:
        """The mood section under /stats for a group."""
        moods = [m for m in await self.service.mood(chat_id, days) if m.messages]
        if not moods:
            return []
        gettext = self.i18n.gettext
        ngettext = plural_for(self.i18n, locale)
        total = DayMood("", sum(m.messages for m in moods), sum(m.negative for m in moods))
        worst = max(moods, key=lambda m: (m.share, m.day))
        # two numbers, each with its own plural form ("0 complaints in 1 message")
        complaints = ngettext("{n} complaint", "{n} complaints", total.negative)
        messages = ngettext("{n} message", "{n} messages", total.messages)
        lines = [
            gettext("😟 Mood: {complaints} in {messages} ({share}%).", locale=locale).format(
                complaints=complaints.format(n=total.negative),
                messages=messages.format(n=total.messages),
                share=f"{total.share * 100:.1f}",
            )
        ]
        if worst.negative:
            lines.append(
                gettext("Worst day: {day}, {share}% complaints.", locale=locale).format(
                    day=worst.day, share=f"{worst.share * 100:.1f}"
                )
            )
        return lines

    async def chart_series(self, chat_id: int, days: int) -> dict[str, float]:
        """Complaint share per day (percent), drawn on the /stats chart."""
        return {m.day: m.share * 100 for m in await self.service.mood(chat_id, days)}


def digest_line(mention: Mention, title: str) -> str:
    mark = "⚠️ " if mention.complaint else ""
    place = message_link(mention.chat_id, None, mention.message_id)
    who = html.escape(mention.user_name or str(mention.user_id or "?"))
    where = html.escape(title)
    text = f"{mark}«{html.escape(mention.term)}» · {where} · {who}: {quote(mention.text)}"
    return text + (f" {place}" if place else "")
