"""The dbt profile target a project runs against, as one ``Target`` object.

Only the few settings featurelayer itself needs (the warehouse type and how
to connect) are read; values are rendered with the same ``env_var`` and
``as_*`` filters dbt offers in profiles.yml, against the project's environment.
Everything that connects to the warehouse (the offline stores, the dbt runner,
the example loader) asks the ``Target``, so a setting is interpreted once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from .._errors import ProjectError

if TYPE_CHECKING:
    from .project import Project

__all__ = ["Target", "load_target"]


@dataclass(frozen=True)
class Target:
    """One rendered output of the project's profile.

    Attributes:
        name: the target's name (``duckdb``, ``postgres``, ...).
        type: the dbt adapter type.
        settings: the output's rendered settings as profiles.yml spells them.
    """

    name: str
    type: str | None
    settings: Mapping[str, Any] = field(repr=False)

    @property
    def duckdb_path(self) -> str:
        """The DuckDB database as dbt-duckdb reads ``path``: a file (absolute), ``:memory:`` or ``md:...``."""
        return str(self.settings.get("path", ":memory:"))

    @property
    def duckdb_file(self) -> Path | None:
        """The DuckDB database's file, or None when it has none (in memory, MotherDuck)."""
        path = self.duckdb_path
        return Path(path) if self.type == "duckdb" and _names_a_file(path) else None

    def postgres_connect_args(self) -> dict[str, Any]:
        """psycopg2.connect keyword arguments of a PostgreSQL target."""
        return {
            "host": self.settings.get("host"),
            "port": int(self.settings.get("port", 5432)),
            "user": self.settings.get("user"),
            "password": self.settings.get("password") or None,
            "dbname": self.settings.get("dbname") or self.settings.get("database"),
        }


def load_target(project: Project) -> Target:
    """The project's target, rendered; a relative DuckDB ``path`` made absolute against the project root.

    Raises:
        ProjectError: the profile or target does not exist, or does not render.
    """
    profile_name = project.dbt_project_yml.get("profile")
    profiles_yml = project.profiles_dir / "profiles.yml"
    with open(profiles_yml) as f:
        profiles = yaml.safe_load(f) or {}
    if profile_name not in profiles:
        raise ProjectError(
            f"Profile '{profile_name}' (named in dbt_project.yml) is not in {profiles_yml}. "
            f"Profiles there: {', '.join(k for k in profiles if k != 'config') or '(none)'}."
        )
    env = project.dbt_env()
    profile = _render(profiles[profile_name], env)
    target = project.target or profile.get("target")
    outputs = profile.get("outputs") or {}
    if target not in outputs:
        raise ProjectError(
            f"Target '{target}' is not an output of profile '{profile_name}' in {profiles_yml}. "
            f"Targets: {', '.join(outputs) or '(none)'}."
        )
    settings = dict(outputs[target])
    db_path = str(settings.get("path", ":memory:"))
    if settings.get("type") == "duckdb" and _names_a_file(db_path) and not os.path.isabs(db_path):
        settings["path"] = str(project.root / db_path)  # as dbt sees it from the project root
    kind = settings.get("type")
    return Target(name=str(target), type=None if kind is None else str(kind), settings=settings)


def _names_a_file(duckdb_path: str) -> bool:
    """Whether a DuckDB ``path`` is a file (not ``:memory:``, not MotherDuck's ``md:``)."""
    return duckdb_path != ":memory:" and not duckdb_path.startswith("md:")


def _render(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, env) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    return _jinja(env).from_string(value).render()


def _jinja(env: Mapping[str, str]) -> jinja2.Environment:
    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise ProjectError(f"profiles.yml uses env_var('{name}'), which is not set and has no default.")
        return default

    jinja = jinja2.Environment(undefined=jinja2.StrictUndefined)
    jinja.globals["env_var"] = env_var
    jinja.filters["as_number"] = lambda v: v
    jinja.filters["as_bool"] = lambda v: v
    jinja.filters["as_text"] = lambda v: v
    jinja.filters["as_native"] = lambda v: v
    return jinja
