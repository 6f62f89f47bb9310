"""Moderation tables: chat settings, warns, approvals, filters, the audit log, spam lessons."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from storage.cache import LoadingCache
from storage.database import Database

MODES = ("off", "log", "enforce")


@dataclass(frozen=True, slots=True)
class ChatModSettings:
    chat_id: int
    rules: str | None = None
    log_chat_id: int | None = None
    warn_limit: int = 3
    warn_action: str = "mute"
    warn_action_seconds: int | None = 86400
    warn_expiry_seconds: int = 30 * 86400
    spam_mode: str = "enforce"
    spam_action: str = "ban"
    new_member_messages: int = 3
    flood_mode: str = "enforce"
    flood_count: int = 5
    flood_seconds: int = 10
    flood_mute_seconds: int = 600
    blocklist_mode: str = "enforce"
    blocklist_warn: int = 0
    language_mode: str = "off"
    languages: str | None = None
    captcha_mode: str = "off"
    captcha_seconds: int = 120

    @property
    def language_list(self) -> tuple[str, ...]:
        if not self.languages:  # most chats, asked on every message (bot.i18n)
            return ()
        return tuple(x for x in self.languages.split(",") if x)


_SETTING_COLUMNS = [f.name for f in fields(ChatModSettings)]


@dataclass(frozen=True, slots=True)
class ModAction:
    id: int
    chat_id: int
    actor_id: int | None
    actor_name: str | None
    target_id: int | None
    target_name: str | None
    target_is_chat: bool
    action: str
    reason: str | None
    rule: str | None
    score: float | None
    details: dict[str, Any] | None
    message_id: int | None
    message_text: str | None
    created_at: int
    expires_at: int | None
    undone_at: int | None
    undone_by: int | None
    log_chat_id: int | None
    log_message_id: int | None
    undone_by_name: str | None = None


def _action(row: Any) -> ModAction:
    data = dict(row)
    data["details"] = json.loads(data["details"]) if data["details"] else None
    data["target_is_chat"] = bool(data["target_is_chat"])
    return ModAction(**data)


@dataclass(frozen=True, slots=True)
class Warn:
    id: int
    actor_id: int | None  # None: Steward's automatic protection
    reason: str | None
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Filter:
    id: int
    pattern: str
    is_regex: bool


class ModerationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._settings: LoadingCache[int, ChatModSettings] = LoadingCache()

    # --- settings ------------------------------------------------------------------------

    async def settings(self, chat_id: int) -> ChatModSettings:
        async def load() -> ChatModSettings:
            row = await self.db.fetchone(
                f"SELECT {', '.join(_SETTING_COLUMNS)} FROM chat_settings WHERE chat_id=?",
                (chat_id,),
            )
            return ChatModSettings(**dict(row)) if row else ChatModSettings(chat_id=chat_id)

        return await self._settings.get(chat_id, load)

    def caches(self) -> dict[str, LoadingCache[int, Any]]:
        """What other workers must hear about when it changes (bot.cluster)."""
        return {"chat-settings": self._settings}

    def forget_settings(self, chat_id: int) -> None:
        self._settings.invalidate(chat_id)

    async def update_settings(self, chat_id: int, **values: Any) -> ChatModSettings:
        unknown = set(values) - set(_SETTING_COLUMNS)
        if unknown:
            raise ValueError(f"unknown settings: {unknown}")
        columns = ", ".join(values)
        placeholders = ", ".join("?" for _ in values)
        updates = ", ".join(f"{k}=excluded.{k}" for k in values)
        await self.db.execute(
            f"INSERT INTO chat_settings(chat_id, {columns}) VALUES (?, {placeholders}) "
            f"ON CONFLICT(chat_id) DO UPDATE SET {updates}, "
            f"updated_at={self.db.sql.now_text}",
            (chat_id, *values.values()),
        )
        self._settings.invalidate(chat_id)
        return await self.settings(chat_id)

    # --- warns ---------------------------------------------------------------------------

    async def add_warn(
        self,
        chat_id: int,
        user_id: int,
        actor_id: int | None,
        reason: str | None,
        now: int,
        expires_at: int,
    ) -> int:
        return await self.db.insert(
            "INSERT INTO warns(chat_id, user_id, actor_id, reason, created_at, expires_at) "
            "VALUES (?,?,?,?,?,?)",
            (chat_id, user_id, actor_id, reason, now, expires_at),
        )

    async def active_warns(self, chat_id: int, user_id: int, now: int) -> list[Warn]:
        rows = await self.db.fetchall(
            "SELECT id, actor_id, reason, created_at, expires_at FROM warns "
            "WHERE chat_id=? AND user_id=? AND removed_at IS NULL AND expires_at>? ORDER BY id",
            (chat_id, user_id, now),
        )
        return [Warn(**dict(r)) for r in rows]

    async def remove_last_warn(self, chat_id: int, user_id: int, now: int) -> int | None:
        row = await self.db.fetchone(
            "SELECT id FROM warns WHERE chat_id=? AND user_id=? AND removed_at IS NULL "
            "AND expires_at>? ORDER BY id DESC LIMIT 1",
            (chat_id, user_id, now),
        )
        if row is None:
            return None
        await self.remove_warn(int(row["id"]), now)
        return int(row["id"])

    async def remove_warn(self, warn_id: int, now: int) -> None:
        await self.db.execute(
            "UPDATE warns SET removed_at=? WHERE id=? AND removed_at IS NULL", (now, warn_id)
        )

    async def take_warns(self, warn_ids: list[int], now: int) -> int:
        """Clear these warns if none was cleared meanwhile: how many this call cleared. Two
        warns reaching a limit at once each take the warns they counted; one takes them all."""
        if not warn_ids:
            return 0
        marks = ",".join("?" * len(warn_ids))
        cursor = await self.db.execute(
            f"UPDATE warns SET removed_at=? WHERE id IN ({marks}) AND removed_at IS NULL",
            (now, *warn_ids),
        )
        return cursor.rowcount

    async def give_back_warns(self, warn_ids: list[int], now: int) -> None:
        """Undo take_warns(warn_ids, now): the warn limit's action was refused."""
        if not warn_ids:
            return
        marks = ",".join("?" * len(warn_ids))
        await self.db.execute(
            f"UPDATE warns SET removed_at=NULL WHERE id IN ({marks}) AND removed_at=?",
            (*warn_ids, now),
        )

    async def reset_warns(self, chat_id: int, user_id: int, now: int) -> int:
        cursor = await self.db.execute(
            "UPDATE warns SET removed_at=? WHERE chat_id=? AND user_id=? AND removed_at IS NULL",
            (now, chat_id, user_id),
        )
        return cursor.rowcount

    # --- approvals -----------------------------------------------------------------------

    async def approve(self, chat_id: int, user_id: int, actor_id: int | None, now: int) -> bool:
        cursor = await self.db.execute(
            "INSERT INTO approvals(chat_id, user_id, actor_id, created_at) "
            "VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
            (chat_id, user_id, actor_id, now),
        )
        return cursor.rowcount > 0

    async def unapprove(self, chat_id: int, user_id: int) -> bool:
        cursor = await self.db.execute(
            "DELETE FROM approvals WHERE chat_id=? AND user_id=?", (chat_id, user_id)
        )
        return cursor.rowcount > 0

    async def approved_ids(self, chat_id: int) -> set[int]:
        rows = await self.db.fetchall("SELECT user_id FROM approvals WHERE chat_id=?", (chat_id,))
        return {int(r["user_id"]) for r in rows}

    # --- blocklist -----------------------------------------------------------------------

    async def add_filter(
        self, chat_id: int, pattern: str, is_regex: bool, actor_id: int | None, now: int
    ) -> bool:
        cursor = await self.db.execute(
            "INSERT INTO filters(chat_id, pattern, is_regex, actor_id, created_at) "
            "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
            (chat_id, pattern, int(is_regex), actor_id, now),
        )
        return cursor.rowcount > 0

    async def remove_filter(self, chat_id: int, pattern: str, is_regex: bool) -> bool:
        cursor = await self.db.execute(
            "DELETE FROM filters WHERE chat_id=? AND pattern=? AND is_regex=?",
            (chat_id, pattern, int(is_regex)),
        )
        return cursor.rowcount > 0

    async def filters(self, chat_id: int) -> list[Filter]:
        rows = await self.db.fetchall(
            "SELECT id, pattern, is_regex FROM filters WHERE chat_id=? ORDER BY id", (chat_id,)
        )
        return [Filter(r["id"], r["pattern"], bool(r["is_regex"])) for r in rows]

    # --- member activity -----------------------------------------------------------------

    async def clean_messages(self, chat_id: int, user_id: int) -> int:
        row = await self.db.fetchone(
            "SELECT clean_messages FROM member_activity WHERE chat_id=? AND user_id=?",
            (chat_id, user_id),
        )
        return int(row["clean_messages"]) if row else 0

    async def count_clean_message(self, chat_id: int, user_id: int) -> None:
        await self.db.execute(
            "INSERT INTO member_activity(chat_id, user_id, clean_messages) VALUES (?,?,1) "
            "ON CONFLICT(chat_id, user_id) DO UPDATE SET "
            "clean_messages=member_activity.clean_messages+1",
            (chat_id, user_id),
        )

    async def mark_joined(self, chat_id: int, user_id: int, now: int) -> None:
        """A (re)joining member is new again: their first messages are checked for spam."""
        await self.db.execute(
            "INSERT INTO member_activity(chat_id, user_id, clean_messages, joined_at) "
            "VALUES (?,?,0,?) ON CONFLICT(chat_id, user_id) DO UPDATE SET clean_messages=0, "
            "joined_at=excluded.joined_at",
            (chat_id, user_id, now),
        )

    # --- forum topics of recent messages ---------------------------------------------------

    async def note_topic_messages(self, rows: list[tuple[int, int, int | None, int]]) -> None:
        """(chat, message, topic or None for General, seen at) rows, in one transaction."""
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO topic_messages VALUES (?,?,?,?) ON CONFLICT(chat_id, message_id) "
                "DO UPDATE SET thread_id=excluded.thread_id",
                rows,
            )

    async def topic_message_ids(
        self, chat_id: int, thread_id: int | None, first: int, last: int
    ) -> list[int]:
        """Ids from `first` to `last` known to be in the topic (None: General), ascending."""
        topic = "thread_id IS NULL" if thread_id is None else "thread_id=?"
        rows = await self.db.fetchall(
            "SELECT message_id FROM topic_messages WHERE chat_id=? AND message_id BETWEEN ? AND ? "
            f"AND {topic} ORDER BY message_id",
            (chat_id, first, last) + (() if thread_id is None else (thread_id,)),
        )
        return [int(r["message_id"]) for r in rows]

    async def forget_topic_messages(self, chat_id: int, message_ids: list[int]) -> None:
        await self.db.executemany(
            "DELETE FROM topic_messages WHERE chat_id=? AND message_id=?",
            [(chat_id, mid) for mid in message_ids],
        )

    async def prune_topic_messages(self, before: int) -> int:
        cursor = await self.db.execute("DELETE FROM topic_messages WHERE seen_at < ?", (before,))
        return cursor.rowcount

    # --- audit log -----------------------------------------------------------------------

    async def record_action(self, **values: Any) -> int:
        if isinstance(values.get("details"), dict):
            values["details"] = json.dumps(values["details"], ensure_ascii=False)
        columns = ", ".join(values)
        placeholders = ", ".join("?" for _ in values)
        return await self.db.insert(
            f"INSERT INTO mod_actions({columns}) VALUES ({placeholders})", tuple(values.values())
        )

    async def set_log_message(self, action_id: int, log_chat_id: int, message_id: int) -> None:
        await self.db.execute(
            "UPDATE mod_actions SET log_chat_id=?, log_message_id=? WHERE id=?",
            (log_chat_id, message_id, action_id),
        )

    async def action(self, action_id: int) -> ModAction | None:
        row = await self.db.fetchone("SELECT * FROM mod_actions WHERE id=?", (action_id,))
        return _action(row) if row else None

    async def mark_undone(
        self, action_id: int, by: int | None, now: int, by_name: str | None = None
    ) -> bool:
        cursor = await self.db.execute(
            "UPDATE mod_actions SET undone_at=?, undone_by=?, undone_by_name=? "
            "WHERE id=? AND undone_at IS NULL",
            (now, by, by_name, action_id),
        )
        return cursor.rowcount > 0

    async def clear_undone(self, action_id: int) -> None:
        """Give back an undo claimed by `mark_undone` that Telegram then refused."""
        await self.db.execute(
            "UPDATE mod_actions SET undone_at=NULL, undone_by=NULL, undone_by_name=NULL WHERE id=?",
            (action_id,),
        )

    async def recent_actions(self, chat_id: int, limit: int) -> list[ModAction]:
        rows = await self.db.fetchall(
            "SELECT * FROM mod_actions WHERE chat_id=? ORDER BY id DESC LIMIT ?", (chat_id, limit)
        )
        return [_action(r) for r in rows]

    async def active_timed_actions(self, chat_id: int, now: int) -> list[ModAction]:
        rows = await self.db.fetchall(
            "SELECT * FROM mod_actions WHERE chat_id=? AND action IN ('mute','ban') "
            "AND expires_at>? AND undone_at IS NULL ORDER BY id",
            (chat_id, now),
        )
        return [_action(r) for r in rows]

    # --- spam lessons --------------------------------------------------------------------

    async def add_lesson(self, text: str, is_spam: bool, actor_id: int | None, now: int) -> None:
        await self.db.execute(
            "INSERT INTO spam_lessons(text, is_spam, actor_id, created_at) VALUES (?,?,?,?)",
            (text, int(is_spam), actor_id, now),
        )

    async def lessons(self) -> list[tuple[str, bool]]:
        rows = await self.db.fetchall("SELECT text, is_spam FROM spam_lessons ORDER BY id")
        return [(r["text"], bool(r["is_spam"])) for r in rows]

    # --- captcha -------------------------------------------------------------------------

    async def add_captcha(
        self,
        chat_id: int,
        user_id: int,
        captcha_message_id: int | None,
        join_message_id: int | None,
        deadline: int,
    ) -> None:
        await self.db.execute(
            "INSERT INTO captcha_pending VALUES (?,?,?,?,?) ON CONFLICT(chat_id, user_id) "
            "DO UPDATE SET captcha_message_id=excluded.captcha_message_id, "
            "join_message_id=excluded.join_message_id, deadline=excluded.deadline",
            (chat_id, user_id, captcha_message_id, join_message_id, deadline),
        )

    async def pop_captcha(self, chat_id: int, user_id: int) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT * FROM captcha_pending WHERE chat_id=? AND user_id=?", (chat_id, user_id)
        )
        if row is None:
            return None
        cursor = await self.db.execute(
            "DELETE FROM captcha_pending WHERE chat_id=? AND user_id=?", (chat_id, user_id)
        )
        return dict(row) if cursor.rowcount else None

    async def claim_captcha(
        self, chat_id: int, user_id: int, now: int, lease_until: int
    ) -> dict[str, Any] | None:
        """A captcha whose time is up, taken by one worker until `lease_until` (its deadline
        moves there: should the worker die, the captcha is due again then); None when it was
        solved, is not due, or another worker has it."""
        cursor = await self.db.execute(
            "UPDATE captcha_pending SET deadline=? WHERE chat_id=? AND user_id=? AND deadline<=?",
            (lease_until, chat_id, user_id, now),
        )
        if not cursor.rowcount:
            return None
        row = await self.db.fetchone(
            "SELECT * FROM captcha_pending WHERE chat_id=? AND user_id=?", (chat_id, user_id)
        )
        return dict(row) if row is not None else None

    async def has_captcha(self, chat_id: int, user_id: int) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM captcha_pending WHERE chat_id=? AND user_id=?", (chat_id, user_id)
        )
        return row is not None

    async def pending_captchas(self) -> list[dict[str, Any]]:
        rows = await self.db.fetchall("SELECT * FROM captcha_pending ORDER BY deadline")
        return [dict(r) for r in rows]
