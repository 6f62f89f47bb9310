"""Dispatcher middlewares shared by every feature.

- `AdmittingDispatcher` lets a burst of updates in over several loop iterations
  (`bot.admission`), and `InFlightMiddleware` counts running updates so shutdown can wait for
  them to finish.
- `CampaignMiddleware` counts the joins and leaves campaigns are measured by, before anything
  else handles them.
- `SeenMiddleware` remembers users and chats (who started the bot, which groups it is in),
  writing only when something changed so the hot path stays cheap.
- `IncomingMessageMiddleware` hides the "reply" to a forum topic's first message that Telegram
  puts on every topic message, so `reply_to_message` means a real reply everywhere, and follows
  a basic group upgraded to a supergroup.
- `RoleMiddleware` enforces each handler's `role` and `chat` flags and answers a refusal, so
  handlers never start with an `if not admin` ladder.
- `StaleWaits` ends a manager's typed-answer question (`bot.waits`) that waited too long, so
  the message is taken as a new one.
- `MenuButtonMiddleware` gives a manager the calendar menu button once Telegram lets it: after
  their private message (or unblocking the bot), when the button is not current yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.flags import get_flag
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatJoinRequest,
    ChatMemberUpdated,
    Message,
    TelegramObject,
    Update,
    User,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.admission import checkpoint
from bot.campaigns.service import CampaignService
from bot.chat_migration import ChatMigrations
from bot.clock import Clock
from bot.commands import ManagerMenus, Where
from bot.filters import group_member_message
from bot.i18n import pick_language
from bot.inflight import InFlight
from bot.membership import is_member
from bot.miniapp.menu import MenuButtons
from bot.roles import (
    ADMIN_STATUSES,
    AdminRight,
    Requirement,
    Roles,
    RoleService,
    admin_rights,
    right_refusal,
)
from bot.topics import replies_to_topic_root
from bot.waits import ASKED_AT, WAIT_SECONDS
from storage.chats import ChatRepository, UserRepository

logger = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class LeftoverGroupMessages(BaseMiddleware):
    """An outer message middleware for after the routers: a member's group message that no
    handler took reaches `leftover` (the FAQ stage, the reputation watch); anything else, and
    what a handler took, passes by untouched."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        if result is UNHANDLED and isinstance(event, Message) and await self.wants(event):
            await self.leftover(event, data)
        return result

    async def wants(self, message: Message) -> bool:
        """Which leftover messages reach `leftover`: by default a person's group message."""
        return await group_member_message(message)

    async def leftover(self, message: Message, data: dict[str, Any]) -> None:
        raise NotImplementedError


class CampaignMiddleware(BaseMiddleware):
    """Outer middleware on every update: attributes joins, closes stays on leaves and
    remembers join requests, then lets the update go on (captcha, statistics).

    It sits on the update itself, before any middleware that waits on the database, and
    records under one lock: aiogram handles updates as concurrent tasks, and a join and the
    leave right after it (same getUpdates batch) must be recorded in the order Telegram sent
    them. Tasks start in update order and the lock is FIFO, so they are."""

    def __init__(self, campaigns: CampaignService) -> None:
        self.campaigns = campaigns
        self._lock = asyncio.Lock()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update) and (event.chat_member or event.chat_join_request):
            async with self._lock:
                try:
                    if event.chat_member is not None:
                        await self._member(event.chat_member)
                    elif event.chat_join_request is not None:
                        await self._request(event.chat_join_request)
                except Exception:  # counting must never cost a newcomer their captcha
                    logger.exception("campaigns: could not record update %s", event.update_id)
        return await handler(event, data)

    async def _request(self, event: ChatJoinRequest) -> None:
        link = event.invite_link
        await self.campaigns.join_requested(
            event.chat.id,
            event.from_user.id,
            link.invite_link if link else None,
            link.name if link else None,
            int(event.date.timestamp()),
        )

    async def _member(self, event: ChatMemberUpdated) -> None:
        old, new = event.old_chat_member, event.new_chat_member
        if new.user.is_bot:
            return
        link = event.invite_link
        await self.campaigns.member_changed(
            event.chat.id,
            new.user.id,
            is_member(old.status, getattr(old, "is_member", None)),
            is_member(new.status, getattr(new, "is_member", None)),
            link.invite_link if link else None,
            link.name if link else None,
            int(event.date.timestamp()),
        )


class InFlightMiddleware(BaseMiddleware):
    """Outer update middleware: lets shutdown drain handlers instead of cutting them off."""

    def __init__(self) -> None:
        self._work = InFlight("update(s)")

    @property
    def running(self) -> int:
        return self._work.running

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self._work.track():
            return await handler(event, data)

    async def drain(self, timeout: float) -> bool:
        """Wait until no update is being handled; False if the timeout passed first."""
        return await self._work.drain(timeout)


class AdmittingDispatcher(Dispatcher):
    """A Dispatcher that admits an update only when the loop iteration has room for it.

    Polling makes a task per update and a webhook a request per update; in a burst they all
    take their first step in one loop iteration, and that step (aiogram re-mounting the update
    on the bot, the outer middlewares up to the first database read) is 0.1-0.2 ms each: 200 of
    them stalled the loop for 35 ms. Admission happens before any of it (`bot.admission`); an
    update arriving while none runs goes on at once."""

    def __init__(self, *args: Any, in_flight: InFlightMiddleware, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = in_flight

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        if self.in_flight.running:
            await checkpoint()
        return await super().feed_update(bot, update, **kwargs)


# What a user or chat row was last written with: (username, first name, language) or
# (type, title, username).
_Written = tuple[str | None, str | None, str | None]


class SeenMiddleware(BaseMiddleware):
    """Keeps the users and chats tables current; caches what it wrote to skip repeat writes."""

    def __init__(self, users: UserRepository, chats: ChatRepository, cache_size: int = 50_000):
        self.users = users
        self.chats = chats
        self.cache_size = cache_size
        self._seen_users: dict[int, _Written] = {}
        self._seen_chats: dict[int, _Written] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is not None and not user.is_bot:
            key: _Written = (user.username, user.first_name, user.language_code)
            if self._seen_users.get(user.id) != key:
                await self.users.upsert_user(
                    user.id, user.username, user.first_name, user.language_code
                )
                self._remember(self._seen_users, user.id, key)
        if chat is not None:
            key = (chat.type, chat.title, chat.username)
            if self._seen_chats.get(chat.id) != key:
                await self.chats.upsert_chat(chat.id, chat.type, chat.title, chat.username)
                self._remember(self._seen_chats, chat.id, key)
        return await handler(event, data)

    def _remember(self, cache: dict[int, _Written], key: int, value: _Written) -> None:
        if len(cache) >= self.cache_size:
            cache.clear()  # bounded memory; the next write per id simply repeats
        cache[key] = value


class IncomingMessageMiddleware(BaseMiddleware):
    """Outer middleware on messages and edits, first of all: two Telegram quirks that every later
    layer would otherwise trip over, handled in one pass (each outer middleware costs every
    group message a few microseconds; see bench/pipeline.py).

    - Forum topics: a message that replies to nobody arrives as a reply to the topic's creation
      message. Left as it is, /warn would target whoever opened the topic, /faq_add would take
      the service message as its answer and no question in a topic would reach the FAQ (replies
      between members are skipped). The topic itself stays known from `message_thread_id`.
    - Group upgrades: the service messages (`migrate_to_chat_id` in the old chat,
      `migrate_from_chat_id` in the new) move the group's rows and go no further. An update from
      the old chat that was still on its way is handled as usual, then whatever it wrote under
      the old id follows too.
    """

    def __init__(self, migrations: ChatMigrations) -> None:
        self.migrations = migrations

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Message):
            return await handler(event, data)
        if event.migrate_to_chat_id:
            await self.migrations.migrate(event.chat.id, event.migrate_to_chat_id)
            return None
        if event.migrate_from_chat_id:
            await self.migrations.migrate(event.migrate_from_chat_id, event.chat.id)
            return None
        if replies_to_topic_root(event):
            event = event.model_copy(update={"reply_to_message": None})
        new = self.migrations.new_id_of(event.chat.id)
        if new is None:
            return await handler(event, data)
        try:
            return await handler(event, data)
        finally:
            await self.migrations.migrate(event.chat.id, new)


ENDED_MEANWHILE = -1  # StaleWaits: another part of the same album ended the question


class StaleWaits(BaseMiddleware):
    """Ends a question asked more than WAIT_SECONDS ago before the message's handler is chosen
    (an outer middleware on messages: aiogram's FSM middleware has read the state already), so
    the message is taken as it would be with nothing asked, a new post to compose, and the
    manager is told why. A question asked before questions had an age (an upgrade) counts from
    the first message that meets it."""

    def __init__(self, clock: Clock, seconds: int = WAIT_SECONDS) -> None:
        self.clock = clock
        self.seconds = seconds
        # the question each dialogue was last told ended (its asked_at): an album's parts are
        # handled concurrently and each meets the ended question, but one note is enough
        self._told: dict[tuple[int, int | None], int] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        state = data.get("state")
        if data.get("raw_state") is None or not isinstance(state, FSMContext):
            return await handler(event, data)  # nothing asked: the usual case, no read
        asked = await self.ended(state)
        if asked is None:
            return await handler(event, data)
        data["raw_state"] = None
        key = (state.key.chat_id, state.key.user_id)
        tell = asked != ENDED_MEANWHILE and self._told.get(key) != asked
        if len(self._told) > 1000:
            self._told.clear()
        self._told[key] = asked
        # after the handler: an album's part must reach the album collector without waiting
        # for a message of its own to go out first
        result = await handler(event, data)
        if tell and isinstance(event, Message) and not (event.text or "").startswith("/"):
            await event.reply(stale_text(self.seconds))
        return result

    async def ended(self, state: FSMContext) -> int | None:
        """When the question was asked, if it is too old and now ended (ENDED_MEANWHILE if
        another part of the same album ended it); None while it still waits."""
        now = int(self.clock())
        asked = (await state.get_data()).get(ASKED_AT)
        if asked is None and await state.get_state() is None:
            return ENDED_MEANWHILE
        if not isinstance(asked, int):
            await state.update_data({ASKED_AT: now})
            return None
        if now - asked < self.seconds:
            return None
        await state.clear()
        return asked


def stale_text(seconds: int) -> str:
    hours = seconds // 3600
    return ngettext(
        "I no longer wait for the answer I asked you for: that was more than {hours} hour "
        "ago. This message is taken as a new one.",
        "I no longer wait for the answer I asked you for: that was more than {hours} hours "
        "ago. This message is taken as a new one.",
        hours,
    ).format(hours=hours)


def role_refusal(requirement: Requirement, chat_type: str) -> str:
    if requirement is Requirement.ADMIN:
        return _("Only admins of this chat can use this command.")
    if requirement is Requirement.MANAGER:
        return _("Only Steward's managers can use this command.")
    if chat_type == "private":
        # a private chat has no admins: "admins of this chat" would point nowhere
        return _(
            "Here only Steward's managers can use this command; chat admins use it in their group."
        )
    return _("Only admins of this chat or Steward's managers can use this command.")


class RoleMiddleware(BaseMiddleware):
    """Inner middleware for messages and callback queries.

    Reads four handler flags: `role` (a `Requirement`), `chat` (a `Where`), `right` (an
    `AdminRight` the admin must hold, for a button too) and `role_by_service`: the handler's
    service decides who may (the support desk's staff: a private desk's owner too), the role
    only names them in the menus.
    Puts the sender's `Roles` in `data["roles"]` for handlers that tailor their answer.
    """

    def __init__(self, role_service: RoleService) -> None:
        self.role_service = role_service

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        requirement = Requirement(get_flag(data, "role", default=Requirement.MEMBER))
        where = Where(get_flag(data, "chat", default=Where.ANY))
        if isinstance(event, Message):
            chat_type = event.chat.type
            user_id = event.from_user.id if event.from_user and not event.sender_chat else None
            if requirement is Requirement.MANAGER and not self.role_service.is_manager(user_id):
                # the role first: sending a member to another chat would not help them
                await event.reply(role_refusal(requirement, chat_type))
                return None
            if where is Where.GROUP and chat_type not in {"group", "supergroup"}:
                await event.reply(_("This command works in groups only."))
                return None
            if where is Where.PRIVATE and chat_type != "private":
                await event.reply(_("This command works in a private chat with me."))
                return None
            roles = (
                await self.role_service.roles_for_message(event)
                if requirement is not Requirement.MEMBER or get_flag(data, "needs_roles")
                else Roles(
                    self.role_service.is_manager(event.from_user.id if event.from_user else None),
                    False,
                )
            )
            data["roles"] = roles
            if not roles.satisfies(requirement) and not get_flag(data, "role_by_service"):
                await event.reply(role_refusal(requirement, chat_type))
                return None
            right = get_flag(data, "right")
            if right is not None and not await self.role_service.message_has_right(
                event, AdminRight(right)
            ):
                await event.reply(right_refusal(AdminRight(right)))
                return None
        elif isinstance(event, CallbackQuery):
            chat_id = event.message.chat.id if event.message else None
            roles = await self.role_service.roles_for_user(chat_id, event.from_user.id)
            data["roles"] = roles
            if not roles.satisfies(requirement):
                chat_type = event.message.chat.type if event.message else "private"
                await event.answer(role_refusal(requirement, chat_type), show_alert=True)
                return None
            right = get_flag(data, "right")
            if (
                right is not None
                and chat_id is not None
                and not await self.role_service.has_right(
                    chat_id, event.from_user.id, AdminRight(right)
                )
            ):
                await event.answer(right_refusal(AdminRight(right)), show_alert=True)
                return None
        return await handler(event, data)


class RoleCacheMiddleware(BaseMiddleware):
    """Outer middleware on chat_member and my_chat_member: keeps the admin cache right as
    promotions and demotions happen, then lets the update go on to the feature routers."""

    def __init__(self, role_service: RoleService) -> None:
        self.role_service = role_service

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, ChatMemberUpdated):
            old, new = event.old_chat_member.status, event.new_chat_member.status
            if event.new_chat_member.user.id == self.role_service.settings.bot_id:
                self.role_service.invalidate(event.chat.id)
            elif old in ADMIN_STATUSES or new in ADMIN_STATUSES:  # promoted, demoted, new rights
                self.role_service.remember_status(
                    event.chat.id,
                    event.new_chat_member.user.id,
                    new,
                    admin_rights(event.new_chat_member),
                )
        return await handler(event, data)


class MenuButtonMiddleware(BaseMiddleware):
    """After a private message or a `my_chat_member` (unblocked) from someone whose menu button
    (or command menu) may be out of date: usually a manager who could not be reached at
    start-up. Runs after the
    handler, so the answer is never delayed, and never lets a failure reach the update."""

    def __init__(
        self,
        menus: MenuButtons,
        languages: tuple[str, ...],
        default: str,
        commands: ManagerMenus | None = None,
    ) -> None:
        self.menus = menus
        self.languages = languages
        self.default = default
        self.commands = commands  # a manager's command menu, missed at start-up

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or chat is None or chat.type != "private" or chat.id != user.id:
            return result
        if isinstance(event, ChatMemberUpdated) and event.new_chat_member.status != "member":
            return result  # blocked: nothing can be set now
        if self.menus.concerns(user.id):
            locale = pick_language([user.language_code], self.languages, self.default)
            try:
                await self.menus.ensure(user.id, locale)
            except Exception:
                logger.exception("menu button for %s not brought up to date", user.id)
        if self.commands is not None and user.id in self.commands.missed:
            try:
                await self.commands.ensure(user.id)
            except Exception:
                logger.exception("command menu for %s not set", user.id)
        return result


async def is_command_text(message: Message) -> bool:
    """Router-level filter: only text starting with "/" can be a command.

    aiogram runs synchronous filters (magic filters included) in a worker thread, so hot-path
    filters are written as coroutines; and a router guarded by this one cheap check skips all
    of its Command filters for ordinary chat."""
    return (message.text or "").startswith("/")


async def is_command_text_or_caption(message: Message) -> bool:
    """`is_command_text`, or a file whose caption is a command (`/quiz_add` sent with the quiz
    file, as people send a file with what to do with it)."""
    return (message.text or "").startswith("/") or (
        message.document is not None and (message.caption or "").startswith("/")
    )


async def addressed_to_bot(message: Message) -> bool:
    """Anything in a private chat with the bot; in groups a command (also one in a photo's,
    video's or file's caption: a moderator answers with a screenshot captioned "/warn spam",
    and Telegram marks the command there as in a text), or a reply calling the admins
    (`@admin`, handled like /report)."""
    if message.chat.type == "private":
        return True
    text = message.text or message.caption or ""
    return text.startswith("/") or (
        message.reply_to_message is not None and "@admin" in text.lower()
    )
