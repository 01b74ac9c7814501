"""The ShineMonitor client on its own, against the simulator."""

from __future__ import annotations

import logging
import re
from unittest.mock import patch

import aiohttp
import pytest

from custom_components.solar_cloud.api.account import AccountMemory, CloudAccount
from custom_components.solar_cloud.api.crypto import (
    sha1_hex,
    shinemonitor_auth_sign,
    shinemonitor_query_tail,
    shinemonitor_salt,
    shinemonitor_sign,
)
from custom_components.solar_cloud.api.errors import (
    AuthError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from custom_components.solar_cloud.api.models import AlarmSeverity, Device, DeviceKind, Plant
from custom_components.solar_cloud.api.quota import Allowance, Quota, Session
from custom_components.solar_cloud.api.shinemonitor import (
    ShineMonitorClient,
    account_id_for,
    convert,
    device_kind,
    map_inverter_rows,
    map_storage_groups,
    redact_url,
)
from tests.common import NOON, FakeClock
from tests.simulators.shinemonitor import ShineMonitorSimulator
from tests.vendor_shinemonitor import KEY, PASSWORD, USER, make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC).
DOC_SECRET = "ffa1655ee3726840822063a02ac5017795809b18"
DOC_TOKEN = "88d22d819e31897eea2d9d5b9f7792cf4065ac5372aad3672f5e4e147cd25b5f"


def test_signing_known_answers() -> None:
    """SHA-1 in lowercase hex; the auth and business signs over the query tail as sent."""
    assert sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert sha1_hex("vplant") == "bd19f193c5f9afed25a79761ea2a13a10d6e2c74"
    tail = shinemonitor_query_tail("auth", [("usr", "vplant"), ("company-key", KEY)])
    assert tail == "&action=auth&usr=vplant&company-key=0123456789ABCDEF"
    # SHA-1("12345678" + SHA-1("vplant") + tail)
    assert (
        shinemonitor_auth_sign("12345678", "vplant", tail)
        == "3fc3c6a2da2f58ea7a7e4adee7a584eaf7e0fcfb"
    )
    tail = shinemonitor_query_tail("queryPlants", [("page", "0"), ("pagesize", "50")])
    assert (
        shinemonitor_sign("12345678", DOC_SECRET, DOC_TOKEN, tail)
        == "761192b27732e38f3de66db1961aedb1cabe4b5b"
    )
    # Commas stay as they are, everything else that needs it is percent-encoded.
    assert (
        shinemonitor_query_tail("x", [("par", "A,B"), ("device", "p,1,2,s;q"), ("q", "a b&c")])
        == "&action=x&par=A,B&device=p,1,2,s%3Bq&q=a%20b%26c"
    )
    salt = shinemonitor_salt(NOON)
    assert len(salt) >= 8
    assert salt.isdigit()
    assert shinemonitor_salt(0.0, 5) == "00000005"


def test_helpers() -> None:
    """Units, titles, kinds, the account id and URL redaction."""
    assert account_id_for("http://API.shinemonitor.com/", " Owner ") == (
        "shinemonitor:api.shinemonitor.com:owner"
    )
    assert convert("pv_power", "1.5", "kW") == 1500.0
    assert convert("energy_total", "2452", "Wh") == 2.452
    assert convert("energy_total", "N/A", "kWh") is None
    assert convert("pv1_voltage", "301.2", "V") == 301.2
    assert device_kind(632) is DeviceKind.INVERTER
    assert device_kind(2376) is DeviceKind.ENERGY_STORAGE
    assert device_kind(None) is DeviceKind.OTHER
    assert device_kind(1024) is DeviceKind.OTHER
    url = "http://h/public/?sign=abc&salt=123456789&token=def&action=x&company-key=K"
    assert redact_url(url) == (
        "http://h/public/?sign=***&salt=123456789&token=***&action=x&company-key=***"
    )
    values, stamp = map_inverter_rows(
        [
            {"title": "Id", "val": "1"},
            {"title": "Timestamp", "val": "2026-06-21 12:00:00"},
            {"title": "PV1 Input Voltage", "unit": "V", "val": "300"},
            {"title": "Output Power", "unit": "kW", "val": "2.5"},
            {"title": "Operating State", "val": "Standby"},
            {"title": "Something New", "unit": "V", "val": "1"},
            "junk",
        ]
    )
    assert stamp == "2026-06-21 12:00:00"
    assert values == {"pv1_voltage": 300.0, "pv_power": 2500.0, "inverter_status": "standby"}
    storage = map_storage_groups(
        {
            "bt_": [
                {"par": "Battery Voltage", "unit": "V", "val": "50"},
                {"par": "Battery Charging Current", "unit": "A", "val": "10"},
                {"par": "Battery Discharge Current", "unit": "A", "val": "0"},
                {"par": "Battery Capacity", "unit": "%", "val": "80"},
            ],
            "sy_": [{"par": "Operating Mode", "val": "Fault Mode"}],
            "zz_": "not a list",
        }
    )
    # Charging: the signed power is negative, the charge power positive.
    assert storage["battery_power"] == -500.0
    assert storage["battery_charge_power"] == 500.0
    assert storage["battery_discharge_power"] == 0.0
    assert storage["battery_soc"] == 80.0
    assert storage["inverter_status"] == "fault"


@pytest.fixture
def sim(clock: FakeClock) -> ShineMonitorSimulator:
    """A simulated account with two plants."""
    return make_simulator(clock, plants=2)


async def test_inventory_realtime_and_alarms(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Plants, both device kinds, values in the metric vocabulary, warnings."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    assert sorted(p.id for p in plants) == [str(p) for p in sim.plant_ids(USER)]
    assert all(p.time_zone and re.fullmatch(r"[+-]\d\d:\d\d", p.time_zone) for p in plants)
    assert all(p.capacity_kw for p in plants)
    devices = await client.async_get_devices(plants)
    plant_id = int(plants[0].id)
    tuples = sim.devices(plant_id)
    mine = [d for d in devices if d.plant_id == plants[0].id]
    assert {d.id for d in mine} == {t["sn"] for t in tuples}
    assert {d.kind for d in mine} == {DeviceKind.INVERTER, DeviceKind.ENERGY_STORAGE}

    realtime = await client.async_get_realtime(plants, devices)
    plant = realtime[plants[0].id]
    assert plant.online is True
    assert plant.data_time is not None
    pv = next(d for d in mine if d.kind is DeviceKind.INVERTER)
    storage = next(d for d in mine if d.kind is DeviceKind.ENERGY_STORAGE)
    pv_raw = sim.device_values(pv.id)
    pv_values = plant.devices[pv.id].values
    # The reply gives kW; the vocabulary wants W.
    assert pv_values["pv_power"] == pytest.approx(float(pv_raw["Output Power"]) * 1000)
    assert pv_values["pv1_voltage"] == pytest.approx(float(pv_raw["PV1 Input Voltage"]))
    assert pv_values["energy_today"] == pytest.approx(float(pv_raw["Energy Today"]))
    assert pv_values["inverter_status"] == "running"
    assert pv_values["fault_status"] == "normal"
    st_raw = sim.device_values(storage.id)
    st_values = plant.devices[storage.id].values
    assert st_values["battery_soc"] == pytest.approx(float(st_raw["Battery Capacity"]))
    assert st_values["load_power"] == pytest.approx(float(st_raw["Output Active Power"]))
    assert plant.plant["battery_soc"] is not None
    assert plant.plant["pv_power"] is not None
    assert plant.plant["energy_total"] is not None
    assert plant.plant["load_power"] == st_values["load_power"]

    assert await client.async_get_alarms(plants) == {p.id: [] for p in plants}
    warning = sim.raise_warning(plant_id, pv.id, level=2, code="07", desc="Fan fault")
    alarms = await client.async_get_alarms(plants)
    (alarm,) = alarms[plants[0].id]
    assert alarm.id == warning
    assert alarm.name == "Fan fault"
    assert alarm.severity is AlarmSeverity.CRITICAL
    assert alarm.device_id == pv.id
    assert alarm.raised_at is not None
    sim.handle_warning(warning)
    assert (await client.async_get_alarms(plants))[plants[0].id] == []
    diagnostics = client.diagnostics()
    assert diagnostics["session_valid"] is True
    assert diagnostics["logins"] == 1


async def test_offline_devices_are_a_state(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """262 / 263 make a device offline and 12 means no data yet; neither fails the round."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    first = plants[0]
    pv, storage = (
        next(d for d in devices if d.plant_id == first.id and d.kind is kind)
        for kind in (DeviceKind.INVERTER, DeviceKind.ENERGY_STORAGE)
    )
    sim.set_device_offline(pv.id)
    sim.set_never_reported(storage.id)
    realtime = await client.async_get_realtime(plants, devices)
    readings = realtime[first.id].devices
    assert readings[pv.id].online is False
    assert readings[pv.id].values["inverter_status"] == "offline"
    assert "pv_power" not in readings[pv.id].values
    assert readings[storage.id].online is False
    sim.set_device_offline(pv.id, False)
    sim.set_never_reported(storage.id, False)
    pn = sim.devices(int(first.id))[0]["pn"]
    sim.set_collector_offline(pn)
    realtime = await client.async_get_realtime(plants, devices)
    assert realtime[first.id].online is False
    assert all(r.online is False for r in realtime[first.id].devices.values())
    # The other plant is not affected.
    assert realtime[plants[1].id].online is True
    sim.set_collector_offline(pn, False)
    sim.set_device_status(pv.id, 4)
    realtime = await client.async_get_realtime(plants, devices)
    assert realtime[first.id].devices[pv.id].values["fault_status"] == "alarm"


async def test_token_renewal(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """An expired (270) or unknown (10) token is renewed once; a token near its end first."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    assert sim.logins == 1
    sim.expire_tokens()
    await client.async_get_plants()
    assert sim.logins == 2
    sim.revoke_tokens()
    await client.async_get_plants()
    assert sim.logins == 3
    assert set(client.errors) == {"270", "10"}
    # Close to the returned lifetime, the client renews before the cloud would refuse.
    clock.now += 432000 - 60
    await client.async_get_devices(plants)
    assert sim.logins == 4
    assert set(client.errors) == {"270", "10"}


async def test_renewal_refused_again(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """A fresh token refused as well fails the call, without a loop and without reauth."""
    client = make_client(session, base_url, clock)
    await client.async_login()
    sim.inject("fail_code:270", path="queryPlants", count=2)
    with pytest.raises(TransientError):
        await client.async_get_plants()
    assert sim.logins == 2


async def test_refused_sign_renews_once(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """A refused sign means the token and secret no longer match: one new login mends it."""
    client = make_client(session, base_url, clock)
    await client.async_login()
    sim.inject("fail_code:4", path="queryPlants")
    assert await client.async_get_plants()
    assert sim.logins == 2
    sim.inject("fail_code:4", path="queryPlants", count=2)
    with pytest.raises(ProtocolError):
        await client.async_get_plants()
    assert sim.logins == 3


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"company_key": "FFFFFFFFFFFFFFFF"}, "15"),
        ({"password": "wrong"}, "16"),
    ],
)
async def test_bad_credentials(
    session: aiohttp.ClientSession,
    base_url: str,
    clock: FakeClock,
    change: dict[str, str],
    code: str,
) -> None:
    """Wrong company key or password: AuthError with the vendor's code, not retried at once."""
    client = make_client(session, base_url, clock, **change)
    with pytest.raises(AuthError) as err:
        await client.async_login()
    assert err.value.code == code
    with pytest.raises(AuthError, match="a moment ago"):
        await client.async_login()


async def test_disabled_user_and_documented_account(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """The documented test account works; a disabled user is refused with 25."""
    vplant = make_client(session, base_url, clock, username="vplant", password="vplant")
    assert [p.id for p in await vplant.async_get_plants()] == [
        str(p) for p in sim.plant_ids("vplant")
    ]
    sim.disable_user(USER)
    with pytest.raises(AuthError) as err:
        await make_client(session, base_url, clock).async_login()
    assert err.value.code == "25"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("fail_code:13", RateLimitedError),
        ("fail_code:6", ProtocolError),
        ("fail_code:5", ProtocolError),
        ("fail_code:11", PermissionDeniedError),
        ("fail_code:1", TransientError),
        ("http_500", TransientError),
        ("html", ProtocolError),
        ("malformed_json", ProtocolError),
    ],
)
async def test_faults(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: ShineMonitorSimulator,
    clock: FakeClock,
    fault: str,
    error: type[Exception],
) -> None:
    """Each vendor code and broken reply maps onto one error class."""
    client = make_client(session, base_url, clock)
    await client.async_login()
    sim.inject(fault, path="queryPlants")
    with pytest.raises(error):
        await client.async_get_plants()
    if error is RateLimitedError:
        # The client holds its own calls for a minute instead of hammering.
        assert client.quota.wait_time("calls") > 50
    else:
        assert [p.id for p in await client.async_get_plants()]


async def test_timeout_and_bad_shapes(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """A timeout is transient; null, "--" and missing values become None, never a crash."""
    client = make_client(session, base_url, clock, timeout=0.2)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    sim.timeout_delay = 1.0
    sim.inject("timeout", path="queryDeviceStatus")
    with pytest.raises(TransientError):
        await client.async_get_realtime(plants, devices)
    for kind in ("null_values", "na_values", "missing_fields"):
        sim.inject(kind, count=50)
        realtime = await client.async_get_realtime(plants, devices)
        sim.clear_faults()
        readings = realtime[plants[0].id].devices[devices[0].id]
        assert readings.online is True, kind
        if kind != "missing_fields":
            assert "pv_power" in readings.values
        assert readings.values.get("pv_power") is None
        assert readings.values.get("energy_today") is None


async def test_current_data_refused_falls_back_to_power(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """A plant whose current-data query is refused (6) still shows its power."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    sim.inject("fail_code:6", path="queryPlantCurrentData")
    realtime = await client.async_get_realtime(plants[:1], devices)
    assert realtime[plants[0].id].plant["pv_power"] is not None
    assert "energy_today" not in realtime[plants[0].id].plant
    assert client.diagnostics()["power_only_plants"] == [plants[0].id]
    calls = sim.calls["queryPlantCurrentData"]
    await client.async_get_realtime(plants[:1], devices)
    assert sim.calls["queryPlantCurrentData"] == calls
    sim.inject("fail_code:7", path="queryPlantCurrentData")
    with pytest.raises(ProtocolError):
        await client.async_get_realtime(plants[1:], devices)


async def test_restart_relearns_addresses(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """After a restart the remembered devices get their addresses and time zones back."""
    western = sim.add_plant(username=USER, tz_offset=-5 * 3600)
    quota = Quota(clock=clock, sleep=clock.sleep)
    memory = AccountMemory(quota=quota)
    account = CloudAccount(
        make_client(session, base_url, clock, quota=quota, session_state=memory.session),
        memory=memory,
    )
    await account.async_setup()
    saved = memory.export()
    assert saved["session"]["secret"]
    restored = AccountMemory(quota=Quota(clock=clock, sleep=clock.sleep), session=Session())
    restored.restore(saved)
    client = make_client(
        session, base_url, clock, quota=restored.quota, session_state=restored.session
    )
    plants = list(account.plants.values())
    realtime = await client.async_get_realtime(plants, list(account.devices.values()))
    assert all(r.devices for r in realtime.values())
    assert account.plants[str(western)].time_zone == "-05:00"
    for plant in realtime.values():
        # Local times read in the plant's own zone: the data is minutes old, not hours.
        assert plant.online is True
        assert plant.data_time is not None
        assert 0 <= clock.now - plant.data_time.timestamp() <= 600
        assert all(r.values.get("pv_power") is not None for r in plant.devices.values())
    # The restored session was good: no new login.
    assert sim.logins == 1


async def test_no_secret_in_logs(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: ShineMonitorSimulator,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Debug logs show the calls with the token, sign and company key blanked."""
    caplog.set_level(logging.DEBUG, logger="custom_components.solar_cloud")
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    await client.async_get_realtime(plants, await client.async_get_devices(plants))
    sim.inject("malformed_json", path="queryPlants")
    with pytest.raises(ProtocolError):
        await client.async_get_plants()
    # Only our own records: the simulator's access log prints what it received.
    logged = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("custom_components")
    )
    assert "queryPlants" in logged
    assert "token=***" in logged
    for token in sim.live_tokens():
        assert token not in logged
    assert not re.search(r"sign=[0-9a-f]{40}", logged)
    assert KEY not in logged
    assert PASSWORD not in logged


async def test_language(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Warnings come in the user's language; device fields are always read in English."""
    client = make_client(session, base_url, clock, language="de_DE")
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    realtime = await client.async_get_realtime(plants, devices)
    assert realtime[plants[0].id].devices[devices[0].id].values["pv_power"] is not None
    await client.async_get_alarms(plants)
    queries = {action: query for _time, action, query in sim.requests}
    assert "i18n=en_US" in queries["queryDeviceLastData"]
    assert "i18n=de_DE" in queries["queryPlantsWarning"]


async def test_minute_allowance_waits(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """A round larger than the minute's allowance waits for room; a pause after 13 fails fast."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    client.quota.set_allowance("calls", Allowance(3, 60.0))
    start = clock.now
    realtime = await client.async_get_realtime(plants, devices)
    assert all(r.devices for r in realtime.values())
    # 1 status call + 2 plants + 4 devices at 3 a minute: two waits of about a minute.
    assert clock.now - start >= 60
    assert not sim.refusals
    sim.inject("fail_code:13", path="queryPlantsWarning")
    with pytest.raises(RateLimitedError):
        await client.async_get_alarms(plants)
    moment = clock.now
    with pytest.raises(RateLimitedError, match="pausing"):
        await client.async_get_alarms(plants)
    assert clock.now == moment


async def test_stale_data_is_not_now(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Data older than three periods: devices offline, momentary readings and plant power
    unknown, counters kept."""
    later = FakeClock(clock.now + 3600)
    client = ShineMonitorClient(
        session, base_url, USER, PASSWORD, KEY, quota=Quota(clock=later), clock=later
    )
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    realtime = (await client.async_get_realtime(plants, devices))[plants[0].id]
    assert realtime.online is False
    assert realtime.plant["pv_power"] is None
    assert realtime.plant["energy_total"] is not None
    for readings in realtime.devices.values():
        assert readings.online is False
        values = readings.values
        assert values["energy_total"] is not None
        for key in ("pv_power", "phase_a_voltage", "battery_power", "battery_soc"):
            assert values.get(key) is None
    assert "battery_power" not in realtime.plant or realtime.plant["battery_power"] is None


async def test_removed_plant_does_not_fail_the_others(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """A plant removed in the cloud: its devices are skipped, the other plant carries on."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    sim.remove_plant(int(plants[1].id))
    realtime = await client.async_get_realtime(plants, devices)
    assert realtime[plants[0].id].online is True
    assert len(realtime[plants[0].id].devices) == 2
    assert realtime[plants[1].id].devices == {}
    # The next round no longer asks about the removed devices.
    calls = sim.calls["queryPlantDeviceStatus"]
    await client.async_get_realtime(plants, devices)
    assert sim.calls["queryPlantDeviceStatus"] == calls


async def test_odd_reply_shapes(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Lists that are not lists and a token without lifetime are clean outcomes."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    with patch.object(client, "_call", return_value={"plant": 5, "collector": 7, "device": 1}):
        assert await client.async_get_plants() == []
        assert await client.async_get_devices(plants) == []
    fresh = make_client(session, base_url, clock)
    with (
        patch.object(fresh, "_get", return_value={"token": "t", "secret": "s", "expire": "N/A"}),
        pytest.raises(ProtocolError, match="lifetime"),
    ):
        await fresh.async_login()


async def test_unreachable_server(session: aiohttp.ClientSession, clock: FakeClock) -> None:
    """No server at the address: a transient error that names no secret."""
    client = make_client(session, "http://127.0.0.1:9", clock)
    with pytest.raises(TransientError) as err:
        await client.async_login()
    assert err.value.code == "network"
    assert PASSWORD not in str(err.value)
    assert KEY not in str(err.value)


def test_plan_keeps_five_minutes_between_round_starts() -> None:
    """Small accounts pause 5 minutes; a round that must wait a minute pauses 4."""
    plants = [Plant(id=str(i), name=str(i)) for i in range(100)]
    devices = [
        Device(id=f"d{i}", plant_id=str(i % 100), name="d", kind=DeviceKind.INVERTER, type_code="1")
        for i in range(200)
    ]
    assert ShineMonitorClient.calls_per_round(plants, devices) == 301
    client = ShineMonitorClient(None, "http://h", "u", "p", "k")  # type: ignore[arg-type]
    assert client.plan(plants[:10], devices[:20]).realtime == 300
    assert client.plan(plants, devices).realtime == 240
    assert client.plan(plants * 10, devices * 10).realtime == 150
