"""Diagnostics with every secret and personal detail redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import (
    CONF_ACCESS_KEY,
    CONF_APP_ID,
    CONF_APP_KEY,
    CONF_APP_SECRET,
    CONF_COMPANY_KEY,
    CONF_RSA_PUBLIC_KEY,
    CONF_SYSTEM_CODE,
    CONF_TOKEN,
)
from .coordinator import SolarCloudConfigEntry

TO_REDACT = {
    CONF_USERNAME,
    CONF_PASSWORD,
    CONF_SYSTEM_CODE,
    CONF_APP_KEY,
    CONF_ACCESS_KEY,
    CONF_RSA_PUBLIC_KEY,
    CONF_APP_ID,
    CONF_APP_SECRET,
    CONF_COMPANY_KEY,
    # OAuth Connect: the whole token (access and refresh token). The account name (the
    # "account" data key, a plant code) is no secret, and the key names the account section.
    CONF_TOKEN,
    "access_token",
    "refresh_token",
    "secret",
    "address",
    "latitude",
    "longitude",
    "unique_id",
    "title",
    "serial_number",
    "device_serial_number",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SolarCloudConfigEntry
) -> dict[str, Any]:
    """The entry, the account's quota and session state, and the latest data per plant."""
    runtime = entry.runtime_data
    account = runtime.account
    plants: dict[str, Any] = {}
    for plant_id, coordinator in runtime.coordinators.items():
        data = coordinator.data
        plants[plant_id] = {
            "last_update_success": coordinator.last_update_success,
            # Plant names are often the owner's name.
            "plant": {**asdict(data.plant), "name": REDACTED},
            "devices": [asdict(d) for d in data.devices.values()],
            "readings": data.readings,
            "device_readings": {k: asdict(v) for k, v in data.device_readings.items()},
            "alarms": [asdict(a) for a in data.alarms or ()],
            "online": data.online,
            "controls": controls.diagnostics()
            if (controls := runtime.controls.get(plant_id)) is not None
            else None,
        }
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "account": account.diagnostics(),
            "plants": plants,
            # Progress of the statistics import (None without the recorder or vendor support).
            "history": runtime.backfill.diagnostics() if runtime.backfill is not None else None,
        },
        TO_REDACT,
    )
