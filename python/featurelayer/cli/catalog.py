"""``featurelayer list`` and ``describe``: what the registry holds."""

from __future__ import annotations

import json

import click

from .._freshness import view_freshness
from .._registry.push_sources import push_fields
from .._registry.registry import Registry
from .._registry.ttl import format_ttl
from .._registry.views import FeatureView
from .._store import FeatureStore
from .._transforms.definitions import SqlTransform
from .common import friendly_errors, project_of

__all__ = ["describe", "list_command"]


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: entities and feature views.")
@click.pass_context
@friendly_errors
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Entities, feature views and their features with types."""
    registry = Registry.from_project(project_of(ctx))
    if as_json:
        document = {
            "project": registry.project_name,
            "adapter": registry.adapter_type,
            "entities": [
                {"name": e.name, "join_keys": list(e.join_keys), "description": e.description}
                for e in registry.entities.values()
            ],
            "feature_views": [v.to_dict() for v in registry.feature_views.values()],
            "feature_services": [
                {
                    "name": s.name,
                    "features": list(s.features),
                    "transforms": list(s.transforms),
                    "owner": s.owner,
                    "description": s.description,
                }
                for s in registry.feature_services.values()
            ],
            "transforms": [
                {
                    "name": name,
                    "kind": "sql" if isinstance(t, SqlTransform) else "python",
                    "outputs": {k: str(v) for k, v in t.output_types.items()},
                }
                for name, t in registry.transforms.items()
            ],
            "request_sources": [
                {"name": r.name, "fields": {k: str(v) for k, v in r.fields.items()}}
                for r in registry.request_sources.values()
            ],
            "push_sources": [
                {
                    "name": p.name,
                    "feature_view": p.feature_view,
                    "table": p.table,
                    "landing_window_seconds": p.landing_window_seconds,
                    "fields": {k: str(v) for k, v in push_fields(registry.feature_views[p.feature_view]).items()},
                }
                for p in registry.push_sources.values()
            ],
        }
        click.echo(json.dumps(document, indent=2))
        return
    click.echo("Entities:")
    for entity in registry.entities.values():
        click.echo(f"  {entity.name:<20} join keys: {', '.join(entity.join_keys)}")
    click.echo("\nFeature views:")
    for view in registry.feature_views.values():
        ttl = format_ttl(view.ttl_seconds)
        click.echo(f"  {view.name:<20} entities: {', '.join(e.name for e in view.entities)}  ttl: {ttl}")
        for feature in view.features:
            click.echo(f"    {view.name}:{feature.name:<30} {feature.arrow_type}")
    if registry.feature_services:
        click.echo("\nFeature services:")
        for service in registry.feature_services.values():
            click.echo(
                f"  {service.name:<20} {len(service.features)} feature reference(s), "
                f"transforms: {', '.join(service.transforms) or '-'}"
            )
    if registry.push_sources:
        click.echo("\nPush sources:")
        for source in registry.push_sources.values():
            window = format_ttl(source.landing_window_seconds)
            click.echo(f"  {source.name:<24} -> {source.feature_view}  landing window: {window}")
    if registry.transforms:
        click.echo("\nTransforms:")
        for name, transform in registry.transforms.items():
            kind = "sql" if isinstance(transform, SqlTransform) else "python"
            outputs = ", ".join(f"{k} {v}" for k, v in transform.output_types.items())
            click.echo(f"  {name:<24} ({kind}) -> {outputs}")


@click.command()
@click.argument("view_name")
@click.pass_context
@friendly_errors
def describe(ctx: click.Context, view_name: str) -> None:
    """Everything about one feature view or feature service."""
    project = project_of(ctx)
    registry = Registry.from_project(project)
    if view_name in registry.feature_services and view_name not in registry.feature_views:
        service = registry.feature_services[view_name]
        click.echo(f"Feature service {service.name}")
        click.echo(f"  owner:        {service.owner or '-'}")
        if service.description:
            click.echo(f"  description:  {service.description}")
        click.echo("  features:     " + ", ".join(service.features))
        click.echo("  transforms:   " + (", ".join(service.transforms) or "-"))
        return
    view = registry.feature_view(view_name)
    click.echo(_describe(view))
    for source in registry.push_sources.values():
        if source.feature_view == view.name:
            window = format_ttl(source.landing_window_seconds)
            click.echo(f"  push source:        {source.name} (dbt source {source.table}, landing window {window})")
    with FeatureStore(project.root, ctx.obj["profiles_dir"], project.target) as store:
        click.echo("\n".join(view_freshness(store, view).lines(store.clock())))


def _describe(view: FeatureView) -> str:
    lines = [
        f"Feature view {view.name}",
        f"  relation:           {view.relation}",
        f"  entities:           {', '.join(e.name for e in view.entities)} (join keys: {', '.join(view.join_keys)})",
        f"  timestamp:          {view.timestamp}",
        f"  created timestamp:  {view.created_timestamp or '-'}",
        f"  ttl:                {format_ttl(view.ttl_seconds)}",
        f"  owner:              {view.owner or '-'}",
        f"  tags:               {', '.join(view.tags) or '-'}",
    ]
    if view.description:
        lines.append(f"  description:        {view.description}")
    lines.append("  features:")
    width = max(len(f.name) for f in view.features)
    for feature in view.features:
        text = f"    {feature.name:<{width}}  {feature.data_type:<12} ({feature.arrow_type})"
        lines.append(f"{text}  {feature.description}".rstrip())
    return "\n".join(lines)
