"""The support desk's decisions, without Telegram: where a member's message goes, whether it may
go at all, and what becomes of a ticket once the staff answered it.

Handlers turn a Telegram message into a `Question`, ask this service what to do, send what it
says, and report back (`relayed`, `answered`); every outcome is an enum the handler words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.clock import SYSTEM_CLOCK, Clock
from bot.faq.service import FaqService, detect_language
from bot.faq.transfer import faq_wording
from bot.i18n import LocaleFor
from bot.roles import Requirement, Roles
from bot.support.cooldown import RELAY_LIMIT, RELAY_WINDOW, CoolDownNotices
from bot.texts import typed_id
from storage.faq import Answer, Delivered, SupportRepository, Ticket

logger = logging.getLogger(__name__)


class RelayOutcome(StrEnum):
    """What became of a member's message handed to the staff."""

    SENT = "sent"
    NO_SUPPORT = "no_support"  # no support chat for where it was asked
    BLOCKED = "blocked"  # the staff blocked this member: silence, by design
    LIMITED = "limited"  # too many tickets in a short time
    STILL_LIMITED = "still_limited"  # and told so already: silence, or the bot floods back
    FAILED = "failed"  # the support chat could not be reached


class DeskAccess(StrEnum):
    """Whether someone may act as a support desk's staff there (/block, /unblock)."""

    STAFF = "staff"
    NOT_A_DESK = "not_a_desk"  # an admin or manager, but no questions are answered here
    NOT_STAFF = "not_staff"  # neither the chat's admin, a manager, nor a private desk's owner


class FaqAddOutcome(StrEnum):
    """ "➕ Add to FAQ" on a delivered answer."""

    ADDED = "added"
    GONE = "gone"  # no such ticket, or pressed outside its support chat
    ALREADY = "already"  # in the FAQ already (entry_id says which)
    NOT_TEXT = "not_text"  # a media question, or no answer yet
    RACE = "race"  # a double tap: the other tap added it


@dataclass(frozen=True, slots=True)
class Question:
    """A member's message to the staff, as the desk needs it."""

    member_id: int
    member_name: str
    language: str | None
    chat_id: int
    message_id: int
    text: str
    thread_id: int | None = None


@dataclass(frozen=True, slots=True)
class RelayPlan:
    """`outcome` SENT means: send the relay to `support_chat_id`, then call `relayed`."""

    outcome: RelayOutcome
    ticket_id: int | None = None
    support_chat_id: int | None = None


@dataclass(frozen=True, slots=True)
class EditedTicket:
    """A relayed message its member edited; a complaint's relay has its own wording; `parts`:
    an album's parts (message id, its copy at the desk), empty for a lone message."""

    ticket: Ticket
    complaint: bool
    parts: tuple[tuple[int, int | None], ...] = ()


@dataclass(frozen=True, slots=True)
class FaqAddition:
    outcome: FaqAddOutcome
    entry_id: int | None = None


class SupportService:
    def __init__(
        self,
        repo: SupportRepository,
        default_chat: int | None,
        clock: Clock = SYSTEM_CLOCK,
        notices: CoolDownNotices | None = None,
    ) -> None:
        self.repo = repo
        self._configured_chat = default_chat
        self.clock = clock
        # where upgraded groups went (bot.chat_migration.ChatMigrations.new_id_of), set by the app
        self.new_id_of: Callable[[int], int | None] = lambda chat_id: None
        # members told they are rate-limited: shared by the workers (bot.cluster); in memory
        # for one process, so after a restart a flooding member is told once more, no more
        self.notices = notices or CoolDownNotices()

    def now(self) -> int:
        return int(self.clock())

    @property
    def default_chat(self) -> int | None:
        """SUPPORT_CHAT_ID, or the supergroup it became: the setting keeps naming the basic
        group after an upgrade, and the desk's staff (their /block, their own questions) are
        in the new chat."""
        configured = self._configured_chat
        if configured is None:
            return None
        return self.new_id_of(configured) or configured

    async def support_chat_for(self, chat_id: int) -> int | None:
        return await self.repo.route(chat_id) or self.default_chat

    async def staff_chats(self) -> set[int]:
        """Every chat staff answer in: the routes' targets and the default support chat."""
        chats = await self.repo.support_chats()
        return chats | {self.default_chat} if self.default_chat else chats

    async def desk_access(self, chat_id: int, own_private_chat: bool, roles: Roles) -> DeskAccess:
        """The desk's staff: in a support chat its admins and Steward's managers; a private
        chat that is a desk (one helper's own chat as SUPPORT_CHAT_ID) has no admins, so its
        owner (`own_private_chat`) is its staff, manager or not. Anyone else is refused as
        not staff, before being told the chat is no desk."""
        desk = chat_id in await self.staff_chats()
        if not (roles.satisfies(Requirement.ADMIN_OR_MANAGER) or (desk and own_private_chat)):
            return DeskAccess.NOT_STAFF
        return DeskAccess.STAFF if desk else DeskAccess.NOT_A_DESK

    async def is_staff_chat(self, chat_id: int) -> bool:
        """Staff talking among themselves is neither a question nor a complaint."""
        return chat_id == self.default_chat or chat_id in await self.repo.support_chats()

    async def open(self, question: Question) -> RelayPlan:
        """A ticket for the question when it may go to the staff; the handler sends it."""
        support_chat = await self.support_chat_for(question.chat_id)
        if support_chat is None:
            return RelayPlan(RelayOutcome.NO_SUPPORT)
        if await self.repo.is_blocked(question.member_id):
            return RelayPlan(RelayOutcome.BLOCKED)
        if (
            await self.repo.recent_from(question.member_id, self.now() - RELAY_WINDOW)
            >= RELAY_LIMIT
        ):
            told = await self.notices.first(question.member_id, self.now())
            return RelayPlan(RelayOutcome.LIMITED if told else RelayOutcome.STILL_LIMITED)
        ticket_id = await self.repo.open_ticket(
            member_id=question.member_id,
            member_name=question.member_name,
            language=question.language,
            chat_id=question.chat_id,
            question_message_id=question.message_id,
            question=question.text,
            support_chat_id=support_chat,
            now=self.now(),
            thread_id=question.thread_id,
        )
        return RelayPlan(RelayOutcome.SENT, ticket_id, support_chat)

    async def relayed(
        self,
        ticket_id: int,
        support_chat_id: int,
        relay_message_id: int,
        copy_id: int | None = None,
    ) -> None:
        """The relay is in `support_chat_id` (where the send landed: an upgraded group's new
        id) or was posted again there: a reply to it (or to the member's message copied under
        it) answers the ticket."""
        await self.repo.set_relay_message(ticket_id, support_chat_id, relay_message_id, copy_id)

    async def edited(self, question: Question) -> EditedTicket | None:
        """A member edited a message: its relayed ticket, now with the new words (the staff and
        "Add to FAQ" read those), or None when it never reached the staff or the staff blocked
        the member since (an edit would be a way round the block)."""
        ticket = await self.repo.by_question(
            question.chat_id, question.message_id, question.member_id
        ) or await self.repo.by_part(question.chat_id, question.message_id, question.member_id)
        if ticket is None or await self.repo.is_blocked(question.member_id):
            return None
        parts = tuple(await self.repo.relay_parts(ticket.id))
        # an album's question is its caption, on whichever part: a part without one keeps it
        if question.text != ticket.question and (question.text or not parts):
            await self.repo.set_question(ticket.id, question.text)
            ticket = replace(ticket, question=question.text)
        return EditedTicket(ticket, await self.repo.is_complaint(ticket.id), parts)

    async def album_relayed(
        self, ticket_id: int, chat_id: int, parts: Sequence[tuple[int, int | None]]
    ) -> None:
        """The parts of a member's album and their copies at the desk (copied again after an
        edit): an edit of any part finds the ticket."""
        await self.repo.set_relay_parts(ticket_id, chat_id, parts)

    async def ticket(self, ticket_id: int) -> Ticket | None:
        return await self.repo.get(ticket_id)

    async def ticket_for_reply(self, support_chat_id: int, replied_to: int) -> Ticket | None:
        return await self.repo.by_relay(support_chat_id, replied_to)

    async def answered(
        self, ticket: Ticket, staff_id: int, chat_id: int, message_id: int, text: str
    ) -> None:
        await self.repo.mark_answered(ticket.id, staff_id, chat_id, message_id, text, self.now())

    async def delivered(
        self, ticket: Ticket, staff_chat_id: int, copies: Sequence[tuple[int, int]]
    ) -> None:
        """A staff reply reached the member: (staff message id, the member's copy id) per part,
        so the staff's later edits reach the copies. A group upgraded to a supergroup takes no
        message any more: known upgraded once the copies are sent (at the latest by the refused
        send, which then went to the new chat), the copies are in the new chat."""
        member_chat = self.new_id_of(ticket.chat_id) or ticket.chat_id
        await self.repo.add_delivered(ticket.id, staff_chat_id, member_chat, copies)

    async def delivered_again(
        self, found: Delivered, staff_chat_id: int, staff_message_id: int, chat_id: int, copy: int
    ) -> None:
        """A staff edit came to the member as a new message (`copy` in `chat_id`, the supergroup
        their group became): later edits edit that one."""
        await self.repo.add_delivered(
            found.ticket_id, staff_chat_id, chat_id, [(staff_message_id, copy)]
        )

    async def confirmed(self, ticket: Ticket, staff_chat_id: int, message_id: int) -> None:
        """The bot said "✅ Delivered" there: a staff reply to it answers the same member."""
        await self.repo.add_confirmation(staff_chat_id, message_id, ticket.id)

    async def delivered_copy(self, staff_chat_id: int, staff_message_id: int) -> Delivered | None:
        return await self.repo.delivered(staff_chat_id, staff_message_id)

    async def answer_edited(
        self, ticket_id: int, staff_chat_id: int, message_id: int, text: str
    ) -> Ticket | None:
        """The staff edited a delivered reply: when it is the ticket's answer, "Add to FAQ" takes
        the new words. The ticket, for naming its member."""
        ticket = await self.repo.get(ticket_id)
        if ticket is None:
            return None
        if (ticket.answer_chat_id, ticket.answer_message_id) == (staff_chat_id, message_id):
            await self.repo.set_answer_text(ticket.id, text)
        return ticket

    async def set_route(self, chat_id: int, support_chat_id: int | None) -> None:
        await self.repo.set_route(chat_id, support_chat_id)

    async def member_to_block(self, chat_id: int, arg: str, replied_to: int | None) -> int | None:
        """/block's target: a user id given, else the member of the relayed question replied to."""
        if (user_id := typed_id(arg)) is not None:
            return user_id
        if replied_to is None:
            return None
        ticket = await self.repo.by_relay(chat_id, replied_to)
        return ticket.member_id if ticket else None

    async def block(self, member_id: int, by: int | None) -> None:
        await self.repo.block(member_id, by, self.now())

    async def unblock(self, member_id: int) -> bool:
        return await self.repo.unblock(member_id)

    async def add_to_faq(
        self,
        ticket_id: int,
        pressed_in: int | None,
        by: int,
        faq: FaqService,
        languages: Iterable[str],
        locale_for: LocaleFor,
    ) -> FaqAddition:
        """The member's wording becomes an entry's phrasing, the staff's reply its answer, in
        the language of the question (else the member's, else the chat's)."""
        ticket = await self.repo.get(ticket_id)
        if ticket is None or pressed_in != ticket.support_chat_id:
            return FaqAddition(FaqAddOutcome.GONE)
        if ticket.faq_entry_id is not None:
            return FaqAddition(FaqAddOutcome.ALREADY, ticket.faq_entry_id)
        if not ticket.question or ticket.answer_message_id is None:
            return FaqAddition(FaqAddOutcome.NOT_TEXT)
        languages = tuple(languages)
        scope = ticket.chat_id if ticket.chat_id < 0 else None
        wording = faq_wording(ticket.question)  # without its @mentions and links
        if not wording:  # nothing but a link or a mention: no question to learn
            return FaqAddition(FaqAddOutcome.NOT_TEXT)
        existing = await faq.entry_with_wording(scope, wording)
        if existing is not None:  # another member asked the same, and it was added then
            await self.repo.mark_added_to_faq(ticket.id, existing)
            return FaqAddition(FaqAddOutcome.ALREADY, existing)
        member_language = (ticket.language or "").split("-")[0]
        language = detect_language(wording, languages) or (
            member_language if member_language in languages else await locale_for(ticket.chat_id)
        )
        answer = (
            Answer(language, ticket.answer_text)
            if ticket.answer_text
            else Answer(language, "", ticket.answer_chat_id, ticket.answer_message_id)
        )
        entry_id = await faq.add_entry(
            scope, language, [(language, wording)], answer, by, refresh=False
        )
        if not await self.repo.mark_added_to_faq(ticket.id, entry_id):
            await faq.delete_entry(entry_id, refresh=False)  # a double tap lost the race
            return FaqAddition(FaqAddOutcome.RACE)
        await faq.refresh()
        return FaqAddition(FaqAddOutcome.ADDED, entry_id)
