"""`renewing` keeps a claim or a lock alive while its holder works (bot.cluster.Renewal)."""

from __future__ import annotations

import asyncio

from bot.cluster import renewing


async def test_renews_while_the_body_runs_and_never_after() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def renew() -> None:
        calls.append(loop.time())

    async with renewing(renew, 0.05):
        await asyncio.sleep(0.28)
    done = len(calls)
    assert 4 <= done <= 6
    await asyncio.sleep(0.15)
    assert len(calls) == done


async def test_a_body_shorter_than_the_period_renews_nothing() -> None:
    calls: list[int] = []

    async def renew() -> None:
        calls.append(1)

    for _ in range(100):
        async with renewing(renew, 0.05):
            await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    assert calls == []
    assert [t for t in asyncio.all_tasks() if t.get_name() == "renewal"] == []


async def test_stop_waits_for_the_renewal_in_flight_without_cancelling_it() -> None:
    finished: list[bool] = []

    async def slow_renew() -> None:
        await asyncio.sleep(0.1)
        finished.append(True)

    async with renewing(slow_renew, 0.02) as renewal:
        await asyncio.sleep(0.05)  # the first renewal is on its way
        await renewal.stop()
        assert finished == [True]  # it ran to its end before stop() returned
    await asyncio.sleep(0.1)
    assert finished == [True]


async def test_false_ends_the_renewals_and_a_failure_does_not() -> None:
    results = iter([None, RuntimeError("redis down"), False, None, None])
    calls: list[int] = []

    async def renew() -> bool | None:
        calls.append(1)
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    async with renewing(renew, 0.02):
        await asyncio.sleep(0.2)
    assert len(calls) == 3  # renewed, failed (logged) and renewed, then told to stop
