"""The FAQ for members: /faq, answers' buttons, and the group pipeline's FAQ stage.

One router, placed by `handlers.build_routers`, and one middleware:
- `create_router()` (under the commands parent): /faq, 👍/👎 and "Did you mean…" picks
  (managing entries is `handlers.faq_entries`);
- `GroupMessagesMiddleware`: ordinary group messages no router took: staff replies in a support
  chat, delivered back to the member, and members' questions (an answer, suggestions, else the
  staff). The support desk's own commands are in `handlers.support`.
"""

from __future__ import annotations

import html
import logging
from dataclasses import replace
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message, ReplyParameters
from aiogram.utils.i18n import gettext as _

from bot.commands import on_command
from bot.config import Settings
from bot.data import typed
from bot.faq.buttons import FaqAction, FaqCallback, suggestions_keyboard
from bot.faq.delivery import answer_again, send_reply, still_shown
from bot.faq.messages import conversation_of, group_message_form, question_text
from bot.faq.questions import MessageForm, looks_like_question
from bot.faq.service import (
    AnsweredQuestion,
    Asked,
    FaqService,
    ReplyKind,
    VoteOutcome,
    choose_language,
)
from bot.guards import accessible_message, button_message, sender
from bot.i18n import LocaleFor
from bot.links import message_link
from bot.middlewares import LeftoverGroupMessages
from bot.roles import is_anonymous_admin_message
from bot.stats.service import StatsService
from bot.support.relay import (
    cool_down_notice,
    deliver_staff_reply,
    relay_to_support,
    ticket_replied_to,
)
from bot.support.service import RelayOutcome, SupportService
from bot.texts import pack_lines, typed_id
from bot.topics import thread_of

logger = logging.getLogger(__name__)

MAX_LIST_LINES = 60  # topics listed by /faq


# --- members ------------------------------------------------------------------------------------


async def faq_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    faq: FaqService,
    locale_for: LocaleFor,
) -> None:
    """/faq lists the topics with their numbers; /faq <number> answers that entry, /faq
    <words> the best match (or a wording holding the words' numbers as written) or says none
    fits."""
    chat_scope = None if message.chat.type == "private" else message.chat.id
    default = await locale_for(message.chat.id)
    words = (command.args or "").strip()
    if not words:
        entries = await faq.visible_in(chat_scope)
        if not entries:
            await message.reply(_("There is no FAQ here yet."))
            return
        language = choose_language(
            {lang for e in entries for lang in e.answers},
            sender(message).language_code,
            "",
            default,
        )
        lines = [
            html.escape(
                _("Topics I can answer (ask in your own words, /faq <words> or /faq <number>):")
            )
        ]
        lines += [f"#{e.id} {html.escape(e.title(language))}" for e in entries[:MAX_LIST_LINES]]
        if len(entries) > MAX_LIST_LINES:  # the rest are there too: asking finds them
            lines.append(
                html.escape(
                    _("…and {count} more: ask in your own words.").format(
                        count=len(entries) - MAX_LIST_LINES
                    )
                )
            )
        for text in pack_lines(lines):  # long wordings: more than one message holds
            await message.reply(text)
        return

    async def chat_default() -> str:
        return default

    language_code = sender(message).language_code
    if typed_id(words) is not None:  # an entry's number, as the list shows it
        reply = await faq.looked_up(words, chat_scope, language_code, default)
        if reply is None:
            await message.reply(_("There is no FAQ entry #{id} here.").format(id=words.lstrip("#")))
            return
    else:
        reply = await faq.answer(words, chat_scope, language_code, chat_default, Asked.COMMAND)
        if reply.kind is not ReplyKind.ANSWER:  # numbers, which matching leaves out
            reply = await faq.looked_up(words, chat_scope, language_code, default) or reply
    if reply.kind is not ReplyKind.ANSWER or reply.entry is None:
        await message.reply(_("I found nothing in the FAQ that fits. Try other words."))
        return
    sent = await send_reply(bot, reply, message.chat.id, message.message_id, thread_of(message))
    if sent is None:
        await message.reply(
            _(
                "The answer of FAQ entry #{id} is no longer available; an admin can replace it "
                "with /faq_edit."
            ).format(id=reply.entry.id)
        )


# --- buttons ------------------------------------------------------------------------------------


async def vote_pressed(
    query: CallbackQuery, callback_data: FaqCallback, faq: FaqService, stats: StatsService
) -> None:
    """Thanked once; the other button later changes the vote, and the toast says so."""
    up = callback_data.op is FaqAction.UP
    message = button_message(query)
    outcome = await faq.vote(callback_data.entry, query.from_user.id, up, message.chat.id)
    counted = outcome in {VoteOutcome.COUNTED, VoteOutcome.CHANGED}
    if counted and message.chat.type != "private":
        stats.collector.bump(message.chat.id, "faq_up" if up else "faq_down")
    vote = "👍" if up else "👎"
    if outcome is VoteOutcome.COUNTED:
        await query.answer(_("Thanks for the feedback!"))
    elif outcome is VoteOutcome.CHANGED:
        await query.answer(_("Your vote is now {vote}.").format(vote=vote))
    elif outcome is VoteOutcome.SAME:
        await query.answer(_("You voted {vote} already.").format(vote=vote))
    else:
        await query.answer(_("This FAQ entry is gone."))


async def claim_suggestions(query: CallbackQuery) -> bool:
    """The suggestions go before the answer is sent, and whichever tap deletes them answers: a
    double tap (or a second worker) finds them gone ("message to delete not found") and sends
    nothing. Any other refusal (older than 48 hours) leaves them up, and the tap answers."""
    try:
        await accessible_message(query).delete()
    except TelegramBadRequest as exc:
        return "not found" not in exc.message.lower()
    except TelegramAPIError:
        return True
    return True


async def pick_pressed(
    query: CallbackQuery,
    callback_data: FaqCallback,
    bot: Bot,
    faq: FaqService,
    support: SupportService,
    stats: StatsService,
    settings: Settings,
    locale_for: LocaleFor,
) -> None:
    """A "Did you mean…" suggestion picked: its answer under the question, the suggestions go.
    An answer whose message is gone (a media answer deleted in its chat) leaves the question
    to the staff, as it does when the FAQ answers by itself."""
    if callback_data.asker and query.from_user.id != callback_data.asker:
        await query.answer(_("These suggestions are for the member who asked."), show_alert=True)
        return
    message = accessible_message(query)
    question = message.reply_to_message
    reply = await faq.pick(
        callback_data.entry,
        message.chat.id,
        query.from_user.language_code,
        question_text(question) if question else "",
        await locale_for(message.chat.id),
    )
    if reply is None:
        await query.answer(_("This FAQ entry is gone."), show_alert=True)
        return
    if not await claim_suggestions(query):
        await query.answer()  # the other tap is answering
        return
    sent = await send_reply(
        bot,
        reply,
        message.chat.id,
        question.message_id if question else None,
        thread_of(message),
        faq=faq,
        stats=stats,
        conversation=conversation_of(question) if question else thread_of(message) or 0,
    )
    if sent is None:
        await query.answer(_("This FAQ entry is gone."), show_alert=True)
        if question is not None and question.from_user is not None:
            await relay_to_support(question, bot, support, locale_for, stats)
        return
    if callback_data.asker and question is not None and question_text(question):
        await faq.learn_from_pick(
            callback_data.entry, question_text(question), reply.language, settings.languages
        )
    await query.answer()


async def answered_question_edited(message: Message, faq: FaqService) -> bool | dict[str, Any]:
    """Filter: a member's edit of a question the FAQ answered; hands its answer on."""
    previous = await faq.answer_to_question(message.chat.id, message.message_id)
    return {"answered": previous} if previous is not None else False


async def question_edited(
    message: Message,
    answered: AnsweredQuestion,
    bot: Bot,
    faq: FaqService,
    stats: StatsService,
    locale_for: LocaleFor,
) -> None:
    """An answered question edited into another question gets that answer in place of the old
    one; one that asks the same, or became chat, keeps what it has."""
    text, private = question_text(message), message.chat.type == "private"
    form = MessageForm.NONE if private else group_message_form(message)
    if not (looks_like_question(text) if private else form is not MessageForm.NONE):
        return

    async def chat_default() -> str:
        return await locale_for(message.chat.id)

    conversation = 0 if private else conversation_of(message)
    if private:
        scope, asked = None, Asked.PRIVATE
    else:
        statement = form is MessageForm.STATEMENT
        scope, asked = message.chat.id, Asked.GROUP_STATEMENT if statement else Asked.GROUP
    lang = sender(message).language_code
    reply = await faq.answer(text, scope, lang, chat_default, asked, conversation)
    if reply.kind not in {ReplyKind.ANSWER, ReplyKind.REPEAT} or reply.entry is None:
        return
    if reply.entry.id != answered.entry_id:  # the same entry: answered already
        reply = replace(reply, kind=ReplyKind.ANSWER)  # the cool-down's pointer would be it
        where = (message.chat.id, message.message_id, answered.answer_id, thread_of(message))
        await answer_again(bot, reply, *where, faq=faq, stats=stats, conversation=conversation)


# --- routers ------------------------------------------------------------------------------------


def create_router() -> Router:
    router = Router(name="faq")
    on_command(router.message, faq_command, "faq")
    q = router.callback_query
    q.register(vote_pressed, FaqCallback.filter(F.op.in_({FaqAction.UP, FaqAction.DOWN})))
    q.register(pick_pressed, FaqCallback.filter(F.op == FaqAction.PICK))
    router.edited_message.register(question_edited, answered_question_edited)
    return router


# --- the group pipeline's FAQ stage -------------------------------------------------------------


async def answer_in_group(
    message: Message,
    bot: Bot,
    faq: FaqService,
    stats: StatsService,
    locale_for: LocaleFor,
    asked: Asked = Asked.GROUP,
) -> bool:
    """An answer, a pointer to the same answer given minutes ago, or suggestions; False when
    the FAQ has nothing sure to say and the staff should take the question."""
    chat = message.chat

    async def chat_default() -> str:
        return await locale_for(chat.id)

    text = question_text(message)
    conversation = conversation_of(message)
    reply = await faq.answer(
        text, chat.id, sender(message).language_code, chat_default, asked, conversation
    )
    if (
        reply.kind is ReplyKind.REPEAT
        and reply.entry is not None
        and not await still_shown(bot, chat.id, reply.previous_message_id or 0, reply.entry.id)
    ):
        reply = replace(reply, kind=ReplyKind.ANSWER)  # an admin deleted it: answer anew
    if reply.kind is ReplyKind.REPEAT:
        link = message_link(chat.id, chat.username, reply.previous_message_id or 0)
        if conversation and thread_of(message) is None and not chat.username:
            link = None  # a private group's comments: commenters need not be members to read
        await bot.send_message(
            chat.id,
            _("☝️ I answered this a few minutes ago: {link}").format(link=link)
            if link
            else _("☝️ I answered this a few minutes ago, just above."),
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
            message_thread_id=thread_of(message),
        )
        return True
    if reply.kind is ReplyKind.ANSWER:
        sent = await send_reply(
            bot,
            reply,
            chat.id,
            message.message_id,
            thread_of(message),
            faq=faq,
            stats=stats,
            conversation=conversation,
        )
        return sent is not None  # the answer's message is gone: people answer instead
    if reply.kind is ReplyKind.SUGGEST:
        keyboard = suggestions_keyboard(reply.suggestions, sender(message).id)
        await message.reply(_("🤔 Did you mean…"), reply_markup=keyboard)
        return True
    return False


class GroupMessagesMiddleware(LeftoverGroupMessages):
    """The FAQ stage of the group pipeline, as an outer middleware on messages.

    It acts after the routers, on group messages no feature handled: a staff reply in a support
    chat goes back to the member; a member's question gets an FAQ answer, a suggestion, or goes
    to the staff. A middleware rather than one more router because every group message would
    pay for a router level (aiogram wraps and filters per level), and most are not questions:
    `bench/pipeline.py` measured the router at about 60 µs per message, this at a few.
    """

    async def wants(self, message: Message) -> bool:
        """Members' messages, and an anonymous admin's: staff may answer as their group."""
        return await super().wants(message) or is_anonymous_admin_message(message)

    async def leftover(self, event: Message, data: dict[str, Any]) -> None:
        if data.get("complaint_ticket"):
            return  # already a priority ticket (handlers.reputation)
        services = typed(data)
        bot, support, stats = services["bot"], services["support"], services["stats"]
        ticket = await ticket_replied_to(event, bot, support)
        if ticket is not None:
            parts = await services["albums"].collect(event)
            if parts is not None:  # None: a later part of an album its first part delivers
                await deliver_staff_reply(
                    event, ticket, bot, support, services["notes"], album=parts
                )
        elif (
            not is_anonymous_admin_message(event)  # an admin's words, not a member's question
            and (form := group_message_form(event)) is not MessageForm.NONE
            and not await support.is_staff_chat(event.chat.id)
        ):
            if form is MessageForm.STATEMENT:
                statement = Asked.GROUP_STATEMENT
                faq = services["faq"]
                if await answer_in_group(event, bot, faq, stats, services["locale_for"], statement):
                    stats.collector.bump(event.chat.id, "questions")  # a question after all
                return
            stats.collector.bump(event.chat.id, "questions")
            answered = await answer_in_group(
                event, bot, services["faq"], stats, services["locale_for"]
            )
            if not answered:
                outcome = await relay_to_support(event, bot, support, services["locale_for"], stats)
                if outcome is RelayOutcome.LIMITED:  # told once, where they asked
                    await event.reply(cool_down_notice())
