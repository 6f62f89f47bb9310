"""The calendar as a manager uses it on a phone, in the same headless Chromium as
`test_miniapp_browser.py` (Debian's /usr/bin/chromium; nothing downloaded): a 360x640 screen,
the app left open while the scheduler works, Russian and Dutch, errors worded in the manager's
language."""

from __future__ import annotations

import time

import pytest

from tests.harness import MANAGER_ID
from tests.test_miniapp_api import CHANNEL, Channel, queue_post
from tests.test_miniapp_browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    async_api,
    bot_env,
    browser,
    open_app,
    pytestmark,
    shot,
)

PHONE = {"width": 360, "height": 640}


@pytest.fixture
async def desk(steward, fake):
    fake.add_chat(CHANNEL, "channel", "News", username="news")
    manager = fake.user(MANAGER_ID, "Manny")
    chat = fake.start_bot(manager)
    await steward.app.channel_repo.upsert(
        Channel(CHANNEL, "News", "news", True, True, True, True), int(time.time())
    )
    return chat, manager


async def test_a_post_the_scheduler_publishes_meanwhile_shows_as_published(
    steward, fake, desk, browser
):
    """The manager has the app open, a post's sheet too, when the scheduler publishes it: the
    agenda shows it published without a reload, and its sheet no longer offers Move, Publish
    now or Cancel (before: it stayed 'queued' with every button until the manager closed the
    app, and each button then met a 409)."""
    post_id = await queue_post(steward, fake, desk, 4, "Goes out while you look")
    page = await open_app(browser, steward.settings)
    await page.set_viewport_size(PHONE)
    item = page.locator(f"[data-post='{post_id}']")
    assert "queued" in await item.inner_text()
    await item.tap()
    await page.locator("[data-action=move]").wait_for()
    await fake.wait_for("copyMessage", since=0, timeout=10)
    await page.locator(".sheet .sub", has_text="published").wait_for(timeout=10000)
    assert await page.locator("[data-action=move]").count() == 0
    assert await page.locator("[data-action=cancel]").count() == 0
    await page.locator("[data-action=close]").tap()
    assert "published" in await item.inner_text()
    await shot(page, "published-meanwhile")
    await page.context.close()
