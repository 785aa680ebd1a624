"""Connections to the DuckDB database a project's dbt target points at.

Every session runs in UTC (feature tables store naive UTC timestamps) with
the profile's other DuckDB settings, as dbt's own sessions do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from ._dbt.target import load_target
from ._errors import ProjectError

if TYPE_CHECKING:
    import duckdb

    from ._dbt.project import Project

__all__ = ["connect_duckdb"]


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
