"""A 2-process DDP run on CPU (gloo) matches one process on the same global batch."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import torch

from sketchssl.data.build import build_store
from sketchssl.methods.checkpoint import read_checkpoint

COMMON = [
    "trainer.max_steps=3",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.val_every_n_steps=1000",
    "trainer.checkpoint_every_n_steps=1000",
    "trainer.accelerator=cpu",
    "data.num_workers=0",
    # Dropout draws differ per process; the SGM masks do not (one seed per sketch).
    "model.attention_dropout=0",
    "model.hidden_dropout=0",
    "model.output_dropout=0",
    "model.num_layers=2",
    "model.hidden_dim=32",
    "model.num_heads=2",
    "model.ffn_dim=64",
]


def _train(store, out, devices: int, batch_size: int) -> None:
    command = [
        sys.executable,
        "-m",
        "sketchssl",
        "train",
        "sketch_bert",
        "--data",
        str(store),
        "--out",
        str(out),
        "--devices",
        str(devices),
        "--strategy",
        "ddp" if devices > 1 else "auto",
        f"data.batch_size={batch_size}",
        *COMMON,
    ]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def _losses(run) -> list[float]:
    with open(run / "logs" / "metrics.csv", newline="") as stream:
        return [float(row["train/loss"]) for row in csv.DictReader(stream) if row["train/loss"]]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    store = tmp_path / "doodles.store"
    build_store(["doodles:4"], store, workers=1, progress=False)
    _train(store, tmp_path / "one", devices=1, batch_size=8)
    _train(store, tmp_path / "two", devices=2, batch_size=4)  # 2 x 4 = the same global batch
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 3
    assert two == pytest.approx(one, rel=1e-5)
    weights_one = read_checkpoint(tmp_path / "one" / "checkpoints" / "last.ckpt")["state_dict"]
    weights_two = read_checkpoint(tmp_path / "two" / "checkpoints" / "last.ckpt")["state_dict"]
    for key, value in weights_one.items():
        torch.testing.assert_close(weights_two[key], value, rtol=1e-4, atol=1e-6, msg=key)
