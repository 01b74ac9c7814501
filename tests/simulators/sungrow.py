"""Strict fake of the iSolarCloud V1 OpenAPI gateway (``POST /openapi/<name>``).

The simulator is an ``aiohttp.web`` application that follows the vendor document as closely
as a fake can: the ``sys_code`` / ``x-access-key`` headers, the ``appkey`` + ``token`` body
fields, the ``{req_serial_num, result_code, result_msg, result_data}`` envelope (always HTTP
200 for API errors), the login states, the 24-hour sliding token, the optional encrypted
transport (RSA-wrapped AES key in ``x-random-secret-key``, uppercase hex AES-128-ECB bodies,
``api_key_param`` nonce and timestamp), the hourly and daily call quotas with
``getOpenApiCallInfo``, parameter validation with the documented result codes, and the point
ids of the common measuring points (values as strings in base units: W, Wh, V, A).

Measurements are deterministic. Every plant follows a daily sun curve on local time; each
plant's day is precomputed once at one-minute resolution (PV, house load, battery and grid
flows plus their running integrals), so any clock value maps to the same answer and lifetime
counters are closed-form: ``days since installation * daily total + today``. The cloud
refreshes device data every ``data_interval`` seconds (300 by default, as the vendor
document says); ``device_time`` is that refresh time in plant time, ``yyyyMMddHHmmss``.

Sign conventions where the vendor document is silent: meter point 8018 is positive while
importing (forward = import: 8030, reverse = export: 8031); plant points 83328 and 83549 are
positive while feeding in; 83326 is positive while the battery charges.

Grid Control (``paramSettingCheck``, ``paramSetting``, ``getParamSettingTask``) and
``getDevPropertyPointValue`` follow the vendor's control protocol: storage inverters (type 14)
keep the parameters of Appendix 10 that batteries use (10001-10005, 10012, 10013, 10091, 10092)
as raw values in units of their ``set_precision``; a task is pending, then executing, and after
``task_delay`` seconds of the simulator's clock its parameters end with command_status 4
(values stored, or read back into ``return_value`` in display units), 5 (``fail_next_task``) or
6 (the delay is longer than the task's ``expire_second``); a task runs alone on its device
(another one is refused with check_result 9, "operation repeated"); values outside the
documented ranges are refused with check_result 3; ``deny_control`` answers E900 for the
control endpoints (the app lacks the Grid Control API) or "6-1" per device (no authority over
the parameter). The documents give no daily allowance for control; tasks count against the
hourly cap like every call.

History: ``getDevicePointMinuteDataList`` (document 2.7) answers the values each device held
at every ``minute_interval`` minutes (5 by default) of a window of at most 3 hours, for at most
50 devices of one type and fewer than 50 points, times in plant time; longer windows, more keys
or points, malformed stamps and mixed types answer 010, missing parameters 009, unknown
ps_keys are named in ``result_msg`` (``illegal_device_list:...``). No row lies after the clock,
so a day's counters end on the value the live endpoints showed last. ``zone`` gives the plants
a zone with daylight saving time (the counters follow the local clock; ``ps_current_time_zone``
is the offset of the moment), instead of the fixed ``tz_offset_hours``.

The clock, counters, request log and fault injection (``inject`` / ``clear_faults``) come
from ``tests.simulators.common``, shared with the other vendor simulators.

Typical use::

    sim = SungrowSimulator(plants=2, clock=fake_clock)
    server = await aiohttp_server(sim.app)
    sim.inject("fail_code:E900", path="getDeviceRealTimeData")

Run ``python -m tests.simulators.sungrow --help`` for a standalone server.
"""

from __future__ import annotations

import base64
import math
import re
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, Final

import orjson
from aiohttp import web
from Crypto.PublicKey import RSA

from custom_components.solar_cloud.api.crypto import (
    aes_decrypt_hex,
    aes_encrypt_hex,
    rsa_decrypt_b64url,
)
from tests.simulators.common import (
    BATTERY_FLOOR,
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
    HourlyCalls,
    Simulator,
    as_int,
    day_profile,
    energy_lifetime,
    energy_today,
    html_error,
    json_response,
    local_minute,
    maintenance_page,
    refresh_time,
    serve,
    server_parser,
    shape_record,
    take_slot,
    wobble_index,
)

__all__ = ["FAULT_KINDS", "SungrowSimulator"]

# ---------------------------------------------------------------------------------------------
# Protocol constants
# ---------------------------------------------------------------------------------------------

API_PREFIX: Final = "/openapi/"
SYS_CODE: Final = "901"
TOKEN_TTL: Final = 86_400.0
TOKEN_KEEP: Final = 7 * 86_400.0  # expired tokens still answer E900 this long, then E00003
LOGIN_WINDOW: Final = 600.0
LOGIN_LIMIT: Final = 10
LOCKOUT_FAILURES: Final = 5
LOCKOUT_SECONDS: Final = 1800.0
BURST_WINDOW: Final = 1.0
BURST_LIMIT: Final = 10
NONCE_TTL: Final = 86_400.0
TIMESTAMP_SKEW_MS: Final = 300_000
MAX_BODY_BYTES: Final = 1 << 20
MAX_PAGE_SIZE: Final = 100
MAX_PV_DEVICES: Final = 100  # getPVInverterRealTimeData sn_list / ps_key_list
MAX_DEVICES: Final = 50  # getDeviceRealTimeData ps_key_list / sn_list
MAX_POINTS: Final = 100  # getDeviceRealTimeData point_id_list
# getDevicePointMinuteDataList (document 2.7): at most 3 hours, 50 devices of one type, and
# "the number of points in single request should be less than 50"; every 5 minutes by default.
HISTORY_ENDPOINT: Final = "getDevicePointMinuteDataList"
MAX_MINUTE_SPAN: Final = 3 * 3600.0
MAX_MINUTE_DEVICES: Final = 50
MAX_MINUTE_POINTS: Final = 49
DEFAULT_MINUTE_INTERVAL: Final = 5
_POINT_RE: Final = re.compile(r"p\d+")
_STAMP_RE: Final = re.compile(r"\d{14}")
_NONCE_RE: Final = re.compile(r"[0-9A-Za-z]{32}")
_HEX_RE: Final = re.compile(rb"\s*[0-9A-Fa-f]+\s*")

# result_code values (Appendix 2 of the vendor document; E918 and E994-E998 from the portal).
OK: Final = "1"
C_NO_APPKEY: Final = "001"
C_NO_TOKEN: Final = "002"
C_NO_SYS_CODE: Final = "003"
C_MISSING: Final = "009"
C_INVALID: Final = "010"
E_APPKEY: Final = "E00000"
E_TOKEN_INVALID: Final = "E00003"
E_UNAUTHORIZED: Final = "E900"
E_TOO_FREQUENT: Final = "E901"
E_NOT_ENCRYPTED: Final = "E902"
E_NO_SECRET_KEY: Final = "E904"
E_AES: Final = "E905"
E_RSA: Final = "E906"
E_KEY_LENGTH: Final = "E907"
E_NO_KEY_PARAM: Final = "E908"
E_NONCE: Final = "E909"
E_REPEATED: Final = "E910"
E_NO_ACCESS_KEY: Final = "E911"
E_ACCESS_KEY: Final = "E912"
E_EXPIRED_REQUEST: Final = "E913"
E_LOGIN_FREQUENT: Final = "E916"
E_IP_WHITELIST: Final = "E918"
E_SYSTEM: Final = "E994"
E_BODY_TOO_LARGE: Final = "E995"
E_API_NOT_FOUND: Final = "E996"
E_DAILY_CAP: Final = "E998"
E_HOURLY_CAP: Final = "E999"

MESSAGES: Final[dict[str, str]] = {
    OK: "success",
    "-1": "error",
    "000": "er_unknown_exception",
    C_NO_APPKEY: "er_missing_parameter:appkey",
    C_NO_TOKEN: "er_missing_parameter:token",
    C_NO_SYS_CODE: "er_missing_parameter:sys_code",
    C_MISSING: "er_missing_parameter",
    C_INVALID: "er_parameter_value_invalid",
    E_APPKEY: "er_invalid_appkey",
    "E00001": "er_api_service_has_expired",
    "E00002": "er_parameter_decrypt_error",
    E_TOKEN_INVALID: "er_token_login_invalid",
    E_UNAUTHORIZED: "Unauthorized access",
    E_TOO_FREQUENT: "Call too frequently",
    E_NOT_ENCRYPTED: "Request is not encrypted",
    "E903": "Abnormal network environment",
    E_NO_SECRET_KEY: "Missing parameter in request header: x-random-secret-key",
    E_AES: "AES decryption exception",
    E_RSA: "RSA decryption exception",
    E_KEY_LENGTH: "AES random secret key length must be 16",
    E_NO_KEY_PARAM: "Missing key parameter: api_key_param",
    E_NONCE: "Invalid parameter format: nonce [32-bit string of numbers and letters]",
    E_REPEATED: "Repeated request",
    E_NO_ACCESS_KEY: "Missing parameter in request header: x-access-key",
    E_ACCESS_KEY: "Illegal x-access-key",
    E_EXPIRED_REQUEST: "Expired request",
    "E914": "Mismatched appkey and x-access-key",
    E_LOGIN_FREQUENT: "Login too frequently",
    E_IP_WHITELIST: "Permission denied by IP allow-list",
    E_SYSTEM: "System not found",
    E_BODY_TOO_LARGE: "Request body too large",
    E_API_NOT_FOUND: "API not found",
    E_DAILY_CAP: "er_day_call_api_times_upper_limit",
    E_HOURLY_CAP: "er_hour_call_api_times_upper_limit",
}
# Errors raised before the AES key is known (or about it) cannot be encrypted.
_PLAIN_CODES: Final = frozenset(
    {E_NOT_ENCRYPTED, E_NO_SECRET_KEY, E_AES, E_RSA, E_KEY_LENGTH, E_NO_KEY_PARAM, E_NONCE}
)
_QUOTA_CODES: Final = frozenset({E_TOO_FREQUENT, E_LOGIN_FREQUENT, E_DAILY_CAP, E_HOURLY_CAP})

# Device types (Appendix 1).
PV_INVERTER: Final = 1
METER: Final = 7
PLANT: Final = 11
ES_INVERTER: Final = 14
BATTERY: Final = 43
DEVICE_TYPES: Final = frozenset({PV_INVERTER, METER, PLANT, ES_INVERTER, BATTERY})
_PV_WEIGHT: Final = {PV_INVERTER: 0.4, ES_INVERTER: 0.6}

# Fault kinds accepted by SungrowSimulator.inject ("fail_code:<code>" is accepted as well).
FAULT_KINDS: Final = REPLACING_FAULTS | DATA_FAULTS | {"timeout", "fail_code:<code>"}
_POINT_ENDPOINTS: Final = frozenset({"getPVInverterRealTimeData", "getDeviceRealTimeData"})
_VALUE_FAULT_ENDPOINTS: Final = _POINT_ENDPOINTS | {HISTORY_ENDPOINT}
_IDENTITY_KEYS: Final = frozenset(
    {"ps_id", "ps_key", "uuid", "device_sn", "device_type", "fault_code", "device_time"}
)

_HTML_MAINTENANCE: Final = maintenance_page("iSolarCloud")

# ---------------------------------------------------------------------------------------------
# Data model: daily curves
# ---------------------------------------------------------------------------------------------

_PROFILE_ROUNDS: Final = 8  # battery days tried to settle on the cycle that repeats daily


# Plant names: "{n}" is the plant's number (the standalone server's --plant-name).
PLANT_NAME = "Plant {n}"


def _profile(pv_kwp: float, has_storage: bool) -> DayProfile:
    """The periodic daily profile of a plant (built once per PV size and storage flag)."""
    return day_profile(pv_kwp, has_storage, rounds=_PROFILE_ROUNDS)


@dataclass(frozen=True, slots=True)
class _Moment:
    """A data refresh time resolved to the plants' local day."""

    now: float
    day: int  # local day number since 1970-01-01
    minute: int
    frac: float  # fraction of the current minute already elapsed
    month_start: int  # local day number of the first day of the month
    year_start: int  # local day number of 1 January
    stamp: str  # yyyyMMddHHmmss, plant time
    iso: str  # yyyy-MM-dd'T'HH:mm:ssXXX, plant time


def _period(cum: tuple[float, ...], today: float, prior: int, days: int) -> float:
    """Energy since the start of a month or year (``days`` full days before today)."""
    return min(days, prior) * cum[MINUTES] + today if prior >= 0 else 0.0


def _s1(value: float) -> str:
    return str(round(value, 1) + 0.0)


def _s3(value: float) -> str:
    return str(round(value, 3) + 0.0)


_FREQUENCY: Final = tuple(_s3(50.0 + 0.02 * w) for w in WOBBLE)

# Point ids of getPVInverterRealTimeData (every key the vendor's sample answer carries).
_PV_POINT_IDS: Final = tuple(
    str(n)
    for n in (
        1, 2, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 43,
        45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 70, 71, 72, 73, 74, 75, 76, 77,
        78, 79, 80, 81, 82, 83, 84, 85, 87, 88, 92, 93, 96, 97, 98, 99, 100, 101, 102, 103,
        104, 105, 304, 313, 314, 315, 316, 317, 318, 319, 320, 321, 322, 323, 324, 325, 326,
        7708, 7710, 7712, 7714, 7716, 7718, 7720, 7722,
    )
)  # fmt: skip
_ES_POINT_IDS: Final = tuple(
    str(n)
    for n in (
        13003, 13011, 13028, 13029, 13034, 13035, 13112, 13116, 13119, 13121, 13122, 13125,
        13126, 13130, 13134, 13137, 13138, 13139, 13140, 13141, 13142, 13143, 13146, 13147,
        13148, 13149, 13150, 13170, 13171, 13174, 13176, 13199, 18065, 18066, 18067, 18068,
    )
)  # fmt: skip
_BATTERY_POINT_IDS: Final = tuple(
    str(n) for n in (58601, 58602, 58603, 58604, 58605, 58606, 58607, 58610, 58612)
)
_METER_POINT_IDS: Final = ("8018", "8030", "8031")
_PLANT_POINT_IDS: Final = tuple(
    str(n)
    for n in (
        83022, 83024, 83033, 83052, 83072, 83075, 83097, 83100, 83102, 83105, 83106, 83118,
        83124, 83129, 83252, 83322, 83323, 83324, 83325, 83326, 83327, 83328, 83549,
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _TypeSpec:
    type_name: str
    model: str
    model_id: int
    sn_prefix: str
    points: tuple[str, ...]


_SPECS: Final[dict[int, _TypeSpec]] = {
    PV_INVERTER: _TypeSpec("Inverter", "SG8.0RT", 3401, "A2", _PV_POINT_IDS),
    ES_INVERTER: _TypeSpec("Energy Storage System", "SH10RT", 3604, "A2", _ES_POINT_IDS),
    BATTERY: _TypeSpec("Battery", "SBR096", 4102, "S2", _BATTERY_POINT_IDS),
    METER: _TypeSpec("Meter", "DTSU666", 2101, "M2", _METER_POINT_IDS),
    PLANT: _TypeSpec("Plant", "", 0, "", _PLANT_POINT_IDS),
}

# ---------------------------------------------------------------------------------------------
# Data model: control parameters (Appendix 10)
# ---------------------------------------------------------------------------------------------

SET_CONFIGURE: Final = 0
SET_READBACK: Final = 2
MAX_TASK_PARAMS: Final = 10
MAX_EXPIRE: Final = 1800
# command_status of a task and of its parameters.
TASK_RUNNING: Final = 2
TASK_DONE: Final = 8
PARAM_PENDING: Final = 1
PARAM_EXECUTING: Final = 2
PARAM_SUCCESS: Final = 4
PARAM_FAILED: Final = 5
PARAM_TIMEOUT: Final = 6
# paramSetting check_result / dev_result_list code values.
CHECK_FAILED: Final = "0"
CHECK_OK: Final = "1"
CHECK_DUPLICATE: Final = "2"
CHECK_LIMIT: Final = "3"
CHECK_EMPTY: Final = "4"
CHECK_NO_DEVICE: Final = "5"
CHECK_NO_TEMPLATE: Final = "6"
CHECK_NO_AUTHORITY: Final = "6-1"
CHECK_OFFLINE: Final = "7"
CHECK_EXPIRE_RANGE: Final = "8"
CHECK_REPEATED: Final = "9"
CHECK_READBACK_SINGLE: Final = "11"
CHECK_MESSAGES: Final[dict[str, str]] = {
    CHECK_FAILED: "Verification failed and configuration could not be performed",
    CHECK_OK: "Task dispatch successful",
    CHECK_DUPLICATE: "Duplicate parameter configuration measuring point",
    CHECK_LIMIT: "Parameter limit exceeded",
    CHECK_EMPTY: "Parameter configuration measuring point ID or value empty",
    CHECK_NO_DEVICE: "Device does not exist",
    CHECK_NO_TEMPLATE: "Parameter configuration template not set",
    CHECK_NO_AUTHORITY: (
        "The device model doesn't support current param-setting code or user has no "
        "authority to this param-setting code"
    ),
    CHECK_OFFLINE: "Device offline",
    CHECK_EXPIRE_RANGE: "Timeout period exceeds range of [0-1800] seconds",
    CHECK_REPEATED: "Operation repeated",
    CHECK_READBACK_SINGLE: "Only single-device operations are supported for parameter readback",
}
# paramSettingCheck check_result values.
VERIFY_FAILED: Final = "0"
VERIFY_PASSED: Final = "1"
VERIFY_NO_DEVICE: Final = "5"
VERIFY_OFFLINE: Final = "6"

# Property points of a storage inverter: max. charging / discharging power upper limit (kW; the
# parameters 10091 / 10092 accept 10 .. limit * 100).
PROP_MAX_CHARGE: Final = "18290"
PROP_MAX_DISCHARGE: Final = "18291"
ES_RATED_W: Final = 10_000  # SH10RT


@dataclass(frozen=True, slots=True)
class _ParamDef:
    """A parameter of Appendix 10 as a storage inverter keeps it (raw = display / precision)."""

    code: int
    name: str
    precision: float
    unit: str
    default: int
    low: int = 0
    high: int = 0
    # Enumerations: (label, raw value); the range is then the set of values.
    choices: tuple[tuple[str, int], ...] = ()
    # The upper limit is a property point (value * 100), or the rated power.
    high_from: str | None = None


_ON_OFF: Final = (("Enable", 170), ("Disable", 85))
ES_PARAMS: Final[dict[int, _ParamDef]] = {
    p.code: p
    for p in (
        _ParamDef(10001, "SOC Upper Limit", 0.1, "%", 1000, 700, 1000),
        _ParamDef(10002, "SOC Lower Limit", 0.1, "%", 100, 0, 500),
        _ParamDef(
            10003,
            "Energy Management Mode",
            1,
            "",
            0,
            choices=(
                ("Self-consumption Mode", 0),
                ("Compulsory Mode", 2),
                ("External Energy Dispatch", 3),
                ("VPP Dispatch", 4),
            ),
        ),
        _ParamDef(
            10004,
            "Charging/Discharging Command",
            1,
            "",
            204,
            choices=(("Charging", 170), ("Discharging", 187), ("Stopped", 204)),
        ),
        _ParamDef(10005, "Charging/Discharging Power", 0.01, "kW", 100, 0, 500),
        _ParamDef(10012, "Feed-in Limitation", 1, "", 85, choices=_ON_OFF),
        _ParamDef(10013, "Feed-in Limitation Value", 1, "W", ES_RATED_W, 0, 0, high_from="rated"),
        _ParamDef(
            10091, "Max. Charging Power", 0.01, "kW", 500, 10, 1060, high_from=PROP_MAX_CHARGE
        ),
        _ParamDef(
            10092,
            "Max. Discharging Power",
            0.01,
            "kW",
            500,
            10,
            1060,
            high_from=PROP_MAX_DISCHARGE,
        ),
    )
}
P_FEED_IN_SWITCH: Final = 10012
P_FEED_IN_VALUE: Final = 10013
FEED_IN_ON: Final = 170


def _display(raw: int, precision: float) -> str:
    """A raw parameter value in display units, as readback answers it ("95", "6.6")."""
    value = round(raw * precision, 6)
    return str(int(value)) if value == int(value) else str(value)


@dataclass(slots=True, eq=False)
class _ParamTask:
    """A paramSetting task on one device."""

    task_id: int
    owner: str
    device: _Device
    set_type: int
    name: str
    params: list[tuple[int, int | None]]  # (param_code, raw value; None for a readback)
    created: float
    expire: float
    delay: float
    failing: frozenset[int]  # param codes that end with command_status 5
    frozen: bool  # the cloud never reports an outcome
    statuses: dict[int, int] | None = None  # final command_status per parameter
    returns: dict[int, str] = field(default_factory=dict)
    over: float | None = None


# ---------------------------------------------------------------------------------------------
# Data model: accounts, plants, devices, faults
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Account:
    username: str
    password: str
    user_id: int
    plants: dict[int, _Plant] = field(default_factory=dict)
    err_times: int = 0
    failed_total: int = 0
    locked_until: float = -math.inf
    admin_locked: bool = False


@dataclass(slots=True, eq=False)
class _Token:
    account: _Account
    expiry: float


@dataclass(slots=True, eq=False)
class _Plant:
    ps_id: int
    index: int
    owner: str
    capacity: float  # kWp
    latitude: float
    longitude: float
    install_day: int  # local day number of installation
    install_date: str
    comm_sn: str
    devices: list[_Device] = field(default_factory=list)
    profile: DayProfile = field(default_factory=lambda: _profile(0.0, False))

    @property
    def name(self) -> str:
        return PLANT_NAME.format(n=self.index + 1)


@dataclass(slots=True, eq=False)
class _Device:
    uuid: int
    type_id: int
    spec: _TypeSpec
    plant: _Plant
    ps_key: str
    sn: str | None
    name: str
    code: int
    seed: int
    offline_at: float | None = None
    share: float = 0.0  # share of the plant's PV (inverters) or battery flows (storage)
    hosts_house: bool = False  # the ES inverter that measures house load and grid
    # Storage inverters: control parameters (raw values) and property points (value, unit).
    params: dict[int, int] = field(default_factory=dict)
    properties: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _FaultRecord:
    fault_code: str
    plant: _Plant
    device: _Device
    type_code: int
    name: str
    desc: str
    fault_type: int
    level: int
    created: float
    closed: float | None = None


@dataclass(slots=True)
class _Call:
    """Per-request transport state."""

    name: str
    key: str | None = None  # the request's AES key when it was encrypted


def _short(path: str) -> str:
    """'/openapi/getDeviceList' and 'getDeviceList' both become 'getDeviceList'."""
    return path.removeprefix(API_PREFIX).strip("/")


def _csv_ints(value: Any) -> set[int] | None:
    """'1,2,3' (or a list) as a set of ints; None when absent, empty set when unparsable."""
    if value in (None, ""):
        return None
    parts = value if isinstance(value, list) else str(value).split(",")
    out = {n for p in parts if (n := as_int(p)) is not None}
    return out or set()


def _missing(value: Any) -> bool:
    return value is None or value in ("", [])


def _tz_label(offset_hours: float) -> str:
    sign = "+" if offset_hours >= 0 else "-"
    minutes = round(abs(offset_hours) * 60)
    hours, rest = divmod(minutes, 60)
    return f"GMT{sign}{hours}" + (f":{rest:02d}" if rest else "")


_RSA_KEYS: dict[int, RSA.RsaKey] = {}


def _rsa_key(bits: int) -> RSA.RsaKey:
    """One key pair per size and process, so many simulators do not each generate one."""
    key = _RSA_KEYS.get(bits)
    if key is None:
        key = _RSA_KEYS[bits] = RSA.generate(bits)
    return key


_Result = tuple[str, Any]
_Endpoint = Callable[[_Account, dict[str, Any], float], _Result]


class SungrowSimulator(Simulator[str]):
    """In-process iSolarCloud V1 OpenAPI server with test hooks; see the module docstring.

    Faults: ``path`` of ``inject`` is an endpoint name (``"getDeviceList"``, with or without
    the ``/openapi/`` prefix); without it any endpoint except ``login`` matches, and
    ``null_values`` / ``na_values`` then only the real-time point endpoints.
    ``fail_code:<code>`` answers the envelope with that result_code (encrypted when the
    request was) once the transport checks pass; the quota codes count as refusals.
    A ``timeout`` waits ``timeout_delay`` seconds and then answers normally. ``path=
    "timestamp"`` aims a replacing fault or a timeout at the ``GET /timestamp`` clock reading.
    """

    fault_exempt = "login"
    value_fault_names = _VALUE_FAULT_ENDPOINTS
    fault_html = _HTML_MAINTENANCE
    fault_json = '{"req_serial_num":"00","result_code":"1","result_data":{"pageList":['
    identity_keys = _IDENTITY_KEYS

    def __init__(
        self,
        *,
        plants: int = 1,
        username: str = "user@example.com",
        password: str = "secret",
        appkey: str = "APPKEY0123456789ABCDEF0123456789",
        access_key: str = "ACCESSKEY0123456789abcdef012345",
        require_encryption: bool = False,
        rsa_bits: int = 1024,
        clock: Callable[[], float] | None = None,
        hourly_cap: int | None = 2000,
        daily_cap: int | None = None,
        timeout_delay: float = 2.0,
        tz_offset_hours: float = 1.0,
        zone: tzinfo | None = None,
        task_delay: float = 0.0,
    ) -> None:
        super().__init__(clock, timeout_delay)
        self.appkey = appkey
        self.access_key = access_key
        self.require_encryption = require_encryption
        self.hourly_cap = hourly_cap
        self.daily_cap = daily_cap
        self.tz_offset_hours = tz_offset_hours
        # The plants' zone: a fixed offset, or a zone with daylight saving time (``zone``).
        self._tz: tzinfo = zone if zone is not None else timezone(timedelta(hours=tz_offset_hours))
        self._result_msg: str | None = None
        self.burst_limit: int | None = BURST_LIMIT  # None disables E901
        self.data_interval = 300.0  # cloud refresh period; 0 gives continuous values
        self.whitelist_blocked = False
        self.default_username = username
        self._private_key = _rsa_key(rsa_bits)
        der = self._private_key.publickey().export_key(format="DER")
        self.public_key_b64url: str = base64.urlsafe_b64encode(der).rstrip(b"=").decode()

        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _Token] = {}
        self._login_windows: dict[str, deque[float]] = {}
        self._burst: deque[float] = deque()
        self._quota = HourlyCalls()
        self._nonces: dict[str, float] = {}
        self._nonce_order: deque[tuple[float, str]] = deque()
        self._plants: dict[int, _Plant] = {}
        self._devices: dict[str, _Device] = {}
        self._devices_by_sn: dict[str, _Device] = {}
        self._faults_open: dict[str, _FaultRecord] = {}
        self._faults_closed: dict[str, _FaultRecord] = {}
        self._next_plant = 0
        self._next_uuid = 1_200_001
        self._next_user = 2_000_001
        self._moment_cache: tuple[float, _Moment] | None = None
        # Grid Control: tasks by id, the seconds a device takes to answer, the test hooks.
        self.task_delay = task_delay
        self._tasks: dict[int, _ParamTask] = {}
        self._next_task = 100_002_733
        self._control_denied: str | None = None
        self._fail_next: list[tuple[int, frozenset[int] | None]] = []
        self._freeze_next = 0
        self._endpoints: dict[str, _Endpoint] = {
            "getOpenApiCallInfo": self._ep_call_info,
            "getPowerStationList": self._ep_plant_list,
            "getPowerStationDetail": self._ep_plant_detail,
            "getDeviceList": self._ep_device_list,
            "getPVInverterRealTimeData": self._ep_pv_realtime,
            "getDeviceRealTimeData": self._ep_device_realtime,
            "getFaultAlarmInfo": self._ep_faults,
            "getDevPropertyPointValue": self._ep_property_points,
            "paramSettingCheck": self._ep_param_check,
            "paramSetting": self._ep_param_setting,
            "getParamSettingTask": self._ep_param_task,
            HISTORY_ENDPOINT: self._ep_minute_data,
        }
        self._builders: dict[int, Callable[[_Device, _Moment], dict[str, str | None]]] = {
            PV_INVERTER: self._pv_points,
            ES_INVERTER: self._es_points,
            BATTERY: self._battery_points,
            METER: self._meter_points,
            PLANT: self._plant_points,
        }
        self.add_account(username, password, plants=plants)

    # -- accounts & tokens --------------------------------------------------------------------

    def add_account(self, username: str, password: str, *, plants: int = 0) -> list[int]:
        """Create an account owning ``plants`` new plants; returns their ps_ids."""
        if username in self._accounts:
            raise ValueError(f"account {username!r} already exists")
        self._accounts[username] = _Account(username, password, self._next_user)
        self._next_user += 1
        return [self.add_plant(username=username) for _ in range(plants)]

    def set_password(self, username: str, password: str) -> None:
        """Change an account's password (issued tokens stay valid)."""
        self._account(username).password = password

    def admin_lock(self, username: str | None = None, locked: bool = True) -> None:
        """Lock the account by administrator: logins answer login_state "5"."""
        self._account(username).admin_locked = locked

    def failed_logins(self, username: str | None = None) -> int:
        """How many logins with a wrong password the account has seen."""
        return self._account(username).failed_total

    def expire_tokens(self) -> None:
        """Make every issued token expire now (their next use answers E900)."""
        for token in self._tokens.values():
            token.expiry = min(token.expiry, self._clock() - 1e-6)

    def live_token(self, username: str | None = None) -> str | None:
        """The account's newest token that has not expired."""
        account = self._account(username)
        now = self._clock()
        live = [t for t, v in self._tokens.items() if v.account is account and now < v.expiry]
        return live[-1] if live else None

    def reset_limits(self) -> None:
        """Forget quota counts, burst and login windows, nonces and lockouts."""
        self._quota.clear()
        self._burst.clear()
        self._login_windows.clear()
        self._nonces.clear()
        self._nonce_order.clear()
        for account in self._accounts.values():
            account.err_times = 0
            account.locked_until = -math.inf

    def _account(self, username: str | None) -> _Account:
        return self._accounts[username or self.default_username]

    def _issue(self, account: _Account, now: float) -> str:
        if len(self._tokens) > 1000:
            cutoff = now - TOKEN_KEEP
            self._tokens = {t: v for t, v in self._tokens.items() if v.expiry > cutoff}
        token = f"{account.user_id}_{secrets.token_hex(16)}"
        self._tokens[token] = _Token(account, now + TOKEN_TTL)
        return token

    # -- data model: plants and devices -------------------------------------------------------

    def add_plant(self, *, username: str | None = None, capacity_kwp: float | None = None) -> int:
        """Add a residential storage plant (PV inverter, ES inverter, battery, meter)."""
        account = self._account(username)
        index = self._next_plant
        self._next_plant += 1
        capacity = capacity_kwp if capacity_kwp is not None else 5.0 + (index * 7 % 21) * 0.5
        installed = datetime(2022, 3, 1, 10, 0, tzinfo=self._tz) + timedelta(days=index % 365)
        plant = _Plant(
            ps_id=1_000_001 + index,
            index=index,
            owner=account.username,
            capacity=capacity,
            latitude=round(52.0 + (index % 50) * 0.01, 6),
            longitude=round(5.0 + (index // 50 % 50) * 0.01, 6),
            install_day=installed.date().toordinal() - ORD_1970,
            install_date=installed.strftime("%Y-%m-%d %H:%M:%S"),
            comm_sn=f"B2{2_300_000_00 + index:09d}",
        )
        self._plants[plant.ps_id] = plant
        account.plants[plant.ps_id] = plant
        for type_id in (PLANT, PV_INVERTER, ES_INVERTER, BATTERY, METER):
            self._attach_device(plant, type_id)
        self._rebalance(plant)
        return plant.ps_id

    def remove_plant(self, ps_id: int) -> None:
        """Delete a plant with its devices and faults."""
        plant = self._plants.pop(ps_id)
        del self._accounts[plant.owner].plants[ps_id]
        for device in list(plant.devices):
            self._detach_device(device)

    def add_device(self, ps_id: int, device_type: int) -> str:
        """Add a device (type 1, 7, 14 or 43) to a plant; returns its ps_key."""
        if device_type not in DEVICE_TYPES or device_type == PLANT:
            raise ValueError(f"unsupported device type {device_type}")
        plant = self._plants[ps_id]
        device = self._attach_device(plant, device_type)
        self._rebalance(plant)
        return device.ps_key

    def remove_device(self, ps_key: str) -> None:
        device = self._devices[ps_key]
        if device.type_id == PLANT:
            raise ValueError("the plant pseudo-device cannot be removed")
        plant = device.plant
        plant.devices.remove(device)
        self._detach_device(device)
        self._rebalance(plant)

    def set_device_offline(self, ps_key: str, offline: bool = True) -> None:
        """An offline device reports dev_status 0, null points and a frozen device_time."""
        device = self._devices[ps_key]
        if offline and device.offline_at is None:
            device.offline_at = self._clock()
        elif not offline:
            device.offline_at = None

    def plant_ids(self, username: str | None = None) -> list[int]:
        return list(self._account(username).plants)

    def device_keys(self, ps_id: int, device_type: int | None = None) -> list[str]:
        """ps_keys of a plant's devices (the plant pseudo-device, type 11, included)."""
        devices = self._plants[ps_id].devices
        return [d.ps_key for d in devices if device_type is None or d.type_id == device_type]

    def device_sn(self, ps_key: str) -> str | None:
        return self._devices[ps_key].sn

    def device_uuid(self, ps_key: str) -> int:
        return self._devices[ps_key].uuid

    def _attach_device(self, plant: _Plant, type_id: int) -> _Device:
        spec = _SPECS[type_id]
        uuid = self._next_uuid
        self._next_uuid += 1
        same = sum(1 for d in plant.devices if d.type_id == type_id)
        if type_id == PLANT:
            ps_key, sn, name, code = f"{plant.ps_id}_{PLANT}_0_0", None, plant.name, 0
        else:
            code = same + 1
            ps_key = f"{plant.ps_id}_{type_id}_{code}_1"
            sn = f"{spec.sn_prefix}{uuid % 1_000_000_000:09d}"
            name = f"{spec.model}({plant.comm_sn})_{code:03d}"
        device = _Device(uuid, type_id, spec, plant, ps_key, sn, name, code, seed=uuid % 97)
        if type_id == ES_INVERTER:
            device.params = {c: p.default for c, p in ES_PARAMS.items()}
            device.properties = {PROP_MAX_CHARGE: ("6.6", "kW"), PROP_MAX_DISCHARGE: ("6.6", "kW")}
        plant.devices.append(device)
        self._devices[ps_key] = device
        if sn is not None:
            self._devices_by_sn[sn] = device
        return device

    def _detach_device(self, device: _Device) -> None:
        del self._devices[device.ps_key]
        if device.sn is not None:
            del self._devices_by_sn[device.sn]
        for store in (self._faults_open, self._faults_closed):
            for code in [c for c, f in store.items() if f.device is device]:
                del store[code]

    @staticmethod
    def _rebalance(plant: _Plant) -> None:
        """Split the plant's PV over its inverters and the battery flows over its storage."""
        inverters = [d for d in plant.devices if d.type_id in _PV_WEIGHT]
        hybrids = [d for d in plant.devices if d.type_id == ES_INVERTER]
        batteries = [d for d in plant.devices if d.type_id == BATTERY]
        weights = sum(_PV_WEIGHT[d.type_id] for d in inverters)
        for device in inverters:
            device.share = _PV_WEIGHT[device.type_id] / weights
        for device in batteries:
            device.share = 1.0 / len(batteries)
        for n, device in enumerate(hybrids):
            device.hosts_house = n == 0
        has_storage = bool(hybrids) and bool(batteries)
        plant.profile = _profile(round(plant.capacity * weights, 6), has_storage)

    # -- data model: faults -------------------------------------------------------------------

    def raise_fault(
        self,
        ps_id: int,
        *,
        ps_key: str | None = None,
        fault_name: str = "Grid power outage",
        fault_type_code: int = 60005,
        fault_type: int = 1,
        fault_level: int = 1,
        fault_desc: str = "",
        create_time: float | None = None,
    ) -> str:
        """Open a fault (type 1) or alarm/prompt/advice (2-4) on a device of a plant.

        Without ``ps_key`` the plant's first ES inverter (else its first device) carries it.
        Returns the fault's ``fault_code``.
        """
        if not 1 <= fault_type <= 4 or not 1 <= fault_level <= 4:
            raise ValueError("fault_type and fault_level must be 1..4")
        plant = self._plants[ps_id]
        if ps_key is not None:
            device = self._devices[ps_key]
        else:
            real = [d for d in plant.devices if d.type_id != PLANT]
            hybrids = [d for d in real if d.type_id == ES_INVERTER]
            device = (hybrids or real or plant.devices)[0]
        created = self._clock() if create_time is None else create_time
        month = datetime.fromtimestamp(created, self._tz).strftime("%Y%m")
        code = f"{fault_type_code}.{month}.{secrets.token_hex(7)[:13]}"
        self._faults_open[code] = _FaultRecord(
            code, plant, device, fault_type_code, fault_name, fault_desc, fault_type,
            fault_level, created,
        )  # fmt: skip
        return code

    def clear_fault(self, fault_code: str) -> None:
        """Close an open fault (it stays queryable with process_status 9)."""
        record = self._faults_open.pop(fault_code)
        record.closed = self._clock()
        self._faults_closed[fault_code] = record

    def _fault_status(self, devices: Iterable[_Device]) -> int:
        wanted = set(devices)
        status = 4
        for record in self._faults_open.values():
            if record.device in wanted:
                if record.fault_type == 1:
                    return 1
                status = 2
        return status

    # -- data model: control parameters --------------------------------------------------------

    def set_task_delay(self, seconds: float) -> None:
        """Seconds (simulator clock) a device takes to answer a parameter task."""
        self.task_delay = max(0.0, seconds)

    def fail_next_task(self, param_code: int | None = None, *, readback: bool = False) -> None:
        """The next write (or readback) task ends with command_status 5.

        Only ``param_code`` fails when given (the task's other parameters succeed); otherwise
        every parameter of the task fails. A failed parameter keeps its value.
        """
        codes = None if param_code is None else frozenset({param_code})
        self._fail_next.append((SET_READBACK if readback else SET_CONFIGURE, codes))

    def freeze_next_task(self) -> None:
        """The next task never reports an outcome (command_status stays 2)."""
        self._freeze_next += 1

    def deny_control(self, denied: bool = True, *, scope: str = "api") -> None:
        """Refuse control: ``api`` answers E900 (the app lacks the Grid Control API), ``params``
        answers code "6-1" for every device (the user has no authority over the parameters).
        """
        if scope not in ("api", "params"):
            raise ValueError("scope is 'api' or 'params'")
        self._control_denied = scope if denied else None

    def param_raw(self, ps_key: str, code: int) -> int:
        """A storage inverter's parameter as stored (units of its set_precision)."""
        self._settle_all(self._clock())
        return self._devices[ps_key].params[code]

    def param_value(self, ps_key: str, code: int) -> float:
        """A storage inverter's parameter in display units (%, kW, W, enumeration value)."""
        return round(self.param_raw(ps_key, code) * ES_PARAMS[code].precision, 6)

    def set_param(self, ps_key: str, code: int, raw: int) -> None:
        """Change a parameter as the installer's app would (raw units)."""
        self._devices[ps_key].params[code] = raw

    def set_property(self, ps_key: str, point: str, value: str | None, unit: str = "") -> None:
        """Set (or with None remove) a property point of a device."""
        properties = self._devices[ps_key].properties
        if value is None:
            properties.pop(point, None)
        else:
            properties[point] = (value, unit)

    def param_tasks(self, ps_key: str | None = None) -> list[dict[str, Any]]:
        """The parameter tasks received, oldest first (id, set_type, params, expire_second)."""
        return [
            {
                "task_id": t.task_id,
                "ps_key": t.device.ps_key,
                "set_type": t.set_type,
                "params": dict(t.params),
                "expire_second": t.expire,
            }
            for t in self._tasks.values()
            if ps_key is None or t.device.ps_key == ps_key
        ]

    def _settle(self, task: _ParamTask, now: float) -> None:
        """Finish a task whose time has come: store written values or read them back."""
        if task.statuses is not None or task.frozen:
            return
        if task.delay > task.expire:
            # The device does not answer within the task's life: every parameter times out.
            if now >= task.created + task.expire:
                task.statuses = dict.fromkeys((c for c, _ in task.params), PARAM_TIMEOUT)
                task.over = task.created + task.expire
            return
        if now < task.created + task.delay:
            return
        device = task.device
        statuses: dict[int, int] = {}
        for code, raw in task.params:
            if code in task.failing:
                statuses[code] = PARAM_FAILED
                continue
            statuses[code] = PARAM_SUCCESS
            if raw is None:
                task.returns[code] = _display(device.params[code], ES_PARAMS[code].precision)
            else:
                device.params[code] = raw
        task.statuses = statuses
        task.over = task.created + task.delay

    def _settle_all(self, now: float) -> None:
        for task in self._tasks.values():
            self._settle(task, now)

    def _busy(self, device: _Device, now: float) -> bool:
        """Whether a task still runs on the device (a frozen one until it expires)."""
        for task in self._tasks.values():
            if task.device is not device:
                continue
            self._settle(task, now)
            if task.statuses is None and (not task.frozen or now < task.created + task.expire):
                return True
        return False

    def _param_allowed(self, device: _Device, code: int, raw: int) -> bool:
        """The documented range (or values) of a parameter on this device."""
        pdef = ES_PARAMS[code]
        if pdef.choices:
            return raw in {value for _, value in pdef.choices}
        high = pdef.high
        if pdef.high_from == "rated":
            high = ES_RATED_W
        elif pdef.high_from is not None and pdef.high_from in device.properties:
            limit = float(device.properties[pdef.high_from][0])
            high = round(limit * 100)
        return pdef.low <= raw <= high

    # -- data model: measurements -------------------------------------------------------------

    def _moment(self, now: float) -> _Moment:
        now = refresh_time(now, self.data_interval)
        cached = self._moment_cache
        if cached is not None and cached[0] == now:
            return cached[1]
        day, _seconds, minute, frac = local_minute(now, self.offset_hours(now))
        today = date.fromordinal(ORD_1970 + day)
        stamp = datetime.fromtimestamp(now, self._tz)
        mo = _Moment(
            now=now,
            day=day,
            minute=minute,
            frac=frac,
            month_start=day - today.day + 1,
            year_start=day - today.timetuple().tm_yday + 1,
            stamp=stamp.strftime("%Y%m%d%H%M%S"),
            iso=stamp.isoformat(timespec="seconds"),
        )
        self._moment_cache = (now, mo)
        return mo

    def offset_hours(self, now: float) -> float:
        """The plants' UTC offset at ``now`` in hours (it changes with daylight saving time)."""
        offset = datetime.fromtimestamp(now, self._tz).utcoffset()
        return 0.0 if offset is None else offset.total_seconds() / 3600.0

    def house_load_w(self) -> float:
        """The true house consumption now, in W (the same profile for every plant)."""
        return LOAD[self._moment(self._clock()).minute] * 1000.0

    def raw_points(self, ps_key: str) -> dict[str, str | None]:
        """The point values (id without "p" -> string or None) the device reports now."""
        device = self._devices[ps_key]
        return self._points(device, self._moment(self._clock()))

    def raw_points_at(self, ps_key: str, moment: float) -> dict[str, str | None]:
        """The point values the device reported at ``moment`` (its refresh then)."""
        device = self._devices[ps_key]
        return self._builders[device.type_id](device, self._moment(moment))

    def _points(self, device: _Device, mo: _Moment) -> dict[str, str | None]:
        if device.offline_at is not None:
            return dict.fromkeys(device.spec.points)
        return self._builders[device.type_id](device, mo)

    def _device_time(self, device: _Device, mo: _Moment) -> str:
        if device.offline_at is not None:
            return self._moment(device.offline_at).stamp
        return mo.stamp

    @staticmethod
    def _wobble(device: _Device, mo: _Moment) -> int:
        return wobble_index(mo.minute, device.seed)

    def _pv_points(self, device: _Device, mo: _Moment) -> dict[str, str | None]:
        plant = device.plant
        prof = plant.profile
        m = mo.minute
        share = device.share
        prior = mo.day - plant.install_day
        sun = SUN[m]
        ac_w = prof.pv[m] * share * 1000.0
        today = energy_today(prof.cum_pv, prof.pv, mo, prior)
        wobble = self._wobble(device, mo)
        volts = PHASE_VOLTS[wobble]
        amps = ac_w / 3.0 / volts
        points: dict[str, str | None] = dict.fromkeys(_PV_POINT_IDS)
        points.update(
            {
                "1": _s1(today * share * 1000.0),
                "2": _s1(energy_lifetime(prof.cum_pv, today, prior) * share * 1000.0),
                "4": _s1(22.0 + 23.0 * sun),
                "14": _s1(ac_w / 0.97),
                "15": _s1(volts * 1.732),
                "16": _s1(volts * 1.731),
                "17": _s1(volts * 1.733),
                "18": _s1(volts),
                "19": _s1(volts + 0.4),
                "20": _s1(volts - 0.3),
                "21": _s3(amps),
                "22": _s3(amps),
                "23": _s3(amps),
                "24": _s1(ac_w),
                "25": "0.0",
                "26": "1.0" if ac_w > 0.0 else "0.0",
                "27": _FREQUENCY[wobble],
                "43": _s1(ac_w),
                "87": _s1(
                    _period(prof.cum_pv, today, prior, mo.day - mo.month_start) * share * 1000.0
                ),
                "88": _s1(
                    _period(prof.cum_pv, today, prior, mo.day - mo.year_start) * share * 1000.0
                ),
                "304": str(self._fault_status((device,))),
            }
        )
        dc_string_w = ac_w / 0.97 / 2.0
        for n, (u, i, su, si) in enumerate((("5", "6", "96", "70"), ("7", "8", "97", "71"))):
            string_volts = 340.0 + 60.0 * sun + n if sun > 0.0 else 0.0
            string_amps = dc_string_w / string_volts if string_volts else 0.0
            points[u] = points[su] = _s1(string_volts)
            points[i] = points[si] = _s3(string_amps)
        return points

    def _es_points(self, device: _Device, mo: _Moment) -> dict[str, str | None]:
        plant = device.plant
        prof = plant.profile
        m = mo.minute
        prior = mo.day - plant.install_day
        share = device.share
        house = 1.0 if device.hosts_house else 0.0
        pv_w = prof.pv[m] * share * 1000.0
        charge_w = prof.charge[m] * 1000.0
        discharge_w = prof.discharge[m] * 1000.0
        soc = self._soc(prof, mo)
        pv_today = energy_today(prof.cum_pv, prof.pv, mo, prior)
        pv_total = energy_lifetime(prof.cum_pv, pv_today, prior)
        series = {
            "charge": (prof.cum_charge, prof.charge),
            "discharge": (prof.cum_discharge, prof.discharge),
            "import": (prof.cum_import, prof.imported),
            "export": (prof.cum_export, prof.exported),
            "direct": (prof.cum_direct, prof.direct),
            "load": (LOAD_CUM, LOAD),
        }
        day_wh: dict[str, float] = {}
        total_wh: dict[str, float] = {}
        for key, (cum, rate) in series.items():
            today = energy_today(cum, rate, mo, prior)
            day_wh[key] = today * 1000.0
            total_wh[key] = energy_lifetime(cum, today, prior) * 1000.0
        battery_volts = 360.0 + 40.0 * soc
        battery_w = charge_w + discharge_w
        return {
            "13003": _s1(pv_w / 0.97),
            "13011": _s1(pv_w + discharge_w - charge_w),
            "13028": _s1(day_wh["charge"]),
            "13029": _s1(day_wh["discharge"]),
            "13034": _s1(total_wh["charge"]),
            "13035": _s1(total_wh["discharge"]),
            "13112": _s1(pv_today * share * 1000.0),
            "13134": _s1(pv_total * share * 1000.0),
            "13116": _s1(day_wh["direct"] * house),
            "13137": _s1(total_wh["direct"] * house),
            "13119": _s1(LOAD[m] * 1000.0 * house),
            "13121": _s1(prof.exported[m] * 1000.0 * house),
            "13149": _s1(prof.imported[m] * 1000.0 * house),
            "13122": _s1(day_wh["export"] * house),
            "13125": _s1(total_wh["export"] * house),
            "13147": _s1(day_wh["import"] * house),
            "13148": _s1(total_wh["import"] * house),
            "13199": _s1(day_wh["load"] * house),
            "13130": _s1(total_wh["load"] * house),
            "13126": _s1(charge_w),
            "13150": _s1(discharge_w),
            "13174": _s1(day_wh["charge"]),
            "13176": _s1(total_wh["charge"]),
            "13138": _s1(battery_volts),
            "13139": _s3(battery_w / battery_volts),
            "13140": _s1(prof.battery_kwh * 1000.0),
            "13141": _s3(soc),
            "13170": _s3(soc),
            "13142": "0.99",
            "13143": _s1(25.0 + 3.0 * battery_w / (BATTERY_MAX_KW * 1000.0)),
            "13146": "0",
            "13171": "0",
            "18065": "0.0",
            "18066": "0.0",
            "18067": "0.0",
            "18068": "0.0",
        }

    @staticmethod
    def _soc(prof: DayProfile, mo: _Moment) -> float:
        """State of charge (0..1) of the plant's storage."""
        if prof.battery_kwh <= 0.0:
            return BATTERY_FLOOR
        m = mo.minute
        stored = prof.soc[m] + (prof.charge[m] - prof.discharge[m]) * mo.frac / 60.0
        return stored / prof.battery_kwh

    def _battery_points(self, device: _Device, mo: _Moment) -> dict[str, str | None]:
        plant = device.plant
        prof = plant.profile
        m = mo.minute
        prior = mo.day - plant.install_day
        share = device.share
        soc = self._soc(prof, mo)
        power_w = (prof.charge[m] + prof.discharge[m]) * 1000.0 * share
        volts = 360.0 + 40.0 * soc
        charged = energy_today(prof.cum_charge, prof.charge, mo, prior)
        discharged = energy_today(prof.cum_discharge, prof.discharge, mo, prior)
        return {
            "58601": _s1(volts),
            "58602": _s3(power_w / volts),
            "58603": _s1(25.0 + 3.0 * power_w / (BATTERY_MAX_KW * 1000.0)),
            "58604": _s3(soc),
            "58605": "0.99",
            "58606": _s1(energy_lifetime(prof.cum_charge, charged, prior) * share * 1000.0),
            "58607": _s1(energy_lifetime(prof.cum_discharge, discharged, prior) * share * 1000.0),
            "58610": _s1(3300.0 + 100.0 * soc + 4.0),
            "58612": _s1(3300.0 + 100.0 * soc - 4.0),
        }

    def _meter_points(self, device: _Device, mo: _Moment) -> dict[str, str | None]:
        plant = device.plant
        prof = plant.profile
        m = mo.minute
        prior = mo.day - plant.install_day
        imported = energy_today(prof.cum_import, prof.imported, mo, prior)
        exported = energy_today(prof.cum_export, prof.exported, mo, prior)
        return {
            "8018": _s1((prof.imported[m] - prof.exported[m]) * 1000.0),
            "8030": _s1(energy_lifetime(prof.cum_import, imported, prior) * 1000.0),
            "8031": _s1(energy_lifetime(prof.cum_export, exported, prior) * 1000.0),
        }

    def _plant_points(self, device: _Device, mo: _Moment) -> dict[str, str | None]:
        plant = device.plant
        prof = plant.profile
        m = mo.minute
        prior = mo.day - plant.install_day
        values: dict[str, tuple[float, float]] = {}
        for key, cum, rate in (
            ("pv", prof.cum_pv, prof.pv),
            ("load", LOAD_CUM, LOAD),
            ("import", prof.cum_import, prof.imported),
            ("export", prof.cum_export, prof.exported),
            ("direct", prof.cum_direct, prof.direct),
            ("charge", prof.cum_charge, prof.charge),
            ("discharge", prof.cum_discharge, prof.discharge),
        ):
            today = energy_today(cum, rate, mo, prior)
            values[key] = (today * 1000.0, energy_lifetime(cum, today, prior) * 1000.0)
        soc = _s3(self._soc(prof, mo))
        grid_w = (prof.exported[m] - prof.imported[m]) * 1000.0
        return {
            "83022": _s1(values["pv"][0]),
            "83024": _s1(values["pv"][1]),
            "83033": _s1(prof.pv[m] * 1000.0),
            "83052": _s1(LOAD[m] * 1000.0),
            "83106": _s1(LOAD[m] * 1000.0),
            "83072": _s1(values["export"][0]),
            "83075": _s1(values["export"][1]),
            "83097": _s1(values["direct"][0]),
            "83100": _s1(values["direct"][1]),
            "83102": _s1(values["import"][0]),
            "83105": _s1(values["import"][1]),
            "83118": _s1(values["load"][0]),
            "83124": _s1(values["load"][1]),
            "83129": soc,
            "83252": soc,
            "83322": _s1(values["charge"][0]),
            "83323": _s1(values["discharge"][0]),
            "83324": _s1(values["charge"][1]),
            "83325": _s1(values["discharge"][1]),
            "83326": _s1((prof.charge[m] - prof.discharge[m]) * 1000.0),
            "83327": _s1(self._soc(prof, mo) * prof.battery_kwh * 1000.0),
            "83328": _s1(grid_w),
            "83549": _s1(grid_w),
        }

    # -- handlers: shared helpers -------------------------------------------------------------

    @staticmethod
    def _paging(body: dict[str, Any]) -> tuple[str, int, int]:
        """(code, curPage, size) with the documented checks."""
        raw_page, raw_size = body.get("curPage"), body.get("size")
        if _missing(raw_page) or _missing(raw_size):
            return C_MISSING, 0, 0
        page, size = as_int(raw_page), as_int(raw_size)
        if page is None or size is None or page < 1 or size < 1 or size > MAX_PAGE_SIZE:
            return C_INVALID, 0, 0
        return OK, page, size

    def _owned_plant(self, account: _Account, value: Any) -> _Plant | None:
        ps_id = as_int(value)
        return account.plants.get(ps_id) if ps_id is not None else None

    def _listing(self, device: _Device, firmware: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "ps_id": device.plant.ps_id,
            "ps_key": device.ps_key,
            "uuid": device.uuid,
            "type_name": device.spec.type_name,
            "factory_name": "SUNGROW",
            "device_model_code": device.spec.model or None,
            "device_model_id": device.spec.model_id or None,
            "device_name": device.name,
            "device_type": device.type_id,
            "device_code": device.code,
            "chnnl_id": 1 if device.type_id != PLANT else 0,
            "rel_state": 1,
            "device_sn": device.sn,
            "communication_dev_sn": device.plant.comm_sn,
            "dev_status": "0" if device.offline_at is not None else "1",
            "dev_fault_status": str(self._fault_status((device,))),
        }
        if firmware:
            model = device.spec.model or "PLANT"
            row["firmware_version_info"] = {
                "lcd_version": f"LCD_{model}_V11_V01_A",
                "mdsp_version": f"MDSP_{model}_V11_V01_A",
                "sdsp_version": None,
                "pvd_version": None,
                "cpld_version": None,
                "temp_version": None,
                "battery_version": f"BMS_{model}_V12" if device.type_id == BATTERY else None,
                "m_version": None,
                "system_version": None,
            }
        return row

    def _device_point(
        self, device: _Device, mo: _Moment, point_ids: Iterable[str] | None
    ) -> dict[str, Any]:
        values = self._points(device, mo)
        entry: dict[str, Any] = {
            "communication_dev_sn": device.plant.comm_sn,
            "device_name": device.name,
            "device_sn": device.sn,
            "device_time": self._device_time(device, mo),
            "dev_status": 0 if device.offline_at is not None else 1,
            "dev_fault_status": self._fault_status((device,)),
            "ps_id": str(device.plant.ps_id),
            "ps_key": device.ps_key,
            "uuid": str(device.uuid),
        }
        if point_ids is None:
            for point, value in values.items():
                entry["p" + point] = value
        else:
            for point in point_ids:
                entry["p" + point] = values.get(point)
        return entry

    def _plant_status(self, plant: _Plant) -> tuple[int, int, int, int]:
        """(ps_status, ps_fault_status, fault_count, alarm_count)."""
        real = [d for d in plant.devices if d.type_id != PLANT]
        online = 0 if real and all(d.offline_at is not None for d in real) else 1
        faults = alarms = 0
        for record in self._faults_open.values():
            if record.plant is plant:
                if record.fault_type == 1:
                    faults += 1
                else:
                    alarms += 1
        status = 1 if faults else 2 if alarms else 4
        return online, status, faults, alarms

    # -- handlers -----------------------------------------------------------------------------

    def _ep_call_info(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        quota = self._quota
        hour = quota.hour(now)
        first = hour - hour % 24
        cap = self.hourly_cap
        residue = []
        for h in range(24):
            used = quota.in_hour(first + h)
            left = "" if cap is None else str(max(0, cap - used))
            residue.append({"times": left, "hour": f"{h:02d}"})
        daily = self.daily_cap if self.daily_cap is not None else (cap or 0) * 24
        return OK, {
            "per_day_access_times_config": str(daily),
            "curr_hour_accessed_times": str(quota.in_hour(hour)),
            "today_accessed_times": str(quota.day_total(now)),
            "per_hour_access_times_config": [
                {"hour": str(h), "max_call_times": "" if cap is None else str(cap)}
                for h in range(24)
            ],
            "per_hour_residue_times": residue,
        }

    def _plant_row(self, plant: _Plant, mo: _Moment) -> dict[str, Any]:
        prof = plant.profile
        prior = mo.day - plant.install_day
        today = energy_today(prof.cum_pv, prof.pv, mo, prior)
        total = energy_lifetime(prof.cum_pv, today, prior)
        online, fault_status, faults, alarms = self._plant_status(plant)
        return {
            "ps_id": plant.ps_id,
            "ps_name": plant.name,
            "share_type": "0",
            "ps_type": 5,
            "valid_flag": 1,
            "install_date": plant.install_date,
            "ps_current_time_zone": _tz_label(self.offset_hours(mo.now)),
            "ps_location": f"{plant.index + 1} Solar Street, Sunville",
            "description": None,
            "longitude": plant.longitude,
            "latitude": plant.latitude,
            "fault_count": faults,
            "alarm_count": alarms,
            "ps_status": online,
            "ps_fault_status": fault_status,
            "build_status": 2,
            "connect_type": 2,
            "total_energy_update_time": mo.iso,
            "today_energy_update_time": mo.iso,
            "cur_power_update_time": mo.iso,
            "today_income_update_time": mo.iso,
            "total_income_update_time": mo.iso,
            "co2_reduce_update_time": mo.iso,
            "co2_reduce_total_update_time": mo.iso,
            "total_capacity_update_time": mo.iso,
            "equivalent_hour_update_time": mo.iso,
            "total_energy": {"unit": "kWh", "value": _s3(total)},
            "today_energy": {"unit": "kWh", "value": _s3(today)},
            "curr_power": {"unit": "kW", "value": _s3(prof.pv[mo.minute])},
            "today_income": {"unit": "EUR", "value": _s3(today * PRICE_PER_KWH)},
            "total_income": {"unit": "EUR", "value": _s3(total * PRICE_PER_KWH)},
            "co2_reduce": {"unit": "kilogram", "value": _s3(today * 0.997)},
            "co2_reduce_total": {"unit": "kilogram", "value": _s3(total * 0.997)},
            "total_capacity": {"unit": "kWp", "value": _s3(plant.capacity)},
            "equivalent_hour": {
                "unit": "hour",
                "value": _s3(today / plant.capacity if plant.capacity else 0.0),
            },
        }

    def _ep_plant_list(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        code, page, size = self._paging(body)
        if code != OK:
            return code, None
        ps_types = _csv_ints(body.get("ps_type"))
        valid = _csv_ints(body.get("valid_flag"))
        shares = _csv_ints(body.get("share_type"))
        name = body.get("ps_name") or ""
        plants = [
            p
            for p in account.plants.values()
            if (ps_types is None or 5 in ps_types)
            and (1 in valid if valid is not None else True)
            and (shares is None or 0 in shares)
            and (not isinstance(name, str) or name.lower() in p.name.lower())
        ]
        mo = self._moment(now)
        start = (page - 1) * size
        return OK, {
            "pageList": [self._plant_row(p, mo) for p in plants[start : start + size]],
            "rowCount": len(plants),
        }

    def _ep_plant_detail(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        raw = body.get("ps_id")
        if _missing(raw) and not _missing(body.get("ps_ids")):
            raw = str(body["ps_ids"]).split(",")[0]
        if _missing(raw):
            sn = body.get("sn")
            if _missing(sn):
                return C_MISSING, None
            plant = next((p for p in account.plants.values() if p.comm_sn == sn), None)
            if plant is None:
                device = self._devices_by_sn.get(str(sn))
                plant = device.plant if device and device.plant.owner == account.username else None
        else:
            plant = self._owned_plant(account, raw)
        if plant is None:
            return C_INVALID, None
        online, fault_status, faults, alarms = self._plant_status(plant)
        return OK, {
            "ps_name": plant.name,
            "ps_id": plant.ps_id,
            "ps_type": 5,
            "ps_type_name": "Residential Storage",
            "ps_key": f"{plant.ps_id}_{PLANT}_0_0",
            "ps_current_time_zone": _tz_label(self.offset_hours(now)),
            "ps_location": f"{plant.index + 1} Solar Street, Sunville",
            "longitude": plant.longitude,
            "latitude": plant.latitude,
            "design_capacity": round(plant.capacity * 1000.0, 1),
            "build_status": 2,
            "connect_type": 2,
            "install_date": plant.install_date,
            "user_moble_tel": None,
            "email": account.username if "@" in account.username else None,
            "description": None,
            "ps_price": _s3(PRICE_PER_KWH / 1000.0),
            "ps_price_kwh": _s3(PRICE_PER_KWH),
            "param_income_unit_name": "EUR",
            "share_type": "0",
            "share_user_type": None,
            "fault_count": faults,
            "alarm_count": alarms,
            "ps_status": online,
            "ps_fault_status": fault_status,
            "communication_dev_detail_list": [{"sn": plant.comm_sn, "is_enable": 1}],
        }

    def _ep_device_list(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        if _missing(body.get("ps_id")):
            return C_MISSING, None
        code, page, size = self._paging(body)
        if code != OK:
            return code, None
        plant = self._owned_plant(account, body["ps_id"])
        if plant is None:
            return C_INVALID, None
        types = _csv_ints(body.get("device_type_list"))
        virtual = str(body.get("is_virtual_unit") or "0") == "1"
        devices = [
            d
            for d in plant.devices
            if (types is None or d.type_id in types)
            and (d.type_id != PLANT or virtual or (types is not None and PLANT in types))
        ]
        firmware = str(body.get("is_get_firmware_version") or "0") == "1"
        start = (page - 1) * size
        return OK, {
            "pageList": [self._listing(d, firmware) for d in devices[start : start + size]],
            "rowCount": len(devices),
        }

    def _select_devices(
        self, account: _Account, body: dict[str, Any], limit: int
    ) -> tuple[str, list[_Device], list[str] | None, list[str] | None]:
        """(code, devices, fail_ps_key_list, fail_sn_list) from ps_key_list or sn_list."""
        keys, sns = body.get("ps_key_list"), body.get("sn_list")
        if _missing(keys) and _missing(sns):
            return C_MISSING, [], None, None
        by_key = not _missing(keys)
        items = keys if by_key else sns
        if not isinstance(items, list) or not all(isinstance(i, str | int) for i in items):
            return C_INVALID, [], None, None
        if len(items) > limit:
            return C_INVALID, [], None, None
        found: list[_Device] = []
        failed: list[str] = []
        for item in dict.fromkeys(str(i) for i in items):
            lookup = self._devices if by_key else self._devices_by_sn
            device = lookup.get(item)
            if device is None or device.plant.owner != account.username:
                failed.append(item)
            else:
                found.append(device)
        return OK, found, failed if by_key else None, None if by_key else failed

    def _ep_pv_realtime(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        code, devices, _, fail_sns = self._select_devices(account, body, MAX_PV_DEVICES)
        if code != OK:
            return code, None
        mo = self._moment(now)
        points = []
        for device in devices:
            if device.type_id != PV_INVERTER:
                if fail_sns is not None:
                    fail_sns.append(device.sn or "")
                continue
            points.append({"device_point": self._device_point(device, mo, None)})
        data: dict[str, Any] = {"device_point_list": points}
        if fail_sns is not None:
            data["fail_sn_list"] = fail_sns
        return OK, data

    def _ep_device_realtime(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        raw_type, raw_points = body.get("device_type"), body.get("point_id_list")
        if _missing(raw_type) or _missing(raw_points):
            return C_MISSING, None
        device_type = as_int(raw_type)
        if device_type is None or not isinstance(raw_points, list):
            return C_INVALID, None
        point_ids = list(dict.fromkeys(str(p).strip() for p in raw_points))
        if len(raw_points) > MAX_POINTS or not all(p.isdigit() for p in point_ids):
            return C_INVALID, None
        code, devices, fail_keys, fail_sns = self._select_devices(account, body, MAX_DEVICES)
        if code != OK:
            return code, None
        mo = self._moment(now)
        points = []
        for device in devices:
            if device.type_id != device_type:
                if fail_keys is not None:
                    fail_keys.append(device.ps_key)
                elif fail_sns is not None:
                    fail_sns.append(device.sn or "")
                continue
            points.append({"device_point": self._device_point(device, mo, point_ids)})
        data: dict[str, Any] = {"device_point_list": points}
        if fail_keys is not None:
            data["fail_ps_key_list"] = fail_keys
        if fail_sns is not None:
            data["fail_sn_list"] = fail_sns
        return OK, data

    def _stamp_time(self, value: Any) -> float | None:
        """``yyyyMMddHHmmss`` (string or number) in plant time; an hour the clocks repeat is
        read as its first pass and a skipped one moves forward, as java.time resolves them."""
        raw = str(value).strip() if isinstance(value, str | int) else ""
        if not _STAMP_RE.fullmatch(raw):
            return None
        try:
            naive = datetime.strptime(raw, "%Y%m%d%H%M%S")
        except ValueError:
            return None
        return naive.replace(tzinfo=self._tz).timestamp()

    def _local_stamp(self, moment: float) -> str:
        return datetime.fromtimestamp(moment, self._tz).strftime("%Y%m%d%H%M%S")

    def _ep_minute_data(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        """Point values every ``minute_interval`` minutes over at most 3 hours (document 2.7).

        Rows are the values the cloud held at each time (its 5-minute refreshes), so a daily
        counter's last row of a day is the last value the live endpoints showed that day.
        Nothing after ``now``, before the plant's installation or after a device went offline;
        points a device lacks are left out of its rows; ps_keys that are unknown or of another
        account are named in ``result_msg`` (``illegal_device_list:...``).
        """
        raw_points, keys = body.get("points"), body.get("ps_key_list")
        raw_start, raw_end = body.get("start_time_stamp"), body.get("end_time_stamp")
        if any(_missing(v) for v in (raw_points, keys, raw_start, raw_end)):
            return C_MISSING, None
        if not isinstance(raw_points, str) or not isinstance(keys, list):
            return C_INVALID, None
        points = [p.strip() for p in raw_points.split(",")]
        if len(points) > MAX_MINUTE_POINTS or not all(_POINT_RE.fullmatch(p) for p in points):
            return C_INVALID, None
        if len(keys) > MAX_MINUTE_DEVICES or not all(isinstance(k, str | int) for k in keys):
            return C_INVALID, None
        start, end = self._stamp_time(raw_start), self._stamp_time(raw_end)
        if start is None or end is None or end < start or end - start > MAX_MINUTE_SPAN:
            return C_INVALID, None
        raw_interval = body.get("minute_interval")
        interval = DEFAULT_MINUTE_INTERVAL if _missing(raw_interval) else as_int(raw_interval)
        if interval is None or not 1 <= interval <= 1440:
            return C_INVALID, None
        found: list[_Device] = []
        illegal: list[str] = []
        for key in dict.fromkeys(str(k) for k in keys):
            device = self._devices.get(key)
            if device is None or device.plant.owner != account.username:
                illegal.append(key)
            else:
                found.append(device)
        if len({d.type_id for d in found}) > 1:
            return C_INVALID, None
        step = interval * 60.0
        # The first time on the interval's grid of the local clock.
        local = start + self.offset_hours(start) * 3600.0
        first = start + (-local) % step
        data: dict[str, list[dict[str, Any]]] = {}
        for device in found:
            rows: list[dict[str, Any]] = []
            moment = first
            while moment <= min(end, now):
                mo = self._moment(moment)
                offline = device.offline_at is not None and moment >= device.offline_at
                if not offline and mo.day >= device.plant.install_day:
                    values = self._builders[device.type_id](device, mo)
                    row: dict[str, Any] = {
                        p: values[p[1:]] for p in points if values.get(p[1:]) is not None
                    }
                    if row:
                        row["time_stamp"] = self._local_stamp(moment)
                        rows.append(row)
                moment += step
            data[device.ps_key] = rows
        if illegal:
            self._result_msg = "illegal_device_list:" + ",".join(illegal)
        return OK, data

    def _parse_time(self, value: Any) -> float | None:
        for fmt in ("%Y%m%d%H%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S"):
            try:
                parsed = datetime.strptime(str(value).strip(), fmt)
            except ValueError:
                continue
            return parsed.replace(tzinfo=self._tz).timestamp()
        return None

    def _ep_faults(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        code, page, size = self._paging(body)
        if code != OK:
            return code, None
        status = str(body.get("process_status") or "8").strip()
        if status not in ("8", "9", "999"):
            return C_INVALID, None
        raw_start, raw_end = body.get("startTime"), body.get("endTime")
        start: float | None
        end: float | None
        if _missing(raw_start) and _missing(raw_end):
            local = datetime.fromtimestamp(now, self._tz)
            month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            start = month.timestamp()
            end = (month + timedelta(days=32)).replace(day=1).timestamp() - 1e-3
        else:
            start = -math.inf if _missing(raw_start) else self._parse_time(raw_start)
            end = math.inf if _missing(raw_end) else self._parse_time(raw_end)
            if start is None or end is None or start > end:
                return C_INVALID, None
            if status != "8" and not (math.isinf(start) or math.isinf(end)):
                first = datetime.fromtimestamp(start, self._tz)
                last = datetime.fromtimestamp(end, self._tz)
                if (first.year, first.month) != (last.year, last.month):
                    return C_INVALID, None
            end += 59.999  # minute resolution: the end minute is included
        types = _csv_ints(body.get("fault_type"))
        levels = _csv_ints(body.get("fault_level"))
        ps_id = as_int(body.get("ps_id")) if not _missing(body.get("ps_id")) else None
        ps_key = body.get("ps_key") or None
        fault_code = body.get("fault_code") or None
        fault_name = body.get("fault_name") or None
        records: list[_FaultRecord] = []
        if status in ("8", "999"):
            records += self._faults_open.values()
        if status in ("9", "999"):
            records += self._faults_closed.values()
        rows = [
            self._fault_row(r)
            for r in sorted(records, key=lambda r: (-r.created, r.fault_code))
            if r.plant.owner == account.username
            and start <= r.created <= end
            and (types is None or r.fault_type in types)
            and (levels is None or r.level in levels)
            and (ps_id is None or r.plant.ps_id == ps_id)
            and (ps_key is None or r.device.ps_key == ps_key)
            and (fault_code is None or r.fault_code == fault_code)
            and (not isinstance(fault_name, str) or fault_name.lower() in r.name.lower())
        ]
        first_row = (page - 1) * size
        return OK, {"pageList": rows[first_row : first_row + size], "rowCount": len(rows)}

    # -- handlers: control ---------------------------------------------------------------------

    def _device_by_uuid(self, account: _Account, value: Any) -> _Device | None:
        uuid = as_int(value)
        for device in self._devices.values():
            if device.uuid == uuid and device.plant.owner == account.username:
                return device
        return None

    @staticmethod
    def _uuid_list(value: Any) -> list[str]:
        """``uuid``: one id, or several separated by commas."""
        if value is None:
            return []
        parts = value if isinstance(value, list) else str(value).split(",")
        return [str(p).strip() for p in parts if str(p).strip()]

    def _ep_property_points(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        for key in ("ps_id", "device_type", "ps_key_list", "point_id_list"):
            if _missing(body.get(key)):
                return C_MISSING, None
        keys, points = body["ps_key_list"], body["point_id_list"]
        device_type = as_int(body["device_type"])
        if not isinstance(keys, list) or not isinstance(points, list) or device_type is None:
            return C_INVALID, None
        plant = self._owned_plant(account, body["ps_id"])
        if plant is None:
            return OK, {"code": "3", "property_point_value_list": []}
        rows = []
        for key in keys:
            device = self._devices.get(str(key))
            if device is None or device.plant is not plant or device.type_id != device_type:
                continue
            for point in points:
                found = device.properties.get(str(point))
                if found is not None:
                    rows.append(
                        {
                            "device_type": device.type_id,
                            "property_code": str(point),
                            "property_value": found[0],
                            "ps_key": device.ps_key,
                            "unit": found[1],
                            "uuid": str(device.uuid),
                        }
                    )
        return OK, {"code": "1" if rows else "4", "property_point_value_list": rows}

    def _ep_param_check(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        if self._control_denied == "api":
            return E_UNAUTHORIZED, None
        if _missing(body.get("set_type")) or _missing(body.get("uuid")):
            return C_MISSING, None
        set_type = as_int(body["set_type"])
        if set_type not in (SET_CONFIGURE, SET_READBACK):
            return C_INVALID, None
        uuids = self._uuid_list(body["uuid"])
        rows = []
        for raw in uuids:
            device = self._device_by_uuid(account, raw)
            if device is None:
                result, message = VERIFY_NO_DEVICE, "Device does not exist"
            elif device.offline_at is not None:
                result, message = VERIFY_OFFLINE, "Device offline"
            elif device.type_id != ES_INVERTER:
                result, message = VERIFY_FAILED, CHECK_MESSAGES[CHECK_NO_TEMPLATE]
            elif set_type == SET_READBACK and len(uuids) > 1:
                result, message = VERIFY_FAILED, CHECK_MESSAGES[CHECK_READBACK_SINGLE]
            else:
                result, message = VERIFY_PASSED, "Verification passed"
            rows.append({"uuid": raw, "check_result": int(result), "check_msg": message})
        failed = [r["check_result"] for r in rows if r["check_result"] != int(VERIFY_PASSED)]
        overall = failed[0] if failed else int(VERIFY_PASSED)
        return OK, {"check_result": overall, "dev_result_list": rows}

    def _device_refusal(
        self,
        device: _Device | None,
        set_type: int,
        params: list[tuple[int, int | None]],
        now: float,
    ) -> tuple[str, str] | None:
        """Why paramSetting refuses the task on this device: (code, msg), or None."""
        if device is None:
            return CHECK_NO_DEVICE, CHECK_MESSAGES[CHECK_NO_DEVICE]
        if device.offline_at is not None:
            return CHECK_OFFLINE, CHECK_MESSAGES[CHECK_OFFLINE]
        if device.type_id != ES_INVERTER:
            return CHECK_NO_TEMPLATE, CHECK_MESSAGES[CHECK_NO_TEMPLATE]
        if self._control_denied == "params" or any(c not in ES_PARAMS for c, _ in params):
            return CHECK_NO_AUTHORITY, CHECK_MESSAGES[CHECK_NO_AUTHORITY]
        if self._busy(device, now):
            return CHECK_REPEATED, CHECK_MESSAGES[CHECK_REPEATED]
        if set_type == SET_CONFIGURE:
            for code, raw in params:
                if raw is None or not self._param_allowed(device, code, raw):
                    return CHECK_LIMIT, f"{CHECK_MESSAGES[CHECK_LIMIT]}: {code}"
            written = dict(params)
            if P_FEED_IN_VALUE in written:
                switch = written.get(P_FEED_IN_SWITCH, device.params[P_FEED_IN_SWITCH])
                if switch != FEED_IN_ON:
                    return CHECK_FAILED, "Feed-in Limitation must be enabled"
        return None

    def _ep_param_setting(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        if self._control_denied == "api":
            return E_UNAUTHORIZED, None
        for key in ("set_type", "uuid", "task_name", "expire_second", "param_list"):
            if _missing(body.get(key)):
                return C_MISSING, None
        set_type, expire = as_int(body["set_type"]), as_int(body["expire_second"])
        items = body["param_list"]
        if set_type not in (SET_CONFIGURE, SET_READBACK) or expire is None:
            return C_INVALID, None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return C_INVALID, None
        if len(items) > MAX_TASK_PARAMS:
            return C_INVALID, None  # "Parameter:param_list is over 10"

        def refuse(code: str, rows: list[dict[str, Any]] | None = None) -> _Result:
            return OK, {"check_result": code, "dev_result_list": rows or []}

        if not 0 <= expire <= MAX_EXPIRE:
            return refuse(CHECK_EXPIRE_RANGE)
        params: list[tuple[int, int | None]] = []
        for item in items:
            code, value = as_int(item.get("param_code")), item.get("set_value")
            if code is None:
                return refuse(CHECK_EMPTY)
            if set_type == SET_READBACK:
                params.append((code, None))
                continue
            if value is None or str(value).strip() == "":
                return refuse(CHECK_EMPTY)
            params.append((code, as_int(str(value))))
        if len({c for c, _ in params}) != len(params):
            return refuse(CHECK_DUPLICATE)
        uuids = self._uuid_list(body["uuid"])
        if set_type == SET_READBACK and len(uuids) > 1:
            return refuse(CHECK_READBACK_SINGLE)
        name = str(body["task_name"])
        devices: list[_Device] = []
        rows: list[dict[str, Any]] = []
        failure: str | None = None
        for raw in uuids:
            device = self._device_by_uuid(account, raw)
            refusal = self._device_refusal(device, set_type, params, now)
            result, message = refusal or (CHECK_OK, CHECK_MESSAGES[CHECK_OK])
            rows.append(
                {"uuid": raw, "code": result, "msg": message, "task_id": None, "task_name": name}
            )
            if refusal is not None:
                failure = failure or result
            elif device is not None:
                devices.append(device)
        if failure is not None:
            # The overall result names the reason; a missing authority fails the verification.
            return refuse(CHECK_FAILED if failure == CHECK_NO_AUTHORITY else failure, rows)
        hook = next((h for h in self._fail_next if h[0] == set_type), None)
        if hook is not None:
            self._fail_next.remove(hook)
        frozen = self._freeze_next > 0
        self._freeze_next -= 1 if frozen else 0
        for row, device in zip(rows, devices, strict=True):
            codes = frozenset(c for c, _ in params)
            failing = frozenset() if hook is None else (hook[1] or codes) & codes
            task = _ParamTask(
                task_id=self._next_task,
                owner=account.username,
                device=device,
                set_type=set_type,
                name=name,
                params=list(params),
                created=now,
                expire=float(expire),
                delay=self.task_delay,
                failing=failing,
                frozen=frozen,
            )
            self._next_task += 1
            self._tasks[task.task_id] = task
            row["task_id"] = task.task_id
        return OK, {"check_result": CHECK_OK, "dev_result_list": rows}

    def _ep_param_task(self, account: _Account, body: dict[str, Any], now: float) -> _Result:
        if self._control_denied == "api":
            return E_UNAUTHORIZED, None
        if _missing(body.get("task_id")) or _missing(body.get("uuid")):
            return C_MISSING, None
        task = self._tasks.get(as_int(body["task_id"]) or -1)
        if task is None or task.owner != account.username:
            return C_INVALID, None
        if str(task.device.uuid) != str(body["uuid"]).strip():
            return C_INVALID, None
        self._settle(task, now)

        def stamp(value: float) -> tuple[str, str]:
            moment = datetime.fromtimestamp(value, self._tz)
            return moment.strftime("%Y-%m-%d %H:%M:%S"), moment.isoformat(timespec="seconds")

        created, created_zone = stamp(task.created)
        over, over_zone = stamp(task.over) if task.over is not None else ("", "")
        updated, updated_zone = stamp(task.over if task.over is not None else now)
        rows = []
        for code, raw in task.params:
            pdef = ES_PARAMS[code]
            if task.statuses is not None:
                status = task.statuses[code]
            else:
                status = PARAM_PENDING if now - task.created < 1.0 else PARAM_EXECUTING
            rows.append(
                {
                    "param_code": code,
                    "point_id": None,
                    "point_name": pdef.name,
                    "set_value": "" if raw is None else str(raw),
                    "return_value": task.returns.get(code, ""),
                    "set_precision": pdef.precision,
                    "unit": pdef.unit,
                    "set_val_name": "|".join(label for label, _ in pdef.choices),
                    "set_val_name_val": "|".join(str(value) for _, value in pdef.choices),
                    "command_status": status,
                    "create_time": created,
                    "create_time_zone": created_zone,
                    "update_time": updated,
                    "update_time_zone": updated_zone,
                }
            )
        return OK, {
            "task_id": task.task_id,
            "task_name": task.name,
            "command_status": TASK_DONE if task.statuses is not None else TASK_RUNNING,
            "create_time": created,
            "create_time_zone": created_zone,
            "over_time": over,
            "over_time_zone": over_zone,
            "param_list": rows,
        }

    def _fault_row(self, record: _FaultRecord) -> dict[str, Any]:
        def stamp(value: float | None) -> str:
            if value is None:
                return ""
            return datetime.fromtimestamp(value, self._tz).strftime("%Y-%m-%d %H:%M:%S")

        device = record.device
        return {
            "ps_id": record.plant.ps_id,
            "ps_key": device.ps_key,
            "fault_code": record.fault_code,
            "fault_type_code": record.type_code,
            "fault_type": record.fault_type,
            "fault_level": record.level,
            "process_status": 9 if record.closed is not None else 1,
            "fault_name": record.name,
            "fault_desc": record.desc,
            "type_name": device.spec.type_name,
            "ps_name": record.plant.name,
            "device_name": device.name,
            "device_model_code": device.spec.model or None,
            "uuid": device.uuid,
            "create_time": stamp(record.created),
            "over_time": stamp(record.closed),
        }

    def _login(self, body: dict[str, Any], now: float) -> _Result:
        username, password = body.get("user_account"), body.get("user_password")
        if _missing(username) or _missing(password):
            return C_MISSING, None
        account = self._accounts.get(str(username))
        nulls: dict[str, Any] = dict.fromkeys(
            ("token", "user_id", "user_name", "language", "user_account", "mobile_tel",
             "email", "err_times", "remain_times", "disable_time", "user_master_org_id",
             "user_master_org_name"),
        )  # fmt: skip
        if account is None:
            return OK, {**nulls, "login_state": "-1"}
        if account.admin_locked:
            return OK, {**nulls, "login_state": "5", "user_account": account.username}
        if now < account.locked_until:
            until = datetime.fromtimestamp(account.locked_until, self._tz)
            return OK, {
                **nulls,
                "login_state": "2",
                "user_account": account.username,
                "err_times": str(LOCKOUT_FAILURES),
                "remain_times": "0",
                "disable_time": until.strftime("%Y-%m-%d %H:%M:%S"),
            }
        if password != account.password:
            account.failed_total += 1
            account.err_times += 1
            if account.err_times >= LOCKOUT_FAILURES:
                account.err_times = 0
                account.locked_until = now + LOCKOUT_SECONDS
                return self._login(body, now)
            return OK, {
                **nulls,
                "login_state": "0",
                "user_account": account.username,
                "err_times": str(account.err_times),
                "remain_times": str(LOCKOUT_FAILURES - account.err_times),
            }
        account.err_times = 0
        self.logins += 1
        return OK, {
            "login_state": "1",
            "token": self._issue(account, now),
            "user_id": str(account.user_id),
            "user_name": account.username.partition("@")[0],
            "language": "_en_US",
            "user_account": account.username,
            "mobile_tel": None,
            "email": account.username if "@" in account.username else None,
            "err_times": "0",
            "remain_times": str(LOCKOUT_FAILURES),
            "disable_time": None,
            "user_master_org_id": str(account.user_id + 500_000),
            "user_master_org_name": f"{account.username} organisation",
        }

    # -- transport ----------------------------------------------------------------------------

    def _reply(self, call: _Call, code: str, data: Any = None) -> web.Response:
        envelope = {
            "req_serial_num": secrets.token_hex(16),
            "result_code": code,
            "result_msg": MESSAGES.get(code, "error") if code != OK else self._take_message(),
            "result_data": data,
        }
        if call.key is None or code in _PLAIN_CODES:
            return json_response(envelope)
        text = aes_encrypt_hex(call.key, orjson.dumps(envelope))
        return web.Response(text=text, content_type="application/json", charset="utf-8")

    def _take_message(self) -> str:
        """ "success", or the message an endpoint left for its successful answer."""
        message, self._result_msg = self._result_msg or "success", None
        return message

    def _refuse(self, call: _Call, code: str) -> web.Response:
        self.refusals[call.name] += 1
        return self._reply(call, code)

    def _unwrap_key(self, header: str) -> tuple[str | None, str]:
        try:
            key = rsa_decrypt_b64url(self._private_key, header.strip())
        except ValueError:
            return None, E_RSA
        if len(key) != 16:
            return None, E_KEY_LENGTH
        try:
            return key.decode("utf-8"), OK
        except UnicodeDecodeError:
            return None, E_RSA

    def _decode(self, call: _Call, raw: bytes, now: float) -> tuple[dict[str, Any] | None, str]:
        """The request body as a JSON object, decrypting and checking api_key_param."""
        if call.key is None:
            if raw.strip() and raw.lstrip()[:1] not in (b"{", b"[") and _HEX_RE.fullmatch(raw):
                return None, E_NO_SECRET_KEY
            if self.require_encryption:
                return None, E_NOT_ENCRYPTED
            if not raw.strip():
                return {}, OK
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return None, C_INVALID
            return (body, OK) if isinstance(body, dict) else (None, C_INVALID)
        try:
            plain = aes_decrypt_hex(call.key, raw.decode("ascii").strip())
            body = orjson.loads(plain)
        except ValueError:  # bad hex, length, padding, UTF-8 or JSON
            return None, E_AES
        if not isinstance(body, dict):
            return None, E_AES
        param = body.get("api_key_param")
        if not isinstance(param, dict):
            return None, E_NO_KEY_PARAM
        nonce = param.get("nonce")
        if not isinstance(nonce, str) or not _NONCE_RE.fullmatch(nonce):
            return None, E_NONCE
        stamp = as_int(param.get("timestamp"))
        if stamp is None or abs(stamp - now * 1000.0) > TIMESTAMP_SKEW_MS:
            return None, E_EXPIRED_REQUEST
        order = self._nonce_order
        while order and order[0][0] <= now - NONCE_TTL:
            _, old = order.popleft()
            if self._nonces.get(old, math.inf) <= now - NONCE_TTL:
                del self._nonces[old]
        if nonce in self._nonces:
            return None, E_REPEATED
        self._nonces[nonce] = now
        order.append((now, nonce))
        return body, OK

    def _quota_code(self, now: float) -> str | None:
        over = self._quota.over_cap(now, self.hourly_cap, self.daily_cap)
        return None if over is None else E_HOURLY_CAP if over == "hour" else E_DAILY_CAP

    def _burst_full(self, now: float) -> bool:
        if not self.burst_limit:
            return False
        return not take_slot(self._burst, now, BURST_WINDOW, self.burst_limit)

    def _login_full(self, username: Any, now: float) -> bool:
        key = username if isinstance(username, str) else ""
        window = self._login_windows.setdefault(key, deque())
        return not take_slot(window, now, LOGIN_WINDOW, LOGIN_LIMIT)

    async def _dispatch(self, request: web.Request, name: str) -> web.Response:
        now = self._clock()
        self._log(now, name)
        call = _Call(name)
        fault, now = await self._request_fault(name, now)
        if fault is not None and not fault.code:
            return self._fault_page(fault.kind)
        forced = fault.code if fault is not None else None
        raw = await request.read()
        secret = request.headers.get("x-random-secret-key")
        if secret is not None:
            call.key, code = self._unwrap_key(secret)
            if call.key is None:
                return self._reply(call, code)
        headers = request.headers
        if _missing(headers.get("sys_code")):
            return self._reply(call, C_NO_SYS_CODE)
        if headers["sys_code"].strip() != SYS_CODE:
            return self._reply(call, E_SYSTEM)
        if request.content_type != "application/json":
            return json_response(
                {
                    "timestamp": int(now * 1000),
                    "status": 415,
                    "error": "Unsupported Media Type",
                    "path": request.path,
                },
                status=415,
            )
        if _missing(headers.get("x-access-key")):
            return self._reply(call, E_NO_ACCESS_KEY)
        if headers["x-access-key"].strip() != self.access_key:
            return self._reply(call, E_ACCESS_KEY)
        if self.whitelist_blocked:
            return self._reply(call, E_IP_WHITELIST)
        if len(raw) > MAX_BODY_BYTES:
            return self._reply(call, E_BODY_TOO_LARGE)
        body, code = self._decode(call, raw, now)
        if body is None:
            return self._reply(call, code)
        if forced:
            if forced in _QUOTA_CODES:
                return self._refuse(call, forced)
            return self._reply(call, forced)
        appkey = body.get("appkey")
        if _missing(appkey):
            return self._reply(call, C_NO_APPKEY)
        if appkey != self.appkey:
            return self._reply(call, E_APPKEY)
        if self._burst_full(now):
            return self._refuse(call, E_TOO_FREQUENT)
        account: _Account | None = None
        if name != "login":
            token = body.get("token")
            if _missing(token):
                return self._reply(call, C_NO_TOKEN)
            entry = self._tokens.get(str(token))
            if entry is None:
                return self._reply(call, E_TOKEN_INVALID)
            if now >= entry.expiry:
                return self._reply(call, E_UNAUTHORIZED)
            account = entry.account
        quota = self._quota_code(now)
        if quota is not None:
            return self._refuse(call, quota)
        if name == "login" and self._login_full(body.get("user_account"), now):
            return self._refuse(call, E_LOGIN_FREQUENT)
        self._quota.count(now)
        self.calls[name] += 1
        if account is None:
            code, data = self._login(body, now)
        else:
            self._tokens[str(body["token"])].expiry = now + TOKEN_TTL
            code, data = self._endpoints[name](account, body, now)
        if code == OK:
            data = self._shaped(name, data)
        return self._reply(call, code, data)

    async def _fallback(self, request: web.Request) -> web.Response:
        if request.method == "POST" and request.path.startswith(API_PREFIX):
            name = _short(request.path)
            self._log(self._clock(), name)
            return self._reply(_Call(name), E_API_NOT_FOUND)
        if request.method == "GET" and request.path.rstrip("/") == "/timestamp":
            now = self._clock()
            self._log(now, "timestamp")
            # Replacing faults and timeouts injected with path="timestamp" apply here too.
            fault, now = await self._request_fault("timestamp", now)
            if fault is not None and not fault.code:
                return self._fault_page(fault.kind)
            return self._reply(_Call("timestamp"), OK, str(int(now * 1000)))
        return html_error(404)

    def make_app(self) -> web.Application:
        """A new aiohttp application serving this simulator's state."""
        app = web.Application(client_max_size=4 * MAX_BODY_BYTES)
        for name in ("login", *self._endpoints):
            app.router.add_post(API_PREFIX + name, self._handler(name))
        app.router.add_route("*", "/{tail:.*}", self._fallback)
        return app

    # -- faults -------------------------------------------------------------------------------

    def _fail_code(self, text: str) -> str:
        code = text.strip()
        if not code:
            raise ValueError("fail_code needs a code, e.g. fail_code:E900")
        return code

    def _fault_path(self, path: str) -> str:
        return _short(path)

    def _shape(self, data: Any, kind: str) -> Any:
        """Apply a data-shaping fault to a successful answer, building new objects."""
        if not isinstance(data, dict):
            return data
        keep = self.identity_keys.__contains__
        if isinstance(data.get("device_point_list"), list):
            shaped = []
            for item in data["device_point_list"]:
                point = item.get("device_point") if isinstance(item, dict) else None
                if not isinstance(point, dict):
                    shaped.append(item)
                    continue
                new = shape_record(point, kind, _not_a_point, self.na_filler)
                shaped.append({"device_point": new})
            return {**data, "device_point_list": shaped}
        if data and all(isinstance(v, list) for v in data.values()):
            # Minute data: {ps_key: [{p<id>: value, time_stamp}, ...]}
            return {
                key: [
                    shape_record(row, kind, _not_a_point, self.na_filler)
                    if isinstance(row, dict)
                    else row
                    for row in rows
                ]
                for key, rows in data.items()
            }
        if isinstance(data.get("pageList"), list):
            rows = [
                shape_record(row, kind, keep, self.na_filler) if isinstance(row, dict) else row
                for row in data["pageList"]
            ]
            return {**data, "pageList": rows}
        return shape_record(data, kind, keep, self.na_filler)


def _not_a_point(key: str) -> bool:
    """Keys of a device_point other than the point values (``p<id>``)."""
    return not key[1:].isdigit()


# ---------------------------------------------------------------------------------------------
# Standalone server
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = server_parser("Run the fake iSolarCloud V1 OpenAPI server.", port=8991)
    parser.add_argument("--username", default="user@example.com")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--appkey", default="APPKEY0123456789ABCDEF0123456789")
    parser.add_argument("--access-key", default="ACCESSKEY0123456789abcdef012345")
    parser.add_argument("--require-encryption", action="store_true")
    parser.add_argument("--hourly-cap", type=int, default=2000)
    parser.add_argument("--daily-cap", type=int, default=None)
    parser.add_argument("--tz-offset-hours", type=float, default=1.0)
    parser.add_argument("--task-delay", type=float, default=8.0)
    parser.add_argument("--plant-name", default="Plant {n}", help='plant names, "{n}" the number')
    args = parser.parse_args(argv)
    global PLANT_NAME  # noqa: PLW0603 - the standalone server names its plants once, at start
    PLANT_NAME = args.plant_name
    simulator = SungrowSimulator(
        plants=args.plants,
        username=args.username,
        password=args.password,
        appkey=args.appkey,
        access_key=args.access_key,
        require_encryption=args.require_encryption,
        hourly_cap=args.hourly_cap,
        daily_cap=args.daily_cap,
        tz_offset_hours=args.tz_offset_hours,
        task_delay=args.task_delay,
    )
    serve(
        simulator,
        args.host,
        args.port,
        f"iSolarCloud OpenAPI simulator: http://{args.host}:{args.port}\n"
        f"  user_account={args.username} user_password={args.password}\n"
        f"  appkey={args.appkey} x-access-key={args.access_key}\n"
        f"  RSA public key: {simulator.public_key_b64url}\n"
        f"  plants: {', '.join(str(p) for p in simulator.plant_ids())}\n",
    )


if __name__ == "__main__":
    main()
