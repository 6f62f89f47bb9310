from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import bot  # noqa: F401  # first, as in the bot: aiogram's types imported the way bot/ does it
from tests.cluster_harness import RedisServer, redis_server_binary
from tests.fake_telegram import FakeTelegram
from tests.harness import RunningBot, make_env, settings_for

# The team's machine-readable Bot API (see ../shared/README.md), when it sits beside the project.
BOT_API_SPEC = Path(__file__).resolve().parents[2] / "shared" / "botapi" / "api.json"


@functools.cache
def bot_api_methods() -> dict | None:
    if not BOT_API_SPEC.is_file():
        return None
    return json.loads(BOT_API_SPEC.read_text(encoding="utf-8"))["methods"]


def check_calls_against_spec(server: FakeTelegram) -> list[str]:
    """Every call the bot made names a real method and carries its required fields.

    aiogram speaks a newer API than the spec file, so an unknown *method* is only reported when
    aiogram does not know it either (the fake already answers those with 404)."""
    methods = bot_api_methods()
    if methods is None:
        return []
    problems = []
    for call in server.calls:
        spec = methods.get(call.method)
        if spec is None:
            continue
        for f in spec.get("fields", []):
            if f["required"] and f["name"] not in call.params:
                problems.append(f"{call.method} without required {f['name']}")
    return problems


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()
    assert not check_calls_against_spec(server)


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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """Debian's redis-server on a unix socket in a temporary folder, for the whole session.

    Without it the Redis tests are skipped and say why; under CI (CI=true) they fail instead,
    since .ci/run installs it."""
    exe = redis_server_binary()
    if exe is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the Redis tests (.ci/run installs it)")
        pytest.skip(f"{reason}: the REDIS_URL tests need a local Redis")
    server = RedisServer.start(exe, tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis emptied for this test."""
    redis_server.flush()
    return redis_server.url
