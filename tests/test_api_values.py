"""The value helpers the vendor clients share: what the clouds send, normalised or None."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from custom_components.solar_cloud.api.values import ms_to_datetime, parse_iso, parse_offset


def test_ms_to_datetime() -> None:
    """Epoch milliseconds (number or text) become UTC times; nothing usable becomes None."""
    assert ms_to_datetime(1_782_039_600_000) == datetime(2026, 6, 21, 11, 0, tzinfo=UTC)
    assert ms_to_datetime("1782039600500") == datetime(2026, 6, 21, 11, 0, 0, 500000, tzinfo=UTC)
    assert ms_to_datetime(0) is None
    assert ms_to_datetime(-5) is None
    assert ms_to_datetime("N/A") is None
    # Far past what a datetime holds (year 9999): None, not an OverflowError or ValueError.
    assert ms_to_datetime(1e20) is None


def test_parse_iso() -> None:
    """ISO 8601 text keeps its offset; anything else is None."""
    assert parse_iso("2026-06-21T12:05:00+02:00") == datetime(
        2026, 6, 21, 12, 5, tzinfo=timezone(timedelta(hours=2))
    )
    naive = parse_iso("2026-06-21 12:05:00")
    assert naive == datetime(2026, 6, 21, 12, 5)
    assert naive is not None
    assert naive.tzinfo is None
    assert parse_iso("21/06/2026 12:05") is None
    assert parse_iso("") is None
    assert parse_iso(1_782_039_600) is None
    assert parse_iso(None) is None


@pytest.mark.parametrize(
    ("raw", "offset"),
    [
        ("+08:00", timedelta(hours=8)),
        ("-03:30", -timedelta(hours=3, minutes=30)),
        ("+0530", timedelta(hours=5, minutes=30)),
        ("UTC+1", timedelta(hours=1)),
        ("GMT8", timedelta(hours=8)),
        ("utc", None),
        ("+15:00", None),
        ("+05:60", None),
        ("Europe/Paris", None),
        (None, None),
    ],
)
def test_parse_offset(raw: object, offset: timedelta | None) -> None:
    """Fixed offsets in the spellings the clouds use; out of range or a zone name is None."""
    zone = parse_offset(raw)
    assert (None if zone is None else zone.utcoffset(None)) == offset
