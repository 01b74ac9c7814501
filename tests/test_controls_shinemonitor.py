"""ShineMonitor battery controls at the api level, against the simulator."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from yarl import URL

from custom_components.solar_cloud.api.controls import (
    BATTERY_DISCHARGE_CUTOFF_SOC,
    ControlKind,
    ControlSpec,
    ForceRequest,
    TaskState,
)
from custom_components.solar_cloud.api.crypto import (
    shinemonitor_auth_sign,
    shinemonitor_query_tail,
    shinemonitor_sign,
)
from custom_components.solar_cloud.api.errors import (
    CommandRejectedError,
    PermissionDeniedError,
    RateLimitedError,
)
from custom_components.solar_cloud.api.models import Device, DeviceKind, Plant
from custom_components.solar_cloud.api.shinemonitor import (
    BATTERY_CUTOFF_VOLTAGE,
    BATTERY_MAX_AC_CHARGE_CURRENT,
    BATTERY_MAX_CHARGE_CURRENT,
    CHARGER_SOURCE_PRIORITY,
    CONTROL_POLL_INTERVAL,
    CONTROL_TIMEOUT,
    E_CALLS,
    OUTPUT_SOURCE_PRIORITY,
    ShineMonitorClient,
    build_meta,
    control_range,
    is_one_shot,
    match_rule,
    nominal_voltage,
    option_key,
    parse_hint_ranges,
    reply_text,
    voltage_window,
)
from tests.common import FakeClock
from tests.simulators.shinemonitor import ACK_HEX, NAK_HEX, PENDING_TTL, ShineMonitorSimulator
from tests.vendor_shinemonitor import KEY, PASSWORD, USER, make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC).

# Field ids of devcode 2376 in the simulator.
F_OUTPUT = "bse_eybond_ctrl_49"
F_CHARGER = "bat_eybond_ctrl_75"
F_MAX_CHARGE = "bat_eybond_ctrl_76"
F_MAX_AC = "bat_eybond_ctrl_77"
F_CUTOFF_V = "bat_eybond_ctrl_73"
F_CUTOFF_SOC = "bat_eybond_ctrl_84"
ONE_SHOTS = {
    "sys_forced_eq_charging",
    "sys_exit_fault_mode",
    "sys_eybond_ctrl_95",
    "sys_eybond_ctrl_96",
    "sys_eybond_ctrl_97",
    "sys_eybond_ctrl_98",
}
KEYS = {
    OUTPUT_SOURCE_PRIORITY,
    CHARGER_SOURCE_PRIORITY,
    BATTERY_MAX_CHARGE_CURRENT,
    BATTERY_MAX_AC_CHARGE_CURRENT,
    BATTERY_CUTOFF_VOLTAGE,
    BATTERY_DISCHARGE_CUTOFF_SOC,
}


# -- pure helpers -------------------------------------------------------------------------------


def test_hint_ranges_and_battery_voltage() -> None:
    """Hints in every spelling the cloud uses; 12 / 24 / 48 V classes from the live voltage."""
    assert parse_hint_ranges("25.0~80A") == [(25.0, 80.0)]
    assert parse_hint_ranges("54.4~48.0V") == [(48.0, 54.4)]
    assert parse_hint_ranges("0-900min") == [(0.0, 900.0)]
    assert parse_hint_ranges("21.0~24.0V 42.0~48.0V") == [(21.0, 24.0), (42.0, 48.0)]
    assert parse_hint_ranges("清除记录") == []
    assert parse_hint_ranges(None) == []
    assert nominal_voltage(13.1) == 12
    assert nominal_voltage(26.4) == 24
    assert nominal_voltage(52.3) == 48
    assert nominal_voltage(100.0) is None
    assert nominal_voltage(None) is None
    assert voltage_window(48) == (40.0, 62.0)
    assert voltage_window(12) == (10.0, 15.5)


def test_control_range() -> None:
    """Hint ∩ live value ∩ battery voltage, else a narrow band around the live value."""
    # The hint holds the live value: it is the range.
    assert control_range("A", "25.0~80A", 60.0, None) == (25.0, 80.0, None)
    assert control_range("V", "40.0~46.0V", 42.0, 48) == (40.0, 46.0, None)
    # A hint wider than the battery allows is cut to the battery's window.
    assert control_range("V", "0.0~50.0V", 44.0, 48) == (40.0, 50.0, None)
    # One range per battery voltage: the one of this battery.
    assert control_range("V", "21.0~24.0V 42.0~48.0V", 44.0, 48) == (42.0, 48.0, None)
    assert control_range("V", "21.0~24.0V 42.0~48.0V", 22.0, 24) == (21.0, 24.0, None)
    # A 24 V hint on a 48 V battery: a band around the live value, and why.
    low, high, why = control_range("V", "25.0~30.0V", 42.0, 48) or (0, 0, None)
    assert (low, high) == (40.0, 44.0)
    assert why is not None
    assert "does not fit a 48 V battery" in why
    # The live value outside the hint.
    low, high, why = control_range("A", "2~50.0A", 55.0, None) or (0, 0, None)
    assert (low, high) == (45.0, 65.0)
    assert why is not None
    assert "outside the hint" in why
    # No hint at all: SOC within 5–95 %.
    assert control_range("%", None, 20.0, None) == (
        5.0,
        40.0,
        "no range hint; offered 5–40 % around the current value",
    )
    # Battery voltage unknown: a voltage hint cannot be trusted.
    low, high, why = control_range("V", "40.0~46.0V", 42.0, None) or (0, 0, None)
    assert (low, high) == (41.5, 42.5)
    assert why is not None
    assert "battery voltage unknown" in why
    # A live voltage that does not fit the battery: no range at all.
    assert control_range("V", "40.0~46.0V", 27.0, 48) is None


def test_field_matching() -> None:
    """Battery fields by name (three devcodes' spellings); one-shots never."""
    names = {
        "Output priority": OUTPUT_SOURCE_PRIORITY,
        "Output Source Priority": OUTPUT_SOURCE_PRIORITY,
        "Output source priority rating": OUTPUT_SOURCE_PRIORITY,
        "Charger Source Priority": CHARGER_SOURCE_PRIORITY,
        "Max.Charging Current": BATTERY_MAX_CHARGE_CURRENT,
        "Max Total Charge Current": BATTERY_MAX_CHARGE_CURRENT,
        "Max. Charging Current": BATTERY_MAX_CHARGE_CURRENT,
        "Max.AC.Charging Current": BATTERY_MAX_AC_CHARGE_CURRENT,
        "Max Utility Charge Current": BATTERY_MAX_AC_CHARGE_CURRENT,
        "Low DC Protection Voltage In Off-Grid Mode": BATTERY_CUTOFF_VOLTAGE,
        "Battery Cut-off Voltage": BATTERY_CUTOFF_VOLTAGE,
        "Off grid mode battery discharge SOC protection value": BATTERY_DISCHARGE_CUTOFF_SOC,
    }
    choices = [{"key": "0", "val": "A"}, {"key": "1", "val": "B"}]
    for name, key in names.items():
        rule = match_rule({"id": "x", "name": name, "item": choices})
        assert rule is not None, name
        assert rule.key == key, name
    for name in (
        "Low DC Protection Voltage In Mains Mode",
        "Low DC Protection SOC In Grid Mode",
        "SOC recovery value of battery discharge in mains mode",
        "Bulk Charging Voltage (C.V Voltage)",
        "Battery Type",
        "PV+AC max charging current (More than 100A)",
    ):
        assert match_rule({"id": "x", "name": name}) is None, name
    for field in (
        {"name": "Reset User Settings", "item": [{"key": "170", "val": "Reset User Settings"}]},
        {"name": "Output control", "item": [{"key": "0", "val": "OFF"}, {"key": "1", "val": "ON"}]},
        {"name": "Boot method", "item": choices},
        {"name": "Exit Fault Mode", "item": [{"key": "1", "val": "Exit Fault Mode"}]},
        # A single-choice field acts once, whatever its name.
        {"name": "Output priority", "item": [{"key": "1", "val": "SBU"}]},
    ):
        assert is_one_shot(field), field
        assert match_rule(field) is None
    assert option_key("PV Is At The Same Level As Utility") == "pv_is_at_the_same_level_as_utility"
    assert reply_text(ACK_HEX) == "(ACK9"
    assert reply_text(NAK_HEX) == "(NAKss"
    assert reply_text("not hex") == "not hex"
    assert reply_text(None) == ""


def test_field_mapping() -> None:
    """Options become stable keys (unknown labels a snake_case); listed values stay numbers."""
    rule = match_rule({"name": "Output Source Priority", "item": [{}, {}]})
    assert rule is not None
    meta, _why = build_meta(
        rule,
        {
            "id": "los_output_source_priority",
            "name": "Output Source Priority",
            "item": [
                {"key": "0", "val": "Utility"},
                {"key": "1", "val": "Solar"},
                {"key": "2", "val": "SBU"},
                {"key": "3", "val": "Battery Backup Mode"},
            ],
        },
    )
    assert meta is not None
    assert dict(meta.options) == {
        "utility_first": "0",
        "solar_first": "1",
        "solar_battery_utility": "2",
        "battery_backup_mode": "3",
    }
    rule = match_rule({"name": "Max. AC Charging Current"})
    assert rule is not None
    meta, _why = build_meta(
        rule,
        {
            "id": "bat_ac_charging_current",
            "unit": "A",
            "item": [{"key": "002", "val": "2.0"}, {"key": "010", "val": "10A"}],
        },
    )
    assert meta is not None
    assert dict(meta.choices) == {"002": 2.0, "010": 10.0}
    meta, why = build_meta(rule, {"id": "x", "unit": "kW"})
    assert meta is None
    assert "kW" in why


# -- against the simulator ------------------------------------------------------------------------


@pytest.fixture
def sim(clock: FakeClock) -> ShineMonitorSimulator:
    """An account with one plant: a grid-tie inverter and an energy-storage inverter."""
    return make_simulator(clock, plants=1)


@pytest.fixture
def client(session: aiohttp.ClientSession, base_url: str, clock: FakeClock) -> ShineMonitorClient:
    """A client on the shared clock."""
    return make_client(session, base_url, clock)


async def _inventory(client: ShineMonitorClient) -> tuple[Plant, list[Device], Device, Device]:
    (plant,) = await client.async_get_plants()
    devices = await client.async_get_devices([plant])
    storage = next(d for d in devices if d.kind is DeviceKind.ENERGY_STORAGE)
    pv = next(d for d in devices if d.kind is DeviceKind.INVERTER)
    return plant, devices, storage, pv


async def _specs(client: ShineMonitorClient) -> tuple[Plant, Device, dict[str, ControlSpec]]:
    plant, devices, storage, _pv = await _inventory(client)
    specs, _reasons = await client.async_get_controls(plant, devices)
    return plant, storage, {s.key: s for s in specs}


def _commands(sim: ShineMonitorSimulator) -> list[tuple[str, str, str, str]]:
    return [(sn, field_id, val, outcome) for _t, sn, field_id, val, outcome in sim.control_commands]


async def test_controls_offered(client: ShineMonitorClient, sim: ShineMonitorSimulator) -> None:
    """Six battery controls on the storage inverter, none on the grid-tie one, no one-shots."""
    plant, devices, storage, pv = await _inventory(client)
    specs, reasons = await client.async_get_controls(plant, devices)
    by_key = {s.key: s for s in specs}
    assert set(by_key) == KEYS
    assert {s.device_id for s in specs} == {storage.id}
    # The simulator lists the one-shot commands; none is offered.
    assert {f["id"] for f in sim.control_fields()} >= ONE_SHOTS
    assert not {s.vendor_ref for s in specs} & ONE_SHOTS
    output = by_key[OUTPUT_SOURCE_PRIORITY]
    assert output.kind is ControlKind.SELECT
    assert output.vendor_ref == F_OUTPUT
    assert output.options == (
        "utility_first",
        "solar_first",
        "solar_battery_utility",
        "solar_utility_battery",
    )
    assert output.label == "Output priority"
    charger = by_key[CHARGER_SOURCE_PRIORITY]
    assert charger.options == ("utility_first", "pv_first", "pv_and_utility", "pv_only")
    # Hints that hold the live value are the ranges.
    current = by_key[BATTERY_MAX_CHARGE_CURRENT]
    assert (current.kind, current.unit) == (ControlKind.NUMBER, "A")
    assert (current.minimum, current.maximum, current.step) == (25.0, 80.0, 1.0)
    ac = by_key[BATTERY_MAX_AC_CHARGE_CURRENT]
    assert (ac.minimum, ac.maximum) == (2.0, 50.0)
    # The cut-off's hint is a 24 V range on a 48 V battery: a band around the live 42.0 V.
    cutoff = by_key[BATTERY_CUTOFF_VOLTAGE]
    assert (cutoff.unit, cutoff.minimum, cutoff.maximum, cutoff.step) == ("V", 40.0, 44.0, 0.1)
    assert "'25.0~30.0V' does not fit a 48 V battery" in reasons[f"{BATTERY_CUTOFF_VOLTAGE}:range"]
    # The SOC field has no hint: 20 % live, ±20 within 5–95.
    soc = by_key[BATTERY_DISCHARGE_CUTOFF_SOC]
    assert (soc.unit, soc.minimum, soc.maximum) == ("%", 5.0, 40.0)
    assert soc.vendor_ref == F_CUTOFF_SOC
    assert "no range hint" in reasons[f"{BATTERY_DISCHARGE_CUTOFF_SOC}:range"]
    assert "grid-tie" in reasons[pv.id]
    assert f"{BATTERY_MAX_CHARGE_CURRENT}:range" not in reasons
    # The field list is cached per devcode.
    assert sim.calls["queryDeviceCtrlField"] == 1
    await client.async_get_controls(plant, devices)
    assert sim.calls["queryDeviceCtrlField"] == 1


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("40.0~46.0V", (40.0, 46.0)),
        ("0.0~50.0V", (40.0, 50.0)),
        ("21.0~24.0V 42.0~48.0V", (42.0, 48.0)),
        ("44.0~48.0V", (40.0, 44.0)),  # live 42.0 V is outside: a band around it
    ],
)
async def test_voltage_hints(
    client: ShineMonitorClient,
    sim: ShineMonitorSimulator,
    hint: str,
    expected: tuple[float, float],
) -> None:
    """The cut-off voltage's range follows a usable hint, cut to the 48 V battery."""
    sim.set_field_hint(F_CUTOFF_V, hint)
    _plant, _storage, specs = await _specs(client)
    spec = specs[BATTERY_CUTOFF_VOLTAGE]
    assert (spec.minimum, spec.maximum) == expected


async def test_live_value_outside_the_hint(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """A live value outside the hint makes the range a band around it, with the reason."""
    plant, devices, storage, _pv = await _inventory(client)
    sim.set_control_value(storage.id, F_MAX_AC, "55")
    specs, reasons = await client.async_get_controls(plant, devices)
    spec = next(s for s in specs if s.key == BATTERY_MAX_AC_CHARGE_CURRENT)
    assert (spec.minimum, spec.maximum) == (45.0, 65.0)
    assert "outside the hint" in reasons[f"{BATTERY_MAX_AC_CHARGE_CURRENT}:range"]


async def test_read_controls(
    client: ShineMonitorClient,
    sim: ShineMonitorSimulator,
    session: aiohttp.ClientSession,
    base_url: str,
    clock: FakeClock,
) -> None:
    """Values read from the device, as option keys and numbers in the spec's unit."""
    plant, storage, specs = await _specs(client)
    values = await client.async_read_controls(plant, list(specs.values()))
    assert values == {
        (storage.id, OUTPUT_SOURCE_PRIORITY): "solar_battery_utility",
        (storage.id, CHARGER_SOURCE_PRIORITY): "pv_first",
        (storage.id, BATTERY_MAX_CHARGE_CURRENT): 60.0,
        (storage.id, BATTERY_MAX_AC_CHARGE_CURRENT): 30.0,
        (storage.id, BATTERY_CUTOFF_VOLTAGE): 42.0,
        (storage.id, BATTERY_DISCHARGE_CUTOFF_SOC): 20.0,
    }
    sim.set_control_value(storage.id, F_OUTPUT, "0")
    values = await client.async_read_controls(plant, [specs[OUTPUT_SOURCE_PRIORITY]])
    assert values == {(storage.id, OUTPUT_SOURCE_PRIORITY): "utility_first"}
    # A new client (after a restart) reads the same specs without listing the controls first.
    fresh = make_client(session, base_url, clock)
    values = await fresh.async_read_controls(plant, list(specs.values()))
    assert values[(storage.id, BATTERY_CUTOFF_VOLTAGE)] == 42.0
    assert values[(storage.id, OUTPUT_SOURCE_PRIORITY)] == "utility_first"


@pytest.mark.parametrize(
    ("key", "field_id", "value", "stored"),
    [
        (OUTPUT_SOURCE_PRIORITY, F_OUTPUT, "utility_first", "0"),
        (OUTPUT_SOURCE_PRIORITY, F_OUTPUT, "solar_utility_battery", "3"),
        (CHARGER_SOURCE_PRIORITY, F_CHARGER, "pv_only", "3"),
        (BATTERY_MAX_CHARGE_CURRENT, F_MAX_CHARGE, 45.0, "45"),
        (BATTERY_MAX_AC_CHARGE_CURRENT, F_MAX_AC, 20, "20"),
        (BATTERY_CUTOFF_VOLTAGE, F_CUTOFF_V, 43.5, "43.5"),
        (BATTERY_DISCHARGE_CUTOFF_SOC, F_CUTOFF_SOC, 25.0, "25"),
    ],
)
async def test_write_each_control(
    client: ShineMonitorClient,
    sim: ShineMonitorSimulator,
    key: str,
    field_id: str,
    value: float | str,
    stored: str,
) -> None:
    """The value reaches the device, the task succeeds on the read-back, which shows it."""
    plant, storage, specs = await _specs(client)
    remaining = client.quota.remaining(E_CALLS)
    task = await client.async_start_control(plant, specs[key], value)
    assert task.state is TaskState.SUCCESS
    assert task.done
    assert task.finished_at is not None
    assert task.reason is None
    assert (
        (task.poll_interval, task.timeout)
        == (CONTROL_POLL_INTERVAL, CONTROL_TIMEOUT)
        == (
            10.0,
            60.0,
        )
    )
    assert task.action == key
    assert task.device_id == storage.id
    assert task.details["status"] == 0
    assert task.details["reply"] == "(ACK9"
    assert task.details["read_back"] == stored
    assert _commands(sim) == [(storage.id, field_id, stored, "status 0")]
    assert sim.control_value(storage.id, field_id) == stored
    # ctrlDevice and the read-back both count against the account's allowance.
    assert client.quota.remaining(E_CALLS) == (remaining or 0) - 2
    values = await client.async_read_controls(plant, [specs[key]])
    assert values == {(storage.id, key): value if isinstance(value, str) else float(value)}
    # Polling a finished task changes nothing.
    assert (await client.async_poll_task(task)).state is TaskState.SUCCESS


async def test_unprocessed_command_lands_later(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Status -1: the task runs until the read-back shows the value."""
    plant, storage, specs = await _specs(client)
    sim.set_task_delay(25.0)
    task = await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_CURRENT], 50)
    assert task.state is TaskState.RUNNING
    assert task.details["status"] == -1
    assert sim.control_value(storage.id, F_MAX_CHARGE) == "60"
    clock.now += CONTROL_POLL_INTERVAL
    task = await client.async_poll_task(task)
    assert task.state is TaskState.RUNNING
    assert task.details["read_back"] == "60"
    clock.now += 2 * CONTROL_POLL_INTERVAL
    task = await client.async_poll_task(task)
    assert task.state is TaskState.SUCCESS
    assert task.finished_at == clock.now
    assert sim.control_value(storage.id, F_MAX_CHARGE) == "50"
    assert len(_commands(sim)) == 1  # never sent again


async def test_unprocessed_command_times_out(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Status -1 and the value never lands: TIMED_OUT after a minute, value unchanged."""
    plant, storage, specs = await _specs(client)
    sim.set_task_delay(None)
    task = await client.async_start_control(plant, specs[OUTPUT_SOURCE_PRIORITY], "solar_first")
    assert task.state is TaskState.RUNNING
    for _ in range(5):
        clock.now += CONTROL_POLL_INTERVAL
        task = await client.async_poll_task(task)
        assert task.state is TaskState.RUNNING
    clock.now += CONTROL_POLL_INTERVAL
    task = await client.async_poll_task(task)
    assert task.state is TaskState.TIMED_OUT
    assert task.reason is not None
    assert "status -1" in task.reason
    assert "'2'" in task.reason
    assert sim.control_value(storage.id, F_OUTPUT) == "2"
    assert len(_commands(sim)) == 1


async def test_device_refuses(client: ShineMonitorClient, sim: ShineMonitorSimulator) -> None:
    """Status 1 fails the task with the device's reply; the stored value stays."""
    plant, storage, specs = await _specs(client)
    sim.fail_next_task()
    task = await client.async_start_control(plant, specs[BATTERY_CUTOFF_VOLTAGE], 41.0)
    assert task.state is TaskState.FAILED
    assert task.reason is not None
    assert "status 1" in task.reason
    assert "(NAKss" in task.reason
    assert task.finished_at is not None
    assert sim.control_value(storage.id, F_CUTOFF_V) == "42.0"
    assert _commands(sim) == [(storage.id, F_CUTOFF_V, "41.0", "status 1")]
    # The next command goes through.
    task = await client.async_start_control(plant, specs[BATTERY_CUTOFF_VOLTAGE], 41.0)
    assert task.state is TaskState.SUCCESS
    assert sim.control_value(storage.id, F_CUTOFF_V) == "41.0"


async def test_delivered_but_not_applied(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """Status 0, but the read-back shows the old value: FAILED, with what the device reports."""
    plant, storage, specs = await _specs(client)
    sim.ignore_next_task()
    task = await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_CURRENT], 45)
    assert task.state is TaskState.FAILED
    assert task.reason == "delivered, but the device reports '60' instead of '45'"
    assert task.details["read_back"] == "60"
    assert sim.control_value(storage.id, F_MAX_CHARGE) == "60"
    # Nothing in flight: the next command is taken.
    task = await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_CURRENT], 45)
    assert task.state is TaskState.SUCCESS


async def test_read_back_unavailable_then_polled(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Delivered, but the first read-back has no value: polled until it shows the value."""
    plant, storage, specs = await _specs(client)
    sim.inject("na_values", path="queryDeviceCtrlValue")
    task = await client.async_start_control(plant, specs[BATTERY_DISCHARGE_CUTOFF_SOC], 30)
    assert task.state is TaskState.RUNNING
    assert task.details["status"] == 0
    clock.now += CONTROL_POLL_INTERVAL
    task = await client.async_poll_task(task)
    assert task.state is TaskState.SUCCESS
    assert sim.control_value(storage.id, F_CUTOFF_SOC) == "30"


async def test_one_command_at_a_time(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """A second command while one is unprocessed: refused by the client, then by the cloud."""
    plant, storage, specs = await _specs(client)
    sim.set_task_delay(None)
    first = await client.async_start_control(plant, specs[BATTERY_MAX_AC_CHARGE_CURRENT], 10)
    assert first.state is TaskState.RUNNING
    with pytest.raises(CommandRejectedError) as err:
        await client.async_start_control(plant, specs[OUTPUT_SOURCE_PRIORITY], "solar_first")
    assert err.value.code == "task_running"
    assert len(_commands(sim)) == 1
    # Past the task's timeout the client lets a command through; the collector still holds
    # the old one and the cloud refuses (14).
    clock.now += CONTROL_TIMEOUT + 1
    with pytest.raises(CommandRejectedError) as err:
        await client.async_start_control(plant, specs[OUTPUT_SOURCE_PRIORITY], "solar_first")
    assert err.value.code == "14"
    assert _commands(sim)[-1][3] == "err 14"
    # Once the collector drops the unprocessed command, a new one is taken.
    clock.now += PENDING_TTL
    sim.set_task_delay(0)
    task = await client.async_start_control(plant, specs[OUTPUT_SOURCE_PRIORITY], "solar_first")
    assert task.state is TaskState.SUCCESS
    assert sim.control_value(storage.id, F_OUTPUT) == "1"
    assert sim.control_value(storage.id, F_MAX_AC) == "30"


async def test_out_of_range_refused_by_the_cloud(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """Beyond the device's own limits the cloud answers 6; bad inputs never leave the client."""
    plant, storage, specs = await _specs(client)
    wide = replace(specs[BATTERY_MAX_CHARGE_CURRENT], maximum=200.0)
    with pytest.raises(CommandRejectedError) as err:
        await client.async_start_control(plant, wide, 90)
    assert err.value.code == "6"
    assert err.value.vendor_message == "ERR_FORMAT_ERROR(val out of range)"
    assert sim.control_value(storage.id, F_MAX_CHARGE) == "60"
    assert _commands(sim) == [(storage.id, F_MAX_CHARGE, "90", "err 6")]
    for spec, value, code in (
        (specs[OUTPUT_SOURCE_PRIORITY], "battery_first", "invalid_option"),
        (specs[BATTERY_MAX_CHARGE_CURRENT], 45.5, "step"),
        (specs[BATTERY_CUTOFF_VOLTAGE], "high", "invalid"),
    ):
        with pytest.raises(CommandRejectedError) as err:
            await client.async_start_control(plant, spec, value)
        assert err.value.code == code
    assert len(_commands(sim)) == 1


async def test_cloud_refusal_codes(client: ShineMonitorClient, sim: ShineMonitorSimulator) -> None:
    """The documented ctrlDevice errors refuse the command with the vendor's code."""
    plant, _storage, specs = await _specs(client)
    for code in (1, 6, 9):
        sim.inject(f"fail_code:{code}", path="ctrlDevice")
        with pytest.raises(CommandRejectedError) as err:
            await client.async_start_control(plant, specs[OUTPUT_SOURCE_PRIORITY], "solar_first")
        assert err.value.code == str(code)
    assert sim.calls["ctrlDevice"] == 0  # injected faults answer before the endpoint


async def test_permission_denied(client: ShineMonitorClient, sim: ShineMonitorSimulator) -> None:
    """A view-only account (8) and another account's device (11)."""
    plant, storage, specs = await _specs(client)
    sim.deny_control(True)
    with pytest.raises(PermissionDeniedError) as err:
        await client.async_start_control(plant, specs[OUTPUT_SOURCE_PRIORITY], "solar_first")
    assert err.value.code == "8"
    assert sim.control_value(storage.id, F_OUTPUT) == "2"
    sim.deny_control(False)
    sim.inject("fail_code:11", path="ctrlDevice")
    with pytest.raises(PermissionDeniedError) as err:
        await client.async_start_control(plant, specs[OUTPUT_SOURCE_PRIORITY], "solar_first")
    assert err.value.code == "11"
    task = await client.async_start_control(plant, specs[OUTPUT_SOURCE_PRIORITY], "solar_first")
    assert task.state is TaskState.SUCCESS


async def test_offline(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, clock: FakeClock
) -> None:
    """Collector offline: refused (263), values unknown. Device offline: no answer, timed out."""
    plant, storage, specs = await _specs(client)
    pn = sim.devices(int(plant.id))[0]["pn"]
    sim.set_collector_offline(pn)
    with pytest.raises(CommandRejectedError) as err:
        await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_CURRENT], 40)
    assert err.value.code == "263"
    values = await client.async_read_controls(plant, list(specs.values()))
    assert set(values.values()) == {None}
    sim.set_collector_offline(pn, False)

    sim.set_device_offline(storage.id)
    task = await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_CURRENT], 40)
    assert task.state is TaskState.RUNNING
    assert task.details["status"] == "no_answer"
    clock.now += CONTROL_TIMEOUT
    task = await client.async_poll_task(task)
    assert task.state is TaskState.TIMED_OUT
    assert task.reason is not None
    assert "did not answer" in task.reason
    assert sim.control_value(storage.id, F_MAX_CHARGE) == "60"


async def test_offline_device_has_no_number_controls(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """Without live values no number range can be checked: only the selects are offered."""
    plant, devices, storage, _pv = await _inventory(client)
    sim.set_device_offline(storage.id)
    specs, reasons = await client.async_get_controls(plant, devices)
    assert {s.key for s in specs} == {OUTPUT_SOURCE_PRIORITY, CHARGER_SOURCE_PRIORITY}
    assert "cannot be read" in reasons[BATTERY_MAX_CHARGE_CURRENT]


async def test_rate_limited(client: ShineMonitorClient, sim: ShineMonitorSimulator) -> None:
    """13 on ctrlDevice: RateLimitedError, nothing resent, value unchanged."""
    plant, storage, specs = await _specs(client)
    sim.inject("fail_code:13", path="ctrlDevice")
    with pytest.raises(RateLimitedError) as err:
        await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_CURRENT], 40)
    assert err.value.retry_after > 0
    assert sum(1 for r in sim.requests if r[1] == "ctrlDevice") == 1
    assert sim.control_value(storage.id, F_MAX_CHARGE) == "60"
    # Held until the pause ends.
    with pytest.raises(RateLimitedError):
        await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_CURRENT], 40)
    assert sum(1 for r in sim.requests if r[1] == "ctrlDevice") == 1


async def test_expired_token_renewed_once(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """A token the cloud refuses (before running the command) is renewed; the command runs once."""
    plant, storage, specs = await _specs(client)
    logins = client.logins
    sim.expire_tokens()
    task = await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_CURRENT], 70)
    assert task.state is TaskState.SUCCESS
    assert client.logins == logins + 1
    assert _commands(sim) == [(storage.id, F_MAX_CHARGE, "70", "status 0")]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1, "no control protocol"), (12, "no control items")],
)
async def test_no_control_fields(
    client: ShineMonitorClient, sim: ShineMonitorSimulator, code: int, reason: str
) -> None:
    """A devcode without a control protocol or visible items: no specs, the reason kept."""
    sim.set_control_schema_error(2376, code)
    plant, devices, storage, _pv = await _inventory(client)
    specs, reasons = await client.async_get_controls(plant, devices)
    assert specs == []
    assert reason in reasons[storage.id]
    # Cached like a field list.
    await client.async_get_controls(plant, devices)
    assert sim.calls["queryDeviceCtrlField"] == 1


async def test_no_permission_for_fields(
    client: ShineMonitorClient, sim: ShineMonitorSimulator
) -> None:
    """A field query the account may not make: no specs, the reason recorded, not cached."""
    plant, devices, storage, _pv = await _inventory(client)
    sim.inject("fail_code:11", path="queryDeviceCtrlField")
    specs, reasons = await client.async_get_controls(plant, devices)
    assert specs == []
    assert "permission" in reasons[storage.id]
    specs, _reasons = await client.async_get_controls(plant, devices)
    assert {s.key for s in specs} == KEYS


async def test_no_forced_charge(client: ShineMonitorClient) -> None:
    """Forced charge and discharge are not offered."""
    plant, devices, _storage, _pv = await _inventory(client)
    assert client.can_force(plant, devices) is False
    assert client.force_limits_native is False
    with pytest.raises(CommandRejectedError) as err:
        await client.async_start_force(plant, None, ForceRequest(False, 2000.0, 30.0))
    assert err.value.code == "unsupported"
    with pytest.raises(CommandRejectedError) as err:
        await client.async_stop_force(plant, None)
    assert err.value.code == "unsupported"


# -- the simulator's control endpoints on the wire ------------------------------------------------


async def _raw(
    session: aiohttp.ClientSession,
    base_url: str,
    action: str,
    params: list[tuple[str, str]],
    *,
    bad_sign: bool = False,
) -> dict[str, Any]:
    """A signed business call made by hand (auth first)."""
    salt = "123456789"
    tail = shinemonitor_query_tail("auth", [("usr", USER), ("company-key", KEY)])
    sign = shinemonitor_auth_sign(salt, PASSWORD, tail)
    async with session.get(
        URL(f"{base_url}/public/?sign={sign}&salt={salt}{tail}", encoded=True)
    ) as response:
        auth = await response.json()
    token, secret = auth["dat"]["token"], auth["dat"]["secret"]
    tail = shinemonitor_query_tail(action, params)
    sign = shinemonitor_sign(salt, secret, token, tail)
    if bad_sign:
        sign = "0" * 40
    query = f"sign={sign}&salt={salt}&token={token}{tail}"
    async with session.get(URL(f"{base_url}/public/?{query}", encoded=True)) as response:
        body: dict[str, Any] = await response.json()
    return body


async def test_simulator_control_endpoints(
    session: aiohttp.ClientSession, base_url: str, sim: ShineMonitorSimulator
) -> None:
    """Signing, required parameters, unknown ids and values, the grid-tie device."""
    plant_id = sim.plant_ids(USER)[0]
    pv, storage = sim.devices(plant_id)
    st = [(k, str(storage[k])) for k in ("pn", "devcode", "devaddr", "sn")]
    pvt = [(k, str(pv[k])) for k in ("pn", "devcode", "devaddr", "sn")]

    async def err(action: str, params: list[tuple[str, str]], **kwargs: bool) -> int:
        return int((await _raw(session, base_url, action, params, **kwargs))["err"])

    fields = await _raw(session, base_url, "queryDeviceCtrlField", [*st, ("i18n", "en_US")])
    assert fields["err"] == 0
    assert fields["dat"]["field"] == sim.control_fields()
    assert await err("queryDeviceCtrlField", st) == 7  # i18n required
    assert await err("queryDeviceCtrlField", [*pvt, ("i18n", "en_US")]) == 12
    value = await _raw(session, base_url, "queryDeviceCtrlValue", [*st, ("id", F_MAX_CHARGE)])
    assert value["dat"] == {"id": F_MAX_CHARGE, "name": "Max.Charging Current", "val": "60"}
    assert await err("queryDeviceCtrlValue", [*st, ("id", "nope")]) == 6
    assert await err("ctrlDevice", [*st, ("id", F_MAX_CHARGE), ("val", "50")], bad_sign=True) == 4
    assert await err("ctrlDevice", [*st, ("id", F_MAX_CHARGE)]) == 7
    assert await err("ctrlDevice", [*st, ("id", F_MAX_CHARGE), ("val", "50.5")]) == 6
    assert await err("ctrlDevice", [*st, ("id", F_MAX_CHARGE), ("val", "5")]) == 6
    assert await err("ctrlDevice", [*st, ("id", F_OUTPUT), ("val", "7")]) == 6
    assert await err("ctrlDevice", [*pvt, ("id", F_OUTPUT), ("val", "1")]) == 9
    # The displayed hint (25.0~30.0V) is not the device's limit (40.0–48.0 V).
    assert await err("ctrlDevice", [*st, ("id", F_CUTOFF_V), ("val", "28.0")]) == 6
    done = await _raw(session, base_url, "ctrlDevice", [*st, ("id", F_CUTOFF_V), ("val", "47")])
    assert done["dat"] == {"dat": ACK_HEX, "status": 0}
    assert sim.control_value(str(storage["sn"]), F_CUTOFF_V) == "47.0"
    # A one-shot command is acknowledged and stores nothing.
    reset = await _raw(
        session, base_url, "ctrlDevice", [*st, ("id", "sys_eybond_ctrl_96"), ("val", "170")]
    )
    assert reset["dat"]["status"] == 0
    assert sim.control_value(str(storage["sn"]), "sys_eybond_ctrl_96") is None
