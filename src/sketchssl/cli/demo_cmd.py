"""``sketchssl demo``: the README's main command, on the built-in synthetic doodles.

For now it builds a SketchStore from the procedural doodles (no download needed), renders a grid
of them as PNG, SVG and an animated GIF of the drawing order, and prints the store summary.
Later methods extend it to pre-train and evaluate.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def run_demo(out: Path, per_class: int = 40, seed: int = 0, workers: int | None = None) -> dict:
    """Build the doodle store under ``out`` and write the figures; return the store summary."""
    from sketchssl.data.build import build_store
    from sketchssl.data.store import SketchStore
    from sketchssl.render.gif import save_drawing_gif
    from sketchssl.render.grid import save_grid
    from sketchssl.render.svg import save_svg_grid

    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "doodles.store"
    build_store([f"doodles:{per_class}:{seed}"], store_path, workers=workers, overwrite=True)
    store = SketchStore.open(store_path)

    # One sketch of every class, then a second row, so the grid shows the variety per class.
    by_class: dict[int, list[int]] = {}
    for index in store.split_indices("train"):
        by_class.setdefault(int(store.label(index)), []).append(int(index))
    picks = [indices[row] for row in range(2) for indices in by_class.values() if len(indices) > row]
    sketches = [store[i] for i in picks]
    captions = [store.class_names[store.label(i)] for i in picks]
    ncols = len(by_class)
    save_grid(sketches, out / "doodles.png", ncols=ncols, size=96, labels=captions)
    save_svg_grid(sketches, out / "doodles.svg", ncols=ncols, size=96)
    save_drawing_gif(sketches[:ncols], out / "doodles.gif", ncols=ncols, size=96)

    summary = store.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""

    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Output folder."),
        per_class: int = typer.Option(40, help="Synthetic doodles per class."),
        seed: int = typer.Option(0, help="Seed of the doodle generator."),
        workers: int = typer.Option(None, help="Build processes (default: CPU count)."),
    ) -> None:
        """Build a store from the built-in SYNTHETIC doodles, render grids, print the summary."""
        summary = run_demo(out, per_class=per_class, seed=seed, workers=workers)
        from sketchssl.cli.data_cmd import print_summary

        print_summary(summary)
        typer.echo(f"\nwrote {out}/doodles.store, doodles.png, doodles.svg, doodles.gif")
