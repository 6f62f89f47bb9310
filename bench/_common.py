"""Shared helpers for the benchmarks: an in-process Telegram session and update factories."""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# first, as in the bot: aiogram's types imported the way bot/__init__.py does it
from bot import lean_types as _lean_types  # noqa: F401

# isort: split

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import GetChatAdministrators, TelegramMethod
from aiogram.types import ChatMemberOwner, Message, Update, User

TOKEN = "123456:BENCH-token_abcdefghijklmnopqrstuvwx"
BOT_USER = User(id=123456, is_bot=True, first_name="Steward", username="steward_bench_bot")


class LocalSession(BaseSession):
    """Answers Bot API calls in-process, so a benchmark measures the bot, not the network."""

    def __init__(self, admins: dict[int, list[int]] | None = None) -> None:
        super().__init__()
        self.admins = admins or {}
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout=None) -> Any:
        self.calls.append(method.__api_method__)
        if isinstance(method, GetChatAdministrators):
            return [
                ChatMemberOwner(
                    user=User(id=uid, is_bot=False, first_name="Admin"), is_anonymous=False
                )
                for uid in self.admins.get(int(method.chat_id), [])
            ]
        if method.__returning__ is Message:
            chat_id = getattr(method, "chat_id", 0)
            return Message.model_validate(
                {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "chat": {
                        "id": chat_id,
                        "type": "supergroup" if int(chat_id) < 0 else "private",
                    },
                    "from": BOT_USER.model_dump(),
                    "text": getattr(method, "text", None) or "",
                }
            )
        if method.__api_method__ == "getMe":
            return BOT_USER
        return True

    async def close(self) -> None:
        return None

    async def stream_content(self, *args, **kwargs):  # pragma: no cover - unused
        raise NotImplementedError
        yield b""


HAM = [
    "Good morning everyone, how was your weekend?",
    "Does anyone know when the next release is planned?",
    "Thanks for the help yesterday, it worked",
    "Доброе утро! Кто идёт на встречу в субботу?",
    "Спасибо, теперь всё понятно",
    "Hoi allemaal, wie komt er vanavond ook?",
    "I think the new design looks great",
    "Can someone share the link to the docs?",
]


def group_message(
    update_id: int,
    chat_id: int,
    user_id: int,
    text: str,
    message_id: int | None = None,
    topic: int | None = None,
) -> dict[str, Any]:
    """A member's text message in a supergroup, as Telegram delivers it (JSON): benches that feed
    the dispatcher (group_message_update) and those that post to a webhook (bench/cluster.py)
    send the same message. `topic`: the chat is a forum and the message is in that topic, as
    Telegram marks it (`is_forum`, `message_thread_id`, `is_topic_message`)."""
    message: dict[str, Any] = {
        "message_id": update_id if message_id is None else message_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "supergroup", "title": "Bench group"},
        "from": {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "username": f"user{user_id}",
            "language_code": "en",
        },
        "text": text,
    }
    if topic is not None:
        message["chat"]["is_forum"] = True
        message["message_thread_id"] = topic
        message["is_topic_message"] = True
    return {"update_id": update_id, "message": message}


def group_message_update(
    update_id: int, chat_id: int, user_id: int, text: str, topic: int | None = None
) -> Update:
    return Update.model_validate(group_message(update_id, chat_id, user_id, text, topic=topic))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:.3f} ms, "
        f"p99 {percentile(values, 99) * 1000:.3f} ms"
    )


def spread(values: list[float], scale: float = 1.0, unit: str = "", digits: int = 1) -> str:
    """min / median / max of a benchmark's rounds."""
    return (
        f"min {min(values) * scale:.{digits}f}{unit} / median "
        f"{statistics.median(values) * scale:.{digits}f}{unit} / max "
        f"{max(values) * scale:.{digits}f}{unit}"
    )
