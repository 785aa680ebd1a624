"""Online reads: the features of a few entities, now, in one round trip.

The request is resolved exactly as training retrieval resolves it (the same
``resolve_features``), every (entity, view) key is fetched with one MGET, and
values come back in their declared Arrow types with a status each:

- ``PRESENT``: a value;
- ``NULL``: the entity has a row, and this feature is null in it;
- ``NOT_FOUND``: the online store has no row for the entity in this view;
- ``EXPIRED``: it had one, but its validity ended (ttl) before now.

Offline, all but ``PRESENT`` are nulls: the same values, told apart.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ._errors import ValidationError
from ._online_codec import decode_column, decode_row, entity_key, micros

if TYPE_CHECKING:
    import pandas as pd

    from ._features import FeatureRef
    from ._online_store import OnlineStore

__all__ = ["FieldStatus", "OnlineResponse", "read_online"]


class FieldStatus(enum.Enum):
    PRESENT = "PRESENT"
    NULL = "NULL"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class OnlineResponse:
    """Online features: the entity columns you sent, then one column per feature.

    Attributes:
        table: the values as a pyarrow Table (declared types).
        statuses: per feature column, one ``FieldStatus`` per entity row.
    """

    table: pa.Table
    statuses: Mapping[str, list[FieldStatus]]

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name -> list of Python values (None where there is no value)."""
        columns: dict[str, list[Any]] = self.table.to_pydict()
        return columns

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    to_df = to_pandas


def _columns(entity_rows: Any) -> dict[str, list[Any]]:
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
        if not all(isinstance(r, Mapping) for r in rows):
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


def read_online(
    project: str,
    online: OnlineStore,
    refs: Sequence[FeatureRef],
    entity_rows: Any,
    *,
    now: dt.datetime,
    request_data: Mapping[str, Sequence[Any]] | None = None,
) -> OnlineResponse:
    """Reads the features of ``entity_rows`` valid at ``now`` (see the module docstring)."""
    columns = _columns(entity_rows)
    n = len(next(iter(columns.values()))) if columns else 0
    views = list({ref.view.name: ref.view for ref in refs}.values())

    keys: list[str] = []
    offsets: dict[str, int] = {}
    for view in views:
        missing = [k for k in view.join_keys if k not in columns]
        if missing:
            raise ValidationError(
                f"entity_rows lack join key(s) {missing} of feature view '{view.name}'. Given: {list(columns)}."
            )
        typed = []
        for key in view.join_keys:
            try:
                typed.append(
                    pa.array(columns[key]).cast(view.key_types[key]).to_pylist() if view.key_types else columns[key]
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise ValidationError(f"entity_rows column '{key}' does not fit {view.name}'s key type: {exc}") from exc
        offsets[view.name] = len(keys)
        schema = view.schema_tag
        keys.extend(entity_key(project, view.name, key, schema) for key in zip(*typed, strict=True))
    raw = online.read(keys)

    now_us = micros(now)
    out = dict(columns)
    for name, values in (request_data or {}).items():
        if len(values) != n:
            raise ValidationError(f"request_data['{name}'] has {len(values)} values for {n} entity rows.")
        out.setdefault(name, list(values))
    table = pa.table(out) if out else pa.table({})
    statuses: dict[str, list[FieldStatus]] = {}
    arrays: dict[str, pa.Array] = {}
    for view in views:
        start = offsets[view.name]
        rows = [None if r is None else decode_row(r) for r in raw[start : start + n]]
        row_status = [
            FieldStatus.NOT_FOUND if r is None else FieldStatus.EXPIRED if r.expired_at(now_us) else None for r in rows
        ]
        positions = {f.name: i for i, f in enumerate(view.features)}
        for ref in (r for r in refs if r.view.name == view.name):
            i = positions[ref.feature.name]
            values = [
                None if s is not None or r is None else r.values[i] for r, s in zip(rows, row_status, strict=True)
            ]
            statuses[ref.output_name] = [
                s if s is not None else FieldStatus.NULL if v is None else FieldStatus.PRESENT
                for s, v in zip(row_status, values, strict=True)
            ]
            arrays[ref.output_name] = decode_column(values, ref.feature.arrow_type)
    for ref in refs:  # in request order, as training retrieval returns them
        table = table.append_column(ref.output_name, arrays[ref.output_name])
    return OnlineResponse(table=table, statuses={ref.output_name: statuses[ref.output_name] for ref in refs})
