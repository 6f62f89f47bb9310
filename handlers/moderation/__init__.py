"""Moderator commands in groups, by use case: acting on members and messages (`actions`),
warns, the blocklist, a chat's settings, members' reports and the audit log. One router for
them all: each router level would cost every message addressed to the bot."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command

from bot.moderation.buttons import ReportCallback, SettingsCallback
from bot.moderation.service import ModCallback
from handlers.moderation import actions, audit, blocklist, reports, settings, warns
from handlers.moderation.common import ADMIN, GROUP


def create_router() -> Router:
    router = Router(name="moderation")
    m = router.message
    m.register(warns.warn_command, Command("warn"), flags=ADMIN)
    m.register(warns.unwarn_command, Command("unwarn"), flags=ADMIN)
    m.register(warns.warns_command, Command("warns"), flags=GROUP)
    m.register(warns.resetwarns_command, Command("resetwarns"), flags=ADMIN)
    m.register(
        actions.restrict_command, Command("mute", "unmute", "ban", "unban", "kick"), flags=ADMIN
    )
    m.register(actions.del_command, Command("del"), flags=ADMIN)
    m.register(actions.purge_command, Command("purge"), flags=ADMIN)
    m.register(actions.spam_command, Command("spam"), flags=ADMIN)
    m.register(actions.notspam_command, Command("notspam"), flags=ADMIN)
    m.register(actions.approval_command, Command("approve", "unapprove"), flags=ADMIN)
    m.register(blocklist.filter_command, Command("filter"), flags=ADMIN)
    m.register(blocklist.unfilter_command, Command("unfilter"), flags=ADMIN)
    m.register(blocklist.filters_command, Command("filters"), flags=ADMIN)
    m.register(settings.setrules_command, Command("setrules"), flags=ADMIN)
    m.register(settings.rules_command, Command("rules"), flags=GROUP)
    m.register(settings.setwarnlimit_command, Command("setwarnlimit"), flags=ADMIN)
    m.register(audit.modlog_command, Command("modlog"), flags=ADMIN)
    m.register(settings.settings_command, Command("settings"), flags=ADMIN)
    m.register(settings.setlog_command, Command("setlog"), flags=ADMIN)
    m.register(settings.setlanguages_command, Command("setlanguages"), flags=ADMIN)
    m.register(settings.setcaptcha_command, Command("setcaptcha"), flags=ADMIN)
    m.register(reports.report_command, Command("report"), flags=GROUP)
    m.register(reports.report_command, reports.calls_admins, flags=GROUP)
    c = router.callback_query
    c.register(settings.settings_pressed, SettingsCallback.filter(), flags={"role": "admin"})
    c.register(audit.log_button, ModCallback.filter())
    c.register(reports.report_pressed, ReportCallback.filter())
    return router
