"""How good must a kept fill be to beat no healing on Ret? Fills made from the original itself.

``sketchssl heal --keep-input`` keeps the corrupted input's strokes and adds the healer's
drawing where points were erased (:mod:`sketchssl.eval.fill`). This script replaces the healer's
drawing by the erased points themselves (known here, never to a healer) and measures Ret@1 of
the result with the healer's own encoder, as ``sketchssl heal`` does (re-encoded unmasked,
generated to original), beside the no-healing reference (the corrupted input as the method
reads it):

* **exact fill, original order**: the erased runs of points
  (:func:`sketchssl.render.patch_view.erased_runs`) back where they were: the original drawing,
  its strokes cut where the erasure began and ended;
* **exact fill, by gaps**: the same runs, handed over shuffled, placed by ``--fill-order gaps``
  (:func:`sketchssl.eval.fill.order_into_gaps`): how often it finds the original order;
* **exact fill, appended**: the same runs after all the kept strokes (``--fill-order
  kept_first``);
* **moved fill**: each erased run shifted by a random offset of standard deviation ``s`` times
  the drawing's extent, in the original order: how near a fill must be;
* with ``--healer-radius R``: the healer's own fill (``sketchssl heal --keep-input
  --fill-radius R``, temperature ``--temperature``) in the order ``gaps`` gives it, and the
  same fill strokes placed where the truth says (each at the erased run nearest to it, in that
  run's direction): whether the healer's fill falls short by its order or by what it draws.

Usage::

    python benchmarks/fill_ceiling.py CKPT STORE [--split valid] [--mask 0.3] [--limit N]
        [--moves 0.02,0.05,0.1] [--seed 0] [--healer-radius R [--temperature T]]

``CKPT`` is a drawing method's ``*.ckpt`` or a shipped healer's name. Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl.data.formats import polylines_to_stroke3, stroke3_to_polylines
from sketchssl.data.store import SketchStore
from sketchssl.eval.fill import FillConfig, fill_erased, order_into_gaps
from sketchssl.eval.healing import (
    SketchCodec,
    corrupt_inputs,
    encode_sketches,
    generate_sketches,
    retrieval_accuracy,
)
from sketchssl.pretrained import load_model
from sketchssl.render.patch_view import erased_runs, mask_row
from sketchssl.render.patches import make_mask_table

RET = "ret_g2o_acc@1"
NOTHING = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)


def as_stroke3(lines: list[np.ndarray]) -> np.ndarray:
    """Polylines -> stroke-3 (one invisible point when fewer than two points are left)."""
    lines = [line for line in lines if len(line)]
    if sum(len(line) for line in lines) < 2:
        return NOTHING
    return polylines_to_stroke3(lines).astype(np.float32)


def oracle_fills(
    runs: list[tuple[np.ndarray, bool]], moves: list[float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Each variant of one sketch's kept-plus-exact-fill drawing, as stroke-3."""
    kept = [points for points, erased in runs if not erased]
    gone = [points for points, erased in runs if erased]
    extent = float(np.ptp(np.concatenate([points for points, _ in runs]), axis=0).max())
    variants = {"exact fill, original order": as_stroke3([points for points, _ in runs])}
    if kept:
        shuffled = [gone[i] for i in rng.permutation(len(gone))]
        shuffled = [line[::-1] if rng.random() < 0.5 else line for line in shuffled]
        variants["exact fill, by gaps"] = as_stroke3(order_into_gaps(kept, shuffled))
    else:
        variants["exact fill, by gaps"] = variants["exact fill, original order"]
    variants["exact fill, appended"] = as_stroke3(kept + gone)
    for move in moves:
        lines = [
            points + rng.normal(0.0, move * extent, 2) if erased else points
            for points, erased in runs
        ]
        variants[f"fill moved by {move:g} of the extent, original order"] = as_stroke3(lines)
    return variants


def placed_by_truth(
    runs: list[tuple[np.ndarray, bool]], corrupted: np.ndarray, drawn: np.ndarray, radius: float
) -> np.ndarray | None:
    """The healer's fill strokes put where the erased runs were; None when nothing was erased.

    Each fill stroke goes to the erased run its points lie nearest on average, turned to run the
    same way, and the runs' order is the original's.
    """
    kept = [line for line in stroke3_to_polylines(corrupted) if len(line)]
    truth_kept = [points for points, erased in runs if not erased]
    erased = [position for position, (_, gone) in enumerate(runs) if gone]
    if not erased or not kept or len(truth_kept) != len(kept):
        return None
    # the kept strokes come first, in the corrupted input's frame (its first kept point is 0)
    appended = fill_erased(corrupted, drawn, FillConfig(radius, order="kept_first"))
    lines = stroke3_to_polylines(appended)
    fill = lines[len(kept) :]
    shift = kept[0][0] - truth_kept[0][0]  # original frame -> corrupted input's frame
    targets = {position: runs[position][0] + shift for position in erased}
    slots: dict[int, list[np.ndarray]] = {position: [] for position in erased}
    for stroke in fill:
        mean_distance = [
            np.sqrt(((stroke[:, None] - targets[position][None]) ** 2).sum(-1)).min(1).mean()
            for position in erased
        ]
        position = erased[int(np.argmin(mean_distance))]
        start = targets[position][0]
        if np.hypot(*(stroke[0] - start)) > np.hypot(*(stroke[-1] - start)):
            stroke = stroke[::-1]
        slots[position].append(stroke)
    ordered, next_kept = [], iter(kept)
    for position, (_, gone) in enumerate(runs):
        ordered.extend(slots[position] if gone else [next(next_kept)])
    return as_stroke3(ordered)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a drawing method's *.ckpt or a shipped healer")
    parser.add_argument("store")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--mask", type=float, default=0.3)
    parser.add_argument("--limit", type=int, help="only the split's first N sketches")
    parser.add_argument("--moves", default="0.02,0.05,0.1")
    parser.add_argument("--seed", type=int, default=0, help="mask table and random moves")
    parser.add_argument("--healer-radius", type=float, help="also the healer's fill at this radius")
    parser.add_argument("--temperature", type=float, default=0.24, help="as sketchssl heal")
    args = parser.parse_args(argv)

    method, run_config = load_model(args.checkpoint)
    store = SketchStore.open(args.store)
    codec = SketchCodec.for_method(method, run_config, store, args.split)
    indices = codec.dataset.indices[: args.limit]
    sketches = [codec.dataset.prepare(store[int(index)]) for index in indices]
    config = codec.patch_config
    table = make_mask_table(len(sketches), config.max_patches, args.seed)
    uniforms = [mask_row(table, position) for position in range(len(sketches))]
    moves = [float(value) for value in args.moves.split(",") if value]
    rng = np.random.default_rng(args.seed)
    per_sketch = [
        oracle_fills(erased_runs(sketch, row, args.mask, config), moves, rng)
        for sketch, row in zip(sketches, uniforms, strict=True)
    ]
    originals = encode_sketches(codec, sketches)
    reference = encode_sketches(codec, sketches, uniforms=uniforms, mask_prob=args.mask)
    rows = {"no healing (corrupted input, as the method reads it)": reference}
    for name in per_sketch[0]:
        rows[name] = encode_sketches(codec, [variants[name] for variants in per_sketch])
    if args.healer_radius is not None:
        corrupted = corrupt_inputs(sketches, uniforms, args.mask, config)
        drawn = generate_sketches(
            codec, sketches, uniforms=uniforms, mask_prob=args.mask,
            temperature=args.temperature, seed=args.seed,
        )  # fmt: skip
        gaps = FillConfig(args.healer_radius, order="gaps")
        by_gaps = [fill_erased(kept, new, gaps) for kept, new in zip(corrupted, drawn, strict=True)]
        by_truth = [
            placed_by_truth(erased_runs(sketch, row, args.mask, config), kept, new, gaps.radius)
            for sketch, row, kept, new in zip(sketches, uniforms, corrupted, drawn, strict=True)
        ]
        unplaced = sum(placed is None for placed in by_truth)
        by_truth = [
            gap if placed is None else placed for placed, gap in zip(by_truth, by_gaps, strict=True)
        ]
        name = f"healer's fill (radius {args.healer_radius:g}, temperature {args.temperature:g})"
        rows[f"{name}, by gaps"] = encode_sketches(codec, by_gaps)
        rows[f"{name}, placed where the erased runs were ({unplaced} not placed)"] = (
            encode_sketches(codec, by_truth)
        )
    print(
        f"{args.checkpoint}: {args.split} split, {len(sketches)} sketches, mask {args.mask:g}, "
        f"{codec.input_kind} input"
    )
    print("| fill | Ret@1 (%) | Ret@10 (%) |\n|---|---:|---:|")
    for name, codes in rows.items():
        scores = retrieval_accuracy(originals, codes, ks=(1, 10))
        print(f"| {name} | {100 * scores[RET]:.1f} | {100 * scores['ret_g2o_acc@10']:.1f} |")


if __name__ == "__main__":
    main()
