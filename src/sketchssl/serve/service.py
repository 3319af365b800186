"""The models behind the demo: an encoder checkpoint, an optional gallery and healing checkpoint.

* **embed / neighbours**: the encoder's ``embed`` of the drawing; neighbours are the gallery
  sketches (a store's train split, embedded once at start-up) of highest cosine similarity.
* **classify**: a checkpoint with a classifier head over the store's classes (``num_classes``,
  e.g. ``sketch_bert_cls``) uses it (softmax); any other uses weighted kNN over the gallery
  embeddings (InstDisc's vote, k = 20, T = 0.07; :mod:`sketchssl.eval.knn`), and says so.
* **complete**: Sketch-BERT's Sketch Gestalt Model (Lin et al., CVPR 2020) fills in hidden
  points: SGM masks at ``keep_prob`` over the drawing, as :mod:`sketchssl.eval.samples` does
  for store sketches, optionally plus one more stroke whose positions are all hidden.
* **heal**: patch masking at ``mask_prob`` (SP-gra2seq's corruption; for sequence methods the
  points inside masked squares are deleted) and the healing checkpoint's ``generate``, as
  :func:`sketchssl.eval.healing.generate_sketches` does; and the drawer's strokes kept, with the
  healer's decoder drawing on where they were cut (:data:`DEMO_FILL`).

Models run one request at a time (a lock), on the CPU, in eval mode.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from sketchssl.data.formats import stroke3_to_absolute, stroke5_to_stroke3
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError, StoreError
from sketchssl.eval.baselines import embed_dataset
from sketchssl.eval.continuation import ContinueConfig
from sketchssl.eval.fill import FillConfig, fill_erased
from sketchssl.eval.healing import (
    SketchCodec,
    continue_corrupted,
    corrupt_inputs,
    generate_sketches,
)
from sketchssl.eval.knn import KNNConfig, knn_class_scores
from sketchssl.eval.neighbors import top_k_neighbors
from sketchssl.eval.representation import is_label_classifier
from sketchssl.methods.masking import draw_gestalt_masks
from sketchssl.render.patch_view import PATCH_VIEW, masked_slots, patch_config_from_data
from sketchssl.render.patches import make_mask_table
from sketchssl.serve.drawing import SimplifiedDrawing, locate_part, to_drawing_units, to_strokes
from sketchssl.serve.views import DrawingViews, dataset_for

__all__ = ["LoadedCheckpoint", "Gallery", "ModelService", "load_checkpoint", "embed_gallery"]

Progress = Callable[[str], None]


#: The demo's "input kept" view: the healer's continuations of the drawer's strokes, at the
#: settings chosen for the shipped healer on the SPG20 valid split (RESULTS.md, "Drawing on
#: from the kept strokes": Rec 39.6 %, Ret@1 26.4 % at mask 0.3 against 38.2 % and 16.5 % for
#: the redrawing's fill at radius 0.1).
DEMO_FILL = FillConfig(
    radius=0.1, join=1.5, source="continue", continuation=ContinueConfig(pen_threshold=0.7)
)


def fill_kept_drawing(
    codec: SketchCodec,
    prepared: np.ndarray,
    corrupted: np.ndarray,
    healed: np.ndarray,
    row: np.ndarray,
    mask_prob: float,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The corrupted drawing filled (:data:`DEMO_FILL`) and its first point in its frame.

    A healer that cannot continue strokes (no global offset scale) is filled from its
    redrawing instead.
    """
    try:
        [continued] = continue_corrupted(
            codec, [prepared], [corrupted], [row], mask_prob, DEMO_FILL.continuation, seed=seed
        )
    except ConfigError:
        return fill_erased(corrupted, healed, replace(DEMO_FILL, source="redraw"), with_start=True)
    if continued is None:
        return np.asarray(corrupted), np.zeros(2)
    drawn, start = continued
    return fill_erased(corrupted, drawn, DEMO_FILL, drawn_start=start, with_start=True)


@dataclass
class LoadedCheckpoint:
    """A method with its run configuration and its preprocessing of request drawings.

    Attributes:
        path: the checkpoint file.
        method: the model, eval mode, CPU.
        run_config: its run configuration.
        views: builds its input batches from raw stroke-3 drawings.
        reference: the store its preprocessing (scale, class names) comes from.
    """

    path: Path
    method: Any
    run_config: dict[str, Any]
    views: DrawingViews
    reference: SketchStore

    @property
    def data(self) -> dict[str, Any]:
        """The run configuration's data section."""
        return dict(self.run_config.get("data", {}))

    @property
    def name(self) -> str:
        """The registered method name."""
        return str(self.run_config.get("method", self.method.name))


def reference_store(path: Path, run_config: dict[str, Any], gallery: SketchStore | None) -> Any:
    """The checkpoint's training store if it is still there, else the gallery store.

    The training store gives the scale of ``std`` normalisation and the classifier's class names.
    """
    trained_on = run_config.get("data", {}).get("store")
    if trained_on and Path(trained_on).is_dir():
        try:
            return SketchStore.open(trained_on)
        except StoreError:
            pass
    if gallery is not None:
        return gallery
    raise ConfigError(
        f"{path}: its training store {trained_on!r} cannot be opened and no gallery was given; "
        "pass --gallery STORE (its train split then gives the data scale)"
    )


def load_checkpoint(path: str | Path, gallery: SketchStore | None = None) -> LoadedCheckpoint:
    """Load a checkpoint (or a shipped encoder by name) and its preprocessing.

    The offset scale of ``std`` normalisation is the one a shipped encoder carries, else the
    reference store's train-split scale.
    """
    from sketchssl.pretrained import load_model

    method, run_config = load_model(path)
    path = Path(path)
    store = reference_store(path, run_config, gallery)
    data = dict(run_config.get("data", {}))
    template = dataset_for(store, data, "train", scale=data.get("scale"))
    return LoadedCheckpoint(path, method, run_config, DrawingViews(template), store)


@dataclass
class Gallery:
    """Embedded sketches of a store's train split.

    Attributes:
        store: the gallery store.
        indices: ``(G,)`` store indices, ascending.
        embeddings: ``(G, D)`` float32 encoder embeddings.
        labels: ``(G,)`` int64 class indices (-1 unlabelled).
    """

    store: SketchStore
    indices: np.ndarray
    embeddings: torch.Tensor
    labels: torch.Tensor

    @property
    def labelled(self) -> bool:
        """Whether every gallery sketch has a class (kNN classification needs it)."""
        return bool(len(self.labels)) and bool((self.labels >= 0).all())


def embed_gallery(
    encoder: LoadedCheckpoint,
    store: SketchStore,
    *,
    max_sketches: int | None = 3000,
    batch_size: int = 64,
    seed: int = 0,
) -> Gallery:
    """Embed the train split of ``store`` (a seeded subset of ``max_sketches``) with ``encoder``.

    The subset is drawn as ``sketchssl eval --max-gallery`` draws it, so it keeps the class mix.
    """
    dataset = dataset_for(store, encoder.data, "train", scale=encoder.views.base.scale)
    if len(dataset) == 0:
        raise ConfigError(f"{store.path}: the train split is empty; it cannot be a gallery")
    if max_sketches is not None and max_sketches < len(dataset):
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(dataset), generator=generator)[:max_sketches]
        dataset.indices = dataset.indices[keep.sort().values.numpy()]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    embeddings, labels = embed_dataset(encoder.method, loader, "cpu")  # (G, D), (G,)
    return Gallery(store, np.sort(np.asarray(dataset.indices)), embeddings, labels)


def healer_classes(healer: LoadedCheckpoint | None) -> list[str] | None:
    """The class names a healing checkpoint was trained on; None without one or when unknown."""
    from sketchssl.pretrained import training_classes

    if healer is None:
        return None
    return training_classes(healer.path)


def heals(method: Any) -> bool:
    """Whether ``generate`` follows the healing protocol (``batch, temperature, greedy, ...``)."""
    from sketchssl.eval.generation import can_draw

    if not can_draw(method):
        return False
    parameters = inspect.signature(method.generate).parameters
    return "temperature" in parameters and "greedy" in parameters


class ModelService:
    """Everything the API endpoints compute.

    Args:
        encoder: the main checkpoint (embeddings; classifier head; Sketch-BERT completion).
        gallery: embedded gallery sketches, or None.
        healer: a generative checkpoint for healing, or None.
        knn: kNN settings of classification without a head.
        linear_head: a :class:`~sketchssl.eval.classify.LinearHead` over the encoder's features
            (a shipped encoder's head); classification uses it before kNN.
    """

    def __init__(
        self,
        encoder: LoadedCheckpoint,
        gallery: Gallery | None = None,
        healer: LoadedCheckpoint | None = None,
        knn: KNNConfig | None = None,
        linear_head: Any = None,
    ) -> None:
        if healer is not None and not heals(healer.method):
            raise ConfigError(
                f"{healer.path} is a {healer.name!r} checkpoint, which cannot heal: pass a "
                "generative method whose generate() takes a corrupted sketch (e.g. sketch_rnn)"
            )
        self.encoder = encoder
        self.gallery = gallery
        self.healer = healer
        # the classes the healer was trained on (None: not known), shown by the page
        self.heal_classes = healer_classes(healer)
        self.knn = knn or KNNConfig()
        self.linear_head = linear_head
        self._lock = threading.Lock()

    @classmethod
    def from_paths(
        cls,
        checkpoint: str | Path,
        *,
        gallery: str | Path | None = None,
        heal_checkpoint: str | Path | None = None,
        max_gallery: int | None = 3000,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> ModelService:
        """Load the checkpoints and embed the gallery; ``progress`` hears what is going on."""
        say = progress or (lambda message: None)
        gallery_store = SketchStore.open(gallery) if gallery is not None else None
        encoder = load_checkpoint(checkpoint, gallery_store)
        say(f"loaded {encoder.name} from {checkpoint}")
        embedded = None
        if gallery_store is not None:
            embedded = embed_gallery(encoder, gallery_store, max_sketches=max_gallery, seed=seed)
            say(f"embedded {len(embedded.indices)} gallery sketches of {gallery}")
        healer = None
        if heal_checkpoint is not None:
            healer = load_checkpoint(heal_checkpoint, gallery_store)
            say(f"loaded {healer.name} from {heal_checkpoint} for healing")
        from sketchssl import pretrained

        head = None
        if not Path(checkpoint).is_file() and pretrained.has_head(str(checkpoint)):
            head = pretrained.load_head(str(checkpoint))
            say(f"classifying with the linear head shipped with {checkpoint}")
        return cls(encoder, embedded, healer, linear_head=head)

    # ------------------------------------------------------------------------ what is on offer
    @property
    def classify_source(self) -> str | None:
        """``"classifier_head"``, ``"linear_head"``, ``"knn"`` or None (no way to classify)."""
        if is_label_classifier(self.encoder.method):
            return "classifier_head"
        if self.linear_head is not None:
            return "linear_head"
        if self.gallery is not None and self.gallery.labelled:
            return "knn"
        return None

    @property
    def can_complete(self) -> bool:
        """Whether the encoder is a Sketch Gestalt Model (``sketch_bert``)."""
        method = self.encoder.method
        return hasattr(method, "predict") and hasattr(method, "draw_masks")

    @property
    def class_names(self) -> list[str]:
        """Names of the classes the classifier scores (head: the training store's)."""
        if self.classify_source == "classifier_head":
            count = int(self.encoder.method.config.num_classes)
            names = self.encoder.reference.class_names
            if len(names) != count and self.gallery is not None:
                names = self.gallery.store.class_names
            return names if len(names) == count else [f"class {i}" for i in range(count)]
        if self.classify_source == "linear_head":
            return list(self.linear_head.class_names)
        return self.gallery.store.class_names if self.gallery is not None else []

    # ------------------------------------------------------------------------------ endpoints
    @torch.no_grad()
    def embed(self, drawing: SimplifiedDrawing) -> torch.Tensor:
        """``(D,)`` embedding of the drawing."""
        with self._lock:
            batch = self.encoder.views.batch([drawing.stroke3])
            return self.encoder.method.embed(batch)[0].float()  # (D,)

    @torch.no_grad()
    def classify(self, drawing: SimplifiedDrawing, top: int = 5) -> list[tuple[int, str, float]]:
        """``(class index, name, score)`` of the ``top`` classes, best first.

        Raises:
            ConfigError: no classifier head and no labelled gallery.
        """
        source = self.classify_source
        if source is None:
            raise ConfigError(
                "no classifier: the checkpoint has no classifier head and no labelled gallery "
                "was given; start the server with --gallery STORE"
            )
        names = self.class_names
        if source == "classifier_head":
            with self._lock:
                batch = self.encoder.views.batch([drawing.stroke3])
                scores = torch.softmax(self.encoder.method.logits(batch)[0].float(), dim=0)  # (C,)
        elif source == "linear_head":
            features = self.embed(drawing)[None]  # (1, D)
            scores = torch.softmax(self.linear_head(features)[0].float(), dim=0)  # (C,)
        else:
            gallery = self.gallery
            query = self.embed(drawing)[None]  # (1, D)
            k = min(self.knn.k, len(gallery.indices))
            similarities, neighbours = top_k_neighbors(query, gallery.embeddings, k)  # (1, k)
            votes = knn_class_scores(
                similarities, gallery.labels[neighbours], len(names), self.knn.temperature
            )[0]  # (C,)
            scores = votes / votes.sum()
        ranked = torch.argsort(scores, descending=True, stable=True)[:top]
        return [
            (int(index), names[int(index)], float(scores[index]))
            for index in ranked
            if float(scores[index]) > 0.0
        ]

    @torch.no_grad()
    def neighbours(self, drawing: SimplifiedDrawing, k: int = 8) -> list[dict[str, Any]]:
        """The ``k`` gallery sketches nearest to the drawing (cosine), most similar first.

        Raises:
            ConfigError: no gallery was loaded.
        """
        if self.gallery is None:
            raise ConfigError("no gallery: start the server with --gallery STORE")
        gallery = self.gallery
        query = self.embed(drawing)[None]  # (1, D)
        k = min(k, len(gallery.indices))
        similarities, positions = top_k_neighbors(query, gallery.embeddings, k)  # (1, k)
        found = []
        pairs = zip(similarities[0].tolist(), positions[0].tolist(), strict=True)
        for similarity, position in pairs:
            index = int(gallery.indices[position])
            found.append(
                {
                    "index": index,
                    "name": gallery.store.label_name(index),
                    "similarity": round(float(similarity), 4),
                    "drawing": to_strokes(gallery.store[index]),
                }
            )
        return found

    @torch.no_grad()
    def complete(
        self, drawing: SimplifiedDrawing, keep_prob: float = 0.85, extend: int = 0, seed: int = 0
    ) -> dict[str, Any]:
        """Sketch-BERT's gestalt completion of the drawing, in the drawing's frame.

        SGM masks at ``keep_prob`` hide points of the drawing (positions and pen states apart);
        ``extend`` points are appended as one more stroke whose pen states are given and whose
        positions are hidden (as far as the model's length allows). The model fills every
        hidden entry in.

        Raises:
            ConfigError: the encoder is not a Sketch Gestalt Model.
        """
        if not self.can_complete:
            raise ConfigError(
                f"completion needs a sketch_bert checkpoint; this server runs {self.encoder.name!r}"
            )
        method, dataset = self.encoder.method, self.encoder.views.base
        prepared = dataset.prepare(drawing.stroke3)  # clamped, cut to max_len
        codec = SketchCodec(method, dataset)
        with self._lock:
            batch = codec.sequence_batch([prepared])  # strokes5 (1, T, 5), mask (1, T)
            strokes5, mask = batch["strokes5"], batch["mask"]
            length = int(batch["length"][0])  # real rows, start token included
            rows = min(strokes5.shape[1], method.config.max_length)
            appended = max(0, min(extend, rows - length))
            masks = draw_gestalt_masks(
                strokes5, mask, keep_prob, torch.Generator().manual_seed(seed)
            )
            position_mask, state_mask = masks.position.clone(), masks.state.clone()
            if appended:
                # One more stroke: pen states given (down, then up at its last point), positions
                # hidden. The drawing's own last pen state (up) is shown, so no predicted end
                # cuts the new stroke off.
                new_rows = slice(length, length + appended)
                strokes5[0, new_rows] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
                strokes5[0, length + appended - 1] = torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0])
                mask[0, new_rows] = True
                position_mask[0, new_rows] = True
                state_mask[0, length - 1] = False
            completed = method.generate(batch, position_mask, state_mask)[0]  # (T, 5)
        used = length + appended
        start = int(dataset.start_token)
        rows5 = completed[:used].numpy().copy()  # (U, 5)
        # The length is given: a predicted end inside it counts as a pen lift, so it does not
        # cut off the points after it.
        ended = rows5[:, 2:].argmax(axis=1) == 2
        rows5[ended, 2:] = (0.0, 1.0, 0.0)
        completion = stroke5_to_stroke3(rows5, start_token=bool(start))
        if len(completion) == 0:  # an immediate end predicted: draw nothing rather than fail
            completion = np.zeros((1, 3), dtype=np.float32)
        completion[-1, 2] = 1
        completion = to_drawing_units(
            completion,
            prepared,
            dataset.normalization,
            scale=dataset.scale,
            bbox_factor=dataset.bbox_factor,
        )
        # stroke-5 row r (after the start token) is absolute point r - start + 1
        points = stroke3_to_absolute(completion, drawing.start)  # (N + 1, 3)
        rows_hidden = torch.nonzero(position_mask[0, :used]).flatten().tolist()
        predicted = [
            (round(float(points[r - start + 1, 0]), 2), round(float(points[r - start + 1, 1]), 2))
            for r in rows_hidden
            if start <= r and r - start + 1 < len(points)
        ]
        return {
            "input": to_strokes(prepared, drawing.start),
            "completion": to_strokes(completion, drawing.start),
            "predicted_points": predicted,
            "hidden_points": int(masks.position[0, start:].sum()),  # the start row is no point
            "appended_points": appended,
        }

    @torch.no_grad()
    def heal(
        self,
        drawing: SimplifiedDrawing,
        mask_prob: float = 0.3,
        *,
        temperature: float = 0.24,
        greedy: bool = False,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Mask patches of the drawing and let the healing checkpoint redraw it.

        Raises:
            ConfigError: no healing checkpoint was loaded.
        """
        if self.healer is None:
            raise ConfigError("no healing checkpoint: start the server with --heal-checkpoint CKPT")
        healer = self.healer
        dataset = healer.views.base
        data = healer.data
        geometry = patch_config_from_data(data) if PATCH_VIEW in data.get("views", ()) else None
        codec = SketchCodec(healer.method, dataset, geometry)
        prepared = dataset.prepare(drawing.stroke3)
        row = make_mask_table(1, codec.patch_config.max_patches, seed)[0]  # (max_patches,)
        corrupted = corrupt_inputs([prepared], [row], mask_prob, codec.patch_config)[0]
        with self._lock:
            healed = generate_sketches(
                codec,
                [prepared],
                uniforms=[row],
                mask_prob=mask_prob,
                temperature=temperature,
                greedy=greedy,
                seed=seed,
            )[0]
        if dataset.normalization == "bbox":  # to_raw undoes only the global (std) scale
            healed = to_drawing_units(healed, prepared, "bbox", bbox_factor=dataset.bbox_factor)
        _, masked = masked_slots(prepared, row, mask_prob, codec.patch_config)  # (K,) bool
        kind = getattr(healer.method, "healing_input", "sequence")
        note = (
            "sequence-input method: the points inside the masked squares were deleted"
            if kind == "sequence"
            else "patch-input method: it read the masked canvas"
        )
        corrupted_start = drawing.start + locate_part(corrupted, prepared)
        # the drawer's own strokes kept, the healer's decoder drawing on where they were cut
        with self._lock:
            filled, filled_start = fill_kept_drawing(
                codec, prepared, corrupted, healed, row, mask_prob, seed
            )
        return {
            "method": healer.name,
            "corrupted": to_strokes(corrupted, corrupted_start),
            "healed": to_strokes(healed, drawing.start),
            "filled": to_strokes(filled, corrupted_start + filled_start),
            "masked_patches": int(masked.sum()),
            "note": note,
        }

    def info(self) -> dict[str, Any]:
        """What is loaded and which endpoints work."""
        return {
            "method": self.encoder.name,
            "classify": self.classify_source,
            "complete": self.can_complete,
            "heal": self.healer.name if self.healer is not None else None,
            "heal_classes": self.heal_classes,
            "gallery_size": 0 if self.gallery is None else len(self.gallery.indices),
            "classes": len(self.class_names),
        }
