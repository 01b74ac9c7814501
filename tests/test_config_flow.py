"""Config flow, reauth, reconfigure and options against the simulated cloud."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.solar_cloud.const import (
    CONF_EXCLUDED_PLANTS,
    CONF_HISTORY_DAYS,
    CONF_PLANTS,
    CONF_SERVER,
    CONF_SYSTEM_CODE,
    CONF_VENDOR,
    DEFAULT_HISTORY_DAYS,
    DOMAIN,
    VENDOR_HUAWEI,
    VENDORS,
)
from tests.conftest import SYSTEM_CODE, USERNAME, make_entry
from tests.simulators.huawei import HuaweiSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")


def _credentials(server_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        CONF_SERVER: server_url,
        "username": USERNAME,
        CONF_SYSTEM_CODE: SYSTEM_CODE,
        **overrides,
    }


def _default(result: dict[str, Any], field: str) -> Any:
    for key in result["data_schema"].schema:
        if key == field:
            return key.default()
    raise KeyError(field)


async def _start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_VENDOR: VENDOR_HUAWEI}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == VENDOR_HUAWEI
    return result


def _placeholders(step: dict[str, Any]) -> set[str]:
    """The {placeholders} the texts of one step of en.json use."""
    texts = [step.get("title", ""), step.get("description", "")]
    texts += list(step.get("data_description", {}).values())
    return {name for text in texts for name in re.findall(r"{(\w+)}", text)}


@pytest.mark.parametrize("vendor", VENDORS)
async def test_vendor_step_fills_its_placeholders(hass: HomeAssistant, vendor: str) -> None:
    """Every placeholder the credentials step's texts use is filled (the frontend would show
    "{default_server}" otherwise), and the example server is the field's default."""
    en = json.loads(
        (
            Path(__file__).parent.parent / "custom_components/solar_cloud/translations/en.json"
        ).read_text(encoding="utf-8")
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_VENDOR: vendor}
    )
    assert result["step_id"] == vendor
    placeholders = result["description_placeholders"]
    assert _placeholders(en["config"]["step"][vendor]) <= set(placeholders)
    assert placeholders["default_server"] == _default(result, CONF_SERVER)
    assert placeholders["default_server"].startswith(("https://", "http://"))


@pytest.mark.parametrize("sim_options", [{"plants": 3}])
async def test_full_flow_creates_entry(
    hass: HomeAssistant, server_url: str, huawei_sim: HuaweiSimulator
) -> None:
    """Vendor, credentials (with a trailing slash and spaces), plants: an entry for two of three."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _credentials(f"{server_url}/", username=f" {USERNAME} "),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "plants"
    codes = huawei_sim.plant_codes(USERNAME)
    # Every plant is offered and selected by default.
    assert sorted(_default(result, CONF_PLANTS)) == sorted(codes)

    with patch("custom_components.solar_cloud.async_setup_entry", return_value=True) as setup:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PLANTS: codes[:2]}
        )
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"FusionSolar {USERNAME}"
    host = "127.0.0.1"
    assert result["result"].unique_id == f"{VENDOR_HUAWEI}:{host}:{USERNAME}"
    assert result["data"] == {
        CONF_VENDOR: VENDOR_HUAWEI,
        CONF_SERVER: server_url,
        "username": USERNAME,
        CONF_SYSTEM_CODE: SYSTEM_CODE,
    }
    assert result["options"] == {
        CONF_PLANTS: sorted(codes[:2]),
        CONF_EXCLUDED_PLANTS: [codes[2]],
    }
    assert len(setup.mock_calls) == 1


async def test_no_plant_selected_is_an_error(hass: HomeAssistant, server_url: str) -> None:
    """Choosing no plant shows an error and lets the user choose again."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(server_url)
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_PLANTS: []})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "no_plants_selected"}
    with patch("custom_components.solar_cloud.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PLANTS: _default(result, CONF_PLANTS)}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "fail_code:20400", "path": "/thirdData/login"}, "invalid_auth"),
        ({"kind": "fail_code:407", "path": "/thirdData/login"}, "rate_limited"),
        ({"kind": "http_500", "path": "/thirdData/login"}, "cannot_connect"),
        ({"kind": "html", "path": "/thirdData/stations"}, "cannot_connect"),
        ({"kind": "malformed_json", "path": "/thirdData/stations"}, "cannot_connect"),
        ({"kind": "fail_code:20056", "path": "/thirdData/stations"}, "permission"),
    ],
)
async def test_credential_errors_then_recovery(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
    fault: dict[str, str],
    error: str,
) -> None:
    """Each cloud failure maps onto its form error, and the form then works.

    After a refused login the account waits out the ten-minute login window before trying again.
    """
    result = await _start(hass)
    huawei_sim.inject(fault["kind"], path=fault["path"])
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(server_url)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == VENDOR_HUAWEI
    assert result["errors"] == {"base": error}
    freezer.tick(timedelta(minutes=11))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(server_url)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "plants"


async def test_wrong_system_code(hass: HomeAssistant, server_url: str) -> None:
    """A wrong password is invalid_auth."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(server_url, system_code="wrong")
    )
    assert result["errors"] == {"base": "invalid_auth"}


async def test_unreachable_server(hass: HomeAssistant, unused_tcp_port: int) -> None:
    """Nothing listening: cannot_connect."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(f"http://127.0.0.1:{unused_tcp_port}")
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_invalid_url(hass: HomeAssistant) -> None:
    """A server that is no http(s) URL is refused before any request."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials("ftp://example.invalid")
    )
    assert result["errors"] == {CONF_SERVER: "invalid_url"}


@pytest.mark.parametrize("sim_options", [{"plants": 0}])
async def test_account_without_plants(hass: HomeAssistant, server_url: str) -> None:
    """An account that sees no plant cannot be added."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(server_url)
    )
    assert result["errors"] == {"base": "no_plants"}


async def test_unexpected_error(hass: HomeAssistant, server_url: str) -> None:
    """A bug shows 'unknown' rather than a broken form."""
    result = await _start(hass)
    with patch(
        "custom_components.solar_cloud.api.huawei.HuaweiClient.async_login",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _credentials(server_url)
        )
    assert result["errors"] == {"base": "unknown"}


async def test_same_account_twice_aborts(
    hass: HomeAssistant, server_url: str, huawei_sim: HuaweiSimulator
) -> None:
    """The account is already an entry: abort."""
    make_entry(server_url, huawei_sim.plant_codes(USERNAME)).add_to_hass(hass)
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(server_url)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, huawei_sim: HuaweiSimulator
) -> None:
    """Reauth checks the new system code, stores it and reloads."""
    huawei_sim.set_password(USERNAME, "new-code")
    result = await loaded_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SYSTEM_CODE: "still-wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SYSTEM_CODE: "new-code"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert loaded_entry.data[CONF_SYSTEM_CODE] == "new-code"
    assert loaded_entry.state is ConfigEntryState.LOADED


async def test_reconfigure(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server_url: str
) -> None:
    """Reconfigure tests the new settings, then saves them and reloads."""
    result = await loaded_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(server_url, system_code="wrong")
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(f"{server_url}/")
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert loaded_entry.data[CONF_SERVER] == server_url
    assert loaded_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_keeps_the_account(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    aiohttp_server: Any,
) -> None:
    """Another account is refused; a new server name for the same account keeps every id."""
    huawei_sim.add_account("second", "second-code", plants=1)
    unique_id = loaded_entry.unique_id
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(server_url, username="second", system_code="second-code")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"

    # The same cloud under another address.
    other = await aiohttp_server(huawei_sim.make_app())
    logins = huawei_sim.logins
    plant_lists = huawei_sim.calls["stations"]
    other_name = str(other.make_url("")).rstrip("/")
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _credentials(other_name)
    )
    await hass.async_block_till_done()
    assert result.get("errors") is None
    assert result["reason"] == "reconfigure_successful"
    assert loaded_entry.data[CONF_SERVER] == other_name
    assert loaded_entry.unique_id == unique_id
    assert loaded_entry.state is ConfigEntryState.LOADED
    # The connection test's login serves the reloaded entry: no second login, no early call.
    assert huawei_sim.logins == logins + 1
    assert huawei_sim.calls["stations"] == plant_lists + 1
    assert sum(huawei_sim.refusals.values()) == 0


@pytest.mark.parametrize("sim_options", [{"plants": 2}])
async def test_options_choose_plants(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, huawei_sim: HuaweiSimulator
) -> None:
    """Options list the account's plants; leaving one out reloads without it."""
    codes = sorted(huawei_sim.plant_codes(USERNAME))
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert _default(result, CONF_HISTORY_DAYS) == DEFAULT_HISTORY_DAYS
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PLANTS: [], CONF_HISTORY_DAYS: 30}
    )
    assert result["errors"] == {"base": "no_plants_selected"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PLANTS: [codes[0]], CONF_HISTORY_DAYS: 7}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options == {
        CONF_PLANTS: [codes[0]],
        CONF_EXCLUDED_PLANTS: [codes[1]],
        CONF_HISTORY_DAYS: 7,
    }
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert list(loaded_entry.runtime_data.coordinators) == [codes[0]]


async def test_options_need_a_loaded_entry(
    hass: HomeAssistant, server_url: str, huawei_sim: HuaweiSimulator
) -> None:
    """Options of an entry that is not loaded abort with a clear reason."""
    entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"
