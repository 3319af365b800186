"""`sketchssl train | eval | sample` end to end on a small doodle store, and their errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sketchssl.cli.app import app
from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError, SketchFileError, UnsafeFileError

runner = CliRunner()
SMALL = [
    "model.num_layers=1",
    "model.hidden_dim=32",
    "model.num_heads=2",
    "model.ffn_dim=64",
    "model.embed_dim=16",
    "model.refine_dims=[32]",
    "model.head_dims=[16]",
    "data.batch_size=16",
    "data.num_workers=0",
    "trainer.progress_bar=false",
    "trainer.max_steps=12",
    "trainer.val_every_n_steps=6",
    "trainer.checkpoint_every_n_steps=6",
    "optim.warmup_steps=2",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    store = folder / "doodles.store"
    build_store(["doodles:8"], store, workers=1, progress=False)
    run = folder / "run"
    result = runner.invoke(
        app, ["train", "sketch_bert", "--data", str(store), "--out", str(run), *SMALL]
    )
    assert result.exit_code == 0, result.output
    return store, run


def test_list_shows_every_method():
    result = runner.invoke(app, ["train", "--list"])
    assert result.exit_code == 0
    for name in ("sketch_bert", "sketch_bert_cls", "sketch_bert_retrieval"):
        assert name in result.output


def test_eval_writes_report_with_both_baselines(trained, tmp_path):
    store, run = trained
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "eval",
            str(run / "checkpoints" / "last.ckpt"),
            "--data",
            str(store),
            "-o",
            str(out),
            "--baseline",
            "random-init",
            "--baseline",
            "pixels",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "metrics.json").read_text())
    assert set(report["results"]) == {"pretrained", "random_init", "pixels"}
    for row in report["results"].values():
        assert 0.0 <= row["knn_top1"] <= 1.0 and 0.0 <= row["retrieval_map"] <= 1.0
    trained, untrained = report["results"]["pretrained"], report["results"]["random_init"]
    # The SGM objective on the test split: parts add up, and training lowered it.
    assert trained["test_loss"] == pytest.approx(
        trained["test_position_l1"] + trained["test_state_ce"], rel=1e-5
    )
    assert trained["test_loss"] < untrained["test_loss"]
    assert "pretrained" in (out / "metrics.md").read_text()


@pytest.mark.parametrize("method", ["rotation_tcn", "deformation_cnn"])
def test_pretext_methods_train_and_evaluate(trained, tmp_path, method):
    store, _ = trained
    run = tmp_path / method
    common = [
        "data.batch_size=8",
        "data.num_workers=0",
        "trainer.progress_bar=false",
        "trainer.max_steps=3",
        "trainer.val_every_n_steps=100",
    ]
    result = runner.invoke(app, ["train", method, "--data", str(store), "--out", str(run), *common])
    assert result.exit_code == 0, result.output
    out = tmp_path / f"{method}_report"
    result = runner.invoke(
        app,
        [
            "eval",
            str(run / "checkpoints" / "last.ckpt"),
            "--data",
            str(store),
            "-o",
            str(out),
            "--baseline",
            "random-init",
        ],
    )
    assert result.exit_code == 0, result.output
    row = json.loads((out / "metrics.json").read_text())["results"]["pretrained"]
    assert "knn_top1" in row and "classifier_top1" not in row  # its logits are over transforms


def test_fine_tune_classifier_from_pretrained(trained, tmp_path):
    store, run = trained
    out = tmp_path / "cls"
    model_keys = [item for item in SMALL if item.startswith("model.") and "head_dims" not in item]
    result = runner.invoke(
        app,
        [
            "train",
            "sketch_bert_cls",
            "--data",
            str(store),
            "--out",
            str(out),
            "--init",
            str(run / "checkpoints" / "last.ckpt"),
            *model_keys,
            *[item for item in SMALL if not item.startswith("model.")],
        ],
    )
    assert result.exit_code == 0, result.output
    assert "encoder initialised from" in result.output
    report = tmp_path / "cls_report"
    result = runner.invoke(
        app,
        ["eval", str(out / "checkpoints" / "last.ckpt"), "--data", str(store), "-o", str(report)],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((report / "metrics.json").read_text())["results"]["pretrained"]
    assert 0.0 <= metrics["classifier_top1"] <= metrics["classifier_top5"] <= 1.0


def test_sample_draws_gestalt_completions(trained, tmp_path):
    from PIL import Image

    store, run = trained
    out = tmp_path / "gestalt.png"
    result = runner.invoke(
        app,
        [
            "sample",
            str(run / "checkpoints" / "last.ckpt"),
            "--data",
            str(store),
            "-o",
            str(out),
            "--n",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    image = Image.open(out)
    assert image.width > image.height  # 4 columns, 3 rows


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (["train", "sketch_bret", "--out", "x"], ConfigError, "Did you mean 'sketch_bert'"),
        (["train", "sketch_bert", "--preset", "tinny", "--out", "x"], ConfigError, "'tiny'"),
        (["train", "sketch_bert", "--out", "x", "trainer.max_step=3"], ConfigError, "max_steps"),
    ],
)
def test_bad_train_arguments_are_one_line_errors(tmp_path, arguments, error, message):
    result = runner.invoke(app, arguments)
    assert result.exit_code != 0
    assert isinstance(result.exception, error)
    assert message in str(result.exception)


def test_checkpoint_errors(trained, tmp_path):
    import torch

    store, run = trained
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes((run / "checkpoints" / "last.ckpt").read_bytes()[:5000])
    result = runner.invoke(app, ["eval", str(broken), "--data", str(store), "-o", str(tmp_path)])
    assert isinstance(result.exception, SketchFileError)

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    hostile = tmp_path / "hostile.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, hostile)
    result = runner.invoke(app, ["eval", str(hostile), "--data", str(store), "-o", str(tmp_path)])
    assert isinstance(result.exception, UnsafeFileError)
    assert "this must never run" not in result.output


def test_cli_prints_one_red_line_not_a_traceback(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sketchssl",
            "train",
            "sketch_bert",
            "--out",
            str(tmp_path),
            "model.num_layer=2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error:") and "num_layers" in done.stderr
