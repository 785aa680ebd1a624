"""The PostgreSQL offline store: point-in-time queries with the dbt profile's connection settings.

In-memory entity rows travel by COPY into a temporary table; the query is the
same sqlglot expression as on DuckDB, transpiled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .._errors import ProjectError, ValidationError
from .base import exists_error, no_version_error, quoted_table
from .guard import entity_query
from .spill import SpilledBatches, spill

if TYPE_CHECKING:
    import pyarrow as pa

    from .._dbt.target import Target

__all__ = ["PostgresOfflineStore", "copy_into_postgres"]

_POSTGRES_TYPES = {
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float": "real",
    "double": "double precision",
    "bool": "boolean",
    "string": "text",
    "large_string": "text",
    "date32[day]": "date",
}


def copy_into_postgres(cursor: Any, target: Any, table: pa.Table, *, temporary: bool = False) -> None:
    """(Re)creates table ``target`` (a psycopg2 ``sql.Identifier``) from an Arrow table, rows sent by COPY."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from psycopg2 import sql

    def column_type(kind: pa.DataType) -> str:
        if pa.types.is_timestamp(kind):
            return "timestamp with time zone" if kind.tz else "timestamp"
        if str(kind) not in _POSTGRES_TYPES:
            raise ValidationError(f"columns of type {kind} cannot be sent to PostgreSQL.")
        return _POSTGRES_TYPES[str(kind)]

    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(column_type(f.type))) for f in table.schema
    )
    cursor.execute(sql.SQL("drop table if exists {} cascade").format(target))
    create = "create temporary table {} ({})" if temporary else "create table {} ({})"
    cursor.execute(sql.SQL(create).format(target, columns))
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    buffer.seek(0)
    cursor.copy_expert(sql.SQL("copy {} from stdin with (format csv)").format(target), buffer)


class PostgresOfflineStore:
    """Point-in-time queries on PostgreSQL, with the dbt profile's connection settings."""

    dialect = "postgres"

    def __init__(self, target: Target) -> None:
        import psycopg2

        self._connection = psycopg2.connect(**target.postgres_connect_args(), options="-c TimeZone=UTC")
        self._connection.autocommit = True

    def close(self) -> None:
        self._connection.close()

    def session(self, *, write: bool = False) -> AbstractContextManager[object]:
        """Calls share the store's one connection already (a server takes many): nothing to hold."""
        return nullcontext(self._connection)

    @contextmanager
    def registered(self, table: pa.Table) -> Iterator[exp.Table]:
        """Copies an Arrow table into a temporary table for the block."""
        from psycopg2 import sql

        name = f"fl_entity_rows_{uuid.uuid4().hex}"
        with self._connection.cursor() as cursor:
            copy_into_postgres(cursor, sql.Identifier(name), table, temporary=True)
        try:
            yield exp.to_table(name, quoted=True)
        finally:
            with self._connection.cursor() as cursor:
                cursor.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(name)))

    def query_schema(self, query: str) -> list[tuple[str, str]]:
        """(column, type) pairs of a caller's SQL query, without fetching rows."""
        import psycopg2

        wrapped = (
            exp.select("*")
            .from_(exp.Subquery(this=self.parse(query), alias=exp.TableAlias(this=exp.to_identifier("fl_q"))))
            .limit(0)
        )
        try:
            with self._read_only(), self._connection.cursor() as cursor:
                cursor.execute(wrapped.sql(self.dialect))
                description = cursor.description
        except psycopg2.Error as exc:
            raise ValidationError(f"entity_df query failed in PostgreSQL: {str(exc).strip().splitlines()[0]}") from None
        names = {1114: "TIMESTAMP", 1184: "TIMESTAMP WITH TIME ZONE", 1082: "DATE"}
        return [(column.name, names.get(column.type_code, str(column.type_code))) for column in description]

    def parse(self, query: str) -> exp.Query:
        return entity_query(query, self.dialect, "PostgreSQL")

    def to_arrow(self, query: exp.Expr, params: Sequence[Any] = ()) -> pa.Table:
        import pyarrow as pa

        with self._read_only(), self._connection.cursor() as cursor:
            cursor.execute(query.sql(self.dialect), list(params) or None)
            names = [column.name for column in cursor.description]
            rows = cursor.fetchall()
        return pa.table({name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)})

    @contextmanager
    def _read_only(self) -> Iterator[None]:
        """A READ ONLY transaction for the block: what reads a caller's SQL cannot write, whatever it holds."""
        connection = self._connection
        connection.autocommit = False
        connection.set_session(readonly=True)
        try:
            yield
        finally:
            connection.rollback()
            connection.set_session(readonly="DEFAULT")
            connection.autocommit = True

    def read_snapshot(
        self,
        version: exp.Expr,
        query: exp.Expr,
        params: Sequence[Any] = (),
        batch_rows: int = 10_000,
        schema: pa.Schema | None = None,
    ) -> tuple[int | None, SpilledBatches]:
        """A version (one value) and the query's rows, read in one REPEATABLE READ, READ ONLY transaction.

        Its first statement locks the feature table (ACCESS SHARE, which takes
        no snapshot): a dbt swap in progress finishes first, and none starts
        until the transaction ends, so the snapshot taken by the next statement
        sees the table whole. The rows are spilled to a local file inside the
        transaction (``spill``), which then ends: a build waits for the read,
        not for the whole sync. Every path ends the transaction and restores
        the connection's settings.
        """
        import psycopg2
        import pyarrow as pa
        from psycopg2 import sql

        [table] = list(version.find_all(exp.Table))
        lock = sql.SQL("lock table {} in access share mode").format(
            sql.Identifier(*(part.name for part in table.parts))
        )
        connection = self._connection
        connection.autocommit = False
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        try:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(lock)
                    cursor.execute(version.sql(self.dialect))
                    row = cursor.fetchone()
            except psycopg2.Error as exc:
                raise ProjectError(no_version_error(version, exc)) from exc

            def batches() -> Iterator[pa.RecordBatch]:
                with connection.cursor(name=f"fl_sync_{uuid.uuid4().hex}") as cursor:
                    cursor.itersize = batch_rows
                    cursor.execute(query.sql(self.dialect), list(params) or None)
                    names: list[str] | None = None
                    while rows := cursor.fetchmany(batch_rows):
                        names = names or [column.name for column in cursor.description]
                        yield pa.RecordBatch.from_pydict({n: [row[i] for row in rows] for i, n in enumerate(names)})

            spilled = spill(batches(), schema, None)
        finally:
            connection.rollback()
            connection.set_session(isolation_level="DEFAULT", readonly="DEFAULT")
            connection.autocommit = True
        return (None if row is None or row[0] is None else int(row[0])), spilled

    def create_table(self, name: str, query: exp.Expr, params: Sequence[Any] = (), *, replace: bool = False) -> str:
        """Writes the query's result into a new table ``name``; returns the quoted name.

        Raises:
            ValidationError: a relation of that name exists and ``replace`` is not set.
        """
        table = quoted_table(name, self.dialect)
        drop = exp.Drop(tables=[table.copy()], kind="TABLE", exists=True)
        create = exp.Create(this=table, kind="TABLE", expression=query)
        self._connection.autocommit = False
        try:
            with self._connection.cursor() as cursor:
                cursor.execute("select to_regclass(%s) is not null", [table.sql(self.dialect)])
                found = cursor.fetchone()
                if found and found[0]:
                    if not replace:
                        raise exists_error(table.sql(self.dialect))
                    cursor.execute(drop.sql(self.dialect))
                cursor.execute(create.sql(self.dialect), list(params) or None)
            self._connection.commit()
        except Exception:
            self._connection.rollback()
            raise
        finally:
            self._connection.autocommit = True
        return table.sql(self.dialect)
