"""An online request's entity rows as columns, and their key values as the feature tables store them.

The caller's 42 and '42' (even in one request) find the same row; a boolean
never passes for a number (True is not user 1); an integer outside the key
type's range, or a float past 2**53 (it stands for several integers), is
refused rather than read as some other entity.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from .._errors import ValidationError, shown

__all__ = ["entity_columns", "typed_keys"]


def entity_columns(entity_rows: Any) -> dict[str, list[Any]]:
    """Entity rows as columns: accepts a list of dicts, a dict of lists, or a DataFrame/Table."""
    if isinstance(entity_rows, pa.Table):
        columns: dict[str, list[Any]] = entity_rows.to_pydict()
        return columns
    if hasattr(entity_rows, "to_dict") and hasattr(entity_rows, "columns"):
        return {str(c): list(entity_rows[c]) for c in entity_rows.columns}
    if isinstance(entity_rows, Mapping):
        columns = {str(k): list(v) for k, v in entity_rows.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValidationError(
                f"entity_rows columns have different lengths: { {k: len(v) for k, v in columns.items()} }"
            )
        return columns
    if isinstance(entity_rows, Sequence) and not isinstance(entity_rows, str):
        rows = list(entity_rows)
        fast = _same_keys(rows)
        if fast is not None:
            return fast
        if not all(type(r) is dict or isinstance(r, Mapping) for r in rows):  # abc checks cost µs per row
            raise ValidationError(
                "entity_rows must be a list of dicts such as [{'user_id': 1}], a dict of lists, or a DataFrame."
            )
        names = list(dict.fromkeys(k for r in rows for k in r))
        missing = [(i, n) for i, r in enumerate(rows) for n in names if n not in r]
        if missing:
            i, n = missing[0]
            raise ValidationError(f"entity_rows[{i}] has no '{n}'; every row needs the same keys.")
        return {n: [r[n] for r in rows] for n in names}
    raise ValidationError(
        f"entity_rows must be a list of dicts, a dict of lists or a DataFrame; got {type(entity_rows).__name__}."
    )


def _same_keys(rows: list[Any]) -> dict[str, list[Any]] | None:
    """The common case, columns of dicts that all have the first one's keys, in C-level passes; else None."""
    if not rows or set(map(type, rows)) != {dict}:  # (a mapping of another kind may add or hide keys)
        return None
    names = list(rows[0])
    try:
        columns = {name: list(map(operator.itemgetter(name), rows)) for name in names}
    except KeyError:
        return None  # a row lacks a key: the slow path says which
    if set(map(len, rows)) != {len(names)}:  # a row with other keys beside them
        return None
    return columns


_PYTHON_TYPES = {pa.int64(): int, pa.int32(): int, pa.int16(): int, pa.string(): str}


def typed_keys(values: list[Any], kind: pa.DataType | None, name: str, view: str) -> list[Any]:
    """Key values as the feature table stores them, each on its own, so the caller's 42 and '42' (even in one
    request) find the same row; a boolean never passes for a number (True is not user 1)."""
    if kind is None or not values:
        return values
    python_type = _PYTHON_TYPES.get(kind)
    if (
        python_type is not None
        and set(map(type, values)) == {python_type}  # (C-level passes: this runs on every online request)
        and (python_type is not int or (_fits(min(values), kind) and _fits(max(values), kind)))
    ):
        return values  # already right: skip the conversions on the hot path
    if pa.types.is_integer(kind):
        return [_as_int(v, kind, name, view) for v in values]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [_as_str(v, kind, name, view) for v in values]
    try:
        converted: list[Any] = pa.array(values).cast(kind).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(f"entity_rows column '{name}' does not fit {view}'s key type {kind}: {exc}") from None
    return converted


def _integer(value: Any) -> int | None:
    """The integer a non-boolean integer-like value (int, numpy's) holds, else None (numpy's bool has no
    ``__index__``; Python's has one, refused here)."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _fits(number: int, kind: pa.DataType) -> bool:
    bounds = _BOUNDS.get(kind)
    if bounds is None:
        bits = int(kind.bit_width)
        signed = pa.types.is_signed_integer(kind)
        bounds = _BOUNDS[kind] = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    return bounds[0] <= number < bounds[1]


_BOUNDS: dict[pa.DataType, tuple[int, int]] = {}  # an integer type's [low, high): asked on every request


_DIGITS = re.compile(r"[+-]?[0-9]+")  # (str.isdigit also takes '²', which int() refuses)


def _as_int(value: Any, kind: pa.DataType, name: str, view: str) -> int | None:
    if value is None:
        return value
    number = None
    if type(value) is int:
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:  # (beyond, floats skip integers)
        number = int(value)
    else:
        number = _integer(value)
    if number is not None and _fits(number, kind):
        return number
    raise ValidationError(
        f"entity_rows column '{name}' holds {shown(value)} ({type(value).__name__}), which is not a {kind} key "
        f"of '{view}'. Pass integers (or their digits as text) within the key type's range."
    )


def _as_str(value: Any, kind: pa.DataType, name: str, view: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    number = _integer(value)
    if number is not None:
        return str(number)
    raise ValidationError(
        f"entity_rows column '{name}' holds {shown(value)} ({type(value).__name__}), which is not a {kind} key "
        f"of '{view}'. Pass text."
    )
