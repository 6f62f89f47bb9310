"""Inline buttons shared by the queue, the compose panel and the publisher's notices."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.posting.failures import MAYBE_OUT
from storage.posts import Post, PostStatus


class QueueOp(StrEnum):
    NOW = "now"  # publish now (Retry for a failed post)
    LATER = "later"  # reschedule: the next message is the new time
    EDIT = "edit"  # the next message is the new content
    CANCEL = "cancel"  # asks for confirmation
    SURE = "sure"  # confirmed cancel
    KEEP = "keep"  # changed their mind: the post's buttons come back
    OUT = "out"  # a send not confirmed was made after all: record it as published


class QueueCallback(CallbackData, prefix="q"):
    op: QueueOp
    post_id: int


class QueuePage(CallbackData, prefix="qp"):
    page: int


def post_keyboard(post: Post) -> InlineKeyboardMarkup:
    """A queued post's buttons as /queue shows them (Retry for a failed one, "It is out" for
    one whose send was not confirmed)."""
    unconfirmed = post.status is PostStatus.NEEDS_DECISION and post.error in MAYBE_OUT.values()
    return queue_keyboard(post.id, retry=post.status is PostStatus.FAILED, out=unconfirmed)


def queue_keyboard(
    post_id: int, *, retry: bool = False, edit: bool = True, out: bool = False
) -> InlineKeyboardMarkup:
    """Publish now / Reschedule / Edit / Cancel for one post; a failed post's first button
    says Retry, which is the same action. `out`: the post may be in the channel already (its
    send was not confirmed), and "It is out" records it as published once the manager saw it."""
    builder = InlineKeyboardBuilder()
    first = _("🔁 Retry") if retry else _("▶️ Publish now")
    builder.button(text=first, callback_data=QueueCallback(op=QueueOp.NOW, post_id=post_id))
    builder.button(
        text=_("🕒 Reschedule"), callback_data=QueueCallback(op=QueueOp.LATER, post_id=post_id)
    )
    if edit:
        builder.button(
            text=_("✏️ Edit"), callback_data=QueueCallback(op=QueueOp.EDIT, post_id=post_id)
        )
    builder.button(
        text=_("✖️ Cancel"), callback_data=QueueCallback(op=QueueOp.CANCEL, post_id=post_id)
    )
    if out:
        builder.button(
            text=_("✅ It is out"), callback_data=QueueCallback(op=QueueOp.OUT, post_id=post_id)
        )
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def cancel_keyboard(post_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Yes, cancel it"), callback_data=QueueCallback(op=QueueOp.SURE, post_id=post_id)
    )
    builder.button(
        text=_("No, keep it"), callback_data=QueueCallback(op=QueueOp.KEEP, post_id=post_id)
    )
    return builder.as_markup()


def page_keyboard(page: int, pages: int) -> InlineKeyboardMarkup | None:
    """◀ and ▶ around the current page; None when there is only one."""
    if pages <= 1:
        return None
    builder = InlineKeyboardBuilder()
    if page > 1:
        builder.button(
            text=_("◀ Page {page}").format(page=page - 1), callback_data=QueuePage(page=page - 1)
        )
    if page < pages:
        builder.button(
            text=_("Page {page} ▶").format(page=page + 1), callback_data=QueuePage(page=page + 1)
        )
    return builder.as_markup()
