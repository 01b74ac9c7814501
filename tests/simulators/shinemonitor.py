"""Strict fake of the ShineMonitor (Eybond) open-platform cloud API (api.shinemonitor.com).

The simulator is an ``aiohttp.web`` application that follows the wire contract agreed with the
client (``custom_components/solar_cloud/api/shinemonitor.py``). Background: the vendor's
"API Help" page (``../shared/vendor-docs/shinemonitor-api-help.txt``) and the project's
reference notes (``../shared/reference/saj-and-shinemonitor.md`` §1: actions, parameters,
status tables and error codes).

* Everything is a ``GET`` of ``/public/`` with a signed query string. Any other method or path
  answers ``err`` 256. The reply is always HTTP 200 ``application/json``
  ``{"err": <int>, "desc": "<ERR_NAME>", "dat": ...}``; ``dat`` is present only when
  ``err == 0`` and ``desc`` may carry a detail in brackets (``ERR_FORMAT_ERROR(plantid)``).
* ``auth``: ``?sign=..&salt=..&action=auth&usr=<usr>&company-key=<key>`` with
  ``sign = sha1_hex(salt + sha1_hex(pwd) + tail)`` → ``secret`` (40 hex), ``token`` (64 hex),
  ``expire`` (seconds from now), ``role`` 0, ``uid``, ``usr``. A new auth issues a new pair; the
  older pairs stay valid until their own expiry.
* Business calls: ``?sign=..&salt=..&token=..&action=<name>&k=v..`` with
  ``sign = sha1_hex(salt + secret + token + tail)``. The *tail* is the raw query text from
  ``&action=`` (leading ``&`` included) to its end.
* Actions: ``queryPlants``, ``queryPlantInfo``, ``queryPlantCurrentData``,
  ``queryPlantActiveOuputPowerCurrent`` (sic), ``queryPlantDeviceStatus``, ``queryDeviceStatus``,
  ``queryDeviceLastData``, ``querySPDeviceLastData`` and ``queryPlantsWarning``, with the
  shapes, units and defaults of the contract (``pagesize`` 1–50, default 1; ``page`` 0-based);
  and the control actions ``queryDeviceCtrlField``, ``queryDeviceCtrlValue`` and ``ctrlDevice``
  (reference §1.3–1.4, described below).
* History (reference §1.3): ``queryPlantActiveOuputPowerOneDay`` + ``plantid`` + ``date``
  (``YYYY-MM-DD``, the plant's local calendar) → ``[{"val": "<kW>", "ts": "<local time>"}]``,
  one sample per data refresh from local midnight up to the last refresh before now, the plant's
  generation (as ``CURRENT_POWER``); err 12 for a day before the installation or without a
  sample yet. ``queryPlantEnergyDay`` + ``plantid`` + ``date`` → ``{"energy": "<kWh>"}``, the
  day's generation up to its last data, rounded like ``ENERGY_TODAY`` (so today's equals it).
  Both: ``plantid`` and ``date`` required (7), a malformed or impossible date 6, a day after the
  plant's today 12; the per-minute limit (13), plant checks (260, 11) and ``inject`` apply as to
  any action. A plant added with ``zone=`` (a zone with daylight-saving time) has 23- and
  25-hour days, its repeated autumn hour listed twice in order.
* Checks run in this order: query prefix (4), salt length (5), sign format (4); then for
  ``auth`` the tail shape (7 / 4), company key (15), user (16), sign against the stored
  password (16), disabled user (25); for business calls the token (10 / 270) and the sign (4);
  then the per-account sliding-minute limit (13), the action (256) and its parameters (7, 6,
  260, 11, 258, 12, 262, 263, 264).

Readings of the contract this module makes (the stricter one wherever there was a choice):

* "The raw query string" is taken from ``request.rel_url.raw_query_string``. aiohttp's
  ``request.query_string`` is yarl's *decoded* form (``%2C`` becomes ``,``, ``%20`` and ``+``
  become spaces), so it is not what the client signed.
* A ``sign`` that is not 40 lowercase hex digits is err 4, checked right after the salt.
* ``auth`` takes exactly ``&action=auth&usr=..&company-key=..`` in that order. A missing or empty
  ``usr`` / ``company-key`` is err 7; any other shape (another order, extra parameters such as
  ``source``) is err 4. ``usr`` and the key are percent-decoded for the look-up only; the sign is
  over the raw text. Any known company key works with any account.
* Business calls: no ``token`` at all (or an empty one) is err 10; a token that is present but
  not directly after the salt, or not directly followed by ``&action=``, is err 4; a token
  before ``action=auth`` is err 4.
* Parameter values are percent-decoded only (``+`` stays a literal plus, spaces must be
  ``%20``); a segment without ``=`` or a repeated parameter is err 6; parameters the action does
  not use (``source``, ``_app_client_``, ``lang`` …) are ignored, except that ``source`` on
  ``querySPDeviceLastData`` must be ``0`` or ``1``.
* ``i18n``, where required, must look like ``en_US`` (err 6 otherwise, err 7 when absent or
  empty). ``handle`` must be ``true`` or ``false``; ``sdate`` / ``edate`` must be
  ``YYYY-MM-DD HH:MM:SS`` (UTC) and select ``sdate <= gts < edate``.
* A page past the end is "no record": err 12 for ``queryPlants``, err 264 for
  ``queryPlantsWarning``.
* A device of another account's plant is err 11, like a plant.
* The limit allows ``calls_per_minute`` charged calls in any 60 s window (a call at ``t``
  counts until ``t + 60``). Only calls that passed the signature/token checks and were not
  refused are charged; ``calls`` counts exactly those (``auth`` under ``"auth"``), so requests
  refused with 4, 5, 7, 10, 15, 16, 25 or 270 appear in ``requests`` only.
* ``disable_user`` refuses new logins (25); tokens already issued keep working until they
  expire (``revoke_tokens`` ends them). ``set_password`` does the same for the old password.
* ``ENERGY_COAL`` and ``ENERGY_SO2`` are in tonnes, like ``ENERGY_CO2``.
* Plant generation (``CURRENT_POWER``, ``outputPower``, ``ENERGY_*``) is the grid-tie inverter's
  output plus the storage inverter's PV input; ``BATTERY_SOC`` is the storage inverter's SOC
  (mean if several) and is omitted for plants without one.
* ``set_device_status`` changes the reported status only; the data keeps flowing. An offline
  device answers 262 and one behind an offline collector 263 (the collector wins); both report
  status 1, freeze their data at the moment they went offline and add no power to the plant
  sums. A never-reported device answers 12, reports status 1 and adds nothing. Unhandled
  warnings set a device's status by level (0 → 4 warning, 1 → 5 error, 2 → 2 fault).

Controls (device tuple ``pn``, ``devcode``, ``devaddr``, ``sn`` on each call):

* ``queryDeviceCtrlField`` (``i18n`` required) → ``{"field": [{id, name, unit?, hint?,
  item?: [{key, val}]}]}``: the field list of the device's devcode, independent of whether the
  device is online. Devcode 2376 has the fields of the reference table (§1.4), one-shot commands
  included (Clear Record, Reset User Settings, Forced EQ, Exit Fault Mode); the grid-tie devcode
  has none (err 12); ``set_control_schema_error`` makes a devcode answer err 1 or 12.
* ``queryDeviceCtrlValue`` + ``id`` → ``{"id", "name", "val"}``: the stored value, the item key
  for enumerations, a fixed-point number otherwise; one-shots answer ``""``. Read from the
  device: 263 behind an offline collector, 262 when the device is offline; unknown id err 6.
* ``ctrlDevice`` + ``id`` + ``val`` → ``{"dat": <raw device reply in hex or null>, "status":
  <-1 not processed, 0 delivered, 1 failed>}``. Checks, in order: deny_control (8), a device
  without fields (9), the id (6), the value (6: not an item key, not a number with at most the
  field's decimals, or outside the device's own limits, which are not the displayed hint),
  collector offline (263), device offline (2, no answer from the device), a command of the same
  collector still unprocessed (14). Then ``fail_next_task`` answers status 1 (value unchanged);
  otherwise with ``set_task_delay(0)`` (the default) the value is stored and status 0 returned;
  with a delay it answers status -1 and the value lands after the delay (or never: the command
  is dropped after ``PENDING_TTL``); ``ignore_next_task`` answers status 0 and keeps the old
  value. One-shot commands are accepted but store nothing.
  ``control_commands`` logs every command that named a known device, with its outcome.
* The vendor documents no daily control allowance; control calls count against the per-minute
  limit like any other call.

Measurements are deterministic and closed-form. The grid-tie inverter follows a half sine
between 06:00 and 18:00 plant-local time (each plant has a fixed UTC offset), scaled by the
plant's nominal power and a weekly weather pattern; "today" resets at local midnight and
lifetime totals are sums over whole days since installation plus today. The storage inverter has
its own smaller PV array, a house load with a morning and an evening peak, and a battery whose
SOC rises from ~22 % (08:00) to a weather-dependent top of up to 95 % (16:00), holds until
18:00 and falls linearly until 08:00 the next day; currents follow the SOC slope of a 200 Ah,
~52 V battery and the grid covers what PV and battery do not. Cloud data refreshes every
``data_interval`` seconds: values and timestamps are those of the last refresh boundary.

Besides the configured account there is always the vendor's documented test account
``vplant`` / ``vplant`` (company key ``0123456789ABCDEF``) with plant 9000 of its own.

The clock, counters, request log and fault injection (``inject`` / ``clear_faults``) come
from ``tests.simulators.common``, shared with the other vendor simulators.

Typical use::

    sim = ShineMonitorSimulator(plants=2, clock=fake_clock)
    server = await aiohttp_server(sim.app)
    sim.inject("fail_code:13", path="queryDeviceLastData")

Run ``python -m tests.simulators.shinemonitor --help`` for a standalone server.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import web

from tests.simulators.common import (
    DATA_FAULTS,
    DERATE,
    REPLACING_FAULTS,
    Simulator,
    json_response,
    local_hour,
    maintenance_page,
    numeric_fail_code,
    refresh_time,
    serve,
    server_parser,
    sun_curve,
    sun_done,
    weather_factor,
    weather_sum,
    window_full,
)

__all__ = ["FAULT_KINDS", "ShineMonitorSimulator"]

# ---------------------------------------------------------------------------------------------
# Protocol constants
# ---------------------------------------------------------------------------------------------

# Error codes (decimal on the wire) and where this simulator produces them:
#
# | code | name                         | produced by                                         |
# |------|------------------------------|-----------------------------------------------------|
# | 0    | ERR_NONE                     | success                                             |
# | 1-3  | ERR_FAIL/TIMEOUT/SYSTEM_...  | inject("fail_code:<code>"); 2 also: ctrlDevice to a |
# |      |                              | device that is offline behind an online collector   |
# | 4    | ERR_SIGN                     | bad query prefix, malformed or wrong business sign, |
# |      |                              | misplaced token, auth tail of another shape         |
# | 5    | ERR_SALT                     | salt shorter than 8 characters                      |
# | 6    | ERR_FORMAT_ERROR             | non-numeric id, pagesize outside 1..50, > 256       |
# |      |                              | device tuples, unknown par, bad i18n/handle/date,   |
# |      |                              | repeated parameter, segment without "="             |
# | 7    | ERR_MISSING_PARAMETER        | a required parameter absent or empty (incl. i18n)   |
# | 8    | ERR_FORBIDDEN                | ctrlDevice while deny_control(True)                 |
# | 9    | ERR_UNSUPPORTED              | ctrlDevice to a device without control fields      |
# | 10   | ERR_NO_AUTH                  | token missing or unknown (revoke_tokens)            |
# | 11   | ERR_NO_PERMISSION            | plant or device of another account                  |
# | 12   | ERR_NO_RECORD                | account without plants, page past the end, device   |
# |      |                              | never reported, SP data asked of a non-storage one, |
# |      |                              | control fields of a device that has none            |
# | 13   | ERR_OVER_LIMITED             | over calls_per_minute in 60 s (a refusal)           |
# | 14   | ERR_DUPLICATE_OPER           | ctrlDevice while a command of the same collector is |
# |      |                              | still unprocessed (status -1)                       |
# | 15   | ERR_NOT_FOUND_COMPANY_KEY    | unknown company-key on auth                         |
# | 16   | ERR_PASSWORD_VERIF_FAIL      | unknown usr, or auth sign not matching the password |
# | 25   | ERR_USR_DISABLED             | auth of a disabled account (disable_user)           |
# | 256  | ERR_NOT_FOUND_API            | unknown action, other path, method other than GET   |
# | 258  | ERR_NOT_FOUND_DEVICE         | a device tuple that matches no device               |
# | 260  | ERR_NOT_FOUND_PLANT          | unknown plantid                                     |
# | 262  | ERR_DEVICE_OFFLINE           | last data or control value of an offline device     |
# | 263  | ERR_COLLECTOR_OFFLINE        | last data, control value or control command of a    |
# |      |                              | device behind an offline collector                  |
# | 264  | ERR_NOT_FOUND_DEVICE_WARNING | queryPlantsWarning with nothing to show             |
# | 270  | ERR_TOKEN_EXPIRED            | token past its expiry (expire_tokens)               |
# 6 also answers a control id the device does not have and a control value that is not one of
# the field's items, not a number, or outside the device's own limits (not the displayed hint).
OK: Final = 0
E_FAIL: Final = 1
E_TIMEOUT: Final = 2
E_SYSTEM: Final = 3
E_SIGN: Final = 4
E_SALT: Final = 5
E_FORMAT: Final = 6
E_MISSING: Final = 7
E_FORBIDDEN: Final = 8
E_UNSUPPORTED: Final = 9
E_NO_AUTH: Final = 10
E_NO_PERMISSION: Final = 11
E_NO_RECORD: Final = 12
E_OVER_LIMITED: Final = 13
E_DUPLICATE: Final = 14
E_COMPANY_KEY: Final = 15
E_PASSWORD: Final = 16
E_DISABLED: Final = 25
E_NO_API: Final = 256
E_NO_DEVICE: Final = 258
E_NO_PLANT: Final = 260
E_DEVICE_OFFLINE: Final = 262
E_COLLECTOR_OFFLINE: Final = 263
E_NO_WARNING: Final = 264
E_TOKEN_EXPIRED: Final = 270

ERR_NAMES: Final[dict[int, str]] = {
    OK: "ERR_NONE",
    E_FAIL: "ERR_FAIL",
    E_TIMEOUT: "ERR_TIMEOUT",
    E_SYSTEM: "ERR_SYSTEM_EXCEPTION",
    E_SIGN: "ERR_SIGN",
    E_SALT: "ERR_SALT",
    E_FORMAT: "ERR_FORMAT_ERROR",
    E_MISSING: "ERR_MISSING_PARAMETER",
    E_FORBIDDEN: "ERR_FORBIDDEN",
    E_UNSUPPORTED: "ERR_UNSUPPORTED",
    E_NO_AUTH: "ERR_NO_AUTH",
    E_NO_PERMISSION: "ERR_NO_PERMISSION",
    E_NO_RECORD: "ERR_NO_RECORD",
    E_OVER_LIMITED: "ERR_OVER_LIMITED",
    E_DUPLICATE: "ERR_DUPLICATE_OPER",
    E_COMPANY_KEY: "ERR_NOT_FOUND_COMPANY_KEY",
    E_PASSWORD: "ERR_PASSWORD_VERIF_FAIL",
    E_DISABLED: "ERR_USR_DISABLED",
    E_NO_API: "ERR_NOT_FOUND_API",
    257: "ERR_NOT_FOUND_COLLECTOR",
    E_NO_DEVICE: "ERR_NOT_FOUND_DEVICE",
    259: "ERR_INVALID_PN",
    E_NO_PLANT: "ERR_NOT_FOUND_PLANT",
    261: "ERR_NOT_FOUND_USR",
    E_DEVICE_OFFLINE: "ERR_DEVICE_OFFLINE",
    E_COLLECTOR_OFFLINE: "ERR_COLLECTOR_OFFLINE",
    E_NO_WARNING: "ERR_NOT_FOUND_DEVICE_WARNING",
    E_TOKEN_EXPIRED: "ERR_TOKEN_EXPIRED",
}

TOKEN_TTL: Final = 432_000  # 5 days, as the cloud answers today (the vendor page says 604800)
MIN_SALT: Final = 8
MAX_PAGESIZE: Final = 50
DEFAULT_PAGESIZE: Final = 1
MAX_TUPLES: Final = 256
LIMIT_WINDOW: Final = 60.0
MAX_REQUEST_LINE: Final = 65_536

TEST_USR: Final = "vplant"
TEST_PWD: Final = "vplant"
TEST_COMPANY_KEY: Final = "0123456789ABCDEF"
TEST_PLANT_ID: Final = 9000
FIRST_PLANT_ID: Final = 1000

DEVCODE_PV: Final = 632  # grid-tie family (devcode // 256 == 2)
DEVCODE_STORAGE: Final = 2376  # energy-storage family (devcode // 256 == 9)
STORAGE_FAMILY: Final = 9

# Status table of plants, collectors and devices.
STATUS_ONLINE: Final = 0
STATUS_OFFLINE: Final = 1
STATUS_FAULT: Final = 2
STATUS_STANDBY: Final = 3
STATUS_WARNING: Final = 4
STATUS_ERROR: Final = 5
STATUS_PROTOCOL_ERROR: Final = 6
WARNING_LEVELS: Final = {0: STATUS_WARNING, 1: STATUS_ERROR, 2: STATUS_FAULT}

PLANT_PARS: Final = (
    "ENERGY_TODAY",
    "ENERGY_MONTH",
    "ENERGY_YEAR",
    "ENERGY_TOTAL",
    "ENERGY_PROCEEDS",
    "ENERGY_CO2",
    "CURRENT_TEMP",
    "CURRENT_RADIANT",
    "BATTERY_SOC",
    "ENERGY_COAL",
    "ENERGY_SO2",
    "CURRENT_POWER",
)

ACTIONS: Final = (
    "queryPlants",
    "queryPlantInfo",
    "queryPlantCurrentData",
    "queryPlantActiveOuputPowerCurrent",
    "queryPlantDeviceStatus",
    "queryDeviceStatus",
    "queryDeviceLastData",
    "querySPDeviceLastData",
    "queryPlantsWarning",
    "queryDeviceCtrlField",
    "queryDeviceCtrlValue",
    "ctrlDevice",
    "queryPlantActiveOuputPowerOneDay",
    "queryPlantEnergyDay",
)

# Fault kinds accepted by ShineMonitorSimulator.inject ("fail_code:<code>" as well).
FAULT_KINDS: Final = REPLACING_FAULTS | DATA_FAULTS | {"timeout", "fail_code:<code>"}
# Keys a data-shaping fault leaves alone, so the damaged answer is still addressable.
_IDENTITY_KEYS: Final = frozenset(
    {
        "title",
        "key",
        "par",
        "id",
        "unit",
        "pid",
        "uid",
        "usr",
        "name",
        "pn",
        "sn",
        "devcode",
        "devaddr",
        "alias",
        "total",
        "page",
        "pagesize",
    }
)

_HTML_MAINTENANCE: Final = maintenance_page("ShineMonitor", subject="platform")
_MALFORMED_JSON: Final = '{"err":0,"desc":"ERR_NONE","dat":{"total":1,"plant":[{"pid":'

_PREFIX_RE: Final = re.compile(r"sign=([^&]*)&salt=([^&]*)&")
_SIGN_RE: Final = re.compile(r"[0-9a-f]{40}")
_ACTION_RE: Final = re.compile(r"(?:^|&)action=([^&]*)")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,18}")
_I18N_RE: Final = re.compile(r"[a-z]{2}_[A-Z]{2}")
_UTC_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

# ---------------------------------------------------------------------------------------------
# Data model: closed-form sun curve, load and battery
# ---------------------------------------------------------------------------------------------

_FIRST_INSTALL: Final = date(2023, 4, 1)
_NOMINAL_KW: Final = (6.2, 4.5, 9.8, 3.6)
_STORAGE_PV_SHARE: Final = 0.4  # share of the plant's array on the storage inverter
_BATTERY_AH: Final = 200.0
_SOC_LOW: Final = 22.0
_SOC_SPAN: Final = 73.0  # top = 22 + 73 * weather: up to 95 %
_STORAGE_RATED_W: Final = 6200.0
_CO2_KG_PER_KWH: Final = 0.997
_COAL_KG_PER_KWH: Final = 0.4
_SO2_KG_PER_KWH: Final = 0.03

# Sites cycled through by new plants: UTC offset (s), country, province, city, lon, lat,
# currency and unit profit per kWh.
_SITES: Final = (
    (3600, "Netherlands", "North Holland", "Amsterdam", 4.89, 52.37, "EUR", 0.25),
    (28800, "China", "Guangdong", "Shenzhen", 114.06, 22.54, "CNY", 0.45),
    (-18000, "United States", "New York", "New York", -74.01, 40.71, "USD", 0.15),
    (19800, "India", "Maharashtra", "Mumbai", 72.88, 19.08, "INR", 6.5),
)
_TEST_SITE: Final = 1

# querySPDeviceLastData groups: (par, unit or None, id number).
_SP_LAYOUT: Final[dict[str, tuple[tuple[str, str | None, int], ...]]] = {
    "gd_": (
        ("Grid Voltage", "V", 15),
        ("Grid Frequency", "Hz", 16),
        ("Grid Active Power", "W", 17),
    ),
    "sy_": (("Operating Mode", None, 1),),
    "pv_": (
        ("PV1 Input Voltage", "V", 27),
        ("PV1 Input Current", "A", 28),
        ("PV Input Power", "W", 29),
        ("PV Energy Today", "kWh", 30),
        ("PV Energy Total", "kWh", 31),
    ),
    "bt_": (
        ("Battery Voltage", "V", 21),
        ("Battery Capacity", "%", 22),
        ("Battery Charging Current", "A", 23),
        ("Battery Discharge Current", "A", 24),
    ),
    "bc_": (
        ("Output Voltage", "V", 33),
        ("Output Frequency", "Hz", 34),
        ("Output Active Power", "W", 35),
        ("Output Load Percent", "%", 36),
    ),
}


# Control commands: how long an unprocessed command (status -1) that never lands blocks its
# collector, and the device's raw replies (Voltronic "(ACK" / "(NAK" with CRC and CR) in hex.
PENDING_TTL: Final = 300.0
ACK_HEX: Final = "28 41 43 4B 39 20 0D"
NAK_HEX: Final = "28 4E 41 4B 73 73 0D"


# Plant names: "{n}" is the plant's number (the standalone server's --plant-name).
PLANT_NAME = "Plant {n}"


@dataclass(frozen=True, slots=True)
class _CtrlField:
    """A control field of a device protocol: what queryDeviceCtrlField shows, and the device's
    own limits (``low`` / ``high``, independent of the displayed ``hint``)."""

    id: str
    name: str
    unit: str | None = None
    hint: str | None = None
    items: tuple[tuple[str, str], ...] = ()
    low: float | None = None
    high: float | None = None
    decimals: int = 0
    default: str | None = None

    @property
    def one_shot(self) -> bool:
        return len(self.items) == 1

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.unit is not None:
            out["unit"] = self.unit
        if self.hint is not None:
            out["hint"] = self.hint
        if self.items:
            out["item"] = [{"key": key, "val": val} for key, val in self.items]
        return out


def _enum(*labels: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(i), label) for i, label in enumerate(labels))


_DISABLE_ENABLE: Final = _enum("Disable", "Enable")
# The control fields of devcode 2376 (a 6.2 kW off-grid storage inverter, 48 V battery), in the
# cloud's order and wording (reference §1.4). One deliberate deviation: the off-grid battery
# cut-off shows the wrong hint "25.0~30.0V" (a 24 V range) that some devcodes really send on
# 48 V systems; the device itself takes 40.0–48.0 V. ``set_field_hint`` changes any hint.
_FIELDS_2376: Final = (
    _CtrlField(
        "bse_eybond_ctrl_48",
        "Output Mode",
        items=_enum("Single", "Parallel", "3P1", "3P2", "3P3", "2P1", "2P2"),
        default="0",
    ),
    _CtrlField(
        "bse_eybond_ctrl_49",
        "Output priority",
        items=_enum("UTI", "SOL", "SBU", "SUB"),
        default="2",
    ),
    _CtrlField(
        "bse_eybond_ctrl_50",
        "Input Voltage Range",
        items=_enum("Appliances", "UPS", "Generator"),
        default="0",
    ),
    _CtrlField(
        "sys_eybond_ctrl_51",
        "Buzzer Mode",
        items=_enum(
            "Beeps OFF", "Beeps ON", "Mute when input source changes", "Beeps only in fault mode"
        ),
        default="1",
    ),
    _CtrlField(
        "sys_eybond_ctrl_55",
        "Power Saving Mode",
        items=_enum("Saving Mode Disable", "Saving Mode Enable"),
        default="0",
    ),
    _CtrlField("sys_eybond_ctrl_58", "Overload Bypass", items=_DISABLE_ENABLE, default="1"),
    _CtrlField("sys_eybond_ctrl_60", "Battery EQ Mode", items=_DISABLE_ENABLE, default="0"),
    _CtrlField(
        "bse_eybond_ctrl_64",
        "Output Voltage",
        unit="V",
        items=(("220.0", "220Vac"), ("230.0", "230Vac"), ("240.0", "240Vac")),
        default="230.0",
    ),
    _CtrlField(
        "bse_eybond_ctrl_65",
        "Output Frequency",
        unit="HZ",
        items=(("50.00", "50Hz"), ("60.00", "60Hz")),
        default="50.00",
    ),
    _CtrlField(
        "bat_eybond_ctrl_83",
        "SOC recovery value of battery discharge in mains mode",
        unit="%",
        low=10,
        high=100,
        default="60",
    ),
    _CtrlField(
        "bat_eybond_ctrl_82",
        "Low DC Protection SOC In Grid Mode",
        unit="%",
        low=5,
        high=95,
        default="30",
    ),
    _CtrlField(
        "bat_eybond_ctrl_84",
        "Off grid mode battery discharge SOC protection value",
        unit="%",
        low=5,
        high=95,
        default="20",
    ),
    _CtrlField(
        "bat_eybond_ctrl_66",
        "Battery Type",
        items=_enum("AGM", "FLD", "USER", "Li1", "Li2", "Li3", "Li4"),
        default="3",
    ),
    _CtrlField(
        "bat_eybond_ctrl_67",
        "High DC Protection Voltage",
        unit="V",
        hint="60.4~66V",
        low=60.4,
        high=66.0,
        decimals=1,
        default="63.0",
    ),
    _CtrlField(
        "bat_eybond_ctrl_68",
        "Bulk Charging Voltage (C.V Voltage)",
        unit="V",
        hint="56.4~59.0V",
        low=56.4,
        high=59.0,
        decimals=1,
        default="57.6",
    ),
    _CtrlField(
        "bat_eybond_ctrl_69",
        "Floating Charging Voltage",
        unit="V",
        hint="48.0~56.4V",
        low=48.0,
        high=56.4,
        decimals=1,
        default="54.0",
    ),
    _CtrlField(
        "bat_eybond_ctrl_70",
        "Recovery Voltage Back To Mains Mode",
        unit="V",
        hint="54.4~48.0V",
        low=48.0,
        high=54.4,
        decimals=1,
        default="52.0",
    ),
    _CtrlField(
        "bat_eybond_ctrl_71",
        "Low DC Protection Voltage In Mains Mode",
        unit="V",
        hint="0.0~44.0V",
        low=40.0,
        high=48.0,
        decimals=1,
        default="44.0",
    ),
    _CtrlField(
        "bat_eybond_ctrl_73",
        "Low DC Protection Voltage In Off-Grid Mode",
        unit="V",
        hint="25.0~30.0V",
        low=40.0,
        high=48.0,
        decimals=1,
        default="42.0",
    ),
    _CtrlField(
        "bat_eybond_ctrl_74",
        "Time from C.V to Floating Charge",
        unit="min",
        hint="1~900min",
        low=1,
        high=900,
        default="120",
    ),
    _CtrlField(
        "bat_eybond_ctrl_75",
        "Charger Source Priority",
        items=_enum("Utility First", "PV First", "PV Is At The Same Level As Utility", "Only PV"),
        default="1",
    ),
    _CtrlField(
        "bat_eybond_ctrl_76",
        "Max.Charging Current",
        unit="A",
        hint="25.0~80A",
        low=10,
        high=80,
        default="60",
    ),
    _CtrlField(
        "bat_eybond_ctrl_77",
        "Max.AC.Charging Current",
        unit="A",
        hint="2~50.0A",
        low=2,
        high=60,
        default="30",
    ),
    _CtrlField(
        "bat_eybond_ctrl_78",
        "EQ Charing Voltage",
        unit="V",
        hint="56.4~61.0V",
        low=56.4,
        high=61.0,
        decimals=1,
        default="58.4",
    ),
    _CtrlField(
        "bat_eybond_ctrl_79",
        "EQ Charing Time",
        unit="min",
        hint="0-900min",
        low=0,
        high=900,
        default="60",
    ),
    _CtrlField(
        "sys_eybond_ctrl_98",
        "Boot method",
        items=_enum(
            "Can be powered on locally or remotely", "Only boot locally", "Only remote boot"
        ),
        default="0",
    ),
    _CtrlField(
        "sys_eybond_ctrl_82",
        "Auto AC Output",
        items=_enum("Disable With Power Switch OFF", "Enable With Power Switch ON"),
        default="1",
    ),
    _CtrlField(
        "sys_forced_eq_charging",
        "Forced EQ Charging",
        hint="手动强制Eq充电一次",
        items=(("1", "Forced EQ Charging Once"),),
    ),
    _CtrlField(
        "sys_exit_fault_mode",
        "Exit Fault Mode",
        hint="退出故障锁定状态",
        items=(("1", "Exit Fault Mode"),),
    ),
    _CtrlField(
        "sys_eybond_ctrl_95", "Clear Record", hint="清除记录", items=(("170", "Clear Record"),)
    ),
    _CtrlField("sys_eybond_ctrl_97", "Output control", items=_enum("OFF", "ON"), default="1"),
    _CtrlField(
        "sys_eybond_ctrl_96",
        "Reset User Settings",
        hint="重置用户参数",
        items=(("170", "Reset User Settings"),),
    ),
)
_NUMBER_RE: Final = re.compile(r"-?[0-9]{1,6}(?:\.([0-9]{1,6}))?")


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - the vendor's signing scheme


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


def _load_w(hour: float) -> float:
    """House load on the storage inverter's output: base, a morning and an evening peak."""
    return 300.0 + 700.0 * _bump(hour, 7.5, 1.0) + 1500.0 * _bump(hour, 19.5, 1.6)


def _soc_top(day_ord: int, seed: int) -> float:
    return _SOC_LOW + _SOC_SPAN * weather_factor(day_ord, seed)


def _soc(day_ord: int, hour: float, seed: int) -> tuple[float, float]:
    """Battery SOC (%) and its slope (%/h) at a local day and hour."""
    if hour < 8.0:  # still discharging since 18:00 yesterday (14 h)
        top = _soc_top(day_ord - 1, seed)
        slope = -(top - _SOC_LOW) / 14.0
        return top + slope * (hour + 6.0), slope
    top = _soc_top(day_ord, seed)
    if hour < 16.0:  # charging along a half cosine
        x = (hour - 8.0) / 8.0
        soc = _SOC_LOW + (top - _SOC_LOW) * (1.0 - math.cos(math.pi * x)) / 2.0
        return soc, (top - _SOC_LOW) * math.pi / 16.0 * math.sin(math.pi * x)
    if hour < 18.0:
        return top, 0.0
    slope = -(top - _SOC_LOW) / 14.0
    return top + slope * (hour - 18.0), slope


def _num(value: float, digits: int) -> str:
    """A value as the cloud writes it: a fixed-point string, never ``-0.0``."""
    return f"{round(value, digits) + 0.0:.{digits}f}"


@dataclass(slots=True)
class _Account:
    usr: str
    pwd: str
    uid: int
    disabled: bool = False


@dataclass(slots=True)
class _Pending:
    """A control command the device has not processed yet (ctrlDevice answered status -1)."""

    field_id: str
    value: str
    apply_at: float | None  # None: it never lands
    expires: float


@dataclass(slots=True)
class _Device:
    pn: str
    devcode: int
    devaddr: int
    sn: str
    alias: str
    plant_id: int
    peak_kw: float
    status_override: int | None = None
    offline: bool = False
    frozen_at: float | None = None
    never_reported: bool = False
    # Control field id -> stored value (as queryDeviceCtrlValue answers it).
    controls: dict[str, str] = field(default_factory=dict)
    pending: _Pending | None = None

    @property
    def storage(self) -> bool:
        return self.devcode // 256 == STORAGE_FAMILY


@dataclass(slots=True)
class _Collector:
    pn: str
    alias: str
    plant_id: int
    devices: list[_Device] = field(default_factory=list)
    offline: bool = False
    frozen_at: float | None = None


@dataclass(slots=True)
class _Plant:
    pid: int
    usr: str
    name: str
    offset: int
    tz: tzinfo
    country: str
    province: str
    city: str
    lon: float
    lat: float
    currency: str
    unit_profit: float
    nominal_kw: float
    install: datetime  # plant-local
    energy_offset: float
    collectors: list[_Collector] = field(default_factory=list)

    @property
    def install_ord(self) -> int:
        return self.install.date().toordinal()

    @property
    def devices(self) -> list[_Device]:
        return [dev for col in self.collectors for dev in col.devices]


@dataclass(slots=True)
class _Warning:
    id: str
    pid: int
    pn: str
    devcode: int
    devaddr: int
    sn: str
    level: int
    code: str
    desc: str
    gts: float
    handle: bool = False


@dataclass(slots=True)
class _Token:
    token: str
    secret: str
    usr: str
    expiry: float


class _RefusalError(Exception):
    """An ``err`` answer raised from deep inside a check."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


_NO_DATA: Final = object()


def _envelope(code: int, data: Any = _NO_DATA, detail: str = "") -> web.Response:
    name = ERR_NAMES.get(code, "ERR_FAIL")
    payload: dict[str, Any] = {"err": code, "desc": f"{name}({detail})" if detail else name}
    if code == OK and data is not _NO_DATA:
        payload["dat"] = data
    return json_response(payload)


_Params = dict[str, str]
_Endpoint = Callable[[_Params, _Account, float], Any]

# ---------------------------------------------------------------------------------------------
# Simulator
# ---------------------------------------------------------------------------------------------


class ShineMonitorSimulator(Simulator[int]):
    """In-process ShineMonitor open-platform server with test hooks; see the module docstring.

    Faults: ``path`` of ``inject`` is an action name such as ``"queryDeviceLastData"``
    (``"auth"`` for logins); without it any action except ``auth`` matches. Faults other than
    the data-shaping ones answer before any check. ``fail_code:<code>`` answers the envelope
    with that err (13 counts as a refusal); ``timeout`` waits ``timeout_delay`` seconds and
    then answers normally.
    """

    fault_exempt = "auth"
    fault_html = _HTML_MAINTENANCE
    fault_json = _MALFORMED_JSON
    identity_keys = _IDENTITY_KEYS

    def __init__(
        self,
        *,
        plants: int = 1,
        username: str = "demo",
        password: str = "demo",
        company_key: str = TEST_COMPANY_KEY,
        clock: Callable[[], float] | None = None,
        calls_per_minute: int | None = 300,
        token_ttl: int = TOKEN_TTL,
        data_interval: int = 300,
        storage: bool = True,
    ) -> None:
        super().__init__(clock)
        self.username = username
        self.company_key = company_key
        self.company_keys: set[str] = {company_key, TEST_COMPANY_KEY}
        self.calls_per_minute = calls_per_minute
        self.token_ttl = token_ttl
        self.data_interval = data_interval
        self.storage = storage

        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, deque[float]] = {}
        self._plants: dict[int, _Plant] = {}
        self._devices: dict[str, _Device] = {}
        self._collectors: dict[str, _Collector] = {}
        self._warnings: list[_Warning] = []
        self._next_pid = FIRST_PLANT_ID
        self._next_warning = 50_001
        self._site_index = 0
        # Control fields per devcode (a copy, so set_field_hint changes this simulator only),
        # and the err that replaces a devcode's field list (1: no device protocol).
        self._ctrl_fields: dict[int, list[_CtrlField]] = {DEVCODE_STORAGE: list(_FIELDS_2376)}
        self._ctrl_schema_errors: dict[int, int] = {}
        self._control_denied = False
        self._task_delay: float | None = 0.0
        self._failing_tasks: deque[str] = deque()
        self._ignored_tasks = 0
        # Every ctrlDevice that named a known device: (time, sn, id, val, outcome), the outcome
        # being "status <n>" or "err <code>".
        self.control_commands: list[tuple[float, str, str, str, str]] = []
        self._endpoints: dict[str, _Endpoint] = {
            "queryPlants": self._ep_plants,
            "queryPlantInfo": self._ep_plant_info,
            "queryPlantCurrentData": self._ep_plant_current,
            "queryPlantActiveOuputPowerCurrent": self._ep_plant_power,
            "queryPlantDeviceStatus": self._ep_plant_device_status,
            "queryDeviceStatus": self._ep_device_status,
            "queryDeviceLastData": self._ep_device_last,
            "querySPDeviceLastData": self._ep_sp_last,
            "queryPlantsWarning": self._ep_warnings,
            "queryDeviceCtrlField": self._ep_ctrl_field,
            "queryDeviceCtrlValue": self._ep_ctrl_value,
            "ctrlDevice": self._ep_ctrl_device,
            "queryPlantActiveOuputPowerOneDay": self._ep_power_one_day,
            "queryPlantEnergyDay": self._ep_energy_day,
        }

        self._accounts[username] = _Account(username, password, uid=1)
        for _ in range(plants):
            self.add_plant()
        if username != TEST_USR:
            self._accounts[TEST_USR] = _Account(TEST_USR, TEST_PWD, uid=2)
        self.add_plant(username=TEST_USR, plant_id=TEST_PLANT_ID, site=_TEST_SITE)

    # -- accounts, tokens --------------------------------------------------------------------

    def set_password(self, usr: str, pwd: str) -> None:
        """Change an account's password; tokens already issued stay valid."""
        self._accounts[usr].pwd = pwd

    def disable_user(self, usr: str, disabled: bool = True) -> None:
        """Refuse (or allow again) logins of an account with err 25."""
        self._accounts[usr].disabled = disabled

    def expire_tokens(self) -> None:
        """Put every issued token past its expiry: business calls then answer err 270."""
        now = self._clock()
        for token in self._tokens.values():
            token.expiry = min(token.expiry, now)

    def revoke_tokens(self) -> None:
        """Forget every issued token: business calls then answer err 10."""
        self._tokens.clear()

    def live_tokens(self, username: str | None = None) -> list[str]:
        """Tokens not yet expired, oldest first (of one account when ``username`` is given)."""
        now = self._clock()
        return [
            t.token
            for t in self._tokens.values()
            if now < t.expiry and (username is None or t.usr == username)
        ]

    def reset_limits(self) -> None:
        """Forget the calls counted against the per-minute limit."""
        self._windows.clear()

    # -- plants and devices ------------------------------------------------------------------

    def add_plant(
        self,
        *,
        username: str | None = None,
        name: str | None = None,
        nominal_power: float | None = None,
        tz_offset: int | None = None,
        storage: bool | None = None,
        energy_offset: float = 0.0,
        plant_id: int | None = None,
        site: int | None = None,
        zone: tzinfo | None = None,
    ) -> int:
        """Add a plant (one collector, a grid-tie inverter and, with ``storage``, an energy-storage
        inverter) to an account (the configured one by default) and return its id.

        ``zone`` (a zone with daylight-saving time, say) replaces the site's fixed offset: local
        times and days follow it, and the plant's address shows its offset at the time."""
        usr = username or self.username
        if usr not in self._accounts:
            raise KeyError(usr)
        index = self._site_index
        self._site_index += 1
        if plant_id is None:
            while self._next_pid in self._plants:
                self._next_pid += 1
            plant_id = self._next_pid
            self._next_pid += 1
        elif plant_id in self._plants:
            raise ValueError(f"plant {plant_id} exists")
        offset, country, province, city, lon, lat, currency, profit = _SITES[
            index % len(_SITES) if site is None else site % len(_SITES)
        ]
        if tz_offset is not None:
            offset = tz_offset
        tz: tzinfo = timezone(timedelta(seconds=offset))
        if zone is not None:
            tz = zone
            delta = datetime.fromtimestamp(self._clock(), zone).utcoffset()
            offset = int(delta.total_seconds()) if delta is not None else 0
        nominal = nominal_power if nominal_power is not None else _NOMINAL_KW[index % 4]
        has_storage = self.storage if storage is None else storage
        own = sum(1 for p in self._plants.values() if p.usr == usr)
        day = _FIRST_INSTALL + timedelta(days=37 * index)
        plant = _Plant(
            pid=plant_id,
            usr=usr,
            name=name or PLANT_NAME.format(n=own + 1),
            offset=offset,
            tz=tz,
            country=country,
            province=province,
            city=city,
            lon=round(lon + 0.01 * index, 2),
            lat=round(lat + 0.01 * index, 2),
            currency=currency,
            unit_profit=profit,
            nominal_kw=nominal,
            install=datetime(day.year, day.month, day.day, 10, tzinfo=tz),
            energy_offset=energy_offset,
        )
        pn = f"W00{plant_id % 10**8:08d}001"
        collector = _Collector(pn=pn, alias=f"Datalogger {plant_id}", plant_id=plant_id)
        pv_share = 1.0 - _STORAGE_PV_SHARE if has_storage else 1.0
        collector.devices.append(
            _Device(
                pn=pn,
                devcode=DEVCODE_PV,
                devaddr=1,
                sn=f"PV{plant_id % 10**8:08d}0001",
                alias=f"Inverter {plant_id}",
                plant_id=plant_id,
                peak_kw=nominal * pv_share,
            )
        )
        if has_storage:
            collector.devices.append(
                _Device(
                    pn=pn,
                    devcode=DEVCODE_STORAGE,
                    devaddr=2,
                    sn=f"ES{plant_id % 10**8:08d}0002",
                    alias=f"Storage {plant_id}",
                    plant_id=plant_id,
                    peak_kw=nominal * _STORAGE_PV_SHARE,
                )
            )
        plant.collectors.append(collector)
        self._plants[plant_id] = plant
        self._collectors[pn] = collector
        for device in collector.devices:
            self._devices[device.sn] = device
            device.controls = {
                f.id: f.default
                for f in self._ctrl_fields.get(device.devcode, ())
                if f.default is not None
            }
        return plant_id

    def remove_plant(self, plant_id: int) -> None:
        """Delete a plant with its collectors, devices and warnings."""
        plant = self._plants.pop(plant_id)
        for collector in plant.collectors:
            self._collectors.pop(collector.pn, None)
            for device in collector.devices:
                self._devices.pop(device.sn, None)
        self._warnings = [w for w in self._warnings if w.pid != plant_id]

    def plant_ids(self, username: str | None = None) -> list[int]:
        """Plant ids of an account (the configured one by default), ascending."""
        usr = username or self.username
        if usr not in self._accounts:
            raise KeyError(usr)
        return sorted(p.pid for p in self._plants.values() if p.usr == usr)

    def devices(self, plant_id: int) -> list[dict[str, Any]]:
        """The plant's devices as address tuples: pn, devcode, devaddr, sn."""
        return [
            {"pn": d.pn, "devcode": d.devcode, "devaddr": d.devaddr, "sn": d.sn}
            for d in self._plants[plant_id].devices
        ]

    def set_device_offline(self, sn: str, offline: bool = True) -> None:
        """Take a device offline (status 1, last data err 262, data frozen) or back online."""
        device = self._devices[sn]
        device.offline = offline
        device.frozen_at = (device.frozen_at or self._data_time(self._clock())) if offline else None

    def set_collector_offline(self, pn: str, offline: bool = True) -> None:
        """Take a collector offline (it and its devices status 1, last data err 263)."""
        collector = self._collectors[pn]
        collector.offline = offline
        collector.frozen_at = (
            (collector.frozen_at or self._data_time(self._clock())) if offline else None
        )

    def set_never_reported(self, sn: str, value: bool = True) -> None:
        """Mark a device as never having uploaded data (last data err 12, status 1)."""
        self._devices[sn].never_reported = value

    def set_device_status(self, sn: str, status: int | None) -> None:
        """Force the reported status of a device (0–6); None returns to the computed one."""
        if status is not None and not 0 <= status <= 6:
            raise ValueError(f"device status must be 0-6, not {status}")
        self._devices[sn].status_override = status

    # -- controls ----------------------------------------------------------------------------

    def control_value(self, sn: str, field_id: str) -> str | None:
        """The value a device stores for a control field (what a read-back answers)."""
        device = self._devices[sn]
        self._settle(device, self._clock())
        return device.controls.get(field_id)

    def control_fields(self, devcode: int = DEVCODE_STORAGE) -> list[dict[str, Any]]:
        """The control fields a devcode shows (as queryDeviceCtrlField lists them)."""
        return [ctrl.as_dict() for ctrl in self._ctrl_fields.get(devcode, ())]

    def set_control_value(self, sn: str, field_id: str, value: str) -> None:
        """Change a stored control value (as if set on the device's own panel)."""
        device = self._devices[sn]
        if self._ctrl_field(device, field_id) is None:
            raise KeyError(field_id)
        device.controls[field_id] = value

    def set_field_hint(
        self, field_id: str, hint: str | None, devcode: int = DEVCODE_STORAGE
    ) -> None:
        """Show another hint (or none) for a control field of a devcode; the device's own limits
        stay as they are."""
        fields = self._ctrl_fields[devcode]
        for index, ctrl in enumerate(fields):
            if ctrl.id == field_id:
                fields[index] = replace(ctrl, hint=hint)
                return
        raise KeyError(field_id)

    def set_control_schema_error(self, devcode: int, code: int | None) -> None:
        """Answer queryDeviceCtrlField of a devcode with an err (1: no device protocol, 12: no
        visible control items) instead of its fields; None restores the fields."""
        if code is None:
            self._ctrl_schema_errors.pop(devcode, None)
        else:
            self._ctrl_schema_errors[devcode] = code

    def deny_control(self, denied: bool = True) -> None:
        """Refuse every ctrlDevice with err 8 ERR_FORBIDDEN (a view-only account)."""
        self._control_denied = denied

    def set_task_delay(self, seconds: float | None) -> None:
        """How ctrlDevice answers: 0 (the default) delivers at once (status 0); more than 0
        answers status -1 and the value lands that many seconds later on the simulator's clock;
        None answers status -1 and the value never lands (the command is dropped after
        ``PENDING_TTL``)."""
        if seconds is not None and seconds < 0:
            raise ValueError("the delay cannot be negative")
        self._task_delay = seconds

    def fail_next_task(self, reply: str = NAK_HEX, count: int = 1) -> None:
        """The next ``count`` valid ctrlDevice commands reach the device, which refuses them:
        status 1 with ``reply`` as the raw answer; the stored value stays."""
        self._failing_tasks.extend([reply] * count)

    def ignore_next_task(self, count: int = 1) -> None:
        """The next ``count`` valid ctrlDevice commands are acknowledged (status 0, "(ACK")
        but the device keeps its old value, as firmware that does not apply a setting does."""
        self._ignored_tasks += count

    def _ctrl_field(self, device: _Device, field_id: str) -> _CtrlField | None:
        return next(
            (f for f in self._ctrl_fields.get(device.devcode, ()) if f.id == field_id), None
        )

    def _settle(self, device: _Device, now: float) -> None:
        """Land an unprocessed command whose time has come, or drop one that expired."""
        pending = device.pending
        if pending is None:
            return
        if pending.apply_at is not None and now >= pending.apply_at:
            device.controls[pending.field_id] = pending.value
            device.pending = None
        elif pending.apply_at is None and now >= pending.expires:
            device.pending = None

    def raise_warning(
        self,
        plant_id: int,
        sn: str,
        *,
        level: int = 1,
        code: str = "04",
        desc: str = "Grid voltage out of range",
    ) -> str:
        """Open an unhandled warning (level 0 warning, 1 error, 2 fault) and return its id."""
        device = self._devices[sn]
        if device.plant_id != plant_id:
            raise ValueError(f"{sn} is not in plant {plant_id}")
        if level not in WARNING_LEVELS:
            raise ValueError("level must be 0, 1 or 2")
        warning_id = str(self._next_warning)
        self._next_warning += 1
        self._warnings.append(
            _Warning(
                id=warning_id,
                pid=plant_id,
                pn=device.pn,
                devcode=device.devcode,
                devaddr=device.devaddr,
                sn=sn,
                level=level,
                code=code,
                desc=desc,
                gts=self._clock(),
            )
        )
        return warning_id

    def handle_warning(self, warning_id: str) -> None:
        """Mark a warning handled."""
        for warning in self._warnings:
            if warning.id == warning_id:
                warning.handle = True
                return
        raise KeyError(warning_id)

    # -- measurements ------------------------------------------------------------------------

    def _data_time(self, now: float) -> float:
        return refresh_time(now, self.data_interval)

    def _frozen_at(self, device: _Device) -> float | None:
        collector = self._collectors[device.pn]
        stops = [t for t in (device.frozen_at, collector.frozen_at) if t is not None]
        return min(stops) if stops else None

    def _device_time(self, device: _Device, now: float) -> float:
        moment = self._data_time(now)
        frozen = self._frozen_at(device)
        return min(moment, frozen) if frozen is not None else moment

    def _day_kwh(self, device: _Device, plant: _Plant, day_ord: int) -> float:
        if day_ord < plant.install_ord:
            return 0.0
        return device.peak_kw * DERATE * weather_factor(day_ord, plant.pid) * 24.0 / math.pi

    def _sum_kwh(self, device: _Device, plant: _Plant, first: int, stop: int) -> float:
        """PV energy of whole local days ``first <= d < stop``."""
        first = max(first, plant.install_ord)
        return device.peak_kw * DERATE * 24.0 / math.pi * weather_sum(first, stop, plant.pid)

    def _generation(self, device: _Device, moment: float) -> dict[str, Any]:
        """PV power and energy counters of a device at ``moment`` (plant-local calendar)."""
        plant = self._plants[device.plant_id]
        local = datetime.fromtimestamp(moment, plant.tz)
        day = local.date()
        ordinal = day.toordinal()
        hour = local_hour(local)
        sun = sun_curve(hour)
        weather = weather_factor(ordinal, plant.pid)
        active = ordinal >= plant.install_ord
        today = self._day_kwh(device, plant, ordinal) * sun_done(hour)
        return {
            "local": local,
            "ordinal": ordinal,
            "hour": hour,
            "sun": sun,
            "weather": weather,
            "power_kw": device.peak_kw * DERATE * weather * sun if active else 0.0,
            "today": today,
            "month": self._sum_kwh(device, plant, day.replace(day=1).toordinal(), ordinal) + today,
            "year": self._sum_kwh(device, plant, date(day.year, 1, 1).toordinal(), ordinal) + today,
            "total": self._sum_kwh(device, plant, plant.install_ord, ordinal) + today,
            "wobble": (device.devaddr * 7 + int(hour * 12)) % 5,
        }

    def _device_status(self, device: _Device) -> int:
        if device.status_override is not None:
            return device.status_override
        if device.offline or device.never_reported or self._collectors[device.pn].offline:
            return STATUS_OFFLINE
        levels = [w.level for w in self._warnings if w.sn == device.sn and not w.handle]
        if levels:
            return WARNING_LEVELS[max(levels)]
        return STATUS_ONLINE

    def _plant_status(self, plant: _Plant) -> int:
        statuses = [self._device_status(d) for d in plant.devices]
        if not statuses or all(s == STATUS_OFFLINE for s in statuses):
            return STATUS_OFFLINE
        if STATUS_FAULT in statuses:
            return STATUS_FAULT
        if any(s in (STATUS_WARNING, STATUS_ERROR, STATUS_PROTOCOL_ERROR) for s in statuses):
            return STATUS_WARNING
        if all(s == STATUS_STANDBY for s in statuses):
            return STATUS_STANDBY
        return STATUS_ONLINE

    def _pv_rows(self, device: _Device, gen: dict[str, Any]) -> list[tuple[str, str | None, str]]:
        """queryDeviceLastData rows of a grid-tie inverter: (title, unit, val)."""
        power_w = gen["power_kw"] * 1000.0
        wobble = gen["wobble"]
        running = power_w > 0.0
        dc_w = power_w / 0.965 if running else 0.0
        pv1_v = 320.0 + 60.0 * gen["sun"] + wobble if running else 0.0
        pv2_v = pv1_v - 6.0 if running else 0.0
        grid_v = 229.5 + 0.3 * wobble
        status = self._device_status(device)
        if status in (STATUS_FAULT, STATUS_ERROR):
            state = "Fault"
        elif status == STATUS_STANDBY or not running:
            state = "Standby"
        else:
            state = "Normal"
        return [
            ("PV1 Input Voltage", "V", _num(pv1_v, 1)),
            ("PV1 Input Current", "A", _num(dc_w / 2.0 / pv1_v if running else 0.0, 1)),
            ("PV2 Input Voltage", "V", _num(pv2_v, 1)),
            ("PV2 Input Current", "A", _num(dc_w / 2.0 / pv2_v if running else 0.0, 1)),
            ("PV Input Power", "W", _num(dc_w, 0)),
            ("Grid Voltage", "V", _num(grid_v, 1)),
            ("Grid Current", "A", _num(power_w / grid_v, 1)),
            ("Grid Frequency", "Hz", _num(49.98 + 0.01 * wobble, 2)),
            ("Output Power", "kW", _num(gen["power_kw"], 3)),
            ("Energy Today", "kWh", _num(gen["today"], 1)),
            ("Energy Total", "kWh", _num(gen["total"], 1)),
            ("Inverter Temperature", "℃", _num(20.0 + 25.0 * gen["sun"] * gen["weather"], 1)),
            ("Operating State", None, state),
        ]

    def _storage_state(self, device: _Device, gen: dict[str, Any]) -> dict[str, float]:
        """Battery, load and grid figures of an energy-storage inverter."""
        plant = self._plants[device.plant_id]
        soc, slope = _soc(gen["ordinal"], gen["hour"], plant.pid)
        current = abs(slope) * _BATTERY_AH / 100.0
        charging = slope > 0.0
        discharging = slope < 0.0
        volts = 48.0 + 0.075 * soc + (0.8 if charging else -0.5 if discharging else 0.0)
        charge_a = current if charging else 0.0
        discharge_a = current if discharging else 0.0
        pv_w = gen["power_kw"] * 1000.0
        load_w = _load_w(gen["hour"]) + 40.0 * gen["wobble"]
        grid_w = max(0.0, load_w + charge_a * volts - pv_w - discharge_a * volts)
        return {
            "soc": soc,
            "battery_v": volts,
            "charge_a": charge_a,
            "discharge_a": discharge_a,
            "pv_w": pv_w,
            "load_w": load_w,
            "grid_w": grid_w,
        }

    def _sp_values(self, device: _Device, gen: dict[str, Any]) -> dict[str, str]:
        """querySPDeviceLastData values of an energy-storage inverter by par name."""
        state = self._storage_state(device, gen)
        wobble = gen["wobble"]
        pv_w = state["pv_w"]
        pv_v = 250.0 + 60.0 * gen["sun"] + wobble if pv_w > 0.0 else 0.0
        status = self._device_status(device)
        if status in (STATUS_FAULT, STATUS_ERROR):
            mode = "Fault Mode"
        elif status == STATUS_STANDBY:
            mode = "Standby Mode"
        elif state["grid_w"] > 0.0:
            mode = "Line Mode"
        else:
            mode = "Battery Mode"
        return {
            "Grid Voltage": _num(230.0 + 0.4 * wobble, 1),
            "Grid Frequency": _num(49.99 + 0.01 * (wobble % 3), 2),
            "Grid Active Power": _num(state["grid_w"], 0),
            "Operating Mode": mode,
            "PV1 Input Voltage": _num(pv_v, 1),
            "PV1 Input Current": _num(pv_w / pv_v if pv_v else 0.0, 1),
            "PV Input Power": _num(pv_w, 0),
            "PV Energy Today": _num(gen["today"], 1),
            "PV Energy Total": _num(gen["total"], 1),
            "Battery Voltage": _num(state["battery_v"], 1),
            "Battery Capacity": _num(state["soc"], 0),
            "Battery Charging Current": _num(state["charge_a"], 1),
            "Battery Discharge Current": _num(state["discharge_a"], 1),
            "Output Voltage": _num(230.0, 1),
            "Output Frequency": _num(50.0, 2),
            "Output Active Power": _num(state["load_w"], 0),
            "Output Load Percent": _num(100.0 * state["load_w"] / _STORAGE_RATED_W, 0),
        }

    def _plant_values(self, plant: _Plant, now: float) -> dict[str, Any]:
        """Plant sums over the devices that have data (offline ones add no power)."""
        moment = self._data_time(now)
        local = datetime.fromtimestamp(moment, plant.tz)
        power = today = month = year = total = 0.0
        socs: list[float] = []
        for device in plant.devices:
            if device.never_reported:
                continue
            frozen = self._frozen_at(device)
            gen = self._generation(device, self._device_time(device, now))
            seen: datetime = gen["local"]
            if frozen is None:
                power += gen["power_kw"]
            total += gen["total"]
            if seen.year == local.year:
                year += gen["year"]
                if seen.month == local.month:
                    month += gen["month"]
                    if seen.day == local.day:
                        today += gen["today"]
            if device.storage:
                socs.append(self._storage_state(device, gen)["soc"])
        hour = local_hour(local)
        weather = weather_factor(local.toordinal(), plant.pid)
        return {
            "local": local,
            "power_kw": power,
            "today": today,
            "month": month,
            "year": year,
            "total": total + plant.energy_offset,
            "soc": sum(socs) / len(socs) if socs else None,
            "temp": 12.0 + 12.0 * sun_curve(hour) * weather,
            "radiant": 1000.0 * sun_curve(hour) * weather,
        }

    def device_values(self, sn: str) -> dict[str, str]:
        """The device's current last-data values by title (for assertions), ignoring offline."""
        device = self._devices[sn]
        gen = self._generation(device, self._device_time(device, self._clock()))
        if device.storage:
            return self._sp_values(device, gen)
        return {title: val for title, _unit, val in self._pv_rows(device, gen)}

    # -- parameters --------------------------------------------------------------------------

    @staticmethod
    def _parse_tail(tail: str) -> _Params:
        """``&action=x&k=v…`` → decoded parameters; a repeated key or bare segment is err 6."""
        params: _Params = {}
        for segment in tail[1:].split("&"):
            key, sep, value = segment.partition("=")
            if not sep or not key:
                raise _RefusalError(E_FORMAT, f"bad parameter {segment!r}")
            name = unquote(key)
            if name in params:
                raise _RefusalError(E_FORMAT, f"repeated {name}")
            params[name] = unquote(value)
        return params

    @staticmethod
    def _require(params: _Params, *names: str) -> None:
        for name in names:
            if not params.get(name):
                raise _RefusalError(E_MISSING, name)

    @staticmethod
    def _int(params: _Params, name: str, default: int | None = None) -> int:
        text = params.get(name)
        if text is None or text == "":
            if default is None:
                raise _RefusalError(E_MISSING, name)
            return default
        if not _DIGITS_RE.fullmatch(text):
            raise _RefusalError(E_FORMAT, name)
        return int(text)

    @staticmethod
    def _i18n(params: _Params) -> str:
        text = params.get("i18n")
        if not text:
            raise _RefusalError(E_MISSING, "i18n")
        if not _I18N_RE.fullmatch(text):
            raise _RefusalError(E_FORMAT, "i18n")
        return text

    def _paging(self, params: _Params) -> tuple[int, int]:
        page = self._int(params, "page", 0)
        size = self._int(params, "pagesize", DEFAULT_PAGESIZE)
        if not 1 <= size <= MAX_PAGESIZE:
            raise _RefusalError(E_FORMAT, "pagesize")
        return page, size

    def _plant_param(self, params: _Params, account: _Account) -> _Plant:
        plant_id = self._int(params, "plantid")
        plant = self._plants.get(plant_id)
        if plant is None:
            raise _RefusalError(E_NO_PLANT)
        if plant.usr != account.usr:
            raise _RefusalError(E_NO_PERMISSION)
        return plant

    def _resolve(self, pn: str, devcode: int, devaddr: int, sn: str, account: _Account) -> _Device:
        device = self._devices.get(sn)
        if device is None or (device.pn, device.devcode, device.devaddr) != (pn, devcode, devaddr):
            raise _RefusalError(E_NO_DEVICE)
        if self._plants[device.plant_id].usr != account.usr:
            raise _RefusalError(E_NO_PERMISSION)
        return device

    def _device_param(self, params: _Params, account: _Account) -> _Device:
        self._require(params, "pn", "devcode", "devaddr", "sn", "i18n")
        self._i18n(params)
        devcode = self._int(params, "devcode")
        devaddr = self._int(params, "devaddr")
        return self._resolve(params["pn"], devcode, devaddr, params["sn"], account)

    def _data_moment(self, device: _Device, now: float) -> float:
        """The moment of a device's last data, or the err that replaces it."""
        if self._collectors[device.pn].offline:
            raise _RefusalError(E_COLLECTOR_OFFLINE)
        if device.offline:
            raise _RefusalError(E_DEVICE_OFFLINE)
        if device.never_reported:
            raise _RefusalError(E_NO_RECORD)
        moment = self._device_time(device, now)
        if moment < self._plants[device.plant_id].install.timestamp():
            raise _RefusalError(E_NO_RECORD)
        return moment

    # -- actions -----------------------------------------------------------------------------

    def _plant_dict(self, plant: _Plant) -> dict[str, Any]:
        install = plant.install.strftime(_TIME_FORMAT)
        return {
            "pid": plant.pid,
            "uid": self._accounts[plant.usr].uid,
            "usr": plant.usr,
            "name": plant.name,
            "status": self._plant_status(plant),
            "energyOffset": _num(plant.energy_offset, 1),
            "address": {
                "country": plant.country,
                "province": plant.province,
                "city": plant.city,
                "county": "",
                "town": "",
                "address": f"{plant.city} {plant.pid}",
                "lon": f"{plant.lon:.2f}",
                "lat": f"{plant.lat:.2f}",
                "timezone": plant.offset,
            },
            "profit": {
                "unitProfit": f"{plant.unit_profit:g}",
                "currency": plant.currency,
                "coal": f"{_COAL_KG_PER_KWH:g}",
                "co2": f"{_CO2_KG_PER_KWH:g}",
                "so2": f"{_SO2_KG_PER_KWH:g}",
            },
            "nominalPower": f"{plant.nominal_kw:g}",
            "energyYearEstimate": str(round(plant.nominal_kw * 1130)),
            "designCompany": "Solar Installer Ltd",
            "install": install,
            "gts": install,
        }

    def _ep_plants(self, params: _Params, account: _Account, now: float) -> Any:
        page, size = self._paging(params)
        plants = [self._plants[pid] for pid in self.plant_ids(account.usr)]
        if not plants:
            raise _RefusalError(E_NO_RECORD, "no plant")
        chunk = plants[page * size : (page + 1) * size]
        if not chunk:
            raise _RefusalError(E_NO_RECORD, "page")
        return {
            "total": len(plants),
            "page": page,
            "pagesize": size,
            "plant": [self._plant_dict(p) for p in chunk],
        }

    def _ep_plant_info(self, params: _Params, account: _Account, now: float) -> Any:
        return self._plant_dict(self._plant_param(params, account))

    def _ep_plant_current(self, params: _Params, account: _Account, now: float) -> Any:
        plant = self._plant_param(params, account)
        self._require(params, "par")
        names = params["par"].split(",")
        for name in names:
            if name not in PLANT_PARS:
                raise _RefusalError(E_FORMAT, f"par {name}")
        values = self._plant_values(plant, now)
        total = values["total"]
        formatted = {
            "ENERGY_TODAY": _num(values["today"], 1),
            "ENERGY_MONTH": _num(values["month"], 1),
            "ENERGY_YEAR": _num(values["year"], 1),
            "ENERGY_TOTAL": _num(total, 1),
            "ENERGY_PROCEEDS": _num(total * plant.unit_profit, 2),
            "ENERGY_CO2": _num(total * _CO2_KG_PER_KWH / 1000.0, 3),
            "CURRENT_TEMP": _num(values["temp"], 1),
            "CURRENT_RADIANT": _num(values["radiant"], 0),
            "ENERGY_COAL": _num(total * _COAL_KG_PER_KWH / 1000.0, 3),
            "ENERGY_SO2": _num(total * _SO2_KG_PER_KWH / 1000.0, 3),
            "CURRENT_POWER": _num(values["power_kw"], 3),
        }
        if values["soc"] is not None:
            formatted["BATTERY_SOC"] = _num(values["soc"], 0)
        return [{"key": name, "val": formatted[name]} for name in names if name in formatted]

    def _ep_plant_power(self, params: _Params, account: _Account, now: float) -> Any:
        values = self._plant_values(self._plant_param(params, account), now)
        return {
            "outputPower": _num(values["power_kw"], 3),
            "ts": values["local"].strftime(_TIME_FORMAT),
        }

    def _ep_plant_device_status(self, params: _Params, account: _Account, now: float) -> Any:
        plant = self._plant_param(params, account)
        return {
            "status": self._plant_status(plant),
            "collector": [
                {
                    "pn": col.pn,
                    "alias": col.alias,
                    "status": STATUS_OFFLINE if col.offline else STATUS_ONLINE,
                    "device": [
                        {
                            "devcode": dev.devcode,
                            "devaddr": dev.devaddr,
                            "sn": dev.sn,
                            "alias": dev.alias,
                            "status": self._device_status(dev),
                        }
                        for dev in col.devices
                    ],
                }
                for col in plant.collectors
            ],
        }

    def _ep_device_status(self, params: _Params, account: _Account, now: float) -> Any:
        self._require(params, "device")
        tuples = params["device"].split(";")
        if len(tuples) > MAX_TUPLES:
            raise _RefusalError(E_FORMAT, f"more than {MAX_TUPLES} devices")
        addresses: list[tuple[str, int, int, str]] = []
        for text in tuples:
            parts = text.split(",")
            if (
                len(parts) != 4
                or not parts[0]
                or not parts[3]
                or not _DIGITS_RE.fullmatch(parts[1])
                or not _DIGITS_RE.fullmatch(parts[2])
            ):
                raise _RefusalError(E_FORMAT, "device")
            addresses.append((parts[0], int(parts[1]), int(parts[2]), parts[3]))
        devices = [self._resolve(*address, account) for address in addresses]
        return {
            "device": [
                {
                    "pn": d.pn,
                    "devcode": d.devcode,
                    "devaddr": d.devaddr,
                    "sn": d.sn,
                    "status": self._device_status(d),
                }
                for d in devices
            ]
        }

    @staticmethod
    def _row_id(device: _Device, moment: float) -> str:
        return f"{int(moment):x}{device.devaddr:02x}"

    def _sp_groups(self, device: _Device, gen: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        values = self._sp_values(device, gen)
        groups: dict[str, list[dict[str, str]]] = {}
        for group, layout in _SP_LAYOUT.items():
            items = []
            for par, unit, number in layout:
                item = {"id": f"{group}eybond_read_{number}", "par": par, "val": values[par]}
                if unit is not None:
                    item["unit"] = unit
                items.append(item)
            groups[group] = items
        return groups

    def _ep_device_last(self, params: _Params, account: _Account, now: float) -> Any:
        device = self._device_param(params, account)
        moment = self._data_moment(device, now)
        gen = self._generation(device, moment)
        rows: list[dict[str, str]] = [
            {"title": "Id", "val": self._row_id(device, moment)},
            {"title": "Timestamp", "val": gen["local"].strftime(_TIME_FORMAT)},
        ]
        if device.storage:
            for items in self._sp_groups(device, gen).values():
                for item in items:
                    row = {"title": item["par"], "val": item["val"]}
                    if "unit" in item:
                        row["unit"] = item["unit"]
                    rows.append(row)
            return rows
        for title, unit, val in self._pv_rows(device, gen):
            row = {"title": title, "val": val}
            if unit is not None:
                row["unit"] = unit
            rows.append(row)
        return rows

    def _ep_sp_last(self, params: _Params, account: _Account, now: float) -> Any:
        device = self._device_param(params, account)
        if params.get("source") not in (None, "0", "1"):
            raise _RefusalError(E_FORMAT, "source")
        if not device.storage:
            raise _RefusalError(E_NO_RECORD, "not an energy-storage device")
        moment = self._data_moment(device, now)
        gen = self._generation(device, moment)
        return {"gts": gen["local"].strftime(_TIME_FORMAT), "pars": self._sp_groups(device, gen)}

    def _utc_param(self, params: _Params, name: str) -> float | None:
        text = params.get(name)
        if text is None or text == "":
            return None
        if not _UTC_RE.fullmatch(text):
            raise _RefusalError(E_FORMAT, name)
        try:
            return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise _RefusalError(E_FORMAT, name) from None

    def _ep_warnings(self, params: _Params, account: _Account, now: float) -> Any:
        self._i18n(params)
        plant = self._plant_param(params, account) if params.get("plantid") else None
        handle_text = params.get("handle")
        if handle_text not in (None, "", "true", "false"):
            raise _RefusalError(E_FORMAT, "handle")
        handle = None if not handle_text else handle_text == "true"
        page, size = self._paging(params)
        start = self._utc_param(params, "sdate")
        end = self._utc_param(params, "edate")
        own = set(self.plant_ids(account.usr))
        matches = [
            w
            for w in self._warnings
            if w.pid in own
            and (plant is None or w.pid == plant.pid)
            and (handle is None or w.handle == handle)
            and (start is None or w.gts >= start)
            and (end is None or w.gts < end)
        ]
        matches.sort(key=lambda w: (w.gts, int(w.id)), reverse=True)
        chunk = matches[page * size : (page + 1) * size]
        if not chunk:
            raise _RefusalError(E_NO_WARNING)
        return {
            "total": len(matches),
            "page": page,
            "pagesize": size,
            "warning": [
                {
                    "id": w.id,
                    "pid": w.pid,
                    "pn": w.pn,
                    "devcode": w.devcode,
                    "devaddr": w.devaddr,
                    "sn": w.sn,
                    "level": w.level,
                    "code": w.code,
                    "desc": w.desc,
                    "handle": w.handle,
                    "gts": datetime.fromtimestamp(w.gts, UTC).strftime(_TIME_FORMAT),
                }
                for w in chunk
            ],
        }

    # -- history -----------------------------------------------------------------------------

    def _date_param(self, params: _Params, plant: _Plant, now: float) -> date:
        """``date`` (``YYYY-MM-DD``, the plant's local calendar): 7 absent, 6 malformed, 12 a day
        after the plant's today."""
        text = params.get("date")
        if not text:
            raise _RefusalError(E_MISSING, "date")
        if not _DATE_RE.fullmatch(text):
            raise _RefusalError(E_FORMAT, "date")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise _RefusalError(E_FORMAT, "date") from None
        if day > datetime.fromtimestamp(now, plant.tz).date():
            raise _RefusalError(E_NO_RECORD, "future date")
        return day

    @staticmethod
    def _local_bounds(plant: _Plant, day: date) -> tuple[float, float]:
        after = day + timedelta(days=1)
        start = datetime(day.year, day.month, day.day, tzinfo=plant.tz).timestamp()
        end = datetime(after.year, after.month, after.day, tzinfo=plant.tz).timestamp()
        return start, end

    def day_energy(self, plant_id: int, day: date) -> float:
        """The plant's energy of a local day up to its last data (kWh, unrounded): what
        ``ENERGY_TODAY`` shows for today and ``queryPlantEnergyDay`` for any day."""
        plant = self._plants[plant_id]
        now = self._clock()
        start, end = self._local_bounds(plant, day)
        total = 0.0
        for device in plant.devices:
            if device.never_reported:
                continue
            moment = min(self._device_time(device, now), end - 0.001)
            if moment >= start:
                total += self._generation(device, moment)["today"]
        return total

    def power_curve(self, plant_id: int, day: date) -> list[tuple[float, float]]:
        """(time, kW) of the plant's day curve: one sample per data refresh from local
        midnight to the last refresh before now (or the day's end); devices that stopped
        reporting add nothing after they stopped."""
        plant = self._plants[plant_id]
        now = self._clock()
        start, end = self._local_bounds(plant, day)
        step = float(self.data_interval or 300)
        last = min(end - 0.001, self._data_time(now))
        samples: list[tuple[float, float]] = []
        moment = math.ceil(start / step) * step
        while moment <= last:
            power = 0.0
            for device in plant.devices:
                frozen = self._frozen_at(device)
                if device.never_reported or (frozen is not None and moment > frozen):
                    continue
                power += self._generation(device, moment)["power_kw"]
            samples.append((moment, power))
            moment += step
        return samples

    def _ep_power_one_day(self, params: _Params, account: _Account, now: float) -> Any:
        plant = self._plant_param(params, account)
        day = self._date_param(params, plant, now)
        if day < plant.install.date():
            raise _RefusalError(E_NO_RECORD)
        samples = self.power_curve(plant.pid, day)
        if not samples:
            raise _RefusalError(E_NO_RECORD)
        return [
            {
                "val": _num(kw, 4),
                "ts": datetime.fromtimestamp(moment, plant.tz).strftime(_TIME_FORMAT),
            }
            for moment, kw in samples
        ]

    def _ep_energy_day(self, params: _Params, account: _Account, now: float) -> Any:
        plant = self._plant_param(params, account)
        day = self._date_param(params, plant, now)
        return {"energy": _num(self.day_energy(plant.pid, day), 1)}

    # -- controls ----------------------------------------------------------------------------

    def _ctrl_device(self, params: _Params, account: _Account) -> _Device:
        """The device a control call names (i18n optional on the value and command calls)."""
        self._require(params, "pn", "devcode", "devaddr", "sn")
        if params.get("i18n") is not None:
            self._i18n(params)
        devcode = self._int(params, "devcode")
        devaddr = self._int(params, "devaddr")
        return self._resolve(params["pn"], devcode, devaddr, params["sn"], account)

    def _known_field(self, device: _Device, params: _Params) -> _CtrlField:
        self._require(params, "id")
        ctrl = self._ctrl_field(device, params["id"])
        if ctrl is None:
            raise _RefusalError(E_FORMAT, "id")
        return ctrl

    def _ep_ctrl_field(self, params: _Params, account: _Account, now: float) -> Any:
        self._require(params, "pn", "devcode", "devaddr", "sn", "i18n")
        device = self._ctrl_device(params, account)
        code = self._ctrl_schema_errors.get(device.devcode)
        if code is not None:
            raise _RefusalError(code)
        fields = self._ctrl_fields.get(device.devcode)
        if not fields:
            raise _RefusalError(E_NO_RECORD, "no visible control items")
        return {"field": [ctrl.as_dict() for ctrl in fields]}

    def _ep_ctrl_value(self, params: _Params, account: _Account, now: float) -> Any:
        device = self._ctrl_device(params, account)
        ctrl = self._known_field(device, params)
        # The value is read from the device through its collector.
        if self._collectors[device.pn].offline:
            raise _RefusalError(E_COLLECTOR_OFFLINE)
        if device.offline:
            raise _RefusalError(E_DEVICE_OFFLINE)
        self._settle(device, now)
        return {"id": ctrl.id, "name": ctrl.name, "val": device.controls.get(ctrl.id, "")}

    @staticmethod
    def _checked_value(ctrl: _CtrlField, text: str) -> str:
        """The value as the device stores it, or err 6."""
        if ctrl.items:
            if text not in {key for key, _label in ctrl.items}:
                raise _RefusalError(E_FORMAT, "val")
            return text
        match = _NUMBER_RE.fullmatch(text)
        if match is None or len(match.group(1) or "") > ctrl.decimals:
            raise _RefusalError(E_FORMAT, "val")
        number = float(text)
        if (ctrl.low is not None and number < ctrl.low) or (
            ctrl.high is not None and number > ctrl.high
        ):
            raise _RefusalError(E_FORMAT, "val out of range")
        return f"{number:.{ctrl.decimals}f}"

    def _ep_ctrl_device(self, params: _Params, account: _Account, now: float) -> Any:
        device = self._ctrl_device(params, account)
        field_id, text = params.get("id", ""), params.get("val", "")
        try:
            answer = self._command(device, params, now)
        except _RefusalError as refusal:
            self.control_commands.append((now, device.sn, field_id, text, f"err {refusal.code}"))
            raise
        self.control_commands.append((now, device.sn, field_id, text, f"status {answer['status']}"))
        return answer

    def _command(self, device: _Device, params: _Params, now: float) -> dict[str, Any]:
        if self._control_denied:
            raise _RefusalError(E_FORBIDDEN)
        if not self._ctrl_fields.get(device.devcode):
            raise _RefusalError(E_UNSUPPORTED)
        ctrl = self._known_field(device, params)
        self._require(params, "val")
        value = self._checked_value(ctrl, params["val"])
        collector = self._collectors[device.pn]
        if collector.offline:
            raise _RefusalError(E_COLLECTOR_OFFLINE)
        if device.offline:
            # The collector forwards the command and the device never answers.
            raise _RefusalError(E_TIMEOUT)
        for other in collector.devices:
            self._settle(other, now)
            if other.pending is not None:
                raise _RefusalError(E_DUPLICATE, "a command is still being processed")
        if self._failing_tasks:
            return {"dat": self._failing_tasks.popleft(), "status": 1}
        if self._ignored_tasks:
            self._ignored_tasks -= 1
            return {"dat": ACK_HEX, "status": 0}
        if self._task_delay == 0:
            if not ctrl.one_shot:
                device.controls[ctrl.id] = value
            return {"dat": ACK_HEX, "status": 0}
        apply_at = None if self._task_delay is None else now + self._task_delay
        device.pending = _Pending(ctrl.id, value, apply_at, now + PENDING_TTL)
        if ctrl.one_shot:
            device.pending.value = device.controls.get(ctrl.id, "")
        return {"dat": None, "status": -1}

    # -- signing, limit, dispatch ------------------------------------------------------------

    def _over_limit(self, usr: str, now: float) -> bool:
        if self.calls_per_minute is None:
            return False
        window = self._windows.setdefault(usr, deque())
        return window_full(window, now, LIMIT_WINDOW, self.calls_per_minute)

    def _charge(self, usr: str, now: float) -> None:
        if self.calls_per_minute is not None:
            self._windows.setdefault(usr, deque()).append(now)

    def _auth(self, sign: str, salt: str, tail: str, now: float) -> dict[str, Any]:
        fields = tail[1:].split("&")[1:]  # after "action=auth"
        names = [f.partition("=")[0] for f in fields]
        if "usr" not in names or "company-key" not in names:
            raise _RefusalError(E_MISSING, "usr" if "usr" not in names else "company-key")
        if names != ["usr", "company-key"]:
            raise _RefusalError(E_SIGN, "auth takes &action=auth&usr=..&company-key=.. only")
        usr_raw = fields[0][len("usr=") :]
        key_raw = fields[1][len("company-key=") :]
        if not usr_raw or not key_raw:
            raise _RefusalError(E_MISSING, "usr" if not usr_raw else "company-key")
        if unquote(key_raw) not in self.company_keys:
            raise _RefusalError(E_COMPANY_KEY)
        account = self._accounts.get(unquote(usr_raw))
        if account is None:
            raise _RefusalError(E_PASSWORD)
        if sign != _sha1(salt + _sha1(account.pwd) + tail):
            raise _RefusalError(E_PASSWORD)
        if account.disabled:
            raise _RefusalError(E_DISABLED)
        if self._over_limit(account.usr, now):
            self.refusals["auth"] += 1
            raise _RefusalError(E_OVER_LIMITED)
        self._charge(account.usr, now)
        self.calls["auth"] += 1
        self.logins += 1
        token = _Token(
            token=secrets.token_hex(32),
            secret=secrets.token_hex(20),
            usr=account.usr,
            expiry=now + self.token_ttl,
        )
        self._tokens[token.token] = token
        return {
            "secret": token.secret,
            "token": token.token,
            "expire": self.token_ttl,
            "role": 0,
            "uid": account.uid,
            "usr": account.usr,
        }

    def _business(self, sign: str, salt: str, rest: str, now: float) -> tuple[str, Any]:
        if not rest.startswith("token="):
            segments = rest.split("&")
            if any(s.startswith("token=") and len(s) > len("token=") for s in segments):
                raise _RefusalError(E_SIGN, "token must follow salt")
            if any(s == "action=auth" for s in segments):
                raise _RefusalError(E_SIGN, "auth takes &action=auth&usr=..&company-key=.. only")
            raise _RefusalError(E_NO_AUTH, "token")
        token_text, _sep, after = rest.partition("&")
        presented = unquote(token_text[len("token=") :])
        if not presented:
            raise _RefusalError(E_NO_AUTH, "token")
        if not after.startswith("action="):
            raise _RefusalError(E_SIGN, "&action= must follow token")
        tail = "&" + after
        token = self._tokens.get(presented)
        if token is None:
            raise _RefusalError(E_NO_AUTH)
        if now >= token.expiry:
            raise _RefusalError(E_TOKEN_EXPIRED)
        if sign != _sha1(salt + token.secret + token.token + tail):
            raise _RefusalError(E_SIGN)
        action = unquote(after[len("action=") :].partition("&")[0])
        if action == "auth":
            raise _RefusalError(E_SIGN, "auth takes no token")
        if self._over_limit(token.usr, now):
            self.refusals[action] += 1
            raise _RefusalError(E_OVER_LIMITED)
        self._charge(token.usr, now)
        self.calls[action] += 1
        endpoint = self._endpoints.get(action)
        if endpoint is None:
            raise _RefusalError(E_NO_API, action)
        params = self._parse_tail(tail)
        return action, endpoint(params, self._accounts[token.usr], now)

    def _answer(self, raw: str, now: float) -> tuple[str, Any]:
        """(action, dat) of a well-formed call; any refusal is raised as ``_RefusalError``."""
        match = _PREFIX_RE.match(raw)
        if match is None:
            raise _RefusalError(E_SIGN, "query must start with sign=..&salt=..&")
        sign, salt = match.group(1), match.group(2)
        if len(salt) < MIN_SALT:
            raise _RefusalError(E_SALT)
        if not _SIGN_RE.fullmatch(sign):
            raise _RefusalError(E_SIGN, "sign must be 40 lowercase hex digits")
        rest = raw[match.end() :]
        if rest == "action=auth" or rest.startswith("action=auth&"):
            return "auth", self._auth(sign, salt, "&" + rest, now)
        return self._business(sign, salt, rest, now)

    @staticmethod
    def _action_of(raw: str) -> str:
        match = _ACTION_RE.search(raw)
        return unquote(match.group(1)) if match else ""

    async def _handle(self, request: web.Request) -> web.Response:
        now = self._clock()
        # request.query_string is yarl's decoded text; the sign covers the bytes as sent.
        raw = request.rel_url.raw_query_string
        name = self._action_of(raw)
        self._log(now, name, raw)
        if request.method != "GET":
            return _envelope(E_NO_API, detail=request.method)
        fault, now = await self._request_fault(name, now)
        if fault is not None:
            if fault.code is None:
                return self._fault_page(fault.kind)
            if fault.code == E_OVER_LIMITED:
                self.refusals[name] += 1
            return _envelope(fault.code)
        try:
            action, data = self._answer(raw, now)
        except _RefusalError as refusal:
            return _envelope(refusal.code, detail=refusal.detail)
        return _envelope(OK, self._shaped(action, data))

    async def _fallback(self, request: web.Request) -> web.Response:
        self._log(
            self._clock(), f"{request.method} {request.path}", request.rel_url.raw_query_string
        )
        return _envelope(E_NO_API, detail=request.path)

    def make_app(self) -> web.Application:
        """A new aiohttp application serving this simulator's state."""
        # 256 device tuples make a request line longer than aiohttp's default 8190 bytes.
        app = web.Application(handler_args={"max_line_size": MAX_REQUEST_LINE})
        app.router.add_route("*", "/public/", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._fallback)
        return app

    # -- faults -------------------------------------------------------------------------------

    def _fail_code(self, text: str) -> int:
        return numeric_fail_code(text, "fail_code:13")


# ---------------------------------------------------------------------------------------------
# Standalone server
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = server_parser("Run the fake ShineMonitor open-platform API.", port=8993)
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--company-key", default=TEST_COMPANY_KEY)
    parser.add_argument(
        "--calls-per-minute", type=int, default=300, help="per-account limit; 0 turns it off"
    )
    parser.add_argument("--token-ttl", type=int, default=TOKEN_TTL)
    parser.add_argument("--data-interval", type=int, default=300)
    parser.add_argument("--no-storage", action="store_true", help="grid-tie inverters only")
    parser.add_argument("--plant-name", default="Plant {n}", help='plant names, "{n}" the number')
    args = parser.parse_args(argv)
    global PLANT_NAME  # noqa: PLW0603 - the standalone server names its plants once, at start
    PLANT_NAME = args.plant_name
    simulator = ShineMonitorSimulator(
        plants=args.plants,
        username=args.username,
        password=args.password,
        company_key=args.company_key,
        calls_per_minute=args.calls_per_minute or None,
        token_ttl=args.token_ttl,
        data_interval=args.data_interval,
        storage=not args.no_storage,
    )
    own = ", ".join(str(p) for p in simulator.plant_ids())
    serve(
        simulator,
        args.host,
        args.port,
        f"ShineMonitor simulator: http://{args.host}:{args.port}/public/\n"
        f"  usr={args.username} pwd={args.password} company-key={args.company_key}"
        f" plants: {own or '-'}\n"
        f"  usr={TEST_USR} pwd={TEST_PWD} company-key={TEST_COMPANY_KEY}"
        f" plants: {', '.join(str(p) for p in simulator.plant_ids(TEST_USR))}\n",
    )


if __name__ == "__main__":
    main()
