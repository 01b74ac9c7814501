"""Long-term statistics of each plant's energy flows, filled from the cloud's hourly history.

Home Assistant compiles statistics only from what it saw while it ran. The clouds keep hourly
history, so each plant gets external statistics ``solar_cloud:<plant>_<flow>`` (kWh per hour with
a running sum) that this module imports from the cloud: the current day every few hours, the days
an outage missed, the history before the set-up (``history_days`` deep), and corrections of the
last days. :class:`~.api.history.HistoryPlanner` decides what to read; this module reads it in a
background task that uses only the history share of the account's budget, and writes it to the
recorder so that the same hour imported twice changes nothing and the sums stay continuous.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    statistics_during_period,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util, slugify
from homeassistant.util.unit_conversion import EnergyConverter

from .api.errors import AuthError, PermissionDeniedError, RateLimitedError, SolarCloudError
from .api.history import (
    HOUR,
    MAX_DEPTH_DAYS,
    EnergyDay,
    Flow,
    HistoryClient,
    HistoryJob,
    HistoryPlanner,
    day_bounds,
    offset_or_zone,
)
from .api.models import Plant
from .api.values import parse_offset
from .const import DOMAIN
from .memory import schedule_save

if TYPE_CHECKING:
    from .coordinator import SolarCloudConfigEntry

_LOGGER = logging.getLogger(__name__)

# Seconds after the set-up before the first read, and reads one round makes at most.
START_DELAY = 30.0
MAX_READS_PER_ROUND = 24
# Waits after a failed read: doubling from the first to the last.
RETRY_FIRST = 300.0
RETRY_LAST = 3600.0
# After the cloud refused access to history: ask again after this long at the most.
PERMISSION_RETRY = 6 * 3600.0
# The longest a plant's day that keeps failing waits before it is tried again.
JOB_RETRY_LONGEST = 6 * 3600.0
# Never wait less than this after a rate-limit answer.
RATE_LIMIT_MIN_WAIT = 60.0
# How far back to look for the last hour before an imported day, step by step.
LOOKBACK = (timedelta(days=2), timedelta(days=40), timedelta(days=400), timedelta(days=4000))
SUM_TOLERANCE = 1e-6
# Seconds to wait for the recorder to commit what was written, before giving up the round.
COMMIT_TIMEOUT = 300.0
# hass.data key: statistic id -> the entry that imports it.
CLAIMS = f"{DOMAIN}_statistic_claims"
# Key of the shared edge hours in the saved history state.
SHARES = "edge_hours"

FLOW_NAMES: dict[Flow, str] = {
    Flow.PV: "solar production",
    Flow.GRID_IMPORT: "grid import",
    Flow.GRID_EXPORT: "grid export",
    Flow.BATTERY_CHARGE: "battery charge",
    Flow.BATTERY_DISCHARGE: "battery discharge",
    Flow.LOAD: "consumption",
}


def statistic_id(plant_id: str, flow: Flow) -> str:
    """``solar_cloud:<plant>_<flow>``, the plant id made fit for a statistic id.

    A plant id with no letter or digit at all gets a digest of itself instead.
    """
    slug = slugify(plant_id, separator="_") or hashlib.sha256(plant_id.encode()).hexdigest()[:12]
    return f"{DOMAIN}:{slug}_{flow.value}"


def plant_zone(plant: Plant, fallback: tzinfo, now: datetime | None = None) -> tzinfo:
    """The plant's time zone from what the cloud said (a zone name or an offset), else ``fallback``.

    A cloud that gives only today's offset (``+01:00``) gets Home Assistant's zone when that zone
    has the same offset now, so that days keep their 23 or 25 hours across a DST change.
    """
    label = (plant.time_zone or "").strip()
    if "/" in label:
        try:
            return ZoneInfo(label)
        except (ZoneInfoNotFoundError, ValueError):
            return fallback
    return offset_or_zone(parse_offset(label), fallback, now or dt_util.utcnow())


@dataclass(slots=True)
class _Row:
    state: float
    sum: float


class HistoryBackfill:
    """Reads an account's hourly history in the background and imports it as statistics."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SolarCloudConfigEntry,
        client: HistoryClient,
        depth_days: int,
        saved: dict[str, Any],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.client = client
        self.account = entry.runtime_data.account
        self._saved = saved  # the account memory's history state, kept across restarts
        # Statistic -> UTC hour -> local day -> kWh, for hours two local days share.
        shares = saved.get(SHARES)
        self._shares: dict[str, dict[str, dict[str, float]]] = (
            shares if isinstance(shares, dict) else {}
        )
        self._warned: set[str] = set()
        self.planner = HistoryPlanner(client.history_plan(self._plants()), depth_days)
        self.planner.restore(saved)
        self._cancel_timer: Callable[[], None] | None = None
        self._stopped = False
        self._failures = 0
        self._problem: str | None = None
        self.imported_hours = 0
        self.reads = 0
        self.last_error: str | None = None
        self.next_read: float | None = None

    # -- life cycle --------------------------------------------------------------------------

    @callback
    def async_start(self) -> None:
        """Start reading shortly after the set-up (the live sensors come first)."""
        self._schedule(START_DELAY)

    @callback
    def async_stop(self) -> None:
        """Read no more (the entry is unloading); give up the statistic ids."""
        self._stopped = True
        claims: dict[str, str] = self.hass.data.get(CLAIMS, {})
        for stat_id in [s for s, owner in claims.items() if owner == self.entry.entry_id]:
            del claims[stat_id]
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None

    def _plants(self) -> list[Plant]:
        """The account's plants whose statistic ids no other entry writes."""
        claims: dict[str, str] = self.hass.data.setdefault(CLAIMS, {})
        plants = []
        for plant in self.account.plants.values():
            owner = claims.setdefault(statistic_id(plant.id, Flow.PV), self.entry.entry_id)
            if owner == self.entry.entry_id:
                plants.append(plant)
            elif plant.id not in self._warned:
                # Two accounts with the same plant id (two vendors, or the owner's and the
                # installer's account of one plant) would overwrite each other's statistics.
                self._warned.add(plant.id)
                _LOGGER.warning(
                    "The energy history of plant %s of %s is not imported: another Solar Cloud "
                    "entry already imports a plant with the same id",
                    plant.id,
                    self.entry.title,
                )
        return plants

    @staticmethod
    def _zones(plants: list[Plant]) -> dict[str, tzinfo]:
        fallback = dt_util.get_default_time_zone()
        return {p.id: plant_zone(p, fallback) for p in plants}

    @callback
    def _schedule(self, seconds: float) -> None:
        """Run the next round after ``seconds`` on Home Assistant's clock."""
        if self._stopped:  # the entry unloaded while a round ran
            return
        seconds = max(1.0, seconds)
        self.next_read = dt_util.utcnow().timestamp() + seconds

        @callback
        def _due(_now: datetime) -> None:
            self._cancel_timer = None
            self.entry.async_create_background_task(
                self.hass, self._async_round(), f"{DOMAIN} history {self.entry.title}"
            )

        self._cancel_timer = async_call_later(self.hass, seconds, _due)

    async def _async_round(self) -> None:
        """Make every read that is due now, then sleep until the next one is."""
        wait = 0.0
        try:
            # During a schema migration the database is not ready yet; a failed one never is.
            if not await get_instance(self.hass).async_db_ready:
                _LOGGER.warning("The recorder has no database: no energy history is imported")
                return
            for _ in range(MAX_READS_PER_ROUND):
                if self._stopped:
                    return
                now = dt_util.utcnow().timestamp()
                plants = self._plants()
                self.planner.set_plants(self._zones(plants), now)
                self.planner.plan = self.client.history_plan(plants)
                job = self.planner.next_job(now)
                if job is None:
                    wait = self.planner.next_due_in(now)
                    break
                wait = await self._async_read(job, now)
                if wait:
                    break
            else:
                wait = 1.0
        except Exception as err:
            # A background loop must outlive a broken database (or any other surprise): log it
            # with its traceback and try again later instead of ending the import for good.
            self.last_error = f"{type(err).__name__}: {err}"
            _LOGGER.exception("Importing the energy history of %s failed", self.entry.title)
            wait = RETRY_LAST
        self._schedule(wait)

    # -- one read ----------------------------------------------------------------------------

    async def _async_read(self, job: HistoryJob, now: float) -> float:
        """Read and import one job; the seconds to wait before the next, or 0."""
        plants = [self.account.plants[p] for p in job.plants if p in self.account.plants]
        try:
            days = await self.client.async_get_energy_days(
                plants, job.day, dt_util.get_default_time_zone()
            )
        except RateLimitedError as err:
            # The history share (or the vendor) has no room now: wait, the live polls go on.
            _LOGGER.debug("History of %s waits %.0f s: %s", job.day, err.retry_after or 0, err)
            return max(RATE_LIMIT_MIN_WAIT, err.retry_after or 0.0)
        except AuthError as err:
            # The live polls start the reauthentication; history waits for the reload after it.
            self._note_failure("auth", err)
            self.planner.failed(job, now, RETRY_LAST, RETRY_LAST)
            return RETRY_LAST
        except PermissionDeniedError as err:
            # Perhaps only this plant: the others go on, this one is asked again rarely.
            self._note_failure("permission", err)
            self.planner.failed(job, now, 2 * RETRY_FIRST, PERMISSION_RETRY)
            return self._backoff(PERMISSION_RETRY)
        except SolarCloudError as err:
            self._note_failure("error", err)
            self.planner.failed(job, now, 2 * RETRY_FIRST, JOB_RETRY_LONGEST)
            return self._backoff(RETRY_LAST)
        if self._problem is not None:
            _LOGGER.info("Reading energy history of %s works again", self.entry.title)
        self._problem = None
        self._failures = 0
        self.last_error = None
        self.reads += 1
        await self._async_import(days, dt_util.utcnow())
        self.planner.record(job, dt_util.utcnow().timestamp())
        self._saved.clear()
        self._saved.update(self.planner.export())
        self._saved[SHARES] = self._shares
        schedule_save(self.hass)
        return 0.0

    def _backoff(self, longest: float) -> float:
        """The wait before the next round after consecutive failed reads: doubling."""
        return min(longest, RETRY_FIRST * 2.0 ** (self._failures - 1))

    def _note_failure(self, kind: str, err: SolarCloudError) -> None:
        self._failures += 1
        self.last_error = f"{type(err).__name__}: {err}"
        if self._problem is None:
            _LOGGER.warning(
                "Reading energy history of %s failed (%s); the statistics are filled in later",
                self.entry.title,
                err,
            )
        self._problem = kind

    # -- writing statistics -------------------------------------------------------------------

    async def _async_import(self, days: Mapping[str, EnergyDay], now: datetime) -> None:
        for plant_id, energy in days.items():
            plant = self.account.plants.get(plant_id)
            if plant is None:
                continue
            # Only hours that have ended: the cloud's current hour is still growing.
            hours = {h: v for h, v in energy.hours.items() if h + HOUR <= now}
            start, end = day_bounds(energy.day, energy.zone)
            for flow in Flow:
                values = {h: v[flow] for h, v in hours.items() if flow in v}
                for hour in [h for h in values if h < start or h + HOUR > end]:
                    values[hour] = self._edge_hour(plant.id, flow, hour, energy.day, values[hour])
                if values:
                    await self._async_write(plant, flow, values)
        self._prune_shares(now)

    def _edge_hour(self, plant_id: str, flow: Flow, hour: datetime, day: date, kwh: float) -> float:
        """The energy of a UTC hour that two local days share (a zone at a half-hour offset):
        this day's part is kept beside the other day's, and the hour holds their sum."""
        shares = self._shares.setdefault(statistic_id(plant_id, flow), {})
        parts = shares.setdefault(hour.isoformat(), {})
        parts[day.isoformat()] = kwh
        return sum(parts.values())

    def _prune_shares(self, now: datetime) -> None:
        horizon = (now - timedelta(days=MAX_DEPTH_DAYS + 2)).isoformat()
        for stat_id in list(self._shares):
            hours = {h: p for h, p in self._shares[stat_id].items() if h >= horizon}
            if hours:
                self._shares[stat_id] = hours
            else:
                del self._shares[stat_id]

    async def _async_write(self, plant: Plant, flow: Flow, values: dict[datetime, float]) -> None:
        """Merge the hours into the statistic, recompute the sums from the first hour on."""
        stat_id = statistic_id(plant.id, flow)
        instance = get_instance(self.hass)
        first = min(values)
        existing, baseline = await self._async_existing(stat_id, first)
        merged = {start: row.state for start, row in existing.items()}
        for start, kwh in values.items():
            merged[start] = round(max(0.0, kwh), 6)
        rows: list[StatisticData] = []
        total = baseline
        for start in sorted(merged):
            total = round(total + merged[start], 6)
            old = existing.get(start)
            if (
                old is None
                or abs(old.state - merged[start]) > SUM_TOLERANCE
                or abs(old.sum - total) > SUM_TOLERANCE
            ):
                rows.append(StatisticData(start=start, state=merged[start], sum=total))
        if not rows:
            return
        metadata = StatisticMetaData(
            mean_type=StatisticMeanType.NONE,
            has_sum=True,
            name=f"{plant.name} {FLOW_NAMES[flow]}",
            source=DOMAIN,
            statistic_id=stat_id,
            unit_class=EnergyConverter.UNIT_CLASS,
            unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        )
        async_add_external_statistics(self.hass, metadata, rows)
        self.imported_hours += len(rows)
        # The next read of this statistic must see these rows: wait for the recorder's commit
        # (as the history and logbook APIs do before they read).
        if (commit := instance.async_get_commit_future()) is not None:
            async with asyncio.timeout(COMMIT_TIMEOUT):
                await commit

    async def _async_existing(
        self, stat_id: str, first: datetime
    ) -> tuple[dict[datetime, _Row], float]:
        """Rows from ``first`` on, and the sum of the last row before it (0 when none)."""
        found = await self._async_rows(stat_id, first - LOOKBACK[0], None)
        after = {
            _start(r): _Row(float(r.get("state") or 0.0), float(r.get("sum") or 0.0))
            for r in found
            if _start(r) >= first
        }
        before = [r for r in found if _start(r) < first]
        for back in LOOKBACK[1:]:
            if before:
                break
            # A gap of more than the last look-back before the first hour: look further.
            before = await self._async_rows(stat_id, first - back, first)
        return after, float(before[-1].get("sum") or 0.0) if before else 0.0

    async def _async_rows(
        self, stat_id: str, start: datetime, end: datetime | None
    ) -> list[Mapping[str, Any]]:
        found = await get_instance(self.hass).async_add_executor_job(
            statistics_during_period,
            self.hass,
            start,
            end,
            {stat_id},
            "hour",
            None,
            {"state", "sum"},
        )
        return cast(list[Mapping[str, Any]], found.get(stat_id, []))

    # -- diagnostics --------------------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """Progress for diagnostics."""
        now = dt_util.utcnow().timestamp()
        return {
            "depth_days": self.planner.depth_days,
            "plan": {
                "refresh_s": self.planner.plan.refresh,
                "batch": self.planner.plan.batch,
                "keeps_days": self.planner.plan.keeps_days,
                "deep_reads_per_day": self.planner.plan.deep_reads_per_day,
            },
            "reads": self.reads,
            "imported_hours": self.imported_hours,
            "last_error": self.last_error,
            "next_read_in_s": None
            if self.next_read is None
            else max(0, round(self.next_read - now)),
            "plants": self.planner.progress(now),
        }


def _start(row: Mapping[str, Any]) -> datetime:
    """A statistics row's start (the recorder returns it as a timestamp)."""
    return datetime.fromtimestamp(float(row["start"]), UTC)
