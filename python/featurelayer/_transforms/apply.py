"""Runs a request's transforms over a table of its features and request fields (offline, and online via Arrow).

Offline, SQL transforms were computed in the warehouse with the training query
(``skip_sql``) and only Python transforms run here; online, the outputs the
generated Python loops do not cover run here through pyarrow.compute.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from .bound import BoundTransform
from .definitions import PythonTransform, SqlTransform

__all__ = ["apply_transforms", "transform_inputs"]


def transform_inputs(bound: BoundTransform, table: pa.Table) -> pa.Table:
    """The columns a transform reads, named as it names them."""
    return pa.table({ref: table.column(column) for ref, column in bound.inputs.items()})


def apply_transforms(transforms: Sequence[BoundTransform], table: pa.Table, *, skip_sql: bool = False) -> pa.Table:
    """Appends every transform's outputs to ``table`` (features and request fields already in it)."""
    for bound in transforms:
        if isinstance(bound.transform, SqlTransform) and skip_sql:
            continue
        inputs = transform_inputs(bound, table)
        if isinstance(bound.transform, PythonTransform):
            produced = bound.transform.apply(inputs)
            values = {out: produced.column(out) for out in bound.transform.outputs}
        else:
            values = {name: function(inputs) for name, function in bound.arrow_functions.items()}
        for column, name in bound.outputs.items():
            table = table.append_column(column, values[name])
    return table
