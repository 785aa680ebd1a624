"""Reads the dbt profile target a project runs against.

Only the few settings featurelayer itself needs (the warehouse type and how
to connect) are read; values are rendered with the same ``env_var`` and
``as_*`` filters dbt offers in profiles.yml, against the project's environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from ._errors import ProjectError

if TYPE_CHECKING:
    from ._project import Project

__all__ = ["load_target"]


def load_target(project: Project) -> dict[str, Any]:
    """The rendered output of the project's profile for its target.

    Returns:
        The target's settings (``type``, ``path``, ``host``, ...) plus
        ``target_name``; a relative DuckDB ``path`` is made absolute against
        the project root, as dbt would see it from there.

    Raises:
        ProjectError: the profile or target does not exist, or does not render.
    """
    profile_name = project.dbt_project_yml.get("profile")
    path = project.profiles_dir / "profiles.yml"
    with open(path) as f:
        profiles = yaml.safe_load(f) or {}
    if profile_name not in profiles:
        raise ProjectError(
            f"Profile '{profile_name}' (named in dbt_project.yml) is not in {path}. "
            f"Profiles there: {', '.join(k for k in profiles if k != 'config') or '(none)'}."
        )
    env = project.dbt_env()
    profile = _render(profiles[profile_name], env)
    target = project.target or profile.get("target")
    outputs = profile.get("outputs") or {}
    if target not in outputs:
        raise ProjectError(
            f"Target '{target}' is not an output of profile '{profile_name}' in {path}. "
            f"Targets: {', '.join(outputs) or '(none)'}."
        )
    settings = dict(outputs[target])
    settings["target_name"] = target
    if settings.get("type") == "duckdb":
        db_path = str(settings.get("path", ":memory:"))
        if db_path != ":memory:" and not db_path.startswith("md:") and not os.path.isabs(db_path):
            settings["path"] = str(project.root / db_path)
    return settings


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
