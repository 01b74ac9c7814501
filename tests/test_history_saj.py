"""Hourly energy history of the SAJ client, against the simulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from custom_components.solar_cloud.api.errors import (
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from custom_components.solar_cloud.api.history import (
    EnergyDay,
    Flow,
    HistoryJob,
    HistoryPlanner,
    Reason,
    supports_history,
)
from custom_components.solar_cloud.api.models import Plant
from custom_components.solar_cloud.api.quota import Quota
from custom_components.solar_cloud.api.saj import (
    E_HISTORY,
    E_HISTORY_HOUR,
    HISTORY_CALLS_PER_READ,
    SajClient,
)
from tests.common import NOON, FakeClock, serve
from tests.simulators.common import sun_done
from tests.simulators.saj import SajSimulator
from tests.vendor_saj import make_client

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC); 13:00 in Amsterdam.
AMS = ZoneInfo("Europe/Amsterdam")
LATE_OCTOBER = datetime(2026, 10, 27, 11, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def sim(clock: FakeClock) -> SajSimulator:
    """A simulated SAJ OpenAPI with two plants in Amsterdam."""
    return SajSimulator(plants=2, clock=clock)


def _pv(day: EnergyDay) -> dict[datetime, float]:
    return {hour: flows[Flow.PV] for hour, flows in day.hours.items()}


def _history_calls(sim: SajSimulator) -> int:
    return sim.calls["/plant/power"] + sim.calls["/plant/energy"]


async def _day_total(client: SajClient, plant_id: str, day: date) -> float:
    ((label, energy),) = await client.async_get_energy_history(plant_id, day, day)
    assert label == day.isoformat()
    return energy


# -- values -------------------------------------------------------------------------------------


async def test_normal_day_adds_up_to_the_live_counter(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """A whole past day: 24 UTC hours that add up to the live "energy today" of that evening."""
    client = make_client(session, base_url, sim, clock)
    assert supports_history(client)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    plant = plants[0]
    clock.now = datetime(2026, 6, 20, 21, 55, tzinfo=UTC).timestamp()  # 23:55 local
    live = (await client.async_get_realtime(plants, devices))[plant.id].plant["energy_today"]
    assert isinstance(live, float)
    assert live > 1.0
    clock.now = NOON
    day = date(2026, 6, 20)
    result = await client.async_get_energy_days([plant], day, AMS)
    energy = result[plant.id]
    assert energy.plant_id == plant.id
    assert energy.day == day
    assert energy.zone is AMS
    hours = _pv(energy)
    start = datetime(2026, 6, 19, 22, tzinfo=UTC)
    assert sorted(hours) == [start + timedelta(hours=h) for h in range(24)]
    assert all(h.tzinfo is UTC and h.minute == 0 and h.second == 0 for h in hours)
    assert all(set(flows) == {Flow.PV} for flows in energy.hours.values())
    assert sum(hours.values()) == pytest.approx(live, abs=0.011)
    # Night hours are real zeros; each daylight hour follows the simulator's sun curve.
    assert hours[start] == 0.0
    assert hours[start + timedelta(hours=23)] == 0.0
    for local_hour in range(6, 18):
        expected = live * (sun_done(local_hour + 1.0) - sun_done(float(local_hour)))
        assert hours[start + timedelta(hours=local_hour)] == pytest.approx(expected, rel=0.01)
    # One read: two UTC days of power and the day total, nothing else.
    assert sim.calls["/plant/power"] == 2
    assert sim.calls["/plant/energy"] == 1


async def test_today_is_partial(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """Today: hours up to the last sample only, adding up to today's energy so far."""
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    plant = plants[0]
    today = date(2026, 6, 21)
    live = (await client.async_get_realtime(plants, []))[plant.id].plant["energy_today"]
    assert isinstance(live, float)
    hours = _pv((await client.async_get_energy_days([plant], today, AMS))[plant.id])
    now = datetime.fromtimestamp(clock.now, UTC)
    assert max(hours) == now - timedelta(hours=1)  # the last sample is at 11:00 UTC
    assert min(hours) == datetime(2026, 6, 20, 22, tzinfo=UTC)
    assert len(hours) == 13
    assert sum(hours.values()) == pytest.approx(live, abs=0.011)
    # 40 minutes later the hour in progress shows up, partial; earlier hours stay.
    clock.now += 2400
    later = _pv((await client.async_get_energy_days([plant], today, AMS))[plant.id])
    assert max(later) == now
    assert 0 < later[now] < later[now - timedelta(hours=1)]
    for hour, value in hours.items():
        assert later[hour] == pytest.approx(value, rel=0.01, abs=0.002)
    # Tomorrow has no data at all: the plant is absent.
    assert await client.async_get_energy_days([plant], today + timedelta(days=1), AMS) == {}


@pytest.mark.parametrize(
    ("day", "first", "count"),
    [
        (date(2026, 3, 29), datetime(2026, 3, 28, 23, tzinfo=UTC), 23),
        (date(2026, 10, 25), datetime(2026, 10, 24, 22, tzinfo=UTC), 25),
    ],
)
async def test_dst_days(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SajSimulator,
    clock: FakeClock,
    day: date,
    first: datetime,
    count: int,
) -> None:
    """The spring day has 23 hours, the autumn day 25, all top-of-hour UTC keys."""
    clock.now = LATE_OCTOBER
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    assert plant.time_zone == "+01:00"
    energy = (await client.async_get_energy_days([plant], day, AMS))[plant.id]
    assert energy.zone is AMS  # the cloud's +01:00 is Amsterdam's offset now
    hours = _pv(energy)
    assert sorted(hours) == [first + timedelta(hours=h) for h in range(count)]
    assert all(h.minute == 0 and h.second == 0 and h.utcoffset() == timedelta() for h in hours)
    total = await _day_total(client, plant.id, day)
    assert total > 0
    assert sum(hours.values()) == pytest.approx(total, abs=1e-4)


async def test_half_hour_offset(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """A +05:30 plant: its day is 18:30 to 18:30 UTC, spread over 25 UTC hour keys."""
    plant_id = sim.add_plant(timezone_id="Asia/Calcutta", peak_power=6.0)
    client = make_client(session, base_url, sim, clock)
    plant = next(p for p in await client.async_get_plants() if p.id == str(plant_id))
    assert plant.time_zone == "+05:30"
    kolkata = ZoneInfo("Asia/Kolkata")
    day = date(2026, 6, 20)
    energy = (await client.async_get_energy_days([plant], day, kolkata))[plant.id]
    assert energy.zone is kolkata
    hours = _pv(energy)
    first = datetime(2026, 6, 19, 18, tzinfo=UTC)
    assert sorted(hours) == [first + timedelta(hours=h) for h in range(25)]
    total = await _day_total(client, plant.id, day)
    assert sum(hours.values()) == pytest.approx(total, abs=1e-4)
    # 06:00-07:00 local is 00:30-01:30 UTC: its energy is split between two UTC hours.
    assert hours[datetime(2026, 6, 20, 0, tzinfo=UTC)] > 0
    assert hours[datetime(2026, 6, 20, 0, tzinfo=UTC)] < hours[datetime(2026, 6, 20, 1, tzinfo=UTC)]
    assert hours[datetime(2026, 6, 19, 23, tzinfo=UTC)] == 0.0


async def test_zone_choice(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """The given zone when it has the plant's offset; else the cloud's offset; else the zone."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    day = date(2026, 6, 20)
    new_york = ZoneInfo("America/New_York")
    energy = (await client.async_get_energy_days([plant], day, new_york))[plant.id]
    assert energy.zone == timezone(timedelta(hours=2))
    assert min(energy.hours) == datetime(2026, 6, 19, 22, tzinfo=UTC)
    # A client that never saw the plant's details and a plant without a zone: the given zone.
    fresh = make_client(session, base_url, sim, clock)
    bare = Plant(id=plant.id, name=plant.name)
    energy = (await fresh.async_get_energy_days([bare], day, new_york))[plant.id]
    assert energy.zone is new_york
    assert min(energy.hours) == datetime(2026, 6, 20, 4, tzinfo=UTC)
    # The plant's stored offset is enough without the details call.
    stored = Plant(id=plant.id, name=plant.name, time_zone="+02:00")
    energy = (await fresh.async_get_energy_days([stored], day, AMS))[plant.id]
    assert energy.zone is AMS


async def test_several_plants_one_plant_per_call(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """Both endpoints take one plant_id: each plant gets its own three calls, all answered."""
    sim.add_plant(peak_power=3.3)
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    assert len(plants) == 3
    assert client.history_plan(plants).batch == 1
    result = await client.async_get_energy_days(plants, date(2026, 6, 20), AMS)
    assert sorted(result) == sorted(p.id for p in plants)
    assert _history_calls(sim) == 3 * HISTORY_CALLS_PER_READ
    totals = [sum(_pv(result[p.id]).values()) for p in plants]
    assert len(set(totals)) == 3  # each plant its own curve
    for plant, total in zip(plants, totals, strict=True):
        assert total == pytest.approx(await _day_total(client, plant.id, date(2026, 6, 20)))
    # The cloud refuses a list of plant ids.
    with pytest.raises(ProtocolError) as err:
        await client._call(
            "/plant/power", {"plant_id": f"{plants[0].id},{plants[1].id}", "date": "2026-06-20"}
        )
    assert err.value.code == "10006"


async def test_settled_utc_days_are_asked_once(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """Consecutive days share a UTC day, and today's refreshes share yesterday's: asked once."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    first = await client.async_get_energy_days([plant], date(2026, 6, 10), AMS)
    assert sim.calls["/plant/power"] == 2
    second = await client.async_get_energy_days([plant], date(2026, 6, 11), AMS)
    assert sim.calls["/plant/power"] == 3  # 2026-06-10 UTC came from the cache
    # The shared UTC day gives the same hours as when it was read.
    boundary = datetime(2026, 6, 10, 21, tzinfo=UTC)
    assert second[plant.id].hours.get(boundary) is None
    assert first[plant.id].hours[boundary] == {Flow.PV: 0.0}
    assert min(second[plant.id].hours) == datetime(2026, 6, 10, 22, tzinfo=UTC)
    sums = [sum(_pv(d[plant.id]).values()) for d in (first, second)]
    assert sums[0] == pytest.approx(await _day_total(client, plant.id, date(2026, 6, 10)))
    assert sums[1] == pytest.approx(await _day_total(client, plant.id, date(2026, 6, 11)))
    # Today: 2026-06-20 UTC (local midnight to 02:00) is settled, 2026-06-21 UTC is not.
    today = date(2026, 6, 21)
    before = sim.calls["/plant/power"]
    await client.async_get_energy_days([plant], today, AMS)
    clock.now += 3600
    hours = _pv((await client.async_get_energy_days([plant], today, AMS))[plant.id])
    assert sim.calls["/plant/power"] == before + 3
    assert max(hours) == datetime(2026, 6, 21, 11, tzinfo=UTC)
    # A day later the kept curve is read again (late uploads, corrections).
    clock.now += 86400
    await client.async_get_energy_days([plant], date(2026, 6, 21), AMS)
    assert sim.calls["/plant/power"] == before + 5


async def test_unknown_plant_is_absent(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """A plant the cloud no longer knows (10006) is left out; the other plants are read."""
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    sim.remove_plant(int(plants[0].id))
    result = await client.async_get_energy_days(plants, date(2026, 6, 20), AMS)
    assert list(result) == [plants[1].id]
    assert sum(_pv(result[plants[1].id]).values()) > 1.0


# -- budget -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plants", "daily", "hourly", "deep"),
    [(1, 184, 16, 32), (10, 1322, 111, 150), (100, 12698, 1059, 1332), (250, 31775, 2648, 3341)],
)
def test_history_plan_figures(plants: int, daily: int, hourly: int, deep: int) -> None:
    """A fifth of the live calls; hourly refresh, one plant a read, the rest deep history."""
    client = SajClient(None, "https://api.saj-solar.com", "app", "key")  # type: ignore[arg-type]
    plan = client.history_plan([Plant(id=str(i), name=f"P{i}") for i in range(plants)])
    assert plan.refresh == 3600.0
    assert plan.batch == 1
    assert plan.keeps_days == 366
    assert plan.settle == 3 * 3600.0
    assert plan.deep_reads_per_day == deep
    share = client.quota.allowance(E_HISTORY)
    assert share is not None
    assert (share.calls, share.period) == (daily, 86400.0)
    hour = client.quota.allowance(E_HISTORY_HOUR)
    assert hour is not None
    assert (hour.calls, hour.period) == (hourly, 3600.0)
    # Recurring reads (24 + 2 + 3 per plant) plus the deep ones fit the daily share.
    reads = plants * (24 + 5) + plan.deep_reads_per_day
    assert reads * HISTORY_CALLS_PER_READ <= daily
    assert daily <= 0.2 * client._live_calls_per_day(plants)


async def test_share_used_up_sends_nothing(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """With the hourly history share used, a read raises at once and nothing is sent."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    client.history_plan([plant])  # 16 history calls an hour: five reads of three
    for index in range(5):
        clock.now += 60
        day = date(2026, 6, 1 + 4 * index)  # days apart: no UTC day is asked twice
        assert plant.id in await client.async_get_energy_days([plant], day, AMS)
    assert _history_calls(sim) == 15
    sent = dict(sim.calls)
    clock.now += 60
    day = date(2026, 6, 20)
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days([plant], day, AMS)
    assert err.value.code == "history_quota"
    assert dict(sim.calls) == sent
    # The first read's calls leave the hourly window 3600 s after they were made.
    assert err.value.retry_after == pytest.approx(3600 - 300, abs=1)
    # Live polling is not held up by the history share.
    assert await client.async_get_plants()
    clock.now += err.value.retry_after
    assert plant.id in await client.async_get_energy_days([plant], day, AMS)


async def test_live_block_stops_history_without_waiting(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """After the cloud's hourly cap refused a live call, history sends nothing until then."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    client.history_plan([plant])
    sim.inject("fail_code:10003", path="/plant/list")
    with pytest.raises(RateLimitedError):
        await client.async_get_plants()
    sent = dict(sim.calls)
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days([plant], date(2026, 6, 20), AMS)
    assert dict(sim.calls) == sent
    # 11:00 UTC: the next clock hour, and the client's minute of margin.
    assert err.value.retry_after == pytest.approx(3660.0)


@pytest.mark.parametrize(("code", "retry"), [("10003", 3660.0), ("10004", 13 * 3600.0 + 60)])
async def test_vendor_cap_on_history(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SajSimulator,
    clock: FakeClock,
    code: str,
    retry: float,
) -> None:
    """10003 / 10004 on a history call: RateLimitedError, and every call is held until then."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    client.history_plan([plant])
    sim.inject(f"fail_code:{code}", path="/plant/power")
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days([plant], date(2026, 6, 20), AMS)
    assert err.value.code == code
    assert err.value.retry_after == pytest.approx(retry)
    assert sim.refusals["/plant/power"] == 1
    sent = dict(sim.calls)
    with pytest.raises(RateLimitedError):
        await client.async_get_energy_days([plant], date(2026, 6, 20), AMS)
    assert dict(sim.calls) == sent


async def test_real_hourly_cap_of_the_simulator(
    session: aiohttp.ClientSession, aiohttp_server: Callable[..., Any], clock: FakeClock
) -> None:
    """The simulator's own hourly cap answers 10003 on the history endpoints too."""
    sim = SajSimulator(plants=1, clock=clock, hourly_cap=4)
    url = await serve(aiohttp_server, sim.app)
    client = make_client(session, url, sim, clock)
    (plant,) = await client.async_get_plants()  # /plant/list and /plant/details: 2 calls
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days([plant], date(2026, 6, 20), AMS)
    assert err.value.code == "10003"
    assert sim.calls["/plant/power"] == 2
    assert sim.refusals["/plant/energy"] == 1


# -- damaged answers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "path", "error", "code"),
    [
        ("html", "/plant/power", ProtocolError, "200"),
        ("malformed_json", "/plant/energy", ProtocolError, "200"),
        ("http_500", "/plant/power", TransientError, "http_500"),
        ("http_502", "/plant/energy", TransientError, "http_502"),
        ("fail_code:10001", "/plant/power", TransientError, "10001"),
    ],
)
async def test_broken_answers(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SajSimulator,
    clock: FakeClock,
    kind: str,
    path: str,
    error: type[Exception],
    code: str,
) -> None:
    """Pages, server errors and broken JSON are errors of their class, not empty days."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    sim.inject(kind, path=path)
    with pytest.raises(error) as raised:
        await client.async_get_energy_days([plant], date(2026, 6, 20), AMS)
    assert raised.value.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize(("kind", "filler"), [("na_values", "N/A"), ("null_values", None)])
async def test_unusable_power_values(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SajSimulator,
    clock: FakeClock,
    kind: str,
    filler: str | None,
) -> None:
    """Power given as "N/A" or null: no samples, so the plant is absent (no invented hours)."""
    sim.na_filler = "N/A"  # type: ignore[misc]
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    sim.inject(kind, path="/plant/power", count=2)
    assert await client.async_get_energy_days([plant], date(2026, 6, 20), AMS) == {}
    assert sim.calls["/plant/energy"] == 0  # no curve: the total is not asked for


async def test_missing_power_fields_on_one_utc_day(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """Rows without power on the first UTC day: those hours are absent, the rest is scaled."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    sim.inject("missing_fields", path="/plant/power")
    hours = _pv((await client.async_get_energy_days([plant], date(2026, 6, 20), AMS))[plant.id])
    # 2026-06-19 22:00-24:00 UTC came without power values.
    assert min(hours) == datetime(2026, 6, 20, 0, tzinfo=UTC)
    assert len(hours) == 22
    total = await _day_total(client, plant.id, date(2026, 6, 20))
    assert sum(hours.values()) == pytest.approx(total, abs=1e-4)


@pytest.mark.parametrize("kind", ["na_values", "null_values", "missing_fields"])
async def test_unusable_day_total(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SajSimulator,
    clock: FakeClock,
    kind: str,
) -> None:
    """No usable day total: the hours are the curve's own energy, unscaled."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    day = date(2026, 6, 20)
    scaled = _pv((await client.async_get_energy_days([plant], day, AMS))[plant.id])
    sim.inject(kind, path="/plant/energy")
    raw = _pv((await client.async_get_energy_days([plant], day, AMS))[plant.id])
    assert sorted(raw) == sorted(scaled)
    total = await _day_total(client, plant.id, day)
    # The 5-minute trapezoids miss a little of the sine's top; scaling put that back.
    assert sum(raw.values()) != pytest.approx(total, abs=1e-4)
    assert sum(raw.values()) == pytest.approx(total, rel=0.005)


async def test_hand_made_replies(
    session: aiohttp.ClientSession,
    aiohttp_server: Callable[..., Any],
    clock: FakeClock,
) -> None:
    """String numbers, "N/A", rows that are not objects, kW-free W values and gaps."""
    from aiohttp import web

    day_rows = [
        {"time": "2026-06-20T10:00:00Z", "power": "1000"},
        {"time": "2026-06-20T10:05:00Z", "power": 1000},
        "garbage",
        {"time": "not a time", "power": 5},
        {"time": "2026-06-20T10:10:00Z", "power": "N/A"},
        {"time": "2026-06-20T10:15:00Z", "power": 2000.0},
        {"time": "2026-06-20T12:00:00Z", "power": 2000.0},  # after a 105-minute gap
        {"time": "2026-06-20T12:05:00Z", "power": 2000.0},
    ]
    total: list[Any] = [{"date": "2026-06-20", "energy": "N/A"}]

    async def power(request: web.Request) -> web.Response:
        rows = day_rows if request.query["date"] == "2026-06-20" else []
        return web.json_response({"data": {"count": 1, "powers": rows}, "error_code": 0})

    async def energy(request: web.Request) -> web.Response:
        return web.json_response({"data": {"energys": total}, "error_code": "0"})

    async def token(request: web.Request) -> web.Response:
        data = {"access_token": "t", "uid": "1", "expires_in": 86400}
        return web.json_response({"data": data, "error_code": 0})

    app = web.Application()
    app.router.add_get("/accessToken", token)
    app.router.add_get("/plant/power", power)
    app.router.add_get("/plant/energy", energy)
    url = await serve(aiohttp_server, app)
    client = make_client(session, url, None, clock, app_id="app", app_secret="key")
    plant = Plant(id="1", name="P", time_zone="+00:00")
    utc = ZoneInfo("UTC")
    hours = _pv((await client.async_get_energy_days([plant], date(2026, 6, 20), utc))["1"])
    # 10:00-10:05 at 1 kW, 10:05-10:15 at 1->2 kW (the N/A row skipped), 12:00-12:05 at 2 kW.
    assert hours == {
        datetime(2026, 6, 20, 10, tzinfo=UTC): pytest.approx(1000 * 5 / 60 / 1000 + 0.25, abs=1e-6),
        datetime(2026, 6, 20, 12, tzinfo=UTC): pytest.approx(2000 * 5 / 60 / 1000, abs=1e-6),
    }
    total[0]["energy"] = "0.6"
    hours = _pv((await client.async_get_energy_days([plant], date(2026, 6, 20), utc))["1"])
    assert sum(hours.values()) == pytest.approx(0.6, abs=1e-5)
    assert hours[datetime(2026, 6, 20, 12, tzinfo=UTC)] == pytest.approx(0.6 / 3, abs=1e-5)
    # A data field that is not an object is an unusable reply.
    day_rows[:] = []
    total[:] = []

    async def bad_power(request: web.Request) -> web.Response:
        return web.json_response({"data": ["x"], "error_code": 0})

    app2 = web.Application()
    app2.router.add_get("/accessToken", token)
    app2.router.add_get("/plant/power", bad_power)
    url2 = await serve(aiohttp_server, app2)
    other = SajClient(session, url2, "app", "key", quota=Quota(clock=clock))
    with pytest.raises(ProtocolError):
        await other.async_get_energy_days([plant], date(2026, 6, 20), utc)


# -- the simulator follows the document ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/plant/power", {"date": "2026-6-20"}),
        ("/plant/power", {"date": "20.06.2026"}),
        ("/plant/power", {"date": "2026-06-20", "timezone_id": "Europe/Paris"}),
        ("/plant/power", {"date": "2026-06-20", "timezone_id": "Mars/Olympus"}),
        ("/plant/power", {"date": "2026-06-20", "use_dst": "yes"}),
        ("/plant/power", {}),
        ("/plant/energy", {"start_date": "2026-06-20"}),
        ("/plant/energy", {"start_date": "2026-06-21", "end_date": "2026-06-20"}),
        ("/plant/energy", {"start_date": "2026-06-20", "end_date": "2026-06-20", "perpage": 101}),
        (
            "/plant/energy",
            {"start_date": "2026-06-20", "end_date": "2026-06-20", "time_unit": "hour"},
        ),
    ],
)
async def test_simulator_rejects_bad_parameters(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SajSimulator,
    clock: FakeClock,
    path: str,
    params: dict[str, Any],
) -> None:
    """Dates as YYYY-MM-DD, appendix 2 zone ids, true/false, paging as documented: else 10006."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    with pytest.raises(ProtocolError) as err:
        await client._call(path, {"plant_id": plant.id, **params})
    assert err.value.code == "10006"


async def test_simulator_power_curve(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """Samples every 5 minutes in the asked zone, W, never past the latest data refresh."""
    client = make_client(session, base_url, sim, clock)
    (plant, _) = await client.async_get_plants()
    data = await client._call(
        "/plant/power", {"plant_id": plant.id, "date": "2026-06-21", "timezone_id": "Asia/Tokyo"}
    )
    times = [row["time"] for row in data["powers"]]
    assert times[0] == "2026-06-21T00:00:00+09:00"
    assert times[-1] == "2026-06-21T20:00:00+09:00"  # 11:00 UTC, the simulated now
    assert len(times) == data["count"] == 20 * 12 + 1
    clock.now += 299
    again = await client._call(
        "/plant/power", {"plant_id": plant.id, "date": "2026-06-21", "timezone_id": "UTC"}
    )
    assert again["powers"][-1]["time"] == "2026-06-21T11:00:00Z"
    peak = max(float(row["power"]) for row in again["powers"])
    assert 1000 < peak < 5000  # a 5 kWp plant, in W


# -- with the planner ---------------------------------------------------------------------------


async def test_planner_day_fits_the_share(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """A simulated day of planner jobs: every refusal comes from the share, never the cloud."""
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    plan = client.history_plan(plants)
    planner = HistoryPlanner(plan, depth_days=10)
    planner.set_plants({p.id: AMS for p in plants}, clock.now)
    by_id = {p.id: p for p in plants}
    done: list[HistoryJob] = []
    codes: list[str | None] = []
    stop = clock.now + 86400
    while clock.now < stop:
        job = planner.next_job(clock.now)
        if job is None:
            clock.now += planner.next_due_in(clock.now)
            continue
        try:
            result = await client.async_get_energy_days(
                [by_id[i] for i in job.plants], job.day, AMS
            )
        except RateLimitedError as err:
            codes.append(err.code)
            clock.now += max(60.0, err.retry_after)
            continue
        assert set(result) == set(job.plants)
        planner.record(job, clock.now)
        done.append(job)
    assert sum(sim.refusals.values()) == 0
    share = client.quota.allowance(E_HISTORY)
    assert share is not None
    assert _history_calls(sim) <= share.calls
    progress = planner.progress(clock.now)
    assert all(p["read"] == p["days"] for p in progress.values())
    assert sum(1 for job in done if job.reason is Reason.CURRENT) >= 2 * 20
    assert set(codes) <= {"history_quota"}
    assert len(codes) < len(done)
