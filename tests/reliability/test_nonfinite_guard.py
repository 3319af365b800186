"""The non-finite guard, provoked on purpose: skipped steps, rollback with a lower rate, limits."""

from __future__ import annotations

import logging
import math
import os
import signal

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from training_helpers import WeightRecorder, assert_same_weights, tiny_config, weights

from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError, TrainingError
from sketchssl.train.guard import NonFiniteGuard, gradients_finite
from sketchssl.train.module import lr_factor
from sketchssl.train.run import train


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:6:1"], path, workers=1, progress=False)
    return path


class PoisonLoss(Callback):
    """Makes the method's loss NaN at the given steps, as a diverging likelihood would."""

    def __init__(self, steps) -> None:
        self.steps = set(steps)

    def on_train_start(self, trainer, pl_module) -> None:
        original = pl_module.method.loss

        def poisoned(batch):
            parts = dict(original(batch))
            if trainer.training and trainer.global_step in self.steps:
                parts["loss"] = parts["loss"] * float("nan")
            return parts

        pl_module.method.loss = poisoned


class PoisonGradient(Callback):
    """Makes one parameter's gradient infinite at the given steps; the loss stays finite."""

    def __init__(self, steps) -> None:
        self.steps = set(steps)

    def on_train_start(self, trainer, pl_module) -> None:
        parameter = next(pl_module.method.parameters())
        parameter.register_hook(
            lambda grad: grad * math.inf if trainer.global_step in self.steps else grad
        )


class SignalAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def _guard(recorder: WeightRecorder) -> NonFiniteGuard:
    return next(c for c in recorder.callbacks if isinstance(c, NonFiniteGuard))


def test_gradients_finite():
    parameter = torch.nn.Parameter(torch.ones(3))
    assert gradients_finite([parameter])  # no gradient yet
    parameter.grad = torch.tensor([1.0, 2.0, 2.0])
    assert gradients_finite([parameter])
    parameter.grad = torch.tensor([1.0, math.nan, 2.0])
    assert not gradients_finite([parameter])
    parameter.grad = torch.tensor([math.inf, 0.0, 0.0])
    assert not gradients_finite([parameter])


def test_isolated_non_finite_steps_are_skipped_and_counted(doodle_store, tmp_path, caplog):
    recorder = WeightRecorder()
    config = tiny_config(doodle_store, 8)
    with caplog.at_level(logging.WARNING, logger="sketchssl.train.guard"):
        result = train(
            config,
            tmp_path / "run",
            extra_callbacks=[PoisonLoss([3]), PoisonGradient([5]), recorder],
        )
    assert result.global_step == 8
    # A skipped step leaves weights and optimiser state exactly as they were.
    assert_same_weights(recorder.weights[4], recorder.weights[3])
    assert_same_weights(recorder.weights[6], recorder.weights[5])
    assert any(
        not torch.equal(recorder.weights[5][key], recorder.weights[4][key])
        for key in recorder.weights[5]
    )
    assert recorder.adam_steps[8] == 6.0  # 8 steps, 2 skipped
    guard = _guard(recorder)
    assert (guard.skipped_total, guard.rollbacks) == (2, 0)
    messages = [record.getMessage() for record in caplog.records]
    assert "step 3: loss nan; update skipped (1 in a row, 1 in all)" in messages
    assert "step 5: gradient norm not finite; update skipped (1 in a row, 2 in all)" in messages
    final = weights(result.checkpoint)
    assert all(torch.isfinite(value).all() for value in final.values() if value.is_floating_point())
    # The count is part of the checkpoint (the guard's callback state).
    states = torch.load(result.checkpoint, weights_only=True)["callbacks"]
    assert any(state.get("skipped_total") == 2 for state in states.values())


def test_without_the_guard_one_nan_ruins_the_weights(doodle_store, tmp_path):
    # Control: what the guard prevents.
    config = tiny_config(doodle_store, 5, "trainer.nonfinite_guard=false")
    result = train(config, tmp_path / "run", extra_callbacks=[PoisonLoss([3])])
    final = weights(result.checkpoint)
    assert any(torch.isnan(value).any() for value in final.values() if value.is_floating_point())


def test_a_streak_rolls_back_to_the_last_good_checkpoint_with_a_lower_rate(
    doodle_store, tmp_path, caplog
):
    recorder = WeightRecorder()
    extra = ("trainer.nonfinite_max_consecutive=3", "trainer.nonfinite_lr_factor=0.25")
    config = tiny_config(doodle_store, 14, *extra)
    with caplog.at_level(logging.WARNING, logger="sketchssl.train.guard"):
        result = train(
            config, tmp_path / "run", extra_callbacks=[PoisonLoss([9, 10, 11]), recorder]
        )
    assert result.global_step == 14
    # Checkpoints at steps 4 and 8 came before the streak (9-11): back to step 8's weights,
    # which the checkpoint written at the end of step 11 (global step 12) already holds.
    folder = tmp_path / "run" / "checkpoints"
    good = weights(folder / "step0000008.ckpt")
    assert_same_weights(weights(folder / "step0000012.ckpt"), good)
    assert not all(torch.equal(recorder.weights[11][k], good[k]) for k in good)  # drifted
    assert not all(torch.equal(recorder.weights[14][k], good[k]) for k in good)  # trains on
    rollback = [m.getMessage() for m in caplog.records if "rolled back" in m.getMessage()]
    assert len(rollback) == 1
    assert "3 consecutive steps (9-11)" in rollback[0] and "(step 8)" in rollback[0]
    assert "by 0.25" in rollback[0] and "rollback 1 of at most 3" in rollback[0]
    # From step 12 on the rate is the schedule's times 0.25; before it, the schedule's.
    for step, scale in ((8, 1.0), (12, 0.25), (13, 0.25)):
        expected = config.optim.lr * lr_factor(step, config.optim, 14) * scale
        assert recorder.learning_rates[step] == pytest.approx(expected, rel=1e-12)
    saved = torch.load(result.checkpoint, weights_only=True)
    assert saved["sketchssl"]["lr_scale"] == 0.25


def test_resume_after_a_rollback_is_exact(doodle_store, tmp_path):
    extra = ("trainer.nonfinite_max_consecutive=3", "trainer.nonfinite_lr_factor=0.25")
    straight = train(
        tiny_config(doodle_store, 16, *extra),
        tmp_path / "straight",
        extra_callbacks=[PoisonLoss([9, 10, 11])],
    )
    first = train(
        tiny_config(doodle_store, 16, *extra),
        tmp_path / "interrupted",
        extra_callbacks=[PoisonLoss([9, 10, 11]), SignalAtStep(13)],
    )
    assert first.stopped_early and 13 <= first.global_step < 16  # after the rollback at 12
    resumed = train(tiny_config(doodle_store, 16, *extra), tmp_path / "interrupted", resume=True)
    assert resumed.global_step == 16
    assert_same_weights(weights(resumed.checkpoint), weights(straight.checkpoint))
    assert torch.load(resumed.checkpoint, weights_only=True)["sketchssl"]["lr_scale"] == 0.25


def test_a_streak_before_any_checkpoint_stops_with_a_clear_error(doodle_store, tmp_path):
    config = tiny_config(doodle_store, 8, "trainer.nonfinite_max_consecutive=2")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingError, match=r"2 consecutive steps \(1-2\).*no checkpoint from"):
        train(config, tmp_path / "run", extra_callbacks=[PoisonLoss([1, 2])])
    assert signal.getsignal(signal.SIGTERM) is before  # the run gave the signal back


def test_rollbacks_are_limited(doodle_store, tmp_path, caplog):
    extra = ("trainer.nonfinite_max_consecutive=2", "trainer.nonfinite_max_rollbacks=1")
    config = tiny_config(doodle_store, 16, *extra)
    with (
        caplog.at_level(logging.WARNING, logger="sketchssl.train.guard"),
        pytest.raises(TrainingError, match=r"after 1 rollback\(s\)"),
    ):
        train(config, tmp_path / "run", extra_callbacks=[PoisonLoss(range(5, 16))])
    assert sum("rolled back" in record.getMessage() for record in caplog.records) == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.nonfinite_lr_factor=0", "nonfinite_lr_factor"),
        ("trainer.nonfinite_lr_factor=1.5", "nonfinite_lr_factor"),
        ("trainer.nonfinite_max_consecutive=-1", "nonfinite_max_consecutive"),
    ],
)
def test_bad_settings_are_config_errors(doodle_store, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        train(tiny_config(doodle_store, 2, override), tmp_path / "run")
