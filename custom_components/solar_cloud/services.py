"""Actions that dispatch batteries: forced charge or discharge, its stop, time-of-use windows."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr

from .api.controls import (
    FORCE_CHARGE,
    FORCE_DISCHARGE,
    SET_TIME_OF_USE,
    STOP_FORCED_CHARGE,
    ControlTask,
    ForceRequest,
    TouWindow,
)
from .const import DOMAIN
from .coordinator import SolarCloudConfigEntry
from .plant_controls import PlantControls

ATTR_POWER = "power"
ATTR_DURATION = "duration"
ATTR_TARGET_SOC = "target_soc"

_TARGET: dict[vol.Marker, Any] = {vol.Required(ATTR_DEVICE_ID): cv.string}
FORCE_SCHEMA = vol.Schema(
    {
        **_TARGET,
        vol.Required(ATTR_POWER): vol.All(vol.Coerce(float), vol.Range(min=1)),
        vol.Exclusive(ATTR_DURATION, "limit"): vol.All(vol.Coerce(float), vol.Range(min=1)),
        vol.Exclusive(ATTR_TARGET_SOC, "limit"): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=100)
        ),
    }
)
STOP_SCHEMA = vol.Schema(_TARGET)
ATTR_WINDOWS = "windows"
# Days as the action takes them, and their numbers (1 = Monday).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOW_SCHEMA = vol.Schema(
    {
        vol.Required("start"): cv.time,
        vol.Required("end"): cv.time,
        vol.Required("mode"): vol.In(("charge", "discharge")),
        vol.Optional("days", default=list(DAYS)): vol.All(cv.ensure_list, [vol.In(DAYS)]),
    }
)
TIME_OF_USE_SCHEMA = vol.Schema(
    {**_TARGET, vol.Required(ATTR_WINDOWS): vol.All(cv.ensure_list, [WINDOW_SCHEMA])}
)


def _resolve(hass: HomeAssistant, device_id: str) -> tuple[PlantControls, str | None]:
    """The plant controls and the cloud device (None for the plant) of a registry device."""
    device = dr.async_get(hass).async_get(device_id)
    if device is not None:
        for entry_id in device.config_entries:
            entry: SolarCloudConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
            if entry is None or entry.domain != DOMAIN or not hasattr(entry, "runtime_data"):
                continue
            uid = entry.unique_id or entry.entry_id
            for domain, identifier in device.identifiers:
                if domain != DOMAIN or not identifier.startswith(f"{uid}:"):
                    continue
                plant_id, _, cloud_id = identifier[len(uid) + 1 :].partition(":")
                controls = entry.runtime_data.controls.get(plant_id)
                if controls is not None:
                    return controls, cloud_id or None
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="no_battery_target",
        translation_placeholders={"device_id": device_id},
    )


async def _force(call: ServiceCall) -> ServiceResponse:
    controls, cloud_id = _resolve(call.hass, call.data[ATTR_DEVICE_ID])
    request = ForceRequest(
        discharge=call.service == FORCE_DISCHARGE,
        power_w=call.data[ATTR_POWER],
        duration_min=call.data.get(ATTR_DURATION),
        target_soc=call.data.get(ATTR_TARGET_SOC),
    )
    task = await controls.async_force(cloud_id, request)
    return _response(task) if call.return_response else None


async def _stop(call: ServiceCall) -> ServiceResponse:
    controls, cloud_id = _resolve(call.hass, call.data[ATTR_DEVICE_ID])
    task = await controls.async_stop(cloud_id)
    return _response(task) if call.return_response else None


async def _time_of_use(call: ServiceCall) -> ServiceResponse:
    controls, _cloud_id = _resolve(call.hass, call.data[ATTR_DEVICE_ID])
    windows = [
        TouWindow(
            start=window["start"].strftime("%H:%M"),
            end=window["end"].strftime("%H:%M"),
            discharge=window["mode"] == "discharge",
            days=tuple(sorted({DAYS.index(day) + 1 for day in window["days"]})),
        )
        for window in call.data[ATTR_WINDOWS]
    ]
    task = await controls.async_set_time_of_use(windows)
    return _response(task) if call.return_response else None


def _response(task: ControlTask) -> ServiceResponse:
    return {"task_id": task.id, "status": task.state.value, "reason": task.reason}


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the battery actions (once, for every account)."""
    for service in (FORCE_CHARGE, FORCE_DISCHARGE):
        hass.services.async_register(
            DOMAIN,
            service,
            _force,
            schema=FORCE_SCHEMA,
            supports_response=SupportsResponse.OPTIONAL,
        )
    hass.services.async_register(
        DOMAIN,
        STOP_FORCED_CHARGE,
        _stop,
        schema=STOP_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SET_TIME_OF_USE,
        _time_of_use,
        schema=TIME_OF_USE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
