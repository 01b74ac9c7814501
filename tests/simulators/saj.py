"""Strict fake of the SAJ OpenAPI ("电站监控 SajOpenAPI 协议标准", api.saj-solar.com).

The simulator is an ``aiohttp.web`` application following the vendor document
(``../shared/vendor-docs/saj-openapi-zh.md``, translated from Chinese):

* ``GET /accessToken`` (§3.2.1, "a new token invalidates the previous one"): ``client_id``
  (APP_ID), ``client_secret`` (APP_KEY), ``grant_type=client_credentials``, optional ``scope``
  → ``uid, access_token, refresh_token, expires_in, token="bearer", scope``. The document names
  no refresh endpoint (§2.2 only says REFRESH_TOKEN extends the validity by the same length), so
  ``grant_type=refresh_token`` with ``refresh_token`` on the same path is accepted as a guess.
* Every other call sends the headers ``token`` and ``uid`` (§3.1).
* ``GET /plant/list`` (§3.2.4), ``GET /plant/details`` (§3.2.5), ``GET /plant/data`` (§3.2.6),
  ``GET /plant/energy`` (§3.2.7 / §3.2.34), ``GET /plant/power`` (§3.2.8),
  ``GET /device/list`` (§3.2.11), ``GET /device/inverter/alarm`` (§3.2.13),
  ``GET /device/inverter/datasigns`` (§3.2.20 / §3.2.36).
* History: ``/plant/power`` gives the plant's power (W) every 5 minutes of one ``date`` in the
  asked ``timezone_id`` (appendix 2 ids only, default UTC; ``use_dst``), up to the latest data
  refresh; ``/plant/energy`` the kWh per day/month/year. Both take a single ``plant_id`` (a list
  is a parameter error) and follow the same day model as ``/plant/data``, so the 5-minute curve
  of a local day integrates to that day's ``today_energy``. The only documented limits are the
  account's hourly and daily call caps (10003 / 10004), enforced on every endpoint alike.
* Envelope ``{"data": ..., "error_code": 0, "error_msg": ""}`` (§3.1 and every example); API
  errors are HTTP 200 with a non-zero ``error_code`` and no ``data``.
* Value tables from appendix 1 (§3.3): locale, search_type, plant status 1–10, time_unit,
  plant_type, grid_type, tracker_type, device type; time zones from appendix 2 (§3.4).
* Units as documented: kW / kWh / kWp for plants, W for ``/plant/power`` and inverter
  ``power``, A / V / Hz / ℃ for inverter signals, tons for ``carbon_offset``.

Measurements are deterministic and closed-form: every inverter follows a half-sine sun curve
between 06:00 and 18:00 in its plant's time zone, scaled by a weekly weather pattern, so any
clock value maps to the same answer; daily counters reset at local midnight and lifetime
counters are sums over whole days since the plant's creation date plus today. Cloud data
refreshes every ``data_interval`` seconds (300 by default).

The clock, counters, request log and fault injection (``inject`` / ``clear_faults``) come
from ``tests.simulators.common``, shared with the other vendor simulators.

Typical use::

    sim = SajSimulator(plants=2, clock=fake_clock)
    server = await aiohttp_server(sim.app)
    sim.inject("fail_code:10001", path="/plant/data")

Run ``python -m tests.simulators.saj --help`` for a standalone server.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from tests.simulators.common import (
    DATA_FAULTS,
    DERATE,
    REPLACING_FAULTS,
    HourlyCalls,
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
)

__all__ = ["FAULT_KINDS", "SajSimulator"]

# ---------------------------------------------------------------------------------------------
# Protocol constants
# ---------------------------------------------------------------------------------------------

# Error codes (§3.2.37) and where this simulator uses them:
#
# | code  | document (translated)                  | used for                                  |
# |-------|----------------------------------------|-------------------------------------------|
# | 0     | OK                                     | success                                   |
# | 10001 | server exception                       | only through inject("fail_code:10001")    |
# | 10002 | ACCESS_TOKEN missing                   | no ``token`` header                       |
# | 10003 | hourly call count exceeded             | ``hourly_cap`` reached (a refusal)        |
# | 10004 | daily call count exceeded              | ``daily_cap`` reached (a refusal)         |
# | 10005 | API does not exist                     | unknown path or method                    |
# | 10006 | API parameter error                    | missing/invalid parameter, perpage > max, |
# |       |                                        | unknown plant_id / device_id              |
# | 10007 | user/password mismatch on authorising  | wrong client_secret (APP_KEY)             |
# | 10008 | ACCESS_TOKEN does not match APP_ID     | token issued before set_client_id()       |
# | 10010 | ACCESS_TOKEN expired                   | token older than expires_in               |
# | 10011 | ACCESS_TOKEN does not match user ID    | ``uid`` header missing or wrong           |
# | 10012 | ACCESS_TOKEN does not exist            | unknown or superseded token               |
# | 10013 | REFRESH_TOKEN does not exist           | unknown refresh_token                     |
# | 10099 | getting ACCESS_TOKEN failed            | unknown client_id (APP_ID)                |
# 10009 (AUTH_CODE timeout), 10014 (no right to call the API) and 10015 (REFRESH_TOKEN
# mismatch) are not produced except through fail_code.
OK: Final = 0
E_SERVER: Final = 10001
E_NO_TOKEN: Final = 10002
E_HOURLY_CAP: Final = 10003
E_DAILY_CAP: Final = 10004
E_NO_API: Final = 10005
E_PARAM: Final = 10006
E_SECRET: Final = 10007
E_APP_MISMATCH: Final = 10008
E_AUTH_CODE: Final = 10009
E_EXPIRED: Final = 10010
E_UID: Final = 10011
E_NO_SUCH_TOKEN: Final = 10012
E_NO_REFRESH: Final = 10013
E_NO_RIGHT: Final = 10014
E_REFRESH_MISMATCH: Final = 10015
E_TOKEN_FAILED: Final = 10099

MESSAGES: Final[dict[int, str]] = {
    OK: "",
    E_SERVER: "服务端异常",
    E_NO_TOKEN: "缺少ACCESS_TOKEN",
    E_HOURLY_CAP: "超出小时使用次数",
    E_DAILY_CAP: "超出天使用次数",
    E_NO_API: "API不存在",
    E_PARAM: "API参数有误",
    E_SECRET: "授权时用户密码不匹配",
    E_APP_MISMATCH: "ACCESS_TOKEN与APP_ID不匹配",
    E_AUTH_CODE: "AUTH_CODE超时失效",
    E_EXPIRED: "ACCESS_TOKEN过期",
    E_UID: "ACCESS_TOKEN与用户ID不匹配",
    E_NO_SUCH_TOKEN: "ACCESS_TOKEN不存在",
    E_NO_REFRESH: "REFRESH_TOKEN不存在",
    E_NO_RIGHT: "ACCESS_TOKEN无权调用API",
    E_REFRESH_MISMATCH: "REFRESH_TOKEN不匹配",
    E_TOKEN_FAILED: "获取ACCESS_TOKEN失败",
}
_QUOTA_CODES: Final = frozenset({E_HOURLY_CAP, E_DAILY_CAP})

TOKEN_TTL: Final = 604_800  # the §3.2.1 example's expires_in (§2.2: "permanent (tentative)")
DEFAULT_PERPAGE: Final = 20
MAX_PERPAGE: Final = 100
QUOTA_TZ_HOURS: Final = 8  # the daily allowance is counted per Beijing calendar day (a guess)

# Appendix 1 value tables (§3.3).
LOCALES: Final = frozenset({"en-US", "zh-Hans"})  # §3.3.1
SEARCH_TYPES: Final = frozenset({"name"})  # §3.3.2
PLANT_STATUS: Final[dict[int, str]] = {  # §3.3.3
    1: "normal operation",
    2: "design (planning) state",
    3: "off-grid",
    4: "standby",
    5: "low ambient light, no generation",
    6: "manual shutdown",
    7: "fault",
    8: "alarm",
    9: "emergency stop",
    10: "communication error",
}
TIME_UNITS: Final = ("day", "month", "year")  # §3.3.4
PLANT_TYPE_RESIDENTIAL: Final = 1  # §3.3.5: 1 residential, 2 commercial, 3 industrial, 4 utility
GRID_TYPE_ON_GRID: Final = 1  # §3.3.6: 1 on-grid, 2 off-grid, 3 hybrid
TRACKER_FIXED: Final = 1  # §3.3.7: 1 fixed, 2 single-axis, 3 dual-axis
DEVICE_TYPE_INVERTER: Final = 1  # §3.3.11

# Appendix 2 (§3.4): the timezone_id values /plant/power (§3.2.8) and /device/inverter/data
# (§3.2.12) accept; anything else is a parameter error (10006).
TIMEZONE_IDS: Final = frozenset(
    [
        "Etc/GMT+12",
        "Etc/GMT+11",
        "HST",
        "AST",
        "PST",
        "Mexico/BajaNorte",
        "America/Chihuahua",
        "MST",
        "US/Arizona",
        "America/Mexico_City",
        "Canada/Saskatchewan",
        "CST",
        "US/Central",
        "America/Bogota",
        "EST",
        "US/East-Indiana",
        "America/Caracas",
        "Canada/Atlantic",
        "America/Cuiaba",
        "America/La_Paz",
        "America/Asuncion",
        "Canada/Newfoundland",
        "BET",
        "America/Argentina/Buenos_Aires",
        "America/Cayenne",
        "America/Montevideo",
        "America/Santiago",
        "Etc/GMT+2",
        "Atlantic/Cape_Verde",
        "Atlantic/Azores",
        "Europe/Dublin",
        "Africa/Casablanca",
        "Africa/Monrovia",
        "UTC",
        "Europe/Amsterdam",
        "Europe/Belgrade",
        "Europe/Brussels",
        "Europe/Sarajevo",
        "Africa/Windhoek",
        "Africa/Bangui",
        "Asia/Beirut",
        "Asia/Damascus",
        "ART",
        "Africa/Harare",
        "Europe/Helsinki",
        "Africa/Cairo",
        "Europe/Athens",
        "Asia/Jerusalem",
        "Europe/Istanbul",
        "Asia/Baghdad",
        "Asia/Kuwait",
        "Europe/Minsk",
        "Europe/Moscow",
        "Africa/Nairobi",
        "Asia/Tehran",
        "Asia/Muscat",
        "Asia/Yerevan",
        "Asia/Baku",
        "Asia/Tbilisi",
        "Indian/Mauritius",
        "Asia/Kabul",
        "Asia/Ashgabat",
        "Asia/Yekaterinburg",
        "Asia/Karachi",
        "Asia/Calcutta",
        "Asia/Kathmandu",
        "Asia/Dacca",
        "Asia/Novosibirsk",
        "Asia/Rangoon",
        "Asia/Bangkok",
        "Asia/Krasnoyarsk",
        "PRC",
        "Asia/Irkutsk",
        "Asia/Singapore",
        "Australia/Perth",
        "Asia/Taipei",
        "Asia/Ulaanbaatar",
        "Asia/Pyongyang",
        "Asia/Tokyo",
        "Asia/Seoul",
        "Australia/Adelaide",
        "Australia/Darwin",
        "Australia/Brisbane",
        "Australia/Canberra",
        "Pacific/Guam",
        "Australia/Hobart",
        "Asia/Vladivostok",
        "Asia/Magadan",
        "SST",
        "Pacific/Auckland",
        "Etc/GMT-12",
        "Pacific/Fiji",
        "Asia/Anadyr",
        "MIT",
        "Pacific/Kiritimati",
    ]
)

# Appendix 2 (§3.4) uses a few Java short ids that the IANA database lacks.
_TZ_ALIASES: Final[dict[str, str]] = {
    "AST": "America/Anchorage",
    "PST": "America/Los_Angeles",
    "CST": "America/Chicago",
    "BET": "America/Sao_Paulo",
    "ART": "Africa/Cairo",
    "SST": "Pacific/Guadalcanal",
    "MIT": "Pacific/Apia",
}

# Alarm codes: the document shows only "bit1" / "low Current"; the rest are illustrative.
ALARM_TEXTS: Final[dict[str, tuple[str, str]]] = {
    "bit1": ("low Current", "电流过低"),
    "bit2": ("Grid over voltage", "电网过压"),
    "bit3": ("Grid under voltage", "电网欠压"),
    "bit4": ("Grid over frequency", "电网过频"),
    "bit5": ("Isolation fault", "绝缘阻抗故障"),
    "bit6": ("Over temperature", "温度过高"),
}

# Fault kinds accepted by SajSimulator.inject ("fail_code:<code>" is accepted as well).
FAULT_KINDS: Final = REPLACING_FAULTS | DATA_FAULTS | {"timeout", "fail_code:<code>"}
_IDENTITY_KEYS: Final = frozenset(
    {
        "count",
        "plant_id",
        "user_id",
        "name",
        "device_id",
        "device_sn",
        "datalogger_sn",
        "sn",
        "next_page_start_id",
        "time_unit",
        "time",
        "date",
        "alarm_code",
        "locale",
    }
)

_HTML_MAINTENANCE: Final = maintenance_page("SAJ", heading="系统维护中")
_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")

# ---------------------------------------------------------------------------------------------
# Data model: closed-form sun curve
# ---------------------------------------------------------------------------------------------

_CO2_TON_PER_KWH: Final = 0.000997
_FIRST_CREATED: Final = date(2021, 3, 15)


# Plant names: "{n}" is the plant's number (the standalone server's --plant-name).
PLANT_NAME = "Plant {n}"


def _zone(timezone_id: str) -> tzinfo | None:
    try:
        return ZoneInfo(_TZ_ALIASES.get(timezone_id, timezone_id))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _iso(moment: datetime) -> str:
    """ISO 8601 as in the document: ``2015-12-08T11:00:00Z``, ``2017-06-07T22:40:00+08:00``."""
    text = moment.isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _offset_label(offset: timedelta | None) -> str:
    """§3.1 time-zone format ``±hh:mm``."""
    minutes = round((offset or timedelta()).total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


@dataclass(slots=True)
class _Inverter:
    device_id: int
    sn: str
    datalogger_sn: str
    model: str
    share: float
    rated_kw: float
    three_phase: bool
    plant_id: int


@dataclass(slots=True)
class _Plant:
    plant_id: int
    name: str
    peak_kw: float
    timezone_id: str
    tz: tzinfo
    created: date
    country: str
    city: str
    latitude: float
    longitude: float
    inverters: list[_Inverter] = field(default_factory=list)
    status_override: int | None = None
    frozen_at: float | None = None  # set_offline: data stops at this time


@dataclass(slots=True)
class _Alarm:
    sn: str
    code: str
    start: float
    fault: bool
    end: float | None = None


@dataclass(slots=True)
class _Token:
    access_token: str
    refresh_token: str
    client_id: str
    expiry: float
    scope: str


def _envelope(code: int, data: Any = None) -> web.Response:
    payload: dict[str, Any] = {}
    if data is not None:
        payload["data"] = data
    payload["error_code"] = code
    payload["error_msg"] = MESSAGES.get(code, "error") if code else ""
    return json_response(payload)


def _as_int(value: str | None, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value.strip())
    except ValueError:
        return None


def _as_date(value: str | None) -> date | None:
    if value is None or not _DATE_RE.fullmatch(value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _paging(query: Any) -> tuple[int, int] | None:
    """``page`` (default 1) and ``perpage`` (default 20, max 100); None means 10006."""
    page = _as_int(query.get("page"), 1)
    perpage = _as_int(query.get("perpage"), DEFAULT_PERPAGE)
    if page is None or perpage is None or page < 1 or not 1 <= perpage <= MAX_PERPAGE:
        return None
    return page, perpage


def _bool_param(value: str | None, default: bool) -> bool | None:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return None


_Result = tuple[int, Any]
_Endpoint = Callable[[Any, float], _Result]

# ---------------------------------------------------------------------------------------------
# Simulator
# ---------------------------------------------------------------------------------------------


class SajSimulator(Simulator[int]):
    """In-process SAJ OpenAPI server with test hooks; see the module docstring.

    Faults: ``path`` of ``inject`` is an endpoint path such as ``"/plant/data"`` (a missing
    leading slash is added); without it any endpoint except ``/accessToken`` matches.
    ``fail_code:<code>`` answers the envelope with that error_code (10003/10004 count as
    refusals). A ``timeout`` waits ``timeout_delay`` seconds and then answers normally.
    """

    fault_exempt = "/accessToken"
    fault_html = _HTML_MAINTENANCE
    fault_json = '{"data":{"count":1,"plants":[{"plant_id":'
    identity_keys = _IDENTITY_KEYS

    def __init__(
        self,
        *,
        plants: int = 1,
        client_id: str = "SAJAPPID0001",
        client_secret: str = "0123456789abcdef0123456789abcdef",
        uid: int = 1,
        clock: Callable[[], float] | None = None,
        hourly_cap: int | None = None,
        daily_cap: int | None = None,
        token_ttl: int = TOKEN_TTL,
        timeout_delay: float = 2.0,
        timezone_id: str = "Europe/Amsterdam",
        data_interval: float = 300.0,
    ) -> None:
        super().__init__(clock, timeout_delay)
        self.client_id = client_id
        self.client_secret = client_secret
        self.uid = uid
        self.hourly_cap = hourly_cap
        self.daily_cap = daily_cap
        self.token_ttl = token_ttl
        self.default_timezone_id = timezone_id
        self.data_interval = data_interval

        self._token: _Token | None = None
        self._superseded: set[str] = set()
        self._quota = HourlyCalls(QUOTA_TZ_HOURS)
        self._plants: dict[int, _Plant] = {}
        self._devices: dict[int, _Inverter] = {}
        self._alarms: list[_Alarm] = []
        self._next_plant = 10_012_001
        self._next_device = 100_010_001
        self._endpoints: dict[str, _Endpoint] = {
            "/plant/list": self._ep_plant_list,
            "/plant/details": self._ep_plant_details,
            "/plant/data": self._ep_plant_data,
            "/plant/energy": self._ep_plant_energy,
            "/plant/power": self._ep_plant_power,
            "/device/list": self._ep_device_list,
            "/device/inverter/datasigns": self._ep_datasigns,
            "/device/inverter/alarm": self._ep_alarm,
        }
        for _ in range(plants):
            self.add_plant()

    # -- configuration & auth hooks ------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Make the live token expired (the next call gets 10010)."""
        if self._token is not None:
            self._token.expiry = min(self._token.expiry, self._clock())

    def set_secret(self, client_secret: str) -> None:
        """Change the APP_KEY; live tokens stay valid, new requests need the new key."""
        self.client_secret = client_secret

    def set_client_id(self, client_id: str) -> None:
        """Change the APP_ID; tokens issued for the old one then answer 10008."""
        self.client_id = client_id

    def live_token(self) -> str | None:
        return self._token.access_token if self._token is not None else None

    def reset_limits(self) -> None:
        self._quota.clear()

    # -- plants and devices ------------------------------------------------------------------

    def add_plant(
        self,
        *,
        name: str | None = None,
        peak_power: float | None = None,
        timezone_id: str | None = None,
        inverters: int | None = None,
    ) -> int:
        """Add a plant (with one or two inverters by default) and return its plant_id."""
        index = self._next_plant - 10_012_001
        plant_id = self._next_plant
        self._next_plant += 1
        tz_id = timezone_id or self.default_timezone_id
        tz = _zone(tz_id)
        if tz is None:
            raise ValueError(f"unknown timezone_id {tz_id!r}")
        peak = peak_power if peak_power is not None else (5.0, 9.6, 3.3, 12.0)[index % 4]
        count = inverters if inverters is not None else (1 if peak < 8 else 2)
        plant = _Plant(
            plant_id=plant_id,
            name=name or PLANT_NAME.format(n=index + 1),
            peak_kw=peak,
            timezone_id=tz_id,
            tz=tz,
            created=_FIRST_CREATED + timedelta(days=41 * index),
            country="Netherlands",
            city="Utrecht",
            latitude=round(52.09 + 0.01 * index, 4),
            longitude=round(5.12 + 0.01 * index, 4),
        )
        self._plants[plant_id] = plant
        for i in range(max(1, count)):
            share = 1.0 / max(1, count)
            rated = peak * share
            three = rated >= 6.0
            device_id = self._next_device
            self._next_device += 1
            serial = f"{'R6' if three else 'R5'}{plant_id % 100_000:05d}{i + 1:02d}{device_id % 10_000:04d}"
            inverter = _Inverter(
                device_id=device_id,
                sn=serial,
                datalogger_sn=f"M5{plant_id % 100_000:05d}{i + 1:02d}",
                model=f"{'R6-' if three else 'R5-'}{rated:.0f}K-{'T2' if three else 'S2'}",
                share=share,
                rated_kw=rated,
                three_phase=three,
                plant_id=plant_id,
            )
            plant.inverters.append(inverter)
            self._devices[device_id] = inverter
        return plant_id

    def remove_plant(self, plant_id: int) -> None:
        plant = self._plants.pop(plant_id)
        sns = {inv.sn for inv in plant.inverters}
        for inverter in plant.inverters:
            self._devices.pop(inverter.device_id, None)
        self._alarms = [a for a in self._alarms if a.sn not in sns]

    def plant_ids(self) -> list[int]:
        return list(self._plants)

    def device_ids(self, plant_id: int) -> list[int]:
        return [inv.device_id for inv in self._plants[plant_id].inverters]

    def device_sns(self, plant_id: int) -> list[str]:
        return [inv.sn for inv in self._plants[plant_id].inverters]

    def set_status(self, plant_id: int, status: int | None) -> None:
        """Force a §3.3.3 plant status (1–10); None returns to the computed one."""
        if status is not None and status not in PLANT_STATUS:
            raise ValueError(f"plant status must be 1-10, not {status}")
        self._plants[plant_id].status_override = status

    def set_offline(self, plant_id: int, offline: bool = True) -> None:
        """Stop (or resume) data uploads: values freeze and the status becomes 10."""
        self._plants[plant_id].frozen_at = self._data_time(self._clock()) if offline else None

    def raise_alarm(
        self, sn: str, code: str = "bit1", *, fault: bool = False, at: float | None = None
    ) -> None:
        """Open an unprocessed alarm (status 0) on an inverter; ``fault`` makes the plant 7."""
        if not any(inv.sn == sn for inv in self._devices.values()):
            raise KeyError(sn)
        start = self._clock() if at is None else at
        self._alarms.append(_Alarm(sn=sn, code=code, start=start, fault=fault))

    def clear_alarm(self, sn: str, code: str | None = None) -> int:
        """Mark open alarms processed (status 1, end_time set); returns how many."""
        now = self._clock()
        cleared = 0
        for alarm in self._alarms:
            if alarm.sn == sn and alarm.end is None and code in (None, alarm.code):
                alarm.end = now
                cleared += 1
        return cleared

    # -- measurements ------------------------------------------------------------------------

    def _data_time(self, now: float) -> float:
        return refresh_time(now, self.data_interval)

    def _plant_time(self, plant: _Plant, now: float) -> float:
        moment = self._data_time(now)
        return min(moment, plant.frozen_at) if plant.frozen_at is not None else moment

    @staticmethod
    def _day_kwh(plant: _Plant, day_ord: int) -> float:
        """Full-day energy of the whole plant on a local day (0 before its creation)."""
        if day_ord < plant.created.toordinal():
            return 0.0
        return plant.peak_kw * DERATE * weather_factor(day_ord, plant.plant_id) * 24.0 / math.pi

    def _sum_kwh(self, plant: _Plant, first: int, stop: int) -> float:
        """Energy of whole local days ``first <= d < stop``."""
        first = max(first, plant.created.toordinal())
        full_day = plant.peak_kw * DERATE * 24.0 / math.pi
        return full_day * weather_sum(first, stop, plant.plant_id)

    def _snapshot(self, plant: _Plant, moment: float) -> dict[str, Any]:
        """Plant-wide values at ``moment``: kW, kWh and the local datetime."""
        local = datetime.fromtimestamp(moment, plant.tz)
        day = local.date()
        ordinal = day.toordinal()
        hour = local_hour(local)
        active = ordinal >= plant.created.toordinal()
        weather = weather_factor(ordinal, plant.plant_id)
        power = plant.peak_kw * DERATE * weather * sun_curve(hour) if active else 0.0
        today = self._day_kwh(plant, ordinal) * sun_done(hour)
        month = self._sum_kwh(plant, day.replace(day=1).toordinal(), ordinal) + today
        year = self._sum_kwh(plant, date(day.year, 1, 1).toordinal(), ordinal) + today
        total = self._sum_kwh(plant, plant.created.toordinal(), ordinal) + today
        return {
            "local": local,
            "hour": hour,
            "power_kw": power,
            "today": today,
            "month": month,
            "year": year,
            "total": total,
        }

    def _plant_status(self, plant: _Plant, snap: dict[str, Any]) -> int:
        if plant.status_override is not None:
            return plant.status_override
        if plant.frozen_at is not None:
            return 10
        sns = {inv.sn for inv in plant.inverters}
        open_alarms = [a for a in self._alarms if a.sn in sns and a.end is None]
        if any(a.fault for a in open_alarms):
            return 7
        if open_alarms:
            return 8
        return 1 if snap["power_kw"] > 0 else 5

    def _inverter_record(self, inverter: _Inverter, snap: dict[str, Any]) -> dict[str, Any]:
        """One §3.2.20 ``datas`` row."""
        share = inverter.share
        power_w = snap["power_kw"] * share * 1000.0
        sun = sun_curve(snap["hour"])
        wobble = (inverter.device_id * 7 + int(snap["hour"] * 12)) % 5
        running = power_w > 0
        record: dict[str, Any] = {}
        dc_w = power_w / 0.97
        vpv = (380.0 + 40.0 * sun + wobble) if running else 0.0
        for string in (1, 2, 3):
            used = string <= 2
            volts = vpv - 3.0 * (string - 1) if used and running else 0.0
            record[f"ipv{string}"] = round(dc_w / 2.0 / volts, 2) if volts else 0
        for string in (1, 2, 3):
            used = string <= 2
            record[f"vpv{string}"] = round(vpv - 3.0 * (string - 1), 1) if used and running else 0
        phases = 3 if inverter.three_phase else 1
        for phase in (1, 2, 3):
            vac = 229.0 + 0.4 * wobble + phase * 0.7 if phase <= phases else 0.0
            iac = power_w / phases / vac if vac and running else 0.0
            record[f"iac{phase}"] = round(iac, 2)
        for phase in (1, 2, 3):
            vac = 229.0 + 0.4 * wobble + phase * 0.7 if phase <= phases else 0.0
            record[f"vac{phase}"] = round(vac, 1)
        record.update(
            {
                "power": round(power_w, 1),
                "today_energy": round(snap["today"] * share, 2),
                "month_energy": round(snap["month"] * share, 2),
                "year_energy": round(snap["year"] * share, 2),
                "total_energy": round(snap["total"] * share, 2),
                "temperature": round(18.0 + 27.0 * sun + wobble * 0.3, 1),
                "fac": round(49.98 + 0.01 * wobble, 2),
                "power_factor": 1.0 if running else 0,
                "time": _iso(snap["local"]),
            }
        )
        return record

    def raw_record(self, device_id: int) -> dict[str, Any]:
        """The current datasigns row of an inverter (for assertions)."""
        inverter = self._devices[device_id]
        plant = self._plants[inverter.plant_id]
        return self._inverter_record(
            inverter, self._snapshot(plant, self._plant_time(plant, self._clock()))
        )

    # -- endpoints ---------------------------------------------------------------------------

    def _plant_param(self, query: Any) -> _Plant | None:
        plant_id = _as_int(query.get("plant_id"))
        return self._plants.get(plant_id) if plant_id is not None else None

    def _device_param(self, query: Any) -> _Inverter | None:
        device_id = _as_int(query.get("device_id"))
        return self._devices.get(device_id) if device_id is not None else None

    @staticmethod
    def _locale(query: Any) -> str | None:
        locale = query.get("locale") or "en-US"
        return locale if locale in LOCALES else None

    def _plant_row(self, plant: _Plant, locale: str, now: float) -> dict[str, Any]:
        snap = self._snapshot(plant, self._plant_time(plant, now))
        return {
            "locale": locale,
            "plant_id": plant.plant_id,
            "name": plant.name,
            "user_id": self.uid,
            "status": self._plant_status(plant, snap),
            "country": plant.country,
            "city": plant.city,
            "longitude": plant.longitude,
            "latitude": plant.latitude,
            "peak_power": plant.peak_kw,
            "create_date": plant.created.isoformat(),
            "image_url": "http://webportal.saj-solar.com/images/DefaultImage.jpg",
            "operator": "",
            "installer": "Solar Installer BV",
            "current_power": round(snap["power_kw"], 3),
            "total_energy": round(snap["total"], 2),
        }

    def _ep_plant_list(self, query: Any, now: float) -> _Result:
        paging = _paging(query)
        locale = self._locale(query)
        search_type = query.get("search_type") or None
        if paging is None or locale is None:
            return E_PARAM, None
        if search_type is not None and search_type not in SEARCH_TYPES:
            return E_PARAM, None
        keyword = (query.get("search_keyword") or "").strip().lower()
        plants = [p for p in self._plants.values() if keyword in p.name.lower()]
        page, perpage = paging
        chosen = plants[(page - 1) * perpage : page * perpage]
        return OK, {
            "count": len(plants),
            "plants": [self._plant_row(p, locale, now) for p in chosen],
        }

    def _ep_plant_details(self, query: Any, now: float) -> _Result:
        plant = self._plant_param(query)
        locale = self._locale(query)
        if plant is None or locale is None:
            return E_PARAM, None
        snap = self._snapshot(plant, self._plant_time(plant, now))
        models = sorted({inv.model for inv in plant.inverters})
        panels = round(plant.peak_kw * 1000 / 400)
        return OK, {
            "locale": locale,
            "name": plant.name,
            "user_id": self.uid,
            "description": "",
            "notes": "",
            "status": self._plant_status(plant, snap),
            "country": plant.country,
            "state": "Utrecht",
            "city": plant.city,
            "address1": "Stationsplein 1",
            "address2": "",
            "longitude": plant.longitude,
            "latitude": plant.latitude,
            "postal": "3511 ED",
            "elevation": 5,
            "plant_type": PLANT_TYPE_RESIDENTIAL,
            "grid_type": GRID_TYPE_ON_GRID,
            "installed_dc_capacity": plant.peak_kw,
            "installed_ac_capacity": round(sum(inv.rated_kw for inv in plant.inverters), 2),
            "installed_panel_area": round(panels * 1.9, 1),
            "create_date": plant.created.isoformat(),
            "image_url": "http://webportal.saj-solar.com/images/DefaultImage.jpg",
            "peak_power": plant.peak_kw,
            "currency": "EUR",
            "timezone": _offset_label(snap["local"].utcoffset()),
            "ownerorganization": "",
            "ownercontact": "",
            "designerorganization": "",
            "designercontact": "",
            "installerorganization": "Solar Installer BV",
            "installercontact": "",
            "operatororganization": "",
            "operatorcontact": "",
            "financierorganization": "",
            "financiercontact": "",
            "offtakerorganization": "",
            "offtakercontact": "",
            "jurisdictionorganization": "",
            "jurisdictioncontact": "",
            "tracker_type": TRACKER_FIXED,
            "inverter_man": "SAJ",
            "inverter_md": ",".join(models),
            "inverter_num": len(plant.inverters),
            "arrays": [{"num_modules": panels, "module_man": "Generic"}],
            "inverters": [
                {"inverter_man": "SAJ", "inverter_md": model, "inverter_num": n}
                for model in models
                if (n := sum(1 for inv in plant.inverters if inv.model == model))
            ],
        }

    def _ep_plant_data(self, query: Any, now: float) -> _Result:
        plant = self._plant_param(query)
        if plant is None:
            return E_PARAM, None
        snap = self._snapshot(plant, self._plant_time(plant, now))
        today = snap["today"]
        peak_actual = (
            plant.peak_kw * DERATE * weather_factor(snap["local"].toordinal(), plant.plant_id)
        )
        return OK, {
            # §3.2.6 lists "peak_power_actua[l]" while its example shows "peak_power": both.
            "peak_power_actual": round(peak_actual, 3),
            "peak_power": round(peak_actual, 3),
            "efficiency": round(today / plant.peak_kw, 2),
            "last_update_time": _iso(snap["local"]),
            "current_power": round(snap["power_kw"], 3),
            "today_energy": round(today, 2),
            "monthly_energy": round(snap["month"], 2),
            "yearly_energy": round(snap["year"], 2),
            "total_energy": round(snap["total"], 2),
            "carbon_offset": round(snap["total"] * _CO2_TON_PER_KWH, 3),
            "timezone": _offset_label(snap["local"].utcoffset()),
        }

    def _ep_plant_energy(self, query: Any, now: float) -> _Result:
        plant = self._plant_param(query)
        start = _as_date(query.get("start_date"))
        end = _as_date(query.get("end_date"))
        unit = query.get("time_unit") or "day"
        paging = _paging(query)
        if plant is None or start is None or end is None or paging is None:
            return E_PARAM, None
        if unit not in TIME_UNITS or start > end:
            return E_PARAM, None
        snap = self._snapshot(plant, self._plant_time(plant, now))
        today = snap["local"].date()
        last = min(end, today)
        page, perpage = paging
        rows: list[dict[str, Any]] = []
        if unit == "day":
            count = max(0, (last - start).days + 1)
            for index in range((page - 1) * perpage, min(count, page * perpage)):
                day = start + timedelta(days=index)
                energy = snap["today"] if day == today else self._day_kwh(plant, day.toordinal())
                rows.append({"date": day.isoformat(), "energy": round(energy, 2)})
            return OK, {"count": count, "time_unit": unit, "energys": rows}
        buckets: list[tuple[str, date, date]] = []  # label, first day, day after the last
        if unit == "month":
            cursor = start.replace(day=1)
            while cursor <= last:
                after = (cursor + timedelta(days=32)).replace(day=1)
                buckets.append((cursor.strftime("%Y-%m"), cursor, after))
                cursor = after
        else:
            for year in range(start.year, last.year + 1):
                buckets.append((f"{year:04d}", date(year, 1, 1), date(year + 1, 1, 1)))
        for label, first, after in buckets[(page - 1) * perpage : page * perpage]:
            lo = max(first, start)
            hi = min(after, last + timedelta(days=1), today)  # whole days before today
            energy = self._sum_kwh(plant, lo.toordinal(), hi.toordinal())
            if lo <= today < after and today <= end:
                energy += snap["today"]
            rows.append({"date": label, "energy": round(energy, 2)})
        return OK, {"count": len(buckets), "time_unit": unit, "energys": rows}

    def _ep_plant_power(self, query: Any, now: float) -> _Result:
        plant = self._plant_param(query)
        day = _as_date(query.get("date"))
        tz_id = query.get("timezone_id") or "UTC"
        use_dst = _bool_param(query.get("use_dst"), True)
        zone = _zone(tz_id) if tz_id in TIMEZONE_IDS else None
        if plant is None or day is None or zone is None or use_dst is None:
            return E_PARAM, None
        if not use_dst:
            noon = datetime(day.year, day.month, day.day, 12, tzinfo=zone)
            zone = timezone((noon.utcoffset() or timedelta()) - (noon.dst() or timedelta()))
        first = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
        after = day + timedelta(days=1)
        stop = datetime(after.year, after.month, after.day, tzinfo=zone).timestamp()
        latest = self._plant_time(plant, now)
        powers = []
        moment = first
        while moment < stop and moment <= latest:
            snap = self._snapshot(plant, moment)
            stamp = datetime.fromtimestamp(moment, UTC).astimezone(zone)
            powers.append({"time": _iso(stamp), "power": round(snap["power_kw"] * 1000.0, 2)})
            moment += 300.0
        return OK, {"count": len(powers), "powers": powers}

    def _ep_device_list(self, query: Any, now: float) -> _Result:
        plant = self._plant_param(query)
        paging = _paging(query)
        if plant is None or paging is None:
            return E_PARAM, None
        page, perpage = paging
        stamp = _iso(datetime.fromtimestamp(self._plant_time(plant, now), plant.tz))
        devices = [
            {
                "device_id": inv.device_id,
                "datalogger_sn": inv.datalogger_sn,
                "device_sn": inv.sn,
                "type": DEVICE_TYPE_INVERTER,
                "manufacturer": "SAJ",
                "model": inv.model,
                "last_update_time": stamp,
            }
            for inv in plant.inverters[(page - 1) * perpage : page * perpage]
        ]
        return OK, {"count": len(plant.inverters), "devices": devices}

    def _ep_datasigns(self, query: Any, now: float) -> _Result:
        inverter = self._device_param(query)
        end = _as_date(query.get("end_date"))
        if inverter is None or end is None:
            return E_PARAM, None
        plant = self._plants[inverter.plant_id]
        latest = self._plant_time(plant, now)
        # end_date is a cut-off date (plant-local): an earlier date gives that day's last row.
        after = end + timedelta(days=1)
        cutoff = datetime(after.year, after.month, after.day, tzinfo=plant.tz).timestamp()
        moment = min(latest, self._data_time(cutoff - 1.0))
        created = datetime(
            plant.created.year, plant.created.month, plant.created.day, tzinfo=plant.tz
        ).timestamp()
        datas = []
        if moment >= created:
            datas.append(self._inverter_record(inverter, self._snapshot(plant, moment)))
        return OK, {
            "count": len(datas),
            "datalogger_sn": inverter.datalogger_sn,
            "next_page_start_id": 0,
            "sn": inverter.sn,
            "datas": datas,
        }

    def _ep_alarm(self, query: Any, now: float) -> _Result:
        inverter = self._device_param(query)
        locale = self._locale(query)
        paging = _paging(query)
        if inverter is None or locale is None or paging is None:
            return E_PARAM, None
        plant = self._plants[inverter.plant_id]
        alarms = sorted(
            (a for a in self._alarms if a.sn == inverter.sn and a.start <= now),
            key=lambda a: (a.end is not None, -a.start),
        )
        page, perpage = paging

        def stamp(value: float | None) -> str | None:
            return None if value is None else _iso(datetime.fromtimestamp(value, plant.tz))

        rows = []
        for alarm in alarms[(page - 1) * perpage : page * perpage]:
            english, chinese = ALARM_TEXTS.get(alarm.code, (alarm.code, alarm.code))
            rows.append(
                {
                    "alarm_code": alarm.code,
                    "alarm_message": chinese if locale == "zh-Hans" else english,
                    "start_time": stamp(alarm.start),
                    "end_time": stamp(alarm.end),
                    "status": 0 if alarm.end is None else 1,
                }
            )
        # The §3.2.13 example gives count as a string ("102").
        return OK, {"count": str(len(alarms)), "sn": inverter.sn, "alarms": rows}

    # -- auth, quota, dispatch ---------------------------------------------------------------

    def _issue(self, scope: str, now: float) -> dict[str, Any]:
        if self._token is not None:
            self._superseded.add(self._token.access_token)
        self._token = _Token(
            access_token=secrets.token_hex(16),
            refresh_token=secrets.token_hex(16),
            client_id=self.client_id,
            expiry=now + self.token_ttl,
            scope=scope,
        )
        self.logins += 1
        return self._token_data(self._token)

    def _token_data(self, token: _Token) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "scope": token.scope,
            "token": "bearer",
            "expires_in": self.token_ttl,
            "refresh_token": token.refresh_token,
            "access_token": token.access_token,
        }

    def _access_token(self, query: Any, now: float) -> _Result:
        grant = query.get("grant_type")
        client_id = query.get("client_id")
        if not client_id or grant not in ("client_credentials", "refresh_token"):
            return E_PARAM, None
        if client_id != self.client_id:
            return E_TOKEN_FAILED, None
        if grant == "refresh_token":
            refresh = query.get("refresh_token")
            if not refresh:
                return E_PARAM, None
            token = self._token
            if token is None or refresh != token.refresh_token:
                return E_NO_REFRESH, None
            token.expiry = now + self.token_ttl  # §2.2: same validity length as before
            return OK, self._token_data(token)
        if not query.get("client_secret"):
            return E_PARAM, None
        if query["client_secret"] != self.client_secret:
            return E_SECRET, None
        scopes = (query.get("scope") or "read").split()
        if not scopes or any(s not in ("read", "write") for s in scopes):
            return E_PARAM, None
        return OK, self._issue(" ".join(scopes), now)

    def _auth_code(self, request: web.Request, now: float) -> int | None:
        presented = (request.headers.get("token") or "").strip()
        if not presented:
            return E_NO_TOKEN
        token = self._token
        if token is None or presented != token.access_token:
            return E_NO_SUCH_TOKEN  # unknown, or superseded by a newer accessToken call
        if now >= token.expiry:
            return E_EXPIRED
        if token.client_id != self.client_id:
            return E_APP_MISMATCH
        if (request.headers.get("uid") or "").strip() != str(self.uid):
            return E_UID
        return None

    def _quota_code(self, now: float) -> int | None:
        over = self._quota.over_cap(now, self.hourly_cap, self.daily_cap)
        return None if over is None else E_HOURLY_CAP if over == "hour" else E_DAILY_CAP

    def _refuse(self, name: str, code: int) -> web.Response:
        self.refusals[name] += 1
        return _envelope(code)

    async def _dispatch(self, request: web.Request, name: str) -> web.Response:
        now = self._clock()
        self._log(now, name)
        fault, now = await self._request_fault(name, now)
        if fault is not None:
            if fault.code is None:
                return self._fault_page(fault.kind)
            if fault.code in _QUOTA_CODES:
                return self._refuse(name, fault.code)
            return _envelope(fault.code)
        query = request.query
        if name == "/accessToken":
            self.calls[name] += 1
            code, data = self._access_token(query, now)
            return _envelope(code, data)
        code = self._auth_code(request, now)
        if code is not None:
            return _envelope(code)
        quota = self._quota_code(now)
        if quota is not None:
            return self._refuse(name, quota)
        self._quota.count(now)
        self.calls[name] += 1
        code, data = self._endpoints[name](query, now)
        if code == OK:
            data = self._shaped(name, data)
        return _envelope(code, data)

    async def _fallback(self, request: web.Request) -> web.Response:
        self._log(self._clock(), request.path)
        return _envelope(E_NO_API)

    def make_app(self) -> web.Application:
        """A new aiohttp application serving this simulator's state."""
        app = web.Application()
        for name in ("/accessToken", *self._endpoints):
            app.router.add_get(name, self._handler(name), allow_head=False)
        app.router.add_route("*", "/{tail:.*}", self._fallback)
        return app

    # -- faults -------------------------------------------------------------------------------

    def _fail_code(self, text: str) -> int:
        return numeric_fail_code(text, "fail_code:10010")

    def _fault_path(self, path: str) -> str:
        return "/" + path.strip("/")


# ---------------------------------------------------------------------------------------------
# Standalone server
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = server_parser("Run the fake SAJ OpenAPI server.", port=8993)
    parser.add_argument("--client-id", default="SAJAPPID0001")
    parser.add_argument("--client-secret", default="0123456789abcdef0123456789abcdef")
    parser.add_argument("--hourly-cap", type=int, default=None)
    parser.add_argument("--daily-cap", type=int, default=None)
    parser.add_argument("--token-ttl", type=int, default=TOKEN_TTL)
    parser.add_argument("--timezone-id", default="Europe/Amsterdam")
    parser.add_argument("--plant-name", default="Plant {n}", help='plant names, "{n}" the number')
    args = parser.parse_args(argv)
    global PLANT_NAME  # noqa: PLW0603 - the standalone server names its plants once, at start
    PLANT_NAME = args.plant_name
    simulator = SajSimulator(
        plants=args.plants,
        client_id=args.client_id,
        client_secret=args.client_secret,
        hourly_cap=args.hourly_cap,
        daily_cap=args.daily_cap,
        token_ttl=args.token_ttl,
        timezone_id=args.timezone_id,
    )
    serve(
        simulator,
        args.host,
        args.port,
        f"SAJ OpenAPI simulator: http://{args.host}:{args.port}\n"
        f"  client_id={args.client_id} client_secret={args.client_secret}\n"
        f"  plants: {', '.join(str(p) for p in simulator.plant_ids())}\n",
    )


if __name__ == "__main__":
    main()
