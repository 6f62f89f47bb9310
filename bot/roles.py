"""Who may do what: managers (from MANAGER_IDS), chat admins, members.

Chat admins come from `getChatAdministrators`, cached per chat with the rights each holds, and
dropped when a `chat_member` or `my_chat_member` update says the admin list may have changed. An
admin whom the owner did not give the right to ban (or to delete messages) must not get the bot
to do it for them: such commands also name the `AdminRight` they need. A message sent on behalf
of the group itself (`sender_chat.id == chat.id`) is an anonymous admin; the placeholder user
1087968824 (GroupAnonymousBot) that Telegram puts in `from` proves nothing on its own, since a
linked channel's posts and other chats' identities arrive with it too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner, Message, ResultChatMemberUnion
from aiogram.utils.i18n import gettext as _

from bot.config import Settings

logger = logging.getLogger(__name__)

ANONYMOUS_ADMIN_BOT_ID = 1087968824
ADMIN_STATUSES = frozenset({"creator", "administrator"})


class AdminRight(StrEnum):
    """An admin right a command needs besides being an admin (the `ChatMemberAdministrator`
    field); the owner holds them all."""

    RESTRICT = "can_restrict_members"  # ban, mute, warn towards a mute or ban, approve
    DELETE = "can_delete_messages"  # delete, purge, the blocklist
    CHANGE_INFO = "can_change_info"  # the chat's own settings: rules, log, rules' modes


def right_refusal(right: AdminRight) -> str:
    """An admin the owner did not give this right: the bot must not do it for them."""
    if right is AdminRight.RESTRICT:
        return _("Only admins with the right to ban users can do this.")
    if right is AdminRight.CHANGE_INFO:
        return _("Only admins with the right to change the group info can do this.")
    return _("Only admins with the right to delete messages can do this.")


def admin_rights(member: ResultChatMemberUnion) -> frozenset[AdminRight]:
    if isinstance(member, ChatMemberOwner):
        return frozenset(AdminRight)
    if isinstance(member, ChatMemberAdministrator):
        return frozenset(r for r in AdminRight if getattr(member, r.value, False))
    return frozenset()


class Requirement(StrEnum):
    """What a command needs; handlers declare it as the `role` flag."""

    MEMBER = "member"
    ADMIN = "admin"  # admin of the chat the command is used in
    MANAGER = "manager"  # listed in MANAGER_IDS
    ADMIN_OR_MANAGER = "admin_or_manager"


@dataclass(frozen=True, slots=True)
class Roles:
    is_manager: bool
    is_admin: bool

    def satisfies(self, requirement: Requirement | str) -> bool:
        match Requirement(requirement):
            case Requirement.MEMBER:
                return True
            case Requirement.ADMIN:
                return self.is_admin
            case Requirement.MANAGER:
                return self.is_manager
            case Requirement.ADMIN_OR_MANAGER:
                return self.is_admin or self.is_manager


def is_anonymous_admin_message(message: Message) -> bool:
    """The group itself is the sender: only its admins can post so."""
    return message.sender_chat is not None and message.sender_chat.id == message.chat.id


def organiser_id(message: Message) -> int | None:
    """Whom to tell privately about what this message started (a giveaway's unreachable
    winners, a quiz Telegram stopped); None for an anonymous admin, whose `from` is the
    placeholder GroupAnonymousBot, a bot no bot can write to."""
    if is_anonymous_admin_message(message) or message.from_user is None:
        return None
    return message.from_user.id


@dataclass(slots=True)
class _CachedAdmins:
    user_ids: frozenset[int]
    expires_at: float
    rights: dict[int, frozenset[AdminRight]] = field(default_factory=dict)


class RoleService:
    def __init__(
        self,
        settings: Settings,
        bot: Bot,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.bot = bot
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[int, _CachedAdmins] = {}
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # told of every change, so other workers refetch that chat's admins (bot.cluster)
        self.on_change: Callable[[int], None] = lambda chat_id: None

    def is_manager(self, user_id: int | None) -> bool:
        return self.settings.is_manager(user_id)

    async def admin_ids(self, chat_id: int) -> frozenset[int]:
        """Admin user ids of a group, fetched once per TTL even under concurrent callers."""
        return (await self._admins(chat_id)).user_ids

    async def _admins(self, chat_id: int) -> _CachedAdmins:
        cached = self._cache.get(chat_id)
        if cached and cached.expires_at > self.clock():
            return cached
        async with self._locks[chat_id]:
            cached = self._cache.get(chat_id)
            if cached and cached.expires_at > self.clock():
                return cached
            try:
                members = await self.bot.get_chat_administrators(chat_id)
            except TelegramAPIError as exc:
                # Not a member or chat gone: nobody is an admin we can verify. Retry soon.
                logger.warning("cannot read admins of %s: %s", chat_id, exc)
                cached = _CachedAdmins(frozenset(), self.clock() + 30.0)
                self._cache[chat_id] = cached
                return cached
            admins = [
                m for m in members if isinstance(m, ChatMemberOwner | ChatMemberAdministrator)
            ]
            cached = _CachedAdmins(
                frozenset(m.user.id for m in admins),
                self.clock() + self.ttl,
                {m.user.id: admin_rights(m) for m in admins},
            )
            self._cache[chat_id] = cached
            return cached

    async def has_right(self, chat_id: int, user_id: int | None, right: AdminRight) -> bool:
        """An admin of the chat holding this right (the owner holds every one)."""
        if user_id is None or chat_id > 0:
            return False
        admins = await self._admins(chat_id)
        return user_id in admins.user_ids and right in admins.rights.get(user_id, frozenset())

    async def message_has_right(self, message: Message, right: AdminRight) -> bool:
        """As `is_message_from_admin`, with the right. Which admin posted as the group cannot be
        told, so an anonymous admin is taken to hold it (the chat's own admins chose them)."""
        if not await self.is_message_from_admin(message):
            return False
        if is_anonymous_admin_message(message) or message.from_user is None:
            return is_anonymous_admin_message(message)
        return await self.has_right(message.chat.id, message.from_user.id, right)

    def invalidate(self, chat_id: int) -> None:
        self._cache.pop(chat_id, None)
        self.on_change(chat_id)

    def forget(self, chat_id: int | None) -> None:
        """Another worker saw this chat's admins change (None: anything may have changed)."""
        if chat_id is None:
            self._cache.clear()
        else:
            self._cache.pop(chat_id, None)

    def remember_status(
        self,
        chat_id: int,
        user_id: int,
        status: str,
        rights: frozenset[AdminRight] = frozenset(),
    ) -> None:
        """Apply an admin promotion, demotion or change of rights we were told about without
        refetching."""
        self.on_change(chat_id)
        cached = self._cache.get(chat_id)
        if cached is None:
            return
        ids = set(cached.user_ids)
        if status in ADMIN_STATUSES:
            ids.add(user_id)
            cached.rights[user_id] = rights
        else:
            ids.discard(user_id)
            cached.rights.pop(user_id, None)
        cached.user_ids = frozenset(ids)

    async def is_chat_admin(self, chat_id: int, user_id: int | None) -> bool:
        if user_id is None or chat_id > 0:
            return False
        return user_id in await self.admin_ids(chat_id)

    async def is_message_from_admin(self, message: Message) -> bool:
        if message.chat.type not in {"group", "supergroup"}:
            return False
        if is_anonymous_admin_message(message):
            return True
        if message.sender_chat is not None or message.from_user is None:
            return False  # another chat's identity or a channel post
        if message.from_user.id == ANONYMOUS_ADMIN_BOT_ID:
            return False
        return await self.is_chat_admin(message.chat.id, message.from_user.id)

    async def roles_for_message(self, message: Message) -> Roles:
        user_id = message.from_user.id if message.from_user and not message.sender_chat else None
        return Roles(
            is_manager=self.is_manager(user_id),
            is_admin=await self.is_message_from_admin(message),
        )

    async def roles_for_user(self, chat_id: int | None, user_id: int) -> Roles:
        is_admin = False
        if chat_id is not None and chat_id < 0:
            is_admin = await self.is_chat_admin(chat_id, user_id)
        return Roles(is_manager=self.is_manager(user_id), is_admin=is_admin)
