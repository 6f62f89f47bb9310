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
   start until the agenda's first post is on screen (Element Timing's presentation time of a
   post's text, and no earlier than the app's own "agenda rendered" mark), min/median/max over
   `--renders` cold loads (target < 1 s). Telegram's script is replaced by the tests' stub;
   only that request is intercepted, and the load is awaited from the page's own world.
3. Weight: bytes of the app's own JavaScript and CSS, vendored libraries included (target
   < 100 KB), and gzipped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
from tests.chromium import CHROMIUM, CHROMIUM_ARGS

MANAGER = 1
CHANNELS = [-1001000000001 - i for i in range(5)]
STUB = Path(__file__).resolve().parents[1] / "tests" / "miniapp" / "telegram-web-app.js"


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


# Resolves with the time the first post's text was on screen: the presentation time Chromium's
# Element Timing reports for the agenda's `elementtiming="post"` texts, once the app has also
# marked the agenda rendered (__firstRender, set after the frame that holds the posts). Evaluated
# through CDP in the page's own world: Playwright's selector engine would be injected and
# compiled on the throttled main thread while the page loads, and be counted against it.
WAIT_FOR_RENDER = """new Promise((resolve) => {
  let painted = null;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.identifier === 'post' && painted === null) painted = e.renderTime || e.startTime;
    }
  }).observe({ type: 'element', buffered: true });
  const check = () => (window.__firstRender && painted !== null
    && document.querySelector('body[data-ready=yes] [data-post]')
    ? resolve([Math.max(painted, window.__firstRender), window.__firstRender])
    : setTimeout(check, 100));
  check();
})"""
TIMINGS = """(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const mark = (name) => {
    const m = performance.getEntriesByName(name)[0];
    return m ? m.startTime : null;
  };
  const paints = Object.fromEntries(
    performance.getEntriesByType('paint').map((p) => [p.name, p.startTime]));
  return {
    resources: performance.getEntriesByType('resource').map((e) => [
      e.name.split('/').slice(-2).join('/').split('?')[0],
      Math.round(e.startTime), Math.round(e.responseEnd)]),
    html: nav.responseEnd, dom: nav.domContentLoadedEventStart,
    app: mark('app'), data: mark('data'),
    fcp: paints['first-contentful-paint'] || null,
  };
})()"""


async def quiet(browser_cdp, timeout: float = 10.0) -> None:
    """Waits until Chromium's own processes are idle: a new context starts helper renderers
    (e.g. the omnibox's WebUI, about a second of CPU) that would compete with the page."""
    last = None
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        info = await browser_cdp.send("SystemInfo.getProcessInfo")
        total = sum(p["cpuTime"] for p in info["processInfo"])
        if last is not None and total - last < 0.01:
            return
        last = total
        await asyncio.sleep(0.25)


async def cold_load(browser, browser_cdp, port: int, stub: str, verbose: bool) -> dict:
    """One load in a fresh context (empty cache, new renderer) at 360x740 with 4x CPU
    throttling; only Telegram's script is intercepted (a Playwright route would pause every
    request of the page on its way through the driver)."""
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    page.on("pageerror", lambda e: print("page error:", e))
    page.on("requestfailed", lambda r: print("request failed:", r.url, r.failure))
    cdp = await context.new_cdp_session(page)

    pending: set[asyncio.Future] = set()

    def fulfil(event: dict) -> None:
        task = asyncio.ensure_future(
            cdp.send(
                "Fetch.fulfillRequest",
                {
                    "requestId": event["requestId"],
                    "responseCode": 200,
                    "responseHeaders": [
                        {"name": "Content-Type", "value": "application/javascript"},
                        {"name": "Cache-Control", "value": "max-age=3600"},
                    ],
                    "body": base64.b64encode(stub.encode()).decode(),
                },
            )
        )
        pending.add(task)
        task.add_done_callback(pending.discard)

    cdp.on("Fetch.requestPaused", fulfil)
    await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "https://telegram.org/*"}]})
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    await cdp.send("Performance.enable")
    await quiet(browser_cdp)
    load = os.getloadavg()[0]
    init = sign_init_data(TOKEN, MANAGER, int(time.time()))
    await page.goto(
        f"http://127.0.0.1:{port}/app/#" + urlencode({"tgWebAppData": init}),
        wait_until="commit",
    )
    answer = await cdp.send(
        "Runtime.evaluate",
        {"expression": WAIT_FOR_RENDER, "awaitPromise": True, "returnByValue": True},
    )
    first, rendered = answer["result"]["value"]
    metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
    result = {
        "first": first,
        "rendered": rendered,
        "busy": metrics["TaskDuration"] * 1000,  # main-thread time, throttled
        "items": await page.locator("[data-post]").count(),
        "load": load,
    }
    if verbose:
        t = (await cdp.send("Runtime.evaluate", {"expression": TIMINGS, "returnByValue": True}))[
            "result"
        ]["value"]
        print("  resources (start, end ms):", t["resources"])
        print(
            f"  page received {t['html']:.0f} ms, app.js runs {t['app'] or 0:.0f}, "
            f"DOMContentLoaded {t['dom']:.0f}, first paint {t['fcp'] or 0:.0f}, "
            f"data ready {t['data'] or 0:.0f}, agenda rendered {rendered:.0f}, "
            f"first post on screen {first:.0f} ms "
            f"(load average {load:.1f})"
        )
    await context.close()
    return result


async def bench_browser(port: int, settings, renders: int, verbose: bool = False) -> None:
    from playwright.async_api import async_playwright

    stub = STUB.read_text(encoding="utf-8")
    runs: list[dict] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        browser_cdp = await browser.new_browser_cdp_session()
        for _ in range(renders):
            runs.append(await cold_load(browser, browser_cdp, port, stub, verbose))
        await browser.close()
    results = [r["first"] for r in runs]
    marks = [r["rendered"] for r in runs]
    busy = [r["busy"] for r in runs]
    loads = [r["load"] for r in runs]
    print(
        f"\nfirst render (first post on screen), CPU throttled 4x, 360x740, "
        f"{runs[-1]['items']} posts in the agenda, "
        f"{renders} cold loads: min {min(results):.0f}  median {statistics.median(results):.0f}  "
        f"max {max(results):.0f} ms\n  the app's own 'agenda rendered' mark: min {min(marks):.0f}  "
        f"median {statistics.median(marks):.0f}  max {max(marks):.0f} ms\n"
        f"  main-thread task time read just after (throttled): min "
        f"{min(busy):.0f}  median {statistics.median(busy):.0f}  max {max(busy):.0f} ms; "
        f"1-minute load average during the loads {min(loads):.1f}-{max(loads):.1f} "
        f"on {os.cpu_count()} CPUs"
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
