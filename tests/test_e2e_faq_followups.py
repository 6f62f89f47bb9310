"""End-to-end: an FAQ answer after it was given: votes pressed again, questions edited."""

from __future__ import annotations

from tests.test_e2e_faq import GROUP, add_hours, bot_env, venue  # noqa: F401 (fixtures)
from tests.test_e2e_posting import labelled


def last_in(fake, chat_id: int) -> dict:
    return fake.messages[(chat_id, max(m for c, m in fake.messages if c == chat_id))]


async def test_a_vote_is_thanked_once_and_a_changed_vote_says_so(steward, fake, venue):
    """The first 👍 is thanked; pressing it again says the vote is there already (before: thanked
    once more, as if it counted again); 👎 afterwards changes the vote and says so, quietly, in
    the member's language."""
    await add_hours(fake, steward, venue)
    await venue.say(venue.member, "what time are you open on saturday?")
    await fake.wait_for("sendMessage", lambda c: c["chat_id"] == GROUP and "9:00" in c.plain)
    await steward.idle()
    answer = last_in(fake, GROUP)
    toasts = []
    for who, button in (
        (venue.member, "👍"),
        (venue.member, "👍"),
        (venue.member, "👎"),
        (venue.russian, "👎"),
        (venue.russian, "👍"),
    ):
        mark = fake.mark()
        await fake.press_button(answer, who, labelled(answer, button))
        toast = await fake.wait_for("answerCallbackQuery", since=mark)
        assert not toast.get("show_alert")
        toasts.append(toast["text"])
        await steward.idle()
    assert toasts == [
        "Thanks for the feedback!",
        "You voted 👍 already.",
        "Your vote is now 👎.",
        "Спасибо за отзыв!",
        "Теперь ваш голос: 👍.",
    ]
    [entry] = await steward.app.faq.repo.visible_in(GROUP)
    assert (entry.up, entry.down) == (1, 1)
