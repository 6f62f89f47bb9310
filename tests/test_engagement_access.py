"""Quiz and giveaway rows as typed values, and who may use which quiz or manage which giveaway:
decided by the services, in SQLite and PostgreSQL alike, with no Telegram involved."""

from __future__ import annotations

from bot.engagement.giveaways import GiveawayRefusal, GiveawayService
from bot.engagement.quiz_format import parse_quiz_text
from bot.engagement.quizzes import QuizRefusal, QuizRunner
from storage.database import Database
from storage.engagement import (
    DrawOutcome,
    Giveaway,
    GiveawayRepository,
    GiveawayStatus,
    Quiz,
    QuizRepository,
    RunStatus,
)

GROUP, OTHER = -1001, -1002
T0 = 1_780_000_000
QUIZ = "Space\nQ: Nearest star?\n+ The Sun\n- Sirius\nQ: Red planet?\n+ Mars\n- Venus"


async def runner_for(db_target) -> tuple[Database, QuizRunner]:
    db = Database(db_target)
    await db.open()
    runner = QuizRunner(None, QuizRepository(db), None, None, None)  # type: ignore[arg-type]
    return db, runner


async def test_who_may_use_which_quiz(db_target):
    db, runner = await runner_for(db_target)
    try:
        ours = await runner.save(GROUP, parse_quiz_text(QUIZ), 7)
        shared = await runner.save(None, parse_quiz_text(QUIZ), 1)
        member, manager = False, True
        found = await runner.usable(f"#{ours}", GROUP, member)
        assert isinstance(found, Quiz) and found.owner_chat == GROUP and found.title == "Space"
        assert found.shuffle is True
        assert await runner.usable("three", GROUP, member) is QuizRefusal.NOT_AN_ID
        assert await runner.usable("", GROUP, member) is QuizRefusal.NOT_AN_ID
        assert await runner.usable(str(ours), OTHER, member) is QuizRefusal.NOT_HERE
        assert await runner.usable(str(ours), None, member) is QuizRefusal.NOT_HERE
        assert await runner.usable("999", GROUP, manager) is QuizRefusal.NOT_HERE
        assert isinstance(await runner.usable(str(ours), OTHER, manager), Quiz)
        # the managers' quiz: anyone plays it, only a manager deletes it
        assert isinstance(await runner.usable(str(shared), OTHER, member), Quiz)
        refused = await runner.usable(str(shared), GROUP, member, deleting=True)
        assert refused is QuizRefusal.MANAGERS_ONLY
        assert isinstance(await runner.usable(str(shared), GROUP, manager, deleting=True), Quiz)
        assert isinstance(await runner.usable(str(ours), GROUP, member, deleting=True), Quiz)
        listed = await runner.quizzes(GROUP)
        assert [(q.id, q.owner_chat, q.questions) for q in listed] == [
            (ours, GROUP, 2),
            (shared, None, 2),
        ]
        theirs = await runner.save(OTHER, parse_quiz_text(QUIZ), 8)
        assert [q.id for q in await runner.quizzes(GROUP)] == [ours, shared]
        assert [q.id for q in await runner.every_quiz()] == [ours, shared, theirs]
    finally:
        await db.close()


async def test_a_run_reads_back_typed_and_its_status_is_stored_as_before(db_target):
    db, runner = await runner_for(db_target)
    repo = runner.repo
    try:
        quiz_id = await runner.save(GROUP, parse_quiz_text(QUIZ), 7)
        run_id = await repo.start_run(quiz_id, "Space", GROUP, 7, 30, T0, thread_id=5)
        assert run_id is not None
        assert await repo.start_run(quiz_id, "Space", GROUP, 7, 30, T0) is None  # one per chat
        run = await repo.running_in(GROUP)
        assert run is not None and run.id == run_id and run.status is RunStatus.RUNNING
        assert (run.next_index, run.next_at, run.thread_id) == (0, T0, 5)
        assert [r.id for r in await repo.running_runs()] == [run_id]
        await repo.add_poll("p1", run_id, 0, GROUP, 50, 1, T0 + 0.5)
        await repo.record_answer("p1", run_id, 11, "Ann", 1, True, 3.0)
        await repo.record_answer("p1", run_id, 12, "Ben", 0, False, 1.0)
        last = await repo.last_poll(run_id)
        assert last is not None and (last.message_id, last.correct) == (50, 1)
        scores = await repo.results(run_id)
        assert [(s.name, s.correct, s.seconds, s.runs) for s in scores] == [
            ("Ann", 1, 3.0, 1),
            ("Ben", 0, 0.0, 1),
        ]
        assert await repo.end_run(run_id, RunStatus.STOPPED, T0 + 60)
        assert not await repo.end_run(run_id, RunStatus.FINISHED, T0 + 61)  # only once
        row = await db.fetchone("SELECT status FROM quiz_runs WHERE id=?", (run_id,))
        assert row["status"] == "stopped"
        ended = await repo.run(run_id)
        assert ended is not None and ended.status is RunStatus.STOPPED
        assert ended.ended_at == T0 + 60
        assert await repo.running_in(GROUP) is None
        season = await repo.season(GROUP)
        assert [(s.name, s.correct, s.runs) for s in season] == [("Ann", 1, 1), ("Ben", 0, 1)]
    finally:
        await db.close()


class Roles:
    """Managers and chat admins by id, as `RoleService` would find them."""

    def __init__(self, managers: set[int], admins: dict[int, set[int]]) -> None:
        self.managers, self.admins = managers, admins

    def is_manager(self, user_id: int | None) -> bool:
        return user_id in self.managers

    async def is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        return user_id in self.admins.get(chat_id, set())


async def test_who_may_manage_which_giveaway(db_target):
    db = Database(db_target)
    await db.open()
    try:
        repo = GiveawayRepository(db)
        roles = Roles(managers={1}, admins={GROUP: {2}, OTHER: {3}})
        service = GiveawayService(None, repo, None, roles, None, None, None)  # type: ignore[arg-type]
        giveaway_id = await repo.create(
            chat_id=GROUP,
            prize="A mug",
            winners_count=1,
            ends_at=T0,
            seed_hex="ab",
            commitment="c",
            created_at=T0 - 600,
        )
        for user in (1, 2):  # a manager, the chat's admin
            found = await service.usable(f"#{giveaway_id}", user, managing=True)
            assert isinstance(found, Giveaway) and found.status is GiveawayStatus.OPEN
        assert await service.usable(str(giveaway_id), 3, managing=True) is GiveawayRefusal.NOT_YOURS
        assert await service.usable(str(giveaway_id), 4, managing=True) is GiveawayRefusal.NOT_YOURS
        # sent as the group (an anonymous admin): as that group's admin, and no other's
        anonymous = 1087968824
        found = await service.usable(str(giveaway_id), anonymous, managing=True, posted_as=GROUP)
        assert isinstance(found, Giveaway)
        refused = await service.usable(str(giveaway_id), anonymous, managing=True, posted_as=OTHER)
        assert refused is GiveawayRefusal.NOT_YOURS
        assert isinstance(await service.usable(str(giveaway_id), 4, managing=False), Giveaway)
        assert await service.usable("mug", 1, managing=True) is GiveawayRefusal.NOT_AN_ID
        assert await service.usable("99", 1, managing=False) is GiveawayRefusal.NOT_FOUND
        await repo.add_result(giveaway_id, 7, DrawOutcome.WON, None, 0, 0)
        await repo.add_result(giveaway_id, 8, DrawOutcome.SKIPPED, "admin", 0, 0)
        await repo.finish_draw(giveaway_id, T0)
        drawn = await repo.get(giveaway_id)
        assert drawn is not None and drawn.status is GiveawayStatus.DRAWN
        results = await repo.results(giveaway_id)
        assert [(r.user_id, r.outcome, r.reason) for r in results] == [
            (7, DrawOutcome.WON, None),
            (8, DrawOutcome.SKIPPED, "admin"),
        ]
        row = await db.fetchone("SELECT outcome FROM giveaway_results WHERE user_id=8")
        assert row["outcome"] == "skipped"
    finally:
        await db.close()
