"""How closely our QuickDraw "simplified" procedure reproduces Google's simplified drawings.

For every drawing present in both ``quickdraw_ndjson/raw_exupery`` (raw: float coordinates and
timings) and ``quickdraw_ndjson/simplified_first25`` (Google's simplified output), matched by
``key_id``: simplify the raw drawing with :func:`sketchssl.data.simplify.quickdraw_simplify`
(align, scale to 255, resample at 1 px, RDP eps 2.0) and compare with Google's version:

* identical: same strokes, same integer points;
* stroke count equal;
* largest difference in the number of points of a stroke;
* largest distance of a vertex of either version to the other version's polyline (px).

Usage::

    python benchmarks/simplify_agreement.py [--data ../shared/data] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from sketchssl.data.simplify import quickdraw_simplify

REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    env = os.environ.get("SKETCHSSL_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def read_drawings(path: Path) -> dict[int, list]:
    drawings = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                record = json.loads(line)
                drawings[int(record["key_id"])] = record["drawing"]
    return drawings


def point_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of each point ``(P, 2)`` to the polyline ``(L, 2)``."""
    if len(line) == 1:
        return np.linalg.norm(points - line[0], axis=1)
    start, end = line[:-1], line[1:]  # (S, 2)
    direction = end - start
    length2 = np.maximum((direction**2).sum(axis=1), 1e-12)
    relative = points[:, None, :] - start[None]  # (P, S, 2)
    along = np.clip((relative * direction[None]).sum(axis=2) / length2, 0.0, 1.0)
    nearest = start[None] + along[..., None] * direction[None]
    return np.linalg.norm(points[:, None, :] - nearest, axis=2).min(axis=1)


def compare(ours: list[np.ndarray], google: list[np.ndarray]) -> tuple[bool, bool, int, float]:
    same_count = len(ours) == len(google)
    identical = same_count and all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(ours, google, strict=True)
    )
    point_gap, distance = 0, 0.0
    if same_count:
        for a, b in zip(ours, google, strict=True):
            point_gap = max(point_gap, abs(len(a) - len(b)))
            distance = max(
                distance,
                float(point_to_polyline(a, b).max()),
                float(point_to_polyline(b, a).max()),
            )
    return identical, same_count, point_gap, distance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "simplify_agreement.json"
    )
    args = parser.parse_args(argv)
    raw_dir = args.data / "quickdraw_ndjson" / "raw_exupery"
    simplified_dir = args.data / "quickdraw_ndjson" / "simplified_first25"
    if not raw_dir.is_dir():
        print(f"error: {raw_dir} not found; pass --data", file=sys.stderr)
        return 2
    identical = same_strokes = total = 0
    gaps, distances = [], []
    for raw_path in sorted(raw_dir.glob("*.ndjson")):
        simplified_path = simplified_dir / raw_path.name
        if not simplified_path.is_file():
            continue
        google = read_drawings(simplified_path)
        for key_id, drawing in read_drawings(raw_path).items():
            if key_id not in google:
                continue
            ours = quickdraw_simplify([np.column_stack(stroke[:2]) for stroke in drawing])
            reference = [np.column_stack(stroke[:2]).astype(np.int64) for stroke in google[key_id]]
            same, count_ok, gap, distance = compare([np.asarray(s) for s in ours], reference)
            total += 1
            identical += same
            same_strokes += count_ok
            if count_ok:
                gaps.append(gap)
                distances.append(distance)
    report = {
        "command": "python benchmarks/simplify_agreement.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "drawings_compared": total,
        "identical_fraction": identical / total,
        "same_stroke_count_fraction": same_strokes / total,
        "max_points_difference_per_stroke": int(max(gaps)),
        "max_vertex_distance_px": float(max(distances)),
        "p99_vertex_distance_px": float(np.percentile(distances, 99)),
    }
    for key, value in report.items():
        print(f"{key:<36}{value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(temporary, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
