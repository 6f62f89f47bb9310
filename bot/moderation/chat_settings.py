"""What the /settings buttons change: each automatic rule cycles off → log → enforce, and two
switches flip. Pure: the new values for the settings row, or None for an unknown key."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from storage.moderation import MODES, ChatModSettings


class SettingKey(StrEnum):
    SPAM = "spam"
    FLOOD = "flood"
    BLOCKLIST = "blocklist"
    LANGUAGE = "language"
    CAPTCHA = "captcha"
    SPAM_ACTION = "spam_action"  # ban or mute a spammer
    BLOCKLIST_WARN = "blocklist_warn"  # also warn who used a blocked word


RULES = (
    SettingKey.SPAM,
    SettingKey.FLOOD,
    SettingKey.BLOCKLIST,
    SettingKey.LANGUAGE,
    SettingKey.CAPTCHA,
)


def mode_of(settings: ChatModSettings, rule: SettingKey) -> str:
    return str(getattr(settings, f"{rule.value}_mode"))


def shown_value(settings: ChatModSettings, key: SettingKey) -> str:
    """What a /settings button shows of its setting, as its callback data carries it."""
    if key in RULES:
        return mode_of(settings, key)
    if key is SettingKey.SPAM_ACTION:
        return str(settings.spam_action)
    return "1" if settings.blocklist_warn else "0"


def toggled(settings: ChatModSettings, key: SettingKey) -> dict[str, Any]:
    """The values that one tap on `key` writes."""
    if key in RULES:
        mode = mode_of(settings, key)
        return {f"{key.value}_mode": MODES[(MODES.index(mode) + 1) % len(MODES)]}
    if key is SettingKey.SPAM_ACTION:
        return {"spam_action": "mute" if settings.spam_action == "ban" else "ban"}
    return {"blocklist_warn": 0 if settings.blocklist_warn else 1}
