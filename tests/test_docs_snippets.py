"""Every Python snippet in README.md and docs/ runs, in order, against the demo project.

The demo project is the example built from raw data ending today (what `make
demo` makes), so dates relative to now find values. The snippets of one file
share one namespace, as a reader pasting them one after the other would; a
file whose snippets continue an example started elsewhere gets that example's
names first (``CONTEXT``).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from .support.projects import REPO, copy_example_project

pytestmark = pytest.mark.slow

DOCS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
#: names a file's snippets use without defining them: the README's training example
CONTEXT = """
import pandas as pd
from featurelayer import FeatureStore
store = FeatureStore(".")
now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("h")
entity_df = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [now, now], "cart_value": [35.5, 180.0]})
"""


def _snippets(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


FILES = [name for name in DOCS if _snippets(REPO / name)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from featurelayer import find_project
    from featurelayer._dbt.runner import run_dbt
    from featurelayer._example.data import generate_example_data

    root = copy_example_project(tmp_path_factory.mktemp("demo"))
    generate_example_data(root / "data" / "raw", users=200, days=60, end=dt.date.today())
    run_dbt(find_project(root), ["build"])
    return root


@pytest.mark.parametrize("name", FILES)
def test_the_snippets_run(name: str, demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippets = _snippets(REPO / name)
    monkeypatch.chdir(demo)
    monkeypatch.delenv("FEATURELAYER_REDIS_URL", raising=False)  # the embedded store, as the quickstart
    namespace: dict[str, object] = {}
    if name != "README.md":
        exec(compile(CONTEXT, "<context>", "exec"), namespace)
    for i, code in enumerate(snippets):
        try:
            exec(compile(code, f"{name} snippet {i + 1}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"{name} snippet {i + 1} failed: {type(exc).__name__}: {exc}\n{code}")


def test_the_readme_training_example_finds_values(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its dates lie inside the demo data, so the features are not all null."""
    monkeypatch.chdir(demo)
    namespace: dict[str, object] = {}
    exec(compile(_snippets(REPO / "README.md")[0], "README.md snippet 1", "exec"), namespace)
    frame = namespace["job"].to_pandas()  # type: ignore[attr-defined]
    assert frame["plan"].notna().all() and frame["daily_transactions"].notna().any()
