"""Online serving against real stores: a real redis-server and the embedded SQLite store.

The same behaviour tests run on both backends. The central one: after a sync,
``get_online_features`` equals ``get_historical_features`` at the same instant
for every entity of the example, values and types, ttl expiry included.
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
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import redis

from featurelayer import FeatureStore, FieldStatus, OnlineStoreError, ValidationError
from featurelayer._online.codec import decode_row, encode_values, entity_key, stored_rows
from featurelayer._time import micros

from .conftest import EXAMPLE_END, REPO, RedisServer
from .retrieval_helpers import BASE, Row, _minutes, build, project_dir

__all__ = ["project_dir"]

pytestmark = pytest.mark.slow

END = EXAMPLE_END
FEATURES = [
    "user_activity:daily_transactions",
    "user_activity:avg_transaction_value_7d",
    "user_activity:last_login_days_ago",
    "user_profile:plan",
    "user_profile:country",
    "user_profile:marketing_opt_in",
]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each online backend: a clean Redis database, or a fresh SQLite file."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'online.sqlite'}"


Clock = Callable[[], dt.datetime]


def _store(root: Path, url: str, at: dt.datetime) -> FeatureStore:
    return FeatureStore(root, online_url=url, clock=lambda: at)


def _users(root: Path) -> list[int]:
    with FeatureStore(root) as store:
        table = store.get_features_as_of(["user_profile:plan"], END).to_arrow()
    return [*table.column("user_id").to_pylist(), 10_000_001]  # and one that never existed


def _offline(store: FeatureStore, users: list[int], at: dt.datetime) -> pa.Table:
    entity = pd.DataFrame({"user_id": users, "event_timestamp": [at] * len(users)})
    return store.get_historical_features(entity, FEATURES).to_arrow()


def test_online_equals_offline_at_the_same_instant(example: Path, online_url: str) -> None:
    users = _users(example)
    with _store(example, online_url, END) as store:
        report = store.sync(full=True)
        assert report.rows > 0 and report.written == report.rows
    # read at the sync's instant, and 20 days later: many activity rows have expired by their ttl
    for at in (END, END + dt.timedelta(days=20)):
        with _store(example, online_url, at) as store:
            online = store.get_online_features(FEATURES, [{"user_id": u} for u in users])
            offline = _offline(store, users, at)
            assert online.to_arrow().column_names == ["user_id", *(f.split(":")[1] for f in FEATURES)]
            for name in online.statuses:
                assert online.to_arrow().column(name).equals(offline.column(name)), (name, at)
                for value, status in zip(offline.column(name).to_pylist(), online.statuses[name], strict=True):
                    assert (status is FieldStatus.PRESENT) == (value is not None)
            statuses = online.statuses["daily_transactions"]
            assert statuses[-1] is FieldStatus.NOT_FOUND
            if at > END:
                assert statuses.count(FieldStatus.EXPIRED) > 0  # expired online exactly when null offline


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


def test_a_newer_row_written_meanwhile_survives_the_full_syncs_prune(online_url: str, tmp_path: Path) -> None:
    """A full sync whose snapshot predates an incremental sync's write must neither undo nor prune it."""
    from featurelayer._online.base import WriteBatch
    from featurelayer._online.connect import open_online_store

    store = open_online_store(online_url, tmp_path / "online.sqlite")
    key = "fl:t:{[1]}:v:s"

    def write(event: int, generation: int, value: int) -> int:
        return store.write(
            WriteBatch("v", [key], [event], [-1], [-1], [encode_values([value])], 1), generation, now_us=100
        )

    try:
        assert write(10, 1, 1) == 1  # an earlier full sync
        assert write(20, 0, 2) == 1  # an incremental sync: a newer row
        assert write(10, 5, 1) == 0  # a full sync that read its rows before that: older, not stored
        if online_url.startswith("redis"):  # (SQLite keeps the generation in a column, not in the value)
            assert decode_row(store.read([key])[0] or b"").generation == 5  # ... but the row takes its generation
        assert store.delete_older_generations("t", "v", 5, now_us=100) == 0
        [raw] = store.read([key])
        assert raw is not None
        assert (decode_row(raw).event, decode_row(raw).values) == (20, [2])
        assert write(30, 2, 3) == 1  # a newer row from an incremental sync keeps the greater generation
        assert store.delete_older_generations("t", "v", 5, now_us=100) == 0
        if online_url.startswith("redis"):
            assert decode_row(store.read([key])[0] or b"").generation == 5
    finally:
        store.close()


def test_value_types_and_statuses_round_trip(project_dir: Path, online_url: str) -> None:
    build(project_dir, [Row((1,), BASE, None, 10)], [Row((1, "x"), BASE, None, 20)], ttl=60)
    features = [f"view_types:{f}" for f in ("f32", "happened_at", "day", "amount", "flag", "label", "small")]
    features.append("view_a:a_value")
    rows = [{"k1": 1}, {"k1": 2}, {"k1": 3}]
    with FeatureStore(project_dir, online_url=online_url, clock=lambda: BASE) as store:
        store.sync(full=True)  # at minute 0 view_a's row (minute 0, ttl 60 s) is valid ...
    at = _minutes(30)  # ... and by minute 30 it has expired
    with FeatureStore(project_dir, online_url=online_url, clock=lambda: at) as store:
        online = store.get_online_features(features, rows)
        offline = store.get_historical_features(
            pd.DataFrame({"k1": [1, 2, 3], "event_timestamp": [at] * 3}), features
        ).to_arrow()
    table = online.to_arrow()
    assert table.schema.field("f32").type == pa.float32()
    assert table.schema.field("happened_at").type == pa.timestamp("us")
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("amount").type == pa.decimal128(10, 2)
    assert table.schema.field("small").type == pa.int16()
    for name in online.statuses:
        assert table.column(name).equals(offline.column(name)), name
    assert table.column("happened_at")[0].as_py() == dt.datetime(2024, 6, 1, 12, 34, 56, 789012)
    assert online.statuses["f32"] == [FieldStatus.PRESENT, FieldStatus.NULL, FieldStatus.NOT_FOUND]
    assert online.statuses["a_value"] == [FieldStatus.EXPIRED, FieldStatus.NOT_FOUND, FieldStatus.NOT_FOUND]


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
        tags = {store.registry.feature_view(v).schema_tag for v in ("user_activity", "user_profile")}
        if online_url.startswith("redis"):
            client = redis.Redis.from_url(online_url)
            old_keys = []
            for key in client.keys("fl:*{*"):
                old_keys.append(key.decode().rsplit(":", 1)[0] + ":00000000")
                client.rename(key, old_keys[-1])
        else:
            with sqlite3.connect(online_url.removeprefix("sqlite://")) as connection:
                for tag in tags:
                    connection.execute("update online_rows set key = replace(key, ?, '00000000')", (tag,))
                old_keys = [k for (k,) in connection.execute("select key from online_rows")]
        assert old_keys and all(key.endswith(":00000000") for key in old_keys)
        assert store.get_online_features(FEATURES, [{"user_id": u} for u in users]).to_dict() != expected
    with _store(example, online_url, END + dt.timedelta(seconds=1)) as store:  # a later sync: another generation
        report = store.sync()
        assert {v.mode for v in report.views} == {"full"}
        assert sum(v.removed for v in report.views) == len(old_keys)  # the rows under the old tag are gone
        assert store.get_online_features(FEATURES, [{"user_id": u} for u in users]).to_dict() == expected
        assert {v.mode for v in store.sync().views} == {"incremental"}  # and incremental again after it


def test_request_errors_are_clear(example: Path, online_url: str) -> None:
    with _store(example, online_url, END) as store:
        with pytest.raises(ValidationError, match=r"lack join key\(s\) \['user_id'\]"):
            store.get_online_features(FEATURES, [{"customer": 1}])
        with pytest.raises(ValidationError, match="Did you mean 'user_profile'"):
            store.get_online_features(["user_profil:plan"], [{"user_id": 1}])
        with pytest.raises(ValidationError, match="does not fit"):
            store.get_online_features(["user_profile:plan"], [{"user_id": "not a number"}])
        with pytest.raises(ValidationError, match="same keys"):
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}, {"uid": 2}])
        with pytest.raises(ValidationError, match="has no 'x'"):  # a mapping that invents keys is not trusted
            store.get_online_features(["user_profile:plan"], [{"user_id": 1, "x": 2}, defaultdict(int, user_id=2)])
        with pytest.raises(ValidationError, match="list of dicts"):
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}, 2])


# --- Redis faults ------------------------------------------------------------------------------


@pytest.mark.redis
def test_a_dead_redis_gives_a_clear_error_and_recovers(example: Path, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        with _store(example, server.url, END) as store:
            store.sync(full=True)
            assert store.get_online_features(["user_profile:plan"], [{"user_id": 1}]).to_dict()["plan"][0]
            server.stop()
            with pytest.raises(OnlineStoreError, match=rf"Redis at redis://127.0.0.1:{server.port}/0 failed"):
                store.get_online_features(["user_profile:plan"], [{"user_id": 1}])
            with pytest.raises(OnlineStoreError, match="failed while"):
                store.sync(full=True)
            server.start()  # an empty server: it keeps nothing on disk
            assert store.sync(full=True).written > 0  # the watermark was lost with the data: full again
            assert store.get_online_features(["user_profile:plan"], [{"user_id": 1}]).to_dict()["plan"][0]
    finally:
        server.stop()


@pytest.mark.redis
def test_reads_keep_idle_connections_that_threads_share_and_survive_a_restart(example: Path, tmp_path: Path) -> None:
    """Reads keep idle connections instead of taking one from the pool each time: threads that come
    and go reuse them (no leak), and after a restart closed them all a read still succeeds."""
    from concurrent.futures import ThreadPoolExecutor

    server = RedisServer(tmp_path / "redis").start()
    rows = [{"user_id": u} for u in _users(example)[:20]]
    try:
        with _store(example, server.url, END) as store:
            store.sync(full=True)
            expected = store.get_online_features(FEATURES, rows).to_dict()
            for _ in range(5):
                with ThreadPoolExecutor(4) as pool:
                    answers = list(
                        pool.map(lambda i: store.get_online_features(FEATURES, rows[i:]).to_dict(), range(20))
                    )
                for i, answer in enumerate(answers):
                    assert answer == {name: values[i:] for name, values in expected.items()}
            clients = redis.Redis.from_url(server.url).client_list()
            assert len(clients) <= 4 + 4  # the readers', the sync's and this one (a leak: 20 and more)
            server.stop()
            server.start()  # every kept connection is now closed by the other end
            store.sync(full=True)
            assert store.get_online_features(FEATURES, rows).to_dict() == expected
    finally:
        server.stop()


@pytest.mark.redis
def test_auth_and_bad_urls(example: Path, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", "--requirepass", "s3cret-pw").start()
    try:
        good = f"redis://:s3cret-pw@127.0.0.1:{server.port}/0"
        with _store(example, good, END) as store:
            assert store.sync(views=["user_profile"], full=True).written > 0
        bad = f"redis://:wrong-pw@127.0.0.1:{server.port}/0"
        with _store(example, bad, END) as store, pytest.raises(OnlineStoreError) as caught:
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}])
        assert "wrong-pw" not in str(caught.value) and ":***@" in str(caught.value)
        with _store(example, "memcached://127.0.0.1:1", END) as store, pytest.raises(OnlineStoreError, match="scheme"):
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}])
    finally:
        server.stop()


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
            return dict(connection.execute("select key, value from online_rows").fetchall())
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


def test_kill_9_mid_sync_leaves_old_or_new_and_serving_goes_on(example: Path, online_url: str, tmp_path: Path) -> None:
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
        for _ in range(6):  # let a few batches land, then kill it without warning
            assert child.stdout.readline(), "the sync ended before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

    mid = _snapshot(online_url)
    for key in old.keys() | new.keys():
        assert mid.get(key) in (old.get(key), new.get(key)), key  # each key old or new, never torn
    assert any(mid.get(key) == new.get(key) != old.get(key) for key in new)  # the killed sync did write
    with _store(example, online_url, END) as store:
        users = _users(example)
        assert store.get_online_features(FEATURES, {"user_id": users}).to_arrow().num_rows == len(users)
        store.sync(full=True)  # and a re-run completes the job
    after = _snapshot(online_url)
    assert {key: after.get(key) for key in new} == new
    for key in after.keys() - new.keys():  # only rows that expired since the older sync remain
        assert decode_row(after[key]).expired_at(micros(END)), key


@pytest.mark.redis
def test_every_stored_value_decodes(example: Path, redis_url: str) -> None:
    with _store(example, redis_url, END) as store:
        store.sync(full=True)
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter(match="fl:*{*")]
    assert keys
    for value in client.mget(keys):
        row = decode_row(value)
        assert row.event > 0 and isinstance(row.values, list)


@pytest.mark.redis
def test_a_corrupt_stored_value_is_an_online_store_error_and_a_full_sync_mends_it(
    example: Path, redis_url: str
) -> None:
    with _store(example, redis_url, END) as store:
        store.sync(full=True)
        expected = store.get_online_features(["user_profile:plan"], [{"user_id": 1}]).to_dict()
        client = redis.Redis.from_url(redis_url)
        view = store.registry.feature_view("user_profile")
        key = entity_key(store.registry.project_name, view.name, [1], view.schema_tag)
        assert client.exists(key)
        client.set(key, b"not a row")  # hand-written, or another program's
        with pytest.raises(OnlineStoreError, match=r"feature view 'user_profile'.*sync --full"):
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}])
        store.sync(full=True)
        assert store.get_online_features(["user_profile:plan"], [{"user_id": 1}]).to_dict() == expected


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
        # the watermarks did not advance: only the mark that a sync of the view began
        assert set(store.online_store.get_meta(store.registry.project_name, "user_activity")) == {"sync_started"}


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.redis
def test_cli_sync_and_verify_find_skew(example: Path, redis_url: str) -> None:
    from click.testing import CliRunner

    from featurelayer.cli import main

    env = {"FEATURELAYER_REDIS_URL": redis_url}
    runner = CliRunner()
    result = runner.invoke(main, ["--project-dir", str(example), "sync", "--full"], env=env)
    assert result.exit_code == 0, result.output
    assert "rows read" in result.output and "rows/s" in result.output
    result = runner.invoke(main, ["--project-dir", str(example), "verify", "--sample", "30"], env=env)
    assert result.exit_code == 0 and "no skew" in result.output, result.output

    # corrupt one stored value behind featurelayer's back: the audit must notice
    client = redis.Redis.from_url(redis_url)
    key = next(iter(client.scan_iter(match="fl:*:user_profile:*")))
    row = decode_row(client.get(key))
    [value] = stored_rows(
        [row.event], [row.created], [row.valid_to], row.generation, [encode_values(["XX", "free", True])], 3
    )
    client.set(key, value)
    result = runner.invoke(main, ["--project-dir", str(example), "verify", "--sample", "1000"], env=env)
    assert result.exit_code == 1, result.output
    assert "mismatch" in result.output and "'XX'" in result.output


@pytest.mark.redis
def test_cli_sync_every_stops_on_sigterm(example: Path, redis_url: str) -> None:
    env = {**os.environ, "FEATURELAYER_REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "featurelayer.cli", "--project-dir", str(example), "sync", "--every", "1s"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        lines = [child.stdout.readline(), child.stdout.readline()]  # two runs
        assert all("synced" in line for line in lines), lines
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 0


def test_expired_rows_stay_expired_then_go_after_the_retention(project_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"  # Redis drops them by itself (PX); SQLite at a full sync
    build(project_dir, [Row((1,), BASE, None, 10)], [], ttl=60)
    with FeatureStore(project_dir, online_url=url, clock=lambda: BASE) as store:
        store.sync(full=True)
    for at, status in ((_minutes(30), FieldStatus.EXPIRED), (BASE + dt.timedelta(days=2), FieldStatus.NOT_FOUND)):
        with FeatureStore(project_dir, online_url=url, clock=lambda at=at: at) as store:
            store.sync(full=True)
            assert store.get_online_features(["view_a:a_value"], [{"k1": 1}]).statuses["a_value"] == [status]
