"""Huawei FusionSolar / SmartPVMS northbound ("thirdData") client.

Protocol in short: every call is an HTTPS POST with a JSON body. ``/thirdData/login`` with
``userName`` and ``systemCode`` returns the session token in the ``XSRF-TOKEN`` response header
(older platforms: a cookie of that name); every other call sends it back as the ``XSRF-TOKEN``
header. An account has one live session: each login ends the previous one, so this client logs
in only when it holds no valid token, one login at a time, and at most five per ten minutes.

Replies share an envelope ``{success, failCode, message, params, data}``; ``failCode`` decides
the error class (see ``_check_envelope``). Values arrive as numbers, strings, ``null`` or ``"N/A"``
and in vendor units that differ per device type; ``map_device_kpi`` converts them onto the metric
vocabulary.

Allowances (vendor document, accounts created after mid-2022), all per account:
login 5 / 10 min; getStationList 24 / day; getStationRealKpi ceil(plants/100) / 5 min;
getDevRealKpi the sum over device types of ceil(devices/100) / 5 min; getDevList
ceil(plants/100) + 24 / day; getAlarmList ceil(plants/100) / 30 min. The same document allows
"one concurrent request" per interface: requests to one interface are never sent in parallel.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http.cookies import CookieError, SimpleCookie
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

_AUTH_CODES: Final = frozenset({20001, 20002, 20003, 20400, 20403})
_PERMISSION_CODES: Final = frozenset({401, 20056, 20621})
_RATE_CODES: Final = frozenset({407, 429})
_BUSY_CODES: Final = frozenset({20004, 20200})
_RELOGIN_CODES: Final = frozenset({305, 306})
_NO_RESOURCE_CODES: Final = frozenset({20007, 20008})
_DAILY_CAP_CODE: Final = 20618
_GATEWAY_QUOTA_CODE: Final = "49401021002"

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
# The client


def account_id_for(server: str, username: str) -> str:
    """Unique id of an account: ``huawei_fusionsolar:<host>:<username>``."""
    host = (urlsplit(server).hostname or server).lower()
    return f"{VENDOR}:{host}:{username.strip().lower()}"


class HuaweiClient:
    """Client of one northbound API account."""

    vendor = VENDOR

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
    ) -> None:
        self._session = session
        self._server = server.rstrip("/")
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
        self.quota.set_allowance(E_LOGIN, Allowance(5, 600.0))
        self._size_allowances(1, Counter({38: 1}))

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
        return PollPlan(
            realtime=REALTIME_PERIOD,
            alarms=ALARM_PERIOD,
            devices=min(DAY, max(DAY / 4, DAY / max(device_rounds, 1.0))),
            plants=min(DAY, max(DAY / 4, DAY / max(plant_rounds, 1.0))),
        )

    # -- transport ----------------------------------------------------------------------------

    def _token_valid(self) -> bool:
        return self._sess.valid(self._clock())

    async def async_login(self) -> None:
        """Make sure a valid session exists; log in only when none does (single flight)."""
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

    async def _post(
        self, path: str, payload: Mapping[str, Any], *, token: str | None
    ) -> tuple[aiohttp.ClientResponse, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["XSRF-TOKEN"] = token
        url = f"{self._server}{path}"
        try:
            async with self._session.post(
                url, json=dict(payload), headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.text()
        except TimeoutError as err:
            raise TransientError(f"{path}: no answer in time", code="timeout") from err
        except aiohttp.ClientError as err:
            raise TransientError(f"{path}: {type(err).__name__}", code="network") from err
        return response, self._decode(path, response.status, raw)

    def _decode(self, path: str, status: int, raw: str) -> Any:
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
        self, endpoint: str, path: str, payload: Mapping[str, Any]
    ) -> tuple[Any, Mapping[str, Any]]:
        """Send one business request; on a lost session log in once and retry once."""
        for attempt in (1, 2):
            await self.async_login()
            token = self._sess.token
            async with self.quota.slot(endpoint, max_wait=MAX_WAIT.get(endpoint, 0.0)):
                _response, body = await self._post(path, payload, token=token)
            try:
                self._check_envelope(endpoint, body)
            except _SessionExpiredError as err:
                # Refused for the session, before the allowance counted it.
                self.quota.refund(endpoint)
                self._sess.drop(token)
                if attempt == 2:
                    self.session_takeovers += 1
                    raise TransientError(
                        f"{endpoint}: session ended again right after logging in; "
                        "another client is probably using this account",
                        code="session_conflict",
                    ) from err
                continue
            if self._sess.token == token:
                self._sess.expires = self._clock() + TOKEN_LIFETIME - TOKEN_MARGIN
            params = body.get("params")
            return body.get("data"), params if isinstance(params, Mapping) else {}
        raise AssertionError("unreachable")  # pragma: no cover

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

    # -- diagnostics --------------------------------------------------------------------------

    def diagnostics(self) -> dict[str, object]:
        """Non-secret client state."""
        now = self._clock()
        return {
            "server": self._server,
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
