"""Feature services and request sources: what a model asks for, resolved once for both stores.

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
features and request fields. ``resolve_request`` turns a list of references
or a service name into a ``ResolvedRequest``, and training retrieval and
online serving both consume that, so the two cannot resolve differently.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ._errors import DefinitionError, ValidationError
from ._features import FeatureRef, resolve_features
from ._transforms import PythonTransform, SqlTransform, Transform

if TYPE_CHECKING:
    from ._online import OnlineResponse
    from ._registry import FeatureView, Registry
    from ._transform_rows import RowsFunction

__all__ = ["BoundTransform", "FeatureService", "Projection", "RequestSource", "ResolvedRequest", "resolve_request"]


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


@dataclass(frozen=True)
class BoundTransform:
    """A transform within one request: its inputs mapped to the request's columns.

    Attributes:
        inputs: the transform's input name as written -> the column holding it
            (a feature's output column, or a request field).
        outputs: output column in the result -> the transform's own output name.
    """

    transform: Transform
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]

    @functools.cached_property
    def row_functions(self) -> dict[str, RowsFunction] | None:
        """A SQL transform's outputs compiled to Python loops, or None where one is not covered.

        Compiled on first use: a bound transform lives as long as its resolved
        request, which the store caches for the online hot path.
        """
        from ._transform_rows import compile_rows

        transform = self.transform
        if not isinstance(transform, SqlTransform):
            return None
        functions = {}
        for output in transform.outputs:
            function = compile_rows(output, list(self.inputs), transform.name)
            if function is None:
                return None
            functions[output.name] = function
        return functions


@dataclass(frozen=True)
class ResolvedRequest:
    refs: list[FeatureRef]
    transforms: list[BoundTransform]
    request_fields: Mapping[str, pa.DataType]

    @property
    def output_names(self) -> list[str]:
        return [r.output_name for r in self.refs] + [name for t in self.transforms for name in t.outputs]

    @functools.cached_property
    def output_types(self) -> dict[str, pa.DataType]:
        """Output column -> its type (computed once: the online hot path asks on every request)."""
        types = {r.output_name: r.feature.arrow_type for r in self.refs}
        for bound in self.transforms:
            own = bound.transform.output_types
            types.update({column: own[name] for column, name in bound.outputs.items()})
        return types


def resolve_request(
    registry: Registry, features: str | Sequence[str], *, full_feature_names: bool = False
) -> ResolvedRequest:
    """References or a feature service name -> features, bound transforms and the request fields needed.

    Raises:
        ValidationError: an unknown service (with close names) or feature.
        DefinitionError: a transform reads a column the request does not provide.
    """
    transform_names: tuple[str, ...] = ()
    projections: dict[str, FeatureView] = {}
    if isinstance(features, str) and ":" not in features:
        service = registry.feature_service(features)
        features, transform_names = list(service.features), service.transforms
        for projection in service.projections:
            if projection.name in registry.feature_views:
                raise DefinitionError(f"Projection '{projection.name}' has the name of a feature view; rename it.")
            base = registry.feature_view(projection.view)
            projections[projection.name] = base.projected(projection.name, projection.join_keys)
    refs = resolve_features(registry, features, full_feature_names=full_feature_names, projections=projections)
    by_output = {r.output_name: r for r in refs}
    qualified = {f"{r.view.name}.{r.feature.name}": r.output_name for r in refs}
    plain = {r.feature.name: r.output_name for r in refs}
    request_fields: dict[str, pa.DataType] = {}
    bound = []
    for name in transform_names:
        transform = registry.transform(name)
        inputs: dict[str, str] = {}
        for ref in transform.inputs if isinstance(transform, SqlTransform) else list(transform.inputs):
            column = qualified.get(ref) or plain.get(ref) or (ref if ref in by_output else None)
            if column is None:
                field = registry.request_field(ref)
                if field is None:
                    raise DefinitionError(
                        f"Transform '{name}' reads '{ref}', which is neither a feature of this request "
                        f"({sorted(plain)}) nor a field of a request source "
                        f"({sorted(registry.request_field_names())})."
                    )
                column, kind = field
                request_fields[column] = kind
            inputs[ref] = column
        own = transform.output_types
        outputs = {(f"{name}__{out}" if full_feature_names else out): out for out in own}
        bound.append(BoundTransform(transform, inputs, outputs))
    names = [r.output_name for r in refs] + [o for b in bound for o in b.outputs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"Columns {duplicates} would appear twice; pass full_feature_names=True.")
    return ResolvedRequest(refs, bound, request_fields)


def transform_inputs(bound: BoundTransform, table: pa.Table) -> pa.Table:
    """The columns a transform reads, named as it names them."""
    return pa.table({ref: table.column(column) for ref, column in bound.inputs.items()})


def apply_transforms(request: ResolvedRequest, table: pa.Table, *, skip_sql: bool = False) -> pa.Table:
    """Appends every transform's outputs to ``table`` (features and request fields already in it).

    Offline, SQL transforms were computed in the warehouse (``skip_sql``);
    online, they run here, compiled to pyarrow.compute.
    """
    from ._transforms import compile_arrow

    for bound in request.transforms:
        if isinstance(bound.transform, SqlTransform) and skip_sql:
            continue
        inputs = transform_inputs(bound, table)
        if isinstance(bound.transform, PythonTransform):
            produced = bound.transform.apply(inputs)
            values = {out: produced.column(out) for out in bound.transform.outputs}
        else:
            values = {o.name: compile_arrow(o)(inputs) for o in bound.transform.outputs}
        for column, name in bound.outputs.items():
            table = table.append_column(column, values[name])
    return table


def apply_online_transforms(request: ResolvedRequest, response: OnlineResponse) -> OnlineResponse:
    """The response plus every transform's outputs, computed as online requests need.

    A SQL transform whose inputs are plain Python values (integers, doubles,
    booleans, strings) runs as compiled Python over them (``_transform_rows``):
    for a request's few rows that is several times cheaper than pyarrow.compute.
    The rest go through Arrow, as offline.
    """
    added: dict[str, Any] = {}
    arrow: list[BoundTransform] = []
    for bound in request.transforms:
        python = _in_python(bound, response)
        if python is None:
            arrow.append(bound)
            continue
        columns, functions = python
        values = {name: function(columns) for name, function in functions.items()}
        added.update({column: values[name] for column, name in bound.outputs.items()})
    if arrow:
        subset = ResolvedRequest(request.refs, arrow, request.request_fields)
        needed = dict.fromkeys(column for t in arrow for column in t.inputs.values())
        table = apply_transforms(subset, pa.table({name: response.column(name) for name in needed}))
        added.update({name: table.column(name) for t in arrow for name in t.outputs})
    ordered = {name: added[name] for t in request.transforms for name in t.outputs}
    return response.with_columns(ordered, request.output_types)


def _in_python(
    bound: BoundTransform, response: OnlineResponse
) -> tuple[list[list[Any]], dict[str, RowsFunction]] | None:
    """The input columns and compiled functions of a SQL transform the Python backend covers; else None."""
    functions = bound.row_functions
    if functions is None:
        return None
    columns = []
    for column in bound.inputs.values():
        values = response.plain_values(column)
        if values is None:
            return None
        columns.append(values)
    if bound.transform.casts and any(type(v) is str for values in columns for v in values):  # type: ignore[union-attr]
        return None  # the Python casts take no strings; Arrow parses them as the warehouse does
    return columns, functions


def parse_request_sources(config: Any) -> dict[str, RequestSource]:
    from ._transforms import TRANSFORM_DIALECT
    from ._types import arrow_type

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
