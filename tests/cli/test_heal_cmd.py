"""`sketchssl sample` (sketch-rnn) and `sketchssl heal` end to end on a doodle store, with a
sketch-rnn and a Sketch-a-Net judge trained for a few steps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from sketchssl.cli import heal_cmd, sample_cmd
from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.render.patches import save_mask_table
from sketchssl.train.config import load_run_config
from sketchssl.train.run import train

runner = CliRunner()
COMMON = [
    "data.num_workers=0",
    "data.batch_size=16",
    "trainer.progress_bar=false",
    "trainer.max_steps=3",
    "trainer.val_every_n_steps=100",
    "trainer.checkpoint_every_n_steps=100",
    "optim.warmup_steps=0",
    "trainer.log_every_n_steps=1",
]
RNN = [
    "model.encoder_size=16",
    "model.decoder.size=32",
    "model.latent_size=8",
    "model.decoder.num_mixtures=3",
    "model.max_length=30",
    "data.max_len=64",
]
JUDGE = ["model.channels=[8,8,16,16,16]", "model.fc_dim=32"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("heal")
    store = folder / "doodles.store"
    build_store(["doodles:6"], store, workers=1, progress=False)
    data = [f"data.store={store}"]
    rnn = train(load_run_config("sketch_rnn", "tiny", COMMON + RNN + data), folder / "rnn")
    judge = train(load_run_config("sketch_a_net", "tiny", COMMON + JUDGE + data), folder / "judge")
    app = typer.Typer()
    heal_cmd.register(app)
    sample_cmd.register(app)
    return app, store, rnn.checkpoint, judge.checkpoint


def invoke(app, *args):
    result = runner.invoke(app, [str(arg) for arg in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_sample_prior_reconstructions_and_interpolation(trained, tmp_path):
    app, store, rnn, _ = trained
    output = invoke(app, "sample", rnn, "--n", 4, "-o", tmp_path / "prior.png")
    assert "unconditional" in output
    output = invoke(app, "sample", rnn, "--data", store, "--n", 3, "-o", tmp_path / "recon.png")
    assert "original / reconstruction for 3" in output
    output = invoke(
        app, "sample", rnn, "--data", store, "--n", 5, "--interpolate", "-o", tmp_path / "i.png"
    )
    assert "5 steps" in output
    for name in ("prior.png", "recon.png", "i.png"):
        with Image.open(tmp_path / name) as image:
            assert image.width > 0
    with pytest.raises(ConfigError, match="--data"):
        invoke(app, "sample", rnn, "--interpolate", "-o", tmp_path / "x.png")


def test_sample_summary_and_pen_temperature_reach_the_decoder(trained, tmp_path):
    app, _, rnn, _ = trained
    output = invoke(app, "sample", rnn, "--n", 16, "-o", tmp_path / "p.png", "--temperature", 0.5)
    assert "samples: strokes per sketch median" in output and "cut at 30 points" in output
    # a pen temperature of 100 makes the three pen states almost equally likely, so about one
    # step in three ends the sketch: the median sketch has a couple of points, whatever the
    # offsets' temperature
    output = invoke(
        app, "sample", rnn, "--n", 16, "-o", tmp_path / "q.png", "--pen-temperature", 100
    )
    median_points = int(output.split("points median ")[1].split(",")[0])
    assert median_points <= 4, output
    with pytest.raises(ConfigError, match="--pen-temperature"):
        invoke(app, "sample", rnn, "--n", 2, "-o", tmp_path / "r.png", "--pen-temperature", 0)


def test_drawing_summary_counts_strokes_points_and_cuts():
    from sketchssl.eval.generation import drawing_summary

    sketches = [
        np.array([[1, 0, 0], [1, 0, 1], [0, 2, 0], [1, 1, 1]], np.float32),  # 2 strokes, 4 points
        np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [2, 0, 1], [1, 1, 1]], np.float32),  # 2, 5
        np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1], [2, 0, 1], [3, 3, 1]], np.float32),  # 5, 5
    ]
    line = drawing_summary(sketches, max_len=5, name="x")
    assert line == (
        "x: strokes per sketch median 2 (mean 3.0), points median 5, 2 of 3 cut at 5 points"
    )


def test_heal_figure_and_report(trained, tmp_path):
    app, store, rnn, judge = trained
    output = invoke(
        app,
        "heal",
        rnn,
        "--data",
        store,
        "--mask",
        0.3,
        "--n",
        3,
        "-o",
        tmp_path / "heal.png",
        "--report",
        tmp_path / "report",
        "--judge",
        judge,
        "--max-len",
        15,
        "--both-directions",
    )
    assert "points inside the masked squares deleted" in output  # sketch-rnn reads no image
    assert (tmp_path / "heal.png").is_file()
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert set(report["results"]) == {
        "judge on originals",
        "generated (mask 0)",
        "no healing: corrupted input (mask 0.3)",
        "generated (mask 0.3)",
    }
    row = report["results"]["generated (mask 0.3)"]
    assert {"rec", "ret_g2o_acc@1", "ret_g2o_acc@10", "ret_o2g_acc@10", "ret_chance@1"} <= set(row)
    assert "judge on originals" in (tmp_path / "report" / "metrics.md").read_text()


def test_heal_keep_input_adds_the_filled_row_and_figure_row(trained, tmp_path):
    app, store, rnn, judge = trained
    common = ["--data", store, "--mask", 0.3, "--judge", judge, "--max-len", 15]
    output = invoke(
        app, "heal", rnn, *common, "--keep-input", "--fill-radius", 0.2,
        "-o", tmp_path / "heal.png", "--report", tmp_path / "kept", "--n", 3,
    )  # fmt: skip
    assert "corrupted / healed / input kept / original rows" in output
    report = json.loads((tmp_path / "kept" / "metrics.json").read_text())
    kept = report["results"]["healed, input kept (mask 0.3)"]
    assert {"rec", "ret_g2o_acc@1"} <= set(kept) and "0.2" in report["meta"]["fill"]
    # the other rows are those of the same healing without --keep-input
    invoke(app, "heal", rnn, *common, "--report", tmp_path / "plain")
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())["results"]
    for name, row in plain.items():
        assert report["results"][name] == row
    assert "'gaps' order" in report["meta"]["fill"]
    # the judge sees a picture: putting the same strokes in another order keeps Rec exactly
    invoke(app, "heal", rnn, *common, "--keep-input", "--fill-radius", 0.2,
           "--fill-order", "drawn", "--report", tmp_path / "drawn")  # fmt: skip
    drawn = json.loads((tmp_path / "drawn" / "metrics.json").read_text())
    assert "'drawn' order" in drawn["meta"]["fill"]
    assert drawn["results"]["healed, input kept (mask 0.3)"]["rec"] == kept["rec"]
    with pytest.raises(ConfigError, match="fill radius"):
        invoke(app, "heal", rnn, *common, "--report", tmp_path / "x", "--keep-input",
               "--fill-radius", 1.5)  # fmt: skip
    invoke(app, "heal", rnn, *common, "--keep-input", "--fill-radius", 0.2,
           "--fill-join", 1.5, "--report", tmp_path / "joined")  # fmt: skip
    joined = json.loads((tmp_path / "joined" / "metrics.json").read_text())
    assert "joined within 1.5 radii" in joined["meta"]["fill"]
    with pytest.raises(ConfigError, match="fill order 'random'"):
        invoke(app, "heal", rnn, *common, "--report", tmp_path / "x", "--keep-input",
               "--fill-order", "random")  # fmt: skip


def test_heal_keep_input_from_the_decoders_continuations(trained, tmp_path):
    app, store, rnn, judge = trained
    common = ["--data", store, "--mask", 0.3, "--judge", judge, "--max-len", 15, "--keep-input"]
    invoke(app, "heal", rnn, *common, "--fill-source", "continue", "--fill-join", 1.5,
           "--continue-threshold", 0.2, "--report", tmp_path / "continued",
           "-o", tmp_path / "continued.png", "--n", 3)  # fmt: skip
    report = json.loads((tmp_path / "continued" / "metrics.json").read_text())
    assert "drawing on from the strokes" in report["meta"]["fill"]
    assert "above 0.2" in report["meta"]["fill"]
    assert "box grown" not in report["meta"]["fill"]
    assert {"rec", "ret_g2o_acc@1"} <= set(report["results"]["healed, input kept (mask 0.3)"])
    # continuing nothing (threshold 1) leaves each input as it was: the no-healing scores
    invoke(app, "heal", rnn, *common, "--fill-source", "continue", "--continue-threshold", 1,
           "--report", tmp_path / "none")  # fmt: skip
    results = json.loads((tmp_path / "none" / "metrics.json").read_text())["results"]
    kept, reference = (
        results["healed, input kept (mask 0.3)"],
        results["no healing: corrupted input (mask 0.3)"],
    )
    assert kept["rec"] == reference["rec"]
    assert kept["ret_g2o_acc@1"] == pytest.approx(reference["ret_g2o_acc@1"])
    invoke(app, "heal", rnn, *common, "--fill-source", "continue", "--continue-threshold", 0.2,
           "--continue-bound", 0.1, "--report", tmp_path / "bounded")  # fmt: skip
    bounded = json.loads((tmp_path / "bounded" / "metrics.json").read_text())
    assert "inside the kept strokes' box grown by 0.1" in bounded["meta"]["fill"]
    with pytest.raises(ConfigError, match="fill source 'guess'"):
        invoke(app, "heal", rnn, *common, "--report", tmp_path / "x", "--fill-source", "guess")
    with pytest.raises(ConfigError, match="continue bound"):
        invoke(app, "heal", rnn, *common, "--report", tmp_path / "x", "--fill-source", "continue",
               "--continue-bound", -1)  # fmt: skip
    with pytest.raises(ConfigError, match="--corruption 'pixels'"):
        invoke(app, "heal", rnn, *common, "--report", tmp_path / "x", "--corruption", "pixels")


def test_heal_code_choice_is_reported_and_mu_is_sketch_rnns_default(trained, tmp_path):
    app, store, rnn, _ = trained
    common = ["--data", store, "--limit", "6", "--max-len", 15]
    reports = {}
    for flag in ("", "--decode-mean", "--sample-code"):
        invoke(app, "heal", rnn, *common, *([flag] if flag else []), "--report", tmp_path / flag)
        reports[flag] = json.loads((tmp_path / flag / "metrics.json").read_text())
    codes = {flag: report["meta"]["code"] for flag, report in reports.items()}
    assert codes == {"": "the method's default", "--decode-mean": "mu", "--sample-code": "sampled"}
    assert reports["--decode-mean"]["results"] == reports[""]["results"]


def test_heal_refusals(trained, tmp_path):
    app, store, rnn, judge = trained
    # Without a judge the report holds Ret only (no Rec column, no judge rows).
    invoke(app, "heal", rnn, "--data", store, "--report", tmp_path / "r", "--limit", "6")
    report = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert all("rec" not in row for row in report["results"].values())
    assert any("ret_g2o_acc@1" in row for row in report["results"].values())
    with pytest.raises(ConfigError, match="cannot draw"):
        invoke(app, "heal", judge, "--data", store, "-o", tmp_path / "h.png")
    with pytest.raises(ConfigError, match="sketch_a_net"):
        invoke(app, "heal", rnn, "--data", store, "--report", tmp_path / "r", "--judge", rnn)
    table = save_mask_table(tmp_path / "short.npy", np.zeros((1, 20)))
    with pytest.raises(SketchFormatError, match="mask table"):
        invoke(app, "heal", rnn, "--data", store, "--mask-table", table, "-o", tmp_path / "h.png")


def test_heal_names_classes_the_healer_never_saw(trained, tmp_path):
    """The doodle-trained healer heals real QuickDraw drawings, and says it never saw them."""
    app, store, rnn, _ = trained
    from sketchssl.methods.checkpoint import training_classes

    assert training_classes(rnn) == _store_classes(store)  # recorded at training time
    real = tmp_path / "real.store"
    build_store(["quickdraw-sample"], real, workers=1, progress=False)
    output = invoke(
        app, "heal", rnn, "--data", real, "--report", tmp_path / "r", "--limit", 3, "--max-len", 10
    )
    assert "20 of the 20 classes healed here were never in this healer's training data" in output
    notes = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert "unseen: airplane" in json.dumps(notes)
    # a healer on its own classes: no note
    output = invoke(
        app, "heal", rnn, "--data", store, "--report", tmp_path / "s", "--limit", 3, "--max-len", 10
    )
    assert "never in this healer's training data" not in output


def test_heal_refuses_a_full_mask_and_an_empty_split(trained, tmp_path):
    app, store, rnn, _ = trained
    with pytest.raises(ConfigError, match=r"must be in \[0, 1\)"):
        invoke(app, "heal", rnn, "--data", store, "--mask", 1.0, "-o", tmp_path / "h.png")
    empty = tmp_path / "no_test.store"
    build_store(["doodles:3"], empty, workers=1, progress=False, split_ratios=(0.5, 0.5, 0.0))
    with pytest.raises(ConfigError, match="holds no sketches"):
        invoke(app, "heal", rnn, "--data", empty, "-o", tmp_path / "h.png")


def _store_classes(path):
    from sketchssl.data.store import SketchStore

    return SketchStore.open(path).classes_in("train")


def test_fill_settings_sweeps_both_sources(trained, tmp_path):
    """benchmarks/fill_settings.py: continuing nothing (threshold 1) scores as no healing."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "fill_settings.py"
    spec = importlib.util.spec_from_file_location("fill_settings", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _, store, rnn, judge = trained
    out = tmp_path / "sweep.json"
    module.main([
        str(rnn), str(store), str(judge), "--split", "test", "--radii", "0.2", "--joins", "0,1.5",
        "--sources", "redraw,continue", "--continue-thresholds", "0.2,1",
        "--continue-bounds", "none,0", "--out", str(out),
    ])  # fmt: skip
    scores = json.loads(out.read_text())
    assert {"kept, gaps, r 0.2", "kept, gaps, join 1.5, r 0.2"} <= set(scores)
    assert "kept, continued (p > 0.2), gaps, join 1.5, r 0.2" in scores
    assert "kept, continued (p > 0.2, bound 0), gaps, join 1.5, r 0.2" in scores
    # a sequence healer reads the erased drawing as it is: nothing continued, nothing changed
    assert scores["kept, continued (p > 1), gaps, r 0.2"] == pytest.approx(scores["no healing"])
