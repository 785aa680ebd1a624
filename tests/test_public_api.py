"""Pins the public names: removing or renaming one is a breaking change."""

from __future__ import annotations

import featurelayer


def test_public_names_are_pinned() -> None:
    assert sorted(featurelayer.__all__) == [
        "DbtRunError",
        "DefinitionError",
        "Entity",
        "Feature",
        "FeatureLayerError",
        "FeatureService",
        "FeatureStore",
        "FeatureView",
        "FieldStatus",
        "ManifestError",
        "OnlineResponse",
        "OnlineStoreError",
        "Project",
        "ProjectError",
        "Registry",
        "RemovalGuardError",
        "RequestSource",
        "RetrievalJob",
        "SyncReport",
        "ValidationError",
        "find_project",
        "on_demand_transform",
        "parse_ttl",
    ]
    for name in featurelayer.__all__:
        assert getattr(featurelayer, name) is not None


def test_every_error_is_a_feature_layer_error() -> None:
    for name in (
        "DbtRunError",
        "DefinitionError",
        "ManifestError",
        "OnlineStoreError",
        "ProjectError",
        "ValidationError",
    ):
        assert issubclass(getattr(featurelayer, name), featurelayer.FeatureLayerError)
    assert issubclass(featurelayer.ManifestError, featurelayer.ProjectError)
    assert issubclass(featurelayer.ValidationError, ValueError)
