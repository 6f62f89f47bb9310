"""Whom a moderator command is about, and whether the bot may act on them.

A message's sender is the channel or group identity it was posted as (`sender_chat`; an
automatic forward from the linked channel counts as the member's own), else its user. A command
names its target by replying, by @username (known from messages the bot has seen) or by id.
Admins of the chat and the bot itself are never acted on.
"""

from __future__ import annotations

from aiogram.types import Message

from bot.moderation.args import ArgumentError
from bot.moderation.problems import Problem
from bot.moderation.service import Target
from bot.roles import RoleService
from storage.chats import UserRepository


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


def sender_of(message: Message) -> Target | None:
    if message.sender_chat is not None and not message.is_automatic_forward:
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
            target = sender_of(reply) if reply is not None else None
            if target is None:
                raise ArgumentError(Problem.NO_TARGET)
            return target
        if target_token.startswith("@"):
            user_id = await self.users.find_by_username(target_token)
            if user_id is None:
                raise ArgumentError(Problem.UNKNOWN_USER, target_token)
            return Target(user_id, target_token)
        return Target(int(target_token), target_token)

    async def refusal(self, chat_id: int, target: Target) -> Problem | None:
        """Why this target must not be acted on, or None."""
        if target.is_chat:
            return Problem.TARGET_ADMIN if target.id == chat_id else None
        if target.id == self.bot_id:
            return Problem.SELF
        if await self.role_service.is_chat_admin(chat_id, target.id):
            return Problem.TARGET_ADMIN
        return None
