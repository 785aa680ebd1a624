"""Where the installed featurelayer keeps its dbt macros package.

The wheel carries the macros (the ``feature_layer`` dbt package) so that a dbt
project can install them from ``pip install featurelayer`` alone, with no
checkout and no git access::

    # packages.yml
    packages:
      - local: "{{ env_var('FEATURELAYER_MACROS') }}"

``featurelayer build`` sets ``FEATURELAYER_MACROS`` for the dbt runs it
starts; for a plain ``dbt deps``, export it from ``featurelayer macros-path``.
The path always names the package of the installed version, so the macros
and the Python code that reads their tables cannot drift apart.

>>> (macros_path() / "dbt_project.yml").is_file()
True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MACROS_ENV", "macros_path"]

MACROS_ENV = "FEATURELAYER_MACROS"


def macros_path() -> Path:
    """The folder of the ``feature_layer`` dbt package that ships with this installation."""
    # in a checkout the folder is a symlink to the repository's macros/; in a wheel, a copy of it
    return (Path(__file__).resolve().parent.parent / "dbt_macros").resolve()
