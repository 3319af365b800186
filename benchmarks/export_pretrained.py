"""Export a trained checkpoint as a shipped encoder: weights, linear head, model card.

Writes ``src/sketchssl/pretrained/<name>.pt`` (float16 state dict), ``<name>.head.pt`` (a linear
class head fitted on ``--head-store``'s train split: ``sketchssl classify --fit``) and the
entry in ``models.json`` with the model card: the data, the command that trained it, the
evaluation settings and the figures of ``sketchssl eval NAME`` on ``--eval-store`` (computed
here from the exported float16 weights, so the card shows what a user reproduces).

Usage::

    python benchmarks/export_pretrained.py RUN/checkpoints/last.ckpt --name sketch-cnn \\
        --description "..." --data-note "..." --train-command "sketchssl train ..." \\
        --set model.embed_layer=fc1 --head-store spg.store --eval-store spg.store [--default]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl import pretrained
from sketchssl.cli.eval_cmd import parse_model_settings
from sketchssl.data.store import SketchStore
from sketchssl.eval.classify import fit_head, save_head
from sketchssl.eval.representation import RepresentationEval, evaluate_checkpoint

CARD_METRICS = ("knn_top1", "nn1_top1", "linear_top1", "retrieval_map", "part_miou")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", required=True)
    parser.add_argument("--data-note", required=True, help="What the encoder was trained on.")
    parser.add_argument("--train-command", required=True)
    parser.add_argument("--set", dest="settings", action="append", default=[])
    parser.add_argument("--head-store", type=Path, required=True)
    parser.add_argument("--eval-store", type=Path, required=True)
    parser.add_argument("--default", action="store_true", help="The encoder serve uses.")
    parser.add_argument("--folder", type=Path, default=None, help="Default: the package.")
    args = parser.parse_args(argv)

    overrides = parse_model_settings(args.settings)
    method, run_config = pretrained.load_model(args.checkpoint, model_overrides=overrides)
    scale = None
    if run_config.get("data", {}).get("normalization", "std") == "std":
        from sketchssl.eval.embed import training_scale

        scale = training_scale(run_config, None)
    card = {
        "method": run_config["method"],
        "data": args.data_note,
        "command": args.train_command,
        "evaluation settings": ", ".join(args.settings) or "default",
    }
    path = pretrained.export_encoder(
        args.checkpoint,
        args.name,
        description=args.description,
        model_card=card,
        scale=scale,
        model_overrides=overrides,
        folder=args.folder,
    )
    folder = path.parent
    index_path = folder / "models.json"
    index = json.loads(index_path.read_text())
    if args.default:
        for entry in index.values():
            entry.pop("default", None)
        index[args.name]["default"] = True
        index_path.write_text(json.dumps(index, indent=2) + "\n")

    # everything below reads the exported (float16) weights back, as a user would
    original_folder = pretrained._folder
    pretrained._folder = lambda: folder  # type: ignore[assignment]
    try:
        exported, exported_config = pretrained.load_model(args.name)
        head, head_report = fit_head(exported, exported_config, SketchStore.open(args.head_store))
        head_path = save_head(head, folder / f"{args.name}.head.pt", args.name)
        pretrained.add_head(args.name, head_path, folder)
        with tempfile.TemporaryDirectory() as scratch:
            results = evaluate_checkpoint(
                RepresentationEval(
                    checkpoint=args.name,
                    store=args.eval_store,
                    out=Path(scratch) / "report",
                    baselines=("random-init", "pixels"),
                    command=f"sketchssl eval {args.name} --data {args.eval_store.name} "
                    "--baseline random-init --baseline pixels",
                )
            )
    finally:
        pretrained._folder = original_folder  # type: ignore[assignment]
    figures = {
        row: {key: round(100 * value, 2) for key, value in metrics.items() if key in CARD_METRICS}
        for row, metrics in results.items()
    }
    index = json.loads(index_path.read_text())
    index[args.name]["card"].update(
        {
            "evaluation": f"sketchssl eval {args.name} --data spg.store --baseline random-init "
            "--baseline pixels (SPG20 test split, gallery = train split; percent)",
            "figures": figures,
            "linear head": f"{len(head.class_names)} classes of {args.head_store.name} "
            f"(train split; valid top-1 {100 * head_report.get('valid_top1', float('nan')):.2f} %)",
            "weights": f"{path.name}, float16, {path.stat().st_size:,} bytes",
        }
    )
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    print(
        pretrained.card(args.name)
        if args.folder is None
        else json.dumps(index[args.name], indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
