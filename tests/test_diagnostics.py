"""Diagnostics: useful, with every secret and personal detail redacted."""

from __future__ import annotations

import json

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.solar_cloud.diagnostics import async_get_config_entry_diagnostics
from tests.conftest import SYSTEM_CODE, USERNAME
from tests.simulators.huawei import HuaweiSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def test_diagnostics_redacted(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, huawei_sim: HuaweiSimulator
) -> None:
    """Credentials, token, address and serial numbers never appear; quota state does."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    huawei_sim.raise_alarm(plant, name="Grid overvoltage", lev=2)
    result = await async_get_config_entry_diagnostics(hass, loaded_entry)
    text = json.dumps(result, default=str)

    token = huawei_sim.live_token(USERNAME)
    assert token
    for secret in (SYSTEM_CODE, token, USERNAME):
        assert secret not in text
    for plant_data in huawei_sim.raw_plants(USERNAME):
        assert plant_data["plantAddress"] not in text
    for serial in huawei_sim.serial_numbers(plant):
        assert serial not in text

    assert result["entry"]["data"]["system_code"] == "**REDACTED**"
    assert result["entry"]["data"]["username"] == "**REDACTED**"
    assert result["entry"]["data"]["server"].startswith("http://127.0.0.1")
    client = result["account"]["client"]
    assert client["session_valid"] is True
    assert client["logins"] == 1
    assert client["quota"]["getStationRealKpi"]["allowance"] == 1
    assert client["quota"]["getStationRealKpi"]["used_in_window"] == 1
    data = result["plants"][plant]
    assert data["last_update_success"] is True
    assert data["plant"]["address"] == "**REDACTED**"
    assert len(data["devices"]) == 3
    assert all(d["serial_number"] == "**REDACTED**" for d in data["devices"])
    assert "pv_power" in data["readings"]
