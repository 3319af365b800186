"""``sketchssl train``: pre-train or fine-tune a registered method on a store."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def print_methods() -> None:
    """One line per registered method."""
    from sketchssl.methods import list_methods
    from sketchssl.train.config import available_presets

    rows = list_methods()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        presets = ", ".join(available_presets(name)) or "-"
        typer.echo(f"{name:<{width}}  {description}  [presets: {presets}]")


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""

    @app.command(
        "train",
        context_settings={"allow_extra_args": False},
        no_args_is_help=True,
    )
    def train_command(
        method: str = typer.Argument(None, help="Registered method name (see --list)."),
        overrides: list[str] = typer.Argument(
            None, help="Config overrides: section.key=value, e.g. trainer.max_steps=200."
        ),
        preset: str = typer.Option("tiny", "--preset", "-p", help="tiny (CPU) or paper (GPU)."),
        data: Path = typer.Option(None, "--data", "-d", help="SketchStore to train on."),
        out: Path = typer.Option(None, "--out", "-o", help="Run folder."),
        resume: bool = typer.Option(
            False, "--resume", help="Continue from OUT/checkpoints/last.ckpt."
        ),
        init: Path = typer.Option(None, "--init", help="Initialise from a pre-trained checkpoint."),
        config_file: Path = typer.Option(None, "--config", help="A YAML file instead of a preset."),
        devices: str = typer.Option(None, "--devices", help="Lightning devices (auto, 1, 2, ...)."),
        num_nodes: int = typer.Option(None, "--num-nodes", help="Machines for multi-node DDP."),
        strategy: str = typer.Option(None, "--strategy", help="auto, ddp, ddp_spawn, ..."),
        accelerator: str = typer.Option(None, "--accelerator", help="auto, cpu, gpu, ..."),
        precision: str = typer.Option(None, "--precision", help="32-true, bf16-mixed, 16-mixed."),
        list_all: bool = typer.Option(False, "--list", help="List the registered methods."),
    ) -> None:
        """Train METHOD on a store; checkpoints, logs and the resolved config go to --out."""
        import sketchssl.methods  # noqa: F401  (registers the methods)

        if list_all:
            print_methods()
            return
        from sketchssl.errors import ConfigError
        from sketchssl.train.config import load_run_config
        from sketchssl.train.run import resolve_config, train

        if method is None:
            raise ConfigError("name a method to train (sketchssl train --list shows them)")
        if out is None:
            raise ConfigError("pass --out RUN_DIR for the checkpoints and logs")
        extra = list(overrides or [])
        for key, value in (
            ("devices", devices),
            ("num_nodes", num_nodes),
            ("strategy", strategy),
            ("accelerator", accelerator),
            ("precision", precision),
        ):
            if value is not None:
                extra.append(f"trainer.{key}={value}")
        if config_file is not None:
            if data is not None:
                extra.append(f"data.store={data.resolve()}")
            config = load_run_config(method, None, extra, config_file=config_file)
        else:
            config = resolve_config(
                method,
                preset,
                extra,
                run_dir=out,
                resume=resume,
                data=str(data) if data is not None else None,
            )
        result = train(config, out, resume=resume, init=init)
        if int(os.environ.get("RANK", "0")) != 0:
            return  # under DDP only rank 0 reports
        state = "stopped on request" if result.stopped_early else "done"
        typer.echo(
            f"{state}: step {result.global_step} in {result.seconds:.1f} s "
            f"({result.threads} torch threads); checkpoint {result.checkpoint}"
        )
