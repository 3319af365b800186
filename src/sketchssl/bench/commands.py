"""The command lines that repeat one bench run by hand, recorded in the report.

Each bench run is a ``sketchssl train`` with the bench's overrides (its seed, its time cap, the
device), then ``sketchssl eval`` and, for methods that heal, one ``sketchssl heal`` per mask
rate, with the same settings the bench used. A time cap stops at a step that depends on the
machine; the step a run reached is in the report's training table.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

__all__ = ["eval_command", "heal_commands", "train_command"]


def train_command(
    method: str, preset: str | None, store: Path, run_dir: Path, overrides: Sequence[str]
) -> str:
    """``sketchssl train`` of one run (no ``--preset``: the config dataclass defaults).

    Examples:
        >>> train_command("sketch_rnn", "tiny", Path("/d.store"), Path("/r"), ["trainer.seed=1"])
        'sketchssl train sketch_rnn --preset tiny --data /d.store --out /r trainer.seed=1'
    """
    words = ["sketchssl", "train", method]
    words += ["--preset", preset] if preset else []
    words += ["--data", str(store), "--out", str(run_dir), *overrides]
    return shlex.join(words)


def eval_command(
    checkpoint: Path,
    store: Path,
    out: Path,
    *,
    seed: int,
    device: str,
    gallery: int | None,
    plot: Path | None,
) -> str:
    """``sketchssl eval`` with the random-init baseline, as the representation suite runs it."""
    words = ["sketchssl", "eval", str(checkpoint), "--data", str(store), "--out", str(out)]
    words += ["--baseline", "random-init", "--seed", str(seed), "--device", device]
    if gallery is not None:
        words += ["--max-gallery", str(gallery)]
    if plot is not None:
        words += ["--plot", str(plot)]
    return shlex.join(words)


def heal_commands(
    checkpoint: Path,
    store: Path,
    run_dir: Path,
    *,
    masks: Sequence[float],
    sketches: int,
    seed: int,
    judge: Path | None,
) -> list[str]:
    """One ``sketchssl heal --report`` per mask rate above 0 (each also reports mask 0)."""
    commands = []
    for rate in masks:
        if rate <= 0:
            continue
        words = ["sketchssl", "heal", str(checkpoint), "--data", str(store)]
        words += ["--report", str(run_dir / f"heal_{rate:g}"), "--mask", f"{rate:g}"]
        words += ["--limit", str(sketches), "--seed", str(seed)]
        if judge is not None:
            words += ["--judge", str(judge)]
        commands.append(shlex.join(words))
    return commands
