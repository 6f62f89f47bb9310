"""Giveaways: /giveaway, the Participate button, /giveaway_end, /giveaway_verify and /reroll.
The draw and its proof are `bot.engagement.giveaways`."""

from __future__ import annotations

import html
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.commands import on_command
from bot.config import Settings
from bot.engagement.giveaways import (
    MAX_PRIZE,
    MAX_WINNERS,
    ArgsProblem,
    EntryOutcome,
    GiveawayArgsError,
    GiveawayCallback,
    GiveawayRefusal,
    GiveawayService,
    Refusal,
)
from bot.engagement.topics import send_in_topic
from bot.guards import sender
from bot.middlewares import is_command_text
from bot.roles import RoleService, is_anonymous_admin_message, organiser_id
from bot.texts import pack_lines
from bot.topics import thread_of
from storage.engagement import Giveaway

logger = logging.getLogger(__name__)


def giveaway_error_text(code: ArgsProblem) -> str:
    return {
        ArgsProblem.NO_CHANNEL: _(
            "In private, name the channel first: /giveaway @channel 1d 3 Prize"
        ),
        ArgsProblem.BAD_END: _(
            "Start with the duration or end time: 2h, 3d, 18:00 or 25.12 18:00."
        ),
        ArgsProblem.PAST: _("That end time has already passed."),
        ArgsProblem.BAD_WINNERS: _(
            "After the time give the number of winners (1-100), e.g. /giveaway 1d 3 Three T-shirts"
        ),
        ArgsProblem.NO_PRIZE: _("Describe the prize after the number of winners."),
        ArgsProblem.LONG_PRIZE: _(
            "The prize description is too long: at most {max} characters."
        ).format(max=MAX_PRIZE),
    }[code]


async def giveaway_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    giveaways: GiveawayService,
    role_service: RoleService,
    settings: Settings,
) -> None:
    private = message.chat.type == "private"
    try:
        request = giveaways.parse_request(command.args or "", settings.timezone, private)
    except GiveawayArgsError as exc:
        usage = _(
            "Usage: /giveaway <duration or end time> <winners> <prize> "
            "[require=@channel] [exclude_admins] [exclude_winners] [private]"
        )
        await message.reply(html.escape(giveaway_error_text(exc.code) + "\n" + usage))
        return
    chat_id = message.chat.id
    thread_id = None if private else thread_of(message)
    if private:
        if not role_service.is_manager(sender(message).id):
            await message.reply(_("Only Steward's managers can use this command."))
            return
        assert request.channel is not None  # parse_giveaway requires one in private
        try:
            chat = await bot.get_chat(request.channel)
        except TelegramAPIError:
            await message.reply(
                _("I can't find {chat}; add me to it as an admin first.").format(
                    chat=html.escape(request.channel or "")
                )
            )
            return
        chat_id = chat.id
    uncheckable = await giveaways.uncheckable(request.require, sender(message).id)
    if uncheckable:
        await message.reply(
            ngettext(
                "I can't check who is subscribed to {chats}. Add me to it as an admin, then "
                "start the giveaway again.",
                "I can't check who is subscribed to {chats}. Add me to them as an admin, then "
                "start the giveaway again.",
                len(uncheckable),
            ).format(chats=html.escape(", ".join(uncheckable)))
        )
        return
    try:
        giveaway = await giveaways.create(chat_id, organiser_id(message), request, thread_id)
    except TelegramAPIError as exc:
        await message.reply(
            _("I could not post the giveaway there: {error}").format(error=html.escape(exc.message))
        )
        return
    if private:
        await message.reply(_("Giveaway #{id} is posted.").format(id=giveaway.id))


async def participate(
    query: CallbackQuery, callback_data: GiveawayCallback, giveaways: GiveawayService
) -> None:
    outcome = await giveaways.enter(callback_data.giveaway_id, query.from_user)
    locale = get_i18n().current_locale
    if isinstance(outcome, Refusal):
        reason = await giveaways.entry_refusal_text(callback_data.giveaway_id, outcome, locale)
        text = _("You can't take part yet: {reason}.").format(reason=reason)
    else:
        text = {
            EntryOutcome.ENTERED: _("You are in! Good luck 🍀"),
            EntryOutcome.ALREADY: _("You are already taking part."),
            EntryOutcome.CLOSED: _("This giveaway is over."),
        }[outcome]
    await query.answer(text, show_alert=outcome is not EntryOutcome.ENTERED)


async def _giveaway_arg(
    message: Message, command: CommandObject, giveaways: GiveawayService, *, managing: bool
) -> Giveaway | None:
    """The giveaway the command names, or None once the refusal is sent."""
    raw_id = next(iter((command.args or "").split()), "")
    user_id = message.from_user.id if message.from_user else 0
    posted_as = message.chat.id if is_anonymous_admin_message(message) else None
    found = await giveaways.usable(raw_id, user_id, managing=managing, posted_as=posted_as)
    if isinstance(found, Giveaway):
        return found
    text = {
        GiveawayRefusal.NOT_AN_ID: _("Give the giveaway number, e.g. /{command} 4."),
        GiveawayRefusal.NOT_FOUND: _("There is no giveaway #{id}."),
        GiveawayRefusal.NOT_YOURS: _("Only admins of that chat or Steward's managers can do this."),
    }[found]
    await message.reply(text.format(command=command.command, id=raw_id.lstrip("#")))
    return None


async def giveaway_end(
    message: Message, command: CommandObject, giveaways: GiveawayService
) -> None:
    giveaway = await _giveaway_arg(message, command, giveaways, managing=True)
    if giveaway is None:
        return
    if not await giveaways.end(giveaway.id):
        await message.reply(_("Giveaway #{id} was already drawn.").format(id=giveaway.id))
    elif (message.chat.id, thread_of(message)) != (giveaway.chat_id, giveaway.thread_id):
        # asked from private, another chat or another topic: the result is not in sight
        await message.reply(
            _("Giveaway #{id} is drawn; its result is posted where it was announced.").format(
                id=giveaway.id
            )
        )


async def giveaway_verify(
    message: Message, command: CommandObject, giveaways: GiveawayService
) -> None:
    giveaway = await _giveaway_arg(message, command, giveaways, managing=False)
    if giveaway is None:
        return
    check = await giveaways.verify(giveaway.id)
    if check is None:
        await message.reply(_("Giveaway #{id} has not been drawn yet.").format(id=giveaway.id))
        return
    ok = "✅" if check.commitment_ok else "❌"
    ok2 = "✅" if check.winners_ok else "❌"
    await message.reply(
        ngettext(
            "Giveaway #{id}: seed matches the commitment {ok}; winners follow from the seed and "
            "the {count} entrant {ok2}.",
            "Giveaway #{id}: seed matches the commitment {ok}; winners follow from the seed and "
            "the {count} entrants {ok2}.",
            check.entrants,
        ).format(id=giveaway.id, ok=ok, ok2=ok2, count=check.entrants)
    )


async def reroll_command(
    message: Message, bot: Bot, command: CommandObject, giveaways: GiveawayService
) -> None:
    giveaway = await _giveaway_arg(message, command, giveaways, managing=True)
    if giveaway is None:
        return
    rest = (command.args or "").split()[1:]
    if rest and not (rest[0].isdecimal() and 1 <= int(rest[0]) <= MAX_WINNERS):
        # "/reroll 4 0" or "/reroll 4 two" drew one winner as if nothing had been said
        await message.reply(
            _("How many new winners? A number from 1 to {max}, e.g. /reroll {id} 2.").format(
                max=MAX_WINNERS, id=giveaway.id
            )
        )
        return
    count = int(rest[0]) if rest else 1
    picks = await giveaways.reroll(giveaway.id, count)
    if picks is None:
        await message.reply(_("Giveaway #{id} has not been drawn yet.").format(id=giveaway.id))
        return
    entries = await giveaways.entries(giveaway.id)
    if not picks.winners and not picks.skipped:
        await message.reply(_("No more eligible entrants to draw from."))
        return
    # announced in the giveaway's chat in its language, as the draw was; the caller asking
    # from elsewhere (a manager in private) gets a copy in theirs
    chat_locale = await giveaways.locale_for(giveaway.chat_id)
    channel = await giveaways.in_channel(giveaway)
    public = giveaways.reroll_lines(giveaway, picks, count, entries, chat_locale, channel)
    sent = None
    for text in pack_lines(public):  # up to 100 winners and their skipped lines
        sent = await send_in_topic(bot, giveaway.chat_id, text, giveaway.thread_id)
    elsewhere = sent is not None and (sent.chat.id, thread_of(sent)) != (
        message.chat.id,
        thread_of(message),
    )
    if elsewhere:  # another chat, or another topic of the forum
        own = giveaways.reroll_lines(
            giveaway, picks, count, entries, get_i18n().current_locale, channel
        )
        for text in pack_lines(own):
            await message.reply(text)


def create_router() -> Router:
    router = Router(name="giveaways")
    m = router.message
    m.filter(is_command_text)
    on_command(m, giveaway_command, "giveaway")
    on_command(m, giveaway_end, "giveaway_end")
    on_command(m, giveaway_verify, "giveaway_verify")
    on_command(m, reroll_command, "reroll")
    router.callback_query.register(participate, GiveawayCallback.filter())
    return router
