"""``sketchssl embed``: embeddings of sketch files or a store with a checkpoint's encoder."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``embed`` to ``app``."""

    @app.command("embed", no_args_is_help=True)
    def embed_command(
        sources: list[str] = typer.Argument(
            ..., help="Sketch files (.npz, .ndjson, .bin), folders, quickdraw-sample, or a store."
        ),
        model: str = typer.Option(
            ..., "--model", "-m", help="A *.ckpt from sketchssl train, or a shipped encoder's name."
        ),
        out: Path = typer.Option(..., "--out", "-o", help="emb.npy, emb.npz or emb.parquet"),
        split: str = typer.Option("all", "--split", help="all, train, valid or test."),
        batch_size: int = typer.Option(256, "--batch-size"),
        device: str = typer.Option("cpu", "--device"),
        scale_store: Path = typer.Option(
            None, "--scale-store", help="The training store, for models that need its scale."
        ),
        settings: list[str] = typer.Option(
            None, "--set", help="Evaluation-only model setting, model.KEY=VALUE."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Embed sketches with a trained encoder (batched, in the model's own preprocessing)."""
        import sketchssl.methods  # noqa: F401  (registers the methods)
        from sketchssl.cli.eval_cmd import parse_model_settings
        from sketchssl.eval.embed import embed_sources, write_embeddings
        from sketchssl.pretrained import load_model

        method, run_config = load_model(model, model_overrides=parse_model_settings(settings or ()))
        embeddings, indices, store = embed_sources(
            method,
            run_config,
            sources,
            split=split,
            scale_store=scale_store,
            batch_size=batch_size,
            device=device,
            progress=not quiet,
        )
        write_embeddings(out, embeddings, indices, store)
        typer.echo(
            f"wrote {out}: {embeddings.shape[0]} sketches x {embeddings.shape[1]} dimensions "
            f"({run_config.get('method')})"
        )
