"""``sketchssl bench``: every method side by side under one budget, one report folder."""

from __future__ import annotations

from pathlib import Path

import typer

HELP = (
    "Train every method on one store under one budget and compare them in one report."
    "\n\n"
    "Every registered self-supervised method (or --methods) trains for --seeds seeds; "
    "--budget-minutes of training wall time is split over all runs. Each run is then "
    "evaluated alike (mean ± std over seeds):"
    "\n\n\b\n"
    "representation: kNN, linear probe, retrieval,\n"
    "  beside random-init and raw-pixel baselines\n"
    "healing: Rec / Ret at mask 0, 0.1, 0.3 and the no-healing\n"
    "  reference (methods that draw; a Sketch-a-Net judge trains\n"
    "  when the store has 2+ classes, else Ret only)\n"
    "speed: training, embedding and data-view sketches/s, and\n"
    "  model FLOPs utilisation against the matmul peak\n"
    "  measured in the same run"
    "\n\n"
    "Before any training it measures every method on the store and prints the estimated wall "
    "time of the whole bench with the basis of each figure (training takes the budget, "
    "evaluation comes on top). A failing method, a spent budget or Ctrl-C keep what finished: "
    "OUT/report.json, report.md and report.html (one self-contained page) are rewritten after "
    "every run, failures first. Exit status 1 when anything failed."
    "\n\n\b\n"
    "Examples:\n"
    "sketchssl bench --budget-minutes 10 --data qd.store -o bench\n"
    "sketchssl bench --suite representation --seeds 1 \\\n"
    "  --methods sketch_bert,rotation_cnn -b 30 -d qd.store -o b2\n"
    "sketchssl bench --preset paper --device cuda -b 240 \\\n"
    "  -d qd.store -o b3"
)


def _methods(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _masks(text: str) -> tuple[float, ...]:
    from sketchssl.errors import ConfigError

    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--heal-masks {text!r}: write rates such as 0,0.1,0.3") from None


def register(app: typer.Typer) -> None:
    """Add ``bench`` to ``app``."""

    @app.command("bench", help=HELP, no_args_is_help=True)
    def bench_command(
        data: Path = typer.Option(..., "--data", "-d", help="SketchStore to train and test on."),
        out: Path = typer.Option(..., "--out", "-o", help="Report folder (new or empty)."),
        budget_minutes: float = typer.Option(
            ..., "--budget-minutes", "-b", help="Training wall time of all runs together."
        ),
        suite: str = typer.Option(
            "all", "--suite", "-s", help="representation, healing, speed or all (comma-separated)."
        ),
        methods: str = typer.Option(
            None, "--methods", "-m", help="Comma-separated names (default: every SSL method)."
        ),
        seeds: int = typer.Option(3, "--seeds", help="Seeds per method (0 .. N-1)."),
        preset: str = typer.Option("tiny", "--preset", "-p", help="tiny (CPU) or paper (GPU)."),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
        precision: str = typer.Option(
            None, "--precision", help="Training precision (32-true, bf16-mixed, ...)."
        ),
        override: list[str] = typer.Option(
            None,
            "--override",
            help="[METHOD:]section.key=value for every method or one (repeat the option).",
        ),
        eval_gallery: int = typer.Option(
            2000, "--eval-gallery", help="Train sketches embedded as gallery (0 = all)."
        ),
        heal_sketches: int = typer.Option(
            100, "--heal-sketches", help="Test sketches in the healing suite."
        ),
        heal_masks: str = typer.Option(
            "0,0.1,0.3", "--heal-masks", help="Masking rates of the healing suite."
        ),
        speed_steps: int = typer.Option(5, "--speed-steps", help="Measured steps per method."),
        estimate_only: bool = typer.Option(
            False, "--estimate-only", help="Measure, print the estimate and the plan, stop."
        ),
    ) -> None:
        from sketchssl.bench import BenchConfig, parse_suites, run_bench

        config = BenchConfig(
            data=data,
            out=out,
            suites=parse_suites(suite),
            budget_minutes=budget_minutes,
            seeds=seeds,
            methods=_methods(methods),
            preset=preset,
            device=device,
            precision=precision,
            overrides=tuple(override or ()),
            eval_gallery=eval_gallery or None,
            heal_sketches=heal_sketches,
            heal_masks=_masks(heal_masks),
            speed_steps=speed_steps,
            estimate_only=estimate_only,
        )
        document = run_bench(config, echo=typer.echo)
        if document["status"] not in ("complete", "estimate-only"):
            raise typer.Exit(code=1 if document["status"] == "partial" else 130)
