"""SQL-expression transforms: the offline SQL and the online pyarrow function agree exactly."""

from __future__ import annotations

import math

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from featurelayer import DefinitionError, ValidationError
from featurelayer._transforms.definitions import on_demand_transform, parse_sql_transform
from featurelayer._transforms.to_arrow import compile_arrow
from featurelayer._transforms.to_python import compile_rows, plain_type
from featurelayer._transforms.to_sql import compile_sql

EXPRESSIONS = {
    "double": [
        "a * 0.5 + x * 0.3",
        "a / b",
        "x / a + 1",
        "case when a > 2 then x when b is null then -1 else 0.25 end",
        "coalesce(x, a, 7)",
        "abs(x - 2.5)",
        "-x * a",
        "if(a > b, x, b)",
        "(a + 1) / (x - 2.5)",
        "cast(a as double) * 2 - b",
        "a / (b / x)",  # a division inside a division: the inner one is NULL on a zero divisor too
        "(a / b) / x",
    ],
    "integer": [
        "cast(x as integer)",
        "cast(x * 3 as bigint)",
        "coalesce(a, b, 7)",
        "a - b * 2",
        "cast(a / b as integer)",  # below an integer cast, columns are mapped and divisions guarded
        "cast(x * 0.5 + b as bigint)",
    ],
    "boolean": [
        "flag and x > 1",
        "not flag or a = b",
        "a is not null and b <> 0",
        "x >= 2.5 or a is null",
        "cast(a as boolean)",
        "not (a > b)",
        "abs(-a) >= x",
    ],
}
CASES = [(kind, expression) for kind, expressions in EXPRESSIONS.items() for expression in expressions]

ints = st.one_of(st.none(), st.sampled_from([0, 1, 2, 3, -1]), st.integers(-1000, 1000))
floats = st.one_of(
    st.none(),
    st.sampled_from([0.0, 0.5, -0.5, 2.5, -2.5, 1e-9]),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
rows = st.lists(st.tuples(ints, ints, floats, st.one_of(st.none(), st.booleans())), min_size=1, max_size=40)


def _offline(expression: str, kind: str, table: pa.Table) -> pa.Array:
    """The compiled SQL, run by DuckDB over the same rows.

    The table's columns are renamed as the point-in-time query renames them, so a
    column reference the compiler failed to map fails here.
    """
    output = parse_sql_transform("t", {"outputs": {"out": {"type": kind, "expression": expression}}}).outputs[0]
    compiled = compile_sql(output, lambda column: exp.column(f"in_{column.name}", table="input", quoted=True))
    query = exp.select(compiled.as_("out")).from_(exp.to_table("input"))
    with duckdb.connect() as connection:
        connection.register("input", table.rename_columns([f"in_{name}" for name in table.column_names]))
        return connection.sql(query.sql("duckdb")).to_arrow_table().column("out").combine_chunks()


def _online(expression: str, kind: str, table: pa.Table, backend: str = "arrow") -> pa.Array:
    """The online function: pyarrow.compute, or compiled Python over the columns' values."""
    transform = parse_sql_transform("t", {"outputs": {"out": {"type": kind, "expression": expression}}})
    output = transform.outputs[0]
    if backend == "arrow":
        return compile_arrow(output)(table)
    function = compile_rows(output, transform.inputs, "t")
    assert function is not None, "every case here is one the Python backend covers"
    return pa.array(function([table.column(name).to_pylist() for name in transform.inputs]), output.arrow_type)


@pytest.mark.parametrize("backend", ["arrow", "python"])
@pytest.mark.parametrize(("kind", "expression"), CASES)
@given(data=rows)
def test_offline_sql_and_online_agree(kind: str, expression: str, backend: str, data: list[tuple]) -> None:  # type: ignore[type-arg]
    table = pa.table(
        {
            "a": pa.array([r[0] for r in data], pa.int64()),
            "b": pa.array([r[1] for r in data], pa.int32()),
            "x": pa.array([r[2] for r in data], pa.float64()),
            "flag": pa.array([r[3] for r in data], pa.bool_()),
        }
    )
    offline = _offline(expression, kind, table)
    online = _online(expression, kind, table, backend)
    assert online.type == offline.type
    for i, (want, got) in enumerate(zip(offline.to_pylist(), online.to_pylist(), strict=True)):
        if isinstance(want, float) and isinstance(got, float):
            assert want == got or (math.isnan(want) and math.isnan(got)), (i, data[i], want, got)
        else:
            assert want == got, (i, data[i], want, got)


@pytest.mark.parametrize("backend", ["arrow", "python"])
def test_pinned_semantics(backend: str) -> None:
    table = pa.table(
        {
            "a": pa.array([1, 3, None], pa.int64()),
            "b": pa.array([0, 2, 1], pa.int32()),
            "x": pa.array([2.5, -2.5, 0.5]),
            "flag": pa.array([True, None, False]),
        }
    )
    assert _online("a / b", "double", table, backend).to_pylist() == [None, 1.5, None]  # float division, x/0 is NULL
    assert _online("cast(x as integer)", "integer", table, backend).to_pylist() == [3, -3, 1]  # half away from zero
    assert _online("a * 0.3", "double", table, backend).to_pylist() == [0.3, 3 * 0.3, None]  # literals are doubles
    assert _online("flag or a > 2", "boolean", table, backend).to_pylist() == [True, True, None]  # three-valued


def test_python_backend_leaves_single_precision_to_arrow() -> None:
    """Python computes in double precision; float32 results go through Arrow, as warehouses compute them."""
    for kind, expression in [("float", "a * 0.5"), ("double", "cast(x as float) * 2")]:
        transform = parse_sql_transform("t", {"outputs": {"out": {"type": kind, "expression": expression}}})
        assert compile_rows(transform.outputs[0], transform.inputs, "t") is None
    assert not plain_type(pa.float32())
    assert plain_type(pa.int32()) and plain_type(pa.float64()) and plain_type(pa.string())


def test_python_backend_names_the_transform_on_bad_values() -> None:
    spec = {"outputs": {"out": {"type": "integer", "expression": "cast(a as integer)"}}}
    transform = parse_sql_transform("score", spec)
    function = compile_rows(transform.outputs[0], transform.inputs, "score")
    assert function is not None
    with pytest.raises(ValidationError, match="Transform 'score' output 'out': cannot cast 'seven' to an integer"):
        function([["seven"]])


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("upper(label)", "UPPER"),
        ("(select 1)", "SELECT"),
        ("cast(x as varchar)", "cast to boolean, an integer type or double"),
        ("a +", "does not parse"),
        ("sum(a)", "SUM"),
        ("try_cast(x as integer)", "TRYCAST"),  # NULL on failure, where CAST fails: not the pinned semantics
    ],
)
def test_unsupported_sql_fails_when_loaded(expression: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        parse_sql_transform("t", {"outputs": {"out": {"type": "double", "expression": expression}}})


def test_bad_declarations() -> None:
    with pytest.raises(DefinitionError, match="needs `outputs"):
        parse_sql_transform("t", {"expression": "a"})
    with pytest.raises(DefinitionError, match="needs `type:` and `expression:`"):
        parse_sql_transform("t", {"outputs": {"out": {"expression": "a"}}})
    with pytest.raises(DefinitionError, match="mode must be"):
        on_demand_transform(inputs=["a"], outputs={"b": "double"}, mode="polars")


def test_python_transform_output_is_checked() -> None:
    from featurelayer._transforms.definitions import _DECLARED

    @on_demand_transform(inputs=["a"], outputs={"doubled": "double"}, name="t_good")
    def good(table: pa.Table) -> dict[str, object]:
        return {"doubled": [None if v is None else v * 2 for v in table["a"].to_pylist()]}

    @on_demand_transform(inputs=["a"], outputs={"doubled": "double"}, name="t_bad", mode="pandas")
    def bad(frame):  # type: ignore[no-untyped-def]
        return frame.rename(columns={"a": "wrong"})

    good_t, bad_t = _DECLARED.pop("t_good"), _DECLARED.pop("t_bad")
    table = pa.table({"a": pa.array([1, None, 3], pa.int64())})
    result = good_t.apply(table)
    assert result.schema.field("doubled").type == pa.float64()
    assert result.column("doubled").to_pylist() == [2.0, None, 6.0]
    with pytest.raises(
        ValidationError, match=r"Transform 't_bad' returned columns \['wrong'\].*declares \['doubled'\]"
    ):
        bad_t.apply(table)


@pytest.mark.parametrize(
    ("expression", "kind", "values", "expected"),
    [
        ("cast(s as integer) + 1", "integer", ["42", None], [43, None]),
        ("cast(s as double) * 2", "double", ["1.5", "-2"], [3.0, -4.0]),
        ("a * 2 + 1", "integer", [1, None], [3, None]),  # no cast: the Python backend
    ],
)
def test_online_transforms_of_request_data_match_duckdb(
    expression: str, kind: str, values: list[object], expected: list[object]
) -> None:
    """Request data arrives as Python values; a CAST of strings parses them as the warehouse does."""
    from featurelayer._online.online_transforms import apply_online_transforms
    from featurelayer._online.response import OnlineResponse
    from featurelayer._registry.resolve import ResolvedRequest
    from featurelayer._transforms.bound import BoundTransform

    transform = parse_sql_transform("t", {"outputs": {"out": {"type": kind, "expression": expression}}})
    [name] = transform.inputs
    request = ResolvedRequest([], [BoundTransform(transform, {name: name}, {"out": "out"})], {})
    response = OnlineResponse({name: values}, {}, {})
    online = apply_online_transforms(request, response).to_dict()["out"]
    offline = _offline(expression, kind, pa.table({name: pa.array(values)})).to_pylist()
    assert online == offline == expected


@pytest.mark.parametrize("compiler", ["to_sql", "to_arrow", "to_python"])
def test_every_compiler_has_an_entry_for_every_node_of_the_grammar(compiler: str) -> None:
    """A node added to the grammar must be given its meaning in each compiler, not fall through."""
    import importlib

    from sqlglot import exp

    from featurelayer._transforms.definitions import GRAMMAR

    table = importlib.import_module(f"featurelayer._transforms.{compiler}").TRANSFORMS
    inside_other_nodes = {exp.Identifier, exp.DataType}  # (only ever parts of a column or a cast)
    assert set(GRAMMAR) - inside_other_nodes <= set(table), set(GRAMMAR) - inside_other_nodes - set(table)
