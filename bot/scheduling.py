"""One-shot timers on the shared APScheduler: the database holds the truth, these only wake us.

Every feature that must act at a stored time (captcha deadlines, quiz questions, giveaway ends)
arms a date job under a stable id, so re-arming at start or after a change replaces the old
timer instead of adding a second one, and a timer that fired late still fires
(`misfire_grace_time=None`): the handlers are idempotent, so late beats never.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler


def run_once_at(
    scheduler: AsyncIOScheduler,
    job_id: str,
    at: float,
    func: Callable[..., Awaitable[Any]],
    *args: Any,
    replace: bool = True,
) -> None:
    """Run `func(*args)` at unix time `at`; with `replace=False` an armed timer is kept."""
    if not replace and scheduler.get_job(job_id) is not None:
        return
    scheduler.add_job(
        func,
        "date",
        run_date=datetime.fromtimestamp(at, UTC),
        args=args,
        id=job_id,
        replace_existing=True,
        misfire_grace_time=None,
    )


def armed_at(scheduler: AsyncIOScheduler, job_id: str) -> float | None:
    """When the one-shot timer `job_id` fires, if one is armed: re-arming only a timer that is
    missing or set for another time keeps a sweep over many rows cheap."""
    job = scheduler.get_job(job_id)
    if job is None:
        return None
    return float(job.trigger.run_date.timestamp())


def cancel(scheduler: AsyncIOScheduler, job_id: str) -> None:
    job = scheduler.get_job(job_id)
    if job is not None:
        job.remove()
