"""Runs dbt commands for a project, in this process, one at a time.

dbt's programmatic entry point (``dbtRunner``) is not safe to call from two
threads at once, so every invocation goes through one lock. The environment
gets ``FEATURELAYER_ROOT`` so profiles and sources resolve against the project
rather than the working directory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import DbtRunError, ProjectError
from .package import MACROS_ENV, macros_path
from .target import load_target

if TYPE_CHECKING:
    from .project import Project

__all__ = ["DbtResult", "run_dbt"]

_LOCK = threading.Lock()


@dataclass(frozen=True)
class DbtResult:
    """What a dbt command did: success, and one line per node that ran."""

    success: bool
    command: tuple[str, ...]
    nodes: tuple[tuple[str, str, str], ...]  # (unique_id, status, message)

    @property
    def failures(self) -> list[tuple[str, str, str]]:
        return [n for n in self.nodes if n[1] in {"error", "fail", "runtime error"}]


def run_dbt(
    project: Project,
    args: Sequence[str],
    *,
    quiet: bool = True,
    check: bool = True,
    extra_env: dict[str, str] | None = None,
) -> DbtResult:
    """Runs ``dbt <args>`` against the project's dbt folder, profiles and target.

    Args:
        project: the project (see ``find_project``).
        args: the dbt command and its own flags, e.g. ``["build", "-s", "user_profile"]``.
        quiet: hide dbt's log lines (errors are still raised).
        check: raise DbtRunError when dbt reports failure.
        extra_env: more environment variables for this run only.

    Raises:
        DbtRunError: dbt failed and ``check`` is true; the message lists the
            failing nodes with dbt's own error text.
    """
    from dbt.cli.main import dbtRunner

    command = list(args)
    flags = ["--project-dir", str(project.dbt_dir), "--profiles-dir", str(project.profiles_dir)]
    if project.target and command and command[0] not in {"deps", "clean"}:
        flags += ["--target", project.target]
    prefix = ["--quiet"] if quiet else []
    # dbt's anonymous usage events would try the network on every run: off unless the user says otherwise
    # FEATURELAYER_MACROS lets a packages.yml install the macros of this installation (see package.py)
    env = {
        "FEATURELAYER_ROOT": str(project.root),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        MACROS_ENV: str(macros_path()),
        **(extra_env or {}),
    }
    with _LOCK, _environment(env, keep_existing={"FEATURELAYER_ROOT", "DBT_SEND_ANONYMOUS_USAGE_STATS", MACROS_ENV}):
        if command and command[0] not in {"deps", "clean"}:
            _make_duckdb_folder(project)
        try:
            result = dbtRunner().invoke([*prefix, *command, *flags])
        finally:
            _release_duckdb()
    nodes = tuple(_node_lines(result.result))
    outcome = DbtResult(success=bool(result.success), command=tuple(command), nodes=nodes)
    if check and not outcome.success:
        detail = "\n".join(f"  {uid}: {status}: {msg}" for uid, status, msg in outcome.failures)
        if not detail and result.exception is not None:
            detail = f"  {result.exception}"
        raise DbtRunError(f"dbt {' '.join(command)} failed in {project.dbt_dir}:\n{detail}")
    return outcome


def _release_duckdb() -> None:
    """Closes the DuckDB database dbt-duckdb keeps open between runs in this process.

    DuckDB locks its file per process: left open, it would stop another
    process (a sync job, a second CLI) from opening the warehouse.
    """
    import sys

    module = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(module, "DuckDBConnectionManager", None)
    environment = getattr(manager, "_ENV", None)
    if manager is None or environment is None:
        return
    try:
        environment.close()
    finally:
        manager.close_all_connections()


def _make_duckdb_folder(project: Project) -> None:
    """DuckDB creates its database file but not the folder it goes in."""
    try:
        file = load_target(project).duckdb_file
    except ProjectError:
        return  # dbt reports a broken profile better than we can
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)


def _node_lines(result: Any) -> Iterator[tuple[str, str, str]]:
    for node_result in getattr(result, "results", None) or []:
        node = getattr(node_result, "node", None)
        uid = getattr(node, "unique_id", "?")
        status = str(getattr(node_result, "status", "")).lower()
        yield uid, status, str(getattr(node_result, "message", "") or "")


@contextmanager
def _environment(values: dict[str, str], keep_existing: set[str]) -> Iterator[None]:
    """Sets environment variables for the duration of one dbt run (dbt reads os.environ)."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if key in keep_existing and os.environ.get(key):
            continue
        os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
