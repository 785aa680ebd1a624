"""Reads dbt's manifest into feature views: what each model's ``config.meta.feature_layer`` declares.

Every check here names the model, the key and the fix, so a wrong declaration
fails when the registry loads, never at request time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import DefinitionError, ManifestError, ValidationError, suggest
from .._types import arrow_type, is_timestamp
from .ttl import parse_ttl
from .views import INTERVAL_COLUMNS, Entity, Feature, FeatureView

if TYPE_CHECKING:
    from .._dbt.project import Project

__all__ = ["VIEW_META_KEYS", "feature_views", "parse_entities", "read_manifest"]

#: Keys allowed under ``config.meta.feature_layer`` of a feature view.
VIEW_META_KEYS = frozenset(
    {"entities", "timestamp", "created_timestamp", "ttl", "owner", "description", "tags", "max_removal_share"}
)
#: how long a reader waits for a manifest that a dbt run in another process is writing
_WRITE_WAIT_SECONDS = 10.0


def read_manifest(project: Project, *, check_fresh: bool = True) -> dict[str, Any]:
    """The project's parsed ``manifest.json``.

    Raises:
        ManifestError: the manifest is missing, unreadable, stale, or of another project.
    """
    path = project.manifest_path
    if not path.is_file():
        raise ManifestError(
            f"No dbt manifest at {path}. Run `featurelayer build` (or `dbt parse`) in {project.root} first."
        )
    if check_fresh:
        _check_fresh(project, path)
    manifest = _load(path)
    expected = project.dbt_project_yml.get("name")
    found = manifest.get("metadata", {}).get("project_name")
    if expected and found not in (None, expected):
        raise ManifestError(
            f"{path} belongs to dbt project '{found}', not '{expected}'. "
            "Run `featurelayer build` to write this project's manifest."
        )
    return manifest


def _load(path: Path) -> dict[str, Any]:
    """The manifest's JSON; a half-written file (dbt writes it in place, a build may be running in
    another process) is read again until it parses, for up to ``_WRITE_WAIT_SECONDS``."""
    deadline = time.monotonic() + _WRITE_WAIT_SECONDS
    while True:
        try:
            with open(path) as f:
                manifest: dict[str, Any] = json.load(f)
            return manifest
        except json.JSONDecodeError as exc:
            if time.monotonic() >= deadline:
                raise ManifestError(f"Cannot read {path}: {exc}. Run `featurelayer build` to write it again.") from exc
            time.sleep(0.1)
        except OSError as exc:
            raise ManifestError(f"Cannot read {path}: {exc}. Run `featurelayer build` to write it again.") from exc


def feature_views(manifest: Mapping[str, Any], entities: Mapping[str, Entity], dialect: str) -> dict[str, FeatureView]:
    """The manifest's models with ``config.meta.feature_layer``, by name, sorted."""
    views = {}
    for node in manifest.get("nodes", {}).values():
        meta = _view_meta(node)
        if node.get("resource_type") == "model" and meta is not None:
            view = _feature_view(node, meta, entities, dialect)
            views[view.name] = view
    return dict(sorted(views.items()))


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


def parse_entities(config: Mapping[str, Any]) -> dict[str, Entity]:
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
    share = meta.get("max_removal_share")
    if share is not None and (isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1):
        raise DefinitionError(
            f"{where}: max_removal_share must be a number from 0 to 1 (the share of the view's online rows a full "
            f"sync may remove without --allow-removals). Got: {share!r}"
        )
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
        max_removal_share=None if share is None else float(share),
    )
