"""The Mini App's pieces without Telegram: settings, the sign-in check, times the API reads,
the page's translations, and the development URL command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiogram.utils.web_app import safe_parse_webapp_init_data

from bot.config import SettingsError, load_settings
from bot.miniapp.auth import AuthError, Caller, authenticate, sign_init_data
from bot.posting.calendar import parse_moment, utc_offsets
from bot.posting.times import TimeError

TOKEN = "123456:ABCdef-ghi_jklmnopqrstuvwxyz012345"
ROOT = Path(__file__).parents[1]
STATIC = ROOT / "bot" / "miniapp" / "static"


def load(**env: str):
    return load_settings(env_file=None, environ={"BOT_TOKEN": TOKEN, **env})


def problems(**env: str) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load(**env)
    return info.value.problems


# --- settings ---------------------------------------------------------------------------------


def test_miniapp_settings_and_defaults():
    s = load()
    assert s.miniapp_url is None and s.miniapp_auth_ttl == 86400
    assert (s.webhook_host, s.webhook_port) == ("127.0.0.1", 8080)
    s = load(MINIAPP_URL="https://bot.example.com/app", HTTP_LISTEN="0.0.0.0:8443")
    assert s.miniapp_url == "https://bot.example.com/app/" and s.miniapp_path == "/app/"
    assert s.miniapp_public and (s.webhook_host, s.webhook_port) == ("0.0.0.0", 8443)
    local = load(MINIAPP_URL="http://127.0.0.1:8080/cal/")
    assert local.miniapp_path == "/cal/" and not local.miniapp_public
    assert load(MINIAPP_AUTH_TTL="2h").miniapp_auth_ttl == 7200
    assert load(MINIAPP_AUTH_TTL="600").miniapp_auth_ttl == 600


def test_webhook_listen_is_the_old_name_of_http_listen():
    s = load(WEBHOOK_LISTEN="0.0.0.0:9000")
    assert (s.webhook_host, s.webhook_port) == ("0.0.0.0", 9000)
    s = load(WEBHOOK_LISTEN="0.0.0.0:9000", HTTP_LISTEN="0.0.0.0:9000")
    assert s.webhook_port == 9000
    [line] = problems(WEBHOOK_LISTEN="0.0.0.0:9000", HTTP_LISTEN="0.0.0.0:9001")
    assert "HTTP_LISTEN" in line and "WEBHOOK_LISTEN" in line
    [line] = problems(HTTP_LISTEN="8080")
    assert line.startswith("HTTP_LISTEN must be host:port")


@pytest.mark.parametrize(
    ("env", "start"),
    [
        ({"MINIAPP_URL": "http://bot.example.com/app/"}, "MINIAPP_URL must use https://"),
        ({"MINIAPP_URL": "bot.example.com"}, "MINIAPP_URL must be the https address"),
        ({"MINIAPP_URL": "https://bot.example.com/api/x/"}, "MINIAPP_URL must not be under"),
        ({"MINIAPP_URL": "https://b.example.com/a/?x=1"}, "MINIAPP_URL must not carry"),
        ({"MINIAPP_AUTH_TTL": "forever"}, "MINIAPP_AUTH_TTL must be a duration"),
        ({"MINIAPP_AUTH_TTL": "10s"}, "MINIAPP_AUTH_TTL must be a duration"),
    ],
)
def test_bad_miniapp_settings(env, start):
    [line] = problems(**env)
    assert line.startswith(start), line


def test_webhook_and_miniapp_need_different_paths():
    found = problems(
        WEBHOOK_URL="https://b.example.com/app/",
        WEBHOOK_SECRET="s3cret",
        MINIAPP_URL="https://b.example.com/app/",
    )
    assert any("different paths" in p for p in found)


# --- sign-in ----------------------------------------------------------------------------------


def test_signed_init_data_passes_aiogram_check():
    data = sign_init_data(TOKEN, 77, 1_700_000_000, language_code="nl")
    parsed = safe_parse_webapp_init_data(TOKEN, data)
    assert parsed.user.id == 77 and parsed.user.language_code == "nl"


def test_authenticate_outcomes():
    now = time.time()
    good = "tma " + sign_init_data(TOKEN, 77, int(now) - 60)
    managers = frozenset({77})
    assert authenticate(good, TOKEN, managers, 3600, now) == Caller(77, "en")
    assert authenticate(None, TOKEN, managers, 3600, now) is AuthError.MISSING
    assert authenticate("tma ", TOKEN, managers, 3600, now) is AuthError.MISSING
    assert authenticate(good.replace("tma", "Bearer"), TOKEN, managers, 3600, now) is (
        AuthError.MISSING
    )
    other = "654321:ZYXdef-ghi_jklmnopqrstuvwxyz012345"
    assert authenticate(good, other, managers, 3600, now) is AuthError.INVALID
    assert authenticate(good, TOKEN, managers, 30, now) is AuthError.EXPIRED
    future = "tma " + sign_init_data(TOKEN, 77, int(now) + 3600)
    assert authenticate(future, TOKEN, managers, 3600, now) is AuthError.EXPIRED
    assert authenticate(good, TOKEN, frozenset({78}), 3600, now) is AuthError.FORBIDDEN
    garbage = "tma %%%&&&=="
    assert authenticate(garbage, TOKEN, managers, 3600, now) is AuthError.INVALID


# --- times ------------------------------------------------------------------------------------


def test_parse_moment_offsets_and_local_times():
    ams = ZoneInfo("Europe/Amsterdam")
    assert parse_moment("2026-12-01T10:00:00+01:00", ams) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert parse_moment("2026-12-01T09:00:00Z", ams) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert parse_moment("2026-12-01T10:00", ams) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert parse_moment("2026-07-01T10:00", ams) == datetime(2026, 7, 1, 8, tzinfo=UTC)
    # RFC 3339 lets "T" and "Z" be lower case
    assert parse_moment("2026-12-01t09:00:00z", ams) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    for text, code in [
        ("2026-03-29T02:30", "nonexistent"),
        ("2026-10-25T02:30", "ambiguous"),
        ("tomorrow", "invalid"),
        ("2026-13-01T10:00", "invalid"),
        # past either end of the calendar once in UTC, or before the epoch: no post's time
        ("9999-12-31T23:59:00-05:00", "invalid"),
        ("0001-01-01T00:30", "invalid"),
        ("1969-12-31T23:00:00Z", "invalid"),
        ("9500-01-01T00:00:00Z", "invalid"),
    ]:
        with pytest.raises(TimeError) as info:
            parse_moment(text, ams)
        assert info.value.code == code


def test_utc_offsets_name_each_change_to_the_second():
    ams = ZoneInfo("Europe/Amsterdam")
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    span = utc_offsets(ams, start, end)
    assert span["until"] == int(end.timestamp()) * 1000
    spring = int(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp()) * 1000  # 02:00 CET -> 03:00
    autumn = int(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp()) * 1000  # 03:00 CEST -> 02:00
    assert span["changes"] == [[int(start.timestamp()) * 1000, 60], [spring, 120], [autumn, 60]]
    # half-hour changes (Lord Howe Island) and a span with none
    howe = utc_offsets(ZoneInfo("Australia/Lord_Howe"), start, datetime(2026, 5, 1, tzinfo=UTC))
    assert [m for _, m in howe["changes"]] == [660, 630]
    assert datetime.fromtimestamp(howe["changes"][1][0] / 1000, UTC).minute == 0
    quiet = utc_offsets(ams, datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 15, tzinfo=UTC))
    assert [m for _, m in quiet["changes"]] == [60]


# --- the page ---------------------------------------------------------------------------------


def test_page_strings_are_translated_into_every_language():
    catalogs = {
        lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        for lang in ("en", "ru", "nl")
    }
    keys = set(catalogs["en"])
    for lang, strings in catalogs.items():
        assert set(strings) == keys, lang
        assert all(isinstance(v, str) and v.strip() for v in strings.values()), lang
    used = set()
    source = (STATIC / "app.js").read_text(encoding="utf-8")
    import re

    used = set(re.findall(r"\bt\('([a-z_]+)'", source))
    assert used <= keys, used - keys
    for lang in ("ru", "nl"):
        same = [
            k
            for k in keys
            if catalogs[lang][k] == catalogs["en"][k]
            and re.search(r"[^\W\d_]", re.sub(r"\{\w+\}", "", catalogs["en"][k]))
        ]  # a bare pattern such as "{month} {year}" is language-neutral
        # only the language-neutral ones (formats, "GIF", "video", ...) may stay as in English
        assert len(same) <= 8, (lang, same)


def test_vendored_libraries_carry_their_licences():
    vendor = STATIC / "vendor"
    assert "MIT" in (vendor / "LICENSE-preact.txt").read_text()
    assert "Apache License" in (vendor / "LICENSE-htm.txt").read_text()
    index = (STATIC / "index.html").read_text()
    # Telegram's script first in <head>, before any other script
    head = index.split("</head>")[0]
    assert head.index("telegram.org/js/telegram-web-app.js") < head.index('type="module"')


# --- the development URL ----------------------------------------------------------------------


def test_miniapp_url_command_prints_a_signed_local_url(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "MINIAPP_", "HTTP_", "WEBHOOK_", "MANAGER_"))
    }
    env.update(
        BOT_TOKEN=TOKEN,
        MANAGER_IDS="9001",
        MINIAPP_URL="https://bot.example.com/cal/",
        HTTP_LISTEN="0.0.0.0:8099",
    )
    run = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "miniapp-url", "--user-id", "9001"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    url = urlsplit(run.stdout.strip())
    assert (url.scheme, url.netloc, url.path) == ("http", "127.0.0.1:8099", "/cal/")
    init = parse_qs(url.fragment)["tgWebAppData"][0]
    assert safe_parse_webapp_init_data(TOKEN, init).user.id == 9001


def test_miniapp_url_command_needs_miniapp_url(monkeypatch, capsys):
    from bot.main import main

    for key in list(os.environ):
        if key.startswith(("MINIAPP_", "HTTP_", "WEBHOOK_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    assert main(["--env-file", os.devnull, "miniapp-url", "--user-id", "1"]) == 2
    assert "MINIAPP_URL" in capsys.readouterr().err


# --- the menu button ----------------------------------------------------------------------------


def test_menu_button_plan():
    from bot.miniapp.menu import MenuChange, plan
    from storage.menu_buttons import MenuButtonState

    en = MenuButtonState("https://a.example/app/", "en")
    assert plan(en, None) is MenuChange.SET
    assert plan(en, en) is MenuChange.NONE
    assert plan(en, MenuButtonState("https://a.example/app/", "ru")) is MenuChange.SET
    assert plan(en, MenuButtonState("https://old.example/app/", "en")) is MenuChange.SET
    assert plan(None, en) is MenuChange.RESET
    assert plan(None, None) is MenuChange.NONE


@pytest.mark.parametrize("locale", ["en", "ru", "nl"])
def test_publish_now_reads_the_same_in_the_chat_and_the_calendar(locale):
    """/queue's button and the calendar's are one action: they had two names in Russian
    ("Опубликовать" / "Опубликовать сейчас") and Dutch ("Nu plaatsen" / "Nu publiceren")."""
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[1]
    po = root / "bot" / "locales" / locale / "LC_MESSAGES" / "messages.po"
    catalog = read_po(po.open("rb"), locale=locale)

    def chat(msgid: str) -> str:
        return catalog[msgid].string or msgid  # English: the msgid itself

    app = json.loads((root / "bot/miniapp/static/i18n" / f"{locale}.json").read_text("utf-8"))
    assert chat("▶️ Publish now").removeprefix("▶️ ") == app["publish_now"]
    assert chat("✅ Post #{id} published.").strip("✅ .") == app["published_ok"]
    now = app["publish_now"].split()  # the confirmation's button says "now" too
    assert all(word.lower() in app["yes_publish"].lower() for word in now)
