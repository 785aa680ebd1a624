"""How entity keys and feature rows are written in an online store.

A stored row is one byte string::

    <event µs>:<created µs or -1>:<valid_to µs or -1>:<generation>:<JSON array of feature values>

The header lets the store's atomic write compare (event, created) without
decoding values, and lets the reader tell *expired* (valid_to has passed)
from *not found*. Values are JSON with timestamps as integer microseconds,
dates as days, decimals as strings and bytes as base64; they are turned back
into the view's declared Arrow types on read, so float32 stays float32 and
timestamps stay timestamps.

Keys are ``fl:<project>:{<JSON array of join key values>}:<view>:<schema>``:
the braces are a Redis Cluster hash tag, so all views of one entity share a
slot; ``<schema>`` is a short hash of the view's feature names and types, so
a reader never decodes values written under another definition of the view
(it finds nothing until the next sync instead).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "NO_VALUE",
    "StoredRow",
    "decode_column",
    "decode_row",
    "decode_rows",
    "encode_columns",
    "encode_values",
    "entity_key",
    "entity_keys",
    "header",
    "micros",
    "micros_column",
    "schema_tag",
]

_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
NO_VALUE = -1


def micros(value: dt.datetime) -> int:
    """Microseconds since the epoch of a naive-UTC or aware datetime."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def schema_tag(features: Iterable[tuple[str, str]]) -> str:
    """A short hash of a view's (feature name, Arrow type) pairs.

    >>> schema_tag([("plan", "string")])
    '2f0bccc5'
    """
    text = ";".join(f"{name}={kind}" for name, kind in features)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def entity_key(project: str, view: str, key_values: Sequence[Any], schema: str = "") -> str:
    """The store key of one entity's row in one view.

    >>> entity_key("p", "user_profile", [42], "2f0bccc5")
    'fl:p:{[42]}:user_profile:2f0bccc5'
    """
    if len(key_values) == 1 and type(key_values[0]) is int:  # the common case, on the hot path
        text = f"[{key_values[0]}]"
    else:
        text = _KEY_ENCODER.encode(list(key_values))
        # braces inside the tag would end it early: escape them (still valid JSON)
        text = "[" + text[1:-1].replace("{", "\\u007b").replace("}", "\\u007d") + "]"
    return f"fl:{project}:{{{text}}}:{view}:{schema}"


def entity_keys(project: str, view: str, key_columns: Sequence[Sequence[Any]], schema: str = "") -> list[str]:
    """The store keys of many entities in one view, from one list of values per join key.

    The sync and the online read both build thousands of keys a second; for the
    common single integer key the key's prefix and suffix are built once.

    >>> entity_keys("p", "user_profile", [[1, 2]], "2f0bccc5")
    ['fl:p:{[1]}:user_profile:2f0bccc5', 'fl:p:{[2]}:user_profile:2f0bccc5']
    """
    if len(key_columns) == 1 and all(type(v) is int for v in key_columns[0]):
        prefix, suffix = f"fl:{project}:{{[", f"]}}:{view}:{schema}"
        return [f"{prefix}{v}{suffix}" for v in key_columns[0]]
    return [entity_key(project, view, key, schema) for key in zip(*key_columns, strict=True)]


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return micros(value)
    if isinstance(value, dt.date):
        return (value - _EPOCH_DATE).days
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


_DECODER = json.JSONDecoder()
_encode_string = json.encoder.encode_basestring_ascii  # json.dumps' own (C) string encoder
_VALUE_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default, allow_nan=True)
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_json_default)


def encode_values(values: Iterable[Any]) -> str:
    """The JSON array of one row's feature values (the part after the header)."""
    return _VALUE_ENCODER.encode(list(values))


def encode_columns(columns: Sequence[pa.Array], n: int) -> list[str]:
    """Each row's JSON array of values, built column by column: the sync's hot loop.

    The same text ``encode_values`` gives for each row (a test pins it), at a
    fraction of the cost: plain columns become JSON fragments with one C-level
    map each (``json.encoder`` builds an encoder object per call, several µs a
    row), and only the rarer types (timestamps, dates, decimals, bytes) go
    through the generic encoder value by value.
    """
    if not columns:
        return ["[]"] * n
    parts = [_fragments(column) for column in columns]
    if len(parts) == 1:
        return [f"[{a}]" for a in parts[0]]
    return ["[" + ",".join(row) + "]" for row in zip(*parts, strict=True)]


def _fragments(column: pa.Array) -> list[str]:
    """One column's values as JSON fragments, in row order."""
    kind = column.type
    if pa.types.is_integer(kind):
        fragment: Any = str
    elif pa.types.is_floating(kind) and pc.all(pc.is_finite(column)).as_py() is not False:
        fragment = float.__repr__  # what json writes for a finite float; NaN and inf go the generic way
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        fragment = _encode_string
    elif pa.types.is_boolean(kind):
        fragment = _BOOLEAN.__getitem__
    else:
        return [_VALUE_ENCODER.encode(v) for v in _json_ready(column)]
    values = column.to_pylist()
    if column.null_count:
        return ["null" if v is None else fragment(v) for v in values]
    return list(map(fragment, values))


_BOOLEAN = {True: "true", False: "false"}


def _json_ready(column: pa.Array) -> list[Any]:
    """Values as ``encode_values`` receives them; timestamps as µs without a datetime per value."""
    if pa.types.is_timestamp(column.type):
        return micros_column(column)
    values: list[Any] = column.to_pylist()
    return values


def micros_column(column: pa.Array) -> list[Any]:
    """A timestamp or date column as µs since the epoch (naive values are UTC; aware ones are instants)."""
    kind = column.type
    if pa.types.is_date(kind):
        column = pc.cast(column, pa.timestamp("us"))
    elif kind.unit != "us":
        column = pc.cast(column, pa.timestamp("us", tz=kind.tz), safe=False)
    values: list[Any] = pc.cast(column, pa.int64()).to_pylist()
    return values


def header(event: int, created: int, valid_to: int | None, generation: int) -> str:
    """The stored row's header, ending in ':' (see the module docstring)."""
    return f"{event}:{created}:{NO_VALUE if valid_to is None else valid_to}:{generation}:"


@dataclass(frozen=True)
class StoredRow:
    event: int
    created: int
    valid_to: int  # NO_VALUE when open-ended
    generation: int
    values: list[Any]

    def expired_at(self, now_us: int) -> bool:
        return self.valid_to != NO_VALUE and now_us >= self.valid_to


def decode_row(raw: bytes | str) -> StoredRow:
    text = raw.decode() if isinstance(raw, bytes) else raw
    event, created, valid_to, generation, payload = text.split(":", 4)
    return StoredRow(int(event), int(created), int(valid_to), int(generation), json.loads(payload))


#: decode_rows' states of a key: a row in force, no row, a row whose validity has ended
FOUND, NOT_FOUND, EXPIRED = 0, 1, 2


def decode_rows(raws: Sequence[bytes | None], now_us: int) -> tuple[list[list[Any] | None], list[int]]:
    """Many stored rows' values at ``now_us`` (the read hot path), and each key's state.

    The payloads in force are parsed as one JSON document: one C-level parse
    instead of one Python-level ``json`` call per row, which was most of an
    online read's time at 100 entity rows.
    """
    states: list[int] = []
    payloads: list[bytes] = []
    for raw in raws:
        if raw is None:
            states.append(NOT_FOUND)
            continue
        _event, _created, valid_to, _generation, payload = raw.split(b":", 4)
        expires = int(valid_to)
        if expires != NO_VALUE and now_us >= expires:
            states.append(EXPIRED)
        else:
            states.append(FOUND)
            payloads.append(payload)
    decoded: list[list[Any]] = _DECODER.decode("[" + b",".join(payloads).decode() + "]") if payloads else []
    if len(decoded) != len(payloads):  # a value not written by featurelayer: never shift rows onto others
        raise ValueError(f"{len(payloads)} stored rows decoded as {len(decoded)}: a value is not one JSON array")
    found = iter(decoded)
    rows = [next(found) if state == FOUND else None for state in states]
    return rows, states


def decode_column(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    """Stored JSON values of one feature back into its declared Arrow type."""
    if pa.types.is_timestamp(arrow_type):
        return pa.array(values, pa.int64()).cast(pa.timestamp("us")).cast(arrow_type)
    if pa.types.is_date(arrow_type):
        return pa.array(values, pa.int32()).cast(arrow_type)
    if pa.types.is_decimal(arrow_type):
        return pa.array([None if v is None else decimal.Decimal(v) for v in values], arrow_type)
    if pa.types.is_binary(arrow_type):
        return pa.array([None if v is None else base64.b64decode(v) for v in values], arrow_type)
    return pa.array(values, arrow_type)
