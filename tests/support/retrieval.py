"""The retrieval test project (tests/retrieval_project): its raw rows, builds and warehouses.

Shared by the retrieval and online tests; the reference lookup is a plain
scan of raw rows that knows nothing of validity intervals.

The ``project_dir`` and ``warehouse`` fixtures are module-scoped: a test module
imports them by name (and lists them in its ``__all__``), so each module that
uses them gets its own copy of the project and its own warehouse schema.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from featurelayer import find_project
from featurelayer._dbt.runner import run_dbt

from .projects import REPO
from .services import PG_DSN

BASE = dt.datetime(2025, 1, 1)


def _minutes(n: int) -> dt.datetime:
    return BASE + dt.timedelta(minutes=n)


# --- the reference: a scan of the raw rows, straight from the rules --------------


@dataclass(frozen=True)
class Row:
    key: tuple[Any, ...]
    ts: dt.datetime
    created: dt.datetime | None
    payload: int


def reference_lookup(
    rows: list[Row],
    key: tuple[Any, ...],
    t: dt.datetime,
    ttl_seconds: int | None,
    *,
    known_at_time: bool = False,
) -> int | None:
    """Latest event <= t; ties to the greatest created (missing loses); ttl inclusive."""
    candidates = [
        r for r in rows if r.key == key and r.ts <= t and (not known_at_time or r.created is None or r.created <= t)
    ]
    if not candidates:
        return None
    best = max(candidates, key=lambda r: (r.ts, r.created is not None, r.created or dt.datetime.min))
    if ttl_seconds is not None and best.ts < t - dt.timedelta(seconds=ttl_seconds):
        return None
    return best.payload


# --- the project under test ---------------------------------------------------------


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of tests/retrieval_project, reading the repository's macros."""
    root = tmp_path_factory.mktemp("retrieval")
    shutil.copytree(
        REPO / "tests" / "retrieval_project",
        root,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("target", "warehouse", "logs"),
    )
    config = root / "dbt_project" / "dbt_project.yml"
    config.write_text(config.read_text().replace('"../../../macros"', f'"{REPO / "macros"}"'))
    (root / "warehouse").mkdir()
    return root


def _raw_tables(rows_a: list[Row], rows_b: list[Row]) -> dict[str, pa.Table]:
    return {
        "raw_a": pa.table(
            {
                "k1": pa.array([r.key[0] for r in rows_a], pa.int64()),
                "ts": pa.array([r.ts for r in rows_a], pa.timestamp("us")),
                "created": pa.array([r.created for r in rows_a], pa.timestamp("us")),
                "a_value": pa.array([r.payload for r in rows_a], pa.int64()),
                "a_score": pa.array([r.payload / 4 for r in rows_a], pa.float64()),
            }
        ),
        "raw_b": pa.table(
            {
                "k1": pa.array([r.key[0] for r in rows_b], pa.int64()),
                "k2": pa.array([r.key[1] for r in rows_b], pa.string()),
                "ts": pa.array([r.ts for r in rows_b], pa.timestamp("us")),
                "b_value": pa.array([r.payload for r in rows_b], pa.int64()),
            }
        ),
    }


def build(project_dir: Path, rows_a: list[Row], rows_b: list[Row], ttl: int | None, target: str = "duckdb") -> None:
    """Writes the raw tables into the target's warehouse and runs `dbt build` (models and interval tests)."""
    tables = _raw_tables(rows_a, rows_b)
    if target == "duckdb":
        with duckdb.connect(str(project_dir / "warehouse" / "retrieval.duckdb")) as connection:
            for name, table in tables.items():
                connection.register(f"{name}_input", table)
                connection.execute(f"create or replace table {name} as select * from {name}_input")
    else:
        _write_postgres(tables, os.environ["FEATURELAYER_TEST_PG_SCHEMA"])
    ttl_text = f"{ttl}s" if ttl else ""
    run_dbt(find_project(project_dir, target=target), ["build", "--vars", f"{{ttl_a: '{ttl_text}'}}"])


def _write_postgres(tables: dict[str, pa.Table], schema: str) -> None:
    import psycopg2
    from psycopg2 import sql

    from featurelayer._offline.postgres_store import copy_into_postgres

    with psycopg2.connect(**PG_DSN) as connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for name, table in tables.items():
            copy_into_postgres(cursor, sql.Identifier(schema, name), table)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each warehouse the retrieval runs on; PostgreSQL in a schema of its own, dropped afterwards."""
    if request.param == "duckdb":
        yield "duckdb"
        return
    request.getfixturevalue("postgres")
    schema = f"fl_retrieval_{uuid.uuid4().hex[:8]}"
    os.environ["FEATURELAYER_TEST_PG_SCHEMA"] = schema
    try:
        yield "postgres"
    finally:
        os.environ.pop("FEATURELAYER_TEST_PG_SCHEMA", None)
        import psycopg2
        from psycopg2 import sql

        with psycopg2.connect(**PG_DSN) as connection, connection.cursor() as cursor:
            cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
