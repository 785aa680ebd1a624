"""What every measurement process shares: peak memory, percentiles, one JSON result line.

Standard library only: the Feast runner imports it from Feast's own virtual
environment, where none of featurelayer's dependencies are installed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

RESULT_MARK = "BENCH-RESULT "


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), interpreter and libraries included.

    Not getrusage's ru_maxrss: Linux carries it across exec, so a child
    started from a parent that generated the data would report the parent's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


def latency(call: Callable[[Any], object], requests: list[Any], warmup: int) -> dict[str, float]:
    """p50/p95/p99 in ms of ``call(request)`` over ``requests``, after ``warmup`` unmeasured calls."""
    for request in requests[:warmup]:
        call(request)
    samples = []
    for request in requests:
        start = time.perf_counter()
        call(request)
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def emit(result: dict[str, Any]) -> None:
    """The one line the harness reads back from a measurement process; peak memory added."""
    result.setdefault("peak_mb", peak_rss_mb())
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
