"""The production online store: Redis, or Redis Cluster, through a connection URL.

Writes and removals are Lua scripts (``redis_scripts``; registered with
redis-py, which loads them where a server lacks them), many rows per call and pipelined, so each key
is changed atomically and a sync killed half-way leaves it old or new. Reads
are one MGET. Every redis-py error becomes one ``OnlineStoreError`` line, in
one place (``_RedisErrors``), with the URL's password redacted.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._errors import OnlineStoreError
from .base import Removal, WriteBatch, Written, redact, scrub
from .codec import stored_rows, tombstone
from .redis_scripts import ADVANCE_LUA, REMOVE_LUA, WRITE_LUA

if TYPE_CHECKING:
    from redis.commands.core import Script

__all__ = ["RedisOnlineStore"]

#: Rows per script call on a single Redis; Redis Cluster gets one row per call
#: (a script's keys must share a slot, and each entity has its own). A script
#: holds Redis while it runs: 250 rows at ~7 µs a row is about 2 ms (estimated),
#: a stall online reads can absorb during a sync. 1,000 rows synced about 10%
#: faster (measured, medium preset) at four times the stall.
_ROWS_PER_CALL = 250


#: read connections kept open between reads, as many as reads overlapped, up to this
MAX_IDLE_READS = 64


class _RedisErrors:
    """Turns redis-py's errors inside the block into one ``OnlineStoreError`` line.

    The one place they are translated (httpx's ``map_exceptions`` is the model):
    ``with self._errors("writing"): ...``. A class, not a generator, because the
    online read path enters it on every request.
    """

    __slots__ = ("doing", "url")

    def __init__(self, url: str, doing: str) -> None:
        self.url, self.doing = url, doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, OnlineStoreError):  # (the read path's case: nothing to do)
            return
        import redis
        from redis.exceptions import RedisClusterException

        if isinstance(exc, redis.RedisError | RedisClusterException | ValueError):
            # one line, and nothing of the URL's secrets even where redis-py quotes them
            message = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.url)
            raise OnlineStoreError(f"Redis at {redact(self.url)} failed while {self.doing}: {message}") from None


class RedisOnlineStore:
    """Redis (or Redis Cluster) through a connection URL.

    URL forms: ``redis://[[user]:password@]host:port/db``, ``rediss://...`` for
    TLS (``?ssl_cert_reqs=none`` and friends as redis-py reads them), and
    ``?cluster=true`` for Redis Cluster, through one or several seed nodes
    (``redis://h1:7000,h2:7001?cluster=true`` or repeated ``&node=h3:7002``):
    a dead seed is skipped while another answers.

    Args:
        url: the connection URL; its password never appears in messages.
        retention_seconds: how long a row stays readable as *expired* after
            its valid_to; Redis drops it then.
        tombstone_seconds: how long a key removed by a full sync stays a
            tombstone, which a slower sync of an older snapshot cannot
            overwrite (docs/online-store.md).
    """

    concurrent_writes = 2  # one batch runs in Redis while the next is packed and sent

    def __init__(
        self,
        url: str,
        *,
        retention_seconds: int = 86_400,
        tombstone_seconds: int = 86_400,
        socket_timeout: float = 5.0,
    ) -> None:
        import redis

        self.url = url
        self.retention_ms = retention_seconds * 1000
        self.retention_us = retention_seconds * 1_000_000
        self.tombstone_ms = tombstone_seconds * 1000
        with _RedisErrors(url, "connecting"):
            base, seeds, self.cluster = _parse_url(url)
            if self.cluster:
                from redis.cluster import ClusterNode, RedisCluster

                self.client: Any = RedisCluster.from_url(
                    base,
                    startup_nodes=[ClusterNode(host, port) for host, port in seeds],  # type: ignore[no-untyped-call]
                    socket_timeout=socket_timeout,
                    socket_connect_timeout=socket_timeout,
                )
            else:
                self.client = redis.Redis.from_url(
                    base, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
                )
        self._write_script = self.client.register_script(WRITE_LUA)
        self._remove_script = self.client.register_script(REMOVE_LUA)
        self._advance_script = self.client.register_script(ADVANCE_LUA)
        self._idle_reads: list[Any] = []  # read connections between reads (see _mget)
        self._reads_pid = os.getpid()
        self._closed = False

    def _errors(self, doing: str) -> _RedisErrors:
        return _RedisErrors(self.url, doing)

    def ping(self) -> None:
        with self._errors("connecting"):
            self.client.ping()

    def _run_script(
        self, script: Script, keys: Sequence[str], shared: Sequence[Any], *per_key: Sequence[Any]
    ) -> list[int]:
        """Runs a many-key Lua script over ``keys``, one pipeline per server; sums its results' counts.

        Each call's ARGV is ``shared``, then each ``per_key`` column's values for
        the call's keys, column after column. Before it sends a pipeline, redis-py
        asks the server whether it has the script (``SCRIPT EXISTS``, one more
        round trip) and loads it where it does not (after a restart or a
        failover); should a script vanish in between, the batch fails and a
        re-run, which is idempotent, loads it again. On a cluster, keys are
        grouped by the node that owns them and each call carries one key (a
        script's keys must share a slot).
        """
        if self.cluster:
            groups: dict[str, tuple[Any, list[int]]] = {}
            for i, key in enumerate(keys):
                node = self.client.get_node_from_key(key)
                groups.setdefault(node.name, (self.client.get_redis_connection(node), []))[1].append(i)
            step = 1
        else:
            groups = {"": (self.client, list(range(len(keys))))}
            step = _ROWS_PER_CALL
        counts: list[list[Any]] = []  # one list of counts per script call
        for client, indices in groups.values():
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(indices), step):
                chunk = indices[start : start + step]
                script(
                    keys=[keys[i] for i in chunk],
                    args=[*shared, *(column[i] for column in per_key for i in chunk)],
                    client=pipe,
                )
            counts += pipe.execute()
        return [sum(int(c) for c in column) for column in zip(*counts, strict=True)]

    def write(self, batch: WriteBatch, snapshot: int, now_us: int, *, landing_us: int = 0) -> Written:
        """Writes a batch by the write rule, in one pipeline per server.

        A row with a valid_to expires in Redis ``retention`` after it (and no
        sooner than a tombstone would), counted from the sync's ``now``
        (relative PX, so a sync run with another clock than the server's, in a
        replay or a test, expires rows consistently); readers say *not found*
        once the retention has passed, whether Redis has dropped it or not.
        """
        if not len(batch):
            return Written()
        values = stored_rows(batch.events, batch.valid_tos, snapshot, now_us, batch.payloads, batch.width)
        # a row that ended its validity stays for the retention, and at least as long as a tombstone
        # would: dropped sooner, it would let a slower sync of an older snapshot write its key again
        retention_ms, floor_ms = self.retention_ms, self.tombstone_ms
        expiries = ["" if x == -1 else max(floor_ms, (x - now_us) // 1000 + retention_ms) for x in batch.valid_tos]
        with self._errors("writing"):
            shared = [snapshot, now_us, landing_us]
            stored, created = self._run_script(self._write_script, batch.keys, shared, values, expiries)
        return Written(stored, created)

    def read(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        with self._errors("reading"):
            if self.cluster:
                return list(self.client.mget_nonatomic(list(keys)))
            return self._mget(keys)

    def _mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """One MGET on a kept read connection, packed by hiredis in one call.

        redis-py packs a command argument by argument in Python (about 100 µs of
        a 100-row, two-view request: 200 keys), and taking a connection from its
        pool and handing it back checks the socket each time (about 25 µs), so
        reads keep their own idle connections, as many as ran at once. A
        connection that fails is dropped. A read that fails on a kept
        connection (the server closed it while idle, or restarted) drops every
        kept one, as they likely went the same way, and is retried once on a
        new connection from the pool, which checks it: reads are idempotent.
        """
        from hiredis import pack_command
        from redis.exceptions import ConnectionError

        command = pack_command(("MGET", *keys))  # type: ignore[arg-type]  # (its stub types a 1-tuple)
        connection, kept = self._take_read_connection()
        try:
            values = self._round_trip(connection, command)
        except ConnectionError:
            if not kept:
                raise
            self._drop_idle_reads()
            connection = self.client.connection_pool.get_connection()
            values = self._round_trip(connection, command)
        if self._closed or len(self._idle_reads) >= MAX_IDLE_READS:  # (a burst's extra connections: closed)
            self._drop_read_connection(connection)
        else:
            self._idle_reads.append(connection)  # (list.append and pop are atomic: no lock to hold at a fork)
        return values

    def _round_trip(self, connection: Any, command: bytes) -> list[bytes | None]:
        """Sends a packed command and reads its reply; a connection that fails is dropped, never
        handed back with half a reply unread."""
        try:
            connection.send_packed_command([command])
            values: list[bytes | None] = connection.read_response()
        except BaseException:
            self._drop_read_connection(connection)
            raise
        return values

    def _take_read_connection(self) -> tuple[Any, bool]:
        """An idle read connection and True, or a new one from the pool and False.

        Kept ones stay counted in use by the pool, so ``close()`` disconnects
        them with the others; a forked child starts with none of its parent's.
        """
        if self._reads_pid != os.getpid():
            self._idle_reads, self._reads_pid = [], os.getpid()
        try:
            return self._idle_reads.pop(), True
        except IndexError:
            return self.client.connection_pool.get_connection(), False

    def _drop_read_connection(self, connection: Any) -> None:
        connection.disconnect()
        self.client.connection_pool.release(connection)

    def _drop_idle_reads(self) -> None:
        idle, self._idle_reads = self._idle_reads, []
        for connection in idle:
            self._drop_read_connection(connection)

    def _scan(self, pattern: str) -> Iterator[list[str]]:
        batch: list[str] = []
        for key in self.client.scan_iter(match=pattern, count=2_000):
            batch.append(key.decode() if isinstance(key, bytes) else key)
            if len(batch) >= 2_000:
                yield batch
                batch = []
        if batch:
            yield batch

    def remove_unseen(
        self, project: str, view: str, snapshot: int, now_us: int, *, dry_run: bool = False, landing_us: int = 0
    ) -> Removal:
        """A full sync's removal pass over the view's keys (see ``REMOVE_LUA``), one SCAN."""
        grave = tombstone(snapshot, now_us)
        shared = [snapshot, now_us, self.retention_us, grave, self.tombstone_ms, "1" if dry_run else "0", landing_us]
        with self._errors("removing rows no longer valid"):
            pattern = f"fl:{_glob(project)}:{{*}}:{_glob(view)}:*"
            scans = [self._run_script(self._remove_script, keys, shared) for keys in self._scan(pattern)]
        return Removal(*(sum(column) for column in zip(*scans, strict=True))) if scans else Removal()

    def get_meta(self, project: str, view: str) -> dict[str, str]:
        with self._errors("reading the sync watermark"):
            raw = self.client.hgetall(meta_key(project, view))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def set_meta(self, project: str, view: str, values: dict[str, str]) -> None:
        with self._errors("writing the sync watermark"):
            self.client.hset(meta_key(project, view), mapping=values)

    def add_to_meta(self, project: str, view: str, field: str, amount: int) -> None:
        if amount:
            with self._errors("writing the sync watermark"):
                self.client.hincrby(meta_key(project, view), field, amount)

    def advance_meta(self, project: str, view: str, values: dict[str, int]) -> None:
        with self._errors("writing the sync watermark"):
            self._advance_script(keys=[meta_key(project, view)], args=[x for kv in values.items() for x in kv])

    def close(self) -> None:
        self._closed = True  # a read still running drops its connection instead of keeping it
        self._drop_idle_reads()
        self.client.close()


def meta_key(project: str, view: str) -> str:
    """The hash of a view's sync state: watermark, snapshot, schema tag, row count."""
    return f"fl:{project}:meta:{view}"


def _parse_url(url: str) -> tuple[str, list[tuple[str, int]], bool]:
    """The URL for redis-py (one host, featurelayer's own parameters taken out), the other cluster seed
    nodes, and whether it names a cluster.

    Raises:
        OnlineStoreError: a malformed seed list, a port out of range, or several hosts without a cluster.
    """
    scheme, separator, rest = url.partition("://")
    userinfo, at, after = rest.rpartition("@")
    end = min((i for i in (after.find("/"), after.find("?")) if i != -1), default=len(after))
    hosts, tail = after[:end], after[end:]
    path, _, query_text = tail.partition("?")
    query = urllib.parse.parse_qsl(query_text, keep_blank_values=True)
    cluster = any(k == "cluster" and v.lower() in {"1", "true", "yes"} for k, v in query)
    seeds = [h for h in hosts.split(",") if h] + [v for k, v in query if k == "node"]
    rest_query = urllib.parse.urlencode([(k, v) for k, v in query if k not in {"cluster", "node"}])
    if not seeds and scheme != "unix":
        raise OnlineStoreError(f"Redis URL {redact(url)} names no host: use redis://host:6379/0.")
    if len(seeds) > 1 and not cluster:
        raise OnlineStoreError(
            f"Redis URL {redact(url)} names {len(seeds)} hosts: several seed nodes are for Redis Cluster; "
            "add ?cluster=true, or name one host."
        )
    nodes = [_host_port(seed, url) for seed in seeds] if cluster else []
    first = seeds[0] if seeds else hosts
    base = f"{scheme}{separator}{userinfo}{at}{first}{path}" + (f"?{rest_query}" if rest_query else "")
    return base, nodes[1:], cluster


def _host_port(seed: str, url: str) -> tuple[str, int]:
    host, _, port = seed.rpartition(":") if not seed.endswith("]") else (seed, "", "")
    try:
        number = int(port or 6379)
        if not 0 < number < 65536:
            raise ValueError
    except ValueError:
        raise OnlineStoreError(
            f"Redis URL {redact(url)}: seed node {seed!r} has no valid port (1-65535): write host:port."
        ) from None
    return host.strip("[]") or "127.0.0.1", number


def _glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]\\" else c for c in text)
