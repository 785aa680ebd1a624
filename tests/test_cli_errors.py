"""The command line's own checks: a version, a target the profile lacks, a selector that picks nothing,
and errors of a broken warehouse as one line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

import featurelayer
from featurelayer import FeatureStore, ProjectError, find_project
from featurelayer.cli import main

from .support.retrieval import BASE, Row, _minutes, build, project_dir

__all__ = ["project_dir"]  # fixtures used here


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"featurelayer {featurelayer.__version__}"


@pytest.mark.slow
def test_a_target_the_profile_lacks_is_refused_before_any_work(project_copy: Path) -> None:
    result = CliRunner().invoke(main, ["--project-dir", str(project_copy), "--target", "prod", "build"])
    assert result.exit_code == 1
    assert "Target 'prod' is not an output of profile" in result.output and "Targets: duckdb" in result.output
    assert not (project_copy / "dbt_project" / "target").exists()  # dbt never ran


@pytest.mark.slow
def test_a_build_whose_selector_picks_nothing_fails(project_copy: Path) -> None:
    result = CliRunner().invoke(main, ["--project-dir", str(project_copy), "build", "-s", "nothing_here"])
    assert result.exit_code == 1 and "dbt selected nothing with -s nothing_here" in result.output


def test_the_profiles_error_names_each_folder_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(ProjectError) as raised:
        find_project(tmp_path)
    assert str(raised.value).count(str(tmp_path) + ",") == 1


@pytest.mark.slow
def test_a_dropped_feature_table_is_one_line_that_says_to_build(project_dir: Path) -> None:
    build(project_dir, [Row((1,), BASE, _minutes(1), 1)], [], ttl=None)
    with duckdb.connect(str(project_dir / "warehouse" / "retrieval.duckdb")) as connection:
        connection.execute("drop table view_a")
    entity = pd.DataFrame({"k1": [1], "event_timestamp": [_minutes(2)]})
    with FeatureStore(project_dir) as store, pytest.raises(ProjectError) as raised:
        store.get_historical_features(entity, ["view_a:a_value"]).to_arrow()
    message = str(raised.value)
    assert "\n" not in message and "view_a" in message and "featurelayer build" in message
