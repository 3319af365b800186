"""The mixture head against torch.distributions, hand-computed losses and sampling statistics."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from sketchssl.nn.mixture import (
    MixtureParams,
    bivariate_normal_log_prob,
    mixture_log_prob,
    mixture_output_size,
    reconstruction_loss,
    sample_mixture,
    split_mixture_params,
)


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread is faster, and immune to OpenMP spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def covariance(sigma: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """``(..., 2, 2)`` covariance matrices from ``(..., 2)`` sigmas and ``(...)`` correlations."""
    sx, sy = sigma[..., 0], sigma[..., 1]
    off = rho * sx * sy
    return torch.stack([torch.stack([sx * sx, off], -1), torch.stack([off, sy * sy], -1)], dim=-2)


def random_params(shape: tuple[int, ...], mixtures: int, seed: int = 0) -> MixtureParams:
    generator = torch.Generator().manual_seed(seed)
    width = mixture_output_size(mixtures)
    raw = torch.randn(*shape, width, generator=generator, dtype=torch.float64)
    return split_mixture_params(raw, mixtures)


def test_output_layout_follows_magenta_pen_first_then_six_blocks_of_m():
    mixtures = 3
    raw = torch.arange(mixture_output_size(mixtures), dtype=torch.float64)[None]  # (1, 21)
    params = split_mixture_params(raw * 0.01, mixtures)
    assert torch.equal(params.pen_logits, raw[:, :3] * 0.01)
    assert torch.allclose(params.mu[0, :, 0], raw[0, 6:9] * 0.01)  # mu_x block after the pis
    assert torch.allclose(params.mu[0, :, 1], raw[0, 9:12] * 0.01)
    assert torch.allclose(params.log_sigma[0, :, 0], raw[0, 12:15] * 0.01)
    assert torch.allclose(params.rho[0], torch.tanh(raw[0, 18:21] * 0.01))
    assert torch.allclose(params.log_pi.exp().sum(-1), torch.ones(1, dtype=torch.float64))
    with pytest.raises(ValueError, match="6 \\* 3 \\+ 3"):
        split_mixture_params(torch.zeros(2, 20), 3)


def test_bivariate_log_pdf_matches_multivariate_normal():
    generator = torch.Generator().manual_seed(1)
    shape = (64,)
    mu = torch.randn(*shape, 2, generator=generator, dtype=torch.float64)
    log_sigma = torch.randn(*shape, 2, generator=generator, dtype=torch.float64) * 0.8
    rho = torch.tanh(torch.randn(*shape, generator=generator, dtype=torch.float64) * 1.5)
    points = torch.randn(*shape, 2, generator=generator, dtype=torch.float64) * 2
    ours = bivariate_normal_log_prob(points, mu, log_sigma, rho)
    reference = MultivariateNormal(mu, covariance(log_sigma.exp(), rho)).log_prob(points)
    assert torch.allclose(ours, reference, atol=1e-9, rtol=1e-9)


def test_mixture_log_likelihood_matches_mixture_same_family():
    params = random_params((5, 7), mixtures=4, seed=2)
    generator = torch.Generator().manual_seed(3)
    points = torch.randn(5, 7, 2, generator=generator, dtype=torch.float64)
    reference = MixtureSameFamily(
        Categorical(logits=params.log_pi),
        MultivariateNormal(params.mu, covariance(params.sigma, params.rho)),
    ).log_prob(points)
    assert torch.allclose(mixture_log_prob(params, points), reference, atol=1e-9)


def test_log_likelihood_stays_finite_where_the_product_form_underflows():
    # A point 60 sigmas away: the density is exp(-1800), 0 in float32, but its log is finite.
    raw = torch.zeros(1, mixture_output_size(1))
    params = split_mixture_params(raw, 1)
    value = mixture_log_prob(params, torch.tensor([[60.0, 0.0]]))
    assert torch.isfinite(value).all()
    assert value.item() == pytest.approx(-math.log(2 * math.pi) - 1800.0, rel=1e-6)
    # extreme raw outputs are clamped instead of producing inf / nan
    wild = torch.full((1, mixture_output_size(2)), 1e4)
    wild[:, 3 + 6 : 3 + 10] = -1e4  # log sigma far below the floor
    loss = mixture_log_prob(split_mixture_params(wild, 2), torch.tensor([[0.5, -0.5]]))
    assert torch.isfinite(loss).all()


def test_reconstruction_loss_normalisation_by_hand():
    """Two sketches, Nmax = 3: offsets count on real rows only, pen CE on all rows in training."""
    params = random_params((2, 3), mixtures=2, seed=4)
    target = torch.tensor(
        [
            [[0.1, 0.2, 1, 0, 0], [0.3, -0.1, 0, 1, 0], [0, 0, 0, 0, 1]],  # 2 real points
            [[0.5, 0.5, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]],  # 1 real point
        ],
        dtype=torch.float64,
    )
    offset_loss, pen_loss = reconstruction_loss(params, target)
    log_p = mixture_log_prob(params, target[..., :2])
    expected_offset = -(log_p[0, 0] + log_p[0, 1] + log_p[1, 0]) / 6.0
    assert offset_loss.item() == pytest.approx(expected_offset.item(), rel=1e-12)
    log_pen = torch.log_softmax(params.pen_logits, dim=-1)
    classes = [[0, 1, 2], [1, 2, 2]]
    all_rows = -sum(log_pen[b, t, classes[b][t]] for b in range(2) for t in range(3))
    assert pen_loss.item() == pytest.approx(all_rows.item() / 6.0, rel=1e-12)
    _, masked_pen = reconstruction_loss(params, target, mask_pen_padding=True)
    real_rows = -(log_pen[0, 0, 0] + log_pen[0, 1, 1] + log_pen[1, 0, 1])
    assert masked_pen.item() == pytest.approx(real_rows.item() / 6.0, rel=1e-12)
    # garbage in the padded offsets changes nothing
    noisy = target.clone()
    noisy[0, 2, :2] = 100.0
    noisy[1, 1:, :2] = -50.0
    assert reconstruction_loss(params, noisy)[0].item() == pytest.approx(offset_loss.item())
    # an explicit normaliser (the full padded Nmax when the batch was cut shorter)
    cut_offset, _ = reconstruction_loss(params, target, normaliser=2 * 250)
    assert cut_offset.item() == pytest.approx(expected_offset.item() * 6 / 500, rel=1e-12)


def single_component(mu, sigma, rho, pen_logits=(0.0, 0.0, 0.0), batch=1):
    log_sigma = torch.log(torch.tensor(sigma, dtype=torch.float64))
    return MixtureParams(
        log_pi=torch.zeros(batch, 1, dtype=torch.float64),
        mu=torch.tensor(mu, dtype=torch.float64).expand(batch, 1, 2),
        log_sigma=log_sigma.expand(batch, 1, 2),
        rho=torch.full((batch, 1), rho, dtype=torch.float64),
        pen_logits=torch.tensor(pen_logits, dtype=torch.float64).expand(batch, 3),
    )


@pytest.mark.parametrize("temperature", [1.0, 0.25])
def test_sample_mean_and_covariance_match_the_component(temperature):
    count = 200_000
    params = single_component((1.5, -0.5), (0.8, 0.3), -0.6, batch=count)
    generator = torch.Generator().manual_seed(5)
    points = sample_mixture(params, temperature, generator=generator)
    offsets = points[:, :2]
    expected = covariance(torch.tensor([0.8, 0.3], dtype=torch.float64), torch.tensor(-0.6))
    expected = expected * temperature  # sigma^2 -> sigma^2 * tau (the paper)
    assert torch.allclose(
        offsets.mean(0),
        torch.tensor([1.5, -0.5], dtype=torch.float64),
        atol=4 * 0.8 * math.sqrt(temperature) / math.sqrt(count) + 1e-3,
    )
    assert torch.allclose(torch.cov(offsets.T), expected, atol=0.01 * temperature)
    magenta = sample_mixture(params, temperature, variance_exponent=2.0, generator=generator)
    assert torch.allclose(
        torch.cov(magenta[:, :2].T), expected * temperature, atol=0.01 * temperature
    )


def test_component_and_pen_frequencies_follow_tempered_softmax():
    count = 100_000
    log_pi = torch.log(torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64))
    pen_logits = torch.log(torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64))
    params = MixtureParams(
        log_pi=log_pi.expand(count, 3),
        mu=torch.tensor([[-10.0, 0.0], [0.0, 0.0], [10.0, 0.0]], dtype=torch.float64).expand(
            count, 3, 2
        ),
        log_sigma=torch.full((count, 3, 2), math.log(0.1), dtype=torch.float64),
        rho=torch.zeros(count, 3, dtype=torch.float64),
        pen_logits=pen_logits.expand(count, 3),
    )
    generator = torch.Generator().manual_seed(6)
    for temperature in (1.0, 0.5):
        points = sample_mixture(params, temperature, generator=generator)
        edges = torch.tensor([-5.0, 5.0], dtype=torch.float64)
        chosen = torch.bucketize(points[:, 0].contiguous(), edges)
        frequencies = torch.bincount(chosen, minlength=3).double() / count
        expected = torch.softmax(log_pi / temperature, dim=0)
        assert torch.allclose(frequencies, expected, atol=0.01)
        pen_frequencies = points[:, 2:].mean(0)
        assert torch.allclose(
            pen_frequencies, torch.softmax(pen_logits / temperature, 0), atol=0.01
        )
        assert torch.equal(points[:, 2:].sum(1), torch.ones(count, dtype=torch.float64))


def test_pen_temperature_tempers_the_pen_alone():
    # hand-computed: softmax(log [0.6, 0.3, 0.1] / 0.25) = [0.6^4, 0.3^4, 0.1^4] / sum
    count = 100_000
    pen_logits = torch.log(torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64))
    log_pi = torch.log(torch.tensor([0.7, 0.3], dtype=torch.float64))
    params = MixtureParams(
        log_pi=log_pi.expand(count, 2),
        mu=torch.tensor([[-10.0, 0.0], [10.0, 0.0]], dtype=torch.float64).expand(count, 2, 2),
        log_sigma=torch.full((count, 2, 2), math.log(0.1), dtype=torch.float64),
        rho=torch.zeros(count, 2, dtype=torch.float64),
        pen_logits=pen_logits.expand(count, 3),
    )
    generator = torch.Generator().manual_seed(7)
    sharpened = torch.tensor([0.6**4, 0.3**4, 0.1**4], dtype=torch.float64)
    sharpened /= sharpened.sum()  # [0.9398, 0.0587, 0.0014]
    points = sample_mixture(params, 0.25, generator=generator)
    assert torch.allclose(points[:, 2:].mean(0), sharpened, atol=0.01)
    points = sample_mixture(params, 0.25, pen_temperature=1.0, generator=generator)
    assert torch.allclose(
        points[:, 2:].mean(0), torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64), atol=0.01
    )
    # the component still follows the offsets' temperature: softmax(log [0.7, 0.3] / 0.25)
    right = (points[:, 0] > 0).double().mean()
    assert right.item() == pytest.approx(0.3**4 / (0.7**4 + 0.3**4), abs=0.01)
    with pytest.raises(ValueError, match="pen_temperature"):
        sample_mixture(params, 0.25, pen_temperature=0.0)


def test_greedy_mode_returns_the_mean_of_the_likeliest_component():
    params = MixtureParams(
        log_pi=torch.log(torch.tensor([[0.2, 0.8]])),
        mu=torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]),
        log_sigma=torch.zeros(1, 2, 2),
        rho=torch.zeros(1, 2),
        pen_logits=torch.tensor([[0.0, 2.0, 1.0]]),
    )
    point = sample_mixture(params, greedy=True)
    assert point.tolist() == [[3.0, 4.0, 0.0, 1.0, 0.0]]
    with pytest.raises(ValueError, match="temperature"):
        sample_mixture(params, 0.0)
