"""SAJ through Home Assistant: config flow, set-up, entities, alarms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.solar_cloud.const import CONF_PLANTS, CONF_SERVER, CONF_VENDOR, DOMAIN
from tests.common import state, tick
from tests.conftest import make_saj_entry
from tests.simulators.saj import SajSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOON = "2026-06-21 11:00:00+00:00"


async def _start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_VENDOR: "saj"})
    assert result["step_id"] == "saj"
    return result


async def test_flow(hass: HomeAssistant, saj_url: str, saj_sim: SajSimulator) -> None:
    """A wrong APP_KEY is refused in the form; the right one creates the entry."""
    result = await _start(hass)
    form = {CONF_SERVER: saj_url, "app_id": saj_sim.client_id, "app_secret": "wrong"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["errors"] == {"base": "invalid_auth"}
    # The corrected key is tried at once: the form's test has a session of its own.
    form["app_secret"] = saj_sim.client_secret
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["step_id"] == "plants"
    with patch("custom_components.solar_cloud.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PLANTS: [str(p) for p in saj_sim.plant_ids()]}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"SAJ {saj_sim.client_id}"
    assert result["result"].unique_id == f"saj:127.0.0.1:{saj_sim.client_id.lower()}"


@pytest.fixture
async def saj_entry(
    hass: HomeAssistant, saj_url: str, saj_sim: SajSimulator, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """The SAJ entry, set up at a sunny moment."""
    freezer.move_to(NOON)
    entry = make_saj_entry(saj_url, saj_sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    saj_url: str,
    saj_sim: SajSimulator,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Every entity of a SAJ plant and its inverter."""
    freezer.move_to(NOON)
    entry = make_saj_entry(saj_url, saj_sim)
    with patch("custom_components.solar_cloud.PLATFORMS", [platform]):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_values_alarms_and_reauth(
    hass: HomeAssistant,
    saj_entry: MockConfigEntry,
    saj_sim: SajSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """kW becomes W; an alarm shows on the problem sensor; a new APP_KEY is asked for."""
    plant = saj_sim.plant_ids()[0]
    inverter = saj_sim.device_ids(plant)[0]
    raw = saj_sim.raw_record(inverter)
    assert float(state(hass, f":{inverter}:pv_power").state) == pytest.approx(float(raw["power"]))
    assert state(hass, f":{plant}:plant:plant_status").state == "running"
    saj_sim.raise_alarm(saj_sim.device_sns(plant)[0], "bit3")
    await tick(hass, freezer, timedelta(minutes=31))
    assert state(hass, f":{plant}:plant:problem").state == "on"

    saj_sim.set_secret("new-secret")
    saj_sim.expire_tokens()
    await tick(hass, freezer)
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"app_secret": "new-secret"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert saj_entry.state is ConfigEntryState.LOADED


async def test_allowance_and_faults(
    hass: HomeAssistant,
    saj_entry: MockConfigEntry,
    saj_sim: SajSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """10003 keeps the last values until the next hour; a 5xx fails one poll only."""
    plant = saj_sim.plant_ids()[0]
    before = state(hass, f":{plant}:plant:pv_power").state
    saj_sim.inject("fail_code:10003", path="/plant/list")
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:pv_power").state == before
    await tick(hass, freezer, timedelta(minutes=61))
    assert state(hass, f":{plant}:plant:pv_power").state not in ("unavailable", "unknown")
    saj_sim.inject("http_500", path="/plant/data")
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:pv_power").state == "unavailable"
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:pv_power").state not in ("unavailable", "unknown")


async def test_token_renewal(
    hass: HomeAssistant,
    saj_entry: MockConfigEntry,
    saj_sim: SajSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An expired token is renewed once, silently; the entities stay current."""
    plant = saj_sim.plant_ids()[0]
    logins = saj_sim.logins
    saj_sim.expire_tokens()
    await tick(hass, freezer)
    assert saj_sim.logins == logins + 1
    assert state(hass, f":{plant}:plant:pv_power").state not in ("unavailable", "unknown")
    assert not hass.config_entries.flow.async_progress()
