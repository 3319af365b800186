"""The run configuration: method hyper-parameters plus data, optimiser and trainer sections.

A run is ``configs/<method>/<preset>.yaml`` (shipped inside the package, so an installed
sketchssl has its presets) merged over the dataclass defaults, then the command-line overrides
(``trainer.max_steps=200``, ``model.num_layers=2``) merged over that. Every section is a typed
dataclass; an unknown key is an error that names the closest valid key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sketchssl.configuration import (
    close_match,
    dataclass_from_mapping,
    deep_merge,
    load_yaml,
    parse_overrides,
)
from sketchssl.data.augment import Augmentation
from sketchssl.errors import ConfigError
from sketchssl.render.pair_view import pair_augmentation_from_data

__all__ = [
    "DataConfig",
    "OptimConfig",
    "RunConfig",
    "TrainerConfig",
    "available_presets",
    "load_run_config",
    "preset_path",
]

SECTIONS = ("model", "data", "optim", "trainer")


@dataclass
class DataConfig:
    """How sketches become batches (see :class:`sketchssl.render.views.SketchDataset`).

    Attributes:
        store: path of the SketchStore (``sketchssl data build``).
        train_split: split trained on; labels are never read for self-supervised methods.
        val_split: split for the validation loss ("" to skip validation).
        max_len: sequence rows; longer sketches are cut.
        normalization: ``std`` (sketch-rnn global scale), ``bbox`` (Sketch-BERT) or ``none``.
        start_token: put sketch-rnn's S0 in front of each sequence.
        views: ``sequence``, ``raster``, the pretext views of :mod:`sketchssl.render.pretext`,
            and ``patches`` (the patch graph of SP-gra2seq / Lmser-pix2seq, beside ``sequence``).
        raster_size: image side for the raster view.
        raster_line_width: stroke width for the raster view.
        bbox_factor: Sketch-BERT's ``max_scale_factor`` for ``bbox`` normalisation.
        clamp_limit: dx, dy are clamped to this.
        batch_size: per device.
        num_workers: DataLoader worker processes.
        bucket_by_length: batch sketches of similar length together (less padding).
        patch_size: side of each patch and of the whole-sketch node (patches view).
        patch_slots: patch slots per sketch (SP-gra2seq: 20).
        patch_canvas_scale: larger side of the sketch on the patch canvas, in pixels.
        patch_line_width: stroke width on the patch canvas, in pixels.
        patch_point_stride: a patch centre every this many points of a stroke.
        patch_border: black border around the canvas (-1 = 1.5 x patch_size, SP-gra2seq's).
        patch_mask_prob: training-time masking probability of each patch square (fresh
            uniforms per sketch, reproducible from the run's seed).
        augment_scale: training split only: stretch x and y by independent factors
            ``1 + U(-s, s)`` (sketch-rnn's ``random_scale_factor``, 0.15 there); 0 = off.
        augment_drop_prob: training split only: drop points inside strokes with this
            probability (sketch-rnn's ``augment_stroke_prob``, 0.10 there); 0 = off.
        augment_rotation_degrees: training split only: rotate by ``U(-r, r)`` degrees; 0 = off.
            Every augmentation is drawn from ``(seed, epoch, sketch)``: new each epoch, the
            same after a resume.
        pair_partial_min_fraction, pair_stroke_drop_prob, pair_scale, pair_rotation_degrees,
        pair_drop_prob, pair_crop_zoom, pair_line_width_jitter: the augmentations of each of
            the two copies the ``pairs`` view makes of a sketch (the contrastive methods), see
            :class:`sketchssl.render.pair_view.PairAugmentation`.
        sequence_mask_prob: with the ``corrupted_sequence`` view, the probability of each patch
            square being masked in the copy the encoder of a sequence healer reads
            (:mod:`sketchssl.render.corruption_view`).
        deformation: the deformation views' warp: ``paper`` (Xu et al.'s one fixed warp) or
            ``random`` (strength, axes and direction drawn per sketch and epoch from the run's
            seed: :func:`sketchssl.data.augment.random_sine_deform`).
    """

    store: str = ""
    train_split: str = "train"
    val_split: str = "valid"
    max_len: int = 250
    normalization: str = "bbox"
    start_token: bool = False
    views: tuple[str, ...] = ("sequence",)
    raster_size: int = 64
    raster_line_width: float = 1.5
    bbox_factor: float = 10.0
    clamp_limit: float = 1000.0
    batch_size: int = 64
    num_workers: int = 2
    bucket_by_length: bool = True
    patch_size: int = 256
    patch_slots: int = 20
    patch_canvas_scale: float = 640.0
    patch_line_width: float = 16.0
    patch_point_stride: int = 4
    patch_border: int = -1
    patch_mask_prob: float = 0.0
    augment_scale: float = 0.0
    augment_drop_prob: float = 0.0
    augment_rotation_degrees: float = 0.0
    pair_partial_min_fraction: float = 0.8
    pair_stroke_drop_prob: float = 0.1
    pair_scale: float = 0.15
    pair_rotation_degrees: float = 15.0
    pair_drop_prob: float = 0.1
    pair_crop_zoom: float = 1.3
    pair_line_width_jitter: float = 0.4
    sequence_mask_prob: float = 0.0
    deformation: str = "paper"

    def __post_init__(self) -> None:
        from sketchssl.render.pretext import warp_for

        warp_for(self.deformation, seed=0)  # an unknown name is a ConfigError naming the key
        try:
            self.augmentation()  # the ranges are checked when the config is made
            pair_augmentation_from_data(dataclasses.asdict(self))
        except ConfigError as error:
            raise ConfigError(f"data: {error}") from None

    def augmentation(self) -> Augmentation | None:
        """The training augmentation these fields configure; None when all are off."""
        if not (self.augment_scale or self.augment_drop_prob or self.augment_rotation_degrees):
            return None
        return Augmentation(
            scale_factor=self.augment_scale,
            drop_prob=self.augment_drop_prob,
            max_rotation_degrees=self.augment_rotation_degrees,
        )


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule.

    Attributes:
        name: ``adam``, ``adamw`` or ``sgd``.
        lr: peak learning rate.
        weight_decay: decoupled for adamw, L2 for adam and sgd.
        betas: Adam betas.
        momentum: SGD momentum.
        nesterov: SGD with Nesterov momentum.
        warmup_steps: linear warm-up from 0.
        schedule: ``constant``, ``cosine`` (to ``min_lr`` at ``trainer.max_steps``),
            ``exponential`` (sketch-rnn: ``lr_t = (lr - min_lr) * decay_rate ** t + min_lr``) or
            ``step`` (times ``gamma`` at each of ``milestones``, given in steps).
        min_lr: floor of the cosine and exponential schedules.
        decay_rate: per-step factor of the exponential schedule.
        milestones: steps at which the ``step`` schedule multiplies the rate by ``gamma``.
        gamma: factor of the ``step`` schedule.
        gradient_clip: clip the global gradient norm to this (0 = off).
    """

    name: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    nesterov: bool = False
    warmup_steps: int = 0
    schedule: str = "constant"
    min_lr: float = 0.0
    decay_rate: float = 0.9999
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    gradient_clip: float = 0.0


@dataclass
class TrainerConfig:
    """What Lightning's Trainer gets, plus the run's seed.

    Attributes:
        max_steps: optimiser steps in all.
        max_minutes: wall-clock budget (None = no limit); the run stops and checkpoints.
        accelerator: ``auto``, ``cpu``, ``gpu`` / ``cuda``, ``mps``.
        devices: ``auto`` or a count such as ``"2"``.
        num_nodes: machines for multi-node DDP.
        strategy: ``auto``, ``ddp``, ``ddp_spawn``, ...
        precision: ``32-true``, ``bf16-mixed``, ``16-mixed``.
        log_every_n_steps: logging interval.
        val_every_n_steps: validation interval in steps.
        limit_val_batches: validation batches per check.
        checkpoint_every_n_steps: checkpoint interval (``last.ckpt`` is refreshed each time).
        keep_checkpoints: step checkpoints kept besides ``last.ckpt`` (-1 = all).
        seed: every random draw of the run derives from it (and the step), so resume is exact.
        deterministic: ask torch for deterministic kernels.
        progress_bar: show Lightning's progress bar.
        nonfinite_guard: skip (and count) a step whose loss or gradient is NaN / inf
            (:mod:`sketchssl.train.guard`).
        nonfinite_max_consecutive: after this many skipped steps in a row, roll back to the last
            checkpoint from before them (0: skip only, never roll back).
        nonfinite_lr_factor: each rollback multiplies the learning rate by this.
        nonfinite_max_rollbacks: after this many rollbacks the run stops with an error.
        threads: torch intra-op threads: ``auto`` (the cores no other process is using when
            the run starts, :func:`sketchssl.threads.choose_threads`) or a number.
    """

    max_steps: int = 1000
    max_minutes: float | None = None
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 10
    val_every_n_steps: int = 250
    limit_val_batches: int = 20
    checkpoint_every_n_steps: int = 250
    keep_checkpoints: int = 2
    seed: int = 0
    deterministic: bool = False
    progress_bar: bool = True
    nonfinite_guard: bool = True
    nonfinite_max_consecutive: int = 5
    nonfinite_lr_factor: float = 0.5
    nonfinite_max_rollbacks: int = 3
    threads: int | str = "auto"


@dataclass
class RunConfig:
    """A whole run: which method, its hyper-parameters and the three other sections."""

    method: str
    preset: str
    model: Any
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists) for YAML files and checkpoints."""

        def plain(value: Any) -> Any:
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                return {key: plain(item) for key, item in dataclasses.asdict(value).items()}
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(item) for item in value]
            return value

        return {
            "method": self.method,
            "preset": self.preset,
            **{section: plain(getattr(self, section)) for section in SECTIONS},
        }


def _config_root() -> Path:
    return Path(str(resources.files("sketchssl") / "configs"))


def preset_path(method: str, preset: str) -> Path:
    """Path of ``configs/<method>/<preset>.yaml`` inside the installed package."""
    return _config_root() / method / f"{preset}.yaml"


def available_presets(method: str) -> list[str]:
    """Names of the presets shipped for ``method``."""
    folder = _config_root() / method
    return sorted(path.stem for path in folder.glob("*.yaml")) if folder.is_dir() else []


def load_run_config(
    method: str,
    preset: str | None = "tiny",
    overrides: list[str] | None = None,
    *,
    config_file: str | Path | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """Resolve a run's configuration.

    Order, later wins: dataclass defaults, ``base`` (e.g. the config saved in a run folder), the
    preset YAML (or ``config_file``), the dotlist ``overrides``.

    Raises:
        ConfigError: unknown method / preset / section / key, or a value of the wrong type.
    """
    from sketchssl.methods import get_method

    method_class = get_method(method)
    merged: dict[str, Any] = dict(base or {})
    if config_file is not None:
        merged = deep_merge(merged, load_yaml(config_file))
    elif preset is not None:
        path = preset_path(method, preset)
        if not path.is_file():
            known = available_presets(method)
            raise ConfigError(
                f"unknown preset {preset!r} for method {method!r}.{close_match(preset, known)} "
                f"Presets: {', '.join(known) or '(none)'}"
            )
        merged = deep_merge(merged, load_yaml(path))
    merged = deep_merge(merged, parse_overrides(overrides or []))
    merged.pop("method", None)
    merged.pop("preset", None)
    for section in merged:
        if section not in SECTIONS:
            raise ConfigError(
                f"unknown config section {section!r}.{close_match(section, SECTIONS)} "
                f"Sections: {', '.join(SECTIONS)}"
            )
    model = dataclass_from_mapping(method_class.config_class, merged.get("model"), "model")
    return RunConfig(
        method=method,
        preset=preset or str(config_file),
        model=model,
        data=dataclass_from_mapping(DataConfig, merged.get("data"), "data"),
        optim=dataclass_from_mapping(OptimConfig, merged.get("optim"), "optim"),
        trainer=dataclass_from_mapping(TrainerConfig, merged.get("trainer"), "trainer"),
    )
