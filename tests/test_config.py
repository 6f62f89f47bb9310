"""Settings: every bad value is one clear line naming the key and the fix."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import SettingsError, load_settings

TOKEN = "123456:ABCdef-ghi_jklmnopqrstuvwxyz012345"


def load(**env: str):
    return load_settings(env_file=None, environ={"BOT_TOKEN": TOKEN, **env})


def problems(**env: str) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None, environ=env)
    return info.value.problems


def test_defaults():
    s = load()
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.database_path == Path("data/steward.sqlite3")
    assert s.manager_ids == frozenset()
    assert s.timezone == ZoneInfo("UTC")
    assert s.languages == ("en", "ru", "nl")
    assert s.log_chat_id is None and s.support_chat_id is None
    assert s.log_level == "INFO"
    assert s.webhook_url is None
    assert s.webhook_max_connections == 40
    assert s.bot_id == 123456


def test_all_keys_parsed():
    s = load(
        TELEGRAM_API_URL="http://127.0.0.1:8081/",
        DATABASE_PATH="/tmp/x/steward.db",
        MANAGER_IDS="1, 22 ,333",
        TIMEZONE="Europe/Amsterdam",
        LANGUAGES="nl, EN",
        LOG_CHAT_ID="-1001",
        SUPPORT_CHAT_ID="-1002",
        LOG_LEVEL="debug",
        WEBHOOK_URL="https://bot.example.org/tg",
        WEBHOOK_SECRET="s3cret_-X",
        WEBHOOK_LISTEN="0.0.0.0:8443",
        WEBHOOK_MAX_CONNECTIONS="100",
    )
    assert s.telegram_api_url == "http://127.0.0.1:8081"
    assert s.manager_ids == {1, 22, 333}
    assert s.timezone.key == "Europe/Amsterdam"
    assert s.languages == ("nl", "en") and s.default_language == "nl"
    assert (s.log_chat_id, s.support_chat_id) == (-1001, -1002)
    assert s.log_level == "DEBUG"
    assert (s.webhook_host, s.webhook_port) == ("0.0.0.0", 8443)
    assert s.webhook_max_connections == 100


def test_missing_token_says_how_to_get_one():
    [line] = problems()
    assert line.startswith("BOT_TOKEN is not set")
    assert "@BotFather" in line and ".env" in line


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("BOT_TOKEN", "not-a-token", "BOT_TOKEN is not a valid bot token"),
        ("TELEGRAM_API_URL", "ftp://x", "TELEGRAM_API_URL must be an http(s) URL"),
        ("MANAGER_IDS", "12,abc", "MANAGER_IDS must be comma-separated numeric"),
        ("MANAGER_IDS", "12,-5", "MANAGER_IDS must be comma-separated numeric"),
        ("MANAGER_IDS", "0", "MANAGER_IDS must be comma-separated numeric"),
        ("MANAGER_IDS", "9" * 20, "MANAGER_IDS must be comma-separated numeric"),
        ("MANAGER_IDS", "²", "MANAGER_IDS must be comma-separated numeric"),
        ("LOG_CHAT_ID", "0", "LOG_CHAT_ID must be a numeric chat id"),
        ("LOG_CHAT_ID", "-" + "9" * 20, "LOG_CHAT_ID must be a numeric chat id"),
        ("SUPPORT_CHAT_ID", "-1001234567890,", "SUPPORT_CHAT_ID must be a numeric chat id"),
        ("LATE_POST_GRACE_SECONDS", "9" * 20, "LATE_POST_GRACE_SECONDS must be at most a year"),
        ("LATE_POST_GRACE_SECONDS", "²", "LATE_POST_GRACE_SECONDS must be a whole number"),
        ("DAILY_AGENDA", "²:00", "DAILY_AGENDA must be a time of day"),
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE 'Mars/Olympus' is not an IANA time zone"),
        ("LANGUAGES", "en,de", "LANGUAGES must list languages Steward speaks"),
        ("LOG_CHAT_ID", "@mylog", "LOG_CHAT_ID must be a numeric chat id"),
        ("SUPPORT_CHAT_ID", "x", "SUPPORT_CHAT_ID must be a numeric chat id"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
        ("WEBHOOK_LISTEN", "8080", "WEBHOOK_LISTEN must be host:port"),
        ("WEBHOOK_URL", "https://bot.example.org:8080/hook", "WEBHOOK_URL uses port 8080;"),
        ("WEBHOOK_URL", "https://bot.example.org:x/hook", "WEBHOOK_URL has a port that is not"),
        ("WEBHOOK_SECRET", "has space", "WEBHOOK_SECRET must be 1-256 characters"),
        ("WEBHOOK_MAX_CONNECTIONS", "0", "WEBHOOK_MAX_CONNECTIONS must be a whole number from 1"),
        ("WEBHOOK_MAX_CONNECTIONS", "101", "WEBHOOK_MAX_CONNECTIONS must be a whole number from 1"),
    ],
)
def test_invalid_value_is_one_line_naming_the_key(key, value, expected):
    env = {"BOT_TOKEN": TOKEN, key: value}
    [line] = problems(**env)
    assert line.startswith(expected)
    assert "\n" not in line


def test_webhook_needs_secret_and_https():
    assert problems(BOT_TOKEN=TOKEN, WEBHOOK_URL="https://x.org/h")[0].startswith(
        "WEBHOOK_SECRET is required"
    )
    lines = problems(BOT_TOKEN=TOKEN, WEBHOOK_URL="http://x.org/h", WEBHOOK_SECRET="abc")
    assert lines == ["WEBHOOK_URL must use https://; Telegram delivers webhooks only over TLS."]


def test_every_problem_is_reported_at_once():
    lines = problems(TIMEZONE="Nowhere", LOG_LEVEL="x")
    assert [line.split()[0] for line in lines] == ["BOT_TOKEN", "TIMEZONE", "LOG_LEVEL"]


def test_env_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / "custom.env"
    env_file.write_text(f"BOT_TOKEN={TOKEN}\nTIMEZONE=Europe/Moscow\nLOG_LEVEL=WARNING\n")
    s = load_settings(env_file=env_file, environ={"LOG_LEVEL": "ERROR"})
    assert s.timezone.key == "Europe/Moscow"
    assert s.log_level == "ERROR"


def test_token_not_in_repr():
    s = load()
    assert TOKEN not in repr(s)
    assert TOKEN.split(":")[1] not in repr(s)


def test_example_env_documents_every_key():
    import re

    example = (Path(__file__).parents[1] / "config.example.env").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    source = (Path(__file__).parents[1] / "bot" / "config.py").read_text()
    used = set(re.findall(r'take\("([A-Z_]+)"', source)) | {"BOT_TOKEN", "HTTP_LISTEN"}
    assert used <= documented, used - documented


def test_database_url_defaults_to_the_sqlite_file_and_names_postgresql():
    assert load().database == "sqlite:///data/steward.sqlite3"
    assert load(DATABASE_PATH="/srv/s.db").database == "sqlite:////srv/s.db"
    s = load(DATABASE_URL="sqlite:////srv/other.db")
    assert s.database_path == Path("/srv/other.db") and s.database == "sqlite:////srv/other.db"
    pg = "postgresql://steward:secret@db.example.com:5432/steward"
    s = load(DATABASE_URL=pg)
    assert s.database == pg and "secret" not in repr(s)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@h/db", "must be sqlite:///path/to/file.sqlite3 or postgresql://"),
        ("postgresql://u@h:5432", "needs a database name"),
        ("postgresql://u@h:port/db", "port that is not a number"),
        ("sqlite://", "must be sqlite:///path"),
    ],
)
def test_bad_database_url_is_one_line(url, says):
    (line,) = problems(BOT_TOKEN=TOKEN, DATABASE_URL=url)
    assert line.startswith("DATABASE_URL ") and says in line


def test_database_url_and_path_naming_two_files_is_refused():
    (line,) = problems(BOT_TOKEN=TOKEN, DATABASE_PATH="/a.db", DATABASE_URL="sqlite:////b.db")
    assert "different SQLite files" in line
