"""End-to-end: what the bot did wrong until the fake refused it as Telegram does (see
tests/test_fake_telegram_strict.py for the fake's rules)."""

from __future__ import annotations

from tests.test_e2e_compose import desk, press, type_answer  # noqa: F401  # desk: a fixture


async def test_a_button_link_telegram_refuses_is_refused_while_composing(steward, fake, desk):  # noqa: F811
    """Telegram refuses a URL button whose address has no real host ("BUTTON_URL_INVALID":
    http://localhost, http://intranet). The panel took it, and the post failed only when it
    was due; now the manager hears which line to fix while composing."""
    chat, manager = desk
    await fake.send_message(chat, manager, "Big news today")
    await fake.wait_for("sendMessage", lambda c: c.plain.startswith("📝 New post"))
    await steward.idle()
    await press(fake, steward, manager, "URL buttons")
    await fake.wait_for("sendMessage", lambda c: "one row per line" in c.plain)
    for text in ("Shop - http://localhost:8080/shop", "Wiki - https://intranet/wiki"):
        mark = fake.mark()
        await type_answer(fake, steward, chat, manager, text)
        wrong = await fake.wait_for("sendMessage", since=mark)
        assert wrong.plain.startswith("Line 1: the link"), (text, wrong.plain)
