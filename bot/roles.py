"""Who may do what: managers (from MANAGER_IDS), chat admins, members.

Chat admins come from `getChatAdministrators`, cached per chat and dropped when a `chat_member` or
`my_chat_member` update says the admin list may have changed. A message sent on behalf of the
group itself (`sender_chat.id == chat.id`) is an anonymous admin; the placeholder user
1087968824 (GroupAnonymousBot) that Telegram puts in `from` proves nothing on its own, since a
linked channel's posts and other chats' identities arrive with it too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner, Message

from bot.config import Settings

logger = logging.getLogger(__name__)

ANONYMOUS_ADMIN_BOT_ID = 1087968824
ADMIN_STATUSES = frozenset({"creator", "administrator"})


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
        cached = self._cache.get(chat_id)
        if cached and cached.expires_at > self.clock():
            return cached.user_ids
        async with self._locks[chat_id]:
            cached = self._cache.get(chat_id)
            if cached and cached.expires_at > self.clock():
                return cached.user_ids
            try:
                members = await self.bot.get_chat_administrators(chat_id)
            except TelegramAPIError as exc:
                # Not a member or chat gone: nobody is an admin we can verify. Retry soon.
                logger.warning("cannot read admins of %s: %s", chat_id, exc)
                self._cache[chat_id] = _CachedAdmins(frozenset(), self.clock() + 30.0)
                return frozenset()
            ids = frozenset(
                m.user.id
                for m in members
                if isinstance(m, ChatMemberOwner | ChatMemberAdministrator)
            )
            self._cache[chat_id] = _CachedAdmins(ids, self.clock() + self.ttl)
            return ids

    def invalidate(self, chat_id: int) -> None:
        self._cache.pop(chat_id, None)
        self.on_change(chat_id)

    def forget(self, chat_id: int | None) -> None:
        """Another worker saw this chat's admins change (None: anything may have changed)."""
        if chat_id is None:
            self._cache.clear()
        else:
            self._cache.pop(chat_id, None)

    def remember_status(self, chat_id: int, user_id: int, status: str) -> None:
        """Apply an admin promotion or demotion we were told about without refetching."""
        self.on_change(chat_id)
        cached = self._cache.get(chat_id)
        if cached is None:
            return
        ids = set(cached.user_ids)
        if status in ADMIN_STATUSES:
            ids.add(user_id)
        else:
            ids.discard(user_id)
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
