"""Battery and inverter controls: what a vendor client offers and how a write is followed.

Every vendor writes through an asynchronous task: the cloud accepts the command, hands back a task
id, and the device reports later whether it took the value. A client that supports controls
implements ``ControlClient``; the Home Assistant layer drives it (one task per plant at a time,
inputs validated against ``ControlSpec`` before anything is sent, the value read back once the
task succeeded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import Protocol

from .models import Device, Plant, Reading

# Control keys of the shared vocabulary; vendors may add their own beside them.
BATTERY_WORKING_MODE = "battery_working_mode"
BATTERY_CHARGE_CUTOFF_SOC = "battery_charge_cutoff_soc"
BATTERY_DISCHARGE_CUTOFF_SOC = "battery_discharge_cutoff_soc"
BATTERY_MAX_CHARGE_POWER = "battery_max_charge_power"
BATTERY_MAX_DISCHARGE_POWER = "battery_max_discharge_power"
GRID_EXPORT_LIMIT = "grid_export_limit"

# Actions that are not a control entity.
FORCE_CHARGE = "force_charge"
FORCE_DISCHARGE = "force_discharge"
STOP_FORCED_CHARGE = "stop_forced_charge"
SET_TIME_OF_USE = "set_time_of_use"

# Time-of-use windows: at most this many, days numbered 1 (Monday) to 7 (Sunday).
MAX_TOU_WINDOWS = 14


class ControlKind(StrEnum):
    """How a control is shown."""

    SELECT = "select"
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class ControlSpec:
    """One control of one device, with the range the vendor and the device allow."""

    key: str
    device_id: str
    kind: ControlKind
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    # Select options: stable snake_case keys (translated in Home Assistant).
    options: tuple[str, ...] = ()
    # The vendor's own reference (parameter code, field id); never shown to users.
    vendor_ref: str = ""
    # The vendor's label, for controls whose options or name come from the cloud.
    label: str | None = None


class TaskState(StrEnum):
    """Where a control task stands."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(slots=True)
class ControlTask:
    """A write in progress or done.

    ``poll_interval`` and ``timeout`` are the vendor's rhythm for this kind of task, in seconds.
    ``reason`` is the vendor's code or text when the task failed.
    """

    id: str
    plant_id: str
    device_id: str | None
    action: str
    value: Reading
    state: TaskState
    started_at: float
    poll_interval: float
    timeout: float
    finished_at: float | None = None
    reason: str | None = None
    details: dict[str, Reading] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Whether the task has ended, well or not."""
        return self.state is not TaskState.RUNNING


@dataclass(frozen=True, slots=True)
class ForceRequest:
    """A forced charge or discharge: ``power_w`` for ``duration_min`` or up to ``target_soc``."""

    discharge: bool
    power_w: float
    duration_min: float | None = None
    target_soc: float | None = None


@dataclass(frozen=True, slots=True)
class TouWindow:
    """One time-of-use window: charge (or discharge) from ``start`` to ``end`` on ``days``.

    Times are "HH:MM" in the plant's time zone; an ``end`` at or before ``start`` runs past
    midnight into the next day.
    """

    start: str
    end: str
    discharge: bool
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)


def tou_overlap(windows: Sequence[TouWindow]) -> tuple[TouWindow, TouWindow] | None:
    """The first two windows that overlap on some day, or None."""

    def minutes(hhmm: str) -> int:
        hours, _, mins = hhmm.partition(":")
        return int(hours) * 60 + int(mins)

    spans: dict[int, list[tuple[int, int, TouWindow]]] = {}
    for window in windows:
        start, end = minutes(window.start), minutes(window.end)
        for day in window.days:
            if start < end:
                spans.setdefault(day, []).append((start, end, window))
            else:  # past midnight: the rest of this day and the start of the next
                spans.setdefault(day, []).append((start, 1440, window))
                spans.setdefault(day % 7 + 1, []).append((0, end, window))
    for pieces in spans.values():
        pieces.sort(key=lambda piece: (piece[0], piece[1]))
        for (_, end_a, first), (start_b, _, second) in pairwise(pieces):
            if start_b < end_a:
                return first, second
    return None


class ControlClient(Protocol):
    """What a vendor client offers when its API has controls."""

    # True when the cloud itself ends a forced charge after its duration or at its target SOC;
    # False when the caller has to stop it.
    force_limits_native: bool

    async def async_get_controls(
        self, plant: Plant, devices: Sequence[Device]
    ) -> tuple[list[ControlSpec], dict[str, str]]:
        """The controls of a plant's devices, and why others are not offered (for diagnostics)."""

    async def async_read_controls(
        self, plant: Plant, specs: Sequence[ControlSpec]
    ) -> dict[tuple[str, str], Reading]:
        """Current values, keyed by (device id, control key), read back from the cloud."""

    async def async_start_control(
        self, plant: Plant, spec: ControlSpec, value: Reading
    ) -> ControlTask:
        """Send one value; raises CommandRejectedError when the cloud refuses it."""

    async def async_start_force(
        self, plant: Plant, device_id: str | None, request: ForceRequest
    ) -> ControlTask:
        """Start a forced charge or discharge."""

    async def async_stop_force(self, plant: Plant, device_id: str | None) -> ControlTask:
        """End a forced charge or discharge."""

    async def async_poll_task(self, task: ControlTask) -> ControlTask:
        """Ask the cloud how the task stands; returns it updated (state, reason, finished_at)."""

    def can_force(self, plant: Plant, devices: Sequence[Device]) -> bool:
        """Whether this plant can be force-charged or discharged at all."""

    def can_set_time_of_use(self, plant: Plant) -> bool:
        """Whether the plant's time-of-use windows can be written."""

    async def async_set_time_of_use(
        self, plant: Plant, windows: Sequence[TouWindow]
    ) -> ControlTask:
        """Switch to time of use with these charge/discharge windows (checked by the caller)."""
