"""Redis faults: a dead server, idle connections across a restart, auth and bad URLs, a corrupt value.

Each test starts a redis-server of its own (``RedisServer``) or uses a clean database
of the session's one; a fault must end in a clear ``OnlineStoreError``, and serving
must recover once the cause is gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from featurelayer import OnlineStoreError
from featurelayer._online.codec import entity_key, view_schema_tag

from .support.online import END, FEATURES, _store, _users
from .support.services import RedisServer

pytestmark = pytest.mark.slow


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
def test_a_burst_of_reads_keeps_at_most_the_cap_of_idle_connections(
    example: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More reads at once than the cap: the extra connections are closed after, not kept open for good."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from featurelayer._online import redis_store

    monkeypatch.setattr(redis_store, "MAX_IDLE_READS", 2)
    rows = [{"user_id": u} for u in _users(example)[:5]]
    with _store(example, redis_url, END) as store:
        store.sync(full=True)
        start = threading.Barrier(8)

        def read(_: int) -> int:
            start.wait()  # all eight at once, so eight connections are in use together
            return len(store.get_online_features(FEATURES, rows).to_dict()["plan"])

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(read, range(8))) == [5] * 8
        online = store.online_store
        assert isinstance(online, redis_store.RedisOnlineStore)
        assert len(online._idle_reads) <= 2


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
        assert "wrong-pw" not in str(caught.value) and "redis://***@" in str(caught.value)
        with _store(example, "memcached://127.0.0.1:1", END) as store, pytest.raises(OnlineStoreError, match="scheme"):
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}])
    finally:
        server.stop()


@pytest.mark.redis
def test_a_corrupt_stored_value_is_an_online_store_error_and_a_full_sync_mends_it(
    example: Path, redis_url: str
) -> None:
    with _store(example, redis_url, END) as store:
        store.sync(full=True)
        expected = store.get_online_features(["user_profile:plan"], [{"user_id": 1}]).to_dict()
        client = redis.Redis.from_url(redis_url)
        view = store.registry.feature_view("user_profile")
        key = entity_key(store.registry.project_name, view.name, [1], view_schema_tag(view))
        assert client.exists(key)
        client.set(key, b"not a row")  # hand-written, or another program's
        with pytest.raises(OnlineStoreError, match=r"feature view 'user_profile'.*sync --full"):
            store.get_online_features(["user_profile:plan"], [{"user_id": 1}])
        store.sync(full=True)
        assert store.get_online_features(["user_profile:plan"], [{"user_id": 1}]).to_dict() == expected


@pytest.mark.redis
def test_a_server_that_lost_its_scripts_loads_them_again(example: Path, redis_url: str) -> None:
    """After a restart or failover Redis has no scripts: the write and the removal pass load them again."""
    with _store(example, redis_url, END) as store:
        first = store.sync(full=True)
        redis.Redis.from_url(redis_url).script_flush()
        again = store.sync(full=True)  # rewrites every row, then runs the removal pass
        redis.Redis.from_url(redis_url).script_flush()
        online = store.get_online_features(["user_profile:plan"], [{"user_id": 1}]).to_dict()
    assert first.written > 0 and again.written == first.written
    assert online["plan"][0] is not None
