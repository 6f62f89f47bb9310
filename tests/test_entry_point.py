"""`python -m bot` as an operator runs it: real process, real signals, real exit codes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.fake_telegram import FakeTelegram
from tests.harness import make_env

ROOT = Path(__file__).parents[1]


async def spawn(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in env
        and not k.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "MANAGER_", "WEBHOOK_", "LOG_"))
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        os.devnull,
        *args,
        cwd=ROOT,
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_missing_token_prints_one_line_and_exits_2(tmp_path):
    proc = await spawn({"DATABASE_PATH": str(tmp_path / "x.db")})
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1
    assert "BOT_TOKEN is not set" in lines[0] and "@BotFather" in lines[0]


async def test_polls_answers_and_stops_on_sigterm_with_exit_0(fake: FakeTelegram, tmp_path):
    env = make_env(fake, tmp_path, LOG_LEVEL="INFO")
    proc = await spawn(env)
    try:
        await wait_until(lambda: fake.polls > 0)
        user = fake.user(42, "Ivy", language_code="ru")
        await fake.send_message(fake.private_chat(user), user, "/start")
        call = await fake.wait_for("sendMessage", timeout=15)
        assert call["text"].startswith("Здравствуйте, Ivy!")
        # a second process on the same database refuses to start
        second = await spawn(env)
        _, err2 = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 3
        assert "already in use" in err2.decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    log = err.decode()
    assert "stopped" in log
    assert fake.token.split(":")[1] not in log


async def test_rejected_token_is_explained(fake: FakeTelegram, tmp_path):
    env = make_env(fake, tmp_path, BOT_TOKEN="999:wrong-token-for-this-server")
    proc = await spawn(env)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "rejected by Telegram" in err.decode()


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
        call = await fake.wait_for("setWebhook", since=0, timeout=20)
        assert call["url"] == "https://bot.example.org/tg/hook"
        assert call["secret_token"] == "s3cret-token"
        assert int(call["max_connections"]) == 100
        assert "chat_member" in call["allowed_updates"]
        user = fake.user(43, "Jon")
        fake.private_chat(user)
        update = {"update_id": 1, "message": fake.new_message(fake.chats[43].chat, user, "/help")}
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.post(
                        url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "bad"}
                    ) as r:
                        assert r.status == 401
                    break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            assert not fake.calls_of("sendMessage")
            async with http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            ) as r:
                assert r.status == 200
        reply = await fake.wait_for("sendMessage", since=0, timeout=15)
        assert reply["chat_id"] == 43
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
