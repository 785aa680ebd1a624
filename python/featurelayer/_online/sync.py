"""The sync job: copies the rows valid now from the warehouse into the online store.

For each feature view it reads the rows valid at the sync's own instant
(``_offline.queries.current_rows_query``, the range test of the
``current_rows`` macro) in streamed Arrow batches and writes them in
pipelined batches. What it reads and which generation it writes under are
decided here; which write wins is decided inside the store, atomically per
key (``base.OnlineStore``'s contract: the Lua script in ``redis_store``, the
conditional upsert in ``sqlite_store``): a row never replaces a newer one, so
a sync killed half-way leaves each key old or new, a re-run is idempotent,
and racing syncs cannot go backwards.

Incremental by default: a watermark per view, kept in the online store, holds
the greatest created timestamp synced (the time a row arrived) and the last
sync's instant; the next sync reads only rows that arrived since (minus a
look-back for slow builds) or became valid since. Late-arriving rows are
therefore synced. A view without a created timestamp is always synced in
full, and so is a view whose features (or the stored row layout) changed since
its last sync: its keys carry a schema tag, so every key is new. ``full=True``
rewrites every current row and removes rows of entities that are no longer
valid (deleted upstream), a pass over the view's keys that the first sync of a
view skips; rows that expired by their ttl stay readable as *expired* until
the store's retention drops them.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from .._offline.queries import current_rows_query
from .._time import from_micros, micros, micros_column
from .base import WriteBatch
from .codec import encode_columns, entity_keys, view_schema_tag

if TYPE_CHECKING:
    from .._offline.base import OfflineStore
    from .._registry.views import FeatureView
    from .base import OnlineStore

__all__ = ["SyncReport", "ViewSyncReport", "sync_views"]

#: valid_to of a current row (the macro's open_valid_to()).
OPEN_VALID_TO = dt.datetime(9999, 12, 31)


@dataclass
class ViewSyncReport:
    view: str
    mode: str  # "full" or "incremental"
    rows: int = 0
    written: int = 0  # rows that were newer than what the store held
    removed: int = 0
    seconds: float = 0.0


@dataclass
class SyncReport:
    """What a sync did; ``summary()`` is the one line the CLI prints."""

    views: list[ViewSyncReport] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def rows(self) -> int:
        return sum(v.rows for v in self.views)

    @property
    def written(self) -> int:
        return sum(v.written for v in self.views)

    def summary(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        removed = sum(v.removed for v in self.views)
        text = (
            f"synced {len(self.views)} view(s): {self.rows:,} rows read, {self.written:,} keys written"
            f"{f', {removed:,} removed' if removed else ''} in {self.seconds:.2f} s ({rate:,.0f} rows/s)"
        )
        return text + (" - interrupted, watermarks not advanced" if self.interrupted else "")


def _writes(project: str, view: FeatureView, batch: pa.RecordBatch) -> tuple[WriteBatch, int | None]:
    """The batch as a store write, and the greatest created timestamp in it (µs).

    Column-wise: timestamps become µs in Arrow and values are packed column
    by column (``encode_columns``); no Python object is made per row.
    """
    n = batch.num_rows
    events = micros_column(batch.column("valid_from"))
    valid_tos = [-1 if v >= _OPEN_US else v for v in micros_column(batch.column("valid_to"))]
    if view.created_timestamp:
        createds = [-1 if c is None else c for c in micros_column(batch.column(view.created_timestamp))]
        newest_us = max(createds) if createds else None
        newest_us = None if newest_us == -1 else newest_us
    else:
        createds, newest_us = [-1] * n, None
    key_columns = [batch.column(k).to_pylist() for k in view.join_keys]
    keys = entity_keys(project, view.name, key_columns, view_schema_tag(view))
    payloads = encode_columns([batch.column(f.name) for f in view.features], n)
    return WriteBatch(view.name, keys, events, createds, valid_tos, payloads, len(view.features)), newest_us


_OPEN_US = micros(OPEN_VALID_TO)


def sync_views(
    project: str,
    views: Sequence[FeatureView],
    offline: OfflineStore,
    online: OnlineStore,
    *,
    now: dt.datetime,
    full: bool = False,
    lookback: dt.timedelta = dt.timedelta(hours=1),
    batch_rows: int = 5_000,
    progress: Callable[[str, int], None] | None = None,
    stop: threading.Event | None = None,
) -> SyncReport:
    """Syncs each view; see the module docstring for the guarantees.

    Args:
        project: the project name (the key prefix).
        views: the feature views to sync.
        offline, online: where rows come from and go to.
        now: the sync's instant (naive UTC): rows valid at it are written.
        full: rewrite every current row and remove rows no longer valid.
        lookback: how far before the watermark an incremental sync looks, for
            rows whose created timestamp is earlier than their arrival in the
            feature table (a slow dbt build).
        batch_rows: rows per read batch and per pipelined write.
        progress: called with (view, rows so far) after each batch.
        stop: when set, the sync stops after the current batch (SIGTERM).
    """
    report = SyncReport()
    started = time.perf_counter()
    now_us = micros(now)
    for view in views:
        if stop is not None and stop.is_set():
            report.interrupted = True
            break
        meta = online.get_meta(project, view.name)
        # incremental only on top of a sync of this very definition and row layout: after a
        # change to the view's features (or an upgrade), every key is new and needs a full sync
        incremental = (
            not full
            and bool(view.created_timestamp)
            and "created_watermark" in meta
            and meta.get("schema_tag") == view_schema_tag(view)
        )
        # Marked before the first write: a store with no mark holds no row of this view, so
        # the first full sync (an initial load) has nothing to remove and skips that pass.
        online.set_meta(project, view.name, {"sync_started": str(now_us)})
        params: list[Any] = [now, now]
        if incremental:
            watermark = from_micros(int(meta["created_watermark"]))
            last = from_micros(int(meta["synced_at"]))
            params += [watermark - lookback, last]
        generation = now_us if not incremental else 0
        view_report = ViewSyncReport(view=view.name, mode="incremental" if incremental else "full")
        view_started = time.perf_counter()
        newest = int(meta["created_watermark"]) if "created_watermark" in meta else None
        # While the store applies batches, the next is read and encoded: the warehouse,
        # this process and Redis each get a core's worth of work. Redis takes two batches at
        # a time on two connections, so it has the next one while the client packs another.
        in_flight = online.concurrent_writes
        pending: collections.deque[tuple[Future[int], int]] = collections.deque()
        with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="featurelayer-sync") as writer:
            for batch in _batches(offline, current_rows_query(view, incremental), params, batch_rows):
                writes, batch_newest = _writes(project, view, batch)
                while len(pending) >= in_flight:
                    _settle(pending, view_report, progress)
                pending.append((writer.submit(online.write, writes, generation, now_us), len(writes)))
                if batch_newest is not None and (newest is None or batch_newest > newest):
                    newest = batch_newest
                if stop is not None and stop.is_set():
                    report.interrupted = True
                    break
            while pending:
                _settle(pending, view_report, progress)
        if report.interrupted:
            view_report.seconds = time.perf_counter() - view_started
            report.views.append(view_report)
            break
        if not incremental and meta:
            view_report.removed = online.delete_older_generations(project, view.name, generation, now_us)
        watermark_fields = {"synced_at": str(now_us), "schema_tag": view_schema_tag(view)}
        if newest is not None:
            watermark_fields["created_watermark"] = str(newest)
        online.set_meta(project, view.name, watermark_fields)
        view_report.seconds = time.perf_counter() - view_started
        report.views.append(view_report)
    report.seconds = time.perf_counter() - started
    return report


def _settle(
    pending: collections.deque[tuple[Future[int], int]],
    report: ViewSyncReport,
    progress: Callable[[str, int], None] | None,
) -> None:
    """Waits for the oldest write in flight and counts it."""
    future, rows = pending.popleft()
    report.written += future.result()
    report.rows += rows
    if progress is not None:
        progress(report.view, report.rows)


def _batches(offline: OfflineStore, query: exp.Select, params: list[Any], batch_rows: int) -> Iterator[pa.RecordBatch]:
    for batch in offline.stream(query, params, batch_rows):
        if batch.num_rows:
            yield batch
