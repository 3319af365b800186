"""The bench plan (which methods, which runs, which overrides) and the training-budget split."""

from __future__ import annotations

import pytest

from sketchssl.bench.budget import TrainingBudget
from sketchssl.bench.estimate import RUN_SECONDS, MethodCost, estimate_bench
from sketchssl.bench.plan import (
    BenchConfig,
    MethodChoice,
    can_heal,
    overrides_for,
    parse_suites,
    select_methods,
    training_runs,
)
from sketchssl.errors import ConfigError
from sketchssl.methods import get_method, list_methods


def test_budget_shares_what_is_left_and_learns_the_overhead():
    budget = TrainingBudget(total_seconds=120.0, runs=4, overhead_guess=6.0, min_seconds=3.0)
    assert budget.next_cap() == pytest.approx(120 / 4 - 6)  # 24
    # The first run over-ran: 50 s of wall time, 40 s inside fit -> 10 s overhead measured.
    budget.charge(wall_seconds=50.0, fit_seconds=40.0)
    assert budget.overhead_seconds == pytest.approx(10.0)
    assert budget.next_cap() == pytest.approx((120 - 50) / 3 - 10)  # 13.33
    # A failed run (no fit time) is charged but teaches nothing about the overhead.
    budget.charge(wall_seconds=2.0)
    assert budget.overhead_seconds == pytest.approx(10.0)
    assert budget.next_cap() == pytest.approx((120 - 52) / 2 - 10)  # 24
    budget.charge(wall_seconds=60.0, fit_seconds=56.0)  # overheads 10 and 4: mean 7
    assert budget.overhead_seconds == pytest.approx(7.0)
    assert budget.remaining_seconds == pytest.approx(8.0)
    assert budget.next_cap() is None  # (120 - 112) / 1 - 7 = 1 s, under min_seconds: spent


def test_budget_is_spent_when_runs_run_out_and_skipped_runs_give_back_their_share():
    budget = TrainingBudget(total_seconds=60.0, runs=3, overhead_guess=0.0)
    budget.skip()  # a method that failed calibration: two runs share the whole budget
    assert budget.next_cap() == pytest.approx(30.0)
    budget.charge(30.0, 30.0)
    budget.charge(30.0, 30.0)
    assert budget.runs_left == 0 and budget.next_cap() is None


def test_representation_suite_takes_every_method_that_does_not_read_labels():
    choices, excluded = select_methods(None)
    chosen = {choice.name for choice in choices}
    registered = {name for name, _ in list_methods()}
    assert chosen | set(excluded) == registered
    for name in ("sketch_a_net", "sketch_bert_cls", "sketch_bert_retrieval"):
        assert name in excluded and "labels" in excluded[name]
    assert {"sketch_bert", "sketch_rnn", "rotation_cnn"} <= chosen
    assert all(not get_method(name).uses_labels for name in chosen)


def test_healing_rule_follows_the_generate_signature():
    assert can_heal(get_method("sketch_rnn"))  # generate(batch, temperature, greedy, max_len)
    assert not can_heal(get_method("sketch_bert"))  # gestalt completion, not healing
    assert not can_heal(get_method("rotation_cnn"))  # does not draw at all


def test_named_methods_are_kept_in_order_and_flagged():
    choices, excluded = select_methods(("sketch_rnn", "sketch_a_net", "sketch_rnn"))
    assert [choice.name for choice in choices] == ["sketch_rnn", "sketch_a_net"]
    assert choices[1].supervised and not choices[0].supervised and excluded == {}
    with pytest.raises(ConfigError, match="sketch_rnn"):
        select_methods(("sketch_rnm",))


def test_runs_are_seed_major_with_the_judge_first():
    choices = [MethodChoice("a", False, False), MethodChoice("b", False, True)]
    runs = training_runs(choices, ("representation", "healing"), seeds=2, judge=True)
    assert [run.key for run in runs] == [
        "judge_sketch_a_net",
        "a/seed0",
        "b/seed0",
        "a/seed1",
        "b/seed1",
    ]
    healing_only = training_runs(choices, ("healing",), seeds=1, judge=True)
    assert [run.key for run in healing_only] == ["judge_sketch_a_net", "b/seed0"]
    assert training_runs(choices, ("speed",), seeds=3, judge=True) == []


def test_suites_and_overrides_parse():
    assert parse_suites("speed, healing") == ("healing", "speed")
    with pytest.raises(ConfigError, match="speeed"):
        parse_suites("speeed")
    overrides = ("data.num_workers=0", "sketch_bert:model.num_layers=2", "rotation_cnn:a.b=1")
    assert overrides_for("sketch_bert", overrides) == ["data.num_workers=0", "model.num_layers=2"]
    assert overrides_for("sketch_rnn", overrides) == ["data.num_workers=0"]
    with pytest.raises(ConfigError, match="section.key=value"):
        BenchConfig(data="x", out="y", overrides=("no_equals_sign",))
    with pytest.raises(ConfigError, match="cpu or cuda"):
        BenchConfig(data="x", out="y", device="tpu")


def test_estimate_adds_up_the_measured_costs():
    cost = MethodCost(
        "m", sketch_seconds=0.01, trained_runs=2, decode_step_seconds=0.002, dataset_seconds=0.5
    )
    estimate = estimate_bench(
        calibration_seconds=30.0,
        budget_seconds=600.0,
        training_runs=3,
        costs=[cost],
        representation=True,
        healing=True,
        gallery=100,
        queries=50,
        seeds=2,
        protocol_seconds=4.0,
        pixel_seconds=9.0,
        map_seconds=6.0,
        heal_sketches=64,
        heal_masks=(0.0, 0.3),
        judge=False,
    )
    lines = {line.phase: line.seconds for line in estimate.lines}
    # 2 runs x [0.01 s x (2 x (100 + 50) + 4 x 50) = 5 s, + 2 datasets x 0.5 s + RUN_SECONDS];
    # protocol 2 x 4 s x 2 runs = 16 s; one map 6 s; pixel baseline of the second seed 9 s.
    assert lines["representation"] == pytest.approx(2 * (5 + 1 + RUN_SECONDS) + 16 + 6 + 9)
    # per run: 2 masks x 1 batch x 250 steps x 0.002 s = 1 s decoding, 50 sketches (at most the
    # queries) x (1 + 2 x 2) x 0.01 s = 2.5 s encoding, one dataset 0.5 s, RUN_SECONDS; 2 runs,
    # plus 2 figure batches (1 s).
    assert lines["healing"] == pytest.approx(2 * (1.0 + 2.5 + 0.5 + RUN_SECONDS) + 1.0)
    assert lines["training"] == 600.0 and lines["calibration"] == 30.0
    assert estimate.total_seconds == pytest.approx(estimate.subtotal_seconds * 1.15)
