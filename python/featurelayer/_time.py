"""The one place for UTC, microsecond and date conversions.

featurelayer keeps instants as naive UTC: naive input is UTC, aware input is
converted to UTC first (docs/semantics.md). The online store and the sync
carry instants as integer microseconds since the epoch, and dates as days.

>>> micros(dt.datetime(1970, 1, 1, 0, 0, 1))
1000000
>>> from_micros(1_000_000)
datetime.datetime(1970, 1, 1, 0, 0, 1)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ._errors import ValidationError

__all__ = ["EPOCH", "days", "from_micros", "micros", "micros_column", "utc_naive", "utc_naive_column", "utc_now"]

EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = EPOCH.date()
_ONE_US = dt.timedelta(microseconds=1)


def utc_now() -> dt.datetime:
    """The current instant as naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def utc_naive(value: dt.datetime | dt.date | str) -> dt.datetime:
    """An instant as naive UTC: naive values are UTC already, aware ones are converted.

    Accepts a datetime, a date (its midnight) or an ISO 8601 string, as the dbt
    ``as_of`` macro does (``"2026-11-15 00:00:00"``, ``"2026-11-15T00:00:00+01:00"``,
    ``"2026-11-15"``; naive means UTC).

    Raises:
        ValidationError: ``value`` is none of those.

    >>> utc_naive("2026-11-15T01:00:00+01:00")
    datetime.datetime(2026, 11, 15, 0, 0)
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise ValidationError(
                f"timestamp {value!r} is not an ISO 8601 date or time; write e.g. '2026-11-15 00:00:00' "
                "(naive means UTC) or '2026-11-15T00:00:00+01:00'."
            ) from None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise ValidationError(
            f"timestamp must be a datetime, a date or an ISO 8601 string; got {type(value).__name__}."
        )
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def micros(value: dt.datetime) -> int:
    """Microseconds since the epoch of a naive-UTC or aware datetime."""
    return (utc_naive(value) - EPOCH) // _ONE_US


def from_micros(value: int) -> dt.datetime:
    """The naive-UTC datetime ``value`` microseconds after the epoch."""
    return EPOCH + dt.timedelta(microseconds=value)


def days(value: dt.date) -> int:
    """Days since the epoch of a date."""
    return (value - _EPOCH_DATE).days


def micros_column(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """A timestamp or date column as µs since the epoch (naive values are UTC; aware ones are instants)."""
    kind = column.type
    if pa.types.is_date(kind):
        column = pc.cast(column, pa.timestamp("us"))
    elif kind.unit != "us":
        column = pc.cast(column, pa.timestamp("us", tz=kind.tz), safe=False)
    values: list[Any] = pc.cast(column, pa.int64()).to_pylist()
    return values


def utc_naive_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A timestamp or date column as naive µs timestamps in UTC (featurelayer's precision is 1 µs)."""
    kind = column.type
    if pa.types.is_date(kind):
        return pc.cast(column, pa.timestamp("us"))
    if kind.tz is not None:  # Arrow stores aware timestamps as UTC instants
        column = pc.cast(column, pa.timestamp(kind.unit, tz="UTC"))
        column = pc.cast(column, pa.timestamp(kind.unit))
    if kind.unit == "ns":
        column = pc.cast(column, pa.timestamp("us"), safe=False)
    elif kind.unit in ("s", "ms"):
        column = pc.cast(column, pa.timestamp("us"))
    return column
