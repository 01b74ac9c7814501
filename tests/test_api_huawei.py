"""The FusionSolar client and the account layer on their own, against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from custom_components.solar_cloud.api.account import AccountMemory, CloudAccount
from custom_components.solar_cloud.api.errors import (
    AuthError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)
from custom_components.solar_cloud.api.huawei import (
    HuaweiClient,
    account_id_for,
    map_device_kpi,
    map_station_kpi,
    meter_power_factor,
    to_float,
    to_int,
)
from custom_components.solar_cloud.api.models import DeviceKind, Plant
from custom_components.solar_cloud.api.quota import Quota
from tests.common import FakeClock, serve
from tests.conftest import USERNAME
from tests.simulators.huawei import HuaweiSimulator
from tests.vendor_huawei import make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
def clock() -> FakeClock:
    """The shared fake clock."""
    return FakeClock(1_782_036_000.0)


@pytest.fixture
def sim(clock: FakeClock) -> HuaweiSimulator:
    """A simulator on the fake clock, with every device type."""
    return make_simulator(clock, plants=2, grid_meter=True)


# -- value normalisation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, 1.0),
        (2.5, 2.5),
        ("3.25", 3.25),
        (" 4 ", 4.0),
        ("N/A", None),
        ("", None),
        ("--", None),
        (None, None),
        (True, None),
        ("abc", None),
        (float("nan"), None),
        ([1], None),
    ],
)
def test_to_float(raw: object, expected: float | None) -> None:
    """Numbers come as numbers, strings, null or "N/A"."""
    assert to_float(raw) == expected


def test_to_int() -> None:
    """Codes may be strings or floats."""
    assert to_int("512") == 512
    assert to_int(3.0) == 3
    assert to_int("N/A") is None


@pytest.mark.parametrize(
    ("data", "previous", "factor"),
    [
        # Apparent power (kVA) present: kW when |P| is of the same size.
        ({"active_power": 2.4, "total_apparent_power": 2.5}, None, 1000.0),
        ({"active_power": -2400, "total_apparent_power": 2.5}, None, 1.0),
        # Only voltages and currents: compare with U * I in VA.
        ({"active_power": 2.3, "a_u": 230, "a_i": 10}, None, 1000.0),
        ({"active_power": 2250, "a_u": 230, "a_i": 10, "b_u": 0, "b_i": 0}, None, 1.0),
        # Nothing to judge by: the device's last decision, else W.
        ({"active_power": 0, "a_u": 230, "a_i": 0}, 1000.0, 1000.0),
        ({"active_power": None}, None, 1.0),
        ({"active_power": "1.5"}, 1000.0, 1000.0),
    ],
)
def test_meter_power_unit_rule(data: dict[str, Any], previous: float | None, factor: float) -> None:
    """Grid-meter active power is kW on older platforms and W on newer ones."""
    assert meter_power_factor(data, previous) == factor


def test_map_battery_soh_fraction_and_unknown_codes() -> None:
    """SOH as a 0-1 fraction becomes percent; unknown codes map to 'unknown'."""
    values, online = map_device_kpi(
        39,
        {"battery_soh": 0.97, "battery_status": 9, "ch_discharge_model": 7, "run_state": 1},
    )
    assert values["battery_soh"] == 97.0
    assert values["battery_status"] == "unknown"
    assert values["battery_working_mode"] == "unknown"
    assert online is True
    values, online = map_device_kpi(41, {"battery_soc": "55", "ch_discharge_power": "-800"})
    assert values["battery_discharge_power"] == 800.0
    assert values["battery_power"] == 800.0
    assert online is None
    assert map_device_kpi(2, {"run_state": 0}) == ({}, False)
    values, online = map_device_kpi(39, {"battery_status": 0})
    assert online is False


def test_map_station_and_inverter_states() -> None:
    """Plant health and inverter states become readable states."""
    values, online = map_station_kpi({"real_health_state": 1, "day_power": "1.5"})
    assert values["health_state"] == "disconnected"
    assert online is False
    values, _ = map_device_kpi(38, {"inverter_state": 45056, "run_state": 1})
    assert values["inverter_status"] == "communication_lost"
    values, _ = map_device_kpi(38, {"inverter_state": 12345})
    assert values["inverter_status"] == "unknown"
    values, online = map_device_kpi(47, {"meter_status": 0, "run_state": 1})
    assert online is False


def test_account_id() -> None:
    """The account id ignores case, a port and a trailing slash."""
    assert (
        account_id_for("https://EU5.fusionsolar.huawei.com:443/", " User ")
        == "huawei_fusionsolar:eu5.fusionsolar.huawei.com:user"
    )


# -- client against the simulator ---------------------------------------------------------------


async def test_inventory_and_realtime(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """Plants, devices, real-time data and alarms of an account, in the metric vocabulary."""
    client = make_client(session, base_url, clock)
    plants = await client.async_get_plants()
    assert sorted(p.id for p in plants) == sorted(sim.plant_codes(USERNAME))
    assert all(p.capacity_kw and p.grid_connection_date for p in plants)
    devices = await client.async_get_devices(plants)
    kinds = sorted(d.kind for d in devices if d.plant_id == plants[0].id)
    assert kinds == sorted(
        [DeviceKind.INVERTER, DeviceKind.BATTERY, DeviceKind.POWER_SENSOR, DeviceKind.GRID_METER]
    )
    client.plan(plants, devices)
    data = await client.async_get_realtime(plants, devices)
    assert set(data) == {p.id for p in plants}
    first = data[plants[0].id]
    assert first.online is True
    assert first.data_time is not None
    assert "energy_total" in first.plant
    assert len(first.devices) == 4
    sim.raise_alarm(plants[0].id, name="Battery fault", lev=1)
    alarms = await client.async_get_alarms(plants)
    assert [a.name for a in alarms[plants[0].id]] == ["Battery fault"]
    assert alarms[plants[1].id] == []
    assert client.logins == 1


async def test_login_once_for_concurrent_calls(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """Many callers at once share one login; a valid session is reused, not renewed."""
    client = make_client(session, base_url, clock)
    await asyncio.gather(*(client.async_login() for _ in range(5)))
    assert sim.logins == 1
    clock.now += 20 * 60
    await client.async_get_plants()
    assert sim.logins == 1
    # After 25 idle minutes the client renews before the cloud's 30 minutes run out.
    clock.now += 26 * 60
    await client.async_login()
    assert sim.logins == 2


async def test_login_refused(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """A wrong system code is an AuthError; the login budget is not burnt in a loop."""
    client = make_client(session, base_url, clock, system_code="wrong")
    with pytest.raises(AuthError) as err:
        await client.async_login()
    assert err.value.code == "20400"
    # Asking again at once does not send the same wrong password again ...
    with pytest.raises(AuthError):
        await client.async_login()
    assert sim.failed_logins(USERNAME) == 1
    # ... until the lock-out period has passed.
    clock.now += 31 * 60
    with pytest.raises(AuthError):
        await client.async_login()
    assert sim.failed_logins(USERNAME) == 2


async def test_login_rate_limited(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """More than five logins in ten minutes are held back by the client itself."""
    client = make_client(session, base_url, clock)
    for _ in range(5):
        sim.kick_session(USERNAME)
        client._sess.drop(client._sess.token)
        await client.async_login()
    client._sess.drop(client._sess.token)
    with pytest.raises(RateLimitedError) as err:
        await client.async_login()
    assert err.value.code == "quota"
    assert 0 < err.value.retry_after <= 600
    assert sim.refusals["login"] == 0


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("quota_gateway", RateLimitedError, "49401021002"),
        ("fail_code:429", RateLimitedError, "429"),
        ("fail_code:20618", RateLimitedError, "20618"),
        ("fail_code:20004", TransientError, "20004"),
        ("fail_code:20001", AuthError, "20001"),
        ("fail_code:20621", PermissionDeniedError, "20621"),
        ("fail_code:20010", ProtocolError, "20010"),
        ("http_502", TransientError, "http_502"),
        ("html", ProtocolError, "200"),
        ("exception_body", TransientError, "http_500"),
    ],
)
async def test_error_classes(
    session: aiohttp.ClientSession,
    base_url: str,
    clock: FakeClock,
    sim: HuaweiSimulator,
    kind: str,
    error: type[Exception],
    code: str,
) -> None:
    """Each vendor answer maps onto one error class, with the vendor's code kept."""
    client = make_client(session, base_url, clock)
    await client.async_login()
    sim.inject(kind, path="/thirdData/stations")
    with pytest.raises(error) as raised:
        await client.async_get_plants()
    assert raised.value.code == code


async def test_daily_cap_waits_for_the_next_day(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """20618: the endpoint stays closed until the next day; nothing is sent meanwhile."""
    client = make_client(session, base_url, clock)
    sim.inject("fail_code:20618", path="/thirdData/stations")
    with pytest.raises(RateLimitedError) as err:
        await client.async_get_plants()
    assert err.value.retry_after > 60
    calls = sim.calls["stations"]
    with pytest.raises(RateLimitedError):
        await client.async_get_plants()
    assert sim.calls["stations"] == calls
    clock.now += err.value.retry_after + 1
    assert await client.async_get_plants()


async def test_cookie_token_and_missing_token(
    session: aiohttp.ClientSession, aiohttp_server: Callable[..., Any], clock: FakeClock
) -> None:
    """Older platforms send the token only as a cookie; no token at all is a protocol error."""
    mode = {"cookie": True}

    async def login(request: web.Request) -> web.Response:
        response = web.json_response({"success": True, "failCode": 0, "data": None})
        if mode["cookie"]:
            response.headers["Set-Cookie"] = "XSRF-TOKEN=from-cookie; Path=/"
        return response

    app = web.Application()
    app.router.add_post("/thirdData/login", login)
    url = await serve(aiohttp_server, app)
    client = make_client(session, url, clock)
    await client.async_login()
    assert client._sess.token == "from-cookie"
    mode["cookie"] = False
    other = make_client(session, url, clock)
    with pytest.raises(ProtocolError) as err:
        await other.async_login()
    assert err.value.code == "no_token"


async def test_unexpected_shapes(
    session: aiohttp.ClientSession, aiohttp_server: Callable[..., Any], clock: FakeClock
) -> None:
    """Replies of the wrong shape are protocol errors, not crashes."""
    replies: dict[str, Any] = {}

    async def login(request: web.Request) -> web.Response:
        response = web.json_response({"success": True, "failCode": 0})
        response.headers["XSRF-TOKEN"] = "t"
        return response

    async def other(request: web.Request) -> web.Response:
        reply = replies[request.path]
        if isinstance(reply, tuple):
            return web.Response(status=reply[0], text=reply[1])
        return web.json_response(reply)

    app = web.Application()
    app.router.add_post("/thirdData/login", login)
    app.router.add_post("/thirdData/{name}", other)
    url = await serve(aiohttp_server, app)
    client = make_client(session, url, clock)
    replies["/thirdData/stations"] = {"success": True, "failCode": 0, "data": []}
    with pytest.raises(ProtocolError):
        await client.async_get_plants()
    replies["/thirdData/stations"] = {"success": False}
    with pytest.raises(ProtocolError) as err:
        await client.async_get_plants()
    assert err.value.code == "no_fail_code"
    replies["/thirdData/stations"] = (429, "slow down")
    with pytest.raises(RateLimitedError):
        await client.async_get_plants()
    replies["/thirdData/stations"] = (404, "<html>not found</html>")
    with pytest.raises(ProtocolError):
        await client.async_get_plants()
    replies["/thirdData/getDevList"] = {"success": True, "failCode": 0, "data": {"x": 1}}
    with pytest.raises(ProtocolError):
        await client.async_get_devices([Plant(id="p", name="p")])
    replies["/thirdData/getStationList"] = {"success": True, "failCode": 0, "data": {}}
    client._legacy_station_list = True
    with pytest.raises(ProtocolError):
        await client.async_get_plants()


# -- the account layer --------------------------------------------------------------------------


async def test_account_coalesces_plants_into_one_round(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """Two plants asking at once cost one batched round; within half a period, none."""
    client = make_client(session, base_url, clock)
    account = CloudAccount(client, memory=AccountMemory(quota=client.quota), clock=clock)
    await account.async_setup()
    plants = sorted(account.plants)
    results = await asyncio.gather(*(account.async_get_plant_data(p) for p in plants))
    assert [r.plant.id for r in results if r] == plants
    assert sim.calls["getStationRealKpi"] == 1
    # Four device types, one call each.
    assert sim.calls["getDevRealKpi"] == 4
    clock.now += 100
    await account.async_get_plant_data(plants[0])
    assert sim.calls["getStationRealKpi"] == 1
    assert await account.async_get_plant_data("unknown") is None


async def test_account_rides_out_a_rate_limit(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """Refused rounds reuse the last answer for three periods, then fail."""
    client = make_client(session, base_url, clock)
    account = CloudAccount(client, clock=clock, memory=AccountMemory(quota=client.quota))
    await account.async_setup()
    plant = sorted(account.plants)[0]
    first = await account.async_get_plant_data(plant)
    assert first is not None
    sim.inject("fail_code:407", path="/thirdData/getStationRealKpi", count=20)
    clock.now += 301
    again = await account.async_get_plant_data(plant)
    assert again is not None
    assert again.fetched_at == first.fetched_at
    assert account.rate_limited
    clock.now += 3 * 301
    with pytest.raises(RateLimitedError):
        await account.async_get_plant_data(plant)


async def test_account_keeps_going_without_alarm_permission(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """No permission for alarms: data still flows and the missing permission is recorded."""
    client = make_client(session, base_url, clock)
    account = CloudAccount(client, clock=clock, memory=AccountMemory(quota=client.quota))
    await account.async_setup()
    sim.inject("fail_code:401", path="/thirdData/getAlarmList")
    plant = sorted(account.plants)[0]
    data = await account.async_get_plant_data(plant)
    assert data is not None
    assert data.alarms is None
    assert account.permission_errors["alarm list"].code == "401"
    diagnostics = account.diagnostics()
    assert diagnostics["permission_errors"] == {"alarm list": "401"}
    # Credentials that stop working end the round.
    sim.set_password(USERNAME, "changed")
    sim.expire_tokens()
    clock.now += 31 * 60
    with pytest.raises(AuthError):
        await account.async_get_plant_data(plant)


async def test_memory_survives_a_new_account_object(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """A reload (new client and account, same memory) sends nothing it does not need."""
    memory = AccountMemory(quota=Quota(clock=clock, sleep=clock.sleep))
    first = CloudAccount(
        make_client(session, base_url, clock, quota=memory.quota, session_state=memory.session),
        memory=memory,
        clock=clock,
    )
    await first.async_setup()
    plant = sorted(first.plants)[0]
    await first.async_get_plant_data(plant)
    before = dict(sim.calls)
    clock.now += 30
    second = CloudAccount(
        make_client(session, base_url, clock, quota=memory.quota, session_state=memory.session),
        memory=memory,
        clock=clock,
    )
    await second.async_setup()
    data = await second.async_get_plant_data(plant)
    assert data is not None
    assert dict(sim.calls) == before
    assert sim.logins == 1
    assert second.rate_limited


async def test_memory_export_and_restore(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """The memory survives a JSON round trip; a damaged copy is ignored, not fatal."""
    import json

    client = make_client(session, base_url, clock)
    memory = AccountMemory(quota=client.quota)
    account = CloudAccount(client, memory=memory, clock=clock)
    await account.async_setup()
    sim.raise_alarm(sorted(account.plants)[0], name="Fan fault", lev=3)
    await account.async_get_plant_data(sorted(account.plants)[0])
    saved = json.loads(json.dumps(memory.export()))

    restored = AccountMemory(quota=Quota(clock=clock, sleep=clock.sleep))
    restored.restore(saved)
    assert restored.plants == memory.plants
    assert restored.devices == memory.devices
    assert restored.devices_for == memory.devices_for
    assert restored.realtime == memory.realtime
    assert restored.alarms == memory.alarms
    assert restored.session.token == memory.session.token
    # The calls of the last window still count after the restore.
    restored.quota.set_allowance("getStationRealKpi", client.quota.allowance("getStationRealKpi"))
    assert restored.quota.remaining("getStationRealKpi") == 0

    damaged = AccountMemory()
    damaged.restore({"plants": [{"no": "such field"}], "quota": {"x": "y"}})
    assert damaged.plants is None


def test_data_time_moves_only_with_new_values(clock: FakeClock) -> None:
    """The last data time is when the values last changed, so a stalled logger shows."""
    from datetime import UTC, datetime

    from custom_components.solar_cloud.api.models import DeviceReadings, RealtimeData

    client = HuaweiClient(None, "https://x", "u", "p", clock=clock)  # type: ignore[arg-type]
    first = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    later = datetime(2026, 6, 1, 12, 5, tzinfo=UTC)

    def reply(power: float, at: datetime) -> RealtimeData:
        return RealtimeData(
            plant={"energy_today": 3.0},
            devices={"1": DeviceReadings(values={"pv_power": power}, online=True)},
            data_time=at,
        )

    assert client._data_time("p", reply(100.0, first)) == first
    assert client._data_time("p", reply(100.0, later)) == first
    assert client._data_time("p", reply(120.0, later)) == later
    assert client._data_time("p", RealtimeData()) is None
