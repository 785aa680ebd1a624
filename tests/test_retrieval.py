"""Training retrieval against an independent brute-force reference, plus its contract.

The property test builds random feature histories with dbt (the real
``valid_intervals`` macro on DuckDB), asks ``get_historical_features`` for
random entity rows, and compares every value with a plain-Python scan of the
raw history that knows nothing of validity intervals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from featurelayer import FeatureStore, ValidationError, find_project
from featurelayer._dbt.runner import run_dbt

from .support.retrieval import BASE, Row, _minutes, build, project_dir, reference_lookup, warehouse

__all__ = ["project_dir", "warehouse"]  # fixtures used here

pytestmark = pytest.mark.slow

FEATURES = ["view_a:a_value", "view_a:a_score", "view_b:b_value"]


@pytest.fixture
def store(project_dir: Path) -> Iterator[FeatureStore]:
    build(
        project_dir,
        [Row((1,), BASE, None, 10), Row((1,), BASE + dt.timedelta(minutes=5), None, 11)],
        [Row((1, "x"), BASE, None, 20)],
        ttl=None,
    )
    with FeatureStore(project_dir) as feature_store:
        yield feature_store


# --- random histories ------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Row], list[Row]]:
    """Rows for view_a (k1; created timestamps, some missing) and view_b (k1, k2; none).

    Rows that tie on every ordering column are made exact duplicates: their
    order is undefined by the rules, so their payloads must agree.
    """
    minute = st.integers(0, 20)
    # Dense histories (few keys, few minutes) so that ties, duplicates and
    # ttl boundaries occur in nearly every example.
    raw_a = draw(st.lists(st.tuples(st.integers(1, 3), minute, st.none() | minute), min_size=8, max_size=60))
    raw_b = draw(st.lists(st.tuples(st.integers(1, 3), st.sampled_from("xy"), minute), min_size=4, max_size=40))
    rows_a: dict[tuple[Any, ...], Row] = {}
    out_a = []
    for i, (k1, ts, created) in enumerate(raw_a):
        row = rows_a.setdefault(
            (k1, ts, created),
            Row((k1,), _minutes(ts), None if created is None else _minutes(created), 1000 + i),
        )
        out_a.append(row)
    rows_b: dict[tuple[Any, ...], Row] = {}
    out_b = [
        rows_b.setdefault((k1, k2, ts), Row((k1, k2), _minutes(ts), None, 2000 + i))
        for i, (k1, k2, ts) in enumerate(raw_b)
    ]
    return out_a, out_b


entity_rows = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from("xyz"), st.integers(-3, 45)), min_size=20, max_size=120
)


# The rare cases, always run: a missing created timestamp tied with a present
# one, a correction created after the entity row's time, the ttl's inclusive
# bound, an exact duplicate, unknown keys and times before any data.
_EDGES = (
    [
        Row((1,), _minutes(0), None, 1000),
        Row((1,), _minutes(0), _minutes(1), 1001),
        Row((1,), _minutes(5), _minutes(5), 1002),
        Row((1,), _minutes(5), _minutes(12), 1003),
        Row((2,), _minutes(3), _minutes(3), 1004),
    ],
    [Row((1, "x"), _minutes(2), None, 2000), Row((1, "x"), _minutes(2), None, 2000)],
)
_EDGE_REQUESTS = [(1, "x", m) for m in (-1, 0, 1, 2, 4, 5, 6, 10, 11, 12, 6)] + [
    (2, "y", 8),
    (2, "y", 9),
    (2, "y", 2),
    (0, "z", 10),
]


@settings(phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking re-runs dbt hundreds of times
@given(history=histories(), requests=entity_rows, ttl=st.sampled_from([None, 60, 300, 1200]))
@example(history=_EDGES, requests=_EDGE_REQUESTS, ttl=300)
def test_matches_the_brute_force_reference(
    project_dir: Path,
    warehouse: str,
    history: tuple[list[Row], list[Row]],
    requests: list[tuple[int, str, int]],
    ttl: int | None,
) -> None:
    rows_a, rows_b = history
    build(project_dir, rows_a, rows_b, ttl, warehouse)
    entity_df = pd.DataFrame(
        {
            "k1": [k1 for k1, _, _ in requests],
            "k2": [k2 for _, k2, _ in requests],
            "event_timestamp": pd.to_datetime([_minutes(m) for _, _, m in requests]),
            "label": range(len(requests)),
        }
    )
    with FeatureStore(project_dir, target=warehouse) as store:
        for known_at_time in (False, True):
            result = store.get_historical_features(entity_df, FEATURES, as_known_at_time=known_at_time).to_arrow()
            assert result.column("label").to_pylist() == list(range(len(requests)))  # every row, in order
            for i, (k1, k2, minute) in enumerate(requests):
                t = _minutes(minute)
                a = reference_lookup(rows_a, (k1,), t, ttl, known_at_time=known_at_time)
                b = reference_lookup(rows_b, (k1, k2), t, None, known_at_time=known_at_time)
                assert result.column("a_value")[i].as_py() == a, (i, k1, t, ttl, known_at_time)
                assert result.column("a_score")[i].as_py() == (None if a is None else a / 4)
                assert result.column("b_value")[i].as_py() == b, (i, k1, k2, t)


# --- the contract, case by case ------------------------------------------------------------


def test_keeps_columns_types_and_order(store: FeatureStore) -> None:
    entity = pa.table(
        {
            "label": pa.array([1.5, 2.5, 3.5], pa.float32()),
            "k1": pa.array([1, 9, 1], pa.int64()),
            "k2": pa.array(["x", "x", "x"]),
            "event_timestamp": pa.array([_minutes(6), _minutes(6), _minutes(-1)], pa.timestamp("us")),
        }
    )
    result = store.get_historical_features(entity, FEATURES).to_arrow()
    assert result.column_names == ["label", "k1", "k2", "event_timestamp", "a_value", "a_score", "b_value"]
    assert result.schema.field("label").type == pa.float32()
    assert result.schema.field("a_value").type == pa.int64()
    assert result.schema.field("a_score").type == pa.float64()
    assert result.column("a_value").to_pylist() == [11, None, None]
    assert result.column("b_value").to_pylist() == [20, None, None]


def test_naive_is_utc_and_aware_is_converted(store: FeatureStore) -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    aware = pd.DataFrame(
        {
            "k1": [1, 1],
            "event_timestamp": [
                pd.Timestamp(_minutes(4)).tz_localize("UTC").tz_convert(eastern),  # minute 4 UTC: row 10
                pd.Timestamp(_minutes(5)).tz_localize("UTC").tz_convert(eastern),  # minute 5 UTC: row 11
            ],
        }
    )
    result = store.get_historical_features(aware, ["view_a:a_value"]).to_pandas()
    assert result["a_value"].tolist() == [10, 11]
    assert str(result["event_timestamp"].dt.tz) == str(eastern)  # the caller's column is untouched


def test_full_feature_names_and_collisions(store: FeatureStore) -> None:
    entity = pd.DataFrame({"k1": [1], "event_timestamp": [_minutes(10)], "a_value": [0]})
    with pytest.raises(ValidationError, match=r"already has column\(s\) \['a_value'\].*full_feature_names"):
        store.get_historical_features(entity, ["view_a:a_value"])
    result = store.get_historical_features(entity, ["view_a:*"], full_feature_names=True).to_pandas()
    assert list(result.columns) == ["k1", "event_timestamp", "a_value", "view_a__a_value", "view_a__a_score"]
    assert result["view_a__a_value"].tolist() == [11]


@pytest.mark.parametrize(
    ("entity", "features", "message"),
    [
        (
            pd.DataFrame({"event_timestamp": [BASE]}),
            ["view_a:a_value"],
            r"missing join key column\(s\) \['k1'\]",
        ),
        (pd.DataFrame({"k1": [1]}), ["view_a:a_value"], "no timestamp column.*event_timestamp"),
        (
            pd.DataFrame({"k1": [1], "event_timestamp": ["2025-01-01"]}),
            ["view_a:a_value"],
            "not a timestamp.*pandas.to_datetime",
        ),
        (
            pd.DataFrame({"k1": [1], "t1": [BASE], "t2": [BASE]}),
            ["view_a:a_value"],
            "several timestamp columns",
        ),
        (
            pd.DataFrame({"k1": [1], "event_timestamp": [BASE]}),
            ["view_z:a_value"],
            "No feature view 'view_z'",
        ),
        (pd.DataFrame({"k1": [1], "event_timestamp": [BASE]}), ["view_a:a_valu"], "Did you mean 'a_value'"),
        (pd.DataFrame({"k1": [1], "event_timestamp": [BASE]}), ["view_a"], "not of the form 'view:feature'"),
        (
            pd.DataFrame({"k1": [1], "event_timestamp": [BASE]}),
            "view_a:a_value",
            r"Write \['view_a:a_value'\]",
        ),
        (
            pd.DataFrame({"k1": [1], "event_timestamp": [BASE]}),
            ["view_a:a_value", "view_a:a_value"],
            "requested twice",
        ),
        ([1, 2], ["view_a:a_value"], "pandas DataFrame, a pyarrow Table or a SQL query"),
    ],
    ids=[
        "no-key",
        "no-timestamp",
        "string-timestamp",
        "two-timestamps",
        "unknown-view",
        "unknown-feature",
        "bare-view",
        "bare-string",
        "twice",
        "list",
    ],
)
def test_errors_teach(store: FeatureStore, entity: Any, features: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        store.get_historical_features(entity, features).to_arrow()


def test_sql_entity_df_and_to_table(project_dir: Path, warehouse: str) -> None:
    target = warehouse
    build(
        project_dir,
        [Row((1,), BASE, None, 10), Row((1,), _minutes(5), None, 11)],
        [Row((1, "x"), BASE, None, 20)],
        ttl=None,
        target=target,
    )
    query = "select cast(1 as bigint) as k1, 'x' as k2, timestamp '2025-01-01 00:07:00' as ts, 'a' as label"
    with FeatureStore(project_dir, target=target) as store:
        result = store.get_historical_features(query, FEATURES).to_arrow()
        assert result.column_names == ["k1", "k2", "ts", "label", "a_value", "a_score", "b_value"]
        expected = {"k1": 1, "k2": "x", "ts": _minutes(7), "label": "a", "a_value": 11, "a_score": 2.75, "b_value": 20}
        assert result.to_pylist() == [expected]
        assert result.schema.field("a_value").type == pa.int64()

        name = store.get_historical_features(query, FEATURES).to_table("training_from_sql", replace=True)
        entity = pd.DataFrame({"k1": [1, 1], "event_timestamp": [_minutes(1), _minutes(9)], "y": [0, 1]})
        other = store.get_historical_features(entity, ["view_a:a_value"]).to_table("training_from_pandas", replace=True)
        read = store.offline_store.to_arrow
        assert read(sqlglot.parse_one(f"select * from {name}")).to_pylist() == [expected]
        assert read(sqlglot.parse_one(f"select y, a_value from {other} order by y")).to_pylist() == [
            {"y": 0, "a_value": 10},
            {"y": 1, "a_value": 11},
        ]
        as_of = store.get_features_as_of(["view_a:a_value"], _minutes(3)).to_arrow()
        assert as_of.to_pylist() == [{"k1": 1, "a_value": 10}]
        # the ISO strings the dbt as_of macro takes: naive is UTC, an offset is converted
        for text in ("2025-01-01 00:03:00", "2025-01-01T01:03:00+01:00", "2025-01-01T00:03:00Z"):
            assert store.get_features_as_of(["view_a:a_value"], text).to_arrow().equals(as_of), text
        with pytest.raises(ValidationError, match="not an ISO 8601 date or time"):
            store.get_features_as_of(["view_a:a_value"], "yesterday")


def test_features_as_of_needs_one_entity(store: FeatureStore) -> None:
    with pytest.raises(ValidationError, match="same join keys"):
        store.get_features_as_of(FEATURES, _minutes(3))


def test_the_dbt_macro_gives_the_same_rows(project_dir: Path, store: FeatureStore) -> None:
    """Analysts' feature_layer.point_in_time_join and the Python API agree row for row."""
    store.close()
    models = project_dir / "models"
    (models / "spine.sql").write_text(
        "select * from (values (1, 'x', timestamp '2025-01-01 00:03:00', 0),"
        " (1, 'x', timestamp '2025-01-01 00:09:00', 1),"
        " (7, 'y', timestamp '2025-01-01 00:09:00', 2), (1, 'y', timestamp '2024-12-31 00:00:00', 3))"
        " as t(k1, k2, event_timestamp, label)\n"
    )
    (models / "training_set.sql").write_text(
        "{{ feature_layer.point_in_time_join(ref('spine'), ['view_a:a_value', 'view_a:a_score', 'view_b:b_value']) }}\n"
    )
    try:
        run_dbt(find_project(project_dir), ["build", "-s", "spine", "training_set", "--vars", "{ttl_a: ''}"])
        with FeatureStore(project_dir) as fresh:
            from_dbt = [
                tuple(row.values())
                for row in fresh.offline_store.to_arrow(
                    sqlglot.parse_one("select * from training_set order by label")
                ).to_pylist()
            ]
            from_python = fresh.get_historical_features("select * from spine", FEATURES).to_arrow()
        assert [tuple(row.values()) for row in from_python.sort_by("label").to_pylist()] == from_dbt
        assert len(from_dbt) == 4 and from_dbt[1][4:] == (11, 2.75, 20)
    finally:
        (models / "spine.sql").unlink()
        (models / "training_set.sql").unlink()
