#!/usr/bin/env python3
"""How long `python -m bot` takes to start: on a new database, and again on the same one.

    python bench/startup.py [--rounds 3] [--starts 3] [--other PATH]

Each round makes a fresh database and starts the bot on it `--starts` times. The first start
fits the spam and complaint models and stores what it fitted (`fit_cache`); the later ones find
it, as a bot restarted by its operator does. Ready means from spawn to the bot's first
getUpdates at the fake Telegram of the tests (tests/fake_telegram.py), in wall time and in the
bot's own CPU time until then (all its threads, from /proc). After each start the bot runs on
until both models are trained (a bot runs longer than its start, and a start that stops before
its models are trained stores nothing), then gets SIGTERM.

With `--other`, another checkout's bot starts in turn, on a database of its own, so that both
trees meet the machine's swings alike (e.g. `git worktree add /tmp/before <commit>`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from _common import spread  # noqa: E402

from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.harness import make_env  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
TRAINED = ("semantic spam model: ", "complaint model: ")  # what training logs when it is done
STILL_TRAINING = "still training"


@dataclass
class Start:
    wall: float
    cpu: float
    still_training: bool  # start-up stopped waiting for a model


def log_text(log: Path) -> str:
    return log.read_text(errors="replace")  # a few kB: no need to leave the event loop


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime, every thread


async def start_once(fake: FakeTelegram, tree: Path, env: dict[str, str], log: Path) -> Start:
    fake.polls = 0
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "LOG_"))
    }
    with log.open("wb") as out:
        began = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            os.devnull,
            cwd=tree,
            env={**inherited, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            while fake.polls == 0:
                if proc.returncode is not None:
                    raise SystemExit(f"the bot exited: {log_text(log)[-3000:]}")
                await asyncio.sleep(0.005)
            wall = time.monotonic() - began
            cpu = process_cpu(proc.pid)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                text = log_text(log)
                if all(mark in text for mark in TRAINED):
                    break
                await asyncio.sleep(0.1)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await proc.wait()
    return Start(wall, cpu, STILL_TRAINING in log_text(log))


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh databases")
    parser.add_argument("--starts", type=int, default=3, help="starts on each database")
    parser.add_argument("--other", type=Path, help="another checkout of Steward, in turn")
    args = parser.parse_args(argv)
    trees = {"this tree": ROOT}
    if args.other:
        trees[str(args.other)] = args.other.resolve()
    found: dict[str, list[list[Start]]] = {name: [] for name in trees}
    fake = FakeTelegram()
    await fake.start()
    try:
        with tempfile.TemporaryDirectory(prefix="steward-startup-") as name:
            for round_no in range(args.rounds):
                folders = {}
                for tree_name in trees:
                    folders[tree_name] = Path(name) / f"{round_no}-{len(folders)}"
                    folders[tree_name].mkdir()
                    found[tree_name].append([])
                for start_no in range(args.starts):
                    for tree_name, tree in trees.items():
                        folder = folders[tree_name]
                        env = make_env(fake, folder, LOG_LEVEL="INFO")
                        start = await start_once(fake, tree, env, folder / f"bot-{start_no}.log")
                        found[tree_name][-1].append(start)
                        print(
                            f"round {round_no + 1}, start {start_no + 1}, {tree_name}: ready "
                            f"after {start.wall:.2f} s wall, {start.cpu:.2f} s CPU"
                            + (" (a model was still training)" if start.still_training else ""),
                            flush=True,
                        )
    finally:
        await fake.close()
    print(f"\n{args.rounds} fresh databases, {args.starts} starts each (min / median / max):")
    for tree_name, rounds in found.items():
        first = [starts[0] for starts in rounds]
        later = [start for starts in rounds for start in starts[1:]]
        for label, starts in (("first start", first), ("later starts", later)):
            if not starts:
                continue
            waited = sum(s.still_training for s in starts)
            wall = spread([s.wall for s in starts], unit=" s", digits=2)
            cpu = spread([s.cpu for s in starts], unit=" s", digits=2)
            print(
                f"  {tree_name}, {label}: ready {wall} wall, {cpu} CPU; "
                f"{waited} of {len(starts)} stopped waiting for a model still training"
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
