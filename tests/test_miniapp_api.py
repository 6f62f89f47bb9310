"""The calendar Mini App's API, black-box over HTTP against the running bot and the fake
Telegram: sign-in checks, and each endpoint's effect in the database and in the channel."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.miniapp.auth import sign_init_data
from storage.posts import Channel
from tests.conftest import engine_env
from tests.fake_telegram import FakeTelegram
from tests.harness import MANAGER_ID, make_env

CHANNEL = -1001555000001
MEMBER = 4242


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def bot_env(request, fake: FakeTelegram, tmp_path) -> dict[str, str]:
    return make_env(
        fake,
        tmp_path,
        **engine_env(request),
        MINIAPP_URL="https://bot.example.com/app/",
        HTTP_LISTEN=f"127.0.0.1:{free_port()}",
    )


class Api:
    def __init__(self, running, http: aiohttp.ClientSession) -> None:
        self.running = running
        self.http = http
        self.base = f"http://127.0.0.1:{running.settings.webhook_port}"
        self.token = running.settings.bot_token

    def auth(self, user_id: int = MANAGER_ID, age: int = 0, token: str | None = None) -> str:
        data = sign_init_data(token or self.token, user_id, int(time.time()) - age)
        return f"tma {data}"

    async def call(self, method: str, path: str, *, headers=None, **kw) -> tuple[int, dict]:
        headers = {"Authorization": self.auth()} if headers is None else headers
        async with self.http.request(method, self.base + path, headers=headers, **kw) as r:
            return r.status, await r.json()


@pytest.fixture
async def api(steward):
    async with aiohttp.ClientSession() as http:
        yield Api(steward, http)


async def open_desk(steward, fake: FakeTelegram, title: str = "News") -> tuple[dict, dict]:
    """What the Mini App tests start from: a manager who started the bot, and the channel
    (@news, `title`) the bot may post in. Returns the manager's private chat and the manager."""
    fake.add_chat(CHANNEL, "channel", title, username="news")
    manager = fake.user(MANAGER_ID, "Manny")
    chat = fake.start_bot(manager)
    await steward.app.channel_repo.upsert(
        Channel(CHANNEL, title, "news", True, True, True, True), int(time.time())
    )
    return chat, manager


@pytest.fixture
async def desk(fake: FakeTelegram, steward):
    return await open_desk(steward, fake)


async def queue_post(steward, fake, desk, in_seconds: float, text: str = "Big news") -> int:
    """A post queued as the compose flow leaves it: the manager's message, a row, a timer."""
    chat, manager = desk
    source = fake.new_message(chat, manager, text)
    app = steward.app
    post_id = await app.post_repo.add(
        channel_id=CHANNEL,
        source_chat_id=MANAGER_ID,
        source_message_ids=[source["message_id"]],
        due_at=int(time.time() + in_seconds),
        created_by=MANAGER_ID,
        now=int(time.time()),
        summary={"kind": "text", "text": text, "count": 1},
    )
    app.publisher.arm(await app.post_repo.get(post_id))
    return post_id


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def channel_copies(fake) -> list:
    return [c for c in fake.calls_of("copyMessage") if int(c["chat_id"]) == CHANNEL]


# --- sign-in ----------------------------------------------------------------------------------


async def test_forged_expired_missing_and_member_are_refused(api, desk, caplog):
    caplog.set_level(logging.DEBUG)
    good = api.auth()
    forged = api.auth(token="654321:ANOTHER-token_abcdefghijklmnopqrstuv")
    tampered = good.replace(f"%22id%22%3A{MANAGER_ID}", "%22id%22%3A9002")
    assert tampered != good
    for headers, status, code in [
        ({}, 401, "missing"),
        ({"Authorization": "Bearer x"}, 401, "missing"),
        ({"Authorization": forged}, 401, "invalid"),
        ({"Authorization": tampered}, 401, "invalid"),
        ({"Authorization": "tma hash=abc&user=%7B%7D"}, 401, "invalid"),
        ({"Authorization": api.auth(age=25 * 3600)}, 401, "expired"),
        ({"Authorization": api.auth(user_id=MEMBER)}, 403, "forbidden"),
    ]:
        for method, path in [("GET", "/api/posts"), ("DELETE", "/api/posts/1")]:
            got, body = await api.call(method, path, headers=headers)
            assert (got, body.get("code")) == (status, code), (headers, path)
            assert body["error"]
    got, body = await api.call("GET", "/api/posts", headers={"Authorization": good})
    assert got == 200 and body["posts"] == []
    signed = good.split(" ", 1)[1]
    secret = signed.rsplit("hash=", 1)[1]
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert all(signed not in r.getMessage() for r in caplog.records)


async def test_auth_ttl_is_a_setting(fake, tmp_path):
    from tests.harness import settings_for

    settings = settings_for(make_env(fake, tmp_path, MINIAPP_AUTH_TTL="30m"))
    assert settings.miniapp_auth_ttl == 1800
    assert settings_for(make_env(fake, tmp_path)).miniapp_auth_ttl == 86400


# --- reading ----------------------------------------------------------------------------------


async def test_posts_lists_the_queue_with_empty_slots(api, steward, fake, desk):
    await steward.app.calendar.slots.set(0, ["09:00", "19:00"])
    first = await queue_post(steward, fake, desk, 3600, "First line\nsecond line")
    now = datetime.now(UTC)
    status, body = await api.call(
        "GET",
        "/api/posts",
        params={"from": iso(now), "to": iso(now + timedelta(days=3)), "channel": str(CHANNEL)},
    )
    assert status == 200
    [post] = body["posts"]
    assert post["id"] == first and post["channel"] == CHANNEL
    assert post["channel_title"] == "News" and post["status"] == "queued"
    assert post["preview"]["text"].startswith("First line") and post["version"] == 1
    assert post["due_at"].endswith("Z") and post["options"]["silent"] is False
    # two slots a day for three days, from now on: 5 or 6 of them lie in the range, none taken
    slots = body["empty_slots"]
    assert 5 <= len(slots) <= 6 and {s["channel"] for s in slots} == {CHANNEL}
    assert all(s["at"].endswith(("09:00:00Z", "19:00:00Z")) for s in slots)
    # the zone's offsets over the range (and a day either side), for the page's clock
    offsets = body["utc_offsets"]
    assert offsets["changes"][0][0] <= (now - timedelta(days=1)).timestamp() * 1000
    assert offsets["until"] >= (now + timedelta(days=4)).timestamp() * 1000 - 1000
    assert (
        offsets["changes"][0][1] == steward.settings.timezone.utcoffset(now).total_seconds() // 60
    )
    # the other channel filter sees nothing
    status, body = await api.call("GET", "/api/posts", params={"channel": "-100999"})
    assert status == 200 and body["posts"] == [] and body["empty_slots"] == []
    # no chat has id 0: a filter by it is refused, never read as "all channels"
    for zero in ("0", "-0", "000"):
        status, body = await api.call("GET", "/api/posts", params={"channel": zero})
        assert (status, body.get("code")) == (400, "bad_channel"), zero


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        {"from": "2026-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        {"channel": "news"},
    ],
)
async def test_bad_queries_are_400(api, desk, params):
    status, body = await api.call("GET", "/api/posts", params=params)
    assert status == 400 and body["error"]


@pytest.fixture
def zone(bot_env, request) -> str:
    bot_env["TIMEZONE"] = request.param
    return request.param


@pytest.mark.parametrize(
    ("zone", "day", "problem"),
    [
        ("America/Santiago", "2027-09-05", "skipped"),  # clocks jump from 00:00 to 01:00
        ("America/Havana", "2026-11-01", "repeated"),  # 00:00-00:59 happens twice
    ],
    indirect=["zone"],
)
async def test_a_range_from_a_midnight_the_clocks_skip_or_repeat(
    zone, problem, day, steward, api, fake, desk
):
    """Where the clocks change at midnight (Chile, Cuba, Lebanon, Egypt), that day's 00:00
    does not exist or happens twice. The page asks for its views from a day's 00:00 (the agenda
    from today, a week from its Monday): the range starts at the day's first moment, as any
    other day's, instead of the whole view failing with 400 on that day and the two weeks
    before it."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day)
    before = (start - timedelta(days=3)).date().isoformat()
    after = (start + timedelta(days=3)).date().isoformat()
    for params in (
        {"from": f"{day}T00:00", "to": f"{after}T00:00"},  # the agenda on that day
        {"from": f"{before}T00:00", "to": f"{day}T00:00"},  # the days before it
    ):
        status, body = await api.call("GET", "/api/posts", params=params)
        assert status == 200, (params, body)
    status, body = await api.call(
        "GET", "/api/posts", params={"from": f"{day}T00:00", "to": f"{after}T00:00"}
    )
    begin = datetime.fromisoformat(body["from"].replace("Z", "+00:00"))
    # the day's first moment: on the wall clock that day, and nothing of that day before it
    assert begin.astimezone(tz).date().isoformat() == day
    assert (begin - timedelta(seconds=1)).astimezone(tz).date().isoformat() < day
    # a post at the first moment of that day is in the day's range, not the one before
    status, earlier = await api.call(
        "GET", "/api/posts", params={"from": f"{before}T00:00", "to": f"{day}T00:00"}
    )
    assert earlier["to"] == body["from"]
    # a time a manager picks is still refused when it is not one moment: that is no range
    post_id = await queue_post(steward, fake, desk, 3600)
    status, moved = await api.call(
        "PATCH", f"/api/posts/{post_id}", json={"due_at": f"{day}T00:30", "version": 1}
    )
    assert (status, moved["code"]) == (400, "bad_time")
    # with the reason, which the page words in the manager's language
    assert moved["reason"] == {"skipped": "nonexistent", "repeated": "ambiguous"}[problem]


async def test_odd_input_is_a_4xx_json_error_never_a_500(api, steward, fake, desk):
    """What a prodding client sends: dates at the ends of the calendar, chat ids no chat has,
    digits that are not ASCII, JSON nested past any sense. Each gets a 4xx JSON error."""
    post_id = await queue_post(steward, fake, desk, 3600)
    gets = [
        ("/api/posts", {"from": "9999-12-31T23:00:00-05:00"}, "bad_time"),
        ("/api/posts", {"from": "0001-01-01T00:00:00+05:00"}, "bad_time"),
        ("/api/posts", {"from": "0001-01-01T00:00:00"}, "bad_time"),
        ("/api/posts", {"from": "9999-12-30T00:00:00Z"}, "bad_time"),
        ("/api/posts", {"to": "0001-01-01T00:30:00Z"}, "bad_time"),
        ("/api/posts", {"from": "8999-12-31T00:00:00Z"}, None),
        ("/api/posts", {"channel": "1" + "0" * 30}, "bad_channel"),
        ("/api/best-times", {"channel": "-1" + "0" * 30}, "bad_channel"),
    ]
    for path, params, code in gets:
        status, body = await api.call("GET", path, params=params)
        if code is None:  # far off, but still a calendar
            assert status == 200 and body["posts"] == [], params
            continue
        assert (status, body.get("code")) == (400, code), params
        assert body["error"]
    for method, path in [
        ("DELETE", "/api/posts/%C2%B2"),
        ("POST", "/api/posts/%C2%B2/publish"),
        ("GET", "/api/posts/%C2%B2/thumb"),
    ]:
        status, body = await api.call(method, path)
        assert (status, body.get("code")) == (400, "bad_id"), path
    url = f"/api/posts/{post_id}"
    for due in ("9999-12-31T23:59:00-05:00", "0001-01-01T00:00:00+01:00"):
        status, body = await api.call("PATCH", url, json={"due_at": due, "version": 1})
        assert (status, body.get("code")) == (400, "bad_time"), due
    headers = {"Authorization": api.auth()}
    status, body = await api.call("PATCH", url, data=b"[" * 100_000, headers=headers)
    assert (status, body.get("code")) == (400, "bad_json")
    # a body that says it is gzipped and is not
    soon = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT10:00:00Z")
    move = json.dumps({"due_at": soon, "version": 1}).encode()
    lying = {**headers, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    status, body = await api.call("PATCH", url, data=move, headers=lying)
    assert (status, body.get("code")) == (400, "bad_json")
    post = await steward.app.post_repo.get(post_id)
    assert post.version == 1 and post.status == "scheduled"
    # JSON is UTF-8 whatever charset the header names, one Python has never heard of included
    odd = {**headers, "Content-Type": "application/json; charset=nonsense"}
    status, body = await api.call("PATCH", url, data=move, headers=odd)
    assert status == 200 and body["due_at"] == soon


async def test_unknown_paths_and_methods_answer_json(api, desk):
    for path in ("/api/nothing", "/api/", "/api", "/api/posts/1/nothing"):
        status, body = await api.call("GET", path)
        assert (status, body.get("code")) == (404, "not_found"), path
    # an endpoint that exists, called with a method it does not take: 405 with what it takes
    for method, path, allowed in [
        ("PUT", "/api/posts/1", {"PATCH", "DELETE"}),
        ("GET", "/api/posts/1", {"PATCH", "DELETE"}),
        ("POST", "/api/posts", {"GET", "HEAD"}),
        ("GET", "/api/posts/1/publish", {"POST"}),
        ("DELETE", "/api/channels", {"GET", "HEAD"}),
        ("PATCH", "/api/best-times", {"GET", "HEAD"}),
    ]:
        async with api.http.request(
            method, api.base + path, headers={"Authorization": api.auth()}
        ) as r:
            assert r.status == 405, (method, path)
            assert r.content_type == "application/json"
            assert set(r.headers["Allow"].split(",")) == allowed, (method, path)
            assert (await r.json())["code"] == "method_not_allowed"
    # and nobody learns which endpoints exist without signing in
    status, body = await api.call("PUT", "/api/posts/1", headers={})
    assert (status, body["code"]) == (401, "missing")
    for path in ("/api/posts/abc", "/api/posts/abc/publish"):
        status, body = await api.call("POST" if "publish" in path else "DELETE", path)
        assert status == 400 and body["code"] == "bad_id"


async def test_page_is_served_at_the_path_of_miniapp_url(api, desk):
    async with api.http.get(api.base + "/app/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "<html" in (await r.text()).lower()
    async with api.http.get(api.base + "/app", allow_redirects=False) as r:
        assert r.status == 308 and r.headers["Location"] == "/app/"


async def test_page_files_are_versioned_cached_and_gzipped(api, desk):
    import re

    async with api.http.get(api.base + "/app/") as r:
        page = await r.text()
        assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
        etag = r.headers["ETag"]
    async with api.http.get(api.base + "/app/", headers={"If-None-Match": etag}) as r:
        assert r.status == 304
    urls = re.findall(r"""["'](\.?/?static/[\w./-]+\?v=\w+)["']""", page)
    # the stylesheet, the entry module and each vendored module (import map and preload alike)
    assert {u.lstrip("./").split("?")[0] for u in urls} >= {
        "static/app.css",
        "static/app.js",
        "static/vendor/preact.mjs",
        "static/vendor/hooks.mjs",
        "static/vendor/htm.mjs",
    }
    assert len({u.split("?v=")[1] for u in urls}) == 1  # one release, one version
    for url in urls:
        async with api.http.get(
            api.base + "/app/" + url.lstrip("./"), headers={"Accept-Encoding": "gzip"}
        ) as r:
            assert r.status == 200, url
            assert "immutable" in r.headers["Cache-Control"]
            assert r.headers.get("Content-Encoding") == "gzip"
            assert len(await r.read()) > 100  # aiohttp inflates it again
    version = urls[0].split("?v=")[1]
    async with api.http.get(api.base + f"/app/static/i18n/ru.json?v={version}") as r:
        assert (await r.json())["title"] and "immutable" in r.headers["Cache-Control"]
    # an old or missing version is only revalidated; what is not there is a 404
    async with api.http.get(api.base + "/app/static/app.js?v=old") as r:
        assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"
    for missing in ("static/nope.js", "static/../web.py", "static/vendor/"):
        async with api.http.get(api.base + "/app/" + missing) as r:
            assert r.status == 404, missing


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_published_posts_carry_reactions_and_er(api, steward, fake, desk):
    stats = steward.app.stats.repo
    fake.chats[CHANNEL].member_count = 200  # asked for when the post goes out
    post_id = await queue_post(steward, fake, desk, 3600)
    status, _ = await api.call("POST", f"/api/posts/{post_id}/publish")
    assert status == 200
    post = await steward.app.post_repo.get(post_id)
    # the publisher recorded the post for statistics (Telegram sends no update for it) ...
    [row] = await stats.posts(CHANNEL, 0, 2**40)
    assert row["message_id"] == post.published_ids[0] and row["by_steward"] == 1
    assert row["members_at_post"] == 200
    # ... so the reactions and comments Telegram reports later count towards it
    await steward.app.stats.reaction_count(CHANNEL, post.published_ids[0], 9)
    await stats.add_comment(CHANNEL, post.published_ids[0])
    status, body = await api.call("GET", "/api/posts")
    [entry] = body["posts"]
    assert entry["status"] == "published" and entry["published_at"]
    assert (entry["reactions"], entry["comments"], entry["er"]) == (9, 1, 5.0)


async def test_channels_with_slots_and_free_slots(api, steward, fake, desk):
    await steward.app.calendar.slots.set(CHANNEL, ["10:00", "18:30"])
    status, body = await api.call("GET", "/api/channels")
    assert status == 200
    [channel] = body["channels"]
    assert channel["id"] == CHANNEL and channel["title"] == "News" and channel["can_post"]
    assert channel["slots"] == ["10:00", "18:30"] and channel["own_slots"] is True
    free = channel["free_slots"]
    assert len(free) == 6 and free == sorted(free)
    assert all(f.endswith(("10:00:00Z", "18:30:00Z")) for f in free)
    assert body["utc_offsets"]["until"] > datetime.now(UTC).timestamp() * 1000 + 90 * 86400_000


async def test_best_times_from_channel_statistics(api, steward, desk):
    stats = steward.app.stats.repo
    now = datetime.now(UTC)
    base = (now - timedelta(days=14)).replace(hour=11, minute=5, second=0, microsecond=0)
    for week, (message_id, reactions) in enumerate([(1, 30), (2, 10)]):
        at = base + timedelta(days=7 * week)
        await stats.add_post(CHANNEL, message_id, int(at.timestamp()), 100)
        await stats.set_post_reactions(CHANNEL, message_id, reactions)
    status, body = await api.call("GET", "/api/best-times", params={"channel": str(CHANNEL)})
    assert status == 200
    [best] = body["best_times"]
    assert (best["weekday"], best["hour"], best["samples"]) == (base.weekday(), 11, 2)
    assert best["er"] == 20.0
    next_at = datetime.fromisoformat(best["next_at"].replace("Z", "+00:00"))
    assert next_at > now and next_at.weekday() == base.weekday() and next_at.hour == 11
    assert (await api.call("GET", "/api/best-times"))[0] == 400
    assert (await api.call("GET", "/api/best-times", params={"channel": "-1007"}))[0] == 404


# --- changing ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("db_engine")  # and on PostgreSQL
async def test_moved_post_is_published_at_the_new_time_once(api, steward, fake, desk):
    post_id = await queue_post(steward, fake, desk, 3600)
    due = datetime.now(UTC) + timedelta(seconds=2)
    status, body = await api.call(
        "PATCH", f"/api/posts/{post_id}", json={"due_at": iso(due), "version": 1}
    )
    assert status == 200 and body["version"] == 2 and body["status"] == "queued"
    stored = await steward.app.post_repo.get(post_id)
    assert stored.due_at == int(due.timestamp()) and stored.version == 2
    copy = await fake.wait_for("copyMessage", since=0, timeout=10)
    assert copy.at >= time.monotonic() - 10  # sanity: a real call
    assert int(copy["chat_id"]) == CHANNEL
    assert time.time() >= int(due.timestamp()) - 0.05  # not before its new time
    await asyncio.sleep(1.5)
    assert len(channel_copies(fake)) == 1
    assert (await steward.app.post_repo.get(post_id)).status == "published"
    # now it is out: moving, publishing or cancelling it again is refused
    later = iso(datetime.now(UTC) + timedelta(hours=1))
    fresh = (await steward.app.post_repo.get(post_id)).version
    status, body = await api.call(
        "PATCH", f"/api/posts/{post_id}", json={"due_at": later, "version": fresh}
    )
    assert status == 409 and body["code"] == "gone"
    assert (await api.call("POST", f"/api/posts/{post_id}/publish"))[0] == 409
    assert (await api.call("DELETE", f"/api/posts/{post_id}"))[0] == 409
    assert len(channel_copies(fake)) == 1


async def test_the_calendar_shows_what_queue_shows(api, steward, fake, desk):
    """A manager opening the app sees the posts /queue lists, before and after a change in it."""
    import re

    chat, manager = desk
    ids = [await queue_post(steward, fake, desk, h * 3600, f"Post {h}") for h in (1, 5, 30)]
    assert (await api.call("DELETE", f"/api/posts/{ids[1]}"))[0] == 200

    async def in_queue() -> set[int]:
        mark = fake.mark()
        await fake.send_message(chat, manager, "/queue")
        await steward.idle()
        return {
            int(m[1])
            for c in fake.calls_of("sendMessage", since=mark)
            if (m := re.match(r"\S+ #(\d+) · News", c.plain))
        }

    status, body = await api.call("GET", "/api/posts")
    assert status == 200
    shown = {p["id"] for p in body["posts"] if p["status"] == "queued"}
    assert shown == await in_queue() == {ids[0], ids[2]}


async def test_moved_later_is_not_published_at_the_old_time(api, steward, fake, desk):
    post_id = await queue_post(steward, fake, desk, 1.5)
    later = datetime.now(UTC) + timedelta(hours=2)
    status, _ = await api.call(
        "PATCH", f"/api/posts/{post_id}", json={"due_at": iso(later), "version": 1}
    )
    assert status == 200
    await asyncio.sleep(2.5)
    assert channel_copies(fake) == []
    # the sweep and a stale timer cannot claim it early either
    assert await steward.app.publisher.publish_due(post_id) is False
    assert (await steward.app.post_repo.get(post_id)).status == "scheduled"


async def test_move_refusals(api, steward, fake, desk):
    post_id = await queue_post(steward, fake, desk, 3600)
    url = f"/api/posts/{post_id}"
    future = iso(datetime.now(UTC) + timedelta(hours=3))
    cases = [
        ({"due_at": iso(datetime.now(UTC) - timedelta(minutes=1)), "version": 1}, 409, "past"),
        ({"due_at": iso(datetime.now(UTC) + timedelta(days=400)), "version": 1}, 409, "too_far"),
        ({"due_at": future, "version": 7}, 409, "stale"),
        ({"due_at": "next tuesday", "version": 1}, 400, "bad_time"),
        ({"due_at": future}, 400, "bad_version"),
        ({"due_at": future, "version": "1"}, 400, "bad_version"),
        ({"version": 1}, 400, "bad_time"),
        ([1, 2], 400, "bad_json"),
    ]
    for payload, status, code in cases:
        got, body = await api.call("PATCH", url, json=payload)
        assert (got, body["code"]) == (status, code), payload
    headers = {"Authorization": api.auth()}
    got, body = await api.call("PATCH", url, data=b"{not json", headers=headers)
    assert (got, body["code"]) == (400, "bad_json")
    got, body = await api.call("PATCH", "/api/posts/999", json={"due_at": future, "version": 1})
    assert (got, body["code"]) == (404, "not_found")
    # the chat's Reschedule changed it meanwhile: the calendar's old version is stale
    await steward.app.post_repo.reschedule(post_id, int(time.time()) + 7200)
    got, body = await api.call("PATCH", url, json={"due_at": future, "version": 1})
    assert (got, body["code"]) == (409, "stale") and body["post"]["version"] == 2
    assert (await steward.app.post_repo.get(post_id)).due_at > int(time.time()) + 7000


async def test_local_time_without_offset_is_read_in_timezone(fake, tmp_path, steward, api, desk):
    post_id = await queue_post(steward, fake, desk, 3600)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT10:15")
    status, body = await api.call(
        "PATCH", f"/api/posts/{post_id}", json={"due_at": tomorrow, "version": 1}
    )
    assert status == 200 and body["due_at"] == tomorrow + ":00Z"  # TIMEZONE=UTC in tests


async def test_publish_now_publishes_once(api, steward, fake, desk):
    post_id = await queue_post(steward, fake, desk, 3600)
    first, second = await asyncio.gather(
        api.call("POST", f"/api/posts/{post_id}/publish"),
        api.call("POST", f"/api/posts/{post_id}/publish"),
    )
    assert sorted([first[0], second[0]]) == [200, 409]
    ok = first[1] if first[0] == 200 else second[1]
    assert ok["status"] == "published"
    await asyncio.sleep(0.3)
    assert len(channel_copies(fake)) == 1
    assert (await steward.app.post_repo.get(post_id)).status == "published"


async def test_publish_now_refused_by_telegram_is_409_with_reason(api, steward, fake, desk):
    post_id = await queue_post(steward, fake, desk, 3600)
    fake.fail("copyMessage", 403, description="Forbidden: bot is not a member of the channel")
    status, body = await api.call("POST", f"/api/posts/{post_id}/publish")
    assert status == 409 and body["code"] == "failed" and "not a member" in body["error"]
    assert (await steward.app.post_repo.get(post_id)).status == "failed"


async def test_publish_now_that_telegram_makes_wait_says_so(api, steward, fake, desk):
    """Telegram asked to wait longer than a request waits (121 s): the post went back into the
    queue for then, and Publish now answered "already published or being published"."""
    post_id = await queue_post(steward, fake, desk, 3600)
    fake.fail("copyMessage", 429, retry_after=121)
    status, body = await api.call("POST", f"/api/posts/{post_id}/publish")
    assert (status, body["code"]) == (409, "delayed")
    assert "wait" in body["error"] and body["post"]["status"] == "queued"
    post = await steward.app.post_repo.get(post_id)
    assert post.status == "scheduled" and 115 <= post.due_at - time.time() <= 121


async def test_cancel_disarms_the_timer_and_undo_brings_it_back(api, steward, fake, desk):
    post_id = await queue_post(steward, fake, desk, 1.5)
    status, body = await api.call("DELETE", f"/api/posts/{post_id}")
    assert status == 200 and body["status"] == "cancelled"
    await asyncio.sleep(2.2)
    assert channel_copies(fake) == []
    assert (await steward.app.post_repo.get(post_id)).status == "cancelled"
    version = body["version"]
    status, listed = await api.call("GET", "/api/posts")
    assert listed["posts"] == []
    # /queue agrees with the calendar
    chat, manager = desk
    mark = fake.mark()
    await fake.send_message(chat, manager, "/queue")
    reply = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert reply.plain.startswith("The queue is empty")
    # undo: moving it back from the version the app holds
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    status, body = await api.call(
        "PATCH", f"/api/posts/{post_id}", json={"due_at": iso(due), "version": version}
    )
    assert status == 200
    await fake.wait_for("copyMessage", since=0, timeout=10)
    await asyncio.sleep(0.5)
    assert len(channel_copies(fake)) == 1


async def test_cancelling_twice_says_it_is_cancelled_not_published(api, steward, fake, desk):
    """A second DELETE (a double tap, two managers) is answered as what it is: the post is
    cancelled, not "already published"; deleting is idempotent."""
    post_id = await queue_post(steward, fake, desk, 3600)
    status, first = await api.call("DELETE", f"/api/posts/{post_id}")
    assert status == 200 and first["status"] == "cancelled"
    status, again = await api.call("DELETE", f"/api/posts/{post_id}")
    assert status == 200, again
    assert again["status"] == "cancelled" and again["version"] == first["version"]
    assert "published" not in str(again.get("error", ""))
    assert (await steward.app.post_repo.get(post_id)).status == "cancelled"
    assert channel_copies(fake) == []
    # Publish now is refused as what it is, not as "already published" (a move is the undo)
    status, published = await api.call("POST", f"/api/posts/{post_id}/publish")
    assert (status, published["code"]) == (409, "cancelled")
    assert published["error"] == "the post was cancelled"
    assert channel_copies(fake) == []


async def test_cancel_and_publish_from_a_stale_version_are_refused(api, steward, fake, desk):
    """Two managers: A saw version 1; B moved the post meanwhile. A's cancel and Publish now
    carrying version 1 are refused as stale (the post stays as B left it, nothing is sent);
    without a version they act as before, and a cancelled post is still cancelled whatever
    version a second cancel names."""
    post_id = await queue_post(steward, fake, desk, 3600)
    later = iso(datetime.now(UTC) + timedelta(days=2))
    status, moved = await api.call(
        "PATCH", f"/api/posts/{post_id}", json={"due_at": later, "version": 1}
    )
    assert status == 200 and moved["version"] == 2
    for method, path in (("DELETE", ""), ("POST", "/publish")):
        status, body = await api.call(method, f"/api/posts/{post_id}{path}?version=1")
        assert (status, body["code"]) == (409, "stale"), path
        assert body["post"]["version"] == 2 and body["post"]["status"] == "queued"
        status, body = await api.call(method, f"/api/posts/{post_id}{path}?version=one")
        assert (status, body["code"]) == (400, "bad_version"), path
    post = await steward.app.post_repo.get(post_id)
    assert post.status == "scheduled" and post.version == 2
    assert channel_copies(fake) == []
    status, body = await api.call("DELETE", f"/api/posts/{post_id}?version=2")
    assert status == 200 and body["status"] == "cancelled"
    status, again = await api.call("DELETE", f"/api/posts/{post_id}?version=2")
    assert status == 200 and again["status"] == "cancelled"
    # Publish now from the current version of another post goes out
    other = await queue_post(steward, fake, desk, 3600)
    status, body = await api.call("POST", f"/api/posts/{other}/publish?version=1")
    assert status == 200 and body["status"] == "published"
    assert len(channel_copies(fake)) == 1


async def test_publish_now_checks_the_version_in_the_statement_that_acts(
    api, steward, fake, desk, monkeypatch
):
    """Another manager's move that lands between Publish now's read of the post and its act is
    refused as stale, as Cancel's is: the version is compared in the one statement that puts
    the post back in the queue (before: compared with the post as read, then published)."""
    post_id = await queue_post(steward, fake, desk, 3600)
    posts = steward.app.calendar.posts
    read = posts.get
    moved: list[int] = []

    async def read_then_moved_meanwhile(pid: int):
        post = await read(pid)
        if post is not None and not moved:  # B's move lands right after A's request read it
            moved.append(pid)
            assert await steward.app.post_repo.move(pid, post.due_at + 600, post.version)
        return post

    monkeypatch.setattr(posts, "get", read_then_moved_meanwhile)
    status, body = await api.call("POST", f"/api/posts/{post_id}/publish?version=1")
    assert (status, body["code"]) == (409, "stale"), body
    assert body["post"]["version"] == 2 and body["post"]["status"] == "queued"
    post = await steward.app.post_repo.get(post_id)
    assert post.status == "scheduled" and post.version == 2
    assert channel_copies(fake) == []


async def test_edit_in_chat_sends_the_post_back_and_takes_new_content(api, steward, fake, desk):
    post_id = await queue_post(steward, fake, desk, 3600, "Old text")
    mark = fake.mark()
    status, _ = await api.call("POST", f"/api/posts/{post_id}/edit")
    assert status == 200
    copy = await fake.wait_for("copyMessage", since=mark)
    assert int(copy["chat_id"]) == MANAGER_ID
    prompt = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert f"Send the new content for post #{post_id}" in prompt.plain
    chat, manager = desk
    mark = fake.mark()
    new = await fake.send_message(chat, manager, "New text")
    done = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert done.plain == f"✏️ Post #{post_id} now has this content."
    post = await steward.app.post_repo.get(post_id)
    assert post.source_message_ids == [new["message_id"]]
    assert post.summary["text"] == "New text"


OTHER_MANAGER = 5151


@pytest.fixture
def two_managers(bot_env) -> None:
    bot_env["MANAGER_IDS"] = f"{MANAGER_ID},{OTHER_MANAGER}"


async def test_edit_in_chat_by_another_manager_publishes_their_new_content(
    two_managers, api, steward, fake, desk
):
    """Manager A queued the post from A's chat; manager B opens the calendar, presses Edit in
    chat and sends the new content in B's own chat. The post now comes from B's chat: before,
    only the message ids changed, so the channel got whatever A's chat held under B's ids (or
    'message to copy not found' and a failed post)."""
    post_id = await queue_post(steward, fake, desk, 3600, "Old text from A")
    other = fake.user(OTHER_MANAGER, "Bea")
    b_chat = fake.start_bot(other)
    for _ in range(3):  # A's chat holds more messages, so B's new ids name some of them
        fake.new_message(desk[0], desk[1], "Something else A wrote")
    status, _ = await api.call(
        "POST",
        f"/api/posts/{post_id}/edit",
        headers={"Authorization": api.auth(user_id=OTHER_MANAGER)},
    )
    assert status == 200
    mark = fake.mark()
    new = await fake.send_message(b_chat, other, "New text from B")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✏️"), since=mark)
    post = await steward.app.post_repo.get(post_id)
    assert (post.source_chat_id, post.source_message_ids) == (OTHER_MANAGER, [new["message_id"]])
    status, body = await api.call("POST", f"/api/posts/{post_id}/publish")
    assert status == 200, body
    [copy] = channel_copies(fake)
    assert (int(copy["from_chat_id"]), int(copy["message_id"])) == (
        OTHER_MANAGER,
        new["message_id"],
    )


async def test_edit_in_chat_asks_in_the_language_the_app_was_opened_in(api, steward, fake, desk):
    """The prompt goes out in initData's user.language_code (Russian here), as the app is."""
    post_id = await queue_post(steward, fake, desk, 3600, "Old text")
    init = sign_init_data(api.token, MANAGER_ID, int(time.time()), language_code="ru")
    mark = fake.mark()
    status, _ = await api.call(
        "POST", f"/api/posts/{post_id}/edit", headers={"Authorization": f"tma {init}"}
    )
    assert status == 200
    prompt = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert prompt.plain.startswith(f"Пришлите новое содержимое поста #{post_id}")


async def test_edit_in_chat_when_the_original_message_is_gone(api, steward, fake, desk):
    """The manager deleted the message the post was made from (cleaning up the bot's chat):
    Telegram cannot copy it back, but the post can still take new content, which is exactly
    the remedy for it. Only a manager the bot cannot write to is told to press Start."""
    post_id = await queue_post(steward, fake, desk, 3600, "Old text")
    source = (await steward.app.post_repo.get(post_id)).source_message_ids[0]
    del fake.messages[(MANAGER_ID, source)]  # deleted in the private chat: no update comes
    mark = fake.mark()
    status, body = await api.call("POST", f"/api/posts/{post_id}/edit")
    assert status == 200, body
    prompt = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == MANAGER_ID, since=mark)
    assert f"Send the new content for post #{post_id}" in prompt.plain
    chat, manager = desk
    new = await fake.send_message(chat, manager, "New text")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("✏️"), since=mark)
    assert (await steward.app.post_repo.get(post_id)).source_message_ids == [new["message_id"]]
    # a manager who blocked the bot: nothing to copy to, and the app says so
    fake.block_bot(MANAGER_ID)
    status, body = await api.call("POST", f"/api/posts/{post_id}/edit")
    assert (status, body["code"]) == (409, "blocked")


async def test_edit_in_chat_for_a_manager_who_blocked_the_bot_is_an_ordinary_outcome(
    api, steward, fake, desk, caplog
):
    """Edit in chat is a private note like any other: a manager who blocked the bot costs one
    call, no warning-level log line, and the bot's record of them says blocked (before: a
    warning per try, and the record still said reachable)."""
    post_id = await queue_post(steward, fake, desk, 3600, "Old text")
    await steward.idle()
    fake.block_bot(MANAGER_ID)
    caplog.set_level(logging.INFO)
    mark = fake.mark()
    status, body = await api.call("POST", f"/api/posts/{post_id}/edit")
    assert (status, body["code"]) == (409, "blocked")
    assert len([c for c in fake.calls[mark:] if c.get("chat_id") == MANAGER_ID]) == 1
    assert await steward.app.users.private_status(MANAGER_ID) == "blocked"
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING and "blocked" in r.message]
    assert loud == []


# --- buttons ----------------------------------------------------------------------------------


async def test_menu_button_per_manager_and_calendar_button_under_queue(fake, bot_env, tmp_path):
    from tests.harness import RunningBot, settings_for

    manager = fake.user(MANAGER_ID, "Manny")
    chat = fake.start_bot(manager)
    running = RunningBot(fake=fake, settings=settings_for(bot_env), env=bot_env)
    await running.start()
    try:
        call = await fake.wait_for("setChatMenuButton", since=0)
        assert int(call["chat_id"]) == MANAGER_ID
        button = fake.menu_buttons[MANAGER_ID]
        assert button["type"] == "web_app"
        assert button["web_app"]["url"] == "https://bot.example.com/app/"
        mark = fake.mark()
        await fake.send_message(chat, manager, "/queue")
        offer = await fake.wait_for(
            "sendMessage", lambda c: c.get("reply_markup") is not None, since=mark
        )
        [[webapp]] = offer["reply_markup"]["inline_keyboard"]
        assert webapp["web_app"]["url"] == "https://bot.example.com/app/"
    finally:
        await running.stop()


async def test_no_miniapp_no_web_server_and_no_buttons(fake, tmp_path):
    from tests.harness import RunningBot, settings_for

    env = make_env(fake, tmp_path)
    manager = fake.user(MANAGER_ID, "Manny")
    chat = fake.start_bot(manager)
    running = RunningBot(fake=fake, settings=settings_for(env), env=env)
    await running.start()
    try:
        assert running.app.web_port is None
        await fake.send_message(chat, manager, "/queue")
        await running.idle()
        assert not fake.calls_of("setChatMenuButton")
        assert all(c.get("reply_markup") is None for c in fake.calls_of("sendMessage"))
    finally:
        await running.stop()


async def test_media_post_has_a_thumbnail(api, steward, fake, desk):
    """A photo scheduled with /schedule: the calendar shows its kind, caption and thumbnail."""
    chat, manager = desk
    jpeg = b"\xff\xd8\xff\xe0" + b"thumbnail" * 20
    fake.add_file("ph-small", jpeg, "photos/small.jpg")
    photo = fake.new_message(
        chat,
        manager,
        photo=[
            {"file_id": "ph-small", "file_unique_id": "s1", "width": 90, "height": 60},
            {"file_id": "ph-big", "file_unique_id": "b1", "width": 1280, "height": 853},
        ],
        caption="Sunset over the bay",
    )
    mark = fake.mark()
    await fake.send_message(chat, manager, "/schedule @news +2h", reply_to=photo)
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("Scheduled"), since=mark)
    status, body = await api.call("GET", "/api/posts")
    [post] = body["posts"]
    assert post["preview"] == {
        "kind": "photo",
        "text": "Sunset over the bay",
        "count": 1,
        "thumb": True,
    }
    async with api.http.get(
        f"{api.base}/api/posts/{post['id']}/thumb", headers={"Authorization": api.auth()}
    ) as r:
        assert r.status == 200 and r.content_type == "image/jpeg"
        assert await r.read() == jpeg
    async with api.http.get(f"{api.base}/api/posts/{post['id']}/thumb") as r:
        assert r.status == 401
    # a text post has none
    text_post = await queue_post(steward, fake, desk, 3600)
    status, body = await api.call("GET", f"/api/posts/{text_post}/thumb")
    assert status == 404 and body["error"]


async def raw_http(api, request: bytes) -> tuple[int, str, bytes]:
    """`request` as it is on the wire (aiohttp's client would refuse to send most of these):
    the status, content type and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.running.settings.webhook_port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        fields = {k.lower(): v for k, v in fields.items()}
        body = await reader.readexactly(int(fields.get("content-length", "0")))
        return status, fields.get("content-type", "").split(";")[0], body
    finally:
        writer.close()


async def test_broken_http_is_a_json_4xx(api, desk):
    """Requests no browser sends: a garbage request line, a header without a colon, a length
    that is no number, a chunked body that is not. Each gets a JSON error with a 4xx, as the
    API's other errors, not aiohttp's plain-text page."""
    auth = api.auth().encode()
    for request in (
        b"HELLO\r\n\r\n",
        b"GET /api/posts HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"PATCH /api/posts/1 HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
        b"GET /api/posts HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth + b"\r\n"
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"PATCH /api/posts/1 HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth + b"\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ):
        status, kind, body = await raw_http(api, request)
        assert 400 <= status < 500, request
        assert kind == "application/json", (request, body)
        assert json.loads(body)["error"], request


async def test_a_body_too_large_is_a_json_413(api, steward, fake, desk):
    post_id = await queue_post(steward, fake, desk, 3600)
    headers = {"Authorization": api.auth(), "Content-Type": "application/json"}
    big = b'{"version": 1, "due_at": "' + b"x" * 2_000_000 + b'"}'
    async with api.http.patch(f"{api.base}/api/posts/{post_id}", data=big, headers=headers) as r:
        assert r.status == 413
        assert r.content_type == "application/json"
        assert (await r.json())["error"]
    assert (await steward.app.post_repo.get(post_id)).version == 1
