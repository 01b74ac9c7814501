"""Controls through Home Assistant: selects, numbers, actions and the last-command sensor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.solar_cloud.const import DOMAIN
from custom_components.solar_cloud.diagnostics import async_get_config_entry_diagnostics
from tests.common import entity_id, state
from tests.conftest import SHINE_USER, make_shine_entry, make_sungrow_entry
from tests.ha_controls import no_wait, registry_device, setup_entry
from tests.simulators.shinemonitor import ShineMonitorSimulator
from tests.simulators.sungrow import SungrowSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOON = "2026-06-21 11:00:00+00:00"


@pytest.fixture
async def shine_entry(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """A ShineMonitor plant with a storage inverter, set up."""
    freezer.move_to(NOON)
    return await setup_entry(hass, make_shine_entry(shine_url, shine_sim))


def _storage(sim: ShineMonitorSimulator) -> tuple[int, str]:
    plant = sim.plant_ids(SHINE_USER)[0]
    sn = next(d["sn"] for d in sim.devices(plant) if d["devcode"] // 256 == 9)
    return plant, sn


async def test_select_and_number_write_and_read_back(
    hass: HomeAssistant, shine_entry: MockConfigEntry, shine_sim: ShineMonitorSimulator
) -> None:
    """A value reaches the device, the entity shows the value read back, last_command follows."""
    plant, sn = _storage(shine_sim)
    select = entity_id(hass, f":{sn}:charger_source_priority")
    assert (
        hass.states.get(select).state
        in state(hass, f":{sn}:charger_source_priority").attributes["options"]
    )
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "pv_only"}, blocking=True
    )
    assert hass.states.get(select).state == "pv_only"
    last = state(hass, f":{plant}:plant:last_command")
    assert last.state == "success"
    assert last.attributes["action"] == "charger_source_priority"

    number = entity_id(hass, f":{sn}:battery_max_charge_current")
    await hass.services.async_call(
        "number", "set_value", {"entity_id": number, "value": 45}, blocking=True
    )
    assert float(hass.states.get(number).state) == 45
    # Outside the device's range: refused before anything is sent.
    sent = len(shine_sim.control_commands)
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "number", "set_value", {"entity_id": number, "value": 500}, blocking=True
        )
    assert len(shine_sim.control_commands) == sent

    diagnostics = await async_get_config_entry_diagnostics(hass, shine_entry)
    controls = diagnostics["plants"][str(plant)]["controls"]
    assert f"{sn}:battery_max_charge_current" in controls["controls"]
    assert controls["last_task"]["status"] == "success"


async def test_failed_write_keeps_the_real_value(
    hass: HomeAssistant, shine_entry: MockConfigEntry, shine_sim: ShineMonitorSimulator
) -> None:
    """A refused or failed task raises a translated error; the entity keeps the real value."""
    plant, sn = _storage(shine_sim)
    select = entity_id(hass, f":{sn}:output_source_priority")
    before = hass.states.get(select).state
    target = next(o for o in hass.states.get(select).attributes["options"] if o != before)
    shine_sim.fail_next_task()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "select", "select_option", {"entity_id": select, "option": target}, blocking=True
        )
    assert err.value.translation_key == "task_failed"
    assert hass.states.get(select).state == before
    assert state(hass, f":{plant}:plant:last_command").state == "failed"
    shine_sim.deny_control()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "select", "select_option", {"entity_id": select, "option": target}, blocking=True
        )
    assert err.value.translation_key == "control_permission"
    assert hass.states.get(select).state == before


async def test_shinemonitor_force_by_source_priority(
    hass: HomeAssistant,
    shine_entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """ShineMonitor forces through the source priorities and writes the old value back."""
    plant, sn = _storage(shine_sim)
    device = registry_device(hass, shine_entry, str(plant))
    charger = entity_id(hass, f":{sn}:charger_source_priority")
    before = hass.states.get(charger).state
    assert before != "utility_first"
    response = await hass.services.async_call(
        DOMAIN,
        "force_charge",
        {"device_id": device, "power": 1000, "duration": 30},
        blocking=True,
        return_response=True,
    )
    assert response["status"] == "success"
    assert hass.states.get(charger).state == "utility_first"
    last = state(hass, f":{plant}:plant:last_command")
    assert last.attributes["action"] == "force_charge"
    # Home Assistant ends it after the 30 minutes: the charger priority goes back.
    freezer.tick(timedelta(minutes=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(charger).state == before
    assert state(hass, f":{plant}:plant:last_command").attributes["action"] == (
        "stop_forced_charge"
    )

    output = entity_id(hass, f":{sn}:output_source_priority")
    await hass.services.async_call(
        "select", "select_option", {"entity_id": output, "option": "solar_first"}, blocking=True
    )
    await hass.services.async_call(
        DOMAIN,
        "force_discharge",
        {"device_id": device, "power": 1000, "duration": 60},
        blocking=True,
    )
    assert hass.states.get(output).state == "solar_battery_utility"
    await hass.services.async_call(
        DOMAIN, "stop_forced_charge", {"device_id": device}, blocking=True
    )
    assert hass.states.get(output).state == "solar_first"
    # The timer of the ended discharge does not fire a second stop.
    commands = len(shine_sim.control_commands)
    freezer.tick(timedelta(minutes=61))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(shine_sim.control_commands) == commands
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "stop_forced_charge", {"device_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "no_battery_target"


async def _run_while_ticking(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, call: Any, step: float = 6.0
) -> Any:
    """Run a blocking action while moving the clock, so the task's polls come due."""
    running = asyncio.ensure_future(call)
    for _ in range(40):
        for _ in range(20):
            await asyncio.sleep(0)
        if running.done():
            break
        freezer.tick(timedelta(seconds=step))
        async_fire_time_changed(hass)
    return await running


@pytest.fixture
async def sungrow_entry(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> AsyncIterator[MockConfigEntry]:
    """A Sungrow plant with a storage inverter, set up."""
    freezer.move_to(NOON)
    with patch("custom_components.solar_cloud.api.sungrow._sleep", no_wait):
        yield await setup_entry(hass, make_sungrow_entry(sungrow_url, sungrow_sim))


async def test_force_charge_for_a_time_then_stopped(
    hass: HomeAssistant,
    sungrow_entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Forced charge by time: the response carries the task; Home Assistant stops it after the
    duration; a second command while one runs is refused; bad inputs are never sent."""
    plant = str(sungrow_sim.plant_ids()[0])
    device = registry_device(hass, sungrow_entry, plant)
    for bad in ({"power": 1000}, {"power": 200_000, "duration": 10}):
        with pytest.raises(ServiceValidationError):
            await hass.services.async_call(
                DOMAIN, "force_charge", {"device_id": device, **bad}, blocking=True
            )
    response = await _run_while_ticking(
        hass,
        freezer,
        hass.services.async_call(
            DOMAIN,
            "force_charge",
            {"device_id": device, "power": 2000, "duration": 30},
            blocking=True,
            return_response=True,
        ),
    )
    assert response["status"] == "success"
    assert response["task_id"]
    assert state(hass, f":{plant}:plant:last_command").state == "success"
    # After the duration Home Assistant ends it.
    freezer.tick(timedelta(minutes=31))
    async_fire_time_changed(hass)
    controls = sungrow_entry.runtime_data.controls[plant]
    for _ in range(60):
        for _ in range(10):
            await asyncio.sleep(0)
        last = controls.last
        if last is not None and last.action == "stop_forced_charge" and last.done:
            break
        freezer.tick(timedelta(seconds=6))
        async_fire_time_changed(hass)
    assert last is not None
    assert last.action == "stop_forced_charge"
    assert last.state.value == "success"

    sungrow_sim.set_task_delay(60)
    first = asyncio.ensure_future(
        hass.services.async_call(
            DOMAIN,
            "force_discharge",
            {"device_id": device, "power": 1500, "target_soc": 0},
            blocking=True,
        )
    )
    for _ in range(20):
        await asyncio.sleep(0)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "force_charge",
            {"device_id": device, "power": 1000, "duration": 5},
            blocking=True,
        )
    assert err.value.translation_key == "task_running"
    await _run_while_ticking(hass, freezer, first, step=10)
    sungrow_sim.set_task_delay(0)
    response = await _run_while_ticking(
        hass,
        freezer,
        hass.services.async_call(
            DOMAIN,
            "stop_forced_charge",
            {"device_id": device},
            blocking=True,
            return_response=True,
        ),
    )
    assert response["status"] == "success"


async def test_validation_refusals_and_unload(
    hass: HomeAssistant,
    sungrow_entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Impossible durations and targets are refused before sending; a cloud refusal is a
    translated error; a forced charge watched for its target SOC ends with the entry."""
    plant = str(sungrow_sim.plant_ids()[0])
    device = registry_device(hass, sungrow_entry, plant)
    for data, key in (
        ({"power": 1000, "duration": 5000}, "invalid_duration"),
        ({"power": 1000, "target_soc": 100.0}, None),
    ):
        service = "force_discharge" if key is None else "force_charge"
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, service, {"device_id": device, **data}, blocking=True
            )
        assert err.value.translation_key == (key or "invalid_target_soc")
    sungrow_sim.deny_control(True, scope="params")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "force_discharge",
            {"device_id": device, "power": 1000, "target_soc": 0},
            blocking=True,
        )
    assert err.value.translation_key in ("control_permission", "command_rejected")
    sungrow_sim.deny_control(False, scope="params")
    response = await _run_while_ticking(
        hass,
        freezer,
        hass.services.async_call(
            DOMAIN,
            "force_discharge",
            {"device_id": device, "power": 1000, "target_soc": 0},
            blocking=True,
            return_response=True,
        ),
    )
    assert response["status"] == "success"
    controls = sungrow_entry.runtime_data.controls[plant]
    assert controls._soc_watch is not None
    assert await hass.config_entries.async_unload(sungrow_entry.entry_id)
    assert controls._soc_watch is None


async def test_controls_found_after_a_failed_look_up(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A cloud fault while looking up the controls leaves none; they come with a later look-up."""
    freezer.move_to(NOON)
    shine_sim.inject("http_500", path="queryDeviceCtrlField")
    entry = await setup_entry(hass, make_shine_entry(shine_url, shine_sim))
    plant, sn = _storage(shine_sim)
    controls = entry.runtime_data.controls[str(plant)]
    assert controls.specs == {}
    assert "controls" in controls.reasons or any(
        "500" in reason or "unavailable" in reason for reason in controls.reasons.values()
    )
    registry = er.async_get(hass)
    assert not [e for e in registry.entities.values() if e.domain in ("select", "number")]
    # Coordinator updates before the retry is due do not look again.
    freezer.tick(timedelta(minutes=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert controls.specs == {}
    for _ in range(5):
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert controls.specs, (controls.reasons, controls._loaded_at, shine_sim.requests[-5:])
    select = entity_id(hass, f":{sn}:charger_source_priority")
    assert hass.states.get(select).state in hass.states.get(select).attributes["options"]
    assert entity_id(hass, f":{sn}:battery_max_charge_current").startswith("number.")


async def test_forced_charge_ended_after_a_restart(
    hass: HomeAssistant,
    shine_entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A forced charge that Home Assistant ends is remembered: after a restart that outlasted
    its duration it is ended at once; the memory is saved with the account's."""
    plant, sn = _storage(shine_sim)
    device = registry_device(hass, shine_entry, str(plant))
    charger = entity_id(hass, f":{sn}:charger_source_priority")
    before = hass.states.get(charger).state
    await hass.services.async_call(
        DOMAIN, "force_charge", {"device_id": device, "power": 800, "duration": 30}, blocking=True
    )
    assert hass.states.get(charger).state == "utility_first"
    forces = shine_entry.runtime_data.account.memory.forces
    assert forces[str(plant)]["until"] == pytest.approx(
        dt_util.utcnow().timestamp() + 30 * 60, abs=1
    )
    saved = shine_entry.runtime_data.account.memory.export()["forces"]
    assert saved[str(plant)]["device_id"] is None

    assert await hass.config_entries.async_unload(shine_entry.entry_id)
    await hass.async_block_till_done()
    freezer.tick(timedelta(minutes=45))
    assert await hass.config_entries.async_setup(shine_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(charger).state == before
    assert str(plant) not in shine_entry.runtime_data.account.memory.forces
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["action"]) == ("success", "stop_forced_charge")


async def test_forced_charge_to_soc_rearmed_after_a_reload(
    hass: HomeAssistant,
    shine_entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
) -> None:
    """A force up to a target SOC is watched again after a reload and ends when it is reached."""
    plant, sn = _storage(shine_sim)
    device = registry_device(hass, shine_entry, str(plant))
    soc = shine_entry.runtime_data.coordinators[str(plant)].data.readings["battery_soc"]
    await hass.services.async_call(
        DOMAIN,
        "force_charge",
        {"device_id": device, "power": 800, "target_soc": min(100, soc + 10)},
        blocking=True,
    )
    assert await hass.config_entries.async_reload(shine_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    controls = shine_entry.runtime_data.controls[str(plant)]
    assert controls._soc_watch is not None
    charger = entity_id(hass, f":{sn}:charger_source_priority")
    assert hass.states.get(charger).state == "utility_first"
