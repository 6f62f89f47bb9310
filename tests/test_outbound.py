"""The outbound layer: pacing arithmetic with a fake clock, and the retry policy."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, SendMediaGroup, SendMessage, SetMyCommands
from aiogram.types import InputMediaPhoto

from bot.outbound import (
    IN_FLIGHT_POLL_SECONDS,
    Limit,
    OutboundMiddleware,
    PacingPolicy,
    RetryPolicy,
    SlidingWindowLimiter,
    TelegramPacer,
    at_most_once,
    is_group_chat_id,
    maybe_delivered,
    message_cost,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_sliding_window_allows_burst_then_waits():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(clock=clock)
    limits = [Limit(3, 3.0)]
    for _ in range(3):
        assert limiter.wait_time("c", limits) == 0
        limiter.record("c")
    assert limiter.wait_time("c", limits) == pytest.approx(3.0)
    clock.now += 1.0
    assert limiter.wait_time("c", limits) == pytest.approx(2.0)
    clock.now += 2.0
    assert limiter.wait_time("c", limits) == 0


def test_pause_blocks_the_key():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(clock=clock)
    limiter.pause("c", 7)
    assert limiter.wait_time("c", [Limit(30, 1.0)]) == pytest.approx(7)
    assert limiter.wait_time("other", [Limit(30, 1.0)]) == 0


def test_a_message_counts_from_its_slot_until_a_window_after_its_answer():
    """Telegram counts a message when it arrives, somewhere between the slot and the answer:
    a request still in flight holds its place however long it takes."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(clock=clock)
    limits = [Limit(30, 1.0)]
    limiter.start("*", 30)
    assert limiter.wait_time("*", limits) == IN_FLIGHT_POLL_SECONDS  # full, answers pending
    clock.now += 5.0  # a stalled worker: the 30 may arrive only now
    assert limiter.wait_time("*", limits) == IN_FLIGHT_POLL_SECONDS
    limiter.finish("*", 20)
    assert limiter.wait_time("*", limits) == pytest.approx(1.0)  # a second after the answers
    limiter.finish("*", 10, sent=False)  # never left: its places are free at once
    assert limiter.wait_time("*", limits, cost=10) == 0
    assert limiter.wait_time("*", limits, cost=11) == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.wait_time("*", limits, cost=30) == 0


async def test_a_paced_slot_no_request_used_is_given_back():
    clock = FakeClock()
    pacer = TelegramPacer(PacingPolicy(overall=Limit(1, 1.0)), clock=clock, sleep=clock.sleep)
    async with pacer.paced(5):
        assert pacer.wait_hint(6) == IN_FLIGHT_POLL_SECONDS  # held while the block runs
    assert pacer.wait_hint(6) == 0  # nothing was sent on it


async def test_the_middleware_counts_a_message_until_its_answer(bot):
    clock = FakeClock()
    pacer = TelegramPacer(PacingPolicy(overall=Limit(1, 1.0)), clock=clock, sleep=clock.sleep)
    outbound = OutboundMiddleware(pacer=pacer, sleep=clock.sleep)

    async def slow(bot, method):  # answered 3 s after it left
        assert pacer.wait_hint(99) == IN_FLIGHT_POLL_SECONDS
        clock.now += 3.0
        return "ok"

    assert await outbound(slow, bot, SendMessage(chat_id=5, text="x")) == "ok"
    assert pacer.wait_hint(99) == pytest.approx(1.0)  # a second from the answer, not the slot
    async with pacer.paced(7):  # the publisher's way: slot first, the request in the block
        assert await outbound(Script(), bot, SendMessage(chat_id=7, text="x")) == "ok"
    assert clock.slept == [1.0]  # the paced slot waited; the request in the block did not


async def test_a_paced_slot_is_given_back_when_the_block_fails_before_sending():
    """The publisher marks a post as being sent inside the block: if that fails, no request
    left and the place must not stay taken (in one process nothing would ever free it)."""
    clock = FakeClock()
    pacer = TelegramPacer(PacingPolicy(overall=Limit(1, 1.0)), clock=clock, sleep=clock.sleep)
    with pytest.raises(RuntimeError):
        async with pacer.paced(5):
            raise RuntimeError("the database refused the mark")
    assert pacer.wait_hint(6) == 0


@pytest.mark.parametrize("error", [TelegramBadRequest, TelegramForbiddenError])
async def test_a_failed_request_counts_from_its_failure_and_is_not_left_in_flight(bot, error):
    """A refused request may still have been counted by Telegram: its place is held for a
    window after the answer, as for a sent one, and not for ever as if still in flight."""
    clock = FakeClock()
    pacer = TelegramPacer(PacingPolicy(overall=Limit(1, 1.0)), clock=clock, sleep=clock.sleep)
    outbound = OutboundMiddleware(pacer=pacer, sleep=clock.sleep)
    method = SendMessage(chat_id=5, text="x")

    async def refused(bot, method):
        clock.now += 2.0  # answered 2 s after it left
        raise error(method=method, message="nope")

    with pytest.raises(error):
        await outbound(refused, bot, method)
    assert pacer.wait_hint(99) == pytest.approx(1.0)
    clock.now += 1.0
    assert pacer.wait_hint(99) == 0


async def test_a_request_cancelled_in_flight_counts_from_its_cancellation(bot):
    """A handler cancelled while its request is out (shutdown, a timeout): the request may
    have arrived, so it counts for a window from then; and its place is not leaked."""
    clock = FakeClock()
    pacer = TelegramPacer(PacingPolicy(overall=Limit(1, 1.0)), clock=clock, sleep=clock.sleep)
    outbound = OutboundMiddleware(pacer=pacer, sleep=clock.sleep)
    out = asyncio.Event()

    async def hangs(bot, method):
        out.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(outbound(hangs, bot, SendMessage(chat_id=5, text="x")))
    await out.wait()
    assert pacer.wait_hint(99) == IN_FLIGHT_POLL_SECONDS
    clock.now += 4.0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pacer.wait_hint(99) == pytest.approx(1.0)


async def test_a_message_counts_in_its_chat_until_its_answer(bot):
    """The chat's own budget holds an unanswered message as the overall one does."""
    clock = FakeClock()
    policy = PacingPolicy(overall=Limit(30, 1.0), per_chat=Limit(1, 1.0))
    pacer = TelegramPacer(policy, clock=clock, sleep=clock.sleep)
    slot = await pacer.take(5)
    assert pacer.wait_hint(5) == IN_FLIGHT_POLL_SECONDS
    assert pacer.wait_hint(6) == 0  # another chat goes at once
    clock.now += 3.0
    await pacer.done(slot)
    assert pacer.wait_hint(5) == pytest.approx(1.0)


async def test_a_retry_after_429_takes_a_new_slot_and_the_first_counts_from_its_answer(bot):
    clock = FakeClock()
    pacer = TelegramPacer(PacingPolicy(overall=Limit(2, 1.0)), clock=clock, sleep=clock.sleep)
    outbound = OutboundMiddleware(pacer=pacer, sleep=clock.sleep)
    method = SendMessage(chat_id=5, text="x")
    script = Script(TelegramRetryAfter(method=method, message="flood", retry_after=3))
    assert await outbound(script, bot, method) == "ok"
    assert script.calls == 2
    # the 429'd request counted a window from its answer (over by now, 3 s later); the retry
    # holds one place for a second: one place is left, not two and not none
    assert pacer.wait_hint(99) == 0
    assert pacer.wait_hint(99, cost=2) == pytest.approx(1.0)


async def test_pacer_keeps_every_limit_over_a_long_run():
    clock = FakeClock()
    pacer = TelegramPacer(PacingPolicy(), clock=clock, sleep=clock.sleep)
    sent: list[tuple[float, int]] = []
    chats = [-100 - i for i in range(5)] + [i + 1 for i in range(5)]
    for n in range(600):
        chat = chats[n % len(chats)]
        await pacer.acquire(chat)
        sent.append((clock.now, chat))
    times = [t for t, _ in sent]
    # overall: never more than 30 in any 1-second window
    assert max(sum(1 for u in times if t <= u < t + 1.0) for t in times) <= 30
    for chat in chats:
        mine = [t for t, c in sent if c == chat]
        # one a second per chat: never two in any second, no burst
        assert max(sum(1 for u in mine if t <= u < t + 1.0) for t in mine) == 1
        if chat < 0:
            assert max(sum(1 for u in mine if t <= u < t + 60.0) for t in mine) <= 20
    # 60 messages per group at 20/min: the third batch of 20 cannot start before t=120s;
    # sequential sending may add a little on top of that, but not much
    assert 120.0 <= clock.now - 1000.0 <= 150.0


def test_group_ids_and_costs():
    assert is_group_chat_id(-100123) and is_group_chat_id("@channel")
    assert not is_group_chat_id(42) and not is_group_chat_id("42")
    assert message_cost(SendMessage(chat_id=5, text="x")) == (5, 1)
    media = [InputMediaPhoto(media="a"), InputMediaPhoto(media="b")]
    assert message_cost(SendMediaGroup(chat_id=-1, media=media)) == (-1, 2)
    assert message_cost(SetMyCommands(commands=[])) is None


class Script:
    """A make_request that fails as scripted, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self, bot, method):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


@pytest.fixture
def bot():
    return Bot("123:abc")


def middleware(clock: FakeClock) -> OutboundMiddleware:
    pacer = TelegramPacer(clock=clock, sleep=clock.sleep)
    return OutboundMiddleware(pacer=pacer, retry=RetryPolicy(), sleep=clock.sleep)


async def test_429_waits_retry_after_and_pauses_chat(bot):
    clock = FakeClock()
    mw = middleware(clock)
    method = SendMessage(chat_id=7, text="hi")
    script = Script(TelegramRetryAfter(method=method, message="flood", retry_after=5))
    assert await mw(script, bot, method) == "ok"
    assert script.calls == 2
    assert 5 in clock.slept


async def test_too_long_retry_after_goes_back_to_caller(bot):
    clock = FakeClock()
    mw = middleware(clock)
    method = SendMessage(chat_id=7, text="hi")
    script = Script(TelegramRetryAfter(method=method, message="flood", retry_after=3600))
    with pytest.raises(TelegramRetryAfter):
        await mw(script, bot, method)
    assert script.calls == 1


async def test_transient_errors_back_off_exponentially_then_give_up(bot):
    clock = FakeClock()
    mw = middleware(clock)
    method = SetMyCommands(commands=[])
    errors = [TelegramServerError(method=method, message="Internal")] * 2 + [
        TelegramNetworkError(method=method, message="reset")
    ] * 3
    script = Script(*errors)
    with pytest.raises(TelegramNetworkError):
        await mw(script, bot, method)
    assert script.calls == RetryPolicy().max_attempts
    assert len(clock.slept) == 4
    assert all(b > a for a, b in zip(clock.slept, clock.slept[1:], strict=False))
    for attempt, slept in enumerate(clock.slept, start=1):
        nominal = min(16.0, 0.5 * 2 ** (attempt - 1))
        assert 0.75 * nominal <= slept <= 1.25 * nominal


@pytest.mark.parametrize("error", [TelegramBadRequest, TelegramForbiddenError])
async def test_permanent_errors_are_not_retried(bot, error):
    clock = FakeClock()
    mw = middleware(clock)
    method = SendMessage(chat_id=7, text="hi")
    script = Script(error(method=method, message="nope"))
    with pytest.raises(error):
        await mw(script, bot, method)
    assert script.calls == 1 and clock.slept == []


async def test_get_updates_passes_straight_through(bot):
    clock = FakeClock()
    mw = middleware(clock)
    method = GetUpdates()
    script = Script(TelegramServerError(method=method, message="x"))
    with pytest.raises(TelegramServerError):
        await mw(script, bot, method)
    assert script.calls == 1


def network_error(method, cause: Exception) -> TelegramNetworkError:
    """As aiogram's aiohttp session raises it: the aiohttp error as its cause."""
    error = TelegramNetworkError(method=method, message=f"{type(cause).__name__}: {cause}")
    error.__cause__ = cause
    return error


async def test_at_most_once_repeats_only_a_connection_never_made(bot):
    """Inside `at_most_once` (a post being copied to its channel) a lost answer is not sent
    again: Telegram may have made the post. A connection that was never made still is."""
    from aiohttp import ClientConnectorError, ServerDisconnectedError
    from aiohttp.client_reqrep import ConnectionKey

    key = ConnectionKey("api.telegram.org", 443, True, True, None, None, None)
    method = SendMessage(chat_id=-1001, text="post")
    never = network_error(method, ClientConnectorError(key, OSError(111, "refused")))
    lost = network_error(method, ServerDisconnectedError())
    timeout = TelegramNetworkError(method=method, message="Request timeout error")
    timeout.__cause__ = TimeoutError()
    for error, calls in ((never, 2), (lost, 1), (timeout, 1)):
        script = Script(error, *([error] if calls == 1 else []))
        with at_most_once():
            try:
                await middleware(FakeClock())(script, bot, method)
            except TelegramNetworkError:
                assert calls == 1, error
        assert script.calls == calls, error
    # outside it, a lost answer is retried as before
    script = Script(lost)
    await middleware(FakeClock())(script, bot, method)
    assert script.calls == 2


async def test_at_most_once_does_not_repeat_a_5xx_or_an_unreadable_answer(bot):
    """A 5xx says nothing about whether the send was made (the Bot API server fails the sends
    it had handed on with "Internal Server Error: restart"; a gateway's 502/504 page says
    nothing about the server behind it), so inside `at_most_once` it is not repeated either;
    outside it, a 5xx is still retried."""
    method = SendMessage(chat_id=-1001, text="post")
    restart = TelegramServerError(method=method, message="Internal Server Error: restart")
    page = ClientDecodeError("Failed to decode object", ValueError("html"), "<html>502</html>")
    for error in (restart, TelegramServerError(method=method, message="Bad Gateway"), page):
        assert maybe_delivered(error)
        script = Script(error, error)
        with at_most_once(), pytest.raises(type(error)):
            await middleware(FakeClock())(script, bot, method)
        assert script.calls == 1, error
    script = Script(restart)
    await middleware(FakeClock())(script, bot, method)
    assert script.calls == 2
