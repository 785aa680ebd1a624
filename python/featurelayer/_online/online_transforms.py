"""A service's transforms on an online response: generated Python loops where they cover the inputs, else Arrow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .._registry.resolve import check_request_fields
from .._transforms.apply import apply_transforms
from .response import OnlineResponse

if TYPE_CHECKING:
    from .._registry.resolve import ResolvedRequest
    from .._transforms.bound import BoundTransform
    from .._transforms.to_python import RowsFunction

__all__ = ["apply_online_transforms", "complete_online"]


def complete_online(request: ResolvedRequest, response: OnlineResponse) -> OnlineResponse:
    """A read's response with the request's transforms applied (their request fields checked first)."""
    if not request.transforms:
        return response
    check_request_fields(response.columns, request, "request_data")
    return apply_online_transforms(request, response)


def apply_online_transforms(request: ResolvedRequest, response: OnlineResponse) -> OnlineResponse:
    """The response plus every transform's outputs, computed as online requests need.

    A SQL transform whose inputs are plain Python values (integers, doubles,
    booleans, strings) runs as compiled Python over them (``_transforms.to_python``):
    for a request's few rows that is several times cheaper than pyarrow.compute.
    The rest go through Arrow, as offline.
    """
    added: dict[str, Any] = {}
    arrow: list[BoundTransform] = []
    for bound in request.transforms:
        python = _in_python(bound, response)
        if python is None:
            arrow.append(bound)
            continue
        columns, functions = python
        values = {name: function(columns) for name, function in functions.items()}
        added.update({column: values[name] for column, name in bound.outputs.items()})
    if arrow:
        needed = dict.fromkeys(column for t in arrow for column in t.inputs.values())
        table = apply_transforms(arrow, pa.table({name: response.column(name) for name in needed}))
        added.update({name: table.column(name) for t in arrow for name in t.outputs})
    ordered = {name: added[name] for t in request.transforms for name in t.outputs}
    return response.with_columns(ordered, request.output_types)


def _in_python(
    bound: BoundTransform, response: OnlineResponse
) -> tuple[list[list[Any]], dict[str, RowsFunction]] | None:
    """The input columns and compiled functions of a SQL transform the Python backend covers; else None."""
    functions = bound.row_functions
    if functions is None:
        return None
    columns = []
    for column in bound.inputs.values():
        values = response.plain_values(column)
        if values is None:
            return None
        columns.append(values)
    if bound.transform.casts and any(type(v) is str for values in columns for v in values):  # type: ignore[union-attr]
        return None  # the Python casts take no strings; Arrow parses them as the warehouse does
    return columns, functions
