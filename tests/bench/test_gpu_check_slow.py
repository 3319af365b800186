"""benchmarks/gpu_check.sh --dry-run: the GPU check exercised on the CPU so it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_gpu_check_dry_run_writes_every_section(tmp_path: Path) -> None:
    environment = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    result = subprocess.run(
        [
            "bash",
            str(REPO / "benchmarks" / "gpu_check.sh"),
            "--dry-run",
            "--methods",
            "sketch_bert,rotation_cnn,contrastive_cnn",
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads((tmp_path / "gpu_check.json").read_text())
    assert document["dry_run"] is True
    raster = document["raster"]
    assert raster["sketches"] == 64 and raster["mean_abs_error"] < 0.05
    rows = document["presets"]["rows"]
    assert set(rows) == {"sketch_bert", "rotation_cnn", "contrastive_cnn"}
    for row in rows.values():
        assert row["train_sketches_per_s"] > 0 and 0 < row["train_mfu"] < 1
    assert document["bench"]["returncode"] == 0
    assert Path(document["bench"]["report"]).is_file()
