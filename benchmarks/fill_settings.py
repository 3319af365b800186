"""Choose ``sketchssl heal --fill-radius`` on the valid split: one healing, several fills scored.

Usage::

    python benchmarks/fill_settings.py CKPT STORE JUDGE [--radii 0.05,0.1,0.15,0.2,0.3]
        [--mask 0.3] [--split valid] [--orders gaps,drawn,kept_first]
        [--joins 0,1.5] [--out sweep.json] [--temperature 0.24] [--greedy] [--code mean|sample]
        [--sources redraw,continue] [--continue-thresholds 0.5,0.7] [--continue-temperature 0.1]
        [--continue-bounds none,0,0.1] [--corruption canvas|points]

The healer heals the split once (the mask table and sampling of ``sketchssl heal``, seed 0);
the corrupted inputs are then filled from its drawings at each radius, order and join
(:func:`sketchssl.eval.fill.fill_erased`) and every variant is scored like a row of the healing
report: Rec (the judge) and Ret@1 (re-encoded, generated to original). Printed as a Markdown
table beside the no-healing and redrawn rows; pick the radius on this split, report the test
split once with ``sketchssl heal ... --keep-input --fill-radius R``. ``--temperature`` and
``--greedy`` are ``sketchssl heal``'s sampler options, and ``--code`` its ``--decode-mean`` /
``--sample-code``, so the sampler and the code are chosen here too. ``--sources continue``
also fills from the healer's decoder drawing on where the kept strokes were cut
(``sketchssl heal --fill-source continue``, :mod:`sketchssl.eval.continuation`), drawn once per
``--continue-thresholds`` and ``--continue-bounds`` value. ``--corruption`` is ``sketchssl
heal``'s: with ``points`` a patch method reads the point-deleted drawing on the original's
canvas, its kept-input fills are read on that canvas, and the row "no healing, re-encoded
unmasked" reads the corrupted drawing there too.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl.data.store import SketchStore
from sketchssl.eval.continuation import ContinueConfig
from sketchssl.eval.fill import FillConfig, fill_erased
from sketchssl.eval.healing import (
    CORRUPTIONS,
    SketchCodec,
    continue_corrupted,
    corrupt_inputs_placed,
    encode_sketches,
    fill_from_continuations,
    generate_sketches,
    recognition_accuracy,
    retrieval_accuracy,
)
from sketchssl.methods.checkpoint import load_method
from sketchssl.pretrained import load_model
from sketchssl.render.patch_view import mask_row
from sketchssl.render.patches import make_mask_table

RET = "ret_g2o_acc@1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a drawing method's *.ckpt or a shipped healer")
    parser.add_argument("store", type=Path)
    parser.add_argument("judge", type=Path, help="a sketch_a_net *.ckpt")
    parser.add_argument("--radii", default="0.05,0.1,0.15,0.2,0.3")
    parser.add_argument("--orders", default="gaps")
    parser.add_argument("--joins", default="0", help="sketchssl heal --fill-join values")
    parser.add_argument("--mask", type=float, default=0.3)
    parser.add_argument("--split", default="valid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.24, help="as sketchssl heal")
    parser.add_argument("--greedy", action="store_true", help="most likely point at each step")
    parser.add_argument(
        "--code",
        choices=("mean", "sample"),
        help="draw from mu or a sampled code (default: the method's own, as sketchssl heal)",
    )
    parser.add_argument(
        "--sources", default="redraw", help="sketchssl heal --fill-source values (redraw,continue)"
    )
    parser.add_argument(
        "--continue-thresholds", default="0.5", help="sketchssl heal --continue-threshold values"
    )
    parser.add_argument("--continue-temperature", type=float, default=0.1, help="as sketchssl heal")
    parser.add_argument(
        "--continue-bounds",
        default="none",
        help="sketchssl heal --continue-bound values ('none': unbounded), e.g. none,0,0.1",
    )
    parser.add_argument("--corruption", choices=CORRUPTIONS, default="canvas", help="as heal")
    parser.add_argument("--out", type=Path, help="also write the scores as JSON")
    args = parser.parse_args(argv)

    method, run_config = load_model(args.checkpoint)
    method.eval()
    judge, judge_config = load_method(args.judge, expect="sketch_a_net")
    judge_data = judge_config.get("data", {})
    store = SketchStore.open(args.store)
    codec = SketchCodec.for_method(method, run_config, store, args.split)
    codec.corruption = args.corruption
    on_input_canvas = codec.input_kind == "patches" and args.corruption == "points"
    indices = codec.dataset.indices
    sketches = [codec.dataset.prepare(store[int(index)]) for index in indices]
    labels = np.asarray([store.label(int(index)) for index in indices])
    table = make_mask_table(len(sketches), codec.patch_config.max_patches, args.seed)
    uniforms = [mask_row(table, position) for position in range(len(sketches))]
    originals = encode_sketches(codec, sketches)

    # each corrupted drawing, and its place in its original
    corrupted, origins = corrupt_inputs_placed(sketches, uniforms, args.mask, codec.patch_config)

    def score(
        drawings: list[np.ndarray], starts: list[np.ndarray] | None = None
    ) -> tuple[float, float]:
        """Rec and Ret@1; with ``starts`` read on the originals' canvases (``on_input_canvas``)."""
        rec = recognition_accuracy(judge, judge_data, drawings, labels)
        place = {"canvas_of": sketches, "starts": starts} if on_input_canvas else {}
        return rec, retrieval_accuracy(originals, encode_sketches(codec, drawings, **place))[RET]

    reference = encode_sketches(codec, sketches, uniforms=uniforms, mask_prob=args.mask)
    scores = {
        "no healing": (
            recognition_accuracy(judge, judge_data, corrupted, labels),
            retrieval_accuracy(originals, reference)[RET],
        )
    }
    if on_input_canvas:
        scores["no healing, re-encoded unmasked"] = score(corrupted, origins)
    drawn = generate_sketches(
        codec,
        sketches,
        uniforms=uniforms,
        mask_prob=args.mask,
        temperature=args.temperature,
        greedy=args.greedy,
        seed=args.seed,
        decode_mean=None if args.code is None else args.code == "mean",
    )
    scores["redrawn"] = score(drawn)
    orders = args.orders.split(",")
    joins = [float(value) for value in args.joins.split(",")]
    radii = [float(value) for value in args.radii.split(",")]
    sources = args.sources.split(",")
    # each fill source: its row label and how it fills the corrupted inputs at a FillConfig,
    # each result with its first point's place in its corrupted input
    fillers: dict[str, Callable[[FillConfig], list[tuple[np.ndarray, np.ndarray]]]] = {}
    if "redraw" in sources:
        fillers[""] = lambda config: [
            fill_erased(kept, new, config, with_start=True)
            for kept, new in zip(corrupted, drawn, strict=True)
        ]
    if "continue" in sources:
        thresholds = [float(value) for value in args.continue_thresholds.split(",")]
        bounds = [
            None if value == "none" else float(value) for value in args.continue_bounds.split(",")
        ]
        for threshold, bound in itertools.product(thresholds, bounds):
            settings = ContinueConfig(threshold, args.continue_temperature, bound=bound)
            # the continuations do not depend on the radius, order or join: drawn once
            drawings = continue_corrupted(
                codec, sketches, corrupted, uniforms, args.mask, settings, seed=args.seed
            )
            bounded = "" if bound is None else f", bound {bound:g}"
            fillers[f"continued (p > {threshold:g}{bounded}), "] = (
                lambda config, drawings=drawings: fill_from_continuations(
                    corrupted, drawings, config
                )
            )
    for label, filler in fillers.items():
        for order in orders:
            for join in joins:
                for radius in radii:
                    config = FillConfig(radius=radius, order=order, join=join)
                    joined = f", join {join:g}" if join else ""
                    placed = filler(config)
                    starts = [o + start for o, (_, start) in zip(origins, placed, strict=True)]
                    scores[f"kept, {label}{order}{joined}, r {radius:g}"] = score(
                        [drawing for drawing, _ in placed], starts
                    )

    sampler = "greedy" if args.greedy else f"temperature {args.temperature:g}"
    sampler += f", code {args.code or 'the method default'}"
    print(
        f"{args.checkpoint}: {args.split} split, {len(sketches)} sketches, "
        f"mask {args.mask:g}, {sampler}, corruption {args.corruption}"
    )
    print("| row | Rec (%) | Ret@1 (%) |\n|---|---:|---:|")
    for name, (rec, ret) in scores.items():
        print(f"| {name} | {100 * rec:.1f} | {100 * ret:.1f} |")
    if args.out is not None:
        args.out.write_text(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
