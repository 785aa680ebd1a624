"""The feature registry, read from dbt's own artifacts.

dbt's ``manifest.json`` already is a registry: it knows every model, its
columns and types, its relation in the warehouse and its ``meta``. A feature
view is a model with ``config.meta.feature_layer`` (``manifest``); feature
services are exposures (``services``); entities, request sources and
transforms are declared once in ``dbt_project.yml`` under ``vars:
feature_layer:`` (vars are not written to the manifest, so they are read from
the project file). There is no registry format of featurelayer's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pyarrow as pa

from .._errors import DefinitionError, ValidationError, shown, suggest
from .._transforms.definitions import Transform, load_python_transforms, parse_sql_transform
from .._types import sqlglot_dialect
from .manifest import feature_views, parse_entities, read_manifest
from .push_sources import PushSource, parse_push_sources
from .resolve import resolve_request
from .services import FeatureService, RequestSource, parse_request_sources, parse_services
from .views import Entity, FeatureView

if TYPE_CHECKING:
    from .._dbt.project import Project

__all__ = ["Registry"]


@dataclass(frozen=True)
class Registry:
    """Entities and feature views of one dbt project, as of its manifest."""

    project_name: str
    adapter_type: str
    entities: Mapping[str, Entity]
    feature_views: Mapping[str, FeatureView]
    manifest_path: Path
    feature_services: Mapping[str, FeatureService] = field(default_factory=dict)
    request_sources: Mapping[str, RequestSource] = field(default_factory=dict)
    transforms: Mapping[str, Transform] = field(default_factory=dict)
    push_sources: Mapping[str, PushSource] = field(default_factory=dict)

    @classmethod
    def from_project(cls, project: Project, *, check_fresh: bool = True) -> Registry:
        """Reads the project's manifest and entity declarations.

        Args:
            project: the project (``featurelayer.find_project``).
            check_fresh: fail when a model, macro or dbt_project.yml changed
                after the manifest was written.

        Raises:
            ManifestError: the manifest is missing, unreadable, stale, or of another project.
            DefinitionError: a feature view's declaration is incomplete; the
                message names the model and the missing key.
        """
        manifest = read_manifest(project, check_fresh=check_fresh)
        metadata = manifest.get("metadata", {})
        config = project.feature_layer_vars
        entities = parse_entities(config)
        views = feature_views(manifest, entities, sqlglot_dialect(metadata.get("adapter_type", "duckdb")))
        transforms: dict[str, Transform] = {
            name: parse_sql_transform(name, spec) for name, spec in (config.get("transforms") or {}).items()
        }
        if config.get("transforms_module"):
            for name, transform in load_python_transforms(project.root / str(config["transforms_module"])).items():
                if name in transforms:
                    raise DefinitionError(f"Transform '{name}' is declared both in YAML and in Python.")
                transforms[name] = transform
        registry = cls(
            project_name=str(metadata.get("project_name", project.dbt_project_yml.get("name") or "")),
            adapter_type=str(metadata.get("adapter_type", "duckdb")),
            entities=entities,
            feature_views=views,
            manifest_path=project.manifest_path,
            feature_services=dict(sorted(parse_services(manifest).items())),
            request_sources=parse_request_sources(config.get("request_sources")),
            transforms=transforms,
            push_sources=parse_push_sources(manifest, set(views)),
        )
        for service in registry.feature_services.values():  # fail at load, not at request time
            try:  # (name collisions are the caller's to settle, with full_feature_names)
                resolve_request(registry, service.name, full_feature_names=True)
            except (ValidationError, DefinitionError) as exc:
                raise DefinitionError(f"Feature service '{service.name}': {exc}") from None
        return registry

    def feature_view(self, name: str) -> FeatureView:
        """The feature view called ``name``; the error suggests close names."""
        return _named(self.feature_views, name, "feature view", "(none: no model has config.meta.feature_layer)")

    def feature_service(self, name: str) -> FeatureService:
        """The feature service called ``name``; the error suggests close names."""
        none = "(none: no exposure has config.meta.feature_layer)"
        return _named(
            self.feature_services, name, "feature service", none, "Or pass a list of 'view:feature' references."
        )

    def push_source(self, name: str) -> PushSource:
        """The push source called ``name``; the error suggests close names."""
        none = "(none: no dbt source has meta: feature_layer: push_source)"
        return _named(self.push_sources, name, "push source", none)

    def transform(self, name: str) -> Transform:
        """The transform called ``name``; the error suggests close names."""
        try:
            return self.transforms[name]
        except KeyError:
            raise DefinitionError(
                f"No transform {shown(name)}.{suggest(name, self.transforms)} Declare it under dbt_project.yml "
                "`vars: feature_layer: transforms:` or with @on_demand_transform in the transforms module."
            ) from None

    def request_field(self, ref: str) -> tuple[str, pa.DataType] | None:
        """A request field by ``name`` or ``source.name``: (column name, type), or None."""
        source_name, _, field_name = ref.rpartition(".")
        for source in self.request_sources.values():
            if (not source_name or source.name == source_name) and field_name in source.fields:
                return field_name, source.fields[field_name]
        return None

    def request_field_names(self) -> list[str]:
        """Every request source's field names."""
        return [f for source in self.request_sources.values() for f in source.fields]


T = TypeVar("T")


def _named(items: Mapping[str, T], name: str, kind: str, none: str, hint: str = "") -> T:
    """``items[name]``, or a ValidationError naming the close names and all of them."""
    try:
        return items[name]
    except KeyError:
        names = list(items)
        raise ValidationError(
            f"No {kind} {shown(name)}.{suggest(name, names)} {kind.capitalize()}s: {', '.join(names) or none}."
            + (f" {hint}" if hint else "")
        ) from None
