"""The online commands of the command line: ``sync`` and ``verify``, and ``sync --every`` under SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from featurelayer._online.codec import decode_row, encode_values, stored_rows

pytestmark = pytest.mark.slow


@pytest.mark.redis
def test_cli_sync_and_verify_find_skew(example: Path, redis_url: str) -> None:
    from click.testing import CliRunner

    from featurelayer.cli import main

    env = {"FEATURELAYER_REDIS_URL": redis_url}
    runner = CliRunner()
    result = runner.invoke(main, ["--project-dir", str(example), "sync", "--full"], env=env)
    assert result.exit_code == 0, result.output
    assert "rows read" in result.output and "rows/s" in result.output
    result = runner.invoke(main, ["--project-dir", str(example), "verify", "--sample", "30"], env=env)
    assert result.exit_code == 0 and "no skew" in result.output, result.output

    # corrupt one stored value behind featurelayer's back: the audit must notice
    client = redis.Redis.from_url(redis_url)
    key = next(iter(client.scan_iter(match="fl:*:user_profile:*")))
    row = decode_row(client.get(key))
    [value] = stored_rows([row.event], [row.valid_to], row.snapshot, row.seen, [encode_values(["XX", "free", True])], 3)
    client.set(key, value)
    result = runner.invoke(main, ["--project-dir", str(example), "verify", "--sample", "1000"], env=env)
    assert result.exit_code == 1, result.output
    assert "mismatch" in result.output and "'XX'" in result.output


@pytest.mark.redis
def test_cli_sync_every_stops_on_sigterm(example: Path, redis_url: str) -> None:
    env = {**os.environ, "FEATURELAYER_REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "featurelayer.cli", "--project-dir", str(example), "sync", "--every", "1s"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        lines = [child.stdout.readline(), child.stdout.readline()]  # two runs
        assert all("synced" in line for line in lines), lines
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 0


@pytest.mark.redis
def test_describe_shows_freshness_in_the_warehouse_and_online(example: Path, redis_url: str) -> None:
    import duckdb
    from click.testing import CliRunner

    from featurelayer import FeatureStore
    from featurelayer.cli import main

    runner = CliRunner()
    args = ["--project-dir", str(example), "describe", "user_profile"]  # (no ttl: all its rows are synced)
    before = runner.invoke(main, args, env={"FEATURELAYER_REDIS_URL": redis_url})
    assert before.exit_code == 0, before.output
    # the reference: the feature table itself
    with FeatureStore(example) as store:
        timestamp = store.registry.feature_view("user_profile").timestamp
    with duckdb.connect(str(example / "warehouse" / "featurelayer.duckdb"), read_only=True) as connection:
        [(rows, newest)] = connection.execute(f"select count(*), max({timestamp}) from user_profile").fetchall()
    assert f"{rows:,} rows, newest event {newest:%Y-%m-%d %H:%M:%S}" in before.output
    assert "never synced" in before.output
    env = {"FEATURELAYER_REDIS_URL": redis_url}
    assert runner.invoke(main, ["--project-dir", str(example), "sync", "--full"], env=env).exit_code == 0
    after = runner.invoke(main, args, env=env)
    assert "last sync " in after.output and "s ago" in after.output and "80 rows online" in after.output
    # a dead online store: the warehouse side still shows, the online side says why in one line
    dead = runner.invoke(main, args, env={"FEATURELAYER_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"})
    assert dead.exit_code == 0 and "rows, newest event" in dead.output
    assert "online:             cannot be read: Redis at redis://***@127.0.0.1:1/0 failed" in dead.output
    assert "hunter2" not in dead.output
