from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bot  # noqa: F401  # first, as in the bot: aiogram's types imported the way bot/ does it
from bot.cluster.shared import RedisCluster
from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.cluster_harness import RedisServer, redis_server_binary
from tests.fake_telegram import FakeTelegram
from tests.harness import RunningBot, make_env, settings_for
from tests.postgres_server import PostgresServer, find_bin_dir, missing

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


def engine_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """DATABASE_URL for an end-to-end test that runs on PostgreSQL: one marked
    `@pytest.mark.usefixtures("db_engine")` (then it runs on both engines), or every one with
    STEWARD_TEST_DB=postgresql in the environment."""
    if "db_engine" in request.fixturenames:
        engine = request.getfixturevalue("db_engine")
    else:
        engine = os.environ.get("STEWARD_TEST_DB", "sqlite")
    if engine == "postgresql":
        return {"DATABASE_URL": request.getfixturevalue("pg_url")}
    return {}


@pytest.fixture
def bot_env(request, fake: FakeTelegram, tmp_path) -> dict[str, str]:
    """Settings for the bot under test; a test may change them before `steward` starts it."""
    return make_env(fake, tmp_path, **engine_env(request))


@pytest.fixture
async def steward(fake: FakeTelegram, bot_env: dict[str, str]) -> AsyncIterator[RunningBot]:
    running = RunningBot(fake=fake, settings=settings_for(bot_env), env=bot_env)
    await running.start()
    yield running
    await running.stop()


# --- the two database engines ------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, started on first use."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing(
            "PostgreSQL is not installed (Debian/Ubuntu: apt-get install postgresql; or set "
            "STEWARD_PG_BIN to the folder with initdb and pg_ctl)"
        )
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request) -> str:
    """Storage tests run once per engine; `-k postgresql` or `-k sqlite` picks one."""
    return request.param


@pytest.fixture
def new_database(request, db_engine: str, tmp_path: Path) -> Callable[[], str]:
    """Makes empty databases of the test's engine: a file path, or a new PostgreSQL database's
    URL on the session's server."""
    numbers = itertools.count(1)

    def make() -> str:
        if db_engine == "sqlite":
            return str(tmp_path / f"db{next(numbers)}.sqlite3")
        return request.getfixturevalue("postgres_server").create_database()

    return make


@pytest.fixture
def db_target(new_database: Callable[[], str]) -> str:
    """An empty database of the test's engine, for `storage.database.Database(db_target)`."""
    return new_database()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """An empty PostgreSQL database (tests that need PostgreSQL whatever the engine)."""
    return postgres_server.create_database()


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


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright, one per test, for the Mini App's browser tests
    (tests/test_miniapp_browser.py, tests/test_miniapp_phone.py, which skip without it); never
    downloaded. Here, not imported into those modules: an imported fixture shadows this one."""
    async_api = pytest.importorskip(
        "playwright.async_api", reason="playwright is not installed (pip install -e .[test])"
    )
    async with async_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def redis_workers(redis_url: str) -> AsyncIterator[tuple[RedisCluster, RedisCluster]]:
    """Two workers' shares of one Redis, each with its own connections and worker id, as two
    processes would have (tests/test_cluster_redis.py, tests/test_cluster_claim.py)."""
    a, b = RedisCluster(redis_url, bot_id=1), RedisCluster(redis_url, bot_id=1)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()
