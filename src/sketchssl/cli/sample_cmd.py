"""``sketchssl sample``: draw with a checkpoint.

Sketch-BERT: gestalt completion; sketch-rnn: prior samples, reconstructions, latent interpolation.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``sample`` to ``app``."""

    @app.command("sample", no_args_is_help=True)
    def sample_command(
        checkpoint: Path = typer.Argument(..., help="A *.ckpt written by sketchssl train."),
        data: Path = typer.Option(
            None, "--data", "-d", help="Store with the sketches to complete."
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Output image (.png or .svg)."),
        n: int = typer.Option(8, "--n", help="How many sketches."),
        split: str = typer.Option("test", "--split"),
        keep_prob: float = typer.Option(
            0.7, "--keep-prob", help="Sketch-BERT: share of points / pen states left visible."
        ),
        seed: int = typer.Option(0, "--seed"),
        interpolate: bool = typer.Option(
            False, "--interpolate", help="sketch-rnn: latent strip between two --data sketches."
        ),
        temperature: float = typer.Option(
            None, "--temperature", help="sketch-rnn: sampling temperature (prior 1, else 0.24)."
        ),
        pen_temperature: float = typer.Option(
            None,
            "--pen-temperature",
            help="Generative methods: the pen state's own temperature (default: --temperature).",
        ),
    ) -> None:
        """Draw with a checkpoint: gestalt completions, samples, reconstructions, interpolations.

        Sketch-BERT: masked input / gestalt completion / original, one column per sketch.
        sketch-rnn: without --data, samples from the prior (z ~ N(0, I)); with --data, original
        over reconstruction rows; with --interpolate, a latent interpolation strip.
        """
        import sketchssl.methods  # noqa: F401  (registers the methods)
        from sketchssl.data.store import SketchStore
        from sketchssl.errors import ConfigError
        from sketchssl.eval.samples import gestalt_completions, save_gestalt_figure
        from sketchssl.methods.checkpoint import load_method

        method, run_config = load_method(checkpoint)
        if method.name == "sketch_bert":
            if data is None:
                raise ConfigError(
                    "gestalt completion needs --data STORE (the sketches to complete)"
                )
            rows = gestalt_completions(
                method,
                run_config,
                SketchStore.open(data),
                split=split,
                count=n,
                keep_prob=keep_prob,
                seed=seed,
            )
            save_gestalt_figure(rows, out)
            typer.echo(f"wrote {out}: masked input / completion / original for {n} sketches")
            return
        from sketchssl.eval.generation import can_draw, sample_figure, set_pen_temperature

        if can_draw(method):
            set_pen_temperature(method, pen_temperature)
            typer.echo(
                sample_figure(
                    method,
                    run_config,
                    out,
                    store=SketchStore.open(data) if data else None,
                    count=n,
                    split=split,
                    interpolate=interpolate,
                    temperature=temperature,
                    seed=seed,
                )
            )
            return
        raise ConfigError(f"sketchssl sample does not support {method.name!r} checkpoints yet")
