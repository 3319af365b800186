"""Training and embedding throughput of a method's presets, with model FLOPs utilisation.

For each preset: real batches from a store (the QuickDraw mini set by default) prepared exactly
as ``sketchssl train`` prepares them (same preprocessing, same length-bucketed sampler), then

* data-view seconds per batch: building the batch in one process, as a DataLoader worker does
  (the sequence view, and for image methods the rendering of every transformed copy, for patch
  methods the canvas, masks and crops); its share of ``view + network`` time is the part a
  single worker must hide behind the network step;
* training sketches/s: forward + backward + Adam step, after warm-up steps;
* embedding sketches/s: ``embed`` under ``no_grad`` in eval mode;
* model FLOPs utilisation (MFU): FLOPs of the measured steps (counted by
  ``torch.utils.flop_counter.FlopCounterMode`` on the same batches) per second, divided by the
  machine's matrix-product peak measured in the same run (best of several float32 matmuls);
  data loading is included in neither;
* for methods that draw (``generate``): conditional sampling sketches/s at several batch sizes,
  with the autoregressive steps actually run (a batch runs until its longest sketch ends) and
  the time per step. ``--checkpoint`` loads trained weights first: an untrained decoder ends its
  sketches after a few points, so sampling speed is only meaningful with trained weights.
  Sampling runs at temperature 0.24; ``--pen-temperature`` samples the pen state at its own
  temperature (default: the checkpoint's ``decoder.pen_temperature``), which decides when
  sketches end.

The measurements are :mod:`sketchssl.bench.speed` (the speed suite of ``sketchssl bench``); this
script runs them for one method's presets, prints a table and writes JSON.

Usage::

    python benchmarks/train_bench.py sketch_bert [--presets tiny,paper] [--steps 20]
        [--data STORE] [--out benchmarks/results/train_bench_sketch_bert.json]
    python benchmarks/train_bench.py sketch_rnn --presets tiny --data SHEEP_STORE \
        --checkpoint RUN/checkpoints/last.ckpt --sample-batches 1,10,100 [--pen-temperature 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl.bench.speed import matmul_peak, measure_sampling, measure_speed
from sketchssl.data.build import build_store
from sketchssl.data.store import SketchStore
from sketchssl.eval.generation import can_draw, set_pen_temperature
from sketchssl.methods import build_method
from sketchssl.methods.checkpoint import load_method
from sketchssl.train.config import load_run_config
from sketchssl.train.data import make_dataset

REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    env = os.environ.get("SKETCHSSL_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def bench_preset(
    method: str,
    preset: str,
    store: SketchStore,
    steps: int,
    warmup: int,
    checkpoint: Path | None = None,
    sample_batches: list[int] | None = None,
    pen_temperature: float | None = None,
) -> dict:
    """One preset's row: :func:`sketchssl.bench.speed.measure_speed`, plus sampling speed."""
    config = load_run_config(method, preset, [f"data.store={store.path}"])
    if checkpoint is not None:
        model, _ = load_method(checkpoint, expect=method)  # its own model config
    else:
        torch.manual_seed(0)
        model = build_method(method, vars(config.model))
    row = measure_speed(config, store, steps=steps, warmup=warmup, model=model).to_dict()
    view_per_step = row["batch_size"] / row["view_sketches_per_s"]
    sampling = None
    if sample_batches and can_draw(model):
        set_pen_temperature(model, pen_temperature)
        dataset = make_dataset(config.data, store, "train")
        sampling = measure_sampling(model, dataset, sample_batches, config.data.max_len)
    return {
        **row,
        "view_seconds_per_step": view_per_step,
        "view_share": view_per_step / (view_per_step + row["train_seconds_per_step"]),
        "weights": str(checkpoint) if checkpoint is not None else "untrained",
        "pen_temperature": getattr(
            getattr(getattr(model, "config", None), "decoder", None), "pen_temperature", None
        ),
        "sampling": sampling,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("method")
    parser.add_argument("--presets", default="tiny,paper")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a SketchStore (default: build one from the QuickDraw mini .npz files)",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="trained weights (one preset only)"
    )
    parser.add_argument(
        "--sample-batches",
        default="1,16,64",
        help="batch sizes of the sampling benchmark (methods that draw); '' to skip",
    )
    parser.add_argument(
        "--pen-temperature",
        type=float,
        default=None,
        help="sampling: the pen state's own temperature (default: the checkpoint's)",
    )
    args = parser.parse_args(argv)
    sample_batches = [int(size) for size in args.sample_batches.split(",") if size]
    out = args.out or REPO / "benchmarks" / "results" / f"train_bench_{args.method}.json"

    with tempfile.TemporaryDirectory() as tmp:
        if args.data is None:
            source = default_data_dir() / "quickdraw_sketchrnn_mini"
            if not source.is_dir():
                print(
                    f"error: {source} not found; pass --data or set SKETCHSSL_DATA", file=sys.stderr
                )
                return 2
            store_path = Path(tmp) / "mini.store"
            build_store(sorted(source.glob("*.npz")), store_path, progress=False)
        else:
            store_path = args.data
        store = SketchStore.open(store_path)
        peak = matmul_peak()
        rows = []
        for preset in args.presets.split(","):
            row = bench_preset(
                args.method,
                preset,
                store,
                args.steps,
                args.warmup,
                checkpoint=args.checkpoint,
                sample_batches=sample_batches,
                pen_temperature=args.pen_temperature,
            )
            row["train_mfu"] = row["train_model_flops_per_s"] / peak
            row["embed_mfu"] = row["embed_model_flops_per_s"] / peak
            rows.append(row)

    report = {
        "command": "python benchmarks/train_bench.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "matmul_peak_gflops": peak / 1e9,
        },
        "rows": rows,
    }
    print(
        f"matrix-product peak (float32, measured now): {peak / 1e9:.1f} GFLOP/s, "
        f"{torch.get_num_threads()} threads"
    )
    header = (
        f"{'preset':<8}{'params':>12}{'batch':>7}{'train sk/s':>12}{'s/step':>9}"
        f"{'train MFU':>11}{'embed sk/s':>12}{'embed MFU':>11}{'view s':>8}{'view %':>8}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['preset']:<8}{row['parameters']:>12,}{row['batch_size']:>7}"
            f"{row['train_sketches_per_s']:>12.1f}{row['train_seconds_per_step']:>9.3f}"
            f"{row['train_mfu']:>10.1%}{row['embed_sketches_per_s']:>12.1f}{row['embed_mfu']:>10.1%}"
            f"{row['view_seconds_per_step']:>8.3f}{row['view_share']:>8.1%}"
        )
        for sample in row["sampling"] or []:
            print(
                f"  sampling batch {sample['batch_size']:>4}: {sample['steps_run']:>4} steps, "
                f"{sample['ms_per_step']:.2f} ms/step, "
                f"{sample['sample_sketches_per_s']:.1f} sketches/s"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(temporary, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
