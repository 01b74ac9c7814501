"""Controls through Home Assistant: selects, numbers, actions and the last-command sensor."""

from __future__ import annotations

import asyncio

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.solar_cloud.const import DOMAIN
from custom_components.solar_cloud.diagnostics import async_get_config_entry_diagnostics
from tests.common import entity_id, state
from tests.conftest import SHINE_USER, make_shine_entry
from tests.simulators.shinemonitor import ShineMonitorSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOON = "2026-06-21 11:00:00+00:00"


async def _no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _plant_device(hass: HomeAssistant, entry: MockConfigEntry, plant_id: str) -> str:
    device = dr.async_get(hass).async_get_device(
        identifiers={(DOMAIN, f"{entry.unique_id}:{plant_id}")}
    )
    assert device is not None
    return device.id


@pytest.fixture
async def shine_entry(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """A ShineMonitor plant with a storage inverter, set up."""
    freezer.move_to(NOON)
    return await _setup(hass, make_shine_entry(shine_url, shine_sim))


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


async def test_force_not_offered_for_shinemonitor(
    hass: HomeAssistant, shine_entry: MockConfigEntry, shine_sim: ShineMonitorSimulator
) -> None:
    """A vendor without forced charging says so before sending anything."""
    plant, _sn = _storage(shine_sim)
    device = _plant_device(hass, shine_entry, str(plant))
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "force_charge",
            {"device_id": device, "power": 1000, "duration": 30},
            blocking=True,
        )
    assert err.value.translation_key == "force_unsupported"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "stop_forced_charge", {"device_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "no_battery_target"
