"""The registry reads feature views from a real dbt manifest, and explains bad declarations."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from featurelayer import DefinitionError, ManifestError, Registry, ValidationError, find_project
from featurelayer._dbt.runner import run_dbt

pytestmark = pytest.mark.slow

Edit = Callable[[dict[str, Any]], None]


def _parse(project_dir: Path, edit_profile: Edit | None = None) -> Registry:
    """Optionally edits user_profile's YAML, runs `dbt parse`, and loads the registry."""
    if edit_profile is not None:
        path = project_dir / "models" / "features" / "user_profile.yml"
        document = yaml.safe_load(path.read_text())
        edit_profile(document["models"][0])
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    project = find_project(project_dir)
    run_dbt(project, ["parse"])
    return Registry.from_project(project)


def _meta(model: dict[str, Any]) -> dict[str, Any]:
    return model["config"]["meta"]["feature_layer"]  # type: ignore[no-any-return]


def test_example_views_entities_and_types(project_copy: Path) -> None:
    registry = _parse(project_copy)
    assert registry.adapter_type == "duckdb"
    assert set(registry.feature_views) == {"user_activity", "user_profile"}
    assert registry.entities["user"].join_keys == ("user_id",)

    activity = registry.feature_view("user_activity")
    assert activity.join_keys == ("user_id",)
    assert activity.timestamp == "event_timestamp"
    assert activity.created_timestamp == "created_timestamp"
    assert activity.ttl_seconds == 30 * 86_400
    assert {f.name: f.arrow_type for f in activity.features} == {
        "daily_transactions": pa.int32(),
        "avg_transaction_value_7d": pa.float64(),
        "last_login_days_ago": pa.int32(),
    }
    assert activity.identifier == "user_activity"
    assert "user_activity" in activity.relation

    profile = registry.feature_view("user_profile")
    assert profile.ttl_seconds is None
    assert [f.name for f in profile.features] == ["country", "plan", "marketing_opt_in"]
    assert profile.owner == "growth-ml@example.com"
    assert profile.tags == ("profile",)


def test_unknown_names_suggest_close_ones(project_copy: Path) -> None:
    registry = _parse(project_copy)
    with pytest.raises(ValidationError, match="Did you mean 'user_activity'"):
        registry.feature_view("user_activty")
    with pytest.raises(ValidationError, match="Did you mean 'plan'"):
        registry.feature_view("user_profile").feature("plans")


def test_missing_manifest_says_how_to_make_one(project_copy: Path) -> None:
    with pytest.raises(ManifestError, match=r"No dbt manifest.*featurelayer build"):
        Registry.from_project(find_project(project_copy))


def test_stale_manifest_names_the_changed_file(project_copy: Path) -> None:
    _parse(project_copy)
    changed = project_copy / "models" / "features" / "user_activity.yml"
    later = time.time() + 5
    os.utime(changed, (later, later))
    with pytest.raises(ManifestError, match=r"stale.*user_activity\.yml.*featurelayer build"):
        Registry.from_project(find_project(project_copy))
    assert Registry.from_project(find_project(project_copy), check_fresh=False).feature_views


def test_manifest_of_another_project_is_refused(project_copy: Path) -> None:
    _parse(project_copy)
    config = project_copy / "dbt_project" / "dbt_project.yml"
    config.write_text(config.read_text().replace("name: feature_layer", "name: someone_else"))
    with pytest.raises(ManifestError, match="belongs to dbt project 'feature_layer'"):
        Registry.from_project(find_project(project_copy), check_fresh=False)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: _meta(m).pop("entities"), r"Model 'user_profile'.*missing `entities`"),
        (lambda m: _meta(m).pop("timestamp"), r"Model 'user_profile'.*missing `timestamp`"),
        (
            lambda m: _meta(m).update(ttl="30 days"),
            r"Model 'user_profile'.*ttl '30 days' does not parse.*'30d'",
        ),
        (
            lambda m: _meta(m).update(entities=["usr"]),
            r"entity 'usr'.*Did you mean 'user'.*vars: feature_layer",
        ),
        (lambda m: _meta(m).update(time_stamp="x"), r"unknown key.*time_stamp.*Did you mean 'timestamp'"),
        (
            lambda m: m["columns"][1].update(data_type="varchar"),
            r"Model 'user_profile'.*timestamp column 'event_timestamp' is declared as 'varchar', not a timestamp",
        ),
        (lambda m: m["columns"][3].pop("data_type"), r"column 'country' has no data_type"),
        (lambda m: m["columns"].pop(0), r"join key column 'user_id' is not declared"),
        (lambda m: _meta(m).update(max_removal_share=2), r"max_removal_share must be a number from 0 to 1.*Got: 2"),
    ],
    ids=[
        "no-entities",
        "no-timestamp",
        "bad-ttl",
        "unknown-entity",
        "typo-key",
        "varchar-timestamp",
        "untyped-column",
        "undeclared-key",
        "removal-share",
    ],
)
def test_bad_declarations_name_the_model_and_the_fix(project_copy: Path, edit: Edit, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        _parse(project_copy, edit)


def test_a_view_may_allow_its_syncs_a_larger_share_of_removals(project_copy: Path) -> None:
    registry = _parse(project_copy, lambda m: _meta(m).update(max_removal_share=0.9))
    assert registry.feature_view("user_profile").max_removal_share == 0.9
    assert registry.feature_view("user_activity").max_removal_share is None  # the sync's default, 0.5
