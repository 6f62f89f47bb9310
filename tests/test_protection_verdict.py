"""The automatic rules' decision without Telegram: `evaluate` over a message's facts."""

from __future__ import annotations

from dataclasses import replace

from bot.moderation.protection import Fact, Facts, Step, evaluate
from bot.moderation.spam import SpamVerdict
from storage.moderation import ChatModSettings

SETTINGS = ChatModSettings(chat_id=-1, language_mode="enforce", languages="en")
SPAM = SpamVerdict(score=2.0, signals={"links": 1.0})


def steps(facts: Facts, settings: ChatModSettings = SETTINGS) -> list[Step]:
    return [a.step for a in evaluate(facts, settings).actions]


def test_a_blocklist_hit_is_removed_and_ends_the_chain():
    facts = Facts(text="buy now", blocklist_hit="buy", flooded=True, spam=SPAM, foreign="ru")
    verdict = evaluate(facts, SETTINGS)
    assert verdict.removed and [a.step for a in verdict.actions] == [Step.REMOVE]
    assert verdict.actions[0].details == {"filter": "buy"}
    warned = replace(SETTINGS, blocklist_warn=1)
    assert steps(facts, warned) == [Step.REMOVE, Step.WARN]
    assert steps(replace(facts, sender_is_chat=True), warned) == [Step.REMOVE]  # no warn


def test_log_only_rules_record_and_let_the_message_through():
    logging = replace(SETTINGS, blocklist_mode="log", flood_mode="log", spam_mode="log")
    facts = Facts(text="x", blocklist_hit="x", flooded=True, new_member=True, spam=SPAM)
    verdict = evaluate(facts, logging)
    assert [a.step for a in verdict.actions] == [Step.DETECT] * 3
    assert [a.rule for a in verdict.actions] == ["blocklist", "flood", "spam"]
    assert verdict.actions[2].score == 2.0
    assert not verdict.removed and verdict.count_clean


def test_a_flooders_message_stays_but_nothing_else_answers_it():
    verdict = evaluate(Facts(text="where can I park?", flooded=True), SETTINGS)
    assert [a.step for a in verdict.actions] == [Step.MUTE_FLOODER]
    assert verdict.silenced and not verdict.removed
    logged = evaluate(Facts(text="x", flooded=True), replace(SETTINGS, flood_mode="log"))
    assert not logged.silenced and not logged.removed  # log-only: the message goes on


def test_flood_mutes_but_spam_after_it_still_removes():
    verdict = evaluate(Facts(text="x", flooded=True, new_member=True, spam=SPAM), SETTINGS)
    assert [a.step for a in verdict.actions] == [Step.MUTE_FLOODER, Step.PUNISH_SPAMMER]
    assert verdict.removed and not verdict.count_clean


def test_foreign_language_and_album_parts():
    assert steps(Facts(text="x", foreign="ru")) == [Step.REMOVE, Step.LANGUAGE_NOTICE]
    assert evaluate(Facts(album_spam=True, blocklist_hit="x"), SETTINGS).actions[0].step is (
        Step.DELETE
    )
    assert evaluate(Facts(text="x", new_member=True, edited=True), SETTINGS).count_clean is False


def test_facts_are_gathered_in_rule_order_and_only_while_needed():
    facts = Facts(text="hello")
    order = []
    while (needed := facts.next_needed(SETTINGS)) is not None:
        order.append(needed)
        facts = replace(facts, gathered=facts.gathered | {needed})
    assert order == [Fact.BLOCKLIST, Fact.FLOOD, Fact.SPAM, Fact.LANGUAGE]
    removed = Facts(text="hello", blocklist_hit="hello", gathered=frozenset({Fact.BLOCKLIST}))
    assert removed.next_needed(SETTINGS) is None  # a removed message does not count as flood
    edited = Facts(text="", edited=True, gathered=frozenset({Fact.SPAM}))
    assert edited.next_needed(SETTINGS) is None  # no text, no flood count for edits
