"""Acting on members and messages: /mute, /unmute, /ban, /unban, /kick, /del, /purge, /spam,
/notspam, /approve and /unapprove. Every action goes through `ModerationService`."""

from __future__ import annotations

from aiogram.filters import CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.chat_ids import is_basic_group
from bot.moderation.args import ActionArgs
from bot.moderation.buttons import undo_keyboard
from bot.moderation.durations import format_duration
from bot.moderation.problems import Problem
from bot.moderation.service import (
    AuditAction,
    ModerationError,
    ModerationService,
    Target,
    Topic,
    UndoOutcome,
)
from bot.moderation.targets import TargetResolver, replied, subject_of
from bot.texts import typed_id
from bot.topics import thread_of
from handlers.moderation.common import (
    actor_of,
    error_text,
    on_target,
    reason_line,
)


@on_target(durations=("mute", "ban"))
async def restrict_command(
    message: Message, kind: str, target: Target, args: ActionArgs, moderation: ModerationService
) -> None:
    """/mute, /unmute, /ban, /unban and /kick: the command name is the action."""
    actor = actor_of(message)
    chat_id = message.chat.id
    try:
        if kind == "mute":
            action_id = await moderation.mute(chat_id, target, actor, args.duration, args.reason)
        elif kind == "ban":
            action_id = await moderation.ban(chat_id, target, actor, args.duration, args.reason)
        elif kind == "kick":
            action_id = await moderation.kick(chat_id, target, actor, args.reason)
        elif kind == "unmute":
            await moderation.unmute(chat_id, target, actor)
            action_id = None
        else:
            await moderation.unban(chat_id, target, actor)
            action_id = None
    except ModerationError as exc:
        await message.reply(error_text(exc.kind, token=exc.detail))
        return
    # Telegram bans channel identities until unbanned: no end date to show
    timed = args.duration if not target.is_chat else None
    duration = format_duration(timed) if timed else ""
    texts = {
        "mute": _("🔇 {name} is muted for {duration}.") if duration else _("🔇 {name} is muted."),
        "ban": _("🔨 {name} is banned for {duration}.") if duration else _("🔨 {name} is banned."),
        "kick": _("👢 {name} was removed; they may rejoin."),
        "unmute": _("🔊 {name} can write again."),
        "unban": _("🕊 {name} is unbanned and may rejoin."),
    }
    text = texts[kind].format(name=target.mention, duration=duration) + reason_line(args.reason)
    if kind == "ban" and is_basic_group(chat_id):
        text += "\n" + _(
            "This is a basic group: Telegram keeps no ban list here, so they may rejoin "
            "through an invite link."
        )
    markup = undo_keyboard(action_id) if action_id and kind != "kick" else None
    await message.reply(text, reply_markup=markup)


async def del_command(message: Message, moderation: ModerationService) -> None:
    reply = replied(message)
    if reply is None:
        await message.reply(_("Reply to the message you want to delete with /del."))
        return
    author = reply.from_user
    target = Target(author.id, author.full_name) if author else None
    try:
        await moderation.delete_or_explain(message.chat.id, reply.message_id)
    except ModerationError as exc:
        await message.reply(error_text(exc.kind, token=exc.detail))
        return
    await moderation.record(
        message.chat.id,
        actor_of(message),
        target,
        AuditAction.DELETE,
        message_id=reply.message_id,
        message_text=reply.text or reply.caption,
    )
    await moderation.delete(message.chat.id, message.message_id)


async def purge_command(message: Message, moderation: ModerationService) -> None:
    reply = replied(message)
    if reply is None:
        await message.reply(
            _(
                "Reply to the first message to delete with /purge; I delete "
                "everything from it up to the command."
            )
        )
        return
    topic = None
    if message.chat.is_forum:
        # the replied message's topic, as the reply tells it: known even if it came before
        # the bot noted topics
        await moderation.note_topic_message(message.chat.id, reply.message_id, thread_of(reply))
        topic = Topic(thread_of(message))
    try:
        purged = await moderation.purge(
            message.chat.id, reply.message_id, message.message_id, actor_of(message), topic
        )
    except ModerationError as exc:
        await message.reply(error_text(exc.kind, token=exc.detail))
        return
    count = purged.messages
    if purged.exact:
        text = ngettext(
            "🧹 Deleted {count} message.", "🧹 Deleted {count} messages.", count
        ).format(count=count)
    else:  # Telegram skips ids already gone without a word: they are in the count
        text = ngettext(
            "🧹 Deleted up to {count} message (Telegram does not say which of them were "
            "already gone).",
            "🧹 Deleted up to {count} messages (Telegram does not say which of them were "
            "already gone).",
            count,
        ).format(count=count)
    if purged.kept:
        text += " " + ngettext(
            "{count} message could not be deleted: Telegram lets bots delete only messages "
            "younger than 48 hours, and never some service messages.",
            "{count} messages could not be deleted: Telegram lets bots delete only messages "
            "younger than 48 hours, and never some service messages.",
            purged.kept,
        ).format(count=purged.kept)
    if topic is not None:
        text += " " + _(
            "Only this topic's messages were deleted; those of other topics, and any I did not "
            "see arrive, stay."
        )
    await message.answer(text)


async def spam_command(
    message: Message, targets: TargetResolver, moderation: ModerationService
) -> None:
    reply = replied(message)
    if reply is None:
        await message.reply(_("Reply to the spam message with /spam."))
        return
    target = subject_of(reply)
    if target is None:
        return
    refusal = await targets.refusal(message.chat.id, target)
    if refusal:
        await message.reply(error_text(refusal))
        return
    text = reply.text or reply.caption or ""
    actor = actor_of(message)
    try:  # the ban first: refused, the message stays for another try, nothing is half done
        action_id = await moderation.ban(
            message.chat.id,
            target,
            actor,
            None,
            _("spam"),
            rule="manual_spam",
            message_id=reply.message_id,
            message_text=text,
        )
    except ModerationError as exc:
        await message.reply(error_text(exc.kind, token=exc.detail))
        return
    await moderation.learn(text, True, actor)
    try:
        await moderation.delete_or_explain(message.chat.id, reply.message_id)
    except ModerationError as exc:
        if exc.kind is not Problem.NOT_FOUND:  # not found: someone deleted it already
            await message.reply(
                _(
                    "🚫 {name} is banned, and I will recognise such messages better now. "
                    "Their message stays: {why}"
                ).format(name=target.mention, why=error_text(exc.kind, token=exc.detail)),
                reply_markup=undo_keyboard(action_id),
            )
            return
    await message.answer(
        _(
            "🚫 Removed spam from {name} and banned them. I will recognise such messages "
            "better now."
        ).format(name=target.mention),
        reply_markup=undo_keyboard(action_id),
    )


async def notspam_command(
    message: Message, command: CommandObject, moderation: ModerationService
) -> None:
    reply = replied(message)
    actor = actor_of(message)
    action_id = typed_id(command.args or "")
    if action_id is not None:
        action = await moderation.action(action_id, chat_id=message.chat.id)
        if action is None:
            await message.reply(_("There is no action #{id} in this chat.").format(id=action_id))
            return
        try:
            outcome = await moderation.not_spam(action, actor)
        except ModerationError as exc:
            await message.reply(error_text(exc.kind, token=exc.detail))
            return
        if outcome is UndoOutcome.ALREADY:
            await message.reply(_("This was already undone."))
        elif outcome is UndoOutcome.UNSUPPORTED:
            await message.reply(_("This action cannot be undone."))
        elif action.message_text:
            await message.reply(_("↩️ Undone, and I learned that this message is not spam."))
        else:
            await message.reply(_("Undone."))
        return
    if reply is None or not (reply.text or reply.caption):
        await message.reply(
            _(
                "Reply to a message with /notspam, or give the number of a spam "
                "action from /modlog: /notspam 42."
            )
        )
        return
    await moderation.learn(reply.text or reply.caption or "", False, actor)
    await message.reply(_("Thanks, I learned that this message is not spam."))


@on_target()
async def approval_command(
    message: Message, kind: str, target: Target, _args: ActionArgs, moderation: ModerationService
) -> None:
    """/approve and /unapprove: approved members skip the automatic checks."""
    name = target.mention
    if kind == "approve":
        if await moderation.approve(message.chat.id, target, actor_of(message)):
            await message.reply(
                _("✅ {name} is approved: automatic checks skip them.").format(name=name)
            )
        else:
            await message.reply(_("{name} is already approved.").format(name=name))
    elif await moderation.unapprove(message.chat.id, target, actor_of(message)):
        await message.reply(_("{name} is no longer approved.").format(name=name))
    else:
        await message.reply(_("{name} was not approved.").format(name=name))
