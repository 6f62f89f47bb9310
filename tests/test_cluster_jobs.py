"""Every timed job once, whichever worker fires it: the database claims (bot.cluster.jobs).

Two "workers" here are two sets of services with their own worker ids on one database, which
is all a claim depends on. SQLite admits one process per file, so this runs in one process
today; with DATABASE_URL (PostgreSQL) the same claims decide across processes
(tests/cluster_harness.worker_database is the hook for the end-to-end tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.clock import FrozenClock
from bot.cluster.jobs import JobClaims, occurrence_of
from bot.posting.failures import MAYBE_OUT, MISSED, SERVER_ERROR, UNCONFIRMED
from bot.posting.publisher import CLAIMS_AT_ONCE, Publisher
from bot.scheduling import armed_at, run_once_at
from storage.database import Database
from storage.engagement import GiveawayRepository
from storage.leases import LeaseRepository
from storage.posts import Post, PostRepository, PostStatus

T0 = int(datetime(2026, 3, 2, 0, 5, tzinfo=UTC).timestamp())  # a Monday, 00:05 UTC


@pytest.fixture
async def db(db_target) -> AsyncIterator[Database]:
    database = Database(db_target)
    await database.open()
    yield database
    await database.close()


async def test_a_lease_has_one_holder_until_it_runs_out(db: Database) -> None:
    leases = LeaseRepository(db)
    assert await leases.acquire("log-outbox", "a", T0, 30)
    assert not await leases.acquire("log-outbox", "b", T0 + 10, 30)
    assert await leases.acquire("log-outbox", "a", T0 + 20, 30)  # renewed: now until T0+50
    assert not await leases.acquire("log-outbox", "b", T0 + 49, 30)
    assert await leases.holder("log-outbox", T0 + 49) == "a"
    assert await leases.acquire("log-outbox", "b", T0 + 50, 30)  # a stopped renewing
    assert not await leases.acquire("log-outbox", "a", T0 + 51, 30)
    await leases.release("log-outbox", "a")  # not a's any more: nothing happens
    assert await leases.holder("log-outbox", T0 + 51) == "b"
    await leases.release("log-outbox", "b")
    assert await leases.acquire("log-outbox", "a", T0 + 52, 30)


def test_the_occurrence_is_the_scheduled_fire_time_however_late_the_timer() -> None:
    daily = CronTrigger(hour=0, minute=5, timezone="UTC")
    at = datetime.fromtimestamp(T0, UTC)
    assert occurrence_of(daily, at) == at
    assert occurrence_of(daily, datetime.fromtimestamp(T0 + 0.4, UTC)) == at
    assert occurrence_of(daily, datetime.fromtimestamp(T0 + 1800, UTC)) == at  # woke up late
    assert occurrence_of(daily, datetime.fromtimestamp(T0 - 0.3, UTC)) == at  # a bit early
    weekly = CronTrigger(day_of_week="mon", hour=9, minute=0, timezone="Europe/Amsterdam")
    monday = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Amsterdam
    assert occurrence_of(weekly, datetime(2026, 3, 2, 8, 20, tzinfo=UTC)) == monday


async def test_a_job_fired_on_two_workers_runs_once_per_occurrence(db: Database) -> None:
    clock = FrozenClock(T0 + 0.2)
    runs: list[str] = []

    async def digest() -> None:
        await asyncio.sleep(0.01)
        runs.append("digest")

    trigger = CronTrigger(hour=0, minute=5, timezone="UTC")
    workers = [JobClaims(LeaseRepository(db), name, clock=clock) for name in "ab"]
    jobs = [w.once("stats:daily", trigger, digest) for w in workers]
    await asyncio.gather(*(job() for job in jobs))
    assert runs == ["digest"]
    clock.set(T0 + 86400 + 0.7)  # the next day, the other worker's timer first
    await asyncio.gather(jobs[1](), jobs[0]())
    assert runs == ["digest", "digest"]
    # another job at the same time is its own occurrence
    other = workers[0].once("reputation:prune", trigger, digest)
    await other()
    assert len(runs) == 3


async def _publishing_post(
    repo: PostRepository, lease_until: int | None, *, sending: bool = True
) -> Post:
    """A post claimed for publishing; `sending`: its request was on its way to Telegram."""
    post_id = await repo.add(
        channel_id=-1001, source_chat_id=9001, source_message_ids=[5], due_at=T0,
        created_by=9001, now=T0 - 60,
    )  # fmt: skip
    assert await repo.claim(post_id, lease_until=lease_until)
    if sending:
        await repo.mark_sending(post_id, T0)
    post = await repo.get(post_id)
    assert post is not None and post.status == "publishing"
    return post


def _publisher(repo: PostRepository, notices: list, *, shared: bool, now: float) -> Publisher:
    async def notify(post: Post, reason: str) -> None:
        notices.append((post.id, reason))

    return Publisher(
        None,  # type: ignore[arg-type]  # recovery sends nothing itself
        repo,
        AsyncIOScheduler(timezone="UTC"),
        3600,
        notify,
        clock=FrozenClock(now),
        shared=shared,
    )


async def test_a_worker_starting_leaves_a_live_workers_post_alone(db: Database) -> None:
    repo = PostRepository(db)
    live = await _publishing_post(repo, lease_until=T0 + 120)
    dead = await _publishing_post(repo, lease_until=T0 - 1)
    notices: list = []
    starting = [_publisher(repo, notices, shared=True, now=T0) for _ in range(2)]
    await asyncio.gather(*(p.rebuild() for p in starting))
    assert (await repo.get(live.id)).status == "publishing"  # type: ignore[union-attr]
    assert (await repo.get(dead.id)).status == "needs_decision"  # type: ignore[union-attr]
    assert notices == [(dead.id, "interrupted")]  # the manager decides, told once
    # the live worker dies too: a sweep elsewhere finds its lease run out
    await starting[0]._recover_interrupted(T0 + 121)
    assert notices == [(dead.id, "interrupted"), (live.id, "interrupted")]


async def test_a_dead_workers_post_not_yet_sent_goes_back_to_the_queue(db: Database) -> None:
    """Claimed, then waiting for the send budget when its worker died: it never reached
    Telegram, so once the lease ran out it is queued again, and nobody is bothered."""
    repo = PostRepository(db)
    waiting = await _publishing_post(repo, lease_until=T0 - 1, sending=False)
    live = await _publishing_post(repo, lease_until=T0 + 120, sending=False)
    notices: list = []
    await _publisher(repo, notices, shared=True, now=T0)._recover_interrupted(T0)
    assert (await repo.get(waiting.id)).status == "scheduled"  # type: ignore[union-attr]
    assert (await repo.get(live.id)).status == "publishing"  # type: ignore[union-attr]
    assert notices == []
    assert await repo.claim(waiting.id, due_by=T0, lease_until=T0 + 180)  # published once more
    assert not await repo.requeue(waiting.id + 100)


async def test_a_sweep_arms_the_posts_due_before_the_next_one(db: Database) -> None:
    """A post queued or moved on another worker has a timer there only: each worker's sweep
    arms what falls due before its next sweep, at the database's time, so the post goes out
    on time if that worker died (the claim picks one publisher)."""
    repo = PostRepository(db)

    async def queued(due_at: int) -> int:
        return await repo.add(
            channel_id=-1001, source_chat_id=9001, source_message_ids=[5], due_at=due_at,
            created_by=9001, now=T0 - 60,
        )  # fmt: skip

    notices: list = []
    worker = _publisher(repo, notices, shared=True, now=T0)
    worker.sweep_seconds = 10
    worker.scheduler.start(paused=True)  # timers are set, none fires
    soon, just_due, later, mine = (
        await queued(T0 + 9),
        await queued(T0 - 2),
        await queued(T0 + 60),
        await queued(T0 + 5),
    )
    # this worker's timer for the post was set before the post was moved (on another worker)
    run_once_at(worker.scheduler, worker.job_id(mine), T0 + 3600, worker.publish_due, mine)
    await worker.sweep()
    jobs = {job.id: job for job in worker.scheduler.get_jobs()}
    assert worker.job_id(soon) in jobs and worker.job_id(just_due) in jobs
    assert worker.job_id(later) not in jobs  # the sweep before it arms it
    assert armed_at(worker.scheduler, worker.job_id(mine)) == T0 + 5
    assert armed_at(worker.scheduler, worker.job_id(soon)) == T0 + 9
    assert notices == []
    # one process: timers are armed at start and where a post is queued; the sweep only
    # catches up
    alone = _publisher(repo, notices, shared=False, now=T0)
    alone.sweep_seconds = 10
    alone.scheduler.start(paused=True)
    await alone.sweep()
    assert {job.id for job in alone.scheduler.get_jobs()} == {"posts:sweep"}
    for publisher in (worker, alone):
        publisher.scheduler.shutdown(wait=False)


async def test_posts_due_together_are_claimed_a_few_at_a_time_so_the_first_goes_out_at_once(
    db: Database,
) -> None:
    """Hundreds of timers fire in the same second. Claimed all at once, their claims filled the
    database's queue and the first claimed post's next query waited behind every one of them
    (1.2-1.9 s in bench/cluster.py --only burst); a few at a time, it waits behind a few. Two
    workers still publish each post once."""
    repo = PostRepository(db)
    ids = []
    for k in range(60):
        post_id = await repo.add(
            channel_id=-1001, source_chat_id=9001, source_message_ids=[k], due_at=T0,
            created_by=9001, now=T0 - 60,
        )  # fmt: skip
        ids.append(post_id)
    notices: list = []
    workers = [_publisher(repo, notices, shared=True, now=T0) for _ in range(2)]
    claiming = {id(worker): 0 for worker in workers}
    peak = 0
    events: list[str] = []
    published: list[int] = []

    def counted(worker: Publisher) -> None:
        claim = worker.repo.claim

        async def counting_claim(*args, **kwargs) -> bool:
            nonlocal peak
            claiming[id(worker)] += 1
            peak = max(peak, claiming[id(worker)])
            try:
                return await claim(*args, **kwargs)
            finally:
                claiming[id(worker)] -= 1
                events.append("claimed")

        async def publish_claimed(post_id: int, asked_by: int | None = None) -> bool:
            # what a claimed post does before its request leaves: read itself, then record
            # that it is being sent (the sends are the end-to-end tests',
            # tests/test_e2e_cluster_postgres.py)
            assert await repo.get(post_id) is not None
            await repo.mark_sending(post_id, T0)
            events.append("published")
            published.append(post_id)
            return True

        worker.repo = PostRepository(db)
        worker.repo.claim = counting_claim  # type: ignore[method-assign]
        worker._publish_claimed = publish_claimed  # type: ignore[method-assign]

    for worker in workers:
        counted(worker)
    await asyncio.gather(*(worker.publish_due(post_id) for post_id in ids for worker in workers))
    assert sorted(published) == ids  # each post once
    assert peak <= CLAIMS_AT_ONCE
    assert events.index("published") < len(events) // 4  # not after every claim


async def test_one_process_takes_every_half_published_post_for_interrupted(db: Database) -> None:
    """Without other workers nothing else can be publishing: today's behaviour, any lease."""
    repo = PostRepository(db)
    post = await _publishing_post(repo, lease_until=T0 + 120)
    notices: list = []
    await _publisher(repo, notices, shared=False, now=T0).rebuild()
    assert notices == [(post.id, "interrupted")]


async def test_an_unfinished_draw_is_resumed_once_its_lease_ran_out(db: Database) -> None:
    repo = GiveawayRepository(db)
    await db.execute(
        "INSERT INTO giveaways(id, chat_id, prize, winners_count, ends_at, require_chats, "
        "seed_hex, commitment, status, created_at) VALUES (1, -100, 'x', 1, ?, '[]', 'ab', 'c', "
        "'open', ?)",
        (T0, T0 - 600),
    )
    assert await repo.claim_draw(1, lease_until=T0 + 180)
    assert not await repo.claim_draw(1, lease_until=T0 + 180)  # one drawer
    assert not await repo.take_over_draw(1, T0 + 60, T0 + 240)  # its worker is alive
    results = await asyncio.gather(
        repo.take_over_draw(1, T0 + 181, T0 + 361), repo.take_over_draw(1, T0 + 181, T0 + 361)
    )
    assert sorted(results) == [False, True]  # it died: exactly one worker resumes
    assert await repo.take_over_draw(1, T0 + 182, T0 + 362, force=True)  # one process: always


async def test_a_sweep_arms_the_deletions_another_worker_would_have_made(db: Database) -> None:
    """Delete-after was armed only by the worker that published the post (and by every worker's
    start): if that worker died for good, the post stayed in the channel. Each worker's sweep
    now arms the deletions due before its next sweep, as it arms posts due."""
    repo = PostRepository(db)

    async def published(delete_at: int, hours: int = 1) -> int:
        post_id = await repo.add(
            channel_id=-1001, source_chat_id=9001, source_message_ids=[5], due_at=T0 - 7200,
            created_by=9001, now=T0 - 7260, delete_after_hours=hours,
        )  # fmt: skip
        assert await repo.claim(post_id)
        await repo.mark_published(post_id, [77], delete_at - hours * 3600)
        return post_id

    worker = _publisher(repo, [], shared=True, now=T0)
    worker.sweep_seconds = 10
    worker.scheduler.start(paused=True)  # timers are set, none fires
    soon, overdue, later = (
        await published(T0 + 9),
        await published(T0 - 30),
        await published(T0 + 60),
    )
    await worker.sweep()
    jobs = {job.id for job in worker.scheduler.get_jobs()}
    assert {f"post-delete:{soon}", f"post-delete:{overdue}"} <= jobs
    assert f"post-delete:{later}" not in jobs  # the sweep before it arms it
    assert armed_at(worker.scheduler, f"post-delete:{soon}") == T0 + 9
    worker.scheduler.shutdown(wait=False)


async def test_a_post_recorded_out_by_hand_arms_no_deletion(db: Database) -> None:
    """ "It is out" records a post whose send was not confirmed as published, with no message of
    it known in the channel: delete-after has nothing to delete. It used to stay among the posts
    awaiting deletion, so every sweep of every worker armed a deletion that did nothing."""
    repo = PostRepository(db)
    post_id = await repo.add(
        channel_id=-1001, source_chat_id=9001, source_message_ids=[5], due_at=T0 - 7200,
        created_by=9001, now=T0 - 7260, delete_after_hours=1,
    )  # fmt: skip
    assert await repo.claim(post_id)
    assert await repo.set_status(post_id, PostStatus.NEEDS_DECISION, UNCONFIRMED)
    assert await repo.mark_out(post_id, T0 - 7000, list(MAYBE_OUT.values()))
    assert await repo.awaiting_deletion() == []
    worker = _publisher(repo, [], shared=True, now=T0)
    worker.scheduler.start(paused=True)
    await worker.sweep()
    assert f"post-delete:{post_id}" not in {job.id for job in worker.scheduler.get_jobs()}
    worker.scheduler.shutdown(wait=False)


async def test_only_a_post_that_may_be_out_is_recorded_out(db: Database) -> None:
    """ "It is out" (an old button, or another manager's) on a post that was missed or held for
    lost rights never went out: it must not be recorded as published."""
    repo = PostRepository(db)
    post_id = await repo.add(
        channel_id=-1001, source_chat_id=9001, source_message_ids=[5], due_at=T0 - 7200,
        created_by=9001, now=T0 - 7260,
    )  # fmt: skip
    assert await repo.set_status(post_id, PostStatus.NEEDS_DECISION, MISSED)
    assert not await repo.mark_out(post_id, T0, list(MAYBE_OUT.values()))
    assert (await repo.get(post_id)).status is PostStatus.NEEDS_DECISION
    assert await repo.set_status(post_id, PostStatus.NEEDS_DECISION, SERVER_ERROR)
    assert await repo.mark_out(post_id, T0, list(MAYBE_OUT.values()))
    assert (await repo.get(post_id)).status is PostStatus.PUBLISHED


async def test_a_post_missed_while_every_worker_was_down_is_told_once(db: Database) -> None:
    """Both workers start after a post's grace period passed (the whole deployment was down):
    one of them sets it aside for the manager's decision, and the manager hears of it once,
    not once per worker."""
    repo = PostRepository(db)
    missed = await repo.add(
        channel_id=-1001, source_chat_id=9001, source_message_ids=[5], due_at=T0 - 7200,
        created_by=9001, now=T0 - 7260,
    )  # fmt: skip
    notices: list = []
    starting = [_publisher(repo, notices, shared=True, now=T0) for _ in range(2)]
    await asyncio.gather(*(p.rebuild() for p in starting))
    assert (await repo.get(missed)).status == "needs_decision"  # type: ignore[union-attr]
    assert notices == [(missed, "missed")]
