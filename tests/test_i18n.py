"""The catalogs are complete: every string in the code is translated into Russian and Dutch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.commands import COMMANDS
from bot.i18n import create_i18n, pick_language

ROOT = Path(__file__).parents[1]


def test_catalogs_match_the_code():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update_locales.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + " -> run scripts/update_locales.py"


@pytest.mark.parametrize("locale", ["ru", "nl"])
def test_every_message_is_translated_with_the_same_placeholders(locale):
    from babel.messages.pofile import read_po

    path = ROOT / "bot" / "locales" / locale / "LC_MESSAGES" / "messages.po"
    catalog = read_po(path.open("rb"), locale=locale)
    missing, broken = [], []
    for message in catalog:
        if not message.id:
            continue
        # a plural message has one msgid and one translation per plural form of the language
        source = message.id[0] if message.pluralizable else message.id
        forms = list(message.string) if message.pluralizable else [message.string]
        if message.pluralizable and len(forms) != catalog.num_plurals:
            broken.append(source)
        if not all(forms):
            missing.append(source)
            continue
        placeholders = set(re.findall(r"\{[a-z_0-9]*\}", source))
        tag = r"</?(?:b|i|u|s|a|code|pre|blockquote|tg-spoiler)\b[^>]*>"
        for form in forms:
            if placeholders != set(re.findall(r"\{[a-z_0-9]*\}", form)):
                broken.append(source)
            if sorted(re.findall(tag, source)) != sorted(re.findall(tag, form)):
                broken.append(source)
    assert not missing, f"untranslated in {locale}: {missing}"
    assert not broken, f"placeholders or tags differ in {locale}: {broken}"


def test_catalog_translates_and_falls_back():
    i18n = create_i18n("en")
    assert set(i18n.available_locales) >= {"en", "ru", "nl"}
    for spec in COMMANDS:
        assert i18n.gettext(spec.description, locale="ru") != spec.description
    assert i18n.gettext("For everyone", locale="nl") == "Voor iedereen"
    assert i18n.gettext("For everyone", locale="en") == "For everyone"


def test_pick_language():
    langs = ("en", "ru", "nl")
    assert pick_language(["ru-RU"], langs, "en") == "ru"
    assert pick_language(["pt-br"], langs, "en") == "en"
    assert pick_language([None, "nl"], langs, "en") == "nl"
    assert pick_language([], ("nl", "en"), "nl") == "nl"


def test_plural_messages_use_each_languages_forms():
    i18n = create_i18n("en")
    forms = {
        n: i18n.gettext("🔗 {count} button", "🔗 {count} buttons", n, locale="ru").format(count=n)
        for n in (1, 3, 5, 21)
    }
    assert forms == {1: "🔗 1 кнопка", 3: "🔗 3 кнопки", 5: "🔗 5 кнопок", 21: "🔗 21 кнопка"}
    assert i18n.gettext("🔗 {count} button", "🔗 {count} buttons", 2, locale="en") == (
        "🔗 {count} buttons"
    )


def test_plural_for_speaks_one_locale_outside_a_handler():
    from bot.i18n import plural_for

    ru, nl = plural_for(create_i18n("en"), "ru"), plural_for(create_i18n("en"), "nl")
    days = {
        n: ru(
            "📊 {title}, last {days} day ({first} – {last})",
            "📊 {title}, last {days} days ({first} – {last})",
            n,
        ).format(title="Club", days=n, first="a", last="b")
        for n in (1, 3, 30)
    }
    assert days == {
        1: "📊 Club, последний 1 день (a – b)",
        3: "📊 Club, последние 3 дня (a – b)",
        30: "📊 Club, последние 30 дней (a – b)",
    }
    assert nl("limit {n} member", "limit {n} members", 1).format(n=1) == "limiet 1 lid"
