"""Online reads: the features of a few entities, now, in one round trip.

The request is resolved exactly as training retrieval resolves it
(``_registry.resolve.resolve_request``), every (entity, view) key is fetched with one
MGET, and values come back in their declared Arrow types with a status each
(``response``). A service's transforms then run on the response, as
generated Python loops where they cover the inputs, else through Arrow.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .._errors import OnlineStoreError, ValidationError, shown
from .._registry.resolve import check_request_fields
from .._time import micros
from .._transforms.apply import apply_transforms
from .codec import decode_rows, entity_keys, view_schema_tag
from .response import OnlineResponse

if TYPE_CHECKING:
    from .._registry.resolve import FeatureRef, ResolvedRequest
    from .._registry.views import FeatureView
    from .._transforms.bound import BoundTransform
    from .._transforms.to_python import RowsFunction
    from .base import OnlineStore

__all__ = ["ReadPlan", "apply_online_transforms", "complete_online", "decode_read", "plan_read", "read_online"]


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


_PYTHON_TYPES = {pa.int64(): int, pa.int32(): int, pa.int16(): int, pa.string(): str}


def _typed_keys(values: list[Any], kind: pa.DataType | None, name: str, view: str) -> list[Any]:
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


def _as_int(value: Any, kind: pa.DataType, name: str, view: str) -> int | None:
    if value is None:
        return value
    number = None
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
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


@dataclass(frozen=True)
class ReadPlan:
    """What one online read asks the store for, and how its answer is laid out.

    Planning and decoding are pure: the store's round trip sits between them,
    so a caller on an event loop awaits its own client there (``featurelayer
    serve``) while ``FeatureStore`` calls the store's blocking ``read``.
    """

    keys: list[str]
    columns: dict[str, list[Any]]
    n: int
    refs: Sequence[FeatureRef]
    views: list[FeatureView]
    offsets: dict[str, int]


def plan_read(
    project: str,
    refs: Sequence[FeatureRef],
    entity_rows: Any,
    request_data: Mapping[str, Sequence[Any]] | None = None,
) -> ReadPlan:
    """The keys to fetch for ``entity_rows`` (every view's key of every row, view after view)."""
    columns = _columns(entity_rows)
    n = len(next(iter(columns.values()))) if columns else 0
    views = list({ref.view.name: ref.view for ref in refs}.values())
    keys: list[str] = []
    offsets: dict[str, int] = {}
    casts: dict[tuple[str, pa.DataType | None], list[Any]] = {}
    for view in views:
        missing = [k for k in view.join_keys if k not in columns]
        if missing:
            raise ValidationError(
                f"entity_rows lack join key(s) {missing} of feature view '{view.name}'. Given: {list(columns)}."
            )
        typed = []
        for key in view.join_keys:
            kind = view.key_types.get(key)
            cast = casts.get((key, kind))  # (views sharing an entity share its cast key column)
            if cast is None:
                cast = casts[key, kind] = _typed_keys(columns[key], kind, key, view.name)
            typed.append(cast)
        offsets[view.name] = len(keys)
        schema = view_schema_tag(view)
        source = view.stored_name  # a projection reads the rows of the view it projects
        keys.extend(entity_keys(project, source, typed, schema))
    out = dict(columns)
    for name, values in (request_data or {}).items():
        if len(values) != n:
            raise ValidationError(f"request_data['{name}'] has {len(values)} values for {n} entity rows.")
        out.setdefault(name, list(values))
    return ReadPlan(keys, out, n, refs, views, offsets)


def decode_read(plan: ReadPlan, raw: Sequence[bytes | None], now_us: int, retention_us: int) -> OnlineResponse:
    """The store's answer to ``plan.keys`` as a response: values, statuses and event timestamps."""
    n, refs = plan.n, plan.refs
    values_by_name: dict[str, list[Any]] = {}
    states_by_name: dict[str, list[int] | None] = {}
    events_by_name: dict[str, list[int | None] | None] = {}
    for view in plan.views:
        start = plan.offsets[view.name]
        try:
            by_feature, states, events = decode_rows(raw[start : start + n], now_us, len(view.features), retention_us)
        except ValueError as exc:  # written by hand or by something else: nothing is guessed from it
            raise OnlineStoreError(
                f"The online store holds a value under feature view '{view.stored_name}' that is not a featurelayer "
                f"row ({exc}). Run `featurelayer sync --full` to rewrite the view's rows."
            ) from None
        positions = {f.name: i for i, f in enumerate(view.features)}
        for ref in (r for r in refs if r.view.name == view.name):
            values_by_name[ref.output_name] = by_feature[positions[ref.feature.name]]
            states_by_name[ref.output_name] = states
            events_by_name[ref.output_name] = events
    out = dict(plan.columns)
    for ref in refs:  # in request order, as training retrieval returns them
        out[ref.output_name] = values_by_name[ref.output_name]
    features = {ref.output_name: ref.feature.arrow_type for ref in refs}
    return OnlineResponse(
        out,
        features,
        {ref.output_name: states_by_name[ref.output_name] for ref in refs},
        {ref.output_name: events_by_name[ref.output_name] for ref in refs},
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
    plan = plan_read(project, refs, entity_rows, request_data)
    return decode_read(plan, online.read(plan.keys), micros(now), online.retention_us)


def complete_online(request: ResolvedRequest, response: OnlineResponse) -> OnlineResponse:
    """A read's response with the request's transforms applied (their request fields checked first)."""
    if not request.transforms:
        return response
    check_request_fields(response.columns, request, "request_data")
    return apply_online_transforms(request, response)


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
