"""The Mini App on the bot's one aiohttp server: the page at MINIAPP_URL's path, its JSON API
under /api/.

The API translates HTTP to `CalendarService` calls and back, nothing more. Every request is
authenticated from its `Authorization: tma <initData>` header (see `bot.miniapp.auth`); answers
are JSON, errors `{"error": "...", "code": "..."}` with a 4xx status, so bad input never becomes
a 500. The access log leaves headers out, so initData never reaches a log.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from bot.clock import SYSTEM_CLOCK, Clock
from bot.config import Settings
from bot.miniapp.auth import AuthError, Caller, authenticate
from bot.posting.calendar import (
    MAX_RANGE_DAYS,
    CalendarService,
    Outcome,
    Result,
    entry_json,
    iso,
    parse_moment,
    utc_offsets,
)
from bot.posting.times import MAX_AHEAD_DAYS, TimeError, TimeProblem
from storage.posts import Post

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs'  # no headers: Authorization carries initData
CALLER = web.RequestKey("caller", Caller)
AGENDA_DAYS = 14
EditInChat = Callable[[Post, Caller], Awaitable[bool]]

_AUTH_STATUS = {
    AuthError.MISSING: (401, "sign-in required: open the app from Telegram"),
    AuthError.INVALID: (401, "the sign-in data is not valid"),
    AuthError.EXPIRED: (401, "the sign-in has expired: open the app again from Telegram"),
    AuthError.FORBIDDEN: (403, "only Steward's managers may use the calendar"),
}
_OUTCOME_STATUS = {
    Outcome.NOT_FOUND: (404, "no such post"),
    Outcome.GONE: (409, "the post is already published or being published"),
    Outcome.CANCELLED: (409, "the post was cancelled"),
    Outcome.STALE: (409, "the post changed meanwhile; reload and try again"),
    Outcome.PAST: (409, "that time has already passed"),
    Outcome.TOO_FAR: (409, f"that is too far ahead: at most {MAX_AHEAD_DAYS} days"),
    Outcome.FAILED: (409, "Telegram refused the post"),
    Outcome.DELAYED: (409, "Telegram asks me to wait: the post goes out at its new time"),
}


def json_reply(data: Any, status: int = 200) -> web.Response:
    response = web.json_response(data, status=status, dumps=_compact)
    body = response.body  # bytes: json_response encodes the text
    if (
        isinstance(body, bytes) and len(body) > 4096
    ):  # a month of posts: ~200 KB, a tenth of it gzipped
        response.enable_compression()
    return response


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def error(status: int, message: str, code: str, **detail: Any) -> web.Response:
    return json_reply({"error": message, "code": code, **detail}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Whatever goes wrong under /api/ is answered in JSON, and never as a bare 500 page."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http")
        response = error(exc.status, exc.reason.lower(), code)
        if "Allow" in exc.headers:  # a 405 names the methods the endpoint takes
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        logger.exception("calendar API failed on %s %s", request.method, request.path)
        return error(500, "internal error; the bot's log says more", "internal")


_HTTP_ERRORS = {
    400: ("the request is not valid HTTP", "bad_http"),
    413: ("the request is too large", "too_large"),
    431: ("the request's headers are too large", "too_large"),
    500: ("internal error; the bot's log says more", "internal"),
    504: ("the request took too long", "timeout"),
}


class _JsonErrorHandler(RequestHandler):
    """A request aiohttp cannot parse (a garbage request line, a header without a colon, a
    Content-Length that is no number, broken chunks) never reaches an application or its
    middlewares: aiohttp answers it itself, in plain text. This answers it as the API answers
    every other error, in JSON with the same status.

    aiohttp has no public hook for that answer: its low-level server documents a
    `request_factory` and `handler_args` (the handler's limits), but a parse error is answered
    by `RequestHandler.handle_error` before any request reaches a handler or a middleware.
    So the connection handlers the server makes become this subclass (same slots, only this
    method differs); `tests/test_miniapp_api.py` sends malformed requests and would notice an
    aiohttp that answers them another way."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        plain = super().handle_error(request, status, exc, message)  # logs; refuses if sent
        text, code = _HTTP_ERRORS.get(plain.status, ("the request failed", "http"))
        response = error(plain.status, text, code)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        handler = super().__call__()  # aiohttp's own, made with the runner's handler_args
        handler.__class__ = _JsonErrorHandler
        return handler


class JsonErrorRunner(web.AppRunner):
    """The web server's runner, whose errors before any application are JSON too: after the
    public `setup()`, its server (the public `server`) makes `_JsonErrorHandler`s."""

    async def setup(self) -> None:
        await super().setup()
        server = self.server
        if server is not None:
            server.__class__ = _JsonErrorServer


_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".html": "text/html",
    ".txt": "text/plain",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    packed: bytes | None  # gzip, when it saves something
    etag: str
    content_type: str


def _asset(body: bytes, suffix: str) -> Asset:
    packed = gzip.compress(body, 9, mtime=0)
    return Asset(
        body,
        packed if len(packed) < len(body) * 0.9 else None,
        '"' + hashlib.sha256(body).hexdigest()[:16] + '"',
        _TYPES.get(suffix, "application/octet-stream") + "; charset=utf-8",
    )


def load_assets(folder: Path = STATIC) -> tuple[str, Asset, dict[str, Asset]]:
    """The page and its files, read once and gzipped once at start-up.

    The page names every file with `?v=<hash of them all>`: a phone keeps them for a year
    (`immutable`, not even a revalidation on the next opening) and a new release is a new URL.
    The page itself is revalidated (`no-cache` with an ETag), so it always names the current
    release. A plain ES module graph stays as written: only these URLs are rewritten.
    """
    files = {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "index.html"
    }
    digest = hashlib.sha256()
    for name, body in files.items():
        digest.update(name.encode() + b"\0" + body + b"\0")
    version = digest.hexdigest()[:12]
    page = (folder / "index.html").read_text(encoding="utf-8")
    page = re.sub(
        r"""(["'])(\.?/?static/[\w./-]+\.(?:js|mjs|css))\1""",
        lambda m: f"{m[1]}{m[2]}?v={version}{m[1]}",
        page,
    ).replace("__STATIC_VERSION__", version)
    return (
        version,
        _asset(page.encode(), ".html"),
        {name: _asset(body, Path(name).suffix) for name, body in files.items()},
    )


def asset_response(request: web.Request, asset: Asset, cache: str) -> web.Response:
    headers = {"ETag": asset.etag, "Cache-Control": cache, "Vary": "Accept-Encoding"}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    body = asset.body
    if asset.packed is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        body = asset.packed
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = asset.content_type
    return web.Response(body=body, headers=headers)


FetchFile = Callable[[str], Awaitable[bytes | None]]
THUMB_CACHE = 256  # thumbnails kept in memory (a few KB each)
MAX_THUMB_BYTES = 1_000_000


class MiniApp:
    def __init__(
        self,
        settings: Settings,
        calendar: CalendarService,
        edit_in_chat: EditInChat,
        clock: Clock = SYSTEM_CLOCK,
        fetch_file: FetchFile | None = None,
    ) -> None:
        self.settings = settings
        self.calendar = calendar
        self.edit_in_chat = edit_in_chat
        self.clock = clock
        self.fetch_file = fetch_file
        self._thumbs: OrderedDict[str, bytes] = OrderedDict()
        self.version, self.page_asset, self.assets = load_assets()

    # --- wiring -------------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        path = self.settings.miniapp_path or "/app/"
        app.router.add_get(path, self.page)
        if path != "/":
            app.router.add_get(path.rstrip("/"), self.to_page)
        app.router.add_get(path + "static/{name:.+}", self.static)
        api = web.Application(middlewares=[json_errors, self.auth])
        api.router.add_get("/posts", self.list_posts)
        api.router.add_patch("/posts/{id}", self.move_post)
        api.router.add_post("/posts/{id}/publish", self.publish_post)
        api.router.add_delete("/posts/{id}", self.cancel_post)
        api.router.add_post("/posts/{id}/edit", self.edit_post)
        api.router.add_get("/posts/{id}/thumb", self.thumbnail)
        api.router.add_get("/channels", self.channels)
        api.router.add_get("/best-times", self.best_times)
        api.router.add_get("/me", self.me)
        app.add_subapp("/api/", api)

    @web.middleware
    async def auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        settings = self.settings
        result = authenticate(
            request.headers.get("Authorization"),
            settings.bot_token,
            settings.manager_ids,
            settings.miniapp_auth_ttl,
            self.clock(),
        )
        if isinstance(result, AuthError):
            status, message = _AUTH_STATUS[result]
            logger.info("calendar API: %s refused (%s)", request.path, result.value)
            return error(status, message, result.value)
        request[CALLER] = result
        return await handler(request)

    # --- the page -----------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        return asset_response(request, self.page_asset, "no-cache")

    async def static(self, request: web.Request) -> web.StreamResponse:
        asset = self.assets.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound()
        current = request.query.get("v") == self.version
        return asset_response(request, asset, IMMUTABLE if current else "no-cache")

    async def to_page(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(request.path + "/")

    # --- endpoints ----------------------------------------------------------------------------

    async def me(self, request: web.Request) -> web.StreamResponse:
        caller = request[CALLER]
        return json_reply(
            {
                "user_id": caller.user_id,
                "language": caller.language,
                "timezone": self.settings.timezone.key,
                "now": iso(self.clock()),
            }
        )

    async def list_posts(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        tz = self.settings.timezone
        # by default the agenda: from the start of today in TIMEZONE, two weeks
        today = datetime.fromtimestamp(self.clock(), tz).date()
        midnight = datetime.combine(today, datetime.min.time(), tz).astimezone(UTC)
        try:
            start = _moment(query.get("from"), self.settings, midnight)
            end = _moment(query.get("to"), self.settings, start + timedelta(days=AGENDA_DAYS))
        except ValueError as exc:
            return error(400, str(exc), "bad_time")
        if end <= start:
            return error(400, "'to' must be after 'from'", "bad_range")
        if end - start > timedelta(days=MAX_RANGE_DAYS):
            return error(400, f"a range spans at most {MAX_RANGE_DAYS} days", "bad_range")
        channel = _channel(query.get("channel"))
        if channel is False:
            return error(400, "'channel' must be a numeric chat id", "bad_channel")
        entries = await self.calendar.entries(start, end, channel)
        gaps = await self.calendar.empty_slots(start, end, channel)
        return json_reply(
            {
                "from": iso(start),
                "to": iso(end),
                "timezone": self.settings.timezone.key,
                "posts": [entry_json(e, self.settings.timezone) for e in entries],
                "empty_slots": [{"channel": c, "at": iso(at)} for c, at in gaps],
                "utc_offsets": utc_offsets(tz, start - timedelta(days=1), end + timedelta(days=1)),
            }
        )

    async def move_post(self, request: web.Request) -> web.StreamResponse:
        post_id = _post_id(request)
        if post_id is None:
            return error(400, "the post id must be a number", "bad_id")
        body = await _json_body(request)
        if body is _NOT_JSON:
            return error(400, "the body must be JSON", "bad_json")
        if not isinstance(body, dict):
            return error(400, "the body must be a JSON object", "bad_json")
        version = body.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            return error(400, "'version' (a number) is required", "bad_version")
        raw = body.get("due_at")
        if not isinstance(raw, str):
            return error(400, "'due_at' (an ISO 8601 time) is required", "bad_time")
        try:
            due = parse_moment(raw, self.settings.timezone)
        except TimeError as exc:
            reasons = {
                TimeProblem.NONEXISTENT: "that local time does not exist (the clocks skip it)",
                TimeProblem.AMBIGUOUS: "that local time happens twice (the clocks go back)",
            }
            if exc.code in reasons:  # the page words these in the manager's language
                return error(400, reasons[exc.code], "bad_time", reason=exc.code.value)
            return error(400, "'due_at' is not an ISO 8601 time", "bad_time")
        result = await self.calendar.move(post_id, due, version)
        return self._answer(result.outcome, result.post)

    async def publish_post(self, request: web.Request) -> web.StreamResponse:
        return await self._act_on_version(request, self.calendar.publish_now)

    async def cancel_post(self, request: web.Request) -> web.StreamResponse:
        return await self._act_on_version(request, self.calendar.cancel)

    async def _act_on_version(
        self, request: web.Request, act: Callable[[int, int | None], Awaitable[Result]]
    ) -> web.StreamResponse:
        """Publish now and cancel: `act` on the post the path names, as of the `?version=` the
        manager saw (any version when absent)."""
        post_id = _post_id(request)
        if post_id is None:
            return error(400, "the post id must be a number", "bad_id")
        version = _version(request)
        if version is False:
            return error(400, "'version' must be a number", "bad_version")
        result = await act(post_id, version)
        return self._answer(result.outcome, result.post)

    async def edit_post(self, request: web.Request) -> web.StreamResponse:
        post_id = _post_id(request)
        if post_id is None:
            return error(400, "the post id must be a number", "bad_id")
        post = await self.calendar.post(post_id)
        if post is None:
            return error(404, "no such post", "not_found")
        if not post.open:
            return error(409, "the post is no longer in the queue", "gone")
        if not await self.edit_in_chat(post, request[CALLER]):
            return error(409, "I could not write to you: press Start in my chat first", "blocked")
        return json_reply({"ok": True, "id": post.id})

    async def thumbnail(self, request: web.Request) -> web.StreamResponse:
        """The post's media thumbnail, fetched from Telegram once and kept in memory."""
        post_id = _post_id(request)
        if post_id is None:
            return error(400, "the post id must be a number", "bad_id")
        post = await self.calendar.post(post_id)
        file_id = (post.summary or {}).get("thumb") if post else None
        if not file_id or self.fetch_file is None:
            return error(404, "this post has no thumbnail", "not_found")
        data = self._thumbs.get(file_id)
        if data is None:
            data = await self.fetch_file(file_id)
            if data is None or len(data) > MAX_THUMB_BYTES:
                return error(404, "the thumbnail is not available", "not_found")
            self._thumbs[file_id] = data
            while len(self._thumbs) > THUMB_CACHE:
                self._thumbs.popitem(last=False)
        self._thumbs.move_to_end(file_id)
        kind = "image/webp" if data[8:12] == b"WEBP" else "image/jpeg"
        return web.Response(
            body=data, content_type=kind, headers={"Cache-Control": "private, max-age=86400"}
        )

    async def channels(self, request: web.Request) -> web.StreamResponse:
        infos = await self.calendar.channel_list()
        now = datetime.fromtimestamp(self.clock(), UTC)
        return json_reply(
            {
                "timezone": self.settings.timezone.key,
                # free slots, best times and the pickers' "today" without the browser's Intl
                "utc_offsets": utc_offsets(
                    self.settings.timezone, now - timedelta(days=1), now + timedelta(days=92)
                ),
                "channels": [
                    {
                        "id": i.channel.chat_id,
                        "title": i.channel.title or str(i.channel.chat_id),
                        "username": i.channel.username,
                        "can_post": i.channel.can_post,
                        "slots": i.slots,
                        "own_slots": i.own_slots,
                        "free_slots": [iso(at) for at in i.free_slots],
                    }
                    for i in infos
                ],
            }
        )

    async def best_times(self, request: web.Request) -> web.StreamResponse:
        channel = _channel(request.query.get("channel"))
        if not channel:
            return error(400, "'channel' (a numeric chat id) is required", "bad_channel")
        best = await self.calendar.best_times(channel)
        if best is None:
            return error(404, "no such channel", "not_found")
        return json_reply(
            {
                "channel": channel,
                "timezone": self.settings.timezone.key,
                "best_times": [
                    {
                        "weekday": b.weekday,
                        "hour": b.hour,
                        "er": round(b.er, 2),
                        "samples": b.samples,
                        "next_at": iso(b.next_at) if b.next_at else None,
                    }
                    for b in best
                ],
            }
        )

    def _answer(self, outcome: Outcome, post: Post | None) -> web.Response:
        if outcome is Outcome.OK:
            assert post is not None
            return json_reply(_post_json(post))
        status, message = _OUTCOME_STATUS[outcome]
        body: dict[str, Any] = {"error": message, "code": outcome.value}
        if post is not None:
            body["post"] = _post_json(post)
            if outcome is Outcome.FAILED and post.error:
                body["error"] = f"{message}: {post.error}"
        return json_reply(body, status=status)


def _post_json(post: Post) -> dict[str, Any]:
    from bot.posting.calendar import STATUS_NAMES

    return {
        "id": post.id,
        "channel": post.channel_id,
        "status": STATUS_NAMES[post.status],
        "due_at": iso(post.due_at),
        "published_at": iso(post.published_at) if post.published_at else None,
        "version": post.version,
        "error": post.error,
    }


_POST_ID = re.compile(r"[0-9]{1,18}")  # ASCII only: "²" is a digit to str.isdigit, not to int
# Telegram's chat ids have at most 52 significant bits: anything longer is no chat (and would
# not fit the database's integers)
_CHAT_ID = re.compile(r"-?[0-9]{1,16}")


def _post_id(request: web.Request) -> int | None:
    raw = request.match_info.get("id", "")
    return int(raw) if _POST_ID.fullmatch(raw) else None


def _version(request: web.Request) -> int | bool | None:
    """`?version=` on a cancel or Publish now: the post as the manager saw it (None when
    absent: then it acts on the post as it is; False when not a version)."""
    raw = request.query.get("version")
    if raw is None or not raw.strip():
        return None
    return int(raw.strip()) if _POST_ID.fullmatch(raw.strip()) else False


def _channel(raw: str | None) -> int | bool | None:
    """None when absent, False when not a chat id (0 is none: as a filter it would read as
    "all channels")."""
    if raw is None or raw.strip() in ("", "all"):
        return None
    return int(raw.strip()) or False if _CHAT_ID.fullmatch(raw.strip()) else False


_NOT_JSON = object()


async def _json_body(request: web.Request) -> Any:
    """The body as JSON, or `_NOT_JSON`. Read as bytes: JSON is UTF-8 (RFC 8259) whatever
    charset the header names, so an unknown one is no error; a body whose Content-Encoding
    lies (not gzip after all) fails while it is read."""
    try:
        raw = await request.read()
    except web.RequestPayloadError:
        return _NOT_JSON
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past any sense
        return _NOT_JSON


def _moment(raw: str | None, settings: Settings, default: datetime) -> datetime:
    if raw is None or not raw.strip():
        return default
    if "T" in raw and " " in raw.strip():  # an unencoded "+01:00" arrives as " 01:00"
        raw = raw.strip().replace(" ", "+")
    try:
        return parse_moment(raw, settings.timezone, bound=True)
    except TimeError:
        raise ValueError(
            f"{raw!r} is not an ISO 8601 time such as 2026-12-01T00:00:00+01:00"
        ) from None
