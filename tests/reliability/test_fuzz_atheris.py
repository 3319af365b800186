"""Coverage-guided fuzzing of every reader with atheris, when it is installed (slow only)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent / "fuzz_atheris.py"


@pytest.mark.slow
@pytest.mark.timeout(700)
@pytest.mark.parametrize("target", ["npz", "ndjson", "bin", "config", "checkpoint"])
def test_atheris_finds_no_crash(target, tmp_path):
    pytest.importorskip("atheris", reason="optional: pip install atheris")
    result = subprocess.run(
        [sys.executable, str(HARNESS), target, "-runs=100000", "-max_total_time=240"],
        cwd=tmp_path,  # a crash input (crash-*) would be written here
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = re.search(r"Done (\d+) runs in (\d+) second", result.stderr)
    assert runs, result.stderr[-2000:]
    print(f"ATHERIS {target}: {runs.group(1)} inputs in {runs.group(2)} s")
    assert int(runs.group(1)) >= 500
