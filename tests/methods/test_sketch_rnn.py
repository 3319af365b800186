"""sketch-rnn: magenta's schedules, padding that never leaks, the loss parts, drawing, learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sketchssl.data.formats import normalize_offsets, stroke3_to_stroke5, stroke5_to_stroke3
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.latent_decoder import MixtureDecoderConfig
from sketchssl.methods.registry import build_method
from sketchssl.methods.sketch_rnn import SketchRNN, SketchRNNConfig, kl_divergence
from sketchssl.nn.mixture import reconstruction_loss
from sketchssl.train.config import load_run_config


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread is faster, and immune to OpenMP spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_config(decoder: dict | None = None, **overrides) -> SketchRNNConfig:
    """A small sketch-rnn; ``decoder`` changes keys of the small decoder."""
    settings = dict(
        size=16, num_mixtures=3, recurrent_dropout=0.0, hyper_size=8, hyper_embedding_size=4
    )
    settings.update(decoder or {})
    values = dict(
        encoder_size=12,
        latent_size=6,
        encoder_recurrent_dropout=0.0,
        encoder_hyper_size=8,
        encoder_hyper_embedding_size=4,
        decoder=MixtureDecoderConfig(**settings),
    )
    values.update(overrides)
    return SketchRNNConfig(**values)


def make_batch(sketches: list[np.ndarray], max_len: int) -> dict[str, torch.Tensor]:
    """What SketchDataset(start_token=True) yields, stacked."""
    rows = [
        stroke3_to_stroke5(np.asarray(s, np.float32), max_len, start_token=True) for s in sketches
    ]
    mask = np.zeros((len(sketches), max_len + 1), dtype=bool)
    for index, sketch in enumerate(sketches):
        mask[index, : len(sketch) + 1] = True
    return {"strokes5": torch.from_numpy(np.stack(rows)), "mask": torch.from_numpy(mask)}


def random_sketch(points: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sketch = np.zeros((points, 3), np.float32)
    sketch[:, :2] = rng.normal(size=(points, 2))
    sketch[rng.random(points) < 0.2, 2] = 1.0
    sketch[-1, 2] = 1.0
    return sketch


def test_registered_with_magenta_defaults_and_both_presets_load():
    model = build_method(
        "sketch_rnn", {"encoder_size": 8, "decoder": {"size": 8}, "latent_size": 4}
    )
    assert isinstance(model, SketchRNN) and model.name == "sketch_rnn"
    assert model.config.decoder.num_mixtures == 20  # the keys not given keep their defaults
    defaults = SketchRNNConfig()
    assert (defaults.encoder_size, defaults.decoder.size, defaults.latent_size) == (256, 512, 128)
    assert (defaults.decoder.num_mixtures, defaults.kl_weight, defaults.kl_weight_start) == (
        20,
        0.5,
        0.01,
    )
    assert defaults.decoder == MixtureDecoderConfig()  # magenta's decoder: the shared defaults
    assert (defaults.kl_decay_rate, defaults.kl_tolerance) == (0.99995, 0.2)
    paper = load_run_config("sketch_rnn", "paper")
    assert paper.model == defaults
    assert paper.data.start_token and paper.data.normalization == "std"
    assert paper.data.batch_size == 100 and paper.optim.schedule == "exponential"
    assert (paper.optim.lr, paper.optim.decay_rate, paper.optim.min_lr) == (1e-3, 0.9999, 1e-5)
    assert paper.optim.gradient_clip == 1.0
    tiny = load_run_config("sketch_rnn", "tiny")
    assert tiny.data.start_token and tiny.model.decoder.size < defaults.decoder.size
    # the paper's sampler tempers the pen with the offsets; the tiny preset keeps the pen at 1
    assert defaults.decoder.pen_temperature is None and paper.model.decoder.pen_temperature is None
    assert tiny.model.decoder.pen_temperature == 1.0
    with pytest.raises(ConfigError, match="encoder_cell"):
        SketchRNNConfig(encoder_cell="gru")
    with pytest.raises(ConfigError, match="encoder_recurrent_dropout"):
        SketchRNNConfig(encoder_recurrent_dropout=1.0)
    with pytest.raises(ConfigError, match="decoder.cell"):
        SketchRNNConfig(decoder=MixtureDecoderConfig(cell="gru"))


def test_kl_weight_schedule_is_sketch_rnn_trains():
    model = SketchRNN(small_config())
    assert model.kl_weight_at(0) == pytest.approx(0.01)
    assert model.kl_weight_at(10_000) == pytest.approx(0.5 - 0.49 * 0.99995**10_000)
    assert model.kl_weight_at(10**7) == pytest.approx(0.5)
    # KL of N(mu, sigma^2) against N(0, 1), averaged over batch and dimensions
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    log_variance = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    per_dim = [0.5, 0.5 * (4 - 1 - math.log(4)), 0.0, 2.0]
    assert kl_divergence(mu, log_variance).item() == pytest.approx(sum(per_dim) / 4)


@pytest.mark.parametrize("cell", ["lstm", "layer_norm"])
def test_padding_never_reaches_the_code(cell):
    torch.manual_seed(0)
    model = SketchRNN(small_config(encoder_cell=cell)).eval()
    short, long = random_sketch(5, 1), random_sketch(17, 2)
    alone = model.embed(make_batch([short], 5))
    together = make_batch([short, long], 30)
    together["strokes5"][0, 6:, :] = torch.randn(25, 5) * 10  # garbage after the real rows
    mixed = model.embed(together)
    assert torch.allclose(alone[0], mixed[0], atol=1e-6)
    reversed_points = model.embed(make_batch([short[::-1].copy()], 5))
    assert not torch.allclose(alone, reversed_points)  # the order matters (it is a sequence)


def test_loss_parts_kl_floor_and_the_exact_eval_trim():
    torch.manual_seed(1)
    model = SketchRNN(small_config(kl_tolerance=0.2))
    sketches = [random_sketch(4, 3), random_sketch(9, 4)]
    batch = make_batch(sketches, 20)
    with torch.no_grad():  # mu = 0 and log sigma^2 = 0: KL is 0, under the tolerance
        for layer in (model.encoder.mu, model.encoder.log_variance):
            layer.weight.zero_()
            layer.bias.zero_()
    model.generator = torch.Generator().manual_seed(7)
    parts = model.eval().loss(batch)
    assert parts["kl"].item() == pytest.approx(0.0, abs=1e-7)
    assert parts["kl_weight"].item() == pytest.approx(0.01)
    assert parts["loss"].item() == pytest.approx(parts["recon"].item() + 0.01 * 0.2, rel=1e-6)
    assert parts["recon"].item() == pytest.approx(
        parts["offset_loss"].item() + parts["pen_loss"].item(), rel=1e-6
    )
    # eval decodes only to the longest sketch + 1; the untrimmed masked loss is the same number
    model.generator = torch.Generator().manual_seed(7)
    z = model.sample_latent(*model.encode(batch))
    strokes = batch["strokes5"]
    params = model.decoder.mixture(model.decoder(strokes[:, :-1], z))
    offset, pen = reconstruction_loss(params, strokes[:, 1:], mask_pen_padding=True)
    assert parts["offset_loss"].item() == pytest.approx(offset.item(), rel=1e-5)
    assert parts["pen_loss"].item() == pytest.approx(pen.item(), rel=1e-5)
    # training counts the pen loss on every padded row, so it is larger
    model.train()
    model.generator = torch.Generator().manual_seed(7)
    assert model.loss(batch)["pen_loss"].item() > parts["pen_loss"].item()


def test_annealing_step_counter_advances_in_training_only_and_is_checkpointed():
    model = SketchRNN(small_config())
    batch = make_batch([random_sketch(6, 5)], 8)
    model.eval().loss(batch)
    assert int(model.training_steps) == 0
    model.train()
    for _ in range(3):
        model.loss(batch)
    assert int(model.training_steps) == 3
    assert model.loss(batch)["kl_weight"].item() == pytest.approx(model.kl_weight_at(3))
    restored = SketchRNN(small_config())
    restored.load_state_dict(model.state_dict())
    assert int(restored.training_steps) == 4
    given = dict(batch, step=torch.tensor(20_000))
    assert model.loss(given)["kl_weight"].item() == pytest.approx(model.kl_weight_at(20_000))
    assert int(model.training_steps) == 4  # an explicit step does not advance the counter


def test_batches_without_the_start_token_are_refused():
    model = SketchRNN(small_config())
    batch = make_batch([random_sketch(6, 6)], 8)
    batch["strokes5"] = batch["strokes5"][:, 1:]
    batch["mask"] = batch["mask"][:, 1:]
    with pytest.raises(SketchFormatError, match="start_token"):
        model.loss(batch)


def test_generate_stops_each_sketch_at_its_end_token():
    torch.manual_seed(2)
    model = SketchRNN(small_config({"cell": "hyper"})).eval()
    with torch.no_grad():
        model.decoder.head.bias[4] = 1.5  # p3 likely: sketches end early and at different steps
    model.generator = torch.Generator().manual_seed(3)
    drawn = model.generate(8, temperature=1.0, max_len=40)
    assert drawn.shape == (8, 40, 5)
    ended = drawn[..., 4] > 0
    for row in range(8):
        first = int(torch.nonzero(ended[row])[0, 0]) if ended[row].any() else 40
        assert ended[row, first:].all()  # once ended, always padding
        assert torch.equal(drawn[row, first:, :4], torch.zeros(40 - first, 4))
        assert len(stroke5_to_stroke3(drawn[row].numpy())) == first
    batch = make_batch([random_sketch(5, 7), random_sketch(7, 8)], 10)
    greedy = model.generate(batch, greedy=True, max_len=15)
    assert torch.equal(greedy, model.generate(batch, greedy=True, max_len=15))
    with pytest.raises(SketchFormatError, match="latent codes"):
        model.generate(torch.zeros(2, 5))


def test_overfits_a_few_real_sheep(shared_data):
    """30 Adam steps on the 4 shortest of 500 real sheep: the eval reconstruction loss falls."""
    from sketchssl.data.io import load_sketchrnn_npz

    torch.manual_seed(0)
    train = load_sketchrnn_npz(shared_data / "sketchrnn_extra" / "aaron_sheep.npz")["train"][:500]
    shortest = sorted(range(len(train)), key=lambda index: len(train[index]))[:4]
    scale = float(np.std(np.concatenate([s[:, :2] for s in train]).astype(np.float64)))
    sketches = [normalize_offsets(train[index], scale) for index in shortest]
    batch = make_batch(sketches, max(len(s) for s in sketches) + 5)
    model = SketchRNN(small_config({"size": 64, "num_mixtures": 5}, encoder_size=32))
    before = model.eval().loss(batch)["recon"].item()
    optimizer = torch.optim.Adam(model.train().parameters(), lr=5e-3)
    for _ in range(30):
        parts = model.loss(batch)
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
    after = model.eval().loss(batch)["recon"].item()
    assert after < before - 1.0, (before, after)


@pytest.mark.parametrize(
    "config_path",
    [
        "sketchssl.methods.sketch_rnn:SketchRNNConfig",
        "sketchssl.methods.sp_gra2seq:SPGra2SeqConfig",
        "sketchssl.methods.sketchgloc:SketchGlocConfig",
        "sketchssl.methods.lmser_pix2seq:LmserPix2seqConfig",
    ],
)
def test_pen_temperature_is_optional_and_positive(config_path):
    import importlib

    from sketchssl.configuration import dataclass_from_mapping

    module_name, class_name = config_path.split(":")
    config_class = getattr(importlib.import_module(module_name), class_name)
    # the paper: the pen follows the temperature
    assert config_class().decoder.pen_temperature is None
    given = dataclass_from_mapping(config_class, {"decoder": {"pen_temperature": 1.0}}, "model")
    assert given.decoder.pen_temperature == 1.0
    with pytest.raises(ConfigError, match="pen_temperature"):
        dataclass_from_mapping(config_class, {"decoder": {"pen_temperature": 0.0}}, "model")
