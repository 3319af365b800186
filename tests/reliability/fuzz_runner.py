"""Run a reader target over hypothesis-generated inputs and count them (for docs/RELIABILITY.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings


def fuzz(target: Callable[[Any], object], strategy: Any, examples: int, label: str) -> int:
    """Feed ``examples`` inputs drawn from ``strategy`` to ``target``; return how many ran.

    No deadline (the machine may be loaded) and no example database (nothing is written to the
    working tree). A target that raises anything fails the test with the shrunk input.
    """
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(data: Any) -> None:
        nonlocal count
        count += 1
        target(data)

    started = time.perf_counter()
    run()
    print(f"FUZZ {label}: {count} inputs in {time.perf_counter() - started:.1f} s")
    return count
