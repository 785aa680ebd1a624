"""The online store's codec: the column-wise fast paths give exactly what the per-row reference gives.

The sync encodes whole batches column by column (``encode_columns``,
``entity_keys``) and reads decode many rows in one parse (``decode_rows``);
``encode_values``, ``entity_key`` and ``decode_row`` are the plain per-row
definitions they are checked against, on random values of every type a
feature can have.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurelayer._online_codec import (
    EXPIRED,
    FOUND,
    NOT_FOUND,
    decode_row,
    decode_rows,
    encode_columns,
    encode_values,
    entity_key,
    entity_keys,
    header,
)

UTC = dt.UTC
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
    rows = list(zip(*(c.to_pylist() for c in columns), strict=True)) if columns else [()] * n
    assert encode_columns(columns, n) == [encode_values(row) for row in rows]


def test_encode_columns_special_floats_and_non_ascii() -> None:
    columns = [pa.array([float("nan"), float("-inf"), -0.0, None]), pa.array(['é"{}', "\n", "", None])]
    assert encode_columns(columns, 4) == ['[NaN,"\\u00e9\\"{}"]', '[-Infinity,"\\n"]', '[-0.0,""]', "[null,null]"]


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
    st.integers(-1, 2**52),  # created
    st.integers(-1, 2**52),  # valid_to, -1 = open-ended
    st.lists(st.none() | st.integers() | st.floats(allow_nan=False) | st.text(), max_size=3),
)


@settings(max_examples=200)
@given(st.lists(st.none() | _stored, max_size=10), st.integers(0, 2**52))
def test_decode_rows_is_decode_row_with_expiry(stored: list[Any], now_us: int) -> None:
    raws = [None if s is None else (header(s[0], s[1], s[2], 7) + encode_values(s[3])).encode() for s in stored]
    rows, states = decode_rows(raws, now_us)
    for raw, row, state in zip(raws, rows, states, strict=True):
        if raw is None:
            assert (row, state) == (None, NOT_FOUND)
        elif decode_row(raw).expired_at(now_us):
            assert (row, state) == (None, EXPIRED)
        else:
            assert state == FOUND
            assert json.dumps(row) == json.dumps(decode_row(raw).values)


def test_decode_rows_expires_at_valid_to_exactly() -> None:
    raw = (header(10, -1, 100, 1) + "[1]").encode()
    assert decode_rows([raw], 99) == ([[1]], [FOUND])
    assert decode_rows([raw], 100) == ([None], [EXPIRED])


def test_decimal_values_are_exact_strings() -> None:
    column = pa.array([decimal.Decimal("1.250")], pa.decimal128(6, 3))
    assert encode_columns([column], 1) == ['["1.250"]']


def test_decode_rows_refuses_a_value_that_is_not_one_array() -> None:
    good, bad = (header(10, -1, -1, 1) + "[1]").encode(), (header(10, -1, -1, 1) + "[1],[2]").encode()
    with pytest.raises(ValueError, match="not one JSON array"):
        decode_rows([bad, good], 0)
