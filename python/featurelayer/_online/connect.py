"""Opens the online store a URL names (docs/online-store.md)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from .._errors import OnlineStoreError
from .base import OnlineStore, redact
from .redis_store import RedisOnlineStore
from .sqlite_store import SqliteOnlineStore

__all__ = ["open_online_store"]


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
