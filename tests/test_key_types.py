"""Key values of the wrong or mixed types: cast to the declared key type, or refused with one named line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurelayer import FeatureStore, ValidationError

from .support.online import online_url
from .support.retrieval import BASE, Row, _minutes, build, project_dir

__all__ = ["online_url", "project_dir"]  # fixtures used here

pytestmark = pytest.mark.slow

AT = _minutes(10)


@pytest.fixture(scope="module")
def built(project_dir: Path) -> Path:
    build(project_dir, [Row((k,), BASE, _minutes(1), k * 10) for k in (1, 2, 5)], [Row((5, "5"), BASE, None, 50)], None)
    return project_dir


def test_online_keys_of_mixed_types_find_the_same_rows_and_come_back_as_given(built: Path, online_url: str) -> None:
    with FeatureStore(built, online_url=online_url, clock=lambda: AT) as store:
        store.sync(full=True)
        # as in Feast's test_online_retrieval: one key asked several ways and an unknown key, answered in order
        rows = [{"k1": "5"}, {"k1": 5}, {"k1": 5.0}, {"k1": np.int64(5)}, {"k1": " 2 "}, {"k1": 99}, {"k1": 5}]
        answer = store.get_online_features(["view_a:a_value"], rows)
        response = answer.to_dict()
        assert response["a_value"] == [50, 50, 50, 50, 20, None, 50]
        assert response["k1"] == ["5", 5, 5.0, np.int64(5), " 2 ", 99, 5]  # echoed as the caller gave them
        assert [s.name for s in answer.statuses["a_value"]] == ["PRESENT"] * 5 + ["NOT_FOUND", "PRESENT"]
        # a string key given as a number finds the string
        assert store.get_online_features(["view_b:b_value"], [{"k1": 5, "k2": 5}]).to_dict()["b_value"] == [50]
        # a float past 2**53 stands for several integers, and an int past int64 for none: never another entity's row
        for bad, shown in (
            (True, "'True' \\(bool\\)"),
            ("SKU-012", "'SKU-012'"),
            ("²", "'²'"),  # (a digit to str.isdigit, not to int())
            ("+-5", "'\\+-5'"),
            (5.5, "'5.5'"),
            (2.0**60, "'1.152921504606847e\\+18'"),
            (2**70, "'1180591620717411303424'"),
            (str(2**64), "'18446744073709551616'"),
        ):
            with pytest.raises(ValidationError, match=rf"column 'k1' holds {shown}.*not a int64 key of 'view_a'"):
                store.get_online_features(["view_a:a_value"], [{"k1": bad}])


def test_offline_keys_that_do_not_fit_are_named(built: Path) -> None:
    with FeatureStore(built) as store:
        entity = pd.DataFrame({"k1": ["SKU-012"], "event_timestamp": [AT]})
        with pytest.raises(ValidationError, match=r"column 'k1' does not fit the key's declared type int64"):
            store.get_historical_features(entity, ["view_a:a_value"]).to_arrow()
        mixed = pd.DataFrame({"k1": [1, "2", 3.0], "event_timestamp": [AT] * 3})
        with pytest.raises(ValidationError, match=r"entity_df cannot be read: .*one type"):
            store.get_historical_features(mixed, ["view_a:a_value"]).to_arrow()
        with pytest.raises(ValidationError, match=r"column 'k1' holds booleans"):
            store.get_historical_features(
                pd.DataFrame({"k1": [True], "event_timestamp": [AT]}), ["view_a:a_value"]
            ).to_arrow()
        digits = pd.DataFrame({"k1": ["5", "2"], "event_timestamp": [AT, AT]})  # text that fits: cast
        result = store.get_historical_features(digits, ["view_a:a_value"]).to_arrow()
        assert result.column("a_value").to_pylist() == [50, 20] and result.column("k1").to_pylist() == ["5", "2"]


def test_a_bad_timestamp_in_a_sql_entity_df_is_one_line(built: Path) -> None:
    with FeatureStore(built) as store, pytest.raises(ValidationError) as raised:
        store.get_historical_features(
            "select 1 as k1, cast('not a time' as timestamp) as event_timestamp", ["view_a:a_value"]
        ).to_arrow()
    assert "\n" not in str(raised.value) and "not a time" in str(raised.value)
