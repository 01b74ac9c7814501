"""The iSolarCloud client on its own, against the simulator, plain and encrypted."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from custom_components.solar_cloud.api.account import AccountMemory, CloudAccount
from custom_components.solar_cloud.api.errors import (
    AuthError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from custom_components.solar_cloud.api.models import DeviceKind
from custom_components.solar_cloud.api.sungrow import (
    account_id_for,
    map_meter,
    map_storage,
    parse_device_time,
    parse_zone,
)
from tests.common import FakeClock
from tests.simulators.sungrow import SungrowSimulator
from tests.vendor_sungrow import USER, make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC); noon at the plants.


@pytest.fixture
def sim(clock: FakeClock) -> SungrowSimulator:
    """A simulated gateway with two plants."""
    return make_simulator(clock, plants=2)


@pytest.mark.parametrize("encrypted", [False, True])
async def test_inventory_realtime_and_alarms(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    encrypted: bool,
) -> None:
    """Plants, devices, real-time values in the metric vocabulary, and open faults."""
    sim.require_encryption = encrypted
    client = make_client(session, base_url, sim, clock, encrypted=encrypted)
    plants = await client.async_get_plants()
    assert sorted(p.id for p in plants) == sorted(str(p) for p in sim.plant_ids())
    devices = await client.async_get_devices(plants)
    kinds = sorted(d.kind for d in devices if d.plant_id == plants[0].id)
    assert kinds == sorted(
        [
            DeviceKind.INVERTER,
            DeviceKind.ENERGY_STORAGE,
            DeviceKind.BATTERY,
            DeviceKind.GRID_METER,
        ]
    )
    # The firmware is asked for: the inverter's ARM version is the software version.
    inverter = next(d for d in devices if d.kind is DeviceKind.ENERGY_STORAGE)
    assert inverter.sw_version == f"LCD_{inverter.model}_V11_V01_A"
    client.plan(plants, devices)
    data = await client.async_get_realtime(plants, devices)
    first = data[plants[0].id]
    assert first.data_time is not None
    assert first.plant["pv_power"] is not None
    assert 0 <= first.plant["battery_soc"] <= 100
    storage = next(
        d for d in devices if d.plant_id == plants[0].id and d.kind is DeviceKind.ENERGY_STORAGE
    )
    values = first.devices[storage.id].values
    raw = sim.raw_points(storage.id)
    assert values["battery_soc"] == pytest.approx(float(raw["13141"]) * 100)
    assert values["grid_import_power"] == pytest.approx(float(raw["13149"]))
    assert values["battery_power"] == pytest.approx(float(raw["13150"]) - float(raw["13126"]))
    assert values["energy_total"] == pytest.approx(float(raw["13134"]) / 1000)
    assert first.devices[storage.id].online is True
    sim.raise_fault(int(plants[0].id), fault_name="Battery overtemperature", fault_level=1)
    alarms = await client.async_get_alarms(plants)
    assert [a.name for a in alarms[plants[0].id]] == ["Battery overtemperature"]
    assert client.logins == 1
    assert client.diagnostics()["encrypted"] is encrypted


async def test_plain_call_to_an_encrypting_app(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """E902: the app requires encryption; the error says so and is not retried."""
    sim.require_encryption = True
    client = make_client(session, base_url, sim, clock)
    with pytest.raises(AuthError) as err:
        await client.async_login()
    assert err.value.code == "E902"


@pytest.mark.parametrize(
    ("password", "code"),
    [("wrong", "login_state_0")],
)
async def test_login_refused(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    password: str,
    code: str,
) -> None:
    """A wrong password is an AuthError and is not sent again at once."""
    client = make_client(session, base_url, sim, clock, password=password)
    with pytest.raises(AuthError) as err:
        await client.async_login()
    assert err.value.code == code
    with pytest.raises(AuthError):
        await client.async_login()
    assert sim.failed_logins(USER) == 1


async def test_expired_token_logs_in_once(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """E900 for an expired token: one new login, one retry."""
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    sim.expire_tokens()
    assert await client.async_get_plants() == plants
    assert client.logins == 2


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("fail_code:E999", RateLimitedError, "E999"),
        ("fail_code:E998", RateLimitedError, "E998"),
        ("fail_code:E901", RateLimitedError, "E901"),
        ("fail_code:E916", RateLimitedError, "E916"),
        ("fail_code:E918", PermissionDeniedError, "E918"),
        ("fail_code:E00000", AuthError, "E00000"),
        ("fail_code:-1", TransientError, "-1"),
        ("fail_code:010", ProtocolError, "010"),
        ("http_500", TransientError, "http_500"),
        ("html", ProtocolError, "200"),
        ("malformed_json", ProtocolError, "200"),
    ],
)
async def test_error_classes(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    kind: str,
    error: type[Exception],
    code: str,
) -> None:
    """Every answer maps onto one error class with the vendor's code kept."""
    client = make_client(session, base_url, sim, clock)
    await client.async_get_plants()
    sim.inject(kind, path="getPowerStationList")
    with pytest.raises(error) as raised:
        await client.async_get_plants()
    assert raised.value.code == code


async def test_hourly_cap_waits_for_the_next_hour(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The caps read from getOpenApiCallInfo are kept; E999 closes calls until the hour."""
    client = make_client(session, base_url, sim, clock)
    await client.async_get_plants()
    assert client.hourly_cap == 2000
    sim.inject("fail_code:E999", path="getPowerStationList")
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_plants()
    calls = sum(sim.calls.values())
    with pytest.raises(RateLimitedError):
        await client.async_get_plants()
    assert sum(sim.calls.values()) == calls
    clock.now += err.value.retry_after + 1
    assert await client.async_get_plants()


async def test_clock_skew_is_corrected_once(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """E913: the client reads the gateway's time and retries with it."""
    sim.require_encryption = True
    client = make_client(session, base_url, sim, clock, encrypted=True)
    await client.async_get_plants()
    sim.inject("fail_code:E913", path="getPowerStationList")
    assert await client.async_get_plants()


async def test_calls_are_paced(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Twenty plants' device lists go out at most five a second: the gateway sees no burst."""
    from unittest.mock import patch

    sim.burst_limit = 10
    for _ in range(19):
        sim.add_plant(username=USER)
    with patch("custom_components.solar_cloud.api.sungrow.CALLS_PER_SECOND", 5):
        client = make_client(session, base_url, sim, clock)
        start = clock.now
        plants = await client.async_get_plants()
        await client.async_get_devices(plants)
    assert len(plants) == 21
    assert sum(sim.refusals.values()) == 0
    # 24 calls at five a second take more than four seconds of the clock.
    assert clock.now - start >= 4


async def test_account_round_with_the_simulator(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The account layer batches both plants into one round of a handful of calls."""
    client = make_client(session, base_url, sim, clock)
    account = CloudAccount(client, memory=AccountMemory(quota=client.quota), clock=clock)
    await account.async_setup()
    before = sum(sim.calls.values())
    data = await asyncio.gather(*(account.async_get_plant_data(p) for p in account.plants))
    assert all(d is not None and d.readings.get("pv_power") is not None for d in data)
    # Plants, PV inverters, storage inverters, batteries, meters, and the alarm list.
    assert sum(sim.calls.values()) - before == 6
    plan = account.plan
    assert plan is not None
    assert plan.realtime == 300


def test_helpers() -> None:
    """Time zones, device times, the meter sign, unsigned pairs and the account id."""
    from datetime import timedelta

    assert parse_zone("GMT+8").utcoffset(None) == timedelta(hours=8)  # type: ignore[union-attr]
    assert parse_zone("UTC-03:30").utcoffset(None) == -timedelta(hours=3, minutes=30)  # type: ignore[union-attr]
    assert parse_zone("") is None
    assert parse_zone("Europe/Paris") is None
    moment = parse_device_time("20260621120500", parse_zone("+01:00"))
    assert moment is not None
    assert moment.isoformat() == "2026-06-21T12:05:00+01:00"
    assert parse_device_time("2026", None) is None
    meter = map_meter({"p8018": "-1500", "p8030": "12000", "p8031": "3000"})
    assert meter["grid_export_power"] == 1500
    assert meter["grid_import_power"] == 0
    assert meter["grid_import_energy_total"] == 12.0
    storage = map_storage({"p13126": "500", "p13150": "0", "p13141": "0.55", "p13146": "2048"})
    assert storage["battery_power"] == -500
    assert storage["battery_soc"] == 55.0
    assert storage["inverter_status"] == "forced"
    assert storage["grid_power"] is None
    assert account_id_for("https://gateway.isolarcloud.eu/", "Me") == (
        "sungrow_isolarcloud:gateway.isolarcloud.eu:me"
    )


async def test_paging_zones_and_second_refusal(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """More than a page of plants; plant-time values in a fresh client; E900 twice ends it."""
    for _ in range(118):
        sim.add_plant(username=USER)
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    assert len({p.id for p in plants}) == 120
    assert all(p.capacity_kw and p.grid_connection_date for p in plants)
    # A client that never listed the plants (after a restart) still reads plant time.
    other = make_client(session, base_url, sim, clock)
    devices = await other.async_get_devices(plants[:1])
    data = await other.async_get_realtime(plants[:1], devices)
    moment = data[plants[0].id].data_time
    assert moment is not None
    assert moment.utcoffset() == parse_zone(plants[0].time_zone).utcoffset(None)  # type: ignore[union-attr]
    assert abs(moment.timestamp() - clock.now) <= 300
    logins = other.logins
    sim.inject("fail_code:E900", path="getPowerStationList", count=2)
    with pytest.raises(AuthError):
        await other.async_get_plants()
    assert other.logins == logins + 1


async def test_period_cap_and_clock_sync(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """E998 waits for the next hour; E913 reads the gateway's clock before retrying."""
    client = make_client(session, base_url, sim, clock)
    await client.async_get_plants()
    sim.inject("fail_code:E998", path="getPowerStationList")
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_plants()
    assert 60 < err.value.retry_after <= 3660
    clock.now += err.value.retry_after
    seen = len(sim.requests)
    sim.inject("fail_code:E913", path="getPowerStationList")
    assert await client.async_get_plants()
    assert any("timestamp" in name for _, name in sim.requests[seen:])
