"""On-demand transforms: their definitions, and the SQL grammar the compilers accept.

A SQL-expression transform is written once, in YAML, as SQL over features and
request fields. It is parsed with sqlglot and checked against a small subset
when the registry loads (an unsupported construct fails then, not at request
time), and compiled from the same tree:

- offline, into the point-in-time query (``to_sql.compile_sql``), so training
  data is computed in the warehouse;
- online, into a vectorized pyarrow.compute function (``to_arrow.compile_arrow``)
  or, for a request's few plain values, a generated Python loop
  (``to_python.compile_rows``), with no SQL engine on the request path.

Both sides pin the semantics that warehouses disagree on: ``a / b`` is float
division and NULL when ``b`` is 0; decimal literals are doubles; a cast from
a float to an integer rounds half away from zero; NULLs propagate as in SQL
(three-valued AND/OR, a NULL CASE condition is false). NaN inputs are outside
the contract (warehouses order NaN differently).

A Python transform is a function decorated with ``on_demand_transform`` in the
project's transforms module; it receives the same columns (a pyarrow Table or
a pandas DataFrame, the author's choice) offline and online.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from .._errors import DefinitionError, ValidationError
from .._types import arrow_type

__all__ = [
    "GRAMMAR",
    "TRANSFORM_DIALECT",
    "PythonTransform",
    "SqlOutput",
    "SqlTransform",
    "Transform",
    "input_name",
    "load_python_transforms",
    "on_demand_transform",
    "parse_sql_transform",
]

#: The dialect transform expressions are written in.
TRANSFORM_DIALECT = "duckdb"

#: The expression nodes a SQL transform may use. Every compiler has an entry for each
#: expression among them; ``Identifier`` and ``DataType`` only appear inside columns and
#: casts, so only ``to_sql``, which rewrites the tree in place, lists them too.
GRAMMAR = (
    exp.Column,
    exp.Literal,
    exp.Null,
    exp.Boolean,
    exp.Paren,
    exp.Identifier,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Neg,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Is,
    exp.Case,
    exp.If,
    exp.Coalesce,
    exp.Cast,
    exp.DataType,
    exp.Abs,
)
_CAST_TARGETS = {
    exp.DataType.Type.BOOLEAN,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.FLOAT,
    exp.DataType.Type.DOUBLE,
}


def input_name(column: exp.Column) -> str:
    """A transform's input as its expression names it: ``name``, or ``source.name`` where written so.

    >>> input_name(sqlglot.parse_one("session.cart_value"))
    'session.cart_value'
    """
    return f"{column.table}.{column.name}" if column.table else column.name


@dataclass(frozen=True)
class SqlOutput:
    name: str
    expression: exp.Expr
    data_type: str
    arrow_type: pa.DataType


@dataclass(frozen=True)
class SqlTransform:
    """A transform of SQL expressions, one per output column."""

    name: str
    outputs: tuple[SqlOutput, ...]

    @functools.cached_property
    def casts(self) -> bool:
        """Whether an output has a CAST (the online Python backend leaves casts of strings to Arrow)."""
        return any(output.expression.find(exp.Cast) is not None for output in self.outputs)

    @property
    def inputs(self) -> list[str]:
        """The column names the expressions read (qualified ``source.name`` where written so)."""
        names: list[str] = []
        for output in self.outputs:
            for column in output.expression.find_all(exp.Column):
                ref = input_name(column)
                if ref not in names:
                    names.append(ref)
        return names

    @property
    def output_types(self) -> dict[str, pa.DataType]:
        return {o.name: o.arrow_type for o in self.outputs}


@dataclass(frozen=True)
class PythonTransform:
    """A Python function over columns; see ``on_demand_transform``."""

    name: str
    function: Callable[[Any], Any]
    inputs: tuple[str, ...]
    outputs: Mapping[str, pa.DataType]
    mode: str  # "pyarrow" or "pandas"

    @property
    def output_types(self) -> dict[str, pa.DataType]:
        return dict(self.outputs)

    def apply(self, table: pa.Table) -> pa.Table:
        """Runs the function on its input columns; returns its outputs, checked and cast."""
        inputs = table.select(list(self.inputs))
        argument: Any = inputs.to_pandas() if self.mode == "pandas" else inputs
        result = self.function(argument)
        if hasattr(result, "to_dict") and hasattr(result, "columns"):  # a pandas DataFrame
            result = pa.Table.from_pandas(result, preserve_index=False)
        elif isinstance(result, Mapping):
            result = pa.table(
                {k: v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v) for k, v in result.items()}
            )
        if not isinstance(result, pa.Table):
            raise ValidationError(
                f"Transform '{self.name}' returned {type(result).__name__}; return a pyarrow Table, a pandas "
                f"DataFrame or a dict of columns {sorted(self.outputs)}."
            )
        if sorted(result.column_names) != sorted(self.outputs) or result.num_rows != table.num_rows:
            raise ValidationError(
                f"Transform '{self.name}' returned columns {result.column_names} with {result.num_rows} rows; "
                f"it declares {sorted(self.outputs)} and got {table.num_rows} rows."
            )
        columns = {}
        for name, kind in self.outputs.items():
            try:
                columns[name] = result.column(name).cast(kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise ValidationError(
                    f"Transform '{self.name}' output '{name}' has type {result.column(name).type}, which does not "
                    f"cast to its declared {kind}: {exc}"
                ) from exc
        return pa.table(columns)


Transform = SqlTransform | PythonTransform

_DECLARED: dict[str, PythonTransform] = {}


def on_demand_transform(
    *, inputs: Sequence[str], outputs: Mapping[str, str], mode: str = "pyarrow", name: str | None = None
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Declares a Python transform in the project's transforms module.

    Args:
        inputs: the columns it reads: feature names of the service's views and
            request fields (``source.name`` to disambiguate).
        outputs: output column -> type (DuckDB type names: ``double``, ``boolean``, ...).
        mode: ``"pyarrow"`` (the function gets a pyarrow Table) or ``"pandas"`` (a DataFrame).
        name: the transform's name in feature services (default: the function's name).

    >>> @on_demand_transform(inputs=["daily_transactions"], outputs={"busy": "boolean"})
    ... def busy_day(table):
    ...     import pyarrow.compute as pc
    ...     return {"busy": pc.greater(table["daily_transactions"], 3)}
    """
    if mode not in ("pyarrow", "pandas"):
        raise DefinitionError(f"on_demand_transform mode must be 'pyarrow' or 'pandas'; got {mode!r}.")

    def register(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        key = name or function.__name__
        try:
            types = {out: arrow_type(kind, TRANSFORM_DIALECT) for out, kind in outputs.items()}
        except ValidationError as exc:
            raise DefinitionError(f"Transform '{key}': {exc}") from None
        _DECLARED[key] = PythonTransform(key, function, tuple(inputs), types, mode)
        return function

    return register


def load_python_transforms(path: Path) -> dict[str, PythonTransform]:
    """Imports the project's transforms module and returns the transforms it declares."""
    if not path.is_file():
        raise DefinitionError(f"The transforms module {path} (vars: feature_layer: transforms_module) does not exist.")
    _DECLARED.clear()
    spec = importlib.util.spec_from_file_location(f"featurelayer_project_transforms_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise DefinitionError(f"Importing the transforms module {path} failed: {exc!r}") from exc
    found = dict(_DECLARED)
    _DECLARED.clear()
    return found


def parse_sql_transform(name: str, spec: Any) -> SqlTransform:
    """A SQL transform from its YAML: ``{outputs: {column: {type: ..., expression: ...}}}``.

    Raises:
        DefinitionError: the YAML is malformed, an expression does not parse, or
            it uses SQL outside the supported subset (named in the message).
    """
    where = f"Transform '{name}' (dbt_project.yml vars: feature_layer: transforms)"
    outputs = spec.get("outputs") if isinstance(spec, Mapping) else None
    if not isinstance(outputs, Mapping) or not outputs:
        raise DefinitionError(f"{where} needs `outputs: {{<column>: {{type: ..., expression: ...}}}}`.")
    parsed = []
    for column, output in outputs.items():
        if not isinstance(output, Mapping) or "expression" not in output or "type" not in output:
            raise DefinitionError(f"{where}: output '{column}' needs `type:` and `expression:`.")
        try:
            tree = sqlglot.parse_one(str(output["expression"]), dialect=TRANSFORM_DIALECT)
        except sqlglot.errors.ParseError as exc:
            raise DefinitionError(f"{where}: output '{column}': the expression does not parse: {exc}") from None
        for node in tree.walk():
            if type(node) not in GRAMMAR:  # exactly: TRY_CAST is a Cast to sqlglot, with other semantics
                raise DefinitionError(
                    f"{where}: output '{column}' uses {node.key.upper()} ({node.sql(TRANSFORM_DIALECT)!r}), "
                    "which SQL transforms do not support. Supported: columns, literals, + - * /, comparisons, "
                    "AND/OR/NOT, IS [NOT] NULL, CASE/IF, COALESCE, ABS, CAST to boolean/integer/double."
                )
            if isinstance(node, exp.Cast) and node.to.this not in _CAST_TARGETS:
                raise DefinitionError(
                    f"{where}: output '{column}' casts to {node.to.sql()}; cast to boolean, "
                    "an integer type or double only."
                )
        try:
            kind = arrow_type(str(output["type"]), TRANSFORM_DIALECT)
        except ValidationError as exc:
            raise DefinitionError(f"{where}: output '{column}': {exc}") from None
        parsed.append(SqlOutput(str(column), tree, str(output["type"]), kind))
    return SqlTransform(name, tuple(parsed))
