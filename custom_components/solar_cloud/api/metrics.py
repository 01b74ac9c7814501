"""The metric vocabulary shared by every vendor.

Each vendor client maps its raw fields onto these keys and converts values into the unit given
here, so that one dashboard or automation works whatever the cloud. The Home Assistant layer turns
``Quantity`` into device and state classes; this module knows nothing of Home Assistant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Quantity(StrEnum):
    """What a metric measures; decides the unit family and how it is presented."""

    POWER = "power"
    ENERGY = "energy"
    ENERGY_STORAGE = "energy_storage"
    REACTIVE_POWER = "reactive_power"
    REACTIVE_ENERGY = "reactive_energy"
    APPARENT_POWER = "apparent_power"
    MONEY = "money"
    MASS = "mass"
    BATTERY = "battery"
    PERCENT = "percent"
    VOLTAGE = "voltage"
    CURRENT = "current"
    FREQUENCY = "frequency"
    POWER_FACTOR = "power_factor"
    TEMPERATURE = "temperature"
    IRRADIANCE = "irradiance"
    IRRADIATION = "irradiation"
    WIND_SPEED = "wind_speed"
    ANGLE = "angle"
    ENUM = "enum"
    COUNT = "count"
    TIMESTAMP = "timestamp"


class Accumulation(StrEnum):
    """How a value evolves over time."""

    INSTANT = "instant"  # a reading now
    DAILY = "daily"  # counter that restarts at local midnight (or month / year)
    LIFETIME = "lifetime"  # counter that only grows


@dataclass(frozen=True, slots=True)
class Metric:
    """One entry of the catalog."""

    key: str
    quantity: Quantity
    unit: str | None
    accumulation: Accumulation = Accumulation.INSTANT
    # Shown under "Diagnostic" in Home Assistant.
    diagnostic: bool = False
    # Niche values: created disabled so they cost nothing until a user enables them.
    enabled_by_default: bool = True
    # For enum metrics: every state the vendors map onto.
    options: tuple[str, ...] = ()


W = "W"
KWH = "kWh"
V = "V"
A = "A"
PCT = "%"

INVERTER_STATES: tuple[str, ...] = (
    "standby",
    "starting",
    "running",
    "power_limited",
    "derating",
    "shutdown",
    "fault",
    "grid_dispatch",
    "testing",
    "no_irradiation",
    "communication_lost",
    "forced",
    "off_grid",
    "external_dispatch",
    "offline",
    "unknown",
)
BATTERY_STATES: tuple[str, ...] = (
    "offline",
    "standby",
    "running",
    "fault",
    "sleeping",
    "charging",
    "discharging",
    "unknown",
)
BATTERY_WORKING_MODES: tuple[str, ...] = (
    "none",
    "forced",
    "time_of_use",
    "fixed",
    "self_consumption",
    "external_dispatch",
    "unknown",
)
FAULT_STATES: tuple[str, ...] = ("normal", "alarm", "fault", "unknown")
PLANT_STATES: tuple[str, ...] = (
    "running",
    "planning",
    "off_grid",
    "standby",
    "low_light",
    "manual_shutdown",
    "fault",
    "alarm",
    "emergency_stop",
    "communication_error",
    "unknown",
)
HEALTH_STATES: tuple[str, ...] = ("disconnected", "faulty", "alarm", "healthy", "unknown")

_I = Accumulation.INSTANT
_D = Accumulation.DAILY
_L = Accumulation.LIFETIME


def _m(
    key: str,
    quantity: Quantity,
    unit: str | None,
    accumulation: Accumulation = _I,
    *,
    diagnostic: bool = False,
    enabled: bool = True,
    options: tuple[str, ...] = (),
) -> Metric:
    return Metric(key, quantity, unit, accumulation, diagnostic, enabled, options)


_CATALOG: tuple[Metric, ...] = (
    # Production
    _m("pv_power", Quantity.POWER, W),
    _m("dc_power", Quantity.POWER, W),
    _m("energy_today", Quantity.ENERGY, KWH, _D),
    _m("energy_month", Quantity.ENERGY, KWH, _D, enabled=False),
    _m("energy_year", Quantity.ENERGY, KWH, _D, enabled=False),
    _m("energy_total", Quantity.ENERGY, KWH, _L),
    _m("dc_energy_total", Quantity.ENERGY, KWH, _L, enabled=False),
    _m("income_today", Quantity.MONEY, None, _D),
    _m("income_total", Quantity.MONEY, None, _L),
    _m("co2_avoided_total", Quantity.MASS, "kg", _L, enabled=False),
    # Consumption
    _m("load_power", Quantity.POWER, W),
    _m("load_energy_today", Quantity.ENERGY, KWH, _D),
    _m("load_energy_total", Quantity.ENERGY, KWH, _L),
    # Grid
    _m("grid_import_power", Quantity.POWER, W),
    _m("grid_export_power", Quantity.POWER, W),
    _m("grid_power", Quantity.POWER, W, enabled=False),  # signed, + while importing
    _m("grid_import_energy_today", Quantity.ENERGY, KWH, _D),
    _m("grid_import_energy_total", Quantity.ENERGY, KWH, _L),
    _m("grid_export_energy_today", Quantity.ENERGY, KWH, _D),
    _m("grid_export_energy_total", Quantity.ENERGY, KWH, _L),
    _m(
        "grid_import_reactive_energy_total",
        Quantity.REACTIVE_ENERGY,
        "kvarh",
        _L,
        enabled=False,
    ),
    _m(
        "grid_export_reactive_energy_total",
        Quantity.REACTIVE_ENERGY,
        "kvarh",
        _L,
        enabled=False,
    ),
    _m("apparent_power", Quantity.APPARENT_POWER, "VA", enabled=False),
    # Battery
    _m("battery_soc", Quantity.BATTERY, PCT),
    _m("battery_soh", Quantity.PERCENT, PCT, diagnostic=True),
    _m("battery_charge_power", Quantity.POWER, W),
    _m("battery_discharge_power", Quantity.POWER, W),
    _m("battery_power", Quantity.POWER, W),
    _m("battery_voltage", Quantity.VOLTAGE, V, diagnostic=True),
    _m("battery_current", Quantity.CURRENT, A, diagnostic=True, enabled=False),
    _m("battery_capacity", Quantity.ENERGY_STORAGE, KWH, diagnostic=True),
    _m("battery_max_cell_voltage", Quantity.VOLTAGE, V, diagnostic=True, enabled=False),
    _m("battery_min_cell_voltage", Quantity.VOLTAGE, V, diagnostic=True, enabled=False),
    _m("battery_charge_from_pv_energy_today", Quantity.ENERGY, KWH, _D, enabled=False),
    _m("battery_charge_from_pv_energy_total", Quantity.ENERGY, KWH, _L, enabled=False),
    _m("backup_power", Quantity.POWER, W),
    _m("self_consumption_energy_today", Quantity.ENERGY, KWH, _D, enabled=False),
    _m("self_consumption_energy_total", Quantity.ENERGY, KWH, _L, enabled=False),
    _m("fault_status", Quantity.ENUM, None, diagnostic=True, options=FAULT_STATES),
    _m("battery_temperature", Quantity.TEMPERATURE, "°C", diagnostic=True),
    _m("battery_max_charge_power", Quantity.POWER, W, diagnostic=True, enabled=False),
    _m("battery_max_discharge_power", Quantity.POWER, W, diagnostic=True, enabled=False),
    _m("battery_charge_energy_today", Quantity.ENERGY, KWH, _D),
    _m("battery_charge_energy_total", Quantity.ENERGY, KWH, _L),
    _m("battery_discharge_energy_today", Quantity.ENERGY, KWH, _D),
    _m("battery_discharge_energy_total", Quantity.ENERGY, KWH, _L),
    _m("battery_status", Quantity.ENUM, None, options=BATTERY_STATES),
    _m("battery_working_mode", Quantity.ENUM, None, options=BATTERY_WORKING_MODES),
    # Inverter AC side and state
    _m("grid_frequency", Quantity.FREQUENCY, "Hz", diagnostic=True),
    _m("power_factor", Quantity.POWER_FACTOR, None, diagnostic=True),
    _m("reactive_power", Quantity.REACTIVE_POWER, "var", diagnostic=True, enabled=False),
    _m("temperature", Quantity.TEMPERATURE, "°C", diagnostic=True),
    _m("efficiency", Quantity.PERCENT, PCT, diagnostic=True, enabled=False),
    _m("inverter_status", Quantity.ENUM, None, options=INVERTER_STATES),
    _m("startup_time", Quantity.TIMESTAMP, None, diagnostic=True, enabled=False),
    _m("shutdown_time", Quantity.TIMESTAMP, None, diagnostic=True, enabled=False),
    # Plant
    _m("alarm_count", Quantity.COUNT, None),
    _m("health_state", Quantity.ENUM, None, diagnostic=True, options=HEALTH_STATES),
    _m("plant_status", Quantity.ENUM, None, options=PLANT_STATES),
    _m("last_data_time", Quantity.TIMESTAMP, None, diagnostic=True),
    # Weather station (EMI)
    _m("ambient_temperature", Quantity.TEMPERATURE, "°C"),
    _m("module_temperature", Quantity.TEMPERATURE, "°C"),
    _m("wind_speed", Quantity.WIND_SPEED, "m/s"),
    _m("wind_direction", Quantity.ANGLE, "°", enabled=False),
    _m("irradiance", Quantity.IRRADIANCE, "W/m²"),
    _m("horizontal_irradiance", Quantity.IRRADIANCE, "W/m²", enabled=False),
    _m("irradiation_today", Quantity.IRRADIATION, "MJ/m²", _D),
    _m("horizontal_irradiation_today", Quantity.IRRADIATION, "MJ/m²", _D, enabled=False),
)

# Families of keys with a number or a phase in them.
_PATTERNS: tuple[tuple[re.Pattern[str], Metric], ...] = (
    (
        re.compile(r"pv\d+_voltage"),
        _m("", Quantity.VOLTAGE, V, diagnostic=True, enabled=False),
    ),
    (
        re.compile(r"pv\d+_current"),
        _m("", Quantity.CURRENT, A, diagnostic=True, enabled=False),
    ),
    (
        re.compile(r"mppt\d+_energy_total"),
        _m("", Quantity.ENERGY, KWH, _L, diagnostic=True, enabled=False),
    ),
    (re.compile(r"phase_[abc]_voltage"), _m("", Quantity.VOLTAGE, V, diagnostic=True)),
    (re.compile(r"phase_[abc]_current"), _m("", Quantity.CURRENT, A, diagnostic=True)),
    (
        re.compile(r"line_(ab|bc|ca)_voltage"),
        _m("", Quantity.VOLTAGE, V, diagnostic=True, enabled=False),
    ),
    (re.compile(r"phase_[abc]_power"), _m("", Quantity.POWER, W, enabled=False)),
    (re.compile(r"phase_[abc]_backup_power"), _m("", Quantity.POWER, W, enabled=False)),
    (
        re.compile(r"phase_[abc]_reactive_power"),
        _m("", Quantity.REACTIVE_POWER, "var", diagnostic=True, enabled=False),
    ),
    (
        re.compile(r"grid_(import|export)_energy_(peak|shoulder|off_peak|sharp)"),
        _m("", Quantity.ENERGY, KWH, _L, enabled=False),
    ),
    (
        re.compile(r"grid_(import|export)_reactive_energy_(peak|shoulder|off_peak|sharp)"),
        _m("", Quantity.REACTIVE_ENERGY, "kvarh", _L, enabled=False),
    ),
)

METRICS: dict[str, Metric] = {m.key: m for m in _CATALOG}


def get_metric(key: str) -> Metric | None:
    """Return the catalog entry of ``key``, including the numbered and per-phase families."""
    if (found := METRICS.get(key)) is not None:
        return found
    for pattern, template in _PATTERNS:
        if pattern.fullmatch(key):
            return Metric(
                key,
                template.quantity,
                template.unit,
                template.accumulation,
                template.diagnostic,
                template.enabled_by_default,
                template.options,
            )
    return None
