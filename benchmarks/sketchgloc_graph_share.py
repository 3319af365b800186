"""Share of a SketchGloc training step spent building its grid graphs.

SketchGloc (Wang et al., IJCAI 2024) builds its graphs inside the step, from the batch: strokes
are cut out of the stroke-5 sequence, their bounding boxes taken, and the 9 grid-graph
relations of every stroke pair computed (:mod:`sketchssl.nn.grid_graph`). ``train_bench.py``
times the data view and the whole step; this script times the graph-building functions inside
the training steps of :func:`sketchssl.bench.speed.measure_speed` (forward graph building only;
the functions hold no parameters, so they add nothing to the backward pass).

Usage::

    python benchmarks/sketchgloc_graph_share.py --data /tmp/sheep.store [--steps 10]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import sketchssl.methods.sketchgloc as sketchgloc_module
from sketchssl.bench.speed import measure_speed
from sketchssl.data.store import SketchStore
from sketchssl.methods import build_method
from sketchssl.train.config import load_run_config

GRAPH_FUNCTIONS = (
    "split_strokes",
    "bounding_boxes",
    "grid_relations",
    "to_slots",
    "stroke_ids",
    "stroke5_positions",
)


class GraphTimer:
    """Seconds spent in the graph-building functions while ``active``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.active = False

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return function(*args, **kwargs)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, type=Path, help="a SketchStore")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    store = SketchStore.open(args.data)
    config = load_run_config("sketchgloc", args.preset, [f"data.store={store.path}"])
    torch.manual_seed(0)
    model = build_method("sketchgloc", vars(config.model))
    timer = GraphTimer()
    for name in GRAPH_FUNCTIONS:
        setattr(sketchgloc_module, name, timer.wrap(getattr(sketchgloc_module, name)))
    loss = model.loss
    calls = {"steps": 0}

    def timed_loss(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # count only the measured training steps (measure_speed runs the warm-up ones first)
        calls["steps"] += 1
        timer.active = calls["steps"] > args.warmup
        try:
            return loss(batch)
        finally:
            timer.active = False

    model.loss = timed_loss  # type: ignore[method-assign]
    row = measure_speed(
        config, store, steps=args.steps, warmup=args.warmup, model=model, count_flops=False
    ).to_dict()
    step_seconds = row["train_seconds_per_step"]
    graph_seconds = timer.seconds / args.steps
    result = {
        "preset": args.preset,
        "store": str(store.path),
        "steps": args.steps,
        "train_seconds_per_step": step_seconds,
        "graph_seconds_per_step": graph_seconds,
        "graph_share": graph_seconds / step_seconds,
    }
    print(
        f"sketchgloc {args.preset}: step {step_seconds:.3f} s, of which graph building "
        f"{graph_seconds:.4f} s ({100 * result['graph_share']:.1f} %)"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
