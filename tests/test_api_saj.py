"""The SAJ OpenAPI client on its own, against the simulator."""

from __future__ import annotations

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
from custom_components.solar_cloud.api.saj import (
    account_id_for,
    map_inverter,
    map_plant_data,
    parse_offset,
    parse_time,
)
from tests.common import FakeClock
from tests.simulators.saj import SajSimulator
from tests.vendor_saj import make_client

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC).


@pytest.fixture
def sim(clock: FakeClock) -> SajSimulator:
    """A simulated SAJ OpenAPI with two plants."""
    return SajSimulator(plants=2, clock=clock, hourly_cap=1000)


async def test_inventory_realtime_and_alarms(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """Plants, inverters, plant and inverter values in the metric vocabulary, open alarms."""
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    assert sorted(p.id for p in plants) == sorted(str(p) for p in sim.plant_ids())
    devices = await client.async_get_devices(plants)
    first = plants[0]
    inverters = [d for d in devices if d.plant_id == first.id]
    assert [d.id for d in inverters] == [str(i) for i in sim.device_ids(int(first.id))]
    data = await client.async_get_realtime(plants, devices)
    plant = data[first.id]
    assert plant.online is True
    assert plant.plant["plant_status"] == "running"
    assert plant.plant["pv_power"] > 0
    assert plant.data_time is not None
    assert plant.data_time.utcoffset() is not None
    raw = sim.raw_record(int(inverters[0].id))
    values = plant.devices[inverters[0].id].values
    assert values["pv_power"] == pytest.approx(float(raw["power"]))
    assert values["energy_total"] == pytest.approx(float(raw["total_energy"]))
    assert values["pv1_voltage"] == pytest.approx(float(raw["vpv1"]))
    assert values["phase_a_current"] == pytest.approx(float(raw["iac1"]))
    sim.raise_alarm(sim.device_sns(int(first.id))[0], "bit3", fault=True)
    alarms = await client.async_get_alarms(plants)
    assert len(alarms[first.id]) == 1
    assert alarms[first.id][0].category == "bit3"
    assert alarms[plants[1].id] == []
    assert client.logins == 1
    assert client.diagnostics()["session_valid"] is True


async def test_token_renewed_once(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """An expired or superseded token is renewed once; a second refusal is an AuthError."""
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    sim.expire_tokens()
    assert await client.async_get_plants() == plants
    assert client.logins == 2
    sim.inject("fail_code:10012", path="/plant/list", count=2)
    with pytest.raises(AuthError):
        await client.async_get_plants()
    assert client.logins == 3


async def test_wrong_secret(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """A wrong app key is an AuthError and is not sent again at once."""
    client = make_client(session, base_url, sim, clock, app_secret="wrong")
    with pytest.raises(AuthError) as err:
        await client.async_login()
    assert err.value.code == "10007"
    with pytest.raises(AuthError):
        await client.async_login()
    assert sim.calls["/accessToken"] == 1


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("fail_code:10003", RateLimitedError, "10003"),
        ("fail_code:10004", RateLimitedError, "10004"),
        ("fail_code:10014", PermissionDeniedError, "10014"),
        ("fail_code:10006", ProtocolError, "10006"),
        ("fail_code:10001", TransientError, "10001"),
        ("fail_code:10099", AuthError, "10099"),
        ("http_500", TransientError, "http_500"),
        ("html", ProtocolError, "200"),
        ("malformed_json", ProtocolError, "200"),
    ],
)
async def test_error_classes(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SajSimulator,
    clock: FakeClock,
    kind: str,
    error: type[Exception],
    code: str,
) -> None:
    """Each answer maps onto one error class with the vendor's code kept."""
    client = make_client(session, base_url, sim, clock)
    await client.async_get_plants()
    sim.inject(kind, path="/plant/list")
    with pytest.raises(error) as raised:
        await client.async_get_plants()
    assert raised.value.code == code


async def test_hourly_allowance_waits(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """10003: nothing is sent until the next hour."""
    client = make_client(session, base_url, sim, clock)
    await client.async_get_plants()
    sim.inject("fail_code:10003", path="/plant/list")
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_plants()
    sent = sum(sim.calls.values())
    with pytest.raises(RateLimitedError):
        await client.async_get_plants()
    assert sum(sim.calls.values()) == sent
    clock.now += err.value.retry_after
    assert await client.async_get_plants()


async def test_offline_plant_and_account_round(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """A plant that stopped reporting is offline; the account polls both plants in one round."""
    client = make_client(session, base_url, sim, clock)
    account = CloudAccount(client, memory=AccountMemory(quota=client.quota), clock=clock)
    await account.async_setup()
    plant_id = sorted(account.plants)[0]
    sim.set_offline(int(plant_id))
    clock.now += 1200
    data = await account.async_get_plant_data(plant_id)
    assert data is not None
    assert data.online is False
    assert data.readings["plant_status"] == "communication_error"
    # The inverter's newest row is from before it stopped: offline, no current power.
    (readings,) = data.device_readings.values()
    assert readings.online is False
    assert readings.values["pv_power"] is None
    assert readings.values["energy_total"] is not None
    assert account.plan is not None
    assert account.plan.realtime == 300


def test_helpers() -> None:
    """Offsets, times, unit conversions and the account id."""
    from datetime import timedelta

    assert parse_offset("+08:00").utcoffset(None) == timedelta(hours=8)  # type: ignore[union-attr]
    assert parse_offset("-03:30").utcoffset(None) == -timedelta(hours=3, minutes=30)  # type: ignore[union-attr]
    assert parse_offset("Europe/Paris") is None
    assert parse_offset("+x") is None
    assert parse_offset("+0530").utcoffset(None) == timedelta(hours=5, minutes=30)  # type: ignore[union-attr]
    assert parse_offset("UTC-0330").utcoffset(None) == -timedelta(hours=3, minutes=30)  # type: ignore[union-attr]
    assert parse_offset("gmt8").utcoffset(None) == timedelta(hours=8)  # type: ignore[union-attr]
    assert parse_offset("+1500") is None
    assert parse_offset("+15:00") is None
    assert parse_offset("+05:75") is None
    assert parse_offset("") is None
    assert parse_time("nonsense") is None
    assert parse_time(None) is None
    moment = parse_time("2026-06-21 12:00:00", parse_offset("+02:00"))
    assert moment is not None
    assert moment.isoformat() == "2026-06-21T12:00:00+02:00"
    plant = map_plant_data({"current_power": "2.5", "carbon_offset": "1.2", "total_energy": "N/A"})
    assert plant["pv_power"] == 2500
    assert plant["co2_avoided_total"] == 1200
    assert plant["energy_total"] is None
    assert map_inverter({"power": "1200", "vpv2": "300", "iac3": "2.1"})["pv2_voltage"] == 300
    assert account_id_for("https://API.saj-solar.com/", " App1 ") == "saj:api.saj-solar.com:app1"


async def test_details_and_history(
    session: aiohttp.ClientSession, base_url: str, sim: SajSimulator, clock: FakeClock
) -> None:
    """Plant details fill address, capacity and zone; the day curve and energy history read."""
    from datetime import date

    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    plant = plants[0]
    assert plant.time_zone == "+02:00"
    assert plant.address
    assert plant.capacity_kw
    curve = await client.async_get_power_curve(plant.id, date(2026, 6, 20))
    assert len(curve) >= 200
    assert max(power for _, power in curve) > 0
    assert all(moment.tzinfo is not None for moment, _ in curve)
    # The plant's own day: its local midnight to midnight, from the two UTC days it spans.
    assert {moment.date() for moment, _ in curve} == {date(2026, 6, 20)}
    assert curve[0][0].hour == 0
    days = await client.async_get_energy_history(
        plant.id, date(2026, 6, 1), date(2026, 6, 20), "day"
    )
    assert len(days) == 20
    assert all(energy >= 0 for _, energy in days)
    with pytest.raises(ValueError, match="time_unit"):
        await client.async_get_energy_history(plant.id, date(2026, 6, 1), date(2026, 6, 2), "hour")
