"""Smoke test of the benchmark harness on its tiny preset, so it cannot rot.

Runs benchmarks/run.py end to end, Feast included (installed once into its own
virtual environment under benchmarks/.work/), and checks that every
measurement ran and that featurelayer's training rows equal Feast's DuckDB
store's row for row. Nothing here looks at a timing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.redis]

Run = tuple[dict[str, Any], str]  # results.json, results.md


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    work = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--preset", "tiny", "--work", str(work), "--requests=30"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((work / "results.json").read_text()), (work / "results.md").read_text()


def test_every_measurement_ran(tiny_run: Run) -> None:
    results, _ = tiny_run
    expected = {
        "build", "ours", "range_join", "asof_intervals", "asof_raw", "feast_duckdb", "feast_file",
        "sync", "resync", "materialize", "online", "redis_reads", "feast_online", "push", "feast_push",
    }  # fmt: skip
    assert set(results["runs"]) == expected
    errors = {key: run["error"] for key, run in results["runs"].items() if run["error"]}
    assert errors == {}
    for key in ("ours", "range_join", "asof_intervals", "asof_raw", "feast_duckdb"):
        assert results["runs"][key]["result"]["rows"] == results["counts"]["entity_rows"], key
    for key in ("online", "feast_online"):
        latency = results["runs"][key]["result"]["latency"]
        assert {"features", "service"} <= set(latency)
        assert set(latency["service"]) == {"1", "10", "100"}
        assert all(0 < s["p50"] <= s["p95"] <= s["p99"] for s in latency["service"].values())
    assert set(results["runs"]["online"]["result"]["latency"]["transform"]) == {"1", "10", "100"}
    for key in ("push", "feast_push"):  # (each push was read back before its time counted)
        pushes = results["runs"][key]["result"]["push"]
        assert set(pushes) == {"1", "10", "100"} and all(p["rows_per_s"] > 0 for p in pushes.values())


def test_training_rows_agree_with_feast_duckdb_row_for_row(tiny_run: Run) -> None:
    results, _ = tiny_run
    check = results["cross_check"]["Feast duckdb offline store"]
    assert check == {"rows": 2000, "returned": 2000, "agree": 2000, "missing": 0, "differ": 0}


def test_sync_writes_what_is_valid_now_and_the_report_has_ratios(tiny_run: Run) -> None:
    results, report = tiny_run
    sync, resync = results["runs"]["sync"]["result"], results["runs"]["resync"]["result"]
    assert 0 < sync["rows"] <= sync["redis_keys"]  # one key per entity and view, and each view's watermark
    assert (resync["rows"], resync["redis_keys"]) == (sync["rows"], sync["redis_keys"])  # the same rows, nothing pruned
    assert "peer/ours" in report and "ours/floor" in report
    assert "Cross-check against Feast duckdb offline store: 2,000 of featurelayer's 2,000 rows agree" in report


@pytest.mark.serve
@pytest.mark.skipif(shutil.which("wrk") is None, reason="no wrk (`make test` installs it as root with apt)")
def test_the_http_benchmark_runs_and_our_answers_agree_with_feast_serve(tmp_path: Path) -> None:
    """benchmarks/serve.py on the tiny preset, one-second runs: every server answered, without errors, and
    the values featurelayer serve and feast serve return for the same requests agree."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "serve.py"), "--preset", "tiny", "--duration", "1",
         "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "serve.json").read_text())
    servers = results["results"]
    feast = next((name for name in servers if name.startswith("feast serve")), None)
    assert feast is not None and {"featurelayer serve", "floor"} <= set(servers), set(servers)
    for server, cases in servers.items():
        assert set(cases) == {"1 row, features", "1 row, service", "100 rows, features", "100 rows, service"}
        for case in cases.values():
            assert case["most"]["rps"] > 0 and case["half_load"]["rps"] > 0
            if server != feast:  # (Feast's own may time out under load)
                assert case["most"]["errors"] == case["half_load"]["errors"] == 0, (server, case)
    for check in results["cross_check"].values():
        assert check["compared"] > 1000 and check["agree"] == check["compared"]
    assert feast in results["cross_check"]
