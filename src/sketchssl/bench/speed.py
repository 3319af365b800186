"""The speed suite: data-view, training and embedding throughput, and model FLOPs utilisation.

For one method and run configuration, on real batches of a store prepared exactly as
``sketchssl train`` prepares them (same views, same length-bucketed step-seeded sampler):

* data-view sketches/s: building the batches in one process, as one DataLoader worker does
  (sequence view, renders of pretext copies, patch canvases);
* training sketches/s: forward + backward + optimiser step, after warm-up steps;
* embedding sketches/s: ``embed`` under ``no_grad`` in eval mode;
* model FLOPs utilisation (MFU): FLOPs of the measured steps, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` on the same batches, per second, divided by the
  matrix-product peak of the same device measured in the same run (:func:`matmul_peak`). Data
  loading is in neither rate.

The measurements follow nanoGPT's ``bench.py`` and PaLM's MFU definition (Chowdhery et al. 2022,
appendix B): achieved model FLOPs over the hardware's peak, here the peak this process reaches
with float32 ``torch.mm`` rather than a datasheet number.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from sketchssl.data.store import SketchStore
from sketchssl.methods import build_method
from sketchssl.render.pair_view import PAIR_VIEW, views_without_pairs
from sketchssl.train.config import RunConfig
from sketchssl.train.data import make_dataset
from sketchssl.train.module import build_optimizer
from sketchssl.train.sampler import StepSeededBatchSampler

__all__ = [
    "SpeedRow",
    "collate",
    "decoding_steps",
    "matmul_peak",
    "measure_sampling",
    "measure_speed",
    "points_per_sketch",
    "synchronize",
]


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (CUDA timings are asynchronous otherwise)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    device: str | torch.device = "cpu",
    size: int = 2048,
    repeats: int = 5,
    dtype: torch.dtype = torch.float32,
) -> float:
    """Best matrix-product rate of ``device`` in ``dtype`` (FLOP/s), measured now.

    ``2 * size**3`` FLOPs per product, best of ``repeats`` timed products after one warm-up.
    On CUDA, TF32 is used only if the process enabled it (``torch.backends.cuda.matmul``).
    """
    device = torch.device(device)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)  # warm-up
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def collate(dataset: Any, positions: Sequence[int]) -> dict[str, torch.Tensor]:
    """Stack the items at ``positions`` of ``dataset`` into one batch, as a DataLoader does."""
    items = [dataset[int(position)] for position in positions]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def points_per_sketch(batch: dict[str, torch.Tensor], store: SketchStore) -> float:
    """Mean points per sketch of a batch: its length mask, else the store's lengths."""
    if "mask" in batch:
        return float(batch["mask"].sum(1).float().mean())
    return float(store.lengths[batch["index"].numpy()].mean())


def decoding_steps(drawn: torch.Tensor) -> int:
    """Autoregressive steps a sampled ``(B, T, 5)`` batch ran: until its longest sketch ended.

    A sketch's end row counts as a step; a sketch that never ends ran all ``T`` steps.

    Examples:
        >>> drawn = torch.zeros(2, 6, 5)
        >>> drawn[0, 2, 4] = 1   # the first sketch ends at row 2 (3 steps)
        >>> decoding_steps(drawn)   # the second never ends
        6
    """
    ended = drawn[..., 4] > 0  # (B, T)
    last_row = torch.full_like(ended[:, 0], drawn.shape[1] - 1, dtype=torch.long)
    first_end = torch.where(ended.any(1), ended.float().argmax(1), last_row)  # (B,)
    return int(first_end.max()) + 1


@dataclass
class SpeedRow:
    """Throughput of one method and preset (rates in sketches per second).

    ``train_mfu`` / ``embed_mfu`` are None when FLOPs were not counted. ``dataset_seconds`` is
    the time to open the train split's dataset (e.g. the scale-factor pass of ``std``
    normalisation), paid again by every evaluation.
    """

    method: str
    preset: str
    device: str
    parameters: int
    batch_size: int
    steps: int
    mean_points_per_sketch: float
    view_sketches_per_s: float
    train_sketches_per_s: float
    train_seconds_per_step: float
    embed_sketches_per_s: float
    train_model_flops_per_s: float | None = None
    embed_model_flops_per_s: float | None = None
    train_mfu: float | None = None
    embed_mfu: float | None = None
    generate_seconds_per_step: float | None = None
    dataset_seconds: float = 0.0
    embedding_dim: int = 0

    def with_peak(self, peak_flops: float) -> SpeedRow:
        """This row with the MFU columns filled from the device's matrix-product peak."""
        if self.train_model_flops_per_s is not None:
            self.train_mfu = self.train_model_flops_per_s / peak_flops
        if self.embed_model_flops_per_s is not None:
            self.embed_mfu = self.embed_model_flops_per_s / peak_flops
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the JSON report."""
        return asdict(self)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in batch.items()}


def _generate_seconds_per_step(
    model: Any, batch: dict[str, torch.Tensor], device: torch.device, steps: int = 16
) -> float | None:
    """Seconds per decoding step of ``generate`` on ``batch`` (methods that heal only)."""
    if hasattr(model, "generator"):
        model.generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        model.generate(batch, temperature=0.24, max_len=2)  # warm-up
        synchronize(device)
        start = time.perf_counter()
        drawn = model.generate(batch, temperature=0.24, max_len=steps)  # (B, T, 5)
        synchronize(device)
    return (time.perf_counter() - start) / decoding_steps(drawn)


def measure_speed(
    config: RunConfig,
    store: SketchStore,
    *,
    steps: int = 5,
    warmup: int = 2,
    device: str | torch.device = "cpu",
    count_flops: bool = True,
    time_generation: bool = False,
    model: Any | None = None,
    autocast_dtype: torch.dtype | None = None,
    distinct_batches: int | None = None,
) -> SpeedRow:
    """Throughput of ``config``'s method on ``store``'s train split (untrained by default).

    Args:
        config: the run configuration as training resolves it (store settings filled in).
        store: the store the batches come from.
        steps: measured steps (training and embedding each).
        warmup: unmeasured steps first (allocator, kernels, lazy initialisation).
        device: where the model runs; batches are built on the CPU and moved.
        count_flops: count the FLOPs of the measured steps (a second, untimed pass).
        time_generation: also time ``generate`` per decoding step (methods that heal).
        model: measure this model (e.g. trained weights) instead of a fresh one; it is
            trained for ``warmup + steps`` steps in place.
        autocast_dtype: run the steps under ``torch.autocast`` in this dtype (``torch.bfloat16``
            for mixed precision on a GPU); None runs in float32.
        distinct_batches: build only this many batches and cycle through them (large presets:
            hundreds of 224-px image batches do not fit in memory); None builds one per step.
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, got {steps} and {warmup}")
    device = torch.device(device)
    torch.manual_seed(config.trainer.seed)
    if model is None:
        model = build_method(config.method, asdict(config.model))
    model = model.to(device)
    start = time.perf_counter()
    dataset = make_dataset(config.data, store, config.data.train_split)
    dataset_seconds = time.perf_counter() - start
    batch_size = config.data.batch_size
    sampler = StepSeededBatchSampler(
        len(dataset),
        batch_size,
        seed=config.trainer.seed,
        lengths=store.lengths[dataset.indices] if config.data.bucket_by_length else None,
    )
    view_seconds = 0.0
    built: list[dict[str, torch.Tensor]] = []
    timed_builds = 0
    total = warmup + steps
    for step in range(total if distinct_batches is None else min(total, distinct_batches)):
        start = time.perf_counter()
        batch = collate(dataset, sampler.batch_at(step))
        if step >= warmup or distinct_batches is not None:
            view_seconds += time.perf_counter() - start
            timed_builds += 1
        built.append(batch)
    batches = [built[step % len(built)] for step in range(total)]
    built_sketches = sum(len(next(iter(batch.values()))) for batch in built[-timed_builds:])
    sketches = sum(len(next(iter(batch.values()))) for batch in batches[warmup:])
    on_device_built = [_to(batch, device) for batch in built]
    on_device = [on_device_built[step % len(built)] for step in range(total)]
    optimizer = build_optimizer(model.parameters(), config.optim)
    autocast = (
        torch.autocast(device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )

    def train_step(batch: dict[str, torch.Tensor]) -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = model.loss(batch)["loss"]
        loss.backward()
        optimizer.step()

    model.train()
    for batch in on_device[:warmup]:
        train_step(batch)
    synchronize(device)
    start = time.perf_counter()
    for batch in on_device[warmup:]:
        train_step(batch)
    synchronize(device)
    train_seconds = time.perf_counter() - start

    embed_batches = on_device
    if PAIR_VIEW in config.data.views:
        # the contrastive methods train on two copies and embed the plain view
        plain = dataclasses.replace(config.data, views=views_without_pairs(config.data.views))
        plain_dataset = make_dataset(plain, store, config.data.train_split)
        plain_built = [
            _to(collate(plain_dataset, sampler.batch_at(step)), device)
            for step in range(len(built))
        ]
        embed_batches = [plain_built[step % len(plain_built)] for step in range(total)]
    model.eval()
    with torch.no_grad(), autocast:
        embedding_dim = int(model.embed(embed_batches[0]).shape[1])  # (B, D)
        synchronize(device)
        start = time.perf_counter()
        for batch in embed_batches[warmup:]:
            model.embed(batch)
        synchronize(device)
        embed_seconds = time.perf_counter() - start

    row = SpeedRow(
        method=config.method,
        preset=config.preset,
        device=str(device),
        parameters=sum(parameter.numel() for parameter in model.parameters()),
        batch_size=batch_size,
        steps=steps,
        mean_points_per_sketch=float(
            np.mean([points_per_sketch(batch, store) for batch in batches[warmup:]])
        ),
        view_sketches_per_s=built_sketches / max(view_seconds, 1e-9),
        train_sketches_per_s=sketches / train_seconds,
        train_seconds_per_step=train_seconds / steps,
        embed_sketches_per_s=sketches / embed_seconds,
        dataset_seconds=dataset_seconds,
        embedding_dim=embedding_dim,
    )
    if count_flops:
        # FLOPs of one pass over the distinct batches, scaled to the measured steps
        counted = on_device[warmup:] if distinct_batches is None else on_device_built
        scale = steps / len(counted)
        model.train()
        with FlopCounterMode(display=False) as counter:
            for batch in counted:
                with autocast:
                    loss = model.loss(batch)["loss"]
                loss.backward()
        row.train_model_flops_per_s = scale * counter.get_total_flops() / train_seconds
        model.eval()
        counted_embeds = (
            embed_batches[warmup:] if distinct_batches is None else embed_batches[: len(counted)]
        )
        with torch.no_grad(), autocast, FlopCounterMode(display=False) as counter:
            for batch in counted_embeds:
                model.embed(batch)
        row.embed_model_flops_per_s = scale * counter.get_total_flops() / embed_seconds
    if time_generation:
        model.eval()
        row.generate_seconds_per_step = _generate_seconds_per_step(model, on_device[-1], device)
    return row


def measure_sampling(
    model: Any,
    dataset: Any,
    batch_sizes: Sequence[int],
    max_len: int,
    *,
    repeats: int = 2,
    device: str | torch.device = "cpu",
) -> list[dict[str, float]]:
    """Conditional sampling speed: encode the first sketches of ``dataset``, decode from ``mu``.

    For each batch size, the best of ``repeats`` timed ``generate`` calls (after a short warm-up)
    with the autoregressive steps it actually ran (:func:`decoding_steps`): an untrained decoder
    ends its sketches after a few points, so the rate is meaningful with trained weights only.
    """
    device = torch.device(device)
    model.eval()
    rows = []
    for batch_size in batch_sizes:
        batch = _to(collate(dataset, list(range(batch_size))), device)

        def reseed() -> None:
            if hasattr(model, "generator"):
                model.generator = torch.Generator(device=device).manual_seed(0)

        reseed()
        with torch.no_grad():
            model.generate(batch, temperature=0.24, max_len=8)  # warm-up
        best, steps = float("inf"), 0
        for _ in range(repeats):
            reseed()
            synchronize(device)
            start = time.perf_counter()
            with torch.no_grad():
                drawn = model.generate(batch, temperature=0.24, max_len=max_len)  # (B, T, 5)
            synchronize(device)
            seconds = time.perf_counter() - start
            if seconds < best:
                best, steps = seconds, decoding_steps(drawn)
        rows.append(
            {
                "batch_size": batch_size,
                "max_len": max_len,
                "steps_run": steps,
                "seconds": best,
                "sample_sketches_per_s": batch_size / best,
                "ms_per_step": 1000 * best / steps,
            }
        )
    return rows
