"""``sketchssl eval``: kNN, linear probe and retrieval of a checkpoint, with baselines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from sketchssl.errors import ConfigError


def parse_model_settings(settings: Sequence[str]) -> dict[str, Any]:
    """``["model.pooling=max", ...]`` -> ``{"pooling": "max", ...}`` (values read as YAML).

    A dotted key sets a key of a nested section: ``model.decoder.temperature=0.4`` ->
    ``{"decoder": {"temperature": 0.4}}``.

    Raises:
        ConfigError: a setting that is not ``model.KEY=VALUE``.
    """
    import yaml

    from sketchssl.configuration import deep_merge

    overrides: dict[str, Any] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        path = key.split(".")[1:]
        if not sep or not key.startswith("model.") or not all(path):
            raise ConfigError(
                f"--set {setting!r}: write model.KEY=VALUE (only model settings can change at "
                "evaluation, e.g. model.pooling=max or model.decoder.temperature=0.4)"
            )
        try:
            nested: Any = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {setting!r}: the value is not readable ({error})") from None
        for part in reversed(path):
            nested = {part: nested}
        overrides = deep_merge(overrides, nested)
    return overrides


def register(app: typer.Typer) -> None:
    """Add ``eval`` to ``app``."""

    @app.command("eval", no_args_is_help=True)
    def eval_command(
        checkpoint: str = typer.Argument(
            ..., help="A *.ckpt written by sketchssl train, or a shipped encoder's name."
        ),
        data: Path = typer.Option(..., "--data", "-d", help="Labelled SketchStore."),
        out: Path = typer.Option(..., "--out", "-o", help="Report folder."),
        split: str = typer.Option("test", "--split", help="Query split (gallery = train)."),
        baseline: list[str] = typer.Option(
            None, "--baseline", help="random-init and/or pixels (repeat the option)."
        ),
        plot: Path = typer.Option(None, "--plot", help="Write a 2-D t-SNE map of the queries."),
        batch_size: int = typer.Option(128, "--batch-size"),
        device: str = typer.Option("cpu", "--device"),
        seed: int = typer.Option(0, "--seed"),
        max_gallery: int = typer.Option(None, "--max-gallery", help="Subsample the gallery."),
        settings: list[str] = typer.Option(
            None,
            "--set",
            help="Evaluation-only model setting, model.KEY=VALUE (repeat the option), e.g. "
            "model.pooling=max or model.embed_layer=2; choose them on --split valid.",
        ),
        parts: bool = typer.Option(
            True, "--parts/--no-parts", help="Part-segmentation probe on stores with part labels."
        ),
        probe: bool = typer.Option(
            True, "--probe/--no-probe", help="The linear probe (the slowest part of the protocol)."
        ),
        threads: str = typer.Option(
            "auto",
            "--threads",
            help="torch threads: auto (the cores other processes leave free) or a number.",
        ),
    ) -> None:
        """Evaluate a checkpoint's representation: kNN, linear probe, retrieval."""
        import sketchssl.methods  # noqa: F401  (registers the methods)
        from sketchssl.eval.representation import (
            RepresentationEval,
            evaluate_checkpoint,
            print_results,
        )

        results = evaluate_checkpoint(
            RepresentationEval(
                checkpoint=checkpoint,
                store=data,
                out=out,
                split=split,
                baselines=tuple(baseline or ()),
                batch_size=batch_size,
                device=device,
                seed=seed,
                plot=plot,
                max_gallery=max_gallery,
                model_overrides=parse_model_settings(settings or ()),
                parts=parts,
                linear_probe=probe,
                threads=threads,
                progress=True,
            )
        )
        typer.echo(print_results(results))
        typer.echo(
            f"report: {out}/metrics.md, {out}/metrics.json" + (f", map {plot}" if plot else "")
        )
