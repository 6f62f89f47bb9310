from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fake_telegram import FakeTelegram
from tests.harness import RunningBot, make_env, settings_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def bot_env(fake: FakeTelegram, tmp_path) -> dict[str, str]:
    """Settings for the bot under test; a test may change them before `steward` starts it."""
    return make_env(fake, tmp_path)


@pytest.fixture
async def steward(fake: FakeTelegram, bot_env: dict[str, str]) -> AsyncIterator[RunningBot]:
    running = RunningBot(fake=fake, settings=settings_for(bot_env), env=bot_env)
    await running.start()
    yield running
    await running.stop()
