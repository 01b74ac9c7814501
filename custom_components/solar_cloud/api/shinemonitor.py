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

Hourly history (``async_get_energy_days``) is PV only: each plant's active-power curve of a
day (``queryPlantActiveOuputPowerOneDay``, kW at local time) turned into energy per UTC hour and
scaled to the day's energy (``queryPlantEnergyDay``). It spends a share of the minute allowance
that the live polls are sized without (see ``history_plan``) and never waits for room.

Controls exist on energy-storage inverters only. ``queryDeviceCtrlField`` lists a devcode's
fields (cached per devcode); the battery-relevant ones are matched by name and offered as
selects (output and charger source priority) and numbers (charge currents, battery cut-off
voltage and SOC). A number's range comes from the field's ``hint`` only when the live value
(``queryDeviceCtrlValue``) lies inside it and, for voltages, when it fits the battery's nominal
voltage (12, 24 or 48 V, from the live battery voltage); otherwise a narrow range around the live
value is offered and the reason noted. One-shot commands (reset, clear records, output off, boot,
forced equalisation, exit fault mode) are never offered. ``ctrlDevice`` answers synchronously
with ``status`` -1 (not processed yet), 0 (delivered) or 1 (refused by the device); a write
succeeds only once ``queryDeviceCtrlValue`` reads the written value back. The platform has no
forced charge or discharge command: a forced charge switches the charger source priority to
utility first (a forced discharge the output source priority to SBU) and the stop writes the
previous value back; the caller ends it after its duration or at its target SOC.
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
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from .controls import (
    BATTERY_DISCHARGE_CUTOFF_SOC,
    FORCE_CHARGE,
    FORCE_DISCHARGE,
    STOP_FORCED_CHARGE,
    ControlKind,
    ControlSpec,
    ControlTask,
    ForceRequest,
    TaskState,
    TouWindow,
)
from .crypto import (
    shinemonitor_auth_sign,
    shinemonitor_query_tail,
    shinemonitor_salt,
    shinemonitor_sign,
)
from .errors import (
    AuthError,
    CommandRejectedError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    SolarCloudError,
    TransientError,
)
from .history import (
    TRAILING_DAYS,
    EnergyDay,
    Flow,
    HistoryPlan,
    day_bounds,
    energy_from_power,
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
# Hourly history (see ``history_plan``): a daily share and a per-minute carve of E_CALLS.
E_HISTORY: Final = "history"
E_HISTORY_RATE: Final = "history_rate"
# Calls a minute kept out of the live polls' reach for history (the live plan counts without
# them), so that history never makes a live round wait longer than ``plan()`` expects.
HISTORY_CALLS_PER_MINUTE: Final = 6
LIVE_CALLS_PER_MINUTE: Final = CALLS_PER_MINUTE - HISTORY_CALLS_PER_MINUTE
# A plant-day costs two calls: its active-power curve and its day total.
HISTORY_CALLS_PER_READ: Final = 2
# Share of the minute allowance over a day that the live polls may count on (the rest covers
# logins, controls, retries and list refreshes beyond the estimate).
LIVE_HEADROOM: Final = 0.9
# Devices a plant is assumed to have while its device list is unknown (a grid-tie and a storage
# inverter, the usual Eybond datalogger set-up).
DEVICES_PER_PLANT_GUESS: Final = 2
# At least this many history calls a day, even for an account whose live polls fill the budget.
HISTORY_MIN_CALLS_PER_DAY: Final = 48
# The documents say nothing on how long the cloud keeps a plant's day curve; a day it no longer
# has answers 12 (no record), which costs one call and leaves the day empty.
HISTORY_KEEPS_DAYS: Final = 366
# Dataloggers upload every 60 or 300 s and send what they buffered after a network outage.
HISTORY_SETTLE: Final = 3 * HOUR
# Samples of the day curve further apart than this leave the time between them out.
CURVE_MAX_GAP: Final = timedelta(minutes=20)
# A curve whose largest value exceeds this many times the plant's capacity is in W, not kW.
WATT_CURVE_FACTOR: Final = 20.0

# Codes (decimal on the wire).
ERR_NONE: Final = 0
ERR_FAIL: Final = 1
ERR_TIMEOUT: Final = 2
ERR_SIGN: Final = 4
ERR_FORMAT: Final = 6
ERR_MISSING: Final = 7
ERR_UNSUPPORTED: Final = 9
ERR_NO_AUTH: Final = 10
ERR_NO_RECORD: Final = 12
ERR_OVER_LIMITED: Final = 13
ERR_DUPLICATE: Final = 14
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


def parse_power_curve(data: object, zone: tzinfo) -> list[tuple[datetime, float]]:
    """A day's active-power curve ``[{val, ts}]`` as (UTC time, kW), in time order.

    ``ts`` is the plant's local time. Where ``zone`` has a daylight-saving change, the hour
    that repeats in autumn is told apart by the order of the samples: a local time that goes
    back is the second pass (``fold=1``). Samples without a number or a time are left out; a
    reply that is not a list (or an object holding one) is a ProtocolError.
    """
    rows: object = data
    if isinstance(data, Mapping):
        rows = next(
            (v for key in ("outputPower", "power", "data") if isinstance(v := data.get(key), list)),
            next((v for v in data.values() if isinstance(v, list)), None),
        )
    if not isinstance(rows, list):
        raise ProtocolError("queryPlantActiveOuputPowerOneDay: no curve", code="shape")
    samples: dict[datetime, float] = {}
    previous: datetime | None = None
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        kw = to_float(row.get("val"))
        raw = text(row.get("ts"))
        if kw is None or raw is None:
            continue
        try:
            naive = datetime.fromisoformat(raw.replace(" ", "T")).replace(tzinfo=None)
        except ValueError:
            continue
        moment = naive.replace(tzinfo=zone).astimezone(UTC)
        if previous is not None and moment <= previous:
            later = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
            if later > previous:
                moment = later
        previous = moment
        samples[moment] = kw
    return sorted(samples.items())


# -- controls ---------------------------------------------------------------------------------

# ctrlDevice answers at once; a command the device has not processed yet (status -1) is followed
# by reading the value back every 10 s for a minute.
CONTROL_POLL_INTERVAL: Final = 10.0
CONTROL_TIMEOUT: Final = 60.0
# A devcode's control fields change with the cloud's protocol tables only.
CONTROL_FIELDS_TTL: Final = DAY
# ctrlDevice dat.status.
CTRL_NOT_PROCESSED: Final = -1
CTRL_DELIVERED: Final = 0
CTRL_FAILED: Final = 1
# ctrlDevice errors that refuse the command itself (besides 8 / 11 permission, 13 rate).
_COMMAND_REFUSALS: Final = frozenset(
    {
        ERR_FAIL,
        ERR_FORMAT,
        ERR_MISSING,
        ERR_UNSUPPORTED,
        ERR_NO_RECORD,
        ERR_DUPLICATE,
        ERR_NO_DEVICE,
        ERR_DEVICE_OFFLINE,
        ERR_COLLECTOR_OFFLINE,
    }
)

# Control keys of this vendor (beside the shared BATTERY_DISCHARGE_CUTOFF_SOC).
OUTPUT_SOURCE_PRIORITY: Final = "output_source_priority"
CHARGER_SOURCE_PRIORITY: Final = "charger_source_priority"
BATTERY_MAX_CHARGE_CURRENT: Final = "battery_max_charge_current"
BATTERY_MAX_AC_CHARGE_CURRENT: Final = "battery_max_ac_charge_current"
BATTERY_CUTOFF_VOLTAGE: Final = "battery_cutoff_voltage"

# Option labels (normalised) -> stable option keys. Labels not listed become a snake_case key.
_OUTPUT_OPTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "uti": "utility_first",
        "utility": "utility_first",
        "utility first": "utility_first",
        "usb": "utility_solar_battery",
        "sol": "solar_first",
        "solar": "solar_first",
        "solar first": "solar_first",
        "sbu": "solar_battery_utility",
        "sbu first": "solar_battery_utility",
        "sbu priority": "solar_battery_utility",
        "solar battery utility": "solar_battery_utility",
        "sub": "solar_utility_battery",
        "sub first": "solar_utility_battery",
        "sub priority": "solar_utility_battery",
        "solar utility battery": "solar_utility_battery",
    }
)
_CHARGER_OPTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "cub": "utility_first",
        "utility": "utility_first",
        "utility first": "utility_first",
        "utility priority": "utility_first",
        "cso": "pv_first",
        "pv first": "pv_first",
        "pv priority": "pv_first",
        "solar first": "pv_first",
        "solar priority": "pv_first",
        "snu": "pv_and_utility",
        "pv is at the same level as utility": "pv_and_utility",
        "pv and utility": "pv_and_utility",
        "solar and utility": "pv_and_utility",
        "solar and mains": "pv_and_utility",
        "solar utility": "pv_and_utility",
        "oso": "pv_only",
        "only pv": "pv_only",
        "pv only": "pv_only",
        "only solar": "pv_only",
        "solar only": "pv_only",
    }
)
_NO_OPTIONS: Final[Mapping[str, str]] = MappingProxyType({})
# What the cloud sends for a value it does not know.
_NO_VALUE: Final = frozenset({"-", "--", "N/A", "NA", "NULL", "NONE"})


@dataclass(frozen=True, slots=True)
class _ControlRule:
    """A battery control: its key, kind, unit, the field names it matches and its options."""

    key: str
    kind: ControlKind
    unit: str | None
    names: re.Pattern[str]
    options: Mapping[str, str] = _NO_OPTIONS


# Field names are matched after normalise_title ("Max.AC.Charging Current" -> "max ac charging
# current").
_RULES: Final = (
    _ControlRule(
        OUTPUT_SOURCE_PRIORITY,
        ControlKind.SELECT,
        None,
        re.compile(r"output (?:source )?priority(?: rating| setting)?"),
        _OUTPUT_OPTIONS,
    ),
    _ControlRule(
        CHARGER_SOURCE_PRIORITY,
        ControlKind.SELECT,
        None,
        re.compile(r"charger? (?:source )?priority(?: setting)?|charging source priority"),
        _CHARGER_OPTIONS,
    ),
    _ControlRule(
        BATTERY_MAX_CHARGE_CURRENT,
        ControlKind.NUMBER,
        "A",
        re.compile(r"max(?:imum)? (?:total )?charg(?:e|ing) current"),
    ),
    _ControlRule(
        BATTERY_MAX_AC_CHARGE_CURRENT,
        ControlKind.NUMBER,
        "A",
        re.compile(r"max(?:imum)? (?:ac|utility|grid|mains) charg(?:e|ing) current"),
    ),
    _ControlRule(
        BATTERY_CUTOFF_VOLTAGE,
        ControlKind.NUMBER,
        "V",
        re.compile(
            r"(?:battery )?cut ?off voltage"
            r"|(?:battery )?low dc (?:protection|cut ?off) voltage (?:in )?(?:off grid|battery)"
            r"(?: mode)?"
        ),
    ),
    _ControlRule(
        BATTERY_DISCHARGE_CUTOFF_SOC,
        ControlKind.NUMBER,
        "%",
        re.compile(
            r"(?:off grid(?: mode)? )?(?:battery )?discharge"
            r" (?:soc protection|cut ?off soc|protection soc)(?: value)?"
            r"|(?:battery )?cut ?off soc"
            r"|low dc (?:protection|cut ?off) soc (?:in )?(?:off grid|battery)(?: mode)?"
        ),
    ),
)
# Commands that act once (or switch the output off) rather than set a value: never offered.
_ONE_SHOT_RE: Final = re.compile(
    r"\b(?:reset|clear|restore|factory|boot|forced?|exit fault|output control|on off"
    r"|shut ?down|power (?:on|off)|reboot|delete)\b"
)
_RANGE_RE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*[~\-]\s*(\d+(?:\.\d+)?)")
_LEADING_NUMBER_RE: Final = re.compile(r"\s*(-?\d+(?:\.\d+)?)")
# Decimals a value is written with, per unit.
_DECIMALS: Final[Mapping[str, int]] = MappingProxyType({"V": 1, "A": 0, "%": 0})
NOMINAL_VOLTAGES: Final = (12, 24, 48)


@dataclass(frozen=True, slots=True)
class _ControlMeta:
    """How one offered control maps onto its vendor field."""

    field_id: str
    kind: ControlKind
    unit: str | None = None
    decimals: int = 0
    # Select: option key -> item key, and normalised item label -> option key.
    options: Mapping[str, str] = _NO_OPTIONS
    labels: Mapping[str, str] = _NO_OPTIONS
    # A number whose field lists its allowed values: item key -> value.
    choices: Mapping[str, float] = MappingProxyType({})


def parse_hint_ranges(hint: object) -> list[tuple[float, float]]:
    """Every ``low~high`` range of a hint, each put in order.

    ``"25.0~80A"`` -> [(25, 80)]; ``"54.4~48.0V"`` -> [(48, 54.4)]; ``"0-900min"`` -> [(0, 900)];
    ``"21.0~24.0V 42.0~48.0V"`` (one range per battery voltage) -> both.
    """
    ranges: list[tuple[float, float]] = []
    for first, second in _RANGE_RE.findall(str(hint or "")):
        low, high = float(first), float(second)
        ranges.append((min(low, high), max(low, high)))
    return ranges


def nominal_voltage(battery_voltage: float | None) -> int | None:
    """The battery's nominal voltage (12, 24 or 48 V) from its live voltage."""
    if battery_voltage is None:
        return None
    for nominal in NOMINAL_VOLTAGES:
        if 0.75 * nominal <= battery_voltage <= 1.4 * nominal:
            return nominal
    return None


def voltage_window(nominal: int) -> tuple[float, float]:
    """Voltages a setting of a ``nominal`` V battery may take: 10.0–15.5 V per 12 V block."""
    return round(nominal * 10.0 / 12.0, 1), round(nominal * 15.5 / 12.0, 1)


def option_key(label: str) -> str:
    """A stable snake_case option key from a label the cloud sent."""
    return _WORDS_RE.sub("_", label.lower()).strip("_")


def is_one_shot(item: Mapping[str, Any]) -> bool:
    """A command that acts once (reset, clear, boot…) or a field with a single choice."""
    choices = item.get("item")
    if isinstance(choices, list) and len(choices) == 1:
        return True
    return _ONE_SHOT_RE.search(normalise_title(item.get("name"))) is not None


def match_rule(item: Mapping[str, Any]) -> _ControlRule | None:
    """The battery control a field is, or None (other settings and one-shots)."""
    if is_one_shot(item):
        return None
    name = normalise_title(item.get("name"))
    return next((rule for rule in _RULES if rule.names.fullmatch(name)), None)


def control_range(
    unit: str, hint: str | None, live: float, nominal: int | None
) -> tuple[float, float, str | None] | None:
    """(minimum, maximum, why the hint was not used) of a number control, or None when the live
    value itself does not fit the battery.

    The hint counts only when the live value lies inside it and, for voltages, inside the window
    of the battery's nominal voltage (the hint is cut to that window; of hints with one range
    per battery voltage, the fitting one is taken). Otherwise the range is a narrow band around
    the live value: ±1/24 of the nominal voltage, ±10 A, ±20 % (within 5–95 %).
    """
    decimals = _DECIMALS.get(unit, 1)
    window = voltage_window(nominal) if unit == "V" and nominal is not None else None
    if window is not None and not window[0] <= live <= window[1]:
        return None
    ranges = parse_hint_ranges(hint)
    if not ranges:
        why = "no range hint"
    elif unit == "V" and window is None:
        why = "battery voltage unknown, so the hint cannot be checked"
    else:
        fitting: list[tuple[float, float]] = []
        for first, last in ranges:
            low, high = (
                (first, last) if window is None else (max(first, window[0]), min(last, window[1]))
            )
            if low < high:
                fitting.append((low, high))
        inside = [(low, high) for low, high in fitting if low <= live <= high]
        if inside:
            low, high = inside[0]
            return round(low, decimals), round(high, decimals), None
        if not fitting:
            why = f"hint {hint!r} does not fit a {nominal} V battery"
        else:
            why = f"the current value {live:g} {unit} is outside the hint {hint!r}"
    if unit == "V":
        margin = (nominal or 12) / 24.0
        bounds = window or (0.0, math.inf)
    elif unit == "%":
        margin, bounds = 20.0, (5.0, 95.0)
    else:
        margin, bounds = 10.0, (0.0, math.inf)
    low = min(max(live - margin, bounds[0]), live)
    high = max(min(live + margin, bounds[1]), live)
    low, high = round(low, decimals), round(high, decimals)
    return low, high, f"{why}; offered {low:g}–{high:g} {unit} around the current value"


def build_meta(rule: _ControlRule, item: Mapping[str, Any]) -> tuple[_ControlMeta | None, str]:
    """How a matched field is written and read, or (None, why it cannot be offered)."""
    field_id = text(item.get("id"))
    if field_id is None:
        return None, "the field has no id"
    items = [
        (key, text(entry.get("val")) or "")
        for entry in _rows(item.get("item"))
        if isinstance(entry, Mapping) and (key := text(entry.get("key"))) is not None
    ]
    if rule.kind is ControlKind.SELECT:
        if len(items) < 2:
            return None, "the field lists no choices"
        options: dict[str, str] = {}
        labels: dict[str, str] = {}
        for key, label in items:
            name = normalise_title(label)
            option = rule.options.get(name) or option_key(label) or f"option_{option_key(key)}"
            if option in options:
                option = f"{option}_{option_key(key)}"
            options[option] = key
            labels.setdefault(name, option)
        return _ControlMeta(
            field_id,
            ControlKind.SELECT,
            options=MappingProxyType(options),
            labels=MappingProxyType(labels),
        ), ""
    unit = rule.unit or ""
    field_unit = text(item.get("unit"))
    # Some devcodes put a hint where the unit belongs ("25.0~31.5(24V) 48.0~61.0(48V)").
    if (
        field_unit is not None
        and not any(c.isdigit() for c in field_unit)
        and field_unit.lower() != unit.lower()
    ):
        return None, f"the field's unit is {field_unit!r}, not {unit}"
    choices: dict[str, float] = {}
    for key, label in items:
        match = _LEADING_NUMBER_RE.match(label) or _LEADING_NUMBER_RE.match(key)
        if match is None:
            return None, "the field's choices are not numbers"
        choices[key] = float(match.group(1))
    return _ControlMeta(
        field_id,
        ControlKind.NUMBER,
        unit=unit,
        decimals=_DECIMALS.get(unit, 1),
        choices=MappingProxyType(choices),
    ), ""


def reply_text(reply: object) -> str:
    """The device's raw reply (hex bytes) as text: ``"28 41 43 4B 39 20 0D"`` -> ``"(ACK9"``."""
    raw = text(reply)
    if raw is None:
        return ""
    try:
        decoded = bytes.fromhex(raw.replace(" ", "")).decode("latin-1")
    except ValueError:
        return raw
    return "".join(c for c in decoded if c.isprintable()).strip() or raw


def _note(reasons: dict[str, str], key: str, device_id: str, reason: str) -> None:
    """Record why a control is not offered; a second device with the same key gets its own."""
    reasons[key if key not in reasons else f"{key}@{device_id}"] = reason


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
    # No forced charge or discharge on this platform.
    force_limits_native: bool = False

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
        # Serial numbers of each plant's devices as last listed (sizes the history share).
        self._plant_devices: dict[str, set[str]] = {}
        # Devices the cloud no longer lists (until it lists them again).
        self._gone: set[str] = set()
        # Plants whose cloud refuses queryPlantCurrentData: their power comes from
        # queryPlantActiveOuputPowerCurrent instead.
        self._power_only: dict[str, float] = {}
        self.logins = 0
        self.last_error: str | None = None
        self.errors: Counter[str] = Counter()
        # Controls: field lists per devcode (fetched at, fields, why none), field mappings per
        # (device id, control key), and the write in flight per datalogger.
        self._ctrl_schema: dict[int, tuple[float, list[Mapping[str, Any]] | None, str]] = {}
        self._ctrl_meta: dict[tuple[str, str], _ControlMeta] = {}
        self._ctrl_specs: dict[str, list[ControlSpec]] = {}
        # (plant, device, control key) -> the option a forced charge or discharge replaced.
        self._force_restore: dict[tuple[str, str, str], str] = {}
        self._inflight: dict[str, ControlTask] = {}
        self._task_seq = 0
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
        # The minute's allowance less the calls carved out for history.
        rounds = math.ceil(self.calls_per_round(plants, devices) / LIVE_CALLS_PER_MINUTE)
        waits = max(0, rounds - 1)
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
            return _NoDataError(code or 0, desc)
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
            return TransientError(f"{action}: cloud error ({code})", code=code, vendor_message=desc)
        # 4 (sign), 5 (salt), 6 (format), 7 (missing parameter), 256 (no such action) and the
        # rest: the request itself was wrong.
        return ProtocolError(
            f"{action}: request refused ({code} {desc or ''})".strip(),
            code=code,
            vendor_message=desc,
        )

    async def _call(
        self,
        action: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        max_wait: float = WINDOW_WAIT,
    ) -> Any:
        """A signed business call; a token the cloud no longer accepts is renewed once.

        ``max_wait``: how long the call may wait for room in the minute's allowance.
        """
        tail = shinemonitor_query_tail(action, params)
        for attempt in (1, 2):
            await self.async_login()
            token, secret = self._sess.token or "", self._sess.secret or ""
            salt = shinemonitor_salt(self._clock())
            sign = shinemonitor_sign(salt, secret, token, tail)
            self._check_held(action)
            try:
                # A large account waits for room in the minute's allowance rather than failing.
                async with self.quota.slot(E_CALLS, max_wait=max_wait):
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
        self._plant_devices.setdefault(plant.id, set()).add(serial)
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

    # -- history ------------------------------------------------------------------------------

    def _live_calls_per_day(self, plants: Sequence[Plant]) -> float:
        """What the live polls of ``plan()`` spend in a day for these plants (an estimate)."""
        devices = 0
        for plant in plants:
            known = self._plant_devices.get(plant.id)
            devices += DEVICES_PER_PLANT_GUESS if known is None else len(known)
        count = len(plants)
        # Rounds start 5 minutes apart whatever their size (see plan()).
        rounds = DAY / REALTIME_PERIOD * (math.ceil(devices / DEVICES_PER_CALL) + count + devices)
        alarms = DAY / ALARM_PERIOD  # one page of warnings a time, as a rule
        # Plant list (pages of 50) with each plant's details, and each plant's device tree.
        lists = DAY / (DAY / 4) * (math.ceil(count / PAGE_SIZE) + 2 * count)
        return rounds + alarms + lists

    def history_plan(self, plants: Sequence[Plant]) -> HistoryPlan:
        """Size the history share of the call budget for these plants.

        The vendor documents no call rate (the "Call frequency" heading of its API Help page is
        empty), so the budget is this client's own: ``CALLS_PER_MINUTE`` (240) calls a minute,
        345,600 a day. History gets ``HISTORY_CALLS_PER_MINUTE`` (6) of each minute, which
        ``plan()`` leaves out when it sizes the live rounds (234 a minute), so history never
        makes a live round wait for room. Over a day that is at most 8,640 calls, less when the
        live polls (a round of statuses, plant figures and device data every 5 minutes, the
        warnings every 10 minutes, the lists every 6 hours) leave less than that of 90 % of the
        day's allowance; never less than 48.

        A read is one plant-day (the day curve takes one ``plantid``, so ``batch`` is 1) and
        costs 2 calls: ``queryPlantActiveOuputPowerOneDay`` and ``queryPlantEnergyDay``.
        ``refresh`` is the shortest whole number of hours (at least 1) whose recurring reads,
        per plant ceil(24 h / refresh) + 2 (a day's end and its settling) + 3 (corrections of
        the last days), take at most 80 % of the reads; the rest is ``deep_reads_per_day``.
        With the 8,640 calls (4,320 reads): 1 plant 1 h and 4,291 deep reads, 10 plants 1 h
        and 4,030, 100 plants 1 h and 1,420, 250 plants 3 h and 1,070.

        The documents give no retention for the day curve: ``keeps_days`` is 366, and a day
        the cloud no longer holds answers 12 (no record) at the cost of one call. Dataloggers
        upload every 1 or 5 minutes and send what they buffered after an outage: a day is taken
        as settled 3 hours after its end.
        """
        capacity = CALLS_PER_MINUTE * DAY / 60.0
        spare = LIVE_HEADROOM * capacity - self._live_calls_per_day(plants)
        calls = int(
            min(HISTORY_CALLS_PER_MINUTE * DAY / 60.0, max(HISTORY_MIN_CALLS_PER_DAY, spare))
        )
        self.quota.set_allowance(E_HISTORY, Allowance(calls, DAY))
        self.quota.set_allowance(E_HISTORY_RATE, Allowance(HISTORY_CALLS_PER_MINUTE, 60.0))
        reads = calls // HISTORY_CALLS_PER_READ
        groups = len(plants)
        refresh = DAY
        for hours in (1, 2, 3, 4, 6, 8, 12, 24):
            if groups * (math.ceil(24 / hours) + 2 + TRAILING_DAYS) <= 0.8 * reads:
                refresh = hours * HOUR
                break
        recurring = groups * (math.ceil(DAY / refresh) + 2 + TRAILING_DAYS)
        return HistoryPlan(
            refresh=refresh,
            batch=1,
            keeps_days=HISTORY_KEEPS_DAYS,
            settle=HISTORY_SETTLE,
            deep_reads_per_day=max(1, reads - recurring),
        )

    def _history_room(self) -> None:
        """RateLimitedError unless one plant-day (2 calls) can be read now without waiting."""
        waits = {
            endpoint: self.quota.wait_time(endpoint, HISTORY_CALLS_PER_READ)
            for endpoint in (E_HISTORY, E_HISTORY_RATE, E_CALLS)
            if self.quota.allowance(endpoint) is not None
        }
        if E_HISTORY not in waits:
            raise RateLimitedError(
                "history share not sized yet (history_plan)", retry_after=60.0, code="quota"
            )
        endpoint, wait = max(waits.items(), key=lambda item: item[1])
        if wait > 0:
            raise RateLimitedError(
                f"history: allowance of {endpoint} used up", retry_after=wait, code="quota"
            )

    async def _history_call(self, action: str, params: Sequence[tuple[str, str]]) -> Any:
        """A call in the history share; it never waits (the live polls keep their room)."""
        async with (
            self.quota.slot(E_HISTORY, max_wait=0.0),
            self.quota.slot(E_HISTORY_RATE, max_wait=0.0),
        ):
            return await self._call(action, params, max_wait=0.0)

    def _history_zone(self, plant: Plant, zone: tzinfo) -> tzinfo:
        """The plant's own UTC offset when the client knows it, else ``zone``."""
        known = self._zones.get(plant.id) or parse_offset(plant.time_zone)
        return known if known is not None else zone

    async def async_get_energy_days(
        self, plants: Sequence[Plant], day: date, zone: tzinfo
    ) -> dict[str, EnergyDay]:
        """PV energy per UTC hour of ``day`` (the plant's local date) for each plant.

        Only :attr:`Flow.PV` is given. The hours come from the plant's active-power curve of the day
        (``queryPlantActiveOuputPowerOneDay``: ``[{val, ts}]``, kW at the plant's local time, one
        sample per datalogger upload) by the trapezoid rule, and are scaled so that they add up to
        the day's energy of ``queryPlantEnergyDay`` (the counter the live sensors show) when it is
        known and the day has ended (today's hours stay as measured, so that reading today again
        changes no hour already read). Grid, battery and load are left out: the only per-day source
        of them is each storage inverter's ``queryDeviceDataOneDayPaging``, at most 50 rows a page,
        so 6 calls (24 with 1-minute uploads) per device and day, with field titles that differ per
        devcode and instantaneous values only; the 2 calls a plant-day of the PV curve fit the
        budget, those would not.

        One plant per call (``plantid`` takes one id), two calls per plant. Err 12 (no record)
        means no data: the plant is absent from the answer, as is a plant the cloud no longer
        has (260). Hours without samples are absent. Before each plant the history share, its
        per-minute carve and the minute's allowance must have room for both calls; otherwise
        ``RateLimitedError`` is raised before anything of that plant is sent.
        """
        result: dict[str, EnergyDay] = {}
        for plant in plants:
            self._history_room()
            found = await self._energy_day(plant, day, self._history_zone(plant, zone))
            if found is not None:
                result[plant.id] = found
        return result

    async def _energy_day(self, plant: Plant, day: date, zone: tzinfo) -> EnergyDay | None:
        params = [("plantid", plant.id), ("date", day.isoformat())]
        try:
            data = await self._history_call("queryPlantActiveOuputPowerOneDay", params)
        except _NoDataError:
            return None
        except ProtocolError as err:
            if err.code == str(ERR_NO_PLANT):
                return None
            raise
        start, end = day_bounds(day, zone)
        samples = [
            (moment, kw) for moment, kw in parse_power_curve(data, zone) if start <= moment < end
        ]
        if not samples:
            return None
        peak = max(kw for _moment, kw in samples)
        # The plant figures are kW; a curve far above the plant's capacity was sent in W.
        to_watts = (
            1.0 if plant.capacity_kw and peak > WATT_CURVE_FACTOR * plant.capacity_kw else 1000.0
        )
        hours = energy_from_power(
            [(moment, kw * to_watts) for moment, kw in samples], max_gap=CURVE_MAX_GAP
        )
        if not hours:
            return None
        # Only a day that has ended is scaled to its total: today's total still grows within the
        # hour in progress, and scaling by it would change the hours already read at every read.
        total = await self._day_total(plant, day) if end.timestamp() <= self._clock() else None
        produced = sum(hours.values())
        if total is not None and total > 0 and produced > 0:
            factor = total / produced
            hours = {hour: round(kwh * factor, 6) for hour, kwh in hours.items()}
        return EnergyDay(
            plant_id=plant.id,
            day=day,
            zone=zone,
            hours={hour: {Flow.PV: kwh} for hour, kwh in sorted(hours.items())},
        )

    async def _day_total(self, plant: Plant, day: date) -> float | None:
        """The plant's energy of the day (kWh) from queryPlantEnergyDay, or None."""
        try:
            data = await self._history_call(
                "queryPlantEnergyDay", [("plantid", plant.id), ("date", day.isoformat())]
            )
        except _NoDataError:
            return None
        except ProtocolError as err:
            if err.code == str(ERR_NO_PLANT):
                return None
            raise
        if isinstance(data, Mapping):
            energy = to_float(data.get("energy"))
            unit = str(data.get("unit") or "kwh").strip().lower()
            if energy is not None:
                energy *= _ENERGY_UNITS.get(unit, 1.0)
        else:
            energy = to_float(data)
        return None if energy is None or energy < 0 else energy

    # -- controls -----------------------------------------------------------------------------

    # A forced charge is the charger source priority set to utility first, a forced discharge
    # the output source priority set to solar-battery-utility; the stop writes back what the
    # field held before. The inverter takes no power for either: it charges with its maximum AC
    # charging current setting and discharges as the load asks.
    _FORCE_FIELDS: Final = {
        False: (CHARGER_SOURCE_PRIORITY, "utility_first", "pv_first"),
        True: (OUTPUT_SOURCE_PRIORITY, "solar_battery_utility", "solar_battery_utility"),
    }

    def _force_spec(
        self, plant_id: str, device_id: str | None, discharge: bool
    ) -> ControlSpec | None:
        key, option, _default = self._FORCE_FIELDS[discharge]
        for spec in self._ctrl_specs.get(plant_id, ()):
            if (
                spec.key == key
                and option in spec.options
                and (device_id is None or spec.device_id == device_id)
            ):
                return spec
        return None

    def can_force(self, plant: Plant, devices: Sequence[Device]) -> bool:
        """A storage inverter whose charger (or output) source priority can be switched."""
        return any(
            self._force_spec(plant.id, None, discharge) is not None for discharge in (False, True)
        )

    async def async_start_force(
        self, plant: Plant, device_id: str | None, request: ForceRequest
    ) -> ControlTask:
        """Switch the source priority that charges (or discharges) the battery; the caller ends it.

        The field's value before is kept so that the stop can write it back.
        """
        spec = self._force_spec(plant.id, device_id, request.discharge)
        if spec is None:
            what = "output source priority SBU" if request.discharge else "utility-first charging"
            raise CommandRejectedError(f"this inverter offers no {what}", code="unsupported")
        previous = (await self.async_read_controls(plant, [spec])).get((spec.device_id, spec.key))
        option = self._FORCE_FIELDS[request.discharge][1]
        task = await self.async_start_control(plant, spec, option)
        task.action = FORCE_DISCHARGE if request.discharge else FORCE_CHARGE
        task.details.update(
            {
                "control": spec.key,
                "option": option,
                "previous": previous,
                "power_w": "not adjustable: the inverter's own charge current applies",
            }
        )
        if isinstance(previous, str) and previous != option:
            self._force_restore[(plant.id, spec.device_id, spec.key)] = previous
        return task

    def can_set_time_of_use(self, plant: Plant) -> bool:
        """The open platform has no time-of-use schedule to write."""
        return False

    async def async_set_time_of_use(
        self, plant: Plant, windows: Sequence[TouWindow]
    ) -> ControlTask:
        """Not offered (see ``can_set_time_of_use``)."""
        raise CommandRejectedError("ShineMonitor has no time-of-use schedule", code="unsupported")

    async def async_stop_force(self, plant: Plant, device_id: str | None) -> ControlTask:
        """Write back the source priorities a forced charge or discharge changed.

        Without a remembered value (Home Assistant restarted in between) the charger goes back
        to PV first; the output priority is left as it is.
        """
        remembered: list[tuple[ControlSpec, str]] = []
        fallback: list[tuple[ControlSpec, str]] = []
        for discharge in (False, True):
            spec = self._force_spec(plant.id, device_id, discharge)
            if spec is None:
                continue
            previous = self._force_restore.get((plant.id, spec.device_id, spec.key))
            if previous is not None and previous in spec.options:
                remembered.append((spec, previous))
            elif not discharge and self._FORCE_FIELDS[False][2] in spec.options:
                fallback.append((spec, self._FORCE_FIELDS[False][2]))
        restores = remembered or fallback
        if not restores:
            raise CommandRejectedError("no forced charge or discharge to end", code="unsupported")
        # One command per datalogger at a time: the first restore is the task followed; any
        # other waits for the next stop (it is rare: a charge and a discharge forced together).
        spec, previous = restores[0]
        task = await self.async_start_control(plant, spec, previous)
        self._force_restore.pop((plant.id, spec.device_id, spec.key), None)
        task.action = STOP_FORCED_CHARGE
        task.details.update({"control": spec.key, "option": previous})
        return task

    async def async_get_controls(
        self, plant: Plant, devices: Sequence[Device]
    ) -> tuple[list[ControlSpec], dict[str, str]]:
        """The battery controls of the plant's energy-storage inverters, and why others are not
        offered (devices by id, controls by key; ``<key>:range`` notes a fallback range)."""
        specs: list[ControlSpec] = []
        reasons: dict[str, str] = {}
        mine = [d for d in devices if d.plant_id == plant.id]
        if any(d.id not in self._addresses for d in mine):
            await self.async_get_devices([plant])
        for device in mine:
            address = self._addresses.get(device.id)
            if address is None:
                reasons[device.id] = "not listed by the cloud"
                continue
            kind = device_kind(address.devcode)
            if kind is DeviceKind.INVERTER:
                reasons[device.id] = "grid-tie inverter: the cloud has no control fields for it"
                continue
            if kind is not DeviceKind.ENERGY_STORAGE:
                reasons[device.id] = f"devcode {address.devcode}: no battery controls"
                continue
            found, notes = await self._device_controls(device.id, address)
            specs.extend(found)
            for key, reason in notes.items():
                _note(reasons, key, device.id, reason)
        self._ctrl_specs[plant.id] = list(specs)
        return specs, reasons

    async def _device_controls(
        self, device_id: str, address: DeviceAddress
    ) -> tuple[list[ControlSpec], dict[str, str]]:
        fields, why = await self._control_fields(address)
        if fields is None:
            return [], {device_id: why}
        notes: dict[str, str] = {}
        matched: dict[str, tuple[_ControlRule, Mapping[str, Any]]] = {}
        for item in fields:
            rule = match_rule(item)
            if rule is not None and rule.key not in matched:
                matched[rule.key] = (rule, item)
        for rule in _RULES:
            if rule.key not in matched:
                notes[rule.key] = f"devcode {address.devcode} has no such field"
        nominal: int | None = None
        if any(rule.unit == "V" for rule, _item in matched.values()):
            nominal = nominal_voltage(await self._battery_voltage(address))
        specs: list[ControlSpec] = []
        for key, (rule, item) in matched.items():
            meta, why = build_meta(rule, item)
            if meta is None:
                notes[key] = why
                continue
            label = text(item.get("name"))
            if meta.kind is ControlKind.SELECT:
                spec = ControlSpec(
                    key,
                    device_id,
                    ControlKind.SELECT,
                    options=tuple(meta.options),
                    vendor_ref=meta.field_id,
                    label=label,
                )
            else:
                raw = await self._control_value(address, meta.field_id)
                live = self._decode(meta, raw)
                if not isinstance(live, float):
                    notes[key] = "the current value cannot be read (device offline?)"
                    continue
                bounds = self._number_range(meta, item, live, nominal)
                if bounds is None:
                    notes[key] = f"the current value {live:g} V does not fit a {nominal} V battery"
                    continue
                low, high, note = bounds
                if note:
                    notes[f"{key}:range"] = note
                spec = ControlSpec(
                    key,
                    device_id,
                    ControlKind.NUMBER,
                    unit=meta.unit,
                    minimum=low,
                    maximum=high,
                    step=10.0**-meta.decimals,
                    vendor_ref=meta.field_id,
                    label=label,
                )
            self._ctrl_meta[(device_id, key)] = meta
            specs.append(spec)
        return specs, notes

    @staticmethod
    def _number_range(
        meta: _ControlMeta, item: Mapping[str, Any], live: float, nominal: int | None
    ) -> tuple[float, float, str | None] | None:
        unit = meta.unit or ""
        if meta.choices:
            # The field lists its values: the range spans them (within the battery's window).
            values = sorted(meta.choices.values())
            if unit == "V" and nominal is not None:
                low_v, high_v = voltage_window(nominal)
                values = [v for v in values if low_v <= v <= high_v]
            if not values or not values[0] <= live <= values[-1]:
                return None
            return values[0], values[-1], None
        hint = text(item.get("hint"))
        field_unit = text(item.get("unit"))
        if not parse_hint_ranges(hint) and field_unit and any(c.isdigit() for c in field_unit):
            hint = field_unit  # the hint was sent as the unit
        return control_range(unit, hint, live, nominal)

    async def _control_fields(
        self, address: DeviceAddress
    ) -> tuple[list[Mapping[str, Any]] | None, str]:
        """A devcode's control fields (cached), or (None, why there are none)."""
        now = self._clock()
        cached = self._ctrl_schema.get(address.devcode)
        if cached is not None and now - cached[0] < CONTROL_FIELDS_TTL:
            return cached[1], cached[2]
        try:
            data = await self._call("queryDeviceCtrlField", [*address.params(), ("i18n", LANGUAGE)])
        except _NoDataError as err:
            if err.code != str(ERR_NO_RECORD):
                # Offline: not cached, asked again next time.
                return None, f"offline ({err.code}); controls are looked up again later"
            result: tuple[list[Mapping[str, Any]] | None, str] = (
                None,
                "the cloud shows no control items for this device (12)",
            )
        except PermissionDeniedError as err:
            return None, f"no control permission ({err.code})"
        except TransientError as err:
            if err.code != str(ERR_FAIL):
                raise
            result = (None, f"the cloud has no control protocol for devcode {address.devcode} (1)")
        else:
            if not isinstance(data, Mapping):
                raise ProtocolError("queryDeviceCtrlField: no result", code="shape")
            fields = [f for f in _rows(data.get("field")) if isinstance(f, Mapping)]
            result = (fields, "") if fields else (None, "the cloud lists no control fields")
        self._ctrl_schema[address.devcode] = (now, *result)
        return result

    async def _control_value(self, address: DeviceAddress, field_id: str) -> str | None:
        """The device's current value of a field (None when it cannot be read now)."""
        try:
            data = await self._call(
                "queryDeviceCtrlValue",
                [*address.params(), ("id", field_id), ("i18n", LANGUAGE)],
            )
        except _NoDataError:
            return None
        raw = text(data.get("val")) if isinstance(data, Mapping) else None
        return None if raw is None or raw.upper() in _NO_VALUE else raw

    async def _battery_voltage(self, address: DeviceAddress) -> float | None:
        try:
            data = await self._call(
                "querySPDeviceLastData", [*address.params(), ("i18n", LANGUAGE), ("source", "1")]
            )
        except _NoDataError:
            return None
        groups = data.get("pars") if isinstance(data, Mapping) else None
        voltage = map_storage_groups(groups if isinstance(groups, Mapping) else {}).get(
            "battery_voltage"
        )
        return voltage if isinstance(voltage, float) else None

    @staticmethod
    def _decode(meta: _ControlMeta, raw: str | None) -> Reading:
        """A read value as the control shows it: an option key or a number."""
        if raw is None:
            return None
        if meta.kind is ControlKind.SELECT:
            for option, key in meta.options.items():
                if key == raw:
                    return option
            return meta.labels.get(normalise_title(raw))
        if raw in meta.choices:
            return meta.choices[raw]
        number = to_float(raw)
        return None if number is None else round(number, meta.decimals)

    @staticmethod
    def _encode(meta: _ControlMeta, spec: ControlSpec, value: Reading) -> str:
        """The value as the field takes it; CommandRejectedError when it cannot be one."""
        if meta.kind is ControlKind.SELECT:
            if not isinstance(value, str) or value not in meta.options:
                raise CommandRejectedError(
                    f"{spec.key}: {value!r} is not one of {', '.join(meta.options)}",
                    code="invalid_option",
                )
            return meta.options[value]
        number = to_float(value)
        if number is None:
            raise CommandRejectedError(f"{spec.key}: {value!r} is not a number", code="invalid")
        if meta.choices:
            for key, choice in meta.choices.items():
                if abs(choice - number) < 1e-6:
                    return key
            allowed = ", ".join(f"{v:g}" for v in sorted(meta.choices.values()))
            raise CommandRejectedError(
                f"{spec.key}: {number:g} is not one of {allowed}", code="not_allowed"
            )
        sent = f"{number:.{meta.decimals}f}"
        if abs(float(sent) - number) > 1e-6:
            raise CommandRejectedError(
                f"{spec.key}: {number:g} is finer than the device's step", code="step"
            )
        return sent

    async def _address(self, plant: Plant, device_id: str) -> DeviceAddress:
        address = self._addresses.get(device_id)
        if address is None:
            await self.async_get_devices([plant])
            address = self._addresses.get(device_id)
        if address is None:
            raise CommandRejectedError(
                f"device {device_id} is not listed by the cloud", code=ERR_NO_DEVICE
            )
        return address

    async def _meta(self, spec: ControlSpec, address: DeviceAddress) -> _ControlMeta:
        """The field mapping of a spec (rebuilt from the cached field list when not known)."""
        meta = self._ctrl_meta.get((spec.device_id, spec.key))
        if meta is not None and meta.field_id == spec.vendor_ref:
            return meta
        fields, _why = await self._control_fields(address)
        item = next((f for f in fields or () if text(f.get("id")) == spec.vendor_ref), None)
        rule = next((r for r in _RULES if r.key == spec.key), None)
        built = build_meta(rule, item)[0] if rule is not None and item is not None else None
        if built is None:
            raise CommandRejectedError(
                f"{spec.key}: the device no longer offers this control", code="no_field"
            )
        self._ctrl_meta[(spec.device_id, spec.key)] = built
        return built

    async def async_read_controls(
        self, plant: Plant, specs: Sequence[ControlSpec]
    ) -> dict[tuple[str, str], Reading]:
        """Each control's value read from the device (None while it cannot be read)."""
        values: dict[tuple[str, str], Reading] = {}
        for spec in specs:
            try:
                address = await self._address(plant, spec.device_id)
                meta = await self._meta(spec, address)
            except CommandRejectedError:
                values[(spec.device_id, spec.key)] = None
                continue
            raw = await self._control_value(address, meta.field_id)
            values[(spec.device_id, spec.key)] = self._decode(meta, raw)
        return values

    async def async_start_control(
        self, plant: Plant, spec: ControlSpec, value: Reading
    ) -> ControlTask:
        """Send one value with ctrlDevice and check it by reading it back.

        Status 1 (or a NAK reply) fails the task; status 0 is followed by a read-back at once
        (success only when it shows the value written); status -1, or no answer from the device
        in time, leaves the task running until the read-back shows the value or it times out.
        """
        address = await self._address(plant, spec.device_id)
        meta = await self._meta(spec, address)
        sent = self._encode(meta, spec, value)
        now = self._clock()
        running = self._inflight.get(address.pn)
        if running is not None and not running.done and now - running.started_at < running.timeout:
            raise CommandRejectedError(
                f"{spec.key}: a command to this datalogger is still being processed "
                f"({running.action})",
                code="task_running",
            )
        self._task_seq += 1
        task = ControlTask(
            id=f"{address.sn}:{meta.field_id}:{int(now * 1000)}:{self._task_seq}",
            plant_id=plant.id,
            device_id=spec.device_id,
            action=spec.key,
            value=value,
            state=TaskState.RUNNING,
            started_at=now,
            poll_interval=CONTROL_POLL_INTERVAL,
            timeout=CONTROL_TIMEOUT,
            details={
                "device": address.tuple_text(),
                "field_id": meta.field_id,
                "sent": sent,
                "decimals": -1 if meta.kind is ControlKind.SELECT else meta.decimals,
            },
        )
        try:
            data = await self._call(
                "ctrlDevice",
                [*address.params(), ("id", meta.field_id), ("val", sent), ("i18n", LANGUAGE)],
            )
        except _NoDataError as err:
            raise CommandRejectedError(
                f"{spec.key}: the device or its datalogger is offline ({err.code})",
                code=err.code,
                vendor_message=err.vendor_message,
            ) from err
        except (TransientError, ProtocolError) as err:
            if err.code in (str(ERR_TIMEOUT), "timeout"):
                # Sent, but no answer from the device in time: the read-back decides.
                task.details["status"] = "no_answer"
                self._inflight[address.pn] = task
                return task
            if isinstance(err, TransientError) and err.code != str(ERR_FAIL):
                raise
            if err.code is None or not err.code.isdigit() or int(err.code) not in _COMMAND_REFUSALS:
                raise
            raise CommandRejectedError(
                f"{spec.key}: refused by the cloud ({err.code} {err.vendor_message or ''})".strip(),
                code=err.code,
                vendor_message=err.vendor_message,
            ) from err
        reply = data if isinstance(data, Mapping) else {}
        status = to_int(reply.get("status"))
        answer = reply_text(reply.get("dat"))
        task.details["status"] = "absent" if status is None else status
        if answer:
            task.details["reply"] = answer
        if status == CTRL_FAILED or "NAK" in answer:
            return self._finish(
                task,
                TaskState.FAILED,
                f"the device refused the value (status {status}, reply {answer or 'none'})",
            )
        self._inflight[address.pn] = task
        if status == CTRL_NOT_PROCESSED:
            return task
        # Delivered (status 0; some brands send no status): read the value back now.
        try:
            raw = await self._control_value(address, meta.field_id)
        except (TransientError, ProtocolError, RateLimitedError) as err:
            _LOGGER.debug("Read-back of %s failed for now: %s", task.id, err)
            return task
        if raw is not None:
            task.details["read_back"] = raw
        if self._landed(task, raw):
            return self._finish(task, TaskState.SUCCESS)
        if raw is not None:
            return self._finish(
                task,
                TaskState.FAILED,
                f"delivered, but the device reports {raw!r} instead of {sent!r}",
            )
        return task

    async def async_poll_task(self, task: ControlTask) -> ControlTask:
        """Read the value back: SUCCESS once it is the value written, TIMED_OUT after the
        task's timeout."""
        if task.done:
            return task
        expired = self._clock() - task.started_at >= task.timeout
        address = _address_from(task.details.get("device"))
        field_id = text(task.details.get("field_id"))
        raw: str | None = None
        if address is not None and field_id is not None:
            try:
                raw = await self._control_value(address, field_id)
            except (TransientError, ProtocolError, CommandRejectedError):
                if not expired:
                    raise
            if raw is not None:
                task.details["read_back"] = raw
        if self._landed(task, raw):
            return self._finish(task, TaskState.SUCCESS)
        if expired:
            status = task.details.get("status")
            if status == CTRL_NOT_PROCESSED:
                why = "the device has not processed the command (status -1)"
            elif status == "no_answer":
                why = "the device did not answer the command"
            else:
                why = "the value could not be read back"
            seen = f"it reports {raw!r}" if raw is not None else "its value is unknown"
            return self._finish(
                task, TaskState.TIMED_OUT, f"{why} within {task.timeout:g} s; {seen}"
            )
        return task

    def _landed(self, task: ControlTask, raw: str | None) -> bool:
        """Whether a read value is the one the task wrote."""
        if raw is None:
            return False
        sent = str(task.details.get("sent"))
        if raw == sent:
            return True
        control = text(task.details.get("control")) or task.action
        meta = self._ctrl_meta.get((task.device_id or "", control))
        if meta is not None and meta.kind is ControlKind.SELECT:
            return self._decode(meta, raw) == task.value
        decimals = to_int(task.details.get("decimals"))
        read, written = to_float(raw), to_float(sent)
        if decimals is None or decimals < 0 or read is None or written is None:
            return False
        return abs(read - written) < 0.5 * 10.0**-decimals

    def _finish(
        self, task: ControlTask, state: TaskState, reason: str | None = None
    ) -> ControlTask:
        task.state = state
        task.finished_at = self._clock()
        task.reason = reason
        address = _address_from(task.details.get("device"))
        if address is not None and self._inflight.get(address.pn) is task:
            del self._inflight[address.pn]
        return task

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
            "control_fields": {
                str(devcode): len(fields) if fields is not None else why
                for devcode, (_at, fields, why) in sorted(self._ctrl_schema.items())
            },
            "controls_in_flight": sorted(t.action for t in self._inflight.values() if not t.done),
        }


def _is_momentary(key: str) -> bool:
    """A reading of the moment (power, voltage, SOC…), as opposed to a counter or a state."""
    metric = get_metric(key)
    return (
        metric is not None
        and metric.accumulation is Accumulation.INSTANT
        and metric.quantity not in (Quantity.ENUM, Quantity.TIMESTAMP)
    )


def _address_from(value: object) -> DeviceAddress | None:
    """A device address from its ``pn,devcode,devaddr,sn`` text."""
    parts = (text(value) or "").split(",")
    if len(parts) != 4:
        return None
    devcode, devaddr = to_int(parts[1]), to_int(parts[2])
    if devcode is None or devaddr is None or not parts[0] or not parts[3]:
        return None
    return DeviceAddress(parts[0], devcode, devaddr, parts[3])


def _rows(value: object) -> list[Any]:
    """A list from the reply, or nothing when the cloud sent something else."""
    return value if isinstance(value, list) else []


class _TokenRejectedError(SolarCloudError):
    """10 / 270: the token expired or the cloud no longer knows it."""

    def __init__(self, code: int) -> None:
        super().__init__("token rejected", code=code)


class _NoDataError(SolarCloudError):
    """12 (no record), 262 / 263 (device or datalogger offline), 264 (no warnings)."""

    def __init__(self, code: int, desc: str | None = None) -> None:
        super().__init__("no data", code=code, vendor_message=desc)
