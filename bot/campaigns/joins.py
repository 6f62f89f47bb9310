"""Counting the joins a campaign is measured by: every `chat_member` and `chat_join_request`
update goes to `CampaignService` before anything else handles it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import ChatJoinRequest, ChatMemberUpdated, TelegramObject, Update

from bot.campaigns.logic import is_member
from bot.campaigns.service import CampaignService

logger = logging.getLogger(__name__)


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
