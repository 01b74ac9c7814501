"""Hourly energy history of a plant, and the plan of which days to read from the cloud when.

The clouds keep hourly history; Home Assistant only records what it saw while it ran. A client
that implements :class:`HistoryClient` returns, for one local day of a plant, the energy of each
hour per :class:`Flow` (kWh, hour starts in UTC). :class:`HistoryPlanner` decides which day of
which plants to read next so that, within the history share of the account's budget:

1. the current day is read again every ``plan.refresh`` seconds;
2. a day that has ended is read once more after ``plan.settle`` (the cloud has all uploads), and
   any day since the planner started that was never read (an outage) is read, newest first;
3. the history before the start, back to ``depth`` days, is read oldest first, at most
   ``plan.deep_reads_per_day`` reads a day so that (1) and (2) always have room;
4. days of the last ``TRAILING_DAYS`` are read again once a day (late uploads, corrections).

The planner knows nothing of Home Assistant; its state is JSON (``export`` / ``restore``) so that
the work resumes after a restart where it stopped. The benchmark drives the same planner.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import IntEnum, StrEnum
from itertools import pairwise
from typing import Any, Protocol

from .models import Plant

HOUR = timedelta(hours=1)
DAY_S = 86400.0
# Ended days younger than this are read again once a day (late uploads, corrections).
TRAILING_DAYS = 3
DEFAULT_DEPTH_DAYS = 30
MAX_DEPTH_DAYS = 366


class Flow(StrEnum):
    """An energy flow of a plant that the Energy dashboard can use."""

    PV = "pv"
    GRID_IMPORT = "grid_import"
    GRID_EXPORT = "grid_export"
    BATTERY_CHARGE = "battery_charge"
    BATTERY_DISCHARGE = "battery_discharge"
    LOAD = "load"


@dataclass(slots=True)
class EnergyDay:
    """What the cloud holds of one local day of a plant.

    ``hours`` maps the start of each UTC hour (aware, top of the hour) to the kWh of each flow in
    that hour; hours the cloud has no data for are absent, and a flow the cloud has no value for
    in an hour is absent from that hour.
    """

    plant_id: str
    day: date
    zone: tzinfo
    hours: dict[datetime, dict[Flow, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """How a client's history share of the budget is best spent.

    ``refresh``: seconds between two reads of the current day (``math.inf``: an account too
    large for its share does not read the current day, nor corrections, and reads each ended
    day once, when it has settled); ``batch``: how many plants one
    read covers; ``keeps_days``: how far back the cloud keeps hourly data; ``settle``: seconds
    after a day's end until the cloud has all of it; ``deep_reads_per_day``: reads a day left for
    the history before the planner started, after the recurring reads.
    """

    refresh: float
    batch: int = 1
    keeps_days: int = MAX_DEPTH_DAYS
    settle: float = 3 * 3600.0
    deep_reads_per_day: int = 1


class HistoryClient(Protocol):
    """A vendor client that can read hourly energy history."""

    def history_plan(self, plants: Sequence[Plant]) -> HistoryPlan:
        """Size the history share of the budget for these plants and say how to spend it."""

    async def async_get_energy_days(
        self, plants: Sequence[Plant], day: date, zone: tzinfo
    ) -> dict[str, EnergyDay]:
        """Hourly energy of ``day`` (the plants' local date) for each plant, keyed by plant id.

        ``zone`` is used for a plant whose time zone the cloud does not tell. The calls go
        through the history share of the account's quota and never wait for it: when the share
        (or an allowance the live polls need) is used up, ``RateLimitedError`` says how long to
        wait. A plant the cloud returns nothing for is absent from the answer.
        """


def supports_history(client: object) -> bool:
    """Whether the client can read hourly energy history."""
    return callable(getattr(client, "async_get_energy_days", None)) and callable(
        getattr(client, "history_plan", None)
    )


# ---------------------------------------------------------------------------------------------
# Helpers the clients build hours from
# ---------------------------------------------------------------------------------------------


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of a local day, in UTC; 23 or 25 hours around DST changes."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    after = day + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(UTC)
    return start, end


def offset_or_zone(fixed: tzinfo | None, zone: tzinfo, now: datetime) -> tzinfo:
    """The zone a plant's days are counted in when the cloud gives only its current offset.

    ``fixed`` (the cloud's offset, e.g. ``+02:00``) knows no daylight saving: when ``zone``
    (Home Assistant's) has that offset at ``now``, the plant is taken to be in ``zone``, so that
    its days keep their 23 or 25 hours; otherwise ``fixed``. Without an offset: ``zone``.
    """
    if fixed is None or now.astimezone(zone).utcoffset() == now.astimezone(fixed).utcoffset():
        return zone
    return fixed


def utc_hour(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` (aware) falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def spread_buckets(
    buckets: Iterable[tuple[datetime, datetime, Mapping[Flow, float]]],
) -> dict[datetime, dict[Flow, float]]:
    """Energy of arbitrary intervals (start, end, kWh per flow) spread over UTC hours.

    An interval that covers parts of two UTC hours (a local hour in a zone at a half-hour offset,
    a 15-minute bucket) gives each its share by overlap.
    """
    hours: dict[datetime, dict[Flow, float]] = {}
    for start, end, values in buckets:
        length = (end - start).total_seconds()
        if length <= 0:
            continue
        cursor = utc_hour(start)
        while cursor < end:
            overlap = (min(end, cursor + HOUR) - max(start, cursor)).total_seconds()
            if overlap > 0:
                slot = hours.setdefault(cursor, {})
                for flow, kwh in values.items():
                    slot[flow] = slot.get(flow, 0.0) + kwh * overlap / length
            cursor += HOUR
    return {hour: {f: round(v, 6) for f, v in slot.items()} for hour, slot in hours.items()}


def energy_from_power(
    points: Sequence[tuple[datetime, float]], *, max_gap: timedelta = timedelta(minutes=20)
) -> dict[datetime, float]:
    """kWh per UTC hour from power samples (aware time, W), by the trapezoid rule.

    Two samples further apart than ``max_gap`` leave the time between them out: the cloud had no
    data there, and guessing would invent energy.
    """
    ordered = sorted(points)
    buckets: list[tuple[datetime, datetime, Mapping[Flow, float]]] = []
    for (t0, p0), (t1, p1) in pairwise(ordered):
        if t1 <= t0 or t1 - t0 > max_gap:
            continue
        kwh = max(0.0, (p0 + p1) / 2.0) * (t1 - t0).total_seconds() / 3600.0 / 1000.0
        buckets.append((t0, t1, {Flow.PV: kwh}))
    return {hour: slot.get(Flow.PV, 0.0) for hour, slot in spread_buckets(buckets).items()}


def energy_from_counter(
    samples: Sequence[tuple[datetime, float]], day_start: datetime
) -> dict[datetime, float]:
    """kWh per UTC hour from a counter of the day's energy (aware time, kWh since local midnight).

    Each step between two samples is given to the hours it spans; the counter starts at 0 at
    ``day_start``. A counter that goes down (a reset, a glitch) adds nothing for that step.
    """
    ordered = sorted(s for s in samples if s[0] >= day_start)
    buckets: list[tuple[datetime, datetime, Mapping[Flow, float]]] = []
    previous_time, previous_value = day_start, 0.0
    for moment, value in ordered:
        if moment > previous_time and value > previous_value:
            buckets.append((previous_time, moment, {Flow.PV: value - previous_value}))
        previous_time = max(previous_time, moment)
        previous_value = max(previous_value, value)
    return {hour: slot.get(Flow.PV, 0.0) for hour, slot in spread_buckets(buckets).items()}


# ---------------------------------------------------------------------------------------------
# The planner
# ---------------------------------------------------------------------------------------------


class Reason(IntEnum):
    """Why a day is read, most urgent first."""

    CURRENT = 0  # the current day, again after plan.refresh
    ENDED = 1  # a day since the start that ended or was missed (outage) and is not final yet
    DEEP = 2  # history from before the start
    CORRECTION = 3  # an ended day of the last TRAILING_DAYS, once a day


@dataclass(frozen=True, slots=True)
class HistoryJob:
    """Read ``day`` of these plants."""

    day: date
    plants: tuple[str, ...]
    reason: Reason


@dataclass(slots=True)
class _PlantState:
    start: date  # the local day the planner first saw this plant
    read: dict[str, float] = field(default_factory=dict)  # iso day -> when last read
    final: set[str] = field(default_factory=set)  # days read after they settled


class HistoryPlanner:
    """Which day of which plants to read next; see the module docstring."""

    def __init__(self, plan: HistoryPlan, depth_days: int = DEFAULT_DEPTH_DAYS) -> None:
        self.plan = plan
        self.depth_days = max(0, min(depth_days, MAX_DEPTH_DAYS))
        self._plants: dict[str, _PlantState] = {}
        self._zones: dict[str, tzinfo] = {}
        # When each read of the history before the start (DEEP) was made, for its daily pacing.
        self._deep_reads: list[float] = []
        # (plant, day) -> until when a read that failed is not tried again, so that one plant
        # or day the cloud keeps refusing does not hold up the others.
        self._blocked: dict[tuple[str, str], float] = {}
        self._failures: dict[tuple[str, str], int] = {}

    # -- plants ------------------------------------------------------------------------------

    def set_plants(self, zones: Mapping[str, tzinfo], now: float) -> None:
        """The plants to keep, each with the zone its days are counted in."""
        self._zones = dict(zones)
        for plant_id, zone in zones.items():
            if plant_id not in self._plants:
                self._plants[plant_id] = _PlantState(start=self._today(zone, now))
        for plant_id in list(self._plants):
            if plant_id not in zones:
                del self._plants[plant_id]

    @staticmethod
    def _today(zone: tzinfo, now: float) -> date:
        return datetime.fromtimestamp(now, zone).date()

    def _day_end(self, plant_id: str, day: date) -> float:
        return day_bounds(day, self._zones[plant_id])[1].timestamp()

    # -- what is due ---------------------------------------------------------------------------

    def _deep_room(self, now: float) -> bool:
        self._deep_reads = [t for t in self._deep_reads if now - t < DAY_S]
        return len(self._deep_reads) < max(1, self.plan.deep_reads_per_day)

    def _window(self, plant_id: str, now: float) -> list[date]:
        """Days that may be read, oldest first (never more than the cloud keeps)."""
        today = self._today(self._zones[plant_id], now)
        length = min(max(self.depth_days, TRAILING_DAYS + 2), max(self.plan.keeps_days, 1))
        first = today - timedelta(days=length - 1)
        return [first + timedelta(days=i) for i in range(length)]

    def _reason(self, plant_id: str, day: date, now: float) -> tuple[Reason, float] | None:
        """Why (and since when) ``day`` of the plant is due, or None."""
        state = self._plants[plant_id]
        zone = self._zones[plant_id]
        key = day.isoformat()
        if self._blocked.get((plant_id, key), 0.0) > now:
            return None
        read = state.read.get(key)
        today = self._today(zone, now)
        # An account too large for its share reads each day once, when it has settled.
        settled_only = math.isinf(self.plan.refresh)
        if day >= today:
            if not settled_only and (read is None or now - read >= self.plan.refresh):
                return Reason.CURRENT, read or 0.0
            return None
        if key in state.final:
            if (
                not settled_only
                and (today - day).days <= TRAILING_DAYS
                and read is not None
                and now - read >= DAY_S
            ):
                return Reason.CORRECTION, read
            return None
        end = self._day_end(plant_id, day)
        settled = end + self.plan.settle
        if read is None:
            if day >= state.start:
                if settled_only and now < settled:
                    return None
                return Reason.ENDED, 0.0
            if (today - day).days < self.depth_days:
                return Reason.DEEP, 0.0
            return None
        # Once right after the day ended (its last hours), once more when it has settled.
        if (not settled_only and read < end <= now) or read < settled <= now:
            return Reason.ENDED, read
        return None

    def due(self, now: float) -> list[tuple[Reason, date, str]]:
        """Every (reason, day, plant) due now, most urgent first."""
        out: list[tuple[Reason, float, date, str]] = []
        for plant_id in sorted(self._plants):
            for day in self._window(plant_id, now):
                found = self._reason(plant_id, day, now)
                if found is not None:
                    out.append((found[0], found[1], day, plant_id))

        def order(item: tuple[Reason, float, date, str]) -> tuple[int, float, int]:
            reason, since, day, _ = item
            # Outage days newest first (the most recent hours matter most); history before the
            # start oldest first (each older day added shifts the sums of every later hour).
            sign = -1 if reason in (Reason.ENDED, Reason.CORRECTION) else 1
            return (int(reason), since if reason is Reason.CURRENT else 0.0, sign * day.toordinal())

        out.sort(key=order)
        return [(reason, day, plant) for reason, _, day, plant in out]

    def next_job(self, now: float) -> HistoryJob | None:
        """The next read to make now, or None when nothing is due."""
        due = self.due(now)
        if not due:
            return None
        deep_room = self._deep_room(now)
        chosen = next(
            (item for item in due if item[0] is not Reason.DEEP or deep_room),
            None,
        )
        if chosen is None:
            return None
        reason, day, plant_id = chosen
        plants = [plant_id]
        for other_reason, other_day, other in due:
            if len(plants) >= max(1, self.plan.batch):
                break
            if other != plant_id and other_day == day and other not in plants:
                if other_reason is Reason.DEEP and not deep_room:
                    continue
                plants.append(other)
        return HistoryJob(day=day, plants=tuple(plants), reason=reason)

    def next_due_in(self, now: float) -> float:
        """Seconds until something is due (0 when a job waits now), at most one hour."""
        if self.next_job(now) is not None:
            return 0.0
        wait = 3600.0
        for plant_id, state in self._plants.items():
            zone = self._zones[plant_id]
            today = self._today(zone, now)
            read = state.read.get(today.isoformat())
            if read is not None:
                wait = min(wait, read + self.plan.refresh - now)
            for day in self._window(plant_id, now):
                if day < today and day.isoformat() not in state.final:
                    settled = self._day_end(plant_id, day) + self.plan.settle
                    if settled > now:
                        wait = min(wait, settled - now)
            wait = min(wait, self._day_end(plant_id, today) - now)
        if self._deep_reads and any(reason is Reason.DEEP for reason, _, _ in self.due(now)):
            wait = min(wait, self._deep_reads[0] + DAY_S - now)
        for until in self._blocked.values():
            if until > now:
                wait = min(wait, until - now)
        return max(1.0, wait)

    # -- outcomes ------------------------------------------------------------------------------

    def record(self, job: HistoryJob, now: float) -> None:
        """The job's read came back at ``now``.

        A plant the cloud returned nothing for counts as read too, so that it is not asked for
        again and again; its day is read again as any other (refresh, correction).
        """
        key = job.day.isoformat()
        if job.reason is Reason.DEEP:
            self._deep_reads.append(now)
        for plant_id in job.plants:
            self._failures.pop((plant_id, key), None)
            self._blocked.pop((plant_id, key), None)
            state = self._plants.get(plant_id)
            if state is None:
                continue
            state.read[key] = now
            if now >= self._day_end(plant_id, job.day) + self.plan.settle:
                state.final.add(key)
            self._prune(plant_id, now)

    def failed(self, job: HistoryJob, now: float, retry: float, longest: float) -> float:
        """The job's read failed: its plants and day wait, the others do not.

        The wait is ``retry`` seconds, doubling with each failure of the same plant and day up to
        ``longest``; it is returned.
        """
        key = job.day.isoformat()
        wait = retry
        for plant_id in job.plants:
            count = self._failures.get((plant_id, key), 0) + 1
            self._failures[plant_id, key] = count
            wait = max(wait, min(longest, retry * 2 ** (count - 1)))
        for plant_id in job.plants:
            self._blocked[plant_id, key] = now + wait
        self._blocked = {k: v for k, v in self._blocked.items() if v > now}
        return wait

    def _prune(self, plant_id: str, now: float) -> None:
        state = self._plants[plant_id]
        keep = {d.isoformat() for d in self._window(plant_id, now)}
        state.read = {k: v for k, v in state.read.items() if k in keep}
        state.final &= keep

    # -- progress and persistence --------------------------------------------------------------

    def progress(self, now: float) -> dict[str, dict[str, Any]]:
        """For each plant: days in the window, days read, days final, oldest day read."""
        out: dict[str, dict[str, Any]] = {}
        for plant_id, state in sorted(self._plants.items()):
            window = self._window(plant_id, now)
            read = [d for d in window if d.isoformat() in state.read]
            out[plant_id] = {
                "days": len(window),
                "read": len(read),
                "final": sum(1 for d in window if d.isoformat() in state.final),
                "oldest_read": read[0].isoformat() if read else None,
                "started": state.start.isoformat(),
            }
        return out

    def export(self) -> dict[str, Any]:
        """JSON-ready state, so that a restart goes on where it stopped."""
        return {
            "plants": {
                pid: {
                    "start": s.start.isoformat(),
                    "read": dict(s.read),
                    "final": sorted(s.final),
                }
                for pid, s in self._plants.items()
            },
            "deep_reads": list(self._deep_reads),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back what ``export`` returned; anything unreadable is left out."""
        plants = data.get("plants")
        if isinstance(plants, Mapping):
            for plant_id, saved in plants.items():
                if not isinstance(saved, Mapping):
                    continue
                try:
                    start = date.fromisoformat(str(saved.get("start")))
                except ValueError:
                    continue
                read = saved.get("read")
                final = saved.get("final")
                self._plants[str(plant_id)] = _PlantState(
                    start=start,
                    read={
                        str(k): float(v)
                        for k, v in (read.items() if isinstance(read, Mapping) else ())
                        if isinstance(v, int | float) and math.isfinite(v)
                    },
                    final={str(k) for k in final} if isinstance(final, list) else set(),
                )
        deep = data.get("deep_reads")
        if isinstance(deep, list):
            self._deep_reads = sorted(float(t) for t in deep if isinstance(t, int | float))
