"""Online reads: the features of a few entities, now, in one round trip.

The request is resolved exactly as training retrieval resolves it
(``_registry.resolve.resolve_request``), every (entity, view) key is fetched with one
MGET, and values come back in their declared Arrow types with a status each
(``response``). A service's transforms then run on the response
(``online_transforms``).

A read is three steps: ``plan_read`` (the keys), the store's round trip, and
``decode_read`` (the response). Planning and decoding are pure, so a caller on
an event loop awaits its own client in between (``featurelayer serve``) while
``FeatureStore`` calls the store's blocking ``read``. What does not depend on
the entity rows (each view's key layout, which stored value lands in which
column) is worked out once per resolved request, as a ``ReadProgram``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa

from .._errors import OnlineStoreError, ValidationError
from .._time import micros
from .codec import decode_rows, entity_keys, view_schema_tag
from .request_keys import entity_columns, typed_keys
from .response import OnlineResponse

if TYPE_CHECKING:
    from .._registry.resolve import FeatureRef
    from .base import OnlineStore

__all__ = ["ReadPlan", "ReadProgram", "compile_read", "decode_read", "plan_read", "read_online"]


class _ViewRead(NamedTuple):
    name: str
    source: str  # the view whose rows are read (a projection reads those of the view it projects)
    join_keys: tuple[str, ...]
    kinds: tuple[pa.DataType | None, ...]
    schema: str
    width: int
    outputs: tuple[tuple[str, int], ...]  # (output column, position of its feature in the stored row)


@dataclass(frozen=True)
class ReadProgram:
    """How to read one resolved request's features, whatever the entity rows."""

    project: str
    views: tuple[_ViewRead, ...]
    outputs: tuple[str, ...]  # the feature columns, in request order
    types: Mapping[str, pa.DataType]
    #: output column -> the view it is read through (columns of one view share its rows: states, events;
    #: a projection is a view of its own here, reading another's table with its own keys)
    view_of: Mapping[str, str]
    #: output column -> the table whose rows it reads (a projection's is its base view's)
    source_of: Mapping[str, str]


def compile_read(project: str, refs: Sequence[FeatureRef]) -> ReadProgram:
    """The read program of a request's feature references (see the module docstring)."""
    views: dict[str, list[Any]] = {}
    for ref in refs:
        view = ref.view
        entry = views.get(view.name)
        if entry is None:
            positions = {f.name: i for i, f in enumerate(view.features)}
            kinds = tuple(view.key_types.get(k) for k in view.join_keys)
            entry = views[view.name] = [view, positions, kinds, []]
        entry[3].append((ref.output_name, entry[1][ref.feature.name]))
    return ReadProgram(
        project=project,
        views=tuple(
            _ViewRead(
                view.name,
                view.stored_name,
                tuple(view.join_keys),
                kinds,
                view_schema_tag(view),
                len(view.features),
                tuple(outputs),
            )
            for view, _, kinds, outputs in views.values()
        ),
        outputs=tuple(ref.output_name for ref in refs),
        types={ref.output_name: ref.feature.arrow_type for ref in refs},
        view_of={ref.output_name: ref.view.name for ref in refs},
        source_of={ref.output_name: ref.view.stored_name for ref in refs},
    )


class ReadPlan(NamedTuple):
    """One read's keys (every view's key of every entity row, view after view) and the request's columns.

    (A named tuple: one is made per request, and a frozen dataclass costs µs to make.)
    """

    keys: list[str]
    columns: dict[str, list[Any]]
    n: int


def plan_read(
    program: ReadProgram, entity_rows: Any, request_data: Mapping[str, Sequence[Any]] | None = None
) -> ReadPlan:
    """The keys to fetch for ``entity_rows``; the entity and request columns the response starts with."""
    columns = entity_columns(entity_rows)
    n = len(next(iter(columns.values()))) if columns else 0
    keys: list[str] = []
    casts: dict[tuple[str, pa.DataType | None], list[Any]] = {}
    for view in program.views:
        typed = []
        for key, kind in zip(view.join_keys, view.kinds, strict=True):
            cast = casts.get((key, kind))  # (views sharing an entity share its cast key column)
            if cast is None:
                if key not in columns:
                    missing = [k for k in view.join_keys if k not in columns]
                    raise ValidationError(
                        f"entity_rows lack join key(s) {missing} of feature view '{view.name}'. Given: {list(columns)}."
                    )
                cast = casts[key, kind] = typed_keys(columns[key], kind, key, view.name)
            typed.append(cast)
        keys.extend(entity_keys(program.project, view.source, typed, view.schema))
    if request_data:
        columns = dict(columns)
        for name, values in request_data.items():
            if len(values) != n:
                raise ValidationError(f"request_data['{name}'] has {len(values)} values for {n} entity rows.")
            columns.setdefault(name, list(values))
    return ReadPlan(keys, columns, n)


def decode_read(
    program: ReadProgram, plan: ReadPlan, raw: Sequence[bytes | None], now_us: int, retention_us: int
) -> OnlineResponse:
    """The store's answer to ``plan.keys`` as a response: values, statuses and event timestamps."""
    n = plan.n
    values: dict[str, list[Any]] = {}
    states: dict[str, list[int] | None] = {}
    events: dict[str, list[int | None] | None] = {}
    for i, view in enumerate(program.views):
        try:
            stored = raw[i * n : (i + 1) * n]
            by_feature, view_states, view_events = decode_rows(stored, now_us, view.width, retention_us)
        except ValueError as exc:  # written by hand or by something else: nothing is guessed from it
            raise OnlineStoreError(
                f"The online store holds a value under feature view '{view.source}' that is not a featurelayer "
                f"row ({exc}). Run `featurelayer sync --full` to rewrite the view's rows."
            ) from None
        for output, position in view.outputs:
            values[output] = by_feature[position]
            states[output] = view_states
            events[output] = view_events
    columns = dict(plan.columns)
    for output in program.outputs:  # in request order, as training retrieval returns them
        columns[output] = values[output]
    if len(program.views) > 1:
        states = {output: states[output] for output in program.outputs}
    return OnlineResponse(columns, program.types, states, events)


def read_online(
    project: str,
    online: OnlineStore,
    refs: Sequence[FeatureRef],
    entity_rows: Any,
    *,
    now: dt.datetime,
    request_data: Mapping[str, Sequence[Any]] | None = None,
    program: ReadProgram | None = None,
) -> OnlineResponse:
    """Reads the features of ``entity_rows`` valid at ``now`` (``program``: ``compile_read(project, refs)``, kept)."""
    program = program or compile_read(project, refs)
    plan = plan_read(program, entity_rows, request_data)
    return decode_read(program, plan, online.read(plan.keys), micros(now), online.retention_us)
