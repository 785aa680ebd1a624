"""Pushed rows, written online at once (``FeatureStore.push``, ``POST /push``).

A push is a batch of a feature view's rows: keys, event (and created)
timestamp, features. It is checked against the view's declared types as a
whole before anything is written, so a bad row writes nothing. Per key the
newest (event, created) row is kept, and the batch goes through the same
codec and the same write script as a sync, with the push's instant as a
negative snapshot: the write rule's push part decides (docs/online-store.md,
"Pushed rows"). The write is one round trip (one atomic script call per 250
rows on Redis, one transaction on SQLite); a push that makes new keys counts
them in the view's meta with one more, as a sync does, for the removal guard.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .._errors import ValidationError, shown, suggest
from .._registry.push_sources import push_fields
from .._time import micros, utc_naive
from .base import WriteBatch, Written
from .codec import encode_columns, entity_keys, view_schema_tag
from .request_keys import entity_columns, typed_keys

if TYPE_CHECKING:
    from .._registry.push_sources import PushSource
    from .._registry.views import FeatureView
    from .base import OnlineStore

__all__ = ["push_online", "push_table"]


#: how far past the push's own instant an event may lie (clocks disagree a little, not by more)
FUTURE_SKEW = dt.timedelta(minutes=5)


def push_table(view: FeatureView, rows: Any, source: str, now: dt.datetime | None = None) -> pa.Table:
    """The pushed rows as a table in the view's declared types, the newest row of each key only.

    Raises:
        ValidationError: a column the view does not have, a key or timestamp missing, or a value that does
            not fit its column's type; the message names the column (and the row) and says how to fix it.
    """
    fields = push_fields(view)
    columns = _columns(rows)
    unknown = [name for name in columns if name not in fields]
    if unknown:
        name = unknown[0]
        raise ValidationError(
            f"push source '{source}' has no column {shown(name)}.{suggest(name, fields)} "
            f"Its columns: {', '.join(fields)}."
        )
    required = [*view.join_keys, view.timestamp]
    missing = [name for name in required if name not in columns]
    if missing:
        raise ValidationError(f"Rows pushed to '{source}' lack {missing}: every row needs {required}.")
    n = len(columns[view.timestamp])
    arrays = {}
    for name, kind in fields.items():
        values = columns.get(name)
        if values is None:  # a feature (or the created timestamp) left out: null
            arrays[name] = pa.nulls(n, kind)
        elif name in view.join_keys:  # cast as online reads cast them: '42' and 42 are the same key
            arrays[name] = pa.array(typed_keys(values, kind, name, view.name), kind)
        elif pa.types.is_timestamp(kind):
            instants = [_instant(v, name, i, source) for i, v in enumerate(values)]
            if name == view.timestamp and now is not None:
                _not_future(instants, now, name, source)
            arrays[name] = pa.array(instants, kind)
        else:
            arrays[name] = _typed(values, kind, name, source)
    for name in required:
        if arrays[name].null_count:
            i = arrays[name].is_null().to_pylist().index(True)
            raise ValidationError(f"Row {i} pushed to '{source}' has no {name}: keys and timestamps are required.")
    return _newest_per_key(pa.table(arrays), view)


def _columns(rows: Any) -> dict[str, list[Any]]:
    """Rows as columns; in a list of dicts a row may leave a feature out (it is null)."""
    if isinstance(rows, pa.Table):
        table: dict[str, list[Any]] = rows.to_pydict()
        return table
    if isinstance(rows, Sequence) and not isinstance(rows, str) and all(isinstance(r, Mapping) for r in rows):
        names = list(dict.fromkeys(name for row in rows for name in row))
        return {name: [row.get(name) for row in rows] for name in names}
    return entity_columns(rows)


def _typed(values: Sequence[Any], kind: pa.DataType, name: str, source: str) -> pa.Array:
    try:
        return pa.array(values, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        for i, value in enumerate(values):  # the first value that does not fit, for the message
            try:
                pa.array([value], kind)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                raise ValidationError(
                    f"Row {i} pushed to '{source}': column '{name}' holds {shown(value)} ({type(value).__name__}), "
                    f"which is not a {kind}."
                ) from None
        raise ValidationError(f"Rows pushed to '{source}': column '{name}' does not fit {kind}.") from None


def _not_future(instants: list[dt.datetime | None], now: dt.datetime, name: str, source: str) -> None:
    late = [i for i, t in enumerate(instants) if t is not None and t > now + FUTURE_SKEW]
    if late:
        at = instants[late[0]]
        raise ValidationError(
            f"Row {late[0]} pushed to '{source}' has {name} {at}, more than {FUTURE_SKEW.seconds // 60} minutes after "
            f"now ({now} UTC): it would be served as current at once. Check the producer's clock and the unit."
        )


def _instant(value: Any, name: str, row: int, source: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return utc_naive(value)
    except (ValidationError, TypeError, ValueError):
        raise ValidationError(
            f"Row {row} pushed to '{source}': column '{name}' holds {shown(value)}, which is not a timestamp. "
            "Give an ISO 8601 string (naive = UTC) or a datetime."
        ) from None


def _newest_per_key(table: pa.Table, view: FeatureView) -> pa.Table:
    """One row per key: the newest by (event, created), the later of equal ones."""
    keys = list(zip(*(table.column(k).to_pylist() for k in view.join_keys), strict=True))
    events = table.column(view.timestamp).to_pylist()
    created = table.column(view.created_timestamp).to_pylist() if view.created_timestamp else [None] * len(events)
    best: dict[tuple[Any, ...], int] = {}
    floor = dt.datetime.min
    for i, key in enumerate(keys):
        j = best.get(key)
        if j is None or (events[i], created[i] or floor) >= (events[j], created[j] or floor):
            best[key] = i
    return table.take(sorted(best.values())) if len(best) < table.num_rows else table


def push_online(
    project: str, online: OnlineStore, view: FeatureView, source: PushSource, rows: Any, now: dt.datetime
) -> Written:
    """Writes the pushed rows online at once, by the write rule's push part; returns what was stored."""
    table = push_table(view, rows, source.name, now)
    n = table.num_rows
    events = [micros(t) for t in table.column(view.timestamp).to_pylist()]
    if view.ttl_seconds:  # (as valid_intervals: the row is valid through event + ttl inclusive)
        ttl_us = view.ttl_seconds * 1_000_000
        valid_tos = [event + ttl_us + 1 for event in events]
    else:
        valid_tos = [-1] * n
    key_columns = [table.column(k).to_pylist() for k in view.join_keys]
    keys = entity_keys(project, view.name, key_columns, view_schema_tag(view))
    payloads = encode_columns([table.column(f.name) for f in view.features], n)
    batch = WriteBatch(view.name, keys, events, valid_tos, payloads, len(view.features))
    now_us = micros(now)
    written = online.write(batch, -now_us, now_us, landing_us=source.landing_window_seconds * 1_000_000)
    online.add_to_meta(project, view.name, "rows", written.created)  # (the removal guard counts keys so)
    return written
