"""Sketch-BERT: a transformer over stroke-5 points, pre-trained as a Sketch Gestalt Model.

- [0] Lin, Fu, Jiang, Xue, "Sketch-BERT: Learning Sketch Bidirectional Encoder Representation
  from Transformers by Self-supervised Learning of Sketch Gestalt", CVPR 2020,
  https://arxiv.org/abs/2005.09159; reference code https://github.com/avalonstrel/SketchBERT
  (config ``models/SketchTransformer/config/sketch_transformer.yml``).

Three registered methods share one encoder (:class:`SketchBertEncoder`: point / position
(/ stroke) embedding, ALBERT refine stack, post-LN transformer with shared layer weights):

* ``sketch_bert``: SGM pre-training. Points lose 15 % of their offsets and 15 % of their pen
  states (:mod:`sketchssl.methods.masking`); a linear MLP head predicts every row; the loss is L1
  on the masked ``dx, dy`` plus cross-entropy on the masked state triples.
* ``sketch_bert_cls``: classification fine-tuning with a ``[CLS]`` prefix row filled with -1.
* ``sketch_bert_retrieval``: a prefix row filled with -2 and a 128-d triplet-trained feature.

Fine-tuning starts from a pre-trained encoder with :meth:`SketchBertBase.load_pretrained_encoder`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import SketchMethod, distributed_mean, require_keys, sequence_inputs
from sketchssl.methods.masking import GestaltMasks, apply_gestalt_masks, draw_gestalt_masks
from sketchssl.methods.registry import register_method
from sketchssl.nn.embedding import SketchEmbedding, stroke_segments
from sketchssl.nn.transformer import TransformerEncoder

__all__ = [
    "SketchBertEncoderConfig",
    "SketchBertConfig",
    "SketchBertClassifierConfig",
    "SketchBertRetrievalConfig",
    "SketchBertEncoder",
    "SketchBertBase",
    "gestalt_loss",
    "SketchBert",
    "SketchBertClassifier",
    "SketchBertRetrieval",
    "CLS_PREFIX_VALUE",
    "RETRIEVAL_PREFIX_VALUE",
]

CLS_PREFIX_VALUE = -1.0  # the reference code's [CLS] row: every column -1
RETRIEVAL_PREFIX_VALUE = -2.0  # its retrieval prefix row: every column -2
POOLINGS = ("mean", "max", "cls")


@dataclass
class SketchBertEncoderConfig:
    """Encoder hyper-parameters; defaults are the released ``qd_8_12_768`` model.

    Attributes:
        num_layers: transformer depth (layer applications).
        hidden_dim: transformer width.
        num_heads: attention heads.
        ffn_dim: feed-forward inner width.
        embed_dim: width of the point / position / stroke embeddings.
        refine_dims: intermediate widths of the activation-free refine stack from ``embed_dim``
            to ``hidden_dim``.
        max_length: longest input sequence in rows (prefix tokens not counted).
        attention_dropout: dropout on attention probabilities (0.5 in the released config,
            which is high).
        hidden_dropout: dropout after each attention block.
        output_dropout: dropout after each feed-forward block.
        share_weights: ALBERT sharing of one layer's weights across all layers.
        segment_embedding: add the learned stroke ("segment") embedding (off in the released
            config, described in the paper).
        pooling: how :meth:`embed` summarises a sketch: ``"mean"`` or ``"max"`` over real
            rows, or ``"cls"``, the hidden state of the prefix token. The reference code never
            reads frozen features; pooling moves frozen-feature kNN as much as pre-training
            does (../docs REVIEWS section 1), so choose it on the valid split.
        embed_layer: whose hidden states :meth:`embed` and the per-point features read: ``-1``
            the last layer, ``k`` in ``1 .. num_layers`` the output of layer ``k``, ``0`` the
            embedding. Training does not depend on it; it can be set at evaluation time.
    """

    num_layers: int = 8
    hidden_dim: int = 768
    num_heads: int = 12
    ffn_dim: int = 3072
    embed_dim: int = 128
    refine_dims: tuple[int, ...] = (256, 512)
    max_length: int = 250
    attention_dropout: float = 0.5
    hidden_dropout: float = 0.5
    output_dropout: float = 0.5
    share_weights: bool = True
    segment_embedding: bool = False
    pooling: str = "mean"
    embed_layer: int = -1

    def __post_init__(self) -> None:
        self.refine_dims = tuple(self.refine_dims)
        for key in ("num_layers", "hidden_dim", "num_heads", "ffn_dim", "embed_dim", "max_length"):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        if any(width < 1 for width in self.refine_dims):
            raise ConfigError(f"config key 'refine_dims' needs positive widths: {self.refine_dims}")
        if self.hidden_dim % self.num_heads:
            raise ConfigError(
                f"config key 'num_heads' ({self.num_heads}) must divide 'hidden_dim' "
                f"({self.hidden_dim})"
            )
        for key in ("attention_dropout", "hidden_dropout", "output_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"config key {key!r} must be in [0, 1), got {getattr(self, key)}")
        if self.pooling not in POOLINGS:
            raise ConfigError(
                f"config key 'pooling' is {self.pooling!r}: choose one of {', '.join(POOLINGS)}"
            )
        if not -1 <= self.embed_layer <= self.num_layers:
            raise ConfigError(
                f"config key 'embed_layer' is {self.embed_layer}: use -1 (last layer), 0 (the "
                f"embedding) or a layer 1..{self.num_layers}"
            )

    @property
    def embed_depth(self) -> int:
        """Layers applied before the features :meth:`SketchBertBase.embed` reads."""
        return self.num_layers if self.embed_layer == -1 else self.embed_layer


@dataclass
class SketchBertConfig(SketchBertEncoderConfig):
    """Sketch Gestalt Model pre-training (``sketch_bert``).

    Attributes:
        keep_prob: share of each mask candidate group left visible (the reference's
            ``mask_prob: 0.85``, so 15 % are masked).
        head_dims: hidden widths of the linear reconstruction MLP ``hidden -> ... -> 5``.
        position_weight: weight of the L1 loss on masked offsets.
        state_weight: weight of the cross-entropy on masked pen states.

    ``pooling: "cls"`` puts a -1 prefix row in front during pre-training too (not done by the
    paper's SGM), so the ``[CLS]`` position is trained as an aggregator.
    """

    keep_prob: float = 0.85
    head_dims: tuple[int, ...] = (512, 256, 128)
    position_weight: float = 1.0
    state_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.head_dims = tuple(self.head_dims)
        if not 0.0 < self.keep_prob <= 1.0:
            raise ConfigError(f"config key 'keep_prob' must be in (0, 1], got {self.keep_prob}")
        if any(width < 1 for width in self.head_dims):
            raise ConfigError(f"config key 'head_dims' needs positive widths: {self.head_dims}")


@dataclass
class SketchBertClassifierConfig(SketchBertEncoderConfig):
    """Classification fine-tuning (``sketch_bert_cls``): ``[CLS]`` row -> ``Linear -> classes``.

    Attributes:
        num_classes: number of classes (345 for QuickDraw).
    """

    pooling: str = "cls"
    num_classes: int = 345

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_classes < 2:
            raise ConfigError(
                f"config key 'num_classes' must be at least 2, got {self.num_classes}"
            )


@dataclass
class SketchBertRetrievalConfig(SketchBertEncoderConfig):
    """Retrieval fine-tuning (``sketch_bert_retrieval``): prefix row -> ``Linear -> feature_dim``.

    Attributes:
        feature_dim: width of the retrieval feature (128 in the paper).
        triplet_margin: margin of the triplet loss (2.0 in the reference code).
    """

    pooling: str = "cls"
    feature_dim: int = 128
    triplet_margin: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.feature_dim < 1:
            raise ConfigError(
                f"config key 'feature_dim' must be at least 1, got {self.feature_dim}"
            )
        if self.triplet_margin <= 0:
            raise ConfigError(
                f"config key 'triplet_margin' must be positive, got {self.triplet_margin}"
            )


def linear_stack(widths: list[int]) -> nn.Sequential:
    """Linears ``widths[0] -> widths[1] -> ...`` with no activations (the paper's heads)."""
    return nn.Sequential(*(nn.Linear(widths[i], widths[i + 1]) for i in range(len(widths) - 1)))


def gestalt_loss(
    prediction: Tensor,
    target: Tensor,
    masks: GestaltMasks,
    position_weight: float = 1.0,
    state_weight: float = 1.0,
) -> dict[str, Tensor]:
    """The SGM objective; only masked entries count (the reference's "rec" terms have weight 0).

    Args:
        prediction: ``(B, T, 5)`` predicted ``dx, dy`` and pen-state logits.
        target: ``(B, T, 5)`` the unmasked stroke-5 rows.
        masks: which rows' positions / states were hidden, ``(B, T)`` bool each.
        position_weight: weight of ``position_l1``.
        state_weight: weight of ``state_ce``.

    Returns:
        ``loss``; ``position_l1``, the mean absolute error over the masked ``dx, dy`` entries;
        ``state_ce``, the cross-entropy over the masked rows with the target triple's argmax as
        the class. A part with nothing masked is 0.
    """
    zero = prediction.sum() * 0.0  # keeps the graph when a batch has nothing masked
    position_total, state_total = zero, zero
    if masks.position.any():
        position_total = F.l1_loss(
            prediction[..., :2][masks.position], target[..., :2][masks.position], reduction="sum"
        )
    if masks.state.any():
        classes = target[..., 2:].argmax(dim=-1)  # (B, T) class of the one-hot triple
        state_total = F.cross_entropy(
            prediction[..., 2:][masks.state], classes[masks.state], reduction="sum"
        )
    # Means over the masked entries of the whole (global) batch, also under DDP.
    position_l1 = distributed_mean(position_total, masks.position.sum() * 2)
    state_ce = distributed_mean(state_total, masks.state.sum())
    loss = position_weight * position_l1 + state_weight * state_ce
    return {"loss": loss, "position_l1": position_l1.detach(), "state_ce": state_ce.detach()}


class SketchBertEncoder(nn.Module):
    """Embedding + transformer: stroke-5 rows (with an optional prefix row) -> hidden states.

    Args:
        config: encoder hyper-parameters.
        prefix_value: fill value of a prefix row put in front of every sketch (-1 for
            ``[CLS]``, -2 for retrieval); None for no prefix.

    Examples:
        >>> config = SketchBertEncoderConfig(num_layers=2, hidden_dim=32, num_heads=2,
        ...                                  ffn_dim=64, embed_dim=16, refine_dims=())
        >>> encoder = SketchBertEncoder(config, prefix_value=-1.0)
        >>> hidden, key_mask = encoder(torch.zeros(3, 10, 5), torch.ones(3, 10, dtype=torch.bool))
        >>> hidden.shape, key_mask.shape
        (torch.Size([3, 11, 32]), torch.Size([3, 11]))
    """

    def __init__(self, config: SketchBertEncoderConfig, prefix_value: float | None = None) -> None:
        super().__init__()
        self.config = config
        self.prefix_value = prefix_value
        prefix_tokens = 0 if prefix_value is None else 1
        # stored so that load_pretrained_encoder can shift the position table of any checkpoint
        self.register_buffer("num_prefix_tokens", torch.tensor(prefix_tokens, dtype=torch.long))
        self.prefix_tokens = prefix_tokens
        self.embedding = SketchEmbedding(
            hidden_dim=config.hidden_dim,
            embed_dim=config.embed_dim,
            refine_dims=config.refine_dims,
            max_positions=config.max_length + prefix_tokens,
            use_segments=config.segment_embedding,
        )
        self.transformer = TransformerEncoder(
            num_layers=config.num_layers,
            hidden_dim=config.hidden_dim,
            num_heads=config.num_heads,
            ffn_dim=config.ffn_dim,
            attention_dropout=config.attention_dropout,
            hidden_dropout=config.hidden_dropout,
            output_dropout=config.output_dropout,
            share_weights=config.share_weights,
        )

    def forward(
        self, points: Tensor, mask: Tensor, depth: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Encode a batch.

        Args:
            points: ``(B, T, 5)`` input rows (masked entries already zeroed), no prefix.
            mask: ``(B, T)`` True on real rows.
            depth: transformer layers to apply (None: all).

        Returns:
            ``hidden`` ``(B, P + T, H)`` and the ``key_mask`` ``(B, P + T)`` it was computed
            with, where ``P`` is the number of prefix rows (0 or 1).
        """
        # stroke ids come from the *masked* rows: ids from the complete sketch would tell the
        # SGM where its hidden pen lifts are
        segments = (
            stroke_segments(points, mask, self.prefix_tokens)
            if self.config.segment_embedding
            else None
        )
        if self.prefix_tokens:
            batch = points.shape[0]
            prefix = points.new_full(
                (batch, self.prefix_tokens, points.shape[2]), self.prefix_value
            )  # (B, P, 5)
            points = torch.cat([prefix, points], dim=1)  # (B, P + T, 5)
            mask = torch.cat([mask.new_ones(batch, self.prefix_tokens), mask], dim=1)
        hidden = self.embedding(points, segments)  # (B, P + T, H)
        return self.transformer(hidden, mask, depth), mask

    def pool(self, hidden: Tensor, key_mask: Tensor, pooling: str) -> Tensor:
        """Summarise ``(B, P + T, H)`` hidden states as ``(B, H)``.

        ``"cls"`` takes the prefix row; ``"mean"`` averages and ``"max"`` takes the largest
        value of each feature over the real rows after the prefix.
        """
        if pooling == "cls":
            if not self.prefix_tokens:
                raise ConfigError("pooling 'cls' needs a prefix token; this encoder has none")
            return hidden[:, 0]
        if pooling == "max":
            real_rows = key_mask[:, self.prefix_tokens :, None]  # (B, T, 1)
            lowest = torch.finfo(hidden.dtype).min
            return hidden[:, self.prefix_tokens :].masked_fill(~real_rows, lowest).amax(dim=1)
        real = key_mask[:, self.prefix_tokens :, None].to(hidden.dtype)  # (B, T, 1)
        summed = (hidden[:, self.prefix_tokens :] * real).sum(dim=1)  # (B, H)
        return summed / real.sum(dim=1).clamp(min=1.0)


class SketchBertBase(SketchMethod):
    """What every Sketch-BERT variant shares: the encoder, pooling, loading pre-trained weights.

    Attributes:
        generator: random source for mask drawing and triplet mining; None (default) uses
            torch's global generator, so ``torch.manual_seed`` / Lightning's seeding apply.
    """

    config: SketchBertEncoderConfig
    prefix_value: float | None = None

    def __init__(self, config: SketchBertEncoderConfig | None = None) -> None:
        super().__init__(config)
        self.encoder = SketchBertEncoder(self.config, self.prefix_for(self.config))
        self.generator: torch.Generator | None = None

    def prefix_for(self, config: SketchBertEncoderConfig) -> float | None:
        """Fill value of the prefix row this variant puts in front (None: no prefix)."""
        return self.prefix_value

    def inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Checked ``strokes5 (B, T, 5)`` and ``mask (B, T)`` of a batch."""
        return sequence_inputs(batch, self.config.max_length, self.name or type(self).__name__)

    point_parts_key = "parts"

    def pooled(self, batch: dict[str, Tensor], depth: int | None = None) -> Tensor:
        """``(B, H)`` pooled hidden state of the unmasked sketches after ``depth`` layers."""
        strokes5, mask = self.inputs(batch)
        hidden, key_mask = self.encoder(strokes5, mask, depth)
        return self.encoder.pool(hidden, key_mask, self.config.pooling)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, hidden_dim)``: pooled (``config.pooling``) states of ``config.embed_layer``."""
        return self.pooled(batch, self.config.embed_depth)

    def point_features(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, T, hidden_dim)``: every ``strokes5`` row's state at ``config.embed_layer``.

        Prefix rows are dropped, so row ``t`` lines up with ``batch["parts"][:, t]``.
        """
        strokes5, mask = self.inputs(batch)
        hidden, _ = self.encoder(strokes5, mask, self.config.embed_depth)
        return hidden[:, self.encoder.prefix_tokens :]

    def load_pretrained_encoder(self, state_dict: dict[str, Tensor]) -> None:
        """Copy a pre-trained Sketch-BERT encoder's weights into this model's encoder.

        Accepts the ``state_dict`` of any module holding a :class:`SketchBertEncoder` (a
        ``sketch_bert`` model, a training wrapper around one, or the encoder itself). As the
        reference code's ``load_model`` does, the position table is shifted for prefix tokens:
        row ``i`` of the pre-trained sequence positions goes to row ``i`` of ours, and a prefix
        row is copied only when both models have one (otherwise ours keeps its initial value).
        Heads are not touched.

        Raises:
            ConfigError: the state dict holds no Sketch-BERT encoder, or its architecture
                differs (key or shape mismatch, named in the message).
        """
        marker = "embedding.point.weight"
        found = [key for key in state_dict if key.endswith(marker)]
        if not found:
            raise ConfigError(
                "the checkpoint holds no Sketch-BERT encoder (no '*embedding.point.weight'); "
                "pass the state_dict of a sketch_bert model"
            )
        start = min(found, key=len)[: -len(marker)]
        source = {
            key[len(start) :]: value for key, value in state_dict.items() if key.startswith(start)
        }
        source_prefix = int(source.pop("num_prefix_tokens", torch.tensor(0)))
        own = self.encoder.state_dict()
        own_prefix = int(own.pop("num_prefix_tokens"))
        missing = sorted(set(own) - set(source))
        unexpected = sorted(set(source) - set(own))
        if missing or unexpected:
            raise ConfigError(
                f"pre-trained encoder does not match this config (missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}); use the same num_layers, share_weights and "
                "segment_embedding as the pre-training run"
            )
        position_key = "embedding.position.weight"
        for key, value in own.items():
            if key == position_key:
                continue
            if source[key].shape != value.shape:
                raise ConfigError(
                    f"pre-trained encoder key {key!r} has shape {tuple(source[key].shape)}, "
                    f"this model {tuple(value.shape)}: use the pre-training run's preset"
                )
            own[key] = source[key]
        table, pretrained_table = own[position_key].clone(), source[position_key]
        if table.shape[1] != pretrained_table.shape[1]:
            raise ConfigError(
                f"pre-trained position table width {pretrained_table.shape[1]} differs from "
                f"embed_dim {table.shape[1]}: use the pre-training run's preset"
            )
        rows = min(table.shape[0] - own_prefix, pretrained_table.shape[0] - source_prefix)
        shifted = pretrained_table[source_prefix : source_prefix + rows]
        table[own_prefix : own_prefix + rows] = shifted
        if own_prefix and source_prefix:
            table[:own_prefix] = pretrained_table[:own_prefix]
        own[position_key] = table
        own["num_prefix_tokens"] = self.encoder.num_prefix_tokens
        self.encoder.load_state_dict(own)


@register_method(
    "sketch_bert",
    "Sketch-BERT pre-training: Sketch Gestalt Model (masked offsets L1 + masked pen states CE)",
)
class SketchBert(SketchBertBase):
    """Sketch-BERT with the Sketch Gestalt Model head (self-supervised pre-training).

    ``loss`` draws the SGM masks itself unless the batch carries ``position_mask`` and
    ``state_mask`` (``(B, T)`` bool, e.g. drawn per sample in the data pipeline for exact
    reproducibility), zeroes the masked entries, encodes, and predicts every row with a linear
    MLP ``hidden -> 512 -> 256 -> 128 -> 5``.

    Examples:
        >>> config = SketchBertConfig(num_layers=2, hidden_dim=32, num_heads=2, ffn_dim=64,
        ...                           embed_dim=16, refine_dims=(), head_dims=(16,))
        >>> model = SketchBert(config)
        >>> batch = {"strokes5": torch.randn(4, 20, 5), "mask": torch.ones(4, 20, dtype=torch.bool)}
        >>> sorted(model.loss(batch)), model.embed(batch).shape
        (['loss', 'position_l1', 'state_ce'], torch.Size([4, 32]))
    """

    config_class = SketchBertConfig
    config: SketchBertConfig

    def __init__(self, config: SketchBertConfig | None = None) -> None:
        super().__init__(config)
        self.head = linear_stack([self.config.hidden_dim, *self.config.head_dims, 5])

    def prefix_for(self, config: SketchBertEncoderConfig) -> float | None:
        """No prefix, as the paper's SGM; a ``[CLS]`` row only when ``pooling`` is ``"cls"``."""
        return CLS_PREFIX_VALUE if config.pooling == "cls" else None

    def draw_masks(
        self, strokes5: Tensor, mask: Tensor, sample_seeds: Tensor | None = None
    ) -> GestaltMasks:
        """SGM masks for a batch: from per-sketch seeds when given, else :attr:`generator`."""
        return draw_gestalt_masks(
            strokes5, mask, self.config.keep_prob, self.generator, sample_seeds=sample_seeds
        )

    def predict(
        self, strokes5: Tensor, mask: Tensor, position_mask: Tensor, state_mask: Tensor
    ) -> Tensor:
        """Head output for every row of the masked sketches.

        Args:
            strokes5: ``(B, T, 5)`` unmasked rows.
            mask: ``(B, T)`` real rows.
            position_mask: ``(B, T)`` rows whose ``dx, dy`` are hidden.
            state_mask: ``(B, T)`` rows whose pen states are hidden.

        Returns:
            ``(B, T, 5)``: predicted ``dx, dy`` and pen-state logits.
        """
        points = apply_gestalt_masks(strokes5, position_mask, state_mask)  # (B, T, 5)
        hidden, _ = self.encoder(points, mask)  # (B, P + T, H)
        return self.head(hidden[:, self.encoder.prefix_tokens :])  # (B, T, 5)

    def batch_masks(self, batch: dict[str, Tensor], strokes5: Tensor, mask: Tensor) -> GestaltMasks:
        """The batch's own ``position_mask`` / ``state_mask`` if it has them, else fresh ones."""
        if "position_mask" in batch or "state_mask" in batch:
            require_keys(batch, "position_mask", "state_mask", method=self.name)
            used = mask.shape[1]  # the inputs may have been cut to the longest sketch
            return GestaltMasks(
                batch["position_mask"][:, :used].bool() & mask,
                batch["state_mask"][:, :used].bool() & mask,
            )
        # The training layer passes one seed per sketch: the masks then do not depend on how
        # the batch is split over processes (exact DDP parity).
        return self.draw_masks(strokes5, mask, batch.get("sample_seed"))

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """SGM loss: ``position_l1`` (mean over masked ``dx, dy``) + ``state_ce`` (masked rows)."""
        strokes5, mask = self.inputs(batch)
        masks = self.batch_masks(batch, strokes5, mask)
        prediction = self.predict(strokes5, mask, masks.position, masks.state)  # (B, T, 5)
        return gestalt_loss(
            prediction, strokes5, masks, self.config.position_weight, self.config.state_weight
        )

    @torch.no_grad()
    def generate(
        self,
        batch: dict[str, Tensor],
        position_mask: Tensor | None = None,
        state_mask: Tensor | None = None,
    ) -> Tensor:
        """Sketch gestalt completion: fill the masked entries with the model's predictions.

        Call ``model.eval()`` first (dropout is 0.5 in the paper preset).

        Args:
            batch: ``strokes5`` / ``mask`` of the complete sketches.
            position_mask: ``(B, T)`` rows whose ``dx, dy`` to predict; None draws SGM masks
                (both masks) with :attr:`generator`.
            state_mask: ``(B, T)`` rows whose pen state to predict.

        Returns:
            ``(B, T, 5)``: the input, with predicted offsets at ``position_mask`` and one-hot
            predicted pen states at ``state_mask``.
        """
        strokes5, mask = self.inputs(batch)  # (B, U, 5), (B, U): cut to the longest sketch
        used = mask.shape[1]
        if position_mask is None or state_mask is None:
            drawn = self.draw_masks(strokes5, mask)
            position_mask = drawn.position if position_mask is None else position_mask
            state_mask = drawn.state if state_mask is None else state_mask
        position_mask = position_mask[:, :used].bool() & mask
        state_mask = state_mask[:, :used].bool() & mask
        prediction = self.predict(strokes5, mask, position_mask, state_mask)  # (B, U, 5)
        states = F.one_hot(prediction[..., 2:].argmax(dim=-1), 3).to(strokes5.dtype)  # (B, U, 3)
        completed = batch["strokes5"].float().clone()  # (B, T, 5), padding columns kept
        completed[:, :used, :2] = torch.where(
            position_mask[..., None], prediction[..., :2], strokes5[..., :2]
        )
        completed[:, :used, 2:] = torch.where(state_mask[..., None], states, strokes5[..., 2:])
        return completed


def _labels(batch: dict[str, Tensor], method: str) -> Tensor:
    require_keys(batch, "label", method=method)
    labels = batch["label"].long()
    if (labels < 0).any():
        raise SketchFormatError(
            f"{method} needs class labels but the batch has unlabelled sketches (label -1); "
            "use a store built with labels"
        )
    return labels


@register_method(
    "sketch_bert_cls",
    "Sketch-BERT classification fine-tuning: [CLS] row -> linear classifier, cross-entropy",
)
class SketchBertClassifier(SketchBertBase):
    """Sketch-BERT with a ``[CLS]`` prefix row (all -1) and ``Linear(hidden -> num_classes)``.

    ``embed`` returns the pooled hidden state (the ``[CLS]`` row by default).
    """

    config_class = SketchBertClassifierConfig
    uses_labels = True
    config: SketchBertClassifierConfig
    prefix_value = CLS_PREFIX_VALUE

    def __init__(self, config: SketchBertClassifierConfig | None = None) -> None:
        super().__init__(config)
        self.classifier = nn.Linear(self.config.hidden_dim, self.config.num_classes)

    def logits(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, num_classes)`` class scores."""
        return self.classifier(self.pooled(batch))

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Cross-entropy on the labels, with the batch ``accuracy`` for logging."""
        labels = _labels(batch, self.name)
        if (labels >= self.config.num_classes).any():
            raise SketchFormatError(
                f"label {int(labels.max())} is out of range for num_classes "
                f"{self.config.num_classes}; set model.num_classes to the store's class count"
            )
        logits = self.logits(batch)
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": loss, "accuracy": accuracy.detach()}


@register_method(
    "sketch_bert_retrieval",
    "Sketch-BERT retrieval fine-tuning: 128-d feature, triplet loss mined inside the batch",
)
class SketchBertRetrieval(SketchBertBase):
    """Sketch-BERT with a prefix row (all -2) and ``Linear(hidden -> feature_dim)``.

    The reference dataset returns (anchor, positive of the same class, negative of another class)
    triplets; our datasets yield single sketches, so triplets are mined inside the batch instead:
    every sketch whose class has another member in the batch is an anchor, with a positive drawn
    uniformly among those members and a negative drawn uniformly among the other classes'
    sketches (random, not hardest, as the reference's sampling). Use batches with several
    sketches per class. ``embed`` returns the ``feature_dim`` feature.
    """

    config_class = SketchBertRetrievalConfig
    uses_labels = True
    config: SketchBertRetrievalConfig
    prefix_value = RETRIEVAL_PREFIX_VALUE

    def __init__(self, config: SketchBertRetrievalConfig | None = None) -> None:
        super().__init__(config)
        self.projection = nn.Linear(self.config.hidden_dim, self.config.feature_dim)
        self.triplet_loss = nn.TripletMarginLoss(margin=self.config.triplet_margin)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, feature_dim)`` retrieval features."""
        return self.projection(self.pooled(batch))

    def mine_triplets(self, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Indices ``(anchor, positive, negative)``, each ``(K,)``, mined at random in a batch."""
        same = labels[:, None] == labels[None, :]  # (B, B)
        positive_ok = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        negative_ok = ~same
        device = self.generator.device if self.generator is not None else labels.device
        scores = torch.rand((2, *same.shape), generator=self.generator, device=device)
        scores = scores.to(labels.device)
        positives = scores[0].masked_fill(~positive_ok, -1.0).argmax(dim=1)  # (B,)
        negatives = scores[1].masked_fill(~negative_ok, -1.0).argmax(dim=1)  # (B,)
        anchors = torch.nonzero(positive_ok.any(dim=1) & negative_ok.any(dim=1)).flatten()
        return anchors, positives[anchors], negatives[anchors]

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Triplet margin loss over the mined triplets; ``triplets`` counts them."""
        labels = _labels(batch, self.name)
        features = self.embed(batch)  # (B, F)
        anchors, positives, negatives = self.mine_triplets(labels)
        if len(anchors) == 0:
            loss = features.sum() * 0.0  # no class twice in this batch: nothing to learn from
        else:
            loss = self.triplet_loss(features[anchors], features[positives], features[negatives])
        return {"loss": loss, "triplets": torch.tensor(float(len(anchors)))}
