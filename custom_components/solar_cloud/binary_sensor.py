"""Binary sensors: connectivity of plants and devices, and active alarms of plants."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PlantCoordinator, SolarCloudConfigEntry
from .entity import SolarCloudEntity, async_setup_platform_entities

PARALLEL_UPDATES = 0

ONLINE = BinarySensorEntityDescription(
    key="online",
    translation_key="online",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)
PROBLEM = BinarySensorEntityDescription(
    key="problem",
    translation_key="problem",
    device_class=BinarySensorDeviceClass.PROBLEM,
)

# Alarms listed in the attributes of the problem sensor, most severe first.
MAX_ALARMS_IN_ATTRIBUTES = 20
_SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2, "warning": 3}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SolarCloudConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the connectivity and problem sensors."""

    def factory(
        coordinator: PlantCoordinator, known: set[tuple[str | None, str]]
    ) -> Iterable[BinarySensorEntity]:
        if (None, "online") not in known:
            known.update({(None, "online"), (None, "problem")})
            yield OnlineSensor(coordinator, None)
            yield ProblemSensor(coordinator)
        for device_id in coordinator.data.devices:
            if (device_id, "online") not in known:
                known.add((device_id, "online"))
                yield OnlineSensor(coordinator, device_id)

    async_setup_platform_entities(hass, entry, async_add_entities, factory)


class OnlineSensor(SolarCloudEntity, BinarySensorEntity):
    """Whether the cloud hears from the plant or device."""

    entity_description = ONLINE

    def __init__(self, coordinator: PlantCoordinator, device_id: str | None) -> None:
        super().__init__(coordinator, device_id, ONLINE.key)

    @property
    def is_on(self) -> bool | None:
        """Connected, as the cloud reports it."""
        if self.device_id is None:
            return self.coordinator.data.online
        readings = self.device_readings
        if readings is None:
            # The device is listed but the last round returned no data for it.
            return False
        return readings.online


class ProblemSensor(SolarCloudEntity, BinarySensorEntity):
    """On while the plant has an active alarm; the alarms are in the attributes."""

    entity_description = PROBLEM
    # The alarm texts are long and change with every alarm: keep them out of the recorder.
    _unrecorded_attributes = frozenset({"alarms"})

    def __init__(self, coordinator: PlantCoordinator) -> None:
        super().__init__(coordinator, None, PROBLEM.key)

    @property
    def is_on(self) -> bool | None:
        """Whether any alarm is active (unknown until the alarm list was read)."""
        alarms = self.coordinator.data.alarms
        return None if alarms is None else bool(alarms)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The active alarms, most severe and newest first."""
        alarms = self.coordinator.data.alarms
        if alarms is None:
            return None
        ordered = sorted(
            alarms,
            key=lambda a: (
                _SEVERITY_ORDER.get(a.severity.value if a.severity else "", 9),
                -(a.raised_at.timestamp() if a.raised_at else 0),
            ),
        )
        return {
            "alarm_count": len(alarms),
            "alarms": [
                {
                    "name": a.name,
                    "severity": a.severity.value if a.severity else None,
                    "device": a.device_name,
                    "device_serial_number": a.device_serial_number,
                    "raised_at": a.raised_at.isoformat() if a.raised_at else None,
                    "cause": a.cause,
                    "repair_suggestion": a.repair_suggestion,
                    "category": a.category,
                }
                for a in ordered[:MAX_ALARMS_IN_ATTRIBUTES]
            ],
        }
