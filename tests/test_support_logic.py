"""The support desk and FAQ answering without Telegram: relay outcomes, routes, blocks, "Add to
FAQ", and what `FaqService.answer` decides for each way a question arrives."""

from __future__ import annotations

import pytest

from bot.faq.service import Asked, EditRefusal, FaqService, ReplyKind
from bot.roles import Roles
from bot.support.service import (
    RELAY_LIMIT,
    DeskAccess,
    FaqAddOutcome,
    Question,
    RelayOutcome,
    SupportService,
)
from storage.database import Database
from storage.faq import Answer, FaqRepository, SupportRepository

LANGS = ("en", "ru", "nl")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path):
    database = Database(tmp_path / "support.sqlite3")
    await database.open()
    yield database
    await database.close()


def question(member: int = 7, chat: int = -100, text: str = "how do I pay?") -> Question:
    return Question(member, "Ann", "en", chat, 10, text)


async def english() -> str:
    return "en"


async def locale_for(_chat_id: int) -> str:
    return "en"


async def test_relay_outcomes_route_block_and_limit(db):
    clock = Clock()
    desk = SupportService(SupportRepository(db), None, clock)
    assert (await desk.open(question())).outcome is RelayOutcome.NO_SUPPORT
    await desk.set_route(-100, -200)
    plan = await desk.open(question())
    assert (plan.outcome, plan.support_chat_id) == (RelayOutcome.SENT, -200)
    await desk.relayed(plan.ticket_id, -200, 55)
    assert (await desk.ticket_for_reply(-200, 55)).id == plan.ticket_id
    assert await desk.member_to_block(-200, "", 55) == 7  # the replied-to ticket's member
    assert await desk.member_to_block(-200, "42", None) == 42
    assert await desk.member_to_block(-200, "", 56) is None
    await desk.block(7, by=1)
    assert (await desk.open(question())).outcome is RelayOutcome.BLOCKED
    assert await desk.unblock(7)
    for _ in range(RELAY_LIMIT - 1):
        assert (await desk.open(question())).outcome is RelayOutcome.SENT
    assert (await desk.open(question())).outcome is RelayOutcome.LIMITED
    assert (await desk.open(question())).outcome is RelayOutcome.STILL_LIMITED  # told once
    clock.now += 601  # the window has passed
    assert (await desk.open(question())).outcome is RelayOutcome.SENT


async def test_staff_chats_include_the_default_and_every_route(db):
    desk = SupportService(SupportRepository(db), -300)
    await desk.set_route(-100, -200)
    assert await desk.staff_chats() == {-200, -300}
    assert await desk.is_staff_chat(-300) and await desk.is_staff_chat(-200)
    assert not await desk.is_staff_chat(-100)
    assert await desk.support_chat_for(-100) == -200
    assert await desk.support_chat_for(-999) == -300


async def test_a_desks_staff_is_decided_in_one_place(db):
    """Who may /block where: a support chat's admins and managers; a private desk's owner,
    manager or not; elsewhere an admin or manager hears the chat is no desk, anyone else is
    refused as not staff (a member in their own private chat too)."""
    desk = SupportService(SupportRepository(db), 5)  # one helper's private chat is the desk
    await desk.set_route(-100, -200)
    member, admin, manager = Roles(False, False), Roles(False, True), Roles(True, False)
    assert await desk.desk_access(-200, False, admin) is DeskAccess.STAFF
    assert await desk.desk_access(-200, False, manager) is DeskAccess.STAFF
    assert await desk.desk_access(-200, False, member) is DeskAccess.NOT_STAFF
    assert await desk.desk_access(5, True, member) is DeskAccess.STAFF  # the desk's owner
    assert await desk.desk_access(6, True, member) is DeskAccess.NOT_STAFF  # their own chat
    assert await desk.desk_access(6, True, manager) is DeskAccess.NOT_A_DESK
    assert await desk.desk_access(-100, False, admin) is DeskAccess.NOT_A_DESK
    assert await desk.desk_access(-100, False, member) is DeskAccess.NOT_STAFF


async def test_add_to_faq_once_in_the_questions_language(db):
    desk = SupportService(SupportRepository(db), -300)
    faq = FaqService(FaqRepository(db))
    plan = await desk.open(question(text="как оплатить заказ картой?"))
    add = (plan.ticket_id, -300, 1, faq, LANGS, locale_for)
    assert (await desk.add_to_faq(*add)).outcome is FaqAddOutcome.NOT_TEXT  # no answer yet
    assert (await desk.add_to_faq(plan.ticket_id, -1, 1, faq, LANGS, locale_for)).outcome is (
        FaqAddOutcome.GONE  # pressed outside its support chat
    )
    ticket = await desk.repo.get(plan.ticket_id)
    await desk.answered(ticket, 1, -300, 77, "Картой на сайте.")
    added = await desk.add_to_faq(*add)
    assert added.outcome is FaqAddOutcome.ADDED
    entry = await faq.entry(added.entry_id)
    assert entry.language == "ru" and entry.chat_id == -100
    assert entry.answers["ru"].text == "Картой на сайте."
    again = await desk.add_to_faq(*add)
    assert (again.outcome, again.entry_id) == (FaqAddOutcome.ALREADY, added.entry_id)


async def test_add_to_faq_stores_the_question_without_mentions_or_links(db):
    """ "Add to FAQ" learns what was asked, not whom the member called or what they linked
    (before: "@venue_admin how do I pay? https://shop.example/cart" was stored whole); a
    message that is only a link has no question to learn."""
    desk = SupportService(SupportRepository(db), -300)
    faq = FaqService(FaqRepository(db))
    for text, outcome in (
        ("@venue_admin how do I pay by card? https://shop.example/cart", FaqAddOutcome.ADDED),
        ("t.me/venue_chat/55 @venue_admin", FaqAddOutcome.NOT_TEXT),
    ):
        plan = await desk.open(question(text=text))
        ticket = await desk.repo.get(plan.ticket_id)
        await desk.answered(ticket, 1, -300, 77, "On the website.")
        added = await desk.add_to_faq(plan.ticket_id, -300, 1, faq, LANGS, locale_for)
        assert added.outcome is outcome
    [entry] = await faq.all_entries()
    assert [t for _l, t in entry.phrasings] == ["how do I pay by card?"]


async def test_answer_depends_on_how_the_question_arrived(db):
    repo = FaqRepository(db)
    faq = FaqService(repo)
    entry_id = await faq.add_entry(
        -100, "en", [("en", "What is the wifi password?")], Answer("en", "guest123"), None
    )
    sure = await faq.answer("what is the wifi password?", -100, "en", english, Asked.GROUP)
    assert (sure.kind, sure.entry.id, sure.answer.text) == (ReplyKind.ANSWER, entry_id, "guest123")
    await faq.remember(-100, sure, 500)
    repeat = await faq.answer("what is the wifi password?", -100, "en", english, Asked.GROUP)
    assert (repeat.kind, repeat.previous_message_id) == (ReplyKind.REPEAT, 500)
    # another chat does not see this chat's entry; in private only global entries answer
    other = await faq.answer("what is the wifi password?", -101, "en", english, Asked.GROUP)
    assert other.kind is ReplyKind.NONE
    private = await faq.answer("what is the wifi password?", None, "en", english, Asked.PRIVATE)
    assert private.kind is ReplyKind.NONE


async def test_only_a_chats_admin_or_a_manager_edits_an_entry(db):
    faq = FaqService(FaqRepository(db))
    local = await faq.add_entry(-100, "en", [("en", "Q one?")], Answer("en", "A"), None)
    shared = await faq.add_entry(None, "en", [("en", "Q two?")], Answer("en", "B"), None)
    assert (await faq.editable("x", -100, False, True))[1] is EditRefusal.NOT_AN_ID
    assert (await faq.editable(f"#{local}", -100, False, True))[0].id == local
    assert (await faq.editable(str(local), -101, False, True))[1] is EditRefusal.NOT_HERE
    assert (await faq.editable(str(shared), -100, False, True))[1] is EditRefusal.SHARED
    assert (await faq.editable(str(shared), -100, True, False))[0].id == shared
    assert await faq.delete_entry(local)
    assert (await faq.editable(str(local), -100, False, True))[1] is EditRefusal.NOT_HERE
    assert await faq.restore_entry(local) and not await faq.restore_entry(local)


def test_a_long_question_becomes_a_wording_of_its_last_sentences():
    from bot.support.service import faq_wording

    assert faq_wording("  is there a cloakroom?  ") == "is there a cloakroom?"
    story = "We come by train. " * 30
    assert (
        faq_wording(story + "Is there a cloakroom? And lockers?")
        == ("We come by train. " * 14 + "Is there a cloakroom? And lockers?").strip()
    )
    wording = faq_wording("x" * 50 + " word" * 100)
    assert wording == ("word " * 60).strip()
    assert len(faq_wording("y" * 400)) == 300  # no space to cut at
