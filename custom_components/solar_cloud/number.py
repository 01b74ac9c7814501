"""Number entities: SOC limits, power and current limits, export limit."""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.components.number import NumberDeviceClass, NumberEntity, NumberMode
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api.controls import ControlKind, ControlSpec
from .coordinator import PlantCoordinator, SolarCloudConfigEntry
from .entity import SolarCloudControlEntity, async_setup_control_entities
from .plant_controls import PlantControls

# Writes are cloud tasks: one at a time.
PARALLEL_UPDATES = 1

_DEVICE_CLASSES = {
    "%": NumberDeviceClass.BATTERY,
    "W": NumberDeviceClass.POWER,
    "A": NumberDeviceClass.CURRENT,
    "V": NumberDeviceClass.VOLTAGE,
}

_OPEN_MAXIMUM: dict[str, float] = {"%": 100.0, "W": 1_000_000.0, "A": 1000.0, "V": 1000.0}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SolarCloudConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A number for every numeric control the plants offer."""

    def create(controls: PlantControls, spec: ControlSpec) -> Iterable[SolarCloudNumber]:
        yield SolarCloudNumber(controls.coordinator, controls, spec)

    async_setup_control_entities(hass, entry, async_add_entities, ControlKind.NUMBER, create)


class SolarCloudNumber(SolarCloudControlEntity, NumberEntity):
    """A setting read back from the cloud."""

    _attr_mode = NumberMode.BOX

    def __init__(
        self, coordinator: PlantCoordinator, controls: PlantControls, spec: ControlSpec
    ) -> None:
        super().__init__(coordinator, controls, spec)
        self._attr_native_unit_of_measurement = spec.unit
        self._attr_device_class = _DEVICE_CLASSES.get(spec.unit or "")
        if spec.minimum is not None:
            self._attr_native_min_value = spec.minimum
        # Without a documented maximum the cloud checks the value; the frontend's default of 100
        # would otherwise cap power and current entries.
        self._attr_native_max_value = (
            spec.maximum if spec.maximum is not None else _OPEN_MAXIMUM.get(spec.unit or "", 1e6)
        )
        self._attr_native_step = spec.step or 1.0

    @property
    def native_value(self) -> float | None:
        """The value read back from the cloud."""
        value = self.control_value
        if not isinstance(value, int | float):
            return None
        # Whole steps show whole numbers: "100 %", not "100.0 %".
        if float(self.native_step or 1.0).is_integer() and float(value).is_integer():
            return int(value)
        return float(value)

    async def async_set_native_value(self, value: float) -> None:
        """Write the value and wait for the cloud to confirm it."""
        await self._async_write(value)
