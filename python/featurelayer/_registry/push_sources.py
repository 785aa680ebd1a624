"""Push sources: where rows come from that are written online at once, then land in the warehouse.

A push source is a dbt source table marked in its YAML, feeding one feature
view whose model selects its rows (the view's keys, timestamp, created
timestamp and features)::

    sources:
      - name: pushed
        tables:
          - name: user_profile_updates
            config:
              meta:
                feature_layer:
                  push_source: {feature_view: user_profile, landing_window: 1h}

``name`` defaults to the table's. ``landing_window`` (default 1h) is how long a
pushed row may take to reach the feature table through the next build: until
then a sync does not replace the pushed row with an older warehouse row
(docs/online-store.md, "Pushed rows").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import DefinitionError, ValidationError
from .ttl import parse_ttl

if TYPE_CHECKING:
    import pyarrow as pa

    from .views import FeatureView

__all__ = ["PushSource", "parse_push_sources", "push_fields"]


@dataclass(frozen=True)
class PushSource:
    """A named way in for pushed rows of one feature view."""

    name: str
    feature_view: str
    landing_window_seconds: int
    table: str  # the dbt source table, as ``source_name.table``
    description: str = ""


def parse_push_sources(manifest: Mapping[str, Any], view_names: set[str]) -> dict[str, PushSource]:
    """The manifest's sources marked ``feature_layer: push_source``, checked against the feature views."""
    out: dict[str, PushSource] = {}
    for node in (manifest.get("sources") or {}).values():
        meta = ((node.get("config") or {}).get("meta") or node.get("meta") or {}).get("feature_layer") or {}
        spec = meta.get("push_source") if isinstance(meta, Mapping) else None
        if spec is None:
            continue
        table = f"{node.get('source_name')}.{node.get('name')}"
        where = f"source {table} ({node.get('original_file_path', '?')})"
        if not isinstance(spec, Mapping) or not spec.get("feature_view"):
            raise DefinitionError(
                f"{where}: push_source needs `feature_view: <the view it feeds>`, e.g. "
                "push_source: {feature_view: user_profile, landing_window: 1h}."
            )
        view = str(spec["feature_view"])
        if view not in view_names:
            raise DefinitionError(
                f"{where}: push_source feeds feature view '{view}', which does not exist. "
                f"Feature views: {', '.join(sorted(view_names)) or '(none)'}."
            )
        window = spec.get("landing_window", "1h")
        try:
            seconds = parse_ttl(str(window))
        except ValidationError:
            seconds = None
        if not seconds:
            raise DefinitionError(
                f"{where}: landing_window must be a duration with a unit, such as 1h or 15m; got {window!r}."
            )
        name = str(spec.get("name") or node.get("name"))
        if name in out:
            raise DefinitionError(f"Two push sources are named '{name}' ({out[name].table} and {table}).")
        out[name] = PushSource(name, view, int(seconds), table, str(node.get("description") or "").strip())
    return dict(sorted(out.items()))


def push_fields(view: FeatureView) -> dict[str, pa.DataType]:
    """What a pushed row of ``view`` holds: its join keys, event (and created) timestamp, and features."""
    import pyarrow as pa

    fields: dict[str, pa.DataType] = {key: view.key_types.get(key, pa.string()) for key in view.join_keys}
    fields[view.timestamp] = pa.timestamp("us")
    if view.created_timestamp:
        fields[view.created_timestamp] = pa.timestamp("us")
    for feature in view.features:
        fields.setdefault(feature.name, feature.arrow_type)
    return fields
