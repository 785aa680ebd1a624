"""The example project end to end: raw events -> dbt build -> registry, CLI and lookups."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from featurelayer import Registry, find_project
from featurelayer._dbt.runner import run_dbt
from featurelayer._example.data import generate_example_data
from featurelayer._offline.duckdb_store import connect_duckdb
from featurelayer._offline.lookup import lookup_as_of
from featurelayer.cli import main

from .support.projects import copy_example_project

pytestmark = pytest.mark.slow

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example built on DuckDB from 60 users' raw events ending today."""
    root = copy_example_project(tmp_path_factory.mktemp("example"))
    generate_example_data(root / "data" / "raw", users=60, days=60, end=TODAY)
    run_dbt(find_project(root), ["build"])  # models, unit tests and data tests
    return root


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--project-dir", str(root), *args], env=env)
    return result.exit_code, result.output


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = generate_example_data(tmp_path / "a", users=20, days=10)
    second = generate_example_data(tmp_path / "b", users=20, days=10)
    assert first == second
    for name in first:
        assert (tmp_path / "a" / f"{name}.parquet").read_bytes() == (tmp_path / "b" / f"{name}.parquet").read_bytes()


def test_feature_tables_have_intervals_and_current_rows(built: Path) -> None:
    project = find_project(built)
    with connect_duckdb(project) as connection:
        rows = dict(
            connection.sql(
                "select 'activity', count(*) from user_activity union all "
                "select 'activity_now', count(*) from user_activity_current union all "
                "select 'profile', count(*) from user_profile union all "
                "select 'profile_now', count(*) from user_profile_current union all "
                "select 'profile_users', count(distinct user_id) from user_profile"
            ).fetchall()
        )
        # the current views hold at most one row per user, and every user has a profile now
        assert rows["profile_now"] == rows["profile_users"] == 60
        assert 0 < rows["activity_now"] <= 60
        assert rows["activity"] > rows["activity_now"]
        ends = connection.sql(
            "select count(*) filter (where valid_to = timestamp '9999-12-31'), count(*) from user_profile_current"
        ).fetchall()[0]
        assert ends == (60, 60)


def test_lookup_matches_the_row_history(built: Path) -> None:
    project = find_project(built)
    registry = Registry.from_project(project)
    view = registry.feature_view("user_activity")
    with connect_duckdb(project) as connection:
        user_id, first, second = connection.sql(
            "select user_id, min(valid_from), max(valid_from) from user_activity group by 1 "
            "having count(*) > 2 order by 1 limit 1"
        ).fetchall()[0]
        assert lookup_as_of(connection, view, {"user_id": user_id}, first - dt.timedelta(microseconds=1)).num_rows == 0
        at_first = lookup_as_of(connection, view, {"user_id": user_id}, first)
        assert at_first.column("valid_from").to_pylist() == [first]
        expired = second + dt.timedelta(seconds=view.ttl_seconds or 0, microseconds=1)
        assert lookup_as_of(connection, view, {"user_id": user_id}, expired).num_rows == 0
        aware = dt.datetime.combine(first.date(), dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        in_utc = lookup_as_of(connection, view, {"user_id": user_id}, aware)  # 05:00 UTC that day
        assert in_utc.num_rows == 1


def test_cli_list_json_is_the_documented_document(built: Path) -> None:
    code, output = _cli(built, "list", "--json")
    assert code == 0, output
    document = json.loads(output)
    assert document["entities"] == [{"name": "user", "join_keys": ["user_id"], "description": "A customer account."}]
    views = {v["name"]: v for v in document["feature_views"]}
    assert set(views) == {"user_activity", "user_profile"}
    activity = views["user_activity"]
    assert activity["ttl_seconds"] == 2_592_000
    assert activity["join_keys"] == ["user_id"]
    assert activity["timestamp"] == "event_timestamp"
    assert activity["created_timestamp"] == "created_timestamp"
    assert "user_activity" in activity["relation"]
    assert {"name": "daily_transactions", "data_type": "integer", "arrow_type": "int32"}.items() <= activity[
        "features"
    ][0].items()
    assert views["user_profile"]["ttl_seconds"] is None


def test_cli_list_describe_and_demo(built: Path) -> None:
    code, output = _cli(built, "list")
    assert code == 0 and "user_activity:avg_transaction_value_7d" in output and "ttl: 30d" in output
    code, output = _cli(built, "describe", "user_profile")
    assert code == 0 and "marketing_opt_in" in output and "ttl:                none" in output
    code, output = _cli(built, "describe", "user_profiles")
    assert code == 1 and "Did you mean 'user_profile'" in output and "Traceback" not in output
    code, output = _cli(built, "demo")
    assert code == 0, output
    assert "Point-in-time lookups" in output and "no row" in output


def test_cli_without_a_manifest_explains(tmp_path: Path) -> None:
    root = copy_example_project(tmp_path)
    code, output = _cli(root, "list")
    assert code == 1
    assert "No dbt manifest" in output and "featurelayer build" in output
    code, output = _cli(tmp_path / "nowhere", "list")
    assert code != 0


@pytest.mark.postgres
def test_the_same_models_build_on_postgres_with_the_same_rows(built: Path, postgres: dict[str, object]) -> None:
    """profiles.yml's postgres target builds the example from the same raw files, row for row."""
    suffix = uuid.uuid4().hex[:8]
    env = {"FEATURELAYER_PG_SCHEMA": f"fl_test_{suffix}", "FEATURELAYER_RAW_SCHEMA": f"fl_raw_{suffix}"}
    code, output = _cli(
        built,
        "--target",
        "postgres",
        "example-data",
        "--users",
        "60",
        "--days",
        "60",
        "--end",
        TODAY.isoformat(),
        env=env,
    )
    assert code == 0, output
    try:
        run_dbt(find_project(built, target="postgres"), ["build"], extra_env=env)
        with connect_duckdb(find_project(built)) as duck:
            expected = duck.sql(
                "select user_id, valid_from, valid_to, country, plan, marketing_opt_in, daily_transactions, "
                "round(avg_transaction_value_7d, 6) from user_profile "
                "full join user_activity using (user_id, valid_from, valid_to) order by all"
            ).fetchall()
        actual = _postgres_rows(postgres, env["FEATURELAYER_PG_SCHEMA"])
        assert len(actual) == len(expected) > 0
        assert actual == expected
    finally:
        _drop_schemas(postgres, list(env.values()))


def _postgres_rows(postgres: dict[str, object], schema: str) -> list[tuple[object, ...]]:
    import psycopg2
    from psycopg2 import sql

    query = sql.SQL(
        "select user_id, valid_from, valid_to, country, plan, marketing_opt_in, daily_transactions, "
        "round(avg_transaction_value_7d::numeric, 6)::float8 from {}.user_profile "
        "full join {}.user_activity using (user_id, valid_from, valid_to) order by 1, 2, 3, 4, 5, 6, 7, 8"
    ).format(sql.Identifier(schema), sql.Identifier(schema))
    with psycopg2.connect(**postgres) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        return [tuple(row) for row in cursor.fetchall()]


def _drop_schemas(postgres: dict[str, object], schemas: list[str]) -> None:
    import psycopg2
    from psycopg2 import sql

    with psycopg2.connect(**postgres) as connection, connection.cursor() as cursor:
        for schema in schemas:
            cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
