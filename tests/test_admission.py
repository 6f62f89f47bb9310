"""The loop's time slice per iteration: a crowd of steps is spread over iterations."""

from __future__ import annotations

import asyncio
import time

from bot import admission


async def test_a_crowd_is_admitted_over_several_iterations_and_all_get_through():
    iteration = [0]
    admitted_in: list[int] = []

    async def count_iterations() -> None:
        while True:
            await asyncio.sleep(0)
            iteration[0] += 1

    async def step() -> None:
        await admission.checkpoint()
        admitted_in.append(iteration[0])
        busy_until = time.perf_counter() + 0.001  # a millisecond of work per admitted step
        while time.perf_counter() < busy_until:
            pass

    counter = asyncio.create_task(count_iterations())
    await asyncio.sleep(0)
    await asyncio.gather(*(step() for _ in range(40)))
    counter.cancel()
    assert len(admitted_in) == 40  # nobody is left out
    per_iteration = {i: admitted_in.count(i) for i in set(admitted_in)}
    # a slice of 4 ms holds about four such steps (plus the one that crossed the line)
    assert max(per_iteration.values()) <= admission.SLICE_SECONDS / 0.001 + 1
    assert len(per_iteration) >= 40 / (admission.SLICE_SECONDS / 0.001 + 1)
    assert admitted_in == sorted(admitted_in)  # in their order


async def test_a_lone_caller_goes_on_at_once():
    for _ in range(3):
        started = time.perf_counter()
        await admission.checkpoint()
        assert time.perf_counter() - started < admission.SLICE_SECONDS
        await asyncio.sleep(0.005)  # the next one comes in a later iteration
