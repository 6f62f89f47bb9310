"""The FAQ (entries, phrasings, answers per language, votes) and the support relay's tickets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.database import Database


@dataclass(frozen=True, slots=True)
class Answer:
    language: str
    text: str
    source_chat_id: int | None = None
    source_message_id: int | None = None

    @property
    def is_copy(self) -> bool:
        return self.source_message_id is not None


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    chat_id: int | None
    language: str
    up: int
    down: int
    phrasings: list[tuple[str, str]] = field(default_factory=list)  # (language, text)
    answers: dict[str, Answer] = field(default_factory=dict)

    def phrasings_in(self, language: str) -> list[str]:
        return [text for lang, text in self.phrasings if lang == language]

    def title(self, language: str) -> str:
        """The entry's first phrasing in `language`, else in its own language."""
        own = self.phrasings_in(language) or self.phrasings_in(self.language)
        return (own or [text for _l, text in self.phrasings] or ["?"])[0]


# How long the FAQ's answer to a question is kept for following the question's edits: members fix
# a question within minutes; a week covers a late fix without keeping every answer forever.
QUESTION_ANSWERS_KEPT = 7 * 24 * 3600


class FaqRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        chat_id: int | None,
        language: str,
        phrasings: list[tuple[str, str]],
        answer: Answer,
        created_by: int | None,
        now: int,
    ) -> int:
        async with self.db.transaction() as tx:
            entry_id = await tx.insert(
                "INSERT INTO faq_entries(chat_id, language, created_by, created_at, updated_at) "
                "VALUES (?,?,?,?,?)",
                (chat_id, language, created_by, now, now),
            )
            await tx.executemany(
                "INSERT INTO faq_phrasings(entry_id, language, text) VALUES (?,?,?)",
                [(entry_id, lang, text) for lang, text in phrasings],
            )
            await tx.execute(
                "INSERT INTO faq_answers VALUES (?,?,?,?,?)",
                (
                    entry_id,
                    answer.language,
                    answer.text,
                    answer.source_chat_id,
                    answer.source_message_id,
                ),
            )
        return entry_id

    async def set_feedback(self, entry_id: int, up: int, down: int) -> None:
        """The 👍/👎 counters of an entry loaded from an export (its members' votes stay
        behind: each may vote once more)."""
        await self.db.execute(
            "UPDATE faq_entries SET up=?, down=? WHERE id=?", (up, down, entry_id)
        )

    async def set_language(
        self,
        entry_id: int,
        language: str,
        phrasings: list[str] | None,
        answer: Answer | None,
        now: int,
    ) -> None:
        """A translation, or an edit in one language: given phrasings replace that language's,
        a given answer replaces that language's answer."""
        async with self.db.transaction() as tx:
            if phrasings:
                await tx.execute(
                    "DELETE FROM faq_phrasings WHERE entry_id=? AND language=?",
                    (entry_id, language),
                )
                await tx.executemany(
                    "INSERT INTO faq_phrasings(entry_id, language, text) VALUES (?,?,?)",
                    [(entry_id, language, text) for text in phrasings],
                )
            if answer is not None:
                await tx.execute(
                    "INSERT INTO faq_answers VALUES (?,?,?,?,?) ON CONFLICT(entry_id, language) "
                    "DO UPDATE SET text=excluded.text, source_chat_id=excluded.source_chat_id, "
                    "source_message_id=excluded.source_message_id",
                    (
                        entry_id,
                        language,
                        answer.text,
                        answer.source_chat_id,
                        answer.source_message_id,
                    ),
                )
            await tx.execute("UPDATE faq_entries SET updated_at=? WHERE id=?", (now, entry_id))

    async def add_phrasing(self, entry_id: int, language: str, text: str, now: int) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO faq_phrasings(entry_id, language, text) VALUES (?,?,?)",
                (entry_id, language, text),
            )
            await tx.execute("UPDATE faq_entries SET updated_at=? WHERE id=?", (now, entry_id))

    async def set_deleted(self, entry_id: int, deleted_at: int | None) -> bool:
        """Soft delete (or undo it with None)."""
        still = "deleted_at IS NULL" if deleted_at is not None else "deleted_at IS NOT NULL"
        cursor = await self.db.execute(
            f"UPDATE faq_entries SET deleted_at=? WHERE id=? AND {still}", (deleted_at, entry_id)
        )
        return cursor.rowcount == 1

    async def get(self, entry_id: int) -> Entry | None:
        entries = await self._load("e.id=? AND e.deleted_at IS NULL", (entry_id,))
        return entries[0] if entries else None

    async def get_deleted(self, entry_id: int) -> Entry | None:
        """A deleted entry (one an Undo may restore)."""
        entries = await self._load("e.id=? AND e.deleted_at IS NOT NULL", (entry_id,))
        return entries[0] if entries else None

    async def all_live(self) -> list[Entry]:
        return await self._load("e.deleted_at IS NULL", ())

    async def visible_in(self, chat_id: int | None) -> list[Entry]:
        """Entries of one chat plus the global ones; None: only the global ones."""
        if chat_id is None:
            return await self._load("e.deleted_at IS NULL AND e.chat_id IS NULL", ())
        return await self._load(
            "e.deleted_at IS NULL AND (e.chat_id IS NULL OR e.chat_id=?)", (chat_id,)
        )

    async def _load(self, where: str, params: tuple[Any, ...]) -> list[Entry]:
        rows = await self.db.fetchall(
            f"SELECT e.id, e.chat_id, e.language, e.up, e.down FROM faq_entries e WHERE {where} "
            "ORDER BY e.id",
            params,
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ", ".join("?" for _ in ids)
        phrasings: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
        for entry_id, language, text in await self.db.fetchall(
            f"SELECT entry_id, language, text FROM faq_phrasings WHERE entry_id IN ({marks}) "
            "ORDER BY id",
            ids,
        ):
            phrasings[entry_id].append((language, text))
        answers: dict[int, dict[str, Answer]] = {i: {} for i in ids}
        for entry_id, language, text, chat, message in await self.db.fetchall(
            f"SELECT entry_id, language, text, source_chat_id, source_message_id "
            f"FROM faq_answers WHERE entry_id IN ({marks})",
            ids,
        ):
            answers[entry_id][language] = Answer(language, text, chat, message)
        return [Entry(r[0], r[1], r[2], r[3], r[4], phrasings[r[0]], answers[r[0]]) for r in rows]

    async def vote(self, entry_id: int, user_id: int, vote: int) -> int | None:
        """One vote per member; changing it moves the counters. The member's vote before (0:
        none), or None when it was this one already and nothing changed."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT vote FROM faq_votes WHERE entry_id=? AND user_id=?", (entry_id, user_id)
            )
            previous = int(row[0]) if row else 0
            if previous == vote:
                return None
            await tx.execute(
                "INSERT INTO faq_votes VALUES (?,?,?) ON CONFLICT(entry_id, user_id) "
                "DO UPDATE SET vote=excluded.vote",
                (entry_id, user_id, vote),
            )
            await tx.execute(
                "UPDATE faq_entries SET up=up+?, down=down+? WHERE id=?",
                (
                    (vote == 1) - (previous == 1),
                    (vote == -1) - (previous == -1),
                    entry_id,
                ),
            )
        return previous

    async def last_answer(
        self, chat_id: int, entry_id: int, language: str, thread_id: int = 0
    ) -> tuple[int, int] | None:
        row = await self.db.fetchone(
            "SELECT message_id, answered_at FROM faq_last_answers "
            "WHERE chat_id=? AND thread_id=? AND entry_id=? AND language=?",
            (chat_id, thread_id, entry_id, language),
        )
        return (row[0], row[1]) if row else None

    async def question_answered(
        self, chat_id: int, message_id: int, entry_id: int, answer_id: int, now: int
    ) -> None:
        """The FAQ answered this question (`answer_id` the bot's message); answers older than
        QUESTION_ANSWERS_KEPT go, so the table stays small."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM faq_question_answers WHERE answered_at<?",
                (now - QUESTION_ANSWERS_KEPT,),
            )
            await tx.execute(
                "INSERT INTO faq_question_answers"
                "(chat_id, message_id, entry_id, answer_id, answered_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(chat_id, message_id) DO UPDATE SET entry_id=excluded.entry_id, "
                "answer_id=excluded.answer_id, answered_at=excluded.answered_at",
                (chat_id, message_id, entry_id, answer_id, now),
            )

    async def answer_to_question(self, chat_id: int, message_id: int) -> tuple[int, int] | None:
        """(entry id, the bot's answer message) the FAQ gave this question, if it answered."""
        row = await self.db.fetchone(
            "SELECT entry_id, answer_id FROM faq_question_answers WHERE chat_id=? AND message_id=?",
            (chat_id, message_id),
        )
        return (int(row[0]), int(row[1])) if row else None

    async def remember_answer(
        self,
        chat_id: int,
        entry_id: int,
        language: str,
        message_id: int,
        now: int,
        thread_id: int = 0,
    ) -> None:
        await self.db.execute(
            "INSERT INTO faq_last_answers "
            "(chat_id, thread_id, entry_id, language, message_id, answered_at) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(chat_id, thread_id, entry_id, language) "
            "DO UPDATE SET message_id=excluded.message_id, answered_at=excluded.answered_at",
            (chat_id, thread_id, entry_id, language, message_id, now),
        )


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    member_id: int
    member_name: str | None
    language: str | None
    chat_id: int
    question_message_id: int
    question: str
    support_chat_id: int
    relay_message_id: int | None
    created_at: int
    answered_by: int | None
    answered_at: int | None
    answer_chat_id: int | None
    answer_message_id: int | None
    answer_text: str | None
    faq_entry_id: int | None
    thread_id: int | None = None  # the forum topic it was asked in
    relay_copy_id: int | None = None  # the member's message copied under the relay, if any


@dataclass(frozen=True, slots=True)
class Delivered:
    """A staff message's copy in the member's chat."""

    ticket_id: int
    member_chat_id: int
    message_id: int


class SupportRepository:
    """Tickets and routes. Routes are few and read for every group question, so they are kept
    in memory after the first read and updated on write."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._routes: dict[int, int] | None = None

    async def _all_routes(self) -> dict[int, int]:
        if self._routes is None:
            rows = await self.db.fetchall("SELECT chat_id, support_chat_id FROM support_routes")
            self._routes = {r[0]: r[1] for r in rows}
        return self._routes

    def forget_routes(self) -> None:
        """Read the routes again at the next use (rows changed behind this cache)."""
        self._routes = None

    async def route(self, chat_id: int) -> int | None:
        return (await self._all_routes()).get(chat_id)

    async def set_route(self, chat_id: int, support_chat_id: int | None) -> None:
        routes = await self._all_routes()
        if support_chat_id is None:
            await self.db.execute("DELETE FROM support_routes WHERE chat_id=?", (chat_id,))
            routes.pop(chat_id, None)
            return
        await self.db.execute(
            "INSERT INTO support_routes VALUES (?,?) ON CONFLICT(chat_id) DO UPDATE SET "
            "support_chat_id=excluded.support_chat_id",
            (chat_id, support_chat_id),
        )
        routes[chat_id] = support_chat_id

    async def support_chats(self) -> set[int]:
        return set((await self._all_routes()).values())

    async def open_ticket(
        self,
        *,
        member_id: int,
        member_name: str | None,
        language: str | None,
        chat_id: int,
        question_message_id: int,
        question: str,
        support_chat_id: int,
        now: int,
        thread_id: int | None = None,
    ) -> int:
        return await self.db.insert(
            "INSERT INTO support_tickets(member_id, member_name, language, chat_id, "
            "question_message_id, question, support_chat_id, created_at, thread_id) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (
                member_id,
                member_name,
                language,
                chat_id,
                question_message_id,
                question,
                support_chat_id,
                now,
                thread_id,
            ),
        )

    async def set_relay_message(
        self, ticket_id: int, support_chat_id: int, message_id: int, copy_id: int | None = None
    ) -> None:
        """Where the relay is: the chat it landed in, which is not the one asked for when that
        was an upgraded group (the send followed the upgrade), and the member's message copied
        under it, if any."""
        await self.db.execute(
            "UPDATE support_tickets SET support_chat_id=?, relay_message_id=?, relay_copy_id=? "
            "WHERE id=?",
            (support_chat_id, message_id, copy_id, ticket_id),
        )

    async def by_relay(self, support_chat_id: int, message_id: int) -> Ticket | None:
        """The ticket whose relay (its header, or the member's message, or any part of their
        album, copied under it) or whose delivery confirmation this message of the support
        chat is."""
        row = await self.db.fetchone(
            "SELECT * FROM support_tickets WHERE support_chat_id=? AND relay_message_id=?",
            (support_chat_id, message_id),
        ) or await self.db.fetchone(
            "SELECT * FROM support_tickets WHERE support_chat_id=? AND relay_copy_id=?",
            (support_chat_id, message_id),
        )
        if row is None:  # another part of a member's album copied under the relay
            row = await self.db.fetchone(
                "SELECT t.* FROM support_relay_parts p JOIN support_tickets t ON t.id=p.ticket_id "
                "WHERE t.support_chat_id=? AND p.copy_id=?",
                (support_chat_id, message_id),
            )
        if row is None:  # the bot's "✅ Delivered" under an answer to the ticket
            row = await self.db.fetchone(
                "SELECT t.* FROM support_confirmations c JOIN support_tickets t "
                "ON t.id=c.ticket_id WHERE c.support_chat_id=? AND c.message_id=?",
                (support_chat_id, message_id),
            )
        return Ticket(**dict(row)) if row else None

    async def add_confirmation(self, support_chat_id: int, message_id: int, ticket_id: int) -> None:
        await self.db.execute(
            "INSERT INTO support_confirmations(support_chat_id, message_id, ticket_id) "
            "VALUES (?,?,?) ON CONFLICT(support_chat_id, message_id) DO NOTHING",
            (support_chat_id, message_id, ticket_id),
        )

    async def by_question(self, chat_id: int, message_id: int, member_id: int) -> Ticket | None:
        """The relayed ticket of this member's message (a member edited it)."""
        row = await self.db.fetchone(
            "SELECT * FROM support_tickets WHERE chat_id=? AND question_message_id=? "
            "AND member_id=? AND relay_message_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            (chat_id, message_id, member_id),
        )
        return Ticket(**dict(row)) if row else None

    async def set_question(self, ticket_id: int, question: str) -> None:
        await self.db.execute(
            "UPDATE support_tickets SET question=? WHERE id=?", (question, ticket_id)
        )

    async def is_complaint(self, ticket_id: int) -> bool:
        """Whether the ticket is a complaint's (its relay is worded and buttoned as one)."""
        row = await self.db.fetchone("SELECT 1 FROM complaints WHERE ticket_id=?", (ticket_id,))
        return row is not None

    async def get(self, ticket_id: int) -> Ticket | None:
        row = await self.db.fetchone("SELECT * FROM support_tickets WHERE id=?", (ticket_id,))
        return Ticket(**dict(row)) if row else None

    async def mark_answered(
        self,
        ticket_id: int,
        staff_id: int,
        answer_chat_id: int,
        answer_message_id: int,
        answer_text: str,
        now: int,
    ) -> None:
        await self.db.execute(
            "UPDATE support_tickets SET answered_by=?, answered_at=?, answer_chat_id=?, "
            "answer_message_id=?, answer_text=? WHERE id=?",
            (staff_id, now, answer_chat_id, answer_message_id, answer_text, ticket_id),
        )

    async def set_answer_text(self, ticket_id: int, text: str) -> None:
        await self.db.execute(
            "UPDATE support_tickets SET answer_text=? WHERE id=?", (text, ticket_id)
        )

    async def mark_added_to_faq(self, ticket_id: int, entry_id: int) -> bool:
        cursor = await self.db.execute(
            "UPDATE support_tickets SET faq_entry_id=? WHERE id=? AND faq_entry_id IS NULL",
            (entry_id, ticket_id),
        )
        return cursor.rowcount == 1

    async def set_relay_parts(
        self, ticket_id: int, chat_id: int, parts: Sequence[tuple[int, int | None]]
    ) -> None:
        """The parts of a member's album (message id, its copy in the support chat or None)."""
        async with self.db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO support_relay_parts(chat_id, message_id, ticket_id, copy_id) "
                "VALUES (?,?,?,?) ON CONFLICT(chat_id, message_id) "
                "DO UPDATE SET ticket_id=excluded.ticket_id, copy_id=excluded.copy_id",
                [(chat_id, message_id, ticket_id, copy) for message_id, copy in parts],
            )

    async def relay_parts(self, ticket_id: int) -> list[tuple[int, int | None]]:
        """The parts of the ticket's album, in order: (message id, copy id)."""
        rows = await self.db.fetchall(
            "SELECT message_id, copy_id FROM support_relay_parts WHERE ticket_id=? "
            "ORDER BY message_id",
            (ticket_id,),
        )
        return [(r[0], r[1]) for r in rows]

    async def by_part(self, chat_id: int, message_id: int, member_id: int) -> Ticket | None:
        """The relayed ticket one of whose album parts this member's message is."""
        row = await self.db.fetchone(
            "SELECT t.* FROM support_relay_parts p JOIN support_tickets t ON t.id=p.ticket_id "
            "WHERE p.chat_id=? AND p.message_id=? AND t.member_id=? "
            "AND t.relay_message_id IS NOT NULL",
            (chat_id, message_id, member_id),
        )
        return Ticket(**dict(row)) if row else None

    async def add_delivered(
        self,
        ticket_id: int,
        staff_chat_id: int,
        member_chat_id: int,
        copies: Sequence[tuple[int, int]],
    ) -> None:
        """Staff messages delivered to the member: (staff message id, the member's copy id)."""
        async with self.db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO support_answers(staff_chat_id, staff_message_id, ticket_id, "
                "member_chat_id, delivered_id) VALUES (?,?,?,?,?) "
                "ON CONFLICT(staff_chat_id, staff_message_id) DO UPDATE SET "
                "ticket_id=excluded.ticket_id, member_chat_id=excluded.member_chat_id, "
                "delivered_id=excluded.delivered_id",
                [(staff_chat_id, sid, ticket_id, member_chat_id, cid) for sid, cid in copies],
            )

    async def delivered(self, staff_chat_id: int, staff_message_id: int) -> Delivered | None:
        """Where a staff message was delivered, if it was."""
        row = await self.db.fetchone(
            "SELECT ticket_id, member_chat_id, delivered_id FROM support_answers "
            "WHERE staff_chat_id=? AND staff_message_id=?",
            (staff_chat_id, staff_message_id),
        )
        return Delivered(row[0], row[1], row[2]) if row else None

    async def recent_from(self, member_id: int, since: int) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM support_tickets WHERE member_id=? AND created_at>=?",
            (member_id, since),
        )
        return int(row[0])

    async def block(self, user_id: int, by: int | None, now: int) -> None:
        await self.db.execute(
            "INSERT INTO support_blocks VALUES (?,?,?) ON CONFLICT(user_id) "
            "DO UPDATE SET blocked_by=excluded.blocked_by, blocked_at=excluded.blocked_at",
            (user_id, by, now),
        )

    async def unblock(self, user_id: int) -> bool:
        cursor = await self.db.execute("DELETE FROM support_blocks WHERE user_id=?", (user_id,))
        return cursor.rowcount == 1

    async def is_blocked(self, user_id: int) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM support_blocks WHERE user_id=?", (user_id,))
        return row is not None


class FaqVectorRepository:
    """Stored embedding vectors of FAQ texts, by (model id, kind, hash of the text)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, model: str) -> list[tuple[str, str, bytes]]:
        """Every vector stored for `model`: (kind, text_hash, float32 bytes)."""
        rows = await self.db.fetchall(
            "SELECT kind, text_hash, vector FROM faq_vectors WHERE model=?", (model,)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def store(self, model: str, dim: int, rows: list[tuple[str, str, bytes]]) -> None:
        if not rows:
            return
        async with self.db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO faq_vectors(model, kind, text_hash, dim, vector) VALUES (?,?,?,?,?) "
                "ON CONFLICT(model, kind, text_hash) "
                "DO UPDATE SET dim=excluded.dim, vector=excluded.vector",
                [(model, kind, digest, dim, blob) for kind, digest, blob in rows],
            )

    async def prune(self, model: str, keep: set[tuple[str, str]]) -> int:
        """Forget vectors of other models and of texts no live entry uses any more."""
        cursor = await self.db.execute("DELETE FROM faq_vectors WHERE model<>?", (model,))
        removed = cursor.rowcount
        rows = await self.db.fetchall(
            "SELECT kind, text_hash FROM faq_vectors WHERE model=?", (model,)
        )
        stale = [(r[0], r[1]) for r in rows if (r[0], r[1]) not in keep]
        if stale:
            async with self.db.transaction() as tx:
                await tx.executemany(
                    "DELETE FROM faq_vectors WHERE model=? AND kind=? AND text_hash=?",
                    [(model, kind, digest) for kind, digest in stale],
                )
        return removed + len(stale)


class FaqIndexCache:
    """A built FAQ index stored as bytes under a name, with the digest of what it was built from."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, name: str, digest: str) -> bytes | None:
        """The stored bytes when they were built from `digest`, else None."""
        row = await self.db.fetchone(
            "SELECT data FROM faq_index_cache WHERE name=? AND digest=?", (name, digest)
        )
        return bytes(row[0]) if row is not None else None

    async def store(self, name: str, digest: str, data: bytes) -> None:
        await self.db.execute(
            "INSERT INTO faq_index_cache(name, digest, data) VALUES (?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET digest=excluded.digest, data=excluded.data",
            (name, digest, data),
        )
