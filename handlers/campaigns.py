"""Campaigns: /campaign_new, /campaign_end and /campaigns. The joins they are measured by are
counted by `bot.middlewares.CampaignMiddleware`."""

from __future__ import annotations

import html
import logging
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    LinkPreviewOptions,
    Message,
)
from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.campaigns.logic import (
    ArgsError,
    Campaign,
    CampaignArgsError,
    money,
    parse_campaign_args,
    parse_campaign_id,
)
from bot.campaigns.service import TEXT_LIMIT, CampaignService, EndOutcome
from bot.chat_migration import ChatMigrations
from bot.commands import on_command
from bot.config import Settings
from bot.guards import accessible_message, sender
from bot.middlewares import is_command_text
from bot.roles import Requirement
from bot.stats.report import parse_period
from bot.stats.service import StatsService
from bot.texts import utf16_length
from bot.topics import thread_of

logger = logging.getLogger(__name__)

STAFF = {"role": Requirement.ADMIN_OR_MANAGER}
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # an invite link preview is just the chat


class CampaignAction(StrEnum):
    END = "end"
    KEEP = "keep"
    REPORT = "report"


class CampaignCallback(CallbackData, prefix="cmp"):
    action: CampaignAction
    campaign_id: int = 0
    chat_id: int = 0
    days: int = 0


# --- /campaign_new ----------------------------------------------------------------------------


def usage_new() -> str:
    return html.escape(
        _(
            "Usage: /campaign_new <name> [@channel|chat id] [cost=<amount> <currency>] "
            "[expires=7d] [limit=100] [requests]\n"
            "name: up to 32 characters; expires: the link stops working after 1h, 7d, 2w…; "
            "limit: at most that many members join through it (1-99999); requests: joiners "
            "must be approved by an admin (not together with limit). In a group the link is "
            "for that group; in private name the chat.\n"
            "Example: /campaign_new Spring ads @mychannel cost=50 EUR expires=30d"
        )
    )


def args_error_text(error: CampaignArgsError) -> str:
    texts = {
        ArgsError.NO_NAME: _("Give the campaign a name."),
        ArgsError.NAME_TOO_LONG: _("The name can be at most 32 characters long."),
        ArgsError.TWO_CHATS: _("Name one chat only."),
        ArgsError.BAD_COST: _("The cost must be a positive amount, e.g. cost=49.90 EUR."),
        ArgsError.NO_CURRENCY: _("Give the currency after the amount, e.g. cost=50 EUR."),
        ArgsError.BAD_EXPIRES: _("expires= takes a duration from 1m to 366d, e.g. expires=7d."),
        ArgsError.BAD_LIMIT: _("limit= takes a number of members from 1 to 99999."),
        ArgsError.LIMIT_WITH_REQUESTS: _(
            "Telegram does not allow a member limit on a link that asks for approval."
        ),
        ArgsError.UNKNOWN_OPTION: _("Unknown option {option}."),
        ArgsError.REPEATED: _("{option} is given twice ({first}, then {second}): give it once."),
    }
    return html.escape(texts[error.code].format(option=error.detail, **error.values))


async def _resolve_chat(bot: Bot, token: str) -> tuple[int | None, str]:
    """A chat typed as @username or id: (id or None, what to call it)."""
    if token.startswith("@"):
        try:
            chat = await bot.get_chat(token)
        except TelegramAPIError:
            return None, token
        return chat.id, chat.title or token
    return int(token), token


def describe(campaign: Campaign, title: str, tz: ZoneInfo) -> str:
    """One campaign's settings, for the creation answer and the list."""
    parts = []
    if campaign.cost is not None:
        parts.append(_("cost {cost}").format(cost=money(campaign.cost, campaign.currency)))
    if campaign.expire_date:
        when = datetime.fromtimestamp(campaign.expire_date, tz).strftime("%Y-%m-%d %H:%M")
        parts.append(_("expires {when}").format(when=when))
    if campaign.member_limit:
        parts.append(
            ngettext("limit {n} member", "limit {n} members", campaign.member_limit).format(
                n=campaign.member_limit
            )
        )
    if campaign.creates_join_request:
        parts.append(_("joiners need approval"))
    head = f"#{campaign.id} <b>{html.escape(campaign.name)}</b> · {html.escape(title)}"
    return head + (" · " + ", ".join(parts) if parts else "")


async def campaign_new(
    message: Message,
    command: CommandObject,
    bot: Bot,
    campaigns: CampaignService,
    stats: StatsService,
) -> None:
    try:
        request = parse_campaign_args(command.args or "")
    except CampaignArgsError as exc:
        await message.reply(args_error_text(exc) + "\n\n" + usage_new())
        return
    private = message.chat.type == "private"
    if private:
        if request.chat is None:
            known = await stats.known_chats()
            lines = [html.escape(_("In private, name the chat: /campaign_new <name> @channel"))]
            lines += [
                f"{html.escape(c.title or c.username or str(c.chat_id))}: "
                f"<code>{c.chat_id}</code>" + (f" (@{c.username})" if c.username else "")
                for c in known[:30]
            ]
            await message.reply("\n".join(lines))
            return
        chat_id, label = await _resolve_chat(bot, request.chat)
        if chat_id is None:
            await message.reply(
                _("I can't find {chat}; add me to it as an admin first.").format(
                    chat=html.escape(label)
                )
            )
            return
    else:
        chat_id = message.chat.id
        if request.chat is not None:
            same = (
                request.chat.lower() == f"@{(message.chat.username or '').lower()}"
                if request.chat.startswith("@")
                else int(request.chat) == chat_id
            )
            if not same:
                await message.reply(
                    _(
                        "In a group I make links for this group only. For another chat, "
                        "ask me in private (managers)."
                    )
                )
                return
    try:
        campaign = await campaigns.create(chat_id, request, sender(message).id)
    except TelegramAPIError as exc:
        await message.reply(
            _(
                "Telegram refused to create the link: {error}. I need to be an admin there "
                "with the right to invite users."
            ).format(error=html.escape(exc.message))
        )
        return
    title = await campaigns.chat_title(chat_id)
    await message.reply(
        _(
            "🔗 Campaign {campaign}\n{link}\n\nShare this link; joins through it are counted. "
            "/campaigns 7d shows the results, /campaign_end {id} ends it."
        ).format(
            campaign=describe(campaign, title, campaigns.tz),
            link=html.escape(campaign.invite_link),
            id=campaign.id,
        ),
        link_preview_options=NO_PREVIEW,
    )


# --- /campaign_end ----------------------------------------------------------------------------


async def _may_touch(campaign: Campaign, chat_id: int, settings: Settings, user_id: int) -> bool:
    """In a group only that group's campaigns; in private a manager's, i.e. all of them."""
    if chat_id < 0:
        return campaign.chat_id == chat_id
    return settings.is_manager(user_id)


async def campaign_end(
    message: Message, command: CommandObject, campaigns: CampaignService, settings: Settings
) -> None:
    campaign_id = parse_campaign_id(command.args)
    if campaign_id is None:
        await message.reply(html.escape(_("Usage: /campaign_end <id> (see /campaigns)")))
        return
    campaign = await campaigns.get(campaign_id)
    if campaign is None or not await _may_touch(
        campaign, message.chat.id, settings, sender(message).id
    ):
        await message.reply(_("There is no campaign #{id} here.").format(id=campaign_id))
        return
    if not campaign.active:
        await message.reply(_("Campaign #{id} has already ended.").format(id=campaign_id))
        return
    keyboard = InlineKeyboardBuilder()
    keyboard.button(
        text=_("🛑 Revoke the link"),
        callback_data=CampaignCallback(action=CampaignAction.END, campaign_id=campaign_id),
    )
    keyboard.button(
        text=_("Keep it"),
        callback_data=CampaignCallback(action=CampaignAction.KEEP, campaign_id=campaign_id),
    )
    await message.reply(
        _(
            "End campaign #{id} “{name}”? Its link stops working for good: Telegram cannot "
            "bring a revoked link back. Joins already counted stay in the reports."
        ).format(id=campaign_id, name=html.escape(campaign.name)),
        reply_markup=keyboard.as_markup(),
    )


async def campaign_pressed(
    query: CallbackQuery,
    callback_data: CampaignCallback,
    campaigns: CampaignService,
    settings: Settings,
    bot: Bot,
    migrations: ChatMigrations,
) -> None:
    message = query.message
    if message is None:
        await query.answer()
        return
    if callback_data.action is CampaignAction.REPORT:
        allowed = callback_data.chat_id == message.chat.id or (
            message.chat.type == "private" and settings.is_manager(query.from_user.id)
        )
        if not allowed:
            await query.answer(_("Only Steward's managers can use this command."), show_alert=True)
            return
        await query.answer()
        # a button shown before its group was upgraded names the old id; the campaigns moved
        chat_id = migrations.current(callback_data.chat_id)
        await send_report(bot, campaigns, message.chat.id, chat_id, callback_data.days, None)
        return
    campaign = await campaigns.get(callback_data.campaign_id)
    if campaign is None or not await _may_touch(
        campaign, message.chat.id, settings, query.from_user.id
    ):
        await query.answer(
            _("There is no campaign #{id} here.").format(id=callback_data.campaign_id),
            show_alert=True,
        )
        return
    if callback_data.action is CampaignAction.KEEP:
        await query.answer()
        await accessible_message(query).edit_text(
            _("Campaign #{id} goes on.").format(id=campaign.id), reply_markup=None
        )
        return
    result = await campaigns.end(campaign.id, query.from_user.id)
    if result.outcome is EndOutcome.FAILED:
        await query.answer(
            _("I could not reach Telegram; nothing changed. Try again in a minute."),
            show_alert=True,
        )
        return
    await query.answer()
    if result.outcome is EndOutcome.ALREADY:
        text = _("Campaign #{id} has already ended.").format(id=campaign.id)
    else:
        text = _("🛑 Campaign #{id} “{name}” ended: its link no longer works.").format(
            id=campaign.id, name=html.escape(campaign.name)
        )
        if result.telegram_said:
            text += "\n" + _(
                "Telegram said: {error}. The link was probably unusable already."
            ).format(error=html.escape(result.telegram_said))
    await accessible_message(query).edit_text(text, reply_markup=None)


# --- /campaigns -------------------------------------------------------------------------------


async def send_report(
    bot: Bot, campaigns: CampaignService, to_chat: int, chat_id: int, days: int, thread: int | None
) -> None:
    """The report and its chart, in the forum topic (`thread`) it was asked for in."""
    locale = get_i18n().current_locale
    report = await campaigns.report(chat_id, days, locale)
    text = campaigns.report_text(report, locale)
    await bot.send_message(to_chat, text, message_thread_id=thread)
    if not report.total_joins:  # a chart of zeros says less than the sentence the text ends with
        return
    png = BufferedInputFile(await campaigns.chart(report, locale), filename="campaigns.png")
    await bot.send_photo(to_chat, png, message_thread_id=thread)


async def campaigns_command(
    message: Message, command: CommandObject, bot: Bot, campaigns: CampaignService
) -> None:
    private = message.chat.type == "private"
    arg = (command.args or "").strip()
    if arg:
        days = parse_period(arg)
        if days is None:
            await message.reply(
                html.escape(
                    _(
                        "Usage: /campaigns lists the campaigns; /campaigns 7d, 30d or 90d "
                        "reports their joins."
                    )
                )
            )
            return
        if not private:
            await send_report(
                bot, campaigns, message.chat.id, message.chat.id, days, thread_of(message)
            )
            return
        chat_ids = await campaigns.chats_with_campaigns()
        if not chat_ids:
            await message.reply(_("No campaigns yet: create one with /campaign_new."))
            return
        if len(chat_ids) == 1:
            await send_report(bot, campaigns, message.chat.id, chat_ids[0], days, None)
            return
        keyboard = InlineKeyboardBuilder()
        for chat_id in chat_ids[:50]:
            keyboard.button(
                text=await campaigns.chat_title(chat_id),
                callback_data=CampaignCallback(
                    action=CampaignAction.REPORT, chat_id=chat_id, days=days
                ),
            )
        keyboard.adjust(1)
        await message.reply(_("Which chat?"), reply_markup=keyboard.as_markup())
        return
    listed = await campaigns.listing(None if private else message.chat.id)
    if not listed:
        await message.reply(_("No campaigns yet: create one with /campaign_new."))
        return
    lines = [_("📣 Campaigns (newest first):")]
    budget = TEXT_LIMIT - 200
    now = campaigns.clock()
    for n, item in enumerate(listed):
        c = item.campaign
        if not c.active:
            state = _("ended")
        elif c.expired(now):
            state = _("expired")
        else:
            state = _("active")
        title = await campaigns.chat_title(c.chat_id)
        entry = f"{describe(c, title, campaigns.tz)} · {state}\n{html.escape(c.invite_link)}\n" + _(
            "joins {joins}, still members {still}"
        ).format(joins=item.joins, still=item.still)
        if utf16_length(entry) + 2 > budget:
            older = len(listed) - n
            lines.append(ngettext("…and {n} older.", "…and {n} older.", older).format(n=older))
            break
        lines.append(entry)
        budget -= utf16_length(entry) + 2
    await message.reply("\n\n".join(lines), link_preview_options=NO_PREVIEW)


def create_router() -> Router:
    router = Router(name="campaigns")
    m = router.message
    m.filter(is_command_text)
    on_command(m, campaign_new, "campaign_new")
    on_command(m, campaign_end, "campaign_end")
    on_command(m, campaigns_command, "campaigns")
    router.callback_query.register(campaign_pressed, CampaignCallback.filter(), flags=STAFF)
    return router
