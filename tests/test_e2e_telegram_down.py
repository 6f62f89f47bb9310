"""End-to-end: Telegram unreachable in the middle of a run. The outbound layer gives up on a
getUpdates after its tries; polling must then go on (aiogram backs off), not stop the bot."""

from __future__ import annotations

import asyncio

from tests.fake_telegram import FakeTelegram
from tests.harness import RunningBot


async def test_polling_outlives_an_outage_longer_than_the_retries(
    steward: RunningBot, fake: FakeTelegram
):
    user = fake.user(731, "Ria", language_code="nl")
    chat = fake.private_chat(user)
    await fake.send_message(chat, user, "/help")
    await fake.wait_for("sendMessage")
    # more failures than one call's tries: 500s, then dropped connections, then a flood wait
    fake.fail("getUpdates", 502, times=6)
    fake.fail("getUpdates", drop=True)
    fake.fail("getUpdates", 429, retry_after=1)
    polls = fake.polls
    for _ in range(600):  # every failure consumed: the bot kept polling through them all
        if not fake.failures.get("getUpdates") and fake.polls > polls + 8:
            break
        await asyncio.sleep(0.1)
    assert not fake.failures.get("getUpdates"), fake.failures.get("getUpdates")
    await fake.send_message(chat, user, "/help")
    answer = await fake.wait_for("sendMessage", timeout=30)
    assert answer["text"].startswith("Commando's")
    assert steward.task is not None and not steward.task.done()
