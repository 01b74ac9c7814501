"""ShineMonitor through Home Assistant: config flow, set-up, entities, warnings, faults."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.solar_cloud.const import (
    CONF_COMPANY_KEY,
    CONF_PLANTS,
    CONF_SERVER,
    CONF_VENDOR,
    DOMAIN,
)
from custom_components.solar_cloud.diagnostics import async_get_config_entry_diagnostics
from tests.common import state, tick
from tests.conftest import SHINE_KEY, SHINE_PASSWORD, SHINE_USER, make_shine_entry
from tests.simulators.shinemonitor import ShineMonitorSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOON = "2026-06-21 11:00:00+00:00"


async def _start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_VENDOR: "shinemonitor"}
    )
    assert result["step_id"] == "shinemonitor"
    return result


def _form(url: str, **changes: str) -> dict[str, str]:
    return {
        CONF_SERVER: url,
        "username": SHINE_USER,
        "password": SHINE_PASSWORD,
        CONF_COMPANY_KEY: SHINE_KEY,
        **changes,
    }


async def test_flow(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Wrong company key and wrong password are told apart; the right ones create the entry."""
    result = await _start(hass)
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults[CONF_SERVER] == "http://api.shinemonitor.com"
    assert defaults[CONF_COMPANY_KEY] == "0123456789ABCDEF"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(shine_url, company_key="FFFFFFFFFFFFFFFF")
    )
    assert result["errors"] == {"base": "invalid_company_key"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(shine_url, password="wrong")
    )
    assert result["errors"] == {"base": "invalid_auth"}
    shine_sim.inject("fail_code:13", path="queryPlants")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _form(shine_url))
    assert result["errors"] == {"base": "rate_limited"}
    # The account holds its calls for a minute after the refusal.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _form(shine_url))
    assert result["errors"] == {"base": "rate_limited"}
    freezer.tick(timedelta(seconds=61))
    # A stray space around the user name does not make another account.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(shine_url, username=f" {SHINE_USER} ")
    )
    assert result["step_id"] == "plants"
    with patch("custom_components.solar_cloud.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PLANTS: [str(p) for p in shine_sim.plant_ids(SHINE_USER)]}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"ShineMonitor {SHINE_USER}"
    assert result["result"].unique_id == f"shinemonitor:127.0.0.1:{SHINE_USER}"
    assert result["data"]["username"] == SHINE_USER

    # The same account again is refused.
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _form(shine_url))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.fixture
async def shine_entry(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The ShineMonitor entry, set up at a sunny moment."""
    freezer.move_to(NOON)
    entry = make_shine_entry(shine_url, shine_sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Every entity of a plant with a PV inverter and an energy-storage inverter."""
    freezer.move_to(NOON)
    entry = make_shine_entry(shine_url, shine_sim)
    with patch("custom_components.solar_cloud.PLATFORMS", [platform]):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


def _devices(sim: ShineMonitorSimulator) -> tuple[int, dict[str, Any], dict[str, Any]]:
    plant = sim.plant_ids(SHINE_USER)[0]
    devices = sim.devices(plant)
    pv = next(d for d in devices if d["devcode"] // 256 == 2)
    storage = next(d for d in devices if d["devcode"] // 256 == 9)
    return plant, pv, storage


async def test_values_offline_and_warnings(
    hass: HomeAssistant,
    shine_entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """kW becomes W; an offline device is a state; a warning shows on the problem sensor."""
    plant, pv, storage = _devices(shine_sim)
    raw = shine_sim.device_values(pv["sn"])
    assert float(state(hass, f":{pv['sn']}:pv_power").state) == pytest.approx(
        float(raw["Output Power"]) * 1000
    )
    stored = shine_sim.device_values(storage["sn"])
    assert float(state(hass, f":{storage['sn']}:battery_soc").state) == pytest.approx(
        float(stored["Battery Capacity"])
    )
    assert state(hass, f":{pv['sn']}:online").state == "on"
    assert state(hass, f":{plant}:plant:problem").state == "off"

    shine_sim.set_device_offline(pv["sn"])
    await tick(hass, freezer)
    assert state(hass, f":{pv['sn']}:online").state == "off"
    assert state(hass, f":{pv['sn']}:inverter_status").state == "offline"
    # The rest of the plant carries on.
    assert state(hass, f":{storage['sn']}:online").state == "on"
    assert state(hass, f":{plant}:plant:energy_today").state not in ("unavailable", "unknown")

    shine_sim.set_device_offline(pv["sn"], False)
    shine_sim.raise_warning(plant, pv["sn"], level=1, code="04", desc="Grid voltage high")
    await tick(hass, freezer, timedelta(minutes=11))
    problem = state(hass, f":{plant}:plant:problem")
    assert problem.state == "on"
    assert state(hass, f":{pv['sn']}:online").state == "on"
    assert state(hass, f":{plant}:plant:alarm_count").state == "1"

    diagnostics = await async_get_config_entry_diagnostics(hass, shine_entry)
    text = repr(diagnostics)
    assert SHINE_PASSWORD not in text
    assert SHINE_KEY not in text
    for token in shine_sim.live_tokens():
        assert token not in text


async def test_renewal_and_reauth(
    hass: HomeAssistant,
    shine_entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An expired token is renewed silently; a changed password starts reauth."""
    plant, _pv, _storage = _devices(shine_sim)
    logins = shine_sim.logins
    shine_sim.expire_tokens()
    await tick(hass, freezer)
    assert shine_sim.logins == logins + 1
    assert state(hass, f":{plant}:plant:pv_power").state not in ("unavailable", "unknown")
    assert not hass.config_entries.flow.async_progress()

    shine_sim.set_password(SHINE_USER, "changed")
    shine_sim.expire_tokens()
    await tick(hass, freezer)
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"password": "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"password": "changed"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert shine_entry.data["password"] == "changed"
    assert shine_entry.state is ConfigEntryState.LOADED


async def test_reconfigure(
    hass: HomeAssistant,
    shine_entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    shine_url: str,
    aiohttp_server: Callable[..., Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A new server for the same account keeps the entry and works with the new session;
    another account is refused."""
    result = await shine_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(f"{shine_url}/", username="vplant", password="vplant")
    )
    assert result["reason"] == "wrong_account"
    # The same cloud behind another address (a second server of the same simulator).
    other: TestServer = await aiohttp_server(shine_sim.make_app())
    other_url = str(other.make_url("")).rstrip("/")
    result = await shine_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(f"{other_url}/")
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert shine_entry.data[CONF_SERVER] == other_url
    assert shine_entry.unique_id == f"shinemonitor:127.0.0.1:{SHINE_USER}"
    assert shine_entry.state is ConfigEntryState.LOADED
    logins = shine_sim.logins
    await tick(hass, freezer)
    _plant, pv, _storage = _devices(shine_sim)
    assert state(hass, f":{pv['sn']}:pv_power").state not in ("unavailable", "unknown")
    # The session the form's test opened is used as it is: no refused sign, no new login.
    client = shine_entry.runtime_data.client
    assert "4" not in client.diagnostics()["error_codes"]
    assert shine_sim.logins == logins


async def test_faults_keep_state(
    hass: HomeAssistant,
    shine_entry: MockConfigEntry,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Over the limit keeps the last values; a 5xx fails one poll; permission raises a repair."""
    plant, _pv, _storage = _devices(shine_sim)
    before = state(hass, f":{plant}:plant:energy_total").state
    shine_sim.inject("fail_code:13", path="queryDeviceStatus")
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:energy_total").state == before
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:energy_total").state not in ("unavailable", "unknown")

    shine_sim.inject("http_502", path="queryPlantCurrentData")
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:energy_total").state == "unavailable"
    await tick(hass, freezer)
    assert state(hass, f":{plant}:plant:energy_total").state not in ("unavailable", "unknown")

    shine_sim.inject("fail_code:11", path="queryPlantCurrentData")
    await tick(hass, freezer)
    issues = [i for (domain, i) in ir.async_get(hass).issues if domain == DOMAIN]
    assert any(i.startswith("permission_shinemonitor") for i in issues)
    await tick(hass, freezer)
    issues = [i for (domain, i) in ir.async_get(hass).issues if domain == DOMAIN]
    assert not any(i.startswith("permission_shinemonitor") for i in issues)


async def test_no_secret_in_logs(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With debug logging on, no token, sign, password or company key reaches the log."""
    caplog.set_level(logging.DEBUG, logger="custom_components.solar_cloud")
    freezer.move_to(NOON)
    entry = make_shine_entry(shine_url, shine_sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    shine_sim.expire_tokens()
    shine_sim.inject("html", path="queryDeviceLastData")
    await tick(hass, freezer)
    logged = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("custom_components")
    )
    assert "queryDeviceLastData" in logged
    # Every token the cloud issued, the expired one included.
    issued = {m for _t, _a, query in shine_sim.requests for m in re.findall(r"token=(\w+)", query)}
    assert len(issued) == 2
    for token in issued:
        assert token not in logged
    assert not re.search(r"sign=[0-9a-f]{40}", logged)
    assert SHINE_KEY not in logged
    assert SHINE_PASSWORD not in logged


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("http_500", "cannot_connect"),
        ("html", "cannot_connect"),
        ("fail_code:11", "permission"),
        ("fail_code:12", "no_plants"),
    ],
)
async def test_flow_errors(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    fault: str,
    error: str,
) -> None:
    """Unreachable cloud, a refused plant list and an account without plants."""
    result = await _start(hass)
    shine_sim.inject(fault, path="queryPlants")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _form(shine_url))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    # Nothing is stored; the next try goes through.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _form(shine_url))
    assert result["step_id"] == "plants"


async def test_options_choose_plants(
    hass: HomeAssistant,
    shine_url: str,
    shine_sim: ShineMonitorSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A plant left out in the options loses its device; the other carries on."""
    freezer.move_to(NOON)
    second = shine_sim.add_plant(username=SHINE_USER)
    entry = make_shine_entry(shine_url, shine_sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    first = shine_sim.plant_ids(SHINE_USER)[0]
    assert state(hass, f":{second}:plant:online").state == "on"
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PLANTS: [str(first)]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_PLANTS] == [str(first)]
    assert state(hass, f":{first}:plant:online").state == "on"
    registry = er.async_get(hass)
    assert not [e for e in registry.entities.values() if f":{second}:" in e.unique_id]
