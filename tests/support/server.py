"""A real ``featurelayer serve`` process on a free port, for the serving tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from .services import free_port


class ServerProcess:
    """``featurelayer serve`` started as a user starts it, its output kept in a log file."""

    def __init__(
        self, project: Path, online_url: str, log: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.project = project
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "featurelayer.cli", "--project-dir", str(project), "serve", "--port",
                   str(self.port), "--online-url", online_url, "--watch", "0.2", *args]  # fmt: skip
        with log.open("wb") as output:  # (the child keeps its own copy of the descriptor)
            self.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )

    def wait_ready(self, timeout: float = 60) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"featurelayer serve exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code in (200, 503):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"featurelayer serve did not answer in {timeout} s:\n{self.log.read_text()}")

    def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/get-online-features", json=body, timeout=10, **kwargs)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
