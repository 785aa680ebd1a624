"""Resolves what a caller asks for into (view, feature, output column) triples.

Callers name features as ``"view:feature"`` references (``"view:*"`` for all
of a view's features) or name a feature service (``_services.resolve_request``
expands it into references, then calls this); everything downstream only
sees ``FeatureRef`` lists, so training and serving share one resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import ValidationError

if TYPE_CHECKING:
    from ._registry import Feature, FeatureView, Registry

__all__ = ["FeatureRef", "resolve_features"]


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
    registry: Registry,
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
            raise ValidationError(f"Feature reference {reference!r} is not of the form 'view:feature' (or 'view:*').")
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
            raise ValidationError(f"Feature '{ref.reference}' is requested twice.")
        else:
            raise ValidationError(
                f"Features '{other.reference}' and '{ref.reference}' would both be column "
                f"'{ref.output_name}'. Pass full_feature_names=True to name columns 'view__feature'."
            )
    return refs
