"""The sketch-rnn output head: a bivariate Gaussian mixture over (dx, dy) and 3 pen states.

- [0] Ha, Eck, "A Neural Representation of Sketch Drawings", ICLR 2018,
  https://arxiv.org/abs/1704.03477 (eqs. 9-11); reference code magenta
  ``magenta/models/sketch_rnn/model.py`` (``get_mixture_coef``, ``tf_2d_normal``,
  ``get_lossfunc``, ``sample``).
- [1] Graves, "Generating Sequences With Recurrent Neural Networks", 2013,
  https://arxiv.org/abs/1308.0850 (eqs. 18-26, the mixture density network).

A decoder step emits ``6 M + 3`` numbers, laid out as magenta does: 3 pen logits, then ``M``
values each of ``pi`` logits, ``mu_x``, ``mu_y``, ``log sigma_x``, ``log sigma_y`` and the
pre-tanh correlation. :func:`split_mixture_params` turns them into a :class:`MixtureParams`.

Two deliberate differences from the TensorFlow code, both numerical:

* the offset likelihood is a log-sum-exp over components of log densities, where magenta
  computes ``-log(sum_j pi_j N_j + 1e-6)``. They agree wherever the density is above about
  1e-6; ours keeps a gradient where magenta's floor flattens it (the NaN reports of magenta#1735
  and alexis-jacq/Pytorch-Sketch-RNN#6 come from that product form);
* ``log sigma`` and ``rho`` are clamped (:class:`MixtureLimits`) so a runaway output cannot
  produce an infinite loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "MixtureLimits",
    "MixtureParams",
    "mixture_output_size",
    "split_mixture_params",
    "bivariate_normal_log_prob",
    "mixture_log_prob",
    "reconstruction_loss",
    "sample_mixture",
]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class MixtureLimits:
    """Clamps that keep the mixture likelihood finite.

    Attributes:
        min_log_sigma: floor of ``log sigma`` (offsets are normalised to unit std, so
            ``exp(-7) ~ 1e-3`` is far below the data's quantisation step).
        max_log_sigma: ceiling of ``log sigma``.
        max_abs_rho: ``|rho|`` is clamped below 1 so ``1 - rho^2`` stays positive.
    """

    min_log_sigma: float = -7.0
    max_log_sigma: float = 7.0
    max_abs_rho: float = 0.9999


class MixtureParams(NamedTuple):
    """Mixture parameters for any leading shape ``(...)``.

    Attributes:
        log_pi: ``(..., M)`` log mixture weights (log-softmax of the logits).
        mu: ``(..., M, 2)`` component means ``(mu_x, mu_y)``.
        log_sigma: ``(..., M, 2)`` log standard deviations, clamped.
        rho: ``(..., M)`` correlations in ``(-1, 1)``, clamped.
        pen_logits: ``(..., 3)`` unnormalised pen-state scores (p1, p2, p3).
    """

    log_pi: Tensor
    mu: Tensor
    log_sigma: Tensor
    rho: Tensor
    pen_logits: Tensor

    @property
    def sigma(self) -> Tensor:
        """``(..., M, 2)`` standard deviations."""
        return self.log_sigma.exp()

    @property
    def num_mixtures(self) -> int:
        """``M``."""
        return self.log_pi.shape[-1]


def mixture_output_size(num_mixtures: int) -> int:
    """Width of the raw decoder output for ``num_mixtures`` components: ``6 M + 3``."""
    return 6 * num_mixtures + 3


def split_mixture_params(
    raw: Tensor, num_mixtures: int, limits: MixtureLimits | None = None
) -> MixtureParams:
    """Split raw decoder outputs ``(..., 6M + 3)`` into mixture parameters.

    softmax for ``pi`` (as log-softmax), exp for sigma, tanh for rho; the pen logits are kept raw
    (the loss and the sampler apply the softmax themselves).

    Examples:
        >>> params = split_mixture_params(torch.zeros(4, 7, 6 * 5 + 3), 5)
        >>> params.mu.shape, round(params.log_pi.exp().sum(-1)[0, 0].item(), 6)
        (torch.Size([4, 7, 5, 2]), 1.0)
    """
    limits = limits or MixtureLimits()
    if raw.shape[-1] != mixture_output_size(num_mixtures):
        raise ValueError(
            f"raw mixture outputs have width {raw.shape[-1]}, expected 6 * {num_mixtures} + 3 = "
            f"{mixture_output_size(num_mixtures)}"
        )
    pen_logits = raw[..., :3]
    pi_logits, mu_x, mu_y, log_sigma_x, log_sigma_y, rho_raw = raw[..., 3:].chunk(6, dim=-1)
    log_pi = F.log_softmax(pi_logits, dim=-1)  # (..., M)
    mu = torch.stack([mu_x, mu_y], dim=-1)  # (..., M, 2)
    log_sigma = torch.stack([log_sigma_x, log_sigma_y], dim=-1).clamp(
        limits.min_log_sigma, limits.max_log_sigma
    )  # (..., M, 2)
    rho = torch.tanh(rho_raw).clamp(-limits.max_abs_rho, limits.max_abs_rho)  # (..., M)
    return MixtureParams(log_pi, mu, log_sigma, rho, pen_logits)


def bivariate_normal_log_prob(
    offsets: Tensor, mu: Tensor, log_sigma: Tensor, rho: Tensor
) -> Tensor:
    """Log density of correlated 2-d normals (Graves 2013, eqs. 24-25), computed in log space.

    Args:
        offsets: ``(..., 2)`` points; broadcast against the component axis of the others.
        mu: ``(..., 2)`` means.
        log_sigma: ``(..., 2)`` log standard deviations.
        rho: ``(...)`` correlations, strictly inside ``(-1, 1)``.

    Returns:
        ``(...)`` log densities.
    """
    normalised = (offsets - mu) * torch.exp(-log_sigma)  # (..., 2)
    norm_x, norm_y = normalised[..., 0], normalised[..., 1]
    one_minus_rho2 = 1.0 - rho * rho
    quadratic = norm_x * norm_x + norm_y * norm_y - 2.0 * rho * norm_x * norm_y
    return (
        -_LOG_2PI
        - log_sigma.sum(dim=-1)
        - 0.5 * torch.log(one_minus_rho2)
        - 0.5 * quadratic / one_minus_rho2
    )


def mixture_log_prob(params: MixtureParams, offsets: Tensor) -> Tensor:
    """``log sum_j pi_j N(offsets | mu_j, sigma_j, rho_j)`` by log-sum-exp over components.

    Args:
        params: mixture with leading shape ``(...)``.
        offsets: ``(..., 2)`` points.

    Returns:
        ``(...)`` log likelihoods.
    """
    component = bivariate_normal_log_prob(
        offsets.unsqueeze(-2), params.mu, params.log_sigma, params.rho
    )  # (..., M)
    return torch.logsumexp(params.log_pi + component, dim=-1)


def reconstruction_loss(
    params: MixtureParams,
    target: Tensor,
    *,
    mask_pen_padding: bool = False,
    normaliser: float | None = None,
) -> tuple[Tensor, Tensor]:
    """sketch-rnn's reconstruction loss ``L_R = L_s + L_p`` (eq. 9 of [0], ``get_lossfunc``).

    * ``L_s``: ``-log p(dx, dy)`` summed over the real points only, i.e. the target rows whose
      ``p3`` is 0, divided by ``Nmax * batch``;
    * ``L_p``: pen-state cross-entropy summed over all ``Nmax`` steps (the end-of-sketch rows
      included, so the model learns to stay stopped), divided by ``Nmax * batch``. Magenta masks
      it to the real rows when the model is built with ``is_training=False``; pass
      ``mask_pen_padding=True`` for that.

    Args:
        params: mixture for each step, leading shape ``(B, T)``.
        target: ``(B, T, 5)`` stroke-5 targets (the rows after the start token).
        mask_pen_padding: leave the end-of-sketch rows out of ``L_p``.
        normaliser: divide the sums by this instead of ``B * T``: pass ``B * Nmax`` when ``T``
            was cut below the padded length, so the value does not depend on the cut.

    Returns:
        ``(L_s, L_p)`` scalars.
    """
    batch, steps = target.shape[:2]
    normaliser = float(batch * steps) if normaliser is None else float(normaliser)
    real = 1.0 - target[..., 4]  # (B, T): 1 on real points, 0 on end-of-sketch rows
    offset_nll = -mixture_log_prob(params, target[..., :2])  # (B, T)
    offset_loss = (offset_nll * real).sum() / normaliser
    pen_classes = target[..., 2:5].argmax(dim=-1)  # (B, T)
    pen_ce = F.cross_entropy(
        params.pen_logits.reshape(-1, 3), pen_classes.reshape(-1), reduction="none"
    ).view(batch, steps)  # (B, T)
    if mask_pen_padding:
        pen_ce = pen_ce * real
    pen_loss = pen_ce.sum() / normaliser
    return offset_loss, pen_loss


def sample_mixture(
    params: MixtureParams,
    temperature: float = 1.0,
    *,
    greedy: bool = False,
    variance_exponent: float = 1.0,
    pen_temperature: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one stroke-5 point per mixture (the sampling of sketch-rnn, section 3.3 of [0]).

    With temperature ``tau``: the component is drawn from ``softmax(log pi / tau)``, the pen
    state from ``softmax(pen_logits / tau)``, and the offset from the chosen component with each
    variance multiplied by ``tau ** variance_exponent`` (the correlation unchanged). The paper
    scales ``sigma^2`` by ``tau`` (exponent 1, the default). magenta's ``sample`` passes
    ``sqrt(tau)`` to ``sample_gaussian_2d``, which multiplies sigma by its argument squared, so
    its variances are scaled by ``tau^2``: use ``variance_exponent=2`` to match that code.
    ``greedy`` takes the most likely component and pen state and the component's mean.

    ``pen_temperature`` gives the pen state its own temperature (None: ``tau``, as the paper
    and magenta do). A low ``tau`` sharpens the pen softmax too, so a model unsure *when* to
    lift the pen or stop lifts late or never: one long looping stroke that runs to
    ``max_len``. ``pen_temperature=1`` samples the pen at the model's own rates while the
    offsets stay at ``tau``.

    Args:
        params: mixture with leading shape ``(B,)``.
        temperature: ``tau > 0``.
        greedy: deterministic mode.
        variance_exponent: see above.
        pen_temperature: temperature of the pen state; None: ``temperature``.
        generator: random source; None uses torch's global generator.

    Returns:
        ``(B, 5)`` points ``(dx, dy, p1, p2, p3)`` with one-hot pen states.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    pen_temperature = temperature if pen_temperature is None else pen_temperature
    if not pen_temperature > 0:
        raise ValueError(f"pen_temperature must be positive, got {pen_temperature}")
    batch = params.log_pi.shape[0]
    rows = torch.arange(batch, device=params.log_pi.device)
    if greedy:
        component = params.log_pi.argmax(dim=-1)  # (B,)
        pen = params.pen_logits.argmax(dim=-1)  # (B,)
    else:
        component = _categorical(params.log_pi / temperature, generator)
        pen = _categorical(params.pen_logits / pen_temperature, generator)
    mu = params.mu[rows, component]  # (B, 2)
    if greedy:
        offsets = mu
    else:
        sigma = params.log_sigma[rows, component].exp()  # (B, 2)
        sigma = sigma * temperature ** (0.5 * variance_exponent)
        rho = params.rho[rows, component]  # (B,)
        noise = _normal((batch, 2), mu, generator)  # (B, 2)
        along_x = noise[:, 0]
        along_y = rho * noise[:, 0] + torch.sqrt(1.0 - rho * rho) * noise[:, 1]
        offsets = mu + sigma * torch.stack([along_x, along_y], dim=-1)
    states = F.one_hot(pen, 3).to(mu.dtype)  # (B, 3)
    return torch.cat([offsets, states], dim=-1)


def _categorical(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """One draw per row of ``softmax(logits)`` ``(B, K) -> (B,)``."""
    probabilities = F.softmax(logits.float(), dim=-1)
    if generator is not None and generator.device != probabilities.device:
        draws = torch.multinomial(probabilities.to(generator.device), 1, generator=generator)
        return draws.squeeze(-1).to(logits.device)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


def _normal(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise of ``shape`` on ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    noise = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return noise.to(like.device)
