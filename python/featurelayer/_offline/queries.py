"""The SQL the offline side runs, as sqlglot expressions: one rule, "valid at t", everywhere.

The dbt macro ``valid_intervals`` gives every row ``valid_from``/``valid_to``,
so "the row in force at t" is the range test ``valid_at`` builds, and nothing
else: training retrieval (the point-in-time join below), the rows an online
sync copies (``sync_rows_query``), every entity's row at one instant
(``as_of_entities``) and a person's lookup (``as_of_query``) all use it.
Values are bound as placeholders, never formatted into SQL.

The point-in-time join:

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

Plan choice on DuckDB, by measurement (``make bench``: benchmarks/floor.py runs
the alternatives, 1M entity rows over 10.2M feature rows in two views, 2
cores; BENCHMARKS.md): this range
join runs as a hash join on the keys with the interval as a residual filter,
0.68 s and 450 MB hand-written; an ASOF join on the same validity tables
(plus the valid_to test on every feature) takes 1.58 s and 1.4 GB, and an
ASOF join on the raw rows 3.3 s and 1.6 GB. ASOF joins also fall back to a
nested loop below DuckDB's ``asof_loop_join_threshold`` when the left side is
small or badly estimated. So: a plain range join, for every warehouse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .._registry.views import SNAPSHOT_COLUMN
from .._transforms.definitions import SqlTransform, input_name
from .._transforms.to_sql import compile_sql
from .entity_rows import ROW_ID, TIMESTAMP, TIMESTAMP_CEIL

if TYPE_CHECKING:
    from .._registry.resolve import FeatureRef
    from .._registry.views import FeatureView
    from .._transforms.bound import BoundTransform

__all__ = [
    "as_of_entities",
    "as_of_query",
    "point_in_time_query",
    "snapshot_query",
    "sync_rows_query",
    "valid_at",
    "view_table",
]

ENTITY_ALIAS = "fl_entity"


def valid_at(t: exp.Expr, *, table: str | None = None, where: Sequence[exp.Expr] = ()) -> exp.Expr:
    """``valid_from <= t and t < valid_to`` (after the ``where`` conditions): the whole point-in-time rule.

    Args:
        t: the instant: a column of the entity rows, or a placeholder.
        table: the feature table's alias in the query, if it has one.
        where: conditions that come first (the join keys).

    >>> valid_at(exp.Placeholder()).sql()
    '"valid_from" <= ? AND ? < "valid_to"'
    """
    return exp.and_(
        *where,
        exp.column("valid_from", table=table, quoted=True) <= t,
        t.copy() < exp.column("valid_to", table=table, quoted=True),
    )


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
    sub_micro: bool = False,
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
        sub_micro: the entity rows' instants have parts below a microsecond:
            ``__fl_ts`` holds them floored and ``__fl_ts_ceil`` ceiled, and each
            view with a ttl adds ``valid_from >= __fl_ts_ceil - ttl``. The
            tables' bounds are microseconds, so ``valid_from <= floor(t)`` and
            ``floor(t) < next event`` are exact, but the ttl bound ``t <= event
            + ttl`` needs the ceiling: one ``t < valid_to`` cannot say both.

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
            table, on = _known_at_time_join(entity, view, alias, sub_micro)
        else:
            table, on = view_table(view, alias), _interval_condition(view, alias, sub_micro)
        select = select.join(table, on=on, join_type="left")
    sources = {ref.output_name: exp.column(ref.feature.name, table=aliases[ref.view.name], quoted=True) for ref in refs}
    outputs = [sources[ref.output_name].copy().as_(ref.output_name, quoted=True) for ref in refs]
    for bound in transforms:
        if not isinstance(bound.transform, SqlTransform):
            continue

        def column(node: exp.Column, bound: BoundTransform = bound) -> exp.Expr:
            name = bound.inputs[input_name(node)]
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


def _interval_condition(view: FeatureView, alias: str, sub_micro: bool = False) -> exp.Expr:
    """Keys equal and the row valid at the entity row's timestamp (see ``sub_micro`` above)."""
    lookup = exp.column(TIMESTAMP, table=ENTITY_ALIAS, quoted=True)
    condition = valid_at(lookup, table=alias, where=_key_condition(view, alias))
    if sub_micro and view.ttl_seconds is not None:
        ceiled = exp.column(TIMESTAMP_CEIL, table=ENTITY_ALIAS, quoted=True)
        condition = exp.and_(condition, exp.column("valid_from", table=alias, quoted=True) >= _minus_ttl(ceiled, view))
    return condition


def _minus_ttl(instant: exp.Expr, view: FeatureView) -> exp.Expr:
    return exp.Sub(
        this=instant, expression=exp.Interval(this=exp.Literal.string(str(view.ttl_seconds)), unit=exp.var("SECOND"))
    )


def _known_at_time_join(
    entity: exp.Expr, view: FeatureView, alias: str, sub_micro: bool = False
) -> tuple[exp.Expr, exp.Expr]:
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
        bound = exp.column(TIMESTAMP_CEIL, table=inner_entity, quoted=True) if sub_micro else lookup.copy()
        conditions.append(event >= _minus_ttl(bound, view))
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


def sync_rows_query(
    view: FeatureView, now: dt.datetime, retained_since: dt.datetime, since: tuple[dt.datetime, dt.datetime] | None
) -> tuple[exp.Query, list[Any]]:
    """What a sync copies, and its bound values: each entity's latest row at ``now``, if its validity has
    not ended before ``retained_since`` (now less the online store's retention).

    That is the row valid at ``now``, or, where none is, the entity's last row
    before ``now`` when its ``valid_to`` lies within the retention (its ttl ran
    out and no later row started): online it reads as *expired* exactly as long
    as the store keeps it, whatever the history of syncs. A view without a ttl
    has no such rows (a row ends only where the next one starts).

    Args:
        since: for an incremental sync, the created watermark (less the
            look-back) and the last sync's instant: only rows that arrived, or
            became valid, since then. Views without a created timestamp take
            every row.
    """
    columns = [*view.join_keys, *(f.name for f in view.features), "valid_from", "valid_to"]
    if view.created_timestamp:
        columns.append(view.created_timestamp)
    columns = list(dict.fromkeys(columns))
    params: list[Any] = []

    def bound(value: Any) -> exp.Placeholder:  # a placeholder, its value appended in the order the SQL reads
        params.append(value)
        return exp.Placeholder()

    def select(*conditions: exp.Expr) -> exp.Select:
        if since is not None and view.created_timestamp:
            arrived = exp.column(view.created_timestamp, table="fl_r", quoted=True) > bound(since[0])
            began = exp.column("valid_from", table="fl_r", quoted=True) > bound(since[1])
            conditions = (*conditions, exp.paren(exp.or_(arrived, began)))
        return (
            exp.select(*(exp.column(c, table="fl_r", quoted=True) for c in columns))
            .from_(view_table(view, "fl_r"))
            .where(exp.and_(*conditions))
        )

    valid_from = exp.column("valid_from", table="fl_r", quoted=True)
    valid_to = exp.column("valid_to", table="fl_r", quoted=True)
    valid_now = select(valid_from <= bound(now), bound(now) < valid_to)
    if view.ttl_seconds is None:
        return valid_now, params

    # the entity's last row ended within the retention, and no later row started by now; the
    # first bound on the later row repeats what the last implies, and keeps the anti-join's
    # build side to the rows of the retention window
    def no_later_row() -> exp.Expr:
        later_start = exp.column("valid_from", table="fl_s", quoted=True)
        later = (
            exp.select(exp.Literal.number(1))
            .from_(view_table(view, "fl_s"))
            .where(
                exp.and_(
                    *_key_condition(view, "fl_s", "fl_r"),
                    later_start > bound(retained_since),
                    later_start.copy() <= bound(now),
                    later_start.copy() >= valid_to.copy(),
                )
            )
        )
        return exp.not_(exp.Exists(this=later))

    # (arguments are evaluated left to right: the values are bound in the order the SQL reads them)
    expired = select(
        valid_from.copy() < valid_to.copy(),
        valid_to.copy() > bound(retained_since),
        valid_to.copy() <= bound(now),
        no_later_row(),
    )
    return exp.union(valid_now, expired, distinct=False), params


def snapshot_query(view: FeatureView) -> exp.Select:
    """The version of the view's table: the greatest ``_fl_snapshot`` (NULL when it is empty)."""
    return exp.select(exp.func("max", exp.column(SNAPSHOT_COLUMN, quoted=True))).from_(view_table(view))


def as_of_query(view: FeatureView, key_names: Sequence[str]) -> exp.Select:
    """SELECT the view's row valid at ``?`` (t, bound twice) for entity keys bound as ``?`` after it."""
    columns = [*view.join_keys, *(f.name for f in view.features), "valid_from", "valid_to"]
    condition = valid_at(exp.Placeholder())
    for key in key_names:
        condition = exp.and_(condition, exp.column(key, quoted=True).eq(exp.Placeholder()))
    return exp.select(*(exp.column(c, quoted=True) for c in columns)).from_(view_table(view)).where(condition)


def as_of_entities(views: Sequence[FeatureView], keys: Sequence[str]) -> exp.Subquery:
    """Entity rows for "every entity at one instant": each key with a row valid at ``?`` in any of ``views``.

    The result has ``ROW_ID``, the ``keys`` (the request's names for each view's
    key columns) and ``TIMESTAMP``; its placeholders are the instant, then two
    per view (``1 + 2 * len(views)`` in all).
    """
    valid_keys: exp.Query | None = None
    for view in views:
        select = (
            exp.select(
                *(exp.column(c, quoted=True).as_(k, quoted=True) for c, k in zip(view.table_keys, keys, strict=True))
            )
            .from_(view_table(view))
            .where(valid_at(exp.Placeholder()))
        )
        valid_keys = select if valid_keys is None else exp.union(valid_keys, select, distinct=True)
    assert valid_keys is not None
    ordered = exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[exp.column(k, quoted=True) for k in keys]))
    entity = exp.select(
        exp.Sub(this=ordered, expression=exp.Literal.number(1)).as_(ROW_ID, quoted=True),
        *(exp.column(k, quoted=True) for k in keys),
        exp.cast(exp.Placeholder(), "TIMESTAMP").as_(TIMESTAMP, quoted=True),
    ).from_(valid_keys.subquery("fl_valid_keys"))
    return entity.subquery()
