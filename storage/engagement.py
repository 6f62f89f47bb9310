"""Quiz and giveaway tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.database import Database


class RunStatus(StrEnum):
    """A quiz run's `status` column, as stored."""

    RUNNING = "running"
    FINISHED = "finished"  # every question was asked
    STOPPED = "stopped"  # /quiz_stop, or a question Telegram refused


@dataclass(frozen=True, slots=True)
class Quiz:
    id: int
    owner_chat: int | None  # the group it belongs to; None: the managers', usable anywhere
    title: str
    created_by: int | None
    created_at: int
    shuffle: bool


@dataclass(frozen=True, slots=True)
class QuizSummary:
    """A line of /quiz_list."""

    id: int
    title: str
    owner_chat: int | None
    questions: int


@dataclass(frozen=True, slots=True)
class QuizRun:
    id: int
    quiz_id: int
    title: str
    chat_id: int
    started_by: int | None
    started_at: int
    interval_seconds: int
    next_index: int
    next_at: int | None
    status: RunStatus
    ended_at: int | None
    thread_id: int | None  # the forum topic it was started in
    asking_until: int | None = None  # a worker is posting question `next_index` until then
    asking_sent_at: int | None = None  # and its sendPoll left then (it may be out)


class StepClaim(StrEnum):
    """What `QuizRepository.claim_step` found for a run's next question."""

    TAKEN = "taken"  # this worker posts it now
    BUSY = "busy"  # another worker is posting it (or the run moved on, or ended)
    MAYBE_ASKED = "maybe_asked"  # a worker died after its sendPoll left: passed over


@dataclass(frozen=True, slots=True)
class QuizPoll:
    """A question as posted: where, and which option (after the shuffle) is right."""

    poll_id: str
    run_id: int
    position: int
    chat_id: int
    message_id: int
    correct: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class QuizScore:
    """A member's line in a run's results (`runs` 1) or in a chat's season table."""

    user_id: int
    name: str
    correct: int
    seconds: float  # time spent on the correct answers
    runs: int = 1


def _quiz_run(row: Any) -> QuizRun:
    data = dict(row)
    data["status"] = RunStatus(data["status"])
    return QuizRun(**data)


def _quiz_poll(row: Any) -> QuizPoll:
    return QuizPoll(**dict(row))


def _quiz_score(row: Any) -> QuizScore:
    return QuizScore(
        int(row["user_id"]),
        row["name"],
        int(row["correct"] or 0),
        float(row["seconds"] or 0),
        int(row["runs"]),
    )


@dataclass(frozen=True, slots=True)
class StoredQuestion:
    id: int
    position: int
    text: str
    options: list[str]
    correct: int
    explanation: str | None


class GiveawayStatus(StrEnum):
    """A giveaway's `status` column, as stored."""

    OPEN = "open"
    DRAWING = "drawing"  # a worker claimed the draw and holds its lease
    DRAWN = "drawn"


class EntryWrite(StrEnum):
    """What writing a giveaway entry did."""

    ADDED = "added"
    ALREADY = "already"  # this user had entered before
    CLOSED = "closed"  # the giveaway is being drawn or was drawn: no entry any more


class DrawOutcome(StrEnum):
    """An entrant's row in `giveaway_results`, as stored."""

    WON = "won"
    SKIPPED = "skipped"  # passed over at a draw: a condition was not met


@dataclass(frozen=True, slots=True)
class DrawResult:
    user_id: int
    outcome: DrawOutcome
    reason: str | None  # a skipped entrant's refusal, as stored
    round: int  # 0: the draw; 1, 2, ...: rerolls
    rank: int


@dataclass(frozen=True, slots=True)
class Giveaway:
    id: int
    chat_id: int
    message_id: int | None
    created_by: int | None
    prize: str
    winners_count: int
    ends_at: int
    require_chats: list[str]
    exclude_admins: bool
    exclude_winners: bool
    private_entrants: bool
    seed_hex: str
    commitment: str
    status: GiveawayStatus
    created_at: int
    drawn_at: int | None
    thread_id: int | None = None  # the forum topic it was announced in
    lease_until: int | None = None  # while drawing: the drawing worker is alive until then
    announced_at: int | None = None  # drawn and its result posted (or handed to the organiser)


def _giveaway(row: Any) -> Giveaway:
    data = dict(row)
    data["require_chats"] = json.loads(data["require_chats"])
    for key in ("exclude_admins", "exclude_winners", "private_entrants"):
        data[key] = bool(data[key])
    data["status"] = GiveawayStatus(data["status"])
    return Giveaway(**data)


_RUN_COLUMNS = (
    "id, quiz_id, title, chat_id, started_by, started_at, interval_seconds, next_index, "
    "next_at, status, ended_at, thread_id, asking_until, asking_sent_at"
)
_POLL_COLUMNS = "poll_id, run_id, position, chat_id, message_id, correct, sent_at"


class QuizRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_quiz(
        self,
        owner_chat: int | None,
        title: str,
        created_by: int | None,
        questions: list[tuple[str, list[str], int, str | None]],
        now: int,
    ) -> int:
        async with self.db.transaction() as conn:
            quiz_id = await conn.insert(
                "INSERT INTO quizzes(owner_chat, title, created_by, created_at) VALUES (?,?,?,?)",
                (owner_chat, title, created_by, now),
            )
            await conn.executemany(
                "INSERT INTO quiz_questions(quiz_id, position, text, options, correct, "
                "explanation) VALUES (?,?,?,?,?,?)",
                [
                    (quiz_id, n, text, json.dumps(options, ensure_ascii=False), correct, expl)
                    for n, (text, options, correct, expl) in enumerate(questions)
                ],
            )
        return quiz_id

    async def quiz(self, quiz_id: int) -> Quiz | None:
        row = await self.db.fetchone(
            "SELECT id, owner_chat, title, created_by, created_at, shuffle FROM quizzes WHERE id=?",
            (quiz_id,),
        )
        if row is None:
            return None
        return Quiz(
            row["id"],
            row["owner_chat"],
            row["title"],
            row["created_by"],
            row["created_at"],
            bool(row["shuffle"]),
        )

    async def questions(self, quiz_id: int) -> list[StoredQuestion]:
        rows = await self.db.fetchall(
            "SELECT id, position, text, options, correct, explanation FROM quiz_questions "
            "WHERE quiz_id=? ORDER BY position",
            (quiz_id,),
        )
        return [
            StoredQuestion(
                r["id"],
                r["position"],
                r["text"],
                json.loads(r["options"]),
                r["correct"],
                r["explanation"],
            )
            for r in rows
        ]

    async def list_quizzes(
        self, chat_id: int | None, *, every_chat: bool = False
    ) -> list[QuizSummary]:
        """Quizzes usable in a chat: its own and the managers' (owner NULL); `every_chat`:
        all of them, as a manager may use any chat's."""
        where = "" if every_chat else "WHERE q.owner_chat IS NULL OR q.owner_chat=? "
        rows = await self.db.fetchall(
            "SELECT q.id, q.title, q.owner_chat, COUNT(qq.id) AS questions FROM quizzes q "
            f"LEFT JOIN quiz_questions qq ON qq.quiz_id=q.id {where}GROUP BY q.id ORDER BY q.id",
            () if every_chat else (chat_id,),
        )
        return [QuizSummary(r["id"], r["title"], r["owner_chat"], r["questions"]) for r in rows]

    async def delete_quiz(self, quiz_id: int) -> bool:
        cursor = await self.db.execute("DELETE FROM quizzes WHERE id=?", (quiz_id,))
        return cursor.rowcount > 0

    # --- runs ----------------------------------------------------------------------------

    async def start_run(
        self,
        quiz_id: int,
        title: str,
        chat_id: int,
        started_by: int | None,
        interval: int,
        now: int,
        thread_id: int | None = None,
    ) -> int | None:
        """A new run, or None when this chat already has one running."""
        async with self.db.transaction() as conn:
            if await conn.fetchone(
                "SELECT 1 FROM quiz_runs WHERE chat_id=? AND status='running'", (chat_id,)
            ):
                return None
            return await conn.insert(
                "INSERT INTO quiz_runs(quiz_id, title, chat_id, started_by, started_at, "
                "interval_seconds, next_index, next_at, thread_id) VALUES (?,?,?,?,?,?,0,?,?)",
                (quiz_id, title, chat_id, started_by, now, interval, now, thread_id),
            )

    async def run(self, run_id: int) -> QuizRun | None:
        row = await self.db.fetchone(f"SELECT {_RUN_COLUMNS} FROM quiz_runs WHERE id=?", (run_id,))
        return _quiz_run(row) if row else None

    async def running_in(self, chat_id: int) -> QuizRun | None:
        row = await self.db.fetchone(
            f"SELECT {_RUN_COLUMNS} FROM quiz_runs WHERE chat_id=? AND status='running'",
            (chat_id,),
        )
        return _quiz_run(row) if row else None

    async def running_runs(self) -> list[QuizRun]:
        rows = await self.db.fetchall(
            f"SELECT {_RUN_COLUMNS} FROM quiz_runs WHERE status='running'"
        )
        return [_quiz_run(r) for r in rows]

    async def claim_step(
        self, run_id: int, index: int, now: int, lease_until: int, next_at: int
    ) -> StepClaim:
        """Take question `index` of a running run to post it, held until `lease_until`: when
        nobody holds it, or its holder's lease ran out before its sendPoll left (the holder
        died waiting: the question was never asked, so it is asked now, not skipped). A lapsed
        holder whose sendPoll had left may have asked it: the run moves past it (`next_at`:
        when the one after is due), never asking it twice."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE quiz_runs SET asking_until=?, asking_sent_at=NULL "
                "WHERE id=? AND next_index=? AND status='running' AND (asking_until IS NULL "
                "OR (asking_until<? AND asking_sent_at IS NULL))",
                (lease_until, run_id, index, now),
            )
            if cursor.rowcount == 1:
                return StepClaim.TAKEN
            cursor = await conn.execute(
                "UPDATE quiz_runs SET next_index=next_index+1, next_at=?, asking_until=NULL, "
                "asking_sent_at=NULL WHERE id=? AND next_index=? AND status='running' "
                "AND asking_until<? AND asking_sent_at IS NOT NULL",
                (next_at, run_id, index, now),
            )
            return StepClaim.MAYBE_ASKED if cursor.rowcount == 1 else StepClaim.BUSY

    async def free_steps(self) -> None:
        """One process starting alone: a question held by its predecessor is held by nobody
        (its lease runs out now; whether its sendPoll left still counts)."""
        await self.db.execute(
            "UPDATE quiz_runs SET asking_until=0 WHERE status='running' "
            "AND asking_until IS NOT NULL"
        )

    async def renew_step(self, run_id: int, index: int, lease_until: int) -> None:
        await self.db.execute(
            "UPDATE quiz_runs SET asking_until=? WHERE id=? AND next_index=? "
            "AND asking_until IS NOT NULL",
            (lease_until, run_id, index),
        )

    async def lapse_step(self, run_id: int, index: int) -> None:
        """The worker holding question `index` failed while asking it: its lease ends now
        (whether its sendPoll left still counts, as for a worker that died)."""
        await self.db.execute(
            "UPDATE quiz_runs SET asking_until=0 WHERE id=? AND next_index=? "
            "AND asking_until IS NOT NULL",
            (run_id, index),
        )

    async def mark_asking_sent(self, run_id: int, index: int, now: int) -> None:
        """The question's sendPoll leaves now: from here on it may be out."""
        await self.db.execute(
            "UPDATE quiz_runs SET asking_sent_at=? WHERE id=? AND next_index=?",
            (now, run_id, index),
        )

    async def release_step(self, run_id: int, index: int) -> None:
        """The question was not asked (Telegram refused it): nobody holds it any more."""
        await self.db.execute(
            "UPDATE quiz_runs SET asking_until=NULL, asking_sent_at=NULL "
            "WHERE id=? AND next_index=?",
            (run_id, index),
        )

    async def asked(self, run_id: int, index: int, next_at: int) -> None:
        """Question `index` was posted and its poll recorded (`add_poll`, first: answers come
        at once): the run moves to the next question, due at `next_at`. A worker dying between
        the two leaves a question whose request had left: the next claim passes over it."""
        await self.db.execute(
            "UPDATE quiz_runs SET next_index=?, next_at=?, asking_until=NULL, "
            "asking_sent_at=NULL WHERE id=? AND next_index=?",
            (index + 1, next_at, run_id, index),
        )

    async def end_run(self, run_id: int, status: RunStatus, now: int) -> bool:
        cursor = await self.db.execute(
            "UPDATE quiz_runs SET status=?, ended_at=? WHERE id=? AND status='running'",
            (status.value, now, run_id),
        )
        return cursor.rowcount == 1

    async def add_poll(
        self,
        poll_id: str,
        run_id: int,
        position: int,
        chat_id: int,
        message_id: int,
        correct: int,
        sent_at: float,
    ) -> None:
        await self.db.execute(
            "INSERT INTO quiz_polls VALUES (?,?,?,?,?,?,?)",
            (poll_id, run_id, position, chat_id, message_id, correct, sent_at),
        )

    async def poll(self, poll_id: str) -> QuizPoll | None:
        row = await self.db.fetchone(
            f"SELECT {_POLL_COLUMNS} FROM quiz_polls WHERE poll_id=?", (poll_id,)
        )
        return _quiz_poll(row) if row else None

    async def last_poll(self, run_id: int) -> QuizPoll | None:
        row = await self.db.fetchone(
            f"SELECT {_POLL_COLUMNS} FROM quiz_polls WHERE run_id=? ORDER BY position DESC LIMIT 1",
            (run_id,),
        )
        return _quiz_poll(row) if row else None

    async def record_answer(
        self,
        poll_id: str,
        run_id: int,
        user_id: int,
        user_name: str,
        option: int,
        correct: bool,
        latency: float,
    ) -> bool:
        """The first answer counts; a later one (revote) is ignored."""
        cursor = await self.db.execute(
            "INSERT INTO quiz_answers VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (poll_id, run_id, user_id, user_name, option, int(correct), latency),
        )
        return cursor.rowcount == 1

    async def results(self, run_id: int) -> list[QuizScore]:
        """Ranking of one run: most correct answers first, then the least time on them."""
        rows = await self.db.fetchall(
            "SELECT user_id, MAX(user_name) AS name, SUM(correct) AS correct, 1 AS runs, "
            "SUM(CASE WHEN correct<>0 THEN latency ELSE 0 END) AS seconds "
            "FROM quiz_answers WHERE run_id=? GROUP BY user_id "
            "ORDER BY correct DESC, seconds ASC, user_id ASC",
            (run_id,),
        )
        return [_quiz_score(r) for r in rows]

    async def season(self, chat_id: int, limit: int = 10) -> list[QuizScore]:
        rows = await self.db.fetchall(
            "SELECT a.user_id, MAX(a.user_name) AS name, SUM(a.correct) AS correct, "
            "COUNT(DISTINCT a.run_id) AS runs, "
            "SUM(CASE WHEN a.correct<>0 THEN a.latency ELSE 0 END) AS seconds "
            "FROM quiz_answers a JOIN quiz_runs r ON r.id=a.run_id WHERE r.chat_id=? "
            "GROUP BY a.user_id ORDER BY correct DESC, seconds ASC, a.user_id ASC LIMIT ?",
            (chat_id, limit),
        )
        return [_quiz_score(r) for r in rows]


class GiveawayRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, **values: Any) -> int:
        values["require_chats"] = json.dumps(values.get("require_chats", []))
        columns = ", ".join(values)
        return await self.db.insert(
            f"INSERT INTO giveaways({columns}) VALUES ({', '.join('?' for _ in values)})",
            tuple(values.values()),
        )

    async def discard(self, giveaway_id: int) -> None:
        """Forget a giveaway that was never announced (nobody can have entered it)."""
        await self.db.execute(
            "DELETE FROM giveaways WHERE id=? AND status='open' AND message_id IS NULL",
            (giveaway_id,),
        )

    async def set_message(self, giveaway_id: int, message_id: int) -> None:
        await self.db.execute(
            "UPDATE giveaways SET message_id=? WHERE id=?", (message_id, giveaway_id)
        )

    async def get(self, giveaway_id: int) -> Giveaway | None:
        row = await self.db.fetchone("SELECT * FROM giveaways WHERE id=?", (giveaway_id,))
        return _giveaway(row) if row else None

    async def open_giveaways(self) -> list[Giveaway]:
        rows = await self.db.fetchall(
            "SELECT * FROM giveaways WHERE status IN ('open','drawing') ORDER BY ends_at"
        )
        return [_giveaway(r) for r in rows]

    async def add_entry(self, giveaway_id: int, user_id: int, name: str, now: int) -> EntryWrite:
        """An entry, written only while the giveaway is open: a press whose checks were still
        running when the draw claimed it would otherwise join after the entrants were read
        (told "you are in", missing from the published list, and /giveaway_verify failing)."""
        # the giveaway's row is share-locked on PostgreSQL: the draw's claim (an UPDATE) waits
        # for this entry, or this entry sees the giveaway no longer open
        cursor = await self.db.execute(
            "INSERT INTO giveaway_entries(giveaway_id, user_id, user_name, entered_at) "
            "SELECT ?,?,?,? FROM giveaways WHERE id=? AND status='open'"
            f"{self.db.sql.share_lock} ON CONFLICT DO NOTHING",
            (giveaway_id, user_id, name, now, giveaway_id),
        )
        if cursor.rowcount == 1:
            return EntryWrite.ADDED
        row = await self.db.fetchone("SELECT status FROM giveaways WHERE id=?", (giveaway_id,))
        if row is None or row["status"] != GiveawayStatus.OPEN:
            return EntryWrite.CLOSED
        return EntryWrite.ALREADY

    async def entries(self, giveaway_id: int) -> dict[int, str]:
        rows = await self.db.fetchall(
            "SELECT user_id, user_name FROM giveaway_entries WHERE giveaway_id=?",
            (giveaway_id,),
        )
        return {int(r["user_id"]): r["user_name"] for r in rows}

    async def count_entries(self, giveaway_id: int) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM giveaway_entries WHERE giveaway_id=?", (giveaway_id,)
        )
        return int(row["n"])

    async def claim_draw(self, giveaway_id: int, lease_until: int | None = None) -> bool:
        """Exactly one caller (timer, manual end, start-up) gets to draw."""
        cursor = await self.db.execute(
            "UPDATE giveaways SET status='drawing', lease_until=? WHERE id=? AND status='open'",
            (lease_until, giveaway_id),
        )
        return cursor.rowcount == 1

    async def take_over_draw(
        self, giveaway_id: int, now: int, lease_until: int, *, force: bool = False
    ) -> bool:
        """A draw its worker left unfinished: one caller resumes it, once that worker's lease
        ran out (`force`: no other worker exists, whatever the lease says)."""
        return await self._take_lease(giveaway_id, "drawing", now, lease_until, force)

    async def _take_lease(
        self,
        giveaway_id: int,
        status: str,
        now: int,
        lease_until: int,
        force: bool,
        unannounced: bool = False,
    ) -> bool:
        """The giveaway's lease for one caller while it is in `status` (and, `unannounced`,
        while its result is not out): free, run out, or (`force`) whatever it says."""
        sql = "UPDATE giveaways SET lease_until=? WHERE id=? AND status=?"
        params: tuple[Any, ...] = (lease_until, giveaway_id, status)
        if unannounced:
            sql += " AND announced_at IS NULL"
        if not force:
            sql += " AND (lease_until IS NULL OR lease_until<=?)"
            params += (now,)
        cursor = await self.db.execute(sql, params)
        return cursor.rowcount == 1

    async def renew_draw(self, giveaway_id: int, lease_until: int) -> None:
        """The drawing (then announcing) worker is alive: a draw's lease lasts until its
        result is out."""
        await self.db.execute(
            "UPDATE giveaways SET lease_until=? WHERE id=? "
            "AND status IN ('drawing','drawn') AND announced_at IS NULL",
            (lease_until, giveaway_id),
        )

    async def finish_draw(self, giveaway_id: int, now: int) -> None:
        """Drawn: the winners are stored. The lease stays with the drawing worker until the
        result is out (`mark_announced`): a worker starting meanwhile must not post it too."""
        await self.db.execute(
            "UPDATE giveaways SET status='drawn', drawn_at=? WHERE id=?", (now, giveaway_id)
        )

    async def unannounced(self) -> list[Giveaway]:
        """Drawn giveaways whose result never went out: their worker died in between."""
        rows = await self.db.fetchall(
            "SELECT * FROM giveaways WHERE status='drawn' AND announced_at IS NULL ORDER BY id"
        )
        return [_giveaway(r) for r in rows]

    async def take_announcement(
        self, giveaway_id: int, now: int, lease_until: int, *, force: bool = False
    ) -> bool:
        """One caller posts a stored draw's result nobody posted: the drawing worker's lease
        must have run out first (`force`: no other worker exists)."""
        return await self._take_lease(
            giveaway_id, "drawn", now, lease_until, force, unannounced=True
        )

    async def mark_announced(self, giveaway_id: int, now: int) -> None:
        """The result is out: never posted again, and the lease is free for a /reroll."""
        await self.db.execute(
            "UPDATE giveaways SET announced_at=?, lease_until=NULL WHERE id=? AND status='drawn'",
            (now, giveaway_id),
        )

    async def claim_reroll(
        self, giveaway_id: int, now: int, lease_until: int, *, force: bool = False
    ) -> bool:
        """One reroll at a time per drawn giveaway, whichever worker handles it: the caller
        whose update takes the row rerolls; the lease of one that died runs out (`force`: no
        other worker exists, so a lease left is one of a process that died)."""
        return await self._take_lease(giveaway_id, "drawn", now, lease_until, force)

    async def renew_reroll(self, giveaway_id: int, held: int, lease_until: int) -> bool:
        cursor = await self.db.execute(
            "UPDATE giveaways SET lease_until=? WHERE id=? AND status='drawn' AND lease_until=?",
            (lease_until, giveaway_id, held),
        )
        return cursor.rowcount == 1

    async def release_reroll(self, giveaway_id: int, held: int) -> None:
        await self.db.execute(
            "UPDATE giveaways SET lease_until=NULL WHERE id=? AND status='drawn' AND lease_until=?",
            (giveaway_id, held),
        )

    async def add_result(
        self,
        giveaway_id: int,
        user_id: int,
        outcome: DrawOutcome,
        reason: str | None,
        round_: int,
        rank: int,
    ) -> None:
        await self.db.execute(
            "INSERT INTO giveaway_results VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(giveaway_id, user_id) DO UPDATE SET outcome=excluded.outcome, "
            "reason=excluded.reason, round=excluded.round, rank=excluded.rank",
            (giveaway_id, user_id, outcome.value, reason, round_, rank),
        )

    async def results(self, giveaway_id: int) -> list[DrawResult]:
        rows = await self.db.fetchall(
            "SELECT user_id, outcome, reason, round, rank FROM giveaway_results "
            "WHERE giveaway_id=? ORDER BY round, rank",
            (giveaway_id,),
        )
        return [
            DrawResult(
                int(r["user_id"]), DrawOutcome(r["outcome"]), r["reason"], r["round"], r["rank"]
            )
            for r in rows
        ]

    async def past_winners(self, chat_id: int, except_giveaway: int) -> set[int]:
        rows = await self.db.fetchall(
            "SELECT r.user_id FROM giveaway_results r JOIN giveaways g ON g.id=r.giveaway_id "
            "WHERE g.chat_id=? AND r.outcome='won' AND g.id<>?",
            (chat_id, except_giveaway),
        )
        return {int(r["user_id"]) for r in rows}
