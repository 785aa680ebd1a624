"""The sync job: copies each entity's latest rows from the warehouse into the online store.

For each feature view it reads, in one warehouse transaction, the table's
version (``max(_fl_snapshot)``, stamped by the ``valid_intervals`` macro at
each build) and each entity's latest row at the sync's instant
(``_offline.queries.sync_rows_query``: the row valid now, or one whose
validity ended within the store's retention), in streamed Arrow batches, and
writes them in pipelined batches under that version. Which write wins is
decided inside the store, atomically per key (``base.OnlineStore``'s write
rule, docs/online-store.md): writes are ordered by the snapshot they were
read from, so a rollback in the warehouse propagates, a slow sync of an older
build never overwrites a newer one's rows, a sync killed half-way leaves each
key old or new, and a re-run is idempotent.

Incremental by default: a watermark per view, kept in the online store, holds
the greatest created timestamp synced (the time a row arrived), never past
the version read (a row created "in the future" cannot pin it), and the last
sync's instant; the next sync reads only rows that arrived since (minus a
look-back, the late-arrival window) or became valid since. A view without a
created timestamp is always synced in full, and so is a view whose features
(or the stored row layout) changed since its last sync. ``full=True`` rewrites
every entity's latest row and then removes the keys that neither it nor a
sync of a newer snapshot saw (``remove_unseen``), unless that would remove
more than the view's allowed share of its online rows (the guard: an emptied
table must not wipe the online store).
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from .._errors import ProjectError, RemovalGuardError
from .._offline.queries import snapshot_query, sync_rows_query
from .._time import from_micros, micros, micros_column
from .base import WriteBatch, Written
from .codec import encode_columns, entity_keys, view_schema_tag

if TYPE_CHECKING:
    from .._offline.base import OfflineStore
    from .._offline.spill import SpilledBatches
    from .._registry.views import FeatureView
    from .base import OnlineStore

__all__ = ["DEFAULT_MAX_REMOVAL_SHARE", "SyncReport", "ViewSyncReport", "sync_views"]

#: valid_to of a current row (the macro's open_valid_to()).
OPEN_VALID_TO = dt.datetime(9999, 12, 31)
#: the share of a view's online rows a full sync may remove without being told to
DEFAULT_MAX_REMOVAL_SHARE = 0.5


@dataclass
class ViewSyncReport:
    view: str
    mode: str  # "full" or "incremental"
    rows: int = 0
    written: int = 0  # rows stored (not refused as older than what the store held)
    removed: int = 0  # rows retracted by a full sync (now read as not found)
    aged: int = 0  # rows whose retention had passed, cleaned up by a full sync
    snapshot: int | None = None  # the warehouse version read (None: the table is empty)
    refused: str | None = None  # why the removal pass did not run (the guard)
    seconds: float = 0.0
    removal_seconds: float = 0.0  # of which the removal pass (with the guard's dry run, if it ran one)
    removal_keys: int = 0  # keys the removal pass visited


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

    @property
    def refused(self) -> list[str]:
        """The guard's messages, one per view whose removal pass did not run."""
        return [v.refused for v in self.views if v.refused]

    def summary(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        removed = sum(v.removed for v in self.views)
        text = (
            f"synced {len(self.views)} view(s): {self.rows:,} rows read, {self.written:,} keys written"
            f"{f', {removed:,} removed' if removed else ''} in {self.seconds:.2f} s ({rate:,.0f} rows/s)"
        )
        if self.refused:
            text += f" - removals refused for {len(self.refused)} view(s)"
        return text + (" - interrupted, watermarks not advanced" if self.interrupted else "")


def _writes(project: str, view: FeatureView, batch: pa.RecordBatch) -> tuple[WriteBatch, int | None]:
    """The batch as a store write, and the greatest created timestamp in it (µs).

    Column-wise: timestamps become µs in Arrow and values are packed column
    by column (``encode_columns``); no Python object is made per row.
    """
    n = batch.num_rows
    events = micros_column(batch.column("valid_from"))
    valid_tos = [-1 if v >= _OPEN_US else v for v in micros_column(batch.column("valid_to"))]
    newest_us = None
    if view.created_timestamp:  # (the spill holds it as timestamp[us]: the scalar's value is µs)
        newest = pc.max(batch.column(view.created_timestamp))
        newest_us = newest.value if newest.is_valid else None
    key_columns = [batch.column(k).to_pylist() for k in view.join_keys]
    keys = entity_keys(project, view.name, key_columns, view_schema_tag(view))
    payloads = encode_columns([batch.column(f.name) for f in view.features], n)
    return WriteBatch(view.name, keys, events, valid_tos, payloads, len(view.features)), newest_us


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
    allow_removals: bool = False,
    progress: Callable[[str, int], None] | None = None,
    stop: threading.Event | None = None,
    landing_us: Mapping[str, int] | None = None,
) -> SyncReport:
    """Syncs each view; see the module docstring for the guarantees.

    Args:
        project: the project name (the key prefix).
        views: the feature views to sync.
        offline, online: where rows come from and go to.
        now: the sync's instant (naive UTC): each entity's latest row at it is written.
        full: rewrite every entity's row and remove rows no longer in the warehouse.
        lookback: the late-arrival window: how far before the watermark an
            incremental sync looks, for rows whose created timestamp is earlier
            than their arrival in the feature table (a slow pipeline or build).
        batch_rows: rows per read batch and per pipelined write.
        allow_removals: let a full sync remove more than the views' allowed
            share of their online rows (an emptied table included).
        progress: called with (view, rows so far) after each batch.
        stop: when set, the sync stops after the current batch (SIGTERM).
        landing_us: per view fed by a push source, its landing window (µs): a pushed row younger than
            that is not replaced by an older warehouse row nor removed (docs/online-store.md).

    Raises:
        RemovalGuardError: after every view was synced, if the guard kept any
            view's removal pass from running (nothing was removed from those).
    """
    report = SyncReport()
    started = time.perf_counter()
    now_us = micros(now)
    # rows whose validity ended after this instant still read as expired, so they are synced too
    retained_since = from_micros(max(now_us - online.retention_us, 0))
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
        since = None
        if incremental:  # (a last sync "in the future", by a clock running ahead, counts as now)
            last = min(int(meta["synced_at"]), now_us)
            since = (from_micros(int(meta["created_watermark"])) - lookback, from_micros(last))
        view_report = ViewSyncReport(view=view.name, mode="incremental" if incremental else "full")
        view_started = time.perf_counter()
        query, params = sync_rows_query(view, now, retained_since, since)
        snapshot, batches = offline.read_snapshot(snapshot_query(view), query, params, batch_rows, _read_schema(view))
        view_report.snapshot = snapshot
        landing = (landing_us or {}).get(view.name, 0)
        newest = _write_rows(project, view, batches, snapshot, now_us, online, view_report, progress, stop, landing)
        if stop is not None and stop.is_set():
            report.interrupted = True
        if report.interrupted:
            view_report.seconds = time.perf_counter() - view_started
            report.views.append(view_report)
            break
        if not incremental and meta:
            removal_started = time.perf_counter()
            _remove(project, view, snapshot, now_us, online, meta, view_report, allow_removals, landing)
            view_report.removal_seconds = time.perf_counter() - removal_started
        _advance_watermark(project, view, online, meta, snapshot, newest, now_us)
        view_report.seconds = time.perf_counter() - view_started
        report.views.append(view_report)
    report.seconds = time.perf_counter() - started
    if report.refused:
        raise RemovalGuardError(" ".join(report.refused), report)
    return report


def _write_rows(
    project: str,
    view: FeatureView,
    batches: SpilledBatches,
    snapshot: int | None,
    now_us: int,
    online: OnlineStore,
    report: ViewSyncReport,
    progress: Callable[[str, int], None] | None,
    stop: threading.Event | None,
    landing_us: int = 0,
) -> int | None:
    """Writes every batch under ``snapshot``; returns the greatest created timestamp read (µs).

    While the store applies batches, the next is read and encoded: the
    warehouse, this process and Redis each get a core's worth of work. Redis
    takes two batches at a time on two connections, so it has the next one
    while the client packs another. New keys are counted into the view's meta
    (``rows``) as they are made, for the removal guard.
    """
    newest: int | None = None
    in_flight = online.concurrent_writes
    pending: collections.deque[tuple[Future[Written], int]] = collections.deque()

    def settle() -> None:
        future, rows = pending.popleft()
        written = future.result()
        online.add_to_meta(project, view.name, "rows", written.created)
        report.written += written.stored
        report.rows += rows
        if progress is not None:
            progress(report.view, report.rows)

    try:
        with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="featurelayer-sync") as writer:
            for batch in batches:
                if not batch.num_rows:
                    continue
                if snapshot is None:  # rows, but no version: not built by valid_intervals
                    raise ProjectError(
                        f"The table of feature view '{view.name}' has rows without a build version "
                        "(_fl_snapshot is null): build it with the feature_layer.valid_intervals macro "
                        "(`featurelayer build`)."
                    )
                writes, batch_newest = _writes(project, view, batch)
                while len(pending) >= in_flight:
                    settle()
                write = writer.submit(online.write, writes, snapshot, now_us, landing_us=landing_us)
                pending.append((write, len(writes)))
                if batch_newest is not None and (newest is None or batch_newest > newest):
                    newest = batch_newest
                if stop is not None and stop.is_set():
                    break
            while pending:
                settle()
    finally:
        batches.close()  # removes the spill file, whether or not every batch was read
    return newest


def _read_schema(view: FeatureView) -> pa.Schema:
    """The columns a sync reads, in the view's declared types (what the spill file holds)."""
    fields = [pa.field(key, view.key_types.get(key, pa.null())) for key in view.join_keys]
    fields += [pa.field(f.name, f.arrow_type) for f in view.features]
    fields += [pa.field("valid_from", pa.timestamp("us")), pa.field("valid_to", pa.timestamp("us"))]
    if view.created_timestamp:
        fields.append(pa.field(view.created_timestamp, pa.timestamp("us")))
    unique = {f.name: f for f in fields}  # (a key or timestamp may also be declared as a feature)
    return pa.schema(list(unique.values()))


def _remove(
    project: str,
    view: FeatureView,
    snapshot: int | None,
    now_us: int,
    online: OnlineStore,
    meta: dict[str, str],
    report: ViewSyncReport,
    allow_removals: bool,
    landing_us: int = 0,
) -> None:
    """A full sync's removal pass, behind the guard.

    The guard's first estimate costs nothing: the view's online row count
    (kept in its meta) less the rows this sync wrote or confirmed. Only when
    that exceeds the allowed share does a dry run count exactly (the count
    drifts up as Redis drops rows past their retention by itself); if the
    exact count exceeds it too, nothing is removed and the report says why.
    """
    if snapshot is None:
        # An empty table has no version to read. It was built after the newest snapshot synced
        # (which had rows), so its removals rank just above that one: any real build is later.
        if "snapshot" not in meta:
            return
        snapshot = int(meta["snapshot"]) + 1
    share = view.max_removal_share if view.max_removal_share is not None else DEFAULT_MAX_REMOVAL_SHARE
    if not allow_removals:
        online_rows = int(online.get_meta(project, view.name).get("rows", "0"))
        estimate = max(0, online_rows - report.rows)
        if estimate and (report.rows == 0 or estimate > share * online_rows):
            exact = online.remove_unseen(project, view.name, snapshot, now_us, dry_run=True, landing_us=landing_us)
            before = exact.removed + exact.live
            if exact.removed and (report.rows == 0 or exact.removed > share * before):
                emptied = (
                    " It read no rows (its table is empty, or holds none within the retention): an upstream "
                    "load may have failed."
                    if not report.rows
                    else ""
                )
                report.refused = (
                    f"A full sync of '{view.name}' would remove {exact.removed:,} of its {before:,} online rows "
                    f"({exact.removed / before:.0%}, more than the {share:.0%} allowed).{emptied} Nothing was "
                    "removed: the rows online stay. If the removals are meant, run `featurelayer sync --full "
                    "--allow-removals` (FeatureStore.sync(full=True, allow_removals=True)), or set "
                    "`max_removal_share` in the view's meta."
                )
                return
    removal = online.remove_unseen(project, view.name, snapshot, now_us, landing_us=landing_us)
    report.removed, report.aged = removal.removed, removal.aged
    report.removal_keys = removal.removed + removal.aged + removal.live
    # the exact count as the pass found it (rows made by syncs running meanwhile may be off by a few)
    online.set_meta(project, view.name, {"rows": str(removal.live)})


def _advance_watermark(
    project: str,
    view: FeatureView,
    online: OnlineStore,
    meta: dict[str, str],
    snapshot: int | None,
    newest: int | None,
    now_us: int,
) -> None:
    """Records the sync in the view's meta; each field only moves forward, atomically in the store,
    so a slower sync of an older snapshot finishing late cannot pull it back.

    The created watermark is at most the version read and the sync's instant:
    a row whose created timestamp lies in the future (a producer's clock
    running ahead) cannot make later syncs skip rows that land late with
    honest timestamps.
    """
    tag = view_schema_tag(view)
    if meta.get("schema_tag") != tag:  # a full sync of a new definition: nothing of the old one's counts
        online.set_meta(project, view.name, {"schema_tag": tag, "synced_at": "0", "snapshot": "0"})
        if "created_watermark" in meta:
            online.set_meta(project, view.name, {"created_watermark": "0"})
    fields = {"synced_at": now_us}
    if snapshot is not None:
        fields["snapshot"] = snapshot
        if newest is not None:
            fields["created_watermark"] = min(newest, snapshot, now_us)
    online.advance_meta(project, view.name, fields)
