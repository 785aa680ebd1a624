"""The server's deployment files parse, and every option they pass is one `featurelayer serve` takes."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from featurelayer.cli.serve import serve

from .support.projects import REPO

SERVE = REPO / "serve"


def _options(command: list[str]) -> list[str]:
    """The --options of a `featurelayer serve ...` command line."""
    at = command.index("serve")
    assert Path(command[at - 1]).name == "featurelayer", command
    return [part.split("=")[0] for part in command[at + 1 :] if part.startswith("--")]


KNOWN = {opt for param in serve.params for opt in param.opts}


def test_the_kubernetes_deployment_and_service() -> None:
    documents = list(yaml.safe_load_all((SERVE / "kubernetes" / "deployment.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) == {"Deployment", "Service"}
    deployment, service = kinds["Deployment"], kinds["Service"]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    assert set(_options(container["command"])) <= KNOWN
    port = container["command"][container["command"].index("--port") + 1]
    assert [p["containerPort"] for p in container["ports"]] == [int(port)]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert {e["name"] for e in container["env"]} == {"FEATURELAYER_REDIS_URL", "FEATURELAYER_SERVE_TOKEN"}
    assert all("secretKeyRef" in e["valueFrom"] for e in container["env"])  # no secret written in the file
    assert pod["spec"]["terminationGracePeriodSeconds"] > 30  # the server's own grace period for requests


def test_the_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(SERVE / "systemd" / "featurelayer-serve.service")
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    service = unit["Service"]
    assert set(_options(shlex.split(service["ExecStart"]))) <= KNOWN
    assert service["KillSignal"] == "SIGTERM" and "SIGTERM" in service["SuccessExitStatus"]
    assert "-HUP" in service["ExecReload"]
    assert service["EnvironmentFile"].startswith("/etc/")  # the URL and token stay out of the unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze on this machine")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(SERVE / "systemd" / "featurelayer-serve.service")],
        capture_output=True,
        text=True,
    )
    problems = [line for line in result.stderr.splitlines() if "featurelayer-serve.service" in line]
    assert not [p for p in problems if "Unknown" in p or "Invalid" in p or "Failed to parse" in p], problems
