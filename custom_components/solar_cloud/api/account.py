"""One cloud account: inventory, poll rhythm and request coalescing for all its plants.

Each plant has its own coordinator in Home Assistant, but the clouds count calls per account and
answer many plants per call. Plant coordinators therefore ask the account, and the account runs
one batched round for every plant at a time: the first plant that finds the shared data older
than half a poll period starts a round; the others join the round in flight or take its result.
The same object drives the benchmark without Home Assistant.

Besides real-time data a round refreshes, when due: the alarm list (every ``plan.alarms``), the
device list (every ``plan.devices``) and the plant list (every ``plan.plants``). A failure of one
of those keeps the previous answer and does not fail the round; only the real-time request decides
whether the round succeeded.

What must outlive one set-up of the account (the call budget, the login session, the inventory
and the latest answers) lives in an ``AccountMemory`` that the caller keeps per account, so that
reloading an entry neither logs in again nor spends calls the cloud would refuse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .errors import AuthError, PermissionDeniedError, RateLimitedError, SolarCloudError
from .models import (
    Alarm,
    AlarmSeverity,
    Device,
    DeviceKind,
    DeviceReadings,
    Plant,
    PlantData,
    PollPlan,
    RealtimeData,
    VendorClient,
)
from .quota import Clock, Quota, Session, wall_clock

_LOGGER = logging.getLogger(__name__)

# Data older than this many poll periods is no longer shown as current.
STALE_PERIODS = 3


@dataclass(slots=True)
class InventoryChange:
    """What a plant or device list refresh changed."""

    added_plants: list[Plant] = field(default_factory=list)
    removed_plants: list[Plant] = field(default_factory=list)
    added_devices: list[Device] = field(default_factory=list)
    removed_devices: list[Device] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.added_plants or self.removed_plants or self.added_devices or self.removed_devices
        )


@dataclass(slots=True)
class AccountMemory:
    """State of one account that outlives a set-up: keep one per account across reloads."""

    quota: Quota = field(default_factory=Quota)
    session: Session = field(default_factory=Session)
    # Every plant of the account as last listed, and when to list them again.
    plants: dict[str, Plant] | None = None
    plants_due: float = 0.0
    # Devices of the plants in ``devices_for``.
    devices: dict[str, Device] | None = None
    devices_for: frozenset[str] = frozenset()
    devices_due: float = 0.0
    realtime: dict[str, RealtimeData] = field(default_factory=dict)
    realtime_at: float | None = None
    alarms: dict[str, list[Alarm]] | None = None
    alarms_due: float = 0.0
    # Forced charges the caller must end itself, per plant (JSON values: when or at which SOC).
    forces: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Which days of history have been read into statistics (the history planner's state).
    history: dict[str, Any] = field(default_factory=dict)

    def export(self) -> dict[str, Any]:
        """A JSON-ready copy, so that a restart neither logs in nor calls again too early.

        It holds the session token: store it where the credentials are stored, never log it.
        """
        return {
            "quota": self.quota.export(),
            "session": {
                "token": self.session.token,
                "expires": self.session.expires,
                "account": self.session.account,
                "secret": self.session.secret,
            },
            "plants": None
            if self.plants is None
            else [_encode(asdict(p)) for p in self.plants.values()],
            "plants_due": self.plants_due,
            "devices": None
            if self.devices is None
            else [_encode(asdict(d)) for d in self.devices.values()],
            "devices_for": sorted(self.devices_for),
            "devices_due": self.devices_due,
            "realtime": {pid: _encode(asdict(r)) for pid, r in self.realtime.items()},
            "realtime_at": self.realtime_at,
            "alarms": None
            if self.alarms is None
            else {pid: [_encode(asdict(a)) for a in alarms] for pid, alarms in self.alarms.items()},
            "alarms_due": self.alarms_due,
            "forces": {pid: dict(force) for pid, force in self.forces.items()},
            "history": dict(self.history),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back what ``export`` returned; anything unreadable is left out."""
        try:
            self.quota.restore(data.get("quota") or {})
            session = data.get("session") or {}
            if isinstance(session.get("token"), str):
                self.session.token = session["token"]
                self.session.expires = float(session.get("expires") or 0.0)
                self.session.account = session.get("account")
                self.session.secret = session.get("secret")
            if data.get("plants") is not None:
                plants = [_plant(_decode(item)) for item in data["plants"]]
                self.plants = {p.id: p for p in plants}
                self.plants_due = float(data.get("plants_due") or 0.0)
            if data.get("devices") is not None:
                devices = [_device(_decode(item)) for item in data["devices"]]
                self.devices = {d.id: d for d in devices}
                self.devices_for = frozenset(data.get("devices_for") or ())
                self.devices_due = float(data.get("devices_due") or 0.0)
            self.realtime = {
                pid: _realtime(_decode(item)) for pid, item in (data.get("realtime") or {}).items()
            }
            realtime_at = data.get("realtime_at")
            self.realtime_at = float(realtime_at) if realtime_at is not None else None
            forces = data.get("forces")
            if isinstance(forces, Mapping):
                self.forces = {
                    str(pid): dict(force)
                    for pid, force in forces.items()
                    if isinstance(force, Mapping)
                }
            history = data.get("history")
            if isinstance(history, Mapping):
                self.history = dict(history)
            if data.get("alarms") is not None:
                self.alarms = {
                    pid: [_alarm(_decode(a)) for a in alarms]
                    for pid, alarms in data["alarms"].items()
                }
                self.alarms_due = float(data.get("alarms_due") or 0.0)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            _LOGGER.debug("Ignoring the saved state of an account: %s", err)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return datetime.fromisoformat(value["$dt"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _plant(data: dict[str, Any]) -> Plant:
    return Plant(**data)


def _device(data: dict[str, Any]) -> Device:
    return Device(**{**data, "kind": DeviceKind(data["kind"])})


def _alarm(data: dict[str, Any]) -> Alarm:
    severity = data.get("severity")
    return Alarm(**{**data, "severity": AlarmSeverity(severity) if severity else None})


def _realtime(data: dict[str, Any]) -> RealtimeData:
    return RealtimeData(
        plant=dict(data["plant"]),
        devices={k: DeviceReadings(**v) for k, v in data["devices"].items()},
        online=data.get("online"),
        data_time=data.get("data_time"),
    )


type InventoryListener = Callable[[InventoryChange], None]


class CloudAccount:
    """Inventory and batched polling of one account."""

    def __init__(
        self,
        client: VendorClient,
        *,
        memory: AccountMemory | None = None,
        selected: Iterable[str] | None = None,
        excluded: Iterable[str] | None = None,
        clock: Clock = wall_clock,
    ) -> None:
        self.client = client
        self.memory = memory or AccountMemory()
        self._clock = clock
        # Which plants to poll: with ``excluded`` every plant but those (so plants that appear
        # later are picked up); else with ``selected`` just those; else every plant.
        self.selected: set[str] | None = None if selected is None else set(selected)
        self.excluded: set[str] | None = None if excluded is None else set(excluded)
        self.plants: dict[str, Plant] = {}
        self.devices: dict[str, Device] = {}
        self._by_plant: dict[str, dict[str, Device]] = {}
        self.plan: PollPlan | None = None
        self.data: dict[str, PlantData] = {}
        self.last_round: float | None = None
        self.rate_limited = False
        self.permission_errors: dict[str, PermissionDeniedError] = {}
        self.rounds = 0
        self._round: asyncio.Task[None] | None = None
        self._listeners: list[InventoryListener] = []

    def now(self) -> float:
        """The account's clock."""
        return self._clock()

    @property
    def all_plants(self) -> dict[str, Plant]:
        """Every plant the account can see, selected or not."""
        return self.memory.plants or {}

    # -- inventory ----------------------------------------------------------------------------

    def _wanted(self, plant_id: str) -> bool:
        if self.excluded is not None:
            return plant_id not in self.excluded
        return self.selected is None or plant_id in self.selected

    def _apply(self) -> InventoryChange:
        """Recompute the selected plants and their devices from memory; return what changed."""
        memory = self.memory
        plants = {pid: p for pid, p in (memory.plants or {}).items() if self._wanted(pid)}
        devices = {did: d for did, d in (memory.devices or {}).items() if d.plant_id in plants}
        change = InventoryChange(
            added_plants=[p for pid, p in plants.items() if pid not in self.plants],
            removed_plants=[p for pid, p in self.plants.items() if pid not in plants],
            added_devices=[d for did, d in devices.items() if did not in self.devices],
            removed_devices=[d for did, d in self.devices.items() if did not in devices],
        )
        self.plants, self.devices = plants, devices
        self._by_plant = {pid: {} for pid in plants}
        for device in devices.values():
            self._by_plant[device.plant_id][device.id] = device
        for plant in change.removed_plants:
            self.data.pop(plant.id, None)
        self.plan = self.client.plan(list(plants.values()), list(devices.values()))
        return change

    def _devices_stale(self, now: float) -> bool:
        memory = self.memory
        return (
            memory.devices is None
            or now >= memory.devices_due
            or not set(self.plants) <= memory.devices_for
        )

    async def async_setup(self) -> None:
        """Read plants and devices, from memory when it is recent enough."""
        now = self._clock()
        memory = self.memory
        if memory.plants is None:
            await self.client.async_login()
            await self._fetch_plants(now)
        elif now >= memory.plants_due:
            # A list from before is good enough when the cloud cannot give a new one now.
            await self._optional("plant list", self._fetch_plants(now))
        self._apply()
        if memory.devices is None or not set(self.plants) <= memory.devices_for:
            await self._fetch_devices(now)
        elif now >= memory.devices_due:
            await self._optional("device list", self._fetch_devices(now))
        self._apply()

    def add_listener(self, listener: InventoryListener) -> Callable[[], None]:
        """Call ``listener`` when plants or devices appear or vanish; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def _fetch_plants(self, now: float) -> None:
        memory = self.memory
        memory.plants = {p.id: p for p in await self.client.async_get_plants()}
        plants = [p for p in memory.plants.values() if self._wanted(p.id)]
        plan = self.client.plan(plants, list((memory.devices or {}).values()))
        memory.plants_due = now + plan.plants

    async def _fetch_devices(self, now: float) -> None:
        memory = self.memory
        plants = [p for p in (memory.plants or {}).values() if self._wanted(p.id)]
        found = await self.client.async_get_devices(plants)
        ids = {p.id for p in plants}
        memory.devices = {d.id: d for d in found if d.plant_id in ids}
        memory.devices_for = frozenset(ids)
        plan = self.client.plan(plants, list(memory.devices.values()))
        memory.devices_due = now + plan.devices

    def devices_of(self, plant_id: str) -> dict[str, Device]:
        """The devices of one plant."""
        return self._by_plant.get(plant_id, {})

    # -- polling ------------------------------------------------------------------------------

    @property
    def period(self) -> float:
        """Seconds between rounds."""
        return self.plan.realtime if self.plan else 300.0

    async def async_get_plant_data(self, plant_id: str) -> PlantData | None:
        """Latest data of one plant, running a batched round when the shared data is stale.

        Returns None when the plant is no longer part of the account.
        """
        if (
            self.last_round is not None
            and self._clock() - self.last_round < self.period * 0.5
            and plant_id in self.data
        ):
            return self.data[plant_id]
        await self.async_refresh()
        return self.data.get(plant_id)

    async def async_refresh(self) -> None:
        """Run one round for every plant, or join the round in flight."""
        if self._round is None or self._round.done():
            self._round = asyncio.ensure_future(self._run_round())
        await asyncio.shield(self._round)

    async def _run_round(self) -> None:
        now = self._clock()
        memory = self.memory
        if now >= memory.plants_due:
            await self._optional("plant list", self._fetch_plants(now))
        change = self._apply()
        if self._devices_stale(now):
            await self._optional("device list", self._fetch_devices(now))
            device_change = self._apply()
            change.added_devices += device_change.added_devices
            change.removed_devices += [
                d for d in device_change.removed_devices if d not in change.removed_devices
            ]
        plants = list(self.plants.values())
        realtime = await self._realtime(now)
        if now >= memory.alarms_due and await self._optional(
            "alarm list", self._fetch_alarms(plants)
        ):
            memory.alarms_due = now + (self.plan.alarms if self.plan else 1800.0)
        fetched = memory.realtime_at if memory.realtime_at is not None else now
        self.data = {
            pid: self._plant_data(plant, realtime.get(pid, RealtimeData()), fetched)
            for pid, plant in self.plants.items()
        }
        self.last_round = self._clock()
        self.rounds += 1
        if change:
            for listener in list(self._listeners):
                listener(change)

    async def _realtime(self, now: float) -> dict[str, RealtimeData]:
        """This round's real-time data; while rate limited, the last answer if still recent."""
        memory = self.memory
        last = memory.realtime_at
        try:
            realtime = await self.client.async_get_realtime(
                list(self.plants.values()), list(self.devices.values())
            )
        except RateLimitedError:
            if (
                last is None
                or now - last >= STALE_PERIODS * self.period
                or not set(self.plants) <= set(memory.realtime)
            ):
                raise
            _LOGGER.debug("Rate limited; showing the answer of %.0f s ago", now - last)
            self.rate_limited = True
            return memory.realtime
        self.rate_limited = False
        memory.realtime = realtime
        memory.realtime_at = self._clock()
        return realtime

    async def _fetch_alarms(self, plants: list[Plant]) -> bool:
        self.memory.alarms = await self.client.async_get_alarms(plants)
        return True

    async def _optional(self, what: str, call: Awaitable[object]) -> bool:
        """Await a secondary request; on failure keep the previous state (returns False).

        Only a credential failure ends the round: it needs the user, not a retry.
        """
        try:
            await call
        except AuthError:
            raise
        except PermissionDeniedError as err:
            self.permission_errors[what] = err
            _LOGGER.warning("The account may not read the %s (%s)", what, err.code)
            return False
        except SolarCloudError as err:
            _LOGGER.debug("%s failed or postponed, keeping the previous one: %s", what, err)
            return False
        self.permission_errors.pop(what, None)
        return True

    def _plant_data(self, plant: Plant, realtime: RealtimeData, fetched: float) -> PlantData:
        alarms = self.memory.alarms
        plant_alarms = None if alarms is None else alarms.get(plant.id, [])
        readings = dict(realtime.plant)
        if plant_alarms is not None:
            readings["alarm_count"] = len(plant_alarms)
        if realtime.data_time is not None:
            readings["last_data_time"] = realtime.data_time
        return PlantData(
            plant=plant,
            devices=self.devices_of(plant.id),
            readings=readings,
            device_readings=realtime.devices,
            alarms=plant_alarms,
            online=realtime.online,
            data_time=realtime.data_time,
            fetched_at=fetched,
        )

    def diagnostics(self) -> dict[str, object]:
        """Non-secret account state."""
        plan = self.plan
        now = self._clock()
        memory = self.memory
        return {
            "plants": len(self.plants),
            "plants_in_cloud": len(self.all_plants),
            "devices": len(self.devices),
            "rounds": self.rounds,
            "rate_limited": self.rate_limited,
            "data_age_s": None if memory.realtime_at is None else round(now - memory.realtime_at),
            "plan_s": None
            if plan is None
            else {
                "realtime": plan.realtime,
                "alarms": plan.alarms,
                "devices": plan.devices,
                "plants": plan.plants,
            },
            "next_s": {
                "plants": round(memory.plants_due - now),
                "devices": round(memory.devices_due - now),
                "alarms": round(memory.alarms_due - now),
            },
            "permission_errors": {k: v.code for k, v in self.permission_errors.items()},
            "client": self.client.diagnostics(),
        }
