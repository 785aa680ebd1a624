"""``RetrievalJob``: a prepared point-in-time query and its results.

The entity rows are in memory (a pandas DataFrame or a pyarrow Table, of
which only the keys, the timestamp and a row number travel to the warehouse)
or a SQL query run there. The caller's own columns come back untouched, in
input order, followed by the features and transform outputs in their declared
types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import sqlglot
from sqlglot import exp

from .._errors import ValidationError, shown
from .._registry.resolve import ResolvedRequest, check_collisions, check_request_fields
from .._time import utc_naive
from .._transforms.apply import apply_transforms
from .._transforms.definitions import SqlTransform
from .entity_rows import (
    ROW_ID,
    TIMESTAMP,
    TIMESTAMP_CEIL,
    EntityRows,
    entity_rows_from_arrow,
    pick_timestamp_column,
    to_arrow,
)
from .queries import as_of_entities, point_in_time_query

if TYPE_CHECKING:
    import pandas as pd

    from .base import OfflineStore

__all__ = ["RetrievalJob"]


class RetrievalJob:
    """A prepared point-in-time query; nothing runs until a ``to_*`` method is called.

    Args:
        offline: opens (or returns) the warehouse connection, when a ``to_*`` method runs.
        dialect: the warehouse's sqlglot dialect, for ``sql()``.
        request: the resolved features and transforms.
        rows: in-memory entity rows, or None for ``sql_entity``.
        sql_entity: entity rows as a query: the subquery, the caller's columns
            to pass through, and its bound parameters.
        as_known_at_time: see ``FeatureStore.get_historical_features``.
        sub_micro: the entity rows carry instants finer than a microsecond
            (``point_in_time_query``); in-memory rows say so themselves.

    Attributes:
        protected: (schema, table) of every feature view, lower case, which
            ``to_table`` never writes over; ``FeatureStore`` sets it.
    """

    protected: frozenset[tuple[str, str]] = frozenset()

    def __init__(
        self,
        offline: Callable[[], OfflineStore],
        dialect: str,
        request: ResolvedRequest,
        rows: EntityRows | None,
        sql_entity: tuple[exp.Expr, list[str], list[Any]] | None,
        as_known_at_time: bool,
        sub_micro: bool = False,
    ) -> None:
        self._offline = offline
        self._dialect = dialect
        self._request = request
        self._rows = rows
        self._sql_entity = sql_entity
        self._as_known_at_time = as_known_at_time
        self._sub_micro = sub_micro or (rows is not None and rows.sub_micro)

    @classmethod
    def from_rows(
        cls,
        offline: Callable[[], OfflineStore],
        dialect: str,
        entity_df: pd.DataFrame | pa.Table,
        request: ResolvedRequest,
        as_known_at_time: bool,
    ) -> RetrievalJob:
        """A job whose entity rows are in memory; they are checked here, before anything runs."""
        table = to_arrow(entity_df)
        check_request_fields(table.column_names, request, "entity_df")
        key_types = {k: t for ref in request.refs for k, t in ref.view.key_types.items()}
        rows = entity_rows_from_arrow(
            table, _join_keys(request), extra=list(request.request_fields), key_types=key_types
        )
        check_collisions(table.column_names, request)
        return cls(offline, dialect, request, rows, None, as_known_at_time)

    @classmethod
    def as_of(
        cls, offline: Callable[[], OfflineStore], dialect: str, request: ResolvedRequest, timestamp: dt.datetime | str
    ) -> RetrievalJob:
        """A job for every entity with a row valid at ``timestamp`` in a requested view (one set of join keys)."""
        if request.request_fields:
            raise ValidationError(
                f"get_features_as_of has no request data for the transforms' fields {sorted(request.request_fields)}; "
                "use get_historical_features with those fields as entity_df columns."
            )
        key_sets = {ref.view.join_keys for ref in request.refs}
        if len(key_sets) > 1:
            raise ValidationError(
                f"get_features_as_of needs views with the same join keys; got {sorted(key_sets)}. "
                "Ask for each entity's views separately."
            )
        keys = list(next(iter(key_sets)))
        instant = utc_naive(timestamp)
        views = list({ref.view.name: ref.view for ref in request.refs}.values())
        params = [instant] + [instant, instant] * len(views)
        check_collisions(keys, request)
        return cls(offline, dialect, request, None, (as_of_entities(views, keys), keys, params), False)

    @classmethod
    def from_sql(
        cls,
        offline: Callable[[], OfflineStore],
        dialect: str,
        sql: str,
        request: ResolvedRequest,
        as_known_at_time: bool,
    ) -> RetrievalJob:
        """A job whose entity rows are the caller's SQL query, run in the warehouse."""
        keys = _join_keys(request)
        store = offline()
        schema = store.query_schema(sql)
        names = [name for name, _ in schema]
        missing = [k for k in keys if k not in names]
        if missing:
            raise ValidationError(
                f"entity_df query is missing join key column(s) {missing} needed by the requested features. "
                f"Its columns: {names}."
            )
        ts = pick_timestamp_column(schema, lambda kind: str(kind).upper().startswith(("TIMESTAMP", "DATE")))
        check_request_fields(names, request, "entity_df query")
        check_collisions(names, request)
        query = store.parse(sql)
        instant = exp.column(ts, table="fl_q", quoted=True)
        # DuckDB's TIMESTAMP_NS: floored and rounded up to a microsecond (point_in_time_query's sub_micro);
        # a plain cast would round to the nearest one
        sub_micro = dict(schema)[ts].upper() == "TIMESTAMP_NS"
        lookup: exp.Expr = exp.cast(instant, "TIMESTAMP")
        if sub_micro:
            lookup = exp.func("make_timestamp", _micros_of_nanos(instant, 0))
        entity = exp.select(
            exp.Sub(this=exp.Window(this=exp.RowNumber()), expression=exp.Literal.number(1)).as_(ROW_ID, quoted=True),
            exp.Column(this=exp.Star(), table=exp.to_identifier("fl_q", quoted=True)),
            lookup.as_(TIMESTAMP, quoted=True),
        )
        if sub_micro:
            ceiled = exp.func("make_timestamp", _micros_of_nanos(instant, 999))
            entity = entity.select(ceiled.as_(TIMESTAMP_CEIL, quoted=True))
        entity = entity.from_(
            exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier("fl_q", quoted=True)))
        )
        return cls(offline, dialect, request, None, (entity.subquery(), names, []), as_known_at_time, sub_micro)

    @property
    def features(self) -> list[str]:
        """The output columns: features, then transform outputs, in order."""
        return self._request.output_names

    def sql(self, dialect: str | None = None, pretty: bool = True) -> str:
        """The point-in-time SQL this job runs (entity rows appear as a placeholder table).

        Args:
            dialect: a sqlglot dialect; default the project's warehouse.
        """
        dialect = dialect or self._dialect
        return self._query(exp.to_table("entity_rows", quoted=True), for_table=False).sql(dialect, pretty=pretty)

    def _query(self, entity: exp.Expr, *, for_table: bool) -> exp.Select:
        if self._sql_entity is not None:
            passthrough = self._sql_entity[1]
        else:
            assert self._rows is not None
            passthrough = self._rows.original.column_names if for_table and self._rows.original is not None else []
        query = point_in_time_query(
            entity,
            self._request.refs,
            passthrough=passthrough,
            as_known_at_time=self._as_known_at_time,
            transforms=self._request.transforms,
            sub_micro=self._sub_micro,
        )
        if for_table:  # the caller's table has no internal row id
            query.set("expressions", query.expressions[1:])
        return query

    def to_arrow(self) -> pa.Table:
        """The training data as a pyarrow Table: the entity rows' columns, then the features."""
        offline = self._offline()
        if self._sql_entity is not None:
            entity, passthrough, params = self._sql_entity
            result = offline.to_arrow(self._query(entity, for_table=False), params)
            return self._finish(result.drop_columns([ROW_ID]), passthrough)
        assert self._rows is not None and self._rows.original is not None
        with offline.registered(self._rows.keys) as entity:
            # unordered: putting the rows back in input order is a scatter on the row id here,
            # O(n), instead of the warehouse's sort (about 0.1 s of 0.6 s at 1M rows)
            query = self._query(entity, for_table=False)
            query.set("order", None)
            result = offline.to_arrow(query)
        if result.num_rows != self._rows.keys.num_rows:
            raise ValidationError(
                f"The point-in-time join returned {result.num_rows} rows for {self._rows.keys.num_rows} entity "
                "rows: a feature table has overlapping validity intervals. Build it with "
                "feature_layer.valid_intervals and run its valid_intervals_ordered test (`featurelayer build`)."
            )
        order = np.empty(result.num_rows, dtype=np.int64)
        order[result.column(ROW_ID).to_numpy()] = np.arange(result.num_rows, dtype=np.int64)
        result = result.take(pa.array(order))
        table = self._rows.original
        for name in result.column_names[1:]:  # features and SQL transforms, after the row id
            table = table.append_column(name, result.column(name))
        return self._finish(table, self._rows.original.column_names)

    def to_pandas(self) -> pd.DataFrame:
        """The training data as a pandas DataFrame (same columns as ``to_arrow``)."""
        return self.to_arrow().to_pandas()

    to_df = to_pandas

    def to_table(self, name: str, *, replace: bool = False) -> str:
        """Writes the training data into a new warehouse table ``name``; returns its quoted name.

        With a SQL entity_df the rows never pass through Python.

        Args:
            name: ``table`` or ``schema.table``.
            replace: overwrite an existing table of that name (never a feature view's).

        Raises:
            ValidationError: ``name`` is a feature view's table, or exists and
                ``replace`` is not set, or the request has Python transforms.
        """
        python = [b.transform.name for b in self._request.transforms if not isinstance(b.transform, SqlTransform)]
        if python:
            raise ValidationError(
                f"to_table cannot run the Python transform(s) {python} in the warehouse; use to_arrow() or "
                "to_pandas(), or write them as SQL-expression transforms."
            )
        self._refuse_feature_table(name)
        offline = self._offline()
        with offline.session(write=True):
            if self._sql_entity is not None:
                entity, _, params = self._sql_entity
                return offline.create_table(name, self._query(entity, for_table=True), params, replace=replace)
            assert self._rows is not None and self._rows.original is not None
            full = self._rows.original.append_column(ROW_ID, self._rows.keys.column(ROW_ID)).append_column(
                TIMESTAMP, self._rows.keys.column(TIMESTAMP)
            )
            if self._rows.sub_micro:
                full = full.append_column(TIMESTAMP_CEIL, self._rows.keys.column(TIMESTAMP_CEIL))
            with offline.registered(full) as entity:
                return offline.create_table(name, self._query(entity, for_table=True), replace=replace)

    def _refuse_feature_table(self, name: str) -> None:
        try:
            table = exp.to_table(name, dialect=self._dialect)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
            raise ValidationError(
                f"to_table: {shown(name)} is not a table name; use `table` or `schema.table`."
            ) from None
        schema, identifier = table.db.lower(), table.name.lower()
        if any(identifier == t and (not schema or schema == s) for s, t in self.protected):
            raise ValidationError(
                f"to_table: {shown(name)} is a feature view's table; writing training data there would replace the "
                "view's rows. Choose another name, such as 'training_" + table.name + "'."
            )

    def _finish(self, table: pa.Table, entity_columns: Sequence[str]) -> pa.Table:
        """Python transforms run; every output in its declared type; columns in request order."""
        table = apply_transforms(self._request.transforms, table, skip_sql=True)
        for name, kind in self._request.output_types.items():
            index = table.schema.get_field_index(name)
            if table.column(index).type != kind:
                table = table.set_column(index, name, table.column(index).cast(kind))
        return table.select([*entity_columns, *self._request.output_names])


def _micros_of_nanos(instant: exp.Expr, add: int) -> exp.Expr:
    """``(epoch_ns(instant) + add) // 1000``: whole microseconds, floored (add 0) or rounded up (add 999)."""
    nanos: exp.Expr = exp.func("epoch_ns", instant.copy())
    if add:
        nanos = exp.paren(exp.Add(this=nanos, expression=exp.Literal.number(add)))
    return exp.IntDiv(this=nanos, expression=exp.Literal.number(1000))


def _join_keys(request: ResolvedRequest) -> list[str]:
    """The join keys of every requested view, in request order."""
    return list(dict.fromkeys(k for ref in request.refs for k in ref.view.join_keys))
