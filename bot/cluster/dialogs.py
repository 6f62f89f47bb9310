"""A single process's dialogue state (what the bot waits for a person to type: the new time
after /queue's Reschedule, the content after Edit, a draft's custom time or URL buttons), kept
in the database so a restart does not forget the question. In memory such an answer, typed
after a restart, was read as something else (a new post to compose) without a word; with
REDIS_URL the shared Redis already keeps the state (bot.cluster.shared).

Reads come from memory: the table is read once, on the first update after start, and this
process is its only writer, so every later read is a dictionary look-up and only a change of
a dialogue costs a write."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey

from bot.clock import SYSTEM_CLOCK, Clock
from storage.dialogs import DialogRepository, DialogState


class DatabaseStorage(BaseStorage):
    def __init__(self, repo: DialogRepository, clock: Clock = SYSTEM_CLOCK) -> None:
        self.repo = repo
        self.clock = clock
        self.key_builder = DefaultKeyBuilder(prefix="fsm", with_bot_id=True, with_destiny=True)
        self._dialogs: dict[str, DialogState] | None = None
        self._loading = asyncio.Lock()

    async def _all(self) -> dict[str, DialogState]:
        if self._dialogs is None:
            async with self._loading:
                if self._dialogs is None:
                    self._dialogs = await self.repo.all()
        return self._dialogs

    async def _change(self, key: StorageKey, **change: Any) -> None:
        dialogs = await self._all()
        name = self.key_builder.build(key)
        current = dialogs.get(name, DialogState())
        dialog = DialogState(change.get("state", current.state), change.get("data", current.data))
        if dialog.empty:
            dialogs.pop(name, None)
        else:
            dialogs[name] = dialog
        await self.repo.save(name, dialog, int(self.clock()))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._change(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        dialog = (await self._all()).get(self.key_builder.build(key))
        return dialog.state if dialog else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            msg = f"Data must be a dict or dict-like object, got {type(data).__name__}"
            raise DataNotDictLikeError(msg)
        await self._change(key, data=data.copy())

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        dialog = (await self._all()).get(self.key_builder.build(key))
        return dialog.data.copy() if dialog else {}

    async def close(self) -> None:
        """aiogram closes its storage first at shutdown, while handlers may still run; the
        database is closed with the app, last."""
        return None
