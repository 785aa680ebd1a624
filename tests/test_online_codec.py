"""The online store's codec: the column-wise fast paths give exactly what the per-row reference gives.

The sync encodes whole batches column by column (``encode_columns``,
``entity_keys``, ``stored_rows``) and reads decode many rows in one call
(``decode_rows``); ``encode_values``, ``entity_key`` and
``decode_row`` are the plain per-row definitions they are checked against, on
random values of every type a feature can have.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurelayer._online.codec import (
    EXPIRED,
    FOUND,
    NOT_FOUND,
    decode_column,
    decode_row,
    decode_rows,
    encode_columns,
    encode_values,
    entity_key,
    entity_keys,
    stored_rows,
    tombstone,
)

UTC = dt.UTC
DAY = 86_400_000_000  # a retention of one day, in µs
_times = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))

# (arrow type, strategy of Python values it holds)
COLUMN_KINDS: list[tuple[pa.DataType, st.SearchStrategy[Any]]] = [
    (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    (pa.float32(), st.floats(width=32, allow_nan=False)),
    (pa.string(), st.text()),
    (pa.bool_(), st.booleans()),
    (pa.timestamp("us"), _times),
    (pa.timestamp("us", tz="UTC"), _times.map(lambda t: t.replace(tzinfo=UTC))),
    (pa.date32(), st.dates()),
    (pa.decimal128(12, 3), st.decimals(min_value=-(10**8), max_value=10**8, places=3, allow_nan=False)),
    (pa.binary(), st.binary()),
]


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[pa.Array], int]:
    n = draw(st.integers(0, 12))
    chosen = draw(st.lists(st.sampled_from(range(len(COLUMN_KINDS))), max_size=4))
    columns = []
    for index in chosen:
        kind, values = COLUMN_KINDS[index]
        columns.append(pa.array(draw(st.lists(st.none() | values, min_size=n, max_size=n)), kind))
    return columns, n


@settings(max_examples=200)
@given(batches())
def test_encode_columns_writes_what_encode_values_writes(batch: tuple[list[pa.Array], int]) -> None:
    columns, n = batch
    assert encode_columns(columns, n) == [encode_values(row) for row in _rows(columns, n)]


@settings(max_examples=200)
@given(
    batches(), st.integers(0, 2**52), st.integers(0, 2**52), st.just(-1) | st.integers(1, 2**52), st.integers(0, 2**52)
)
def test_stored_rows_round_trip_every_type(
    batch: tuple[list[pa.Array], int], event: int, snapshot: int, valid_to: int, seen: int
) -> None:
    """What the sync stores decodes, through the view's Arrow types, to exactly what it read."""
    columns, n = batch
    raws = stored_rows([event] * n, [valid_to] * n, snapshot, seen, encode_columns(columns, n), len(columns))
    for raw in raws:
        stored = decode_row(raw)
        assert (stored.event, stored.snapshot, stored.valid_to, stored.seen) == (event, snapshot, valid_to, seen)
    now_us = max(valid_to - 1, 0)  # in force
    values, states, _ = decode_rows(raws, now_us, len(columns), DAY)
    assert states == [0] * n
    for column, stored_values in zip(columns, values, strict=True):
        decoded = decode_column(stored_values, column.type)
        assert decoded.type == column.type
        assert _same(decoded.to_pylist(), column.to_pylist())


def _row(event: int, snapshot: int, valid_to: int, seen: int, values: list[Any]) -> bytes:
    """One stored row, as the sync writes it."""
    return stored_rows([event], [valid_to], snapshot, seen, [encode_values(values)], len(values))[0]


def _rows(columns: list[pa.Array], n: int) -> list[tuple[Any, ...]]:
    return list(zip(*(c.to_pylist() for c in columns), strict=True)) if columns else [()] * n


def _same(left: list[Any], right: list[Any]) -> bool:
    """Equal lists, NaN equal to NaN and -0.0 told from 0.0."""

    def key(v: Any) -> Any:
        if isinstance(v, float):
            return ("nan",) if math.isnan(v) else (v, math.copysign(1, v))
        return v

    return [key(v) for v in left] == [key(v) for v in right]


def test_special_floats_and_non_ascii_survive() -> None:
    columns = [pa.array([float("nan"), float("-inf"), -0.0, None]), pa.array(['é"{}', "\n", "", None])]
    values, _, _ = decode_rows(stored_rows([1] * 4, [-1] * 4, 1, 1, encode_columns(columns, 4), 2), 0, 2, DAY)
    assert _same(values[0], [float("nan"), float("-inf"), -0.0, None])
    assert values[1] == ['é"{}', "\n", "", None]


_key_values = st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5) | st.booleans() | st.none()


@settings(max_examples=200)
@given(st.lists(st.lists(_key_values, min_size=3, max_size=3), min_size=1, max_size=2), st.integers(1, 3))
def test_entity_keys_are_entity_key_of_each_row(columns: list[list[Any]], width: int) -> None:
    columns = [column[:width] for column in columns]
    expected = [entity_key("p", "v", list(row), "abc") for row in zip(*columns, strict=True)]
    assert entity_keys("p", "v", columns, "abc") == expected


def test_entity_keys_fast_path_for_integers() -> None:
    assert entity_keys("p", "v", [[1, -2]], "s") == ["fl:p:{[1]}:v:s", "fl:p:{[-2]}:v:s"]
    assert entity_keys("p", "v", [[1, "1"]], "s") == ["fl:p:{[1]}:v:s", 'fl:p:{["1"]}:v:s']


_stored = st.tuples(
    st.integers(0, 2**52),  # event
    st.integers(0, 2**52),  # snapshot
    st.integers(-1, 2**52),  # valid_to, -1 = open-ended
    st.lists(
        st.none() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(), min_size=3, max_size=3
    ),
)


@settings(max_examples=200)
@given(st.lists(st.none() | _stored, max_size=10), st.integers(0, 2**52), st.integers(1, 2**40))
def test_decode_rows_is_decode_row_with_expiry_and_retention(stored: list[Any], now_us: int, retention: int) -> None:
    raws = [None if s is None else _row(s[0], s[1], s[2], 7, s[3]) for s in stored]
    values, states, events = decode_rows(raws, now_us, 3, retention)
    for i, (raw, state) in enumerate(zip(raws, states, strict=True)):
        row = [column[i] for column in values]
        if raw is None:
            assert (row, state, events[i]) == ([None] * 3, NOT_FOUND, None)
        elif decode_row(raw).expired_at(now_us):
            retained = now_us < decode_row(raw).valid_to + retention
            assert (row, state, events[i]) == ([None] * 3, EXPIRED if retained else NOT_FOUND, None)
        else:
            assert state == FOUND
            assert (row, events[i]) == (decode_row(raw).values, decode_row(raw).event)


def test_decode_rows_expires_at_valid_to_exactly_then_is_not_found_after_the_retention() -> None:
    raw = _row(10, 1, 100, 1, [1])
    assert decode_rows([raw], 99, 1, 50) == ([[1]], [FOUND], [10])
    assert decode_rows([raw], 100, 1, 50) == ([[None]], [EXPIRED], [None])
    assert decode_rows([raw], 149, 1, 50) == ([[None]], [EXPIRED], [None])
    assert decode_rows([raw], 150, 1, 50) == ([[None]], [NOT_FOUND], [None])


def test_a_tombstone_reads_as_not_found_among_rows() -> None:
    raw = _row(10, 1, -1, 1, [1, 2])
    assert decode_rows([tombstone(5, 6), raw, None], 10**15, 2, DAY) == (
        [[None, 1, None], [None, 2, None]],
        [NOT_FOUND, FOUND, NOT_FOUND],
        [None, 10, None],
    )


def test_decimal_values_are_exact_strings() -> None:
    column = pa.array([decimal.Decimal("1.250")], pa.decimal128(6, 3))
    assert encode_columns([column], 1) == [encode_values(["1.250"])]


def test_decode_rows_refuses_values_not_in_its_layout() -> None:
    good = _row(10, 1, -1, 1, [1])
    with pytest.raises(ValueError, match="not a featurelayer row"):
        decode_rows([good + encode_values([2]), good], 0, 1, DAY)  # two rows in one value: never shifted onto others
    with pytest.raises(ValueError, match="not a featurelayer row"):
        decode_rows([b"5", good], 0, 1, DAY)
    with pytest.raises(ValueError, match="2 values where the view has 1"):
        decode_rows([_row(10, 1, -1, 1, [1, 2])], 0, 1, DAY)
    with pytest.raises(ValueError, match="empty"):
        decode_rows([good + good, b""], 0, 1, DAY)  # two rows in one key, none in the next: never shifted
    with pytest.raises(ValueError, match="not a featurelayer row"):
        decode_rows([encode_values(["a string, not a row"])], 0, 1, DAY)


def test_stored_rows_refuse_a_width_that_is_not_the_payloads() -> None:
    with pytest.raises(ValueError, match="hold 2 values, not the view's 1"):
        stored_rows([1], [-1], 1, 1, [encode_values([1, 2])], 1)
