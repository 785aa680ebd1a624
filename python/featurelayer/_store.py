"""``FeatureStore``: the Python entry point for training data, syncs and online reads.

It ties the pieces together: the project on disk, the registry from dbt's
manifest, request resolution (features, services, transforms), the
point-in-time query and the offline store, the sync job and the online store.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from ._dbt.project import Project, find_project
from ._entity_df import ROW_ID, TIMESTAMP, EntityRows, entity_rows_from_arrow, pick_timestamp_column, to_arrow
from ._errors import ValidationError
from ._offline import OfflineStore, offline_store_for
from ._online import OnlineResponse, apply_online_transforms, read_online
from ._online_store import OnlineStore, open_online_store
from ._pit_query import point_in_time_query, view_table
from ._registry.registry import Registry
from ._request import ResolvedRequest, check_collisions, check_request_fields, resolve_request
from ._sync import SyncReport, sync_views
from ._time import utc_naive, utc_now
from ._transforms.apply import apply_transforms
from ._transforms.definitions import SqlTransform

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FeatureStore", "RetrievalJob"]


class FeatureStore:
    """A featurelayer project: its feature views, training data from them, and serving.

    Args:
        project_dir: the project folder (default: the working directory or a folder above it).
        profiles_dir: where profiles.yml is (default: $DBT_PROFILES_DIR, then the project root).
        target: dbt target (default: the profile's default).
        online_url: the online store (default: see ``online_url``).
        clock: "now" for syncs and online reads, naive UTC (default: the system clock).

    >>> store = FeatureStore(".")                                     # doctest: +SKIP
    >>> store.get_historical_features(entity_df, ["user_profile:plan"]).to_pandas()  # doctest: +SKIP
    """

    def __init__(
        self,
        project_dir: str | os.PathLike[str] | None = ".",
        profiles_dir: str | os.PathLike[str] | None = None,
        target: str | None = None,
        *,
        online_url: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.project: Project = find_project(project_dir, profiles_dir, target)
        self._registry: Registry | None = None
        self._offline: OfflineStore | None = None
        self._online: OnlineStore | None = None
        self._online_url = online_url
        self._resolved: dict[tuple[Any, ...], ResolvedRequest] = {}
        #: "now" for syncs and online reads (naive UTC); replaceable for tests and replays.
        self.clock: Callable[[], dt.datetime] = clock or utc_now

    @property
    def registry(self) -> Registry:
        """The registry as of the manifest (read once; ``refresh()`` reads it again)."""
        if self._registry is None:
            self._registry = Registry.from_project(self.project)
        return self._registry

    def refresh(self) -> None:
        """Forgets the registry and the warehouse connection, e.g. after `dbt build`."""
        self._registry = None
        self.close()

    def close(self) -> None:
        if self._offline is not None:
            self._offline.close()
            self._offline = None
        if self._online is not None:
            self._online.close()
            self._online = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def offline_store(self) -> OfflineStore:
        if self._offline is None:
            self._offline = offline_store_for(self.project)
        return self._offline

    @property
    def online_url(self) -> str | None:
        """The online store URL: the constructor's, else $FEATURELAYER_REDIS_URL, else the
        project's ``vars: feature_layer: online_store:`` in dbt_project.yml; None means the
        embedded SQLite store (``warehouse/online.sqlite``)."""
        if self._online_url is not None:
            return self._online_url
        if os.environ.get("FEATURELAYER_REDIS_URL"):
            return os.environ["FEATURELAYER_REDIS_URL"]
        config = self.project.feature_layer_vars.get("online_store")
        if isinstance(config, dict):
            config = config.get("url")
        return str(config) if config else None

    @property
    def online_default_path(self) -> Path:
        """The embedded online store's file, used when no URL is configured."""
        return self.project.root / "warehouse" / "online.sqlite"

    @property
    def online_store(self) -> OnlineStore:
        if self._online is None:
            self._online = open_online_store(self.online_url, self.online_default_path)
        return self._online

    def sync(
        self,
        views: Sequence[str] | None = None,
        *,
        full: bool = False,
        batch_rows: int = 5_000,
        progress: Callable[[str, int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> SyncReport:
        """Copies the rows valid now into the online store (see ``featurelayer sync``).

        Args:
            views: names of the feature views to sync (default: all).
            full: rewrite every current row and remove entities no longer valid;
                default is incremental from the per-view watermark.
            batch_rows: rows per streamed read batch and pipelined write.
            progress: called with (view, rows so far) after each batch.
            stop: set it to stop cleanly after the current batch.
        """
        chosen = [self.registry.feature_view(v) for v in views] if views else list(self.registry.feature_views.values())
        return sync_views(
            self.registry.project_name,
            chosen,
            self.offline_store,
            self.online_store,
            now=self.clock(),
            full=full,
            batch_rows=batch_rows,
            progress=progress,
            stop=stop,
        )

    def get_online_features(
        self,
        features: Sequence[str] | str,
        entity_rows: Any,
        request_data: Mapping[str, Sequence[Any]] | None = None,
        *,
        full_feature_names: bool = False,
    ) -> OnlineResponse:
        """Features of a few entities, valid now, from the online store in one round trip.

        Args:
            features: as for ``get_historical_features``.
            entity_rows: ``[{"user_id": 1}, ...]``, a dict of lists, or a DataFrame.
            request_data: values the caller supplies at request time, one per entity row.
            full_feature_names: name columns ``view__feature``.

        Returns:
            An ``OnlineResponse``: ``.to_dict()``, ``.to_arrow()``, ``.to_pandas()``, and
            ``.statuses`` telling present, null, not found and expired apart.
        """
        request = self._resolve_cached(features, full_feature_names)
        response = read_online(
            self.registry.project_name,
            self.online_store,
            request.refs,
            entity_rows,
            now=self.clock(),
            request_data=request_data,
        )
        if not request.transforms:
            return response
        check_request_fields(response.columns, request, "request_data")
        return apply_online_transforms(request, response)

    def _resolve_cached(self, features: Sequence[str] | str, full_feature_names: bool) -> ResolvedRequest:
        """Resolution is pure given the registry: cache it for the online hot path."""
        key = (features if isinstance(features, str) else tuple(features), full_feature_names, id(self.registry))
        cached = self._resolved.get(key)
        if cached is None:
            cached = resolve_request(self.registry, features, full_feature_names=full_feature_names)
            if len(self._resolved) > 256:
                self._resolved.clear()
            self._resolved[key] = cached
        return cached

    def get_historical_features(
        self,
        entity_df: pd.DataFrame | pa.Table | str,
        features: Sequence[str] | str,
        *,
        full_feature_names: bool = False,
        as_known_at_time: bool = False,
    ) -> RetrievalJob:
        """Point-in-time correct features for each entity row.

        Every entity row comes back once, in input order, with its own columns
        followed by the features; a row with nothing valid gets nulls.

        Args:
            entity_df: the join keys of the requested views plus a timestamp
                column (``event_timestamp``, or the only timestamp column); any
                other columns (labels) pass through. A pandas DataFrame, a pyarrow
                Table, or a SQL query run in the warehouse. Naive timestamps are
                UTC; aware ones are converted to UTC.
            features: ``["view:feature", "view:*", ...]`` or a feature service name.
            full_feature_names: name columns ``view__feature`` instead of ``feature``.
            as_known_at_time: ignore feature rows whose created timestamp is
                later than the entity row's timestamp: what was actually known
                then, so a backfill cannot leak into training data. Off by
                default (Feast's default too); slower.

        Raises:
            ValidationError: unknown view or feature, missing key or timestamp
                column, wrong timestamp type, or a column-name collision.
        """
        request = resolve_request(self.registry, features, full_feature_names=full_feature_names)
        keys = list(dict.fromkeys(k for ref in request.refs for k in ref.view.join_keys))
        if isinstance(entity_df, str):
            return RetrievalJob._from_sql(self, entity_df, request, keys, as_known_at_time)
        table = to_arrow(entity_df)
        check_request_fields(table.column_names, request, "entity_df")
        rows = entity_rows_from_arrow(table, keys, extra=list(request.request_fields))
        check_collisions(table.column_names, request)
        return RetrievalJob(self, request, rows, None, as_known_at_time)

    def get_features_as_of(
        self, features: Sequence[str] | str, timestamp: dt.datetime, *, full_feature_names: bool = False
    ) -> RetrievalJob:
        """Every entity's features valid at one instant (no entity dataframe needed).

        The entities are those with a row valid at ``timestamp`` in at least one
        requested view; the views must share their join keys.
        """
        request = resolve_request(self.registry, features, full_feature_names=full_feature_names)
        if request.request_fields:
            raise ValidationError(
                f"get_features_as_of has no request data for the transforms' fields {sorted(request.request_fields)}; "
                "use get_historical_features with those fields as entity_df columns."
            )
        refs = request.refs
        key_sets = {ref.view.join_keys for ref in refs}
        if len(key_sets) > 1:
            raise ValidationError(
                f"get_features_as_of needs views with the same join keys; got {sorted(key_sets)}. "
                "Ask for each entity's views separately."
            )
        keys = list(next(iter(key_sets)))
        instant = utc_naive(timestamp)
        views = list({ref.view.name: ref.view for ref in refs}.values())
        valid_keys: exp.Query | None = None
        for view in views:
            select = (
                exp.select(
                    *(
                        exp.column(c, quoted=True).as_(k, quoted=True)
                        for c, k in zip(view.table_keys, keys, strict=True)
                    )
                )
                .from_(view_table(view))
                .where(
                    exp.and_(
                        exp.column("valid_from", quoted=True) <= exp.Placeholder(),
                        exp.Placeholder() < exp.column("valid_to", quoted=True),
                    )
                )
            )
            valid_keys = select if valid_keys is None else exp.union(valid_keys, select, distinct=True)
        assert valid_keys is not None
        ordered = exp.Window(
            this=exp.RowNumber(), order=exp.Order(expressions=[exp.column(k, quoted=True) for k in keys])
        )
        entity = exp.select(
            exp.Sub(this=ordered, expression=exp.Literal.number(1)).as_(ROW_ID, quoted=True),
            *(exp.column(k, quoted=True) for k in keys),
            exp.cast(exp.Placeholder(), "TIMESTAMP").as_(TIMESTAMP, quoted=True),
        ).from_(valid_keys.subquery("fl_valid_keys"))
        params = [instant] + [instant, instant] * len(views)
        check_collisions(keys, request)
        return RetrievalJob(self, request, None, (entity.subquery(), keys, params), False)


class RetrievalJob:
    """A prepared point-in-time query; nothing runs until a ``to_*`` method is called."""

    def __init__(
        self,
        store: FeatureStore,
        request: ResolvedRequest,
        rows: EntityRows | None,
        sql_entity: tuple[exp.Expr, list[str], list[Any]] | None,
        as_known_at_time: bool,
    ) -> None:
        self._store = store
        self._request = request
        self._refs = request.refs
        self._rows = rows
        self._sql_entity = sql_entity
        self._as_known_at_time = as_known_at_time

    @classmethod
    def _from_sql(
        cls, store: FeatureStore, sql: str, request: ResolvedRequest, keys: list[str], as_known_at_time: bool
    ) -> RetrievalJob:
        offline = store.offline_store
        schema = offline.query_schema(sql)
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
        query = offline.parse(sql)
        entity = exp.select(
            exp.Sub(this=exp.Window(this=exp.RowNumber()), expression=exp.Literal.number(1)).as_(ROW_ID, quoted=True),
            exp.Column(this=exp.Star(), table=exp.to_identifier("fl_q", quoted=True)),
            exp.cast(exp.column(ts, table="fl_q", quoted=True), "TIMESTAMP").as_(TIMESTAMP, quoted=True),
        ).from_(exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier("fl_q", quoted=True))))
        return cls(store, request, None, (entity.subquery(), names, []), as_known_at_time)

    @property
    def features(self) -> list[str]:
        """The output columns: features, then transform outputs, in order."""
        return self._request.output_names

    def sql(self, dialect: str | None = None, pretty: bool = True) -> str:
        """The point-in-time SQL this job runs (entity rows appear as a placeholder table).

        Args:
            dialect: a sqlglot dialect; default the project's warehouse.
        """
        from ._types import sqlglot_dialect

        dialect = dialect or sqlglot_dialect(self._store.registry.adapter_type)
        return self._query(exp.to_table("entity_rows", quoted=True), for_table=False).sql(dialect, pretty=pretty)

    def _query(self, entity: exp.Expr, *, for_table: bool) -> exp.Select:
        if self._sql_entity is not None:
            passthrough = self._sql_entity[1]
        else:
            assert self._rows is not None
            passthrough = self._rows.original.column_names if for_table and self._rows.original is not None else []
        query = point_in_time_query(
            entity,
            self._refs,
            passthrough=passthrough,
            as_known_at_time=self._as_known_at_time,
            transforms=self._request.transforms,
        )
        if for_table:  # the caller's table has no internal row id
            query.set("expressions", query.expressions[1:])
        return query

    def to_arrow(self) -> pa.Table:
        """The training data as a pyarrow Table: the entity rows' columns, then the features."""
        offline = self._store.offline_store
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

    def to_table(self, name: str) -> str:
        """Writes the training data into warehouse table ``name`` (replaced); returns its quoted name.

        With a SQL entity_df the rows never pass through Python.
        """
        python = [b.transform.name for b in self._request.transforms if not isinstance(b.transform, SqlTransform)]
        if python:
            raise ValidationError(
                f"to_table cannot run the Python transform(s) {python} in the warehouse; use to_arrow() or "
                "to_pandas(), or write them as SQL-expression transforms."
            )
        offline = self._store.offline_store
        if self._sql_entity is not None:
            entity, _, params = self._sql_entity
            return offline.create_table(name, self._query(entity, for_table=True), params)
        assert self._rows is not None and self._rows.original is not None
        full = self._rows.original.append_column(ROW_ID, self._rows.keys.column(ROW_ID)).append_column(
            TIMESTAMP, self._rows.keys.column(TIMESTAMP)
        )
        with offline.registered(full) as entity:
            return offline.create_table(name, self._query(entity, for_table=True))

    def _finish(self, table: pa.Table, entity_columns: Sequence[str]) -> pa.Table:
        """Python transforms run; every output in its declared type; columns in request order."""
        table = apply_transforms(self._request.transforms, table, skip_sql=True)
        for name, kind in self._request.output_types.items():
            index = table.schema.get_field_index(name)
            if table.column(index).type != kind:
                table = table.set_column(index, name, table.column(index).cast(kind))
        return table.select([*entity_columns, *self._request.output_names])
