"""``featurelayer build`` and ``parse``: dbt, run for the project."""

from __future__ import annotations

import click

from .._dbt.package import macros_path
from .._dbt.runner import run_dbt
from .common import friendly_errors, project_of

__all__ = ["build", "macros_path_command", "parse"]


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--select", "-s", "select", multiple=True, help="dbt selection (repeatable).")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@friendly_errors
def build(ctx: click.Context, select: tuple[str, ...], dbt_args: tuple[str, ...]) -> None:
    """Runs `dbt build` (models and their tests) and shows dbt's result.

    Installs the project's dbt packages first when it has a packages.yml.
    Extra arguments after `--` go to dbt unchanged.
    """
    project = project_of(ctx)
    if (project.dbt_dir / "packages.yml").is_file() or (project.dbt_dir / "dependencies.yml").is_file():
        run_dbt(project, ["deps"], quiet=False)
    args = ["build"] + [a for s in select for a in ("--select", s)] + list(dbt_args)
    result = run_dbt(project, args, quiet=False, check=False)
    if not result.success:
        failed = "\n".join(f"  {uid}: {status}" for uid, status, _ in result.failures)
        raise click.ClickException(f"dbt build failed:\n{failed or '  (see dbt output above)'}")
    if select and not result.nodes:
        raise click.ClickException(
            f"dbt selected nothing with {' '.join(f'-s {s}' for s in select)}: check the selector "
            "(`featurelayer list` names the feature views; dbt's own `dbt ls -s ...` shows what a selector picks)."
        )


@click.command()
@click.pass_context
@friendly_errors
def parse(ctx: click.Context) -> None:
    """Runs `dbt parse` to refresh target/manifest.json without building anything."""
    run_dbt(project_of(ctx), ["parse"], quiet=False)
    click.echo("manifest written")


@click.command("macros-path")
def macros_path_command() -> None:
    """Prints the folder of the feature_layer dbt package this installation ships.

    For a plain `dbt deps` in a project whose packages.yml installs it with
    `local: "{{ env_var('FEATURELAYER_MACROS') }}"`:
    `export FEATURELAYER_MACROS=$(featurelayer macros-path)`.
    """
    click.echo(str(macros_path()))
