"""Prometheus metrics of a feature server, with prometheus_client.

Per endpoint and status: a latency histogram, whose ``_count`` is the request
count (``featurelayer_request_seconds_count``). Online-store
errors. Per feature view: the seconds since its last completed sync (read from
the store's sync state when scraped, so every worker reports the same) and
the newest event timestamp this server has served from it.

With several workers, uvicorn runs each in its own process; prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, which ``featurelayer serve``
sets) sums their files, so a scrape that reaches any worker sees them all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """A worker's metrics. ``observe`` is on every request's path: label children are cached."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        disable_created_metrics()  # type: ignore[no-untyped-call]  # (the *_created series double the scrape and say when a worker started)
        # (in multiprocess mode the values go to files, whatever registry holds them)
        self.registry = CollectorRegistry(auto_describe=True)
        # (its _count series is the request count by endpoint and status: no second metric to keep in step)
        self.latency = Histogram(
            "featurelayer_request_seconds", "Request latency in seconds, by endpoint and status.",
            ["endpoint", "status"], buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.store_errors = Counter(
            "featurelayer_online_store_errors", "Requests that failed because the online store did.",
            registry=self.registry,
        )  # fmt: skip
        self.newest_event = Gauge(
            "featurelayer_view_newest_event_served_timestamp_seconds",
            "Per feature view, the newest event timestamp among the values served.",
            ["view"], multiprocess_mode="max", registry=self.registry,
        )  # fmt: skip
        self.reload_failed = Gauge(
            "featurelayer_registry_reload_failed",
            "1 while a changed manifest does not load and the previous registry is served.",
            multiprocess_mode="max", registry=self.registry,
        )  # fmt: skip
        self._children: dict[tuple[str, int], Any] = {}
        self._newest: dict[str, int] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        child = self._children.get((endpoint, status))
        if child is None:
            child = self._children[endpoint, status] = self.latency.labels(endpoint, str(status))
        child.observe(seconds)

    def served(self, view: str, newest_event_us: int) -> None:
        """Notes the newest event (µs) among the values just served from ``view``."""
        if newest_event_us > self._newest.get(view, -(2**63)):
            self._newest[view] = newest_event_us
            self.newest_event.labels(view).set(newest_event_us / 1e6)

    def exposition(self, sync_states: Mapping[str, Mapping[str, str]], now: float | None = None) -> bytes:
        """The Prometheus text of this server, with each view's sync age from ``sync_states`` (its meta)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        fresh = CollectorRegistry()
        fresh.register(_SyncAges(sync_states, time.time() if now is None else now))
        return generate_latest(registry) + generate_latest(fresh)


class _SyncAges(Collector):
    def __init__(self, states: Mapping[str, Mapping[str, str]], now: float) -> None:
        self.states, self.now = states, now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily(
            "featurelayer_view_seconds_since_sync",
            "Per feature view, seconds since the online store's last completed sync of it (absent: never synced).",
            labels=["view"],
        )
        rows = GaugeMetricFamily(
            "featurelayer_view_online_rows",
            "Per feature view, the rows its last full sync left online.",
            labels=["view"],
        )
        for view, meta in sorted(self.states.items()):
            synced = int(meta.get("synced_at", "0") or 0)
            if synced > 0:
                age.add_metric([view], max(0.0, self.now - synced / 1e6))
            if meta.get("rows"):
                rows.add_metric([view], float(meta["rows"]))
        yield age
        yield rows
