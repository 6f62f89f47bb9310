#!/usr/bin/env python3
"""Group messages per second through Steward's full pipeline against bare aiogram dispatch.

    python bench/pipeline.py [--messages 5000] [--members 200] [--faq]

Both sides get the same updates through `Dispatcher.feed_update` in this process, with Bot API
calls answered in-process (no network) and Steward's SQLite database on disk in a temporary
folder. Steward runs everything a group message meets: language choice, user/chat bookkeeping,
moderation checks (admin cache, approvals, blocklist, flood, spam scoring for new members), its
routers, and the FAQ stage for questions (with --faq against a 30-entry FAQ, else an empty
one). Bare dispatch is a Dispatcher with one no-op message handler. The ratio of the two
rates (in CPU time, each round's Steward run next to a bare one) is what to compare across
machines; the per-message time of the moderation check alone is
printed as median and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HAM, TOKEN, LocalSession, group_message_update, spread, summary
from aiogram import Bot, Dispatcher
from aiogram.types import Message

from bot.app import Steward
from bot.config import load_settings
from bot.faq.questions import looks_like_question
from bot.faq.transfer import parse_import
from handlers.protection import ProtectionMiddleware
from handlers.reputation import ReputationMiddleware
from handlers.stats import StatsMiddleware

CHAT_ID = -1001000000042
# Rates are measured in CPU time of the process (every thread: SQLite's included), which other
# programs on a shared machine do not inflate; wall times are kept for the wall-clock ratio.
WALL: list[float] = []


def make_updates(
    count: int,
    members: int,
    start_id: int,
    seed: int = 7,
    in_turn: bool = False,
    topics: int = 0,
):
    """Messages from random members; `in_turn`: member after member, so that every member has
    sent its first messages (which are spam-scored) by the end; `topics`: the chat is a forum
    and each message is in one of that many topics (each then noted for /purge by topic)."""
    rng = random.Random(seed)
    return [
        group_message_update(
            start_id + i,
            CHAT_ID,
            10_000 + (i % members if in_turn else rng.randrange(members)),
            rng.choice(HAM),
            topic=rng.randrange(1, topics + 1) if topics else None,
        )
        for i in range(count)
    ]


async def run_bare(updates) -> float:
    dp = Dispatcher()

    @dp.message()
    async def noop(message: Message) -> None:
        return None

    bot = Bot(TOKEN, session=LocalSession())
    gc.collect()  # the earlier runs' garbage is collected before, not during, the timing
    started, cpu = time.perf_counter(), time.process_time()
    for update in updates:
        await dp.feed_update(bot, update)
    WALL.append(time.perf_counter() - started)
    return time.process_time() - cpu


FAQ_FILE = Path(__file__).resolve().parent / "data" / "faq" / "faq.json"


async def load_faq(app: Steward) -> int:
    """The FAQ evaluation set (30 entries, en/ru/nl) as the bot's global FAQ."""
    plan = parse_import(FAQ_FILE.name, FAQ_FILE.read_bytes(), app.settings.languages)
    result = await app.faq.apply_import(plan, None, None, True)
    return result.added


async def run_steward(
    updates,
    warmup,
    folder: Path,
    profile: bool = False,
    with_stats: bool = True,
    with_faq: bool = False,
    with_reputation: bool = True,
) -> tuple[float, list[float], int]:
    settings = load_settings(
        env_file=None,
        environ={
            "BOT_TOKEN": TOKEN,
            "DATABASE_PATH": str(folder / "bench.sqlite3"),
            "LOG_LEVEL": "WARNING",
        },
    )
    app = Steward(settings, handle_signals=False)
    session = LocalSession(admins={CHAT_ID: [1, 2]})
    app.bot.session = session
    await app.db.open()
    await app._prepare_moderation()
    if app.semantic_training is not None:  # a running bot has finished training by now
        await app.semantic_training
    # complaint detection trained as at start (shipped vectors), as in a running bot
    await app.reputation.load()
    await app.reputation.train()
    if not with_reputation:
        for middleware in list(app.dispatcher.message.outer_middleware):
            if isinstance(middleware, ReputationMiddleware):
                app.dispatcher.message.outer_middleware.unregister(middleware)
    if with_faq:
        await load_faq(app)
    if not with_stats:  # the same pipeline without statistics collection, for its cost
        for middleware in list(app.dispatcher.message.outer_middleware):
            if isinstance(middleware, StatsMiddleware):
                app.dispatcher.message.outer_middleware.unregister(middleware)
    # A busy group: one message every 50 ms of simulated time, so the flood rule sees the
    # pace a real chat would have rather than the benchmark's burst.
    simulated = [0.0]
    # time the moderation check of every message
    check_times: list[float] = []
    for observer in (app.dispatcher.message,):
        for middleware in observer.outer_middleware:
            if isinstance(middleware, ProtectionMiddleware):
                middleware.clock = lambda: simulated[0]
                original = middleware.check

                async def timed(message, _original=original):
                    t = time.perf_counter()
                    try:
                        return await _original(message)
                    finally:
                        check_times.append(time.perf_counter() - t)

                middleware.check = timed
    for update in warmup:  # members' first messages: spam-scored, then counted as clean
        simulated[0] += 0.05
        await app.dispatcher.feed_update(app.bot, update)
    check_times.clear()
    calls_before = len(session.calls)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    # The earlier runs' garbage (each run builds a whole Steward: models, caches, a database)
    # is collected before, not during, the timing: a full collection over it landed in the
    # first timed rounds (per-round ratios 0.38, 0.44, then 0.77, 0.74 in one run).
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    for update in updates:
        simulated[0] += 0.05
        await app.dispatcher.feed_update(app.bot, update)
    elapsed = time.process_time() - cpu
    WALL.append(time.perf_counter() - started)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(60)
    calls = len(session.calls) - calls_before
    await app.db.close()
    return elapsed, check_times, calls


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print where Steward's time goes")
    parser.add_argument(
        "--faq",
        action="store_true",
        help="load the 30-entry FAQ evaluation set, so that every question is matched "
        "(and answered when it fits)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate runs of both sides; the median of each is reported",
    )
    parser.add_argument(
        "--warmup-rounds",
        type=int,
        default=1,
        help="rounds run first and left out of the figures (printed apart): the process's "
        "first runs measured lower than the later ones (0.38 and 0.44, then 0.77 and 0.74, in "
        "one run before each timed run collected the earlier runs' garbage first), a cost of "
        "starting the benchmark that no running bot pays per message",
    )
    parser.add_argument(
        "--forum",
        type=int,
        default=0,
        metavar="TOPICS",
        help="the group is a forum: every message is in one of TOPICS topics, and Steward "
        "notes each message's topic in its database (what /purge in a topic reads)",
    )
    args = parser.parse_args(argv)
    # every member's first four messages, so the timed part is ordinary chat of known members;
    # what scoring a newcomer's message costs is printed from the warm-up
    warmup = make_updates(
        args.members * 4, args.members, 1, seed=1, in_turn=True, topics=args.forum
    )
    updates = make_updates(args.messages, args.members, 10_000_000, topics=args.forum)
    steward_times, bare_times, no_stats_times, checks = [], [], [], []
    no_reputation_times, wall_ratios = [], []
    warmup_ratios: list[float] = []
    for round_no in range(args.warmup_rounds + args.rounds):
        if round_no == args.warmup_rounds:  # the warm-up is over: count from here
            warmup_ratios = [b / s for s, b in zip(steward_times, bare_times, strict=True)]
            steward_times, bare_times, no_stats_times, checks = [], [], [], []
            no_reputation_times, wall_ratios = [], []
        with tempfile.TemporaryDirectory() as folder:
            elapsed, round_checks, calls = await run_steward(
                updates, warmup, Path(folder), args.profile, with_faq=args.faq
            )
        steward_times.append(elapsed)
        checks.extend(round_checks)
        steward_wall = WALL[-1]
        bare_times.append(await run_bare(updates))
        wall_ratios.append(WALL[-1] / steward_wall)
        with tempfile.TemporaryDirectory() as folder:
            no_stats, _, _ = await run_steward(
                updates, warmup, Path(folder), with_stats=False, with_faq=args.faq
            )
        no_stats_times.append(no_stats)
        with tempfile.TemporaryDirectory() as folder:
            no_reputation, _, _ = await run_steward(
                updates, warmup, Path(folder), with_faq=args.faq, with_reputation=False
            )
        no_reputation_times.append(no_reputation)
    # each round's ratio against the bare run next to it: the machine's load changes between
    # rounds, so the spread of these ratios is the honest uncertainty of the figure
    ratios = [b / s for s, b in zip(steward_times, bare_times, strict=True)]
    steward_s, bare_s = statistics.median(steward_times), statistics.median(bare_times)
    no_stats_s = statistics.median(no_stats_times)
    no_reputation_s = statistics.median(no_reputation_times)
    steward_rate = args.messages / steward_s
    bare_rate = args.messages / bare_s
    questions = sum(looks_like_question(u.message.text) for u in updates)
    print(
        f"messages: {args.messages} from {args.members} members (after a warm-up of "
        f"{len(warmup)} first messages), {questions / len(updates):.0%} of them questions; "
        f"FAQ {'loaded (30 entries)' if args.faq else 'empty'}; "
        f"{f'a forum of {args.forum} topics' if args.forum else 'not a forum'}; "
        f"median of {args.rounds} "
        f"alternating rounds"
    )
    print(f"bare aiogram dispatch: {bare_rate:,.0f} updates per CPU second")
    print(
        f"Steward full pipeline: {steward_rate:,.0f} updates per CPU second "
        f"({calls} Bot API calls during the run)"
    )
    print(f"ratio Steward/bare (medians): {steward_rate / bare_rate:.2f}")
    print(
        f"ratio Steward/bare per round: {spread(ratios, digits=2)} "
        f"in CPU time; in wall time {spread(wall_ratios, digits=2)} "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(
        "per round, in order: "
        + " ".join(f"{ratio:.2f}" for ratio in ratios)
        + (
            f"; left out as warm-up: {' '.join(f'{r:.2f}' for r in warmup_ratios)}"
            if warmup_ratios
            else ""
        )
    )
    print(f"moderation check per message: {summary(checks)}")
    print(
        f"statistics collection adds {(steward_s - no_stats_s) / no_stats_s * 100:+.1f}% to "
        f"the per-message cost ({no_stats_s / args.messages * 1e6:.0f} µs without, "
        f"{steward_s / args.messages * 1e6:.0f} µs with)"
    )
    print(
        f"reputation watch (mood count, mentions, complaint check) adds "
        f"{(steward_s - no_reputation_s) / no_reputation_s * 100:+.1f}% "
        f"({no_reputation_s / args.messages * 1e6:.0f} µs without, "
        f"{steward_s / args.messages * 1e6:.0f} µs with); without it the ratio is "
        f"{(args.messages / no_reputation_s) / bare_rate:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
