"""Entry point: `python -m bot [--env-file PATH]`, and `python -m bot copy-db --to URL`.

Exit codes: 0 after a clean stop (SIGINT/SIGTERM), 1 when the Bot API cannot be reached at
start (one line), 2 for a configuration problem (one line per bad key on stderr), 3 when the
database is held by another process (or, with REDIS_URL, another worker already long-polls the
bot; or, for copy-db, the target is not empty); copy-db exits 1 when a table's row counts differ.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from urllib.parse import urlencode

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramUnauthorizedError,
)
from redis.exceptions import RedisError

from bot import __version__
from bot.app import StartRefused, Steward
from bot.clock import SYSTEM_CLOCK
from bot.cluster import AnotherPollerError
from bot.config import (
    Settings,
    SettingsError,
    database_setting,
    load_settings,
    parse_database_url,
)
from bot.miniapp.auth import sign_init_data
from storage.copy import CopyRefused, TableCount, copy_database
from storage.database import (
    Database,
    DatabaseLockedError,
    DatabaseUnavailableError,
    MigrationError,
    PostgresDatabase,
    describe_target,
    is_postgres_url,
    sqlite_path,
)

EXIT_UNREACHABLE = 1
EXIT_CONFIG = 2
EXIT_DATABASE = 3


def redact(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


class RedactingFormatter(logging.Formatter):
    """Blanks the bot token (and webhook secret) in every formatted line, whoever logs it.

    On the whole output, not the message alone: a traceback quotes its exception, and an
    aiohttp error's text carries the request URL, which holds the token (/bot<token>/...)."""

    def __init__(self, fmt: str, *secrets: str | None) -> None:
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), *self.secrets)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s",
            settings.bot_token,
            settings.webhook_secret,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Run the Steward bot.")
    parser.add_argument("--env-file", help="settings file to read (default: .env, if present)")
    parser.add_argument("--version", action="version", version=f"Steward {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    url = commands.add_parser(
        "miniapp-url",
        help="print a signed local address of the calendar Mini App, for development",
        description="Print the calendar's local address (HTTP_LISTEN, MINIAPP_URL's path) with "
        "initData signed for --user-id in the fragment, to open in a browser while the bot runs.",
    )
    url.add_argument("--user-id", type=int, required=True, help="a manager's Telegram user id")
    url.add_argument("--language", default="en", help="the language_code to sign (en, ru, nl)")
    url.add_argument("--env-file", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    copy = commands.add_parser(
        "copy-db",
        help="copy the database into an empty PostgreSQL database",
        description="Copy every row of the current database (DATABASE_URL, else DATABASE_PATH) "
        "into an empty PostgreSQL database, then print the row count of every table on both "
        "sides. Stop the bot first. Exit code 0 only when every count matches.",
    )
    copy.add_argument(
        "--to", required=True, metavar="DATABASE_URL", help="postgresql://user:pass@host:port/db"
    )
    copy.add_argument("--env-file", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def miniapp_url(settings: Settings, user_id: int, language: str) -> str:
    """http://HTTP_LISTEN/<app path>#tgWebAppData=...: what Telegram's client would open."""
    host = settings.webhook_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    init_data = sign_init_data(
        settings.bot_token, user_id, int(SYSTEM_CLOCK()), language_code=language
    )
    fragment = urlencode(
        {"tgWebAppData": init_data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": "web"}
    )
    return f"http://{host}:{settings.webhook_port}{settings.miniapp_path or '/app/'}#{fragment}"


def copy_db(source_url: str, target_url: str) -> int:
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(copy_db_async(source_url, target_url))


async def copy_db_async(source_url: str, target_url: str) -> int:
    """`python -m bot copy-db --to URL`: 0 when every table's count matches, 1 when one does
    not, 3 when the copy was refused or a database could not be opened."""
    if not is_postgres_url(target_url):
        print(
            "steward: copy-db copies into PostgreSQL: --to postgresql://user:pass@host:5432/db",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        parse_database_url(target_url)
    except ValueError as exc:
        print(f"steward: copy-db --to {exc}.", file=sys.stderr)
        return EXIT_CONFIG
    if describe_target(source_url) == describe_target(target_url):
        print("steward: copy-db: the source and the target are the same database", file=sys.stderr)
        return EXIT_CONFIG

    if not is_postgres_url(source_url) and not sqlite_path(source_url).is_file():
        # Opening it would create an empty database and copy that: the target would then hold a
        # schema and refuse the real copy as "not empty".
        print(
            f"steward: copy-db: there is no database at {sqlite_path(source_url)}; set "
            "DATABASE_PATH (or DATABASE_URL) to the bot's database",
            file=sys.stderr,
        )
        return EXIT_DATABASE

    async def run() -> list[TableCount]:
        source = Database(source_url)
        target = PostgresDatabase(target_url)  # checked above: a PostgreSQL URL
        await source.open()
        try:
            return await copy_database(source, target)
        finally:
            await target.close()
            await source.close()

    print(f"copying {describe_target(source_url)} -> {describe_target(target_url)}")
    try:
        counts = await run()
    except (DatabaseLockedError, MigrationError, CopyRefused) as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except (OSError, ConnectionError) as exc:
        print(f"steward: cannot reach the database: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except Exception as exc:  # asyncpg's errors (authentication, unknown database, …)
        if type(exc).__module__.startswith("asyncpg"):
            print(f"steward: PostgreSQL refused: {exc}", file=sys.stderr)
            return EXIT_DATABASE
        raise
    width = max(len(c.table) for c in counts)
    print(f"{'table':<{width}}  {'source':>9}  {'target':>9}")
    for c in counts:
        mark = "" if c.matches else "  MISMATCH"
        print(f"{c.table:<{width}}  {c.source:>9}  {c.target:>9}{mark}")
    differing = [c.table for c in counts if not c.matches]
    rows = sum(c.source for c in counts)
    if differing:
        print(f"counts differ in {len(differing)} tables: {', '.join(differing)}")
        return 1
    print(f"every count matches: {len(counts)} tables, {rows} rows")
    return 0


def settings_refused(exc: SettingsError) -> int:
    """Each problem with the settings on its own line, and the exit code that says so."""
    for problem in exc.problems:
        print(f"steward: {problem}", file=sys.stderr)
    return EXIT_CONFIG


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.env_file is None:
        args.env_file = ".env"  # optional: the environment alone may hold the settings
    elif not Path(args.env_file).exists():
        # named on purpose, so a typo must not start the bot on the environment alone
        print(
            f"steward: --env-file {args.env_file}: no such file; copy config.example.env "
            "there and fill it in.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if args.command == "copy-db":
        try:
            source = database_setting(args.env_file)
        except SettingsError as exc:
            return settings_refused(exc)
        return copy_db(source, args.to)
    try:
        settings = load_settings(args.env_file)
    except SettingsError as exc:
        return settings_refused(exc)
    if args.command == "miniapp-url":
        if not settings.miniapp_url:
            print("steward: set MINIAPP_URL first (see config.example.env).", file=sys.stderr)
            return EXIT_CONFIG
        if not settings.is_manager(args.user_id):
            print(
                f"steward: note: {args.user_id} is not in MANAGER_IDS; the app will answer 403.",
                file=sys.stderr,
            )
        print(miniapp_url(settings, args.user_id, args.language))
        return 0
    configure_logging(settings)
    try:
        asyncio.run(Steward(settings).run())
    except (DatabaseLockedError, DatabaseUnavailableError) as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except MigrationError as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except AnotherPollerError as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except RedisError as exc:
        print(f"steward: REDIS_URL: cannot use Redis: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except TelegramUnauthorizedError:
        print(
            "steward: BOT_TOKEN was rejected by Telegram (401 Unauthorized); copy the current "
            "token from @BotFather (/mybots → API Token) into .env.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except StartRefused as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (ClientDecodeError, TelegramNotFound):
        print(
            f"steward: TELEGRAM_API_URL ({settings.telegram_api_url}) does not answer like a "
            "Telegram Bot API server; leave it at https://api.telegram.org unless you run your "
            "own telegram-bot-api server.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except TelegramNetworkError as exc:
        # the start-up's first requests were already retried with backoff
        reason = redact(exc.message, settings.bot_token)
        print(
            f"steward: cannot reach the Bot API at TELEGRAM_API_URL ({settings.telegram_api_url})"
            f": {reason}. Check the network and the address, then start again.",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        pass
    return 0
