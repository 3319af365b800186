"""``sketchssl demo``: the README's main command, on real QuickDraw drawings shipped with sketchssl.

No download is needed. The demo

1. builds a SketchStore from the built-in sample of 2,000 real QuickDraw drawings (20 categories,
   80 / 10 / 10 a class; :mod:`sketchssl.data.quickdraw_sample`) and draws them as a PNG grid,
   an SVG grid and an animated GIF of the drawing order;
2. pre-trains the tiny rotation-prediction CNN (Xu et al. 2020) on the train split, labels
   unused, for a couple of minutes;
3. evaluates it on the test split (kNN, linear probe, retrieval) beside the same network
   untrained and raw 32 x 32 pixels, at the layer chosen on the SPG20 valid split (``fc1``),
   and draws the 2-D embedding map and the nearest neighbours of a few test sketches;
4. evaluates the encoders that ship with sketchssl on the same test split (no training);
5. heals test drawings with the shipped healer: 30 % of the patches erased, then redrawn
   (corrupted / healed / original rows).

Why this method: on SPG20 (docs/RESULTS.md) it is the self-supervised method whose pre-training
helps most, and it already shows in a 2-minute run on 1,600 drawings (there: kNN top-1 77.5 %
pre-trained vs 67.5 % untrained vs 58.5 % pixels). Sketch-BERT, in the same 2 minutes, does not
beat its own random init (21.0 % vs 29.0 %), so it is not what a first run should show.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer

DEMO_METHOD = "rotation_cnn"
DEMO_SETTINGS = {"embed_layer": "fc1"}  # chosen on the SPG20 valid split (docs/RESULTS.md)
STEPS_PER_MINUTE = 125  # measured: 250 steps in 115 s on 2 idle cores
HEAL_MASK = 0.3  # the healing table's hardest rate (docs/RESULTS.md, Healing on SPG20)


def build_and_render(out: Path, workers: int | None) -> Path:
    """Step 1; returns the store path."""
    from sketchssl.data.build import build_store
    from sketchssl.data.quickdraw_sample import SAMPLE_SOURCE
    from sketchssl.data.store import SketchStore
    from sketchssl.render.gif import save_drawing_gif
    from sketchssl.render.grid import save_grid
    from sketchssl.render.svg import save_svg_grid

    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "quickdraw_sample.store"
    build_store([SAMPLE_SOURCE], store_path, workers=workers, overwrite=True, progress=False)
    store = SketchStore.open(store_path)
    # Two drawings of every class, so the grid shows the variety within a class.
    by_class: dict[int, list[int]] = {}
    for index in store.split_indices("train"):
        by_class.setdefault(int(store.label(index)), []).append(int(index))
    picks = [
        indices[row] for row in range(2) for indices in by_class.values() if len(indices) > row
    ]
    sketches = [store[i] for i in picks]
    captions = [store.class_names[store.label(i)] for i in picks]
    columns = 10
    save_grid(sketches, out / "drawings.png", ncols=columns, size=96, labels=captions)
    save_svg_grid(sketches, out / "drawings.svg", ncols=columns, size=96)
    save_drawing_gif(sketches[:columns], out / "drawings.gif", ncols=columns, size=96)
    (out / "store_summary.json").write_text(json.dumps(store.summary(), indent=2) + "\n")
    return store_path


def save_neighbours(method, run_config: dict, store, path: Path) -> None:  # noqa: ANN001
    """Eight test drawings (one every few classes) and their nearest train drawings."""
    from sketchssl.eval.embed import embed_store
    from sketchssl.eval.neighbour_figure import save_neighbour_figure

    gallery, gallery_indices = embed_store(method, run_config, store, split="train", progress=False)
    queries, query_indices = embed_store(method, run_config, store, split="test", progress=False)
    shown = query_indices[:: max(1, len(query_indices) // 8)][:8]
    positions = [int(list(query_indices).index(index)) for index in shown]
    save_neighbour_figure(
        [store[int(i)] for i in shown],
        queries[positions],
        [store.label(int(i)) for i in shown],
        [store[int(i)] for i in gallery_indices],
        gallery,
        [store.label(int(i)) for i in gallery_indices],
        store.class_names,
        path,
    )


def evaluate_shipped(out: Path, store_path: Path, seed: int) -> dict[str, dict[str, float]]:
    """Step 4: every encoder that ships with sketchssl on the same test split, no training.

    Their training data (the SPG20 and QuickDraw mini train splits) holds none of the sample's
    test drawings, which are in the SPG20 test split. Returns ``{encoder name: metrics}``; the
    default encoder's embedding map and neighbours go to ``out / "shipped"``.
    """
    from sketchssl import pretrained
    from sketchssl.data.store import SketchStore
    from sketchssl.eval.representation import RepresentationEval, evaluate_checkpoint

    rows: dict[str, dict[str, float]] = {}
    names = sorted(pretrained.list_models("encoder"))
    if not names:
        return rows
    default = pretrained.default_model()
    folder = out / "shipped"
    for name in names:
        results = evaluate_checkpoint(
            RepresentationEval(
                checkpoint=name,
                store=store_path,
                out=folder / name,
                plot=folder / "embedding_map.png" if name == default else None,
                seed=seed,
                parts=False,
                command=f"sketchssl eval {name} --data {store_path.name}",
            )
        )
        rows[f"shipped: {name}"] = results["pretrained"]
    method, run_config = pretrained.load_model(default)
    save_neighbours(method, run_config, SketchStore.open(store_path), folder / "neighbours.png")
    return rows


def heal_with_shipped(out: Path, store_path: Path, seed: int) -> Path | None:
    """Step 5: the shipped healer on 10 test drawings at mask 0.3; the figure, or None.

    Rows: erased, redrawn, input kept (:func:`sketchssl.eval.fill.fill_erased`), original.
    """
    from sketchssl import pretrained
    from sketchssl.data.store import SketchStore
    from sketchssl.eval.fill import FillConfig
    from sketchssl.eval.generation import healing_rows, save_rows

    healer = pretrained.default_healer()
    if healer is None:
        return None
    method, run_config = pretrained.load_model(healer)
    store = SketchStore.open(store_path)
    rows = healing_rows(
        method, run_config, store, HEAL_MASK, 10, split="test", seed=seed, fill=FillConfig()
    )
    return save_rows(rows, out / "shipped" / "healing.png")


def train_and_evaluate(out: Path, store_path: Path, minutes: float, seed: int) -> dict:
    """Steps 2 and 3; returns the metrics rows."""
    from sketchssl.data.store import SketchStore
    from sketchssl.eval.representation import RepresentationEval, evaluate_checkpoint
    from sketchssl.methods.checkpoint import load_method
    from sketchssl.train.config import load_run_config
    from sketchssl.train.run import train

    run_dir = out / f"{DEMO_METHOD}_run"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the demo always starts fresh
    steps = max(20, int(minutes * STEPS_PER_MINUTE))
    config = load_run_config(
        DEMO_METHOD,
        "tiny",
        [
            f"data.store={store_path.resolve()}",
            f"trainer.max_minutes={minutes}",
            f"trainer.max_steps={steps}",
            f"trainer.seed={seed}",
            "trainer.val_every_n_steps=100",
            "trainer.log_every_n_steps=10",
            "trainer.checkpoint_every_n_steps=100",
            f"optim.warmup_steps={min(50, steps // 5)}",
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
            model_overrides=dict(DEMO_SETTINGS),
            command="sketchssl demo",
        )
    )
    method, run_config = load_method(result.checkpoint, model_overrides=dict(DEMO_SETTINGS))
    save_neighbours(method, run_config, SketchStore.open(store_path), report / "neighbours.png")
    return rows


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""

    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Output folder."),
        minutes: float = typer.Option(2.0, help="Pre-training budget (minutes)."),
        seed: int = typer.Option(0, help="Seed of the training run and the evaluation."),
        workers: int = typer.Option(None, help="Store build processes (default: CPU count)."),
        skip_training: bool = typer.Option(False, help="Only build the store and the figures."),
    ) -> None:
        """Real QuickDraw drawings, a short self-supervised pre-training and its evaluation."""
        from sketchssl.cli.data_cmd import print_summary
        from sketchssl.data.store import SketchStore
        from sketchssl.eval.representation import print_results

        store_path = build_and_render(out, workers)
        print_summary(SketchStore.open(store_path).summary())
        typer.echo(
            f"\nwrote {out}/drawings.png, drawings.svg, drawings.gif (2,000 real QuickDraw "
            "drawings that ship with sketchssl; Google, CC BY 4.0)"
        )
        if skip_training:
            return
        typer.echo(
            f"\npre-training the rotation-prediction CNN (tiny) for up to {minutes} min, "
            "labels unused ..."
        )
        rows = train_and_evaluate(out, store_path, minutes, seed)
        typer.echo("\n" + print_results(rows))
        typer.echo(
            "\nThe same network before and after pre-training (pretrained vs random_init, its "
            "fc1 layer), and raw 32x32 pixels: kNN and linear probe accuracy, retrieval mAP on "
            "the test split (gallery and probe data: the train split)."
        )
        typer.echo(
            f"wrote {out}/report: metrics.md, metrics.json, embedding_map.png, neighbours.png"
        )
        typer.echo("\nthe encoders that ship with sketchssl, on the same test drawings ...")
        shipped = evaluate_shipped(out, store_path, seed)
        if not shipped:
            typer.echo("none in this installation (sketchssl pretrained --list)")
            return
        typer.echo("\n" + print_results(shipped))
        typer.echo(
            "Trained for longer on the QuickDraw train splits (none of these test drawings), "
            "no training here: sketchssl pretrained NAME gives each one's model card."
        )
        typer.echo(f"wrote {out}/shipped: embedding_map.png, neighbours.png, one report each")
        healed = heal_with_shipped(out, store_path, seed)
        if healed is not None:
            typer.echo(
                f"wrote {healed}: test drawings with 30 % of their patches erased (top row), "
                "redrawn by the shipped healer, the erased drawings with their gaps filled from "
                "it (input kept), the originals (bottom row)"
            )
