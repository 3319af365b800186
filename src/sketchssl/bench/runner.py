"""``sketchssl bench``: train every method under one budget, evaluate them alike, report.

The run, in order:

1. **Plan**: the methods (:mod:`sketchssl.bench.plan` states which suite covers which), the
   training runs (judge first, then seed-major), the report folder's first ``report.json``.
2. **Calibration**: every method's throughput on real batches of the store (the speed suite
   when it is asked for: more steps and FLOP counting against the matrix-product peak), the
   pixel baseline of seed 0 and its embedding map, all timed. A method that cannot run one
   training step here fails here, and its runs are skipped rather than started.
3. **Estimate**, printed before any training (:mod:`sketchssl.bench.estimate`).
4. **Training and evaluation**: the judge (healing suite, >= 2 classes), then each run with its
   share of the budget (:class:`~sketchssl.bench.budget.TrainingBudget`), evaluated right after
   it trained (representation, healing, and for seed 0 its figures).
5. **Figures and reports**: training curves, then ``report.json`` / ``.md`` / ``.html``.

Every stage of every run is isolated: an exception is recorded (stage, method, seed, message,
traceback) and the bench goes on; the reports are rewritten after every run, so whatever
finished is kept when a later method fails, the budget runs out or the bench is interrupted.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sketchssl.bench.budget import TrainingBudget
from sketchssl.bench.commands import eval_command, heal_commands, train_command
from sketchssl.bench.environment import describe_environment
from sketchssl.bench.estimate import Estimate, MethodCost, estimate_bench
from sketchssl.bench.plan import (
    JUDGE_METHOD,
    BenchConfig,
    MethodChoice,
    RunSpec,
    overrides_for,
    select_methods,
    training_runs,
)
from sketchssl.bench.report import write_reports
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError

__all__ = ["BenchRunner", "run_bench"]

RULES = [
    "Representation suite: every registered method whose uses_labels is False (its objective "
    "never reads a class label); methods named in --methods are included whatever they are.",
    "Healing suite: the trained methods whose generate() takes the healing protocol's "
    "temperature; Rec needs the sketch_a_net judge, trained on the train split when the store "
    "has >= 2 classes, else Ret only.",
    "Budget: the training wall time of all runs (judge included), split equally over the runs "
    "left as they go; evaluation comes on top and was estimated before training.",
]
#: Bench settings every run gets first; the user's overrides come after them.
RUN_DEFAULTS = (
    "trainer.progress_bar=false",
    "trainer.keep_checkpoints=0",
    "trainer.log_every_n_steps=5",
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _error_text(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0] if message else ''}"[:500]


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a scheduler's or ``kill``'s) stops the bench as Ctrl-C does: report kept.

    Inside a training run Lightning's graceful stop takes the signal over (the run checkpoints
    and returns, then the bench stops); outside one it raises :class:`KeyboardInterrupt`.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning prints device and seed banners at every Trainer; one bench makes dozens."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class BenchRunner:
    """One bench run (see the module docstring); :meth:`run` returns the report document.

    Args:
        config: the bench settings.
        echo: where progress lines go (``print`` by default; the CLI passes ``typer.echo``).
    """

    def __init__(self, config: BenchConfig, echo: Callable[[str], None] = print) -> None:
        self.config = config
        self.echo = echo
        self.out = Path(config.out).resolve()
        self.store_path = Path(config.data).resolve()
        self.document: dict[str, Any] = {}
        self.phases: dict[str, float] = {}
        self.failed_methods: dict[str, str] = {}
        self.costs: dict[str, MethodCost] = {}
        self.judge: tuple[Any, dict[str, Any]] | None = None
        self.judge_checkpoint: Path | None = None
        self.gallery = self.queries = 0  # sketches per evaluation, set by the plan
        # measured by the calibration: protocol on a model's and on the pixels' embeddings, map
        self.protocol_seconds = self.pixel_seconds = 0.0
        self.map_seconds: float | None = None

    # ------------------------------------------------------------------ bookkeeping
    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - start

    def _fail(self, stage: str, method: str | None, seed: int | None, error: BaseException) -> str:
        text = _error_text(error)
        self.document["failures"].append(
            {
                "stage": stage,
                "method": method,
                "seed": seed,
                "error": text,
                "traceback": traceback.format_exc()[-4000:],
            }
        )
        where = f"{method} seed {seed}" if seed is not None else (method or "bench")
        self.echo(f"  FAILED ({stage}, {where}): {text}")
        return text

    def _skip(self, stage: str, method: str, seed: int | None, reason: str) -> None:
        self.document["failures"].append(
            {"stage": stage, "method": method, "seed": seed, "error": f"skipped: {reason}"}
        )
        self.echo(f"  skipped: {reason}")

    def _write(self) -> None:
        self.document["phases"] = dict(self.phases)
        self.document["wall_seconds"] = time.perf_counter() - self.started
        write_reports(self.out, self.document)

    def _figure(self, section: str, title: str, path: Path, caption: str = "") -> None:
        self.document["figures"].append(
            {
                "section": section,
                "title": title,
                "path": str(path.relative_to(self.out)),
                "caption": caption,
            }
        )

    # ------------------------------------------------------------------ configs
    def _run_config(
        self, method: str, seed: int, cap_seconds: float | None, run_dir: Path
    ) -> tuple[Any, list[str]]:
        """The run configuration as ``sketchssl train`` resolves it, and its overrides."""
        from sketchssl.train.config import available_presets
        from sketchssl.train.run import _fill_from_store, resolve_config

        config = self.config
        preset = config.preset if config.preset in available_presets(method) else None
        overrides = [*RUN_DEFAULTS, *overrides_for(method, config.overrides)]
        overrides.append(f"trainer.seed={seed}")
        if cap_seconds is not None:
            overrides.append(f"trainer.max_minutes={cap_seconds / 60.0:.4f}")
        if config.device == "cuda":
            overrides += ["trainer.accelerator=gpu", "trainer.devices=1"]
        else:
            overrides += ["trainer.accelerator=cpu", "trainer.devices=1"]
        if config.precision:
            overrides.append(f"trainer.precision={config.precision}")
        run_config = resolve_config(
            method, preset, overrides, run_dir=run_dir, resume=False, data=str(self.store_path)
        )
        _fill_from_store(run_config)  # what train() does: class count, patch geometry
        return run_config, overrides

    # ------------------------------------------------------------------ phases
    def _plan(self) -> tuple[list[MethodChoice], list[RunSpec], SketchStore]:
        from sketchssl.train.config import available_presets

        config = self.config
        store = SketchStore.open(self.store_path)
        choices, excluded = select_methods(config.methods)
        classes = len(store.class_names)
        heals = "healing" in config.suites and any(choice.can_heal for choice in choices)
        judge = heals and classes >= 2
        runs = training_runs(choices, config.suites, config.seeds, judge)
        counts = {split: len(store.split_indices(split)) for split in ("train", "valid", "test")}
        gallery = counts["train"] if config.eval_gallery is None else config.eval_gallery
        self.gallery = min(gallery, counts["train"])
        self.queries = counts["test"]
        without_preset = [c.name for c in choices if config.preset not in available_presets(c.name)]
        if heals and not judge:
            judge_text = f"none: the store has {classes} class(es), so Rec is not computed"
        elif judge:
            judge_text = f"{JUDGE_METHOD}, trained on the train split within the budget"
        else:
            judge_text = "not needed (no healing suite or no method that heals)"
        self.document = {
            "status": "running",
            "command": config.command,
            "started": _now(),
            "plan": {
                "data": str(self.store_path),
                "store": {"sketches": counts, "classes": classes},
                "suites": list(config.suites),
                "preset": config.preset,
                "preset_missing": (
                    f"{', '.join(without_preset)}: no {config.preset!r} preset, trained from "
                    "their config dataclass defaults"
                    if without_preset
                    else "none"
                ),
                "device": config.device,
                "precision": config.precision or "the preset's",
                "budget_minutes": config.budget_minutes,
                "seeds": config.seeds,
                "methods": [
                    {"name": c.name, "supervised": c.supervised, "can_heal": c.can_heal}
                    for c in choices
                ],
                "excluded": excluded,
                "judge": judge_text,
                "training_runs": len(runs),
                "eval_gallery": f"{self.gallery} train sketches (seeded subset per seed)"
                if self.gallery < counts["train"]
                else f"the whole train split ({counts['train']})",
                "queries": f"the test split ({self.queries})",
                "heal_sketches": config.heal_sketches,
                "heal_masks": list(config.heal_masks),
                "overrides": list(config.overrides),
                "rules": RULES,
            },
            "environment": describe_environment(config.device),
            "runs": {},
            "judge": None,
            "pixels": {},
            "speed": None,
            "failures": [],
            "figures": [],
        }
        names = ", ".join(choice.name for choice in choices) or "(none)"
        self.echo(
            f"sketchssl bench: {len(choices)} methods ({names}); suites "
            f"{', '.join(config.suites)}; {config.seeds} seed(s); {len(runs)} training runs "
            f"share {config.budget_minutes:g} min; store {self.store_path} "
            f"({counts['train']}/{counts['valid']}/{counts['test']} sketches, {classes} classes)"
        )
        for name, reason in excluded.items():
            self.echo(f"  not benched: {name}: {reason}")
        return choices, runs, store

    def _calibrate(self, choices: list[MethodChoice], runs: list[RunSpec], store: Any) -> None:
        """Speed rows (or one-step calibration), pixel baseline of seed 0, all timed."""
        from sketchssl.bench.speed import matmul_peak, measure_speed
        from sketchssl.bench.suites import protocol_seconds

        config = self.config
        speed = "speed" in config.suites
        heals = "healing" in config.suites
        steps, warmup = (config.speed_steps, config.speed_warmup) if speed else (1, 1)
        trained = {run.method for run in runs if not run.is_judge}
        measured = [choice for choice in choices if speed or choice.name in trained]
        self.echo(
            "calibrating: "
            + ("the speed suite" if speed else "one training step per method")
            + " and the pixel baseline, to estimate the evaluation time"
        )
        rows: dict[str, Any] = {}
        widths: dict[str, Any] = {}  # method -> its speed row (embedding width)
        if speed:
            peak = matmul_peak(config.device)
            self.document["speed"] = {
                "matmul_peak_flops": peak,
                "dtype": "float32",
                "device": config.device,
                "steps": steps,
                "warmup": warmup,
                "rows": rows,
            }
        for choice in measured:
            try:
                run_config, _ = self._run_config(
                    choice.name, 0, None, self.out / "runs" / "calibration"
                )
                row = measure_speed(
                    run_config,
                    store,
                    steps=steps,
                    warmup=warmup,
                    device=config.device,
                    count_flops=speed,
                    time_generation=heals and choice.can_heal,
                )
            except Exception as error:  # noqa: BLE001  (recorded; the method's runs are skipped)
                text = self._fail("calibration", choice.name, None, error)
                self.failed_methods[choice.name] = text
                continue
            widths[choice.name] = row
            if speed:
                rows[choice.name] = row.with_peak(peak).to_dict()
            model = run_config.model
            self.costs[choice.name] = MethodCost(
                name=choice.name,
                sketch_seconds=1.0 / row.view_sketches_per_s + 1.0 / row.embed_sketches_per_s,
                trained_runs=sum(run.method == choice.name and not run.is_judge for run in runs),
                decode_step_seconds=row.generate_seconds_per_step,
                max_decode_steps=int(getattr(model, "max_length", run_config.data.max_len)),
                dataset_seconds=row.dataset_seconds,
            )
            self.echo(
                f"  {choice.name}: train {row.train_sketches_per_s:.0f} sketches/s, embed "
                f"{row.embed_sketches_per_s:.0f}/s, data view {row.view_sketches_per_s:.0f}/s"
            )
        if "representation" in config.suites and len(store.class_names) >= 2:
            self._pixels(store, 0, with_map=True)
            widest = max((row.embedding_dim for row in widths.values()), default=0)
            if widest:
                self.protocol_seconds = protocol_seconds(
                    store, seed=0, gallery=config.eval_gallery, dim=widest
                )

    def _pixels(self, store: Any, seed: int, *, with_map: bool = False) -> None:
        from sketchssl.bench.suites import pixel_baseline

        map_path = self.out / "figures" / "map_pixels.png" if with_map else None
        try:
            metrics, seconds = pixel_baseline(
                store, seed=seed, gallery=self.config.eval_gallery, map_path=map_path
            )
        except Exception as error:  # noqa: BLE001
            self._fail("pixels", "pixels", seed, error)
            return
        self.document["pixels"][str(seed)] = metrics
        if with_map:
            self.pixel_seconds = seconds["protocol"]
            self.map_seconds = seconds.get("map")
            self._figure("maps", "raw 32x32 pixels", map_path, "t-SNE of the test split")

    def _estimate(self, runs: list[RunSpec]) -> Estimate:
        config = self.config
        estimate = estimate_bench(
            calibration_seconds=time.perf_counter() - self.started,
            budget_seconds=config.budget_seconds if runs else 0.0,
            training_runs=len(runs),
            costs=list(self.costs.values()),
            representation="representation" in config.suites,
            healing="healing" in config.suites,
            gallery=self.gallery,
            queries=self.queries,
            seeds=config.seeds,
            protocol_seconds=self.protocol_seconds,
            pixel_seconds=self.pixel_seconds,
            map_seconds=self.map_seconds,
            heal_sketches=config.heal_sketches,
            heal_masks=config.heal_masks,
            judge=any(run.is_judge for run in runs),
        )
        self.document["estimate"] = estimate.to_dict()
        self.echo("estimate (wall time of the whole bench, before any training):")
        self.echo(estimate.format())
        return estimate

    def _train(self, spec: RunSpec, budget: TrainingBudget, record: dict[str, Any]) -> Path | None:
        """Train one run within its cap; the checkpoint, or None when it did not train."""
        from sketchssl.bench.figures import read_curve
        from sketchssl.train.run import train

        cap = budget.next_cap()
        if cap is None:
            record["status"] = "skipped"
            self._skip("train", spec.method, spec.seed, "the training budget is spent")
            budget.skip()
            return None
        run_dir = self.out / "runs" / spec.key
        start = time.perf_counter()
        try:
            with self._phase("training"), _quiet_lightning():
                run_config, overrides = self._run_config(spec.method, spec.seed, cap, run_dir)
                preset = run_config.preset if run_config.preset != "None" else None
                record["commands"] = [
                    train_command(spec.method, preset, self.store_path, run_dir, overrides)
                ]
                result = train(run_config, run_dir)
        except Exception as error:  # noqa: BLE001  (recorded, the bench goes on)
            budget.charge(time.perf_counter() - start)
            record["status"] = "failed"
            self._fail("train", spec.method, spec.seed, error)
            return None
        wall = time.perf_counter() - start
        budget.charge(wall, result.seconds)
        curve = read_curve(run_dir)
        record["train"] = {
            "steps": result.global_step,
            "fit_seconds": result.seconds,
            "wall_seconds": wall,
            "cap_seconds": cap,
            "final_train_loss": curve[-1][1] if curve else None,
        }
        record["run_dir"] = str(run_dir.relative_to(self.out))
        if result.stopped_early:
            raise KeyboardInterrupt  # SIGINT / SIGTERM during the fit: stop the bench too
        self.echo(
            f"  trained {result.global_step} steps in {result.seconds:.1f} s (cap {cap:.1f} s)"
        )
        return result.checkpoint

    def _train_judge(self, spec: RunSpec, budget: TrainingBudget) -> None:
        from sketchssl.methods.checkpoint import load_method

        self.echo(f"[judge] {spec.method}: training the Rec judge")
        record: dict[str, Any] = {"method": spec.method, "seed": 0, "status": "ok"}
        self.document["judge"] = record
        checkpoint = self._train(spec, budget, record)
        if checkpoint is None:
            return
        try:
            method, judge_config = load_method(checkpoint, expect=JUDGE_METHOD)
            self.judge = (method.to(self.config.device), judge_config)
            self.judge_checkpoint = checkpoint
        except Exception as error:  # noqa: BLE001
            record["status"] = "failed"
            self._fail("judge", spec.method, 0, error)

    def _evaluate(
        self, spec: RunSpec, choice: MethodChoice, checkpoint: Path, record: dict[str, Any]
    ) -> None:
        """The suites of one trained run, then (seed 0) its figures; failures are recorded."""
        if "representation" in self.config.suites:
            self._evaluate_representation(spec, checkpoint, record)
        if "healing" in self.config.suites and choice.can_heal:
            self._evaluate_healing(spec, checkpoint, record)
        if spec.seed == 0:
            with self._phase("figures"):
                self._run_figures(spec, choice, checkpoint)

    def _evaluate_representation(
        self, spec: RunSpec, checkpoint: Path, record: dict[str, Any]
    ) -> None:
        from sketchssl.bench.suites import evaluate_representation_run

        config, store = self.config, self.store
        run_dir = self.out / "runs" / spec.key
        plot = self.out / "figures" / f"map_{spec.method}.png" if spec.seed == 0 else None
        command = eval_command(
            checkpoint,
            self.store_path,
            run_dir / "eval",
            seed=spec.seed,
            device=config.device,
            gallery=config.eval_gallery,
            plot=plot,
        )
        record["commands"].append(command)
        try:
            with self._phase("representation"):
                record["representation"] = evaluate_representation_run(
                    checkpoint,
                    self.store_path,
                    run_dir / "eval",
                    seed=spec.seed,
                    gallery=config.eval_gallery,
                    device=config.device,
                    plot=plot,
                    command=command,
                )
                if str(spec.seed) not in self.document["pixels"] and len(store.class_names) > 1:
                    self._pixels(store, spec.seed)
        except Exception as error:  # noqa: BLE001  (recorded, the bench goes on)
            record["status"] = "partial"
            self._fail("representation", spec.method, spec.seed, error)
            return
        trained = record["representation"]["trained"]
        shown = [
            f"{key} {100 * trained[key]:.1f}%"
            for key in ("knn_top1", "linear_top1")
            if key in trained
        ]
        self.echo("  representation: " + (", ".join(shown) or "done"))
        if plot is not None and plot.is_file():
            self._figure("maps", spec.method, plot, "t-SNE of the test split, seed 0")

    def _evaluate_healing(self, spec: RunSpec, checkpoint: Path, record: dict[str, Any]) -> None:
        from sketchssl.bench.suites import evaluate_healing_run

        config = self.config
        judge, judge_config = self.judge if self.judge is not None else (None, None)
        record["commands"] += heal_commands(
            checkpoint,
            self.store_path,
            self.out / "runs" / spec.key,
            masks=config.heal_masks,
            sketches=config.heal_sketches,
            seed=spec.seed,
            judge=self.judge_checkpoint,
        )
        try:
            with self._phase("healing"):
                rows, _ = evaluate_healing_run(
                    checkpoint,
                    self.store,
                    masks=config.heal_masks,
                    sketches=config.heal_sketches,
                    seed=spec.seed,
                    device=config.device,
                    judge=judge,
                    judge_config=judge_config,
                )
        except Exception as error:  # noqa: BLE001  (recorded, the bench goes on)
            record["status"] = "partial"
            self._fail("healing", spec.method, spec.seed, error)
            return
        record["healing"] = rows
        healed = rows.get(f"healed (mask {max(config.heal_masks):g})", {})
        shown = [
            f"{key} {100 * healed[key]:.1f}%" for key in ("rec", "ret_g2o_acc@1") if key in healed
        ]
        self.echo("  healing: " + ", ".join(shown))

    def _run_figures(self, spec: RunSpec, choice: MethodChoice, checkpoint: Path) -> None:
        from sketchssl.bench.figures import healing_figure, sample_figure

        figures = self.out / "figures"
        try:
            path = figures / f"samples_{spec.method}.png"
            caption = sample_figure(checkpoint, self.store, path, spec.seed)
            if caption is not None:
                self._figure("samples", spec.method, path, caption)
        except Exception as error:  # noqa: BLE001
            self._fail("figure: samples", spec.method, spec.seed, error)
        if "healing" in self.config.suites and choice.can_heal:
            rate = max(self.config.heal_masks)
            try:
                path = figures / f"healing_{spec.method}.png"
                healing_figure(checkpoint, self.store, path, rate, spec.seed, self.config.device)
                self._figure(
                    "healing", spec.method, path, f"mask {rate:g}: corrupted / healed / original"
                )
            except Exception as error:  # noqa: BLE001
                self._fail("figure: healing", spec.method, spec.seed, error)

    def _curves(self, choices: list[MethodChoice]) -> None:
        from sketchssl.bench.figures import plot_training_curves, read_curve

        curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
        for run in self.document["runs"].values():
            if run.get("run_dir"):
                run_dir = self.out / run["run_dir"]
                lines = curves.setdefault(run["method"], {})
                lines[f"seed {run['seed']}"] = read_curve(run_dir)
                validation = read_curve(run_dir, "val/loss")
                if validation:
                    lines[f"seed {run['seed']} val"] = validation
        if not any(any(lines.values()) for lines in curves.values()):
            return
        path = self.out / "figures" / "training_curves.png"
        try:
            plot_training_curves(curves, path)
            self._figure("curves", "training loss", path, "train/loss per logged step")
        except Exception as error:  # noqa: BLE001
            self._fail("figure: curves", None, None, error)

    # ------------------------------------------------------------------ the whole run
    def run(self) -> dict[str, Any]:
        """Run the bench; returns the report document (also written to the report folder).

        Raises:
            ConfigError: the report folder already holds a bench, an unknown method or suite.
            KeyboardInterrupt: after writing the partial report, when interrupted by Ctrl-C or
                SIGTERM (SystemExit when Lightning turned a second Ctrl-C into one).
        """
        if (self.out / "report.json").exists() or (self.out / "runs").exists():
            raise ConfigError(
                f"{self.out} already holds a bench (report.json or runs/); choose another -o"
            )
        self.started = time.perf_counter()
        choices, runs, store = self._plan()
        self.store = store
        with _sigterm_interrupts():
            return self._run(choices, runs, store)

    def _run(self, choices: list[MethodChoice], runs: list[RunSpec], store: Any) -> dict[str, Any]:
        from sketchssl.bench.figures import data_grid

        by_name = {choice.name: choice for choice in choices}
        self._write()
        try:
            with self._phase("calibration"):
                self._calibrate(choices, runs, store)
                try:
                    path = data_grid(store, self.out / "figures" / "data.png")
                    self._figure("data", "test sketches", path, "spread evenly over the split")
                except Exception as error:  # noqa: BLE001
                    self._fail("figure: data", None, None, error)
            self._estimate(runs)
            self._write()
            if self.config.estimate_only:
                self.document["status"] = "estimate-only"
                return self.document
            budget = TrainingBudget(self.config.budget_seconds, len(runs))
            for position, spec in enumerate(runs, start=1):
                if spec.is_judge:
                    self._train_judge(spec, budget)
                    self._write()
                    continue
                self.echo(f"[{position}/{len(runs)}] {spec.method} seed {spec.seed}")
                record: dict[str, Any] = {
                    "method": spec.method,
                    "seed": spec.seed,
                    "status": "ok",
                    "commands": [],
                }
                self.document["runs"][spec.key] = record
                if spec.method in self.failed_methods:
                    record["status"] = "skipped"
                    budget.skip()
                    self._skip("train", spec.method, spec.seed, "the method failed calibration")
                    continue
                checkpoint = self._train(spec, budget, record)
                if checkpoint is not None:
                    self._evaluate(spec, by_name[spec.method], checkpoint, record)
                self._write()
            with self._phase("figures"):
                self._curves(choices)
            failed = self.document["failures"] or any(
                run["status"] != "ok" for run in self.document["runs"].values()
            )
            self.document["status"] = "partial" if failed else "complete"
        except (KeyboardInterrupt, SystemExit):  # Lightning exits on a second Ctrl-C
            self.document["status"] = "interrupted"
            raise
        except Exception as error:  # noqa: BLE001  (the bench itself broke: keep what it has)
            self.document["status"] = "partial"
            self._fail("bench", None, None, error)
        finally:
            self.document["finished"] = _now()
            self._write()
            self.echo(
                f"report ({self.document['status']}): {self.out / 'report.html'}, "
                f"{self.out / 'report.md'}, {self.out / 'report.json'}"
            )
        return self.document


def run_bench(config: BenchConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run a bench (see :class:`BenchRunner`) and return its report document."""
    return BenchRunner(config, echo).run()
