"""Reputation watch: complaints to the support chat, /watch, mood alerts and 👎 reactions.

- `ReputationMiddleware` (outer, on messages, inside the FAQ stage): every ordinary group
  message from a person goes through `ReputationService.observe`; a complaint becomes a priority
  ticket in the support chat (and the FAQ stage then leaves the message alone), a watched
  mention is stored for the digest (and noted to managers at once when it is a complaint), a
  mood spike is noted to managers.
- `create_router()`: /watch, /unwatch, /watches (managers, in private), the "not a complaint"
  and undo buttons, and `message_reaction` updates (👎 counts).
- `ReputationNotes`: what goes to managers in private, in their language.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    MessageReactionUpdated,
    ReactionTypeEmoji,
    ReactionTypeUnion,
)
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.commands import on_command
from bot.config import Settings
from bot.data import typed
from bot.guards import accessible_message, sender
from bot.i18n import LocaleFor
from bot.links import message_link
from bot.middlewares import LeftoverGroupMessages, is_command_text
from bot.reputation.mood import DISLIKE
from bot.reputation.notes import (
    NO_PREVIEW,
    TEXT_LIMIT,
    ReputationAction,
    ReputationCallback,
    ReputationNotes,
)
from bot.reputation.service import (
    DismissOutcome,
    GroupMessage,
    Observation,
    ReputationService,
    WatchOutcome,
)
from bot.reputation.watch import MAX_TERM, MAX_WATCHES, Watch, WatchArgsError, parse_watch_args
from bot.texts import pack_lines, typed_chat_id
from bot.topics import thread_of

logger = logging.getLogger(__name__)


# --- group messages -----------------------------------------------------------------------------


class ReputationMiddleware(LeftoverGroupMessages):
    """Outer middleware on messages, registered after (so inside) the FAQ stage: it sees a
    group message once no router took it, and tells the FAQ stage when the message became a
    complaint ticket (`data["complaint_ticket"]`), so one message never makes two tickets."""

    def __init__(self, service: ReputationService, notes: ReputationNotes) -> None:
        self.service = service
        self.notes = notes

    async def leftover(self, event: Message, data: dict[str, Any]) -> None:
        text = event.text or event.caption or ""
        if not text or await typed(data)["support"].is_staff_chat(event.chat.id):
            return  # nothing to read, or staff talking among themselves
        user = sender(event)
        message = GroupMessage(
            chat_id=event.chat.id,
            chat_title=event.chat.title or str(event.chat.id),
            message_id=event.message_id,
            user_id=user.id,
            user_name=user.full_name,
            language=user.language_code,
            text=text,
            thread_id=thread_of(event),
        )
        try:
            seen = await self.service.observe(message)
            await self._act(event, message, seen, data)
        except Exception:  # the watch must never cost a member their FAQ answer
            logger.exception("reputation: could not handle message %s", event.message_id)

    async def _act(
        self, event: Message, message: GroupMessage, seen: Observation, data: dict[str, Any]
    ) -> None:
        services = typed(data)
        if seen.complaint_id is not None:
            sent = await relay_complaint(
                event,
                message,
                seen.complaint_id,
                services["bot"],
                self.service,
                services["locale_for"],
            )
            if sent:
                services["complaint_ticket"] = True
        if seen.is_complaint and seen.mentions:
            await self.notes.mention_complaint(message, event.chat.username, seen.mentions)
        if seen.spike is not None:
            await self.notes.spike(message.chat_id, message.chat_title, seen.spike)


async def relay_complaint(
    event: Message,
    message: GroupMessage,
    complaint_id: int,
    bot: Bot,
    service: ReputationService,
    locale_for: LocaleFor,
) -> bool:
    """The complaint as a priority ticket in the support chat; staff answer it by replying, as
    any relayed question, and a button tells the classifier it was not a complaint. Like any
    relayed question, it speaks the support chat's language: the staff read it, not the member."""
    support_chat = await service.support_chat_for(message.chat_id)
    if support_chat is None:
        return False
    ticket_id = await service.open_ticket(message, complaint_id, support_chat)
    if ticket_id is None:
        return False
    with I18n.get_current(no_error=False).use_locale(await locale_for(support_chat)):
        text, keyboard = _complaint_relay(event, message, ticket_id, complaint_id)
    try:
        relay = await bot.send_message(
            support_chat, text, reply_markup=keyboard, link_preview_options=NO_PREVIEW
        )
    except TelegramAPIError as exc:
        logger.warning("support chat %s unreachable for a complaint: %s", support_chat, exc)
        return False
    await service.relayed(ticket_id, relay.chat.id, relay.message_id)
    return True


def _complaint_relay(
    event: Message, message: GroupMessage, ticket_id: int, complaint_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The relay's text and its button, in whatever language is current: the caller's choice."""
    who = f'<a href="tg://user?id={message.user_id}">{html.escape(message.user_name)}</a>'
    lines = [
        _("⚠️ complaint #{ticket} from {who} (id {id}) in {chat}:").format(
            ticket=ticket_id,
            who=who,
            id=message.user_id,
            chat=html.escape(message.chat_title),
        ),
        html.escape(message.text),
    ]
    link = message_link(message.chat_id, event.chat.username, message.message_id)
    if link:
        lines.append(link)
    lines.append(_("Reply to this message to answer; /block to stop this member's messages."))
    keyboard = InlineKeyboardBuilder()
    keyboard.button(
        text=_("🙂 Not a complaint"),
        callback_data=ReputationCallback(action=ReputationAction.NOT_COMPLAINT, item=complaint_id),
    )
    return "\n".join(lines), keyboard.as_markup()


# --- buttons -----------------------------------------------------------------------------------


async def reputation_pressed(
    query: CallbackQuery,
    callback_data: ReputationCallback,
    reputation: ReputationService,
    settings: Settings,
) -> None:
    message = query.message
    if callback_data.action is ReputationAction.RESTORE_WATCH:
        if not settings.is_manager(query.from_user.id):
            await query.answer(_("Only Steward's managers can do this."), show_alert=True)
            return
        watch = reputation.removed.pop(callback_data.item, None)
        if watch is None:
            await query.answer(_("Nothing to undo."), show_alert=True)
            return
        await reputation.restore_watch(watch)
        if message is not None:
            await accessible_message(query).edit_text(
                _("↩️ Watching «{term}» again.").format(term=html.escape(watch.term))
            )
        await query.answer()
        return
    complaint = await reputation.complaint(callback_data.item)
    if (
        complaint is None
        or message is None
        or message.chat.id
        not in {
            await reputation.relayed_in(complaint),
            await reputation.support_chat_for(complaint.chat_id),
            settings.support_chat_id,
        }
    ):
        await query.answer(_("This complaint is gone."), show_alert=True)
        return
    outcome = await reputation.dismiss(complaint.id, query.from_user.id)
    if outcome is DismissOutcome.ALREADY:
        await query.answer(_("Already marked as not a complaint."))
        return
    if outcome is DismissOutcome.GONE:
        await query.answer(_("This complaint is gone."), show_alert=True)
        return
    note = _("🙂 Marked as not a complaint by {name}; I will learn from it.").format(
        name=html.escape(query.from_user.full_name)
    )
    shown = accessible_message(query)
    try:
        await shown.edit_text(f"{shown.html_text}\n\n{note}", link_preview_options=NO_PREVIEW)
    except TelegramAPIError as exc:  # too old to edit, or the text grew past the limit
        logger.info("complaint relay not edited: %s", exc)
    await query.answer(_("Thanks, I will not flag messages like this one."))


# --- /watch, /unwatch, /watches ------------------------------------------------------------------


def watch_usage() -> str:
    return html.escape(
        _(
            "Usage: /watch <word or phrase> [@chat|chat id]\n"
            "I then note every message that mentions it in the chats I am in (all of them, or "
            "only the one you name): a daily digest of mentions, and at once when a mention is "
            "a complaint. /watches lists them, /unwatch <id or term> stops one.\n"
            "Example: /watch Acme Phone"
        )
    )


async def _watch_place(bot: Bot, watch: Watch) -> str | None:
    """The title of the chat a watch is limited to (None: everywhere)."""
    if watch.chat_id is None:
        return None
    try:
        title = (await bot.get_chat(watch.chat_id)).title
    except TelegramAPIError:
        title = None
    return title or str(watch.chat_id)


def describe_watch(watch: Watch, title: str | None) -> str:
    where = html.escape(title) if title else _("everywhere")
    return f"#{watch.id} «{html.escape(watch.term)}» · {where}"


async def watch_command(
    message: Message, command: CommandObject, bot: Bot, reputation: ReputationService
) -> None:
    request = parse_watch_args(command.args or "")
    if isinstance(request, WatchArgsError):
        errors = {
            WatchArgsError.EMPTY: "",
            WatchArgsError.TOO_SHORT: _("A watched term needs at least 2 characters."),
            WatchArgsError.TOO_LONG: ngettext(
                "A watched term can be at most {n} character.",
                "A watched term can be at most {n} characters.",
                MAX_TERM,
            ).format(n=MAX_TERM),
        }
        problem = errors[request]
        await message.reply((problem + "\n\n" if problem else "") + watch_usage())
        return
    chat_id = None
    title = None
    if request.chat is not None:
        try:
            chat = await bot.get_chat(typed_chat_id(request.chat) or request.chat)
        except TelegramAPIError:
            await message.reply(
                _("I can't see {chat}. Add me to it first: I only read chats I am in.").format(
                    chat=html.escape(request.chat)
                )
            )
            return
        chat_id, title = chat.id, chat.title or request.chat
    added = await reputation.add_watch(request.term, chat_id, sender(message).id)
    if added.outcome is WatchOutcome.DUPLICATE:
        await message.reply(_("Already watching that as #{id}.").format(id=added.watch_id))
        return
    if added.outcome is WatchOutcome.TOO_MANY:
        await message.reply(
            ngettext(
                "You can watch at most {n} term; /unwatch it first.",
                "You can watch at most {n} terms; /unwatch one first.",
                MAX_WATCHES,
            ).format(n=MAX_WATCHES)
        )
        return
    where = html.escape(title) if title else _("every chat I am in")
    await message.reply(
        _(
            "🔎 Watching «{term}» (#{id}) in {where}. Mentions come in the daily digest; a "
            "mention that is a complaint comes at once."
        ).format(term=html.escape(request.term), id=added.watch_id, where=where)
    )


async def unwatch_command(
    message: Message, command: CommandObject, bot: Bot, reputation: ReputationService
) -> None:
    arg = (command.args or "").strip()
    if not arg:
        await message.reply(html.escape(_("Usage: /unwatch <id or term>; /watches lists them.")))
        return
    found = reputation.find_watches(arg)
    if not found:
        await message.reply(_("No such watch. /watches lists them."))
        return
    if len(found) > 1:
        lines = [
            _("«{term}» is watched in several places; stop one by its id:").format(
                term=html.escape(found[0].term)
            )
        ]
        lines += [describe_watch(w, await _watch_place(bot, w)) for w in found]
        lines.append(_("Example: /unwatch {id}").format(id=found[0].id))
        await message.reply("\n".join(lines))
        return
    watch = found[0]
    await reputation.remove_watch(watch)
    reputation.removed[watch.id] = watch
    keyboard = InlineKeyboardBuilder()
    keyboard.button(
        text=_("↩️ Undo"),
        callback_data=ReputationCallback(action=ReputationAction.RESTORE_WATCH, item=watch.id),
    )
    await message.reply(
        _("Stopped watching «{term}».").format(term=html.escape(watch.term)),
        reply_markup=keyboard.as_markup(),
    )


async def watches_command(message: Message, bot: Bot, reputation: ReputationService) -> None:
    watches = reputation.watches
    if not watches:
        await message.reply(html.escape(_("Nothing is watched yet. Add a term: /watch <term>")))
        return
    lines = [_("🔎 Watched terms:")]
    for watch in watches:
        lines.append(describe_watch(watch, await _watch_place(bot, watch)))
    for text in pack_lines(lines, TEXT_LIMIT):  # up to 100 terms: more than one message
        await message.reply(text)


# --- reactions ----------------------------------------------------------------------------------


def has_dislike(reactions: Iterable[ReactionTypeUnion]) -> bool:
    return any(isinstance(r, ReactionTypeEmoji) and r.emoji == DISLIKE for r in reactions)


async def reaction_changed(
    event: MessageReactionUpdated, reputation: ReputationService, reputation_notes: ReputationNotes
) -> None:
    """One person's reactions on a message changed (delivered where the bot is an admin)."""
    if event.user is None:  # anonymous admins react as the chat: not a person's vote
        return
    before, after = has_dislike(event.old_reaction), has_dislike(event.new_reaction)
    if before == after:
        return
    alert = await reputation.dislike(event.chat.id, event.message_id, event.user.id, after)
    if alert is not None:
        await reputation_notes.dislikes(alert, event.chat.username)


def create_router() -> Router:
    router = Router(name="reputation")
    m = router.message
    m.filter(is_command_text)
    on_command(m, watch_command, "watch")
    on_command(m, unwatch_command, "unwatch")
    on_command(m, watches_command, "watches")
    router.callback_query.register(reputation_pressed, ReputationCallback.filter())
    router.message_reaction.register(reaction_changed)
    return router
