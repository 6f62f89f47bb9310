"""Drafts composed on a phone: what each panel button changes, and Confirm turning a draft
into one queued post per channel, exactly once (a second tap finds the draft gone)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import utc_now
from bot.posting.compose import (
    Refusal,
    SchedulePlan,
    next_delete_after,
    next_free_slot,
    plan_schedule,
    preset_time,
)
from bot.posting.service import PostingService, ScheduleTime
from bot.posting.times import parse_recurrence
from storage.posts import Channel, Draft, DraftRepository, TimeChoice

logger = logging.getLogger(__name__)


class DraftOption(StrEnum):
    """The panel's on/off and cycling options."""

    SILENT = "silent"
    PIN = "pin"
    DELETE_AFTER = "delete_after"  # cycles through DELETE_AFTER_STEPS


@dataclass(frozen=True, slots=True)
class Confirmed:
    """Confirm's result: the checked plan (its `refusal` set when nothing was queued) and the
    queued post ids, one per planned channel in the plan's order."""

    plan: SchedulePlan
    post_ids: list[int] = field(default_factory=list)


class DraftService:
    def __init__(self, drafts: DraftRepository, posting: PostingService, tz: ZoneInfo) -> None:
        self.drafts = drafts
        self.posting = posting
        self.tz = tz

    async def new(
        self, manager_id: int, chat_id: int, message_ids: list[int], summary: dict[str, Any]
    ) -> Draft:
        draft_id = await self.drafts.add(
            manager_id, chat_id, message_ids, summary, self.posting.now()
        )
        draft = await self.drafts.get(draft_id)
        assert draft is not None
        return draft

    async def get(self, draft_id: int, manager_id: int | None = None) -> Draft | None:
        """The draft; with `manager_id`, only that manager's own."""
        draft = await self.drafts.get(draft_id)
        if draft is None or (manager_id is not None and draft.manager_id != manager_id):
            return None
        return draft

    async def update(self, draft_id: int, **fields: Any) -> Draft | None:
        """The draft after the change, or None when it is gone."""
        if await self.drafts.get(draft_id) is None:
            return None
        await self.drafts.update(draft_id, **fields)
        return await self.drafts.get(draft_id)

    async def album_of(self, chat_id: int, message_id: int) -> Draft | None:
        """The album a message of `chat_id` was collected into (its draft), if still there."""
        draft = await self.drafts.containing(chat_id, message_id)
        return draft if draft is not None and len(draft.source_message_ids) > 1 else None

    async def discard(self, draft_id: int) -> bool:
        """False for a second tap: the draft was already discarded or scheduled."""
        return await self.drafts.delete(draft_id)

    async def channels(self) -> list[Channel]:
        return await self.posting.postable_channels()

    # --- the panel's buttons ------------------------------------------------------------------

    async def toggle_channel(self, draft: Draft, channel_id: int) -> None:
        await self.drafts.update(draft.id, channels=sorted(set(draft.channels) ^ {channel_id}))
        if draft.time_choice == TimeChoice.SLOT:  # slots are per channel: look again
            await self.drafts.update(draft.id, due_at=None, time_choice=None)

    async def set_time(self, draft: Draft, choice: TimeChoice) -> datetime | None:
        """A time button other than Custom: its moment, saved; None when Next free slot finds
        no free slot. Raises TimeError for a preset that has passed."""
        if choice == TimeChoice.SLOT:
            due = await self.first_free_slot(draft.channels)
            if due is None:
                return None
        else:
            due = preset_time(choice, self._utc_now(), self.tz)
        await self.drafts.update(
            draft.id, due_at=int(due.timestamp()), time_choice=choice, recurrence=None
        )
        return due

    async def toggle(self, draft: Draft, option: DraftOption) -> None:
        """Silent, Pin, and Delete after (which cycles through its steps)."""
        if option is DraftOption.SILENT:
            await self.drafts.update(draft.id, silent=not draft.silent)
        elif option is DraftOption.PIN:
            await self.drafts.update(draft.id, pin=not draft.pin)
        else:
            after = next_delete_after(draft.delete_after_hours)
            await self.drafts.update(draft.id, delete_after_hours=after)

    # --- slots and Confirm --------------------------------------------------------------------

    def _utc_now(self) -> datetime:
        return utc_now(self.posting.clock)

    def custom_time(self, text: str) -> ScheduleTime:
        """A custom time typed for the draft, in the managers' zone, or a recurrence with its
        first occurrence, as /schedule reads them; raises `TimeError`."""
        return self.posting.schedule_time(text, self.tz)

    def custom_fields(self, text: str) -> dict[str, Any]:
        """`custom_time` as the draft's fields: its first time, Custom…, and its recurrence."""
        timing = self.custom_time(text)
        return {
            "due_at": int(timing.due.timestamp()),
            "time_choice": TimeChoice.CUSTOM,
            "recurrence": timing.recurrence.spec if timing.recurrence else None,
        }

    async def channel_slot(self, channel_id: int, now: datetime | None = None) -> datetime | None:
        now = now or self._utc_now()
        slots = await self.posting.channel_slots(channel_id)
        taken = {t for _c, t in await self.posting.taken_times([channel_id], int(now.timestamp()))}
        return next_free_slot(slots, taken, now, self.tz)

    async def first_free_slot(self, channel_ids: list[int]) -> datetime | None:
        """The earliest of the channels' own next free slots (each channel gets its own at
        Confirm); None unless every channel has one."""
        found = [due for c in channel_ids if (due := await self.channel_slot(c)) is not None]
        if not channel_ids or len(found) < len(channel_ids):
            return None
        return min(found)

    async def confirm(self, draft: Draft) -> Confirmed | None:
        """Checked by `plan_schedule`, then queued; None when another tap already did it."""
        now = self._utc_now()
        if draft.recurrence and draft.due_at is not None and draft.due_at <= now.timestamp():
            # a repeating post's first occurrence passed while the panel waited: the next one
            following = parse_recurrence(draft.recurrence, self.tz).next_after(now)
            if following is not None:
                draft = replace(draft, due_at=int(following.timestamp()))
        channels = await self.posting.all_channels()
        slots: dict[int, datetime | None] = {}
        if draft.time_choice == TimeChoice.SLOT:
            for channel_id in draft.channels:
                slots[channel_id] = await self.channel_slot(channel_id, now)
        plan = plan_schedule(draft, channels, slots, now)
        if plan.refusal is Refusal.LOST_CHANNEL:  # off the draft: its button is gone too
            lost = {c.chat_id for c in plan.channels}
            await self.drafts.update(
                draft.id, channels=[c for c in draft.channels if c not in lost]
            )
        if plan.refusal is not None:
            return Confirmed(plan)
        rows = [
            {
                "channel_id": channel.chat_id,
                "source_chat_id": draft.source_chat_id,
                "source_message_ids": draft.source_message_ids,
                "due_at": plan.dues[channel.chat_id],
                "created_by": draft.manager_id,
                "silent": draft.silent,
                "pin": draft.pin,
                "delete_after_hours": draft.delete_after_hours,
                "buttons": draft.buttons,
                "recurrence": draft.recurrence,
                "summary": draft.summary,
            }
            for channel in plan.channels
        ]
        # the draft becomes its posts in one write: a stop in between loses neither
        ids = await self.posting.queue_draft(draft.id, self.drafts, rows)
        return None if ids is None else Confirmed(plan, ids)  # None: a second tap on Confirm
