"""``sketchssl pretrained``: the encoders that ship with sketchssl and their model cards."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``pretrained`` to ``app``."""

    @app.command("pretrained")
    def pretrained_command(
        name: str = typer.Argument(None, help="A shipped model: print its model card."),
        list_all: bool = typer.Option(False, "--list", help="List the shipped models."),
    ) -> None:
        """List the shipped pre-trained models (encoders, a healer), or print one's model card."""
        from sketchssl import pretrained

        if list_all or name is None:
            models = pretrained.list_models()
            if not models:
                typer.echo("no shipped models in this installation")
            for model, description in sorted(models.items()):
                typer.echo(f"{model:<24} {description}")
            return
        typer.echo(pretrained.card(name))
