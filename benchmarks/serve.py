"""HTTP feature servers side by side: featurelayer serve, feast serve, and the floor.

    .venv/bin/python benchmarks/serve.py --preset medium        # or: make bench-serve PRESET=medium
    .venv/bin/python benchmarks/serve.py --preset tiny --duration 2 --no-peer   # the smoke test

On the preset's online data (the workload of benchmarks/run.py, synced by
featurelayer into Redis db 0 and materialized by Feast into db 1), each server
runs alone with one worker pinned to core 0; the load generator (wrk, with a
Lua script that cycles through 500 request bodies of random users) and Redis
share core 1, the same for every contender. For 1 and 100 entity rows, with
the four features and with the service (the same four plus its transform):

- the most requests per second with 32 connections (closed loop, ``--duration`` s);
- p50 and p99 latency at a fixed rate of half featurelayer's most, paced by
  wrk's ``delay()`` on each of the 32 connections (latency measured at
  saturation measures only the queue).

The floor (benchmarks/floor_server.py) does what any server must: parse the
body, one MGET, unpack the rows, answer JSON. Figures go to
benchmarks/.work/<preset>/serve.json and serve.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "python"))

from run import FEAST_VERSION, Harness, start_redis  # noqa: E402
from workload import FEATURES, PRESETS, Workload, generate, online_requests  # noqa: E402

SERVICE = "bench_service"
SIZES = (1, 100)
CONNECTIONS = 32
BODIES = 500
MARK = "FL-WRK "
JSON = {"Content-Type": "application/json"}  # (Feast's server reads a body without it as a string and answers 422)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- wrk -------------------------------------------------------------------------------------


def wrk_script(folder: Path, path: str, bodies: list[str], delay_ms: float | None) -> Path:
    """A wrk Lua script that POSTs ``bodies`` in turn to ``path`` (paced by ``delay_ms`` per connection)."""
    lines = ["local bodies = {"]
    lines += [f"[==[{body}]==]," for body in bodies]
    lines += [
        "}",
        "local i = 0",
        'local headers = {["Content-Type"] = "application/json"}',
        "request = function()",
        "  i = i % #bodies + 1",
        f'  return wrk.format("POST", "{path}", headers, bodies[i])',
        "end",
    ]
    if delay_ms is not None:
        lines += [f"delay = function() return {delay_ms:.3f} end"]
    lines += [
        "done = function(summary, latency, requests)",
        "  local e = summary.errors",
        f'  io.write(string.format("{MARK}%d %d %d %d %.3f %.3f\\n", summary.requests, summary.duration,',
        "    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))",
        "end",
    ]
    script = folder / f"wrk-{abs(hash((path, len(bodies[0]), delay_ms)))}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def run_wrk(url: str, script: Path, seconds: float) -> dict[str, float]:
    """One wrk run on core 1: requests/s, errors, p50 and p99 (ms)."""
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(row for row in out.splitlines() if row.startswith(MARK))
    requests, duration_us, socket_errors, status_errors, p50_us, p99_us = line.removeprefix(MARK).split()
    return {
        "rps": int(requests) / (int(duration_us) / 1e6),
        "errors": int(socket_errors) + int(status_errors),
        "p50_ms": float(p50_us) / 1000,
        "p99_ms": float(p99_us) / 1000,
    }


# --- the contenders -------------------------------------------------------------------------


class Contender:
    def __init__(self, name: str, command: list[str], paths: dict[str, str], env: dict[str, str], port: int) -> None:
        self.name, self.command, self.paths, self.env, self.port = name, command, paths, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"fl-serve-bench-{port}.log"

    def body(self, kind: str, ids: list[int]) -> str:
        if self.name == "floor":
            return json.dumps({"entities": {"user_id": ids}})
        choice: dict[str, Any] = {"features": FEATURES} if kind == "features" else {"feature_service": SERVICE}
        return json.dumps({**choice, "entities": {"user_id": ids}})

    def start(self, probe: str) -> None:
        import httpx

        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["taskset", "-c", "0", *self.command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                answer = httpx.post(f"{self.url}{self.paths['features']}", content=probe, headers=JSON, timeout=5)
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def contenders(
    args: argparse.Namespace, workload: Workload, redis_url: str, feast_repo: Path | None
) -> list[Contender]:
    python = sys.executable
    as_of = workload.now.isoformat()
    port = free_port()
    ours = Contender(
        "featurelayer serve",
        [python, "-m", "featurelayer.cli", "--project-dir", str(HERE / "project"), "serve", "--port", str(port),
         "--online-url", f"{redis_url}/0", "--as-of", as_of, "--watch", "0", "--log-level", "warning"],
        {"features": "/get-online-features", "service": "/get-online-features"},
        {"FEATURELAYER_BENCH_DIR": str(args.data)},
        port,
    )  # fmt: skip
    port = free_port()
    floor = Contender(
        "floor",
        [python, str(HERE / "floor_server.py"), "--port", str(port), "--redis-url", f"{redis_url}/0",
         "--data", str(args.data)],
        {"features": "/features", "service": "/service"},
        {},
        port,
    )  # fmt: skip
    out = [ours, floor]
    if feast_repo is not None:
        port = free_port()
        feast = Contender(
            f"feast serve {FEAST_VERSION}",
            [str(args.feast_venv / "bin" / "feast"), "-c", str(feast_repo), "serve", "-p", str(port),
             "--workers", "1", "--no-access-log"],
            {"features": "/get-online-features", "service": "/get-online-features"},
            {"PYTHONPATH": str(HERE)},
            port,
        )  # fmt: skip
        out.insert(1, feast)
    return out


def feast_repo(data: Path, redis_url: str) -> Path:
    """A repo folder for `feast serve`: the registry peer_feast.py applied, Redis db 1."""
    repo = data / "feast"
    host_port = redis_url.removeprefix("redis://")
    (repo / "feature_store.yaml").write_text(
        "project: bench\nprovider: local\n"
        f"registry:\n  path: {repo / 'registry.db'}\n  cache_ttl_seconds: 60\n"
        f'online_store:\n  type: redis\n  connection_string: "{host_port},db=1"\n'
        "offline_store:\n  type: duckdb\nentity_key_serialization_version: 3\n"
    )
    return repo


# --- the run ---------------------------------------------------------------------------------


def measure(args: argparse.Namespace, workload: Workload) -> dict[str, Any]:
    harness = Harness(args, workload)
    counts = generate(args.data, workload)
    harness.ensure_feast()
    print(
        f"workload: preset {args.preset}, {counts['activity_rows'] + counts['profile_rows']:,} feature rows", flush=True
    )
    if harness.ours("build", "featurelayer: dbt build of the feature tables", "build").error:
        raise SystemExit(f"dbt build failed: {harness.runs['build'].error}")
    redis_process, _, redis_url = start_redis()
    subprocess.run(["taskset", "-pc", "1", str(redis_process.pid)], check=True, capture_output=True)
    folder = Path(tempfile.mkdtemp(prefix="fl-serve-bench-"))
    results: dict[str, Any] = {}
    try:
        if harness.ours(
            "sync", "featurelayer sync (full) into Redis db 0", "sync", "--redis-url", f"{redis_url}/0"
        ).error:
            raise SystemExit(f"sync failed: {harness.runs['sync'].error}")
        materialized = harness.peer(
            "materialize", f"Feast {FEAST_VERSION} materialize into Redis db 1", "materialize", "--redis-url",
            f"{redis_url}/1",
        )  # fmt: skip
        repo = feast_repo(args.data, redis_url) if materialized is not None and not materialized.error else None
        requests = {size: [[r["user_id"] for r in rows] for rows in online_requests(workload, size, BODIES)]
                    for size in SIZES}  # fmt: skip
        answers: dict[str, dict[str, Any]] = {}
        for contender in contenders(args, workload, redis_url, repo):
            print(f"{contender.name}:", flush=True)
            contender.start(contender.body("features", requests[1][0]))
            try:
                answers[contender.name] = sample_answers(contender, requests[100][:10])
                results[contender.name] = {}
                for size in SIZES:
                    for kind in ("features", "service"):
                        case = f"{size} row{'s' if size > 1 else ''}, {kind}"
                        bodies = [contender.body(kind, ids) for ids in requests[size]]
                        path = contender.paths[kind]
                        run_wrk(contender.url, wrk_script(folder, path, bodies, None), 1)  # warm-up
                        most = run_wrk(contender.url, wrk_script(folder, path, bodies, None), args.duration)
                        ours_most = results["featurelayer serve"][case]["most"]["rps"] if results.get(
                            "featurelayer serve", {}).get(case) else most["rps"]  # fmt: skip
                        rate = ours_most / 2
                        paced = run_wrk(contender.url, wrk_script(folder, path, bodies, CONNECTIONS * 1000 / rate),
                                        args.duration)  # fmt: skip
                        results[contender.name][case] = {"most": most, "half_load": {**paced, "target_rps": rate}}
                        print(
                            f"  {case}: {most['rps']:,.0f} req/s max; at {rate:,.0f} req/s: p50 {paced['p50_ms']:.2f}"
                            f" ms, p99 {paced['p99_ms']:.2f} ms ({paced['rps']:,.0f} req/s achieved)"
                            + (
                                f"; {most['errors'] + paced['errors']} errors"
                                if most["errors"] + paced["errors"]
                                else ""
                            ),
                            flush=True,
                        )
            finally:
                contender.stop()
    finally:
        redis_process.terminate()
        redis_process.wait()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "preset": args.preset,
        "command": " ".join(["benchmarks/serve.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "duration_s": args.duration,
        "connections": CONNECTIONS,
        "results": results,
        "cross_check": cross_check(answers),
    }


def sample_answers(contender: Contender, requests: list[list[int]]) -> Any:
    import httpx

    out = []
    for ids in requests:
        url = f"{contender.url}{contender.paths['features']}"
        answer = httpx.post(url, content=contender.body("features", ids), headers=JSON, timeout=10)
        answer.raise_for_status()
        out.append(answer.json())
    return out


def cross_check(answers: dict[str, Any]) -> dict[str, Any]:
    """Each value featurelayer answers PRESENT, and its event timestamp where the other server gives them,
    compared one by one with the other server's for the same requests (the four features, 100 rows)."""
    ours = answers.get("featurelayer serve")
    checks = {}
    for name, theirs in answers.items():
        if name == "featurelayer serve" or ours is None:
            continue
        compared = agree = 0
        for mine, other in zip(ours, theirs, strict=True):
            columns = dict(zip(other["metadata"]["feature_names"], other["results"], strict=True))
            for feature, result in zip(mine["metadata"]["feature_names"], mine["results"], strict=True):
                if feature == "user_id" or feature not in columns:
                    continue
                theirs_column = columns[feature]
                for i, value in enumerate(result["values"]):
                    if result["statuses"][i] != "PRESENT":
                        continue
                    compared += 1
                    same = theirs_column["values"][i] == value
                    if "event_timestamps" in theirs_column:  # (the floor writes none)
                        same = same and theirs_column["event_timestamps"][i] == result["event_timestamps"][i]
                    agree += same
        checks[name] = {"compared": compared, "agree": agree}
    return checks


def report(results: dict[str, Any]) -> str:
    names = list(results["results"])
    ours = results["results"]["featurelayer serve"]
    lines = [
        f"HTTP serving, preset {results['preset']}, {results['date']} (`{results['command']}`); one worker on core 0,",
        f"wrk ({results['connections']} connections) and Redis on core 1; {results['duration_s']:g} s per run.",
        "",
        "| case | " + " | ".join(f"{n} req/s" for n in names) + " | ours vs " + " | ours vs ".join(names[1:]) + " |",
        "|---|" + "---:|" * (2 * len(names) - 1),
    ]
    for case, mine in ours.items():
        cells = [f"{results['results'][n][case]['most']['rps']:,.0f}" for n in names]
        ratios = [f"{mine['most']['rps'] / results['results'][n][case]['most']['rps']:.2f}x" for n in names[1:]]
        lines.append(f"| {case} | " + " | ".join(cells + ratios) + " |")
    lines += ["", "At half featurelayer's most (p50 / p99, ms; achieved req/s):", ""]
    lines += ["| case | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for case in ours:
        cells = []
        for n in names:
            half = results["results"][n][case]["half_load"]
            cells.append(f"{half['p50_ms']:.2f} / {half['p99_ms']:.2f} ({half['rps']:,.0f})")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    for name, check in results["cross_check"].items():
        lines.append(f"\nCross-check with {name}: {check['agree']:,} of {check['compared']:,} present values agree.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="medium")
    parser.add_argument("--work", type=Path, help="where data and results go (default: benchmarks/.work/<preset>)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--no-peer", action="store_true", help="skip Feast")
    parser.add_argument("--feast-venv", type=Path, default=HERE / ".work" / "feast-venv")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one set-up step may take")
    parser.add_argument("--memory-limit-gb", type=float, default=18)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make bench-serve` installs Debian's wrk (apt-get install wrk).")
    args.work = (args.work or HERE / ".work" / args.preset).resolve()
    args.data = args.work / "data"
    os.environ["FEATURELAYER_BENCH_DIR"] = str(args.data)
    results = measure(args, PRESETS[args.preset])
    text = report(results)
    (args.work / "serve.json").write_text(json.dumps(results, indent=2))
    (args.work / "serve.md").write_text(text + "\n")
    print("\n" + text)
    print(f"(also in {args.work / 'serve.md'} and serve.json)")


if __name__ == "__main__":
    main()
