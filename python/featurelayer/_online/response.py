"""What an online read returns: the values, in their declared types, with a status each.

- ``PRESENT``: a value;
- ``NULL``: the entity has a row, and this feature is null in it;
- ``NOT_FOUND``: the online store has no row for the entity in this view;
- ``EXPIRED``: it had one, but its validity ended (ttl) before now.

Offline, all but ``PRESENT`` are nulls: the same values, told apart.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .._transforms.to_python import plain_type
from .codec import EXPIRED, NOT_FOUND, decode_column

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FieldStatus", "OnlineResponse"]


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
    ``event_timestamps``: per feature column, the event timestamp (naive UTC) of the row each value
    came from: how fresh it is. None where no row is in force, and for transform outputs.
    """

    def __init__(
        self,
        columns: dict[str, Any],
        features: Mapping[str, pa.DataType],
        row_states: dict[str, list[int] | None],
        row_events: dict[str, list[int | None] | None] | None = None,
    ) -> None:
        self._columns = columns
        self._features = features
        # per feature column, the event timestamp (µs) of each entity's row in force, None where there is
        # none; a transform's outputs have none (None for the whole column)
        self._row_events = row_events or {}
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
    def event_timestamps(self) -> dict[str, list[dt.datetime | None]]:
        return {name: self._event_times(name) for name in self._row_states}

    @property
    def feature_columns(self) -> list[str]:
        """The feature and transform-output columns, in order (the entity and request columns come first)."""
        return list(self._row_states)

    def row_states(self, name: str) -> list[int] | None:
        """A feature column's decode_rows states (``codec.FOUND``, ``NOT_FOUND``, ``EXPIRED``); None: all found."""
        return self._row_states.get(name)

    def event_micros(self, name: str) -> list[int | None] | None:
        """A feature column's event timestamps in µs since the epoch (None: a transform's output)."""
        return self._row_events.get(name)

    def _event_times(self, name: str) -> list[dt.datetime | None]:
        events = self._row_events.get(name)
        if events is None:
            return [None] * len(self._columns[name])
        return [None if e is None else _EPOCH + dt.timedelta(microseconds=e) for e in events]

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
        return OnlineResponse(columns, features, {**self._row_states, **dict.fromkeys(arrays)}, self._row_events)

    @property
    def table(self) -> pa.Table:
        return self.to_arrow()

    def to_dict(self, include_event_timestamps: bool = False) -> dict[str, list[Any]]:
        """Column name -> list of Python values (None where there is no value).

        With ``include_event_timestamps`` (Feast's spelling), each feature column
        ``name`` is followed by ``name__ts``: its ``event_timestamps``.
        """
        out: dict[str, list[Any]] = {}
        for name, values in self.python_columns().items():
            out[name] = list(values)
            if include_event_timestamps and name in self._row_states:
                out[f"{name}__ts"] = self._event_times(name)
        return out

    def python_columns(self) -> dict[str, list[Any]]:
        """``to_dict()`` without copying the lists it holds already: for callers that only read them (serving)."""
        out: dict[str, list[Any]] = {}
        features = self._features
        for name, values in self._columns.items():
            if type(values) is list:
                kind = features.get(name)
                if kind is None or _plain(kind):
                    out[name] = values
                else:  # timestamps, dates, decimals, bytes: through their Arrow type
                    out[name] = decode_column(values, kind).to_pylist()
            elif isinstance(values, pa.Array | pa.ChunkedArray):
                out[name] = values.to_pylist()
            else:
                out[name] = list(values)
        return out

    def to_pandas(self, include_event_timestamps: bool = False) -> pd.DataFrame:
        if include_event_timestamps:
            import pandas as pd

            return pd.DataFrame(self.to_dict(include_event_timestamps=True))
        return self.to_arrow().to_pandas()

    to_df = to_pandas


def _plain(kind: pa.DataType) -> bool:
    """Whether values of ``kind`` are held as Python would give them (asked per column, per request: cached,
    by identity: the registry's types live as long as it does, and the entry keeps its type alive)."""
    known = _PLAIN_KINDS.get(id(kind))
    if known is None:
        known = _PLAIN_KINDS[id(kind)] = (kind, any(check(kind) for check in _PLAIN))
        if len(_PLAIN_KINDS) > 10_000:  # (types made per call, by hand: never let the cache grow without end)
            _PLAIN_KINDS.clear()
    return known[1]


_PLAIN_KINDS: dict[int, tuple[pa.DataType, bool]] = {}
_PRESENT, _NULL = FieldStatus.PRESENT, FieldStatus.NULL
_EPOCH = dt.datetime(1970, 1, 1)
# decode_rows' states: None for a row in force, whose values decide PRESENT or NULL
_STATUS_OF_STATE: dict[int, FieldStatus | None] = {NOT_FOUND: FieldStatus.NOT_FOUND, EXPIRED: FieldStatus.EXPIRED}
