"""Hourly energy history of the FusionSolar client (getKpiStationHour), against the simulator."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import pairwise
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
from custom_components.solar_cloud.api.huawei import (
    E_HISTORY,
    E_KPI_HOUR,
    E_OAUTH_DAY,
    OAUTH_DAILY_CALLS,
    OAUTH_HISTORY_CALLS,
    OAUTH_RESERVE,
    HuaweiClient,
    hour_buckets,
    map_hour_kpi,
    plant_zone,
)
from custom_components.solar_cloud.api.models import Device, DeviceKind, Plant
from custom_components.solar_cloud.api.quota import Quota
from tests.common import FakeClock
from tests.conftest import SYSTEM_CODE, USERNAME
from tests.simulators.huawei import HuaweiSimulator
from tests.vendor_huawei import make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
KOLKATA = ZoneInfo("Asia/Kolkata")
KPI_HOUR = "getKpiStationHour"
# Live day counters and the flows their hours must add up to.
COUNTERS = {
    Flow.PV: "energy_today",
    Flow.GRID_EXPORT: "grid_export_energy_today",
    Flow.LOAD: "load_energy_today",
    Flow.BATTERY_CHARGE: "battery_charge_energy_today",
    Flow.BATTERY_DISCHARGE: "battery_discharge_energy_today",
}
# 24 values rounded to 3 decimals each, plus the last seconds of a day.
TOLERANCE = 0.02


def at(zone: tzinfo, *args: int) -> float:
    """Epoch seconds of a local time."""
    return datetime(*args, tzinfo=zone).timestamp()  # type: ignore[misc]


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock, 2026-06-11 09:00 in Amsterdam."""
    return FakeClock(at(AMSTERDAM, 2026, 6, 11, 9))


@pytest.fixture
def sim_kwargs() -> dict[str, Any]:
    """Extra simulator options; tests override this."""
    return {"time_zone": "Europe/Amsterdam"}


@pytest.fixture
def sim(clock: FakeClock, sim_kwargs: dict[str, Any]) -> HuaweiSimulator:
    """A simulator whose plants live in Amsterdam (with daylight saving time)."""
    return make_simulator(clock, plants=2, **sim_kwargs)


def _sent(sim: HuaweiSimulator) -> int:
    """Requests to the hourly interface that reached the simulator (refused ones too)."""
    return sum(1 for entry in sim.requests if entry[1] == KPI_HOUR)


async def _live(
    client: HuaweiClient, plants: list[Plant], devices: list[Device]
) -> dict[str, dict[str, Any]]:
    client.plan(plants, devices)
    data = await client.async_get_realtime(plants, devices)
    return {code: realtime.plant for code, realtime in data.items()}


def _sums(energy: EnergyDay) -> dict[Flow, float]:
    out: dict[Flow, float] = {}
    for flows in energy.hours.values():
        for flow, kwh in flows.items():
            out[flow] = out.get(flow, 0.0) + kwh
    return out


def _assert_hours(energy: EnergyDay, count: int) -> None:
    """``count`` consecutive top-of-hour UTC keys from the local midnight on."""
    keys = sorted(energy.hours)
    assert len(keys) == count
    assert all(k.tzinfo is UTC and k.minute == 0 and k.second == 0 for k in keys)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(keys))
    start, _ = day_bounds(energy.day, energy.zone)
    assert keys[0] == start.replace(minute=0)


async def _day_matches_live(
    client: HuaweiClient, clock: FakeClock, day: date, zone: tzinfo, hours: int
) -> None:
    """Read the live counters just before the day ends, then the day's hours the next
    morning: every flow adds up to its counter."""
    clock.now = at(zone, day.year, day.month, day.day, 23, 59, 59)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    live = await _live(client, plants, devices)
    clock.now += 9 * 3600
    client.history_plan(plants)
    days = await client.async_get_energy_days(plants, day, zone)
    assert set(days) == {p.id for p in plants}
    for plant in plants:
        energy = days[plant.id]
        assert energy.zone is zone
        _assert_hours(energy, hours)
        sums = _sums(energy)
        for flow, counter in COUNTERS.items():
            assert sums[flow] == pytest.approx(live[plant.id][counter], abs=TOLERANCE), flow
        assert sums[Flow.PV] > 5.0
        assert Flow.GRID_IMPORT not in sums


# -- days -------------------------------------------------------------------------------------


async def test_normal_day_adds_up_to_the_live_counters(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """A summer day: 24 hours, each flow's hours add up to the live day counter."""
    client = make_client(session, base_url, clock)
    await _day_matches_live(client, clock, date(2026, 6, 10), AMSTERDAM, 24)
    assert sim.calls[KPI_HOUR] == 1  # both plants in one call


async def test_night_hours_are_real_zeros(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """At night the cloud reports 0 kWh of PV: a real zero, not an absent value."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    days = await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    midnight = datetime(2026, 6, 9, 22, tzinfo=UTC)  # 00:00 CEST
    first = days[plants[0].id].hours[midnight]
    assert first[Flow.PV] == 0.0
    assert first[Flow.LOAD] == pytest.approx(0.4, abs=0.001)
    noon = days[plants[0].id].hours[datetime(2026, 6, 10, 10, tzinfo=UTC)]
    assert noon[Flow.PV] > 1.0


async def test_today_is_partial(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """The current day: hours up to the current one, none after; they add up to the counter."""
    clock.now = at(AMSTERDAM, 2026, 6, 10, 13, 20)
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    live = await _live(client, plants, devices)
    days = await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    energy = days[plants[0].id]
    keys = sorted(energy.hours)
    assert len(keys) == 14  # 00:00 to 13:00 local, the last one partial
    assert keys[-1] == datetime(2026, 6, 10, 11, tzinfo=UTC)
    assert max(keys) <= datetime.fromtimestamp(clock.now, UTC)
    sums = _sums(energy)
    assert sums[Flow.PV] == pytest.approx(live[plants[0].id]["energy_today"], abs=TOLERANCE)
    assert sums[Flow.LOAD] == pytest.approx(live[plants[0].id]["load_energy_today"], abs=0.01)
    # A day that has not begun has no hours at all: the plants are absent.
    clock.now += 61
    assert await client.async_get_energy_days(plants, date(2026, 6, 11), AMSTERDAM) == {}


async def test_spring_forward_day_has_23_hours(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """2026-03-29 in Amsterdam: 23 UTC hours that add up to the live counters."""
    client = make_client(session, base_url, clock)
    await _day_matches_live(client, clock, date(2026, 3, 29), AMSTERDAM, 23)


async def test_fall_back_day_has_25_hours(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """2026-10-25 in Amsterdam: the cloud's 24 records become 25 UTC hours (the 02:00 record
    holds both 02:00 hours) that add up to the live counters."""
    client = make_client(session, base_url, clock)
    await _day_matches_live(client, clock, date(2026, 10, 25), AMSTERDAM, 25)
    clock.now += 120
    plants = await client.async_get_plants()
    days = await client.async_get_energy_days(plants, date(2026, 10, 25), AMSTERDAM)
    hours = days[plants[0].id].hours
    # Base load 0.4 kW at night: each of the two UTC hours of the doubled 02:00 gets 0.4 kWh.
    assert hours[datetime(2026, 10, 25, 0, tzinfo=UTC)][Flow.LOAD] == pytest.approx(0.4, abs=1e-3)
    assert hours[datetime(2026, 10, 25, 1, tzinfo=UTC)][Flow.LOAD] == pytest.approx(0.4, abs=1e-3)


@pytest.mark.parametrize("sim_kwargs", [{"time_zone": "Asia/Kolkata"}])
async def test_half_hour_zone_spreads_over_utc_hours(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """UTC+05:30: each local hour is split over two UTC hours; 25 UTC keys, same totals."""
    client = make_client(session, base_url, clock)
    await _day_matches_live(client, clock, date(2026, 6, 10), KOLKATA, 25)


async def test_plant_zone_is_preferred(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """A plant that names its zone is read in it; EnergyDay.zone says which zone was used."""
    client = make_client(session, base_url, clock)
    plant = (await client.async_get_plants())[0]
    named = Plant(id=plant.id, name=plant.name, time_zone="Europe/Amsterdam")
    days = await client.async_get_energy_days([named], date(2026, 6, 10), UTC)
    assert days[plant.id].zone == AMSTERDAM
    _assert_hours(days[plant.id], 24)
    assert plant_zone(Plant(id="x", name="x", time_zone="+05:30"), UTC)[0].utcoffset(
        None
    ) == timedelta(hours=5, minutes=30)
    assert plant_zone(Plant(id="x", name="x", time_zone="Mars/Base"), AMSTERDAM) == (
        AMSTERDAM,
        False,
    )


@pytest.mark.parametrize("sim_kwargs", [{"time_zone": "Europe/Amsterdam", "hour_keys_2022": True}])
async def test_older_platform_gives_pv_and_export_only(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """Only the keys of the 2022 document: PV from inverter_power, export from ongrid_power."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    days = await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    flows = {flow for hour in days[plants[0].id].hours.values() for flow in hour}
    assert flows == {Flow.PV, Flow.GRID_EXPORT}


@pytest.mark.parametrize("sim_kwargs", [{"time_zone": "Europe/Amsterdam", "string_values": True}])
async def test_values_as_strings(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """Numbers sent as strings are read as numbers."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    days = await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    assert _sums(days[plants[0].id])[Flow.PV] > 5.0


# -- batching and budget ------------------------------------------------------------------------


async def test_one_call_for_a_hundred_plants(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """100 plants in one call; a 101st needs a second call, which the interface's minute
    refuses before anything is sent."""
    for _ in range(99):
        sim.add_plant(username=USERNAME)
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    assert len(plants) == 101
    client.history_plan(plants)
    days = await client.async_get_energy_days(plants[:100], date(2026, 6, 10), AMSTERDAM)
    assert len(days) == 100
    assert all(len(d.hours) == 24 for d in days.values())
    assert sim.calls[KPI_HOUR] == 1
    clock.now += 61
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants, date(2026, 6, 9), AMSTERDAM)
    assert err.value.code == "quota"
    assert 0 < err.value.retry_after <= 60
    assert sim.calls[KPI_HOUR] == 2  # the first hundred went out, the rest did not
    assert _sent(sim) == 2
    assert sim.refusals[KPI_HOUR] == 0


async def test_share_used_up_sends_nothing(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """The share (20 a day for two plants) and the minute: RateLimitedError, nothing sent."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    plan = client.history_plan(plants)
    assert plan.deep_reads_per_day == 7
    start = clock.now
    for read in range(20):
        await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
        if read == 0:  # the interface's minute
            with pytest.raises(RateLimitedError) as minute:
                await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
            assert 0 < minute.value.retry_after <= 60
        clock.now += 61
    assert _sent(sim) == 20
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    # Room again a day after the first read.
    assert err.value.retry_after == pytest.approx(start + 86_400 - clock.now, abs=1)
    assert _sent(sim) == 20
    assert sim.refusals[KPI_HOUR] == 0


async def test_live_budget_taken_first(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """OAuth: when the daily OAuth budget the live polls use has no room, history does not
    send (and does not wait)."""

    async def token() -> str:
        return "unused"

    quota = Quota(clock=clock, sleep=clock.sleep)
    client = HuaweiClient.bearer(session, base_url, token, account="o", quota=quota, clock=clock)
    plan = client.history_plan([Plant(id="NE=33000000", name="p")])
    assert (plan.refresh, plan.deep_reads_per_day) == (4 * 3600.0, 5)
    assert quota.allowance(E_HISTORY) is not None
    for _ in range(OAUTH_DAILY_CALLS):
        async with quota.slot(E_OAUTH_DAY):
            pass
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(
            [Plant(id="NE=33000000", name="p")], date(2026, 6, 10), AMSTERDAM
        )
    assert err.value.retry_after > 0
    assert _sent(sim) == 0
    assert quota.remaining(E_HISTORY) == OAUTH_HISTORY_CALLS


async def test_vendor_407_is_mapped_and_held(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """A 407 (someone else used the account's day): RateLimitedError, an hour's hold."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    sim.inject("fail_code:407", path=KPI_HOUR)
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    assert err.value.code == "407"
    assert err.value.retry_after == 3600
    clock.now += 120
    with pytest.raises(RateLimitedError):
        await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    assert _sent(sim) == 1
    clock.now += 3600
    assert len(await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)) == 2


async def test_vendor_daily_cap_holds_until_the_next_day(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """20618: the interface stays closed until the next UTC day."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    sim.inject("fail_code:20618", path=KPI_HOUR)
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    assert err.value.code == "20618"
    assert err.value.retry_after > 3600


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("html", ProtocolError, "200"),
        ("http_500", TransientError, "http_500"),
        ("http_502", TransientError, "http_502"),
        ("malformed_json", ProtocolError, "200"),
        ("exception_body", TransientError, "http_500"),
        ("quota_gateway", RateLimitedError, "49401021002"),
        ("fail_code:20009", ProtocolError, "20009"),
        ("fail_code:20004", TransientError, "20004"),
    ],
)
async def test_faults(
    session: aiohttp.ClientSession,
    base_url: str,
    clock: FakeClock,
    sim: HuaweiSimulator,
    kind: str,
    error: type[Exception],
    code: str,
) -> None:
    """Each broken answer gives one error class."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    sim.inject(kind, path=KPI_HOUR)
    with pytest.raises(error) as raised:
        await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    assert getattr(raised.value, "code", None) == code


@pytest.mark.parametrize("kind", ["missing_fields", "na_values", "null_values"])
async def test_damaged_values_are_absent(
    session: aiohttp.ClientSession,
    base_url: str,
    clock: FakeClock,
    sim: HuaweiSimulator,
    kind: str,
) -> None:
    """Records without usable values: the plants are there, with no hours (no invented 0)."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    sim.inject(kind, path=KPI_HOUR)
    days = await client.async_get_energy_days(plants, date(2026, 6, 10), AMSTERDAM)
    assert set(days) == {p.id for p in plants}
    assert all(d.hours == {} for d in days.values())


async def test_unknown_plants_and_old_days_give_nothing(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """20007 (no such plants) and 20026 (older than 365 days): empty answers, no error."""
    client = make_client(session, base_url, clock)
    ghost = [Plant(id="NE=1", name="gone")]
    assert await client.async_get_energy_days(ghost, date(2026, 6, 10), AMSTERDAM) == {}
    clock.now += 61
    plants = await client.async_get_plants()
    assert await client.async_get_energy_days(plants, date(2025, 6, 1), AMSTERDAM) == {}
    assert sim.calls[KPI_HOUR] == 2


def test_map_hour_kpi_values() -> None:
    """N/A, null, negative and text values; PVYield wins over inverter_power when present."""
    assert map_hour_kpi(
        {
            "PVYield": "N/A",
            "inverter_power": 3.0,
            "ongrid_power": "1.5",
            "chargeCap": None,
            "dischargeCap": -1,
            "use_power": "0",
        }
    ) == {Flow.GRID_EXPORT: 1.5, Flow.LOAD: 0.0}
    assert map_hour_kpi({"inverter_power": "2.25", "radiation_intensity": 0.4}) == {Flow.PV: 2.25}
    assert map_hour_kpi({"PVYield": 1, "inverter_power": 3}) == {Flow.PV: 1.0}
    assert map_hour_kpi({}) == {}


def test_junk_records_are_skipped() -> None:
    """Records that are not objects, lack a plant or time, name another plant, or lie in the
    future are left out; the rest are read."""
    clock = FakeClock(at(AMSTERDAM, 2026, 6, 10, 12, 30))
    client = HuaweiClient.__new__(HuaweiClient)
    client._clock = clock
    good = int(at(AMSTERDAM, 2026, 6, 10, 10) * 1000)
    data: list[Any] = [
        "junk",
        {"stationCode": "A", "dataItemMap": {"PVYield": 1}},
        {"stationCode": "B", "collectTime": good, "dataItemMap": {"PVYield": 1}},
        {"stationCode": "A", "collectTime": "N/A", "dataItemMap": {"PVYield": 1}},
        {"stationCode": "A", "collectTime": good + 4 * 3_600_000, "dataItemMap": {"PVYield": 5}},
        {"stationCode": "A", "collectTime": good, "dataItemMap": "x"},
        {"stationCode": "A", "collectTime": good + 3_600_000, "dataItemMap": {"PVYield": "2"}},
    ]
    days = client._energy_days(data, {"A"}, date(2026, 6, 10), AMSTERDAM)
    assert days["A"].hours == {datetime(2026, 6, 10, 9, tzinfo=UTC): {Flow.PV: 2.0}}


def test_hour_buckets_never_overlap() -> None:
    """Should a cloud send 25 records on the day the clocks go back, the first 02:00 record
    ends where the second begins."""
    first = datetime(2026, 10, 25, 0, tzinfo=UTC)
    second = datetime(2026, 10, 25, 1, tzinfo=UTC)
    buckets = hour_buckets([(second, {Flow.PV: 1.0}), (first, {Flow.PV: 1.0})], AMSTERDAM)
    assert [(b[0], b[1]) for b in buckets] == [
        (first, second),
        (second, datetime(2026, 10, 25, 2, tzinfo=UTC)),
    ]
    # Alone, the 02:00 CEST record covers both 02:00 hours.
    assert hour_buckets([(first, {Flow.PV: 1.0})], AMSTERDAM)[0][1] == datetime(
        2026, 10, 25, 2, tzinfo=UTC
    )


# -- the plan ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "refresh", "deep", "share"),
    [
        (1, 3 * 3600.0, 7, 20),
        (10, 3 * 3600.0, 7, 20),
        (100, 3 * 3600.0, 7, 20),
        (250, 86_400.0, 4, 22),
        # Not even a daily refresh fits: each ended day once, settled; the rest goes deep.
        (1000, math.inf, 19, 29),
    ],
)
def test_history_plan_figures(count: int, refresh: float, deep: int, share: int) -> None:
    """ceil(n / 100) + 24 calls a day less 5 spare; the refresh the share pays for."""
    clock = FakeClock(0.0)
    client = HuaweiClient(
        aiohttp.ClientSession.__new__(aiohttp.ClientSession),
        "https://x",
        "u",
        "p",
        quota=Quota(clock=clock),
        clock=clock,
    )
    plants = [Plant(id=f"NE={i}", name=str(i)) for i in range(count)]
    plan = client.history_plan(plants)
    assert plan.refresh == refresh
    assert plan.deep_reads_per_day == deep
    assert plan.batch == 100
    assert plan.keeps_days == 365
    assert plan.settle == 3 * 3600.0
    allowance = client.quota.allowance(E_HISTORY)
    assert allowance is not None
    assert (allowance.calls, allowance.period) == (share, 86_400.0)
    minute = client.quota.allowance(E_KPI_HOUR)
    assert minute is not None
    assert (minute.calls, minute.period) == (1, 60.0)
    groups = -(-count // 100)
    # The recurring reads and the deep ones fit the share, below the vendor's daily figure.
    if math.isinf(refresh):
        assert groups + deep == share
    else:
        assert groups * (86_400 / refresh + 5) + deep == share
    assert share <= groups + 24 - 5


def test_oauth_history_fits_the_reserve() -> None:
    """OAuth: the history share (16 a day) comes out of the reserve the live rounds leave."""
    clock = FakeClock(0.0)

    async def token() -> str:
        return "t"

    client = HuaweiClient.bearer(
        aiohttp.ClientSession.__new__(aiohttp.ClientSession),
        "https://x",
        token,
        account="o",
        quota=Quota(clock=clock),
        clock=clock,
    )
    plants = [Plant(id="NE=1", name="p")]
    devices = [
        Device(id=str(n), plant_id="NE=1", name="d", kind=kind, type_code=code)
        for n, (kind, code) in enumerate(
            [
                (DeviceKind.INVERTER, "38"),
                (DeviceKind.BATTERY, "39"),
                (DeviceKind.POWER_SENSOR, "47"),
            ]
        )
    ]
    live = client.plan(plants, devices)
    history = client.history_plan(plants)
    allowance = client.quota.allowance(E_HISTORY)
    assert allowance is not None
    assert allowance.calls == OAUTH_HISTORY_CALLS
    live_calls = 86_400 / live.realtime * 4 + 86_400 / live.alarms
    assert live_calls + OAUTH_RESERVE <= OAUTH_DAILY_CALLS
    assert 86_400 / history.refresh + 5 + history.deep_reads_per_day == OAUTH_HISTORY_CALLS
    assert OAUTH_HISTORY_CALLS <= OAUTH_RESERVE - 100


# -- the simulator's own checks ----------------------------------------------------------------


async def _raw(
    session: aiohttp.ClientSession, url: str, body: Any, token: str | None = None
) -> tuple[int, Any, str]:
    if token is None:
        async with session.post(
            f"{url}/thirdData/login", json={"userName": USERNAME, "systemCode": SYSTEM_CODE}
        ) as response:
            token = response.headers["XSRF-TOKEN"]
    async with session.post(
        f"{url}/thirdData/{KPI_HOUR}", json=body, headers={"XSRF-TOKEN": token}
    ) as response:
        return response.status, await response.json(content_type=None), token


async def test_simulator_validates_like_the_vendor(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """Parameter errors with the documented failCodes, the id limit, the retention limit."""
    codes = sim.plant_codes(USERNAME)
    noon = int(at(AMSTERDAM, 2026, 6, 10, 12) * 1000)
    cases: list[tuple[dict[str, Any], int]] = [
        ({"collectTime": noon}, 20010),
        ({"stationCodes": "", "collectTime": noon}, 20010),
        ({"stationCodes": codes[0]}, 20012),
        ({"stationCodes": ",".join(f"NE={i}" for i in range(101)), "collectTime": noon}, 20014),
        ({"stationCodes": "NE=1", "collectTime": noon}, 20007),
        # Seconds instead of milliseconds: January 1970, beyond the 365 days.
        ({"stationCodes": codes[0], "collectTime": noon // 1000}, 20026),
    ]
    token = None
    for body, fail_code in cases:
        status, reply, token = await _raw(session, base_url, body, token)
        assert (status, reply["success"], reply["failCode"]) == (200, False, fail_code), body
        clock.now += 61
    status, reply, token = await _raw(
        session, base_url, {"stationCodes": codes[0], "collectTime": "noon"}, token
    )
    assert status == 400
    assert reply["exceptionId"] == "framwork.remote.Paramerror"
    clock.now += 61
    status, reply, token = await _raw(
        session, base_url, {"stationCodes": codes[0], "collectTime": noon}, token
    )
    assert reply["success"] is True
    assert reply["params"]["collectTime"] == noon
    rows = reply["data"]
    assert len(rows) == 24
    assert rows[0]["collectTime"] == int(at(AMSTERDAM, 2026, 6, 10) * 1000)
    assert set(rows[12]["dataItemMap"]) >= {"inverter_power", "ongrid_power", "PVYield"}
    # Any time of the day selects the same day; a day not begun yet has no records.
    clock.now += 61
    _, late, token = await _raw(
        session, base_url, {"stationCodes": codes[0], "collectTime": noon + 11 * 3_600_000}, token
    )
    assert late["data"] == rows
    clock.now += 61
    _, future, token = await _raw(
        session, base_url, {"stationCodes": codes[0], "collectTime": noon + 2 * 86_400_000}, token
    )
    assert (future["success"], future["data"]) == (True, [])


async def test_simulator_enforces_the_rate_limits(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """One call a minute, and ceil(plants / 100) + 24 a day: 407 beyond either."""
    code = sim.plant_codes(USERNAME)[0]
    body = {"stationCodes": code, "collectTime": int(clock.now * 1000)}
    _, reply, token = await _raw(session, base_url, body)
    assert reply["success"] is True
    _, reply, token = await _raw(session, base_url, body, token)
    assert (reply["failCode"], reply["data"]) == (407, "ACCESS_FREQUENCY_IS_TOO_HIGH")
    for _ in range(24):
        clock.now += 61
        _, reply, token = await _raw(session, base_url, body, token)
        assert reply["success"] is True
    clock.now += 61
    _, reply, token = await _raw(session, base_url, body, token)
    assert reply["failCode"] == 407
    assert sim.calls[KPI_HOUR] == 25
    assert sim.refusals[KPI_HOUR] == 2
