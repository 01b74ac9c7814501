"""iSolarCloud client: odd and broken gateway answers, against the simulator, and the parsing
helpers on their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

from custom_components.solar_cloud.api.controls import (
    BATTERY_CHARGE_CUTOFF_SOC,
    BATTERY_MAX_CHARGE_POWER,
    BATTERY_WORKING_MODE,
    GRID_EXPORT_LIMIT,
    ControlSpec,
    ForceRequest,
    TaskState,
    TouWindow,
)
from custom_components.solar_cloud.api.errors import (
    AuthError,
    CommandRejectedError,
    ProtocolError,
    TransientError,
)
from custom_components.solar_cloud.api.history import Flow
from custom_components.solar_cloud.api.models import Plant
from custom_components.solar_cloud.api.sungrow import (
    DEFAULT_FORMATS,
    HISTORY_ENDPOINT,
    P_SOC_UPPER,
    SungrowClient,
    _collect_samples,
    _counter_hours,
    _display_value,
    _enum_raw,
    _health,
    _rows,
    parse_device_time,
    parse_zone,
)
from tests.common import FakeClock
from tests.simulators.sungrow import SungrowSimulator
from tests.vendor_sungrow import USER, make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC).
ES = 14

Endpoint = Callable[[Any, dict[str, Any], float], tuple[str, Any]]


@pytest.fixture
def sim(clock: FakeClock) -> SungrowSimulator:
    """A gateway with one storage plant; device tasks answer after 8 s."""
    return make_simulator(clock, plants=1, task_delay=8.0)


def _reshape(sim: SungrowSimulator, name: str, change: Callable[[Any], Any]) -> None:
    """Let endpoint ``name`` answer as before, with ``change`` applied to its result_data."""
    original: Endpoint = sim._endpoints[name]

    def endpoint(account: Any, body: dict[str, Any], now: float) -> tuple[str, Any]:
        code, data = original(account, body, now)
        return code, change(data) if code == "1" else data

    sim._endpoints[name] = endpoint


async def _storage_setup(
    session: aiohttp.ClientSession, url: str, sim: SungrowSimulator, clock: FakeClock
) -> tuple[SungrowClient, Plant, dict[str, ControlSpec], str]:
    client = make_client(session, url, sim, clock)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    specs, _ = await client.async_get_controls(plants[0], devices)
    storage = sim.device_keys(int(plants[0].id), ES)[0]
    return client, plants[0], {s.key: s for s in specs}, storage


# -- helpers on their own ---------------------------------------------------------------------


def test_time_and_zone_edges() -> None:
    """Fourteen digits that are no date, and offsets beyond ±14 h, read as unknown."""
    assert parse_device_time("20261345000000", None) is None  # month 13
    moment = parse_device_time("20260621120500", None)
    assert moment == datetime(2026, 6, 21, 12, 5, tzinfo=UTC)
    assert parse_zone("GMT+15") is None
    assert parse_zone("+05:60") is None
    assert parse_zone("+0530").utcoffset(None) == timedelta(hours=5, minutes=30)  # type: ignore[union-attr]


def test_reply_field_helpers() -> None:
    """Rows from one object or a list (junk dropped); enumerations by number or by label;
    display values in the control's unit; an offline plant is disconnected."""
    row = {"uuid": "1"}
    assert _rows(row) == [row]
    assert _rows([row, "junk", None, 3]) == [row]
    assert _rows("junk") == []
    assert _rows(None) == []
    modes = {"set_val_name": "Self-consumption mode|Forced mode|VPP", "set_val_name_val": "0|2|4"}
    assert _enum_raw(None) is None
    assert _enum_raw({**modes, "return_value": ""}) is None
    assert _enum_raw({**modes, "return_value": "4"}) == 4
    assert _enum_raw({**modes, "return_value": " forced MODE "}) == 2
    assert _enum_raw({**modes, "return_value": "Backup mode"}) is None
    default = DEFAULT_FORMATS[P_SOC_UPPER]  # %
    assert _display_value(None, default) is None
    assert _display_value({"return_value": "--"}, default) is None
    assert _display_value({"return_value": "6.6", "unit": "kW"}, default) == 6600.0
    assert _display_value({"return_value": "95"}, default) == 95.0  # the default unit: %
    assert _health({"dev_status": "0", "dev_fault_status": "4"}) == "disconnected"
    assert _health({"dev_status": "1", "dev_fault_status": "1"}) == "faulty"
    assert _health({"dev_status": "1"}) is None


def test_minute_rows_that_cannot_be_used() -> None:
    """Keys not asked for, rows that are no objects, unreadable stamps and negative counters
    are left out; the rest are kWh samples in UTC."""
    zone = timezone(timedelta(hours=1))
    key = "1000001_11_0_0"
    samples: dict[str, dict[Flow, list[tuple[datetime, float]]]] = {}
    data = {
        key: [
            "junk",
            {"time_stamp": "2026062112", "p83022": "100"},
            {"time_stamp": "20260621120000", "p83022": "1500", "p83102": "-3"},
            {"time_stamp": "20260621120500", "p83022": "1600", "p83102": "N/A"},
        ],
        "9999999_11_0_0": [{"time_stamp": "20260621120000", "p83022": "7"}],
        "not a list": {"time_stamp": "20260621120000"},
    }
    _collect_samples(data, {key: "1000001", "not a list": "1000002"}, zone, samples)
    assert samples == {
        "1000001": {
            Flow.PV: [
                (datetime(2026, 6, 21, 11, 0, tzinfo=UTC), 1.5),
                (datetime(2026, 6, 21, 11, 5, tzinfo=UTC), 1.6),
            ]
        }
    }
    with pytest.raises(ProtocolError) as err:
        _collect_samples(None, {key: "1000001"}, zone, samples)
    assert err.value.code == "shape"


def test_counter_hours_ignore_samples_outside_the_day() -> None:
    """A flow whose samples all lie outside the day gives no hours at all."""
    start = datetime(2026, 6, 20, 23, 0, tzinfo=UTC)
    end = start + timedelta(days=1)
    outside = [(start - timedelta(hours=1), 5.0), (end + timedelta(minutes=5), 9.0)]
    inside = [(start, 0.0), (start + timedelta(minutes=90), 2.0)]
    hours = _counter_hours({Flow.GRID_IMPORT: outside, Flow.PV: inside}, start, end)
    assert all(Flow.GRID_IMPORT not in flows for flows in hours.values())
    assert sum(flows[Flow.PV] for flows in hours.values()) == pytest.approx(2.0)


# -- transport ----------------------------------------------------------------------------------


async def test_login_answers_without_a_result_or_token(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A login success envelope without result_data, or with login_state 1 but no token, is a
    protocol error, not a session."""
    original = sim._login
    sim._login = lambda body, now: ("1", None)  # type: ignore[method-assign]
    client = make_client(session, base_url, sim, clock)
    with pytest.raises(ProtocolError) as err:
        await client.async_login()
    assert (err.value.code, str(err.value)) == ("shape", "login: no result")

    def tokenless(body: dict[str, Any], now: float) -> tuple[str, Any]:
        code, data = original(body, now)
        return code, {**data, "token": ""}

    sim._login = tokenless  # type: ignore[method-assign]
    client = make_client(session, base_url, sim, clock)
    with pytest.raises(ProtocolError) as err:
        await client.async_login()
    assert err.value.code == "no_token"
    assert client.logins == 0


async def test_no_answer_in_time_and_no_server(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A gateway slower than the client's timeout, and a closed port, are transient."""
    sim.timeout_delay = 0.5
    sim.inject("timeout", path="login")
    client = make_client(session, base_url, sim, clock, timeout=0.05)
    with pytest.raises(TransientError) as err:
        await client.async_login()
    assert (err.value.code, str(err.value)) == ("timeout", "login: no answer in time")
    closed = make_client(session, "http://127.0.0.1:9", sim, clock)
    with pytest.raises(TransientError) as err:
        await closed.async_get_plants()
    assert err.value.code == "network"
    assert str(err.value).startswith("login: Client")


async def test_clock_refused_after_the_sync(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """E913 again after the gateway's time was read: given up, the clock read only once."""
    client = make_client(session, base_url, sim, clock)
    await client.async_get_plants()
    seen = len(sim.requests)
    sim.inject("fail_code:E913", path="getPowerStationList", count=2)
    with pytest.raises(ProtocolError) as err:
        await client.async_get_plants()
    assert err.value.code == "E913"
    assert "clock still refused" in str(err.value)
    assert [name for _, name in sim.requests[seen:]].count("timestamp") == 1


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [("html", ProtocolError, "shape"), ("timeout", TransientError, "timeout")],
)
async def test_gateway_time_unreadable(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    kind: str,
    error: type[Exception],
    code: str,
) -> None:
    """After E913 the gateway's /timestamp answers a maintenance page or nothing in time."""
    sim.timeout_delay = 0.5
    client = make_client(session, base_url, sim, clock, timeout=0.2)
    await client.async_get_plants()
    sim.inject("fail_code:E913", path="getPowerStationList")
    sim.inject(kind, path="timestamp")
    with pytest.raises(error) as err:
        await client.async_get_plants()
    assert err.value.code == code  # type: ignore[attr-defined]
    assert str(err.value).startswith("timestamp:")
    assert sim.calls["getPowerStationList"] == 1  # the refused call was not sent again


async def test_call_caps_not_read(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """getOpenApiCallInfo failing: a cloud error keeps the caps known so far and the poll goes
    on; a refused login fails the poll and the caps are asked again next time."""
    sim.hourly_cap = 1000
    client = make_client(session, base_url, sim, clock)
    sim.inject("fail_code:-1", path="getOpenApiCallInfo")
    assert len(await client.async_get_plants()) == 1
    assert client.hourly_cap == 2000  # the default, not the gateway's 1000
    # Not asked again within the hour; asked (and learnt) after it.
    await client.async_get_plants()
    assert sim.calls["getOpenApiCallInfo"] == 0
    clock.now += 3601
    await client.async_get_plants()
    assert client.hourly_cap == 1000
    assert sim.calls["getOpenApiCallInfo"] == 1
    clock.now += 3601
    sim.inject("fail_code:E00000", path="getOpenApiCallInfo")
    with pytest.raises(AuthError):
        await client.async_get_plants()
    await client.async_get_plants()
    assert sim.calls["getOpenApiCallInfo"] == 2


async def test_call_caps_without_a_result(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """getOpenApiCallInfo with no result_data: the caps stay as they were."""
    sim.hourly_cap = 1000
    sim._endpoints["getOpenApiCallInfo"] = lambda account, body, now: ("1", None)
    client = make_client(session, base_url, sim, clock)
    assert len(await client.async_get_plants()) == 1
    assert client.hourly_cap == 2000


# -- inventory and alarms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    ["getPowerStationList", "getDeviceList", "getDeviceRealTimeData", "getFaultAlarmInfo"],
)
async def test_success_without_result_data(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    endpoint: str,
) -> None:
    """result_code 1 without result_data is unusable: a protocol error naming the call."""
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    sim._endpoints[endpoint] = lambda account, body, now: ("1", None)
    calls = {
        "getPowerStationList": client.async_get_plants,
        "getDeviceList": lambda: client.async_get_devices(plants),
        "getDeviceRealTimeData": lambda: client.async_get_realtime(plants, devices),
        "getFaultAlarmInfo": lambda: client.async_get_alarms(plants),
    }
    with pytest.raises(ProtocolError) as err:
        await calls[endpoint]()
    assert err.value.code == "shape"
    assert "no result" in str(err.value)


async def test_odd_plant_and_device_rows(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A plant row without ps_id and device rows of unknown types are skipped; an install date
    in another format leaves the date unknown; a detail without result keeps the list's data."""
    sim.add_plant(username=USER)

    def plants(data: dict[str, Any]) -> dict[str, Any]:
        rows = [dict(r) for r in data["pageList"]]
        rows[0]["ps_id"] = None
        return {**data, "pageList": rows}

    _reshape(sim, "getPowerStationList", plants)
    _reshape(sim, "getPowerStationDetail", lambda data: {**data, "install_date": "21/06/2026"})
    _reshape(
        sim,
        "getDeviceList",
        lambda data: {
            **data,
            "pageList": [*data["pageList"], {"ps_key": "x_99", "device_type": 99}],
        },
    )
    client = make_client(session, base_url, sim, clock)
    listed = await client.async_get_plants()
    assert [p.id for p in listed] == [str(sim.plant_ids()[1])]
    assert listed[0].grid_connection_date is None
    assert listed[0].capacity_kw
    devices = await client.async_get_devices(listed)
    # The plant's own device (type 11) is listed only on request; "x_99" is no known type.
    expected = [k for k in sim.device_keys(sim.plant_ids()[1]) if "_11_" not in k]
    assert sorted(d.id for d in devices) == sorted(expected)
    sim._endpoints["getPowerStationDetail"] = lambda account, body, now: ("1", None)
    again = await client.async_get_plants()
    assert again[0].capacity_kw == listed[0].capacity_kw
    assert again[0].grid_connection_date is None


async def test_alarm_rows_closed_unowned_or_badly_dated(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Closed faults (process_status 4/9) and rows without ps_id are not alarms; a create_time
    in another format leaves the time unknown but keeps the alarm."""
    plant_id = sim.plant_ids()[0]
    sim.raise_fault(plant_id, fault_name="Grid power outage")
    sim.raise_fault(plant_id, fault_name="Closed one")
    sim.raise_fault(plant_id, fault_name="Nobody's")

    def damage(data: dict[str, Any]) -> dict[str, Any]:
        rows = []
        for original in data["pageList"]:
            row = dict(original)
            if row["fault_name"] == "Closed one":
                row["process_status"] = 9
            elif row["fault_name"] == "Nobody's":
                row["ps_id"] = None
            else:
                row["create_time"] = "yesterday"
            rows.append(row)
        return {**data, "pageList": rows}

    _reshape(sim, "getFaultAlarmInfo", damage)
    client = make_client(session, base_url, sim, clock)
    plants = await client.async_get_plants()
    alarms = (await client.async_get_alarms(plants))[str(plant_id)]
    assert [(a.name, a.raised_at) for a in alarms] == [("Grid power outage", None)]
    assert alarms[0].id.endswith(":yesterday")


# -- controls -------------------------------------------------------------------------------------


async def test_time_of_use_is_not_offered(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """No time-of-use windows: said up front, and refused without a call if asked anyway."""
    client, plant, _, _ = await _storage_setup(session, base_url, sim, clock)
    assert client.can_set_time_of_use(plant) is False
    calls = sum(sim.calls.values())
    with pytest.raises(CommandRejectedError) as err:
        await client.async_set_time_of_use(plant, [TouWindow("01:00", "05:00", False)])
    assert err.value.code == "unsupported"
    assert sum(sim.calls.values()) == calls


async def test_storage_inverter_without_uuid(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A storage inverter listed without a uuid cannot be addressed: no controls, and why."""

    def drop_uuids(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "pageList": [{**r, "uuid": None} for r in data["pageList"]]}

    _reshape(sim, "getDeviceList", drop_uuids)
    client, plant, specs, storage = await _storage_setup(session, base_url, sim, clock)
    assert specs == {}
    devices = await client.async_get_devices([plant])
    _, reasons = await client.async_get_controls(plant, devices)
    assert reasons[storage] == "the cloud lists no uuid for this device"
    assert not client.can_force(plant, devices)
    assert sim.calls["paramSettingCheck"] == 0


async def test_unknown_model_takes_the_plant_capacity_and_zero_limits_are_ignored(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A model name without its rated power: the export limit spans the plant's capacity; a
    power limit point of 0 is no limit, so the documented range applies."""
    storage = sim.device_keys(sim.plant_ids()[0], ES)[0]
    sim.set_property(storage, "18290", "0", "kW")

    def rename(data: dict[str, Any]) -> dict[str, Any]:
        rows = [
            {**r, "device_model_code": "HYBRID-X"} if r["ps_key"] == storage else r
            for r in data["pageList"]
        ]
        return {**data, "pageList": rows}

    _reshape(sim, "getDeviceList", rename)
    _, plant, specs, _ = await _storage_setup(session, base_url, sim, clock)
    assert plant.capacity_kw
    assert specs[GRID_EXPORT_LIMIT].maximum == round(plant.capacity_kw * 1000, 3)
    assert specs[BATTERY_MAX_CHARGE_POWER].maximum == 10_600  # documented 10.6 kW
    assert specs[GRID_EXPORT_LIMIT].maximum != 10_000  # not the SH10RT's rating


async def test_check_setting_and_task_without_result(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """paramSettingCheck, paramSetting and getParamSettingTask answering no result_data."""
    client, plant, specs, _ = await _storage_setup(session, base_url, sim, clock)
    spec = specs[BATTERY_CHARGE_CUTOFF_SOC]
    await client.async_read_controls(plant, [spec])  # precision known: the write is one call
    task = await client.async_start_control(plant, spec, 90.0)
    devices = await client.async_get_devices([plant])
    original = dict(sim._endpoints)
    for name, action in (
        ("getParamSettingTask", lambda: client.async_poll_task(task)),
        ("paramSetting", lambda: client.async_start_control(plant, spec, 95.0)),
        ("paramSettingCheck", lambda: client.async_get_controls(plant, devices)),
    ):
        sim._endpoints[name] = lambda account, body, now: ("1", None)
        with pytest.raises(ProtocolError) as err:
            await action()
        assert (err.value.code, str(err.value)) == ("shape", f"{name}: no result")
        sim._endpoints[name] = original[name]
    assert task.state is TaskState.RUNNING  # nothing was decided on an empty answer


async def test_setting_accepted_without_task_id(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """paramSetting accepted (check_result 1) but no task id: nothing to follow, an error."""
    client, plant, specs, _ = await _storage_setup(session, base_url, sim, clock)
    spec = specs[BATTERY_CHARGE_CUTOFF_SOC]
    await client.async_read_controls(plant, [spec])
    _reshape(
        sim,
        "paramSetting",
        lambda data: {
            **data,
            "dev_result_list": [{**r, "task_id": None} for r in data["dev_result_list"]],
        },
    )
    with pytest.raises(ProtocolError) as err:
        await client.async_start_control(plant, spec, 90.0)
    assert err.value.code == "no_task"


async def test_task_done_without_confirming_its_parameters(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The task ends (command_status 8) while a parameter is still executing, and a row without
    param_code is ignored: the write failed, and the mode is forgotten, not assumed."""
    client, plant, specs, storage = await _storage_setup(session, base_url, sim, clock)
    mode = specs[BATTERY_WORKING_MODE]
    task = await client.async_start_control(plant, mode, "vpp")

    def unconfirmed(data: dict[str, Any]) -> dict[str, Any]:
        rows = [{**r, "command_status": "3"} for r in data["param_list"]]
        return {**data, "command_status": "8", "param_list": [*rows, {"param_code": None}]}

    _reshape(sim, "getParamSettingTask", unconfirmed)
    await clock.sleep(task.poll_interval)
    task = await client.async_poll_task(task)
    assert task.state is TaskState.FAILED
    assert task.reason == "the task ended without confirming 10003"
    assert task.details["status_10003"] == 3
    assert storage not in client._modes


async def test_force_while_already_forced_stops_to_self_consumption(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The device is in compulsory mode before the first force (set in the app): the stop
    returns it to self-consumption rather than to compulsory mode."""
    storage = sim.device_keys(sim.plant_ids()[0], ES)[0]
    sim.set_param(storage, 10003, 2)
    client, plant, _, _ = await _storage_setup(session, base_url, sim, clock)
    task = await client.async_start_force(plant, None, ForceRequest(False, 2000.0, 30))
    for _ in range(10):
        await clock.sleep(task.poll_interval)
        task = await client.async_poll_task(task)
        if task.done:
            break
    assert task.state is TaskState.SUCCESS
    stop = await client.async_stop_force(plant, None)
    assert stop.value == "self_consumption"
    assert sim.param_tasks(storage)[-1]["params"] == {10004: 204, 10003: 0}


# -- history --------------------------------------------------------------------------------------


async def test_history_windows_are_paced(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """With the per-second pacing on, a day's eight minute-data windows wait between calls
    (holding no slot) instead of tripping the gateway's burst limit (E901)."""
    from unittest.mock import patch

    sim.burst_limit = 5
    clock.now += 86400  # the day has ended: all eight 3-hour windows are read
    with patch("custom_components.solar_cloud.api.sungrow.CALLS_PER_SECOND", 2):
        client = make_client(session, base_url, sim, clock)
        plants = await client.async_get_plants()
        start = clock.now
        days = await client.async_get_energy_days(plants, date(2026, 6, 21), UTC)
    assert sim.calls[HISTORY_ENDPOINT] == 8
    assert sum(sim.refusals.values()) == 0
    # Eight calls at two a second: at least three and a half seconds of the clock.
    assert clock.now - start >= 3.5
    assert sum(days[plants[0].id].hours[h][Flow.PV] for h in days[plants[0].id].hours) > 0
