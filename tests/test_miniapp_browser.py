"""The calendar Mini App in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no browser is ever downloaded): a phone-sized viewport, signed initData in the URL
fragment as Telegram passes it, and a stub in place of Telegram's script.

Screenshots go to tests/artifacts/miniapp/ (ignored by git; CI keeps them as artefacts).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.miniapp.auth import sign_init_data
from tests.chromium import CHROMIUM
from tests.harness import MANAGER_ID, make_env
from tests.test_miniapp_api import CHANNEL, free_port, open_desk, queue_post

STUB = Path(__file__).parent / "miniapp" / "telegram-web-app.js"
ARTIFACTS = Path(__file__).parent / "artifacts" / "miniapp"
LIGHT = {
    "bg_color": "#ffffff",
    "secondary_bg_color": "#f0f0f4",
    "text_color": "#000000",
    "hint_color": "#8e8e93",
    "link_color": "#2481cc",
    "button_color": "#2481cc",
    "button_text_color": "#ffffff",
}
DARK = {
    "bg_color": "#212121",
    "secondary_bg_color": "#0f0f0f",
    "text_color": "#ffffff",
    "hint_color": "#aaaaaa",
    "link_color": "#8774e1",
    "button_color": "#8774e1",
    "button_text_color": "#ffffff",
}

async_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e .[test])"
)
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).is_file() and shutil.which(CHROMIUM)),
    reason=f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium); "
    ".ci/run does this in CI",
)


@pytest.fixture
def bot_env(fake, tmp_path) -> dict[str, str]:
    return make_env(
        fake,
        tmp_path,
        MINIAPP_URL="https://bot.example.com/app/",
        HTTP_LISTEN=f"127.0.0.1:{free_port()}",
    )


async def open_app(browser, settings, *, language="en", scheme="light", theme=None, timezone=None):
    """A phone-sized page opened the way Telegram opens a Mini App; only the bot's own server
    and the stubbed Telegram script are reachable. `timezone`: the phone's clock's zone."""
    context = await browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale=language,
        timezone_id=timezone,
    )
    page = await context.new_page()
    stub = STUB.read_text(encoding="utf-8")

    async def route(r):
        await r.fulfill(body=stub, content_type="application/javascript")

    async def refuse(r):
        await r.abort()

    await page.route("https://telegram.org/js/telegram-web-app.js*", route)
    await page.route(
        lambda url: not url.startswith(("http://127.0.0.1:", "https://telegram.org/")), refuse
    )
    init = sign_init_data(settings.bot_token, MANAGER_ID, int(time.time()), language_code=language)
    fragment = urlencode(
        {
            "tgWebAppData": init,
            "tgWebAppVersion": "8.0",
            "tgWebAppPlatform": "android",
            "tgWebAppColorScheme": scheme,
            "tgWebAppThemeParams": json.dumps(theme or (DARK if scheme == "dark" else LIGHT)),
        }
    )
    await page.goto(f"http://127.0.0.1:{settings.webhook_port}/app/#{fragment}")
    await page.wait_for_selector("body[data-ready=yes]", timeout=15000)
    return page


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.fixture
async def seeded(steward, fake):
    desk = await open_desk(steward, fake)
    chat, manager = desk
    await steward.app.calendar.slots.set(0, ["09:00", "13:00", "19:00"])
    ids = [
        await queue_post(steward, fake, desk, 2 * 3600, "Launch day: the new app is out"),
        await queue_post(steward, fake, desk, 5 * 3600, "Behind the scenes, part 2"),
        await queue_post(steward, fake, desk, 26 * 3600, "Weekly digest"),
    ]
    # a photo post, with the thumbnail Telegram keeps for it
    fake.add_file("thumb-1", small_jpeg(), "photos/thumb.jpg")
    source = fake.new_message(chat, manager, caption="Sunset over the bay")
    photo = await steward.app.post_repo.add(
        channel_id=CHANNEL,
        source_chat_id=MANAGER_ID,
        source_message_ids=[source["message_id"]],
        due_at=int(time.time()) + 28 * 3600,
        created_by=MANAGER_ID,
        now=int(time.time()),
        summary={"kind": "photo", "text": "Sunset over the bay", "count": 1, "thumb": "thumb-1"},
    )
    return [*ids, photo]


def small_jpeg() -> bytes:
    from io import BytesIO

    from PIL import Image

    image = Image.new("RGB", (90, 60))
    image.putdata([(255 - y * 3, 120 + x, 60 + y * 2) for y in range(60) for x in range(90)])
    out = BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


async def test_agenda_move_cancel_and_dark_theme(steward, fake, seeded, browser):
    first, second, _, photo = seeded
    page = await open_app(browser, steward.settings)
    for post_id in seeded:
        await page.locator(f"[data-post='{post_id}']").wait_for()
    await page.wait_for_function(  # the thumbnail, fetched with the sign-in, is decoded
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth }",
        arg=f"[data-post='{photo}'] img.thumb",
    )
    width = await page.locator(f"[data-post='{photo}'] img.thumb").evaluate("i => i.naturalWidth")
    assert width == 90
    assert "Launch day" in await page.locator(f"[data-post='{first}']").inner_text()
    assert await page.locator(".item.slot").count() > 0  # empty slots are visible
    assert await page.locator("header h1").inner_text() == "📅 Calendar"
    await shot(page, "agenda-light")

    # Move: the sheet offers the channel's free slots first; take the first one
    await page.locator(f"[data-post='{first}']").tap()
    await page.locator("[data-action=move]").tap()
    chip = page.locator("[data-free]").first
    target = await chip.get_attribute("data-free")
    await chip.tap()
    await shot(page, "move-sheet")
    await page.locator("[data-action=move-here]").tap()
    await page.locator(".toast").wait_for()
    assert f"#{first} moved" in await page.locator(".toast").inner_text()
    moved = await steward.app.post_repo.get(first)
    expected = datetime.fromisoformat(target.replace("Z", "+00:00"))
    assert moved.due_at == int(expected.timestamp()) and moved.version == 2
    assert moved.status == "scheduled"
    job = steward.app.scheduler.get_job(f"post:{first}")
    assert job is not None and int(job.next_run_time.timestamp()) == moved.due_at

    # Cancel, confirmed
    await page.locator(f"[data-post='{second}']").tap()
    await page.locator("[data-action=cancel]").tap()
    await page.locator("[data-action=confirm-cancel]").tap()
    await page.locator(f"[data-post='{second}']").wait_for(state="detached")
    assert (await steward.app.post_repo.get(second)).status == "cancelled"
    assert steward.app.scheduler.get_job(f"post:{second}") is None

    # Telegram switches to the dark theme while the app is open
    await page.evaluate(f"window.__setTheme('dark', {json.dumps(DARK)})")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 15, 15)"
    assert await page.evaluate("document.documentElement.dataset.scheme") == "dark"
    await shot(page, "agenda-dark")

    calls = await page.evaluate("window.__tgCalls.map(c => c[0])")
    assert "ready" in calls and "expand" in calls
    assert "impactOccurred" in calls and "notificationOccurred" in calls
    assert not fake.calls_of("copyMessage")  # nothing was published on the way
    await page.context.close()


async def test_week_and_month_views_and_russian(steward, seeded, browser):
    page = await open_app(browser, steward.settings, language="ru", scheme="dark")
    assert await page.locator("header h1").inner_text() == "📅 Календарь"
    await page.locator("[data-view=month]").tap()
    today = datetime.now(steward.settings.timezone).date().isoformat()
    cell = page.locator(f"[data-cell='{today}']")
    await cell.wait_for()
    assert await cell.get_attribute("aria-selected") == "true"
    # a day with posts has a dot
    days_with_posts = await page.locator(".cell:has(.dot:not(.free))").count()
    assert days_with_posts >= 1
    await shot(page, "month-dark-ru")
    await page.locator("[data-view=week]").tap()
    assert await page.locator(".strip .cell").count() == 7
    await page.context.close()


async def test_member_sees_only_a_refusal(steward, seeded, browser, fake):
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    stub = STUB.read_text(encoding="utf-8")

    async def route(r):
        if r.request.url.startswith("https://telegram.org/"):
            await r.fulfill(body=stub, content_type="application/javascript")
        else:
            await r.continue_()

    await page.route("**/*", route)
    init = sign_init_data(steward.settings.bot_token, 4242, int(time.time()))
    await page.goto(
        f"http://127.0.0.1:{steward.settings.webhook_port}/app/#"
        + urlencode({"tgWebAppData": init})
    )
    await page.wait_for_selector("[data-fatal=yes]", timeout=15000)
    assert "only for Steward's managers" in await page.locator("[data-fatal]").inner_text()
    assert await page.locator("[data-post]").count() == 0
    await context.close()


async def test_publish_now_that_telegram_makes_wait_shows_the_delayed_toast(
    steward, fake, seeded, browser
):
    """Telegram answers the publication with a wait longer than a request waits (429, 121 s):
    the API says `delayed` and the post goes back into the queue for then; the app says so in
    its own words and closes the sheet, rather than a bare error."""
    first = seeded[0]
    fake.fail("copyMessage", 429, retry_after=121)
    page = await open_app(browser, steward.settings)
    await page.locator(f"[data-post='{first}']").tap()
    await page.locator("[data-action=publish]").tap()
    await page.locator("[data-action=confirm-publish]").tap()
    toast = page.locator(".toast")
    await toast.wait_for()
    assert await toast.inner_text() == (  # the app's own words, not the API's error
        "Telegram asks me to wait: the post goes out at its new time in the calendar."
    )
    await page.locator("[data-action=confirm-publish]").wait_for(state="detached")
    post = await steward.app.post_repo.get(first)
    assert post.status == "scheduled" and 115 <= post.due_at - time.time() <= 121
    await shot(page, "publish-delayed")
    await page.context.close()
