"""Moderator commands in groups, the audit log's buttons, /settings and member reports."""

from __future__ import annotations

import contextlib
import html
import logging
import re
import time
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.edits import edit_or_same
from bot.links import message_link
from bot.moderation.args import ArgumentError, parse_action_args, parse_warn_limit
from bot.moderation.blocklist import BadPattern, parse_filter
from bot.moderation.durations import format_duration
from bot.moderation.language import PLAUSIBLE
from bot.moderation.service import (
    Actor,
    ModCallback,
    ModerationError,
    ModerationService,
    Target,
    action_label,
)
from bot.private import PrivateNotes
from bot.roles import RoleService
from storage.chats import UserRepository
from storage.moderation import MODES, ModerationRepository
from storage.outbox import OutboxState

logger = logging.getLogger(__name__)

ADMIN = {"role": "admin", "chat": "group"}
GROUP = {"chat": "group"}
REPORTS_PER_WINDOW = 3
REPORT_WINDOW_SECONDS = 600
PURGE_LIMIT = 1000


class SettingsCallback(CallbackData, prefix="modset"):
    key: str


class ReportCallback(CallbackData, prefix="rep"):
    op: str  # del | warn | mute | ban | dismiss
    chat_id: int
    message_id: int
    user_id: int


# --- helpers ----------------------------------------------------------------------------------


def actor_of(message: Message) -> Actor:
    if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
        return Actor(message.chat.id, _("Anonymous admin"))
    user = message.from_user
    return Actor(user.id, user.full_name) if user else Actor(None, "?")


def _replied(message: Message) -> Message | None:
    reply = message.reply_to_message
    if reply is None or reply.forum_topic_created is not None:
        return None  # in forum topics every message "replies" to the topic's first message
    return reply


def error_text(kind: str, command: str = "", token: str = "") -> str:
    messages = {
        "no_target": _(
            "Reply to a message of the member, or name them: /{command} @username or "
            "/{command} 123456789."
        ),
        "bad_duration": _(
            "I don't understand the duration “{token}”. Use 30s, 10m, 2h, 3d, 1w or "
            "combinations like 1h30m."
        ),
        "unknown_user": _(
            "I don't know {token} yet. Reply to one of their messages, or use their numeric id."
        ),
        "target_admin": _("I don't act on admins of this chat."),
        "channel_kick": _(
            "A channel cannot be removed and let back in: /ban stops it posting here, "
            "/unban lets it back."
        ),
        "self": _("I won't act on myself."),
        "no_rights": _(
            "I can't do that: make me an admin of this chat with the rights to delete messages "
            "and ban users."
        ),
        "not_found": _("Telegram says this member or message is not in the chat."),
        "telegram": _("Telegram refused this action: {token}"),
        "bad_limit": _(
            "Usage: /setwarnlimit <number 1-20> [mute <duration>|ban [duration]|kick], "
            "e.g. /setwarnlimit 3 mute 1d"
        ),
    }
    template = messages.get(kind, messages["telegram"])
    # plain-text templates (they show <placeholders>) sent with HTML parse mode
    return html.escape(template, quote=False).format(command=command, token=html.escape(token))


async def resolve_target(
    message: Message, target_token: str | None, users: UserRepository
) -> Target:
    if target_token is None:
        reply = _replied(message)
        assert reply is not None
        if reply.sender_chat is not None and not reply.is_automatic_forward:
            title = (
                reply.sender_chat.title or reply.sender_chat.username or str(reply.sender_chat.id)
            )
            return Target(reply.sender_chat.id, title, is_chat=True)
        if reply.from_user is None:
            raise ArgumentError("no_target")
        return Target(reply.from_user.id, reply.from_user.full_name)
    if target_token.startswith("@"):
        user_id = await users.find_by_username(target_token)
        if user_id is None:
            raise ArgumentError("unknown_user", target_token)
        return Target(user_id, target_token)
    return Target(int(target_token), target_token)


async def protect(chat_id: int, target: Target, roles: RoleService, bot_id: int) -> str | None:
    """Why this target must not be acted on, or None."""
    if target.is_chat:
        return "target_admin" if target.id == chat_id else None
    if target.id == bot_id:
        return "self"
    if await roles.is_chat_admin(chat_id, target.id):
        return "target_admin"
    return None


def undo_keyboard(moderation: ModerationService, action_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("↩️ Undo"),
                    callback_data=ModCallback(op="undo", action_id=action_id).pack(),
                )
            ]
        ]
    )


def reason_line(reason: str | None) -> str:
    return ("\n" + _("Reason: {reason}").format(reason=html.escape(reason))) if reason else ""


async def target_from_command(
    message: Message,
    command: CommandObject,
    users: UserRepository,
    roles: RoleService,
    settings: Settings,
    with_duration: bool = False,
):
    """Parse and check the target; on a problem reply with one clear line and return None."""
    try:
        args = parse_action_args(command.args or "", _replied(message) is not None, with_duration)
        target = await resolve_target(message, args.target, users)
    except ArgumentError as exc:
        await message.reply(error_text(exc.kind, command.command, exc.token))
        return None
    refusal = await protect(message.chat.id, target, roles, settings.bot_id)
    if refusal:
        await message.reply(error_text(refusal))
        return None
    return target, args


# --- warns ------------------------------------------------------------------------------------


async def warn_command(
    message: Message,
    command: CommandObject,
    users: UserRepository,
    role_service: RoleService,
    settings: Settings,
    moderation: ModerationService,
) -> None:
    found = await target_from_command(message, command, users, role_service, settings)
    if not found:
        return
    target, args = found
    try:
        count, limit, chat_settings, limit_action = await moderation.warn(
            message.chat.id, target, actor_of(message), args.reason
        )
    except ModerationError as exc:
        await message.reply(error_text(exc.kind, token=exc.detail))
        return
    if limit_action is None:
        text = _("⚠️ {name} has been warned ({count}/{limit}).").format(
            name=target.mention, count=count, limit=limit
        )
        await message.reply(text + reason_line(args.reason))
        return
    duration = (
        format_duration(timedelta(seconds=chat_settings.warn_action_seconds))
        if chat_settings.warn_action_seconds
        else ""
    )
    if chat_settings.warn_action == "ban":
        text = _("🔨 {name} reached {limit} warns and is banned.")
    elif chat_settings.warn_action == "kick":
        text = _("👢 {name} reached {limit} warns and was removed.")
    else:
        text = _("🔇 {name} reached {limit} warns and is muted.")
    text = text.format(name=target.mention, limit=limit)
    if duration and chat_settings.warn_action != "kick":
        text += " " + _("Duration: {duration}.").format(duration=duration)
    await message.reply(text, reply_markup=undo_keyboard(moderation, limit_action))


async def unwarn_command(
    message: Message,
    command: CommandObject,
    users: UserRepository,
    role_service: RoleService,
    settings: Settings,
    moderation: ModerationService,
    mod_repo: ModerationRepository,
) -> None:
    found = await target_from_command(message, command, users, role_service, settings)
    if not found:
        return
    target, _args = found
    removed = await mod_repo.remove_last_warn(message.chat.id, target.id, moderation.now())
    if removed is None:
        await message.reply(_("{name} has no warns to remove.").format(name=target.mention))
        return
    await moderation.record(
        message.chat.id, actor_of(message), target, "unwarn", details={"warn_id": removed}
    )
    left = len(await mod_repo.active_warns(message.chat.id, target.id, moderation.now()))
    limit = (await mod_repo.settings(message.chat.id)).warn_limit
    await message.reply(
        _("Removed the latest warn of {name} ({count}/{limit} left).").format(
            name=target.mention, count=left, limit=limit
        )
    )


async def warns_command(
    message: Message,
    command: CommandObject,
    users: UserRepository,
    role_service: RoleService,
    mod_repo: ModerationRepository,
    moderation: ModerationService,
) -> None:
    """Admins may look anyone up; members only themselves."""
    is_admin = await role_service.is_message_from_admin(message)
    if (command.args or _replied(message)) and is_admin:
        try:
            args = parse_action_args(command.args or "", _replied(message) is not None, False)
            target = await resolve_target(message, args.target, users)
        except ArgumentError as exc:
            await message.reply(error_text(exc.kind, command.command, exc.token))
            return
    elif message.from_user and not message.sender_chat:
        target = Target(message.from_user.id, message.from_user.full_name)
    else:
        await message.reply(error_text("no_target", command.command))
        return
    warns = await mod_repo.active_warns(message.chat.id, target.id, moderation.now())
    limit = (await mod_repo.settings(message.chat.id)).warn_limit
    if not warns:
        await message.reply(_("{name} has no warns.").format(name=target.mention))
        return
    lines = [
        _("{name} has {count} of {limit} warns:").format(
            name=target.mention, count=len(warns), limit=limit
        )
    ]
    for n, warn in enumerate(warns, 1):
        when = datetime.fromtimestamp(warn["created_at"], UTC).strftime("%Y-%m-%d")
        lines.append(f"{n}. {when} — {html.escape(warn['reason'] or '—')}")
    await message.reply("\n".join(lines))


async def resetwarns_command(
    message: Message,
    command: CommandObject,
    users: UserRepository,
    role_service: RoleService,
    settings: Settings,
    moderation: ModerationService,
    mod_repo: ModerationRepository,
) -> None:
    found = await target_from_command(message, command, users, role_service, settings)
    if not found:
        return
    target, _args = found
    await mod_repo.reset_warns(message.chat.id, target.id, moderation.now())
    await moderation.record(message.chat.id, actor_of(message), target, "resetwarns")
    await message.reply(_("All warns of {name} are cleared.").format(name=target.mention))


# --- mute / ban / kick ------------------------------------------------------------------------


async def restrict_command(
    message: Message,
    command: CommandObject,
    users: UserRepository,
    role_service: RoleService,
    settings: Settings,
    moderation: ModerationService,
) -> None:
    """/mute, /unmute, /ban, /unban and /kick: the command name is the action."""
    kind = command.command.lower()
    found = await target_from_command(
        message, command, users, role_service, settings, with_duration=kind in {"mute", "ban"}
    )
    if not found:
        return
    target, args = found
    actor = actor_of(message)
    chat_id = message.chat.id
    try:
        if kind == "mute":
            action_id = await moderation.mute(chat_id, target, actor, args.duration, args.reason)
        elif kind == "ban":
            action_id = await moderation.ban(chat_id, target, actor, args.duration, args.reason)
        elif kind == "kick":
            action_id = await moderation.kick(chat_id, target, actor, args.reason)
        elif kind == "unmute":
            await moderation.unmute(chat_id, target, actor)
            action_id = None
        else:
            await moderation.unban(chat_id, target, actor)
            action_id = None
    except ModerationError as exc:
        await message.reply(error_text(exc.kind, token=exc.detail))
        return
    # Telegram bans channel identities until unbanned: no end date to show
    timed = args.duration if not target.is_chat else None
    duration = format_duration(timed) if timed else ""
    texts = {
        "mute": _("🔇 {name} is muted for {duration}.") if duration else _("🔇 {name} is muted."),
        "ban": _("🔨 {name} is banned for {duration}.") if duration else _("🔨 {name} is banned."),
        "kick": _("👢 {name} was removed; they may rejoin."),
        "unmute": _("🔊 {name} can write again."),
        "unban": _("🕊 {name} is unbanned and may rejoin."),
    }
    text = texts[kind].format(name=target.mention, duration=duration) + reason_line(args.reason)
    markup = undo_keyboard(moderation, action_id) if action_id and kind != "kick" else None
    await message.reply(text, reply_markup=markup)


# --- deleting ---------------------------------------------------------------------------------


async def del_command(message: Message, moderation: ModerationService) -> None:
    reply = _replied(message)
    if reply is None:
        await message.reply(_("Reply to the message you want to delete with /del."))
        return
    author = reply.from_user
    target = Target(author.id, author.full_name) if author else None
    if await moderation.delete(message.chat.id, reply.message_id):
        await moderation.record(
            message.chat.id,
            actor_of(message),
            target,
            "delete",
            message_id=reply.message_id,
            message_text=reply.text or reply.caption,
        )
        await moderation.delete(message.chat.id, message.message_id)
    else:
        await message.reply(error_text("no_rights"))


async def purge_command(message: Message, bot: Bot, moderation: ModerationService) -> None:
    reply = _replied(message)
    if reply is None:
        await message.reply(
            _(
                "Reply to the first message to delete with /purge; I delete "
                "everything from it up to the command."
            )
        )
        return
    first, last = reply.message_id, message.message_id
    ids = list(range(max(first, last - PURGE_LIMIT + 1), last + 1))
    deleted = 0
    for start in range(0, len(ids), 100):  # deleteMessages takes up to 100 ids per call
        chunk = ids[start : start + 100]
        try:
            await bot.delete_messages(message.chat.id, chunk)
            deleted += len(chunk)
        except TelegramAPIError as exc:
            logger.info("purge chunk failed in %s: %s", message.chat.id, exc)
    await moderation.record(
        message.chat.id,
        actor_of(message),
        None,
        "purge",
        details={"from": first, "to": last, "count": deleted},
    )
    await message.answer(_("🧹 Deleted {count} messages.").format(count=max(0, deleted - 1)))


# --- spam learning ----------------------------------------------------------------------------


async def spam_command(
    message: Message, role_service: RoleService, settings: Settings, moderation: ModerationService
) -> None:
    reply = _replied(message)
    if reply is None:
        await message.reply(_("Reply to the spam message with /spam."))
        return
    if reply.sender_chat is not None and not reply.is_automatic_forward:
        title = reply.sender_chat.title or str(reply.sender_chat.id)
        target = Target(reply.sender_chat.id, title, is_chat=True)
    elif reply.from_user is not None:
        target = Target(reply.from_user.id, reply.from_user.full_name)
    else:
        return
    refusal = await protect(message.chat.id, target, role_service, settings.bot_id)
    if refusal:
        await message.reply(error_text(refusal))
        return
    text = reply.text or reply.caption or ""
    actor = actor_of(message)
    await moderation.delete(message.chat.id, reply.message_id)
    try:
        action_id = await moderation.ban(
            message.chat.id,
            target,
            actor,
            None,
            _("spam"),
            rule="manual_spam",
            message_id=reply.message_id,
            message_text=text,
        )
    except ModerationError as exc:
        await message.reply(error_text(exc.kind, token=exc.detail))
        return
    await moderation.learn(text, True, actor)
    await message.answer(
        _(
            "🚫 Removed spam from {name} and banned them. I will recognise such messages "
            "better now."
        ).format(name=target.mention),
        reply_markup=undo_keyboard(moderation, action_id),
    )


async def notspam_command(
    message: Message,
    command: CommandObject,
    moderation: ModerationService,
    mod_repo: ModerationRepository,
) -> None:
    reply = _replied(message)
    actor = actor_of(message)
    if command.args and command.args.strip().lstrip("#").isdigit():
        action = await mod_repo.action(int(command.args.strip().lstrip("#")))
        if action is None or action.chat_id != message.chat.id:
            await message.reply(
                _("There is no action #{id} in this chat.").format(id=command.args.strip())
            )
            return
        await moderation.undo(action, actor)
        if action.message_text and action.rule not in {"spam", "manual_spam"}:
            await moderation.learn(action.message_text, False, actor)
        await message.reply(_("↩️ Undone, and I learned that this message is not spam."))
        return
    if reply is None or not (reply.text or reply.caption):
        await message.reply(
            _(
                "Reply to a message with /notspam, or give the number of a spam "
                "action from /modlog: /notspam 42."
            )
        )
        return
    await moderation.learn(reply.text or reply.caption or "", False, actor)
    await message.reply(_("Thanks, I learned that this message is not spam."))


# --- approvals --------------------------------------------------------------------------------


async def approve_command(
    message: Message,
    command: CommandObject,
    users: UserRepository,
    role_service: RoleService,
    settings: Settings,
    moderation: ModerationService,
) -> None:
    found = await target_from_command(message, command, users, role_service, settings)
    if not found:
        return
    target, _args = found
    if await moderation.approve(message.chat.id, target, actor_of(message)):
        await message.reply(
            _("✅ {name} is approved: automatic checks skip them.").format(name=target.mention)
        )
    else:
        await message.reply(_("{name} is already approved.").format(name=target.mention))


async def unapprove_command(
    message: Message,
    command: CommandObject,
    users: UserRepository,
    role_service: RoleService,
    settings: Settings,
    moderation: ModerationService,
) -> None:
    found = await target_from_command(message, command, users, role_service, settings)
    if not found:
        return
    target, _args = found
    if await moderation.unapprove(message.chat.id, target, actor_of(message)):
        await message.reply(_("{name} is no longer approved.").format(name=target.mention))
    else:
        await message.reply(_("{name} was not approved.").format(name=target.mention))


# --- blocklist --------------------------------------------------------------------------------


async def filter_command(
    message: Message,
    command: CommandObject,
    mod_repo: ModerationRepository,
    moderation: ModerationService,
) -> None:
    if not command.args:
        await message.reply(html.escape(_("Usage: /filter <word or phrase> or /filter /regex/")))
        return
    try:
        pattern, is_regex = parse_filter(command.args)
    except BadPattern:
        await message.reply(
            _(
                "This pattern is not usable (too long, invalid or too slow to "
                "check). Try a simpler word or expression."
            )
        )
        return
    added = await mod_repo.add_filter(
        message.chat.id, pattern, is_regex, actor_of(message).id, moderation.now()
    )
    moderation.forget_blocklist(message.chat.id)
    shown = f"/{pattern}/" if is_regex else pattern
    if added:
        await message.reply(
            _("🚫 Added to the blocklist: {pattern}").format(
                pattern=f"<code>{html.escape(shown)}</code>"
            )
        )
    else:
        await message.reply(
            _("Already in the blocklist: {pattern}").format(
                pattern=f"<code>{html.escape(shown)}</code>"
            )
        )


async def unfilter_command(
    message: Message,
    command: CommandObject,
    mod_repo: ModerationRepository,
    moderation: ModerationService,
) -> None:
    if not command.args:
        await message.reply(
            html.escape(_("Usage: /unfilter <word> or /unfilter /regex/ (see /filters)"))
        )
        return
    try:
        pattern, is_regex = parse_filter(command.args)
    except BadPattern:
        pattern, is_regex = command.args.strip(), False
    removed = await mod_repo.remove_filter(message.chat.id, pattern, is_regex)
    moderation.forget_blocklist(message.chat.id)
    shown = html.escape(f"/{pattern}/" if is_regex else pattern)
    if removed:
        await message.reply(
            _("Removed from the blocklist: {pattern}").format(pattern=f"<code>{shown}</code>")
        )
    else:
        await message.reply(
            _("Not in the blocklist: {pattern}").format(pattern=f"<code>{shown}</code>")
        )


async def filters_command(message: Message, mod_repo: ModerationRepository) -> None:
    entries = await mod_repo.filters(message.chat.id)
    if not entries:
        await message.reply(
            _(
                "The blocklist is empty. Add a word with /filter word or a "
                "pattern with /filter /regex/."
            )
        )
        return
    lines = [_("Blocklist of this chat:")]
    lines += [
        f"• <code>{html.escape(f'/{f.pattern}/' if f.is_regex else f.pattern)}</code>"
        for f in entries
    ]
    await message.reply("\n".join(lines))


# --- rules, limits, log -----------------------------------------------------------------------


async def setrules_command(
    message: Message, command: CommandObject, mod_repo: ModerationRepository
) -> None:
    text = (command.args or "").strip()
    reply = _replied(message)
    if not text and reply is not None:
        text = (reply.html_text if reply.text else "") or ""
    if not text:
        await message.reply(
            html.escape(
                _("Usage: /setrules <text of the rules>, or reply to a message with /setrules.")
            )
        )
        return
    await mod_repo.update_settings(message.chat.id, rules=text[:3500])
    await message.reply(_("Rules saved. Members can read them with /rules."))


async def rules_command(message: Message, mod_repo: ModerationRepository) -> None:
    rules = (await mod_repo.settings(message.chat.id)).rules
    if not rules:
        await message.reply(_("No rules are set yet. Admins can set them with /setrules."))
        return
    await message.reply(_("📜 Rules of this chat:") + "\n\n" + rules)


async def setwarnlimit_command(
    message: Message, command: CommandObject, mod_repo: ModerationRepository
) -> None:
    try:
        limit, action, duration = parse_warn_limit(command.args or "")
    except ArgumentError as exc:
        await message.reply(
            error_text(exc.kind if exc.kind == "bad_limit" else "bad_duration", token=exc.token)
        )
        return
    await mod_repo.update_settings(
        message.chat.id,
        warn_limit=limit,
        warn_action=action,
        warn_action_seconds=int(duration.total_seconds()) if duration else None,
    )
    shown = action + (f" {format_duration(duration)}" if duration else "")
    await message.reply(
        _("Warn limit set: {limit} warns → {action}.").format(limit=limit, action=shown)
    )


async def modlog_command(
    message: Message,
    command: CommandObject,
    mod_repo: ModerationRepository,
    moderation: ModerationService,
    settings: Settings,
) -> None:
    arg = (command.args or "").strip()
    limit = min(50, int(arg)) if arg.isdigit() and int(arg) > 0 else 10
    actions = await mod_repo.recent_actions(message.chat.id, limit)
    if not actions:
        await message.reply(_("No moderation actions in this chat yet."))
        return
    lines = [_("Last {count} actions:").format(count=len(actions))]
    posting = await moderation.outbox.states([a.id for a in actions])
    waiting, failed = False, None
    for a in actions:
        when = datetime.fromtimestamp(a.created_at, settings.timezone).strftime("%d.%m %H:%M")
        label = action_label(moderation.i18n, a.action, moderation.i18n.current_locale)
        who = html.escape(a.target_name or "") if a.target_id else ""
        by = html.escape(a.actor_name or "Steward")
        line = f"#{a.id} {when} {html.escape(label)} {who} · {by}"
        if a.rule:
            line += f" ({html.escape(a.rule)})"
        if a.reason:
            line += f" — {html.escape(a.reason[:60])}"
        if a.undone_at:
            line += " ↩️"
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
    await message.reply("\n".join(lines))


async def setlog_command(
    message: Message, command: CommandObject, bot: Bot, mod_repo: ModerationRepository
) -> None:
    arg = (command.args or "").strip()
    if arg.lower() in {"off", "none", "-"}:
        await mod_repo.update_settings(message.chat.id, log_chat_id=None)
        await message.reply(_("This chat's moderation log is switched back to the default."))
        return
    if not arg.lstrip("-").isdigit():
        await message.reply(
            html.escape(_("Usage: /setlog <chat id> (add me to that chat first), or /setlog off"))
        )
        return
    log_chat = int(arg)
    try:
        await bot.send_message(
            log_chat,
            _("This chat now receives the moderation log of {title}.").format(
                title=html.escape(message.chat.title or str(message.chat.id))
            ),
        )
    except TelegramAPIError:
        await message.reply(_("I can't post in that chat. Add me there first, then try again."))
        return
    await mod_repo.update_settings(message.chat.id, log_chat_id=log_chat)
    await message.reply(_("The moderation log now goes to {chat}.").format(chat=log_chat))


async def setlanguages_command(
    message: Message, command: CommandObject, mod_repo: ModerationRepository
) -> None:
    codes = [
        c.strip().lower() for c in (command.args or "").replace(" ", ",").split(",") if c.strip()
    ]
    if not codes or any(c not in PLAUSIBLE for c in codes):
        await message.reply(
            _(
                "Usage: /setlanguages en,nl — two-letter codes of the languages "
                "this chat speaks. Then turn the language rule on in /settings."
            )
        )
        return
    await mod_repo.update_settings(message.chat.id, languages=",".join(dict.fromkeys(codes)))
    await message.reply(
        _("This chat's languages: {languages}.").format(languages=", ".join(dict.fromkeys(codes)))
    )


async def setcaptcha_command(
    message: Message, command: CommandObject, mod_repo: ModerationRepository
) -> None:
    arg = (command.args or "").strip().lower().rstrip("s")
    if not arg.isdigit() or not 30 <= int(arg) <= 3600:
        await message.reply(
            html.escape(_("Usage: /setcaptcha <seconds from 30 to 3600>, e.g. /setcaptcha 120"))
        )
        return
    updated = await mod_repo.update_settings(message.chat.id, captcha_seconds=int(arg))
    text = _("Newcomers now have {seconds} seconds to press the captcha button.").format(
        seconds=int(arg)
    )
    if updated.captcha_mode == "off":
        text += " " + _("The captcha is off; turn it on in /settings.")
    await message.reply(text)


# --- /settings --------------------------------------------------------------------------------

RULES = ("spam", "flood", "blocklist", "language", "captcha")


def settings_view(chat_settings) -> tuple[str, InlineKeyboardMarkup]:
    names = {
        "spam": _("Spam from new members"),
        "flood": _("Flood"),
        "blocklist": _("Blocklist"),
        "language": _("Foreign language"),
        "captcha": _("Join captcha"),
    }
    mode_names = {"off": _("off"), "log": _("log only"), "enforce": _("enforce")}
    lines = [_("Automatic rules of this chat (tap to change):")]
    rows = []
    for rule in RULES:
        mode = getattr(chat_settings, f"{rule}_mode")
        label = f"{names[rule]}: {mode_names[mode]}"
        lines.append(f"• {html.escape(label)}")
        rows.append(
            [InlineKeyboardButton(text=label, callback_data=SettingsCallback(key=rule).pack())]
        )
    action_label_text = _("Spam action: {action}").format(
        action=_("ban") if chat_settings.spam_action == "ban" else _("mute")
    )
    warn_label = _("Warn on blocklist: {state}").format(
        state=_("yes") if chat_settings.blocklist_warn else _("no")
    )
    rows.append(
        [
            InlineKeyboardButton(
                text=action_label_text, callback_data=SettingsCallback(key="spam_action").pack()
            ),
            InlineKeyboardButton(
                text=warn_label, callback_data=SettingsCallback(key="blocklist_warn").pack()
            ),
        ]
    )
    lines.append(f"• {html.escape(action_label_text)}")
    lines.append(f"• {html.escape(warn_label)}")
    lines.append(
        _("Flood: more than {count} messages in {seconds}s → mute {mute}.").format(
            count=chat_settings.flood_count,
            seconds=chat_settings.flood_seconds,
            mute=format_duration(timedelta(seconds=chat_settings.flood_mute_seconds)),
        )
    )
    if chat_settings.languages:
        lines.append(_("Languages: {languages}").format(languages=chat_settings.languages))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def settings_command(message: Message, mod_repo: ModerationRepository) -> None:
    text, markup = settings_view(await mod_repo.settings(message.chat.id))
    await message.reply(text, reply_markup=markup)


async def settings_pressed(
    query: CallbackQuery, callback_data: SettingsCallback, mod_repo: ModerationRepository
) -> None:
    chat_id = query.message.chat.id
    current = await mod_repo.settings(chat_id)
    key = callback_data.key
    if key in RULES:
        mode = getattr(current, f"{key}_mode")
        new = MODES[(MODES.index(mode) + 1) % len(MODES)]
        updated = await mod_repo.update_settings(chat_id, **{f"{key}_mode": new})
    elif key == "spam_action":
        updated = await mod_repo.update_settings(
            chat_id, spam_action="mute" if current.spam_action == "ban" else "ban"
        )
    elif key == "blocklist_warn":
        updated = await mod_repo.update_settings(
            chat_id, blocklist_warn=0 if current.blocklist_warn else 1
        )
    else:
        await query.answer()
        return
    text, markup = settings_view(updated)
    await edit_or_same(query.message.edit_text(text, reply_markup=markup))
    await query.answer(_("Saved."))


# --- audit log buttons ------------------------------------------------------------------------


async def log_button(
    query: CallbackQuery,
    callback_data: ModCallback,
    mod_repo: ModerationRepository,
    moderation: ModerationService,
    role_service: RoleService,
) -> None:
    action = await mod_repo.action(callback_data.action_id)
    if action is None:
        await query.answer(_("This action is no longer in the log."), show_alert=True)
        return
    roles = await role_service.roles_for_user(action.chat_id, query.from_user.id)
    if not (roles.is_admin or roles.is_manager):
        await query.answer(_("Only admins of that chat can do this."), show_alert=True)
        return
    if callback_data.op == "details":
        await query.answer(moderation.render_details(action), show_alert=True)
        return
    try:
        outcome = await moderation.undo(
            action, Actor(query.from_user.id, query.from_user.full_name)
        )
    except ModerationError as exc:
        await query.answer(error_text(exc.kind, token=exc.detail), show_alert=True)
        return
    answers = {
        "done": _("Undone."),
        "partial": _("Undone as far as Telegram allows: a deleted message cannot come back."),
        "already": _("This was already undone."),
        "unsupported": _("This action cannot be undone."),
    }
    await query.answer(answers[outcome], show_alert=outcome != "done")
    if query.message and query.message.chat.id == action.chat_id and outcome in {"done", "partial"}:
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_reply_markup(reply_markup=None)


# --- reports ----------------------------------------------------------------------------------


class ReportLimiter:
    """A member may file a few reports per window; more is treated as abuse."""

    def __init__(self) -> None:
        self._recent: dict[tuple[int, int], deque[float]] = defaultdict(deque)

    def allow(self, chat_id: int, user_id: int, now: float) -> bool:
        recent = self._recent[(chat_id, user_id)]
        while recent and now - recent[0] > REPORT_WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= REPORTS_PER_WINDOW:
            return False
        recent.append(now)
        return True


def report_keyboard(chat_id: int, message_id: int, user_id: int) -> InlineKeyboardMarkup:
    def button(text: str, op: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text,
            callback_data=ReportCallback(
                op=op, chat_id=chat_id, message_id=message_id, user_id=user_id
            ).pack(),
        )

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button(_("🗑 Delete"), "del"),
                button(_("⚠️ Warn"), "warn"),
                button(_("🔇 Mute 1d"), "mute"),
            ],
            [button(_("🔨 Ban"), "ban"), button(_("✖️ Dismiss"), "dismiss")],
        ]
    )


async def report_command(
    message: Message,
    bot: Bot,
    role_service: RoleService,
    moderation: ModerationService,
    notes: PrivateNotes,
    report_limiter: ReportLimiter,
) -> None:
    reply = _replied(message)
    if reply is None:
        await message.reply(_("Reply to the message you want to report with /report."))
        return
    reporter = message.from_user
    if reporter is None or reply.from_user is None:
        return
    if not report_limiter.allow(message.chat.id, reporter.id, time.monotonic()):
        await message.reply(
            _(
                "You have sent several reports recently; please wait a few "
                "minutes before the next one."
            )
        )
        return
    if await role_service.is_chat_admin(message.chat.id, reply.from_user.id):
        await message.reply(_("That message is from an admin; reports are for members."))
        return
    text = _("📣 Report in {chat}: {reporter} reported {target}").format(
        chat=html.escape(message.chat.title or str(message.chat.id)),
        reporter=Target(reporter.id, reporter.full_name).mention,
        target=Target(reply.from_user.id, reply.from_user.full_name).mention,
    )
    body = reply.text or reply.caption
    if body:
        text += f"\n<i>{html.escape(body[:500])}</i>"
    link = message_link(message.chat.id, message.chat.username, reply.message_id)
    if link:
        text += f"\n{link}"
    markup = report_keyboard(message.chat.id, reply.message_id, reply.from_user.id)
    log_chat = await moderation.log_chat_for(message.chat.id)
    if log_chat:
        # through the log outbox, ahead of log entries: the reporter is answered at once
        await moderation.queue_report(log_chat, text, markup)
        await message.reply(_("Thanks, the admins have been notified."))
        return
    delivered = 0
    # no log chat: every admin is tried, since only Telegram knows who started the bot
    for uid in await role_service.admin_ids(message.chat.id):
        if uid != role_service.settings.bot_id:
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


async def report_pressed(
    query: CallbackQuery,
    callback_data: ReportCallback,
    role_service: RoleService,
    moderation: ModerationService,
) -> None:
    chat_id = callback_data.chat_id
    roles = await role_service.roles_for_user(chat_id, query.from_user.id)
    if not roles.is_admin:
        await query.answer(_("Only admins of that chat can do this."), show_alert=True)
        return
    actor = Actor(query.from_user.id, query.from_user.full_name)
    target = Target(callback_data.user_id, str(callback_data.user_id))
    op = callback_data.op
    try:
        if op == "del":
            await moderation.delete(chat_id, callback_data.message_id)
            await moderation.record(
                chat_id,
                actor,
                target,
                "delete",
                message_id=callback_data.message_id,
                reason="report",
            )
        elif op == "warn":
            await moderation.warn(chat_id, target, actor, "report")
        elif op == "mute":
            await moderation.mute(chat_id, target, actor, timedelta(days=1), "report")
        elif op == "ban":
            await moderation.delete(chat_id, callback_data.message_id)
            await moderation.ban(chat_id, target, actor, None, "report")
    except ModerationError as exc:
        await query.answer(error_text(exc.kind, token=exc.detail), show_alert=True)
        return
    outcome = {
        "del": _("🗑 Deleted"),
        "warn": _("⚠️ Warned"),
        "mute": _("🔇 Muted for 1d"),
        "ban": _("🔨 Banned"),
        "dismiss": _("✖️ Dismissed"),
    }[op]
    await query.answer(outcome)
    if query.message is not None:
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(
                f"{query.message.html_text}\n\n{html.escape(outcome)} · "
                f"{html.escape(query.from_user.full_name)}",
                reply_markup=None,
            )


# --- router -----------------------------------------------------------------------------------


_CALL_ADMINS = re.compile(r"(?i)(^|\s)@admins?\b")


async def calls_admins(message: Message) -> bool:
    """`@admin` or `@admins` in a reply reports the replied message, like /report."""
    return message.reply_to_message is not None and bool(_CALL_ADMINS.search(message.text or ""))


def create_router() -> Router:
    router = Router(name="moderation")
    m = router.message
    m.register(warn_command, Command("warn"), flags=ADMIN)
    m.register(unwarn_command, Command("unwarn"), flags=ADMIN)
    m.register(warns_command, Command("warns"), flags=GROUP)
    m.register(resetwarns_command, Command("resetwarns"), flags=ADMIN)
    m.register(restrict_command, Command("mute", "unmute", "ban", "unban", "kick"), flags=ADMIN)
    m.register(del_command, Command("del"), flags=ADMIN)
    m.register(purge_command, Command("purge"), flags=ADMIN)
    m.register(spam_command, Command("spam"), flags=ADMIN)
    m.register(notspam_command, Command("notspam"), flags=ADMIN)
    m.register(approve_command, Command("approve"), flags=ADMIN)
    m.register(unapprove_command, Command("unapprove"), flags=ADMIN)
    m.register(filter_command, Command("filter"), flags=ADMIN)
    m.register(unfilter_command, Command("unfilter"), flags=ADMIN)
    m.register(filters_command, Command("filters"), flags=ADMIN)
    m.register(setrules_command, Command("setrules"), flags=ADMIN)
    m.register(rules_command, Command("rules"), flags=GROUP)
    m.register(setwarnlimit_command, Command("setwarnlimit"), flags=ADMIN)
    m.register(modlog_command, Command("modlog"), flags=ADMIN)
    m.register(settings_command, Command("settings"), flags=ADMIN)
    m.register(setlog_command, Command("setlog"), flags=ADMIN)
    m.register(setlanguages_command, Command("setlanguages"), flags=ADMIN)
    m.register(setcaptcha_command, Command("setcaptcha"), flags=ADMIN)
    m.register(report_command, Command("report"), flags=GROUP)
    m.register(report_command, calls_admins, flags=GROUP)
    c = router.callback_query
    c.register(settings_pressed, SettingsCallback.filter(), flags={"role": "admin"})
    c.register(log_button, ModCallback.filter())
    c.register(report_pressed, ReportCallback.filter())
    return router
