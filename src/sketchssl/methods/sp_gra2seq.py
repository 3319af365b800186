"""SP-gra2seq: a graph of sketch patches linked by synonymous proximity, decoded to strokes.

- [0] Zang, Tu, Xu, "Linking Sketch Patches by Learning Synonymous Proximity for Graphic Sketch
  Representation", AAAI 2023, https://arxiv.org/abs/2211.16841; reference code
  CMACH508/SP-gra2seq (TensorFlow 1.12): ``model.py`` (``gcn_encoder``,
  ``calculate_gaussian_loss``, ``get_lil_loss``), ``Cnn.py``, ``train.py`` (centroid
  initialisation), ``sample.py``; README hyper-parameters (batch 128, 30 clusters, decoder
  1024). Our notes: docs METHODS.md section 3.

Pipeline (one sketch = node 0, the whole masked canvas, plus ``S`` patch slots; the patch view
of :mod:`sketchssl.render.patch_view`):

1. **Patch CNN** (:class:`PatchCNN`), shared by all nodes: 2x2 convolutions with stride 2,
   "SAME" padding, no bias, Kaiming-normal weights, ReLU after all but the last; then a 2x2 max
   pool to ``1 x 1``. Paper channels 8-32-64-128-256-512-512 on 256-px patches -> ``e_i`` (512).
2. **Synonymous-proximity graph** (:func:`~sketchssl.nn.gcn.synonymous_proximity_adjacency`):
   cosine similarity of the patch embeddings; each patch linked to itself and its two most
   similar patches (weights 1 / 0.5 / 0.2 times the cosine), every usable patch receives node 0
   with weight 0.5, node 0 keeps its self-loop only, empty and masked slots cut, rows normalised.
3. **GCN encoder**: ``H0 = A BN(ReLU(E))``; ``H0 + ReLU(ReLU(H0 W1) W2)`` summed over the nodes
   -> BatchNorm -> tanh -> two bias-free linear heads: ``mu`` and ``log sigma^2``.
   ``z = mu + sigma eps``. **There is no KL term**; codes for evaluation are ``mu``.
4. **Clustering constraint** (:class:`CentroidBank`): ``K`` centroids of the patch embeddings,
   not trained by gradient. Each usable patch (a non-empty, unmasked slot) is assigned to the
   centroid of largest cosine; ``L_clu`` = mean over usable patches of ``0.5 |e_i - c_k|^2``
   (centroids held fixed). After each training step ``c_k <- 0.75 c_k + 0.25 m_k`` with ``m_k``
   the batch mean of the embeddings assigned to ``k``.
5. **Decoder**: sketch-rnn's :class:`~sketchssl.nn.decoder.MixtureDecoder` reading
   ``[S_{t-1}, z]``, initial state ``tanh(Linear(z))``.

Loss ``L_R + 0.25 L_clu``, with the reference code's normalisation: ``L_R`` (offset NLL over the
real points plus pen cross-entropy) is **summed over the time steps and divided by the batch
size only** (``get_lil_loss``), unlike sketch-rnn's division by ``Nmax * batch``; the 0.25
weight is relative to that sum.

Centroids live in buffers (``clusters.centroids``, ``clusters.centroids_ready``), so checkpoints
and resume carry them. They start as U[0, 5] (the TensorFlow initialiser) and are replaced, at
the first training step, by embeddings of that step's batch (the reference ``train.py`` does the
same with the first batch of epoch 0, before training on it).

Differences from the reference code, all deliberate:

* Centroid initialisation takes the first ``K`` *usable* patch embeddings of the batch (then
  the other slots if there are fewer); the reference takes the first ``K`` slots in order,
  empty ones included, which can start several centroids on the identical empty-patch
  embedding.
* A cluster no patch was assigned to in a step decays, ``c <- 0.75 c``, as in the reference
  (its batch mean is ``0 / (0 + 1e-10)``). Assignment is by cosine, so the decay does not change
  which patches it wins; it does change their distance in ``L_clu``.
* The link patch -> node 0 does not depend on the first slot being usable (see
  :mod:`sketchssl.nn.gcn`), and the three neighbours are distinct slots even when the cosines
  after the first are all negative.
* Under DDP, centroid updates use the global batch (sums and counts all-reduced) and the
  initialisation comes from rank 0.
* The training layer clips the global gradient norm; the reference clips each variable's
  gradient to norm 1.0. The decoder's cell, initial-state and output layers carry biases; their
  weights start as the reference's Kaiming-normal.
* Patches whose CNN output is larger than 2 x 2 (any patch size, any depth) are max-pooled over
  the whole map, which is the reference's 2x2 max pool whenever the map is 2 x 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import distributed_mean, require_keys
from sketchssl.methods.latent_decoder import (
    MOVED_DECODER_KEYS,
    LatentDecoderMethod,
    MixtureDecoderConfig,
    decoder_targets,
)
from sketchssl.methods.registry import register_method
from sketchssl.nn.gcn import (
    GLOBAL_NODE_WEIGHT,
    NEIGHBOUR_WEIGHTS,
    GraphConvolution,
    cosine_similarity_matrix,
    synonymous_proximity_adjacency,
)

__all__ = [
    "SPGra2SeqConfig",
    "PatchCNN",
    "CentroidBank",
    "GraphEncoding",
    "SPGra2Seq",
    "cluster_assignments",
]

#: Paper channels of the patch CNN (7 layers for 256-px patches).
PAPER_CHANNELS = (8, 32, 64, 128, 256, 512, 512)


@dataclass
class SPGra2SeqConfig:
    """SP-gra2seq hyper-parameters; defaults are the paper's (README where it and code differ).

    Attributes:
        patch_size: side of each patch and of node 0 (``graph_picture_size`` 256). The training
            layer copies it from ``data.patch_size``.
        patch_slots: patch slots per sketch (``graph_number - 1`` = 20); copied from
            ``data.patch_slots``.
        cnn_channels: output channels of the patch CNN's stride-2 convolutions; the last is the
            embedding width ``D``. ``patch_size`` halved once per layer must end at most 2 (checked
            when the model is built, after the training layer has set ``patch_size``).
        latent_size: width of ``z`` (``z_size``).
        decoder: the mixture decoder, its sampler and its loss's steps
            (:class:`~sketchssl.methods.latent_decoder.MixtureDecoderConfig`). SP-gra2seq's
            defaults: ``size`` 1024 (``dec_rnn_size``, README), ``num_mixtures`` 20 (hard-coded),
            ``cell`` lstm (``dec_model``), ``recurrent_dropout`` 0, ``temperature`` 0.24
            (``sample.py``), ``variance_exponent`` 2 (``sample.py`` multiplies sigma by
            ``sqrt(tau)^2``, i.e. the variance by ``tau^2``), ``pen_temperature`` None (the pen
            follows the sampling temperature, as the paper does), no ``trim_padding``, and the
            pen loss masked in eval mode (the reference eval model, ``is_training=False``).
        num_clusters: centroids of the clustering constraint (``num_mixture``: README 30).
        cluster_weight: weight of ``L_clu`` in the loss (0.25).
        centroid_momentum: ``c <- momentum c + (1 - momentum) batch_mean`` (0.75).
        neighbour_weights: weights of each patch's most similar patches, itself first.
        global_weight: weight of each patch's link from node 0.
        batch_norm_momentum: torch momentum of both BatchNorms (TensorFlow ``decay`` 0.9).
        max_length: points :meth:`SPGra2Seq.generate` draws at most.
    """

    #: the flat keys of checkpoints before ``model.decoder``
    moved_keys: ClassVar[dict[str, tuple[str, ...]]] = MOVED_DECODER_KEYS

    patch_size: int = 256
    patch_slots: int = 20
    cnn_channels: tuple[int, ...] = PAPER_CHANNELS
    latent_size: int = 128
    decoder: MixtureDecoderConfig = field(
        default_factory=partial(
            MixtureDecoderConfig,
            size=1024,
            recurrent_dropout=0.0,
            temperature=0.24,
            variance_exponent=2.0,
        )
    )
    num_clusters: int = 30
    cluster_weight: float = 0.25
    centroid_momentum: float = 0.75
    neighbour_weights: tuple[float, ...] = NEIGHBOUR_WEIGHTS
    global_weight: float = GLOBAL_NODE_WEIGHT
    batch_norm_momentum: float = 0.1
    max_length: int = 250

    def __post_init__(self) -> None:
        for key in (
            "patch_slots",
            "latent_size",
            "num_clusters",
            "max_length",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        if not self.cnn_channels or min(self.cnn_channels) < 1:
            raise ConfigError(
                f"config key 'cnn_channels' needs at least one positive width, got "
                f"{list(self.cnn_channels)}"
            )
        if self.patch_size < 2:
            raise ConfigError(f"config key 'patch_size' must be at least 2, got {self.patch_size}")
        if not self.neighbour_weights:
            raise ConfigError("config key 'neighbour_weights' needs at least one weight")
        if not 0.0 <= self.centroid_momentum <= 1.0:
            raise ConfigError(
                f"config key 'centroid_momentum' must be in [0, 1], got {self.centroid_momentum}"
            )
        if self.cluster_weight < 0:
            raise ConfigError(
                f"config key 'cluster_weight' must be >= 0, got {self.cluster_weight}"
            )


class PatchCNN(nn.Module):
    """SP-gra2seq's patch encoder: bias-free 2x2 stride-2 convolutions, then a max pool.

    ``ReLU`` after every layer but the last (linear), TensorFlow "SAME" padding (an odd side is
    padded by one row / column at the bottom / right), Kaiming-normal weights as the reference
    ``Cnn.kaiming_init`` (std ``sqrt(2 / fan_in)`` before a ReLU, ``sqrt(1 / fan_in)`` for the
    linear last layer), then a max pool over what is left (the reference's 2x2 pool of a 2x2 map).

    Args:
        channels: output channels per layer; the last is the embedding width.

    Examples:
        >>> cnn = PatchCNN((4, 8, 16))
        >>> cnn(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 16])
    """

    def __init__(self, channels: tuple[int, ...] = PAPER_CHANNELS) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        previous = 1
        for index, width in enumerate(channels):
            conv = nn.Conv2d(previous, width, kernel_size=2, stride=2, bias=False)
            linear = index == len(channels) - 1
            nn.init.kaiming_normal_(conv.weight, nonlinearity="linear" if linear else "relu")
            self.layers.append(conv)
            previous = width
        self.output_size = previous

    def forward(self, images: Tensor) -> Tensor:
        """``(N, 1, P, P)`` images in ``[-1, 1]`` -> ``(N, D)`` embeddings."""
        hidden = images
        for index, conv in enumerate(self.layers):
            height, width = hidden.shape[-2:]
            if height % 2 or width % 2:  # TensorFlow SAME with a 2x2 / 2 window
                hidden = F.pad(hidden, (0, width % 2, 0, height % 2))
            hidden = conv(hidden)
            if index < len(self.layers) - 1:
                hidden = torch.relu(hidden)
        return torch.amax(hidden, dim=(-2, -1))  # (N, D)


def cluster_assignments(embeddings: Tensor, centroids: Tensor) -> Tensor:
    """Index of the centroid of largest cosine for each embedding: ``(N, D), (K, D) -> (N,)``.

    Ties go to the lower centroid index (the reference's ``argmax``).
    """
    stacked = torch.cat([centroids, embeddings], dim=0)[None]  # (1, K + N, D)
    similarity = cosine_similarity_matrix(stacked)[0, len(centroids) :, : len(centroids)]
    return similarity.argmax(dim=1)


class CentroidBank(nn.Module):
    """The clustering constraint's centroids, moving averages of patch embeddings.

    Buffers (saved in checkpoints): ``centroids`` ``(K, D)`` and ``centroids_ready`` (0-d bool,
    whether :meth:`initialise` has run).

    Args:
        num_clusters: ``K``.
        features: ``D``.
        momentum: ``c <- momentum c + (1 - momentum) m``.

    Examples:
        >>> bank = CentroidBank(2, 2, momentum=0.75)
        >>> bank.initialise(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        >>> bank.update(torch.tensor([[3.0, 1.0], [5.0, -1.0]]), torch.tensor([0, 0]))
        tensor([2., 0.])
        >>> bank.centroids
        tensor([[1.7500, 0.0000],
                [0.0000, 0.7500]])
    """

    def __init__(self, num_clusters: int, features: int, momentum: float = 0.75) -> None:
        super().__init__()
        self.momentum = momentum
        # TensorFlow's initializer, used only until the first training batch replaces it
        self.register_buffer("centroids", torch.rand(num_clusters, features) * 5.0)
        self.register_buffer("centroids_ready", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def initialise(self, embeddings: Tensor) -> None:
        """Set the centroids to the first ``K`` rows of ``embeddings`` (cycled if fewer).

        Under DDP rank 0's choice is broadcast, so every process holds the same centroids.
        """
        count = len(self.centroids)
        if len(embeddings) == 0:
            raise SketchFormatError("the centroids need at least one patch embedding to start")
        rows = torch.arange(count, device=embeddings.device) % len(embeddings)
        self.centroids.copy_(embeddings.detach()[rows].to(self.centroids.dtype))
        if _distributed():
            torch.distributed.broadcast(self.centroids, src=0)
        self.centroids_ready.fill_(True)

    def assign(self, embeddings: Tensor) -> Tensor:
        """``(N,)`` cluster of each ``(N, D)`` embedding (largest cosine)."""
        return cluster_assignments(embeddings.detach(), self.centroids)

    def loss_terms(self, embeddings: Tensor, clusters: Tensor) -> Tensor:
        """``(N,)`` ``0.5 |e_i - c_{k_i}|^2``, centroids held fixed (gradient to the embeddings)."""
        return 0.5 * (embeddings - self.centroids[clusters].detach()).pow(2).sum(dim=1)

    @torch.no_grad()
    def update(self, embeddings: Tensor, clusters: Tensor) -> Tensor:
        """``c_k <- momentum c_k + (1 - momentum) mean{e_i : k_i = k}`` for every ``k``.

        A cluster with no member gets a mean of 0, so it shrinks by ``momentum`` (as the
        reference's ``sum / (count + 1e-10)``). Sums and counts are totals over DDP processes.

        Returns:
            ``(K,)`` members per cluster.
        """
        count = len(self.centroids)
        members = F.one_hot(clusters, count).to(self.centroids.dtype)  # (N, K)
        sums = members.T @ embeddings.detach().to(self.centroids.dtype)  # (K, D)
        sizes = members.sum(dim=0)  # (K,)
        if _distributed():
            torch.distributed.all_reduce(sums)
            torch.distributed.all_reduce(sizes)
        means = sums / (sizes[:, None] + 1e-10)
        self.centroids.mul_(self.momentum).add_((1.0 - self.momentum) * means)
        return sizes


def _distributed() -> bool:
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


@dataclass
class GraphEncoding:
    """What the encoder makes of a patch batch.

    Attributes:
        mu: ``(B, Z)`` code means (the representation).
        log_variance: ``(B, Z)``.
        patch_embeddings: ``(B, S, D)`` CNN embeddings of the patch slots.
        usable: ``(B, S)`` bool, slots with a patch that was not masked.
        adjacency: ``(B, 1 + S, 1 + S)`` the synonymous-proximity graph.
    """

    mu: Tensor
    log_variance: Tensor
    patch_embeddings: Tensor
    usable: Tensor
    adjacency: Tensor


@register_method(
    "sp_gra2seq",
    "SP-gra2seq: patch graph linked by synonymous proximity, GCN encoder, clustering "
    "constraint, Gaussian-mixture stroke decoder",
)
class SPGra2Seq(LatentDecoderMethod):
    """SP-gra2seq (Zang, Tu, Xu, AAAI 2023) as a :class:`SketchMethod`.

    Training batches need the patch view and the sequence view (``data.views: [sequence,
    patches]``, ``data.start_token: true``): ``patches``, ``patch_valid``, ``patch_masked``,
    ``strokes5`` and ``mask``. ``embed``, ``generate`` and healing read the patch keys only.

    Attributes:
        generator: random source for ``eps`` and sampling; None (default) uses torch's global
            generator, which the training layer re-seeds each step.

    Examples:
        >>> from sketchssl.methods.latent_decoder import MixtureDecoderConfig
        >>> config = SPGra2SeqConfig(patch_size=8, patch_slots=3, cnn_channels=(4, 8),
        ...     latent_size=4, num_clusters=2,
        ...     decoder=MixtureDecoderConfig(size=8, num_mixtures=2, recurrent_dropout=0.0))
        >>> model = SPGra2Seq(config)
        >>> patches = {"patches": torch.rand(2, 4, 8, 8) * 2 - 1,
        ...            "patch_valid": torch.ones(2, 3, dtype=torch.bool),
        ...            "patch_masked": torch.zeros(2, 3, dtype=torch.bool)}
        >>> strokes = torch.zeros(2, 6, 5); strokes[:, :, 4] = 1
        >>> strokes[:, 0] = torch.tensor([0.0, 0, 1, 0, 0]); strokes[:, 1:3, :3] = 1
        >>> strokes[:, 1:3, 4] = 0; mask = torch.zeros(2, 6, dtype=torch.bool); mask[:, :3] = True
        >>> batch = {**patches, "strokes5": strokes, "mask": mask}
        >>> sorted(model.loss(batch))
        ['cluster_loss', 'clusters_used', 'loss', 'offset_loss', 'pen_loss', 'recon']
        >>> model.embed(patches).shape, model.eval().generate(patches, max_len=5).shape
        (torch.Size([2, 4]), torch.Size([2, 5, 5]))
    """

    config_class = SPGra2SeqConfig
    config: SPGra2SeqConfig
    #: :mod:`sketchssl.eval.healing` feeds this method patch views of the masked sketches.
    healing_input = "patches"

    def __init__(self, config: SPGra2SeqConfig | None = None) -> None:
        super().__init__(config)
        config = self.config
        # checked here, not in the config: the training layer sets patch_size from the data
        # section after the preset is read
        side = config.patch_size
        for _ in config.cnn_channels:
            side = math.ceil(side / 2)
        if side > 2:
            raise ConfigError(
                f"model.cnn_channels: {len(config.cnn_channels)} stride-2 layers leave "
                f"{side} x {side} of a {config.patch_size}-px patch; the CNN must end at 2 x 2 or "
                "smaller: add layers or use a smaller data.patch_size"
            )
        self.patch_cnn = PatchCNN(tuple(config.cnn_channels))
        features = self.patch_cnn.output_size
        self.node_norm = nn.BatchNorm1d(features, eps=1e-5, momentum=config.batch_norm_momentum)
        self.gcn = GraphConvolution(features, layers=2)
        self.graph_norm = nn.BatchNorm1d(features, eps=1e-5, momentum=config.batch_norm_momentum)
        self.mu = nn.Linear(features, config.latent_size, bias=False)
        self.log_variance = nn.Linear(features, config.latent_size, bias=False)
        for head in (self.mu, self.log_variance):  # Cnn.FcNet kaiming_init(.., 'no')
            nn.init.normal_(head.weight, std=math.sqrt(1.0 / features))
        self.clusters = CentroidBank(config.num_clusters, features, config.centroid_momentum)
        self.decoder = config.decoder.build(config.latent_size)
        # the reference FcNet initialisers: 'tanh' for the initial state, 'no' for the output
        nn.init.normal_(
            self.decoder.initial_state_layer.weight, std=math.sqrt(5.0 / (3.0 * config.latent_size))
        )
        nn.init.normal_(self.decoder.head.weight, std=math.sqrt(1.0 / config.decoder.size))
        self.generator: torch.Generator | None = None

    # ------------------------------------------------------------------ inputs
    def patch_inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Checked ``patches (B, 1 + S, P, P)`` float and ``usable (B, S)`` bool.

        Raises:
            SketchFormatError: missing keys or shapes that do not match the config.
        """
        name = self.name or type(self).__name__
        require_keys(batch, "patches", "patch_valid", "patch_masked", method=name)
        patches = batch["patches"].float()
        config = self.config
        expected = (1 + config.patch_slots, config.patch_size, config.patch_size)
        if patches.dim() != 4 or tuple(patches.shape[1:]) != expected:
            raise SketchFormatError(
                f"{name}: batch['patches'] must have shape (B, {', '.join(map(str, expected))}) "
                f"(node 0 + model.patch_slots, model.patch_size), got {tuple(patches.shape)}; "
                "make data.patch_size / data.patch_slots match the model's"
            )
        valid, masked = batch["patch_valid"].bool(), batch["patch_masked"].bool()
        slots = (patches.shape[0], config.patch_slots)
        if tuple(valid.shape) != slots or tuple(masked.shape) != slots:
            raise SketchFormatError(
                f"{name}: batch['patch_valid'] and batch['patch_masked'] must have shape "
                f"{slots}, got {tuple(valid.shape)} and {tuple(masked.shape)}"
            )
        return patches, valid & ~masked

    def sequence_targets(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Checked ``strokes5 (B, Nmax + 1, 5)`` (with S0) and point counts ``(B,)``.

        Raises:
            SketchFormatError: missing keys, wrong shapes, no start token, or an empty sketch.
        """
        return decoder_targets(batch, self.method_name)

    # ------------------------------------------------------------------ encoder
    def encode_graph(self, batch: dict[str, Tensor]) -> GraphEncoding:
        """Patch CNN, synonymous-proximity graph and GCN: the whole encoder."""
        patches, usable = self.patch_inputs(batch)
        batch_size, nodes = patches.shape[:2]
        embeddings = self.patch_cnn(patches.reshape(-1, 1, *patches.shape[2:]))  # (B N, D)
        patch_embeddings = embeddings.view(batch_size, nodes, -1)[:, 1:]  # (B, S, D)
        adjacency = synonymous_proximity_adjacency(
            patch_embeddings, usable, self.config.neighbour_weights, self.config.global_weight
        )  # (B, N, N)
        node_features = self.node_norm(torch.relu(embeddings)).view(batch_size, nodes, -1)
        graph = self.gcn(node_features, adjacency).sum(dim=1)  # (B, D)
        hidden = torch.tanh(self.graph_norm(graph))
        return GraphEncoding(
            self.mu(hidden), self.log_variance(hidden), patch_embeddings, usable, adjacency
        )

    def encode(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``mu`` and ``log sigma^2`` ``(B, Z)`` of a patch batch."""
        encoding = self.encode_graph(batch)
        return encoding.mu, encoding.log_variance

    # ------------------------------------------------------------------ objective
    def cluster_loss(self, patch_embeddings: Tensor, usable: Tensor) -> tuple[Tensor, Tensor]:
        """``L_clu`` over the usable patches, and the centroid update in training mode.

        At the first training call the centroids are initialised from this batch.

        Returns:
            ``L_clu`` (scalar) and the number of clusters with at least one member.
        """
        members = patch_embeddings[usable]  # (N, D)
        if self.training and not bool(self.clusters.centroids_ready):
            others = patch_embeddings[~usable]
            self.clusters.initialise(torch.cat([members, others]))
        clusters = self.clusters.assign(members)  # (N,)
        terms = self.clusters.loss_terms(members, clusters)
        loss = distributed_mean(terms.sum(), terms.new_tensor(float(len(terms))))
        if self.training:
            sizes = self.clusters.update(members, clusters)
        else:
            sizes = torch.bincount(clusters, minlength=self.config.num_clusters)
        return loss, (sizes > 0).sum()

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The objective ``L_R + cluster_weight * L_clu`` (no KL term).

        Also returned for logging: ``recon`` (``offset_loss`` + ``pen_loss``, each summed over
        the steps and divided by the batch size), ``cluster_loss`` and ``clusters_used``
        (centroids that won at least one patch of the batch).
        """
        strokes, lengths = self.sequence_targets(batch)
        encoding = self.encode_graph(batch)
        if len(strokes) != len(encoding.mu):
            raise SketchFormatError(
                f"{self.name}: batch['strokes5'] holds {len(strokes)} sketches and "
                f"batch['patches'] {len(encoding.mu)}"
            )
        z = self.sample_latent(encoding.mu, encoding.log_variance)
        offset_loss, pen_loss = self.reconstruction_terms(
            strokes, int(lengths.max()), z, normaliser=len(strokes)
        )
        recon = offset_loss + pen_loss
        cluster_loss, clusters_used = self.cluster_loss(encoding.patch_embeddings, encoding.usable)
        return {
            "loss": recon + self.config.cluster_weight * cluster_loss,
            "recon": recon.detach(),
            "offset_loss": offset_loss.detach(),
            "pen_loss": pen_loss.detach(),
            "cluster_loss": cluster_loss.detach(),
            "clusters_used": clusters_used.detach().float(),
        }

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, latent_size)``: the code mean ``mu`` of each patch graph."""
        return self.encode_graph(batch).mu

    # ------------------------------------------------------------------ drawing
    @torch.no_grad()
    def generate(
        self,
        source: dict[str, Tensor] | Tensor | int,
        temperature: float | None = None,
        greedy: bool = False,
        *,
        max_len: int | None = None,
        use_mean: bool = True,
    ) -> Tensor:
        """Draw stroke-5 sketches (SP-gra2seq ``sample.py``: ``z = mu``, temperature 0.24).

        Call ``eval()`` first (BatchNorm running statistics, no dropout).

        Args:
            source: a patch batch (encode, then decode: reconstruction or healing), a ``(B, Z)``
                tensor of codes, or a count ``n`` (``z ~ N(0, I)``; without a KL term that is
                not the distribution the codes were trained on).
            temperature: sampling temperature; None uses ``config.decoder.temperature``.
            greedy: most likely component and pen state and the component mean at each step.
            max_len: most points per sketch; None uses ``config.max_length``.
            use_mean: for a batch, decode ``mu`` (the reference) rather than a sample.

        Returns:
            ``(B, max_len, 5)`` stroke-5 without the start token, in the normalised units.
        """
        if isinstance(source, dict):
            mu, log_variance = self.encode(source)
            z = mu if use_mean else self.sample_latent(mu, log_variance)
        else:
            z = self.latent_codes(source)
        return self.decode_codes(z, temperature, greedy, max_len)
