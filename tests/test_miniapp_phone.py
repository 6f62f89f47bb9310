"""The calendar as a manager uses it on a phone, in the same headless Chromium as
`test_miniapp_browser.py` (Debian's /usr/bin/chromium; nothing downloaded): a 360x640 screen,
the app left open while the scheduler works, Russian and Dutch, errors worded in the manager's
language."""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.harness import MANAGER_ID, make_env
from tests.test_miniapp_api import CHANNEL, free_port, open_desk, queue_post
from tests.test_miniapp_browser import (  # noqa: F401  (the same skip when Chromium is missing)
    async_api,
    open_app,
    pytestmark,
    shot,
)

PHONE = {"width": 360, "height": 640}


@pytest.fixture
def bot_env(fake, tmp_path) -> dict[str, str]:
    return make_env(
        fake,
        tmp_path,
        MINIAPP_URL="https://bot.example.com/app/",
        HTTP_LISTEN=f"127.0.0.1:{free_port()}",
        TIMEZONE="Europe/Amsterdam",
    )


@pytest.fixture
async def desk(steward, fake):
    return await open_desk(steward, fake)


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


async def toast_after(page, action: str, words: str) -> str:
    """Taps `action` and returns the toast that says `words` (or, failing that, what the
    toast says instead)."""
    await page.locator(f"[data-action={action}]").tap()
    toast = page.locator(".toast")
    await toast.wait_for()
    with contextlib.suppress(async_api.TimeoutError):
        await page.locator(".toast", has_text=words).wait_for(timeout=3000)
    return await toast.inner_text()


async def close_sheet(page) -> None:
    if await page.locator(".shade").count():
        await page.locator(".shade").click(position={"x": 5, "y": 5})
        await page.locator(".shade").wait_for(state="detached")


@pytest.mark.parametrize(
    ("language", "blocked", "skipped", "repeated", "refused"),
    [
        ("ru", "Не могу написать вам", "не существует", "бывает дважды", "Telegram отклонил"),
        ("nl", "Ik kan u geen bericht", "bestaat niet", "twee keer voor", "Telegram weigerde"),
    ],
)
async def test_refusals_are_told_in_the_managers_language(
    steward, fake, desk, browser, language, blocked, skipped, repeated, refused
):
    """What the server refuses reaches a Russian or Dutch manager in their language (before:
    "Что-то пошло не так: I could not write to you: press Start in my chat first", and the
    same English for a time the clocks skip or repeat and for a post Telegram refused)."""
    post_id = await queue_post(steward, fake, desk, 3600, "Hello")
    page = await open_app(browser, steward.settings, language=language)
    await page.set_viewport_size(PHONE)
    item = page.locator(f"[data-post='{post_id}']")

    # Edit in chat, with the bot blocked
    fake.block_bot(MANAGER_ID)
    await item.tap()
    text = await toast_after(page, "edit", blocked)
    assert blocked in text and "I could not" not in text, text
    fake.blocked.discard(MANAGER_ID)
    await close_sheet(page)

    # Move to 02:30 on the night the clocks go forward, then on the night they go back
    for day, words in (("2027-03-28", skipped), ("2027-10-31", repeated)):
        await item.tap()
        await page.locator("[data-action=move]").tap()
        await page.locator("input[type=date]").fill(day)
        await page.locator("input[type=time]").fill("02:30")
        text = await toast_after(page, "move-here", words)
        assert words in text and "clocks" not in text, text
        await close_sheet(page)
    assert (await steward.app.post_repo.get(post_id)).version == 1

    # Publish now, refused by Telegram: its reason, in the manager's words around it
    fake.fail("copyMessage", 403, description="Forbidden: bot is not a member of the channel")
    await item.tap()
    await page.locator("[data-action=publish]").tap()
    text = await toast_after(page, "confirm-publish", refused)
    assert refused in text and "not a member" in text and "Telegram refused" not in text, text
    await page.context.close()


@pytest.mark.parametrize(
    ("language", "forms", "one_comment"),
    [
        ("en", ["1 reaction", "3 reactions", "5 reactions", "21 reactions"], "1 comment"),
        ("ru", ["1 реакция", "3 реакции", "5 реакций", "21 реакция"], "1 комментарий"),
        ("nl", ["1 reactie", "3 reacties", "5 reacties", "21 reacties"], "1 reactie in de"),
    ],
)
async def test_counts_take_the_languages_plural_forms(
    steward, fake, desk, browser, language, forms, one_comment
):
    """A published post's reactions and comments are counted as the language counts them
    (before: '1 reactions', '1 reacties', and Russian's one form for every number)."""
    ids = []
    for count in (1, 3, 5, 21):
        post_id = await queue_post(steward, fake, desk, 3600, f"Post with {count}")
        assert (await steward.app.calendar.publish_now(post_id)).outcome.value == "ok"
        post = await steward.app.post_repo.get(post_id)
        await steward.app.stats.reaction_count(CHANNEL, post.published_ids[0], count)
        ids.append(post_id)
    await steward.app.stats.repo.add_comment(CHANNEL, post.published_ids[0])  # the 21's
    page = await open_app(browser, steward.settings, language=language)
    await page.set_viewport_size(PHONE)
    for post_id, form in zip(ids, forms, strict=True):
        text = await page.locator(f"[data-post='{post_id}'] .st").inner_text()
        assert text.startswith(form + " ·"), (form, text)
    await page.locator(f"[data-post='{ids[-1]}']").tap()
    chips = await page.locator(".sheet .chips").inner_text()
    assert one_comment in chips and "|" not in chips, chips
    await page.context.close()


async def test_two_managers_a_cancel_from_a_stale_sheet_is_refused(steward, fake, desk, browser):
    """Manager A has a post's sheet open; manager B moves it to next week meanwhile. A's
    Cancel acts on what A saw, so it is refused as stale, as a move from it is, instead of
    cancelling a post B has just planned (before: cancelled). Publish now alike (API test)."""
    from datetime import UTC, datetime, timedelta

    from tests.test_miniapp_api import channel_copies

    post_id = await queue_post(steward, fake, desk, 3600, "Planned for today")
    page = await open_app(browser, steward.settings)
    await page.set_viewport_size(PHONE)
    await page.locator(f"[data-post='{post_id}']").tap()
    # B moves it (the same service the app and /queue use)
    later = datetime.now(UTC) + timedelta(days=7)
    moved = await steward.app.calendar.move(post_id, later, 1)
    assert moved.outcome.value == "ok"
    await page.locator("[data-action=cancel]").tap()
    text = await toast_after(page, "confirm-cancel", "changed this post meanwhile")
    assert "changed this post meanwhile" in text, text
    post = await steward.app.post_repo.get(post_id)
    assert post.status == "scheduled" and post.due_at == int(later.timestamp())
    await page.context.close()
    assert channel_copies(fake) == []


async def test_a_double_tap_acts_once(steward, fake, desk, browser):
    """A double tap on Move here, on the cancel's confirmation or on Undo sends one request:
    before, the second one carried the version the first had just used and came back 'stale',
    so a manager who moved their own post was told someone else had changed it."""
    post_id = await queue_post(steward, fake, desk, 3600, "Tap tap")
    page = await open_app(browser, steward.settings)
    await page.set_viewport_size(PHONE)
    sent: list[str] = []
    page.on(
        "request",
        lambda r: (
            sent.append(f"{r.method} {r.url.split('?')[0].split('/api')[1]}")
            if "/api/posts/" in r.url
            else None
        ),
    )
    double = "s => { const b = document.querySelector(s); b.click(); b.click(); }"

    await page.locator(f"[data-post='{post_id}']").tap()
    await page.locator("[data-action=move]").tap()
    await page.locator("[data-free], input[type=date]").first.wait_for()
    await page.locator("input[type=time]").fill("23:59")
    await page.evaluate(double, "[data-action=move-here]")
    await page.locator(".toast", has_text="moved").wait_for()
    await page.wait_for_timeout(500)
    assert sent == [f"PATCH /posts/{post_id}"], sent
    assert "meanwhile" not in await page.locator(".toast").inner_text()

    sent.clear()
    await page.locator(f"[data-post='{post_id}']").tap()
    await page.locator("[data-action=cancel]").tap()
    await page.evaluate(double, "[data-action=confirm-cancel]")
    await page.locator(".toast", has_text="cancelled").wait_for()
    await page.wait_for_timeout(500)
    assert sent == [f"DELETE /posts/{post_id}"], sent

    sent.clear()
    await page.evaluate(double, "[data-action=undo]")
    await page.locator(".toast", has_text="back in the queue").wait_for()
    await page.wait_for_timeout(500)
    assert sent == [f"PATCH /posts/{post_id}"], sent
    assert (await steward.app.post_repo.get(post_id)).status == "scheduled"
    await page.context.close()


async def test_long_titles_and_texts_stay_on_a_phone_screen(steward, fake, browser):
    """A channel title of Telegram's 128 characters with no space, a 4096-character text whose
    first line is one long word, emoji: the agenda's rows keep them inside the row (before: the
    title ran under the status badge and off the screen) and the sheet does not scroll sideways
    (before: 1,835 px wide on a 360 px phone, the title cut off)."""
    title = "Новости" * 18 + "Ok"  # 128 characters, no space to break at
    assert len(title) == 128
    chat, manager = await open_desk(steward, fake, title)
    await steward.app.calendar.slots.set(0, ["23:59"])
    text = ("🎉👨‍👩‍👧‍👦" + "Superlongword" * 40 + "\n" + "очень длинный текст 🚀 " * 200)[:4096]
    post_id = await queue_post(steward, fake, (chat, manager), 3600, text)
    page = await open_app(browser, steward.settings, language="ru", scheme="dark")
    await page.set_viewport_size(PHONE)
    spill = """() => {
      const out = [];
      for (const row of document.querySelectorAll('.item')) {
        for (const el of row.querySelectorAll('.body, .body *')) {  // text wider than its box
          const clipped = getComputedStyle(el).overflowX !== 'visible';
          const wide = el.scrollWidth > el.clientWidth + 1;
          if (!clipped && wide) out.push(`${el.className} ${el.scrollWidth}`);
        }
      }
      return out;
    }"""
    assert await page.evaluate(spill) == []
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.locator(f"[data-post='{post_id}']").tap()
    sheet = page.locator(".sheet")
    await sheet.wait_for()
    await page.wait_for_timeout(300)  # its slide-in
    wide, room = await sheet.evaluate("s => [s.scrollWidth, s.clientWidth]")
    assert wide <= room, (wide, room)
    await shot(page, "long-title-sheet")
    await page.context.close()


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("missing", "Open the calendar from the bot's menu button"),  # a plain browser
        ("tampered", "Open the calendar from the bot's menu button"),
        ("expired", "This session has expired"),
    ],
)
async def test_a_refused_sign_in_says_what_to_do(steward, desk, browser, how, says):
    """Opened outside Telegram (no initData) or with initData someone edited, the page said
    'This session has expired', which it had not; only an expired sign-in says so now."""
    from urllib.parse import urlencode

    from bot.miniapp.auth import sign_init_data
    from tests.test_miniapp_browser import STUB

    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    stub = STUB.read_text(encoding="utf-8")

    async def route(r):
        await r.fulfill(body=stub, content_type="application/javascript")

    await page.route("https://telegram.org/js/telegram-web-app.js*", route)
    age = 2 * 86400 if how == "expired" else 0
    init = sign_init_data(steward.settings.bot_token, MANAGER_ID, int(time.time()) - age)
    if how == "tampered":
        init = init.replace("Manager", "Mallory")
    fragment = "" if how == "missing" else "#" + urlencode({"tgWebAppData": init})
    await page.goto(f"http://127.0.0.1:{steward.settings.webhook_port}/app/{fragment}")
    await page.wait_for_selector("[data-fatal=yes]", timeout=15000)
    assert says in await page.locator("[data-fatal]").inner_text()
    assert await page.locator("[data-post]").count() == 0
    await context.close()


async def test_an_edited_posts_new_picture_replaces_its_old_thumbnail(steward, fake, desk, browser):
    """A photo post gets a new picture (Edit in chat, by this manager or another) while the app
    is open: when the calendar is read again it shows the new thumbnail (before: the old one,
    kept per post id by the page and for a day by the browser's cache)."""
    from io import BytesIO

    from PIL import Image

    def jpeg(width: int) -> bytes:
        out = BytesIO()
        Image.new("RGB", (width, 40), (200, 80, 40)).save(out, "JPEG")
        return out.getvalue()

    chat, manager = desk
    fake.add_file("thumb-old", jpeg(90), "photos/old.jpg")
    fake.add_file("thumb-new", jpeg(50), "photos/new.jpg")
    source = fake.new_message(chat, manager, caption="Before")
    app = steward.app
    post_id = await app.post_repo.add(
        channel_id=CHANNEL,
        source_chat_id=MANAGER_ID,
        source_message_ids=[source["message_id"]],
        due_at=int(time.time()) + 3600,
        created_by=MANAGER_ID,
        now=int(time.time()),
        summary={"kind": "photo", "text": "Before", "count": 1, "thumb": "thumb-old"},
    )
    page = await open_app(browser, steward.settings)
    await page.set_viewport_size(PHONE)
    width = "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth }"
    image = f"[data-post='{post_id}'] img.thumb"
    assert await page.wait_for_function(width, arg=image)
    assert await page.locator(image).evaluate("i => i.naturalWidth") == 90
    again = fake.new_message(chat, manager, caption="After")
    summary = {"kind": "photo", "text": "After", "count": 1, "thumb": "thumb-new"}
    assert await app.post_repo.replace_content(post_id, [again["message_id"]], summary)
    # Telegram shows the app again: it reads the calendar again
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    await page.locator(f"[data-post='{post_id}']", has_text="After").wait_for()
    await page.wait_for_function(f"s => ({width})(s) === 50", arg=image, timeout=5000)
    await page.context.close()


@pytest.mark.parametrize(
    ("phone_zone", "shown"), [("Asia/Tokyo", True), ("Europe/Amsterdam", False)]
)
async def test_a_manager_in_another_time_zone_is_told_whose_times_these_are(
    steward, desk, browser, phone_zone, shown
):
    """The calendar shows times in TIMEZONE, as /queue does. A manager whose phone is in
    another zone (travelling, or a team spread over zones) read them as their own, with no word
    on the agenda saying otherwise (only the Move panel named the zone): the header now says
    whose times these are when the phone's clock differs."""
    page = await open_app(browser, steward.settings, timezone=phone_zone)
    await page.set_viewport_size(PHONE)
    note = page.locator("header .tz")
    if shown:
        assert "Times in Europe/Amsterdam" in await note.inner_text()
    else:
        assert await note.count() == 0
    await page.context.close()


async def test_the_bot_out_of_reach_is_said_in_the_managers_language(steward, fake, desk, browser):
    """The bot restarts (a deploy) or the phone loses its connection while the app is open:
    the toast says so in Russian (before: 'Что-то пошло не так: Failed to fetch', the
    browser's English), and nothing changed."""
    post_id = await queue_post(steward, fake, desk, 3600, "Hello")
    page = await open_app(browser, steward.settings, language="ru")
    await page.set_viewport_size(PHONE)
    await page.locator(f"[data-post='{post_id}']").tap()
    await page.locator("[data-action=cancel]").tap()

    async def down(route):
        await route.abort("connectionrefused")

    await page.route("**/api/**", down)
    text = await toast_after(page, "confirm-cancel", "Нет связи")
    assert "Нет связи" in text and "Failed" not in text, text
    assert (await steward.app.post_repo.get(post_id)).status == "scheduled"
    await page.context.close()
