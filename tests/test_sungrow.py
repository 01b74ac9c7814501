"""iSolarCloud through Home Assistant: config flow, set-up, entities, faults, plain and encrypted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.solar_cloud.const import (
    CONF_ACCESS_KEY,
    CONF_APP_KEY,
    CONF_EXCLUDED_PLANTS,
    CONF_HISTORY_DAYS,
    CONF_PLANTS,
    CONF_RSA_PUBLIC_KEY,
    CONF_SERVER,
    CONF_VENDOR,
    DEFAULT_HISTORY_DAYS,
    DOMAIN,
    VENDOR_SUNGROW,
)
from tests.common import state, tick
from tests.conftest import SUNGROW_PASSWORD, SUNGROW_USER, make_sungrow_entry
from tests.simulators.sungrow import SungrowSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOON = "2026-06-21 11:00:00+00:00"


def _form(url: str, sim: SungrowSimulator, **overrides: Any) -> dict[str, Any]:
    return {
        CONF_SERVER: url,
        CONF_APP_KEY: sim.appkey,
        CONF_ACCESS_KEY: sim.access_key,
        "username": SUNGROW_USER,
        "password": SUNGROW_PASSWORD,
        **overrides,
    }


async def _start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_VENDOR: VENDOR_SUNGROW}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == VENDOR_SUNGROW
    return result


@pytest.mark.parametrize("encrypted", [False, True])
async def test_flow_creates_entry(
    hass: HomeAssistant, sungrow_url: str, sungrow_sim: SungrowSimulator, encrypted: bool
) -> None:
    """Gateway, app keys, account and (for encrypting apps) the RSA key; then plants."""
    sungrow_sim.require_encryption = encrypted
    result = await _start(hass)
    key = {CONF_RSA_PUBLIC_KEY: sungrow_sim.public_key_b64url} if encrypted else {}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(sungrow_url, sungrow_sim, **key)
    )
    assert result["step_id"] == "plants"
    plants = [str(p) for p in sungrow_sim.plant_ids()]
    with patch("custom_components.solar_cloud.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PLANTS: plants}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"iSolarCloud {SUNGROW_USER}"
    assert result["result"].unique_id == f"{VENDOR_SUNGROW}:127.0.0.1:{SUNGROW_USER}"
    assert result["data"][CONF_VENDOR] == VENDOR_SUNGROW
    assert result["data"][CONF_APP_KEY] == sungrow_sim.appkey
    assert result["options"] == {CONF_PLANTS: plants, CONF_EXCLUDED_PLANTS: []}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({CONF_RSA_PUBLIC_KEY: "not a key"}, {CONF_RSA_PUBLIC_KEY: "invalid_rsa_key"}),
        ({CONF_APP_KEY: "UNKNOWN"}, {"base": "invalid_app"}),
        ({"password": "wrong"}, {"base": "invalid_auth"}),
        ({"require_encryption": True}, {"base": "encryption_required"}),
    ],
)
async def test_flow_errors(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    change: dict[str, Any],
    error: dict[str, str],
) -> None:
    """Wrong key, app keys, password, or a plain call to an encrypting app: a clear error."""
    if change.pop("require_encryption", False):
        sungrow_sim.require_encryption = True
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(sungrow_url, sungrow_sim, **change)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error


@pytest.fixture
async def sungrow_entry(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The iSolarCloud entry, set up at a sunny moment."""
    freezer.move_to(NOON)
    entry = make_sungrow_entry(sungrow_url, sungrow_sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Every entity of a plant with a PV inverter, a storage inverter, a battery and a meter."""
    freezer.move_to(NOON)
    entry = make_sungrow_entry(sungrow_url, sungrow_sim)
    with patch("custom_components.solar_cloud.PLATFORMS", [platform]):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_values_and_units(
    hass: HomeAssistant, sungrow_entry: MockConfigEntry, sungrow_sim: SungrowSimulator
) -> None:
    """Wh become kWh, fractions percent, and the unsigned pairs signed powers."""
    plant = str(sungrow_sim.plant_ids()[0])
    storage = sungrow_sim.device_keys(int(plant), 14)[0]
    raw = sungrow_sim.raw_points(storage)
    assert float(state(hass, f":{storage}:battery_soc").state) == pytest.approx(
        float(raw["13141"]) * 100
    )
    assert float(state(hass, f":{storage}:energy_total").state) == pytest.approx(
        float(raw["13134"]) / 1000
    )
    assert float(state(hass, f":{storage}:battery_power").state) == pytest.approx(
        float(raw["13150"]) - float(raw["13126"])
    )
    energy = state(hass, f":{plant}:plant:energy_total")
    assert energy.attributes["unit_of_measurement"] == "kWh"
    assert energy.attributes["state_class"] == "total_increasing"
    assert state(hass, f":{plant}:plant:online").state == "on"
    assert state(hass, f":{plant}:plant:problem").state == "off"


async def test_encrypted_entry_polls(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An app that requires encryption works end to end, round after round."""
    freezer.move_to(NOON)
    sungrow_sim.require_encryption = True
    entry = make_sungrow_entry(sungrow_url, sungrow_sim, encrypted=True)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    plant = str(sungrow_sim.plant_ids()[0])
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:pv_power").state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    assert sum(sungrow_sim.refusals.values()) == 0


async def test_faults_and_recovery(
    hass: HomeAssistant,
    sungrow_entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 5xx fails one poll; the hourly cap keeps the last values; a fault shows as a problem."""
    plant = str(sungrow_sim.plant_ids()[0])
    sungrow_sim.inject("http_500", path="getDeviceRealTimeData")
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:pv_power").state == STATE_UNAVAILABLE
    await tick(hass, freezer)
    before = state(hass, f":{plant}:plant:pv_power").state
    assert before not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    sungrow_sim.inject("fail_code:E999", path="getDeviceRealTimeData")
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:pv_power").state == before
    sungrow_sim.raise_fault(int(plant), fault_name="Grid overvoltage", fault_level=2)
    await tick(hass, freezer, timedelta(minutes=61))
    problem = state(hass, f":{plant}:plant:problem")
    assert problem.state == "on"
    assert problem.attributes["alarms"][0]["name"] == "Grid overvoltage"


async def test_reauth_after_password_change(
    hass: HomeAssistant,
    sungrow_entry: MockConfigEntry,
    sungrow_sim: SungrowSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The password changes: the expired token's relogin fails, reauth asks for the password."""
    sungrow_sim.set_password(SUNGROW_USER, "new-secret")
    sungrow_sim.expire_tokens()
    await tick(hass, freezer)
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"password": "new-secret"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert sungrow_entry.data["password"] == "new-secret"
    assert sungrow_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_and_options(
    hass: HomeAssistant,
    sungrow_entry: MockConfigEntry,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
) -> None:
    """Reconfigure tests the new keys before saving; options choose plants."""
    sungrow_sim.add_plant(username=SUNGROW_USER)
    result = await sungrow_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(sungrow_url, sungrow_sim, **{CONF_ACCESS_KEY: "wrong"})
    )
    assert result["errors"] == {"base": "invalid_app"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(sungrow_url, sungrow_sim)
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert sungrow_entry.state is ConfigEntryState.LOADED

    result = await hass.config_entries.options.async_init(sungrow_entry.entry_id)
    plants = sorted(str(p) for p in sungrow_sim.plant_ids())
    assert len(plants) == 2
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PLANTS: plants[:1]}
    )
    await hass.async_block_till_done()
    assert sungrow_entry.options == {
        CONF_PLANTS: plants[:1],
        CONF_EXCLUDED_PLANTS: plants[1:],
        CONF_HISTORY_DAYS: DEFAULT_HISTORY_DAYS,
    }
    assert list(sungrow_entry.runtime_data.coordinators) == plants[:1]


async def test_whitelist_block_raises_repair_issue(
    hass: HomeAssistant,
    sungrow_url: str,
    sungrow_sim: SungrowSimulator,
    issue_registry: Any,
) -> None:
    """E918: the app's whitelist blocks Home Assistant; a repair issue says where to fix it."""
    sungrow_sim.whitelist_blocked = True
    entry = make_sungrow_entry(sungrow_url, sungrow_sim)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue = issue_registry.async_get_issue(
        DOMAIN, f"permission_sungrow_isolarcloud_plant_list_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "permission_sungrow_isolarcloud"
    assert issue.translation_placeholders["code"] == "E918"
