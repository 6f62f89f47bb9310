"""Chats and users the bot has seen: who started the bot, which groups it is in."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database


@dataclass(frozen=True, slots=True)
class KnownChat:
    chat_id: int
    type: str
    title: str | None
    username: str | None
    language: str | None
    bot_status: str | None


class ChatRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert_chat(
        self, chat_id: int, type_: str, title: str | None, username: str | None
    ) -> None:
        await self.db.execute(
            "INSERT INTO chats(chat_id, type, title, username) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(chat_id) DO UPDATE SET type=excluded.type, title=excluded.title, "
            f"username=excluded.username, updated_at={self.db.sql.now_text}",
            (chat_id, type_, title, username),
        )

    async def set_bot_status(self, chat_id: int, status: str) -> None:
        await self.db.execute(
            f"UPDATE chats SET bot_status=?, updated_at={self.db.sql.now_text} WHERE chat_id=?",
            (status, chat_id),
        )

    async def set_language(self, chat_id: int, language: str | None) -> None:
        await self.db.execute(
            f"UPDATE chats SET language=?, updated_at={self.db.sql.now_text} WHERE chat_id=?",
            (language, chat_id),
        )

    async def get(self, chat_id: int) -> KnownChat | None:
        row = await self.db.fetchone(
            "SELECT chat_id, type, title, username, language, bot_status FROM chats "
            "WHERE chat_id=?",
            (chat_id,),
        )
        return KnownChat(*row) if row else None

    async def groups_with_bot(self) -> list[KnownChat]:
        rows = await self.db.fetchall(
            "SELECT chat_id, type, title, username, language, bot_status FROM chats "
            "WHERE type IN ('group','supergroup') AND bot_status IN ('member','administrator') "
            "ORDER BY chat_id"
        )
        return [KnownChat(*r) for r in rows]

    async def with_bot(self) -> list[KnownChat]:
        """Every chat (groups and channels) the bot is currently a member or admin of."""
        rows = await self.db.fetchall(
            "SELECT chat_id, type, title, username, language, bot_status FROM chats "
            "WHERE bot_status IN ('member','administrator') ORDER BY type, chat_id"
        )
        return [KnownChat(*r) for r in rows]


class UserRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert_user(
        self, user_id: int, username: str | None, first_name: str, language_code: str | None
    ) -> None:
        await self.db.execute(
            "INSERT INTO users(user_id, username, first_name, language_code) VALUES (?,?,?,?) "
            "ON CONFLICT(user_id) DO UPDATE SET username=excluded.username, "
            "first_name=excluded.first_name, "
            "language_code=COALESCE(excluded.language_code, users.language_code), "
            f"updated_at={self.db.sql.now_text}",
            (user_id, username, first_name, language_code),
        )

    async def mark_started(self, user_id: int) -> None:
        await self.db.execute(
            "UPDATE users SET started_bot=1, private_status='reachable', "
            f"updated_at={self.db.sql.now_text} WHERE user_id=?",
            (user_id,),
        )

    async def set_private_status(self, user_id: int, status: str, checked_at: int) -> None:
        """What Telegram answered the last private note (see bot/private.py); a user the bot
        never saw gets a row, so the answer is kept for them too."""
        started = 1 if status == "reachable" else 0
        await self.db.execute(
            "INSERT INTO users(user_id, started_bot, private_status, private_checked_at) "
            "VALUES (?,?,?,?) ON CONFLICT(user_id) DO UPDATE SET "
            "started_bot=excluded.started_bot, private_status=excluded.private_status, "
            f"private_checked_at=excluded.private_checked_at, updated_at={self.db.sql.now_text}",
            (user_id, started, status, checked_at),
        )

    async def private_status(self, user_id: int) -> str | None:
        row = await self.db.fetchone("SELECT private_status FROM users WHERE user_id=?", (user_id,))
        return row["private_status"] if row else None

    async def has_started(self, user_id: int) -> bool:
        row = await self.db.fetchone("SELECT started_bot FROM users WHERE user_id=?", (user_id,))
        return bool(row and row["started_bot"])

    async def find_by_username(self, username: str) -> int | None:
        row = await self.db.fetchone(
            "SELECT user_id FROM users WHERE lower(username)=lower(?) "
            "ORDER BY updated_at DESC LIMIT 1",
            (username.lstrip("@"),),
        )
        return int(row["user_id"]) if row else None

    async def first_name_of(self, user_id: int) -> str | None:
        row = await self.db.fetchone("SELECT first_name FROM users WHERE user_id=?", (user_id,))
        return (row["first_name"] or None) if row else None

    async def language_of(self, user_id: int) -> str | None:
        row = await self.db.fetchone("SELECT language_code FROM users WHERE user_id=?", (user_id,))
        return row["language_code"] if row else None
