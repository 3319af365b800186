"""The Lightning data module: step-seeded training batches and fixed validation batches."""

from __future__ import annotations

import dataclasses

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset

from sketchssl.data.augment import SketchAugmenter
from sketchssl.data.store import SketchStore
from sketchssl.render.corruption_view import CORRUPTION_VIEW, with_corruption_view
from sketchssl.render.pair_view import PAIR_VIEW, with_pair_view
from sketchssl.render.patch_view import PATCH_VIEW, with_patch_view
from sketchssl.render.pretext import PRETEXT_VIEWS, warp_for
from sketchssl.render.views import SketchDataset
from sketchssl.render.wrapper_views import plain_views
from sketchssl.train.config import DataConfig
from sketchssl.train.sampler import StepSeededBatchSampler

__all__ = ["SketchDataModule", "StepSeededDataLoader", "draws_per_epoch", "make_dataset"]


class StepSeededDataLoader(DataLoader):
    """A DataLoader driven by :class:`StepSeededBatchSampler`.

    Its position is a function of the trainer's global step, which the checkpoint already
    holds, so its own state is empty; having ``state_dict`` tells Lightning the loader resumes
    mid-epoch correctly.
    """

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        return None


def make_dataset(
    data: DataConfig,
    store: SketchStore,
    split: str,
    scale: float | None = None,
    seed: int = 0,
    mask_prob: float | None = None,
) -> Dataset:
    """The dataset of one split as ``data`` configures it.

    A :class:`SketchDataset`, wrapped by :class:`~sketchssl.render.patch_view.PatchViewDataset`
    when ``data.views`` holds ``patches`` (masked at ``data.patch_mask_prob`` unless
    ``mask_prob`` says otherwise; ``seed`` drives the masks), and by
    :class:`~sketchssl.render.pair_view.PairViewDataset` when they hold ``pairs`` (two augmented
    copies of every sketch, drawn from ``seed``). Its ``scale`` is the global
    scale factor of the sequence view. The training split (``data.train_split``) is augmented
    as ``data.augment_*`` say, from ``seed``; other splits never are.
    """
    augmentation = data.augmentation() if split == data.train_split else None
    base = SketchDataset(
        store,
        split=split,
        views=plain_views(data.views),
        max_len=data.max_len,
        normalization=data.normalization,
        scale=scale,
        raster_size=data.raster_size,
        raster_line_width=data.raster_line_width,
        start_token=data.start_token,
        bbox_factor=data.bbox_factor,
        clamp_limit=data.clamp_limit,
        augment=SketchAugmenter(augmentation, seed=seed) if augmentation else None,
        warp=warp_for(data.deformation, seed),
    )
    settings = dataclasses.asdict(data)
    if CORRUPTION_VIEW in data.views:
        return with_corruption_view(base, settings, seed=seed)
    return with_pair_view(
        with_patch_view(base, settings, mask_prob=mask_prob, seed=seed), settings, seed=seed
    )


def draws_per_epoch(data: DataConfig) -> bool:
    """Whether training items are random draws that should change every epoch.

    True with training augmentation, the ``pairs`` view (two augmented copies a sketch), the
    ``patches`` view masked at training time and a drawn deformation warp: the batch sampler
    then tags each position with its epoch (``epoch * N + item``), so every epoch draws anew
    and a resumed run draws the same as the uninterrupted one. Without the tag, position ``i``
    would get the same draw in every epoch.
    """
    return (
        data.augmentation() is not None
        or PAIR_VIEW in data.views
        or (PATCH_VIEW in data.views and data.patch_mask_prob > 0)
        or (CORRUPTION_VIEW in data.views and data.sequence_mask_prob > 0)
        or (data.deformation == "random" and any(view in PRETEXT_VIEWS for view in data.views))
    )


class SketchDataModule(pl.LightningDataModule):
    """Training batches drawn by :class:`StepSeededBatchSampler`, validation in store order.

    Args:
        data: the data section of the run config.
        seed: the run's seed (the batch order derives from it).
    """

    def __init__(self, data: DataConfig, seed: int) -> None:
        super().__init__()
        self.data = data
        self.seed = seed
        self.store = SketchStore.open(data.store)
        self.train_dataset = make_dataset(data, self.store, data.train_split, seed=seed)
        # The validation split is normalised with the training split's scale factor; its
        # patch masks are fixed (seeded per item), so the validation loss is comparable.
        self.val_dataset = (
            make_dataset(
                data, self.store, data.val_split, scale=self.train_dataset.scale, seed=seed + 1
            )
            if data.val_split and len(self.store.split_indices(data.val_split))
            else None
        )

    def _loader(
        self, dataset: Dataset, loader_class: type[DataLoader] = DataLoader, **kwargs: object
    ) -> DataLoader:
        workers = self.data.num_workers
        return loader_class(
            dataset,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=False,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        sampler = StepSeededBatchSampler(
            len(self.train_dataset),
            self.data.batch_size,
            self.seed,
            start_step=(lambda: trainer.global_step) if trainer is not None else None,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
            lengths=(
                self.store.lengths[self.train_dataset.indices]
                if self.data.bucket_by_length
                else None
            ),
            tag_epochs=draws_per_epoch(self.data),
        )
        return self._loader(self.train_dataset, StepSeededDataLoader, batch_sampler=sampler)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_dataset is None:
            return []
        return self._loader(self.val_dataset, batch_size=self.data.batch_size, shuffle=False)
