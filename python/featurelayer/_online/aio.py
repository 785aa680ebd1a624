"""Reads of the online store for a server on an event loop.

A feature server answers many requests at once on one thread: a read that
blocked on its socket would hold every other request behind it for a round
trip, and behind a dead Redis for its whole timeout. These readers await the
store instead. They do what serving needs and no more (read many keys, read
a view's sync state, ping); writing stays with the sync, which blocks by design.

The embedded SQLite store is a local file: its reads take microseconds and
are made inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from hiredis import pack_command
from redis.exceptions import ConnectionError

from .._errors import OnlineStoreError
from .base import redact
from .connect import open_online_store
from .redis_store import MAX_IDLE_READS, RedisOnlineStore, _parse_url, _RedisErrors, meta_key
from .sqlite_store import SqliteOnlineStore

__all__ = ["AsyncReader", "open_async_reader"]


class AsyncReader(Protocol):
    """The awaitable part of an online store that a server reads through."""

    retention_us: int
    description: str

    async def read(self, keys: Sequence[str]) -> list[bytes | None]: ...
    async def get_meta(self, project: str, view: str) -> dict[str, str]: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def open_async_reader(url: str | None, default_path: Path, *, timeout: float = 2.0) -> AsyncReader:
    """The reader for the store a URL names, as ``open_online_store`` reads the URL.

    Args:
        url: the online store URL (None: the embedded SQLite file at ``default_path``).
        default_path: the embedded store's file.
        timeout: seconds a Redis connect or reply may take before the read fails (a
            server answers 503 then, rather than holding the request).
    """
    store = open_online_store(url, default_path)
    if isinstance(store, SqliteOnlineStore):
        return _SqliteReader(store)
    assert isinstance(store, RedisOnlineStore)
    reader = _RedisReader(store.url, store.retention_us, timeout)
    store.close()  # (it only parsed the URL: redis-py connects on first use)
    return reader


class _SqliteReader:
    def __init__(self, store: SqliteOnlineStore) -> None:
        self.store = store
        self.retention_us = store.retention_us
        self.description = f"sqlite:///{store.path}"

    async def read(self, keys: Sequence[str]) -> list[bytes | None]:
        return self.store.read(keys)

    async def get_meta(self, project: str, view: str) -> dict[str, str]:
        return self.store.get_meta(project, view)

    async def ping(self) -> None:
        self.store.ping()

    async def close(self) -> None:
        self.store.close()


class _RedisReader:
    """Redis through redis-py's asyncio client, MGET packed by hiredis on kept connections.

    As the blocking reader does (``RedisOnlineStore._mget``): a request's keys
    are packed in one C call and sent on a connection kept between reads, so
    neither redis-py's argument packing nor its pool's socket check runs per
    request. A read that fails on a kept connection drops them all and is
    retried once on a new one; a connection is never handed back with a reply
    half read, even when the request is cancelled.
    """

    def __init__(self, url: str, retention_us: int, timeout: float) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.retention_us = retention_us
        self.description = redact(url)
        with _RedisErrors(url, "connecting"):
            base, seeds, self.cluster = _parse_url(url)
            if self.cluster:
                from redis.asyncio.cluster import ClusterNode, RedisCluster

                self.client: Any = RedisCluster.from_url(
                    base,
                    startup_nodes=[ClusterNode(host, port) for host, port in seeds],
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                )
            else:  # (no socket_timeout: redis-py would wrap every send in a task; one timer per read instead)
                self.client = aioredis.Redis.from_url(base, socket_timeout=None, socket_connect_timeout=timeout)
        self.timeout = timeout
        self._idle: list[Any] = []

    async def read(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        with _RedisErrors(self.url, "reading"):
            if self.cluster:
                return list(await self.client.mget_nonatomic(list(keys)))
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._mget(keys)
            except TimeoutError:
                raise self._timed_out("reading") from None

    def _timed_out(self, doing: str) -> OnlineStoreError:
        return OnlineStoreError(f"Redis at {redact(self.url)} did not answer within {self.timeout:g} s while {doing}.")

    async def _mget(self, keys: Sequence[str]) -> list[bytes | None]:
        command = pack_command(("MGET", *keys))  # type: ignore[arg-type]
        kept = bool(self._idle)
        connection = self._idle.pop() if kept else await self.client.connection_pool.get_connection()
        try:
            values = await self._round_trip(connection, command)
        except ConnectionError:
            if not kept:
                raise
            await self._drop_idle()  # the server closed them, or restarted: likely all went the same way
            connection = await self.client.connection_pool.get_connection()
            values = await self._round_trip(connection, command)
        if len(self._idle) < MAX_IDLE_READS:
            self._idle.append(connection)
        else:  # a burst's extra connections are not kept open for good
            await self._drop(connection)
        return values

    async def _round_trip(self, connection: Any, command: bytes) -> list[bytes | None]:
        try:
            await connection.send_packed_command([command], check_health=False)
            values: list[bytes | None] = await connection.read_response()
        except BaseException:
            await self._drop(connection)
            raise
        return values

    async def _drop(self, connection: Any) -> None:
        await connection.disconnect(nowait=True)
        await self.client.connection_pool.release(connection)

    async def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._drop(connection)

    async def get_meta(self, project: str, view: str) -> dict[str, str]:
        with _RedisErrors(self.url, "reading the sync state"):
            try:
                async with asyncio.timeout(self.timeout):
                    raw = await self.client.hgetall(meta_key(project, view))
            except TimeoutError:
                raise self._timed_out("reading the sync state") from None
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def ping(self) -> None:
        with _RedisErrors(self.url, "connecting"):
            try:
                async with asyncio.timeout(self.timeout):
                    await self.client.ping()
            except TimeoutError:
                raise self._timed_out("connecting") from None

    async def close(self) -> None:
        if not self.cluster:
            await self._drop_idle()
        await self.client.aclose()
