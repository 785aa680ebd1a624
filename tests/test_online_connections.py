"""The connection URL's promises against real servers: Redis Cluster and TLS."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis

from featurelayer import FeatureStore

from .support.projects import EXAMPLE_END
from .support.services import RedisServer, free_port, private_server_args, redis_server_binary

pytestmark = [pytest.mark.slow, pytest.mark.redis]

END = EXAMPLE_END
FEATURES = ["user_activity:daily_transactions", "user_activity:avg_transaction_value_7d", "user_profile:plan"]


def _check_sync_and_read(example: Path, url: str) -> None:
    with FeatureStore(example, online_url=url, clock=lambda: END) as store:
        report = store.sync(full=True)
        assert report.rows > 0
        users = list(range(1, 41))
        online = store.get_online_features(FEATURES, {"user_id": users})
        offline = store.get_historical_features(
            pd.DataFrame({"user_id": users, "event_timestamp": [END] * len(users)}), FEATURES
        ).to_arrow()
        for name in online.statuses:
            assert online.to_arrow().column(name).equals(offline.column(name)), name
        assert store.sync().rows >= 0  # incremental, with the watermark kept in the store


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    """Three primaries on free ports, slots split in three, joined with CLUSTER MEET."""
    folder = tmp_path_factory.mktemp("cluster")
    bus_ports = [free_port() for _ in range(3)]  # the default bus port, port + 10000, may not exist
    nodes = [
        RedisServer(
            folder / f"n{i}",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{i}.conf",
            "--cluster-port",
            str(bus_ports[i]),
        ).start()
        for i in range(3)
    ]
    try:
        clients = [redis.Redis(port=n.port) for n in nodes]
        bounds = [(0, 5460), (5461, 10922), (10923, 16383)]
        for client, (low, high) in zip(clients, bounds, strict=True):
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
        for node, bus_port in zip(nodes[1:], bus_ports[1:], strict=True):
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, bus_port)
        deadline = time.monotonic() + 30
        while not all(c.execute_command("CLUSTER", "INFO").decode().find("cluster_state:ok") >= 0 for c in clients):
            assert time.monotonic() < deadline, "the cluster did not form"
            time.sleep(0.2)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def test_redis_cluster_through_the_url(example: Path, cluster: list[RedisServer]) -> None:
    url = f"redis://127.0.0.1:{cluster[0].port}/0?cluster=true"
    _check_sync_and_read(example, url)
    # the rows really are spread over the nodes, one entity's views in one slot
    counts = [redis.Redis(port=n.port).dbsize() for n in cluster]
    assert sum(counts) > 0 and all(c > 0 for c in counts), counts
    node = redis.Redis(port=cluster[0].port)
    for key in node.scan_iter(match="fl:*{*", count=1000):
        entity = key.decode().split("{", 1)[1].split("}", 1)[0]
        assert node.execute_command("CLUSTER", "KEYSLOT", f"{{{entity}}}:x") == node.execute_command(
            "CLUSTER", "KEYSLOT", key
        )
        break


def test_redis_cluster_through_several_seed_nodes_one_of_them_dead(example: Path, cluster: list[RedisServer]) -> None:
    dead = free_port()
    seeds = f"127.0.0.1:{dead},127.0.0.1:{cluster[1].port}"
    _check_sync_and_read(example, f"redis://{seeds}/0?cluster=true")
    _check_sync_and_read(example, f"redis://127.0.0.1:{dead}/0?cluster=true&node=127.0.0.1:{cluster[2].port}")


def test_cluster_errors_are_one_line_without_the_secret(example: Path, cluster: list[RedisServer]) -> None:
    from featurelayer import OnlineStoreError

    dead = [free_port(), free_port()]
    for url in (
        f"redis://:hunter2-secret@127.0.0.1:{dead[0]},127.0.0.1:{dead[1]}/0?cluster=true",  # every seed dead
        f"redis://nobody:hunter2-secret@127.0.0.1:{cluster[0].port}/0?cluster=true",  # a user the nodes lack
        "redis://:hunter2-secret@127.0.0.1:99999/0?cluster=true",  # a port out of range
        "redis://:hunter2-secret@127.0.0.1:6379,127.0.0.1:6380/0",  # several hosts, no cluster
    ):
        with (
            pytest.raises(OnlineStoreError) as raised,
            FeatureStore(example, online_url=url, clock=lambda: END) as store,
        ):
            store.get_online_features(FEATURES, [{"user_id": 1}])
        message = str(raised.value)
        assert "hunter2" not in message and "\n" not in message and "***" in message, message


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """redis-server speaking only TLS, with a self-signed certificate made here."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            "0",
            "--tls-port",
            str(port),
            *private_server_args(folder),
            "--tls-cert-file",
            str(folder / "cert.pem"),
            "--tls-key-file",
            str(folder / "key.pem"),
            "--tls-ca-cert-file",
            str(folder / "cert.pem"),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            "tls-secret",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(
                    host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(folder / "cert.pem"), password="tls-secret"
                ).ping()
                break
            except redis.RedisError:
                assert time.monotonic() < deadline and process.poll() is None, "TLS redis-server did not start"
                time.sleep(0.1)
        yield port, folder / "cert.pem"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_tls_and_auth_through_the_url(example: Path, tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    _check_sync_and_read(example, f"rediss://:tls-secret@127.0.0.1:{port}/0?ssl_ca_certs={ca}")
    with FeatureStore(example, online_url=f"redis://:tls-secret@127.0.0.1:{port}/0", clock=lambda: END) as store:
        from featurelayer import OnlineStoreError

        with pytest.raises(OnlineStoreError, match=r"redis://\*\*\*@127.0.0.1"):
            store.get_online_features(FEATURES, [{"user_id": 1}])  # plain TCP to a TLS port


def test_store_urls_take_a_retention_and_a_tombstone_lifetime(tmp_path: Path) -> None:
    from featurelayer import OnlineStoreError
    from featurelayer._online.connect import open_online_store

    store = open_online_store(f"sqlite:///{tmp_path}/x.sqlite?retention=2h&tombstones=30m", tmp_path / "default")
    try:
        assert store.path == Path(f"/{tmp_path}/x.sqlite")  # the path as written, not folded by the query
        assert (store.retention_us, store.tombstone_us) == (7_200_000_000, 1_800_000_000)  # type: ignore[attr-defined]
    finally:
        store.close()
    with pytest.raises(OnlineStoreError, match=r"retention is not a duration longer than 0"):
        open_online_store("redis://:secret@localhost:1/0?retention=soon", tmp_path / "default")
    with pytest.raises(OnlineStoreError, match="tombstones is not a duration") as raised:
        open_online_store("redis://:secret@localhost:1/0?tombstones=0", tmp_path / "default")
    assert "secret" not in str(raised.value)


SECRET = "Pa#ss/w?rd@x"  # unencoded characters that split a URL in the wrong places
HOSTILE_URLS = [
    f"redis://:{SECRET}@127.0.0.1:1/0",
    f"redis://alice:{SECRET}@127.0.0.1:1/0",
    f"rediss://alice:{SECRET}@127.0.0.1:1/0?ssl_cert_reqs=none",
    f"redis://127.0.0.1:1/0?password={SECRET}",
    f"redis://127.0.0.1:1/0?username={SECRET}&password=x",
    f"rediss://127.0.0.1:1/0?ssl_password={SECRET}",
    f"redis://:{SECRET}@127.0.0.1:99999/0",
    f"redis://:{SECRET}@127.0.0.1:1,127.0.0.1:2/0?cluster=true",
    f"redis://:{SECRET}@[::1/0",
    f"unix://:{SECRET}@/nonexistent/redis.sock?db=0",
    f"ftp://:{SECRET}@host/",
]


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=[str(i) for i in range(len(HOSTILE_URLS))])
def test_no_spelling_of_a_url_prints_its_secret(url: str, tmp_path: Path) -> None:
    """Whatever the URL, the one-line error, its repr and the redacted URL hold no part of the secret."""
    from featurelayer import OnlineStoreError
    from featurelayer._online.base import redact
    from featurelayer._online.connect import open_online_store

    with pytest.raises(OnlineStoreError) as raised:
        store = open_online_store(url, tmp_path / "online.sqlite")
        try:
            store.ping()
        finally:
            store.close()
    for text in (str(raised.value), repr(raised.value), redact(url)):
        assert "\n" not in text
        assert not any(part in text for part in ("Pa#ss", "ss/w", "w?rd", SECRET)), text
