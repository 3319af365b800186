"""SketchGloc: the displacement task, absolute coordinates, the loss target, drawing, learning on
doodles, and healing through the evaluation machinery."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sketchssl.data.build import build_store
from sketchssl.data.formats import stroke3_to_stroke5, stroke5_to_stroke3
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.eval.healing import HealingEval, evaluate_healing
from sketchssl.methods.latent_decoder import MixtureDecoderConfig
from sketchssl.methods.registry import build_method
from sketchssl.methods.sketchgloc import (
    SketchGloc,
    SketchGlocConfig,
    absolute_stroke5,
    offsets_from_absolute,
    perturb_stroke_starts,
    stroke_noise,
)
from sketchssl.nn.grid_graph import stroke5_positions, stroke_ids
from sketchssl.nn.mixture import reconstruction_loss
from sketchssl.render.views import SketchDataset
from sketchssl.train.config import load_run_config


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread is faster, and immune to OpenMP spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_config(decoder: dict | None = None, **overrides) -> SketchGlocConfig:
    """A small SketchGloc; ``decoder`` changes keys of the small decoder."""
    settings = dict(
        size=16,
        num_mixtures=3,
        cell="lstm",
        recurrent_dropout=0.0,
        hyper_size=8,
        hyper_embedding_size=4,
        temperature=0.24,
        variance_exponent=2.0,
    )
    settings.update(decoder or {})
    values = dict(
        encoder_size=8,
        latent_size=6,
        encoder_recurrent_dropout=0.0,
        encoder_hyper_size=8,
        encoder_hyper_embedding_size=4,
        decoder=MixtureDecoderConfig(**settings),
        max_length=30,
    )
    values.update(overrides)
    return SketchGlocConfig(**values)


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
    sketch[rng.random(points) < 0.25, 2] = 1.0
    sketch[-1, 2] = 1.0
    return sketch


def test_registered_with_readme_defaults_and_both_presets_load():
    model = build_method(
        "sketchgloc", {"encoder_size": 4, "decoder": {"size": 8}, "latent_size": 4}
    )
    assert isinstance(model, SketchGloc) and model.name == "sketchgloc"
    assert model.config.decoder.cell == "hyper"  # SketchGloc's own default survives
    defaults = SketchGlocConfig()
    assert (defaults.encoder_size, defaults.decoder.size, defaults.latent_size) == (512, 512, 128)
    assert (defaults.decoder.cell, defaults.decoder.num_mixtures, defaults.decoder.temperature) == (
        "hyper",
        20,
        0.24,
    )
    paper = load_run_config("sketchgloc", "paper")
    assert paper.model == defaults
    assert paper.data.start_token and paper.data.normalization == "std"
    assert paper.data.batch_size == 100 and paper.optim.decay_rate == 0.99999
    tiny = load_run_config("sketchgloc", "tiny")
    assert tiny.data.start_token and tiny.trainer.max_minutes == 20
    assert tiny.model.encoder_size < defaults.encoder_size
    with pytest.raises(ConfigError, match="perturb_scale"):
        SketchGlocConfig(perturb_scale=-0.1)
    with pytest.raises(ConfigError, match="encoder_cell"):
        SketchGlocConfig(encoder_cell="gru")


def test_absolute_rows_are_running_sums_and_convert_back_to_the_offsets():
    sketches = [random_sketch(7, 1), random_sketch(4, 2)]
    batch = make_batch(sketches, 9)
    rows = absolute_stroke5(batch["strokes5"], batch["mask"])  # (2, 10, 5)
    assert torch.equal(rows[:, 0], batch["strokes5"][:, 0])  # S0 stays at the origin
    np.testing.assert_allclose(rows[0, 1:8, :2].numpy(), np.cumsum(sketches[0][:, :2], 0), 1e-6)
    assert rows[1, 5:, :2].abs().sum() == 0 and torch.equal(
        rows[..., 2:], batch["strokes5"][..., 2:]
    )
    back = offsets_from_absolute(rows[:, 1:])
    torch.testing.assert_close(back, batch["strokes5"][:, 1:])


def test_displacement_moves_whole_strokes_after_the_first_and_undoes_exactly():
    sketches = [random_sketch(12, 3), random_sketch(9, 4)]
    batch = make_batch(sketches, 14)
    positions, pen_up, valid = stroke5_positions(batch["strokes5"], batch["mask"])
    ids = stroke_ids(pen_up, valid)
    count = int(ids.max()) + 1
    noise = torch.randn(2, count, 2, generator=torch.Generator().manual_seed(0))
    moved = perturb_stroke_starts(positions, pen_up, valid, noise, 0.3)
    for b, sketch in enumerate(sketches):
        real = valid[b]
        points = np.cumsum(sketch[:, :2], 0)
        bound = float((points.max(0) - points.min(0)).max())
        shift = moved[b, real] - positions[b, real]  # (n, 2)
        for stroke in range(int(ids[b].max()) + 1):
            rows = ids[b, real] == stroke
            expected = torch.zeros(2) if stroke == 0 else noise[b, stroke] * bound * 0.3
            # one rigid shift per stroke: the shape inside the stroke is kept
            torch.testing.assert_close(shift[rows], expected.expand(int(rows.sum()), 2))
        # undo: subtract each stroke's shift and the sketch comes back
        undone = moved[b, real] - torch.where(
            (ids[b, real] > 0)[:, None], noise[b, ids[b, real]] * bound * 0.3, torch.zeros(1)
        )
        torch.testing.assert_close(undone, positions[b, real])
        # in offsets, only the first row of each later stroke changes
        offsets = torch.diff(moved[b, real], dim=0, prepend=torch.zeros(1, 2))
        changed = (offsets - torch.from_numpy(sketch[:, :2])).abs().sum(1) > 1e-5
        starts = torch.zeros_like(changed)
        starts[1:] = ids[b, real][1:] != ids[b, real][:-1]
        assert not (changed & ~starts).any()
    assert torch.equal(moved[~valid], positions[~valid])  # padding untouched


def test_per_sketch_noise_is_standard_normal_and_independent_of_the_batch():
    seeds = torch.arange(2000, dtype=torch.int64) * 7919 + 11
    noise = stroke_noise(2000, 5, sample_seeds=seeds)  # (2000, 5, 2)
    assert abs(noise.mean().item()) < 0.03 and abs(noise.std().item() - 1.0) < 0.03
    alone = stroke_noise(1, 5, sample_seeds=seeds[7:8])
    assert torch.equal(alone[0], noise[7])
    fewer = stroke_noise(2, 3, sample_seeds=seeds[:2])
    assert torch.equal(fewer, noise[:2, :3])  # stroke s's draw does not depend on the count


def test_loss_decodes_the_undisturbed_absolute_sketch_from_the_disturbed_code():
    torch.manual_seed(5)
    model = SketchGloc(small_config(perturb_scale=0.3)).eval()
    batch = make_batch([random_sketch(8, 6), random_sketch(13, 7)], 15)
    batch["sample_seed"] = torch.tensor([3, 4])
    model.generator = torch.Generator().manual_seed(9)
    parts = model.loss(batch)
    assert torch.isfinite(parts["loss"])
    # by hand: the code of the disturbed strokes, the undisturbed absolute rows as target
    model.generator = torch.Generator().manual_seed(9)
    mu, log_variance = model.encode(batch, perturb=True)
    assert not torch.allclose(mu, model.encode(batch, perturb=False)[0])
    z = model.sample_latent(mu, log_variance)
    rows = absolute_stroke5(batch["strokes5"], batch["mask"])
    params = model.decoder.mixture(model.decoder(rows[:, :-1], z))
    offset, pen = reconstruction_loss(params, rows[:, 1:], mask_pen_padding=True, normaliser=2)
    assert parts["offset_loss"].item() == pytest.approx(offset.item(), rel=1e-5)
    assert parts["pen_loss"].item() == pytest.approx(pen.item(), rel=1e-5)
    assert parts["loss"].item() == pytest.approx(offset.item() + pen.item(), rel=1e-5)


def test_padding_and_batch_company_never_reach_the_code():
    torch.manual_seed(0)
    model = SketchGloc(small_config()).eval()
    short, long = random_sketch(6, 8), random_sketch(17, 9)
    alone = model.embed(make_batch([short], 6))
    together = make_batch([short, long], 30)
    together["strokes5"][0, 7:, :2] = torch.randn(24, 2) * 10  # garbage after the real rows
    torch.testing.assert_close(model.embed(together)[0], alone[0], atol=1e-5, rtol=1e-5)


def test_packed_stroke_encoder_is_the_step_by_step_cell():
    torch.manual_seed(1)
    encoder = SketchGloc(small_config()).encoder.strokes
    points, lengths = torch.randn(6, 9, 2), torch.tensor([1, 9, 4, 2, 7, 3])
    packed = encoder(points, lengths)
    stepped = []
    for cell, sequence in (
        (encoder.forward_cell, points),
        (
            encoder.backward_cell,
            torch.stack(
                [torch.cat([p[:n].flip(0), p[n:]]) for p, n in zip(points, lengths, strict=True)]
            ),
        ),
    ):
        outputs, _ = cell.sequence(sequence)
        stepped.append(outputs[torch.arange(6), lengths - 1])
    torch.testing.assert_close(packed, torch.cat(stepped, dim=1), atol=1e-5, rtol=1e-5)


def test_batches_without_the_start_token_are_refused():
    model = SketchGloc(small_config())
    batch = make_batch([random_sketch(6, 10)], 8)
    batch["strokes5"], batch["mask"] = batch["strokes5"][:, 1:], batch["mask"][:, 1:]
    with pytest.raises(SketchFormatError, match="start_token"):
        model.loss(batch)


def test_generate_shapes_offsets_and_sources():
    torch.manual_seed(2)
    model = SketchGloc(small_config({"cell": "hyper"})).eval()
    with torch.no_grad():
        model.decoder.head.bias[4] = 1.0  # p3 likely: sketches end early, at different steps
    batch = make_batch([random_sketch(5, 11), random_sketch(9, 12)], 10)
    model.generator = torch.Generator().manual_seed(3)
    drawn = model.generate(batch, max_len=20)
    assert drawn.shape == (2, 20, 5)
    ended = drawn[..., 4] > 0
    for row in range(2):
        first = int(torch.nonzero(ended[row])[0, 0]) if ended[row].any() else 20
        assert torch.equal(drawn[row, first:, :4], torch.zeros(20 - first, 4))
        assert len(stroke5_to_stroke3(drawn[row].numpy())) == first
    # greedy: deterministic, and the offsets are the differences of the decoded absolute points
    greedy = model.generate(batch, greedy=True, max_len=12)
    assert torch.equal(greedy, model.generate(batch, greedy=True, max_len=12))
    z = model.embed(batch)
    absolute = model.decoder.sample(z, max_len=12, greedy=True)
    torch.testing.assert_close(greedy, offsets_from_absolute(absolute))
    assert model.generate(z, greedy=True, max_len=12).shape == (2, 12, 5)
    assert model.generate(4, max_len=7).shape == (4, 7, 5)
    assert model.embed(batch).shape == (2, 6)
    with pytest.raises(SketchFormatError, match="latent codes"):
        model.generate(torch.zeros(2, 5))


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:4:1"], path, workers=1, progress=False)
    return path


def test_loss_is_finite_and_falls_on_doodles(doodle_store):
    torch.manual_seed(0)
    dataset = SketchDataset(doodle_store, split="train", start_token=True, max_len=60)
    items = [dataset[i] for i in range(16)]
    batch = {key: torch.stack([item[key] for item in items]) for key in ("strokes5", "mask")}
    batch["sample_seed"] = torch.arange(16, dtype=torch.int64)  # fixed displacements
    model = SketchGloc(small_config({"size": 32, "num_mixtures": 4}, encoder_size=16))

    def eval_loss() -> float:
        model.eval()
        model.generator = torch.Generator().manual_seed(0)
        return model.loss(batch)["loss"].item()

    before = eval_loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(12):
        parts = model.loss(batch)
        assert all(torch.isfinite(value) for value in parts.values())
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
    after = eval_loss()
    assert np.isfinite(before) and after < before - 1.0, (before, after)


def test_healing_evaluation_runs_with_it(doodle_store):
    torch.manual_seed(0)
    model = SketchGloc(small_config()).eval()
    run = {
        "method": "sketchgloc",
        "data": {"normalization": "std", "start_token": True, "max_len": 80},
    }
    settings = HealingEval(mask_probs=(0.0, 0.3), ks=(1, 3), max_len=15, limit=5, batch_size=4)
    results, meta = evaluate_healing(model, run, SketchStore.open(doodle_store), settings)
    assert list(results) == [
        "generated (mask 0)",
        "no healing: corrupted input (mask 0.3)",
        "generated (mask 0.3)",
    ]
    for row in results.values():
        assert row["sketches"] == 5 and 0.0 <= row["ret_g2o_acc@1"] <= 1.0
        assert row["ret_chance@1"] == pytest.approx(1 / 5)
    assert meta["input"] == "sequence"


def test_the_code_reaches_the_initial_state_at_the_reference_scale():
    from sketchssl.methods.registry import build_method

    torch.manual_seed(0)
    model = build_method(
        "sketchgloc",
        {"latent_size": 48, "decoder": {"size": 64, "num_mixtures": 2}, "encoder_size": 16},
    )
    weight = model.decoder.initial_state_layer.weight
    # variance scaling for tanh: std sqrt(5 / (3 * 48)) = 0.186 (sketch-rnn's 0.001 elsewhere)
    assert abs(float(weight.std()) - math.sqrt(5 / 144)) < 0.02
