"""What ``make demo`` shows: the example's feature tables and point-in-time lookups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from .._offline.duckdb_store import connect_duckdb
from .._offline.lookup import lookup_as_of
from .._offline.queries import view_table
from .._registry.registry import Registry
from .._store import FeatureStore

if TYPE_CHECKING:
    import duckdb

    from .._dbt.project import Project
    from .._registry.views import FeatureView

__all__ = ["run_demo"]


def run_demo(project: Project, echo: Callable[[str], None]) -> None:
    """Prints each feature table's size, one user's history, lookups at three instants, and training data."""
    registry = Registry.from_project(project)
    connection = connect_duckdb(project)
    try:
        echo(f"featurelayer demo: {len(registry.feature_views)} feature views in {project.root}\n")
        for view in registry.feature_views.values():
            rows, entities = _one(
                connection,
                exp.select(
                    exp.func("count", exp.Star()),
                    exp.Count(this=exp.Distinct(expressions=[exp.column(k) for k in view.join_keys])),
                ).from_(view_table(view)),
            )
            ttl = f"{view.ttl_seconds:,} s" if view.ttl_seconds else "none"
            echo(f"== {view.name}: {rows:,} rows with validity intervals for {entities:,} entities (ttl: {ttl})")

        activity = registry.feature_view("user_activity")
        busiest = _one(
            connection,
            exp.select("user_id")
            .from_(view_table(activity))
            .group_by("user_id")
            .order_by(exp.Ordered(this=exp.func("count", exp.Star()), desc=True), "user_id")
            .limit(1),
        )
        if busiest is None:
            echo("The example tables are empty: run `featurelayer example-data` and `featurelayer build`.")
            return
        user_id = busiest[0]
        of_user = exp.column("user_id").eq(exp.Placeholder())
        history = connection.sql(
            exp.select("*").from_(view_table(activity)).where(of_user).order_by("valid_from").limit(5).sql("duckdb"),
            params=[user_id],
        ).to_arrow_table()
        echo(f"\nThe first rows of user_activity for user {user_id}; each row is valid in [valid_from, valid_to):")
        echo(_table(history))

        first, last = _one(
            connection,
            exp.select(exp.func("min", exp.column("valid_from")), exp.func("max", exp.column("valid_from")))
            .from_(view_table(activity))
            .where(of_user),
            [user_id],
        )
        instants = [first - dt.timedelta(hours=1), first + (last - first) / 2, last + dt.timedelta(days=45)]
        echo(f"\nPoint-in-time lookups for user {user_id}: the row valid at each instant, or none.")
        for at in instants:
            echo(f"\n-- as of {at:%Y-%m-%d %H:%M:%S} UTC")
            for view in registry.feature_views.values():
                echo(_lookup_line(connection, view, user_id, at))
    finally:
        connection.close()

    entity_df = pa.table(
        {
            "user_id": pa.array([user_id, user_id, user_id, 1, 999_999_999], pa.int64()),
            "event_timestamp": pa.array([*instants, instants[1], instants[1]], pa.timestamp("us")),
            "label": pa.array([0, 1, 0, 1, 0], pa.int8()),
        }
    )
    features = [
        "user_activity:daily_transactions",
        "user_activity:avg_transaction_value_7d",
        "user_profile:plan",
        "user_profile:country",
    ]
    with FeatureStore(project.root, project.profiles_dir, project.target) as store:
        training = store.get_historical_features(entity_df, features).to_arrow()
        echo("\nTraining data: store.get_historical_features(entity_df, " + repr(features) + ")")
        echo(_table(training))

        where = store.online_url or f"the embedded store {store.online_default_path}"
        echo(f"\nOnline serving: store.sync() copies each entity's latest row into {where}")
        echo(store.sync(full=True).summary())
        users = [user_id, 1, 999_999_999]
        carts = [180.0, 35.5, 60.0]
        entity = {"user_id": pa.array(users, pa.int64()), "event_timestamp": pa.array([store.clock()] * 3)}
        if "user_profile_service" in store.registry.feature_services:
            requested: list[str] | str = "user_profile_service"  # features plus on-demand transforms
            entity["cart_value"] = pa.array(carts)
            request_data: dict[str, list[float]] | None = {"cart_value": carts}
        else:
            requested, request_data = features, None
        online = store.get_online_features(requested, [{"user_id": u} for u in users], request_data=request_data)
        offline = store.get_historical_features(pa.table(entity), requested).to_arrow()
        echo(f"store.get_online_features({requested!r}, ...) now ({store.clock():%Y-%m-%d %H:%M} UTC):")
        echo(_table(online.to_arrow()))
        echo("statuses: " + ", ".join(f"{name}={[s.value for s in st]}" for name, st in online.statuses.items()))
        echo("store.get_historical_features(...) at the same instant, for comparison (training data):")
        echo(_table(offline.drop_columns(["event_timestamp"])))


def _lookup_line(connection: duckdb.DuckDBPyConnection, view: FeatureView, user_id: int, at: dt.datetime) -> str:
    found = lookup_as_of(connection, view, {"user_id": user_id}, at)
    if found.num_rows == 0:
        return f"{view.name}: no row (before any data, or expired by the ttl)"
    return f"{view.name}:\n{_table(found)}"


def _one(connection: duckdb.DuckDBPyConnection, query: exp.Select, params: list[object] | None = None) -> tuple:  # type: ignore[type-arg]
    rows = connection.sql(query.sql("duckdb"), params=params).fetchall()
    return rows[0] if rows else None  # type: ignore[return-value]


def _table(table: pa.Table) -> str:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        return str(table.to_pandas().to_string(index=False))
