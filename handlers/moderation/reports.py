"""Members' reports: /report or `@admin` in a reply, and the admins' buttons under a report.
Who receives a report is `ModerationService.report_recipients`' decision."""

from __future__ import annotations

import contextlib
import html
import re
from datetime import timedelta

from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.chat_migration import ChatMigrations
from bot.guards import accessible_message
from bot.i18n import LocaleFor
from bot.links import message_link
from bot.moderation.buttons import ReportCallback, report_keyboard
from bot.moderation.reports import ReportAction, ReportLimiter, report_action_key
from bot.moderation.service import Actor, AuditAction, ModerationError, ModerationService, Target
from bot.moderation.targets import TargetResolver, replied, sender_of
from bot.private import PrivateNotes
from bot.roles import RoleService, right_refusal
from handlers.moderation.common import error_alert

_CALL_ADMINS = re.compile(r"(?i)(^|\s)@admins?\b")


async def calls_admins(message: Message) -> bool:
    """`@admin` or `@admins` in a reply reports the replied message, like /report."""
    return message.reply_to_message is not None and bool(
        _CALL_ADMINS.search(message.text or message.caption or "")
    )


def reporter_note(message: Message) -> str:
    """What the reporter wrote with the report ("/report he sells accounts", "@admin scam"):
    the admins' first clue, so it travels with the report."""
    text = message.text or message.caption or ""
    if text.startswith("/"):
        parts = text.split(maxsplit=1)
        text = parts[1] if len(parts) > 1 else ""
    else:
        text = _CALL_ADMINS.sub(" ", text)
    return " ".join(text.split())[:300]


def report_text(message: Message, reply: Message, target: Target) -> str:
    assert message.from_user is not None
    text = _("📣 Report in {chat}: {reporter} reported {target}").format(
        chat=html.escape(message.chat.title or str(message.chat.id)),
        reporter=Target(message.from_user.id, message.from_user.full_name).mention,
        target=target.mention,
    )
    note = reporter_note(message)
    if note:
        text += "\n" + _("💬 Their words: {note}").format(note=html.escape(note))
    body = reply.text or reply.caption
    if body:
        text += f"\n<i>{html.escape(body[:500])}</i>"
    link = message_link(message.chat.id, message.chat.username, reply.message_id)
    if link:
        text += f"\n{link}"
    return text


async def report_command(
    message: Message,
    role_service: RoleService,
    targets: TargetResolver,
    moderation: ModerationService,
    notes: PrivateNotes,
    report_limiter: ReportLimiter,
    i18n: I18n,
    locale_for: LocaleFor,
) -> None:
    reply = replied(message)
    if reply is None:
        await message.reply(_("Reply to the message you want to report with /report."))
        return
    reporter = message.from_user
    # whom the report is about: a channel identity or an anonymous admin (`sender_chat`) rather
    # than the placeholder user Telegram puts in `from`
    target = sender_of(reply)
    if reporter is None or target is None:
        return
    if not target.is_chat and target.id == reporter.id:
        # before the limit: a slip of the thumb is no report and costs none of the member's
        await message.reply(_("This is your own message: reports are for other members' messages."))
        return
    if not await report_limiter.check(message.chat.id, reporter.id):
        await message.reply(
            _(
                "You have sent several reports recently; please wait a few "
                "minutes before the next one."
            )
        )
        return
    if await targets.refusal(message.chat.id, target):
        await message.reply(_("That message is from an admin; reports are for members."))
        return

    def report_in(locale: str) -> tuple[str, InlineKeyboardMarkup]:
        """The report as its readers read it: in their language, not the reporter's."""
        with i18n.use_locale(locale):
            markup = report_keyboard(message.chat.id, reply.message_id, target.id, target.is_chat)
            return report_text(message, reply, target), markup

    async def admins() -> list[int]:
        return list(await role_service.admin_ids(message.chat.id))

    recipients = await moderation.report_recipients(message.chat.id, admins)
    if recipients.log_chat:
        # through the log outbox, ahead of log entries (and in their language): the reporter
        # is answered at once
        locale = await moderation.log_locale(message.chat.id, recipients.log_chat)
        await moderation.queue_report(recipients.log_chat, *report_in(locale), locale)
        await message.reply(_("Thanks, the admins have been notified."))
        return
    delivered = 0
    for uid in recipients.admins:
        text, markup = report_in(await locale_for(uid))
        result = await notes.send_message(uid, text, reply_markup=markup)
        delivered += result.delivered
    if delivered:
        await message.reply(_("Thanks, the admins have been notified."))
    else:
        await message.reply(
            _(
                "I could not reach any admin: set a log chat with /setlog, or "
                "admins should start a private chat with me."
            )
        )


def _report_outcome(op: ReportAction) -> str:
    return {
        ReportAction.DELETE: _("🗑 Deleted"),
        ReportAction.WARN: _("⚠️ Warned"),
        ReportAction.MUTE: _("🔇 Muted for 1d"),
        ReportAction.BAN: _("🔨 Banned"),
        ReportAction.DISMISS: _("✖️ Dismissed"),
    }[op]


async def report_pressed(
    query: CallbackQuery,
    callback_data: ReportCallback,
    role_service: RoleService,
    moderation: ModerationService,
    targets: TargetResolver,
    migrations: ChatMigrations,
    report_limiter: ReportLimiter,
) -> None:
    # a report made before its group was upgraded names the old id: the members are in the new
    # chat, and its warns and log belong there; the reported message stayed in the old one
    reported_in = callback_data.chat_id
    chat_id = migrations.current(reported_in)
    roles = await role_service.roles_for_user(chat_id, query.from_user.id)
    if not roles.is_admin:
        await query.answer(_("Only admins of that chat can do this."), show_alert=True)
        return
    right = callback_data.op.right
    if right is not None and not await role_service.has_right(chat_id, query.from_user.id, right):
        await query.answer(right_refusal(right), show_alert=True)
        return
    actor = Actor(query.from_user.id, query.from_user.full_name)
    # a channel identity's id is negative, a user's positive
    target = await targets.by_id(callback_data.user_id)
    op, message_id = callback_data.op, callback_data.message_id
    if op is not ReportAction.DISMISS:
        # the reported member may have become an admin since: the bot never acts on one
        refusal = await targets.refusal(chat_id, target)
        if refusal is not None:
            await query.answer(error_alert(refusal), show_alert=True)
            return
    # a double tap, or the report pressed by two admins (two workers): its action happens once
    once = report_action_key(reported_in, message_id, callback_data.user_id, op)
    if not await report_limiter.first_action(once):
        await query.answer(_report_outcome(op))
        return
    try:
        if op is ReportAction.DELETE:
            await moderation.delete(reported_in, message_id)
            await moderation.record(
                chat_id, actor, target, AuditAction.DELETE, message_id=message_id, reason="report"
            )
        elif op is ReportAction.WARN:
            await moderation.warn(chat_id, target, actor, "report")
        elif op is ReportAction.MUTE:
            await moderation.mute(chat_id, target, actor, timedelta(days=1), "report")
        elif op is ReportAction.BAN:
            await moderation.delete(reported_in, message_id)
            await moderation.ban(chat_id, target, actor, None, "report")
    except BaseException as exc:
        await report_limiter.forget_action(once)  # not done: the button may be pressed again
        if not isinstance(exc, ModerationError):
            raise
        await query.answer(error_alert(exc.kind, token=exc.detail), show_alert=True)
        return
    outcome = _report_outcome(op)
    await query.answer(outcome)
    if query.message is not None:
        with contextlib.suppress(TelegramAPIError):
            shown = accessible_message(query)
            await shown.edit_text(
                f"{shown.html_text}\n\n{html.escape(outcome)} · "
                f"{html.escape(query.from_user.full_name)}",
                reply_markup=None,
            )
