"""Picks the offline store of the project's dbt target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._dbt.target import load_target
from .._errors import ProjectError
from .duckdb_store import DuckDBOfflineStore
from .postgres_store import PostgresOfflineStore

if TYPE_CHECKING:
    from .._dbt.project import Project
    from .base import OfflineStore

__all__ = ["offline_store_for"]


def offline_store_for(project: Project) -> OfflineStore:
    """The offline store of the project's target.

    Raises:
        ProjectError: the target's warehouse has no offline store yet.
    """
    target = load_target(project)
    if target.type == "duckdb":
        return DuckDBOfflineStore(project)
    if target.type == "postgres":
        return PostgresOfflineStore(target)
    raise ProjectError(
        f"Training retrieval from target '{target.name}' ({target.type}) is not "
        "supported yet (DuckDB and PostgreSQL are); build training sets in the warehouse with the dbt macro "
        "feature_layer.point_in_time_join instead."
    )
