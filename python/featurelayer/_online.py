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
import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ._errors import ValidationError
from ._online_codec import EXPIRED, NOT_FOUND, decode_column, decode_rows, entity_keys, micros
from ._transforms.apply import apply_transforms
from ._transforms.to_python import RowsFunction, plain_type

if TYPE_CHECKING:
    import pandas as pd

    from ._online_store import OnlineStore
    from ._request import FeatureRef, ResolvedRequest
    from ._transforms.bound import BoundTransform

__all__ = ["FieldStatus", "OnlineResponse", "apply_online_transforms", "read_online"]


class FieldStatus(enum.Enum):
    PRESENT = "PRESENT"
    NULL = "NULL"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"


_PLAIN_PYTHON = (int, float, bool, str)
_PLAIN = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_boolean)


class OnlineResponse:
    """Online features: the entity columns you sent, then one column per feature.

    ``to_dict()`` is the fast path (Python lists, no Arrow for plain types);
    ``to_arrow()`` builds the typed table once, on first use.

    ``statuses``: per feature column (and transform output), one ``FieldStatus`` per entity row.
    """

    def __init__(
        self,
        columns: dict[str, Any],
        features: dict[str, pa.DataType],
        row_states: dict[str, list[int] | None],
    ) -> None:
        self._columns = columns
        self._features = features
        # per feature column, decode_rows' state of each row (None: every row found, as for
        # a transform's output); statuses are derived from them and the values on first use,
        # since serving needs none and a request's worth costs a Python pass over every value
        self._row_states = row_states
        self._statuses: dict[str, list[FieldStatus]] | None = None
        self._table: pa.Table | None = None

    @property
    def statuses(self) -> Mapping[str, list[FieldStatus]]:
        if self._statuses is None:
            self._statuses = {name: self._derive(name, states) for name, states in self._row_states.items()}
        return self._statuses

    def _derive(self, name: str, states: list[int] | None) -> list[FieldStatus]:
        values = self._columns[name]
        if isinstance(values, pa.Array | pa.ChunkedArray):
            by_value = [_NULL if null else _PRESENT for null in values.is_null().to_pylist()]
        else:
            by_value = [_NULL if v is None else _PRESENT for v in values]
        if states is None:
            return by_value
        return [_STATUS_OF_STATE.get(state) or status for state, status in zip(states, by_value, strict=True)]

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def column(self, name: str) -> pa.Array:
        """One column as a typed Arrow array (what transforms read)."""
        values = self._columns[name]
        if isinstance(values, pa.Array | pa.ChunkedArray):
            return values
        return decode_column(values, self._features[name]) if name in self._features else pa.array(values)

    def plain_values(self, name: str) -> list[Any] | None:
        """A column as Python ints, floats, bools or strs (None for nulls), if it is held so; else None."""
        values = self._columns[name]
        if not isinstance(values, list):
            return None
        kind = self._features.get(name)
        if kind is not None:
            return values if plain_type(kind) else None
        # request data: whatever the caller sent, if every value is plain
        return values if all(v is None or type(v) in _PLAIN_PYTHON for v in values) else None

    def to_arrow(self) -> pa.Table:
        """The values as a pyarrow Table, features in their declared types."""
        if self._table is None:
            self._table = pa.table({name: self.column(name) for name in self._columns})
        return self._table

    def with_columns(self, arrays: Mapping[str, Any], types: Mapping[str, pa.DataType]) -> OnlineResponse:
        """This response plus computed columns (Arrow arrays or Python lists), PRESENT where not null."""
        columns = {**self._columns, **arrays}
        features = {**self._features, **{n: types[n] for n in arrays}}
        return OnlineResponse(columns, features, {**self._row_states, **dict.fromkeys(arrays)})

    @property
    def table(self) -> pa.Table:
        return self.to_arrow()

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name -> list of Python values (None where there is no value)."""
        out: dict[str, list[Any]] = {}
        for name, values in self._columns.items():
            kind = self._features.get(name)
            if isinstance(values, pa.Array | pa.ChunkedArray):
                out[name] = values.to_pylist()
            elif kind is None or any(check(kind) for check in _PLAIN):
                out[name] = list(values)
            else:  # timestamps, dates, decimals, bytes: through their Arrow type
                out[name] = decode_column(values, kind).to_pylist()
        return out

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

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


_PRESENT, _NULL = FieldStatus.PRESENT, FieldStatus.NULL
# decode_rows' states: None for a row in force, whose values decide PRESENT or NULL
_STATUS_OF_STATE: dict[int, FieldStatus | None] = {NOT_FOUND: FieldStatus.NOT_FOUND, EXPIRED: FieldStatus.EXPIRED}
_PYTHON_TYPES = {pa.int64(): int, pa.int32(): int, pa.int16(): int, pa.string(): str}


def _typed_keys(values: list[Any], kind: pa.DataType | None, name: str, view: str) -> list[Any]:
    """Key values as the feature table stores them, so the caller's 42 and '42' do not both miss."""
    if kind is None:
        return values
    python_type = _PYTHON_TYPES.get(kind)
    if python_type is not None and all(type(v) is python_type for v in values):
        return values  # already right: skip Arrow on the hot path
    try:
        converted: list[Any] = pa.array(values).cast(kind).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(f"entity_rows column '{name}' does not fit {view}'s key type {kind}: {exc}") from exc
    return converted


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
        typed = [_typed_keys(columns[key], view.key_types.get(key), key, view.name) for key in view.join_keys]
        offsets[view.name] = len(keys)
        schema = view.schema_tag
        source = view.stored_name  # a projection reads the rows of the view it projects
        keys.extend(entity_keys(project, source, typed, schema))
    raw = online.read(keys)

    now_us = micros(now)
    out = dict(columns)
    for name, values in (request_data or {}).items():
        if len(values) != n:
            raise ValidationError(f"request_data['{name}'] has {len(values)} values for {n} entity rows.")
        out.setdefault(name, list(values))
    values_by_name: dict[str, list[Any]] = {}
    states_by_name: dict[str, list[int] | None] = {}
    for view in views:
        start = offsets[view.name]
        by_feature, states = decode_rows(raw[start : start + n], now_us, len(view.features))
        positions = {f.name: i for i, f in enumerate(view.features)}
        for ref in (r for r in refs if r.view.name == view.name):
            values_by_name[ref.output_name] = by_feature[positions[ref.feature.name]]
            states_by_name[ref.output_name] = states
    for ref in refs:  # in request order, as training retrieval returns them
        out[ref.output_name] = values_by_name[ref.output_name]
    features = {ref.output_name: ref.feature.arrow_type for ref in refs}
    return OnlineResponse(out, features, {ref.output_name: states_by_name[ref.output_name] for ref in refs})


def apply_online_transforms(request: ResolvedRequest, response: OnlineResponse) -> OnlineResponse:
    """The response plus every transform's outputs, computed as online requests need.

    A SQL transform whose inputs are plain Python values (integers, doubles,
    booleans, strings) runs as compiled Python over them (``_transforms.to_python``):
    for a request's few rows that is several times cheaper than pyarrow.compute.
    The rest go through Arrow, as offline.
    """
    added: dict[str, Any] = {}
    arrow: list[BoundTransform] = []
    for bound in request.transforms:
        python = _in_python(bound, response)
        if python is None:
            arrow.append(bound)
            continue
        columns, functions = python
        values = {name: function(columns) for name, function in functions.items()}
        added.update({column: values[name] for column, name in bound.outputs.items()})
    if arrow:
        needed = dict.fromkeys(column for t in arrow for column in t.inputs.values())
        table = apply_transforms(arrow, pa.table({name: response.column(name) for name in needed}))
        added.update({name: table.column(name) for t in arrow for name in t.outputs})
    ordered = {name: added[name] for t in request.transforms for name in t.outputs}
    return response.with_columns(ordered, request.output_types)


def _in_python(
    bound: BoundTransform, response: OnlineResponse
) -> tuple[list[list[Any]], dict[str, RowsFunction]] | None:
    """The input columns and compiled functions of a SQL transform the Python backend covers; else None."""
    functions = bound.row_functions
    if functions is None:
        return None
    columns = []
    for column in bound.inputs.values():
        values = response.plain_values(column)
        if values is None:
            return None
        columns.append(values)
    if bound.transform.casts and any(type(v) is str for values in columns for v in values):  # type: ignore[union-attr]
        return None  # the Python casts take no strings; Arrow parses them as the warehouse does
    return columns, functions
