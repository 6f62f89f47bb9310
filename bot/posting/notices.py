"""What the manager who queued a post hears when it did not simply go out: failed, missed while
the bot was down, held (the bot lost its rights in the channel), interrupted mid-publishing, or
out but not pinned, or not deleted at its delete-after, or an album out without its buttons'
follow-up.
In their language, with the post's queue buttons, through `PrivateNotes`. Also the managers'
daily agenda (DAILY_AGENDA) of the posts due in the next 24 hours."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.commands import N_
from bot.posting.buttons import queue_keyboard
from bot.posting.failures import MAYBE_OUT, NoticeReason, failure_reason
from bot.private import PrivateNotes
from bot.texts import pack_lines
from storage.posts import ChannelRepository, Post, PostRepository

# the post is out: nothing left to publish, move or cancel, so no buttons
OUT_NOTICES = (NoticeReason.NOT_PINNED, NoticeReason.NOT_DELETED, NoticeReason.NO_FOLLOWUP)

TEXTS = {
    NoticeReason.FAILED: N_("⚠️ Post #{id} for {channel} failed: {error}"),
    NoticeReason.MISSED: N_(
        "⏰ Post #{id} for {channel} was due while I was down; it waits for your decision."
    ),
    NoticeReason.HELD: N_(
        "⏸ Post #{id} is held: I can no longer post in {channel}. Give me the rights "
        "back, then publish or reschedule it in /queue."
    ),
    NoticeReason.NOT_PINNED: N_(
        "📌 Post #{id} is out in {channel}, but I could not pin it: {error}"
    ),
    NoticeReason.NOT_DELETED: N_(
        "🗑 Post #{id} is still in {channel}: I could not delete it when its time came "
        "({error}). Delete it there by hand if it should go."
    ),
    NoticeReason.NO_FOLLOWUP: N_(
        "🔗 Post #{id} is out in {channel}, but the message with its buttons under it is not: "
        "{error}"
    ),
    NoticeReason.UNCONFIRMED: N_(
        "⏸ Post #{id} for {channel} may already be out: the connection to Telegram broke "
        "while it was sent. I did not send it again; check the channel before publishing it."
    ),
    NoticeReason.SERVER_ERROR: N_(
        "⏸ Post #{id} for {channel} may already be out: Telegram answered its sending with a "
        "server error, which does not say whether it was made. I did not send it again; check "
        "the channel before publishing it."
    ),
    NoticeReason.INTERRUPTED: N_(
        "⏸ Post #{id} for {channel} was being published when I stopped; "
        "check the channel before publishing it again."
    ),
}


class PostNotices:
    """The publisher's `notify`: called with the post and why it needs the manager."""

    def __init__(
        self,
        posts: PostRepository,
        channels: ChannelRepository,
        notes: PrivateNotes,
        i18n: I18n,
        locale_for: Callable[[int], Awaitable[str]],
    ) -> None:
        self.posts = posts
        self.channels = channels
        self.notes = notes
        self.i18n = i18n
        self.locale_for = locale_for

    async def __call__(self, post: Post, reason: NoticeReason) -> None:
        if post.created_by is None:
            return
        locale = await self.locale_for(post.created_by)
        fresh = await self.posts.get(post.id)
        channel = await self.channels.get(post.channel_id)
        with self.i18n.context(), self.i18n.use_locale(locale):
            text = _(TEXTS[reason]).format(
                id=post.id,
                channel=html.escape((channel and channel.title) or str(post.channel_id)),
                error=html.escape(failure_reason(fresh.error if fresh else None, _) or "?"),
            )
            # a post that is out has nothing left to publish, move or cancel
            buttons = (
                None
                if reason in OUT_NOTICES
                else queue_keyboard(
                    post.id, retry=reason is NoticeReason.FAILED, out=reason in MAYBE_OUT
                )
            )
        await self.notes.send_message(post.created_by, text, reply_markup=buttons)

    async def agenda(self, manager_ids: Iterable[int], now: int, tz: ZoneInfo) -> None:
        """Each manager gets the posts due in the 24 hours from `now`, in local time."""
        posts = await self.posts.scheduled_between(now, now + 86400)
        names = {c.chat_id: c.title or str(c.chat_id) for c in await self.channels.all()}
        for manager_id in manager_ids:
            locale = await self.locale_for(manager_id)
            with self.i18n.context(), self.i18n.use_locale(locale):
                if posts:
                    lines = [_("🗓 Posts in the next 24 hours:")]
                    lines += [
                        f"{datetime.fromtimestamp(p.due_at, tz):%H:%M} · #{p.id} · "
                        f"{html.escape(names.get(p.channel_id, str(p.channel_id)))}"
                        for p in posts
                    ]
                    lines.append(_("Change them in /queue."))
                else:
                    lines = [_("🗓 No posts in the next 24 hours. Send me one to schedule it.")]
            for text in pack_lines(lines):  # a busy day is more than one message holds
                if not (await self.notes.send_message(manager_id, text)).delivered:
                    break
