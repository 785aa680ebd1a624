"""The ``featurelayer`` command line.

Every command finds the project the same way the Python API does (``--project-dir``,
default: the working directory or a folder above it) and reports errors as one
readable message with a non-zero exit code, never a traceback. One module per
group of commands: ``catalog`` (list, describe), ``dbt`` (build, parse),
``online`` (sync, verify), ``serve``, ``example`` (example-data, demo).
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__
from .catalog import describe, list_command
from .dbt import build, macros_path_command, parse
from .example import demo, example_data
from .online import sync, verify
from .serve import serve

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="featurelayer", message="%(prog)s %(version)s")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The featurelayer project (default: the working directory or a folder above it).",
)
@click.option(
    "--profiles-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with profiles.yml (default: $DBT_PROFILES_DIR, then the project root).",
)
@click.option("--target", default=None, help="dbt target (default: the profile's default, e.g. duckdb).")
@click.pass_context
def main(ctx: click.Context, project_dir: Path | None, profiles_dir: Path | None, target: str | None) -> None:
    """featurelayer: a warehouse-native feature store on dbt."""
    ctx.obj = {"project_dir": project_dir, "profiles_dir": profiles_dir, "target": target}


for _command in (list_command, describe, build, parse, macros_path_command, example_data, sync, verify, serve, demo):
    main.add_command(_command)
