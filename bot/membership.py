"""What a chat member's status says: whether they are in the chat, and whether an update
took them in or out. Plain Python, read by campaigns, statistics, moderation, giveaways and
the support desk alike."""

from __future__ import annotations

from enum import StrEnum

MEMBER_STATUSES = frozenset({"member", "administrator", "creator"})


class MembershipChange(StrEnum):
    JOIN = "join"
    LEAVE = "leave"


def is_member(status: str, restricted_is_member: bool | None = None) -> bool:
    """A restricted user is in the chat only while `is_member` says so."""
    if status == "restricted":
        return bool(restricted_is_member)
    return status in MEMBER_STATUSES


def membership_change(
    was_member: bool, now_member: bool, is_bot: bool = False
) -> MembershipChange | None:
    """A join or a leave of a person; a bot an admin adds or removes is neither: the
    community did not grow or shrink (campaigns and /stats both leave bots out)."""
    if is_bot:
        return None
    if not was_member and now_member:
        return MembershipChange.JOIN
    if was_member and not now_member:
        return MembershipChange.LEAVE
    return None
