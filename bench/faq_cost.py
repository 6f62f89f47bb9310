#!/usr/bin/env python3
"""What the semantic FAQ costs the bot: event-loop stalls, reply latency, start time, memory.

    python bench/faq_cost.py [--rounds 3] [--entries 1000]

Steward runs in-process with Bot API calls answered locally (bench/_common.py), the bundled
model loaded and a global FAQ of `--entries` entries: the 70 real entries of bench/data/faq and
bench/data/faq_shop plus synthetic ones (4 wordings and an answer each, made of the real
questions' words). The synthetic texts' vectors are stored as if an earlier run had computed
them (random unit vectors under the model's id: a lookup costs the same whatever the values,
and computing thousands of texts would take minutes); the real entries' vectors are computed.
Questions are the labelled paraphrases, each new to the embedding cache (a fresh bot per round).

Printed with min / median / max over the rounds:
- the event loop's longest stall while a burst of 200 questions from 20 groups is handled
  (a 1 ms ticker measures how late it wakes up);
- the latency from feeding a question's update to the bot's reply (an answer, "Did you
  mean…" or the relay to the support chat), one question at a time, p50 and p95;
- the start with 10,000 stored phrasings (2,500 entries): open the database, load the model,
  build both indexes from stored vectors, nothing computed; in this process, and in a fresh
  process from its spawn (interpreter and imports included);
- resident memory (VmRSS, and VmHWM the peak) of a fresh process with the model loaded, the
  spam and complaint models trained and 50 questions answered from the FAQ, measured in a
  child process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import TOKEN, LocalSession, group_message_update, percentile, spread

from bot.app import Steward
from bot.config import load_settings
from bot.faq.service import semantic_texts
from bot.faq.transfer import parse_import
from bot.lean_types import settle
from bot.semantic import EmbeddingService, Kind, text_hash
from storage.faq import Answer, FaqVectorRepository

DATA = Path(__file__).resolve().parent / "data"
SUPPORT = -1009999999999
MESSAGE_IDS = itertools.count(1)


def questions() -> list[dict]:
    found = []
    for folder in ("faq", "faq_shop"):
        found += json.loads((DATA / folder / "questions.json").read_text(encoding="utf-8"))
    return found


def make_settings(folder: Path):
    return load_settings(
        env_file=None,
        environ={
            "BOT_TOKEN": TOKEN,
            "DATABASE_PATH": str(folder / "bench.sqlite3"),
            "LOG_LEVEL": "WARNING",
            "SUPPORT_CHAT_ID": str(SUPPORT),
            "LANGUAGES": "en,ru,nl",
        },
    )


async def fill_faq(app: Steward, entries: int, seed: int = 3) -> None:
    """The real entries (vectors computed) and synthetic ones up to `entries` (vectors stored
    as random unit vectors under the model's id, as a previous run would have left them)."""
    for folder in ("faq", "faq_shop"):
        path = DATA / folder / "faq.json"
        plan = parse_import(path.name, path.read_bytes(), app.settings.languages)
        await app.faq.apply_import(plan, None, None, True)
    rng = random.Random(seed)
    words = sorted({w for q in questions() for w in q["question"].lower().split()})
    existing = len(await app.faq.repo.all_live())
    for n in range(max(0, entries - existing)):
        phrasings = [("en", " ".join(rng.sample(words, 6)) + "?") for _ in range(4)]
        answer = Answer("en", f"Synthetic answer {n}: " + " ".join(rng.sample(words, 20)))
        await app.faq.repo.add(None, "en", phrasings, answer, None, 1)
    await store_random_vectors(app, seed)
    await app.faq.refresh(wait=0)
    if not await app.faq.wait_semantic(3600):
        raise SystemExit("the semantic index was not built")


async def store_random_vectors(app: Steward, seed: int) -> None:
    """Vectors for every synthetic text (the real entries' texts are left to the model)."""
    import numpy as np  # after bot/, which limits numpy's threads before it loads

    service = app.embeddings
    rng = np.random.default_rng(seed)
    rows = []
    for entry in await app.faq.repo.all_live():
        phrasings, answers = semantic_texts(entry)
        if not answers or not answers[0].startswith("Synthetic answer"):
            continue
        for kind, texts in ((Kind.QUERY, phrasings), (Kind.PASSAGE, answers)):
            for text in texts:
                vector = rng.standard_normal(service.dim).astype("<f4")
                vector /= np.linalg.norm(vector)
                digest = text_hash(EmbeddingService.prepare(text))
                rows.append((kind.value, digest, vector.tobytes()))
    await FaqVectorRepository(app.db).store(service.model_id, service.dim, rows)


async def new_bot(folder: Path) -> tuple[Steward, LocalSession]:
    """A fresh bot (empty embedding cache) on the database in `folder`, its FAQ ready."""
    app = Steward(make_settings(folder), handle_signals=False)
    if app.embeddings is None:
        raise SystemExit("the semantic model is unavailable")
    session = LocalSession(admins={})
    session._ids = MESSAGE_IDS  # message ids stay unique over the bots sharing a database
    app.bot.session = session
    await app.db.open()
    await app._prepare_moderation()
    if app.semantic_training is not None:
        await app.semantic_training
    await app.reputation.load()  # complaint detection trained as at start, as in a running bot
    await app.reputation.train()
    await app.faq.warm_up()
    if not await app.faq.wait_semantic(3600):
        raise SystemExit("the semantic index was not built")
    settle()  # as at the end of the bot's start-up
    return app, session


async def close_bot(app: Steward) -> None:
    """Release what `new_bot` started: the FAQ's background build, the model's worker, the
    database."""
    app.faq.close()
    app.embeddings.close()
    await app.db.close()


async def prepare_faq(folder: Path, entries: int) -> None:
    app, _session = await new_bot(folder)
    await fill_faq(app, entries)
    await close_bot(app)


class ReplyClock:
    """When each chat got its first message from the bot after a mark."""

    def __init__(self, session: LocalSession) -> None:
        self.times: dict[int, float] = {}
        self.cpu: dict[int, float] = {}
        self.cpu_start = 0.0
        original = session.make_request

        async def make_request(bot, method, timeout=None):
            chat = getattr(method, "chat_id", None)
            if chat is not None and method.__api_method__ in {"sendMessage", "copyMessage"}:
                self.times.setdefault(int(chat), time.perf_counter())
                self.cpu.setdefault(int(chat), time.process_time() - self.cpu_start)
            return await original(bot, method, timeout)

        session.make_request = make_request


async def latency_round(folder: Path, texts: list[str]) -> tuple[list[float], list[float]]:
    """Update-to-reply wall time per question, and the process CPU time it took (all threads:
    the loop, the model's worker, SQLite's): the wall time on a machine with a free core."""
    app, session = await new_bot(folder)
    clock = ReplyClock(session)
    latencies, cpu_times = [], []
    for n, text in enumerate(texts):
        chat = -1001000000000 - n  # a chat per question: no cool-down, no flood rule
        clock.times.clear()
        clock.cpu.clear()
        started = time.perf_counter()
        clock.cpu_start = time.process_time()
        await app.dispatcher.feed_update(
            app.bot, group_message_update(1_000 + n, chat, 50_000 + n, text)
        )
        replied = clock.times.get(chat) or clock.times.get(SUPPORT)
        if replied is not None:
            latencies.append(replied - started)
            cpu_times.append(clock.cpu.get(chat) or clock.cpu.get(SUPPORT))
    await close_bot(app)
    return latencies, cpu_times


async def burst_round(folder: Path, texts: list[str]) -> tuple[float, float, int]:
    """The longest event-loop stall while 200 questions from 20 groups are handled at once:
    in wall time, and in CPU time of the loop's thread (what the bot's own work blocks, even
    when a loaded machine keeps the thread waiting for a core)."""
    app, _session = await new_bot(folder)
    updates = [
        group_message_update(5_000 + n, -1002000000000 - n % 20, 60_000 + n, text)
        for n, text in enumerate(texts)
    ]
    stalls: list[float] = []
    busy: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.001)
            stalls.append(time.perf_counter() - before - 0.001)
            busy.append(time.thread_time() - cpu)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await asyncio.gather(*(app.dispatcher.feed_update(app.bot, u) for u in updates))
    done.set()
    await tick
    computed = app.embeddings.computed
    await close_bot(app)
    return max(stalls), max(busy), computed


async def start_round(folder: Path) -> tuple[float, float, int]:
    """Seconds from nothing to both indexes ready over 10,000 stored phrasings; the model
    loading part; and how many texts were computed (should be none)."""
    started = time.perf_counter()
    app = Steward(make_settings(folder), handle_signals=False)
    loaded = time.perf_counter()
    await app.db.open()
    await app.faq.warm_up()
    ready = await app.faq.wait_semantic(600)
    total = time.perf_counter() - started
    computed = app.embeddings.computed
    await close_bot(app)
    if not ready:
        raise SystemExit("the semantic index was not built")
    return total, loaded - started, computed


async def prepare_start(folder: Path) -> None:
    """The first run: 2,500 entries x 4 phrasings, their vectors stored."""
    app, _session = await new_bot(folder)
    rng = random.Random(11)
    words = sorted({w for q in questions() for w in q["question"].lower().split()})
    for n in range(2_500):
        phrasings = [("en", " ".join(rng.sample(words, 6)) + "?") for _ in range(4)]
        answer = Answer("en", f"Synthetic answer {n}: " + " ".join(rng.sample(words, 20)))
        await app.faq.repo.add(None, "en", phrasings, answer, None, 1)
    await store_random_vectors(app, 11)
    await close_bot(app)
    # The first run, by a bot started on the stored vectors: the one above read the (then
    # empty) stored vectors at its warm-up, and refreshing it would embed all 12,500 synthetic
    # texts with the model instead (over 20 minutes) before storing the indexes.
    app, _session = await new_bot(folder)
    await close_bot(app)


def start_child(folder: Path, spawned: float) -> None:
    """A fresh process on the prepared database: seconds from its spawn (interpreter start and
    every import included) until both FAQ indexes are ready, and its CPU seconds meanwhile."""
    _total, _load, computed = asyncio.run(start_round(folder))
    ready = time.time()
    print(json.dumps({"wall": ready - spawned, "cpu": time.process_time(), "computed": computed}))


def rss_child(folder: Path) -> None:
    """A bot process started on the prepared database: model loaded, both indexes built from
    stored vectors, 50 questions answered; then its resident memory."""
    global MESSAGE_IDS
    MESSAGE_IDS = itertools.count(1_000_000_000 + os.getpid() * 1000)  # other ids than the parent's
    texts = [q["question"] for q in questions()[:50]]
    asyncio.run(latency_round(folder, texts))
    status = Path("/proc/self/status").read_text()
    values = {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in status.splitlines()
        if line.startswith(("VmRSS", "VmHWM"))
    }
    print(json.dumps(values))


async def main_async(args: argparse.Namespace) -> None:
    pool = questions()
    rng = random.Random(1)
    stalls, busy, p95s, cpu95s, p50s, starts, loads, memory = [], [], [], [], [], [], [], []
    fresh_walls: list[float] = []
    fresh_cpus: list[float] = []
    faq_folder = tempfile.TemporaryDirectory()
    folder = Path(faq_folder.name)
    await prepare_faq(folder, args.entries)
    for round_ in range(args.rounds):
        texts = [q["question"] for q in rng.sample(pool, 200)]
        stall, loop_cpu, computed = await burst_round(folder, texts)
        stalls.append(stall)
        busy.append(loop_cpu)
        latencies, cpu_times = await latency_round(folder, texts[:100])
        p50s.append(percentile(latencies, 50))
        p95s.append(percentile(latencies, 95))
        cpu95s.append(percentile(cpu_times, 95))
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, __file__, "--rss-child", str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        memory.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(
            f"round {round_ + 1}: burst: longest stall {stall * 1000:.1f} ms wall, "
            f"{loop_cpu * 1000:.1f} ms loop CPU ({computed} texts embedded); one at a time: "
            f"p50 {p50s[-1] * 1000:.1f} ms, p95 {p95s[-1] * 1000:.1f} ms wall, p95 "
            f"{cpu95s[-1] * 1000:.1f} ms CPU over {len(latencies)} replies; "
            f"RSS {memory[-1]['VmRSS']:.0f} MB",
            flush=True,
        )
    faq_folder.cleanup()
    with tempfile.TemporaryDirectory() as start_folder:
        await prepare_start(Path(start_folder))
        computed_total = 0
        for _ in range(args.rounds):
            total, load, computed = await start_round(Path(start_folder))
            starts.append(total)
            loads.append(load)
            computed_total += computed
            out = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, __file__, "--start-child", start_folder, str(time.time())],
                capture_output=True,
                text=True,
                check=True,
            )
            child = json.loads(out.stdout.strip().splitlines()[-1])
            fresh_walls.append(child["wall"])
            fresh_cpus.append(child["cpu"])
            computed_total += child["computed"]
    load_now = os.getloadavg()[0]
    print(
        f"\n{args.rounds} rounds, FAQ of {args.entries} entries, model loaded "
        f"(load average {load_now:.1f} on {os.cpu_count()} cores: wall times include waiting "
        f"for a core, CPU times do not):"
    )
    burst = "burst of 200 questions in 20 groups"
    print(f"longest event-loop stall, {burst}, wall: {spread(stalls, 1000, ' ms')}")
    print(f"longest event-loop stall, {burst}, loop CPU: {spread(busy, 1000, ' ms')}")
    print(f"latency update -> reply, p50 wall: {spread(p50s, 1000, ' ms')}")
    print(f"latency update -> reply, p95 wall: {spread(p95s, 1000, ' ms')}")
    print(f"latency update -> reply, p95 CPU: {spread(cpu95s, 1000, ' ms')}")
    print(
        f"start with 10,000 stored phrasings: {spread(starts, 1, ' s', 2)} "
        f"(of which loading the model {spread(loads, 1, ' s', 2)}; {computed_total} texts "
        f"computed)"
    )
    print(
        f"start of a fresh process with 10,000 stored phrasings (interpreter, imports, model, "
        f"both indexes): wall {spread(fresh_walls, 1, ' s', 2)}, "
        f"CPU {spread(fresh_cpus, 1, ' s', 2)}"
    )
    print(f"resident memory (VmRSS): {spread([m['VmRSS'] for m in memory], 1, ' MB')}")
    print(f"peak resident memory (VmHWM): {spread([m['VmHWM'] for m in memory], 1, ' MB')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--start-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.start_child:
        start_child(Path(args.start_child[0]), float(args.start_child[1]))
        return 0
    if args.rss_child:
        rss_child(args.rss_child)
        return 0
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
