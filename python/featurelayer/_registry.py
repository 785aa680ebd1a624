"""The feature registry, read from dbt's own artifacts.

dbt's ``manifest.json`` already is a registry: it knows every model, its
columns and types, its relation in the warehouse and its ``meta``. A feature
view is a model with ``config.meta.feature_layer``; entities are declared once
in ``dbt_project.yml`` under ``vars: feature_layer: entities:`` (vars are not
written to the manifest, so they are read from the project file). There is no
registry format of featurelayer's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ._errors import DefinitionError, ManifestError, ValidationError, suggest
from ._services import FeatureService, RequestSource, parse_request_sources, parse_services, resolve_request
from ._transforms import Transform, load_python_transforms, parse_sql_transform
from ._ttl import parse_ttl
from ._types import arrow_type, is_timestamp, sqlglot_dialect

if TYPE_CHECKING:
    from ._dbt.project import Project

__all__ = ["Entity", "Feature", "FeatureView", "Registry"]

#: Keys allowed under ``config.meta.feature_layer`` of a feature view.
VIEW_META_KEYS = frozenset({"entities", "timestamp", "created_timestamp", "ttl", "owner", "description", "tags"})
#: Columns every feature table has that are not features.
INTERVAL_COLUMNS = ("valid_from", "valid_to")


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
        from dataclasses import replace

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

    @cached_property
    def schema_tag(self) -> str:
        """A short hash of the features' names and types; online keys carry it."""
        from ._online_codec import schema_tag

        return schema_tag((f.name, str(f.arrow_type)) for f in self.features)

    def feature(self, name: str) -> Feature:
        """The feature called ``name``; the error suggests close names."""
        for feature in self.features:
            if feature.name == name:
                return feature
        names = [f.name for f in self.features]
        raise ValidationError(
            f"Feature view '{self.name}' has no feature '{name}'.{suggest(name, names)} "
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
        path = project.manifest_path
        if not path.is_file():
            raise ManifestError(
                f"No dbt manifest at {path}. Run `featurelayer build` (or `dbt parse`) in {project.root} first."
            )
        if check_fresh:
            _check_fresh(project, path)
        try:
            with open(path) as f:
                manifest = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"Cannot read {path}: {exc}. Run `featurelayer build` to write it again.") from exc
        project_yml = project.dbt_project_yml
        expected = project_yml.get("name")
        metadata = manifest.get("metadata", {})
        if expected and metadata.get("project_name") not in (None, expected):
            raise ManifestError(
                f"{path} belongs to dbt project '{metadata.get('project_name')}', not '{expected}'. "
                "Run `featurelayer build` to write this project's manifest."
            )
        config = project.feature_layer_vars
        entities = _entities(config)
        dialect = sqlglot_dialect(metadata.get("adapter_type", "duckdb"))
        views = {}
        for node in manifest.get("nodes", {}).values():
            meta = _view_meta(node)
            if node.get("resource_type") == "model" and meta is not None:
                view = _feature_view(node, meta, entities, dialect)
                views[view.name] = view
        transforms: dict[str, Transform] = {
            name: parse_sql_transform(name, spec) for name, spec in (config.get("transforms") or {}).items()
        }
        if config.get("transforms_module"):
            for name, transform in load_python_transforms(project.root / str(config["transforms_module"])).items():
                if name in transforms:
                    raise DefinitionError(f"Transform '{name}' is declared both in YAML and in Python.")
                transforms[name] = transform
        registry = cls(
            project_name=str(metadata.get("project_name", expected or "")),
            adapter_type=str(metadata.get("adapter_type", "duckdb")),
            entities=entities,
            feature_views=dict(sorted(views.items())),
            manifest_path=path,
            feature_services=dict(sorted(parse_services(manifest).items())),
            request_sources=parse_request_sources(config.get("request_sources")),
            transforms=transforms,
        )
        for service in registry.feature_services.values():  # fail at load, not at request time
            try:  # (name collisions are the caller's to settle, with full_feature_names)
                resolve_request(registry, service.name, full_feature_names=True)
            except (ValidationError, DefinitionError) as exc:
                raise DefinitionError(f"Feature service '{service.name}': {exc}") from None
        return registry

    def feature_view(self, name: str) -> FeatureView:
        """The feature view called ``name``; the error suggests close names."""
        try:
            return self.feature_views[name]
        except KeyError:
            names = list(self.feature_views)
            raise ValidationError(
                f"No feature view '{name}'.{suggest(name, names)} "
                f"Feature views: {', '.join(names) or '(none: no model has config.meta.feature_layer)'}."
            ) from None

    def feature_service(self, name: str) -> FeatureService:
        """The feature service called ``name``; the error suggests close names."""
        try:
            return self.feature_services[name]
        except KeyError:
            names = list(self.feature_services)
            raise ValidationError(
                f"No feature service '{name}'.{suggest(name, names)} "
                f"Feature services: {', '.join(names) or '(none: no exposure has config.meta.feature_layer)'}. "
                "Or pass a list of 'view:feature' references."
            ) from None

    def transform(self, name: str) -> Transform:
        try:
            return self.transforms[name]
        except KeyError:
            raise DefinitionError(
                f"No transform '{name}'.{suggest(name, self.transforms)} Declare it under dbt_project.yml "
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
        return [f for source in self.request_sources.values() for f in source.fields]


def _check_fresh(project: Project, manifest: Path) -> None:
    written = manifest.stat().st_mtime
    yml = project.dbt_project_yml
    folders = [
        (project.dbt_dir / p).resolve() for p in yml.get("model-paths", ["models"]) + yml.get("macro-paths", ["macros"])
    ]
    sources = [project.dbt_dir / "dbt_project.yml"]
    for folder in folders:
        if folder.is_dir():
            sources.extend(p for p in folder.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"})
    newer = [p for p in sources if p.stat().st_mtime > written]
    if newer:
        newest = max(newer, key=lambda p: p.stat().st_mtime)
        raise ManifestError(
            f"The dbt manifest {manifest} is stale: {newest} changed after it was written"
            f"{f' (and {len(newer) - 1} more files)' if len(newer) > 1 else ''}. "
            "Run `featurelayer build` (or `dbt parse`) to refresh it."
        )


def _entities(config: Mapping[str, Any]) -> dict[str, Entity]:
    declared = config.get("entities") or {}
    if not isinstance(declared, Mapping):
        raise DefinitionError(
            "dbt_project.yml `vars: feature_layer: entities:` must map entity names to "
            f"{{join_keys: [...]}}; got {declared!r}."
        )
    entities = {}
    for name, spec in declared.items():
        keys = (spec or {}).get("join_keys") if isinstance(spec, Mapping) else None
        if isinstance(keys, str):
            keys = [keys]
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise DefinitionError(
                f"Entity '{name}' in dbt_project.yml vars declares no join_keys. "
                f"Write `{name}: {{join_keys: [<column>, ...]}}`."
            )
        entities[name] = Entity(name=name, join_keys=tuple(keys), description=str(spec.get("description", "")))
    return entities


def _view_meta(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    value = meta.get("feature_layer")
    return value if value is not None else None


def _feature_view(node: Mapping[str, Any], meta: Any, entities: Mapping[str, Entity], dialect: str) -> FeatureView:
    name = node["name"]
    where = f"Model '{name}' ({node.get('original_file_path', '?')})"
    if not isinstance(meta, Mapping):
        raise DefinitionError(f"{where}: config.meta.feature_layer must be a mapping; got {meta!r}.")
    unknown = set(meta) - VIEW_META_KEYS
    if unknown:
        hints = "".join(suggest(k, VIEW_META_KEYS) for k in sorted(unknown))
        raise DefinitionError(
            f"{where}: unknown key(s) {sorted(unknown)} under config.meta.feature_layer.{hints} "
            f"Allowed: {', '.join(sorted(VIEW_META_KEYS))}."
        )

    entity_names = meta.get("entities")
    if isinstance(entity_names, str):
        entity_names = [entity_names]
    if not entity_names:
        raise DefinitionError(
            f"{where} is missing `entities` under config.meta.feature_layer. "
            f"Add e.g. `entities: [{next(iter(entities), 'user')}]`."
        )
    view_entities = []
    for entity_name in entity_names:
        if entity_name not in entities:
            raise DefinitionError(
                f"{where} uses entity '{entity_name}', which is not declared.{suggest(entity_name, entities)} "
                f"Declare it in dbt_project.yml under `vars: feature_layer: entities: {entity_name}: "
                "{join_keys: [...]}`."
            )
        view_entities.append(entities[entity_name])
    join_keys = tuple(dict.fromkeys(k for e in view_entities for k in e.join_keys))

    timestamp = meta.get("timestamp")
    if not timestamp or not isinstance(timestamp, str):
        raise DefinitionError(
            f"{where} is missing `timestamp` under config.meta.feature_layer: name the event timestamp column."
        )
    created = meta.get("created_timestamp") or None
    try:
        ttl_seconds = parse_ttl(meta.get("ttl"))
    except ValidationError as exc:
        raise DefinitionError(f"{where}: {exc}") from None

    columns = {c["name"]: c for c in (node.get("columns") or {}).values()}
    column_types = {}
    for column in columns.values():
        declared = column.get("data_type")
        if not declared:
            raise DefinitionError(
                f"{where}: column '{column['name']}' has no data_type. Declare it in the model's YAML "
                "(`data_type: <type>`): feature types come from these declarations."
            )
        column_types[column["name"]] = str(declared)
    for role, col in [
        *(("join key", k) for k in join_keys),
        ("timestamp", timestamp),
        ("created_timestamp", created),
    ]:
        if col is None:
            continue
        if col not in columns:
            raise DefinitionError(
                f"{where}: {role} column '{col}' is not declared under `columns:`. "
                f"Declare it with its data_type.{suggest(col, columns)}"
            )
        if role != "join key" and not is_timestamp(column_types[col], dialect):
            raise DefinitionError(
                f"{where}: {role} column '{col}' is declared as {column_types[col]!r}, not a timestamp. "
                f"Cast it in the model's SQL (cast({col} as timestamp)) and declare `data_type: timestamp`."
            )

    try:
        key_types = {key: arrow_type(column_types[key], dialect) for key in join_keys}
    except ValidationError as exc:
        raise DefinitionError(f"{where}: join key: {exc}") from None
    reserved = {*join_keys, timestamp, created, *INTERVAL_COLUMNS}
    features = []
    for column in columns.values():
        if column["name"] in reserved:
            continue
        try:
            features.append(
                Feature(
                    name=column["name"],
                    data_type=column_types[column["name"]],
                    arrow_type=arrow_type(column_types[column["name"]], dialect),
                    description=str(column.get("description") or ""),
                )
            )
        except ValidationError as exc:
            raise DefinitionError(f"{where}: column '{column['name']}': {exc}") from None
    if not features:
        raise DefinitionError(f"{where} declares no feature columns (columns other than keys and timestamps).")

    tags = meta.get("tags") or ()
    return FeatureView(
        name=name,
        unique_id=node["unique_id"],
        relation=str(node.get("relation_name") or f"{node.get('schema')}.{node.get('alias') or name}"),
        database=node.get("database"),
        schema=str(node.get("schema")),
        identifier=str(node.get("alias") or name),
        entities=tuple(view_entities),
        join_keys=join_keys,
        timestamp=timestamp,
        created_timestamp=created,
        ttl_seconds=ttl_seconds,
        features=tuple(features),
        column_types=column_types,
        key_types=key_types,
        description=str(meta.get("description") or node.get("description") or "").strip(),
        owner=meta.get("owner"),
        tags=tuple([tags] if isinstance(tags, str) else tags),
    )
