"""Sungrow iSolarCloud OpenAPI (V1) client.

Protocol in short: every call is a POST to ``<gateway>/openapi/<name>`` with the headers
``sys_code: 901``, ``x-access-key`` and a JSON body carrying ``appkey``, ``token`` and ``lang``.
``/openapi/login`` with ``user_account`` and ``user_password`` returns a token that lasts 24 hours
and is extended by every call, so one login serves for as long as the integration keeps polling.

When the account's app has an RSA public key, every call is encrypted: a fresh 16-character AES
key per call travels RSA-encrypted in ``x-random-secret-key``, the body (with a fresh
``api_key_param`` nonce and timestamp) is AES-encrypted hex, and so is the reply; errors the
gateway cannot encrypt come back as plain JSON (see ``crypto``).

Replies share an envelope ``{req_serial_num, result_code ("1" = success), result_msg,
result_data}``; values come as strings in base units (W, Wh, V, A) with SOC and SOH as 0-1
fractions, and are converted to the metric vocabulary here.

Allowance: the app's plan caps calls per hour (2000 on the basic plan) and optionally per day;
``getOpenApiCallInfo`` tells the real caps and is read at set-up and hourly.

Controls use the Grid Control API on storage inverters (device type 14), addressed by device
``uuid``: ``paramSettingCheck`` tells which devices take parameters; ``paramSetting`` dispatches a
task of at most 10 parameters (``set_type`` 0 writes, 2 reads back one device) that the cloud
drops after ``expire_second``; ``getParamSettingTask`` reports it (``command_status`` 8 once done;
per parameter 4 success, 5 failure, 6 timeout). Written values are integers in units of the
parameter's ``set_precision`` (95 % with precision 0.1 is "950"), read-back values
(``return_value``) come in display units (%, kW, W); precision and unit are learned from every
task's reply. Control calls are ordinary calls: same session, encryption and hourly budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from Crypto.PublicKey.RSA import RsaKey

from .controls import (
    BATTERY_CHARGE_CUTOFF_SOC,
    BATTERY_DISCHARGE_CUTOFF_SOC,
    BATTERY_MAX_CHARGE_POWER,
    BATTERY_MAX_DISCHARGE_POWER,
    BATTERY_WORKING_MODE,
    FORCE_CHARGE,
    FORCE_DISCHARGE,
    GRID_EXPORT_LIMIT,
    STOP_FORCED_CHARGE,
    ControlKind,
    ControlSpec,
    ControlTask,
    ForceRequest,
    TaskState,
    TouWindow,
)
from .crypto import decrypt_response, encrypt_request, load_rsa_public_key
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
    energy_from_counter,
    offset_or_zone,
    utc_hour,
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
from .quota import Allowance, Clock, Quota, Session, Sleep, wall_clock
from .values import (
    DAY,
    HOUR,
    chunks,
    seconds_to_next_hour,
    split_power,
    text,
    to_float,
    to_int,
    total,
)

_LOGGER = logging.getLogger(__name__)

VENDOR: Final = "sungrow_isolarcloud"

# The gateways of the vendor document's appendix.
SERVERS: Final[dict[str, str]] = {
    "https://gateway.isolarcloud.eu": "Europe",
    "https://gateway.isolarcloud.com.hk": "International",
    "https://augateway.isolarcloud.com": "Australia",
    "https://gateway.isolarcloud.com": "China",
}

SYS_CODE: Final = "901"
TOKEN_LIFETIME: Final = DAY
TOKEN_MARGIN: Final = HOUR
# After a refused login the same credentials wait this long (accounts lock after wrong
# passwords).
LOGIN_BACKOFF: Final = 30 * 60.0
REQUEST_TIMEOUT = 30.0
REALTIME_PERIOD: Final = 300.0
ALARM_PERIOD: Final = 1800.0
ALARM_LOOKBACK: Final = timedelta(days=365)
# Plan until getOpenApiCallInfo tells the real caps.
DEFAULT_HOURLY_CAP: Final = 2000
# Share of the caps this integration allows itself (the rest is headroom for the user's
# other tools and for retries).
CAP_SHARE: Final = 0.9
PAGE_SIZE: Final = 100
MAX_KEYS: Final = 50
MAX_POINTS: Final = 100

E_LOGIN: Final = "login"
E_HOUR: Final = "calls per hour"
E_DAY: Final = "calls per day"
E_SECOND: Final = "calls per second"
# The gateway refuses bursts (E901 "call too frequently"): requests are paced to this many a
# second. None turns pacing off (tests whose clock is frozen).
CALLS_PER_SECOND: int | None = 5

# -- history (hourly energy) ---------------------------------------------------------------
#
# getDevicePointMinuteDataList (vendor document 2.7) reads points of up to 50 devices of one
# type, plants included as type 11 (ps_key ``<ps_id>_11_0_0``), over at most 3 hours in the
# plant's time zone (``yyyyMMddHHmmss``), fewer than 50 points a call, every ``minute_interval``
# minutes (5 by default: the cloud's refresh period). The plant's daily energy counters, read
# every 5 minutes, give each flow's energy per hour; the counter's last sample of the day is
# the last value the live sensors showed. A local day is 8 calls per 50 plants (9 on the day
# the clocks go back). The document says nothing of how long minute data is kept.
E_HISTORY: Final = "history"
HISTORY_ENDPOINT: Final = "getDevicePointMinuteDataList"
HISTORY_WINDOW: Final = timedelta(hours=3)
HISTORY_MAX_KEYS: Final = 50
HISTORY_INTERVAL: Final = 5  # minutes
# Calls one read of a day costs per batch at most (a 25-hour day takes nine windows).
HISTORY_CALLS_PER_READ: Final = 9
# The share of the hourly budget history may use when the live polls leave that much.
HISTORY_SHARE: Final = 0.25
# Undocumented retention: a safe depth (a read the cloud has nothing for costs 8 calls).
HISTORY_KEEPS_DAYS: Final = 90
HISTORY_SETTLE: Final = 3 * 3600.0
# Live calls an hour besides the real-time rounds: alarms (2) and the lists (plan()).
LIVE_EXTRA: Final = 4
# Plant daily counters (Wh) -> flow.
HISTORY_POINTS: Final[dict[str, Flow]] = {
    "83022": Flow.PV,
    "83102": Flow.GRID_IMPORT,
    "83072": Flow.GRID_EXPORT,
    "83322": Flow.BATTERY_CHARGE,
    "83323": Flow.BATTERY_DISCHARGE,
    "83118": Flow.LOAD,
}

T_PV_INVERTER: Final = 1
T_METER: Final = 7
T_PLANT: Final = 11
T_STORAGE: Final = 14
T_BATTERY: Final = 43

DEVICE_TYPES: Final[dict[int, DeviceKind]] = {
    T_PV_INVERTER: DeviceKind.INVERTER,
    T_STORAGE: DeviceKind.ENERGY_STORAGE,
    T_BATTERY: DeviceKind.BATTERY,
    T_METER: DeviceKind.GRID_METER,
}

_WH = 0.001  # Wh -> kWh
_FRACTION = 100.0  # 0-1 -> %

# point id -> (metric key, factor). Values arrive in W, Wh, V, A and 0-1 fractions.
STORAGE_POINTS: Final[dict[str, tuple[str, float]]] = {
    "13011": ("pv_power", 1.0),
    "13003": ("dc_power", 1.0),
    "13119": ("load_power", 1.0),
    "13141": ("battery_soc", _FRACTION),
    "13142": ("battery_soh", _FRACTION),
    "13143": ("battery_temperature", 1.0),
    "13138": ("battery_voltage", 1.0),
    "13139": ("battery_current", 1.0),
    "13028": ("battery_charge_energy_today", _WH),
    "13029": ("battery_discharge_energy_today", _WH),
    "13034": ("battery_charge_energy_total", _WH),
    "13035": ("battery_discharge_energy_total", _WH),
    "13122": ("grid_export_energy_today", _WH),
    "13125": ("grid_export_energy_total", _WH),
    "13147": ("grid_import_energy_today", _WH),
    "13148": ("grid_import_energy_total", _WH),
    "13112": ("energy_today", _WH),
    "13134": ("energy_total", _WH),
    "13199": ("load_energy_today", _WH),
    "13130": ("load_energy_total", _WH),
    "13116": ("self_consumption_energy_today", _WH),
    "13137": ("self_consumption_energy_total", _WH),
    "13174": ("battery_charge_from_pv_energy_today", _WH),
    "13176": ("battery_charge_from_pv_energy_total", _WH),
    "13140": ("battery_capacity", _WH),
    "18065": ("phase_a_backup_power", 1.0),
    "18066": ("phase_b_backup_power", 1.0),
    "18067": ("phase_c_backup_power", 1.0),
    "18068": ("backup_power", 1.0),
}
# Unsigned pairs, split into signed and unsigned keys below.
P_BATTERY_CHARGE: Final = "13126"
P_BATTERY_DISCHARGE: Final = "13150"
P_FEED_IN: Final = "13121"
P_PURCHASED: Final = "13149"
P_RUNNING_STATE: Final = "13146"

BATTERY_POINTS: Final[dict[str, tuple[str, float]]] = {
    "58601": ("battery_voltage", 1.0),
    "58602": ("battery_current", 1.0),
    "58603": ("battery_temperature", 1.0),
    "58604": ("battery_soc", _FRACTION),
    "58605": ("battery_soh", _FRACTION),
    "58606": ("battery_charge_energy_total", _WH),
    "58607": ("battery_discharge_energy_total", _WH),
    "58610": ("battery_max_cell_voltage", 0.001),
    "58612": ("battery_min_cell_voltage", 0.001),
}
METER_POINTS: Final[dict[str, tuple[str, float]]] = {
    "8030": ("grid_import_energy_total", _WH),
    "8031": ("grid_export_energy_total", _WH),
}
P_METER_POWER: Final = "8018"
PLANT_POINTS: Final[dict[str, tuple[str, float]]] = {
    "83033": ("pv_power", 1.0),
    "83106": ("load_power", 1.0),
    "83022": ("energy_today", _WH),
    "83024": ("energy_total", _WH),
    "83102": ("grid_import_energy_today", _WH),
    "83105": ("grid_import_energy_total", _WH),
    "83072": ("grid_export_energy_today", _WH),
    "83075": ("grid_export_energy_total", _WH),
    "83118": ("load_energy_today", _WH),
    "83124": ("load_energy_total", _WH),
    "83097": ("self_consumption_energy_today", _WH),
    "83100": ("self_consumption_energy_total", _WH),
    "83252": ("battery_soc", _FRACTION),
    "83322": ("battery_charge_energy_today", _WH),
    "83323": ("battery_discharge_energy_today", _WH),
    "83324": ("battery_charge_energy_total", _WH),
    "83325": ("battery_discharge_energy_total", _WH),
}
# getPVInverterRealTimeData answers with these named points.
PV_POINTS: Final[dict[str, tuple[str, float]]] = {
    "p24": ("pv_power", 1.0),
    "p14": ("dc_power", 1.0),
    "p1": ("energy_today", _WH),
    "p2": ("energy_total", _WH),
    "p15": ("line_ab_voltage", 1.0),
    "p16": ("line_bc_voltage", 1.0),
    "p17": ("line_ca_voltage", 1.0),
    "p18": ("phase_a_voltage", 1.0),
    "p19": ("phase_b_voltage", 1.0),
    "p20": ("phase_c_voltage", 1.0),
    "p21": ("phase_a_current", 1.0),
    "p22": ("phase_b_current", 1.0),
    "p23": ("phase_c_current", 1.0),
    "p27": ("grid_frequency", 1.0),
    "p4": ("temperature", 1.0),
}
# String inputs 1-10: (voltage point, current point).
PV_STRINGS: Final[tuple[tuple[str, str], ...]] = (
    ("p5", "p6"),
    ("p7", "p8"),
    ("p9", "p10"),
    ("p45", "p46"),
    ("p47", "p48"),
    ("p49", "p50"),
    ("p51", "p52"),
    ("p53", "p54"),
    ("p55", "p56"),
    ("p57", "p58"),
)
# Running state of an energy-storage inverter (point 13146).
RUNNING_STATES: Final[dict[int, str]] = {
    0: "running",
    2048: "forced",
    4096: "off_grid",
    16384: "external_dispatch",
    32768: "shutdown",
}
FAULT_LEVELS: Final[dict[int, AlarmSeverity]] = {
    1: AlarmSeverity.CRITICAL,
    2: AlarmSeverity.MAJOR,
    3: AlarmSeverity.MINOR,
    4: AlarmSeverity.WARNING,
}
DEVICE_FAULTS: Final[dict[int, str]] = {1: "fault", 2: "alarm", 4: "normal"}
FAULT_TYPES: Final[dict[int, str]] = {1: "fault", 2: "alarm", 3: "prompt", 4: "advice"}

# result_code -> class. Codes shown in the form (wrong appkey, access key) are AuthError.
_AUTH_CODES: Final = frozenset({"E00000", "E911", "E912", "E914", "E902"})
_PERMISSION_CODES: Final = frozenset({"E00001", "E918", "E919"})
_RELOGIN_CODES: Final = frozenset({"E00003", "E900"})
_HOURLY_CODES: Final = frozenset({"E999"})
_DAILY_CODES: Final = frozenset({"E998"})
_BUSY_CODES: Final = frozenset({"E901", "E903"})
_TRANSIENT_CODES: Final = frozenset({"-1", "000", "011"})


# -- controls (Grid Control API) ---------------------------------------------------------------

SET_CONFIGURE: Final = 0
SET_READBACK: Final = 2
# A task lives this long on the cloud (0-1800 s allowed); the client waits a margin longer
# before it calls the task timed out. Status is asked every 5 s, the vendor examples' pace.
EXPIRE_SECOND: Final = 120
TASK_POLL_INTERVAL: Final = 5.0
TASK_MARGIN: Final = 30.0
TASK_TIMEOUT: Final = EXPIRE_SECOND + TASK_MARGIN
MAX_TASK_PARAMS: Final = 10
TASK_DONE: Final = "8"
PARAM_SUCCESS: Final = "4"
PARAM_FAILED: Final = "5"
PARAM_TIMEOUT: Final = "6"
_PARAM_FINAL: Final = frozenset({PARAM_SUCCESS, PARAM_FAILED, PARAM_TIMEOUT})

# Parameter codes (Appendix 10 of the vendor document).
P_SOC_UPPER: Final = 10001
P_SOC_LOWER: Final = 10002
P_EMS_MODE: Final = 10003
P_COMMAND: Final = 10004
P_FORCE_POWER: Final = 10005
P_FEED_IN_SWITCH: Final = 10012
P_FEED_IN_VALUE: Final = 10013
P_MAX_CHARGE: Final = 10091
P_MAX_DISCHARGE: Final = 10092
# Property points: upper limits of 10091 / 10092 (getDevPropertyPointValue).
PROP_MAX_CHARGE: Final = "18290"
PROP_MAX_DISCHARGE: Final = "18291"

# Energy management mode (10003) options; 2 ("compulsory") is what a forced charge runs in.
MODES: Final[dict[str, int]] = {
    "self_consumption": 0,
    "forced": 2,
    "external_dispatch": 3,
    "vpp": 4,
}
MODE_SELF_CONSUMPTION: Final = 0
MODE_FORCED: Final = 2
CMD_CHARGE: Final = 170
CMD_DISCHARGE: Final = 187
CMD_STOP: Final = 204
FEED_IN_ON: Final = 170


@dataclass(frozen=True, slots=True)
class ParamFormat:
    """How a parameter is written (units of ``precision``) and read back (``unit``)."""

    precision: float
    unit: str


# Until a task's reply tells a device's own precision and unit: the vendor document's ranges
# (SOC limits 700-1000 = 70-100 %, max. charging power 10-1060 = 0.1-10.6 kW, feed-in value
# and charging power in W).
DEFAULT_FORMATS: Final[dict[int, ParamFormat]] = {
    P_SOC_UPPER: ParamFormat(0.1, "%"),
    P_SOC_LOWER: ParamFormat(0.1, "%"),
    P_EMS_MODE: ParamFormat(1.0, ""),
    P_COMMAND: ParamFormat(1.0, ""),
    P_FORCE_POWER: ParamFormat(1.0, "W"),
    P_FEED_IN_SWITCH: ParamFormat(1.0, ""),
    P_FEED_IN_VALUE: ParamFormat(1.0, "W"),
    P_MAX_CHARGE: ParamFormat(0.01, "kW"),
    P_MAX_DISCHARGE: ParamFormat(0.01, "kW"),
}
# Documented raw ranges.
_RAW_RANGES: Final[dict[int, tuple[int, int]]] = {
    P_SOC_UPPER: (700, 1000),
    P_SOC_LOWER: (0, 500),
    P_MAX_CHARGE: (10, 1060),
    P_MAX_DISCHARGE: (10, 1060),
}
_PARAM_NAMES: Final[dict[int, str]] = {
    P_SOC_UPPER: "SOC Upper Limit",
    P_SOC_LOWER: "SOC Lower Limit",
    P_EMS_MODE: "Energy Management Mode",
    P_COMMAND: "Charging/Discharging Command",
    P_FORCE_POWER: "Charging/Discharging Power",
    P_FEED_IN_SWITCH: "Feed-in Limitation",
    P_FEED_IN_VALUE: "Feed-in Limitation Value",
    P_MAX_CHARGE: "Max. Charging Power",
    P_MAX_DISCHARGE: "Max. Discharging Power",
}
# Control key -> the parameters it reads and writes.
CONTROL_PARAMS: Final[dict[str, tuple[int, ...]]] = {
    BATTERY_WORKING_MODE: (P_EMS_MODE,),
    BATTERY_CHARGE_CUTOFF_SOC: (P_SOC_UPPER,),
    BATTERY_DISCHARGE_CUTOFF_SOC: (P_SOC_LOWER,),
    BATTERY_MAX_CHARGE_POWER: (P_MAX_CHARGE,),
    BATTERY_MAX_DISCHARGE_POWER: (P_MAX_DISCHARGE,),
    GRID_EXPORT_LIMIT: (P_FEED_IN_SWITCH, P_FEED_IN_VALUE),
}
# paramSettingCheck check_result, and paramSetting check_result / per-device code.
_CHECK_REASONS: Final[dict[str, str]] = {
    "0": "verification failed",
    "5": "device does not exist",
    "6": "device offline",
}
_SETTING_REASONS: Final[dict[str, str]] = {
    "0": "verification failed",
    "2": "duplicate parameter",
    "3": "parameter limit exceeded",
    "4": "parameter or value empty",
    "5": "device does not exist",
    "6": "no parameter template for the device",
    "6-1": "the model does not support the parameter or the user has no authority over it",
    "7": "device offline",
    "8": "task timeout outside 0-1800 s",
    "9": "operation repeated: a task is still running",
    "11": "readback takes one device only",
    "12": "negative values not supported by the device",
}
# Rated AC power from the model name of a hybrid inverter: SH10RT, SH5.0RS, SH5K-20 ...
_RATED_RE: Final = re.compile(r"^SH(\d+(?:\.\d+)?)(?:K|RS|RT|T)", re.IGNORECASE)
_UNIT_FACTORS: Final[dict[str, float]] = {"w": 1.0, "kw": 1000.0, "mw": 1_000_000.0}


@dataclass(slots=True)
class _Pending:
    """What a write changes once its task succeeds."""

    device_id: str
    mode_after: int | None = None
    # The write chooses the working mode anew: forget the mode to restore after a force.
    ends_force: bool = False


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def account_id_for(server: str, username: str) -> str:
    """Unique id of an account: ``sungrow_isolarcloud:<host>:<username>``."""
    host = (urlsplit(server).hostname or server).lower()
    return f"{VENDOR}:{host}:{username.strip().lower()}"


def _fraction_or_percent(value: float | None, factor: float) -> float | None:
    """Scale a value; SOC and SOH come as 0-1 fractions and become percent."""
    return None if value is None else round(value * factor, 6)


def map_points(
    points: Mapping[str, object], table: Mapping[str, tuple[str, float]]
) -> dict[str, Reading]:
    """Convert the points of ``table`` found in a reply (``p<id>`` or bare ids)."""
    out: dict[str, Reading] = {}
    for point, (key, factor) in table.items():
        raw = points.get(point) if point.startswith("p") else points.get(f"p{point}")
        if raw is None and not point.startswith("p") and f"p{point}" not in points:
            continue
        out[key] = _fraction_or_percent(to_float(raw), factor)
    return out


def _point(points: Mapping[str, object], point: str) -> float | None:
    return to_float(points.get(f"p{point}"))


def map_storage(points: Mapping[str, object]) -> dict[str, Reading]:
    """Energy-storage inverter (device type 14)."""
    out = map_points(points, STORAGE_POINTS)
    charge = _point(points, P_BATTERY_CHARGE)
    discharge = _point(points, P_BATTERY_DISCHARGE)
    out.update(_pair(charge, discharge, "battery_charge_power", "battery_discharge_power"))
    out["battery_power"] = _signed(discharge, charge)
    feed_in = _point(points, P_FEED_IN)
    purchased = _point(points, P_PURCHASED)
    out.update(_pair(feed_in, purchased, "grid_export_power", "grid_import_power"))
    out["grid_power"] = _signed(purchased, feed_in)
    state = to_int(points.get(f"p{P_RUNNING_STATE}"))
    out["inverter_status"] = None if state is None else RUNNING_STATES.get(state, "unknown")
    return out


def _pair(
    first: float | None, second: float | None, first_key: str, second_key: str
) -> dict[str, Reading]:
    return {first_key: first, second_key: second}


def _signed(positive: float | None, negative: float | None) -> float | None:
    if positive is None or negative is None:
        return None
    return round(positive - negative, 3)


def map_meter(points: Mapping[str, object]) -> dict[str, Reading]:
    """Meter (device type 7): the active power is signed, positive while importing."""
    out = map_points(points, METER_POINTS)
    power = _point(points, P_METER_POWER)
    out["grid_power"] = power
    out.update(split_power(power, "grid_import_power", "grid_export_power"))
    return out


def map_pv_inverter(points: Mapping[str, object]) -> dict[str, Reading]:
    """PV inverter (device type 1) from getPVInverterRealTimeData."""
    out = map_points(points, PV_POINTS)
    for number, (volts, amps) in enumerate(PV_STRINGS, start=1):
        # Unused inputs come as null: no entities for strings that are not wired.
        if points.get(volts) is not None or points.get(amps) is not None:
            out[f"pv{number}_voltage"] = to_float(points.get(volts))
            out[f"pv{number}_current"] = to_float(points.get(amps))
    return out


def _naive_stamp(value: object) -> datetime | None:
    """``yyyyMMddHHmmss`` as a naive datetime, or None."""
    raw = text(value)
    if raw is None or len(raw) != 14 or not raw.isdigit():
        return None
    try:
        return datetime.strptime(raw, "%Y%m%d%H%M%S")
    except ValueError:
        return None


def parse_device_time(value: object, zone: timezone | None) -> datetime | None:
    """``yyyyMMddHHmmss`` in the plant's time zone."""
    naive = _naive_stamp(value)
    return None if naive is None else naive.replace(tzinfo=zone or UTC)


def parse_zone(value: object) -> timezone | None:
    """Plant time zones come as offsets such as ``GMT+8``, ``UTC+01:00`` or ``+0530``."""
    raw = (text(value) or "").upper().replace("GMT", "").replace("UTC", "").strip()
    if not raw:
        return None
    sign = -1 if raw.startswith("-") else 1
    digits = raw.lstrip("+-").replace(":", "")
    if not digits.isdigit():
        return None
    hours, minutes = (int(digits), 0) if len(digits) <= 2 else (int(digits[:-2]), int(digits[-2:]))
    if hours > 14 or minutes >= 60:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


class SungrowClient:
    """Client of one iSolarCloud account (V1 OpenAPI)."""

    vendor = VENDOR

    def __init__(
        self,
        session: aiohttp.ClientSession,
        server: str,
        app_key: str,
        access_key: str,
        username: str,
        password: str,
        *,
        rsa_public_key: str | None = None,
        quota: Quota | None = None,
        session_state: Session | None = None,
        clock: Clock | None = None,
        timeout: float | None = None,
        language: str = "_en_US",
        sleep: Sleep | None = None,
    ) -> None:
        self._session = session
        self._server = server.rstrip("/")
        self._app_key = app_key.strip()
        self._access_key = access_key.strip()
        self._username = username
        self._password = password
        self._public_key: RsaKey | None = (
            load_rsa_public_key(rsa_public_key) if rsa_public_key else None
        )
        self.quota = quota or Quota(clock=clock or wall_clock)
        self._clock: Clock = clock or self.quota.clock
        self._timeout = aiohttp.ClientTimeout(total=timeout or REQUEST_TIMEOUT)
        self.language = language
        self._sess = session_state or Session()
        self._digest = hashlib.sha256(f"{app_key}\0{username}\0{password}".encode()).hexdigest()
        self._zones: dict[str, timezone | None] = {}
        self._time_offset = 0.0
        self._caps_checked = 0.0
        self.hourly_cap = DEFAULT_HOURLY_CAP
        self.daily_cap: int | None = None
        self.logins = 0
        self.last_error: str | None = None
        self.errors: Counter[str] = Counter()
        self._set_caps(DEFAULT_HOURLY_CAP, None)
        self.quota.set_allowance(E_LOGIN, Allowance(5, 600.0))
        # Controls: waits between task polls, device uuids (by ps_key), the storage inverters
        # that passed the parameter check (by plant), what tasks taught about each parameter,
        # the working modes last known and those to restore after a force, pending writes.
        self._sleep: Sleep = sleep or _sleep
        self._uuids: dict[str, str] = {}
        self._control_devices: dict[str, list[str]] = {}
        self._formats: dict[tuple[str, int], ParamFormat] = {}
        self._modes: dict[str, int] = {}
        self._before_force: dict[str, int] = {}
        self._export_max: dict[str, float | None] = {}
        self._pending: dict[str, _Pending] = {}
        # History: calls an hour set aside for it (history_plan), a live round's calls (plan).
        self._history_hourly = 0
        self._live_round: int | None = None

    # -- identity -----------------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        """``sungrow_isolarcloud:<host>:<username>``."""
        return account_id_for(self._server, self._username)

    @property
    def encrypted(self) -> bool:
        """Whether calls are encrypted."""
        return self._public_key is not None

    # -- allowances ---------------------------------------------------------------------------

    def _set_caps(self, hourly: int, daily: int | None) -> None:
        self.hourly_cap, self.daily_cap = hourly, daily
        self.quota.set_allowance(E_HOUR, Allowance(max(1, int(hourly * CAP_SHARE)), HOUR))
        if daily:
            self.quota.set_allowance(E_DAY, Allowance(max(1, int(daily * CAP_SHARE)), DAY))
        if CALLS_PER_SECOND:
            self.quota.set_allowance(E_SECOND, Allowance(CALLS_PER_SECOND, 1.0))

    def calls_per_round(self, plants: Sequence[Plant], devices: Sequence[Device]) -> int:
        """Requests one real-time round sends."""
        counts = Counter(int(d.type_code) for d in devices)
        calls = math.ceil(len(plants) / MAX_KEYS)
        for type_id in (T_PV_INVERTER, T_STORAGE, T_BATTERY, T_METER):
            calls += math.ceil(counts.get(type_id, 0) / MAX_KEYS)
        return max(1, calls)

    def plan(self, plants: Sequence[Plant], devices: Sequence[Device]) -> PollPlan:
        """The poll rhythm that keeps a round every 5 minutes within the hourly cap.

        A round costs one call per 50 plants and per 50 devices of each polled type; alarms
        one call per page every 30 minutes; the lists every 6 hours.
        """
        per_round = self.calls_per_round(plants, devices)
        self._live_round = per_round
        # Alarms and lists, and the history share (history_plan) are set aside first.
        budget = max(1, int(self.hourly_cap * CAP_SHARE)) - LIVE_EXTRA - self._history_hourly
        rounds_per_hour = max(1, budget // per_round)
        realtime = max(REALTIME_PERIOD, HOUR / rounds_per_hour)
        return PollPlan(realtime=realtime, alarms=ALARM_PERIOD, devices=DAY / 4, plants=DAY / 4)

    # -- transport ----------------------------------------------------------------------------

    def _token_valid(self) -> bool:
        return self._sess.valid(self._clock())

    async def async_login(self) -> None:
        """Make sure a valid token exists; log in only when none does (single flight)."""
        if self._token_valid():
            return
        await self._sess.async_ensure(self._clock, self._digest, self._login, backoff=LOGIN_BACKOFF)

    async def _login(self) -> None:
        async with self.quota.slot(E_LOGIN):
            data = await self._request(
                "login",
                {"user_account": self._username, "user_password": self._password},
                token=None,
            )
        if not isinstance(data, Mapping):
            raise ProtocolError("login: no result", code="shape")
        state = text(data.get("login_state"))
        if state != "1":
            messages = {
                "-1": "the account does not exist",
                "0": "wrong password",
                "2": "the account is locked after wrong passwords",
                "5": "the account is locked by the administrator",
            }
            raise AuthError(
                f"login refused: {messages.get(state or '', 'unknown state')}",
                code=f"login_state_{state}",
            )
        token = text(data.get("token"))
        if not token:
            raise ProtocolError("login answered without a token", code="no_token")
        self.logins += 1
        self._sess.token = token
        self._sess.expires = self._clock() + TOKEN_LIFETIME - TOKEN_MARGIN
        _LOGGER.debug("Logged in to %s", self._server)

    def _headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json;charset=UTF-8",
            "sys_code": SYS_CODE,
            "x-access-key": self._access_key,
            "lang": self.language,
        }

    async def _request(
        self, name: str, body: Mapping[str, Any], *, token: str | None, history: bool = False
    ) -> Any:
        """One HTTP request through the hourly budget; returns ``result_data``.

        A ``history`` request takes the history share first and waits for no allowance: it
        raises ``RateLimitedError`` before anything is sent when one is used up.
        """
        payload: dict[str, Any] = {**body, "appkey": self._app_key, "lang": self.language}
        if token is not None:
            payload["token"] = token
        headers = self._headers()
        aes_key: str | None = None
        if self._public_key is not None:
            secret, data, aes_key = encrypt_request(
                self._public_key,
                payload,
                timestamp_ms=int((self._clock() + self._time_offset) * 1000),
            )
            headers["x-random-secret-key"] = secret
        else:
            data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        url = f"{self._server}/openapi/{name}"
        async with contextlib.AsyncExitStack() as slots:
            if history:
                self._history_room(1)
                await slots.enter_async_context(self.quota.slot(E_HISTORY, max_wait=0.0))
            await slots.enter_async_context(self.quota.slot(E_HOUR, max_wait=0.0))
            await slots.enter_async_context(
                self.quota.slot(E_SECOND, max_wait=0.0 if history else 5.0)
            )
            if self.daily_cap:
                # Counted against the day as well; the hour's slot holds the request.
                async with self.quota.slot(E_DAY, max_wait=0.0):
                    pass
            try:
                async with self._session.post(
                    url, data=data.encode(), headers=headers, timeout=self._timeout
                ) as response:
                    raw = await response.text()
                    status = response.status
            except TimeoutError as err:
                raise TransientError(f"{name}: no answer in time", code="timeout") from err
            except aiohttp.ClientError as err:
                raise TransientError(f"{name}: {type(err).__name__}", code="network") from err
        return self._decode(name, status, raw, aes_key)

    def _decode(self, name: str, status: int, raw: str, aes_key: str | None) -> Any:
        if status >= 500:
            raise TransientError(f"{name}: HTTP {status}", code=f"http_{status}")
        try:
            body = decrypt_response(aes_key, raw) if aes_key else json.loads(raw)
        except ValueError:
            _LOGGER.debug("%s: reply could not be read (HTTP %s): %.200s", name, status, raw)
            raise ProtocolError(f"{name}: reply is not JSON (HTTP {status})", code=status) from None
        if not isinstance(body, Mapping) or (status >= 400 and "result_code" not in body):
            raise ProtocolError(f"{name}: unexpected reply (HTTP {status})", code=status)
        code = text(body.get("result_code"))
        if code == "1":
            return body.get("result_data")
        message = text(body.get("result_msg"))
        raise self._error(name, code or "?", message)

    def _error(self, name: str, code: str, message: str | None) -> SolarCloudError:
        self.errors[code] += 1
        self.last_error = f"{name}: {code}"
        now = self._clock()
        if code in _RELOGIN_CODES:
            return _TokenRejectedError(code)
        if code in _AUTH_CODES:
            return AuthError(f"{name}: refused ({code})", code=code, vendor_message=message)
        if code in _PERMISSION_CODES:
            return PermissionDeniedError(
                f"{name}: not permitted ({code})", code=code, vendor_message=message
            )
        if code == "E916":
            self.quota.block(E_LOGIN, 600.0)
            return RateLimitedError(f"{name}: logging in too often", retry_after=600.0, code=code)
        if code in _HOURLY_CODES:
            retry = seconds_to_next_hour(now)
            self.quota.block(E_HOUR, retry)
            return RateLimitedError(
                f"{name}: hourly call cap reached", retry_after=retry, code=code
            )
        if code in _DAILY_CODES:
            # The period's cap: try again at the next hour, when the gateway may count anew.
            retry = seconds_to_next_hour(now)
            self.quota.block(E_HOUR, retry)
            return RateLimitedError(f"{name}: call cap reached", retry_after=retry, code=code)
        if code in _BUSY_CODES:
            retry = seconds_to_next_hour(now)
            self.quota.block(E_HOUR, retry)
            return RateLimitedError(
                f"{name}: too many calls ({code})", retry_after=retry, code=code
            )
        if code == "E913":
            return _ClockSkewError(code)
        if code in _TRANSIENT_CODES:
            return TransientError(f"{name}: cloud error ({code})", code=code)
        return ProtocolError(f"{name}: request refused ({code})", code=code)

    async def _call(
        self, name: str, body: Mapping[str, Any], *, control: bool = False, history: bool = False
    ) -> Any:
        """A business call; on a rejected token log in once and retry once.

        E900 right after a new login on a ``control`` call means the app is not entitled to the
        Grid Control API (the gateway answers so for interfaces outside the app's plan).
        """
        synced = False
        for attempt in (1, 2, 3):
            await self.async_login()
            token = self._sess.token
            try:
                data = await self._request(name, body, token=token, history=history)
            except _TokenRejectedError as err:
                self._sess.drop(token)
                if attempt >= 2 and control and err.code == "E900":
                    raise PermissionDeniedError(
                        f"{name}: the app may not use the Grid Control API ({err.code})",
                        code=err.code,
                    ) from err
                if attempt >= 2:
                    raise AuthError(
                        f"{name}: token refused again ({err.code})", code=err.code
                    ) from err
                continue
            except _ClockSkewError as err:
                if synced:
                    raise ProtocolError(f"{name}: clock still refused", code=err.code) from err
                synced = True
                await self._sync_time()
                continue
            if self._sess.token == token:
                self._sess.expires = self._clock() + TOKEN_LIFETIME - TOKEN_MARGIN
            return data
        raise ProtocolError(f"{name}: gave up", code="retries")  # pragma: no cover

    async def _sync_time(self) -> None:
        """E913: measure the gateway's clock (``GET /timestamp``) and send its time."""
        try:
            async with self._session.get(
                f"{self._server}/timestamp", timeout=self._timeout
            ) as response:
                raw = (await response.text()).strip()
        except (TimeoutError, aiohttp.ClientError) as err:
            raise TransientError("timestamp: no answer", code="timeout") from err
        value = to_float(raw)
        if value is None:
            try:
                value = to_float(json.loads(raw).get("result_data"))
            except (ValueError, AttributeError):
                value = None
        if value is None:
            raise ProtocolError("timestamp: unreadable", code="shape")
        self._time_offset = value / 1000.0 - self._clock()

    # -- quota --------------------------------------------------------------------------------

    async def async_check_caps(self) -> None:
        """Read the app's real hourly and daily caps (set-up, then at most hourly)."""
        if self._caps_checked and self._clock() - self._caps_checked < HOUR:
            return
        self._caps_checked = self._clock()
        try:
            data = await self._call("getOpenApiCallInfo", {})
        except AuthError:
            self._caps_checked = 0.0
            raise
        except SolarCloudError as err:
            # Not worth failing a poll over: keep the caps known so far, ask again in an hour.
            _LOGGER.debug("Call caps not read, keeping %s per hour: %s", self.hourly_cap, err)
            return
        if not isinstance(data, Mapping):
            return
        hourly = [
            to_int(item.get("max_call_times"))
            for item in data.get("per_hour_access_times_config") or []
            if isinstance(item, Mapping)
        ]
        caps = [c for c in hourly if c]
        daily = to_int(data.get("per_day_access_times_config"))
        self._set_caps(min(caps) if caps else self.hourly_cap, daily or None)

    # -- plants and devices -------------------------------------------------------------------

    async def async_get_plants(self) -> list[Plant]:
        """Every plant of the account (all pages)."""
        await self.async_check_caps()
        plants: list[Plant] = []
        page, seen = 1, 0
        while True:
            data = await self._call(
                "getPowerStationList", {"curPage": str(page), "size": str(PAGE_SIZE)}
            )
            if not isinstance(data, Mapping):
                raise ProtocolError("getPowerStationList: no result", code="shape")
            rows = [r for r in data.get("pageList") or [] if isinstance(r, Mapping)]
            for row in rows:
                ps_id = text(row.get("ps_id"))
                if ps_id is None:
                    continue
                zone = parse_zone(row.get("ps_current_time_zone"))
                self._zones[ps_id] = zone
                capacity = row.get("total_capacity")
                capacity_kw = None
                if isinstance(capacity, Mapping):
                    value = to_float(capacity.get("value"))
                    unit = (text(capacity.get("unit")) or "kW").lower()
                    factor = {"w": 0.001, "kw": 1.0, "kwp": 1.0, "mw": 1000.0, "mwp": 1000.0}
                    capacity_kw = None if value is None else value * factor.get(unit, 1.0)
                plants.append(
                    Plant(
                        id=ps_id,
                        name=text(row.get("ps_name")) or ps_id,
                        address=text(row.get("ps_location")),
                        latitude=to_float(row.get("latitude")),
                        longitude=to_float(row.get("longitude")),
                        capacity_kw=capacity_kw,
                        time_zone=text(row.get("ps_current_time_zone")),
                    )
                )
            seen += len(rows)
            if _last_page(data, rows, seen):
                return [await self._with_detail(plant) for plant in plants]
            page += 1

    async def _with_detail(self, plant: Plant) -> Plant:
        """Installed power and install date from getPowerStationDetail (the list lacks them)."""
        data = await self._call("getPowerStationDetail", {"ps_id": plant.id})
        if not isinstance(data, Mapping):
            return plant
        watts = to_float(data.get("design_capacity"))
        zone = self._zones.get(plant.id)
        installed = None
        if raw := text(data.get("install_date")):
            try:
                installed = datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone or UTC)
            except ValueError:
                installed = None
        return replace(
            plant,
            capacity_kw=plant.capacity_kw if watts is None else round(watts / 1000, 3),
            grid_connection_date=installed,
            address=plant.address or text(data.get("ps_location")),
        )

    async def async_get_devices(self, plants: Sequence[Plant]) -> list[Device]:
        """Every device of the given plants (one plant per call, all pages)."""
        devices: list[Device] = []
        for plant in plants:
            page, seen = 1, 0
            while True:
                data = await self._call(
                    "getDeviceList",
                    {
                        "ps_id": plant.id,
                        "curPage": str(page),
                        "size": str(PAGE_SIZE),
                        # The firmware versions become the device's software version.
                        "is_get_firmware_version": "1",
                    },
                )
                if not isinstance(data, Mapping):
                    raise ProtocolError("getDeviceList: no result", code="shape")
                rows = [r for r in data.get("pageList") or [] if isinstance(r, Mapping)]
                for row in rows:
                    if (device := self._device(plant.id, row)) is None:
                        continue
                    devices.append(device)
                    if uuid := text(row.get("uuid")):
                        self._uuids[device.id] = uuid
                seen += len(rows)
                if _last_page(data, rows, seen):
                    break
                page += 1
        return devices

    @staticmethod
    def _device(plant_id: str, row: Mapping[str, Any]) -> Device | None:
        ps_key = text(row.get("ps_key"))
        type_id = to_int(row.get("device_type"))
        if ps_key is None or type_id not in DEVICE_TYPES:
            return None
        versions = row.get("firmware_version_info")
        version = None
        if isinstance(versions, Mapping):
            version = text(versions.get("lcd_version")) or text(versions.get("m_version"))
        return Device(
            id=ps_key,
            plant_id=plant_id,
            name=text(row.get("device_name")) or ps_key,
            kind=DEVICE_TYPES[type_id],
            type_code=str(type_id),
            model=text(row.get("device_model_code")),
            serial_number=text(row.get("device_sn")),
            sw_version=version,
        )

    # -- real-time ----------------------------------------------------------------------------

    async def async_get_realtime(
        self, plants: Sequence[Plant], devices: Sequence[Device]
    ) -> dict[str, RealtimeData]:
        """Plant points (type 11), PV inverters, then each device type, 50 keys per call."""
        await self.async_check_caps()
        result: dict[str, RealtimeData] = {p.id: RealtimeData() for p in plants}
        zones = {p.id: parse_zone(p.time_zone) for p in plants}
        plant_keys = [f"{p.id}_{T_PLANT}_0_0" for p in plants]
        for batch in chunks(plant_keys, MAX_KEYS):
            for row in await self._points(T_PLANT, batch, PLANT_POINTS):
                plant_id = text(row.get("ps_id")) or (text(row.get("ps_key")) or "").split("_")[0]
                target = result.get(plant_id)
                if target is None:
                    continue
                target.plant = map_points(row, PLANT_POINTS)
                target.online = _online(row)
                target.plant["health_state"] = _health(row)
                target.data_time = parse_device_time(row.get("device_time"), zones.get(plant_id))
        by_type: dict[int, list[Device]] = {}
        for device in devices:
            if device.plant_id in result:
                by_type.setdefault(int(device.type_code), []).append(device)
        mappers = {T_STORAGE: map_storage, T_BATTERY: _battery, T_METER: map_meter}
        tables = {T_STORAGE: STORAGE_EXTRA, T_BATTERY: BATTERY_POINTS, T_METER: METER_EXTRA}
        for type_id, members in sorted(by_type.items()):
            by_key = {d.id: d for d in members}
            for batch in chunks(list(by_key), MAX_KEYS):
                if type_id == T_PV_INVERTER:
                    rows = await self._pv_inverters(batch)
                    mapper = map_pv_inverter
                else:
                    rows = await self._points(type_id, batch, tables[type_id])
                    mapper = mappers[type_id]
                for row in rows:
                    member = by_key.get(text(row.get("ps_key")) or "")
                    if member is None:
                        continue
                    values = mapper(row)
                    fault = to_int(row.get("dev_fault_status"))
                    if fault is not None:
                        values["fault_status"] = DEVICE_FAULTS.get(fault, "unknown")
                    result[member.plant_id].devices[member.id] = DeviceReadings(
                        values=values, online=_online(row)
                    )
        for realtime in result.values():
            _fill_plant_flows(realtime)
        return result

    async def _points(
        self, type_id: int, keys: Sequence[str], table: Mapping[str, tuple[str, float]]
    ) -> list[Mapping[str, Any]]:
        point_ids = [p for p in table if not p.startswith("p")][:MAX_POINTS]
        data = await self._call(
            "getDeviceRealTimeData",
            {"device_type": str(type_id), "ps_key_list": list(keys), "point_id_list": point_ids},
        )
        return _point_rows(data)

    async def _pv_inverters(self, keys: Sequence[str]) -> list[Mapping[str, Any]]:
        data = await self._call("getPVInverterRealTimeData", {"ps_key_list": list(keys)})
        return _point_rows(data)

    # -- alarms -------------------------------------------------------------------------------

    async def async_get_alarms(self, plants: Sequence[Plant]) -> dict[str, list[Alarm]]:
        """Open faults and alarms of the account (all pages)."""
        result: dict[str, list[Alarm]] = {p.id: [] for p in plants}
        zones = {p.id: parse_zone(p.time_zone) for p in plants}
        # Without a period the gateway answers for the current month only; an open fault can
        # be older. The times are read in the plants' zone, so the period reaches a day past
        # now in UTC to cover any zone.
        now = datetime.fromtimestamp(self._clock(), UTC)
        period = {
            "startTime": (now - ALARM_LOOKBACK).strftime("%Y%m%d%H%M"),
            "endTime": (now + timedelta(days=1)).strftime("%Y%m%d%H%M"),
        }
        page, seen = 1, 0
        while True:
            data = await self._call(
                "getFaultAlarmInfo", {"curPage": page, "size": PAGE_SIZE, **period}
            )
            if not isinstance(data, Mapping):
                raise ProtocolError("getFaultAlarmInfo: no result", code="shape")
            rows = [r for r in data.get("pageList") or [] if isinstance(r, Mapping)]
            for row in rows:
                alarm = self._alarm(row, zones)
                if alarm is not None and alarm.plant_id in result:
                    result[alarm.plant_id].append(alarm)
            seen += len(rows)
            if _last_page(data, rows, seen):
                return result
            page += 1

    def _alarm(self, row: Mapping[str, Any], zones: Mapping[str, timezone | None]) -> Alarm | None:
        plant_id = text(row.get("ps_id"))
        if plant_id is None:
            return None
        status = to_int(row.get("process_status"))
        if status is not None and status in (4, 9):  # resolved or closed
            return None
        level = to_int(row.get("fault_level"))
        kind = to_int(row.get("fault_type"))
        raised = None
        created = text(row.get("create_time"))
        if created:
            try:
                raised = datetime.strptime(created, "%Y-%m-%d %H:%M:%S").replace(
                    tzinfo=zones.get(plant_id) or UTC
                )
            except ValueError:
                raised = None
        code = text(row.get("fault_code")) or "?"
        return Alarm(
            id=f"{code}:{text(row.get('ps_key')) or ''}:{created or ''}",
            plant_id=plant_id,
            name=text(row.get("fault_name")) or f"Fault {code}",
            severity=None if level is None else FAULT_LEVELS.get(level),
            raised_at=raised,
            cause=text(row.get("fault_desc")),
            device_name=text(row.get("device_name")),
            device_id=text(row.get("ps_key")),
            category=None if kind is None else FAULT_TYPES.get(kind),
        )

    # -- controls -----------------------------------------------------------------------------

    # The cloud has no duration or target SOC for a forced charge: the caller ends it.
    force_limits_native: bool = False

    async def async_get_controls(
        self, plant: Plant, devices: Sequence[Device]
    ) -> tuple[list[ControlSpec], dict[str, str]]:
        """Controls of the plant's storage inverters that pass ``paramSettingCheck``."""
        reasons: dict[str, str] = {}
        mine = [d for d in devices if d.plant_id == plant.id]
        storage = [d for d in mine if d.type_code == str(T_STORAGE)]
        for device in mine:
            if device.type_code == str(T_BATTERY):
                reasons[device.id] = "battery settings are made on its storage inverter"
            elif device not in storage:
                reasons[device.id] = "no battery controls on this device type"
        self._control_devices[plant.id] = []
        if not storage:
            reasons.update(dict.fromkeys(CONTROL_PARAMS, "no storage inverter in this plant"))
            return [], reasons
        if any(d.id not in self._uuids for d in storage):
            await self.async_get_devices([plant])
        known = [d for d in storage if d.id in self._uuids]
        for device in storage:
            if device not in known:
                reasons[device.id] = "the cloud lists no uuid for this device"
        if not known:
            return [], reasons
        data = await self._call(
            "paramSettingCheck",
            {"set_type": SET_CONFIGURE, "uuid": ",".join(self._uuids[d.id] for d in known)},
            control=True,
        )
        if not isinstance(data, Mapping):
            raise ProtocolError("paramSettingCheck: no result", code="shape")
        overall = text(data.get("check_result")) or "?"
        verdicts = {
            text(row.get("uuid")) or "": (text(row.get("check_result")) or "?", row)
            for row in _rows(data.get("dev_result_list"))
        }
        passed: list[Device] = []
        for device in known:
            code, row = verdicts.get(self._uuids[device.id], (overall, {}))
            if code == "1":
                passed.append(device)
                continue
            message = text(row.get("check_msg"))
            reason = _CHECK_REASONS.get(code, "parameter check refused")
            reasons[device.id] = f"{reason} ({code})" + (f": {message}" if message else "")
        if not passed:
            return [], reasons
        limits = await self._power_limits(plant, passed)
        specs: list[ControlSpec] = []
        for device in passed:
            rated = _rated_power(device.model)
            if rated is None and plant.capacity_kw:
                rated = round(plant.capacity_kw * 1000.0, 3)
            self._export_max[device.id] = rated
            specs.extend(_device_specs(device.id, limits.get(device.id, {}), rated))
        self._control_devices[plant.id] = [d.id for d in passed]
        return specs, reasons

    async def _power_limits(
        self, plant: Plant, devices: Sequence[Device]
    ) -> dict[str, dict[str, float]]:
        """Max. charging / discharging power limits (W) of storage inverters, where known."""
        try:
            data = await self._call(
                "getDevPropertyPointValue",
                {
                    "ps_id": plant.id,
                    "device_type": str(T_STORAGE),
                    "ps_key_list": [d.id for d in devices],
                    "point_id_list": [PROP_MAX_CHARGE, PROP_MAX_DISCHARGE],
                },
            )
        except (ProtocolError, TransientError) as err:
            _LOGGER.debug("Power limits of plant %s not read: %s", plant.id, err)
            return {}
        if not isinstance(data, Mapping) or text(data.get("code")) not in (None, "1"):
            return {}
        limits: dict[str, dict[str, float]] = {}
        for row in _rows(data.get("property_point_value_list")):
            key, point = text(row.get("ps_key")), text(row.get("property_code"))
            value = to_float(row.get("property_value"))
            if key is None or point is None or value is None or value <= 0:
                continue
            # The limit is documented as "limit * 100" in 0.01 kW: kW unless the unit says.
            unit = text(row.get("unit")) or "kW"
            limits.setdefault(key, {})[point] = value * _UNIT_FACTORS.get(unit.lower(), 1000.0)
        return limits

    def can_force(self, plant: Plant, devices: Sequence[Device]) -> bool:
        """Whether a storage inverter of the plant passed the parameter check."""
        return bool(self._control_devices.get(plant.id))

    def can_set_time_of_use(self, plant: Plant) -> bool:
        """The time-of-use parameters are not among the documented settings offered."""
        return False

    async def async_set_time_of_use(
        self, plant: Plant, windows: Sequence[TouWindow]
    ) -> ControlTask:
        """Not offered (see ``can_set_time_of_use``)."""
        raise CommandRejectedError(
            "iSolarCloud time-of-use windows are not offered", code="unsupported"
        )

    async def async_read_controls(
        self, plant: Plant, specs: Sequence[ControlSpec]
    ) -> dict[tuple[str, str], Reading]:
        """Read the values back from the devices (``set_type`` 2, one task per device).

        A device whose readback is refused or not answered reads as unknown.
        """
        by_device: dict[str, list[ControlSpec]] = {}
        for spec in specs:
            by_device.setdefault(spec.device_id, []).append(spec)
        values: dict[tuple[str, str], Reading] = {}
        for device_id, group in by_device.items():
            codes = [c for spec in group for c in _spec_codes(spec)]
            if device_id in self._control_devices.get(plant.id, []):
                # The force parameters too: their precision and the current command.
                codes += [P_COMMAND, P_FORCE_POWER]
            try:
                uuid = await self._uuid(plant, device_id)
                rows = await self._read_back(device_id, uuid, list(dict.fromkeys(codes)))
            except (CommandRejectedError, TransientError) as err:
                _LOGGER.debug("Readback of %s failed: %s", device_id, err)
                rows = {}
            for spec in group:
                values[(device_id, spec.key)] = self._reading(spec, rows)
        return values

    def _reading(self, spec: ControlSpec, rows: Mapping[int, Mapping[str, Any]]) -> Reading:
        if spec.key == BATTERY_WORKING_MODE:
            raw = _enum_raw(rows.get(P_EMS_MODE))
            return next((key for key, value in MODES.items() if value == raw), None)
        if spec.key == GRID_EXPORT_LIMIT:
            switch = _enum_raw(rows.get(P_FEED_IN_SWITCH))
            if switch is None:
                return None
            if switch != FEED_IN_ON:
                # No limitation: the inverter may export its full power.
                return self._export_max.get(spec.device_id)
            return _display_value(rows.get(P_FEED_IN_VALUE), DEFAULT_FORMATS[P_FEED_IN_VALUE])
        codes = _spec_codes(spec)
        if len(codes) != 1:
            return None
        return _display_value(rows.get(codes[0]), DEFAULT_FORMATS[codes[0]])

    async def async_start_control(
        self, plant: Plant, spec: ControlSpec, value: Reading
    ) -> ControlTask:
        """Write one control's value in one task (the export limit switches the limitation on)."""
        if spec.key not in CONTROL_PARAMS:
            raise ValueError(f"{spec.key} is not a control of this vendor")
        uuid = await self._uuid(plant, spec.device_id)
        pending = _Pending(spec.device_id)
        if spec.key == BATTERY_WORKING_MODE:
            if not isinstance(value, str) or value not in MODES:
                raise ValueError(f"{value!r} is not an option of {spec.key}")
            params = [(P_EMS_MODE, str(MODES[value]))]
            pending.mode_after, pending.ends_force = MODES[value], True
        else:
            number = to_float(value)
            if number is None:
                raise ValueError(f"{value!r} is not a number")
            if spec.key == GRID_EXPORT_LIMIT:
                await self._ensure_formats(spec.device_id, uuid, [P_FEED_IN_VALUE])
                params = [
                    (P_FEED_IN_SWITCH, str(FEED_IN_ON)),
                    (P_FEED_IN_VALUE, self._raw(uuid, P_FEED_IN_VALUE, number)),
                ]
            else:
                code = CONTROL_PARAMS[spec.key][0]
                await self._ensure_formats(spec.device_id, uuid, [code])
                params = [(code, self._raw(uuid, code, number))]
        task_id = await self._dispatch(uuid, SET_CONFIGURE, params, "setting")
        return self._new_task(plant, uuid, task_id, spec.key, value, params, pending)

    async def async_start_force(
        self, plant: Plant, device_id: str | None, request: ForceRequest
    ) -> ControlTask:
        """Compulsory mode (10003 = 2) with a charge or discharge command and its power.

        The working mode before the force is remembered (read back when not known) and
        restored by ``async_stop_force``.
        """
        device_id = self._force_device(plant, device_id)
        uuid = await self._uuid(plant, device_id)
        missing = [
            code
            for code in (P_EMS_MODE, P_COMMAND, P_FORCE_POWER)
            if (uuid, code) not in self._formats
            or (code == P_EMS_MODE and device_id not in self._modes)
        ]
        if missing:
            await self._read_back(device_id, uuid, missing)
        current = self._modes.get(device_id)
        if current is not None and current != MODE_FORCED:
            self._before_force[device_id] = current
        else:
            self._before_force.setdefault(device_id, MODE_SELF_CONSUMPTION)
        command = CMD_DISCHARGE if request.discharge else CMD_CHARGE
        params = [
            (P_EMS_MODE, str(MODE_FORCED)),
            (P_COMMAND, str(command)),
            (P_FORCE_POWER, self._raw(uuid, P_FORCE_POWER, request.power_w)),
        ]
        task_id = await self._dispatch(uuid, SET_CONFIGURE, params, "forced charge")
        action = FORCE_DISCHARGE if request.discharge else FORCE_CHARGE
        pending = _Pending(device_id, mode_after=MODE_FORCED)
        return self._new_task(plant, uuid, task_id, action, request.power_w, params, pending)

    async def async_stop_force(self, plant: Plant, device_id: str | None) -> ControlTask:
        """Stop command (10004 = 204) and the working mode from before the force."""
        device_id = self._force_device(plant, device_id)
        uuid = await self._uuid(plant, device_id)
        restore = self._before_force.get(device_id)
        if restore is None:
            if device_id not in self._modes:
                await self._read_back(device_id, uuid, [P_EMS_MODE])
            current = self._modes.get(device_id)
            restore = (
                current if current is not None and current != MODE_FORCED else MODE_SELF_CONSUMPTION
            )
        params = [(P_COMMAND, str(CMD_STOP)), (P_EMS_MODE, str(restore))]
        task_id = await self._dispatch(uuid, SET_CONFIGURE, params, "stop forced charge")
        option = next(key for key, value in MODES.items() if value == restore)
        pending = _Pending(device_id, mode_after=restore, ends_force=True)
        return self._new_task(plant, uuid, task_id, STOP_FORCED_CHARGE, option, params, pending)

    async def async_poll_task(self, task: ControlTask) -> ControlTask:
        """Follow ``getParamSettingTask``: done at command_status 8, judged per parameter."""
        if task.done:
            return task
        uuid = text(task.details.get("uuid"))
        if uuid is None:
            raise ProtocolError(f"task {task.id}: device uuid unknown", code="no_uuid")
        data = await self._task_status(uuid, task.id)
        rows = self._learn(uuid, data)
        statuses: dict[int, str] = {}
        for code, row in rows.items():
            statuses[code] = text(row.get("command_status")) or "?"
            task.details[f"status_{code}"] = to_int(row.get("command_status"))
        finished = text(data.get("command_status")) == TASK_DONE or (
            bool(statuses) and all(s in _PARAM_FINAL for s in statuses.values())
        )
        now = self._clock()
        if finished:
            failed = [c for c, s in statuses.items() if s == PARAM_FAILED]
            timed_out = [c for c, s in statuses.items() if s == PARAM_TIMEOUT]
            unconfirmed = [c for c, s in statuses.items() if s != PARAM_SUCCESS]
            if failed:
                task.state = TaskState.FAILED
                task.reason = _status_reason(failed, rows, "failed", PARAM_FAILED)
            elif timed_out:
                task.state = TaskState.TIMED_OUT
                task.reason = _status_reason(timed_out, rows, "timed out", PARAM_TIMEOUT)
            elif unconfirmed or not statuses:
                task.state = TaskState.FAILED
                task.reason = "the task ended without confirming " + (
                    ", ".join(str(c) for c in unconfirmed) or "its parameters"
                )
            else:
                task.state = TaskState.SUCCESS
            task.finished_at = now
            self._finish(task)
        elif now - task.started_at > task.timeout:
            task.state = TaskState.TIMED_OUT
            task.reason = f"no outcome within {task.timeout:.0f} s"
            task.finished_at = now
            self._finish(task)
        return task

    def _finish(self, task: ControlTask) -> None:
        """Keep what a successful write changed; forget the working mode when unsure."""
        pending = self._pending.pop(task.id, None)
        if pending is None or pending.mode_after is None:
            return
        if task.state is TaskState.SUCCESS:
            self._modes[pending.device_id] = pending.mode_after
            if pending.ends_force:
                self._before_force.pop(pending.device_id, None)
        else:
            self._modes.pop(pending.device_id, None)

    # -- controls: helpers --------------------------------------------------------------------

    async def _uuid(self, plant: Plant, device_id: str) -> str:
        """The uuid the Grid Control API addresses a device by (listed with the devices)."""
        uuid = self._uuids.get(device_id)
        if uuid is None:
            await self.async_get_devices([plant])
            uuid = self._uuids.get(device_id)
        if uuid is None:
            raise CommandRejectedError(f"device {device_id} is not listed", code="no_device")
        return uuid

    def _force_device(self, plant: Plant, device_id: str | None) -> str:
        """The storage inverter a force is for: the device, or the plant's only one."""
        capable = self._control_devices.get(plant.id, [])
        if device_id in capable:
            return device_id
        # The plant, or another device of it (a battery pack): its storage inverter.
        if (device_id is None or device_id.startswith(f"{plant.id}_")) and len(capable) == 1:
            return capable[0]
        if device_id is None and capable:
            raise CommandRejectedError(
                "the plant has several storage inverters: name one", code="ambiguous"
            )
        raise CommandRejectedError("no storage inverter takes commands here", code="no_device")

    async def _dispatch(
        self, uuid: str, set_type: int, params: Sequence[tuple[int, str]], label: str
    ) -> str:
        """``paramSetting``: the task id, or the refusal as an error."""
        stamp = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d %H:%M:%S")
        body = {
            "set_type": set_type,
            "uuid": uuid,
            "task_name": f"{stamp} Solar Cloud {label}",
            "expire_second": EXPIRE_SECOND,
            "param_list": [{"param_code": code, "set_value": value} for code, value in params],
        }
        data = await self._call("paramSetting", body, control=True)
        if not isinstance(data, Mapping):
            raise ProtocolError("paramSetting: no result", code="shape")
        overall = text(data.get("check_result")) or "?"
        rows = _rows(data.get("dev_result_list"))
        row = next((r for r in rows if text(r.get("uuid")) == uuid), rows[0] if rows else {})
        device_code, task_id = text(row.get("code")), text(row.get("task_id"))
        if overall == "1" and device_code in (None, "1") and task_id:
            return task_id
        # The overall result names the reason, unless it is a plain "failed" (0): then the
        # device's code does ("6-1": model or authority).
        code = overall
        if overall in ("0", "1") and device_code not in (None, "1"):
            code = device_code or overall
        if code == "1":
            raise ProtocolError("paramSetting: accepted without a task id", code="no_task")
        message = text(row.get("msg"))
        reason = _SETTING_REASONS.get(code, "refused")
        self.errors[f"paramSetting:{code}"] += 1
        self.last_error = f"paramSetting: {code}"
        if code == "6-1":
            raise PermissionDeniedError(
                f"paramSetting: {reason} ({code})", code=code, vendor_message=message
            )
        raise CommandRejectedError(
            f"paramSetting: {reason} ({code})", code=code, vendor_message=message
        )

    async def _task_status(self, uuid: str, task_id: str) -> Mapping[str, Any]:
        data = await self._call(
            "getParamSettingTask", {"task_id": task_id, "uuid": uuid}, control=True
        )
        if not isinstance(data, Mapping):
            raise ProtocolError("getParamSettingTask: no result", code="shape")
        return data

    def _learn(self, uuid: str, data: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
        """A task's parameter rows by code; their precision and unit are kept for writes."""
        rows: dict[int, Mapping[str, Any]] = {}
        for row in _rows(data.get("param_list")):
            code = to_int(row.get("param_code"))
            if code is None:
                continue
            rows[code] = row
            precision = to_float(row.get("set_precision"))
            if precision is not None and precision > 0:
                unit = text(row.get("unit")) or ""
                self._formats[(uuid, code)] = ParamFormat(precision, unit)
        return rows

    async def _read_back(
        self, device_id: str, uuid: str, codes: Sequence[int]
    ) -> dict[int, Mapping[str, Any]]:
        """Readback tasks (10 parameters each), awaited: the rows that succeeded, by code.

        The first status query goes out at once, then every ``TASK_POLL_INTERVAL``.
        """
        found: dict[int, Mapping[str, Any]] = {}
        for chunk in chunks(list(codes), MAX_TASK_PARAMS):
            params = [(code, "") for code in chunk]
            task_id = await self._dispatch(uuid, SET_READBACK, params, "readback")
            deadline = self._clock() + TASK_TIMEOUT
            polls = math.ceil(TASK_TIMEOUT / TASK_POLL_INTERVAL) + 1
            for attempt in range(polls):
                if attempt:
                    await self._sleep(TASK_POLL_INTERVAL)
                data = await self._task_status(uuid, task_id)
                rows = self._learn(uuid, data)
                statuses = [text(r.get("command_status")) for r in rows.values()]
                if text(data.get("command_status")) == TASK_DONE or (
                    statuses and all(s in _PARAM_FINAL for s in statuses)
                ):
                    break
                if self._clock() >= deadline:
                    break
            # Every poll used up without a break: the last answer's rows are empty or one of
            # them has not ended, so the check below refuses them all the same.
            if not rows or not all(
                text(r.get("command_status")) in _PARAM_FINAL for r in rows.values()
            ):
                raise TransientError(
                    f"readback task {task_id}: no answer within {TASK_TIMEOUT:.0f} s",
                    code="readback_timeout",
                )
            for code, row in rows.items():
                if text(row.get("command_status")) == PARAM_SUCCESS:
                    found[code] = row
        if (mode := _enum_raw(found.get(P_EMS_MODE))) is not None:
            self._modes[device_id] = mode
        return found

    async def _ensure_formats(self, device_id: str, uuid: str, codes: Sequence[int]) -> None:
        """Read back the parameters whose precision no task has told yet."""
        missing = [c for c in codes if (uuid, c) not in self._formats]
        if missing:
            await self._read_back(device_id, uuid, missing)

    def _raw(self, uuid: str, code: int, value: float) -> str:
        """A value in the control's unit (%, W) as the integer the parameter is written in."""
        fmt = self._formats.get((uuid, code)) or DEFAULT_FORMATS[code]
        display = value / _UNIT_FACTORS.get(fmt.unit.lower(), 1.0)
        return str(round(display / fmt.precision))

    def _new_task(
        self,
        plant: Plant,
        uuid: str,
        task_id: str,
        action: str,
        value: Reading,
        params: Sequence[tuple[int, str]],
        pending: _Pending,
    ) -> ControlTask:
        self._pending[task_id] = pending
        details: dict[str, Reading] = {"uuid": uuid}
        details.update({f"set_{code}": raw for code, raw in params})
        return ControlTask(
            id=task_id,
            plant_id=plant.id,
            device_id=pending.device_id,
            action=action,
            value=value,
            state=TaskState.RUNNING,
            started_at=self._clock(),
            poll_interval=TASK_POLL_INTERVAL,
            timeout=TASK_TIMEOUT,
            details=details,
        )

    # -- history ------------------------------------------------------------------------------

    def history_plan(self, plants: Sequence[Plant]) -> HistoryPlan:
        """Size the history share of the hourly budget and how the planner spends it.

        The app may make ``hourly_cap`` calls an hour (2000 on the basic plan, or what
        ``getOpenApiCallInfo`` said); this client keeps ``CAP_SHARE`` (90 %) of them. The live
        polls need ``per_round`` calls every 5 minutes (one per 50 plants and per 50 devices of
        each type, as ``plan()`` counts; before ``plan()`` ran, five per 50 plants: the plant
        points and the four device types of a storage plant) plus ``LIVE_EXTRA`` for alarms and
        lists. History gets ``HISTORY_SHARE`` (25 %) of the budget when the live polls leave
        that much, else what they leave, but never less than one read of a day (nine calls);
        ``plan()`` then sets that much aside before it picks the live rhythm. With a daily cap
        the share also fits in the day's budget after the live polls.

        A read of one day costs at most ``HISTORY_CALLS_PER_READ`` (9) calls per batch of 50
        plants (3-hour windows). The recurring reads of a batch a day are the current day every
        ``refresh`` seconds plus two after a day ends plus ``TRAILING_DAYS`` (3) corrections;
        ``refresh`` is an hour unless the share is too small, and what is left of the day's
        share is for history before the start (``deep_reads_per_day``). With the default cap:
        1800 calls an hour, 450 for history, 10 800 a day = 1200 reads; 1 or 10 plants (one
        batch): 1200 - 29 = 1171 deep reads a day; 100 plants (two batches): 1142.
        """
        groups = max(1, math.ceil(len(plants) / HISTORY_MAX_KEYS))
        budget = max(1, int(self.hourly_cap * CAP_SHARE))
        per_round = self._live_round or 5 * groups
        live = per_round * math.ceil(HOUR / REALTIME_PERIOD) + LIVE_EXTRA
        share = min(int(budget * HISTORY_SHARE), budget - live)
        if self.daily_cap:
            day_budget = max(1, int(self.daily_cap * CAP_SHARE))
            share = min(share, (day_budget - live * 24) // 24)
        share = max(HISTORY_CALLS_PER_READ, share)
        self._history_hourly = share
        self.quota.set_allowance(E_HISTORY, Allowance(share, HOUR))
        reads = share * int(DAY / HOUR) // HISTORY_CALLS_PER_READ
        fixed = groups * (2 + TRAILING_DAYS)
        room = reads - fixed
        # The current day of every batch hourly when the share allows, else less often.
        refresh = DAY if room <= 0 else max(HOUR, min(DAY, DAY * groups / room))
        recurring = groups * (math.ceil(DAY / refresh) + 2 + TRAILING_DAYS)
        return HistoryPlan(
            refresh=refresh,
            batch=HISTORY_MAX_KEYS,
            keeps_days=HISTORY_KEEPS_DAYS,
            settle=HISTORY_SETTLE,
            deep_reads_per_day=max(0, reads - recurring),
        )

    async def async_get_energy_days(
        self, plants: Sequence[Plant], day: date, zone: tzinfo
    ) -> dict[str, EnergyDay]:
        """Energy per UTC hour of ``day`` (the plants' local date) from the daily counters.

        Flows: pv (83022), grid_import (83102), grid_export (83072), battery_charge (83322),
        battery_discharge (83323) and load (83118), the plant's counters of the day in Wh,
        every 5 minutes in 3-hour windows, 50 plants a call. A plant's zone is the offset the
        cloud gives (``ps_current_time_zone``); when ``zone`` has that offset now, the plant is
        taken to be there and ``zone`` (which knows daylight saving time) is used. Windows after
        now are not asked for; hours after the last sample are absent.
        """
        if self._history_hourly == 0:
            self.history_plan(plants)
        now = datetime.fromtimestamp(self._clock(), UTC)
        by_zone: dict[tzinfo, list[Plant]] = {}
        for plant in plants:
            by_zone.setdefault(self._history_zone(plant, zone, now), []).append(plant)
        jobs: list[tuple[tzinfo, Sequence[Plant], datetime, datetime, list[_Window]]] = []
        for plant_zone, members in by_zone.items():
            start, end = day_bounds(day, plant_zone)
            windows = [w for w in history_windows(start, end, plant_zone) if w[0] < now]
            if windows:
                jobs.extend(
                    (plant_zone, batch, start, end, windows)
                    for batch in chunks(members, HISTORY_MAX_KEYS)
                )
        # The whole read must fit now: never half a day for the calls of a whole one.
        self._history_room(sum(len(job[4]) for job in jobs), second=False)
        result: dict[str, EnergyDay] = {}
        for plant_zone, batch, start, end, windows in jobs:
            keys = {f"{p.id}_{T_PLANT}_0_0": p.id for p in batch}
            samples: dict[str, dict[Flow, list[tuple[datetime, float]]]] = {}
            for window_start, window_end in windows:
                await self._history_pace()
                data = await self._call(
                    HISTORY_ENDPOINT,
                    {
                        "ps_key_list": list(keys),
                        "points": ",".join(f"p{point}" for point in HISTORY_POINTS),
                        "start_time_stamp": _stamp(window_start, plant_zone),
                        "end_time_stamp": _stamp(window_end, plant_zone),
                        "minute_interval": str(HISTORY_INTERVAL),
                    },
                    history=True,
                )
                _collect_samples(data, keys, plant_zone, samples)
            for plant_id, flows in samples.items():
                hours = _counter_hours(flows, start, end)
                if flows:
                    result[plant_id] = EnergyDay(plant_id, day, plant_zone, hours)
        return result

    def _history_zone(self, plant: Plant, zone: tzinfo, now: datetime) -> tzinfo:
        """The plant's zone: the cloud's offset, or ``zone`` when that has the offset now."""
        fixed = parse_zone(plant.time_zone) if plant.time_zone else self._zones.get(plant.id)
        return offset_or_zone(fixed, zone, now)

    def _history_room(self, calls: int, *, second: bool = True) -> None:
        """Raise ``RateLimitedError`` unless ``calls`` history calls may go out now."""
        if calls <= 0:
            return
        names = [E_HISTORY, E_HOUR] + ([E_DAY] if self.daily_cap else [])
        waits = []
        for name in names:
            allowance = self.quota.allowance(name)
            if allowance is not None:
                waits.append(self.quota.wait_time(name, min(calls, allowance.calls)))
        if second:
            waits.append(self.quota.wait_time(E_SECOND))
        wait = max(waits, default=0.0)
        if wait > 0:
            raise RateLimitedError(
                "history: no room in the call allowance now", retry_after=wait, code="quota"
            )

    async def _history_pace(self) -> None:
        """Wait (holding no slot) for the per-second pacing, which is never more than 1 s."""
        wait = self.quota.wait_time(E_SECOND)
        if 0 < wait <= 1.0:
            await self._sleep(wait)

    # -- diagnostics --------------------------------------------------------------------------

    def diagnostics(self) -> dict[str, object]:
        """Non-secret client state."""
        return {
            "server": self._server,
            "encrypted": self.encrypted,
            "session_valid": self._token_valid(),
            "logins": self.logins,
            "hourly_cap": self.hourly_cap,
            "daily_cap": self.daily_cap,
            "error_codes": dict(self.errors),
            "last_error": self.last_error,
            "quota": self.quota.snapshot(),
        }


# Point ids requested for the types whose unsigned pairs and states are mapped separately.
STORAGE_EXTRA: Final[dict[str, tuple[str, float]]] = {
    **STORAGE_POINTS,
    P_BATTERY_CHARGE: ("battery_charge_power", 1.0),
    P_BATTERY_DISCHARGE: ("battery_discharge_power", 1.0),
    P_FEED_IN: ("grid_export_power", 1.0),
    P_PURCHASED: ("grid_import_power", 1.0),
    P_RUNNING_STATE: ("inverter_status", 1.0),
}
METER_EXTRA: Final[dict[str, tuple[str, float]]] = {
    **METER_POINTS,
    P_METER_POWER: ("grid_power", 1.0),
}


# Plant power flows that the plant's own points lack, summed over its storage inverters.
_FLOWS: Final = (
    "battery_charge_power",
    "battery_discharge_power",
    "battery_power",
    "grid_import_power",
    "grid_export_power",
    "grid_power",
)


# -- history: module helpers ------------------------------------------------------------------

type _Window = tuple[datetime, datetime]

HOUR_DELTA: Final = timedelta(hours=1)


def _wall(moment: datetime, zone: tzinfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


def _round_trips(moment: datetime, zone: tzinfo) -> bool:
    """Whether the local time of ``moment`` names it alone (not in the hour the clocks repeat)."""
    return _wall(moment, zone).replace(tzinfo=zone).astimezone(UTC) == moment


def history_windows(start: datetime, end: datetime, zone: tzinfo) -> list[_Window]:
    """[start, end) cut into windows of at most 3 hours both in real time and on the local clock,
    each bounded by local times that name one moment only (daylight saving time changes)."""
    windows: list[_Window] = []
    cursor = start
    while cursor < end:
        chosen = min(end, cursor + HOUR_DELTA)
        for hours in (3, 2, 1):
            candidate = min(end, cursor + timedelta(hours=hours))
            wall_span = _wall(candidate, zone) - _wall(cursor, zone)
            if wall_span <= HISTORY_WINDOW and _round_trips(candidate, zone):
                chosen = candidate
                break
        windows.append((cursor, chosen))
        cursor = chosen
    return windows


def _stamp(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y%m%d%H%M%S")


def _history_time(value: object, zone: tzinfo, after: datetime | None) -> datetime | None:
    """A row's local ``yyyyMMddHHmmss`` in UTC; in the hour the clocks repeat, the second
    pass once the rows (in time order) have reached the first."""
    naive = _naive_stamp(value)
    if naive is None:
        return None
    first = naive.replace(tzinfo=zone).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if after is not None and first <= after < second:
        return second
    return first


def _collect_samples(
    data: object,
    keys: Mapping[str, str],
    zone: tzinfo,
    samples: dict[str, dict[Flow, list[tuple[datetime, float]]]],
) -> None:
    """Add a minute-data reply's counter samples (kWh) per plant and flow."""
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{HISTORY_ENDPOINT}: no result", code="shape")
    for key, rows in data.items():
        plant_id = keys.get(str(key))
        if plant_id is None or not isinstance(rows, list):
            continue
        flows = samples.setdefault(plant_id, {})
        after: datetime | None = None
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            moment = _history_time(row.get("time_stamp"), zone, after)
            if moment is None:
                continue
            after = moment
            for point, flow in HISTORY_POINTS.items():
                value = to_float(row.get(f"p{point}"))
                if value is not None and value >= 0:
                    flows.setdefault(flow, []).append((moment, value * _WH))


def _counter_hours(
    flows: Mapping[Flow, Sequence[tuple[datetime, float]]], start: datetime, end: datetime
) -> dict[datetime, dict[Flow, float]]:
    """kWh per UTC hour and flow from the day's counters.

    Hours from the day's start to the last sample have a value (0 when the counter stood
    still: a real 0); hours after it are absent.
    """
    hours: dict[datetime, dict[Flow, float]] = {}
    for flow, series in flows.items():
        inside = [(t, v) for t, v in series if start <= t <= end]
        if not inside:
            continue
        energy = energy_from_counter(inside, start)
        last = min(end, max(t for t, _ in inside))
        hour = utc_hour(start)
        while hour < last:
            energy.setdefault(hour, 0.0)
            hour += HOUR_DELTA
        for moment, kwh in energy.items():
            hours.setdefault(moment, {})[flow] = round(kwh, 6)
    return dict(sorted(hours.items()))


# -- controls: module helpers -----------------------------------------------------------------


def _rows(value: object) -> list[Mapping[str, Any]]:
    """A list of objects (or one object) from a reply field."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [r for r in value if isinstance(r, Mapping)]
    return []


def _rated_power(model: str | None) -> float | None:
    """Rated AC power (W) of a hybrid inverter from its model name (SH10RT: 10 kW)."""
    match = _RATED_RE.match((model or "").strip())
    return None if match is None else float(match.group(1)) * 1000.0


def _spec_codes(spec: ControlSpec) -> list[int]:
    return list(CONTROL_PARAMS.get(spec.key, ()))


def _to_spec_unit(raw: int, fmt: ParamFormat) -> float:
    return round(raw * fmt.precision * _UNIT_FACTORS.get(fmt.unit.lower(), 1.0), 6)


def _device_specs(
    device_id: str, limits: Mapping[str, float], rated: float | None
) -> list[ControlSpec]:
    """The controls of a storage inverter; ranges from the documented raw ranges and limits."""

    def number(
        key: str, code: int, unit: str, step: float, maximum: float | None = None
    ) -> ControlSpec:
        fmt = DEFAULT_FORMATS[code]
        low, high = _RAW_RANGES[code]
        return ControlSpec(
            key=key,
            device_id=device_id,
            kind=ControlKind.NUMBER,
            unit=unit,
            minimum=_to_spec_unit(low, fmt),
            maximum=maximum if maximum is not None else _to_spec_unit(high, fmt),
            step=step,
            vendor_ref=str(code),
        )

    power_step = _to_spec_unit(1, DEFAULT_FORMATS[P_MAX_CHARGE])
    return [
        ControlSpec(
            key=BATTERY_WORKING_MODE,
            device_id=device_id,
            kind=ControlKind.SELECT,
            options=tuple(MODES),
            vendor_ref=str(P_EMS_MODE),
        ),
        number(BATTERY_CHARGE_CUTOFF_SOC, P_SOC_UPPER, "%", 1.0),
        number(BATTERY_DISCHARGE_CUTOFF_SOC, P_SOC_LOWER, "%", 1.0),
        number(
            BATTERY_MAX_CHARGE_POWER,
            P_MAX_CHARGE,
            "W",
            power_step,
            limits.get(PROP_MAX_CHARGE),
        ),
        number(
            BATTERY_MAX_DISCHARGE_POWER,
            P_MAX_DISCHARGE,
            "W",
            power_step,
            limits.get(PROP_MAX_DISCHARGE),
        ),
        ControlSpec(
            key=GRID_EXPORT_LIMIT,
            device_id=device_id,
            kind=ControlKind.NUMBER,
            unit="W",
            minimum=0.0,
            maximum=rated,
            step=1.0,
            vendor_ref=f"{P_FEED_IN_SWITCH},{P_FEED_IN_VALUE}",
        ),
    ]


def _enum_raw(row: Mapping[str, Any] | None) -> int | None:
    """An enumeration's value from a readback row: the number, or its label's value."""
    if row is None:
        return None
    value = text(row.get("return_value"))
    if value is None:
        return None
    if (number := to_int(value)) is not None:
        return number
    labels = [p.strip().lower() for p in (text(row.get("set_val_name")) or "").split("|")]
    values = (text(row.get("set_val_name_val")) or "").split("|")
    for label, raw in zip(labels, values, strict=False):
        if label == value.lower():
            return to_int(raw)
    return None


def _display_value(row: Mapping[str, Any] | None, default: ParamFormat) -> float | None:
    """A readback value (display units: %, kW, W) in the control's unit (%, W)."""
    if row is None:
        return None
    value = to_float(row.get("return_value"))
    if value is None:
        return None
    unit = text(row.get("unit")) or default.unit
    return round(value * _UNIT_FACTORS.get(unit.lower(), 1.0), 6)


def _status_reason(
    codes: Sequence[int], rows: Mapping[int, Mapping[str, Any]], what: str, status: str
) -> str:
    """``10001 SOC Upper Limit: failed (command_status 5)`` for each parameter."""
    parts = []
    for code in codes:
        name = text(rows[code].get("point_name")) or _PARAM_NAMES.get(code, "parameter")
        parts.append(f"{code} {name}: {what} (command_status {status})")
    return "; ".join(parts)


def _fill_plant_flows(realtime: RealtimeData) -> None:
    for key in _FLOWS:
        if realtime.plant.get(key) is not None:
            continue
        # Only the storage inverters: they measure the grid and battery flows of the site.
        values = [
            r.values.get(key) for r in realtime.devices.values() if "inverter_status" in r.values
        ]
        if (summed := total(values)) is not None:
            realtime.plant[key] = summed


def _battery(points: Mapping[str, object]) -> dict[str, Reading]:
    return map_points(points, BATTERY_POINTS)


def _last_page(data: Mapping[str, Any], rows: list[Any], seen: int) -> bool:
    """Whether a paged answer is complete: no rows, a short page, or all rowCount rows seen."""
    total = to_int(data.get("rowCount"))
    if not rows or len(rows) < PAGE_SIZE:
        return True
    return total is not None and seen >= total


def _health(row: Mapping[str, Any]) -> str | None:
    """dev_status / dev_fault_status of the plant: offline, fault (1), alarm (2), normal (4)."""
    if _online(row) is False:
        return "disconnected"
    fault = to_int(row.get("dev_fault_status"))
    return None if fault is None else {1: "faulty", 2: "alarm", 4: "healthy"}.get(fault, "unknown")


def _online(row: Mapping[str, Any]) -> bool | None:
    status = to_int(row.get("dev_status"))
    return None if status is None else status == 1


def _point_rows(data: Any) -> list[Mapping[str, Any]]:
    if not isinstance(data, Mapping):
        raise ProtocolError("real-time data: no result", code="shape")
    rows: list[Mapping[str, Any]] = []
    for item in data.get("device_point_list") or []:
        point = item.get("device_point") if isinstance(item, Mapping) else None
        if isinstance(point, Mapping):
            rows.append(point)
    return rows


class _TokenRejectedError(SolarCloudError):
    """E00003 / E900: the token is no longer valid."""

    def __init__(self, code: str) -> None:
        super().__init__("token rejected", code=code)


class _ClockSkewError(SolarCloudError):
    """E913: the request's timestamp is too far from the gateway's clock."""

    def __init__(self, code: str) -> None:
        super().__init__("clock skew", code=code)
