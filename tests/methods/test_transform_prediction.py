"""Rotation / deformation self-supervision (Xu et al. 2020): class counts, presets, embedding the
untransformed copy, learning on a small batch, and a short CLI training run that reloads."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from sketchssl.cli.app import app
from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods import build_method
from sketchssl.methods.checkpoint import load_method
from sketchssl.methods.transform_prediction import (
    RotationCNN,
    RotationDeformationTCN,
    RotationTCN,
    TransformCNNConfig,
    TransformTCNConfig,
)
from sketchssl.render.views import SketchDataset
from sketchssl.train.config import load_run_config

METHODS = {
    "rotation_cnn": {"rotation": 4},
    "deformation_cnn": {"deformation": 2},
    "rotation_deformation_cnn": {"rotation": 4, "deformation": 2},
    "rotation_tcn": {"rotation": 4},
    "deformation_tcn": {"deformation": 2},
    "rotation_deformation_tcn": {"rotation": 4, "deformation": 2},
}
SMALL_TCN = dict(num_filters=8, window_sizes=(2, 4, 8), feature_dim=32, max_points=40)
SMALL_CNN = dict(
    encoder="small", in_channels=1, image_size=32, conv_channels=(8, 16, 32), feature_dim=32
)


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:8"], path, workers=1, progress=False)
    return path


def batch_of(store, views, count=16, **options):
    dataset = SketchDataset(store, views=views, normalization="none", **options)
    items = [dataset[i] for i in range(count)]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_tiny_presets_build_and_classify_every_copy(name, doodle_store):
    config = load_run_config(name, "tiny", [f"data.store={doodle_store}"])
    model = build_method(name, vars(config.model))
    assert {task: head.out_features for task, head in model.heads.items()} == METHODS[name]
    data = config.data
    batch = batch_of(
        doodle_store,
        data.views,
        count=4,
        max_len=data.max_len,
        raster_size=data.raster_size,
        raster_line_width=data.raster_line_width,
    )
    parts = model.loss(batch)
    assert parts["loss"].ndim == 0 and torch.isfinite(parts["loss"])
    for task in METHODS[name]:
        assert 0.0 <= float(parts[f"{task}_accuracy"]) <= 1.0
    model.eval()
    width = model.config.feature_dim
    if getattr(model.config, "embed_layer", "fc2") == "conv":
        width = model.config.conv_channels[-1]
    assert model.embed(batch).shape == (4, width)


@pytest.mark.parametrize("name", ["rotation_cnn", "rotation_tcn"])
def test_paper_presets_instantiate_with_the_published_sizes(name):
    config = load_run_config(name, "paper")
    model = build_method(name, vars(config.model))
    assert model.config.feature_dim == 4096 and model.heads["rotation"].out_features == 4
    if name == "rotation_cnn":
        assert config.data.raster_size == model.config.image_size == 224
        assert config.optim.lr == 0.1 and config.optim.weight_decay == 5e-4
    else:
        assert config.data.max_len == model.config.max_points == 100
        assert config.optim.name == "adam" and config.optim.lr == 1e-2


def test_rotation_tcn_is_four_way_not_the_reference_two():
    model = RotationTCN(TransformTCNConfig(**SMALL_TCN))
    assert model.heads["rotation"].out_features == 4
    batch = {
        "rotation_points": torch.rand(2, 4, 40, 4),
        "rotation_points_labels": torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]]),
    }
    assert torch.isfinite(model.loss(batch)["loss"])


def test_embed_uses_the_untransformed_copy(doodle_store):
    torch.manual_seed(0)
    model = RotationDeformationTCN(TransformTCNConfig(**SMALL_TCN)).eval()
    batch = batch_of(doodle_store, ("points", "rotation_points"), count=6, max_len=40)
    from_plain = model.embed({"points": batch["points"]})
    from_copies = model.embed({k: v for k, v in batch.items() if k != "points"})
    torch.testing.assert_close(from_copies, from_plain)
    # the label-0 copy is found by its label, wherever it sits
    order = torch.tensor([2, 0, 3, 1])
    shuffled = {
        "rotation_points": batch["rotation_points"][:, order],
        "rotation_points_labels": batch["rotation_points_labels"][:, order],
    }
    torch.testing.assert_close(model.embed(shuffled), from_plain)
    with pytest.raises(SketchFormatError, match="data.views"):
        model.embed({"strokes5": batch["points"]})


def test_loss_pairs_each_copy_with_its_own_label(doodle_store):
    torch.manual_seed(0)
    model = build_method("rotation_cnn", SMALL_CNN).eval()
    batch = batch_of(doodle_store, ("rotation_images",), count=4, raster_size=32)
    order = torch.tensor([3, 1, 0, 2])
    permuted = {key: value[:, order] for key, value in batch.items() if key.startswith("rotation")}
    torch.testing.assert_close(model.loss(permuted)["loss"], model.loss(batch)["loss"])
    wrong = {**batch, "rotation_images_labels": batch["rotation_images_labels"][:, [1, 2, 3, 0]]}
    assert not torch.allclose(model.loss(wrong)["loss"], model.loss(batch)["loss"])


@pytest.mark.parametrize(
    ("name", "options", "views"),
    [
        ("rotation_tcn", SMALL_TCN, ("rotation_points",)),
        ("deformation_cnn", SMALL_CNN, ("deformation_images",)),
    ],
)
def test_a_few_steps_reduce_the_loss(name, options, views, doodle_store):
    torch.manual_seed(0)
    model = build_method(name, options)
    batch = batch_of(doodle_store, views, count=16, max_len=40, raster_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_inputs_are_checked_with_a_fix_in_the_message():
    model = build_method("rotation_cnn", SMALL_CNN)
    with pytest.raises(SketchFormatError, match="data.raster_size"):
        model.loss(
            {
                "rotation_images": torch.rand(2, 4, 1, 64, 64),
                "rotation_images_labels": torch.arange(4).repeat(2, 1),
            }
        )
    with pytest.raises(SketchFormatError, match="rotation_images"):
        model.loss({"image": torch.rand(2, 1, 32, 32)})
    with pytest.raises(ConfigError, match="encoder"):
        TransformCNNConfig(encoder="resnet")
    with pytest.raises(ConfigError, match="too small"):
        TransformCNNConfig(encoder="small", image_size=8, conv_channels=(4, 4, 4, 4))


def test_train_command_writes_a_checkpoint_that_reloads(doodle_store, tmp_path):
    run = tmp_path / "run"
    overrides = [
        "trainer.max_steps=20",
        "trainer.progress_bar=false",
        "trainer.val_every_n_steps=20",
        "trainer.limit_val_batches=1",
        "trainer.checkpoint_every_n_steps=20",
        "data.num_workers=0",
        "data.batch_size=8",
        "model.feature_dim=32",
    ]
    result = CliRunner().invoke(
        app,
        [
            "train",
            "rotation_tcn",
            "--preset",
            "tiny",
            "--data",
            str(doodle_store),
            "--out",
            str(run),
            *overrides,
        ],
    )
    assert result.exit_code == 0, result.output
    method, run_config = load_method(run / "checkpoints" / "last.ckpt")
    assert isinstance(method, RotationTCN) and run_config["data"]["views"] == ["rotation_points"]
    assert method.config.feature_dim == 32 and not method.training
    batch = batch_of(doodle_store, ("points",), count=3, max_len=100)
    assert method.embed(batch).shape == (3, 32)


@pytest.mark.parametrize(
    "module",
    [
        "sketchssl.nn.cnn",
        "sketchssl.nn.tcn",
        "sketchssl.render.pretext",
        "sketchssl.methods.transform_prediction",
    ],
)
def test_documented_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_embedding_views_give_the_same_features_as_the_copies(doodle_store):
    # evaluation embeds the gallery from the plain view (one render, not four): it must equal
    # the label-0 copy of the pretext view the model trained on
    torch.manual_seed(0)
    model = RotationCNN(TransformCNNConfig(**SMALL_CNN)).eval()
    assert model.embedding_views(("rotation_images",)) == ("raster",)
    assert model.embedding_views(("sequence", "rotation_images")) == ("sequence", "raster")
    options = dict(count=5, raster_size=32, raster_line_width=1.5)
    plain = batch_of(doodle_store, ("raster",), **options)
    copies = batch_of(doodle_store, ("rotation_images",), **options)
    torch.testing.assert_close(model.embed(plain), model.embed(copies))
    tcn = RotationDeformationTCN(TransformTCNConfig(**SMALL_TCN))
    assert tcn.embedding_views(("rotation_points", "deformation_points")) == ("points",)


@pytest.mark.parametrize("encoder", ["small", "alexnet_bn"])
def test_embed_layer_reads_the_named_layer_of_the_encoder(encoder):
    # Each layer computed by hand from the encoder's own modules, in eval mode.
    options = SMALL_CNN if encoder == "small" else dict(in_channels=1, feature_dim=16)
    size = 32 if encoder == "small" else 224
    torch.manual_seed(0)
    model = RotationCNN(TransformCNNConfig(**options, embed_layer="fc2")).eval()
    images = torch.rand(3, 1, size, size)
    maps = model.encoder.features(images)  # (3, C, s, s)
    first = model.encoder.head[1](maps.flatten(1))
    expected = {
        "conv": maps.mean(dim=(2, 3)),
        "fc1": first,
        "fc2": model.encoder.head[2](first),
    }
    for layer, value in expected.items():
        model.config.embed_layer = layer
        torch.testing.assert_close(model.embed({"image": images}), value)
    assert expected["conv"].shape == (3, maps.shape[1])
    with pytest.raises(ConfigError, match="embed_layer"):
        TransformCNNConfig(**options, embed_layer="fc3")
