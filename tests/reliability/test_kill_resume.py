"""Training killed with SIGKILL at any point resumes to the same weights; SIGINT saves and exits.

Each interrupted run is a forked child process (so torch is already imported) that kills itself
with SIGKILL at a chosen point: inside a step's forward pass, after backward but before the
optimiser, half-way through writing a checkpoint, or with a checkpoint fully written but not yet
renamed into place. The slow test adds kills at random wall-clock moments from the parent. After
every kill each ``*.ckpt`` in the run must load, and the chain of resumed runs must end with
exactly (bitwise, on the CPU) the weights of one uninterrupted run.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from training_helpers import assert_same_weights, tiny_config, weights

from sketchssl.atomic import atomic_write
from sketchssl.data.build import build_store
from sketchssl.train.checkpoint import read_checkpoint
from sketchssl.train.run import LAST_CHECKPOINT, train

FORK = multiprocessing.get_context("fork")


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:6:1"], path, workers=1, progress=False)
    return path


@pytest.fixture(scope="module")
def straight(doodle_store, tmp_path_factory):
    """The weights of one uninterrupted 12-step run, the reference of every resumed chain."""
    result = train(tiny_config(doodle_store, 12), tmp_path_factory.mktemp("straight") / "run")
    return weights(result.checkpoint)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillInStep(Callback):
    """SIGKILL inside step ``step``: in the forward pass, or after backward (``after_backward``)."""

    def __init__(self, step: int, after_backward: bool) -> None:
        self.step = step
        self.after_backward = after_backward

    def on_train_start(self, trainer, pl_module) -> None:
        if self.after_backward:
            return
        original = pl_module.method.loss

        def loss(batch):
            parts = original(batch)
            if trainer.training and trainer.global_step == self.step:
                _kill_self()
            return parts

        pl_module.method.loss = loss

    def on_before_optimizer_step(self, trainer, *args) -> None:
        if self.after_backward and trainer.global_step == self.step:
            _kill_self()


class Slow(Callback):
    """Sleeps after each step and marks the step reached, so a parent can signal mid-run."""

    def __init__(self, marker: Path, seconds: float) -> None:
        self.marker = marker
        self.seconds = seconds

    def on_train_batch_end(self, trainer, *args) -> None:
        self.marker.write_text(str(trainer.global_step))
        time.sleep(self.seconds)


def _kill_in_checkpoint_write(number: int, complete: bool) -> None:
    """SIGKILL during the ``number``-th checkpoint write of this process.

    ``complete=False``: half of the bytes are in the temporary file; ``complete=True``: all of
    them, flushed and fsynced, but the file is not yet renamed over its target.
    """
    import sketchssl.train.checkpoint as checkpoint_module

    original = checkpoint_module.atomic_torch_save
    count = 0

    def save(obj, path) -> None:
        nonlocal count
        count += 1
        if count != number:
            original(obj, path)
            return
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        data = buffer.getvalue()
        with atomic_write(path) as stream:
            stream.write(data if complete else data[: len(data) // 2])
            stream.flush()
            os.fsync(stream.fileno())
            _kill_self()

    checkpoint_module.atomic_torch_save = save


def _child(store: Path, run_dir: Path, steps: int, kill: tuple[str, int], extra: tuple) -> None:
    """One (possibly resumed) run that kills itself at ``kill``; runs in a forked process."""
    kind, at = kill
    callbacks: list[Callback] = []
    if kind in ("forward", "backward"):
        callbacks.append(KillInStep(at, after_backward=kind == "backward"))
    elif kind in ("write", "rename"):
        _kill_in_checkpoint_write(at, complete=kind == "rename")
    elif kind == "slow":
        callbacks.append(Slow(run_dir / "reached", at / 1000))
    resume = (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("*.ckpt"))
    result = train(
        tiny_config(store, steps, *extra), run_dir, resume=resume, extra_callbacks=callbacks
    )
    (run_dir / "result").write_text(f"{result.global_step} {int(result.stopped_early)}")


def _run_child(store, run_dir, steps, kill, extra=(), timer: float | None = None) -> int:
    """Run :func:`_child` in a fork; SIGKILL it from here after ``timer`` seconds if given."""
    process = FORK.Process(target=_child, args=(store, run_dir, steps, kill, extra))
    process.start()
    process.join(timer)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    return process.exitcode


def _check_every_checkpoint_loads(run_dir: Path) -> list[int]:
    steps = []
    for path in sorted((run_dir / "checkpoints").glob("*.ckpt")):
        steps.append(int(read_checkpoint(path)["global_step"]))  # raises if unreadable
    return steps


def test_sigkill_at_each_kind_of_point_then_resume_is_exact(doodle_store, straight, tmp_path):
    run = tmp_path / "killed"
    # Checkpoints every 4 steps; each is written twice (step file, then last.ckpt).
    plan = [
        ("forward", 6),  # mid-step, with step 4 checkpointed: resumes from 4
        ("write", 1),  # half of step0000008.ckpt written: resumes from 4 again
        ("rename", 2),  # step 8 saved, last.ckpt (step 8) written but not renamed
        ("backward", 10),  # after backward, before the optimiser: resumes from step 8
    ]
    for kind, at in plan:
        assert _run_child(doodle_store, run, 12, (kind, at)) == -signal.SIGKILL, kind
        assert _check_every_checkpoint_loads(run), kind  # every *.ckpt loads
        assert not (run / "result").exists()
        leftovers = list((run / "checkpoints").glob(".*.ckpt.*.tmp"))
        assert len(leftovers) == (kind in ("write", "rename"))  # removed by the next resume
    resumed = train(tiny_config(doodle_store, 12), run, resume=True)
    assert resumed.global_step == 12
    assert_same_weights(weights(resumed.checkpoint), straight)


def test_kill_between_step_checkpoint_and_last_resumes_from_the_newer(
    doodle_store, straight, tmp_path
):
    run = tmp_path / "run"
    # Write 2 is last.ckpt at step 4, killed before its rename: only step0000004.ckpt exists.
    assert _run_child(doodle_store, run, 12, ("rename", 2)) == -signal.SIGKILL
    names = sorted(p.name for p in (run / "checkpoints").glob("*.ckpt"))
    assert names == ["step0000004.ckpt"]
    resumed = train(tiny_config(doodle_store, 12), run, resume=True)
    assert resumed.global_step == 12
    assert_same_weights(weights(resumed.checkpoint), straight)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_save_and_exit_cleanly(doodle_store, straight, tmp_path, signum):
    run = tmp_path / "run"
    process = FORK.Process(
        target=_child, args=(doodle_store, run, 12, ("slow", 300), ())
    )  # 0.3 s per step
    process.start()
    deadline = time.monotonic() + 120
    while not (run / "reached").exists() or int((run / "reached").read_text() or 0) < 2:
        assert process.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signum)
    process.join(120)
    assert process.exitcode == 0  # finished the step, saved, returned normally
    step, stopped = map(int, (run / "result").read_text().split())
    assert stopped == 1 and 2 <= step < 12
    assert read_checkpoint(run / "checkpoints" / LAST_CHECKPOINT)["global_step"] == step
    resumed = train(tiny_config(doodle_store, 12), run, resume=True)
    assert_same_weights(weights(resumed.checkpoint), straight)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_many_random_sigkills_resume_exactly(doodle_store, tmp_path):
    """Random kill points and random wall-clock kills, many chains; counts go to RELIABILITY.md."""
    steps, extra = 12, ("trainer.checkpoint_every_n_steps=2",)
    straight = weights(train(tiny_config(doodle_store, steps, *extra), tmp_path / "s").checkpoint)
    began = time.perf_counter()  # one whole run in a child: the span of the random kills
    assert _run_child(doodle_store, tmp_path / "timing", steps, ("none", 0), extra) == 0
    span = 1.2 * (time.perf_counter() - began)
    rng = random.Random(20260522)
    kills = {"forward": 0, "backward": 0, "write": 0, "rename": 0, "timer": 0}
    chains, started = 0, time.perf_counter()
    while chains < 200 and time.perf_counter() - started < 1500:
        run = tmp_path / f"chain{chains}"
        for _ in range(3):
            kind = rng.choice(sorted(kills))
            if kind == "timer":
                code = _run_child(
                    doodle_store, run, steps, ("none", 0), extra, rng.uniform(0, span)
                )
            else:
                point = rng.randint(1, 12) if kind in ("forward", "backward") else rng.randint(1, 7)
                code = _run_child(doodle_store, run, steps, (kind, point), extra)
            if code == -signal.SIGKILL:
                kills[kind] += 1
                if (run / "checkpoints").is_dir():
                    _check_every_checkpoint_loads(run)
            if (run / "result").exists():
                break
        if not (run / "result").exists():
            assert _run_child(doodle_store, run, steps, ("none", 0), extra) == 0
        assert_same_weights(weights(run / "checkpoints" / LAST_CHECKPOINT), straight)
        chains += 1
    print(
        f"KILL/RESUME: {chains} chains, {sum(kills.values())} SIGKILLs {kills} in "
        f"{time.perf_counter() - started:.0f} s (span {span:.1f} s); every chain bitwise equal"
    )
    assert chains >= 10
