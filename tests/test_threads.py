"""Thread choice: explicit counts, 'auto' from the free cores, and bad values."""

from __future__ import annotations

import pytest

from sketchssl import threads


def test_explicit_counts_are_used_as_given() -> None:
    assert threads.choose_threads(3) == 3
    assert threads.choose_threads("2") == 2


@pytest.mark.parametrize("value", [0, -1, "many", "1.5", 2.5])
def test_bad_counts_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="positive integer or 'auto'"):
        threads.choose_threads(value)  # type: ignore[arg-type]


def test_auto_takes_the_free_cores_minus_the_reserve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(threads.THREADS_VARIABLE, raising=False)
    monkeypatch.setattr(threads, "free_cores", lambda sample_seconds=0.3: 2.0)
    assert threads.choose_threads("auto") == 2
    assert threads.choose_threads(None, reserve=1) == 1
    monkeypatch.setattr(threads, "free_cores", lambda sample_seconds=0.3: 1.3)
    assert threads.choose_threads("auto") == 1  # rounded down, at least 1
    assert threads.choose_threads("auto", reserve=1) == 1


def test_free_cores_subtracts_what_other_processes_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 cores; in the sample 400 jiffies passed (100 a core), 250 of them busy: 2.5 cores busy,
    # of which this process used 0.5 core-seconds over a 1-second interval (100 ticks / s)
    samples = iter([(1000.0, 4000.0), (1250.0, 4400.0)])
    monkeypatch.setattr(threads, "_busy_and_total", lambda: next(samples))
    monkeypatch.setattr(threads, "allowed_cores", lambda: 4)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(threads.os, "sysconf", lambda name: 100)
    clock = iter([10.0, 10.5])
    monkeypatch.setattr(threads.time, "process_time", lambda: next(clock))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    # others: 2.5 - 0.5 = 2 cores busy -> 2 free
    assert threads.free_cores() == pytest.approx(2.0)


def test_free_cores_on_this_machine_is_within_the_allowed_cores() -> None:
    free = threads.free_cores(sample_seconds=0.05)
    assert 1.0 <= free <= threads.allowed_cores()


def test_the_environment_fixes_what_auto_means(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.THREADS_VARIABLE, "3")
    assert threads.choose_threads("auto") == 3
    assert threads.choose_threads(2) == 2  # an explicit number still wins
    monkeypatch.setenv(threads.THREADS_VARIABLE, "lots")
    with pytest.raises(ValueError, match="'lots'"):
        threads.choose_threads("auto")
