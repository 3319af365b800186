"""Part segmentation probe: which semantic part is each point of a sketch?

A second downstream task beside recognition, on stores built from the SPG part annotation
(Li et al., "Universal Sketch Perceptual Grouping", ECCV 2018), the task SketchGNN (Yang et al.,
"SketchGNN: Semantic Sketch Segmentation with Graph Neural Networks", ACM TOG 2021) and the SPG
paper evaluate. Here it probes frozen features, as the linear probe does for classes:

1. every point of a sketch gets a feature from the encoder (:meth:`point_features` of the
   sequence methods: Sketch-BERT, the TCN, the sketch-rnn encoder, SketchGloc's stroke encoder);
2. a linear classifier over every (class, part) pair is fitted on the points of a seeded subset
   of the TRAIN split only (:class:`PartProbeConfig`), standardised with their statistics, by
   L-BFGS; a point may only be given a part of its own sketch's class (the other classes'
   parts get a large negative logit while fitting and predicting), as per-category
   segmentation models are (SketchGNN trains one model a category); the weight decay is chosen
   on a held-out slice of those train sketches;
3. on every point of the TEST split it reports ``part_accuracy`` (the share of points given
   their true part: SketchGNN's P-metric, unweighted) and ``part_miou``: for each category, the
   IoU of each of its parts over all test points of the category (true positives / (true
   positives + false positives + false negatives)), averaged over the category's parts that
   occur in its truth or predictions; then averaged over categories.

Two references sit beside every encoder: the same probe on the raw per-point input
(:func:`point_input_features`: the point's position in its sketch's box, its offset and pen
state) and on the untrained encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from sketchssl.eval.metrics import PART_METRICS
from sketchssl.eval.probe import fit_linear_probe

__all__ = [
    "PART_METRICS",
    "PartProbeConfig",
    "PointSet",
    "collect_points",
    "part_metrics",
    "part_probe_evaluate",
    "point_input_features",
]

_RULED_OUT = -1e4  # logit offset of the parts of other classes


@dataclass(frozen=True)
class PartProbeConfig:
    """Options of the part probe.

    Attributes:
        train_sketches: train-split sketches whose points fit the probe (a seeded subset; about
            50 points each on SPG20, so 1,500 give ~75,000 points).
        weight_decays: candidate L2 penalties (on standardised features).
        holdout_fraction: share of those sketches held out to choose the weight decay.
        max_iterations: L-BFGS iterations per fit.
    """

    train_sketches: int = 1500
    weight_decays: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    holdout_fraction: float = 0.2
    max_iterations: int = 100

    def __post_init__(self) -> None:
        if self.train_sketches < 2:
            raise ValueError(f"train_sketches must be at least 2, got {self.train_sketches}")
        if not self.weight_decays or min(self.weight_decays) < 0:
            raise ValueError(f"weight_decays must be values >= 0, got {self.weight_decays}")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")


@dataclass
class PointSet:
    """The labelled points of some sketches.

    Attributes:
        features: ``(M, D)`` float32, one row per labelled point.
        parts: ``(M,)`` int64 part index within the point's class.
        classes: ``(M,)`` int64 class of the point's sketch.
        sketches: ``(M,)`` int64 store index of the point's sketch.
    """

    features: torch.Tensor
    parts: torch.Tensor
    classes: torch.Tensor
    sketches: torch.Tensor

    def subset(self, keep: torch.Tensor) -> PointSet:
        """The points where ``keep`` (bool ``(M,)``) is True."""
        return PointSet(
            self.features[keep], self.parts[keep], self.classes[keep], self.sketches[keep]
        )


def point_input_features(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The raw per-point input ``(B, T, 7)``, aligned with ``strokes5`` (and ``parts``).

    Each row: the absolute position of the point the row ends at, in the sketch's bounding box
    scaled by its longest side to [0, 1] (centred), the row's offset ``dx, dy`` as the dataset
    normalised it, and its pen state ``p1, p2, p3``. This is what a probe can do from the input
    alone, with no encoder.
    """
    strokes5, mask = batch["strokes5"].float(), batch["mask"].bool()  # (B, T, 5), (B, T)
    real = mask & (strokes5[..., 4] < 0.5)  # (B, T)
    positions = torch.cumsum(strokes5[..., :2] * real[..., None], dim=1)  # (B, T, 2)
    big = torch.finfo(positions.dtype).max
    low = torch.where(real[..., None], positions, big).amin(dim=1, keepdim=True)  # (B, 1, 2)
    high = torch.where(real[..., None], positions, -big).amax(dim=1, keepdim=True)
    extent = (high - low).amax(dim=2, keepdim=True).clamp(min=1e-6)  # (B, 1, 1)
    centred = (positions - (low + high) / 2) / extent + 0.5  # (B, T, 2) in [0, 1]
    features = torch.cat([centred, strokes5], dim=2)  # (B, T, 7)
    return features * real[..., None]


def collect_points(
    features_of: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    dataloader: Iterable[Mapping[str, torch.Tensor]],
    parts_key: str,
    device: torch.device | str = "cpu",
) -> PointSet:
    """Per-point features of every labelled point the ``dataloader`` yields.

    Args:
        features_of: ``batch -> (B, T, D)`` features aligned with ``batch[parts_key]``
            (a method's ``point_features``, or :func:`point_input_features`).
        dataloader: batches with ``parts_key``, ``label`` and ``index``.
        parts_key: ``"parts"`` (rows of ``strokes5``) or ``"point_parts"`` (of ``points``).
        device: where ``features_of`` runs.
    """
    device = torch.device(device)
    features, parts, classes, sketches = [], [], [], []
    with torch.no_grad():
        for batch in dataloader:
            batch = {
                key: value.to(device) if torch.is_tensor(value) else value
                for key, value in batch.items()
            }
            rows = features_of(batch)  # (B, T, D)
            labels = batch[parts_key].long()  # (B, T)
            if rows.shape[1] < labels.shape[1] and not (labels[:, rows.shape[1] :] >= 0).any():
                labels = labels[:, : rows.shape[1]]  # the method trimmed trailing padding
            if rows.shape[:2] != labels.shape:
                raise ValueError(
                    f"point features {tuple(rows.shape[:2])} do not line up with "
                    f"batch[{parts_key!r}] {tuple(labels.shape)}"
                )
            labelled = labels >= 0  # (B, T)
            features.append(rows[labelled].float().cpu())
            parts.append(labels[labelled].cpu())
            row_sketch = torch.arange(len(labels), device=device)[:, None].expand_as(labels)
            classes.append(batch["label"].long()[row_sketch[labelled]].cpu())
            sketches.append(batch["index"].long()[row_sketch[labelled]].cpu())
    if not features:
        raise ValueError("the dataloader yielded no batches: is the split empty?")
    return PointSet(torch.cat(features), torch.cat(parts), torch.cat(classes), torch.cat(sketches))


def _allowed(first: np.ndarray) -> torch.Tensor:
    """``(C, K)`` logit offsets: 0 on each class's own parts, a large negative number elsewhere."""
    classes, total = len(first) - 1, int(first[-1])
    offsets = torch.full((classes, total), _RULED_OUT)
    for label in range(classes):
        offsets[label, int(first[label]) : int(first[label + 1])] = 0.0
    return offsets


def part_metrics(
    predicted: np.ndarray, truth: np.ndarray, classes: np.ndarray, class_names: list[str]
) -> dict[str, float]:
    """``part_accuracy``, ``part_miou`` and ``part_miou/<class>`` (module docstring).

    Args:
        predicted: ``(M,)`` predicted part index (within the class) of each point.
        truth: ``(M,)`` true part index.
        classes: ``(M,)`` class of each point.
        class_names: names of the classes, for the per-class keys.

    Examples:
        >>> part_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), np.zeros(4, int), ["a"])
        {'part_accuracy': 0.75, 'part_miou': 0.5833333333333333, 'part_miou/a': 0.5833333333333333}
    """
    metrics: dict[str, float] = {"part_accuracy": float((predicted == truth).mean())}
    per_class = {}
    for label in np.unique(classes):
        chosen = classes == label
        guess, real = predicted[chosen], truth[chosen]
        ious = []
        for part in np.union1d(guess, real):
            intersection = np.sum((guess == part) & (real == part))
            union = np.sum((guess == part) | (real == part))
            ious.append(intersection / union)
        per_class[class_names[int(label)]] = float(np.mean(ious))
    metrics["part_miou"] = float(np.mean(list(per_class.values())))
    metrics.update({f"part_miou/{name}": value for name, value in sorted(per_class.items())})
    return metrics


def part_probe_evaluate(
    train: PointSet,
    test: PointSet,
    first_part: np.ndarray,
    class_names: list[str],
    *,
    config: PartProbeConfig | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Fit the part probe on ``train`` points and score it on ``test`` points.

    Args:
        train: points of train-split sketches (at most ``config.train_sketches`` of them are
            used: the caller usually collects only those).
        test: points of the test split.
        first_part: ``(C + 1,)`` global part ids of class ``c`` are ``first_part[c] ..
            first_part[c + 1] - 1`` (:meth:`~sketchssl.data.store.SketchStore.part_slots`).
        class_names: the store's class names.
        config: probe options.
        seed: draws the held-out sketches.

    Returns:
        ``part_accuracy``, ``part_miou`` (fractions), ``part_miou/<class>``,
        ``part_weight_decay`` (chosen), ``part_train_points`` and ``part_test_points``.
    """
    config = config or PartProbeConfig()
    if len(train.parts) == 0 or len(test.parts) == 0:
        raise ValueError("the part probe needs labelled points in the train and test sketches")
    first = torch.as_tensor(np.asarray(first_part), dtype=torch.int64)
    offsets = _allowed(np.asarray(first_part))  # (C, K)
    total_parts = offsets.shape[1]

    def global_ids(points: PointSet) -> torch.Tensor:
        return first[points.classes] + points.parts

    generator = torch.Generator().manual_seed(seed)
    sketch_ids = torch.unique(train.sketches)
    if len(sketch_ids) > config.train_sketches:
        chosen = sketch_ids[torch.randperm(len(sketch_ids), generator=generator)]
        train = train.subset(torch.isin(train.sketches, chosen[: config.train_sketches]))
        sketch_ids = torch.unique(train.sketches)
    shuffled = sketch_ids[torch.randperm(len(sketch_ids), generator=generator)]
    held = max(1, round(config.holdout_fraction * len(shuffled)))
    holdout_mask = torch.isin(train.sketches, shuffled[:held])
    fit, holdout = train.subset(~holdout_mask), train.subset(holdout_mask)

    def fitted(points: PointSet, decay: float) -> torch.nn.Module:
        return fit_linear_probe(
            points.features,
            global_ids(points),
            total_parts,
            decay,
            config.max_iterations,
            logit_bias=offsets[points.classes],
        )

    def predict(probe: torch.nn.Module, points: PointSet) -> torch.Tensor:
        with torch.no_grad():
            logits = probe(points.features) + offsets[points.classes]
        return logits.argmax(dim=1) - first[points.classes]  # part index within the class

    best_decay, best_accuracy = config.weight_decays[0], -1.0
    for decay in sorted(config.weight_decays, reverse=True):  # ties keep the stronger penalty
        accuracy = float((predict(fitted(fit, decay), holdout) == holdout.parts).float().mean())
        if accuracy > best_accuracy:
            best_decay, best_accuracy = decay, accuracy
    probe = fitted(train, best_decay)
    metrics = part_metrics(
        predict(probe, test).numpy(), test.parts.numpy(), test.classes.numpy(), class_names
    )
    metrics.update(
        part_weight_decay=best_decay,
        part_train_points=len(train.parts),
        part_test_points=len(test.parts),
    )
    return metrics
