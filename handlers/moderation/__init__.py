"""Moderator commands in groups, by use case: acting on members and messages (`actions`),
warns, the blocklist, a chat's settings, members' reports and the audit log. One router for
them all: each router level would cost every message addressed to the bot."""

from __future__ import annotations

from aiogram import Router

from bot.commands import on_command
from bot.moderation.buttons import ReportCallback, SettingsCallback
from bot.moderation.service import ModCallback
from handlers.moderation import actions, audit, blocklist, reports, settings, warns
from handlers.moderation.common import GROUP


def create_router() -> Router:
    router = Router(name="moderation")
    m = router.message
    on_command(m, warns.warn_command, "warn")
    on_command(m, warns.unwarn_command, "unwarn")
    on_command(m, warns.warns_command, "warns")
    on_command(m, warns.resetwarns_command, "resetwarns")
    on_command(m, actions.restrict_command, "mute", "unmute", "ban", "unban", "kick")
    on_command(m, actions.del_command, "del")
    on_command(m, actions.purge_command, "purge")
    on_command(m, actions.spam_command, "spam")
    on_command(m, actions.notspam_command, "notspam")
    on_command(m, actions.approval_command, "approve", "unapprove")
    on_command(m, blocklist.filter_command, "filter")
    on_command(m, blocklist.unfilter_command, "unfilter")
    on_command(m, blocklist.filters_command, "filters")
    on_command(m, settings.setrules_command, "setrules")
    on_command(m, settings.rules_command, "rules")
    on_command(m, settings.setwarnlimit_command, "setwarnlimit")
    on_command(m, audit.modlog_command, "modlog")
    on_command(m, settings.settings_command, "settings")
    on_command(m, settings.setlog_command, "setlog")
    on_command(m, settings.setlanguages_command, "setlanguages")
    on_command(m, settings.setcaptcha_command, "setcaptcha")
    on_command(m, reports.report_command, "report")
    m.register(reports.report_command, reports.calls_admins, flags=GROUP)
    c = router.callback_query
    c.register(settings.settings_pressed, SettingsCallback.filter(), flags={"role": "admin"})
    c.register(audit.log_button, ModCallback.filter())
    c.register(reports.report_pressed, ReportCallback.filter())
    return router
