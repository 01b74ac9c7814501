"""Every entity's state and attributes, and the unit conversions behind them."""

from __future__ import annotations

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from tests.common import state, tick
from tests.conftest import USERNAME
from tests.simulators.huawei import HuaweiSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

# A fixed summer noon (11:00 UTC is noon at the simulated plants), for stable snapshots.
NOON = "2026-06-21 11:00:00+00:00"
ALL_DEVICES = {"grid_meter": True, "string_inverter": True, "emi": True}


def _value(hass: HomeAssistant, suffix: str) -> float:
    return float(state(hass, suffix).state)


@pytest.fixture
def noon(freezer: FrozenDateTimeFactory) -> None:
    """Freeze the clock at a sunny moment."""
    freezer.move_to(NOON)


@pytest.mark.parametrize("sim_options", [ALL_DEVICES])
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
@pytest.mark.usefixtures("noon", "entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Every entity of a plant with every device type, registry entry and state."""
    from unittest.mock import patch

    with patch("custom_components.solar_cloud.PLATFORMS", [platform]):
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.parametrize("sim_options", [ALL_DEVICES])
@pytest.mark.usefixtures("noon")
async def test_defaults_for_new_users(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Niche values are disabled; main values enabled; diagnostics categorised."""
    entries = er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id)
    by_key = {
        e.unique_id.rsplit(":", 2)[-2] + ":" + e.unique_id.rsplit(":", 1)[-1]: e for e in entries
    }
    assert by_key["plant:pv_power"].disabled_by is None
    assert by_key["plant:energy_total"].disabled_by is None
    assert by_key["plant:energy_month"].disabled_by is er.RegistryEntryDisabler.INTEGRATION
    pv_voltage = [e for e in entries if e.unique_id.endswith(":pv1_voltage")]
    assert pv_voltage
    assert all(e.disabled_by is er.RegistryEntryDisabler.INTEGRATION for e in pv_voltage)
    temperature = [e for e in entries if e.unique_id.endswith(":temperature")]
    assert all(e.entity_category is not None for e in temperature)


@pytest.mark.parametrize(
    "sim_options",
    [
        {"grid_meter": True, "meter_power_unit": "kW"},
        {"grid_meter": True, "meter_power_unit": "W"},
        {"grid_meter": True, "meter_power_unit": "kW", "string_values": True},
    ],
)
@pytest.mark.usefixtures("noon", "entity_registry_enabled_by_default")
async def test_units_are_converted(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, huawei_sim: HuaweiSimulator
) -> None:
    """Inverter kW, power-sensor W and grid-meter kW or W all end up in W, signed right."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    inverter, meter, sensor, battery = (
        str(huawei_sim.device_ids(plant, kind)[0]) for kind in (38, 17, 47, 39)
    )
    raw = huawei_sim.raw_kpis(plant)

    # Inverter active power: kW in the reply, W in Home Assistant.
    assert _value(hass, f":{inverter}:pv_power") == pytest.approx(
        float(raw[inverter]["active_power"]) * 1000, abs=0.01
    )
    assert state(hass, f":{inverter}:pv_power").attributes["unit_of_measurement"] == "W"
    # Power sensor: W already; positive is export.
    sensor_w = float(raw[sensor]["active_power"])
    assert _value(hass, f":{sensor}:grid_export_power") == pytest.approx(max(sensor_w, 0))
    assert _value(hass, f":{sensor}:grid_import_power") == pytest.approx(max(-sensor_w, 0))
    # Grid meter: whatever the platform sends, the same W in Home Assistant.
    meter_raw = float(raw[meter]["active_power"])
    factor = 1000 if huawei_sim.meter_power_unit == "kW" else 1
    meter_w = meter_raw * factor
    assert _value(hass, f":{meter}:grid_power") == pytest.approx(-meter_w, abs=0.01)
    assert _value(hass, f":{meter}:grid_export_power") == pytest.approx(max(meter_w, 0), abs=0.01)
    # The plant's grid flows come from the grid meter when there is one.
    assert _value(hass, f":{plant}:plant:grid_export_power") == pytest.approx(
        max(meter_w, 0), abs=0.01
    )
    # Battery: W, positive while charging in the reply; battery_power is + while discharging.
    battery_w = float(raw[battery]["ch_discharge_power"])
    assert _value(hass, f":{battery}:battery_charge_power") == pytest.approx(max(battery_w, 0))
    assert _value(hass, f":{battery}:battery_discharge_power") == pytest.approx(max(-battery_w, 0))
    assert _value(hass, f":{battery}:battery_power") == pytest.approx(-battery_w)
    assert _value(hass, f":{battery}:battery_soc") == pytest.approx(
        float(raw[battery]["battery_soc"])
    )
    # Meter energies: active_cap is the import total, reverse_active_cap the export total.
    assert _value(hass, f":{meter}:grid_import_energy_total") == pytest.approx(
        float(raw[meter]["active_cap"])
    )
    assert _value(hass, f":{meter}:grid_export_energy_total") == pytest.approx(
        float(raw[meter]["reverse_active_cap"])
    )
    status = state(hass, f":{inverter}:inverter_status")
    assert status.state == "running"


@pytest.mark.parametrize("moment", [NOON, "2026-06-21 19:00:00+00:00", "2026-06-21 02:00:00+00:00"])
async def test_plant_power_flows(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    moment: str,
) -> None:
    """The plant's load is the true house load at noon, in the evening and at night.

    In the evening the battery behind the hybrid inverter covers the house: its flow is part
    of the inverter's AC power and must not count twice, nor count as solar production.
    """
    from tests.conftest import make_entry

    freezer.move_to(moment)
    entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    plant = huawei_sim.plant_codes(USERNAME)[0]
    truth = huawei_sim.house_load_w()
    assert _value(hass, f":{plant}:plant:load_power") == pytest.approx(truth, rel=0.02, abs=5)
    pv = _value(hass, f":{plant}:plant:pv_power")
    if moment != NOON:
        assert pv == 0
    else:
        assert pv > 0
    energy = state(hass, f":{plant}:plant:energy_total")
    assert energy.attributes["state_class"] == "total_increasing"
    assert energy.attributes["device_class"] == "energy"
    assert energy.attributes["unit_of_measurement"] == "kWh"


@pytest.mark.usefixtures("noon")
async def test_offline_device(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An offline device is a state (online off, values unknown), not an error."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    inverter = huawei_sim.device_ids(plant, 38)[0]
    assert state(hass, f":{inverter}:online").state == "on"
    huawei_sim.set_device_offline(inverter)
    await tick(hass, freezer)
    assert state(hass, f":{inverter}:online").state == "off"
    assert state(hass, f":{inverter}:pv_power").state == STATE_UNKNOWN
    assert state(hass, f":{inverter}:inverter_status").state == "offline"
    assert state(hass, f":{plant}:plant:energy_today").state not in (
        STATE_UNAVAILABLE,
        STATE_UNKNOWN,
    )


@pytest.mark.usefixtures("noon")
async def test_lifetime_counter_glitch_is_ignored(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A lifetime total that reads 0 for one poll keeps its last value (no false reset)."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    before = _value(hass, f":{plant}:plant:energy_total")
    huawei_sim.override_kpi(plant, "total_power", 0)
    await tick(hass, freezer)
    assert _value(hass, f":{plant}:plant:energy_total") == before
    huawei_sim.override_kpi(plant, "total_power", None)
    await tick(hass, freezer)
    assert _value(hass, f":{plant}:plant:energy_total") >= before
