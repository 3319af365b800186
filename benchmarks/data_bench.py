"""Data-layer benchmark: store random access, CPU rasterisers, the batched torch rasteriser.

Every figure is a ratio measured in this one run against the alternative a user would pick:

* store random access (sketches/s) vs loading the same sketches from the sketch-rnn ``.npz``
  files (cold: ``np.load`` per access, which is what random access into an ``.npz`` costs; and
  warm: every file already unpickled into Python lists in memory);
* CPU rasterising at 256 px, line width 2: ``render_strokes`` (aggdraw, one polyline per stroke)
  vs PIL ``ImageDraw.line`` (no anti-aliasing) vs aggdraw drawn one segment at a time;
* the batched torch rasteriser: sketches/s per batch size and canvas size on this machine's CPU
  (and CUDA when present).

Usage::

    python benchmarks/data_bench.py [--data ../shared/data] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sketchssl.data.build import build_store
from sketchssl.data.formats import stroke3_to_polylines
from sketchssl.data.io import load_sketchrnn_npz
from sketchssl.data.store import SketchStore
from sketchssl.render.raster import render_strokes
from sketchssl.render.torch_raster import rasterize_strokes

REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    env = os.environ.get("SKETCHSSL_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def timed(function, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def bench_store(npz_dir: Path, n_access: int, seed: int) -> dict:
    files = sorted(npz_dir.glob("*.npz"))
    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "bench.store"
        start = time.perf_counter()
        build_store(files, store_path, progress=False)
        build_seconds = time.perf_counter() - start
        store = SketchStore.open(store_path)
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(store), size=n_access)

        def read_store() -> None:
            for index in picks:
                store[int(index)]

        store_seconds = timed(read_store)

        # The same sketches from the .npz files: map store index -> (file, split, position).
        split_names = ("train", "valid", "test")
        per_file = {}
        for path in files:
            arrays = load_sketchrnn_npz(path)
            per_file[path.stem] = {name: list(arrays[name]) for name in split_names}
        location = []
        for path in files:
            for split in split_names:
                for position in range(len(per_file[path.stem][split])):
                    location.append((path, split, position))
        # Both paths must read the same sketches: check a sample before timing anything.
        if len(location) != len(store):
            raise SystemExit(f"store has {len(store)} sketches, the npz files {len(location)}")
        for index in picks[:200]:
            path, split, position = location[int(index)]
            expected = per_file[path.stem][split][position]
            if not np.array_equal(store[int(index)], expected):
                raise SystemExit(f"store order differs from the npz files at index {index}")
        subset = picks[: max(1, n_access // 50)]

        def read_npz_cold() -> None:
            for index in subset:
                path, split, position = location[int(index)]
                with np.load(path, allow_pickle=True, encoding="latin1") as archive:
                    archive[split][position]

        def read_npz_warm() -> None:
            for index in picks:
                path, split, position = location[int(index)]
                per_file[path.stem][split][position]

        cold_seconds = timed(read_npz_cold, repeat=1) * (len(picks) / len(subset))
        warm_seconds = timed(read_npz_warm)
        return {
            "sketches": len(store),
            "accesses": int(n_access),
            "build_seconds": build_seconds,
            "store_sketches_per_s": n_access / store_seconds,
            "npz_cold_sketches_per_s": n_access / cold_seconds,
            "npz_in_memory_sketches_per_s": n_access / warm_seconds,
            "store_vs_npz_cold": cold_seconds / store_seconds,
            "store_vs_npz_in_memory": warm_seconds / store_seconds,
        }


def _fit(sketch: np.ndarray, size: int, padding: float = 0.05) -> list[np.ndarray]:
    """Polylines fitted into the canvas the way render_strokes fits them."""
    lines = stroke3_to_polylines(sketch)
    points = np.concatenate(lines)
    low, high = points.min(axis=0), points.max(axis=0)
    extent = max(float((high - low).max()), 1.0)
    scale = size * (1 - 2 * padding) / extent
    centre = (low + high) / 2
    return [(line - centre) * scale + size / 2 for line in lines]


def bench_cpu_raster(sketches: list[np.ndarray], size: int, width: float) -> dict:
    import aggdraw
    from PIL import Image, ImageDraw

    fitted = [_fit(sketch, size) for sketch in sketches]

    def ours() -> None:
        for sketch in sketches:
            render_strokes(sketch, size=size, line_width=width)

    def pil_imagedraw() -> None:
        for lines in fitted:
            image = Image.new("L", (size, size), 255)
            draw = ImageDraw.Draw(image)
            for line in lines:
                draw.line([tuple(point) for point in line], fill=0, width=int(width), joint="curve")
            np.asarray(image)

    def aggdraw_segments() -> None:
        pen = aggdraw.Pen(0, width)
        for lines in fitted:
            image = Image.new("L", (size, size), 255)
            canvas = aggdraw.Draw(image)
            for line in lines:
                for a, b in zip(line[:-1], line[1:], strict=True):
                    canvas.line((float(a[0]), float(a[1]), float(b[0]), float(b[1])), pen)
            canvas.flush()
            np.asarray(image)

    results = {}
    for name, function in (
        ("sketchssl_render_strokes", ours),
        ("pil_imagedraw_no_aa", pil_imagedraw),
        ("aggdraw_per_segment", aggdraw_segments),
    ):
        results[name] = len(sketches) / timed(function)
    results["ours_vs_pil"] = results["sketchssl_render_strokes"] / results["pil_imagedraw_no_aa"]
    results["ours_vs_aggdraw_per_segment"] = (
        results["sketchssl_render_strokes"] / results["aggdraw_per_segment"]
    )
    return results


def bench_torch_raster(sketches: list[np.ndarray], device: str, width: float) -> list[dict]:
    rows = []
    for size in (64, 256):
        for batch in (16, 64):
            chunk = sketches[:batch]
            if len(chunk) < batch:
                continue

            def run(chunk: list = chunk, size: int = size) -> None:
                with torch.no_grad():
                    rasterize_strokes(chunk, size=size, line_width=width, device=device)
                if device == "cuda":
                    torch.cuda.synchronize()

            run()  # warm-up (also the measurement's repeat: one timed call follows)
            rows.append(
                {
                    "device": device,
                    "size": size,
                    "batch": batch,
                    "sketches_per_s": batch / timed(run, repeat=1),
                }
            )
    return rows


def torch_vs_cpu_error(sketches: list[np.ndarray], width: float) -> list[dict]:
    """Mean absolute difference between the torch rasteriser and render_strokes (in /255)."""
    rows = []
    for size in (64, 256):
        ours = rasterize_strokes(sketches, size=size, line_width=width).numpy()  # ink in [0, 1]
        reference = np.stack([render_strokes(s, size=size, line_width=width) for s in sketches])
        reference_ink = 1.0 - reference.astype(np.float64) / 255.0
        rows.append(
            {
                "size": size,
                "sketches": len(sketches),
                "mean_abs_error_per_255": float(np.abs(ours - reference_ink).mean() * 255.0),
                "ink_ratio_torch_over_cpu": float(ours.sum() / reference_ink.sum()),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "data_bench.json"
    )
    parser.add_argument("--accesses", type=int, default=20000)
    parser.add_argument("--raster-sketches", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    npz_dir = args.data / "quickdraw_sketchrnn_mini"
    if not npz_dir.is_dir():
        print(f"error: {npz_dir} not found; pass --data or set SKETCHSSL_DATA", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    store = bench_store(npz_dir, args.accesses, args.seed)
    all_path = args.data / "quickdraw345_mini_all.npz"
    sketches = list(load_sketchrnn_npz(all_path)["train"][: args.raster_sketches])
    raster = bench_cpu_raster(sketches, size=256, width=2.0)
    torch_rows = bench_torch_raster(sketches, "cpu", width=2.0)
    agreement = torch_vs_cpu_error(sketches[:64], width=2.0)
    if torch.cuda.is_available():
        torch_rows += bench_torch_raster(sketches, "cuda", width=2.0)

    report = {
        "command": "python benchmarks/data_bench.py " + " ".join(argv or sys.argv[1:]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "store_random_access": store,
        "cpu_raster_256px_width2": raster,
        "torch_raster": torch_rows,
        "torch_vs_cpu_raster": agreement,
    }
    print(f"store random access over {store['sketches']} sketches ({store['accesses']} reads)")
    print(f"  build {store['build_seconds']:.2f} s")
    print(f"  store        {store['store_sketches_per_s']:>12,.0f} sketches/s")
    print(
        f"  npz cold     {store['npz_cold_sketches_per_s']:>12,.0f} sketches/s  "
        f"(store x{store['store_vs_npz_cold']:.0f})"
    )
    print(
        f"  npz in RAM   {store['npz_in_memory_sketches_per_s']:>12,.0f} sketches/s  "
        f"(store x{store['store_vs_npz_in_memory']:.2f})"
    )
    print(f"CPU raster, 256 px, width 2, {len(sketches)} real sketches")
    for name in ("sketchssl_render_strokes", "pil_imagedraw_no_aa", "aggdraw_per_segment"):
        print(f"  {name:<26}{raster[name]:>10,.0f} sketches/s")
    print(
        f"  ours / PIL {raster['ours_vs_pil']:.2f}x, "
        f"ours / aggdraw per segment {raster['ours_vs_aggdraw_per_segment']:.2f}x"
    )
    print("torch rasteriser")
    for row in torch_rows:
        print(
            f"  {row['device']:<5} {row['size']:>4} px  batch {row['batch']:>3}  "
            f"{row['sketches_per_s']:>10,.0f} sketches/s"
        )
    for row in agreement:
        print(
            f"  torch vs render_strokes at {row['size']} px: mean abs error "
            f"{row['mean_abs_error_per_255']:.2f}/255, "
            f"ink ratio {row['ink_ratio_torch_over_cpu']:.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(temporary, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
