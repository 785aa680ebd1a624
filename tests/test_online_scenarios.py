"""The online store equals the warehouse in the situations users meet, each built by real dbt runs.

One test per item of the write-model issue, as a user would run it (builds,
``sync``, ``verify``), on the embedded store and on a real redis-server: a
rollback, a full sync raced by a newer incremental one, an emptied table, a
producer whose clock runs ahead, and a row that expired before the first sync.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from featurelayer import FeatureStore, FieldStatus, RemovalGuardError, ValidationError
from featurelayer._verify import verify
from featurelayer.cli import main

from .support.online import online_url
from .support.retrieval import BASE, Row, _minutes, build, project_dir

__all__ = ["online_url", "project_dir"]  # fixtures used here

pytestmark = pytest.mark.slow


def _store(root: Path, url: str, at: dt.datetime) -> FeatureStore:
    return FeatureStore(root, online_url=url, clock=lambda: at)


def _online(root: Path, url: str, at: dt.datetime, keys: list[int]) -> tuple[list[object], list[FieldStatus]]:
    with _store(root, url, at) as store:
        response = store.get_online_features(["view_a:a_value"], {"k1": keys})
        return response.to_dict()["a_value"], response.statuses["a_value"]


def _no_skew(root: Path, url: str, at: dt.datetime) -> None:
    with _store(root, url, at) as store:
        report = verify(store, views=["view_a"])
    assert report.ok and report.checked_values > 0, report.mismatches


def test_a_rollback_in_the_warehouse_propagates_on_the_next_full_sync(project_dir: Path, online_url: str) -> None:
    """A correction and a later event are synced, then rolled back: the next full sync restores the old rows."""
    at = _minutes(30)
    base = [Row((1,), BASE, _minutes(1), 10), Row((2,), BASE, _minutes(1), 20)]
    bad_load = [Row((1,), BASE, _minutes(5), 11), Row((2,), _minutes(10), _minutes(11), 21)]
    build(project_dir, [*base, *bad_load], [], ttl=None)
    with _store(project_dir, online_url, at) as store:
        store.sync(full=True)
    assert _online(project_dir, online_url, at, [1, 2])[0] == [11, 21]
    build(project_dir, base, [], ttl=None)  # the bad load rolled back
    with _store(project_dir, online_url, at) as store:
        store.sync(full=True)
    assert _online(project_dir, online_url, at, [1, 2])[0] == [10, 20]
    _no_skew(project_dir, online_url, at)


def test_a_full_sync_keeps_what_a_newer_incremental_sync_wrote_while_it_ran(project_dir: Path, online_url: str) -> None:
    """Full sync A reads its snapshot and writes one batch; meanwhile 16 entities arrive, are built and
    synced by incremental B at a later instant; A's removal pass must keep all of them."""
    early = [Row((k,), BASE, _minutes(1), k) for k in range(1, 5)]
    build(project_dir, early, [], ttl=None)
    with _store(project_dir, online_url, _minutes(10)) as store:
        store.sync(full=True)  # a first sync: the view has keys and a watermark
    paused, resume = threading.Event(), threading.Event()

    def progress(view: str, rows: int) -> None:
        if view == "view_a" and not paused.is_set():
            paused.set()
            assert resume.wait(60)

    errors: list[BaseException] = []

    def full_sync() -> None:
        try:
            with _store(project_dir, online_url, _minutes(20)) as store:
                store.sync(["view_a"], full=True, batch_rows=1, progress=progress)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    a = threading.Thread(target=full_sync)
    a.start()
    assert paused.wait(60)
    arrived = [Row((k,), _minutes(21), _minutes(21), k) for k in range(100, 116)]
    build(project_dir, [*early, *arrived], [], ttl=None)
    with _store(project_dir, online_url, _minutes(25)) as store:
        report = store.sync(["view_a"])
        assert [v.mode for v in report.views] == ["incremental"] and report.written >= 16
        watermark = store.online_store.get_meta(store.registry.project_name, "view_a")["created_watermark"]
    resume.set()
    a.join(60)
    assert not errors, errors
    values, statuses = _online(project_dir, online_url, _minutes(25), list(range(100, 116)))
    assert values == list(range(100, 116)) and set(statuses) == {FieldStatus.PRESENT}
    with _store(project_dir, online_url, _minutes(25)) as store:  # the slower, older sync did not pull it back
        assert store.online_store.get_meta(store.registry.project_name, "view_a")["created_watermark"] == watermark
    _no_skew(project_dir, online_url, _minutes(25))


def test_an_older_sync_still_running_can_create_a_key_the_next_full_sync_removes(
    project_dir: Path, online_url: str
) -> None:
    """What the write rule leaves (docs/online-store.md): a slow sync of an older snapshot writes an entity
    that a newer full sync never saw, after that sync's removal pass; it stays until the next full sync."""
    rows = [Row((1,), BASE, _minutes(1), 1), Row((2,), BASE, _minutes(1), 2)]
    build(project_dir, rows, [], ttl=None)
    with _store(project_dir, online_url, _minutes(5)) as store:
        store.sync(full=True)
    build(project_dir, [*rows, Row((3,), BASE, _minutes(6), 3)], [], ttl=None)  # entity 3 arrives ...
    read, resume = threading.Event(), threading.Event()
    older = _store(project_dir, online_url, _minutes(10))
    write = older.online_store.write

    def write_later(*args: object, **kwargs: object) -> object:  # A has read its rows: it waits to write them
        read.set()
        assert resume.wait(60)
        return write(*args, **kwargs)  # type: ignore[arg-type]

    older.online_store.write = write_later  # type: ignore[method-assign]
    a = threading.Thread(target=lambda: older.sync(["view_a"], full=True))
    a.start()  # ... the older sync A reads it, and is slow to write it
    assert read.wait(60)
    build(project_dir, rows, [], ttl=None)  # entity 3 is rolled back
    with _store(project_dir, online_url, _minutes(11)) as store:
        store.sync(["view_a"], full=True)  # the newer full sync never saw entity 3 and finds no key of it
    resume.set()
    a.join(60)
    older.close()
    assert _online(project_dir, online_url, _minutes(12), [1, 2, 3])[0] == [1, 2, 3]  # A created it: what remains
    with _store(project_dir, online_url, _minutes(12)) as store:
        store.sync(["view_a"], full=True)
    assert _online(project_dir, online_url, _minutes(12), [3]) == ([None], [FieldStatus.NOT_FOUND])


def test_an_emptied_table_does_not_wipe_the_online_store(project_dir: Path, online_url: str) -> None:
    rows = [Row((k,), BASE, _minutes(1), k) for k in range(1, 11)]
    build(project_dir, rows, [], ttl=None)
    at = _minutes(5)
    with _store(project_dir, online_url, at) as store:
        store.sync(full=True)
    build(project_dir, [], [], ttl=None)  # an upstream outage: 0 raw rows, and dbt build still passes
    with _store(project_dir, online_url, at) as store, pytest.raises(RemovalGuardError, match="would remove 10 of"):
        store.sync(["view_a"], full=True)
    assert _online(project_dir, online_url, at, list(range(1, 11)))[0] == list(range(1, 11))  # nothing removed
    # the CLI says why, how to allow it, and exits with its own code
    result = CliRunner().invoke(
        main, ["--project-dir", str(project_dir), "sync", "--full", "--views", "view_a", "--online-url", online_url]
    )
    assert result.exit_code == 3, result.output
    assert "--allow-removals" in result.output and "no rows" in result.output
    assert _online(project_dir, online_url, at, [1])[0] == [1]
    # a smaller share passes the guard: 3 of 10 removed
    build(project_dir, rows[3:], [], ttl=None)
    with _store(project_dir, online_url, at) as store:
        report = store.sync(["view_a"], full=True)
        assert report.views[0].removed == 3
    _no_skew(project_dir, online_url, at)
    # told to, it removes them all
    build(project_dir, [], [], ttl=None)
    with _store(project_dir, online_url, at) as store:
        store.sync(["view_a"], full=True, allow_removals=True)
    assert _online(project_dir, online_url, at, [5])[1] == [FieldStatus.NOT_FOUND]


def test_training_data_never_replaces_a_feature_table(project_dir: Path) -> None:
    build(project_dir, [Row((1,), BASE, _minutes(1), 1)], [], ttl=None)
    entity = pd.DataFrame({"k1": [1], "event_timestamp": [_minutes(2)]})
    with FeatureStore(project_dir) as store:
        job = store.get_historical_features(entity, ["view_a:a_value"])
        with pytest.raises(ValidationError, match="feature view's table"):
            job.to_table("view_a")
        with pytest.raises(ValidationError, match="feature view's table"):
            job.to_table("main.VIEW_A")
        assert job.to_table("training_set") == '"training_set"'
        with pytest.raises(ValidationError, match="exists already; pass replace=True"):
            job.to_table("training_set")
        assert job.to_table("training_set", replace=True) == '"training_set"'
        with pytest.raises(ValidationError, match="is not a table name"):
            job.to_table("x'")  # sqlglot cannot tokenize it: one line, not a TokenError


def test_a_producer_clock_running_ahead_cannot_make_incremental_syncs_skip_late_rows(
    project_dir: Path, online_url: str
) -> None:
    rows = [Row((1,), BASE, _minutes(1), 1), Row((2,), _minutes(2), BASE + dt.timedelta(days=4), 2)]  # 4 days ahead
    build(project_dir, rows, [], ttl=None)
    with _store(project_dir, online_url, _minutes(10)) as store:
        store.sync(full=True)
    # a late row with an honest created timestamp (minute 12), for an event at minute 3
    build(project_dir, [*rows, Row((3,), _minutes(3), _minutes(12), 3)], [], ttl=None)
    with _store(project_dir, online_url, _minutes(15)) as store:
        report = store.sync(["view_a"])
        assert [v.mode for v in report.views] == ["incremental"]
    assert _online(project_dir, online_url, _minutes(15), [1, 2, 3])[0] == [1, 2, 3]
    _no_skew(project_dir, online_url, _minutes(15))


@pytest.mark.parametrize("first_sync", ["before it expired", "after it expired"])
def test_a_status_does_not_depend_on_the_history_of_syncs(project_dir: Path, online_url: str, first_sync: str) -> None:
    """A row with a 1 h ttl: EXPIRED at minute 90 whether the first sync ran while it was valid or after."""
    build(project_dir, [Row((1,), BASE, BASE, 1)], [], ttl=3600)
    with _store(project_dir, online_url, _minutes(30 if first_sync == "before it expired" else 80)) as store:
        store.sync(full=True)
    with _store(project_dir, online_url, _minutes(85)) as store:
        store.sync()
    assert _online(project_dir, online_url, _minutes(90), [1]) == ([None], [FieldStatus.EXPIRED])
    # and after the retention (a day), not found, however the store has cleaned up
    later = _minutes(90) + dt.timedelta(days=1)
    assert _online(project_dir, online_url, later, [1]) == ([None], [FieldStatus.NOT_FOUND])
