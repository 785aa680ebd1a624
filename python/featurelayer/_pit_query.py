"""The point-in-time join, as a sqlglot expression.

One LEFT JOIN per feature view, on the view's join keys and the validity
range, so every entity row comes back exactly once (intervals of an entity
never overlap: the dbt test ``valid_intervals_ordered`` guarantees it) with
nulls where nothing was valid:

    select e.__fl_row, v1.f1 as f1, ...
    from entity_rows as e
    left join view1 as v1
      on v1.k = e.k and v1.valid_from <= e.__fl_ts and e.__fl_ts < v1.valid_to
    ...
    order by e.__fl_row

The ttl is already folded into ``valid_to`` by the ``valid_intervals`` macro,
so the join needs nothing else. The same expression is transpiled to each
warehouse's dialect; tests/fixtures/pit_query holds the golden SQL.

Plan choice on DuckDB, by measurement (benchmarks/retrieval.py, 1M entity
rows over 10.2M feature rows in two views, 2 cores; BENCHMARKS.md): this range
join runs as a hash join on the keys with the interval as a residual filter,
0.68 s and 450 MB hand-written; an ASOF join on the same validity tables
(plus the valid_to test on every feature) takes 1.58 s and 1.4 GB, and an
ASOF join on the raw rows 3.3 s and 1.6 GB. ASOF joins also fall back to a
nested loop below DuckDB's ``asof_loop_join_threshold`` when the left side is
small or badly estimated. So: a plain range join, for every warehouse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from ._entity_df import ROW_ID, TIMESTAMP
from ._transforms.definitions import SqlTransform
from ._transforms.to_sql import compile_sql

if TYPE_CHECKING:
    from ._registry.views import FeatureView
    from ._request import FeatureRef
    from ._transforms.bound import BoundTransform

__all__ = ["point_in_time_query", "view_table"]

ENTITY_ALIAS = "fl_entity"


def view_table(view: FeatureView, alias: str | None = None) -> exp.Expr:
    """The view's warehouse table as a quoted sqlglot table reference."""
    table = exp.table_(view.identifier, db=view.schema, catalog=view.database, quoted=True)
    return table.as_(alias, quoted=True) if alias else table


def point_in_time_query(
    entity: exp.Expr,
    refs: Sequence[FeatureRef],
    *,
    passthrough: Sequence[str] = (),
    as_known_at_time: bool = False,
    transforms: Sequence[BoundTransform] = (),
) -> exp.Select:
    """SELECT the row id, ``passthrough`` entity columns, every requested feature and SQL transform.

    Args:
        entity: a table or subquery with ``__fl_row``, the join keys and ``__fl_ts``
            (and the request fields SQL transforms read).
        refs: the resolved features (see ``resolve_features``).
        passthrough: entity columns to carry into the result (for SQL entity input).
        as_known_at_time: also require ``created_timestamp <= __fl_ts`` (see
            ``FeatureStore.get_historical_features``).
        transforms: the request's transforms; the SQL ones are computed here.

    >>> from sqlglot import exp
    >>> point_in_time_query(exp.to_table("e"), []).sql()
    'SELECT "fl_entity"."__fl_row" FROM e AS "fl_entity" ORDER BY "fl_entity"."__fl_row"'
    """
    row_id = exp.column(ROW_ID, table=ENTITY_ALIAS, quoted=True)
    select = exp.select(row_id, *(exp.column(c, table=ENTITY_ALIAS, quoted=True) for c in passthrough))
    select = select.from_(entity.as_(ENTITY_ALIAS, quoted=True) if not isinstance(entity, exp.Alias) else entity)

    views: dict[str, FeatureView] = {}
    for ref in refs:
        views.setdefault(ref.view.name, ref.view)
    aliases = {name: f"fl_v{i}" for i, name in enumerate(views)}
    for name, view in views.items():
        alias = aliases[name]
        if as_known_at_time and view.created_timestamp:
            table, on = _known_at_time_join(entity, view, alias)
        else:
            table, on = view_table(view, alias), _interval_condition(view, alias)
        select = select.join(table, on=on, join_type="left")
    sources = {ref.output_name: exp.column(ref.feature.name, table=aliases[ref.view.name], quoted=True) for ref in refs}
    outputs = [sources[ref.output_name].copy().as_(ref.output_name, quoted=True) for ref in refs]
    for bound in transforms:
        if not isinstance(bound.transform, SqlTransform):
            continue

        def column(node: exp.Column, bound: BoundTransform = bound) -> exp.Expr:
            written = f"{node.table}.{node.name}" if node.table else node.name
            name = bound.inputs[written]
            return sources[name].copy() if name in sources else exp.column(name, table=ENTITY_ALIAS, quoted=True)

        own = {o.name: o for o in bound.transform.outputs}
        for result_column, name in bound.outputs.items():
            outputs.append(compile_sql(own[name], column).as_(result_column, quoted=True))
    return select.select(*outputs).order_by(row_id)


def _key_condition(view: FeatureView, alias: str, entity_alias: str = ENTITY_ALIAS) -> list[exp.Expr]:
    return [
        exp.column(column, table=alias, quoted=True).eq(exp.column(key, table=entity_alias, quoted=True))
        for column, key in zip(view.table_keys, view.join_keys, strict=True)
    ]


def _interval_condition(view: FeatureView, alias: str) -> exp.Expr:
    """Keys equal and ``valid_from <= t < valid_to``: the whole point-in-time rule."""
    lookup = exp.column(TIMESTAMP, table=ENTITY_ALIAS, quoted=True)
    return exp.and_(
        *_key_condition(view, alias),
        exp.column("valid_from", table=alias, quoted=True) <= lookup,
        lookup < exp.column("valid_to", table=alias, quoted=True),
    )


def _known_at_time_join(entity: exp.Expr, view: FeatureView, alias: str) -> tuple[exp.Expr, exp.Expr]:
    """The latest row that existed (``created <= t``) at each entity row's time.

    The validity intervals were computed from every row, including rows
    created later, so they cannot answer "what was known at t": this ranks
    the candidate rows per entity row instead (slower, hence opt-in). Rows
    superseded by a correction are still in the table (with an empty
    interval) for this. A row without a created timestamp counts as known.
    """
    inner_entity, inner_view = "fl_e", "fl_r"
    lookup = exp.column(TIMESTAMP, table=inner_entity, quoted=True)
    event = exp.column("valid_from", table=inner_view, quoted=True)
    created = exp.column(view.created_timestamp or "", table=inner_view, quoted=True)
    known = exp.or_(exp.Is(this=created.copy(), expression=exp.Null()), created.copy() <= lookup)
    conditions = [*_key_condition(view, inner_view, inner_entity), event <= lookup, exp.paren(known)]
    if view.ttl_seconds is not None:
        earliest = exp.Sub(
            this=lookup,
            expression=exp.Interval(this=exp.Literal.string(str(view.ttl_seconds)), unit=exp.var("SECOND")),
        )
        conditions.append(event >= earliest)
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[exp.column(ROW_ID, table=inner_entity, quoted=True)],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=event.copy(), desc=True),
                exp.Ordered(this=created.copy(), desc=True, nulls_first=False),  # a missing created timestamp loses
            ]
        ),
    )
    ranked = (
        exp.select(
            exp.column(ROW_ID, table=inner_entity, quoted=True),
            exp.Column(this=exp.Star(), table=exp.to_identifier(inner_view, quoted=True)),
        )
        .select(rank.as_("fl_rank", quoted=True))
        .from_(entity.copy().as_(inner_entity, quoted=True))
        .join(view_table(view, inner_view), on=exp.and_(*conditions), join_type="inner")
    )
    on = exp.and_(
        exp.column(ROW_ID, table=alias, quoted=True).eq(exp.column(ROW_ID, table=ENTITY_ALIAS, quoted=True)),
        exp.column("fl_rank", table=alias, quoted=True).eq(exp.Literal.number(1)),
    )
    table = exp.Subquery(this=ranked, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    return table, on
