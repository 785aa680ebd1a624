"""The embedded DuckDB warehouse shared by builds, syncs and retrievals in separate processes.

DuckDB lets one process write a file or many read it, never both. featurelayer
holds the file only while it reads, waits a bounded time for another
process's lock, and then says in one line who holds it.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from featurelayer import FeatureStore, ProjectError

from .support.retrieval import BASE, Row, _minutes, build, project_dir

__all__ = ["project_dir"]  # fixtures used here

pytestmark = pytest.mark.slow

_HOLD = textwrap.dedent(
    """
    import sys, time, duckdb
    connection = duckdb.connect(sys.argv[1])  # read-write: as a dbt build holds it
    connection.execute("select 1")
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    connection.close()
    """
)


@contextmanager
def _hold(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process writing the file (a dbt build, say) for ``seconds``, from when the block starts."""
    command = [sys.executable, "-c", _HOLD, str(path), str(seconds)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        try:
            yield child
        finally:
            child.kill()


def _can_write(path: Path) -> bool:
    """Whether another process can open the file read-write right now (what a dbt build needs)."""
    probe = "import sys, duckdb; duckdb.connect(sys.argv[1]).close()"
    return subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def database(project_dir: Path) -> Path:
    build(project_dir, [Row((k,), BASE, _minutes(1), k) for k in range(1, 50)], [], ttl=None)
    return project_dir / "warehouse" / "retrieval.duckdb"


def test_a_retrieval_waits_for_a_writer_then_releases_the_file(project_dir: Path, database: Path) -> None:
    entity = pd.DataFrame({"k1": [1, 2], "event_timestamp": [_minutes(5)] * 2})
    with FeatureStore(project_dir) as store:
        job = store.get_historical_features(entity, ["view_a:a_value"])
        with _hold(database, 2):  # a build holds the file for two seconds: the retrieval waits it out
            assert job.to_arrow().column("a_value").to_pylist() == [1, 2]
        assert _can_write(database)  # the store keeps nothing open between calls
        assert job.to_arrow().num_rows == 2


def test_a_lock_held_too_long_is_one_clear_line(
    project_dir: Path, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEATURELAYER_DUCKDB_LOCK_TIMEOUT", "0.5")
    with _hold(database, 10) as holder, FeatureStore(project_dir) as store, pytest.raises(ProjectError) as raised:
        store.get_historical_features(
            pd.DataFrame({"k1": [1], "event_timestamp": [_minutes(5)]}), ["view_a:a_value"]
        ).to_arrow()
    message = str(raised.value)
    assert "\n" not in message and f"process {holder.pid}" in message and "FEATURELAYER_DUCKDB_LOCK_TIMEOUT" in message


def test_a_sync_holds_the_file_only_while_it_copies_its_snapshot(
    project_dir: Path, database: Path, tmp_path: Path
) -> None:
    writing, resume = threading.Event(), threading.Event()

    def progress(view: str, rows: int) -> None:
        if not writing.is_set():
            writing.set()
            assert resume.wait(60)

    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    store = FeatureStore(project_dir, online_url=url, clock=lambda: _minutes(5))
    sync = threading.Thread(target=lambda: store.sync(["view_a"], full=True, batch_rows=5, progress=progress))
    sync.start()
    try:
        assert writing.wait(60)
        assert _can_write(database)  # mid-sync, a build could run
    finally:
        resume.set()
        sync.join(60)
        store.close()
    with FeatureStore(project_dir, online_url=url, clock=lambda: _minutes(5)) as store:
        online = store.get_online_features(["view_a:a_value"], {"k1": [1, 49]})
        assert online.to_dict()["a_value"] == [1, 49]
    assert not list(database.parent.glob(".fl_sync_*"))  # the snapshot's spill file is gone


def test_syncs_in_two_processes_at_once_both_finish(project_dir: Path, database: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    script = textwrap.dedent(
        f"""
        import datetime as dt
        from featurelayer import FeatureStore
        with FeatureStore({str(project_dir)!r}, online_url={url!r}, clock=lambda: dt.datetime(2025, 1, 1, 0, 5)) as s:
            s.sync(["view_a"], full=True)
        """
    )
    children = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], errors
    with FeatureStore(project_dir, online_url=url, clock=lambda: BASE + dt.timedelta(minutes=5)) as store:
        assert store.get_online_features(["view_a:a_value"], {"k1": [7]}).to_dict()["a_value"] == [7]
