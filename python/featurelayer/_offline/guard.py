"""A caller's entity_df given as SQL: parsed first, and only a query gets through.

The parse is the guard. The text must be exactly one statement, and a query
(``SELECT``, ``WITH ... SELECT``, ``VALUES``, set operations), with nothing
in it that writes or changes the session: no DDL, DML (a data-modifying CTE
included), ``SELECT ... INTO``, ``FOR UPDATE``, ``COPY``, ``EXPORT``,
``ATTACH``, ``INSTALL``/``LOAD``, ``PRAGMA``, ``SET`` or any statement sqlglot
only knows as a command. Reading functions such as ``read_parquet`` stay
allowed: they are the most common entity_df query. A read-only connection is
no guard on its own (DuckDB's still runs ``COPY ... TO`` a file), so the check
comes before the warehouse sees the text; PostgreSQL runs it in a read-only
transaction besides.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp

from .._errors import ValidationError

__all__ = ["entity_query"]

#: what may stand at the top of an entity_df query
_QUERIES: tuple[type[exp.Expr], ...] = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

#: what may appear nowhere in it (looked up by name: sqlglot versions differ in which exist)
_REFUSED_NAMES = [
    "Create",
    "Drop",
    "Alter",
    "TruncateTable",
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Into",
    "Lock",
    "Copy",
    "Export",
    "Attach",
    "Detach",
    "Install",
    "LoadData",
    "Pragma",
    "Set",
    "Command",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "Grant",
    "Revoke",
    "Comment",
    "Analyze",
    "Kill",
    "Cache",
    "Uncache",
    "Refresh",
    "Declare",
    "Execute",
]
_REFUSED: tuple[type[exp.Expr], ...] = tuple(
    kind for name in _REFUSED_NAMES if isinstance(kind := getattr(exp, name, None), type)
)

_WHAT = {
    "Into": "SELECT ... INTO (it creates a table)",
    "Lock": "FOR UPDATE / FOR SHARE (it locks rows)",
    "Command": "a statement that is not a query",
    "Set": "SET",
    "LoadData": "LOAD",
}


def entity_query(sql: str, dialect: str, warehouse: str) -> exp.Query:
    """The caller's entity_df SQL as one parsed query, or a ValidationError saying what was refused and why.

    >>> entity_query("select 1 as user_id", "duckdb", "DuckDB").sql()
    'SELECT 1 AS user_id'
    >>> entity_query("copy (select 1) to 'out.csv'", "duckdb", "DuckDB")
    Traceback (most recent call last):
    ...
    featurelayer._errors.ValidationError: entity_df query may only read: it contains COPY, ...
    """
    quiet = logging.getLogger("sqlglot")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # sqlglot warns that it falls back to a Command: refused below anyway
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=dialect) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" (line {first.get('line')}, column {first.get('col')})" if first.get("line") else ""
        what = str(first.get("description") or exc).splitlines()[0]
        raise ValidationError(f"entity_df query does not parse as {warehouse} SQL{where}: {what}") from None
    except sqlglot.errors.TokenError as exc:
        raise ValidationError(
            f"entity_df query does not parse as {warehouse} SQL: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        quiet.setLevel(level)
    if len(statements) != 1:
        raise ValidationError(
            f"entity_df query must be exactly one query (SELECT, WITH, VALUES); it holds {len(statements)} "
            "statements. Run anything else in the warehouse yourself, then pass only the query."
        )
    [statement] = statements
    for node in statement.walk():
        if isinstance(node, _REFUSED):
            what = _WHAT.get(type(node).__name__, type(node).__name__.upper())
            if isinstance(node, exp.Command) and isinstance(node.this, str):
                what = f"{node.this.upper()} (a statement that is not a query)"
            raise ValidationError(
                f"entity_df query may only read: it contains {what}, which featurelayer does not run. "
                "Pass a SELECT (reading functions such as read_parquet are fine)."
            )
    if not isinstance(statement, _QUERIES):
        raise ValidationError(
            f"entity_df query must be a query (SELECT, WITH, VALUES); got {type(statement).__name__.upper()}. "
            "Pass a SELECT that returns the entity rows."
        )
    return statement  # type: ignore[return-value]
