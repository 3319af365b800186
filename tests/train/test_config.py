"""Run configuration: every shipped preset loads, overrides are typed, schedules are exact."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import ClassVar

import pytest

import sketchssl.methods  # noqa: F401  (registers the methods)
from sketchssl.configuration import dataclass_from_mapping, upgrade_moved_keys
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


@dataclass
class Inner:
    size: int = 1
    rate: float = 0.5
    names: tuple[str, ...] = ("a",)


@dataclass
class Middle:
    inner: Inner = field(default_factory=partial(Inner, size=7))
    flag: bool = False


@dataclass
class Outer:
    middle: Middle = field(default_factory=Middle)
    optional: Inner | None = None
    width: int = 3
    moved_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "inner_size": ("middle.inner.size",),
        "shared_flag": ("middle.flag", "flag_copy"),
    }


def test_nested_sections_merge_key_by_key_from_the_fields_own_default():
    built = dataclass_from_mapping(Outer, {"middle": {"inner": {"rate": 2}}, "width": 4}, "model")
    assert built.width == 4 and isinstance(built.middle.inner.rate, float)
    assert built.middle.inner == Inner(size=7, rate=2.0)  # size: the factory's 7, not Inner's 1
    assert dataclass_from_mapping(Outer, {}).middle.inner.size == 7
    # a section given as an instance is taken as it is (vars() of a built config)
    given = Middle(inner=Inner(size=2))
    assert dataclass_from_mapping(Outer, {"middle": given}).middle is given
    # X | None: a mapping builds X from its class defaults, None stays None
    assert dataclass_from_mapping(Outer, {"optional": {"size": 5}}).optional == Inner(size=5)
    assert dataclass_from_mapping(Outer, {"optional": None}).optional is None
    # lists become tuples at any depth
    deep = dataclass_from_mapping(Outer, {"middle": {"inner": {"names": ["x", "y"]}}})
    assert deep.middle.inner.names == ("x", "y")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"middle": {"inner": {"sise": 2}}},
            r"unknown config key 'model\.middle\.inner\.sise'\. Did you mean 'size'\? "
            r"Valid keys of model\.middle\.inner: size, rate, names",
        ),
        ({"middle": {"inner": {"size": "big"}}}, "'model.middle.inner.size' takes an integer"),
        ({"middle": {"flag": "yes"}}, "'model.middle.flag' takes true or false"),
        ({"middle": 3}, r"'model\.middle' is a section: give its keys \(model\.middle\.KEY"),
        ({"optional": {"rate": "x"}}, "'model.optional.rate' takes a number"),
        ({"middel": {}}, "unknown config key 'model.middel'. Did you mean 'middle'?"),
    ],
)
def test_nested_errors_name_the_full_dotted_key(values, message):
    with pytest.raises(ConfigError, match=message):
        dataclass_from_mapping(Outer, values, "model")


def test_moved_keys_are_an_error_for_users_and_upgraded_for_saved_configs():
    with pytest.raises(
        ConfigError,
        match=r"'model\.inner_size' moved to 'model\.middle\.inner\.size': write "
        r"model\.middle\.inner\.size=VALUE \(YAML: \{model: \{middle: \{inner: \{size: VALUE",
    ):
        dataclass_from_mapping(Outer, {"inner_size": 4}, "model")
    with pytest.raises(ConfigError, match="moved to 'model.middle.flag' and 'model.flag_copy'"):
        dataclass_from_mapping(Outer, {"shared_flag": True}, "model")

    saved = {"inner_size": 4, "width": 5, "middle": {"inner": {"rate": 1.5}}}
    upgraded = upgrade_moved_keys(Outer, saved)
    assert upgraded == {"width": 5, "middle": {"inner": {"rate": 1.5, "size": 4}}}
    assert saved["middle"] == {"inner": {"rate": 1.5}}  # the input is left as it was
    assert dataclass_from_mapping(Outer, upgraded).middle.inner == Inner(size=4, rate=1.5)
    # a new place the section sets itself wins over the old key
    both = upgrade_moved_keys(Outer, {"inner_size": 4, "middle": {"inner": {"size": 9}}})
    assert both == {"middle": {"inner": {"size": 9}}}
    copies = upgrade_moved_keys(Outer, {"shared_flag": True})
    assert copies == {"middle": {"flag": True}, "flag_copy": True}


def test_decoder_keys_nest_on_the_command_line_and_in_yaml(tmp_path: Path):
    config = load_run_config("sketch_rnn", "tiny", ["model.decoder.size=128"])
    assert config.model.decoder.size == 128
    assert config.model.decoder.num_mixtures == 10  # the rest of the preset's decoder stays
    assert config.to_dict()["model"]["decoder"]["size"] == 128  # saved nested
    with pytest.raises(ConfigError, match="Did you mean 'size'"):
        load_run_config("sketch_rnn", "tiny", ["model.decoder.sise=128"])
    with pytest.raises(ConfigError, match="'model.decoder_size' moved to 'model.decoder.size'"):
        load_run_config("sketch_rnn", "tiny", ["model.decoder_size=128"])
    with pytest.raises(
        ConfigError,
        match="'model.recurrent_dropout' moved to 'model.decoder.recurrent_dropout' and "
        "'model.encoder_recurrent_dropout'",
    ):
        load_run_config("sketchgloc", "tiny", ["model.recurrent_dropout=0.1"])
    nested = tmp_path / "nested.yaml"
    nested.write_text("model:\n  latent_size: 32\n  decoder:\n    size: 48\n    num_mixtures: 4\n")
    config = load_run_config("sp_gra2seq", None, [], config_file=nested)
    assert (config.model.decoder.size, config.model.decoder.num_mixtures) == (48, 4)
    assert config.model.decoder.temperature == 0.24  # SP-gra2seq's own default stays
    flat = tmp_path / "flat.yaml"
    flat.write_text("model:\n  temperature: 0.3\n")
    with pytest.raises(ConfigError, match="'model.temperature' moved to 'model.decoder.temp"):
        load_run_config("lmser_pix2seq", None, [], config_file=flat)
    # the contrastive methods' own InfoNCE temperature is theirs, not a moved key
    assert load_run_config("cross_view", "tiny", ["model.temperature=0.2"]).model.temperature == 0.2


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


def test_resuming_a_run_folder_saved_with_flat_decoder_keys(tmp_path: Path):
    from sketchssl.train.run import RUN_CONFIG_FILE, resolve_config

    (tmp_path / RUN_CONFIG_FILE).write_text(
        "method: sketch_rnn\npreset: tiny\nmodel:\n  decoder_size: 96\n  recurrent_dropout: 0.05\n"
        "  temperature: 0.7\n  encoder_size: 16\n"
    )
    config = resolve_config("sketch_rnn", None, [], run_dir=tmp_path, resume=True)
    assert (config.model.decoder.size, config.model.decoder.temperature) == (96, 0.7)
    assert config.model.decoder.recurrent_dropout == config.model.encoder_recurrent_dropout == 0.05
    assert config.model.encoder_size == 16
