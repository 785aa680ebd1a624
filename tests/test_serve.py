"""``featurelayer serve``: a real server process against real Redis and the embedded store.

Every response is compared with ``get_online_features`` for the same rows,
read in this process straight from the store: values, statuses (Feast's
names) and event timestamps, for plain features, the example's service with
SQL and Python transforms, request data in either place, and full names.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from featurelayer import FeatureStore, FieldStatus

from .support.online import FEATURES
from .support.projects import copy_example_project
from .support.server import ServerProcess
from .support.services import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.serve]

FEAST = {
    FieldStatus.PRESENT: "PRESENT",
    FieldStatus.NULL: "NULL_VALUE",
    FieldStatus.NOT_FOUND: "NOT_FOUND",
    FieldStatus.EXPIRED: "OUTSIDE_MAX_AGE",
}
EPOCH = "1970-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project with data up to today: a server reads at the real now."""
    from featurelayer import find_project
    from featurelayer._dbt.runner import run_dbt
    from featurelayer._example.data import generate_example_data

    root = copy_example_project(tmp_path_factory.mktemp("serve") / "project")
    generate_example_data(root / "data" / "raw", users=80, days=60, end=dt.date.today())
    run_dbt(find_project(root), ["build"])
    return root


@pytest.fixture(scope="module", params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def served(
    request: pytest.FixtureRequest, today: Path, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    """A synced online store and a server over it."""
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    if request.param == "redis":
        import redis

        url = redis_server.url.rsplit("/", 1)[0] + "/7"
        redis.Redis.from_url(url).flushdb()
    else:
        url = f"sqlite:///{folder / 'online.sqlite'}"
    with FeatureStore(today, online_url=url) as store:
        store.sync(full=True)
    server = ServerProcess(today, url, folder / "serve.log").wait_ready()
    yield server, url
    assert server.stop() in (0, -signal.SIGTERM), server.log.read_text()  # (uvicorn re-raises the signal it handled)


def _stamp(value: dt.datetime | None) -> str:
    """protobuf's JSON of a Timestamp: 0, 3 or 6 fractional digits."""
    if value is None:
        return EPOCH
    text = value.isoformat()
    if "." in text and text.endswith("000"):
        text = text[:-3]
    return text + "Z"


def _expected(
    store: FeatureStore, features: Any, entities: dict[str, list[Any]], join_keys: Any = ("user_id",), **kwargs: Any
) -> dict[str, Any]:
    """What the server must answer, from get_online_features in this process."""
    response = store.get_online_features(features, entities, **kwargs)
    values = response.to_dict()
    stamps = response.event_timestamps
    keys = [k for k in entities if k in join_keys]
    results = [{"values": entities[k], "statuses": ["PRESENT"] * len(entities[k])} for k in keys]
    for name, statuses in response.statuses.items():
        results.append({"values": values[name], "statuses": [FEAST[s] for s in statuses], "stamps": stamps[name]})
    return {"names": [*keys, *response.statuses], "results": results}


def _check(answer: dict[str, Any], expected: dict[str, Any]) -> None:
    assert answer["metadata"]["feature_names"] == expected["names"]
    assert len(answer["results"]) == len(expected["results"])
    for got, want in zip(answer["results"], expected["results"], strict=True):
        assert got["values"] == want["values"]
        assert got["statuses"] == want["statuses"]
        stamps = want.get("stamps") or [None] * len(want["values"])
        assert got["event_timestamps"] == [_stamp(s) for s in stamps]


def _same_as_in_process(server: ServerProcess, url: str, body: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    """The server's answer equals get_online_features before or after it (a ttl may end in between)."""
    with FeatureStore(server.project, online_url=url) as store:
        before = _expected(store, *args, **kwargs)
        answer = server.post(body)
        assert answer.status_code == 200, answer.text
        after = _expected(store, *args, **kwargs)
    try:
        _check(answer.json(), before)
    except AssertionError:
        _check(answer.json(), after)


def test_features_equal_get_online_features(served: tuple[ServerProcess, str]) -> None:
    server, url = served
    rng = random.Random(14)
    users = [*range(1, 81), 10_000_001]
    for _ in range(12):
        features = rng.sample(FEATURES, rng.randint(1, len(FEATURES)))
        ids = rng.choices(users, k=rng.randint(1, 40))
        body = {"features": features, "entities": {"user_id": ids}}
        _same_as_in_process(server, url, body, features, {"user_id": ids})
    answer = server.post({"features": FEATURES, "entities": {"user_id": users}}).json()
    statuses = {s for result in answer["results"][1:] for s in result["statuses"]}
    assert {"PRESENT", "NOT_FOUND"} <= statuses  # the check above compared values, not just emptiness


def test_a_service_with_transforms_and_request_data(served: tuple[ServerProcess, str]) -> None:
    server, url = served
    ids, carts = [3, 7, 10_000_001, 12], [10.0, 250.5, 99.0, 0.0]
    expected_args = ("user_profile_service", {"user_id": ids})
    request_data = {"cart_value": carts}
    # request data inside "entities", as Feast takes it, and in "request_data"
    for body in (
        {"feature_service": "user_profile_service", "entities": {"user_id": ids, "cart_value": carts}},
        {
            "feature_service": "user_profile_service",
            "entities": {"user_id": ids},
            "request_data": {"cart_value": carts},
        },
    ):
        _same_as_in_process(server, url, body, *expected_args, request_data=request_data)
    full = {"feature_service": "user_profile_service", "entities": {"user_id": ids, "cart_value": carts},
            "full_feature_names": True}  # fmt: skip
    with FeatureStore(server.project, online_url=url) as store:
        want = _expected(store, *expected_args, request_data=request_data, full_feature_names=True)
    answer = server.post(full).json()
    assert answer["metadata"]["feature_names"] == want["names"]
    assert "user_activity__daily_transactions" in answer["metadata"]["feature_names"]


GOOD = {"features": ["user_profile:plan"], "entities": {"user_id": [1]}}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        ({"entities": {"user_id": [1]}}, 400, 'Give either "features".*or "feature_service".*neither'),
        ({**GOOD, "feature_service": "user_profile_service"}, 400, "not both"),
        ({"features": "user_profile:plan", "entities": {"user_id": [1]}}, 400, "non-empty list"),
        ({"features": ["user_profile:plna"], "entities": {"user_id": [1]}}, 400, "Did you mean 'plan'"),
        ({"features": ["user_profil:plan"], "entities": {"user_id": [1]}}, 400, "Did you mean 'user_profile'"),
        ({"feature_service": "user_profile_servic", "entities": {"user_id": [1]}}, 400, "Did you mean"),
        ({"features": ["user_profile:plan"], "entities": {"customer": [1]}}, 400, r"lack join key\(s\) \['user_id'\]"),
        ({"features": ["user_profile:plan"], "entities": {"user_id": ["abc"]}}, 400, "'abc'.*not a int64 key"),
        ({"features": ["user_profile:plan"], "entities": {"user_id": [True]}}, 400, "bool"),
        ({"features": ["user_profile:plan"], "entities": {"user_id": [[1]]}}, 400, "plain values"),
        ({"features": ["user_profile:plan"], "entities": {"user_id": [1, 2], "x": [1]}}, 400, "same number"),
        ({"features": ["user_profile:plan"], "entities": {"user_id": 1}}, 400, "list of values"),
        ({**GOOD, "full_feature_names": "yes"}, 400, "true or false"),
        ({"feature_service": "user_profile_service", "entities": {"user_id": [1]}}, 400, "cart_value"),
        ({"features": ["user_profile:plan"], "entities": {"user_id": list(range(1001))}}, 413, "at most 1000"),
        (b'{"features": ["user_profile:plan"], "entities": {"user_id": [' + b"1," * 600_000 + b"1]}}", 413, "bytes"),
        (b"[" * 5000 + b"]" * 5000, 400, "not JSON"),
        ({"features": ["user_profile:plan"], "entities": {"user_id": [2**70]}}, 400, "not JSON|int64"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(
    served: tuple[ServerProcess, str], body: Any, status: int, message: str
) -> None:
    import re

    server, _ = served
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    answer = httpx.post(f"{server.url}/get-online-features", timeout=10, **kwargs)
    assert answer.status_code == status, answer.text
    assert re.search(message, answer.json()["message"]), answer.json()
    assert server.post(GOOD).status_code == 200  # and the worker is still there
    assert server.process.poll() is None


def test_a_token_is_required_when_set(today: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-Token\n")
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    with FeatureStore(today, online_url=url) as store:
        store.sync(full=True)
    server = ServerProcess(today, url, tmp_path / "log", "--token-file", str(token)).wait_ready()
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-Token"}):
            answer = server.post(GOOD, headers=headers)
            assert answer.status_code == 401 and "Bearer" in answer.json()["message"]
            assert "s3cret" not in answer.text
        assert server.post(GOOD, headers={"Authorization": "Bearer s3cret-Token"}).status_code == 200
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        assert httpx.get(f"{server.url}/health").status_code == 200  # probes need no token
    finally:
        server.stop()
    assert "s3cret" not in server.log.read_text()


def test_metrics_count_requests_and_show_freshness(served: tuple[ServerProcess, str]) -> None:
    server, _ = served
    before = _metric(server, 'featurelayer_request_seconds_count{endpoint="get-online-features",status="400"}', 0)
    server.post({"features": ["nope:nope"], "entities": {"user_id": [1]}})
    server.post({"features": ["nope:nope"], "entities": {"user_id": [1]}})
    assert server.post({"features": FEATURES, "entities": {"user_id": [1, 2, 3]}}).status_code == 200
    after = _metric(server, 'featurelayer_request_seconds_count{endpoint="get-online-features",status="400"}')
    assert after == before + 2
    assert _metric(server, 'featurelayer_request_seconds_count{endpoint="get-online-features",status="200"}') >= 1
    for view in ("user_activity", "user_profile"):
        age = _metric(server, f'featurelayer_view_seconds_since_sync{{view="{view}"}}')
        assert 0 <= age < 600
        newest = _metric(server, f'featurelayer_view_newest_event_served_timestamp_seconds{{view="{view}"}}')
        assert dt.datetime.now(dt.UTC).timestamp() - 90 * 86_400 < newest <= dt.datetime.now(dt.UTC).timestamp()


def _metric(server: ServerProcess, line: str, absent: float | None = None) -> float:
    """A series' value; a missing series fails the test unless ``absent`` gives its value (a counter not yet
    incremented)."""
    text = httpx.get(f"{server.url}/metrics").text
    found = [row for row in text.splitlines() if row.startswith(line + " ")]
    if not found:
        assert absent is not None, f"no series {line} in:\n{text}"
        return absent
    return float(found[0].rsplit(" ", 1)[1])


def test_an_empty_request_answers_empty_columns(served: tuple[ServerProcess, str]) -> None:
    server, _ = served
    answer = server.post({"features": ["user_profile:plan"], "entities": {"user_id": []}})
    assert answer.status_code == 200, answer.text
    assert [r["values"] for r in answer.json()["results"]] == [[], []]


def _health(server: ServerProcess) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/health", timeout=5)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the server did not reload in time"
        time.sleep(0.1)


def test_a_new_manifest_is_served_and_a_broken_one_is_not(today: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(today, project)
    manifest = project / "dbt_project" / "target" / "manifest.json"
    good = manifest.read_text()
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    with FeatureStore(project, online_url=url) as store:
        store.sync(full=True)
    server = ServerProcess(project, url, tmp_path / "log").wait_ready()
    body = {"features": ["user_profile:plan", "user_profile:marketing_opt_in"], "entities": {"user_id": [1, 2]}}
    try:
        first = server.post(body).json()
        assert first["results"][1]["statuses"] == ["PRESENT", "PRESENT"]

        # a half-written or broken manifest: the previous registry keeps serving, /health says why
        manifest.write_text(good[: len(good) // 2])
        _until(lambda: _health(server)["reload_error"] is not None)
        assert "does not load" in _health(server)["reload_error"]
        assert server.post(body).json() == first

        # the view loses a feature: its schema tag changes, so it keeps the old definition until synced
        data = json.loads(good)
        node = next(n for n in data["nodes"].values() if n["name"] == "user_profile")
        del node["columns"]["marketing_opt_in"]
        manifest.write_text(json.dumps(data))
        _until(lambda: _health(server)["reload_error"] is None)
        assert _health(server)["held_views"] == ["user_profile"]
        assert server.post(body).json() == first  # not NOT_FOUND: the new definition's rows are not synced yet
        with FeatureStore(project, online_url=url) as store:
            store.sync(full=True)
        _until(lambda: _health(server)["held_views"] == [])
        answer = server.post(body)
        assert answer.status_code == 400 and "marketing_opt_in" in answer.json()["message"]
        plan = server.post({"features": ["user_profile:plan"], "entities": {"user_id": [1, 2]}}).json()
        assert plan["results"][1] == first["results"][1]  # the same values, read from the new rows
        assert "registry reloaded" in server.log.read_text()
    finally:
        server.stop()


def test_sighup_reloads_the_registry(today: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    server = ServerProcess(today, url, tmp_path / "log", "--watch", "0").wait_ready()
    try:
        loaded = _health(server)["registry_loaded_at"]
        server.process.send_signal(signal.SIGHUP)
        _until(lambda: _health(server)["registry_loaded_at"] > loaded)
        assert "registry reloaded (SIGHUP)" in server.log.read_text()
    finally:
        server.stop()


@pytest.mark.redis
def test_under_load_a_full_sync_changes_nothing_and_a_redis_restart_gives_503s_then_recovers(
    today: Path, tmp_path: Path
) -> None:
    redis_server = RedisServer(tmp_path / "redis").start()
    url = redis_server.url
    with FeatureStore(today, online_url=url) as store:
        store.sync(full=True)
    server = ServerProcess(today, url, tmp_path / "log", "--store-timeout", "0.5").wait_ready()
    body = {"features": FEATURES, "entities": {"user_id": [*range(1, 81), 10_000_001]}}
    expected = server.post(body).json()
    seen: list[tuple[float, int, Any]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                answer = http.post(f"{server.url}/get-online-features", json=body)
                seen.append((time.monotonic(), answer.status_code, answer.json()))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        with FeatureStore(today, online_url=url) as store:
            for _ in range(3):
                store.sync(full=True)
        synced = time.monotonic()
        during_sync = [(status, answer) for at, status, answer in seen if at <= synced]
        assert len(during_sync) > 20
        assert all(status == 200 and answer == expected for status, answer in during_sync)

        redis_server.stop()
        _until(lambda: any(status == 503 for _, status, _ in seen[-5:]))
        redis_server.start()  # on the same port, empty: Redis kept nothing
        with FeatureStore(today, online_url=url) as store:
            store.sync(full=True)
        recovered = time.monotonic()
        _until(lambda: sum(1 for at, status, _ in seen if at > recovered + 0.5 and status == 200) > 20)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        server.stop()
        redis_server.stop()
    statuses = {status for _, status, _ in seen}
    assert statuses == {200, 503}, statuses
    failures = [answer for _, status, answer in seen if status == 503]
    assert all(a["message"].startswith("Redis at redis://127.0.0.1:") and "\n" not in a["message"] for a in failures)
    after = [answer for at, status, answer in seen if at > recovered + 0.5]
    assert after and all(answer == expected for answer in after)
    assert server.process.returncode in (0, -signal.SIGTERM)


# --- Feast's documented requests, unchanged ------------------------------------------------------

FEAST_DRIVER = Path(__file__).parent / "feast_driver_project"
# docs/reference/feature-servers/python-feature-server.md in feast-dev/feast, byte for byte (the service
# body names a service where the page has the placeholder <feature-service-name>)
FEAST_FEATURES_BODY = """{
    "features": [
      "driver_hourly_stats:conv_rate",
      "driver_hourly_stats:acc_rate",
      "driver_hourly_stats:avg_daily_trips"
    ],
    "entities": {
      "driver_id": [1001, 1002, 1003]
    }
  }"""
# the same page's push, byte for byte
FEAST_PUSH_BODY = """{
    "push_source_name": "driver_hourly_stats_push_source",
    "df": {
            "driver_id": [1001],
            "event_timestamp": ["2022-05-13 10:59:42"],
            "created": ["2022-05-13 10:59:42"],
            "conv_rate": [1.0],
            "acc_rate": [1.0],
            "avg_daily_trips": [1000]
    }
  }"""
FEAST_SERVICE_BODY = """{
    "feature_service": "driver_activity",
    "entities": {
      "driver_id": [1001, 1002, 1003]
    }
  }"""


@pytest.fixture(scope="module")
def driver_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Feast's quickstart repository as a dbt project that installs the macros as a package; built."""
    from featurelayer import find_project
    from featurelayer._dbt.runner import run_dbt

    root = tmp_path_factory.mktemp("driver") / "project"
    shutil.copytree(FEAST_DRIVER, root)
    project = find_project(root)
    run_dbt(project, ["deps"])
    run_dbt(project, ["build"])
    return root


def _latest_driver_rows() -> dict[int, dict[str, Any]]:
    """The reference: each driver's newest row of the seed file, read with csv, floats as float32."""
    import csv

    import numpy as np

    latest: dict[int, dict[str, Any]] = {}
    with (FEAST_DRIVER / "seeds" / "driver_stats.csv").open() as rows:
        for row in csv.DictReader(rows):
            driver = int(row["driver_id"])
            if driver not in latest or row["event_timestamp"] > latest[driver]["event_timestamp"]:
                latest[driver] = row
    return {
        driver: {
            "conv_rate": float(np.float32(row["conv_rate"])),
            "acc_rate": float(np.float32(row["acc_rate"])),
            "avg_daily_trips": int(row["avg_daily_trips"]),
            "stamp": row["event_timestamp"].replace(" ", "T") + "Z",
        }
        for driver, row in latest.items()
    }


def test_feasts_documented_request_bodies_work_unchanged(driver_project: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    with FeatureStore(driver_project, online_url=url) as store:
        store.sync(full=True)
    server = ServerProcess(driver_project, url, tmp_path / "log").wait_ready()
    expected = _latest_driver_rows()
    drivers = [1001, 1002, 1003]
    try:
        for body in (FEAST_FEATURES_BODY, FEAST_SERVICE_BODY):
            # as `curl -d` sends it: form-encoded, which Feast's own server refuses (422) and this one reads
            answer = httpx.post(
                f"{server.url}/get-online-features",
                content=body.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code == 200, answer.text
            data = answer.json()
            names = ["driver_id", "conv_rate", "acc_rate", "avg_daily_trips"]
            assert data["metadata"]["feature_names"] == names
            columns = dict(zip(names, data["results"], strict=True))
            assert columns["driver_id"]["values"] == drivers
            for feature in names[1:]:
                assert columns[feature]["values"] == [expected[d][feature] for d in drivers]
                assert columns[feature]["statuses"] == ["PRESENT"] * 3
                assert columns[feature]["event_timestamps"] == [expected[d]["stamp"] for d in drivers]
        # Feast's documented push: written online at once, read back by the next request
        pushed = httpx.post(f"{server.url}/push", content=FEAST_PUSH_BODY.encode())
        assert pushed.status_code == 200 and pushed.json() == {"stored": 1, "new_keys": 0}, pushed.text
        after = httpx.post(f"{server.url}/get-online-features", content=FEAST_FEATURES_BODY.encode()).json()
        assert [r["values"][0] for r in after["results"]] == [1001, 1.0, 1.0, 1000]
        assert after["results"][1]["event_timestamps"][0] == "2022-05-13T10:59:42Z"
        assert [r["values"][1:] for r in after["results"][1:]] == [
            [expected[d][f] for d in drivers[1:]] for f in ("conv_rate", "acc_rate", "avg_daily_trips")
        ]
        refused = httpx.post(f"{server.url}/push", content=FEAST_PUSH_BODY.replace("conv_rate", "conv_rat").encode())
        assert refused.status_code == 400 and "Did you mean 'conv_rate'" in refused.json()["message"]
    finally:
        server.stop()


def test_two_workers_serve_and_a_scrape_counts_both(today: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    with FeatureStore(today, online_url=url) as store:
        store.sync(full=True)
        expected = store.get_online_features(["user_profile:plan"], {"user_id": [1, 2]}).to_dict()["plan"]
    files = tmp_path / "metrics"
    files.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(files)}
    server = ServerProcess(today, url, tmp_path / "log", "--workers", "2", env=env).wait_ready()
    try:
        for _ in range(60):  # a new connection each: the workers share the socket, each takes some
            answer = httpx.post(f"{server.url}/get-online-features", json=GOOD | {"entities": {"user_id": [1, 2]}})
            assert answer.status_code == 200 and answer.json()["results"][1]["values"] == expected
        # both workers answered some (each writes its own file), and a scrape, whichever answers it, sums them
        assert len({f.stem.rsplit("_", 1)[1] for f in files.glob("histogram_*.db")}) == 2
        counted = _metric(server, 'featurelayer_request_seconds_count{endpoint="get-online-features",status="200"}')
        assert counted == 60
    finally:
        assert server.stop() in (0, -signal.SIGTERM)
    started = [line for line in server.log.read_text().splitlines() if "Started server process" in line]
    assert len(started) == 2


def test_a_projection_has_its_own_rows_statuses_and_timestamps(today: Path, tmp_path: Path) -> None:
    """A view read under another name and key (referrer: user_profile by referrer_id) is not its base view."""
    from featurelayer import find_project
    from featurelayer._dbt.runner import run_dbt

    from .test_services import REFERRAL_SERVICE

    project = tmp_path / "project"
    shutil.copytree(today, project)
    services = project / "models" / "features" / "services.yml"
    services.write_text(services.read_text() + REFERRAL_SERVICE)
    run_dbt(find_project(project), ["parse"])
    url = f"sqlite:///{tmp_path / 'online.sqlite'}"
    with FeatureStore(project, online_url=url) as store:
        store.sync(full=True)
    server = ServerProcess(project, url, tmp_path / "log").wait_ready()
    entities = {"user_id": [1, 2, 3, 4], "referrer_id": [4, 3, 99_999, 1]}
    body = {"feature_service": "referral_service", "entities": entities, "full_feature_names": True}
    try:
        answer = server.post(body)
        assert answer.status_code == 200, answer.text
        with FeatureStore(project, online_url=url) as store:
            want = _expected(
                store, "referral_service", entities, join_keys=("user_id", "referrer_id"), full_feature_names=True
            )
        _check(answer.json(), want)
        columns = dict(zip(answer.json()["metadata"]["feature_names"], answer.json()["results"], strict=True))
        assert columns["referrer__plan"]["statuses"][2] == "NOT_FOUND"  # referrer 99,999 does not exist
        assert columns["user_profile__plan"]["statuses"][2] == "PRESENT"  # user 3 does
        assert columns["referrer__plan"]["event_timestamps"] != columns["user_profile__plan"]["event_timestamps"]
    finally:
        server.stop()
