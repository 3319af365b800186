"""`sketchssl bench` end to end on the built-in doodles with a 1-minute budget, and its HTML
report in headless Chromium.

The Chromium test needs Debian's ``chromium`` (``apt-get install -y chromium``) and the
``playwright`` Python package (never ``playwright install``: the system browser is used through
its executable path); it is skipped, with the reason, when either is missing.
``SKETCHSSL_BENCH_SCREENSHOT=path.png`` keeps a copy of the full-page screenshot. Run with
``pytest -m slow tests/bench/test_bench_slow.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sketchssl.data.build import build_store
from sketchssl.methods import get_method, list_methods

# Minutes of CPU on an idle machine, far more on a loaded one: the default 300 s is too short.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

CHROMIUM = Path(os.environ.get("SKETCHSSL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
TABLES = ("representation", "gains", "healing", "speed", "training", "estimate", "plan")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """One bench of every self-supervised method, 1 seed, a 1-minute training budget."""
    folder = tmp_path_factory.mktemp("bench")
    store = folder / "doodles.store"
    build_store(["doodles:10:1"], store, workers=1, progress=False)
    out = folder / "report"
    command = [
        sys.executable,
        "-m",
        "sketchssl",
        "bench",
        "--suite",
        "all",
        "--budget-minutes",
        "1",
        "--seeds",
        "1",
        "--data",
        str(store),
        "-o",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    return out, result


def test_every_method_appears_in_every_suite_of_the_report(bench):
    out, result = bench
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: something failed, reported
    document = json.loads((out / "report.json").read_text())
    assert document["format"] == "sketchssl-bench-report"
    assert document["status"] in ("complete", "partial")
    ssl_methods = [name for name, _ in list_methods() if not get_method(name).uses_labels]
    planned = [method["name"] for method in document["plan"]["methods"]]
    assert planned == ssl_methods
    assert {"sketch_a_net", "sketch_bert_cls"} <= set(document["plan"]["excluded"])

    # the estimate came first, before the first run
    first_run = re.search(r"^\[(judge|\d+/\d+)\]", result.stdout, flags=re.M)
    assert first_run and result.stdout.index("estimate (wall time") < first_run.start()
    # every method: a run record, a speed row, a representation result or a visible failure
    failures = {(f["method"], f["stage"]): f["error"] for f in document["failures"]}
    for method in ssl_methods:
        run = document["runs"][f"{method}/seed0"]
        assert method in document["speed"]["rows"] or (method, "calibration") in failures
        if run["status"] == "ok":
            assert run["train"]["steps"] >= 1
            assert "knn_top1" in run["representation"]["trained"]
        else:
            assert any(key[0] == method for key in failures), method
    # nothing but a spent budget may stop a method on the doodles
    real_errors = [f for f in document["failures"] if not f["error"].startswith("skipped")]
    assert real_errors == [], real_errors
    assert sum(run["status"] == "ok" for run in document["runs"].values()) >= 2

    healers = [m["name"] for m in document["plan"]["methods"] if m["can_heal"]]
    assert healers and document["judge"]["method"] == "sketch_a_net"
    for method in healers:
        run = document["runs"][f"{method}/seed0"]
        if run["status"] == "ok":
            assert {"originals", "healed (mask 0.3)", "no healing (mask 0.3)"} <= set(
                run["healing"]
            )
            assert "rec" in run["healing"]["healed (mask 0.3)"]
    summary = document["summary"]
    assert set(summary["training"]) == set(ssl_methods)
    assert summary["pixels"]["knn_top1"]["n"] == 1
    assert document["estimate"]["total_seconds"] > 0 and document["wall_seconds"] > 0
    assert document["environment"]["versions"]["torch"]

    markdown = (out / "report.md").read_text()
    for heading in ("Representation", "Healing", "Speed", "Training", "Time: estimate"):
        assert f"## {heading}" in markdown
    for method in ssl_methods:
        assert f"| {method} |" in markdown
    for figure in document["figures"]:
        assert (out / figure["path"]).is_file()
    sections = {figure["section"] for figure in document["figures"]}
    assert {"data", "curves", "samples", "healing", "maps"} <= sections


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium (Debian's package)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing: pip install playwright"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_the_html_report_shows_every_table_and_figure_offline(bench, chromium, tmp_path):
    out, _ = bench
    document = json.loads((out / "report.json").read_text())
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto((out / "report.html").as_uri(), timeout=90_000)

    # nothing but the file itself and its inline images was loaded
    assert all(url.startswith(("file://", "data:")) for url in requested), requested
    for key in TABLES:
        table = page.locator(f"section#{key} table")
        assert table.count() == 1, key
        box = table.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, key
    images = page.evaluate(
        "() => [...document.images].map(i => [i.alt, i.complete, i.naturalWidth,"
        " i.getBoundingClientRect().height])"
    )
    assert len(images) == len(document["figures"])
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, alt  # decoded and laid out
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SKETCHSSL_BENCH_SCREENSHOT"):
        shutil.copy(shot, os.environ["SKETCHSSL_BENCH_SCREENSHOT"])
    page.close()
