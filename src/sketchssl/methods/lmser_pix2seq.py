"""Lmser-pix2seq: a gMLP Lmser block reads the masked sketch image, an LSTM redraws the strokes.

- [0] Li, Zang, Tu, Xu, "Lmser-pix2seq: Learning stable sketch representations for sketch
  healing", CVIU 2024 (doi 10.1016/j.cviu.2023.103931); reference code CMACH508/Lmser-pix2seq
  (``encoder.py`` ``myencoder``, ``decoder.py`` ``DecoderRNN``, ``Lmser.py`` ``Model.train``,
  ``hyper_params.py``, ``inference.py``). METHODS.md section 5 summarises it.

Input: node 0 of the patch view (:mod:`sketchssl.render.patch_view`), the whole sketch drawn on
the 640-px canvas with patch squares around the stroke points blacked out (each with probability
``data.patch_mask_prob``, 0.1 in training), resized to ``patch_size`` (128). Target of the image
loss: ``patch_original``, the same canvas unmasked. The patches themselves are not read (the
reference code computes and drops them too).

Model (:class:`~sketchssl.nn.gmlp.LmserGMLP`): 16-px tokens, 4 gMLP down blocks and 4 up blocks
with averaged skips, 2 feedback passes that re-embed the reconstructed image. Latent: the top
features of the last pass, layer-normalised and averaged over tokens, give ``mu`` and
``log sigma^2`` (two linear maps); ``z = mu + sigma * eps``. Decoder:
:class:`~sketchssl.nn.decoder.MixtureDecoder` (LSTM 512, ``M = 20``) reading ``[S_{t-1}, z]``.

Loss, as ``Lmser.py`` computes it: ``L_R + image_loss_weight * MSE(reconstruction, unmasked
image)`` with ``image_loss_weight`` 0.5 (``hp.l2weight``) and no KL term (it is commented out;
``wKL``, ``eta_min``, ``KL_min`` are marked unused). ``L_R`` is sketch-rnn's
(:func:`~sketchssl.nn.mixture.reconstruction_loss`), divided by ``Nmax * batch``.

Numerical safety. The reference README says training may end in NaN ("retry the training"). The
places where its code can overflow, and what we do instead:

* ``log sigma^2`` is an unconstrained linear output and ``exp(log sigma^2 / 2)`` overflows for
  outputs above ~177 (no KL term pulls it back). Here it is soft-clamped,
  ``limit * tanh(raw / limit)`` with ``log_variance_limit`` 10: smooth, gradient kept inside
  the range, ``sigma <= e^5``.
* the mixture density is computed as a product, ``pi * exp(-z / 2(1 - rho^2)) / (2 pi sigma_x
  sigma_y sqrt(1 - rho^2))`` with ``sigma = exp(raw)`` unclamped and ``rho = tanh(raw)``, then
  ``log(1e-3 + sum)``: ``sigma -> 0`` or ``|rho| -> 1`` gives ``0 / 0`` or ``inf / inf``. Here the
  shared mixture head works in log space (log-sum-exp) with ``log sigma`` in ``[-7, 7]`` and
  ``|rho| <= 0.9999`` (:class:`~sketchssl.nn.mixture.MixtureLimits`), and the pen loss is a
  cross-entropy on logits (the code's ``log(1e-3 + softmax)``).
* the reference skips a step whose ``L_R`` is NaN; nothing here needs that, and a non-finite
  loss would show in the logs rather than be hidden.

Other differences: one Adam optimiser with a global gradient-norm clip (the code has one Adam
per network, each clipped to norm 1; the training layer has one optimiser); the stroke-5 target
is sketch-rnn's (the code gives the last real point ``p3`` instead of ``p2``); long sketches are
cut to ``data.max_len`` (the code drops sketches longer than 200); batches are drawn by the
training layer's sampler (the code draws with replacement). The canvas is anti-aliased
(:mod:`sketchssl.render.patches` lists its differences from the OpenCV drawing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import require_keys
from sketchssl.methods.latent_decoder import (
    MOVED_DECODER_KEYS,
    LatentDecoderMethod,
    MixtureDecoderConfig,
    decoder_targets,
)
from sketchssl.methods.registry import register_method
from sketchssl.nn.gmlp import LmserGMLP, LmserOutput
from sketchssl.render.patches import PatchConfig

__all__ = ["LmserPix2seqConfig", "LmserPix2seq", "soft_clamp"]


@dataclass
class LmserPix2seqConfig:
    """Lmser-pix2seq hyper-parameters; defaults are the reference code's (``hyper_params.py``).

    Attributes:
        patch_size: side of the input image (``graph_picture_size`` 128). The training layer
            copies ``data.patch_size`` here; the two must agree.
        token_size: side of each gMLP token's square (the patch-embedding conv's kernel and
            stride, 16: an 8 x 8 grid).
        model_dim: token width (``d_model`` 128).
        ffn_dim: gMLP hidden width (``d_ffn`` 768).
        depth: gMLP blocks in each of the down and up stacks (4).
        feedback_loops: Lmser feedback passes ``T`` (``hp.T`` 2).
        latent_size: width of ``z`` (``Nz`` 128).
        decoder: the mixture decoder, its sampler and its loss's steps
            (:class:`~sketchssl.methods.latent_decoder.MixtureDecoderConfig`). Lmser-pix2seq's
            defaults: ``size`` 512 (``dec_hidden_size``; 1024 for the second model),
            ``num_mixtures`` 20 (``M``), ``cell`` lstm (the code's ``nn.LSTM``),
            ``recurrent_dropout`` 0 (``hp.dropout``), ``temperature`` 0.01 (``inference.py``),
            ``variance_exponent`` 1 (the code multiplies sigma by ``sqrt(temperature)``),
            ``pen_temperature`` None (the pen follows the sampling temperature).
        image_loss_weight: weight of the image MSE (``hp.l2weight`` 0.5).
        log_variance_limit: ``log sigma^2`` is soft-clamped to ``(-limit, limit)``.
        decode_mean: :meth:`LmserPix2seq.generate` decodes ``mu``; False decodes ``z = mu +
            sigma * eps`` as ``inference.py`` does.
        max_length: points :meth:`LmserPix2seq.generate` draws at most (``max_seq_length``).
    """

    #: the flat keys of checkpoints before ``model.decoder``
    moved_keys: ClassVar[dict[str, tuple[str, ...]]] = MOVED_DECODER_KEYS

    patch_size: int = 128
    token_size: int = 16
    model_dim: int = 128
    ffn_dim: int = 768
    depth: int = 4
    feedback_loops: int = 2
    latent_size: int = 128
    decoder: MixtureDecoderConfig = field(
        default_factory=partial(MixtureDecoderConfig, recurrent_dropout=0.0, temperature=0.01)
    )
    image_loss_weight: float = 0.5
    log_variance_limit: float = 10.0
    decode_mean: bool = False
    max_length: int = 200

    def __post_init__(self) -> None:
        for key in (
            "patch_size",
            "token_size",
            "model_dim",
            "depth",
            "latent_size",
            "max_length",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        if self.patch_size % self.token_size:
            raise ConfigError(
                f"model.token_size {self.token_size} must divide model.patch_size "
                f"{self.patch_size} (= data.patch_size, the image side)"
            )
        if self.ffn_dim < 2 or self.ffn_dim % 2:
            raise ConfigError(
                f"config key 'ffn_dim' must be an even number >= 2 (the gating unit halves "
                f"it), got {self.ffn_dim}"
            )
        if self.feedback_loops < 0:
            raise ConfigError(
                f"config key 'feedback_loops' must be >= 0, got {self.feedback_loops}"
            )
        if self.image_loss_weight < 0:
            raise ConfigError(
                f"config key 'image_loss_weight' must be >= 0, got {self.image_loss_weight}"
            )
        if not self.log_variance_limit > 0:
            raise ConfigError(
                f"config key 'log_variance_limit' must be positive, got {self.log_variance_limit}"
            )


def soft_clamp(values: Tensor, limit: float) -> Tensor:
    """``limit * tanh(values / limit)``: the identity near 0, smoothly bounded by ``+-limit``.

    Examples:
        >>> [round(v, 3) for v in soft_clamp(torch.tensor([0.1, 1e6, -1e6]), 10.0).tolist()]
        [0.1, 10.0, -10.0]
    """
    return limit * torch.tanh(values / limit)


class LatentHead(nn.Module):
    """``LN(top)`` averaged over tokens -> ``mu`` and soft-clamped ``log sigma^2``.

    Args:
        model_dim: token width.
        latent_size: width of ``z``.
        log_variance_limit: bound of ``log sigma^2``.
    """

    def __init__(self, model_dim: int, latent_size: int, log_variance_limit: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(model_dim)
        self.mu = nn.Linear(model_dim, latent_size)
        self.log_variance = nn.Linear(model_dim, latent_size)
        self.log_variance_limit = log_variance_limit

    def forward(self, top: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, N, D)`` -> ``mu``, ``log sigma^2`` each ``(B, Z)``."""
        pooled = self.norm(top).mean(dim=1)  # (B, D)
        log_variance = soft_clamp(self.log_variance(pooled), self.log_variance_limit)
        return self.mu(pooled), log_variance


@register_method(
    "lmser_pix2seq",
    "Lmser-pix2seq: gMLP Lmser block on the masked sketch image (feedback loops), LSTM mixture "
    "decoder, image reconstruction loss",
)
class LmserPix2seq(LatentDecoderMethod):
    """Lmser-pix2seq (Li et al., CVIU 2024) as a :class:`SketchMethod`.

    Training batches need ``data.views: [sequence, patches]`` (node 0 of the patch view is the
    input, ``patch_original`` the image target, the sequence view the decoder's target) with
    ``data.start_token: true`` and ``data.normalization: std``. ``embed`` and ``generate`` read
    only ``patches``, so healing feeds them the masked canvas (``healing_input = "patches"``).

    Attributes:
        generator: random source for ``eps`` and sampling; None (default) uses torch's global
            generator, which the training layer re-seeds each step.

    Examples:
        >>> from sketchssl.methods.latent_decoder import MixtureDecoderConfig
        >>> config = LmserPix2seqConfig(patch_size=16, token_size=4, model_dim=8, ffn_dim=16,
        ...     depth=2, feedback_loops=1, latent_size=4,
        ...     decoder=MixtureDecoderConfig(size=16, num_mixtures=2, recurrent_dropout=0.0))
        >>> model = LmserPix2seq(config)
        >>> strokes = torch.zeros(3, 11, 5); strokes[:, :, 4] = 1; strokes[:, 0] = torch.tensor(
        ...     [0.0, 0, 1, 0, 0]); strokes[:, 1:4] = torch.tensor([0.5, 0.5, 1, 0, 0])
        >>> mask = torch.zeros(3, 11, dtype=torch.bool); mask[:, :4] = True
        >>> images = -torch.ones(3, 21, 16, 16)
        >>> batch = {"strokes5": strokes, "mask": mask, "patches": images,
        ...          "patch_original": images[:, 0]}
        >>> sorted(model.loss(batch))
        ['image_loss', 'log_variance', 'loss', 'offset_loss', 'pen_loss', 'recon']
        >>> model.embed(batch).shape, model.eval().generate(batch, max_len=6).shape
        (torch.Size([3, 4]), torch.Size([3, 6, 5]))
    """

    config_class = LmserPix2seqConfig
    config: LmserPix2seqConfig
    #: :mod:`sketchssl.eval.healing` gives this method the patch view of the masked canvas.
    healing_input = "patches"

    def __init__(self, config: LmserPix2seqConfig | None = None) -> None:
        super().__init__(config)
        config = self.config
        self.lmser = LmserGMLP(
            image_size=config.patch_size,
            token_size=config.token_size,
            model_dim=config.model_dim,
            ffn_dim=config.ffn_dim,
            depth=config.depth,
            feedback_loops=config.feedback_loops,
        )
        self.latent = LatentHead(config.model_dim, config.latent_size, config.log_variance_limit)
        self.decoder = config.decoder.build(config.latent_size)
        # The reference DecoderRNN's fc_hc and fc_params are nn.Linear with torch's default
        # initialisation (MixtureDecoder follows magenta's instead).
        self.decoder.initial_state_layer.reset_parameters()
        self.decoder.head.reset_parameters()
        self.generator: torch.Generator | None = None

    @property
    def patch_config(self) -> PatchConfig:
        """Lmser-pix2seq's canvas geometry scaled to the image side ``P = patch_size``.

        Canvas ``5 P``, line width ``P / 8``, border ``3 P``: at ``P = 128`` the reference
        code's 640, 16 and 384. Healing uses the run config's ``data.patch_*`` when it has
        them; this is the fallback.
        """
        side = self.config.patch_size
        return PatchConfig(
            patch_size=side, canvas_scale=5.0 * side, line_width=side / 8.0, border=3 * side
        )

    # ------------------------------------------------------------------ inputs
    def image(self, batch: dict[str, Tensor]) -> Tensor:
        """Node 0 of the patch view, checked: ``(B, 1, P, P)``.

        Raises:
            SketchFormatError: no ``patches`` key, or images of another size than the model's.
        """
        require_keys(batch, "patches", method=self.method_name)
        patches = batch["patches"]
        side = self.config.patch_size
        if patches.dim() != 4 or tuple(patches.shape[2:]) != (side, side):
            raise SketchFormatError(
                f"{self.method_name}: batch['patches'] must have shape (B, 1 + slots, {side}, "
                f"{side}), got {tuple(patches.shape)}; set data.patch_size to model.patch_size "
                f"({side}) or train with data.views=[sequence,patches]"
            )
        return patches[:, :1].float()  # (B, 1, P, P)

    def sequence(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Checked ``strokes5 (B, Nmax + 1, 5)`` (with S0) and point counts ``(B,)``.

        Raises:
            SketchFormatError: missing keys, wrong shapes, no start token, or an empty sketch.
        """
        return decoder_targets(batch, self.method_name)

    # ------------------------------------------------------------------ encoder
    def encode_image(self, image: Tensor) -> tuple[Tensor, Tensor, LmserOutput]:
        """``image (B, 1, P, P)`` -> ``mu``, ``log sigma^2`` ``(B, Z)`` and the Lmser output."""
        features = self.lmser(image)
        mu, log_variance = self.latent(features.top)
        return mu, log_variance, features

    def encode(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``mu`` and ``log sigma^2`` ``(B, Z)`` of a batch's (masked) node-0 image."""
        mu, log_variance, _ = self.encode_image(self.image(batch))
        return mu, log_variance

    # ------------------------------------------------------------------ objective
    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """``L_R + image_loss_weight * MSE(reconstruction, unmasked image)``.

        Also returned for logging: ``recon`` (``offset_loss`` + ``pen_loss``), ``image_loss``
        and ``log_variance`` (its mean: it falls while the code learns to ignore ``eps``).
        """
        image = self.image(batch)
        require_keys(batch, "patch_original", method=self.method_name)
        target = batch["patch_original"].float()
        if target.dim() == 3:
            target = target[:, None]  # (B, 1, P, P)
        if tuple(target.shape) != tuple(image.shape):
            raise SketchFormatError(
                f"{self.method_name}: batch['patch_original'] has shape {tuple(target.shape)}, the "
                f"input image {tuple(image.shape)}"
            )
        strokes, lengths = self.sequence(batch)
        batch_size, padded = strokes.shape[0], strokes.shape[1] - 1  # Nmax

        mu, log_variance, features = self.encode_image(image)
        z = self.sample_latent(mu, log_variance)
        offset_loss, pen_loss = self.reconstruction_terms(
            strokes, int(lengths.max()), z, normaliser=batch_size * padded
        )
        recon = offset_loss + pen_loss
        image_loss = F.mse_loss(features.reconstruction, target)
        loss = recon + self.config.image_loss_weight * image_loss
        return {
            "loss": loss,
            "recon": recon.detach(),
            "offset_loss": offset_loss.detach(),
            "pen_loss": pen_loss.detach(),
            "image_loss": image_loss.detach(),
            "log_variance": log_variance.detach().mean(),
        }

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, latent_size)``: ``mu`` of the node-0 image (what ``inference.py`` saves)."""
        return self.encode(batch)[0]

    # ------------------------------------------------------------------ drawing
    @torch.no_grad()
    def generate(
        self,
        source: dict[str, Tensor] | Tensor | int,
        temperature: float | None = None,
        greedy: bool = False,
        *,
        max_len: int | None = None,
        use_mean: bool | None = None,
    ) -> Tensor:
        """Draw stroke-5 sketches.

        Args:
            source: a batch with ``patches`` (encode its masked node-0 image, then decode:
                healing / reconstruction), a ``(B, Z)`` tensor of codes, or a count ``n``
                (``z ~ N(0, I)``; without a KL term the codes are not fitted to that prior, so
                these are off the training distribution).
            temperature: sampling temperature; None uses ``config.decoder.temperature``.
            greedy: take the most likely component and pen state and the component mean.
            max_len: most points per sketch; None uses ``config.max_length``.
            use_mean: for a batch, decode ``mu`` rather than ``z = mu + sigma * eps``; None
                uses ``config.decode_mean``.

        Returns:
            ``(B, max_len, 5)`` stroke-5 without the start token, in the data's normalised
            units.
        """
        if isinstance(source, dict):
            mu, log_variance = self.encode(source)
            mean = self.config.decode_mean if use_mean is None else use_mean
            z = mu if mean else self.sample_latent(mu, log_variance)
        else:
            z = self.latent_codes(source)
        return self.decode_codes(z, temperature, greedy, max_len)
