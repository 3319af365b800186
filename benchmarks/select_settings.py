"""Choose evaluation-only settings (pooling, layer) of a checkpoint on the VALID split.

For every combination of the ``--grid`` values, runs ``sketchssl eval`` on the valid split
(gallery = train split, as always) with those model settings, for the checkpoint and for the
same architecture untrained with the same settings, without the linear probe (the part probe
runs where the store has part labels). Prints one table and picks the combination with the best
sum of the checkpoint's kNN top-1 and retrieval mAP, the two headline measures of the ranking
(ties: kNN). The test split is never read, so the choice can then be reported once on test with
``sketchssl eval --set ...``.

Usage::

    python benchmarks/select_settings.py RUN/checkpoints/last.ckpt --data STORE \\
        --grid model.pooling=mean,max --grid model.embed_layer=1,2,3,4 -o reports/select

Writes ``selection.json`` (every row and the choice) and one eval report per combination.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import yaml

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl.cli.eval_cmd import parse_model_settings
from sketchssl.eval.representation import RepresentationEval, evaluate_checkpoint

COLUMNS = ("knn_top1", "nn1_top1", "retrieval_map", "part_miou")


def grid_combinations(grid: list[str]) -> list[dict[str, object]]:
    """``["model.a=1,2", "model.b=x"]`` -> ``[{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]``."""
    axes = []
    for entry in grid:
        key, sep, values = entry.partition("=")
        if not sep:
            raise SystemExit(f"--grid {entry!r}: write model.KEY=V1,V2,...")
        axes.append([f"{key}={value}" for value in values.split(",")])
    return [parse_model_settings(list(combo)) for combo in itertools.product(*axes)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--grid", action="append", default=[], help="model.KEY=V1,V2,...")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    header = " | ".join(
        f"{model} {key}" for model in ("pretrained", "random_init") for key in COLUMNS
    )
    print(f"| settings (valid split, %) | {header} |", flush=True)
    rows = []
    for settings in grid_combinations(args.grid) or [{}]:
        name = ",".join(f"{key}={value}" for key, value in settings.items()) or "default"
        results = evaluate_checkpoint(
            RepresentationEval(
                checkpoint=args.checkpoint,
                store=args.data,
                out=args.out / name.replace("=", "-").replace(",", "_"),
                split="valid",
                baselines=("random-init",),
                seed=args.seed,
                model_overrides=settings,
                linear_probe=False,
                command=" ".join(sys.argv),
            )
        )
        row = {"settings": settings, "name": name}
        for model in ("pretrained", "random_init"):
            row[model] = {key: results[model].get(key) for key in COLUMNS}
        rows.append(row)
        cells = " | ".join(
            "n/a" if row[model][key] is None else f"{100 * row[model][key]:.2f}"
            for model in ("pretrained", "random_init")
            for key in COLUMNS
        )
        print(f"| {name} | {cells} |", flush=True)

    def score(row: dict) -> tuple[float, float]:
        knn, average_precision = row["pretrained"]["knn_top1"], row["pretrained"]["retrieval_map"]
        return (knn + average_precision, knn)

    best = max(rows, key=score)
    print(f"chosen on valid: {best['name']}")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "checkpoint": str(args.checkpoint),
        "data": str(args.data),
        "split": "valid",
        "columns": list(COLUMNS),
        "rows": rows,
        "chosen": best["settings"],
        "rule": "best pretrained kNN top-1 + retrieval mAP on valid, ties by kNN",
    }
    (args.out / "selection.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(yaml.safe_dump({"chosen": best["settings"]}).strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
