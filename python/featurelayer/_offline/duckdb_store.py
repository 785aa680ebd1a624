"""The DuckDB offline store, and connections to the database a project's dbt target points at.

DuckDB, the embedded default, is opened directly: in-memory entity rows are
registered as Arrow views (zero copy) and results come back as Arrow. Every
session runs in UTC (feature tables store naive UTC timestamps) with the
profile's other DuckDB settings, as dbt's own sessions do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .._dbt.target import load_target
from .._errors import ProjectError, ValidationError
from .base import exists_error, no_version_error, parse_query, quoted_table

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from .._dbt.project import Project

__all__ = ["DuckDBOfflineStore", "connect_duckdb"]


def connect_duckdb(project: Project) -> duckdb.DuckDBPyConnection:
    """Opens the project's DuckDB database (the file dbt builds into), in UTC.

    Raises:
        ProjectError: the target is not DuckDB, or its file does not exist yet.
    """
    import duckdb

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
    connection = duckdb.connect(target.duckdb_path)
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


class DuckDBOfflineStore:
    """Point-in-time queries on the project's DuckDB database."""

    dialect = "duckdb"

    def __init__(self, project: Project) -> None:
        self._connection: duckdb.DuckDBPyConnection = connect_duckdb(project)

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def registered(self, table: pa.Table) -> Iterator[exp.Table]:
        """Makes an Arrow table queryable under a unique name for the block."""
        name = f"fl_entity_rows_{uuid.uuid4().hex}"
        self._connection.register(name, table)
        try:
            yield exp.to_table(name, quoted=True)
        finally:
            self._connection.unregister(name)

    def query_schema(self, sql: str) -> list[tuple[str, str]]:
        """(column, type) pairs of a caller's SQL query, without running it."""
        try:
            relation = self._connection.sql(sql)
        except Exception as exc:  # duckdb raises many error classes; all mean the same to the caller
            raise ValidationError(f"entity_df query failed in DuckDB: {exc}") from exc
        return [(name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)]

    def parse(self, sql: str) -> exp.Expr:
        return parse_query(sql, self.dialect, "DuckDB")

    def to_arrow(self, query: exp.Expr, params: Sequence[Any] = ()) -> pa.Table:
        return self._connection.sql(query.sql(self.dialect), params=list(params) or None).to_arrow_table()

    def stream(self, query: exp.Expr, params: Sequence[Any] = (), batch_rows: int = 10_000) -> Iterator[pa.RecordBatch]:
        """The query's result in Arrow batches, so memory stays flat however large it is."""
        reader = self._connection.sql(query.sql(self.dialect), params=list(params) or None).to_arrow_reader(batch_rows)
        yield from reader

    def read_snapshot(
        self, version: exp.Expr, query: exp.Expr, params: Sequence[Any] = (), batch_rows: int = 10_000
    ) -> tuple[int | None, Iterator[pa.RecordBatch]]:
        """A version (one value) and the query's rows, both read in one transaction: one snapshot.

        The batches must be consumed or closed: the transaction ends with them.
        """
        connection = self._connection
        connection.begin()
        try:
            [row] = connection.execute(version.sql(self.dialect)).fetchall()
        except Exception as exc:
            connection.rollback()
            raise ProjectError(no_version_error(version, exc)) from exc

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from connection.sql(query.sql(self.dialect), params=list(params) or None).to_arrow_reader(
                    batch_rows
                )
            finally:
                connection.rollback()  # read only: nothing to keep

        return (None if row[0] is None else int(row[0])), batches()

    def create_table(self, name: str, query: exp.Expr, params: Sequence[Any] = (), *, replace: bool = False) -> str:
        """Writes the query's result into a new table ``name``; returns the quoted name.

        Raises:
            ValidationError: a relation of that name exists and ``replace`` is not set.
        """
        table = quoted_table(name, self.dialect)
        if not replace and self._exists(table):
            raise exists_error(table.sql(self.dialect))
        statement = exp.Create(this=table, kind="TABLE", expression=query, replace=True)
        self._connection.execute(statement.sql(self.dialect), list(params) or None)
        return table.sql(self.dialect)

    def _exists(self, table: exp.Table) -> bool:
        [(found,)] = self._connection.execute(
            "select count(*) from information_schema.tables"
            " where table_name = ? and table_schema = coalesce(?, current_schema())",
            [table.name, table.db or None],
        ).fetchall()
        return bool(found)
