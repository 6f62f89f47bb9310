"""Private notes without Telegram: what each answer means and what is kept on the user."""

from __future__ import annotations

import logging

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiogram.types import MessageId

from bot.clock import FrozenClock
from bot.private import PrivateNotes, Reach, classify
from storage.chats import UserRepository
from storage.database import Database

METHOD = SendMessage(chat_id=5, text="hi")


@pytest.mark.parametrize(
    ("exc", "reach"),
    [
        (
            TelegramForbiddenError(
                METHOD, "Forbidden: bot can't initiate conversation with a user"
            ),
            Reach.NOT_STARTED,
        ),
        (TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user"), Reach.BLOCKED),
        (TelegramForbiddenError(METHOD, "Forbidden: user is deactivated"), Reach.DEACTIVATED),
        (TelegramBadRequest(METHOD, "Bad Request: chat not found"), Reach.NOT_STARTED),
        (TelegramBadRequest(METHOD, "Bad Request: can't parse entities"), Reach.FAILED),
        (TelegramServerError(METHOD, "Internal Server Error"), Reach.FAILED),
    ],
)
def test_telegrams_answers_are_classified(exc, reach):
    assert classify(exc) is reach


@pytest.fixture
async def users(db_target):
    db = Database(db_target)
    await db.open()
    yield UserRepository(db)
    await db.close()


async def test_each_try_is_kept_on_the_user_and_refusals_log_below_warning(users, caplog):
    notes = PrivateNotes(bot=None, users=users, clock=FrozenClock(1_800_000_000))
    calls = []

    async def refused():
        calls.append(1)
        raise TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user")

    async def sent():
        calls.append(1)
        return MessageId(message_id=42)

    caplog.set_level(logging.DEBUG)
    result = await notes.deliver(7, refused)  # a user the database never saw
    assert (result.reach, result.delivered, len(calls)) == (Reach.BLOCKED, False, 1)
    assert await users.private_status(7) == "blocked"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    result = await notes.deliver(7, sent)  # unblocked since
    assert (result.delivered, result.message_id) == (True, 42)
    assert await users.private_status(7) == "reachable" and await users.has_started(7)

    async def broken():
        raise TelegramServerError(METHOD, "Internal Server Error")

    result = await notes.deliver(7, broken)
    assert result.reach is Reach.FAILED
    assert await users.private_status(7) == "reachable"  # says nothing about the person


async def test_blocking_and_restarting_the_bot_update_the_users_record(steward, fake):
    user = fake.user(601, "Fay")
    chat = fake.private_chat(user)
    await fake.send_message(chat, user, "/start")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 601)
    users = steward.app.users

    def member(status: str) -> dict:
        extra = {"until_date": 0} if status == "kicked" else {}
        return {"status": status, "user": fake.bot_user, **extra}

    for old, new, expected in (("member", "kicked", "blocked"), ("kicked", "member", "reachable")):
        await fake.push_update(
            {
                "my_chat_member": {
                    "chat": chat,
                    "from": user,
                    "date": fake.now(),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            }
        )
        await steward.idle()
        assert await users.private_status(601) == expected
