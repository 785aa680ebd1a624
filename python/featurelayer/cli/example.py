"""``featurelayer example-data`` and ``demo``: the example project's raw events and its tour."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from .common import friendly_errors, project_of

__all__ = ["demo", "example_data"]


@click.command("example-data")
@click.option("--users", default=1_000, show_default=True, help="Number of users.")
@click.option("--days", default=90, show_default=True, help="Days of history.")
@click.option(
    "--end",
    "end",
    default=None,
    help="Last day of history, YYYY-MM-DD or 'today' (default: a fixed day, so data is reproducible).",
)
@click.option("--seed", default=7, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: <project>/data/raw, where the example's sources read).",
)
@click.pass_context
@friendly_errors
def example_data(ctx: click.Context, users: int, days: int, end: str | None, seed: int, out: Path | None) -> None:
    """Writes the example's raw events (transactions, logins, profile changes) as Parquet.

    DuckDB reads the files in place. When the target is a PostgreSQL one
    (--target postgres), the rows are also loaded into schema $FEATURELAYER_RAW_SCHEMA
    (default raw) of its database.
    """
    import os

    from .._dbt.target import load_target
    from .._example.data import generate_example_data, load_into_postgres

    project = project_of(ctx)
    folder = out if out is not None else project.root / "data" / "raw"
    end_day = _parse_day(end)
    try:
        counts = generate_example_data(folder, users=users, days=days, seed=seed, end=end_day)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    summary = ", ".join(f"{n:,} {name}" for name, n in counts.items())
    click.echo(f"wrote {summary} to {folder}")
    target = load_target(project)
    if target.type == "postgres":
        schema = os.environ.get("FEATURELAYER_RAW_SCHEMA", "raw")
        connect = target.postgres_connect_args()
        load_into_postgres(folder, connect, schema=schema)
        click.echo(f"loaded them into {connect['dbname']}.{schema} (target {target.name})")


def _parse_day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    if value == "today":
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or 'today'", param_hint="--end") from None


@click.command()
@click.pass_context
@friendly_errors
def demo(ctx: click.Context) -> None:
    """Shows the example's feature tables and a point-in-time lookup."""
    from .._example.demo import run_demo

    run_demo(project_of(ctx), click.echo)
