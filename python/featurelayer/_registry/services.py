"""Feature services and request sources, as declared in the project.

A feature service is a dbt exposure of type ``ml`` (so ``dbt docs`` shows its
lineage) whose ``config.meta.feature_layer`` lists feature references and the
transforms it includes::

    exposures:
      - name: user_profile_service
        type: ml
        depends_on: [ref('user_activity'), ref('user_profile')]
        config:
          meta:
            feature_layer:
              features: [user_activity:daily_transactions, user_profile:*, referrer:plan]
              transforms: [user_engagement_score]
              projections:   # a view under another name, keyed on another column
                referrer: {view: user_profile, join_keys: {user_id: referrer_id}}

Request sources name the values a caller supplies at request time (columns
of the entity dataframe offline, ``request_data`` online); transforms read
features and request fields. Resolving a service for a request is
``resolve.resolve_request``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .._errors import DefinitionError, ValidationError
from .._transforms.definitions import TRANSFORM_DIALECT
from .._types import arrow_type

__all__ = ["FeatureService", "Projection", "RequestSource", "parse_request_sources", "parse_services"]


@dataclass(frozen=True)
class RequestSource:
    """Named fields a caller supplies at request time, with their types."""

    name: str
    fields: Mapping[str, pa.DataType]


@dataclass(frozen=True)
class Projection:
    """A feature view under another name within a service, its join keys renamed."""

    name: str
    view: str
    join_keys: Mapping[str, str]  # the view's key -> the request's column


@dataclass(frozen=True)
class FeatureService:
    """The features (and transforms) one model uses; declared as a dbt exposure."""

    name: str
    features: tuple[str, ...]
    transforms: tuple[str, ...] = ()
    description: str = ""
    owner: str | None = None
    projections: tuple[Projection, ...] = ()


def parse_request_sources(config: Any) -> dict[str, RequestSource]:
    """Request sources from ``vars: feature_layer: request_sources:``."""
    sources = {}
    for name, spec in (config or {}).items():
        fields = (spec or {}).get("fields") if isinstance(spec, Mapping) else None
        if not isinstance(fields, Mapping) or not fields:
            raise DefinitionError(
                f"Request source '{name}' (dbt_project.yml vars: feature_layer: request_sources) needs "
                f"`fields: {{<name>: <type>}}`."
            )
        try:
            sources[name] = RequestSource(name, {f: arrow_type(str(t), TRANSFORM_DIALECT) for f, t in fields.items()})
        except ValidationError as exc:
            raise DefinitionError(f"Request source '{name}': {exc}") from None
    return sources


def parse_services(manifest: Mapping[str, Any]) -> dict[str, FeatureService]:
    """Feature services: the manifest's exposures with ``config.meta.feature_layer``."""
    services = {}
    for exposure in (manifest.get("exposures") or {}).values():
        meta = ((exposure.get("config") or {}).get("meta") or exposure.get("meta") or {}).get("feature_layer")
        if meta is None:
            continue
        name = exposure["name"]
        features = meta.get("features") if isinstance(meta, Mapping) else None
        if not features or isinstance(features, str):
            raise DefinitionError(
                f"Feature service '{name}' ({exposure.get('original_file_path', '?')}) needs "
                "`features: [view:feature, ...]` under config.meta.feature_layer."
            )
        transforms = meta.get("transforms") or ()
        owner = exposure.get("owner") or {}
        projections = []
        for alias, spec in (meta.get("projections") or {}).items():
            if not isinstance(spec, Mapping) or "view" not in spec:
                raise DefinitionError(
                    f"Feature service '{name}': projection '{alias}' needs `view: <feature view>` and optionally "
                    "`join_keys: {<view key>: <request column>}`."
                )
            projections.append(Projection(str(alias), str(spec["view"]), dict(spec.get("join_keys") or {})))
        services[name] = FeatureService(
            name=name,
            features=tuple(features),
            transforms=tuple([transforms] if isinstance(transforms, str) else transforms),
            description=str(exposure.get("description") or "").strip(),
            owner=owner.get("email") or owner.get("name"),
            projections=tuple(projections),
        )
    return services
