"""The write model, as a property: after every quiet full sync online equals the warehouse.

Random histories of warehouse changes (inserts, corrections, retractions of one
row, deletions of an entity, an emptied table, rows created in the future),
each followed by a build and a sync: full or incremental, quiet or racing. In
a race, sync A reads its snapshot and writes its first batch, then waits while
the warehouse changes, is rebuilt and sync B runs to the end; then A goes on.
Checked against a brute-force reference that scans the raw rows and knows
nothing of validity intervals, snapshots or stores:

- after every quiet full sync, each entity's online value and status equal the
  reference at the sync's instant (and training retrieval's value);
- in a race, no key holds a row of an older snapshot than one that had
  already completed for it (B's), once A has finished too.

Builds here are dbt's table materialization done by hand (the model's SQL as
dbt compiled it, into a new table swapped in by rename, as dbt-duckdb does),
because a real `dbt build` per step would take minutes; test_online_scenarios
runs real builds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurelayer import FeatureStore, FieldStatus, find_project
from featurelayer._dbt.runner import run_dbt
from featurelayer._online.codec import decode_row, entity_keys, view_schema_tag

from .support.online import online_url
from .support.projects import REPO
from .support.retrieval import BASE, Row, build, project_dir

__all__ = ["online_url", "project_dir"]  # fixtures used here

pytestmark = pytest.mark.slow

TTL = 3600  # view_a's ttl in this module (seconds)
RETENTION = dt.timedelta(hours=2)  # the online stores' retention here (?retention=2h)
KEYS = [1, 2, 3, 4]
NEVER = 99  # an entity with no row, ever
FUTURE = BASE + dt.timedelta(days=30)  # "created" of rows from a producer whose clock runs ahead


# --- the reference ----------------------------------------------------------------------


def reference(rows: list[Row], key: int, t: dt.datetime) -> tuple[FieldStatus, int | None]:
    """The status and value online must show at t: straight from the raw rows and the rules."""
    candidates = [r for r in rows if r.key == (key,) and r.ts <= t]
    if not candidates:
        return FieldStatus.NOT_FOUND, None
    best = max(candidates, key=lambda r: (r.ts, r.created))
    if best.ts < t - dt.timedelta(seconds=TTL):  # its ttl ran out (the bound is inclusive)
        valid_to = best.ts + dt.timedelta(seconds=TTL, microseconds=1)
        return (FieldStatus.EXPIRED if t < valid_to + RETENTION else FieldStatus.NOT_FOUND), None
    return FieldStatus.PRESENT, best.payload


# --- the warehouse, built by hand -------------------------------------------------------------


@dataclass
class Warehouse:
    """The module's DuckDB file: raw_a written from rows, view_a rebuilt from dbt's compiled SQL."""

    path: Path
    compiled: str = field(repr=False)

    def load(self, rows: list[Row]) -> None:
        table = pa.table(
            {
                "k1": pa.array([r.key[0] for r in rows], pa.int64()),
                "ts": pa.array([r.ts for r in rows], pa.timestamp("us")),
                "created": pa.array([r.created for r in rows], pa.timestamp("us")),
                "a_value": pa.array([r.payload for r in rows], pa.int64()),
                "a_score": pa.array([r.payload / 4 for r in rows], pa.float64()),
            }
        )
        connection = duckdb.connect(str(self.path))
        try:
            connection.register("fl_raw_input", table)
            connection.execute("create or replace table raw_a as select * from fl_raw_input")
            connection.unregister("fl_raw_input")
            # dbt-duckdb's table materialization: build beside, then swap in one transaction
            connection.execute("begin")
            connection.execute("drop table if exists view_a__fl_tmp")
            connection.execute(f"create table view_a__fl_tmp as {self.compiled}")
            connection.execute("drop table view_a")
            connection.execute("alter table view_a__fl_tmp rename to view_a")
            connection.execute("commit")
        finally:
            connection.close()


@pytest.fixture(scope="module")
def warehouse(project_dir: Path) -> Warehouse:
    """view_a built once by dbt (so the table exists), then compiled again: its SQL reads the
    table's previous versions, as every later build's does."""
    build(project_dir, [Row((1,), BASE, BASE, 1)], [], ttl=TTL)
    project = find_project(project_dir)
    run_dbt(project, ["compile", "-s", "view_a", "--vars", f"{{ttl_a: '{TTL}s'}}"])
    manifest = json.loads((project.target_dir / "manifest.json").read_text())
    [node] = [n for n in manifest["nodes"].values() if n.get("name") == "view_a" and n["resource_type"] == "model"]
    assert "_fl_snapshot" in node["compiled_code"] and "greatest" in node["compiled_code"]
    return Warehouse(project_dir / "warehouse" / "retrieval.duckdb", node["compiled_code"])


# --- histories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    kind: str  # insert, correct, retract, delete, empty
    key: int = 1
    minute: int = 0
    lag: int = 0  # minutes from the event to its created timestamp; -1: created in the future
    pick: int = 0  # which existing row (modulo their count)
    payload: int = 0


@dataclass(frozen=True)
class Phase:
    changes: tuple[Change, ...]
    full: bool
    advance: int  # minutes the clock moves before this phase's sync
    race: bool = False  # A starts before the changes, B after them
    b_full: bool = True
    b_offset: int = 0  # B's instant relative to A's, in minutes (B may be older)


changes = st.one_of(
    st.builds(
        Change,
        kind=st.just("insert"),
        key=st.sampled_from(KEYS),
        minute=st.integers(0, 600),
        lag=st.sampled_from([0, 1, 5, 30, 90, -1]),
        payload=st.integers(0, 1000),
    ),
    st.builds(
        Change, kind=st.just("correct"), pick=st.integers(0, 50), lag=st.integers(1, 20), payload=st.integers(0, 1000)
    ),
    st.builds(Change, kind=st.just("retract"), pick=st.integers(0, 50)),
    st.builds(Change, kind=st.just("delete"), key=st.sampled_from(KEYS)),
    st.just(Change(kind="empty")),
)
phases = st.builds(
    Phase,
    changes=st.lists(changes, min_size=0, max_size=4).map(tuple),
    full=st.booleans(),
    advance=st.integers(0, 240),
    race=st.booleans(),
    b_full=st.booleans(),
    b_offset=st.integers(-60, 60),
)


def apply(rows: list[Row], change: Change) -> list[Row]:
    """The raw rows after one change (what the reference reads, and what is loaded).

    A row that would tie another on (key, event, created) is not added: which
    of two such rows wins is arbitrary (the macro keeps one of them).
    """
    if change.kind in ("insert", "correct"):
        if change.kind == "insert":
            ts = BASE + dt.timedelta(minutes=change.minute)
            row = Row((change.key,), ts, FUTURE if change.lag < 0 else ts + dt.timedelta(minutes=change.lag), 0)
        elif rows:  # the same event again, created later: it wins the tie
            picked = rows[change.pick % len(rows)]
            assert picked.created is not None
            row = Row(picked.key, picked.ts, picked.created + dt.timedelta(minutes=change.lag), 0)
        else:
            return rows
        if any((r.key, r.ts, r.created) == (row.key, row.ts, row.created) for r in rows):
            return rows
        return [*rows, Row(row.key, row.ts, row.created, change.payload)]
    if not rows:
        return rows
    picked = rows[change.pick % len(rows)]
    if change.kind == "retract":
        return [r for r in rows if r is not picked]
    if change.kind == "delete":
        return [r for r in rows if r.key != (change.key,)]
    return []  # empty


# --- running it ---------------------------------------------------------------------------------


def _store(root: Path, url: str, at: dt.datetime, target: str | None = None) -> FeatureStore:
    return FeatureStore(root, target=target, online_url=url, clock=lambda: at)


def _stored(store: FeatureStore) -> dict[int, tuple[int, list[Any]]]:
    """Each entity's stored (snapshot, values) of view_a, tombstones included."""
    view = store.registry.feature_view("view_a")
    keys = entity_keys(store.registry.project_name, "view_a", [[*KEYS, NEVER]], view_schema_tag(view))
    raws = store.online_store.read(keys)
    rows = {k: decode_row(raw) for k, raw in zip([*KEYS, NEVER], raws, strict=True) if raw}
    return {k: (row.snapshot, row.values) for k, row in rows.items()}


def _check(root: Path, url: str, rows: list[Row], at: dt.datetime, target: str | None = None) -> None:
    """Online at ``at`` equals the reference, entity for entity, status for status; offline too."""
    entities = [*KEYS, NEVER]
    with _store(root, url, at, target) as store:
        online = store.get_online_features(["view_a:a_value"], {"k1": entities})
        offline = store.get_historical_features(
            pd.DataFrame({"k1": entities, "event_timestamp": [at] * len(entities)}), ["view_a:a_value"]
        ).to_arrow()
    want = [reference(rows, k, at) for k in entities]
    assert online.statuses["a_value"] == [status for status, _ in want], at
    assert online.to_dict()["a_value"] == [value for _, value in want], at
    assert offline.column("a_value").to_pylist() == [value for _, value in want], at


def _sync(root: Path, url: str, at: dt.datetime, full: bool, **options: Any) -> None:
    with _store(root, url, at) as store:
        store.sync(["view_a"], full=full, allow_removals=True, **options)


def _race(
    root: Path, url: str, warehouse: Warehouse, rows: list[Row], phase: Phase, at: dt.datetime
) -> tuple[list[Row], dt.datetime]:
    """A reads its snapshot and writes one batch, then waits; the warehouse changes; B runs; A goes on."""
    started, resume = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def progress(view: str, rows_so_far: int) -> None:
        if not started.is_set():
            started.set()
            assert resume.wait(60), "the race's second half never came"

    def run_a() -> None:
        try:
            _sync(root, url, at, phase.full, batch_rows=1, progress=progress)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            started.set()  # (A had no rows to write: nothing to pause on)

    a = threading.Thread(target=run_a)
    a.start()
    assert started.wait(60)
    for change in phase.changes:
        rows = apply(rows, change)
    warehouse.load(rows)
    b_at = at + dt.timedelta(minutes=phase.b_offset)
    _sync(root, url, b_at, phase.b_full)
    with _store(root, url, b_at) as store:
        after_b = _stored(store)
        b_snapshot = max((snapshot for snapshot, _ in after_b.values()), default=None)
    resume.set()
    a.join(60)
    assert not a.is_alive() and not errors, errors
    with _store(root, url, at) as store:
        after_a = _stored(store)
    if b_snapshot is not None:
        for key, (snapshot, _) in after_b.items():
            if snapshot == b_snapshot:  # B wrote or removed it: nothing older may come back
                assert after_a[key][0] >= b_snapshot, (key, after_b[key], after_a[key])
    return rows, max(at, b_at)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=st.lists(phases, min_size=1, max_size=5))
def test_online_equals_the_warehouse_after_every_quiet_full_sync(
    project_dir: Path, warehouse: Warehouse, online_url: str, history: list[Phase]
) -> None:
    url = _fresh(online_url, project_dir)
    rows: list[Row] = [Row((k,), BASE, BASE, k) for k in KEYS[:2]]
    warehouse.load(rows)
    clock = BASE + dt.timedelta(minutes=1)
    _sync(project_dir, url, clock, full=True)
    _check(project_dir, url, rows, clock)
    for phase in history:
        clock += dt.timedelta(minutes=phase.advance)
        if phase.race:
            rows, clock = _race(project_dir, url, warehouse, rows, phase, clock)
        else:
            for change in phase.changes:
                rows = apply(rows, change)
            if phase.changes:
                warehouse.load(rows)
            _sync(project_dir, url, clock, phase.full)
            if phase.full:
                _check(project_dir, url, rows, clock)
    clock += dt.timedelta(minutes=1)
    _sync(project_dir, url, clock, full=True)  # quiet, after whatever raced before
    _check(project_dir, url, rows, clock)


def _fresh(url: str, root: Path) -> str:
    """A clean online store for one example, with this module's retention."""
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()
        return f"{url}?retention=2h"
    path = Path(url.removeprefix("sqlite://"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"{url}?retention=2h"


# --- PostgreSQL: builds and syncs in separate processes ------------------------------------------

_SYNCS = textwrap.dedent(
    """
    import datetime as dt, json, random, sys
    from featurelayer import FeatureStore
    from featurelayer._online.codec import decode_row, entity_keys, view_schema_tag
    root, url, worker, runs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    rng = random.Random(worker)
    base = dt.datetime(2025, 1, 1)
    with open(out, "w") as log:
        for i in range(runs):
            at = base + dt.timedelta(minutes=5 * i + worker)
            with FeatureStore(root, target="postgres", online_url=url, clock=lambda: at) as store:
                store.sync(["view_a"], full=rng.random() < 0.5, allow_removals=True, batch_rows=2)
                view = store.registry.feature_view("view_a")
                keys = [1, 2, 3, 4, 99]
                raws = store.online_store.read(entity_keys("feature_layer", "view_a", [keys], view_schema_tag(view)))
                seen = {k: decode_row(raw).snapshot for k, raw in zip(keys, raws) if raw}
            log.write(json.dumps(seen) + "\\n")
            log.flush()
    """
)


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [0, 1])
def test_builds_and_syncs_racing_in_separate_processes_on_postgres(
    project_dir: Path, online_url: str, postgres: dict[str, object], seed: int, tmp_path: Path
) -> None:
    """Two processes sync again and again while this one changes the warehouse and rebuilds it with dbt.

    Each sync process reads, after each of its syncs, the snapshot each key holds: it never goes
    down (no key takes a row of an older snapshot than one already synced); after a last, quiet
    full sync, online equals the reference.
    """
    import psycopg2
    from psycopg2 import sql

    schema = f"fl_write_model_{uuid.uuid4().hex[:8]}"
    os.environ["FEATURELAYER_TEST_PG_SCHEMA"] = schema
    rng = random.Random(seed)
    try:
        rows = [Row((k,), BASE + dt.timedelta(minutes=k), BASE + dt.timedelta(minutes=k), k) for k in KEYS]
        build(project_dir, rows, [], ttl=TTL, target="postgres")
        url = _fresh(online_url, project_dir)
        logs = [tmp_path / f"worker{w}.jsonl" for w in range(2)]
        command = [sys.executable, "-c", _SYNCS, str(project_dir), url]
        env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
        workers = [
            subprocess.Popen([*command, str(w), "8", str(log)], env=env, stderr=subprocess.PIPE, text=True)
            for w, log in enumerate(logs)
        ]
        for _build in range(3):
            for _ in range(rng.randint(1, 3)):
                kind = rng.choice(["insert", "correct", "retract", "delete"])
                rows = apply(
                    rows,
                    Change(
                        kind=kind,
                        key=rng.choice(KEYS),
                        minute=rng.randint(0, 50),
                        lag=rng.choice([0, 1, 5, -1]),
                        pick=rng.randint(0, 20),
                        payload=rng.randint(0, 1000),
                    ),
                )
            build(project_dir, rows, [], ttl=TTL, target="postgres")
        errors = [worker.communicate(timeout=300)[1] for worker in workers]
        assert [worker.returncode for worker in workers] == [0, 0], errors
        for log in logs:
            observed = [json.loads(line) for line in log.read_text().splitlines()]
            assert len(observed) == 8
            for before, after in itertools.pairwise(observed):
                for key, snapshot in before.items():
                    assert after.get(key, 0) >= snapshot, (key, before, after)
        at = BASE + dt.timedelta(hours=2)
        with _store(project_dir, url, at, "postgres") as store:
            store.sync(["view_a"], full=True, allow_removals=True)
        _check(project_dir, url, rows, at, "postgres")
    finally:
        os.environ.pop("FEATURELAYER_TEST_PG_SCHEMA", None)
        with psycopg2.connect(**postgres) as connection, connection.cursor() as cursor:  # type: ignore[arg-type]
            cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


@pytest.mark.postgres
def test_a_sync_that_starts_during_a_dbt_swap_on_postgres_reads_the_new_table_whole(
    project_dir: Path, postgres: dict[str, object], tmp_path: Path
) -> None:
    """dbt swaps a table by renames in one transaction; a sync whose read starts meanwhile waits for it,
    then must see the new table's rows, not an empty table (its snapshot taken before the swap committed)."""
    import psycopg2
    from psycopg2 import sql

    schema = f"fl_swap_{uuid.uuid4().hex[:8]}"
    os.environ["FEATURELAYER_TEST_PG_SCHEMA"] = schema
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    at = BASE + dt.timedelta(minutes=30)
    try:
        build(project_dir, [Row((k,), BASE, BASE, k) for k in KEYS], [], ttl=None, target="postgres")
        with _store(project_dir, url, at, "postgres") as store:
            store.sync(["view_a"], full=True)
        swap = psycopg2.connect(**postgres)  # type: ignore[arg-type]
        try:
            with swap.cursor() as cursor:
                table = sql.Identifier(schema, "view_a")
                cursor.execute(
                    sql.SQL("create table {} as select * from {}").format(sql.Identifier(schema, "new_a"), table)
                )
                cursor.execute(
                    sql.SQL("update {} set a_value = a_value + 100, _fl_snapshot = _fl_snapshot + 1").format(
                        sql.Identifier(schema, "new_a")
                    )
                )
                cursor.execute(sql.SQL("alter table {} rename to old_a").format(table))
                cursor.execute(sql.SQL("alter table {} rename to view_a").format(sql.Identifier(schema, "new_a")))
            errors: list[BaseException] = []

            def sync() -> None:
                try:
                    with _store(project_dir, url, at, "postgres") as store:
                        store.sync(["view_a"], full=True)
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            reader = threading.Thread(target=sync)
            reader.start()
            with psycopg2.connect(**postgres) as watcher, watcher.cursor() as cursor:  # type: ignore[arg-type]
                for _ in range(200):  # until the sync waits on the swap's lock
                    cursor.execute("select count(*) from pg_locks where not granted")
                    (waiting,) = cursor.fetchone()  # type: ignore[misc]
                    if waiting:
                        break
                    time.sleep(0.05)
                assert waiting, "the sync never waited for the swap"
            swap.commit()
            reader.join(60)
        finally:
            swap.close()
        assert not errors, errors
        with _store(project_dir, url, at, "postgres") as store:
            values = store.get_online_features(["view_a:a_value"], {"k1": KEYS}).to_dict()["a_value"]
        assert values == [k + 100 for k in KEYS]
    finally:
        os.environ.pop("FEATURELAYER_TEST_PG_SCHEMA", None)
        with psycopg2.connect(**postgres) as connection, connection.cursor() as cursor:  # type: ignore[arg-type]
            cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
