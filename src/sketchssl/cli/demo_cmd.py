"""``sketchssl demo``: the README's main command, on the built-in synthetic doodles.

No download is needed. The demo

1. builds a SketchStore from the procedural doodles (SYNTHETIC shapes, not QuickDraw),
2. renders them as a PNG grid, an SVG grid and an animated GIF of the drawing order,
3. pre-trains the tiny Sketch-BERT (Sketch Gestalt Model) for a couple of minutes,
4. evaluates it (kNN, linear probe, retrieval) against the random-init and raw-pixel baselines,
   draws the 2-D embedding map and Sketch-BERT's gestalt completions,

and writes everything under ``--out``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer


def build_and_render(out: Path, per_class: int, seed: int, workers: int | None) -> Path:
    """Steps 1 and 2; returns the store path."""
    from sketchssl.data.build import build_store
    from sketchssl.data.store import SketchStore
    from sketchssl.render.gif import save_drawing_gif
    from sketchssl.render.grid import save_grid
    from sketchssl.render.svg import save_svg_grid

    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "doodles.store"
    build_store(
        [f"doodles:{per_class}:{seed}"],
        store_path,
        workers=workers,
        overwrite=True,
        progress=False,
    )
    store = SketchStore.open(store_path)
    # Two sketches of every class, so the grid shows the variety within a class.
    by_class: dict[int, list[int]] = {}
    for index in store.split_indices("train"):
        by_class.setdefault(int(store.label(index)), []).append(int(index))
    picks = [
        indices[row] for row in range(2) for indices in by_class.values() if len(indices) > row
    ]
    sketches = [store[i] for i in picks]
    captions = [store.class_names[store.label(i)] for i in picks]
    columns = len(by_class)
    save_grid(sketches, out / "doodles.png", ncols=columns, size=96, labels=captions)
    save_svg_grid(sketches, out / "doodles.svg", ncols=columns, size=96)
    save_drawing_gif(sketches[:columns], out / "doodles.gif", ncols=columns, size=96)
    (out / "store_summary.json").write_text(json.dumps(store.summary(), indent=2) + "\n")
    return store_path


def train_and_evaluate(out: Path, store_path: Path, minutes: float, seed: int) -> dict:
    """Steps 3 and 4; returns the metrics rows."""
    from sketchssl.data.store import SketchStore
    from sketchssl.eval.representation import RepresentationEval, evaluate_checkpoint
    from sketchssl.eval.samples import gestalt_completions, save_gestalt_figure
    from sketchssl.methods.checkpoint import load_method
    from sketchssl.train.config import load_run_config
    from sketchssl.train.run import train

    run_dir = out / "sketch_bert_run"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the demo always starts fresh
    config = load_run_config(
        "sketch_bert",
        "tiny",
        [
            f"data.store={store_path.resolve()}",
            f"trainer.max_minutes={minutes}",
            f"trainer.max_steps={max(50, int(minutes * 320))}",
            f"trainer.seed={seed}",
            "trainer.val_every_n_steps=200",
            "trainer.log_every_n_steps=5",
            "trainer.checkpoint_every_n_steps=200",
            "optim.warmup_steps=50",
        ],
    )
    result = train(config, run_dir)
    report = out / "report"
    rows = evaluate_checkpoint(
        RepresentationEval(
            checkpoint=result.checkpoint,
            store=store_path,
            out=report,
            baselines=("random-init", "pixels"),
            plot=report / "embedding_map.png",
            seed=seed,
            command="sketchssl demo",
        )
    )
    method, run_config = load_method(result.checkpoint)
    completions = gestalt_completions(
        method, run_config, SketchStore.open(store_path), count=8, seed=seed
    )
    save_gestalt_figure(completions, report / "gestalt_completion.png")
    return rows


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""

    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Output folder."),
        per_class: int = typer.Option(60, help="Synthetic doodles per class."),
        minutes: float = typer.Option(2.0, help="Sketch-BERT pre-training budget (minutes)."),
        seed: int = typer.Option(0, help="Seed of the doodles and the training run."),
        workers: int = typer.Option(None, help="Store build processes (default: CPU count)."),
        skip_training: bool = typer.Option(False, help="Only build the store and the figures."),
    ) -> None:
        """Doodle store, figures, a short Sketch-BERT pre-training and its evaluation."""
        from sketchssl.cli.data_cmd import print_summary
        from sketchssl.data.store import SketchStore
        from sketchssl.eval.representation import print_results

        store_path = build_and_render(out, per_class, seed, workers)
        print_summary(SketchStore.open(store_path).summary())
        typer.echo(f"\nwrote {out}/doodles.png, doodles.svg, doodles.gif (SYNTHETIC doodles)")
        if skip_training:
            return
        typer.echo(f"\npre-training tiny Sketch-BERT for up to {minutes} min ...")
        rows = train_and_evaluate(out, store_path, minutes, seed)
        typer.echo("\n" + print_results(rows))
        typer.echo(
            f"\nwrote {out}/report: metrics.md, metrics.json, embedding_map.png, "
            "gestalt_completion.png"
        )
