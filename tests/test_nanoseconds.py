"""Entity timestamps finer than a microsecond keep the rules exact, on the Python and the dbt paths.

Feature tables hold microseconds. An entity row 500 ns past a ttl bound is past it: the value is gone,
though its instant floored to a microsecond would still lie inside.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlglot

from featurelayer import FeatureStore, find_project
from featurelayer._dbt.runner import run_dbt

from .support.retrieval import BASE, Row, build, project_dir

__all__ = ["project_dir"]  # fixtures used here

pytestmark = pytest.mark.slow

EVENT = pd.Timestamp(BASE)
TTL = pd.Timedelta(seconds=60)
# (instant, value expected): the event at BASE, a ttl of 60 s (inclusive)
CASES = [
    (EVENT - pd.Timedelta(nanoseconds=500), None),  # before the event
    (EVENT, 7),
    (EVENT + TTL - pd.Timedelta(nanoseconds=500), 7),
    (EVENT + TTL, 7),  # the ttl bound is inclusive
    (EVENT + TTL + pd.Timedelta(nanoseconds=500), None),  # past it by half a microsecond
    (EVENT + TTL + pd.Timedelta(microseconds=1), None),
]


@pytest.fixture(scope="module")
def built(project_dir: Path) -> Path:
    build(project_dir, [Row((1,), BASE, BASE, 7)], [], ttl=60)
    return project_dir


@pytest.mark.parametrize("as_known_at_time", [False, True])
def test_python_path_at_nanosecond_precision(built: Path, as_known_at_time: bool) -> None:
    instants = pd.Series([t for t, _ in CASES], dtype="datetime64[ns]")
    entity = pd.DataFrame({"k1": [1] * len(CASES), "event_timestamp": instants})
    with FeatureStore(built) as store:
        job = store.get_historical_features(entity, ["view_a:a_value"], as_known_at_time=as_known_at_time)
        result = job.to_arrow()
        assert result.column("a_value").to_pylist() == [v for _, v in CASES]
        assert result.column("event_timestamp").to_pylist()[4] == CASES[4][0]  # given back untouched, to the ns
        name = job.to_table(f"ns_training_{int(as_known_at_time)}", replace=True)
        written = store.offline_store.to_arrow(
            sqlglot.parse_one(f"select a_value from {name} order by event_timestamp")
        )
        assert written.column("a_value").to_pylist() == [v for _, v in CASES]


def test_sql_entity_rows_at_nanosecond_precision(built: Path) -> None:
    rows = ", ".join(f"({i}, cast('{t.isoformat(sep=' ')}' as timestamp_ns))" for i, (t, _) in enumerate(CASES))
    sql = f"select 1 as k1, i, event_timestamp from (values {rows}) as t(i, event_timestamp)"
    with FeatureStore(built) as store:
        result = store.get_historical_features(sql, ["view_a:a_value"]).to_arrow()
    assert result.sort_by("i").column("a_value").to_pylist() == [v for _, v in CASES]


def test_the_dbt_macro_at_nanosecond_precision(built: Path) -> None:
    models = built / "models"
    rows = ", ".join(f"({i}, cast('{t.isoformat(sep=' ')}' as timestamp_ns))" for i, (t, _) in enumerate(CASES))
    (models / "ns_spine.sql").write_text(
        f"select 1 as k1, i, event_timestamp from (values {rows}) as t(i, event_timestamp)\n"
    )
    (models / "ns_training.sql").write_text(
        "{{ feature_layer.point_in_time_join(ref('ns_spine'), ['view_a:a_value']) }}\n"
    )
    try:
        run_dbt(find_project(built), ["build", "-s", "ns_spine", "ns_training", "--vars", "{ttl_a: '60s'}"])
        with FeatureStore(built) as store:
            table = store.offline_store.to_arrow(sqlglot.parse_one("select a_value from ns_training order by i"))
        assert table.column("a_value").to_pylist() == [v for _, v in CASES]
    finally:
        (models / "ns_spine.sql").unlink()
        (models / "ns_training.sql").unlink()
