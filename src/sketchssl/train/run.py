"""``sketchssl train``: one function that builds the method, the data and Lightning's Trainer.

The run folder holds ``config.yaml`` (the resolved configuration), ``checkpoints/`` (step
checkpoints and ``last.ckpt``, written atomically), ``logs/metrics.csv`` (and TensorBoard event
files when tensorboard is installed). ``resume=True`` continues from ``checkpoints/last.ckpt``
with the same step, optimiser state and batch order. SIGTERM or Ctrl-C finish the current step,
save ``last.ckpt`` and return; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint

from sketchssl.atomic import atomic_write
from sketchssl.errors import ConfigError
from sketchssl.methods import build_method, upgrade_model_config
from sketchssl.methods.checkpoint import method_state_dict, read_checkpoint
from sketchssl.threads import resolve_threads
from sketchssl.train.checkpoint import AtomicCheckpointIO
from sketchssl.train.config import RunConfig, load_run_config
from sketchssl.train.csv_log import ResumableCSVLogger
from sketchssl.train.data import SketchDataModule
from sketchssl.train.guard import NonFiniteGuard
from sketchssl.train.module import MethodModule

__all__ = ["TrainResult", "train", "resolve_config", "RUN_CONFIG_FILE", "LAST_CHECKPOINT"]


class _DropAdvertising(logging.Filter):
    """Lightning prints a cloud-logging advertisement at every start; it is noise here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdvertising())
# A deprecation inside Lightning's own pytree helper, not in our code.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")

RUN_CONFIG_FILE = "config.yaml"
LAST_CHECKPOINT = "last.ckpt"


@dataclass
class TrainResult:
    """Where a run ended."""

    run_dir: Path
    checkpoint: Path
    global_step: int
    seconds: float
    stopped_early: bool
    threads: int = 0


class GracefulStop(Callback):
    """SIGTERM / SIGINT: finish the current step, then stop (the caller saves ``last.ckpt``)."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = signal.Signals(signum).name
        # A second signal is not caught again: the default handler ends the process at once.
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import threading

        # Signal handlers can only be installed from the main thread.
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.requested is not None:
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self.on_train_end(trainer, pl_module)  # a failed run gives Ctrl-C back too


def _write_yaml_atomic(data: dict[str, Any], path: Path) -> None:
    from omegaconf import OmegaConf

    with atomic_write(path, "w", encoding="utf-8") as stream:
        stream.write(OmegaConf.to_yaml(OmegaConf.create(data)))


def resolve_config(
    method: str,
    preset: str | None,
    overrides: list[str],
    *,
    run_dir: Path,
    resume: bool,
    data: str | None = None,
) -> RunConfig:
    """The run's config: the saved one when resuming, else the preset; overrides on top."""
    saved = run_dir / RUN_CONFIG_FILE
    extra = list(overrides)
    if data is not None:
        extra.append(f"data.store={Path(data).resolve()}")
    if resume and saved.is_file():
        from sketchssl.configuration import load_yaml

        base = load_yaml(saved)
        if base.get("method") != method:
            raise ConfigError(
                f"{run_dir} holds a {base.get('method')!r} run; resume it with that method name"
            )
        if isinstance(base.get("model"), dict):  # a run saved before a model key moved
            base["model"] = upgrade_model_config(method, base["model"])
        return load_run_config(method, None, extra, base=base)
    return load_run_config(method, preset, extra)


def _train_classes(config: RunConfig) -> list[str]:
    """The class names present in the training split (recorded in every checkpoint)."""
    from sketchssl.data.store import SketchStore

    return SketchStore.open(config.data.store).classes_in(config.data.train_split)


def _fill_from_store(config: RunConfig) -> None:
    """Settings a method takes from the data: the class count of classifiers, patch geometry."""
    from sketchssl.data.store import SketchStore

    model = config.model
    if hasattr(model, "num_classes"):
        classes = len(SketchStore.open(config.data.store).class_names)
        if classes < 2:
            raise ConfigError(
                f"{config.data.store} has {classes} class(es); a classifier needs a labelled "
                "store with at least 2 classes"
            )
        if model.num_classes != classes:
            config.model = dataclasses.replace(model, num_classes=classes)
    # The patch geometry has one source, the data section: a model reading patches takes its
    # patch side and slot count from there.
    if "patches" in config.data.views:
        synced = {
            key: getattr(config.data, source)
            for key, source in (("patch_size", "patch_size"), ("patch_slots", "patch_slots"))
            if hasattr(config.model, key)
        }
        if synced:
            config.model = dataclasses.replace(config.model, **synced)


def _initialise_from(method: Any, init: Path) -> str:
    """Copy weights from another checkpoint (pre-training -> fine-tuning); returns a summary."""
    source = method_state_dict(read_checkpoint(init))
    if hasattr(method, "load_pretrained_encoder"):
        method.load_pretrained_encoder(source)
        return f"encoder initialised from {init}"
    missing, unexpected = method.load_state_dict(source, strict=False)
    return f"initialised from {init} ({len(missing)} missing, {len(unexpected)} unused tensors)"


def _resume_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The checkpoint a resumed run starts from: ``last.ckpt``, or a newer step checkpoint.

    ModelCheckpoint writes the step checkpoint and then ``last.ckpt``; a run killed between the
    two leaves the step checkpoint newer (or alone). Temporary files of writes a kill interrupted
    (``.NAME.*.tmp``, see :func:`sketchssl.atomic.atomic_write`) are removed here.
    """
    if not checkpoint_dir.is_dir():
        return None
    for stale in checkpoint_dir.glob(".*.ckpt.*.tmp"):
        stale.unlink(missing_ok=True)
    last = checkpoint_dir / LAST_CHECKPOINT
    best_step, best = -1, None
    if last.is_file():
        best_step, best = int(read_checkpoint(last).get("global_step", -1)), last
    for path in checkpoint_dir.glob("step*.ckpt"):
        digits = path.stem[len("step") :]
        if digits.isdigit() and int(digits) > best_step:
            best_step, best = int(digits), path
    return best


def train(
    config: RunConfig,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    init: str | os.PathLike[str] | None = None,
    extra_callbacks: list[Callback] | None = None,
) -> TrainResult:
    """Train ``config.method`` into ``run_dir``.

    Raises:
        ConfigError: the run folder already holds checkpoints and ``resume`` is False, or
            ``resume`` is True and there is nothing to resume.
    """
    run_dir = Path(run_dir)
    checkpoint_dir = run_dir / "checkpoints"
    last = checkpoint_dir / LAST_CHECKPOINT
    if not config.data.store:
        raise ConfigError("no data store: pass --data STORE (or data.store=...)")
    resume_from = _resume_checkpoint(checkpoint_dir) if resume else None
    if resume and resume_from is None:
        raise ConfigError(f"nothing to resume: {last} does not exist")
    if not resume and checkpoint_dir.is_dir() and any(checkpoint_dir.glob("*.ckpt")):
        raise ConfigError(
            f"{run_dir} already holds checkpoints; pass --resume to continue that run or choose "
            "another --out"
        )
    try:
        threads = resolve_threads(config.trainer.threads)
    except ValueError as error:
        raise ConfigError(f"trainer.threads: {error}") from None
    run_dir.mkdir(parents=True, exist_ok=True)
    _fill_from_store(config)
    _write_yaml_atomic(config.to_dict(), run_dir / RUN_CONFIG_FILE)

    trainer_config = config.trainer
    pl.seed_everything(trainer_config.seed, workers=True, verbose=False)
    datamodule = SketchDataModule(config.data, trainer_config.seed)
    method = build_method(config.method, dataclasses.asdict(config.model))
    if init is not None and not resume:
        print(_initialise_from(method, Path(init)))
    module = MethodModule(
        method,
        config.optim,
        trainer_config.max_steps,
        trainer_config.seed,
        config.to_dict(),
        train_classes=_train_classes(config),
    )

    stopper = GracefulStop()
    keep = trainer_config.keep_checkpoints
    callbacks: list[Callback] = [
        ModelCheckpoint(
            dirpath=checkpoint_dir,
            filename="step{step:07d}",
            auto_insert_metric_name=False,
            every_n_train_steps=trainer_config.checkpoint_every_n_steps,
            save_last=True,
            save_top_k=keep,
            monitor="step" if keep not in (-1, 0) else None,
            mode="max",
        ),
        LearningRateMonitor(logging_interval="step"),
        stopper,
        *(extra_callbacks or []),
    ]
    if trainer_config.nonfinite_guard:
        callbacks.append(
            NonFiniteGuard(
                checkpoint_dir,
                max_consecutive=trainer_config.nonfinite_max_consecutive,
                lr_factor=trainer_config.nonfinite_lr_factor,
                max_rollbacks=trainer_config.nonfinite_max_rollbacks,
            )
        )
    resume_step = int(read_checkpoint(resume_from)["global_step"]) if resume_from else None
    loggers: list[Any] = [
        ResumableCSVLogger(save_dir=run_dir, name="logs", version="", resume_step=resume_step)
    ]
    if importlib.util.find_spec("tensorboard") is not None:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=run_dir, name="tensorboard", version=""))
    devices: Any = trainer_config.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    validate = datamodule.val_dataset is not None and trainer_config.limit_val_batches > 0
    trainer = pl.Trainer(
        default_root_dir=run_dir,
        max_steps=trainer_config.max_steps,
        max_epochs=-1,
        max_time=({"minutes": trainer_config.max_minutes} if trainer_config.max_minutes else None),
        accelerator=trainer_config.accelerator,
        devices=devices,
        num_nodes=trainer_config.num_nodes,
        strategy=trainer_config.strategy,
        precision=trainer_config.precision,
        log_every_n_steps=trainer_config.log_every_n_steps,
        val_check_interval=trainer_config.val_every_n_steps if validate else None,
        check_val_every_n_epoch=None,
        limit_val_batches=trainer_config.limit_val_batches if validate else 0,
        num_sanity_val_steps=0,
        gradient_clip_val=config.optim.gradient_clip or None,
        deterministic=trainer_config.deterministic,
        enable_progress_bar=trainer_config.progress_bar,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=callbacks,
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - start
    # The end of a run (max_steps, max_minutes or a signal) is always in last.ckpt.
    trainer.save_checkpoint(last, weights_only=False)
    return TrainResult(
        run_dir=run_dir,
        checkpoint=last,
        global_step=int(trainer.global_step),
        seconds=seconds,
        stopped_early=stopper.requested is not None,
        threads=threads,
    )
