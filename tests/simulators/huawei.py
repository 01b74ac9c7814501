"""Strict fake of the Huawei FusionSolar / SmartPVMS northbound ("thirdData") API.

The simulator is an ``aiohttp.web`` application that follows the vendor document as closely
as a fake can: the JSON envelope, the XSRF-TOKEN session (one live session per account, a
30-minute idle expiry, lockout after repeated wrong passwords), the per-account flow control
windows, parameter validation with the documented failCodes and every ``dataItemMap`` key of
the real-time device types.

Measurements are deterministic. Every plant follows a daily sun curve on local solar time;
each plant's day is precomputed once at one-minute resolution (PV, house load, battery and
grid flows plus their running integrals), so any clock value maps to the same answer and
lifetime counters are closed-form: ``days since grid connection * daily total + today``.
No state is kept between calls apart from sessions, flow control counters and test mutations.

The clock, counters, request log and fault injection (``inject`` / ``clear_faults``) come
from ``tests.simulators.common``, shared with the other vendor simulators.

Typical use::

    sim = HuaweiSimulator(plants=2, clock=fake_clock)
    server = await aiohttp_server(sim.app)
    sim.inject("fail_code:20056", path="getDevRealKpi")

Controls (battery plants): the four asynchronous task interfaces under ``/rest/openapi/pvms``
(working mode, battery configuration, active power / feed-in limit, forced charge and
discharge) with their status queries. A task is RUNNING for ``task_delay`` seconds on the
simulator's clock, then SUCCESS (the plant's stored settings change, and the status reply
reports them) or FAIL; a forced charge then runs for its ``dispatchTime`` or until its
``targetSOC`` would be reached. Parameters are checked with the documented failCodes (20040-20047
for charge/discharge, 20607-20616 for the other tasks), a second task of the same kind for a plant
while one runs is refused with 20615, and every control interface takes one call per minute.
Test hooks: ``set_task_delay``, ``fail_next_task``, ``refuse_next_delivery``, ``deny_control``,
``control_daily_cap``, ``battery_settings``, ``forcing`` and ``control_requests``.

OAuth Connect: the same application also plays the FusionSolar OAuth server
(``/rest/dp/uidm/oauth2/v1/authorize`` and ``…/token``, RFC 6749 authorization code grant with
a client secret). The authorize endpoint signs in as ``oauth_user`` (by default the first
account) without a login page and redirects to ``redirect_uri`` with a single-use ``code``
(valid ``CODE_TTL`` seconds) and the ``state``, which it refuses above ``STATE_MAX`` characters.
The token endpoint exchanges codes and refresh tokens; refresh tokens rotate (the one used
stops working), access tokens last ``ACCESS_TTL`` seconds; refusals follow RFC 6749 §5.2
(``invalid_client`` with HTTP 401, ``invalid_grant`` and ``invalid_request`` with 400). API calls
with ``Authorization: Bearer`` act for the granting account; a call that also carries
``XSRF-TOKEN`` (header or cookie) and a call with an unknown or expired access token get the
305 relogin envelope (``bearer_refusal="http_401"``: an HTTP 401 from the gateway instead), and
the control interfaces answer failCode 401 to a token without the ``pvms.openapi.control``
scope. Test hooks: ``add_oauth_client``, ``oauth_user``, ``oauth_scopes`` (what the owner
grants), ``deny_next_authorization``, ``fail_token_requests``, ``revoke_grants``, ``expire_access_tokens``,
``auth_seen`` (which credentials each API call carried) and ``token_requests``.

Hourly report: ``getKpiStationHour`` (``stationCodes`` of at most 100 plants, ``collectTime`` in
ms; the day is the date of ``collectTime`` in the plants' zone) answers one record per local hour
that has begun, stamped with the hour's start, built from the same day profile as the live
counters so that a day's records add up to ``day_power``, ``day_on_grid_energy``,
``day_use_energy`` and the batteries' ``charge_cap`` / ``discharge_cap``. Flow control: ceil(plants
/ 100) + 24 calls a day and one a minute (407); 20010 / 20014 / 20007 for the plant list, 20012
without a time, an HTTP 400 exception body for a time that is not a number, and 20026 for a day
older than 365 days (the document gives that code without naming its interfaces). With
``time_zone`` (an IANA name) the plants follow daylight saving time: the day the clocks go
forward has 23 records, the day they go back 24, its 02:00 record holding both 02:00 hours, and
the live day counters skip or repeat that hour as well. ``hour_keys_2022`` leaves only the keys
of the 2022 document (no ``PVYield``, ``chargeCap``, ``dischargeCap``, ``use_power`` …).

Run ``python -m tests.simulators.huawei --help`` for a standalone server.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web
from yarl import URL

from tests.simulators.common import (
    BATTERY_MAX_KW,
    DATA_FAULTS,
    LOAD,
    LOAD_CUM,
    MINUTES,
    ORD_1970,
    PHASE_VOLTS,
    PRICE_PER_KWH,
    REPLACING_FAULTS,
    SUN,
    WOBBLE,
    DayProfile,
    Injected,
    Simulator,
    as_int,
    cumulate,
    day_profile,
    energy_lifetime,
    energy_today,
    html_error,
    json_response,
    local_minute,
    serve,
    server_parser,
    shape_record,
    window_full,
    wobble_index,
)

__all__ = ["FAULT_KINDS", "HuaweiSimulator"]

# ---------------------------------------------------------------------------------------------
# Protocol constants
# ---------------------------------------------------------------------------------------------

API_PREFIX: Final = "/thirdData/"
TOKEN_HEADER: Final = "XSRF-TOKEN"
TOKEN_TTL: Final = 1800.0
LOGIN_WINDOW: Final = 600.0
LOGIN_LIMIT: Final = 5
LOCKOUT_FAILURES: Final = 5
LOCKOUT_SECONDS: Final = 1800.0
MAX_ITEMS_PER_CALL: Final = 100
PAGE_SIZES: Final = frozenset({10, 20, 30, 50, 100})
DEFAULT_PAGE_SIZE: Final = 100
MAX_ALARM_SPAN_MS: Final = 31 * 86_400_000
LANGUAGES: Final = frozenset(
    {"zh_CN", "en_US", "ja_JP", "it_IT", "nl_NL", "pt_BR", "de_DE", "fr_FR", "es_ES", "pl_PL"}
)
TOO_FREQUENT: Final = "ACCESS_FREQUENCY_IS_TOO_HIGH"
RELOGIN_BODY: Final[dict[str, Any]] = {
    "success": False,
    "failCode": 305,
    "immediately": True,
    "message": "USER_MUST_RELOGIN",
    "data": None,
}

# failCodes used by the simulator (chapter 8 of the vendor document).
FC_RELOGIN: Final = 305
FC_NO_PERMISSION: Final = 401
FC_TOO_FREQUENT: Final = 407
FC_DEVICE_TYPE_MISMATCH: Final = 20006
FC_NO_PLANTS: Final = 20007
FC_NO_DEVICES: Final = 20008
FC_PLANTS_EMPTY: Final = 20010
FC_DEVICES_EMPTY: Final = 20011
FC_TIME_EMPTY: Final = 20012
FC_BAD_DEVICE_TYPE: Final = 20013
FC_TOO_MANY_PLANTS: Final = 20014
FC_TOO_MANY_DEVICES: Final = 20016
FC_BEGIN_AFTER_END: Final = 20023
FC_LANGUAGE_EMPTY: Final = 20024
FC_LANGUAGE_INVALID: Final = 20025
FC_SPAN_TOO_LONG: Final = 20027
FC_TOO_OLD: Final = 20026
FC_LOGIN_FAILED: Final = 20400
FC_DAILY_CAP: Final = 20618
FC_SNS_EMPTY: Final = 30001
FC_PAGE_NO_EMPTY: Final = 30004
FC_PAGE_SIZE_RANGE: Final = 30006
FC_PAGE_NO_NEGATIVE: Final = 30021
FC_BAD_PARAMETER: Final = 30030
_MESSAGES: Final[dict[int, str]] = {FC_NO_PERMISSION: "Invalid access to current interface!"}

# Device types.
STRING_INVERTER: Final = 1
EMI: Final = 10
GRID_METER: Final = 17
RESIDENTIAL_INVERTER: Final = 38
BATTERY: Final = 39
ESS: Final = 41
POWER_SENSOR: Final = 47
REALTIME_TYPES: Final = frozenset(
    {STRING_INVERTER, EMI, GRID_METER, RESIDENTIAL_INVERTER, BATTERY, ESS, POWER_SENSOR}
)
_INVERTERS: Final = frozenset({STRING_INVERTER, RESIDENTIAL_INVERTER})
_STORAGE: Final = frozenset({BATTERY, ESS})

# Sliding flow-control windows (seconds) for the data endpoints; login/logout use LOGIN_*.
_WINDOWS: Final[dict[str, float]] = {
    "getStationList": 86_400.0,
    "stations": 86_400.0,
    "getStationRealKpi": 300.0,
    "getDevList": 86_400.0,
    "getDevRealKpi": 300.0,
    "getAlarmList": 1_800.0,
    "getKpiStationHour": 86_400.0,
}
# getKpiStationHour: ceil(plants / 100) + 24 calls a day, and "only one concurrent request is
# supported per minute" (a second window of one call per 60 s).
KPI_HOUR: Final = "getKpiStationHour"
KPI_HOUR_DAILY_BASE: Final = 24
KPI_HOUR_MINUTE: Final = 60.0
# Error code 20026: "only data of the latest 365 days can be queried". The document does not
# tie it to an interface; the simulator applies it to the hourly report.
HISTORY_DAYS: Final = 365

# Control interfaces: name -> path.
CONTROL_BASE: Final = "/rest/openapi/pvms"
CONTROL_ROUTES: Final[dict[str, str]] = {
    "charge-and-discharge": f"{CONTROL_BASE}/nbi/v2/control/charge-and-discharge/async-task",
    "chargeAndDischargeStatus": f"{CONTROL_BASE}/v1/vpp/chargeAndDischargeStatus",
    "battery/mode": f"{CONTROL_BASE}/nbi/v1/control/battery/mode/async-task",
    "battery/mode/task-info": f"{CONTROL_BASE}/nbi/v1/control/battery/mode/task-info",
    "battery/configuration": f"{CONTROL_BASE}/nbi/v1/control/battery/configuration/async-task",
    "battery/configuration/task-info": (
        f"{CONTROL_BASE}/nbi/v1/control/battery/configuration/task-info"
    ),
    "active-power-control": f"{CONTROL_BASE}/nbi/v2/control/active-power-control/async-task",
    "active-power-control/task-info": (
        f"{CONTROL_BASE}/nbi/v2/control/active-power-control/task-info"
    ),
}
_ROUTE_NAMES: Final = {path: name for name, path in CONTROL_ROUTES.items()}
CHARGE: Final = "charge-and-discharge"
MODE: Final = "battery/mode"
CONFIG: Final = "battery/configuration"
POWER: Final = "active-power-control"
SUBMISSIONS: Final = frozenset({CHARGE, MODE, CONFIG, POWER})
# "One-minute access frequency" per northbound interface.
CONTROL_WINDOW: Final = 60.0
_WINDOWS.update(dict.fromkeys(CONTROL_ROUTES, CONTROL_WINDOW))
MAX_TASK_PLANTS: Final = 10
MAX_CHARGE_PLANTS: Final = 100
MAX_TIME_WINDOWS: Final = 14
MAX_DISPATCH_MINUTES: Final = 1440
DEFAULT_TASK_DELAY: Final = 120.0
FEED_IN_KW: Final = (-1000.0, 5000.0)
END_OF_CHARGE_SOC: Final = (90.0, 100.0)
END_OF_DISCHARGE_SOC: Final = (0.0, 20.0)
RATED_W: Final = BATTERY_MAX_KW * 1000.0
_EXCEPTION: Final = -1  # an endpoint's code for a gateway exception body (HTTP 400)
FC_CHARGE_SWITCH: Final = 20040
FC_CONTROL_TYPE: Final = 20041
FC_TARGET_SOC: Final = 20042
FC_DURATION: Final = 20043
FC_REQUEST_ID_EMPTY: Final = 20044
FC_PLANT_UNAUTHORISED: Final = 20045
FC_CHARGE_POWER: Final = 20047
FC_NO_CHARGE_TASK: Final = 20050
FC_NOT_AUTHORISED: Final = 20056
FC_TASKS_EMPTY: Final = 20607
FC_DUPLICATE_PLANT: Final = 20608
FC_OUT_OF_RANGE: Final = 20611
FC_EMPTY_VALUE: Final = 20612
FC_COMMUNICATION: Final = 20614
FC_TASK_RUNNING: Final = 20615
FC_TASK_ID_EMPTY: Final = 20616
FC_NO_TASK: Final = 20620
FC_PLANT_INVALID: Final = 20622
FC_TASK_FAILED: Final = 2
FC_TASK_PARTLY: Final = 1
MODES: Final = frozenset({"TOU", "maximumSelfConsumption"})
PV_PRIORITIES: Final = frozenset({"fedToGridPreference", "chargePreference"})
TASK_MESSAGES: Final = frozenset({"FAILURE", "TIMEOUT", "BUSY", "INVALID", "EXCEPTION"})
_DEFAULT_WINDOWS: Final = (
    {"startTime": "00:00", "endTime": "06:00", "chargeOrDischarge": "charge",
     "repeat": [1, 2, 3, 4, 5, 6, 7]},
    {"startTime": "17:00", "endTime": "21:00", "chargeOrDischarge": "discharge",
     "repeat": [1, 2, 3, 4, 5]},
)  # fmt: skip
_HHMM: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")

# Fault kinds accepted by HuaweiSimulator.inject ("fail_code:<n>" is accepted as well): the
# common ones plus two answers of the vendor's API gateway.
_GATEWAY_FAULTS: Final = frozenset({"quota_gateway", "exception_body"})
FAULT_KINDS: Final = REPLACING_FAULTS | _GATEWAY_FAULTS | DATA_FAULTS | {"timeout", "fail_code:<n>"}
_MAP_ENDPOINTS: Final = frozenset({"getStationRealKpi", "getDevRealKpi", "getKpiStationHour"})
_IDENTITY_KEYS: Final = frozenset({"plantCode", "stationCode", "id", "devId", "sn", "alarmId"})

_HTML_LOGIN: Final = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>FusionSolar</title></head>"
    "<body><form action='/unisso/v2/validateUser.action' method='post'>"
    "<input name='username'><input name='password' type='password'>"
    "<p>Your session has expired. Please log in again.</p></form></body></html>"
)

# OAuth Connect.
OAUTH_AUTHORIZE: Final = "/rest/dp/uidm/oauth2/v1/authorize"
OAUTH_TOKEN: Final = "/rest/dp/uidm/oauth2/v1/token"
SCOPE_BASIC: Final = "pvms.openapi.basic"
SCOPE_CONTROL: Final = "pvms.openapi.control"
OAUTH_CLIENT_ID: Final = "sim-client"
OAUTH_CLIENT_SECRET: Final = "sim-client-secret"
ACCESS_TTL: Final = 3600
CODE_TTL: Final = 300.0
# The vendor limits the state's length; its figure is not documented, so the simulator takes a
# value well below Home Assistant's default JWT state (about 200 characters).
STATE_MAX: Final = 64


# Plant names: "{n}" is the plant's number (the standalone server's --plant-name).
PLANT_NAME = "Plant {n}"


@dataclass(slots=True, eq=False)
class _Grant:
    """What the owner authorised: for which account, which client and which scopes."""

    username: str
    client_id: str
    scopes: frozenset[str]


@dataclass(slots=True, eq=False)
class _Code:
    grant: _Grant
    redirect_uri: str
    expires: float


# ---------------------------------------------------------------------------------------------
# Data model: daily curves
# ---------------------------------------------------------------------------------------------

_PEAK_IRRADIANCE: Final = 900.0  # W/m2 at solar noon
_DEFAULT_CAUSE: Final = "The grid voltage exceeds the upper threshold."
_DEFAULT_SUGGESTION: Final = "If the alarm persists, ask the grid operator to check the voltage."
_PROFILE_ROUNDS: Final = 6  # battery days tried to settle on the cycle that repeats daily
_SUN_HOURS: Final = cumulate(SUN)  # equivalent full-sun hours so far today


def _profile(capacity_kwp: float, has_storage: bool) -> DayProfile:
    """The periodic daily profile of a plant (built once per capacity)."""
    return day_profile(capacity_kwp, has_storage, rounds=_PROFILE_ROUNDS)


@dataclass(frozen=True, slots=True)
class _Moment:
    """A clock reading resolved to the plants' local solar day."""

    now: float
    ms: int
    day: int  # local day number since 1970-01-01
    minute: int
    frac: float  # fraction of the current minute already elapsed
    hour: float
    month_start: int  # local day number of the first day of the month
    open_ms: int  # latest 06:00 local (inverter start-up) as epoch milliseconds
    close_ms: int  # latest 18:00 local (inverter shutdown) as epoch milliseconds
    # A clock change since local midnight: (wall minute before it, wall minute after it). The
    # day's counters then skip (spring) or repeat (autumn) the wall minutes in between.
    shift: tuple[int, int] | None = None


def _r(value: float) -> float:
    return round(value, 3)


_FREQUENCY: Final = tuple(_r(50.0 + 0.02 * w) for w in WOBBLE)
_LINE_SIDE: Final = tuple(
    {
        "ab_u": _r(v * 1.732), "bc_u": _r(v * 1.731), "ca_u": _r(v * 1.733),
        "a_u": _r(v), "b_u": _r(v + 0.4), "c_u": _r(v - 0.3),
    }
    for v in PHASE_VOLTS
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Data model: plants, devices, alarms
# ---------------------------------------------------------------------------------------------


def _inverter_keys(strings: int, mppts: int, *, mppt_total: bool) -> tuple[str, ...]:
    keys = [
        "inverter_state", "ab_u", "bc_u", "ca_u", "a_u", "b_u", "c_u", "a_i", "b_i", "c_i",
        "efficiency", "temperature", "power_factor", "elec_freq", "active_power",
        "reactive_power", "day_cap", "mppt_power",
    ]  # fmt: skip
    keys += [f"pv{n}_u" for n in range(1, strings + 1)]
    keys += [f"pv{n}_i" for n in range(1, strings + 1)]
    keys += ["total_cap", "open_time", "close_time"]
    if mppt_total:
        keys.append("mppt_total_cap")
    keys += [f"mppt_{n}_cap" for n in range(1, mppts + 1)]
    keys.append("run_state")
    return tuple(keys)


def _string_keys(count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"pv{n}_u", f"pv{n}_i") for n in range(1, count + 1))


_TARIFF_SPLIT: Final = (("peak", 0.35), ("power", 0.45), ("valley", 0.2), ("top", 0.0))
_METER_KEYS: Final = (
    "ab_u", "bc_u", "ca_u", "a_u", "b_u", "c_u", "a_i", "b_i", "c_i", "active_power",
    "power_factor", "active_cap", "reactive_power", "reverse_active_cap",
    "forward_reactive_cap", "reverse_reactive_cap", "active_power_a", "active_power_b",
    "active_power_c", "reactive_power_a", "reactive_power_b", "reactive_power_c",
    "total_apparent_power", "grid_frequency",
    *(f"{d}_{kind}_{t}" for d, kind in (("reverse", "active"), ("positive", "active"),
                                        ("reverse", "reactive"), ("positive", "reactive"))
      for t, _ in _TARIFF_SPLIT),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _TypeSpec:
    label: str
    model: str
    software: str
    keys: tuple[str, ...]
    weight: float = 0.0  # share weight of the plant's PV (inverters only)
    string_keys: tuple[tuple[str, str], ...] = ()  # (voltage, current) keys of used strings
    mppt_keys: tuple[str, ...] = ()  # MPPT energy keys in use


_SPECS: Final[dict[int, _TypeSpec]] = {
    RESIDENTIAL_INVERTER: _TypeSpec(
        "Inverter", "SUN2000-10KTL-M1", "V100R001C10SPC133",
        _inverter_keys(8, 4, mppt_total=False), weight=1.0,
        string_keys=_string_keys(2), mppt_keys=("mppt_1_cap", "mppt_2_cap"),
    ),
    STRING_INVERTER: _TypeSpec(
        "String inverter", "SUN2000-50KTL-M3", "V300R001C00SPC152",
        _inverter_keys(24, 10, mppt_total=True), weight=2.0,
        string_keys=_string_keys(8), mppt_keys=tuple(f"mppt_{n}_cap" for n in range(1, 5)),
    ),
    BATTERY: _TypeSpec(
        "Battery", "LUNA2000-10-S0", "V100R002C00SPC105",
        ("battery_status", "max_charge_power", "max_discharge_power", "ch_discharge_power",
         "busbar_u", "battery_soc", "battery_soh", "ch_discharge_model", "charge_cap",
         "discharge_cap", "run_state"),
    ),
    ESS: _TypeSpec(
        "ESS", "LUNA2000-200KWH-2H1", "V100R023C00SPC110",
        ("ch_discharge_power", "battery_soc", "battery_soh", "charge_cap", "discharge_cap",
         "run_state"),
    ),
    POWER_SENSOR: _TypeSpec(
        "Power sensor", "DTSU666-H", "V100R001C00",
        ("meter_status", "meter_u", "meter_i", "active_power", "reactive_power",
         "power_factor", "grid_frequency", "active_cap", "reverse_active_cap", "run_state"),
    ),
    GRID_METER: _TypeSpec("Grid meter", "DTSU666-HW", "V100R002C00", _METER_KEYS),
    EMI: _TypeSpec(
        "EMI", "EMI-WS100", "V100R001C00",
        ("temperature", "pv_temperature", "wind_speed", "wind_direction", "radiant_total",
         "radiant_line", "horiz_radiant_line", "horiz_radiant_total", "run_state"),
    ),
}  # fmt: skip

# Status keys that have an "offline" value of their own; other keys turn null when offline.
_OFFLINE_STATUS: Final = {"run_state": 0, "battery_status": 0, "meter_status": 0}


@dataclass(slots=True)
class _Settings:
    """A plant's battery and feed-in settings, as the control tasks change them."""

    operation_mode: str = "maximumSelfConsumption"
    redundant_pv: str = "fedToGridPreference"
    ac_charge_kw: float = 0.0
    windows: list[dict[str, Any]] = field(
        default_factory=lambda: [{**w, "repeat": list(w["repeat"])} for w in _DEFAULT_WINDOWS]
    )
    end_of_charge_soc: float = 100.0
    end_of_discharge_soc: float = 5.0
    max_charge_w: float = RATED_W
    max_discharge_w: float = RATED_W
    control_mode: str = "0"
    max_feed_in_kw: float | None = None
    limitation_mode: str = "0"


@dataclass(slots=True, eq=False)
class _Plant:
    code: str
    index: int
    owner: str
    capacity: float  # kWp
    latitude: float
    longitude: float
    connection_day: int  # local day number of grid connection
    connection_iso: str
    devices: list[_Device] = field(default_factory=list)
    profile: DayProfile = field(default_factory=lambda: _profile(1.0, False))
    has_inverter: bool = False
    settings: _Settings = field(default_factory=_Settings)

    @property
    def name(self) -> str:
        return PLANT_NAME.format(n=self.index + 1)


@dataclass(slots=True, eq=False)
class _Device:
    id: int
    type_id: int
    spec: _TypeSpec
    plant: _Plant
    esn: str
    name: str
    seed: int
    offline: bool = False
    share: float = 0.0  # share of the plant's PV (inverters) or battery flows (storage)
    hosts_battery: bool = False  # hybrid inverter that carries the battery flows
    listing: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)  # inverter answer skeleton


@dataclass(slots=True, eq=False)
class _Alarm:
    alarm_id: int
    plant: _Plant
    device: _Device
    name: str
    cause: str
    cause_id: int
    suggestion: str
    lev: int
    alarm_type: int
    raise_ms: int


@dataclass(slots=True, eq=False)
class _Part:
    """One plant's share of a control task."""

    plant: _Plant
    entry: dict[str, Any]
    change: dict[str, Any]  # _Settings attribute -> value, applied on success
    fail: str | None = None  # the message it fails with
    state: str = "RUNNING"  # RUNNING, SUCCESS, FAIL
    echo: dict[str, Any] | None = None  # the settings reported once it succeeded
    # Forced charge / discharge: switch, W (+ charge), how long it runs once delivered.
    switch: int = 0
    power_w: float = 0.0
    run_seconds: float = 0.0
    stopped_at: float | None = None


@dataclass(slots=True, eq=False)
class _CtrlTask:
    """A control task: delivered to its plants, settled ``due`` on the simulator's clock."""

    id: str
    kind: str
    owner: str
    created: float
    due: float
    parts: list[_Part]
    settled: bool = False

    def force_end(self, part: _Part) -> float:
        end = self.due + part.run_seconds
        return end if part.stopped_at is None else min(end, part.stopped_at)

    def charge_status(self, part: _Part, now: float) -> int:
        """chargeAndDischargeStatus of a part: 0 done, 1 running, 2 failed."""
        if part.state == "FAIL":
            return 2
        if now < self.due:
            return 1
        if part.switch == 0:
            return 0
        return 1 if now < self.force_end(part) else 0


# ---------------------------------------------------------------------------------------------
# Accounts, sessions, flow-control state and request helpers
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Account:
    username: str
    system_code: str
    plants: dict[str, _Plant] = field(default_factory=dict)
    type_counts: Counter[int] = field(default_factory=Counter)
    token: str | None = None
    token_expiry: float = -math.inf
    failed_logins: deque[float] = field(default_factory=deque)
    failed_total: int = 0
    locked_until: float = -math.inf
    windows: dict[str, deque[float]] = field(default_factory=dict)
    daily: dict[str, tuple[int, int]] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)


def _short(path: str) -> str:
    """'/thirdData/getDevRealKpi' and 'getDevRealKpi' both become 'getDevRealKpi'; a control
    interface's path becomes its name ('battery/mode/task-info')."""
    if path in _ROUTE_NAMES:
        return _ROUTE_NAMES[path]
    return path.removeprefix(API_PREFIX).strip("/")


def _split(value: Any) -> list[str] | None:
    """Comma-separated identifiers without blanks or duplicates; None when not a string."""
    if not isinstance(value, str):
        return None
    return list(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def _ceil100(count: int) -> int:
    return -(-count // MAX_ITEMS_PER_CALL)


def _stringify(items: dict[str, Any]) -> dict[str, Any]:
    return {k: None if v is None else str(v) for k, v in items.items()}


def _number(value: Any) -> float | None:
    """A JSON number (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _snake(name: str) -> str:
    """'endOfChargeSoc' -> 'end_of_charge_soc'."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _minutes(hhmm: Any) -> int | None:
    match = _HHMM.fullmatch(hhmm) if isinstance(hhmm, str) else None
    return None if match is None else int(match.group(1)) * 60 + int(match.group(2))


def _check_windows(windows: Any) -> list[dict[str, Any]] | None:
    """Charge/discharge windows as stored, or None when one is invalid or two overlap."""
    if not isinstance(windows, list) or len(windows) > MAX_TIME_WINDOWS:
        return None
    spans: dict[int, list[tuple[int, int]]] = {}
    checked: list[dict[str, Any]] = []
    for window in windows:
        if not isinstance(window, dict):
            return None
        start, end = _minutes(window.get("startTime")), _minutes(window.get("endTime"))
        repeat = window.get("repeat")
        if (
            start is None
            or end is None
            or start == end
            or window.get("chargeOrDischarge") not in ("charge", "discharge")
            or not isinstance(repeat, list)
            or not repeat
            or len(set(repeat)) != len(repeat)
            or not all(as_int(day) in range(1, 8) for day in repeat)
        ):
            return None
        for day in repeat:
            # A window past midnight covers the rest of its day and the start of the next.
            if start < end:
                spans.setdefault(int(day), []).append((start, end))
            else:
                spans.setdefault(int(day), []).append((start, 1440))
                spans.setdefault(int(day) % 7 + 1, []).append((0, end))
        checked.append(
            {
                "startTime": window["startTime"],
                "endTime": window["endTime"],
                "chargeOrDischarge": window["chargeOrDischarge"],
                "repeat": [int(day) for day in repeat],
            }
        )
    for pieces in spans.values():
        pieces.sort()
        if any(b[0] < a[1] for a, b in pairwise(pieces)):
            return None
    return checked


def _cum_at(cum: tuple[float, ...], rate: tuple[float, ...], minute: float) -> float:
    """A running integral at a fractional wall minute (``cum`` at minute boundaries, kWh)."""
    whole = min(int(minute), MINUTES - 1)
    return cum[whole] + rate[whole] * (minute - whole) / 60.0


_Result = tuple[int, Any]
_Endpoint = Callable[[_Account, dict[str, Any], _Moment], _Result]


class HuaweiSimulator(Simulator[int]):
    """In-process northbound API server with test hooks; see the module docstring.

    Faults: ``path`` of ``inject`` is an endpoint name (``"getDevRealKpi"``, with or without
    the ``/thirdData/`` prefix); without it any endpoint except ``login`` matches, and
    ``null_values`` / ``na_values`` then only the endpoints that return a ``dataItemMap``.
    ``fail_code:<n>`` answers the envelope with that failCode (305 the relogin body; 407 and
    20618 count as refusals). ``quota_gateway`` and ``exception_body`` are the API gateway's
    403 quota and 500 exception bodies. A ``timeout`` delays the answer by ``timeout_delay``.
    """

    fault_exempt = "login"
    value_fault_names = _MAP_ENDPOINTS
    extra_fault_kinds = _GATEWAY_FAULTS
    fault_html = _HTML_LOGIN
    fault_json = '{"success":true,"failCode":0,"params":{"currentTime":'
    identity_keys = _IDENTITY_KEYS
    na_filler = "N/A"

    def __init__(
        self,
        *,
        plants: int = 1,
        username: str = "api_user",
        system_code: str = "api_pass",
        clock: Callable[[], float] | None = None,
        string_inverter: bool = False,
        grid_meter: bool = False,
        emi: bool = False,
        meter_power_unit: str = "kW",
        legacy_only: bool = False,
        string_values: bool = False,
        timeout_delay: float = 2.0,
        tz_offset_hours: float = 1.0,
        time_zone: str | None = None,
        hour_keys_2022: bool = False,
        daily_cap: Mapping[str, int] | None = None,
        task_delay: float = DEFAULT_TASK_DELAY,
        control_daily_cap: int | None = None,
    ) -> None:
        if meter_power_unit not in ("kW", "W"):
            raise ValueError("meter_power_unit must be 'kW' or 'W'")
        super().__init__(clock, timeout_delay)
        self.string_inverter = string_inverter
        self.grid_meter = grid_meter
        self.emi = emi
        self.meter_power_unit = meter_power_unit
        self.legacy_only = legacy_only
        self.string_values = string_values
        self.tz_offset_hours = tz_offset_hours
        # The plants' zone: a fixed offset, or an IANA zone with daylight saving time.
        self._tz: tzinfo = (
            ZoneInfo(time_zone) if time_zone else timezone(timedelta(hours=tz_offset_hours))
        )
        # Hourly reports with only the keys of the 2022 document (an older platform).
        self.hour_keys_2022 = hour_keys_2022
        self._daily_cap: dict[str, int] = {}
        self.daily_cap = daily_cap or {}
        self.default_username = username
        # Controls: seconds a task runs before it settles; control submissions an account may
        # make per UTC day (None: no cap); the tasks; test hooks.
        self.task_delay = task_delay
        self.control_daily_cap = control_daily_cap
        self.control_requests: list[tuple[float, str, dict[str, Any]]] = []
        self._tasks: dict[str, _CtrlTask] = {}
        self._next_task = 1
        self._fail_next: deque[str] = deque()
        self._refuse_next: deque[str] = deque()
        self._control_denied: int | None = None

        # OAuth Connect: registered clients, who signs in at the authorize endpoint and what
        # they grant, issued codes and tokens, and what each API call carried.
        self._oauth_clients: dict[str, str] = {OAUTH_CLIENT_ID: OAUTH_CLIENT_SECRET}
        self.oauth_user: str = username
        self.oauth_scopes: frozenset[str] = frozenset({SCOPE_BASIC, SCOPE_CONTROL})
        self.bearer_refusal: str = "305"
        self._deny_authorization: str | None = None
        self._token_failures: deque[int] = deque()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, tuple[_Grant, float]] = {}
        self._refresh: dict[str, _Grant] = {}
        self.auth_seen: Counter[str] = Counter()
        self.token_requests: list[dict[str, str]] = []
        self.states_seen: list[str] = []

        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _Account] = {}
        self._login_windows: dict[str, deque[float]] = {}
        self._plants: dict[str, _Plant] = {}
        self._kpi_overrides: dict[str, dict[str, Any]] = {}
        self._devices: dict[int, _Device] = {}
        self._devices_by_sn: dict[str, _Device] = {}
        self._alarms: dict[int, _Alarm] = {}
        self._next_plant = 0
        self._next_device = 100_000_001
        self._next_alarm = 10_001
        self._endpoints: dict[str, _Endpoint] = {
            "getStationList": self._ep_station_list,
            "stations": self._ep_stations,
            "getStationRealKpi": self._ep_station_kpi,
            "getDevList": self._ep_dev_list,
            "getDevRealKpi": self._ep_dev_kpi,
            "getAlarmList": self._ep_alarms,
            KPI_HOUR: self._ep_kpi_hour,
            CHARGE: self._ep_charge,
            "chargeAndDischargeStatus": self._ep_charge_status,
            MODE: self._ep_mode,
            "battery/mode/task-info": self._ep_mode_info,
            CONFIG: self._ep_config,
            "battery/configuration/task-info": self._ep_config_info,
            POWER: self._ep_power,
            "active-power-control/task-info": self._ep_power_info,
        }
        self._builders: dict[int, Callable[[_Device, _Moment], dict[str, Any]]] = {
            RESIDENTIAL_INVERTER: self._inverter_items,
            STRING_INVERTER: self._inverter_items,
            BATTERY: self._battery_items,
            ESS: self._battery_items,
            POWER_SENSOR: self._sensor_items,
            GRID_METER: self._meter_items,
            EMI: self._emi_items,
        }
        self.add_account(username, system_code, plants=plants)

    # -- configuration ------------------------------------------------------------------------

    @property
    def daily_cap(self) -> dict[str, int]:
        """Per-endpoint cap of accepted calls per UTC day (beyond it: failCode 20618)."""
        return self._daily_cap

    @daily_cap.setter
    def daily_cap(self, caps: Mapping[str, int]) -> None:
        self._daily_cap = {_short(path): int(limit) for path, limit in caps.items()}

    # -- accounts & sessions ------------------------------------------------------------------

    def add_account(self, username: str, system_code: str, *, plants: int = 0) -> list[str]:
        """Create an API account owning ``plants`` new plants; returns their codes."""
        if username in self._accounts:
            raise ValueError(f"account {username!r} already exists")
        self._accounts[username] = _Account(username, system_code)
        return [self.add_plant(username=username) for _ in range(plants)]

    def set_password(self, username: str, system_code: str) -> None:
        """Change an account's system code (the old one stops working at the next login)."""
        self._account(username).system_code = system_code

    def failed_logins(self, username: str | None = None) -> int:
        """How many logins with a wrong system code the account has seen."""
        return self._account(username).failed_total

    def expire_tokens(self) -> None:
        """Make every live token expire now."""
        for account in self._accounts.values():
            account.token_expiry = -math.inf

    def kick_session(self, username: str | None = None) -> None:
        """Simulate another client logging in: the live token is replaced by an unknown one."""
        account = self._account(username)
        self._revoke(account)
        self._issue(account, self._clock())

    def live_token(self, username: str | None = None) -> str | None:
        """The account's current token, if it has one that has not expired."""
        account = self._account(username)
        if account.token is None or self._clock() >= account.token_expiry:
            return None
        return account.token

    def reset_flow_control(self) -> None:
        """Forget all flow-control windows, daily counts and login lockouts."""
        self._login_windows.clear()
        for account in self._accounts.values():
            account.windows.clear()
            account.daily.clear()
            account.failed_logins.clear()
            account.locked_until = -math.inf

    def _account(self, username: str | None) -> _Account:
        return self._accounts[username or self.default_username]

    def _revoke(self, account: _Account) -> None:
        if account.token is not None:
            self._tokens.pop(account.token, None)
        account.token = None

    def _issue(self, account: _Account, now: float) -> str:
        token = "x-" + secrets.token_hex(32)
        account.token = token
        account.token_expiry = now + TOKEN_TTL
        self._tokens[token] = account
        return token

    def _session(self, request: web.Request, now: float) -> _Account | None:
        token = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_HEADER)
        account = self._tokens.get(token) if token else None
        if account is None:
            return None
        if now >= account.token_expiry:
            self._revoke(account)
            return None
        return account

    # -- OAuth Connect ------------------------------------------------------------------------

    def add_oauth_client(self, client_id: str, client_secret: str) -> None:
        """Register another OAuth client (an app created in the FusionSolar developer portal)."""
        self._oauth_clients[client_id] = client_secret

    def deny_next_authorization(self, error: str = "access_denied") -> None:
        """The owner refuses the next authorization: the redirect carries ``error``."""
        self._deny_authorization = error

    def fail_token_requests(self, status: int, count: int = 1) -> None:
        """The next ``count`` token requests fail with HTTP ``status`` (429, 5xx …)."""
        self._token_failures.extend([status] * count)

    def revoke_grants(self, username: str | None = None) -> None:
        """The owner withdraws every authorization of the account: its tokens stop working."""
        name = username or self.default_username
        self._access = {k: v for k, v in self._access.items() if v[0].username != name}
        self._refresh = {k: v for k, v in self._refresh.items() if v.username != name}
        self._codes = {k: v for k, v in self._codes.items() if v.grant.username != name}

    def expire_access_tokens(self) -> None:
        """Every access token expires now (refresh tokens keep working)."""
        self._access = {k: (grant, -math.inf) for k, (grant, _) in self._access.items()}

    def access_token_valid(self, token: str) -> bool:
        """Whether an access token is known and has not expired."""
        found = self._access.get(token)
        return found is not None and self._clock() < found[1]

    def refresh_token_valid(self, token: str) -> bool:
        """Whether a refresh token can still be used."""
        return token in self._refresh

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        self.calls["oauth_authorize"] += 1
        client_id = query.get("client_id", "")
        redirect_uri = query.get("redirect_uri", "")
        if client_id not in self._oauth_clients or not redirect_uri.startswith(
            ("http://", "https://")
        ):
            # RFC 6749 §4.1.2.1: no redirect to an unverified address.
            return web.Response(status=400, text="invalid client_id or redirect_uri")
        state = query.get("state", "")
        self.states_seen.append(state)
        target = URL(redirect_uri)
        if query.get("response_type") != "code":
            error: str | None = "unsupported_response_type"
        elif len(state) > STATE_MAX:
            error = "invalid_request"
        elif self._deny_authorization is not None:
            error, self._deny_authorization = self._deny_authorization, None
        else:
            error = None
        if error is not None:
            raise web.HTTPFound(target.update_query({"error": error, "state": state}))
        requested = frozenset(query.get("scope", SCOPE_BASIC).split())
        scopes = requested & self.oauth_scopes
        if SCOPE_BASIC not in scopes:
            raise web.HTTPFound(target.update_query({"error": "invalid_scope", "state": state}))
        code = "c-" + secrets.token_urlsafe(16)
        self._codes[code] = _Code(
            _Grant(self.oauth_user, client_id, scopes), redirect_uri, self._clock() + CODE_TTL
        )
        raise web.HTTPFound(target.update_query({"code": code, "state": state}))

    @staticmethod
    def _oauth_error(error: str, status: int = 400) -> web.Response:
        response = json_response(
            {"error": error, "error_description": f"simulated {error}"}, status
        )
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        return response

    def _tokens_for(self, grant: _Grant) -> web.Response:
        access = "at-" + secrets.token_urlsafe(24)
        refresh = "rt-" + secrets.token_urlsafe(24)
        self._access[access] = (grant, self._clock() + ACCESS_TTL)
        self._refresh[refresh] = grant
        return json_response(
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": ACCESS_TTL,
                "scope": " ".join(sorted(grant.scopes)),
                "token_type": "Bearer",
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        self.calls["oauth_token"] += 1
        if self._token_failures:
            status = self._token_failures.popleft()
            if status == 429:
                return self._oauth_error("temporarily_unavailable", 429)
            return html_error(status)
        if request.content_type != "application/x-www-form-urlencoded":
            return self._oauth_error("invalid_request")
        form = {k: str(v) for k, v in (await request.post()).items()}
        # Secrets are recorded only as whether they were given.
        self.token_requests.append(
            {k: ("<given>" if k in ("client_secret", "code", "refresh_token") else v)
             for k, v in form.items()}
        )  # fmt: skip
        client_id = form.get("client_id", "")
        if self._oauth_clients.get(client_id) != form.get("client_secret") or not client_id:
            return self._oauth_error("invalid_client", 401)
        grant_type = form.get("grant_type")
        now = self._clock()
        if grant_type == "authorization_code":
            code = self._codes.pop(form.get("code", ""), None)
            if (
                code is None
                or now >= code.expires
                or code.grant.client_id != client_id
                or code.redirect_uri != form.get("redirect_uri")
            ):
                return self._oauth_error("invalid_grant")
            return self._tokens_for(code.grant)
        if grant_type == "refresh_token":
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != client_id:
                return self._oauth_error("invalid_grant")
            # Rotation: the refresh token just used is spent.
            del self._refresh[form["refresh_token"]]
            return self._tokens_for(grant)
        return self._oauth_error("unsupported_grant_type")

    def _bearer(
        self, request: web.Request, now: float
    ) -> tuple[_Account | None, frozenset[str] | None, web.Response | None]:
        """The account and scopes of a Bearer call, or the refusal to send; (None, None, None)
        for a call without a Bearer token."""
        auth = request.headers.get("Authorization", "")
        xsrf = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_HEADER)
        if not auth.startswith("Bearer "):
            self.auth_seen["xsrf" if xsrf else "none"] += 1
            return None, None, None
        if xsrf:
            self.auth_seen["both"] += 1
            return None, None, json_response(RELOGIN_BODY)
        self.auth_seen["bearer"] += 1
        found = self._access.get(auth.removeprefix("Bearer ").strip())
        if found is None or now >= found[1]:
            if self.bearer_refusal == "http_401":
                return None, None, json_response({"error": "invalid_token"}, status=401)
            return None, None, json_response(RELOGIN_BODY)
        grant = found[0]
        return self._accounts[grant.username], grant.scopes, None

    # -- flow control -------------------------------------------------------------------------

    def _limit(self, account: _Account, name: str) -> int:
        if name in CONTROL_ROUTES:
            return 1
        plants = len(account.plants)
        if name in ("stations", "getStationList"):
            return 24
        if name in ("getDevList", KPI_HOUR):
            return _ceil100(plants) + 24
        if name == "getDevRealKpi":
            return max(1, sum(_ceil100(n) for n in account.type_counts.values() if n > 0))
        return max(1, _ceil100(plants))

    def _daily_ok(self, account: _Account, name: str, now: float) -> bool:
        cap = self._daily_cap.get(name)
        if cap is None:
            return True
        today = int(now // 86_400)
        day, count = account.daily.get(name, (today, 0))
        if day != today:
            count = 0
        if count >= cap:
            return False
        account.daily[name] = (today, count + 1)
        return True

    def _admit(
        self, account: _Account, name: str, now: float, params: dict[str, Any]
    ) -> web.Response | None:
        """Apply the sliding window and the daily cap; None when the call may proceed."""
        length = _WINDOWS.get(name)
        window: deque[float] | None = None
        if length is not None:
            window = account.windows.get(name)
            if window is None:
                window = account.windows[name] = deque()
            if window_full(window, now, length, self._limit(account, name)):
                return self._refuse(name, params, FC_TOO_FREQUENT)
        minute: deque[float] | None = None
        if name == KPI_HOUR:
            minute = account.windows.setdefault(f"{KPI_HOUR}/minute", deque())
            if window_full(minute, now, KPI_HOUR_MINUTE, 1):
                return self._refuse(name, params, FC_TOO_FREQUENT)
        if self._daily_cap and not self._daily_ok(account, name, now):
            return self._refuse(name, params, FC_DAILY_CAP)
        if name in SUBMISSIONS and not self._control_day_ok(account, now):
            return self._refuse(name, params, FC_DAILY_CAP)
        if window is not None:
            window.append(now)
        if minute is not None:
            minute.append(now)
        return None

    def _refuse(self, name: str, params: dict[str, Any], code: int) -> web.Response:
        self.refusals[name] += 1
        data = TOO_FREQUENT if code == FC_TOO_FREQUENT else None
        return self._envelope(params, code, data)

    # -- data model: plants and devices -------------------------------------------------------

    def add_plant(self, *, username: str | None = None, capacity_kwp: float | None = None) -> str:
        """Add a plant (with inverter, battery and power sensor) to an account; returns its code."""
        account = self._account(username)
        index = self._next_plant
        self._next_plant += 1
        capacity = capacity_kwp if capacity_kwp is not None else 5.0 + (index * 7 % 21) * 0.5
        connected = datetime(2022, 3, 1, 10, 0, tzinfo=self._tz) + timedelta(days=index % 365)
        plant = _Plant(
            code=f"NE={33_000_000 + index}",
            index=index,
            owner=account.username,
            capacity=capacity,
            latitude=round(52.0 + (index % 50) * 0.01, 6),
            longitude=round(5.0 + (index // 50 % 50) * 0.01, 6),
            connection_day=connected.date().toordinal() - ORD_1970,
            connection_iso=connected.isoformat(),
        )
        self._plants[plant.code] = plant
        account.plants[plant.code] = plant
        types = [RESIDENTIAL_INVERTER, BATTERY, POWER_SENSOR]
        if self.string_inverter:
            types.append(STRING_INVERTER)
        if self.grid_meter:
            types.append(GRID_METER)
        if self.emi:
            types.append(EMI)
        for type_id in types:
            self._attach_device(plant, type_id)
        self._rebalance(plant)
        return plant.code

    def remove_plant(self, code: str) -> None:
        """Delete a plant with its devices and alarms."""
        plant = self._plants.pop(code)
        account = self._accounts[plant.owner]
        del account.plants[code]
        for device in list(plant.devices):
            self._detach_device(device)

    def add_device(self, plant_code: str, dev_type_id: int) -> int:
        """Add a device of a real-time capable type to a plant; returns its id."""
        if dev_type_id not in _SPECS:
            raise ValueError(f"unsupported device type {dev_type_id}")
        plant = self._plants[plant_code]
        device = self._attach_device(plant, dev_type_id)
        self._rebalance(plant)
        return device.id

    def remove_device(self, dev_id: int) -> None:
        device = self._devices[dev_id]
        plant = device.plant
        plant.devices.remove(device)
        self._detach_device(device)
        self._rebalance(plant)

    def set_device_offline(self, dev_id: int, offline: bool = True) -> None:
        """An offline device reports run_state 0 and null values."""
        self._devices[dev_id].offline = offline

    def plant_codes(self, username: str | None = None) -> list[str]:
        return list(self._account(username).plants)

    def device_ids(self, plant_code: str, dev_type_id: int | None = None) -> list[int]:
        devices = self._plants[plant_code].devices
        return [d.id for d in devices if dev_type_id is None or d.type_id == dev_type_id]

    def _attach_device(self, plant: _Plant, type_id: int) -> _Device:
        spec = _SPECS[type_id]
        dev_id = self._next_device
        self._next_device += 1
        same = sum(1 for d in plant.devices if d.type_id == type_id)
        esn = f"HV{plant.index:04d}{type_id:02d}{len(plant.devices) + 1:02d}{dev_id % 10_000:04d}"
        name = f"{spec.label} {plant.index + 1}" + (f"-{same + 1}" if same else "")
        device = _Device(dev_id, type_id, spec, plant, esn, name, seed=dev_id % 97)
        inverter = type_id in _INVERTERS
        device.listing = {
            "id": dev_id,
            "devDn": f"NE={dev_id}",
            "devName": name,
            "stationCode": plant.code,
            "esnCode": esn,
            "devTypeId": type_id,
            "softwareVersion": spec.software,
            "invType": spec.model if inverter else None,
            "model": spec.model,
            "optimizerNumber": 0 if inverter else None,
            "longitude": plant.longitude,
            "latitude": plant.latitude,
        }
        device.base = dict.fromkeys(spec.keys, 0)
        device.base["run_state"] = 1
        device.base["reactive_power"] = 0.0
        plant.devices.append(device)
        self._devices[dev_id] = device
        self._devices_by_sn[esn] = device
        self._accounts[plant.owner].type_counts[type_id] += 1
        return device

    def _detach_device(self, device: _Device) -> None:
        del self._devices[device.id]
        del self._devices_by_sn[device.esn]
        self._accounts[device.plant.owner].type_counts[device.type_id] -= 1
        for alarm_id in [a.alarm_id for a in self._alarms.values() if a.device is device]:
            del self._alarms[alarm_id]

    @staticmethod
    def _rebalance(plant: _Plant) -> None:
        """Split the plant's PV over its inverters and the battery flows over its storage."""
        inverters = [d for d in plant.devices if d.type_id in _INVERTERS]
        storage = [d for d in plant.devices if d.type_id in _STORAGE]
        weights = sum(d.spec.weight for d in inverters)
        for device in inverters:
            device.share = device.spec.weight / weights
            device.hosts_battery = False
        for device in storage:
            device.share = 1.0 / len(storage)
        hybrid = next((d for d in inverters if d.type_id == RESIDENTIAL_INVERTER), None)
        if hybrid is not None and storage:
            hybrid.hosts_battery = True
        plant.has_inverter = bool(inverters)
        plant.profile = _profile(plant.capacity, bool(storage))

    # -- data model: alarms -------------------------------------------------------------------

    def raise_alarm(
        self,
        plant_code: str,
        *,
        name: str = "Grid overvoltage",
        lev: int = 2,
        alarm_type: int = 2,
        cause: str = _DEFAULT_CAUSE,
        cause_id: int = 1,
        repair_suggestion: str = _DEFAULT_SUGGESTION,
        dev_id: int | None = None,
        raise_time_ms: int | None = None,
        alarm_id: int | None = None,
    ) -> int:
        """Raise an active alarm on a plant (default device: its first inverter)."""
        if not 1 <= lev <= 4 or not 0 <= alarm_type <= 5:
            raise ValueError("lev must be 1..4 and alarm_type 0..5")
        plant = self._plants[plant_code]
        if dev_id is not None:
            device = self._devices[dev_id]
        else:
            inverters = [d for d in plant.devices if d.type_id in _INVERTERS]
            candidates = inverters or plant.devices
            if not candidates:
                raise ValueError(f"plant {plant_code} has no device to carry the alarm")
            device = candidates[0]
        if alarm_id is None:
            alarm_id = self._next_alarm
            self._next_alarm += 1
        if alarm_id in self._alarms:
            raise ValueError(f"alarm {alarm_id} is already active")
        raised = raise_time_ms if raise_time_ms is not None else int(self._clock() * 1000)
        self._alarms[alarm_id] = _Alarm(
            alarm_id,
            plant,
            device,
            name,
            cause,
            cause_id,
            repair_suggestion,
            lev,
            alarm_type,
            raised,
        )
        return alarm_id

    def clear_alarm(self, alarm_id: int) -> None:
        del self._alarms[alarm_id]

    # -- data model: measurements -------------------------------------------------------------

    def _offset_minutes(self, moment: float) -> int:
        offset = datetime.fromtimestamp(moment, self._tz).utcoffset()
        return round(offset.total_seconds() / 60.0) if offset is not None else 0

    def _midnight(self, day: int) -> float:
        """Epoch seconds of the local midnight that starts day number ``day``."""
        d = date.fromordinal(ORD_1970 + day)
        return datetime(d.year, d.month, d.day, tzinfo=self._tz).timestamp()

    def _shift(self, start: float, now: float) -> tuple[int, int] | None:
        """The clock change between local midnight ``start`` and ``now``, if any."""
        before, after = self._offset_minutes(start), self._offset_minutes(now)
        if before == after:
            return None
        low, high = start, now  # the change lies in (low, high]
        while high - low > 1.0:
            middle = (low + high) / 2.0
            if self._offset_minutes(middle) == before:
                low = middle
            else:
                high = middle
        wall = min(MINUTES, max(0, round((high - start) / 60.0)))
        return wall, min(MINUTES, max(0, wall + after - before))

    def _today(
        self, cum: tuple[float, ...], rate: tuple[float, ...], mo: _Moment, prior: int
    ) -> float:
        """Energy since local midnight: ``energy_today`` on the wall clock, less the minutes a
        clock change skipped or plus those it repeated."""
        value = energy_today(cum, rate, mo, prior)
        if prior >= 0 and mo.shift is not None:
            value += cum[mo.shift[0]] - cum[mo.shift[1]]
        return value

    def _moment(self, now: float) -> _Moment:
        day, seconds, minute, frac = local_minute(now, self._offset_minutes(now) / 60.0)
        hour = seconds / 3600.0
        midnight = self._midnight(day)
        midnight_ms = int(midnight * 1000)
        opened = midnight_ms + 6 * 3_600_000
        closed = midnight_ms + 18 * 3_600_000
        return _Moment(
            now=now,
            ms=int(now * 1000),
            day=day,
            minute=minute,
            frac=frac,
            hour=hour,
            month_start=day - date.fromordinal(ORD_1970 + day).day + 1,
            open_ms=opened if hour >= 6.0 else opened - 86_400_000,
            close_ms=closed if hour >= 18.0 else closed - 86_400_000,
            shift=self._shift(midnight, now),
        )

    @staticmethod
    def _wobble(device: _Device, mo: _Moment) -> int:
        """Index into the wobble tables for this device and minute."""
        return wobble_index(mo.minute, device.seed)

    def _health(self, plant: _Plant) -> int:
        if plant.devices and all(d.offline for d in plant.devices):
            return 1
        if any(a.plant is plant for a in self._alarms.values()):
            return 2
        return 3

    def override_kpi(self, plant_code: str, key: str, value: Any) -> None:
        """Force one real-time KPI of a plant to ``value`` (a cloud glitch); None restores it."""
        overrides = self._kpi_overrides.setdefault(plant_code, {})
        if value is None:
            overrides.pop(key, None)
        else:
            overrides[key] = value

    def house_load_w(self) -> float:
        """The true house consumption now, in W (the same profile for every plant)."""
        return LOAD[self._moment(self._clock()).minute] * 1000.0

    def raw_kpis(self, plant_code: str) -> dict[str, dict[str, Any]]:
        """The dataItemMap each device of a plant would answer now, keyed by device id."""
        self._settle(self._clock())
        mo = self._moment(self._clock())
        return {
            str(device.id): self._device_items(device, mo)
            for device in self._plants[plant_code].devices
        }

    def _plant_items(self, plant: _Plant, mo: _Moment) -> dict[str, Any]:
        items = self._computed_plant_items(plant, mo)
        items.update(self._kpi_overrides.get(plant.code, {}))
        return items

    def _computed_plant_items(self, plant: _Plant, mo: _Moment) -> dict[str, Any]:
        prof = plant.profile
        prior = mo.day - plant.connection_day
        yield_share = 1.0 if plant.has_inverter else 0.0
        today = self._today(prof.cum_pv, prof.pv, mo, prior) * yield_share
        month_days = min(mo.day - mo.month_start, max(prior, 0))
        month = (month_days * prof.cum_pv[MINUTES] * yield_share + today) if prior >= 0 else 0.0
        total = energy_lifetime(prof.cum_pv, today, prior) * yield_share
        load_today = self._today(LOAD_CUM, LOAD, mo, prior)
        return {
            "day_power": _r(today),
            "month_power": _r(month),
            "total_power": _r(total),
            "day_income": _r(today * PRICE_PER_KWH),
            "total_income": _r(total * PRICE_PER_KWH),
            "real_health_state": self._health(plant),
            "day_on_grid_energy": _r(self._today(prof.cum_export, prof.exported, mo, prior)),
            "day_use_energy": _r(load_today),
        }

    def _inverter_items(self, device: _Device, mo: _Moment) -> dict[str, Any]:
        plant = device.plant
        prof = plant.profile
        m = mo.minute
        sun = SUN[m]
        share = device.share
        prior = mo.day - plant.connection_day
        pv_kw = prof.pv[m] * share
        ac_kw = pv_kw
        if device.hosts_battery:
            ac_kw += prof.discharge[m] - prof.charge[m]
        plant_today = self._today(prof.cum_pv, prof.pv, mo, prior)
        total_cap = energy_lifetime(prof.cum_pv, plant_today, prior) * share
        wobble = self._wobble(device, mo)
        amps = round(ac_kw * 1000.0 / 3.0 / PHASE_VOLTS[wobble], 3)
        items = dict(device.base)
        items.update(_LINE_SIDE[wobble])
        items["a_i"] = items["b_i"] = items["c_i"] = amps
        items["elec_freq"] = _FREQUENCY[wobble]
        items["active_power"] = round(ac_kw, 3)
        items["power_factor"] = 1.0 if ac_kw > 0.0 else 0.0
        items["day_cap"] = round(plant_today * share, 3)
        items["total_cap"] = round(total_cap, 3)
        items["mppt_power"] = round(pv_kw, 3)
        items["open_time"] = mo.open_ms
        items["close_time"] = mo.close_ms
        if sun > 0.0:
            items["inverter_state"] = 512
            items["efficiency"] = 98.3
            items["temperature"] = round(22.0 + 23.0 * sun, 3)
            string_amps = pv_kw * 1000.0 / len(device.spec.string_keys)
            for n, (u_key, i_key) in enumerate(device.spec.string_keys):
                volts = 340.0 + 60.0 * sun + n
                items[u_key] = round(volts, 3)
                items[i_key] = round(string_amps / volts, 3)
        else:
            items["inverter_state"] = 40960
            items["temperature"] = 22.0
        mppt_cap = round(total_cap / len(device.spec.mppt_keys), 3)
        for key in device.spec.mppt_keys:
            items[key] = mppt_cap
        if "mppt_total_cap" in items:
            items["mppt_total_cap"] = items["total_cap"]
        return items

    def _battery_items(self, device: _Device, mo: _Moment) -> dict[str, Any]:
        plant = device.plant
        prof = plant.profile
        m = mo.minute
        prior = mo.day - plant.connection_day
        share = device.share
        charge, discharge = prof.charge[m], prof.discharge[m]
        stored = prof.soc[m] + (charge - discharge) * mo.frac / 60.0
        soc = 100.0 * stored / prof.battery_kwh
        charged = self._today(prof.cum_charge, prof.charge, mo, prior)
        discharged = self._today(prof.cum_discharge, prof.discharge, mo, prior)
        power_w = (charge - discharge) * 1000.0 * share
        items: dict[str, Any] = {
            "ch_discharge_power": _r(power_w),
            "battery_soc": _r(soc),
            "battery_soh": 99.0,
            # The real-time reply's charge_cap / discharge_cap count the current day.
            "charge_cap": _r(charged * share),
            "discharge_cap": _r(discharged * share),
            "run_state": 1,
        }
        if device.type_id == BATTERY:
            items.update(
                battery_status=2 if power_w != 0.0 else 1,
                max_charge_power=BATTERY_MAX_KW * 1000.0,
                max_discharge_power=BATTERY_MAX_KW * 1000.0,
                busbar_u=_r(430.0 + 0.6 * soc),
                ch_discharge_model=self._working_model(plant, mo.now),
            )
        return items

    def _grid_energy(self, plant: _Plant, mo: _Moment) -> tuple[float, float]:
        """Lifetime imported and exported energy of the plant's grid connection point."""
        prof = plant.profile
        prior = mo.day - plant.connection_day
        imported = self._today(prof.cum_import, prof.imported, mo, prior)
        exported = self._today(prof.cum_export, prof.exported, mo, prior)
        return (
            energy_lifetime(prof.cum_import, imported, prior),
            energy_lifetime(prof.cum_export, exported, prior),
        )

    def _sensor_items(self, device: _Device, mo: _Moment) -> dict[str, Any]:
        export_w = -device.plant.profile.grid[mo.minute] * 1000.0
        wobble = self._wobble(device, mo)
        volts = PHASE_VOLTS[wobble]
        imported, exported = self._grid_energy(device.plant, mo)
        return {
            "meter_status": 1,
            "meter_u": _r(volts),
            "meter_i": _r(abs(export_w) / volts),
            "active_power": _r(export_w),
            "reactive_power": 45.0,
            "power_factor": 0.99,
            "grid_frequency": _FREQUENCY[wobble],
            "active_cap": _r(imported),
            "reverse_active_cap": _r(exported),
            "run_state": 1,
        }

    def _meter_items(self, device: _Device, mo: _Moment) -> dict[str, Any]:
        export_kw = -device.plant.profile.grid[mo.minute]
        scale = 1000.0 if self.meter_power_unit == "W" else 1.0
        wobble = self._wobble(device, mo)
        volts = PHASE_VOLTS[wobble]
        amps = abs(export_kw) * 1000.0 / 3.0 / volts
        imported, exported = self._grid_energy(device.plant, mo)
        forward_reactive = imported * 0.03
        reverse_reactive = exported * 0.02
        items: dict[str, Any] = {
            **_LINE_SIDE[wobble],
            "a_i": _r(amps * 1.02), "b_i": _r(amps), "c_i": _r(amps * 0.98),
            "active_power": _r(export_kw * scale),
            "power_factor": 0.99,
            "active_cap": _r(imported),
            "reactive_power": 0.05,
            "reverse_active_cap": _r(exported),
            "forward_reactive_cap": _r(forward_reactive),
            "reverse_reactive_cap": _r(reverse_reactive),
            "active_power_a": _r(export_kw * 0.34 * scale),
            "active_power_b": _r(export_kw * 0.33 * scale),
            "active_power_c": _r(export_kw * 0.33 * scale),
            "reactive_power_a": 0.017, "reactive_power_b": 0.017, "reactive_power_c": 0.016,
            "total_apparent_power": _r(abs(export_kw) / 0.99),
            "grid_frequency": _FREQUENCY[wobble],
        }  # fmt: skip
        for tariff, part in _TARIFF_SPLIT:
            items[f"reverse_active_{tariff}"] = _r(exported * part)
            items[f"positive_active_{tariff}"] = _r(imported * part)
            items[f"reverse_reactive_{tariff}"] = _r(reverse_reactive * part)
            items[f"positive_reactive_{tariff}"] = _r(forward_reactive * part)
        return items

    def _emi_items(self, device: _Device, mo: _Moment) -> dict[str, Any]:
        sun = SUN[mo.minute]
        sun_hours = _SUN_HOURS[mo.minute] + sun * mo.frac / 60.0
        daily_mj = _PEAK_IRRADIANCE * sun_hours * 3600.0 / 1e6
        air = 12.0 + 10.0 * sun
        return {
            "temperature": _r(air),
            "pv_temperature": _r(air + 25.0 * sun),
            "wind_speed": _r(3.5 + WOBBLE[self._wobble(device, mo)]),
            "wind_direction": 225.0,
            "radiant_total": _r(daily_mj),
            "radiant_line": _r(_PEAK_IRRADIANCE * sun),
            "horiz_radiant_line": _r(0.8 * _PEAK_IRRADIANCE * sun),
            "horiz_radiant_total": _r(0.8 * daily_mj),
            "run_state": 1,
        }

    def _device_items(self, device: _Device, mo: _Moment) -> dict[str, Any]:
        if device.offline:
            items = dict.fromkeys(device.spec.keys)
            for key, value in _OFFLINE_STATUS.items():
                if key in items:
                    items[key] = value
        else:
            items = self._builders[device.type_id](device, mo)
        return _stringify(items) if self.string_values else items

    # -- handlers -----------------------------------------------------------------------------

    def _ep_station_list(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        return 0, [
            {
                "stationCode": p.code,
                "stationName": p.name,
                "stationAddr": f"{p.index + 1} Solar Street, Sunville",
                "capacity": round(p.capacity / 1000.0, 6),
                "buildState": "2",
                "combineType": "3",
                "aidType": 1,
                "stationLinkman": f"Owner {p.index + 1}",
                "linkmanPho": f"+31 6 {10_000_000 + p.index}",
            }
            for p in account.plants.values()
        ]

    def _ep_stations(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        if body.get("pageNo") in (None, ""):
            return FC_PAGE_NO_EMPTY, None
        page_no = as_int(body["pageNo"])
        if page_no is None:
            return FC_BAD_PARAMETER, None
        if page_no < 1:
            return FC_PAGE_NO_NEGATIVE, None
        raw_size = body.get("pageSize")
        page_size = DEFAULT_PAGE_SIZE if raw_size is None else as_int(raw_size)
        if page_size not in PAGE_SIZES:
            return FC_PAGE_SIZE_RANGE, None
        plants = list(account.plants.values())
        start = (page_no - 1) * page_size
        return 0, {
            "total": len(plants),
            "pageCount": -(-len(plants) // page_size),
            "pageNo": page_no,
            "pageSize": page_size,
            "list": [self._plant_listing(p) for p in plants[start : start + page_size]],
        }

    @staticmethod
    def _plant_listing(p: _Plant) -> dict[str, Any]:
        return {
            "plantCode": p.code,
            "plantName": p.name,
            "plantAddress": f"{p.index + 1} Solar Street, Sunville",
            "longitude": p.longitude,
            "latitude": p.latitude,
            "capacity": p.capacity,
            "contactPerson": f"Owner {p.index + 1}",
            "contactMethod": f"owner{p.index + 1}@example.com",
            "gridConnectionDate": p.connection_iso,
        }

    def raw_plants(self, username: str | None = None) -> list[dict[str, Any]]:
        """The plant list entries the account would get from ``stations``."""
        return [self._plant_listing(p) for p in self._account(username).plants.values()]

    def serial_numbers(self, plant_code: str) -> list[str]:
        """The ESN codes of a plant's devices."""
        return [d.esn for d in self._plants[plant_code].devices]

    def _owned_plants(self, account: _Account, value: Any) -> _Result:
        """Resolve a stationCodes string to (0, plants) or (failCode, None)."""
        codes = _split(value)
        if not codes:
            return FC_PLANTS_EMPTY, None
        if len(codes) > MAX_ITEMS_PER_CALL:
            return FC_TOO_MANY_PLANTS, None
        owned = account.plants
        plants = [owned[c] for c in codes if c in owned]
        if not plants:
            return FC_NO_PLANTS, None
        return 0, plants

    def _ep_station_kpi(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        code, plants = self._owned_plants(account, body.get("stationCodes"))
        if code:
            return code, None
        out = []
        for plant in plants:
            items = self._plant_items(plant, mo)
            out.append(
                {
                    "stationCode": plant.code,
                    "dataItemMap": _stringify(items) if self.string_values else items,
                }
            )
        return 0, out

    def _ep_dev_list(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        code, plants = self._owned_plants(account, body.get("stationCodes"))
        if code:
            return code, None
        return 0, [dict(d.listing) for p in plants for d in p.devices]

    def _ep_dev_kpi(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        type_id = as_int(body.get("devTypeId"))
        if type_id not in REALTIME_TYPES:
            return FC_BAD_DEVICE_TYPE, None
        dev_ids = _split(body.get("devIds"))
        sns = _split(body.get("sns"))
        devices: list[_Device] = []
        if dev_ids:
            if len(dev_ids) > MAX_ITEMS_PER_CALL:
                return FC_TOO_MANY_DEVICES, None
            for raw in dev_ids:
                number = as_int(raw)
                device = self._devices.get(number) if number is not None else None
                if device is not None:
                    devices.append(device)
        elif sns:
            if len(sns) > MAX_ITEMS_PER_CALL:
                return FC_TOO_MANY_DEVICES, None
            devices = [self._devices_by_sn[s] for s in sns if s in self._devices_by_sn]
        else:
            return (
                FC_SNS_EMPTY if "sns" in body and "devIds" not in body else FC_DEVICES_EMPTY
            ), None
        devices = [d for d in devices if d.plant.owner == account.username]
        if not devices:
            return FC_NO_DEVICES, None
        if any(d.type_id != type_id for d in devices):
            return FC_DEVICE_TYPE_MISMATCH, None
        return 0, [
            {"devId": d.id, "sn": d.esn, "dataItemMap": self._device_items(d, mo)} for d in devices
        ]

    def _ep_alarms(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        code, plants = self._owned_plants(account, body.get("stationCodes"))
        if code == FC_NO_PLANTS:
            plants = []
        elif code:
            return code, None
        begin = as_int(body.get("beginTime"))
        end = as_int(body.get("endTime"))
        if begin is None or end is None:
            return FC_TIME_EMPTY, None
        language = body.get("language")
        if language in (None, ""):
            return FC_LANGUAGE_EMPTY, None
        if language not in LANGUAGES:
            return FC_LANGUAGE_INVALID, None
        if begin > end:
            return FC_BEGIN_AFTER_END, None
        if end - begin > MAX_ALARM_SPAN_MS:
            return FC_SPAN_TOO_LONG, None
        if not plants:
            return FC_NO_PLANTS, None
        filters = {
            key: {as_int(v) for v in parts}
            for key in ("status", "levels", "devTypes", "types")
            if (parts := _split(body.get(key)))
        }
        if "status" in filters and 1 not in filters["status"]:
            return 0, []
        dev_name = body.get("devName") or None
        wanted = {p.code for p in plants}
        return 0, [
            {
                "stationCode": a.plant.code,
                "stationName": a.plant.name,
                "alarmId": a.alarm_id,
                "alarmName": a.name,
                "alarmCause": a.cause,
                "causeId": a.cause_id,
                "repairSuggestion": a.suggestion,
                "devName": a.device.name,
                "devTypeId": a.device.type_id,
                "esnCode": a.device.esn,
                "lev": a.lev,
                "alarmType": a.alarm_type,
                "status": 1,
                "raiseTime": a.raise_ms,
            }
            for a in self._alarms.values()
            if a.plant.code in wanted
            and begin <= a.raise_ms <= end
            and a.lev in filters.get("levels", (a.lev,))
            and a.device.type_id in filters.get("devTypes", (a.device.type_id,))
            and a.alarm_type in filters.get("types", (a.alarm_type,))
            and dev_name in (None, a.device.name)
        ]

    # -- hourly report (getKpiStationHour) ----------------------------------------------------

    def hour_energy(self, plant_code: str, day: int, until: float) -> dict[int, dict[str, float]]:
        """Energy (kWh) per flow of each local wall-clock hour of day number ``day`` up to
        ``until``, keyed by the epoch milliseconds the hour first began.

        Built from the same one-minute profile as the live counters, over real elapsed time: on
        the day the clocks go forward the skipped hour has no entry, on the day they go back the
        repeated hour's two passes share one entry (the cloud has 24 records a day at most).
        """
        plant = self._plants[plant_code]
        if day < plant.connection_day:
            return {}
        prof = plant.profile
        yield_share = 1.0 if plant.has_inverter else 0.0
        curves = {
            "pv": (prof.cum_pv, prof.pv),
            "export": (prof.cum_export, prof.exported),
            "import": (prof.cum_import, prof.imported),
            "charge": (prof.cum_charge, prof.charge),
            "discharge": (prof.cum_discharge, prof.discharge),
            "load": (LOAD_CUM, LOAD),
            "sun": (_SUN_HOURS, SUN),
        }
        start, end = self._midnight(day), self._midnight(day + 1)
        stop = min(end, until)
        rows: dict[int, tuple[int, dict[str, float]]] = {}
        moment = start
        while moment < stop - 1e-6:
            local = datetime.fromtimestamp(moment, self._tz)
            wall = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
            step_end = min(moment + (60.0 - wall % 60.0) * 60.0, stop)
            upto = min(float(MINUTES), wall + (step_end - moment) / 60.0)
            first_ms, sums = rows.setdefault(local.hour, (round(moment * 1000), {}))
            for name, (cum, rate) in curves.items():
                sums[name] = (
                    sums.get(name, 0.0) + _cum_at(cum, rate, upto) - _cum_at(cum, rate, wall)
                )
            moment = step_end
        out: dict[int, dict[str, float]] = {}
        for first_ms, sums in rows.values():
            sums["pv"] *= yield_share
            out[first_ms] = sums
        return out

    def _hour_items(self, plant: _Plant, sums: Mapping[str, float]) -> dict[str, Any]:
        pv = sums["pv"]
        irradiation = 0.9 * sums["sun"] if self.emi else None  # kWh/m2 at 900 W/m2 peak
        items: dict[str, Any] = {
            "radiation_intensity": None if irradiation is None else _r(irradiation),
            "theory_power": None if irradiation is None else _r(irradiation * plant.capacity),
            "inverter_power": _r(pv),
            "ongrid_power": _r(sums["export"]),
            "power_profit": _r(pv * PRICE_PER_KWH),
        }
        if not self.hour_keys_2022:
            storage = plant.profile.battery_kwh > 0.0
            charge, discharge = sums["charge"], sums["discharge"]
            items.update(
                PVYield=_r(pv),
                inverterYield=_r(max(0.0, pv + discharge - charge)),
                chargeCap=_r(charge) if storage else None,
                dischargeCap=_r(discharge) if storage else None,
                selfProvide=_r(max(0.0, sums["load"] - sums["import"])),
                use_power=_r(sums["load"]),
            )
        return _stringify(items) if self.string_values else items

    def _ep_kpi_hour(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        code, plants = self._owned_plants(account, body.get("stationCodes"))
        if code:
            return code, None
        raw = body.get("collectTime")
        if raw is None or raw == "":
            return FC_TIME_EMPTY, None
        collect = raw if isinstance(raw, int) and not isinstance(raw, bool) else as_int(raw)
        if collect is None:
            return (
                _EXCEPTION,
                {
                    "exceptionId": "framwork.remote.Paramerror",
                    "exceptionType": "ROA_EXFRAME_EXCEPTION",
                    "descArgs": None,
                    "reasonArgs": ["collectTime"],
                    "detailArgs": ["collectTime must be a Long (milliseconds)"],
                    "adviceArgs": None,
                },
            )
        if collect < mo.ms - HISTORY_DAYS * 86_400_000:
            return FC_TOO_OLD, None
        seconds = collect / 1000.0
        day = math.floor((seconds + self._offset_minutes(seconds) * 60.0) / 86_400.0)
        out = []
        for plant in plants:
            for first_ms, sums in sorted(self.hour_energy(plant.code, day, mo.now).items()):
                out.append(
                    {
                        "stationCode": plant.code,
                        "collectTime": first_ms,
                        "dataItemMap": self._hour_items(plant, sums),
                    }
                )
        return 0, out

    # -- controls: test hooks -----------------------------------------------------------------

    def set_task_delay(self, seconds: float) -> None:
        """Seconds a new control task runs before it succeeds or fails."""
        if seconds < 0:
            raise ValueError("the delay cannot be negative")
        self.task_delay = seconds

    def fail_next_task(self, message: str = "FAILURE", count: int = 1) -> None:
        """The next ``count`` plant tasks are delivered but end in FAIL with ``message``."""
        self._fail_next.extend([message] * count)

    def refuse_next_delivery(self, message: str = "FAILURE", count: int = 1) -> None:
        """The next ``count`` plant tasks cannot be delivered (FAIL in the submission reply)."""
        self._refuse_next.extend([message] * count)

    def deny_control(self, denied: bool = True, *, code: int = FC_NO_PERMISSION) -> None:
        """Every control interface answers ``code`` (401: the account lacks the interface
        permission; 20056: the owner did not authorise it)."""
        self._control_denied = code if denied else None

    def battery_settings(self, plant_code: str) -> dict[str, Any]:
        """The plant's stored control settings now (vendor field names and units)."""
        self._settle(self._clock())
        settings = self._plants[plant_code].settings
        return {
            **self._mode_echo(settings),
            **self._config_echo(settings, snake=False),
            **self._power_echo(settings),
        }

    def change_settings(self, plant_code: str, **values: Any) -> None:
        """Change stored settings as the owner would in the portal (``_Settings`` names, e.g.
        ``operation_mode="TOU"``, ``end_of_charge_soc=96.0``)."""
        settings = self._plants[plant_code].settings
        for name, value in values.items():
            if not hasattr(settings, name):
                raise ValueError(f"no setting {name!r}")
            setattr(settings, name, value)

    def forcing(self, plant_code: str) -> int:
        """The dispatchSwitch of the plant's forced charge (1) or discharge (2) now, else 0."""
        now = self._clock()
        self._settle(now)
        part = self._active_force(self._plants[plant_code], now)
        return 0 if part is None else part.switch

    # -- controls: state ----------------------------------------------------------------------

    def _control_day_ok(self, account: _Account, now: float) -> bool:
        cap = self.control_daily_cap
        if cap is None:
            return True
        today = int(now // 86_400)
        day, count = account.daily.get("control", (today, 0))
        if day != today:
            count = 0
        if count >= cap:
            return False
        account.daily["control"] = (today, count + 1)
        return True

    def _settle(self, now: float) -> None:
        """Settle, in order, every task whose delay has passed (settings change on success)."""
        due = sorted(
            (t for t in self._tasks.values() if not t.settled and t.due <= now),
            key=lambda t: (t.due, t.id),
        )
        for task in due:
            task.settled = True
            for part in task.parts:
                if part.state != "RUNNING":
                    continue
                if part.fail is not None:
                    part.state = "FAIL"
                    continue
                settings = part.plant.settings
                for name, value in part.change.items():
                    setattr(settings, name, value)
                if task.kind == CHARGE:
                    if part.switch == 0:
                        self._stop_forces(part.plant, task.due)
                        part.state = "SUCCESS"
                    # A forced charge runs on; its status follows the clock.
                    continue
                part.state = "SUCCESS"
                part.echo = self._echo(task.kind, settings)

    def _stop_forces(self, plant: _Plant, at: float) -> None:
        for task in self._tasks.values():
            if task.kind != CHARGE or task.due > at:
                continue
            for part in task.parts:
                active = part.plant is plant and part.switch and part.state != "FAIL"
                if active and task.force_end(part) > at:
                    part.stopped_at = at

    def _active_force(self, plant: _Plant, now: float) -> _Part | None:
        for task in self._tasks.values():
            if task.kind != CHARGE or not task.settled:
                continue
            for part in task.parts:
                if part.plant is plant and part.switch and task.charge_status(part, now) == 1:
                    return part
        return None

    def _working_model(self, plant: _Plant, now: float) -> int:
        """ch_discharge_model: 1 forced, 2 TOU, 4 maximum self-consumption."""
        if self._active_force(plant, now) is not None:
            return 1
        return 2 if plant.settings.operation_mode == "TOU" else 4

    def _running(self, kind: str, plant: _Plant, now: float) -> bool:
        """Whether a task of this kind runs for the plant (a stop never blocks a charge)."""
        for task in self._tasks.values():
            if task.kind != kind:
                continue
            for part in task.parts:
                if part.plant is not plant or part.state == "FAIL":
                    continue
                if kind == CHARGE:
                    if part.switch and task.charge_status(part, now) == 1:
                        return True
                elif part.state == "RUNNING":
                    return True
        return False

    @staticmethod
    def _mode_echo(settings: _Settings) -> dict[str, Any]:
        return {
            "operationMode": settings.operation_mode,
            "redundantPVEnergyPriority": settings.redundant_pv,
            "allowedAcChargePower": settings.ac_charge_kw,
            "chargingAndDischargingTimeWindow": [
                {**w, "repeat": list(w["repeat"])} for w in settings.windows
            ],
        }

    @staticmethod
    def _config_echo(settings: _Settings, *, snake: bool = True) -> dict[str, Any]:
        values = {
            "endOfChargeSoc": settings.end_of_charge_soc,
            "endOfDischargeSoc": settings.end_of_discharge_soc,
            "maximumChargePower": int(settings.max_charge_w),
            "maximumDischargePower": int(settings.max_discharge_w),
        }
        if not snake:
            return values
        return {"battery_configuration_info": {_snake(key): value for key, value in values.items()}}

    @staticmethod
    def _power_echo(settings: _Settings) -> dict[str, Any]:
        info: dict[str, Any] = {"limitationMode": settings.limitation_mode}
        if settings.max_feed_in_kw is not None:
            info["maxGridFeedInPower"] = settings.max_feed_in_kw
        return {"controlMode": settings.control_mode, "controlInfo": info}

    def _echo(self, kind: str, settings: _Settings) -> dict[str, Any]:
        if kind == MODE:
            return self._mode_echo(settings)
        if kind == CONFIG:
            return self._config_echo(settings)
        return self._power_echo(settings)

    # -- controls: validation -----------------------------------------------------------------

    def _soc(self, plant: _Plant, now: float) -> float:
        prof = plant.profile
        if prof.battery_kwh <= 0:
            return 0.0
        return 100.0 * prof.soc[self._moment(now).minute] / prof.battery_kwh

    @staticmethod
    def _device(plant: _Plant, types: frozenset[int]) -> _Device | None:
        return next((d for d in plant.devices if d.type_id in types), None)

    def _check_mode(self, plant: _Plant, entry: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        mode = entry.get("operationMode")
        if mode in (None, ""):
            return FC_EMPTY_VALUE, {}
        if mode not in MODES:
            return FC_OUT_OF_RANGE, {}
        change: dict[str, Any] = {"operation_mode": mode}
        priority = entry.get("redundantPVEnergyPriority")
        if priority is not None:
            if priority not in PV_PRIORITIES:
                return FC_OUT_OF_RANGE, {}
            change["redundant_pv"] = priority
        if entry.get("allowedAcChargePower") is not None:
            kw = _number(entry["allowedAcChargePower"])
            # An inverter-connected plant: [0, the battery's maximum charge power].
            if kw is None or not 0.0 <= kw <= BATTERY_MAX_KW:
                return FC_OUT_OF_RANGE, {}
            change["ac_charge_kw"] = kw
        windows = entry.get("chargingAndDischargingTimeWindow")
        if windows is not None:
            checked = _check_windows(windows)
            if checked is None:
                return FC_OUT_OF_RANGE, {}
            change["windows"] = checked
        return 0, change

    def _check_config(self, plant: _Plant, entry: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        info = entry.get("batteryConfigurationInfo")
        fields = ("endOfChargeSoc", "endOfDischargeSoc", "maximumChargePower")
        if not isinstance(info, dict) or not any(
            info.get(key) is not None for key in (*fields, "maximumDischargePower")
        ):
            return FC_EMPTY_VALUE, {}
        change: dict[str, Any] = {}
        for key, attr, (low, high) in (
            ("endOfChargeSoc", "end_of_charge_soc", END_OF_CHARGE_SOC),
            ("endOfDischargeSoc", "end_of_discharge_soc", END_OF_DISCHARGE_SOC),
        ):
            if key in info:
                soc = _number(info[key])
                if soc is None or not low <= soc <= high:
                    return FC_OUT_OF_RANGE, {}
                change[attr] = soc
        for key, attr in (
            ("maximumChargePower", "max_charge_w"),
            ("maximumDischargePower", "max_discharge_w"),
        ):
            if key in info:
                watts = _number(info[key])
                if watts is None or watts < 0:
                    return FC_OUT_OF_RANGE, {}
                # Above the battery's maximum: the maximum is taken.
                change[attr] = float(min(round(watts), RATED_W))
        return 0, change

    def _check_power(self, plant: _Plant, entry: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        mode = entry.get("controlMode")
        if mode in (None, ""):
            return FC_EMPTY_VALUE, {}
        if mode not in ("0", "6"):
            return FC_OUT_OF_RANGE, {}
        change: dict[str, Any] = {"control_mode": mode}
        if mode == "6":
            info = entry.get("controlInfo")
            if not isinstance(info, dict) or info.get("maxGridFeedInPower") is None:
                return FC_EMPTY_VALUE, {}
            kw = _number(info["maxGridFeedInPower"])
            if kw is None or not FEED_IN_KW[0] <= kw <= FEED_IN_KW[1]:
                return FC_OUT_OF_RANGE, {}
            limitation = info.get("limitationMode", "0")
            if limitation not in ("0", "1"):
                return FC_OUT_OF_RANGE, {}
            change.update(max_feed_in_kw=kw, limitation_mode=limitation)
        return 0, change

    def _check_charge(
        self, plant: _Plant, entry: dict[str, Any], now: float
    ) -> tuple[int, tuple[int, float, float]]:
        """(failCode, (switch, power W, seconds the force runs once delivered))."""
        switch = as_int(entry.get("dispatchSwitch"))
        if switch not in (0, 1, 2):
            return FC_CHARGE_SWITCH, (0, 0.0, 0.0)
        if switch == 0:
            return 0, (0, 0.0, 0.0)
        control_type = as_int(entry.get("controlType"))
        if control_type not in (1, 2):
            return FC_CONTROL_TYPE, (0, 0.0, 0.0)
        power = _number(entry.get("powerDispatch"))
        if (
            power is None
            or (switch == 1 and power <= 0)
            or (switch == 2 and power >= 0)
            or abs(power) > RATED_W
        ):
            return FC_CHARGE_POWER, (0, 0.0, 0.0)
        if control_type == 1:
            target = _number(entry.get("targetSOC"))
            if target is None or not 0.0 <= target <= 100.0:
                return FC_TARGET_SOC, (0, 0.0, 0.0)
            soc = self._soc(plant, now)
            missing = target - soc if switch == 1 else soc - target
            hours = max(0.0, missing) / 100.0 * plant.profile.battery_kwh / (abs(power) / 1000)
            return 0, (switch, power, hours * 3600.0)
        minutes = as_int(entry.get("dispatchTime"))
        if minutes is None or not 1 <= minutes <= MAX_DISPATCH_MINUTES:
            return FC_DURATION, (0, 0.0, 0.0)
        return 0, (switch, power, minutes * 60.0)

    # -- controls: endpoints ------------------------------------------------------------------

    def _task_entries(
        self, kind: str, body: dict[str, Any]
    ) -> tuple[int, Any, list[dict[str, Any]]]:
        """(failCode, exception body, the plant entries) of a submission."""
        self.control_requests.append((self._clock(), kind, body))
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            return FC_TASKS_EMPTY, None, []
        limit = MAX_CHARGE_PLANTS if kind == CHARGE else MAX_TASK_PLANTS
        if len(tasks) > limit:
            return (
                _EXCEPTION,
                {
                    "exceptionId": "framwork.remote.Paramerror",
                    "exceptionType": "ROA_EXFRAME_EXCEPTION",
                    "descArgs": None,
                    "reasonArgs": ["tasks"],
                    "detailArgs": [f"tasks size must be between 1 and {limit}"],
                    "adviceArgs": None,
                },
                [],
            )
        if not all(isinstance(t, dict) for t in tasks):
            return FC_EMPTY_VALUE, None, []
        codes = [t.get("plantCode") for t in tasks]
        if len(set(map(str, codes))) != len(codes):
            return FC_DUPLICATE_PLANT, None, []
        return 0, None, tasks

    def _submit(self, kind: str, account: _Account, body: dict[str, Any], now: float) -> _Result:
        code, exception, entries = self._task_entries(kind, body)
        if code:
            return code, exception
        parts: list[_Part] = []
        for entry in entries:
            plant = account.plants.get(str(entry.get("plantCode")))
            if plant is None:
                return (FC_PLANT_UNAUTHORISED if kind == CHARGE else FC_PLANT_INVALID), None
            types = _INVERTERS if kind == POWER else frozenset({BATTERY})
            device = self._device(plant, types)
            if device is None:
                return FC_BAD_DEVICE_TYPE, None
            part = _Part(plant, entry, {})
            if kind == CHARGE:
                code, (part.switch, part.power_w, part.run_seconds) = self._check_charge(
                    plant, entry, now
                )
            else:
                checker = {MODE: self._check_mode, CONFIG: self._check_config}.get(
                    kind, self._check_power
                )
                code, part.change = checker(plant, entry)
            if code:
                return code, None
            if device.offline:
                return FC_COMMUNICATION, None
            if (kind != CHARGE or part.switch) and self._running(kind, plant, now):
                return FC_TASK_RUNNING, None
            parts.append(part)
        for part in parts:
            if self._refuse_next:
                part.state = "FAIL"
                part.fail = self._refuse_next.popleft()
            elif self._fail_next:
                part.fail = self._fail_next.popleft()
        task_id = f"{self._next_task:016d}"
        self._next_task += 1
        task = _CtrlTask(task_id, kind, account.username, now, now + self.task_delay, parts)
        self._tasks[task_id] = task
        if kind == CHARGE:
            result: list[dict[str, Any]] = []
            for number, part in enumerate(parts, start=1):
                battery = self._device(part.plant, frozenset({BATTERY}))
                result.append(
                    {
                        "plantCode": part.plant.code,
                        "sn": battery.esn if battery else None,
                        "dispatchResult": 1 if part.state == "FAIL" else 0,
                        "subTaskId": f"{task_id}-{number}",
                    }
                )
            data: dict[str, Any] = {"requestID": task_id, "result": result}
        else:
            data = {
                "taskId": task_id,
                "result": [
                    {
                        "plantCode": part.plant.code,
                        "status": part.state,
                        "message": part.fail if part.state == "FAIL" else None,
                    }
                    for part in parts
                ],
            }
        refused = sum(part.state == "FAIL" for part in parts)
        if refused == len(parts):
            return FC_TASK_FAILED, data
        return (FC_TASK_PARTLY if refused else 0), data

    def _ep_charge(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        return self._submit(CHARGE, account, body, mo.now)

    def _ep_mode(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        return self._submit(MODE, account, body, mo.now)

    def _ep_config(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        return self._submit(CONFIG, account, body, mo.now)

    def _ep_power(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        return self._submit(POWER, account, body, mo.now)

    def _own_task(self, kind: str, account: _Account, task_id: Any) -> _CtrlTask | None:
        task = self._tasks.get(str(task_id))
        if task is None or task.kind != kind or task.owner != account.username:
            return None
        return task

    def _time(self, seconds: float | None) -> str | None:
        if seconds is None:
            return None
        return datetime.fromtimestamp(seconds, self._tz).isoformat()

    def _task_info(self, kind: str, account: _Account, body: dict[str, Any]) -> _Result:
        task_id = body.get("taskId")
        if task_id in (None, ""):
            return FC_TASK_ID_EMPTY, None
        task = self._own_task(kind, account, task_id)
        if task is None:
            return FC_NO_TASK, None
        snake = kind == CONFIG
        rows = []
        for part in task.parts:
            if part.echo is not None:
                echo = part.echo
            elif kind == MODE:
                echo = {k: v for k, v in part.entry.items() if k != "plantCode"}
            elif kind == CONFIG:
                info = part.entry.get("batteryConfigurationInfo") or {}
                echo = {"battery_configuration_info": {_snake(k): v for k, v in info.items()}}
            else:
                echo = {k: v for k, v in part.entry.items() if k != "plantCode"}
            rows.append(
                {
                    ("plant_code" if snake else "plantCode"): part.plant.code,
                    "status": part.state,
                    "message": part.fail if part.state == "FAIL" else None,
                    **echo,
                }
            )
        ended = task.due if task.settled else None
        return 0, {
            "dispatchResult": rows,
            ("start_time" if snake else "startTime"): self._time(task.created),
            ("end_time" if snake else "endTime"): self._time(ended),
        }

    def _ep_mode_info(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        return self._task_info(MODE, account, body)

    def _ep_config_info(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        return self._task_info(CONFIG, account, body)

    def _ep_power_info(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        return self._task_info(POWER, account, body)

    def _ep_charge_status(self, account: _Account, body: dict[str, Any], mo: _Moment) -> _Result:
        request_id = body.get("requestID")
        if request_id in (None, ""):
            return FC_REQUEST_ID_EMPTY, None
        task = self._own_task(CHARGE, account, request_id)
        if task is None:
            return FC_NO_CHARGE_TASK, None
        now = mo.now
        statuses = [task.charge_status(part, now) for part in task.parts]
        status = 2 if 2 in statuses else 1 if 1 in statuses else 0
        charged = discharged = 0.0
        ends: list[float] = []
        for part in task.parts:
            if part.state == "FAIL" or not part.switch or now < task.due:
                continue
            end = min(now, task.force_end(part))
            ends.append(end)
            energy = abs(part.power_w) * (end - task.due) / 3_600_000.0
            if part.switch == 1:
                charged += energy
            else:
                discharged += energy
        failed = next((part.fail for part in task.parts if part.state == "FAIL"), None)
        return 0, {
            "status": status,
            "chargedCapacity": _r(charged),
            "dischargedCapacity": _r(discharged),
            "execStartTime": int(task.due * 1000) if now >= task.due else None,
            "execEndTime": (int((max(ends) if ends else task.due) * 1000) if status != 1 else None),
            "message": failed,
        }

    def _login(self, body: dict[str, Any], now: float, params: dict[str, Any]) -> web.Response:
        username = body.get("userName")
        key = username if isinstance(username, str) else ""
        window = self._login_windows.get(key)
        if window is None:
            window = self._login_windows[key] = deque()
        if window_full(window, now, LOGIN_WINDOW, LOGIN_LIMIT):
            return self._refuse("login", params, FC_TOO_FREQUENT)
        account = self._accounts.get(key)
        if account is not None and not self._daily_ok(account, "login", now):
            return self._refuse("login", params, FC_DAILY_CAP)
        window.append(now)
        self.calls["login"] += 1
        if account is None or now < account.locked_until:
            return self._envelope(params, FC_LOGIN_FAILED)
        if body.get("systemCode") != account.system_code:
            account.failed_total += 1
            failures = account.failed_logins
            failures.append(now)
            while failures and failures[0] <= now - LOGIN_WINDOW:
                failures.popleft()
            if len(failures) >= LOCKOUT_FAILURES:
                account.locked_until = now + LOCKOUT_SECONDS
                failures.clear()
            return self._envelope(params, FC_LOGIN_FAILED)
        account.failed_logins.clear()
        self._revoke(account)
        token = self._issue(account, now)
        self.logins += 1
        response = self._envelope(params, 0)
        response.headers[TOKEN_HEADER] = token
        response.set_cookie(TOKEN_HEADER, token, path="/")
        return response

    def _logout(
        self, request: web.Request, body: dict[str, Any], now: float, params: dict[str, Any]
    ) -> web.Response:
        token = body.get("xsrfToken") or request.headers.get(TOKEN_HEADER)
        account = self._tokens.get(token) if isinstance(token, str) else None
        if account is None or now >= account.token_expiry:
            return json_response(RELOGIN_BODY)
        window = self._login_windows.get(account.username)
        if window is None:
            window = self._login_windows[account.username] = deque()
        if window_full(window, now, LOGIN_WINDOW, LOGIN_LIMIT):
            return self._refuse("logout", params, FC_TOO_FREQUENT)
        window.append(now)
        self.calls["logout"] += 1
        self._revoke(account)
        return self._envelope(params, 0)

    @staticmethod
    def _envelope(
        params: dict[str, Any], code: int, data: Any = None, message: str | None = None
    ) -> web.Response:
        return json_response(
            {
                "success": code == 0,
                "failCode": code,
                "message": message if message is not None else _MESSAGES.get(code),
                "params": params,
                "data": data,
            }
        )

    async def _dispatch(self, request: web.Request, name: str) -> web.Response:
        now = self._clock()
        self._log(now, name)
        fault = self._take_fault(name, data=False) if self._injected else None
        if fault is not None and fault.kind != "timeout":
            return self._fault_response(fault, name, now)
        delay = self.timeout_delay if fault is not None else 0.0
        body = await self._read_body(request)
        if body is None:
            return json_response(
                {
                    "exceptionId": "framwork.remote.Paramerror",
                    "exceptionType": "ROA_EXFRAME_EXCEPTION",
                    "reasonArgs": ["body"],
                    "detailArgs": ["request body must be a JSON object"],
                },
                status=400,
            )
        if name in ("login", "logout"):
            if delay:
                await asyncio.sleep(delay)
                now = self._clock()
            params = {"currentTime": int(now * 1000)}
            if name == "login":
                return self._login(body, now, params)
            return self._logout(request, body, now, params)
        return await self._data_call(request, name, body, now, delay)

    async def _data_call(
        self, request: web.Request, name: str, body: dict[str, Any], now: float, delay: float
    ) -> web.Response:
        account, scopes, refusal = self._bearer(request, now)
        if refusal is not None:
            return refusal
        if scopes is None:
            account = self._session(request, now)
        if account is None:
            return json_response(RELOGIN_BODY)
        params = dict(body)
        params["currentTime"] = int(now * 1000)
        if name in CONTROL_ROUTES and scopes is not None and SCOPE_CONTROL not in scopes:
            return self._envelope(params, FC_NO_PERMISSION)
        if name in account.busy:
            return self._refuse(name, params, FC_TOO_FREQUENT)
        if name == "stations" and self.legacy_only:
            return self._envelope(params, FC_NO_PERMISSION)
        if name in CONTROL_ROUTES and self._control_denied is not None:
            return self._envelope(params, self._control_denied)
        refusal = self._admit(account, name, now, params)
        if refusal is not None:
            return refusal
        if scopes is None:
            account.token_expiry = now + TOKEN_TTL
        self.calls[name] += 1
        account.busy.add(name)
        try:
            if delay:
                await asyncio.sleep(delay)
                now = self._clock()
                params["currentTime"] = int(now * 1000)
            self._settle(now)
            code, data = self._endpoints[name](account, body, self._moment(now))
        finally:
            account.busy.discard(name)
        if code == _EXCEPTION:
            return json_response(data, status=400)
        if code == 0:
            data = self._shaped(name, data)
        return self._envelope(params, code, data)

    @staticmethod
    async def _read_body(request: web.Request) -> dict[str, Any] | None:
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = orjson.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    @staticmethod
    async def _not_found(request: web.Request) -> web.Response:
        return html_error(404)

    def make_app(self) -> web.Application:
        """A new aiohttp application serving this simulator's state."""
        app = web.Application()
        for name in ("login", "logout", *self._endpoints):
            app.router.add_post(CONTROL_ROUTES.get(name, API_PREFIX + name), self._handler(name))
        app.router.add_get(OAUTH_AUTHORIZE, self._authorize)
        app.router.add_post(OAUTH_TOKEN, self._token)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # -- faults -------------------------------------------------------------------------------

    def _fail_code(self, text: str) -> int:
        return int(text)

    def _fault_path(self, path: str) -> str:
        return _short(path)

    def _fault_response(self, fault: Injected[int], name: str, now: float) -> web.Response:
        kind = fault.kind
        if fault.code:
            if fault.code == FC_RELOGIN:
                return json_response(RELOGIN_BODY)
            params = {"currentTime": int(now * 1000)}
            if fault.code in (FC_TOO_FREQUENT, FC_DAILY_CAP):
                return self._refuse(name, params, fault.code)
            return self._envelope(params, fault.code)
        if kind in REPLACING_FAULTS:
            return self._fault_page(kind)
        if kind == "quota_gateway":
            return json_response(
                {
                    "errorCode": "49401021002",
                    "exceptionInfo": f"Request is rejected by api quotaControl, key:/{name}_POST",
                },
                status=403,
            )
        return json_response(
            {
                "exceptionId": "framwork.remote.SystemError",
                "exceptionType": "ROA_EXFRAME_EXCEPTION",
            },
            status=500,
        )

    def _shape(self, data: Any, kind: str) -> Any:
        """Apply a data-shaping fault to a successful answer, building new objects."""
        if isinstance(data, dict) and isinstance(data.get("list"), list):
            return {**data, "list": self._shape(data["list"], kind)}
        if not isinstance(data, list):
            return data
        keep = self.identity_keys.__contains__
        shaped = []
        for item in data:
            if not isinstance(item, dict):
                shaped.append(item)
                continue
            items = item.get("dataItemMap")
            if isinstance(items, dict):  # every key of a dataItemMap is a value
                new_map = shape_record(items, kind, lambda _key: False, self.na_filler)
                shaped.append({**item, "dataItemMap": new_map})
            else:
                shaped.append(shape_record(item, kind, keep, self.na_filler))
        return shaped


# ---------------------------------------------------------------------------------------------
# Standalone server
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = server_parser("Run the fake Huawei northbound API server.", port=8990)
    parser.add_argument("--username", default="api_user")
    parser.add_argument("--system-code", default="api_pass")
    parser.add_argument("--string-inverter", action="store_true")
    parser.add_argument("--grid-meter", action="store_true")
    parser.add_argument("--emi", action="store_true")
    parser.add_argument("--meter-power-unit", choices=("kW", "W"), default="kW")
    parser.add_argument("--legacy-only", action="store_true")
    parser.add_argument("--string-values", action="store_true")
    parser.add_argument("--tz-offset-hours", type=float, default=1.0)
    parser.add_argument("--time-zone", default=None, help="IANA zone, e.g. Europe/Amsterdam")
    parser.add_argument("--task-delay", type=float, default=DEFAULT_TASK_DELAY)
    parser.add_argument("--deny-control", action="store_true")
    parser.add_argument("--plant-name", default="Plant {n}", help='plant names, "{n}" the number')
    args = parser.parse_args(argv)
    global PLANT_NAME  # noqa: PLW0603 - the standalone server names its plants once, at start
    PLANT_NAME = args.plant_name
    simulator = HuaweiSimulator(
        plants=args.plants,
        username=args.username,
        system_code=args.system_code,
        string_inverter=args.string_inverter,
        grid_meter=args.grid_meter,
        emi=args.emi,
        meter_power_unit=args.meter_power_unit,
        legacy_only=args.legacy_only,
        string_values=args.string_values,
        tz_offset_hours=args.tz_offset_hours,
        time_zone=args.time_zone,
        task_delay=args.task_delay,
    )
    if args.deny_control:
        simulator.deny_control()
    serve(
        simulator,
        args.host,
        args.port,
        f"Huawei northbound simulator: http://{args.host}:{args.port}\n"
        f"  userName={args.username} systemCode={args.system_code}\n"
        f"  plants: {', '.join(simulator.plant_codes())}\n",
    )


if __name__ == "__main__":
    main()
