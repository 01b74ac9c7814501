"""FusionSolar battery controls at the api level, against the simulator."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from custom_components.solar_cloud.api.controls import (
    BATTERY_CHARGE_CUTOFF_SOC,
    BATTERY_DISCHARGE_CUTOFF_SOC,
    BATTERY_MAX_CHARGE_POWER,
    BATTERY_MAX_DISCHARGE_POWER,
    BATTERY_WORKING_MODE,
    FORCE_CHARGE,
    FORCE_DISCHARGE,
    GRID_EXPORT_LIMIT,
    SET_TIME_OF_USE,
    STOP_FORCED_CHARGE,
    ControlKind,
    ControlSpec,
    ControlTask,
    ForceRequest,
    TaskState,
    TouWindow,
    tou_overlap,
)
from custom_components.solar_cloud.api.errors import (
    CommandRejectedError,
    PermissionDeniedError,
    RateLimitedError,
)
from custom_components.solar_cloud.api.huawei import (
    CONTROL_KEYS,
    CONTROL_PATHS,
    E_CONFIG,
    E_CONTROL_DAY,
    E_MODE,
    FALLBACK_MAX_POWER_W,
    FEED_IN_MAX_W,
    FORCE_POLL_INTERVAL,
    TASK_POLL_INTERVAL,
    TASK_SLOW_POLL_INTERVAL,
    TASK_TIMEOUT,
    HuaweiClient,
)
from custom_components.solar_cloud.api.models import Device, DeviceKind, Plant
from custom_components.solar_cloud.api.quota import Allowance, Quota
from tests.common import FakeClock
from tests.simulators.huawei import (
    BATTERY,
    DEFAULT_TASK_DELAY,
    ESS,
    POWER_SENSOR,
    RESIDENTIAL_INVERTER,
    HuaweiSimulator,
)
from tests.vendor_huawei import make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC); noon at the simulated plants.
DAY = 86_400.0
RATED_W = 2500.0  # the simulated battery's max_charge_power / max_discharge_power
DEFAULT_WINDOWS = [
    {
        "startTime": "00:00",
        "endTime": "06:00",
        "chargeOrDischarge": "charge",
        "repeat": [1, 2, 3, 4, 5, 6, 7],
    },
    {
        "startTime": "17:00",
        "endTime": "21:00",
        "chargeOrDischarge": "discharge",
        "repeat": [1, 2, 3, 4, 5],
    },
]


@pytest.fixture
def sim(clock: FakeClock) -> HuaweiSimulator:
    """One plant: residential inverter, battery and power sensor."""
    return make_simulator(clock, plants=1)


@pytest.fixture
def client(session: aiohttp.ClientSession, base_url: str, clock: FakeClock) -> HuaweiClient:
    """A client on the shared clock."""
    return make_client(session, base_url, clock)


async def _inventory(
    client: HuaweiClient, *, realtime: bool = True
) -> tuple[Plant, list[Device], Device]:
    (plant,) = await client.async_get_plants()
    devices = await client.async_get_devices([plant])
    if realtime:
        client.plan([plant], devices)
        await client.async_get_realtime([plant], devices)
    battery = next(d for d in devices if d.kind is DeviceKind.BATTERY)
    return plant, devices, battery


async def _specs(client: HuaweiClient) -> tuple[Plant, dict[str, ControlSpec]]:
    plant, devices, _battery = await _inventory(client)
    specs, _reasons = await client.async_get_controls(plant, devices)
    return plant, {s.key: s for s in specs}


async def _follow(client: HuaweiClient, clock: FakeClock, task: ControlTask) -> ControlTask:
    """Poll in the task's rhythm until it ends (the fake clock moves with it)."""
    for _ in range(1000):
        if task.done:
            return task
        clock.now += task.poll_interval
        task = await client.async_poll_task(task)
    raise AssertionError("the task never ended")


def _sent(sim: HuaweiSimulator, kind: str) -> list[dict[str, Any]]:
    """The plant entries of every submission of one kind that reached the simulator."""
    return [body["tasks"][0] for _t, name, body in sim.control_requests if name == kind]


async def _read(client: HuaweiClient, plant: Plant, spec: ControlSpec) -> Any:
    values = await client.async_read_controls(plant, [spec])
    return values[(spec.device_id, spec.key)]


# -- what is offered ------------------------------------------------------------------------------


async def test_controls_offered(client: HuaweiClient, sim: HuaweiSimulator) -> None:
    """Six controls: mode and configuration on the battery, the feed-in limit on the inverter."""
    plant, devices, battery = await _inventory(client)
    inverter = next(d for d in devices if d.kind is DeviceKind.INVERTER)
    specs, reasons = await client.async_get_controls(plant, devices)
    by_key = {s.key: s for s in specs}
    assert set(by_key) == set(CONTROL_KEYS)
    mode = by_key[BATTERY_WORKING_MODE]
    assert (mode.kind, mode.device_id) == (ControlKind.SELECT, battery.id)
    assert mode.options == ("self_consumption", "time_of_use")
    assert "thirdPartyDispatch" in reasons[f"{BATTERY_WORKING_MODE}:external_dispatch"]
    ranges = {
        key: (s.kind, s.device_id, s.unit, s.minimum, s.maximum, s.step)
        for key, s in by_key.items()
        if key != BATTERY_WORKING_MODE
    }
    number = ControlKind.NUMBER
    assert ranges == {
        BATTERY_CHARGE_CUTOFF_SOC: (number, battery.id, "%", 90.0, 100.0, 0.1),
        BATTERY_DISCHARGE_CUTOFF_SOC: (number, battery.id, "%", 0.0, 20.0, 0.1),
        # The battery's own maximum, from its real-time KPIs.
        BATTERY_MAX_CHARGE_POWER: (number, battery.id, "W", 0.0, RATED_W, 1.0),
        BATTERY_MAX_DISCHARGE_POWER: (number, battery.id, "W", 0.0, RATED_W, 1.0),
        GRID_EXPORT_LIMIT: (number, inverter.id, "W", 0.0, FEED_IN_MAX_W, 1.0),
    }
    assert client.can_force(plant, devices)
    assert client.force_limits_native is True
    # One permission check, kept: asking again sends nothing.
    assert sim.calls["battery/configuration/task-info"] == 1
    await client.async_get_controls(plant, devices)
    assert sim.calls["battery/configuration/task-info"] == 1
    assert client.diagnostics()["control_permission"] == "granted"
    # The working mode is known from the battery's KPIs; the other settings only once written.
    values = await client.async_read_controls(plant, specs)
    assert values[(battery.id, BATTERY_WORKING_MODE)] == "self_consumption"
    assert {k: v for (_d, k), v in values.items() if k != BATTERY_WORKING_MODE} == dict.fromkeys(
        set(CONTROL_KEYS) - {BATTERY_WORKING_MODE}
    )


async def test_rated_power_not_known_yet(client: HuaweiClient, sim: HuaweiSimulator) -> None:
    """Before any real-time round the power limits fall back to a generous bound, noted."""
    plant, devices, _battery = await _inventory(client, realtime=False)
    specs, reasons = await client.async_get_controls(plant, devices)
    by_key = {s.key: s for s in specs}
    assert by_key[BATTERY_MAX_CHARGE_POWER].maximum == FALLBACK_MAX_POWER_W
    assert "not known yet" in reasons[f"{BATTERY_MAX_DISCHARGE_POWER}:range"]
    # No real-time request was made for it.
    assert sim.calls["getDevRealKpi"] == 0


async def test_devices_of_other_shapes(client: HuaweiClient, sim: HuaweiSimulator) -> None:
    """A second battery and an ESS are noted; without an inverter the limit sits on the meter."""
    code = sim.plant_codes()[0]
    (inverter_id,) = sim.device_ids(code, RESIDENTIAL_INVERTER)
    sim.remove_device(inverter_id)
    second = sim.add_device(code, BATTERY)
    ess = sim.add_device(code, ESS)
    plant, devices, battery = await _inventory(client)
    specs, reasons = await client.async_get_controls(plant, devices)
    sensor = next(d for d in devices if d.kind is DeviceKind.POWER_SENSOR)
    by_key = {s.key: s for s in specs}
    assert by_key[GRID_EXPORT_LIMIT].device_id == sensor.id
    assert {s.device_id for s in specs if s.key != GRID_EXPORT_LIMIT} == {battery.id}
    assert battery.id != str(second)
    assert "shown on" in reasons[str(second)]
    assert "(41)" in reasons[str(ess)]


async def test_no_battery_no_controls(client: HuaweiClient, sim: HuaweiSimulator) -> None:
    """A plant without a battery has no controls and cannot be forced; nothing is asked."""
    code = sim.plant_codes()[0]
    (battery_id,) = sim.device_ids(code, BATTERY)
    sim.remove_device(battery_id)
    (plant,) = await client.async_get_plants()
    devices = await client.async_get_devices([plant])
    specs, reasons = await client.async_get_controls(plant, devices)
    assert specs == []
    assert set(reasons) >= set(CONTROL_KEYS)
    assert "no battery" in reasons[GRID_EXPORT_LIMIT]
    assert not client.can_force(plant, devices)
    assert sum(sim.calls[name] for name in CONTROL_PATHS) == 0


@pytest.mark.parametrize("code", [401, 20056])
async def test_no_permission_no_controls(
    client: HuaweiClient, sim: HuaweiSimulator, code: int
) -> None:
    """An account the cloud does not let control gets no specs, with the reason."""
    sim.deny_control(code=code)
    plant, devices, _battery = await _inventory(client)
    specs, reasons = await client.async_get_controls(plant, devices)
    assert specs == []
    assert reasons[BATTERY_WORKING_MODE] == f"no control permission ({code})"
    assert not client.can_force(plant, devices)
    # Kept for the day: not asked again.
    await client.async_get_controls(plant, devices)
    assert sim.calls["battery/configuration/task-info"] == 0
    asked = [r for r in sim.requests if r[1] == "battery/configuration/task-info"]
    assert len(asked) == 1


async def test_permission_check_kept_across_clients(
    session: aiohttp.ClientSession, base_url: str, clock: FakeClock, sim: HuaweiSimulator
) -> None:
    """A new client of the same account (a reload, a restart) does not ask again."""
    quota = Quota(clock=clock, sleep=clock.sleep)
    first = make_client(session, base_url, clock, quota=quota)
    plant, devices, _battery = await _inventory(first)
    assert (await first.async_get_controls(plant, devices))[0]
    second = make_client(session, base_url, clock, quota=quota)
    assert (await second.async_get_controls(plant, devices))[0]
    restored = Quota(clock=clock, sleep=clock.sleep)
    restored.restore(quota.export())
    third = make_client(session, base_url, clock, quota=restored)
    assert (await third.async_get_controls(plant, devices))[0]
    assert sim.calls["battery/configuration/task-info"] == 1
    # A day later it is checked again.
    clock.now += DAY
    await third.async_get_controls(plant, devices)
    assert sim.calls["battery/configuration/task-info"] == 2


async def test_permission_not_checked_offers_controls(
    client: HuaweiClient, sim: HuaweiSimulator
) -> None:
    """A check that cannot be made now (rate limit) does not hide the controls."""
    sim.inject("fail_code:407", path="battery/configuration/task-info")
    plant, devices, _battery = await _inventory(client)
    specs, reasons = await client.async_get_controls(plant, devices)
    assert len(specs) == len(CONTROL_KEYS)
    assert "not checked (407)" in reasons["permission"]


# -- writes that succeed ----------------------------------------------------------------------------


async def test_working_mode(client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock) -> None:
    """TOU keeps the plant's windows; the mode is read back from the task and the KPIs."""
    plant, specs = await _specs(client)
    spec = specs[BATTERY_WORKING_MODE]
    code = plant.id
    task = await client.async_start_control(plant, spec, "time_of_use")
    assert (task.state, task.action, task.value) == (
        TaskState.RUNNING,
        BATTERY_WORKING_MODE,
        "time_of_use",
    )
    assert (task.poll_interval, task.timeout) == (TASK_POLL_INTERVAL, TASK_TIMEOUT)
    # No windows were read back yet: none are sent, and the plant keeps its own.
    assert _sent(sim, "battery/mode") == [{"plantCode": code, "operationMode": "TOU"}]
    clock.now += TASK_POLL_INTERVAL
    task = await client.async_poll_task(task)
    assert task.state is TaskState.RUNNING
    assert await _read(client, plant, spec) == "self_consumption"
    task = await _follow(client, clock, task)
    assert task.state is TaskState.SUCCESS
    assert task.finished_at == clock.now
    assert task.reason is None
    assert await _read(client, plant, spec) == "time_of_use"
    settings = sim.battery_settings(code)
    assert settings["operationMode"] == "TOU"
    assert settings["chargingAndDischargingTimeWindow"] == DEFAULT_WINDOWS
    battery_kpis = next(k for k in sim.raw_kpis(code).values() if "ch_discharge_model" in k)
    assert battery_kpis["ch_discharge_model"] == 2

    # Back to self-consumption: the companions read back are sent unchanged, no windows.
    task = await _follow(
        client, clock, await client.async_start_control(plant, spec, "self_consumption")
    )
    assert task.state is TaskState.SUCCESS
    assert _sent(sim, "battery/mode")[-1] == {
        "plantCode": code,
        "operationMode": "maximumSelfConsumption",
        "redundantPVEnergyPriority": "fedToGridPreference",
        "allowedAcChargePower": 0.0,
    }
    assert await _read(client, plant, spec) == "self_consumption"
    # And to TOU again: now the windows read back are sent as they were.
    task = await _follow(
        client, clock, await client.async_start_control(plant, spec, "time_of_use")
    )
    assert task.state is TaskState.SUCCESS
    assert _sent(sim, "battery/mode")[-1]["chargingAndDischargingTimeWindow"] == DEFAULT_WINDOWS
    assert sim.battery_settings(code)["chargingAndDischargingTimeWindow"] == DEFAULT_WINDOWS


async def test_time_of_use_windows(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """New windows go out with the TOU mode; they are kept for the next switch to TOU."""
    plant, specs = await _specs(client)
    assert client.can_set_time_of_use(plant)
    windows = [
        TouWindow("01:30", "05:00", discharge=False),
        TouWindow("22:00", "00:30", discharge=True, days=(6, 7)),
    ]
    task = await client.async_set_time_of_use(plant, windows)
    assert (task.action, task.value) == (
        SET_TIME_OF_USE,
        "01:30-05:00 charge 1234567; 22:00-00:30 discharge 67",
    )
    wire = [
        {
            "startTime": "01:30",
            "endTime": "05:00",
            "chargeOrDischarge": "charge",
            "repeat": [1, 2, 3, 4, 5, 6, 7],
        },
        {
            "startTime": "22:00",
            "endTime": "00:30",
            "chargeOrDischarge": "discharge",
            "repeat": [6, 7],
        },
    ]
    assert _sent(sim, "battery/mode")[-1] == {
        "plantCode": plant.id,
        "operationMode": "TOU",
        "chargingAndDischargingTimeWindow": wire,
    }
    task = await _follow(client, clock, task)
    assert task.state is TaskState.SUCCESS
    assert sim.battery_settings(plant.id)["chargingAndDischargingTimeWindow"] == wire
    assert await _read(client, plant, specs[BATTERY_WORKING_MODE]) == "time_of_use"
    # Away and back: the windows written are sent again, not the plant's old ones.
    for mode in ("self_consumption", "time_of_use"):
        task = await client.async_start_control(plant, specs[BATTERY_WORKING_MODE], mode)
        assert (await _follow(client, clock, task)).state is TaskState.SUCCESS
    assert _sent(sim, "battery/mode")[-1]["chargingAndDischargingTimeWindow"] == wire

    # Overlapping windows (checked by the caller) are refused by the cloud too.
    clash = [TouWindow("01:00", "03:00", False), TouWindow("02:00", "04:00", True, (1,))]
    assert tou_overlap(clash) == (clash[0], clash[1])
    assert tou_overlap([TouWindow("23:00", "01:00", False, (7,)), clash[1]]) is None
    assert tou_overlap([TouWindow("23:00", "01:30", False, (7,)), clash[0]]) is not None
    with pytest.raises(CommandRejectedError) as err:
        await client.async_set_time_of_use(plant, clash)
    assert err.value.code == "20611"
    with pytest.raises(CommandRejectedError):
        await client.async_set_time_of_use(plant, [])
    assert sim.battery_settings(plant.id)["chargingAndDischargingTimeWindow"] == wire


async def test_working_mode_changed_in_the_portal(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A change made elsewhere shows once a real-time round after the last task reports it."""
    plant, devices, _battery = await _inventory(client)
    specs, _reasons = await client.async_get_controls(plant, devices)
    spec = next(s for s in specs if s.key == BATTERY_WORKING_MODE)
    task = await _follow(
        client, clock, await client.async_start_control(plant, spec, "time_of_use")
    )
    assert task.state is TaskState.SUCCESS
    sim.change_settings(plant.id, operation_mode="maximumSelfConsumption")
    # A round right after the task does not override the task's read-back ...
    clock.now += 200
    await client.async_get_realtime([plant], devices)
    assert await _read(client, plant, spec) == "time_of_use"
    # ... one a refresh period after it does.
    clock.now += 300
    await client.async_get_realtime([plant], devices)
    assert await _read(client, plant, spec) == "self_consumption"


async def test_battery_configuration(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """Each setting is one configuration task; the others go along as last read back."""
    plant, specs = await _specs(client)
    code = plant.id
    task = await client.async_start_control(plant, specs[BATTERY_CHARGE_CUTOFF_SOC], 95)
    assert task.value == 95.0
    assert _sent(sim, "battery/configuration") == [
        {"plantCode": code, "batteryConfigurationInfo": {"endOfChargeSoc": 95}}
    ]
    assert (await _follow(client, clock, task)).state is TaskState.SUCCESS
    assert await _read(client, plant, specs[BATTERY_CHARGE_CUTOFF_SOC]) == 95.0
    # The task's read-back holds every field: the next write sends them all.
    assert await _read(client, plant, specs[BATTERY_DISCHARGE_CUTOFF_SOC]) == 5.0
    task = await client.async_start_control(plant, specs[BATTERY_DISCHARGE_CUTOFF_SOC], 12.5)
    assert _sent(sim, "battery/configuration")[-1]["batteryConfigurationInfo"] == {
        "endOfChargeSoc": 95,
        "endOfDischargeSoc": 12.5,
        "maximumChargePower": 2500,
        "maximumDischargePower": 2500,
    }
    assert (await _follow(client, clock, task)).state is TaskState.SUCCESS
    for key, value in ((BATTERY_MAX_CHARGE_POWER, 1800.0), (BATTERY_MAX_DISCHARGE_POWER, 1200.4)):
        task = await _follow(
            client, clock, await client.async_start_control(plant, specs[key], value)
        )
        assert task.state is TaskState.SUCCESS
    assert _sent(sim, "battery/configuration")[-1]["batteryConfigurationInfo"] == {
        "endOfChargeSoc": 95,
        "endOfDischargeSoc": 12.5,
        "maximumChargePower": 1800,
        "maximumDischargePower": 1200,
    }
    values = await client.async_read_controls(plant, list(specs.values()))
    assert {k: values[(s.device_id, k)] for k, s in specs.items() if k != BATTERY_WORKING_MODE} == {
        BATTERY_CHARGE_CUTOFF_SOC: 95.0,
        BATTERY_DISCHARGE_CUTOFF_SOC: 12.5,
        BATTERY_MAX_CHARGE_POWER: 1800.0,
        BATTERY_MAX_DISCHARGE_POWER: 1200.0,
        GRID_EXPORT_LIMIT: None,
    }
    settings = sim.battery_settings(code)
    assert (settings["endOfChargeSoc"], settings["endOfDischargeSoc"]) == (95.0, 12.5)
    assert (settings["maximumChargePower"], settings["maximumDischargePower"]) == (1800, 1200)
    # Above the battery's maximum the cloud takes the maximum: the read-back shows it.
    task = await client.async_start_control(plant, specs[BATTERY_MAX_CHARGE_POWER], 4000)
    assert (await _follow(client, clock, task)).state is TaskState.SUCCESS
    assert await _read(client, plant, specs[BATTERY_MAX_CHARGE_POWER]) == RATED_W


async def test_grid_export_limit(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """W in, kW on the wire (limited mode 6), W read back."""
    plant, specs = await _specs(client)
    spec = specs[GRID_EXPORT_LIMIT]
    task = await client.async_start_control(plant, spec, 3500.0)
    assert _sent(sim, "active-power-control") == [
        {
            "plantCode": plant.id,
            "controlMode": "6",
            "controlInfo": {"maxGridFeedInPower": 3.5, "limitationMode": "0"},
        }
    ]
    assert await _read(client, plant, spec) is None
    assert (await _follow(client, clock, task)).state is TaskState.SUCCESS
    assert await _read(client, plant, spec) == 3500.0
    settings = sim.battery_settings(plant.id)
    assert (settings["controlMode"], settings["controlInfo"]["maxGridFeedInPower"]) == ("6", 3.5)
    # A limit of 0 W (no feed-in at all) is a value like any other.
    task = await _follow(client, clock, await client.async_start_control(plant, spec, 0))
    assert task.state is TaskState.SUCCESS
    assert await _read(client, plant, spec) == 0.0


# -- forced charge and discharge --------------------------------------------------------------------


async def test_force_charge_for_a_duration(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """The cloud charges for 30 minutes and ends it by itself; polled every 3 minutes."""
    plant, _ = await _specs(client)
    start = clock.now
    task = await client.async_start_force(
        plant, None, ForceRequest(discharge=False, power_w=2000, duration_min=30)
    )
    assert _sent(sim, "charge-and-discharge") == [
        {
            "plantCode": plant.id,
            "dispatchSwitch": 1,
            "powerDispatch": 2000,
            "controlType": 2,
            "dispatchTime": 30,
        }
    ]
    assert (task.action, task.value, task.state) == (FORCE_CHARGE, 2000.0, TaskState.RUNNING)
    assert (task.poll_interval, task.timeout) == (FORCE_POLL_INTERVAL, TASK_TIMEOUT)
    clock.now += task.poll_interval
    task = await client.async_poll_task(task)
    assert task.state is TaskState.RUNNING
    assert sim.forcing(plant.id) == 1
    battery_kpis = next(k for k in sim.raw_kpis(plant.id).values() if "ch_discharge_model" in k)
    assert battery_kpis["ch_discharge_model"] == 1
    task = await _follow(client, clock, task)
    assert task.state is TaskState.SUCCESS
    assert clock.now - start >= DEFAULT_TASK_DELAY + 30 * 60
    assert task.details["charged_energy_kwh"] == 1.0
    assert sim.forcing(plant.id) == 0


async def test_force_discharge_to_soc_and_stop(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A discharge to a target SOC, ended early by the stop command."""
    plant, _ = await _specs(client)
    task = await client.async_start_force(
        plant, "any-device", ForceRequest(discharge=True, power_w=2500, target_soc=10)
    )
    assert _sent(sim, "charge-and-discharge")[-1] == {
        "plantCode": plant.id,
        "dispatchSwitch": 2,
        "powerDispatch": -2500,
        "controlType": 1,
        "targetSOC": 10,
    }
    assert (task.action, task.device_id) == (FORCE_DISCHARGE, "any-device")
    clock.now += DEFAULT_TASK_DELAY + 60
    task = await client.async_poll_task(task)
    assert task.state is TaskState.RUNNING
    assert sim.forcing(plant.id) == 2
    stop = await client.async_stop_force(plant, None)
    assert (stop.action, stop.value, stop.state) == (STOP_FORCED_CHARGE, None, TaskState.RUNNING)
    assert _sent(sim, "charge-and-discharge")[-1] == {"plantCode": plant.id, "dispatchSwitch": 0}
    stop = await _follow(client, clock, stop)
    assert stop.state is TaskState.SUCCESS
    assert sim.forcing(plant.id) == 0
    task = await client.async_poll_task(task)
    assert task.state is TaskState.SUCCESS
    discharged = task.details["discharged_energy_kwh"]
    assert isinstance(discharged, float)
    assert 0 < discharged < 1


async def test_force_request_checked_before_sending(
    client: HuaweiClient, sim: HuaweiSimulator
) -> None:
    """Neither or both limits, or no power: refused without a request."""
    plant, _ = await _specs(client)
    for request in (
        ForceRequest(discharge=False, power_w=1000),
        ForceRequest(discharge=False, power_w=1000, duration_min=10, target_soc=90),
        ForceRequest(discharge=False, power_w=0, duration_min=10),
    ):
        with pytest.raises(CommandRejectedError):
            await client.async_start_force(plant, None, request)
    assert sim.control_requests == []


# -- refusals and failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        (BATTERY_CHARGE_CUTOFF_SOC, 85.0, "battery/configuration"),
        (BATTERY_DISCHARGE_CUTOFF_SOC, 25.0, "battery/configuration"),
        (BATTERY_MAX_DISCHARGE_POWER, -5.0, "battery/configuration"),
        (GRID_EXPORT_LIMIT, 6_000_000.0, "active-power-control"),
    ],
)
async def test_out_of_range_refused_by_the_cloud(
    client: HuaweiClient, sim: HuaweiSimulator, key: str, value: float, kind: str
) -> None:
    """The value reaches the cloud, which refuses it with 20611; nothing changes."""
    plant, specs = await _specs(client)
    before = sim.battery_settings(plant.id)
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_control(plant, specs[key], value)
    assert refused.value.code == "20611"
    assert refused.value.vendor_message == "value out of the allowed range"
    assert len(_sent(sim, kind)) == 1
    assert sim.battery_settings(plant.id) == before
    assert await _read(client, plant, specs[key]) is None


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (ForceRequest(discharge=False, power_w=5000, duration_min=30), "20047"),
        (ForceRequest(discharge=True, power_w=1000, duration_min=2000), "20043"),
        (ForceRequest(discharge=False, power_w=1000, target_soc=120), "20042"),
    ],
)
async def test_force_refused_by_the_cloud(
    client: HuaweiClient, sim: HuaweiSimulator, request_: ForceRequest, code: str
) -> None:
    """Power above the battery's, a duration over a day, a SOC over 100: the cloud's codes."""
    plant, _ = await _specs(client)
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_force(plant, None, request_)
    assert refused.value.code == code
    assert len(_sent(sim, "charge-and-discharge")) == 1
    assert sim.forcing(plant.id) == 0


async def test_permission_refused_on_write(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A write refused for permission raises and takes the plant's controls away."""
    plant, devices, _battery = await _inventory(client)
    specs, _reasons = await client.async_get_controls(plant, devices)
    spec = next(s for s in specs if s.key == BATTERY_CHARGE_CUTOFF_SOC)
    sim.deny_control(code=20056)
    with pytest.raises(PermissionDeniedError) as denied:
        await client.async_start_control(plant, spec, 95)
    assert denied.value.code == "20056"
    with pytest.raises(PermissionDeniedError):
        await client.async_start_force(plant, None, ForceRequest(False, 1000, duration_min=5))
    specs, reasons = await client.async_get_controls(plant, devices)
    assert specs == []
    assert reasons[BATTERY_CHARGE_CUTOFF_SOC] == "no control permission (20056)"
    assert not client.can_force(plant, devices)
    # 401 closes the interfaces to the whole account.
    sim.deny_control(code=401)
    other = Plant(id="NE=999", name="other")
    with pytest.raises(PermissionDeniedError):
        await client.async_start_control(other, spec, 95)
    assert not client.can_force(other, [Device("b", "NE=999", "b", DeviceKind.BATTERY, "39")])


async def test_task_failed_keeps_the_old_value(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A task the device does not carry out ends FAILED with the cloud's reason."""
    plant, specs = await _specs(client)
    spec = specs[BATTERY_CHARGE_CUTOFF_SOC]
    assert (
        await _follow(client, clock, await client.async_start_control(plant, spec, 95))
    ).state is TaskState.SUCCESS
    sim.fail_next_task("BUSY")
    task = await _follow(client, clock, await client.async_start_control(plant, spec, 92))
    assert (task.state, task.reason) == (TaskState.FAILED, "BUSY")
    assert task.finished_at == clock.now
    assert await _read(client, plant, spec) == 95.0
    assert sim.battery_settings(plant.id)["endOfChargeSoc"] == 95.0
    # A forced charge that fails: status 2 with the message.
    sim.fail_next_task("FAILURE")
    force = await client.async_start_force(plant, None, ForceRequest(False, 1000, duration_min=10))
    force = await _follow(client, clock, force)
    assert (force.state, force.reason) == (TaskState.FAILED, "FAILURE")
    assert sim.forcing(plant.id) == 0


async def test_task_timed_out(client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock) -> None:
    """No result within 24 hours: TIMED_OUT; after 15 minutes the status is asked every 3."""
    plant, specs = await _specs(client)
    spec = specs[BATTERY_WORKING_MODE]
    sim.set_task_delay(2 * DAY)
    task = await client.async_start_control(plant, spec, "time_of_use")
    clock.now += task.poll_interval
    task = await client.async_poll_task(task)
    assert (task.state, task.poll_interval) == (TaskState.RUNNING, TASK_POLL_INTERVAL)
    clock.now = task.started_at + 16 * 60
    task = await client.async_poll_task(task)
    assert (task.state, task.poll_interval) == (TaskState.RUNNING, TASK_SLOW_POLL_INTERVAL)
    clock.now = task.started_at + TASK_TIMEOUT + 1
    task = await client.async_poll_task(task)
    assert task.state is TaskState.TIMED_OUT
    assert task.reason == "no result within 24 h"
    assert await _read(client, plant, spec) == "self_consumption"
    # The cloud's own TIMEOUT ends the task the same way.
    sim.set_task_delay(DEFAULT_TASK_DELAY)
    sim.fail_next_task("TIMEOUT")
    task = await _follow(
        client, clock, await client.async_start_control(plant, specs[BATTERY_CHARGE_CUTOFF_SOC], 99)
    )
    assert (task.state, task.reason) == (TaskState.TIMED_OUT, "TIMEOUT")


async def test_task_already_running(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A second task of a kind while one runs is refused with 20615; other kinds may run."""
    plant, specs = await _specs(client)
    first = await client.async_start_control(plant, specs[BATTERY_CHARGE_CUTOFF_SOC], 95)
    start = clock.now
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_control(plant, specs[BATTERY_DISCHARGE_CUTOFF_SOC], 10)
    assert refused.value.code == "20615"
    # The client waited for the interface's minute instead of being refused for frequency.
    assert clock.now - start == 60
    assert sim.refusals == {}
    mode = await client.async_start_control(plant, specs[BATTERY_WORKING_MODE], "time_of_use")
    assert mode.state is TaskState.RUNNING
    force = await client.async_start_force(plant, None, ForceRequest(False, 1000, duration_min=10))
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_force(plant, None, ForceRequest(True, 1000, duration_min=10))
    assert refused.value.code == "20615"
    # The stop is not a second forced charge: it is taken.
    stop = await client.async_stop_force(plant, None)
    for task in (first, mode, force, stop):
        assert (await _follow(client, clock, task)).state is TaskState.SUCCESS
    assert await _read(client, plant, specs[BATTERY_DISCHARGE_CUTOFF_SOC]) == 5.0


async def test_rate_limits(client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock) -> None:
    """407 and 20618 from the cloud, and the account's own submission budget."""
    plant, specs = await _specs(client)
    sim.inject("fail_code:407", path="battery/configuration")
    with pytest.raises(RateLimitedError) as limited:
        await client.async_start_control(plant, specs[BATTERY_CHARGE_CUTOFF_SOC], 95)
    assert limited.value.code == "407"
    assert client.quota.wait_time(E_CONFIG) > 0
    assert _sent(sim, "battery/configuration") == []

    # The cloud's daily cap of control calls: the interface waits for the next UTC day.
    sim.control_daily_cap = 1
    task = await client.async_start_control(plant, specs[BATTERY_WORKING_MODE], "time_of_use")
    assert task.state is TaskState.RUNNING
    clock.now += 60
    with pytest.raises(RateLimitedError) as limited:
        await client.async_start_control(plant, specs[GRID_EXPORT_LIMIT], 1000)
    assert limited.value.code == "20618"
    assert limited.value.retry_after == pytest.approx(DAY - clock.now % DAY + 60)
    sim.control_daily_cap = None

    # The client's own budget of submissions (refused ones count too): spent, nothing is sent.
    client.quota.set_allowance(E_CONTROL_DAY, Allowance(3, DAY))
    sent = len(sim.control_requests)
    with pytest.raises(RateLimitedError) as limited:
        await client.async_start_force(plant, None, ForceRequest(False, 1000, duration_min=5))
    assert limited.value.code == "quota"
    assert len(sim.control_requests) == sent
    assert client.quota.snapshot()[E_CONTROL_DAY]["used_in_window"] == 3


async def test_delivery_refused(client: HuaweiClient, sim: HuaweiSimulator) -> None:
    """A task the cloud cannot deliver to the plant (failCode 2) is a refused command."""
    plant, specs = await _specs(client)
    sim.refuse_next_delivery("FAILURE")
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_control(plant, specs[BATTERY_WORKING_MODE], "time_of_use")
    assert (refused.value.code, refused.value.vendor_message) == ("2", "FAILURE")
    sim.refuse_next_delivery("FAILURE")
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_force(plant, None, ForceRequest(False, 1000, duration_min=5))
    assert refused.value.code == "2"


async def test_battery_offline(client: HuaweiClient, sim: HuaweiSimulator) -> None:
    """Commands to an unreachable battery are refused with 20614."""
    plant, specs = await _specs(client)
    (battery_id,) = sim.device_ids(plant.id, BATTERY)
    sim.set_device_offline(battery_id)
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_control(plant, specs[BATTERY_CHARGE_CUTOFF_SOC], 95)
    assert refused.value.code == "20614"
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_force(plant, None, ForceRequest(False, 1000, duration_min=5))
    assert refused.value.code == "20614"


async def test_unknown_task(client: HuaweiClient, clock: FakeClock) -> None:
    """A task the cloud does not know (any more) ends FAILED."""
    plant, _ = await _specs(client)
    for action, code in ((BATTERY_WORKING_MODE, "20620"), (FORCE_CHARGE, "20050")):
        task = ControlTask(
            id="0000000000000999",
            plant_id=plant.id,
            device_id=None,
            action=action,
            value=None,
            state=TaskState.RUNNING,
            started_at=clock.now,
            poll_interval=60,
            timeout=TASK_TIMEOUT,
        )
        task = await client.async_poll_task(task)
        assert task.state is TaskState.FAILED
        assert (task.reason or "").startswith(code)


async def test_session_lost_before_a_command(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A command refused for the session (305) is sent again once after logging in: once."""
    plant, specs = await _specs(client)
    logins = sim.logins
    sim.kick_session()
    task = await client.async_start_control(plant, specs[BATTERY_CHARGE_CUTOFF_SOC], 95)
    assert sim.logins == logins + 1
    assert len(_sent(sim, "battery/configuration")) == 1
    assert (await _follow(client, clock, task)).state is TaskState.SUCCESS
    assert client.quota.snapshot()[E_CONTROL_DAY]["used_in_window"] == 1


async def test_gateway_refusal_of_a_request(client: HuaweiClient) -> None:
    """The gateway's HTTP 400 exception body (too many plants) is a refused command."""
    await client.async_login()
    entries = [{"plantCode": f"NE={n}", "operationMode": "TOU"} for n in range(11)]
    with pytest.raises(CommandRejectedError) as refused:
        await client._call(E_MODE, CONTROL_PATHS[E_MODE], {"tasks": entries}, control=True)
    assert refused.value.code == "framwork.remote.Paramerror"
    assert refused.value.vendor_message == "tasks size must be between 1 and 10"


async def test_limit_on_the_battery_without_inverter_or_meter(
    client: HuaweiClient, sim: HuaweiSimulator
) -> None:
    """A plant that lists only its battery shows the feed-in limit on the battery, and says so."""
    code = sim.plant_codes()[0]
    for type_id in (RESIDENTIAL_INVERTER, POWER_SENSOR):
        for dev_id in sim.device_ids(code, type_id):
            sim.remove_device(dev_id)
    plant, devices, battery = await _inventory(client, realtime=False)
    specs, reasons = await client.async_get_controls(plant, devices)
    assert {s.key: s.device_id for s in specs}[GRID_EXPORT_LIMIT] == battery.id
    assert "no inverter or meter" in reasons[f"{GRID_EXPORT_LIMIT}:device"]


async def test_values_the_tasks_cannot_carry(
    client: HuaweiClient, sim: HuaweiSimulator, clock: FakeClock
) -> None:
    """A mode the task does not take, a value that is not a number, a control of another
    vendor: refused before anything is sent."""
    plant, specs = await _specs(client)
    for key, value, code in (
        (BATTERY_WORKING_MODE, "external_dispatch", "invalid_option"),
        (BATTERY_CHARGE_CUTOFF_SOC, "full", "invalid"),
        (GRID_EXPORT_LIMIT, None, "invalid"),
    ):
        with pytest.raises(CommandRejectedError) as refused:
            await client.async_start_control(plant, specs[key], value)
        assert refused.value.code == code
    other = ControlSpec("output_source_priority", "1", ControlKind.SELECT, options=("a",))
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_start_control(plant, other, "a")
    assert refused.value.code == "unknown_control"
    assert sim.control_requests == []


async def test_poll_of_an_ended_or_foreign_task(client: HuaweiClient, clock: FakeClock) -> None:
    """An ended task is not asked about again; a task of another vendor's action is refused."""
    plant, specs = await _specs(client)
    task = await client.async_start_control(plant, specs[BATTERY_CHARGE_CUTOFF_SOC], 95)
    task = await _follow(client, clock, task)
    asked = client.quota.snapshot()["battery/configuration/task-info"]["sent_total"]
    assert (await client.async_poll_task(task)) is task
    assert client.quota.snapshot()["battery/configuration/task-info"]["sent_total"] == asked
    foreign = ControlTask(
        id="1",
        plant_id=plant.id,
        device_id=None,
        action="charger_source_priority",
        value="pv_only",
        state=TaskState.RUNNING,
        started_at=clock.now,
        poll_interval=60,
        timeout=TASK_TIMEOUT,
    )
    with pytest.raises(CommandRejectedError) as refused:
        await client.async_poll_task(foreign)
    assert refused.value.code == "unknown"


@pytest.mark.parametrize("code", [20045, 20046, 20622])
async def test_plant_permission_codes_on_write(
    client: HuaweiClient, sim: HuaweiSimulator, code: int
) -> None:
    """The plant-level refusals of the control interfaces are permission errors that take the
    plant's controls away, not refused commands."""
    plant, devices, _battery = await _inventory(client)
    specs, _reasons = await client.async_get_controls(plant, devices)
    spec = next(s for s in specs if s.key == GRID_EXPORT_LIMIT)
    sim.deny_control(code=code)
    with pytest.raises(PermissionDeniedError) as denied:
        await client.async_start_control(plant, spec, 1000)
    assert denied.value.code == str(code)
    assert client.errors[str(code)] == 1
    assert client.last_error == f"active-power-control: {code}"
    assert not client.can_force(plant, devices)
