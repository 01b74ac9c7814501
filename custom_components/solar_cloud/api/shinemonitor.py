"""ShineMonitor (Eybond) open-platform client.

Protocol in short: every request is a GET of ``<server>/public/`` with a signed query string.
``action=auth`` (signed with the SHA-1 of the password) returns a ``secret``, a ``token`` and their
lifetime ``expire`` in seconds; every other call carries ``sign``, ``salt`` and ``token`` before
``&action=…`` and is signed with the secret and the token (see ``crypto``). Replies are
``{err, desc, dat}`` with ``err`` 0 on success, always with HTTP 200.

The same back end serves several app brands (ShineMonitor, WatchPower, SmartESS, DessMonitor);
each brand has its own host and ``company-key``.

Units come from the replies: device values carry their own unit (W or kW, Wh or kWh), plant
figures are kW and kWh, CO2 tons; everything is converted to the metric vocabulary here. Device
and plant times are the plant's local time (its UTC offset is in the plant's address), warning
times are UTC.

The vendor documents no call rate. This client stays under ``CALLS_PER_MINUTE`` requests per
account and backs off for a minute when the cloud answers ``ERR_OVER_LIMITED`` (13).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from .crypto import (
    shinemonitor_auth_sign,
    shinemonitor_query_tail,
    shinemonitor_salt,
    shinemonitor_sign,
)
from .errors import (
    AuthError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    SolarCloudError,
    TransientError,
)
from .metrics import Accumulation, Quantity, get_metric
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
from .values import DAY, HOUR, chunks, parse_offset, text, to_float, to_int

_LOGGER = logging.getLogger(__name__)

VENDOR: Final = "shinemonitor"
SERVERS: Final[dict[str, str]] = {
    "http://api.shinemonitor.com": "ShineMonitor",
    "http://web.shinemonitor.com": "ShineMonitor (web)",
    "http://android.shinemonitor.com": "WatchPower / SmartESS",
    "http://api.dessmonitor.com": "DessMonitor",
}
DOCUMENTED_COMPANY_KEY: Final = "0123456789ABCDEF"
REQUEST_TIMEOUT: Final = 30.0
REALTIME_PERIOD: Final = 300.0
ALARM_PERIOD: Final = 600.0
# No rate is documented; this stays well under what the cloud tolerates.
CALLS_PER_MINUTE: Final = 240
OVER_LIMIT_BACKOFF: Final = 60.0
# How long a call may wait for room in the minute's allowance.
WINDOW_WAIT: Final = 65.0
LOGIN_BACKOFF: Final = 30 * 60.0
PAGE_SIZE: Final = 50
MAX_WARNING_PAGES: Final = 10
DEVICES_PER_CALL: Final = 256
# Device data older than this is not "now": the device or its datalogger stopped reporting.
STALE_AFTER: Final = 3 * REALTIME_PERIOD
# After the cloud refuses a plant's current-data query, how long to use its power query alone.
POWER_ONLY_PERIOD: Final = 6 * HOUR
LANGUAGE: Final = "en_US"
E_AUTH: Final = "auth"
E_CALLS: Final = "calls"

# Codes (decimal on the wire).
ERR_NONE: Final = 0
ERR_SIGN: Final = 4
ERR_FORMAT: Final = 6
ERR_NO_AUTH: Final = 10
ERR_NO_RECORD: Final = 12
ERR_OVER_LIMITED: Final = 13
ERR_COMPANY_KEY: Final = 15
ERR_NO_DEVICE: Final = 258
ERR_NO_PLANT: Final = 260
ERR_DEVICE_OFFLINE: Final = 262
ERR_COLLECTOR_OFFLINE: Final = 263
ERR_NO_WARNING: Final = 264
ERR_TOKEN_EXPIRED: Final = 270
_RENEW_CODES: Final = frozenset({ERR_NO_AUTH, ERR_TOKEN_EXPIRED})
# Wrong company key, wrong password, disabled user, unknown user.
_AUTH_CODES: Final = frozenset({ERR_COMPANY_KEY, 16, 25, 261})
_PERMISSION_CODES: Final = frozenset({8, 11})
_TRANSIENT_CODES: Final = frozenset({1, 2, 3})
_OFFLINE_CODES: Final = frozenset({ERR_DEVICE_OFFLINE, ERR_COLLECTOR_OFFLINE})

# Device and collector status (queryDeviceStatus): online, readable state, fault state.
STATUS: Final[dict[int, tuple[bool, str, str]]] = {
    0: (True, "running", "normal"),
    1: (False, "offline", "normal"),
    2: (True, "fault", "fault"),
    3: (True, "standby", "normal"),
    4: (True, "running", "alarm"),
    5: (True, "fault", "fault"),
    6: (True, "communication_lost", "fault"),
}

_PLANT_PARS: Final = (
    "CURRENT_POWER",
    "ENERGY_TODAY",
    "ENERGY_MONTH",
    "ENERGY_YEAR",
    "ENERGY_TOTAL",
    "ENERGY_PROCEEDS",
    "ENERGY_CO2",
    "BATTERY_SOC",
)
# queryPlantCurrentData keys -> metric and factor (kW -> W, t -> kg).
_PLANT_KEYS: Final[dict[str, tuple[str, float]]] = {
    "CURRENT_POWER": ("pv_power", 1000.0),
    "ENERGY_TODAY": ("energy_today", 1.0),
    "ENERGY_MONTH": ("energy_month", 1.0),
    "ENERGY_YEAR": ("energy_year", 1.0),
    "ENERGY_TOTAL": ("energy_total", 1.0),
    "ENERGY_PROCEEDS": ("income_total", 1.0),
    "ENERGY_CO2": ("co2_avoided_total", 1000.0),
    "BATTERY_SOC": ("battery_soc", 1.0),
}

# Field titles of a PV inverter's last data (normalised: lower case, words split by one space).
_INVERTER_TITLES: Final[dict[str, str]] = {
    "output power": "pv_power",
    "ac output power": "pv_power",
    "output active power": "pv_power",
    "active power": "pv_power",
    "pv input power": "dc_power",
    "dc input power": "dc_power",
    "input power": "dc_power",
    "grid voltage": "phase_a_voltage",
    "grid voltage r": "phase_a_voltage",
    "grid voltage s": "phase_b_voltage",
    "grid voltage t": "phase_c_voltage",
    "grid current": "phase_a_current",
    "grid current r": "phase_a_current",
    "grid current s": "phase_b_current",
    "grid current t": "phase_c_current",
    "grid frequency": "grid_frequency",
    "energy today": "energy_today",
    "today energy": "energy_today",
    "daily energy": "energy_today",
    "energy total": "energy_total",
    "total energy": "energy_total",
    "inverter temperature": "temperature",
    "temperature": "temperature",
    "power factor": "power_factor",
}
# Energy-storage data, by group (querySPDeviceLastData) and normalised parameter name.
_STORAGE_PARS: Final[dict[str, dict[str, str]]] = {
    "pv_": {
        "pv input power": "pv_power",
        "pv power": "pv_power",
        "pv energy today": "energy_today",
        "pv energy total": "energy_total",
    },
    "bt_": {
        "battery voltage": "battery_voltage",
        "battery capacity": "battery_soc",
        "battery soc": "battery_soc",
        "battery percentage": "battery_soc",
    },
    "gd_": {
        "grid voltage": "phase_a_voltage",
        "grid frequency": "grid_frequency",
        "grid active power": "grid_import_power",
    },
    "bc_": {
        "output active power": "load_power",
        "load active power": "load_power",
    },
    "sy_": {},
}
_STATE_TITLES: Final = frozenset(
    {"operating state", "operating mode", "working state", "work mode", "work state"}
)
_CHARGE_CURRENT: Final = frozenset({"battery charging current", "battery charge current"})
_DISCHARGE_CURRENT: Final = frozenset({"battery discharge current", "battery discharging current"})
_PV_STRING_RE: Final = re.compile(r"pv ?(\d+) (?:input )?(voltage|current)")
_WORDS_RE: Final = re.compile(r"[^a-z0-9]+")
# Text states -> inverter_status.
_STATE_TEXTS: Final[dict[str, str]] = {
    "normal": "running",
    "running": "running",
    "line mode": "running",
    "battery mode": "running",
    "on grid": "running",
    "standby": "standby",
    "standby mode": "standby",
    "power saving mode": "standby",
    "fault": "fault",
    "fault mode": "fault",
    "error": "fault",
    "off grid": "off_grid",
    "offline": "offline",
}
_POWER_UNITS: Final[dict[str, float]] = {"w": 1.0, "kw": 1000.0, "mw": 1_000_000.0}
_ENERGY_UNITS: Final[dict[str, float]] = {"wh": 0.001, "kwh": 1.0, "mwh": 1000.0}
_SEVERITIES: Final[dict[int, AlarmSeverity]] = {
    0: AlarmSeverity.WARNING,
    1: AlarmSeverity.MAJOR,
    2: AlarmSeverity.CRITICAL,
}
_SECRET_PARAMS_RE: Final = re.compile(r"((?:^|[?&])(?:sign|token|company-key)=)[^&]*")


def account_id_for(server: str, username: str) -> str:
    """Unique id of an account: ``shinemonitor:<host>:<user name>``."""
    host = (urlsplit(server).hostname or server).lower()
    return f"{VENDOR}:{host}:{username.strip().lower()}"


def redact_url(url: str) -> str:
    """The URL with its token, sign and company key blanked, fit for a log."""
    return _SECRET_PARAMS_RE.sub(r"\1***", url)


def normalise_title(title: object) -> str:
    """``"PV1 Input-Voltage "`` -> ``"pv1 input voltage"``."""
    return _WORDS_RE.sub(" ", str(title or "").lower()).strip()


def device_kind(devcode: int | None) -> DeviceKind:
    """Kind of a device from its protocol code: 0x200 grid-tie inverters, 0x900 storage."""
    if devcode is None:
        return DeviceKind.OTHER
    family = devcode // 256
    if family == 2:
        return DeviceKind.INVERTER
    if family == 9:
        return DeviceKind.ENERGY_STORAGE
    return DeviceKind.OTHER


def parse_local(value: object, zone: timezone | None) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` in ``zone`` (UTC when unknown)."""
    raw = text(value)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "T"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone or UTC)


def offset_label(zone: timezone) -> str:
    """``+01:00`` style label of a fixed offset."""
    minutes = int((zone.utcoffset(None) or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def convert(key: str, value: object, unit: object) -> Reading:
    """A device value in the catalog unit of ``key``, scaled by the unit the cloud sent."""
    metric = get_metric(key)
    if metric is None or metric.unit is None:  # pragma: no cover - keys come from our tables
        return to_float(value)
    number = to_float(value)
    if number is None:
        return None
    unit_key = str(unit or "").strip().lower()
    if metric.unit == "W":
        number *= _POWER_UNITS.get(unit_key, 1.0)
    elif metric.unit == "kWh":
        number *= _ENERGY_UNITS.get(unit_key, 1.0)
    return round(number, 6)


def inverter_state(value: object) -> str:
    """A device's own text state mapped to the readable states."""
    return _STATE_TEXTS.get(normalise_title(value), "unknown")


def map_inverter_rows(rows: Sequence[Any]) -> tuple[dict[str, Reading], str | None]:
    """queryDeviceLastData: ``[{title, unit, val}]`` (row 0 the id, row 1 the time)."""
    values: dict[str, Reading] = {}
    stamp: str | None = None
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        title = normalise_title(row.get("title"))
        raw, unit = row.get("val"), row.get("unit")
        if title in {"timestamp", "time", "data time", "update time"}:
            stamp = text(raw)
        elif title in _STATE_TITLES:
            values["inverter_status"] = inverter_state(raw)
        elif (match := _PV_STRING_RE.fullmatch(title)) is not None:
            string_key = f"pv{match.group(1)}_{match.group(2)}"
            values[string_key] = convert(string_key, raw, unit)
        elif (key := _INVERTER_TITLES.get(title)) is not None and key not in values:
            values[key] = convert(key, raw, unit)
    return values, stamp


def map_storage_groups(groups: Mapping[str, Any]) -> dict[str, Reading]:
    """querySPDeviceLastData ``pars``: PV, battery, grid, load and system groups."""
    values: dict[str, Reading] = {}
    charge_a: float | None = None
    discharge_a: float | None = None
    for group, items in groups.items():
        if not isinstance(items, list):
            continue
        names = _STORAGE_PARS.get(group, {})
        for item in items:
            if not isinstance(item, Mapping):
                continue
            name = normalise_title(item.get("par"))
            raw, unit = item.get("val"), item.get("unit")
            if name in _STATE_TITLES:
                values["inverter_status"] = inverter_state(raw)
            elif name in _CHARGE_CURRENT:
                charge_a = to_float(raw)
            elif name in _DISCHARGE_CURRENT:
                discharge_a = to_float(raw)
            elif (match := _PV_STRING_RE.fullmatch(name)) is not None:
                string_key = f"pv{match.group(1)}_{match.group(2)}"
                values[string_key] = convert(string_key, raw, unit)
            elif (key := names.get(name)) is not None:
                values[key] = convert(key, raw, unit)
    if charge_a is not None or discharge_a is not None:
        # Signed like battery_power: positive while discharging.
        current = (discharge_a or 0.0) - (charge_a or 0.0)
        values["battery_current"] = round(current, 3)
        voltage = values.get("battery_voltage")
        if isinstance(voltage, float):
            power = round(voltage * current, 1)
            values["battery_power"] = power
            values["battery_discharge_power"] = power if power > 0 else 0.0
            values["battery_charge_power"] = -power if power < 0 else 0.0
    return values


@dataclass(frozen=True, slots=True)
class DeviceAddress:
    """How the cloud addresses a device: datalogger, protocol code, bus address, serial."""

    pn: str
    devcode: int
    devaddr: int
    sn: str

    def params(self) -> list[tuple[str, str]]:
        return [
            ("pn", self.pn),
            ("devcode", str(self.devcode)),
            ("devaddr", str(self.devaddr)),
            ("sn", self.sn),
        ]

    def tuple_text(self) -> str:
        return f"{self.pn},{self.devcode},{self.devaddr},{self.sn}"


class ShineMonitorClient:
    """Client of one ShineMonitor account."""

    vendor = VENDOR

    def __init__(
        self,
        session: aiohttp.ClientSession,
        server: str,
        username: str,
        password: str,
        company_key: str,
        *,
        quota: Quota | None = None,
        session_state: Session | None = None,
        clock: Clock | None = None,
        timeout: float | None = None,
        language: str = LANGUAGE,
    ) -> None:
        self._session = session
        self._server = server.rstrip("/")
        self._username = username.strip()
        self._password = password
        self._company_key = company_key.strip()
        self.quota = quota or Quota(clock=clock or wall_clock)
        self._clock: Clock = clock or self.quota.clock
        self._timeout = aiohttp.ClientTimeout(total=timeout or REQUEST_TIMEOUT)
        # For warning texts; device field names are always asked for in English.
        self.language = language
        self._sess = session_state or Session()
        self._digest = hashlib.sha256(
            f"{self._username}\0{password}\0{self._company_key}".encode()
        ).hexdigest()
        self._zones: dict[str, timezone] = {}
        self._addresses: dict[str, DeviceAddress] = {}
        # Devices the cloud no longer lists (until it lists them again).
        self._gone: set[str] = set()
        # Plants whose cloud refuses queryPlantCurrentData: their power comes from
        # queryPlantActiveOuputPowerCurrent instead.
        self._power_only: dict[str, float] = {}
        self.logins = 0
        self.last_error: str | None = None
        self.errors: Counter[str] = Counter()
        self.quota.set_allowance(E_AUTH, Allowance(10, 600.0))
        self.quota.set_allowance(E_CALLS, Allowance(CALLS_PER_MINUTE, 60.0))

    @property
    def account_id(self) -> str:
        """``shinemonitor:<host>:<user name>``."""
        return account_id_for(self._server, self._username)

    def plan(self, plants: Sequence[Plant], devices: Sequence[Device]) -> PollPlan:
        """A round every 5 minutes (the datalogger upload period), warnings every 10 minutes,
        lists every 6 hours.

        A round larger than the minute's allowance spends a minute waiting for room per extra
        allowance it needs. The pause between rounds is shortened by that wait, so rounds
        still start 5 minutes apart: never more often than the data refreshes, never later.
        """
        waits = max(0, math.ceil(self.calls_per_round(plants, devices) / CALLS_PER_MINUTE) - 1)
        realtime = max(REALTIME_PERIOD / 2, REALTIME_PERIOD - 60.0 * waits)
        return PollPlan(realtime=realtime, alarms=ALARM_PERIOD, devices=DAY / 4, plants=DAY / 4)

    @staticmethod
    def calls_per_round(plants: Sequence[Plant], devices: Sequence[Device]) -> int:
        """Statuses (256 devices a call), one call per plant and one per device."""
        return math.ceil(len(devices) / DEVICES_PER_CALL) + len(plants) + len(devices)

    # -- transport ----------------------------------------------------------------------------

    async def async_login(self) -> None:
        """Make sure a valid token exists; authenticate only when needed, one at a time."""
        if self._sess.valid(self._clock()) and self._sess.secret:
            return
        if not self._sess.secret:
            # A token without the secret issued with it cannot sign anything.
            self._sess.drop(self._sess.token)
        await self._sess.async_ensure(self._clock, self._digest, self._login, backoff=LOGIN_BACKOFF)

    async def _login(self) -> None:
        tail = shinemonitor_query_tail(
            "auth", [("usr", self._username), ("company-key", self._company_key)]
        )
        salt = shinemonitor_salt(self._clock())
        sign = shinemonitor_auth_sign(salt, self._password, tail)
        async with self.quota.slot(E_AUTH):
            data = await self._get("auth", f"sign={sign}&salt={salt}{tail}")
        if not isinstance(data, Mapping):
            raise ProtocolError("auth: no result", code="shape")
        token, secret = text(data.get("token")), text(data.get("secret"))
        if not token or not secret:
            raise ProtocolError("auth: no token", code="no_token")
        lifetime = to_float(data.get("expire"))
        if lifetime is None or lifetime <= 0:
            raise ProtocolError("auth: no token lifetime", code="no_expire")
        self.logins += 1
        self._sess.token = token
        self._sess.secret = secret
        self._sess.account = text(data.get("uid"))
        # Renew a little before the cloud's own deadline (a tenth of the lifetime, at most 1 h).
        self._sess.expires = self._clock() + lifetime - min(HOUR, lifetime / 10)

    async def _get(self, action: str, query: str) -> Any:
        url = f"{self._server}/public/?{query}"
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("GET %s", redact_url(url))
        try:
            async with self._session.get(URL(url, encoded=True), timeout=self._timeout) as response:
                raw = (await response.read()).decode("utf-8", errors="replace")
                status = response.status
        # Not chained: client errors can print the whole URL, token included.
        except TimeoutError:
            raise TransientError(f"{action}: no answer in time", code="timeout") from None
        except aiohttp.ClientError as err:
            raise TransientError(f"{action}: {type(err).__name__}", code="network") from None
        if status >= 500:
            raise TransientError(f"{action}: HTTP {status}", code=f"http_{status}")
        try:
            body = json.loads(raw)
        except ValueError:
            _LOGGER.debug(
                "%s: reply is not JSON (HTTP %s): %.200s", action, status, redact_url(raw)
            )
            raise ProtocolError(
                f"{action}: reply is not JSON (HTTP {status})", code=status
            ) from None
        if not isinstance(body, Mapping) or "err" not in body:
            raise ProtocolError(f"{action}: unexpected reply (HTTP {status})", code=status)
        code = to_int(body.get("err"))
        if code == ERR_NONE:
            return body.get("dat")
        raise self._error(action, code, text(body.get("desc")))

    def _error(self, action: str, code: int | None, desc: str | None) -> SolarCloudError:
        if code not in (ERR_NO_RECORD, ERR_NO_WARNING, *_OFFLINE_CODES):
            self.errors[str(code)] += 1
            self.last_error = f"{action}: {code} {desc or ''}".strip()
        if code in _RENEW_CODES or (code == ERR_SIGN and action != "auth"):
            # A refused sign on a business call means the token and secret no longer match.
            return _TokenRejectedError(code or 0)
        if code in (ERR_NO_RECORD, ERR_NO_WARNING) or code in _OFFLINE_CODES:
            return _NoDataError(code or 0)
        if code in _AUTH_CODES:
            return AuthError(f"{action}: refused ({code})", code=code, vendor_message=desc)
        if code in _PERMISSION_CODES:
            return PermissionDeniedError(f"{action}: not permitted", code=code, vendor_message=desc)
        if code == ERR_OVER_LIMITED:
            self.quota.block(E_CALLS, OVER_LIMIT_BACKOFF)
            return RateLimitedError(
                f"{action}: over the call limit", retry_after=OVER_LIMIT_BACKOFF, code=code
            )
        if code in _TRANSIENT_CODES:
            return TransientError(f"{action}: cloud error ({code})", code=code)
        # 4 (sign), 5 (salt), 6 (format), 7 (missing parameter), 256 (no such action) and the
        # rest: the request itself was wrong.
        return ProtocolError(f"{action}: request refused ({code} {desc or ''})".strip(), code=code)

    async def _call(self, action: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        """A signed business call; a token the cloud no longer accepts is renewed once."""
        tail = shinemonitor_query_tail(action, params)
        for attempt in (1, 2):
            await self.async_login()
            token, secret = self._sess.token or "", self._sess.secret or ""
            salt = shinemonitor_salt(self._clock())
            sign = shinemonitor_sign(salt, secret, token, tail)
            self._check_held(action)
            try:
                # A large account waits for room in the minute's allowance rather than failing.
                async with self.quota.slot(E_CALLS, max_wait=WINDOW_WAIT):
                    return await self._get(action, f"sign={sign}&salt={salt}&token={token}{tail}")
            except _TokenRejectedError as err:
                self._sess.drop(token)
                if attempt == 2:
                    # The credentials were just accepted: not the user's to fix.
                    if err.code == str(ERR_SIGN):
                        raise ProtocolError(
                            f"{action}: sign refused ({err.code})", code=err.code
                        ) from err
                    raise TransientError(f"{action}: new token refused too", code=err.code) from err
        raise ProtocolError(f"{action}: gave up", code="retries")  # pragma: no cover

    def _check_held(self, action: str) -> None:
        """After an over-limit answer, calls are held until the pause ends: fail at once."""
        wait = self.quota.wait_time(E_CALLS)
        if wait > 0 and (self.quota.remaining(E_CALLS) or 0) > 0:
            raise RateLimitedError(
                f"{action}: pausing after the cloud's over-limit answer",
                retry_after=wait,
                code=ERR_OVER_LIMITED,
            )

    async def _optional_call(self, action: str, params: Sequence[tuple[str, str]]) -> Any:
        """A call whose "no record" / "offline" answer means no data (returns None)."""
        try:
            return await self._call(action, params)
        except _NoDataError:
            return None

    async def _pages(
        self, action: str, params: Sequence[tuple[str, str]], key: str, max_pages: int = 100
    ) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        for page in range(max_pages):
            data = await self._optional_call(
                action, [*params, ("page", str(page)), ("pagesize", str(PAGE_SIZE))]
            )
            if data is None:
                return rows
            if not isinstance(data, Mapping):
                raise ProtocolError(f"{action}: no result", code="shape")
            batch = [r for r in _rows(data.get(key)) if isinstance(r, Mapping)]
            rows.extend(batch)
            total = to_int(data.get("total"))
            if len(batch) < PAGE_SIZE or (total is not None and len(rows) >= total):
                return rows
        _LOGGER.warning("%s: more than %s entries; only the first are read", action, len(rows))
        return rows

    # -- inventory ----------------------------------------------------------------------------

    async def async_get_plants(self) -> list[Plant]:
        """Every plant of the account (all pages), with its details."""
        plants: list[Plant] = []
        for row in await self._pages("queryPlants", [], "plant"):
            plant_id = text(row.get("pid"))
            if plant_id is not None:
                plants.append(self._plant(plant_id, row))
        return [await self._with_details(plant) for plant in plants]

    def _plant(self, plant_id: str, row: Mapping[str, Any]) -> Plant:
        address = row.get("address")
        place = address if isinstance(address, Mapping) else {}
        seconds = to_int(place.get("timezone"))
        zone = self._zones.get(plant_id)
        if seconds is not None and abs(seconds) <= 14 * 3600:
            zone = self._zones[plant_id] = timezone(timedelta(seconds=seconds))
        street = ", ".join(
            p
            for key in ("address", "town", "city", "province", "country")
            if (p := text(place.get(key)))
        )
        return Plant(
            id=plant_id,
            name=text(row.get("name")) or text(row.get("pname")) or plant_id,
            address=street or None,
            latitude=to_float(place.get("lat")),
            longitude=to_float(place.get("lon")),
            capacity_kw=to_float(row.get("nominalPower")),
            grid_connection_date=parse_local(row.get("install"), zone),
            time_zone=None if zone is None else offset_label(zone),
        )

    async def _with_details(self, plant: Plant) -> Plant:
        """queryPlantInfo: the full address, the installed power and the UTC offset."""
        data = await self._optional_call("queryPlantInfo", [("plantid", plant.id)])
        if not isinstance(data, Mapping):
            return plant
        details = self._plant(plant.id, data)
        return replace(
            details,
            name=plant.name,
            address=details.address or plant.address,
            capacity_kw=(
                details.capacity_kw if details.capacity_kw is not None else plant.capacity_kw
            ),
        )

    async def async_get_devices(self, plants: Sequence[Plant]) -> list[Device]:
        """The devices under each plant's dataloggers (queryPlantDeviceStatus)."""
        devices: list[Device] = []
        for plant in plants:
            try:
                data = await self._optional_call("queryPlantDeviceStatus", [("plantid", plant.id)])
            except ProtocolError as err:
                if err.code != str(ERR_NO_PLANT):
                    raise
                continue  # removed from the account since the plant list was read
            collectors = data.get("collector") if isinstance(data, Mapping) else None
            for collector in _rows(collectors):
                if not isinstance(collector, Mapping) or not (pn := text(collector.get("pn"))):
                    continue
                for row in _rows(collector.get("device")):
                    if isinstance(row, Mapping) and (device := self._device(plant, pn, row)):
                        devices.append(device)
        return devices

    def _device(self, plant: Plant, pn: str, row: Mapping[str, Any]) -> Device | None:
        devcode, devaddr, sn = to_int(row.get("devcode")), to_int(row.get("devaddr")), row.get("sn")
        serial = text(sn)
        if devcode is None or devaddr is None or serial is None:
            return None
        self._addresses[serial] = DeviceAddress(pn, devcode, devaddr, serial)
        self._gone.discard(serial)
        kind = device_kind(devcode)
        return Device(
            id=serial,
            plant_id=plant.id,
            name=text(row.get("alias")) or serial,
            kind=kind,
            type_code=str(devcode),
            model=f"Protocol {devcode}",
            serial_number=serial,
        )

    # -- real-time ----------------------------------------------------------------------------

    async def async_get_realtime(
        self, plants: Sequence[Plant], devices: Sequence[Device]
    ) -> dict[str, RealtimeData]:
        """Device statuses (256 devices a call), each plant's figures, each device's last data."""
        result: dict[str, RealtimeData] = {plant.id: RealtimeData() for plant in plants}
        for plant in plants:
            # Plants remembered from an earlier run carry their offset as a label.
            if plant.id not in self._zones and (zone := parse_offset(plant.time_zone)):
                self._zones[plant.id] = zone
        # After a restart the device list comes from memory, without the cloud addresses.
        unaddressed = {
            d.plant_id for d in devices if d.id not in self._addresses and d.id not in self._gone
        }
        if unaddressed:
            await self.async_get_devices([p for p in plants if p.id in unaddressed])
        known = [d for d in devices if d.id in self._addresses and d.plant_id in result]
        statuses = await self._statuses(known)
        for plant in plants:
            await self._plant_figures(plant, result[plant.id])
        for device in known:
            if device.id not in self._addresses:
                continue
            target = result[device.plant_id]
            readings = await self._device_readings(device, statuses.get(device.id))
            target.devices[device.id] = readings
        for plant_id, realtime in result.items():
            states = [r.online for r in realtime.devices.values() if r.online is not None]
            if states:
                realtime.online = any(states)
                if not realtime.online:
                    # No device reports: the plant's "current" power is an old figure.
                    realtime.plant["pv_power"] = None
            stamps = [
                stamp
                for r in realtime.devices.values()
                if isinstance(stamp := r.values.get("last_data_time"), datetime)
            ]
            if stamps:
                realtime.data_time = max(stamps)
            self._fill_plant(plant_id, realtime)
        return result

    async def _statuses(self, devices: Sequence[Device]) -> dict[str, int]:
        statuses: dict[str, int] = {}
        for batch in chunks(devices, DEVICES_PER_CALL):
            addresses = [self._addresses[d.id] for d in batch]
            try:
                data = await self._optional_call(
                    "queryDeviceStatus", [("device", ";".join(a.tuple_text() for a in addresses))]
                )
            except ProtocolError as err:
                if err.code != str(ERR_NO_DEVICE):
                    raise
                # One device of the batch is gone and the cloud fails the whole call: ask each
                # plant for its tree instead (its devices' statuses come with it).
                statuses.update(await self._plant_statuses(batch))
                continue
            for row in _rows(data.get("device") if isinstance(data, Mapping) else None):
                if isinstance(row, Mapping) and (serial := text(row.get("sn"))) is not None:
                    status = to_int(row.get("status"))
                    if status is not None:
                        statuses[serial] = status
        return statuses

    async def _plant_statuses(self, devices: Sequence[Device]) -> dict[str, int]:
        statuses: dict[str, int] = {}
        for plant_id in sorted({d.plant_id for d in devices}):
            try:
                data = await self._optional_call("queryPlantDeviceStatus", [("plantid", plant_id)])
            except ProtocolError as err:
                if err.code != str(ERR_NO_PLANT):
                    raise
                data = None  # the plant is gone, and its devices with it
            listed: set[str] = set()
            for collector in _rows(data.get("collector") if isinstance(data, Mapping) else None):
                if not isinstance(collector, Mapping):
                    continue
                for row in _rows(collector.get("device")):
                    serial = text(row.get("sn")) if isinstance(row, Mapping) else None
                    if serial is None:
                        continue
                    listed.add(serial)
                    if (status := to_int(row.get("status"))) is not None:
                        statuses[serial] = status
            for device in devices:
                if device.plant_id == plant_id and device.id not in listed:
                    # Gone from the cloud: skipped until the device list is read again.
                    self._addresses.pop(device.id, None)
                    self._gone.add(device.id)
        return statuses

    async def _plant_figures(self, plant: Plant, target: RealtimeData) -> None:
        try:
            await self._plant_queries(plant, target)
        except ProtocolError as err:
            if err.code != str(ERR_NO_PLANT):
                raise
            # Removed from the account: it drops out when the plant list is read again.
            _LOGGER.debug("Plant %s is no longer in the cloud", plant.id)

    async def _plant_queries(self, plant: Plant, target: RealtimeData) -> None:
        if self._power_only.get(plant.id, 0.0) <= self._clock():
            try:
                data = await self._optional_call(
                    "queryPlantCurrentData",
                    [("plantid", plant.id), ("par", ",".join(_PLANT_PARS))],
                )
            except ProtocolError as err:
                if err.code != str(ERR_FORMAT):
                    raise
                # Some plants refuse this query: use the power query for a while.
                _LOGGER.debug("Plant %s has no current data; using its power only", plant.id)
                self._power_only[plant.id] = self._clock() + POWER_ONLY_PERIOD
            else:
                for row in _rows(data):
                    if not isinstance(row, Mapping):
                        continue
                    found = _PLANT_KEYS.get(str(row.get("key")))
                    if found is not None:
                        number = to_float(row.get("val"))
                        key, factor = found
                        target.plant[key] = None if number is None else round(number * factor, 3)
                if target.plant.get("pv_power") is not None:
                    return
        data = await self._optional_call(
            "queryPlantActiveOuputPowerCurrent", [("plantid", plant.id)]
        )
        if isinstance(data, Mapping):
            power = to_float(data.get("outputPower"))
            target.plant["pv_power"] = None if power is None else round(power * 1000, 3)
            target.data_time = parse_local(data.get("ts"), self._zones.get(plant.id))

    async def _device_readings(self, device: Device, status: int | None) -> DeviceReadings:
        address = self._addresses[device.id]
        zone = self._zones.get(device.plant_id)
        known = STATUS.get(status) if status is not None else None
        online, state, fault = known if known is not None else (None, None, None)
        # Field names are matched in English whatever the user's language.
        params = [*address.params(), ("i18n", LANGUAGE)]
        values: dict[str, Reading] = {}
        stamp: str | None = None
        try:
            if device.kind is DeviceKind.ENERGY_STORAGE:
                data = await self._call("querySPDeviceLastData", [*params, ("source", "1")])
                if isinstance(data, Mapping):
                    groups = data.get("pars")
                    values = map_storage_groups(groups if isinstance(groups, Mapping) else {})
                    stamp = text(data.get("gts"))
            else:
                rows = await self._call("queryDeviceLastData", params)
                if isinstance(rows, list):
                    values, stamp = map_inverter_rows(rows)
        except _NoDataError as err:
            if err.code in (str(ERR_DEVICE_OFFLINE), str(ERR_COLLECTOR_OFFLINE)):
                # Offline is a state, not a failure.
                return DeviceReadings(
                    values={"inverter_status": "offline", "fault_status": fault}, online=False
                )
            # No record yet: the device has never reported.
            return DeviceReadings(values={"inverter_status": state}, online=online)
        measured = parse_local(stamp, zone)
        values["last_data_time"] = measured
        if fault is not None:
            values["fault_status"] = fault
        if state is not None and values.get("inverter_status") in (None, "unknown"):
            values["inverter_status"] = state
        if measured is not None and self._clock() - measured.timestamp() > STALE_AFTER:
            # Old data: the device stopped reporting; its last readings are not "now".
            for key in values:
                if _is_momentary(key):
                    values[key] = None
            return DeviceReadings(values=values, online=False)
        return DeviceReadings(values=values, online=online if online is not None else True)

    def _fill_plant(self, plant_id: str, realtime: RealtimeData) -> None:
        """Plant figures the plant query lacks, from its devices."""
        storage = [
            r.values
            for device_id, r in realtime.devices.items()
            if (address := self._addresses.get(device_id)) is not None
            and device_kind(address.devcode) is DeviceKind.ENERGY_STORAGE
        ]
        for key in (
            "load_power",
            "grid_import_power",
            "battery_power",
            "battery_charge_power",
            "battery_discharge_power",
        ):
            numbers = [n for v in storage if isinstance(n := v.get(key), int | float)]
            if numbers:
                realtime.plant[key] = round(float(sum(numbers)), 3)
        if "battery_soc" not in realtime.plant or realtime.plant["battery_soc"] is None:
            socs = [s for v in storage if isinstance(s := v.get("battery_soc"), int | float)]
            if socs:
                realtime.plant["battery_soc"] = round(sum(socs) / len(socs), 1)

    # -- alarms -------------------------------------------------------------------------------

    async def async_get_alarms(self, plants: Sequence[Plant]) -> dict[str, list[Alarm]]:
        """Unhandled warnings of the whole account (one paged query), by plant."""
        wanted = {plant.id for plant in plants}
        result: dict[str, list[Alarm]] = {plant_id: [] for plant_id in wanted}
        rows = await self._pages(
            "queryPlantsWarning",
            [("i18n", self.language), ("handle", "false")],
            "warning",
            MAX_WARNING_PAGES,
        )
        for row in rows:
            plant_id = text(row.get("pid"))
            if plant_id in result:
                result[plant_id].append(self._alarm(plant_id, row))
        return result

    def _alarm(self, plant_id: str, row: Mapping[str, Any]) -> Alarm:
        code = text(row.get("code")) or "?"
        serial = text(row.get("sn"))
        level = to_int(row.get("level"))
        return Alarm(
            id=text(row.get("id")) or f"{serial}:{code}:{text(row.get('gts')) or ''}",
            plant_id=plant_id,
            name=text(row.get("desc")) or f"Warning {code}",
            severity=_SEVERITIES.get(level, AlarmSeverity.WARNING) if level is not None else None,
            raised_at=parse_local(row.get("gts"), UTC),
            device_serial_number=serial,
            device_id=serial if serial in self._addresses else None,
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
            "power_only_plants": sorted(
                p for p, until in self._power_only.items() if until > self._clock()
            ),
            "quota": self.quota.snapshot(),
        }


def _is_momentary(key: str) -> bool:
    """A reading of the moment (power, voltage, SOC…), as opposed to a counter or a state."""
    metric = get_metric(key)
    return (
        metric is not None
        and metric.accumulation is Accumulation.INSTANT
        and metric.quantity not in (Quantity.ENUM, Quantity.TIMESTAMP)
    )


def _rows(value: object) -> list[Any]:
    """A list from the reply, or nothing when the cloud sent something else."""
    return value if isinstance(value, list) else []


class _TokenRejectedError(SolarCloudError):
    """10 / 270: the token expired or the cloud no longer knows it."""

    def __init__(self, code: int) -> None:
        super().__init__("token rejected", code=code)


class _NoDataError(SolarCloudError):
    """12 (no record), 262 / 263 (device or datalogger offline), 264 (no warnings)."""

    def __init__(self, code: int) -> None:
        super().__init__("no data", code=code)
