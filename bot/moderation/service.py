"""Moderation actions against Telegram, each recorded in the audit log with an undo.

Handlers and the automatic protection call this service; it alone talks to Telegram for
restrict/ban/delete and writes `mod_actions`. The log entry (with Undo and Details buttons) is
queued in the durable log outbox and posted by its worker, so no action waits for the log chat.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
)
from aiogram.filters.callback_data import CallbackData
from aiogram.types import ChatPermissions, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.chat_ids import is_basic_group
from bot.clock import SYSTEM_CLOCK, Clock
from bot.commands import N_
from bot.config import Settings
from bot.i18n import pick_language
from bot.membership import is_member
from bot.moderation.blocklist import CompiledBlocklist
from bot.moderation.chat_settings import SettingKey, shown_value, toggled
from bot.moderation.durations import format_duration, telegram_until
from bot.moderation.outbox import LogOutbox, Rendered
from bot.moderation.problems import CAPTCHA_SUPERGROUP_REASON, SUPERGROUP_REASON, Problem
from bot.moderation.problems import NO_RIGHTS_REASON as NO_RIGHTS_REASON
from bot.moderation.reports import ReportRecipients, report_recipients
from bot.moderation.spam import MessageFeatures, NaiveBayes, SpamScorer, SpamVerdict
from bot.moderation.understanding import SemanticSpamClassifier
from bot.roles import AdminRight
from bot.texts import ALERT_LIMIT, cut_to, utf16_length
from storage.cache import LoadingCache
from storage.moderation import ChatModSettings, Filter, ModAction, ModerationRepository, Warn
from storage.outbox import OutboxEntry, OutboxKind

logger = logging.getLogger(__name__)

MUTED = ChatPermissions(
    can_send_messages=False,
    can_send_audios=False,
    can_send_documents=False,
    can_send_photos=False,
    can_send_videos=False,
    can_send_video_notes=False,
    can_send_voice_notes=False,
    can_send_polls=False,
    can_send_other_messages=False,
    can_add_web_page_previews=False,
    can_react_to_messages=False,
)
UNMUTED = ChatPermissions(
    can_send_messages=True,
    can_send_audios=True,
    can_send_documents=True,
    can_send_photos=True,
    can_send_videos=True,
    can_send_video_notes=True,
    can_send_voice_notes=True,
    can_send_polls=True,
    can_send_other_messages=True,
    can_add_web_page_previews=True,
    can_react_to_messages=True,
)


class LogAction(StrEnum):
    """The buttons under a log entry (and under a command's confirmation)."""

    UNDO = "undo"
    DETAILS = "details"


class AuditAction(StrEnum):
    """What an audit row records (`mod_actions.action`, stored as these). Rows are read back as
    plain text: an older version may have written a word no longer listed here."""

    WARN = "warn"
    UNWARN = "unwarn"
    RESETWARNS = "resetwarns"
    MUTE = "mute"
    UNMUTE = "unmute"
    BAN = "ban"
    UNBAN = "unban"
    KICK = "kick"
    DELETE = "delete"
    PURGE = "purge"
    SPAM = "spam"  # written by earlier versions for /spam; still undone as a ban
    APPROVE = "approve"
    UNAPPROVE = "unapprove"
    DETECT = "detect"  # a rule noticed and only logged
    CAPTCHA_KICK = "captcha_kick"


class ModCallback(CallbackData, prefix="mod"):
    op: LogAction
    action_id: int


class UndoOutcome(StrEnum):
    DONE = "done"
    PARTIAL = "partial"  # a deleted message cannot come back; a kicked member may rejoin
    ALREADY = "already"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Purged:
    """What one /purge did: ids in calls Telegram accepted (the command's own included), and
    messages it would not delete. Telegram skips ids of messages already gone (deleted, or
    never sent to the bot's chat) and says nothing of them, so `deleted` counts those too;
    `exact` where only ids the bot saw arrive were asked for (a forum topic's), which leaves
    out ids never used (a message another admin deleted meanwhile still counts)."""

    deleted: int
    kept: int
    exact: bool = False

    @property
    def messages(self) -> int:
        """What the moderator asked to delete: the command itself is not one of them."""
        return max(0, self.deleted - 1)


@dataclass(frozen=True, slots=True)
class Topic:
    """Where in a forum a /purge was given: its topic's thread id, None for General."""

    thread_id: int | None


@dataclass(frozen=True, slots=True)
class WarnCount:
    count: int
    limit: int


class WarnPenalty(StrEnum):
    """What a chat does at its warn limit (`chat_settings.warn_action`, stored as these)."""

    MUTE = "mute"
    BAN = "ban"
    KICK = "kick"


@dataclass(frozen=True, slots=True)
class Warned:
    """A warn given; at the chat's limit also the penalty that followed, with its audit entry
    (`action_id`, for the Undo button) and length (None: for good, or a kick)."""

    count: int
    limit: int
    penalty: WarnPenalty | None = None
    duration: timedelta | None = None
    action_id: int | None = None


@dataclass(frozen=True, slots=True)
class ActiveWarns:
    warns: list[Warn]  # oldest first
    limit: int


class ModerationError(Exception):
    """An action Telegram refused; `kind` picks the message shown to the moderator."""

    def __init__(self, kind: Problem, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    name: str
    is_chat: bool = False  # a channel or group identity (sender_chat), not a user

    @property
    def mention(self) -> str:
        if self.is_chat:
            return html.escape(self.name)
        return f'<a href="tg://user?id={self.id}">{html.escape(self.name)}</a>'


@dataclass(frozen=True, slots=True)
class Actor:
    id: int | None  # None: Steward's automatic protection
    name: str


STEWARD = Actor(None, "Steward")


def _restrictable(target: Target) -> None:
    """Telegram restricts users only (restrictChatMember refuses a chat's id): a channel
    identity can be banned (banChatSenderChat), never muted."""
    if target.is_chat:
        raise ModerationError(Problem.CHANNEL_RESTRICT)


def classify_refusal(exc: TelegramAPIError) -> ModerationError:
    """Turn Telegram's refusal into a kind the moderator can act on."""
    text = exc.message.lower()
    if "available only for supergroups" in text or "supergroup and channel chats only" in text:
        return ModerationError(Problem.SUPERGROUP_ONLY, exc.message)
    if any(
        s in text
        for s in ("user is an administrator", "can't remove chat owner", "can't restrict self")
    ):
        return ModerationError(Problem.TARGET_ADMIN, exc.message)
    if isinstance(exc, TelegramForbiddenError) or any(
        s in text
        for s in (
            "not enough rights",
            "have no rights",
            "chat_admin_required",
            "need administrator rights",
        )
    ):
        return ModerationError(Problem.NO_RIGHTS, exc.message)
    if any(s in text for s in ("not found", "participant_id_invalid", "user_not_participant")):
        return ModerationError(Problem.NOT_FOUND, exc.message)
    return ModerationError(Problem.TELEGRAM, exc.message)


class ModerationService:
    def __init__(
        self,
        bot: Bot,
        repo: ModerationRepository,
        settings: Settings,
        i18n: I18n,
        scorer: SpamScorer,
        outbox: LogOutbox,
        clock: Clock = SYSTEM_CLOCK,
        semantic: SemanticSpamClassifier | None = None,
    ) -> None:
        self.bot = bot
        self.repo = repo
        self.outbox = outbox
        outbox.renderer = self
        self.settings = settings
        self.i18n = i18n
        self.scorer = scorer
        self.semantic = semantic or SemanticSpamClassifier(None)
        self.clock = clock
        self._approved: LoadingCache[int, set[int]] = LoadingCache()
        self._blocklists: LoadingCache[int, CompiledBlocklist] = LoadingCache()
        self._graduated: set[tuple[int, int]] = set()
        self._log_order = asyncio.Lock()
        self._taps = asyncio.Lock()  # /settings taps: a double tap's two read-then-writes
        # forum messages' topics waiting to be written: (chat, message) -> (topic, seen at)
        self._topic_notes: dict[tuple[int, int], tuple[int | None, int]] = {}

    def now(self) -> int:
        return int(self.clock())

    # --- cached lookups for the hot path --------------------------------------------------

    async def is_approved(self, chat_id: int, user_id: int) -> bool:
        approved = await self._approved.get(chat_id, lambda: self.repo.approved_ids(chat_id))
        return user_id in approved

    async def blocklist(self, chat_id: int) -> CompiledBlocklist:
        async def load() -> CompiledBlocklist:
            entries = [(f.pattern, f.is_regex) for f in await self.repo.filters(chat_id)]
            return CompiledBlocklist.build(entries)

        return await self._blocklists.get(chat_id, load)

    def forget_blocklist(self, chat_id: int) -> None:
        self._blocklists.invalidate(chat_id)

    def caches(self) -> dict[str, LoadingCache[int, Any]]:
        """What other workers must hear about when it changes (bot.cluster)."""
        return {"approved": self._approved, "blocklists": self._blocklists, **self.repo.caches()}

    def forget_chat(self, chat_id: int) -> None:
        """Drop everything cached about a chat (its rows moved to another id)."""
        self._approved.invalidate(chat_id)
        self._blocklists.invalidate(chat_id)
        self._graduated = {key for key in self._graduated if key[0] != chat_id}
        self.repo.forget_settings(chat_id)

    async def is_new_member(self, chat_id: int, user_id: int, threshold: int) -> bool:
        if (chat_id, user_id) in self._graduated:
            return False
        if await self.repo.clean_messages(chat_id, user_id) >= threshold:
            self._graduated.add((chat_id, user_id))
            return False
        return True

    async def count_clean(self, chat_id: int, user_id: int, threshold: int) -> None:
        await self.repo.count_clean_message(chat_id, user_id)
        if await self.repo.clean_messages(chat_id, user_id) >= threshold:
            self._graduated.add((chat_id, user_id))

    async def member_joined(self, chat_id: int, user_id: int) -> None:
        self._graduated.discard((chat_id, user_id))
        await self.repo.mark_joined(chat_id, user_id, self.now())

    # --- approvals -----------------------------------------------------------------------

    async def approve(self, chat_id: int, target: Target, actor: Actor) -> bool:
        added = await self.repo.approve(chat_id, target.id, actor.id, self.now())
        self._approved.invalidate(chat_id)
        if added:
            await self._record(chat_id, actor, target, AuditAction.APPROVE)
        return added

    async def unapprove(self, chat_id: int, target: Target, actor: Actor) -> bool:
        removed = await self.repo.unapprove(chat_id, target.id)
        self._approved.invalidate(chat_id)
        if removed:
            await self._record(chat_id, actor, target, AuditAction.UNAPPROVE)
        return removed

    # --- actions -------------------------------------------------------------------------

    async def _telegram(self, coro: Any) -> Any:
        try:
            return await coro
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            raise classify_refusal(exc) from exc

    async def mute(
        self,
        chat_id: int,
        target: Target,
        actor: Actor,
        duration: timedelta | None,
        reason: str | None = None,
        **audit: Any,
    ) -> int:
        _restrictable(target)
        if not is_basic_group(chat_id):  # where no one is banned, nor muted (Telegram refuses)
            # restrictChatMember replaces a ban by the restriction (tdlib
            # restrict_channel_participant): the banned member could come back, muted
            member = await self._telegram(self.bot.get_chat_member(chat_id, target.id))
            if member.status == "kicked":
                raise ModerationError(Problem.BANNED, target.name)
        until = telegram_until(self.now(), duration)
        await self._telegram(
            self.bot.restrict_chat_member(chat_id, target.id, MUTED, until_date=until)
        )
        await self._end_captcha(chat_id, target)
        return await self._record(
            chat_id,
            actor,
            target,
            AuditAction.MUTE,
            reason,
            expires_at=until or None,
            duration=duration,
            **audit,
        )

    async def unmute(self, chat_id: int, target: Target, actor: Actor) -> int:
        """Telegram answers True to lifting a restriction nobody had, so only asking first tells
        the moderator (and the log) that the member could write already."""
        _restrictable(target)
        member = await self._telegram(self.bot.get_chat_member(chat_id, target.id))
        if member.status != "restricted" or getattr(member, "can_send_messages", True):
            raise ModerationError(Problem.NOT_MUTED, target.name)
        await self._telegram(self.bot.restrict_chat_member(chat_id, target.id, UNMUTED))
        return await self._record(chat_id, actor, target, AuditAction.UNMUTE)

    async def ban(
        self,
        chat_id: int,
        target: Target,
        actor: Actor,
        duration: timedelta | None = None,
        reason: str | None = None,
        **audit: Any,
    ) -> int:
        if target.is_chat:  # banChatSenderChat has no end date: the record must not have one
            duration = None
        until = telegram_until(self.now(), duration)
        if target.is_chat:
            await self._telegram(self.bot.ban_chat_sender_chat(chat_id, target.id))
        else:
            await self._telegram(self.bot.ban_chat_member(chat_id, target.id, until_date=until))
            await self._end_captcha(chat_id, target)
        return await self._record(
            chat_id,
            actor,
            target,
            AuditAction.BAN,
            reason,
            expires_at=until or None,
            duration=duration,
            **audit,
        )

    async def unban(self, chat_id: int, target: Target, actor: Actor) -> int:
        """Telegram answers True to unbanning someone who is not banned, so only asking first
        tells the moderator (and the log) that there was nothing to lift."""
        if target.is_chat:
            await self._telegram(self.bot.unban_chat_sender_chat(chat_id, target.id))
        else:
            member = await self._telegram(self.bot.get_chat_member(chat_id, target.id))
            if member.status != "kicked":
                raise ModerationError(Problem.NOT_BANNED, target.name)
            await self._telegram(
                self.bot.unban_chat_member(chat_id, target.id, only_if_banned=True)
            )
        return await self._record(chat_id, actor, target, AuditAction.UNBAN)

    async def kick(
        self, chat_id: int, target: Target, actor: Actor, reason: str | None = None, **audit: Any
    ) -> int:
        """Remove without banning: ban, then unban at once so the member may rejoin. A channel
        identity has nothing to be removed from (ban and unban would change nothing), so it is
        refused rather than silently banned for good."""
        if target.is_chat:
            raise ModerationError(Problem.CHANNEL_KICK)
        # Telegram answers True to banning and unbanning someone who is not in the chat (a ban
        # in advance; an unban of no one), so only asking first tells a removal from nothing.
        # A banned member is not in the chat either, and a "kick" would have lifted the ban.
        member = await self._telegram(self.bot.get_chat_member(chat_id, target.id))
        if not is_member(member.status, getattr(member, "is_member", None)):
            raise ModerationError(Problem.NOT_FOUND)
        await self._remove(chat_id, target.id)
        await self._end_captcha(chat_id, target)
        return await self._record(chat_id, actor, target, AuditAction.KICK, reason, **audit)

    async def _end_captcha(self, chat_id: int, target: Target) -> None:
        """A mute, ban or kick decides about a newcomer still on the join captcha: its button
        would otherwise lift the mute and its timer remove them again, so both find nothing
        left to do, and its prompt goes."""
        pending = await self.repo.pop_captcha(chat_id, target.id)
        if pending is not None and pending["captcha_message_id"]:
            await self.delete(chat_id, pending["captcha_message_id"])

    async def restrict(self, chat_id: int, user_id: int, permissions: ChatPermissions) -> None:
        """Unrecorded: the captcha's mute of a newcomer, and its release."""
        await self._telegram(self.bot.restrict_chat_member(chat_id, user_id, permissions))

    async def remove(self, chat_id: int, user_id: int) -> None:
        """Unrecorded kick (the captcha records its own "captcha_kick")."""
        await self._remove(chat_id, user_id)

    async def _remove(self, chat_id: int, user_id: int) -> None:
        """Ban, then unban so the member may rejoin. A basic group keeps no ban list (a ban
        there only removes) and refuses an unban."""
        await self._telegram(self.bot.ban_chat_member(chat_id, user_id))
        if not is_basic_group(chat_id):
            await self._telegram(self.bot.unban_chat_member(chat_id, user_id, only_if_banned=True))

    async def delete_or_explain(self, chat_id: int, message_id: int) -> None:
        """/del: as `delete`, but Telegram's refusal is the moderator's to read: raises
        ModerationError (no rights, message not found, too old, or Telegram's own words)."""
        try:
            await self.bot.delete_message(chat_id, message_id)
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            raise await self._deletion_refusal(chat_id, exc) from exc
        except TelegramAPIError as exc:  # Telegram out of reach, or asking to wait too long:
            # /spam has banned already, so its moderator hears that the message stays
            raise ModerationError(Problem.TELEGRAM, exc.message) from exc

    async def try_delete(self, chat_id: int, message_id: int) -> Problem | None:
        """An automatic rule's deletion: None when the message is gone (now, or already),
        else why it stays (NO_RIGHTS: the bot may not delete others' messages here)."""
        try:
            await self.delete_or_explain(chat_id, message_id)
        except ModerationError as exc:
            logger.info("could not delete %s/%s: %s", chat_id, message_id, exc)
            return None if exc.kind is Problem.NOT_FOUND else exc.kind
        except TelegramMigrateToChat as exc:  # a message of a group upgraded since
            logger.info("could not delete %s/%s: %s", chat_id, message_id, exc)
            return Problem.TELEGRAM
        return None

    async def _deletion_refusal(self, chat_id: int, exc: TelegramAPIError) -> ModerationError:
        """Telegram answers "message can't be deleted" to a bot without the right to delete
        others' messages and, with the right, for a message older than 48 hours or a service
        message no one may delete: only the bot's own rights tell the two apart."""
        if "can't be deleted" not in exc.message.lower():
            return classify_refusal(exc)
        may = await self._may_delete(chat_id)
        if may is None:
            return classify_refusal(exc)
        return ModerationError(Problem.UNDELETABLE if may else Problem.NO_RIGHTS, exc.message)

    async def _may_delete(self, chat_id: int) -> bool | None:
        """Whether the bot holds the right to delete others' messages here; None: unknown."""
        try:
            me = await self.bot.get_chat_member(chat_id, self.settings.bot_id)
        except TelegramAPIError as exc:
            logger.info("cannot read my own rights in %s: %s", chat_id, exc)
            return None
        return me.status == "creator" or (
            me.status == "administrator" and bool(getattr(me, "can_delete_messages", False))
        )

    async def delete(self, chat_id: int, message_id: int) -> bool:
        try:
            return bool(await self.bot.delete_message(chat_id, message_id))
        except (TelegramBadRequest, TelegramMigrateToChat) as exc:
            # a message of a group upgraded since stays in the old chat, which takes no calls
            logger.info("could not delete %s/%s: %s", chat_id, message_id, exc)
            return False

    async def warn(
        self,
        chat_id: int,
        target: Target,
        actor: Actor,
        reason: str | None = None,
        **audit: Any,
    ) -> Warned:
        """Adds a warn; at the chat's limit applies its action, then clears the warns. A channel
        identity is refused: its warns would end in a mute Telegram cannot give it."""
        _restrictable(target)
        settings = await self.repo.settings(chat_id)
        now = self.now()
        warn_id = await self.repo.add_warn(
            chat_id, target.id, actor.id, reason, now, now + settings.warn_expiry_seconds
        )
        await self._record(
            chat_id,
            actor,
            target,
            AuditAction.WARN,
            reason,
            details_extra={"warn_id": warn_id},
            **audit,
        )
        active = [w.id for w in await self.repo.active_warns(chat_id, target.id, now)]
        count = len(active)
        if count < settings.warn_limit:
            return Warned(count, settings.warn_limit)
        # the limit is reached: the warns counted are cleared first, atomically, so that of two
        # warns reaching it at the same moment (two moderators, two workers) only the one that
        # cleared all it counted applies the action; the other's warn went into that action
        if await self.repo.take_warns(active, now) < count:
            return Warned(count, settings.warn_limit)
        limit_reason = f"{count}/{settings.warn_limit} warns"
        duration = (
            timedelta(seconds=settings.warn_action_seconds)
            if settings.warn_action_seconds
            else None
        )
        try:
            if settings.warn_action == WarnPenalty.BAN:
                penalty = WarnPenalty.BAN
                action_id = await self.ban(
                    chat_id, target, STEWARD, duration, limit_reason, rule="warn_limit"
                )
            elif settings.warn_action == WarnPenalty.KICK:
                penalty, duration = WarnPenalty.KICK, None
                action_id = await self.kick(
                    chat_id, target, STEWARD, limit_reason, rule="warn_limit"
                )
            else:
                penalty = WarnPenalty.MUTE
                action_id = await self.mute(
                    chat_id, target, STEWARD, duration, limit_reason, rule="warn_limit"
                )
        except BaseException:
            # Telegram refused the penalty (ModerationError): the warns stay and the next warn
            # tries again
            await self.repo.give_back_warns(active, now)
            raise
        return Warned(count, settings.warn_limit, penalty, duration, action_id)

    async def unwarn(self, chat_id: int, target: Target, actor: Actor) -> WarnCount | None:
        """Take back the latest warn; None when there was none."""
        removed = await self.repo.remove_last_warn(chat_id, target.id, self.now())
        if removed is None:
            return None
        await self.record(chat_id, actor, target, AuditAction.UNWARN, details={"warn_id": removed})
        active = await self.warns(chat_id, target.id)
        return WarnCount(len(active.warns), active.limit)

    async def warns(self, chat_id: int, user_id: int) -> ActiveWarns:
        """The member's active warns and the chat's limit."""
        warns = await self.repo.active_warns(chat_id, user_id, self.now())
        return ActiveWarns(warns, (await self.repo.settings(chat_id)).warn_limit)

    async def reset_warns(self, chat_id: int, target: Target, actor: Actor) -> int:
        """How many active warns were cleared; none: nothing happened, nothing is logged."""
        now = self.now()
        active = len(await self.repo.active_warns(chat_id, target.id, now))
        if not active:
            return 0
        await self.repo.reset_warns(chat_id, target.id, now)
        await self.record(chat_id, actor, target, AuditAction.RESETWARNS)
        return active

    async def purge(
        self, chat_id: int, first: int, last: int, actor: Actor, topic: Topic | None = None
    ) -> Purged:
        """/purge: the messages from `first` up to the command `last`, at most PURGE_LIMIT of
        the latest, then one audit row. Raises ModerationError when Telegram refused every
        message (nothing was deleted).

        In a forum (`topic`) ids run across every topic, so the range alone would take other
        topics' messages with it: only messages the bot knows to be in the command's topic go
        (`topic_messages`, noted as they came and as the bot sent them), the command included;
        a message whose topic it never learned stays."""
        if await self._may_delete(chat_id) is False:
            # Telegram would delete the bot's own messages in the range and refuse the rest
            # as if they were too old: the moderator is told what is really missing
            raise ModerationError(Problem.NO_RIGHTS)
        lowest = max(first, last - PURGE_LIMIT + 1)
        if topic is None:
            ids = list(range(lowest, last + 1))
        else:
            await self.flush_topic_notes()  # this worker's latest messages are in the range
            known = await self.repo.topic_message_ids(chat_id, topic.thread_id, lowest, last)
            ids = sorted({*known, last})
        purged, refusal = await self.delete_many(chat_id, ids)
        if not purged.deleted and refusal is not None:
            raise await self._deletion_refusal(chat_id, refusal)
        purged = replace(purged, exact=topic is not None)
        if topic is not None:
            await self.repo.forget_topic_messages(chat_id, ids)
        details: dict[str, Any] = {"from": first, "to": last, "count": purged.messages}
        if not purged.exact:
            details["at_most"] = True  # ids Telegram skipped (already gone) are in the count
        if topic is not None:
            details["topic"] = topic.thread_id or 1
        await self._record(chat_id, actor, None, AuditAction.PURGE, details=details)
        return purged

    async def note_topic_message(
        self, chat_id: int, message_id: int, thread_id: int | None
    ) -> None:
        """A message of a forum and its topic (None: General), for /purge in a topic.

        Held in memory and written in batches (`flush_topic_notes`, every few seconds and
        before a purge reads them): a database round trip for every forum message halved the
        pipeline's rate (`bench/pipeline.py --forum 8`)."""
        self._topic_notes[(chat_id, message_id)] = (thread_id, self.now())
        if len(self._topic_notes) >= TOPIC_NOTES_BATCH:
            await self.flush_topic_notes()

    async def flush_topic_notes(self) -> None:
        """Writes the topics noted since the last flush; on a database error they wait for the
        next one (a later note of the same message wins)."""
        if not self._topic_notes:
            return
        notes, self._topic_notes = self._topic_notes, {}
        try:
            await self.repo.note_topic_messages(
                [(chat, message, topic, seen) for (chat, message), (topic, seen) in notes.items()]
            )
        except Exception:
            for key, value in notes.items():
                self._topic_notes.setdefault(key, value)
            logger.exception("could not write %d forum topics; will retry", len(notes))

    async def prune_topic_messages(self) -> None:
        """Topics of messages older than a bot may delete are of no more use."""
        await self.repo.prune_topic_messages(self.now() - TOPIC_MEMORY_SECONDS)

    async def delete_many(
        self, chat_id: int, message_ids: list[int]
    ) -> tuple[Purged, TelegramAPIError | None]:
        """In chunks of 100 (deleteMessages' limit). Telegram refuses a whole call for one
        message it may not delete (older than 48 hours, a topic's creation): such a chunk is
        halved until only those messages are left, so one old message in the range no longer
        saves the spam after it. Within PURGE_CALLS calls, so a chat where nothing may go
        (no right to delete) costs a few dozen calls, not hundreds. Returns how many ids were
        in the accepted calls, how many were refused alone, and the last refusal."""
        deleted, kept, refusal = 0, 0, None
        pending = [message_ids[start : start + 100] for start in range(0, len(message_ids), 100)]
        for _call in range(PURGE_CALLS):
            if not pending:
                break
            chunk = pending.pop(0)
            try:
                await self.bot.delete_messages(chat_id, chunk)
                deleted += len(chunk)
            except TelegramAPIError as exc:
                logger.info("purge of %d messages refused in %s: %s", len(chunk), chat_id, exc)
                refusal = exc
                if len(chunk) == 1:
                    kept += 1
                elif "can't be deleted" in exc.message:
                    middle = len(chunk) // 2
                    pending[:0] = [chunk[:middle], chunk[middle:]]
        return Purged(deleted, kept), refusal

    # --- chat settings, blocklist, audit rows for the moderator commands -------------------

    async def chat_settings(self, chat_id: int) -> ChatModSettings:
        return await self.repo.settings(chat_id)

    async def update_settings(self, chat_id: int, **values: Any) -> ChatModSettings:
        return await self.repo.update_settings(chat_id, **values)

    async def toggle(
        self, chat_id: int, key: SettingKey, seen: str | None = None
    ) -> tuple[ChatModSettings, bool]:
        """One tap on a /settings button: a rule's next mode, or a switch flipped; and whether
        it changed anything. With `seen` (what the tapped panel showed), a setting that no
        longer shows so stays: the tap was the second of a double tap, or its panel was out
        of date."""
        async with self._taps:  # one after the other (taps are rare): the second sees
            current = await self.repo.settings(chat_id)  # what the first wrote
            if seen is not None and shown_value(current, key) != seen:
                return current, False
            return await self.repo.update_settings(chat_id, **toggled(current, key)), True

    async def add_filter(self, chat_id: int, pattern: str, is_regex: bool, actor: Actor) -> bool:
        """False when the pattern was in the blocklist already."""
        added = await self.repo.add_filter(chat_id, pattern, is_regex, actor.id, self.now())
        self.forget_blocklist(chat_id)
        return added

    async def remove_filter(self, chat_id: int, pattern: str, is_regex: bool) -> bool:
        removed = await self.repo.remove_filter(chat_id, pattern, is_regex)
        self.forget_blocklist(chat_id)
        return removed

    async def filters(self, chat_id: int) -> list[Filter]:
        return await self.repo.filters(chat_id)

    async def action(self, action_id: int, chat_id: int | None = None) -> ModAction | None:
        """An audit row; with `chat_id`, only one of that chat's."""
        action = await self.repo.action(action_id)
        if action is None or (chat_id is not None and action.chat_id != chat_id):
            return None
        return action

    async def recent_actions(self, chat_id: int, limit: int) -> list[ModAction]:
        return await self.repo.recent_actions(chat_id, limit)

    async def report_recipients(
        self, chat_id: int, admin_ids: Callable[[], Awaitable[Iterable[int]]]
    ) -> ReportRecipients:
        """Who hears of a member's report: the log chat, else every admin but the bot (the
        admin list is only asked for then)."""
        log_chat = await self.log_chat_for(chat_id)
        admins = () if log_chat else await admin_ids()
        return report_recipients(log_chat, admins, self.settings.bot_id)

    async def score(self, features: MessageFeatures) -> SpamVerdict:
        """Every signal, the semantic one included when the model is there and trained."""
        semantic = await self.semantic.evidence(features.text or "")
        return self.scorer.score(features, semantic, self.semantic.fusion)

    async def learn(self, text: str, is_spam: bool, actor: Actor) -> None:
        if not text.strip():
            return
        self.scorer.bayes.learn(text, is_spam)
        await self.repo.add_lesson(text, is_spam, actor.id, self.now())
        await self.semantic.learn(text, is_spam)

    async def load_lessons(self, bayes: NaiveBayes) -> list[tuple[str, bool]]:
        lessons = await self.repo.lessons()
        for text, is_spam in lessons:
            bayes.learn(text, is_spam)
        return list(lessons)

    # --- undo ----------------------------------------------------------------------------

    async def undo(self, action: ModAction, by: Actor) -> UndoOutcome:
        """Reverse an action as far as Telegram allows; returns what was done.

        The undo is claimed in the database before Telegram is asked, so a double tap on Undo
        (or two admins, or two workers) reverses and records it once; the claim is given back
        when Telegram refuses."""
        if action.undone_at is not None:
            return UndoOutcome.ALREADY
        if action.action not in UNDOABLE | {AuditAction.KICK, AuditAction.DETECT}:
            return UndoOutcome.UNSUPPORTED
        if not await self.repo.mark_undone(action.id, by.id, self.now(), by.name):
            return UndoOutcome.ALREADY
        try:
            result = await self._reverse(action, by)
        except BaseException:
            await self.repo.clear_undone(action.id)
            raise
        if action.rule in SPAM_RULES and action.message_text:
            await self.learn(action.message_text, False, by)
        await self._mark_log_undone(action.id)
        return result

    async def _reverse(self, action: ModAction, by: Actor) -> UndoOutcome:
        target = Target(action.target_id or 0, action.target_name or "", action.target_is_chat)
        chat_id = action.chat_id
        if action.action == AuditAction.BAN or (
            action.action == AuditAction.SPAM and action.target_id
        ):
            try:
                await self.unban(chat_id, target, by)
            except ModerationError as exc:  # the ban ended or was lifted meanwhile: undone
                if exc.kind is not Problem.NOT_BANNED:
                    raise
        elif action.action == AuditAction.MUTE:
            try:
                await self.unmute(chat_id, target, by)
            except ModerationError as exc:  # the mute ended or was lifted meanwhile: undone
                if exc.kind is not Problem.NOT_MUTED:
                    raise
        elif action.action == AuditAction.WARN:
            warn_id = (action.details or {}).get("warn_id")
            if warn_id:
                await self.repo.remove_warn(int(warn_id), self.now())
        elif action.action == AuditAction.APPROVE:
            await self.repo.unapprove(chat_id, target.id)
            self._approved.invalidate(chat_id)
        else:  # a deleted message cannot come back; a kicked member may rejoin
            return UndoOutcome.PARTIAL
        return UndoOutcome.DONE

    async def not_spam(self, action: ModAction, by: Actor) -> UndoOutcome:
        """/notspam #id: undo the action, and learn its message as not spam exactly once (undoing
        a spam rule's action has learned it already; an action undone before, or one that cannot
        be undone, teaches nothing)."""
        outcome = await self.undo(action, by)
        undone = outcome in {UndoOutcome.DONE, UndoOutcome.PARTIAL}
        if undone and action.message_text and action.rule not in SPAM_RULES:
            await self.learn(action.message_text, False, by)
        return outcome

    async def _mark_log_undone(self, action_id: int) -> None:
        """Show the undo on the posted log entry. An entry still waiting in the outbox needs
        nothing: it is rendered from the audit row when it is posted."""
        fresh = await self.repo.action(action_id)
        if fresh is None or not fresh.log_chat_id or not fresh.log_message_id:
            return
        locale = await self.log_locale(fresh.chat_id, fresh.log_chat_id)
        try:
            await self.bot.edit_message_text(
                text=self.render_log_entry(fresh, locale),
                chat_id=fresh.log_chat_id,
                message_id=fresh.log_message_id,
                reply_markup=self.log_keyboard(fresh, locale),
            )
        except TelegramAPIError as exc:
            logger.info("could not update log entry %s: %s", action_id, exc)

    # --- audit log -----------------------------------------------------------------------

    async def _record(
        self,
        chat_id: int,
        actor: Actor,
        target: Target | None,
        action: AuditAction,
        reason: str | None = None,
        *,
        rule: str | None = None,
        score: float | None = None,
        details: dict[str, Any] | None = None,
        details_extra: dict[str, Any] | None = None,
        message_id: int | None = None,
        message_text: str | None = None,
        expires_at: int | None = None,
        duration: timedelta | None = None,
        post: bool = True,
    ) -> int:
        merged = {**(details or {}), **(details_extra or {})}
        if duration is not None:
            merged["duration"] = format_duration(duration)
        log_chat = await self.log_chat_for(chat_id) if post else None
        row = {
            "chat_id": chat_id,
            "actor_id": actor.id,
            "actor_name": actor.name,
            "target_id": target.id if target else None,
            "target_name": target.name if target else None,
            "target_is_chat": int(bool(target and target.is_chat)),
            "action": action,
            "reason": reason,
            "rule": rule,
            "score": score,
            "details": merged or None,
            "message_id": message_id,
            "message_text": (message_text or None) and message_text[:2000],
            "created_at": self.now(),
            "expires_at": expires_at,
        }
        # one lock around both writes: the outbox then holds entries in the order of their
        # action numbers, and the log chat shows them that way
        async with self._log_order:
            action_id = await self.repo.record_action(**row)
            if log_chat is not None:
                await self.outbox.add_action(log_chat, action_id)
        return action_id

    async def record(
        self,
        chat_id: int,
        actor: Actor,
        target: Target | None,
        action: AuditAction,
        reason: str | None = None,
        **audit: Any,
    ) -> int:
        return await self._record(chat_id, actor, target, action, reason, **audit)

    async def log_chat_for(self, chat_id: int) -> int | None:
        settings = await self.repo.settings(chat_id)
        return settings.log_chat_id or self.settings.log_chat_id

    async def log_locale(self, chat_id: int, log_chat_id: int | None = None) -> str:
        """The language of `chat_id`'s entries and reports in its log chat: the log chat's own
        languages (/setlanguages there: its readers chose them), else the moderated chat's,
        whose admins read the log, else DEFAULT_LANGUAGE."""
        log_chat = log_chat_id if log_chat_id is not None else await self.log_chat_for(chat_id)
        candidates: list[str] = []
        if log_chat:
            candidates += (await self.repo.settings(log_chat)).language_list
        candidates += (await self.repo.settings(chat_id)).language_list
        return pick_language(candidates, self.settings.languages, self.settings.default_language)

    def log_keyboard(
        self, action: ModAction, locale: str, undone: bool = False
    ) -> InlineKeyboardMarkup:
        builder = InlineKeyboardBuilder()
        if not undone and action.undone_at is None and has_undo_button(action):
            builder.button(
                text=self.i18n.gettext("↩️ Undo", locale=locale),
                callback_data=ModCallback(op=LogAction.UNDO, action_id=action.id),
            )
        builder.button(
            text=self.i18n.gettext("🔎 Details", locale=locale),
            callback_data=ModCallback(op=LogAction.DETAILS, action_id=action.id),
        )
        return builder.as_markup()

    def render_log(self, action: ModAction, locale: str) -> str:
        gettext = self.i18n.gettext
        lines = [
            f"<b>{html.escape(action_label(self.i18n, action.action, locale))}</b> · "
            f"<code>{action.chat_id}</code> · #{action.id}"
        ]
        if action.target_id is not None:
            target = Target(
                action.target_id, action.target_name or str(action.target_id), action.target_is_chat
            )
            lines.append(
                gettext("Member: {name} ({id})", locale=locale).format(
                    name=target.mention, id=action.target_id
                )
            )
        by = html.escape(action.actor_name or "Steward")
        if action.rule:
            lines.append(
                gettext("By: {actor}, rule {rule}", locale=locale).format(
                    actor=by, rule=html.escape(rule_label(self.i18n, action.rule, locale))
                )
                + (f" ({action.score:.2f})" if action.score is not None else "")
            )
        else:
            lines.append(gettext("By: {actor}", locale=locale).format(actor=by))
        if action.reason:
            reason = reason_label(self.i18n, action.reason, locale)
            lines.append(
                gettext("Reason: {reason}", locale=locale).format(reason=html.escape(reason))
            )
        if action.details and action.details.get("duration"):
            lines.append(
                gettext("For: {duration}", locale=locale).format(
                    duration=action.details["duration"]
                )
            )
        if action.message_text:
            lines.append(
                gettext("Message: {text}", locale=locale).format(
                    text=f"<i>{html.escape(action.message_text[:300])}</i>"
                )
            )
        return "\n".join(lines)

    async def details(self, action: ModAction) -> str:
        """What Details under a log entry shows, in the entry's language."""
        return render_details(self.i18n, action, await self.log_locale(action.chat_id))

    def render_log_entry(self, action: ModAction, locale: str) -> str:
        """The log entry as it stands now: an undone action says by whom."""
        text = self.render_log(action, locale)
        if action.undone_at is not None:
            text += "\n" + html.escape(
                self.i18n.gettext("↩️ Undone by {name}", locale=locale).format(
                    name=action.undone_by_name or "?"
                )
            )
        return text

    async def queue_report(
        self, log_chat: int, text: str, markup: InlineKeyboardMarkup | None, locale: str
    ) -> None:
        """A member's report goes through the same outbox, ahead of plain log entries, so the
        reporter's confirmation does not wait for the log chat either."""
        await self.outbox.add_report(log_chat, text, markup, locale)

    # --- the outbox's renderer -----------------------------------------------------------

    async def render_entry(self, entry: OutboxEntry) -> Rendered | None:
        if entry.kind is OutboxKind.REPORT:
            payload = entry.payload or {}
            markup = payload.get("markup")
            text = str(payload.get("text") or "")
            rendered = Rendered(
                text, InlineKeyboardMarkup.model_validate(markup) if markup else None
            )
            locale = str(payload.get("locale") or self.settings.default_language)
        else:
            action = await self.repo.action(entry.action_id or 0)
            if action is None:
                return None
            locale = await self.log_locale(action.chat_id, entry.chat_id)
            rendered = Rendered(
                self.render_log_entry(action, locale),
                self.log_keyboard(action, locale),
                undone=action.undone_at is not None,
            )
        if entry.interrupted:
            note = self.i18n.gettext(
                "♻️ Posted again after a restart: an earlier copy may exist.",
                locale=locale,
            )
            rendered = Rendered(
                f"{rendered.text}\n<i>{html.escape(note)}</i>", rendered.markup, rendered.undone
            )
        return rendered

    async def entry_posted(self, entry: OutboxEntry, rendered: Rendered, message_id: int) -> None:
        if entry.kind is not OutboxKind.ACTION or entry.action_id is None:
            return
        await self.repo.set_log_message(entry.action_id, entry.chat_id, message_id)
        if not rendered.undone:
            fresh = await self.repo.action(entry.action_id)
            if fresh is not None and fresh.undone_at is not None:
                await self._mark_log_undone(fresh.id)  # undone while the request was out


UNDOABLE = frozenset(
    {
        AuditAction.BAN,
        AuditAction.MUTE,
        AuditAction.WARN,
        AuditAction.APPROVE,
        AuditAction.SPAM,
        AuditAction.DELETE,
    }
)
PURGE_LIMIT = 1000  # messages one /purge reaches back
TOPIC_MEMORY_SECONDS = 49 * 3600  # a bot may delete messages younger than 48 hours
TOPIC_NOTES_BATCH = 500  # forum messages' topics held in memory before they are written
TOPIC_NOTES_FLUSH_SECONDS = 2  # and at the latest after this long
PURGE_CALLS = 40  # deleteMessages calls one /purge may make, halving refused chunks included


def has_undo_button(action: ModAction) -> bool:
    """Whether Undo under the log entry would do anything. A deleted message cannot come back:
    Undo of a deletion only teaches the spam filter, so it is offered where the filter judged
    the message (a spam rule's deletion), not under a /del or a blocklist deletion, where it
    answered "undone" and marked the entry undone for nothing. /notspam still takes any."""
    if action.action == AuditAction.DELETE:
        return action.rule in SPAM_RULES
    return action.action in UNDOABLE


def undo_right(action: str) -> AdminRight | None:
    """What an admin must hold to undo this action: lifting a ban or a mute, or taking back the
    warn towards one, is what /unban, /unmute and /unwarn ask the right to ban for."""
    if action in {AuditAction.BAN, AuditAction.SPAM, AuditAction.MUTE, AuditAction.WARN}:
        return AdminRight.RESTRICT
    return None


SPAM_RULES = frozenset({"spam", "manual_spam"})  # rules whose message was learned as spam


def action_label(i18n: I18n, action: str, locale: str) -> str:
    labels: dict[str, str] = {
        AuditAction.WARN: N_("⚠️ Warn"),
        AuditAction.UNWARN: N_("➖ Warn removed"),
        AuditAction.RESETWARNS: N_("🧽 Warns cleared"),
        AuditAction.MUTE: N_("🔇 Mute"),
        AuditAction.UNMUTE: N_("🔊 Unmute"),
        AuditAction.BAN: N_("🔨 Ban"),
        AuditAction.UNBAN: N_("🕊 Unban"),
        AuditAction.KICK: N_("👢 Kick"),
        AuditAction.DELETE: N_("🗑 Delete"),
        AuditAction.SPAM: N_("🚫 Spam"),
        AuditAction.APPROVE: N_("✅ Approve"),
        AuditAction.UNAPPROVE: N_("➖ Unapprove"),
        AuditAction.DETECT: N_("👀 Detected"),
        AuditAction.PURGE: N_("🧹 Purge"),
        AuditAction.CAPTCHA_KICK: N_("🤖 Captcha failed"),
    }
    return i18n.gettext(labels.get(action, action), locale=locale)


def rule_label(i18n: I18n, rule: str, locale: str) -> str:
    """An automatic rule's name as the log reads it (`mod_actions.rule` holds identifiers)."""
    labels: dict[str, str] = {
        "spam": N_("spam"),
        "manual_spam": N_("/spam"),
        "flood": N_("flood"),
        "blocklist": N_("blocklist"),
        "language": N_("language"),
        "captcha": N_("captcha"),
        "warn_limit": N_("warn limit"),
    }
    return i18n.gettext(labels[rule], locale=locale) if rule in labels else rule


SIGNAL_LABELS: dict[str, str] = {
    "links": N_("Links"),
    "invite_links": N_("Invite links"),
    "mentions": N_("@mentions"),
    "channel_forward": N_("Forwarded from a channel"),
    "buttons": N_("Buttons"),
    "emoji_flood": N_("Emoji flood"),
    "caps_flood": N_("Capitals"),
    "homoglyphs": N_("Look-alike letters"),
    "stop_phrases": N_("Stop phrases"),
    "bayes": N_("Word statistics"),
    "semantic": N_("Meaning"),
    "neighbours": N_("Similar samples"),
    "lesson": N_("Moderator's lesson"),
    "bias": N_("Baseline"),
}
DETAILS_LIMIT = ALERT_LIMIT  # Telegram's limit for a callback answer's text


def render_details(i18n: I18n, action: ModAction, locale: str) -> str:
    """Details: the action, the score and each signal's share, largest first, named for a
    moderator (the scorer's identifiers mean nothing to one), cut to what an alert holds.
    Identifiers for the bot's own use (a warn's row id, a purge's id range) are left out."""

    def gettext(text: str) -> str:
        return i18n.gettext(text, locale=locale)

    details = action.details or {}
    head = f"#{action.id} {action_label(i18n, action.action, locale)}"
    if action.rule:
        head += f" · {rule_label(i18n, action.rule, locale)}"
    lines = [head]
    if action.score is not None:
        lines.append(gettext("Score: {score}").format(score=f"{action.score:.2f}"))
    if details.get("filter"):
        lines.append(gettext("Filter: {filter}").format(filter=details["filter"]))
    if details.get("language"):
        lines.append(gettext("Language: {language}").format(language=details["language"]))
    if details.get("duration"):
        lines.append(gettext("For: {duration}").format(duration=details["duration"]))
    if details.get("count") is not None and action.action == AuditAction.PURGE:
        if details.get("at_most"):
            lines.append(gettext("Deleted: up to {count}").format(count=details["count"]))
        else:
            lines.append(gettext("Deleted: {count}").format(count=details["count"]))
    shares: dict[str, float] = {}
    for name, value in (details.get("signals") or {}).items():
        label = gettext(SIGNAL_LABELS[name]) if name in SIGNAL_LABELS else gettext("Other")
        shares[label] = shares.get(label, 0.0) + float(value)
    ranked = sorted(shares.items(), key=lambda item: -abs(item[1]))
    lines += [f"{label} {value:+.2f}" for label, value in ranked if round(value, 2)]
    text = lines[0]
    for line in lines[1:]:
        if utf16_length(text) + 1 + utf16_length(line) > DETAILS_LIMIT:
            break
        text += "\n" + line
    return cut_to(text, DETAILS_LIMIT)


_WARN_LIMIT_REASON = re.compile(r"(\d+)/(\d+) warns")


def reason_label(i18n: I18n, reason: str, locale: str) -> str:
    """A reason as readers of `locale` read it. A moderator's words stay as typed; the few
    Steward writes itself (a report's buttons, the flood rule, the warn limit) are stored as
    fixed English words and translated here, so older rows read right too."""
    words: dict[str, str] = {
        "report": N_("report"),
        "flood": N_("flood"),
        NO_RIGHTS_REASON: N_(
            "I lack the admin rights to act: let me delete messages and ban users here"
        ),
        CAPTCHA_SUPERGROUP_REASON: N_(
            "not held by the captcha: Telegram lets bots restrict newcomers only in supergroups"
        ),
        SUPERGROUP_REASON: N_(
            "not muted: Telegram lets bots mute only in supergroups; their messages are "
            "deleted instead"
        ),
    }
    if reason in words:
        return i18n.gettext(words[reason], locale=locale)
    limit = _WARN_LIMIT_REASON.fullmatch(reason)
    if limit:
        return i18n.gettext("warns: {count}/{limit}", locale=locale).format(
            count=limit.group(1), limit=limit.group(2)
        )
    return reason
