"""An entity_df given as SQL runs nothing but a query, on DuckDB and PostgreSQL.

Every refused kind of statement gets one ValidationError line, and nothing of
it ran: no file written, no table dropped or created, no setting changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from featurelayer import FeatureStore, ValidationError

from .support.retrieval import BASE, Row, _minutes, build, project_dir, warehouse

__all__ = ["project_dir", "warehouse"]  # fixtures used here

pytestmark = pytest.mark.slow

SPINE = "select 1 as k1, timestamp '2025-01-01 00:05:00' as event_timestamp"

# (statement, what the message names); {out} is a path the statement would write
REFUSED = [
    (f"create table fl_evil as {SPINE}; {SPINE}", "exactly one query"),
    (f"drop view if exists view_a; {SPINE}", "exactly one query"),
    ("drop table view_a", "DROP"),
    (f"copy (select 'x') to '{{out}}'; {SPINE}", "exactly one query"),
    ("copy (select 'x') to '{out}'", "COPY"),
    ("insert into view_a select * from view_a", "INSERT"),
    ("update view_a set a_value = 0", "UPDATE"),
    ("delete from view_a", "DELETE"),
    (f"with gone as (delete from view_a returning *) {SPINE}", "DELETE"),
    (f"select * into fl_evil from ({SPINE}) as t", "INTO"),
    (f"{SPINE} for update", "FOR UPDATE"),
    ("attach '{out}' as other", "ATTACH|does not parse"),  # (PostgreSQL has no ATTACH)
    ("install httpfs", "INSTALL|must be a query"),
    ("load httpfs", "LOAD"),
    ("pragma enable_profiling", "PRAGMA"),
    ("set threads = 1", "SET"),
    ("export database '{out}'", "does not parse"),
    ("call pragma_version()", "CALL"),
    ("checkpoint", "must be a query"),
    ("begin", "TRANSACTION"),
    ("", "holds 0 statements"),
    (f"{SPINE}; {SPINE}", "holds 2 statements"),
]


@pytest.mark.parametrize(("statement", "named"), REFUSED, ids=[f"{i}" for i in range(len(REFUSED))])
def test_anything_but_a_query_is_refused_before_it_runs(
    project_dir: Path, built: str, tmp_path: Path, statement: str, named: str
) -> None:
    out = tmp_path / "written"
    sql = statement.format(out=out)
    with FeatureStore(project_dir, target=built) as store:
        with pytest.raises(ValidationError, match=named) as raised:
            store.get_historical_features(sql, ["view_a:a_value"]).to_arrow()
        assert "\n" not in str(raised.value)
        assert not out.exists()  # nothing ran
        spine = store.get_historical_features(SPINE, ["view_a:a_value"]).to_arrow()  # the table is still there
        assert spine.column("a_value").to_pylist() == [1]


def test_reading_functions_and_every_query_form_stay_allowed(project_dir: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    build(project_dir, [Row((1,), BASE, _minutes(1), 1)], [], ttl=None)
    parquet = tmp_path / "spine.parquet"
    pq.write_table(pa.table({"k1": [1], "event_timestamp": pa.array([_minutes(5)], pa.timestamp("us"))}), parquet)
    with FeatureStore(project_dir) as store:
        for sql in (
            f"select * from read_parquet('{parquet}')",
            f"with spine as ({SPINE}) select * from spine",
            f"{SPINE} union all {SPINE}",
            "select * from (values (1, timestamp '2025-01-01 00:05:00')) as t (k1, event_timestamp)",
        ):
            result = store.get_historical_features(sql, ["view_a:a_value"]).to_arrow()
            assert set(result.column("a_value").to_pylist()) == {1}, sql


@pytest.fixture(scope="module")
def built(project_dir: Path, warehouse: str) -> str:
    build(project_dir, [Row((1,), BASE, _minutes(1), 1)], [], ttl=None, target=warehouse)
    return warehouse
