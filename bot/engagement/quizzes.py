"""Running a quiz in a chat: post the questions as quiz polls on a timer, score the answers.

The run's position lives in the database (`next_index`, `next_at`); APScheduler only wakes the
runner. A question is claimed (`asking_until`, a lease renewed while its worker waits for the
send slot) before it is posted, and the run moves past it only once its poll is recorded:
a timer, a restart or another worker can never post a question twice, and a worker that dies
before its sendPoll left leaves the question to the next timer (on any worker) instead of
skipping it. One that dies after the request left may have asked it: it is passed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import PollAnswer
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import SYSTEM_CLOCK, Clock
from bot.cluster import DEFAULT_LEASE_SECONDS
from bot.cluster.jobs import heartbeat
from bot.engagement.quiz_format import MAX_QUESTION, Question, QuizDraft
from bot.engagement.topics import send_in_topic
from bot.i18n import plural_for
from bot.outbound import TelegramPacer
from bot.private import PrivateNotes
from bot.scheduling import cancel, run_once_at
from bot.texts import typed_id, utf16_length
from storage.chats import UserRepository
from storage.engagement import (
    Quiz,
    QuizPoll,
    QuizRepository,
    QuizRun,
    QuizScore,
    QuizSummary,
    RunStatus,
    StepClaim,
    StoredQuestion,
)

logger = logging.getLogger(__name__)

# Time after a poll closes before the next question, so the last voters are counted.
GRACE_SECONDS = 2
# After a start, time for polling to read the answers Telegram kept while the bot was down
# before an overdue step moves on (or finishes the run, after which answers no longer count).
RESTART_GRACE_SECONDS = 3
MEDALS = ("🥇", "🥈", "🥉")
# Telegram names a poll only in sendPoll's answer, so a quick vote can arrive before the poll's
# row is written (by this worker or another): while a run is going, an answer to an unknown poll
# looks for the row again every EARLY_ANSWER_STEP seconds, for at most EARLY_ANSWER_WAIT.
EARLY_ANSWER_WAIT = 10.0
EARLY_ANSWER_STEP = 0.5
# A step the database failed is tried again this much later.
STEP_RETRY_SECONDS = 5


class QuizRefusal(StrEnum):
    """Why a command naming a quiz does nothing with it."""

    NOT_AN_ID = "not_an_id"
    NOT_HERE = "not_here"  # no such quiz, or another chat's (managers reach every chat's)
    MANAGERS_ONLY = "managers_only"  # the managers' shared quiz: only they delete it
    RUNNING = "running"  # deleting it would end a run early, its last questions never asked


class PlaceRefusal(StrEnum):
    """Why a quiz cannot run in the chat a manager named."""

    UNKNOWN = "unknown"
    CHANNEL = "channel"


class StartStatus(StrEnum):
    STARTED = "started"  # the first question is out
    BUSY = "busy"  # a quiz already runs in that chat (or the quiz is gone)
    REFUSED = "refused"  # Telegram would not post the first question; nothing runs


@dataclass(frozen=True, slots=True)
class QuizStart:
    status: StartStatus
    run_id: int | None = None
    error: str | None = None  # Telegram's words, when REFUSED


def shuffled(options: list[str], correct: int, rng: random.Random) -> tuple[list[str], int]:
    """Options in a random order and where the correct one ended up."""
    order = list(range(len(options)))
    rng.shuffle(order)
    return [options[i] for i in order], order.index(correct)


class QuizRunner:
    def __init__(
        self,
        bot: Bot,
        repo: QuizRepository,
        scheduler: AsyncIOScheduler,
        i18n: I18n,
        locale_for: Callable[[int], Awaitable[str]],
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        notes: PrivateNotes | None = None,
        pacer: TelegramPacer | None = None,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        shared: bool = False,
    ):
        self.bot = bot
        self.shared = shared  # other workers may run (REDIS_URL)
        # the send budget, waited for before a question is marked as on its way
        self.pacer = pacer
        # a question being posted is held this long by its worker (renewed every third):
        # three worker leases, as a post being published (bot.posting.publisher)
        self.step_lease_seconds = 3 * lease_seconds
        self.repo = repo
        self.scheduler = scheduler
        self.i18n = i18n
        self.locale_for = locale_for
        self.clock = clock
        self.rng = rng or random.SystemRandom()
        self.notes = notes or PrivateNotes(bot, UserRepository(repo.db), clock)

    def _job_id(self, run_id: int) -> str:
        return f"quiz:{run_id}"

    def arm(self, run_id: int, at: float) -> None:
        run_once_at(self.scheduler, self._job_id(run_id), at, self.step, run_id)

    async def start(
        self,
        quiz_id: int,
        chat_id: int,
        started_by: int | None,
        interval: int,
        thread_id: int | None = None,
        announce: Callable[[], Awaitable[object]] | None = None,
    ) -> QuizStart:
        """A run in `chat_id`; `thread_id` is the forum topic it was started in, where every
        question and the results go. The first question is posted now, so a chat where
        Telegram refuses the poll is reported to whoever started it, and nothing runs.
        `announce` is called once the run is taken, before the first question, so members
        read "the quiz starts" before its first poll."""
        quiz = await self.repo.quiz(quiz_id)
        if quiz is None:
            return QuizStart(StartStatus.BUSY)
        run_id = await self.repo.start_run(
            quiz_id, quiz.title, chat_id, started_by, interval, int(self.clock()), thread_id
        )
        if run_id is None:
            return QuizStart(StartStatus.BUSY)
        if announce is not None:
            await announce()
        refused = await self._post_next(run_id)
        if refused is not None:
            return QuizStart(StartStatus.REFUSED, run_id, refused)
        return QuizStart(StartStatus.STARTED, run_id)

    async def place(self, chat: str) -> int | PlaceRefusal:
        """The id of the chat a manager names from private (an id or @username) to run a quiz
        in, or why no quiz can run there: Telegram does not know it or the bot is not in it (a
        quiz started there would post nothing, and nobody would be told), or it is a channel,
        where Telegram refuses a poll that says who answered."""
        try:
            found = await self.bot.get_chat(chat)
        except TelegramAPIError as exc:
            logger.info("quiz: chat %s not reachable: %s", chat, exc)
            return PlaceRefusal.UNKNOWN
        return PlaceRefusal.CHANNEL if found.type == ChatType.CHANNEL else found.id

    async def rearm_all(self, *, starting: bool = False) -> int:
        """Timers back for the runs in progress. At a start (`starting`) an overdue step waits
        a moment: the answers given while the bot was down are still queued at Telegram, and
        finishing first scored them as never given. (A periodic re-arm by another worker
        does not wait: it would delay every question it happens upon.)"""
        if starting and not self.shared:
            await self.repo.free_steps()  # a question its predecessor held is nobody's now
        runs = await self.repo.running_runs()
        soonest = self.clock() + (RESTART_GRACE_SECONDS if starting else 0)
        for run in runs:
            self.arm(run.id, max(run.next_at or 0, soonest))
        return len(runs)

    async def step(self, run_id: int) -> None:
        """The timer: post the next question, or finish when there is none. A question Telegram
        refuses ends the run, and its starter is told privately (the timer has no chat of
        theirs to answer in). A step the database failed (a PostgreSQL restart) is tried again
        shortly: a timer is the run's only one in a single process, and the quiz stood still
        until the next start."""
        try:
            refused = await self._post_next(run_id)
        except Exception:
            logger.exception(
                "quiz %s: step failed; trying again in %ss", run_id, STEP_RETRY_SECONDS
            )
            self.arm(run_id, self.clock() + STEP_RETRY_SECONDS)
            return
        run = await self.repo.run(run_id) if refused is not None else None
        if run is None or run.started_by is None:
            return
        locale = await self.locale_for(run.started_by)
        text = self.i18n.gettext(
            "The quiz “{title}” stopped: Telegram refused its next question (“{error}”). "
            "Check my rights in that chat.",
            locale=locale,
        ).format(title=html.escape(run.title), error=html.escape(refused or ""))
        await self.notes.send_message(run.started_by, text)  # tried once, the answer recorded

    async def _post_next(self, run_id: int) -> str | None:
        """Post the next question, or finish when there is none; Telegram's refusal when it
        would not take the question (the run is then over)."""
        run = await self.repo.run(run_id)
        if run is None or run.status is not RunStatus.RUNNING:
            return None
        now = int(self.clock())
        if run.next_at is not None and run.next_at > now + 1:
            # a timer set before the run moved on (another worker posted the question it was
            # set for): the next question is not due yet
            self.arm(run_id, run.next_at)
            return None
        questions = await self.repo.questions(run.quiz_id)
        index = run.next_index
        if index >= len(questions):
            await self.finish(run_id, RunStatus.FINISHED)
            return None
        lease = self.step_lease_seconds
        after_skip = now + run.interval_seconds + GRACE_SECONDS
        claim = await self.repo.claim_step(run_id, index, now, now + lease, after_skip)
        if claim is StepClaim.MAYBE_ASKED:
            logger.warning(
                "quiz %s: question %s was on its way when its worker stopped; not asked again",
                run_id,
                index,
            )
            self.arm(run_id, after_skip)
            return None
        if claim is StepClaim.BUSY:
            # another worker is posting it; should it die, this timer takes over after its lease
            held = await self.repo.run(run_id)
            if held is not None and held.asking_until is not None:
                self.arm(run_id, held.asking_until + 1)
            return None

        async def renew() -> None:
            await self.repo.renew_step(run_id, index, int(self.clock()) + lease)

        try:
            async with heartbeat(renew, every=lease / 3):
                return await self._ask(run, questions, index)
        except Exception:
            # this worker holds the question and no longer asks it: its lease ends now, so the
            # retry STEP_RETRY_SECONDS later asks it (or passes over it, had its sendPoll left)
            # instead of waiting out a lease of minutes
            with suppress(Exception):
                await self.repo.lapse_step(run_id, index)
            raise

    async def _ask(self, run: QuizRun, questions: list[StoredQuestion], index: int) -> str | None:
        """Post question `index` of a run whose step this worker holds."""
        run_id = run.id
        question = questions[index]
        quiz = await self.repo.quiz(run.quiz_id)
        options, correct = (
            shuffled(question.options, question.correct, self.rng)
            if quiz is None or quiz.shuffle
            else (question.options, question.correct)
        )
        locale = await self.locale_for(run.chat_id)
        prefix = self.i18n.gettext("Question {n}/{total}", locale=locale).format(
            n=index + 1, total=len(questions)
        )
        asked = f"{prefix}: {question.text}"
        # the number gives way: cutting it would cut the question's end
        if utf16_length(asked) > MAX_QUESTION:
            asked = question.text
        # the send slot first, then the mark that the request leaves: a worker that dies while
        # waiting for the slot asked nothing, and the question is asked by the next timer
        pacing = (
            self.pacer.paced(run.chat_id) if self.pacer is not None else contextlib.nullcontext()
        )
        try:
            async with pacing:
                await self.repo.mark_asking_sent(run_id, index, int(self.clock()))
                # plain text, as written: the bot's default HTML parse mode would make Telegram
                # refuse a question or explanation with "<" or "&" ("can't parse entities")
                message = await self.bot.send_poll(
                    run.chat_id,
                    asked,
                    [*options],
                    type="quiz",
                    is_anonymous=False,
                    correct_option_ids=[correct],
                    explanation=question.explanation,
                    open_period=run.interval_seconds,
                    message_thread_id=run.thread_id,
                    question_parse_mode=None,
                    explanation_parse_mode=None,
                )
        except TelegramAPIError as exc:
            logger.warning("quiz %s: could not post question %s: %s", run_id, index, exc)
            await self.repo.release_step(run_id, index)
            # nothing was asked yet: no results to announce
            await self.finish(run_id, RunStatus.STOPPED, announce=index > 0)
            return exc.message
        assert message.poll is not None, "sendPoll answers with the poll it sent"
        sent_at = self.clock()
        next_at = int(sent_at) + run.interval_seconds + GRACE_SECONDS
        await self.repo.add_poll(
            message.poll.id,
            run_id,
            index,
            message.chat.id,  # not the run's: an upgraded group's poll went to the new id
            message.message_id,
            correct,
            sent_at,
        )
        await self.repo.asked(run_id, index, next_at)
        now = await self.repo.run(run_id)
        if now is None or now.status is not RunStatus.RUNNING:
            # stopped while this question was on its way: its results are out already, so the
            # question is taken back rather than left open under them
            with contextlib.suppress(TelegramAPIError):
                await self.bot.delete_message(message.chat.id, message.message_id)
            return None
        self.arm(run_id, next_at)
        return None

    async def answer(self, answer: PollAnswer) -> bool:
        if answer.user is None or not answer.option_ids:
            return False
        received = self.clock()
        poll = await self._poll_of(answer.poll_id)
        if poll is None:
            return False
        run = await self.repo.run(poll.run_id)
        if run is None or run.status is not RunStatus.RUNNING:
            return False
        option = answer.option_ids[0]
        return await self.repo.record_answer(
            answer.poll_id,
            poll.run_id,
            answer.user.id,
            answer.user.full_name,
            option,
            option == poll.correct,
            # Telegram takes no vote after open_period: an answer read later (kept while the
            # bot was down) was given within it, so it is not charged the delivery delay
            min(max(0.0, received - poll.sent_at), float(run.interval_seconds)),
        )

    async def _poll_of(self, poll_id: str) -> QuizPoll | None:
        """The stored question `poll_id` is, waiting for its row a moment while a run is going:
        an early answer is kept, not dropped. An answer to a poll of no run (an old one, or none
        of the bot's quizzes) is not kept waiting once no run goes on."""
        poll = await self.repo.poll(poll_id)
        if poll is not None or not await self.repo.running_runs():
            return poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EARLY_ANSWER_WAIT
        while loop.time() < deadline:
            await asyncio.sleep(EARLY_ANSWER_STEP)
            if (poll := await self.repo.poll(poll_id)) is not None:
                return poll
        return None

    async def stop_in(self, chat_id: int) -> QuizRun | None:
        """/quiz_stop: end the chat's running quiz now, with its results; the run stopped, or
        None when none runs."""
        run = await self.repo.running_in(chat_id)
        if run is None:
            return None
        await self.finish(run.id, RunStatus.STOPPED)
        return run

    async def finish(self, run_id: int, status: RunStatus, *, announce: bool = True) -> bool:
        run = await self.repo.run(run_id)
        if run is None or not await self.repo.end_run(run_id, status, int(self.clock())):
            return False
        cancel(self.scheduler, self._job_id(run_id))
        if status is RunStatus.STOPPED:
            last = await self.repo.last_poll(run_id)
            if last is not None:
                with contextlib.suppress(TelegramAPIError):  # already closed
                    await self.bot.stop_poll(last.chat_id, last.message_id)
        if not announce:
            return True
        locale = await self.locale_for(run.chat_id)
        text = self.render_results(run.title, await self.repo.results(run_id), locale)
        await send_in_topic(self.bot, run.chat_id, text, run.thread_id)
        return True

    def render_results(self, title: str, rows: list[QuizScore], locale: str) -> str:
        gettext = self.i18n.gettext
        lines = [gettext("🏁 Results of “{title}”", locale=locale).format(title=html.escape(title))]
        if not rows:
            lines.append(gettext("Nobody answered.", locale=locale))
        for n, row in enumerate(rows[:20], start=1):
            medal = MEDALS[n - 1] if n <= 3 else f"{n}."
            lines.append(
                gettext("{place} {name} — {correct} correct, {seconds}s", locale=locale).format(
                    place=medal,
                    name=html.escape(row.name),
                    correct=row.correct,
                    seconds=round(row.seconds, 1),
                )
            )
        return "\n".join(lines)

    def render_season(self, rows: list[QuizScore], locale: str) -> str:
        gettext = self.i18n.gettext
        ngettext = plural_for(self.i18n, locale)
        lines = [gettext("🏆 Season table of this chat", locale=locale)]
        if not rows:
            lines.append(gettext("No quiz has been played here yet.", locale=locale))
        for n, row in enumerate(rows, start=1):
            medal = MEDALS[n - 1] if n <= 3 else f"{n}."
            lines.append(
                ngettext(
                    "{place} {name} — {correct} correct in {quizzes} quiz",
                    "{place} {name} — {correct} correct in {quizzes} quizzes",
                    row.runs,
                ).format(
                    place=medal,
                    name=html.escape(row.name),
                    correct=row.correct,
                    quizzes=row.runs,
                )
            )
        return "\n".join(lines)

    # --- the quiz catalog ---------------------------------------------------------------------

    async def save(self, owner_chat: int | None, draft: QuizDraft, author: int | None) -> int:
        """A parsed quiz kept for a chat (None: the managers', usable everywhere)."""
        questions = [(q.text, q.options, q.correct, q.explanation) for q in draft.questions]
        return await self.repo.add_quiz(
            owner_chat, draft.title, author, questions, int(self.clock())
        )

    async def quizzes(self, chat_id: int | None) -> list[QuizSummary]:
        """The chat's own quizzes and the managers'."""
        return await self.repo.list_quizzes(chat_id)

    async def every_quiz(self) -> list[QuizSummary]:
        """All chats' quizzes and the managers': a manager may start any of them anywhere, and
        from private saw only the shared ones, not the ids of the groups' own."""
        return await self.repo.list_quizzes(None, every_chat=True)

    async def usable(
        self, raw_id: str, here: int | None, is_manager: bool, *, deleting: bool = False
    ) -> Quiz | QuizRefusal:
        """The quiz named by `raw_id` ("3" or "#3") if this user may use it in `here` (None: a
        private chat). A chat's quizzes are its own; the managers' are everyone's to play but
        only theirs to delete; a manager reaches every chat's."""
        quiz_id = typed_id(raw_id)
        if quiz_id is None:
            return QuizRefusal.NOT_AN_ID
        quiz = await self.repo.quiz(quiz_id)
        if quiz is None or (quiz.owner_chat not in (None, here) and not is_manager):
            return QuizRefusal.NOT_HERE
        if deleting and quiz.owner_chat is None and not is_manager:
            return QuizRefusal.MANAGERS_ONLY
        if deleting and any(run.quiz_id == quiz.id for run in await self.repo.running_runs()):
            return QuizRefusal.RUNNING
        return quiz

    async def delete(self, quiz_id: int) -> bool:
        return await self.repo.delete_quiz(quiz_id)

    async def questions(self, quiz_id: int) -> list[Question]:
        stored = await self.repo.questions(quiz_id)
        return [Question(q.text, q.options, q.correct, q.explanation) for q in stored]

    async def season(self, chat_id: int) -> list[QuizScore]:
        return await self.repo.season(chat_id)
