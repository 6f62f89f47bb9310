"""The chats the bot is in, as it learns of them from its own membership updates."""

from __future__ import annotations

import logging

from storage.chats import ChatRepository
from storage.posts import Channel, ChannelRepository

logger = logging.getLogger(__name__)


class ChatRegistry:
    def __init__(self, chats: ChatRepository, channels: ChannelRepository) -> None:
        self.chats = chats
        self.channels = channels

    async def bot_status(
        self, chat_id: int, chat_type: str, title: str | None, username: str | None, status: str
    ) -> None:
        """The bot joined, left, or was promoted or restricted in a chat."""
        await self.chats.upsert_chat(chat_id, chat_type, title, username)
        await self.chats.set_bot_status(chat_id, status)

    async def title(self, chat_id: int) -> str:
        """A chat as people know it: its title, else its @username, else its id (a chat the
        bot has not seen since it learned of chats)."""
        chat = await self.chats.get(chat_id)
        if chat is None:
            return str(chat_id)
        if chat.title:
            return chat.title
        return f"@{chat.username}" if chat.username else str(chat_id)

    async def channel_rights(self, channel: Channel, at: int) -> bool:
        """Store what the bot may do in a channel; False when the managers need not hear of it
        (a channel never registered in which the bot still cannot post)."""
        before = await self.channels.get(channel.chat_id)
        await self.channels.upsert(channel, at)
        return not (before is None and not channel.can_post)
