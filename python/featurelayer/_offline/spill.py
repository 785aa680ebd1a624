"""A sync's snapshot on local disk: read inside the warehouse transaction, streamed after it ends.

A sync writes into the online store for minutes at a large scale; holding the
warehouse's transaction (and with it DuckDB's file lock, or PostgreSQL's lock
against a dbt swap) all that time would stall every build. So the offline
stores copy the snapshot's rows, batch by batch, into an Arrow IPC file
(LZ4-compressed, in the declared types, so what the sync reads does not depend
on the warehouse driver), end the transaction, and hand back ``SpilledBatches``.

The file is removed when the batches are consumed or closed, and, should
neither happen, when the object is collected; spill files a killed process left
behind are swept by the next sync in the same folder after a day.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from .._errors import ProjectError

__all__ = ["SpilledBatches", "spill"]

_PREFIX = ".fl_sync_"
_STALE_SECONDS = 86_400


def spill(batches: Iterable[pa.RecordBatch], schema: pa.Schema | None, folder: Path | None) -> SpilledBatches:
    """Writes ``batches`` (cast to ``schema`` when given) to a new spill file in ``folder``.

    A failure, or an interruption, while writing removes the file.
    """
    folder = folder or Path(tempfile.gettempdir())
    _sweep(folder)
    path = folder / f"{_PREFIX}{uuid.uuid4().hex}.arrows"
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    writer: pa.ipc.RecordBatchFileWriter | None = None
    count = 0
    try:
        for batch in batches:
            if schema is not None:
                batch = _cast(batch, schema)
            if writer is None:
                writer = pa.ipc.new_file(str(path), batch.schema, options=options)
            if batch.num_rows:
                writer.write_batch(batch)
                count += 1
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.close()
        path.unlink(missing_ok=True)
        raise
    return SpilledBatches(path if writer is not None else None, count)


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch in the declared types (a driver's null-typed or wider columns included)."""
    if batch.schema.equals(schema):
        return batch
    columns = []
    for field in schema:
        column = batch.column(field.name)
        try:
            columns.append(column if column.type == field.type else column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise ProjectError(
                f"Column '{field.name}' holds {column.type} values that do not fit its declared type "
                f"{field.type} ({str(exc).splitlines()[0]}): correct its data_type in the model's YAML."
            ) from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _sweep(folder: Path) -> None:
    """Removes spill files older than a day: what syncs killed mid-read left behind."""
    cutoff = time.time() - _STALE_SECONDS
    for stale in folder.glob(f"{_PREFIX}*"):
        with contextlib.suppress(OSError):  # (another sync may be sweeping it too)
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


class SpilledBatches(Iterator[pa.RecordBatch]):
    """The spilled batches, in order; the file goes when they are consumed, closed or collected."""

    def __init__(self, path: Path | None, count: int) -> None:
        self.path = path
        self._count = count
        self._next = 0
        self._reader: pa.ipc.RecordBatchFileReader | None = None
        self._cleanup = weakref.finalize(self, _remove, path)

    def __iter__(self) -> SpilledBatches:
        return self

    def __next__(self) -> pa.RecordBatch:
        if self._next >= self._count or self.path is None:
            self.close()
            raise StopIteration
        if self._reader is None:
            self._reader = pa.ipc.open_file(pa.memory_map(str(self.path)))
        batch = self._reader.get_batch(self._next)
        self._next += 1
        return batch

    def close(self) -> None:
        self._reader = None
        self._next = self._count
        self._cleanup()


def _remove(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
