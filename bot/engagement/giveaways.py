"""Giveaways: entry by button, conditions, and the verifiable draw (see `draw`)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message, User
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import SYSTEM_CLOCK, Clock, utc_now
from bot.cluster.jobs import ROW_LEASE_SECONDS, heartbeat
from bot.engagement import draw
from bot.engagement.topics import send_file_in_topic, send_in_topic
from bot.i18n import plural_for
from bot.membership import is_member
from bot.moderation.durations import looks_like_duration, parse_duration
from bot.private import NoteResult, PrivateNotes
from bot.roles import RoleService
from bot.scheduling import cancel, run_once_at
from bot.texts import TEXT_LIMIT, pack_lines, typed_chat_id, typed_id, utf16_length
from storage.chats import UserRepository
from storage.engagement import (
    DrawOutcome,
    EntryWrite,
    Giveaway,
    GiveawayRepository,
    GiveawayStatus,
)

logger = logging.getLogger(__name__)

# A draw the database failed is tried again this much later.
DRAW_RETRY_SECONDS = 5

MAX_WINNERS = 100
UTC_ZONE = ZoneInfo("UTC")
# the announcement, the result and every winner's note quote the prize: a description near
# Telegram's 4,096 characters left no room for the rest, and the announcement was refused
MAX_PRIZE = 1000
REROLL_WAIT = 0.2  # seconds between tries while another worker rerolls the same giveaway
COUNT_REFRESH_SECONDS = 3


class GiveawayCallback(CallbackData, prefix="gw"):
    giveaway_id: int


class ArgsProblem(StrEnum):
    """What is wrong with /giveaway's arguments; the handler words each."""

    NO_CHANNEL = "no_channel"  # in private, the channel comes first
    BAD_END = "bad_end"
    PAST = "past"
    BAD_WINNERS = "bad_winners"
    NO_PRIZE = "no_prize"
    LONG_PRIZE = "long_prize"


class GiveawayArgsError(ValueError):
    def __init__(self, code: ArgsProblem) -> None:
        super().__init__(code)
        self.code = code


class EntryOutcome(StrEnum):
    """What pressing Participate did, when no condition refused it (then: a `Refusal`)."""

    ENTERED = "entered"
    ALREADY = "already"
    CLOSED = "closed"


class RefusalReason(StrEnum):
    ADMIN = "admin"
    PAST_WINNER = "past_winner"
    NOT_SUBSCRIBED = "not_subscribed"
    UNVERIFIABLE = "unverifiable"  # Telegram would not say whether they are subscribed
    NOT_IN_CHAT = "not_in_chat"  # not (or no longer) in the giveaway's own chat: left, banned


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a member may not take part (or was passed over at a draw), and in which required
    chat when a subscription is the reason."""

    reason: RefusalReason
    chat: str = ""

    def __str__(self) -> str:
        """As stored with a draw's results: `not_subscribed:@chan`, or the bare reason."""
        return f"{self.reason}:{self.chat}" if self.chat else str(self.reason)

    @classmethod
    def parse(cls, stored: str | None) -> Refusal:
        """Read back as `__str__` stored it (a row without a reason: unverifiable)."""
        reason, _, chat = (stored or RefusalReason.UNVERIFIABLE).partition(":")
        return cls(RefusalReason(reason), chat)


@dataclass(frozen=True, slots=True)
class Picks:
    """Who a draw (or a reroll) picked, and whom it passed over on the way, in draw order."""

    winners: list[int]
    skipped: list[tuple[int, Refusal]]


class GiveawayRefusal(StrEnum):
    """Why a command naming a giveaway does nothing with it."""

    NOT_AN_ID = "not_an_id"
    NOT_FOUND = "not_found"
    NOT_YOURS = "not_yours"  # ending or rerolling takes an admin of its chat or a manager


@dataclass(frozen=True, slots=True)
class ResultPost:
    """A draw's public result: its messages, and the entrant list as a file when that list
    does not fit in them."""

    messages: list[str]
    entrants_file: bytes | None = None
    file_caption: str = ""  # in the chat's language, as the messages


@dataclass(frozen=True, slots=True)
class DrawCheck:
    """A drawn giveaway recomputed from what was published (/giveaway_verify)."""

    commitment_ok: bool
    winners_ok: bool
    winners: list[int]
    entrants: int


@dataclass
class GiveawayRequest:
    ends_at: datetime
    winners: int
    prize: str
    require: list[str] = field(default_factory=list)
    exclude_admins: bool = False
    exclude_winners: bool = False
    private: bool = False
    channel: str | None = None  # "@channel" or id, when a manager runs it for a channel


_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?$")


def parse_end(tokens: list[str], now: datetime, tz: ZoneInfo) -> tuple[datetime, int]:
    """End time from the first tokens: a duration (`2h`, `1d12h`), `HH:MM`, or
    `DD.MM[.YYYY] HH:MM` in the managers' time zone. Returns (UTC time, tokens used)."""
    if tokens and looks_like_duration(tokens[0]):
        try:
            return now + parse_duration(tokens[0]), 1
        except ValueError:  # "0h": shaped like a length, but none
            raise GiveawayArgsError(ArgsProblem.BAD_END) from None
    local_now = now.astimezone(tz)
    if tokens and (time_match := _TIME.match(tokens[0])):
        hour, minute = map(int, time_match.groups())
        if hour > 23 or minute > 59:  # "25:00": an uncaught ValueError, the apology
            raise GiveawayArgsError(ArgsProblem.BAD_END)
        candidate = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if candidate <= local_now:
            candidate += timedelta(days=1)
        return candidate.astimezone(UTC), 1
    if (
        len(tokens) >= 2
        and (date_match := _DATE.match(tokens[0]))
        and (time_match := _TIME.match(tokens[1]))
    ):
        day, month, year = date_match.groups()
        hour, minute = map(int, time_match.groups())
        try:
            candidate = datetime(
                int(year or local_now.year), int(month), int(day), hour, minute, tzinfo=tz
            )
            if candidate <= local_now and not year:  # 29.02 has no next year: ValueError
                candidate = candidate.replace(year=candidate.year + 1)
            return candidate.astimezone(UTC), 2
        except (ValueError, OverflowError):  # 31.02, or year 0001 (before UTC can say)
            raise GiveawayArgsError(ArgsProblem.BAD_END) from None
    raise GiveawayArgsError(ArgsProblem.BAD_END)


_OPTION_WORDS = frozenset(
    {"exclude_admins", "no_admins", "exclude_winners", "new_winners", "private"}
)


# a chat named as a phone's share sheet gives it (t.me link) or with its @ forgotten
_CHAT_LINK = re.compile(r"^(?:https?://)?(?:t|telegram)\.me/([A-Za-z]\w{3,31})/?$", re.IGNORECASE)
_BARE_USERNAME = re.compile(r"^@?([A-Za-z]\w{3,31})$")


def required_chat(written: str) -> str:
    """A required chat as Telegram's getChatMember takes it: `@name` for a t.me link or a
    bare username, a chat id as it is; anything else as written (the check at start names it)."""
    if typed_chat_id(written):
        return written
    match = _CHAT_LINK.match(written) or _BARE_USERNAME.match(written)
    return f"@{match[1]}" if match else written


def _is_option(token: str) -> bool:
    lowered = token.lower()
    return lowered.startswith("require=") or lowered in _OPTION_WORDS


def parse_giveaway(text: str, now: datetime, tz: ZoneInfo, in_private: bool) -> GiveawayRequest:
    """`[@channel] <duration|end time> <winners> <prize…> [require=@a,@b] [exclude_admins]
    [exclude_winners] [private]`"""
    tokens = text.split()
    channel = None
    if in_private:
        if not tokens or not (tokens[0].startswith("@") or typed_chat_id(tokens[0])):
            raise GiveawayArgsError(ArgsProblem.NO_CHANNEL)
        channel = tokens.pop(0)
    ends_at, used = parse_end(tokens, now, tz)
    tokens = tokens[used:]
    if ends_at <= now:
        raise GiveawayArgsError(ArgsProblem.PAST)
    if ends_at > now + timedelta(days=366):
        raise GiveawayArgsError(ArgsProblem.BAD_END)
    if not tokens or not tokens[0].isdecimal() or not 1 <= int(tokens[0]) <= MAX_WINNERS:
        raise GiveawayArgsError(ArgsProblem.BAD_WINNERS)
    winners = int(tokens.pop(0))
    request = GiveawayRequest(ends_at, winners, "", channel=channel)
    prize_words = []
    # the options that end the command; "private" is one only there, since it is also a word
    # of prizes ("A private tour" made the entrant list hashes and the prize "A tour")
    options_from = len(tokens)
    while options_from and _is_option(tokens[options_from - 1]):
        options_from -= 1
    for n, token in enumerate(tokens):
        lowered = token.lower()
        if lowered == "private" and n < options_from:
            prize_words.append(token)
        elif lowered.startswith("require="):
            # a second require= adds its chats (it replaced the first's, silently)
            for written in token.split("=", 1)[1].split(","):
                chat = required_chat(written.strip())
                if chat and chat.lower() not in {c.lower() for c in request.require}:
                    request.require.append(chat)
        elif lowered in {"exclude_admins", "no_admins"}:
            request.exclude_admins = True
        elif lowered in {"exclude_winners", "new_winners"}:
            request.exclude_winners = True
        elif lowered == "private":
            request.private = True
        else:
            prize_words.append(token)
    request.prize = " ".join(prize_words).strip()
    if not request.prize:
        raise GiveawayArgsError(ArgsProblem.NO_PRIZE)
    if len(request.prize) > MAX_PRIZE:
        raise GiveawayArgsError(ArgsProblem.LONG_PRIZE)
    return request


class GiveawayService:
    def __init__(
        self,
        bot: Bot,
        repo: GiveawayRepository,
        users: UserRepository,
        role_service: RoleService,
        scheduler: AsyncIOScheduler,
        i18n: I18n,
        locale_for: Callable[[int], Awaitable[str]],
        clock: Clock = SYSTEM_CLOCK,
        notes: PrivateNotes | None = None,
        tz: ZoneInfo = UTC_ZONE,
    ) -> None:
        self.bot = bot
        self.tz = tz  # TIMEZONE: end times are typed in it, so they are shown in it
        self.repo = repo
        self.users = users
        self.notes = notes or PrivateNotes(bot, users, clock)
        self.role_service = role_service
        self.scheduler = scheduler
        self.i18n = i18n
        self.locale_for = locale_for
        self.clock = clock
        self.shared = False  # other workers draw from the same table (REDIS_URL)
        self._reroll_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # a chat's type as last seen ("channel", "supergroup"…; None: unknown): set by the app
        self.chat_type: Callable[[int], Awaitable[str | None]] | None = None
        # statistics of a channel's posts (chat id, message ids, time): set by the app
        self.on_posted: Callable[[int, list[int], int], Awaitable[None]] | None = None

    def parse_request(self, text: str, tz: ZoneInfo, in_private: bool) -> GiveawayRequest:
        """/giveaway's arguments read against the clock; raises `GiveawayArgsError`."""
        return parse_giveaway(text, utc_now(self.clock), tz, in_private)

    def _job_id(self, giveaway_id: int) -> str:
        return f"giveaway:{giveaway_id}"

    def arm(self, giveaway: Giveaway) -> None:
        run_once_at(
            self.scheduler, self._job_id(giveaway.id), giveaway.ends_at, self.timer, giveaway.id
        )

    async def timer(self, giveaway_id: int, retry: bool = False) -> None:
        """The end timer. A draw the database failed (a PostgreSQL restart) is tried again
        DRAW_RETRY_SECONDS later: the timer was the giveaway's only one in a single process,
        and it stayed open (or half-drawn) until the next start. A retry draws a giveaway still
        open, or resumes the draw it had claimed (at once in one process; with other workers
        once its lease ran out, by whichever re-arms it first)."""
        try:
            # drawn meanwhile but not announced (the database failed while posting the
            # result): the stored winners are announced, never drawn again
            if (
                not await self.end(giveaway_id)
                and retry
                and not await self.end(giveaway_id, resume=True)
            ):
                await self._announce_stored(giveaway_id)
        except Exception:
            logger.exception(
                "giveaway %s: draw failed; trying again in %ss", giveaway_id, DRAW_RETRY_SECONDS
            )
            run_once_at(
                self.scheduler,
                self._job_id(giveaway_id),
                self.clock() + DRAW_RETRY_SECONDS,
                self.timer,
                giveaway_id,
                True,
            )

    async def rearm_all(self) -> int:
        """Open giveaways get their timer back; one that ended while the bot was down (or died
        mid-draw) is drawn now, and a draw stored but never announced is announced."""
        count = await self.announce_pending()
        for giveaway in await self.repo.open_giveaways():
            drawing = giveaway.status is GiveawayStatus.DRAWING
            if drawing or giveaway.ends_at <= self.clock():
                await self.end(giveaway.id, resume=drawing)
            else:
                self.arm(giveaway)
            count += 1
        return count

    # --- announcing -----------------------------------------------------------------------

    def keyboard(self, giveaway_id: int, entrants: int, locale: str) -> InlineKeyboardMarkup:
        text = self.i18n.gettext("🎉 Participate ({count})", locale=locale).format(count=entrants)
        builder = InlineKeyboardBuilder()
        builder.button(text=text, callback_data=GiveawayCallback(giveaway_id=giveaway_id))
        return builder.as_markup()

    async def create(
        self,
        chat_id: int,
        created_by: int | None,
        request: GiveawayRequest,
        thread_id: int | None = None,
    ) -> Giveaway:
        """Store and announce a giveaway; `thread_id` is the forum topic it was asked for in,
        where the announcement and the result go."""
        seed = draw.new_seed()
        giveaway_id = await self.repo.create(
            chat_id=chat_id,
            created_by=created_by,
            prize=request.prize,
            winners_count=request.winners,
            ends_at=int(request.ends_at.timestamp()),
            require_chats=request.require,
            exclude_admins=int(request.exclude_admins),
            exclude_winners=int(request.exclude_winners),
            private_entrants=int(request.private),
            seed_hex=seed,
            commitment=draw.commitment(seed),
            created_at=int(self.clock()),
            thread_id=thread_id,
        )
        giveaway = await self.repo.get(giveaway_id)
        assert giveaway is not None
        locale = await self.locale_for(chat_id)
        try:
            message = await self.bot.send_message(
                chat_id,
                self.render_announcement(giveaway, locale),
                reply_markup=self.keyboard(giveaway_id, 0, locale),
                message_thread_id=thread_id,
            )
        except TelegramAPIError:
            # never announced: kept, it would be re-armed at every start and drawn for nobody
            await self.repo.discard(giveaway_id)
            raise
        await self.repo.set_message(giveaway_id, message.message_id)
        await self._posted([message])
        self.arm(giveaway)
        return giveaway

    async def _posted(self, messages: list[Message]) -> None:
        """Telegram sends the bot none of its own channel posts: the channel's statistics
        learn of an announcement, or of a result with its entrant file (one post), from the
        send results, so their reactions and ER are counted like any post's."""
        if self.on_posted is None or not messages or messages[0].chat.type != ChatType.CHANNEL:
            return
        try:
            await self.on_posted(
                messages[0].chat.id, [m.message_id for m in messages], int(self.clock())
            )
        except Exception:  # the post is out; its statistics must not undo that
            logger.exception("giveaway post in %s not recorded for statistics", messages[0].chat.id)

    async def announce_again(self, giveaway_id: int) -> None:
        """An open giveaway whose group was upgraded: its button stays behind in the old chat,
        so the announcement is posted in the new one with the entries so far."""
        g = await self.repo.get(giveaway_id)
        if g is None or g.status is not GiveawayStatus.OPEN:
            return
        locale = await self.locale_for(g.chat_id)
        message = await self.bot.send_message(
            g.chat_id,
            self.render_announcement(g, locale),
            reply_markup=self.keyboard(g.id, await self.repo.count_entries(g.id), locale),
            message_thread_id=g.thread_id,
        )
        await self.repo.set_message(g.id, message.message_id)

    def render_announcement(self, g: Giveaway, locale: str) -> str:
        gettext = self.i18n.gettext
        # as the organiser typed it ("18:00" is 18:00 here), with the zone's name for members
        # elsewhere: "2026-12-24 18:00 CET", or "… UTC"
        ends = datetime.fromtimestamp(g.ends_at, self.tz).strftime("%Y-%m-%d %H:%M %Z")
        lines = [
            gettext("🎁 Giveaway #{id}: {prize}", locale=locale).format(
                id=g.id, prize=html.escape(g.prize)
            ),
            gettext("Winners: {count}. Ends: {ends}.", locale=locale).format(
                count=g.winners_count, ends=ends
            ),
        ]
        if g.require_chats:
            lines.append(
                gettext("Condition: be subscribed to {chats}.", locale=locale).format(
                    chats=", ".join(html.escape(c) for c in g.require_chats)
                )
            )
        lines.append(gettext("Press the button to take part.", locale=locale))
        lines.append(
            gettext("Fair draw: commitment {commitment}", locale=locale).format(
                commitment=f"<code>{g.commitment}</code>"
            )
        )
        return "\n".join(lines)

    async def in_channel(self, g: Giveaway) -> bool:
        """Whether the giveaway is in a channel (its entrants subscribe, they do not join):
        as the bot last saw the chat, or else as Telegram says (a channel the bot posts in
        may never have sent it an update)."""
        known = await self.chat_type(g.chat_id) if self.chat_type is not None else None
        if known is None:
            try:
                known = (await self.bot.get_chat(g.chat_id)).type
            except TelegramAPIError as exc:
                logger.info("giveaway %s: type of chat %s unknown: %s", g.id, g.chat_id, exc)
        return known == "channel"

    # --- entering -------------------------------------------------------------------------

    async def check_conditions(
        self, g: Giveaway, user_id: int, *, at_draw: bool = False
    ) -> Refusal | None:
        """Why this user may not take part, or None. `at_draw`: an entrant, whose conditions
        held when they entered; a subscription Telegram will no longer tell the bot about (it
        lost its rights in that channel) passes no one over, as their own chat does not: the
        fault is not theirs, and a draw among nobody cannot be redone."""
        if g.exclude_admins and await self.role_service.is_chat_admin(g.chat_id, user_id):
            return Refusal(RefusalReason.ADMIN)
        if g.exclude_winners and user_id in await self.repo.past_winners(g.chat_id, g.id):
            return Refusal(RefusalReason.PAST_WINNER)
        for chat in g.require_chats:
            try:
                member = await self.bot.get_chat_member(chat, user_id)
            except TelegramAPIError as exc:
                logger.warning("giveaway %s: cannot check %s in %s: %s", g.id, user_id, chat, exc)
                if at_draw:
                    continue
                return Refusal(RefusalReason.UNVERIFIABLE, chat)
            if not is_member(member.status, getattr(member, "is_member", None)):
                return Refusal(RefusalReason.NOT_SUBSCRIBED, chat)
        if not await self._in_chat(g, user_id):
            return Refusal(RefusalReason.NOT_IN_CHAT)
        return None

    async def _in_chat(self, g: Giveaway, user_id: int) -> bool:
        """Whether the user is in the giveaway's own chat: one who left it or was banned after
        pressing Participate is passed over at the draw (and the next entrant wins), as the
        README's check expects of any condition not met. When Telegram will not say (the bot
        lost its rights there), nobody is passed over for it: the fault is not theirs."""
        try:
            member = await self.bot.get_chat_member(g.chat_id, user_id)
        except TelegramAPIError as exc:
            logger.warning("giveaway %s: cannot check %s in its chat: %s", g.id, user_id, exc)
            return True
        return is_member(member.status, getattr(member, "is_member", None))

    async def uncheckable(self, require: list[str], user_id: int) -> list[str]:
        """The required chats Telegram will not tell the bot about (it is not in them, or not
        an admin of a channel), asked with the organiser's own membership: a giveaway with
        such a condition would refuse everyone who presses the button."""
        failed = []
        for chat in require:
            try:
                await self.bot.get_chat_member(chat, user_id)
            except TelegramAPIError as exc:
                logger.info("giveaway condition %s cannot be checked: %s", chat, exc)
                failed.append(chat)
        return failed

    def reason_text(
        self, refusal: Refusal, locale: str, *, at_draw: bool = False, channel: bool = False
    ) -> str:
        """Why, as the entrant is told on pressing the button, or (`at_draw`) as a draw's
        result says it of them; `channel`: the giveaway is in a channel, which members do not
        join but subscribe to."""
        gettext = self.i18n.gettext
        chat = refusal.chat
        match refusal.reason:
            case RefusalReason.NOT_IN_CHAT if at_draw and channel:
                return gettext("no longer subscribed to the channel", locale=locale)
            case RefusalReason.NOT_IN_CHAT if at_draw:
                return gettext("no longer a member of the chat", locale=locale)
            case RefusalReason.NOT_IN_CHAT if channel:
                return gettext("subscribe to the channel first", locale=locale)
            case RefusalReason.NOT_IN_CHAT:
                return gettext("join the chat first", locale=locale)
            case RefusalReason.NOT_SUBSCRIBED:
                return gettext("subscribe to {chat} first", locale=locale).format(chat=chat)
            case RefusalReason.UNVERIFIABLE:
                return gettext("I cannot check the subscription to {chat}", locale=locale).format(
                    chat=chat
                )
            case RefusalReason.ADMIN if channel:
                return gettext("admins of the channel do not take part", locale=locale)
            case RefusalReason.ADMIN:
                return gettext("admins of the chat do not take part", locale=locale)
            case RefusalReason.PAST_WINNER if channel:
                return gettext("earlier winners of this channel do not take part", locale=locale)
            case RefusalReason.PAST_WINNER:
                return gettext("earlier winners of this chat do not take part", locale=locale)

    async def entry_refusal_text(self, giveaway_id: int, refusal: Refusal, locale: str) -> str:
        """Why a press was refused, as the entrant is told: a channel's giveaway (`in_channel`,
        the one place that decides it) speaks of subscribing, not joining."""
        g = await self.repo.get(giveaway_id)
        channel = g is not None and await self.in_channel(g)
        return self.reason_text(refusal, locale, channel=channel)

    async def enter(self, giveaway_id: int, user: User) -> EntryOutcome | Refusal:
        """What the press did, or why a condition refused it."""
        g = await self.repo.get(giveaway_id)
        if g is None or g.status is not GiveawayStatus.OPEN or g.ends_at <= self.clock():
            return EntryOutcome.CLOSED
        refusal = await self.check_conditions(g, user.id)
        if refusal:
            return refusal
        written = await self.repo.add_entry(giveaway_id, user.id, user.full_name, int(self.clock()))
        if written is EntryWrite.CLOSED:  # drawn while the conditions were being checked
            return EntryOutcome.CLOSED
        if written is EntryWrite.ALREADY:
            return EntryOutcome.ALREADY
        self._schedule_count_refresh(g)
        return EntryOutcome.ENTERED

    def _schedule_count_refresh(self, g: Giveaway) -> None:
        """Edit the live count at most every few seconds, however many join at once."""
        run_once_at(
            self.scheduler,
            f"giveaway-count:{g.id}",
            self.clock() + COUNT_REFRESH_SECONDS,
            self.refresh_count,
            g.id,
            replace=False,
        )

    async def refresh_count(self, giveaway_id: int) -> None:
        g = await self.repo.get(giveaway_id)
        if g is None or g.status is not GiveawayStatus.OPEN or g.message_id is None:
            return
        locale = await self.locale_for(g.chat_id)
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=g.chat_id,
                message_id=g.message_id,
                reply_markup=self.keyboard(g.id, await self.repo.count_entries(g.id), locale),
            )
        except TelegramAPIError as exc:
            logger.info("giveaway %s: count not updated: %s", g.id, exc)

    # --- drawing --------------------------------------------------------------------------

    async def end(self, giveaway_id: int, resume: bool = False) -> bool:
        """Draw once: the timer, a manual end and start-up race for one conditional update.
        `resume`: a draw left unfinished, taken over once its worker's lease ran out."""
        now = int(self.clock())
        if resume:
            claimed = await self.repo.take_over_draw(
                giveaway_id, now, self._lease_end(), force=not self.shared
            )
        else:
            claimed = await self.repo.claim_draw(giveaway_id, self._lease_end())
        if not claimed:
            return False
        async with heartbeat(lambda: self.repo.renew_draw(giveaway_id, self._lease_end())):
            return await self._draw(giveaway_id)

    def _lease_end(self) -> int:
        return int(self.clock()) + ROW_LEASE_SECONDS

    async def _draw(self, giveaway_id: int) -> bool:
        g = await self.repo.get(giveaway_id)
        if g is None:
            return False
        cancel(self.scheduler, self._job_id(giveaway_id))
        entries = await self.repo.entries(giveaway_id)
        picks = await self._pick(g, list(entries), g.winners_count, exclude=set())
        await self._record(g, picks, 0)
        await self.repo.finish_draw(g.id, int(self.clock()))
        await self._announce(g, entries, picks)
        return True

    async def announce_pending(self) -> int:
        """Draws stored whose result was never posted (the worker died in between): each is
        announced once, by whichever worker takes its lease, with the stored winners."""
        count = 0
        for pending in await self.repo.unannounced():
            count += await self._announce_stored(pending.id)
        return count

    async def _announce_stored(self, giveaway_id: int) -> bool:
        taken = await self.repo.take_announcement(
            giveaway_id, int(self.clock()), self._lease_end(), force=not self.shared
        )
        if not taken:
            return False  # another worker announces it, or its drawing worker still lives
        async with heartbeat(lambda: self.repo.renew_draw(giveaway_id, self._lease_end())):
            g = await self.repo.get(giveaway_id)
            if g is None:
                return False
            first = [r for r in await self.repo.results(g.id) if r.round == 0]
            picks = Picks(
                [r.user_id for r in first if r.outcome is DrawOutcome.WON],
                [
                    (r.user_id, Refusal.parse(r.reason))
                    for r in first
                    if r.outcome is DrawOutcome.SKIPPED
                ],
            )
            await self._announce(g, await self.repo.entries(g.id), picks)
        return True

    async def _announce(self, g: Giveaway, entries: dict[int, str], picks: Picks) -> None:
        """Post a stored draw's result, then mark it posted (its lease held meanwhile), then
        close the button and tell the winners."""
        winners, skipped = picks.winners, picks.skipped
        locale = await self.locale_for(g.chat_id)
        channel = await self.in_channel(g)
        result = self.render_result(g, entries, winners, skipped, locale, channel)
        try:
            await self.publish(g, result)
        except TelegramAPIError as exc:
            # drawn and recorded all the same (/giveaway_verify reads the records): the bot was
            # removed or muted meanwhile; the winners still hear, and the organiser gets the
            # result to post themselves
            logger.warning("giveaway %s: result not posted in %s: %s", g.id, g.chat_id, exc)
            await self._hand_result_to_organiser(g, result, exc)
        await self.repo.mark_announced(g.id, int(self.clock()))
        if g.message_id:
            with contextlib.suppress(TelegramAPIError):
                await self.bot.edit_message_reply_markup(
                    chat_id=g.chat_id, message_id=g.message_id, reply_markup=None
                )
        await self._tell_winners(g, winners, entries)
        if len(winners) < g.winners_count:
            await self._tell_short(g, len(winners))

    async def _tell_short(self, g: Giveaway, drawn: int) -> None:
        """The organiser hears privately that fewer winners than announced could be drawn,
        so that the missing prizes are not silently forgotten."""
        if g.created_by is None:
            return
        locale = await self.locale_for(g.created_by)
        ngettext = plural_for(self.i18n, locale)
        await self.notes.send_message(
            g.created_by,
            ngettext(
                "🎁 Giveaway #{id} “{prize}”: only {drawn} of {wanted} winner could be "
                "drawn: there were not enough eligible entrants (the result names anyone passed "
                "over and why).",
                "🎁 Giveaway #{id} “{prize}”: only {drawn} of {wanted} winners could be "
                "drawn: there were not enough eligible entrants (the result names anyone passed "
                "over and why).",
                g.winners_count,
            ).format(id=g.id, prize=html.escape(g.prize), drawn=drawn, wanted=g.winners_count),
        )

    async def _hand_result_to_organiser(
        self, g: Giveaway, result: ResultPost, error: TelegramAPIError
    ) -> None:
        if g.created_by is None:
            return
        locale = await self.locale_for(g.created_by)
        head = self.i18n.gettext(
            "🎁 Giveaway #{id} is drawn, but Telegram would not let me post the result in its "
            "chat (“{error}”). The winners are told privately; here is the result to post "
            "yourself:",
            locale=locale,
        ).format(id=g.id, error=html.escape(error.message))
        for text in [head, *result.messages]:
            if not (await self.notes.send_message(g.created_by, text)).delivered:
                return

    async def _record(self, g: Giveaway, picks: Picks, round_: int) -> None:
        for rank, (uid, reason) in enumerate(picks.skipped):
            await self.repo.add_result(g.id, uid, DrawOutcome.SKIPPED, str(reason), round_, rank)
        for rank, uid in enumerate(picks.winners):
            await self.repo.add_result(g.id, uid, DrawOutcome.WON, None, round_, rank)

    async def _pick(self, g: Giveaway, entrants: list[int], n: int, exclude: set[int]) -> Picks:
        winners: list[int] = []
        skipped: list[tuple[int, Refusal]] = []
        for uid in draw.ranked(g.seed_hex, entrants):
            if len(winners) >= n:
                break
            if uid in exclude:
                continue
            reason = await self.check_conditions(g, uid, at_draw=True)
            if reason:
                skipped.append((uid, reason))
            else:
                winners.append(uid)
        return Picks(winners, skipped)

    async def reroll(self, giveaway_id: int, count: int) -> Picks | None:
        """`count` more winners in the same draw order; None while it is not drawn. One at a
        time per giveaway, across workers: two handled together read the same results and
        picked the same next entrant, so each takes the giveaway's row first (a conditional
        update in the database, with a lease renewed while it works) and a second waits for
        the first to finish, then draws the next in order."""
        async with self._reroll_locks[giveaway_id]:  # this worker's own: no polling for it
            held = await self._claim_reroll(giveaway_id)
            if held is None:
                return None
            lease = [held]

            async def renew() -> None:
                if await self.repo.renew_reroll(giveaway_id, lease[0], new := self._lease_end()):
                    lease[0] = new

            try:
                async with heartbeat(renew):
                    return await self._reroll(giveaway_id, count)
            finally:
                await self.repo.release_reroll(giveaway_id, lease[0])

    async def _claim_reroll(self, giveaway_id: int) -> int | None:
        """The lease this worker now holds on the drawn giveaway; None when it is not drawn.
        Waits while another worker rerolls it (at most until that one's lease runs out)."""
        while True:
            lease_until = self._lease_end()
            now = int(self.clock())
            if await self.repo.claim_reroll(giveaway_id, now, lease_until, force=not self.shared):
                return lease_until
            g = await self.repo.get(giveaway_id)
            if g is None or g.status is not GiveawayStatus.DRAWN:
                return None
            await asyncio.sleep(REROLL_WAIT)

    async def _reroll(self, giveaway_id: int, count: int) -> Picks | None:
        g = await self.repo.get(giveaway_id)
        if g is None or g.status is not GiveawayStatus.DRAWN:
            return None
        results = await self.repo.results(giveaway_id)
        exclude = {r.user_id for r in results}
        round_ = max((r.round for r in results), default=0) + 1
        entries = await self.repo.entries(giveaway_id)
        picks = await self._pick(g, list(entries), count, exclude)
        await self._record(g, picks, round_)
        await self._tell_winners(g, picks.winners, entries)
        return picks

    async def _tell_winners(
        self, g: Giveaway, winners: list[int], entries: dict[int, str]
    ) -> list[NoteResult]:
        """Each winner gets a private note if Telegram lets the bot reach them: tried once for
        everyone, whatever the bot's own records say about who started it. The organiser learns
        whom the bot could not reach, so they contact them another way."""
        results = []
        for uid in winners:
            locale = await self.locale_for(uid)
            results.append(
                await self.notes.send_message(
                    uid,
                    self.i18n.gettext(
                        "🎉 You won the giveaway “{prize}”! The organisers will contact you.",
                        locale=locale,
                    ).format(prize=html.escape(g.prize)),
                )
            )
        unreached = [r.user_id for r in results if not r.delivered]
        if unreached and g.created_by is not None:
            locale = await self.locale_for(g.created_by)
            await self.notes.send_message(
                g.created_by,
                self.i18n.gettext(
                    "🎁 Giveaway #{id}: I could not write to {names} in private (they have not "
                    "started me or have blocked me). Please contact them yourself.",
                    locale=locale,
                ).format(id=g.id, names=", ".join(self.mention(u, entries) for u in unreached)),
            )
        return results

    def skipped_lines(
        self,
        g: Giveaway,
        skipped: list[tuple[int, Refusal]],
        entries: dict[int, str],
        locale: str,
        channel: bool = False,
    ) -> list[str]:
        """One public line per entrant passed over at a draw, with the reason (`channel`: the
        giveaway is in a channel)."""
        return [
            self.i18n.gettext("Skipped {name}: {reason}.", locale=locale).format(
                name=self.drawn(g, uid, entries),
                reason=html.escape(self.reason_text(reason, locale, at_draw=True, channel=channel)),
            )
            for uid, reason in skipped
        ]

    def mention(self, uid: int, entries: dict[int, str]) -> str:
        return f'<a href="tg://user?id={uid}">{html.escape(entries.get(uid, str(uid)))}</a>'

    def drawn(self, g: Giveaway, uid: int, entries: dict[int, str]) -> str:
        """An entrant as a draw's result names them: the check recomputes ids, not names, so
        a winner's or a skipped entrant's id is shown, not only behind the name's link (except
        where the chat publishes no ids: `private`)."""
        name = self.mention(uid, entries)
        return name if g.private_entrants else f"{name} (id <code>{uid}</code>)"

    def winner_lines(self, g: Giveaway, winners: list[int], entries: dict[int, str]) -> list[str]:
        return [f"{n}. {self.drawn(g, uid, entries)}" for n, uid in enumerate(winners, 1)]

    def render_result(
        self,
        g: Giveaway,
        entries: dict[int, str],
        winners: list[int],
        skipped: list[tuple[int, Refusal]],
        locale: str,
        channel: bool = False,
    ) -> ResultPost:
        """The draw's public result: one message when it fits Telegram's limit; otherwise as
        many as the winners and skipped lines need, and the entrant list as a file, whole, so
        that anyone can still check the draw."""
        gettext = self.i18n.gettext
        lines = [
            gettext("🎁 Giveaway #{id} “{prize}” is over.", locale=locale).format(
                id=g.id, prize=html.escape(g.prize)
            )
        ]
        if winners:
            lines.append(gettext("Winners:", locale=locale))
            lines += self.winner_lines(g, winners, entries)
            if len(winners) < g.winners_count:
                lines.append(self.short_text(len(winners), g.winners_count, locale))
        else:
            lines.append(
                gettext("Nobody could win: there were no eligible entrants.", locale=locale)
            )
        lines += self.skipped_lines(g, skipped, entries, locale, channel)
        ids = sorted(entries)
        shown = [draw.hashed_id(u) for u in ids] if g.private_entrants else [str(u) for u in ids]
        lines.append("")
        lines.append(
            gettext("Check the draw: seed {seed}", locale=locale).format(
                seed=f"<code>{g.seed_hex}</code>"
            )
        )
        lines.append(
            gettext("sha256(seed) = {commitment}", locale=locale).format(
                commitment=f"<code>{g.commitment}</code>"
            )
        )
        label = (
            gettext("Entrants (sha256 of ids, {count}):", locale=locale)
            if g.private_entrants
            else gettext("Entrants ({count}):", locale=locale)
        )
        whole = [*lines, label.format(count=len(ids)), "<code>" + " ".join(shown) + "</code>"]
        # counted in UTF-16 units as Telegram counts (an emoji is two), with the HTML tags,
        # which Telegram does not count: errs on the safe side
        if utf16_length(one := "\n".join(whole)) <= TEXT_LIMIT:
            return ResultPost([one])
        in_file = (
            gettext(
                "Entrants (sha256 of ids, {count}): the full list is in the file below.",
                locale=locale,
            )
            if g.private_entrants
            else gettext("Entrants ({count}): the full list is in the file below.", locale=locale)
        )
        lines.append(in_file.format(count=len(ids)))
        listing = "".join(f"{x}\n" for x in shown).encode()
        caption = gettext("Entrants of giveaway #{id}, one per line.", locale=locale)
        return ResultPost(pack_lines(lines), listing, caption.format(id=g.id))

    def reroll_lines(
        self,
        g: Giveaway,
        picks: Picks,
        wanted: int,
        entries: dict[int, str],
        locale: str,
        channel: bool = False,
    ) -> list[str]:
        """A reroll's public announcement (and the caller's copy), in `locale`: the new winners
        in draw order, or that nobody is left, and whom it passed over and why (`channel`: the
        giveaway is in a channel, whose entrants subscribe)."""
        gettext = self.i18n.gettext
        if picks.winners:
            lines = [
                gettext(
                    "New winners of giveaway #{id} (next in the same draw order):", locale=locale
                ).format(id=g.id)
            ]
            lines += self.winner_lines(g, picks.winners, entries)
            if len(picks.winners) < wanted:
                lines.append(self.short_text(len(picks.winners), wanted, locale))
        else:  # everyone left was passed over: who and why is public, as at the draw
            lines = [gettext("No more eligible entrants to draw from.", locale=locale)]
        return lines + self.skipped_lines(g, picks.skipped, entries, locale, channel)

    def short_text(self, drawn: int, wanted: int, locale: str) -> str:
        """Said when fewer winners could be drawn than asked for, rather than leaving the
        organiser to count."""
        ngettext = plural_for(self.i18n, locale)
        return ngettext(
            "Only {drawn} of {wanted} winner could be drawn: no other entrant is eligible.",
            "Only {drawn} of {wanted} winners could be drawn: no other entrant is eligible.",
            wanted,
        ).format(drawn=drawn, wanted=wanted)

    async def publish(self, g: Giveaway, post: ResultPost) -> None:
        """Post a draw's result in the giveaway's chat and topic, the entrant file after it."""
        sent = [
            await send_in_topic(self.bot, g.chat_id, text, g.thread_id) for text in post.messages
        ]
        if post.entrants_file is not None:
            sent.append(
                await send_file_in_topic(
                    self.bot,
                    g.chat_id,
                    BufferedInputFile(post.entrants_file, filename=f"giveaway-{g.id}-entrants.txt"),
                    g.thread_id,
                    caption=post.file_caption,
                )
            )
        await self._posted(sent)

    async def get(self, giveaway_id: int) -> Giveaway | None:
        return await self.repo.get(giveaway_id)

    async def usable(
        self, raw_id: str, user_id: int, *, managing: bool, posted_as: int | None = None
    ) -> Giveaway | GiveawayRefusal:
        """The giveaway named by `raw_id` ("4" or "#4"); anyone may verify one, but `managing`
        it (ending, rerolling) takes a manager or an admin of its chat. `posted_as`: the group
        the command was sent as (an anonymous admin of it), whose admins list no user id for
        the sender: the message itself proves they are one."""
        giveaway_id = typed_id(raw_id)
        if giveaway_id is None:
            return GiveawayRefusal.NOT_AN_ID
        giveaway = await self.repo.get(giveaway_id)
        if giveaway is None:
            return GiveawayRefusal.NOT_FOUND
        if managing and not (
            giveaway.chat_id == posted_as
            or self.role_service.is_manager(user_id)
            or await self.role_service.is_chat_admin(giveaway.chat_id, user_id)
        ):
            return GiveawayRefusal.NOT_YOURS
        return giveaway

    async def entries(self, giveaway_id: int) -> dict[int, str]:
        """Entrants' names by user id."""
        return await self.repo.entries(giveaway_id)

    async def verify(self, giveaway_id: int) -> DrawCheck | None:
        """Recompute the commitment and the winners from what was published."""
        g = await self.repo.get(giveaway_id)
        if g is None or g.status is not GiveawayStatus.DRAWN:
            return None
        results = await self.repo.results(giveaway_id)
        entries = await self.repo.entries(giveaway_id)
        first_round = [r for r in results if r.round == 0]
        skipped = {r.user_id for r in first_round if r.outcome is DrawOutcome.SKIPPED}
        expected = [u for u in draw.ranked(g.seed_hex, entries) if u not in skipped]
        expected = expected[: g.winners_count]
        actual = [r.user_id for r in first_round if r.outcome is DrawOutcome.WON]
        return DrawCheck(
            commitment_ok=draw.commitment(g.seed_hex) == g.commitment,
            winners_ok=expected == actual,
            winners=actual,
            entrants=len(entries),
        )
