"""docker-compose.yml, its nginx config and the Dockerfile, tested without a Docker engine.

The compose file is parsed (PyYAML, a test-only dependency) and held against the settings the
bot really reads: every key it gives a worker is a setting of bot/config.py, the workers share
the database, Redis and the webhook and differ in their web server's address, and the proxy's
upstreams are exactly those addresses. Then the shipped nginx config itself (Debian's nginx,
hostnames and ports substituted, a throw-away certificate) runs in front of two real workers on
one PostgreSQL database and the fake Telegram: webhook updates and the Mini App reach both
workers through it, each update once, and a stopped worker is skipped. Without nginx that test
is skipped and says why, except under CI (CI=true), where it fails: .ci/run installs it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from bot.config import load_settings
from tests.cluster_harness import WEBHOOK_SECRET, Worker, free_port, worker_env
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwx"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def setting_keys() -> set[str]:
    """Every key load_settings reads: its take(...) calls, BOT_TOKEN and the listen address."""
    source = (ROOT / "bot" / "config.py").read_text()
    return set(re.findall(r'take\("([A-Z_]+)"', source)) | {
        "BOT_TOKEN",
        "HTTP_LISTEN",
        "WEBHOOK_LISTEN",
    }


def workers() -> dict[str, dict[str, Any]]:
    """The compose services that run the bot's image."""
    found = {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image") == "steward" or service.get("build") == "."
    }
    assert len(found) >= 2, "docker-compose.yml runs fewer than two workers"
    return found


def interpolate(value: str) -> str:
    """${VAR:-default}, ${VAR:?message} and ${VAR} as compose fills them in with nothing of
    the user's set: the default, or a stand-in such as <POSTGRES_PASSWORD>."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", lambda m: m[1], value)
    return re.sub(r"\$\{([A-Z_]+)(:\?[^}]*)?\}", lambda m: f"<{m[1]}>", value)


def worker_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "write a worker's environment as a mapping"
    return {key: interpolate(str(value)) for key, value in env.items()}


def listen_of(env: dict[str, str]) -> tuple[str, int]:
    settings = load_settings(
        env_file=None,
        environ={
            **{k: v.replace("<POSTGRES_PASSWORD>", "pw") for k, v in env.items()},
            "BOT_TOKEN": TOKEN,
            "WEBHOOK_URL": "https://bot.example.com/webhook",
            "WEBHOOK_SECRET": "s3cret",
        },
    )
    return settings.webhook_host, settings.webhook_port


def upstreams(conf: str) -> list[tuple[str, int]]:
    block = re.search(r"upstream\s+steward\s*\{(.*?)\}", conf, re.S)
    assert block, "deploy/nginx.conf has no `upstream steward` block"
    return [(h, int(p)) for h, p in re.findall(r"^\s*server\s+([\w.-]+):(\d+)", block[1], re.M)]


def test_every_key_the_compose_file_gives_a_worker_is_a_setting() -> None:
    known = setting_keys()
    for name, service in workers().items():
        unknown = set(worker_environment(service)) - known
        assert not unknown, f"{name} sets {unknown}, which bot/config.py never reads"
        assert service.get("env_file") == ".env", f"{name} must read the operator's .env"


def test_the_workers_share_database_redis_and_webhook_and_differ_in_address() -> None:
    envs = {name: worker_environment(s) for name, s in workers().items()}
    for key in ("DATABASE_URL", "REDIS_URL"):
        values = {env.get(key) for env in envs.values()}
        assert len(values) == 1 and None not in values, f"the workers' {key} differ: {values}"
    # WEBHOOK_URL and WEBHOOK_SECRET come from the one .env; no worker may set its own
    for name, env in envs.items():
        assert not {"WEBHOOK_URL", "WEBHOOK_SECRET"} & set(env), f"{name} overrides the webhook"
    services = compose()["services"]
    database = urlsplit(next(iter(envs.values()))["DATABASE_URL"])
    assert database.scheme == "postgresql" and database.hostname in services
    assert services[database.hostname]["image"].startswith("postgres:")
    assert database.path.strip("/") == services[database.hostname]["environment"]["POSTGRES_DB"]
    assert database.username == services[database.hostname]["environment"]["POSTGRES_USER"]
    cache = urlsplit(next(iter(envs.values()))["REDIS_URL"])
    assert cache.scheme == "redis" and services[cache.hostname]["image"].startswith("redis:")
    addresses = [listen_of(env) for env in envs.values()]  # what the bot itself parses
    assert len({port for _, port in addresses}) == len(addresses), addresses
    assert all(host == "0.0.0.0" for host, _ in addresses), "a container must listen on all"


def test_the_proxy_balances_over_exactly_the_workers_addresses() -> None:
    services = compose()["services"]
    expected = {(name, listen_of(worker_environment(s))[1]) for name, s in workers().items()}
    assert set(upstreams(NGINX_CONF.read_text())) == expected
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert set(proxy["depends_on"]) == set(workers())


def test_the_readme_env_matches_the_proxy_paths_and_names_real_settings() -> None:
    """The `.env` the README's multi-worker section shows: real keys, and the webhook and Mini
    App paths the nginx config routes."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## When one process is not enough", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n\s*# \.env for docker-compose\.yml\n(.*?)```", section, re.S)
    assert block, "the README section shows no .env for docker-compose.yml"
    env = dict(re.findall(r"^\s*([A-Z_]+)=(\S*)", block[1], re.M))
    assert set(env) - {"POSTGRES_PASSWORD"} <= setting_keys()
    assert {"BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "POSTGRES_PASSWORD"} <= set(env)
    conf = NGINX_CONF.read_text()
    assert f"location = {urlsplit(env['WEBHOOK_URL']).path} {{" in conf
    assert f"location {urlsplit(env['MINIAPP_URL']).path} {{" in conf
    assert "location /api/ {" in conf
    # and the workers accept it
    for service in workers().values():
        worker = {**env, **worker_environment(service)}
        load_settings(env_file=None, environ={**worker, "BOT_TOKEN": TOKEN})


def test_the_image_is_slim_python_from_the_lock_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install --requirement requirements/base.txt" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    user = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")


# --- the shipped nginx config in front of two real workers ------------------------------------


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


def substitute(conf: str, replacements: list[tuple[str, str]]) -> str:
    """Each replacement must apply exactly once: a changed config fails here, not silently."""
    for old, new in replacements:
        count = conf.count(old)
        assert count == 1, f"{old!r} occurs {count} times in deploy/nginx.conf"
        conf = conf.replace(old, new)
    return conf


@pytest.fixture
def nginx_exe() -> str:
    exe = nginx_binary()
    if exe is None or shutil.which("openssl") is None:
        reason = "nginx or openssl is not installed (apt-get install nginx openssl)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"CI must run the nginx test, but {reason}", pytrace=False)
        pytest.skip(f"nginx test not run: {reason}")
    return exe


@pytest.fixture
def proxy_ports() -> dict[str, int]:
    return {"https": free_port(), "http": free_port()}


def start_nginx(exe: str, folder: Path, ports: dict[str, int], upstream: list[int]) -> Iterator:
    tls = folder / "tls"
    tls.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=bot.example.org", "-keyout", str(tls / "privkey.pem"),
         "-out", str(tls / "fullchain.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    temp = folder / "temp"
    temp.mkdir()
    conf = substitute(
        NGINX_CONF.read_text(),
        [
            ("server worker1:8081 ", f"server 127.0.0.1:{upstream[0]} "),
            ("server worker2:8082 ", f"server 127.0.0.1:{upstream[1]} "),
            ("listen 80;", f"listen 127.0.0.1:{ports['http']};"),
            ("listen 443 ssl;", f"listen 127.0.0.1:{ports['https']} ssl;"),
            ("/etc/nginx/tls/fullchain.pem;", f"{tls}/fullchain.pem;"),
            ("/etc/nginx/tls/privkey.pem;", f"{tls}/privkey.pem;"),
            ("worker_processes auto;", "worker_processes 2;"),
            ("access_log /dev/stdout;", f"access_log {folder}/access.log;"),
            # this machine's nginx keeps request bodies in /var/lib/nginx, root's
            ("\nhttp {", f"\nhttp {{\n    client_body_temp_path {temp}/body;\n"
                       f"    proxy_temp_path {temp}/proxy;"),
        ],
    )  # fmt: skip
    (folder / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [exe, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr",
         "-g", f"daemon off; pid {folder}/nginx.pid;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    return proc


async def wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited: {proc.stderr.read().decode()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError("nginx did not listen within 15 s")


@pytest.fixture
async def behind_nginx(
    fake: FakeTelegram, tmp_path: Path, redis_url: str, pg_url: str, nginx_exe: str, proxy_ports
) -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    for index in range(2):
        env = worker_env(fake, tmp_path, index, redis_url)
        env["DATABASE_URL"] = pg_url  # one database for both, as in docker-compose.yml
        env["MINIAPP_URL"] = "https://bot.example.org/app/"
        started.append(Worker(fake, env))
    ports = [int(w.env["HTTP_LISTEN"].rsplit(":", 1)[1]) for w in started]
    folder = tmp_path / "nginx"
    folder.mkdir()
    proc = start_nginx(nginx_exe, folder, proxy_ports, ports)
    try:
        for worker in started:  # one after the other: the first creates the tables
            await worker.start()
        await wait_listening(proxy_ports["https"], proc)
        yield started
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for worker in started:
            await worker.stop()


def record_handlers(started: list[Worker]) -> list[tuple[int, int]]:
    """(worker index, update_id) of every update each worker's dispatcher handles."""
    seen: list[tuple[int, int]] = []
    for index, worker in enumerate(started):

        async def recorder(handler, event, data: dict[str, Any], index=index) -> Any:
            seen.append((index, event.update_id))
            return await handler(event, data)

        assert worker.app is not None
        worker.app.dispatcher.update.outer_middleware(recorder)
    return seen


async def post(
    session: aiohttp.ClientSession, port: int, update: dict[str, Any], secret=WEBHOOK_SECRET
) -> int:
    async with session.post(
        f"https://127.0.0.1:{port}/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": secret, "Host": "bot.example.org"},
        ssl=False,
        timeout=aiohttp.ClientTimeout(total=30),
    ) as response:
        await response.read()
        return response.status


async def test_the_shipped_nginx_config_balances_webhook_and_mini_app_over_both_workers(
    fake: FakeTelegram, behind_nginx: list[Worker], proxy_ports: dict[str, int]
) -> None:
    seen = record_handlers(behind_nginx)
    port = proxy_ports["https"]
    users = [fake.user(4000 + i, f"P{i}") for i in range(20)]
    updates = [
        fake.webhook_update({"message": fake.new_message(fake.private_chat(u), u, "/start")})
        for u in users
    ]
    async with aiohttp.ClientSession() as session:
        statuses = [await post(session, port, u) for u in updates]
        # Telegram's retry of one update, twice at once: nginx may send it to both workers
        again = fake.webhook_update(
            {"message": fake.new_message(fake.private_chat(users[0]), users[0], "/help")}
        )
        statuses += await asyncio.gather(*(post(session, port, again) for _ in range(2)))
        # a request without Telegram's secret reaches a worker and is refused there
        assert await post(session, port, again, secret="wrong") == 401
        # the Mini App's page and its API, through the proxy
        async with session.get(f"https://127.0.0.1:{port}/app/", ssl=False) as page:
            assert page.status == 200 and "text/html" in page.headers["Content-Type"]
        async with session.get(f"https://127.0.0.1:{port}/api/me", ssl=False) as api:
            assert api.status == 401  # no Telegram initData: the worker's own refusal
            assert (await api.json())["error"]
        async with session.get(f"https://127.0.0.1:{port}/elsewhere", ssl=False) as other:
            assert other.status == 404
        async with session.get(
            f"http://127.0.0.1:{proxy_ports['http']}/app/", ssl=False, allow_redirects=False
        ) as plain:
            assert plain.status == 301 and plain.headers["Location"].startswith("https://")
    assert statuses == [200] * len(statuses)
    handled = [update_id for _, update_id in seen]
    assert sorted(handled) == sorted(u["update_id"] for u in [*updates, again])  # each once
    per_worker = [sum(1 for w, _ in seen if w == i) for i in range(2)]
    assert min(per_worker) >= 5, per_worker  # both workers took their share
    replied = {c["chat_id"] for c in fake.calls_of("sendMessage")}
    assert replied == {u["id"] for u in users}
    assert len(fake.calls_of("sendMessage")) == len(users) + 1


async def test_a_stopped_worker_is_skipped_and_nothing_is_lost(
    fake: FakeTelegram, behind_nginx: list[Worker], proxy_ports: dict[str, int]
) -> None:
    seen = record_handlers(behind_nginx)
    await behind_nginx[0].stop()
    users = [fake.user(4100 + i, f"Q{i}") for i in range(6)]
    async with aiohttp.ClientSession() as session:
        for user in users:
            update = fake.webhook_update(
                {"message": fake.new_message(fake.private_chat(user), user, "/start")}
            )
            assert await post(session, proxy_ports["https"], update) == 200
    assert [w for w, _ in seen] == [1] * len(users)
    assert {c["chat_id"] for c in fake.calls_of("sendMessage")} == {u["id"] for u in users}
