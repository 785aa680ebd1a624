"""Feature services and on-demand transforms through both stores, on the example project."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from featurelayer import DefinitionError, FeatureStore, FieldStatus, Registry, ValidationError, find_project
from featurelayer._dbt.runner import run_dbt

from .support.projects import EXAMPLE_END, copy_example_project

pytestmark = pytest.mark.slow

END = EXAMPLE_END
SERVICE = "user_profile_service"


def _entity(users: list[int], carts: list[float | None], at: dt.datetime = END) -> pd.DataFrame:
    return pd.DataFrame({"user_id": users, "event_timestamp": [at] * len(users), "cart_value": carts})


def test_a_service_resolves_features_and_transforms_offline(example: Path) -> None:
    users = list(range(1, 51))
    carts = [None if u % 7 == 0 else float(u * 5) for u in users]
    with FeatureStore(example) as store:
        table = store.get_historical_features(_entity(users, carts), SERVICE).to_arrow()
    assert table.column_names == [
        "user_id",
        "event_timestamp",
        "cart_value",
        "daily_transactions",
        "avg_transaction_value_7d",
        "last_login_days_ago",
        "plan",
        "country",
        "user_engagement_score",
        "is_high_value_session",
        "spend_vs_usual",
    ]
    assert table.schema.field("user_engagement_score").type == pa.float64()
    assert table.schema.field("is_high_value_session").type == pa.bool_()
    for row in table.to_pylist():  # the transforms' definitions, recomputed here by hand
        daily, avg, cart = row["daily_transactions"], row["avg_transaction_value_7d"], row["cart_value"]
        expected = None if daily is None or avg is None else daily * 0.5 + avg * 0.3
        assert row["user_engagement_score"] == expected
        assert row["is_high_value_session"] == (None if cart is None else cart > 100)
        ratio = row["spend_vs_usual"]
        if cart is None or not avg:
            assert ratio is None or math.isnan(ratio)
        else:
            assert ratio == pytest.approx(cart / avg)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_online_and_offline_give_identical_values_and_types(
    example: Path, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue("redis_url")) if backend == "redis" else f"sqlite:///{tmp_path / 'o.sqlite'}"
    users = [*range(1, 51), 10_000]
    carts = [None if u % 5 == 0 else float(u * 4) for u in users]
    later = END + dt.timedelta(days=12)  # some activity rows have expired by then
    with FeatureStore(example, online_url=url, clock=lambda: END) as store:
        store.sync(full=True)
    with FeatureStore(example, online_url=url, clock=lambda: later) as store:
        online = store.get_online_features(SERVICE, {"user_id": users}, request_data={"cart_value": carts})
        offline = store.get_historical_features(_entity(users, carts, later), SERVICE).to_arrow()
    table = online.to_arrow()
    for name in ("user_engagement_score", "is_high_value_session", "spend_vs_usual", "daily_transactions", "plan"):
        assert table.column(name).type == offline.column(name).type, name
        assert table.column(name).to_pylist() == offline.column(name).to_pylist(), name
    assert online.statuses["is_high_value_session"][4] is FieldStatus.NULL  # cart_value was None
    assert online.to_dict()["is_high_value_session"] == offline.column("is_high_value_session").to_pylist()


def test_missing_request_data_names_the_field(example: Path, tmp_path: Path) -> None:
    with FeatureStore(example, online_url=f"sqlite:///{tmp_path / 'o.sqlite'}", clock=lambda: END) as store:
        with pytest.raises(ValidationError, match=r"Missing request data.*\['cart_value'\].*is_high_value_session"):
            store.get_historical_features(pd.DataFrame({"user_id": [1], "event_timestamp": [END]}), SERVICE)
        with pytest.raises(
            ValidationError, match=r"Missing request data: request_data has no column\(s\) \['cart_value'\]"
        ):
            store.get_online_features(SERVICE, [{"user_id": 1}])
        with pytest.raises(ValidationError, match="no request data"):
            store.get_features_as_of(SERVICE, END)


def test_unknown_service_suggests_names(example: Path) -> None:
    with FeatureStore(example) as store, pytest.raises(ValidationError, match="Did you mean 'user_profile_service'"):
        store.get_historical_features(_entity([1], [1.0]), "user_profile_servce")


def test_sql_transform_runs_in_the_warehouse_and_to_table_refuses_python(example: Path) -> None:
    with FeatureStore(example) as store:
        job = store.get_historical_features(_entity([1, 2], [150.0, 5.0]), SERVICE)
        assert '"fl_entity"."cart_value" > 100' in job.sql()  # compiled into the query
        with pytest.raises(ValidationError, match=r"Python transform\(s\) \['spend_vs_usual'\]"):
            job.to_table("not_written")
        refs = ["user_activity:daily_transactions", "user_activity:avg_transaction_value_7d"]
        plain = store.get_historical_features(_entity([1, 2], [150.0, 5.0]), refs)
        assert plain.features == refs_out(refs)


def refs_out(refs: list[str]) -> list[str]:
    return [r.split(":")[1] for r in refs]


def _edit_project(root: Path, edit: Any) -> Path:
    path = root / "dbt_project" / "dbt_project.yml"
    document = yaml.safe_load(path.read_text())
    edit(document["vars"]["feature_layer"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return root


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["transforms"]["is_high_value_session"]["outputs"]["is_high_value_session"].update(
                expression="upper(plan) = 'PRO'"
            ),
            "uses UPPER",
        ),
        (
            lambda c: c["transforms"]["user_engagement_score"]["outputs"]["user_engagement_score"].update(
                expression="daily_transactions * churn_risk"
            ),
            "reads 'churn_risk'",
        ),
        (lambda c: c["transforms"].pop("is_high_value_session"), "No transform 'is_high_value_session'"),
        (lambda c: c["request_sources"]["session"].update(fields={}), "Request source 'session'"),
    ],
    ids=["unsupported-sql", "unknown-input", "missing-transform", "empty-request-source"],
)
def test_bad_definitions_fail_when_the_registry_loads(tmp_path: Path, edit: Any, message: str) -> None:
    root = copy_example_project(tmp_path / "p")
    run_dbt(find_project(root), ["parse"])
    Registry.from_project(find_project(root))  # the example itself loads
    _edit_project(root, edit)
    run_dbt(find_project(root), ["parse"])
    with pytest.raises(DefinitionError, match=message):
        Registry.from_project(find_project(root))


REFERRAL_SERVICE = """
  - name: referral_service
    type: ml
    owner: {name: Growth ML, email: growth-ml@example.com}
    depends_on: [ref('user_profile')]
    config:
      meta:
        feature_layer:
          features: [user_profile:plan, referrer:plan, referrer:country]
          projections:
            referrer: {view: user_profile, join_keys: {user_id: referrer_id}}
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_projection_reads_a_view_under_another_name_and_key(
    example: Path, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    import shutil

    root = tmp_path / "p"
    shutil.copytree(example, root)
    services = root / "models" / "features" / "services.yml"
    services.write_text(services.read_text() + REFERRAL_SERVICE)
    run_dbt(find_project(root), ["parse"])
    url = str(request.getfixturevalue("redis_url")) if backend == "redis" else f"sqlite:///{tmp_path / 'o.sqlite'}"
    users, referrers = [1, 2, 3, 4], [4, 3, 99_999, 1]
    with FeatureStore(root, online_url=url, clock=lambda: END) as store:
        store.sync(full=True)
        entity = pd.DataFrame({"user_id": users, "referrer_id": referrers, "event_timestamp": [END] * 4})
        offline = store.get_historical_features(entity, "referral_service", full_feature_names=True).to_arrow()
        online = store.get_online_features(
            "referral_service", {"user_id": users, "referrer_id": referrers}, full_feature_names=True
        )
        plans = dict(
            zip(
                users,
                store.get_historical_features(entity, ["user_profile:plan"]).to_arrow().column("plan").to_pylist(),
                strict=True,
            )
        )
        with pytest.raises(ValidationError, match=r"both be column 'plan'.*full_feature_names"):
            store.get_historical_features(entity, "referral_service")
    assert offline.column_names[-3:] == ["user_profile__plan", "referrer__plan", "referrer__country"]
    assert offline.column("referrer__plan").to_pylist() == [plans[4], plans[3], None, plans[1]]
    for name in ("user_profile__plan", "referrer__plan", "referrer__country"):
        assert online.to_arrow().column(name).to_pylist() == offline.column(name).to_pylist(), name
    assert online.statuses["referrer__plan"][2] is FieldStatus.NOT_FOUND
