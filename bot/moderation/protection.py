"""The automatic rules' decision, without Telegram: what a group message's facts call for.

`handlers.protection.ProtectionMiddleware` turns a message into `Facts` (gathered in rule order,
and only as far as needed: see `Facts.next_needed`), asks `evaluate` for a `Verdict`, and carries
out its steps in order. The rules, in the order they apply:

1. a part of an album already judged spam goes too;
2. the blocklist: a hit is removed (and its sender warned when the chat says so);
3. flood: the sender is muted (a channel identity banned); the message itself stays, but
   nothing else answers it (no FAQ answer or relay to the staff right after "muted for flooding");
4. spam from a new member: removed, the sender banned (or muted, as the chat chooses);
5. a foreign language: removed, with a notice naming the chat's languages.

Each rule is off, log-only (a "detect" record, the message stays) or enforced; the first rule
that removes the message ends the chain. A message nothing removed counts toward its sender's
clean messages, which end their "new member" status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.moderation.spam import SpamVerdict
from storage.moderation import ChatModSettings


class Step(StrEnum):
    DELETE = "delete"  # this part of an album judged spam: deleted, nothing recorded
    DETECT = "detect"  # log-only: recorded, the message stays
    REMOVE = "remove"  # deleted with its album, recorded as a delete
    WARN = "warn"  # the sender of a blocklisted message is warned
    MUTE_FLOODER = "mute_flooder"  # muted (a channel identity banned), with a notice
    PUNISH_SPAMMER = "punish_spammer"  # deleted with its album, the sender banned or muted
    LANGUAGE_NOTICE = "language_notice"  # "please write in this chat's language"


class Fact(StrEnum):
    """What may still have to be found out about a message, in rule order."""

    BLOCKLIST = "blocklist"
    FLOOD = "flood"
    SPAM = "spam"  # whether the sender is new, then the spam score
    LANGUAGE = "language"


@dataclass(frozen=True, slots=True)
class Action:
    step: Step
    rule: str = ""
    details: dict[str, Any] | None = None
    score: float | None = None
    reason: str | None = None  # a WARN's reason, as the member's warn list shows it


@dataclass(slots=True)
class Facts:
    """What is known about one message; a fact left None was not looked at.

    Filled in place as the facts are found (`learn`): a copy per fact, as a frozen record
    needs, cost every group message more than the rules themselves (bench/pipeline.py)."""

    text: str = ""
    edited: bool = False
    sender_is_chat: bool = False  # a channel or group identity, not a user
    album_spam: bool = False
    album_part: bool = False  # a later part of an album: the album counted as its first part
    blocklist_hit: str | None = None
    flooded: bool | None = None
    new_member: bool | None = None
    spam: SpamVerdict | None = None
    foreign: str | None = None  # the language detected, when not one of the chat's
    gathered: frozenset[Fact] = field(default_factory=frozenset)

    def next_needed(self, settings: ChatModSettings) -> Fact | None:
        """The next fact worth finding out, or None: every rule that could still apply has
        what it needs, or the message is removed already. Gathering lazily keeps a removed
        message from counting toward flood, and spares the spam model most messages."""
        if evaluate(self, settings).removed:
            return None
        for fact in RULE_ORDER:
            if fact not in self.gathered and applies(fact, self, settings):
                return fact
        return None

    def learn(self, fact: Fact) -> None:
        """`fact` is known now (its values set by the caller)."""
        self.gathered = self.gathered | {fact}


RULE_ORDER = tuple(Fact)  # iterating the enum class itself costs a generator per message


@dataclass(frozen=True, slots=True)
class Verdict:
    actions: tuple[Action, ...] = ()
    removed: bool = False  # gone: nothing else may answer the message
    count_clean: bool = False  # a new member's message that passed

    @property
    def silenced(self) -> bool:
        """The message stays, but nothing else answers it: its sender was just muted for it."""
        return any(action.step is Step.MUTE_FLOODER for action in self.actions)


_NOTHING = Verdict()
_COUNT_CLEAN = Verdict(count_clean=True)


def applies(fact: Fact, facts: Facts, settings: ChatModSettings) -> bool:
    """Whether a rule is on, and has something to look at, for this message."""
    match fact:
        case Fact.BLOCKLIST:
            return settings.blocklist_mode != "off" and bool(facts.text)
        case Fact.FLOOD:
            return settings.flood_mode != "off" and not facts.edited and not facts.album_part
        case Fact.SPAM:
            return settings.spam_mode != "off"
        case Fact.LANGUAGE:
            return (
                settings.language_mode != "off"
                and bool(settings.language_list)
                and bool(facts.text)
            )


def evaluate(facts: Facts, settings: ChatModSettings) -> Verdict:
    """The steps the known facts call for under the chat's settings."""
    if facts.album_spam:
        return Verdict((Action(Step.DELETE),), removed=True)
    actions: list[Action] = []
    hit = facts.blocklist_hit
    if hit and settings.blocklist_mode != "off":
        details: dict[str, Any] = {"filter": hit}
        if settings.blocklist_mode == "log":
            actions.append(Action(Step.DETECT, "blocklist", details))
        else:
            actions.append(Action(Step.REMOVE, "blocklist", details))
            if settings.blocklist_warn and not facts.sender_is_chat:
                actions.append(Action(Step.WARN, "blocklist", details, reason=f"blocklist: {hit}"))
            return Verdict(tuple(actions), removed=True)
    if facts.flooded and settings.flood_mode != "off":
        step = Step.DETECT if settings.flood_mode == "log" else Step.MUTE_FLOODER
        actions.append(Action(step, "flood"))
    spam = facts.spam
    if spam is not None and spam.is_spam and settings.spam_mode != "off":
        details = {"signals": spam.signals}
        if settings.spam_mode == "log":
            actions.append(Action(Step.DETECT, "spam", details, spam.score))
        else:
            actions.append(Action(Step.PUNISH_SPAMMER, "spam", details, spam.score))
            return Verdict(tuple(actions), removed=True)
    if facts.foreign and settings.language_mode != "off":
        details = {"language": facts.foreign}
        if settings.language_mode == "log":
            actions.append(Action(Step.DETECT, "language", details))
        else:
            actions.append(Action(Step.REMOVE, "language", details))
            actions.append(Action(Step.LANGUAGE_NOTICE, "language", details))
            return Verdict(tuple(actions), removed=True)
    clean = bool(facts.new_member) and not facts.edited and not facts.album_part
    if not actions:  # most messages: the shared verdicts, not a new one each
        return _COUNT_CLEAN if clean else _NOTHING
    return Verdict(tuple(actions), removed=False, count_clean=clean)
