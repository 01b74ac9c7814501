"""Value normalisation shared by the vendor clients.

Clouds send numbers as numbers, numeric strings, ``null``, ``""`` or ``"N/A"``; these helpers turn
them into floats, ints, text and times, or None, never raising.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone

from .models import Reading

DAY = 86400.0
HOUR = 3600.0


def to_float(value: object) -> float | None:
    """A number from whatever the cloud sent: numbers, numeric strings, null, "N/A", ""."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or text.upper() in {"N/A", "NA", "NULL", "NONE", "-", "--"}:
            return None
        try:
            result = float(text)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def to_int(value: object) -> int | None:
    """An integer code from a number or a numeric string."""
    number = to_float(value)
    return None if number is None else int(number)


def scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else round(value * factor, 6)


def ms_to_datetime(value: object) -> datetime | None:
    number = to_float(value)
    if number is None or number <= 0:
        return None
    try:
        return datetime.fromtimestamp(number / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def split_power(signed: float | None, positive_key: str, negative_key: str) -> dict[str, Reading]:
    """Split a signed power into two non-negative ones."""
    if signed is None:
        return {positive_key: None, negative_key: None}
    return {positive_key: max(signed, 0.0), negative_key: max(-signed, 0.0)}


def total(values: Iterable[Reading]) -> float | None:
    numbers = [v for v in values if isinstance(v, int | float)]
    return round(sum(numbers), 3) if numbers else None


def chunks[T](items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def seconds_to_next_utc_day(now: float) -> float:
    return DAY - (now % DAY) + 60.0


def seconds_to_next_hour(now: float) -> float:
    """Seconds until the next whole UTC hour, plus a minute of margin."""
    return HOUR - (now % HOUR) + 60.0


def parse_offset(value: object) -> timezone | None:
    """A fixed UTC offset written ``+08:00``, ``-03:30``, ``+0530``, ``UTC+1`` or ``GMT8``, or
    None (also for anything out of range); never raises."""
    raw = (text(value) or "").upper().replace("UTC", "").replace("GMT", "").strip()
    if not raw:
        return None
    sign = -1 if raw[0] == "-" else 1
    body = raw[1:] if raw[0] in "+-" else raw
    hours, colon, minutes = body.partition(":")
    if not colon and len(hours) > 2:  # compact +0530
        hours, minutes = hours[:-2], hours[-2:]
    if not hours.isdigit() or (minutes and not minutes.isdigit()):
        return None
    if int(hours) > 14 or int(minutes or 0) >= 60:
        return None
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))
