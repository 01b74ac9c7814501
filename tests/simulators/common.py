"""What the vendor simulators have in common: the base class, fault injection and curves.

Every simulator in this package (``huawei``, ``sungrow``, ``saj``, ``shinemonitor``) derives from
:class:`Simulator`, which holds the clock, the call and refusal counters, the capped request log,
the ``aiohttp`` application and the fault-injection hooks ``inject`` / ``clear_faults``. Where
the vendors differ, a simulator says so through class attributes and small hook methods:

* ``fault_exempt``: the name (the login call) that a fault without ``path`` never matches;
* ``value_fault_names``: where a path-less ``null_values`` / ``na_values`` may land (None:
  anywhere);
* ``extra_fault_kinds``: fault kinds of its own beyond the common ones;
* ``fault_html`` / ``fault_json``: the body of the ``html`` fault and the truncated body of the
  ``malformed_json`` fault;
* ``identity_keys`` / ``na_filler``: the keys a data-shaping fault keeps and the text that
  ``na_values`` writes;
* ``_fail_code`` / ``_fault_path``: how ``fail_code:<code>`` and ``path`` are read;
* ``_shape``: how a data-shaping fault walks the vendor's answer (by default every nested object,
  keeping ``identity_keys``).

The rest of the module holds helpers the measurement models are built from: the one-minute day
profiles (sun, house load, battery) of the Huawei and Sungrow simulators, the closed-form sun
curve and weekly weather of the SAJ and ShineMonitor ones, sliding windows and hourly call
quotas, and the standalone-server plumbing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from http import HTTPStatus
from typing import Any, ClassVar, Final, Literal, Protocol

import orjson
from aiohttp import web

# ---------------------------------------------------------------------------------------------
# Fault kinds and replies
# ---------------------------------------------------------------------------------------------

# Faults that replace the whole answer, and faults that damage the data of a successful one.
REPLACING_FAULTS: Final = frozenset({"http_500", "http_502", "html", "malformed_json"})
DATA_FAULTS: Final = frozenset({"null_values", "na_values", "missing_fields"})
# The data faults that overwrite values (rather than drop them).
VALUE_FAULTS: Final = frozenset({"null_values", "na_values"})

HTML_ERROR: Final = (
    "<!DOCTYPE html><html><head><title>{status} {reason}</title></head>"
    "<body><h1>{status} {reason}</h1><hr><p>nginx</p></body></html>"
)


def html_error(status: int) -> web.Response:
    """The front proxy's HTML error page (404, 500, 502 …) with that status."""
    html = HTML_ERROR.format(status=status, reason=HTTPStatus(status).phrase)
    return web.Response(status=status, text=html, content_type="text/html")


def maintenance_page(
    title: str, *, heading: str = "System maintenance", subject: str = "service"
) -> str:
    """An HTML maintenance notice served with HTTP 200 in place of JSON."""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{heading}</h1><p>The {subject} is being upgraded. "
        "Please try again later.</p></body></html>"
    )


def json_response(payload: Any, status: int = 200) -> web.Response:
    """Compact JSON, as the vendors' servers send it."""
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", charset="utf-8"
    )


@dataclass(slots=True)
class Injected[C]:
    """A pending injected fault: kind, the name it is limited to, uses left, vendor code."""

    kind: str
    path: str | None
    remaining: int
    code: C | None = None


def numeric_fail_code(text: str, example: str) -> int:
    """The code of ``fail_code:<text>`` for vendors with numeric codes (``example`` in errors)."""
    text = text.strip()
    if not text.isdigit():
        raise ValueError(f"fail_code needs a numeric code, e.g. {example}")
    return int(text)


def filler(kind: str, na: str) -> str | None:
    """The value a value-overwriting fault writes: None for null_values, ``na`` otherwise."""
    return None if kind == "null_values" else na


def shape_record(
    record: Mapping[str, Any], kind: str, keep: Callable[[str], bool], na: str
) -> dict[str, Any]:
    """A flat object damaged by a data fault: only the ``keep`` keys, or the others filled."""
    if kind == "missing_fields":
        return {k: v for k, v in record.items() if keep(k)}
    fill = filler(kind, na)
    return {k: v if keep(k) else fill for k, v in record.items()}


def shape_tree(data: Any, kind: str, keep: Callable[[str], bool], na: str) -> Any:
    """Every object nested in ``data`` damaged by a data fault; ``keep`` keys stay as they are."""
    if isinstance(data, list):
        return [shape_tree(item, kind, keep, na) for item in data]
    if not isinstance(data, dict):
        return data
    fill = filler(kind, na)
    shaped: dict[str, Any] = {}
    for key, value in data.items():
        if keep(key):
            shaped[key] = value
        elif isinstance(value, list | dict):
            shaped[key] = shape_tree(value, kind, keep, na)
        elif kind != "missing_fields":
            shaped[key] = fill
    return shaped


# ---------------------------------------------------------------------------------------------
# The simulator base class
# ---------------------------------------------------------------------------------------------


class Simulator[C]:
    """Clock, counters, request log, application and fault injection of a simulator.

    ``C`` is the type of the vendor's error codes as ``fail_code:<code>`` gives them.
    """

    # Fault injection, per vendor (see the module docstring).
    fault_exempt: ClassVar[str] = "login"
    value_fault_names: ClassVar[frozenset[str] | None] = None
    extra_fault_kinds: ClassVar[frozenset[str]] = frozenset()
    fault_html: ClassVar[str] = ""
    fault_json: ClassVar[str] = ""
    identity_keys: ClassVar[frozenset[str]] = frozenset()
    na_filler: ClassVar[str] = "--"

    def __init__(self, clock: Callable[[], float] | None, timeout_delay: float = 2.0) -> None:
        # Looked up at each call, so a frozen or hand-moved test clock stands in for the wall
        # clock.
        self._clock: Callable[[], float] = clock or (lambda: time.time())
        self.timeout_delay = timeout_delay
        self.calls: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.logins = 0
        self.requests: list[tuple[Any, ...]] = []
        self.requests_cap = 10_000
        self._injected: list[Injected[C]] = []
        self._app: web.Application | None = None

    def now(self) -> float:
        """The simulator's clock in seconds."""
        return self._clock()

    # -- application --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """A new aiohttp application serving this simulator's state."""
        raise NotImplementedError

    @property
    def app(self) -> web.Application:
        """The simulator's application, created on first use."""
        if self._app is None:
            self._app = self.make_app()
        return self._app

    async def _dispatch(self, request: web.Request, name: str) -> web.Response:
        """Answer a request to the endpoint ``name`` (for routes made with ``_handler``)."""
        raise NotImplementedError

    def _handler(self, name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await self._dispatch(request, name)

        return handle

    def _log(self, now: float, *fields: str) -> None:
        """Add ``(now, *fields)`` to ``requests``, dropping the oldest beyond the cap."""
        requests = self.requests
        requests.append((now, *fields))
        if len(requests) > 2 * self.requests_cap:
            del requests[: -self.requests_cap]

    # -- faults -------------------------------------------------------------------------------

    def inject(self, kind: str, *, path: str | None = None, count: int = 1) -> None:
        """Answer the next ``count`` matching requests with a fault instead of normally.

        ``kind`` is one of the simulator module's ``FAULT_KINDS``; ``fail_code:<code>`` answers
        with that vendor error code. ``path`` names the one endpoint the fault is for (see the
        simulator's class docstring); without it any endpoint except the login one
        (``fault_exempt``) matches, and ``null_values`` / ``na_values`` only the endpoints in
        ``value_fault_names`` when the simulator sets it. Data-shaping faults (null_values,
        na_values, missing_fields) are consumed by successful answers only, the other kinds by
        the next matching request.
        """
        code: C | None = None
        if kind.startswith("fail_code:"):
            code = self._fail_code(kind.partition(":")[2])
        elif kind not in REPLACING_FAULTS | DATA_FAULTS | {"timeout"} | self.extra_fault_kinds:
            raise ValueError(f"unknown fault kind {kind!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        self._injected.append(Injected(kind, self._fault_path(path) if path else None, count, code))

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        self._injected.clear()

    def _fail_code(self, text: str) -> C:
        """The vendor error code of ``fail_code:<text>``; ValueError when it is not one."""
        raise NotImplementedError

    def _fault_path(self, path: str) -> str:
        """The endpoint name an ``inject(path=...)`` stands for."""
        return path

    def _take_fault(self, name: str, *, data: bool) -> Injected[C] | None:
        """Use up the first pending fault (a data-shaping one if ``data``) that matches ``name``."""
        for fault in self._injected:
            if (fault.kind in DATA_FAULTS) != data:
                continue
            if fault.path is None:
                if name == self.fault_exempt:
                    continue
                names = self.value_fault_names
                if names is not None and fault.kind in VALUE_FAULTS and name not in names:
                    continue
            elif fault.path != name:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._injected.remove(fault)
            return fault
        return None

    async def _request_fault(self, name: str, now: float) -> tuple[Injected[C] | None, float]:
        """(fault, now): the request-level fault for ``name``, if any, and the clock.

        A ``timeout`` is served here: it waits ``timeout_delay`` seconds and gives no fault and
        the clock after the wait, so the request then goes on normally.
        """
        fault = self._take_fault(name, data=False) if self._injected else None
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(self.timeout_delay)
            return None, self._clock()
        return fault, now

    def _fault_page(self, kind: str) -> web.Response:
        """The reply to a replacing fault: an HTML 5xx, the ``fault_html`` page or bad JSON."""
        if kind in ("http_500", "http_502"):
            return html_error(500 if kind == "http_500" else 502)
        if kind == "html":
            return web.Response(status=200, text=self.fault_html, content_type="text/html")
        return web.Response(status=200, text=self.fault_json, content_type="application/json")

    def _shape(self, data: Any, kind: str) -> Any:
        """Apply a data-shaping fault to a successful answer, building new objects."""
        return shape_tree(data, kind, self.identity_keys.__contains__, self.na_filler)

    def _shaped(self, name: str, data: Any) -> Any:
        """A successful answer of ``name``, damaged if a data-shaping fault is pending for it."""
        if self._injected:
            shaping = self._take_fault(name, data=True)
            if shaping is not None:
                return self._shape(data, shaping.kind)
        return data


# ---------------------------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------------------------


def window_full(window: deque[float], now: float, length: float, limit: int) -> bool:
    """Drop the calls older than ``length`` seconds; True when ``limit`` calls remain."""
    cutoff = now - length
    while window and window[0] <= cutoff:
        window.popleft()
    return len(window) >= limit


def take_slot(window: deque[float], now: float, length: float, limit: int) -> bool:
    """Count a call in a sliding window unless it is full; False when it was full."""
    if window_full(window, now, length, limit):
        return False
    window.append(now)
    return True


class HourlyCalls:
    """Accepted calls per clock hour (hours of a fixed UTC offset); two days are kept."""

    def __init__(self, offset_hours: int = 0) -> None:
        self._offset = offset_hours * 3600
        self._counts: Counter[int] = Counter()

    def hour(self, now: float) -> int:
        """The hour number (since 1970, in the offset's time) of ``now``."""
        return int((now + self._offset) // 3600)

    def in_hour(self, hour: int) -> int:
        return self._counts.get(hour, 0)

    def day_total(self, now: float) -> int:
        """Calls counted on the calendar day (in the offset's time) of ``now``."""
        hour = self.hour(now)
        first = hour - hour % 24
        return sum(self._counts.get(h, 0) for h in range(first, first + 24))

    def over_cap(
        self, now: float, hourly: int | None, daily: int | None
    ) -> Literal["hour", "day"] | None:
        """Which cap ("hour", "day"; None: no cap) is used up at ``now``, if any."""
        if hourly is not None and self.in_hour(self.hour(now)) >= hourly:
            return "hour"
        if daily is not None and self.day_total(now) >= daily:
            return "day"
        return None

    def count(self, now: float) -> None:
        hour = self.hour(now)
        counts = self._counts
        if hour not in counts and len(counts) > 48:
            for old in [h for h in counts if h < hour - 48]:
                del counts[old]
        counts[hour] += 1

    def clear(self) -> None:
        self._counts.clear()


def as_int(value: Any) -> int | None:
    """Integers, or decimal strings as the vendors' JSON bindings accept them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


# ---------------------------------------------------------------------------------------------
# Curves: the sun, and the one-minute day profiles (Huawei, Sungrow)
# ---------------------------------------------------------------------------------------------

MINUTES: Final = 1440
ORD_1970: Final = date(1970, 1, 1).toordinal()
BATTERY_KWH: Final = 10.0
BATTERY_MAX_KW: Final = 2.5
BATTERY_FLOOR: Final = 0.10
PRICE_PER_KWH: Final = 0.3


def sun_curve(hour: float) -> float:
    """Normalised PV output: a half sine between 06:00 and 18:00 local time."""
    if hour <= 6.0 or hour >= 18.0:
        return 0.0
    return math.sin(math.pi * (hour - 6.0) / 12.0)


def raised_cosine(hour: float, start: float, width: float, height: float) -> float:
    """Raised-cosine bump of the given height over [start, start + width]."""
    if not start <= hour <= start + width:
        return 0.0
    return height * (1.0 - math.cos(2.0 * math.pi * (hour - start) / width)) / 2.0


def house_load(hour: float) -> float:
    """House consumption in kW: a base load plus a morning and a larger evening bump."""
    return 0.4 + raised_cosine(hour, 6.0, 3.0, 0.8) + raised_cosine(hour, 17.0, 6.0, 2.0)


def cumulate(rates: Iterable[float]) -> tuple[float, ...]:
    """Running integral in kWh at every minute boundary of per-minute constant kW rates."""
    out = [0.0]
    total = 0.0
    for rate in rates:
        total += rate / 60.0
        out.append(total)
    return tuple(out)


SUN: Final = tuple(sun_curve((m + 0.5) / 60.0) for m in range(MINUTES))
LOAD: Final = tuple(house_load((m + 0.5) / 60.0) for m in range(MINUTES))
LOAD_CUM: Final = cumulate(LOAD)


@dataclass(frozen=True, slots=True)
class DayProfile:
    """One plant day at one-minute resolution (powers in kW, energies in kWh)."""

    battery_kwh: float
    pv: tuple[float, ...]
    charge: tuple[float, ...]
    discharge: tuple[float, ...]
    grid: tuple[float, ...]  # positive while importing
    imported: tuple[float, ...]
    exported: tuple[float, ...]
    direct: tuple[float, ...]  # PV consumed directly by the house
    soc: tuple[float, ...]  # stored kWh at the start of each minute
    cum_pv: tuple[float, ...]
    cum_charge: tuple[float, ...]
    cum_discharge: tuple[float, ...]
    cum_import: tuple[float, ...]
    cum_export: tuple[float, ...]
    cum_direct: tuple[float, ...]


def battery_day(
    pv: tuple[float, ...], start: float, capacity: float
) -> tuple[list[float], list[float], list[float], float]:
    """Charge from surplus and cover deficits, within the power and state-of-charge limits."""
    floor = capacity * BATTERY_FLOOR
    stored = start
    charge: list[float] = []
    discharge: list[float] = []
    levels: list[float] = []
    for minute in range(MINUTES):
        levels.append(stored)
        surplus = pv[minute] - LOAD[minute]
        if surplus > 0.0:
            power = max(0.0, min(surplus, BATTERY_MAX_KW, (capacity - stored) * 60.0))
            charge.append(power)
            discharge.append(0.0)
            stored += power / 60.0
        else:
            power = max(0.0, min(-surplus, BATTERY_MAX_KW, (stored - floor) * 60.0))
            charge.append(0.0)
            discharge.append(power)
            stored -= power / 60.0
    return charge, discharge, levels, stored


_PROFILES: dict[tuple[float, bool, int], DayProfile] = {}


def day_profile(pv_kwp: float, has_storage: bool, *, rounds: int) -> DayProfile:
    """Build (once per PV size and storage flag) the periodic daily profile of a plant.

    With storage, the battery day is repeated (at most ``rounds`` times) until it ends where it
    started: the cycle that repeats every day.
    """
    key = (pv_kwp, has_storage, rounds)
    cached = _PROFILES.get(key)
    if cached is not None:
        return cached
    pv = tuple(pv_kwp * s for s in SUN)
    if has_storage:
        stored = BATTERY_KWH * BATTERY_FLOOR
        for _ in range(rounds):
            charge, discharge, levels, end = battery_day(pv, stored, BATTERY_KWH)
            if abs(end - stored) < 1e-9:
                break
            stored = end
        battery_kwh = BATTERY_KWH
    else:
        charge = discharge = [0.0] * MINUTES
        levels = [0.0] * MINUTES
        battery_kwh = 0.0
    grid = tuple(LOAD[m] - pv[m] - discharge[m] + charge[m] for m in range(MINUTES))
    imported = tuple(max(0.0, g) for g in grid)
    exported = tuple(max(0.0, -g) for g in grid)
    direct = tuple(min(pv[m], LOAD[m]) for m in range(MINUTES))
    profile = DayProfile(
        battery_kwh=battery_kwh,
        pv=pv,
        charge=tuple(charge),
        discharge=tuple(discharge),
        grid=grid,
        imported=imported,
        exported=exported,
        direct=direct,
        soc=tuple(levels),
        cum_pv=cumulate(pv),
        cum_charge=cumulate(charge),
        cum_discharge=cumulate(discharge),
        cum_import=cumulate(imported),
        cum_export=cumulate(exported),
        cum_direct=cumulate(direct),
    )
    _PROFILES[key] = profile
    return profile


def local_minute(now: float, tz_offset_hours: float) -> tuple[int, float, int, float]:
    """(day, seconds, minute, frac) of ``now`` at a fixed UTC offset.

    ``day`` is the local day number since 1970-01-01, ``seconds`` the local time of day,
    ``minute`` the minute of the day and ``frac`` the part of that minute already elapsed.
    """
    local = now + tz_offset_hours * 3600.0
    day = math.floor(local / 86_400.0)
    seconds = local - day * 86_400.0
    minute = min(int(seconds // 60.0), MINUTES - 1)
    return day, seconds, minute, min(1.0, (seconds - minute * 60.0) / 60.0)


class MinuteOfDay(Protocol):
    """A moment resolved to its minute of the local day."""

    @property
    def minute(self) -> int: ...

    @property
    def frac(self) -> float: ...


def energy_today(
    cum: tuple[float, ...], rate: tuple[float, ...], mo: MinuteOfDay, prior: int
) -> float:
    """Energy so far today in kWh; ``prior`` < 0 means the plant is not connected yet."""
    if prior < 0:
        return 0.0
    return cum[mo.minute] + rate[mo.minute] * mo.frac / 60.0


def energy_lifetime(cum: tuple[float, ...], today: float, prior: int) -> float:
    """Energy since connection: ``prior`` whole days plus today."""
    return prior * cum[MINUTES] + today if prior >= 0 else 0.0


# A device's small deterministic wobble: index (minute * 7 + seed) % 21 picks one of these.
WOBBLE: Final = tuple((j - 10) / 10.0 for j in range(21))
PHASE_VOLTS: Final = tuple(230.0 + 1.5 * w for w in WOBBLE)


def wobble_index(minute: int, seed: int) -> int:
    """Index into the wobble tables for a device's seed and a minute."""
    return (minute * 7 + seed) % 21


# ---------------------------------------------------------------------------------------------
# Curves: closed-form sun and weekly weather (SAJ, ShineMonitor)
# ---------------------------------------------------------------------------------------------

DERATE: Final = 0.85
WEATHER: Final = (1.0, 0.92, 0.55, 0.8, 1.0, 0.35, 0.7)  # repeating weekly pattern
WEEK_SUM: Final = sum(WEATHER)


def sun_done(hour: float) -> float:
    """Share of the day's energy produced by ``hour`` (integral of ``sun_curve``, normalised)."""
    if hour <= 6.0:
        return 0.0
    if hour >= 18.0:
        return 1.0
    return (1.0 - math.cos(math.pi * (hour - 6.0) / 12.0)) / 2.0


def weather_factor(day_ord: int, seed: int) -> float:
    """The weather factor of a day (ordinal) for a plant's seed."""
    return WEATHER[(day_ord + seed) % 7]


def weather_sum(first: int, stop: int, seed: int) -> float:
    """Sum of weather factors over day ordinals ``first <= d < stop``, closed-form."""
    if stop <= first:
        return 0.0
    weeks, rest = divmod(stop - first, 7)
    return weeks * WEEK_SUM + sum(weather_factor(first + i, seed) for i in range(rest))


def local_hour(moment: datetime) -> float:
    return moment.hour + moment.minute / 60.0 + moment.second / 3600.0


def refresh_time(now: float, interval: float) -> float:
    """The latest cloud data refresh at or before ``now`` (every ``interval`` s; 0: now)."""
    return math.floor(now / interval) * interval if interval > 0 else now


# ---------------------------------------------------------------------------------------------
# Standalone server
# ---------------------------------------------------------------------------------------------


def server_parser(description: str, port: int) -> argparse.ArgumentParser:
    """An argument parser with ``--host``, ``--port`` and ``--plants``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--plants", type=int, default=1)
    return parser


def serve(simulator: Simulator[Any], host: str, port: int, banner: str) -> None:
    """Print the banner and serve a fresh application of the simulator until interrupted."""
    sys.stdout.write(banner)
    sys.stdout.flush()
    web.run_app(simulator.make_app(), host=host, port=port, print=None)
