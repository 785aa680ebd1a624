"""The exceptions featurelayer raises, all under one base class.

::

    FeatureLayerError
    ├── ProjectError            the dbt project, profile or target cannot be used
    │   └── ManifestError       manifest.json is missing, stale or unreadable
    ├── DefinitionError         a model's feature_layer meta is incomplete or wrong
    ├── DbtRunError             a dbt command failed
    ├── OnlineStoreError        the online store (Redis, SQLite) is unreachable or failed
    ├── RemovalGuardError       a full sync would remove too many online rows: it removed none
    └── ValidationError         a caller passed something unusable (bad ttl, ...)

Every message says what was wrong and how to fix it; ``suggest`` adds the
close names when a name is unknown.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "DbtRunError",
    "DefinitionError",
    "FeatureLayerError",
    "ManifestError",
    "OnlineStoreError",
    "ProjectError",
    "RemovalGuardError",
    "ValidationError",
    "shown",
    "suggest",
]


class FeatureLayerError(Exception):
    """Base class of every error featurelayer raises on purpose."""


class ProjectError(FeatureLayerError):
    """The dbt project, its profile or its target cannot be used."""


class ManifestError(ProjectError):
    """``target/manifest.json`` is missing, stale or unreadable."""


class DefinitionError(FeatureLayerError):
    """A feature view's declaration in the model YAML is incomplete or wrong."""


class RemovalGuardError(FeatureLayerError):
    """A full sync stopped before its removal pass: it would have removed more than allowed.

    Every view was still synced (rows written, watermarks advanced); only the
    removals of the views named in the message were skipped. ``report`` is the
    sync's ``SyncReport``.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class DbtRunError(FeatureLayerError):
    """A dbt command failed; the message carries dbt's own errors."""


class OnlineStoreError(FeatureLayerError):
    """The online store is unreachable or failed; nothing stored was corrupted."""


class ValidationError(FeatureLayerError, ValueError):
    """A value passed by the caller cannot be used."""


def shown(name: object, limit: int = 80) -> str:
    """A caller's name as a message may show it: quoted, with newlines and NULs escaped, and bounded, so a
    hostile name cannot break the one-line rule or flood a log.

    >>> shown("line\\nbreak"), shown("x" * 100, limit=12)
    ("'line\\\\nbreak'", "'xxxxxxx...'")
    """
    text = repr(str(name))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def suggest(name: str, options: Iterable[str]) -> str:
    """The "did you mean" sentence for an unknown ``name``, or "" when nothing is close.

    >>> suggest("user_profil", ["user_profile", "user_activity"])
    " Did you mean 'user_profile'?"
    """
    if len(name) > 200:  # nothing declared is that long; difflib on it would only take time
        return ""
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
