"""Syncing into the online store, on a real redis-server and on the embedded SQLite store.

A sync may be repeated, raced by another, run late for an older instant, killed or
stopped between batches: every key is left old or new, never torn, and the newest
row wins. A full sync removes what was deleted upstream and what a change of
definition left behind; expired rows go after the retention.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import redis

from featurelayer import FeatureStore, FieldStatus
from featurelayer._online.codec import decode_row, encode_values, view_schema_tag
from featurelayer._time import micros

from .support.online import END, FEATURES, _offline, _store, _users, online_url
from .support.projects import REPO
from .support.retrieval import BASE, Row, _minutes, build, project_dir

__all__ = ["online_url", "project_dir"]  # fixtures used here

pytestmark = pytest.mark.slow


def test_resync_is_idempotent_and_an_older_sync_never_wins(example: Path, online_url: str) -> None:
    users = _users(example)
    earlier = END - dt.timedelta(days=25)
    with _store(example, online_url, END) as store:
        store.sync(full=True)
        before = store.get_online_features(FEATURES, {"user_id": users}).to_dict()
        store.sync(full=True)
        store.sync()  # incremental
        assert store.get_online_features(FEATURES, {"user_id": users}).to_dict() == before
    with _store(example, online_url, earlier) as old:
        old.sync(full=True)  # a late sync of an older instant: every key it meets is newer already
    with _store(example, online_url, END) as store:
        assert store.get_online_features(FEATURES, {"user_id": users}).to_dict() == before


def test_racing_syncs_keep_the_newest(example: Path, online_url: str) -> None:
    users = _users(example)
    instants = [END - dt.timedelta(days=d) for d in (40, 20, 10, 0, 30)]
    errors: list[BaseException] = []

    def run(at: dt.datetime) -> None:
        try:
            with _store(example, online_url, at) as store:
                store.sync(full=True, batch_rows=37)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(at,)) for at in instants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with _store(example, online_url, END) as store:
        online = store.get_online_features(FEATURES, {"user_id": users})
        offline = _offline(store, users, END)
        for name in online.statuses:
            assert online.to_arrow().column(name).equals(offline.column(name)), name


def test_the_write_rule_orders_by_snapshot_then_event_and_tombstones_keep_older_snapshots_out(
    online_url: str, tmp_path: Path
) -> None:
    """The store-level rule (docs/online-store.md), step by step on one key, the same on both stores."""
    from featurelayer._online.base import WriteBatch
    from featurelayer._online.connect import open_online_store

    store = open_online_store(online_url, tmp_path / "online.sqlite")
    key = "fl:t:{[1]}:v:s"

    def write(snapshot: int, event: int, value: int, now: int) -> int:
        batch = WriteBatch("v", [key], [event], [-1], [encode_values([value])], 1)
        return store.write(batch, snapshot, now_us=now).stored

    def stored() -> tuple[int, int, int, list[object]]:
        [raw] = store.read([key])
        assert raw is not None
        row = decode_row(raw)
        return row.snapshot, row.event, row.seen, row.values

    try:
        assert write(5, 20, 1, now=100) == 1
        assert write(5, 10, 2, now=110) == 0  # same snapshot, an older row: refused ...
        assert stored() == (5, 20, 110, [1])  # ... but the key was seen at 110
        assert write(5, 20, 1, now=105) == 1  # the same row again: rewritten, seen stays at the later 110
        assert stored() == (5, 20, 110, [1])
        assert write(7, 10, 3, now=90) == 1  # a newer snapshot wins even with an older event: a rollback
        assert stored() == (7, 10, 90, [3])
        assert write(6, 30, 4, now=200) == 0  # an older snapshot never wins, even with a newer event
        assert stored() == (7, 10, 90, [3])
        # a full sync of snapshot 7 at 95 saw the key at 90 only: it removes it (a tombstone)
        assert store.remove_unseen("t", "v", 7, now_us=95).removed == 1
        assert store.read([key]) != [None]  # the tombstone is stored ...
        assert store.read([key])[0] is not None and decode_row(store.read([key])[0] or b"").values == []
        assert write(6, 40, 5, now=300) == 0  # ... and keeps an older snapshot from bringing the row back
        assert write(7, 11, 6, now=301) == 1  # while the same snapshot's row, or a newer one's, replaces it
        assert stored() == (7, 11, 301, [6])
        assert store.remove_unseen("t", "v", 7, now_us=301).removed == 0  # seen at 301: stays
        assert store.remove_unseen("t", "v", 8, now_us=1).removed == 1  # a newer snapshot never saw it
    finally:
        store.close()


def test_full_sync_removes_deleted_entities_and_incremental_takes_late_rows(project_dir: Path, online_url: str) -> None:
    at = _minutes(10)
    rows = [Row((1,), BASE, _minutes(1), 10), Row((2,), BASE, _minutes(1), 20)]
    build(project_dir, rows, [], ttl=None)
    with FeatureStore(project_dir, online_url=online_url, clock=lambda: at) as store:
        store.sync(full=True)
        assert store.get_online_features(["view_a:a_value"], {"k1": [1, 2]}).to_dict()["a_value"] == [10, 20]
    # a late row: its event is in the past (minute 5), it arrived after the last sync (minute 12)
    later = _minutes(15)
    build(project_dir, [*rows, Row((1,), _minutes(5), _minutes(12), 11)], [], ttl=None)
    with FeatureStore(project_dir, online_url=online_url, clock=lambda: later) as store:
        report = store.sync()
        assert [v.mode for v in report.views if v.view == "view_a"] == ["incremental"]
        assert store.get_online_features(["view_a:a_value"], {"k1": [1, 2]}).to_dict()["a_value"] == [11, 20]
    # entity 2 is deleted upstream: an incremental sync cannot see it, a full sync removes it
    build(project_dir, [Row((1,), BASE, _minutes(1), 10), Row((1,), _minutes(5), _minutes(12), 11)], [], ttl=None)
    with FeatureStore(project_dir, online_url=online_url, clock=lambda: later) as store:
        store.sync()
        assert store.get_online_features(["view_a:a_value"], {"k1": [2]}).to_dict()["a_value"] == [20]
        report = store.sync(full=True)
        assert sum(v.removed for v in report.views) >= 1
        response = store.get_online_features(["view_a:a_value"], {"k1": [1, 2]})
        assert response.to_dict()["a_value"] == [11, None]
        assert response.statuses["a_value"][1] is FieldStatus.NOT_FOUND


def test_a_sync_after_a_change_of_definition_or_layout_is_full(example: Path, online_url: str) -> None:
    """Keys carry the schema tag: rows synced under another one are not found, so an incremental
    sync on top of them would leave entities missing; it is a full sync instead."""
    users = _users(example)[:5]
    with _store(example, online_url, END) as store:
        store.sync(full=True)
        expected = store.get_online_features(FEATURES, [{"user_id": u} for u in users]).to_dict()
        # as an older definition of the views, or an older featurelayer, would have left them:
        # the watermark's tag and every row under another tag
        project = store.registry.project_name
        for view in ("user_activity", "user_profile"):
            store.online_store.set_meta(project, view, {"schema_tag": "00000000"})
        tags = {view_schema_tag(store.registry.feature_view(v)) for v in ("user_activity", "user_profile")}
        if online_url.startswith("redis"):
            client = redis.Redis.from_url(online_url)
            old_keys = []
            for key in client.keys("fl:*{*"):
                old_keys.append(key.decode().rsplit(":", 1)[0] + ":00000000")
                client.rename(key, old_keys[-1])
        else:
            with sqlite3.connect(online_url.removeprefix("sqlite://")) as connection:
                for tag in tags:
                    connection.execute("update online_rows_v2 set key = replace(key, ?, '00000000')", (tag,))
                old_keys = [k for (k,) in connection.execute("select key from online_rows_v2")]
        assert old_keys and all(key.endswith(":00000000") for key in old_keys)
        assert store.get_online_features(FEATURES, [{"user_id": u} for u in users]).to_dict() != expected
    with _store(example, online_url, END + dt.timedelta(seconds=1)) as store:  # a later sync: another generation
        report = store.sync()
        assert {v.mode for v in report.views} == {"full"}
        assert sum(v.removed for v in report.views) == len(old_keys)  # the rows under the old tag are gone
        assert store.get_online_features(FEATURES, [{"user_id": u} for u in users]).to_dict() == expected
        assert {v.mode for v in store.sync().views} == {"incremental"}  # and incremental again after it


_SLOW_SYNC = textwrap.dedent(
    """
    import datetime as dt, sys, time
    sys.path.insert(0, {python!r})
    from featurelayer import FeatureStore
    store = FeatureStore({root!r}, online_url={url!r}, clock=lambda: dt.datetime(2025, 4, 1))
    def progress(view, rows):
        print(view, rows, flush=True)
        time.sleep(0.02)
    store.sync(full=True, batch_rows=7, progress=progress)
    print("done", flush=True)
    """
)


def _snapshot(url: str) -> dict[str, bytes]:
    """Every stored row, raw, by key."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as connection:
            return dict(connection.execute("select key, value from online_rows_v2").fetchall())
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match="fl:*{*"))
    return {k.decode(): v for k, v in zip(keys, client.mget(keys), strict=True)} if keys else {}


def _other(url: str, tmp_path: Path) -> str:
    """A second, empty store of the same kind."""
    if url.startswith("sqlite:///"):
        return f"sqlite:///{tmp_path / 'other.sqlite'}"
    other = url.rsplit("/", 1)[0] + "/1"
    redis.Redis.from_url(other).flushdb()
    return other


@pytest.mark.parametrize("batches", [1, 6, 13, 20])
def test_kill_9_mid_sync_leaves_old_or_new_and_serving_goes_on(
    example: Path, online_url: str, tmp_path: Path, batches: int
) -> None:
    """Killed after a number of batches (the last ones land in the second view, the middle one around the
    first view's removal pass): every key old or new (a removed key: a tombstone), and a re-run converges."""
    with _store(example, online_url, END - dt.timedelta(days=30)) as store:
        store.sync(full=True)
    old = _snapshot(online_url)
    reference = _other(online_url, tmp_path)
    with _store(example, reference, END) as store:
        store.sync(full=True)
    new = _snapshot(reference)
    assert old and new and old != new

    script = _SLOW_SYNC.format(python=str(REPO / "python"), root=str(example), url=online_url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        for _ in range(batches):  # let some batches land, then kill it without warning
            assert child.stdout.readline(), "the sync ended before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

    mid = _snapshot(online_url)
    for key in old.keys() | new.keys():  # each key old or new, never torn
        now = mid.get(key)
        assert now in (old.get(key), new.get(key)) or (key not in new and decode_row(now or b"").values == []), key
    assert any(mid.get(key) == new.get(key) != old.get(key) for key in new)  # the killed sync did write
    with _store(example, online_url, END) as store:
        users = _users(example)
        assert store.get_online_features(FEATURES, {"user_id": users}).to_arrow().num_rows == len(users)
        store.sync(full=True)  # and a re-run completes the job
    after = _snapshot(online_url)
    assert {key: after.get(key) for key in new} == new
    for key in after.keys() - new.keys():  # only rows that expired since the older sync remain
        assert decode_row(after[key]).expired_at(micros(END)), key


def test_sync_can_be_stopped_between_batches(example: Path, online_url: str) -> None:
    stop = threading.Event()
    seen: list[int] = []

    def progress(view: str, rows: int) -> None:
        seen.append(rows)
        if len(seen) == 3:
            stop.set()

    with _store(example, online_url, END) as store:
        report = store.sync(full=True, batch_rows=10, progress=progress, stop=stop)
        # the batches already handed to the store (two at most, on Redis) complete; nothing after them starts
        assert report.interrupted and len(seen) in (3, 4, 5)
        assert report.rows == seen[-1] < 1_000
        assert "interrupted" in report.summary()
        # the watermarks did not advance: only the mark that a sync of the view began, and its row count
        meta = store.online_store.get_meta(store.registry.project_name, "user_activity")
        assert set(meta) == {"sync_started", "rows"} and int(meta["rows"]) == report.rows


def test_expired_rows_stay_expired_then_go_after_the_retention(project_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"  # Redis drops them by itself (PX); SQLite at a full sync
    build(project_dir, [Row((1,), BASE, None, 10)], [], ttl=60)
    with FeatureStore(project_dir, online_url=url, clock=lambda: BASE) as store:
        store.sync(full=True)
    for at, status in ((_minutes(30), FieldStatus.EXPIRED), (BASE + dt.timedelta(days=2), FieldStatus.NOT_FOUND)):
        with FeatureStore(project_dir, online_url=url, clock=lambda at=at: at) as store:
            store.sync(full=True)
            assert store.get_online_features(["view_a:a_value"], [{"k1": 1}]).statuses["a_value"] == [status]
