"""Moderator commands in groups, by use case: acting on members and messages (`actions`),
warns, the blocklist, a chat's settings, members' reports and the audit log. One router for
them all: each router level would cost every message addressed to the bot."""

from __future__ import annotations

from aiogram import Router

from bot.commands import on_command, on_commands
from bot.moderation.buttons import ReportCallback, SettingsCallback, SettingsTap
from bot.moderation.service import ModCallback
from bot.roles import AdminRight, Requirement
from handlers.moderation import actions, audit, blocklist, reports, settings, warns
from handlers.moderation.common import GROUP


def create_router() -> Router:
    router = Router(name="moderation")
    m = router.message
    on_commands(
        m, warns.warn_command, warns.unwarn_command, warns.warns_command, warns.resetwarns_command
    )
    on_command(m, actions.restrict_command, "mute", "unmute", "ban", "unban", "kick")
    on_commands(m, actions.del_command, actions.purge_command)
    on_commands(m, actions.spam_command, actions.notspam_command)
    on_command(m, actions.approval_command, "approve", "unapprove")
    on_commands(m, blocklist.filter_command, blocklist.unfilter_command, blocklist.filters_command)
    on_commands(m, settings.setrules_command, settings.rules_command, settings.setwarnlimit_command)
    on_commands(m, audit.modlog_command)
    on_commands(m, settings.settings_command, settings.setlog_command)
    on_commands(m, settings.setlanguages_command, settings.setcaptcha_command)
    on_commands(m, reports.report_command)
    m.register(reports.report_command, reports.calls_admins, flags=GROUP)
    c = router.callback_query
    for tapped in (SettingsTap, SettingsCallback):  # the latter: panels sent before
        c.register(
            settings.settings_pressed,
            tapped.filter(),
            flags={"role": Requirement.ADMIN, "right": AdminRight.CHANGE_INFO},
        )
    c.register(audit.log_button, ModCallback.filter())
    c.register(reports.report_pressed, ReportCallback.filter())
    return router
