"""iSolarCloud battery controls through Home Assistant, against the simulator over loopback.

The storage inverter's parameters are written with Grid Control tasks; the entities show the
values read back from the device afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.solar_cloud.api.sungrow import E_HOUR
from custom_components.solar_cloud.const import DOMAIN
from tests.common import state
from tests.conftest import make_sungrow_entry
from tests.ha_controls import (
    NOON,
    control,
    no_wait,
    registry_device,
    run_ticking,
    settle,
    setup_entry,
    start,
    tick_until,
)
from tests.simulators.sungrow import SungrowSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The client asks about a task every 5 s.
STEP = 6.0
STORAGE = "1000001_14_1_1"  # the plant's storage inverter (SH10RT)


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> AsyncIterator[MockConfigEntry]:
    """The plant with its storage inverter, set up at noon (the battery is full)."""
    freezer.move_to(NOON)
    with patch("custom_components.solar_cloud.api.sungrow._sleep", no_wait):
        yield await setup_entry(hass, make_sungrow_entry(sungrow_url, sungrow_sim))


def _plant(sim: SungrowSimulator) -> str:
    return str(sim.plant_ids()[0])


def _writes(sim: SungrowSimulator) -> list[dict[int, Any]]:
    """The parameters of every write task the storage inverter received."""
    return [t["params"] for t in sim.param_tasks(STORAGE) if t["set_type"] == 0]


async def _select(hass: HomeAssistant, entity: str, option: str) -> Any:
    return await hass.services.async_call(
        "select", "select_option", {"entity_id": entity, "option": option}, blocking=True
    )


async def _number(hass: HomeAssistant, entity: str, value: float) -> Any:
    return await hass.services.async_call(
        "number", "set_value", {"entity_id": entity, "value": value}, blocking=True
    )


async def test_working_mode(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The mode is written to the device, the task is followed, the mode read back is shown;
    the control calls count against the hourly allowance."""
    plant = _plant(sungrow_sim)
    select = control(hass, "select", "battery_working_mode")
    assert hass.states.get(select).state == "self_consumption"
    quota = entry.runtime_data.client.quota
    before = quota.remaining(E_HOUR)
    calls = sungrow_sim.calls["paramSetting"] + sungrow_sim.calls["getParamSettingTask"]

    running = await start(hass, _select(hass, select, "external_dispatch"))
    assert hass.states.get(select).attributes["task"] == "running"
    assert state(hass, f":{plant}:plant:last_command").state == "running"
    await run_ticking(hass, freezer, running, STEP)

    assert sungrow_sim.param_value(STORAGE, 10003) == 3
    assert _writes(sungrow_sim) == [{10003: 3}]
    assert hass.states.get(select).state == "external_dispatch"
    assert "task" not in hass.states.get(select).attributes
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["value"]) == ("success", "external_dispatch")
    # The write, its status queries and the read-back task with its own.
    used = sungrow_sim.calls["paramSetting"] + sungrow_sim.calls["getParamSettingTask"] - calls
    assert used >= 4
    assert quota.remaining(E_HOUR) == before - used

    await run_ticking(hass, freezer, _select(hass, select, "self_consumption"), STEP)
    assert sungrow_sim.param_value(STORAGE, 10003) == 0
    assert hass.states.get(select).state == "self_consumption"


@pytest.mark.parametrize(
    ("key", "value", "code", "stored"),
    [
        ("battery_charge_cutoff_soc", 90, 10001, 90.0),
        ("battery_discharge_cutoff_soc", 20, 10002, 20.0),
        ("battery_max_charge_power", 3000, 10091, 3.0),  # kW on the device
        ("battery_max_discharge_power", 4500, 10092, 4.5),
        ("grid_export_limit", 4000, 10013, 4000.0),
    ],
)
async def test_number(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
    key: str,
    value: float,
    code: int,
    stored: float,
) -> None:
    """Each number reaches the device in the parameter's own unit and precision and shows the
    value read back."""
    number = control(hass, "number", key)
    assert float(hass.states.get(number).state) != value
    await run_ticking(hass, freezer, _number(hass, number, value), STEP)
    assert sungrow_sim.param_value(STORAGE, code) == stored
    assert float(hass.states.get(number).state) == value
    if key == "grid_export_limit":
        # The limit is switched on with its value.
        assert sungrow_sim.param_raw(STORAGE, 10012) == 170


async def test_force_discharge_until_the_target_soc(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The cloud cannot end a forced discharge by itself: Home Assistant stops it once the
    battery reached the target SOC, and the mode from before comes back."""
    plant = _plant(sungrow_sim)
    controls = entry.runtime_data.controls[plant]
    response = await run_ticking(
        hass,
        freezer,
        hass.services.async_call(
            DOMAIN,
            "force_discharge",
            {"device_id": registry_device(hass, entry, plant), "power": 2500, "target_soc": 80},
            blocking=True,
            return_response=True,
        ),
        STEP,
    )
    assert response["status"] == "success"
    assert sungrow_sim.param_value(STORAGE, 10003) == 2  # compulsory mode
    assert sungrow_sim.param_raw(STORAGE, 10004) == 187  # discharging
    assert sungrow_sim.param_value(STORAGE, 10005) == 2.5  # kW
    assert hass.states.get(control(hass, "select", "battery_working_mode")).state == "forced"
    assert controls._soc_watch is not None

    # The battery empties in the evening; the plant's SOC passes 80 % after 18:00.
    await tick_until(
        hass,
        freezer,
        lambda: controls.last is not None and controls.last.action == "stop_forced_charge",
        1800,
        limit=20,
    )
    await tick_until(hass, freezer, lambda: controls.last is not None and controls.last.done, STEP)
    soc = float(state(hass, f":{plant}:plant:battery_soc").state)
    assert soc <= 80
    assert controls.last.state.value == "success"
    assert controls._soc_watch is None
    assert sungrow_sim.param_raw(STORAGE, 10004) == 204  # stopped
    assert sungrow_sim.param_value(STORAGE, 10003) == 0  # self-consumption again
    assert _writes(sungrow_sim)[-1] == {10004: 204, 10003: 0}
    assert state(hass, f":{plant}:plant:last_command").attributes["action"] == (
        "stop_forced_charge"
    )


# -- failures ---------------------------------------------------------------------------------


async def test_out_of_range_is_refused_before_sending(
    hass: HomeAssistant, entry: MockConfigEntry, sungrow_sim: SungrowSimulator
) -> None:
    """Values outside the device's documented ranges never leave Home Assistant."""
    tasks = len(sungrow_sim.param_tasks())
    for key, value in (
        ("battery_charge_cutoff_soc", 60),
        ("battery_discharge_cutoff_soc", 55),
        ("battery_max_charge_power", 7000),
        ("grid_export_limit", 12000),
    ):
        with pytest.raises(ServiceValidationError):
            await _number(hass, control(hass, "number", key), value)
    device = registry_device(hass, entry, _plant(sungrow_sim))
    with pytest.raises(ServiceValidationError) as err:
        # The battery is full: there is nothing to charge up to.
        await hass.services.async_call(
            DOMAIN, "force_charge", {"device_id": device, "power": 1000, "target_soc": 90},
            blocking=True,
        )  # fmt: skip
    assert err.value.translation_key == "invalid_target_soc"
    assert err.value.translation_placeholders == {"target": "90", "soc": "100.0"}
    assert len(sungrow_sim.param_tasks()) == tasks


@pytest.mark.parametrize(("scope", "code"), [("params", "6-1"), ("api", "E900")])
async def test_permission_refused(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    scope: str,
    code: str,
) -> None:
    """No authority over the parameters, or no Grid Control API for the app: a translated error
    with the cloud's code; the entity keeps the value read before."""
    number = control(hass, "number", "battery_charge_cutoff_soc")
    sungrow_sim.deny_control(scope=scope)
    with pytest.raises(HomeAssistantError) as err:
        await _number(hass, number, 90)
    assert err.value.translation_key == "control_permission"
    assert err.value.translation_placeholders == {"code": code}
    assert code in str(err.value)
    assert float(hass.states.get(number).state) == 100
    assert hass.states.get(number).state != "unavailable"
    assert sungrow_sim.param_value(STORAGE, 10001) == 100
    assert state(hass, f":{_plant(sungrow_sim)}:plant:last_command").state == "failed"


async def test_task_failed_keeps_the_real_value(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The device refuses the parameter (command_status 5): the error names the parameter and
    the status, the entity keeps the value read before."""
    plant = _plant(sungrow_sim)
    number = control(hass, "number", "battery_discharge_cutoff_soc")
    sungrow_sim.fail_next_task(10002)
    with pytest.raises(HomeAssistantError) as err:
        await run_ticking(hass, freezer, _number(hass, number, 30), STEP)
    assert err.value.translation_key == "task_failed"
    reason = err.value.translation_placeholders["reason"]
    assert reason == "10002 SOC Lower Limit: failed (command_status 5)"
    assert reason in str(err.value)
    assert float(hass.states.get(number).state) == 10
    assert sungrow_sim.param_value(STORAGE, 10002) == 10
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["reason"]) == ("failed", reason)


async def test_task_timed_out(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The device does not answer within the task's life (command_status 6), and a task whose
    status never comes: both end as timed out; the value stays."""
    plant = _plant(sungrow_sim)
    number = control(hass, "number", "battery_max_discharge_power")
    sungrow_sim.set_task_delay(300)
    with pytest.raises(HomeAssistantError) as err:
        await run_ticking(hass, freezer, _number(hass, number, 2000), 30)
    assert err.value.translation_key == "task_timed_out"
    assert "command_status 6" in err.value.translation_placeholders["reason"]
    assert "command_status 6" in str(err.value)
    last = state(hass, f":{plant}:plant:last_command")
    assert last.state == "timed_out"
    assert last.attributes["reason"] == err.value.translation_placeholders["reason"]
    assert float(hass.states.get(number).state) == 5000
    assert sungrow_sim.param_value(STORAGE, 10092) == 5.0

    sungrow_sim.set_task_delay(0)
    sungrow_sim.freeze_next_task()
    with pytest.raises(HomeAssistantError) as err:
        await run_ticking(hass, freezer, _number(hass, number, 2000), 30)
    assert err.value.translation_key == "task_timed_out"
    assert state(hass, f":{plant}:plant:last_command").state == "timed_out"
    assert float(hass.states.get(number).state) == 5000


async def test_device_still_busy_after_a_reload(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Reloaded while a task still runs on the device: the cloud refuses the next one
    ("operation repeated") and the error says so."""
    sungrow_sim.set_task_delay(100)
    number = control(hass, "number", "battery_charge_cutoff_soc")
    await start(hass, _number(hass, number, 95))
    with patch("custom_components.solar_cloud.api.sungrow._sleep", no_wait):
        await run_ticking(hass, freezer, hass.config_entries.async_reload(entry.entry_id), STEP)
        await settle(hass)
        with pytest.raises(HomeAssistantError) as err:
            await _number(hass, number, 95)
    assert err.value.translation_key == "command_rejected"
    assert err.value.translation_placeholders["reason"] == "9 Operation repeated"
    assert len(_writes(sungrow_sim)) == 1


async def test_hourly_allowance_used_up(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The gateway's hourly cap (E999) on a write: a clear error; the next write is not sent."""
    number = control(hass, "number", "battery_charge_cutoff_soc")
    sungrow_sim.inject("fail_code:E999", path="paramSetting")
    with pytest.raises(HomeAssistantError) as err:
        await _number(hass, number, 90)
    assert err.value.translation_key == "rate_limited"
    assert int(err.value.translation_placeholders["retry_after"]) > 0
    sent = sum(sungrow_sim.calls.values())
    with pytest.raises(HomeAssistantError) as err:
        await _number(hass, number, 90)
    assert err.value.translation_key == "rate_limited"
    assert sum(sungrow_sim.calls.values()) == sent
    assert _writes(sungrow_sim) == []
    assert float(hass.states.get(number).state) == 100


async def test_cloud_faults_while_polling(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An HTTP 500 and a broken answer to the status query: the task is asked about again and
    succeeds."""
    plant = _plant(sungrow_sim)
    number = control(hass, "number", "battery_max_charge_power")
    sungrow_sim.inject("http_500", path="getParamSettingTask")
    sungrow_sim.inject("malformed_json", path="getParamSettingTask")
    await run_ticking(hass, freezer, _number(hass, number, 2500), STEP)
    assert sungrow_sim.param_value(STORAGE, 10091) == 2.5
    assert float(hass.states.get(number).state) == 2500
    assert state(hass, f":{plant}:plant:last_command").state == "success"
    # Both faults were answered (they are not counted as calls).
    asked = [r for r in sungrow_sim.requests if r[1] == "getParamSettingTask"]
    assert len(asked) == sungrow_sim.calls["getParamSettingTask"] + 2
