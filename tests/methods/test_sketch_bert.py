"""Sketch-BERT: SGM loss on masked entries only, shapes of both presets, ALBERT sharing,
padding invariance, gestalt completion, fine-tuning heads and loading a pre-trained encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from sketchssl.data.formats import stroke3_to_stroke5
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods import build_method
from sketchssl.methods.masking import GestaltMasks, draw_gestalt_masks
from sketchssl.methods.sketch_bert import (
    SketchBert,
    SketchBertClassifier,
    SketchBertConfig,
    SketchBertRetrieval,
    gestalt_loss,
)
from sketchssl.nn.transformer import TransformerEncoder
from sketchssl.train.config import preset_path

SMALL = dict(
    num_layers=2,
    hidden_dim=32,
    num_heads=4,
    ffn_dim=64,
    embed_dim=16,
    refine_dims=(24,),
    attention_dropout=0.0,
    hidden_dropout=0.0,
    output_dropout=0.0,
)


def preset(name: str) -> dict:
    return yaml.safe_load(preset_path("sketch_bert", name).read_text())


def make_batch(seed: int, size: int = 8, max_len: int = 30, labels: list[int] | None = None):
    rng = np.random.default_rng(seed)
    rows, masks = [], []
    for _ in range(size):
        length = int(rng.integers(3, max_len + 1))
        sketch = np.zeros((length, 3), dtype=np.int16)
        sketch[:, :2] = rng.integers(-9, 10, size=(length, 2))
        sketch[:, 2] = rng.random(length) < 0.25
        sketch[-1, 2] = 1
        rows.append(stroke3_to_stroke5(sketch, max_len, start_token=True))
        masks.append(np.arange(max_len + 1) < length + 1)
    strokes5 = torch.from_numpy(np.stack(rows))
    strokes5[..., :2] /= 5.0
    batch = {"strokes5": strokes5, "mask": torch.from_numpy(np.stack(masks))}
    batch["length"] = batch["mask"].sum(dim=1)
    batch["label"] = torch.tensor(labels if labels is not None else [-1] * size)
    return batch


def count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


# ---- the SGM loss -----------------------------------------------------------------------------


def test_gestalt_loss_reads_only_masked_entries():
    torch.manual_seed(0)
    batch = make_batch(0)
    target = batch["strokes5"]
    prediction = torch.randn_like(target)
    masks = draw_gestalt_masks(target, batch["mask"], 0.85, torch.Generator().manual_seed(0))
    base = gestalt_loss(prediction, target, masks)

    # change every unmasked target and prediction entry: the loss stays put
    visible_position = ~masks.position[..., None].expand(-1, -1, 2)
    visible_state = ~masks.state[..., None].expand(-1, -1, 3)
    noise = torch.randn_like(target) * 3
    target2, prediction2 = target.clone(), prediction.clone()
    target2[..., :2][visible_position] += noise[..., :2][visible_position]
    prediction2[..., :2][visible_position] += noise[..., :2][visible_position]
    target2[..., 2:][visible_state] = 1 - target2[..., 2:][visible_state]
    prediction2[..., 2:][visible_state] += noise[..., 2:][visible_state]
    same = gestalt_loss(prediction2, target2, masks)
    for key in ("loss", "position_l1", "state_ce"):
        torch.testing.assert_close(same[key], base[key])

    # change one masked offset: position_l1 moves, state_ce does not
    b, t = masks.position.nonzero()[0].tolist()
    target3 = target.clone()
    target3[b, t, 0] += 10.0
    moved = gestalt_loss(prediction, target3, masks)
    assert moved["position_l1"] > base["position_l1"]
    torch.testing.assert_close(moved["state_ce"], base["state_ce"])
    # change one masked state's class: state_ce moves
    b, t = masks.state.nonzero()[0].tolist()
    target4 = target.clone()
    target4[b, t, 2:] = target4[b, t, 2:].roll(1)
    assert not torch.isclose(gestalt_loss(prediction, target4, masks)["state_ce"], base["state_ce"])


def test_gestalt_loss_hand_computed():
    prediction = torch.zeros(1, 2, 5)
    prediction[0, 1, 2:] = torch.tensor([0.0, 0.0, 0.0])
    target = torch.tensor([[[1.0, -3.0, 1, 0, 0], [2.0, 2.0, 0, 1, 0]]])
    masks = GestaltMasks(torch.tensor([[True, False]]), torch.tensor([[False, True]]))
    out = gestalt_loss(prediction, target, masks, position_weight=1.0, state_weight=2.0)
    assert out["position_l1"].item() == pytest.approx(2.0)  # (|1| + |-3|) / 2
    assert out["state_ce"].item() == pytest.approx(np.log(3.0))  # uniform logits over 3 states
    assert out["loss"].item() == pytest.approx(2.0 + 2 * np.log(3.0))


def test_model_cannot_see_masked_values_and_their_targets_count():
    torch.manual_seed(1)
    model = SketchBert(SketchBertConfig(**SMALL)).eval()
    batch = make_batch(1)
    masks = draw_gestalt_masks(
        batch["strokes5"], batch["mask"], 0.85, torch.Generator().manual_seed(1)
    )
    batch.update(position_mask=masks.position, state_mask=masks.state)
    prediction = model.predict(batch["strokes5"], batch["mask"], masks.position, masks.state)
    loss = model.loss(batch)["loss"]

    changed = {**batch, "strokes5": batch["strokes5"].clone()}
    b, t = masks.position.nonzero()[0].tolist()
    changed["strokes5"][b, t, :2] += 7.0  # a hidden offset
    after = model.predict(changed["strokes5"], changed["mask"], masks.position, masks.state)
    torch.testing.assert_close(after, prediction)  # the input the model sees is identical
    assert model.loss(changed)["loss"] > loss  # ... but the target moved

    visible = {**batch, "strokes5": batch["strokes5"].clone()}
    b, t = (~masks.position & batch["mask"]).nonzero()[0].tolist()
    visible["strokes5"][b, t, :2] += 7.0  # a visible offset: the input changes
    changed_input = model.predict(visible["strokes5"], visible["mask"], masks.position, masks.state)
    assert not torch.allclose(changed_input, prediction)


def test_a_few_adam_steps_reduce_the_sgm_loss():
    torch.manual_seed(2)
    model = SketchBert(SketchBertConfig(**SMALL, head_dims=(16,)))
    batch = make_batch(2, size=16)
    masks = draw_gestalt_masks(
        batch["strokes5"], batch["mask"], 0.85, torch.Generator().manual_seed(2)
    )
    batch.update(position_mask=masks.position, state_mask=masks.state)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_loss_draws_masks_with_the_generator_when_the_batch_has_none():
    model = SketchBert(SketchBertConfig(**SMALL)).eval()
    batch = make_batch(3)
    model.generator = torch.Generator().manual_seed(9)
    first = model.loss(batch)["loss"]
    model.generator = torch.Generator().manual_seed(9)
    assert torch.equal(model.loss(batch)["loss"], first)


# ---- presets and shapes -------------------------------------------------------------------------


def test_tiny_preset_shapes():
    model = build_method("sketch_bert", preset("tiny")["model"]).eval()
    batch = make_batch(4, size=3, max_len=249)
    out = model.loss(batch)
    assert set(out) == {"loss", "position_l1", "state_ce"} and out["loss"].dim() == 0
    assert model.embed(batch).shape == (3, 128)
    assert model.generate(batch).shape == (3, 250, 5)


def test_paper_preset_dimensions_and_albert_sharing():
    config = preset("paper")["model"]
    model = build_method("sketch_bert", config)
    assert model.config == SketchBertConfig()  # the preset is the dataclass defaults
    hidden, ffn = 768, 3072
    per_layer = (4 * hidden * hidden + 4 * hidden) + (2 * hidden * ffn + ffn + hidden) + 4 * hidden
    assert count(model.encoder.transformer) == per_layer  # 8 applications of one layer
    with torch.device("meta"):  # an unshared copy, without allocating 57M floats
        unshared = TransformerEncoder(8, hidden, 12, ffn, share_weights=False)
    assert count(unshared) == 8 * count(model.encoder.transformer)
    embedding = (
        (5 * 128 + 128) + 250 * 128 + (128 * 256 + 256) + (256 * 512 + 512) + (512 * 768 + 768)
    )
    head = (768 * 512 + 512) + (512 * 256 + 256) + (256 * 128 + 128) + (128 * 5 + 5)
    assert count(model) == per_layer + embedding + head == 8_237_829
    layer = model.encoder.transformer.layer(0)
    assert all(model.encoder.transformer.layer(d) is layer for d in range(8))
    assert layer.qkv.out_features == 3 * 768 and layer.num_heads == 12
    assert model.encoder.embedding.position.num_embeddings == 250


def test_sequences_longer_than_max_length_are_refused_with_advice():
    model = SketchBert(SketchBertConfig(**SMALL, max_length=20))
    with pytest.raises(SketchFormatError, match="max_length"):
        model.loss(make_batch(5, size=2, max_len=40) | {"mask": torch.ones(2, 41, dtype=bool)})
    with pytest.raises(SketchFormatError, match="strokes5"):
        model.loss({"mask": torch.ones(2, 4, dtype=torch.bool)})


# ---- padding invariance, completion -----------------------------------------------------------


@pytest.mark.parametrize("method", ["sketch_bert", "sketch_bert_cls", "sketch_bert_retrieval"])
def test_padding_does_not_change_an_embedding(method):
    torch.manual_seed(6)
    overrides = {**SMALL, "attention_dropout": 0.5, "hidden_dropout": 0.5, "output_dropout": 0.5}
    if method == "sketch_bert_cls":
        overrides["num_classes"] = 5
    model = build_method(method, overrides).eval()
    batch = make_batch(6, size=4, max_len=30)
    short = int(batch["length"].argmin())
    alone = {
        "strokes5": batch["strokes5"][short : short + 1, : int(batch["length"][short])],
        "mask": batch["mask"][short : short + 1, : int(batch["length"][short])],
    }
    noisy = {key: value.clone() for key, value in batch.items()}
    noisy["strokes5"][~noisy["mask"]] = torch.randn_like(noisy["strokes5"][~noisy["mask"]]) * 50
    torch.testing.assert_close(
        model.embed(noisy)[short], model.embed(alone)[0], atol=1e-5, rtol=1e-5
    )


def test_generate_keeps_visible_entries_and_fills_masked_ones():
    torch.manual_seed(7)
    model = SketchBert(SketchBertConfig(**SMALL)).eval()
    batch = make_batch(7, size=4)
    masks = draw_gestalt_masks(
        batch["strokes5"], batch["mask"], 0.5, torch.Generator().manual_seed(7)
    )
    completed = model.generate(batch, masks.position, masks.state)
    original = batch["strokes5"]
    assert completed.shape == original.shape
    keep_xy = ~masks.position
    keep_state = ~masks.state
    assert torch.equal(completed[..., :2][keep_xy], original[..., :2][keep_xy])
    assert torch.equal(completed[..., 2:][keep_state], original[..., 2:][keep_state])
    strokes5, mask = model.inputs(batch)  # cut to the longest sketch
    used = mask.shape[1]
    prediction = model.predict(strokes5, mask, masks.position[:, :used], masks.state[:, :used])
    torch.testing.assert_close(
        completed[:, :used, :2][masks.position[:, :used]],
        prediction[..., :2][masks.position[:, :used]],
    )
    assert torch.equal(completed[:, used:], original[:, used:])  # padding columns untouched
    filled = completed[..., 2:][masks.state]
    assert torch.equal(filled.sum(dim=-1), torch.ones(len(filled)))  # one-hot pen states


# ---- fine-tuning heads ------------------------------------------------------------------------


def test_classifier_prefix_loss_and_label_checks():
    torch.manual_seed(8)
    model = SketchBertClassifier(
        build_method("sketch_bert_cls", {**SMALL, "num_classes": 3}).config
    )
    batch = make_batch(8, size=6, labels=[0, 1, 2, 0, 1, 2])
    assert model.encoder.prefix_tokens == 1 and model.encoder.prefix_value == -1.0
    assert model.logits(batch).shape == (6, 3)
    out = model.loss(batch)
    assert out["loss"].item() > 0 and 0.0 <= out["accuracy"].item() <= 1.0
    with pytest.raises(SketchFormatError, match="label -1"):
        model.loss(make_batch(8, size=2))
    with pytest.raises(SketchFormatError, match="num_classes"):
        model.loss(make_batch(8, size=2, labels=[0, 7]))


def test_retrieval_mines_valid_triplets_in_the_batch():
    model = SketchBertRetrieval(build_method("sketch_bert_retrieval", SMALL).config)
    model.generator = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    anchors, positives, negatives = model.mine_triplets(labels)
    assert anchors.tolist() == [0, 1, 2, 3, 4]  # class 2 has no positive
    assert (labels[positives] == labels[anchors]).all() and (positives != anchors).all()
    assert (labels[negatives] != labels[anchors]).all()
    batch = make_batch(9, size=6, labels=labels.tolist())
    assert model.embed(batch).shape == (6, 128)
    out = model.loss(batch)
    assert out["triplets"].item() == 5 and out["loss"].item() >= 0
    lonely = model.loss(make_batch(9, size=3, labels=[0, 1, 2]))
    assert lonely["loss"].item() == 0.0 and lonely["triplets"].item() == 0
    lonely["loss"].backward()  # still differentiable


def test_load_pretrained_encoder_shifts_the_position_table():
    torch.manual_seed(10)
    pretrained = SketchBert(SketchBertConfig(**SMALL, max_length=40))
    classifier = build_method("sketch_bert_cls", {**SMALL, "max_length": 40, "num_classes": 4})
    own_cls_row = classifier.encoder.embedding.position.weight[0].detach().clone()
    head_before = classifier.classifier.weight.detach().clone()
    classifier.load_pretrained_encoder(pretrained.state_dict())
    source = pretrained.encoder.embedding.position.weight
    table = classifier.encoder.embedding.position.weight
    assert table.shape[0] == 41
    torch.testing.assert_close(table[1:], source)  # sequence positions shifted by the prefix
    torch.testing.assert_close(table[0], own_cls_row)  # the [CLS] row keeps its own start
    torch.testing.assert_close(
        classifier.encoder.transformer.layer(0).qkv.weight,
        pretrained.encoder.transformer.layer(0).qkv.weight,
    )
    assert torch.equal(classifier.classifier.weight, head_before)
    # each point is embedded exactly as in pre-training: same point weights, shifted position
    points = make_batch(10, size=2)["strokes5"]  # (2, 31, 5)
    with_prefix = torch.cat([torch.full((2, 1, 5), -1.0), points], dim=1)
    torch.testing.assert_close(
        classifier.encoder.embedding(with_prefix)[:, 1:], pretrained.encoder.embedding(points)
    )

    # from a prefixed model back to one: the prefix row is copied too
    other = build_method("sketch_bert_retrieval", {**SMALL, "max_length": 40})
    other.load_pretrained_encoder(classifier.state_dict())
    torch.testing.assert_close(other.encoder.embedding.position.weight, table)


def test_load_pretrained_encoder_rejects_other_architectures():
    classifier = build_method("sketch_bert_cls", {**SMALL, "num_classes": 4})
    wider = SketchBert(SketchBertConfig(**{**SMALL, "hidden_dim": 64}))
    with pytest.raises(ConfigError, match="shape"):
        classifier.load_pretrained_encoder(wider.state_dict())
    assert classifier.config.share_weights
    unshared = SketchBert(SketchBertConfig(**{**SMALL, "share_weights": False}))
    with pytest.raises(ConfigError, match="share_weights"):
        classifier.load_pretrained_encoder(unshared.state_dict())
    with pytest.raises(ConfigError, match="no Sketch-BERT encoder"):
        classifier.load_pretrained_encoder({"weight": torch.zeros(2)})
