"""A transform within one request: its inputs mapped to the request's columns, its compiled forms kept.

A feature service names a transform; resolving the service (``_registry.resolve``)
binds each of the transform's inputs to a column of the request (a feature's
output column or a request field) and names its outputs. The compiled
functions live as long as the binding, which the store caches with the
resolved request for the online hot path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from .definitions import SqlTransform, Transform
from .to_arrow import compile_arrow
from .to_python import RowsFunction, compile_rows

__all__ = ["BoundTransform"]


@dataclass(frozen=True)
class BoundTransform:
    """A transform within one request: its inputs mapped to the request's columns.

    Attributes:
        inputs: the transform's input name as written -> the column holding it
            (a feature's output column, or a request field).
        outputs: output column in the result -> the transform's own output name.
    """

    transform: Transform
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]

    @functools.cached_property
    def row_functions(self) -> dict[str, RowsFunction] | None:
        """A SQL transform's outputs compiled to Python loops, or None where one is not covered."""
        transform = self.transform
        if not isinstance(transform, SqlTransform):
            return None
        functions = {}
        for output in transform.outputs:
            function = compile_rows(output, list(self.inputs), transform.name)
            if function is None:
                return None
            functions[output.name] = function
        return functions

    @functools.cached_property
    def arrow_functions(self) -> dict[str, Callable[[pa.Table], pa.Array]]:
        """A SQL transform's outputs compiled to pyarrow.compute (empty for a Python transform)."""
        if not isinstance(self.transform, SqlTransform):
            return {}
        return {output.name: compile_arrow(output) for output in self.transform.outputs}
