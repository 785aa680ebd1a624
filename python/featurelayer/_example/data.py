"""Raw events for the example project: transactions, logins, profile changes.

The example's feature views are computed by dbt from these raw rows, not
shipped precomputed, so the demo exercises the same path a user's project
does. Generation is deterministic for a given ``users`` and ``seed``: the
same arguments always write the same Parquet files.

Some profile changes are re-delivered later with a correction (same
``changed_at``, later ``ingested_at``), so the example exercises the
created-timestamp tie-break, and a few events arrive late.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["EXAMPLE_END", "RAW_TABLES", "generate_example_data", "load_into_postgres"]

#: The raw tables, in the order they are written.
RAW_TABLES = ("transactions", "logins", "profile_changes")

#: Default end of the example's history (UTC, exclusive): fixed, so data is reproducible.
EXAMPLE_END = dt.date(2025, 4, 1)

_COUNTRIES = np.array(["US", "GB", "DE", "FR", "IN", "BR", "JP", "NL"])
_PLANS = np.array(["free", "plus", "pro"])


def generate_example_data(
    out_dir: str | Path, users: int = 1_000, days: int = 90, seed: int = 7, end: dt.date | None = None
) -> dict[str, int]:
    """Writes ``transactions``, ``logins`` and ``profile_changes`` Parquet files.

    Args:
        out_dir: folder for the three ``<table>.parquet`` files (created).
        users: number of users; rows grow linearly with it (about 60 per user
            over 90 days).
        days: length of the history, which ends at midnight (UTC) starting ``end``.
        seed: random seed; the same arguments give identical data.
        end: the day the history stops at (exclusive); default ``EXAMPLE_END``.
            Pass today's date for data whose latest rows are valid now.

    Returns:
        Row counts per table.

    >>> import tempfile
    >>> counts = generate_example_data(tempfile.mkdtemp(), users=10, days=5)
    >>> sorted(counts)
    ['logins', 'profile_changes', 'transactions']
    """
    if users < 1 or days < 1:
        raise ValueError(f"users and days must be at least 1; got users={users}, days={days}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    last = dt.datetime.combine(end or EXAMPLE_END, dt.time())
    start = np.datetime64(last - dt.timedelta(days=days), "us")
    span_us = days * 86_400_000_000

    tables = {
        "transactions": _transactions(rng, users, start, span_us),
        "logins": _logins(rng, users, start, span_us),
        "profile_changes": _profile_changes(rng, users, start, span_us),
    }
    for name, table in tables.items():
        pq.write_table(table, out / f"{name}.parquet")
    return {name: table.num_rows for name, table in tables.items()}


def _arrival_delay(rng: np.random.Generator, n: int) -> np.ndarray:
    """Most rows land within minutes; one in fifty arrives days late."""
    delay_s = rng.integers(1, 600, size=n)
    late = rng.random(n) < 0.02
    delay_s[late] += rng.integers(86_400, 5 * 86_400, size=int(late.sum()))
    return delay_s.astype("timedelta64[s]").astype("timedelta64[us]")


def _transactions(rng: np.random.Generator, users: int, start: np.datetime64, span_us: int) -> pa.Table:
    activity = rng.gamma(shape=1.5, scale=25.0, size=users)  # transactions per user over the span
    per_user = rng.poisson(activity)
    user_id = np.repeat(np.arange(1, users + 1, dtype=np.int64), per_user)
    n = len(user_id)
    at = start + rng.integers(0, span_us, size=n).astype("timedelta64[us]")
    amount = np.round(rng.lognormal(mean=3.0, sigma=0.8, size=n), 2)
    order = np.lexsort((at, user_id))
    user_id, at, amount = user_id[order], at[order], amount[order]
    return pa.table(
        {
            "transaction_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "user_id": pa.array(user_id),
            "amount": pa.array(amount, pa.float64()),
            "transaction_at": pa.array(at, pa.timestamp("us")),
            "ingested_at": pa.array(at + _arrival_delay(rng, n), pa.timestamp("us")),
        }
    )


def _logins(rng: np.random.Generator, users: int, start: np.datetime64, span_us: int) -> pa.Table:
    per_user = rng.poisson(rng.gamma(shape=2.0, scale=15.0, size=users))
    user_id = np.repeat(np.arange(1, users + 1, dtype=np.int64), per_user)
    n = len(user_id)
    at = start + rng.integers(0, span_us, size=n).astype("timedelta64[us]")
    order = np.lexsort((at, user_id))
    user_id, at = user_id[order], at[order]
    return pa.table(
        {
            "user_id": pa.array(user_id),
            "login_at": pa.array(at, pa.timestamp("us")),
            "ingested_at": pa.array(at + _arrival_delay(rng, n), pa.timestamp("us")),
        }
    )


def _profile_changes(rng: np.random.Generator, users: int, start: np.datetime64, span_us: int) -> pa.Table:
    # Every user signs up (a first profile row) and then changes it a few times.
    changes = 1 + rng.poisson(1.5, size=users)
    user_id = np.repeat(np.arange(1, users + 1, dtype=np.int64), changes)
    n = len(user_id)
    first = np.r_[True, user_id[1:] != user_id[:-1]]
    offset = rng.integers(0, span_us, size=n)
    offset[first] = rng.integers(0, span_us // 4, size=int(first.sum()))  # sign-up early in the span
    at = start + offset.astype("timedelta64[us]")
    country = rng.choice(_COUNTRIES, size=n)
    plan = rng.choice(_PLANS, size=n, p=[0.6, 0.3, 0.1])
    opt_in = rng.random(n) < 0.4
    ingested = at + _arrival_delay(rng, n)

    # One change in ten is corrected later: same changed_at, later ingested_at.
    fix = rng.random(n) < 0.1
    fixed_plan = rng.choice(_PLANS, size=int(fix.sum()))
    fixed_ingested = ingested[fix] + np.timedelta64(3_600_000_000, "us")

    user_id = np.r_[user_id, user_id[fix]]
    at = np.r_[at, at[fix]]
    country = np.r_[country, country[fix]]
    plan = np.r_[plan, fixed_plan]
    opt_in = np.r_[opt_in, opt_in[fix]]
    ingested = np.r_[ingested, fixed_ingested]
    order = np.lexsort((ingested, at, user_id))
    return pa.table(
        {
            "user_id": pa.array(user_id[order]),
            "changed_at": pa.array(at[order], pa.timestamp("us")),
            "country": pa.array(country[order], pa.string()),
            "plan": pa.array(plan[order], pa.string()),
            "marketing_opt_in": pa.array(opt_in[order], pa.bool_()),
            "ingested_at": pa.array(ingested[order], pa.timestamp("us")),
        }
    )


def load_into_postgres(raw_dir: str | Path, connection_kwargs: dict[str, object], schema: str = "raw") -> None:
    """Loads the Parquet files into PostgreSQL tables ``<schema>.<table>``, replacing them.

    DuckDB reads the Parquet files in place; a server warehouse needs the rows
    loaded. Names are quoted with psycopg2's ``sql.Identifier``; rows travel by COPY.

    Args:
        raw_dir: the folder ``generate_example_data`` wrote.
        connection_kwargs: psycopg2.connect keyword arguments (host, port, user, ...).
        schema: the schema the example's ``raw`` source reads (FEATURELAYER_RAW_SCHEMA).
    """
    import psycopg2
    from psycopg2 import sql

    from .._offline.postgres_store import copy_into_postgres

    with psycopg2.connect(**connection_kwargs) as connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for name in RAW_TABLES:
            copy_into_postgres(cursor, sql.Identifier(schema, name), pq.read_table(Path(raw_dir) / f"{name}.parquet"))
