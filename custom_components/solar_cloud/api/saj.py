"""SAJ OpenAPI client.

Protocol in short: ``GET /accessToken`` with ``client_id`` (the app id), ``client_secret`` (the
app key) and ``grant_type=client_credentials`` returns ``uid`` and ``access_token``; every other
call is a GET with query parameters and the headers ``token`` and ``uid``. A new token ends the
previous one, so one token is kept per account and renewed shortly before ``expires_in``, one
renewal at a time.

Replies are ``{data, error_code (0 = success), error_msg}``. Plant figures come in kW / kWh,
inverter power in W, CO2 in tons; they are converted to the metric vocabulary here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from .errors import (
    AuthError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    SolarCloudError,
    TransientError,
)
from .history import (
    EnergyDay,
    Flow,
    HistoryPlan,
    day_bounds,
    energy_from_power,
    offset_or_zone,
)
from .models import (
    Alarm,
    AlarmSeverity,
    Device,
    DeviceKind,
    DeviceReadings,
    Plant,
    PollPlan,
    Reading,
    RealtimeData,
)
from .quota import Allowance, Clock, Quota, Session, wall_clock
from .values import (
    DAY,
    HOUR,
    parse_offset,
    seconds_to_next_hour,
    seconds_to_next_utc_day,
    text,
    to_float,
    to_int,
)

_LOGGER = logging.getLogger(__name__)

VENDOR: Final = "saj"
SERVERS: Final[dict[str, str]] = {"https://api.saj-solar.com": "SAJ OpenAPI"}
REQUEST_TIMEOUT = 30.0
REALTIME_PERIOD: Final = 300.0
ALARM_PERIOD: Final = 1800.0
PER_PAGE: Final = 100
# Renew the token this long before it expires.
TOKEN_MARGIN: Final = HOUR
LOGIN_BACKOFF: Final = 30 * 60.0
E_TOKEN: Final = "accessToken"

# History share (see SajClient.history_plan). The SajOpenAPI document names an hourly and a daily
# call cap (10003 "超出小时使用次数", 10004 "超出天使用次数", §3.2.37) but gives no figure and no
# QPS, so the only load known to pass is what the live polls already make. History may add at
# most HISTORY_SHARE of that on top, and at most twice its hourly average in any one hour.
E_HISTORY: Final = "history"
E_HISTORY_HOUR: Final = "history_hour"
HISTORY_SHARE: Final = 0.2
HISTORY_REFRESH: Final = HOUR
# /plant/power (§3.2.8) answers one plant and one date per call, /plant/energy (§3.2.7) one
# plant per call: a local day is two UTC days of power plus its day total.
HISTORY_CALLS_PER_READ: Final = 3
# How far back the cloud keeps the 5-minute power curve is not documented; /plant/energy goes
# back to the plant's creation. A year (the planner's maximum) is assumed.
HISTORY_KEEPS_DAYS: Final = 366
# Loggers upload every 5 minutes and send what they buffered when back online; three hours is
# assumed (undocumented).
HISTORY_SETTLE: Final = 3 * HOUR
# A power gap longer than this is left out of the hours (no invented energy).
POWER_MAX_GAP: Final = timedelta(minutes=20)

# Plant status (appendix 3.3.3) -> readable state, online, problem.
PLANT_STATES: Final[dict[int, str]] = {
    1: "running",
    2: "planning",
    3: "off_grid",
    4: "standby",
    5: "low_light",
    6: "manual_shutdown",
    7: "fault",
    8: "alarm",
    9: "emergency_stop",
    10: "communication_error",
}

_AUTH_CODES: Final = frozenset({10002, 10007, 10008, 10011, 10099})
_RENEW_CODES: Final = frozenset({10010, 10012})
_PROTOCOL_CODES: Final = frozenset({10005, 10006})


def account_id_for(server: str, app_id: str) -> str:
    """Unique id of an account: ``saj:<host>:<app id>``."""
    host = (urlsplit(server).hostname or server).lower()
    return f"{VENDOR}:{host}:{app_id.strip().lower()}"


def parse_time(value: object, zone: timezone | None = None) -> datetime | None:
    """ISO 8601 times of the replies, with the plant's zone where they carry none."""
    raw = text(value)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "T"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone or UTC)


def map_plant_data(data: Mapping[str, Any]) -> dict[str, Reading]:
    """/plant/data: kW and kWh, CO2 in tons."""
    power_kw = to_float(data.get("current_power"))
    co2_tons = to_float(data.get("carbon_offset"))
    return {
        "pv_power": None if power_kw is None else round(power_kw * 1000, 3),
        "energy_today": to_float(data.get("today_energy")),
        "energy_month": to_float(data.get("monthly_energy")),
        "energy_year": to_float(data.get("yearly_energy")),
        "energy_total": to_float(data.get("total_energy")),
        "co2_avoided_total": None if co2_tons is None else round(co2_tons * 1000, 3),
    }


def map_inverter(record: Mapping[str, Any]) -> dict[str, Reading]:
    """/device/inverter/datasigns: power in W, energies in kWh, per-string and per-phase values."""
    out: dict[str, Reading] = {
        "pv_power": to_float(record.get("power")),
        "energy_today": to_float(record.get("today_energy")),
        "energy_month": to_float(record.get("month_energy")),
        "energy_year": to_float(record.get("year_energy")),
        "energy_total": to_float(record.get("total_energy")),
        "temperature": to_float(record.get("temperature")),
        "grid_frequency": to_float(record.get("fac")),
        "power_factor": to_float(record.get("power_factor")),
    }
    for number in range(1, 17):
        if f"vpv{number}" in record or f"ipv{number}" in record:
            out[f"pv{number}_voltage"] = to_float(record.get(f"vpv{number}"))
            out[f"pv{number}_current"] = to_float(record.get(f"ipv{number}"))
    for number, phase in ((1, "a"), (2, "b"), (3, "c")):
        if f"vac{number}" in record or f"iac{number}" in record:
            out[f"phase_{phase}_voltage"] = to_float(record.get(f"vac{number}"))
            out[f"phase_{phase}_current"] = to_float(record.get(f"iac{number}"))
    return out


class SajClient:
    """Client of one SAJ OpenAPI app."""

    vendor = VENDOR

    def __init__(
        self,
        session: aiohttp.ClientSession,
        server: str,
        app_id: str,
        app_secret: str,
        *,
        quota: Quota | None = None,
        session_state: Session | None = None,
        clock: Clock | None = None,
        timeout: float | None = None,
        locale: str = "en-US",
    ) -> None:
        self._session = session
        self._server = server.rstrip("/")
        self._app_id = app_id.strip()
        self._app_secret = app_secret.strip()
        self.quota = quota or Quota(clock=clock or wall_clock)
        self._clock: Clock = clock or self.quota.clock
        self._timeout = aiohttp.ClientTimeout(total=timeout or REQUEST_TIMEOUT)
        self.locale = locale
        self._sess = session_state or Session()
        self._digest = hashlib.sha256(f"{app_id}\0{app_secret}".encode()).hexdigest()
        self._zones: dict[str, timezone | None] = {}
        self._inverters: dict[str, list[str]] = {}
        # Power curves of settled UTC days: plant id -> UTC day -> (when read, t0, W0, t1, ...).
        self._curves: dict[str, dict[date, tuple[float, array[float]]]] = {}
        self.logins = 0
        self.last_error: str | None = None
        self.errors: Counter[str] = Counter()
        self.quota.set_allowance(E_TOKEN, Allowance(5, 600.0))

    @property
    def account_id(self) -> str:
        """``saj:<host>:<app id>``."""
        return account_id_for(self._server, self._app_id)

    def plan(self, plants: Sequence[Plant], devices: Sequence[Device]) -> PollPlan:
        """Real-time every 5 minutes (the cloud's refresh), alarms every 30, lists every 6 h."""
        return PollPlan(
            realtime=REALTIME_PERIOD, alarms=ALARM_PERIOD, devices=DAY / 4, plants=DAY / 4
        )

    # -- transport ----------------------------------------------------------------------------

    async def async_login(self) -> None:
        """Make sure a valid token exists; renew it only when needed, one renewal at a time."""
        if self._sess.valid(self._clock()) and self._sess.account:
            return
        await self._sess.async_ensure(self._clock, self._digest, self._login, backoff=LOGIN_BACKOFF)

    async def _login(self) -> None:
        async with self.quota.slot(E_TOKEN):
            data = await self._get(
                "/accessToken",
                {
                    "client_id": self._app_id,
                    "client_secret": self._app_secret,
                    "grant_type": "client_credentials",
                },
                token=None,
            )
        if not isinstance(data, Mapping):
            raise ProtocolError("accessToken: no result", code="shape")
        token, uid = text(data.get("access_token")), text(data.get("uid"))
        if not token or not uid:
            raise ProtocolError("accessToken: no token", code="no_token")
        lifetime = to_float(data.get("expires_in")) or DAY
        self.logins += 1
        self._sess.account = uid
        self._sess.token = token
        self._sess.expires = self._clock() + max(60.0, lifetime - TOKEN_MARGIN)

    async def _get(self, path: str, params: Mapping[str, Any], *, token: str | None) -> Any:
        headers = {"Accept": "application/json"}
        if token is not None and self._sess.account is not None:
            headers["token"] = token
            headers["uid"] = self._sess.account
        query = {k: str(v) for k, v in params.items() if v is not None}
        try:
            async with self._session.get(
                f"{self._server}{path}", params=query, headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.text()
                status = response.status
        # Not chained: the accessToken query holds the app key, and some client errors print
        # the whole URL.
        except TimeoutError:
            raise TransientError(f"{path}: no answer in time", code="timeout") from None
        except aiohttp.ClientError as err:
            raise TransientError(f"{path}: {type(err).__name__}", code="network") from None
        if status >= 500:
            raise TransientError(f"{path}: HTTP {status}", code=f"http_{status}")
        try:
            body = json.loads(raw)
        except ValueError:
            _LOGGER.debug("%s: reply is not JSON (HTTP %s): %.200s", path, status, raw)
            raise ProtocolError(f"{path}: reply is not JSON (HTTP {status})", code=status) from None
        if not isinstance(body, Mapping) or "error_code" not in body:
            raise ProtocolError(f"{path}: unexpected reply (HTTP {status})", code=status)
        code = to_int(body.get("error_code"))
        if code == 0:
            return body.get("data")
        raise self._error(path, code, text(body.get("error_msg")))

    def _error(self, path: str, code: int | None, message: str | None) -> SolarCloudError:
        self.errors[str(code)] += 1
        self.last_error = f"{path}: {code}"
        now = self._clock()
        if code in _RENEW_CODES:
            return _TokenRejectedError(code or 0)
        if code in _AUTH_CODES:
            return AuthError(f"{path}: refused ({code})", code=code, vendor_message=message)
        if code == 10014:
            return PermissionDeniedError(
                f"{path}: not permitted", code=code, vendor_message=message
            )
        if code == 10003:
            retry = seconds_to_next_hour(now)
            self.quota.block("calls", retry)
            return RateLimitedError(f"{path}: hourly allowance used", retry_after=retry, code=code)
        if code == 10004:
            retry = seconds_to_next_utc_day(now)
            self.quota.block("calls", retry)
            return RateLimitedError(f"{path}: daily allowance used", retry_after=retry, code=code)
        if code in _PROTOCOL_CODES:
            return ProtocolError(f"{path}: request refused ({code})", code=code)
        if code == 10001:
            return TransientError(f"{path}: cloud error ({code})", code=code)
        return ProtocolError(f"{path}: request refused ({code})", code=code)

    async def _call(self, path: str, params: Mapping[str, Any]) -> Any:
        """A business call; a token the cloud no longer accepts is renewed once."""
        for attempt in (1, 2):
            await self.async_login()
            token = self._sess.token
            try:
                async with self.quota.slot("calls"):
                    data = await self._get(path, params, token=token)
            except _TokenRejectedError as err:
                self._sess.drop(token)
                if attempt == 2:
                    raise AuthError(f"{path}: new token refused too", code=err.code) from err
                continue
            return data
        raise ProtocolError(f"{path}: gave up", code="retries")  # pragma: no cover

    async def _pages(
        self, path: str, params: Mapping[str, Any], key: str
    ) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        page = 1
        while True:
            data = await self._call(path, {**params, "page": page, "perpage": PER_PAGE})
            if not isinstance(data, Mapping):
                raise ProtocolError(f"{path}: no result", code="shape")
            batch = [r for r in data.get(key) or [] if isinstance(r, Mapping)]
            rows.extend(batch)
            total = to_int(data.get("count"))
            if not batch or len(batch) < PER_PAGE or (total is not None and len(rows) >= total):
                return rows
            page += 1

    # -- inventory ----------------------------------------------------------------------------

    async def async_get_plants(self) -> list[Plant]:
        """Every plant of the app (all pages), with its time zone from /plant/data."""
        plants: list[Plant] = []
        for row in await self._pages("/plant/list", {"locale": self.locale}, "plants"):
            plant_id = text(row.get("plant_id"))
            if plant_id is None:
                continue
            plants.append(
                Plant(
                    id=plant_id,
                    name=text(row.get("name")) or plant_id,
                    address=", ".join(
                        p for p in (text(row.get("city")), text(row.get("country"))) if p
                    )
                    or None,
                    latitude=to_float(row.get("latitude")),
                    longitude=to_float(row.get("longitude")),
                    capacity_kw=to_float(row.get("peak_power")),
                    grid_connection_date=parse_time(row.get("create_date")),
                )
            )
        return [await self._with_details(plant) for plant in plants]

    async def _with_details(self, plant: Plant) -> Plant:
        """/plant/details: the street address, the installed power and the UTC offset."""
        data = await self._call("/plant/details", {"plant_id": plant.id, "locale": self.locale})
        if not isinstance(data, Mapping):
            return plant
        zone_label = text(data.get("timezone"))
        self._zones[plant.id] = parse_offset(zone_label)
        street = ", ".join(
            p
            for p in (
                text(data.get("address1")),
                text(data.get("postal")),
                text(data.get("city")),
                text(data.get("country")),
            )
            if p
        )
        capacity = to_float(data.get("installed_dc_capacity"))
        return replace(
            plant,
            address=street or plant.address,
            capacity_kw=capacity if capacity is not None else plant.capacity_kw,
            time_zone=zone_label,
        )

    # -- history (kept for the statistics backfill) -------------------------------------------

    async def async_get_power_curve(self, plant_id: str, day: date) -> list[tuple[datetime, float]]:
        """/plant/power: the plant's power in W over one local day.

        Asked in UTC (every gateway knows that zone), for each UTC day the local day spans.
        """
        zone = self._zones.get(plant_id) or UTC
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        end = start + timedelta(days=1)
        utc_days = sorted(
            {start.astimezone(UTC).date(), (end - timedelta(seconds=1)).astimezone(UTC).date()}
        )
        points: list[tuple[datetime, float]] = []
        for utc_day in utc_days:
            data = await self._call(
                "/plant/power",
                {"plant_id": plant_id, "date": utc_day.isoformat(), "timezone_id": "UTC"},
            )
            rows = data.get("powers") if isinstance(data, Mapping) else None
            for row in rows if isinstance(rows, list) else []:
                if not isinstance(row, Mapping):
                    continue
                moment = parse_time(row.get("time"), UTC)
                power = to_float(row.get("power"))
                if moment is not None and power is not None and start <= moment < end:
                    points.append((moment.astimezone(zone), power))
        return sorted(points)

    async def async_get_energy_history(
        self, plant_id: str, start: date, end: date, time_unit: str = "day"
    ) -> list[tuple[str, float]]:
        """/plant/energy: kWh per day, month or year between two dates (all pages)."""
        if time_unit not in ("day", "month", "year"):
            msg = f"time_unit must be day, month or year, not {time_unit}"
            raise ValueError(msg)
        rows = await self._pages(
            "/plant/energy",
            {
                "plant_id": plant_id,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "time_unit": time_unit,
            },
            "energys",
        )
        history: list[tuple[str, float]] = []
        for row in rows:
            label, energy = text(row.get("date")), to_float(row.get("energy"))
            if label is not None and energy is not None:
                history.append((label, energy))
        return history

    # -- hourly energy history (api.history.HistoryClient) -------------------------------------

    def _live_calls_per_day(self, plants: int) -> float:
        """Calls a day the live polls of ``plan()`` make for this many plants."""
        inverters = max(plants, sum(len(ids) for ids in self._inverters.values()))
        pages = math.ceil(plants / PER_PAGE)
        plan = self.plan([], [])
        realtime = DAY / plan.realtime * (pages + plants + inverters)
        alarms = DAY / plan.alarms * inverters
        devices = DAY / plan.devices * plants
        listing = DAY / plan.plants * (pages + plants)
        return realtime + alarms + devices + listing

    def history_plan(self, plants: Sequence[Plant]) -> HistoryPlan:
        """Size the history share for these plants; one plant per read.

        The SajOpenAPI document gives no call rate: §3.2.37 only names an hourly (10003) and a daily
        (10004) cap without figures. History therefore gets ``HISTORY_SHARE`` (a fifth) of what the
        live polls make a day, e.g. 1 plant with 1 inverter: live 288 rounds x 3 calls + 48 alarm
        reads + 12 list/detail calls = 924 calls a day, history 184 calls = 61 reads of at most 3
        calls (fewer when a settled UTC day is still kept). Each plant's recurring reads are 24 (the
        current day hourly) + 2 (day end, settled) + 3 (corrections) = 29; the rest is deep history.
        Both /plant/power and /plant/energy take one plant_id, so ``batch`` is 1. How far back the
        5-minute curve is kept is not documented (a year is assumed), nor when late uploads have all
        arrived (3 h assumed).
        """
        count = max(1, len(plants))
        share = max(1, math.floor(HISTORY_SHARE * self._live_calls_per_day(count)))
        reads = share // HISTORY_CALLS_PER_READ
        refresh = HISTORY_REFRESH
        # Fewer reads than the plants need (never with the figures above): read less often.
        while count * (math.ceil(DAY / refresh) + 5) + 1 > reads and refresh < DAY:
            refresh *= 2
        recurring = count * (math.ceil(DAY / refresh) + 5)
        deep = max(1, reads - recurring)
        daily = max(share, HISTORY_CALLS_PER_READ * (recurring + deep))
        self.quota.set_allowance(E_HISTORY, Allowance(daily, DAY))
        self.quota.set_allowance(
            E_HISTORY_HOUR, Allowance(max(HISTORY_CALLS_PER_READ, math.ceil(daily / 12)), HOUR)
        )
        return HistoryPlan(
            refresh=refresh,
            batch=1,
            keeps_days=HISTORY_KEEPS_DAYS,
            settle=HISTORY_SETTLE,
            deep_reads_per_day=deep,
        )

    def _history_zone(self, plant: Plant, zone: tzinfo) -> tzinfo:
        """The zone the plant's days are counted in.

        SAJ tells only the plant's current UTC offset (``+02:00``), not its DST rules. When
        ``zone`` has that offset now, the plant is taken to be in ``zone`` (which knows the DST
        changes); otherwise the cloud's fixed offset is used.
        """
        known = self._zones.get(plant.id) or parse_offset(plant.time_zone)
        return offset_or_zone(known, zone, datetime.fromtimestamp(self._clock(), UTC))

    def _history_room(self, calls: int) -> None:
        """Raise RateLimitedError, before anything is sent, if ``calls`` would not all fit."""
        wait = max(
            self.quota.wait_time(E_HISTORY, calls),
            self.quota.wait_time(E_HISTORY_HOUR, calls),
            self.quota.wait_time("calls"),
        )
        if wait > 0:
            raise RateLimitedError("history share used up", retry_after=wait, code="history_quota")

    async def _history_call(self, path: str, params: Mapping[str, Any]) -> Any:
        """One history call: the share first, never waiting for it or for the live slots."""
        async with (
            self.quota.slot(E_HISTORY, max_wait=0.0),
            self.quota.slot(E_HISTORY_HOUR, max_wait=0.0),
        ):
            return await self._call(path, params)

    async def _utc_day_curve(self, plant_id: str, utc_day: date) -> list[tuple[datetime, float]]:
        """/plant/power of one UTC day (W), from the cache when that day is settled."""
        now = self._clock()
        kept = self._curves.get(plant_id, {}).get(utc_day)
        if kept is not None and now - kept[0] < DAY:
            flat = kept[1]
            return [
                (datetime.fromtimestamp(flat[i], UTC), flat[i + 1]) for i in range(0, len(flat), 2)
            ]
        data = await self._history_call(
            "/plant/power",
            {"plant_id": plant_id, "date": utc_day.isoformat(), "timezone_id": "UTC"},
        )
        if data is not None and not isinstance(data, Mapping):
            raise ProtocolError("/plant/power: no result", code="shape")
        rows = data.get("powers") if isinstance(data, Mapping) else None
        samples: list[tuple[datetime, float]] = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, Mapping):
                continue
            moment = parse_time(row.get("time"), UTC)
            power = to_float(row.get("power"))
            if moment is not None and power is not None:
                samples.append((moment.astimezone(UTC), power))
        day_end = datetime(utc_day.year, utc_day.month, utc_day.day, tzinfo=UTC) + timedelta(days=1)
        if samples and now >= day_end.timestamp() + HISTORY_SETTLE:
            # A settled UTC day: kept a day (compactly), the two newest per plant, which are
            # the two halves of one local day; consecutive days and the current day's
            # refreshes then ask for each UTC day once.
            days = self._curves.setdefault(plant_id, {})
            days[utc_day] = (now, array("d", [v for t, p in samples for v in (t.timestamp(), p)]))
            for old in sorted(days)[:-2]:
                del days[old]
        return samples

    async def _power_points(
        self, plant_id: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, float]]:
        """/plant/power samples (W) between ``start`` and ``end`` inclusive, asked in UTC."""
        utc_days = sorted({start.astimezone(UTC).date(), end.astimezone(UTC).date()})
        points: set[tuple[datetime, float]] = set()
        for utc_day in utc_days:
            points.update(
                point
                for point in await self._utc_day_curve(plant_id, utc_day)
                if start <= point[0] <= end
            )
        return sorted(points)

    async def _day_total(self, plant_id: str, day: date) -> float | None:
        """/plant/energy: the day's kWh, or None when the cloud gives none."""
        data = await self._history_call(
            "/plant/energy",
            {
                "plant_id": plant_id,
                "start_date": day.isoformat(),
                "end_date": day.isoformat(),
                "time_unit": "day",
            },
        )
        rows = data.get("energys") if isinstance(data, Mapping) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, Mapping) and text(row.get("date")) == day.isoformat():
                return to_float(row.get("energy"))
        return None

    async def async_get_energy_days(
        self, plants: Sequence[Plant], day: date, zone: tzinfo
    ) -> dict[str, EnergyDay]:
        """PV kWh per UTC hour of the local ``day`` of each plant (the only flow SAJ gives).

        The SajOpenAPI has no grid, battery or load figures. Hours come from the 5-minute
        /plant/power curve (W, trapezoids; gaps over 20 minutes left out), asked per UTC day, and
        are scaled so that they add up to the day's /plant/energy total, the figure the live "energy
        today" shows, once the day has ended. Today's hours stay as measured (its total still grows
        within the hour in progress, and scaling by it would change hours already imported at every
        read); hours after the last sample are absent and the hour in progress is partial until the
        next read. A curve with gaps is scaled as well, so the energy of a gap lands in the hours
        that have data. A plant whose curve is empty, or that the cloud does not know (10006), is
        absent. The zone is the plant's (see ``_history_zone``); EnergyDay.zone says which.
        """
        self._history_room(HISTORY_CALLS_PER_READ * len(plants))
        result: dict[str, EnergyDay] = {}
        for plant in plants:
            plant_zone = self._history_zone(plant, zone)
            start, end = day_bounds(day, plant_zone)
            try:
                points = await self._power_points(plant.id, start, end)
                if not points:
                    continue
                # Only an ended day is scaled to its total: today's total still grows within the
                # hour in progress, and scaling by it would shift every hour at each read.
                ended = end.timestamp() <= self._clock()
                total = await self._day_total(plant.id, day) if ended else None
            except ProtocolError as err:
                # Our parameters are well formed: 10006 means the cloud does not know the
                # plant (removed, or moved to another app). It is absent, the others go on.
                if err.code != "10006":
                    raise
                _LOGGER.debug("History of plant %s refused: %s", plant.id, err)
                continue
            kwh = energy_from_power(points, max_gap=POWER_MAX_GAP)
            curve_sum = sum(kwh.values())
            # A total of 0 against a curve that shows production is not believed.
            known = total is not None and total > 0 and curve_sum > 0
            factor = total / curve_sum if known and total is not None else 1.0
            result[plant.id] = EnergyDay(
                plant_id=plant.id,
                day=day,
                zone=plant_zone,
                hours={
                    hour: {Flow.PV: round(value * factor, 6)} for hour, value in sorted(kwh.items())
                },
            )
        return result

    async def async_get_devices(self, plants: Sequence[Plant]) -> list[Device]:
        """The inverters of each plant."""
        devices: list[Device] = []
        for plant in plants:
            self._inverters[plant.id] = []
            for row in await self._pages("/device/list", {"plant_id": plant.id}, "devices"):
                device_id = text(row.get("device_id"))
                if device_id is None:
                    continue
                self._inverters[plant.id].append(device_id)
                devices.append(
                    Device(
                        id=device_id,
                        plant_id=plant.id,
                        name=text(row.get("device_sn")) or device_id,
                        kind=DeviceKind.INVERTER,
                        type_code=text(row.get("type")) or "1",
                        model=text(row.get("model")),
                        serial_number=text(row.get("device_sn")),
                    )
                )
        return devices

    # -- real-time ----------------------------------------------------------------------------

    async def async_get_realtime(
        self, plants: Sequence[Plant], devices: Sequence[Device]
    ) -> dict[str, RealtimeData]:
        """/plant/data per plant, then the latest /device/inverter/datasigns per inverter."""
        result: dict[str, RealtimeData] = {}
        # The plant list carries each plant's status, 100 plants per call.
        statuses = {
            text(row.get("plant_id")): to_int(row.get("status"))
            for row in await self._pages("/plant/list", {"locale": self.locale}, "plants")
        }
        for plant in plants:
            data = await self._call("/plant/data", {"plant_id": plant.id})
            realtime = RealtimeData()
            status = statuses.get(plant.id)
            if status is not None:
                realtime.online = status != 10
                realtime.plant["plant_status"] = PLANT_STATES.get(status, "unknown")
            if isinstance(data, Mapping):
                zone = parse_offset(data.get("timezone"))
                self._zones[plant.id] = zone
                realtime.plant.update(map_plant_data(data))
                realtime.data_time = parse_time(data.get("last_update_time"), zone)
            result[plant.id] = realtime
        for device in devices:
            target = result.get(device.plant_id)
            if target is None:
                continue
            zone = self._zones.get(device.plant_id)
            today = datetime.fromtimestamp(self._clock(), zone or UTC).date().isoformat()
            data = await self._call(
                "/device/inverter/datasigns", {"device_id": device.id, "end_date": today}
            )
            rows = data.get("datas") if isinstance(data, Mapping) else None
            if not isinstance(rows, list) or not rows or not isinstance(rows[-1], Mapping):
                target.devices[device.id] = DeviceReadings(online=False)
                continue
            values = map_inverter(rows[-1])
            measured = parse_time(rows[-1].get("time"), zone)
            if measured is None or self._clock() - measured.timestamp() > 2 * REALTIME_PERIOD:
                # The newest row is old: the inverter stopped reporting. Its last power and
                # "today" figures are not today's.
                values["pv_power"] = None
                values["energy_today"] = None
                target.devices[device.id] = DeviceReadings(values=values, online=False)
                continue
            target.devices[device.id] = DeviceReadings(values=values, online=True)
        return result

    # -- alarms -------------------------------------------------------------------------------

    async def async_get_alarms(self, plants: Sequence[Plant]) -> dict[str, list[Alarm]]:
        """Unprocessed alarms of every inverter (the API has no plant-wide query)."""
        result: dict[str, list[Alarm]] = {}
        for plant in plants:
            if plant.id not in self._inverters:
                await self.async_get_devices([plant])
            zone = self._zones.get(plant.id)
            alarms: list[Alarm] = []
            for device_id in self._inverters.get(plant.id, []):
                rows = await self._pages(
                    "/device/inverter/alarm",
                    {"device_id": device_id, "locale": self.locale},
                    "alarms",
                )
                alarms.extend(
                    alarm
                    for row in rows
                    if (alarm := self._alarm(plant.id, device_id, row, zone)) is not None
                )
            result[plant.id] = alarms
        return result

    @staticmethod
    def _alarm(
        plant_id: str, device_id: str, row: Mapping[str, Any], zone: timezone | None
    ) -> Alarm | None:
        if to_int(row.get("status")) == 1:
            return None  # handled (an ended alarm that nobody handled still counts)
        code = text(row.get("alarm_code")) or "?"
        raised = parse_time(row.get("start_time"), zone)
        return Alarm(
            id=f"{device_id}:{code}:{text(row.get('start_time')) or ''}",
            plant_id=plant_id,
            name=text(row.get("alarm_message")) or f"Alarm {code}",
            severity=AlarmSeverity.MAJOR,
            raised_at=raised,
            device_id=device_id,
            category=code,
        )

    def diagnostics(self) -> dict[str, object]:
        """Non-secret client state."""
        return {
            "server": self._server,
            "session_valid": self._sess.valid(self._clock()),
            "logins": self.logins,
            "error_codes": dict(self.errors),
            "last_error": self.last_error,
            "quota": self.quota.snapshot(),
        }


class _TokenRejectedError(SolarCloudError):
    """10010 / 10012: the token expired or a newer one replaced it."""

    def __init__(self, code: int) -> None:
        super().__init__("token rejected", code=code)
