"""Point-in-time lookups of single entities, for people at a terminal (``make demo``).

The query is ``queries.as_of_query``: the one "valid at t" rule, with bound parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._time import utc_naive
from .queries import as_of_query

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from .._registry.views import FeatureView

__all__ = ["lookup_as_of"]


def lookup_as_of(
    connection: duckdb.DuckDBPyConnection, view: FeatureView, keys: Mapping[str, Any], at: dt.datetime
) -> pa.Table:
    """The row of ``view`` valid at ``at`` for the entity ``keys`` (zero or one row).

    ``at`` is UTC; a time-zone-aware value is converted to UTC first.
    """
    missing = [k for k in view.join_keys if k not in keys]
    if missing:
        raise ValidationError(f"Feature view '{view.name}' is keyed on {list(view.join_keys)}; missing {missing}.")
    at = utc_naive(at)
    sql = as_of_query(view, view.join_keys).sql(dialect="duckdb")
    params = [at, at, *(keys[k] for k in view.join_keys)]
    return connection.sql(sql, params=params).to_arrow_table()
