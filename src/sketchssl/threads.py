"""How many intra-op threads torch should use: the cores this process can actually have.

torch's CPU build parallelises each operator with OpenMP over ``torch.get_num_threads()``
threads, by default one per core. Every parallel region ends in a barrier: the threads that
finished wait for the slowest one. When another process keeps one of the cores busy, one of our
threads shares that core and runs only when the scheduler gives it a slice (milliseconds), and
every other thread of every operator waits for it at the barrier. A small model runs thousands
of small operators a second, so the whole run slows down by far more than the share of the
machine that was taken (measured: ``benchmarks/load_bench.py``; docs/BENCHMARKS.md).

Choosing the thread count from the cores that are free avoids that: :func:`free_cores` reads
the kernel's CPU counters (``/proc/stat``) twice, a fraction of a second apart, and subtracts
what every other process used in between; :func:`choose_threads` turns the answer (or the
user's explicit number) into a thread count. ``auto`` is the default of ``sketchssl train``
(``trainer.threads``) and ``sketchssl eval`` (``--threads``); a number overrides it, and so does
the environment variable ``SKETCHSSL_THREADS``.
"""

from __future__ import annotations

import math
import os
import time

__all__ = ["THREADS_VARIABLE", "allowed_cores", "choose_threads", "free_cores", "resolve_threads"]

#: An environment variable that fixes what ``auto`` means (a number), e.g. for a test suite.
THREADS_VARIABLE = "SKETCHSSL_THREADS"


def allowed_cores() -> int:
    """Cores this process may run on (its CPU affinity; the CPU count where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _busy_and_total() -> tuple[float, float] | None:
    """Busy and total jiffies of all CPUs from ``/proc/stat`` (None where it is not readable)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(value) for value in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (no guest: in user)
    return total - idle, total


def free_cores(sample_seconds: float = 0.3) -> float:
    """Cores not used by other processes during a short sample (at least 1).

    Reads the machine's busy time twice, ``sample_seconds`` apart, and this process's own CPU
    time over the same interval; what other processes used is the difference. On a system
    without ``/proc/stat`` every allowed core counts as free.
    """
    allowed = allowed_cores()
    first = _busy_and_total()
    if first is None or sample_seconds <= 0:
        return float(allowed)
    own_start = time.process_time()
    time.sleep(sample_seconds)
    second = _busy_and_total()
    own = time.process_time() - own_start
    if second is None or second[1] <= first[1]:
        return float(allowed)
    cores = os.cpu_count() or allowed
    elapsed = (second[1] - first[1]) / cores  # jiffies a core had in the interval
    ticks_per_second = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy_cores = (second[0] - first[0]) / elapsed  # cores busy on average, ours included
    own_cores = own / max(elapsed / ticks_per_second, 1e-9)
    others = max(0.0, busy_cores - own_cores)
    return max(1.0, min(float(allowed), cores - others))


def choose_threads(requested: int | str | None = "auto", *, reserve: float = 0.0) -> int:
    """The intra-op thread count to use.

    Args:
        requested: a positive number (used as given), ``"auto"`` / None (the environment's
            ``SKETCHSSL_THREADS`` if set, else the free cores, :func:`free_cores`, minus
            ``reserve``, rounded down, at least 1).
        reserve: cores to leave to this run's own helper processes (DataLoader workers that
            render images keep a core busy).

    Raises:
        ValueError: ``requested`` is neither a positive integer nor ``"auto"``.
    """
    if requested is None or requested == "auto":
        configured = os.environ.get(THREADS_VARIABLE, "").strip()
        if configured and configured != "auto":
            return choose_threads(configured)
        return max(1, math.floor(free_cores() - reserve + 1e-6))
    try:
        count = int(requested)
    except (TypeError, ValueError):
        raise ValueError(
            f"threads must be a positive integer or 'auto', got {requested!r}"
        ) from None
    if count < 1 or str(count) != str(requested).strip():
        raise ValueError(f"threads must be a positive integer or 'auto', got {requested!r}")
    return count


def resolve_threads(requested: int | str | None = "auto", *, reserve: float = 0.0) -> int:
    """:func:`choose_threads`, then ``torch.set_num_threads``; returns the count set."""
    import torch

    count = choose_threads(requested, reserve=reserve)
    torch.set_num_threads(count)
    return count
