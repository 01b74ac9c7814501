"""Normalised models every vendor client returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

type Reading = float | int | str | datetime | None


class DeviceKind(StrEnum):
    """What a cloud device is, whatever the vendor calls it."""

    INVERTER = "inverter"
    BATTERY = "battery"
    ENERGY_STORAGE = "energy_storage"
    GRID_METER = "grid_meter"
    POWER_SENSOR = "power_sensor"
    WEATHER_STATION = "weather_station"
    OTHER = "other"


class AlarmSeverity(StrEnum):
    """Alarm levels, most severe first."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Plant:
    """A plant (station) as the cloud lists it."""

    id: str
    name: str
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    capacity_kw: float | None = None
    grid_connection_date: datetime | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    """A device of a plant."""

    id: str
    plant_id: str
    name: str
    kind: DeviceKind
    type_code: str
    model: str | None = None
    serial_number: str | None = None
    sw_version: str | None = None


@dataclass(frozen=True, slots=True)
class Alarm:
    """An active alarm."""

    id: str
    plant_id: str
    name: str
    severity: AlarmSeverity | None
    raised_at: datetime | None
    cause: str | None = None
    repair_suggestion: str | None = None
    device_name: str | None = None
    device_serial_number: str | None = None
    device_id: str | None = None
    category: str | None = None


@dataclass(slots=True)
class DeviceReadings:
    """Latest values of one device, keyed by metric."""

    values: dict[str, Reading] = field(default_factory=dict)
    online: bool | None = None


@dataclass(slots=True)
class RealtimeData:
    """What one real-time poll returns for a plant."""

    plant: dict[str, Reading] = field(default_factory=dict)
    devices: dict[str, DeviceReadings] = field(default_factory=dict)
    online: bool | None = None
    data_time: datetime | None = None


@dataclass(slots=True)
class PlantData:
    """Everything the Home Assistant layer shows of one plant."""

    plant: Plant
    devices: Mapping[str, Device]
    readings: dict[str, Reading]
    device_readings: dict[str, DeviceReadings]
    alarms: Sequence[Alarm] | None
    online: bool | None
    data_time: datetime | None
    fetched_at: float


@dataclass(frozen=True, slots=True)
class PollPlan:
    """How often an account polls each kind of data, in seconds, derived from its allowances."""

    realtime: float
    alarms: float
    devices: float
    plants: float


class VendorClient(Protocol):
    """The shape every vendor client shares; the account layer needs nothing else."""

    vendor: str

    @property
    def account_id(self) -> str:
        """Stable identifier of the account (for unique ids); never a secret."""

    async def async_login(self) -> None:
        """Check the credentials, logging in only when no valid session exists."""

    async def async_get_plants(self) -> list[Plant]:
        """Every plant of the account, all pages."""

    async def async_get_devices(self, plants: Sequence[Plant]) -> list[Device]:
        """Every device of the given plants."""

    async def async_get_realtime(
        self, plants: Sequence[Plant], devices: Sequence[Device]
    ) -> dict[str, RealtimeData]:
        """Latest values of the given plants and devices, keyed by plant id."""

    async def async_get_alarms(self, plants: Sequence[Plant]) -> dict[str, list[Alarm]]:
        """Active alarms of the given plants, keyed by plant id."""

    def plan(self, plants: Sequence[Plant], devices: Sequence[Device]) -> PollPlan:
        """Size the allowances for this inventory and return the poll rhythm that fits them."""

    def diagnostics(self) -> dict[str, object]:
        """Non-secret state for diagnostics: quota use, last errors, session age."""
