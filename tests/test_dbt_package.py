"""The macros installed as a dbt package into another project, built with dbt: unit tests, data tests, errors."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from featurelayer import DbtRunError, find_project
from featurelayer._dbt.package import macros_path
from featurelayer._dbt.runner import run_dbt
from featurelayer.cli import main

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "dbt_package_project"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`dbt deps` (the package install a user does), then a private DuckDB file for the builds."""
    env = {"FEATURELAYER_TEST_DUCKDB": str(tmp_path_factory.mktemp("package") / "package.duckdb")}
    run_dbt(find_project(PROJECT), ["deps"], extra_env=env)
    assert (PROJECT / "dbt_packages" / "feature_layer").exists()
    yield env


def test_deps_installs_the_macros_of_this_installation(database: dict[str, str]) -> None:
    # packages.yml names no path: FEATURELAYER_MACROS, set by featurelayer's dbt runs, points at the package
    assert (PROJECT / "dbt_packages" / "feature_layer").resolve() == macros_path()  # dbt links a local package
    printed = CliRunner().invoke(main, ["macros-path"])
    assert printed.exit_code == 0 and Path(printed.output.strip()) == macros_path() == (ROOT / "macros").resolve()


def test_the_wheel_carries_every_macro(tmp_path: Path) -> None:
    """`pip install featurelayer` alone gives a dbt project the macros: the wheel holds all of macros/."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("featurelayer-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n.removeprefix("featurelayer/dbt_macros/") for n in archive.namelist() if "/dbt_macros/" in n}
    on_disk = {str(f.relative_to(ROOT / "macros")) for f in (ROOT / "macros").rglob("*") if f.is_file()}
    assert shipped == on_disk and "dbt_project.yml" in shipped and len(shipped) >= 10


def test_the_package_builds_with_its_unit_and_data_tests(database: dict[str, str]) -> None:
    result = run_dbt(find_project(PROJECT), ["build"], extra_env=database)
    ran = {uid: status for uid, status, _ in result.nodes}
    assert ran["unit_test.feature_layer_integration_tests.device_risk.valid_intervals_rules"] == "pass"
    assert (
        ran["unit_test.feature_layer_integration_tests.device_risk_at_noon.as_of_picks_the_row_valid_at_the_instant"]
        == "pass"
    )
    assert [s for uid, s in ran.items() if "valid_intervals_ordered_device_risk" in uid] == ["pass"]
    with duckdb.connect(database["FEATURELAYER_TEST_DUCKDB"], read_only=True) as connection:
        rows = connection.sql(
            "select account_id, device_id, risk, valid_from, valid_to from device_risk order by all"
        ).fetchall()
    noon = dt.datetime(2025, 1, 1, 12)
    assert (1, "a", 0.3, noon, noon.replace(minute=30)) in rows
    assert (2, "a", 0.6, noon.replace(hour=9), dt.datetime(2025, 1, 1, 10, 0, 0, 1)) in rows
    assert len([r for r in rows if r[:2] == (2, "a")]) == 1  # the exact duplicate collapsed


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("no_entities", r"model 'no_entities' has no entity join keys.*entities: \[<entity name>\]"),
        ("bad_ttl", r"model 'bad_ttl' has a ttl that does not parse: '30 days'.*'30d'"),
        ("overlapping", "valid_intervals_ordered"),
    ],
)
def test_bad_models_fail_the_build_with_a_clear_message(
    database: dict[str, str], model: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DbtRunError) as caught:
        run_dbt(find_project(PROJECT), ["build", "-s", f"+{model}", "--vars", "{broken: true}"], extra_env=database)
    import re

    assert re.search(message, str(caught.value) + capsys.readouterr().out, re.S), str(caught.value)
