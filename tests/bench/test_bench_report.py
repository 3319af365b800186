"""Report writers: seed statistics, Markdown / JSON / HTML from a hand-made bench document."""

from __future__ import annotations

import base64
import json
import re
import statistics

import pytest

from sketchssl.bench.report import json_safe, render_markdown, write_reports
from sketchssl.bench.summary import seed_statistics, summarise
from sketchssl.bench.tables import build_tables, format_stat

# A 1x1 PNG (black pixel), written as a figure file.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)


def _run(method: str, seed: int, knn: float, random_knn: float, **extra) -> dict:
    return {
        "method": method,
        "seed": seed,
        "status": "ok",
        "commands": [f"sketchssl train {method} trainer.seed={seed}"],
        "train": {"steps": 100 + seed, "fit_seconds": 10.0, "final_train_loss": 1.0 + seed},
        "representation": {
            "trained": {"knn_top1": knn, "linear_top1": knn / 2},
            "random_init": {"knn_top1": random_knn, "linear_top1": random_knn / 2},
        },
        **extra,
    }


@pytest.fixture
def document():
    return {
        "status": "partial",
        "command": "sketchssl bench --budget-minutes 1 --data d -o out",
        "plan": {
            "data": "d.store",
            "suites": ["representation", "healing", "speed"],
            "preset": "tiny",
            "device": "cpu",
            "budget_minutes": 1,
            "seeds": 3,
            "methods": [
                {"name": "alpha", "supervised": False, "can_heal": True},
                {"name": "beta", "supervised": False, "can_heal": False},
            ],
            "judge": "sketch_a_net",
            "rules": ["a rule"],
        },
        "environment": {"python": "3.11", "versions": {"torch": "2.13"}},
        "estimate": {
            "lines": [{"phase": "training", "seconds": 60.0, "basis": "the budget"}],
            "margin": 0.15,
            "total_seconds": 69.0,
        },
        "phases": {"training": 61.0},
        "wall_seconds": 75.0,
        "runs": {
            "alpha/seed0": _run(
                "alpha",
                0,
                0.30,
                0.10,
                healing={"healed (mask 0.3)": {"mask": 0.3, "rec": 0.5, "ret_g2o_acc@1": 0.2}},
            ),
            "alpha/seed1": _run(
                "alpha",
                1,
                0.40,
                0.15,
                healing={"healed (mask 0.3)": {"mask": 0.3, "rec": 0.7, "ret_g2o_acc@1": 0.4}},
            ),
            "alpha/seed2": {"method": "alpha", "seed": 2, "status": "skipped", "commands": []},
            "beta/seed0": {
                "method": "beta",
                "seed": 0,
                "status": "failed",
                "commands": ["sketchssl train beta"],
            },
        },
        "pixels": {"0": {"knn_top1": 0.2}, "1": {"knn_top1": 0.25}},
        "speed": {
            "matmul_peak_flops": 50e9,
            "steps": 5,
            "warmup": 2,
            "device": "cpu",
            "rows": {
                "alpha": {
                    "preset": "tiny",
                    "parameters": 1000,
                    "batch_size": 8,
                    "train_sketches_per_s": 123.4,
                    "train_mfu": 0.0123,
                }
            },
        },
        "failures": [
            {
                "stage": "train",
                "method": "beta",
                "seed": 0,
                "error": "RuntimeError: <script>alert(1)</script> | broken",
                "traceback": "Traceback ...",
            }
        ],
        "figures": [],
    }


def test_seed_statistics_match_the_standard_library():
    values = [0.3, 0.4, 0.35]
    stats = seed_statistics(values + [None, float("nan")])
    assert stats["n"] == 3
    assert stats["mean"] == pytest.approx(statistics.fmean(values))
    assert stats["std"] == pytest.approx(statistics.stdev(values))
    assert (stats["min"], stats["max"]) == (0.3, 0.4)
    assert seed_statistics([None]) is None
    assert seed_statistics([0.5])["std"] == 0.0
    assert format_stat({"mean": 0.123456, "std": 0.01, "n": 2}) == "12.35 ± 1.00"


def test_summary_pairs_gains_by_seed_and_leaves_out_missing_runs(document):
    summary = summarise(document)
    alpha = summary["representation"]["alpha"]
    assert alpha["trained"]["knn_top1"]["mean"] == pytest.approx(0.35)
    assert alpha["trained"]["knn_top1"]["n"] == 2  # seed 2 was skipped
    # gains 20 and 25 points: mean 22.5, sample std of (20, 25) = 3.5355
    assert alpha["gain_points"]["knn_top1"]["mean"] == pytest.approx(22.5)
    assert alpha["gain_points"]["knn_top1"]["std"] == pytest.approx(statistics.stdev([20, 25]))
    assert summary["training"]["alpha"]["runs"] == 3
    assert summary["training"]["alpha"]["runs_ok"] == 2
    assert summary["training"]["beta"]["runs_ok"] == 0
    assert summary["pixels"]["knn_top1"]["mean"] == pytest.approx(0.225)
    healed = summary["healing"]["alpha"]["healed (mask 0.3)"]
    assert healed["rec"]["mean"] == pytest.approx(0.6)


def test_markdown_has_every_table_with_the_numbers_and_failures_first(document):
    text = render_markdown(document)
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[0] == "Failures and skipped runs"
    for heading in ("Representation", "Gain over random-init", "Healing", "Speed", "Training"):
        assert any(line.startswith(heading) for line in headings), heading
    # alpha: knn 30 / 40 -> 35.00 ± 7.07 over 2 seeds; random-init 10 / 15 -> 12.50 ± 3.54
    assert "| alpha | 2 | 35.00 ± 7.07 |" in text
    assert "| alpha (random-init) | 2 | 12.50 ± 3.54 |" in text
    assert "| pixels (32x32) | 2 | 22.50 ± 3.54 |" in text
    assert "| alpha | healed (mask 0.3) | 2 | 60.00 ± 14.14 | 30.00 ± 14.14 |" in text
    assert "RuntimeError: <script>alert(1)</script> \\| broken" in text  # pipe escaped
    assert "123.4" in text and "1.2%" in text  # speed row, MFU in percent
    assert "Status: **partial**" in text


def test_reports_are_written_and_the_json_is_plain(document, tmp_path):
    document["runs"]["alpha/seed0"]["representation"]["trained"]["nn1_top1"] = float("nan")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "map_alpha.png").write_bytes(PNG)
    document["figures"] = [
        {"section": "maps", "title": "alpha", "path": "figures/map_alpha.png", "caption": "t-SNE"},
        {"section": "samples", "title": "beta", "path": "figures/gone.png", "caption": ""},
    ]
    paths = write_reports(tmp_path, document)
    stored = json.loads(paths["json"].read_text())
    assert stored["format"] == "sketchssl-bench-report" and stored["status"] == "partial"
    assert stored["runs"]["alpha/seed0"]["representation"]["trained"]["nn1_top1"] is None
    assert stored["summary"]["representation"]["alpha"]["trained"]["knn_top1"]["n"] == 2
    assert stored["failures"][0]["traceback"] == "Traceback ..."

    page = paths["html"].read_text()
    # self-contained: every image is inline and nothing is fetched from elsewhere
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith(("data:image/png;base64,", "#")) for s in sources)
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded) == PNG
    assert "figure missing: figures/gone.png" in page  # shown, not hidden
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    tables = {table.key for table in build_tables(document)}
    for key in tables:
        assert f'<section id="{key}">' in page
    assert {"failures", "representation", "gains", "healing", "speed", "training"} <= tables
    assert "![alpha](figures/map_alpha.png)" in paths["markdown"].read_text()


def test_json_safe_turns_numbers_and_paths_into_plain_json(tmp_path):
    import numpy as np

    value = json_safe({"a": np.float32(0.5), "b": (1, float("inf")), "c": tmp_path})
    assert value == {"a": 0.5, "b": [1, None], "c": str(tmp_path)}
