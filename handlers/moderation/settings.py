"""A chat's moderation settings: /settings and its buttons, /setrules and /rules,
/setwarnlimit, /setlog, /setlanguages and /setcaptcha."""

from __future__ import annotations

import html
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.edits import edit_or_same
from bot.guards import accessible_message, button_message
from bot.moderation.args import ArgumentError, parse_warn_limit
from bot.moderation.buttons import SettingsCallback, SettingsTap
from bot.moderation.chat_settings import RULES, SettingKey, mode_of, shown_value
from bot.moderation.durations import format_duration
from bot.moderation.language import PLAUSIBLE
from bot.moderation.problems import Problem
from bot.moderation.service import ModerationService
from bot.moderation.targets import replied
from bot.roles import RoleService, is_anonymous_admin_message
from bot.texts import command_args_html, cut_to, typed_chat_id, visible_length
from handlers.moderation.common import error_text
from storage.moderation import ChatModSettings

OFF = ("off", "none", "-")
RULES_LIMIT = 3500  # with the heading, well inside a message's 4,096 characters


def settings_view(chat_settings: ChatModSettings) -> tuple[str, InlineKeyboardMarkup]:
    names = {
        SettingKey.SPAM: _("Spam from new members"),
        SettingKey.FLOOD: _("Flood"),
        SettingKey.BLOCKLIST: _("Blocklist"),
        SettingKey.LANGUAGE: _("Foreign language"),
        SettingKey.CAPTCHA: _("Join captcha"),
    }
    mode_names = {"off": _("off"), "log": _("log only"), "enforce": _("enforce")}
    lines = [_("Automatic rules of this chat (tap to change):")]
    builder = InlineKeyboardBuilder()
    for rule in RULES:
        label = f"{names[rule]}: {mode_names[mode_of(chat_settings, rule)]}"
        lines.append(f"• {html.escape(label)}")
        builder.button(text=label, callback_data=tap(chat_settings, rule))
    action_label_text = _("Spam action: {action}").format(
        action=_("ban") if chat_settings.spam_action == "ban" else _("mute")
    )
    warn_label = _("Warn on blocklist: {state}").format(
        state=_("yes") if chat_settings.blocklist_warn else _("no")
    )
    builder.button(text=action_label_text, callback_data=tap(chat_settings, SettingKey.SPAM_ACTION))
    builder.button(text=warn_label, callback_data=tap(chat_settings, SettingKey.BLOCKLIST_WARN))
    builder.adjust(*([1] * len(RULES)), 2)
    lines.append(f"• {html.escape(action_label_text)}")
    lines.append(f"• {html.escape(warn_label)}")
    lines.append(
        ngettext(
            "Flood: more than {count} message in {seconds}s → mute {mute}.",
            "Flood: more than {count} messages in {seconds}s → mute {mute}.",
            chat_settings.flood_count,
        ).format(
            count=chat_settings.flood_count,
            seconds=chat_settings.flood_seconds,
            mute=format_duration(timedelta(seconds=chat_settings.flood_mute_seconds)),
        )
    )
    if chat_settings.languages:
        lines.append(_("Languages: {languages}").format(languages=chat_settings.languages))
    return "\n".join(lines), builder.as_markup()


async def settings_command(message: Message, moderation: ModerationService) -> None:
    text, markup = settings_view(await moderation.chat_settings(message.chat.id))
    await message.reply(text, reply_markup=markup)


def tap(chat_settings: ChatModSettings, key: SettingKey) -> SettingsTap:
    return SettingsTap(key=key, seen=shown_value(chat_settings, key))


async def settings_pressed(
    query: CallbackQuery,
    callback_data: SettingsTap | SettingsCallback,
    moderation: ModerationService,
) -> None:
    """A tap on a /settings button (`SettingsCallback`: of a panel sent before the buttons
    carried what they showed)."""
    seen = callback_data.seen if isinstance(callback_data, SettingsTap) else None
    updated, changed = await moderation.toggle(
        button_message(query).chat.id, callback_data.key, seen
    )
    text, markup = settings_view(updated)
    await edit_or_same(accessible_message(query).edit_text(text, reply_markup=markup))
    await query.answer(_("Saved.") if changed else _("Changed already; this is how it stands now."))


async def setrules_command(
    message: Message, command: CommandObject, moderation: ModerationService
) -> None:
    # rules are sent as HTML: the moderator's formatting kept, a typed "<" still a letter
    plain, text = (command.args or "").strip(), command_args_html(message).strip()
    reply = replied(message)
    if not text and reply is not None and reply.text:
        plain, text = reply.text, reply.html_text
    if visible_length(text) > RULES_LIMIT:  # cut as plain text: not through half a tag
        text = html.escape(cut_to(plain, RULES_LIMIT), quote=False)
    if not text:
        await message.reply(
            html.escape(
                _("Usage: /setrules <text of the rules>, or reply to a message with /setrules.")
            )
        )
        return
    await moderation.update_settings(message.chat.id, rules=text)
    await message.reply(_("Rules saved. Members can read them with /rules."))


async def rules_command(message: Message, moderation: ModerationService) -> None:
    rules = (await moderation.chat_settings(message.chat.id)).rules
    if not rules:
        await message.reply(_("No rules are set yet. Admins can set them with /setrules."))
        return
    await message.reply(_("📜 Rules of this chat:") + "\n\n" + rules)


async def setwarnlimit_command(
    message: Message, command: CommandObject, moderation: ModerationService
) -> None:
    try:
        limit, action, duration = parse_warn_limit(command.args or "")
    except ArgumentError as exc:
        await message.reply(
            error_text(
                exc.kind if exc.kind is Problem.BAD_LIMIT else Problem.BAD_DURATION,
                token=exc.token,
            )
        )
        return
    await moderation.update_settings(
        message.chat.id,
        warn_limit=limit,
        warn_action=action,
        warn_action_seconds=int(duration.total_seconds()) if duration else None,
    )
    # the penalty as a word of the admin's language, not the stored identifier
    words = {"mute": _("mute"), "ban": _("ban"), "kick": _("kick")}
    shown = words.get(action, action) + (f" {format_duration(duration)}" if duration else "")
    await message.reply(
        ngettext(
            "Warn limit set: {limit} warn → {action}.",
            "Warn limit set: {limit} warns → {action}.",
            limit,
        ).format(limit=limit, action=shown)
    )


async def setlog_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    moderation: ModerationService,
    role_service: RoleService,
) -> None:
    arg = (command.args or "").strip()
    if arg.lower() in OFF:
        await moderation.update_settings(message.chat.id, log_chat_id=None)
        await message.reply(_("This chat's moderation log is switched back to the default."))
        return
    log_chat = typed_chat_id(arg)
    if log_chat is None:
        await message.reply(
            html.escape(_("Usage: /setlog <chat id> (add me to that chat first), or /setlog off"))
        )
        return
    if not await may_receive_log(message, log_chat, role_service):
        await message.reply(
            _(
                "Only an admin of that chat can make it this chat's log chat: ask one of its "
                "admins to send /setlog here, or pick a chat you run."
            )
        )
        return
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
    await moderation.update_settings(message.chat.id, log_chat_id=log_chat)
    await message.reply(_("The moderation log now goes to {chat}.").format(chat=log_chat))


async def may_receive_log(message: Message, log_chat: int, role_service: RoleService) -> bool:
    """Whether the one asking runs `log_chat`: an admin of it, or its owner when it is their
    own private chat. The log holds members' names and copies of their messages, and the
    bot posts there first; a chat the bot is in is no one's to fill but its admins'. Who an
    anonymous admin is cannot be told: they are refused, and told who may."""
    user = message.from_user
    if is_anonymous_admin_message(message) or user is None:
        return False
    if log_chat > 0:
        return log_chat == user.id
    return await role_service.is_chat_admin(log_chat, user.id)


async def setlanguages_command(
    message: Message, command: CommandObject, moderation: ModerationService
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
    languages = ",".join(dict.fromkeys(codes))
    await moderation.update_settings(message.chat.id, languages=languages)
    await message.reply(
        _("This chat's languages: {languages}.").format(languages=languages.replace(",", ", "))
    )


async def setcaptcha_command(
    message: Message, command: CommandObject, moderation: ModerationService
) -> None:
    arg = (command.args or "").strip().lower().rstrip("s")
    if not arg.isdecimal() or not 30 <= int(arg) <= 3600:
        await message.reply(
            html.escape(_("Usage: /setcaptcha <seconds from 30 to 3600>, e.g. /setcaptcha 120"))
        )
        return
    updated = await moderation.update_settings(message.chat.id, captcha_seconds=int(arg))
    text = ngettext(
        "Newcomers now have {seconds} second to press the captcha button.",
        "Newcomers now have {seconds} seconds to press the captcha button.",
        int(arg),
    ).format(seconds=int(arg))
    if updated.captcha_mode == "off":
        text += " " + _("The captcha is off; turn it on in /settings.")
    await message.reply(text)
