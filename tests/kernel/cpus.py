"""Pinning the test's own thread to a CPU, for tests of per-CPU rings and maps."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def on_cpu(cpu: int) -> Iterator[None]:
    """Run the block pinned to one CPU (so perf events share one per-CPU ring)."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)
