"""How the plant's controls behave when things go wrong around a task (any vendor).

Set-up refusals, actions the plant cannot take, a stop Home Assistant has to send by itself,
a caller that gives up waiting, and targets that are no longer loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.solar_cloud.const import DOMAIN
from custom_components.solar_cloud.diagnostics import async_get_config_entry_diagnostics
from tests.common import state
from tests.conftest import make_shine_entry, make_sungrow_entry
from tests.ha_controls import (
    NOON,
    control,
    no_wait,
    registry_device,
    run_ticking,
    settle,
    setup_entry,
    start,
    tick,
    tick_until,
)
from tests.simulators.shinemonitor import ShineMonitorSimulator
from tests.simulators.sungrow import SungrowSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

STEP = 6.0
STORAGE = "1000001_14_1_1"


@pytest.fixture
async def sungrow_sleep() -> AsyncIterator[None]:
    """The client's read-back waits return at once."""
    with patch("custom_components.solar_cloud.api.sungrow._sleep", no_wait):
        yield


async def _sungrow(
    hass: HomeAssistant, url: str, sim: SungrowSimulator, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    freezer.move_to(NOON)
    return await setup_entry(hass, make_sungrow_entry(url, sim))


def _force(device: str, service: str = "force_discharge", **data: Any) -> tuple[Any, ...]:
    return (DOMAIN, service, {"device_id": device, **data})


@pytest.mark.usefixtures("sungrow_sleep")
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("deny", "no control permission (E900)"),
        ("http_500", "not available: "),
    ],
)
async def test_controls_not_loaded_at_set_up(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
    fault: str,
    reason: str,
) -> None:
    """The cloud refuses the controls (no Grid Control API) or fails while they are looked up:
    the plant's data is set up without controls, and diagnostics tell why."""
    if fault == "deny":
        sungrow_sim.deny_control(scope="api")
    else:
        sungrow_sim.inject("http_500", path="paramSettingCheck")
    entry = await _sungrow(hass, sungrow_url, sungrow_sim, freezer)
    plant = str(sungrow_sim.plant_ids()[0])
    assert hass.states.async_entity_ids("select") == []
    assert hass.states.async_entity_ids("number") == []
    assert state(hass, f":{plant}:plant:battery_soc").state == "100.0"
    assert not any(e.endswith("_last_command") for e in hass.states.async_entity_ids("sensor"))
    controls = (await async_get_config_entry_diagnostics(hass, entry))["plants"][plant]["controls"]
    assert controls["controls"] == []
    assert controls["can_force"] is False
    assert controls["not_offered"]["controls"].startswith(reason)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            *_force(registry_device(hass, entry, plant), power=1000, duration=5), blocking=True
        )
    assert err.value.translation_key == "force_unsupported"
    assert [t for t in sungrow_sim.param_tasks() if t["set_type"] == 0] == []


async def test_stop_not_offered_without_controls(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A plant whose controls could not be looked up refuses a stop before sending anything."""
    freezer.move_to(NOON)
    shine_sim.inject("http_500", path="queryDeviceCtrlField")
    entry = await setup_entry(hass, make_shine_entry(shine_url, shine_sim))
    plant = str(shine_sim.plant_ids()[0])
    device = registry_device(hass, entry, plant)
    commands = len(shine_sim.control_commands)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "stop_forced_charge", {"device_id": device}, blocking=True
        )
    assert err.value.translation_key == "force_unsupported"
    assert len(shine_sim.control_commands) == commands


@pytest.mark.usefixtures("sungrow_sleep")
async def test_stop_after_the_duration_refused(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant ends a timed forced discharge itself; when the cloud refuses that stop,
    the battery goes on discharging: the refusal shows in last_command and the log, the stop is
    sent again every 5 minutes, a repair issue tells the user, and both clear once it works."""
    entry = await _sungrow(hass, sungrow_url, sungrow_sim, freezer)
    plant = str(sungrow_sim.plant_ids()[0])
    device = registry_device(hass, entry, plant)
    response = await run_ticking(
        hass,
        freezer,
        hass.services.async_call(
            *_force(device, power=1500, duration=10), blocking=True, return_response=True
        ),
        STEP,
    )
    assert response["status"] == "success"
    assert sungrow_sim.param_raw(STORAGE, 10004) == 187
    sungrow_sim.deny_control(scope="params")
    issues = ir.async_get(hass)
    issue_id = f"force_not_ended_{entry.entry_id}_{plant}"
    with caplog.at_level(logging.WARNING):
        await tick(hass, freezer, 10 * 60)
        await settle(hass)
    assert "Could not end the forced discharge" in caplog.text
    assert sungrow_sim.param_raw(STORAGE, 10004) == 187  # still discharging
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["action"]) == ("failed", "stop_forced_charge")
    assert issues.async_get_issue(DOMAIN, issue_id) is None  # one refusal: not yet reported
    controls = entry.runtime_data.controls[plant]
    assert controls._scheduled_stop is not None  # tried again later
    await tick(hass, freezer, 5 * 60)
    await settle(hass)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "force_not_ended"
    assert entry.runtime_data.account.memory.forces[plant]["until"] is not None

    sungrow_sim.deny_control(False)
    await tick_until(hass, freezer, lambda: sungrow_sim.param_raw(STORAGE, 10004) != 187, STEP)
    await tick_until(hass, freezer, lambda: issues.async_get_issue(DOMAIN, issue_id) is None, STEP)
    assert plant not in entry.runtime_data.account.memory.forces
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["action"]) == ("success", "stop_forced_charge")


@pytest.mark.usefixtures("sungrow_sleep")
async def test_stop_by_hand_replaces_the_timed_stop(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Stopping a timed forced charge by hand: Home Assistant sends no second stop when the
    duration is over."""
    entry = await _sungrow(hass, sungrow_url, sungrow_sim, freezer)
    plant = str(sungrow_sim.plant_ids()[0])
    device = registry_device(hass, entry, plant)
    await run_ticking(
        hass,
        freezer,
        hass.services.async_call(*_force(device, power=1000, duration=30), blocking=True),
        STEP,
    )
    stop = await run_ticking(
        hass,
        freezer,
        hass.services.async_call(
            DOMAIN, "stop_forced_charge", {"device_id": device}, blocking=True, return_response=True
        ),
        STEP,
    )
    assert stop["status"] == "success"
    assert sungrow_sim.param_raw(STORAGE, 10004) == 204
    writes = len(sungrow_sim.param_tasks())
    await tick(hass, freezer, 31 * 60)
    await settle(hass)
    assert [t for t in sungrow_sim.param_tasks()[writes:] if t["set_type"] == 0] == []
    assert state(hass, f":{plant}:plant:last_command").attributes["task_id"] == stop["task_id"]


@pytest.mark.usefixtures("sungrow_sleep")
async def test_soc_unknown_does_not_end_the_force(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """While the plant's SOC is not known, a forced discharge to a target SOC goes on."""
    entry = await _sungrow(hass, sungrow_url, sungrow_sim, freezer)
    plant = str(sungrow_sim.plant_ids()[0])
    controls = entry.runtime_data.controls[plant]
    await run_ticking(
        hass,
        freezer,
        hass.services.async_call(
            *_force(registry_device(hass, entry, plant), power=1000, target_soc=50),
            blocking=True,
        ),
        STEP,
    )
    sungrow_sim.inject("null_values", count=50)
    await tick(hass, freezer, 11 * 3600)  # the battery is at 20 % by then (22:00)
    await settle(hass)
    assert state(hass, f":{plant}:plant:battery_soc").state == "unknown"
    assert controls._soc_watch is not None
    assert sungrow_sim.param_raw(STORAGE, 10004) == 187
    sungrow_sim.clear_faults()
    await tick_until(hass, freezer, lambda: controls._soc_watch is None, 300, limit=3)
    await tick_until(
        hass, freezer, lambda: sungrow_sim.param_raw(STORAGE, 10004) == 204, STEP, limit=5
    )


@pytest.mark.usefixtures("sungrow_sleep")
async def test_caller_gives_up_task_goes_on(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A caller cancelled while it waits (a script stopped): the task is still followed to its
    end and the value read back."""
    entry = await _sungrow(hass, sungrow_url, sungrow_sim, freezer)
    plant = str(sungrow_sim.plant_ids()[0])
    number = control(hass, "number", "battery_charge_cutoff_soc")
    sungrow_sim.set_task_delay(12)
    write = await start(
        hass,
        hass.services.async_call(
            "number", "set_value", {"entity_id": number, "value": 85}, blocking=True
        ),
    )
    sungrow_sim.set_task_delay(0)  # for the read-back task
    write.cancel()
    await settle(hass)
    assert write.cancelled()
    assert state(hass, f":{plant}:plant:last_command").state == "running"
    controls = entry.runtime_data.controls[plant]
    await tick_until(hass, freezer, lambda: controls.task is None, STEP, limit=10)
    assert state(hass, f":{plant}:plant:last_command").state == "success"
    assert float(hass.states.get(number).state) == 85
    assert sungrow_sim.param_value(STORAGE, 10001) == 85


@pytest.mark.usefixtures("sungrow_sleep")
async def test_values_checked_whoever_calls(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The plant's controls check a value against the control's own options and range, not
    only the entity: nothing reaches the cloud."""
    entry = await _sungrow(hass, sungrow_url, sungrow_sim, freezer)
    controls = entry.runtime_data.controls[str(sungrow_sim.plant_ids()[0])]
    tasks = len(sungrow_sim.param_tasks())
    mode = controls.specs[(STORAGE, "battery_working_mode")]
    with pytest.raises(ServiceValidationError) as err:
        await controls.async_set(mode, "time_of_use")
    assert err.value.translation_key == "invalid_option"
    soc = controls.specs[(STORAGE, "battery_charge_cutoff_soc")]
    with pytest.raises(ServiceValidationError) as err:
        await controls.async_set(soc, 69.0)
    assert err.value.translation_key == "out_of_range"
    assert err.value.translation_placeholders == {
        "value": "69",
        "minimum": "70",
        "maximum": "100",
    }
    assert len(sungrow_sim.param_tasks()) == tasks
    assert controls.last is None


@pytest.mark.usefixtures("sungrow_sleep")
async def test_action_for_an_unloaded_plant(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After its entry is unloaded a plant is no target for the actions."""
    entry = await _sungrow(hass, sungrow_url, sungrow_sim, freezer)
    device = registry_device(hass, entry, str(sungrow_sim.plant_ids()[0]))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await asyncio.sleep(0)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            *_force(device, "force_charge", power=1000, duration=5), blocking=True
        )
    assert err.value.translation_key == "no_battery_target"
    assert [t for t in sungrow_sim.param_tasks() if t["set_type"] == 0] == []
