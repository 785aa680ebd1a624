"""Online stores: Redis for production, SQLite embedded for a laptop.

Both keep the same contract (docs/online-store.md):

- ``write`` stores rows atomically per key and never replaces a row with an
  older one: the stored (event, created) pair is compared inside the store
  (a Lua script in Redis, a conditional upsert in SQLite), so re-running a
  sync is idempotent and racing syncs cannot go backwards;
- ``read`` fetches any number of keys in one round trip (MGET);
- a crash between writes leaves every key either old or new.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._errors import OnlineStoreError
from ._online_codec import stored_rows

__all__ = ["OnlineStore", "RedisOnlineStore", "SqliteOnlineStore", "WriteBatch", "open_online_store", "redact"]


@dataclass(frozen=True)
class WriteBatch:
    """Rows of one view to store, column by column (no object per row: the sync writes millions).

    ``events``, ``createds`` and ``valid_tos`` are µs since the epoch; a
    created of -1 means the view has none, a valid_to of -1 that the row is
    open-ended. ``payloads`` are the rows' packed values (``encode_columns``),
    ``width`` values each: the view's features.
    """

    view: str
    keys: list[str]
    events: list[int]
    createds: list[int]
    valid_tos: list[int]
    payloads: list[bytes]
    width: int

    def __len__(self) -> int:
        return len(self.keys)


class OnlineStore(Protocol):
    #: write batches a sync may have in flight at once
    concurrent_writes: int

    def write(self, batch: WriteBatch, generation: int, now_us: int) -> int: ...
    def read(self, keys: Sequence[str]) -> list[bytes | None]: ...
    def delete_older_generations(self, project: str, view: str, generation: int, now_us: int) -> int: ...
    def get_meta(self, project: str, view: str) -> dict[str, str]: ...
    def set_meta(self, project: str, view: str, values: dict[str, str]) -> None: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``: secrets are never printed."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# --- Redis ----------------------------------------------------------------------------------

# Many rows per call. KEYS: the rows' keys. ARGV[1]: generation; then for each key the row
# as stored under this generation (_online_codec: a MessagePack array whose valid_to,
# event, created and generation are int64s at fixed byte offsets), stored as it came in the
# common case, then for each key its expiry in ms ('' = never).
# A stored row with a greater (event, created) wins; an equal one is overwritten (idempotent).
# Either way the greatest generation seen is kept, so a full sync's cleanup spares rows an
# incremental sync wrote meanwhile (KEEPTTL: Redis 6 or newer). The generation is moved
# between rows as its 8 bytes, never through a Lua number; µs timestamps compare exactly
# as Lua numbers (doubles) up to 2^53 µs, the year 2255. A value in no layout featurelayer
# knows (hand-written, or from an older version) is replaced. A script runs atomically:
# each key is old or new, whatever happens to the client.
_ROW_LUA = """
-- bytes 1-3: array16 header; then 0xd3 and 8 bytes each: valid_to 5-12, event 14-21,
-- created 23-30, generation 32-39; values from byte 40
local function ours(row)
  return #row >= 39 and string.byte(row, 1) == 0xdc and string.byte(row, 4) == 0xd3
    and string.byte(row, 13) == 0xd3 and string.byte(row, 22) == 0xd3 and string.byte(row, 31) == 0xd3
end
local function field(row, at)
  return (struct.unpack('>i8', row, at))
end
"""

_WRITE_LUA = (
    _ROW_LUA
    + """
local gen, n = tonumber(ARGV[1]), #KEYS
local written = 0
for i = 1, n do
  local value, px = ARGV[i + 1], ARGV[n + i + 1]
  local cur = redis.call('GET', KEYS[i])
  local older = false
  if cur and ours(cur) then
    local e, c, ce, cc = field(value, 14), field(value, 23), field(cur, 14), field(cur, 23)
    if ce > e or (ce == e and cc > c) then
      older = true
      if field(cur, 32) < gen then
        -- the stored row is newer and stays, under this generation: a full sync whose snapshot
        -- predates it (an incremental sync wrote it meanwhile) must not prune it afterwards
        local kept = string.sub(cur, 1, 31) .. string.sub(value, 32, 39) .. string.sub(cur, 40)
        redis.call('SET', KEYS[i], kept, 'KEEPTTL')
      end
    elseif field(cur, 32) > gen then
      value = string.sub(value, 1, 31) .. string.sub(cur, 32, 39) .. string.sub(value, 40)
    end
  end
  if not older then
    if px == '' then
      redis.call('SET', KEYS[i], value)
    else
      redis.call('SET', KEYS[i], value, 'PX', px)
    end
    written = written + 1
  end
end
return written
"""
)

# KEYS: rows of a view; ARGV[1] generation, ARGV[2] now (µs): delete each row that the full
# sync of that generation did not write and that has not simply expired (an expired row
# stays readable as expired until its retention runs out). A row in another layout (an
# older featurelayer's) is unreachable for readers of this one, whose keys differ: deleted.
_DELETE_OLD_LUA = (
    _ROW_LUA
    + """
local deleted = 0
local gen, now = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  if cur then
    local stale = not ours(cur)
    if not stale then
      local cx = field(cur, 5)
      stale = field(cur, 32) < gen and (cx == -1 or cx > now)
    end
    if stale then
      redis.call('DEL', KEYS[i])
      deleted = deleted + 1
    end
  end
end
return deleted
"""
)

#: Rows per script call on a single Redis; Redis Cluster gets one row per call
#: (a script's keys must share a slot, and each entity has its own). A script
#: holds Redis while it runs: 250 rows at ~7 µs a row is about 2 ms (estimated),
#: a stall online reads can absorb during a sync. 1,000 rows synced about 10%
#: faster (measured, medium preset) at four times the stall.
_ROWS_PER_CALL = 250


class RedisOnlineStore:
    """Redis (or Redis Cluster) through a connection URL.

    URL forms: ``redis://[[user]:password@]host:port/db``, ``rediss://...`` for
    TLS (``?ssl_cert_reqs=none`` and friends as redis-py reads them), and
    ``?cluster=true`` for Redis Cluster (any node's address).

    Args:
        url: the connection URL; its password never appears in messages.
        retention_seconds: how long a row stays readable as *expired* after
            its valid_to before Redis drops it.
    """

    concurrent_writes = 2  # one batch runs in Redis while the next is packed and sent

    def __init__(self, url: str, *, retention_seconds: int = 86_400, socket_timeout: float = 5.0) -> None:
        import redis

        self.url = url
        self.retention_ms = retention_seconds * 1000
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        self.cluster = query.pop("cluster", ["false"])[-1].lower() in {"1", "true", "yes"}
        clean = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, doseq=True)))
        try:
            if self.cluster:
                from redis.cluster import RedisCluster

                self.client: Any = RedisCluster.from_url(clean, socket_timeout=socket_timeout)
            else:
                self.client = redis.Redis.from_url(
                    clean, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
                )
        except (redis.RedisError, ValueError) as exc:
            raise OnlineStoreError(f"Cannot use Redis URL {redact(url)}: {exc}") from exc
        self._shas: dict[tuple[str, str], str] = {}
        self._idle_reads: list[Any] = []  # read connections between reads (see _mget)
        self._reads_pid = os.getpid()
        self._closed = False

    def _fail(self, exc: Exception, doing: str) -> OnlineStoreError:
        return OnlineStoreError(f"Redis at {redact(self.url)} failed while {doing}: {exc}")

    def ping(self) -> None:
        import redis

        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise self._fail(exc, "connecting") from exc

    def _run_script(self, script: str, keys: Sequence[str], shared: Sequence[Any], *per_key: Sequence[Any]) -> int:
        """Runs a many-key Lua script over ``keys``, one pipelined round trip per server; sums its results.

        Each call's ARGV is ``shared``, then each ``per_key`` column's values for
        the call's keys, column after column.

        The script is loaded on first use, and again if a server forgot it (a
        restart or a failover): the calls are idempotent, so a retry is safe.
        On a cluster, keys are grouped by the node that owns them and each call
        carries one key (a script's keys must share a slot).
        """
        import redis

        if self.cluster:
            groups: dict[str, tuple[Any, list[int]]] = {}
            for i, key in enumerate(keys):
                node = self.client.get_node_from_key(key)
                groups.setdefault(node.name, (self.client.get_redis_connection(node), []))[1].append(i)
            step = 1
        else:
            groups = {"": (self.client, list(range(len(keys))))}
            step = _ROWS_PER_CALL
        total = 0
        for name, (client, indices) in groups.items():
            for attempt in range(2):
                sha_key = (name, script)
                if sha_key not in self._shas:
                    self._shas[sha_key] = client.script_load(script)
                pipe = client.pipeline(transaction=False)
                for start in range(0, len(indices), step):
                    chunk = indices[start : start + step]
                    args = [column[i] for column in per_key for i in chunk]
                    pipe.evalsha(self._shas[sha_key], len(chunk), *(keys[i] for i in chunk), *shared, *args)
                try:
                    total += sum(int(r) for r in pipe.execute())
                    break
                except redis.exceptions.NoScriptError:
                    self._shas.pop(sha_key, None)
                    if attempt:
                        raise
        return total

    def write(self, batch: WriteBatch, generation: int, now_us: int) -> int:
        """Writes a batch in one pipelined round trip; returns how many rows were stored (not older).

        A row with a valid_to expires in Redis ``retention`` after it, counted
        from the sync's ``now`` (relative PX, so a sync run with another clock
        than the server's, in a replay or a test, expires rows consistently).
        """
        import redis

        if not len(batch):
            return 0
        values = stored_rows(batch.events, batch.createds, batch.valid_tos, generation, batch.payloads, batch.width)
        retention_ms = self.retention_ms
        expiries = ["" if x == -1 else max(1, (x - now_us) // 1000 + retention_ms) for x in batch.valid_tos]
        try:
            return self._run_script(_WRITE_LUA, batch.keys, [generation], values, expiries)
        except redis.RedisError as exc:
            raise self._fail(exc, "writing") from exc

    def read(self, keys: Sequence[str]) -> list[bytes | None]:
        import redis

        if not keys:
            return []
        try:
            if self.cluster:
                return list(self.client.mget_nonatomic(list(keys)))
            return self._mget(keys)
        except redis.RedisError as exc:
            raise self._fail(exc, "reading") from exc

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
        if self._closed:
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

    def delete_older_generations(self, project: str, view: str, generation: int, now_us: int) -> int:
        """Deletes the view's rows that the full sync of ``generation`` did not write (no longer valid)."""
        import redis

        deleted = 0
        try:
            for keys in self._scan(f"fl:{_glob(project)}:{{*}}:{_glob(view)}:*"):
                deleted += self._run_script(_DELETE_OLD_LUA, keys, [generation, now_us])
        except redis.RedisError as exc:
            raise self._fail(exc, "removing rows no longer valid") from exc
        return deleted

    def _meta_key(self, project: str, view: str) -> str:
        return f"fl:{project}:meta:{view}"

    def get_meta(self, project: str, view: str) -> dict[str, str]:
        import redis

        try:
            raw = self.client.hgetall(self._meta_key(project, view))
        except redis.RedisError as exc:
            raise self._fail(exc, "reading the sync watermark") from exc
        return {k.decode(): v.decode() for k, v in raw.items()}

    def set_meta(self, project: str, view: str, values: dict[str, str]) -> None:
        import redis

        try:
            self.client.hset(self._meta_key(project, view), mapping=values)
        except redis.RedisError as exc:
            raise self._fail(exc, "writing the sync watermark") from exc

    def close(self) -> None:
        self._closed = True  # a read still running drops its connection instead of keeping it
        self._drop_idle_reads()
        self.client.close()


def _glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]\\" else c for c in text)


# --- SQLite ----------------------------------------------------------------------------------


class SqliteOnlineStore:
    """The embedded online store: one SQLite file, no server.

    Each write batch is one transaction, and the upsert only replaces a row
    with a newer (event, created): the same guarantees as the Redis store.
    Expired rows stay readable as *expired*, like Redis within its retention.
    """

    concurrent_writes = 1  # one writer at a time: SQLite serialises them anyway

    def __init__(self, path: str | Path, *, retention_seconds: int = 86_400) -> None:
        self.path = Path(path)
        self.retention_us = retention_seconds * 1_000_000
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as connection:
            connection.executescript(
                """
                create table if not exists online_rows (
                    key text primary key, view text not null, value blob not null,
                    event integer not null, created integer not null, valid_to integer not null,
                    generation integer not null
                );
                create index if not exists online_rows_view on online_rows (view, generation);
                create table if not exists online_meta (
                    project text, view text, field text, value text, primary key (project, view, field)
                );
                """
            )

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("pragma journal_mode = wal")
            connection.execute("pragma synchronous = normal")
            self._local.connection = connection
        return connection

    def ping(self) -> None:
        self._connect().execute("select 1")

    def write(self, batch: WriteBatch, generation: int, now_us: int) -> int:
        if not len(batch):
            return 0
        view = batch.view
        values = stored_rows(batch.events, batch.createds, batch.valid_tos, generation, batch.payloads, batch.width)
        rows = [
            (key, view, value, e, c, x, generation)
            for key, value, e, c, x in zip(
                batch.keys, values, batch.events, batch.createds, batch.valid_tos, strict=True
            )
        ]
        connection = self._connect()
        before = connection.total_changes
        connection.execute("begin immediate")
        try:
            connection.executemany(
                """
                insert into online_rows (key, view, value, event, created, valid_to, generation)
                values (?, ?, ?, ?, ?, ?, ?)
                on conflict (key) do update set
                    value = excluded.value, event = excluded.event, created = excluded.created,
                    valid_to = excluded.valid_to,
                    generation = max(online_rows.generation, excluded.generation)
                where excluded.event > online_rows.event
                   or (excluded.event = online_rows.event and excluded.created >= online_rows.created)
                """,
                rows,
            )
            written = connection.total_changes - before
            # a stored row that stays (it is newer) still takes this generation, as in Redis
            connection.executemany(
                "update online_rows set generation = ? where key = ? and generation < ?",
                [(generation, key, generation) for key in batch.keys],
            )
            connection.execute("commit")
        except BaseException:
            connection.execute("rollback")
            raise
        return written

    def read(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        connection = self._connect()
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for key, value in connection.execute(f"select key, value from online_rows where key in ({marks})", chunk):
                found[key] = value
        return [found.get(key) for key in keys]

    def delete_older_generations(self, project: str, view: str, generation: int, now_us: int) -> int:
        pattern = "fl:" + project.replace("!", "!!").replace("%", "!%").replace("_", "!_") + ":%"
        # rows the sync did not write and that are still valid (deleted upstream), and rows
        # expired longer ago than the retention (what Redis drops by itself)
        cursor = self._connect().execute(
            "delete from online_rows where view = ? and key like ? escape '!' and ("
            " (generation < ? and (valid_to = -1 or valid_to > ?))"
            " or (valid_to <> -1 and valid_to + ? <= ?))",
            (view, pattern, generation, now_us, self.retention_us, now_us),
        )
        return cursor.rowcount

    def get_meta(self, project: str, view: str) -> dict[str, str]:
        rows = self._connect().execute(
            "select field, value from online_meta where project = ? and view = ?", (project, view)
        )
        return dict(rows.fetchall())

    def set_meta(self, project: str, view: str, values: dict[str, str]) -> None:
        self._connect().executemany(
            "insert into online_meta values (?, ?, ?, ?) on conflict do update set value = excluded.value",
            [(project, view, k, v) for k, v in values.items()],
        )

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def open_online_store(url: str | None, default_path: Path) -> OnlineStore:
    """The store a URL names: ``redis://``/``rediss://`` (``?cluster=true``), ``sqlite:///path``, or
    the embedded SQLite file at ``default_path`` when there is no URL."""
    if url is None or url == "":
        return SqliteOnlineStore(default_path)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in {"redis", "rediss", "unix"}:
        return RedisOnlineStore(url)
    if scheme == "sqlite":
        path = url.removeprefix("sqlite://")
        return SqliteOnlineStore(path if path.startswith("/") else default_path.parent / path)
    raise OnlineStoreError(
        f"Online store URL {redact(url)} has scheme '{scheme}'; use redis://, rediss:// (TLS), "
        "redis://...?cluster=true, or sqlite:///path/to/file."
    )
