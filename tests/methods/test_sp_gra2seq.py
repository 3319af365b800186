"""SP-gra2seq: clustering by hand, graph cuts in the encoder, learning, drawing, healing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sketchssl.data.build import build_store
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.eval.continuation import ContinueConfig
from sketchssl.eval.fill import FillConfig
from sketchssl.eval.healing import HealingEval, SketchCodec, evaluate_healing
from sketchssl.methods.registry import build_method
from sketchssl.methods.sp_gra2seq import (
    CentroidBank,
    PatchCNN,
    SPGra2Seq,
    SPGra2SeqConfig,
    cluster_assignments,
)
from sketchssl.train.config import DataConfig, load_run_config
from sketchssl.train.data import make_dataset


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread is faster, and immune to OpenMP spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:4:1"], path, workers=1, progress=False)
    return path


# 16-px patches on a 40-px sketch (the paper's 256 / 640 scaled by 1/16), 6 slots
DATA = {
    "views": ["sequence", "patches"],
    "normalization": "std",
    "start_token": True,
    "max_len": 60,
    "patch_size": 16,
    "patch_slots": 6,
    "patch_canvas_scale": 40.0,
    "patch_line_width": 1.0,
}


def small_config(**overrides) -> SPGra2SeqConfig:
    values = dict(
        patch_size=16,
        patch_slots=6,
        cnn_channels=(4, 8, 16),  # 16 -> 8 -> 4 -> 2, max pool
        latent_size=8,
        # SP-gra2seq's own decoder defaults (no dropout, temperature 0.24), made small
        decoder=dataclasses.replace(SPGra2SeqConfig().decoder, size=24, num_mixtures=3),
        num_clusters=4,
        max_length=30,
    )
    values.update(overrides)
    return SPGra2SeqConfig(**values)


def small_model(**overrides) -> SPGra2Seq:
    torch.manual_seed(0)
    return SPGra2Seq(small_config(**overrides))


def doodle_batch(store_path, count: int = 8, mask_prob: float = 0.0, split: str = "train"):
    data = DataConfig(
        store=str(store_path), num_workers=0, **{**DATA, "views": tuple(DATA["views"])}
    )
    dataset = make_dataset(data, SketchStore.open(store_path), split, mask_prob=mask_prob, seed=3)
    items = [dataset[i] for i in range(count)]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def test_registered_and_presets_load():
    model = build_method("sp_gra2seq", dataclasses.asdict(small_config()))
    assert isinstance(model, SPGra2Seq) and model.healing_input == "patches"
    paper = load_run_config("sp_gra2seq", "paper")
    assert paper.model == SPGra2SeqConfig()  # the preset spells out the paper defaults
    decoder = paper.model.decoder
    assert (decoder.size, paper.model.num_clusters, decoder.num_mixtures) == (1024, 30, 20)
    assert (decoder.recurrent_dropout, decoder.temperature, decoder.variance_exponent) == (
        0.0,
        0.24,
        2.0,
    )
    assert paper.data.batch_size == 128 and paper.data.patch_size == 256
    assert paper.data.patch_slots == 20 and paper.data.patch_mask_prob == 0.1
    tiny = load_run_config("sp_gra2seq", "tiny")
    assert tiny.model.patch_size == tiny.data.patch_size == 32
    assert tiny.trainer.max_minutes == 20 and tiny.data.start_token
    with pytest.raises(ConfigError, match="cnn_channels"):
        SPGra2Seq(SPGra2SeqConfig(patch_size=64, cnn_channels=(8, 16)))  # leaves 16 x 16
    with pytest.raises(ConfigError, match="decoder.cell"):
        build_method("sp_gra2seq", {"decoder": {"cell": "gru"}})


def test_patch_cnn_pads_odd_sides_like_tensorflow_same():
    cnn = PatchCNN((1, 1))
    with torch.no_grad():
        cnn.layers[0].weight.fill_(1.0)
        cnn.layers[1].weight.fill_(1.0)
    image = torch.ones(1, 1, 6, 6)  # 6 -> 3 -> 2: the odd side gets one zero row and column
    # layer 1: every 2x2 window sums to 4; layer 2 on a 3x3 map of 4s padded to 4x4: windows
    # hold 4, 2 (two cells), 2 and 1 cells of 4 -> 16, 8, 8, 4; the max is 16
    assert cnn(image).item() == pytest.approx(16.0)


def test_cluster_assignment_is_by_cosine_not_distance():
    centroids = torch.tensor([[1.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    point = torch.tensor([[0.2, 0.1]])
    # nearest in distance is centroid 0 (0.81 vs 13.9); largest cosine is centroid 2 (0.95)
    assert cluster_assignments(point, centroids).tolist() == [2]


def test_clustering_loss_and_update_by_hand():
    """Five slots, one unusable; K = 3 centroids of 2-d embeddings."""
    model = small_model(cnn_channels=(4, 2), patch_size=4, num_clusters=3)
    embeddings = torch.tensor(
        [[[1.0, 0.0], [7.0, 7.0], [0.0, 2.0], [-3.0, 0.0], [3.0, 1.0]]], requires_grad=True
    )
    usable = torch.tensor([[True, False, True, True, True]])
    model.train()
    loss, used = model.cluster_loss(embeddings, usable)
    # initialised from the usable slots in order: (1, 0), (0, 2), (-3, 0); the unusable (7, 7)
    # is not a centroid. (3, 1) has the largest cosine with (1, 0): 0.5 |(2, 1)|^2 = 2.5, the
    # others sit on their centroid: L_clu = 2.5 / 4 usable patches
    assert loss.item() == pytest.approx(2.5 / 4)
    assert int(used) == 3
    loss.backward()  # gradient reaches the embeddings, only through the usable ones
    expected_grad = torch.zeros(1, 5, 2)
    expected_grad[0, 4] = torch.tensor([2.0, 1.0]) / 4
    torch.testing.assert_close(embeddings.grad, expected_grad)
    # c0 <- 0.75 (1, 0) + 0.25 mean((1, 0), (3, 1)) = (1.25, 0.125); c1, c2 keep their member
    torch.testing.assert_close(
        model.clusters.centroids, torch.tensor([[1.25, 0.125], [0.0, 2.0], [-3.0, 0.0]])
    )
    # a second batch: no re-initialisation; an empty cluster shrinks by 0.75
    loss, used = model.cluster_loss(torch.tensor([[[0.0, 4.0]]]), torch.tensor([[True]]))
    assert loss.item() == pytest.approx(0.5 * 2.0**2) and int(used) == 1
    torch.testing.assert_close(
        model.clusters.centroids,
        torch.tensor([[0.9375, 0.09375], [0.0, 2.5], [-2.25, 0.0]]),
    )
    # evaluation computes the loss but leaves the centroids alone
    before = model.clusters.centroids.clone()
    model.eval()
    model.cluster_loss(torch.tensor([[[5.0, 5.0]]]), torch.tensor([[True]]))
    assert torch.equal(model.clusters.centroids, before)


def test_centroid_bank_cycles_when_fewer_embeddings_than_clusters():
    bank = CentroidBank(3, 2)
    bank.initialise(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert bank.centroids.tolist() == [[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]
    assert bool(bank.centroids_ready)


def test_centroids_are_buffers_that_checkpoints_carry(doodle_store):
    model = small_model().train()
    model.loss(doodle_batch(doodle_store, 4))
    state = model.state_dict()
    assert {"clusters.centroids", "clusters.centroids_ready"} <= set(state)
    restored = small_model(latent_size=8)
    restored.load_state_dict(state)
    assert bool(restored.clusters.centroids_ready)
    assert torch.equal(restored.clusters.centroids, model.clusters.centroids)
    assert not any(name.startswith("clusters") for name, _ in model.named_parameters())


def test_with_every_slot_unusable_the_code_reads_node_0_only(doodle_store):
    model = small_model().eval()
    batch = doodle_batch(doodle_store, 3)
    batch["patch_masked"][:] = True  # every link cut: node 0 keeps its self-loop alone
    changed = dict(batch, patches=batch["patches"].clone())
    changed["patches"][:, 1:] = torch.rand_like(changed["patches"][:, 1:]) * 2 - 1
    torch.testing.assert_close(model.embed(batch), model.embed(changed))
    # the patches count once usable, and node 0 always counts
    usable = dict(changed, patch_masked=torch.zeros_like(batch["patch_masked"]))
    assert not torch.allclose(model.embed(batch), model.embed(usable))
    other_whole = dict(batch, patches=batch["patches"].clone())
    other_whole["patches"][:, 0] = changed["patches"][:, 1]
    assert not torch.allclose(model.embed(batch), model.embed(other_whole))


def test_loss_is_finite_and_decreases_on_a_doodle_batch(doodle_store):
    model = small_model().train()
    batch = doodle_batch(doodle_store, 8, mask_prob=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(25):
        parts = model.loss(batch)
        assert all(torch.isfinite(value).all() for value in parts.values())
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
        losses.append(parts["loss"].item())
    assert sorted(model.loss(batch)) == [
        "cluster_loss",
        "clusters_used",
        "loss",
        "offset_loss",
        "pen_loss",
        "recon",
    ]
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3


def test_recon_is_summed_over_steps_and_divided_by_the_batch_only(doodle_store):
    """get_lil_loss: sum over time / batch size, so padding the sequence changes nothing."""
    model = small_model().eval()
    batch = doodle_batch(doodle_store, 4)
    longer = dict(batch)
    pad = torch.zeros(4, 20, 5)
    pad[..., 4] = 1.0
    longer["strokes5"] = torch.cat([batch["strokes5"], pad], dim=1)
    longer["mask"] = torch.cat([batch["mask"], torch.zeros(4, 20, dtype=torch.bool)], dim=1)
    torch.manual_seed(5)
    first = model.loss(batch)["recon"]
    torch.manual_seed(5)
    second = model.loss(longer)["recon"]
    torch.testing.assert_close(first, second)


def test_embed_and_generate_shapes_and_reproducible_sampling(doodle_store):
    model = small_model().eval()
    batch = doodle_batch(doodle_store, 3)
    patches_only = {key: batch[key] for key in ("patches", "patch_valid", "patch_masked")}
    assert model.embed(patches_only).shape == (3, 8)
    model.generator = torch.Generator().manual_seed(1)
    first = model.generate(patches_only, max_len=12)
    model.generator = torch.Generator().manual_seed(1)
    assert torch.equal(first, model.generate(patches_only, max_len=12))
    assert first.shape == (3, 12, 5)
    assert model.generate(torch.zeros(2, 8), greedy=True, max_len=7).shape == (2, 7, 5)
    assert model.generate(4, max_len=5).shape == (4, 5, 5)
    with pytest.raises(SketchFormatError, match="latent codes"):
        model.generate(torch.zeros(2, 5))


def test_bad_batches_name_the_problem(doodle_store):
    model = small_model()
    batch = doodle_batch(doodle_store, 2)
    with pytest.raises(SketchFormatError, match="data.patch_size"):
        model.embed(dict(batch, patches=batch["patches"][..., :8, :8]))
    with pytest.raises(SketchFormatError, match="patch_masked"):
        model.embed({key: batch[key] for key in ("patches", "patch_valid")})
    no_start = dict(batch, strokes5=batch["strokes5"].clone())
    no_start["strokes5"][:, 0, 2] = 0.0
    with pytest.raises(SketchFormatError, match="start token"):
        model.loss(no_start)


def test_healing_evaluation_runs_on_patch_inputs(doodle_store):
    store = SketchStore.open(doodle_store)
    model = small_model().eval()
    run_config = {"method": "sp_gra2seq", "data": DATA}
    settings = HealingEval(mask_probs=(0.0, 0.3), ks=(1, 3), max_len=10, limit=4, batch_size=2)
    results, meta = evaluate_healing(model, run_config, store, settings)
    assert list(results) == [
        "generated (mask 0)",
        "no healing: corrupted input (mask 0.3)",
        "generated (mask 0.3)",
    ]
    assert meta["input"] == "patches"
    for row in results.values():
        assert row["sketches"] == 4 and 0.0 <= row["ret_g2o_acc@1"] <= row["ret_g2o_acc@3"] <= 1
        assert row["ret_chance@1"] == pytest.approx(1 / 4)


def test_points_corruption_reads_the_kept_drawing_on_the_originals_canvas(doodle_store):
    store = SketchStore.open(doodle_store)
    model = small_model().eval()
    run_config = {"method": "sp_gra2seq", "data": DATA}
    # continuing nothing (pen threshold 1): each healed drawing is its corrupted input
    fill = FillConfig(source="continue", continuation=ContinueConfig(pen_threshold=1.0))
    settings = HealingEval(
        mask_probs=(0.3,), ks=(1, 3), max_len=10, batch_size=4, fill=fill, corruption="points"
    )
    results, meta = evaluate_healing(model, run_config, store, settings)
    unmasked = "no healing, re-encoded unmasked (mask 0.3)"
    assert list(results) == [
        "no healing: corrupted input (mask 0.3)",
        unmasked,
        "generated (mask 0.3)",
        "healed, input kept (mask 0.3)",
    ]
    assert meta["corruption"].startswith("points")
    # read on the same canvas in the same place, the unfilled healing is its reference exactly
    for key in ("ret_g2o_acc@1", "ret_g2o_acc@3", "ret_g2o_mean_rank"):
        assert results["healed, input kept (mask 0.3)"][key] == results[unmasked][key]
    # the paper's canvas keeps the ink between the squares that point deletion takes away
    codec = SketchCodec.for_method(model, run_config, store, "test")
    sketches = [store[int(index)] for index in codec.dataset.indices]
    uniforms = [np.zeros(6)] * len(sketches)  # every slot masked
    canvas = codec.batch(sketches, uniforms, 0.3)["patches"][:, 0]
    points = SketchCodec(model, codec.dataset, codec.patch_geometry, "points")
    kept = points.batch(sketches, uniforms, 0.3)["patches"][:, 0]
    # (a stroke cut short ends in a round cap: a few anti-aliased pixels a shade brighter)
    assert (kept <= canvas + 0.1).all() and (kept < canvas - 0.5).any()
    with pytest.raises(ConfigError, match="corruption 'pixels'"):
        HealingEval(corruption="pixels")


TRAIN_OVERRIDES = [
    "model.cnn_channels=[4,8,16]",
    "model.latent_size=8",
    "model.decoder.size=16",
    "model.decoder.num_mixtures=2",
    "model.num_clusters=4",
    "data.batch_size=6",
    "data.num_workers=0",
    "data.max_len=60",
    "data.patch_size=16",
    "data.patch_slots=6",
    "data.patch_canvas_scale=40",
    "data.patch_line_width=1",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.limit_val_batches=1",
    "trainer.val_every_n_steps=2",
    "trainer.checkpoint_every_n_steps=2",
    "trainer.max_minutes=null",
]


def test_training_syncs_the_geometry_and_resume_carries_the_centroids(doodle_store, tmp_path):
    from sketchssl.train.checkpoint import read_checkpoint
    from sketchssl.train.run import train

    def config(steps: int):
        overrides = [*TRAIN_OVERRIDES, f"trainer.max_steps={steps}", f"data.store={doodle_store}"]
        return load_run_config("sp_gra2seq", "tiny", overrides)

    straight = train(config(4), tmp_path / "straight")
    train(config(2), tmp_path / "resumed")
    resumed = train(config(4), tmp_path / "resumed", resume=True)
    assert straight.global_step == resumed.global_step == 4
    first = read_checkpoint(straight.checkpoint)
    second = read_checkpoint(resumed.checkpoint)
    assert first["sketchssl"]["config"]["model"]["patch_size"] == 16  # from data.patch_size
    assert bool(first["state_dict"]["method.clusters.centroids_ready"])
    for key, value in first["state_dict"].items():
        torch.testing.assert_close(second["state_dict"][key], value, msg=key)
