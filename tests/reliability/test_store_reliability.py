"""Store builds killed at any point, many concurrent readers, and a full disk.

A build that dies must leave the old store (whole) or no store, never a half one; the next build
cleans up what it left. Kill points are forced inside a forked build process (while reading,
while writing the arrays, with everything written but not installed, in the middle of the folder
swap, between the two renames of the fallback swap); the slow test adds SIGKILLs at random
moments. Readers: DataLoader workers and separate processes read every sketch at once, also while
the store is being rebuilt; a full disk is simulated with RLIMIT_FSIZE.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sketchssl.data import build, folder_swap
from sketchssl.data.build import build_store
from sketchssl.data.store import SketchStore, pending_build_folders
from sketchssl.errors import StoreError

FORK = multiprocessing.get_context("fork")
OLD_SOURCES = ["doodles:3:1"]
NEW_SOURCES = ["doodles:4:2", "doodles:2:3"]


def digest(path: Path) -> str:
    """sha256 over every sketch, label and split of a store (the store as readers see it)."""
    store = SketchStore.open(path, verify=True)  # checksums too: no half-written array
    hasher = hashlib.sha256()
    for index in range(len(store)):
        hasher.update(store[index].tobytes())
    hasher.update(np.asarray(store.labels).tobytes() + np.asarray(store.splits).tobytes())
    return hasher.hexdigest()


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    folder = tmp_path_factory.mktemp("references")
    build_store(OLD_SOURCES, folder / "old.store", workers=1, progress=False)
    build_store(NEW_SOURCES, folder / "new.store", workers=1, progress=False)
    return {"old": digest(folder / "old.store"), "new": digest(folder / "new.store")}


def _kill_self(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def _on_call(module, name: str, number: int) -> None:
    """Make the ``number``-th call of ``module.name`` kill the process instead."""
    original = getattr(module, name)
    count = 0

    def wrapper(*args, **kwargs):
        nonlocal count
        count += 1
        if count == number:
            _kill_self()
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


def _build_child(out: Path, point: str) -> None:
    """Build NEW_SOURCES over ``out``, killed at ``point``; runs in a forked process."""
    if point == "reading":
        _on_call(build, "_read_source", 2)
    elif point == "arrays":
        _on_call(build, "_save_array", 3)
    elif point == "before-install":
        _on_call(build, "fsync_path", 1)
    elif point == "mid-swap":  # folders exchanged, the old one not yet deleted
        _on_call(folder_swap.shutil, "rmtree", 1)
    elif point == "between-renames":  # the fallback without renameat2: old moved aside
        folder_swap._exchange = lambda first, second: False
        _on_call(folder_swap.os, "replace", 2)
    build_store(NEW_SOURCES, out, workers=1, overwrite=True, progress=False)
    os._exit(0)


def _run_build(out: Path, point: str, timer: float | None = None) -> int:
    process = FORK.Process(target=_build_child, args=(out, point))
    process.start()
    process.join(timer)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    return process.exitcode


def _state_after_kill(out: Path, references: dict[str, str]) -> str:
    """'old', 'new' or 'none' (a clear StoreError); anything else fails the test."""
    try:
        seen = digest(out)
    except StoreError as error:
        assert "in progress" in str(error) or "no such store" in str(error), error
        return "none"
    assert seen in (references["old"], references["new"]), "a half store is visible"
    return "old" if seen == references["old"] else "new"


POINTS = ["reading", "arrays", "before-install", "mid-swap", "between-renames"]


@pytest.mark.parametrize(
    ("point", "existing"),
    [(point, True) for point in POINTS] + [(point, False) for point in POINTS[:3]],
)
def test_build_killed_at_each_point(tmp_path, references, point, existing):
    out = tmp_path / "doodles.store"
    if existing:
        build_store(OLD_SOURCES, out, workers=1, progress=False)
    assert _run_build(out, point) == -signal.SIGKILL
    state = _state_after_kill(out, references)
    if point == "mid-swap":
        assert state == "new"  # renameat2 swapped the folders in one step
    elif point == "between-renames":
        assert state == "none"  # the only gap, repaired by the next build (below)
    else:
        assert state == ("old" if existing else "none")
    assert pending_build_folders(out)  # hidden leftovers, never under the store's name
    if point == "between-renames" and existing:
        # The next build first puts the old store back, then replaces it as asked.
        with pytest.raises(StoreError, match="already exists"):
            build_store(NEW_SOURCES, out, workers=1, progress=False)
        assert digest(out) == references["old"]
    build_store(NEW_SOURCES, out, workers=1, overwrite=True, progress=False)
    assert digest(out) == references["new"]
    assert not pending_build_folders(out)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_builds_killed_at_random_moments(tmp_path, references):
    rng = random.Random(7)
    out = tmp_path / "doodles.store"
    build_store(OLD_SOURCES, out, workers=1, progress=False)
    # Kill moments spread over one build's duration (measured here: the machine may be busy).
    began = time.perf_counter()
    assert _run_build(tmp_path / "timing.store", "none") == 0
    span = 1.3 * (time.perf_counter() - began)
    started, outcomes = time.perf_counter(), {"old": 0, "new": 0, "none": 0, "finished": 0}
    rounds = 0
    while rounds < 300 and time.perf_counter() - started < 1200:
        round_, rounds = rounds, rounds + 1
        # Alternate the fallback swap in, so both install paths are hit at random moments.
        point = "fallback-swap" if round_ % 2 else "none"
        if point == "fallback-swap":
            code = _run_build_fallback(out, rng.uniform(0.0, span))
        else:
            code = _run_build(out, point, rng.uniform(0.0, span))
        if code == 0:
            outcomes["finished"] += 1
            assert digest(out) == references["new"]
        else:
            outcomes[_state_after_kill(out, references)] += 1
        # Back to the old store for the next round (the build also cleans up leftovers).
        build_store(OLD_SOURCES, out, workers=1, overwrite=True, progress=False)
        assert not pending_build_folders(out)
    elapsed = time.perf_counter() - started
    print(f"BUILD KILLS: {rounds} rounds {outcomes} in {elapsed:.0f} s (span {span:.2f} s)")
    assert outcomes["old"] + outcomes["new"] + outcomes["none"] >= 20


def _fallback_child(out: Path) -> None:
    folder_swap._exchange = lambda first, second: False
    build_store(NEW_SOURCES, out, workers=1, overwrite=True, progress=False)
    os._exit(0)


def _run_build_fallback(out: Path, timer: float) -> int:
    process = FORK.Process(target=_fallback_child, args=(out,))
    process.start()
    process.join(timer)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    return process.exitcode


# ----------------------------------------------------------------------------- many readers

READER = """
import hashlib, sys, numpy as np
from sketchssl.data.store import SketchStore
store = SketchStore.open(sys.argv[1], verify=True)
hasher = hashlib.sha256()
for index in range(len(store)):
    hasher.update(store[index].tobytes())
hasher.update(np.asarray(store.labels).tobytes() + np.asarray(store.splits).tobytes())
print(hasher.hexdigest())
"""


class _Items:
    """A torch Dataset over a store: (index, sketch bytes digest) per item."""

    def __init__(self, store: SketchStore) -> None:
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, index: int):
        return index, hashlib.sha256(self.store[index].tobytes()).hexdigest()


def _as_list(items):
    return items


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 4 workers on 2 cores
def test_many_workers_and_processes_read_the_same_store(tmp_path, references):
    from torch.utils.data import DataLoader

    out = tmp_path / "doodles.store"
    build_store(NEW_SOURCES, out, workers=1, progress=False)
    store = SketchStore.open(out)
    expected = {i: hashlib.sha256(store[i].tobytes()).hexdigest() for i in range(len(store))}
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(out)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    # Workers forked from a process whose store already has its maps open, and a store that
    # travels pickled (path and manifest only) and is opened by each worker itself.
    for dataset in (_Items(store), _Items(pickle.loads(pickle.dumps(SketchStore.open(out))))):
        loader = DataLoader(dataset, batch_size=5, shuffle=True, num_workers=4, collate_fn=_as_list)
        for _epoch in range(2):
            seen = {index: value for batch in loader for index, value in batch}
            assert seen == expected
    outputs = [reader.communicate(timeout=300)[0].strip() for reader in readers]
    assert outputs == [references["new"]] * 3
    assert all(reader.returncode == 0 for reader in readers)


def test_readers_during_rebuilds_see_one_whole_store_or_a_clear_error(tmp_path, references):
    out = tmp_path / "doodles.store"
    build_store(OLD_SOURCES, out, workers=1, progress=False)
    # Each reader opens and hashes the store again and again, printing one line per pass.
    script = (
        "import hashlib, sys, time, numpy as np\n"
        "from sketchssl.data.store import SketchStore\n"
        "from sketchssl.errors import StoreError\n"
        "end = time.time() + float(sys.argv[2])\n"
        "while time.time() < end:\n"
        "    try:\n"
        "        store = SketchStore.open(sys.argv[1])\n"
        "        hasher = hashlib.sha256()\n"
        "        for index in range(len(store)):\n"
        "            hasher.update(store[index].tobytes())\n"
        "        hasher.update(np.asarray(store.labels).tobytes()"
        " + np.asarray(store.splits).tobytes())\n"
        "        print(hasher.hexdigest(), flush=True)\n"
        "    except StoreError as error:\n"
        "        print('StoreError', str(error).replace(chr(10), ' '), flush=True)\n"
    )
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(out), "4"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    first = [reader.stdout.readline().strip() for reader in readers]  # both are reading now
    for these in [NEW_SOURCES, OLD_SOURCES] * 3:
        build_store(these, out, workers=1, overwrite=True, progress=False)
    lines = first + [
        line for reader in readers for line in reader.communicate(timeout=300)[0].split("\n")
    ]
    hashes = [line for line in lines if line and not line.startswith("StoreError")]
    errors = [line for line in lines if line.startswith("StoreError")]
    assert hashes and set(hashes) <= {references["old"], references["new"]}
    unexpected = [e for e in errors if "rebuilt while in use" not in e and "in progress" not in e]
    assert not unexpected, unexpected


def test_a_worker_opening_a_store_rebuilt_since_refuses_to_mix_them(tmp_path):
    out = tmp_path / "doodles.store"
    build_store(OLD_SOURCES, out, workers=1, progress=False)
    store = SketchStore.open(out)
    shipped = pickle.dumps(store)  # what a DataLoader worker receives: path and manifest
    build_store(NEW_SOURCES, out, workers=1, overwrite=True, progress=False)
    worker_copy = pickle.loads(shipped)
    with pytest.raises(StoreError, match="rebuilt while in use"):
        worker_copy[0]
    assert len(store[0]) > 0  # the process that kept its maps still reads the old store


# ----------------------------------------------------------------------------- full disk

DISK_FULL = """
import resource, signal, sys
from sketchssl.data.build import build_store
from sketchssl.errors import StoreError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
try:
    build_store(sys.argv[1].split(","), sys.argv[2], workers=int(sys.argv[4]), overwrite=True,
                progress=False)
except StoreError as error:
    print(error)
    sys.exit(3)
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_full_disk_while_replacing_keeps_the_old_store(tmp_path, references, workers):
    out = tmp_path / "doodles.store"
    build_store(OLD_SOURCES, out, workers=1, progress=False)
    sources = ",".join(NEW_SOURCES)
    result = subprocess.run(
        [sys.executable, "-c", DISK_FULL, sources, str(out), "3000", str(workers)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    assert "disk is full" in result.stdout and "Nothing was left behind" in result.stdout
    assert digest(out) == references["old"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["doodles.store"]
