"""Entities, features and feature views: what the registry holds about each model.

A feature view is a dbt model whose rows carry validity intervals (see
macros/feature_views); its columns' declared types become Arrow types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import pyarrow as pa

from .._errors import ValidationError, shown, suggest

__all__ = ["INTERVAL_COLUMNS", "SNAPSHOT_COLUMN", "Entity", "Feature", "FeatureView"]

#: The build's version that ``valid_intervals`` stamps on every row (µs): what syncs order writes by.
SNAPSHOT_COLUMN = "_fl_snapshot"
#: Columns every feature table has that are not features.
INTERVAL_COLUMNS = ("valid_from", "valid_to", SNAPSHOT_COLUMN)


@dataclass(frozen=True)
class Entity:
    """A thing features describe, identified by one or more join keys."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Feature:
    """One feature column of a view, with its declared and Arrow types."""

    name: str
    data_type: str
    arrow_type: pa.DataType
    description: str = ""


@dataclass(frozen=True)
class FeatureView:
    """A dbt model whose rows carry validity intervals (see macros/feature_views).

    Attributes:
        relation: the fully qualified, quoted relation as dbt renders it.
        join_keys: the entity keys, in the order of ``entities``.
        ttl_seconds: rows older than ``t - ttl`` are not used; None for no ttl.
    """

    name: str
    unique_id: str
    relation: str
    database: str | None
    schema: str
    identifier: str
    entities: tuple[Entity, ...]
    join_keys: tuple[str, ...]
    timestamp: str
    created_timestamp: str | None
    ttl_seconds: int | None
    features: tuple[Feature, ...]
    column_types: Mapping[str, str] = field(repr=False)
    key_types: Mapping[str, pa.DataType] = field(default_factory=dict, repr=False)
    #: For a projection (a view under another name in a feature service): the
    #: table's own key columns, matching ``join_keys`` (the request's names) in
    #: order, and the view it projects. Empty for a view itself.
    key_columns: tuple[str, ...] = ()
    base_name: str = ""

    @property
    def table_keys(self) -> tuple[str, ...]:
        """The key columns of the warehouse table (``join_keys`` unless renamed by a projection)."""
        return self.key_columns or self.join_keys

    @property
    def stored_name(self) -> str:
        """The view whose rows the online store holds (the projected view for a projection)."""
        return self.base_name or self.name

    def projected(self, name: str, renamed: Mapping[str, str]) -> FeatureView:
        """This view under another name, its join keys renamed (``{table key: request column}``)."""
        unknown = sorted(set(renamed) - set(self.join_keys))
        if unknown:
            raise ValidationError(
                f"Projection '{name}' of '{self.name}' renames {unknown}, which are not its join keys "
                f"{list(self.join_keys)}."
            )
        keys = tuple(renamed.get(k, k) for k in self.join_keys)
        return replace(
            self,
            name=name,
            join_keys=keys,
            key_columns=self.join_keys,
            base_name=self.name,
            key_types={renamed.get(k, k): kind for k, kind in self.key_types.items()},
        )

    description: str = ""
    owner: str | None = None
    tags: tuple[str, ...] = ()
    #: the share of the view's online rows a full sync may remove before it stops and asks
    #: (``max_removal_share`` in the model's meta; None: the sync's default)
    max_removal_share: float | None = None

    @cached_property
    def signature(self) -> tuple[tuple[str, str], ...]:
        """The features' names and Arrow types, in order: what a change of the view's definition changes.

        The online store keys rows by a hash of it (``_online.codec.view_schema_tag``).
        """
        return tuple((f.name, str(f.arrow_type)) for f in self.features)

    def feature(self, name: str) -> Feature:
        """The feature called ``name``; the error suggests close names."""
        for feature in self.features:
            if feature.name == name:
                return feature
        names = [f.name for f in self.features]
        raise ValidationError(
            f"Feature view '{self.name}' has no feature {shown(name)}.{suggest(name, names)} "
            f"Its features: {', '.join(names)}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``featurelayer list --json`` (documented in the README)."""
        return {
            "name": self.name,
            "relation": self.relation,
            "entities": [e.name for e in self.entities],
            "join_keys": list(self.join_keys),
            "timestamp": self.timestamp,
            "created_timestamp": self.created_timestamp,
            "ttl_seconds": self.ttl_seconds,
            "owner": self.owner,
            "description": self.description,
            "tags": list(self.tags),
            "features": [
                {
                    "name": f.name,
                    "data_type": f.data_type,
                    "arrow_type": str(f.arrow_type),
                    "description": f.description,
                }
                for f in self.features
            ],
        }
