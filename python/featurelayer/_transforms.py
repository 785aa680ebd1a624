"""On-demand transforms: one definition, computed identically offline and online.

A SQL-expression transform is written once, in YAML, as SQL over features and
request fields. It is parsed with sqlglot and checked against a small subset
when the registry loads (an unsupported construct fails then, not at request
time), and compiled twice from the same tree:

- offline, into the point-in-time query (``compile_sql``), so training data
  is computed in the warehouse;
- online, into a vectorized pyarrow.compute function (``compile_arrow``),
  with no SQL engine on the request path.

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
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from ._errors import DefinitionError, ValidationError
from ._types import arrow_type

__all__ = [
    "PythonTransform",
    "SqlTransform",
    "Transform",
    "compile_arrow",
    "compile_sql",
    "load_python_transforms",
    "on_demand_transform",
    "parse_sql_transform",
]

#: The dialect transform expressions are written in.
TRANSFORM_DIALECT = "duckdb"

_ALLOWED = (
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
                ref = f"{column.table}.{column.name}" if column.table else column.name
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
            if not isinstance(node, _ALLOWED):
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


# --- offline: SQL ------------------------------------------------------------------------------------------


def compile_sql(output: SqlOutput, column: Callable[[exp.Column], exp.Expr]) -> exp.Expr:
    """The output's expression for the point-in-time query, with the pinned semantics.

    Args:
        column: maps each column reference to the query's qualified column.
    """

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column):
            return column(node)
        if isinstance(node, exp.Literal) and not node.is_string and not node.is_int:
            return exp.cast(node.copy(), exp.DataType.build("DOUBLE"))  # decimal literals are doubles
        if isinstance(node, exp.Div):
            left, right = node.this, node.expression
            return exp.Case(
                ifs=[exp.If(this=right.copy().eq(exp.Literal.number(0)), true=exp.Null())],
                default=exp.Div(this=exp.cast(left.copy(), exp.DataType.build("DOUBLE")), expression=right.copy()),
            )
        if isinstance(node, exp.Cast) and node.to.this in {
            exp.DataType.Type.SMALLINT,
            exp.DataType.Type.INT,
            exp.DataType.Type.BIGINT,
        }:
            # to an integer: round half away from zero, spelled out (PostgreSQL's round(double) rounds
            # half to even); integers and booleans pass through floor/ceil unchanged
            x = exp.cast(node.this.copy(), exp.DataType.build("DOUBLE"))
            rounded = exp.Case(
                ifs=[
                    exp.If(
                        this=exp.GTE(this=x.copy(), expression=exp.Literal.number(0)),
                        true=exp.Floor(this=exp.Add(this=x.copy(), expression=exp.Literal.number(0.5))),
                    )
                ],
                default=exp.Ceil(this=exp.Sub(this=x.copy(), expression=exp.Literal.number(0.5))),
            )
            return exp.cast(rounded, node.to.copy())
        return node

    tree = output.expression.copy().transform(rewrite)
    return exp.cast(tree, exp.DataType.build(output.data_type, dialect=TRANSFORM_DIALECT))


# --- online: pyarrow.compute -------------------------------------------------------------------------------

_Value = Any  # a pyarrow Array, ChunkedArray or Scalar (pyarrow ships no type hints)


def compile_arrow(output: SqlOutput) -> Callable[[pa.Table], pa.Array]:
    """A vectorized function computing the output from a table of its input columns.

    The expression tree is walked once, here, into nested closures; a request
    only runs pyarrow.compute kernels. Compiled functions are cached per output.
    """
    cached = _COMPILED.get(id(output))
    if cached is not None and cached[0] is output:
        return cached[1]
    compute = _compile(output.expression)

    def evaluate(table: pa.Table) -> pa.Array:
        result = compute(table)
        if isinstance(result, pa.Scalar):
            result = pa.array([result.as_py()] * table.num_rows, result.type if result.is_valid else pa.null())
        return _cast(result, output.arrow_type)

    _COMPILED[id(output)] = (output, evaluate)
    return evaluate


_COMPILED: dict[int, tuple[SqlOutput, Callable[[pa.Table], pa.Array]]] = {}


def _cast(value: _Value, kind: pa.DataType) -> _Value:
    if pa.types.is_integer(kind) and pa.types.is_floating(value.type):
        value = _round_half_away(value)
    if value.type == kind:
        return value
    return pc.cast(value, kind)


def _round_half_away(value: _Value) -> _Value:
    """floor(x + 0.5) for x >= 0, else ceil(x - 0.5): the same arithmetic the SQL side runs."""
    return pc.if_else(pc.greater_equal(value, 0.0), pc.floor(pc.add(value, 0.5)), pc.ceil(pc.subtract(value, 0.5)))


def _common(a: _Value, b: _Value) -> tuple[_Value, _Value]:
    """Brings two operands to one type, as SQL's implicit casts do for these operators."""
    ta, tb = a.type, b.type
    if ta == tb:
        return a, b
    if pa.types.is_null(ta):
        return pc.cast(a, tb), b
    if pa.types.is_null(tb):
        return a, pc.cast(b, ta)
    numeric = (pa.types.is_integer(ta) or pa.types.is_floating(ta)) and (
        pa.types.is_integer(tb) or pa.types.is_floating(tb)
    )
    if numeric:
        target = pa.float64() if pa.types.is_floating(ta) or pa.types.is_floating(tb) else pa.int64()
        return pc.cast(a, target), pc.cast(b, target)
    raise ValidationError(f"cannot combine values of types {ta} and {tb} in a transform")


_Compiled = Callable[[pa.Table], _Value]

_BINARY: dict[type, Callable[..., Any]] = {
    exp.Add: pc.add,
    exp.Sub: pc.subtract,
    exp.Mul: pc.multiply,
    exp.EQ: pc.equal,
    exp.NEQ: pc.not_equal,
    exp.GT: pc.greater,
    exp.GTE: pc.greater_equal,
    exp.LT: pc.less,
    exp.LTE: pc.less_equal,
    exp.And: pc.and_kleene,
    exp.Or: pc.or_kleene,
}


def _compile(node: exp.Expr) -> _Compiled:
    """The expression as a function of the input table (see the module docstring for the semantics)."""
    if isinstance(node, exp.Paren):
        return _compile(node.this)
    if isinstance(node, exp.Column):
        name = f"{node.table}.{node.name}" if node.table else node.name
        return lambda table: table.column(name)
    if isinstance(node, exp.Null | exp.Boolean | exp.Literal):
        if isinstance(node, exp.Null):
            value = pa.scalar(None)
        elif isinstance(node, exp.Boolean):
            value = pa.scalar(bool(node.this))
        elif node.is_string:
            value = pa.scalar(node.this)
        else:
            value = pa.scalar(int(node.this)) if node.is_int else pa.scalar(float(node.this))
        return lambda table: value
    if isinstance(node, exp.Neg | exp.Abs):
        inner, function = _compile(node.this), pc.negate if isinstance(node, exp.Neg) else pc.abs
        return lambda table: function(inner(table))
    if type(node) in _BINARY:
        function, left, right = _BINARY[type(node)], _compile(node.this), _compile(node.expression)
        return lambda table: function(*_common(left(table), right(table)))
    if isinstance(node, exp.Div):
        numerator, denominator = _compile(node.this), _compile(node.expression)
        null = pa.scalar(None, pa.float64())

        def divide(table: pa.Table) -> _Value:
            right = pc.cast(denominator(table), pa.float64())
            return pc.if_else(pc.equal(right, 0.0), null, pc.divide(pc.cast(numerator(table), pa.float64()), right))

        return divide
    if isinstance(node, exp.Not):
        if isinstance(node.this, exp.Is):  # x IS NOT NULL
            operand = _compile(node.this.this)
            return lambda table: pc.is_valid(operand(table))
        operand = _compile(node.this)
        return lambda table: pc.invert(operand(table))
    if isinstance(node, exp.Is):
        operand = _compile(node.this)
        return lambda table: pc.is_null(operand(table))
    if isinstance(node, exp.Coalesce):
        parts = [_compile(node.this), *(_compile(e) for e in node.expressions)]

        def coalesce(table: pa.Table) -> _Value:
            values = [part(table) for part in parts]
            result = values[-1]
            for value in reversed(values[:-1]):
                value, result = _common(value, result)
                result = pc.coalesce(value, result)
            return result

        return coalesce
    if isinstance(node, exp.Case | exp.If):
        if isinstance(node, exp.Case):
            branches = [(_compile(b.this), _compile(b.args["true"])) for b in node.args.get("ifs") or []]
            default_node = node.args.get("default")
        else:
            branches = [(_compile(node.this), _compile(node.args["true"]))]
            default_node = node.args.get("false")
        default = _compile(default_node) if default_node is not None else (lambda table: pa.scalar(None))

        def case(table: pa.Table) -> _Value:
            result = default(table)
            for condition, value in reversed(branches):
                chosen, result = _common(value(table), result)
                result = pc.if_else(pc.fill_null(condition(table), False), chosen, result)  # NULL counts as false
            return result

        return case
    if isinstance(node, exp.Cast):
        target, operand = arrow_type(node.to.sql(TRANSFORM_DIALECT), TRANSFORM_DIALECT), _compile(node.this)
        return lambda table: _cast(operand(table), target)
    raise ValidationError(f"unsupported transform expression {node.sql(TRANSFORM_DIALECT)!r}")
