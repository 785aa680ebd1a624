"""The embedded online store: one SQLite file, no server (the laptop quickstart's default)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from .base import Removal, WriteBatch, Written
from .codec import FIELD_AT, NO_VALUE, TOMBSTONE_EVENT, TOMBSTONE_VALID_TO, stored_rows, tombstone

__all__ = ["SqliteOnlineStore"]

_CHUNK = 900  # SQLite's bound-parameter limit, with room to spare
_SEEN_AT = FIELD_AT["seen"]  # where the value's seen bytes start (1-based, as substr counts)


class SqliteOnlineStore:
    """The embedded online store: one SQLite file, no server.

    The write rule is the Redis store's (``redis_scripts.WRITE_LUA``), decided
    here in Python inside one ``begin immediate`` transaction per batch, so it
    is atomic and serialised across processes as Redis scripts are. The header
    fields the rule compares are also columns, and ``expires`` does what a
    Redis PX does: rows past their retention and old tombstones are dropped
    by the next removal pass (readers already say *not found* for them).
    """

    concurrent_writes = 1  # one writer at a time: SQLite serialises them anyway

    def __init__(self, path: str | Path, *, retention_seconds: int = 86_400, tombstone_seconds: int = 86_400) -> None:
        self.path = Path(path)
        self.retention_us = retention_seconds * 1_000_000
        self.tombstone_us = tombstone_seconds * 1_000_000
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as connection:
            connection.executescript(
                """
                create table if not exists online_rows_v2 (
                    key text primary key, view text not null, value blob not null,
                    valid_to integer not null, event integer not null,
                    snapshot integer not null, seen integer not null, expires integer
                );
                create index if not exists online_rows_v2_view on online_rows_v2 (view);
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

    def _stored(self, connection: sqlite3.Connection, keys: Sequence[str]) -> dict[str, tuple[int, int, int, int]]:
        """(valid_to, event, snapshot, seen) of the keys that hold a row."""
        found: dict[str, tuple[int, int, int, int]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"select key, valid_to, event, snapshot, seen from online_rows_v2 where key in ({marks})"
            for key, *header in connection.execute(query, chunk):
                found[key] = (header[0], header[1], header[2], header[3])
        return found

    def write(self, batch: WriteBatch, snapshot: int, now_us: int, *, landing_us: int = 0) -> Written:
        if not len(batch):
            return Written()
        # every row packed at once, seen = now, as Redis gets them; a row that keeps a later seen of
        # its snapshot takes those 8 bytes, as the Lua script splices them
        values = stored_rows(batch.events, batch.valid_tos, snapshot, now_us, batch.payloads, batch.width)
        connection = self._connect()
        connection.execute("begin immediate")
        try:
            stored = self._stored(connection, batch.keys)
            upserts, seen_raised, created = [], [], 0
            for key, event, valid_to, value in zip(batch.keys, batch.events, batch.valid_tos, values, strict=True):
                seen = now_us
                current = stored.get(key)
                if current is not None:
                    _, stored_event, stored_snapshot, stored_seen = current
                    if snapshot < 0 or stored_snapshot < 0:  # a push, or a pushed row: see redis_scripts.WRITE_LUA
                        if not _push_wins(snapshot, event, stored_snapshot, stored_event, landing_us):
                            continue
                    elif snapshot < stored_snapshot or (snapshot == stored_snapshot and event < stored_event):
                        if snapshot == stored_snapshot and stored_seen < now_us:
                            seen_raised.append(key)
                        continue
                    if 0 <= snapshot == stored_snapshot and stored_seen > now_us:
                        seen, value = stored_seen, _with_seen(value, stored_seen)
                if current is None or _is_tombstone(current):
                    created += 1
                # kept for the retention, and at least as long as a tombstone (as in Redis)
                expires = (
                    None if valid_to == NO_VALUE else max(valid_to + self.retention_us, now_us + self.tombstone_us)
                )
                upserts.append((key, batch.view, value, valid_to, event, snapshot, seen, expires))
                stored[key] = (valid_to, event, snapshot, seen)  # a key twice in one batch: the rule again
            connection.executemany("insert or replace into online_rows_v2 values (?, ?, ?, ?, ?, ?, ?, ?)", upserts)
            if seen_raised:  # the value's own header carries seen too: keep the two equal
                raised = [
                    (_with_seen(value, now_us), now_us, key)
                    for key, value in zip(seen_raised, self.read(seen_raised), strict=True)
                    if value is not None
                ]
                connection.executemany("update online_rows_v2 set value = ?, seen = ? where key = ?", raised)
            connection.execute("commit")
        except BaseException:
            connection.execute("rollback")
            raise
        return Written(len(upserts), created)

    def read(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        connection = self._connect()
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"select key, value from online_rows_v2 where key in ({marks})"
            for key, value in connection.execute(query, chunk):
                found[key] = value
        return [found.get(key) for key in keys]

    def _view_rows(self, connection: sqlite3.Connection, project: str, view: str) -> Iterator[tuple[str, ...]]:
        prefix = f"fl:{project}:"
        yield from connection.execute(
            "select key, valid_to, event, snapshot, seen from online_rows_v2 where view = ? and substr(key, 1, ?) = ?",
            (view, len(prefix), prefix),
        )

    def remove_unseen(
        self, project: str, view: str, snapshot: int, now_us: int, *, dry_run: bool = False, landing_us: int = 0
    ) -> Removal:
        connection = self._connect()
        connection.execute("begin immediate")
        try:
            if not dry_run:  # what Redis drops by itself (PX): rows past their retention, old tombstones
                prefix = f"fl:{project}:"
                connection.execute(
                    "delete from online_rows_v2 where view = ? and substr(key, 1, ?) = ?"
                    " and expires is not null and expires <= ?",
                    (view, len(prefix), prefix, now_us),
                )
            removed, aged, live, graves = 0, 0, 0, []
            for key, valid_to, event, stored_snapshot, seen in self._view_rows(connection, project, view):
                header = (int(valid_to), int(event), int(stored_snapshot), int(seen))
                if _is_tombstone(header):
                    continue
                if header[2] < 0:  # a pushed row: kept while the snapshot may not hold it yet
                    unseen = snapshot >= -header[2] + landing_us
                else:
                    unseen = header[2] < snapshot or (header[2] == snapshot and header[3] < now_us)
                if unseen:
                    if header[0] != NO_VALUE and header[0] + self.retention_us <= now_us:
                        aged += 1
                    else:
                        removed += 1
                    graves.append(key)
                else:
                    live += 1
            if not dry_run:
                grave = tombstone(snapshot, now_us)
                connection.executemany(
                    "update online_rows_v2 set value = ?, valid_to = ?, event = ?, snapshot = ?, seen = ?,"
                    " expires = ? where key = ?",
                    [
                        (grave, TOMBSTONE_VALID_TO, TOMBSTONE_EVENT, snapshot, now_us, now_us + self.tombstone_us, key)
                        for key in graves
                    ],
                )
            connection.execute("commit")
        except BaseException:
            connection.execute("rollback")
            raise
        return Removal(removed, aged, live)

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

    def add_to_meta(self, project: str, view: str, field: str, amount: int) -> None:
        if amount:
            self._connect().execute(
                "insert into online_meta values (?, ?, ?, ?)"
                " on conflict do update set value = cast(value as integer) + cast(excluded.value as integer)",
                (project, view, field, str(amount)),
            )

    def advance_meta(self, project: str, view: str, values: dict[str, int]) -> None:
        self._connect().executemany(
            "insert into online_meta values (?, ?, ?, ?) on conflict do update"
            " set value = max(cast(value as integer), cast(excluded.value as integer))",
            [(project, view, k, str(v)) for k, v in values.items()],
        )

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _with_seen(value: bytes, seen: int) -> bytes:
    """A stored row with another ``seen`` in its header."""
    return value[: _SEEN_AT - 1] + seen.to_bytes(8, "big", signed=True) + value[_SEEN_AT + 7 :]


def _is_tombstone(header: tuple[int, int, int, int]) -> bool:
    return header[0] == TOMBSTONE_VALID_TO and header[1] == TOMBSTONE_EVENT


def _push_wins(snapshot: int, event: int, stored_snapshot: int, stored_event: int, landing_us: int) -> bool:
    """Whether a row replaces the stored one when either is a push (negative snapshot): the write rule's
    push part, as ``redis_scripts.WRITE_LUA`` applies it in Redis (docs/online-store.md, "Pushed rows")."""
    if snapshot < 0:
        return event >= stored_event
    pushed_at = -stored_snapshot
    return (
        event > stored_event or (event == stored_event and snapshot >= pushed_at) or snapshot >= pushed_at + landing_us
    )
