"""Finds a featurelayer project on disk: its dbt project, profiles and manifest.

A project is a folder with either ``dbt_project/dbt_project.yml`` (the
featurelayer layout: models and macros beside it) or ``dbt_project.yml``
itself (an ordinary dbt project that installed the ``feature_layer``
package). Paths are resolved here once, absolutely, so nothing depends on the
caller's working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .._errors import DefinitionError, ProjectError

__all__ = ["Project", "find_project"]

#: Environment variable the profiles and sources use to locate the project root.
ROOT_ENV = "FEATURELAYER_ROOT"


@dataclass(frozen=True)
class Project:
    """Where a featurelayer project's pieces live.

    Attributes:
        root: the project folder; ``FEATURELAYER_ROOT`` for dbt's env_var().
        dbt_dir: the folder holding ``dbt_project.yml``.
        profiles_dir: the folder holding ``profiles.yml``.
        target: the dbt target to use, or None for the profile's default.
    """

    root: Path
    dbt_dir: Path
    profiles_dir: Path
    target: str | None = None

    @property
    def dbt_project_yml(self) -> dict[str, Any]:
        """The parsed ``dbt_project.yml`` (vars are read from it, unrendered)."""
        with open(self.dbt_dir / "dbt_project.yml") as f:
            loaded = yaml.safe_load(f) or {}
        if not isinstance(loaded, dict):
            raise ProjectError(f"{self.dbt_dir / 'dbt_project.yml'} is not a YAML mapping")
        return loaded

    @property
    def feature_layer_vars(self) -> dict[str, Any]:
        """``vars: feature_layer:`` of dbt_project.yml (entities, request sources, transforms, online store).

        The one reader of that block: dbt does not write vars to the manifest,
        and the macros read the same block with ``var()``.
        """
        block = (self.dbt_project_yml.get("vars") or {}).get("feature_layer") or {}
        if not isinstance(block, dict):
            raise DefinitionError(
                f"{self.dbt_dir / 'dbt_project.yml'}: `vars: feature_layer:` must be a mapping "
                f"(entities:, request_sources:, ...); got {block!r}."
            )
        return block

    @property
    def target_dir(self) -> Path:
        """dbt's target folder (``target-path`` in dbt_project.yml)."""
        return self.dbt_dir / str(self.dbt_project_yml.get("target-path", "target"))

    @property
    def manifest_path(self) -> Path:
        return self.target_dir / "manifest.json"

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt: ``FEATURELAYER_ROOT`` set to this project unless the user set it."""
        env = dict(os.environ)
        env.setdefault(ROOT_ENV, str(self.root))
        return env


def find_project(
    project_dir: str | os.PathLike[str] | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
    target: str | None = None,
) -> Project:
    """Locates the project, searching upward from the working directory if none is given.

    Args:
        project_dir: the project folder (or any folder inside it when None: the cwd).
        profiles_dir: where ``profiles.yml`` is; default ``$DBT_PROFILES_DIR``,
            then the project root, then the dbt project folder, then ``~/.dbt``.
        target: dbt target name; default the profile's own default.

    Raises:
        ProjectError: no dbt project was found, or no profiles.yml.
    """
    start = Path(project_dir if project_dir is not None else Path.cwd()).resolve()
    candidates = [start] if project_dir is not None else [start, *start.parents]
    for folder in candidates:
        if (folder / "dbt_project" / "dbt_project.yml").is_file():
            root, dbt_dir = folder, folder / "dbt_project"
            break
        if (folder / "dbt_project.yml").is_file():
            root = dbt_dir = folder
            break
    else:
        where = str(start) if project_dir is not None else f"{start} or any folder above it"
        raise ProjectError(
            f"No dbt project found in {where}: expected dbt_project/dbt_project.yml or dbt_project.yml. "
            "Pass project_dir= (CLI: --project-dir) pointing at your featurelayer project."
        )

    profiles = _find_profiles_dir(root, dbt_dir, profiles_dir)
    return Project(root=root, dbt_dir=dbt_dir, profiles_dir=profiles, target=target)


def _find_profiles_dir(root: Path, dbt_dir: Path, explicit: str | os.PathLike[str] | None) -> Path:
    if explicit is not None:
        options = [Path(explicit).resolve()]
    else:
        options = [root, dbt_dir, Path.home() / ".dbt"]
        if os.environ.get("DBT_PROFILES_DIR"):
            options.insert(0, Path(os.environ["DBT_PROFILES_DIR"]).resolve())
    options = list(dict.fromkeys(options))  # (the project root may be its dbt folder too)
    for option in options:
        if (option / "profiles.yml").is_file():
            return option
    raise ProjectError(
        "No profiles.yml found in "
        + ", ".join(str(o) for o in options)
        + ". Pass profiles_dir= (CLI: --profiles-dir) or set DBT_PROFILES_DIR."
    )
