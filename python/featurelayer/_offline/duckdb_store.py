"""The DuckDB offline store, and connections to the database a project's dbt target points at.

DuckDB, the embedded default, is opened directly: in-memory entity rows are
registered as Arrow views (zero copy) and results come back as Arrow. Every
session runs in UTC (feature tables store naive UTC timestamps) with the
profile's other DuckDB settings, as dbt's own sessions do.

A DuckDB file takes one writing process or many reading ones, never both, so
the store holds it only while it works: each call (or ``session()`` of calls)
opens it, read-only unless it writes, and closes it after; a sync copies its
snapshot to a local spill file (``spill``) and streams from that,
so the file is busy for seconds, not for the whole sync (dbt-duckdb does not
wait for a lock: a build that starts in those seconds fails, and is run again).
Opening waits for another process's lock for up to
``FEATURELAYER_DUCKDB_LOCK_TIMEOUT`` seconds (60), then says in one line who
holds it.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .._dbt.target import load_target
from .._errors import ProjectError, ValidationError
from .base import exists_error, no_version_error, quoted_table
from .guard import entity_query
from .spill import SpilledBatches, spill

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from .._dbt.project import Project

__all__ = ["DuckDBOfflineStore", "connect_duckdb"]


def connect_duckdb(project: Project, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Opens the project's DuckDB database (the file dbt builds into), in UTC.

    Args:
        project: the project whose dbt target names the file.
        read_only: open it for reading, beside other reading processes (a
            process that already holds it read-write gets a connection of that
            kind: DuckDB allows one configuration per file and process).

    Raises:
        ProjectError: the target is not DuckDB, its file does not exist yet, or
            another process kept it locked longer than the lock timeout.
    """
    target = load_target(project)
    if target.type != "duckdb":
        raise ProjectError(
            f"Target '{target.name}' is {target.type!r}; this operation needs the "
            "duckdb target for now. Pass target='duckdb' (CLI: --target duckdb)."
        )
    if target.duckdb_file is not None and not target.duckdb_file.is_file():
        raise ProjectError(
            f"The DuckDB database {target.duckdb_file} does not exist yet. Run `featurelayer build` first."
        )
    connection = _open(target.duckdb_path, read_only and target.duckdb_file is not None)
    # the profile's DuckDB settings (memory_limit, threads, ...) apply here as they do in dbt;
    # the session time zone is UTC whatever they say
    configured = target.settings.get("settings") or {}
    for name, value in [*((k, v) for k, v in configured.items() if str(k).lower() != "timezone"), ("TimeZone", "UTC")]:
        statement = exp.Set(
            expressions=[
                exp.SetItem(this=exp.EQ(this=exp.to_identifier(str(name)), expression=exp.Literal.string(str(value))))
            ]
        )
        connection.execute(statement.sql("duckdb"))
    return connection


def _lock_timeout() -> float:
    try:
        return float(os.environ.get("FEATURELAYER_DUCKDB_LOCK_TIMEOUT", "60"))
    except ValueError:
        raise ProjectError(
            "FEATURELAYER_DUCKDB_LOCK_TIMEOUT must be a number of seconds, e.g. 60. "
            f"Got: {os.environ['FEATURELAYER_DUCKDB_LOCK_TIMEOUT']!r}"
        ) from None


def _open(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting (with backoff) while another process holds the file's lock."""
    import duckdb

    timeout = _lock_timeout()
    started = time.monotonic()
    delay = 0.05
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.ConnectionException as exc:
            if read_only and "different configuration" in str(exc):
                read_only = False  # this process writes it already: read through a connection like its own
                continue
            raise ProjectError(f"Cannot open the DuckDB database {path}: {exc}") from exc
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise ProjectError(f"Cannot open the DuckDB database {path}: {exc}") from exc
            waited = time.monotonic() - started
            if waited >= timeout:
                holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
                who = f"process {holder.group(2)} ({Path(holder.group(1)).name})" if holder else "another process"
                raise ProjectError(
                    f"The DuckDB database {path} is locked by {who}: a dbt build, a sync or a retrieval writing "
                    f"it. Waited {waited:.0f} s. Run this again when it is done, or raise "
                    "FEATURELAYER_DUCKDB_LOCK_TIMEOUT; schedule syncs so they never overlap (sync/README.md)."
                ) from None
            time.sleep(min(delay, max(0.0, timeout - waited)))
            delay = min(delay * 2, 1.0)


class DuckDBOfflineStore:
    """Point-in-time queries on the project's DuckDB database, which it holds only while working."""

    dialect = "duckdb"

    def __init__(self, project: Project) -> None:
        self._project = project
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self._writes = False
        # a database without a file (":memory:", MotherDuck) is kept open: closing would lose it
        database = load_target(project).duckdb_file
        self._keep_open = database is None
        # spills go beside the database (the same disk); without a file, to the temporary folder
        self._spill_folder = database.parent if database is not None else None
        self._lock = threading.RLock()  # one thread in a session at a time: they share its connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection for the calls inside the block, closed after it: read-only unless ``write``.

        Calls nest: an inner block uses the outer one's connection (a write
        needs the outermost block to be a writing one).
        """
        with self._lock:
            if self._depth and write and not self._writes:
                raise ProjectError("featurelayer: a write inside a read-only DuckDB session (an internal error).")
            if not self._depth and (self._connection is None or (write and not self._writes)):
                self.close()
                self._connection = connect_duckdb(self._project, read_only=not write)
                self._writes = write or self._keep_open
            self._depth += 1
            try:
                assert self._connection is not None
                yield self._connection
            finally:
                self._depth -= 1
                if not self._depth and not self._keep_open:
                    self.close()

    @contextmanager
    def registered(self, table: pa.Table) -> Iterator[exp.Table]:
        """Makes an Arrow table queryable under a unique name for the block (one session)."""
        name = f"fl_entity_rows_{uuid.uuid4().hex}"
        with self.session() as connection:
            connection.register(name, table)
            try:
                yield exp.to_table(name, quoted=True)
            finally:
                connection.unregister(name)

    def query_schema(self, sql: str) -> list[tuple[str, str]]:
        """(column, type) pairs of a caller's SQL query: checked first (``guard``), then described, not fetched."""
        query = self.parse(sql)
        with self.session() as connection:
            try:
                relation = connection.sql(query.sql(self.dialect))
            except Exception as exc:  # duckdb raises many error classes; all mean the same to the caller
                raise ValidationError(f"entity_df query failed in DuckDB: {str(exc).splitlines()[0]}") from None
            return [(name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)]

    def parse(self, sql: str) -> exp.Query:
        return entity_query(sql, self.dialect, "DuckDB")

    def to_arrow(self, query: exp.Expr, params: Sequence[Any] = ()) -> pa.Table:
        with self.session() as connection, _one_line_errors():
            return connection.sql(query.sql(self.dialect), params=list(params) or None).to_arrow_table()

    def read_snapshot(
        self,
        version: exp.Expr,
        query: exp.Expr,
        params: Sequence[Any] = (),
        batch_rows: int = 10_000,
        schema: pa.Schema | None = None,
    ) -> tuple[int | None, SpilledBatches]:
        """A version (one value) and the query's rows, both read in one transaction: one snapshot.

        The rows are spilled to a local file inside that transaction (``spill``),
        and the database is released before the caller reads them.
        """
        with self.session() as connection:
            connection.begin()
            try:
                try:
                    [row] = connection.execute(version.sql(self.dialect)).fetchall()
                except Exception as exc:  # duckdb raises many error classes; all mean the same here
                    raise ProjectError(no_version_error(version, exc)) from exc
                with _one_line_errors():
                    reader = connection.sql(query.sql(self.dialect), params=list(params) or None).to_arrow_reader(
                        batch_rows
                    )
                    batches = spill(reader, schema, self._spill_folder)
            finally:
                connection.rollback()  # read only: nothing to keep
        return (None if row[0] is None else int(row[0])), batches

    def create_table(self, name: str, query: exp.Expr, params: Sequence[Any] = (), *, replace: bool = False) -> str:
        """Writes the query's result into a new table ``name``; returns the quoted name.

        Raises:
            ValidationError: a relation of that name exists and ``replace`` is not set.
        """
        table = quoted_table(name, self.dialect)
        statement = exp.Create(this=table, kind="TABLE", expression=query, replace=replace)
        with self.session(write=True) as connection, _one_line_errors(creating=table.sql(self.dialect)):
            connection.execute(statement.sql(self.dialect), list(params) or None)
        return table.sql(self.dialect)


@contextmanager
def _one_line_errors(creating: str | None = None) -> Iterator[None]:
    """DuckDB's errors (often dozens of lines: hints, the SQL, a caret) as one featurelayer line.

    A missing table or column means the warehouse is not what the manifest
    says: a ProjectError that says to build. A value that does not convert is
    the caller's input: a ValidationError. So is a table name that exists
    already, while ``creating`` it.
    """
    import duckdb

    try:
        yield
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if creating is not None and isinstance(exc, duckdb.CatalogException) and "already exists" in first:
            raise exists_error(creating) from None
        if isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
            raise ProjectError(
                f"DuckDB: {first} A feature table is missing or not what the manifest says: run `featurelayer build`."
            ) from None
        if isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException):
            raise ValidationError(f"DuckDB could not read the input: {first}") from None
        raise ProjectError(f"DuckDB failed: {first}") from None
