"""How fresh a feature view is, in the warehouse and online: what ``featurelayer describe`` shows.

Warehouse: the rows of the view's table and its newest event timestamp.
Online: the last completed sync (the sync's own record in the store, so it is
the same whoever asks), the rows it left online, and how long ago it ran.
Either side that cannot be read says why instead of failing the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from ._errors import FeatureLayerError
from ._offline.queries import view_table
from ._time import from_micros

if TYPE_CHECKING:
    from ._registry.views import FeatureView
    from ._store import FeatureStore

__all__ = ["Freshness", "view_freshness"]


@dataclass(frozen=True)
class Freshness:
    rows: int | None = None
    newest_event: dt.datetime | None = None
    warehouse_error: str | None = None
    last_sync: dt.datetime | None = None
    online_rows: int | None = None
    online_error: str | None = None

    def lines(self, now: dt.datetime) -> list[str]:
        """The block ``describe`` prints."""
        if self.warehouse_error:
            warehouse = f"cannot be read: {self.warehouse_error}"
        else:
            newest = (
                "-"
                if self.newest_event is None
                else f"{self.newest_event:%Y-%m-%d %H:%M:%S} ({_ago(now, self.newest_event)})"
            )
            warehouse = f"{self.rows:,} rows, newest event {newest}"
        if self.online_error:
            online = f"cannot be read: {self.online_error}"
        elif self.last_sync is None:
            online = "never synced (featurelayer sync)"
        else:
            rows = "" if self.online_rows is None else f", {self.online_rows:,} rows online"
            online = f"last sync {self.last_sync:%Y-%m-%d %H:%M:%S} UTC ({_ago(now, self.last_sync)}){rows}"
        return [f"  warehouse:          {warehouse}", f"  online:             {online}"]


def view_freshness(store: FeatureStore, view: FeatureView) -> Freshness:
    """The view's freshness on both sides (see the module docstring)."""
    warehouse: dict[str, object] = {}
    try:
        query = exp.select(
            exp.Count(this=exp.Star()).as_("row_count"),
            exp.Max(this=exp.column(view.timestamp, quoted=True)).as_("newest"),
        ).from_(view_table(view))
        row = store.offline_store.to_arrow(query).to_pylist()[0]
        warehouse = {"rows": int(row["row_count"]), "newest_event": row["newest"]}
    except FeatureLayerError as exc:
        warehouse = {"warehouse_error": str(exc).splitlines()[0]}
    online: dict[str, object] = {}
    try:
        meta = store.online_store.get_meta(store.registry.project_name, view.stored_name)
        synced = int(meta.get("synced_at", "0") or 0)
        online = {
            "last_sync": from_micros(synced) if synced > 0 else None,
            "online_rows": int(meta["rows"]) if meta.get("rows") else None,
        }
    except FeatureLayerError as exc:
        online = {"online_error": str(exc).splitlines()[0]}
    return Freshness(**warehouse, **online)  # type: ignore[arg-type]


def _ago(now: dt.datetime, then: dt.datetime) -> str:
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"
