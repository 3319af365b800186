"""The up-front time estimate of a bench run, each line with the measurement it rests on.

Training takes the budget (it is capped). Everything else is extrapolated from what the
calibration just measured on this machine, with these inputs:

* per method, seconds per sketch of the evaluation data path (data view + ``embed``), from the
  calibration's speed measurement on real batches of the store;
* the wall time of the protocol (kNN, linear probe, retrieval) on random embeddings as wide as
  the widest method's, with the real gallery and query labels (random features give the probe
  nothing to converge to, so it runs its full iteration budget: an upper bound), and that of
  the pixel baseline (1024-d) for the seeds after the first;
* the wall time of the pixel baseline's embedding map (same number of points as every map);
* per healing method, seconds per decoding step of ``generate`` on a real batch, times the
  method's longest sketch: an upper bound, since trained decoders usually end sooner.

A margin is added on top. The report prints the estimate beside the measured phase times.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "FIGURE_SECONDS",
    "RENDER_SECONDS",
    "Estimate",
    "EstimateLine",
    "MethodCost",
    "estimate_bench",
]

#: Assumed seconds per rendered sketch for the judge (aggdraw at 64 px: about 0.1 ms measured,
#: with Python overhead; a tenfold allowance).
RENDER_SECONDS = 0.001
#: Assumed seconds for the figures that are not maps (training curves, grids) and the reports.
FIGURE_SECONDS = 5.0
#: Assumed fixed seconds per evaluated run besides the measured parts: loading the checkpoint,
#: building the random-init model, writing its reports.
RUN_SECONDS = 2.0
#: Seconds per embedding-map point when no map was timed (t-SNE, measured on 2 loaded cores:
#: 960 points in 16 s).
MAP_SECONDS_PER_POINT = 0.017
HEAL_BATCH = 64


@dataclass(frozen=True)
class MethodCost:
    """What the calibration measured for one method.

    Attributes:
        name: method name.
        sketch_seconds: seconds per sketch of the data view plus ``embed``.
        trained_runs: training runs of the method (its seeds).
        decode_step_seconds: seconds per ``generate`` step on a batch (healing methods).
        max_decode_steps: the most points the method generates per sketch.
        dataset_seconds: seconds to open a split's dataset (paid by every evaluation).
    """

    name: str
    sketch_seconds: float
    trained_runs: int
    decode_step_seconds: float | None = None
    max_decode_steps: int = 250
    dataset_seconds: float = 0.0


@dataclass(frozen=True)
class EstimateLine:
    """One phase of the estimate: seconds and what they rest on."""

    phase: str
    seconds: float
    basis: str


@dataclass
class Estimate:
    """The phases and their total, plus the margin."""

    lines: list[EstimateLine] = field(default_factory=list)
    margin: float = 0.15

    @property
    def subtotal_seconds(self) -> float:
        """Sum of the phases."""
        return sum(line.seconds for line in self.lines)

    @property
    def total_seconds(self) -> float:
        """Sum of the phases plus the margin."""
        return self.subtotal_seconds * (1.0 + self.margin)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the JSON report."""
        return {
            "lines": [asdict(line) for line in self.lines],
            "margin": self.margin,
            "total_seconds": self.total_seconds,
        }

    def format(self) -> str:
        """The terminal table, one line per phase, then the total."""
        width = max([len(line.phase) for line in self.lines] + [5])
        rows = [
            f"  {line.phase:<{width}}  {line.seconds:8.0f} s  {line.basis}" for line in self.lines
        ]
        rows.append(
            f"  {'total':<{width}}  {self.total_seconds:8.0f} s  "
            f"(= {self.total_seconds / 60:.1f} min: the phases + {self.margin:.0%} margin)"
        )
        return "\n".join(rows)


def estimate_bench(
    *,
    calibration_seconds: float,
    budget_seconds: float,
    training_runs: int,
    costs: list[MethodCost],
    representation: bool,
    healing: bool,
    gallery: int,
    queries: int,
    seeds: int,
    protocol_seconds: float,
    pixel_seconds: float,
    map_seconds: float | None,
    heal_sketches: int,
    heal_masks: tuple[float, ...],
    judge: bool,
) -> Estimate:
    """Estimate the whole run from the calibration's measurements (see the module docstring).

    Args:
        calibration_seconds: wall time already spent (calibration, speed suite, pixel seed 0).
        budget_seconds: the training budget.
        training_runs: runs sharing it (judge included).
        costs: per selected method, what calibration measured.
        representation: the representation suite runs.
        healing: the healing suite runs.
        gallery: gallery sketches embedded per evaluation.
        queries: query sketches per evaluation.
        seeds: seeds per method.
        protocol_seconds: measured wall time of the kNN / probe / retrieval protocol on random
            embeddings as wide as the widest method's, with the real gallery and query labels
            (0 when the store has one class: no protocol).
        pixel_seconds: measured wall time of the pixel baseline's protocol (1024-d), paid again
            for every other seed.
        map_seconds: measured wall time of one embedding map (None: not measured).
        heal_sketches: sketches per healing evaluation (at most ``queries``).
        heal_masks: its masking rates.
        judge: a judge is trained (Rec is computed).
    """
    estimate = Estimate()
    estimate.lines.append(
        EstimateLine("calibration", calibration_seconds, "measured (speed suite, pixels seed 0)")
    )
    if training_runs:
        estimate.lines.append(
            EstimateLine(
                "training",
                budget_seconds,
                f"the budget, split over {training_runs} runs (start-up included)",
            )
        )
    if representation:
        embed = 0.0
        for cost in costs:
            # trained + random-init: embed gallery and queries, then the objective on queries;
            # the gallery and query datasets are opened, the checkpoint loaded
            per_run = cost.sketch_seconds * (2 * (gallery + queries) + 4 * queries)
            per_run += 2 * cost.dataset_seconds + RUN_SECONDS
            embed += cost.trained_runs * per_run
        protocol = 2 * protocol_seconds * sum(cost.trained_runs for cost in costs)
        map_each = map_seconds if map_seconds is not None else 5.0 + MAP_SECONDS_PER_POINT * queries
        maps = map_each * sum(1 for cost in costs if cost.trained_runs)
        pixels = pixel_seconds * max(seeds - 1, 0)
        estimate.lines.append(
            EstimateLine(
                "representation",
                embed + protocol + maps + pixels,
                f"{embed:.0f} s embedding {gallery}+{queries} sketches twice (measured s/sketch"
                f" per method, + {RUN_SECONDS:.0f} s a run); {protocol:.0f} s kNN / probe / "
                f"retrieval at {protocol_seconds:.1f} s per model (measured on random "
                f"embeddings of the widest method's size); {maps:.0f} s maps at "
                f"{map_each:.1f} s each ({'measured' if map_seconds is not None else 'assumed'})"
                f"; {pixels:.0f} s pixel baseline for the other seeds",
            )
        )
    if healing:
        seconds = 0.0
        healers = [cost for cost in costs if cost.decode_step_seconds is not None]
        heal_sketches = min(heal_sketches, queries)
        batches = math.ceil(heal_sketches / HEAL_BATCH)
        for cost in healers:
            decode = cost.decode_step_seconds * cost.max_decode_steps  # one batch, worst case
            per_run = len(heal_masks) * batches * decode + cost.dataset_seconds + RUN_SECONDS
            per_run += heal_sketches * (1 + 2 * len(heal_masks)) * cost.sketch_seconds
            if judge:
                per_run += heal_sketches * (1 + 2 * len(heal_masks)) * RENDER_SECONDS
            seconds += cost.trained_runs * per_run + 2 * decode  # + figures of seed 0
        estimate.lines.append(
            EstimateLine(
                "healing",
                seconds,
                f"{len(healers)} methods: {heal_sketches} sketches x {len(heal_masks)} mask "
                "rates, decoding at the measured s/step for the longest sketch (an upper bound)",
            )
        )
    estimate.lines.append(
        EstimateLine(
            "figures",
            FIGURE_SECONDS + 1.0 * len(costs),
            f"assumed {FIGURE_SECONDS:.0f} s + 1 s per method (curves, grids, HTML)",
        )
    )
    return estimate
