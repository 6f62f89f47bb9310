"""The audit log: /modlog, and the Undo and Details buttons under log entries and confirmations."""

from __future__ import annotations

import contextlib
import html
from datetime import datetime

from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.config import Settings
from bot.guards import accessible_message
from bot.moderation.service import (
    Actor,
    LogAction,
    ModCallback,
    ModerationError,
    ModerationService,
    UndoOutcome,
    action_label,
    reason_label,
    rule_label,
    undo_right,
)
from bot.roles import RoleService, right_refusal
from handlers.moderation.common import error_text, reply_lines
from storage.moderation import ModAction
from storage.outbox import OutboxEntry, OutboxState


def modlog_line(a: ModAction, moderation: ModerationService, settings: Settings) -> str:
    when = datetime.fromtimestamp(a.created_at, settings.timezone).strftime("%d.%m %H:%M")
    label = action_label(moderation.i18n, a.action, moderation.i18n.current_locale)
    who = html.escape(a.target_name or "") if a.target_id else ""
    by = html.escape(a.actor_name or "Steward")
    line = f"#{a.id} {when} {html.escape(label)} {who} · {by}"
    if a.rule:
        line += (
            f" ({html.escape(rule_label(moderation.i18n, a.rule, moderation.i18n.current_locale))})"
        )
    if a.reason:
        reason = reason_label(moderation.i18n, a.reason, moderation.i18n.current_locale)
        line += f" — {html.escape(reason[:60])}"
    if a.undone_at:
        line += " ↩️"
    return line


async def modlog_command(
    message: Message, command: CommandObject, moderation: ModerationService, settings: Settings
) -> None:
    arg = (command.args or "").strip()
    limit = min(50, int(arg)) if arg.isdecimal() and int(arg) > 0 else 10
    actions = await moderation.recent_actions(message.chat.id, limit)
    if not actions:
        await message.reply(_("No moderation actions in this chat yet."))
        return
    lines = [
        ngettext("Last {count} action:", "Last {count} actions:", len(actions)).format(
            count=len(actions)
        )
    ]
    posting: dict[int, OutboxEntry] = await moderation.outbox.states([a.id for a in actions])
    waiting, failed = False, None
    for a in actions:
        line = modlog_line(a, moderation, settings)
        entry = posting.get(a.id)
        if entry is not None and entry.state in {OutboxState.PENDING, OutboxState.SENDING}:
            line += " ⏳"
            waiting = True
        elif entry is not None and entry.state is OutboxState.FAILED:
            line += " 📭"
            failed = failed or entry.error or "?"
        lines.append(line)
    if waiting:
        lines.append(_("⏳ waiting for its turn in the log chat"))
    if failed:
        lines.append(
            _("📭 could not be posted to the log chat: {error}").format(error=html.escape(failed))
        )
    await reply_lines(message, lines)


async def log_button(
    query: CallbackQuery,
    callback_data: ModCallback,
    moderation: ModerationService,
    role_service: RoleService,
) -> None:
    action = await moderation.action(callback_data.action_id)
    if action is None:
        await query.answer(_("This action is no longer in the log."), show_alert=True)
        return
    roles = await role_service.roles_for_user(action.chat_id, query.from_user.id)
    if not (roles.is_admin or roles.is_manager):
        await query.answer(_("Only admins of that chat can do this."), show_alert=True)
        return
    if callback_data.op is LogAction.DETAILS:
        await query.answer(await moderation.details(action), show_alert=True)
        return
    right = undo_right(action.action)
    if (
        right is not None
        and not roles.is_manager
        and not await role_service.has_right(action.chat_id, query.from_user.id, right)
    ):
        await query.answer(right_refusal(right), show_alert=True)
        return
    try:
        outcome = await moderation.undo(
            action, Actor(query.from_user.id, query.from_user.full_name)
        )
    except ModerationError as exc:
        await query.answer(error_text(exc.kind, token=exc.detail), show_alert=True)
        return
    answers = {
        UndoOutcome.DONE: _("Undone."),
        UndoOutcome.PARTIAL: _(
            "Undone as far as Telegram allows: a deleted message cannot come back."
        ),
        UndoOutcome.ALREADY: _("This was already undone."),
        UndoOutcome.UNSUPPORTED: _("This action cannot be undone."),
    }
    await query.answer(answers[outcome], show_alert=outcome is not UndoOutcome.DONE)
    undone = outcome in {UndoOutcome.DONE, UndoOutcome.PARTIAL}
    if query.message and query.message.chat.id == action.chat_id and undone:
        with contextlib.suppress(TelegramAPIError):
            await accessible_message(query).edit_reply_markup(reply_markup=None)
