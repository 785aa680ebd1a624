"""Shared test setup: cost markers, hypothesis profiles, real services.

Markers by cost: ``fast`` (pure Python; the default for unmarked tests),
``slow`` (runs dbt against a warehouse), ``postgres`` and ``redis`` (real
servers, started here when the machine has them installed but not running).

``--slow`` (or FEATURELAYER_SLOW=1) raises hypothesis example counts for a
deeper search; the default keeps ``make test`` within minutes.

Only hooks and fixtures live here; the helpers behind them are in ``tests/support/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from .support.projects import EXAMPLE_END, copy_example_project
from .support.services import PG_DSN, RedisServer, _pg_connect, _start_local_postgres

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


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A fresh copy of the example project in tmp_path, to edit and build."""
    return copy_example_project(tmp_path / "project")


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project built once (80 users, 60 days ending EXAMPLE_END); tests only read it."""
    from featurelayer import find_project
    from featurelayer._dbt.runner import run_dbt
    from featurelayer._example.data import generate_example_data

    root = copy_example_project(tmp_path_factory.mktemp("example"))
    generate_example_data(root / "data" / "raw", users=80, days=60, end=EXAMPLE_END.date())
    run_dbt(find_project(root), ["build"])
    return root


# --- Redis ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean database of the session's redis-server."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield redis_server.url
    client.close()
