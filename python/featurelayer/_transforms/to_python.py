"""SQL transforms for online requests: the expression compiled to one Python loop.

A pyarrow.compute kernel call costs about 5 µs however few rows it gets, and an
online request carries a handful of rows already held as Python values; so
online, a SQL transform over plain columns (integers, doubles, booleans,
strings) runs as plain Python instead. ``compile_rows`` turns the expression
tree into the source of one loop over the input columns' values, once
per output, with the semantics pinned in ``definitions`` (float division,
NULL on division by zero, rounding half away from zero, three-valued logic).
tests/test_transforms.py checks it, with ``compile_arrow``, against DuckDB
running the offline SQL on random inputs.

Not covered, so the caller falls back to ``compile_arrow``: float32 values or
casts (Python computes in double precision; Arrow and warehouses in single)
and output types other than integers, double and boolean. Integers do not
wrap or overflow here as they would in int64.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

from .._errors import ValidationError
from .definitions import SqlOutput, input_name

__all__ = ["TRANSFORMS", "RowsFunction", "compile_rows", "plain_type"]

#: columns in, one output value per row out
RowsFunction = Callable[[Sequence[Sequence[Any]]], list[Any]]

_INTEGER_CASTS = {exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT}
_OPERATORS: dict[type[exp.Expr], str] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.EQ: "==",
    exp.NEQ: "!=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
}


@functools.lru_cache(maxsize=256)
def plain_type(kind: pa.DataType) -> bool:
    """Whether values of this Arrow type compute the same as Python ints, floats, bools and strs."""
    return bool(
        pa.types.is_integer(kind)
        or kind == pa.float64()
        or pa.types.is_boolean(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    )


def _to_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float):  # floor(x + 0.5) / ceil(x - 0.5), in double arithmetic as the SQL side
        return int(math.floor(value + 0.5) if value >= 0 else math.ceil(value - 0.5))
    if isinstance(value, bool | int):
        return int(value)
    raise TypeError(f"cannot cast {value!r} to an integer")


def _to_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return float(value)
    raise TypeError(f"cannot cast {value!r} to double")


def _to_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return value != 0
    raise TypeError(f"cannot cast {value!r} to boolean")


def _divide(a: Any, b: Any) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


_HELPERS: dict[str, Any] = {
    "_to_int": _to_int,
    "_to_float": _to_float,
    "_to_bool": _to_bool,
    "_divide": _divide,
    "_and": _and,
    "_or": _or,
}


def _final_cast(kind: pa.DataType, body: str) -> str | None:
    if pa.types.is_integer(kind):
        return f"_to_int({body})"
    if kind == pa.float64():  # inline: a builtin call is cheaper than a helper's
        return f"(None if (_r := {body}) is None else float(_r))"
    if pa.types.is_boolean(kind):
        return f"_to_bool({body})"
    return None


def _strict(node: exp.Expr, index: dict[str, int]) -> tuple[str, set[int]] | None:
    """Python source of an expression that is NULL exactly when one of its columns is, and those columns.

    Covers columns, non-null literals, arithmetic, comparisons, NOT, ABS and
    casts, and a division at the top (its helper gives NULL on division by
    zero, which the final cast passes on; a division further down would feed
    that NULL to an operator); None for anything else (CASE, COALESCE, IS NULL,
    AND, OR, inner divisions), which ``_Source`` handles.
    """
    columns: set[int] = set()

    def of(node: exp.Expr) -> str | None:
        if isinstance(node, exp.Paren):
            return of(node.this)
        if isinstance(node, exp.Column):
            i = index[input_name(node)]
            columns.add(i)
            return f"c{i}"
        if isinstance(node, exp.Boolean | exp.Literal):
            return _literal(node)
        if isinstance(node, exp.Neg | exp.Abs) or (isinstance(node, exp.Not) and not isinstance(node.this, exp.Is)):
            inner = of(node.this)
            if inner is None:
                return None
            return {exp.Neg: f"(-{inner})", exp.Abs: f"abs({inner})", exp.Not: f"(not {inner})"}[type(node)]
        if type(node) in _OPERATORS:
            left, right = of(node.this), of(node.expression)
            if left is None or right is None:
                return None
            return f"({left} {_OPERATORS[type(node)]} {right})"
        if isinstance(node, exp.Cast):
            operand = of(node.this)
            helper = _CASTS.get(node.to.this)
            return None if operand is None or helper is None else f"{helper}({operand})"
        return None

    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Div):  # NULL on division by zero too, but only outermost: nothing reads it after
        left, right = of(node.this), of(node.expression)
        source = None if left is None or right is None else f"_divide({left}, {right})"
    else:
        source = of(node)
    return None if source is None else (source, columns)


_CASTS = {
    **dict.fromkeys(_INTEGER_CASTS, "_to_int"),
    exp.DataType.Type.DOUBLE: "_to_float",
    exp.DataType.Type.BOOLEAN: "_to_bool",
}


class _Source:
    """Python source of one expression; temporaries named _t0, _t1, ... (bound by walrus)."""

    def __init__(self, inputs: Sequence[str]) -> None:
        self.index = {name: i for i, name in enumerate(inputs)}
        self.counter = itertools.count()

    def temp(self) -> str:
        return f"_t{next(self.counter)}"

    def of(self, node: exp.Expr) -> str | None:
        """The node as a Python expression, or None where this backend does not apply."""
        rule = TRANSFORMS.get(type(node))
        return None if rule is None else rule(self, node)


_Rule = Callable[[_Source, exp.Expr], "str | None"]


def _column(source: _Source, node: exp.Expr) -> str | None:
    assert isinstance(node, exp.Column)
    return f"c{source.index[input_name(node)]}"


def _literal(node: exp.Expr) -> str:
    """A non-null constant as Python source (through ``repr``: nothing is formatted in by hand)."""
    if isinstance(node, exp.Boolean):
        return repr(bool(node.this))
    if node.is_string:
        return repr(str(node.this))
    return repr(int(node.this)) if node.is_int else repr(float(node.this))  # decimal literals are doubles


def _constant(source: _Source, node: exp.Expr) -> str | None:
    return "None" if isinstance(node, exp.Null) else _literal(node)


def _unary(template: str) -> _Rule:
    """NULL in, NULL out; ``template`` formats the operand's temporary as ``{}``."""

    def rule(source: _Source, node: exp.Expr) -> str | None:
        inner = source.of(node.this)
        if inner is None:
            return None
        t = source.temp()
        return f"(None if ({t} := {inner}) is None else {template.format(t)})"

    return rule


def _not(source: _Source, node: exp.Expr) -> str | None:
    if isinstance(node.this, exp.Is):  # x IS NOT NULL
        operand = source.of(node.this.this)
        return None if operand is None else f"({operand} is not None)"
    return _unary("(not {})")(source, node)


def _operator(symbol: str) -> _Rule:
    def rule(source: _Source, node: exp.Expr) -> str | None:
        left, right = source.of(node.this), source.of(node.expression)
        if left is None or right is None:
            return None
        a, b = source.temp(), source.temp()
        return f"(None if ({a} := {left}) is None or ({b} := {right}) is None else {a} {symbol} {b})"

    return rule


def _helper(name: str) -> _Rule:
    """A binary node computed by one of ``_HELPERS``, which handle NULLs themselves."""

    def rule(source: _Source, node: exp.Expr) -> str | None:
        left, right = source.of(node.this), source.of(node.expression)
        return None if left is None or right is None else f"{name}({left}, {right})"

    return rule


def _is_null(source: _Source, node: exp.Expr) -> str | None:
    operand = source.of(node.this)
    return None if operand is None else f"({operand} is None)"


def _coalesce(source: _Source, node: exp.Expr) -> str | None:
    parts = [source.of(node.this), *(source.of(e) for e in node.expressions)]
    if any(p is None for p in parts):
        return None
    chain = str(parts[-1])
    for part in reversed(parts[:-1]):
        t = source.temp()
        chain = f"({t} if ({t} := {part}) is not None else {chain})"
    return chain


def _case(source: _Source, node: exp.Expr) -> str | None:
    if isinstance(node, exp.Case):
        branches = [(b.this, b.args["true"]) for b in node.args.get("ifs") or []]
        default = node.args.get("default")
    else:
        branches, default = [(node.this, node.args["true"])], node.args.get("false")
    choice: str | None = "None" if default is None else source.of(default)
    for condition, value in reversed(branches):
        test, then = source.of(condition), source.of(value)
        if test is None or then is None or choice is None:
            return None
        choice = f"({then} if {test} is True else {choice})"  # a NULL condition counts as false
    return choice


def _cast(source: _Source, node: exp.Expr) -> str | None:
    assert isinstance(node, exp.Cast)
    operand = source.of(node.this)
    helper = _CASTS.get(node.to.this)  # none for FLOAT (single precision): Arrow's path
    return None if operand is None or helper is None else f"{helper}({operand})"


#: One rule per expression of the grammar (``definitions.GRAMMAR``); a test checks it covers every one.
#: A rule returns None where this backend does not apply, and the caller uses ``to_arrow``.
TRANSFORMS: dict[type[exp.Expr], _Rule] = {
    exp.Paren: lambda source, node: source.of(node.this),
    exp.Column: _column,
    exp.Null: _constant,
    exp.Boolean: _constant,
    exp.Literal: _constant,
    exp.Neg: _unary("-{}"),
    exp.Abs: _unary("abs({})"),
    exp.Not: _not,
    **{kind: _operator(symbol) for kind, symbol in _OPERATORS.items()},
    exp.Div: _helper("_divide"),
    exp.And: _helper("_and"),
    exp.Or: _helper("_or"),
    exp.Is: _is_null,
    exp.Coalesce: _coalesce,
    exp.Case: _case,
    exp.If: _case,
    exp.Cast: _cast,
}


def compile_rows(output: SqlOutput, inputs: Sequence[str], name: str) -> RowsFunction | None:
    """A function of the input columns (in ``inputs`` order) giving the output's values; None if not covered.

    Args:
        inputs: the column names the expression reads, as ``SqlTransform.inputs`` lists them.
        name: the transform's name, for error messages.
    """
    strict = _strict(output.expression, {name: i for i, name in enumerate(inputs)})
    if strict is not None:
        # NULL in, NULL out everywhere: test the columns once, then compute without checks
        body, columns = strict
        cast = _final_cast(output.arrow_type, body)
        guard = " or ".join(f"c{i} is None" for i in sorted(columns))
        value = None if cast is None else f"(None if {guard} else {cast})" if guard else cast
    else:
        checked = _Source(inputs).of(output.expression)
        value = None if checked is None else _final_cast(output.arrow_type, checked)
    function: RowsFunction | None = None
    if value is not None and inputs:  # (a constant expression has no column to count rows by: Arrow's path)
        names = "".join(f"c{i}, " for i in range(len(inputs)))
        # a plain loop, not a comprehension: its temporaries stay fast locals
        source = (
            "def evaluate(columns):\n"
            "    out = []\n"
            "    append = out.append\n"
            f"    for {names}in zip(*columns):\n"
            f"        append({value})\n"
            "    return out\n"
        )
        # the source holds only what _Source wrote from the parsed tree: no names, literals through repr()
        namespace: dict[str, Any] = dict(_HELPERS)
        exec(compile(source, f"<transform {name}.{output.name}>", "exec"), namespace)
        compiled: RowsFunction = namespace["evaluate"]

        def function(columns: Sequence[Sequence[Any]]) -> list[Any]:
            try:
                return compiled(columns)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValidationError(f"Transform '{name}' output '{output.name}': {exc}") from None

    return function
