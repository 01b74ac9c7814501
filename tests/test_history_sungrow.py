"""Hourly energy history of the iSolarCloud client against the simulator, plain and encrypted."""

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
from custom_components.solar_cloud.api.history import EnergyDay, Flow, day_bounds
from custom_components.solar_cloud.api.models import Plant
from custom_components.solar_cloud.api.sungrow import (
    E_HISTORY,
    E_HOUR,
    HISTORY_ENDPOINT,
    SungrowClient,
    history_windows,
)
from tests.common import FakeClock, serve
from tests.simulators.sungrow import SungrowSimulator
from tests.vendor_sungrow import USER, make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
PLUS_ONE = timezone(timedelta(hours=1))
# The clock: conftest's, at NOON (2026-06-21 11:00 UTC); noon at the plants (GMT+1).
DAY = date(2026, 6, 21)
# Plant point -> flow, as the live sensors name the same counters.
LIVE_KEYS = {
    Flow.PV: "83022",
    Flow.GRID_IMPORT: "83102",
    Flow.GRID_EXPORT: "83072",
    Flow.BATTERY_CHARGE: "83322",
    Flow.BATTERY_DISCHARGE: "83323",
    Flow.LOAD: "83118",
}


@pytest.fixture
def sim(clock: FakeClock) -> SungrowSimulator:
    """A simulated gateway with two plants at GMT+1."""
    return make_simulator(clock, plants=2)


def _local(day: date, hour: int, minute: int, zone: Any) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp()


def _last_values(sim: SungrowSimulator, ps_id: str, day: date, zone: Any) -> dict[Flow, float]:
    """The plant's day counters (kWh) as the live endpoints showed them last that day."""
    end = day_bounds(day, zone)[1].timestamp()
    raw = sim.raw_points_at(f"{ps_id}_11_0_0", end - 60)
    return {flow: float(raw[point] or 0) / 1000 for flow, point in LIVE_KEYS.items()}


def _sums(energy: EnergyDay) -> dict[Flow, float]:
    out: dict[Flow, float] = {}
    for values in energy.hours.values():
        for flow, kwh in values.items():
            out[flow] = out.get(flow, 0.0) + kwh
    return out


def _assert_top_of_hours(energy: EnergyDay) -> None:
    for hour in energy.hours:
        assert hour.tzinfo is UTC
        assert (hour.minute, hour.second, hour.microsecond) == (0, 0, 0)


@pytest.mark.parametrize("encrypted", [False, True])
async def test_ended_day_adds_up_to_the_live_counters(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    encrypted: bool,
) -> None:
    """24 hours per plant; each flow's hours add up to the day's last live counter."""
    sim.require_encryption = encrypted
    clock.now = _local(DAY, 23, 58, PLUS_ONE)
    client = make_client(session, base_url, sim, clock, encrypted=encrypted)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    live = await client.async_get_realtime(plants, devices)
    clock.now += 12 * 3600
    before = sim.calls[HISTORY_ENDPOINT]
    days = await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    # Both plants in one call per 3-hour window.
    assert sim.calls[HISTORY_ENDPOINT] - before == 8
    assert sorted(days) == sorted(p.id for p in plants)
    for plant in plants:
        energy = days[plant.id]
        assert energy.day == DAY
        # The cloud says GMT+1; Amsterdam is at +2 in June: the cloud's offset is used.
        assert energy.zone.utcoffset(None) == timedelta(hours=1)
        start = day_bounds(DAY, PLUS_ONE)[0]
        assert sorted(energy.hours) == [start + timedelta(hours=h) for h in range(24)]
        _assert_top_of_hours(energy)
        sums = _sums(energy)
        assert set(sums) == set(Flow)
        reading = live[plant.id].plant
        assert sums[Flow.PV] == pytest.approx(reading["energy_today"], abs=1e-3)
        assert sums[Flow.GRID_IMPORT] == pytest.approx(
            reading["grid_import_energy_today"], abs=1e-3
        )
        assert sums[Flow.GRID_EXPORT] == pytest.approx(
            reading["grid_export_energy_today"], abs=1e-3
        )
        assert sums[Flow.LOAD] == pytest.approx(reading["load_energy_today"], abs=1e-3)
        assert sums[Flow.BATTERY_CHARGE] == pytest.approx(
            reading["battery_charge_energy_today"], abs=1e-3
        )
        assert sums[Flow.BATTERY_DISCHARGE] == pytest.approx(
            reading["battery_discharge_energy_today"], abs=1e-3
        )
        assert sums[Flow.PV] > 10
        # Night: the cloud reports the PV counter standing still, a real 0.
        assert energy.hours[start][Flow.PV] == 0.0
        assert energy.hours[start][Flow.LOAD] > 0.3
        noon = start + timedelta(hours=12)
        assert energy.hours[noon][Flow.PV] > 1


async def test_today_is_partial(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Only the windows up to now are asked for; no hour after now; the sum is the live value."""
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    days = await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    # 00:00-12:00 local: four windows, the fifth would start in the future.
    assert sim.calls[HISTORY_ENDPOINT] == 4
    energy = days[plants[0].id]
    now = datetime.fromtimestamp(clock.now, UTC)
    # The last sample is at 12:00 local (now): the hour that starts then has nothing yet.
    assert max(energy.hours) == now - timedelta(hours=1)
    assert len(energy.hours) == 12
    raw = sim.raw_points(f"{plants[0].id}_11_0_0")
    assert _sums(energy)[Flow.PV] == pytest.approx(float(raw["83022"] or 0) / 1000, abs=1e-3)
    # A day that has not begun costs nothing.
    assert await client.async_get_energy_days(plants, DAY + timedelta(days=1), AMSTERDAM) == {}
    assert sim.calls[HISTORY_ENDPOINT] == 4


@pytest.mark.parametrize(
    ("day", "hours", "calls"),
    [(date(2026, 3, 29), 23, 8), (date(2026, 10, 25), 25, 9), (date(2026, 1, 15), 24, 8)],
)
async def test_daylight_saving_days(
    session: aiohttp.ClientSession,
    aiohttp_server: Callable[..., Any],
    clock: FakeClock,
    day: date,
    hours: int,
    calls: int,
) -> None:
    """A plant in Amsterdam: 23 and 25 hours, top-of-hour UTC keys, sums as the live counters."""
    simulator = make_simulator(clock, plants=1, zone=AMSTERDAM)
    url = await serve(aiohttp_server, simulator.app)
    clock.now = _local(day + timedelta(days=1), 12, 0, AMSTERDAM)
    client = make_client(session, url, simulator, clock)
    plants = await client.async_get_plants()
    days = await client.async_get_energy_days(plants, day, AMSTERDAM)
    assert simulator.calls[HISTORY_ENDPOINT] == calls
    energy = days[plants[0].id]
    # The cloud's current offset is Amsterdam's own now: Amsterdam's rules are used.
    assert energy.zone is AMSTERDAM
    start, end = day_bounds(day, AMSTERDAM)
    assert sorted(energy.hours) == [start + timedelta(hours=h) for h in range(hours)]
    assert (end - start) == timedelta(hours=hours)
    _assert_top_of_hours(energy)
    sums = _sums(energy)
    last = _last_values(simulator, plants[0].id, day, AMSTERDAM)
    for flow in Flow:
        assert sums[flow] == pytest.approx(last[flow], abs=1e-3), flow


def test_windows_follow_both_clocks() -> None:
    """At most 3 hours in real time and on the local clock; no window bound in a repeated hour."""
    for day, count in ((date(2026, 3, 29), 8), (date(2026, 10, 25), 9), (date(2026, 6, 1), 8)):
        start, end = day_bounds(day, AMSTERDAM)
        windows = history_windows(start, end, AMSTERDAM)
        assert len(windows) == count
        assert windows[0][0] == start
        assert windows[-1][1] == end
        for (a, b), (c, _) in zip(windows, [*windows[1:], (end, end)], strict=True):
            assert b == c
            assert timedelta(0) < b - a <= timedelta(hours=3)
            wall = b.astimezone(AMSTERDAM).replace(tzinfo=None) - a.astimezone(AMSTERDAM).replace(
                tzinfo=None
            )
            assert wall <= timedelta(hours=3)
            local = b.astimezone(AMSTERDAM).replace(tzinfo=None, fold=0)
            assert local.replace(tzinfo=AMSTERDAM).astimezone(UTC) == b
    # Half-hour offsets: the day starts at hh:30 UTC.
    india = timezone(timedelta(hours=5, minutes=30))
    start, end = day_bounds(date(2026, 6, 1), india)
    assert [w[0].minute for w in history_windows(start, end, india)] == [30] * 8


async def test_batches_of_fifty_plants(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """60 plants: two batches (50 + 10) per window, every plant answered."""
    for _ in range(58):
        sim.add_plant(username=USER)
    clock.now += 86400
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    days = await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    assert sim.calls[HISTORY_ENDPOINT] == 16
    assert sim.refusals[HISTORY_ENDPOINT] == 0
    assert len(days) == 60
    assert all(len(d.hours) == 24 for d in days.values())


async def test_plant_zone_unknown_uses_the_callers(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Without a zone from the cloud, the caller's zone decides the day and the stamps."""
    clock.now += 86400
    client = make_client(session, base_url, sim, clock)
    listed = await client.async_get_plants()
    bare = [Plant(id=p.id, name=p.name) for p in listed]
    other = make_client(session, base_url, sim, clock)
    days = await other.async_get_energy_days(bare, DAY, PLUS_ONE)
    energy = days[bare[0].id]
    assert energy.zone is PLUS_ONE
    assert len(energy.hours) == 24
    # Winter at the plant's offset: the caller's Amsterdam is taken for the plant's zone.
    clock.now = _local(date(2026, 1, 16), 12, 0, PLUS_ONE)
    days = await client.async_get_energy_days(listed, date(2026, 1, 15), AMSTERDAM)
    assert days[listed[0].id].zone is AMSTERDAM


def test_history_plan_figures() -> None:
    """Share of the hourly budget, refresh, batch and deep reads for 1/10/100/250 plants."""
    client = SungrowClient(
        None,  # type: ignore[arg-type]
        "https://gateway.isolarcloud.eu",
        "k",
        "a",
        "u",
        "p",
    )

    def plants(n: int) -> list[Plant]:
        return [Plant(id=str(i), name=str(i)) for i in range(n)]

    figures = {}
    for count in (1, 10, 100, 250):
        plan = client.history_plan(plants(count))
        allowance = client.quota.allowance(E_HISTORY)
        assert allowance is not None
        figures[count] = (allowance.calls, allowance.period, plan.refresh, plan.batch)
        figures[count] += (plan.keeps_days, plan.deep_reads_per_day)
    assert figures == {
        1: (450, 3600.0, 3600.0, 50, 90, 1171),
        10: (450, 3600.0, 3600.0, 50, 90, 1171),
        100: (450, 3600.0, 3600.0, 50, 90, 1142),
        250: (450, 3600.0, 3600.0, 50, 90, 1055),
    }
    # The live plan still polls every 5 minutes with the share set aside.
    from custom_components.solar_cloud.api.models import Device, DeviceKind

    many = plants(250)
    devices = [
        Device(id=f"{p.id}_{t}", plant_id=p.id, name="d", kind=DeviceKind.OTHER, type_code=str(t))
        for p in many
        for t in (1, 7, 14, 43)
    ]
    assert client.plan(many, devices).realtime == 300
    # A small cap: the live polls come first, history keeps what they leave (at least a read).
    client._set_caps(100, None)
    client.plan(plants(1), devices[:4])
    plan = client.history_plan(plants(1))
    allowance = client.quota.allowance(E_HISTORY)
    assert allowance is not None
    assert allowance.calls == 22  # 90 - (5 calls * 12 rounds + 4)
    assert plan.refresh == 3600.0
    assert plan.deep_reads_per_day == 22 * 24 // 9 - 29
    assert client.plan(plants(1), devices[:4]).realtime == 300
    # A cap the live polls nearly fill: one read an hour still, and the live rhythm gives way.
    client._set_caps(70, None)
    client.plan(plants(1), devices[:4])
    plan = client.history_plan(plants(1))
    assert client.quota.allowance(E_HISTORY) is not None
    assert client.quota.allowance(E_HISTORY).calls == 9  # type: ignore[union-attr]
    assert plan.refresh == pytest.approx(86400 / (24 - 5))
    assert client.plan(plants(1), devices[:4]).realtime > 300


async def test_share_used_up_sends_nothing(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Two reads fit a 22-call share; the third is refused before any call goes out."""
    sim.hourly_cap = 100
    clock.now += 86400
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    assert client.hourly_cap == 100
    client.history_plan(plants)
    await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    await client.async_get_energy_days(plants, DAY - timedelta(days=1), AMSTERDAM)
    sent = sum(sim.calls.values()) + sum(sim.refusals.values())
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants, DAY - timedelta(days=2), AMSTERDAM)
    assert 0 < err.value.retry_after <= 3600
    assert sum(sim.calls.values()) + sum(sim.refusals.values()) == sent
    # The live polls still have their slots.
    assert await client.async_get_plants()
    clock.now += err.value.retry_after
    assert await client.async_get_energy_days(plants, DAY - timedelta(days=2), AMSTERDAM)


async def test_live_allowance_used_up_sends_nothing(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """History never waits for the hourly allowance it shares with the live polls."""
    clock.now += 86400
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    client.quota.block(E_HOUR, 600)
    sent = len(sim.requests)
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    assert err.value.retry_after == pytest.approx(600)
    assert len(sim.requests) == sent


@pytest.mark.parametrize("code", ["E999", "E901", "E998"])
async def test_vendor_rate_limit_is_mapped(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    code: str,
) -> None:
    """The vendor's cap answer: RateLimitedError until the next hour, and no further calls."""
    clock.now += 86400
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    sim.inject(f"fail_code:{code}", path=HISTORY_ENDPOINT)
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    assert err.value.code == code
    assert 60 < err.value.retry_after <= 3660
    sent = len(sim.requests)
    with pytest.raises(RateLimitedError):
        await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    assert len(sim.requests) == sent


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("http_500", TransientError, "http_500"),
        ("http_502", TransientError, "http_502"),
        ("html", ProtocolError, "200"),
        ("malformed_json", ProtocolError, "200"),
        ("fail_code:010", ProtocolError, "010"),
    ],
)
async def test_broken_answers(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    kind: str,
    error: type[Exception],
    code: object,
) -> None:
    """Each broken answer is one clear error class."""
    clock.now += 86400
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    sim.inject(kind, path=HISTORY_ENDPOINT)
    with pytest.raises(error) as raised:
        await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    assert raised.value.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["na_values", "null_values", "missing_fields"])
async def test_values_missing(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    kind: str,
) -> None:
    """Unusable values are left out: a whole day of them leaves the plants out; one window of
    them leaves its hours to the next sample, and the day still adds up."""
    clock.now += 86400
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    sim.inject(kind, path=HISTORY_ENDPOINT, count=8)
    assert await client.async_get_energy_days(plants, DAY, AMSTERDAM) == {}
    # The last window (21:00-24:00) damaged: the hours after 21:00 are absent.
    calls = sim.calls[HISTORY_ENDPOINT]
    original = sim._ep_minute_data

    def late_fault(account: Any, body: dict[str, Any], now: float) -> Any:
        if str(body["start_time_stamp"]).endswith("210000"):
            sim.inject(kind, path=HISTORY_ENDPOINT, count=1)
        return original(account, body, now)

    sim._endpoints[HISTORY_ENDPOINT] = late_fault
    days = await client.async_get_energy_days(plants, DAY, AMSTERDAM)
    assert sim.calls[HISTORY_ENDPOINT] - calls == 8
    energy = days[plants[0].id]
    start = day_bounds(DAY, PLUS_ONE)[0]
    assert sorted(energy.hours) == [start + timedelta(hours=h) for h in range(21)]


async def test_missing_result_is_a_protocol_error(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A success envelope without result_data is unusable."""
    clock.now += 86400
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    sim._endpoints[HISTORY_ENDPOINT] = lambda account, body, now: ("1", None)
    with pytest.raises(ProtocolError):
        await client.async_get_energy_days(plants, DAY, AMSTERDAM)


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ps_key_list": ["1000001_11_0_0"],
        "points": "p83022,p83102",
        "start_time_stamp": "20260621000000",
        "end_time_stamp": "20260621030000",
        "minute_interval": "5",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"end_time_stamp": "20260621030500"}, "010"),  # more than 3 hours
        ({"end_time_stamp": "20260620230000"}, "010"),  # ends before it starts
        ({"start_time_stamp": "2026-06-21 00:00"}, "010"),
        ({"start_time_stamp": "20261321000000"}, "010"),
        ({"points": ",".join(f"p{83000 + i}" for i in range(50))}, "010"),  # not fewer than 50
        ({"points": "83022"}, "010"),
        ({"ps_key_list": [f"1000001_11_0_{i}" for i in range(51)]}, "010"),
        ({"ps_key_list": "1000001_11_0_0"}, "010"),
        ({"ps_key_list": ["1000001_11_0_0", "1000001_14_1_1"]}, "010"),  # two device types
        ({"minute_interval": "0"}, "010"),
        ({"points": None}, "009"),
        ({"ps_key_list": None}, "009"),
        ({"start_time_stamp": None}, "009"),
        ({"end_time_stamp": ""}, "009"),
    ],
)
async def test_simulator_refuses_bad_parameters(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    changes: dict[str, Any],
    code: str,
) -> None:
    """The document's limits, answered with its codes (009 missing, 010 invalid)."""
    client = make_client(session, base_url, sim, clock)
    with pytest.raises(ProtocolError) as err:
        await client._call(HISTORY_ENDPOINT, _body(**changes))
    assert err.value.code == code


async def test_simulator_answers(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """49 points and 50 keys are allowed; unknown keys are named; nothing after now."""
    client = make_client(session, base_url, sim, clock)
    await client.async_login()
    keys = ["1000001_11_0_0", "1000002_11_0_0", "999_11_0_0"]
    body = _body(
        ps_key_list=keys + [f"999_11_0_{i}" for i in range(47)],
        points=",".join(["p83022"] + [f"p{90000 + i}" for i in range(48)]),
        start_time_stamp="20260621100000",
        end_time_stamp="20260621130000",
        minute_interval="15",
    )
    payload = {**body, "appkey": sim.appkey, "token": sim.live_token(USER), "lang": "_en_US"}
    async with session.post(
        f"{base_url}/openapi/{HISTORY_ENDPOINT}",
        json=payload,
        headers={"sys_code": "901", "x-access-key": sim.access_key},
    ) as response:
        reply = await response.json()
    assert reply["result_code"] == "1"
    assert reply["result_msg"].startswith("illegal_device_list:999_11_0_0,")
    rows = reply["result_data"]["1000001_11_0_0"]
    # 10:00 to 12:00 local every 15 minutes: the clock is at 12:00, nothing later.
    assert [r["time_stamp"] for r in rows][:2] == ["20260621100000", "20260621101500"]
    assert rows[-1]["time_stamp"] == "20260621120000"
    assert len(rows) == 9
    assert set(rows[0]) == {"p83022", "time_stamp"}
    assert set(reply["result_data"]) == {"1000001_11_0_0", "1000002_11_0_0"}
