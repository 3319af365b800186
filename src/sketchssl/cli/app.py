"""The ``sketchssl`` Typer application: one entry point, sub-commands registered per module.

Each ``*_cmd`` module owns one concern and exposes ``register(app)``. Errors the user can cause
(:class:`sketchssl.errors.SketchSSLError`) become one red line on stderr and exit status 1.
"""

from __future__ import annotations

import sys

import typer

from sketchssl import __version__
from sketchssl.errors import SketchSSLError

app = typer.Typer(
    name="sketchssl",
    help="Self-supervised learning for free-hand vector sketches: data tools, rendering, "
    "training and evaluation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"sketchssl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """Self-supervised learning for free-hand vector sketches."""


def _register_commands() -> None:
    from sketchssl.cli import (
        bench_cmd,
        classify_cmd,
        data_cmd,
        demo_cmd,
        embed_cmd,
        eval_cmd,
        heal_cmd,
        pretrained_cmd,
        render_cmd,
        sample_cmd,
        serve_cmd,
        train_cmd,
    )

    for module in (
        data_cmd,
        render_cmd,
        train_cmd,
        eval_cmd,
        embed_cmd,
        classify_cmd,
        pretrained_cmd,
        sample_cmd,
        heal_cmd,
        demo_cmd,
    ):
        module.register(app)
    serve_cmd.register(app)
    bench_cmd.register(app)


_register_commands()


def error_line(message: str) -> None:
    """Print ``message`` as one red line on stderr."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def main() -> None:
    """Console entry point: run the app, turning sketchssl errors into one red line."""
    try:
        app()
    except SketchSSLError as error:
        error_line(str(error))
        sys.exit(1)
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(130)
