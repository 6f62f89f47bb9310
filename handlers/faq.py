"""The FAQ: managing entries, answering questions in groups, and the human support relay.

Two routers, placed by `handlers.build_routers`, and one middleware:
- `create_router()` (under the commands parent): /faq_* commands, /faq, /setsupport, /block,
  their buttons, and members' private messages to the relay;
- `GroupMessagesMiddleware`: ordinary group messages no router took: staff replies in a support
  chat, delivered back to the member, and members' questions.
"""

from __future__ import annotations

import html
import io
import logging
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramMigrateToChat
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    TelegramObject,
)
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.faq.questions import looks_like_question
from bot.faq.service import (
    COOLDOWN_SECONDS,
    FaqService,
    choose_language,
    detect_language,
    parse_add_args,
)
from bot.faq.transfer import export_json, parse_import
from bot.private import PrivateNotes, Reach
from bot.roles import Roles, RoleService
from bot.stats.service import StatsService
from bot.topics import thread_of
from storage.faq import Answer, Entry, FaqRepository, SupportRepository, Ticket

logger = logging.getLogger(__name__)

EDITORS = {"role": "admin_or_manager"}
MAX_IMPORT_BYTES = 1_000_000
RELAY_LIMIT = 5  # tickets per member ...
RELAY_WINDOW = 600  # ... in this many seconds
MAX_LIST_LINES = 60

LocaleFor = Callable[[int], Awaitable[str]]


class FaqCallback(CallbackData, prefix="f"):
    op: str  # up | down | pick | undo
    entry: int
    asker: int = 0


class SupportCallback(CallbackData, prefix="s"):
    op: str  # faq
    ticket: int


def now() -> int:
    return int(time.time())


def scope_of(message: Message) -> int | None:
    """Entries made in a group belong to it; a manager's entries made in private are global."""
    return None if message.chat.type == "private" else message.chat.id


def command_html_args(message: Message) -> str:
    """The command's arguments with their formatting, as HTML."""
    parts = re.split(r"\s", message.html_text or "", maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def message_link(chat_id: int, username: str | None, message_id: int) -> str | None:
    if username:
        return f"https://t.me/{username}/{message_id}"
    if str(chat_id).startswith("-100"):
        return f"https://t.me/c/{str(chat_id)[4:]}/{message_id}"
    return None  # basic groups have no message links


def may_edit(entry: Entry, roles: Roles, chat_id: int | None) -> bool:
    """Managers edit anything; a chat admin only the entries of the chat they run."""
    if roles.is_manager:
        return True
    return entry.chat_id is not None and entry.chat_id == chat_id and roles.is_admin


def feedback_keyboard(entry_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="👍", callback_data=FaqCallback(op="up", entry=entry_id).pack()
                ),
                InlineKeyboardButton(
                    text="👎", callback_data=FaqCallback(op="down", entry=entry_id).pack()
                ),
            ]
        ]
    )


async def send_answer(
    bot: Bot,
    entry: Entry,
    language: str,
    chat_id: int,
    reply_to: int | None,
    thread_id: int | None = None,
) -> int | None:
    """The entry's answer in `language` (else its own), as a reply with 👍/👎; returns its id,
    or None when a media answer's original message is gone (deleted in its chat). The forum
    topic is named too: a reply to a question deleted meanwhile would land in General."""
    answer = entry.answers.get(language) or entry.answers.get(entry.language)
    if answer is None:
        answer = next(iter(entry.answers.values()))
    reply = (
        ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
    )
    if answer.is_copy:
        try:
            sent = await bot.copy_message(
                chat_id,
                answer.source_chat_id,
                answer.source_message_id,
                reply_parameters=reply,
                reply_markup=feedback_keyboard(entry.id),
                message_thread_id=thread_id,
            )
        except (TelegramBadRequest, TelegramMigrateToChat) as exc:
            # deleted, or left behind in a group that was upgraded to a supergroup
            logger.warning("FAQ entry %s: its answer message is gone: %s", entry.id, exc)
            return None
        return sent.message_id
    sent = await bot.send_message(
        chat_id,
        answer.text,
        reply_parameters=reply,
        reply_markup=feedback_keyboard(entry.id),
        message_thread_id=thread_id,
    )
    return sent.message_id


# --- managing entries -------------------------------------------------------------------------


def add_usage() -> str:
    return html.escape(
        _(
            "Usage: /faq_add <question>[; <other wording>…] | <answer>\n"
            "Or reply to a message with /faq_add <question>[; …] to use it as the answer.\n"
            "Start with ru: or nl: to set the language."
        )
    )


def answer_from(message: Message, answer_html: str, language: str) -> Answer | None:
    if answer_html:
        return Answer(language, answer_html)
    source = message.reply_to_message
    if source is None:
        return None
    return Answer(language, "", source.chat.id, source.message_id)


async def faq_add(
    message: Message,
    command: CommandObject,
    faq: FaqService,
    faq_repo: FaqRepository,
    settings: Settings,
    locale_for: LocaleFor,
) -> None:
    args = parse_add_args(command.args or "", command_html_args(message), settings.languages)
    if args is None or not args.phrasings:
        await message.reply(add_usage())
        return
    language = (
        args.language
        or detect_language(" ".join(args.phrasings), settings.languages)
        or await locale_for(message.chat.id)
    )
    answer = answer_from(message, args.answer_html, language)
    if answer is None:
        await message.reply(add_usage())
        return
    entry_id = await faq_repo.add(
        scope_of(message),
        language,
        [(language, p) for p in args.phrasings],
        answer,
        message.from_user.id,
        now(),
    )
    await faq.refresh()
    where = _("all chats") if scope_of(message) is None else _("this chat")
    await message.reply(
        _("✅ FAQ entry #{id} added ({language}, {where}): {question}").format(
            id=entry_id, language=language, where=where, question=html.escape(args.phrasings[0])
        )
    )


async def editable_entry(
    message: Message, raw_id: str, faq_repo: FaqRepository, roles: Roles
) -> Entry | None:
    """The entry named by `raw_id` if this user may change it here; answers the reason if not."""
    if not raw_id.lstrip("#").isdigit():
        return None
    entry = await faq_repo.get(int(raw_id.lstrip("#")))
    if entry is None or (entry.chat_id not in (None, scope_of(message)) and not roles.is_manager):
        await message.reply(_("There is no FAQ entry #{id} here.").format(id=raw_id.lstrip("#")))
        return None
    if not may_edit(entry, roles, scope_of(message)):
        await message.reply(_("Only Steward's managers can change entries shared by all chats."))
        return None
    return entry


async def faq_edit(
    message: Message,
    command: CommandObject,
    faq: FaqService,
    faq_repo: FaqRepository,
    settings: Settings,
    roles: Roles,
) -> None:
    raw = (command.args or "").split(maxsplit=1)
    usage = html.escape(
        _(
            "Usage: /faq_edit <id> [ru:] [<question>; …] | [<answer>]\n"
            "Questions replace that language's wordings; an answer replaces its answer; a new "
            "language adds a translation. Reply to a message to make it the answer."
        )
    )
    if not raw:
        await message.reply(usage)
        return
    entry = await editable_entry(message, raw[0], faq_repo, roles)
    if entry is None:
        if not raw[0].lstrip("#").isdigit():
            await message.reply(usage)
        return
    html_rest = command_html_args(message).split(maxsplit=1)
    args = parse_add_args(
        raw[1] if len(raw) > 1 else "",
        html_rest[1] if len(html_rest) > 1 else "",
        settings.languages,
    )
    language = (args.language if args else None) or entry.language
    answer = answer_from(message, args.answer_html if args else "", language)
    phrasings = args.phrasings if args else []
    if not phrasings and answer is None:
        await message.reply(usage)
        return
    if language not in entry.answers and answer is None:
        await message.reply(html.escape(_("A new language needs its answer too: add | <answer>.")))
        return
    await faq_repo.set_language(entry.id, language, phrasings, answer, now())
    await faq.refresh()
    await message.reply(
        _("✏️ FAQ entry #{id} updated ({language}).").format(id=entry.id, language=language)
    )


async def faq_del(
    message: Message,
    command: CommandObject,
    faq: FaqService,
    faq_repo: FaqRepository,
    roles: Roles,
) -> None:
    raw = (command.args or "").strip()
    if not raw:
        await message.reply(html.escape(_("Usage: /faq_del <id>")))
        return
    entry = await editable_entry(message, raw, faq_repo, roles)
    if entry is None:
        if not raw.lstrip("#").isdigit():
            await message.reply(html.escape(_("Usage: /faq_del <id>")))
        return
    await faq_repo.set_deleted(entry.id, now())
    await faq.refresh()
    undo = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("↩️ Undo"), callback_data=FaqCallback(op="undo", entry=entry.id).pack()
                )
            ]
        ]
    )
    await message.reply(
        _("🗑 FAQ entry #{id} deleted: {question}").format(
            id=entry.id, question=html.escape(entry.title(entry.language))
        ),
        reply_markup=undo,
    )


async def faq_list(message: Message, faq_repo: FaqRepository, roles: Roles) -> None:
    entries = (
        await faq_repo.all_live()
        if message.chat.type == "private"
        else await faq_repo.visible_in(message.chat.id)
    )
    if not entries:
        await message.reply(html.escape(_("The FAQ is empty. Add an entry with /faq_add.")))
        return
    lines = [_("FAQ entries:")]
    for entry in entries[:MAX_LIST_LINES]:
        languages = ",".join(sorted(entry.answers))
        scope = "🌐" if entry.chat_id is None else ""
        lines.append(
            f"#{entry.id}{scope} [{languages}] {html.escape(entry.title(entry.language))} "
            f"· {len(entry.phrasings)}✍️ · 👍{entry.up} 👎{entry.down}"
        )
    if len(entries) > MAX_LIST_LINES:
        lines.append(
            _("…and {count} more: /faq_export has them all.").format(
                count=len(entries) - MAX_LIST_LINES
            )
        )
    await message.reply("\n".join(lines))


async def faq_export(message: Message, faq_repo: FaqRepository) -> None:
    private = message.chat.type == "private"
    entries = await faq_repo.all_live() if private else await faq_repo.visible_in(message.chat.id)
    name = "faq-all.json" if private else f"faq-{message.chat.id}.json"
    await message.reply_document(
        BufferedInputFile(export_json(entries), filename=name),
        caption=_("{count} FAQ entries. Reply to this file with /faq_import to load it.").format(
            count=len(entries)
        ),
    )


def import_reason(code: str) -> str:
    return {
        "empty": _("no question or no answer"),
        "language": _("a language this bot does not speak"),
        "too_long": _("too long"),
        "format": _("not an FAQ entry"),
        "scope": _("shared by all chats: only managers may change it"),
    }.get(code, code)


async def faq_import(
    message: Message,
    bot: Bot,
    faq: FaqService,
    settings: Settings,
    roles: Roles,
) -> None:
    document = message.reply_to_message.document if message.reply_to_message else None
    if document is None:
        await message.reply(
            _(
                "Reply to a file with /faq_import: a JSON file from /faq_export, or a CSV "
                "with the columns question,answer,language."
            )
        )
        return
    if (document.file_size or 0) > MAX_IMPORT_BYTES:
        await message.reply(_("The file is too large (at most 1 MB)."))
        return
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    try:
        plan = parse_import(document.file_name or "", buffer.getvalue(), settings.languages)
    except ValueError:
        await message.reply(
            _(
                "I can't read this file: use a JSON file from /faq_export, or a CSV with the "
                "columns question,answer,language."
            )
        )
        return
    result = await faq.apply_import(plan, scope_of(message), message.from_user.id, roles.is_manager)
    lines = [
        _(
            "📥 FAQ import: {added} added, {changed} changed, {same} unchanged, {rejected} "
            "rejected."
        ).format(
            added=result.added,
            changed=result.changed,
            same=result.unchanged,
            rejected=len(result.rejected),
        )
    ]
    for where, code in result.rejected[:10]:
        lines.append(f"• {html.escape(where)}: {import_reason(code)}")
    await message.reply("\n".join(lines))


# --- members ------------------------------------------------------------------------------------


async def faq_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    faq: FaqService,
    faq_repo: FaqRepository,
    locale_for: LocaleFor,
) -> None:
    """/faq lists the topics; /faq <words> answers the best match or says none fits."""
    chat_scope = scope_of(message)
    user = message.from_user
    default = await locale_for(message.chat.id)
    words = (command.args or "").strip()
    if not words:
        entries = await faq_repo.visible_in(chat_scope)
        if not entries:
            await message.reply(_("There is no FAQ here yet."))
            return
        language = choose_language(
            {lang for e in entries for lang in e.answers}, user.language_code, "", default
        )
        lines = [html.escape(_("Topics I can answer (ask in your own words, or /faq <words>):"))]
        lines += [f"• {html.escape(e.title(language))}" for e in entries[:MAX_LIST_LINES]]
        await message.reply("\n".join(lines))
        return
    decision = await faq.decide(words, chat_scope)
    if decision.kind == "none" or decision.match is None:
        await message.reply(_("I found nothing in the FAQ that fits. Try other words."))
        return
    entry = await faq.entry(decision.match.entry_id)
    language = choose_language(entry.answers, user.language_code, words, default, entry.language)
    sent = await send_answer(
        bot, entry, language, message.chat.id, message.message_id, thread_of(message)
    )
    if sent is None:
        await message.reply(
            _(
                "The answer of FAQ entry #{id} is no longer available; an admin can replace it "
                "with /faq_edit."
            ).format(id=entry.id)
        )


# --- answering in groups ------------------------------------------------------------------------


async def group_member_message(message: Message) -> bool:
    """Router filter: a group message from a person (not a bot, not a channel identity)."""
    user = message.from_user
    return (
        message.chat.type in {"group", "supergroup"}
        and user is not None
        and not user.is_bot
        and message.sender_chat is None
    )


async def group_question(message: Message) -> bool:
    """A member's question in a group: a question form, 3+ words, not a command, not a reply to
    another member (a conversation between people is theirs)."""
    reply = message.reply_to_message
    if reply is not None and not (reply.from_user and reply.from_user.is_bot):
        return False
    return looks_like_question(message.text)


async def answer_in_group(
    message: Message,
    bot: Bot,
    faq: FaqService,
    faq_repo: FaqRepository,
    support_repo: SupportRepository,
    stats: StatsService,
    settings: Settings,
    locale_for: LocaleFor,
) -> None:
    chat = message.chat
    text = message.text or ""
    if chat.id == settings.support_chat_id or chat.id in await support_repo.support_chats():
        return  # staff talking among themselves
    stats.collector.bump(chat.id, "questions")
    if not await faq.has_entries_for(chat.id):
        await relay_to_support(message, bot, support_repo, settings, stats)
        return
    decision = await faq.decide(text, chat.id)
    if decision.kind == "answer":
        entry = await faq.entry(decision.match.entry_id)
        default = await locale_for(chat.id)
        language = choose_language(
            entry.answers, message.from_user.language_code, text, default, entry.language
        )
        previous = await faq_repo.last_answer(chat.id, entry.id, language)
        if previous and now() - previous[1] < COOLDOWN_SECONDS:
            link = message_link(chat.id, chat.username, previous[0])
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
            return
        sent = await send_answer(
            bot, entry, language, chat.id, message.message_id, thread_of(message)
        )
        if sent is None:  # the answer's message is gone: people answer instead
            await relay_to_support(message, bot, support_repo, settings, stats)
            return
        await faq_repo.remember_answer(chat.id, entry.id, language, sent, now())
        stats.collector.bump(chat.id, "faq_answered")
        return
    if decision.kind == "suggest" and decision.suggestions:
        default = await locale_for(chat.id)
        rows = []
        for entry_id in decision.suggestions:
            entry = await faq.entry(entry_id)
            language = choose_language(
                entry.answers, message.from_user.language_code, text, default, entry.language
            )
            rows.append(
                [
                    InlineKeyboardButton(
                        text=entry.title(language)[:60],
                        callback_data=FaqCallback(
                            op="pick", entry=entry_id, asker=message.from_user.id
                        ).pack(),
                    )
                ]
            )
        await message.reply(
            _("🤔 Did you mean…"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows)
        )
        return
    await relay_to_support(message, bot, support_repo, settings, stats)


# --- the support relay -------------------------------------------------------------------------


async def support_chat_for(
    chat_id: int, support_repo: SupportRepository, settings: Settings
) -> int | None:
    return await support_repo.route(chat_id) or settings.support_chat_id


async def relay_to_support(
    message: Message,
    bot: Bot,
    support_repo: SupportRepository,
    settings: Settings,
    stats: StatsService | None = None,
) -> str:
    """Hand a member's message to staff; returns what happened: sent | no_support | blocked |
    limited | failed."""
    member = message.from_user
    support_chat = await support_chat_for(message.chat.id, support_repo, settings)
    if support_chat is None:
        return "no_support"
    if await support_repo.is_blocked(member.id):
        return "blocked"
    if await support_repo.recent_from(member.id, now() - RELAY_WINDOW) >= RELAY_LIMIT:
        return "limited"
    question = message.text or message.caption or ""
    ticket_id = await support_repo.open_ticket(
        member_id=member.id,
        member_name=member.full_name,
        language=member.language_code,
        chat_id=message.chat.id,
        question_message_id=message.message_id,
        question=question,
        support_chat_id=support_chat,
        now=now(),
        thread_id=thread_of(message),
    )
    who = f'<a href="tg://user?id={member.id}">{html.escape(member.full_name)}</a>'
    if message.chat.type == "private":
        where = _("in private")
    else:
        where = _("in {chat}").format(chat=html.escape(message.chat.title or str(message.chat.id)))
    lines = [
        _("❓ #{ticket} from {who} (id {id}) {where}:").format(
            ticket=ticket_id, who=who, id=member.id, where=where
        )
    ]
    if question:
        lines.append(html.escape(question))
    link = (
        message_link(message.chat.id, message.chat.username, message.message_id)
        if message.chat.type != "private"
        else None
    )
    if link:
        lines.append(link)
    lines.append(_("Reply to this message to answer; /block to stop this member's messages."))
    try:
        relay = await bot.send_message(support_chat, "\n".join(lines))
        if not message.text:  # media: show it to staff under the header
            await bot.copy_message(
                support_chat,
                message.chat.id,
                message.message_id,
                reply_parameters=ReplyParameters(message_id=relay.message_id),
            )
    except TelegramAPIError as exc:
        logger.warning("support chat %s unreachable: %s", support_chat, exc)
        return "failed"
    await support_repo.set_relay_message(ticket_id, relay.message_id)
    if stats is not None and message.chat.type != "private":
        stats.collector.bump(message.chat.id, "faq_escalated")
    return "sent"


async def private_to_relay(
    message: Message,
    bot: Bot,
    faq: FaqService,
    support_repo: SupportRepository,
    settings: Settings,
    locale_for: LocaleFor,
) -> None:
    """A member writing to the bot in private: a sure FAQ answer at once, else to the staff."""
    text = message.text or ""
    if text and looks_like_question(text):
        decision = await faq.decide(text, None)
        if decision.kind == "answer":
            entry = await faq.entry(decision.match.entry_id)
            default = await locale_for(message.chat.id)
            language = choose_language(
                entry.answers, message.from_user.language_code, text, default, entry.language
            )
            if await send_answer(bot, entry, language, message.chat.id, message.message_id):
                return
    outcome = await relay_to_support(message, bot, support_repo, settings)
    if outcome == "sent":
        await message.reply(_("✉️ Sent to the team. Their answer will come here."))
    elif outcome == "limited":
        await message.reply(
            _(
                "You have sent several messages in a short time. The team will answer; please "
                "wait a little before writing again."
            )
        )
    elif outcome in {"no_support", "failed"}:
        await message.reply(_("Sorry, no one can answer messages here yet. Try /help."))
    # blocked: no answer, by design


async def is_private_member_message(message: Message, role_service: RoleService) -> bool:
    """What members (not managers, whose messages become posts) write to the bot in private."""
    return (
        message.chat.type == "private"
        and message.from_user is not None
        and not role_service.is_manager(message.from_user.id)
        and not (message.text or "").startswith("/")
    )


async def staff_reply(
    message: Message,
    bot: Bot,
    support_repo: SupportRepository,
) -> bool | dict:
    """Filter: a reply in a support chat to one of the bot's relayed questions; hands the ticket
    to the handler."""
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or reply.from_user.id != bot.id:
        return False
    if (message.text or "").startswith("/"):
        return False
    ticket = await support_repo.by_relay(message.chat.id, reply.message_id)
    return {"ticket": ticket} if ticket is not None else False


async def deliver_staff_reply(
    message: Message,
    ticket: Ticket,
    bot: Bot,
    support_repo: SupportRepository,
    notes: PrivateNotes,
) -> None:
    member_chat = ticket.chat_id
    reply_to = (
        ReplyParameters(message_id=ticket.question_message_id, allow_sending_without_reply=True)
        if ticket.question_message_id  # 0: asked in a group since upgraded
        else None
    )
    name = html.escape(ticket.member_name or str(member_chat))
    if member_chat > 0:  # asked in private: a note Telegram may refuse (blocked, deleted)
        result = await notes.copy_message(
            member_chat, message.chat.id, message.message_id, reply_parameters=reply_to
        )
        refusals = {
            Reach.BLOCKED: _("Could not deliver the answer: {name} has blocked me."),
            Reach.DEACTIVATED: _("Could not deliver the answer: {name} deleted their account."),
            Reach.NOT_STARTED: _("Could not deliver the answer: {name} has not started me."),
        }
        if result.reach in refusals:
            await message.reply(refusals[result.reach].format(name=name))
            return
        error = None if result.delivered else result.error
    else:
        try:
            await bot.copy_message(
                member_chat,
                message.chat.id,
                message.message_id,
                reply_parameters=reply_to,
                message_thread_id=ticket.thread_id,
            )
            error = None
        except TelegramAPIError as exc:
            error = exc.message
    if error is not None:
        await message.reply(
            _("Could not deliver the answer: {error}").format(error=html.escape(error))
        )
        return
    await support_repo.mark_answered(
        ticket.id,
        message.from_user.id,
        message.chat.id,
        message.message_id,
        message.html_text if message.text else "",
        now(),
    )
    add = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("➕ Add to FAQ"),
                    callback_data=SupportCallback(op="faq", ticket=ticket.id).pack(),
                )
            ]
        ]
    )
    await message.reply(
        _("✅ Delivered to {name}.").format(name=html.escape(ticket.member_name or "?")),
        reply_markup=add,
    )


async def support_pressed(
    query: CallbackQuery,
    callback_data: SupportCallback,
    support_repo: SupportRepository,
    faq_repo: FaqRepository,
    faq: FaqService,
    settings: Settings,
    locale_for: LocaleFor,
) -> None:
    """ "➕ Add to FAQ": the member's wording becomes a phrasing, the staff reply its answer."""
    ticket = await support_repo.get(callback_data.ticket)
    if ticket is None or query.message is None or query.message.chat.id != ticket.support_chat_id:
        await query.answer(_("This question is gone."), show_alert=True)
        return
    if ticket.faq_entry_id is not None:
        await query.answer(
            _("Already in the FAQ as #{id}.").format(id=ticket.faq_entry_id), show_alert=True
        )
        return
    if not ticket.question or ticket.answer_message_id is None:
        await query.answer(
            _("Only a text question with an answer can go into the FAQ."), show_alert=True
        )
        return
    scope = ticket.chat_id if ticket.chat_id < 0 else None
    language = detect_language(ticket.question, settings.languages) or (
        (ticket.language or "").split("-")[0]
        if (ticket.language or "").split("-")[0] in settings.languages
        else await locale_for(ticket.chat_id)
    )
    answer = (
        Answer(language, ticket.answer_text)
        if ticket.answer_text
        else Answer(language, "", ticket.answer_chat_id, ticket.answer_message_id)
    )
    entry_id = await faq_repo.add(
        scope, language, [(language, ticket.question)], answer, query.from_user.id, now()
    )
    if not await support_repo.mark_added_to_faq(ticket.id, entry_id):
        await faq_repo.set_deleted(entry_id, now())  # a double tap lost the race
        await query.answer()
        return
    await faq.refresh()
    await query.message.edit_text(
        _("✅ Delivered and added to the FAQ as #{id}.").format(id=entry_id)
    )
    await query.answer(_("Added to the FAQ."))


async def faq_pressed(
    query: CallbackQuery,
    callback_data: FaqCallback,
    bot: Bot,
    faq: FaqService,
    faq_repo: FaqRepository,
    stats: StatsService,
    roles: Roles,
    settings: Settings,
    locale_for: LocaleFor,
) -> None:
    op = callback_data.op
    message = query.message
    if op in {"up", "down"}:
        changed = await faq_repo.vote(
            callback_data.entry, query.from_user.id, 1 if op == "up" else -1
        )
        if changed and message is not None and message.chat.type != "private":
            stats.collector.bump(message.chat.id, "faq_up" if op == "up" else "faq_down")
        await query.answer(_("Thanks for the feedback!"))
        return
    if op == "pick":
        if callback_data.asker and query.from_user.id != callback_data.asker:
            await query.answer(
                _("These suggestions are for the member who asked."), show_alert=True
            )
            return
        entry = await faq.entry(callback_data.entry)
        if entry is None or message is None:
            await query.answer(_("This FAQ entry is gone."), show_alert=True)
            return
        question = message.reply_to_message
        default = await locale_for(message.chat.id)
        language = choose_language(
            entry.answers,
            query.from_user.language_code,
            question.text if question else "",
            default,
            entry.language,
        )
        sent = await send_answer(
            bot,
            entry,
            language,
            message.chat.id,
            question.message_id if question else None,
            thread_of(message),
        )
        if sent is None:
            await query.answer(_("This FAQ entry is gone."), show_alert=True)
            return
        await faq_repo.remember_answer(message.chat.id, entry.id, language, sent, now())
        if message.chat.type != "private":
            stats.collector.bump(message.chat.id, "faq_answered")
        if callback_data.asker and question is not None and question.text:
            # the asker's own wording, in the language it is written in, is a new phrasing
            wording = detect_language(question.text, settings.languages) or language
            await faq.learn_phrasing(entry.id, question.text, wording)
        with suppress(TelegramAPIError):  # the suggestions have done their job
            await message.delete()
        await query.answer()
        return
    if op == "undo":
        if message is None or not (roles.is_manager or roles.is_admin):
            await query.answer(
                _("Only admins of this chat or Steward's managers can use this command."),
                show_alert=True,
            )
            return
        if await faq_repo.set_deleted(callback_data.entry, None):
            await faq.refresh()
            await message.edit_text(_("↩️ FAQ entry #{id} restored.").format(id=callback_data.entry))
        await query.answer()


# --- staff commands -----------------------------------------------------------------------------


async def setsupport_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    support_repo: SupportRepository,
    settings: Settings,
) -> None:
    arg = (command.args or "").strip()
    if not arg:
        current = await support_chat_for(message.chat.id, support_repo, settings)
        await message.reply(
            _("Unanswered questions from this chat go to {chat}.").format(chat=current)
            if current
            else html.escape(
                _("No support chat is set. Use /setsupport <chat id> (add me to that chat first).")
            )
        )
        return
    if arg.lower() in {"off", "none", "-"}:
        await support_repo.set_route(message.chat.id, None)
        await message.reply(_("This chat now uses the default support chat, if any."))
        return
    try:
        target = await bot.get_chat(int(arg) if arg.lstrip("-").isdigit() else arg)
    except (TelegramAPIError, ValueError):
        await message.reply(
            _("I can't reach that chat. Add me to it first, then use its id (e.g. -100123…).")
        )
        return
    await support_repo.set_route(message.chat.id, target.id)
    await message.reply(
        _("Unanswered questions from this chat now go to {title}.").format(
            title=html.escape(target.title or str(target.id))
        )
    )


async def block_command(
    message: Message,
    command: CommandObject,
    support_repo: SupportRepository,
    settings: Settings,
) -> None:
    """/block and /unblock in a support chat: reply to a relayed question, or give a user id."""
    staff_chats = await support_repo.support_chats() | (
        {settings.support_chat_id} if settings.support_chat_id else set()
    )
    if message.chat.id not in staff_chats:
        await message.reply(_("This command works in the support chat."))
        return
    member_id = None
    arg = (command.args or "").strip()
    if arg.isdigit():
        member_id = int(arg)
    elif message.reply_to_message is not None:
        ticket = await support_repo.by_relay(message.chat.id, message.reply_to_message.message_id)
        member_id = ticket.member_id if ticket else None
    if member_id is None:
        await message.reply(
            html.escape(
                _("Reply to a relayed question with /{command}, or give a user id.")
            ).format(command=command.command)
        )
        return
    if command.command == "block":
        await support_repo.block(member_id, message.from_user.id, now())
        await message.reply(
            _("🚫 {id} can no longer write to the team. /unblock {id} undoes it.").format(
                id=member_id
            )
        )
    else:
        await support_repo.unblock(member_id)
        await message.reply(_("✅ {id} can write to the team again.").format(id=member_id))


# --- routers ------------------------------------------------------------------------------------


def create_router() -> Router:
    router = Router(name="faq")
    m = router.message
    m.register(faq_add, Command("faq_add"), flags=EDITORS)
    m.register(faq_edit, Command("faq_edit"), flags=EDITORS)
    m.register(faq_del, Command("faq_del"), flags=EDITORS)
    m.register(faq_list, Command("faq_list"), flags=EDITORS)
    m.register(faq_export, Command("faq_export"), flags=EDITORS)
    m.register(faq_import, Command("faq_import"), flags=EDITORS)
    m.register(faq_command, Command("faq"))
    # a support "chat" may be one staff member's private chat: replies there come this way
    m.register(deliver_staff_reply, staff_reply)
    m.register(setsupport_command, Command("setsupport"), flags={"role": "admin", "chat": "group"})
    m.register(block_command, Command("block", "unblock"), flags={"chat": "group"})
    router.callback_query.register(faq_pressed, FaqCallback.filter(), flags={"needs_roles": True})
    router.callback_query.register(support_pressed, SupportCallback.filter())
    return router


def create_relay_router() -> Router:
    """Members' private messages to the team; after every other private-chat feature."""
    router = Router(name="faq-relay")
    router.message.register(private_to_relay, is_private_member_message)
    return router


class GroupMessagesMiddleware(BaseMiddleware):
    """The FAQ stage of the group pipeline, as an outer middleware on messages.

    It acts after the routers, on group messages no feature handled: a staff reply in a support
    chat goes back to the member; a member's question gets an FAQ answer, a suggestion, or goes
    to the staff. A middleware rather than one more router because every group message would
    pay for a router level (aiogram wraps and filters per level), and most are not questions:
    `bench/pipeline.py` measured the router at about 60 µs per message, this at a few.
    """

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        result = await handler(event, data)
        if result is not UNHANDLED or not isinstance(event, Message):
            return result
        if not await group_member_message(event):
            return result
        if data.get("complaint_ticket"):
            return result  # already a priority ticket (handlers.reputation)
        found = await staff_reply(event, data["bot"], data["support_repo"])
        if found:
            await deliver_staff_reply(
                event, found["ticket"], data["bot"], data["support_repo"], data["notes"]
            )
        elif await group_question(event):
            await answer_in_group(
                event,
                data["bot"],
                data["faq"],
                data["faq_repo"],
                data["support_repo"],
                data["stats"],
                data["settings"],
                data["locale_for"],
            )
        return result
