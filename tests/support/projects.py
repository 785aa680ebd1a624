"""The repository and the example project: private copies of it to build or edit.

The ``project_copy`` and ``example`` fixtures in ``tests/conftest.py`` are built on these.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: The example history used by the online and service tests ends here.
EXAMPLE_END = dt.datetime(2025, 4, 1)


def copy_example_project(destination: Path) -> Path:
    """A private copy of the example project (config, models, macros, profiles), without build output."""
    ignore = shutil.ignore_patterns("target", "dbt_packages", "logs", "package-lock.yml")
    shutil.copytree(REPO / "dbt_project", destination / "dbt_project", ignore=ignore)
    shutil.copytree(REPO / "models", destination / "models")
    shutil.copytree(REPO / "macros", destination / "macros")
    shutil.copy(REPO / "profiles.yml", destination / "profiles.yml")
    return destination
