"""Hourly energy history of the ShineMonitor client, against the simulator over loopback HTTP."""

from __future__ import annotations

import logging
import math
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from custom_components.solar_cloud.api.errors import (
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from custom_components.solar_cloud.api.history import (
    HOUR,
    EnergyDay,
    Flow,
    HistoryPlanner,
    day_bounds,
    supports_history,
    utc_hour,
)
from custom_components.solar_cloud.api.models import Plant
from custom_components.solar_cloud.api.quota import Allowance
from custom_components.solar_cloud.api.shinemonitor import (
    CALLS_PER_MINUTE,
    E_CALLS,
    E_HISTORY,
    E_HISTORY_RATE,
    HISTORY_CALLS_PER_MINUTE,
    LIVE_CALLS_PER_MINUTE,
    ShineMonitorClient,
    parse_power_curve,
)
from tests.common import NOON, FakeClock
from tests.simulators.shinemonitor import ShineMonitorSimulator
from tests.test_shinemonitor_simulator import Api
from tests.vendor_shinemonitor import PASSWORD, USER, make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC); 12:00 in Amsterdam's fixed +01:00.
TODAY = date(2026, 6, 21)
YESTERDAY = date(2026, 6, 20)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def sim(clock: FakeClock) -> ShineMonitorSimulator:
    """Four plants, one per site: +01:00, +08:00, -05:00 and +05:30."""
    return make_simulator(clock, plants=4)


@pytest.fixture
def client(session: aiohttp.ClientSession, base_url: str, clock: FakeClock) -> ShineMonitorClient:
    """A client whose quota runs on the fake clock."""
    return make_client(session, base_url, clock)


def _pv(day: EnergyDay) -> dict[datetime, float]:
    return {hour: flows[Flow.PV] for hour, flows in day.hours.items()}


def _history_requests(sim: ShineMonitorSimulator) -> list[str]:
    return [
        raw
        for _t, action, raw in sim.requests
        if action in ("queryPlantActiveOuputPowerOneDay", "queryPlantEnergyDay")
    ]


async def test_supports_history_and_normal_day(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """An ended day: 24 top-of-hour UTC keys in the plant's own offset, night zeros kept, PV
    only, and the hours add up to the day's energy as the cloud counts it."""
    assert supports_history(client)
    plants = await client.async_get_plants()
    client.history_plan(plants)
    first = plants[0]
    result = await client.async_get_energy_days([first], YESTERDAY, AMSTERDAM)
    day = result[first.id]
    # The plant's fixed +01:00 from the cloud, not the zone given for unknown plants.
    assert day.zone == timezone(timedelta(hours=1))
    start, _end = day_bounds(YESTERDAY, day.zone)
    assert sorted(day.hours) == [start + i * HOUR for i in range(24)]
    assert all(h.tzinfo is UTC and h.minute == 0 and h.second == 0 for h in day.hours)
    assert all(set(flows) == {Flow.PV} for flows in day.hours.values())
    pv = _pv(day)
    expected = round(sim.day_energy(int(first.id), YESTERDAY), 1)
    assert expected > 5.0
    assert sum(pv.values()) == pytest.approx(expected, abs=1e-4)
    # The sun shines between 06:00 and 18:00 local (05:00-17:00 UTC): the night is a real 0.
    assert pv[datetime(2026, 6, 20, 1, tzinfo=UTC)] == 0.0
    assert pv[datetime(2026, 6, 20, 20, tzinfo=UTC)] == 0.0
    noon = pv[datetime(2026, 6, 20, 11, tzinfo=UTC)]
    assert noon == max(pv.values())
    # The half sine: the hour 11:00-12:00 local holds sin-weighted share of the day.
    share = (math.cos(math.pi * 5 / 12) - math.cos(math.pi * 6 / 12)) / 2
    assert noon == pytest.approx(expected * share, rel=0.01)
    # Two calls, one plantid each.
    assert sim.calls["queryPlantActiveOuputPowerOneDay"] == 1
    assert sim.calls["queryPlantEnergyDay"] == 1


async def test_today_is_partial_and_matches_the_live_counter(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Today: hours up to the last upload only, as measured (not scaled to the running total,
    which still grows), close to the live ENERGY_TODAY sensor; no day-total call."""
    plants = await client.async_get_plants()
    client.history_plan(plants)
    clock.now = NOON + 37 * 60  # 11:37 UTC, last upload 11:35
    first = plants[0]
    live = await client.async_get_realtime([first], [])
    day = (await client.async_get_energy_days([first], TODAY, AMSTERDAM))[first.id]
    hours = sorted(day.hours)
    start, _end = day_bounds(TODAY, day.zone)
    assert hours == [start + i * HOUR for i in range(13)]  # 23:00 (yesterday) .. 11:00 UTC
    assert hours[-1] == utc_hour(datetime.fromtimestamp(clock.now, UTC))
    assert all(hour <= datetime.fromtimestamp(clock.now, UTC) for hour in hours)
    energy_today = live[first.id].plant["energy_today"]
    assert isinstance(energy_today, float)
    assert energy_today > 1.0
    assert sum(_pv(day).values()) == pytest.approx(energy_today, rel=0.03)
    assert sim.calls["queryPlantEnergyDay"] == 0
    # Read again later: the hours already read are unchanged.
    clock.now += 3600
    again = (await client.async_get_energy_days([first], TODAY, AMSTERDAM))[first.id]
    assert {h: v for h, v in again.hours.items() if h in day.hours and h < hours[-1]} == {
        h: v for h, v in day.hours.items() if h < hours[-1]
    }


@pytest.mark.parametrize(
    ("day", "now", "hours"),
    [
        (date(2026, 3, 29), datetime(2026, 3, 30, 9, tzinfo=UTC), 23),
        (date(2026, 10, 25), datetime(2026, 10, 26, 9, tzinfo=UTC), 25),
    ],
)
async def test_dst_days_in_the_given_zone(
    client: ShineMonitorClient,
    sim: ShineMonitorSimulator,
    clock: FakeClock,
    day: date,
    now: datetime,
    hours: int,
) -> None:
    """A plant whose offset the client does not know is read in the given zone: 23 hours in
    spring, 25 in autumn (the repeated hour told apart by the samples' order)."""
    clock.now = now.timestamp()
    pid = sim.add_plant(zone=AMSTERDAM)
    plant = Plant(id=str(pid), name="Unknown zone")
    client.history_plan([plant])
    found = (await client.async_get_energy_days([plant], day, AMSTERDAM))[plant.id]
    assert found.zone is AMSTERDAM
    start, end = day_bounds(day, AMSTERDAM)
    assert (end - start) == hours * HOUR
    assert sorted(found.hours) == [start + i * HOUR for i in range(hours)]
    assert all(h.minute == 0 and h.tzinfo is UTC for h in found.hours)
    expected = round(sim.day_energy(pid, day), 1)
    assert expected > 0
    assert sum(_pv(found).values()) == pytest.approx(expected, abs=1e-4)
    # The hours of the night (the changed hour among them) hold a real 0.
    assert found.hours[start + 2 * HOUR][Flow.PV] == 0.0


async def test_half_hour_offset_is_spread(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """+05:30: local midnight is 18:30 UTC, so the day touches 25 UTC hours."""
    plants = await client.async_get_plants()
    client.history_plan(plants)
    mumbai = plants[3]
    assert mumbai.time_zone == "+05:30"
    day = (await client.async_get_energy_days([mumbai], YESTERDAY, AMSTERDAM))[mumbai.id]
    assert day.zone == timezone(timedelta(hours=5, minutes=30))
    first = datetime(2026, 6, 19, 18, tzinfo=UTC)
    assert sorted(day.hours) == [first + i * HOUR for i in range(25)]
    expected = round(sim.day_energy(int(mumbai.id), YESTERDAY), 1)
    assert sum(_pv(day).values()) == pytest.approx(expected, abs=1e-4)
    # 06:00 local is 00:30 UTC: the sun's first half hour falls into the 00:00 UTC hour.
    assert day.hours[datetime(2026, 6, 20, 0, tzinfo=UTC)][Flow.PV] > 0.0
    assert day.hours[datetime(2026, 6, 19, 23, tzinfo=UTC)][Flow.PV] == 0.0


async def test_one_plant_per_call_and_the_minute_carve(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """The day curve takes one plantid: four plants are eight calls of one id each; the carve of
    6 history calls a minute stops before the fourth plant with nothing of it sent."""
    plants = await client.async_get_plants()
    plan = client.history_plan(plants)
    assert plan.batch == 1
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants, YESTERDAY, AMSTERDAM)
    assert err.value.code == "quota"
    assert 0 < err.value.retry_after <= 60.0
    sent = _history_requests(sim)
    assert len(sent) == HISTORY_CALLS_PER_MINUTE
    assert all(raw.count("plantid=") == 1 for raw in sent)
    assert f"plantid={plants[3].id}&" not in "".join(sent)
    clock.now += err.value.retry_after
    result = await client.async_get_energy_days(plants[3:], YESTERDAY, AMSTERDAM)
    assert list(result) == [plants[3].id]
    assert len(_history_requests(sim)) == 8


async def test_share_used_up_sends_nothing(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """A used-up daily share, a minute the live polls filled and a pause after the cloud's 13
    each raise RateLimitedError with the wait, before any request goes out."""
    plants = await client.async_get_plants()
    first = plants[:1]
    with pytest.raises(RateLimitedError, match="history_plan"):
        await client.async_get_energy_days(first, YESTERDAY, AMSTERDAM)
    client.history_plan(plants)
    client.quota.set_allowance(E_HISTORY, Allowance(2, 86400.0))
    assert first[0].id in await client.async_get_energy_days(first, YESTERDAY, AMSTERDAM)
    before = len(sim.requests)
    clock.now += 3600
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(first, YESTERDAY, AMSTERDAM)
    assert err.value.retry_after == pytest.approx(86400.0 - 3600.0, abs=1.0)
    assert len(sim.requests) == before

    # The live polls filled the minute: history does not take (or wait for) their room.
    client.history_plan(plants)
    clock.now += 86400
    for _ in range(CALLS_PER_MINUTE):
        async with client.quota.slot(E_CALLS):
            pass
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(first, YESTERDAY, AMSTERDAM)
    assert 0 < err.value.retry_after <= 60.0
    assert len(sim.requests) == before
    clock.now += 61
    client.quota.block(E_CALLS, 60.0)
    with pytest.raises(RateLimitedError):
        await client.async_get_energy_days(first, YESTERDAY, AMSTERDAM)
    assert len(sim.requests) == before


async def test_vendor_over_limit_is_mapped(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Err 13 on a history call: RateLimitedError, the minute's allowance held for a minute (live
    polls and history alike), and the simulator's own limit answers 13 as well."""
    plants = await client.async_get_plants()
    client.history_plan(plants)
    sim.inject("fail_code:13", path="queryPlantActiveOuputPowerOneDay")
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants[:1], YESTERDAY, AMSTERDAM)
    assert err.value.code == "13"
    assert err.value.retry_after == 60.0
    assert client.quota.wait_time(E_CALLS) == pytest.approx(60.0)
    clock.now += 61
    sim.calls_per_minute = 1
    sim.reset_limits()
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants[:1], YESTERDAY, AMSTERDAM)
    assert err.value.code == "13"
    assert sim.refusals["queryPlantEnergyDay"] == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("html", ProtocolError),
        ("malformed_json", ProtocolError),
        ("http_500", TransientError),
        ("http_502", TransientError),
        ("fail_code:3", TransientError),
    ],
)
async def test_broken_replies_raise(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, fault: str, error: type[Exception]
) -> None:
    """HTML pages, 5xx and bad JSON on either history call are errors of their class."""
    plants = await client.async_get_plants()
    client.history_plan(plants)
    for action in ("queryPlantActiveOuputPowerOneDay", "queryPlantEnergyDay"):
        sim.inject(fault, path=action)
        with pytest.raises(error):
            await client.async_get_energy_days(plants[:1], YESTERDAY, AMSTERDAM)


async def test_damaged_and_empty_days_are_absent(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """N/A, null or missing curve values leave the plant out; an unknown day total leaves the
    curve's own energy; no record (before installation, a future day) is no data."""
    plants = await client.async_get_plants()
    client.history_plan(plants)
    first = plants[:1]
    for kind in ("na_values", "null_values", "missing_fields"):
        clock.now += 60
        sim.inject(kind, path="queryPlantActiveOuputPowerOneDay")
        assert await client.async_get_energy_days(first, YESTERDAY, AMSTERDAM) == {}
    assert sim.calls["queryPlantEnergyDay"] == 0  # no curve: the total is not asked for
    clock.now += 60
    sim.inject("na_values", path="queryPlantEnergyDay")
    unscaled = await client.async_get_energy_days(first, YESTERDAY, AMSTERDAM)
    total = sum(_pv(unscaled[first[0].id]).values())
    exact = sim.day_energy(int(first[0].id), YESTERDAY)
    assert total == pytest.approx(exact, rel=0.005)  # the curve in kW, read as kW
    assert len(unscaled[first[0].id].hours) == 24
    clock.now += 60
    assert await client.async_get_energy_days(first, date(2020, 1, 1), AMSTERDAM) == {}
    assert await client.async_get_energy_days(first, TODAY + timedelta(days=1), AMSTERDAM) == {}
    sim.remove_plant(int(first[0].id))
    clock.now += 60
    assert await client.async_get_energy_days(first, YESTERDAY, AMSTERDAM) == {}


def test_parse_power_curve() -> None:
    """Unusable samples are skipped, the order is by time, the autumn hour gets its fold."""
    zone = timezone(timedelta(hours=2))
    samples = parse_power_curve(
        [
            {"val": "1.5", "ts": "2026-06-20 12:05:00"},
            {"val": "N/A", "ts": "2026-06-20 12:10:00"},
            {"val": None, "ts": "2026-06-20 12:15:00"},
            {"val": "2", "ts": None},
            {"val": "2", "ts": "yesterday"},
            "junk",
            {"val": 1.0, "ts": "2026-06-20 12:00:00"},
        ],
        zone,
    )
    assert samples == [
        (datetime(2026, 6, 20, 10, 0, tzinfo=UTC), 1.0),
        (datetime(2026, 6, 20, 10, 5, tzinfo=UTC), 1.5),
    ]
    wrapped = parse_power_curve({"outputPower": [{"val": "0.5", "ts": "2026-06-20 00:00:00"}]}, UTC)
    assert wrapped == [(datetime(2026, 6, 20, tzinfo=UTC), 0.5)]
    autumn = parse_power_curve(
        [
            {"val": "0", "ts": "2026-10-25 02:30:00"},
            {"val": "0", "ts": "2026-10-25 02:00:00"},
            {"val": "0", "ts": "2026-10-25 02:30:00"},
            {"val": "0", "ts": "2026-10-25 03:00:00"},
        ],
        AMSTERDAM,
    )
    assert [t.strftime("%H:%M") for t, _ in autumn] == ["00:30", "01:00", "01:30", "02:00"]
    for bad in ("N/A", None, {"energy": "1"}, 5):
        with pytest.raises(ProtocolError):
            parse_power_curve(bad, UTC)


async def test_curve_in_watts_and_no_total(client: ShineMonitorClient) -> None:
    """A curve far above the plant's capacity is taken as W; without a day total it stays
    unscaled."""
    plant = Plant(id="1", name="p", capacity_kw=5.0, time_zone="+00:00")
    client.history_plan([plant])
    curve = [{"val": "4000", "ts": f"2026-06-20 12:{minute:02d}:00"} for minute in range(0, 60, 5)]
    with patch.object(client, "_history_call", side_effect=[curve, {"energy": "N/A"}]):
        result = await client.async_get_energy_days([plant], YESTERDAY, AMSTERDAM)
    # 55 minutes at 4 kW.
    assert result["1"].hours == {datetime(2026, 6, 20, 12, tzinfo=UTC): {Flow.PV: 3.666667}}
    with patch.object(
        client, "_history_call", side_effect=[curve, {"energy": "7.5", "unit": "kWh"}]
    ):
        result = await client.async_get_energy_days([plant], YESTERDAY, AMSTERDAM)
    assert result["1"].hours[datetime(2026, 6, 20, 12, tzinfo=UTC)][Flow.PV] == 7.5
    with (
        patch.object(client, "_history_call", side_effect=[{"power": "none"}]),
        pytest.raises(ProtocolError),
    ):
        await client.async_get_energy_days([plant], YESTERDAY, AMSTERDAM)


@pytest.mark.parametrize(
    ("plants", "refresh", "deep", "calls"),
    [
        (1, 3600.0, 4291, 8640),
        (10, 3600.0, 4030, 8640),
        (100, 3600.0, 1420, 8640),
        (250, 10800.0, 1070, 8640),
        (1500, 86400.0, 1, 48),
    ],
)
def test_history_plan_figures(plants: int, refresh: float, deep: int, calls: int) -> None:
    """The share, refresh and deep reads for account sizes; the live polls still fit."""
    client = ShineMonitorClient(None, "http://h", "u", "p", "k")  # type: ignore[arg-type]
    listed = [Plant(id=str(i), name=str(i)) for i in range(plants)]
    plan = client.history_plan(listed)
    assert plan.refresh == refresh
    assert plan.refresh >= 3600.0
    assert plan.batch == 1
    assert plan.keeps_days == 366
    assert plan.settle == 3 * 3600.0
    assert plan.deep_reads_per_day == deep
    assert client.quota.allowance(E_HISTORY) == Allowance(calls, 86400.0)
    assert client.quota.allowance(E_HISTORY_RATE) == Allowance(HISTORY_CALLS_PER_MINUTE, 60.0)
    assert LIVE_CALLS_PER_MINUTE + HISTORY_CALLS_PER_MINUTE == CALLS_PER_MINUTE
    # Recurring plus deep reads use the share, never more.
    recurring = plants * (math.ceil(86400 / plan.refresh) + 2 + 3)
    if deep > 1:
        assert 2 * (recurring + deep) <= calls
    # The live rounds (a grid-tie and a storage inverter per plant) and the share fit the day.
    live = 288 * (math.ceil(2 * plants / 256) + 3 * plants)
    if plants <= 250:
        assert live + calls <= CALLS_PER_MINUTE * 1440


async def test_planner_drives_the_client(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """The planner's jobs run through the client within the carve, and tokens stay out of logs."""
    plants = (await client.async_get_plants())[:2]
    plan = client.history_plan(plants)
    planner = HistoryPlanner(plan, depth_days=3)
    zones = {p.id: client._history_zone(p, AMSTERDAM) for p in plants}
    planner.set_plants(zones, clock.now)
    read: list[tuple[str, date]] = []
    for _ in range(12):
        job = planner.next_job(clock.now)
        if job is None:
            break
        try:
            result = await client.async_get_energy_days(
                [p for p in plants if p.id in job.plants], job.day, AMSTERDAM
            )
        except RateLimitedError as err:
            clock.now += err.retry_after
            continue
        read.extend((pid, job.day) for pid in result)
        planner.record(job, clock.now)
    assert len(read) >= 6
    assert {pid for pid, _ in read} == {p.id for p in plants}
    assert sim.refusals.total() == 0


async def test_tokens_stay_out_of_logs(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The signed history URLs are logged redacted."""
    plants = await client.async_get_plants()
    client.history_plan(plants)
    with caplog.at_level(logging.DEBUG, "custom_components.solar_cloud.api.shinemonitor"):
        await client.async_get_energy_days(plants[:1], YESTERDAY, AMSTERDAM)
    (token,) = sim.live_tokens(USER)
    # The client's own records (the simulator's access log is the server's, not ours).
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("custom_components")
    )
    assert "queryPlantActiveOuputPowerOneDay" in ours
    assert "token=***" in ours
    assert token not in ours


async def test_simulator_checks_history_parameters(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator
) -> None:
    """Missing parameters 7, malformed 6, unknown plant 260, another account's 11, a future day
    or one before installation 12; a good call returns the curve in kW at local time."""
    api = Api(session, base_url)
    await api.login(USER, PASSWORD)
    pid = sim.plant_ids(USER)[0]
    other = sim.plant_ids("vplant")[0]
    for action in ("queryPlantActiveOuputPowerOneDay", "queryPlantEnergyDay"):
        cases: list[tuple[dict[str, Any], int]] = [
            ({"plantid": pid}, 7),
            ({"date": "2026-06-20"}, 7),
            ({"plantid": pid, "date": ""}, 7),
            ({"plantid": pid, "date": "2026/06/20"}, 6),
            ({"plantid": pid, "date": "2026-06-20%2000:00:00"}, 6),
            ({"plantid": pid, "date": "2026-02-30"}, 6),
            ({"plantid": pid, "date": "2026-6-20"}, 6),
            ({"plantid": "x1", "date": "2026-06-20"}, 6),
            ({"plantid": 4242, "date": "2026-06-20"}, 260),
            ({"plantid": other, "date": "2026-06-20"}, 11),
            ({"plantid": pid, "date": "2026-06-22"}, 12),
        ]
        for params, code in cases:
            body = await api.call(action, **params)
            assert body["err"] == code, (action, params, body)
            assert "dat" not in body
    body = await api.call("queryPlantActiveOuputPowerOneDay", plantid=pid, date="2020-01-01")
    assert body["err"] == 12
    body = await api.call("queryPlantActiveOuputPowerOneDay", plantid=pid, date="2026-06-21")
    assert body["err"] == 0
    rows = body["dat"]
    # 00:00 to 12:00 local (+01:00) in 5-minute steps, nothing after the last upload.
    assert rows[0]["ts"] == "2026-06-21 00:00:00"
    assert rows[-1]["ts"] == "2026-06-21 12:00:00"
    assert len(rows) == 145
    assert all(set(row) == {"val", "ts"} for row in rows)
    assert float(rows[-1]["val"]) == pytest.approx(
        sum(
            float(v)
            for key, v in sim.device_values(sim.devices(pid)[0]["sn"]).items()
            if key == "Output Power"
        )
        + float(sim.device_values(sim.devices(pid)[1]["sn"])["PV Input Power"]) / 1000,
        abs=0.002,
    )
    body = await api.call("queryPlantEnergyDay", plantid=pid, date="2026-06-21")
    assert body == {"err": 0, "desc": "ERR_NONE", "dat": {"energy": body["dat"]["energy"]}}
    current = await api.call("queryPlantCurrentData", plantid=pid, par="ENERGY_TODAY")
    assert body["dat"]["energy"] == current["dat"][0]["val"]
