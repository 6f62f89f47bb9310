#!/usr/bin/env python3
"""Several webhook workers on PostgreSQL and Redis against one process on SQLite.

    python bench/cluster.py [--rounds 5] [--batch 1200] [--slices 3] [--chats 40] [--posts 1000]
        [--burst-rounds 3] [--only throughput|burst]

Every worker is a real `python -m bot` process in webhook mode, started as the README's "When
one process is not enough" says (DATABASE_URL, REDIS_URL, WEBHOOK_URL, WEBHOOK_SECRET and its
own HTTP_LISTEN), talking to the fake Telegram of the tests (tests/fake_telegram.py, in this
process, answering 429 beyond 30 sends in any second as Telegram does). PostgreSQL and
redis-server are Debian's, started here in a temporary folder (tests/postgres_server.py,
tests/cluster_harness.py).

1. Throughput: group messages (ordinary chat of known members in `--chats` supergroups, spread
   as Telegram's webhook delivers them: one chat's next update once the last was answered, up to
   `--chats` requests at once, each to the next worker in turn as a round-robin balancer would)
   through the whole pipeline. Configurations: one process on SQLite (the default, no Redis) and
   1, 2 and 4 workers sharing one PostgreSQL database and Redis (all four run throughout; a
   configuration of k sends to the first k). Each round runs one batch of each configuration,
   in an order rotated every round, cut into `--slices` parts that the configurations take
   turns at (so the compared sides meet the machine's swings alike); the ratios are taken
   within a round and printed as min / median / max. Updates per second are wall time: what a
   bot's operator gets. CPU time per update, per kind of process, says where the time goes.
2. Burst: `--posts` posts due at the same second over `--channels` channels with 2 workers on
   one PostgreSQL database: each worker arms every post's timer at start, each post is claimed
   by one, `--burst-rounds` times on a fresh database. Prints lateness p50/p99 against the
   floor (count / 30 per s), duplicates (a post copied more than once), losses (a post never
   published) and the fake's 429 answers (the pacing's own: nothing else sends), min / median
   / max over the rounds.

Targets (issue 13): 2 workers >= 1.6 x one; one worker on PostgreSQL >= 0.7 x SQLite; burst
p99 within 10 % of the floor, zero duplicates, zero losses. The machine's core count bounds the
first: the load generator, PostgreSQL, Redis and the fake Telegram share the cores with the
workers, so it is printed next to the figures.

`--worker-cpu 0.3` gives every bot process (SQLite and PostgreSQL alike) its own CPU quota of
0.3 core in a cgroup of its own, which is what `docker run --cpus 0.3` or compose's `cpus:` sets:
each worker then runs as on a small machine of its own, and whether k workers carry k times the
updates of one is what the design allows (no shared lock or queue serialising them), not how
many cores this machine has left after the generator, PostgreSQL and Redis. It needs root and
the cgroup cpu controller (v1 at /sys/fs/cgroup/cpu, or v2).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import itertools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from _common import HAM, group_message, percentile, spread  # noqa: E402

from storage.database import Database  # noqa: E402
from storage.posts import PostRepository  # noqa: E402
from tests.cluster_harness import RedisServer, free_port, redis_server_binary  # noqa: E402
from tests.fake_telegram import ApiError, FakeTelegram  # noqa: E402
from tests.postgres_server import PostgresServer, find_bin_dir  # noqa: E402

SECRET = "bench-secret_0123456789"
MANAGER_ID = 5550001
LIMIT_PER_SECOND = 30
SENDS = {"sendMessage", "copyMessage", "copyMessages", "forwardMessage", "sendPhoto"}
TICKS = os.sysconf("SC_CLK_TCK")


class RateLimitedTelegram(FakeTelegram):
    """The tests' fake Telegram, refusing with 429 (retry after 1 s) beyond 30 sends in any
    second, as Telegram does with a bot that ignores its limits."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: collections.deque[float] = collections.deque()
        self.rejected = 0
        self.busiest = 0
        self.copies: collections.Counter[tuple[int, int]] = collections.Counter()
        # when each copy was first delivered (time.time()): a post's lateness as its channel's
        # readers see it, to the millisecond (the database's published_at is whole seconds,
        # taken after the answer)
        self.delivered: dict[tuple[int, int], float] = {}
        self.arrivals: list[float] = []  # every send's arrival (time.monotonic())

    async def _dispatch(self, name: str, p: dict[str, Any], files: dict[str, bytes]) -> Any:
        if name in SENDS:
            now = time.monotonic()
            while self.sent and now - self.sent[0] >= 1.0:
                self.sent.popleft()
            if len(self.sent) >= LIMIT_PER_SECOND:
                self.rejected += 1
                raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self.sent.append(now)
            self.arrivals.append(now)
            self.busiest = max(self.busiest, len(self.sent))
        result = await super()._dispatch(name, p, files)
        if name == "copyMessage":  # delivered: what a channel's readers see
            copy = (int(p["chat_id"]), int(p["message_id"]))
            self.copies[copy] += 1
            self.delivered.setdefault(copy, time.time())
        return result


def process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu(parent: int) -> float:
    """The CPU of a process and its children (PostgreSQL's backends are the postmaster's)."""
    total = process_cpu(parent)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def die_with_parent() -> None:
    """A worker gets SIGTERM when the bench dies, however it dies (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def postmaster_pid(pg: PostgresServer) -> int:
    return int((pg.data / "postmaster.pid").read_text().split()[0])


class CpuCap:
    """A cgroup with a CPU quota for one process: `cores` of CPU time per wall second at most,
    as a container limited with `--cpus` gets (the kernel's CFS bandwidth control)."""

    PERIOD_US = 100_000
    V1 = Path("/sys/fs/cgroup/cpu")
    V2 = Path("/sys/fs/cgroup")

    def __init__(self, name: str, cores: float) -> None:
        quota = int(cores * self.PERIOD_US)
        if (self.V1 / "cpu.cfs_quota_us").exists():
            self.path = self.V1 / f"steward-bench-{name}"
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
        elif (self.V2 / "cgroup.controllers").exists():
            (self.V2 / "cgroup.subtree_control").write_text("+cpu")
            self.path = self.V2 / f"steward-bench-{name}"
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
        else:
            raise RuntimeError("--worker-cpu needs the cgroup cpu controller")

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled(self) -> float:
        """Seconds the kernel held the group back for its quota (a capped worker is busy)."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "throttled_time":  # v1, ns
                return int(value) / 1e9
            if key == "throttled_usec":  # v2
                return int(value) / 1e6
        return 0.0

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError as exc:
            print(f"  note: {self.path} not removed: {exc}")


@dataclass
class WorkerProcess:
    name: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    cpu_cap: float | None = None  # cores, see CpuCap
    cap: CpuCap | None = None

    @property
    def port(self) -> int:
        return int(self.env["HTTP_LISTEN"].rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def start(self) -> None:
        self.started_at = time.monotonic()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "--env-file", "/dev/null"],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        if self.cpu_cap:
            self.cap = CpuCap(self.name, self.cpu_cap)
            self.cap.add(self.proc.pid)

    async def ready(self, timeout: float = 120) -> float:
        """Seconds from start until the web server answers (it listens once start-up has
        finished)."""
        assert self.proc is not None
        while time.monotonic() - self.started_at < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return time.monotonic() - self.started_at
        raise RuntimeError(f"{self.name} did not start within {timeout} s")

    def cpu(self) -> float:
        return process_cpu(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.cap is not None:
            self.cap.remove()
            self.cap = None


def worker_env(fake: FakeTelegram, database: dict[str, str], redis: str | None, **extra: str):
    env = {
        "BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "MANAGER_IDS": str(MANAGER_ID),
        "WEBHOOK_URL": "https://bot.example.org/webhook",
        "WEBHOOK_SECRET": SECRET,
        "HTTP_LISTEN": f"127.0.0.1:{free_port()}",
        "LOG_LEVEL": "WARNING",
        "WEEKLY_DIGEST": "off",
        **database,
        **extra,
    }
    if redis:
        env["REDIS_URL"] = redis
    return env


async def seed_members(database: str, traffic: Traffic) -> None:
    """Every member has written their first clean messages (which are spam-scored) long ago:
    the state a busy group's members are in, written as the bot writes it, so the timed part
    is ordinary chat without a warm-up of 3 messages per member through the pipeline."""
    db = Database(database)
    await db.open()  # Steward's tables, as the worker would create them
    try:
        await db.executemany(
            "INSERT INTO member_activity(chat_id, user_id, clean_messages) VALUES (?,?,3)",
            [
                (chat, traffic.member(index, n))
                for index, chat in enumerate(traffic.chats)
                for n in range(traffic.members)
            ],
        )
    finally:
        await db.close()


ROUND_ROBIN, LEAST_CONN = "round_robin", "least_conn"


class Balancer:
    """The reverse proxy in front of the workers, as nginx chooses an upstream server.

    `least_conn` is what deploy/nginx.conf ships: the request goes to the worker with the fewest
    requests open, ties in turn. Plain round robin is nginx's default, kept for comparison: a
    worker held back for a moment keeps receiving its share, so the chats waiting on it may pile
    up there while the other runs out of work. With two evenly loaded workers, both saturated by
    their CPU quotas, the two policies measured alike (README)."""

    def __init__(self, size: int, policy: str) -> None:
        self.open = [0] * size
        self.policy = policy
        self.turn = itertools.count()

    def acquire(self) -> int:
        turn = next(self.turn)
        size = len(self.open)
        if self.policy == ROUND_ROBIN:
            index = turn % size
        else:
            fewest = min(self.open)
            index = next(
                i for i in ((turn + k) % size for k in range(size)) if self.open[i] == fewest
            )
        self.open[index] += 1
        return index

    def release(self, index: int) -> None:
        self.open[index] -= 1


@dataclass
class Traffic:
    """Group messages as Telegram's webhook delivers them: one chat's updates one after the
    other, the chats side by side, each request to the next worker in turn."""

    fake: FakeTelegram
    chats: list[int]
    members: int
    update_ids: itertools.count = field(default_factory=lambda: itertools.count(1_000_000))
    message_ids: dict[int, itertools.count] = field(default_factory=dict)
    turns: dict[int, itertools.count] = field(default_factory=dict)

    def update(self, chat_id: int, user_id: int, text: str) -> dict[str, Any]:
        ids = self.message_ids.setdefault(chat_id, itertools.count(1))
        return group_message(next(self.update_ids), chat_id, user_id, text, next(ids))

    def member(self, chat_index: int, n: int) -> int:
        return 10_000 + chat_index * 1000 + n % self.members

    def batch(self, per_chat: int, seed: int) -> list[list[dict]]:
        """`per_chat` updates for each chat, the chat's members writing in turn (a member's
        next message comes `members` messages later, so nobody floods)."""
        rng = random.Random(seed)
        chats = []
        for index, chat in enumerate(self.chats):
            turn = self.turns.setdefault(chat, itertools.count())
            chats.append(
                [
                    self.update(chat, self.member(index, next(turn)), rng.choice(HAM))
                    for _ in range(per_chat)
                ]
            )  # fmt: skip
        return chats

    async def deliver(
        self,
        session: aiohttp.ClientSession,
        workers: list[WorkerProcess],
        chats: list[list[dict]],
        policy: str = LEAST_CONN,
    ) -> float:
        """Deliver every chat's updates, the proxy choosing workers by `policy`; the wall time
        it took."""
        pick = Balancer(len(workers), policy)

        async def one_chat(updates: list[dict]) -> None:
            for update in updates:
                index = pick.acquire()
                worker = workers[index]
                try:
                    async with session.post(
                        worker.url,
                        json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                    ) as response:
                        await response.read()
                        if response.status != 200:
                            raise RuntimeError(f"{worker.name} answered {response.status}")
                finally:
                    pick.release(index)

        started = time.perf_counter()
        await asyncio.gather(*(one_chat(updates) for updates in chats))
        return time.perf_counter() - started


def print_header(args: argparse.Namespace) -> None:
    cap = (
        f"; every bot process capped at {args.worker_cpu} core (a cgroup CPU quota, as "
        f"docker --cpus)"
        if args.worker_cpu
        else ""
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"SEMANTIC_MODEL={args.model}{cap}"
    )


async def throughput(args, fake, pg: PostgresServer, redis_url: str, folder: Path) -> None:
    sqlite = WorkerProcess(
        "sqlite",
        worker_env(
            fake,
            {"DATABASE_PATH": str(folder / "bench.sqlite3")},
            None,
            SEMANTIC_MODEL=args.model,
        ),
        folder / "sqlite.log",
        cpu_cap=args.worker_cpu,
    )
    alone = WorkerProcess(
        "pg-alone",
        worker_env(fake, {"DATABASE_URL": pg.create_database()}, None, SEMANTIC_MODEL=args.model),
        folder / "pg-alone.log",
        cpu_cap=args.worker_cpu,
    )
    pg_url = pg.create_database()
    shared = [
        WorkerProcess(
            f"pg{n + 1}",
            worker_env(fake, {"DATABASE_URL": pg_url}, redis_url, SEMANTIC_MODEL=args.model),
            folder / f"pg{n + 1}.log",
            cpu_cap=args.worker_cpu,
        )
        for n in range(4)
    ]
    chats = [-1001900000000 - n for n in range(args.chats)]
    for chat in chats:
        fake.add_chat(chat, "supergroup", "Bench group")
    traffic = Traffic(fake, chats, args.members)
    everyone = [sqlite, alone, *shared]
    for database in (sqlite.env["DATABASE_PATH"], alone.env["DATABASE_URL"], pg_url):
        await seed_members(database, traffic)
    try:
        for worker in everyone:  # the tables exist: all may start at once
            worker.start()
        starts = [await worker.ready() for worker in everyone]
        print(
            f"workers started in {spread(starts, digits=1, unit=' s')} (python -m bot, webhook "
            f"mode, until its web server listens)"
        )
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            # Every worker has met every member and chat once, as in a bot that has run for a
            # while: its caches (members seen, chat admins, settings) hold what a long-running
            # worker's would. Then the flood windows of those messages run out.
            await asyncio.gather(
                *(
                    traffic.deliver(session, [worker], traffic.batch(args.members, 2))
                    for worker in everyone
                )
            )
            await asyncio.sleep(11)
            configs = dict(
                zip(
                    CONFIGS,
                    ([sqlite], [alone], shared[:1], shared[:2], shared[:4], shared[:2]),
                    strict=True,
                )
            )
            names = [n for n in configs if not args.configs or n in args.configs]
            rates: dict[str, list[float]] = {name: [] for name in names}
            cpu: dict[str, dict[str, list[float]]] = {name: {} for name in names}
            throttled: dict[str, list[float]] = {name: [] for name in names}
            slices = max(1, min(args.slices, args.batch // len(chats)))
            per_chat = max(1, args.batch // len(chats) // slices)
            count = per_chat * len(chats) * slices
            for round_no in range(args.rounds):
                order = names[round_no % len(names) :] + names[: round_no % len(names)]
                wall = dict.fromkeys(names, 0.0)
                held = dict.fromkeys(names, 0.0)
                spent: dict[str, dict[str, float]] = {name: {} for name in names}
                # A round's batch of each configuration is cut into slices that take turns, so
                # the compared configurations meet the machine's swings alike (this VM's speed
                # moved by half within a run: whole batches a minute apart did not).
                for slice_no in range(slices):
                    for name in order:
                        workers = configs[name]
                        updates = traffic.batch(per_chat, 100 + round_no * slices + slice_no)
                        before = {
                            "workers": sum(w.cpu() for w in everyone),
                            "postgresql": children_cpu(postmaster_pid(pg)),
                            "redis": process_cpu(args.redis_pid),
                            "generator + fake Telegram": time.process_time(),
                        }
                        held[name] -= sum(w.cap.throttled() for w in workers if w.cap)
                        policy = ROUND_ROBIN if name == TWO_ROUND_ROBIN else args.balancer
                        wall[name] += await traffic.deliver(session, workers, updates, policy)
                        held[name] += sum(w.cap.throttled() for w in workers if w.cap)
                        after = {
                            "workers": sum(w.cpu() for w in everyone),
                            "postgresql": children_cpu(postmaster_pid(pg)),
                            "redis": process_cpu(args.redis_pid),
                            "generator + fake Telegram": time.process_time(),
                        }
                        for kind in before:
                            spent[name][kind] = (
                                spent[name].get(kind, 0.0) + after[kind] - before[kind]
                            )
                for name in names:
                    throttled[name].append(held[name] / wall[name] / len(configs[name]))
                    rates[name].append(count / wall[name])
                    for kind, seconds in spent[name].items():
                        cpu[name].setdefault(kind, []).append(seconds / count)
        if args.configs:
            for name in names:
                parts = ", ".join(
                    f"{kind} {spread([c * 1e6 for c in v], digits=0)}"
                    for kind, v in cpu[name].items()
                )
                print(f"  {name:<22} {spread(rates[name], digits=0)} updates/s; CPU µs: {parts}")
            return
        one = rates["postgresql, 1 worker"]
        print(
            f"\n1. throughput: {args.rounds} rounds of {count} group messages "
            f"({slices} slices taking turns) over {len(chats)} chats ({args.members} members "
            f"each, all known), {len(chats)} requests at once at most"
        )
        for name in names:
            parts = ", ".join(
                f"{kind} {statistics.median(v) * 1e6:.0f}" for kind, v in cpu[name].items()
            )
            print(
                f"  {name:<22} {spread(rates[name], digits=0)} updates/s; CPU µs per update "
                f"(median): {parts}"
            )
            if args.worker_cpu:
                print(
                    f"  {'':<22} each worker held back by its quota "
                    f"{spread([t * 100 for t in throttled[name]], digits=0)} % of the time"
                )

        def ratios(a: list[float], b: list[float]) -> list[float]:
            return [x / y for x, y in zip(a, b, strict=True)]

        two, four = rates["postgresql, 2 workers"], rates["postgresql, 4 workers"]
        print(
            f"  2 workers / 1 worker:   {spread(ratios(two, one), digits=3)} (target >= 1.6; "
            f"balanced {args.balancer})"
        )
        if TWO_ROUND_ROBIN in rates:
            print(
                f"  2 workers / 1 worker:   "
                f"{spread(ratios(rates[TWO_ROUND_ROBIN], one), digits=2)} (balanced round robin, "
                f"nginx's default)"
            )
        print(f"  4 workers / 1 worker:   {spread(ratios(four, one), digits=2)}")
        print(
            f"  1 worker PG / SQLite:   "
            f"{spread(ratios(one, rates['sqlite, 1 process']), digits=3)} (target >= 0.7)"
        )
        # what the workers' CPU says: k workers, each with a core of its own, handle k / (their
        # CPU per update) updates a second; per round, like the ratios above
        worker_cpu = {
            k: cpu[f"postgresql, {k} worker{'s' if k > 1 else ''}"]["workers"] for k in (1, 2, 4)
        }
        estimates = {
            k: [k * c1 / ck for c1, ck in zip(worker_cpu[1], worker_cpu[k], strict=True)]
            for k in (2, 4)
        }
        print(
            "  estimate, not measured (a free core per worker; PostgreSQL, Redis and the "
            "load elsewhere): CPU µs per update of all worker processes "
            + ", ".join(
                f"{k} worker(s) {spread(worker_cpu[k], scale=1e6, digits=0)}" for k in (1, 2, 4)
            )
            + f"; 2 / 1 = {spread(estimates[2], digits=2)} (target >= 1.6), "
            f"4 / 1 = {spread(estimates[4], digits=2)}"
        )
        alone_ratios = ratios(rates["postgresql, 1 process"], rates["sqlite, 1 process"])
        print(f"  1 process PG / SQLite:  {spread(alone_ratios, digits=2)} (both without Redis)")
        print(f"  load average after: {os.getloadavg()[0]:.1f}")
    finally:
        for worker in everyone:
            worker.stop()


@dataclass
class BurstRound:
    p50: float
    p99: float
    duplicates: int
    losses: int
    rejected: int  # 429 answers
    busiest: int  # most sends the fake saw in one second
    statuses: dict[str, int]
    start: float
    # a send and the 30th after it, apart (median): a place in the budget comes back a second
    # after its answer, so this is 1 s plus the answer's trip and what a worker does between
    # its slot and its request
    cycle: float
    first: float  # the first post's lateness


async def burst_round(
    args, fake: RateLimitedTelegram, pg: PostgresServer, redis_url: str, folder: Path, n: int
) -> BurstRound:
    pg_url = pg.create_database()
    db = Database(pg_url)
    await db.open()  # Steward's tables, as the first worker would create them
    repo = PostRepository(db)
    manager = fake.user(MANAGER_ID, "Manny")
    source = fake.start_bot(manager)
    channels = [-1002100000000 - n * 1000 - k for k in range(args.channels)]
    for channel in channels:
        fake.add_chat(channel, "channel", f"Channel {channel}")
    lead = args.lead
    due = int(time.time()) + lead
    sources: dict[int, tuple[int, int]] = {}
    for k in range(args.posts):
        message = fake.new_message(source, manager, f"Post {k}")
        channel = channels[k % len(channels)]
        post_id = await repo.add(
            channel_id=channel,
            source_chat_id=source["id"],
            source_message_ids=[message["message_id"]],
            due_at=due,
            created_by=MANAGER_ID,
            now=due - lead,
        )
        sources[post_id] = (channel, message["message_id"])
    workers = [
        WorkerProcess(
            f"burst{n + 1}-{w + 1}",
            worker_env(fake, {"DATABASE_URL": pg_url}, redis_url, SEMANTIC_MODEL="off"),
            folder / f"burst{n + 1}-{w + 1}.log",
        )
        for w in range(2)
    ]
    fake.copies.clear()
    fake.delivered.clear()
    fake.arrivals.clear()
    fake.sent.clear()
    fake.rejected = fake.busiest = 0
    try:
        for worker in workers:
            worker.start()
        starts = [await worker.ready() for worker in workers]
        if time.time() > due:
            print(f"  note: round {n + 1}: the workers started after the posts were due ({starts})")
        deadline = due + 60 + args.posts / LIMIT_PER_SECOND * 3
        while time.time() < deadline:
            row = await db.fetchone(
                "SELECT COUNT(*) AS n FROM posts WHERE status IN ('published','failed',"
                "'needs_decision')"
            )
            if row["n"] >= args.posts:
                break
            await asyncio.sleep(0.5)
        rows = await db.fetchall("SELECT id, status, published_at FROM posts")
    finally:
        for worker in workers:
            worker.stop()
        await db.close()
    copies = fake.copies
    published = [r for r in rows if r["status"] == "published"]
    sent = {sources[r["id"]] for r in published}
    lateness = sorted(fake.delivered[copy] - due for copy in sent if copy in fake.delivered)
    return BurstRound(
        p50=percentile(lateness, 50),
        p99=percentile(lateness, 99),
        duplicates=sum(c - 1 for c in copies.values() if c > 1),
        losses=args.posts - len(published) + len(sent - set(copies)),
        rejected=fake.rejected,
        busiest=fake.busiest,
        statuses=dict(collections.Counter(r["status"] for r in rows)),
        start=max(starts),
        first=lateness[0] if lateness else float("nan"),
        cycle=statistics.median(
            later - earlier
            for earlier, later in zip(fake.arrivals, fake.arrivals[LIMIT_PER_SECOND:], strict=False)
        )
        if len(fake.arrivals) > LIMIT_PER_SECOND
        else float("nan"),
    )


async def burst(args, fake: RateLimitedTelegram, pg: PostgresServer, redis_url: str, folder: Path):
    rounds = []
    for n in range(args.burst_rounds):
        rounds.append(await burst_round(args, fake, pg, redis_url, folder, n))
        r = rounds[-1]
        print(
            f"  round {n + 1}: p50 {r.p50:.1f} s, p99 {r.p99:.2f} s, 429s {r.rejected}, "
            f"busiest second {r.busiest}, duplicates {r.duplicates}, losses {r.losses}, "
            f"statuses {r.statuses}, workers started in {r.start:.1f} s, "
            f"first post {r.first:.2f} s late, a send to the 30th after it "
            f"{r.cycle * 1000:.0f} ms",
            flush=True,
        )
    floor = args.posts / LIMIT_PER_SECOND
    print(
        f"\n2. burst: {args.posts} posts due at once over {args.channels} channels, 2 workers, "
        f"{len(rounds)} rounds ({args.lead} s from start to due)"
    )
    print(
        f"  lateness p99 / floor ({floor:.1f} s = {args.posts} / {LIMIT_PER_SECOND} per s): "
        f"{spread([r.p99 / floor for r in rounds], digits=2)} (target <= 1.10); "
        f"p50 {spread([r.p50 for r in rounds], unit=' s', digits=1)}"
    )
    print(
        f"  429 answers: {spread([r.rejected for r in rounds], digits=0)}; busiest second at "
        f"Telegram: {spread([r.busiest for r in rounds], digits=0)} sends; duplicates "
        f"{sum(r.duplicates for r in rounds)}, losses {sum(r.losses for r in rounds)} in all"
    )


# the throughput configurations, in the order they run and print
TWO_ROUND_ROBIN = "postgresql, 2 workers, round robin"
CONFIGS = (
    "sqlite, 1 process",
    "postgresql, 1 process",
    "postgresql, 1 worker",
    "postgresql, 2 workers",
    "postgresql, 4 workers",
    TWO_ROUND_ROBIN,
)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1200, help="updates per batch")
    parser.add_argument(
        "--slices",
        type=int,
        default=3,
        help="throughput: each round's batches are cut into this many slices, the "
        "configurations taking turns slice by slice (1: whole batches one after another)",
    )
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument(
        "--members",
        type=int,
        default=100,
        help="members per chat, writing in turn: enough that nobody sends 5 messages in 10 s "
        "(the flood rule would mute them, and its notices queue behind the send budget)",
    )
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=40)
    parser.add_argument("--lead", type=int, default=30, help="seconds from start to due")
    parser.add_argument("--burst-rounds", type=int, default=3)
    parser.add_argument("--model", default="off", choices=["off", "builtin"])
    parser.add_argument("--only", choices=["throughput", "burst"])
    parser.add_argument(
        "--balancer",
        default=LEAST_CONN,
        choices=[LEAST_CONN, ROUND_ROBIN],
        help="how the proxy in front of the workers picks one (deploy/nginx.conf: least_conn); "
        "two workers balanced round robin are measured beside it either way",
    )
    parser.add_argument(
        "--worker-cpu",
        type=float,
        default=None,
        metavar="CORES",
        help="throughput: cap every bot process at this many cores (a cgroup CPU quota, as "
        "docker --cpus), so that each runs as on a machine of its own; needs root",
    )
    parser.add_argument(
        "--configs",
        nargs="*",
        choices=CONFIGS,
        metavar="CONFIG",
        help="run only these configurations (for profiling), e.g. 'postgresql, 1 worker'",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill, too
    bin_dir, redis_exe = find_bin_dir(), redis_server_binary()
    if bin_dir is None or redis_exe is None or shutil.which("runuser") is None:
        print(
            "needs Debian's postgresql and redis-server (apt-get install postgresql redis-server)"
        )
        return 2
    print_header(args)
    with tempfile.TemporaryDirectory(prefix="steward-cluster-") as name:
        folder = Path(name)
        os.chmod(folder, 0o755)
        pg = PostgresServer(bin_dir)
        pg.start()
        redis = RedisServer.start(redis_exe, folder)
        args.redis_pid = redis.proc.pid
        fake = RateLimitedTelegram()
        await fake.start()
        try:
            if args.only != "burst":
                await throughput(args, fake, pg, redis.url, folder)
            if args.only != "throughput":
                await burst(args, fake, pg, redis.url, folder)
        finally:
            await fake.close()
            redis.stop()
            pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
