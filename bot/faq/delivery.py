"""Sending an FAQ answer: the one place that turns a `FaqReply` into a Telegram message,
remembers it (so the same question soon after points to it) and counts it."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramMigrateToChat
from aiogram.types import Message, MessageId, ReplyParameters

from bot.edits import edit_or_same, is_not_modified
from bot.faq.buttons import feedback_keyboard
from bot.faq.service import FaqReply, FaqService
from bot.stats.service import StatsService

logger = logging.getLogger(__name__)


async def send_reply(
    bot: Bot,
    reply: FaqReply,
    chat_id: int,
    reply_to: int | None,
    thread_id: int | None = None,
    *,
    faq: FaqService | None = None,
    stats: StatsService | None = None,
    conversation: int = 0,
) -> int | None:
    """The reply's answer, as a reply with 👍/👎; returns its id, or None when a media answer's
    original message is gone (deleted in its chat). The forum topic is named too: a reply to a
    question deleted meanwhile would land in General. With `faq` the answer is remembered (for
    the cool-down of `conversation`, a topic or a post's comments), with `stats` a group counts
    it."""
    entry, answer = reply.entry, reply.answer
    assert entry is not None
    parameters = (
        ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
    )
    sent: MessageId | Message
    # a copy (is_copy) names both its source chat and message
    if answer.source_chat_id is not None and answer.source_message_id is not None:
        try:
            sent = await bot.copy_message(
                chat_id,
                answer.source_chat_id,
                answer.source_message_id,
                reply_parameters=parameters,
                reply_markup=feedback_keyboard(entry.id),
                message_thread_id=thread_id,
            )
        except (TelegramBadRequest, TelegramMigrateToChat) as exc:
            # deleted, or left behind in a group that was upgraded to a supergroup
            logger.warning("FAQ entry %s: its answer message is gone: %s", entry.id, exc)
            return None
    else:
        sent = await bot.send_message(
            chat_id,
            answer.text,
            reply_parameters=parameters,
            reply_markup=feedback_keyboard(entry.id),
            message_thread_id=thread_id,
        )
    if faq is not None:
        await faq.remember(chat_id, reply, sent.message_id, conversation)
        if reply_to:  # an edit of the question is checked again
            await faq.question_answered(chat_id, reply_to, entry.id, sent.message_id)
    if stats is not None and chat_id < 0:
        stats.collector.bump(chat_id, "faq_answered")
    return sent.message_id


async def still_shown(bot: Bot, chat_id: int, message_id: int, entry_id: int) -> bool:
    """Whether an earlier answer is still in the chat, before the cool-down links to it:
    Telegram tells a bot of no deletion, so the answer's buttons are set to what they are.
    "Not modified" means it is there; "not found" that an admin deleted it, and a link would
    lead nowhere. Any other answer (a hiccup) keeps the link: an answer twice is worse."""
    try:
        await bot.edit_message_reply_markup(
            chat_id=chat_id, message_id=message_id, reply_markup=feedback_keyboard(entry_id)
        )
    except TelegramBadRequest as exc:
        return is_not_modified(exc) or "not found" not in exc.message.lower()
    except TelegramAPIError:
        return True
    return True  # its buttons were gone, and are back


async def answer_again(
    bot: Bot,
    reply: FaqReply,
    chat_id: int,
    question_id: int,
    previous_id: int,
    thread_id: int | None,
    *,
    faq: FaqService,
    stats: StatsService | None = None,
    conversation: int = 0,
) -> int | None:
    """A question edited after the FAQ answered it now asks for another entry: the bot's answer
    (`previous_id`) becomes that entry's, edited in place when both are texts, else the new
    answer is sent as a reply and the old one deleted, so the question has one answer. Its id,
    or None when the new answer's message is gone."""
    entry, answer = reply.entry, reply.answer
    assert entry is not None
    if answer.source_message_id is None:
        try:
            await edit_or_same(
                bot.edit_message_text(
                    answer.text,
                    chat_id=chat_id,
                    message_id=previous_id,
                    reply_markup=feedback_keyboard(entry.id),
                )
            )
        except TelegramAPIError as exc:  # deleted meanwhile, or a media answer: a new one
            logger.info("FAQ answer %s in %s not edited: %s", previous_id, chat_id, exc)
        else:
            await faq.remember(chat_id, reply, previous_id, conversation)
            await faq.question_answered(chat_id, question_id, entry.id, previous_id)
            return previous_id
    sent = await send_reply(
        bot, reply, chat_id, question_id, thread_id, faq=faq, stats=stats, conversation=conversation
    )
    if sent is not None:
        with contextlib.suppress(TelegramAPIError):
            await bot.delete_message(chat_id, previous_id)
    return sent
