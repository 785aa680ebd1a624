"""How entity keys and feature rows are written in an online store.

A stored row is one MessagePack array::

    [valid_to µs or -1, event µs, snapshot, seen µs, value, value, ...]

``snapshot`` is the warehouse version the sync read (``max(_fl_snapshot)``
of the feature table, read with the rows) and ``seen`` the instant of the
last sync of that snapshot that wrote or confirmed the row: the store orders
writes by (snapshot, event) and a full sync's removal pass by (snapshot,
seen), inside its atomic write (docs/online-store.md, "The write rule").
The four header fields are always 64-bit integers (``0xd3`` and 8 bytes, big
endian) behind a 3-byte array header, so they sit at fixed byte offsets: the
store's scripts compare and rewrite them with byte slices, without decoding
values, and the reader tells *expired* (valid_to has passed, within the
store's retention) from *not found*. A removed key is a *tombstone*, the
header alone with valid_to 0 (read as not found), kept for a while so that a
slower sync of an older snapshot cannot bring the row back. Values are
MessagePack with timestamps as integer microseconds, dates as days and
decimals as strings; they are turned back into the view's declared Arrow
types on read, so float32 stays float32 and timestamps stay timestamps. A
read decodes all the rows of a request in one C-level call (``decode_rows``):
binary floats are not parsed from text, which was most of an online read's
time at 100 entity rows when rows were JSON.

Keys are ``fl:<project>:{<JSON array of join key values>}:<view>:<schema>``:
the braces are a Redis Cluster hash tag, so all views of one entity share a
slot; ``<schema>`` is a short hash of the row layout's version and the view's
feature names and types, so a reader never decodes values written under
another definition of the view or another layout (it finds nothing until the
next sync instead).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import functools
import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack
import pyarrow as pa
import pyarrow.compute as pc

from .._time import days, micros, micros_column

if TYPE_CHECKING:
    from .._registry.views import FeatureView

__all__ = [
    "FIELD_AT",
    "NO_VALUE",
    "TOMBSTONE_EVENT",
    "TOMBSTONE_VALID_TO",
    "VALUES_AT",
    "StoredRow",
    "decode_column",
    "decode_row",
    "decode_rows",
    "encode_columns",
    "encode_values",
    "entity_key",
    "entity_keys",
    "schema_tag",
    "stored_rows",
    "tombstone",
    "view_schema_tag",
]

NO_VALUE = -1


def schema_tag(features: Iterable[tuple[str, str]]) -> str:
    """A short hash of a view's (feature name, Arrow type) pairs.

    >>> schema_tag([("plan", "string")])
    '9c9f1861'
    """
    text = ";".join([_LAYOUT, *(f"{name}={kind}" for name, kind in features)])
    return hashlib.sha1(text.encode()).hexdigest()[:8]


#: the stored row layout's version, part of every schema tag: rows of another layout are never read
_LAYOUT = "msgpack-2"


def view_schema_tag(view: FeatureView) -> str:
    """The schema part of a view's keys: ``schema_tag`` of its features, computed once per definition.

    The read path asks on every request, so the tag is cached by the view's signature.
    """
    return _cached_tag(view.signature)


@functools.lru_cache(maxsize=1024)
def _cached_tag(signature: tuple[tuple[str, str], ...]) -> str:
    return schema_tag(signature)


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
    if len(key_columns) == 1 and set(map(type, key_columns[0])) <= {int}:
        prefix, suffix = f"fl:{project}:{{[", f"]}}:{view}:{schema}"
        return [f"{prefix}{v}{suffix}" for v in key_columns[0]]
    return [entity_key(project, view, key, schema) for key in zip(*key_columns, strict=True)]


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return micros(value)
    if isinstance(value, dt.date):
        return days(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def _key_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return _msgpack_default(value)


_KEY_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_key_default)
_NIL = b"\xc0"


def _packer() -> msgpack.Packer:
    """A packer whose ``pack`` returns each value's bytes; one per call site, as a packer is not thread-safe."""
    return msgpack.Packer(default=_msgpack_default)


def encode_values(values: Iterable[Any]) -> bytes:
    """One row's feature values, each packed, one after the other (the part after the header)."""
    pack = _packer().pack
    return b"".join([pack(v) for v in values])


def encode_columns(columns: Sequence[pa.Array], n: int) -> list[bytes]:
    """Each row's packed values, built column by column: the sync's hot loop.

    The same bytes ``encode_values`` gives for each row (a test pins it):
    plain columns are packed with one C-level map each, and only the rarer
    types (timestamps, dates, decimals) are first turned into what is stored.
    """
    if not columns:
        return [b""] * n
    parts = [_packed(column) for column in columns]
    if len(parts) == 1:
        return parts[0]
    return list(map(b"".join, zip(*parts, strict=True)))


def _packed(column: pa.Array) -> list[bytes]:
    """One column's values, each packed, in row order."""
    kind = column.type
    values: list[Any]
    if pa.types.is_timestamp(kind):
        values = micros_column(column)
    elif pa.types.is_date(kind):
        values = pc.cast(pc.cast(column, pa.date32()), pa.int32()).to_pylist()  # days since the epoch, as stored
    else:
        values = column.to_pylist()
    return list(map(_packer().pack, values))


#: a stored row's header: MessagePack array16 of (4 + features) items, then four int64s
_HEADER = struct.Struct(">BHBqBqBqBq")
_HEADER_FIELDS = ("valid_to", "event", "snapshot", "seen")
#: a tombstone's valid_to (long past, so it reads as not found whatever the retention) and
#: event (before any other: any row of the same snapshot replaces it)
TOMBSTONE_VALID_TO, TOMBSTONE_EVENT = 0, -(2**63)
#: Where each header field's 8 bytes start, counted from 1 as Lua's string.byte and
#: string.sub count: the stores' scripts compare and move fields by these positions
#: without decoding a row. Each field's 0xd3 marker is the byte before it.
FIELD_AT = {name: 3 + 9 * i + 2 for i, name in enumerate(_HEADER_FIELDS)}
#: Where the packed values start (counted from 1): right after the header.
VALUES_AT = _HEADER.size + 1


def _count_values(payload: bytes) -> int:
    unpacker = msgpack.Unpacker()
    unpacker.feed(payload)
    return sum(1 for _ in unpacker)


def stored_rows(
    events: Sequence[int],
    valid_tos: Sequence[int],
    snapshot: int,
    seen: int,
    payloads: Sequence[bytes],
    width: int,
) -> list[bytes]:
    """Whole stored rows (see the module docstring) from a write batch's columns and ``encode_columns``' payloads."""
    if width > 0xFFFF - 4:  # the array16 header's count
        raise ValueError(f"a view with {width} features does not fit a stored row (at most {0xFFFF - 4})")
    held = _count_values(payloads[0]) if payloads else width
    if held != width:  # a wrong count would misalign every read
        raise ValueError(f"payloads hold {held} values, not the view's {width}")
    pack, count = _HEADER.pack, 4 + width
    return [
        pack(0xDC, count, 0xD3, x, 0xD3, e, 0xD3, snapshot, 0xD3, seen) + p
        for e, x, p in zip(events, valid_tos, payloads, strict=True)
    ]


def tombstone(snapshot: int, seen: int) -> bytes:
    """What a removed key holds: the header alone, read as not found, ordered like any row.

    >>> decode_row(tombstone(7, 9))
    StoredRow(event=-9223372036854775808, snapshot=7, valid_to=0, seen=9, values=[])
    """
    return _HEADER.pack(0xDC, 4, 0xD3, TOMBSTONE_VALID_TO, 0xD3, TOMBSTONE_EVENT, 0xD3, snapshot, 0xD3, seen)


@dataclass(frozen=True)
class StoredRow:
    event: int
    snapshot: int
    valid_to: int  # NO_VALUE when open-ended
    seen: int
    values: list[Any]

    def expired_at(self, now_us: int) -> bool:
        return self.valid_to != NO_VALUE and now_us >= self.valid_to


def decode_row(raw: bytes) -> StoredRow:
    """One stored row, whole (tests and tools; reads use ``decode_rows``)."""
    valid_to, event, snapshot, seen, *values = msgpack.unpackb(raw)
    return StoredRow(event, snapshot, valid_to, seen, values)


#: decode_rows' states of a key: a row in force, no row, a row whose validity has ended
FOUND, NOT_FOUND, EXPIRED = 0, 1, 2


def decode_rows(
    raws: Sequence[bytes | None], now_us: int, width: int, retention_us: int
) -> tuple[list[list[Any]], list[int], list[int | None]]:
    """Many stored rows of one view at ``now_us`` as one list of values per feature, each key's state, and
    each row's event timestamp in µs (None where no row is in force).

    The read hot path: all the rows are unpacked as one MessagePack array in
    one C-level call (None where a key has no row), then transposed with
    ``zip``. Values of rows not in force are None. A row whose validity ended
    is *expired* for ``retention_us`` after its valid_to, then *not found*,
    whether or not the store has dropped it yet (tombstones included), so a
    status never depends on when the store cleaned up.
    """
    n = len(raws)
    if not n:
        return [[] for _ in range(width)], [], []
    if b"" in raws:  # nothing to unpack: the next key's row would be read as this one's
        raise ValueError("a stored value is empty: not a featurelayer row")
    body = b"".join([_NIL if raw is None else raw for raw in raws]) if None in raws else b"".join(raws)  # type: ignore[arg-type]
    try:  # a value of another shape fails here, or leaves bytes over: never shift rows onto others
        rows: list[Any] = msgpack.unpackb(b"\xdd" + n.to_bytes(4, "big") + body)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"a stored value is not a featurelayer row of this layout: {exc}") from exc
    if None not in rows:  # the common case: every row in force, decided on the transposed valid_to column
        try:
            columns = _transposed(rows, width)
        except ValueError:  # (a value of another shape: the row-by-row check below says which)
            columns = []
        if columns and _all_in_force(columns[0], now_us):
            return columns[4:], [FOUND] * n, columns[1]
    try:
        states = [
            NOT_FOUND
            if row is None
            else FOUND
            if (x := row[0]) == NO_VALUE or now_us < x
            else EXPIRED
            if now_us < x + retention_us
            else NOT_FOUND
            for row in rows
        ]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"a stored value is not a featurelayer row of this layout: {exc}") from exc
    if states.count(FOUND) != n:
        blank = [None] * (4 + width)
        rows = [row if state == FOUND else blank for row, state in zip(rows, states, strict=True)]
    columns = _transposed(rows, width)
    return columns[4:], states, columns[1]


def _transposed(rows: list[Any], width: int) -> list[list[Any]]:
    """Stored rows as columns: valid_to, event, snapshot, seen, then one per feature."""
    try:
        columns = list(map(list, zip(*rows, strict=True)))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"stored rows of one view hold different numbers of values: {exc}") from exc
    if len(columns) != 4 + width:  # a value not written for this definition of the view
        raise ValueError(f"stored rows hold {len(columns) - 4} values where the view has {width} features")
    return columns


def _all_in_force(valid_tos: list[Any], now_us: int) -> bool:
    """Whether every row's validity lasts past ``now_us`` (C-level passes over the valid_to column)."""
    try:
        open_ended = valid_tos.count(NO_VALUE)
        if not open_ended:
            return bool(min(valid_tos) > now_us)
        return open_ended == len(valid_tos) or min(x for x in valid_tos if x != NO_VALUE) > now_us
    except TypeError:  # a foreign value's field: the row-by-row check names it
        return False


def decode_column(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    """Stored values of one feature (``decode_rows``' lists) back into its declared Arrow type."""
    if pa.types.is_timestamp(arrow_type):
        return pa.array(values, pa.int64()).cast(pa.timestamp("us")).cast(arrow_type)
    if pa.types.is_date(arrow_type):
        return pa.array(values, pa.int32()).cast(arrow_type)
    if pa.types.is_decimal(arrow_type):
        return pa.array([None if v is None else decimal.Decimal(v) for v in values], arrow_type)
    return pa.array(values, arrow_type)
