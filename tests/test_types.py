"""Declared column types map to Arrow types in the warehouse's own dialect."""

from __future__ import annotations

import pyarrow as pa
import pytest

from featurelayer import ValidationError
from featurelayer._types import arrow_type, is_timestamp


@pytest.mark.parametrize(
    ("declared", "dialect", "expected"),
    [
        ("float", "duckdb", pa.float32()),  # 4 bytes in DuckDB ...
        ("float", "postgres", pa.float64()),  # ... 8 in PostgreSQL
        ("double", "duckdb", pa.float64()),
        ("double precision", "postgres", pa.float64()),
        ("real", "postgres", pa.float32()),
        ("integer", "duckdb", pa.int32()),
        ("bigint", "postgres", pa.int64()),
        ("varchar", "duckdb", pa.string()),
        ("text", "postgres", pa.string()),
        ("boolean", "duckdb", pa.bool_()),
        ("date", "duckdb", pa.date32()),
        ("timestamp", "duckdb", pa.timestamp("us")),
        ("timestamptz", "duckdb", pa.timestamp("us", tz="UTC")),
        ("numeric(10, 2)", "postgres", pa.decimal128(10, 2)),
    ],
)
def test_declared_types_map_to_arrow(declared: str, dialect: str, expected: pa.DataType) -> None:
    assert arrow_type(declared, dialect) == expected


def test_timestamp_detection() -> None:
    assert is_timestamp("timestamp", "duckdb")
    assert is_timestamp("timestamp with time zone", "postgres")
    assert not is_timestamp("date", "duckdb")
    assert not is_timestamp("varchar", "duckdb")


def test_unmappable_type_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="no Arrow mapping"):
        arrow_type("interval", "duckdb")
