"""`sketchssl bench` on the command line: help, bad input, and --estimate-only."""

from __future__ import annotations

import json

from bench_methods import LINEAR, SMALL_RUN
from typer.testing import CliRunner

from sketchssl.cli.app import app
from sketchssl.errors import ConfigError, StoreError

runner = CliRunner()


def test_help_names_the_suites_the_budget_and_the_estimate():
    result = runner.invoke(app, ["bench", "--help"], terminal_width=100)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for word in ("representation", "healing", "speed", "--budget-minutes", "--estimate-only"):
        assert word in text
    assert "estimated wall time" in text


def test_bad_input_is_a_clear_error(doodle_store, tmp_path):
    base = ["bench", "--data", str(doodle_store), "-o", str(tmp_path / "b"), "-b", "1"]
    result = runner.invoke(app, [*base, "--suite", "speeed"])
    assert isinstance(result.exception, ConfigError) and "speeed" in str(result.exception)
    result = runner.invoke(app, [*base, "--methods", "sketch_bertt"])
    assert isinstance(result.exception, ConfigError) and "sketch_bert" in str(result.exception)
    result = runner.invoke(app, [*base, "--heal-masks", "0,lots"])
    assert isinstance(result.exception, ConfigError) and "0,lots" in str(result.exception)
    missing = tmp_path / "nowhere.store"
    result = runner.invoke(app, ["bench", "--data", str(missing), "-o", str(tmp_path), "-b", "1"])
    assert isinstance(result.exception, StoreError) and "nowhere.store" in str(result.exception)


def test_estimate_only_measures_prints_and_trains_nothing(test_methods, doodle_store, tmp_path):
    out = tmp_path / "estimate"
    overrides = [word for override in SMALL_RUN for word in ("--override", override)]
    result = runner.invoke(
        app,
        [
            "bench",
            "--suite",
            "representation,speed",
            "--methods",
            LINEAR,
            "-b",
            "2",
            "--seeds",
            "2",
            "--speed-steps",
            "1",
            "--data",
            str(doodle_store),
            "-o",
            str(out),
            "--estimate-only",
            *overrides,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "estimate (wall time" in result.output and "total" in result.output
    document = json.loads((out / "report.json").read_text())
    assert document["status"] == "estimate-only" and document["runs"] == {}
    phases = {line["phase"]: line["seconds"] for line in document["estimate"]["lines"]}
    assert phases["training"] == 120.0  # the budget, 2 minutes
    assert phases["representation"] > 0 and phases["calibration"] > 0
    assert LINEAR in document["speed"]["rows"]
    assert document["plan"]["training_runs"] == 2  # one method, two seeds, no judge
    assert not (out / "runs" / LINEAR).exists()
