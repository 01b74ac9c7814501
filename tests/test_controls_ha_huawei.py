"""FusionSolar battery controls through Home Assistant, against the simulator over loopback.

Selects, numbers and the battery actions send their task to the simulated cloud; the task is
polled on Home Assistant's clock (moved by the test); the entities show what the cloud reported
once the task succeeded, and every failure ends in a translated error.
"""

from __future__ import annotations

from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.solar_cloud.api.huawei import E_CONTROL_DAY
from custom_components.solar_cloud.const import DOMAIN
from custom_components.solar_cloud.diagnostics import async_get_config_entry_diagnostics
from tests.common import entity_id, state
from tests.conftest import USERNAME, make_entry
from tests.ha_controls import (
    NOON,
    control,
    registry_device,
    run_ticking,
    settle,
    setup_entry,
    start,
    tick,
)
from tests.simulators.huawei import HuaweiSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The control interfaces take one call a minute; the status of a setting is asked every minute.
MINUTE = 60.0
# Forced charges are asked about every 3 minutes.
FORCE_STEP = 180.0


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The account with its one battery plant, set up at noon."""
    freezer.move_to(NOON)
    return await setup_entry(hass, make_entry(server_url, huawei_sim.plant_codes(USERNAME)))


def _plant(sim: HuaweiSimulator) -> str:
    return sim.plant_codes(USERNAME)[0]


def _submissions(sim: HuaweiSimulator, kind: str | None = None) -> list[dict[str, Any]]:
    """The plant entries of the submissions that reached the simulator's task handling."""
    return [
        body["tasks"][0]
        for _t, name, body in sim.control_requests
        if (kind is None or name == kind) and not name.endswith("task-info")
    ]


def _used(entry: MockConfigEntry) -> int:
    """Control submissions counted against the account's daily budget."""
    return entry.runtime_data.client.quota.snapshot()[E_CONTROL_DAY]["sent_total"]


async def _select(hass: HomeAssistant, entity: str, option: str) -> Any:
    return await hass.services.async_call(
        "select", "select_option", {"entity_id": entity, "option": option}, blocking=True
    )


async def _number(hass: HomeAssistant, entity: str, value: float) -> Any:
    return await hass.services.async_call(
        "number", "set_value", {"entity_id": entity, "value": value}, blocking=True
    )


async def test_working_mode_both_ways(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The mode reaches the cloud as a task; while it runs the entity says so and keeps the old
    value; once it succeeded the entity shows the mode the cloud reported."""
    plant = _plant(huawei_sim)
    select = control(hass, "select", "battery_working_mode")
    last_command = entity_id(hass, f":{plant}:plant:last_command")
    assert hass.states.get(select).state == "self_consumption"
    assert hass.states.get(last_command).state == "unknown"
    used = _used(entry)

    running = await start(hass, _select(hass, select, "time_of_use"))
    selected = hass.states.get(select)
    assert selected.state == "self_consumption"
    assert selected.attributes["task"] == "running"
    assert selected.attributes["task_action"] == "battery_working_mode"
    # The number on the battery shows it too; the export limit, on the inverter, does not.
    soc = hass.states.get(control(hass, "number", "battery_charge_cutoff_soc"))
    assert soc.attributes["task"] == "running"
    assert "task" not in hass.states.get(control(hass, "number", "grid_export_limit")).attributes
    last = hass.states.get(last_command)
    assert last.state == "running"
    assert last.attributes["action"] == "battery_working_mode"
    assert last.attributes["value"] == "time_of_use"
    assert last.attributes["finished_at"] is None
    task_id = last.attributes["task_id"]
    assert task_id

    await run_ticking(hass, freezer, running, MINUTE)
    assert huawei_sim.battery_settings(plant)["operationMode"] == "TOU"
    selected = hass.states.get(select)
    assert selected.state == "time_of_use"
    assert "task" not in selected.attributes
    last = hass.states.get(last_command)
    assert last.state == "success"
    assert last.attributes["task_id"] == task_id
    assert last.attributes["finished_at"] is not None
    assert last.attributes["reason"] is None
    assert _used(entry) == used + 1

    await run_ticking(hass, freezer, _select(hass, select, "self_consumption"), MINUTE)
    assert huawei_sim.battery_settings(plant)["operationMode"] == "maximumSelfConsumption"
    assert hass.states.get(select).state == "self_consumption"
    assert [e["operationMode"] for e in _submissions(huawei_sim, "battery/mode")] == [
        "TOU",
        "maximumSelfConsumption",
    ]
    assert _used(entry) == used + 2


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("battery_charge_cutoff_soc", 95.5, "endOfChargeSoc"),
        ("battery_discharge_cutoff_soc", 12, "endOfDischargeSoc"),
        ("battery_max_charge_power", 2000, "maximumChargePower"),
        ("battery_max_discharge_power", 1500, "maximumDischargePower"),
    ],
)
async def test_battery_configuration_number(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    key: str,
    value: float,
    field: str,
) -> None:
    """Each battery setting is written with a configuration task and read back from its echo."""
    plant = _plant(huawei_sim)
    number = control(hass, "number", key)
    assert hass.states.get(number).state == "unknown"  # no task has told it yet
    assert huawei_sim.battery_settings(plant)[field] != value

    await run_ticking(hass, freezer, _number(hass, number, value), MINUTE)
    assert huawei_sim.battery_settings(plant)[field] == value
    assert float(hass.states.get(number).state) == value
    (sent,) = _submissions(huawei_sim, "battery/configuration")
    assert sent["batteryConfigurationInfo"][field] == value
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["action"]) == ("success", key)


async def test_second_setting_keeps_the_first(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A configuration task sends the settings read back before unchanged beside the new one."""
    plant = _plant(huawei_sim)
    end_of_charge = control(hass, "number", "battery_charge_cutoff_soc")
    end_of_discharge = control(hass, "number", "battery_discharge_cutoff_soc")
    await run_ticking(hass, freezer, _number(hass, end_of_charge, 92), MINUTE)
    await run_ticking(hass, freezer, _number(hass, end_of_discharge, 15), MINUTE)
    settings = huawei_sim.battery_settings(plant)
    assert (settings["endOfChargeSoc"], settings["endOfDischargeSoc"]) == (92, 15)
    assert float(hass.states.get(end_of_charge).state) == 92
    assert float(hass.states.get(end_of_discharge).state) == 15
    second = _submissions(huawei_sim, "battery/configuration")[1]
    assert second["batteryConfigurationInfo"]["endOfChargeSoc"] == 92


async def test_grid_export_limit(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The feed-in limit goes out in kW with the active power task; the entity shows W."""
    plant = _plant(huawei_sim)
    number = control(hass, "number", "grid_export_limit")
    await run_ticking(hass, freezer, _number(hass, number, 3500), MINUTE)
    settings = huawei_sim.battery_settings(plant)
    assert settings["controlMode"] == "6"
    assert settings["controlInfo"]["maxGridFeedInPower"] == 3.5
    assert float(hass.states.get(number).state) == 3500


async def test_force_charge_for_a_time(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A forced charge by time runs in the cloud for its duration; the action answers with the
    task id and its end; the cloud ends it by itself."""
    plant = _plant(huawei_sim)
    device = registry_device(hass, entry, plant)
    running = await start(
        hass,
        hass.services.async_call(
            DOMAIN,
            "force_charge",
            {"device_id": device, "power": 1200, "duration": 10},
            blocking=True,
            return_response=True,
        ),
    )
    (sent,) = _submissions(huawei_sim, "charge-and-discharge")
    assert sent == {
        "plantCode": plant,
        "dispatchSwitch": 1,
        "powerDispatch": 1200,
        "controlType": 2,
        "dispatchTime": 10,
    }
    # Plant-wide: every control shows the task.
    assert (
        hass.states.get(control(hass, "select", "battery_working_mode")).attributes["task_action"]
        == "force_charge"
    )
    response = await run_ticking(hass, freezer, running, FORCE_STEP)
    assert response["status"] == "success"
    assert response["reason"] is None
    last = state(hass, f":{plant}:plant:last_command")
    assert last.state == "success"
    assert last.attributes["task_id"] == response["task_id"]
    assert last.attributes["value"] == 1200
    # Delivered after the cloud's task delay, then 10 minutes of charging.
    assert (last.attributes["finished_at"] - last.attributes["started_at"]).total_seconds() >= 600
    assert huawei_sim.forcing(plant) == 0
    # The cloud ends it: Home Assistant keeps no timer of its own.
    assert entry.runtime_data.controls[plant]._scheduled_stop is None


async def test_force_discharge_to_soc_then_stopped(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A forced discharge to a target SOC runs until stopped; meanwhile other commands are
    refused before anything is sent; the stop ends it in the cloud."""
    plant = _plant(huawei_sim)
    device = registry_device(hass, entry, plant)
    controls = entry.runtime_data.controls[plant]
    force = await start(
        hass,
        hass.services.async_call(
            DOMAIN,
            "force_discharge",
            {"device_id": device, "power": 800, "target_soc": 0},
            blocking=True,
            return_response=True,
        ),
    )
    for _ in range(3):
        await tick(hass, freezer, FORCE_STEP)
    assert huawei_sim.forcing(plant) == 2
    assert not force.done()
    assert state(hass, f":{plant}:plant:last_command").state == "running"
    sent = len(huawei_sim.control_requests)

    # One task per plant: Home Assistant refuses a second one itself.
    with pytest.raises(HomeAssistantError) as err:
        await _select(hass, control(hass, "select", "battery_working_mode"), "time_of_use")
    assert err.value.translation_key == "task_running"
    assert err.value.translation_placeholders == {"action": "force_discharge"}
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "force_charge",
            {"device_id": device, "power": 500, "duration": 5},
            blocking=True,
        )
    assert err.value.translation_key == "task_running"
    assert len(huawei_sim.control_requests) == sent

    # The stop may replace the forced discharge. (Both tasks are asked about on the same
    # status interface, one call a minute: the clock moves by the minute.)
    stop = await run_ticking(
        hass,
        freezer,
        hass.services.async_call(
            DOMAIN, "stop_forced_charge", {"device_id": device}, blocking=True, return_response=True
        ),
        MINUTE,
    )
    assert stop["status"] == "success"
    assert huawei_sim.forcing(plant) == 0
    assert _submissions(huawei_sim, "charge-and-discharge")[-1]["dispatchSwitch"] == 0
    # The forced discharge's own task ends too (the cloud reports it done).
    outcome = await run_ticking(hass, freezer, force, MINUTE)
    assert outcome["status"] == "success"
    assert controls.task is None


async def test_write_while_a_task_runs_is_refused(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A second write to the plant while one runs is refused before it is sent."""
    huawei_sim.set_task_delay(600)
    first = await start(
        hass, _number(hass, control(hass, "number", "battery_charge_cutoff_soc"), 93)
    )
    sent = len(huawei_sim.control_requests)
    with pytest.raises(HomeAssistantError) as err:
        await _number(hass, control(hass, "number", "battery_discharge_cutoff_soc"), 10)
    assert err.value.translation_key == "task_running"
    assert "battery_charge_cutoff_soc" in str(err.value)
    assert len(huawei_sim.control_requests) == sent
    await run_ticking(hass, freezer, first, MINUTE)
    assert huawei_sim.battery_settings(_plant(huawei_sim))["endOfChargeSoc"] == 93


# -- failures ---------------------------------------------------------------------------------


async def test_out_of_range_is_refused_before_sending(
    hass: HomeAssistant, entry: MockConfigEntry, huawei_sim: HuaweiSimulator
) -> None:
    """Values outside the documented ranges and options the task cannot set never leave."""
    for key, value in (
        ("battery_charge_cutoff_soc", 80),  # 90-100 %
        ("battery_discharge_cutoff_soc", 25),  # 0-20 %
        ("battery_max_charge_power", 2600),  # the battery's 2.5 kW
        ("grid_export_limit", -1),
    ):
        with pytest.raises(ServiceValidationError):
            await _number(hass, control(hass, "number", key), value)
    with pytest.raises(ServiceValidationError):
        await _select(hass, control(hass, "select", "battery_working_mode"), "external_dispatch")
    device = registry_device(hass, entry, _plant(huawei_sim))
    for data, key in (
        ({"power": 200_000, "duration": 10}, "invalid_power"),
        ({"power": 1000}, "duration_or_soc"),
        ({"power": 1000, "duration": 2000}, "invalid_duration"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "force_charge", {"device_id": device, **data}, blocking=True
            )
        assert err.value.translation_key == key
    assert huawei_sim.control_requests == []
    assert state(hass, f":{_plant(huawei_sim)}:plant:last_command").state == "unknown"


async def test_permission_refused_on_write(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The account lost the control interfaces (401): the write ends in a translated error that
    names the code, the entity keeps its value, and after a reload no control is offered."""
    plant = _plant(huawei_sim)
    select = control(hass, "select", "battery_working_mode")
    huawei_sim.deny_control()
    with pytest.raises(HomeAssistantError) as err:
        await _select(hass, select, "time_of_use")
    assert err.value.translation_key == "control_permission"
    assert err.value.translation_placeholders == {"code": "401"}
    assert "401" in str(err.value)
    assert hass.states.get(select).state == "self_consumption"
    assert state(hass, f":{plant}:plant:last_command").state == "failed"
    assert huawei_sim.battery_settings(plant)["operationMode"] == "maximumSelfConsumption"

    await run_ticking(hass, freezer, hass.config_entries.async_reload(entry.entry_id), MINUTE)
    assert entry.runtime_data.controls[plant].specs == {}
    assert hass.states.get(select).state == "unavailable"
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    controls = diagnostics["plants"][plant]["controls"]
    assert controls["controls"] == []
    assert controls["can_force"] is False
    assert set(controls["not_offered"].values()) == {"no control permission (401)"}


async def test_no_permission_at_set_up(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without the control interfaces the plant gets no control entities, no last command
    sensor, and the actions say so."""
    freezer.move_to(NOON)
    huawei_sim.deny_control()
    entry = await setup_entry(hass, make_entry(server_url, huawei_sim.plant_codes(USERNAME)))
    plant = _plant(huawei_sim)
    assert hass.states.async_entity_ids("select") == []
    assert hass.states.async_entity_ids("number") == []
    assert not any(e.endswith("last_command") for e in hass.states.async_entity_ids("sensor"))
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "force_charge",
            {"device_id": registry_device(hass, entry, plant), "power": 1000, "duration": 5},
            blocking=True,
        )
    assert err.value.translation_key == "force_unsupported"
    assert huawei_sim.control_requests == []


async def test_task_failed_keeps_the_real_value(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A task that fails in the cloud raises an error naming the cloud's reason; the entity and
    the cloud keep the value from before; last_command tells what failed and why."""
    plant = _plant(huawei_sim)
    number = control(hass, "number", "battery_charge_cutoff_soc")
    await run_ticking(hass, freezer, _number(hass, number, 95), MINUTE)
    huawei_sim.fail_next_task("BUSY")
    with pytest.raises(HomeAssistantError) as err:
        await run_ticking(hass, freezer, _number(hass, number, 92), MINUTE)
    assert err.value.translation_key == "task_failed"
    assert err.value.translation_placeholders == {
        "action": "battery_charge_cutoff_soc",
        "reason": "BUSY",
    }
    assert "BUSY" in str(err.value)
    assert float(hass.states.get(number).state) == 95
    assert huawei_sim.battery_settings(plant)["endOfChargeSoc"] == 95
    last = state(hass, f":{plant}:plant:last_command")
    assert last.state == "failed"
    assert last.attributes["reason"] == "BUSY"
    assert last.attributes["value"] == 92


async def test_delivery_refused(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
) -> None:
    """A task the cloud cannot deliver is refused at once with the cloud's message; nothing is
    followed."""
    plant = _plant(huawei_sim)
    huawei_sim.refuse_next_delivery("EXCEPTION")
    with pytest.raises(HomeAssistantError) as err:
        await _number(hass, control(hass, "number", "grid_export_limit"), 2000)
    assert err.value.translation_key == "command_rejected"
    assert "EXCEPTION" in err.value.translation_placeholders["reason"]
    assert "EXCEPTION" in str(err.value)
    assert state(hass, f":{plant}:plant:last_command").state == "failed"
    assert entry.runtime_data.controls[plant].task is None
    assert huawei_sim.battery_settings(plant)["controlMode"] == "0"


async def test_task_timed_out_in_the_cloud(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The cloud gives up on the device (FAIL with TIMEOUT): a timed-out error, the value stays."""
    plant = _plant(huawei_sim)
    select = control(hass, "select", "battery_working_mode")
    huawei_sim.fail_next_task("TIMEOUT")
    with pytest.raises(HomeAssistantError) as err:
        await run_ticking(hass, freezer, _select(hass, select, "time_of_use"), MINUTE)
    assert err.value.translation_key == "task_timed_out"
    assert err.value.translation_placeholders == {
        "action": "battery_working_mode",
        "reason": "TIMEOUT",
    }
    assert "TIMEOUT" in str(err.value)
    assert hass.states.get(select).state == "self_consumption"
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["reason"]) == ("timed_out", "TIMEOUT")
    assert huawei_sim.battery_settings(plant)["operationMode"] == "maximumSelfConsumption"


async def test_daily_control_allowance_used_up(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The cloud's daily cap of control submissions: a clear error, and no resend until the
    next day."""
    plant = _plant(huawei_sim)
    number = control(hass, "number", "battery_discharge_cutoff_soc")
    huawei_sim.control_daily_cap = 1
    await run_ticking(hass, freezer, _number(hass, number, 10), MINUTE)
    with pytest.raises(HomeAssistantError) as err:
        await _number(hass, number, 12)
    assert err.value.translation_key == "rate_limited"
    # Held until the next UTC day (13 h after 11:00).
    assert 12 * 3600 < int(err.value.translation_placeholders["retry_after"]) <= 13 * 3600
    assert huawei_sim.refusals["battery/configuration"] == 1
    calls = huawei_sim.calls["battery/configuration"]
    with pytest.raises(HomeAssistantError) as err:
        await _number(hass, number, 12)
    assert err.value.translation_key == "rate_limited"
    assert huawei_sim.refusals["battery/configuration"] == 1
    assert huawei_sim.calls["battery/configuration"] == calls
    assert float(hass.states.get(number).state) == 10
    assert huawei_sim.battery_settings(plant)["endOfDischargeSoc"] == 10


async def test_cloud_faults_while_polling(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An HTTP 500 and a broken JSON answer to the status query do not end the task: it is
    asked again, succeeds, and the value is read back."""
    plant = _plant(huawei_sim)
    number = control(hass, "number", "battery_max_discharge_power")
    huawei_sim.inject("http_500", path="battery/configuration/task-info")
    huawei_sim.inject("malformed_json", path="battery/configuration/task-info")
    await run_ticking(hass, freezer, _number(hass, number, 1800), MINUTE)
    # The permission check at set-up, the two faults, the answer that the task succeeded.
    asked = [r for r in huawei_sim.requests if r[1] == "battery/configuration/task-info"]
    assert len(asked) == 4
    assert float(hass.states.get(number).state) == 1800
    assert state(hass, f":{plant}:plant:last_command").state == "success"
    assert huawei_sim.battery_settings(plant)["maximumDischargePower"] == 1800


async def test_cloud_fault_on_submission_is_not_resent(
    hass: HomeAssistant, entry: MockConfigEntry, huawei_sim: HuaweiSimulator
) -> None:
    """An HTTP 502 to the submission: the cloud may or may not have the task, so it is not sent
    again; the error says the cloud is unavailable."""
    plant = _plant(huawei_sim)
    huawei_sim.inject("http_502", path="battery/mode")
    with pytest.raises(HomeAssistantError) as err:
        await _select(hass, control(hass, "select", "battery_working_mode"), "time_of_use")
    assert err.value.translation_key == "cloud_unavailable"
    assert [r[1] for r in huawei_sim.requests].count("battery/mode") == 1
    assert state(hass, f":{plant}:plant:last_command").state == "failed"


async def test_long_force_goes_on_in_the_background(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A forced discharge that runs for hours: the action answers after its wait with the task
    still running; last_command follows it; unloading stops following it."""
    plant = _plant(huawei_sim)
    response = await run_ticking(
        hass,
        freezer,
        hass.services.async_call(
            DOMAIN,
            "force_discharge",
            {"device_id": registry_device(hass, entry, plant), "power": 500, "target_soc": 0},
            blocking=True,
            return_response=True,
        ),
        FORCE_STEP,
    )
    assert response["status"] == "running"
    assert huawei_sim.forcing(plant) == 2
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["task_id"]) == ("running", response["task_id"])
    polls = huawei_sim.calls["chargeAndDischargeStatus"]
    await tick(hass, freezer, FORCE_STEP)
    assert huawei_sim.calls["chargeAndDischargeStatus"] == polls + 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    polls = huawei_sim.calls["chargeAndDischargeStatus"]
    for _ in range(3):
        await tick(hass, freezer, FORCE_STEP)
    assert huawei_sim.calls["chargeAndDischargeStatus"] == polls


async def test_unload_while_a_write_runs(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Unloading while a write waits for its task: the write returns, the task is no longer
    asked about; after the reload the cloud refuses the same task while it still runs (20615),
    and the refusal names the cloud's code."""
    select = control(hass, "select", "battery_working_mode")
    huawei_sim.set_task_delay(1800)
    write = await start(hass, _select(hass, select, "time_of_use"))
    await tick(hass, freezer, MINUTE)
    assert huawei_sim.calls["battery/mode/task-info"] == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    await settle(hass)
    assert write.done()
    write.result()  # no error: the task was sent and runs on in the cloud
    for _ in range(3):
        await tick(hass, freezer, MINUTE)
    assert huawei_sim.calls["battery/mode/task-info"] == 1

    await run_ticking(hass, freezer, hass.config_entries.async_setup(entry.entry_id), MINUTE)
    await settle(hass)
    with pytest.raises(HomeAssistantError) as err:
        await _select(hass, select, "time_of_use")
    assert err.value.translation_key == "command_rejected"
    assert "20615" in err.value.translation_placeholders["reason"]
    assert hass.states.get(select).state == "self_consumption"
