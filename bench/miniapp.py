#!/usr/bin/env python3
"""The calendar Mini App: API latency for a busy month, first render on a throttled phone, and
the weight of the page.

    python bench/miniapp.py [--posts 500] [--requests 300] [--renders 5] [--no-browser]

1. API: `--posts` posts over the next 31 days across 5 channels (a fifth of them already
   published, with reactions), three posting slots a day, in a temporary database; the real
   aiohttp app (sign-in check included) on a local port. Requests to GET /api/posts for the whole
   month, GET /api/channels and GET /api/best-times are sent in interleaved small batches with
   GET /api/me (sign-in and JSON only) as the baseline. Prints wall-clock min/median/p95/max per
   endpoint, the server's CPU time per request, and each endpoint's ratio to the baseline
   (target: /api/posts p95 < 50 ms).
2. Browser: Debian's Chromium (Playwright, `executable_path`; nothing is downloaded) at 360x740
   with the CPU throttled 4x through CDP `Emulation.setCPUThrottlingRate`; time from navigation
   start to the agenda rendered with its posts, min/median/max over `--renders` cold loads
   (target < 1 s). Telegram's script is replaced by the tests' stub.
3. Weight: bytes of the app's own JavaScript and CSS, vendored libraries included (target
   < 100 KB), and gzipped.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from _common import TOKEN, LocalSession, percentile
from aiogram import Bot
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import load_settings
from bot.miniapp.auth import sign_init_data
from bot.miniapp.web import STATIC, MiniApp
from bot.posting.calendar import CalendarService
from bot.posting.publisher import Publisher
from storage.database import Database
from storage.posts import Channel, ChannelRepository, PostRepository, SlotRepository
from storage.stats import StatsRepository

MANAGER = 1
CHANNELS = [-1001000000001 - i for i in range(5)]
STUB = Path(__file__).resolve().parents[1] / "tests" / "miniapp" / "telegram-web-app.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def seed(db: Database, posts: int, settings) -> None:
    rng = random.Random(7)
    now = int(time.time())
    channels, repo, stats = ChannelRepository(db), PostRepository(db), StatsRepository(db)
    for i, chat_id in enumerate(CHANNELS):
        await channels.upsert(Channel(chat_id, f"Channel {i}", None, True, True, True, True), now)
        await stats.set_members(chat_id, "2026-01-01", 1000 + 100 * i)
    await SlotRepository(db).set(0, ["09:00", "13:00", "19:00"])
    published = posts // 5
    for n in range(posts):
        chat_id = rng.choice(CHANNELS)
        if n < published:
            at = now - rng.randrange(60, 14 * 86400)
        else:
            at = now + rng.randrange(600, 31 * 86400)
        post_id = await repo.add(
            channel_id=chat_id,
            source_chat_id=MANAGER,
            source_message_ids=[n + 1],
            due_at=at,
            created_by=MANAGER,
            now=now,
            silent=n % 7 == 0,
            summary={"kind": "text", "text": f"Post number {n}: " + "words " * 12, "count": 1},
        )
        if n < published:
            await repo.claim(post_id)
            await repo.mark_published(post_id, [10_000 + n], at)
            await stats.add_post(chat_id, 10_000 + n, at, 1000, True)
            await stats.set_post_reactions(chat_id, 10_000 + n, rng.randrange(0, 80))


async def start_server(posts: int) -> tuple[web.AppRunner, int, object, Database, Path]:
    folder = Path(tempfile.mkdtemp(prefix="steward-miniapp-bench-"))
    settings = load_settings(
        env_file=None,
        environ={
            "BOT_TOKEN": TOKEN,
            "MANAGER_IDS": str(MANAGER),
            "TIMEZONE": "Europe/Amsterdam",
            "MINIAPP_URL": "http://127.0.0.1:8080/app/",
            "DATABASE_PATH": str(folder / "bench.sqlite3"),
        },
    )
    db = Database(settings.database_path)
    await db.open()
    await seed(db, posts, settings)
    bot = Bot(TOKEN, session=LocalSession())
    repo = PostRepository(db)
    publisher = Publisher(bot, repo, AsyncIOScheduler(), 3600, _ignore, tz=settings.timezone)
    calendar = CalendarService(
        repo,
        ChannelRepository(db),
        SlotRepository(db),
        StatsRepository(db),
        publisher,
        settings.timezone,
    )
    app = web.Application()
    MiniApp(settings, calendar, _edit).install(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port, settings, db, folder


async def _ignore(*args) -> None:
    return None


async def _edit(*args) -> bool:
    return True


async def bench_api(port: int, settings, requests: int) -> None:
    header = {"Authorization": "tma " + sign_init_data(TOKEN, MANAGER, int(time.time()))}
    start = time.strftime("%Y-%m-%dT00:00")
    end = time.strftime("%Y-%m-%dT00:00", time.localtime(time.time() + 31 * 86400))
    endpoints = {
        "me (baseline)": "/api/me",
        "posts, 31 days": "/api/posts?" + urlencode({"from": start, "to": end}),
        "posts, 14-day agenda": "/api/posts",
        "channels": "/api/channels",
        "best-times": f"/api/best-times?channel={CHANNELS[0]}",
    }
    times: dict[str, list[float]] = {name: [] for name in endpoints}
    cpu: dict[str, list[float]] = {name: [] for name in endpoints}
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + endpoints["posts, 31 days"], headers=header) as r:
            body = await r.json()
            print(
                f"month: {len(body['posts'])} posts, {len(body['empty_slots'])} empty slots, "
                f"{len(await r.read()) / 1024:.0f} KB of JSON"
            )
        for _ in range(max(1, requests // 5)):  # interleaved batches of five
            for name, path in endpoints.items():
                for _ in range(1):
                    cpu_before = time.process_time()
                    began = time.perf_counter()
                    async with http.get(base + path, headers=header) as r:
                        await r.read()
                        assert r.status == 200, (path, r.status)
                    times[name].append(time.perf_counter() - began)
                    cpu[name].append(time.process_time() - cpu_before)
    baseline = statistics.median(times["me (baseline)"])
    print(f"\nAPI, {requests // 5} requests per endpoint (client and server in one process):")
    for name, values in times.items():
        ms = [v * 1000 for v in values]
        print(
            f"  {name:22s} min {min(ms):6.2f}  median {statistics.median(ms):6.2f}  "
            f"p95 {percentile(ms, 95):6.2f}  max {max(ms):6.2f} ms;  "
            f"CPU {statistics.median(cpu[name]) * 1000:6.2f} ms/request;  "
            f"{statistics.median(values) / baseline:5.1f} x baseline"
        )


async def bench_browser(port: int, settings, renders: int, verbose: bool = False) -> None:
    from playwright.async_api import async_playwright

    stub = STUB.read_text(encoding="utf-8")
    results: list[float] = []
    busy: list[float] = []
    load = os.getloadavg()[0]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(renders):
            context = await browser.new_context(
                viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
            )
            page = await context.new_page()

            async def route(r):
                await r.fulfill(body=stub, content_type="application/javascript")

            # only Telegram's script is intercepted: a route on every request would add a round
            # trip through this process to each of them
            await page.route("https://telegram.org/**", route)
            page.on("pageerror", lambda e: print("page error:", e))
            page.on("requestfailed", lambda r: print("request failed:", r.url, r.failure))
            cdp = await context.new_cdp_session(page)
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
            await cdp.send("Performance.enable")
            init = sign_init_data(TOKEN, MANAGER, int(time.time()))
            await page.goto(
                f"http://127.0.0.1:{port}/app/#" + urlencode({"tgWebAppData": init}),
                wait_until="commit",
            )
            await page.wait_for_selector("body[data-ready=yes] [data-post]", timeout=30000)
            first = await page.evaluate("window.__firstRender")
            metrics = {
                m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]
            }
            busy.append(metrics["TaskDuration"] * 1000)  # main-thread time, throttled
            if verbose:
                marks = await page.evaluate(
                    "performance.getEntriesByType('resource').map(e => "
                    "[e.name.split('/').slice(-2).join('/'), Math.round(e.startTime), "
                    "Math.round(e.responseEnd)])"
                )
                print("  resources (start, end ms):", marks)
                data = await page.evaluate("performance.getEntriesByName('data')[0].startTime")
                app = await page.evaluate("performance.getEntriesByName('app')[0].startTime")
                dom = await page.evaluate(
                    "performance.getEntriesByType('navigation')[0].domContentLoadedEventStart"
                )
                html_end = await page.evaluate(
                    "performance.getEntriesByType('navigation')[0].responseEnd"
                )
                print(f"  page received {html_end:.0f} ms")
                print(
                    f"  app.js runs {app:.0f} ms, DOMContentLoaded {dom:.0f} ms, "
                    f"data ready {data:.0f} ms, rendered {first:.0f} ms"
                )
            items = await page.locator("[data-post]").count()
            results.append(first)
            await context.close()
        await browser.close()
    print(
        f"\nfirst render, CPU throttled 4x, 360x740, {items} posts in the agenda, {renders} cold "
        f"loads: min {min(results):.0f}  median {statistics.median(results):.0f}  "
        f"max {max(results):.0f} ms\n  main-thread task time read just after (throttled): min "
        f"{min(busy):.0f}  median {statistics.median(busy):.0f}  max {max(busy):.0f} ms; "
        f"load average at start {load:.1f} on {os.cpu_count()} CPUs"
    )


def weight() -> None:
    files = [
        STATIC / "app.js",
        STATIC / "app.css",
        *sorted((STATIC / "vendor").glob("*.mjs")),
    ]
    raw = sum(f.stat().st_size for f in files)
    packed = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)
    extra = [STATIC / "index.html", STATIC / "i18n" / "en.json"]
    print(
        f"\nweight: JavaScript + CSS ({len(files)} files, vendored included) {raw / 1024:.1f} KB "
        f"({packed / 1024:.1f} KB gzipped); with index.html and one language "
        f"{(raw + sum(f.stat().st_size for f in extra)) / 1024:.1f} KB"
    )
    for f in files:
        print(f"  {f.relative_to(STATIC)}: {f.stat().st_size / 1024:.1f} KB")


def serve_in_child(posts: int, ports) -> None:
    """The browser part talks to a server in its own process, as a phone talks to the bot: in
    this process the server would wait on the Playwright client's event loop."""

    async def run() -> None:
        runner, port, _, db, _ = await start_server(posts)
        ports.put(port)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await db.close()

    asyncio.run(run())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print resource timings")
    args = parser.parse_args()
    runner, port, settings, db, _ = await start_server(args.posts)
    try:
        await bench_api(port, settings, args.requests)
        has_chromium = Path(CHROMIUM).is_file()  # noqa: ASYNC240 - once, before measuring
        if not args.no_browser:
            if has_chromium:
                context = multiprocessing.get_context("spawn")
                ports = context.Queue()
                child = context.Process(target=serve_in_child, args=(args.posts, ports))
                child.start()
                try:
                    child_port = await asyncio.to_thread(ports.get, True, 120)
                    await bench_browser(child_port, settings, args.renders, args.verbose)
                finally:
                    child.terminate()
                    child.join()
            else:
                print(f"\nfirst render: skipped, no Chromium at {CHROMIUM}")
        weight()
    finally:
        await runner.cleanup()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
