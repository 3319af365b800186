"""Run configuration: every shipped preset loads, overrides are typed, schedules are exact."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl.errors import ConfigError
from sketchssl.methods import build_method, list_methods
from sketchssl.train.config import OptimConfig, available_presets, load_run_config, preset_path
from sketchssl.train.module import build_optimizer, lr_factor


def test_every_registered_method_ships_tiny_and_paper_presets_that_load():
    for name, _ in list_methods():
        assert {"tiny", "paper"} <= set(available_presets(name)), name
        for preset in ("tiny", "paper"):
            config = load_run_config(name, preset)
            assert config.method == name and config.trainer.max_steps > 0
            if preset == "tiny":  # the paper presets are GPU-sized: instantiated elsewhere
                build_method(name, vars(config.model))


def test_every_preset_file_belongs_to_a_registered_method():
    names = {name for name, _ in list_methods()}
    folder = preset_path("sketch_bert", "tiny").parents[1]
    for path in folder.glob("*/*.yaml"):
        assert path.parent.name in names, f"{path}: no method of that name"


def test_overrides_are_typed_and_misspellings_suggest_the_key():
    config = load_run_config("sketch_bert", "tiny", ["trainer.devices=2", "optim.lr=0.01"])
    assert config.trainer.devices == 2 and config.optim.lr == 0.01
    assert (
        load_run_config("sketch_bert", "tiny", ["trainer.devices=auto"]).trainer.devices == "auto"
    )
    with pytest.raises(ConfigError, match="Did you mean 'max_steps'"):
        load_run_config("sketch_bert", "tiny", ["trainer.max_step=3"])
    with pytest.raises(ConfigError, match="takes an integer"):
        load_run_config("sketch_bert", "tiny", ["trainer.max_steps=lots"])
    with pytest.raises(ConfigError, match="section.key=value"):
        load_run_config("sketch_bert", "tiny", ["max_steps"])
    with pytest.raises(ConfigError, match="Presets: paper, tiny"):
        load_run_config("sketch_bert", "huge")


def test_config_file_instead_of_preset(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text("model:\n  num_layers: 3\ntrainer:\n  max_steps: 7\n")
    config = load_run_config("sketch_bert", None, [], config_file=path)
    assert config.model.num_layers == 3 and config.trainer.max_steps == 7


def test_learning_rate_schedules_hand_computed():
    cosine = OptimConfig(lr=1.0, warmup_steps=10, schedule="cosine", min_lr=0.1)
    assert lr_factor(0, cosine, 110) == pytest.approx(0.1)  # warm-up: (0 + 1) / 10
    assert lr_factor(9, cosine, 110) == pytest.approx(1.0)
    assert lr_factor(60, cosine, 110) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2))
    )
    assert lr_factor(110, cosine, 110) == pytest.approx(0.1)
    sketch_rnn = OptimConfig(lr=1e-3, schedule="exponential", decay_rate=0.9999, min_lr=1e-5)
    assert lr_factor(1000, sketch_rnn, 10**6) * 1e-3 == pytest.approx(
        (1e-3 - 1e-5) * 0.9999**1000 + 1e-5
    )
    steps = OptimConfig(lr=0.1, schedule="step", milestones=(5, 7), gamma=0.1)
    assert [lr_factor(s, steps, 10) for s in (4, 5, 6, 7)] == pytest.approx([1, 0.1, 0.1, 0.01])
    with pytest.raises(ConfigError, match="choose constant"):
        lr_factor(0, OptimConfig(schedule="linear"), 10)


def test_optimizers():
    import torch

    parameters = [torch.nn.Parameter(torch.zeros(2))]
    sgd = build_optimizer(parameters, OptimConfig(name="sgd", lr=0.1, nesterov=True))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"]
    with pytest.raises(ConfigError, match="choose adam, adamw or sgd"):
        build_optimizer(parameters, OptimConfig(name="lion"))
