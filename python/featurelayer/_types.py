"""Maps the column types declared in model YAML to Arrow types.

Declared types are written in the warehouse's own dialect (``float`` is
8 bytes in PostgreSQL and 4 in DuckDB), so they are parsed with sqlglot in the
dialect of the manifest's adapter before they are mapped.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ._errors import ValidationError

__all__ = ["arrow_type", "is_timestamp", "sqlglot_dialect"]

_ADAPTER_DIALECTS = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "spark": "spark",
    "databricks": "databricks",
    "trino": "trino",
}

_T = exp.DataType.Type
_SIMPLE: dict[Any, pa.DataType] = {
    _T.BOOLEAN: pa.bool_(),
    _T.TINYINT: pa.int8(),
    _T.SMALLINT: pa.int16(),
    _T.INT: pa.int32(),
    _T.BIGINT: pa.int64(),
    _T.UTINYINT: pa.uint8(),
    _T.USMALLINT: pa.uint16(),
    _T.UINT: pa.uint32(),
    _T.UBIGINT: pa.uint64(),
    _T.FLOAT: pa.float32(),
    _T.DOUBLE: pa.float64(),
    _T.VARCHAR: pa.string(),
    _T.NVARCHAR: pa.string(),
    _T.CHAR: pa.string(),
    _T.NCHAR: pa.string(),
    _T.TEXT: pa.string(),
    _T.UUID: pa.string(),
    _T.JSON: pa.string(),
    _T.DATE: pa.date32(),
    _T.TIMESTAMP: pa.timestamp("us"),
    _T.DATETIME: pa.timestamp("us"),
    _T.TIMESTAMPNTZ: pa.timestamp("us"),
    _T.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    _T.TIMESTAMPLTZ: pa.timestamp("us", tz="UTC"),
    _T.BINARY: pa.binary(),
    _T.VARBINARY: pa.binary(),
    _T.BLOB: pa.binary(),
}
_TIMESTAMPS = {_T.TIMESTAMP, _T.DATETIME, _T.TIMESTAMPNTZ, _T.TIMESTAMPTZ, _T.TIMESTAMPLTZ}


def sqlglot_dialect(adapter_type: str) -> str:
    """The sqlglot dialect for a dbt adapter type (``duckdb`` -> ``duckdb``)."""
    return _ADAPTER_DIALECTS.get(adapter_type, adapter_type)


def _parse(declared: str, dialect: str) -> exp.DataType:
    try:
        return exp.DataType.build(declared, dialect=dialect)
    except (sqlglot.errors.ParseError, ValueError) as exc:
        raise ValidationError(f"data_type {declared!r} is not a {dialect} type: {exc}") from exc


def arrow_type(declared: str, dialect: str) -> pa.DataType:
    """The Arrow type of a column declared as ``declared`` in ``dialect``.

    >>> arrow_type("float", "postgres"), arrow_type("float", "duckdb")
    (DataType(double), DataType(float))
    """
    parsed = _parse(declared, dialect)
    if parsed.this in _SIMPLE:
        return _SIMPLE[parsed.this]
    if parsed.this == _T.DECIMAL:
        params = [int(p.name) for p in parsed.expressions if p.name.isdigit()]
        precision, scale = ([*params, 38, 0])[:2] if params else (38, 9)
        return pa.decimal128(precision, scale)
    raise ValidationError(
        f"data_type {declared!r} has no Arrow mapping in featurelayer; use a boolean, integer, "
        "float, decimal, string, date, timestamp or binary type."
    )


def is_timestamp(declared: str, dialect: str) -> bool:
    """Whether a declared type is a timestamp (with or without time zone)."""
    return _parse(declared, dialect).this in _TIMESTAMPS
