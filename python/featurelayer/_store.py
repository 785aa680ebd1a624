"""``FeatureStore``: the Python entry point for training data, syncs and online reads.

It only wires: the project on disk (``_dbt``), the registry from dbt's
manifest (``_registry``), request resolution (``_registry.resolve``), then hands the
request to the warehouse side (``_offline``) or the online side (``_online``).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._dbt.project import Project, find_project
from ._errors import ValidationError
from ._offline.retrieval import RetrievalJob
from ._offline.warehouse import offline_store_for
from ._online.base import OnlineStore, Written
from ._online.connect import open_online_store
from ._online.online_transforms import complete_online
from ._online.push import push_online
from ._online.read import ReadProgram, compile_read, read_online
from ._online.response import OnlineResponse
from ._online.sync import SyncReport, sync_views
from ._registry.registry import Registry
from ._registry.resolve import ResolvedRequest, resolve_request
from ._time import utc_now
from ._types import sqlglot_dialect

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ._offline.base import OfflineStore

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
        self._resolved: dict[tuple[Any, ...], tuple[ResolvedRequest, ReadProgram]] = {}
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
        self._resolved.clear()  # (they belong to the registry just forgotten)
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
        allow_removals: bool = False,
        progress: Callable[[str, int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> SyncReport:
        """Copies each entity's latest rows into the online store (see ``featurelayer sync``).

        Args:
            views: names of the feature views to sync (default: all).
            full: rewrite every entity's row and remove entities no longer in the
                warehouse; default is incremental from the per-view watermark.
            batch_rows: rows per streamed read batch and pipelined write.
            allow_removals: let a full sync remove more than a view's allowed
                share of its online rows (``max_removal_share``, default 50%),
                or every row when its table is empty.
            progress: called with (view, rows so far) after each batch.
            stop: set it to stop cleanly after the current batch.

        Raises:
            RemovalGuardError: the guard kept a view's removals from running (its
                rows were still written); the error's ``report`` is the sync's.
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
            allow_removals=allow_removals,
            progress=progress,
            stop=stop,
            landing_us=self._landing_windows(),
        )

    def _landing_windows(self) -> dict[str, int]:
        """Per feature view fed by push sources, the longest landing window among them (µs)."""
        windows: dict[str, int] = {}
        for source in self.registry.push_sources.values():
            us = source.landing_window_seconds * 1_000_000
            windows[source.feature_view] = max(us, windows.get(source.feature_view, 0))
        return windows

    def push(self, source: str, rows: Any, to: str = "online") -> Written:
        """Writes rows of a push source's feature view online at once.

        Args:
            source: the push source's name (``featurelayer list --json``: ``push_sources``).
            rows: a DataFrame, pyarrow Table, list of dicts or dict of lists with the view's join keys,
                its timestamp (and created timestamp) and any of its features (a missing one is null).
            to: ``"online"``. Landing pushed rows in the warehouse (``"offline"``,
                ``"online_and_offline"``) is not built yet.

        Returns:
            What the write did: rows stored (a row older than the stored one is not), keys new online.

        Raises:
            ValidationError: an unknown source or column, a missing key or timestamp, a value of the wrong
                type; nothing is written then.
        """
        if to != "online":
            raise ValidationError(
                f"push(..., to={to!r}): only to='online' is available; landing pushed rows in the warehouse "
                "('offline', 'online_and_offline') is not built yet."
            )
        registry = self.registry
        push_source = registry.push_source(source)
        view = registry.feature_view(push_source.feature_view)
        return push_online(registry.project_name, self.online_store, view, push_source, rows, self.clock())

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
        request, program = self._read_program(features, full_feature_names)
        response = read_online(
            self.registry.project_name,
            self.online_store,
            request.refs,
            entity_rows,
            now=self.clock(),
            request_data=request_data,
            program=program,
        )
        return complete_online(request, response)

    def _resolve_cached(self, features: Sequence[str] | str, full_feature_names: bool) -> ResolvedRequest:
        return self._read_program(features, full_feature_names)[0]

    def _read_program(
        self, features: Sequence[str] | str, full_feature_names: bool
    ) -> tuple[ResolvedRequest, ReadProgram]:
        """Resolution and the read program are pure given the registry: cached for the online hot path."""
        key = (features if isinstance(features, str) else tuple(features), full_feature_names, id(self.registry))
        cached = self._resolved.get(key)
        if cached is None:
            request = resolve_request(self.registry, features, full_feature_names=full_feature_names)
            cached = (request, compile_read(self.registry.project_name, request.refs))
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
        if isinstance(entity_df, str):
            job = RetrievalJob.from_sql(self._open_offline, self._dialect, entity_df, request, as_known_at_time)
        else:
            job = RetrievalJob.from_rows(self._open_offline, self._dialect, entity_df, request, as_known_at_time)
        job.protected = self._feature_tables
        return job

    def get_features_as_of(
        self, features: Sequence[str] | str, timestamp: dt.datetime | str, *, full_feature_names: bool = False
    ) -> RetrievalJob:
        """Every entity's features valid at one instant (no entity dataframe needed).

        The entities are those with a row valid at ``timestamp`` (a datetime, or
        an ISO 8601 string as the dbt ``as_of`` macro takes; naive means UTC) in
        at least one requested view; the views must share their join keys.
        """
        request = resolve_request(self.registry, features, full_feature_names=full_feature_names)
        job = RetrievalJob.as_of(self._open_offline, self._dialect, request, timestamp)
        job.protected = self._feature_tables
        return job

    @property
    def _feature_tables(self) -> frozenset[tuple[str, str]]:
        """(schema, table) of every feature view, lower case: what ``to_table`` must not replace."""
        return frozenset((v.schema.lower(), v.identifier.lower()) for v in self.registry.feature_views.values())

    def _open_offline(self) -> OfflineStore:
        return self.offline_store

    @property
    def _dialect(self) -> str:
        return sqlglot_dialect(self.registry.adapter_type)
