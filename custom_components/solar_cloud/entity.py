"""Base entity: device info, unique ids and access to the plant's data."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api.controls import ControlKind, ControlSpec
from .api.models import Device, DeviceReadings, Plant, Reading
from .const import DOMAIN, MANUFACTURERS
from .coordinator import PlantCoordinator, SolarCloudConfigEntry

if TYPE_CHECKING:
    from .plant_controls import PlantControls

PLANT = "plant"


def plant_identifier(entry_uid: str, plant_id: str, device_id: str | None = None) -> str:
    """Device registry identifier of a plant or of one of its devices."""
    if device_id is None:
        return f"{entry_uid}:{plant_id}"
    return f"{entry_uid}:{plant_id}:{device_id}"


def signal_new_plant(entry_id: str) -> str:
    """Dispatcher signal sent when a plant appears after set-up."""
    return f"{DOMAIN}_new_plant_{entry_id}"


def plant_device_info(entry: SolarCloudConfigEntry, plant: Plant) -> DeviceInfo:
    """Device info of a plant."""
    uid = entry.unique_id or entry.entry_id
    return DeviceInfo(
        identifiers={(DOMAIN, plant_identifier(uid, plant.id))},
        name=plant.name,
        manufacturer=MANUFACTURERS.get(entry.runtime_data.client.vendor),
        model="Plant",
        serial_number=plant.id,
    )


def cloud_device_info(entry: SolarCloudConfigEntry, device: Device) -> DeviceInfo:
    """Device info of a cloud device, linked to its plant."""
    uid = entry.unique_id or entry.entry_id
    return DeviceInfo(
        identifiers={(DOMAIN, plant_identifier(uid, device.plant_id, device.id))},
        name=device.name,
        manufacturer=MANUFACTURERS.get(entry.runtime_data.client.vendor),
        model=device.model,
        serial_number=device.serial_number,
        sw_version=device.sw_version,
        via_device=(DOMAIN, plant_identifier(uid, device.plant_id)),
    )


class SolarCloudEntity(CoordinatorEntity[PlantCoordinator]):
    """An entity of a plant (``device_id`` None) or of one of its devices."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: PlantCoordinator, device_id: str | None, key: str) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        uid = entry.unique_id or entry.entry_id
        self.device_id = device_id
        self.key = key
        self._attr_unique_id = f"{uid}:{coordinator.plant_id}:{device_id or PLANT}:{key}"
        data = coordinator.data
        if device_id is None:
            self._attr_device_info = plant_device_info(entry, data.plant)
        else:
            self._attr_device_info = cloud_device_info(entry, data.devices[device_id])

    @property
    def device_readings(self) -> DeviceReadings | None:
        """This entity's device's latest readings."""
        if self.device_id is None or self.coordinator.data is None:
            return None
        return self.coordinator.data.device_readings.get(self.device_id)

    @property
    def available(self) -> bool:
        """Unavailable when the update failed or the device left the plant."""
        if not super().available or self.coordinator.data is None:
            return False
        return self.device_id is None or self.device_id in self.coordinator.data.devices


type EntityFactory = Callable[[PlantCoordinator, set[tuple[str | None, str]]], Iterable[Entity]]


@callback
def async_setup_platform_entities(
    hass: HomeAssistant,
    entry: SolarCloudConfigEntry,
    add_entities: Callable[[Iterable[Entity]], None],
    factory: EntityFactory,
) -> None:
    """Add a platform's entities now, for devices and keys that show up later, and for new plants.

    ``factory`` returns the entities of a coordinator whose (device id, key) is not yet in the
    given set and adds what it created to that set.
    """

    @callback
    def watch(coordinator: PlantCoordinator) -> None:
        known: set[tuple[str | None, str]] = set()

        @callback
        def add_new() -> None:
            # A device that left has lost its entities; if it comes back it gets them anew.
            devices = coordinator.data.devices
            known.difference_update(
                {(dev, key) for dev, key in known if dev is not None and dev not in devices}
            )
            if new := list(factory(coordinator, known)):
                add_entities(new)

        add_new()
        entry.async_on_unload(coordinator.async_add_listener(add_new))

    for coordinator in entry.runtime_data.coordinators.values():
        watch(coordinator)
    entry.async_on_unload(async_dispatcher_connect(hass, signal_new_plant(entry.entry_id), watch))


class SolarCloudControlEntity(SolarCloudEntity):
    """A control of a device: its value is the one read back from the cloud."""

    _attr_entity_category = EntityCategory.CONFIG

    def __init__(
        self, coordinator: PlantCoordinator, controls: PlantControls, spec: ControlSpec
    ) -> None:
        super().__init__(coordinator, spec.device_id, spec.key)
        self.controls = controls
        self.spec = spec
        self._attr_translation_key = spec.key

    @property
    def control_value(self) -> Reading:
        """The value last read back from the cloud."""
        return self.controls.values.get((self.spec.device_id, self.spec.key))

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The state of a task that changes this control, while it runs."""
        task = self.controls.task
        if task is None or task.device_id not in (None, self.spec.device_id):
            return {}
        return {"task": task.state.value, "task_action": task.action}

    async def async_added_to_hass(self) -> None:
        """Follow the plant's controls as well as its data."""
        await super().async_added_to_hass()
        self.async_on_remove(self.controls.add_listener(self.async_write_ha_state))

    async def _async_write(self, value: Reading) -> None:
        await self.controls.async_set(self.spec, value)
        self.async_write_ha_state()


type ControlEntityFactory = Callable[[PlantControls, ControlSpec], Iterable[Entity]]


@callback
def async_setup_control_entities(
    hass: HomeAssistant,
    entry: SolarCloudConfigEntry,
    add_entities: Callable[[Iterable[Entity]], None],
    kind: ControlKind,
    create: ControlEntityFactory,
) -> None:
    """Add the entities of every control of ``kind``, for the plants now and those to come."""

    @callback
    def watch(coordinator: PlantCoordinator) -> None:
        controls = entry.runtime_data.controls.get(coordinator.plant_id)
        if controls is None:
            return
        known: set[tuple[str, str]] = set()

        @callback
        def add_new() -> None:
            # Controls found later (a retried or daily look-up) get their entities then.
            new: list[Entity] = []
            for ident, spec in controls.specs.items():
                if ident in known or spec.kind is not kind:
                    continue
                if spec.device_id in coordinator.data.devices:
                    known.add(ident)
                    new.extend(create(controls, spec))
            if new:
                add_entities(new)

        add_new()
        entry.async_on_unload(controls.add_listener(add_new))

    for coordinator in entry.runtime_data.coordinators.values():
        watch(coordinator)
    entry.async_on_unload(async_dispatcher_connect(hass, signal_new_plant(entry.entry_id), watch))
