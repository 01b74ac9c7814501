"""The set_time_of_use action through Home Assistant against the FusionSolar simulator."""

from __future__ import annotations

from typing import Any

import pytest
import voluptuous as vol
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.solar_cloud.const import DOMAIN
from tests.conftest import USERNAME, make_entry
from tests.ha_controls import registry_device, run_ticking
from tests.simulators.huawei import HuaweiSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOON = "2026-06-21 11:00:00+00:00"


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    server_url: str,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """A FusionSolar plant with a battery, set up."""
    freezer.move_to(NOON)
    config_entry = make_entry(server_url, huawei_sim.plant_codes(USERNAME))
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


async def test_set_time_of_use(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The windows reach the cloud, the task is followed, the mode select reads time of use."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    device = registry_device(hass, entry, plant)
    (mode,) = [
        e.entity_id
        for e in er.async_get(hass).entities.values()
        if e.domain == "select" and e.unique_id.endswith(":battery_working_mode")
    ]
    assert hass.states.get(mode).state == "self_consumption"
    requests = len(huawei_sim.control_requests)

    bad_windows: list[tuple[list[dict[str, Any]], type[Exception]]] = [
        ([{"start": "01:00", "end": "03:00", "mode": "charge"},
          {"start": "02:00", "end": "04:00", "mode": "discharge", "days": ["mon"]}],
         ServiceValidationError),
        ([{"start": "01:00", "end": "01:00", "mode": "charge"}], ServiceValidationError),
        ([{"start": f"{h:02}:00", "end": f"{h:02}:30", "mode": "charge"} for h in range(15)],
         ServiceValidationError),
        ([{"start": "25:00", "end": "01:00", "mode": "charge"}], vol.Invalid),
        ([{"start": "01:00", "end": "02:00", "mode": "idle"}], vol.Invalid),
    ]  # fmt: skip
    for windows, error in bad_windows:
        with pytest.raises(error):
            await hass.services.async_call(
                DOMAIN, "set_time_of_use", {"device_id": device, "windows": windows}, blocking=True
            )
    assert len(huawei_sim.control_requests) == requests  # nothing was sent

    response = await run_ticking(
        hass,
        freezer,
        hass.services.async_call(
            DOMAIN,
            "set_time_of_use",
            {
                "device_id": device,
                "windows": [
                    {"start": "00:30:00", "end": "05:30:00", "mode": "charge"},
                    {"start": "17:00", "end": "21:00", "mode": "discharge",
                     "days": ["sat", "sun"]},
                ],
            },
            blocking=True,
            return_response=True,
        ), 60.0,
    )  # fmt: skip
    assert response["status"] == "success"
    settings = huawei_sim.battery_settings(plant)
    assert settings["operationMode"] == "TOU"
    assert settings["chargingAndDischargingTimeWindow"] == [
        {"startTime": "00:30", "endTime": "05:30", "chargeOrDischarge": "charge",
         "repeat": [1, 2, 3, 4, 5, 6, 7]},
        {"startTime": "17:00", "endTime": "21:00", "chargeOrDischarge": "discharge",
         "repeat": [6, 7]},
    ]  # fmt: skip
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(mode).state == "time_of_use"
    last = entry.runtime_data.controls[plant].last
    assert last is not None
    assert (last.action, last.state.value) == ("set_time_of_use", "success")


async def test_set_time_of_use_refused(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    huawei_sim: HuaweiSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A failed task names the vendor's reason; a vendor without TOU windows says so."""
    plant = huawei_sim.plant_codes(USERNAME)[0]
    device = registry_device(hass, entry, plant)
    huawei_sim.inject("fail_code:20614", path="battery/mode")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_time_of_use",
            {
                "device_id": device,
                "windows": [{"start": "01:00", "end": "02:00", "mode": "charge"}],
            },
            blocking=True,
        )
    assert err.value.translation_key == "command_rejected"
    assert "20614" in str(err.value.translation_placeholders)
    assert huawei_sim.battery_settings(plant)["operationMode"] == "maximumSelfConsumption"
    entry.runtime_data.controls[plant].can_set_time_of_use = False
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_time_of_use",
            {
                "device_id": device,
                "windows": [{"start": "01:00", "end": "02:00", "mode": "charge"}],
            },
            blocking=True,
        )
    assert err.value.translation_key == "time_of_use_unsupported"
