"""The webhook endpoint: each update handled once, one chat at a time, answered when done.

Telegram treats a webhook delivery as done when it gets a 2xx answer, and retries otherwise (or
when the answer is slow), possibly to another worker behind the balancer. So the answer comes
only after the update was handled: a worker that dies mid-update never answered, and the retry
is handled elsewhere. The retry of an update that was handled already is answered at once; one
that arrives while the first delivery is still being handled waits for its outcome (or asks
Telegram to come back later) instead of being handled a second time.

Telegram's webhook sends one chat's updates one at a time (the next once the last was answered,
a failed one retried before the next), so answering after handling also keeps a chat's order
across workers; the chat lock holds a retry that overtakes a slow first delivery. Album parts
are the exception: answered at once and handled after, since the first part waits for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.middlewares.user_context import EventContext, UserContextMiddleware
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from redis.exceptions import RedisError

from bot.cluster import Claim, Cluster, FloodSubject, renewing, wait_for_outcome
from bot.moderation.flood import tracker_name
from bot.moderation.targets import checked_sender

logger = logging.getLogger(__name__)

# A handled update whose `done` mark failed (Redis unreachable) is marked again after 0.2 s,
# then twice as long each time up to 5 s apart, for ten minutes at most.
MARK_DONE_FIRST_DELAY = 0.2
MARK_DONE_MAX_DELAY = 5.0
MARK_DONE_PATIENCE = 600.0


def chat_of(update: Update) -> int | None:
    """The chat whose queue an update joins; None for updates of no chat (inline queries)."""
    return UserContextMiddleware.resolve_event_context(update).chat_id


def flood_subject(update: Update) -> FloodSubject | None:
    """The flood window a group message counts in, as the protection check will ask for it
    (handlers/protection.py): recorded with the update's claim, which saves a worker a round
    trip to Redis on every message. None when the protection checks none."""
    message = update.message or update.edited_message
    if message is None or message.chat.type not in {"group", "supergroup"}:
        return None
    sender = checked_sender(message)
    if sender is None:
        return None
    edited = update.message is None
    return FloodSubject(tracker_name(edited), message.chat.id, sender.id)


def is_album_part(update: Update) -> bool:
    """Album parts are collected together (bot.posting.albums): the first waits for the
    others, so neither Telegram's per-chat queue nor the chat lock may hold them back."""
    message = update.message or update.channel_post
    return message is not None and message.media_group_id is not None


class OnceRequestHandler(SimpleRequestHandler):
    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, cluster: Cluster, secret_token: str | None
    ) -> None:
        super().__init__(
            dispatcher=dispatcher, bot=bot, handle_in_background=False, secret_token=secret_token
        )
        self.cluster = cluster
        self._marking: set[asyncio.Task[None]] = set()

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        """aiogram's check, on bytes: `secrets.compare_digest` raises on a str with non-ASCII
        characters, which turned such a forged header into a 500 and a traceback."""
        if not self.secret_token:
            return True
        return secrets.compare_digest(
            telegram_secret_token.encode("utf-8", "surrogateescape"),
            self.secret_token.encode("utf-8"),
        )

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        raw: dict[str, Any] = await request.json(loads=bot.session.json_loads)
        update = Update.model_validate(raw, context={"bot": bot})
        ledger = self.cluster.ledger
        album = is_album_part(update)
        context = UserContextMiddleware.resolve_event_context(update)
        chat_id = context.chat_id
        # the chat's lock, the sender's dialogue state and flood window come with the claim,
        # in one trip
        try:
            claim, held = await self.cluster.claim(
                update.update_id,
                None if album else chat_id,
                None if album else self._state_key(bot, context),
                None if album else flood_subject(update),
            )
            if claim is Claim.BUSY:
                claim = await wait_for_outcome(ledger, update.update_id)
        except RedisError as exc:
            return self._unreachable(update.update_id, exc)
        if claim is Claim.DONE:
            logger.debug("update %s: handled already", update.update_id)
            return web.json_response({})
        if claim is Claim.BUSY:
            # still being handled elsewhere: Telegram delivers it again later
            return web.Response(status=503, text="busy")
        if album:
            # Telegram sends the album's next part only once this one is answered, and the
            # first part waits for the others (bot.posting.albums): answer now, handle after.
            task = asyncio.create_task(self._handle_later(bot, update))
            self._background_feed_update_tasks.add(task)
            task.add_done_callback(self._background_feed_update_tasks.discard)
            return web.json_response({})
        try:
            await self._handle(bot, update, chat_id, held)
        except RedisError as exc:
            return self._unreachable(update.update_id, exc)
        return web.json_response({})

    @staticmethod
    def _unreachable(update_id: int, exc: RedisError) -> web.Response:
        """Redis restarting or out of reach: one line, no traceback, and a 503 so that
        Telegram delivers the update again (to this worker or another) once it is back."""
        logger.warning(
            "update %s not handled now, Redis unreachable (%s); Telegram delivers it again",
            update_id,
            exc,
        )
        return web.Response(status=503, text="redis unreachable")

    def _state_key(self, bot: Bot, context: EventContext) -> str | None:
        """Where the FSM storage keeps this update's dialogue state, as aiogram's FSM
        middleware will ask for it (None when nothing is shared)."""
        fsm = self.dispatcher.fsm.resolve_context(
            bot,
            context.chat_id,
            context.user_id,
            context.thread_id,
            context.business_connection_id,
        )
        return self.cluster.state_key(fsm.key) if fsm is not None else None

    async def _handle_later(self, bot: Bot, update: Update) -> None:
        try:
            await self._handle(bot, update, None, None)
        except Exception:
            logger.exception("update %s (an album part) failed", update.update_id)

    async def _handle(self, bot: Bot, update: Update, chat_id: int | None, held: Any) -> None:
        """Handle a claimed update (one of chat `chat_id`'s, under its lock; `held`: the lock
        taken with the claim); the claim is released if the handling fails, so that Telegram's
        next delivery is handled again."""
        ledger = self.cluster.ledger
        handled = False
        try:
            # the claim is renewed while the chat's lock is waited for and the update handled,
            # and no more once it is finished (a late renewal would shorten the `done` mark)
            async with renewing(
                lambda: ledger.keep(update.update_id), ledger.claim_seconds / 3, name="claim"
            ) as claim:
                lock = (
                    self.cluster.chat_locks.lock(chat_id, held)
                    if chat_id is not None
                    else contextlib.nullcontext()
                )
                async with lock as taken:
                    with held.state_for_this_update() if held else contextlib.nullcontext():
                        await self.dispatcher.feed_update(bot, update, **self.data)
                    handled = True
                    await claim.stop()
                    await self._finish(update.update_id, taken)  # and the lock, if it can
        except BaseException:
            if not handled:
                try:
                    await ledger.release(update.update_id)
                except RedisError as exc:  # the claim lapses by itself
                    logger.warning("update %s: claim not released: %s", update.update_id, exc)
            raise

    async def _finish(self, update_id: int, lock: Any) -> None:
        """Mark a handled update done. Its effects (replies, records) happened already, so a
        failure here (Redis unreachable for a moment) must not make Telegram deliver it again:
        the answer stays 2xx, and the mark is retried in the background. Without it the claim
        would lapse and a later duplicate would be handled a second time."""
        try:
            await self.cluster.finish(update_id, lock)
        except Exception as exc:
            logger.warning(
                "update %s handled but not marked done (%s); retrying in the background",
                update_id,
                exc,
            )
            task = asyncio.create_task(self._mark_done(update_id), name="mark-done")
            self._marking.add(task)
            task.add_done_callback(self._marking.discard)

    async def _mark_done(self, update_id: int) -> None:
        delay = MARK_DONE_FIRST_DELAY
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MARK_DONE_PATIENCE
        while True:
            await asyncio.sleep(delay)
            try:
                await self.cluster.ledger.finish(update_id)
            except Exception as exc:
                if loop.time() >= deadline:
                    logger.error("update %s never marked done: %s", update_id, exc)
                    return
                delay = min(delay * 2, MARK_DONE_MAX_DELAY)
                continue
            logger.info("update %s marked done", update_id)
            return
