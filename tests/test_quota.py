"""The call budget: sliding windows, waiting instead of being refused, blocks, sessions."""

from __future__ import annotations

import asyncio

import pytest

from custom_components.solar_cloud.api.errors import RateLimitedError
from custom_components.solar_cloud.api.quota import Allowance, Quota, Session


class Clock:
    """A hand-moved clock whose sleep moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_waits_for_room_within_max_wait() -> None:
    """A full window makes the next call wait exactly until the oldest call leaves it."""
    clock = Clock()
    quota = Quota(clock=clock, sleep=clock.sleep)
    quota.set_allowance("kpi", Allowance(2, 300.0))
    for _ in range(2):
        async with quota.slot("kpi"):
            clock.now += 1
    assert quota.remaining("kpi") == 0
    async with quota.slot("kpi", max_wait=400):
        pass
    # The first call completed at 1001, so room came at 1301.
    assert clock.slept == [pytest.approx(299.0)]
    assert quota.sent["kpi"] == 3
    assert quota.waited == pytest.approx(299.0)


async def test_refuses_when_the_wait_is_too_long() -> None:
    """Beyond max_wait the caller gets RateLimitedError with the time to wait."""
    clock = Clock()
    quota = Quota(clock=clock, sleep=clock.sleep)
    quota.set_allowance("daily", Allowance(1, 86400.0))
    async with quota.slot("daily"):
        pass
    with pytest.raises(RateLimitedError) as err:
        async with quota.slot("daily", max_wait=60):
            pass
    assert err.value.retry_after == pytest.approx(86400.0)
    assert quota.sent["daily"] == 1


async def test_exclusive_endpoint_sends_one_at_a_time() -> None:
    """Requests to an exclusive endpoint never overlap."""
    clock = Clock()
    quota = Quota(clock=clock, sleep=clock.sleep)
    quota.set_allowance("list", Allowance(10, 60.0, exclusive=True))
    running = 0
    most = 0

    async def call() -> None:
        nonlocal running, most
        async with quota.slot("list"):
            running += 1
            most = max(most, running)
            await asyncio.sleep(0)
            running -= 1

    await asyncio.gather(*(call() for _ in range(5)))
    assert most == 1
    assert quota.sent["list"] == 5


async def test_block_refund_and_unbudgeted_endpoints() -> None:
    """A vendor refusal blocks the endpoint; a refunded call frees its room."""
    clock = Clock()
    quota = Quota(clock=clock, sleep=clock.sleep)
    quota.set_allowance("kpi", Allowance(1, 300.0))
    async with quota.slot("kpi"):
        pass
    quota.refund("kpi")
    assert quota.remaining("kpi") == 1
    quota.block("kpi", 120)
    assert quota.wait_time("kpi") == pytest.approx(120)
    quota.block("other", 30)
    assert quota.wait_time("other") == pytest.approx(30)
    async with quota.slot("free"):
        pass
    assert quota.remaining("free") is None
    assert quota.allowance("free") is None
    assert quota.sent["free"] == 1
    snapshot = quota.snapshot()
    assert snapshot["kpi"]["blocked_for_s"] == 120
    with pytest.raises(ValueError, match="invalid allowance"):
        quota.set_allowance("bad", Allowance(0, 10.0))


def test_session_validity() -> None:
    """A session is valid until it expires; dropping only drops the current token."""
    session = Session(token="a", expires=100.0)
    assert session.valid(99.0)
    assert not session.valid(100.0)
    session.drop("old")
    assert session.token == "a"
    session.drop("a")
    assert session.token is None
    assert not session.valid(0.0)


async def test_restore_keeps_calls_made_at_the_same_instant() -> None:
    """Two calls in the same instant count twice after a restart; restoring twice adds none."""
    clock = Clock()
    quota = Quota(clock=clock, sleep=clock.sleep)
    quota.set_allowance("control", Allowance(3, 86400.0))
    for _ in range(2):
        async with quota.slot("control"):
            pass
    saved = quota.export()
    assert saved["control"]["sent"] == [1000.0, 1000.0]
    restarted = Quota(clock=clock, sleep=clock.sleep)
    restarted.set_allowance("control", Allowance(3, 86400.0))
    restarted.restore(saved)
    restarted.restore(saved)
    assert restarted.remaining("control") == 1
