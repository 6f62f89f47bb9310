"""Automatic protection: every group message and edit is checked before any handler sees it.

`ProtectionMiddleware` is an outer middleware on the message and edited_message observers, so
it runs first for every update of those kinds, whatever router would handle it. A message it
removes never reaches the FAQ, quiz or statistics handlers. Admins, approved members, anonymous
admins and the linked channel's automatic forwards are exempt.

The middleware only translates: it gathers a message's facts, `bot.moderation.protection.
evaluate` decides, and every step of the verdict is carried out through `ModerationService`.
The join captcha is `bot.moderation.captcha`; its handlers are in `handlers.membership`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import I18n

from bot.commands import N_, without_own_command
from bot.config import Settings
from bot.middlewares import Handler
from bot.moderation.album_verdicts import NO_ALBUM, AlbumPart, AlbumVerdicts
from bot.moderation.captcha import chat_locale
from bot.moderation.durations import format_duration
from bot.moderation.flood import BasicGroupFloods, FloodTracker
from bot.moderation.language import foreign_language
from bot.moderation.problems import Problem
from bot.moderation.protection import Action, Fact, Facts, Step, evaluate
from bot.moderation.service import (
    NO_RIGHTS_REASON,
    STEWARD,
    AuditAction,
    ModerationError,
    ModerationService,
    Target,
)
from bot.moderation.spam import MessageFeatures
from bot.moderation.targets import checked_sender
from bot.roles import RoleService
from bot.topics import thread_of
from storage.moderation import ChatModSettings

logger = logging.getLogger(__name__)


def features_of(message: Message, bot_username: str | None = None) -> MessageFeatures:
    """The scorer's view of a Telegram message: text or caption plus structural signals."""
    text = message.text or message.caption or ""
    entities = (message.entities or []) + (message.caption_entities or [])
    scored = text
    first = entities[0] if entities else None  # a text's, or a caption's: never both
    if first is not None and first.type == "bot_command" and first.offset == 0:
        scored = without_own_command(text, first.length, bot_username)
    links = sum(1 for e in entities if e.type in {"url", "text_link"})
    mentions = sum(
        1
        for e in entities
        if e.type == "text_mention"
        or (
            e.type == "mention"
            and text[e.offset : e.offset + e.length].lstrip("@").lower() != (bot_username or "")
        )
    )
    origin = message.forward_origin
    return MessageFeatures(
        text=scored,
        links=links,
        mentions=mentions,
        forwarded_from_channel=origin is not None and origin.type == "channel",
        has_buttons=message.reply_markup is not None,
    )


class ProtectionMiddleware(BaseMiddleware):
    def __init__(
        self,
        moderation: ModerationService,
        role_service: RoleService,
        settings: Settings,
        i18n: I18n,
        *,
        edited: bool = False,
        flood: FloodTracker | None = None,
        albums: AlbumVerdicts | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.moderation = moderation
        self.role_service = role_service
        self.settings = settings
        self.bot_id = settings.bot_id  # parsed from the token: once, not per message
        self.i18n = i18n
        self.edited = edited
        self.flood = flood or FloodTracker()
        # (chat, member) -> until when this process muted them for flooding
        self._flood_muted: dict[tuple[int, int], float] = {}
        # (chat, member) -> until when not to try again a flood mute Telegram refused for want
        # of rights (expired entries dropped at each new one)
        self._flood_refused: dict[tuple[int, int], float] = {}
        self._flood_muting: set[tuple[int, int]] = set()  # mutes on their way
        self.basic_floods = BasicGroupFloods(clock)  # where Telegram lets no bot mute
        self.clock = clock
        # an album's parts and verdict; shared between workers (bot.cluster) when there are some
        self.albums = albums or AlbumVerdicts(clock=clock)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message) and event.chat.type in {"group", "supergroup"}:
            if event.chat.is_forum and not self.edited:
                await self._note_topic(event)
            try:
                removed = await self.check(event)
            except Exception:  # a broken check must not silence the chat
                logger.exception(
                    "protection check failed for %s/%s", event.chat.id, event.message_id
                )
                removed = False
            if removed:
                return None
        return await handler(event, data)

    async def _note_topic(self, message: Message) -> None:
        """Telegram cannot be asked a message's topic later: /purge in a topic reads it here."""
        try:
            await self.moderation.note_topic_message(
                message.chat.id, message.message_id, thread_of(message)
            )
        except Exception:  # a purge then leaves this message alone; the chat goes on
            logger.exception(
                "could not note the topic of %s/%s", message.chat.id, message.message_id
            )

    # --- facts in, verdict out ---------------------------------------------------------------

    async def check(self, message: Message) -> bool:
        """True when nothing else should answer the message: it was removed (enforced), or its
        sender was just muted for flooding (this message, or one of the burst still arriving:
        a FAQ answer or a relay to the staff right after "muted for flooding" rewards it)."""
        chat_id = message.chat.id
        target = checked_sender(message)
        if target is None or await self._exempt(chat_id, target):
            return False
        if not self.edited and self.basic_floods.deleting(chat_id, target.id):
            await self.moderation.try_delete(chat_id, message.message_id)
            return True
        chat_settings = await self.moderation.chat_settings(chat_id)
        album = await self._album_part(message)
        facts = Facts(
            text=message.text or message.caption or "",
            edited=self.edited,
            sender_is_chat=target.is_chat,
            album_spam=album.spam,
            album_part=not album.first,
        )
        while (needed := facts.next_needed(chat_settings)) is not None:
            await self._gather(needed, facts, message, target, chat_settings)
        verdict = evaluate(facts, chat_settings)
        for action in verdict.actions:
            await self._carry_out(action, message, target, chat_settings)
        if verdict.removed:
            return True
        if verdict.count_clean:
            await self.moderation.count_clean(chat_id, target.id, chat_settings.new_member_messages)
        await self._remember_album(message, spam=False)
        return verdict.silenced or self._muted_for_flood(chat_id, target.id)

    def _muted_for_flood(self, chat_id: int, user_id: int) -> bool:
        """Muted for flooding by this process, and still: the rest of the burst, sent before
        the mute took effect, gets no answer either (per process; another worker's mute is not
        seen here, and its messages are answered as before)."""
        until = self._flood_muted.get((chat_id, user_id))
        if until is None:
            return False
        if until > self.clock():
            return True
        del self._flood_muted[(chat_id, user_id)]
        return False

    async def _exempt(self, chat_id: int, target: Target) -> bool:
        """Anonymous admins, the bot, the chat's admins and approved members."""
        if target.is_chat and target.id == chat_id:
            return True  # anonymous admin
        if not target.is_chat:
            if target.id == self.bot_id:
                return True
            if await self.role_service.is_chat_admin(chat_id, target.id):
                return True
        return await self.moderation.is_approved(chat_id, target.id)

    async def _gather(
        self,
        fact: Fact,
        facts: Facts,
        message: Message,
        target: Target,
        chat_settings: ChatModSettings,
    ) -> None:
        chat_id = message.chat.id
        if fact is Fact.BLOCKLIST:
            facts.blocklist_hit = (await self.moderation.blocklist(chat_id)).match(facts.text)
        elif fact is Fact.FLOOD:
            facts.flooded = await self.flood.check(
                chat_id,
                target.id,
                self.clock(),
                chat_settings.flood_count,
                chat_settings.flood_seconds,
            )
        elif fact is Fact.SPAM:
            new = await self.moderation.is_new_member(
                chat_id, target.id, chat_settings.new_member_messages
            )
            facts.new_member = new
            if new:
                me = await message.bot.me() if message.bot is not None else None
                username = me.username if me is not None else None
                facts.spam = await self.moderation.score(features_of(message, username))
        else:
            facts.foreign = await asyncio.to_thread(
                foreign_language, facts.text, chat_settings.language_list
            )
        facts.learn(fact)

    async def _carry_out(
        self, action: Action, message: Message, target: Target, chat_settings: ChatModSettings
    ) -> None:
        chat_id = message.chat.id
        audit: dict[str, Any] = {
            "rule": action.rule,
            "details": action.details,
            "message_id": message.message_id,
            "message_text": message.text or message.caption,
        }
        if action.score is not None:
            audit["score"] = action.score
        match action.step:
            case Step.DELETE:
                await self.moderation.delete(chat_id, message.message_id)
            case Step.DETECT:
                await self.moderation.record(chat_id, STEWARD, target, AuditAction.DETECT, **audit)
            case Step.REMOVE:
                kept = await self._enforce_delete(message)
                if kept is None:
                    await self.moderation.record(
                        chat_id, STEWARD, target, AuditAction.DELETE, **audit
                    )
                else:  # the log must not say "deleted" of a message that stays
                    await self._record_refused(chat_id, target, kept, audit)
            case Step.WARN:
                try:
                    await self.moderation.warn(
                        chat_id, target, STEWARD, action.reason, rule=action.rule
                    )
                except ModerationError as exc:
                    logger.warning("blocklist warn failed: %s", exc)
            case Step.MUTE_FLOODER:
                await self._mute_flooder(message, target, chat_settings)
            case Step.PUNISH_SPAMMER:
                await self._punish_spammer(message, target, chat_settings, audit)
            case Step.LANGUAGE_NOTICE:
                await self._notice(
                    message,
                    chat_settings,
                    N_("{name}, please write in this chat's language ({languages})."),
                    name=target.mention,
                    languages=", ".join(chat_settings.language_list),
                )

    async def _notice(
        self, message: Message, chat_settings: ChatModSettings, template: str, **values: str
    ) -> None:
        """A short note in the chat, in its language; a refused one is only logged."""
        locale = chat_locale(chat_settings, self.settings)
        try:
            await message.answer(self.i18n.gettext(template, locale=locale).format(**values))
        except TelegramAPIError as exc:
            logger.info("protection notice failed: %s", exc)

    async def _album_part(self, message: Message) -> AlbumPart:
        if not message.media_group_id:
            return NO_ALBUM
        return await self.albums.seen(message.chat.id, message.media_group_id, message.message_id)

    async def _remember_album(self, message: Message, spam: bool) -> None:
        if message.media_group_id:
            await self.albums.remember(
                message.chat.id, message.media_group_id, message.message_id, spam
            )

    async def _enforce_delete(self, message: Message) -> Problem | None:
        """Delete the message and, for an album judged as one unit, its siblings; None when
        the message is gone, else why Telegram kept it."""
        kept = await self.moderation.try_delete(message.chat.id, message.message_id)
        if message.media_group_id:
            parts = await self.albums.parts(message.chat.id, message.media_group_id)
            for message_id in sorted(set(parts) - {message.message_id}):
                await self.moderation.delete(message.chat.id, message_id)
        return kept

    async def _record_refused(
        self,
        chat_id: int,
        target: Target,
        problem: Problem | None,
        audit: dict[str, Any],
    ) -> None:
        """A rule Telegram would not let the bot carry out: logged as detected, with the
        rights it lacks when that was why, so the admins learn it from the log chat."""
        reason = NO_RIGHTS_REASON if problem is Problem.NO_RIGHTS else None
        await self.moderation.record(chat_id, STEWARD, target, AuditAction.DETECT, reason, **audit)

    async def _mute_flooder(
        self, message: Message, target: Target, chat_settings: ChatModSettings
    ) -> None:
        """The member is muted (a channel identity, which cannot be, banned); the message
        itself stays."""
        duration = timedelta(seconds=chat_settings.flood_mute_seconds)
        if self.basic_floods.applies(message.chat.id):
            await self._flood_in_basic_group(message, target, chat_settings, duration)
            return
        key = (message.chat.id, target.id)
        if key in self._flood_muting or self._flood_refused.get(key, 0.0) > self.clock():
            # the rest of a burst handled while the mute is on its way, or after Telegram
            # refused it for want of rights (logged once): one mute, one entry
            return
        # noted before the call: the rest of the burst is checked while the mute is on its way
        self._flood_muted[key] = self.clock() + duration.total_seconds()
        self._flood_muting.add(key)
        try:
            if target.is_chat:
                await self.moderation.ban(
                    message.chat.id, target, STEWARD, None, "flood", rule="flood"
                )
            else:
                await self.moderation.mute(
                    message.chat.id, target, STEWARD, duration, "flood", rule="flood"
                )
        except ModerationError as exc:
            logger.warning("flood mute failed in %s: %s", message.chat.id, exc)
            if exc.kind is Problem.NO_RIGHTS:  # logged once a flood, not for each message
                now = self.clock()
                self._flood_refused = {k: t for k, t in self._flood_refused.items() if t > now}
                self._flood_refused[key] = self._flood_muted[key]
                audit = {"rule": "flood", "message_id": message.message_id}
                await self._record_refused(message.chat.id, target, exc.kind, audit)
            # not muted: the member's messages are answered as anyone's (no silent punishment)
            self._flood_muted.pop(key, None)
            return
        finally:
            self._flood_muting.discard(key)
        await self._notice(
            message,
            chat_settings,
            N_("🔇 {name} is muted for {duration} for flooding."),
            name=target.mention,
            duration=format_duration(duration),
        )

    async def _flood_in_basic_group(
        self, message: Message, target: Target, settings: ChatModSettings, duration: timedelta
    ) -> None:
        """No mute in a basic group (`BasicGroupFloods`): delete, log once, tell once."""
        chat_id, text = message.chat.id, message.text or message.caption
        when = format_duration(duration)
        tell = self.basic_floods.begin(chat_id, target.id, duration.total_seconds())
        kept = await self.moderation.try_delete(chat_id, message.message_id)
        reason, notice = self.basic_floods.outcome(chat_id, target.id, kept)
        audit = {"rule": "flood", "message_id": message.message_id, "message_text": text}
        await self.moderation.record(chat_id, STEWARD, target, AuditAction.DETECT, reason, **audit)
        if tell:
            await self._notice(message, settings, notice, name=target.mention, duration=when)

    async def _punish_spammer(
        self,
        message: Message,
        target: Target,
        chat_settings: ChatModSettings,
        audit: dict[str, Any],
    ) -> None:
        await self._remember_album(message, spam=True)
        kept = await self._enforce_delete(message)
        chat_id = message.chat.id
        try:
            if chat_settings.spam_action == "mute" and not target.is_chat:
                await self.moderation.mute(chat_id, target, STEWARD, None, "spam", **audit)
            else:
                await self.moderation.ban(chat_id, target, STEWARD, None, "spam", **audit)
        except ModerationError as exc:
            logger.warning("spam ban failed in %s: %s", chat_id, exc)
            if kept is None:
                await self.moderation.record(chat_id, STEWARD, target, AuditAction.DELETE, **audit)
            else:
                problem = Problem.NO_RIGHTS if Problem.NO_RIGHTS in (kept, exc.kind) else kept
                await self._record_refused(chat_id, target, problem, audit)
