"""Whom a moderator command is about, and whether the bot may act on them.

A message's sender is the channel or group identity it was posted as (`sender_chat`), else its
user. A linked channel's automatic forward comes from that channel too: its `from` is Telegram's
service account 777000, whom no command must touch. A command names its target by replying, by
@username (known from messages the bot has seen) or by id (a negative one is a channel's or
group's). Admins of the chat, the chat itself, its linked channel and the bot itself are never
acted on.
"""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

from bot.moderation.args import ArgumentError
from bot.moderation.problems import Problem
from bot.moderation.service import Target
from bot.roles import RoleService
from storage.chats import UserRepository

logger = logging.getLogger(__name__)


def replied(message: Message) -> Message | None:
    """The message a command replies to; None in forum topics when it only "replies" to the
    topic's first message, which every message there does."""
    reply = message.reply_to_message
    if reply is None or reply.forum_topic_created is not None:
        return None
    return reply


def checked_sender(message: Message) -> Target | None:
    """Whose group message the protection checks (and counts in a flood window); None for
    what it lets through unchecked: automatic forwards from the linked channel, joins and
    leaves, messages of no sender."""
    if message.is_automatic_forward or message.new_chat_members or message.left_chat_member:
        return None
    return sender_of(message)


def subject_of(message: Message) -> Target | None:
    """Whom a replied message is about: a join or leave notice ("Alice added Eve", "Alice
    removed Bob") comes from whoever added or removed, but a moderator replying to it means
    the member who joined or left; any other message, its sender."""
    joined = message.new_chat_members or []
    person = joined[0] if len(joined) == 1 else message.left_chat_member
    if person is not None:
        return Target(person.id, person.full_name)
    return sender_of(message)


def sender_of(message: Message) -> Target | None:
    if message.sender_chat is not None:
        chat = message.sender_chat
        return Target(chat.id, chat.title or chat.username or str(chat.id), is_chat=True)
    if message.from_user is not None:
        return Target(message.from_user.id, message.from_user.full_name)
    return None


class TargetResolver:
    def __init__(self, users: UserRepository, role_service: RoleService, bot_id: int) -> None:
        self.users = users
        self.role_service = role_service
        self.bot_id = bot_id

    async def resolve(self, message: Message, target_token: str | None) -> Target:
        """The replied message's sender when `target_token` is None, else @username or id;
        raises ArgumentError when it names no one the bot knows."""
        if target_token is None:
            reply = replied(message)
            target = subject_of(reply) if reply is not None else None
            if target is None:
                raise ArgumentError(Problem.NO_TARGET)
            return target
        if target_token.startswith("@"):
            user_id = await self.users.find_by_username(target_token)
            if user_id is None:
                raise ArgumentError(Problem.UNKNOWN_USER, target_token)
            return Target(user_id, target_token)
        return await self.by_id(int(target_token))

    async def by_id(self, target_id: int) -> Target:
        """Whom an id names, by the name the bot last saw them under (the log and /modlog
        showed a report button's target as "300 (300)"); a negative id is a channel's."""
        if target_id < 0:
            return Target(target_id, str(target_id), is_chat=True)
        name = await self.users.first_name_of(target_id)
        return Target(target_id, name or str(target_id))

    async def refusal(self, chat_id: int, target: Target) -> Problem | None:
        """Why this target must not be acted on, or None."""
        if target.is_chat:
            if target.id == chat_id or target.id == await self.linked_channel(chat_id):
                return Problem.TARGET_ADMIN
            return None
        if target.id == self.bot_id:
            return Problem.SELF
        if await self.role_service.is_chat_admin(chat_id, target.id):
            return Problem.TARGET_ADMIN
        return None

    async def linked_channel(self, chat_id: int) -> int | None:
        """The channel whose discussion group this chat is: its admins' own voice. Asked only
        for a command about a channel identity, which is rare enough to need no cache."""
        try:
            chat = await self.role_service.bot.get_chat(chat_id)
        except TelegramAPIError as exc:
            logger.info("cannot read the linked channel of %s: %s", chat_id, exc)
            return None
        return chat.linked_chat_id
