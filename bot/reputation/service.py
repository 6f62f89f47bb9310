"""Reputation watch as the bot runs it: what each group message means for the brand.

The service decides and records; the handlers (handlers/reputation.py) send the tickets, notes
and digests. Every group message from a person is counted for the chat's mood (in memory,
written every minute, like the statistics); only messages the prefilter lets through, or that
mention a watched term, are embedded and classified.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.clock import SYSTEM_CLOCK, Clock, LocalHour
from bot.reputation.classifier import ComplaintClassifier, ComplaintVerdict, shipped_examples
from bot.reputation.mood import DISLIKES_ALERT, HISTORY_DAYS, DayMood, Spike, spike
from bot.reputation.prefilter import worth_checking
from bot.reputation.watch import MAX_WATCHES, Watch, WatchMatcher
from storage.faq import Ticket
from storage.reputation import Complaint, Mention, ReputationRepository

logger = logging.getLogger(__name__)

MENTION_DAYS = 90  # mentions and alerts older than this are pruned


class Tickets(Protocol):
    """The support desk (storage.faq.SupportRepository) as complaint detection uses it."""

    async def route(self, chat_id: int) -> int | None: ...
    async def is_blocked(self, user_id: int) -> bool: ...
    async def open_ticket(
        self,
        *,
        member_id: int,
        member_name: str | None,
        language: str | None,
        chat_id: int,
        question_message_id: int,
        question: str,
        support_chat_id: int,
        now: int,
        thread_id: int | None = None,
    ) -> int: ...
    async def set_relay_message(
        self, ticket_id: int, support_chat_id: int, message_id: int
    ) -> None: ...
    async def get(self, ticket_id: int) -> Ticket | None: ...


@dataclass(frozen=True, slots=True)
class GroupMessage:
    chat_id: int
    chat_title: str
    message_id: int
    user_id: int
    user_name: str
    language: str | None
    text: str
    thread_id: int | None = None


@dataclass
class Observation:
    """What one message turned out to be."""

    verdict: ComplaintVerdict | None = None
    complaint_id: int | None = None
    mentions: list[Watch] = field(default_factory=list)
    spike: Spike | None = None

    @property
    def is_complaint(self) -> bool:
        return self.verdict is not None and self.verdict.is_complaint


class DismissOutcome(StrEnum):
    DONE = "done"
    ALREADY = "already"
    GONE = "gone"


class WatchOutcome(StrEnum):
    ADDED = "added"
    DUPLICATE = "duplicate"
    TOO_MANY = "too_many"


@dataclass(frozen=True, slots=True)
class WatchAdded:
    """What /watch did; `watch_id` is the new watch's, or the one already watching the term
    (0 when there were too many to add one)."""

    outcome: WatchOutcome
    watch_id: int = 0


@dataclass(frozen=True, slots=True)
class DislikeAlert:
    chat_id: int
    message_id: int
    count: int


class ReputationService:
    def __init__(
        self,
        repo: ReputationRepository,
        classifier: ComplaintClassifier,
        tickets: Tickets,
        tz: ZoneInfo,
        default_support_chat: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.repo = repo
        self.classifier = classifier
        self.tickets = tickets
        self.tz = tz
        self.default_support_chat = default_support_chat
        self.clock = clock
        self.matcher = WatchMatcher([])
        self.removed: dict[int, Watch] = {}  # for the undo button of /unwatch
        self._counts: dict[tuple[int, str], int] = {}  # messages not yet written
        self._flush_lock = asyncio.Lock()
        self._hours = LocalHour(tz)  # the mood count's day, for every group message

    def today(self) -> str:
        return self._hours.day(self.clock())

    async def load(self) -> None:
        self.matcher = WatchMatcher(await self.repo.watches())

    async def train(self) -> None:
        """Shipped examples plus staff lessons; a few seconds at most (vectors are shipped)."""
        complaints, other = shipped_examples()
        await self.classifier.train(complaints, other, await self.repo.lessons())

    # --- group messages ------------------------------------------------------------------

    async def observe(self, message: GroupMessage) -> Observation:
        day = self.today()
        key = (message.chat_id, day)
        self._counts[key] = self._counts.get(key, 0) + 1
        result = Observation(mentions=self.matcher.find(message.text, message.chat_id))
        if result.mentions or worth_checking(message.text):
            result.verdict = await self.classifier.classify(message.text)
        now = int(self.clock())
        if result.is_complaint:
            assert result.verdict is not None
            result.complaint_id = await self.repo.add_complaint(
                chat_id=message.chat_id,
                message_id=message.message_id,
                user_id=message.user_id,
                text=message.text,
                probability=result.verdict.probability,
                created_at=now,
                day=day,
            )
            result.spike = await self._count_negative(message.chat_id, day)
        for watch in result.mentions:
            await self.repo.add_mention(
                watch=watch,
                chat_id=message.chat_id,
                message_id=message.message_id,
                user_id=message.user_id,
                user_name=message.user_name,
                text=message.text,
                complaint=result.is_complaint,
                at=now,
            )
        return result

    async def _count_negative(self, chat_id: int, day: str) -> Spike | None:
        """Writes this chat-day's counts with one more complaint; a Spike the first time the
        day crosses the alert line."""
        async with self._flush_lock:
            pending = self._counts.pop((chat_id, day), 0)
            await self.repo.add_mood({(chat_id, day): (pending, 1)})
        last = date.fromisoformat(day) - timedelta(days=1)
        first = last - timedelta(days=HISTORY_DAYS - 1)
        today = await self.repo.mood(chat_id, day, day)
        history = await self.repo.mood(chat_id, first.isoformat(), last.isoformat())
        found = spike(today[0], history) if today else None
        if found and await self.repo.claim_alert(chat_id, "spike", day, 0, int(self.clock())):
            return found
        return None

    async def flush(self) -> None:
        async with self._flush_lock:
            counts, self._counts = self._counts, {}
            await self.repo.add_mood({key: (n, 0) for key, n in counts.items()})

    async def support_chat_for(self, chat_id: int) -> int | None:
        return await self.tickets.route(chat_id) or self.default_support_chat

    async def open_ticket(
        self, message: GroupMessage, complaint_id: int, support_chat: int
    ) -> int | None:
        """A support ticket for the complaint, or None for a member blocked from the team."""
        if await self.tickets.is_blocked(message.user_id):
            return None
        ticket_id = await self.tickets.open_ticket(
            member_id=message.user_id,
            member_name=message.user_name,
            language=message.language,
            chat_id=message.chat_id,
            question_message_id=message.message_id,
            question=message.text,
            support_chat_id=support_chat,
            now=int(self.clock()),
            thread_id=message.thread_id,
        )
        await self.repo.set_ticket(complaint_id, ticket_id)
        return ticket_id

    async def relayed(self, ticket_id: int, support_chat_id: int, relay_message_id: int) -> None:
        await self.tickets.set_relay_message(ticket_id, support_chat_id, relay_message_id)

    async def complaint(self, complaint_id: int) -> Complaint | None:
        return await self.repo.complaint(complaint_id)

    async def relayed_in(self, complaint: Complaint) -> int | None:
        """The chat the complaint's ticket was relayed to: where its buttons are (an upgraded
        support group's new id, whatever the settings still name)."""
        ticket = await self.tickets.get(complaint.ticket_id) if complaint.ticket_id else None
        return ticket.support_chat_id if ticket else None

    async def dismiss(self, complaint_id: int, by: int) -> DismissOutcome:
        """Staff say "not a complaint": the classifier learns it at once, the day's mood drops
        it, and the lesson is kept for the next start."""
        complaint = await self.repo.complaint(complaint_id)
        if complaint is None:
            return DismissOutcome.GONE
        now = int(self.clock())
        if not await self.repo.dismiss(complaint_id, by, now):
            return DismissOutcome.ALREADY
        await self.repo.add_lesson(complaint.text, False, by, now)
        await self.repo.add_mood({(complaint.chat_id, complaint.day): (0, -1)})
        await self.classifier.learn(complaint.text, False)
        return DismissOutcome.DONE

    # --- watches -------------------------------------------------------------------------

    @property
    def watches(self) -> list[Watch]:
        return self.matcher.watches

    async def add_watch(self, term: str, chat_id: int | None, by: int) -> WatchAdded:
        for watch in self.watches:
            if watch.term.casefold() == term.casefold() and watch.chat_id == chat_id:
                return WatchAdded(WatchOutcome.DUPLICATE, watch.id)
        if len(self.watches) >= MAX_WATCHES:
            return WatchAdded(WatchOutcome.TOO_MANY)
        watch_id = await self.repo.add_watch(term, chat_id, by, int(self.clock()))
        await self.load()
        return WatchAdded(WatchOutcome.ADDED, watch_id)

    def find_watches(self, token: str) -> list[Watch]:
        """The watch with that id, else every watch of that term: one term can be watched in
        several places, and stopping just one of them by its name would be a guess."""
        token = token.strip().lstrip("#")
        for watch in self.watches:
            if token.isdecimal() and watch.id == int(token):
                return [watch]
        return [w for w in self.watches if w.term.casefold() == token.casefold()]

    async def remove_watch(self, watch: Watch) -> bool:
        removed = await self.repo.remove_watch(watch.id)
        await self.load()
        return removed

    async def restore_watch(self, watch: Watch) -> None:
        await self.repo.restore_watch(watch)
        await self.load()

    async def pending_mentions(self) -> list[Mention]:
        return await self.repo.unreported_mentions()

    async def mark_reported(self, mentions: list[Mention]) -> None:
        await self.repo.mark_reported([m.id for m in mentions], int(self.clock()))

    # --- mood ----------------------------------------------------------------------------

    async def mood(self, chat_id: int, days: int) -> list[DayMood]:
        await self.flush()
        last = date.fromisoformat(self.today())
        first = last - timedelta(days=days - 1)
        return await self.repo.mood(chat_id, first.isoformat(), last.isoformat())

    async def dislike(
        self, chat_id: int, message_id: int, user_id: int, on: bool
    ) -> DislikeAlert | None:
        count = await self.repo.set_dislike(chat_id, message_id, user_id, on)
        if count < DISLIKES_ALERT:
            return None
        claimed = await self.repo.claim_alert(
            chat_id, "dislikes", self.today(), message_id, int(self.clock())
        )
        return DislikeAlert(chat_id, message_id, count) if claimed else None

    async def prune(self) -> None:
        cutoff = date.fromisoformat(self.today()) - timedelta(days=MENTION_DAYS)
        await self.repo.prune(cutoff.isoformat(), int(self.clock()) - MENTION_DAYS * 86400)
