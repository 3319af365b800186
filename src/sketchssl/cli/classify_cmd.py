"""``sketchssl classify``: top-k classes of sketches, with a classifier or a fitted linear head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from sketchssl.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add ``classify`` to ``app``."""

    @app.command("classify", no_args_is_help=True)
    def classify_command(
        sources: list[str] = typer.Argument(
            None, help="Sketch files, folders, quickdraw-sample or a store to classify."
        ),
        model: str = typer.Option(
            ..., "--model", "-m", help="A *.ckpt (classifier or encoder) or a shipped encoder."
        ),
        head: Path = typer.Option(
            None, "--head", help="A linear head fitted with --fit (encoders without their own)."
        ),
        fit: Path = typer.Option(
            None,
            "--fit",
            help="Fit a linear head on this labelled store's train split and "
            "save it to --head, instead of classifying.",
        ),
        out: Path = typer.Option(None, "--out", "-o", help="Write the predictions as CSV."),
        split: str = typer.Option("all", "--split", help="all, train, valid or test."),
        top: int = typer.Option(5, "--top", help="Classes listed per sketch."),
        show: int = typer.Option(10, "--show", help="Sketches printed (the CSV has all)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Classify sketches (or, with --fit, fit a linear head on a frozen encoder)."""
        import sketchssl.methods  # noqa: F401  (registers the methods)
        from sketchssl import pretrained
        from sketchssl.data.store import SketchStore
        from sketchssl.eval.classify import (
            classify,
            fit_head,
            load_head,
            save_head,
            write_predictions,
        )
        from sketchssl.eval.embed import embed_sources  # noqa: F401  (the same input reading)

        method, run_config = pretrained.load_model(model)
        if fit is not None:
            if head is None:
                raise ConfigError("--fit needs --head PATH: where to save the fitted head")
            fitted, report = fit_head(method, run_config, SketchStore.open(fit), progress=not quiet)
            save_head(fitted, head, model)
            figures = ", ".join(f"{key} {value:.4g}" for key, value in report.items())
            typer.echo(f"wrote {head}: {len(fitted.class_names)} classes ({figures})")
            return
        if not sources:
            raise ConfigError("name the sketches to classify (files, a folder or a store)")
        linear = None
        if head is not None:
            linear, fitted_on = load_head(head)
            if fitted_on and fitted_on != model:
                typer.echo(f"note: {head} was fitted on {fitted_on}, not {model}")
        elif pretrained.has_head(model):
            linear = pretrained.load_head(model)
        store = _store_of(sources)
        indices, ids, probabilities, names = classify(
            method, run_config, store, head=linear, split=split, top=top, progress=not quiet
        )
        for row, index in enumerate(indices[:show]):
            truth = store.label_name(int(index))
            guesses = ", ".join(
                f"{names[int(k)]} {float(p):.2f}"
                for k, p in zip(ids[row], probabilities[row], strict=True)
            )
            typer.echo(f"{int(index):>6}  {('(' + truth + ') ') if truth else ''}{guesses}")
        labels = np.asarray(store.labels)[indices]
        if (labels >= 0).all() and set(store.class_names) <= set(names):
            truth = np.array([names.index(store.class_names[label]) for label in labels])
            top1 = float((ids[:, 0] == truth).mean())
            topk = float((ids == truth[:, None]).any(axis=1).mean())
            typer.echo(
                f"top-1 {100 * top1:.2f} %, top-{ids.shape[1]} {100 * topk:.2f} % over "
                f"{len(indices)} labelled sketches"
            )
        if out is not None:
            write_predictions(out, store, indices, ids, probabilities, names)
            typer.echo(f"wrote {out}")


def _store_of(sources: list[str]):  # noqa: ANN202 - a SketchStore
    """A store of the sources: itself, or a temporary one built from sketch files."""
    import tempfile

    from sketchssl.data.build import build_store
    from sketchssl.data.store import SketchStore

    paths = [Path(source) for source in sources]
    if len(paths) == 1 and paths[0].is_dir() and (paths[0] / "manifest.json").is_file():
        return SketchStore.open(paths[0])
    folder = Path(tempfile.mkdtemp(prefix="sketchssl-classify-"))
    build_store(sources, folder / "input.store", workers=1, progress=False)
    return SketchStore.open(folder / "input.store")
