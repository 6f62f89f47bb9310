"""Moderator-command policies without Telegram: the /settings toggles and who hears a report."""

from __future__ import annotations

from bot.moderation.chat_settings import RULES, SettingKey, toggled
from bot.moderation.reports import ReportLimiter, report_recipients
from storage.moderation import ChatModSettings


def test_each_rule_cycles_off_log_enforce_and_switches_flip():
    settings = ChatModSettings(chat_id=-1)
    assert toggled(settings, SettingKey.SPAM) == {"spam_mode": "off"}  # enforce -> off
    assert toggled(settings, SettingKey.LANGUAGE) == {"language_mode": "log"}  # off -> log
    assert toggled(ChatModSettings(-1, language_mode="log"), SettingKey.LANGUAGE) == {
        "language_mode": "enforce"
    }
    assert toggled(settings, SettingKey.SPAM_ACTION) == {"spam_action": "mute"}
    assert toggled(ChatModSettings(-1, spam_action="mute"), SettingKey.SPAM_ACTION) == {
        "spam_action": "ban"
    }
    assert toggled(settings, SettingKey.BLOCKLIST_WARN) == {"blocklist_warn": 1}
    assert set(RULES) < set(SettingKey)


def test_a_report_goes_to_the_log_chat_else_to_every_admin_but_the_bot():
    assert report_recipients(-500, [1, 2, 99], 99).log_chat == -500
    assert report_recipients(-500, [1, 2, 99], 99).admins == ()
    assert report_recipients(None, [1, 2, 99], 99).admins == (1, 2)


def test_a_member_files_three_reports_per_ten_minutes():
    limiter = ReportLimiter()
    assert all(limiter.allow(-1, 7, t) for t in (0, 1, 2))
    assert not limiter.allow(-1, 7, 3)
    assert limiter.allow(-2, 7, 3)  # per chat
    assert limiter.allow(-1, 7, 601)
