"""Every way a moderator's command can fail, as one enum: the argument parser, the target
check and Telegram's refusals all name one of these, and the handler words it
(`handlers/moderation/common.py`, `error_text`)."""

from __future__ import annotations

from enum import StrEnum


class Problem(StrEnum):
    NO_TARGET = "no_target"  # no reply and no @username or id
    BAD_DURATION = "bad_duration"
    BAD_LIMIT = "bad_limit"  # /setwarnlimit's arguments
    UNKNOWN_USER = "unknown_user"  # an @username the bot has never seen
    TARGET_ADMIN = "target_admin"  # admins (and the chat itself) are never acted on
    SELF = "self"  # the bot itself
    CHANNEL_KICK = "channel_kick"  # a channel identity can be banned, not kicked
    CHANNEL_RESTRICT = "channel_restrict"  # nor muted or warned: Telegram restricts users only
    NO_RIGHTS = "no_rights"  # the bot lacks the admin rights
    SUPERGROUP_ONLY = "supergroup_only"  # Telegram restricts and unbans in supergroups only
    NOT_FOUND = "not_found"  # the member or message is not in the chat
    UNDELETABLE = "undeletable"  # a message no bot may delete: 48 hours old, some service ones
    NOT_BANNED = "not_banned"  # an /unban of someone who is not banned
    NOT_MUTED = "not_muted"  # an /unmute of someone who may write already
    BANNED = "banned"  # a mute of a banned member: it would replace (lift) the ban
    TELEGRAM = "telegram"  # any other refusal, shown as Telegram worded it


# the reasons of an automatic rule's entry when Telegram refused the bot for want of rights,
# and of a flood's entry in a basic group, where Telegram lets no bot mute (stored as these
# words, translated when read: `service.reason_label`)
NO_RIGHTS_REASON = "no_rights"
SUPERGROUP_REASON = "supergroup_only"
CAPTCHA_SUPERGROUP_REASON = "captcha_supergroup_only"  # nor restrict a newcomer there
