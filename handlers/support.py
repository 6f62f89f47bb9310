"""The support desk: members' private messages to the team, staff replies from a private
support chat, /setsupport, /block and /unblock, and "➕ Add to FAQ".

Group messages reach the desk through the FAQ stage (`handlers.faq.GroupMessagesMiddleware`);
what is decided lives in `bot.support.service`, what is sent in `bot.support.relay`.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, ChatFullInfo, Message
from aiogram.utils.i18n import gettext as _

from bot.commands import on_command
from bot.config import Settings
from bot.faq.delivery import send_reply
from bot.faq.questions import looks_like_question
from bot.faq.service import Asked, FaqService, ReplyKind
from bot.guards import accessible_message, sender
from bot.i18n import LocaleFor
from bot.membership import is_member
from bot.middlewares import role_refusal
from bot.posting.albums import AlbumCollector
from bot.private import PrivateNotes
from bot.roles import Requirement, Roles, RoleService, is_anonymous_admin_message
from bot.support.buttons import SupportCallback
from bot.support.relay import (
    cool_down_notice,
    deliver_staff_reply,
    follow_edit,
    follow_staff_edit,
    relay_to_support,
    ticket_replied_to,
)
from bot.support.service import DeskAccess, FaqAddOutcome, RelayOutcome, SupportService
from bot.texts import typed_chat_id
from storage.faq import Ticket

logger = logging.getLogger(__name__)


# --- members in private ------------------------------------------------------------------------


async def is_private_member_message(message: Message, role_service: RoleService) -> bool:
    """What members (not managers, whose messages become posts) write to the bot in private."""
    return (
        message.chat.type == "private"
        and message.from_user is not None
        and not role_service.is_manager(message.from_user.id)
        and not (message.text or "").startswith("/")
    )


async def answer_privately(
    message: Message, bot: Bot, faq: FaqService, locale_for: LocaleFor
) -> bool:
    """A sure FAQ answer at once; False when the staff should take the message. A photo's or
    document's caption asks as a text does (a screenshot with its question), as in groups."""
    text = message.text or message.caption or ""
    if not text or not looks_like_question(text):
        return False

    async def chat_default() -> str:
        return await locale_for(message.chat.id)

    user_language = sender(message).language_code
    reply = await faq.answer(text, None, user_language, chat_default, Asked.PRIVATE)
    if reply.kind is not ReplyKind.ANSWER:
        return False
    # with `faq` an edit of the question is checked again (handlers.faq.question_edited)
    return await send_reply(bot, reply, message.chat.id, message.message_id, faq=faq) is not None


async def private_to_relay(
    message: Message,
    bot: Bot,
    faq: FaqService,
    support: SupportService,
    locale_for: LocaleFor,
    albums: AlbumCollector,
) -> None:
    """A member writing to the bot in private: a sure FAQ answer at once, else to the staff;
    an album goes as one question (one ticket, one acknowledgement)."""
    parts = await albums.collect(message)
    if parts is None:
        return  # a later part of an album: its first part relays them all
    if await support.is_staff_chat(message.chat.id):  # a private desk's owner: staff, no member
        await message.reply(
            _("This chat is the support desk: reply to a relayed question to answer its member.")
        )
        return
    if await answer_privately(message, bot, faq, locale_for):
        return
    outcome = await relay_to_support(message, bot, support, locale_for, album=parts)
    if outcome is RelayOutcome.SENT:
        await message.reply(_("✉️ Sent to the team. Their answer will come here."))
    elif outcome is RelayOutcome.LIMITED:
        await message.reply(cool_down_notice())
    elif outcome in {RelayOutcome.NO_SUPPORT, RelayOutcome.FAILED}:
        await message.reply(_("Sorry, no one can answer messages here yet. Try /help."))
    # BLOCKED, STILL_LIMITED: no answer, by design


async def edited_by_a_person(message: Message) -> bool:
    """An edit by a person in private or in a group (not a bot, not a chat identity), or by
    an anonymous admin (a support group's staff may answer as their group)."""
    user = message.from_user
    return message.chat.type in {"private", "group", "supergroup"} and (
        is_anonymous_admin_message(message)
        or (user is not None and not user.is_bot and message.sender_chat is None)
    )


async def message_edited(
    message: Message, bot: Bot, support: SupportService, locale_for: LocaleFor
) -> None:
    """A staff member fixed a reply the member already got: the member's copy changes. A member
    fixed a message the staff already have: they see the new words."""
    if await follow_staff_edit(message, bot, support):
        return
    if message.sender_chat is None:
        await follow_edit(message, bot, support, locale_for)


# --- staff ---------------------------------------------------------------------------------------


async def staff_reply(message: Message, bot: Bot, support: SupportService) -> bool | dict[str, Any]:
    """Filter: a reply in a support chat to one of the bot's relayed questions; hands the ticket
    to the handler."""
    ticket = await ticket_replied_to(message, bot, support)
    return {"ticket": ticket} if ticket is not None else False


async def staff_reply_in_private(
    message: Message,
    ticket: Ticket,
    bot: Bot,
    support: SupportService,
    notes: PrivateNotes,
    albums: AlbumCollector,
) -> None:
    parts = await albums.collect(message)
    if parts is not None:  # None: a later part of an album its first part delivers
        await deliver_staff_reply(message, ticket, bot, support, notes, album=parts)


async def support_pressed(
    query: CallbackQuery,
    callback_data: SupportCallback,
    support: SupportService,
    faq: FaqService,
    settings: Settings,
    locale_for: LocaleFor,
) -> None:
    """ "➕ Add to FAQ": the member's wording becomes a phrasing, the staff reply its answer."""
    pressed_in = query.message.chat.id if query.message is not None else None
    added = await support.add_to_faq(
        callback_data.ticket, pressed_in, query.from_user.id, faq, settings.languages, locale_for
    )
    if added.outcome is FaqAddOutcome.GONE:
        await query.answer(_("This question is gone."), show_alert=True)
    elif added.outcome is FaqAddOutcome.ALREADY:
        await query.answer(
            _("Already in the FAQ as #{id}.").format(id=added.entry_id), show_alert=True
        )
    elif added.outcome is FaqAddOutcome.NOT_TEXT:
        await query.answer(
            _("Only a text question with an answer can go into the FAQ."), show_alert=True
        )
    elif added.outcome is FaqAddOutcome.RACE:
        await query.answer()
    else:
        await accessible_message(query).edit_text(
            _("✅ Delivered and added to the FAQ as #{id}.").format(id=added.entry_id)
        )
        await query.answer(_("Added to the FAQ."))


async def answers_in(bot: Bot, chat: ChatFullInfo, user_id: int) -> bool:
    """Whether this person can answer questions in `chat`: a member of that group, or the owner
    of that private chat. A route makes its target a staff chat (its own questions are no
    longer answered there), so an admin may only route to a chat they are in."""
    if chat.type == "private":
        return chat.id == user_id
    try:
        member = await bot.get_chat_member(chat.id, user_id)
    except TelegramAPIError:
        return False
    return is_member(member.status, getattr(member, "is_member", None))


async def route_refusal(
    message: Message, bot: Bot, target: ChatFullInfo, role_service: RoleService
) -> str | None:
    """Why this chat's questions may not go to `target`, or None: not to the chat itself (its
    FAQ would fall silent), and only to a chat the admin answers in (managers: anywhere)."""
    if target.id == message.chat.id:
        return _(
            "Questions asked here need another chat: the id of the chat where your staff answer."
        )
    if role_service.is_manager(sender(message).id):
        return None
    if is_anonymous_admin_message(message):
        return _("Send this without posting as the group: I need to see that you are in that chat.")
    if not await answers_in(bot, target, sender(message).id):
        return _("You are not in that chat. Use the id of a chat where you answer questions.")
    return None


async def setsupport_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    support: SupportService,
    role_service: RoleService,
) -> None:
    arg = (command.args or "").strip()
    if not arg:
        current = await support.support_chat_for(message.chat.id)
        await message.reply(
            _("Unanswered questions from this chat go to {chat}.").format(chat=current)
            if current
            else html.escape(
                _("No support chat is set. Use /setsupport <chat id> (add me to that chat first).")
            )
        )
        return
    if arg.lower() in {"off", "none", "-"}:
        await support.set_route(message.chat.id, None)
        await message.reply(_("This chat now uses the default support chat, if any."))
        return
    try:
        target = await bot.get_chat(typed_chat_id(arg) or arg)
    except (TelegramAPIError, ValueError):
        await message.reply(
            _("I can't reach that chat. Add me to it first, then use its id (e.g. -100123…).")
        )
        return
    refusal = await route_refusal(message, bot, target, role_service)
    if refusal is not None:
        await message.reply(refusal)
        return
    await support.set_route(message.chat.id, target.id)
    await message.reply(
        _("Unanswered questions from this chat now go to {title}.").format(
            title=html.escape(target.title or str(target.id))
        )
    )


async def block_command(
    message: Message, command: CommandObject, support: SupportService, roles: Roles
) -> None:
    """/block and /unblock in a support chat, by its staff (`SupportService.desk_access`):
    reply to a relayed question, or give a user id."""
    own_private_chat = message.chat.type == "private" and sender(message).id == message.chat.id
    access = await support.desk_access(message.chat.id, own_private_chat, roles)
    if access is DeskAccess.NOT_STAFF:
        await message.reply(role_refusal(Requirement.ADMIN_OR_MANAGER, message.chat.type))
        return
    if access is DeskAccess.NOT_A_DESK:
        await message.reply(_("This command works in the support chat."))
        return
    replied = message.reply_to_message
    member_id = await support.member_to_block(
        message.chat.id,
        (command.args or "").strip(),
        replied.message_id if replied is not None else None,
    )
    if member_id is None:
        await message.reply(
            html.escape(
                _("Reply to a relayed question with /{command}, or give a user id.")
            ).format(command=command.command)
        )
        return
    if command.command == "block":
        await support.block(member_id, sender(message).id)
        await message.reply(
            _("🚫 {id} can no longer write to the team. /unblock {id} undoes it.").format(
                id=member_id
            )
        )
    elif await support.unblock(member_id):
        await message.reply(_("✅ {id} can write to the team again.").format(id=member_id))
    else:
        await message.reply(_("{id} was not blocked.").format(id=member_id))


# --- routers ------------------------------------------------------------------------------------


def create_router() -> Router:
    router = Router(name="support")
    m = router.message
    # a support "chat" may be one staff member's private chat: replies there come this way
    m.register(staff_reply_in_private, staff_reply)
    on_command(m, setsupport_command, "setsupport")
    on_command(m, block_command, "block", "unblock", role_by_service=True)
    router.callback_query.register(support_pressed, SupportCallback.filter())
    router.edited_message.register(message_edited, edited_by_a_person)
    return router


def create_relay_router() -> Router:
    """Members' private messages to the team; after every other private-chat feature."""
    router = Router(name="support-relay")
    router.message.register(private_to_relay, is_private_member_message)
    return router
