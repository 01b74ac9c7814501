"""Sensors: every metric a plant or device reports."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .api.controls import TaskState
from .api.metrics import Accumulation, Metric, Quantity, get_metric
from .coordinator import PlantCoordinator, SolarCloudConfigEntry
from .entity import SolarCloudEntity, async_setup_platform_entities, signal_new_plant
from .plant_controls import PlantControls, task_summary

# Read-only platform fed by coordinators: no limit on parallel updates.
PARALLEL_UPDATES = 0

_DEVICE_CLASSES: dict[Quantity, SensorDeviceClass | None] = {
    Quantity.POWER: SensorDeviceClass.POWER,
    Quantity.ENERGY: SensorDeviceClass.ENERGY,
    Quantity.ENERGY_STORAGE: SensorDeviceClass.ENERGY_STORAGE,
    Quantity.REACTIVE_POWER: SensorDeviceClass.REACTIVE_POWER,
    Quantity.REACTIVE_ENERGY: SensorDeviceClass.REACTIVE_ENERGY,
    Quantity.APPARENT_POWER: SensorDeviceClass.APPARENT_POWER,
    Quantity.MONEY: SensorDeviceClass.MONETARY,
    Quantity.MASS: SensorDeviceClass.WEIGHT,
    Quantity.BATTERY: SensorDeviceClass.BATTERY,
    Quantity.PERCENT: None,
    Quantity.VOLTAGE: SensorDeviceClass.VOLTAGE,
    Quantity.CURRENT: SensorDeviceClass.CURRENT,
    Quantity.FREQUENCY: SensorDeviceClass.FREQUENCY,
    Quantity.POWER_FACTOR: SensorDeviceClass.POWER_FACTOR,
    Quantity.TEMPERATURE: SensorDeviceClass.TEMPERATURE,
    Quantity.IRRADIANCE: SensorDeviceClass.IRRADIANCE,
    Quantity.IRRADIATION: None,
    Quantity.WIND_SPEED: SensorDeviceClass.WIND_SPEED,
    Quantity.ANGLE: SensorDeviceClass.WIND_DIRECTION,
    Quantity.ENUM: SensorDeviceClass.ENUM,
    Quantity.COUNT: None,
    Quantity.TIMESTAMP: SensorDeviceClass.TIMESTAMP,
}

# Shown without decimals ("100 %" rather than "100.0 %"); the state keeps the cloud's value.
_DISPLAY_PRECISION: dict[Quantity, int] = {Quantity.BATTERY: 0, Quantity.PERCENT: 0}

# Numbered and per-phase families share one translated name with a placeholder.
_FAMILIES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"pv(\d+)_voltage"), "pv_voltage", "number"),
    (re.compile(r"pv(\d+)_current"), "pv_current", "number"),
    (re.compile(r"mppt(\d+)_energy_total"), "mppt_energy_total", "number"),
    (re.compile(r"phase_([abc])_voltage"), "phase_voltage", "phase"),
    (re.compile(r"phase_([abc])_current"), "phase_current", "phase"),
    (re.compile(r"phase_([abc])_power"), "phase_power", "phase"),
    (re.compile(r"phase_([abc])_reactive_power"), "phase_reactive_power", "phase"),
    (re.compile(r"phase_([abc])_backup_power"), "phase_backup_power", "phase"),
    (re.compile(r"line_(ab|bc|ca)_voltage"), "line_voltage", "line"),
)

# A lifetime counter that drops by less than this share is a cloud glitch, not a reset.
_GLITCH_SHARE = 0.5


def _state_class(metric: Metric) -> SensorStateClass | None:
    quantity = metric.quantity
    if quantity in (Quantity.ENUM, Quantity.TIMESTAMP):
        return None
    if quantity is Quantity.MONEY:
        return SensorStateClass.TOTAL if metric.accumulation is Accumulation.LIFETIME else None
    if quantity is Quantity.ANGLE:
        # Averaging angles needs the circular mean.
        return SensorStateClass.MEASUREMENT_ANGLE
    if metric.accumulation is Accumulation.INSTANT:
        return SensorStateClass.MEASUREMENT
    return SensorStateClass.TOTAL_INCREASING


def describe(metric: Metric, currency: str) -> SensorEntityDescription:
    """The entity description of a metric."""
    translation_key = metric.key
    placeholders: dict[str, str] | None = None
    for pattern, family, placeholder in _FAMILIES:
        if match := pattern.fullmatch(metric.key):
            translation_key = family
            placeholders = {placeholder: match.group(1).upper()}
            break
    unit = currency if metric.quantity is Quantity.MONEY else metric.unit
    return SensorEntityDescription(
        key=metric.key,
        translation_key=translation_key,
        translation_placeholders=placeholders,
        device_class=_DEVICE_CLASSES[metric.quantity],
        state_class=_state_class(metric),
        native_unit_of_measurement=unit,
        suggested_display_precision=_DISPLAY_PRECISION.get(metric.quantity),
        options=list(metric.options) if metric.options else None,
        entity_category=EntityCategory.DIAGNOSTIC if metric.diagnostic else None,
        entity_registry_enabled_default=metric.enabled_by_default,
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SolarCloudConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create sensors for every metric in the data, now and as new ones appear."""
    currency = hass.config.currency

    def factory(
        coordinator: PlantCoordinator, known: set[tuple[str | None, str]]
    ) -> Iterable[SolarCloudSensor]:
        data = coordinator.data
        sources: list[tuple[str | None, Iterable[str]]] = [(None, data.readings)]
        sources += [(dev_id, r.values) for dev_id, r in data.device_readings.items()]
        for device_id, keys in sources:
            if device_id is not None and device_id not in data.devices:
                continue
            for key in keys:
                metric = get_metric(key)
                if metric is None or (device_id, key) in known:
                    continue
                known.add((device_id, key))
                yield SolarCloudSensor(coordinator, device_id, metric, describe(metric, currency))

    async_setup_platform_entities(hass, entry, async_add_entities, factory)

    @callback
    def add_last_command(coordinator: PlantCoordinator) -> None:
        controls = entry.runtime_data.controls.get(coordinator.plant_id)
        if controls is not None and (controls.specs or controls.can_force):
            async_add_entities([LastCommandSensor(coordinator, controls)])

    for coordinator in entry.runtime_data.coordinators.values():
        add_last_command(coordinator)
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_plant(entry.entry_id), add_last_command)
    )


class SolarCloudSensor(SolarCloudEntity, SensorEntity):
    """One metric of a plant or device."""

    def __init__(
        self,
        coordinator: PlantCoordinator,
        device_id: str | None,
        metric: Metric,
        description: SensorEntityDescription,
    ) -> None:
        super().__init__(coordinator, device_id, metric.key)
        self.entity_description = description
        self.metric = metric
        self._last_total: float | None = None
        self._attr_native_value = self._read()

    def _raw(self) -> Any:
        data = self.coordinator.data
        if self.device_id is None:
            return data.readings.get(self.key)
        readings = data.device_readings.get(self.device_id)
        return None if readings is None else readings.values.get(self.key)

    def _read(self) -> Any:
        value = self._raw()
        quantity = self.metric.quantity
        if quantity is Quantity.TIMESTAMP:
            return value if isinstance(value, datetime) else None
        if quantity is Quantity.ENUM:
            return value if isinstance(value, str) and value in self.metric.options else None
        if not isinstance(value, int | float):
            return None
        if self.metric.accumulation is Accumulation.LIFETIME:
            return self._guard_total(float(value))
        # A negated zero (a split or sign-flipped power of 0 W) would show as "-0 W".
        return abs(value) if value == 0 else value

    def _guard_total(self, value: float) -> float:
        """Ignore a lifetime counter that dips for a moment (the cloud sometimes sends 0)."""
        last = self._last_total
        if last is not None and value < last and value >= last * _GLITCH_SHARE:
            return last
        if last is not None and value < last * _GLITCH_SHARE and value == 0:
            return last
        self._last_total = value
        return value

    @callback
    def _handle_coordinator_update(self) -> None:
        self._attr_native_value = self._read()
        super()._handle_coordinator_update()


class LastCommandSensor(SolarCloudEntity, SensorEntity):
    """The plant's latest control task: running, success, failed or timed out, with details."""

    _attr_device_class = SensorDeviceClass.ENUM
    _attr_translation_key = "last_command"

    def __init__(self, coordinator: PlantCoordinator, controls: PlantControls) -> None:
        super().__init__(coordinator, None, "last_command")
        self.controls = controls
        self._attr_options = [state.value for state in TaskState]

    @property
    def native_value(self) -> str | None:
        """The state of the latest task, or unknown before the first."""
        last = self.controls.last
        return None if last is None else last.state.value

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Action, value, task id, reason and times of the latest task."""
        last = self.controls.last
        if last is None:
            return {}
        summary = task_summary(last)
        for key in ("started_at", "finished_at"):
            stamp = summary[key]
            summary[key] = (
                None if not isinstance(stamp, int | float) else dt_util.utc_from_timestamp(stamp)
            )
        return summary

    async def async_added_to_hass(self) -> None:
        """Follow the plant's tasks."""
        await super().async_added_to_hass()
        self.async_on_remove(self.controls.add_listener(self.async_write_ha_state))
