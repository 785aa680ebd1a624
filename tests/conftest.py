"""Shared test setup: cost markers, hypothesis profiles, real services.

Markers by cost: ``fast`` (pure Python; the default for unmarked tests),
``slow`` (runs dbt against a warehouse), ``postgres`` and ``redis`` (real
servers, started here when the machine has them installed but not running).

``--slow`` (or FEATURELAYER_SLOW=1) raises hypothesis example counts for a
deeper search; the default keeps ``make test`` within minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]

settings.register_profile("default", max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="run property tests with many more examples")


def pytest_configure(config: pytest.Config) -> None:
    slow = config.getoption("--slow") or os.environ.get("FEATURELAYER_SLOW") == "1"
    settings.load_profile("slow" if slow else "default")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(m) for m in ("slow", "postgres", "redis")):
            item.add_marker(pytest.mark.fast)


# --- PostgreSQL -----------------------------------------------------------------

PG_DSN = {
    "host": os.environ.get("FEATURELAYER_PG_HOST", "127.0.0.1"),
    "port": int(os.environ.get("FEATURELAYER_PG_PORT", "5432")),
    "user": os.environ.get("FEATURELAYER_PG_USER", "postgres"),
    "password": os.environ.get("FEATURELAYER_PG_PASSWORD", ""),
    "dbname": os.environ.get("FEATURELAYER_PG_DATABASE", "test"),
}


def _pg_connect():  # type: ignore[no-untyped-def]
    import psycopg2

    return psycopg2.connect(connect_timeout=3, **PG_DSN)


def _start_local_postgres() -> None:
    """Starts the machine's own PostgreSQL cluster if it is installed but down."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return
    for version in sorted(os.listdir("/etc/postgresql")):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def postgres() -> Iterator[dict[str, object]]:
    """Connection settings of a reachable PostgreSQL; starts the local one if needed.

    In CI (CI=true) an unreachable server fails the test instead of skipping it.
    """
    try:
        _pg_connect().close()
    except Exception:
        _start_local_postgres()
        deadline = time.monotonic() + 30
        while True:
            try:
                _pg_connect().close()
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    message = f"PostgreSQL not reachable at {PG_DSN['host']}:{PG_DSN['port']}: {exc}"
                    if os.environ.get("CI"):
                        pytest.fail(message)
                    pytest.skip(message)
                time.sleep(0.5)
    yield dict(PG_DSN)


# --- Projects ---------------------------------------------------------------------


def copy_example_project(destination: Path) -> Path:
    """A private copy of the example project (config, models, macros, profiles), without build output."""
    ignore = shutil.ignore_patterns("target", "dbt_packages", "logs", "package-lock.yml")
    shutil.copytree(REPO / "dbt_project", destination / "dbt_project", ignore=ignore)
    shutil.copytree(REPO / "models", destination / "models")
    shutil.copytree(REPO / "macros", destination / "macros")
    shutil.copy(REPO / "profiles.yml", destination / "profiles.yml")
    return destination


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A fresh copy of the example project in tmp_path, to edit and build."""
    return copy_example_project(tmp_path / "project")
