"""Runs the real Steward app against the fake Telegram server, in-process.

`Steward.run()` is the same code path `python -m bot` takes after parsing arguments; settings go
through `load_settings`, so the tests also exercise the real validation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.app import Steward
from bot.config import Settings, load_settings
from tests.fake_telegram import FakeTelegram

MANAGER_ID = 9001
# Start-up waits up to 5 s for each of two models and loads the embedding model: ~10 s on a
# quiet 2-core machine, several times that beside other test workers. A bound, not a target.
START_TIMEOUT = 60


@dataclass
class RunningBot:
    fake: FakeTelegram
    settings: Settings
    env: dict[str, str]
    app: Steward | None = None
    task: asyncio.Task | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> Steward:
        self.app = Steward(self.settings, handle_signals=False)
        self.task = asyncio.create_task(self.app.run(), name="steward")
        started = asyncio.create_task(self.app.started.wait())
        done, _ = await asyncio.wait(
            {started, self.task}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if self.task in done:
            started.cancel()
            self.task.result()  # raises what made the bot stop
            raise AssertionError("bot stopped during start-up")
        if started not in done:
            raise AssertionError(f"bot did not start within {START_TIMEOUT} s")
        # wait until the polling loop asked for updates at least once
        for _ in range(200):
            if self.fake.polls:
                break
            await asyncio.sleep(0.01)
        return self.app

    async def idle(self, timeout: float = 15.0) -> None:
        """Wait until the bot has fetched every pushed update and finished handling them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not self.fake.pending_updates() and self.app.in_flight.running == 0:
                await asyncio.sleep(0.05)  # one more poll round trip, then re-check
                if not self.fake.pending_updates() and self.app.in_flight.running == 0:
                    return
            await asyncio.sleep(0.02)
        raise AssertionError("the bot did not go idle")

    async def stop(self) -> None:
        if self.app is not None and self.task is not None and not self.task.done():
            await self.app.stop()
            await asyncio.wait_for(self.task, 20)
        self.app = None
        self.task = None

    async def restart(self) -> Steward:
        await self.stop()
        self.fake.polls = 0
        return await self.start()


def make_env(fake: FakeTelegram, tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "DATABASE_PATH": str(tmp_path / "steward.sqlite3"),
        "MANAGER_IDS": str(MANAGER_ID),
        "TIMEZONE": "UTC",
        "LANGUAGES": "en,ru,nl",
        "LOG_LEVEL": "DEBUG",
    }
    env.update(overrides)
    return env


def settings_for(env: dict[str, str]) -> Settings:
    return load_settings(env_file=None, environ=env)
