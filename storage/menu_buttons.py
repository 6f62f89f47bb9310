"""The calendar menu button each user was given (see bot.miniapp.menu)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database


@dataclass(frozen=True, slots=True)
class MenuButtonState:
    url: str
    locale: str


class MenuButtonRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> dict[int, MenuButtonState]:
        rows = await self.db.fetchall("SELECT user_id, url, locale FROM menu_buttons")
        return {r["user_id"]: MenuButtonState(r["url"], r["locale"]) for r in rows}

    async def record(self, user_id: int, state: MenuButtonState, now: int) -> None:
        await self.db.execute(
            "INSERT INTO menu_buttons(user_id, url, locale, set_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET url=excluded.url, locale=excluded.locale, "
            "set_at=excluded.set_at",
            (user_id, state.url, state.locale, now),
        )

    async def forget(self, user_id: int) -> None:
        await self.db.execute("DELETE FROM menu_buttons WHERE user_id=?", (user_id,))
