"""Point-in-time lookups of single entities, for people at a terminal.

The range test ``valid_from <= t and t < valid_to`` is the whole rule: the
intervals were built by the dbt macro ``valid_intervals``. The query is a
sqlglot expression with bound parameters, never formatted text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ._errors import ValidationError
from ._pit_query import view_table

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ._registry.views import FeatureView

__all__ = ["as_of_query", "lookup_as_of"]


def as_of_query(view: FeatureView, key_names: Sequence[str]) -> exp.Select:
    """SELECT the view's row valid at ``?`` (t, bound twice) for entity keys bound as ``?`` after it."""
    columns = [*view.join_keys, *(f.name for f in view.features), "valid_from", "valid_to"]
    condition: exp.Expr = exp.and_(
        exp.column("valid_from", quoted=True) <= exp.Placeholder(),
        exp.column("valid_to", quoted=True) > exp.Placeholder(),
    )
    for key in key_names:
        condition = exp.and_(condition, exp.column(key, quoted=True).eq(exp.Placeholder()))
    return exp.select(*(exp.column(c, quoted=True) for c in columns)).from_(view_table(view)).where(condition)


def lookup_as_of(
    connection: duckdb.DuckDBPyConnection, view: FeatureView, keys: Mapping[str, Any], at: dt.datetime
) -> pa.Table:
    """The row of ``view`` valid at ``at`` for the entity ``keys`` (zero or one row).

    ``at`` is UTC; a time-zone-aware value is converted to UTC first.
    """
    missing = [k for k in view.join_keys if k not in keys]
    if missing:
        raise ValidationError(f"Feature view '{view.name}' is keyed on {list(view.join_keys)}; missing {missing}.")
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    sql = as_of_query(view, view.join_keys).sql(dialect="duckdb")
    params = [at, at, *(keys[k] for k in view.join_keys)]
    return connection.sql(sql, params=params).to_arrow_table()
