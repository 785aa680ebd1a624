"""The write rule with pushed rows, in both stores, against a plain-Python reference of docs/online-store.md.

Random sequences of pushes (snapshot -(pushed at)), syncs (a snapshot, rows,
and for a full sync its removal pass) go to a real Redis and the embedded
SQLite store; after every step each key's stored (snapshot, event), or its
tombstone, must be what the reference says. The reference is written from the
docs' sentences, not from the stores' code:

- a push replaces a stored row when its event is >= the stored event (pushed
  or synced alike, a tombstone included);
- a synced row replaces a pushed row when its event is newer, or as new and
  its build (snapshot) started at or after the push, or when its snapshot is
  >= the push's time plus the landing window;
- between synced rows, (snapshot, event) >= the stored row's wins, and a
  refused row of the same snapshot still counts as seen;
- a removal pass turns unseen synced rows into tombstones, and pushed rows
  only once its snapshot is >= their push time plus the landing window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from featurelayer._online.base import WriteBatch
from featurelayer._online.codec import TOMBSTONE_EVENT, decode_row, encode_values
from featurelayer._online.connect import open_online_store

from .support.online import online_url

__all__ = ["online_url"]  # fixtures used here

pytestmark = pytest.mark.slow

KEYS = [f"fl:p:{{[{i}]}}:v:t" for i in range(3)]
LANDING = 100


@dataclass
class Stored:
    snapshot: int
    event: int
    seen: int
    tomb: bool = False


def reference_write(state: dict[str, Stored], snapshot: int, now: int, rows: dict[str, int]) -> None:
    for key, event in rows.items():
        cur = state.get(key)
        if cur is None:
            state[key] = Stored(snapshot, event, now)
            continue
        cur_event = TOMBSTONE_EVENT if cur.tomb else cur.event
        if snapshot < 0:  # a push
            wins = event >= cur_event
        elif cur.snapshot < 0 and not cur.tomb:  # a sync against a pushed row: the build caught up, or is late
            pushed_at = -cur.snapshot
            caught_up = event > cur_event or (event == cur_event and snapshot >= pushed_at)
            wins = caught_up or snapshot >= pushed_at + LANDING
        else:  # between synced rows (and tombstones, which removal passes of syncs leave)
            wins = (snapshot, event) >= (cur.snapshot, cur_event)
            if not wins and snapshot == cur.snapshot:
                cur.seen = max(cur.seen, now)
        if wins:
            seen = max(now, cur.seen) if snapshot >= 0 and snapshot == cur.snapshot else now
            state[key] = Stored(snapshot, event, seen)


def reference_remove(state: dict[str, Stored], snapshot: int, now: int) -> None:
    for key, cur in state.items():
        if cur.tomb:
            continue
        pushed = cur.snapshot < 0
        unseen = snapshot >= -cur.snapshot + LANDING if pushed else (cur.snapshot, cur.seen) < (snapshot, now)
        if unseen:
            state[key] = Stored(snapshot, TOMBSTONE_EVENT, now, tomb=True)


# steps: time moves on by 0-60 µs; then a push at that time, or a sync (full or not) of a build snapshot
# taken 0-300 µs before (the landing window is 100: both sides of it occur), each with rows for some keys
events = st.integers(0, 20)
rows = st.dictionaries(st.sampled_from(KEYS), events, min_size=1, max_size=3)
steps = st.lists(
    st.tuples(
        st.integers(0, 60),
        st.one_of(
            st.tuples(st.just("push"), st.just(0), rows),
            st.tuples(st.just("sync"), st.integers(0, 300), rows),
            st.tuples(st.just("full"), st.integers(0, 300), st.dictionaries(st.sampled_from(KEYS), events, max_size=3)),
        ),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
# the edges, always run: a sync of the pushed event from a build before the push (the push stays) and from
# one after it (the sync wins); a build exactly a landing window after the push; a push of the stored event
@example(steps=[(0, ("push", 0, {KEYS[0]: 5})), (0, ("full", 1, {KEYS[0]: 5})), (1, ("sync", 0, {KEYS[0]: 5}))])
@example(steps=[(0, ("push", 0, {KEYS[0]: 5})), (LANDING, ("full", 0, {KEYS[0]: 3}))])
@example(steps=[(0, ("push", 0, {KEYS[0]: 5})), (LANDING, ("full", 1, {KEYS[0]: 3}))])
@example(steps=[(0, ("sync", 0, {KEYS[0]: 5})), (1, ("push", 0, {KEYS[0]: 5}))])
def test_pushes_and_syncs_follow_the_rule(
    online_url: str, steps: list[tuple[int, tuple[str, int, dict[str, int]]]]
) -> None:
    store = open_online_store(online_url, default_path=None)  # type: ignore[arg-type]
    try:
        _clear(store)
        state: dict[str, Stored] = {}
        clock = 1_000
        for advance, (kind, lag, batch_rows) in steps:
            clock += advance
            now = clock
            snapshot = -now if kind == "push" else now - lag
            if batch_rows:
                batch = _batch(batch_rows)
                store.write(batch, snapshot, now, landing_us=LANDING)
                reference_write(state, snapshot, now, batch_rows)
            if kind == "full":
                store.remove_unseen("p", "v", snapshot, now, landing_us=LANDING)
                reference_remove(state, snapshot, now)
            assert _stored(store) == {k: _view(s) for k, s in state.items()}, (kind, lag, batch_rows)
    finally:
        _clear(store)
        store.close()


def _batch(rows: dict[str, int]) -> WriteBatch:
    keys = list(rows)
    events = [rows[k] for k in keys]
    return WriteBatch("v", keys, events, [-1] * len(keys), [encode_values([e]) for e in events], 1)


def _view(stored: Stored) -> tuple[Any, ...]:
    return ("tombstone", stored.snapshot) if stored.tomb else (stored.snapshot, stored.event)


def _stored(store: Any) -> dict[str, tuple[Any, ...]]:
    out = {}
    for key, raw in zip(KEYS, store.read(KEYS), strict=True):
        if raw is None:
            continue
        row = decode_row(raw)
        out[key] = ("tombstone", row.snapshot) if row.event == TOMBSTONE_EVENT else (row.snapshot, row.event)
    return out


def _clear(store: Any) -> None:
    if hasattr(store, "client"):
        store.client.flushdb()
    else:
        connection = store._connect()
        connection.execute("delete from online_rows_v2")
