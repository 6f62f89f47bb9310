"""Several workers in one test: a local Redis, webhook workers, and a Telegram-like delivery.

Redis is Debian's `redis-server`, started on a unix socket in a temporary folder (never a
download). Workers are real `Steward` apps in webhook mode, each with its own web server; the
`Balancer` delivers updates to them the way Telegram and a load balancer do: an HTTP POST with
the secret header, done when the answer is 2xx, delivered again (to the next worker) when it is
not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis

from bot.app import Steward
from tests.fake_telegram import FakeTelegram
from tests.harness import make_env, settings_for

WEBHOOK_SECRET = "test-secret_0123456789"


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


@dataclass
class RedisServer:
    proc: subprocess.Popen
    socket_path: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    @classmethod
    def start(cls, exe: str, folder: Path) -> RedisServer:
        sock = folder / "redis.sock"
        proc = subprocess.Popen(
            [
                exe,
                "--port", "0",
                "--unixsocket", str(sock),
                "--unixsocketperm", "700",
                "--dir", str(folder),
                "--save", "",
                "--appendonly", "no",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        server = cls(proc, sock)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {proc.stderr.read().decode()}")
            if sock.exists():
                with contextlib.suppress(redis.ConnectionError):
                    if server.client().ping():
                        return server
            time.sleep(0.02)
        proc.kill()
        raise RuntimeError("redis-server did not start within 10 s")

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket_path))

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_database(tmp_path: Path, index: int) -> dict[str, str]:
    """A worker's own SQLite file: SQLite admits one process per file (storage.database's
    lock), so workers on SQLite share only what Redis carries. Workers on PostgreSQL share one
    database (`worker_env(database=...)`)."""
    return {"DATABASE_PATH": str(tmp_path / f"worker{index}.sqlite3")}


@dataclass
class Worker:
    fake: FakeTelegram
    env: dict[str, str]
    app: Steward | None = None
    task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://{self.env['HTTP_LISTEN']}/webhook"

    async def start(self) -> Steward:
        self.app = Steward(settings_for(self.env), handle_signals=False)
        self.task = asyncio.create_task(self.app.run())
        started = asyncio.create_task(self.app.started.wait())
        done, _ = await asyncio.wait(
            {started, self.task}, timeout=20, return_when=asyncio.FIRST_COMPLETED
        )
        if self.task in done:
            started.cancel()
            self.task.result()
            raise AssertionError("worker stopped during start-up")
        assert started in done, "worker did not start within 20 s"
        return self.app

    async def stop(self) -> None:
        if self.app is not None and self.task is not None and not self.task.done():
            await self.app.stop()
            await asyncio.wait_for(self.task, 20)


def worker_env(
    fake: FakeTelegram,
    tmp_path: Path,
    index: int,
    redis_url: str | None,
    *,
    database: dict[str, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """A webhook worker's settings. `database` replaces the `worker_database` hook's choice,
    e.g. {"DATABASE_URL": <one PostgreSQL database>} for workers that share it."""
    env = make_env(
        fake,
        tmp_path,
        WEBHOOK_URL="https://bot.example.org/webhook",
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        HTTP_LISTEN=f"127.0.0.1:{free_port()}",
        SEMANTIC_MODEL="off",
        LOG_LEVEL="INFO",
        **(database if database is not None else worker_database(tmp_path, index)),
        **extra,
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


ROOT = Path(__file__).resolve().parents[1]
# Settings of the test's own environment that must not leak into a worker process.
_SETTING_PREFIXES = (
    "BOT_", "TELEGRAM_", "DATABASE_", "MANAGER_", "WEBHOOK_", "HTTP_", "LOG_", "REDIS_",
    "MINIAPP_", "SEMANTIC_", "EMBEDDINGS_", "WORKER_",
)  # fmt: skip


@dataclass
class ProcessWorker:
    """A worker as an operator runs it: `python -m bot` in its own process, settings in its
    environment, its log in `log_path`. `kill()` is `kill -9`: no handler finishes, no claim
    or lock is released, nothing is answered."""

    env: dict[str, str]
    log_path: Path
    priority: int | None = None  # the process's nice value, if not the test's own
    proc: asyncio.subprocess.Process | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.env['HTTP_LISTEN']}/webhook"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def spawn(self) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_SETTING_PREFIXES)}
        self._log = self.log_path.open("wb")
        nice: list[str] = []
        if self.priority is not None:  # relative to this process's own
            nice = ["nice", "-n", str(self.priority - os.getpriority(os.PRIO_PROCESS, 0))]
        self.proc = await asyncio.create_subprocess_exec(
            *nice, sys.executable, "-m", "bot", "--env-file", os.devnull,
            cwd=ROOT,
            env={**clean, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    async def ready(self, timeout: float = 60.0) -> None:
        """Until the worker serves its webhook (its start-up, migrations included, is done)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while "webhook listening on" not in self.log():
            if self.proc.returncode is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not ready within {timeout} s:\n{self.log()[-3000:]}")
            await asyncio.sleep(0.05)

    async def start(self, timeout: float = 60.0) -> None:
        await self.spawn()
        await self.ready(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    async def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, as a service manager stops it; the exit code (None if it had to be killed)."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    return await asyncio.wait_for(proc.wait(), timeout)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
                    return None
            return proc.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None


@dataclass
class Balancer:
    """Telegram's webhook delivery behind a load balancer: POST, retry on a non-2xx answer or
    a failed connection (to the next worker, as a balancer would), give up after `tries`."""

    workers: list[Any]  # anything with a webhook `url`: Worker, ProcessWorker
    retry_delay: float = 0.2
    tries: int = 10
    timeout: float = 60.0  # Telegram's patience with a webhook that does not answer
    down: set[int] = field(default_factory=set)  # workers the balancer no longer sends to
    answers: list[tuple[int, int, int]] = field(default_factory=list)  # (update, worker, status)
    _session: aiohttp.ClientSession | None = None
    _turn: int = 0

    def next_worker(self) -> int:
        """Round robin over the workers the balancer still sends to."""
        up = [i for i in range(len(self.workers)) if i not in self.down]
        self._turn += 1
        return up[self._turn % len(up)]

    async def __aenter__(self) -> Balancer:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._session is not None
        await self._session.close()

    async def deliver(self, update: dict[str, Any], worker: int) -> int:
        """Deliver until a worker answers 2xx; returns the index of that worker."""
        assert self._session is not None
        up = [i for i in range(len(self.workers)) if i not in self.down]
        for attempt in range(self.tries):
            index = up[(up.index(worker) + attempt) % len(up)] if worker in up else up[0]
            try:
                async with self._session.post(
                    self.workers[index].url,
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as response:
                    await response.read()
                    self.answers.append((update["update_id"], index, response.status))
                    if 200 <= response.status < 300:
                        return index
            except (aiohttp.ClientError, TimeoutError):
                self.answers.append((update["update_id"], index, 0))
            await asyncio.sleep(self.retry_delay)
        raise AssertionError(f"update {update['update_id']} never delivered")
