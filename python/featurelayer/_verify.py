"""The skew audit: online values against training retrieval at the same instant.

For a sample of entities with a row valid now, it reads every feature online
and offline (``get_historical_features`` at the same ``now``) and reports each
difference of value, type or presence. A clean audit is the evidence that
what a model sees online is what it was trained on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ._online.response import FieldStatus

if TYPE_CHECKING:
    from ._store import FeatureStore

__all__ = ["Mismatch", "VerifyReport", "verify"]


@dataclass(frozen=True)
class Mismatch:
    view: str
    entity: dict[str, Any]
    feature: str
    online: Any
    offline: Any
    detail: str


@dataclass
class VerifyReport:
    checked_entities: int = 0
    checked_values: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        verdict = "no skew" if self.ok else f"{len(self.mismatches):,} mismatch(es)"
        return f"verified {self.checked_values:,} values of {self.checked_entities:,} entities: {verdict}"


def verify(store: FeatureStore, *, sample: int = 100, views: list[str] | None = None, seed: int = 0) -> VerifyReport:
    """Compares online and offline values for up to ``sample`` entities per view."""
    report = VerifyReport()
    now = store.clock()
    chosen = [store.registry.feature_view(v) for v in views] if views else list(store.registry.feature_views.values())
    rng = random.Random(seed)
    for view in chosen:
        features = [f"{view.name}:*"]
        current = store.get_features_as_of(features, now).to_arrow().select(list(view.join_keys))
        indices = sorted(rng.sample(range(current.num_rows), min(sample, current.num_rows)))
        entities = current.take(pa.array(indices, pa.int64()))
        if entities.num_rows == 0:
            continue
        online = store.get_online_features(features, entities)
        offline_input = entities.append_column(
            "event_timestamp", pa.array([now] * entities.num_rows, pa.timestamp("us"))
        )
        offline = store.get_historical_features(offline_input, features).to_arrow()
        online_table = online.to_arrow()
        keys = entities.to_pylist()
        report.checked_entities += entities.num_rows
        for feature in view.features:
            got, want = online_table.column(feature.name), offline.column(feature.name)
            report.checked_values += entities.num_rows
            if got.type != want.type:
                report.mismatches.append(
                    Mismatch(view.name, {}, feature.name, str(got.type), str(want.type), "type differs")
                )
                continue
            statuses = online.statuses[feature.name]
            for i, (a, b, status) in enumerate(zip(got.to_pylist(), want.to_pylist(), statuses, strict=True)):
                if a != b and not (a != a and b != b):  # NaN equals NaN here
                    detail = (
                        "missing online" if status is not FieldStatus.PRESENT and b is not None else "value differs"
                    )
                    report.mismatches.append(Mismatch(view.name, keys[i], feature.name, a, b, detail))
    return report
