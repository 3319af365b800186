"""Training runs end to end on the doodle store; an interrupted run resumes exactly."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from sketchssl.data.build import build_store
from sketchssl.train.checkpoint import read_checkpoint
from sketchssl.train.config import load_run_config
from sketchssl.train.run import train

TINY = [
    "model.num_layers=2",
    "model.hidden_dim=32",
    "model.num_heads=2",
    "model.ffn_dim=64",
    "model.embed_dim=16",
    "model.refine_dims=[32]",
    "model.head_dims=[16]",
    "data.batch_size=8",
    "data.num_workers=0",
    "data.max_len=99",
    "model.max_length=100",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.limit_val_batches=2",
    "trainer.val_every_n_steps=4",
    "trainer.checkpoint_every_n_steps=4",
    "optim.warmup_steps=2",
]


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:6:1"], path, workers=1, progress=False)
    return path


AUGMENTED = [
    "data.augment_scale=0.15",
    "data.augment_drop_prob=0.1",
    "data.augment_rotation_degrees=10",
]


def _config(store, steps: int, *extra: str):
    return load_run_config(
        "sketch_bert", "tiny", [*TINY, f"trainer.max_steps={steps}", f"data.store={store}", *extra]
    )


def _weights(checkpoint_path):
    return read_checkpoint(checkpoint_path)["state_dict"]


class SignalAtStep(Callback):
    """Sends this process SIGTERM after a given step, as a cluster's scheduler would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize("extra", [[], AUGMENTED], ids=["plain", "augmented"])
def test_resume_is_exact(doodle_store, tmp_path, extra):
    # 84 doodles, 9 batches of 8 per training epoch: 12 steps cross an epoch boundary (with
    # augmentation, the second epoch draws new augmentations of the same sketches).
    straight = train(_config(doodle_store, 12, *extra), tmp_path / "straight")
    assert straight.global_step == 12 and not straight.stopped_early

    # SIGTERM mid-epoch: the step finishes, last.ckpt is saved, the run returns.
    first = train(
        _config(doodle_store, 12, *extra),
        tmp_path / "interrupted",
        extra_callbacks=[SignalAtStep(5)],
    )
    assert first.stopped_early
    assert read_checkpoint(first.checkpoint)["global_step"] == first.global_step < 12
    resumed = train(_config(doodle_store, 12, *extra), tmp_path / "interrupted", resume=True)
    assert resumed.global_step == 12

    expected, got = _weights(straight.checkpoint), _weights(resumed.checkpoint)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)
    # The optimiser state matches too (Adam moments of every parameter).
    expected_optim = read_checkpoint(straight.checkpoint)["optimizer_states"][0]["state"]
    got_optim = read_checkpoint(resumed.checkpoint)["optimizer_states"][0]["state"]
    for index in expected_optim:
        torch.testing.assert_close(got_optim[index]["exp_avg"], expected_optim[index]["exp_avg"])


def test_run_folder_contents_and_refusals(doodle_store, tmp_path):
    from sketchssl.errors import ConfigError

    result = train(_config(doodle_store, 4), tmp_path / "run")
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert (tmp_path / "run" / "logs" / "metrics.csv").is_file()
    checkpoint = read_checkpoint(result.checkpoint)  # weights_only=True load
    assert checkpoint["sketchssl"]["method"] == "sketch_bert"
    assert checkpoint["global_step"] == 4
    with pytest.raises(ConfigError, match="--resume"):
        train(_config(doodle_store, 4), tmp_path / "run")
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(_config(doodle_store, 4), tmp_path / "fresh", resume=True)


def test_resume_keeps_the_metrics_history(doodle_store, tmp_path):
    import csv

    run = tmp_path / "run"
    train(_config(doodle_store, 8), run, extra_callbacks=[SignalAtStep(3)])
    train(_config(doodle_store, 8), run, resume=True)
    with open(run / "logs" / "metrics.csv", newline="") as stream:
        steps = sorted({int(float(row["step"])) for row in csv.DictReader(stream)})
    assert steps[0] == 0 and steps[-1] >= 6  # rows from before and after the interruption
