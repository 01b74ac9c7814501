"""The history planner and the helpers the clients build hours from (no Home Assistant)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from custom_components.solar_cloud.api.history import (
    DAY_S,
    TRAILING_DAYS,
    Flow,
    HistoryJob,
    HistoryPlan,
    HistoryPlanner,
    Reason,
    day_bounds,
    energy_from_counter,
    energy_from_power,
    spread_buckets,
    supports_history,
)

AMS = ZoneInfo("Europe/Amsterdam")


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=AMS).timestamp()  # type: ignore[misc]


def _drain(planner: HistoryPlanner, now: float) -> list[HistoryJob]:
    """Every job due at ``now``, recorded as read at once."""
    jobs = []
    while (job := planner.next_job(now)) is not None:
        jobs.append(job)
        planner.record(job, now)
        assert len(jobs) < 1000
    return jobs


def test_first_round_reads_today_then_the_history_oldest_first_paced_per_day() -> None:
    planner = HistoryPlanner(HistoryPlan(refresh=7200, batch=10, deep_reads_per_day=4), 10)
    now = _at(2026, 6, 10, 14, 0)
    planner.set_plants({"a": AMS, "b": AMS}, now)
    jobs = _drain(planner, now)
    assert jobs[0] == HistoryJob(date(2026, 6, 10), ("a", "b"), Reason.CURRENT)
    deep = [j for j in jobs if j.reason is Reason.DEEP]
    # Four reads of the history a day, the oldest day of the depth (10 days) first.
    assert [j.day for j in deep] == [date(2026, 6, d) for d in (1, 2, 3, 4)]
    assert all(j.plants == ("a", "b") for j in deep)
    assert len(jobs) == 5
    # A day later the next four; after three days all nine days before the start are read.
    later = _drain(planner, now + DAY_S)
    assert [j.day for j in later if j.reason is Reason.DEEP] == [
        date(2026, 6, d) for d in (5, 6, 7, 8)
    ]
    _drain(planner, now + 2 * DAY_S)
    progress = planner.progress(now + 2 * DAY_S)
    assert progress["a"]["read"] == progress["a"]["days"] == 10


def test_today_again_after_refresh_and_ended_days_after_the_end_and_once_settled() -> None:
    plan = HistoryPlan(refresh=3600, batch=1, settle=3 * 3600, deep_reads_per_day=1)
    planner = HistoryPlanner(plan, 0)
    start = _at(2026, 6, 10, 23, 10)
    planner.set_plants({"a": AMS}, start)
    assert [j.reason for j in _drain(planner, start)] == [Reason.CURRENT]
    assert planner.next_job(start + 1200) is None
    # Due next at midnight (before the refresh at 00:10).
    assert planner.next_due_in(start + 1200) == pytest.approx(1800)
    # After midnight: the new day, and the day that just ended (its last hours).
    assert _drain(planner, start + 3600) == [
        HistoryJob(date(2026, 6, 11), ("a",), Reason.CURRENT),
        HistoryJob(date(2026, 6, 10), ("a",), Reason.ENDED),
    ]
    # The ended day is read once more when it has settled (03:00), then it is final.
    settled = _at(2026, 6, 11, 3, 0)
    assert HistoryJob(date(2026, 6, 10), ("a",), Reason.ENDED) in _drain(planner, settled)
    assert planner.progress(settled)["a"]["final"] == 1
    # Corrections: a final day of the last TRAILING_DAYS is read again once a day.
    corrections = [j for j in _drain(planner, settled + DAY_S) if j.reason is Reason.CORRECTION]
    assert [j.day for j in corrections] == [date(2026, 6, 10)]
    assert all(j.reason is not Reason.CORRECTION for j in _drain(planner, settled + DAY_S + 3600))
    late = settled + (TRAILING_DAYS + 1) * DAY_S
    assert date(2026, 6, 10) not in {j.day for j in _drain(planner, late)}


def test_an_outage_is_read_newest_day_first_before_history() -> None:
    plan = HistoryPlan(refresh=3600, batch=1, deep_reads_per_day=10)
    planner = HistoryPlanner(plan, 30)
    now = _at(2026, 6, 10, 12, 0)
    planner.set_plants({"a": AMS}, now)
    _drain(planner, now)
    saved = planner.export()

    # Home Assistant was off for three days: a new planner takes the saved state back.
    back = now + 3 * DAY_S
    again = HistoryPlanner(plan, 30)
    again.restore(saved)
    again.set_plants({"a": AMS}, back)
    jobs = _drain(again, back)
    assert jobs[0].reason is Reason.CURRENT
    assert jobs[0].day == date(2026, 6, 13)
    ended = [j.day for j in jobs if j.reason is Reason.ENDED]
    assert ended == [date(2026, 6, 12), date(2026, 6, 11), date(2026, 6, 10)]
    assert jobs.index(next(j for j in jobs if j.reason is Reason.ENDED)) < jobs.index(
        next(j for j in jobs if j.reason is Reason.DEEP)
    )


def test_window_is_bounded_by_what_the_cloud_keeps_and_plants_come_and_go() -> None:
    planner = HistoryPlanner(HistoryPlan(refresh=3600, keeps_days=7, deep_reads_per_day=50), 30)
    now = _at(2026, 6, 10, 12, 0)
    planner.set_plants({"a": AMS}, now)
    jobs = _drain(planner, now)
    assert min(j.day for j in jobs) == date(2026, 6, 4)
    planner.set_plants({"b": UTC}, now)
    assert set(planner.progress(now)) == {"b"}


def test_restore_ignores_what_it_cannot_read() -> None:
    planner = HistoryPlanner(HistoryPlan(refresh=3600), 5)
    planner.restore(
        {
            "plants": {
                "a": {"start": "not a date"},
                "b": "nonsense",
                "c": {"start": "2026-06-01", "read": {"2026-06-01": "x"}, "final": "x"},
            },
            "deep_reads": ["x", 5.0],
        }
    )
    exported = planner.export()
    assert exported["plants"] == {"c": {"start": "2026-06-01", "read": {}, "final": []}}
    assert exported["deep_reads"] == [5.0]


def test_day_bounds_across_dst() -> None:
    start, end = day_bounds(date(2026, 3, 29), AMS)
    assert (end - start) == timedelta(hours=23)
    start, end = day_bounds(date(2026, 10, 25), AMS)
    assert (end - start) == timedelta(hours=25)
    assert start == datetime(2026, 10, 24, 22, tzinfo=UTC)


def test_spread_buckets_splits_local_hours_at_half_hour_offsets() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    start = datetime(2026, 6, 10, 10, tzinfo=india)
    hours = spread_buckets([(start, start + timedelta(hours=1), {Flow.PV: 2.0})])
    assert hours == {
        datetime(2026, 6, 10, 4, tzinfo=UTC): {Flow.PV: 1.0},
        datetime(2026, 6, 10, 5, tzinfo=UTC): {Flow.PV: 1.0},
    }
    assert spread_buckets([(start, start, {Flow.PV: 1.0})]) == {}


def test_energy_from_power_leaves_gaps_out() -> None:
    t = datetime(2026, 6, 10, 10, tzinfo=UTC)
    points = [(t + timedelta(minutes=5 * i), 1200.0) for i in range(13)]
    # A two-hour gap, then one more sample pair.
    points += [(t + timedelta(hours=3), 600.0), (t + timedelta(hours=3, minutes=5), 600.0)]
    hours = energy_from_power(points)
    assert hours[t] == pytest.approx(1.2)
    assert t + timedelta(hours=1) not in hours
    assert hours[t + timedelta(hours=3)] == pytest.approx(0.05)


def test_energy_from_counter_ignores_resets() -> None:
    day = datetime(2026, 6, 10, tzinfo=UTC)
    samples = [
        (day + timedelta(minutes=30), 0.5),
        (day + timedelta(minutes=90), 1.5),
        (day + timedelta(minutes=100), 0.0),  # a glitch: counted as nothing
        (day + timedelta(minutes=120), 2.0),
        (day - timedelta(minutes=5), 9.0),  # the day before: left out
    ]
    hours = energy_from_counter(samples, day)
    assert hours[day] == pytest.approx(1.0)
    assert hours[day + timedelta(hours=1)] == pytest.approx(1.0)
    assert sum(hours.values()) == pytest.approx(2.0)


def test_supports_history() -> None:
    class Reader:
        def history_plan(self) -> None: ...
        async def async_get_energy_days(self) -> None: ...

    assert supports_history(Reader())
    assert not supports_history(object())


def test_a_day_that_keeps_failing_does_not_hold_up_the_others() -> None:
    """One plant the cloud refuses: its day waits longer after each failure, the other plant
    and the history before the start go on."""
    planner = HistoryPlanner(HistoryPlan(refresh=3600, batch=1, deep_reads_per_day=5), 3)
    now = _at(2026, 6, 10, 12, 0)
    planner.set_plants({"a": AMS, "b": AMS}, now)
    waits = []
    read: list[HistoryJob] = []
    for _ in range(6):
        while (job := planner.next_job(now)) is not None:
            if "a" in job.plants:
                waits.append(planner.failed(job, now, 600, 6 * 3600))
            else:
                read.append(job)
                planner.record(job, now)
        now += planner.next_due_in(now)
    # Plant a's current day: 10 min, 20, 40, ... at most 6 h; its history days alike.
    assert waits[0] == 600
    assert max(waits) <= 6 * 3600
    assert sorted({j.reason for j in read}) == [Reason.CURRENT, Reason.DEEP]
    assert planner.progress(now)["b"]["read"] == 3
    # Once it works, the count starts again.
    job = planner.next_job(now + 6 * 3600)
    assert job is not None
    planner.record(job, now + 6 * 3600)
    assert planner.failed(job, now + 6 * 3600, 600, 6 * 3600) == 600


def test_an_account_too_large_for_its_share_reads_each_day_once_settled() -> None:
    plan = HistoryPlan(refresh=math.inf, batch=100, settle=3 * 3600, deep_reads_per_day=2)
    planner = HistoryPlanner(plan, 3)
    now = _at(2026, 6, 10, 12, 0)
    planner.set_plants({"a": AMS}, now)
    jobs = _drain(planner, now)
    # No current day: only the history before the start (two a day).
    assert [(j.day, j.reason) for j in jobs] == [
        (date(2026, 6, 8), Reason.DEEP),
        (date(2026, 6, 9), Reason.DEEP),
    ]
    # Midnight passes: the day is not read until it has settled, then once, never corrected.
    assert _drain(planner, _at(2026, 6, 11, 1, 0)) == []
    settled = _drain(planner, _at(2026, 6, 11, 3, 0))
    assert settled == [HistoryJob(date(2026, 6, 10), ("a",), Reason.ENDED)]
    assert _drain(planner, _at(2026, 6, 12, 2, 0)) == []
    assert [j.day for j in _drain(planner, _at(2026, 6, 12, 3, 0))] == [date(2026, 6, 11)]
