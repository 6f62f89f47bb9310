"""A double tap makes Telegram refuse the second edit ("message is not modified"): the bot takes
that as done, answers the button and does not apologise for an error."""

from __future__ import annotations

from tests.harness import MANAGER_ID
from tests.test_e2e_posting import compose, desk, labelled, message_starting  # noqa: F401


async def test_double_tap_on_cancel_is_answered_without_an_error(steward, fake, desk):  # noqa: F811
    chat, manager = desk
    await compose(fake, desk, "+1h")
    await fake.send_message(chat, manager, "/queue")
    listed = await fake.wait_for("sendMessage", lambda c: c.plain.startswith("🕒 #1"))
    message = message_starting(fake, MANAGER_ID, "🕒 #1")
    cancel = labelled(listed, "Cancel")
    first = await fake.press_button(message, manager, cancel)
    await fake.wait_for("answerCallbackQuery", lambda c: c["callback_query_id"] == first)
    mark = fake.mark()
    again = await fake.press_button(message, manager, cancel)  # same markup: not modified
    second = await fake.wait_for("answerCallbackQuery", lambda c: c["callback_query_id"] == again)
    assert second["text"] == "Cancel post #1? Press again to confirm."
    await steward.idle()
    apologies = [c for c in fake.calls_of("sendMessage", mark) if "went wrong" in c.plain]
    assert not apologies
    assert fake.calls_of("editMessageReplyMarkup", mark)  # it was tried, and refused
