"""``sketchssl serve``: the interactive web demo (FastAPI app run by uvicorn).

Binds to 127.0.0.1 unless ``--host`` says otherwise; on a loopback address only ``Host`` headers
naming the loopback are accepted (a guard against DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_defaults(checkpoint: str | None, gallery: Path | None, say) -> tuple[str, Path | None]:  # noqa: ANN001
    """Fill in what was not named: the shipped encoder, and the built-in sample as its gallery."""
    import tempfile

    from sketchssl import pretrained
    from sketchssl.errors import ConfigError

    shipped = pretrained.list_models()
    if checkpoint is None:
        if not shipped:
            raise ConfigError(
                "no --checkpoint and no shipped encoder in this installation: train one "
                "(sketchssl train ...) and pass --checkpoint RUN/checkpoints/last.ckpt"
            )
        checkpoint = pretrained.default_model()
        say(f"using the shipped encoder {checkpoint!r} (sketchssl pretrained {checkpoint})")
    if gallery is None and checkpoint in shipped:
        from sketchssl.data.build import build_store
        from sketchssl.data.quickdraw_sample import SAMPLE_SOURCE

        gallery = Path(tempfile.mkdtemp(prefix="sketchssl-serve-")) / "quickdraw_sample.store"
        build_store([SAMPLE_SOURCE], gallery, workers=1, progress=False)
        say("gallery: the built-in sample of 2,000 real QuickDraw drawings (20 categories)")
    return checkpoint, gallery


def resolve_healer(heal_checkpoint: str | None, say) -> str | None:  # noqa: ANN001
    """The healer named, else the shipped one (None when the installation ships none)."""
    from sketchssl import pretrained

    if heal_checkpoint is not None:
        return heal_checkpoint
    healer = pretrained.default_healer()
    if healer is not None:
        classes = pretrained.training_classes(healer) or []
        say(
            f"healing with the shipped healer {healer!r} ({len(classes)} classes; "
            f"sketchssl pretrained {healer}; --no-heal turns it off)"
        )
    return healer


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""

    @app.command("serve")
    def serve_command(
        checkpoint: str = typer.Option(
            None,
            "--checkpoint",
            "-c",
            help="Encoder *.ckpt (sketch_bert completes drawings) or a shipped encoder's name; "
            "default: the shipped image encoder.",
        ),
        gallery: Path = typer.Option(
            None,
            "--gallery",
            "-g",
            help="SketchStore whose train split is the gallery; default with a shipped encoder: "
            "the built-in real QuickDraw sample.",
        ),
        heal_checkpoint: str = typer.Option(
            None,
            "--heal-checkpoint",
            help="A generative *.ckpt (sketch_rnn, ...) or a shipped healer's name; default: "
            "the shipped healer.",
        ),
        no_heal: bool = typer.Option(False, "--no-heal", help="Serve without a healer."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
        port: int = typer.Option(8000, "--port", help="Port to bind."),
        max_gallery: int = typer.Option(
            3000, "--max-gallery", help="Embed at most this many gallery sketches (seeded)."
        ),
        rate: float = typer.Option(20.0, "--rate", help="API requests per second per client."),
        burst: int = typer.Option(40, "--burst", help="API requests a client may burst."),
        max_body: int = typer.Option(
            512 * 1024, "--max-body", help="Largest request body in bytes."
        ),
        seed: int = typer.Option(0, "--seed", help="Seed of the gallery subset."),
    ) -> None:
        """Web demo: draw a sketch; see it recognised, its gallery neighbours, completed, healed.

        One page at http://HOST:PORT/ and a JSON API under /api (schema: /openapi.json).
        """
        try:
            import uvicorn

            from sketchssl.serve import ModelService, ServerLimits, create_app
        except ImportError as error:
            from sketchssl.errors import ConfigError

            raise ConfigError(
                f"sketchssl serve needs the 'serve' extra ({error.name} is missing): "
                "pip install -e '.[serve]'"
            ) from None
        import sketchssl.methods  # noqa: F401  (registers the methods)

        checkpoint, gallery = resolve_defaults(checkpoint, gallery, typer.echo)
        heal_checkpoint = None if no_heal else resolve_healer(heal_checkpoint, typer.echo)
        limits = ServerLimits(max_body_bytes=max_body, rate=rate, burst=burst)
        service = ModelService.from_paths(
            checkpoint,
            gallery=gallery,
            heal_checkpoint=heal_checkpoint,
            max_gallery=max_gallery,
            seed=seed,
            progress=typer.echo,
        )
        allowed = [*LOOPBACK_NAMES, host] if is_loopback(host) else None
        application = create_app(service, limits, allowed_hosts=allowed)
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"serving on http://{shown}:{port}/  (API schema: /openapi.json; Ctrl-C stops)")
        if not is_loopback(host):
            typer.echo(f"note: bound to {host}, reachable from other machines; no authentication")
        uvicorn.run(application, host=host, port=port, log_level="warning")
