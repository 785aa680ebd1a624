"""A catalogue of hostile input: names and key values with quotes, ``;``, ``--``, NUL, newlines, unicode and
10,000 characters. Each is either served as data (a key value finds nothing) or refused with one
ValidationError line; nothing reaches SQL as text, and nothing breaks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from featurelayer import FeatureLayerError, FeatureStore, FieldStatus, ValidationError

from .support.online import online_url
from .support.retrieval import BASE, Row, _minutes, build, project_dir

__all__ = ["online_url", "project_dir"]  # fixtures used here

pytestmark = pytest.mark.slow

HOSTILE = [
    "x'; drop table view_a; --",
    'x"; drop table view_a; --',
    "x\x00y",
    "line\nbreak",
    "ünïcødé ✓ 🙂",
    "{[1]}:view_a:*",
    "]} fl:*",
    "x" * 10_000,
    "",
]
AT = _minutes(10)


@pytest.fixture(scope="module")
def built(project_dir: Path) -> Path:
    build(project_dir, [Row((1,), BASE, _minutes(1), 10)], [Row((1, "x"), BASE, None, 20)], None)
    return project_dir


@pytest.mark.parametrize("value", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_key_values_are_data(built: Path, online_url: str, value: str) -> None:
    with FeatureStore(built, online_url=online_url, clock=lambda: AT) as store:
        store.sync(full=True)
        online = store.get_online_features(["view_b:b_value"], [{"k1": 1, "k2": value}, {"k1": 1, "k2": "x"}])
        assert online.to_dict()["b_value"] == [None, 20]
        assert online.statuses["b_value"] == [FieldStatus.NOT_FOUND, FieldStatus.PRESENT]
        entity = pd.DataFrame({"k1": [1, 1], "k2": [value, "x"], "event_timestamp": [AT, AT]})
        offline = store.get_historical_features(entity, ["view_b:b_value"]).to_arrow()
        assert offline.column("b_value").to_pylist() == [None, 20]
        assert offline.column("k2").to_pylist() == [value, "x"]  # echoed untouched


@pytest.mark.parametrize("name", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_names_are_refused_in_one_line(built: Path, name: str) -> None:
    entity = pd.DataFrame({"k1": [1], "event_timestamp": [AT]})
    with FeatureStore(built, online_url=f"sqlite:///{built}/warehouse/online.sqlite", clock=lambda: AT) as store:
        for call in (
            lambda: store.get_historical_features(entity, [f"view_a:{name}"]),
            lambda: store.get_historical_features(entity, [f"{name}:a_value"]),
            lambda: store.get_historical_features(entity, name),
            lambda: store.get_online_features([f"view_a:{name}"], [{"k1": 1}]),
            lambda: store.sync([name]),
        ):
            with pytest.raises(FeatureLayerError) as raised:
                call()
            message = str(raised.value)
            assert isinstance(raised.value, ValidationError | FeatureLayerError)
            assert "\n" not in message and "\x00" not in message, message[:200]
            assert len(message) < 1_000, len(message)
        assert store.get_historical_features(entity, ["view_a:a_value"]).to_arrow().column("a_value").to_pylist() == [
            10
        ]
