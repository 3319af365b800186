"""``sketchssl render``: a PNG / SVG grid or a drawing-order GIF of sketches of a file or store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from sketchssl.errors import ConfigError, SketchFileError

__all__ = ["parse_index", "load_sketches", "register", "render_parts_grid"]


def parse_index(text: str, count: int) -> list[int]:
    """``"0:16"``, ``"5"``, ``"1,4,9"`` or ``"-3:"`` -> indices into ``count`` items (checked)."""
    try:
        if ":" in text:
            start, _, stop = text.partition(":")
            picked = list(range(count))[
                slice(int(start) if start else None, int(stop) if stop else None)
            ]
        else:
            picked = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--index {text!r}: use a slice like 0:16, a number, or 1,4,9") from None
    for index in picked:
        if not -count <= index < count:
            raise ConfigError(f"--index {index} is out of range: there are {count} sketches")
    if not picked:
        raise ConfigError(f"--index {text!r} selects no sketch (there are {count})")
    return [index % count for index in picked]


def load_sketches(source: Path, index: str, split: str) -> tuple[list[np.ndarray], list[str]]:
    """The selected sketches of a store, a sketch-rnn ``.npz``, an ndjson or a ``.bin`` file."""
    if source.is_dir() and (source / "manifest.json").is_file():
        from sketchssl.data.store import SketchStore

        store = SketchStore.open(source)
        positions = store.split_indices(split)
        if len(positions) == 0:
            raise ConfigError(f"{source}: the {split!r} split is empty")
        picked = [int(positions[i]) for i in parse_index(index, len(positions))]
        return [store[i] for i in picked], [store.label_name(i) or "" for i in picked]
    if not source.exists():
        raise SketchFileError(source, "no such file or store")
    if source.suffix == ".npz":
        from sketchssl.data.io import load_sketchrnn_npz

        arrays = load_sketchrnn_npz(source)
        if split not in arrays:
            raise ConfigError(f"{source} has no {split!r} array (it has {sorted(arrays)})")
        sketches = arrays[split]
        picked = parse_index(index, len(sketches))
        if f"{split}_label" in arrays and "class_names" in arrays:
            names = [str(arrays["class_names"][arrays[f"{split}_label"][i]]) for i in picked]
        else:
            names = [source.stem] * len(picked)
        return [np.asarray(sketches[i]) for i in picked], names
    from sketchssl.data.io import iter_sketches

    records = list(iter_sketches(source))
    picked = parse_index(index, len(records))
    return [records[i].strokes for i in picked], [records[i].label or "" for i in picked]


def render_parts_grid(
    source: Path, out: Path, index: str, split: str, size: int, line_width: float, ncols: int
) -> int:
    """``render --parts``: the selected sketches of a store coloured by part; returns the count."""
    from sketchssl.data.store import SketchStore
    from sketchssl.render.parts import save_parts_grid

    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ConfigError(f"{out}: --parts draws a .png or .jpg grid")
    if not (source.is_dir() and (source / "manifest.json").is_file()):
        raise ConfigError(
            f"{source}: --parts needs a store built from SPG part-labelled files "
            "(sketchssl data build FOLDER -o STORE)"
        )
    store = SketchStore.open(source)
    if not store.has_parts:
        raise ConfigError(f"{source}: this store has no part labels (build it from SPG files)")
    positions = store.split_indices(split)
    if len(positions) == 0:
        raise ConfigError(f"{source}: the {split!r} split is empty")
    picked = [int(positions[i]) for i in parse_index(index, len(positions))]
    save_parts_grid(
        [store[i] for i in picked],
        [store.parts_of(i) for i in picked],
        [store.label_name(i) or "" for i in picked],
        store.part_names,
        out,
        ncols=ncols,
        size=size,
        line_width=line_width,
    )
    return len(picked)


def register(app: typer.Typer) -> None:
    """Add ``render`` to ``app``."""

    @app.command("render", no_args_is_help=True)
    def render_command(
        source: Path = typer.Argument(..., help="A store, sketch-rnn .npz, .ndjson or .bin file."),
        out: Path = typer.Option(..., "--out", "-o", help="grid.png, grid.svg or drawing.gif"),
        index: str = typer.Option("0:16", "--index", "-i", help="0:16, 5 or 1,4,9"),
        split: str = typer.Option("train", "--split", help="Split of a store or .npz."),
        size: int = typer.Option(128, "--size", help="Tile side in pixels."),
        line_width: float = typer.Option(2.0, "--line-width"),
        ncols: int = typer.Option(8, "--ncols", help="Tiles per row."),
        captions: bool = typer.Option(True, "--captions/--no-captions"),
        parts: bool = typer.Option(
            False,
            "--parts",
            help="Colour each point by its part, with a legend (stores built "
            "from SPG part-labelled files; PNG / JPEG).",
        ),
    ) -> None:
        """Render sketches as a PNG / SVG grid or an animated GIF of the drawing order."""
        from sketchssl.render.gif import save_drawing_gif
        from sketchssl.render.grid import save_grid

        suffix = out.suffix.lower()
        if suffix not in (".png", ".jpg", ".jpeg", ".svg", ".gif"):
            raise ConfigError(f"{out}: the output must end in .png, .jpg, .svg or .gif")
        if parts:
            count = render_parts_grid(source, out, index, split, size, line_width, ncols)
            typer.echo(f"wrote {out} ({count} sketches coloured by part)")
            return
        sketches, names = load_sketches(source, index, split)
        if suffix == ".gif":
            save_drawing_gif(sketches, out, ncols=ncols, size=size, line_width=line_width)
        else:
            save_grid(
                sketches,
                out,
                ncols=ncols,
                size=size,
                line_width=line_width,
                labels=names if captions else None,
            )
        typer.echo(f"wrote {out} ({len(sketches)} sketches)")
