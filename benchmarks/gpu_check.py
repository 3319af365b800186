"""What only a GPU can check, in one run of a few minutes, written to one JSON file.

1. **Rasteriser**: the batched torch rasteriser (:mod:`sketchssl.render.torch_raster`) on the
   device against the CPU one (:func:`sketchssl.render.raster.render_strokes`) on the same
   sketches: mean and largest absolute pixel difference (ink in [0, 1]) and sketches/s of both.
2. **Paper presets**: every self-supervised method's ``paper`` preset for ``--steps`` steps
   (after a warm-up) in bf16 autocast: train and embed sketches/s, and model FLOPs utilisation
   against the device's bf16 matrix-product peak measured in the same run
   (:func:`sketchssl.bench.speed.measure_speed`, cycling through a few pre-built batches so
   that 224-px image batches fit in memory).
3. **The bench**: ``sketchssl bench --device DEVICE`` for ``--bench-minutes`` (representation
   suite, two methods), its report folder kept beside the JSON.

``--dry-run`` does the same on the CPU with the ``tiny`` presets and a handful of steps, so the
script runs in the slow tests and cannot rot; its numbers mean nothing.

Usage::

    bash benchmarks/gpu_check.sh                 # on a GPU machine: builds the sample store
    python benchmarks/gpu_check.py --data STORE --out gpu_check.json [--steps 100]
    python benchmarks/gpu_check.py --data STORE --out dry.json --dry-run
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl.bench.speed import matmul_peak, synchronize
from sketchssl.data.store import SketchStore
from sketchssl.methods.registry import get_method, list_methods

RASTER_SIZE = 64
LINE_WIDTH = 1.5


def environment(device: torch.device) -> dict:
    """Versions and the device's name."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "cuda": torch.version.cuda,
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
    return info


def check_raster(store: SketchStore, device: torch.device, count: int) -> dict:
    """Torch rasteriser on ``device`` vs the CPU rasteriser: error and sketches/s."""
    from sketchssl.render.raster import render_strokes
    from sketchssl.render.torch_raster import rasterize_strokes

    sketches = [store[i] for i in range(min(count, len(store)))]
    start = time.perf_counter()
    cpu = (
        np.stack(
            [
                render_strokes(s, size=RASTER_SIZE, line_width=LINE_WIDTH, invert=True)
                for s in sketches
            ]
        ).astype(np.float32)
        / 255.0
    )
    cpu_seconds = time.perf_counter() - start
    rasterize_strokes(sketches[:8], size=RASTER_SIZE, line_width=LINE_WIDTH, device=device)  # warm
    synchronize(device)
    start = time.perf_counter()
    images = rasterize_strokes(sketches, size=RASTER_SIZE, line_width=LINE_WIDTH, device=device)
    synchronize(device)
    torch_seconds = time.perf_counter() - start
    difference = np.abs(images.float().cpu().numpy().reshape(cpu.shape) - cpu)
    return {
        "sketches": len(sketches),
        "size": RASTER_SIZE,
        "mean_abs_error": float(difference.mean()),
        "max_abs_error": float(difference.max()),
        "cpu_sketches_per_s": len(sketches) / cpu_seconds,
        "torch_sketches_per_s": len(sketches) / torch_seconds,
    }


def check_presets(
    store: SketchStore, device: torch.device, preset: str, steps: int, methods: list[str]
) -> dict:
    """Each method's preset: sketches/s and MFU against the bf16 (or float32) peak."""
    from sketchssl.bench.speed import measure_speed
    from sketchssl.train.config import load_run_config

    dtype = torch.bfloat16 if device.type == "cuda" else None
    peak = matmul_peak(device, dtype=dtype or torch.float32, size=4096 if dtype else 1024)
    rows = {}
    for method in methods:
        started = time.perf_counter()
        try:
            config = load_run_config(
                method, preset, [f"data.store={store.path}", "data.num_workers=0"]
            )
            row = (
                measure_speed(
                    config,
                    store,
                    steps=steps,
                    warmup=max(2, steps // 10),
                    device=device,
                    autocast_dtype=dtype,
                    distinct_batches=4,
                )
                .with_peak(peak)
                .to_dict()
            )
        except Exception as error:  # noqa: BLE001 - one failing method must not stop the check
            row = {"error": f"{type(error).__name__}: {error}"}
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows[method] = row
        shown = {key: row.get(key) for key in ("train_sketches_per_s", "train_mfu", "error")}
        print(f"{method:<28} {json.dumps(shown)}", flush=True)
    return {
        "peak_flops": peak,
        "dtype": str(dtype or torch.float32),
        "preset": preset,
        "rows": rows,
    }


def check_bench(store: Path, device: torch.device, minutes: float, out: Path) -> dict:
    """``sketchssl bench`` for ``minutes`` on ``device``; returns its exit status and timing."""
    command = [
        sys.executable,
        "-m",
        "sketchssl",
        "bench",
        "--data",
        str(store),
        "--out",
        str(out),
        "--suite",
        "representation",
        "--seeds",
        "1",
        "--methods",
        "rotation_cnn,sketch_bert",
        "--budget-minutes",
        str(minutes),
        "--device",
        str(device),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    return {
        "command": " ".join(command),
        "returncode": result.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "report": str(out / "report.json"),
        "tail": (result.stdout + result.stderr)[-2000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="A labelled SketchStore.")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--bench-minutes", type=float, default=1.0)
    parser.add_argument("--methods", default=None, help="Comma list (default: every SSL method).")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny presets, few steps.")
    args = parser.parse_args(argv)

    if args.dry_run:
        device, preset, steps, raster_count = torch.device("cpu"), "tiny", 2, 64
    else:
        if not torch.cuda.is_available():
            parser.error("no CUDA device here; use --dry-run to exercise the script on a CPU")
        device, preset, steps, raster_count = torch.device("cuda"), "paper", args.steps, 2048
    methods = (
        args.methods.split(",")
        if args.methods
        else [name for name in list_methods() if not get_method(name).uses_labels]
    )
    store = SketchStore.open(args.data)
    started = time.perf_counter()
    document = {"dry_run": args.dry_run, "environment": environment(device)}
    document["raster"] = check_raster(store, device, raster_count)
    print("raster", json.dumps(document["raster"]), flush=True)
    document["presets"] = check_presets(store, device, preset, steps, methods)
    bench_minutes = 0.2 if args.dry_run else args.bench_minutes
    document["bench"] = check_bench(
        args.data, device, bench_minutes, args.out.with_name(args.out.stem + "_bench")
    )
    print("bench returncode", document["bench"]["returncode"], flush=True)
    document["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out} in {document['seconds']} s")
    failed = [name for name, row in document["presets"]["rows"].items() if "error" in row]
    return 1 if failed or document["bench"]["returncode"] != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
