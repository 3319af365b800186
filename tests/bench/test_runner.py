"""The bench runner survives a failing method and keeps what finished when interrupted."""

from __future__ import annotations

import json

import pytest
from bench_methods import FAILING, FAILURE_MESSAGE, LINEAR, SMALL_RUN

import sketchssl.train.run
from sketchssl.bench import BenchConfig, run_bench
from sketchssl.errors import ConfigError


def test_a_failing_method_is_reported_and_an_interrupt_keeps_the_finished_runs(
    test_methods, doodle_store, tmp_path, monkeypatch
):
    real_train = sketchssl.train.run.train

    def train_until_seed_one(config, run_dir, **kwargs):
        # Ctrl-C arriving while the third run (LINEAR, seed 1) starts
        if config.method == LINEAR and config.trainer.seed == 1:
            raise KeyboardInterrupt
        return real_train(config, run_dir, **kwargs)

    monkeypatch.setattr(sketchssl.train.run, "train", train_until_seed_one)
    out = tmp_path / "bench"
    lines: list[str] = []
    config = BenchConfig(
        data=doodle_store,
        out=out,
        suites=("representation",),
        budget_minutes=1.0,
        seeds=2,
        methods=(LINEAR, FAILING),
        overrides=SMALL_RUN,
        eval_gallery=None,
    )
    with pytest.raises(KeyboardInterrupt):
        run_bench(config, echo=lines.append)

    document = json.loads((out / "report.json").read_text())
    assert document["status"] == "interrupted"
    assert list(document["runs"]) == [f"{LINEAR}/seed0", f"{FAILING}/seed0", f"{LINEAR}/seed1"]
    # the run that finished before the failure and the interrupt is complete
    linear = document["runs"][f"{LINEAR}/seed0"]
    assert linear["status"] == "ok"
    assert linear["train"]["steps"] == 4  # trainer.max_steps=4 ended it, not the time cap
    trained = linear["representation"]["trained"]
    assert 0.0 <= trained["knn_top1"] <= 1.0 and "random_init" in linear["representation"]
    assert "0" in document["pixels"]  # the pixel baseline of the calibration
    # the failing method passed calibration and failed inside training, with its message
    assert document["runs"][f"{FAILING}/seed0"]["status"] == "failed"
    [failure] = document["failures"]
    assert (failure["stage"], failure["method"], failure["seed"]) == ("train", FAILING, 0)
    assert FAILURE_MESSAGE in failure["error"] and FAILURE_MESSAGE in failure["traceback"]
    assert any("FAILED (train" in line for line in lines)
    # an estimate was printed before the first run started
    estimate_line = next(i for i, line in enumerate(lines) if line.startswith("estimate"))
    first_run = next(i for i, line in enumerate(lines) if line.startswith("[1/"))
    assert estimate_line < first_run
    # the readable reports show the failure and the finished run
    markdown = (out / "report.md").read_text()
    assert "Failures and skipped runs" in markdown and FAILURE_MESSAGE in markdown
    assert f"| {LINEAR} | 1 |" in markdown
    assert FAILURE_MESSAGE in (out / "report.html").read_text()
    # and the folder is not reused by mistake
    with pytest.raises(ConfigError, match="already holds a bench"):
        run_bench(config, echo=lines.append)
