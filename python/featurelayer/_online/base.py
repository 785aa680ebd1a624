"""What every online store offers (docs/online-store.md), the write batch they take, and URL redaction.

Both stores keep the same contract, the write rule of docs/online-store.md:

- ``write`` stores each row atomically per key, ordered by (snapshot, event):
  a row read from a newer warehouse snapshot replaces what an older one wrote
  (rollbacks and retractions propagate), within one snapshot the row valid
  later wins, and a row from an older snapshot never replaces a newer one's;
  every row sent raises the key's ``seen`` to (snapshot, now), stored or not;
- ``remove_unseen`` (a full sync's removal pass) turns each key of a view
  whose (snapshot, seen) is older than the full sync's into a tombstone that
  reads as not found and that an older snapshot cannot overwrite;
- ``read`` fetches any number of keys in one round trip (MGET);
- a crash between writes leaves every key either old or new.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["OnlineStore", "Removal", "WriteBatch", "Written", "redact", "scrub"]


@dataclass(frozen=True)
class WriteBatch:
    """Rows of one view to store, column by column (no object per row: the sync writes millions).

    ``events`` and ``valid_tos`` are µs since the epoch; a valid_to of -1 means
    the row is open-ended. ``payloads`` are the rows' packed values
    (``encode_columns``), ``width`` values each: the view's features.
    """

    view: str
    keys: list[str]
    events: list[int]
    valid_tos: list[int]
    payloads: list[bytes]
    width: int

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Written:
    """What one write did: rows stored (not refused as older), and keys that held no row before."""

    stored: int = 0
    created: int = 0


@dataclass(frozen=True)
class Removal:
    """What a removal pass found among a view's keys.

    ``removed``: rows still in force, or expired within the retention, that
    the full sync's snapshot no longer has (retractions: what the guard
    counts); ``aged``: rows whose retention had passed (cleanup); ``live``:
    rows left after the pass. A dry run counts without changing anything.
    """

    removed: int = 0
    aged: int = 0
    live: int = 0


class OnlineStore(Protocol):
    #: write batches a sync may have in flight at once
    concurrent_writes: int
    #: how long a row stays readable as expired after its valid_to (µs)
    retention_us: int

    def write(self, batch: WriteBatch, snapshot: int, now_us: int, *, landing_us: int = 0) -> Written: ...
    def read(self, keys: Sequence[str]) -> list[bytes | None]: ...
    def remove_unseen(
        self, project: str, view: str, snapshot: int, now_us: int, *, dry_run: bool = False, landing_us: int = 0
    ) -> Removal: ...
    def get_meta(self, project: str, view: str) -> dict[str, str]: ...
    def set_meta(self, project: str, view: str, values: dict[str, str]) -> None: ...
    def add_to_meta(self, project: str, view: str, field: str, amount: int) -> None: ...
    def advance_meta(self, project: str, view: str, values: dict[str, int]) -> None: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


#: query parameters that carry a credential (redis-py's password=, username=, ssl_password=, ...)
_SECRET_PARAMETER = re.compile(r"(?i)([?&;][a-z_]*(?:password|passwd|username|user|token|secret)=)([^&;#]*)")


def redact(url: str) -> str:
    """The URL with every credential replaced by ``***``: secrets are never printed.

    It works on the text as given, never on a parse of it, so a password with
    an unencoded ``#``, ``/``, ``?`` or ``@`` and a URL that does not parse are
    redacted too: everything between ``://`` and the last ``@`` goes (the user
    name as well), and so do credential query parameters.

    >>> redact("redis://alice:s3cr#t/x@cache:6379/0?ssl_password=k3y&db=1")
    'redis://***@cache:6379/0?ssl_password=***&db=1'
    """
    head, user, tail = _split_userinfo(url)
    return _SECRET_PARAMETER.sub(r"\1***", head + ("***" if user is not None else "") + tail)


def scrub(text: str, url: str) -> str:
    """``text`` (a lower layer's error message) without any secret of ``url`` in it."""
    secrets = [m.group(2) for m in _SECRET_PARAMETER.finditer(url) if m.group(2)]
    _, user, _ = _split_userinfo(url)
    if user is not None:
        secrets += [user, *user.split(":", 1)]
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***").replace(urllib.parse.quote(secret, safe=""), "***")
    return text


def _split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``scheme://``, the user part up to the last ``@`` (None without one), and the rest from that ``@``."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    at = rest.rfind("@")
    if at == -1:
        return f"{scheme}{separator}", None, rest
    return f"{scheme}{separator}", rest[:at], rest[at:]
