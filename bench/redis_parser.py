#!/usr/bin/env python3
"""What hiredis saves a worker: its Redis layer per update with redis-py's own RESP3 parser and
Python command packing, with hiredis's parser only, and with hiredis parsing and packing (what
the bot runs), in one process, interleaved round by round.

    python bench/redis_parser.py [rounds]

Each round runs 2,000 updates, 40 at a time over 40 chats, through what a webhook worker does
around the dispatcher (bot.cluster.shared: the claim with the chat's lock, dialogue state and
flood window in one trip; the renewals and the lock's block; the finish), against a
redis-server on a Unix socket started here (Debian's redis-server). Prints the process's CPU
time per update for each variant and its ratio to redis-py's own within a round (the first
round is warm-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis._parsers import _AsyncHiredisParser, _AsyncRESP3Parser
from redis.asyncio.connection import UnixDomainSocketConnection

from bot.cluster import FloodSubject, renewing
from bot.cluster.shared import RedisCluster


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


UPDATES_PER_ROUND = 2000
IN_FLIGHT = 40
PYTHON = "redis-py RESP3"
# name, reply parser, whether commands are packed by hiredis (bot.cluster.shared does)
VARIANTS = (
    (PYTHON, _AsyncRESP3Parser, False),
    ("hiredis parser", _AsyncHiredisParser, False),
    ("hiredis both", _AsyncHiredisParser, True),
)


async def one_update(cluster: RedisCluster, update_id: int, chat_id: int) -> None:
    """What OnceRequestHandler does around feed_update, with no handler inside."""
    subject = FloodSubject("messages", chat_id, 7)
    state_key = f"steward:fsm:1:{chat_id}:{chat_id}:state"
    _, held = await cluster.claim(update_id, chat_id, state_key, subject)
    async with (
        renewing(lambda: cluster.ledger.keep(update_id), 20, name="claim") as claim,
        cluster.chat_locks.lock(chat_id, held) as lock,
    ):
        with held.state_for_this_update() if held else contextlib.nullcontext():
            await asyncio.sleep(0)
        await claim.stop()
        await cluster.finish(update_id, lock)


async def one_round(cluster: RedisCluster, first_id: int) -> float:
    """CPU µs per update for UPDATES_PER_ROUND updates, IN_FLIGHT at a time."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def go(update_id: int, chat_id: int) -> None:
        async with slots:
            await one_update(cluster, update_id, chat_id)

    started = cpu()
    await asyncio.gather(
        *(go(first_id + n, -1000 - n % IN_FLIGHT) for n in range(UPDATES_PER_ROUND))
    )
    return (cpu() - started) / UPDATES_PER_ROUND * 1e6


def spread(values: list[float], digits: int = 0) -> str:
    return (
        f"min {min(values):.{digits}f} / median {statistics.median(values):.{digits}f} / "
        f"max {max(values):.{digits}f}"
    )


async def compare(socket: str, rounds: int) -> None:
    clusters: dict[str, RedisCluster] = {}
    try:
        for name, parser, hiredis_packing in VARIANTS:
            cluster = RedisCluster(f"unix://{socket}", 1)
            pool = cluster.redis.connection_pool
            pool.connection_kwargs["parser_class"] = parser
            if not hiredis_packing:  # redis-py's own class for a unix:// URL, as it comes
                pool.connection_class = UnixDomainSocketConnection
            assert pool.connection_class.__name__.startswith("HiredisPacking") == hiredis_packing
            await cluster.redis.ping()
            clusters[name] = cluster
        costs: dict[str, list[float]] = {name: [] for name in clusters}
        next_id = 1
        for round_no in range(rounds + 1):
            for name, cluster in clusters.items():
                cost = await one_round(cluster, next_id)
                next_id += UPDATES_PER_ROUND
                if round_no:  # the first round warms up
                    costs[name].append(cost)
    finally:
        for cluster in clusters.values():
            await cluster.redis.aclose()
    for name, values in costs.items():
        print(f"{name:<15} CPU µs per update: {spread(values)}")
    for name in list(costs)[1:]:
        ratios = [v / p for v, p in zip(costs[name], costs[PYTHON], strict=True)]
        print(f"{name} / {PYTHON} within a round: {spread(ratios, 2)}")
    ratios = [b / p for b, p in zip(costs["hiredis both"], costs["hiredis parser"], strict=True)]
    print(f"hiredis both / hiredis parser within a round: {spread(ratios, 2)}")


def main(rounds: int) -> int:
    server = shutil.which("redis-server")
    if server is None:
        print("needs Debian's redis-server (apt-get install redis-server)")
        return 2
    folder = tempfile.mkdtemp(prefix="steward-redis-parser-")
    socket = os.path.join(folder, "redis.sock")
    redis = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", socket, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            if os.path.exists(socket):
                break
            time.sleep(0.1)
        asyncio.run(compare(socket, rounds))
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 12))
