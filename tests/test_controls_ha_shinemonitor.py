"""ShineMonitor controls through Home Assistant, against the simulator over loopback.

``ctrlDevice`` answers at once; a write succeeds once the device reads the value back, which
the client asks for every 10 s for up to a minute.
"""

from __future__ import annotations

from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.common import state
from tests.conftest import SHINE_USER, make_shine_entry
from tests.ha_controls import NOON, control, run_ticking, setup_entry, start, tick, tick_until
from tests.simulators.shinemonitor import ShineMonitorSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

STEP = 10.0


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The plant with a grid-tie and an off-grid storage inverter, set up at noon."""
    freezer.move_to(NOON)
    return await setup_entry(hass, make_shine_entry(shine_url, shine_sim))


def _storage(sim: ShineMonitorSimulator) -> tuple[str, str]:
    plant = sim.plant_ids(SHINE_USER)[0]
    sn = next(d["sn"] for d in sim.devices(plant) if d["devcode"] // 256 == 9)
    return str(plant), sn


def _item(sim: ShineMonitorSimulator, field: str, label: str) -> str:
    """The item key of a select field's option, as the cloud lists it."""
    (found,) = [f for f in sim.control_fields() if f["id"] == field]
    return next(item["key"] for item in found["item"] if item["val"] == label)


async def _write(hass: HomeAssistant, entity: str, value: Any) -> Any:
    if entity.startswith("select."):
        return await hass.services.async_call(
            "select", "select_option", {"entity_id": entity, "option": value}, blocking=True
        )
    return await hass.services.async_call(
        "number", "set_value", {"entity_id": entity, "value": value}, blocking=True
    )


@pytest.mark.parametrize(
    ("domain", "key", "field", "value", "label"),
    [
        ("select", "output_source_priority", "bse_eybond_ctrl_49", "utility_first", "UTI"),
        ("select", "charger_source_priority", "bat_eybond_ctrl_75", "pv_only", "Only PV"),
        ("number", "battery_discharge_cutoff_soc", "bat_eybond_ctrl_84", 30, "30"),
        ("number", "battery_cutoff_voltage", "bat_eybond_ctrl_73", 43.5, "43.5"),
        ("number", "battery_max_charge_current", "bat_eybond_ctrl_76", 45, "45"),
        ("number", "battery_max_ac_charge_current", "bat_eybond_ctrl_77", 20, "20"),
    ],
)
async def test_every_control(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
    domain: str,
    key: str,
    field: str,
    value: Any,
    label: str,
) -> None:
    """Each offered control reaches the device in the field's own form and shows the value the
    device reads back."""
    plant, sn = _storage(shine_sim)
    entity = control(hass, domain, key)
    before = hass.states.get(entity).state
    assert before not in ("unknown", "unavailable", str(value))
    await run_ticking(hass, freezer, _write(hass, entity, value), STEP)
    raw = _item(shine_sim, field, label) if domain == "select" else label
    assert shine_sim.control_value(sn, field) == raw
    assert shine_sim.control_commands[-1][1:] == (sn, field, raw, "status 0")
    shown = hass.states.get(entity).state
    assert shown == value if domain == "select" else float(shown) == value
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["action"], last.attributes["value"]) == (
        "success",
        key,
        value,
    )


async def test_command_processed_later(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The datalogger takes the command but the device applies it 25 s later: the task runs
    (the entity says so) until the read-back shows the value."""
    plant, sn = _storage(shine_sim)
    number = control(hass, "number", "battery_max_ac_charge_current")
    shine_sim.set_task_delay(25)
    running = await start(hass, _write(hass, number, 40))
    assert hass.states.get(number).attributes["task"] == "running"
    assert float(hass.states.get(number).state) == 30
    assert state(hass, f":{plant}:plant:last_command").state == "running"
    await run_ticking(hass, freezer, running, STEP)
    assert float(hass.states.get(number).state) == 40
    assert "task" not in hass.states.get(number).attributes
    assert shine_sim.control_value(sn, "bat_eybond_ctrl_77") == "40"
    assert state(hass, f":{plant}:plant:last_command").state == "success"


async def test_command_never_processed(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The device never applies the command: after a minute the task times out with the
    reason, the entity keeps the real value; the datalogger still holds the command, so the
    cloud refuses the next one (14) and the error names it."""
    plant, sn = _storage(shine_sim)
    number = control(hass, "number", "battery_max_charge_current")
    shine_sim.set_task_delay(None)
    with pytest.raises(HomeAssistantError) as err:
        await run_ticking(hass, freezer, _write(hass, number, 50), STEP)
    assert err.value.translation_key == "task_timed_out"
    assert "has not processed the command" in err.value.translation_placeholders["reason"]
    assert "has not processed the command" in str(err.value)
    last = state(hass, f":{plant}:plant:last_command")
    assert last.state == "timed_out"
    assert "has not processed the command" in last.attributes["reason"]
    assert float(hass.states.get(number).state) == 60
    assert shine_sim.control_value(sn, "bat_eybond_ctrl_76") == "60"

    with pytest.raises(HomeAssistantError) as err:
        await _write(hass, number, 50)
    assert err.value.translation_key == "command_rejected"
    assert err.value.translation_placeholders["reason"].startswith("14")
    assert shine_sim.control_commands[-1][-1] == "err 14"


async def test_value_applied_after_the_time_out_is_read_later(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The device applies the value after the task timed out: a later read shows it."""
    plant, sn = _storage(shine_sim)
    number = control(hass, "number", "battery_max_ac_charge_current")
    shine_sim.set_task_delay(90)
    with pytest.raises(HomeAssistantError) as err:
        await run_ticking(hass, freezer, _write(hass, number, 40), STEP)
    assert err.value.translation_key == "task_timed_out"
    assert float(hass.states.get(number).state) == 30
    await tick(hass, freezer, 60)
    assert shine_sim.control_value(sn, "bat_eybond_ctrl_77") == "40"
    assert float(hass.states.get(number).state) == 30  # not read yet
    await tick_until(hass, freezer, lambda: float(hass.states.get(number).state) == 40, 60)
    assert state(hass, f":{plant}:plant:last_command").state == "timed_out"


async def test_poll_after_the_deadline_times_out(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Home Assistant wakes only after the task's time is up (a paused host): the task is timed
    out without asking the cloud again."""
    plant, _sn = _storage(shine_sim)
    select = control(hass, "select", "charger_source_priority")
    shine_sim.set_task_delay(None)
    running = await start(hass, _write(hass, select, "utility_first"))
    reads = shine_sim.calls["queryDeviceCtrlValue"]
    await tick(hass, freezer, 70)
    assert running.done()
    with pytest.raises(HomeAssistantError) as err:
        running.result()
    assert err.value.translation_key == "task_timed_out"
    assert err.value.translation_placeholders["reason"] == "no result within 60 s"
    assert shine_sim.calls["queryDeviceCtrlValue"] == reads
    last = state(hass, f":{plant}:plant:last_command")
    assert (last.state, last.attributes["reason"]) == ("timed_out", "no result within 60 s")
    assert hass.states.get(select).state == "pv_first"


async def test_acknowledged_but_not_applied(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The device acknowledges but keeps its old value: the task fails saying what the device
    reports; the entity shows that real value."""
    plant, _sn = _storage(shine_sim)
    number = control(hass, "number", "battery_discharge_cutoff_soc")
    shine_sim.ignore_next_task()
    with pytest.raises(HomeAssistantError) as err:
        await run_ticking(hass, freezer, _write(hass, number, 35), STEP)
    assert err.value.translation_key == "task_failed"
    reason = err.value.translation_placeholders["reason"]
    assert reason == "delivered, but the device reports '20' instead of '35'"
    assert reason in str(err.value)
    assert float(hass.states.get(number).state) == 20
    assert state(hass, f":{plant}:plant:last_command").attributes["reason"] == reason


async def test_collector_offline(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
) -> None:
    """The datalogger is offline: the command is refused at once, naming the cloud's code."""
    _plant, sn = _storage(shine_sim)
    pn = next(
        d["pn"] for d in shine_sim.devices(shine_sim.plant_ids(SHINE_USER)[0]) if d["sn"] == sn
    )
    shine_sim.set_collector_offline(pn)
    with pytest.raises(HomeAssistantError) as err:
        await _write(hass, control(hass, "select", "output_source_priority"), "solar_first")
    assert err.value.translation_key == "command_rejected"
    assert "263" in err.value.translation_placeholders["reason"]
    assert shine_sim.control_value(sn, "bse_eybond_ctrl_49") == "2"


async def test_over_the_call_limit(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
) -> None:
    """The cloud answers 13 (over its call limit): a clear error; calls pause for the minute,
    so the next write is refused without being sent."""
    number = control(hass, "number", "battery_max_charge_current")
    shine_sim.inject("fail_code:13", path="ctrlDevice")
    with pytest.raises(HomeAssistantError) as err:
        await _write(hass, number, 70)
    assert err.value.translation_key == "rate_limited"
    commands = len(shine_sim.control_commands)
    calls = sum(shine_sim.calls.values())
    with pytest.raises(HomeAssistantError) as err:
        await _write(hass, number, 70)
    assert err.value.translation_key == "rate_limited"
    assert len(shine_sim.control_commands) == commands
    assert sum(shine_sim.calls.values()) == calls
    assert float(hass.states.get(number).state) == 60


async def test_cloud_faults_while_polling(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The read-back fails with HTTP 500 and a broken answer while the task runs: it is asked
    again and the task succeeds."""
    plant, sn = _storage(shine_sim)
    number = control(hass, "number", "battery_cutoff_voltage")
    shine_sim.set_task_delay(15)
    running = await start(hass, _write(hass, number, 41.5))
    shine_sim.inject("http_500", path="queryDeviceCtrlValue")
    shine_sim.inject("malformed_json", path="queryDeviceCtrlValue")
    await run_ticking(hass, freezer, running, STEP)
    assert shine_sim.control_value(sn, "bat_eybond_ctrl_73") == "41.5"
    assert float(hass.states.get(number).state) == 41.5
    assert state(hass, f":{plant}:plant:last_command").state == "success"
    asked = [r for r in shine_sim.requests if r[1] == "queryDeviceCtrlValue"]
    assert len(asked) == shine_sim.calls["queryDeviceCtrlValue"] + 2
