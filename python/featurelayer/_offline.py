"""The offline store: runs point-in-time queries in the project's warehouse.

DuckDB, the embedded default, is opened directly: in-memory entity rows are
registered as Arrow views (zero copy) and results come back as Arrow. Other
warehouses plug in behind the same three methods.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from ._errors import ProjectError, ValidationError
from ._profile import load_target

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ._project import Project

__all__ = ["DuckDBOfflineStore", "offline_store_for"]


class DuckDBOfflineStore:
    """Point-in-time queries on the project's DuckDB database."""

    dialect = "duckdb"

    def __init__(self, project: Project) -> None:
        from ._warehouse import connect_duckdb

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
        try:
            return sqlglot.parse_one(sql, dialect=self.dialect)
        except sqlglot.errors.ParseError as exc:
            raise ValidationError(f"entity_df query does not parse as DuckDB SQL: {exc}") from exc

    def to_arrow(self, query: exp.Expr, params: Sequence[Any] = ()) -> pa.Table:
        return self._connection.sql(query.sql(self.dialect), params=list(params) or None).to_arrow_table()

    def create_table(self, name: str, query: exp.Expr, params: Sequence[Any] = ()) -> str:
        """Writes the query's result into table ``name`` (replacing it); returns the quoted name."""
        table = exp.to_table(name, dialect=self.dialect)
        for part in table.parts:
            part.set("quoted", True)
        statement = exp.Create(this=table, kind="TABLE", expression=query, replace=True)
        self._connection.execute(statement.sql(self.dialect), list(params) or None)
        return table.sql(self.dialect)


def offline_store_for(project: Project) -> DuckDBOfflineStore:
    """The offline store of the project's target.

    Raises:
        ProjectError: the target's warehouse has no offline store yet.
    """
    settings = load_target(project)
    if settings.get("type") == "duckdb":
        return DuckDBOfflineStore(project)
    raise ProjectError(
        f"Training retrieval from target '{settings['target_name']}' ({settings.get('type')}) is not "
        "supported yet; use the duckdb target, or build training sets in the warehouse with the dbt macro "
        "feature_layer.point_in_time_join."
    )
