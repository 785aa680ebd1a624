"""What every offline store offers, and the SQL helpers they share.

An offline store runs the sqlglot expressions of ``queries`` in one
warehouse's dialect: it makes in-memory entity rows queryable, returns Arrow,
reads a sync's snapshot (its version and rows, spilled locally) and writes tables. DuckDB (``duckdb_store``)
and PostgreSQL (``postgres_store``) are the two today; ``warehouse`` picks the
target's.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from sqlglot import exp

from .._errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from .spill import SpilledBatches

__all__ = ["OfflineStore", "exists_error", "no_version_error", "quoted_table"]


class OfflineStore(Protocol):
    #: the sqlglot dialect queries are written in
    dialect: str

    def session(self, *, write: bool = False) -> AbstractContextManager[object]: ...
    def registered(self, table: pa.Table) -> AbstractContextManager[exp.Table]: ...
    def query_schema(self, sql: str) -> list[tuple[str, str]]: ...
    def parse(self, sql: str) -> exp.Query: ...
    def to_arrow(self, query: exp.Expr, params: Sequence[Any] = ()) -> pa.Table: ...
    def read_snapshot(
        self,
        version: exp.Expr,
        query: exp.Expr,
        params: Sequence[Any] = (),
        batch_rows: int = 10_000,
        schema: pa.Schema | None = None,
    ) -> tuple[int | None, SpilledBatches]: ...
    def create_table(self, name: str, query: exp.Expr, params: Sequence[Any] = (), *, replace: bool = False) -> str: ...
    def close(self) -> None: ...


def quoted_table(name: str, dialect: str) -> exp.Table:
    """A table name as the caller wrote it (``schema.table`` allowed), every part quoted."""
    table = exp.to_table(name, dialect=dialect)
    for part in table.parts:
        part.set("quoted", True)
    return table


def no_version_error(version: exp.Expr, exc: BaseException) -> str:
    """The one line said when a feature table's version (``_fl_snapshot``) cannot be read."""
    source = version.args["from"].sql()
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "_fl_snapshot" in str(exc):
        return (
            f"Cannot read the build version (_fl_snapshot) of {source}: {first}. "
            "Tables built before featurelayer 0.2 lack it: run `featurelayer build` to rebuild them."
        )
    return f"Cannot read the feature table {source}: {first}. Run `featurelayer build` if it was never built."


def exists_error(table: str) -> ValidationError:
    """``to_table``'s refusal to overwrite a relation it was not told to replace."""
    return ValidationError(
        f"A table or view named {table} exists already; pass replace=True to overwrite it, or choose another name."
    )
