"""Method registry: listing, lookup errors with suggestions, config merging and validation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from sketchssl.errors import ConfigError
from sketchssl.methods import (
    SketchMethod,
    build_config,
    build_method,
    get_method,
    list_methods,
    register_method,
)
from sketchssl.methods import registry as registry_module
from sketchssl.methods.sketch_bert import SketchBert, SketchBertConfig


def test_sketch_bert_methods_are_listed_with_descriptions():
    listed = dict(list_methods())
    for name in ("sketch_bert", "sketch_bert_cls", "sketch_bert_retrieval"):
        assert name in listed and len(listed[name]) > 20
    assert [name for name, _ in list_methods()] == sorted(listed)
    assert get_method("sketch_bert") is SketchBert and SketchBert.name == "sketch_bert"


def test_unknown_method_suggests_the_close_name_and_lists_known_ones():
    with pytest.raises(ConfigError) as caught:
        get_method("sketch_bret")
    message = str(caught.value)
    assert "unknown method 'sketch_bret'" in message
    assert "Did you mean 'sketch_bert'?" in message
    assert "sketch_bert_cls" in message  # the known names are listed
    with pytest.raises(ConfigError, match="Known methods") as caught:
        get_method("zzzz")
    assert "Did you mean" not in str(caught.value)


def test_misspelled_config_key_names_it_and_suggests_the_right_one():
    with pytest.raises(ConfigError) as caught:
        build_method("sketch_bert", {"num_layer": 4})
    message = str(caught.value)
    assert "'model.num_layer'" in message and "Did you mean 'num_layers'?" in message
    with pytest.raises(ConfigError, match="Did you mean 'keep_prob'"):
        build_config("sketch_bert", {"keep_probability": 0.9})


def test_overrides_are_merged_type_checked_and_validated():
    config = build_config(
        "sketch_bert",
        {"num_layers": 3, "refine_dims": [64, 96], "keep_prob": 1, "share_weights": False},
    )
    assert config.num_layers == 3 and config.refine_dims == (64, 96)
    assert isinstance(config.keep_prob, float) and config.share_weights is False
    assert config.hidden_dim == SketchBertConfig().hidden_dim  # untouched defaults stay
    with pytest.raises(ConfigError, match="'model.num_layers' takes an integer"):
        build_config("sketch_bert", {"num_layers": "four"})
    with pytest.raises(ConfigError, match="'model.share_weights' takes true or false"):
        build_config("sketch_bert", {"share_weights": "yes"})
    with pytest.raises(ConfigError, match="'model.refine_dims' takes a list"):
        build_config("sketch_bert", {"refine_dims": 128})
    with pytest.raises(ConfigError, match="'num_heads'.*must divide"):
        build_config("sketch_bert", {"num_heads": 7})
    with pytest.raises(ConfigError, match="keep_prob"):
        build_config("sketch_bert", {"keep_prob": 0.0})
    with pytest.raises(ConfigError, match="pooling"):
        build_config("sketch_bert", {"pooling": "sum"})


def test_config_error_is_a_sketchssl_error_with_a_plain_message():
    with pytest.raises(ConfigError) as caught:
        build_config("sketch_bert", {"hiden_dim": 1})
    assert not str(caught.value).startswith('"')  # KeyError would have quoted it


def test_register_a_new_method_and_refuse_a_duplicate_name(monkeypatch):
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))

    @dataclass
    class ToyConfig:
        width: int = 3

    @register_method("toy", "a toy method for the registry test")
    class Toy(SketchMethod):
        config_class = ToyConfig

        def __init__(self, config: ToyConfig | None = None) -> None:
            super().__init__(config)
            self.linear = torch.nn.Linear(5, self.config.width)

        def embed(self, batch):
            return self.linear(batch["strokes5"]).mean(dim=1)

    model = build_method("toy", {"width": 4})
    assert isinstance(model, Toy)
    assert model.embed({"strokes5": torch.zeros(2, 3, 5)}).shape == (2, 4)
    assert ("toy", "a toy method for the registry test") in list_methods()
    with pytest.raises(NotImplementedError, match="cannot draw"):
        model.generate()
    with pytest.raises(ValueError, match="already registered"):
        register_method("toy", "again")(type("Other", (Toy,), {}))
    with pytest.raises(TypeError, match="dataclass"):
        broken = type("Broken", (SketchMethod,), {"config_class": int})
        register_method("broken", "no config")(broken)
