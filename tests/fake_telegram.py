"""A fake Telegram Bot API server for end-to-end tests (aiohttp on 127.0.0.1, a free port).

It speaks the real wire protocol, so the bot under test uses its normal aiogram session:

- every call is validated against aiogram's own method models (unknown method -> 404, missing or
  malformed required field -> 400, as Telegram answers) and recorded with its decoded parameters;
- results are built from aiogram's pydantic types and dumped by alias, so they carry every
  field the real server sends and the bot parses them exactly as it would parse Telegram's;
- `getUpdates` long-polls an injectable queue with Telegram's `offset` semantics;
- any method can be told to fail: 429 with `retry_after`, 400, 403, 500, a delay, or a dropped
  connection; a 5xx after the call was carried out (`carried_out`: the Bot API server made the
  message, then failed its answer, as on its restart), and a gateway's HTML page instead of the
  JSON error (`gateway`: api.telegram.org's nginx answering 502/504);
- a small model of chats, members and messages makes moderation calls observable
  (a ban changes what `getChatMember` answers, a deleted message is gone);
- forum supergroups have topics: a topic's messages carry `message_thread_id`,
  `is_topic_message` and, like Telegram's, a `reply_to_message` pointing at the topic's creation
  message; a send naming an unknown thread (or 1, the General topic) fails with "message thread
  not found", a reply lands in the replied message's topic, and a closed topic takes the bot's
  messages only when it may manage topics ("TOPIC_CLOSED" otherwise);
- a basic group can be upgraded to a supergroup (`migrate_group`): both service messages are
  delivered, and every later call naming the old id fails with 400 and `migrate_to_chat_id`.
- Telegram's flood limits answer 429 with `retry_after`: more than 20 messages a minute into one
  group (`group_limit`) or 30 a second in all (`overall_limit`), counted as they arrive; and
  `getUpdates` fails with 409 while a webhook is set or when a newer `getUpdates` replaces a
  waiting one, as Telegram's does; other bots' group messages are never delivered;
- at most 100 inline buttons under a message ("reply markup is too long" beyond);
- no kinder than Telegram (see ../shared/telegram-behaviour.md): the bot's own messages are never
  delivered back as updates, a private send reaches only users who started the bot (and did not
  block it or delete their account), chat ids have Telegram's shapes, and an edit that changes
  nothing fails with "message is not modified";
- moderation calls need what Telegram needs: a deletion the bot's rights and a message younger
  than 48 hours, a restriction or ban `can_restrict_members`, a supergroup and a target who is
  neither owner nor admin; banning or unbanning a non-member succeeds and changes nothing the
  bot can see (see the comments at `_deletion_refusal` and `_change_member` for the sources);
- HTML is parsed as Telegram's parser does (`parse_html`): tags closed in order and none left
  open, `<span>` only as class "tg-spoiler", attribute values quoted or name tokens,
  `<tg-emoji>` only with its id, only &lt; &gt; &amp; &quot; and numeric references decoded;
  an error says "can't parse entities: ..." with Telegram's words and UTF-8 byte offsets;
- the bot edits only its own messages (markup too; a channel post only while it may post or
  edit there), never to empty text; a removed bot gets 403 for edits and deletions as for
  sends; copyMessages takes 1-100 ids in strictly increasing order, deleteMessages 1-100;
  protected content is not copied; a poll is stopped once, and only the bot's own;
- polls, bot commands (and their chat scopes), inline buttons (an action each, a real host
  for a URL) and uploads (non-empty, 10 MB photo, 50 MB file) follow the Bot API's limits;
- `chat_member`, `message_reaction` and `message_reaction_count` reach only an admin bot; a
  channel's members are told only to an admin bot; an update made while no bot polls expires
  after 24 hours of the fake's clock (a running bot gets it at once, however far a test then
  moves the clock); a reply in a forum's General carries its chain's root as
  `message_thread_id` without `is_topic_message`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiogram.methods as api_methods
from aiogram import types as tg
from aiogram.methods import TelegramMethod
from aiohttp import web
from pydantic import ValidationError

METHODS: dict[str, type[TelegramMethod]] = {
    cls.__api_method__: cls
    for cls in vars(api_methods).values()
    if isinstance(cls, type)
    and issubclass(cls, TelegramMethod)
    and cls is not TelegramMethod
    and hasattr(cls, "__api_method__")
}
_METHODS_LOWER = {name.lower(): name for name in METHODS}
_INT_RE = re.compile(r"^-?\d+$")
_FLOAT_RE = re.compile(r"^-?\d+\.\d+$")
_TAG_RE = re.compile(r"<[^>]+>")
# Sending methods that deliver a message into a chat (a private one needs a started bot).
_DELIVERING = {"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"}
# What a restricted bot needs to send each kind of content, and how Telegram names it when it
# refuses ("not enough rights to send <what> to the chat").
_RESTRICTED_SEND = {
    "text": ("can_send_messages", "text messages"),
    "photo": ("can_send_photos", "photos"),
    "video": ("can_send_videos", "videos"),
    "document": ("can_send_documents", "documents"),
    "audio": ("can_send_audios", "music"),
    "voice": ("can_send_voice_notes", "voice notes"),
    "video_note": ("can_send_video_notes", "video notes"),
    "poll": ("can_send_polls", "polls"),
    "sticker": ("can_send_other_messages", "stickers"),
    "animation": ("can_send_other_messages", "animations"),
}
_OWN_MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post")
# The placeholder senders of anonymous admins (GroupAnonymousBot) and of messages sent as a
# channel (Channel_Bot): bots by `is_bot`, but their messages reach every bot in the group
_SERVICE_BOTS = {1087968824, 136817688}
_MIN_SUPERGROUP_ID = -1_000_000_000_000  # "-100" followed by the internal id
_ADMIN_ONLY_UPDATES = ("chat_member", "message_reaction", "message_reaction_count")
_UPDATE_LIFETIME = 86400  # Telegram drops an update nobody fetched within 24 hours
_POLL_GAP = 5.0  # seconds between a bot's getUpdates calls while it runs
_BOT_DELETE_WINDOW = 2 * 86400  # a bot deletes a message only within 48 hours of its date
# Service messages (what a message is about, when it is no one's text).
_SERVICE_KEYS = {
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "video_chat_started",
    "video_chat_ended",
}
_ALL_PERMISSIONS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
)
_ADMIN_RIGHTS = (
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
)
# Never deleted in a supergroup or channel (tdlib/td can_delete_channel_message).
_UNDELETABLE_KEYS = {
    "supergroup_chat_created",
    "channel_chat_created",
    "migrate_from_chat_id",
    "forum_topic_created",
}
_HTML_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}


def dump(obj: tg.TelegramObject) -> dict[str, Any]:
    return obj.model_dump(mode="json", exclude_none=True, by_alias=True)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float
    index: int

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def plain(self) -> str:
        """The text or caption as the user sees it (HTML tags removed, entities unescaped)."""
        return html.unescape(
            _TAG_RE.sub("", self.params.get("text") or self.params.get("caption") or "")
        )


@dataclass
class Failure:
    status: int = 500
    description: str = "Internal Server Error"
    retry_after: int | None = None
    delay: float = 0.0
    drop: bool = False
    times: int = 1
    # the call is carried out (the message is made), then the connection breaks before the
    # answer: a timeout or a dropped connection after the request left, as the caller sees it
    lost_answer: bool = False
    # the call is carried out, then `status` is answered: the Bot API server fails a send it had
    # handed on when it restarts ("Internal Server Error: restart"), a gateway times out waiting
    carried_out: bool = False
    # the answer is the front proxy's HTML page (`<title>502 Bad Gateway</title>`), not JSON
    gateway: bool = False


_GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)


# what copyMessage refuses to copy (Bot API), besides service messages
_NOT_COPIED = ("giveaway", "giveaway_winners", "paid_media", "invoice")
_COUNTED_COPIES = {"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"}


@dataclass(frozen=True)
class FloodLimit:
    """At most `count` messages in any `window` seconds; tests that speed the bot's own pacing up
    speed this up with it."""

    count: int
    window: float


@dataclass
class ChatState:
    chat: dict[str, Any]
    members: dict[int, dict[str, Any]] = field(default_factory=dict)  # user_id -> ChatMember
    member_count: int = 0
    linked_chat_id: int | None = None
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)  # thread id -> root message
    closed_topics: set[int] = field(default_factory=set)
    migrated_to: int | None = None  # a basic group upgraded to this supergroup id
    pinned: int | None = None  # the message the bot pinned last
    banned_senders: set[int] = field(default_factory=set)  # banChatSenderChat


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token_abcdefghijklmnopqrstuvwx") -> None:
        self.token = token
        self.bot_id = int(token.split(":")[0])
        self.bot_user = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Steward",
            "username": "steward_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.calls: list[Call] = []
        self.polls: int = 0  # getUpdates calls, kept out of `calls`
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.chats: dict[int, ChatState] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.commands: dict[tuple[str, str | None], list[dict]] = {}
        self.menu_buttons: dict[int | None, Any] = {}
        self.invite_links: dict[str, dict[str, Any]] = {}  # link -> ChatInviteLink + chat_id
        self.allowed_updates: list[str] | None = None
        self.webhook: dict[str, Any] | None = None
        # Telegram's documented flood limits (core.telegram.org/bots/faq, "broadcasting"):
        # 20 messages a minute into a group, about 30 a second in all
        self.group_limit = FloodLimit(20, 60.0)
        self.overall_limit = FloodLimit(30, 1.0)
        self._sent_at: dict[int | None, deque[float]] = defaultdict(deque)
        self.flood_refusals = 0
        self._updates: list[dict[str, Any]] = []
        # update id -> when it was made (fake clock), for updates made while no bot polled
        self._queued_at: dict[int, int] = {}
        self._waiting_polls = 0
        self._last_poll = -math.inf  # time.monotonic() when a getUpdates last ended
        # who may get private messages: Telegram alone knows, the bot has to try
        self.started: set[int] = set()
        self.blocked: set[int] = set()
        self.deactivated: set[int] = set()
        self.bot_messages: set[tuple[int, int]] = set()  # (chat_id, message_id) the bot sent
        # callback queries pressed (id -> when) and those answered: each is answered once
        self.callback_queries: dict[str, float] = {}
        self.answered_queries: set[str] = set()
        self.poll_voters: dict[str, set[int]] = defaultdict(set)  # poll id -> who voted
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._changed = asyncio.Condition()
        self._last_push = 0
        self._poll_generation = 0  # the newest getUpdates; an older one still waiting gets 409
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.url = ""
        self.clock: Callable[[], float] = time.time

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._serve_file)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()  # release long polls at once
        if self._runner is not None:
            await self._runner.cleanup()

    # --- world model -----------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    @staticmethod
    def user(
        user_id: int,
        first_name: str = "User",
        *,
        language_code: str | None = "en",
        username: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        user = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def add_chat(
        self,
        chat_id: int,
        type_: str = "supergroup",
        title: str | None = "Test group",
        username: str | None = None,
        *,
        bot_status: str = "administrator",
        member_count: int = 10,
        is_forum: bool = False,
    ) -> dict[str, Any]:
        check_chat_id(chat_id, type_)
        chat: dict[str, Any] = {"id": chat_id, "type": type_}
        if is_forum:
            if type_ != "supergroup":
                raise ValueError("only supergroups can be forums")
            chat["is_forum"] = True
            # message 1 opened the chat; a topic's id is its creation message's, never 1
            next(self._message_ids[chat_id])
        if type_ == "private":
            chat["first_name"] = title or "User"
        elif title:
            chat["title"] = title
        if username:
            chat["username"] = username
        state = ChatState(chat=chat, member_count=member_count)
        self.chats[chat_id] = state
        if type_ != "private":
            if bot_status == "administrator":
                state.members[self.bot_id] = self._admin_member(self.bot_user, is_bot_self=True)
            elif bot_status:
                state.members[self.bot_id] = {"status": bot_status, "user": self.bot_user}
        return chat

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        """The user's private chat with the bot. The bot can write there only once the user has
        started it: any message the user sends in it (/start first, on a real client) does."""
        if user["id"] not in self.chats:
            self.add_chat(user["id"], "private", user.get("first_name"), user.get("username"))
        return self.chats[user["id"]].chat

    def start_bot(self, user: dict[str, Any]) -> dict[str, Any]:
        """The user pressed Start at some time the bot may not know about (another deployment,
        before its database existed): Telegram lets the bot write to them, the bot gets nothing."""
        self.started.add(user["id"])
        self.blocked.discard(user["id"])
        return self.private_chat(user)

    def block_bot(self, user_id: int) -> None:
        self.blocked.add(user_id)

    def deactivate(self, user_id: int) -> None:
        self.deactivated.add(user_id)

    def _private_refusal(self, chat_id: int) -> str | None:
        if chat_id in self.deactivated:
            return "Forbidden: user is deactivated"
        if chat_id in self.blocked:
            return "Forbidden: bot was blocked by the user"
        if chat_id not in self.started:
            return "Forbidden: bot can't initiate conversation with a user"
        return None

    @staticmethod
    def message_link(chat: dict[str, Any], message_id: int) -> str | None:
        """The link Telegram shows for a message (basic groups and private chats have none)."""
        if chat.get("username"):
            return f"https://t.me/{chat['username']}/{message_id}"
        if str(chat["id"]).startswith("-100"):
            return f"https://t.me/c/{str(chat['id'])[4:]}/{message_id}"
        return None

    async def bot_added(self, chat: dict[str, Any], by: dict[str, Any]) -> None:
        """`by` makes the bot an admin of `chat`: the my_chat_member update Telegram sends."""
        await self.push_update(
            {
                "my_chat_member": {
                    "chat": chat,
                    "from": by,
                    "date": self.now(),
                    "old_chat_member": {"status": "left", "user": self.bot_user},
                    "new_chat_member": self._admin_member(self.bot_user, is_bot_self=True),
                }
            }
        )

    def _admin_member(self, user: dict[str, Any], *, is_bot_self: bool = False, **rights) -> dict:
        member = {
            "status": "administrator",
            "user": user,
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": True,
            "can_manage_video_chats": True,
            "can_restrict_members": True,
            "can_promote_members": not is_bot_self,
            "can_change_info": True,
            "can_invite_users": True,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
            "can_send_welcome_messages": False,
            "can_post_messages": True,
            "can_edit_messages": True,
            "can_pin_messages": True,
        }
        member.update(rights)
        return member

    def add_member(
        self, chat_id: int, user: dict[str, Any], status: str = "member", **rights: Any
    ) -> None:
        state = self.chats[chat_id]
        if status == "administrator":
            state.members[user["id"]] = self._admin_member(user, **rights)
        elif status == "creator":
            state.members[user["id"]] = {"status": "creator", "user": user, "is_anonymous": False}
        else:
            state.members[user["id"]] = {"status": status, "user": user}

    def member_status(self, chat_id: int, user_id: int) -> str:
        member = self.chats[chat_id].members.get(user_id)
        return member["status"] if member else "left"

    # --- forums and upgraded groups ----------------------------------------------------------

    def _new_topic(
        self, chat: dict[str, Any], name: str, creator: dict[str, Any] | None
    ) -> dict[str, Any]:
        state = self.chats[chat["id"]]
        if not chat.get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        message_id = next(self._message_ids[chat["id"]])
        root = {
            "message_id": message_id,
            "message_thread_id": message_id,
            "is_topic_message": True,
            "date": self.now(),
            "chat": chat,
            "from": creator or self.bot_user,
            "forum_topic_created": {"name": name, "icon_color": 7322096},
        }
        state.topics[message_id] = root
        return self._store_message(root)

    async def create_topic(
        self, chat: dict[str, Any], name: str, creator: dict[str, Any] | None = None
    ) -> int:
        """A person opens a topic in a forum: its thread id is the id of the service message
        that created it, delivered like Telegram delivers it."""
        root = self._new_topic(chat, name, creator or self.user(77, "Topic Starter"))
        await self.push_update({"message": root})
        return root["message_thread_id"]

    def delete_topic(self, chat: dict[str, Any], thread_id: int) -> None:
        """An admin deletes a topic with its messages: sends into it fail from now on."""
        self.chats[chat["id"]].topics.pop(thread_id)
        for key in [k for k, m in self.messages.items() if m.get("message_thread_id") == thread_id]:
            if key[0] == chat["id"]:
                del self.messages[key]

    async def close_topic(self, chat: dict[str, Any], thread_id: int, by: dict[str, Any]) -> None:
        """An admin closes a topic: from now on only admins who may manage topics post there;
        anyone else, the bot included, gets "TOPIC_CLOSED"."""
        self.chats[chat["id"]].closed_topics.add(thread_id)
        closed = self.new_message(chat, by, topic=thread_id, forum_topic_closed={})
        await self.push_update({"message": closed})

    def _may_post_in(self, state: ChatState, thread_id: int | None) -> bool:
        if thread_id not in state.closed_topics:
            return True
        me = state.members.get(self.bot_id) or {}
        return me.get("status") == "creator" or bool(me.get("can_manage_topics"))

    async def migrate_group(
        self,
        chat_id: int,
        by: dict[str, Any],
        new_id: int | None = None,
        *,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """Upgrade a basic group to a supergroup as Telegram does: a new `-100…` id, the members,
        the bot's rights and the invite links carried over, `migrate_to_chat_id` as the old
        chat's last message, `migrate_from_chat_id` as the new chat's first, and the old id
        refused from now on.
        `deliver=False`: the bot never gets the two messages (it was down for over a day)."""
        old = self.chats[chat_id]
        if old.chat["type"] != "group":
            raise ValueError("only basic groups are upgraded")
        new_id = new_id or self._supergroup_id_for(chat_id)
        chat = {k: v for k, v in old.chat.items() if k != "all_members_are_administrators"}
        chat.update(id=new_id, type="supergroup")
        state = ChatState(chat=chat, members=dict(old.members), member_count=old.member_count)
        self.chats[new_id] = state
        for info in self.invite_links.values():  # the group's invite links open the new chat
            if info["chat_id"] == chat_id:
                info["chat_id"] = new_id
        last = self.new_message(old.chat, by, migrate_to_chat_id=new_id)
        old.migrated_to = new_id
        first = self.new_message(chat, by, migrate_from_chat_id=chat_id)
        if deliver:
            await self.push_update({"message": last})
            await self.push_update({"message": first})
        return chat

    def _supergroup_id_for(self, group_id: int) -> int:
        """A new supergroup's id as Telegram makes them: "-100" and a 10-digit internal id
        without leading zeros (-1001234567890), one no chat here has yet; derived from the
        group's id so that a test's ids stay the same from run to run."""
        internal = 1_000_000_000 + abs(group_id) % 9_000_000_000
        while _MIN_SUPERGROUP_ID - internal in self.chats:
            internal = 1_000_000_000 + (internal + 1 - 1_000_000_000) % 9_000_000_000
        return _MIN_SUPERGROUP_ID - internal

    # --- updates ---------------------------------------------------------------------------

    async def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates, as Telegram would send it. A `chat_member` or
        reaction update about a chat where the bot is no admin is dropped: Telegram sends those
        only to admins (`_sent_to_bot`)."""
        self._check_deliverable(update)
        update = {"update_id": next(self._update_ids), **update}
        self._last_push = len(self.calls)
        if not self._sent_to_bot(update):
            return update["update_id"]
        async with self._changed:
            self._updates.append(update)
            if not self._bot_is_polling():
                # nobody is fetching: Telegram keeps it for 24 hours (of the fake's clock)
                self._queued_at[update["update_id"]] = self.now()
            self._changed.notify_all()
        return update["update_id"]

    def _bot_is_polling(self) -> bool:
        """Whether a bot is fetching updates now (a long poll waits, or one ended moments ago):
        it gets a new update at once, however far a test then moves the clock."""
        return self._waiting_polls > 0 or time.monotonic() - self._last_poll < _POLL_GAP

    def _sent_to_bot(self, update: dict[str, Any]) -> bool:
        """`chat_member`, `message_reaction` and `message_reaction_count` reach only a bot that
        is an admin of the chat (Bot API, Update; telegram-behaviour.md)."""
        kind = next((k for k in _ADMIN_ONLY_UPDATES if k in update), None)
        if kind is None:
            return True
        state = self.chats.get(update[kind]["chat"]["id"])
        if state is None:
            return True
        me = state.members.get(self.bot_id) or {}
        return me.get("status") in {"administrator", "creator"}

    def webhook_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """An update as Telegram POSTs it to a webhook (tests/cluster_harness.Balancer delivers
        it), checked like a pushed one but not queued for getUpdates."""
        self._check_deliverable(update)
        return {"update_id": next(self._update_ids), **update}

    def _check_deliverable(self, update: dict[str, Any]) -> None:
        """Refuse what Telegram never sends, and learn who started or blocked the bot."""
        for kind in _OWN_MESSAGE_KINDS:
            message = update.get(kind)
            if message is None:
                continue
            key = (message["chat"]["id"], message["message_id"])
            if key in self.bot_messages or message.get("from", {}).get("id") == self.bot_id:
                raise AssertionError(
                    f"Telegram never sends a bot its own messages ({kind} {key}): "
                    "use what the bot's send call returned"
                )
            author = message.get("from", {})
            if (
                author.get("is_bot")
                and author.get("id") not in _SERVICE_BOTS
                and message["chat"]["type"] in {"group", "supergroup"}
            ):
                raise AssertionError(
                    f"Telegram never sends a bot other bots' messages in groups ({kind} {key})"
                )
            sender = message.get("from", {}).get("id")
            state = self.chats.get(message["chat"]["id"])
            member = state.members.get(sender) if state is not None and sender else None
            if (
                kind == "message"
                and member is not None
                and member.get("status") == "restricted"
                and not member.get("can_send_messages", True)
                and (not member.get("until_date") or member["until_date"] > self.now())
            ):
                raise AssertionError(
                    f"a muted member cannot send a message in {message['chat']['id']}: "
                    "Telegram's apps refuse it, so no update comes"
                )
            if message["chat"]["type"] == "private" and sender == message["chat"]["id"]:
                self.started.add(sender)  # writing to a bot starts (or restarts) it
                self.blocked.discard(sender)
        change = update.get("my_chat_member")
        if change is not None and change["chat"]["type"] == "private":
            user_id = change["chat"]["id"]
            self.chats.setdefault(user_id, ChatState(chat=change["chat"]))
            if change["new_chat_member"]["status"] == "kicked":
                self.blocked.add(user_id)
            elif change["new_chat_member"]["status"] == "member":
                self.started.add(user_id)
                self.blocked.discard(user_id)
        elif change is not None and change["chat"]["id"] in self.chats:
            # The bot's membership changed in a group or channel: Telegram acts on the new
            # rights at once, so later calls meet them (a removed bot posts nothing).
            self.chats[change["chat"]["id"]].members[self.bot_id] = dict(change["new_chat_member"])

    def _store_message(self, message: dict[str, Any]) -> dict[str, Any]:
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def new_message(
        self,
        chat: dict[str, Any],
        user: dict[str, Any] | None,
        text: str | None = None,
        *,
        reply_to: dict[str, Any] | None = None,
        sender_chat: dict[str, Any] | None = None,
        topic: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A message by a person (or chat identity). In a forum, `topic` names the topic it is
        written in; a reply goes to the topic of the message it replies to."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat["id"]]),
            "date": self.now(),
            "chat": chat,
        }
        if user is not None:
            message["from"] = user
            state = self.chats.get(chat["id"])
            if (
                state is not None
                and chat["type"] in {"group", "supergroup"}
                and sender_chat is None
                and user["id"] != self.bot_id
            ):
                # only a member writes in a group: one the test never added has joined
                state.members.setdefault(user["id"], {"status": "member", "user": user})
        if sender_chat is not None:
            message["sender_chat"] = sender_chat
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0]) if text.split() else 1
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        caption = extra.get("caption")
        if isinstance(caption, str) and caption.startswith("/") and "caption_entities" not in extra:
            # Telegram marks a command in a caption as in a text
            length = len(caption.split()[0]) if caption.split() else 1
            extra["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if reply_to is not None:
            message["reply_to_message"] = {
                k: v for k, v in reply_to.items() if k != "reply_to_message"
            }
            if reply_to.get("is_topic_message"):
                topic = reply_to["message_thread_id"]
            elif chat.get("is_forum") and topic is None:
                # a reply in General carries the root of its reply chain as message_thread_id,
                # with no is_topic_message: that id is no topic (telegram-behaviour.md)
                message["message_thread_id"] = (
                    reply_to.get("message_thread_id") or (reply_to["message_id"])
                )
        if topic is not None:
            root = self.chats[chat["id"]].topics.get(topic)
            if root is None:
                raise ValueError(f"chat {chat['id']} has no topic {topic}")
            message["message_thread_id"] = topic
            message["is_topic_message"] = True
            message.setdefault("reply_to_message", root)  # as Telegram does for topic messages
        message.update(extra)
        state = self.chats.get(chat["id"])
        if state is not None and chat["type"] != "private":
            for joined in extra.get("new_chat_members") or []:  # the service message of a join
                state.members.setdefault(joined["id"], {"status": "member", "user": joined})
            if extra.get("left_chat_member"):
                state.members.pop(extra["left_chat_member"]["id"], None)
        return self._store_message(message)

    async def send_message(
        self, chat: dict[str, Any], user: dict[str, Any] | None, text: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        """A user writes to a chat: the message is stored and delivered as an update."""
        message = self.new_message(chat, user, text, **kw)
        await self.push_update({"message": message})
        return message

    async def edit_message(
        self, message: dict[str, Any], text: str | None = None, *, caption: str | None = None
    ) -> dict[str, Any]:
        """Its author edits a message: the stored message changes (a later copy of it shows the
        new words, as Telegram's does) and an `edited_message` update carries it whole, with
        `edit_date`, as Telegram sends it."""
        stored = self.messages[(message["chat"]["id"], message["message_id"])]
        if text is not None:
            stored["text"] = text
            stored.pop("entities", None)
        if caption is not None:
            stored["caption"] = caption
        stored["edit_date"] = self.now()
        await self.push_update({"edited_message": dict(stored)})
        return stored

    async def answer_poll(self, poll_id: str, user: dict[str, Any], option: int) -> int:
        """A vote, delivered as `poll_answer` as Telegram delivers it: only for a poll the bot
        sent, not anonymous, and still open (not stopped, its `open_period` not over)."""
        message = next(
            (m for m in self.messages.values() if m.get("poll", {}).get("id") == poll_id), None
        )
        if message is None or (message["chat"]["id"], message["message_id"]) not in (
            self.bot_messages
        ):
            raise AssertionError(f"poll {poll_id} was not sent by the bot: no poll_answer")
        poll = message["poll"]
        if poll.get("is_anonymous", True):
            raise AssertionError(f"poll {poll_id} is anonymous: Telegram sends no poll_answer")
        period = poll.get("open_period")
        if poll["is_closed"] or (period and self.now() > message["date"] + period):
            raise AssertionError(f"poll {poll_id} is closed: nobody can vote any more")
        voters = self.poll_voters[poll_id]
        if user["id"] in voters and not poll.get("allows_revoting"):
            raise AssertionError(f"{user['id']} voted in poll {poll_id} already: no second vote")
        voters.add(user["id"])
        return await self.push_update(
            {
                "poll_answer": {
                    "poll_id": poll_id,
                    "user": user,
                    "option_ids": [option],
                    "option_persistent_ids": [str(option)],
                }
            }
        )

    async def press_button(self, message: dict[str, Any], user: dict[str, Any], data: str) -> str:
        """A press of a button under `message`. Like Telegram, the query's message carries no
        `reply_to_message` once the message it replied to is deleted."""
        callback_id = str(next(self._update_ids) * 1000 + 7)
        self.callback_queries[callback_id] = time.monotonic()
        replied = message.get("reply_to_message")
        if (
            replied is not None
            and (message["chat"]["id"], replied["message_id"]) not in self.messages
        ):
            message = {k: v for k, v in message.items() if k != "reply_to_message"}
        await self.push_update(
            {
                "callback_query": {
                    "id": callback_id,
                    "from": user,
                    "message": message,
                    "chat_instance": f"ci{message['chat']['id']}",
                    "data": data,
                }
            }
        )
        return callback_id

    async def join_chat(
        self,
        chat_id: int,
        user: dict[str, Any],
        link: str | None = None,
        *,
        date: int | None = None,
        approved_by: dict[str, Any] | None = None,
    ) -> int:
        """A user joins (a `chat_member` update). Through `link`, the update carries the link
        as Telegram shows it to its creator; a revoked, expired or full link is refused as the
        app would refuse it. `approved_by`: an admin approved a join request; like Telegram,
        that update does not promise the link again, so none is sent."""
        state = self.chats[chat_id]
        old: dict[str, Any] = {"status": "left", "user": user}
        new: dict[str, Any] = {"status": "member", "user": user}
        was = state.members.get(user["id"])
        if was is not None and was.get("status") == "restricted" and not was.get("is_member"):
            # restrictions outlive a leave: the one who comes back is restricted again, now a
            # member (restricted → restricted, is_member false → true), as leave_chat says
            old = self._complete_member({**was, "user": user, "is_member": False})
            new = {**old, "is_member": True}
        update: dict[str, Any] = {
            "chat": state.chat,
            "from": approved_by or user,
            "date": date or self.now(),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        if link is not None and approved_by is None:
            info = self.invite_links.get(link)
            if info is None or info["chat_id"] != chat_id:
                raise AssertionError(f"{link} is not an invite link of {chat_id}")
            if info["is_revoked"] or info.get("expire_date", 2**40) <= (date or self.now()):
                raise AssertionError(f"{link} no longer works")
            if info.get("creates_join_request"):
                raise AssertionError(f"{link} asks for approval: use request_join")
            update["invite_link"] = {k: v for k, v in info.items() if k != "chat_id"}
        state.members[user["id"]] = new if new["status"] == "restricted" else new | {"user": user}
        state.member_count += 1
        return await self.push_update({"chat_member": update})

    async def leave_chat(self, chat_id: int, user: dict[str, Any], *, date: int | None = None):
        """The user leaves. A restricted member stays restricted, no longer a member: Telegram
        keeps a supergroup's restrictions on whoever leaves (ChatMemberRestricted.is_member
        false; tdlib DialogParticipantStatus::Restricted with is_member = false), so the
        update reads restricted → restricted, not member → left."""
        state = self.chats[chat_id]
        was = state.members.pop(user["id"], None)
        state.member_count -= 1
        old: dict[str, Any] = {"status": "member", "user": user}
        new: dict[str, Any] = {"status": "left", "user": user}
        if was is not None and was.get("status") == "restricted":
            old = self._complete_member({**was, "user": user, "is_member": True})
            new = {**old, "is_member": False}
            state.members[user["id"]] = new
        return await self.push_update(
            {
                "chat_member": {
                    "chat": state.chat,
                    "from": user,
                    "date": date or self.now(),
                    "old_chat_member": old,
                    "new_chat_member": new,
                }
            }
        )

    async def request_join(
        self, chat_id: int, user: dict[str, Any], link: str, *, date: int | None = None
    ) -> int:
        """A user asks to join through a link that creates join requests."""
        info = self.invite_links[link]
        if not info.get("creates_join_request") or info["is_revoked"]:
            raise AssertionError(f"{link} does not take join requests")
        return await self.push_update(
            {
                "chat_join_request": {
                    "chat": self.chats[chat_id].chat,
                    "from": user,
                    "user_chat_id": user["id"],
                    "date": date or self.now(),
                    "invite_link": {k: v for k, v in info.items() if k != "chat_id"},
                }
            }
        )

    async def react(
        self,
        chat_id: int,
        message_id: int,
        user: dict[str, Any],
        new: list[str],
        old: list[str] | None = None,
    ) -> int | None:
        """A person changes their reactions on a message. Telegram sends `message_reaction`
        only in groups where the bot is an admin (and only when allowed_updates asks for it);
        elsewhere nothing is delivered and None is returned."""
        state = self.chats[chat_id]
        if state.chat["type"] == "channel" or self.member_status(chat_id, self.bot_id) not in {
            "administrator",
            "creator",
        }:
            return None

        def emoji(items: list[str]) -> list[dict[str, Any]]:
            return [{"type": "emoji", "emoji": e} for e in items]

        return await self.push_update(
            {
                "message_reaction": {
                    "chat": state.chat,
                    "message_id": message_id,
                    "user": user,
                    "date": self.now(),
                    "old_reaction": emoji(old or []),
                    "new_reaction": emoji(new),
                }
            }
        )

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if "allowed_updates" in params:
            self.allowed_updates = params["allowed_updates"]
        deadline = asyncio.get_running_loop().time() + timeout
        self._poll_generation += 1
        mine = self._poll_generation
        self._waiting_polls += 1
        try:
            return await self._poll(mine, offset, limit, deadline)
        finally:
            self._waiting_polls -= 1
            self._last_poll = time.monotonic()

    async def _poll(
        self, mine: int, offset: int, limit: int, deadline: float
    ) -> list[dict[str, Any]]:
        async with self._changed:
            self._changed.notify_all()  # an older long poll still waiting learns it lost
            while True:
                if self._poll_generation != mine:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
                # Telegram keeps an update for 24 hours; one not fetched by then is gone, the
                # rest are being fetched now
                oldest = self.now() - _UPDATE_LIFETIME
                self._updates = [
                    u
                    for u in self._updates
                    if u["update_id"] >= offset
                    and self._queued_at.pop(u["update_id"], oldest) >= oldest
                ]

                ready = [u for u in self._updates if self._allowed(u)][:limit]
                remaining = deadline - asyncio.get_running_loop().time()
                if ready or remaining <= 0 or self._closing:
                    return ready
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    return []

    def pending_updates(self) -> int:
        """Updates the bot has not confirmed yet (Telegram forgets them at the next offset)."""
        return len(self._updates)

    def _allowed(self, update: dict[str, Any]) -> bool:
        kinds = [k for k in update if k != "update_id"]
        if not self.allowed_updates:
            # Telegram's default leaves these out unless asked for.
            return not set(kinds) & {"chat_member", "message_reaction", "message_reaction_count"}
        return any(k in self.allowed_updates for k in kinds)

    # --- inspection helpers for tests ------------------------------------------------------

    def calls_of(self, method: str, since: int = 0) -> list[Call]:
        return [c for c in self.calls[since:] if c.method == method]

    def mark(self) -> int:
        return len(self.calls)

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        since: int | None = None,
        timeout: float = 10.0,
        count: int = 1,
    ) -> Call:
        """The `count`-th call of `method` (matching `predicate`) after `since`, which defaults
        to the moment of the last pushed update."""
        start = self._last_push if since is None else since
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._changed:
            while True:
                found = [
                    c
                    for c in self.calls[start:]
                    if c.method == method and (predicate is None or predicate(c))
                ]
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - loop.time()
                if remaining <= 0:
                    seen = [(c.method, c.params) for c in self.calls[start:]][-10:]
                    raise AssertionError(f"no {method} call within {timeout}s; last calls: {seen}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def assert_no_call(
        self,
        method: str,
        *,
        within: float = 0.5,
        since: int | None = None,
        predicate: Callable[[Call], bool] | None = None,
    ) -> None:
        start = self._last_push if since is None else since
        await asyncio.sleep(within)
        found = [
            c
            for c in self.calls[start:]
            if c.method == method and (predicate is None or predicate(c))
        ]
        assert not found, f"unexpected {method}: {[c.params for c in found]}"

    def fail(
        self,
        method: str,
        status: int = 500,
        *,
        description: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
        lost_answer: bool = False,
        carried_out: bool = False,
        gateway: bool = False,
        times: int = 1,
    ) -> None:
        default = {
            400: "Bad Request: message text is empty",
            403: "Forbidden: bot was kicked from the channel chat",
            429: f"Too Many Requests: retry after {retry_after}",
            500: "Internal Server Error",
            502: "Bad Gateway",
            504: "Gateway Timeout",
        }.get(status, "Error")
        self.failures[method].append(
            Failure(
                status,
                description or default,
                retry_after,
                delay,
                drop,
                times,
                lost_answer,
                carried_out,
                gateway,
            )
        )

    def add_file(self, file_id: str, content: bytes, file_path: str) -> dict[str, Any]:
        self.files[file_id] = (file_path, content)
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(content)}

    # --- HTTP ------------------------------------------------------------------------------

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        for file_path, content in self.files.values():
            if file_path == path:
                return web.Response(body=content)
        return web.Response(status=404)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, str | Any], dict]:
        files: dict[str, bytes] = {}
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            raw.update(await request.json())
        elif request.method == "POST" and request.can_read_body:
            post = await request.post()
            for key, value in post.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                else:
                    raw[key] = value
        return raw, files

    @staticmethod
    def _decode(model: type[TelegramMethod], raw: dict[str, Any]) -> dict[str, Any]:
        """Form fields arrive as strings; decode them as the method's field types expect."""
        decoded: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(value, str):
                decoded[key] = value
                continue
            info = model.model_fields.get(key)
            annotation = str(info.annotation) if info else ""
            if value[:1] in "[{":
                try:
                    decoded[key] = json.loads(value)
                    continue
                except ValueError:
                    pass
            if value in ("true", "false") and "bool" in annotation:
                decoded[key] = value == "true"
            elif _INT_RE.match(value) and "int" in annotation:
                decoded[key] = int(value)
            elif _FLOAT_RE.match(value) and "float" in annotation:
                decoded[key] = float(value)
            else:
                decoded[key] = value
        return decoded

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        name = _METHODS_LOWER.get(request.match_info["method"].lower())
        if name is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        model = METHODS[name]
        raw, files = await self._read_params(request)
        params = self._decode(model, raw)
        try:
            model.model_validate(params)
        except ValidationError as exc:
            return self._error(
                400,
                f"Bad Request: invalid parameters for {name}: "
                f"{exc.errors()[0]['loc']} {exc.errors()[0]['msg']}",
            )
        if name == "getUpdates":
            self.polls += 1
            if self.webhook is not None:
                return self._error(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            outage = self._take_failure(name)
            if outage:  # Telegram down or flooded: the poll fails before it waits
                if outage.delay:
                    await asyncio.sleep(outage.delay)
                if outage.drop:
                    return self._dropped(request)
                return self._failure_error(outage)
            try:
                return web.json_response({"ok": True, "result": await self._get_updates(params)})
            except ApiError as exc:
                return self._error(exc.status, exc.description)
        wait = self._flood_wait(name, params)
        if wait:  # not recorded: no message was made, and `calls` lists what the bot sent
            self.flood_refusals += 1
            return self._error(
                429, f"Too Many Requests: retry after {wait}", parameters={"retry_after": wait}
            )
        async with self._changed:
            self.calls.append(Call(name, params, files, time.monotonic(), len(self.calls)))
            self._changed.notify_all()
        failure = self._take_failure(name)
        if failure:
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.lost_answer or failure.carried_out:
                with contextlib.suppress(ApiError):
                    self._refuse_upgraded_group(params)
                    await self._dispatch(name, params, files)
            if failure.drop or failure.lost_answer:
                return self._dropped(request)
            if failure.gateway:
                page = _GATEWAY_PAGE.format(status=failure.status, reason=failure.description)
                return web.Response(status=failure.status, text=page, content_type="text/html")
            if failure.status >= 400:
                return self._failure_error(failure)
        try:
            self._refuse_upgraded_group(params)
            result = await self._dispatch(name, params, files)
        except ApiError as exc:
            extra = {"parameters": exc.parameters} if exc.parameters else {}
            return self._error(exc.status, exc.description, **extra)
        return web.json_response({"ok": True, "result": result})

    def _take_failure(self, name: str) -> Failure | None:
        """The next failure queued for `name` (`fail`), counting this call against its times."""
        queue = self.failures.get(name)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        return failure

    @staticmethod
    def _dropped(request: web.Request) -> web.Response:
        """The connection closed with no answer (the response is never read)."""
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)

    @classmethod
    def _failure_error(cls, failure: Failure) -> web.Response:
        extra = (
            {"parameters": {"retry_after": failure.retry_after}}
            if failure.retry_after is not None
            else {}
        )
        return cls._error(failure.status, failure.description, **extra)

    @staticmethod
    def _error(status: int, description: str, **extra: Any) -> web.Response:
        body = {"ok": False, "error_code": status, "description": description, **extra}
        return web.json_response(body, status=status)

    # --- method implementations ------------------------------------------------------------

    def _flood_wait(self, name: str, params: dict[str, Any]) -> int:
        """Seconds to wait (Telegram's `retry_after`, whole and at least 1) if this call's
        messages would break a flood limit, else 0; a call that is let through is counted.
        Only calls that create messages count, as for Telegram's limits."""
        if name in {"sendChatAction", "sendInvoice"} or not (
            name.startswith("send") or name in _COUNTED_COPIES
        ):
            return 0
        count = len(params.get("media") or params.get("message_ids") or [None])
        now = time.monotonic()
        keys: list[tuple[int | None, FloodLimit]] = [(None, self.overall_limit)]
        try:
            state = self._chat(params.get("chat_id", ""))
        except ApiError:
            state = None  # the call fails on its own
        if state is not None and state.chat["type"] in {"group", "supergroup"}:
            keys.append((state.chat["id"], self.group_limit))
        wait = 0.0
        for key, limit in keys:
            stamps = self._sent_at[key]
            while stamps and stamps[0] <= now - limit.window:
                stamps.popleft()
            need = min(count, limit.count)  # one call of many messages is never refused whole
            if stamps and len(stamps) + need > limit.count:
                oldest = stamps[len(stamps) + need - limit.count - 1]
                wait = max(wait, oldest + limit.window - now)
        if wait > 0:
            return max(1, math.ceil(wait))
        for key, _limit in keys:
            self._sent_at[key].extend([now] * count)
        return 0

    def _refuse_upgraded_group(self, params: dict[str, Any]) -> None:
        """An upgraded basic group is gone: any call naming it says where it went."""
        for key in ("chat_id", "from_chat_id"):
            value = params.get(key)
            if isinstance(value, int | str) and _INT_RE.match(str(value)):
                state = self.chats.get(int(value))
                if state is not None and state.migrated_to is not None:
                    raise ApiError(
                        400,
                        "Bad Request: group chat was upgraded to a supergroup chat",
                        {"migrate_to_chat_id": state.migrated_to},
                    )

    def _chat(self, chat_id: int | str) -> ChatState:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for state in self.chats.values():
                if state.chat.get("username", "").lower() == chat_id[1:].lower():
                    return state
            raise ApiError(400, "Bad Request: chat not found")
        try:
            state = self.chats.get(int(chat_id))
        except ValueError:  # "--5", a name without "@": Telegram finds no such chat
            state = None
        if state is None:
            raise ApiError(400, "Bad Request: chat not found")
        return state

    def _send_refusal(self, state: ChatState, content: dict[str, Any]) -> ApiError | None:
        """Why Telegram refuses the bot posting into this chat, or None, as the Bot API answers
        it: in a channel only an admin with `can_post_messages` (or the creator) posts ("need
        administrator rights in the channel chat"; a bot that is not in it at all, or was
        removed, gets a 403); in a group a bot that left or was removed gets a 403, and a
        restricted one only what its permissions allow ("not enough rights to send text
        messages to the chat")."""
        chat = state.chat
        if chat["type"] == "private":
            return None
        kind = {"supergroup": "supergroup chat", "group": "group chat"}.get(
            chat["type"], "channel chat"
        )
        me = state.members.get(self.bot_id) or {"status": "left"}
        status = me["status"]
        if status == "kicked":
            return ApiError(403, f"Forbidden: bot was kicked from the {kind}")
        if status == "left":
            return ApiError(403, f"Forbidden: bot is not a member of the {kind}")
        if chat["type"] == "channel":
            if status == "creator" or (status == "administrator" and me.get("can_post_messages")):
                return None
            return ApiError(400, "Bad Request: need administrator rights in the channel chat")
        if status == "restricted":
            right, what = _RESTRICTED_SEND.get(
                next((k for k in content if k in _RESTRICTED_SEND), "text"),
                ("can_send_messages", "text messages"),
            )
            if not me.get(right, False):
                return ApiError(400, f"Bad Request: not enough rights to send {what} to the chat")
        return None

    def _outgoing(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        state = self._chat(params["chat_id"])
        chat = state.chat
        refusal = self._send_refusal(state, content)
        if refusal is not None:
            raise refusal
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat["id"]]),
            "date": self.now(),
            "chat": chat,
        }
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = self.bot_user
        reply = params.get("reply_parameters") or (
            {"message_id": params["reply_to_message_id"]}
            if params.get("reply_to_message_id")
            else None
        )
        thread = params.get("message_thread_id")
        if thread is not None and chat["type"] in {"group", "supergroup"}:
            # Forum topics are the threads of their creation messages; General (1) is no
            # thread. Elsewhere a thread is the reply chain of an existing message.
            known = (
                thread in state.topics
                if chat.get("is_forum")
                else (chat["id"], int(thread)) in self.messages
            )
            if not known:
                raise ApiError(400, "Bad Request: message thread not found")
        original = None
        if reply:
            # a reply may name the replied message's chat (Bot API 7.0 ReplyParameters.chat_id)
            where = self._chat(reply["chat_id"]).chat["id"] if reply.get("chat_id") else chat["id"]
            original = self.messages.get((where, int(reply["message_id"])))
            if original is not None:
                message["reply_to_message"] = {
                    k: v for k, v in original.items() if k != "reply_to_message"
                }
            elif not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
        if params.get("reply_markup") and "inline_keyboard" in params["reply_markup"]:
            message["reply_markup"] = params["reply_markup"]
        if params.get("has_protected_content"):
            message["has_protected_content"] = params["has_protected_content"]
        if (
            original is not None
            and original["chat"]["id"] == chat["id"]
            and (original.get("is_topic_message"))
        ):
            thread = original["message_thread_id"]  # a reply stays in its message's topic
        if not self._may_post_in(state, thread):
            raise ApiError(400, "Bad Request: TOPIC_CLOSED")
        if thread is not None:
            message["message_thread_id"] = thread
            if thread in state.topics:
                message["is_topic_message"] = True
                message.setdefault("reply_to_message", state.topics[thread])
        message.update(content)
        self.bot_messages.add((chat["id"], message["message_id"]))
        return self._store_message(message)

    @staticmethod
    def _plain(text: str, parse_mode: str | None) -> str:
        """What the user sees; rejects HTML that Telegram would reject."""
        if parse_mode and parse_mode.upper() == "HTML":
            return parse_html(text)
        return text

    def _member_dict(self, chat_id: int, user_id: int) -> dict[str, Any]:
        state = self._chat(chat_id)
        member = state.members.get(user_id)
        if member is None:
            return {"status": "left", "user": self.user(user_id)}
        return self._complete_member(member)

    @staticmethod
    def _complete_member(member: dict[str, Any]) -> dict[str, Any]:
        if member["status"] == "restricted":
            base = {
                key: False
                for key in (
                    *_ALL_PERMISSIONS,
                    "can_react_to_messages",
                    "can_edit_tag",
                    "can_change_info",
                    "can_invite_users",
                    "can_pin_messages",
                    "can_manage_topics",
                )
            }
            base.update({"is_member": True, "until_date": 0})
            base.update(member)
            return base
        if member["status"] == "kicked":
            return {"until_date": 0, **member}
        return member

    async def _dispatch(self, name: str, p: dict[str, Any], files: dict[str, bytes]) -> Any:
        if (name.startswith("send") or name in _DELIVERING) and "chat_id" in p:
            chat_id = p["chat_id"]
            if isinstance(chat_id, int) or (isinstance(chat_id, str) and chat_id.isdigit()):
                refusal = self._private_refusal(int(chat_id)) if int(chat_id) > 0 else None
                if refusal:
                    raise ApiError(403, refusal)
        self._check_limits(name, p)
        handler = getattr(self, f"_m_{name}", None)
        if handler is not None:
            return handler(p, files)
        if name.startswith("send"):
            kind = name[4:].lower()
            return self._outgoing(p, **{kind: p.get(kind, {})}) if kind else True
        return True

    def _check_limits(self, name: str, p: dict[str, Any]) -> None:
        """Telegram's size limits, counted after entity parsing: a caption 1,024 characters,
        `callback_data` 64 bytes, a poll's question 300, an option 100, an explanation 200
        (the text limit of 4,096 is checked where texts are made)."""
        caption = p.get("caption")
        if isinstance(caption, str) and _units(self._plain(caption, p.get("parse_mode"))) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        text = p.get("text")
        if (
            name.startswith("edit")
            and isinstance(text, str)
            and _units(self._plain(text, p.get("parse_mode"))) > 4096
        ):
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = p.get("reply_markup")
        if isinstance(markup, dict):
            # at most 100 buttons under a message (tginfo/Telegram-Limits#228; the Bot API
            # server's REPLY_MARKUP_TOO_LONG)
            if sum(len(row) for row in markup.get("inline_keyboard") or []) > 100:
                raise ApiError(400, "Bad Request: reply markup is too long")
            for row in markup.get("inline_keyboard") or []:
                for button in row:
                    if not any(button.get(k) is not None for k in _BUTTON_ACTIONS):
                        # a button that does nothing is a reply keyboard's, not an inline one's
                        raise ApiError(
                            400, "Bad Request: text buttons are unallowed in the inline keyboard"
                        )
                    if not str(button.get("text", "")).strip():
                        raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
                    url = button.get("url")
                    if url is not None and not _button_url_ok(str(url)):
                        raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= 64:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                    if button.get("web_app") is not None:
                        # "available only in private chats between a user and the bot": a
                        # user's id is positive (a group's, a channel's or an @name is not)
                        target = str(p.get("chat_id", "1"))
                        if not target.isdigit():
                            raise ApiError(400, "Bad Request: BUTTON_TYPE_INVALID")
                        self._check_web_app_url(button["web_app"], "inline keyboard button")
        if name == "sendPoll":
            question = self._plain(str(p.get("question", "")), p.get("question_parse_mode"))
            if not question.strip():
                raise ApiError(400, "Bad Request: poll question must be non-empty")
            if _units(question) > 300:
                raise ApiError(400, "Bad Request: poll question length must not exceed 300")
            options = p.get("options") or []
            # "1-12 answer options" (Bot API); a quiz needs its correct answer, which must be
            # one of the options
            if not 1 <= len(options) <= 12:
                raise ApiError(400, "Bad Request: poll must have 1-12 options")
            if p.get("type") == "quiz":
                correct = p.get("correct_option_ids")
                if correct is None and p.get("correct_option_id") is not None:
                    correct = [p["correct_option_id"]]
                if not correct:
                    raise ApiError(400, "Bad Request: correct option of the quiz must be specified")
                if any(not 0 <= int(i) < len(options) for i in correct):
                    raise ApiError(400, "Bad Request: wrong correct option id specified")
            if p.get("open_period") is not None and p.get("close_date") is not None:
                raise ApiError(400, "Bad Request: can't use both open_period and close_date")
            if p.get("open_period") is not None and not 5 <= int(p["open_period"]) <= 2628000:
                raise ApiError(400, "Bad Request: wrong poll open_period specified")
            if p.get("close_date") is not None and not (
                5 <= int(p["close_date"]) - self.now() <= 2628000
            ):
                raise ApiError(400, "Bad Request: wrong poll close_date specified")
            for option in options:
                text = option["text"] if isinstance(option, dict) else str(option)
                if not text.strip():
                    raise ApiError(400, "Bad Request: poll options must be non-empty")
                if _units(text) > 100:
                    raise ApiError(400, "Bad Request: poll options length must not exceed 100")
            explanation = p.get("explanation")
            if isinstance(explanation, str):
                plain = self._plain(explanation, p.get("explanation_parse_mode"))
                # "0-200 characters with at most 2 line feeds after entities parsing"
                if _units(plain) > 200 or plain.count("\n") > 2:
                    raise ApiError(400, "Bad Request: explanation is too long")

    def _m_answerCallbackQuery(self, p, f):
        """Once per query, within about 15 seconds of the press (Bot API, answerCallbackQuery);
        queries this fake did not issue (built by hand in a test) are not checked."""
        if _units(p.get("text") or "") > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query_id = str(p["callback_query_id"])
        pressed = self.callback_queries.get(query_id)
        if pressed is not None:
            if query_id in self.answered_queries or time.monotonic() - pressed > 15:
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID "
                    "is invalid",
                )
            self.answered_queries.add(query_id)
        return True

    @staticmethod
    def _check_web_app_url(web_app: Any, where: str) -> None:
        """WebAppInfo.url: "An HTTPS URL of a Web App" (Bot API)."""
        url = str((web_app or {}).get("url", "")) if isinstance(web_app, dict) else ""
        if not url.startswith("https://"):
            raise ApiError(
                400,
                f"Bad Request: {where} Web App URL '{url}' is invalid: "
                "Only HTTPS links are allowed",
            )

    def _m_setChatMenuButton(self, p, f):
        """Per chat only for a private chat Telegram knows (the user started the bot); a Web
        App button only with an https address."""
        chat_id = p.get("chat_id")
        if chat_id is not None and int(chat_id) not in self.started:
            raise ApiError(400, "Bad Request: chat not found")
        button = p.get("menu_button")
        if isinstance(button, str):
            button = json.loads(button)
        if isinstance(button, dict) and button.get("type") == "web_app":
            self._check_web_app_url(button.get("web_app"), "menu button")
        self.menu_buttons[int(chat_id) if chat_id is not None else None] = p.get("menu_button")
        return True

    def _m_getMe(self, p, f):
        return self.bot_user

    def _m_setWebhook(self, p, f):
        url = urlsplit(p["url"])
        if url.scheme != "https":
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if (url.port or 443) not in (443, 80, 88, 8443):
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        if "max_connections" in p and not 1 <= int(p["max_connections"]) <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be in 1..100")
        self.webhook = p
        return True

    def _m_deleteWebhook(self, p, f):
        self.webhook = None
        return True

    def _m_getWebhookInfo(self, p, f):
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _m_setMyCommands(self, p, f):
        """BotCommand: a command 1-32 lowercase English letters, digits and underscores
        ("BOT_COMMAND_INVALID", yagop/node-telegram-bot-api#1008), a description 1-256
        characters ("command description must be non-empty"), at most 100 commands."""
        commands = p["commands"]
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            description = str(command.get("description", ""))
            if not description.strip():
                raise ApiError(400, "Bad Request: command description must be non-empty")
            if _units(description) > 256:
                raise ApiError(400, "Bad Request: command description is too long")
        scope = p.get("scope") or {"type": "default"}
        self._check_scope(scope)
        self.commands[(json.dumps(scope, sort_keys=True), p.get("language_code"))] = p["commands"]
        return True

    def _check_scope(self, scope: dict[str, Any]) -> None:
        """A scope naming a chat needs one Telegram knows: a private chat only once its user
        started the bot ("chat not found", as bot/commands.py expects of a manager who never
        opened the bot)."""
        if "chat_id" not in scope:
            return
        state = self._chat(scope["chat_id"])
        if state.chat["type"] == "private" and state.chat["id"] not in self.started:
            raise ApiError(400, "Bad Request: chat not found")

    def _m_getMyCommands(self, p, f):
        scope = p.get("scope") or {"type": "default"}
        return self.commands.get((json.dumps(scope, sort_keys=True), p.get("language_code")), [])

    def _m_deleteMyCommands(self, p, f):
        scope = p.get("scope") or {"type": "default"}
        self.commands.pop((json.dumps(scope, sort_keys=True), p.get("language_code")), None)
        return True

    def _m_sendMessage(self, p, f):
        text = self._plain(p["text"], p.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _units(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._outgoing(p, text=text)

    @staticmethod
    def _upload(p: dict[str, Any], f: dict[str, bytes], field: str, limit: int) -> bytes | None:
        """The file uploaded for `field`, as Telegram takes it: not empty ("file must be
        non-empty"), and at most `limit` bytes (Bot API: photos 10 MB, other files 50 MB)."""
        ref = p.get(field)
        if not (isinstance(ref, str) and ref.startswith("attach://")):
            return None
        content = f.get(ref[9:], b"")
        if not content:
            raise ApiError(400, "Bad Request: file must be non-empty")
        if len(content) > limit:
            raise ApiError(413, "Request Entity Too Large")
        return content

    def _m_sendPhoto(self, p, f):
        self._upload(p, f, "photo", 10 * 1024 * 1024)
        photo = [
            {"file_id": str(p.get("photo")), "file_unique_id": "up", "width": 90, "height": 90}
        ]
        extra = (
            {"caption": self._plain(p["caption"], p.get("parse_mode"))} if p.get("caption") else {}
        )
        return self._outgoing(p, photo=photo, **extra)

    def _m_sendDocument(self, p, f):
        document = {"file_id": f"doc{len(self.calls)}", "file_unique_id": f"ud{len(self.calls)}"}
        content = self._upload(p, f, "document", 50 * 1024 * 1024)
        if content is not None:
            document["file_size"] = len(content)
            # uploaded files can be fetched again with getFile, as on Telegram
            self.files[document["file_id"]] = (f"documents/{document['file_id']}", content)
        extra = (
            {"caption": self._plain(p["caption"], p.get("parse_mode"))} if p.get("caption") else {}
        )
        return self._outgoing(p, document=document, **extra)

    def _m_sendPoll(self, p, f):
        if self._chat(p["chat_id"]).chat["type"] == "channel" and not p.get("is_anonymous", True):
            # Telegram tells nobody who voted in a channel (tdlib: can_send_message_content)
            raise ApiError(400, "Bad Request: non-anonymous polls can't be sent to channel chats")
        options = [
            {
                "persistent_id": str(i),
                "text": o["text"] if isinstance(o, dict) else str(o),
                "voter_count": 0,
            }
            for i, o in enumerate(p["options"])
        ]
        poll = {
            "id": f"poll{len(self.calls)}",
            "question": self._plain(p["question"], p.get("question_parse_mode")),
            "options": options,
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": p.get("is_anonymous", True),
            "type": p.get("type", "regular"),
            "allows_multiple_answers": bool(p.get("allows_multiple_answers")),
            "allows_revoting": False,
            "members_only": False,
        }
        for key in ("correct_option_ids", "open_period", "close_date"):
            if p.get(key) is not None:
                poll[key] = p[key]
        if p.get("explanation") is not None:
            poll["explanation"] = self._plain(p["explanation"], p.get("explanation_parse_mode"))
        if p.get("correct_option_id") is not None and "correct_option_ids" not in poll:
            poll["correct_option_ids"] = [p["correct_option_id"]]
        return self._outgoing(p, poll=poll)

    def _pin_refusal(self, state: ChatState) -> str | None:
        """Pinning and unpinning need `can_pin_messages` in a group (`can_edit_messages` in a
        channel) unless the bot created the chat; private chats need nothing (Bot API
        pinChatMessage)."""
        if state.chat["type"] == "private":
            return None
        me = state.members.get(self.bot_id) or {"status": "left"}
        right = "can_edit_messages" if state.chat["type"] == "channel" else "can_pin_messages"
        if me["status"] == "creator" or (me["status"] == "administrator" and me.get(right)):
            return None
        if me["status"] in {"left", "kicked"}:
            return "Bad Request: chat not found"
        return "Bad Request: not enough rights to manage pinned messages in the chat"

    def _m_pinChatMessage(self, p, f):
        state = self._chat(p["chat_id"])
        refusal = self._pin_refusal(state)
        if refusal:
            raise ApiError(400, refusal)
        message = self.messages.get((state.chat["id"], int(p["message_id"])))
        if message is None:
            raise ApiError(400, "Bad Request: message to pin not found")
        state.pinned = message["message_id"]
        return True

    def _m_unpinChatMessage(self, p, f):
        state = self._chat(p["chat_id"])
        refusal = self._pin_refusal(state)
        if refusal:
            raise ApiError(400, refusal)
        message_id = p.get("message_id")
        if message_id is not None and (state.chat["id"], int(message_id)) not in self.messages:
            raise ApiError(400, "Bad Request: message to unpin not found")
        state.pinned = None
        return True

    def _m_stopPoll(self, p, f):
        self._require_presence(p["chat_id"])
        state = self._chat(p["chat_id"])
        key = (state.chat["id"], int(p["message_id"]))
        message = self.messages.get(key)
        if message is None or "poll" not in message:
            raise ApiError(400, "Bad Request: poll not found")
        poll = message["poll"]
        period = poll.get("open_period")
        ended = (period and self.now() >= message["date"] + period) or (
            poll.get("close_date") and self.now() >= poll["close_date"]
        )
        if key not in self.bot_messages or poll["is_closed"] or ended:
            # only the bot's own poll, once ("poll can't be stopped": eternnoir/pyTelegramBotAPI
            # #896, for a poll already closed or not the bot's)
            raise ApiError(400, "Bad Request: poll can't be stopped")
        message["poll"]["is_closed"] = True
        return message["poll"]

    def _copy(self, p: dict[str, Any], message_id: int) -> dict[str, Any]:
        source = self.messages.get((int(p["from_chat_id"]), int(message_id)))
        if source is None:
            raise ApiError(400, "Bad Request: message to copy not found")
        # Bot API, copyMessage: "Service messages, paid media messages, giveaway messages,
        # giveaway winners messages, and invoice messages can't be copied. A quiz poll can be
        # copied only if the value of the field correct_option_id is known to the bot" (which
        # a forwarded quiz does not carry: Poll.correct_option_ids)
        poll = source.get("poll") or {}
        quiz_unknown = poll.get("type") == "quiz" and not (
            poll.get("correct_option_ids") or poll.get("is_closed")
        )
        if quiz_unknown or any(k in source for k in _NOT_COPIED):
            raise ApiError(400, "Bad Request: message can't be copied")
        if source.get("has_protected_content"):
            # a chat that restricts saving content, or a send with protect_content: "Service
            # messages and messages with protected content can't be forwarded" (forwardMessages)
            # nor copied (tdlib/td forward_messages skips what can_save_message refuses)
            raise ApiError(400, "Bad Request: message can't be copied")
        if (
            poll
            and not poll.get("is_anonymous", True)
            and self._chat(p["chat_id"]).chat["type"] == "channel"
        ):
            # as sendPoll: a channel's polls are anonymous (tdlib: can_send_message_content)
            raise ApiError(400, "Bad Request: non-anonymous polls can't be sent to channel chats")
        content = {
            k: v
            for k, v in source.items()
            if k
            not in {
                "message_id",
                "date",
                "chat",
                "from",
                "sender_chat",
                "reply_to_message",
                "reply_markup",
                "media_group_id",
                "forward_origin",
                "is_automatic_forward",
            }
        }
        if p.get("caption") is not None:
            content["caption"] = self._plain(p["caption"], p.get("parse_mode"))
        return self._outgoing(p, **content)

    def _m_copyMessage(self, p, f):
        return {"message_id": self._copy(p, p["message_id"])["message_id"]}

    def _m_copyMessages(self, p, f):
        """Bot API: "If some of the specified messages can't be found or copied, they are
        skipped": the answer has fewer ids, and an error only when nothing was copied."""
        _check_message_ids(p["message_ids"], increasing=True)
        copied, refusal = [], None
        for mid in p["message_ids"]:
            try:
                copied.append({"message_id": self._copy(p, mid)["message_id"]})
            except ApiError as exc:
                if exc.status != 400:
                    raise
                refusal = exc
        if not copied and refusal is not None:
            raise refusal
        return copied

    def _m_forwardMessage(self, p, f):
        return self._copy(p, p["message_id"])

    def _editable(self, p) -> dict[str, Any]:
        """The bot's own message to edit, as Telegram finds it: gone, or another's."""
        key = (int(p.get("chat_id", 0)), int(p.get("message_id", 0)))
        self._require_presence(key[0])
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if key not in self.bot_messages and message.get("from", {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        state = self._chat(key[0])
        if state.chat["type"] == "channel":
            # its own channel post only while it may post or edit there (tdlib/td
            # can_edit_message: can_edit_messages, or can_post_messages for outgoing posts)
            me = state.members.get(self.bot_id) or {}
            if me.get("status") != "creator" and not (
                me.get("status") == "administrator"
                and (me.get("can_post_messages") or me.get("can_edit_messages"))
            ):
                raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _m_editMessageText(self, p, f):
        message = self._editable(p)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = self._plain(p["text"], p.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if message.get("text") == text and message.get("reply_markup") == p.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"] = text
        if p.get("reply_markup"):
            message["reply_markup"] = p["reply_markup"]
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = self.now()
        return message

    def _m_editMessageReplyMarkup(self, p, f):
        message = self._editable(p)  # another's message "can't be edited", markup or not
        if message.get("reply_markup") == (p.get("reply_markup") or None):
            raise ApiError(400, "Bad Request: message is not modified")
        if p.get("reply_markup"):
            message["reply_markup"] = p["reply_markup"]
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = self.now()
        return message

    def _m_editMessageCaption(self, p, f):
        message = self._editable(p)
        if "text" in message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = self._plain(p.get("caption", ""), p.get("parse_mode"))
        if (message.get("caption") or "") == caption and message.get("reply_markup") == (
            p.get("reply_markup") or None
        ):
            raise ApiError(400, "Bad Request: message is not modified")
        if caption:
            message["caption"] = caption
        else:
            message.pop("caption", None)
        if p.get("reply_markup"):
            message["reply_markup"] = p["reply_markup"]
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = self.now()
        return message

    def _deletion_refusal(self, state: ChatState, message: dict[str, Any]) -> str | None:
        """Why Telegram refuses the bot deleting this message, or None. As tdlib/td decides it
        (td/telegram/MessagesManager.cpp: can_delete_channel_message, can_revoke_message,
        delete_messages) and as the Bot API documents it (core.telegram.org/bots/api
        #deletemessage): a bot deletes nothing 48 hours old, not even with the right; in a
        supergroup or channel others' messages need `can_delete_messages`, its own channel
        posts `can_post_messages`, and the chat's creation and topic creations never go
        ("message can't be deleted"; TDLib refuses message id 1, the creation message on
        Telegram but an ordinary one here); in a basic group it deletes others' messages only
        as an admin, in a private chat anything ("message can't be deleted for everyone",
        TDLib's wording, seen in backmeupplz/DeleteNudesBot#4)."""
        chat_type = state.chat["type"]
        age = self.now() - int(message.get("date", 0))
        own = (state.chat["id"], message["message_id"]) in self.bot_messages
        service = any(key in message for key in _SERVICE_KEYS)
        if chat_type in {"supergroup", "channel"}:
            if age >= _BOT_DELETE_WINDOW:  # eternnoir/pyTelegramBotAPI#1544, even as an admin
                return "Bad Request: message can't be deleted"
            if any(key in message for key in _UNDELETABLE_KEYS):
                return "Bad Request: message can't be deleted"
            me = state.members.get(self.bot_id) or {}
            if me.get("status") == "creator" or (
                me.get("status") == "administrator" and me.get("can_delete_messages")
            ):
                return None
            if not own:
                return "Bad Request: message can't be deleted"
            may_post = me.get("status") == "administrator" and me.get("can_post_messages")
            if (chat_type == "channel" or service) and not may_post:
                return "Bad Request: message can't be deleted"
            return None
        if age > _BOT_DELETE_WINDOW:
            return "Bad Request: message can't be deleted for everyone"
        if chat_type == "group":
            if (own and not service) or self.member_status(state.chat["id"], self.bot_id) in {
                "administrator",
                "creator",
            }:
                return None
            return "Bad Request: message can't be deleted for everyone"
        if "dice" in message and age < 86400:  # a private dice goes only after a day (docs)
            return "Bad Request: message can't be deleted for everyone"
        return None  # private: its own and the user's messages alike

    def _require_presence(self, chat_id: int | str) -> None:
        """A bot that left a group or channel, or was removed, acts on nothing there any more:
        its edits and deletions get the 403 its sends get."""
        state = self._chat(chat_id)
        if state.chat["type"] == "private":
            return
        refusal = self._send_refusal(state, {})
        if refusal is not None and refusal.status == 403:
            raise refusal

    def _m_deleteMessage(self, p, f):
        self._require_presence(p["chat_id"])
        state = self._chat(p["chat_id"])
        key = (state.chat["id"], int(p["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        refusal = self._deletion_refusal(state, message)
        if refusal:
            raise ApiError(400, refusal)
        del self.messages[key]
        return True

    def _m_deleteMessages(self, p, f):
        """Messages not found are skipped (Bot API docs; tdlib/telegram-bot-api Client.cpp
        process_delete_messages_query checks them with allow_empty); one that exists but may
        not be deleted refuses the whole call and nothing is deleted (tdlib/td
        MessagesManager::delete_messages checks every message before deleting any)."""
        self._require_presence(p["chat_id"])
        state = self._chat(p["chat_id"])
        _check_message_ids(p["message_ids"], increasing=False)
        keys = [(state.chat["id"], int(mid)) for mid in p["message_ids"]]
        found = [key for key in keys if key in self.messages]
        for key in found:
            refusal = self._deletion_refusal(state, self.messages[key])
            if refusal:
                raise ApiError(400, refusal)
        for key in found:
            del self.messages[key]
        return True

    def _m_getChat(self, p, f):
        state = self._chat(p["chat_id"])
        info = {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if state.linked_chat_id:
            info["linked_chat_id"] = state.linked_chat_id
        return {**state.chat, **info}

    def _m_createForumTopic(self, p, f):
        state = self._chat(p["chat_id"])
        root = self._new_topic(state.chat, p["name"], None)
        return {
            "message_thread_id": root["message_thread_id"],
            "name": p["name"],
            "icon_color": root["forum_topic_created"]["icon_color"],
        }

    def _m_getChatAdministrators(self, p, f):
        state = self._chat(p["chat_id"])
        if state.chat["type"] == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        return [
            self._complete_member(m)
            for m in state.members.values()
            if m["status"] in {"creator", "administrator"}
        ]

    @staticmethod
    def _user_id(p: dict[str, Any]) -> int:
        """A user's id as Telegram reads it (Client.cpp get_user_id): a channel's or group's
        negative id names no user."""
        user_id = int(p["user_id"])
        if user_id <= 0:
            raise ApiError(400, "Bad Request: invalid user_id specified")
        return user_id

    def _m_getChatMember(self, p, f):
        """A channel tells only its admins who subscribes ("member list is inaccessible" to a
        bot that is not one); the bot may always ask about itself."""
        user_id = self._user_id(p)
        state = self._chat(p["chat_id"])
        if state.chat["type"] == "channel" and user_id != self.bot_id:
            me = state.members.get(self.bot_id) or {}
            if me.get("status") not in {"administrator", "creator"}:
                raise ApiError(400, "Bad Request: member list is inaccessible")
        return self._member_dict(p["chat_id"], user_id)

    def _m_getChatMemberCount(self, p, f):
        return self._chat(p["chat_id"]).member_count

    # Member changes follow tdlib/telegram-bot-api (telegram-bot-api/Client.cpp, the
    # process_*_chat_member_query functions) and tdlib/td (td/telegram/DialogParticipantManager.cpp
    # set_channel_participant_status_impl and restrict_channel_participant): a change to the
    # status the member already has succeeds without asking for rights; the owner is never
    # restricted, banned or demoted ("can't remove chat owner", TelegramBots/Telegram.Bot#1025);
    # then the bot needs `can_restrict_members` ("not enough rights to restrict/unrestrict chat
    # member", TelegramBots/Telegram.Bot#474); an administrator is refused by the server
    # (USER_ADMIN_INVALID: "user is an administrator of the chat", thedevs-network/
    # the-guard-bot#116). A non-member can be restricted or banned in advance.

    def _change_member(self, state: ChatState, user_id: int, new: dict[str, Any]) -> bool:
        """Give the member (or non-member) `new` status as Telegram would, or raise its refusal."""
        old = state.members.get(user_id) or {"status": "left", "user": self.user(user_id)}
        if self._same_status(old, new):
            return True
        if old["status"] == "creator":
            raise ApiError(400, "Bad Request: can't remove chat owner")
        if user_id == self.bot_id:
            raise ApiError(400, "Bad Request: can't restrict self")
        me = state.members.get(self.bot_id)
        if not me or me["status"] != "administrator" or not me.get("can_restrict_members"):
            raise ApiError(400, "Bad Request: not enough rights to restrict/unrestrict chat member")
        if old["status"] == "administrator":
            raise ApiError(400, "Bad Request: user is an administrator of the chat")
        if new["status"] == "left":
            state.members.pop(user_id, None)
        else:
            state.members[user_id] = {**new, "user": old["user"]}
        return True

    @staticmethod
    def _same_status(old: dict[str, Any], new: dict[str, Any]) -> bool:
        if old["status"] != new["status"]:
            return False
        if old["status"] in {"member", "left"}:
            return True
        keys = (set(old) | set(new)) - {"user"}
        return all(old.get(k) == new.get(k) for k in keys)

    @staticmethod
    def _is_member(member: dict[str, Any] | None) -> bool:
        if member is None:
            return False
        if member["status"] == "restricted":
            return bool(member.get("is_member", True))
        return member["status"] in {"member", "administrator", "creator"}

    def _require_supergroup(self, state: ChatState, *, channels: bool) -> None:
        kinds = {"supergroup", "channel"} if channels else {"supergroup"}
        if state.chat["type"] not in kinds:
            raise ApiError(
                400,
                "Bad Request: method is available for supergroup and channel chats only"
                if channels
                else "Bad Request: method is available only for supergroups",
            )

    def _m_restrictChatMember(self, p, f):
        state = self._chat(p["chat_id"])
        self._require_supergroup(state, channels=False)
        user_id = self._user_id(p)
        is_member = self._is_member(state.members.get(user_id))
        permissions = p["permissions"]
        if all(permissions.get(k) for k in _ALL_PERMISSIONS):
            # every permission: no restriction left (tdlib/td DialogParticipantStatus::Restricted)
            new: dict[str, Any] = {"status": "member" if is_member else "left"}
        else:
            new = {
                "status": "restricted",
                "is_member": is_member,
                "until_date": int(p.get("until_date") or 0),
                **{k: bool(v) for k, v in permissions.items()},
            }
        return self._change_member(state, user_id, new)

    def _m_banChatMember(self, p, f):
        state = self._chat(p["chat_id"])
        user_id = self._user_id(p)
        if state.chat["type"] == "group":  # a basic group has no ban list: the member is removed
            self._change_member(state, user_id, {"status": "left"})
            return True
        new = {"status": "kicked", "until_date": int(p.get("until_date") or 0)}
        return self._change_member(state, user_id, new)

    def _m_unbanChatMember(self, p, f):
        state = self._chat(p["chat_id"])
        self._require_supergroup(state, channels=True)
        user_id = self._user_id(p)
        member = state.members.get(user_id)
        if p.get("only_if_banned") and (member is None or member["status"] != "kicked"):
            return True  # Client.cpp answers True without touching a member who is not banned
        return self._change_member(state, user_id, {"status": "left"})

    def _sender_chat_ban(self, p) -> tuple[ChatState, int]:
        """banChatSenderChat and unbanChatSenderChat: a supergroup or channel, and the bot
        needs `can_restrict_members` there (Bot API: "The bot must be an administrator in the
        supergroup or channel for this to work and must have the appropriate administrator
        rights")."""
        state = self._chat(p["chat_id"])
        self._require_supergroup(state, channels=True)
        me = state.members.get(self.bot_id) or {}
        if me.get("status") != "creator" and not (
            me.get("status") == "administrator" and me.get("can_restrict_members")
        ):
            raise ApiError(400, "Bad Request: not enough rights to restrict/unrestrict chat member")
        sender = int(p["sender_chat_id"])
        if sender >= 0:  # a user's id names no chat to ban as a sender
            raise ApiError(400, "Bad Request: invalid sender_chat_id specified")
        return state, sender

    def _m_banChatSenderChat(self, p, f):
        state, sender = self._sender_chat_ban(p)
        state.banned_senders.add(sender)
        return True

    def _m_unbanChatSenderChat(self, p, f):
        state, sender = self._sender_chat_ban(p)
        state.banned_senders.discard(sender)
        return True

    def _m_promoteChatMember(self, p, f):
        """Client.cpp process_promote_chat_member_query; tdlib/td promote_channel_participant
        asks for `can_promote_members` ("Not enough rights")."""
        state = self._chat(p["chat_id"])
        self._require_supergroup(state, channels=True)
        user_id = int(p["user_id"])
        old = state.members.get(user_id) or {"status": "left", "user": self.user(user_id)}
        if old["status"] == "creator":
            raise ApiError(400, "Bad Request: can't remove chat owner")
        if user_id == self.bot_id:
            raise ApiError(400, "Bad Request: can't promote self")
        me = state.members.get(self.bot_id)
        if not me or me["status"] != "administrator" or not me.get("can_promote_members"):
            raise ApiError(400, "Bad Request: not enough rights")
        rights = {k: bool(v) for k, v in p.items() if k.startswith("can_") or k == "is_anonymous"}
        if any(rights.values()):
            state.members[user_id] = self._admin_member(
                old["user"], **{k: rights.get(k, False) for k in _ADMIN_RIGHTS}
            )
        elif old["status"] == "administrator":
            state.members[user_id] = {"status": "member", "user": old["user"]}
        return True

    def _invite_rights(self, chat_id) -> ChatState:
        state = self._chat(chat_id)
        me = state.members.get(self.bot_id)
        if not me or me["status"] != "administrator" or not me.get("can_invite_users"):
            raise ApiError(400, "Bad Request: not enough rights to manage chat invite links")
        return state

    def _link_options(self, p, info: dict[str, Any]) -> None:
        name = p.get("name")
        if name is not None and _units(name) > 32:
            raise ApiError(400, "Bad Request: invite link name is too long")
        if p.get("member_limit") is not None and p.get("creates_join_request"):
            raise ApiError(400, "Bad Request: can't use both member limit and join request")
        for key in ("name", "expire_date", "member_limit"):
            if p.get(key) is not None:
                info[key] = p[key]
        info["creates_join_request"] = bool(p.get("creates_join_request"))

    def _m_createChatInviteLink(self, p, f):
        state = self._invite_rights(p["chat_id"])
        tail = hashlib.sha256(f"{state.chat['id']}:{len(self.invite_links)}".encode()).digest()
        link = "https://t.me/+" + base64.urlsafe_b64encode(tail)[:16].decode()
        info = {
            "invite_link": link,
            "creator": self.bot_user,
            "is_primary": False,
            "is_revoked": False,
            "chat_id": state.chat["id"],
        }
        self._link_options(p, info)
        self.invite_links[link] = info
        return {k: v for k, v in info.items() if k != "chat_id"}

    def _bot_link(self, p) -> dict[str, Any]:
        state = self._invite_rights(p["chat_id"])
        info = self.invite_links.get(p["invite_link"])
        if info is None or info["chat_id"] != state.chat["id"]:
            raise ApiError(400, "Bad Request: INVITE_HASH_EXPIRED")
        return info

    def _m_editChatInviteLink(self, p, f):
        info = self._bot_link(p)
        if info["is_revoked"]:
            raise ApiError(400, "Bad Request: INVITE_HASH_EXPIRED")
        self._link_options(p, info)
        return {k: v for k, v in info.items() if k != "chat_id"}

    def _m_revokeChatInviteLink(self, p, f):
        info = self._bot_link(p)
        info["is_revoked"] = True
        return {k: v for k, v in info.items() if k != "chat_id"}

    def _m_getFile(self, p, f):
        if p["file_id"] not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, content = self.files[p["file_id"]]
        if len(content) > 20 * 1024 * 1024:  # bots download at most 20 MB
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": p["file_id"],
            "file_unique_id": f"u{p['file_id']}",
            "file_size": len(content),
            "file_path": path,
        }


_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(?:#x([0-9a-fA-F]+)|#([0-9]+)|([a-zA-Z]+));")


def _html_unescape(text: str) -> str:
    """Telegram decodes only &lt; &gt; &amp; &quot; and numeric references; any other `&` stays
    as it is (tdlib/td MessageEntity.cpp decode_html_entity)."""

    def decode(match: re.Match[str]) -> str:
        hex_, dec, name = match.groups()
        if name is not None:
            return _HTML_ENTITIES.get(name, match.group(0))
        code = int(hex_, 16) if hex_ is not None else int(dec)
        return chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else match.group(0)

    return _HTML_ENTITY_RE.sub(decode, text)


def parse_html(text: str) -> str:
    """The text of an HTML-formatted message as Telegram parses it (tdlib/td MessageEntity.cpp,
    parse_html), refusing what Telegram refuses with its words ("can't parse entities: ..."):
    an unknown tag, a start tag or end tag with no `>`, an end tag with no open tag, tags closed
    out of order, a tag left open, `<span>` without class "tg-spoiler"; byte offsets count UTF-8
    bytes, as Telegram's do. A user's `<` or `>` in an interpolated name breaks a message there
    as it breaks it here."""

    def refuse(reason: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {reason}")

    def offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    out: list[str] = []
    open_tags: list[str] = []
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if char != "<":
            end = text.find("<", i)
            end = size if end < 0 else end
            out.append(_html_unescape(text[i:end]))
            i = end
            continue
        begin = i
        if i + 1 < size and text[i + 1] == "/":
            close = text.find(">", i)
            if close < 0:
                raise refuse(f"Unclosed end tag at byte offset {offset(begin)}")
            name = text[i + 2 : close].strip().lower()
            if not open_tags:
                raise refuse(f"Unexpected end tag at byte offset {offset(begin)}")
            if name != open_tags[-1]:
                raise refuse(
                    f"Unmatched end tag at byte offset {offset(begin)}, expected "
                    f'"</{open_tags[-1]}>", found "</{name}>"'
                )
            open_tags.pop()
            i = close + 1
            continue
        i += 1
        while i < size and not text[i].isspace() and text[i] != ">":
            i += 1
        if i == size:
            raise refuse(f"Unclosed start tag at byte offset {offset(begin)}")
        name = text[begin + 1 : i].lower()
        if name not in _HTML_TAGS:
            raise refuse(f'Unsupported start tag "{name}" at byte offset {offset(begin)}')
        attributes: dict[str, str] = {}
        while True:
            while i < size and text[i].isspace():
                i += 1
            if i == size:
                raise refuse(f"Unclosed start tag at byte offset {offset(begin)}")
            if text[i] == ">":
                break
            start = i
            while i < size and (text[i].isalnum() or text[i] in "-_"):
                i += 1
            attribute = text[start:i].lower()
            if not attribute:
                raise refuse(
                    f'Empty attribute name in the tag "{name}" at byte offset {offset(begin)}'
                )
            while i < size and text[i].isspace():
                i += 1
            if i < size and text[i] != "=":
                if name == "blockquote" and attribute == "expandable":
                    attributes[attribute] = ""  # the one attribute without a value
                    continue
                raise refuse(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {offset(begin)}"
                )
            i += 1
            while i < size and text[i].isspace():
                i += 1
            if i == size:
                raise refuse(f"Unclosed start tag at byte offset {offset(begin)}")
            if text[i] in "\"'":
                quote = text[i]
                close = text.find(quote, i + 1)
                if close < 0:
                    raise refuse(f"Unclosed start tag at byte offset {offset(begin)}")
                value = text[i + 1 : close]
                i = close + 1
            else:  # an unquoted value is a name token: letters, digits, "." and "-"
                start = i
                while i < size and (text[i].isalnum() or text[i] in ".-"):
                    i += 1
                if i < size and not text[i].isspace() and text[i] != ">":
                    raise refuse(f"Unexpected end of name token at byte offset {offset(start)}")
                value = text[start:i].lower()
            attributes[attribute] = _html_unescape(value)
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise refuse(f'Tag "span" must have class "tg-spoiler" at byte offset {offset(begin)}')
        if name == "tg-emoji" and not (
            attributes.get("emoji-id", "").isdigit() and 0 < int(attributes["emoji-id"]) < 2**63
        ):
            raise refuse("Invalid custom emoji identifier specified")
        open_tags.append(name)
        i += 1
    if open_tags:
        raise refuse(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(out)


_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _button_url_ok(url: str) -> bool:
    """An inline button opens an http(s) address with a host, or a tg:// link; anything else
    (no host, a space, another scheme) is "BUTTON_URL_INVALID"."""
    if not url or any(c.isspace() for c in url):
        return False
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme == "tg":
        return bool(parts.netloc)
    host = parts.hostname or ""
    return parts.scheme in {"http", "https"} and "." in host and not host.endswith(".")


def _check_message_ids(message_ids: list[Any], *, increasing: bool) -> None:
    """A list of 1-100 message ids; copyMessages and forwardMessages want them "in a strictly
    increasing order" (Bot API), or the call is refused."""
    if not message_ids:
        raise ApiError(400, "Bad Request: message identifiers are not specified")
    if len(message_ids) > 100:
        raise ApiError(400, "Bad Request: too many message identifiers specified")
    ids = [int(mid) for mid in message_ids]
    if any(mid <= 0 for mid in ids):
        raise ApiError(400, "Bad Request: invalid message identifier specified")
    if increasing and any(a >= b for a, b in itertools.pairwise(ids)):
        raise ApiError(
            400, "Bad Request: message identifiers must be in a strictly increasing order"
        )


def _units(text: str) -> int:
    """Telegram counts a text's length in UTF-16 code units: an emoji outside the basic plane
    is two, so 4,096 of them would be 8,192 and refused."""
    return len(text.encode("utf-16-le")) // 2


def check_chat_id(chat_id: int, type_: str) -> None:
    """Telegram's id shapes: users positive, basic groups small negative, supergroups and
    channels "-100" followed by the internal id. A test with another shape is not Telegram."""
    if type_ == "private":
        ok = chat_id > 0
    elif type_ == "group":
        ok = _MIN_SUPERGROUP_ID < chat_id < 0
    else:
        ok = chat_id < _MIN_SUPERGROUP_ID
    if not ok:
        raise ValueError(f"{chat_id} is not a Telegram id for a {type_} chat")


class ApiError(Exception):
    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters
