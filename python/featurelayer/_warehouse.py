"""Connections to the warehouse a project's dbt target points at.

Only DuckDB is opened directly for now (the embedded default); other
warehouses are reached through their dbt adapters as retrieval grows.
Every session runs in UTC: feature tables store naive UTC timestamps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import ProjectError
from ._profile import load_target

if TYPE_CHECKING:
    import duckdb

    from ._project import Project

__all__ = ["connect_duckdb"]


def connect_duckdb(project: Project) -> duckdb.DuckDBPyConnection:
    """Opens the project's DuckDB database (the file dbt builds into), in UTC.

    Raises:
        ProjectError: the target is not DuckDB, or its file does not exist yet.
    """
    import duckdb

    settings = load_target(project)
    if settings.get("type") != "duckdb":
        raise ProjectError(
            f"Target '{settings['target_name']}' is {settings.get('type')!r}; this operation needs the "
            "duckdb target for now. Pass target='duckdb' (CLI: --target duckdb)."
        )
    path = str(settings.get("path", ":memory:"))
    if path != ":memory:" and not path.startswith("md:"):
        from pathlib import Path

        if not Path(path).is_file():
            raise ProjectError(f"The DuckDB database {path} does not exist yet. Run `featurelayer build` first.")
    connection = duckdb.connect(path)
    connection.execute("set TimeZone = 'UTC'")
    return connection
