"""The support desk's Telegram side: a member's message relayed to the staff, and a staff
reply delivered back to the member. `SupportService` decides; these send what it decided.

Both the group pipeline's FAQ stage and the support handlers use them, so they live here rather
than in one handler module imported by another.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Sequence
from dataclasses import replace
from itertools import zip_longest

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramMigrateToChat
from aiogram.types import Message, MessageId, ReplyParameters
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.edits import edit_or_same
from bot.engagement.topics import in_topic
from bot.i18n import LocaleFor
from bot.links import message_link
from bot.private import PrivateNotes, Reach
from bot.stats.service import StatsService
from bot.support.buttons import SupportAction, SupportCallback
from bot.support.service import Question, RelayOutcome, SupportService
from bot.texts import TEXT_LIMIT, utf16_length
from bot.topics import thread_of
from storage.chats import KnownChat
from storage.faq import Delivered, Ticket

logger = logging.getLogger(__name__)

# The member's words inline in the relay, at most: the header (a name of up to 64 characters, a
# chat title of up to 128, a link, a sentence in the staff's language) must fit beside them in
# one message of 4,096.
INLINE_TEXT_LIMIT = TEXT_LIMIT - 1000


def paired(ids: Sequence[int], copies: Sequence[MessageId]) -> list[tuple[int, int | None]]:
    """Each message id with its copy's, in order. copyMessages skips a message it cannot copy
    (deleted meanwhile) wherever it is in the album and does not say which: with fewer copies
    the pairs after a skipped part are off by one and the last ids have none. Every copy still
    belongs to the same ticket, which is what replies and re-copies look up."""
    return list(zip_longest(ids, [c.message_id for c in copies][: len(ids)]))


def question_of(message: Message) -> Question:
    member = message.from_user
    assert member is not None
    return Question(
        member_id=member.id,
        member_name=member.full_name,
        language=member.language_code,
        chat_id=message.chat.id,
        message_id=message.message_id,
        text=message.text or message.caption or "",
        thread_id=thread_of(message),
    )


def fits_inline(text: str) -> bool:
    """Whether the member's words fit in the relay beside its header; a longer message (like
    media) is copied under the header instead, so the staff read all of it."""
    return 0 < utf16_length(text) <= INLINE_TEXT_LIMIT


def relay_text(
    message: Message, ticket_id: int, question: Question, *, edited: bool = False
) -> str:
    private = message.chat.type == "private"
    return _relay_text(
        ticket_id,
        question.member_id,
        question.member_name,
        None if private else (message.chat.title or str(message.chat.id)),
        question.text,
        None
        if private
        else message_link(message.chat.id, message.chat.username, message.message_id),
        edited=edited,
    )


def _relay_text(
    ticket_id: int,
    member_id: int,
    member_name: str,
    chat_title: str | None,
    text: str,
    link: str | None,
    *,
    edited: bool = False,
) -> str:
    """The header staff reply to; `chat_title` None: asked in private."""
    who = f'<a href="tg://user?id={member_id}">{html.escape(member_name)}</a>'
    where = _("in {chat}").format(chat=html.escape(chat_title)) if chat_title else _("in private")
    lines = [
        _("❓ #{ticket} from {who} (id {id}) {where}:").format(
            ticket=ticket_id, who=who, id=member_id, where=where
        )
    ]
    if fits_inline(text):
        lines.append(html.escape(text))
    if link:
        lines.append(link)
    if edited:
        lines.append(_("✏️ Edited by the member."))
    lines.append(_("Reply to this message to answer; /block to stop this member's messages."))
    return "\n".join(lines)


async def relay_again(
    bot: Bot, support: SupportService, ticket: Ticket, support_chat_id: int, chat: KnownChat | None
) -> None:
    """An open ticket whose support chat was upgraded: nobody can reply to a message sent
    before an upgrade, so its relay is posted again in the new chat (text only; `chat` is where
    it was asked, None for private). The caller sets the language."""
    private = ticket.chat_id > 0
    title = None if private else ((chat.title if chat else None) or str(ticket.chat_id))
    link = (
        message_link(ticket.chat_id, chat.username if chat else None, ticket.question_message_id)
        if not private and ticket.question_message_id
        else None
    )
    relay = await bot.send_message(
        support_chat_id,
        _relay_text(
            ticket.id,
            ticket.member_id,
            ticket.member_name or str(ticket.member_id),
            title,
            ticket.question,
            link,
        ),
    )
    await support.relayed(ticket.id, relay.chat.id, relay.message_id)


def cool_down_notice() -> str:
    """What a member who wrote to the team too often is told, once, where they wrote."""
    return _(
        "You have sent several messages in a short time. The team will answer; please "
        "wait a little before writing again."
    )


async def relay_to_support(
    message: Message,
    bot: Bot,
    support: SupportService,
    locale_for: LocaleFor,
    stats: StatsService | None = None,
    *,
    album: Sequence[Message] = (),
) -> RelayOutcome:
    """Hand a member's message (or the parts of their album) to the staff, media shown under
    a header, and say how it went. The header speaks the support chat's language: the staff
    read it, not the member."""
    parts = list(album) or [message]
    message = parts[0]
    question = question_of(message)
    if len(parts) > 1:  # an album's caption may sit on any of its parts
        question = replace(question, text=next((p.caption for p in parts if p.caption), ""))
    plan = await support.open(question)
    if plan.outcome is not RelayOutcome.SENT:
        return plan.outcome
    assert plan.ticket_id is not None and plan.support_chat_id is not None
    with I18n.get_current(no_error=False).use_locale(await locale_for(plan.support_chat_id)):
        text = relay_text(message, plan.ticket_id, question)
    try:
        relay = await bot.send_message(plan.support_chat_id, text)
    except TelegramAPIError as exc:
        logger.warning("support chat %s unreachable: %s", plan.support_chat_id, exc)
        return RelayOutcome.FAILED
    copy_id = None
    ids = [p.message_id for p in parts]
    try:
        if len(parts) > 1:  # an album stays one album (copyMessages cannot reply)
            copies = await bot.copy_messages(plan.support_chat_id, message.chat.id, ids)
            copy_id = copies[0].message_id
            await support.album_relayed(plan.ticket_id, message.chat.id, paired(ids, copies))
        elif not (message.text and fits_inline(message.text)):  # media, or long: under it
            copy = await bot.copy_message(
                plan.support_chat_id,
                message.chat.id,
                message.message_id,
                reply_parameters=ReplyParameters(message_id=relay.message_id),
            )
            copy_id = copy.message_id
    except TelegramAPIError as exc:  # the header still names the member and links it
        logger.warning("could not copy %s to support: %s", message.message_id, exc)
        if len(parts) > 1:  # an edit may copy it yet
            await support.album_relayed(plan.ticket_id, message.chat.id, [(i, None) for i in ids])
    await support.relayed(plan.ticket_id, relay.chat.id, relay.message_id, copy_id)
    if stats is not None and message.chat.type != "private":
        stats.collector.bump(message.chat.id, "faq_escalated")
    return RelayOutcome.SENT


async def follow_edit(
    message: Message, bot: Bot, support: SupportService, locale_for: LocaleFor
) -> bool:
    """A member edited a message the staff have: the relay shows the new words (its header is
    the bot's own message, so it is edited in place, marked as edited), and media or a long
    text is copied again under it, the old copy deleted so nobody answers the stale one. A
    complaint's relay, or one that cannot be edited any more, gets a note under it instead
    (staff reply to what they see last: a reply to the note answers too). False when the
    message never reached the staff."""
    question = question_of(message)
    found = await support.edited(question)
    ticket = found.ticket if found is not None else None
    header = ticket.relay_message_id if ticket is not None else None
    if found is None or ticket is None or header is None:
        return False
    if found.parts:  # an album's words are its caption, whichever part was edited
        question = replace(question, text=ticket.question)
    desk = ticket.support_chat_id
    with I18n.get_current(no_error=False).use_locale(await locale_for(desk)):
        text = relay_text(message, ticket.id, question, edited=True)
        note = "\n".join(
            [
                _("✏️ {name} edited the message of #{ticket}:").format(
                    name=html.escape(question.member_name), ticket=ticket.id
                ),
                html.escape(question.text) if fits_inline(question.text) else "",
            ]
        ).strip()
    in_place = False
    if not found.complaint:
        try:
            await edit_or_same(bot.edit_message_text(text, chat_id=desk, message_id=header))
            in_place = True
        except TelegramAPIError as exc:
            logger.info("relay of ticket %s not edited: %s", ticket.id, exc)
    note_id = None
    if not in_place:
        try:
            sent = await bot.send_message(
                desk,
                note,
                reply_parameters=ReplyParameters(
                    message_id=header, allow_sending_without_reply=True
                ),
            )
        except TelegramAPIError as exc:
            logger.warning("edit of ticket %s not told to %s: %s", ticket.id, desk, exc)
            return True
        note_id = sent.message_id
    if found.parts:
        await recopy_album(message, bot, support, ticket, found.parts, note_id)
        return True
    if message.media_group_id is not None:
        return True  # a part of an album relayed before its parts were kept: header only
    if note_id is not None and not found.complaint:
        # the header could not be edited: deleted, so the note stands in for it (the relay a
        # reply answers, and what a later edit edits), and a new copy can take the copy's slot
        header = note_id
    old_copy, new_copy = ticket.relay_copy_id, None
    try:
        if not (message.text and fits_inline(message.text)):  # media, or long: under it again
            copy = await bot.copy_message(
                desk,
                message.chat.id,
                message.message_id,
                reply_parameters=ReplyParameters(
                    message_id=header, allow_sending_without_reply=True
                ),
            )
            new_copy = copy.message_id
    except TelegramAPIError as exc:
        logger.warning("could not copy the edit of %s to support: %s", message.message_id, exc)
        if note_id is not None:  # the old copy still takes replies, and the note too
            await support.relayed(ticket.id, desk, header, old_copy or note_id)
        return True
    if old_copy is not None:
        with contextlib.suppress(TelegramAPIError):
            await bot.delete_message(desk, old_copy)
    # a reply to the note answers the ticket too, as one to a copy does
    await support.relayed(ticket.id, desk, header, new_copy or note_id)
    return True


async def recopy_album(
    message: Message,
    bot: Bot,
    support: SupportService,
    ticket: Ticket,
    parts: Sequence[tuple[int, int | None]],
    note_id: int | None,
) -> None:
    """A member edited a part of their album: the whole album is copied again (Telegram copies
    each part as it is now, the edited caption with it; one part cannot go back into an album)
    and the old copies deleted, so nobody answers the stale one."""
    desk, ids = ticket.support_chat_id, [part for part, _ in parts]
    try:
        copies = await bot.copy_messages(desk, message.chat.id, ids)
    except TelegramAPIError as exc:  # the old copies still take replies, the note too
        logger.warning("could not copy the edited album of ticket %s: %s", ticket.id, exc)
        if note_id is not None and ticket.relay_message_id is not None:
            await support.relayed(ticket.id, desk, ticket.relay_message_id, note_id)
        return
    old = [copy for _, copy in parts if copy is not None]
    if old:
        with contextlib.suppress(TelegramAPIError):
            await bot.delete_messages(desk, old)
    await support.album_relayed(ticket.id, message.chat.id, paired(ids, copies))
    assert ticket.relay_message_id is not None
    # the new copies answer through their parts; the ticket's one copy slot keeps the note (the
    # staff's newest sight of the question, under a header that could not be edited), else the
    # album's first part
    kept = note_id if note_id is not None else (copies[0].message_id if copies else None)
    await support.relayed(ticket.id, desk, ticket.relay_message_id, kept)


async def ticket_replied_to(message: Message, bot: Bot, support: SupportService) -> Ticket | None:
    """The ticket when `message` is a staff reply to one of the bot's relayed questions."""
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or reply.from_user.id != bot.id:
        return None
    if (message.text or "").startswith("/"):
        return None
    return await support.ticket_for_reply(message.chat.id, reply.message_id)


async def deliver_staff_reply(
    message: Message,
    ticket: Ticket,
    bot: Bot,
    support: SupportService,
    notes: PrivateNotes,
    *,
    album: Sequence[Message] = (),
) -> None:
    """The staff's answer (a message, or the parts of an album, which stays one album) copied
    to the member, under their question; the staff hear whether it arrived, and may add the
    pair to the FAQ (not an album: an FAQ answer is one message)."""
    parts = list(album) or [message]
    message = parts[0]
    member_chat = ticket.chat_id
    reply_to = (
        ReplyParameters(message_id=ticket.question_message_id, allow_sending_without_reply=True)
        if ticket.question_message_id  # 0: asked in a group since upgraded
        else None
    )

    ids = [p.message_id for p in parts]
    delivered: list[tuple[int, int]] = []

    async def copy(message_thread_id: int | None = None) -> object:
        if len(parts) > 1:  # copyMessages keeps the album, but cannot reply
            copies = await bot.copy_messages(
                member_chat, message.chat.id, ids, message_thread_id=message_thread_id
            )
            delivered[:] = [(i, c) for i, c in paired(ids, copies) if c is not None]
            return copies
        sent = await bot.copy_message(
            member_chat,
            message.chat.id,
            message.message_id,
            reply_parameters=reply_to,
            message_thread_id=message_thread_id,
        )
        delivered[:] = [(message.message_id, sent.message_id)]
        return sent

    name = html.escape(ticket.member_name or str(member_chat))
    if member_chat > 0:  # asked in private: a note Telegram may refuse (blocked, deleted)
        result = await notes.deliver(member_chat, copy)
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
        try:  # a topic deleted meanwhile: General, not nowhere
            await in_topic(copy, member_chat, ticket.thread_id)
            error = None
        except TelegramAPIError as exc:
            error = exc.message
    if error is not None:
        await message.reply(
            _("Could not deliver the answer: {error}").format(error=html.escape(error))
        )
        return
    assert message.from_user is not None
    await support.answered(
        ticket,
        message.from_user.id,
        message.chat.id,
        message.message_id,
        message.html_text if message.text else "",
    )
    await support.delivered(ticket, message.chat.id, delivered)
    confirmation = _("✅ Delivered to {name}.").format(name=html.escape(ticket.member_name or "?"))
    if len(parts) > 1:
        said = await message.reply(confirmation)
    else:
        add = InlineKeyboardBuilder()
        add.button(
            text=_("➕ Add to FAQ"),
            callback_data=SupportCallback(op=SupportAction.ADD_TO_FAQ, ticket=ticket.id),
        )
        said = await message.reply(confirmation, reply_markup=add.as_markup())
    # staff reply to what they see last: a reply to the confirmation answers the same member
    await support.confirmed(ticket, said.chat.id, said.message_id)


async def follow_staff_edit(message: Message, bot: Bot, support: SupportService) -> bool:
    """A staff member edited a reply the member already got: the member's copy is edited to
    the new words (text, or a caption), and "Add to FAQ" takes them. A copy that can no longer
    be edited (the member deleted it, or blocked the bot) is told to the staff member, who may
    send the correction as a new reply; one left behind in a group since upgraded comes to the
    member in the new chat as a new message (`pass_on_anew`). False when the message was never
    delivered."""
    found = await support.delivered_copy(message.chat.id, message.message_id)
    if found is None:
        return False
    words = message.html_text if (message.text or message.caption) else ""
    upgraded = support.new_id_of(found.member_chat_id)
    error: str | None = None
    if upgraded is None:
        refused = await edit_copy(message, bot, words, found)
        if isinstance(refused, TelegramMigrateToChat):  # upgraded, and now the bot knows
            upgraded = refused.migrate_to_chat_id
        else:
            error = refused
    if upgraded is not None:  # the copy stayed in the old group, which takes no calls
        error = await pass_on_anew(message, bot, support, found, upgraded)
    ticket = await support.answer_edited(
        found.ticket_id, message.chat.id, message.message_id, words if message.text else ""
    )
    if error is not None:
        name = (ticket.member_name if ticket else None) or str(found.member_chat_id)
        await message.reply(
            _(
                "Could not change the answer {name} got: {error}. "
                "Reply to their question again to send the correction."
            ).format(name=html.escape(name), error=html.escape(error))
        )
    return True


async def edit_copy(
    message: Message, bot: Bot, words: str, found: Delivered
) -> str | TelegramMigrateToChat | None:
    """The member's copy edited to the staff message's new words (text, or a caption); None
    when done, else why not (an upgraded group's refusal as it came)."""
    try:
        if message.text is not None:
            edit = bot.edit_message_text(
                words, chat_id=found.member_chat_id, message_id=found.message_id
            )
        else:
            edit = bot.edit_message_caption(
                chat_id=found.member_chat_id, message_id=found.message_id, caption=words
            )
        await edit_or_same(edit)
    except TelegramMigrateToChat as exc:
        return exc
    except TelegramAPIError as exc:
        return exc.message
    return None


async def pass_on_anew(
    message: Message, bot: Bot, support: SupportService, found: Delivered, chat_id: int
) -> str | None:
    """A staff edit of an answer delivered to a group before it became the supergroup
    `chat_id`: the old copy cannot be edited (the old group takes no calls, and its message
    ids mean nothing in the new chat), so the edited message comes to the member there as a
    new one, which later edits then edit. The error when that fails too."""
    try:
        copy = await bot.copy_message(chat_id, message.chat.id, message.message_id)
    except TelegramAPIError as exc:
        return exc.message
    await support.delivered_again(
        found, message.chat.id, message.message_id, chat_id, copy.message_id
    )
    return None
