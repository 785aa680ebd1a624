"""Push sources: declared in dbt, pushed rows written online at once by the write rule's push part.

A copy of the built example gets a push source feeding ``user_profile``; rows
pushed through ``FeatureStore.push`` are read back with ``get_online_features``
at once, bad rows write nothing, and full syncs around a push follow the rule:
a build older than the push (or younger than its landing window) does not
replace it; a build past the landing window that still lacks it does.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from featurelayer import FeatureStore, FieldStatus, ValidationError, find_project
from featurelayer._dbt.runner import run_dbt
from featurelayer.cli import main

from .support.online import online_url

__all__ = ["online_url"]  # fixtures used here

pytestmark = pytest.mark.slow

PUSH_SOURCE = """
version: 2

sources:
  - name: pushed
    tables:
      - name: user_profile_updates
        description: Profile changes pushed by the account service as they happen.
        config:
          meta:
            feature_layer:
              push_source: {feature_view: user_profile, landing_window: 2s}
"""


@pytest.fixture
def pushed(example: Path, tmp_path: Path) -> Path:
    """A copy of the built example with a push source (the manifest re-parsed)."""
    root = tmp_path / "project"
    shutil.copytree(example, root)
    (root / "models" / "features" / "push_sources.yml").write_text(PUSH_SOURCE)  # (landing window 2s)
    run_dbt(find_project(root), ["parse"])
    return root


def _plan(store: FeatureStore, user: int) -> tuple[str | None, FieldStatus, dt.datetime | None]:
    response = store.get_online_features(["user_profile:plan"], [{"user_id": user}])
    return response.to_dict()["plan"][0], response.statuses["plan"][0], response.event_timestamps["plan"][0]


def test_the_push_source_is_listed(pushed: Path) -> None:
    result = CliRunner().invoke(main, ["--project-dir", str(pushed), "list", "--json"])
    assert result.exit_code == 0, result.output
    [source] = json.loads(result.output)["push_sources"]
    assert source == {
        "name": "user_profile_updates",
        "feature_view": "user_profile",
        "table": "pushed.user_profile_updates",
        "landing_window_seconds": 2,
        "fields": {
            "user_id": "int64",
            "event_timestamp": "timestamp[us]",
            "created_timestamp": "timestamp[us]",
            "country": "string",
            "plan": "string",
            "marketing_opt_in": "bool",
        },
    }


def test_a_push_is_read_online_at_once_and_bad_rows_write_nothing(pushed: Path, online_url: str) -> None:
    with FeatureStore(pushed, online_url=online_url) as store:
        store.sync(full=True)
        at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=123456)
        rows = [
            {"user_id": 7, "event_timestamp": at, "plan": "enterprise", "country": "NZ"},
            {"user_id": "8", "event_timestamp": at.isoformat(), "plan": "pro"},  # a key as text, an ISO string
            {"user_id": 7, "event_timestamp": at - dt.timedelta(seconds=1), "plan": "older"},  # same key, older
        ]
        rows_before = int(store.online_store.get_meta(store.registry.project_name, "user_profile").get("rows", "0"))
        written = store.push("user_profile_updates", rows)
        assert written.stored == 2
        # keys new online are counted for the removal guard, as a sync counts them
        rows_after = int(store.online_store.get_meta(store.registry.project_name, "user_profile")["rows"])
        assert rows_after == rows_before + written.created
        assert _plan(store, 7) == ("enterprise", FieldStatus.PRESENT, at)
        assert _plan(store, 8)[0] == "pro"
        country = store.get_online_features(["user_profile:country", "user_profile:marketing_opt_in"], [{"user_id": 8}])
        assert country.to_dict() == {"user_id": [8], "country": [None], "marketing_opt_in": [None]}  # left out: null
        # an older push does not replace a newer one
        store.push("user_profile_updates", [{"user_id": 7, "event_timestamp": at - dt.timedelta(hours=1), "plan": "x"}])
        assert _plan(store, 7)[0] == "enterprise"

        untouched = _plan(store, 10)
        for bad, message in [
            ({"user_id": 9, "event_timestamp": at, "plna": "pro"}, r"no column 'plna'.*Did you mean 'plan'"),
            ({"event_timestamp": at, "plan": "pro"}, r"Row 1 pushed to 'user_profile_updates' has no user_id"),
            ({"user_id": 9, "event_timestamp": "yesterday", "plan": "pro"}, r"'event_timestamp' holds 'yesterday'"),
            ({"user_id": 9, "event_timestamp": at, "marketing_opt_in": "maybe"}, r"'marketing_opt_in' holds"),
            ({"user_id": "nine", "event_timestamp": at, "plan": "pro"}, r"'user_id' holds 'nine'"),
            ({"user_id": 9, "event_timestamp": at + dt.timedelta(hours=1), "plan": "pro"}, "more than 5 minutes"),
        ]:
            with pytest.raises(ValidationError, match=message):  # in a batch with a good row: nothing written
                store.push("user_profile_updates", [{"user_id": 10, "event_timestamp": at, "plan": "free"}, bad])
            assert _plan(store, 10) == untouched
        with pytest.raises(ValidationError, match=r"No push source 'user_profile_update'.*Did you mean"):
            store.push("user_profile_update", rows)
        with pytest.raises(ValidationError, match="only to='online'"):
            store.push("user_profile_updates", rows, to="offline")


def test_full_syncs_keep_a_push_until_its_landing_window_has_passed(pushed: Path, online_url: str) -> None:
    with FeatureStore(pushed, online_url=online_url) as store:
        store.sync(full=True)
        warehouse_plan = _plan(store, 3)[0]
        at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        store.push("user_profile_updates", [{"user_id": 3, "event_timestamp": at, "plan": "pushed"}])
        # the build behind these syncs ran before the push: it cannot hold it, the push stays
        store.sync(full=True)
        assert _plan(store, 3)[0] == "pushed"
    time.sleep(2.1)  # past the landing window: a build now that still lacks the push is the truth
    run_dbt(find_project(pushed), ["build", "-s", "user_profile"])
    with FeatureStore(pushed, online_url=online_url) as store:
        store.sync(full=True)
        assert _plan(store, 3)[0] == warehouse_plan
