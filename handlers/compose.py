"""Composing posts from a phone: a manager sends anything to the bot, picks channels, a time and
options with buttons, and confirms. The draft lives in the database, so a restart before Confirm
loses nothing; the panel is drawn from the draft row on every press (`bot.posting.panel`). One
handler per panel button; what a press changes is `bot.posting.drafts.DraftService`'s business.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, ReplyParameters
from aiogram.utils.i18n import gettext as _

from bot.commands import on_command
from bot.config import Settings
from bot.filters import manager_content, typed_answer
from bot.guards import accessible_message, button_message, sender
from bot.posting.albums import AlbumCollector, album_lead
from bot.posting.compose import (
    TIME_PRESETS,
    ButtonError,
    Refusal,
    parse_url_buttons,
    summarize,
)
from bot.posting.drafts import DraftOption, DraftService
from bot.posting.failures import failure_reason
from bot.posting.panel import (
    ComposeAction,
    ComposeCallback,
    button_error_text,
    panel_keyboard,
    panel_text,
    refusal_text,
    scheduled_text,
    slot_problem,
)
from bot.posting.publisher import send_preview
from bot.posting.replies import copy_refusal, not_queued_text, time_error_text
from bot.posting.service import Change, PostingService
from bot.posting.times import TimeError
from bot.roles import Requirement
from bot.texts import ALERT_LIMIT, cut_to
from bot.waits import EditPost, wait_for
from storage.posts import Draft, TimeChoice

logger = logging.getLogger(__name__)

MANAGER = {"role": Requirement.MANAGER}


class ComposeInput(StatesGroup):
    custom_time = State()
    url_buttons = State()


async def show_panel(
    bot: Bot, draft: Draft, compose: DraftService, settings: Settings, page: int = 0
) -> int:
    """A fresh panel under the conversation (the old one is removed), so after typing a time or
    buttons the manager does not have to scroll up on a phone; at the `page` of channels the
    manager was on."""
    channels = await compose.channels()
    sent = await bot.send_message(
        draft.source_chat_id,
        panel_text(draft, channels, settings),
        reply_markup=panel_keyboard(draft, channels, page),
        reply_parameters=ReplyParameters(
            message_id=draft.source_message_ids[0], allow_sending_without_reply=True
        ),
    )
    if draft.panel_message_id:
        with suppress(TelegramAPIError):  # already gone; the new panel is what counts
            await bot.delete_message(draft.source_chat_id, draft.panel_message_id)
    return sent.message_id


async def new_draft(
    message: Message,
    bot: Bot,
    albums: AlbumCollector,
    compose: DraftService,
    settings: Settings,
) -> None:
    messages = await albums.collect(message)
    if messages is None:  # a later part of an album: its first part answers
        return
    if (refusal := copy_refusal(messages)) is not None:
        await message.reply(refusal)
        return
    draft = await compose.new(
        sender(message).id, message.chat.id, [m.message_id for m in messages], summarize(messages)
    )
    if not await compose.channels():
        await message.reply(
            _("No channels yet: make me an admin of a channel, or use /channel_add @channel.")
        )
    panel_id = await show_panel(bot, draft, compose, settings)
    await compose.update(draft.id, panel_message_id=panel_id)


# --- the panel's buttons ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Press:
    """One press on a manager's own draft's panel, with what its handler may need."""

    query: CallbackQuery
    draft: Draft
    op: ComposeAction
    arg: int
    page: int  # of the channels: the panel is redrawn at it
    bot: Bot
    state: FSMContext
    compose: DraftService
    settings: Settings

    async def ask(self, state: State, text: str) -> None:
        """The next message the manager types answers `text`."""
        now = self.compose.posting.now()
        await wait_for(self.state, state, now, draft_id=self.draft.id, page=self.page)
        await button_message(self.query).answer(text)
        await self.query.answer()

    async def stop_asking(self, question: State | None = None) -> None:
        """The draft no longer needs what was asked about it (`question`, or anything): the
        next message is not read as that answer (a new post would be taken for a time)."""
        asked = await self.state.get_state()
        if asked is None or (question is not None and asked != question.state):
            return
        if (await self.state.get_data()).get("draft_id") == self.draft.id:
            await self.state.clear()


PanelAction = Callable[[Press], Awaitable[bool]]  # True: redraw the panel and answer the press


def panel_handler(act: PanelAction) -> Callable[..., Awaitable[None]]:
    """The press is checked (the draft exists and is the presser's) before `act` runs."""

    async def handler(
        query: CallbackQuery,
        callback_data: ComposeCallback,
        bot: Bot,
        state: FSMContext,
        compose: DraftService,
        settings: Settings,
    ) -> None:
        draft = await compose.get(callback_data.draft, manager_id=query.from_user.id)
        if draft is None:
            await query.answer(_("This draft is gone. Send the post again."), show_alert=True)
            return
        op, arg = callback_data.op, callback_data.arg
        page = arg if op is ComposeAction.PAGE else callback_data.page
        press = Press(query, draft, op, arg, page, bot, state, compose, settings)
        if await act(press):
            await redraw(press)
            await query.answer()

    handler.__name__ = handler.__qualname__ = act.__name__
    return handler


async def redraw(press: Press) -> None:
    draft = await press.compose.get(press.draft.id)
    if draft is None:  # discarded meanwhile (another tap): no panel left to redraw
        return
    channels = await press.compose.channels()
    try:
        await accessible_message(press.query).edit_text(
            panel_text(draft, channels, press.settings),
            reply_markup=panel_keyboard(draft, channels, press.page),
        )
    except TelegramAPIError as exc:  # "not modified" on a double tap
        logger.debug("panel not edited: %s", exc)


async def channel_pressed(press: Press) -> bool:
    await press.compose.toggle_channel(press.draft, press.arg)
    return True


async def page_pressed(press: Press) -> bool:
    return True  # ◀ ▶: the same panel, another page of channels


async def time_pressed(press: Press) -> bool:
    choice = TIME_PRESETS[press.arg] if 0 <= press.arg < len(TIME_PRESETS) else TimeChoice.CUSTOM
    if choice is TimeChoice.CUSTOM:
        await press.ask(
            ComposeInput.custom_time,
            _(
                "Send the time in {tz}: 18:30, tomorrow 10:00, 25.12 18:00, "
                "2026-12-25 18:00, +30m or +2h; to repeat it: daily 09:00, weekly mon 10:00 "
                "or five cron fields. /cancel to stop."
            ).format(tz=press.settings.timezone.key),
        )
        return False
    try:
        due = await press.compose.set_time(press.draft, choice)
    except TimeError as exc:
        await press.query.answer(time_error_text(exc.code), show_alert=True)
        return False
    if due is None:
        await press.query.answer(slot_problem(press.draft.channels), show_alert=True)
        return False
    await press.stop_asking(ComposeInput.custom_time)
    return True


async def option_pressed(press: Press) -> bool:
    """Silent, Pin, Delete after: each press flips or cycles the option."""
    option = {ComposeAction.SILENT: DraftOption.SILENT, ComposeAction.PIN: DraftOption.PIN}
    await press.compose.toggle(press.draft, option.get(press.op, DraftOption.DELETE_AFTER))
    return True


async def buttons_pressed(press: Press) -> bool:
    await press.ask(
        ComposeInput.url_buttons,
        _(
            "Send the buttons, one row per line: Text - https://example.com\n"
            "Several on one row: A - https://a.example | B - https://b.example\n"
            "Send - to remove the buttons, /cancel to stop."
        ),
    )
    return False


async def preview_pressed(press: Press) -> bool:
    """Exactly what the channel will get, sent to the manager; if Telegram will not copy it
    (the manager deleted the message meanwhile), why, instead of an apology."""
    try:
        await send_preview(press.bot, press.draft)
    except TelegramBadRequest as exc:
        reason = failure_reason(exc.message, _)
        await press.query.answer(
            cut_to(_("I can't show it: {reason}").format(reason=reason), ALERT_LIMIT),
            show_alert=True,
        )
        return False
    await press.query.answer()
    return False


async def discard_pressed(press: Press) -> bool:
    if await press.compose.discard(press.draft.id):
        await press.stop_asking()
        await accessible_message(press.query).edit_text(
            _("✖️ Draft discarded. The message above stays here.")
        )
    await press.query.answer()
    return False


async def confirm_pressed(press: Press) -> bool:
    """Validate, then turn the draft into one queued post per channel, exactly once."""
    done = await press.compose.confirm(press.draft)
    if done is None:  # a second tap on Confirm
        await press.query.answer()
        return False
    plan = done.plan
    if plan.refusal is not None:
        await press.query.answer(refusal_text(plan, press.draft), show_alert=True)
        if plan.refusal is Refusal.LOST_CHANNEL:  # that channel is off the panel now
            await redraw(press)
        return False
    await press.stop_asking()
    text = scheduled_text(done.post_ids, plan, press.settings)
    await accessible_message(press.query).edit_text(text)
    await press.query.answer(_("Scheduled."))
    return False


PANEL_ACTIONS: dict[ComposeAction, PanelAction] = {
    ComposeAction.CHANNEL: channel_pressed,
    ComposeAction.TIME: time_pressed,
    ComposeAction.SILENT: option_pressed,
    ComposeAction.PIN: option_pressed,
    ComposeAction.DELETE_AFTER: option_pressed,
    ComposeAction.BUTTONS: buttons_pressed,
    ComposeAction.PREVIEW: preview_pressed,
    ComposeAction.CONFIRM: confirm_pressed,
    ComposeAction.DISCARD: discard_pressed,
    ComposeAction.PAGE: page_pressed,
}


# --- typed answers ------------------------------------------------------------------------------


async def update_draft(
    message: Message,
    bot: Bot,
    state: FSMContext,
    compose: DraftService,
    settings: Settings,
    **fields: object,
) -> None:
    """What a manager typed for a draft goes into it, and a fresh panel shows the result."""
    data = await state.get_data()
    await state.clear()
    draft = await compose.update(data.get("draft_id", 0), **fields)
    if draft is None:
        await message.reply(_("This draft is gone. Send the post again."))
        return
    panel_id = await show_panel(bot, draft, compose, settings, data.get("page", 0))
    await compose.update(draft.id, panel_message_id=panel_id)


async def custom_time_given(
    message: Message, bot: Bot, state: FSMContext, compose: DraftService, settings: Settings
) -> None:
    try:
        fields = compose.custom_fields(message.text or "")
    except TimeError as exc:
        await message.reply(time_error_text(exc.code, waiting=True))
        return  # still waiting
    await update_draft(message, bot, state, compose, settings, **fields)


async def url_buttons_given(
    message: Message, bot: Bot, state: FSMContext, compose: DraftService, settings: Settings
) -> None:
    text = (message.text or "").strip()
    if text == "-":
        buttons = None
    else:
        try:
            buttons = parse_url_buttons(text)
        except ButtonError as exc:
            await message.reply(button_error_text(exc))
            return  # still waiting
    await update_draft(message, bot, state, compose, settings, buttons=buttons)


async def new_content_given(
    message: Message, state: FSMContext, albums: AlbumCollector, posting: PostingService
) -> None:
    """Edit from /queue: the next message (or album) replaces the post's content."""
    messages = await albums.collect(message)
    if messages is None:
        return
    if (refusal := copy_refusal(messages)) is not None:  # still waiting for the content
        await message.reply(refusal)
        return
    data = await state.get_data()
    await state.clear()
    post_id = data.get("post_id", 0)
    ids = [m.message_id for m in messages]
    changed = await posting.replace_content(post_id, ids, summarize(messages), message.chat.id)
    if changed is not Change.DONE:
        await message.reply(not_queued_text(post_id, changed))
        return
    await message.reply(_("✏️ Post #{id} now has this content.").format(id=post_id))


async def cancel_input(message: Message, state: FSMContext) -> None:
    if await state.get_state() is None:
        await message.reply(_("Nothing to cancel."))
        return
    await state.clear()
    await message.reply(_("Cancelled."))


def create_router() -> Router:
    """Buttons of the compose panel, and the catch-all that turns a manager's message into a
    draft. Registered after every other private-chat feature, so it never shadows them."""
    router = Router(name="compose")
    for action, act in PANEL_ACTIONS.items():
        router.callback_query.register(
            panel_handler(act), ComposeCallback.filter(F.op == action), flags=MANAGER
        )
    on_command(router.message, cancel_input, "cancel")
    # an album sent while a time or buttons are awaited is one wrong answer, not one a photo
    typed = (
        (custom_time_given, ComposeInput.custom_time),
        (url_buttons_given, ComposeInput.url_buttons),
    )
    for given, question in typed:
        router.message.register(
            given, StateFilter(question), typed_answer, album_lead, flags=MANAGER
        )
    router.message.register(
        new_content_given, StateFilter(EditPost.content), typed_answer, flags=MANAGER
    )
    router.message.register(new_draft, manager_content, StateFilter(None), flags=MANAGER)
    return router
