"""What every online store offers (docs/online-store.md), the write batch they take, and URL redaction.

Both stores keep the same contract:

- ``write`` stores rows atomically per key and never replaces a row with an
  older one: the stored (event, created) pair is compared inside the store
  (a Lua script in Redis, a conditional upsert in SQLite), so re-running a
  sync is idempotent and racing syncs cannot go backwards;
- ``read`` fetches any number of keys in one round trip (MGET);
- a crash between writes leaves every key either old or new.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["OnlineStore", "WriteBatch", "redact"]


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
