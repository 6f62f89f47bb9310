"""`python -m bot` as an operator runs it: real process, real signals, real exit codes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.fake_telegram import FakeTelegram
from tests.harness import make_env

ROOT = Path(__file__).parents[1]


# A bot's start-up embeds and fits its models; on a busy CI runner (several test workers on two
# cores) that takes several times what it takes on a quiet machine.
START_TIMEOUT = 60.0


class Bot:
    """`python -m bot` with its output going to a file, as a service manager's journal would.

    A pipe nobody reads fills up (at DEBUG the start-up alone writes ~150 kB) and then blocks the
    bot on its next log line, which a test would take for a hang of the bot's own.
    """

    def __init__(self, proc: asyncio.subprocess.Process, output: Path) -> None:
        self.proc = proc
        self.output = output

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def send_signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def finish(self, timeout: float = 30.0) -> str:
        """Wait for the exit; what the bot wrote (stdout and stderr together)."""
        await asyncio.wait_for(self.proc.wait(), timeout)
        return self.output.read_text(errors="replace")


async def spawn(env: dict[str, str], *args: str) -> Bot:
    folder = Path(env["DATABASE_PATH"]).parent
    output = folder / f"bot-{next(_spawned)}.log"
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in env
        and not k.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "MANAGER_", "WEBHOOK_", "LOG_"))
    }
    with output.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", os.devnull, *args,
            cwd=ROOT,
            env={**clean, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    return Bot(proc, output)


_spawned = itertools.count()


async def wait_until(condition, timeout: float = START_TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_missing_token_prints_one_line_and_exits_2(tmp_path):
    proc = await spawn({"DATABASE_PATH": str(tmp_path / "x.db")})
    output = await proc.finish()
    assert proc.returncode == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1
    assert "BOT_TOKEN is not set" in lines[0] and "@BotFather" in lines[0]


async def test_a_named_env_file_that_does_not_exist_is_one_line(tmp_path):
    """`--env-file prod.env` with a typo used to start on the environment alone, and then asked
    for a BOT_TOKEN "in .env"; a file named on purpose must exist."""
    missing = tmp_path / "prod.env"
    proc = await spawn({"DATABASE_PATH": str(tmp_path / "x.db")}, "--env-file", str(missing))
    output = await proc.finish()
    assert proc.returncode == 2
    assert output.strip().splitlines() == [
        f"steward: --env-file {missing}: no such file; copy config.example.env there and fill "
        "it in."
    ]


async def test_polls_answers_and_stops_on_sigterm_with_exit_0(fake: FakeTelegram, tmp_path):
    env = make_env(fake, tmp_path, LOG_LEVEL="INFO")
    proc = await spawn(env)
    try:
        await wait_until(lambda: fake.polls > 0)
        user = fake.user(42, "Ivy", language_code="ru")
        await fake.send_message(fake.private_chat(user), user, "/start")
        call = await fake.wait_for("sendMessage", timeout=30)
        assert call["text"].startswith("Здравствуйте, Ivy!")
        # a second process on the same database refuses to start
        second = await spawn(env)
        refusal = await second.finish(START_TIMEOUT)
        assert second.returncode == 3
        assert "already in use" in refusal
    finally:
        proc.send_signal(signal.SIGTERM)
        log = await proc.finish()
    assert proc.returncode == 0, log[-2000:]
    assert "stopped" in log
    assert fake.token.split(":")[1] not in log


async def test_rejected_token_is_explained(fake: FakeTelegram, tmp_path):
    env = make_env(fake, tmp_path, BOT_TOKEN="999:wrong-token-for-this-server")
    proc = await spawn(env)
    output = await proc.finish(START_TIMEOUT)
    assert proc.returncode == 2
    assert "rejected by Telegram" in output


async def test_a_server_that_is_no_bot_api_is_one_line_naming_the_key(tmp_path):
    """A wrong TELEGRAM_API_URL (here a web server that echoes the path, as many do) used to end
    in a traceback that quoted the page, token included; now one line names the key."""

    async def not_telegram(request: web.Request) -> web.Response:
        return web.Response(status=404, text=f"Cannot POST {request.path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_telegram)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    token = "123456:SECRET-token_abcdefghijklmnopqrstu"
    try:
        env = {
            "BOT_TOKEN": token,
            "TELEGRAM_API_URL": f"http://127.0.0.1:{port}",
            "DATABASE_PATH": str(tmp_path / "x.db"),
            "LOG_LEVEL": "DEBUG",
        }
        proc = await spawn(env)
        output = await proc.finish(START_TIMEOUT)
    finally:
        await runner.cleanup()
    assert proc.returncode == 2, output[-2000:]
    # (at DEBUG the log lines around it are the bot's own; the verdict is one line)
    verdicts = [line for line in output.splitlines() if line.startswith("steward:")]
    assert len(verdicts) == 1 and verdicts[0].startswith("steward: TELEGRAM_API_URL (http://")
    assert "Traceback" not in output
    assert token.split(":")[1] not in output


def test_the_token_is_blanked_in_tracebacks_too(capsys):
    """aiohttp's errors quote the request URL, /bot<token>/method: a traceback logged with
    exc_info must not print it."""
    from bot.main import RedactingFormatter

    token = "123456:SECRET-token_abcdefghijklmnopqrstu"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(message)s", token, None))
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"404, url='https://api.telegram.org/file/bot{token}/a.json'")
        except RuntimeError:
            log.exception("download of %s failed", token)
    finally:
        log.removeHandler(handler)
    err = capsys.readouterr().err
    assert "RuntimeError: 404" in err and "<redacted>" in err
    assert "SECRET-token" not in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_checks_secret_token(fake: FakeTelegram, tmp_path):
    port = free_port()
    env = make_env(
        fake,
        tmp_path,
        WEBHOOK_URL="https://bot.example.org/tg/hook",
        WEBHOOK_SECRET="s3cret-token",
        WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        WEBHOOK_MAX_CONNECTIONS="100",
    )
    proc = await spawn(env)
    try:
        call = await fake.wait_for("setWebhook", since=0, timeout=START_TIMEOUT)
        assert call["url"] == "https://bot.example.org/tg/hook"
        assert call["secret_token"] == "s3cret-token"
        assert int(call["max_connections"]) == 100
        assert "chat_member" in call["allowed_updates"]
        user = fake.user(43, "Jon")
        fake.private_chat(user)
        update = {"update_id": 1, "message": fake.new_message(fake.chats[43].chat, user, "/help")}
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with aiohttp.ClientSession() as http:
            deadline = asyncio.get_running_loop().time() + START_TIMEOUT
            while True:  # setWebhook comes before the server listens
                try:
                    async with http.post(
                        url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "bad"}
                    ) as r:
                        assert r.status == 401
                    break
                except aiohttp.ClientConnectorError:
                    assert asyncio.get_running_loop().time() < deadline, "no webhook server"
                    await asyncio.sleep(0.1)
            assert not fake.calls_of("sendMessage")
            async with http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            ) as r:
                assert r.status == 200
        reply = await fake.wait_for("sendMessage", since=0, timeout=30)
        assert reply["chat_id"] == 43
    finally:
        proc.send_signal(signal.SIGTERM)
        log = await proc.finish()
    assert proc.returncode == 0, log[-2000:]
