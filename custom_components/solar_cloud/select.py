"""Select entities: battery working mode and the vendors' priority settings."""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.components.select import SelectEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api.controls import ControlKind, ControlSpec
from .coordinator import SolarCloudConfigEntry
from .entity import SolarCloudControlEntity, async_setup_control_entities
from .plant_controls import PlantControls

# Writes are cloud tasks: one at a time.
PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SolarCloudConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A select for every select control the plants offer."""

    def create(controls: PlantControls, spec: ControlSpec) -> Iterable[SolarCloudSelect]:
        yield SolarCloudSelect(controls.coordinator, controls, spec)

    async_setup_control_entities(hass, entry, async_add_entities, ControlKind.SELECT, create)


class SolarCloudSelect(SolarCloudControlEntity, SelectEntity):
    """A choice read back from the cloud."""

    @property
    def options(self) -> list[str]:
        """The options the device offers."""
        return list(self.spec.options)

    @property
    def current_option(self) -> str | None:
        """The option read back from the cloud."""
        value = self.control_value
        return value if isinstance(value, str) and value in self.spec.options else None

    async def async_select_option(self, option: str) -> None:
        """Write the option and wait for the cloud to confirm it."""
        await self._async_write(option)
