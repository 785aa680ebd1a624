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

import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._errors import OnlineStoreError
from ._online_codec import header

__all__ = ["OnlineStore", "RedisOnlineStore", "SqliteOnlineStore", "Write", "open_online_store", "redact"]


@dataclass(frozen=True)
class Write:
    """One row to store: its key, ordering timestamps (µs), expiry (µs or None) and encoded values."""

    key: str
    view: str
    event: int
    created: int  # -1 when the view has no created timestamp
    valid_to: int | None
    payload: str  # the JSON array of values


class OnlineStore(Protocol):
    def write(self, writes: Sequence[Write], generation: int, now_us: int) -> int: ...
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

# KEYS[1] the row's key; ARGV: event, created, valid_to, generation, values, expire-in ms ('' = never).
# A stored row with a greater (event, created) wins; an equal one is overwritten (idempotent).
# The greatest generation seen is kept, so a full sync's cleanup spares rows an
# incremental sync touched meanwhile.
_WRITE_LUA = """
local cur = redis.call('GET', KEYS[1])
local gen = ARGV[4]
if cur then
  local ce, cc, cx, cg = string.match(cur, '^(%-?%d+):(%-?%d+):(%-?%d+):(%d+):')
  local e = tonumber(ARGV[1]); local c = tonumber(ARGV[2])
  if tonumber(ce) > e or (tonumber(ce) == e and tonumber(cc) > c) then
    return 0
  end
  if tonumber(cg) > tonumber(gen) then gen = cg end
end
-- numbers stay the strings they came as: Lua would print large ones as 1.7e+15
local value = ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. gen .. ':' .. ARGV[5]
if ARGV[6] == '' then
  redis.call('SET', KEYS[1], value)
else
  redis.call('SET', KEYS[1], value, 'PX', ARGV[6])
end
return 1
"""

# KEYS[1]; ARGV[1] generation, ARGV[2] now (µs): delete the row if the full sync of that
# generation did not write it and it has not simply expired (an expired row stays readable
# as expired until its retention runs out).
_DELETE_OLD_LUA = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local cx, cg = string.match(cur, '^%-?%d+:%-?%d+:(%-?%d+):(%d+):')
if cg and tonumber(cg) < tonumber(ARGV[1]) and (tonumber(cx) == -1 or tonumber(cx) > tonumber(ARGV[2])) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


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
        self._shas: dict[str, str] = {}

    def _fail(self, exc: Exception, doing: str) -> OnlineStoreError:
        return OnlineStoreError(f"Redis at {redact(self.url)} failed while {doing}: {exc}")

    def ping(self) -> None:
        import redis

        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise self._fail(exc, "connecting") from exc

    def _evalsha_pipelined(self, script: str, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Runs a Lua script once per (key, args) in one pipelined round trip.

        The script is loaded on first use, and again if the server forgot it
        (a restart or a failover): the calls are idempotent, so a retry is safe.
        """
        import redis

        for attempt in range(2):
            if script not in self._shas:
                self._shas[script] = self.client.script_load(script)
            pipe = self.client.pipeline(transaction=False)
            for key, args in calls:
                pipe.evalsha(self._shas[script], 1, key, *args)
            try:
                return list(pipe.execute())
            except redis.exceptions.NoScriptError:
                self._shas.pop(script, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def write(self, writes: Sequence[Write], generation: int, now_us: int) -> int:
        """Writes a batch in one pipelined round trip; returns how many rows were newer and stored.

        A row with a valid_to expires in Redis ``retention`` after it, counted
        from the sync's ``now`` (relative PX, so a sync run with another clock
        than the server's, in a replay or a test, expires rows consistently).
        """
        import redis

        if not writes:
            return 0
        calls = [
            (
                w.key,
                (
                    w.event,
                    w.created,
                    -1 if w.valid_to is None else w.valid_to,
                    generation,
                    w.payload,
                    "" if w.valid_to is None else w.valid_to // 1000 + self.retention_ms,
                ),
            )
            for w in writes
        ]
        try:
            results = self._evalsha_pipelined(_WRITE_LUA, calls)
        except redis.RedisError as exc:
            raise self._fail(exc, "writing") from exc
        return sum(int(r) for r in results)

    def read(self, keys: Sequence[str]) -> list[bytes | None]:
        import redis

        if not keys:
            return []
        try:
            if self.cluster:
                return list(self.client.mget_nonatomic(list(keys)))
            return list(self.client.mget(list(keys)))
        except redis.RedisError as exc:
            raise self._fail(exc, "reading") from exc

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
                results = self._evalsha_pipelined(_DELETE_OLD_LUA, [(key, (generation, now_us)) for key in keys])
                deleted += sum(int(r) for r in results)
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

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as connection:
            connection.executescript(
                """
                create table if not exists online_rows (
                    key text primary key, view text not null, value text not null,
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

    def write(self, writes: Sequence[Write], generation: int, now_us: int) -> int:
        if not writes:
            return 0
        rows = [
            (
                w.key,
                w.view,
                header(w.event, w.created, w.valid_to, generation) + w.payload,
                w.event,
                w.created,
                -1 if w.valid_to is None else w.valid_to,
                generation,
            )
            for w in writes
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
            connection.execute("commit")
        except BaseException:
            connection.execute("rollback")
            raise
        return connection.total_changes - before

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
                found[key] = value.encode()
        return [found.get(key) for key in keys]

    def delete_older_generations(self, project: str, view: str, generation: int, now_us: int) -> int:
        pattern = "fl:" + project.replace("!", "!!").replace("%", "!%").replace("_", "!_") + ":%"
        cursor = self._connect().execute(
            "delete from online_rows where view = ? and key like ? escape '!' and generation < ?"
            " and (valid_to = -1 or valid_to > ?)",
            (view, pattern, generation, now_us),
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
