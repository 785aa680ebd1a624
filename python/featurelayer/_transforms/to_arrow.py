"""SQL transforms online, vectorized: the expression as nested pyarrow.compute calls.

The tree is walked once into closures; a request only runs kernels. Used for
what the generated Python loops (``to_python``) do not cover, and for every
output when the inputs are Arrow arrays. The semantics are those pinned in
``definitions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from .._errors import ValidationError
from .._types import arrow_type
from .definitions import TRANSFORM_DIALECT, SqlOutput, input_name

__all__ = ["TRANSFORMS", "compile_arrow"]


_Value = Any  # a pyarrow Array, ChunkedArray or Scalar (pyarrow ships no type hints)


def compile_arrow(output: SqlOutput) -> Callable[[pa.Table], pa.Array]:
    """A vectorized function computing the output from a table of its input columns.

    The expression tree is walked once, here, into nested closures; a request
    only runs pyarrow.compute kernels. Callers keep the function as long as
    they need it (``BoundTransform.arrow_functions``): nothing is cached here.
    """
    compute = _compile(output.expression)

    def evaluate(table: pa.Table) -> pa.Array:
        result = compute(table)
        if isinstance(result, pa.Scalar):
            result = pa.array([result.as_py()] * table.num_rows, result.type if result.is_valid else pa.null())
        return _cast(result, output.arrow_type)

    return evaluate


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


def _compile(node: exp.Expr) -> _Compiled:
    """The expression as a function of the input table (see ``definitions`` for the semantics)."""
    compiler = TRANSFORMS.get(type(node))
    if compiler is None:
        raise ValidationError(f"unsupported transform expression {node.sql(TRANSFORM_DIALECT)!r}")
    return compiler(node)


def _column(node: exp.Expr) -> _Compiled:
    assert isinstance(node, exp.Column)
    name = input_name(node)
    return lambda table: table.column(name)


def _constant(node: exp.Expr) -> _Compiled:
    if isinstance(node, exp.Null):
        value = pa.scalar(None)
    elif isinstance(node, exp.Boolean):
        value = pa.scalar(bool(node.this))
    elif node.is_string:
        value = pa.scalar(node.this)
    else:
        value = pa.scalar(int(node.this)) if node.is_int else pa.scalar(float(node.this))
    return lambda table: value


def _unary(function: Callable[[_Value], _Value]) -> Callable[[exp.Expr], _Compiled]:
    def compile_unary(node: exp.Expr) -> _Compiled:
        inner = _compile(node.this)
        return lambda table: function(inner(table))

    return compile_unary


def _binary(function: Callable[[_Value, _Value], _Value]) -> Callable[[exp.Expr], _Compiled]:
    def compile_binary(node: exp.Expr) -> _Compiled:
        left, right = _compile(node.this), _compile(node.expression)
        return lambda table: function(*_common(left(table), right(table)))

    return compile_binary


def _divide(node: exp.Expr) -> _Compiled:
    numerator, denominator = _compile(node.this), _compile(node.expression)
    null = pa.scalar(None, pa.float64())

    def divide(table: pa.Table) -> _Value:
        right = pc.cast(denominator(table), pa.float64())
        return pc.if_else(pc.equal(right, 0.0), null, pc.divide(pc.cast(numerator(table), pa.float64()), right))

    return divide


def _not(node: exp.Expr) -> _Compiled:
    if isinstance(node.this, exp.Is):  # x IS NOT NULL
        operand = _compile(node.this.this)
        return lambda table: pc.is_valid(operand(table))
    operand = _compile(node.this)
    return lambda table: pc.invert(operand(table))


def _coalesce(node: exp.Expr) -> _Compiled:
    parts = [_compile(node.this), *(_compile(e) for e in node.expressions)]

    def coalesce(table: pa.Table) -> _Value:
        values = [part(table) for part in parts]
        result = values[-1]
        for value in reversed(values[:-1]):
            value, result = _common(value, result)
            result = pc.coalesce(value, result)
        return result

    return coalesce


def _case(node: exp.Expr) -> _Compiled:
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


def _cast_node(node: exp.Expr) -> _Compiled:
    assert isinstance(node, exp.Cast)
    target, operand = arrow_type(node.to.sql(TRANSFORM_DIALECT), TRANSFORM_DIALECT), _compile(node.this)
    return lambda table: _cast(operand(table), target)


#: One compiler per expression of the grammar (``definitions.GRAMMAR``); a test checks it covers every one.
TRANSFORMS: dict[type[exp.Expr], Callable[[exp.Expr], _Compiled]] = {
    exp.Paren: lambda node: _compile(node.this),
    exp.Column: _column,
    exp.Null: _constant,
    exp.Boolean: _constant,
    exp.Literal: _constant,
    exp.Neg: _unary(pc.negate),
    exp.Abs: _unary(pc.abs),
    exp.Add: _binary(pc.add),
    exp.Sub: _binary(pc.subtract),
    exp.Mul: _binary(pc.multiply),
    exp.EQ: _binary(pc.equal),
    exp.NEQ: _binary(pc.not_equal),
    exp.GT: _binary(pc.greater),
    exp.GTE: _binary(pc.greater_equal),
    exp.LT: _binary(pc.less),
    exp.LTE: _binary(pc.less_equal),
    exp.And: _binary(pc.and_kleene),
    exp.Or: _binary(pc.or_kleene),
    exp.Div: _divide,
    exp.Not: _not,
    exp.Is: _unary(pc.is_null),
    exp.Coalesce: _coalesce,
    exp.Case: _case,
    exp.If: _case,
    exp.Cast: _cast_node,
}
