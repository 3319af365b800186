"""Hostile and broken config files: a ConfigError, never code run, a crash or a hang."""

from __future__ import annotations

import pytest
import yaml
from fuzz_runner import fuzz
from hypothesis import strategies as st
from reliability_targets import config_seeds, mutated_bytes, read_config

from sketchssl.configuration import MAX_CONFIG_BYTES, load_yaml
from sketchssl.errors import ConfigError
from sketchssl.train.config import load_run_config


@pytest.fixture(scope="module")
def seeds():
    return config_seeds()


def test_seeds_load(seeds, tmp_path):
    assert [read_config(seed, tmp_path) for seed in seeds] == [1, 1]


def test_mutated_files(seeds, tmp_path):
    fuzz(lambda data: read_config(data, tmp_path), mutated_bytes(seeds), 25, "config (fast)")


# Structured configs: the right sections and keys with values of every type, which a byte
# mutation seldom produces.
SECTION_KEYS = {
    "model": ["num_layers", "hidden_dim", "refine_dims", "pooling", "keep_prob", "x"],
    "data": ["batch_size", "views", "normalization", "max_len", "store", "bad"],
    "optim": ["lr", "betas", "schedule", "milestones", "name"],
    "trainer": ["max_steps", "max_minutes", "devices", "precision", "nonfinite_lr_factor"],
    "other": ["a"],
}
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["${oc.env:NO_SUCH_VARIABLE}", "${model.x}", "${", "!!python/none"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children)
    ),
    max_leaves=8,
)
structured = st.dictionaries(
    st.sampled_from(sorted(SECTION_KEYS)) | st.integers(0, 3),
    st.one_of(
        values,
        st.sampled_from(sorted(SECTION_KEYS)).flatmap(
            lambda section: st.dictionaries(st.sampled_from(SECTION_KEYS[section]), values)
        ),
    ),
    max_size=4,
).map(lambda document: yaml.safe_dump(document).encode())


def test_structured_configs(tmp_path):
    fuzz(lambda data: read_config(data, tmp_path), structured, 30, "config structured (fast)")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_configs_long(seeds, tmp_path):
    count = fuzz(lambda data: read_config(data, tmp_path), mutated_bytes(seeds), 5000, "config")
    count += fuzz(lambda data: read_config(data, tmp_path), structured, 5000, "config structured")
    assert count > 9500


def test_python_tags_are_refused_and_run_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="evil.yaml"):
        load_yaml(path)
    with pytest.raises(ConfigError):
        load_run_config("sketch_bert", None, [], config_file=path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # 100,000 levels segfaulted the libyaml binding; 1,000 raised RecursionError.
        ("model: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 64 deep"),
        ("model: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n", "nested more than 64 deep"),
        ("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n", "nested"),
        ("\x00\x01", "cannot read"),
        ("model: [1, 2\n", "cannot read"),
        ("- 1\n- 2\n", "mapping at the top level"),
        ("'2'", "mapping at the top level"),  # found by atheris: OmegaConf asserted
        ("model: 5\n", "'model' must be a mapping"),
        ("7: {a: 1}\n", "unknown config section 7"),
        ("model: {7: 1}\n", "unknown config key 'model.7'"),
    ],
)
def test_hostile_config_texts(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_run_config("sketch_bert", None, [], config_file=path)


def test_billion_laughs_is_refused(tmp_path):
    # Nine levels of ten aliases: 10**9 nodes if expanded. OmegaConf caps alias expansion.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    lines.append("model: *a8")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="laughs.yaml"):
        load_yaml(path)


def test_oversized_config_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)
    with pytest.raises(ConfigError, match="limit"):
        load_yaml(path)
