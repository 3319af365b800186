"""A batch sampler whose every batch is a function of (seed, global step): exact resume.

Lightning restores the step, the optimiser and the loops from a checkpoint, but a plain
DataLoader starts its epoch again from the first batch. Here batch ``b`` (counted over the whole
run) is cut from the permutation of epoch ``b // batches_per_epoch``, drawn from
``(seed, epoch)``; a new iterator asks for the step it starts at, so a resumed run reads exactly
the batches the uninterrupted run would have read, whatever the number of workers.

Under DDP every rank draws the same global batch of ``batch_size * world_size`` indices and keeps
its own slice, so the global batch does not depend on the number of processes.

With ``lengths`` given, batches are bucketed by length: each epoch's permutation is cut into
windows of ``bucket_window`` global batches, each window is sorted by sketch length and cut into
batches, and the batches of the epoch are shuffled. Every sketch is still seen once per epoch,
but a batch pads to a similar length, which makes transformer and RNN steps several times
cheaper on QuickDraw's long-tailed lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from torch.utils.data import Sampler

__all__ = ["StepSeededBatchSampler"]


class StepSeededBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset positions, one list per optimiser step.

    Args:
        dataset_size: number of items in the dataset.
        batch_size: items per batch on this rank.
        seed: the run's seed.
        start_step: callable giving the global step the next iterator starts at (the trainer's
            ``global_step``); None starts at 0.
        rank: this process's rank.
        world_size: number of processes.
        lengths: per-item sequence lengths; turns on length bucketing.
        bucket_window: global batches per sorting window (bucketing only).
        tag_epochs: yield ``epoch * dataset_size + position`` instead of ``position``, so a
            dataset that augments (:meth:`sketchssl.render.views.SketchDataset.sketch_at`) knows
            the epoch of each draw, in whichever worker it runs.

    Examples:
        >>> sampler = StepSeededBatchSampler(10, batch_size=4, seed=0)
        >>> len(sampler)  # full batches per epoch; the remainder of each epoch is dropped
        2
        >>> first = next(iter(sampler)); len(first)
        4
    """

    def __init__(
        self,
        dataset_size: int,
        batch_size: int,
        seed: int,
        start_step: Callable[[], int] | None = None,
        rank: int = 0,
        world_size: int = 1,
        lengths: np.ndarray | None = None,
        bucket_window: int = 50,
        tag_epochs: bool = False,
    ) -> None:
        global_batch = batch_size * world_size
        if dataset_size < global_batch:
            raise ValueError(
                f"the dataset has {dataset_size} items, fewer than one global batch "
                f"({batch_size} x {world_size} processes); lower data.batch_size"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size
        self.batches_per_epoch = dataset_size // global_batch
        if lengths is not None and len(lengths) != dataset_size:
            raise ValueError(f"{len(lengths)} lengths for a dataset of {dataset_size} items")
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.bucket_window = max(1, int(bucket_window))
        self.tag_epochs = tag_epochs
        self._epoch_cache: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.batches_per_epoch

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of epoch ``epoch`` (the same on every rank)."""
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(self.dataset_size)
            if self.lengths is not None:
                order = self._bucketed(order, rng)
            self._epoch_cache = (epoch, order)
        return self._epoch_cache[1]

    def _bucketed(self, order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        global_batch = self.batch_size * self.world_size
        used = self.batches_per_epoch * global_batch
        window = self.bucket_window * global_batch
        pieces = []
        for start in range(0, used, window):
            chunk = order[start : min(start + window, used)]
            pieces.append(chunk[np.argsort(self.lengths[chunk], kind="stable")])
        batches = np.concatenate(pieces).reshape(self.batches_per_epoch, global_batch)
        batches = batches[rng.permutation(self.batches_per_epoch)]
        return np.concatenate([batches.reshape(-1), order[used:]])

    def batch_at(self, step: int) -> list[int]:
        """This rank's dataset positions for global step ``step``."""
        epoch, within = divmod(step, self.batches_per_epoch)
        global_batch = self.batch_size * self.world_size
        start = within * global_batch + self.rank * self.batch_size
        positions = self.permutation(epoch)[start : start + self.batch_size]
        if self.tag_epochs:
            positions = positions + epoch * self.dataset_size
        return positions.tolist()

    def __iter__(self) -> Iterator[list[int]]:
        step = int(self.start_step()) if self.start_step is not None else 0
        # Finish the epoch the step falls in, so Lightning's epoch boundaries stay where the
        # uninterrupted run has them.
        end = (step // self.batches_per_epoch + 1) * self.batches_per_epoch
        for current in range(step, end):
            yield self.batch_at(current)
