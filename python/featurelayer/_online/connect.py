"""Opens the online store a URL names (docs/online-store.md)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from .._errors import OnlineStoreError, ValidationError
from .._registry.ttl import parse_ttl
from .base import OnlineStore, redact
from .redis_store import RedisOnlineStore
from .sqlite_store import SqliteOnlineStore

__all__ = ["open_online_store"]

#: the URL's own settings (taken out before the rest reaches redis-py), with their defaults
_SETTINGS = {"retention": 86_400, "tombstones": 86_400}


def open_online_store(url: str | None, default_path: Path) -> OnlineStore:
    """The store a URL names: ``redis://``/``rediss://`` (``?cluster=true``), ``sqlite:///path``, or
    the embedded SQLite file at ``default_path`` when there is no URL.

    Either URL may end in ``?retention=1d`` (how long a row reads as *expired*
    after its validity ended) and ``tombstones=1d`` (how long a key a full sync
    removed keeps older snapshots out); both default to a day.
    """
    if url is None or url == "":
        return SqliteOnlineStore(default_path)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "sqlite":  # (the path as written: urlunsplit would fold sqlite:/// into sqlite:/)
        path = url.split("?", 1)[0].removeprefix("sqlite://")
        _, settings = _settings(url)
        return SqliteOnlineStore(
            path if path.startswith("/") else default_path.parent / path,
            retention_seconds=settings["retention"],
            tombstone_seconds=settings["tombstones"],
        )
    url, settings = _settings(url)
    if scheme in {"redis", "rediss", "unix"}:
        return RedisOnlineStore(url, retention_seconds=settings["retention"], tombstone_seconds=settings["tombstones"])
    raise OnlineStoreError(
        f"Online store URL {redact(url)} has scheme '{scheme}'; use redis://, rediss:// (TLS), "
        "redis://...?cluster=true, or sqlite:///path/to/file."
    )


def _settings(url: str) -> tuple[str, dict[str, int]]:
    """The URL without featurelayer's own query parameters, and their values in seconds."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    settings = dict(_SETTINGS)
    rest = []
    for name, value in query:
        if name not in settings:
            rest.append((name, value))
            continue
        try:
            seconds = parse_ttl(value)
        except ValidationError:
            seconds = None
        if not seconds:  # (a value in the URL is printed only redacted: it may sit beside a password)
            raise OnlineStoreError(
                f"Online store URL {redact(url)}: {name} is not a duration longer than 0; write it with a unit, "
                f"such as {name}=1d, 12h or 90m."
            )
        settings[name] = seconds
    if len(rest) == len(query):
        return url, settings
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(rest))), settings
