"""What a chat's id alone tells: Telegram numbers supergroups and channels -100…, basic groups
with smaller negative numbers, users and bots with positive ones. Only a basic group is ever
upgraded to a supergroup, and only a supergroup takes restrictions, unbans and topics."""

from __future__ import annotations

SUPERGROUP_IDS_BELOW = -1_000_000_000_000  # supergroups and channels are -100…


def is_basic_group(chat_id: int) -> bool:
    """A basic group's id: negative, above the -100… range of supergroups and channels."""
    return SUPERGROUP_IDS_BELOW < chat_id < 0
