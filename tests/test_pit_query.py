"""Golden SQL for the point-in-time query builder, per dialect.

Each case's expected SQL lives in tests/fixtures/pit_query/<case>.<dialect>.sql.
After an intended change, regenerate them with FEATURELAYER_UPDATE_GOLDEN=1 and
read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from featurelayer import Entity, Feature, FeatureView
from featurelayer._offline.queries import point_in_time_query
from featurelayer._registry.resolve import FeatureRef

FIXTURES = Path(__file__).parent / "fixtures" / "pit_query"
DIALECTS = ["duckdb", "postgres", "snowflake", "bigquery", "spark", "trino"]


def _view(
    name: str,
    keys: tuple[str, ...],
    features: dict[str, pa.DataType],
    *,
    ttl: int | None = None,
    created: str | None = None,
) -> FeatureView:
    return FeatureView(
        name=name,
        unique_id=f"model.p.{name}",
        relation=f'"db"."features"."{name}"',
        database="db",
        schema="features",
        identifier=name,
        entities=(Entity(name, keys),),
        join_keys=keys,
        timestamp="event_timestamp",
        created_timestamp=created,
        ttl_seconds=ttl,
        features=tuple(Feature(f, str(t), t) for f, t in features.items()),
        column_types={},
    )


ACTIVITY = _view(
    "user_activity",
    ("user_id",),
    {"daily_transactions": pa.int32(), "avg_7d": pa.float64()},
    ttl=2_592_000,
    created="created_timestamp",
)
DEVICE = _view("device_risk", ("user_id", "device_id"), {"risk": pa.float32()})


def _refs(*pairs: tuple[FeatureView, str], full: bool = False) -> list[FeatureRef]:
    out = []
    for view, name in pairs:
        feature = view.feature(name)
        out.append(FeatureRef(view, feature, f"{view.name}__{name}" if full else name))
    return out


CASES = {
    "one_view": lambda: point_in_time_query(exp.to_table("entity_rows"), _refs((ACTIVITY, "daily_transactions"))),
    "two_views_composite_keys": lambda: point_in_time_query(
        exp.to_table("entity_rows"),
        _refs((ACTIVITY, "daily_transactions"), (ACTIVITY, "avg_7d"), (DEVICE, "risk"), full=True),
    ),
    "passthrough": lambda: point_in_time_query(
        exp.to_table("entity_rows"), _refs((DEVICE, "risk")), passthrough=["user_id", "device_id", "label"]
    ),
    "as_known_at_time": lambda: point_in_time_query(
        exp.to_table("entity_rows"), _refs((ACTIVITY, "avg_7d")), as_known_at_time=True
    ),
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_sql(case: str, dialect: str) -> None:
    sql = CASES[case]().sql(dialect=dialect, pretty=True) + "\n"
    path = FIXTURES / f"{case}.{dialect}.sql"
    if os.environ.get("FEATURELAYER_UPDATE_GOLDEN") == "1":
        path.write_text(sql)
    assert path.is_file(), f"no golden file {path}; run with FEATURELAYER_UPDATE_GOLDEN=1"
    assert sql == path.read_text()
    sqlglot.parse_one(sql, dialect=dialect)  # what we emit parses back in its own dialect


def test_names_are_quoted_not_trusted() -> None:
    evil = _view('x"; drop table users; --', ("user_id",), {"f": pa.int64()})
    sql = point_in_time_query(exp.to_table("entity_rows"), _refs((evil, "f"))).sql("duckdb")
    assert '"x""; drop table users; --"' in sql
    assert len(sqlglot.parse(sql, dialect="duckdb")) == 1


def test_the_sync_query_binds_each_value_where_the_sql_reads_it() -> None:
    """sync_rows_query returns its placeholders' values in the order the SQL reads them."""
    import datetime as dt

    from featurelayer._offline.queries import sync_rows_query

    now, kept, arrived, began = (dt.datetime(2001, 1, d) for d in (1, 2, 3, 4))
    for view, since in ((ACTIVITY, (arrived, began)), (ACTIVITY, None), (DEVICE, None)):
        query, params = sync_rows_query(view, now, kept, since)
        sql = exp.replace_placeholders(query, *params).sql("duckdb")
        literal = {d: f"CAST('{d}' AS TIMESTAMP)" for d in (now, kept, arrived, began)}
        assert sql.count("?") == 0 and len(params) == sql.count("'2001-")
        assert f'"fl_r"."valid_from" <= {literal[now]}' in sql and f'{literal[now]} < "fl_r"."valid_to"' in sql
        if since is not None:
            assert f'"fl_r"."created_timestamp" > {literal[arrived]}' in sql
            assert f'"fl_r"."valid_from" > {literal[began]}' in sql
        if view.ttl_seconds is not None:
            assert f'"fl_r"."valid_to" > {literal[kept]}' in sql and f'"fl_s"."valid_from" > {literal[kept]}' in sql
        else:
            assert kept not in params  # no expired half without a ttl
