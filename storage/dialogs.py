"""The dialogue states a single-process bot keeps across restarts (see bot.cluster.dialogs)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from storage.database import Database


@dataclass(slots=True)
class DialogState:
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.state is None and not self.data


class DialogRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> dict[str, DialogState]:
        rows = await self.db.fetchall("SELECT fsm_key, state, data FROM dialog_states")
        return {r["fsm_key"]: DialogState(r["state"], json.loads(r["data"])) for r in rows}

    async def save(self, key: str, dialog: DialogState, now: int) -> None:
        """Written as it is now; an ended dialogue (no state, no data) leaves no row."""
        if dialog.empty:
            await self.db.execute("DELETE FROM dialog_states WHERE fsm_key=?", (key,))
            return
        await self.db.execute(
            "INSERT INTO dialog_states(fsm_key, state, data, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(fsm_key) DO UPDATE SET state=excluded.state, data=excluded.data, "
            "updated_at=excluded.updated_at",
            (key, dialog.state, json.dumps(dialog.data, ensure_ascii=False), now),
        )
