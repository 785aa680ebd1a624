"""What every command shares: the project the global options name, and errors as one line."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from .._dbt.project import Project, find_project
from .._errors import FeatureLayerError

__all__ = ["friendly_errors", "project_of", "view_names"]

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    """Reports a ``FeatureLayerError`` as one message and exit code 1, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FeatureLayerError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def project_of(ctx: click.Context) -> Project:
    """The project of the global ``--project-dir``, ``--profiles-dir`` and ``--target``.

    A ``--target`` the profile lacks is refused here, before any work.
    """
    from .._dbt.target import load_target

    project = find_project(ctx.obj["project_dir"], ctx.obj["profiles_dir"], ctx.obj["target"])
    if project.target is not None:
        load_target(project)
    return project


def view_names(views: str | None) -> list[str] | None:
    """A ``--views a,b`` option as names (None: all views)."""
    return [v.strip() for v in views.split(",") if v.strip()] if views else None
