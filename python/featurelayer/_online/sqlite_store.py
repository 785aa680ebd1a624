"""The embedded online store: one SQLite file, no server (the laptop quickstart's default)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from .base import WriteBatch
from .codec import stored_rows

__all__ = ["SqliteOnlineStore"]


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
