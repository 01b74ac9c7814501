"""iSolarCloud battery controls (Grid Control API) against the simulator, plain and encrypted."""

from __future__ import annotations

from dataclasses import dataclass
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
    STOP_FORCED_CHARGE,
    ControlKind,
    ControlSpec,
    ControlTask,
    ForceRequest,
    TaskState,
)
from custom_components.solar_cloud.api.errors import (
    CommandRejectedError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
)
from custom_components.solar_cloud.api.models import Device, Plant
from custom_components.solar_cloud.api.sungrow import (
    E_HOUR,
    EXPIRE_SECOND,
    TASK_POLL_INTERVAL,
    TASK_TIMEOUT,
    SungrowClient,
)
from tests.common import FakeClock
from tests.simulators.sungrow import SungrowSimulator
from tests.vendor_sungrow import make_client, make_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The clock: conftest's, at NOON (2026-06-21 11:00 UTC).
DELAY = 8.0  # the device answers a task after 8 s: one poll sees it running, the next done

ES = 14
BATTERY = 43


@pytest.fixture
def sim(clock: FakeClock) -> SungrowSimulator:
    """A gateway with one plant: PV inverter, storage inverter (SH10RT), battery, meter."""
    return make_simulator(clock, plants=1, task_delay=DELAY)


@dataclass
class Setup:
    """A client with its plant's inventory and controls."""

    client: SungrowClient
    plant: Plant
    devices: list[Device]
    specs: dict[str, ControlSpec]
    reasons: dict[str, str]
    storage: str  # the storage inverter's ps_key

    def spec(self, key: str) -> ControlSpec:
        return self.specs[key]


async def _setup(
    session: aiohttp.ClientSession,
    url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    *,
    encrypted: bool = False,
) -> Setup:
    sim.require_encryption = encrypted
    client = make_client(session, url, sim, clock, encrypted=encrypted)
    plants = await client.async_get_plants()
    devices = await client.async_get_devices(plants)
    plant = plants[0]
    specs, reasons = await client.async_get_controls(plant, devices)
    storage = sim.device_keys(int(plant.id), ES)[0]
    return Setup(client, plant, devices, {s.key: s for s in specs}, reasons, storage)


async def _follow(client: SungrowClient, clock: FakeClock, task: ControlTask) -> list[TaskState]:
    """Poll in the task's rhythm until it ends; the states seen, in order."""
    seen = []
    for _ in range(100):
        if task.done:
            break
        await clock.sleep(task.poll_interval)
        task = await client.async_poll_task(task)
        seen.append(task.state)
    assert task.done
    return seen


def _writes(sim: SungrowSimulator, ps_key: str) -> list[dict[int, int | None]]:
    """The parameters of every write task the device received."""
    return [t["params"] for t in sim.param_tasks(ps_key) if t["set_type"] == 0]


# -- discovery and read-back ----------------------------------------------------------------------


@pytest.mark.parametrize("encrypted", [False, True])
async def test_controls_of_the_storage_inverter(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    encrypted: bool,
) -> None:
    """Six controls on the storage inverter only, ranges from the documents and the device."""
    setup = await _setup(session, base_url, sim, clock, encrypted=encrypted)
    assert set(setup.specs) == {
        BATTERY_WORKING_MODE,
        BATTERY_CHARGE_CUTOFF_SOC,
        BATTERY_DISCHARGE_CUTOFF_SOC,
        BATTERY_MAX_CHARGE_POWER,
        BATTERY_MAX_DISCHARGE_POWER,
        GRID_EXPORT_LIMIT,
    }
    assert {s.device_id for s in setup.specs.values()} == {setup.storage}
    mode = setup.spec(BATTERY_WORKING_MODE)
    assert mode.kind is ControlKind.SELECT
    assert mode.options == ("self_consumption", "forced", "external_dispatch", "vpp")
    upper = setup.spec(BATTERY_CHARGE_CUTOFF_SOC)
    assert (upper.kind, upper.unit, upper.minimum, upper.maximum) == (
        ControlKind.NUMBER,
        "%",
        70,
        100,
    )
    lower = setup.spec(BATTERY_DISCHARGE_CUTOFF_SOC)
    assert (lower.unit, lower.minimum, lower.maximum) == ("%", 0, 50)
    # 10 .. limit * 100 in 0.01 kW, the limit (point 18290 / 18291) being 6.6 kW.
    for key in (BATTERY_MAX_CHARGE_POWER, BATTERY_MAX_DISCHARGE_POWER):
        power = setup.spec(key)
        assert (power.unit, power.minimum, power.maximum, power.step) == ("W", 100, 6600, 10)
    export = setup.spec(GRID_EXPORT_LIMIT)
    assert (export.unit, export.minimum, export.maximum) == ("W", 0, 10_000)  # SH10RT
    assert export.vendor_ref == "10012,10013"
    # Why the other devices have none.
    others = [d.id for d in setup.devices if d.id != setup.storage]
    assert set(others) <= set(setup.reasons)
    battery = sim.device_keys(int(setup.plant.id), BATTERY)[0]
    assert "storage inverter" in setup.reasons[battery]
    assert setup.client.can_force(setup.plant, setup.devices)
    assert setup.client.force_limits_native is False
    assert sim.calls["paramSettingCheck"] == 1


async def test_device_limit_missing_uses_the_documented_range(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Without points 18290/18291 the documented 10..1060 (0.1-10.6 kW) range applies."""
    storage = sim.device_keys(sim.plant_ids()[0], ES)[0]
    sim.set_property(storage, "18290", None)
    sim.set_property(storage, "18291", None)
    setup = await _setup(session, base_url, sim, clock)
    assert setup.spec(BATTERY_MAX_CHARGE_POWER).maximum == 10_600
    assert setup.spec(BATTERY_MAX_DISCHARGE_POWER).maximum == 10_600


async def test_offline_device_and_plant_without_storage(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The check fails for an offline inverter; a plant without one offers nothing."""
    plant_id = sim.plant_ids()[0]
    storage = sim.device_keys(plant_id, ES)[0]
    sim.set_device_offline(storage)
    setup = await _setup(session, base_url, sim, clock)
    assert setup.specs == {}
    assert setup.reasons[storage].startswith("device offline (6)")
    assert not setup.client.can_force(setup.plant, setup.devices)
    sim.set_device_offline(storage, False)
    sim.remove_device(storage)
    devices = await setup.client.async_get_devices([setup.plant])
    specs, reasons = await setup.client.async_get_controls(setup.plant, devices)
    assert specs == []
    assert reasons[BATTERY_WORKING_MODE] == "no storage inverter in this plant"


async def test_device_gone_offline(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Offline since set-up: a write is refused (7), the readback reads unknown."""
    setup = await _setup(session, base_url, sim, clock)
    spec = setup.spec(BATTERY_CHARGE_CUTOFF_SOC)
    await setup.client.async_read_controls(setup.plant, [spec])
    sim.set_device_offline(setup.storage)
    with pytest.raises(CommandRejectedError) as err:
        await setup.client.async_start_control(setup.plant, spec, 90.0)
    assert err.value.code == "7"
    assert err.value.vendor_message == "Device offline"
    values = await setup.client.async_read_controls(setup.plant, [spec])
    assert values == {(setup.storage, BATTERY_CHARGE_CUTOFF_SOC): None}


@pytest.mark.parametrize("encrypted", [False, True])
async def test_read_back_at_set_up(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    encrypted: bool,
) -> None:
    """One readback task for the device, values in the controls' units."""
    storage = sim.device_keys(sim.plant_ids()[0], ES)[0]
    sim.set_param(storage, 10001, 950)  # 95 %
    sim.set_param(storage, 10002, 150)  # 15 %
    sim.set_param(storage, 10003, 3)
    sim.set_param(storage, 10091, 420)  # 4.2 kW
    setup = await _setup(session, base_url, sim, clock, encrypted=encrypted)
    values = await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    assert values == {
        (storage, BATTERY_WORKING_MODE): "external_dispatch",
        (storage, BATTERY_CHARGE_CUTOFF_SOC): 95,
        (storage, BATTERY_DISCHARGE_CUTOFF_SOC): 15,
        (storage, BATTERY_MAX_CHARGE_POWER): 4200,
        (storage, BATTERY_MAX_DISCHARGE_POWER): 5000,
        # Feed-in limitation off: the inverter's full power.
        (storage, GRID_EXPORT_LIMIT): 10_000,
    }
    tasks = sim.param_tasks(storage)
    assert [t["set_type"] for t in tasks] == [2]
    assert set(tasks[0]["params"]) == {
        10001,
        10002,
        10003,
        10004,
        10005,
        10012,
        10013,
        10091,
        10092,
    }
    assert tasks[0]["expire_second"] == EXPIRE_SECOND


async def test_failed_readback_reads_unknown(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Parameters the device fails to read back are unknown; the others are read."""
    setup = await _setup(session, base_url, sim, clock)
    sim.fail_next_task(10001, readback=True)
    values = await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    assert values[(setup.storage, BATTERY_CHARGE_CUTOFF_SOC)] is None
    assert values[(setup.storage, BATTERY_DISCHARGE_CUTOFF_SOC)] == 10


# -- writes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "written"),
    [
        (BATTERY_CHARGE_CUTOFF_SOC, 95.0, {10001: 950}),
        (BATTERY_DISCHARGE_CUTOFF_SOC, 20.0, {10002: 200}),
        (BATTERY_MAX_CHARGE_POWER, 3000.0, {10091: 300}),
        (BATTERY_MAX_DISCHARGE_POWER, 4500.0, {10092: 450}),
        (BATTERY_WORKING_MODE, "vpp", {10003: 4}),
        (BATTERY_WORKING_MODE, "self_consumption", {10003: 0}),
        (GRID_EXPORT_LIMIT, 4000.0, {10012: 170, 10013: 4000}),
    ],
)
async def test_write_each_control(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    key: str,
    value: float | str,
    written: dict[int, int],
) -> None:
    """The value reaches the device scaled by precision, the task ends well, and reads back."""
    setup = await _setup(session, base_url, sim, clock)
    sim.set_param(setup.storage, 10003, 2)  # so that self_consumption is a change
    await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    spec = setup.spec(key)
    before = {code: sim.param_raw(setup.storage, code) for code in written}
    task = await setup.client.async_start_control(setup.plant, spec, value)
    assert task.state is TaskState.RUNNING
    assert (task.action, task.device_id, task.value) == (key, setup.storage, value)
    assert (task.poll_interval, task.timeout) == (TASK_POLL_INTERVAL, TASK_TIMEOUT)
    assert _writes(sim, setup.storage) == [written]
    # Nothing changes until the device has answered.
    assert {code: sim.param_raw(setup.storage, code) for code in written} == before
    assert await _follow(setup.client, clock, task) == [TaskState.RUNNING, TaskState.SUCCESS]
    assert task.reason is None
    assert task.finished_at == clock.now
    assert {code: sim.param_raw(setup.storage, code) for code in written} == written
    values = await setup.client.async_read_controls(setup.plant, [spec])
    assert values == {(setup.storage, key): value}


async def test_write_encrypted(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Control calls of an encrypting app are encrypted like the rest (the gateway insists)."""
    setup = await _setup(session, base_url, sim, clock, encrypted=True)
    spec = setup.spec(BATTERY_CHARGE_CUTOFF_SOC)
    task = await setup.client.async_start_control(setup.plant, spec, 90.0)
    await _follow(setup.client, clock, task)
    assert task.state is TaskState.SUCCESS
    assert sim.param_value(setup.storage, 10001) == 90
    values = await setup.client.async_read_controls(setup.plant, [spec])
    assert values[(setup.storage, BATTERY_CHARGE_CUTOFF_SOC)] == 90


async def test_export_limit_reads_the_value_once_enabled(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """With the feed-in limitation on, the limit reads 10013; a zero limit is kept."""
    setup = await _setup(session, base_url, sim, clock)
    spec = setup.spec(GRID_EXPORT_LIMIT)
    task = await setup.client.async_start_control(setup.plant, spec, 0.0)
    await _follow(setup.client, clock, task)
    assert task.state is TaskState.SUCCESS
    assert sim.param_raw(setup.storage, 10012) == 170
    values = await setup.client.async_read_controls(setup.plant, [spec])
    assert values[(setup.storage, GRID_EXPORT_LIMIT)] == 0


# -- forced charge and discharge ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("discharge", "command", "action"), [(False, 170, FORCE_CHARGE), (True, 187, FORCE_DISCHARGE)]
)
async def test_force_and_stop_restore_the_mode(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    discharge: bool,
    command: int,
    action: str,
) -> None:
    """Compulsory mode, command and power in one task; the stop restores the earlier mode."""
    storage = sim.device_keys(sim.plant_ids()[0], ES)[0]
    sim.set_param(storage, 10003, 4)  # VPP before the force
    setup = await _setup(session, base_url, sim, clock)
    await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    request = ForceRequest(discharge=discharge, power_w=3000.0, duration_min=30)
    task = await setup.client.async_start_force(setup.plant, None, request)
    assert (task.action, task.device_id, task.value) == (action, storage, 3000.0)
    # 10005 is written in 0.01 kW, as its readback told.
    assert _writes(sim, storage) == [{10003: 2, 10004: command, 10005: 300}]
    await _follow(setup.client, clock, task)
    assert task.state is TaskState.SUCCESS
    assert sim.param_raw(storage, 10003) == 2
    assert sim.param_raw(storage, 10004) == command
    assert sim.param_value(storage, 10005) == 3.0  # kW
    stop = await setup.client.async_stop_force(setup.plant, storage)
    assert (stop.action, stop.value) == (STOP_FORCED_CHARGE, "vpp")
    assert _writes(sim, storage)[-1] == {10004: 204, 10003: 4}
    await _follow(setup.client, clock, stop)
    assert stop.state is TaskState.SUCCESS
    assert (sim.param_raw(storage, 10003), sim.param_raw(storage, 10004)) == (4, 204)
    mode = setup.spec(BATTERY_WORKING_MODE)
    values = await setup.client.async_read_controls(setup.plant, [mode])
    assert values[(storage, BATTERY_WORKING_MODE)] == "vpp"


async def test_force_learns_precision_and_mode_first(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Without an earlier readback the force reads its parameters back before writing."""
    storage = sim.device_keys(sim.plant_ids()[0], ES)[0]
    sim.set_param(storage, 10003, 3)
    setup = await _setup(session, base_url, sim, clock)
    task = await setup.client.async_start_force(
        setup.plant, storage, ForceRequest(discharge=False, power_w=2500.0, target_soc=80)
    )
    tasks = sim.param_tasks(storage)
    assert [t["set_type"] for t in tasks] == [2, 0]
    assert tasks[1]["params"][10005] == 250  # not 2500: the device counts in 0.01 kW
    await _follow(setup.client, clock, task)
    stop = await setup.client.async_stop_force(setup.plant, None)
    assert stop.value == "external_dispatch"
    await _follow(setup.client, clock, stop)
    assert sim.param_raw(storage, 10003) == 3


async def test_mode_chosen_during_a_force_is_kept_by_the_stop(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A working mode chosen after the force replaces the one remembered before it."""
    storage = sim.device_keys(sim.plant_ids()[0], ES)[0]
    sim.set_param(storage, 10003, 4)
    setup = await _setup(session, base_url, sim, clock)
    await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    force = await setup.client.async_start_force(
        setup.plant, None, ForceRequest(discharge=False, power_w=1000.0, duration_min=5)
    )
    await _follow(setup.client, clock, force)
    chosen = await setup.client.async_start_control(
        setup.plant, setup.spec(BATTERY_WORKING_MODE), "external_dispatch"
    )
    await _follow(setup.client, clock, chosen)
    stop = await setup.client.async_stop_force(setup.plant, None)
    assert stop.value == "external_dispatch"
    await _follow(setup.client, clock, stop)
    assert sim.param_raw(storage, 10003) == 3


@pytest.mark.parametrize(("mode", "restored"), [(2, 0), (4, 4)])
async def test_stop_reads_the_mode_when_unknown(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    mode: int,
    restored: int,
) -> None:
    """A force started elsewhere: compulsory mode ends in self-consumption, others stay."""
    storage = sim.device_keys(sim.plant_ids()[0], ES)[0]
    sim.set_param(storage, 10003, mode)
    sim.set_param(storage, 10004, 170)
    setup = await _setup(session, base_url, sim, clock)
    stop = await setup.client.async_stop_force(setup.plant, None)
    tasks = sim.param_tasks(storage)
    assert [t["set_type"] for t in tasks] == [2, 0]
    assert tasks[0]["params"] == {10003: None}
    assert tasks[1]["params"] == {10004: 204, 10003: restored}
    await _follow(setup.client, clock, stop)
    assert (sim.param_raw(storage, 10003), sim.param_raw(storage, 10004)) == (restored, 204)


async def test_force_on_the_battery_pack_goes_to_its_inverter(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The battery pack is a device of its own; its storage inverter takes the command."""
    setup = await _setup(session, base_url, sim, clock)
    battery = sim.device_keys(int(setup.plant.id), BATTERY)[0]
    task = await setup.client.async_start_force(
        setup.plant, battery, ForceRequest(discharge=True, power_w=1000.0, duration_min=5)
    )
    assert task.device_id == setup.storage
    # A second storage inverter makes the plant ambiguous.
    sim.add_device(int(setup.plant.id), ES)
    await _follow(setup.client, clock, task)
    devices = await setup.client.async_get_devices([setup.plant])
    await setup.client.async_get_controls(setup.plant, devices)
    with pytest.raises(CommandRejectedError) as err:
        await setup.client.async_start_force(
            setup.plant, None, ForceRequest(discharge=True, power_w=1000.0, duration_min=5)
        )
    assert err.value.code == "ambiguous"


async def test_force_power_out_of_range(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """6 kW is beyond 10005's 0-5 kW: refused by the cloud, nothing written."""
    setup = await _setup(session, base_url, sim, clock)
    await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    with pytest.raises(CommandRejectedError) as err:
        await setup.client.async_start_force(
            setup.plant, None, ForceRequest(discharge=False, power_w=6000.0, duration_min=5)
        )
    assert err.value.code == "3"
    assert _writes(sim, setup.storage) == []
    assert sim.param_raw(setup.storage, 10003) == 0


# -- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        (BATTERY_CHARGE_CUTOFF_SOC, 60.0, 10001),
        (BATTERY_DISCHARGE_CUTOFF_SOC, 55.0, 10002),
        (BATTERY_MAX_CHARGE_POWER, 7000.0, 10091),  # above the device's 6.6 kW
        (GRID_EXPORT_LIMIT, 12000.0, 10013),  # above the rated 10 kW
    ],
)
async def test_out_of_range_refused_by_the_cloud(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    key: str,
    value: float,
    code: int,
) -> None:
    """check_result 3: CommandRejectedError with the vendor's code and text; no task."""
    setup = await _setup(session, base_url, sim, clock)
    await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    before = sim.param_raw(setup.storage, code)
    with pytest.raises(CommandRejectedError) as err:
        await setup.client.async_start_control(setup.plant, setup.spec(key), value)
    assert err.value.code == "3"
    assert err.value.vendor_message is not None
    assert str(code) in err.value.vendor_message
    assert _writes(sim, setup.storage) == []
    assert sim.param_raw(setup.storage, code) == before


async def test_permission_denied(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """No authority over the parameters ("6-1"), or no Grid Control API for the app (E900)."""
    setup = await _setup(session, base_url, sim, clock)
    spec = setup.spec(BATTERY_CHARGE_CUTOFF_SOC)
    await setup.client.async_read_controls(setup.plant, [spec])
    sim.deny_control(scope="params")
    with pytest.raises(PermissionDeniedError) as err:
        await setup.client.async_start_control(setup.plant, spec, 90.0)
    assert err.value.code == "6-1"
    assert sim.param_raw(setup.storage, 10001) == 1000
    sim.deny_control(scope="api")
    logins = setup.client.logins
    with pytest.raises(PermissionDeniedError) as err:
        await setup.client.async_get_controls(setup.plant, setup.devices)
    assert err.value.code == "E900"
    # One new login to rule out an expired token, then the refusal stands.
    assert setup.client.logins == logins + 1
    with pytest.raises(PermissionDeniedError):
        await setup.client.async_start_control(setup.plant, spec, 90.0)
    sim.deny_control(False)
    task = await setup.client.async_start_control(setup.plant, spec, 90.0)
    await _follow(setup.client, clock, task)
    assert task.state is TaskState.SUCCESS


@pytest.mark.parametrize("param", [None, 10013])
async def test_task_failed(
    session: aiohttp.ClientSession,
    base_url: str,
    sim: SungrowSimulator,
    clock: FakeClock,
    param: int | None,
) -> None:
    """command_status 5: FAILED naming the parameter and its code; the value stays."""
    setup = await _setup(session, base_url, sim, clock)
    spec = setup.spec(GRID_EXPORT_LIMIT)
    await setup.client.async_read_controls(setup.plant, [spec])
    sim.fail_next_task(param)
    task = await setup.client.async_start_control(setup.plant, spec, 3000.0)
    await _follow(setup.client, clock, task)
    assert task.state is TaskState.FAILED
    assert task.reason is not None
    assert "10013 Feed-in Limitation Value: failed (command_status 5)" in task.reason
    assert ("10012" in task.reason) is (param is None)
    assert task.details["status_10013"] == 5
    assert sim.param_raw(setup.storage, 10013) == 10_000
    values = await setup.client.async_read_controls(setup.plant, [spec])
    if param is None:
        assert sim.param_raw(setup.storage, 10012) == 85
        assert values[(setup.storage, GRID_EXPORT_LIMIT)] == 10_000  # still off
    else:
        # The switch went on, the value did not change.
        assert sim.param_raw(setup.storage, 10012) == 170
        assert values[(setup.storage, GRID_EXPORT_LIMIT)] == 10_000


async def test_failed_force_forgets_the_mode(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """After a failed force the stop reads the mode back instead of trusting the memory."""
    setup = await _setup(session, base_url, sim, clock)
    await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    sim.fail_next_task()
    task = await setup.client.async_start_force(
        setup.plant, None, ForceRequest(discharge=False, power_w=1000.0, duration_min=5)
    )
    await _follow(setup.client, clock, task)
    assert task.state is TaskState.FAILED
    assert sim.param_raw(setup.storage, 10003) == 0
    stop = await setup.client.async_stop_force(setup.plant, None)
    assert stop.value == "self_consumption"
    await _follow(setup.client, clock, stop)
    assert stop.state is TaskState.SUCCESS


async def test_unconfirmed_mode_is_read_back_before_a_force(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A mode write that timed out leaves the mode unknown: the force reads it first."""
    setup = await _setup(session, base_url, sim, clock)
    await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    sim.set_task_delay(EXPIRE_SECOND + 60)
    task = await setup.client.async_start_control(
        setup.plant, setup.spec(BATTERY_WORKING_MODE), "vpp"
    )
    await _follow(setup.client, clock, task)
    assert task.state is TaskState.TIMED_OUT
    sim.set_task_delay(DELAY)
    sim.set_param(setup.storage, 10003, 4)  # it did reach the device in the end
    force = await setup.client.async_start_force(
        setup.plant, None, ForceRequest(discharge=False, power_w=1000.0, duration_min=5)
    )
    assert [t["params"] for t in sim.param_tasks(setup.storage)][-2:] == [
        {10003: None},
        {10003: 2, 10004: 170, 10005: 100},
    ]
    await _follow(setup.client, clock, force)
    stop = await setup.client.async_stop_force(setup.plant, None)
    assert stop.value == "vpp"


async def test_device_timeout(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The device does not answer within expire_second: command_status 6, TIMED_OUT."""
    setup = await _setup(session, base_url, sim, clock)
    spec = setup.spec(BATTERY_DISCHARGE_CUTOFF_SOC)
    await setup.client.async_read_controls(setup.plant, [spec])
    sim.set_task_delay(EXPIRE_SECOND + 60)
    task = await setup.client.async_start_control(setup.plant, spec, 30.0)
    states = await _follow(setup.client, clock, task)
    assert states[-1] is TaskState.TIMED_OUT
    assert len(states) == EXPIRE_SECOND // TASK_POLL_INTERVAL
    assert task.reason == "10002 SOC Lower Limit: timed out (command_status 6)"
    assert sim.param_raw(setup.storage, 10002) == 100


async def test_cloud_never_answers(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A task whose status never ends is TIMED_OUT once its timeout passed."""
    setup = await _setup(session, base_url, sim, clock)
    spec = setup.spec(BATTERY_MAX_DISCHARGE_POWER)
    await setup.client.async_read_controls(setup.plant, [spec])
    sim.freeze_next_task()
    task = await setup.client.async_start_control(setup.plant, spec, 2000.0)
    await _follow(setup.client, clock, task)
    assert task.state is TaskState.TIMED_OUT
    assert task.reason == f"no outcome within {TASK_TIMEOUT:.0f} s"
    assert task.finished_at is not None
    assert task.finished_at - task.started_at > TASK_TIMEOUT
    assert sim.param_raw(setup.storage, 10092) == 500


async def test_task_already_running(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A second task while one runs: check_result 9, refused; accepted once the first ended."""
    setup = await _setup(session, base_url, sim, clock)
    await setup.client.async_read_controls(setup.plant, list(setup.specs.values()))
    first = await setup.client.async_start_control(
        setup.plant, setup.spec(BATTERY_CHARGE_CUTOFF_SOC), 90.0
    )
    with pytest.raises(CommandRejectedError) as err:
        await setup.client.async_start_control(
            setup.plant, setup.spec(BATTERY_DISCHARGE_CUTOFF_SOC), 20.0
        )
    assert err.value.code == "9"
    assert "already running" in str(err.value) or "still running" in str(err.value)
    assert len(_writes(sim, setup.storage)) == 1
    await _follow(setup.client, clock, first)
    second = await setup.client.async_start_control(
        setup.plant, setup.spec(BATTERY_DISCHARGE_CUTOFF_SOC), 20.0
    )
    await _follow(setup.client, clock, second)
    assert (sim.param_value(setup.storage, 10001), sim.param_value(setup.storage, 10002)) == (
        90,
        20,
    )


async def test_rate_limited(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """E999 on a control call closes the hour for every call; nothing is sent again."""
    setup = await _setup(session, base_url, sim, clock)
    spec = setup.spec(BATTERY_CHARGE_CUTOFF_SOC)
    await setup.client.async_read_controls(setup.plant, [spec])
    task = await setup.client.async_start_control(setup.plant, spec, 90.0)
    sim.inject("fail_code:E999", path="getParamSettingTask")
    with pytest.raises(RateLimitedError) as err:
        await setup.client.async_poll_task(task)
    assert err.value.code == "E999"
    sent = sum(sim.calls.values())
    with pytest.raises(RateLimitedError):
        await setup.client.async_poll_task(task)
    with pytest.raises(RateLimitedError):
        await setup.client.async_start_control(setup.plant, spec, 85.0)
    assert sum(sim.calls.values()) == sent
    assert task.state is TaskState.RUNNING
    clock.now += err.value.retry_after
    polled = await setup.client.async_poll_task(task)
    assert polled.state is TaskState.SUCCESS


async def test_control_calls_count_against_the_hourly_cap(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Every control call takes a slot of the hour; an empty budget refuses before sending."""
    sim.hourly_cap = 20  # the client allows itself 18 an hour
    setup = await _setup(session, base_url, sim, clock)
    client = setup.client
    spec = setup.spec(BATTERY_CHARGE_CUTOFF_SOC)
    before = client.quota.remaining(E_HOUR)
    assert before is not None
    values = await client.async_read_controls(setup.plant, [spec])
    assert values[(setup.storage, BATTERY_CHARGE_CUTOFF_SOC)] == 100
    used = sim.calls["paramSetting"] + sim.calls["getParamSettingTask"]
    assert client.quota.remaining(E_HOUR) == before - used
    while (client.quota.remaining(E_HOUR) or 0) > 0:
        await client._call("getOpenApiCallInfo", {})
    settings = sim.calls["paramSetting"]
    with pytest.raises(RateLimitedError) as err:
        await client.async_start_control(setup.plant, spec, 90.0)
    assert err.value.code == "quota"
    assert sim.calls["paramSetting"] == settings
    assert sum(sim.refusals.values()) == 0


async def test_simulator_refuses_malformed_tasks(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The documented check_result codes for what the client never sends."""
    setup = await _setup(session, base_url, sim, clock)
    client = setup.client
    uuid = str(sim.device_uuid(setup.storage))
    meter = str(sim.device_uuid(sim.device_keys(int(setup.plant.id), 7)[0]))

    async def check(body: dict[str, Any]) -> str:
        base = {"set_type": 0, "uuid": uuid, "task_name": "t", "expire_second": 120}
        data = await client._call("paramSetting", {**base, **body}, control=True)
        return str(data["check_result"])

    one = [{"param_code": 10001, "set_value": "900"}]
    assert await check({"param_list": one, "expire_second": 1801}) == "8"
    assert await check({"param_list": one * 2}) == "2"
    assert await check({"param_list": [{"param_code": 10001, "set_value": ""}]}) == "4"
    assert await check({"param_list": one, "set_type": 2, "uuid": f"{uuid},{meter}"}) == "11"
    assert await check({"param_list": one, "uuid": "999"}) == "5"
    assert await check({"param_list": one, "uuid": meter}) == "6"
    feed_in = [{"param_code": 10013, "set_value": "3000"}]
    assert await check({"param_list": feed_in}) == "0"
    assert sim.param_tasks(setup.storage) == []


async def test_values_a_task_cannot_carry(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """Values Home Assistant checks before calling are refused by the client too, unsent."""
    setup = await _setup(session, base_url, sim, clock)
    tasks = len(sim.param_tasks())
    other = ControlSpec("charger_source_priority", setup.storage, ControlKind.SELECT)
    for spec, value in (
        (other, "pv_only"),
        (setup.spec(BATTERY_WORKING_MODE), "time_of_use"),
        (setup.spec(BATTERY_CHARGE_CUTOFF_SOC), "full"),
    ):
        with pytest.raises(ValueError, match=r"not a control|not an option|not a number"):
            await setup.client.async_start_control(setup.plant, spec, value)
    assert len(sim.param_tasks()) == tasks


async def test_power_limits_not_read(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """The device's power limits cannot be read (HTTP 500): the documented range is offered."""
    sim.inject("http_500", path="getDevPropertyPointValue")
    setup = await _setup(session, base_url, sim, clock)
    assert setup.spec(BATTERY_MAX_CHARGE_POWER).maximum == 10_600.0
    assert setup.spec(BATTERY_MAX_DISCHARGE_POWER).maximum == 10_600.0


async def test_device_not_listed(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A device the cloud no longer lists: the device list is asked once more, then the command
    is refused; a force on a plant without a storage inverter that takes commands is refused."""
    setup = await _setup(session, base_url, sim, clock)
    gone = ControlSpec(BATTERY_CHARGE_CUTOFF_SOC, "1000001_14_1_9", ControlKind.NUMBER)
    listed = sim.calls["getDeviceList"]
    with pytest.raises(CommandRejectedError) as refused:
        await setup.client.async_start_control(setup.plant, gone, 90.0)
    assert refused.value.code == "no_device"
    assert sim.calls["getDeviceList"] == listed + 1
    other = Plant(id="999", name="other")
    with pytest.raises(CommandRejectedError) as refused:
        await setup.client.async_start_force(other, None, ForceRequest(False, 1000, 10))
    assert refused.value.code == "no_device"
    assert _writes(sim, setup.storage) == []


async def test_poll_of_an_ended_task_or_one_without_device(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """An ended task is not asked about again; a task without its device's uuid cannot be."""
    setup = await _setup(session, base_url, sim, clock)
    task = await setup.client.async_start_control(
        setup.plant, setup.spec(BATTERY_CHARGE_CUTOFF_SOC), 90.0
    )
    await _follow(setup.client, clock, task)
    asked = sim.calls["getParamSettingTask"]
    assert (await setup.client.async_poll_task(task)) is task
    assert sim.calls["getParamSettingTask"] == asked
    orphan = ControlTask(
        id="5",
        plant_id=setup.plant.id,
        device_id=setup.storage,
        action=BATTERY_CHARGE_CUTOFF_SOC,
        value=90.0,
        state=TaskState.RUNNING,
        started_at=clock.now,
        poll_interval=TASK_POLL_INTERVAL,
        timeout=TASK_TIMEOUT,
    )
    with pytest.raises(ProtocolError):
        await setup.client.async_poll_task(orphan)


async def test_readback_never_answered(
    session: aiohttp.ClientSession, base_url: str, sim: SungrowSimulator, clock: FakeClock
) -> None:
    """A read-back task the device never answers: given up at the task's timeout, the values
    read as unknown."""
    setup = await _setup(session, base_url, sim, clock)
    sim.freeze_next_task()
    start = clock.now
    values = await setup.client.async_read_controls(
        setup.plant, [setup.spec(BATTERY_DISCHARGE_CUTOFF_SOC)]
    )
    assert values == {(setup.storage, BATTERY_DISCHARGE_CUTOFF_SOC): None}
    assert clock.now - start >= TASK_TIMEOUT
