"""The entity rows of a training-data request, checked and normalised.

An entity dataframe arrives as a pandas DataFrame, a pyarrow Table, or a SQL
query run in the warehouse. For in-memory input only the join keys, the
timestamp (as naive UTC) and a row number travel to the warehouse; the
caller's own columns are re-attached afterwards untouched, so labels and types
come back exactly as given, in input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._errors import ValidationError
from .._time import utc_naive_column

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ROW_ID", "TIMESTAMP", "TIMESTAMP_CEIL", "EntityRows", "entity_rows_from_arrow", "pick_timestamp_column"]

#: Internal column names; they never reach the caller.
ROW_ID = "__fl_row"
TIMESTAMP = "__fl_ts"
#: The lookup instant rounded up to a microsecond, present when the caller's has finer parts.
TIMESTAMP_CEIL = "__fl_ts_ceil"
#: The timestamp column's name when the caller does not say (Feast's convention).
DEFAULT_TIMESTAMP = "event_timestamp"


@dataclass(frozen=True)
class EntityRows:
    """Entity rows ready for the point-in-time join.

    Attributes:
        original: the caller's table as given (None for a SQL query).
        keys: ``ROW_ID``, the join key columns and ``TIMESTAMP`` (naive UTC).
        timestamp_column: the caller's timestamp column.
        sub_micro: some instants have parts below a microsecond; ``keys``
            then also has ``TIMESTAMP_CEIL`` (``point_in_time_query`` says why).
    """

    original: pa.Table | None
    keys: pa.Table
    timestamp_column: str
    sub_micro: bool = False


def to_arrow(entity_df: pd.DataFrame | pa.Table) -> pa.Table:
    """A pyarrow Table of the caller's rows (a pandas index is not kept)."""
    if isinstance(entity_df, pa.Table):
        return entity_df
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(entity_df, pd.DataFrame):
        try:
            return pa.Table.from_pandas(entity_df, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise ValidationError(
                f"entity_df cannot be read: {str(exc).strip().splitlines()[0]}. Give each column values of one "
                "type, e.g. entity_df['user_id'] = entity_df['user_id'].astype('int64')."
            ) from None
    raise ValidationError(
        f"entity_df must be a pandas DataFrame, a pyarrow Table or a SQL query string; got {type(entity_df).__name__}."
    )


def pick_timestamp_column(schema: Iterable[tuple[str, Any]], is_timestamp: Any) -> str:
    """``event_timestamp`` if present, else the only timestamp column (as Feast infers).

    Args:
        schema: (name, type) pairs of the entity rows.
        is_timestamp: predicate on a type.
    """
    fields = list(schema)
    names = [name for name, _ in fields]
    if DEFAULT_TIMESTAMP in names:
        return DEFAULT_TIMESTAMP
    candidates = [name for name, kind in fields if is_timestamp(kind)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValidationError(
            f"entity_df has no timestamp column. Add an '{DEFAULT_TIMESTAMP}' column of timestamps "
            f"(the instant each row's features are looked up at). Its columns: {names}."
        )
    raise ValidationError(
        f"entity_df has several timestamp columns {candidates} and none is named '{DEFAULT_TIMESTAMP}'. "
        f"Rename the lookup time column to '{DEFAULT_TIMESTAMP}'."
    )


def entity_rows_from_arrow(
    table: pa.Table,
    join_keys: Sequence[str],
    extra: Sequence[str] = (),
    key_types: Mapping[str, pa.DataType] | None = None,
) -> EntityRows:
    """Checks the caller's table and extracts row number, keys, ``extra`` columns and UTC timestamp.

    ``extra`` are request fields the warehouse needs (SQL transforms read them).
    Keys are cast to the views' declared ``key_types`` here, so a value that
    does not fit ('SKU-012' for a bigint key) is the caller's error, named.

    Raises:
        ValidationError: a join key or the timestamp column is missing, the
            timestamp column does not hold timestamps, or a key value does not
            fit its declared type.
    """
    names = table.column_names
    for internal in (ROW_ID, TIMESTAMP, TIMESTAMP_CEIL):
        if internal in names:
            raise ValidationError(f"entity_df may not have a column named '{internal}' (used internally).")
    missing = [k for k in join_keys if k not in names]
    if missing:
        raise ValidationError(
            f"entity_df is missing join key column(s) {missing} needed by the requested features. Its columns: {names}."
        )
    ts_name = pick_timestamp_column(((f.name, f.type) for f in table.schema), _is_arrow_timestamp)
    column = table.column(ts_name)
    if not _is_arrow_timestamp(column.type):
        textual = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        hint = " Convert it with pandas.to_datetime(...)." if textual else ""
        raise ValidationError(
            f"entity_df column '{ts_name}' has type {column.type}, not a timestamp.{hint} "
            "Naive timestamps are read as UTC."
        )
    if column.null_count:
        raise ValidationError(f"entity_df column '{ts_name}' has {column.null_count} null timestamp(s).")
    utc = utc_naive_column(column)
    carried = [c for c in extra if c not in join_keys]
    key_columns = [_typed_key(table.column(k), k, (key_types or {}).get(k)) for k in join_keys]
    keys = pa.table(
        [pa.array(np.arange(table.num_rows, dtype=np.int64)), *key_columns, *(table.column(c) for c in carried), utc],
        names=[ROW_ID, *join_keys, *carried, TIMESTAMP],
    )
    ceiled = _ceiled(column, utc)
    if ceiled is not None:
        keys = keys.append_column(TIMESTAMP_CEIL, ceiled)
    return EntityRows(original=table, keys=keys, timestamp_column=ts_name, sub_micro=ceiled is not None)


def _ceiled(column: pa.ChunkedArray, floored: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The instants rounded up to a microsecond, when any has a part below one (else None)."""
    if not (pa.types.is_timestamp(column.type) and column.type.unit == "ns"):
        return None
    micros = pc.cast(floored, pa.int64())
    finer = pc.not_equal(pc.subtract(pc.cast(column, pa.int64()), pc.multiply(micros, 1000)), 0)
    if not pc.any(finer).as_py():
        return None
    return pc.cast(pc.add(micros, pc.cast(finer, pa.int64())), pa.timestamp("us"))


def _is_arrow_timestamp(kind: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(kind) or pa.types.is_date(kind))


def _typed_key(column: pa.ChunkedArray, name: str, kind: pa.DataType | None) -> pa.ChunkedArray:
    """A key column in the view's declared type; booleans never pass for numbers."""
    if kind is None or column.type == kind:
        return column
    if pa.types.is_boolean(column.type) and not pa.types.is_boolean(kind):
        raise ValidationError(f"entity_df column '{name}' holds booleans; the key is {kind}. Pass its values.")
    try:
        return column.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ValidationError(
            f"entity_df column '{name}' does not fit the key's declared type {kind}: {reason}. "
            f"Pass {kind} values (or correct the view's data_type)."
        ) from None
