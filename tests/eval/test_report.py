import json
import math
import os

import pytest

from sketchssl.eval import report as report_module
from sketchssl.eval.report import format_gains, format_table, write_report

RESULTS = {
    "pretrained": {"knn_top1": 0.2, "retrieval_map": 0.031, "knn_k": 20, "retrieval_queries": 960},
    "random_init": {"knn_top1": 0.15, "retrieval_map": 0.022, "knn_k": 20},
    "pixels": {"knn_top1": 0.1375, "retrieval_map": float("nan"), "knn_k": 20},
}
META = {"data": "stores/qd345", "train_size": 8397, "commands": ["sketchssl eval run/last.ckpt"]}


def test_format_table_in_percent():
    table = format_table(RESULTS)
    assert table.splitlines() == [
        "| model | knn_top1 (%) | retrieval_map (%) |",
        "|---|---:|---:|",
        "| pretrained | 20.00 | 3.10 |",
        "| random_init | 15.00 | 2.20 |",
        "| pixels | 13.75 | n/a |",
    ]


def test_gains_in_points():
    lines = format_gains(RESULTS).splitlines()
    assert lines == [
        "Gain of pretrained over random_init (points): knn_top1 +5.00, retrieval_map +0.90",
        "Gain of pretrained over pixels (points): knn_top1 +6.25, retrieval_map n/a",
    ]


def test_write_report(tmp_path):
    paths = write_report(tmp_path / "report", RESULTS, META)
    document = json.loads(paths["json"].read_text())
    assert document["meta"] == META
    assert document["results"]["pretrained"] == RESULTS["pretrained"]
    assert document["results"]["pixels"]["retrieval_map"] is None  # NaN is not JSON
    assert document["gains_points"]["pretrained"]["random_init"]["knn_top1"] == pytest.approx(5.0)
    markdown = paths["markdown"].read_text()
    assert "| pretrained | 20.00 | 3.10 |" in markdown
    assert "Gain of pretrained over pixels (points): knn_top1 +6.25" in markdown
    assert "T = 0.07" in markdown and "k = 20" in markdown
    assert "`sketchssl eval run/last.ckpt`" in markdown
    assert "| pretrained | 20 | 960 |" in markdown  # counts table
    assert sorted(os.listdir(tmp_path / "report")) == ["metrics.json", "metrics.md"]
    assert os.stat(paths["json"]).st_mode & 0o044  # readable by others, unlike mkstemp files


def test_interrupted_write_keeps_the_old_report(tmp_path, monkeypatch):
    write_report(tmp_path, {"pretrained": {"knn_top1": 0.5}}, {})
    before = (tmp_path / "metrics.json").read_text()

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(report_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path, {"pretrained": {"knn_top1": 0.9}}, {})
    assert (tmp_path / "metrics.json").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["metrics.json", "metrics.md"]
    assert not math.isnan(json.loads(before)["results"]["pretrained"]["knn_top1"])


def test_a_single_class_store_reports_the_held_out_objective_only():
    # one class (aaron_sheep): no kNN / probe / retrieval, but the test loss must still show
    from sketchssl.eval.report import render_markdown
    from sketchssl.eval.representation import print_results

    results = {"pretrained": {"test_recon": 0.5478}, "random_init": {"test_recon": 1.9141}}
    text = render_markdown(results, {})
    assert "| pretrained | 0.5478 |" in text and "| random_init | 1.914 |" in text
    assert "Gain of" not in text and "knn_top1" not in text
    terminal = print_results(results)
    assert "test_recon" in terminal and "Gain of" not in terminal
