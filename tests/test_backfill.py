"""Hourly energy statistics filled from the cloud's history, through the recorder."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import (
    list_statistic_ids,
    statistics_during_period,
    valid_statistic_id,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy.exc import OperationalError

from custom_components.solar_cloud.api.account import AccountMemory
from custom_components.solar_cloud.api.history import Flow, HistoryJob, Reason
from custom_components.solar_cloud.api.models import Plant
from custom_components.solar_cloud.backfill import START_DELAY, plant_zone, statistic_id
from custom_components.solar_cloud.const import CONF_HISTORY_DAYS, DOMAIN
from tests.conftest import (
    SYSTEM_CODE,
    USERNAME,
    make_entry,
    make_saj_entry,
    make_shine_entry,
    make_sungrow_entry,
)
from tests.simulators.huawei import HuaweiSimulator
from tests.simulators.saj import SajSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder first (it must exist before Home Assistant starts), then our integration."""


@pytest.fixture(autouse=True)
async def amsterdam(hass: HomeAssistant) -> None:
    """Home Assistant in the plants' zone."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")


def _day_energy(sim: SajSimulator, plant: str, day: date) -> float:
    """The simulator's energy of a whole local day of the plant (what /plant/energy reports)."""
    return sim._day_kwh(sim._plants[int(plant)], day.toordinal())


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


async def _run_for(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float, step: float = 300.0
) -> None:
    """Let Home Assistant run (polls and history rounds) for ``seconds``."""
    moved = 0.0
    while moved < seconds:
        await _tick(hass, freezer, step)
        moved += step


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def _rows(hass: HomeAssistant, stat_id: str, start: datetime) -> list[dict[str, Any]]:
    await async_wait_recording_done(hass)
    found = await hass.async_add_executor_job(
        statistics_during_period, hass, start, None, {stat_id}, "hour", None, {"state", "sum"}
    )
    return [
        {
            "start": datetime.fromtimestamp(r["start"], UTC),
            "state": r["state"],
            "sum": r["sum"],
        }
        for r in found.get(stat_id, [])
    ]


def _assert_continuous(rows: list[dict[str, Any]]) -> None:
    """One row per hour, no hour missing, each sum the previous sum plus the hour's energy."""
    assert rows
    for before, after in pairwise(rows):
        assert after["start"] - before["start"] == timedelta(hours=1), (before, after)
        assert after["sum"] == pytest.approx(before["sum"] + after["state"], abs=1e-5)
        assert after["state"] >= 0


def _local_day_total(rows: list[dict[str, Any]], day: date) -> tuple[int, float]:
    hours = [r for r in rows if r["start"].astimezone(AMSTERDAM).date() == day]
    return len(hours), sum(r["state"] for r in hours)


def _with_options(entry: MockConfigEntry, **options: Any) -> MockConfigEntry:
    """A copy of a (not yet added) entry with more options."""
    return MockConfigEntry(
        domain=entry.domain,
        title=entry.title,
        unique_id=entry.unique_id,
        data=dict(entry.data),
        options={**entry.options, **options},
        version=entry.version,
        minor_version=entry.minor_version,
    )


def _saj_entry(url: str, sim: SajSimulator, **options: Any) -> MockConfigEntry:
    return _with_options(make_saj_entry(url, sim), **options)


async def _outage(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry, down: timedelta
) -> None:
    """Home Assistant is down for ``down``: the entry is unloaded, time passes, it is set up."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    freezer.tick(down)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_first_import_fills_the_depth(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, saj_url: str, saj_sim: SajSimulator
) -> None:
    """On set-up the history days before it are imported hour by hour, sums continuous."""
    freezer.move_to(datetime(2026, 6, 10, 14, 20, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 3}))
    plant = next(iter(entry.runtime_data.account.plants))
    await _tick(hass, freezer, START_DELAY + 1)

    stat = statistic_id(plant, Flow.PV)
    first_day = date(2026, 6, 8)
    rows = await _rows(hass, stat, datetime(2026, 6, 1, tzinfo=AMSTERDAM))
    _assert_continuous(rows)
    assert rows[0]["start"] == datetime(2026, 6, 8, tzinfo=AMSTERDAM).astimezone(UTC)
    # Every hour that has ended, up to 14:00 local.
    assert rows[-1]["start"] == datetime(2026, 6, 10, 13, tzinfo=AMSTERDAM).astimezone(UTC)
    assert rows[0]["sum"] == pytest.approx(rows[0]["state"])
    # Whole days add up to the cloud's day energy.
    for day in (first_day, date(2026, 6, 9)):
        count, total = _local_day_total(rows, day)
        assert count == 24
        expected = _day_energy(saj_sim, plant, day)
        assert total == pytest.approx(expected, rel=0.01, abs=0.05)
    assert total > 1.0  # a June day in the simulator produces

    ids = await hass.async_add_executor_job(list_statistic_ids, hass, {stat})
    assert ids[0]["source"] == "solar_cloud"
    assert ids[0]["statistics_unit_of_measurement"] == "kWh"
    assert ids[0]["unit_class"] == "energy"
    assert ids[0]["has_sum"] is True
    assert ids[0]["mean_type"] == 0


async def test_outage_of_six_hours_leaves_no_gap(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, saj_url: str, saj_sim: SajSimulator
) -> None:
    """Home Assistant is down from 20:00 to 02:00: after the restart every hour is there."""
    freezer.move_to(datetime(2026, 6, 10, 19, 10, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 1}))
    plant = next(iter(entry.runtime_data.account.plants))
    stat = statistic_id(plant, Flow.PV)
    await _run_for(hass, freezer, 3600)
    before = await _rows(hass, stat, datetime(2026, 6, 1, tzinfo=AMSTERDAM))
    assert before[-1]["start"] < datetime(2026, 6, 10, 20, tzinfo=AMSTERDAM)

    await _outage(hass, freezer, entry, timedelta(hours=6))
    await _tick(hass, freezer, START_DELAY + 1)

    rows = await _rows(hass, stat, datetime(2026, 6, 1, tzinfo=AMSTERDAM))
    _assert_continuous(rows)
    # Up to the last hour that ended (01:00-02:00 is still running at 02:10+).
    assert rows[-1]["start"] == datetime(2026, 6, 11, 1, tzinfo=AMSTERDAM).astimezone(UTC)
    # What was there before the outage is kept: the day, now ended, was scaled once to the
    # cloud's day total, which moves each hour a little at most.
    kept = {r["start"]: r["state"] for r in rows}
    for row in before:
        assert kept[row["start"]] == pytest.approx(row["state"], rel=0.05, abs=0.01)
    count, total = _local_day_total(rows, date(2026, 6, 10))
    assert count == 24
    assert total == pytest.approx(_day_energy(saj_sim, plant, date(2026, 6, 10)), abs=0.05)


async def test_reimport_is_idempotent(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, saj_url: str, saj_sim: SajSimulator
) -> None:
    """Reading the same hours again rewrites nothing; new hours continue the sums."""
    freezer.move_to(datetime(2026, 6, 10, 9, 10, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 2}))
    plant = next(iter(entry.runtime_data.account.plants))
    stat = statistic_id(plant, Flow.PV)
    backfill = entry.runtime_data.backfill
    assert backfill is not None
    await _tick(hass, freezer, START_DELAY + 1)
    first = await _rows(hass, stat, datetime(2026, 6, 1, tzinfo=AMSTERDAM))
    reads, written = backfill.reads, backfill.imported_hours
    assert reads >= 2
    # Today was read first; the day before it then shifted today's sums once.
    assert written >= len(first)

    # The current day is read again every refresh: only the hours that ended since are new.
    await _run_for(hass, freezer, 3 * 3600)
    assert backfill.reads > reads
    rows = await _rows(hass, stat, datetime(2026, 6, 1, tzinfo=AMSTERDAM))
    assert rows[: len(first)] == first
    assert len(rows) == len(first) + 3
    assert backfill.imported_hours == written + 3
    _assert_continuous(rows)


@pytest.mark.parametrize(
    ("moment", "day", "hours"),
    [
        (datetime(2026, 3, 30, 10, 10, tzinfo=AMSTERDAM), date(2026, 3, 29), 23),
        (datetime(2026, 10, 26, 10, 10, tzinfo=AMSTERDAM), date(2026, 10, 25), 25),
    ],
    ids=["spring", "autumn"],
)
async def test_daylight_saving_days(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    saj_url: str,
    saj_sim: SajSimulator,
    moment: datetime,
    day: date,
    hours: int,
) -> None:
    """A DST day has 23 or 25 hourly rows; sums run on without a jump."""
    freezer.move_to(moment)
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 3}))
    plant = next(iter(entry.runtime_data.account.plants))
    await _tick(hass, freezer, START_DELAY + 1)
    rows = await _rows(hass, statistic_id(plant, Flow.PV), moment - timedelta(days=5))
    _assert_continuous(rows)
    count, total = _local_day_total(rows, day)
    assert count == hours
    assert total == pytest.approx(_day_energy(saj_sim, plant, day), rel=0.01, abs=0.05)


async def test_history_waits_for_its_share_and_never_holds_up_the_live_polls(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, saj_url: str, saj_sim: SajSimulator
) -> None:
    """With the history share used up nothing is read, the sensors go on; later it catches up."""
    freezer.move_to(datetime(2026, 6, 10, 11, 10, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 1}))
    plant = next(iter(entry.runtime_data.account.plants))
    coordinator = entry.runtime_data.coordinators[plant]
    entry.runtime_data.client.quota.block("history", 2 * 3600)
    live_before = saj_sim.calls.copy()

    await _run_for(hass, freezer, 2 * 3600 - 600)
    assert saj_sim.calls["/plant/power"] == live_before["/plant/power"] == 0
    assert saj_sim.calls["/plant/energy"] == live_before["/plant/energy"] == 0
    assert coordinator.last_update_success
    assert coordinator.data is not None
    assert coordinator.data.data_time is not None
    assert coordinator.data.data_time > datetime(2026, 6, 10, 12, 50, tzinfo=AMSTERDAM)
    rows = await _rows(hass, statistic_id(plant, Flow.PV), datetime(2026, 6, 1, tzinfo=UTC))
    assert rows == []
    backfill = entry.runtime_data.backfill
    assert backfill is not None
    assert backfill.next_read is not None

    await _run_for(hass, freezer, 1200)
    rows = await _rows(hass, statistic_id(plant, Flow.PV), datetime(2026, 6, 1, tzinfo=UTC))
    _assert_continuous(rows)
    assert rows[-1]["start"] == datetime(2026, 6, 10, 12, tzinfo=AMSTERDAM).astimezone(UTC)
    assert saj_sim.refusals.total() == 0


@pytest.mark.parametrize("fault", ["http_500", "html", "malformed_json"])
async def test_a_failed_read_is_tried_again_later(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    saj_url: str,
    saj_sim: SajSimulator,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broken answer imports nothing, logs once, and the next try fills the hours."""
    freezer.move_to(datetime(2026, 6, 10, 11, 10, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 1}))
    plant = next(iter(entry.runtime_data.account.plants))
    backfill = entry.runtime_data.backfill
    assert backfill is not None
    saj_sim.inject(fault, path="/plant/power", count=2)
    await _tick(hass, freezer, START_DELAY + 1)
    assert backfill.last_error is not None
    assert backfill.reads == 0
    assert "Reading energy history of" in caplog.text
    rows = await _rows(hass, statistic_id(plant, Flow.PV), datetime(2026, 6, 1, tzinfo=UTC))
    assert rows == []

    await _run_for(hass, freezer, 3600)
    assert backfill.last_error is None
    assert caplog.text.count("the statistics are filled in later") == 1
    rows = await _rows(hass, statistic_id(plant, Flow.PV), datetime(2026, 6, 1, tzinfo=UTC))
    _assert_continuous(rows)
    # 10:00-11:00 is the last hour that has ended.
    assert rows[-1]["start"] == datetime(2026, 6, 10, 10, tzinfo=AMSTERDAM).astimezone(UTC)
    assert "works again" in caplog.text


SIMULATORS = {
    "huawei": "huawei_sim",
    "sungrow": "sungrow_sim",
    "saj": "saj_sim",
    "shinemonitor": "shine_sim",
}


async def _vendor_entry(
    request: pytest.FixtureRequest,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    vendor: str,
    **options: Any,
) -> MockConfigEntry:
    """A config entry of ``vendor``'s simulator, served on loopback, with extra options."""
    sim = request.getfixturevalue(SIMULATORS[vendor])
    url = str((await aiohttp_server(sim.app)).make_url("")).rstrip("/")
    if vendor == "huawei":
        entry = make_entry(url)
    elif vendor == "sungrow":
        entry = make_sungrow_entry(url, sim)
    elif vendor == "saj":
        entry = make_saj_entry(url, sim)
    else:
        entry = make_shine_entry(url, sim)
    return _with_options(entry, **options)


async def _all_rows(hass: HomeAssistant) -> dict[str, list[dict[str, Any]]]:
    ids = await hass.async_add_executor_job(list_statistic_ids, hass)
    ours = sorted(i["statistic_id"] for i in ids if i["source"] == "solar_cloud")
    return {stat: await _rows(hass, stat, datetime(2026, 1, 1, tzinfo=UTC)) for stat in ours}


@pytest.mark.parametrize("vendor", ["huawei", "sungrow", "saj", "shinemonitor"])
async def test_no_gap_after_an_outage_for_every_vendor(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    request: pytest.FixtureRequest,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    vendor: str,
) -> None:
    """Home Assistant runs, stops for 6 hours across midnight, starts again: no hour is missing
    in any flow of any plant, and what was imported before is unchanged."""
    freezer.move_to(datetime(2026, 6, 10, 20, 40, tzinfo=AMSTERDAM))
    entry = await _setup(
        hass, await _vendor_entry(request, aiohttp_server, vendor, **{CONF_HISTORY_DAYS: 1})
    )
    await _run_for(hass, freezer, 1800)
    before = await _all_rows(hass)
    assert before
    flows = {stat.rsplit("_", 1)[-1] for stat in before}
    assert "pv" in flows

    await _outage(hass, freezer, entry, timedelta(hours=6))
    await _run_for(hass, freezer, START_DELAY + 600, step=60)

    after = await _all_rows(hass)
    assert set(after) == set(before)
    last_ended = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    for stat, rows in after.items():
        _assert_continuous(rows)
        assert rows[-1]["start"] == last_ended, stat
        # Hours imported before the outage are kept (an ended day may be corrected a little).
        kept = {r["start"]: r["state"] for r in rows}
        for row in before[stat][:-1]:
            assert kept[row["start"]] == pytest.approx(row["state"], rel=0.05, abs=0.01), stat
    # Within the vendor's limits all along: the cloud refused nothing.
    assert request.getfixturevalue(SIMULATORS[vendor]).refusals.total() == 0


@pytest.mark.parametrize(
    ("code", "kind", "calls_at_most"),
    [("20056", "permission", 6), ("20001", "auth", 7)],
    ids=["permission", "auth"],
)
async def test_refused_history_is_asked_again_rarely_and_the_live_polls_go_on(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    request: pytest.FixtureRequest,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    code: str,
    kind: str,
    calls_at_most: int,
) -> None:
    """A permission or credential refusal of the history interface: asked again with growing
    pauses (permission) or hourly (credentials), never in a loop; the sensors go on, and once
    the cloud allows it again the hours come."""
    freezer.move_to(datetime(2026, 6, 10, 11, 10, tzinfo=AMSTERDAM))
    entry = await _setup(
        hass, await _vendor_entry(request, aiohttp_server, "huawei", **{CONF_HISTORY_DAYS: 1})
    )
    sim = request.getfixturevalue("huawei_sim")
    sim.inject(f"fail_code:{code}", path="getKpiStationHour", count=100)
    backfill = entry.runtime_data.backfill
    assert backfill is not None
    await _tick(hass, freezer, START_DELAY + 1)
    assert backfill.last_error is not None
    assert code in backfill.last_error
    assert backfill._problem == kind
    plant = next(iter(entry.runtime_data.coordinators))
    before = len([r for r in sim.requests if "getKpiStationHour" in str(r)])
    await _run_for(hass, freezer, 6 * 3600, step=600)
    asked = len([r for r in sim.requests if "getKpiStationHour" in str(r)]) - before
    assert 1 <= asked <= calls_at_most
    assert entry.runtime_data.coordinators[plant].last_update_success
    assert await _rows(hass, statistic_id(plant, Flow.PV), datetime(2026, 6, 1, tzinfo=UTC)) == []

    sim.clear_faults()
    await _run_for(hass, freezer, 6 * 3600, step=600)
    assert backfill.last_error is None
    rows = await _rows(hass, statistic_id(plant, Flow.PV), datetime(2026, 6, 1, tzinfo=UTC))
    _assert_continuous(rows)
    diagnostics = backfill.diagnostics()
    assert diagnostics["reads"] >= 1
    assert diagnostics["plants"][plant]["read"] >= 1
    assert diagnostics["plan"]["batch"] == 100


async def test_no_recorder_no_history(
    hass: HomeAssistant, saj_url: str, saj_sim: SajSimulator
) -> None:
    """Without the recorder nothing is read from the history interfaces."""
    hass.config.components.remove("recorder")
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim))
    assert entry.runtime_data.backfill is None
    assert saj_sim.calls["/plant/power"] == 0


async def test_days_long_outage_is_filled_newest_first_with_continuous_sums(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, saj_url: str, saj_sim: SajSimulator
) -> None:
    """Four days away: the missed days are read newest first, each placed on the sum of the
    hour before it, however far back that hour is."""
    freezer.move_to(datetime(2026, 6, 10, 12, 10, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 1}))
    plant = next(iter(entry.runtime_data.account.plants))
    await _run_for(hass, freezer, 3600)
    await _outage(hass, freezer, entry, timedelta(days=4))
    await _run_for(hass, freezer, 1200, step=60)

    rows = await _rows(hass, statistic_id(plant, Flow.PV), datetime(2026, 6, 1, tzinfo=UTC))
    _assert_continuous(rows)
    assert rows[0]["start"] == datetime(2026, 6, 10, tzinfo=AMSTERDAM).astimezone(UTC)
    assert rows[-1]["start"] == datetime(2026, 6, 14, 12, tzinfo=AMSTERDAM).astimezone(UTC)
    for day in (date(2026, 6, 11), date(2026, 6, 12), date(2026, 6, 13)):
        count, total = _local_day_total(rows, day)
        assert count == 24
        assert total == pytest.approx(_day_energy(saj_sim, plant, day), abs=0.05)


async def test_first_import_of_every_flow_over_several_rounds(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, sungrow_url: str, sungrow_sim: Any
) -> None:
    """iSolarCloud gives all six flows; 30 days are imported in rounds of at most a day's
    reads each, and a re-read of a day that is already imported writes nothing."""
    freezer.move_to(datetime(2026, 6, 10, 14, 20, tzinfo=AMSTERDAM))
    entry = make_sungrow_entry(sungrow_url, sungrow_sim)
    entry = await _setup(hass, entry)
    await _run_for(hass, freezer, START_DELAY + 5, step=START_DELAY + 5)
    await _run_for(hass, freezer, 10, step=5)
    backfill = entry.runtime_data.backfill
    assert backfill is not None
    assert backfill.reads == 30
    everything = await _all_rows(hass)
    plant = next(iter(entry.runtime_data.account.plants))
    assert set(everything) == {statistic_id(plant, flow) for flow in Flow}
    for stat, rows in everything.items():
        _assert_continuous(rows)
        assert rows[0]["start"] == datetime(2026, 5, 11, 23, tzinfo=UTC), stat
    assert backfill.diagnostics()["plants"][plant]["read"] == 30

    # The same day read again: nothing is written.
    written = backfill.imported_hours
    job = HistoryJob(day=date(2026, 6, 1), plants=(plant,), reason=Reason.CORRECTION)
    assert await backfill._async_read(job, dt_util.utcnow().timestamp()) == 0.0
    await async_wait_recording_done(hass)
    assert backfill.imported_hours == written
    assert await _all_rows(hass) == everything


async def test_unloading_before_the_first_round_reads_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, saj_url: str, saj_sim: SajSimulator
) -> None:
    freezer.move_to(datetime(2026, 6, 10, 14, 20, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await _run_for(hass, freezer, 3600)
    assert saj_sim.calls["/plant/power"] == 0


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Europe/Berlin", ZoneInfo("Europe/Berlin")),
        ("Mars/Olympus_Mons", AMSTERDAM),  # an unknown zone name: Home Assistant's zone
        ("+02:00", AMSTERDAM),  # Home Assistant's zone has this offset now (summer)
        ("+08:00", timezone(timedelta(hours=8))),
        (None, AMSTERDAM),
        ("somewhere", AMSTERDAM),
    ],
)
def test_plant_zone(label: str | None, expected: tzinfo) -> None:
    plant = Plant(id="1", name="p", time_zone=label)
    now = datetime(2026, 6, 10, 12, tzinfo=UTC)
    assert plant_zone(plant, AMSTERDAM, now) == expected


def test_statistic_ids_are_valid() -> None:
    assert statistic_id("NE=33000000", Flow.GRID_EXPORT) == "solar_cloud:ne_33000000_grid_export"
    assert statistic_id("1000001", Flow.PV) == "solar_cloud:1000001_pv"
    assert statistic_id("==", Flow.PV).startswith("solar_cloud:")
    assert valid_statistic_id(statistic_id("==", Flow.PV))


async def test_a_broken_database_does_not_end_the_import(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    saj_url: str,
    saj_sim: SajSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The recorder's database failing (which no simulator can stage) is logged, and the next
    round an hour later imports as usual."""
    freezer.move_to(datetime(2026, 6, 10, 14, 20, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 1}))
    plant = next(iter(entry.runtime_data.account.plants))
    backfill = entry.runtime_data.backfill
    assert backfill is not None
    with patch(
        "custom_components.solar_cloud.backfill.statistics_during_period",
        side_effect=OperationalError("SELECT", {}, Exception("disk I/O error")),
    ):
        await _tick(hass, freezer, START_DELAY + 1)
    assert "Importing the energy history of" in caplog.text
    assert backfill.last_error is not None
    assert "disk I/O error" in backfill.last_error
    await _run_for(hass, freezer, 3600)
    rows = await _rows(hass, statistic_id(plant, Flow.PV), datetime(2026, 6, 1, tzinfo=UTC))
    _assert_continuous(rows)
    assert rows[-1]["start"] == datetime(2026, 6, 10, 14, tzinfo=AMSTERDAM).astimezone(UTC)


async def test_progress_survives_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, saj_url: str, saj_sim: SajSimulator
) -> None:
    """Which days were read is saved with the account: after a restart (the memory taken back
    from its JSON) nothing already read is asked for again."""
    freezer.move_to(datetime(2026, 6, 10, 14, 20, tzinfo=AMSTERDAM))
    entry = await _setup(hass, _saj_entry(saj_url, saj_sim, **{CONF_HISTORY_DAYS: 3}))
    await _tick(hass, freezer, START_DELAY + 1)
    memory = entry.runtime_data.account.memory
    saved = json.loads(json.dumps(memory.export()))
    assert set(saved["history"]["plants"][next(iter(entry.runtime_data.account.plants))]["read"])
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    memories = hass.data[DOMAIN].memories
    (key,) = [k for k, m in memories.items() if m is memory]
    memories[key] = restored = AccountMemory()
    restored.restore(saved)
    assert restored.history == memory.history
    calls = saj_sim.calls["/plant/power"]
    freezer.tick(timedelta(minutes=10))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await _tick(hass, freezer, START_DELAY + 1)
    backfill = entry.runtime_data.backfill
    assert backfill is not None
    assert backfill.reads == 0
    assert saj_sim.calls["/plant/power"] == calls
    # The current day is read again once its refresh is due.
    await _run_for(hass, freezer, 3600)
    assert backfill.reads == 1


async def test_an_hour_two_local_days_share_holds_both_parts(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    """In India (UTC+05:30) local midnight falls at 18:30 UTC: the UTC hour 18:00-19:00 has
    half an hour of each day, and importing the second day must not wipe out the first's."""
    await hass.config.async_set_time_zone("Asia/Kolkata")
    kolkata = ZoneInfo("Asia/Kolkata")
    sim = HuaweiSimulator(
        plants=1, username=USERNAME, system_code=SYSTEM_CODE, time_zone="Asia/Kolkata"
    )
    url = str((await aiohttp_server(sim.app)).make_url("")).rstrip("/")
    freezer.move_to(datetime(2026, 6, 10, 12, 10, tzinfo=kolkata))
    entry = await _setup(hass, _with_options(make_entry(url), **{CONF_HISTORY_DAYS: 3}))
    plant = next(iter(entry.runtime_data.account.plants))
    await _run_for(hass, freezer, 600, step=60)
    rows = await _rows(hass, statistic_id(plant, Flow.LOAD), datetime(2026, 6, 1, tzinfo=UTC))
    _assert_continuous(rows)
    edge = datetime(2026, 6, 8, 18, tzinfo=UTC)  # 23:30 on the 8th to 00:30 on the 9th
    client = entry.runtime_data.client
    client.quota.block("history", -1)  # the test reads the same days again outside the share
    first = await client.async_get_energy_days(
        [client_plant := entry.runtime_data.account.plants[plant]], date(2026, 6, 8), kolkata
    )
    await _tick(hass, freezer, 61)
    second = await client.async_get_energy_days([client_plant], date(2026, 6, 9), kolkata)
    part_8 = first[plant].hours[edge][Flow.LOAD]
    part_9 = second[plant].hours[edge][Flow.LOAD]
    assert part_8 > 0
    assert part_9 > 0
    (row,) = [r for r in rows if r["start"] == edge]
    assert row["state"] == pytest.approx(part_8 + part_9, abs=1e-5)


async def test_two_entries_with_the_same_plant_id_do_not_mix_their_statistics(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The statistic id holds the plant id only: the second entry with that id imports nothing
    (and says so) instead of overwriting the first one's sums; once the first is removed it may."""
    freezer.move_to(datetime(2026, 6, 10, 12, 10, tzinfo=AMSTERDAM))
    entries = []
    for app in ("SAJAPPID0001", "SAJAPPID0002"):
        sim = SajSimulator(plants=1, client_id=app)
        url = str((await aiohttp_server(sim.app)).make_url("")).rstrip("/")
        entries.append((await _setup(hass, _saj_entry(url, sim, **{CONF_HISTORY_DAYS: 1})), sim))
    (first, first_sim), (second, second_sim) = entries
    assert set(first.runtime_data.account.plants) == set(second.runtime_data.account.plants)
    await _run_for(hass, freezer, 600, step=60)
    assert first_sim.calls["/plant/power"] > 0
    assert second_sim.calls["/plant/power"] == 0
    assert caplog.text.count("another Solar Cloud entry already imports") == 1

    assert await hass.config_entries.async_unload(first.entry_id)
    assert await hass.config_entries.async_reload(second.entry_id)
    await _run_for(hass, freezer, 600, step=60)
    assert second_sim.calls["/plant/power"] > 0
