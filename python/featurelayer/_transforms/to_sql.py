"""SQL transforms offline: the expression rewritten into the point-in-time query.

The warehouse computes training data, so the expression is kept as SQL; only
what warehouses disagree on is spelled out (see ``definitions``): float
division that is NULL on a zero divisor, decimal literals as doubles, casts to
integers rounding half away from zero.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from .definitions import TRANSFORM_DIALECT, SqlOutput

__all__ = ["TRANSFORMS", "compile_sql"]


def compile_sql(output: SqlOutput, column: Callable[[exp.Column], exp.Expr]) -> exp.Expr:
    """The output's expression for the point-in-time query, with the pinned semantics.

    Args:
        column: maps each column reference to the query's qualified column.
    """
    tree = _Rewrite(column).of(output.expression)
    return exp.cast(tree, exp.DataType.build(output.data_type, dialect=TRANSFORM_DIALECT))


class _Rewrite:
    """Rewrites a tree with the rules of ``TRANSFORMS``, each node once.

    sqlglot's ``transform`` does not descend into a node a rule has replaced,
    so a rule that builds a new node (a division, an integer cast) rewrites
    the children it keeps with ``of`` itself.
    """

    def __init__(self, column: Callable[[exp.Column], exp.Expr]) -> None:
        self.column = column

    def of(self, tree: exp.Expr) -> exp.Expr:
        """A rewritten copy of ``tree``."""
        return tree.transform(self._node)  # (transform copies)

    def _node(self, node: exp.Expr) -> exp.Expr:
        rule = TRANSFORMS.get(type(node))
        return node if rule is None else rule(node, self)


_Rule = Callable[[exp.Expr, _Rewrite], exp.Expr]


def _unchanged(node: exp.Expr, rewrite: _Rewrite) -> exp.Expr:
    return node  # the warehouses agree on it: sqlglot writes it in each dialect (its children are rewritten)


def _column(node: exp.Expr, rewrite: _Rewrite) -> exp.Expr:
    assert isinstance(node, exp.Column)
    return rewrite.column(node)


def _literal(node: exp.Expr, rewrite: _Rewrite) -> exp.Expr:
    if isinstance(node, exp.Literal) and not node.is_string and not node.is_int:
        return exp.cast(node.copy(), exp.DataType.build("DOUBLE"))  # decimal literals are doubles
    return node


def _divide(node: exp.Expr, rewrite: _Rewrite) -> exp.Expr:
    left, right = rewrite.of(node.this), rewrite.of(node.expression)
    return exp.Case(
        ifs=[exp.If(this=right.copy().eq(exp.Literal.number(0)), true=exp.Null())],
        default=exp.Div(this=exp.cast(left, exp.DataType.build("DOUBLE")), expression=right),
    )


_INTEGERS = {exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT}


def _cast(node: exp.Expr, rewrite: _Rewrite) -> exp.Expr:
    if not isinstance(node, exp.Cast) or node.to.this not in _INTEGERS:
        return node
    # to an integer: round half away from zero, spelled out (PostgreSQL's round(double) rounds
    # half to even); integers and booleans pass through floor/ceil unchanged
    x = exp.cast(rewrite.of(node.this), exp.DataType.build("DOUBLE"))
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


#: One rule per node of the grammar (``definitions.GRAMMAR``); a test checks it covers every one.
TRANSFORMS: dict[type[exp.Expr], _Rule] = {
    exp.Column: _column,
    exp.Literal: _literal,
    exp.Div: _divide,
    exp.Cast: _cast,
    exp.Null: _unchanged,
    exp.Boolean: _unchanged,
    exp.Paren: _unchanged,
    exp.Identifier: _unchanged,
    exp.Add: _unchanged,
    exp.Sub: _unchanged,
    exp.Mul: _unchanged,
    exp.Neg: _unchanged,
    exp.EQ: _unchanged,
    exp.NEQ: _unchanged,
    exp.GT: _unchanged,
    exp.GTE: _unchanged,
    exp.LT: _unchanged,
    exp.LTE: _unchanged,
    exp.And: _unchanged,
    exp.Or: _unchanged,
    exp.Not: _unchanged,
    exp.Is: _unchanged,
    exp.Case: _unchanged,
    exp.If: _unchanged,
    exp.Coalesce: _unchanged,
    exp.DataType: _unchanged,
    exp.Abs: _unchanged,
}
