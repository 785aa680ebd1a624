"""featurelayer: a warehouse-native feature store on dbt.

Feature views are dbt models whose rows carry validity intervals
(``valid_from``/``valid_to``), so a point-in-time lookup is a plain range join.
This package reads them from dbt's manifest and serves them.

>>> import featurelayer
>>> featurelayer.parse_ttl("30d")
2592000
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

from ._dbt.project import Project, find_project
from ._errors import (
    DbtRunError,
    DefinitionError,
    FeatureLayerError,
    ManifestError,
    OnlineStoreError,
    ProjectError,
    RemovalGuardError,
    ValidationError,
)
from ._online.response import FieldStatus, OnlineResponse
from ._online.sync import SyncReport
from ._registry.registry import Registry
from ._registry.services import FeatureService, RequestSource
from ._registry.ttl import parse_ttl
from ._registry.views import Entity, Feature, FeatureView
from ._store import FeatureStore, RetrievalJob
from ._transforms.definitions import on_demand_transform

try:  # one source: the version in pyproject.toml, as installed
    __version__ = _version("featurelayer")
except _NotInstalled:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DbtRunError",
    "DefinitionError",
    "Entity",
    "Feature",
    "FeatureLayerError",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "FieldStatus",
    "ManifestError",
    "OnlineResponse",
    "OnlineStoreError",
    "Project",
    "ProjectError",
    "Registry",
    "RemovalGuardError",
    "RequestSource",
    "RetrievalJob",
    "SyncReport",
    "ValidationError",
    "find_project",
    "on_demand_transform",
    "parse_ttl",
]
