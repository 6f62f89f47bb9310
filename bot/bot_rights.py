"""What the bot still needs in a group to do its work, read off its own membership.

Telegram (Bot API FAQ "What messages will my bot get?"): a bot that is not an admin and has
privacy mode on gets only commands, replies to it and mentions, so as a plain member it cannot
check the chat; as an admin it still acts only with the rights to delete messages and to ban
(restrict) users. Nobody but the bot notices what it lacks, so it says so when that changes.
"""

from __future__ import annotations

from enum import Enum


class BotNeed(Enum):
    ADMIN = "admin"  # a plain (or restricted) member: sees only commands, replies, mentions
    DELETE = "delete"  # an admin without can_delete_messages
    BAN = "ban"  # an admin without can_restrict_members


class RightsNotice(Enum):
    ASK = "ask"  # tell the admins what is missing
    THANKS = "thanks"  # everything missing before is there now


def bot_needs(
    status: str, can_delete_messages: bool, can_restrict_members: bool
) -> frozenset[BotNeed] | None:
    """What the bot lacks with this membership; None when it is not in the chat at all."""
    if status in {"left", "kicked"}:
        return None
    if status == "creator":
        return frozenset()
    if status != "administrator":
        return frozenset({BotNeed.ADMIN})
    needs = set()
    if not can_delete_messages:
        needs.add(BotNeed.DELETE)
    if not can_restrict_members:
        needs.add(BotNeed.BAN)
    return frozenset(needs)


def rights_notice(
    old: frozenset[BotNeed] | None, new: frozenset[BotNeed] | None
) -> RightsNotice | None:
    """Whether a change of the bot's membership is worth a message in the group: only when what
    it lacks changed, and never once it is out of the chat (it could not write there)."""
    if new is None or new == old:
        return None
    if new:
        return RightsNotice.ASK
    if old:
        return RightsNotice.THANKS
    return None
