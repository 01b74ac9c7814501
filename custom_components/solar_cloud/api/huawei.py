"""Huawei FusionSolar / SmartPVMS northbound ("thirdData") client.

Protocol in short: every call is an HTTPS POST with a JSON body. ``/thirdData/login`` with
``userName`` and ``systemCode`` returns the session token in the ``XSRF-TOKEN`` response header
(older platforms: a cookie of that name); every other call sends it back as the ``XSRF-TOKEN``
header. An account has one live session: each login ends the previous one, so this client logs
in only when it holds no valid token, one login at a time, and at most five per ten minutes.

OAuth Connect (Bearer mode, ``HuaweiClient.bearer``): the plant owner authorised an app at the
FusionSolar OAuth server; the caller hands in a provider of valid access tokens (it refreshes
them; refresh tokens rotate, so it also stores them). Every call then carries
``Authorization: Bearer …`` and never an ``XSRF-TOKEN`` header or cookie (the cloud answers 305
when both arrive), and the client never calls ``/thirdData/login`` or ``logout``. A 305 or an
HTTP 401 means the access token was refused: the client asks the caller for a fresh one once
and retries once, then raises AuthError. failCode 401 in an envelope keeps its meaning (the
interface is not permitted, e.g. a control interface without the ``pvms.openapi.control``
scope).

Replies share an envelope ``{success, failCode, message, params, data}``; ``failCode`` decides
the error class (see ``_check_envelope``). Values arrive as numbers, strings, ``null`` or ``"N/A"``
and in vendor units that differ per device type; ``map_device_kpi`` converts them onto the metric
vocabulary.

Allowances (vendor document, accounts created after mid-2022), all per account:
login 5 / 10 min; getStationList 24 / day; getStationRealKpi ceil(plants/100) / 5 min;
getDevRealKpi the sum over device types of ceil(devices/100) / 5 min; getDevList
ceil(plants/100) + 24 / day; getAlarmList ceil(plants/100) / 30 min. The same document allows
"one concurrent request" per interface: requests to one interface are never sent in parallel.

Hourly history: ``getKpiStationHour`` (ceil(plants/100) + 24 / day and one call a minute), read
within a history share of that allowance that never waits (see ``history_plan`` and
``async_get_energy_days``).

Controls (battery plants only; see ``async_get_controls``) are asynchronous tasks under
``/rest/openapi/pvms``, each with its own status query:

* battery working mode: ``nbi/v1/control/battery/mode/async-task`` and ``…/mode/task-info``;
* battery configuration (end-of-charge / end-of-discharge SOC, maximum charge / discharge power):
  ``nbi/v1/control/battery/configuration/async-task`` and ``…/configuration/task-info``;
* grid feed-in limit: ``nbi/v2/control/active-power-control/async-task`` and ``…/task-info``;
* forced charge / discharge: ``nbi/v2/control/charge-and-discharge/async-task``, followed with
  ``v1/vpp/chargeAndDischargeStatus``; the cloud itself ends it after ``dispatchTime`` minutes
  or at ``targetSOC`` (``force_limits_native``).

Task status: the cloud refreshes it about every 3 minutes and gives up after 24 hours. Forced
charges are polled every 3 minutes; the other tasks every minute for their first 15 minutes
(a device that is online answers within that time), then every 3 minutes, until the 24 hours.

Allowances of the control interfaces: the account-mode document gives none of its own, only the
general rule that one interface takes one call per minute (and one at a time); each submit and
status interface gets that allowance. The only documented daily figure for control interfaces
(100 per owner and day, OAuth mode) is kept as the account's budget of control submissions;
status queries do not count against it. A 20618 answer (the cloud's own daily cap of that
interface) holds the interface until the next UTC day.

Read-back: no interface of the documents returns the current battery settings, so the values
are taken from what the cloud reports:

* a task's ``task-info`` reply carries the settings the task applied (``operationMode`` and its
  companions; ``batteryConfigurationInfo``, also spelled in snake case; ``controlMode`` /
  ``controlInfo``). They are recorded when the task ends in ``SUCCESS`` and never on failure,
  so a failed write leaves the previous value;
* the battery's real-time KPI ``ch_discharge_model`` (2 TOU, 4 maximum self-consumption) gives
  the working mode from the regular real-time round; it replaces a task's value once it was
  fetched at least one refresh period (5 minutes) after that task ended.

Settings no task of this client has written yet read as unknown. A configuration write sends
the other configuration fields unchanged from the last read-back (and leaves out the ones not
known, which the cloud then keeps); a switch to TOU sends the charge/discharge windows last
read back, or none, so the plant keeps its own.

Ranges: SOC limits as documented (end of charge 90-100 %, end of discharge 0-20 %); charge and
discharge power 0 up to the battery's ``max_charge_power`` / ``max_discharge_power`` KPIs as a
real-time round of this client saw them (30 kW before any round; the cloud caps a value above
the battery's maximum); feed-in limit 0-5000 kW (Dongle, inverter, SmartLogger), sent in kW.

Permission: before offering controls the client asks a status interface about a task id that
cannot exist, once a day per account (the outcome is held in the account's quota, which
outlives reloads and restarts): 20620 (no such task) means the control interfaces are open,
401 that the account may not use them. A write refused for permission (401, 20045, 20046,
20056, 20621, 20622) removes the controls of that plant (or of the account, for 401).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from http.cookies import CookieError, Morsel, SimpleCookie
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from yarl import URL

from .controls import (
    BATTERY_CHARGE_CUTOFF_SOC,
    BATTERY_DISCHARGE_CUTOFF_SOC,
    BATTERY_MAX_CHARGE_POWER,
    BATTERY_MAX_DISCHARGE_POWER,
    BATTERY_WORKING_MODE,
    FORCE_CHARGE,
    FORCE_DISCHARGE,
    GRID_EXPORT_LIMIT,
    MAX_TOU_WINDOWS,
    SET_TIME_OF_USE,
    STOP_FORCED_CHARGE,
    ControlKind,
    ControlSpec,
    ControlTask,
    ForceRequest,
    TaskState,
    TouWindow,
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
from .history import EnergyDay, Flow, HistoryPlan, day_bounds, spread_buckets
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
    chunks,
    ms_to_datetime,
    parse_iso,
    parse_offset,
    scaled,
    seconds_to_next_utc_day,
    split_power,
    text,
    to_float,
    to_int,
    total,
)

_LOGGER = logging.getLogger(__name__)

VENDOR: Final = "huawei_fusionsolar"

SERVERS: Final[dict[str, str]] = {
    "https://eu5.fusionsolar.huawei.com": "Europe (eu5)",
    "https://intl.fusionsolar.huawei.com": "International (intl)",
    "https://sg5.fusionsolar.huawei.com": "Asia Pacific (sg5)",
    "https://la5.fusionsolar.huawei.com": "Latin America (la5)",
    "https://jp5.fusionsolar.huawei.com": "Japan (jp5)",
    "https://cn.fusionsolar.huawei.com": "China (cn)",
}

MAX_IDS: Final = 100
REALTIME_PERIOD: Final = 300.0
ALARM_PERIOD: Final = 1800.0
TOKEN_LIFETIME: Final = 30 * 60.0
# Renew a little before the documented 30 minutes so a call never races the expiry.
TOKEN_MARGIN: Final = 5 * 60.0
ALARM_LOOKBACK: Final = timedelta(days=30)
# After a refused login the same credentials wait this long: five wrong logins within ten
# minutes lock the account for thirty.
LOGIN_BACKOFF: Final = 30 * 60.0
# Seconds a request may take before it counts as failed.
REQUEST_TIMEOUT = 30.0

# devTypeId -> kind
DEVICE_TYPES: Final[dict[int, DeviceKind]] = {
    1: DeviceKind.INVERTER,
    38: DeviceKind.INVERTER,
    39: DeviceKind.BATTERY,
    41: DeviceKind.ENERGY_STORAGE,
    17: DeviceKind.GRID_METER,
    47: DeviceKind.POWER_SENSOR,
    10: DeviceKind.WEATHER_STATION,
}
POLLED_TYPES: Final = tuple(DEVICE_TYPES)

E_LOGIN: Final = "login"
E_STATIONS: Final = "stations"
E_STATION_LIST: Final = "getStationList"
E_STATION_KPI: Final = "getStationRealKpi"
E_DEV_LIST: Final = "getDevList"
E_DEV_KPI: Final = "getDevRealKpi"
E_ALARMS: Final = "getAlarmList"

# How long a caller lets a request wait for room in its window before giving up.
MAX_WAIT: Final[dict[str, float]] = {
    E_LOGIN: 0.0,
    E_STATION_KPI: 60.0,
    E_DEV_KPI: 60.0,
    E_ALARMS: 0.0,
    E_DEV_LIST: 0.0,
    E_STATIONS: 0.0,
    E_STATION_LIST: 0.0,
}

# -- hourly history (getKpiStationHour) ------------------------------------------------------

# One call returns the hourly records of one local day (the plant's own time zone: the cloud
# takes the date of ``collectTime`` there) of up to 100 plants: at most 24 records a plant, each
# stamped with the start of its local hour (ms). Documented keys (NBI22 6.2.2), all kWh:
# ``inverter_power`` (inverter yield), ``ongrid_power`` (feed-in), ``theory_power``,
# ``radiation_intensity`` (kWh/m2) and ``power_profit``; newer platforms add ``PVYield``,
# ``inverterYield``, ``chargeCap``, ``dischargeCap``, ``selfProvide`` and ``use_power``.
E_KPI_HOUR: Final = "getKpiStationHour"
KPI_HOUR_PATH: Final = "/thirdData/getKpiStationHour"
# The history share of the account's getKpiStationHour allowance (a pseudo-endpoint of the quota).
E_HISTORY: Final = "history"
# Vendor figures (NBI22 6.1.4.2): ceil(plants / 100) + 24 calls a day per northbound user, and
# "one concurrent request per minute"; 407 beyond either.
KPI_HOUR_DAILY_BASE: Final = 24
KPI_HOUR_INTERVAL: Final = 60.0
# Calls a day left to other tools reading the same account's reports (the portal's exports, a
# second integration): the allowance is the account's, not this client's.
HISTORY_SPARE: Final = 5
# Reads a day the plan keeps for history before the start (a 30-day backfill of one batch then
# takes about a week) when the share allows it.
HISTORY_DEEP_TARGET: Final = 4
# Recurring reads a day per batch besides the current day's: the day after it ended, once more
# after it settled, and one correction read for each of the 3 trailing days (HistoryPlanner).
HISTORY_RECURRING: Final = 2 + 3
# The hourly retention is not documented; 20026 ("only data of the latest 365 days can be
# queried") is the only retention figure of the document.
HISTORY_KEEPS_DAYS: Final = 365
# Not documented either: loggers upload every 5 minutes and send buffered data after an outage;
# three hours after the day ended the day is taken as complete.
HISTORY_SETTLE: Final = 3 * 3600.0
# After a 407 from getKpiStationHour although this client kept to one call a minute and its daily
# share, the account's day is used up by someone else: leave the interface alone for an hour.
HISTORY_REFUSED_WAIT: Final = 3600.0
# A record further than this outside the requested day (in the zone used) is not taken: no zone
# is further from another's date than 14 hours, so it is not an answer for this day.
_HISTORY_SLACK: Final = timedelta(hours=14)
_RETENTION_CODE: Final = 20026

# -- OAuth Connect (Bearer mode) --------------------------------------------------------------

type TokenProvider = Callable[[], Awaitable[str]]
type TokenRefresh = Callable[[str], Awaitable[str]]

# The OAuth policy is documented only by third parties (1000 basic and 100 control calls per owner
# and day) and is unverified, so the budgets stay below it: 900 calls a day of the query
# interfaces and control status queries together, 90 control submissions. The per-interface
# windows of the account mode apply as well.
E_OAUTH_DAY: Final = "oauth-basic-calls"
OAUTH_DAILY_CALLS: Final = 900
OAUTH_DAILY_SUBMISSIONS: Final = 90
# Calls of a day kept free of the real-time rounds: alarms, plant and device lists, control
# status queries, the permission check and the hourly history.
OAUTH_RESERVE: Final = 150
# The hourly history's part of that reserve: at most 16 calls a day. The rest of the reserve
# (lists at most 8 a day, the permission check once) leaves about 125 control status queries.
OAUTH_HISTORY_CALLS: Final = 16

_AUTH_CODES: Final = frozenset({20001, 20002, 20003, 20400, 20403})
_PERMISSION_CODES: Final = frozenset({401, 20056, 20621})
FC_TOO_FREQUENT_CODE: Final = 407
_RATE_CODES: Final = frozenset({FC_TOO_FREQUENT_CODE, 429})
_BUSY_CODES: Final = frozenset({20004, 20200})
_RELOGIN_CODES: Final = frozenset({305, 306})
_NO_RESOURCE_CODES: Final = frozenset({20007, 20008})
_DAILY_CAP_CODE: Final = 20618
_GATEWAY_QUOTA_CODE: Final = "49401021002"

# -- controls ---------------------------------------------------------------------------------

CONTROL_BASE: Final = "/rest/openapi/pvms"
E_CHARGE: Final = "charge-and-discharge"
E_CHARGE_STATUS: Final = "chargeAndDischargeStatus"
E_MODE: Final = "battery/mode"
E_MODE_INFO: Final = "battery/mode/task-info"
E_CONFIG: Final = "battery/configuration"
E_CONFIG_INFO: Final = "battery/configuration/task-info"
E_POWER: Final = "active-power-control"
E_POWER_INFO: Final = "active-power-control/task-info"
# The account's budget of control submissions (all submit interfaces together).
E_CONTROL_DAY: Final = "control-submissions"
CONTROL_PATHS: Final[dict[str, str]] = {
    E_CHARGE: f"{CONTROL_BASE}/nbi/v2/control/charge-and-discharge/async-task",
    E_CHARGE_STATUS: f"{CONTROL_BASE}/v1/vpp/chargeAndDischargeStatus",
    E_MODE: f"{CONTROL_BASE}/nbi/v1/control/battery/mode/async-task",
    E_MODE_INFO: f"{CONTROL_BASE}/nbi/v1/control/battery/mode/task-info",
    E_CONFIG: f"{CONTROL_BASE}/nbi/v1/control/battery/configuration/async-task",
    E_CONFIG_INFO: f"{CONTROL_BASE}/nbi/v1/control/battery/configuration/task-info",
    E_POWER: f"{CONTROL_BASE}/nbi/v2/control/active-power-control/async-task",
    E_POWER_INFO: f"{CONTROL_BASE}/nbi/v2/control/active-power-control/task-info",
}
# One call per minute per interface, one at a time.
CONTROL_INTERVAL: Final = 60.0
CONTROL_DAILY_SUBMISSIONS: Final = 100
# How long a control call waits for its interface's minute to pass.
CONTROL_MAX_WAIT: Final = CONTROL_INTERVAL
MAX_WAIT.update(dict.fromkeys(CONTROL_PATHS, CONTROL_MAX_WAIT))
FORCE_POLL_INTERVAL: Final = 180.0
TASK_POLL_INTERVAL: Final = 60.0
TASK_SLOW_POLL_INTERVAL: Final = 180.0
TASK_SLOW_AFTER: Final = 15 * 60.0
TASK_TIMEOUT: Final = DAY
PERMISSION_TTL: Final = DAY
# A task id the cloud cannot know, for the permission check, and the quota holds that keep
# its outcome (see HuaweiClient._account_denial).
PROBE_TASK_ID: Final = "solar-cloud-permission-check"
ACCESS_GRANTED: Final = "control-permission:granted"
ACCESS_DENIED: Final = "control-permission:denied:"
# Documented ranges.
END_OF_CHARGE_SOC: Final = (90.0, 100.0)
END_OF_DISCHARGE_SOC: Final = (0.0, 20.0)
# maxGridFeedInPower of a Dongle, inverter or SmartLogger: at most 5000 kW.
FEED_IN_MAX_W: Final = 5_000_000.0
# Upper bound of the maximum charge / discharge power while the battery's own is not known: the
# largest grid charge power the documents give for a residential (Dongle) plant, 30 kW. The
# cloud takes the battery's maximum for any value above it.
FALLBACK_MAX_POWER_W: Final = 30_000.0

# Option key -> operationMode. thirdPartyDispatch cannot be set through the mode task.
MODE_OPTIONS: Final[dict[str, str]] = {
    "self_consumption": "maximumSelfConsumption",
    "time_of_use": "TOU",
}
_MODE_KEYS: Final = {vendor: key for key, vendor in MODE_OPTIONS.items()}
# Control key -> batteryConfigurationInfo field (camel case, snake case), and its decimals.
CONFIG_FIELDS: Final[dict[str, tuple[str, str, int]]] = {
    BATTERY_CHARGE_CUTOFF_SOC: ("endOfChargeSoc", "end_of_charge_soc", 1),
    BATTERY_DISCHARGE_CUTOFF_SOC: ("endOfDischargeSoc", "end_of_discharge_soc", 1),
    BATTERY_MAX_CHARGE_POWER: ("maximumChargePower", "maximum_charge_power", 0),
    BATTERY_MAX_DISCHARGE_POWER: ("maximumDischargePower", "maximum_discharge_power", 0),
}
# Mode settings sent back unchanged with a new mode.
_MODE_COMPANIONS: Final = ("redundantPVEnergyPriority", "allowedAcChargePower")
_WINDOWS_FIELD: Final = "chargingAndDischargingTimeWindow"

# Control failCodes: permission (besides 401, 20056, 20621), the task id the cloud does not know
# (on a status query), and texts for the refusals (vendor error list).
_CONTROL_PERMISSION_CODES: Final = frozenset({20045, 20046, 20622})
_LOST_TASK_CODES: Final = frozenset({20034, 20050, 20620})
# failCode of a task submission: 1 partly done, 2 failed; the per-plant results tell.
_TASK_RESULT_CODES: Final = frozenset({1, 2})
CONTROL_CODES: Final[dict[int, str]] = {
    2: "the task failed",
    20039: "DOD out of range (0-100)",
    20040: "invalid charge/discharge switch",
    20041: "control type missing",
    20042: "target SOC missing or invalid",
    20043: "duration missing or invalid",
    20044: "task id missing",
    20047: "invalid charge/discharge power",
    20048: "duplicate task id",
    20049: "the task could not be delivered",
    20050: "no such charge/discharge task",
    20051: "setting the battery DOD failed",
    20116: "control parameters exceed the limits",
    20607: "empty task list",
    20608: "the same plant twice in one task",
    20609: "the plant's networking does not support this control",
    20611: "value out of the allowed range",
    20612: "a required value is empty",
    20613: "no plant accepted the task",
    20614: "network communication failure (device offline?)",
    20615: "the same task is already running for this plant",
    20616: "task id missing",
    20619: "more than 100 task ids",
    20620: "no such task",
}

INVERTER_STATES: Final[dict[int, str]] = {
    0: "standby",
    1: "standby",
    2: "standby",
    3: "standby",
    256: "starting",
    512: "running",
    513: "power_limited",
    514: "derating",
    768: "fault",
    769: "shutdown",
    770: "shutdown",
    771: "shutdown",
    772: "shutdown",
    773: "shutdown",
    774: "shutdown",
    1025: "grid_dispatch",
    1026: "grid_dispatch",
    1280: "testing",
    1281: "testing",
    1536: "testing",
    1792: "testing",
    2048: "testing",
    2304: "testing",
    40960: "no_irradiation",
    45056: "communication_lost",
    49152: "starting",
}
BATTERY_STATES: Final[dict[int, str]] = {
    0: "offline",
    1: "standby",
    2: "running",
    3: "fault",
    4: "sleeping",
}
WORKING_MODES: Final[dict[int, str]] = {
    0: "none",
    1: "forced",
    2: "time_of_use",
    3: "fixed",
    4: "self_consumption",
}
HEALTH_STATES: Final[dict[int, str]] = {1: "disconnected", 2: "faulty", 3: "healthy"}
SEVERITIES: Final[dict[int, AlarmSeverity]] = {
    1: AlarmSeverity.CRITICAL,
    2: AlarmSeverity.MAJOR,
    3: AlarmSeverity.MINOR,
    4: AlarmSeverity.WARNING,
}
ALARM_CATEGORIES: Final[dict[int, str]] = {
    0: "other",
    1: "transposition",
    2: "exception",
    3: "protection",
    4: "notification",
    5: "information",
}
LANGUAGES: Final = frozenset(
    {
        "zh_CN",
        "en_US",
        "ja_JP",
        "it_IT",
        "nl_NL",
        "pt_BR",
        "de_DE",
        "fr_FR",
        "es_ES",
        "pl_PL",
    }
)


# ---------------------------------------------------------------------------------------------
# Units of the grid meter's active power
#
# The vendor document gives the grid meter's (devTypeId 17) active power in kW; platforms from
# 24.7 on send W. The reply does not say which, so each reply is judged on its own:
#   1. With ``total_apparent_power`` (always kVA) above 0.05 kVA: |P| / S of at most 1.5 means
#      kW, of at least 50 means W (|P| can never exceed S by more than rounding).
#   2. Otherwise, with phase voltages and currents: S = sum(U * I) in VA; |P| / S of at least
#      0.02 means W, of at most 0.002 means kW.
#   3. Otherwise (no flow, values missing) the device's last decision holds; before any
#      decision, W, the unit of current platforms.


def meter_power_factor(data: Mapping[str, object], previous: float | None) -> float:
    """Return the factor (1 or 1000) that turns this meter reply's active power into W."""
    power = to_float(data.get("active_power"))
    if power is not None and abs(power) > 0:
        apparent_kva = to_float(data.get("total_apparent_power"))
        if apparent_kva is not None and apparent_kva > 0.05:
            ratio = abs(power) / apparent_kva
            if ratio <= 1.5:
                return 1000.0
            if ratio >= 50:
                return 1.0
        apparent_va = 0.0
        for phase in ("a", "b", "c"):
            volts = to_float(data.get(f"{phase}_u"))
            amps = to_float(data.get(f"{phase}_i"))
            if volts is not None and amps is not None:
                apparent_va += abs(volts * amps)
        if apparent_va > 50:
            ratio = abs(power) / apparent_va
            if ratio >= 0.02:
                return 1.0
            if ratio <= 0.002:
                return 1000.0
    return previous if previous is not None else 1.0


# ---------------------------------------------------------------------------------------------
# dataItemMap -> metric vocabulary

_COMMON_AC: Final[dict[str, str]] = {
    "a_u": "phase_a_voltage",
    "b_u": "phase_b_voltage",
    "c_u": "phase_c_voltage",
    "ab_u": "line_ab_voltage",
    "bc_u": "line_bc_voltage",
    "ca_u": "line_ca_voltage",
    "a_i": "phase_a_current",
    "b_i": "phase_b_current",
    "c_i": "phase_c_current",
    "power_factor": "power_factor",
}

_TARIFF_BUCKETS: Final[dict[str, str]] = {
    "peak": "peak",
    "power": "shoulder",
    "valley": "off_peak",
    "top": "sharp",
}


def _map_inverter(data: Mapping[str, object]) -> tuple[dict[str, Reading], bool | None]:
    out: dict[str, Reading] = {new: to_float(data.get(old)) for old, new in _COMMON_AC.items()}
    out["pv_power"] = scaled(to_float(data.get("active_power")), 1000.0)
    out["dc_power"] = scaled(to_float(data.get("mppt_power")), 1000.0)
    out["reactive_power"] = scaled(to_float(data.get("reactive_power")), 1000.0)
    out["energy_today"] = to_float(data.get("day_cap"))
    out["energy_total"] = to_float(data.get("total_cap"))
    out["efficiency"] = to_float(data.get("efficiency"))
    out["temperature"] = to_float(data.get("temperature"))
    out["grid_frequency"] = to_float(data.get("elec_freq"))
    out["startup_time"] = ms_to_datetime(data.get("open_time"))
    out["shutdown_time"] = ms_to_datetime(data.get("close_time"))
    if "mppt_total_cap" in data:
        out["dc_energy_total"] = to_float(data.get("mppt_total_cap"))
    for number in range(1, 37):
        if f"pv{number}_u" in data or f"pv{number}_i" in data:
            out[f"pv{number}_voltage"] = to_float(data.get(f"pv{number}_u"))
            out[f"pv{number}_current"] = to_float(data.get(f"pv{number}_i"))
    for number in range(1, 11):
        if f"mppt_{number}_cap" in data:
            out[f"mppt{number}_energy_total"] = to_float(data.get(f"mppt_{number}_cap"))
    state = to_int(data.get("inverter_state"))
    out["inverter_status"] = None if state is None else INVERTER_STATES.get(state, "unknown")
    online = _run_state(data)
    if online is False:
        out["inverter_status"] = "offline"
    return out, online


def _map_battery(data: Mapping[str, object]) -> tuple[dict[str, Reading], bool | None]:
    # ch_discharge_power: W, positive while charging, negative while discharging.
    power = to_float(data.get("ch_discharge_power"))
    out: dict[str, Reading] = split_power(power, "battery_charge_power", "battery_discharge_power")
    out["battery_power"] = None if power is None else -power
    out["battery_soc"] = to_float(data.get("battery_soc"))
    out["battery_soh"] = _percent(to_float(data.get("battery_soh")))
    # charge_cap / discharge_cap of the real-time reply count the current day.
    out["battery_charge_energy_today"] = to_float(data.get("charge_cap"))
    out["battery_discharge_energy_today"] = to_float(data.get("discharge_cap"))
    if "busbar_u" in data:
        out["battery_voltage"] = to_float(data.get("busbar_u"))
    if "max_charge_power" in data:
        out["battery_max_charge_power"] = to_float(data.get("max_charge_power"))
        out["battery_max_discharge_power"] = to_float(data.get("max_discharge_power"))
    if "battery_status" in data:
        status = to_int(data.get("battery_status"))
        out["battery_status"] = None if status is None else BATTERY_STATES.get(status, "unknown")
    if "ch_discharge_model" in data:
        mode = to_int(data.get("ch_discharge_model"))
        out["battery_working_mode"] = None if mode is None else WORKING_MODES.get(mode, "unknown")
    online = _run_state(data)
    if online is None and "battery_status" in data:
        status = to_int(data.get("battery_status"))
        online = None if status is None else status != 0
    return out, online


def _percent(value: float | None) -> float | None:
    """SOH arrives unit-less: as a 0-1 fraction on some platforms, as percent on others."""
    if value is None:
        return None
    return round(value * 100, 3) if 0 < value <= 1 else value


def _map_meter(data: Mapping[str, object], factor: float) -> tuple[dict[str, Reading], bool | None]:
    """Grid meter (17) and power sensor (47): ``factor`` turns active power into W.

    Sign: the meter reports a positive active power while the site feeds into the grid and a
    negative one while it draws from it (the inverter's point of view). ``active_cap`` counts
    the energy imported, ``reverse_active_cap`` the energy exported.
    """
    out: dict[str, Reading] = {new: to_float(data.get(old)) for old, new in _COMMON_AC.items()}
    if "meter_u" in data:
        out["phase_a_voltage"] = to_float(data.get("meter_u"))
        out["phase_a_current"] = to_float(data.get("meter_i"))
    power = scaled(to_float(data.get("active_power")), factor)
    out.update(split_power(power, "grid_export_power", "grid_import_power"))
    out["grid_power"] = None if power is None else -power
    for phase in ("a", "b", "c"):
        if f"active_power_{phase}" in data:
            out[f"phase_{phase}_power"] = scaled(
                to_float(data.get(f"active_power_{phase}")), factor
            )
        if f"reactive_power_{phase}" in data:
            out[f"phase_{phase}_reactive_power"] = scaled(
                to_float(data.get(f"reactive_power_{phase}")), 1000.0
            )
    # Reactive power: kVar on the grid meter, Var on the power sensor.
    reactive_factor = 1000.0 if "meter_u" not in data else 1.0
    out["reactive_power"] = scaled(to_float(data.get("reactive_power")), reactive_factor)
    out["grid_frequency"] = to_float(data.get("grid_frequency"))
    out["grid_import_energy_total"] = to_float(data.get("active_cap"))
    out["grid_export_energy_total"] = to_float(data.get("reverse_active_cap"))
    if "total_apparent_power" in data:
        out["apparent_power"] = scaled(to_float(data.get("total_apparent_power")), 1000.0)
    if "forward_reactive_cap" in data:
        out["grid_import_reactive_energy_total"] = to_float(data.get("forward_reactive_cap"))
        out["grid_export_reactive_energy_total"] = to_float(data.get("reverse_reactive_cap"))
    for raw, bucket in _TARIFF_BUCKETS.items():
        for direction, prefix in (("positive", "import"), ("reverse", "export")):
            if f"{direction}_active_{raw}" in data:
                out[f"grid_{prefix}_energy_{bucket}"] = to_float(
                    data.get(f"{direction}_active_{raw}")
                )
            if f"{direction}_reactive_{raw}" in data:
                out[f"grid_{prefix}_reactive_energy_{bucket}"] = to_float(
                    data.get(f"{direction}_reactive_{raw}")
                )
    online = _run_state(data)
    if "meter_status" in data:
        status = to_int(data.get("meter_status"))
        if status is not None:
            online = status == 1 and online is not False
    return out, online


def _map_emi(data: Mapping[str, object]) -> tuple[dict[str, Reading], bool | None]:
    out: dict[str, Reading] = {
        "ambient_temperature": to_float(data.get("temperature")),
        "module_temperature": to_float(data.get("pv_temperature")),
        "wind_speed": to_float(data.get("wind_speed")),
        "wind_direction": to_float(data.get("wind_direction")),
        "irradiance": to_float(data.get("radiant_line")),
        "horizontal_irradiance": to_float(data.get("horiz_radiant_line")),
        "irradiation_today": to_float(data.get("radiant_total")),
        "horizontal_irradiation_today": to_float(data.get("horiz_radiant_total")),
    }
    return out, _run_state(data)


def _run_state(data: Mapping[str, object]) -> bool | None:
    state = to_int(data.get("run_state"))
    return None if state is None else state == 1


def map_device_kpi(
    type_id: int, data: Mapping[str, object], meter_factor: float = 1.0
) -> tuple[dict[str, Reading], bool | None]:
    """Map one device's ``dataItemMap`` onto metrics; returns (values, online)."""
    kind = DEVICE_TYPES.get(type_id)
    if kind is DeviceKind.INVERTER:
        return _map_inverter(data)
    if kind in (DeviceKind.BATTERY, DeviceKind.ENERGY_STORAGE):
        return _map_battery(data)
    if kind is DeviceKind.GRID_METER:
        return _map_meter(data, meter_factor)
    if kind is DeviceKind.POWER_SENSOR:
        # The power sensor always reports W.
        return _map_meter(data, 1.0)
    if kind is DeviceKind.WEATHER_STATION:
        return _map_emi(data)
    return {}, _run_state(data)


def map_station_kpi(
    data: Mapping[str, object],
) -> tuple[dict[str, Reading], bool | None]:
    """Map a plant's real-time ``dataItemMap``; returns (values, online)."""
    out: dict[str, Reading] = {
        "energy_today": to_float(data.get("day_power")),
        "energy_month": to_float(data.get("month_power")),
        "energy_total": to_float(data.get("total_power")),
        "income_today": to_float(data.get("day_income")),
        "income_total": to_float(data.get("total_income")),
    }
    if "day_on_grid_energy" in data:
        out["grid_export_energy_today"] = to_float(data.get("day_on_grid_energy"))
    if "day_use_energy" in data:
        out["load_energy_today"] = to_float(data.get("day_use_energy"))
    health = to_int(data.get("real_health_state"))
    out["health_state"] = None if health is None else HEALTH_STATES.get(health, "unknown")
    online = None if health is None else health != 1
    return out, online


def derive_plant_power(
    plant: dict[str, Reading],
    devices: Sequence[Device],
    readings: Mapping[str, DeviceReadings],
) -> None:
    """Fill the plant's power flows from its devices (the plant reply has none)."""

    def values(kinds: tuple[DeviceKind, ...], key: str) -> list[Reading]:
        return [
            readings[d.id].values.get(key) for d in devices if d.kind in kinds and d.id in readings
        ]

    inverters = (DeviceKind.INVERTER,)
    storage = (DeviceKind.BATTERY, DeviceKind.ENERGY_STORAGE)
    # A grid meter measures the grid connection; a power sensor too when there is no meter.
    meters = (DeviceKind.GRID_METER,)
    if not any(d.kind is DeviceKind.GRID_METER for d in devices):
        meters = (DeviceKind.POWER_SENSOR,)
    # An inverter's AC power includes the flow of a battery behind it (hybrid inverters), so
    # the plant's production is its PV input (DC) power; AC power where DC is missing.
    dc = values(inverters, "dc_power")
    ac = values(inverters, "pv_power")
    complete_dc = dc and all(isinstance(v, int | float) for v in dc)
    plant["pv_power"] = total(dc if complete_dc else ac)
    for key in ("battery_charge_power", "battery_discharge_power", "battery_power"):
        plant[key] = total(values(storage, key))
    socs = [v for v in values(storage, "battery_soc") if isinstance(v, int | float)]
    plant["battery_soc"] = round(sum(socs) / len(socs), 1) if socs else None
    for key in ("grid_import_power", "grid_export_power"):
        plant[key] = total(values(meters, key))
    for key in ("battery_charge_energy_today", "battery_discharge_energy_today"):
        plant[key] = total(values(storage, key))
    for key in ("grid_import_energy_total", "grid_export_energy_total"):
        plant[key] = total(values(meters, key))
    # House load: what the inverters deliver (battery included) plus the grid's net flow; a
    # stand-alone energy storage system (ESS, 41) is not behind an inverter and adds its own.
    inverter_ac = total(ac)
    grid_in, grid_out = plant["grid_import_power"], plant["grid_export_power"]
    if (
        isinstance(inverter_ac, float)
        and isinstance(grid_in, float)
        and isinstance(grid_out, float)
    ):
        ess = total(values((DeviceKind.ENERGY_STORAGE,), "battery_power")) or 0.0
        load = inverter_ac + grid_in - grid_out + ess
        plant["load_power"] = round(max(load, 0.0), 3)
    for key in [k for k, v in plant.items() if v is None]:
        del plant[key]


# ---------------------------------------------------------------------------------------------
# Control tasks


@dataclass(frozen=True, slots=True)
class _TaskKind:
    """A family of control tasks: its submit and status interfaces and its status rhythm."""

    submit: str
    status: str
    id_field: str
    poll: float


_FORCE_TASK: Final = _TaskKind(E_CHARGE, E_CHARGE_STATUS, "requestID", FORCE_POLL_INTERVAL)
_MODE_TASK: Final = _TaskKind(E_MODE, E_MODE_INFO, "taskId", TASK_POLL_INTERVAL)
_CONFIG_TASK: Final = _TaskKind(E_CONFIG, E_CONFIG_INFO, "taskId", TASK_POLL_INTERVAL)
_POWER_TASK: Final = _TaskKind(E_POWER, E_POWER_INFO, "taskId", TASK_POLL_INTERVAL)
# Task action (control key or force action) -> family.
_TASK_KINDS: Final[dict[str, _TaskKind]] = {
    BATTERY_WORKING_MODE: _MODE_TASK,
    SET_TIME_OF_USE: _MODE_TASK,
    **dict.fromkeys(CONFIG_FIELDS, _CONFIG_TASK),
    GRID_EXPORT_LIMIT: _POWER_TASK,
    FORCE_CHARGE: _FORCE_TASK,
    FORCE_DISCHARGE: _FORCE_TASK,
    STOP_FORCED_CHARGE: _FORCE_TASK,
}
CONTROL_KEYS: Final = (
    BATTERY_WORKING_MODE,
    BATTERY_CHARGE_CUTOFF_SOC,
    BATTERY_DISCHARGE_CUTOFF_SOC,
    BATTERY_MAX_CHARGE_POWER,
    BATTERY_MAX_DISCHARGE_POWER,
    GRID_EXPORT_LIMIT,
)


@dataclass(slots=True)
class _Settings:
    """A plant's control settings as the cloud last reported them (None: not known)."""

    mode: str | None = None  # option key
    mode_at: float = -math.inf  # when the task that set it ended
    companions: dict[str, Any] = field(default_factory=dict)  # other operationMode fields
    windows: list[Any] | None = None  # chargingAndDischargingTimeWindow
    config: dict[str, float] = field(default_factory=dict)  # control key -> value
    export_limit_w: float | None = None
    limitation_mode: str | None = None


@dataclass(frozen=True, slots=True)
class _Sent:
    """What a running task sent (its values stand in where the status reply echoes none)."""

    plant_id: str
    entry: Mapping[str, Any]


def _rows(value: object) -> list[Mapping[str, Any]]:
    return [row for row in value if isinstance(row, Mapping)] if isinstance(value, list) else []


def _plant_of(row: Mapping[str, Any]) -> str | None:
    return text(row.get("plantCode")) or text(row.get("plant_code"))


def _plain(value: float) -> int | float:
    """A whole number as an int (as the cloud's examples write them), else the float."""
    return int(value) if float(value).is_integer() else value


def _positive(value: Reading) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None


# ---------------------------------------------------------------------------------------------
# The client


# ---------------------------------------------------------------------------------------------
# Hourly history


def history_share(plants: int, *, oauth: bool = False) -> int:
    """getKpiStationHour calls a day this client may make for ``plants`` plants.

    The vendor allows ceil(plants / 100) + 24 a day per northbound user (NBI22 6.1.4.2); the
    client keeps ``HISTORY_SPARE`` of them for other tools on the same account. In OAuth mode
    the calls also count against the daily OAuth budget, inside ``OAUTH_RESERVE`` (which the
    real-time rounds of ``plan`` never use): at most ``OAUTH_HISTORY_CALLS``.
    """
    groups = max(1, math.ceil(plants / MAX_IDS))
    share = max(1, groups + KPI_HOUR_DAILY_BASE - HISTORY_SPARE)
    return min(share, OAUTH_HISTORY_CALLS) if oauth else share


def history_numbers(plants: int, *, oauth: bool = False) -> tuple[float, int]:
    """(refresh in seconds, deep reads a day) that fit the history share for ``plants``.

    One read covers one day of up to 100 plants (a batch group). Each group takes, a day,
    ceil(86400 / refresh) reads of the current day plus ``HISTORY_RECURRING`` (the ended day
    twice, three corrections). The refresh is the shortest whole number of hours (a divisor of
    24: the cloud's data is hourly) that leaves ``HISTORY_DEEP_TARGET`` reads a day for the
    history before the start. When even a daily refresh leaves none, the current day is not read
    at all (refresh ``inf``): each group reads each ended day once, when it has settled, and the
    rest goes to the deep history (a large account's statistics then lag by a day, but no day
    is missed).
    """
    share = history_share(plants, oauth=oauth)
    groups = max(1, math.ceil(plants / MAX_IDS))
    for hours in (1, 2, 3, 4, 6, 8, 12, 24):
        recurring = groups * (24 // hours + HISTORY_RECURRING)
        if recurring + HISTORY_DEEP_TARGET <= share:
            return hours * 3600.0, share - recurring
    return math.inf, max(0, share - groups)


def _kwh(data: Mapping[str, object], key: str) -> float | None:
    """A non-negative energy of an hourly record; None when absent, not a number or negative."""
    value = to_float(data.get(key))
    return value if value is not None and value >= 0.0 else None


def map_hour_kpi(data: Mapping[str, object]) -> dict[Flow, float]:
    """The flows of one hourly ``dataItemMap`` (kWh); a flow without a usable value is absent.

    PV: ``PVYield`` where the platform sends that key (the PV side's energy), else the
    documented ``inverter_power`` (inverter yield; on a hybrid inverter it may include battery
    discharge, the only PV figure older platforms give). Grid export: ``ongrid_power``. Battery:
    ``chargeCap`` / ``dischargeCap``. Load: ``use_power``. Grid import is not delivered: no key
    reports it, and an energy balance of yields that mix the DC and AC sides would invent it.
    """
    out: dict[Flow, float] = {}
    pv_key = "PVYield" if "PVYield" in data else "inverter_power"
    keys = (
        (Flow.PV, pv_key),
        (Flow.GRID_EXPORT, "ongrid_power"),
        (Flow.BATTERY_CHARGE, "chargeCap"),
        (Flow.BATTERY_DISCHARGE, "dischargeCap"),
        (Flow.LOAD, "use_power"),
    )
    for flow, key in keys:
        value = _kwh(data, key)
        if value is not None:
            out[flow] = value
    return out


def plant_zone(plant: Plant, default: tzinfo) -> tuple[tzinfo, bool]:
    """(zone, own): the plant's own zone when it names one that can be used, else ``default``.

    The northbound plant lists give no time zone (only the grid connection date with its UTC
    offset at that date, which says nothing about daylight saving), so ``own`` is False unless
    the caller filled ``Plant.time_zone``.
    """
    name = (plant.time_zone or "").strip()
    if name:
        try:
            return ZoneInfo(name), True
        except (ZoneInfoNotFoundError, ValueError):
            offset = parse_offset(name)
            if offset is not None:
                return offset, True
    return default, False


def hour_buckets(
    stamps: Sequence[tuple[datetime, dict[Flow, float]]], zone: tzinfo
) -> list[tuple[datetime, datetime, Mapping[Flow, float]]]:
    """Intervals of a plant's hourly records, in time order.

    A record covers its local hour: from its start to the next hour on the local wall clock, so
    that the local 02:00 record of the day the clocks go back (the cloud has 24 records at most;
    that record holds both 02:00 hours) covers two hours, while on the day they go forward no
    record exists for 02:00. A record never reaches into the next record.
    """
    ordered = sorted(stamps, key=lambda item: item[0])
    buckets: list[tuple[datetime, datetime, Mapping[Flow, float]]] = []
    for index, (start, flows) in enumerate(ordered):
        local = start.astimezone(zone).replace(minute=0, second=0, microsecond=0, fold=0)
        end = (local + timedelta(hours=1)).astimezone(UTC)
        if end <= start:
            end = start + timedelta(hours=1)
        if index + 1 < len(ordered):
            end = min(end, ordered[index + 1][0])
        if end > start:
            buckets.append((start, end, flows))
    return buckets


def account_id_for(server: str, username: str) -> str:
    """Unique id of an account: ``huawei_fusionsolar:<host>:<username>``."""
    host = (urlsplit(server).hostname or server).lower()
    return f"{VENDOR}:{host}:{username.strip().lower()}"


class HuaweiClient:
    """Client of one northbound API account."""

    vendor = VENDOR
    # The cloud ends a forced charge after dispatchTime minutes or at targetSOC by itself.
    force_limits_native: bool = True

    def __init__(
        self,
        session: aiohttp.ClientSession,
        server: str,
        username: str,
        system_code: str,
        *,
        quota: Quota | None = None,
        session_state: Session | None = None,
        clock: Clock | None = None,
        timeout: float | None = None,
        language: str = "en_US",
        token_provider: TokenProvider | None = None,
        token_refresh: TokenRefresh | None = None,
    ) -> None:
        self._session = session
        self._server = server.rstrip("/")
        # Bearer mode: valid access tokens on demand, and a forced refresh after a refusal.
        self._token_provider = token_provider
        self._token_refresh = token_refresh
        self._username = username
        self._system_code = system_code
        self.quota = quota or Quota(clock=clock or wall_clock)
        self._clock: Clock = clock or self.quota.clock
        self._timeout = aiohttp.ClientTimeout(total=timeout or REQUEST_TIMEOUT)
        self.language = language if language in LANGUAGES else "en_US"
        self._sess = session_state or Session()
        self._digest = hashlib.sha256(f"{username}\0{system_code}".encode()).hexdigest()
        self._legacy_station_list = False
        self._meter_factor: dict[str, float] = {}
        self._changes: dict[str, tuple[int, datetime]] = {}
        self.logins = 0
        self.session_takeovers = 0
        self.last_error: str | None = None
        self.errors: Counter[str] = Counter()
        # Controls: settings read back per plant, the working mode and rated powers the battery
        # reported, what each running task sent, and who may not control.
        self._settings: dict[str, _Settings] = {}
        # Plants whose working mode can be written (a battery, control permission).
        self._mode_plants: set[str] = set()
        self._kpi_mode: dict[str, tuple[str, float]] = {}
        self._rated: dict[str, tuple[float | None, float | None]] = {}
        self._sent: dict[tuple[str, str], _Sent] = {}
        self._access_lock = asyncio.Lock()
        self._denied: dict[str, str] = {}
        self.quota.set_allowance(E_LOGIN, Allowance(5, 600.0))
        for endpoint in CONTROL_PATHS:
            self.quota.set_allowance(endpoint, Allowance(1, CONTROL_INTERVAL, exclusive=True))
        if token_provider is None:
            self.quota.set_allowance(E_CONTROL_DAY, Allowance(CONTROL_DAILY_SUBMISSIONS, DAY))
        else:
            self.quota.set_allowance(E_CONTROL_DAY, Allowance(OAUTH_DAILY_SUBMISSIONS, DAY))
            self.quota.set_allowance(E_OAUTH_DAY, Allowance(OAUTH_DAILY_CALLS, DAY))
        self._size_allowances(1, Counter({38: 1}))
        self._size_history(1)

    @classmethod
    def bearer(
        cls,
        session: aiohttp.ClientSession,
        server: str,
        token_provider: TokenProvider,
        *,
        account: str,
        token_refresh: TokenRefresh | None = None,
        **kwargs: Any,
    ) -> HuaweiClient:
        """A client in OAuth Connect mode.

        ``token_provider`` returns a valid access token (refreshing it when it expired);
        ``token_refresh`` gets the token the cloud refused and returns a new one, refreshed even
        though it had not expired yet. Either raises AuthError when the owner's grant is gone.
        ``account`` names the account in ``account_id`` (the OAuth server names no user).
        The session should keep no cookies (``aiohttp.DummyCookieJar``): an ``XSRF-TOKEN``
        cookie of another client on the same host must never go along with the Bearer token;
        the client removes such a cookie from the session's jar before each request anyway.
        """
        return cls(
            session,
            server,
            account,
            "",
            token_provider=token_provider,
            token_refresh=token_refresh,
            **kwargs,
        )

    @property
    def oauth(self) -> bool:
        """Whether the client authenticates with OAuth Connect Bearer tokens."""
        return self._token_provider is not None

    # -- identity -----------------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        """``huawei_fusionsolar:<host>:<username>``."""
        return account_id_for(self._server, self._username)

    @property
    def server(self) -> str:
        """Base URL of the cloud."""
        return self._server

    # -- allowances ---------------------------------------------------------------------------

    def _size_allowances(self, plants: int, types: Counter[int]) -> None:
        plant_calls = max(1, math.ceil(plants / MAX_IDS))
        dev_calls = max(1, sum(math.ceil(n / MAX_IDS) for n in types.values() if n))
        q = self.quota
        q.set_allowance(E_STATIONS, Allowance(24, DAY, exclusive=True))
        q.set_allowance(E_STATION_LIST, Allowance(24, DAY, exclusive=True))
        q.set_allowance(E_STATION_KPI, Allowance(plant_calls, REALTIME_PERIOD, exclusive=True))
        q.set_allowance(E_DEV_LIST, Allowance(plant_calls + 24, DAY, exclusive=True))
        q.set_allowance(E_DEV_KPI, Allowance(dev_calls, REALTIME_PERIOD, exclusive=True))
        q.set_allowance(E_ALARMS, Allowance(plant_calls, ALARM_PERIOD, exclusive=True))

    def plan(self, plants: Sequence[Plant], devices: Sequence[Device]) -> PollPlan:
        """Size the allowances for this inventory and derive the poll rhythm.

        Real-time data: every 5 minutes (the cloud refreshes no faster; the allowance is sized
        for exactly one full round per window). Alarms: every 30 minutes. Device and plant
        lists: as often as half their daily allowance pays for, between 6 and 24 hours.
        """
        types = Counter(int(d.type_code) for d in devices if int(d.type_code) in DEVICE_TYPES)
        self._size_allowances(len(plants), types)
        pages = max(1, math.ceil(len(plants) / MAX_IDS))
        device_rounds = (pages + 24) * 0.5 / pages
        plant_rounds = 24 * 0.5 / pages
        realtime = REALTIME_PERIOD
        if self.oauth:
            # Every round must fit the daily budget: stretch the period when it does not.
            per_round = pages + max(1, sum(math.ceil(n / MAX_IDS) for n in types.values() if n))
            alarms = pages * DAY / ALARM_PERIOD
            rounds = max(1.0, OAUTH_DAILY_CALLS - OAUTH_RESERVE - alarms) / per_round
            realtime = max(REALTIME_PERIOD, math.ceil(DAY / rounds))
        return PollPlan(
            realtime=realtime,
            alarms=ALARM_PERIOD,
            devices=min(DAY, max(DAY / 4, DAY / max(device_rounds, 1.0))),
            plants=min(DAY, max(DAY / 4, DAY / max(plant_rounds, 1.0))),
        )

    # -- transport ----------------------------------------------------------------------------

    def _token_valid(self) -> bool:
        return self._sess.valid(self._clock())

    async def async_login(self) -> None:
        """Make sure a valid session exists; log in only when none does (single flight).

        Bearer mode: makes sure the provider has a valid access token (no request to the API).
        """
        if self._token_provider is not None:
            await self._token_provider()
            return
        if self._token_valid():
            return
        await self._sess.async_ensure(self._clock, self._digest, self._login, backoff=LOGIN_BACKOFF)

    async def _login(self) -> None:
        async with self.quota.slot(E_LOGIN, max_wait=MAX_WAIT[E_LOGIN]):
            response, body = await self._post(
                "/thirdData/login",
                {"userName": self._username, "systemCode": self._system_code},
                token=None,
            )
        self._check_envelope(E_LOGIN, body)
        token = response.headers.get("XSRF-TOKEN") or self._cookie_token(response)
        if not token:
            raise ProtocolError("login answered without a session token", code="no_token")
        self.logins += 1
        self._sess.token = token
        self._sess.expires = self._clock() + TOKEN_LIFETIME - TOKEN_MARGIN
        _LOGGER.debug("Logged in to %s", self._server)

    @staticmethod
    def _cookie_token(response: aiohttp.ClientResponse) -> str | None:
        morsel = response.cookies.get("XSRF-TOKEN")
        if morsel is not None and morsel.value:
            return morsel.value
        for header in response.headers.getall("Set-Cookie", []):
            cookie: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):
                cookie.load(header)
            if "XSRF-TOKEN" in cookie and cookie["XSRF-TOKEN"].value:
                return cookie["XSRF-TOKEN"].value
        return None

    def _drop_xsrf_cookies(self, url: str) -> None:
        """Bearer mode: no XSRF-TOKEN cookie of another client may go along (the cloud would
        answer 305)."""
        jar = self._session.cookie_jar
        if isinstance(jar, aiohttp.DummyCookieJar):
            return
        if "XSRF-TOKEN" in jar.filter_cookies(URL(url)):

            def is_xsrf(morsel: Morsel[str]) -> bool:
                return morsel.key == "XSRF-TOKEN"

            jar.clear(is_xsrf)

    async def _post(
        self, path: str, payload: Mapping[str, Any], *, token: str | None, control: bool = False
    ) -> tuple[aiohttp.ClientResponse, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        url = f"{self._server}{path}"
        if self._token_provider is not None:
            self._drop_xsrf_cookies(url)
            if token:
                headers["Authorization"] = f"Bearer {token}"
        elif token:
            headers["XSRF-TOKEN"] = token
        try:
            async with self._session.post(
                url, json=dict(payload), headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.text()
        except TimeoutError as err:
            raise TransientError(f"{path}: no answer in time", code="timeout") from err
        except aiohttp.ClientError as err:
            raise TransientError(f"{path}: {type(err).__name__}", code="network") from err
        return response, self._decode(path, response.status, raw, control=control)

    def _decode(self, path: str, status: int, raw: str, *, control: bool = False) -> Any:
        if status == 401 and self._token_provider is not None:
            # The gateway refused the Bearer token (expired or revoked).
            raise _SessionExpiredError(401)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            if status < 500:
                _LOGGER.debug("%s answered HTTP %s with no JSON: %.300s", path, status, raw)
                if status == 429:
                    raise RateLimitedError(
                        f"{path}: HTTP 429", retry_after=60.0, code="http_429"
                    ) from None
                raise ProtocolError(
                    f"{path}: reply is not JSON (HTTP {status})", code=status
                ) from None
        if isinstance(body, dict) and str(body.get("errorCode")) == _GATEWAY_QUOTA_CODE:
            raise RateLimitedError(
                f"{path}: the gateway's call allowance is used up",
                retry_after=REALTIME_PERIOD,
                code=_GATEWAY_QUOTA_CODE,
            )
        if status == 429:
            raise RateLimitedError(f"{path}: HTTP 429", retry_after=60.0, code="http_429")
        if status >= 500:
            raise TransientError(f"{path}: HTTP {status}", code=f"http_{status}")
        if control and status == 400 and isinstance(body, dict) and "exceptionId" in body:
            # A control interface refusing the request's parameters (checked by the caller).
            return body
        if status >= 400 or not isinstance(body, dict):
            _LOGGER.debug("%s: unexpected reply (HTTP %s): %.300s", path, status, raw)
            raise ProtocolError(f"{path}: unexpected reply (HTTP {status})", code=status)
        return body

    def _check_envelope(self, endpoint: str, body: Mapping[str, Any]) -> None:
        """Raise the error class of a failed envelope."""
        if "exceptionId" in body and "failCode" not in body:
            raise ProtocolError(f"{endpoint}: {body.get('exceptionId')}", code="exception")
        code = to_int(body.get("failCode"))
        if body.get("success") is True and (code is None or code == 0):
            return
        if code is None:
            raise ProtocolError(f"{endpoint}: reply without failCode", code="no_fail_code")
        message = text(body.get("message")) or text(body.get("data"))
        self.errors[str(code)] += 1
        self.last_error = f"{endpoint}: {code}"
        if code in _RELOGIN_CODES:
            raise _SessionExpiredError(code)
        if code in _AUTH_CODES:
            raise AuthError(
                f"{endpoint}: login refused ({code})", code=code, vendor_message=message
            )
        if code in _PERMISSION_CODES:
            raise PermissionDeniedError(
                f"{endpoint}: not permitted ({code})", code=code, vendor_message=message
            )
        if code in _RATE_CODES:
            allowance = self.quota.allowance(endpoint)
            retry = allowance.period if allowance else 60.0
            if code == 429:
                retry = max(60.0, min(retry, 600.0))
            self.quota.block(endpoint, retry)
            raise RateLimitedError(
                f"{endpoint}: call frequency too high ({code})",
                retry_after=retry,
                code=code,
                vendor_message=message,
            )
        if code == _DAILY_CAP_CODE:
            retry = seconds_to_next_utc_day(self._clock())
            self.quota.block(endpoint, retry)
            raise RateLimitedError(
                f"{endpoint}: daily call limit reached",
                retry_after=retry,
                code=code,
                vendor_message=message,
            )
        if code in _BUSY_CODES:
            raise TransientError(f"{endpoint}: cloud busy ({code})", code=code)
        if code in _NO_RESOURCE_CODES:
            raise _NoResourcesError(code)
        raise ProtocolError(f"{endpoint}: request refused ({code})", code=code)

    async def _call(
        self,
        endpoint: str,
        path: str,
        payload: Mapping[str, Any],
        *,
        control: bool = False,
        budget: str | None = None,
        max_wait: float | None = None,
    ) -> tuple[Any, Mapping[str, Any]]:
        """Send one business request; on a lost session log in once and retry once.

        ``control``: the reply is judged as a control interface's (``_check_control_envelope``).
        ``budget``: a second allowance the call counts against (control submissions).
        ``max_wait``: how long to wait for room in the allowance (default: ``MAX_WAIT``).
        """
        wait = MAX_WAIT.get(endpoint, 0.0) if max_wait is None else max_wait
        budgets = [budget] if budget is not None else []
        if self._token_provider is not None and budget != E_CONTROL_DAY:
            budgets.append(E_OAUTH_DAY)
        token: str | None = None
        for attempt in (1, 2):
            if self._token_provider is not None:
                if token is None:
                    token = await self._token_provider()
            else:
                await self.async_login()
                token = self._sess.token
            try:
                async with contextlib.AsyncExitStack() as stack:
                    for name in budgets:
                        await stack.enter_async_context(self.quota.slot(name))
                    await stack.enter_async_context(self.quota.slot(endpoint, max_wait=wait))
                    _response, body = await self._post(path, payload, token=token, control=control)
                if control:
                    self._check_control_envelope(endpoint, body)
                else:
                    self._check_envelope(endpoint, body)
            except _SessionExpiredError as err:
                # Refused for the session, before the allowance counted it (and not carried out:
                # a command is sent again only because the cloud never took it).
                self.quota.refund(endpoint)
                for name in budgets:
                    self.quota.refund(name)
                if self._token_provider is not None:
                    if attempt == 2:
                        raise AuthError(
                            f"{endpoint}: the access token was refused again after a refresh",
                            code=err.code,
                        ) from err
                    token = await self._refreshed(token)
                    continue
                self._sess.drop(token)
                if attempt == 2:
                    self.session_takeovers += 1
                    raise TransientError(
                        f"{endpoint}: session ended again right after logging in; "
                        "another client is probably using this account",
                        code="session_conflict",
                    ) from err
                continue
            if self._token_provider is None and self._sess.token == token:
                self._sess.expires = self._clock() + TOKEN_LIFETIME - TOKEN_MARGIN
            params = body.get("params")
            return body.get("data"), params if isinstance(params, Mapping) else {}
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refreshed(self, refused: str | None) -> str:
        """A new access token after the cloud refused ``refused`` (Bearer mode)."""
        self.errors["token_refused"] += 1
        if self._token_refresh is not None and refused is not None:
            return await self._token_refresh(refused)
        assert self._token_provider is not None
        return await self._token_provider()

    def _server_time(self, params: Mapping[str, Any]) -> datetime:
        return ms_to_datetime(params.get("currentTime")) or datetime.fromtimestamp(
            self._clock(), UTC
        )

    # -- plants -------------------------------------------------------------------------------

    async def async_get_plants(self) -> list[Plant]:
        """Every plant of the account (``stations``, all pages; ``getStationList`` fallback)."""
        if not self._legacy_station_list:
            try:
                return await self._stations()
            except PermissionDeniedError as err:
                if err.code != "401":
                    raise
                _LOGGER.debug("stations refused with 401; using getStationList")
                self._legacy_station_list = True
        return await self._station_list()

    async def _stations(self) -> list[Plant]:
        plants: list[Plant] = []
        page = 1
        while True:
            data, _ = await self._call(
                E_STATIONS, "/thirdData/stations", {"pageNo": page, "pageSize": MAX_IDS}
            )
            if not isinstance(data, Mapping):
                raise ProtocolError("stations: data is not an object", code="shape")
            for item in data.get("list") or []:
                if isinstance(item, Mapping) and (code := text(item.get("plantCode"))):
                    plants.append(
                        Plant(
                            id=code,
                            name=text(item.get("plantName")) or code,
                            address=text(item.get("plantAddress")),
                            latitude=to_float(item.get("latitude")),
                            longitude=to_float(item.get("longitude")),
                            capacity_kw=to_float(item.get("capacity")),
                            grid_connection_date=parse_iso(item.get("gridConnectionDate")),
                        )
                    )
            page_count = to_int(data.get("pageCount")) or 1
            if page >= page_count or not data.get("list"):
                return plants
            page += 1

    async def _station_list(self) -> list[Plant]:
        data, _ = await self._call(E_STATION_LIST, "/thirdData/getStationList", {})
        if not isinstance(data, list):
            raise ProtocolError("getStationList: data is not a list", code="shape")
        plants: list[Plant] = []
        for item in data:
            if isinstance(item, Mapping) and (code := text(item.get("stationCode"))):
                capacity_mw = to_float(item.get("capacity"))
                plants.append(
                    Plant(
                        id=code,
                        name=text(item.get("stationName")) or code,
                        address=text(item.get("stationAddr")),
                        capacity_kw=None if capacity_mw is None else capacity_mw * 1000,
                    )
                )
        return plants

    # -- devices ------------------------------------------------------------------------------

    async def async_get_devices(self, plants: Sequence[Plant]) -> list[Device]:
        """Every device of the given plants (``getDevList``, 100 plants per call)."""
        devices: list[Device] = []
        for chunk in chunks([p.id for p in plants], MAX_IDS):
            try:
                data, _ = await self._call(
                    E_DEV_LIST,
                    "/thirdData/getDevList",
                    {"stationCodes": ",".join(chunk)},
                )
            except _NoResourcesError as err:
                # None of these plants is known any more: the plant list is out of date. An
                # empty answer here would remove every device; keep the previous list instead.
                raise ProtocolError("getDevList: unknown plants", code=err.code) from err
            if not isinstance(data, list):
                raise ProtocolError("getDevList: data is not a list", code="shape")
            devices.extend(d for item in data if (d := self._device(item)) is not None)
        return devices

    @staticmethod
    def _device(item: object) -> Device | None:
        if not isinstance(item, Mapping):
            return None
        dev_id = text(item.get("id"))
        plant_id = text(item.get("stationCode"))
        type_id = to_int(item.get("devTypeId"))
        if dev_id is None or plant_id is None or type_id is None:
            return None
        return Device(
            id=dev_id,
            plant_id=plant_id,
            name=text(item.get("devName")) or dev_id,
            kind=DEVICE_TYPES.get(type_id, DeviceKind.OTHER),
            type_code=str(type_id),
            model=text(item.get("model")) or text(item.get("invType")),
            serial_number=text(item.get("esnCode")),
            sw_version=text(item.get("softwareVersion")),
        )

    # -- real-time ----------------------------------------------------------------------------

    async def async_get_realtime(
        self, plants: Sequence[Plant], devices: Sequence[Device]
    ) -> dict[str, RealtimeData]:
        """One round: plant KPIs (100 per call), then device KPIs per type (100 per call)."""
        result: dict[str, RealtimeData] = {p.id: RealtimeData() for p in plants}
        for chunk in chunks([p.id for p in plants], MAX_IDS):
            try:
                data, params = await self._call(
                    E_STATION_KPI,
                    "/thirdData/getStationRealKpi",
                    {"stationCodes": ",".join(chunk)},
                )
            except _NoResourcesError:
                continue
            server_time = self._server_time(params)
            for item in data if isinstance(data, list) else []:
                if not isinstance(item, Mapping):
                    continue
                target = result.get(text(item.get("stationCode")) or "")
                kpi = item.get("dataItemMap")
                if target is None or not isinstance(kpi, Mapping):
                    continue
                target.plant, target.online = map_station_kpi(kpi)
                target.data_time = server_time
        by_type: dict[int, list[Device]] = {}
        for device in devices:
            if device.plant_id in result and int(device.type_code) in DEVICE_TYPES:
                by_type.setdefault(int(device.type_code), []).append(device)
        for type_id in sorted(by_type):
            for batch in chunks(by_type[type_id], MAX_IDS):
                await self._device_kpis(type_id, batch, result)
        by_plant: dict[str, list[Device]] = {}
        for device in devices:
            by_plant.setdefault(device.plant_id, []).append(device)
        for plant_id, realtime in result.items():
            derive_plant_power(realtime.plant, by_plant.get(plant_id, []), realtime.devices)
            realtime.data_time = self._data_time(plant_id, realtime)
        return result

    def _data_time(self, plant_id: str, realtime: RealtimeData) -> datetime | None:
        """When the cloud last received new data from the plant.

        The real-time replies carry no collection time, so this is the cloud's time of the
        first reply in which any of the plant's values changed: a data logger that stops
        reporting shows here as a time that no longer moves.
        """
        if realtime.data_time is None:
            return None
        fingerprint = hash(
            (
                tuple(sorted((k, str(v)) for k, v in realtime.plant.items())),
                tuple(
                    (dev, tuple(sorted((k, str(v)) for k, v in r.values.items())))
                    for dev, r in sorted(realtime.devices.items())
                ),
            )
        )
        previous = self._changes.get(plant_id)
        if previous is not None and previous[0] == fingerprint:
            return previous[1]
        self._changes[plant_id] = (fingerprint, realtime.data_time)
        return realtime.data_time

    async def _device_kpis(
        self, type_id: int, devices: Sequence[Device], result: dict[str, RealtimeData]
    ) -> None:
        by_id = {d.id: d for d in devices}
        try:
            data, params = await self._call(
                E_DEV_KPI,
                "/thirdData/getDevRealKpi",
                {"devIds": ",".join(by_id), "devTypeId": type_id},
            )
        except _NoResourcesError:
            return
        server_time = self._server_time(params)
        for item in data if isinstance(data, list) else []:
            if not isinstance(item, Mapping):
                continue
            device = by_id.get(text(item.get("devId")) or "")
            kpi = item.get("dataItemMap")
            if device is None or not isinstance(kpi, Mapping):
                continue
            factor = 1.0
            if type_id == 17:
                factor = meter_power_factor(kpi, self._meter_factor.get(device.id))
                self._meter_factor[device.id] = factor
            values, online = map_device_kpi(type_id, kpi, factor)
            if type_id == 39:
                self._note_battery(device, values)
            target = result[device.plant_id]
            target.devices[device.id] = DeviceReadings(values=values, online=online)
            if target.data_time is None:
                target.data_time = server_time

    # -- alarms -------------------------------------------------------------------------------

    async def async_get_alarms(self, plants: Sequence[Plant]) -> dict[str, list[Alarm]]:
        """Active alarms raised in the last 30 days (the longest span one call covers)."""
        result: dict[str, list[Alarm]] = {p.id: [] for p in plants}
        end = self._clock()
        begin = end - ALARM_LOOKBACK.total_seconds() + 60
        for chunk in chunks([p.id for p in plants], MAX_IDS):
            try:
                data, _ = await self._call(
                    E_ALARMS,
                    "/thirdData/getAlarmList",
                    {
                        "stationCodes": ",".join(chunk),
                        "beginTime": int(begin * 1000),
                        "endTime": int(end * 1000),
                        "language": self.language,
                    },
                )
            except _NoResourcesError:
                continue
            for item in data if isinstance(data, list) else []:
                alarm = self._alarm(item)
                if alarm is not None and alarm.plant_id in result:
                    result[alarm.plant_id].append(alarm)
        return result

    @staticmethod
    def _alarm(item: object) -> Alarm | None:
        if not isinstance(item, Mapping):
            return None
        plant_id = text(item.get("stationCode"))
        if plant_id is None:
            return None
        status = to_int(item.get("status"))
        if status is not None and status >= 4:  # handled or cleared
            return None
        level = to_int(item.get("lev"))
        category = to_int(item.get("alarmType"))
        serial = text(item.get("esnCode"))
        alarm_id = text(item.get("alarmId")) or "?"
        raised = ms_to_datetime(item.get("raiseTime"))
        return Alarm(
            id=f"{alarm_id}:{serial or ''}:{int(raised.timestamp()) if raised else ''}",
            plant_id=plant_id,
            name=text(item.get("alarmName")) or f"Alarm {alarm_id}",
            severity=None if level is None else SEVERITIES.get(level),
            raised_at=raised,
            cause=text(item.get("alarmCause")),
            repair_suggestion=text(item.get("repairSuggestion")),
            device_name=text(item.get("devName")),
            device_serial_number=serial,
            category=None if category is None else ALARM_CATEGORIES.get(category),
        )

    # -- hourly history -------------------------------------------------------------------------

    def _size_history(self, plants: int) -> None:
        share = history_share(plants, oauth=self.oauth)
        self.quota.set_allowance(E_HISTORY, Allowance(share, DAY))
        self.quota.set_allowance(E_KPI_HOUR, Allowance(1, KPI_HOUR_INTERVAL, exclusive=True))

    def history_plan(self, plants: Sequence[Plant]) -> HistoryPlan:
        """Size the history share for these plants and say how to spend it.

        Vendor figures (NBI22 6.1.4.2): getKpiStationHour allows ceil(plants / 100) + 24 calls a
        day per northbound user and one request a minute; one call reads one local day of up to
        100 plants. The share is that daily figure less ``HISTORY_SPARE`` for other tools (20 a
        day up to 100 plants, 22 for 250); the interface's minute is its own allowance. The live
        polls never use this interface, so the share takes nothing from them in account mode.
        In OAuth mode the reads also count against the daily OAuth budget: the share is at most
        16 a day, taken from the reserve ``plan`` keeps out of the real-time rounds.

        Account mode, 1 to 100 plants (one batch, 20 calls): a 3-hour refresh, 8 + 5 recurring
        reads and 7 deep reads a day; 250 plants (three batches, 22 calls): once a day, 3 * 6
        recurring and 4 deep reads. OAuth mode, one batch (16 calls): every 4 hours, 6 + 5
        recurring and 5 deep reads.
        """
        count = len(plants)
        self._size_history(count)
        refresh, deep = history_numbers(count, oauth=self.oauth)
        return HistoryPlan(
            refresh=refresh,
            batch=MAX_IDS,
            keeps_days=HISTORY_KEEPS_DAYS,
            settle=HISTORY_SETTLE,
            deep_reads_per_day=deep,
        )

    async def async_get_energy_days(
        self, plants: Sequence[Plant], day: date, zone: tzinfo
    ) -> dict[str, EnergyDay]:
        """Hourly energy of the local ``day`` of each plant (getKpiStationHour), by plant id.

        Flows: PV, grid export, battery charge and discharge, and load where the cloud reports
        them (see ``map_hour_kpi``); never grid import. The cloud picks the day in the plant's
        own zone, which it does not tell: the client uses ``Plant.time_zone`` when set, else
        ``zone``, and asks with local noon of ``day`` so that a zone a few hours off still
        selects the same date. Every record keeps its own time (ms since the epoch), so its
        energy lands on the right UTC hours whatever zone was used. Plants are read 100 to a
        call, per zone. Records of hours that have not begun are not taken; a plant the cloud
        returned no record for is absent.

        Never waits for the budget: the history share, the interface's minute and (OAuth) the
        daily OAuth budget are checked first, and RateLimitedError says how long to wait.
        """
        groups: dict[tzinfo, list[Plant]] = {}
        for plant in plants:
            groups.setdefault(plant_zone(plant, zone)[0], []).append(plant)
        result: dict[str, EnergyDay] = {}
        for plant_tz, members in groups.items():
            noon = datetime(day.year, day.month, day.day, 12, tzinfo=plant_tz)
            for chunk in chunks([p.id for p in members], MAX_IDS):
                data = await self._history_call(chunk, int(noon.timestamp() * 1000))
                result.update(self._energy_days(data, set(chunk), day, plant_tz))
        return result

    async def _history_call(self, codes: Sequence[str], collect_ms: int) -> list[Any]:
        """One getKpiStationHour call; the records, or [] when the cloud has none for them."""
        budgets = [E_HISTORY, E_KPI_HOUR]
        if self.oauth:
            budgets.append(E_OAUTH_DAY)
        # Nothing is sent and nothing counted unless every allowance has room now.
        wait = max(self.quota.wait_time(name) for name in budgets)
        if wait > 0:
            raise RateLimitedError("history: allowance used up", retry_after=wait, code="quota")
        try:
            data, _ = await self._call(
                E_KPI_HOUR,
                KPI_HOUR_PATH,
                {"stationCodes": ",".join(codes), "collectTime": collect_ms},
                budget=E_HISTORY,
                max_wait=0.0,
            )
        except _NoResourcesError:
            return []
        except RateLimitedError as err:
            if err.code == str(FC_TOO_FREQUENT_CODE):
                self.quota.block(E_HISTORY, HISTORY_REFUSED_WAIT)
                raise RateLimitedError(
                    f"{E_KPI_HOUR}: call frequency too high (407)",
                    retry_after=HISTORY_REFUSED_WAIT,
                    code=err.code,
                    vendor_message=err.vendor_message,
                ) from err
            raise
        except ProtocolError as err:
            if err.code == str(_RETENTION_CODE):
                return []  # older than the cloud keeps
            raise
        if data is None:
            return []
        if not isinstance(data, list):
            raise ProtocolError(f"{E_KPI_HOUR}: data is not a list", code="shape")
        return data

    def _energy_days(
        self, data: Sequence[Any], wanted: set[str], day: date, zone: tzinfo
    ) -> dict[str, EnergyDay]:
        start, end = day_bounds(day, zone)
        first, last = start - _HISTORY_SLACK, end + _HISTORY_SLACK
        now = datetime.fromtimestamp(self._clock(), UTC)
        records: dict[str, list[tuple[datetime, dict[Flow, float]]]] = {}
        for item in data:
            if not isinstance(item, Mapping):
                continue
            code = text(item.get("stationCode"))
            moment = ms_to_datetime(item.get("collectTime"))
            kpi = item.get("dataItemMap")
            if code is None or code not in wanted or moment is None:
                continue
            if not first <= moment < last or moment > now:
                continue
            flows = map_hour_kpi(kpi) if isinstance(kpi, Mapping) else {}
            stamps = records.setdefault(code, [])
            if all(stamp != moment for stamp, _ in stamps):
                stamps.append((moment, flows))
        out: dict[str, EnergyDay] = {}
        for code, stamps in records.items():
            buckets = hour_buckets(stamps, zone)
            hours = spread_buckets(b for b in buckets if b[2])
            out[code] = EnergyDay(plant_id=code, day=day, zone=zone, hours=hours)
        return out

    # -- controls -----------------------------------------------------------------------------

    def _note_battery(self, device: Device, values: Mapping[str, Reading]) -> None:
        """Keep what a battery's real-time KPIs say about its controls."""
        mode = values.get("battery_working_mode")
        if isinstance(mode, str) and mode in MODE_OPTIONS:
            self._kpi_mode[device.plant_id] = (mode, self._clock())
        if "battery_max_charge_power" in values:
            self._rated[device.id] = (
                _positive(values.get("battery_max_charge_power")),
                _positive(values.get("battery_max_discharge_power")),
            )

    # The permission check's outcome is kept as a hold on a pseudo-interface of the account's
    # quota, which the account keeps across reloads and restarts: a restart does not ask again.

    def _account_denial(self) -> str | None:
        """Why the account may not control, when a check or a refusal said so lately."""
        for code in sorted(_PERMISSION_CODES | _CONTROL_PERMISSION_CODES):
            if self.quota.wait_time(f"{ACCESS_DENIED}{code}") > 0:
                return f"no control permission ({code})"
        return None

    @property
    def control_permission(self) -> bool | None:
        """Whether the account may use the control interfaces: True when the last check (or a
        task) found them open, False when the cloud refused them to the account, None when not
        checked yet (or no plant has a battery to check for)."""
        if self._account_denial() is not None:
            return False
        if self.quota.wait_time(ACCESS_GRANTED) > 0:
            return True
        return None

    def _access_checked(self) -> bool:
        return self.quota.wait_time(ACCESS_GRANTED) > 0 or self._account_denial() is not None

    def _denial(self, plant_id: str) -> str | None:
        """Why the plant may not be controlled, if a check or a refusal said so."""
        return self._account_denial() or self._denied.get(plant_id)

    def _deny(self, plant_id: str, err: PermissionDeniedError) -> None:
        if err.code == "401":
            # The interface itself is closed to the account.
            self.quota.block(f"{ACCESS_DENIED}{err.code}", PERMISSION_TTL)
        else:
            self._denied[plant_id] = f"no control permission ({err.code})"

    async def _control_permission(self) -> str | None:
        """None when the account may use the control interfaces, else why not (cached a day).

        Asks the configuration status interface about a task id that cannot exist: the cloud
        answers 20620 (no such task) when the interface is open to the account, 401 when not.
        Never waits for the interface's minute: a used-up allowance raises RateLimitedError.
        """
        if self._access_checked():
            return self._account_denial()
        async with self._access_lock:
            if self._access_checked():
                return self._account_denial()
            try:
                await self._call(
                    E_CONFIG_INFO,
                    CONTROL_PATHS[E_CONFIG_INFO],
                    {"taskId": PROBE_TASK_ID},
                    control=True,
                    max_wait=0.0,
                )
            except PermissionDeniedError as err:
                self.quota.block(f"{ACCESS_DENIED}{err.code}", PERMISSION_TTL)
                return f"no control permission ({err.code})"
            except CommandRejectedError:
                pass  # the interface answered for the task: it is open
            self.quota.block(ACCESS_GRANTED, PERMISSION_TTL)
            return None

    def can_force(self, plant: Plant, devices: Sequence[Device]) -> bool:
        """A plant with a battery whose control was not refused."""
        if self._denial(plant.id) is not None:
            return False
        return any(d.plant_id == plant.id and d.kind is DeviceKind.BATTERY for d in devices)

    async def async_get_controls(
        self, plant: Plant, devices: Sequence[Device]
    ) -> tuple[list[ControlSpec], dict[str, str]]:
        """The plant's battery controls; none without a battery or without permission.

        The settings are plant-wide in the cloud; they are shown on the plant's (first)
        battery, the feed-in limit on its inverter (else its grid meter or power sensor, else
        the battery).
        """
        reasons: dict[str, str] = {}
        mine = [d for d in devices if d.plant_id == plant.id]
        for device in mine:
            if device.kind is DeviceKind.ENERGY_STORAGE:
                reasons[device.id] = (
                    "C&I energy storage (41): the battery control tasks cover residential "
                    "batteries (39) only"
                )
        batteries = [d for d in mine if d.kind is DeviceKind.BATTERY]
        self._mode_plants.discard(plant.id)
        if not batteries:
            reasons.update(dict.fromkeys(CONTROL_KEYS, "the plant has no battery (devTypeId 39)"))
            return [], reasons
        denied = self._denial(plant.id)
        if denied is None:
            try:
                denied = await self._control_permission()
            except (RateLimitedError, TransientError, ProtocolError) as err:
                reasons["permission"] = (
                    f"not checked ({err.code}); controls offered, a write will tell"
                )
        if denied is not None:
            reasons.update(dict.fromkeys(CONTROL_KEYS, denied))
            return [], reasons
        battery = batteries[0]
        self._mode_plants.add(plant.id)
        for other in batteries[1:]:
            reasons[other.id] = f"plant-wide settings: shown on {battery.name}"
        reasons[f"{BATTERY_WORKING_MODE}:external_dispatch"] = (
            "thirdPartyDispatch cannot be set with the working mode task (TOU and "
            "maximumSelfConsumption only)"
        )
        specs = [
            ControlSpec(
                BATTERY_WORKING_MODE,
                battery.id,
                ControlKind.SELECT,
                options=tuple(MODE_OPTIONS),
                vendor_ref="operationMode",
            ),
            ControlSpec(
                BATTERY_CHARGE_CUTOFF_SOC,
                battery.id,
                ControlKind.NUMBER,
                unit="%",
                minimum=END_OF_CHARGE_SOC[0],
                maximum=END_OF_CHARGE_SOC[1],
                step=0.1,
                vendor_ref=CONFIG_FIELDS[BATTERY_CHARGE_CUTOFF_SOC][0],
            ),
            ControlSpec(
                BATTERY_DISCHARGE_CUTOFF_SOC,
                battery.id,
                ControlKind.NUMBER,
                unit="%",
                minimum=END_OF_DISCHARGE_SOC[0],
                maximum=END_OF_DISCHARGE_SOC[1],
                step=0.1,
                vendor_ref=CONFIG_FIELDS[BATTERY_DISCHARGE_CUTOFF_SOC][0],
            ),
        ]
        # The battery's maximum charge and discharge power, as its real-time KPIs reported them
        # in a round of this client (no extra request: the real-time allowance is spent on the
        # rounds).
        rated = self._rated.get(battery.id, (None, None))
        for key, known in zip(
            (BATTERY_MAX_CHARGE_POWER, BATTERY_MAX_DISCHARGE_POWER), rated, strict=True
        ):
            top = FALLBACK_MAX_POWER_W if known is None else known
            if known is None:
                reasons[f"{key}:range"] = (
                    "the battery's rated power is not known yet (no real-time round since "
                    f"start-up): offered up to {FALLBACK_MAX_POWER_W:g} W; the cloud caps a "
                    "value above the battery's maximum"
                )
            specs.append(
                ControlSpec(
                    key,
                    battery.id,
                    ControlKind.NUMBER,
                    unit="W",
                    minimum=0.0,
                    maximum=top,
                    step=1.0,
                    vendor_ref=CONFIG_FIELDS[key][0],
                )
            )
        host = next(
            (
                d
                for kind in (DeviceKind.INVERTER, DeviceKind.GRID_METER, DeviceKind.POWER_SENSOR)
                for d in mine
                if d.kind is kind
            ),
            None,
        )
        if host is None:
            host = battery
            reasons[f"{GRID_EXPORT_LIMIT}:device"] = (
                "the plant lists no inverter or meter: the feed-in limit is shown on the battery"
            )
        specs.append(
            ControlSpec(
                GRID_EXPORT_LIMIT,
                host.id,
                ControlKind.NUMBER,
                unit="W",
                minimum=0.0,
                maximum=FEED_IN_MAX_W,
                step=1.0,
                vendor_ref="maxGridFeedInPower",
            )
        )
        return specs, reasons

    def _mode_value(self, plant_id: str) -> str | None:
        """The working mode: a task's read-back, or the KPI once it is newer than the task."""
        settings = self._settings.get(plant_id)
        kpi = self._kpi_mode.get(plant_id)
        if settings is not None and settings.mode is not None:
            if kpi is not None and kpi[1] >= settings.mode_at + REALTIME_PERIOD:
                return kpi[0]
            return settings.mode
        return kpi[0] if kpi is not None else None

    async def async_read_controls(
        self, plant: Plant, specs: Sequence[ControlSpec]
    ) -> dict[tuple[str, str], Reading]:
        """The values the cloud last reported (see the module docstring); no request is sent."""
        settings = self._settings.get(plant.id) or _Settings()
        values: dict[tuple[str, str], Reading] = {}
        for spec in specs:
            value: Reading
            if spec.key == BATTERY_WORKING_MODE:
                value = self._mode_value(plant.id)
            elif spec.key in CONFIG_FIELDS:
                value = settings.config.get(spec.key)
            elif spec.key == GRID_EXPORT_LIMIT:
                value = settings.export_limit_w
            else:
                continue
            values[(spec.device_id, spec.key)] = value
        return values

    @staticmethod
    def _number(spec: ControlSpec, value: Reading) -> float:
        number = to_float(value) if isinstance(value, int | float) else None
        if number is None:
            raise CommandRejectedError(f"{spec.key}: {value!r} is not a number", code="invalid")
        return number

    async def async_start_control(
        self, plant: Plant, spec: ControlSpec, value: Reading
    ) -> ControlTask:
        """Send one setting as a task of its family; the range is left to the cloud to check."""
        settings = self._settings.get(plant.id) or _Settings()
        entry: dict[str, Any] = {"plantCode": plant.id}
        if spec.key == BATTERY_WORKING_MODE:
            if not isinstance(value, str) or value not in MODE_OPTIONS:
                raise CommandRejectedError(
                    f"{spec.key}: {value!r} is not one of {', '.join(MODE_OPTIONS)}",
                    code="invalid_option",
                )
            kind = _MODE_TASK
            entry["operationMode"] = MODE_OPTIONS[value]
            entry.update(settings.companions)
            if value == "time_of_use" and settings.windows is not None:
                # Keep the plant's charge/discharge windows as they were read back.
                entry[_WINDOWS_FIELD] = settings.windows
        elif spec.key in CONFIG_FIELDS:
            kind = _CONFIG_TASK
            number = self._number(spec, value)
            info = {
                CONFIG_FIELDS[key][0]: self._config_wire(key, known)
                for key, known in settings.config.items()
                if key != spec.key
            }
            info[CONFIG_FIELDS[spec.key][0]] = self._config_wire(spec.key, number)
            entry["batteryConfigurationInfo"] = info
            value = number
        elif spec.key == GRID_EXPORT_LIMIT:
            kind = _POWER_TASK
            number = self._number(spec, value)
            entry["controlMode"] = "6"
            entry["controlInfo"] = {
                "maxGridFeedInPower": _plain(round(number / 1000.0, 3)),
                "limitationMode": settings.limitation_mode or "0",
            }
            value = number
        else:
            raise CommandRejectedError(
                f"{spec.key}: not a control of this vendor", code="unknown_control"
            )
        return await self._submit(plant, kind, entry, spec.key, spec.device_id, value)

    @staticmethod
    def _config_wire(key: str, value: float) -> int | float:
        decimals = CONFIG_FIELDS[key][2]
        return _plain(round(value, decimals)) if decimals else round(value)

    async def async_start_force(
        self, plant: Plant, device_id: str | None, request: ForceRequest
    ) -> ControlTask:
        """A plant-wide forced charge or discharge for a duration or up to a target SOC."""
        if (request.duration_min is None) == (request.target_soc is None):
            raise CommandRejectedError(
                "a forced charge needs either a duration or a target SOC", code="invalid"
            )
        if not request.power_w > 0:
            raise CommandRejectedError(
                f"power {request.power_w:g} W: must be above 0", code="invalid"
            )
        power = round(request.power_w)
        entry: dict[str, Any] = {
            "plantCode": plant.id,
            "dispatchSwitch": 2 if request.discharge else 1,
            "powerDispatch": -power if request.discharge else power,
        }
        if request.target_soc is not None:
            entry["controlType"] = 1
            entry["targetSOC"] = _plain(round(request.target_soc, 1))
        elif request.duration_min is not None:
            entry["controlType"] = 2
            entry["dispatchTime"] = max(1, round(request.duration_min))
        action = FORCE_DISCHARGE if request.discharge else FORCE_CHARGE
        task = await self._submit(plant, _FORCE_TASK, entry, action, device_id, float(power))
        task.details.update(
            {
                "duration_min": entry.get("dispatchTime"),
                "target_soc": entry.get("targetSOC"),
            }
        )
        return task

    def can_set_time_of_use(self, plant: Plant) -> bool:
        """A plant whose working mode can be written (and whose control was not refused)."""
        return plant.id in self._mode_plants and self._denial(plant.id) is None

    async def async_set_time_of_use(
        self, plant: Plant, windows: Sequence[TouWindow]
    ) -> ControlTask:
        """The TOU working mode with these windows (the other mode settings kept as read)."""
        if not 1 <= len(windows) <= MAX_TOU_WINDOWS:
            raise CommandRejectedError(
                f"{len(windows)} windows: 1 to {MAX_TOU_WINDOWS} are allowed", code="invalid"
            )
        settings = self._settings.get(plant.id) or _Settings()
        wire = [
            {
                "startTime": window.start,
                "endTime": window.end,
                "chargeOrDischarge": "discharge" if window.discharge else "charge",
                "repeat": sorted(window.days),
            }
            for window in windows
        ]
        entry: dict[str, Any] = {
            "plantCode": plant.id,
            "operationMode": MODE_OPTIONS["time_of_use"],
            **settings.companions,
            _WINDOWS_FIELD: wire,
        }
        summary = "; ".join(
            f"{w['startTime']}-{w['endTime']} {w['chargeOrDischarge']} "
            + "".join(str(day) for day in w["repeat"])
            for w in wire
        )
        task = await self._submit(plant, _MODE_TASK, entry, SET_TIME_OF_USE, None, summary)
        task.details["windows"] = len(wire)
        return task

    async def async_stop_force(self, plant: Plant, device_id: str | None) -> ControlTask:
        """End the plant's forced charge or discharge (dispatchSwitch 0)."""
        entry: dict[str, Any] = {"plantCode": plant.id, "dispatchSwitch": 0}
        return await self._submit(plant, _FORCE_TASK, entry, STOP_FORCED_CHARGE, device_id, None)

    async def _submit(
        self,
        plant: Plant,
        kind: _TaskKind,
        entry: Mapping[str, Any],
        action: str,
        device_id: str | None,
        value: Reading,
    ) -> ControlTask:
        """Send one plant's task; the cloud's refusal raises, a delivered task is RUNNING."""
        try:
            data, _ = await self._call(
                kind.submit,
                CONTROL_PATHS[kind.submit],
                {"tasks": [dict(entry)]},
                control=True,
                budget=E_CONTROL_DAY,
            )
        except PermissionDeniedError as err:
            self._deny(plant.id, err)
            raise
        task_id = self._accepted(kind, plant.id, data)
        self._sent[(kind.submit, task_id)] = _Sent(plant.id, entry)
        return ControlTask(
            id=task_id,
            plant_id=plant.id,
            device_id=device_id,
            action=action,
            value=value,
            state=TaskState.RUNNING,
            started_at=self._clock(),
            poll_interval=kind.poll,
            timeout=TASK_TIMEOUT,
        )

    @staticmethod
    def _accepted(kind: _TaskKind, plant_id: str, data: object) -> str:
        """The task id of a submission, or why the cloud did not take it for the plant."""
        if not isinstance(data, Mapping):
            raise ProtocolError(f"{kind.submit}: the reply holds no task", code="shape")
        results = [r for r in _rows(data.get("result")) if _plant_of(r) in (None, plant_id)]
        if kind is _FORCE_TASK:
            failed = [r for r in results if to_int(r.get("dispatchResult")) not in (None, 0)]
            if results and len(failed) == len(results):
                raise CommandRejectedError(
                    f"{kind.submit}: the cloud could not deliver the task",
                    code="dispatch_failed",
                    vendor_message=text(failed[0].get("message")),
                )
            task_id = text(data.get("requestID")) or text(data.get("requestId"))
        else:
            failed = [r for r in results if (text(r.get("status")) or "").upper() == "FAIL"]
            if failed:
                message = text(failed[0].get("message"))
                raise CommandRejectedError(
                    f"{kind.submit}: refused for the plant ({message or 'FAIL'})",
                    code="FAIL",
                    vendor_message=message,
                )
            task_id = text(data.get("taskId"))
        if task_id is None:
            raise ProtocolError(f"{kind.submit}: the reply holds no task id", code="shape")
        return task_id

    async def async_poll_task(self, task: ControlTask) -> ControlTask:
        """Ask the task's status interface how it stands and update the task."""
        if task.done:
            return task
        kind = _TASK_KINDS.get(task.action)
        if kind is None:
            raise CommandRejectedError(f"{task.action}: not a task of this vendor", code="unknown")
        try:
            data, _ = await self._call(
                kind.status, CONTROL_PATHS[kind.status], {kind.id_field: task.id}, control=True
            )
        except CommandRejectedError as err:
            if to_int(err.code) not in _LOST_TASK_CODES:
                raise
            # The cloud no longer knows the task.
            self._finish(task, kind, TaskState.FAILED, f"{err.code} {err.vendor_message or ''}")
            return task
        if kind is _FORCE_TASK:
            state, reason = self._charge_status(task, data)
        else:
            state, reason = self._task_info(task, kind, data)
        if state is not TaskState.RUNNING:
            self._finish(task, kind, state, reason)
            return task
        running_for = self._clock() - task.started_at
        if running_for >= task.timeout:
            self._finish(
                task, kind, TaskState.TIMED_OUT, f"no result within {task.timeout / 3600:g} h"
            )
        elif kind is not _FORCE_TASK and running_for >= TASK_SLOW_AFTER:
            task.poll_interval = TASK_SLOW_POLL_INTERVAL
        return task

    def _finish(
        self, task: ControlTask, kind: _TaskKind, state: TaskState, reason: str | None
    ) -> None:
        task.state = state
        task.reason = reason.strip() if reason else None
        task.finished_at = self._clock()
        self._sent.pop((kind.submit, task.id), None)

    @staticmethod
    def _charge_status(task: ControlTask, data: object) -> tuple[TaskState, str | None]:
        """chargeAndDischargeStatus: 0 done, 1 running, 2 failed or timed out."""
        item: object = data
        if isinstance(data, list):
            item = next((r for r in _rows(data) if _plant_of(r) in (None, task.plant_id)), None)
        if not isinstance(item, Mapping):
            raise ProtocolError(f"{E_CHARGE_STATUS}: no status in the reply", code="shape")
        for key, name in (
            ("chargedCapacity", "charged_energy_kwh"),
            ("dischargedCapacity", "discharged_energy_kwh"),
        ):
            if (amount := to_float(item.get(key))) is not None:
                task.details[name] = amount
        status = to_int(item.get("status"))
        message = text(item.get("message"))
        if status == 1:
            return TaskState.RUNNING, None
        if status == 0:
            return TaskState.SUCCESS, None
        if status == 2:
            if message is not None and "timeout" in message.lower():
                return TaskState.TIMED_OUT, message
            return TaskState.FAILED, message or "2"
        raise ProtocolError(f"{E_CHARGE_STATUS}: unknown status {status}", code="status")

    def _task_info(
        self, task: ControlTask, kind: _TaskKind, data: object
    ) -> tuple[TaskState, str | None]:
        """task-info: the plant's RUNNING / SUCCESS / FAIL (with FAILURE, TIMEOUT, BUSY …)."""
        rows = (
            _rows(data.get("dispatchResult") or data.get("dispatch_result"))
            if isinstance(data, Mapping)
            else []
        )
        row = next((r for r in rows if _plant_of(r) in (None, task.plant_id)), None)
        if row is None:
            raise ProtocolError(f"{kind.status}: no result for the plant", code="shape")
        status = (text(row.get("status")) or "").upper()
        message = text(row.get("message"))
        if status == "RUNNING":
            return TaskState.RUNNING, None
        if status == "SUCCESS":
            self._record(task, kind, row)
            return TaskState.SUCCESS, None
        if status in ("FAIL", "FAILED", "FAILURE"):
            if message is not None and message.upper() == "TIMEOUT":
                return TaskState.TIMED_OUT, message
            return TaskState.FAILED, message or status
        raise ProtocolError(f"{kind.status}: unknown status {status!r}", code="status")

    def _record(self, task: ControlTask, kind: _TaskKind, row: Mapping[str, Any]) -> None:
        """Keep the settings a successful task applied: its echo, else what it sent."""
        sent = self._sent.get((kind.submit, task.id))
        entry: Mapping[str, Any] = sent.entry if sent is not None else {}
        settings = self._settings.setdefault(task.plant_id, _Settings())
        if kind is _MODE_TASK:
            mode = _MODE_KEYS.get(text(row.get("operationMode")) or "") or _MODE_KEYS.get(
                text(entry.get("operationMode")) or ""
            )
            if mode is not None:
                settings.mode = mode
                settings.mode_at = self._clock()
            for name in _MODE_COMPANIONS:
                companion = row.get(name, entry.get(name))
                if companion is not None:
                    settings.companions[name] = companion
            windows = row.get(_WINDOWS_FIELD, entry.get(_WINDOWS_FIELD))
            if isinstance(windows, list):
                settings.windows = windows
        elif kind is _CONFIG_TASK:
            info = row.get("batteryConfigurationInfo") or row.get("battery_configuration_info")
            if not isinstance(info, Mapping):
                sent_info = entry.get("batteryConfigurationInfo")
                info = sent_info if isinstance(sent_info, Mapping) else {}
            for key, (camel, snake, decimals) in CONFIG_FIELDS.items():
                number = to_float(info.get(camel, info.get(snake)))
                if number is not None:
                    settings.config[key] = round(number, decimals)
        elif kind is _POWER_TASK:
            control_mode = text(row.get("controlMode")) or text(entry.get("controlMode"))
            info = row.get("controlInfo")
            if not isinstance(info, Mapping):
                sent_info = entry.get("controlInfo")
                info = sent_info if isinstance(sent_info, Mapping) else {}
            if control_mode == "0":
                settings.export_limit_w = None  # no limit
            elif control_mode == "6":
                limit_kw = to_float(info.get("maxGridFeedInPower"))
                settings.export_limit_w = None if limit_kw is None else round(limit_kw * 1000, 3)
            settings.limitation_mode = text(info.get("limitationMode")) or settings.limitation_mode

    def _check_control_envelope(self, endpoint: str, body: Mapping[str, Any]) -> None:
        """Raise the error class of a control interface's failed reply.

        A refusal of the command itself is CommandRejectedError; permission, rate limits,
        sessions and busy answers map as for every interface. failCode 1 (partly done) passes,
        the per-plant results decide; 2 (failed) raises with the plant's message.
        """
        if "exceptionId" in body and "failCode" not in body:
            details = body.get("detailArgs")
            message = "; ".join(str(d) for d in details) if isinstance(details, list) else None
            raise CommandRejectedError(
                f"{endpoint}: request refused ({body.get('exceptionId')})",
                code=text(body.get("exceptionId")) or "exception",
                vendor_message=message,
            )
        code = to_int(body.get("failCode"))
        data = body.get("data")
        if code in _TASK_RESULT_CODES and isinstance(data, Mapping):
            if code == 1:
                return
            failed = next(
                (
                    r
                    for r in _rows(data.get("result"))
                    if (text(r.get("status")) or "").upper() == "FAIL"
                    or to_int(r.get("dispatchResult")) not in (None, 0)
                ),
                None,
            )
            message = (text(failed.get("message")) if failed else None) or text(body.get("message"))
            self.errors[str(code)] += 1
            self.last_error = f"{endpoint}: {code}"
            raise CommandRejectedError(
                f"{endpoint}: the task failed ({message or code})",
                code=code,
                vendor_message=message,
            )
        message = text(body.get("message"))
        if code in _CONTROL_PERMISSION_CODES:
            self.errors[str(code)] += 1
            self.last_error = f"{endpoint}: {code}"
            raise PermissionDeniedError(
                f"{endpoint}: not permitted for this plant ({code})",
                code=code,
                vendor_message=message,
            )
        try:
            self._check_envelope(endpoint, body)
        except (ProtocolError, _NoResourcesError) as err:
            if code is None:
                raise
            raise CommandRejectedError(
                f"{endpoint}: {CONTROL_CODES.get(code, 'refused')} ({code})",
                code=code,
                vendor_message=message or CONTROL_CODES.get(code),
            ) from err

    # -- diagnostics --------------------------------------------------------------------------

    def diagnostics(self) -> dict[str, object]:
        """Non-secret client state."""
        now = self._clock()
        return {
            "server": self._server,
            "auth_mode": "oauth" if self.oauth else "account",
            "session_valid": self._token_valid(),
            "session_expires_in_s": round(max(0.0, self._sess.expires - now)),
            "logins": self.logins,
            "session_takeovers": self.session_takeovers,
            "legacy_station_list": self._legacy_station_list,
            "meter_power_unit": {
                dev: ("kW" if factor == 1000.0 else "W")
                for dev, factor in self._meter_factor.items()
            },
            "error_codes": dict(self.errors),
            "last_error": self.last_error,
            "control_permission": self._account_denial()
            or ("granted" if self._access_checked() else None),
            "control_denied_plants": sorted(self._denied),
            "control_tasks_followed": len(self._sent),
            "quota": self.quota.snapshot(),
        }


class _SessionExpiredError(SolarCloudError):
    """305: the session ended (expired, or another login replaced it)."""

    def __init__(self, code: int) -> None:
        super().__init__("session ended", code=code)


class _NoResourcesError(SolarCloudError):
    """20007 / 20008: none of the requested plants or devices exist (any more)."""

    def __init__(self, code: int) -> None:
        super().__init__("no such plants or devices", code=code)
