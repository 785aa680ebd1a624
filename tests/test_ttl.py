"""ttl strings: the Python parser, and its agreement with the dbt macro."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurelayer import DbtRunError, ValidationError, find_project, parse_ttl
from featurelayer._dbt.runner import run_dbt

VALID = {
    "30d": 2_592_000,
    "12h": 43_200,
    "1d12h": 129_600,
    "90m": 5_400,
    "3600s": 3_600,
    "2w": 1_209_600,
    "1w2d3h4m5s": 788_645,
    " 7D ": 604_800,
}
INVALID = ["30 days", "1h1d", "d", "-5", "abc", "1.5h", "45", "3600"]


@pytest.mark.parametrize(("text", "seconds"), VALID.items())
def test_parses_units(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


def test_zero_and_nothing_mean_no_ttl_as_in_feast() -> None:
    for none in (None, "", 0, "0", 0.0, "0s", "0d"):
        assert parse_ttl(none) is None, none


@pytest.mark.parametrize("text", [*INVALID, 30, 86_400, -1, 2.5, True])
def test_rejects_bad_ttls_with_a_fix(text: object) -> None:
    with pytest.raises(ValidationError, match="ttl"):
        parse_ttl(text)  # type: ignore[arg-type]


def test_a_bare_number_asks_for_a_unit() -> None:
    with pytest.raises(ValidationError, match=r"ttl 30 has no unit: write it with one, e.g. '30s', '30m'"):
        parse_ttl(30)


@pytest.mark.slow
def test_the_dbt_macro_parses_the_same_grammar(project_copy: Path) -> None:
    """Registry and warehouse must agree on every ttl: compile the macro through dbt."""
    project = find_project(project_copy)
    texts = list(VALID)
    inline = "select " + ", ".join(f"{{{{ feature_layer._parse_ttl('{t}') }}}} as c{i}" for i, t in enumerate(texts))
    result = run_dbt(project, ["compile", "--inline", inline])
    assert result.success
    compiled = _compiled_sql(project_copy)
    values = [int(part.split(" as ")[0]) for part in compiled.removeprefix("select ").split(", ")]
    assert values == [parse_ttl(t) for t in texts]

    for none in ("0", "0s"):  # no ttl, as in Feast: the macro returns none
        run_dbt(project, ["compile", "--inline", f"select '{{{{ feature_layer._parse_ttl('{none}') }}}}' as t"])
        assert _compiled_sql(project_copy) == "select 'None' as t"
    for bad in ("30 days", "45"):
        with pytest.raises(DbtRunError, match="ttl"):
            run_dbt(project, ["compile", "--inline", f"select {{{{ feature_layer._parse_ttl('{bad}') }}}}"])


def _compiled_sql(project_dir: Path) -> str:
    import json

    results = json.loads((project_dir / "dbt_project" / "target" / "run_results.json").read_text())
    return str(results["results"][0]["compiled_code"]).strip()
