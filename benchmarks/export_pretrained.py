"""Export a trained checkpoint as a shipped model: weights, model card, head or healing figures.

Writes ``src/sketchssl/pretrained/<name>.pt`` (float16 state dict; ``--float32`` keeps full
precision) and the entry in ``models.json`` with the model card: the data, the command that
trained it, the evaluation settings and figures computed here from the exported weights, so the
card shows what a user reproduces. An encoder also gets ``<name>.head.pt`` (a linear class head
fitted on ``--head-store``'s train split: ``sketchssl classify --fit``) and the figures of
``sketchssl eval NAME`` on ``--eval-store``. A healer (``--judge``) gets the Rec / Ret figures of
``sketchssl heal NAME --data EVAL_STORE --judge JUDGE`` at masks 0, 0.1 and 0.3 instead.

Usage::

    python benchmarks/export_pretrained.py RUN/checkpoints/last.ckpt --name sketch-cnn \\
        --description "..." --data-note "..." --train-command "sketchssl train ..." \\
        --set model.embed_layer=fc1 --head-store spg.store --eval-store spg.store [--default]
    python benchmarks/export_pretrained.py RUN/checkpoints/last.ckpt --name sketch-rnn-spg20 \\
        --description "..." --data-note "..." --train-command "..." --eval-store spg.store \\
        --judge runs/spg/judge_s0/checkpoints/last.ckpt --float32 [--default]
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
HEALING_MASKS = (0.0, 0.1, 0.3)
HEALING_METRICS = ("rec", "ret_g2o_acc@1", "ret_g2o_acc@10")


def in_percent(results: dict, keep: tuple[str, ...]) -> dict:
    """``{row: {metric: percent}}`` of an evaluation's rows, the ``keep`` metrics only."""
    return {
        row: {key: round(100 * value, 2) for key, value in metrics.items() if key in keep}
        for row, metrics in results.items()
    }


def encoder_card(name: str, head_store: Path, eval_store: Path, folder: Path) -> dict:
    """Fit the linear head on the exported weights and evaluate them: the card's figures."""
    exported, exported_config = pretrained.load_model(name)
    head, head_report = fit_head(exported, exported_config, SketchStore.open(head_store))
    head_path = save_head(head, folder / f"{name}.head.pt", name)
    pretrained.add_head(name, head_path, folder)
    with tempfile.TemporaryDirectory() as scratch:
        results = evaluate_checkpoint(
            RepresentationEval(
                checkpoint=name,
                store=eval_store,
                out=Path(scratch) / "report",
                baselines=("random-init", "pixels"),
                command=f"sketchssl eval {name} --data {eval_store.name} "
                "--baseline random-init --baseline pixels",
            )
        )
    figures = in_percent(results, CARD_METRICS)
    valid_top1 = 100 * head_report.get("valid_top1", float("nan"))
    return {
        "evaluation": f"sketchssl eval {name} --data {eval_store.name} --baseline random-init "
        "--baseline pixels (test split, gallery = train split; percent)",
        "figures": figures,
        "linear head": f"{len(head.class_names)} classes of {head_store.name} "
        f"(train split; valid top-1 {valid_top1:.2f} %)",
    }


def healer_card(name: str, eval_store: Path, judge: Path) -> dict:
    """Heal the test split with the exported weights at each mask: the card's Rec / Ret."""
    from sketchssl.eval.healing import HealingEval, evaluate_healing
    from sketchssl.methods.checkpoint import load_method

    exported, exported_config = pretrained.load_model(name)
    judge_method, judge_config = load_method(judge, expect="sketch_a_net")
    results, _ = evaluate_healing(
        exported,
        exported_config,
        SketchStore.open(eval_store),
        HealingEval(mask_probs=HEALING_MASKS),
        judge=judge_method,
        judge_config=judge_config,
    )
    figures = in_percent(results, HEALING_METRICS)
    return {
        "evaluation": f"sketchssl heal {name} --data {eval_store.name} --mask M --judge JUDGE "
        f"--report DIR for M in {', '.join(f'{m:g}' for m in HEALING_MASKS)} (test split, "
        "mask table seed 0; JUDGE: the sketch_a_net judge of docs/RESULTS.md, Healing on "
        "SPG20; percent)",
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", required=True)
    parser.add_argument("--data-note", required=True, help="What the model was trained on.")
    parser.add_argument("--train-command", required=True)
    parser.add_argument("--set", dest="settings", action="append", default=[])
    parser.add_argument("--head-store", type=Path, help="An encoder's head: its train split.")
    parser.add_argument("--eval-store", type=Path, required=True)
    parser.add_argument("--judge", type=Path, help="Export a healer, judged by this sketch_a_net.")
    parser.add_argument(
        "--default", action="store_true", help="The encoder (or healer) serve uses."
    )
    parser.add_argument("--folder", type=Path, default=None, help="Default: the package.")
    parser.add_argument(
        "--float32",
        action="store_true",
        help="Keep float32 weights (a healer samples point by point: float16 rounding moves its "
        "samples, measured 33.5 -> 32.1 %% Rec at mask 0.3 for sketch-rnn-spg20).",
    )
    args = parser.parse_args(argv)
    if args.judge is None and args.head_store is None:
        parser.error("an encoder needs --head-store (a healer: --judge)")

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
        half=not args.float32,
    )
    folder = path.parent
    index_path = folder / "models.json"
    index = json.loads(index_path.read_text())
    index[args.name]["kind"] = "healer" if args.judge is not None else "encoder"
    if args.default:
        flag = "default_healer" if args.judge is not None else "default"
        for entry in index.values():
            entry.pop(flag, None)
        index[args.name][flag] = True
    index_path.write_text(json.dumps(index, indent=2) + "\n")

    # everything below reads the exported (float16) weights back, as a user would
    original_folder = pretrained._folder
    pretrained._folder = lambda: folder  # type: ignore[assignment]
    try:
        if args.judge is not None:
            figures = healer_card(args.name, args.eval_store, args.judge)
        else:
            figures = encoder_card(args.name, args.head_store, args.eval_store, folder)
    finally:
        pretrained._folder = original_folder  # type: ignore[assignment]
    index = json.loads(index_path.read_text())
    precision = "float32" if args.float32 else "float16"
    index[args.name]["card"].update(
        {**figures, "weights": f"{path.name}, {precision}, {path.stat().st_size:,} bytes"}
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
