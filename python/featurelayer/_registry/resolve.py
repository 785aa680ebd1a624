"""Resolves what a caller asks for, once, for training and serving alike.

Callers name features as ``"view:feature"`` references (``"view:*"`` for all
of a view's features) or name a feature service. ``resolve_request`` turns
either into a ``ResolvedRequest``: ``FeatureRef`` triples (view, feature,
output column), the service's transforms bound to the request's columns, and
the request fields they read. Training retrieval and online serving both
consume that, so the two cannot resolve differently.

Resolution belongs to the registry's wing because the registry checks, while
it loads, that every feature service resolves (a broken service fails then,
not at request time). It reads the registry through ``Catalog``, the lookups
it needs, so that ``registry`` imports this module and not the reverse.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from .._errors import DefinitionError, ValidationError, shown
from .._transforms.bound import BoundTransform
from .._transforms.definitions import SqlTransform, Transform
from .services import FeatureService
from .views import Feature, FeatureView

__all__ = [
    "Catalog",
    "FeatureRef",
    "ResolvedRequest",
    "check_collisions",
    "check_request_fields",
    "resolve_features",
    "resolve_request",
]


class Catalog(Protocol):
    """What resolution looks up in a registry (``Registry`` is one); errors suggest close names."""

    @property
    def feature_views(self) -> Mapping[str, FeatureView]: ...
    def feature_view(self, name: str) -> FeatureView: ...
    def feature_service(self, name: str) -> FeatureService: ...
    def transform(self, name: str) -> Transform: ...
    def request_field(self, ref: str) -> tuple[str, pa.DataType] | None: ...
    def request_field_names(self) -> list[str]: ...


@dataclass(frozen=True)
class FeatureRef:
    """One requested feature and the column it lands in."""

    view: FeatureView
    feature: Feature
    output_name: str

    @property
    def reference(self) -> str:
        return f"{self.view.name}:{self.feature.name}"


def resolve_features(
    registry: Catalog,
    features: str | Sequence[str],
    *,
    full_feature_names: bool = False,
    projections: Mapping[str, FeatureView] | None = None,
) -> list[FeatureRef]:
    """Turns references or a service name into FeatureRefs, in request order.

    Args:
        registry: where views are looked up.
        features: ``["view:feature", "view:*", ...]``, or a feature service name.
        full_feature_names: name output columns ``view__feature`` instead of ``feature``.
        projections: views under other names (a feature service's), by name.

    Raises:
        ValidationError: a malformed reference, an unknown view or feature (with
            close names), a duplicate, or two features landing in one column.
    """
    if isinstance(features, str):
        hint = f" Write [{features!r}]." if ":" in features else " (A feature service name goes to resolve_request.)"
        raise ValidationError(
            f"features must be a list of 'view:feature' references; got the single string {features!r}.{hint}"
        )
    if not features:
        raise ValidationError("features is empty: name at least one 'view:feature' reference.")
    refs: list[FeatureRef] = []
    for reference in features:
        if not isinstance(reference, str) or reference.count(":") != 1:
            raise ValidationError(
                f"Feature reference {shown(reference)} is not of the form 'view:feature' (or 'view:*')."
            )
        view_name, feature_name = reference.split(":")
        view = projections[view_name] if projections and view_name in projections else registry.feature_view(view_name)
        chosen = view.features if feature_name == "*" else (view.feature(feature_name),)
        for feature in chosen:
            name = f"{view.name}__{feature.name}" if full_feature_names else feature.name
            refs.append(FeatureRef(view=view, feature=feature, output_name=name))

    seen: dict[str, FeatureRef] = {}
    for ref in refs:
        other = seen.get(ref.output_name)
        if other is None:
            seen[ref.output_name] = ref
        elif other.reference == ref.reference:
            raise ValidationError(f"Feature {shown(ref.reference)} is requested twice.")
        else:
            raise ValidationError(
                f"Features '{other.reference}' and '{ref.reference}' would both be column "
                f"'{ref.output_name}'. Pass full_feature_names=True to name columns 'view__feature'."
            )
    return refs


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
    registry: Catalog, features: str | Sequence[str], *, full_feature_names: bool = False
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


def check_request_fields(columns: Sequence[str], request: ResolvedRequest, where: str) -> None:
    """Raises unless ``columns`` hold every request field the request's transforms read."""
    missing = [f for f in request.request_fields if f not in columns]
    if missing:
        needs = sorted({b.transform.name for b in request.transforms for c in b.inputs.values() if c in missing})
        raise ValidationError(
            f"Missing request data: {where} has no column(s) {missing}, which transform(s) {needs} read. "
            f"Add them as {where} columns (online: pass them in request_data)."
        )


def check_collisions(entity_columns: Sequence[str], request: ResolvedRequest) -> None:
    """Raises when an entity column has the name of an output column."""
    clashes = sorted(set(entity_columns) & set(request.output_names))
    if clashes:
        raise ValidationError(
            f"entity_df already has column(s) {clashes}, which the requested features would also fill. "
            "Rename them, or pass full_feature_names=True to name features 'view__feature'."
        )
